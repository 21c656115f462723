//! The driver shared by the `http`, `tls` and `dns` targets: one flow's app-layer state fed the
//! fuzzer's bytes in arbitrary chunks per direction, with gaps and closes, under default or
//! small fuzzer-chosen [`Limits`].
//!
//! Input format (read with `arbitrary::Unstructured`, front to back, so seeds are easy to write):
//! - one config byte: bit 0 = small limits (then one byte per limit picks its value), bit 1 =
//!   UDP transport (DNS only; one feed = one datagram);
//! - then operations until the input ends, each one op byte: `op & 3` is 0/1 = feed, 2 = gap,
//!   3 = close; bit 2 is the direction (0 to server, 1 to client); a feed is followed by a
//!   little-endian u16 length and that many data bytes (fewer at the end of the input).
//!
//! Invariants checked: nothing panics; after every operation `mem_usage() <= mem_bound()`
//! (issue 5: a flow's memory stays within its configured bound); every buffer of every kept
//! transaction can be queried in both directions (`get`, `get_all`, `urilen`, EVE), and a
//! single-buffer query gives the first of the multi-buffer instances.
#![allow(dead_code)]

use arbitrary::{Result, Unstructured};
use seawall_applayer::{
    detect_status, AppEvent, AppProto, AppState, Buffer, Direction, Limits, Timestamp, Transport,
};

const DIRS: [Direction; 2] = [Direction::ToServer, Direction::ToClient];

fn limits(u: &mut Unstructured<'_>) -> Result<Limits> {
    Ok(Limits {
        http_head_limit: *u.choose(&[0, 1, 16, 100, 1000, 64 << 10])?,
        http_max_headers: *u.choose(&[0, 1, 4, 256])?,
        request_body_limit: *u.choose(&[0, 1, 100, 4096, 100 << 10])?,
        response_body_limit: *u.choose(&[0, 1, 100, 4096, 100 << 10])?,
        decompress_limit: *u.choose(&[0, 10, 1000, 1 << 20])?,
        max_txs: *u.choose(&[0, 1, 2, 32])?,
        tls_handshake_limit: *u.choose(&[0, 10, 100, 1000, 256 << 10])?,
    })
}

fn check_mem(st: &AppState, what: &str) {
    let (used, bound) = (st.mem_usage(), st.mem_bound());
    assert!(used <= bound, "after {what}: mem_usage {used} > mem_bound {bound} ({:?})", st.limits());
}

/// Query every buffer of every transaction that may still be kept.
fn query_all(st: &AppState, newest: Option<u64>) {
    let Some(newest) = newest else { return };
    let oldest = newest.saturating_sub(st.limits().max_txs as u64 + 2);
    for tx_id in oldest..=newest.saturating_add(1) {
        let Some(tx) = st.buffers(tx_id) else { continue };
        for dir in DIRS {
            for &b in Buffer::ALL {
                let one = tx.get(dir, b);
                let all = tx.get_all(dir, b);
                assert_eq!(one, all.first().copied(), "get vs get_all of {b:?} ({dir:?}, tx {tx_id})");
                for x in &all {
                    std::hint::black_box(x.len());
                }
            }
        }
        let _ = (tx.urilen(false), tx.urilen(true));
        let (name, value) = tx.eve();
        assert!(matches!(name, "http" | "tls" | "dns"));
        std::hint::black_box(value.to_string());
    }
}

fn run(proto: AppProto, u: &mut Unstructured<'_>) -> Result<()> {
    let cfg: u8 = u.arbitrary()?;
    let lim = if cfg & 1 != 0 { limits(u)? } else { Limits::default() };
    let transport = if proto == AppProto::Dns && cfg & 2 != 0 { Transport::Udp } else { Transport::Tcp };
    let mut st = AppState::new(proto, transport, lim);
    check_mem(&st, "new");
    let mut events: Vec<AppEvent> = Vec::new();
    let mut newest: Option<u64> = None;
    let mut first: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
    let mut ts = 1_000_000u64;

    while !u.is_empty() {
        let op: u8 = u.arbitrary()?;
        let d = usize::from((op >> 2) & 1);
        let dir = DIRS[d];
        ts += 1000;
        events.clear();
        match op & 3 {
            0 | 1 => {
                let len = match u.bytes(2) {
                    Ok(b) => usize::from(u16::from_le_bytes([b[0], b[1]])),
                    Err(_) => u.len(),
                };
                let data = u.bytes(len.min(u.len()))?;
                if first[d].len() < 64 {
                    let n = data.len().min(64 - first[d].len());
                    first[d].extend_from_slice(&data[..n]);
                    let _ = detect_status(dir, transport, &first[d], 53);
                }
                st.feed(dir, Timestamp(ts), data, &mut events);
                check_mem(&st, "feed");
            }
            2 => {
                st.gap(dir);
                check_mem(&st, "gap");
            }
            _ => {
                st.close(dir, &mut events);
                check_mem(&st, "close");
            }
        }
        for ev in &events {
            newest = Some(newest.map_or(ev.tx_id, |n| n.max(ev.tx_id)));
            let _ = (ev.kind.direction(), ev.kind.buffers());
            if let Some(tx) = st.buffers(ev.tx_id) {
                for &b in ev.kind.buffers() {
                    let _ = tx.get_all(ev.kind.direction(), b);
                }
            }
        }
        if !events.is_empty() {
            query_all(&st, newest);
        }
    }
    // End of flow: both directions close; everything left is completed and queried.
    for dir in DIRS {
        events.clear();
        st.close(dir, &mut events);
        check_mem(&st, "final close");
        for ev in &events {
            newest = Some(newest.map_or(ev.tx_id, |n| n.max(ev.tx_id)));
        }
    }
    query_all(&st, newest.or(Some(0)));
    let _ = *st.counters();
    Ok(())
}

pub fn fuzz(proto: AppProto, data: &[u8]) {
    let _ = run(proto, &mut Unstructured::new(data));
}
