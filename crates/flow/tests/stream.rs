//! TCP stream reassembly: scenarios (order, overlaps per policy, gaps, depth, memcap,
//! wraparound, mid-stream pickup, FIN/RST) and property tests (any order/duplication/overlap of
//! a consistent stream delivers the stream; a per-byte model of the overlap policies; the memcap
//! is never exceeded under random input).

use proptest::prelude::*;
use seawall_flow::stream::{
    Delivery, NewData, OverlapPolicy, Segment, StreamConfig, StreamHandle, StreamPool, StreamTable,
    StreamTracker,
};
use seawall_flow::{Direction, Timestamp};
use seawall_wire::TcpFlags;

const C2S: Direction = Direction::ToServer;
const S2C: Direction = Direction::ToClient;
const A: u8 = TcpFlags::ACK;
const PA: u8 = TcpFlags::PSH | TcpFlags::ACK;
const SYN: u8 = TcpFlags::SYN;
const SA: u8 = TcpFlags::SYN | TcpFlags::ACK;
const FA: u8 = TcpFlags::FIN | TcpFlags::ACK;
const RA: u8 = TcpFlags::RST | TcpFlags::ACK;

fn ts(s: u64) -> Timestamp {
    Timestamp::from_secs(s)
}

/// A tracker and its pool, with the client/server ISNs of a completed handshake.
struct Conn {
    pool: StreamPool,
    t: StreamTracker,
    cisn: u32,
    sisn: u32,
    now: u64,
}

