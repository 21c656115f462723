//! Fuzz target `reassembly`: TCP segments in any order, overlapping, duplicated, with any flags,
//! through a `StreamTable` of a few flows with a small, fuzzer-chosen configuration (memcap,
//! depth, overlap policy, delivery mode, held/window limits), consuming the chunks it hands out.
//!
//! Invariants checked after every step: nothing panics; the pool never holds more than its
//! memcap and its accounting matches the structures (`audit_bytes`); a chunk's `new_from` lies
//! inside it; the delivered offset of a direction never goes back. When every segment carries the
//! "true" bytes of its sequence range (byte = sequence number mod 256), every chunk (context
//! included, never spanning a gap) must be such a contiguous run: no byte lands in the wrong place.
#![no_main]

use arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use seawall_flow::stream::{Delivery, OverlapPolicy, Segment, StreamConfig, StreamHandle, StreamTable};
use seawall_flow::{Direction, Timestamp};
use seawall_wire::TcpFlags;

const FLOWS: usize = 3;
const DIRS: [Direction; 2] = [Direction::ToServer, Direction::ToClient];

fn config(u: &mut Unstructured<'_>) -> Result<StreamConfig> {
    let mut c = StreamConfig::default();
    c.memcap = *u.choose(&[0, 512, 2048, 4096, 16 << 10, 64 << 10, 1 << 20])?;
    c.depth = *u.choose(&[0, 1, 100, 1000, 1 << 20])?;
    c.policy = *u.choose(&[
        OverlapPolicy::Bsd,
        OverlapPolicy::First,
        OverlapPolicy::Last,
        OverlapPolicy::Linux,
        OverlapPolicy::OldLinux,
        OverlapPolicy::Solaris,
    ])?;
    c.delivery = if u.arbitrary()? { Delivery::Acked } else { Delivery::Immediate };
    c.max_held_bytes = *u.choose(&[0, 64, 1000, 256 << 10])?;
    c.max_held_segments = *u.choose(&[0, 1, 4, 512])?;
    c.gap_timeout_secs = u.int_in_range(0..=5)?;
    c.window_keep = *u.choose(&[0, 1, 16, 2560])?;
    c.window_max = *u.choose(&[0, 1, 64, 4096, 1 << 20])?;
    c.max_ahead = *u.choose(&[0, 100, 5000, 64 << 20])?;
    Ok(c)
}

/// `byte(seq)` for the "true" stream of both directions.
fn true_byte(seq: u32) -> u8 {
    seq as u8
}

fn check_chunk(data: &[u8], truthful: bool) {
    if truthful {
        for w in data.windows(2) {
            assert_eq!(w[1], w[0].wrapping_add(1), "reassembled bytes out of place: {data:?}");
        }
    }
}

