//! The per-worker flow table: open addressing over a preallocated slab, LRU lists per timeout
//! class, memcap, timeouts, emergency eviction, per-flow counters and the engine's slot.
//!
//! Layout: `entries` is a slab allocated once (`Vec::with_capacity(max_flows)`, never grown past
//! it); `slots` is a linear-probing index (power of two, at most half full) of `u32` entry
//! indices, with backward-shift deletion (no tombstones). Every live entry sits in exactly one
//! doubly linked LRU list (oldest at the head) chosen by its [`Class`]: one list per timeout, so
//! the head of each list is the next to time out and expiry is a few head checks.

use core::mem::size_of;
use core::net::IpAddr;

use seawall_wire::inner::ip_proto;
use seawall_wire::{InnerPacket, Transport};

use crate::key::{map_packet, Direction, FlowKey, Mapping, Untracked};
use crate::tcp::{TcpState, TcpTrack};
use crate::Timestamp;

const NIL: u32 = u32::MAX;
const EMPTY: u32 = u32::MAX;
/// Index slots per flow: the index is kept at most half full.
const SLOTS_PER_FLOW: usize = 2;

/// Idle timeouts in seconds, per protocol and state (Suricata's `flow-timeouts` model).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP before the handshake completes (or with no session). Default 60.
    pub tcp_new: u32,
    /// TCP established or half-closed. Default 3600 (GWLB: 350).
    pub tcp_established: u32,
    /// TCP after both FINs or a RST. Default 60.
    pub tcp_closed: u32,
    /// UDP seen in one direction only. Default 300 (GWLB: 120).
    pub udp_new: u32,
    /// UDP seen in both directions. Default 300 (GWLB: 120).
    pub udp_established: u32,
    /// Other protocols (ICMP, ESP, ...) seen in one direction. Default 300.
    pub other_new: u32,
    /// Other protocols seen in both directions. Default 300.
    pub other_established: u32,
}

impl Default for Timeouts {
    /// The appliance's: flow state outlives GWLB's (TCP 350 s, UDP 120 s), DESIGN.md section 1.
    fn default() -> Self {
        Timeouts {
            tcp_new: 60,
            tcp_established: 3600,
            tcp_closed: 60,
            udp_new: 300,
            udp_established: 300,
            other_new: 300,
            other_established: 300,
        }
    }
}

impl Timeouts {
    /// Suricata 7's stock `flow-timeouts` (for `seawall replay` parity).
    pub const fn suricata() -> Self {
        Timeouts {
            tcp_new: 60,
            tcp_established: 600,
            tcp_closed: 60,
            udp_new: 30,
            udp_established: 300,
            other_new: 30,
            other_established: 300,
        }
    }
}

/// Flow table settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowConfig {
    /// Bytes for the table (entries and index), allocated up front. Default 64 MiB.
    pub memcap: usize,
    /// Idle timeouts.
    pub timeouts: Timeouts,
    /// Pick up TCP sessions first seen without a SYN (Suricata's `stream.midstream`). Default on
    /// (the appliance: GWLB moves flows between instances); off for Suricata-comparable replay.
    pub midstream: bool,
    /// Key ICMP echo request/reply on the echo identifier (on by default); off gives Suricata's
    /// key (all ICMP between two hosts is one flow).
    pub icmp_echo_by_id: bool,
    /// Track TCP sessions of which only one side is seen (Suricata's `stream.async-oneside`):
    /// a SYN/ACK is picked up even without `midstream`, the one side seen completes the
    /// handshake, and until the other side shows up the session is one-sided
    /// ([`FlowRef::is_one_sided`]). Default off.
    pub async_oneside: bool,
    /// Seed of the keyed index hash (pass a random value in production: it defeats collision
    /// floods; fixed values give reproducible flow ids).
    pub hash_seed: u64,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            memcap: 64 << 20,
            timeouts: Timeouts::default(),
            midstream: true,
            icmp_echo_by_id: true,
            async_oneside: false,
            hash_seed: 0x5ea_a11,
        }
    }
}

impl FlowConfig {
    /// Settings for offline replay compared with Suricata: midstream off, Suricata's timeouts,
    /// Suricata's ICMP key.
    pub fn replay() -> Self {
        FlowConfig {
            midstream: false,
            timeouts: Timeouts::suricata(),
            icmp_echo_by_id: false,
            ..FlowConfig::default()
        }
    }
}

/// A configuration the table cannot honour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The memcap does not hold a single flow.
    #[error("flow memcap {memcap} bytes holds no flow ({per_flow} bytes each)")]
    MemcapTooSmall {
        /// Configured memcap.
        memcap: usize,
        /// Bytes per flow.
        per_flow: usize,
    },
}

/// Table counters (monotonic except `active`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlowCounters {
    /// Flows in the table now.
    pub active: u64,
    /// Flows created.
    pub created: u64,
    /// Flows removed because their idle timeout passed.
    pub timed_out: u64,
    /// Flows evicted under pressure while closed (TCP after FINs/RST).
    pub evicted_closed: u64,
    /// Flows evicted under pressure while half-open or unanswered.
    pub evicted_new: u64,
    /// Established flows evicted under pressure (the last resort).
    pub evicted_established: u64,
    /// TCP flows ended by a new SYN on the same tuple after they closed (a new flow follows).
    pub reused: u64,
    /// TCP sessions picked up mid-stream.
    pub midstream_pickups: u64,
    /// Packets not tracked because they were fragments.
    pub untracked_fragment: u64,
    /// ICMP errors whose quoted flow is not tracked.
    pub untracked_icmp_error: u64,
    /// ICMP errors mapped to the flow they quote.
    pub icmp_errors_mapped: u64,
}

/// Per-packet flags (a bit set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PacketFlags(pub u8);

impl PacketFlags {
    /// `flow:established` holds for this packet (Suricata's FLOW_PKT_ESTABLISHED).
    pub const ESTABLISHED: u8 = 0x01;
    /// The packet created the flow.
    pub const NEW_FLOW: u8 = 0x02;
    /// First packet seen in its direction (Suricata's TOSERVER_FIRST/TOCLIENT_FIRST).
    pub const FIRST_IN_DIRECTION: u8 = 0x04;
    /// An ICMP error mapped to the flow it quotes.
    pub const ICMP_ERROR: u8 = 0x08;
    /// The TCP session is a mid-stream pickup.
    pub const MIDSTREAM: u8 = 0x10;
    /// The packet changed the TCP state.
    pub const TCP_STATE_CHANGED: u8 = 0x20;
    /// The TCP session was still in its handshake (SYN sent, or SYN/ACK seen) when the packet
    /// came: Suricata's SYN_SENT and SYN_RECV states, whose RST handling closes the session
    /// without reassembling anything (the data is left to the flow end).
    pub const IN_HANDSHAKE: u8 = 0x40;

    /// Whether all bits of `mask` are set.
    pub const fn contains(self, mask: u8) -> bool {
        self.0 & mask == mask
    }
    /// `flow:established`.
    pub const fn established(self) -> bool {
        self.contains(Self::ESTABLISHED)
    }
    /// The packet created the flow.
    pub const fn new_flow(self) -> bool {
        self.contains(Self::NEW_FLOW)
    }
}

