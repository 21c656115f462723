//! Per-datagram cost of the data plane's decode: `parse_gwlb` (GENEVE + AWS options),
//! `parse_gwlb` + `decode_inner` (inner IP and transport), and `seawall_dataplane::classify` (the
//! whole per-datagram decision of a worker), on representative datagrams: IPv4/TCP with payload,
//! IPv4/UDP DNS, IPv6 with a hop-by-hop + routing + destination-options chain before TCP, and a
//! mix of the first 4,096 packets of the bench capture (when the corpus is present).
//!
//! `cargo bench -p seawall-benches --bench wire_geneve`

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use seawall_dataplane::{classify, AllowList, MalformedPolicy, Verdict};
use seawall_wire::{
    decode_inner, parse_gwlb, AttachmentId, FlowCookie, GwlbEndpointId, GwlbMeta, GwlbRepr,
};

const META: GwlbMeta = GwlbMeta {
    endpoint: GwlbEndpointId(0x05ea_3a11_e0d0_0001),
    attachment: AttachmentId(0x05ea_3a11_a7ac_0001),
    cookie: FlowCookie(0x1234_5678),
};
const PEER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const MIX_PACKETS: usize = 4096;

fn wrap(inner: &[u8]) -> Vec<u8> {
    let repr = GwlbRepr::for_inner(META, inner).expect("an IPv4 or IPv6 inner packet");
    let mut buf = vec![0u8; repr.buffer_len() + inner.len()];
    let n = repr
        .emit_datagram(inner, &mut buf)
        .expect("buffer sized for the datagram");
    buf.truncate(n);
    buf
}

fn tcp_header(out: &mut Vec<u8>, flags: u8) {
    out.extend_from_slice(&[0xc3, 0x50, 0x01, 0xbb]); // 50000 -> 443
    out.extend_from_slice(&0x0102_0304u32.to_be_bytes()); // seq
    out.extend_from_slice(&0x0a0b_0c0du32.to_be_bytes()); // ack
    out.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]); // offset 5, window, csum, urg
}

fn ipv4(proto: u8, l4: &[u8]) -> Vec<u8> {
    let total = u16::try_from(20 + l4.len()).expect("small packet");
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&[0x12, 0x34, 0x40, 0x00, 64, proto, 0, 0]); // id, DF, ttl, proto, csum
    p.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
    let sum = seawall_wire::checksum::checksum(&p);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    p.extend_from_slice(l4);
    p
}

fn ipv4_tcp() -> Vec<u8> {
    let mut l4 = Vec::new();
    tcp_header(&mut l4, 0x18); // PSH|ACK
    l4.extend(std::iter::repeat_n(b'x', 512));
    ipv4(6, &l4)
}

fn ipv4_udp_dns() -> Vec<u8> {
    let query: &[u8] =
        b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01";
    let len = u16::try_from(8 + query.len()).expect("small packet");
    let mut l4 = vec![0xd4, 0x31, 0, 53];
    l4.extend_from_slice(&len.to_be_bytes());
    l4.extend_from_slice(&[0, 0]);
    l4.extend_from_slice(query);
    ipv4(17, &l4)
}

fn ipv6_ext_tcp() -> Vec<u8> {
    let mut ext = Vec::new();
    ext.extend_from_slice(&[43, 0, 1, 4, 0, 0, 0, 0]); // hop-by-hop: PadN, next = routing
    ext.extend_from_slice(&[60, 0, 4, 0, 0, 0, 0, 0]); // routing type 4, 0 segments left, next = dst opts
    ext.extend_from_slice(&[6, 0, 1, 4, 0, 0, 0, 0]); // destination options: PadN, next = TCP
    tcp_header(&mut ext, 0x10); // ACK
    ext.extend(std::iter::repeat_n(b'y', 256));
    let len = u16::try_from(ext.len()).expect("small packet");
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&len.to_be_bytes());
    p.extend_from_slice(&[0, 64]); // next = hop-by-hop, hop limit
    p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    p.extend_from_slice(&ext);
    p
}

