//! `seawall replay` against `suricata -r` in one run (DESIGN.md section 6, issue 4 acceptance):
//! the same capture (`pcaps/bench-mixed.pcap`), the same rules (`et-open/et-open.rules`), one
//! worker thread each (Suricata `--runmode single`, Hyperscan, with the corpus oracle config from
//! `oracle/make-oracle-yaml.sh`; `seawall replay --workers 1`, release build).
//!
//! Method, the same for both: each tool runs once on a one-packet capture (its first packet)
//! and `SEAWALL_BENCH_ROUNDS` (default 3) times on the full capture, the two tools alternating.
//! Rule-load time = wall time of the one-packet run (process start, rule loading and
//! compilation, one packet, exit); inspection time = median full run minus one-packet run (this
//! includes each tool's end-of-capture work: flow timeouts, shutdown). The headline throughput
//! ratio uses each tool's own packet-processing time instead, the median over the rounds:
//! Suricata's `time elapsed` (suricata.log, engine start to stop) and Seawall's `inspect_seconds`
//! (`replay-stats.json`, first frame to last record written); the per-round ratios are printed
//! too. Also reported: how many of
//! Suricata's alerts (sid, src, dst) Seawall raises (stream reassembly and the HTTP/TLS/DNS app layer
//! are on; what differs is explained in `tests/tests/differential.rs::bench_mixed_et_open`).
//!
//! Prints the ratios and writes `target/bench-results/replay.json`.
//! Run: `cargo bench -p seawall-benches --bench replay` (env: `SEAWALL_CORPUS`, `SURICATA`,
//! `SEAWALL_BENCH_ROUNDS`).
#![allow(clippy::print_stdout)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use seawall_benches::corpus::{corpus_dir, repo_root};

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
}

fn run(cmd: &mut Command, what: &str) -> Duration {
    let t = Instant::now();
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    let d = t.elapsed();
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    d
}

/// Writes a pcap holding only the first packet of `src` (classic pcap, any link type).
fn first_packet_pcap(src: &Path, dst: &Path) {
    let bytes = std::fs::read(src).expect("read capture");
    assert!(bytes.len() > 40, "capture too short");
    let le = bytes[0..4] == [0xd4, 0xc3, 0xb2, 0xa1] || bytes[0..4] == [0x4d, 0x3c, 0xb2, 0xa1];
    let incl = {
        let b = [bytes[32], bytes[33], bytes[34], bytes[35]];
        if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    } as usize;
    std::fs::write(dst, &bytes[..24 + 16 + incl]).expect("write one-packet capture");
}

/// (sid, src, dst) multiset of an eve.json.
fn eve_keys(eve: &Path) -> BTreeMap<String, i64> {
    let text = std::fs::read_to_string(eve).unwrap_or_default();
    let mut m = BTreeMap::new();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if v["event_type"] != "alert" {
            continue;
        }
        let k = format!(
            "{} {}:{} {}:{}",
            v["alert"]["signature_id"],
            v["src_ip"].as_str().unwrap_or(""),
            v["src_port"].as_u64().unwrap_or(0),
            v["dest_ip"].as_str().unwrap_or(""),
            v["dest_port"].as_u64().unwrap_or(0)
        );
        *m.entry(k).or_insert(0) += 1;
    }
    m
}

/// Suricata's own packet-processing time: `time elapsed` in its log (engine start to stop).
fn suricata_engine_seconds(log: &Path) -> f64 {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            let rest = &l[l.find("time elapsed ")? + "time elapsed ".len()..];
            rest.trim().trim_end_matches('s').parse::<f64>().ok()
        })
        .unwrap_or_else(|| panic!("{} has no `time elapsed`", log.display()))
}

/// Seawall's own packet-processing time: `inspect_seconds` in `replay-stats.json`.
fn seawall_inspect_seconds(stats: &Path) -> f64 {
    let text = std::fs::read_to_string(stats)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", stats.display()));
    let v: serde_json::Value = serde_json::from_str(&text).expect("replay-stats.json is JSON");
    v["inspect_seconds"]
        .as_f64()
        .unwrap_or_else(|| panic!("{} has no inspect_seconds", stats.display()))
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[s.len() / 2]
}

fn median_duration(v: &[Duration]) -> Duration {
    let mut s = v.to_vec();
    s.sort();
    s[s.len() / 2]
}