fn run(u: &mut Unstructured<'_>) -> Result<()> {
    let cfg = config(u)?;
    let memcap = cfg.memcap;
    let truthful: bool = u.ratio(3, 4)?;
    let mut table = StreamTable::new(cfg);
    let mut handles: [Option<StreamHandle>; FLOWS] = [None; FLOWS];
    // Per flow and direction: the sequence number segments are drawn around, and the last
    // delivered offset seen (reset when the tracker changes).
    let mut base = [[0u32; 2]; FLOWS];
    for b in base.iter_mut().flatten() {
        *b = if u.arbitrary()? { u.arbitrary()? } else { u32::MAX - u.int_in_range(0..=2000)? };
    }
    let mut delivered: [[Option<(StreamHandle, u64)>; 2]; FLOWS] = [[None; 2]; FLOWS];
    let mut ts = Timestamp::from_secs(u.int_in_range(0..=10)?);
    let mut payload = Vec::new();

    while !u.is_empty() {
        let f = u.int_in_range(0..=FLOWS as u8 - 1)? as usize;
        let flow_id = f as u64 + 1;
        ts = Timestamp(ts.0 + *u.choose(&[0, 0, 0, 1, 1000, 1_000_000, 4_000_000, 100_000_000])?);
        match u.int_in_range(0..=15)? {
            0..=9 => {
                let d = u.int_in_range(0..=1)? as usize;
                let dir = DIRS[d];
                let flags: u8 = if u.ratio(3, 4)? {
                    // Mostly ACK(+PSH), sometimes SYN/FIN/RST, as real sessions.
                    *u.choose(&[0x10, 0x18, 0x18, 0x02, 0x12, 0x11, 0x19, 0x04, 0x14, 0x00])?
                } else {
                    u.arbitrary()?
                };
                let seq = if u.ratio(1, 16)? {
                    u.arbitrary()?
                } else {
                    base[f][d].wrapping_add(u.int_in_range(0..=3000)?).wrapping_sub(8)
                };
                let ack = if u.ratio(1, 16)? {
                    u.arbitrary()?
                } else {
                    base[f][1 - d].wrapping_add(u.int_in_range(0..=3000)?)
                };
                let len = if u.ratio(1, 32)? { u.int_in_range(0..=9000)? } else { u.int_in_range(0..=200)? };
                let data_seq = if flags & TcpFlags::SYN != 0 { seq.wrapping_add(1) } else { seq };
                payload.clear();
                if truthful {
                    payload.extend((0..len as u32).map(|i| true_byte(data_seq.wrapping_add(i))));
                } else {
                    let n = len.min(u.len());
                    payload.extend_from_slice(u.bytes(n)?);
                }
                let seg = Segment { seq, ack, flags: TcpFlags(flags), payload: &payload, window: None };
                let new = table.on_segment(&mut handles[f], flow_id, ts, dir, &seg);
                let _ = (new.any(), new.get(dir).bytes, new.to_client.gaps, new.to_server.eof);
            }
            10 | 11 => {
                // Consume what is pending (all of it, or one chunk).
                let dir = DIRS[u.int_in_range(0..=1)? as usize];
                let all: bool = u.arbitrary()?;
                if let Some(h) = handles[f] {
                    let mut rounds = 0;
                    while let Some(chunk) = table.pending(h, dir) {
                        assert!(chunk.new_from <= chunk.data.len());
                        let _ = (chunk.new_bytes(), chunk.offset, chunk.gap_before);
                        check_chunk(chunk.data, truthful);
                        table.consume(h, dir);
                        rounds += 1;
                        assert!(rounds < 1 << 20, "pending/consume does not terminate");
                        if !all {
                            break;
                        }
                    }
                    if u.ratio(1, 8)? {
                        table.consume_all(h, dir);
                    }
                }
            }
            12 => {
                if let Some(h) = handles[f] {
                    let _ = table.poll(h, ts);
                }
            }
            13 => {
                if let Some(h) = handles[f] {
                    let _ = table.flush(h, ts);
                    if u.arbitrary()? {
                        table.release(h);
                        handles[f] = None;
                    }
                }
            }
            14 => {
                if let Some(h) = handles[f] {
                    table.reverse(h);
                    base[f].swap(0, 1);
                    delivered[f] = [None; 2];
                }
            }
            _ => {
                let idle = u.int_in_range(0..=10)?;
                let _ = table.expire(ts, idle, u.int_in_range(0..=8)?);
            }
        }

        assert!(table.memory_bytes() <= memcap, "{} > memcap {memcap}", table.memory_bytes());
        assert_eq!(table.audit_bytes(), table.memory_bytes(), "pool accounting drifted");
        assert_eq!(table.counters().memory_bytes, table.memory_bytes() as u64);
        for (g, h) in handles.iter().enumerate() {
            let Some(t) = h.and_then(|h| table.tracker(h).map(|t| (h, t))) else {
                delivered[g] = [None; 2];
                continue;
            };
            let (h, t) = t;
            for (d, dir) in DIRS.into_iter().enumerate() {
                let off = t.delivered_offset(dir);
                if let Some((ph, prev)) = delivered[g][d] {
                    if ph == h {
                        assert!(off >= prev, "delivered offset went back: {prev} -> {off}");
                    }
                }
                delivered[g][d] = Some((h, off));
                let _ = (t.held_bytes(dir), t.is_closed(dir), t.depth_reached(dir));
                if let Some(c) = t.pending(dir) {
                    assert!(c.new_from <= c.data.len());
                    check_chunk(c.data, truthful);
                }
            }
        }
    }
    // Flow end: flush, drain and release everything; the pool must come back to the slab only.
    for h in handles.iter().flatten() {
        let _ = table.flush(*h, ts);
        for dir in DIRS {
            while let Some(c) = table.pending(*h, dir) {
                check_chunk(c.data, truthful);
                table.consume(*h, dir);
            }
        }
        table.release(*h);
    }
    assert_eq!(table.counters().trackers_active, 0);
    assert!(table.memory_bytes() <= memcap);
    assert_eq!(table.audit_bytes(), table.memory_bytes());
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
