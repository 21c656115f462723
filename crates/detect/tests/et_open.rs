//! ET Open through the engine: load, compile, report loaded/skipped by reason, pin the loaded
//! count from below. The corpus is `$SEAWALL_CORPUS` or `<repo>/../shared/corpus`; a missing
//! corpus is a test failure, never a skip.
// This test prints how long compiling took; the crate itself never reads the clock.
#![allow(clippy::disallowed_methods)]

use std::path::PathBuf;
use std::time::Instant;

use seawall_detect::{DetectCtx, Engine, EngineOptions, PacketInfo};
use seawall_rules::Loader;

fn corpus_dir() -> PathBuf {
    let dir = std::env::var_os("SEAWALL_CORPUS").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"),
        PathBuf::from,
    );
    assert!(
        dir.join("et-open/et-open.rules").is_file(),
        "rule corpus not found at {} (set SEAWALL_CORPUS to the shared corpus directory, \
         the one holding et-open/)",
        dir.display()
    );
    dir
}

#[test]
fn et_open_compiles() {
    let path = corpus_dir().join("et-open/et-open.rules");
    let text = std::fs::read_to_string(&path).expect("read et-open.rules");
    let mut loader = Loader::default();
    let load = loader.load_str("et-open.rules", &text);
    let vars = loader.vars().clone();
    // Timing is printed, never asserted (STYLE.md: no timed assertions).
    let t = Instant::now();
    let (engine, report) = Engine::compile(&load.rules, &vars, &EngineOptions::default());
    let took = t.elapsed();
    eprintln!(
        "ET Open: read {} rules, parsed {}, engine loaded {} ({} compiled signatures, {} IP-only, \
         {} prefiltered, {} groups), skipped {} in {:.3?}",
        load.read,
        load.rules.len(),
        report.loaded,
        engine.len(),
        report.ip_only,
        report.prefiltered,
        report.groups,
        report.skipped.len(),
        took
    );
    let t = Instant::now();
    let opts = EngineOptions {
        mpm: seawall_detect::engine::MpmKind::AhoCorasick,
        ..EngineOptions::default()
    };
    let (ac_engine, ac_report) = Engine::compile(&load.rules, &vars, &opts);
    eprintln!("  (aho-corasick prefilters: {:.3?})", t.elapsed());
    assert_eq!(ac_report, report);
    assert_eq!(ac_engine.len(), engine.len());
    for (reason, n) in report.by_reason.iter().take(25) {
        eprintln!("  {n:6}  {reason}");
    }
    assert_eq!(report.loaded + report.skipped.len(), load.rules.len());
    // Issue 5: ET Open loaded (not skipped) >= 97% of the file; pinned from below at what the
    // engine loads now (25,744 of 25,803 = 99.77%; the rest: base64_decode, file.data in smtp
    // rules, tls.version, app-layer-event, dcerpc/ftp-data rules, ssh buffers).
    assert!(
        report.loaded * 100 >= 97 * load.read,
        "loaded only {} of {} ET Open rules",
        report.loaded,
        load.read
    );
    assert!(
        report.loaded >= 25_744,
        "loaded only {} ET Open rules",
        report.loaded
    );
    // Every skip names why.
    assert!(report.skipped.iter().all(|(_, r)| !r.is_empty()));

    // The compiled engine inspects a packet without trouble.
    let raw: [u8; 28] = [
        0x45, 0, 0, 28, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 0x04, 0xd2, 0, 53, 0,
        8, 0, 0,
    ];
    let pkt = seawall_wire::decode_inner(0x0800, &raw).expect("valid udp");
    let mut ctx = DetectCtx::new(&engine);
    let mut alerts = Vec::new();
    engine.inspect(
        &mut ctx,
        &PacketInfo::new(seawall_flow::Timestamp::from_secs(1), &pkt, &raw),
        None,
        &mut alerts,
    );
}