/// A flow's counters and endpoints, by value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowStats {
    /// Flow id (stable for the flow's life, < 2^51 so JSON readers keep it exact).
    pub flow_id: u64,
    /// GWLB endpoint id (0 for captures).
    pub endpoint: u64,
    /// IP protocol.
    pub proto: u8,
    /// The originator's address and port.
    pub client: (IpAddr, u16),
    /// The responder's address and port.
    pub server: (IpAddr, u16),
    /// First packet's timestamp.
    pub first_seen: Timestamp,
    /// Latest packet's timestamp.
    pub last_seen: Timestamp,
    /// Packets to the server.
    pub pkts_to_server: u64,
    /// Packets to the client.
    pub pkts_to_client: u64,
    /// IP bytes to the server.
    pub bytes_to_server: u64,
    /// IP bytes to the client.
    pub bytes_to_client: u64,
    /// TCP state (`None` for other protocols).
    pub tcp_state: TcpState,
}

/// LRU list / timeout class of a flow. Eviction order: `TcpClosed`, then the unanswered classes,
/// then the established ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Class {
    TcpClosed = 0,
    TcpNew = 1,
    UdpNew = 2,
    OtherNew = 3,
    UdpEst = 4,
    OtherEst = 5,
    TcpEst = 6,
}
const N_CLASSES: usize = 7;
const FREE: u8 = 0xff;
const CLASSES: [Class; N_CLASSES] = [
    Class::TcpClosed,
    Class::TcpNew,
    Class::UdpNew,
    Class::OtherNew,
    Class::UdpEst,
    Class::OtherEst,
    Class::TcpEst,
];

impl Class {
    const fn timeout(self, t: &Timeouts) -> u32 {
        match self {
            Class::TcpClosed => t.tcp_closed,
            Class::TcpNew => t.tcp_new,
            Class::UdpNew => t.udp_new,
            Class::OtherNew => t.other_new,
            Class::UdpEst => t.udp_established,
            Class::OtherEst => t.other_established,
            Class::TcpEst => t.tcp_established,
        }
    }
}

const SEEN_TO_SERVER: u8 = 0x01;
const SEEN_TO_CLIENT: u8 = 0x02;
const SEEN_BOTH: u8 = SEEN_TO_SERVER | SEEN_TO_CLIENT;

struct Entry<T> {
    key: FlowKey,
    hash: u64,
    flow_id: u64,
    first_seen: Timestamp,
    last_seen: Timestamp,
    /// Packets per direction (index: `Direction::index`).
    pkts: [u64; 2],
    /// IP bytes per direction.
    bytes: [u64; 2],
    prev: u32,
    next: u32,
    tcp: TcpTrack,
    /// The client (originator) is the key's `lo` side.
    client_is_lo: bool,
    seen: u8,
    /// `Class as u8`, or `FREE`.
    class: u8,
    data: T,
}

impl<T> Entry<T> {
    fn direction(&self, src_is_lo: bool) -> Direction {
        if src_is_lo == self.client_is_lo {
            Direction::ToServer
        } else {
            Direction::ToClient
        }
    }

    fn reverse(&mut self) {
        self.client_is_lo = !self.client_is_lo;
        self.pkts.swap(0, 1);
        self.bytes.swap(0, 1);
        self.seen = ((self.seen & SEEN_TO_SERVER) << 1) | ((self.seen & SEEN_TO_CLIENT) >> 1);
    }

    fn class_now(&self) -> Class {
        match self.key.proto() {
            ip_proto::TCP => match self.tcp.state {
                TcpState::None | TcpState::SynSent | TcpState::SynRecv => Class::TcpNew,
                TcpState::Established | TcpState::FinWait => Class::TcpEst,
                TcpState::Closing | TcpState::Closed => Class::TcpClosed,
            },
            ip_proto::UDP if self.seen == SEEN_BOTH => Class::UdpEst,
            ip_proto::UDP => Class::UdpNew,
            _ if self.seen == SEEN_BOTH => Class::OtherEst,
            _ => Class::OtherNew,
        }
    }

    fn stats(&self) -> FlowStats {
        let (lo, hi) = (self.key.lo(), self.key.hi());
        let (client, server) = if self.client_is_lo {
            (lo, hi)
        } else {
            (hi, lo)
        };
        FlowStats {
            flow_id: self.flow_id,
            endpoint: self.key.endpoint(),
            proto: self.key.proto(),
            client,
            server,
            first_seen: self.first_seen,
            last_seen: self.last_seen,
            pkts_to_server: self.pkts[0],
            pkts_to_client: self.pkts[1],
            bytes_to_server: self.bytes[0],
            bytes_to_client: self.bytes[1],
            tcp_state: self.tcp.state,
        }
    }
}

/// The flow a packet belongs to, as returned by [`FlowTable::process`].
pub struct FlowRef<'a, T> {
    entry: &'a mut Entry<T>,
    direction: Direction,
    flags: PacketFlags,
}

impl<T> core::fmt::Debug for FlowRef<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FlowRef")
            .field("flow_id", &self.entry.flow_id)
            .field("key", &self.entry.key)
            .field("direction", &self.direction)
            .field("flags", &self.flags)
            .field("tcp_state", &self.entry.tcp.state)
            .finish()
    }
}

impl<T> FlowRef<'_, T> {
    /// The flow id (stable for the flow's life).
    pub fn flow_id(&self) -> u64 {
        self.entry.flow_id
    }
    /// Direction of this packet.
    pub fn direction(&self) -> Direction {
        self.direction
    }
    /// This packet's flags.
    pub fn flags(&self) -> PacketFlags {
        self.flags
    }
    /// `flow:established` for this packet.
    pub fn established(&self) -> bool {
        self.flags.established()
    }
    /// TCP state after this packet (`None` for other protocols).
    pub fn tcp_state(&self) -> TcpState {
        self.entry.tcp.state
    }
    /// The flow key.
    pub fn key(&self) -> &FlowKey {
        &self.entry.key
    }
    /// Counters and endpoints, including this packet.
    pub fn stats(&self) -> FlowStats {
        self.entry.stats()
    }
    /// The engine's per-flow state.
    pub fn data(&self) -> &T {
        &self.entry.data
    }
    /// The engine's per-flow state, mutable.
    pub fn data_mut(&mut self) -> &mut T {
        &mut self.entry.data
    }
    /// A one-sided TCP session under [`FlowConfig::async_oneside`]: only one side has sent
    /// packets so far (Suricata's `STREAMTCP_FLAG_ASYNC`), so its data will never be
    /// acknowledged by a packet we see.
    pub fn is_one_sided(&self) -> bool {
        self.entry.tcp.flags & crate::tcp::sflag::ASYNC != 0
    }
    /// Whether the app layer may reverse this flow ([`FlowRef::reverse`]): a TCP session picked
    /// up mid-stream from a packet other than a SYN/ACK (Suricata's `STREAMTCP_FLAG_MIDSTREAM`
    /// without `_MIDSTREAM_SYNACK`: its sender was taken as the client without evidence).
    pub fn app_reversible(&self) -> bool {
        use crate::tcp::sflag::{MIDSTREAM, MIDSTREAM_SYNACK};
        self.entry.tcp.flags & (MIDSTREAM | MIDSTREAM_SYNACK) == MIDSTREAM
    }
    /// Swaps client and server (for the app layer when it finds a picked-up flow's request going
    /// the other way, as Suricata does); this packet's direction flips too.
    pub fn reverse(&mut self) {
        self.entry.reverse();
        self.direction = self.direction.reversed();
    }
}

