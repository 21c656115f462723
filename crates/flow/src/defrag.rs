//! IPv4 and IPv6 defragmentation with Suricata's defaults and bounded memory.
//!
//! Defaults follow Suricata's stock `defrag:` section: memcap 32 MiB, 65535 trackers, 65535
//! fragments held, timeout 60 s, overlap policy BSD. A tracker is keyed by (endpoint, source,
//! destination, identification, and for IPv4 the protocol).
//!
//! Memory: everything the defragmenter holds — trackers (a fixed overhead each), the bytes of their
//! buffers, and the buffers parked in the pool — is accounted against the memcap *before* it is
//! allocated; a fragment that would go past it is dropped and counted. Fragment data is written
//! straight into the tracker's buffer at its offset, so a completed packet is that buffer with the
//! first fragment's header spliced in front: the [`Reassembled`] value owns it, and
//! [`Defrag::recycle`] gives it back to the pool for the next tracker.
//!
//! Overlaps are resolved per byte by a priority order between fragments:
//! - [`OverlapPolicy::Bsd`] (Suricata's default): the fragment that starts lower wins; at the same
//!   offset the one that came first wins;
//! - [`OverlapPolicy::First`]: the fragment that came first wins;
//! - [`OverlapPolicy::Last`]: the fragment that came last wins.
//!
//! Never panics; time is the packet timestamp passed in.

use std::collections::HashMap;

use core::net::IpAddr;

use seawall_wire::{InnerPacket, IpVersion, ETHERTYPE_IPV4, ETHERTYPE_IPV6};

use crate::Timestamp;

const MAX_IP_LEN: usize = 65535;
const IPV4_MIN_HEADER: usize = 20;
const IPV6_HEADER: usize = 40;
const IPV6_FRAG_HEADER: usize = 8;
const NH_FRAGMENT: u8 = 44;
/// Longest IPv6 unfragmentable part (fixed header + extension headers before the fragment header)
/// we keep; longer ones are dropped as invalid.
const MAX_IPV6_UNFRAGMENTABLE: usize = 512;
/// Accounted overhead of one tracker besides its buffers (the tracker struct plus its map slot).
pub const TRACKER_OVERHEAD: usize = 192;

/// How overlapping fragment data is resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OverlapPolicy {
    /// Lower offset wins, then earlier arrival (Suricata's default, "bsd").
    #[default]
    Bsd,
    /// Earlier arrival wins ("first").
    First,
    /// Later arrival wins ("last").
    Last,
}

/// Defragmentation settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefragConfig {
    /// Bytes the defragmenter may hold (trackers, fragment data, pooled buffers). Default 32 MiB.
    pub memcap: usize,
    /// Packets being reassembled at once. Default 65535.
    pub max_trackers: usize,
    /// Fragments held at once, over all trackers. Default 65535.
    pub max_frags: usize,
    /// Fragments held by one tracker (bounds the per-fragment work). Default 1024: a 65535-byte
    /// packet in 64-byte pieces.
    pub max_frags_per_tracker: usize,
    /// Seconds after its last fragment a tracker is dropped. Default 60.
    pub timeout_secs: u32,
    /// Overlap policy. Default BSD.
    pub policy: OverlapPolicy,
    /// Buffers kept in the pool for reuse. Default 8.
    pub pool_buffers: usize,
}

impl Default for DefragConfig {
    fn default() -> Self {
        DefragConfig {
            memcap: 32 << 20,
            max_trackers: 65535,
            max_frags: 65535,
            max_frags_per_tracker: 1024,
            timeout_secs: 60,
            policy: OverlapPolicy::Bsd,
            pool_buffers: 8,
        }
    }
}

/// Counters: every fragment ends up in exactly one outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DefragCounters {
    /// Fragments given to [`Defrag::insert`].
    pub fragments: u64,
    /// Packets reassembled.
    pub complete: u64,
    /// Trackers dropped because their timeout passed before they completed.
    pub timeout: u64,
    /// Fragments dropped because holding them would pass the memcap.
    pub memcap_drop: u64,
    /// Fragments dropped because the tracker or fragment limits were reached.
    pub limit_drop: u64,
    /// Fragments that overlapped data already held (resolved by the policy, not dropped).
    pub overlap: u64,
    /// Trackers dropped because the packet would be longer than 65535 bytes.
    pub too_large: u64,
    /// Fragments dropped as unusable (not a fragment, an IPv6 header chain we cannot walk, IPv4
    /// and IPv6 under one key).
    pub invalid: u64,
}

/// Why a fragment was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DefragDrop {
    /// Holding it would pass the memcap.
    Memcap,
    /// Tracker or fragment limits reached.
    Limit,
    /// The reassembled packet would pass 65535 bytes (the tracker is dropped too).
    TooLarge,
    /// Not a usable fragment.
    Invalid,
}

impl DefragDrop {
    /// Stable snake_case label for counters.
    pub const fn reason(self) -> &'static str {
        match self {
            DefragDrop::Memcap => "defrag_memcap",
            DefragDrop::Limit => "defrag_limit",
            DefragDrop::TooLarge => "defrag_too_large",
            DefragDrop::Invalid => "defrag_invalid",
        }
    }
}

