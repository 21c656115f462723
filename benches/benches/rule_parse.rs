//! Parse and validate the full ET Open rule file (`../shared/corpus/et-open/et-open.rules`, or
//! `$SEAWALL_CORPUS/et-open/et-open.rules`) with Suricata's default variables. Target: < 1 s.
//! `suricata -T` on the same file is the comparison (see crates/rules README section in the report).

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use seawall_rules::Loader;

fn corpus_file() -> PathBuf {
    let dir = std::env::var_os("SEAWALL_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus"));
    let f = dir.join("et-open/et-open.rules");
    assert!(
        f.is_file(),
        "ET Open corpus not found at {} (set SEAWALL_CORPUS)",
        f.display()
    );
    f
}

fn rule_parse(c: &mut Criterion) {
    let text = std::fs::read_to_string(corpus_file()).expect("read ET Open");
    let rules = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .count();
    let mut g = c.benchmark_group("rule_parse");
    g.sample_size(10);
    g.throughput(Throughput::Elements(rules as u64));
    g.bench_function("et_open_parse_validate", |b| {
        b.iter(|| {
            let load = Loader::default().load_str("et-open.rules", &text);
            assert!(load.rules.len() > 25_000);
            load.rules.len()
        })
    });
    g.finish();
}

criterion_group!(benches, rule_parse);
criterion_main!(benches);