#[derive(Debug, Clone, Copy)]
struct List {
    head: u32,
    tail: u32,
}

/// The per-worker flow table. `T` is the engine's per-flow slot (flowbits, flowints, ...); keep it
/// inline and small: its size is part of [`FlowTable::bytes_per_flow`], and heap memory it owns is
/// outside the memcap.
pub struct FlowTable<T = ()> {
    cfg: FlowConfig,
    entries: Vec<Entry<T>>,
    slots: Vec<u32>,
    lists: [List; N_CLASSES],
    free: u32,
    max_flows: usize,
    counters: FlowCounters,
}

impl<T> core::fmt::Debug for FlowTable<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FlowTable")
            .field("max_flows", &self.max_flows)
            .field("counters", &self.counters)
            .finish()
    }
}

impl<T: Default> FlowTable<T> {
    /// Bytes one flow costs: its entry plus its share of the index. The memcap is divided by this.
    pub const fn bytes_per_flow() -> usize {
        size_of::<Entry<T>>() + SLOTS_PER_FLOW * size_of::<u32>()
    }

    /// A table whose entries and index are allocated now, within `cfg.memcap`.
    pub fn new(cfg: FlowConfig) -> Result<Self, ConfigError> {
        let entry = size_of::<Entry<T>>();
        let slot = size_of::<u32>();
        let mut n = (cfg.memcap / Self::bytes_per_flow()).min(u32::MAX as usize / 4);
        let mut slots = (n * SLOTS_PER_FLOW).next_power_of_two();
        while n > 0 && n * entry + slots * slot > cfg.memcap {
            n = cfg.memcap.saturating_sub(slots * slot) / entry;
            slots = (n * SLOTS_PER_FLOW).next_power_of_two();
        }
        if n == 0 {
            return Err(ConfigError::MemcapTooSmall {
                memcap: cfg.memcap,
                per_flow: Self::bytes_per_flow(),
            });
        }
        Ok(FlowTable {
            cfg,
            entries: Vec::with_capacity(n),
            slots: vec![EMPTY; slots],
            lists: [List {
                head: NIL,
                tail: NIL,
            }; N_CLASSES],
            free: NIL,
            max_flows: n,
            counters: FlowCounters::default(),
        })
    }

    /// Flows the table can hold.
    pub const fn capacity(&self) -> usize {
        self.max_flows
    }
    /// Bytes allocated by the table (entries and index): fixed at creation, at most the memcap.
    pub fn memory_bytes(&self) -> usize {
        self.entries.capacity() * size_of::<Entry<T>>() + self.slots.len() * size_of::<u32>()
    }
    /// Counters.
    pub const fn counters(&self) -> &FlowCounters {
        &self.counters
    }
    /// The configuration.
    pub const fn config(&self) -> &FlowConfig {
        &self.cfg
    }