/// What [`Defrag::insert`] did with a fragment.
#[derive(Debug, PartialEq, Eq)]
pub enum DefragResult {
    /// Held: the packet is not complete yet.
    Held,
    /// The fragment completed a packet.
    Complete(Reassembled),
    /// Dropped.
    Dropped(DefragDrop),
}

/// A reassembled IP packet in a pooled buffer. Decode it with
/// `seawall_wire::decode_inner(r.protocol(), r.bytes())`, then hand it back with
/// [`Defrag::recycle`] so the next tracker reuses the buffer.
#[derive(Debug, PartialEq, Eq)]
pub struct Reassembled {
    buf: Vec<u8>,
    protocol: u16,
}

impl Reassembled {
    /// The whole IP packet: header (fragmentation fields cleared, lengths fixed) and data.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }
    /// 0x0800 or 0x86DD.
    pub const fn protocol(&self) -> u16 {
        self.protocol
    }
    /// The buffer, leaving the pool for good.
    pub fn into_vec(self) -> Vec<u8> {
        self.buf
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct TrackerKey {
    endpoint: u64,
    src: IpAddr,
    dst: IpAddr,
    id: u32,
    proto: u8,
}

/// One fragment's data range (pieces are kept in arrival order until completion).
#[derive(Debug, Clone, Copy)]
struct Piece {
    start: u32,
    end: u32,
}

#[derive(Debug)]
struct Tracker {
    last: Timestamp,
    /// Header of the offset-0 fragment (IPv4 header, or IPv6 unfragmentable part with the next
    /// header patched); empty until it arrives.
    header: Vec<u8>,
    /// Fragment data at its offsets.
    data: Vec<u8>,
    pieces: Vec<Piece>,
    /// The last fragment (more = false) arrived.
    seen_last: bool,
    /// Bytes accounted for this tracker.
    mem: usize,
    v6: bool,
}

impl Tracker {
    fn accounted(&self) -> usize {
        TRACKER_OVERHEAD
            + self.header.capacity()
            + self.data.capacity()
            + self.pieces.capacity() * core::mem::size_of::<Piece>()
    }
}

/// The per-worker defragmenter (one owner, no locks).
#[derive(Debug)]
pub struct Defrag {
    cfg: DefragConfig,
    trackers: HashMap<TrackerKey, Tracker>,
    pool: Vec<Vec<u8>>,
    /// Bytes accounted: trackers plus pooled buffers.
    used: usize,
    frags_held: usize,
    counters: DefragCounters,
    /// Scratch for the overlap computation (bounded by `max_frags_per_tracker`).
    scratch: Vec<(u32, u32)>,
}

/// A fragment pulled apart: where its data is and what header it brings.
struct Parsed<'a> {
    key: TrackerKey,
    v6: bool,
    offset: usize,
    more: bool,
    /// Header to keep if this is the first fragment.
    header: &'a [u8],
    /// IPv6: position in `header` of the next-header byte that names the fragment header, and the
    /// fragment header's own next header.
    v6_patch: Option<(usize, u8)>,
    data: &'a [u8],
}

impl Defrag {
    /// A defragmenter holding nothing yet.
    pub fn new(cfg: DefragConfig) -> Self {
        Defrag {
            cfg,
            trackers: HashMap::new(),
            pool: Vec::new(),
            used: 0,
            frags_held: 0,
            counters: DefragCounters::default(),
            scratch: Vec::new(),
        }
    }

    /// Counters so far.
    pub const fn counters(&self) -> &DefragCounters {
        &self.counters
    }
    /// Bytes accounted against the memcap now (never above it).
    pub const fn memory_used(&self) -> usize {
        self.used
    }
    /// Packets being reassembled.
    pub fn trackers(&self) -> usize {
        self.trackers.len()
    }
    /// The configuration.
    pub const fn config(&self) -> &DefragConfig {
        &self.cfg
    }

    /// Gives a reassembled packet's buffer back for reuse (kept if the pool has room and the memcap
    /// allows, freed otherwise).
    pub fn recycle(&mut self, r: Reassembled) {
        let mut buf = r.buf;
        buf.clear();
        if self.pool.len() < self.cfg.pool_buffers && self.used + buf.capacity() <= self.cfg.memcap
        {
            self.used += buf.capacity();
            self.pool.push(buf);
        }
    }

    /// Drops every tracker whose timeout passed at `now`; returns how many.
    pub fn expire(&mut self, now: Timestamp) -> usize {
        let timeout = self.cfg.timeout_secs;
        let mut freed = 0usize;
        let mut frags = 0usize;
        let mut n = 0;
        self.trackers.retain(|_, t| {
            if t.last.expired(now, timeout) {
                freed += t.mem;
                frags += t.pieces.len();
                n += 1;
                false
            } else {
                true
            }
        });
        self.used -= freed;
        self.frags_held -= frags;
        self.counters.timeout += n as u64;
        n
    }

