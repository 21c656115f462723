//! Stream reassembly on a real capture: `pcaps/proto/http-post-large.pcap` (two HTTP POSTs of
//! ~60 KB each way over loopback, segments of up to 32 KB), through the flow table and a
//! [`StreamTable`] whose handles live in the flow table's engine slot, as the engine wires it.
//!
//! The reassembled bytes per direction are compared with `tshark -r FILE -q -z
//! follow,tcp,raw,N` (computed once and pinned here: length and FNV-1a 64 hash); when `tshark`
//! is installed the test also compares byte for byte with its live output.
//!
//! The corpus is `$SEAWALL_CORPUS` or `<repo>/../shared/corpus`; a missing corpus fails the test.

use std::collections::HashMap;
use std::path::PathBuf;

use seawall_flow::stream::{Delivery, StreamConfig, StreamHandle, StreamTable};
use seawall_flow::{decode_frame, Direction, FlowConfig, FlowTable, Timestamp};
use seawall_wire::{decode_inner, Transport};

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

fn fnv1a(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325, |h, &x| {
        (h ^ u64::from(x)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Reassembled bytes per (server port, direction).
type Streams = HashMap<(u16, Direction), Vec<u8>>;

fn reassemble(path: &PathBuf, delivery: Delivery) -> (Streams, StreamTable) {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = pcap_file::pcap::PcapReader::new(f).expect("pcap header");
    let linktype = u32::from(reader.header().datalink);
    let mut flows: FlowTable<Option<StreamHandle>> =
        FlowTable::new(FlowConfig::replay()).expect("flow table");
    let mut streams = StreamTable::new(StreamConfig {
        delivery,
        ..StreamConfig::default()
    });
    let mut out = Streams::new();
    let mut last = Timestamp::default();
    let mut handles = Vec::new();
    while let Some(pkt) = reader.next_packet() {
        let pkt = pkt.expect("pcap record");
        let ts =
            Timestamp::from_secs_micros(pkt.timestamp.as_secs(), pkt.timestamp.subsec_micros());
        last = ts;
        let frame = decode_frame(linktype, &pkt.data).expect("frame");
        let ip = decode_inner(frame.protocol, frame.l3).expect("ip");
        let Transport::Tcp {
            ports,
            flags,
            seq,
            ack,
            payload,
            ..
        } = ip.transport
        else {
            continue;
        };
        let mut flow = flows.process(ts, 0, &ip).expect("tracked");
        let (dir, id) = (flow.direction(), flow.flow_id());
        let server_port = if dir == Direction::ToServer {
            ports.dst
        } else {
            ports.src
        };
        let seg = seawall_flow::stream::Segment {
            seq,
            ack,
            flags,
            payload,
            window: None,
        };
        let handle = flow.data_mut();
        streams.on_segment(handle, id, ts, dir, &seg);
        let Some(h) = *handle else { continue };
        if !handles.contains(&(h, server_port)) {
            handles.push((h, server_port));
        }
        for d in [Direction::ToServer, Direction::ToClient] {
            while let Some(chunk) = streams.pending(h, d) {
                out.entry((server_port, d))
                    .or_default()
                    .extend_from_slice(chunk.new_bytes());
                streams.consume(h, d);
            }
        }
        assert!(streams.memory_bytes() <= streams.pool().config().memcap);
    }
    // Flow end: flush what is still held.
    for (h, port) in handles {
        streams.flush(h, last);
        for d in [Direction::ToServer, Direction::ToClient] {
            while let Some(chunk) = streams.pending(h, d) {
                out.entry((port, d))
                    .or_default()
                    .extend_from_slice(chunk.new_bytes());
                streams.consume(h, d);
            }
        }
        streams.release(h);
    }
    (out, streams)
}

/// tshark's `follow,tcp,raw,N`: client bytes are unindented hex lines, server bytes indented.
fn tshark_follow(path: &PathBuf, stream: u32) -> Option<(Vec<u8>, Vec<u8>)> {
    let out = std::process::Command::new("tshark")
        .arg("-r")
        .arg(path)
        .args(["-q", "-z", &format!("follow,tcp,raw,{stream}")])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let (mut client, mut server) = (Vec::new(), Vec::new());
    let mut started = false;
    for line in text.lines() {
        if line.starts_with("Node 1:") {
            started = true;
            continue;
        }
        if !started || line.starts_with("===") || line.trim().is_empty() {
            continue;
        }
        let hex = line.trim();
        let bytes: Vec<u8> = (0..hex.len() / 2)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex"))
            .collect();
        if line.starts_with('\t') {
            server.extend(bytes);
        } else {
            client.extend(bytes);
        }
    }
    Some((client, server))
}

#[test]
fn test_http_post_large_matches_tshark_follow() {
    let path = corpus().join("pcaps/proto/http-post-large.pcap");
    // (tcp.stream, server port, client→server (len, fnv), server→client (len, fnv)), from
    // `tshark -r http-post-large.pcap -q -z follow,tcp,raw,N`.
    let pinned = [
        (
            0u32,
            80u16,
            (61_907usize, 0xdb6e_c777_8a64_d258u64),
            (60_478usize, 0xdbe4_7120_81df_5cd9u64),
        ),
        (
            1,
            5000,
            (61_917, 0xf7db_7fa9_52aa_07a8),
            (60_478, 0x85fd_c164_34e0_2286),
        ),
    ];
    for delivery in [Delivery::Immediate, Delivery::Acked] {
        let (got, table) = reassemble(&path, delivery);
        for (stream, port, c2s, s2c) in pinned {
            let c = got.get(&(port, Direction::ToServer)).expect("client bytes");
            let s = got.get(&(port, Direction::ToClient)).expect("server bytes");
            assert_eq!(
                (c.len(), fnv1a(c)),
                c2s,
                "{delivery:?} port {port} to_server"
            );
            assert_eq!(
                (s.len(), fnv1a(s)),
                s2c,
                "{delivery:?} port {port} to_client"
            );
            assert!(c.starts_with(b"POST /hello HTTP/1.1\r\nHost: 127.0.0.1"));
            assert!(s.starts_with(b"HTTP/1.0 200 OK\r\n"));
            if let Some((tc, ts)) = tshark_follow(&path, stream) {
                assert!(
                    tc == *c,
                    "{delivery:?} stream {stream}: client bytes differ"
                );
                assert!(
                    ts == *s,
                    "{delivery:?} stream {stream}: server bytes differ"
                );
            }
        }
        let k = table.counters();
        assert_eq!(
            (k.gaps, k.overlaps, k.memcap_hits),
            (0, 0, 0),
            "{delivery:?}"
        );
        assert_eq!(k.delivered_bytes, 61_907 + 60_478 + 61_917 + 60_478);
        assert_eq!((k.trackers_created, k.trackers_active), (2, 0));
        assert_eq!(table.memory_bytes(), table.audit_bytes());
    }
}
