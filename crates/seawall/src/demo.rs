//! `seawall demo`: the quick start. Starts the appliance on loopback with the default config (on free
//! ports), replays a capture through it with the GWLB simulator exactly as GWLB would send it, and
//! prints what came back and what the appliance counted.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use crate::appliance::{management_runtime, Appliance};
use crate::config::Config;

/// The bundled capture: HTTP (IPv4 and IPv6), DNS, TLS with a client certificate, ICMP and IPv4
/// fragments, 350 packets from public test captures (see `crates/seawall/data/README.md`).
const DEMO_PCAP: &[u8] = include_bytes!("../data/demo.pcap");

/// The shipped default rule set (`rules/seawall.rules`).
const DEFAULT_RULES: &str = include_str!("../../../rules/seawall.rules");

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Capture to replay instead of the bundled one.
    #[arg(long)]
    pcap: Option<PathBuf>,
    /// Worker threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    workers: usize,
    /// Replay the capture this many times.
    #[arg(long = "loop", default_value_t = 1)]
    loops: u32,
    /// Packets per second; omit to send flat out.
    #[arg(long)]
    rate: Option<u64>,
    /// GENEVE address of the demo appliance (a loopback address; port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddrV4,
    /// Rule files or directories to inspect with instead of the shipped `rules/seawall.rules`.
    #[arg(long)]
    rules: Vec<PathBuf>,
    /// Where the alerts (`eve.json`) and the rules used go.
    #[arg(long, default_value = "seawall-demo-out")]
    out: PathBuf,
}

pub fn run(args: &DemoArgs) -> anyhow::Result<ExitCode> {
    let mut cfg = Config::default();
    cfg.dataplane.listen = args.listen;
    cfg.dataplane.workers = args.workers;
    cfg.dataplane.allow_sources = vec!["127.0.0.0/8".parse().expect("a valid CIDR")];
    cfg.health.listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    cfg.api.listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create the output directory {}", args.out.display()))?;
    cfg.detect.rules = if args.rules.is_empty() {
        let shipped = args.out.join("seawall.rules");
        std::fs::write(&shipped, DEFAULT_RULES)
            .with_context(|| format!("cannot write the shipped rules to {}", shipped.display()))?;
        vec![shipped]
    } else {
        args.rules.clone()
    };
    cfg.evidence.dir = args.out.clone();
    let eve = args.out.join("eve.json");
    // The writer appends: start this run's summary from an empty file.
    let _ = std::fs::remove_file(&eve);
    cfg.validate()?;
    println!(
        "rules: {} (IDS mode: every packet is returned, matches raise alerts)",
        cfg.detect
            .rules
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );

    let (pcap, temp) = match &args.pcap {
        Some(p) => (p.clone(), None),
        None => {
            let path =
                std::env::temp_dir().join(format!("seawall-demo-{}.pcap", std::process::id()));
            std::fs::write(&path, DEMO_PCAP).with_context(|| {
                format!("cannot write the bundled capture to {}", path.display())
            })?;
            (path.clone(), Some(path))
        }
    };

    let rt = management_runtime()?;
    let app = Appliance::start(&cfg, &rt)?;
    let geneve = app.dataplane.local_addr();
    println!(
        "seawall demo: appliance up with {} workers — GENEVE on {geneve}, health http://{}/healthz, metrics http://{}/metrics",
        app.dataplane.workers(),
        app.health_addr,
        app.mgmt_addr
    );
    println!(
        "replaying {} as GWLB would send it (GENEVE, AWS endpoint/attachment/cookie options) …\n",
        args.pcap.as_ref().map_or_else(
            || "the bundled capture (350 packets)".to_owned(),
            |p| p.display().to_string()
        )
    );
    let sim = seawall_sim::SimConfig {
        target: SocketAddr::V4(geneve),
        pcap,
        rate: args.rate,
        loops: args.loops,
        ..seawall_sim::SimConfig::default()
    };
    let report = seawall_sim::run(&sim, true);
    if let Some(t) = temp {
        let _ = std::fs::remove_file(t);
    }
    let registry = app.registry.clone();
    app.shutdown(&rt)?;
    let report = report?;
    println!("{report}");
    println!("\nappliance counters:");
    print_counters(&registry);
    print_alerts(&eve)?;
    if report.is_clean() {
        println!("\nresult: every datagram came back byte-identical");
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "\nresult: NOT every datagram came back byte-identical (see missing/corrupt above)"
        );
        Ok(ExitCode::FAILURE)
    }
}

/// Prints how many alerts the run wrote to `eve`, by signature.
fn print_alerts(eve: &std::path::Path) -> anyhow::Result<()> {
    let text = match std::fs::read_to_string(eve) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", eve.display())),
    };
    let mut by_sig: Vec<((u64, String), usize)> = Vec::new();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if v["event_type"] != "alert" {
            continue;
        }
        let key = (
            v["alert"]["signature_id"].as_u64().unwrap_or(0),
            v["alert"]["signature"].as_str().unwrap_or("").to_owned(),
        );
        match by_sig.iter_mut().find(|(k, _)| *k == key) {
            Some((_, n)) => *n += 1,
            None => by_sig.push((key, 1)),
        }
    }
    let total: usize = by_sig.iter().map(|(_, n)| n).sum();
    println!("\nalerts: {total} written to {}", eve.display());
    for ((sid, msg), n) in &by_sig {
        println!("  {n:>5}  sid {sid}  {msg}");
    }
    Ok(())
}

/// Sums the data plane counters over workers and prints them, drops by reason.
fn print_counters(registry: &seawall_telemetry::prometheus_client::registry::Registry) {
    let mut text = String::new();
    if seawall_telemetry::prometheus_client::encoding::text::encode(&mut text, registry).is_err() {
        return;
    }
    let mut sums: Vec<(String, f64)> = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let (name, labels) = series.split_once('{').unwrap_or((series, ""));
        let key = match name {
            "seawall_dataplane_packets_received_total"
            | "seawall_dataplane_bytes_received_total"
            | "seawall_dataplane_packets_returned_total"
            | "seawall_dataplane_bytes_returned_total" => name.to_owned(),
            "seawall_dataplane_drops_total" | "seawall_dataplane_malformed_passed_total" => {
                let reason = labels
                    .split(',')
                    .find_map(|kv| kv.trim_end_matches('}').strip_prefix("reason="))
                    .unwrap_or("?")
                    .trim_matches('"');
                format!("{name}{{reason=\"{reason}\"}}")
            }
            _ => continue,
        };
        match sums.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => *v += value,
            None => sums.push((key, value)),
        }
    }
    for (k, v) in sums
        .iter()
        .filter(|(k, v)| !k.contains("reason=") || *v > 0.0)
    {
        println!("  {k:<70} {v}");
    }
}