    /// Maps `pkt` (seen at `ts`, from GWLB endpoint `endpoint`, 0 for captures) to its flow,
    /// creating it if needed, and updates the flow's counters and TCP state.
    ///
    /// Fragments are not tracked (pass them through [`crate::Defrag`] first); ICMP errors are
    /// attached to the flow they quote and never create one.
    pub fn process(
        &mut self,
        ts: Timestamp,
        endpoint: u64,
        pkt: &InnerPacket<'_>,
    ) -> Result<FlowRef<'_, T>, Untracked> {
        let bytes = pkt.ip_len as u64;
        match map_packet(endpoint, pkt, self.cfg.icmp_echo_by_id) {
            Mapping::None(u) => {
                self.count_untracked(u);
                Err(u)
            }
            Mapping::IcmpError { key, src_is_lo } => {
                let hash = key.hash_with(self.cfg.hash_seed);
                let Some(idx) = self.find_live(ts, hash, &key) else {
                    self.count_untracked(Untracked::IcmpErrorNoFlow);
                    return Err(Untracked::IcmpErrorNoFlow);
                };
                self.counters.icmp_errors_mapped += 1;
                let e = &mut self.entries[idx as usize];
                let dir = e.direction(src_is_lo);
                let established = if key.proto() == ip_proto::TCP {
                    e.tcp.state.is_established()
                } else {
                    e.seen == SEEN_BOTH
                };
                e.pkts[dir.index()] += 1;
                e.bytes[dir.index()] += bytes;
                e.last_seen = e.last_seen.max(ts);
                let mut flags = PacketFlags::ICMP_ERROR;
                if established {
                    flags |= PacketFlags::ESTABLISHED;
                }
                self.touch(idx);
                Ok(self.flow_ref(idx, dir, PacketFlags(flags)))
            }
            Mapping::Flow { key, src_is_lo } => {
                let hash = key.hash_with(self.cfg.hash_seed);
                let mut flags = 0u8;
                let mut found = self.find_live(ts, hash, &key);
                if let (Some(idx), Transport::Tcp { flags: tf, .. }) = (found, pkt.transport) {
                    if self.entries[idx as usize].tcp.is_reuse(tf) {
                        self.counters.reused += 1;
                        self.release(idx);
                        found = None;
                    }
                }
                let idx = match found {
                    Some(idx) => idx,
                    None => {
                        flags |= PacketFlags::NEW_FLOW;
                        self.create(ts, hash, key, src_is_lo)
                    }
                };
                let (midstream, async_oneside) = (self.cfg.midstream, self.cfg.async_oneside);
                let e = &mut self.entries[idx as usize];
                let mut dir = e.direction(src_is_lo);
                let established;
                if let Transport::Tcp {
                    flags: tf,
                    payload,
                    options,
                    ..
                } = pkt.transport
                {
                    let was_midstream = e.tcp.flags & crate::tcp::sflag::MIDSTREAM != 0;
                    if matches!(e.tcp.state, TcpState::SynSent | TcpState::SynRecv) {
                        flags |= PacketFlags::IN_HANDSHAKE;
                    }
                    let tfo = tf.syn() && crate::tcp::has_tfo_option(options);
                    let seg = e
                        .tcp
                        .segment(dir, tf, payload.len(), midstream, tfo, async_oneside);
                    if seg.reverse {
                        e.reverse();
                        dir = dir.reversed();
                    }
                    established = seg.established;
                    if seg.changed {
                        flags |= PacketFlags::TCP_STATE_CHANGED;
                    }
                    let is_midstream = e.tcp.flags & crate::tcp::sflag::MIDSTREAM != 0;
                    if is_midstream {
                        flags |= PacketFlags::MIDSTREAM;
                        if !was_midstream {
                            self.counters.midstream_pickups += 1;
                        }
                    }
                    let bit = seen_bit(dir);
                    if e.seen & bit == 0 {
                        flags |= PacketFlags::FIRST_IN_DIRECTION;
                    }
                    e.seen |= bit;
                    if e.seen == SEEN_BOTH {
                        // Suricata drops STREAMTCP_FLAG_ASYNC once both sides sent a packet.
                        e.tcp.flags &= !crate::tcp::sflag::ASYNC;
                    }
                } else {
                    let bit = seen_bit(dir);
                    if e.seen & bit == 0 {
                        flags |= PacketFlags::FIRST_IN_DIRECTION;
                    }
                    e.seen |= bit;
                    established = e.seen == SEEN_BOTH;
                }
                if established {
                    flags |= PacketFlags::ESTABLISHED;
                }
                e.pkts[dir.index()] += 1;
                e.bytes[dir.index()] += bytes;
                e.last_seen = e.last_seen.max(ts);
                self.touch(idx);
                Ok(self.flow_ref(idx, dir, PacketFlags(flags)))
            }
        }
    }

    /// Removes flows idle past their timeout at `now`, at most `max` of them (bounded work per
    /// call); returns how many were removed.
    pub fn expire(&mut self, now: Timestamp, max: usize) -> usize {
        self.expire_with(now, max, |_, _| {})
    }

    /// As [`FlowTable::expire`], handing each removed flow's stats and engine slot to `on_end`.
    pub fn expire_with(
        &mut self,
        now: Timestamp,
        max: usize,
        mut on_end: impl FnMut(FlowStats, T),
    ) -> usize {
        let mut n = 0;
        for class in CLASSES {
            while n < max {
                let head = self.lists[class as usize].head;
                if head == NIL {
                    break;
                }
                let e = &mut self.entries[head as usize];
                if !e.last_seen.expired(now, class.timeout(&self.cfg.timeouts)) {
                    break;
                }
                let stats = e.stats();
                let data = core::mem::take(&mut e.data);
                self.release(head);
                self.counters.timed_out += 1;
                on_end(stats, data);
                n += 1;
            }
        }
        n
    }

    fn flow_ref(&mut self, idx: u32, direction: Direction, flags: PacketFlags) -> FlowRef<'_, T> {
        FlowRef {
            entry: &mut self.entries[idx as usize],
            direction,
            flags,
        }
    }

    fn count_untracked(&mut self, u: Untracked) {
        match u {
            Untracked::Fragment => self.counters.untracked_fragment += 1,
            Untracked::IcmpErrorNoFlow => self.counters.untracked_icmp_error += 1,
        }
    }

    /// Index of the live flow `key`; a flow found expired at `ts` is removed (timed out).
    fn find_live(&mut self, ts: Timestamp, hash: u64, key: &FlowKey) -> Option<u32> {
        let (idx, _) = self.find(hash, key)?;
        let e = &self.entries[idx as usize];
        if e.last_seen
            .expired(ts, e.class_now().timeout(&self.cfg.timeouts))
        {
            self.release(idx);
            self.counters.timed_out += 1;
            return None;
        }
        Some(idx)
    }

    /// (entry index, slot) of `key`.
    fn find(&self, hash: u64, key: &FlowKey) -> Option<(u32, usize)> {
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        for _ in 0..self.slots.len() {
            let s = self.slots[i];
            if s == EMPTY {
                return None;
            }
            let e = &self.entries[s as usize];
            if e.hash == hash && e.key == *key {
                return Some((s, i));
            }
            i = (i + 1) & mask;
        }
        None
    }

    fn slot_of(&self, idx: u32) -> Option<usize> {
        let mask = self.slots.len() - 1;
        let mut i = self.entries[idx as usize].hash as usize & mask;
        for _ in 0..self.slots.len() {
            match self.slots[i] {
                s if s == idx => return Some(i),
                EMPTY => return None,
                _ => i = (i + 1) & mask,
            }
        }
        None
    }

    /// Creates the flow `key`, evicting one if the table is full.
    fn create(&mut self, ts: Timestamp, hash: u64, key: FlowKey, src_is_lo: bool) -> u32 {
        if self.free == NIL && self.entries.len() >= self.max_flows {
            self.evict_one(ts);
        }
        let flow_id = flow_id(self.cfg.hash_seed, &key, ts);
        let entry = Entry {
            key,
            hash,
            flow_id,
            first_seen: ts,
            last_seen: ts,
            pkts: [0; 2],
            bytes: [0; 2],
            prev: NIL,
            next: NIL,
            tcp: TcpTrack::default(),
            client_is_lo: src_is_lo,
            seen: 0,
            class: FREE,
            data: T::default(),
        };
        let idx = if self.free != NIL {
            let idx = self.free;
            self.free = self.entries[idx as usize].next;
            self.entries[idx as usize] = entry;
            idx
        } else {
            // `entries.len() < max_flows == capacity`: the push never reallocates.
            self.entries.push(entry);
            (self.entries.len() - 1) as u32
        };
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        while self.slots[i] != EMPTY {
            i = (i + 1) & mask;
        }
        self.slots[i] = idx;
        self.counters.created += 1;
        self.counters.active += 1;
        idx
    }

    /// Frees one entry under pressure: a timed-out flow if any, else closed, else half-open or
    /// unanswered, else the longest-idle established flow.
    fn evict_one(&mut self, now: Timestamp) {
        if self.expire(now, 1) == 1 {
            return;
        }
        let groups: [&[Class]; 3] = [
            &[Class::TcpClosed],
            &[Class::TcpNew, Class::UdpNew, Class::OtherNew],
            &[Class::UdpEst, Class::OtherEst, Class::TcpEst],
        ];
        for (g, classes) in groups.iter().enumerate() {
            let victim = classes
                .iter()
                .map(|c| self.lists[*c as usize].head)
                .filter(|&h| h != NIL)
                .min_by_key(|&h| self.entries[h as usize].last_seen);
            if let Some(v) = victim {
                match g {
                    0 => self.counters.evicted_closed += 1,
                    1 => self.counters.evicted_new += 1,
                    _ => self.counters.evicted_established += 1,
                }
                self.release(v);
                return;
            }
        }
    }

    /// Unlinks and frees entry `idx`.
    fn release(&mut self, idx: u32) {
        self.unlink(idx);
        if let Some(slot) = self.slot_of(idx) {
            self.slot_remove(slot);
        }
        let free = self.free;
        let e = &mut self.entries[idx as usize];
        e.data = T::default();
        e.class = FREE;
        e.next = free;
        e.prev = NIL;
        self.free = idx;
        self.counters.active -= 1;
    }

    /// Backward-shift deletion of `slot` (linear probing, no tombstones).
    fn slot_remove(&mut self, mut i: usize) {
        let mask = self.slots.len() - 1;
        self.slots[i] = EMPTY;
        let mut j = i;
        for _ in 0..self.slots.len() {
            j = (j + 1) & mask;
            let s = self.slots[j];
            if s == EMPTY {
                return;
            }
            let home = self.entries[s as usize].hash as usize & mask;
            // The entry at j may stay unless its home lies cyclically in (i, j].
            let stays = if i <= j {
                i < home && home <= j
            } else {
                i < home || home <= j
            };
            if !stays {
                self.slots[i] = s;
                self.slots[j] = EMPTY;
                i = j;
            }
        }
    }

    fn unlink(&mut self, idx: u32) {
        let (class, prev, next) = {
            let e = &self.entries[idx as usize];
            (e.class, e.prev, e.next)
        };
        let Some(list) = self.lists.get_mut(usize::from(class)) else {
            return;
        };
        if prev == NIL {
            list.head = next;
        } else {
            self.entries[prev as usize].next = next;
        }
        let list = &mut self.lists[usize::from(class)];
        if next == NIL {
            list.tail = prev;
        } else {
            self.entries[next as usize].prev = prev;
        }
        let e = &mut self.entries[idx as usize];
        e.prev = NIL;
        e.next = NIL;
        e.class = FREE;
    }

    /// Moves `idx` to the tail (most recent) of the list of its current class.
    fn touch(&mut self, idx: u32) {
        self.unlink(idx);
        let class = self.entries[idx as usize].class_now() as u8;
        let list = self.lists[usize::from(class)];
        {
            let e = &mut self.entries[idx as usize];
            e.class = class;
            e.prev = list.tail;
            e.next = NIL;
        }
        if list.tail == NIL {
            self.lists[usize::from(class)].head = idx;
        } else {
            self.entries[list.tail as usize].next = idx;
        }
        self.lists[usize::from(class)].tail = idx;
    }

    /// Test support: checks every structural invariant.
    #[cfg(test)]
    pub(crate) fn check_invariants(&self) {
        let mut in_lists = 0u64;
        for (c, list) in self.lists.iter().enumerate() {
            let mut prev = NIL;
            let mut i = list.head;
            while i != NIL {
                let e = &self.entries[i as usize];
                assert_eq!(usize::from(e.class), c);
                assert_eq!(e.prev, prev);
                assert!(self.find(e.hash, &e.key).is_some_and(|(s, _)| s == i));
                prev = i;
                i = e.next;
                in_lists += 1;
            }
            assert_eq!(list.tail, prev);
        }
        assert_eq!(in_lists, self.counters.active);
        let used = self.slots.iter().filter(|&&s| s != EMPTY).count() as u64;
        assert_eq!(used, self.counters.active);
        assert!(self.counters.active as usize <= self.max_flows);
        assert!(self.entries.capacity() == self.max_flows);
        assert!(self.memory_bytes() <= self.cfg.memcap);
    }
}

