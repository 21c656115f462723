//! The latest GENEVE header of each flow and direction, for injecting rejects.
//!
//! The appliance cannot originate flows: a TCP reset or ICMP unreachable must ride a GENEVE header
//! GWLB sent for that flow, byte for byte, to the GWLB node that sent it, from the local address it
//! arrived on (DESIGN.md section 1). Each worker keeps, for the flows of its IPS profiles, the
//! latest header seen in each direction in a fixed-size, direct-mapped table: allocated once,
//! never grown; a flow that hashes to a taken slot evicts the previous one (counted). Keys are the
//! symmetric [`FlowKey`] (GWLB endpoint id + 5-tuple), so both directions share an entry; the
//! side is "sent by the lower endpoint" or "by the higher one".

use std::hash::BuildHasher;
use std::net::{Ipv4Addr, SocketAddrV4};

use seawall_flow::FlowKey;

/// Largest GENEVE header: 8 bytes plus 63 words of options (RFC 8926).
pub const MAX_GENEVE_HEADER: usize = 8 + 63 * 4;

/// One direction's latest header and where it came from.
#[derive(Clone)]
pub struct HeaderSlot {
    len: u16,
    /// The GWLB node that sent it.
    pub peer: SocketAddrV4,
    /// The local address it arrived on.
    pub local: Ipv4Addr,
    bytes: [u8; MAX_GENEVE_HEADER],
}

impl HeaderSlot {
    const EMPTY: HeaderSlot = HeaderSlot {
        len: 0,
        peer: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0),
        local: Ipv4Addr::UNSPECIFIED,
        bytes: [0; MAX_GENEVE_HEADER],
    };

    /// The header bytes (GENEVE header and options, as received).
    pub fn header(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl std::fmt::Debug for HeaderSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeaderSlot")
            .field("len", &self.len)
            .field("peer", &self.peer)
            .finish()
    }
}

#[derive(Debug, Clone)]
struct Entry {
    key: Option<FlowKey>,
    /// [sent by lo, sent by hi].
    sides: [HeaderSlot; 2],
}

/// A fixed-size table of the latest GENEVE header per flow and direction.
#[derive(Debug)]
pub struct HeaderTable {
    entries: Vec<Entry>,
    mask: usize,
    hasher: std::hash::RandomState,
    evictions: u64,
}

impl HeaderTable {
    /// A table of `flows` entries (rounded up to a power of two), allocated now.
    pub fn new(flows: usize) -> Self {
        let n = flows.max(1).next_power_of_two();
        HeaderTable {
            entries: vec![
                Entry {
                    key: None,
                    sides: [HeaderSlot::EMPTY, HeaderSlot::EMPTY],
                };
                n
            ],
            mask: n - 1,
            hasher: std::hash::RandomState::new(),
            evictions: 0,
        }
    }

    fn index(&self, key: &FlowKey) -> usize {
        (self.hasher.hash_one(key) as usize) & self.mask
    }

    /// Records `header` as the latest one of `key`, sent by the lower endpoint when `from_lo`.
    /// Headers longer than [`MAX_GENEVE_HEADER`] are ignored (GENEVE cannot have them).
    #[inline]
    pub fn record(
        &mut self,
        key: &FlowKey,
        from_lo: bool,
        header: &[u8],
        peer: SocketAddrV4,
        local: Ipv4Addr,
    ) {
        if header.is_empty() || header.len() > MAX_GENEVE_HEADER {
            return;
        }
        let i = self.index(key);
        let e = &mut self.entries[i];
        if e.key.as_ref() != Some(key) {
            if e.key.is_some() {
                self.evictions += 1;
            }
            e.key = Some(*key);
            e.sides[0].len = 0;
            e.sides[1].len = 0;
        }
        let slot = &mut e.sides[usize::from(!from_lo)];
        slot.bytes[..header.len()].copy_from_slice(header);
        // Bounded by MAX_GENEVE_HEADER above.
        slot.len = header.len() as u16;
        slot.peer = peer;
        slot.local = local;
    }

    /// The latest header of `key` sent by the lower endpoint (`from_lo`) or the higher one.
    pub fn get(&self, key: &FlowKey, from_lo: bool) -> Option<&HeaderSlot> {
        let e = &self.entries[self.index(key)];
        if e.key.as_ref() != Some(key) {
            return None;
        }
        let s = &e.sides[usize::from(!from_lo)];
        (!s.is_empty()).then_some(s)
    }

    /// Flows evicted so far (the caller turns it into a counter increment).
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// Entries.
    pub fn capacity(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use seawall_wire::FiveTuple;

    fn key(port: u16) -> (FlowKey, bool) {
        FlowKey::from_tuple(
            7,
            &FiveTuple {
                src: "10.0.0.1".parse().unwrap(),
                dst: "10.0.0.2".parse().unwrap(),
                ip_proto: 6,
                src_port: port,
                dst_port: 80,
            },
        )
    }

    #[test]
    fn keeps_the_latest_header_per_direction() {
        let mut t = HeaderTable::new(16);
        let (k, lo) = key(4000);
        let peer = SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 9), 5000);
        let local = Ipv4Addr::new(127, 0, 0, 1);
        t.record(&k, lo, &[1; 40], peer, local);
        t.record(&k, lo, &[2; 40], peer, local);
        assert_eq!(t.get(&k, lo).unwrap().header(), &[2; 40]);
        assert!(t.get(&k, !lo).is_none());
        t.record(&k, !lo, &[3; 44], peer, local);
        assert_eq!(t.get(&k, !lo).unwrap().header(), &[3; 44]);
        assert_eq!(t.get(&k, lo).unwrap().peer, peer);
        assert!(t.get(&key(4001).0, lo).is_none());
    }

    #[test]
    fn stays_bounded_and_counts_evictions() {
        let mut t = HeaderTable::new(4);
        let peer = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 1);
        for p in 0..100 {
            let (k, lo) = key(p);
            t.record(&k, lo, &[p as u8; 40], peer, Ipv4Addr::LOCALHOST);
            assert_eq!(t.get(&k, lo).unwrap().header()[0], p as u8);
        }
        assert_eq!(t.capacity(), 4);
        assert!(t.evictions() >= 96, "{}", t.evictions());
        t.record(
            &key(1).0,
            true,
            &[0; MAX_GENEVE_HEADER + 1],
            peer,
            Ipv4Addr::LOCALHOST,
        );
    }
}