    /// Inserts one fragment. `ip` is the packet's IP bytes as given to `decode_inner` and `pkt`
    /// its decode (its `fragment` must be set). `endpoint` keeps fragments of different GWLB
    /// endpoints apart.
    pub fn insert(
        &mut self,
        ts: Timestamp,
        endpoint: u64,
        ip: &[u8],
        pkt: &InnerPacket<'_>,
    ) -> DefragResult {
        self.counters.fragments += 1;
        let Some(p) = parse(endpoint, ip, pkt) else {
            self.counters.invalid += 1;
            return DefragResult::Dropped(DefragDrop::Invalid);
        };
        let start = p.offset;
        let end = p.offset + p.data.len();
        let min_header = if p.v6 { IPV6_HEADER } else { IPV4_MIN_HEADER };

        // An expired tracker is dropped before it takes more data.
        if let Some(t) = self.trackers.get(&p.key) {
            if t.last.expired(ts, self.cfg.timeout_secs) {
                self.remove(&p.key);
                self.counters.timeout += 1;
            }
        }
        if !self.trackers.contains_key(&p.key) {
            if self.trackers.len() >= self.cfg.max_trackers {
                self.expire(ts);
            }
            if self.trackers.len() >= self.cfg.max_trackers || self.frags_held >= self.cfg.max_frags
            {
                self.counters.limit_drop += 1;
                return DefragResult::Dropped(DefragDrop::Limit);
            }
            if self.used + TRACKER_OVERHEAD > self.cfg.memcap {
                self.counters.memcap_drop += 1;
                return DefragResult::Dropped(DefragDrop::Memcap);
            }
            // Take a pooled buffer: its bytes move from the pool to the tracker.
            let data = self.pool.pop().unwrap_or_default();
            let t = Tracker {
                last: ts,
                header: Vec::new(),
                data,
                pieces: Vec::new(),
                seen_last: false,
                mem: 0,
                v6: p.v6,
            };
            let mem = t.accounted();
            // Pooled bytes were already counted; only the overhead is new.
            self.used += TRACKER_OVERHEAD;
            self.trackers.insert(p.key, Tracker { mem, ..t });
        }
        let max_per = self.cfg.max_frags_per_tracker;
        let max_frags = self.cfg.max_frags;
        let memcap = self.cfg.memcap;
        let policy = self.cfg.policy;
        let frags_held = self.frags_held;
        let used_others;
        {
            let Some(t) = self.trackers.get_mut(&p.key) else {
                self.counters.invalid += 1;
                return DefragResult::Dropped(DefragDrop::Invalid);
            };
            used_others = self.used - t.mem;
            t.last = ts;
            if t.v6 != p.v6 {
                self.counters.invalid += 1;
                return DefragResult::Dropped(DefragDrop::Invalid);
            }
        }

        let header_len = self
            .trackers
            .get(&p.key)
            .map_or(0, |t| t.header.len())
            .max(if start == 0 { p.header.len() } else { 0 });
        let hdr = header_len.max(min_header);
        let max_data = if p.v6 {
            MAX_IP_LEN.saturating_sub(hdr - IPV6_HEADER)
        } else {
            MAX_IP_LEN.saturating_sub(hdr)
        };
        if end > max_data {
            self.remove(&p.key);
            self.counters.too_large += 1;
            return DefragResult::Dropped(DefragDrop::TooLarge);
        }
        let Some(t) = self.trackers.get_mut(&p.key) else {
            self.counters.invalid += 1;
            return DefragResult::Dropped(DefragDrop::Invalid);
        };
        if t.pieces.len() >= max_per || frags_held >= max_frags {
            self.counters.limit_drop += 1;
            self.remove_if_empty(&p.key);
            return DefragResult::Dropped(DefragDrop::Limit);
        }

        // Memory: grow the data buffer (doubling, capped), the piece list, and take the header.
        let need_data = end.max(t.data.len());
        let want_data_cap = if need_data > t.data.capacity() {
            need_data.max(t.data.capacity() * 2).min(max_data)
        } else {
            t.data.capacity()
        };
        let want_pieces_cap = if t.pieces.len() == t.pieces.capacity() {
            (t.pieces.capacity() * 2).max(4).min(max_per.max(1))
        } else {
            t.pieces.capacity()
        };
        let take_header = start == 0 && t.header.is_empty();
        let header_cap = if take_header {
            p.header.len()
        } else {
            t.header.capacity()
        };
        let mem_with = |data_cap: usize| {
            TRACKER_OVERHEAD
                + header_cap
                + data_cap
                + want_pieces_cap * core::mem::size_of::<Piece>()
        };
        let data_cap = if used_others + mem_with(want_data_cap) <= memcap {
            want_data_cap
        } else if used_others + mem_with(need_data.max(t.data.capacity())) <= memcap {
            need_data.max(t.data.capacity())
        } else {
            self.counters.memcap_drop += 1;
            self.remove_if_empty(&p.key);
            return DefragResult::Dropped(DefragDrop::Memcap);
        };
        if t.data.try_reserve_exact(data_cap - t.data.len()).is_err()
            || t.pieces
                .try_reserve_exact(want_pieces_cap - t.pieces.len())
                .is_err()
        {
            self.counters.memcap_drop += 1;
            self.remove_if_empty(&p.key);
            return DefragResult::Dropped(DefragDrop::Memcap);
        }
        if take_header {
            t.header.extend_from_slice(p.header);
            if let Some((at, nh)) = p.v6_patch {
                if let Some(b) = t.header.get_mut(at) {
                    *b = nh;
                }
            }
        }
        if t.data.len() < end {
            t.data.resize(end, 0);
        }

        // Paint the new fragment's bytes where it wins over every fragment already held.
        let new = Piece {
            start: start as u32,
            end: end as u32,
        };
        let mut overlapped = false;
        self.scratch.clear();
        for e in &t.pieces {
            if e.start < new.end && new.start < e.end {
                overlapped = true;
                if beats(policy, e, &new) {
                    self.scratch
                        .push((e.start.max(new.start), e.end.min(new.end)));
                }
            }
        }
        self.scratch.sort_unstable();
        let mut at = new.start;
        for &(s, e) in self
            .scratch
            .iter()
            .chain(core::iter::once(&(new.end, new.end)))
        {
            if s > at {
                let (from, to) = ((at - new.start) as usize, (s - new.start) as usize);
                if let (Some(dst), Some(src)) = (
                    t.data.get_mut(at as usize..s as usize),
                    p.data.get(from..to),
                ) {
                    dst.copy_from_slice(src);
                }
            }
            at = at.max(e);
        }
        t.pieces.push(new);
        if !p.more {
            t.seen_last = true;
        }
        if overlapped {
            self.counters.overlap += 1;
        }
        self.frags_held += 1;
        let mem = t.accounted();
        self.used = used_others + mem;
        t.mem = mem;

        if !is_complete(t) {
            return DefragResult::Held;
        }
        let Some(t) = self.trackers.remove(&p.key) else {
            return DefragResult::Held;
        };
        self.used -= t.mem;
        self.frags_held -= t.pieces.len();
        match finish(t) {
            Ok(r) => {
                self.counters.complete += 1;
                DefragResult::Complete(r)
            }
            Err(drop) => {
                self.counters.too_large += 1;
                DefragResult::Dropped(drop)
            }
        }
    }

