//! Flow counts on real captures from the shared corpus, against figures computed once with
//! `tshark -r FILE -q -z conv,tcp` / `conv,udp` (a conversation per address/port pair) and pinned
//! here.
//!
//! The corpus is `$SEAWALL_CORPUS` or `<repo>/../shared/corpus`; a missing corpus fails the test.

use std::path::PathBuf;

use seawall_flow::{
    decode_frame, Defrag, DefragConfig, DefragResult, FlowConfig, FlowKey, FlowTable, Timestamp,
};
use seawall_wire::decode_inner;

fn corpus() -> PathBuf {
    let dir = std::env::var_os("SEAWALL_CORPUS").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"),
        PathBuf::from,
    );
    assert!(
        dir.join("pcaps/proto").is_dir(),
        "corpus not found at {} (set SEAWALL_CORPUS to the shared corpus directory)",
        dir.display()
    );
    dir
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Counts {
    tcp: usize,
    udp: usize,
    other: usize,
    reassembled: u64,
    untracked: usize,
}

fn run(file: &str) -> Counts {
    let path = corpus().join("pcaps/proto").join(file);
    let f = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = pcap_file::pcap::PcapReader::new(f).expect("pcap header");
    let linktype = u32::from(reader.header().datalink);
    let mut table: FlowTable<()> = FlowTable::new(FlowConfig::default()).expect("table");
    let mut defrag = Defrag::new(DefragConfig::default());
    let mut counts = Counts::default();
    while let Some(pkt) = reader.next_packet() {
        let pkt = pkt.expect("pcap record");
        let ts =
            Timestamp::from_secs_micros(pkt.timestamp.as_secs(), pkt.timestamp.subsec_micros());
        let Ok(frame) = decode_frame(linktype, &pkt.data) else {
            continue;
        };
        let endpoint = frame
            .gwlb
            .map_or(FlowKey::capture_endpoint(frame.vlan), |m| m.endpoint.0);
        let Ok(ip) = decode_inner(frame.protocol, frame.l3) else {
            continue;
        };
        let mut account = |table: &mut FlowTable<()>, p: &seawall_wire::InnerPacket<'_>| match table
            .process(ts, endpoint, p)
        {
            Ok(flow) if flow.flags().new_flow() => match flow.key().proto() {
                6 => counts.tcp += 1,
                17 => counts.udp += 1,
                _ => counts.other += 1,
            },
            Ok(_) => {}
            Err(_) => counts.untracked += 1,
        };
        if ip.fragment.is_some() {
            if let DefragResult::Complete(r) = defrag.insert(ts, endpoint, frame.l3, &ip) {
                let whole = decode_inner(r.protocol(), r.bytes()).expect("reassembled decodes");
                account(&mut table, &whole);
                defrag.recycle(r);
            }
        } else {
            account(&mut table, &ip);
        }
    }
    counts.reassembled = defrag.counters().complete;
    counts
}

#[test]
fn test_flow_counts_match_tshark_conversations() {
    // (capture, tshark conv,tcp, tshark conv,udp, other flows, packets reassembled)
    let cases: &[(&str, usize, usize, usize, u64)] = &[
        ("http-browsing-bro.org.pcap", 13, 0, 0, 0),
        ("smtp.pcap", 6, 2, 0, 0),
        ("http-vlan.pcap", 1, 0, 0, 0),
        ("http-qinq.pcap", 1, 0, 0, 0),
        // Two fragments completing one NTP datagram, then a lone first fragment that never does.
        ("ipv4-fragmented.pcap", 0, 1, 0, 1),
        // DNS over IPv6: one answer in three fragments (reassembled), one whose other
        // fragments were lost (held, never complete); two conversations.
        ("dns-ipv6-fragmented.pcap", 0, 2, 0, 1),
        // Five echo request/reply pairs with one identifier: one ICMP flow.
        ("icmp-pings.pcap", 0, 0, 1, 0),
    ];
    for &(file, tcp, udp, other, reassembled) in cases {
        let c = run(file);
        assert_eq!(
            (c.tcp, c.udp, c.other, c.reassembled),
            (tcp, udp, other, reassembled),
            "{file}: {c:?}"
        );
    }
}