fn join_f64(v: &[f64], unit: &str) -> String {
    v.iter()
        .map(|x| format!("{x:.2}{unit}"))
        .collect::<Vec<_>>()
        .join("/")
}

fn main() {
    // `cargo bench` passes --bench; nothing else is accepted.
    let corpus = corpus_dir();
    let pcap = corpus.join("pcaps/bench-mixed.pcap");
    let rules = corpus.join("et-open/et-open.rules");
    for f in [&pcap, &rules] {
        assert!(
            f.is_file(),
            "{} not found (set SEAWALL_CORPUS to the shared corpus)",
            f.display()
        );
    }
    let out = target_dir().join("bench-results");
    let work = out.join("replay");
    std::fs::create_dir_all(&work).expect("create bench-results/replay");
    let one = work.join("first-packet.pcap");
    first_packet_pcap(&pcap, &one);

    // The release binary.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    run(
        Command::new(cargo).current_dir(repo_root()).args([
            "build",
            "-q",
            "--release",
            "-p",
            "seawall",
            "--bin",
            "seawall",
        ]),
        "cargo build --release -p seawall",
    );
    let seawall = target_dir().join("release/seawall");

    // Suricata with the oracle config.
    let suricata = std::env::var_os("SURICATA").unwrap_or_else(|| "suricata".into());
    let yaml = work.join("oracle.yaml");
    run(
        Command::new(corpus.join("oracle/make-oracle-yaml.sh"))
            .arg(corpus.join("oracle/stock-config/suricata.yaml"))
            .arg(&yaml),
        "make-oracle-yaml.sh",
    );
    let version = Command::new(&suricata)
        .arg("-V")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .expect("suricata is not installed (../shared/corpus/oracle/install-suricata.sh)");

    let suri = |input: &Path, dir: &str| {
        let l = work.join(dir);
        // Suricata appends to an existing eve.json: start from an empty folder.
        let _ = std::fs::remove_dir_all(&l);
        std::fs::create_dir_all(&l).expect("mkdir");
        run(
            Command::new(&suricata)
                .arg("-c")
                .arg(&yaml)
                .arg("-S")
                .arg(&rules)
                .arg("-r")
                .arg(input)
                .arg("-l")
                .arg(&l)
                .args(["-k", "none", "--runmode", "single"]),
            "suricata",
        )
    };
    let sw = |input: &Path, dir: &str| {
        let l = work.join(dir);
        run(
            Command::new(&seawall)
                .args(["replay", "--workers", "1", "--no-progress", "--rules"])
                .arg(&rules)
                .arg("-l")
                .arg(&l)
                .arg(input),
            "seawall replay",
        )
    };

    // Full runs alternate between the two tools `rounds` times (env `SEAWALL_BENCH_ROUNDS`,
    // default 3); the headline ratio is the ratio of the medians, so one disturbed run on a
    // shared machine does not decide it. The last round's outputs are the ones compared.
    let rounds: usize = std::env::var("SEAWALL_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n >= 1)
        .unwrap_or(3);
    println!(
        "replay bench: {} with {} ({rounds} alternating rounds)",
        pcap.display(),
        rules.display()
    );
    let suri_load = suri(&one, "suricata-one");
    let sw_load = sw(&one, "seawall-one");
    let mut suri_fulls = Vec::new();
    let mut sw_fulls = Vec::new();
    let mut suri_engines = Vec::new();
    let mut sw_engines = Vec::new();
    for _ in 0..rounds {
        suri_fulls.push(suri(&pcap, "suricata-full"));
        suri_engines.push(suricata_engine_seconds(
            &work.join("suricata-full/suricata.log"),
        ));
        sw_fulls.push(sw(&pcap, "seawall-full"));
        sw_engines.push(seawall_inspect_seconds(
            &work.join("seawall-full/replay-stats.json"),
        ));
    }
    let suri_full = median_duration(&suri_fulls);
    let sw_full = median_duration(&sw_fulls);

    let stats: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(work.join("seawall-full/replay-stats.json"))
            .expect("replay-stats.json"),
    )
    .expect("stats json");
    let packets = stats["packets"].as_u64().unwrap_or(0);
    let bytes = stats["bytes"].as_u64().unwrap_or(0);
    let secs = |d: Duration| d.as_secs_f64();
    let suri_inspect = (secs(suri_full) - secs(suri_load)).max(1e-3);
    let sw_inspect = (secs(sw_full) - secs(sw_load)).max(1e-3);
    let wall_throughput_ratio = suri_inspect / sw_inspect;
    let suri_engine = median(&suri_engines);
    let sw_engine = median(&sw_engines);
    let throughput_ratio = suri_engine / sw_engine;
    let round_ratios: Vec<f64> = suri_engines
        .iter()
        .zip(&sw_engines)
        .map(|(a, b)| a / b)
        .collect();
    let load_ratio = secs(suri_load) / secs(sw_load).max(1e-3);

    let want = eve_keys(&work.join("suricata-full/eve.json"));
    let got = eve_keys(&work.join("seawall-full/eve.json"));
    let suri_alerts: i64 = want.values().sum();
    let sw_alerts: i64 = got.values().sum();
    let common: i64 = want
        .iter()
        .map(|(k, n)| (*n).min(*got.get(k).unwrap_or(&0)))
        .sum();

    println!("  {version}");
    println!("  capture: {packets} packets, {:.1} MB", bytes as f64 / 1e6);
    println!(
        "  suricata: rules+start {:.2} s, inspection {:.2} s ({:.0} pps, {:.0} Mbps), {suri_alerts} alerts",
        secs(suri_load),
        suri_inspect,
        packets as f64 / suri_inspect,
        bytes as f64 * 8.0 / suri_inspect / 1e6
    );
    println!(
        "  seawall:  rules+start {:.2} s, inspection {:.2} s ({:.0} pps, {:.0} Mbps), {sw_alerts} alerts \
         (internal: rules {:.2} s, inspection {:.2} s; {} rules loaded)",
        secs(sw_load),
        sw_inspect,
        packets as f64 / sw_inspect,
        bytes as f64 * 8.0 / sw_inspect / 1e6,
        stats["rule_load_seconds"].as_f64().unwrap_or(0.0),
        stats["inspect_seconds"].as_f64().unwrap_or(0.0),
        stats["rules_loaded"]
    );
    println!(
        "  packet processing (each tool's own clock, median of {rounds}): suricata {suri_engine:.2} s, \
         seawall {sw_engine:.2} s; per round: suricata {}, seawall {}, ratio {}",
        join_f64(&suri_engines, "s"),
        join_f64(&sw_engines, "s"),
        join_f64(&round_ratios, "x")
    );
    println!(
        "  throughput ratio (seawall / suricata): {throughput_ratio:.2}x on own clocks, \
         {wall_throughput_ratio:.2}x on wall time (goal >= 1.5x); \
         rule-load ratio (suricata / seawall time): {load_ratio:.2}x (goal >= 5x)"
    );
    let keys_equal = want.keys().filter(|k| got.contains_key(*k)).count();
    println!(
        "  alerts: {common} of Suricata's {suri_alerts} alerts matched one for one on (sid, src, dst); \
         distinct (sid, src, dst): {keys_equal} equal of Suricata's {} and Seawall's {} \
         (differences: tests/tests/differential.rs::bench_mixed_et_open)",
        want.len(),
        got.len()
    );
    let report = serde_json::json!({
        "capture": pcap.display().to_string(),
        "rules": rules.display().to_string(),
        "suricata_version": version,
        "packets": packets,
        "bytes": bytes,
        "suricata": {
            "load_seconds": secs(suri_load),
            "full_seconds": secs(suri_full),
            "inspect_seconds": suri_inspect,
            "engine_seconds": suri_engine,
            "alerts": suri_alerts,
        },
        "seawall": {
            "load_seconds": secs(sw_load),
            "full_seconds": secs(sw_full),
            "inspect_seconds": sw_inspect,
            "alerts": sw_alerts,
            "internal": stats,
        },
        "rounds": rounds,
        "suricata_engine_seconds_per_round": suri_engines,
        "seawall_inspect_seconds_per_round": sw_engines,
        "throughput_ratio_per_round": round_ratios,
        "throughput_ratio": throughput_ratio,
        "wall_throughput_ratio": wall_throughput_ratio,
        "rule_load_ratio": load_ratio,
        "alerts_in_common": common,
        "alert_keys_equal": keys_equal,
    });
    let path = out.join("replay.json");
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&report).expect("json") + "\n",
    )
    .expect("write replay.json");
    println!("  written to {}", path.display());
}