    /// Drops a tracker that holds no fragment (made for a fragment that was then dropped).
    fn remove_if_empty(&mut self, key: &TrackerKey) {
        if self.trackers.get(key).is_some_and(|t| t.pieces.is_empty()) {
            self.remove(key);
        }
    }

    fn remove(&mut self, key: &TrackerKey) {
        if let Some(t) = self.trackers.remove(key) {
            self.used -= t.mem;
            self.frags_held -= t.pieces.len();
        }
    }
}

/// Whether held piece `e` (which arrived before `n`) wins over the new piece `n` where they
/// overlap.
fn beats(policy: OverlapPolicy, e: &Piece, n: &Piece) -> bool {
    match policy {
        OverlapPolicy::Bsd => e.start <= n.start,
        OverlapPolicy::First => true,
        OverlapPolicy::Last => false,
    }
}

/// Complete once the last fragment and the first one are in and no hole is left below the
/// highest byte held (Suricata: the length is the largest fragment end, even past the last
/// fragment's).
fn is_complete(t: &mut Tracker) -> bool {
    if !t.seen_last || t.header.is_empty() {
        return false;
    }
    let end = t.data.len() as u32;
    t.pieces.sort_unstable_by_key(|p| p.start);
    let mut covered = 0u32;
    for p in &t.pieces {
        if p.start > covered {
            return false;
        }
        covered = covered.max(p.end);
    }
    covered >= end
}

/// Splices the header in front of the data and fixes the lengths.
fn finish(t: Tracker) -> Result<Reassembled, DefragDrop> {
    let Tracker {
        header,
        mut data,
        v6,
        ..
    } = t;
    let total = header.len() + data.len();
    if total > MAX_IP_LEN + if v6 { IPV6_HEADER } else { 0 } {
        return Err(DefragDrop::TooLarge);
    }
    data.splice(0..0, header.iter().copied());
    if v6 {
        let payload = (total - IPV6_HEADER) as u16;
        if let Some(b) = data.get_mut(4..6) {
            b.copy_from_slice(&payload.to_be_bytes());
        }
        Ok(Reassembled {
            buf: data,
            protocol: ETHERTYPE_IPV6,
        })
    } else {
        if let Some(b) = data.get_mut(2..4) {
            b.copy_from_slice(&(total as u16).to_be_bytes());
        }
        if let Some(b) = data.get_mut(6..8) {
            // Keep DF, clear MF and the offset.
            b[0] &= 0x40;
            b[1] = 0;
        }
        let ihl = header.len();
        if let Some(h) = data.get_mut(..ihl) {
            h[10] = 0;
            h[11] = 0;
            let sum = ipv4_checksum(h);
            h[10..12].copy_from_slice(&sum.to_be_bytes());
        }
        Ok(Reassembled {
            buf: data,
            protocol: ETHERTYPE_IPV4,
        })
    }
}

fn ipv4_checksum(h: &[u8]) -> u16 {
    let mut sum = 0u32;
    for c in h.chunks(2) {
        let w = u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]);
        sum += u32::from(w);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Pulls the fragment fields out of the packet; `None` if it is not a usable fragment.
fn parse<'a>(endpoint: u64, ip: &'a [u8], pkt: &InnerPacket<'_>) -> Option<Parsed<'a>> {
    let frag = pkt.fragment?;
    let ip = ip.get(..pkt.ip_len)?;
    match pkt.version {
        IpVersion::V4 => {
            let ihl = usize::from(ip.first()? & 0x0f) * 4;
            Some(Parsed {
                key: TrackerKey {
                    endpoint,
                    src: pkt.src,
                    dst: pkt.dst,
                    id: frag.id,
                    proto: pkt.ip_proto,
                },
                v6: false,
                offset: frag.byte_offset(),
                more: frag.more,
                header: ip.get(..ihl)?,
                v6_patch: None,
                data: ip.get(ihl..)?,
            })
        }
        IpVersion::V6 => {
            // Walk to the fragment header: hop-by-hop, routing, destination options and AH may
            // come before it (the unfragmentable part).
            let mut nh = *ip.get(6)?;
            let mut nh_at = 6usize;
            let mut off = IPV6_HEADER;
            while nh != NH_FRAGMENT {
                let len = match nh {
                    0 | 43 | 60 => (usize::from(*ip.get(off + 1)?) + 1) * 8,
                    51 => (usize::from(*ip.get(off + 1)?) + 2) * 4,
                    _ => return None,
                };
                nh = *ip.get(off)?;
                nh_at = off;
                off += len;
                if off > MAX_IPV6_UNFRAGMENTABLE {
                    return None;
                }
            }
            let fh = ip.get(off..off + IPV6_FRAG_HEADER)?;
            Some(Parsed {
                key: TrackerKey {
                    endpoint,
                    src: pkt.src,
                    dst: pkt.dst,
                    id: frag.id,
                    proto: 0,
                },
                v6: true,
                offset: frag.byte_offset(),
                more: frag.more,
                header: ip.get(..off)?,
                v6_patch: Some((nh_at, fh[0])),
                data: ip.get(off + IPV6_FRAG_HEADER..)?,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use seawall_wire::{decode_inner, Transport};

    const T0: Timestamp = Timestamp::from_secs(1000);

    /// IPv4 fragment of id `id`: `data` at byte `offset`, MF = `more`, protocol UDP.
    fn v4_frag(id: u16, offset: usize, more: bool, data: &[u8]) -> Vec<u8> {
        let mut h = etherparse::Ipv4Header::new(
            data.len() as u16,
            64,
            etherparse::IpNumber::UDP,
            [10, 0, 0, 1],
            [10, 0, 0, 2],
        )
        .unwrap();
        h.identification = id;
        h.more_fragments = more;
        h.fragment_offset = etherparse::IpFragOffset::try_new((offset / 8) as u16).unwrap();
        h.header_checksum = h.calc_header_checksum();
        let mut v = h.to_bytes().to_vec();
        v.extend_from_slice(data);
        v
    }

    /// A UDP datagram (header + payload) to be cut into fragments.
    fn udp_datagram(payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        etherparse::PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .udp(5000, 53)
            .write(&mut v, payload)
            .unwrap();
        v[20..].to_vec()
    }

    fn insert(d: &mut Defrag, ts: Timestamp, bytes: &[u8]) -> DefragResult {
        let pkt = decode_inner(ETHERTYPE_IPV4, bytes).unwrap();
        d.insert(ts, 0, bytes, &pkt)
    }

    fn complete(r: DefragResult) -> Reassembled {
        match r {
            DefragResult::Complete(r) => r,
            other => panic!("not complete: {other:?}"),
        }
    }

    fn udp_payload(r: &Reassembled) -> Vec<u8> {
        let p = decode_inner(r.protocol(), r.bytes()).unwrap();
        assert_eq!(p.fragment, None);
        match p.transport {
            Transport::Udp { payload, .. } => payload.to_vec(),
            t => panic!("{t:?}"),
        }
    }

    #[test]
    fn test_in_order_and_out_of_order() {
        let dgram = udp_datagram(&(0..100u8).collect::<Vec<_>>()); // 108 bytes
        let frags = [
            v4_frag(1, 0, true, &dgram[..48]),
            v4_frag(1, 48, true, &dgram[48..96]),
            v4_frag(1, 96, false, &dgram[96..]),
        ];
        for order in [[0, 1, 2], [2, 0, 1], [1, 2, 0], [2, 1, 0]] {
            let mut d = Defrag::new(DefragConfig::default());
            assert_eq!(insert(&mut d, T0, &frags[order[0]]), DefragResult::Held);
            assert_eq!(insert(&mut d, T0, &frags[order[1]]), DefragResult::Held);
            let r = complete(insert(&mut d, T0, &frags[order[2]]));
            assert_eq!(udp_payload(&r), (0..100u8).collect::<Vec<_>>(), "{order:?}");
            // Header fixed: total length, no MF/offset, valid checksum.
            let h = etherparse::Ipv4HeaderSlice::from_slice(r.bytes()).unwrap();
            assert_eq!(usize::from(h.total_len()), 20 + dgram.len());
            assert!(!h.more_fragments() && h.fragments_offset().value() == 0);
            assert_eq!(h.header_checksum(), h.to_header().calc_header_checksum());
            assert_eq!(d.trackers(), 0);
            assert_eq!(d.memory_used(), 0);
            assert_eq!(d.counters().complete, 1);
            assert_eq!(d.counters().fragments, 3);
            d.recycle(r);
            assert!(d.memory_used() > 0 && d.memory_used() <= d.config().memcap);
        }
    }

    #[test]
    fn test_pool_buffer_is_reused() {
        let dgram = udp_datagram(&[7u8; 40]);
        let mut d = Defrag::new(DefragConfig::default());
        insert(&mut d, T0, &v4_frag(9, 0, true, &dgram[..24]));
        let r = complete(insert(&mut d, T0, &v4_frag(9, 24, false, &dgram[24..])));
        let ptr = r.bytes().as_ptr();
        d.recycle(r);
        let pooled = d.memory_used();
        insert(&mut d, T0, &v4_frag(10, 0, true, &dgram[..24]));
        // The pooled buffer moved into the tracker: only the overhead (and pieces) were added.
        assert!(d.memory_used() >= pooled);
        let r = complete(insert(&mut d, T0, &v4_frag(10, 24, false, &dgram[24..])));
        assert_eq!(r.bytes().as_ptr(), ptr);
    }

    /// Four overlapping fragments; checks the bytes each policy keeps.
    #[test]
    fn test_overlap_policies() {
        // Arrival order: B = 'b' x 16 at 8 (last fragment), C = 'c' x 8 at 8, D = 'd' x 8 at 16,
        // then A = UDP header + 'a' x 8 at 0.
        let mut a = udp_datagram(&[b'a'; 8]); // 16 bytes: UDP header + 8 'a'
        a[4..6].copy_from_slice(&24u16.to_be_bytes()); // UDP length covers 24 bytes
        let b = [b'b'; 16];
        let c = [b'c'; 8];
        let dd = [b'd'; 8];
        let cases = [
            // 8..16: A starts lowest; 16..24: B starts lower than D.
            (OverlapPolicy::Bsd, b"aaaaaaaabbbbbbbb".to_vec()),
            // B came first everywhere it is.
            (OverlapPolicy::First, b"bbbbbbbbbbbbbbbb".to_vec()),
            // A came last on 8..16, D on 16..24.
            (OverlapPolicy::Last, b"aaaaaaaadddddddd".to_vec()),
        ];
        for (policy, want) in cases {
            let mut d = Defrag::new(DefragConfig {
                policy,
                ..DefragConfig::default()
            });
            assert_eq!(
                insert(&mut d, T0, &v4_frag(3, 8, false, &b)),
                DefragResult::Held
            );
            assert_eq!(
                insert(&mut d, T0, &v4_frag(3, 8, true, &c)),
                DefragResult::Held
            );
            assert_eq!(
                insert(&mut d, T0, &v4_frag(3, 16, true, &dd)),
                DefragResult::Held
            );
            let r = complete(insert(&mut d, T0, &v4_frag(3, 0, true, &a)));
            assert_eq!(udp_payload(&r)[..], want[..], "{policy:?}");
            assert_eq!(d.counters().overlap, 3, "{policy:?}");
        }
        // BSD: a later fragment that starts lower wins over an earlier one.
        let mut d = Defrag::new(DefragConfig::default());
        assert_eq!(
            insert(&mut d, T0, &v4_frag(4, 16, false, &[b'x'; 8])),
            DefragResult::Held
        );
        assert_eq!(
            insert(&mut d, T0, &v4_frag(4, 8, true, &b)),
            DefragResult::Held
        );
        let r = complete(insert(&mut d, T0, &v4_frag(4, 0, true, &a)));
        assert_eq!(udp_payload(&r), b"aaaaaaaabbbbbbbb".to_vec());
    }

    #[test]
    fn test_timeout_drops_tracker() {
        let dgram = udp_datagram(&[1u8; 40]);
        let mut d = Defrag::new(DefragConfig::default());
        insert(&mut d, T0, &v4_frag(5, 0, true, &dgram[..24]));
        assert_eq!(d.expire(Timestamp::from_secs(1060)), 0);
        assert_eq!(d.expire(Timestamp::from_secs(1061)), 1);
        assert_eq!((d.trackers(), d.memory_used()), (0, 0));
        assert_eq!(d.counters().timeout, 1);
        // Lazily on insert as well: the late second half starts a new tracker.
        insert(&mut d, T0, &v4_frag(6, 0, true, &dgram[..24]));
        let late = insert(
            &mut d,
            Timestamp::from_secs(1100),
            &v4_frag(6, 24, false, &dgram[24..]),
        );
        assert_eq!(late, DefragResult::Held);
        assert_eq!(d.counters().timeout, 2);
    }

    #[test]
    fn test_memcap_bound_allocation() {
        // Room for exactly one tracker holding 1024 data bytes and 4 pieces, no header beyond 20.
        let exact = TRACKER_OVERHEAD + 20 + 1024 + 4 * core::mem::size_of::<Piece>();
        let first = v4_frag(7, 0, true, &[0u8; 1024]);
        for (memcap, held) in [(exact, true), (exact - 1, false)] {
            let mut d = Defrag::new(DefragConfig {
                memcap,
                ..DefragConfig::default()
            });
            let r = insert(&mut d, T0, &first);
            assert_eq!(r == DefragResult::Held, held, "memcap {memcap}: {r:?}");
            assert!(d.memory_used() <= memcap);
            if held {
                assert_eq!(d.memory_used(), memcap);
                // Any more data is over the cap.
                let more = insert(&mut d, T0, &v4_frag(8, 0, true, &[0u8; 8]));
                assert_eq!(more, DefragResult::Dropped(DefragDrop::Memcap));
                assert_eq!(d.memory_used(), memcap);
            } else {
                assert_eq!(r, DefragResult::Dropped(DefragDrop::Memcap));
                assert_eq!(d.counters().memcap_drop, 1);
            }
        }
    }

    #[test]
    fn test_memcap_never_exceeded_by_many_trackers() {
        let memcap = 64 << 10;
        let mut d = Defrag::new(DefragConfig {
            memcap,
            ..DefragConfig::default()
        });
        for id in 0..2000u16 {
            insert(&mut d, T0, &v4_frag(id, 0, true, &[0u8; 512]));
            assert!(d.memory_used() <= memcap);
        }
        let c = *d.counters();
        assert!(c.memcap_drop > 0);
        assert_eq!(c.fragments, 2000);
        assert_eq!(c.memcap_drop + d.trackers() as u64, 2000);
    }

    #[test]
    fn test_small_max_frags_per_tracker() {
        // Found by the flow_table fuzz target: a limit below 4 made the piece-list growth panic.
        for max in 1..=3 {
            let mut d = Defrag::new(DefragConfig {
                max_frags_per_tracker: max,
                ..DefragConfig::default()
            });
            let mut held = 0;
            for i in 0..4usize {
                match insert(&mut d, T0, &v4_frag(7, i * 8, true, &[0u8; 8])) {
                    DefragResult::Held => held += 1,
                    DefragResult::Dropped(_) => {}
                    DefragResult::Complete(_) => panic!("no last fragment was sent"),
                }
            }
            assert!(held >= 1 && held <= max, "max {max}: held {held}");
        }
    }

    #[test]
    fn test_limits_too_large_and_invalid() {
        let mut d = Defrag::new(DefragConfig {
            max_trackers: 2,
            ..DefragConfig::default()
        });
        insert(&mut d, T0, &v4_frag(1, 0, true, &[0u8; 8]));
        insert(&mut d, T0, &v4_frag(2, 0, true, &[0u8; 8]));
        assert_eq!(
            insert(&mut d, T0, &v4_frag(3, 0, true, &[0u8; 8])),
            DefragResult::Dropped(DefragDrop::Limit)
        );
        // Past 65535 with the header: too large, tracker dropped.
        assert_eq!(
            insert(&mut d, T0, &v4_frag(1, 65512, false, &[0u8; 16])),
            DefragResult::Dropped(DefragDrop::TooLarge)
        );
        assert_eq!(d.trackers(), 1);
        // Not a fragment at all: invalid.
        let whole = udp_datagram(&[0u8; 4]);
        let mut ip = v4_frag(9, 0, false, &whole);
        ip[6] = 0;
        let pkt = decode_inner(ETHERTYPE_IPV4, &ip).unwrap();
        assert_eq!(
            d.insert(T0, 0, &ip, &pkt),
            DefragResult::Dropped(DefragDrop::Invalid)
        );
        let c = d.counters();
        assert_eq!((c.limit_drop, c.too_large, c.invalid), (1, 1, 1));
        assert_eq!(DefragDrop::TooLarge.reason(), "defrag_too_large");
    }

    /// A first fragment that reaches past the last fragment's end fills the hole and sets the
    /// length (Suricata keeps the largest end; the corpus capture ipv4-fragmented.pcap does this).
    #[test]
    fn test_data_past_the_last_fragment_extends_the_packet() {
        let dgram = udp_datagram(&[5u8; 96]); // 104 bytes
        let mut d = Defrag::new(DefragConfig::default());
        assert_eq!(
            insert(&mut d, T0, &v4_frag(1, 0, true, &dgram[..16])),
            DefragResult::Held
        );
        assert_eq!(
            insert(&mut d, T0, &v4_frag(1, 48, false, &dgram[48..64])),
            DefragResult::Held
        );
        let r = complete(insert(&mut d, T0, &v4_frag(1, 0, true, &dgram)));
        assert_eq!(r.bytes().len(), 20 + 104);
        assert_eq!(udp_payload(&r), vec![5u8; 96]);
        assert_eq!(d.counters().overlap, 1);
    }

    /// IPv6 fragments with a hop-by-hop header in the unfragmentable part.
    #[test]
    fn test_ipv6_with_extension_header() {
        let payload: Vec<u8> = (0..64u8).collect();
        let mut full = Vec::new();
        etherparse::PacketBuilder::ipv6([1; 16], [2; 16], 64)
            .udp(1, 2)
            .write(&mut full, &payload)
            .unwrap();
        let udp = full[40..].to_vec(); // 72 bytes
        let frag = |offset: usize, more: bool, data: &[u8]| {
            let mut v = full[..40].to_vec();
            v[6] = 0; // hop-by-hop
            v.extend_from_slice(&[44, 0, 1, 4, 0, 0, 0, 0]); // HBH (PadN) -> fragment
            let off = ((offset / 8) as u16) << 3 | u16::from(more);
            v.extend_from_slice(&[17, 0]);
            v.extend_from_slice(&off.to_be_bytes());
            v.extend_from_slice(&0xabcdu32.to_be_bytes());
            v.extend_from_slice(data);
            let plen = (v.len() - 40) as u16;
            v[4..6].copy_from_slice(&plen.to_be_bytes());
            v
        };
        let mut d = Defrag::new(DefragConfig::default());
        let f2 = frag(40, false, &udp[40..]);
        let f1 = frag(0, true, &udp[..40]);
        let p2 = decode_inner(ETHERTYPE_IPV6, &f2).unwrap();
        assert_eq!(d.insert(T0, 0, &f2, &p2), DefragResult::Held);
        let p1 = decode_inner(ETHERTYPE_IPV6, &f1).unwrap();
        let r = complete(d.insert(T0, 0, &f1, &p1));
        assert_eq!(r.protocol(), ETHERTYPE_IPV6);
        let p = decode_inner(r.protocol(), r.bytes()).unwrap();
        assert_eq!(p.fragment, None);
        assert_eq!(p.transport.payload(), &payload[..]);
        assert_eq!(r.bytes().len(), 40 + 8 + 72);
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// A datagram cut at random 8-byte boundaries, fragments shuffled and some repeated,
            /// always reassembles to the original bytes (overlaps carry the same data, so every
            /// policy agrees), and memory returns to the pool.
            #[test]
            fn prop_shuffled_fragments_reassemble(
                len in 9usize..600,
                cuts in proptest::collection::vec(1usize..80, 1..12),
                order in any::<proptest::sample::Index>(),
                dups in proptest::collection::vec(any::<proptest::sample::Index>(), 0..4),
                policy in prop_oneof![Just(OverlapPolicy::Bsd), Just(OverlapPolicy::First), Just(OverlapPolicy::Last)],
            ) {
                let payload: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
                let dgram = udp_datagram(&payload);
                let mut bounds = vec![0usize];
                for c in cuts {
                    let next = bounds[bounds.len() - 1] + c * 8;
                    if next >= dgram.len() { break; }
                    bounds.push(next);
                }
                bounds.push(dgram.len());
                // One piece would be a whole datagram, not a fragment.
                prop_assume!(bounds.len() > 2);
                let mut frags: Vec<Vec<u8>> = bounds.windows(2).map(|w| {
                    v4_frag(77, w[0], w[1] != dgram.len(), &dgram[w[0]..w[1]])
                }).collect();
                let n = frags.len();
                frags.rotate_left(order.index(n));
                for d in &dups {
                    let f = frags[d.index(n)].clone();
                    frags.insert(d.index(n), f);
                }
                let mut d = Defrag::new(DefragConfig { policy, ..DefragConfig::default() });
                let mut done = None;
                for f in &frags {
                    match insert(&mut d, T0, f) {
                        DefragResult::Complete(r) => { done = Some(r); break; }
                        DefragResult::Held => {}
                        DefragResult::Dropped(e) => prop_assert!(false, "dropped: {e:?}"),
                    }
                }
                let r = done.expect("complete");
                prop_assert_eq!(udp_payload(&r), payload);
                prop_assert_eq!(d.memory_used(), 0);
            }

            /// Arbitrary fragments under a small memcap: never a panic, never over the memcap,
            /// and every fragment has exactly one outcome.
            #[test]
            fn prop_arbitrary_fragments_stay_bounded(
                frags in proptest::collection::vec(
                    (0u16..4, 0usize..64, any::<bool>(), 1usize..300, 0u64..100, any::<bool>()),
                    1..150),
                memcap in 0usize..8192,
            ) {
                let mut d = Defrag::new(DefragConfig { memcap, max_trackers: 3, ..DefragConfig::default() });
                let mut held_or_done = 0u64;
                for (id, off, more, len, t, v6) in frags {
                    let ts = Timestamp::from_secs(1000 + t);
                    let r = if v6 {
                        let mut v = vec![0x60, 0, 0, 0, 0, 0, 44, 64];
                        v.extend_from_slice(&[1; 32]);
                        let o = ((off as u16) << 3) | u16::from(more);
                        v.extend_from_slice(&[17, 0]);
                        v.extend_from_slice(&o.to_be_bytes());
                        v.extend_from_slice(&u32::from(id).to_be_bytes());
                        v.extend_from_slice(&vec![0xaa; len]);
                        let plen = (v.len() - 40) as u16;
                        v[4..6].copy_from_slice(&plen.to_be_bytes());
                        let Ok(p) = decode_inner(ETHERTYPE_IPV6, &v) else { continue };
                        if p.fragment.is_none() { continue; }
                        d.insert(ts, 0, &v, &p)
                    } else {
                        let f = v4_frag(id, off * 8, more, &vec![0xbb; len]);
                        let Ok(p) = decode_inner(ETHERTYPE_IPV4, &f) else { continue };
                        if p.fragment.is_none() { continue; }
                        d.insert(ts, 0, &f, &p)
                    };
                    match r {
                        DefragResult::Complete(r) => {
                            held_or_done += 1;
                            prop_assert!(decode_inner(r.protocol(), r.bytes()).is_ok() || r.bytes().len() >= 20);
                            d.recycle(r);
                        }
                        DefragResult::Held => held_or_done += 1,
                        DefragResult::Dropped(_) => {}
                    }
                    prop_assert!(d.memory_used() <= memcap, "{} > {}", d.memory_used(), memcap);
                    if t % 5 == 0 { d.expire(ts); }
                }
                let c = d.counters();
                prop_assert_eq!(c.fragments, held_or_done + c.memcap_drop + c.limit_drop + c.invalid + c.too_large);
            }
        }
    }
}