impl Conn {
    fn new(cfg: StreamConfig, cisn: u32, sisn: u32) -> Conn {
        let mut c = Conn {
            pool: StreamPool::new(cfg),
            t: StreamTracker::new(),
            cisn,
            sisn,
            now: 1,
        };
        c.raw(C2S, cisn, 0, SYN, b"");
        c.raw(S2C, sisn, cisn.wrapping_add(1), SA, b"");
        c.raw(C2S, cisn.wrapping_add(1), sisn.wrapping_add(1), A, b"");
        c
    }
    fn raw(&mut self, dir: Direction, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> NewData {
        self.t.on_segment(
            &mut self.pool,
            ts(self.now),
            dir,
            &Segment {
                seq,
                ack,
                flags: TcpFlags(flags),
                payload,
                window: None,
            },
        )
    }
    /// Client data at stream offset `off` (0 = first byte), acking nothing new.
    fn c(&mut self, off: u32, payload: &[u8]) -> NewData {
        let (seq, ack) = (
            self.cisn.wrapping_add(1).wrapping_add(off),
            self.sisn.wrapping_add(1),
        );
        self.raw(C2S, seq, ack, PA, payload)
    }
    /// Server ACK of client offset `off`.
    fn s_ack(&mut self, off: u32) -> NewData {
        let (seq, ack) = (
            self.sisn.wrapping_add(1),
            self.cisn.wrapping_add(1).wrapping_add(off),
        );
        self.raw(S2C, seq, ack, A, b"")
    }
    fn drain(&mut self, dir: Direction) -> Vec<u8> {
        let mut v = Vec::new();
        while let Some(ch) = self.t.pending(dir) {
            v.extend_from_slice(ch.new_bytes());
            self.t.consume(&mut self.pool, dir);
        }
        v
    }
    fn check_memory(&self) {
        assert_eq!(self.pool.memory_bytes(), self.t.heap_bytes());
        assert!(self.pool.memory_bytes() <= self.pool.config().memcap);
    }
}

fn cfg() -> StreamConfig {
    StreamConfig::default()
}

#[test]
fn test_out_of_order_held_then_delivered() {
    let mut c = Conn::new(cfg(), 1000, 9000);
    assert_eq!(c.c(10, b"klmnopqrst").to_server.bytes, 0);
    assert_eq!(c.c(5, b"fghij").to_server.bytes, 0);
    assert_eq!(c.t.held_bytes(C2S), 15);
    assert!(c.t.pending(C2S).is_none());
    let n = c.c(0, b"abcde");
    assert_eq!(n.to_server.bytes, 20);
    assert_eq!(c.drain(C2S), b"abcdefghijklmnopqrst");
    assert_eq!(c.t.held_bytes(C2S), 0);
    let k = c.pool.counters();
    assert_eq!((k.ooo_held, k.gaps, k.overlaps), (2, 0, 0));
    assert_eq!(k.delivered_bytes, 20);
    c.check_memory();
}

/// Content split over three segments, delivered in separate calls and inspected chunk by
/// chunk, is visible in one slice thanks to the kept context.
#[test]
fn test_content_spanning_segments_visible_in_window() {
    let mut c = Conn::new(cfg(), 7, 70);
    let parts: [&[u8]; 3] = [b"GET /index.php?cmd=/bin/", b"s", b"h HTTP/1.1\r\n"];
    let mut off = 0;
    let mut seen = false;
    for p in parts {
        c.c(off, p);
        off += p.len() as u32;
        let ch = c.t.pending(C2S).expect("new bytes");
        seen |= ch.data.windows(7).any(|w| w == b"/bin/sh");
        c.t.consume(&mut c.pool, C2S);
    }
    assert!(
        seen,
        "content spanning 3 segments was never visible in one chunk"
    );
    // The kept context is bounded by window_keep.
    let mut c = Conn::new(
        StreamConfig {
            window_keep: 4,
            ..cfg()
        },
        7,
        70,
    );
    c.c(0, b"0123456789");
    c.t.consume(&mut c.pool, C2S);
    c.c(10, b"ab");
    let ch = c.t.pending(C2S).unwrap();
    assert_eq!((ch.data, ch.new_from, ch.offset), (&b"6789ab"[..], 4, 6));
}

/// Overlap policy cases with different data (Acked mode, so everything is still held when the
/// overlapping segment arrives; delivered at the ACK).
#[test]
fn test_overlap_policies() {
    // (policy, expected stream)
    // Existing: "AAAA" at 2..6. New: "bbbbbbbb" at 0..8 (starts before, ends after), then
    // "cc" at 2..4 (same start, ends before), then "DDDD" at 4..8 wait: see steps below.
    type Case = (OverlapPolicy, &'static [u8]);
    let steps: &[(u32, &[u8])] = &[
        (2, b"AAAA"),     // old segment [2,6)
        (0, b"bbbbbbbb"), // starts before, ends after
        (2, b"cccccc"),   // same start as A, ends same as b... [2,8)
        (6, b"dddd"),     // [6,10): starts after/at end of A; overlaps b and c
    ];
    let cases: &[Case] = &[
        // Bsd: b wins over A (starts before); c loses to A (same start) and to b (starts
        // after); d loses to b and c (starts after) except [8,10) which is new.
        (OverlapPolicy::Bsd, b"bbbbbbbbdd"),
        (OverlapPolicy::First, b"bbAAAAbbdd"),
        (OverlapPolicy::Last, b"bbccccdddd"),
        // Linux: c vs A: same start, ends after A → c wins [2,6); c vs b: starts after → b
        // kept [2,8) → b wins there since any old-wins segment keeps its bytes.
        (OverlapPolicy::Linux, b"bbbbbbbbdd"),
        // Solaris: b over A (before, ends after) wins; c vs A: same start, ends after → new;
        // c vs b: starts after, same end → old (b); d vs b/c: starts after, ends after → new.
        (OverlapPolicy::Solaris, b"bbbbbbdddd"),
    ];
    for (policy, want) in cases {
        let mut c = Conn::new(
            StreamConfig {
                policy: *policy,
                delivery: Delivery::Acked,
                ..cfg()
            },
            500,
            600,
        );
        for (off, data) in steps {
            assert_eq!(c.c(*off, data).to_server.bytes, 0, "{policy:?}: held");
        }
        let n = c.s_ack(10);
        assert_eq!(n.to_server.bytes, 10, "{policy:?}");
        assert_eq!(c.drain(C2S), *want, "{policy:?}");
        let k = c.pool.counters();
        assert_eq!((k.overlaps, k.overlap_different), (3, 3), "{policy:?}");
        c.check_memory();
    }
}

/// Bytes already delivered never change: a retransmission with other bytes is an overlap with
/// different data, and the stream keeps the first bytes (Immediate mode).
#[test]
fn test_retransmission_of_delivered_bytes() {
    let mut c = Conn::new(cfg(), 1, 2);
    c.c(0, b"hello world");
    assert_eq!(c.drain(C2S), b"hello world");
    c.c(0, b"hello");
    c.c(6, b"EVIL!");
    let n = c.c(6, b"world, again");
    assert_eq!(n.to_server.bytes, 7);
    assert_eq!(c.drain(C2S), b", again");
    let k = c.pool.counters();
    assert_eq!((k.overlaps, k.overlap_different), (3, 1));
}

#[test]
fn test_gap_skipped_when_peer_acks_past_it() {
    let mut c = Conn::new(cfg(), 40, 50);
    c.c(0, b"first");
    assert_eq!(c.drain(C2S), b"first");
    // [5, 10) is lost before us; [10, 15) arrives and is held.
    c.c(10, b"third");
    assert!(c.t.pending(C2S).is_none());
    // The server acknowledges everything: the hole is skipped.
    let n = c.s_ack(15);
    assert_eq!(
        (n.to_server.gaps, n.to_server.gap_bytes, n.to_server.bytes),
        (1, 5, 5)
    );
    let ch = c.t.pending(C2S).unwrap();
    // No context across a gap.
    assert_eq!(
        (ch.data, ch.new_from, ch.gap_before, ch.offset),
        (&b"third"[..], 0, 5, 10)
    );
    c.t.consume(&mut c.pool, C2S);
    // The stream goes on after the gap.
    c.c(15, b"!");
    assert_eq!(c.t.pending(C2S).unwrap().data, b"third!");
    let k = c.pool.counters();
    assert_eq!((k.gaps, k.gap_bytes), (1, 5));
}

#[test]
fn test_gap_skipped_after_timeout() {
    let mut c = Conn::new(
        StreamConfig {
            gap_timeout_secs: 3,
            ..cfg()
        },
        40,
        50,
    );
    c.c(0, b"ab");
    c.c(4, b"ef");
    c.now = 4; // 3 s after the segment was held: not yet (strictly more).
    assert_eq!(c.t.poll(&mut c.pool, ts(c.now)), NewData::default());
    c.now = 5;
    let n = c.t.poll(&mut c.pool, ts(c.now));
    assert_eq!((n.to_server.gaps, n.to_server.bytes), (1, 2));
    assert_eq!(c.drain(C2S), b"abef");
    // The late segment is now before the delivery point: ignored, counted as overlap.
    c.c(2, b"cd");
    assert!(c.t.pending(C2S).is_none());
}

/// A direction holding too much skips its leading hole instead of stalling.
#[test]
fn test_gap_skipped_when_held_bytes_bound_is_reached() {
    let mut c = Conn::new(
        StreamConfig {
            max_held_bytes: 10,
            ..cfg()
        },
        0,
        0,
    );
    c.c(5, b"12345");
    c.c(10, b"67890");
    assert_eq!(c.t.held_bytes(C2S), 10);
    let n = c.c(20, b"x");
    assert_eq!((n.to_server.gaps, n.to_server.gap_bytes), (1, 5));
    assert_eq!(c.drain(C2S), b"1234567890");
    assert_eq!(c.t.held_bytes(C2S), 1);
    c.check_memory();
}

#[test]
fn test_depth_stops_reassembly() {
    let mut c = Conn::new(StreamConfig { depth: 10, ..cfg() }, 3, 4);
    c.c(0, b"0123456");
    let n = c.c(7, b"789abcdef");
    assert_eq!(n.to_server.bytes, 3);
    assert!(n.to_server.depth_reached);
    assert!(c.t.depth_reached(C2S) && c.t.is_closed(C2S));
    assert_eq!(c.drain(C2S), b"0123456789");
    assert_eq!(c.c(16, b"more").to_server.bytes, 0);
    // The other direction is unaffected.
    let sisn = c.sisn;
    c.raw(S2C, sisn.wrapping_add(1), 3 + 1 + 10, PA, b"reply");
    assert_eq!(c.drain(S2C), b"reply");
    assert_eq!(c.pool.counters().depth_reached, 1);
    c.check_memory();
}

/// Sequence numbers wrap around 2^32 in the middle of the stream.
#[test]
fn test_sequence_wraparound() {
    let isn = u32::MAX - 5;
    let mut c = Conn::new(cfg(), isn, 1);
    // offsets 0..4 are seq MAX-4..=MAX, offsets 5.. wrap to 0..
    c.c(8, b"89");
    c.c(0, b"0123");
    c.c(4, b"4567");
    assert_eq!(c.drain(C2S), b"0123456789");
    assert_eq!(c.t.delivered_offset(C2S), 10);
}

/// No handshake seen: the first data sets the base; the peer's ACK sets the other side's.
#[test]
fn test_midstream_pickup() {
    let mut pool = StreamPool::new(cfg());
    let mut t = StreamTracker::new();
    let seg = |seq, ack, flags, payload| Segment {
        seq,
        ack,
        flags: TcpFlags(flags),
        payload,
        window: None,
    };
    t.on_segment(&mut pool, ts(1), C2S, &seg(5000, 8000, PA, &b"POST /x"[..]));
    t.on_segment(
        &mut pool,
        ts(1),
        S2C,
        &seg(8000, 5007, PA, &b"HTTP/1.1"[..]),
    );
    let v = t.pending(C2S).unwrap();
    assert_eq!(v.data, b"POST /x");
    assert_eq!(t.pending(S2C).unwrap().data, b"HTTP/1.1");
    assert_eq!(pool.counters().midstream, 2);
    // Midstream where the server's data is first seen after a lost segment: the client's ACK
    // placed the server's base at 8000; data at 8010 waits, then the ACK skips the hole.
    let mut pool = StreamPool::new(cfg());
    let mut t = StreamTracker::new();
    t.on_segment(&mut pool, ts(1), C2S, &seg(5000, 8000, PA, &b"GET"[..]));
    t.on_segment(&mut pool, ts(1), S2C, &seg(8010, 5003, PA, &b"tail"[..]));
    assert!(t.pending(S2C).is_none());
    let n = t.on_segment(&mut pool, ts(1), C2S, &seg(5003, 8014, A, &b""[..]));
    assert_eq!((n.to_client.gaps, n.to_client.gap_bytes), (1, 10));
    assert_eq!(t.pending(S2C).unwrap().data, b"tail");
    // A pure ACK first, then data *before* the ACK-derived base: the data wins.
    let mut pool = StreamPool::new(cfg());
    let mut t = StreamTracker::new();
    t.on_segment(&mut pool, ts(1), S2C, &seg(100, 5010, A, &b""[..]));
    t.on_segment(
        &mut pool,
        ts(1),
        C2S,
        &seg(5000, 100, PA, &b"0123456789"[..]),
    );
    assert_eq!(t.pending(C2S).unwrap().data, b"0123456789");
}

#[test]
fn test_fin_ends_direction_and_data_after_fin_ignored() {
    let mut c = Conn::new(cfg(), 10, 20);
    let (cisn, sisn) = (c.cisn, c.sisn);
    c.c(0, b"abc");
    let n = c.raw(C2S, cisn + 4, sisn + 1, FA, b"de");
    assert!(n.to_server.eof);
    assert!(c.t.is_closed(C2S));
    assert_eq!(c.drain(C2S), b"abcde");
    assert_eq!(c.c(5, b"zzz").to_server.bytes, 0);
    assert!(c.pool.counters().after_close >= 1);
    // FIN before a hole: the hole is filled later, then the FIN completes.
    let mut c = Conn::new(cfg(), 10, 20);
    let n = c.raw(C2S, cisn + 4, sisn + 1, FA, b"de");
    assert!(!n.to_server.eof);
    let n = c.c(0, b"abc");
    assert!(n.to_server.eof);
    assert_eq!(c.drain(C2S), b"abcde");
    c.check_memory();
}

#[test]
fn test_rst_flushes_held_data_skipping_holes() {
    let mut c = Conn::new(cfg(), 10, 20);
    let (cisn, sisn) = (c.cisn, c.sisn);
    c.c(0, b"ab");
    c.c(5, b"fg");
    let n = c.raw(S2C, sisn + 1, cisn + 1, RA, b"");
    assert!(n.to_server.eof && n.to_client.eof);
    assert_eq!((n.to_server.gaps, n.to_server.bytes), (1, 2));
    assert_eq!(c.drain(C2S), b"abfg");
    assert_eq!(c.t.held_bytes(C2S), 0);
    // Out-of-window RST (seq far away) is ignored.
    let mut c = Conn::new(cfg(), 10, 20);
    let n = c.raw(S2C, sisn.wrapping_add(0x4000_0000), cisn + 1, RA, b"");
    assert!(!n.any());
    assert!(!c.t.is_closed(C2S));
}

/// Acked mode (Suricata IDS): in-order bytes wait for the peer's ACK.
#[test]
fn test_acked_mode_delivers_on_ack() {
    let mut c = Conn::new(StreamConfig::replay(), 100, 200);
    assert_eq!(c.c(0, b"hello ").to_server.bytes, 0);
    assert_eq!(c.c(6, b"world").to_server.bytes, 0);
    assert_eq!(c.s_ack(3).to_server.bytes, 3);
    assert_eq!(c.drain(C2S), b"hel");
    assert_eq!(c.s_ack(11).to_server.bytes, 8);
    assert_eq!(c.drain(C2S), b"lo world");
    // FIN acked one past the data: no gap.
    let (cisn, sisn) = (c.cisn, c.sisn);
    // The FIN ends the direction once everything before it is delivered; its ACK (one past
    // the data) is no gap.
    let n = c.raw(C2S, cisn + 12, sisn + 1, FA, b"");
    assert!(n.to_server.eof);
    let n = c.s_ack(12);
    assert_eq!(n.to_server.gaps, 0);
    assert_eq!(c.pool.counters().gaps, 0);
    // Flush at flow end delivers whatever is held.
    let mut c = Conn::new(StreamConfig::replay(), 100, 200);
    c.c(0, b"never acked");
    let n = c.t.flush(&mut c.pool, ts(9));
    assert_eq!(n.to_server.bytes, 11);
    assert_eq!(c.drain(C2S), b"never acked");
    c.check_memory();
}

#[test]
fn test_memcap_refuses_and_counts() {
    let mut c = Conn::new(
        StreamConfig {
            memcap: 64,
            ..cfg()
        },
        1,
        1,
    );
    // Held out-of-order data beyond the memcap is dropped.
    c.c(100, &[b'x'; 40]);
    c.c(200, &[b'y'; 40]);
    assert!(c.pool.counters().memcap_hits >= 1);
    c.check_memory();
}

#[test]
fn test_table_handles_and_expiry() {
    let mut t = StreamTable::new(cfg());
    let mut h: Option<StreamHandle> = None;
    let seg = |seq, flags, payload| Segment {
        seq,
        ack: 0,
        flags: TcpFlags(flags),
        payload,
        window: None,
    };
    // A pure ACK allocates nothing.
    t.on_segment(&mut h, 7, ts(1), C2S, &seg(1, A, &b""[..]));
    assert!(h.is_none());
    assert_eq!(t.memory_bytes(), 0);
    t.on_segment(&mut h, 7, ts(1), C2S, &seg(1, SYN, &b""[..]));
    let hd = h.expect("tracker on SYN");
    t.on_segment(&mut h, 7, ts(1), C2S, &seg(2, A, &b"abc"[..]));
    assert_eq!(t.pending(hd, C2S).unwrap().data, b"abc");
    t.consume_all(hd, C2S);
    assert!(t.pending(hd, C2S).is_none());
    assert_eq!(t.memory_bytes(), t.audit_bytes());
    // A handle of another flow id (a reused slot) is not used.
    let mut other = h;
    t.on_segment(&mut other, 8, ts(1), C2S, &seg(50, A, &b"x"[..]));
    assert_ne!(other, h);
    assert_eq!(t.counters().trackers_active, 2);
    // Release, then the stale handle is dead; the slot is reused.
    t.release(hd);
    assert!(t.tracker(hd).is_none());
    t.release(hd);
    let mut h2 = None;
    t.on_segment(&mut h2, 9, ts(2), C2S, &seg(1, A, &b"z"[..]));
    assert_eq!(t.counters().trackers_active, 2);
    // Idle expiry reclaims leaked trackers.
    assert_eq!(t.expire(ts(100), 10, 100), 2);
    assert_eq!(t.counters().trackers_active, 0);
    assert_eq!(t.memory_bytes(), t.audit_bytes());
    // A memcap too small for a slot: no tracker, counted.
    let mut t = StreamTable::new(StreamConfig {
        memcap: 16,
        ..cfg()
    });
    let mut h = None;
    t.on_segment(&mut h, 1, ts(1), C2S, &seg(1, SYN, &b""[..]));
    assert!(h.is_none());
    assert_eq!(t.counters().memcap_hits, 1);
}

/// An inspector that never consumes: the window stays bounded, the oldest bytes go first and
/// are counted.
#[test]
fn test_window_bounded_without_consumption() {
    let mut c = Conn::new(
        StreamConfig {
            window_max: 16,
            window_keep: 4,
            ..cfg()
        },
        0,
        0,
    );
    c.c(0, b"0123456789");
    c.c(10, b"abcdefghij");
    let ch = c.t.pending(C2S).unwrap();
    assert_eq!((ch.data, ch.offset), (&b"456789abcdefghij"[..], 4));
    assert_eq!(c.pool.counters().window_overflow_bytes, 4);
    // A single delivery larger than the window keeps its tail.
    c.c(20, &[b'z'; 40]);
    let ch = c.t.pending(C2S).unwrap();
    assert_eq!(ch.data.len(), 16);
    assert_eq!(c.pool.counters().window_overflow_bytes, 4 + 16 + 24);
    c.check_memory();
}

#[test]
fn test_reverse_swaps_directions() {
    let mut c = Conn::new(cfg(), 0, 0);
    c.c(0, b"from client");
    c.t.reverse();
    assert!(c.t.pending(C2S).is_none());
    assert_eq!(c.drain(S2C), b"from client");
}

// ---------------------------------------------------------------------------------------------
// Property tests

/// Segments covering `stream` (every byte at least once), with duplicates and overlaps, in
/// random order: (offset, len) pairs.
fn arb_cover(max_len: usize) -> impl Strategy<Value = (Vec<u8>, Vec<(usize, usize)>)> {
    (1..max_len)
        .prop_flat_map(|n| {
            (
                proptest::collection::vec(any::<u8>(), n),
                proptest::collection::vec(1usize..n.max(2), 0..12),
                proptest::collection::vec((0..n, 1usize..200), 0..12),
            )
        })
        .prop_map(|(data, cuts, extra)| {
            let n = data.len();
            let mut points: Vec<usize> = cuts.into_iter().filter(|&c| c < n).collect();
            points.push(0);
            points.push(n);
            points.sort_unstable();
            points.dedup();
            let mut segs: Vec<(usize, usize)> =
                points.windows(2).map(|w| (w[0], w[1] - w[0])).collect();
            for (o, l) in extra {
                segs.push((o, l.min(n - o)));
            }
            (data, segs)
        })
        .prop_flat_map(|(data, segs)| (Just(data), Just(segs).prop_shuffle()))
}

fn arb_policy() -> impl Strategy<Value = OverlapPolicy> {
    prop_oneof![
        Just(OverlapPolicy::Bsd),
        Just(OverlapPolicy::First),
        Just(OverlapPolicy::Last),
        Just(OverlapPolicy::Linux),
        Just(OverlapPolicy::OldLinux),
        Just(OverlapPolicy::Solaris),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any order, duplication and overlap of a consistent stream delivers exactly the stream
    /// (no gaps), in both delivery modes, across sequence wraparound, and inspection chunk by
    /// chunk sees every byte once.
    #[test]
    fn prop_any_order_delivers_the_stream(
        (data, segs) in arb_cover(3000),
        isn in prop_oneof![any::<u32>(), (u32::MAX - 3000)..=u32::MAX],
        acked in any::<bool>(),
        policy in arb_policy(),
        consume_every in 1usize..4,
    ) {
        let cfg = StreamConfig {
            delivery: if acked { Delivery::Acked } else { Delivery::Immediate },
            policy,
            ..StreamConfig::default()
        };
        let mut c = Conn::new(cfg, isn, 77);
        let mut got = Vec::new();
        for (i, &(o, l)) in segs.iter().enumerate() {
            c.c(o as u32, &data[o..o + l]);
            if i % consume_every == 0 {
                got.extend(c.drain(C2S));
            }
            c.check_memory();
        }
        let n = c.s_ack(data.len() as u32);
        prop_assert_eq!(n.to_server.gaps, 0);
        got.extend(c.drain(C2S));
        prop_assert_eq!(&got, &data);
        let k = c.pool.counters();
        prop_assert_eq!((k.gaps, k.overlap_different), (0, 0));
        prop_assert_eq!(k.delivered_bytes, data.len() as u64);
        prop_assert_eq!(c.t.held_bytes(C2S), 0);
        c.check_memory();
    }

    /// Overlaps with *different* data, held until the end (Acked mode, no ACK): the result is
    /// the per-byte model of the policy (a byte keeps its old value if any old segment
    /// covering it is preferred to the new one), holes skipped.
    #[test]
    fn prop_overlap_policy_matches_byte_model(
        segs in proptest::collection::vec((0u32..300, proptest::collection::vec(any::<u8>(), 1..60)), 1..40),
        policy in arb_policy(),
    ) {
        let cfg = StreamConfig { delivery: Delivery::Acked, policy, ..StreamConfig::default() };
        let mut c = Conn::new(cfg, 1_000_000, 5);
        let mut bytes: Vec<Option<u8>> = vec![None; 400];
        let mut model_segs: Vec<(u64, u64)> = Vec::new();
        for (off, d) in &segs {
            let new = (u64::from(*off), u64::from(*off) + d.len() as u64);
            for (i, &b) in d.iter().enumerate() {
                let o = *off as usize + i;
                let keep_old = bytes[o].is_some() && bytes[o] != Some(b) && model_segs.iter().any(|&(s, e)| {
                    s <= o as u64 && (o as u64) < e && !policy.new_wins(new, (s, e))
                });
                if !keep_old {
                    bytes[o] = Some(b);
                }
            }
            model_segs.push(new);
            c.c(*off, d);
        }
        c.t.flush(&mut c.pool, ts(2));
        let want: Vec<u8> = bytes.iter().flatten().copied().collect();
        prop_assert_eq!(c.drain(C2S), want);
        c.check_memory();
    }

    /// Random segments (any seq/ack/flags, both directions, several flows in one table, random
    /// consumption and expiry) never panic, never take more than the memcap, and the pool's
    /// accounting matches the structures.
    #[test]
    fn prop_memcap_never_exceeded(
        ops in proptest::collection::vec(
            (0usize..4, any::<bool>(), 0u32..5000, 0u32..5000, any::<u8>(), 0usize..700, 0u8..8, 0u64..3),
            1..150),
        memcap in 64usize..20_000,
        acked in any::<bool>(),
        policy in arb_policy(),
        max_held_bytes in 1usize..3000,
        max_held_segments in 1usize..20,
        depth in prop_oneof![Just(0u64), 1u64..4000],
    ) {
        let cfg = StreamConfig {
            memcap,
            delivery: if acked { Delivery::Acked } else { Delivery::Immediate },
            policy,
            max_held_bytes,
            max_held_segments,
            depth,
            window_keep: 100,
            window_max: 2000,
            gap_timeout_secs: 1,
            ..StreamConfig::default()
        };
        let mut t = StreamTable::new(cfg);
        let mut handles: [Option<StreamHandle>; 4] = [None; 4];
        let payload = vec![0xabu8; 700];
        let mut now = 0u64;
        for (flow, to_server, seq, ack, flags, len, action, dt) in ops {
            now += dt;
            let dir = if to_server { C2S } else { S2C };
            let seg = Segment { seq, ack, flags: TcpFlags(flags), payload: &payload[..len], window: None };
            t.on_segment(&mut handles[flow], flow as u64, ts(now), dir, &seg);
            if let Some(h) = handles[flow] {
                match action {
                    0 => t.consume(h, dir),
                    1 => t.consume_all(h, dir.reversed()),
                    2 => { t.flush(h, ts(now)); }
                    3 => { let _ = t.pending(h, dir).map(|c| (c.new_bytes().len(), c.offset)); }
                    4 => { t.poll(h, ts(now + 2)); }
                    5 if flags % 11 == 0 => t.release(h),
                    _ => {}
                }
            }
            if flags % 13 == 0 {
                t.expire(ts(now), 5, 3);
            }
            prop_assert!(t.memory_bytes() <= memcap, "{} > {}", t.memory_bytes(), memcap);
            prop_assert_eq!(t.memory_bytes(), t.audit_bytes());
            if let Some(h) = handles[flow] {
                if let Some(tr) = t.tracker(h) {
                    for d in [C2S, S2C] {
                        prop_assert!(tr.held_bytes(d) <= max_held_bytes.max(700));
                        if let Some(ch) = tr.pending(d) {
                            prop_assert!(ch.data.len() <= 2000 && ch.new_from <= ch.data.len());
                        }
                    }
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Segments lost before us: once the server acknowledges the whole stream, the delivered
    /// bytes are exactly the covered ones in order and the skipped ones are counted as gaps.
    /// Acknowledged bytes past the last segment seen are not skipped (Suricata declares a gap
    /// only before data it has): they may still arrive.
    #[test]
    fn prop_loss_skipped_exactly(
        (data, segs) in arb_cover(3000),
        keep in proptest::collection::vec(any::<bool>(), 24),
        acked in any::<bool>(),
        isn in any::<u32>(),
    ) {
        let cfg = StreamConfig {
            delivery: if acked { Delivery::Acked } else { Delivery::Immediate },
            ..StreamConfig::default()
        };
        let mut c = Conn::new(cfg, isn, 9);
        let mut covered = vec![false; data.len()];
        let mut got = Vec::new();
        for (i, &(o, l)) in segs.iter().enumerate() {
            if !keep[i % keep.len()] {
                continue;
            }
            covered[o..o + l].iter_mut().for_each(|b| *b = true);
            c.c(o as u32, &data[o..o + l]);
            got.extend(c.drain(C2S));
        }
        c.s_ack(data.len() as u32);
        got.extend(c.drain(C2S));
        let want: Vec<u8> = data.iter().zip(&covered).filter(|(_, k)| **k).map(|(b, _)| *b).collect();
        prop_assert_eq!(&got, &want);
        let k = c.pool.counters();
        let seen_end = covered.iter().rposition(|k| *k).map_or(0, |i| i + 1);
        prop_assert_eq!(k.gap_bytes, covered[..seen_end].iter().filter(|k| !**k).count() as u64);
        prop_assert_eq!(c.t.delivered_offset(C2S), seen_end as u64);
        prop_assert_eq!(c.t.held_bytes(C2S), 0);
        c.check_memory();
    }

    /// Content spanning segment (and inspection chunk) boundaries: every needle of up to
    /// `window_keep + 1` bytes of an in-order stream lies whole in some inspected chunk.
    #[test]
    fn prop_needles_spanning_boundaries_are_visible(
        (data, segs) in arb_cover(1500),
        keep in 1usize..64,
        consume_every in 1usize..5,
        needle_at in any::<proptest::sample::Index>(),
        needle_len in 1usize..65,
    ) {
        let cfg = StreamConfig { window_keep: keep, ..StreamConfig::default() };
        let mut c = Conn::new(cfg, 42, 43);
        let needle_len = needle_len.min(keep + 1).min(data.len());
        let at = needle_at.index(data.len() - needle_len + 1);
        let needle = &data[at..at + needle_len];
        let mut found = false;
        let mut inspect = |c: &mut Conn| {
            while let Some(ch) = c.t.pending(C2S) {
                // The needle's end is among the new bytes and its start within the chunk.
                let end = at + needle_len;
                let first = ch.offset as usize;
                let new_from = first + ch.new_from;
                let last = first + ch.data.len();
                if end > new_from && end <= last && at >= first {
                    found |= &ch.data[at - first..end - first] == needle;
                }
                c.t.consume(&mut c.pool, C2S);
            }
        };
        let mut sorted = segs.clone();
        sorted.sort_unstable();
        for (i, &(o, l)) in sorted.iter().enumerate() {
            c.c(o as u32, &data[o..o + l]);
            if i % consume_every == 0 {
                inspect(&mut c);
            }
        }
        inspect(&mut c);
        prop_assert!(found, "needle {:?} at {} not seen whole", needle, at);
    }
}
