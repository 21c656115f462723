//! Fuzz target `match_structured` (issue 4 acceptance): compiles arbitrary small rule sets and runs
//! them on arbitrary packets without panicking, as aho-corasick's `fuzz_find.rs` does for its
//! matcher.
//!
//! Rules come from `rulegen.rs` (a structure drawn with `arbitrary`, printed as rule text, loaded
//! with `seawall_rules::Loader`, compiled with `Engine::compile`). Packets come from `build.rs`
//! (IPv4/IPv6 TCP/UDP/ICMP/other around payloads mixing the rules' literals and fuzzer bytes,
//! fragments, ICMP errors, or raw bytes) and go through the pipeline's path: `decode_inner`,
//! `Defrag`, `FlowTable<FlowDetect>`, `Engine::inspect`, with timestamps moving on.
//!
//! Invariants checked: nothing panics; at most `packet_alert_max` alerts per packet, each from a
//! loaded rule; the Hyperscan and Aho-Corasick backends (when both are compiled, every other
//! input) give the same compile report, alerts and verdicts.
#![no_main]

// The packet builder is shared with the flow crate's fuzz targets.
#[path = "../../../flow/fuzz/fuzz_targets/build.rs"]
mod build;
#[path = "rulegen.rs"]
mod rulegen;

use arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use seawall_detect::engine::MpmKind;
use seawall_detect::{DetectCtx, Engine, EngineOptions, FlowDetect, FlowInfo, PacketInfo};
use seawall_flow::{Defrag, DefragConfig, DefragResult, FlowConfig, FlowTable, Timestamp};
use seawall_rules::{Loader, Vars};
use seawall_wire::{decode_inner, InnerPacket};

struct Side {
    engine: Engine,
    ctx: DetectCtx,
    alert_max: usize,
}

/// Per-flow state of each side.
#[derive(Debug, Default)]
struct Slots([FlowDetect; 2]);

fn inspect_all(
    sides: &mut [Side],
    sids: &[u32],
    ts: Timestamp,
    pkt: &InnerPacket<'_>,
    raw: &[u8],
    reassembled: bool,
    table: &mut FlowTable<Slots>,
    endpoint: u64,
) {
    let mut flow = if pkt.fragment.is_none() { table.process(ts, endpoint, pkt).ok() } else { None };
    let info = flow.as_ref().map(FlowInfo::from_ref);
    let mut results = Vec::new();
    for (i, side) in sides.iter_mut().enumerate() {
        let mut p = PacketInfo::new(ts, pkt, raw);
        p.reassembled = reassembled;
        p.pcap_cnt = 1;
        if let Some(info) = info {
            p = p.with_flow(info);
        }
        let fd = flow.as_mut().map(|f| &mut f.data_mut().0[i]);
        let mut alerts = Vec::new();
        let verdict = side.engine.inspect(&mut side.ctx, &p, fd, &mut alerts);
        assert!(alerts.len() <= side.alert_max, "{} alerts > packet_alert_max {}", alerts.len(), side.alert_max);
        for a in &alerts {
            assert!(sids.contains(&a.sid), "alert for sid {} which was not loaded", a.sid);
        }
        let _ = side.ctx.tracked_entries();
        results.push((alerts, verdict));
    }
    if let [a, b] = &results[..] {
        assert_eq!(a, b, "Hyperscan and Aho-Corasick engines disagree");
    }
}

/// `SEAWALL_FUZZ_DEBUG=1` prints each input's rules, diagnostics and compile report (to see
/// what a reproducer does).
fn debug() -> bool {
    static DEBUG: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *DEBUG.get_or_init(|| std::env::var_os("SEAWALL_FUZZ_DEBUG").is_some())
}

fn run(u: &mut Unstructured<'_>) -> Result<()> {
    let g = rulegen::Gen::rules(u)?;
    let load = Loader::default().load_str("fuzz.rules", &g.text);
    let vars = Vars::suricata_defaults();
    let both: bool = u.arbitrary()?;
    let kinds: &[MpmKind] = if both {
        &[MpmKind::Hyperscan, MpmKind::AhoCorasick]
    } else if u.arbitrary()? {
        &[MpmKind::Hyperscan]
    } else {
        &[MpmKind::AhoCorasick]
    };
    let alert_max = *u.choose(&[1, 2, 15])?;
    let tracked = *u.choose(&[1, 4, 1 << 16])?;
    let mut sides = Vec::new();
    let mut reports = Vec::new();
    for &mpm in kinds {
        let opts = EngineOptions { mpm, packet_alert_max: alert_max, max_tracked_entries: tracked, ..EngineOptions::default() };
        let (engine, report) = Engine::compile(&load.rules, &vars, &opts);
        assert!(report.loaded <= load.rules.len() * 2);
        let _ = (engine.len(), engine.is_empty(), engine.flowbit_names(), engine.sid_order().count());
        let ctx = DetectCtx::new(&engine);
        sides.push(Side { engine, ctx, alert_max });
        reports.push(report);
    }
    if let [a, b] = &reports[..] {
        assert_eq!((a.loaded, &a.skipped), (b.loaded, &b.skipped), "compile reports differ by backend");
    }
    if debug() {
        eprintln!("--- rules:\n{}{:?}\n{:?}", g.text, load.diagnostics.iter().map(|d| d.kind.to_string()).collect::<Vec<_>>(), reports[0]);
    }
    let sids: Vec<u32> = load.rules.iter().map(|r| r.rule.sid().0).collect();

    let mut table: FlowTable<Slots> = FlowTable::new(FlowConfig { memcap: 1 << 16, ..FlowConfig::default() })
        .expect("64 KiB holds flows");
    let mut defrag = Defrag::new(DefragConfig { memcap: 1 << 16, ..DefragConfig::default() });
    let mut ts = Timestamp::from_secs(1_700_000_000);
    let mut buf = Vec::new();
    for _ in 0..u.int_in_range(1..=12)? {
        ts = Timestamp(ts.0 + *u.choose(&[0, 1, 1000, 1_000_000, 3_000_000, 61_000_000])?);
        let endpoint = u.int_in_range(0..=1)?;
        let protocol = build::arbitrary_packet(u, &g.literals, &mut buf)?;
        let Ok(pkt) = decode_inner(protocol, &buf) else { continue };
        if pkt.fragment.is_some() {
            // Suricata inspects the fragment itself, then the reassembled packet.
            inspect_all(&mut sides, &sids, ts, &pkt, &buf, false, &mut table, endpoint);
            if let DefragResult::Complete(r) = defrag.insert(ts, endpoint, &buf, &pkt) {
                if let Ok(whole) = decode_inner(r.protocol(), r.bytes()) {
                    inspect_all(&mut sides, &sids, ts, &whole, r.bytes(), true, &mut table, endpoint);
                }
                defrag.recycle(r);
            }
        } else {
            inspect_all(&mut sides, &sids, ts, &pkt, &buf, false, &mut table, endpoint);
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
