//! Flows an IPS verdict dropped: the rest of such a flow is dropped without inspection, as
//! Suricata does.
//!
//! The engine marks the flow itself for rules that apply their action to the flow; for the
//! others (packet-level rules) the data plane remembers the flow here. A fixed-size,
//! direct-mapped table keyed by the symmetric [`FlowKey`] (GWLB endpoint id + 5-tuple):
//! allocated once; an entry idle for [`DROPPED_IDLE_SECS`] is forgotten (past GWLB's idle
//! timeouts, a reused 5-tuple is a new flow); a colliding flow evicts the older entry (counted).
//!
//! Only a datagram's own flow is remembered here. A drop on a packet decapsulated from a tunnel
//! inside the customer's traffic (GRE, VXLAN, ...) marks that inner flow in the inspector's flow
//! table instead ([`crate::inspect::Inspector::set_drop_tunnel_flows`]), so the tunnel's other
//! flows keep passing, as in Suricata.

use std::hash::BuildHasher;

use seawall_flow::{FlowKey, Timestamp};

/// A dropped flow idle this long is forgotten (GWLB's longest TCP idle timeout is 6000 s).
pub const DROPPED_IDLE_SECS: u64 = 6000;

#[derive(Debug, Clone, Copy)]
struct Entry {
    key: FlowKey,
    last_us: u64,
}

/// The dropped flows of one worker.
#[derive(Debug)]
pub struct DroppedFlows {
    entries: Vec<Option<Entry>>,
    mask: usize,
    hasher: std::hash::RandomState,
    evictions: u64,
}

impl DroppedFlows {
    /// A table of `flows` entries (rounded up to a power of two), allocated now.
    pub fn new(flows: usize) -> Self {
        let n = flows.max(1).next_power_of_two();
        DroppedFlows {
            entries: vec![None; n],
            mask: n - 1,
            hasher: std::hash::RandomState::new(),
            evictions: 0,
        }
    }

    fn index(&self, key: &FlowKey) -> usize {
        (self.hasher.hash_one(key) as usize) & self.mask
    }

    /// Records that `key`'s flow is dropped.
    pub fn insert(&mut self, key: &FlowKey, now: Timestamp) {
        let i = self.index(key);
        if let Some(e) = &self.entries[i] {
            if e.key != *key {
                self.evictions += 1;
            }
        }
        self.entries[i] = Some(Entry {
            key: *key,
            last_us: now.as_micros(),
        });
    }

    /// True when `key`'s flow was dropped (and refreshes it).
    #[inline]
    pub fn contains(&mut self, key: &FlowKey, now: Timestamp) -> bool {
        let i = self.index(key);
        match &mut self.entries[i] {
            Some(e) if e.key == *key => {
                let now = now.as_micros();
                if now.saturating_sub(e.last_us) > DROPPED_IDLE_SECS * 1_000_000 {
                    self.entries[i] = None;
                    return false;
                }
                e.last_us = e.last_us.max(now);
                true
            }
            _ => false,
        }
    }

    /// Dropped flows forgotten because another one took their slot.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use seawall_wire::FiveTuple;

    fn key(port: u16) -> FlowKey {
        FlowKey::from_tuple(
            1,
            &FiveTuple {
                src: "10.0.0.1".parse().unwrap(),
                dst: "10.0.0.2".parse().unwrap(),
                ip_proto: 6,
                src_port: port,
                dst_port: 80,
            },
        )
        .0
    }

    #[test]
    fn remembers_dropped_flows_until_idle() {
        let mut d = DroppedFlows::new(64);
        let t0 = Timestamp(1_000_000);
        d.insert(&key(1), t0);
        assert!(d.contains(&key(1), Timestamp(2_000_000)));
        assert!(!d.contains(&key(2), Timestamp(2_000_000)));
        let late = Timestamp(2_000_000 + (DROPPED_IDLE_SECS + 1) * 1_000_000);
        assert!(!d.contains(&key(1), late));
        assert!(!d.contains(&key(1), late));
    }

    #[test]
    fn stays_bounded() {
        let mut d = DroppedFlows::new(2);
        for p in 0..50 {
            d.insert(&key(p), Timestamp(p as u64));
            assert!(d.contains(&key(p), Timestamp(p as u64)));
        }
        assert!(d.evictions() >= 48);
    }
}