impl core::ops::BitOr<u8> for PacketFlags {
    type Output = PacketFlags;
    fn bitor(self, rhs: u8) -> PacketFlags {
        PacketFlags(self.0 | rhs)
    }
}

impl core::ops::BitOrAssign<u8> for PacketFlags {
    fn bitor_assign(&mut self, rhs: u8) {
        self.0 |= rhs;
    }
}

const fn seen_bit(d: Direction) -> u8 {
    match d {
        Direction::ToServer => SEEN_TO_SERVER,
        Direction::ToClient => SEEN_TO_CLIENT,
    }
}

/// A flow id in the spirit of Suricata's (hash of the key and start time), below 2^51 and never 0.
fn flow_id(seed: u64, key: &FlowKey, first_seen: Timestamp) -> u64 {
    let h = key.hash_with(seed ^ first_seen.as_micros().rotate_left(17) ^ 0x9e37_79b9_7f4a_7c15);
    match h & ((1 << 51) - 1) {
        0 => 1,
        id => id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use seawall_wire::{decode_inner, TcpFlags};

    const SYN: u8 = TcpFlags::SYN;
    const SA: u8 = TcpFlags::SYN | TcpFlags::ACK;
    const A: u8 = TcpFlags::ACK;
    const PA: u8 = TcpFlags::PSH | TcpFlags::ACK;
    const FA: u8 = TcpFlags::FIN | TcpFlags::ACK;
    const R: u8 = TcpFlags::RST;

    const CLI: ([u8; 4], u16) = ([10, 0, 0, 1], 40000);
    const SRV: ([u8; 4], u16) = ([10, 0, 0, 2], 80);

    fn tcp(from: ([u8; 4], u16), to: ([u8; 4], u16), flags: u8, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        etherparse::PacketBuilder::ipv4(from.0, to.0, 64)
            .tcp(from.1, to.1, 1, 1000)
            .write(&mut v, payload)
            .unwrap();
        v[33] = flags; // IPv4 header 20 + TCP flags at 13
        v
    }

    fn udp(from: ([u8; 4], u16), to: ([u8; 4], u16)) -> Vec<u8> {
        let mut v = Vec::new();
        etherparse::PacketBuilder::ipv4(from.0, to.0, 64)
            .udp(from.1, to.1)
            .write(&mut v, b"data")
            .unwrap();
        v
    }

    fn ts(s: u64) -> Timestamp {
        Timestamp::from_secs(s)
    }

    fn small(flows: usize, cfg: FlowConfig) -> FlowTable<u64> {
        // A memcap holding about `flows` flows.
        let t = FlowTable::<u64>::new(FlowConfig {
            memcap: flows * FlowTable::<u64>::bytes_per_flow() + 64,
            ..cfg
        })
        .unwrap();
        assert!(
            t.capacity() >= flows / 2 && t.capacity() <= flows,
            "{}",
            t.capacity()
        );
        t
    }

    /// (flow id, direction, established, state) of one packet.
    fn step(t: &mut FlowTable<u64>, at: u64, bytes: &[u8]) -> (u64, Direction, bool, TcpState) {
        let p = decode_inner(0x0800, bytes).unwrap();
        let f = t.process(ts(at), 0, &p).unwrap();
        let r = (f.flow_id(), f.direction(), f.established(), f.tcp_state());
        t.check_invariants();
        r
    }

    #[test]
    fn test_bytes_per_flow_within_design_target() {
        let unit = FlowTable::<()>::bytes_per_flow();
        // 128-byte entry (key 48, ids/times 32, counters 32, links 8, state 5) + 8 bytes of index.
        assert_eq!(size_of::<Entry<()>>(), 128);
        assert_eq!(unit, 136);
        // Room for an engine slot of up to 120 bytes (e.g. 8 flowbits words + flowints).
        assert!(FlowTable::<[u64; 15]>::bytes_per_flow() <= 256);
    }

    /// Packets coming while the session is in SYN_SENT or SYN_RECV carry IN_HANDSHAKE (a RST
    /// among them closes the session without reassembly, as Suricata); later ones do not.
    #[test]
    fn test_in_handshake_flag() {
        let mut t = small(16, FlowConfig::replay());
        let mut flags = |at: u64, bytes: &[u8]| {
            let p = decode_inner(0x0800, bytes).unwrap();
            let f = t.process(ts(at), 0, &p).unwrap();
            (f.flags().contains(PacketFlags::IN_HANDSHAKE), f.tcp_state())
        };
        assert_eq!(
            flags(1, &tcp(CLI, SRV, SYN, b"")),
            (false, TcpState::SynSent)
        );
        assert_eq!(flags(2, &tcp(SRV, CLI, SA, b"")), (true, TcpState::SynRecv));
        assert_eq!(flags(3, &tcp(CLI, SRV, R, b"")), (true, TcpState::Closed));
        let other = ([10, 0, 0, 1], 40001);
        assert_eq!(
            flags(4, &tcp(other, SRV, SYN, b"")),
            (false, TcpState::SynSent)
        );
        assert_eq!(
            flags(5, &tcp(SRV, other, SA, b"")),
            (true, TcpState::SynRecv)
        );
        assert_eq!(
            flags(6, &tcp(other, SRV, A, b"")),
            (true, TcpState::Established)
        );
        assert_eq!(
            flags(7, &tcp(other, SRV, R, b"")),
            (false, TcpState::Closed)
        );
    }

    #[test]
    fn test_memcap_sizes_the_table_and_rejects_tiny_memcaps() {
        for memcap in [1 << 10, 1 << 16, 1 << 20, (1 << 20) + 12345] {
            let t = FlowTable::<u64>::new(FlowConfig {
                memcap,
                ..FlowConfig::default()
            })
            .unwrap();
            assert!(t.memory_bytes() <= memcap);
            assert!(t.capacity() * FlowTable::<u64>::bytes_per_flow() <= memcap);
            // At least a third of the memcap is usable for flows (power-of-two index rounding).
            assert!(t.capacity() * FlowTable::<u64>::bytes_per_flow() * 3 >= memcap);
        }
        let e = FlowTable::<u64>::new(FlowConfig {
            memcap: 100,
            ..FlowConfig::default()
        })
        .unwrap_err();
        assert!(matches!(e, ConfigError::MemcapTooSmall { memcap: 100, .. }));
    }

    #[test]
    fn test_handshake_directions_and_established() {
        use Direction::{ToClient as C, ToServer as S};
        let mut t = small(16, FlowConfig::replay());
        let seq = [
            (tcp(CLI, SRV, SYN, b""), S, false, TcpState::SynSent),
            (tcp(SRV, CLI, SA, b""), C, false, TcpState::SynRecv),
            (tcp(CLI, SRV, A, b""), S, false, TcpState::Established),
            (tcp(CLI, SRV, PA, b"GET /"), S, true, TcpState::Established),
            (tcp(SRV, CLI, PA, b"200"), C, true, TcpState::Established),
            (tcp(SRV, CLI, FA, b""), C, true, TcpState::FinWait),
            (tcp(CLI, SRV, FA, b""), S, true, TcpState::Closing),
        ];
        let mut id = None;
        for (i, (bytes, dir, est, state)) in seq.iter().enumerate() {
            let (fid, d, e, s) = step(&mut t, 1 + i as u64, bytes);
            assert_eq!((d, e, s), (*dir, *est, *state), "packet {i}");
            assert_eq!(*id.get_or_insert(fid), fid, "flow id is stable");
        }
        let c = t.counters();
        assert_eq!((c.created, c.active), (1, 1));
        let p = decode_inner(0x0800, &seq[2].0).unwrap();
        let f = t.process(ts(20), 0, &p).unwrap();
        let st = f.stats();
        assert_eq!((st.pkts_to_server, st.pkts_to_client), (5, 3));
        assert_eq!(st.client, ("10.0.0.1".parse().unwrap(), 40000));
        assert_eq!((st.first_seen, st.last_seen), (ts(1), ts(20)));
        assert_eq!(st.bytes_to_client, 40 + 43 + 40);
        assert!(st.flow_id > 0 && st.flow_id < 1 << 51);
    }

    /// suricata-verify `alert-no-3whs-established`: without midstream, a flow seen without SYN
    /// is tracked but never established.
    #[test]
    fn test_no_3whs_never_established_without_midstream() {
        let mut t = small(16, FlowConfig::replay());
        for (i, p) in [
            tcp(CLI, SRV, PA, b"MATCH?"),
            tcp(SRV, CLI, R, b""),
            tcp(CLI, SRV, PA, b"MATCH?"),
            tcp(SRV, CLI, R, b""),
        ]
        .iter()
        .enumerate()
        {
            let (_, _, est, state) = step(&mut t, i as u64 + 1, p);
            assert!(!est, "packet {i}");
            assert_eq!(state, TcpState::None);
        }
        assert_eq!(t.counters().midstream_pickups, 0);
    }

    #[test]
    fn test_midstream_pickup() {
        use Direction::{ToClient as C, ToServer as S};
        // ACK pickup: the first sender is the client; established from the second packet.
        let mut t = small(16, FlowConfig::default());
        assert_eq!(
            step(&mut t, 1, &tcp(SRV, CLI, PA, b"uid=0(root)")),
            (
                step(&mut t, 2, &tcp(CLI, SRV, A, b"")).0,
                S,
                false,
                TcpState::Established
            )
        );
        let (_, d, e, _) = step(&mut t, 3, &tcp(CLI, SRV, A, b""));
        assert_eq!((d, e), (C, true));
        assert_eq!(t.counters().midstream_pickups, 1);

        // SYN/ACK pickup (suricata-verify bug-1401-02): the SYN/ACK is to_client.
        let mut t = small(16, FlowConfig::default());
        assert_eq!(step(&mut t, 1, &tcp(SRV, CLI, SA, b"")).1, C);
        let (_, d, e, s) = step(&mut t, 2, &tcp(CLI, SRV, A, b""));
        assert_eq!((d, e, s), (S, false, TcpState::Established));
        let (_, d, e, _) = step(&mut t, 3, &tcp(CLI, SRV, PA, b"GET"));
        assert_eq!((d, e), (S, true));
        let b = tcp(CLI, SRV, A, b"");
        let p = decode_inner(0x0800, &b).unwrap();
        let f = t.process(ts(4), 0, &p).unwrap();
        assert!(f.flags().contains(PacketFlags::MIDSTREAM));
        assert_eq!(f.stats().client.1, 40000);
        // Put the right way round by its SYN/ACK: the app layer may not reverse it.
        assert!(!f.app_reversible());
    }

    /// An ACK pickup took its sender as the client without evidence: the app layer may
    /// reverse it (suricata-verify bug-7552-01), and then the next packets see the new
    /// orientation. A session seen from its SYN may not be reversed.
    #[test]
    fn test_app_layer_reversal_of_ack_pickup() {
        use Direction::{ToClient as C, ToServer as S};
        let mut t = small(16, FlowConfig::default());
        let b = tcp(SRV, CLI, PA, b"HTTP/1.1 200 OK");
        let p = decode_inner(0x0800, &b).unwrap();
        let mut f = t.process(ts(1), 0, &p).unwrap();
        assert!(f.app_reversible());
        assert_eq!(f.direction(), S);
        f.reverse();
        assert_eq!((f.direction(), f.stats().client.1), (C, 40000));
        assert_eq!(f.stats().pkts_to_client, 1);
        assert_eq!(step(&mut t, 2, &tcp(CLI, SRV, A, b"")).1, S);
        t.check_invariants();

        let mut t = small(16, FlowConfig::default());
        step(&mut t, 1, &tcp(CLI, SRV, TcpFlags::SYN, b""));
        let b = tcp(SRV, CLI, SA, b"");
        let p = decode_inner(0x0800, &b).unwrap();
        assert!(!t.process(ts(1), 0, &p).unwrap().app_reversible());
    }

    /// `async_oneside`: a session is one-sided until the other side sends a packet.
    #[test]
    fn test_one_sided_until_both_sides_seen() {
        let cfg = FlowConfig {
            async_oneside: true,
            ..FlowConfig::replay()
        };
        let mut t = small(16, cfg);
        let one_sided = |t: &mut FlowTable<u64>, at: u64, b: &[u8]| {
            let p = decode_inner(0x0800, b).unwrap();
            let f = t.process(ts(at), 0, &p).unwrap();
            (f.is_one_sided(), f.tcp_state())
        };
        assert_eq!(
            one_sided(&mut t, 1, &tcp(CLI, SRV, TcpFlags::SYN, b"")),
            (true, TcpState::SynSent)
        );
        assert_eq!(
            one_sided(&mut t, 2, &tcp(CLI, SRV, A, b"")),
            (true, TcpState::Established)
        );
        assert_eq!(
            one_sided(&mut t, 3, &tcp(CLI, SRV, PA, b"GET")),
            (true, TcpState::Established)
        );
        assert_eq!(
            one_sided(&mut t, 4, &tcp(SRV, CLI, A, b"")),
            (false, TcpState::Established)
        );
        // Off by default (and in replay without the option).
        let mut t = small(16, FlowConfig::replay());
        assert_eq!(
            one_sided(&mut t, 1, &tcp(CLI, SRV, TcpFlags::SYN, b"")),
            (false, TcpState::SynSent)
        );
    }

    #[test]
    fn test_udp_established_on_first_reply_and_first_sender_is_client() {
        let mut t = small(16, FlowConfig::default());
        let q = udp(([10, 0, 0, 9], 5353), ([10, 0, 0, 1], 53));
        let r = udp(([10, 0, 0, 1], 53), ([10, 0, 0, 9], 5353));
        for (i, (bytes, dir, est)) in [
            (&q, Direction::ToServer, false),
            (&q, Direction::ToServer, false),
            (&r, Direction::ToClient, true),
            (&q, Direction::ToServer, true),
        ]
        .into_iter()
        .enumerate()
        {
            let (_, d, e, s) = step(&mut t, 1, bytes);
            assert_eq!((d, e, s), (dir, est, TcpState::None), "packet {i}");
        }
    }

    #[test]
    fn test_icmp_error_attaches_to_quoted_flow() {
        let mut t = small(16, FlowConfig::default());
        let q = udp(([10, 0, 0, 9], 5353), ([10, 0, 0, 1], 53));
        let mut err = Vec::new();
        etherparse::PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 9], 64)
            .icmpv4(etherparse::Icmpv4Type::DestinationUnreachable(
                etherparse::icmpv4::DestUnreachableHeader::Port,
            ))
            .write(&mut err, &q)
            .unwrap();
        let pe = decode_inner(0x0800, &err).unwrap();
        // No flow yet: untracked, nothing created.
        assert_eq!(
            t.process(ts(1), 0, &pe).unwrap_err(),
            Untracked::IcmpErrorNoFlow
        );
        assert_eq!(t.counters().created, 0);
        let (id, ..) = step(&mut t, 2, &q);
        let f = t.process(ts(3), 0, &pe).unwrap();
        assert_eq!(f.flow_id(), id);
        assert_eq!(f.direction(), Direction::ToClient);
        assert!(f.flags().contains(PacketFlags::ICMP_ERROR));
        // The error does not count as the server answering.
        assert!(!f.established());
        assert_eq!(f.stats().pkts_to_client, 1);
        let c = t.counters();
        assert_eq!((c.icmp_errors_mapped, c.untracked_icmp_error), (1, 1));
        // Different endpoint: different flow space.
        assert!(t.process(ts(3), 99, &pe).is_err());
    }

    #[test]
    fn test_fragments_untracked() {
        let mut t = small(16, FlowConfig::default());
        let mut p = udp(CLI, SRV);
        p[6] = 0x20;
        let pkt = decode_inner(0x0800, &p).unwrap();
        assert_eq!(t.process(ts(1), 0, &pkt).unwrap_err(), Untracked::Fragment);
        assert_eq!(t.counters().untracked_fragment, 1);
    }

    #[test]
    fn test_timeouts_per_class_and_bounded_expire() {
        let cfg = FlowConfig {
            timeouts: Timeouts {
                tcp_new: 10,
                tcp_established: 100,
                tcp_closed: 5,
                udp_new: 20,
                udp_established: 30,
                other_new: 20,
                other_established: 30,
            },
            ..FlowConfig::default()
        };
        let mut t = small(64, cfg);
        // A half-open TCP flow, an established one, a UDP flow.
        step(&mut t, 0, &tcp(CLI, SRV, SYN, b""));
        let est = ([10, 0, 0, 3], 1000);
        step(&mut t, 0, &tcp(est, SRV, SYN, b""));
        step(&mut t, 0, &tcp(SRV, est, SA, b""));
        step(&mut t, 0, &tcp(est, SRV, A, b""));
        step(&mut t, 0, &udp(CLI, SRV));
        assert_eq!(t.counters().active, 3);
        assert_eq!(t.expire(ts(10), 100), 0);
        assert_eq!(t.expire(ts(11), 100), 1); // tcp_new
        assert_eq!(t.expire(ts(21), 100), 1); // udp_new
        assert_eq!(t.expire(ts(100), 100), 0);
        assert_eq!(t.expire(ts(101), 100), 1); // tcp_established
        assert_eq!(t.counters().timed_out, 3);
        t.check_invariants();

        // Bounded steps, and the engine slot is handed back.
        for i in 0..10u8 {
            let b = udp(([10, 1, 0, i], 1), SRV);
            let p = decode_inner(0x0800, &b).unwrap();
            *t.process(ts(200), 0, &p).unwrap().data_mut() = u64::from(i) + 1;
        }
        let mut ended = Vec::new();
        assert_eq!(
            t.expire_with(ts(300), 4, |s, d| ended.push((s.proto, d))),
            4
        );
        assert_eq!(ended, [(17, 1), (17, 2), (17, 3), (17, 4)]);
        assert_eq!(t.expire(ts(300), 100), 6);
        t.check_invariants();
    }

    #[test]
    fn test_expired_flow_is_replaced_on_lookup() {
        let mut t = small(16, FlowConfig::default());
        let (id1, ..) = step(&mut t, 0, &udp(CLI, SRV));
        let (id2, ..) = step(&mut t, 300, &udp(CLI, SRV));
        assert_eq!(id1, id2);
        let (id3, ..) = step(&mut t, 601, &udp(CLI, SRV));
        assert_ne!(id2, id3);
        assert_eq!((t.counters().timed_out, t.counters().created), (1, 2));
    }

    #[test]
    fn test_syn_after_close_starts_a_new_flow() {
        let mut t = small(16, FlowConfig::replay());
        let (a, ..) = step(&mut t, 1, &tcp(CLI, SRV, SYN, b""));
        step(&mut t, 1, &tcp(SRV, CLI, R, b""));
        let (b, d, e, s) = step(&mut t, 2, &tcp(CLI, SRV, SYN, b""));
        assert_ne!(a, b);
        assert_eq!((d, e, s), (Direction::ToServer, false, TcpState::SynSent));
        assert_eq!(t.counters().reused, 1);
    }

    #[test]
    fn test_reverse_swaps_client_and_counters() {
        let mut t = small(16, FlowConfig::default());
        let b = tcp(SRV, CLI, PA, b"x");
        let p = decode_inner(0x0800, &b).unwrap();
        let mut f = t.process(ts(1), 0, &p).unwrap();
        assert_eq!(f.direction(), Direction::ToServer);
        f.reverse();
        assert_eq!(f.direction(), Direction::ToClient);
        assert_eq!(f.stats().pkts_to_client, 1);
        assert_eq!(f.stats().client.1, 40000);
    }

    /// A flood of new flows against a full table: half-open flows go first, established flows
    /// are never evicted while anything else is there, and memory never grows.
    #[test]
    fn test_flood_evicts_half_open_before_established() {
        let mut t = small(64, FlowConfig::default());
        let cap = t.capacity();
        let mem = t.memory_bytes();
        let est = cap / 2;
        let mut est_ids = Vec::new();
        for i in 0..est {
            let c = ([10, 2, (i >> 8) as u8, i as u8], 1000);
            step(&mut t, 1, &tcp(c, SRV, SYN, b""));
            step(&mut t, 1, &tcp(SRV, c, SA, b""));
            let (id, ..) = step(&mut t, 1, &tcp(c, SRV, A, b""));
            est_ids.push((c, id));
        }
        // A SYN flood, newer than the established flows, many times the capacity.
        for i in 0..cap * 10 {
            let c = ([10, 3, (i >> 8) as u8, i as u8], 2000);
            step(&mut t, 2 + i as u64 / 100, &tcp(c, SRV, SYN, b""));
            assert_eq!(t.memory_bytes(), mem);
            assert!(t.counters().active as usize <= cap);
        }
        let c = *t.counters();
        assert_eq!(c.evicted_established, 0);
        assert!(c.evicted_new as usize >= cap * 10 - (cap - est));
        // Every established flow is still there, with its id.
        for (cl, id) in &est_ids {
            let (fid, d, e, s) = step(&mut t, 20, &tcp(*cl, SRV, PA, b"x"));
            assert_eq!(
                (fid, d, e, s),
                (*id, Direction::ToServer, true, TcpState::Established)
            );
        }
        // Closed flows go before half-open ones.
        let victim = ([10, 2, 0, 0], 1000);
        step(&mut t, 21, &tcp(SRV, victim, R, b""));
        let before = *t.counters();
        step(&mut t, 22, &tcp(([10, 4, 0, 0], 1), SRV, SYN, b""));
        assert_eq!(t.counters().evicted_closed, before.evicted_closed + 1);
        assert_eq!(t.counters().evicted_new, before.evicted_new);
    }

    /// Only established flows and nothing else: a new flow takes the longest-idle one's place.
    #[test]
    fn test_full_of_established_evicts_longest_idle() {
        let mut t = small(16, FlowConfig::default());
        let cap = t.capacity();
        for i in 0..cap {
            let c = ([10, 5, 0, i as u8], 7);
            step(&mut t, 10 + i as u64, &udp(c, SRV));
            step(&mut t, 10 + i as u64, &udp(SRV, c));
        }
        // Touch the first one so the second becomes the longest idle.
        step(&mut t, 100, &udp(([10, 5, 0, 0], 7), SRV));
        step(&mut t, 101, &udp(([10, 6, 0, 0], 7), SRV));
        assert_eq!(t.counters().evicted_established, 1);
        let (_, _, e, _) = step(&mut t, 102, &udp(([10, 5, 0, 0], 7), SRV));
        assert!(e, "the recently used flow survived");
        let b = udp(([10, 5, 0, 1], 7), SRV);
        let p = decode_inner(0x0800, &b).unwrap();
        assert!(t.process(ts(103), 0, &p).unwrap().flags().new_flow());
    }

    #[test]
    fn test_flow_ids_distinct_and_seeded() {
        let mut t = small(256, FlowConfig::default());
        let mut ids = std::collections::HashSet::new();
        for i in 0..100u8 {
            ids.insert(step(&mut t, 1, &udp(([10, 7, 0, i], 9), SRV)).0);
        }
        assert_eq!(ids.len(), 100);
        let mut u = small(
            256,
            FlowConfig {
                hash_seed: 42,
                ..FlowConfig::default()
            },
        );
        assert!(!ids.contains(&step(&mut u, 1, &udp(([10, 7, 0, 0], 9), SRV)).0));
    }

    #[derive(Debug, Clone)]
    struct Pkt {
        v6: bool,
        src: u8,
        dst: u8,
        sport: u16,
        dport: u16,
        kind: u8,
        flags: u8,
        len: u8,
        dt: u16,
        endpoint: u8,
    }

    fn arb_pkt() -> impl Strategy<Value = Pkt> {
        (
            any::<bool>(),
            0u8..6,
            0u8..6,
            prop_oneof![Just(80u16), Just(53), 1000u16..1004],
            prop_oneof![Just(80u16), Just(53), 1000u16..1004],
            0u8..5,
            any::<u8>(),
            0u8..3,
            0u16..400,
            0u8..2,
        )
            .prop_map(
                |(v6, src, dst, sport, dport, kind, flags, len, dt, endpoint)| Pkt {
                    v6,
                    src,
                    dst,
                    sport,
                    dport,
                    kind,
                    flags,
                    len,
                    dt,
                    endpoint,
                },
            )
    }

    fn build(p: &Pkt) -> Vec<u8> {
        let b = if p.v6 {
            etherparse::PacketBuilder::ipv6([p.src; 16], [p.dst; 16], 64)
        } else {
            etherparse::PacketBuilder::ipv4([10, 0, 0, p.src], [10, 0, 0, p.dst], 64)
        };
        let payload = vec![0u8; usize::from(p.len)];
        let mut v = Vec::new();
        match p.kind {
            0 | 1 => {
                b.tcp(p.sport, p.dport, 1, 100)
                    .write(&mut v, &payload)
                    .unwrap();
                let at = if p.v6 { 53 } else { 33 };
                v[at] = p.flags;
            }
            2 => b.udp(p.sport, p.dport).write(&mut v, &payload).unwrap(),
            3 if !p.v6 => b
                .icmpv4(etherparse::Icmpv4Type::DestinationUnreachable(
                    etherparse::icmpv4::DestUnreachableHeader::Port,
                ))
                .write(
                    &mut v,
                    &udp(([10, 0, 0, p.dst], p.dport), ([10, 0, 0, p.src], p.sport)),
                )
                .unwrap(),
            _ => b
                .icmpv4_echo_request(p.sport, 1)
                .write(&mut v, &payload)
                .unwrap(),
        }
        v
    }

    proptest! {
        /// Arbitrary packet sequences never panic, keep every structural invariant, and never
        /// take more memory than the memcap.
        #[test]
        fn prop_arbitrary_sequences_keep_invariants(
            pkts in proptest::collection::vec(arb_pkt(), 1..200),
            flows in 2usize..24,
            midstream in any::<bool>(),
        ) {
            let mut t = small(flows, FlowConfig { midstream, ..FlowConfig::default() });
            let mem = t.memory_bytes();
            let mut now = 0u64;
            for p in &pkts {
                now += u64::from(p.dt);
                let bytes = build(p);
                let proto = if p.v6 { 0x86dd } else { 0x0800 };
                let Ok(pkt) = decode_inner(proto, &bytes) else { continue };
                if let Ok(f) = t.process(ts(now), u64::from(p.endpoint), &pkt) {
                    let _ = (f.flow_id(), f.direction(), f.stats(), format!("{f:?}"));
                }
                if p.flags % 7 == 0 {
                    t.expire(ts(now), 3);
                }
                t.check_invariants();
                prop_assert_eq!(t.memory_bytes(), mem);
                prop_assert!(mem <= t.config().memcap);
            }
        }
    }
}