fn cases() -> Vec<(&'static str, Vec<u8>)> {
    let cases = vec![
        ("ipv4_tcp_512", wrap(&ipv4_tcp())),
        ("ipv4_udp_dns", wrap(&ipv4_udp_dns())),
        ("ipv6_ext_tcp_256", wrap(&ipv6_ext_tcp())),
    ];
    for (name, d) in &cases {
        // The benches measure the success path: every case must decode and pass.
        let frame = parse_gwlb(d).unwrap_or_else(|e| panic!("{name}: parse_gwlb: {e}"));
        decode_inner(frame.protocol, frame.inner)
            .unwrap_or_else(|e| panic!("{name}: decode_inner: {e}"));
    }
    cases
}

/// The first packets of the bench capture, wrapped as GWLB does; empty without the corpus.
fn capture_mix() -> Vec<Vec<u8>> {
    let pcap = seawall_benches::corpus::default_pcap();
    match seawall_benches::corpus::load(&pcap, Some(MIX_PACKETS)) {
        Ok(load) => load.datagrams.into_iter().map(|d| d.bytes).collect(),
        Err(e) => {
            eprintln!("wire_geneve: skipping the capture mix: {e}");
            Vec::new()
        }
    }
}

fn configure() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
}

fn bench_single(c: &mut Criterion) {
    let allow = AllowList::default();
    let mut g = c.benchmark_group("wire_geneve");
    g.throughput(Throughput::Elements(1));
    for (name, d) in cases() {
        g.bench_with_input(BenchmarkId::new("parse_gwlb", name), &d, |b, d| {
            b.iter(|| parse_gwlb(black_box(d)).map(|f| f.inner.len()))
        });
        g.bench_with_input(BenchmarkId::new("parse+decode_inner", name), &d, |b, d| {
            b.iter(|| {
                let f = parse_gwlb(black_box(d)).expect("valid case");
                decode_inner(f.protocol, f.inner).map(|p| p.five_tuple())
            })
        });
        g.bench_with_input(BenchmarkId::new("classify", name), &d, |b, d| {
            b.iter(|| {
                classify(
                    black_box(d),
                    black_box(PEER),
                    false,
                    &allow,
                    MalformedPolicy::Pass,
                )
            })
        });
    }
    g.finish();
}

fn bench_mix(c: &mut Criterion) {
    let mix = capture_mix();
    if mix.is_empty() {
        return;
    }
    let allow = AllowList::default();
    let passed = mix
        .iter()
        .filter(|d| classify(d, PEER, false, &allow, MalformedPolicy::Pass) == Verdict::Pass)
        .count();
    eprintln!(
        "wire_geneve: capture mix: {} datagrams, {passed} decode cleanly, mean {} B",
        mix.len(),
        mix.iter().map(Vec::len).sum::<usize>() / mix.len()
    );
    let mut g = c.benchmark_group("wire_geneve_capture_mix");
    g.throughput(Throughput::Elements(mix.len() as u64));
    g.bench_function("parse_gwlb", |b| {
        b.iter(|| {
            mix.iter()
                .filter(|d| parse_gwlb(black_box(d)).is_ok())
                .count()
        })
    });
    g.bench_function("parse+decode_inner", |b| {
        b.iter(|| {
            mix.iter()
                .filter(|d| {
                    parse_gwlb(black_box(d))
                        .and_then(|f| decode_inner(f.protocol, f.inner))
                        .is_ok()
                })
                .count()
        })
    });
    g.bench_function("classify", |b| {
        b.iter(|| {
            mix.iter()
                .filter(|d| {
                    classify(black_box(d), PEER, false, &allow, MalformedPolicy::Pass)
                        != Verdict::Pass
                })
                .count()
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = configure();
    targets = bench_single, bench_mix
}
criterion_main!(benches);
