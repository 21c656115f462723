//! Fuzz target `flow_table`: arbitrary packets (built IPv4/IPv6 TCP/UDP/ICMP/other packets and
//! fragments around fuzzer bytes, ICMP errors quoting packets, or raw bytes) through
//! `decode_inner`, `Defrag` and `FlowTable` with small memcaps, arbitrary timestamps (also going
//! backwards), GWLB endpoints, expiry and client/server reversal.
//!
//! Invariants checked: nothing panics; the table never holds more flows than its capacity nor
//! more bytes than its memcap; the defragmenter never accounts more than its memcap nor more
//! trackers than allowed; a reassembled packet decodes as a whole (unfragmented) packet; flow ids
//! stay below 2^51; the per-flow slot survives between packets of a flow.
#![no_main]

#[path = "build.rs"]
mod build;

use arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use seawall_flow::{
    Defrag, DefragConfig, DefragResult, FlowConfig, FlowTable, OverlapPolicy, Timestamp, Timeouts,
};
use seawall_wire::decode_inner;

/// The engine's per-flow slot stand-in: packets seen through this slot.
#[derive(Debug, Default)]
struct Slot {
    packets: u64,
    flow_id: u64,
}

fn run(u: &mut Unstructured<'_>) -> Result<()> {
    let per_flow = FlowTable::<Slot>::bytes_per_flow();
    let flows = *u.choose(&[1usize, 2, 3, 8, 64])?;
    let fcfg = FlowConfig {
        memcap: per_flow * flows + u.int_in_range(0..=64)? * 4,
        timeouts: if u.arbitrary()? { Timeouts::default() } else { Timeouts::suricata() },
        midstream: u.arbitrary()?,
        icmp_echo_by_id: u.arbitrary()?,
        async_oneside: u.arbitrary()?,
        hash_seed: u.arbitrary()?,
    };
    let Ok(mut table) = FlowTable::<Slot>::new(fcfg) else {
        return Ok(());
    };
    let dcfg = DefragConfig {
        memcap: *u.choose(&[0, 256, 2048, 16 << 10, 256 << 10])?,
        max_trackers: *u.choose(&[0, 1, 2, 16])?,
        max_frags: *u.choose(&[0, 1, 4, 64])?,
        max_frags_per_tracker: (*u.choose(&[0, 1, 3, 1024])?),
        timeout_secs: u.int_in_range(0..=5)?,
        policy: *u.choose(&[OverlapPolicy::Bsd, OverlapPolicy::First, OverlapPolicy::Last])?,
        pool_buffers: u.int_in_range(0..=2)?,
    };
    let mut defrag = Defrag::new(dcfg.clone());
    let mut ts = Timestamp(u.arbitrary::<u32>()? as u64);
    let mut buf = Vec::new();

    while !u.is_empty() {
        ts = match u.int_in_range(0..=9)? {
            0 => Timestamp(ts.0.saturating_sub(u.int_in_range(0..=5_000_000)?)),
            // Any time up to ~36000 years after the epoch (the final expiry must pass them all).
            1 => Timestamp(u.arbitrary::<u64>()? >> 4),
            2 => Timestamp(ts.0.saturating_add(u.int_in_range(0..=4000)? * 1_000_000)),
            _ => Timestamp(ts.0.saturating_add(u.int_in_range(0..=2_000_000)?)),
        };
        let endpoint: u64 = u.int_in_range(0..=2)?;
        match u.int_in_range(0..=15)? {
            0 => {
                let _ = table.expire(ts, u.int_in_range(0..=4)?);
            }
            1 => {
                let _ = defrag.expire(ts);
            }
            _ => {
                let protocol = build::arbitrary_packet(u, &[], &mut buf)?;
                let reverse = u.ratio(1, 16)?;
                if let Ok(pkt) = decode_inner(protocol, &buf) {
                    let _ = pkt.five_tuple();
                    if pkt.fragment.is_some() {
                        match defrag.insert(ts, endpoint, &buf, &pkt) {
                            DefragResult::Complete(r) => {
                                match decode_inner(r.protocol(), r.bytes()) {
                                    Ok(whole) => {
                                        assert!(whole.fragment.is_none(), "reassembled packet still a fragment");
                                        track(&mut table, ts, endpoint, &whole, reverse);
                                    }
                                    Err(e) => {
                                        // Reassembly fixed the lengths; only the transport
                                        // header may be short.
                                        let _ = e.reason();
                                    }
                                }
                                defrag.recycle(r);
                            }
                            DefragResult::Held | DefragResult::Dropped(_) => {}
                        }
                    } else {
                        track(&mut table, ts, endpoint, &pkt, reverse);
                    }
                }
            }
        }
        assert!(table.memory_bytes() <= fcfg.memcap);
        assert!(table.counters().active <= table.capacity() as u64);
        assert!(defrag.memory_used() <= dcfg.memcap, "defrag {} > memcap {}", defrag.memory_used(), dcfg.memcap);
        assert!(defrag.trackers() <= dcfg.max_trackers);
    }
    let mut ended = 0;
    let _ = table.expire_with(Timestamp(u64::MAX), usize::MAX, |stats, slot| {
        ended += 1;
        assert!(slot.packets == 0 || slot.flow_id == stats.flow_id);
    });
    assert_eq!(table.counters().active, 0, "{ended} flows expired, some left");
    let _ = defrag.expire(Timestamp(u64::MAX));
    assert_eq!(defrag.trackers(), 0);
    Ok(())
}

fn track(
    table: &mut FlowTable<Slot>,
    ts: Timestamp,
    endpoint: u64,
    pkt: &seawall_wire::InnerPacket<'_>,
    reverse: bool,
) {
    if let Ok(mut f) = table.process(ts, endpoint, pkt) {
        let id = f.flow_id();
        assert!(id < 1 << 51);
        let _ = (f.direction(), f.flags().established(), f.flags().new_flow(), f.tcp_state());
        let _ = (f.key(), f.stats());
        let slot = f.data_mut();
        if slot.packets > 0 {
            assert_eq!(slot.flow_id, id, "a flow's slot carried another flow's state");
        }
        slot.packets += 1;
        slot.flow_id = id;
        if reverse {
            f.reverse();
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
