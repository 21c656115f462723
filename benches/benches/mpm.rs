//! Multi-pattern matcher throughput: ET Open's fast patterns (one per rule buffer, chosen by
//! `PayloadProgram::fast_pattern`, as the engine would feed its matchers) scanned over the TCP/UDP
//! payloads of `bench-mixed.pcap`, for both backends. Reports MB/s of payload scanned (criterion
//! `Throughput::Bytes`) and prints the matcher build times; `MpmKind::default()` follows the
//! faster backend.
//!
//! Corpus: `$SEAWALL_CORPUS` or `<repo>/../shared/corpus` (panics when missing).

use std::path::PathBuf;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use seawall_detect::mpm::{MpmBuilder, MpmKind};
use seawall_detect::payload::PayloadProgram;
use seawall_rules::ast::{Buffer, RuleOption};

fn corpus() -> PathBuf {
    let dir = std::env::var_os("SEAWALL_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus"));
    assert!(
        dir.join("et-open/et-open.rules").is_file(),
        "corpus not found at {} (set SEAWALL_CORPUS)",
        dir.display()
    );
    dir
}

/// Fast patterns of every ET Open rule buffer: (buffer, literal, nocase).
fn fast_patterns(dir: &std::path::Path) -> Vec<(Buffer, Vec<u8>, bool)> {
    let text = std::fs::read_to_string(dir.join("et-open/et-open.rules")).expect("read ET Open");
    let load = seawall_rules::Loader::default().load_str("et-open.rules", &text);
    let mut out = Vec::new();
    for sr in &load.rules {
        let mut groups: Vec<(Buffer, Vec<&RuleOption>)> = Vec::new();
        let mut cur = Buffer::Payload;
        for o in &sr.rule.options {
            let b = match o {
                RuleOption::Buffer(b) => {
                    cur = *b;
                    continue;
                }
                RuleOption::Content(c) => c.buffer,
                RuleOption::Pcre(p) => p.buffer,
                RuleOption::ByteTest(_)
                | RuleOption::ByteJump(_)
                | RuleOption::ByteExtract(_)
                | RuleOption::ByteMath(_)
                | RuleOption::Isdataat(_)
                | RuleOption::Bsize(_) => cur,
                _ => continue,
            };
            match groups.iter_mut().find(|(g, _)| *g == b) {
                Some((_, v)) => v.push(o),
                None => groups.push((b, vec![o])),
            }
        }
        for (buf, opts) in groups {
            if let Ok(p) = PayloadProgram::compile(&opts) {
                if let Some((lit, nocase)) = p.fast_pattern() {
                    out.push((buf, lit.to_vec(), nocase));
                }
            }
        }
    }
    out
}

/// A fast pattern: (bytes, nocase).
type Literal = (Vec<u8>, bool);

/// TCP/UDP payloads of the bench capture.
fn payloads(dir: &std::path::Path) -> Vec<Vec<u8>> {
    let f = std::fs::File::open(dir.join("pcaps/bench-mixed.pcap")).expect("open bench pcap");
    let mut r = pcap_file::pcap::PcapReader::new(f).expect("pcap header");
    let mut out = Vec::new();
    while let Some(pkt) = r.next_packet() {
        let pkt = pkt.expect("pcap packet");
        let Ok(s) = etherparse::SlicedPacket::from_ethernet(&pkt.data) else {
            continue;
        };
        let payload = match s.transport {
            Some(etherparse::TransportSlice::Tcp(t)) => t.payload(),
            Some(etherparse::TransportSlice::Udp(u)) => u.payload(),
            _ => continue,
        };
        if !payload.is_empty() {
            out.push(payload.to_vec());
        }
    }
    out
}

fn mpm(c: &mut Criterion) {
    let dir = corpus();
    let all = fast_patterns(&dir);
    let hay = payloads(&dir);
    let bytes: u64 = hay.iter().map(|p| p.len() as u64).sum();
    eprintln!(
        "mpm bench: {} payloads, {:.1} MB",
        hay.len(),
        bytes as f64 / 1e6
    );
    // "payload": the literals of packet-payload rules (what one packet matcher holds);
    // "all": every buffer's literals in one matcher (a stress case: many short patterns).
    let sets: [(&str, Vec<Literal>); 2] = [
        (
            "payload",
            all.iter()
                .filter(|(b, _, _)| *b == Buffer::Payload)
                .map(|(_, p, n)| (p.clone(), *n))
                .collect(),
        ),
        ("all", all.iter().map(|(_, p, n)| (p.clone(), *n)).collect()),
    ];
    let mut g = c.benchmark_group("mpm");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(bytes));
    for (set, pats) in &sets {
        let mut hits_by_kind = Vec::new();
        for kind in [MpmKind::Hyperscan, MpmKind::AhoCorasick] {
            let t = Instant::now();
            let mut b = MpmBuilder::new();
            for (i, (p, nocase)) in pats.iter().enumerate() {
                b.add(i as u32, p, *nocase);
            }
            let m = b.build(kind).expect("build matcher");
            let built = t.elapsed();
            let mut s = m.new_scratch();
            let mut hits = 0u64;
            for p in &hay {
                m.scan(p, &mut s, &mut |_| hits += 1);
            }
            eprintln!(
                "mpm bench: {set}: {} patterns, {} build {built:.2?}, {hits} pattern hits",
                pats.len(),
                kind.name()
            );
            hits_by_kind.push(hits);
            g.bench_function(format!("{set}/{}", kind.name()), |bch| {
                bch.iter(|| {
                    let mut hits = 0u64;
                    for p in &hay {
                        m.scan(p, &mut s, &mut |_| hits += 1);
                    }
                    hits
                })
            });
        }
        assert!(
            hits_by_kind.windows(2).all(|w| w[0] == w[1]),
            "backends disagree on {set}: {hits_by_kind:?}"
        );
    }
    g.finish();
}

criterion_group!(benches, mpm);
criterion_main!(benches);
