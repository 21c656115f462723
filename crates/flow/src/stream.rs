//! TCP stream reassembly, per direction, sans-I/O: segments in, contiguous bytes out.
//!
//! # Model
//!
//! Each direction of a TCP session is a half-stream addressed by a 64-bit *stream
//! offset*: offset 0 is the first data byte (ISN + 1 after a SYN, or the first byte seen when
//! the session is picked up mid-stream). Sequence numbers are mapped to offsets relative to the
//! next byte to deliver, with wrapping arithmetic, so sequence wraparound is invisible above this
//! layer.
//!
//! A direction keeps:
//! - **held** bytes past the delivery point: out-of-order data waiting for a hole to fill (and,
//!   in [`Delivery::Acked`] mode, in-order data waiting for the peer's ACK), plus the original
//!   bounds of the segments that supplied them (the overlap policy needs them); data of a
//!   direction started by a SYN (a Fast Open SYN's) also waits for its sender's first ACK, as
//!   Suricata's IDS reassembly does (see `Half::ack_flag`);
//! - a **window**: the delivered bytes not yet consumed by the inspector, preceded by up to
//!   [`StreamConfig::window_keep`] bytes already inspected, so that content spanning a segment
//!   (or chunk) boundary is visible in one slice ([`StreamTracker::pending`]).
//!
//! # Overlap policy (Suricata's, IDS mode)
//!
//! When a new segment overlaps held data whose bytes differ, the bytes kept are chosen per
//! *existing* segment by [`OverlapPolicy::new_wins`], comparing the new segment's original
//! `[seq, seq+len)` with the existing segment's. The default, [`OverlapPolicy::Bsd`], is what
//! Suricata 7 applies both for its stock `host-os-policy` (`windows: [0.0.0.0/0]`: Suricata's
//! `windows` and `bsd` policies take the same decisions) and for hosts not listed (its built-in
//! default is `bsd`): the old data wins unless the new segment starts before the old one.
//! Bytes already delivered to the inspector are never changed (in [`Delivery::Immediate`] mode
//! in-order bytes are delivered at once, as Suricata's inline mode does); a retransmission of them
//! only counts as an overlap (and `overlap_different` when its bytes differ: an evasion attempt).
//!
//! # Gaps
//!
//! A hole at the delivery point is skipped (counted in `gaps`/`gap_bytes`, reported in
//! [`DirNew`], and marked in the window so no match spans it) when
//! - the peer acknowledges past it (the receiver got bytes we never saw: loss before us, or a
//!   mid-stream pickup), or
//! - the direction has held data without progress for [`StreamConfig::gap_timeout_secs`]
//!   (packet time), or
//! - holding the next segment would pass [`StreamConfig::max_held_bytes`] /
//!   [`StreamConfig::max_held_segments`], or
//! - the session ends ([`StreamTracker::flush`], RST).
//!
//! # Memory
//!
//! Every heap byte (held chunks, segment bounds, windows, and in a [`StreamTable`] the tracker
//! slab itself) is charged to a [`StreamPool`] before it is allocated; the pool never goes past
//! [`StreamConfig::memcap`]. A segment that does not fit is dropped and counted in `memcap_hits`
//! (the hole it leaves is then skipped like a loss). Delivery (held → window) never needs new
//! memory: the held chunk is released first.
//!
//! Nothing here reads a clock, does I/O, logs, or panics on any input.
//!
//! # Wiring (what the engine does per TCP packet)
//!
//! The flow entry keeps only an 8-byte [`StreamHandle`] (in the engine's slot `T`); the
//! trackers live in a per-worker [`StreamTable`], allocated on the first SYN or data.
//!
//! ```
//! use seawall_flow::stream::{Segment, StreamConfig, StreamHandle, StreamTable};
//! use seawall_flow::{Direction, Timestamp};
//! use seawall_wire::TcpFlags;
//!
//! let mut streams = StreamTable::new(StreamConfig::default());
//! let mut slot: Option<StreamHandle> = None; // lives in the flow entry (FlowRef::data_mut)
//! let (flow_id, now) = (42, Timestamp::from_secs(1));
//! let syn = Segment { seq: 999, ack: 0, flags: TcpFlags(TcpFlags::SYN), payload: b"", window: None };
//! streams.on_segment(&mut slot, flow_id, now, Direction::ToServer, &syn);
//! for (seq, part) in [(1000, &b"GET /a?x=/bin/"[..]), (1014, &b"sh HTTP/1.1"[..])] {
//!     let ack = TcpFlags(TcpFlags::ACK | TcpFlags::PSH);
//!     let seg = Segment { seq, ack: 1, flags: ack, payload: part, window: None };
//!     let new = streams.on_segment(&mut slot, flow_id, now, Direction::ToServer, &seg);
//!     assert!(new.to_server.bytes > 0);
//!     let h = slot.expect("tracker");
//!     while let Some(chunk) = streams.pending(h, Direction::ToServer) {
//!         // Raw-stream rules scan chunk.data (kept context + new bytes); app-layer parsers
//!         // take chunk.new_bytes().
//!         if seq == 1014 {
//!             assert!(chunk.data.windows(7).any(|w| w == b"/bin/sh"));
//!         }
//!         streams.consume(h, Direction::ToServer);
//!     }
//! }
//! // At flow end: flush (held data, holes skipped), inspect, then release.
//! let h = slot.expect("tracker");
//! streams.flush(h, now);
//! streams.release(h);
//! assert_eq!(streams.counters().trackers_active, 0);
//! ```

use core::mem::size_of;

use seawall_wire::TcpFlags;

use crate::key::Direction;
use crate::Timestamp;

/// How overlapping segments with different data are resolved (Suricata's `host-os-policy`
/// names; aliases listed per variant).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OverlapPolicy {
    /// The data seen first always wins.
    First,
    /// The data seen last always wins.
    Last,
    /// The new data wins only where it starts before the existing segment. Suricata's `bsd`,
    /// `windows`, `vista`, `windows2k3`, `macos`, `hpux10`, `irix` (the default).
    #[default]
    Bsd,
    /// As `Bsd`, and also when the new segment starts at the same sequence number and ends
    /// after the existing one. Suricata's `linux`.
    Linux,
    /// As `Bsd`, and also when the new segment starts at the same sequence number and ends at
    /// or after the existing one. Suricata's `old-linux`.
    OldLinux,
    /// The new data wins where it ends at or after the existing segment's end, unless it starts
    /// after it and ends at the same place. Suricata's `solaris`, `hpux11`, `old-solaris`.
    Solaris,
}

impl OverlapPolicy {
    /// Suricata's `windows` policy (takes `Bsd`'s decisions).
    pub const WINDOWS: OverlapPolicy = OverlapPolicy::Bsd;

    /// The policy for a Suricata `host-os-policy` name (`bsd`, `windows`, `linux`, `first`, ...).
    pub fn from_suricata_name(name: &str) -> Option<OverlapPolicy> {
        Some(match name {
            "first" => OverlapPolicy::First,
            "last" => OverlapPolicy::Last,
            "bsd" | "bsd-right" | "windows" | "vista" | "windows2k3" | "macos" | "hpux10"
            | "irix" => OverlapPolicy::Bsd,
            "linux" => OverlapPolicy::Linux,
            "old-linux" => OverlapPolicy::OldLinux,
            "solaris" | "old-solaris" | "hpux11" => OverlapPolicy::Solaris,
            _ => return None,
        })
    }

    /// Whether the bytes of a new segment covering `new` (`[start, end)` of its original
    /// bounds) replace, where they overlap, those of an existing segment covering `old`.
    pub const fn new_wins(self, new: (u64, u64), old: (u64, u64)) -> bool {
        let ((ns, ne), (os, oe)) = (new, old);
        match self {
            OverlapPolicy::First => false,
            OverlapPolicy::Last => true,
            OverlapPolicy::Bsd => ns < os,
            OverlapPolicy::Linux => ns < os || (ns == os && ne > oe),
            OverlapPolicy::OldLinux => ns < os || (ns == os && ne >= oe),
            OverlapPolicy::Solaris => (ns <= os && ne >= oe) || (ns > os && ne > oe),
        }
    }
}

/// When in-order bytes are handed to the inspector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Delivery {
    /// As soon as they are contiguous (Suricata's inline/IPS mode): detection can act on the
    /// packet that completes the content. The appliance's default.
    #[default]
    Immediate,
    /// Only once the peer acknowledges them (Suricata's IDS mode, as `suricata -r` runs), so
    /// overlap policies also apply to contiguous but unacknowledged data.
    Acked,
}

/// Reassembly settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamConfig {
    /// Bytes reassembled per direction (Suricata's `stream.reassembly.depth`); 0 = unlimited.
    /// Default 1 MiB.
    pub depth: u64,
    /// Heap bytes the pool (one per worker) may hold. Default 256 MiB (Suricata's
    /// `stream.reassembly.memcap`, which is global: divide by the worker count).
    pub memcap: usize,
    /// Overlap policy. Default [`OverlapPolicy::Bsd`].
    pub policy: OverlapPolicy,
    /// Delivery mode. Default [`Delivery::Immediate`].
    pub delivery: Delivery,
    /// Bytes held past the delivery point, per direction, before the leading hole is skipped to
    /// make room. Default 256 KiB.
    pub max_held_bytes: usize,
    /// Segments held past the delivery point, per direction, likewise. Default 512.
    pub max_held_segments: usize,
    /// A direction holding data without progress for longer than this (packet time) skips its
    /// leading hole. Default 3 s.
    pub gap_timeout_secs: u32,
    /// Already-inspected bytes kept before the new ones, for content spanning chunk
    /// boundaries. Default 2560 (Suricata's raw chunk size).
    pub window_keep: usize,
    /// Bytes a window may hold; past it the oldest bytes are dropped even if not yet consumed
    /// (counted in `window_overflow_bytes`). Default 1 MiB.
    pub window_max: usize,
    /// Segments starting (and ACKs pointing) further than this past the delivery point are
    /// ignored as out of window. Default 64 MiB.
    pub max_ahead: u64,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            depth: 1 << 20,
            memcap: 256 << 20,
            policy: OverlapPolicy::Bsd,
            delivery: Delivery::Immediate,
            max_held_bytes: 256 << 10,
            max_held_segments: 512,
            gap_timeout_secs: 3,
            window_keep: 2560,
            window_max: 1 << 20,
            max_ahead: 64 << 20,
        }
    }
}

impl StreamConfig {
    /// Settings for offline replay compared with Suricata (`suricata -r`, IDS mode): data is
    /// delivered when acknowledged.
    pub fn replay() -> Self {
        StreamConfig {
            delivery: Delivery::Acked,
            ..StreamConfig::default()
        }
    }
}

/// Reassembly counters (monotonic except `trackers_active` and `memory_bytes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamCounters {
    /// Segments with payload seen.
    pub segments: u64,
    /// Payload bytes seen.
    pub bytes: u64,
    /// Bytes delivered in order to the window.
    pub delivered_bytes: u64,
    /// Segments that had to be held (out of order, or awaiting the ACK in `Acked` mode).
    pub ooo_held: u64,
    /// Segments overlapping bytes already held or delivered (retransmissions included).
    pub overlaps: u64,
    /// Overlapping segments whose bytes differ from those already there.
    pub overlap_different: u64,
    /// Holes skipped.
    pub gaps: u64,
    /// Bytes skipped in holes.
    pub gap_bytes: u64,
    /// Segments (or trackers) refused because the memcap was reached.
    pub memcap_hits: u64,
    /// Directions that reached the reassembly depth.
    pub depth_reached: u64,
    /// Segments or ACKs ignored as out of window.
    pub out_of_window: u64,
    /// Delivered bytes dropped from a window before they were consumed.
    pub window_overflow_bytes: u64,
    /// Segments ignored because their direction had ended (FIN reached, RST, depth).
    pub after_close: u64,
    /// Directions picked up mid-stream (no SYN seen).
    pub midstream: u64,
    /// Trackers created (in a [`StreamTable`]).
    pub trackers_created: u64,
    /// Trackers alive now (in a [`StreamTable`]).
    pub trackers_active: u64,
    /// Heap bytes charged to the pool now.
    pub memory_bytes: u64,
}

/// The shared memory budget and counters of all trackers of one worker.
#[derive(Debug, Clone)]
pub struct StreamPool {
    cfg: StreamConfig,
    used: usize,
    counters: StreamCounters,
}

impl StreamPool {
    /// A pool for `cfg`.
    pub fn new(cfg: StreamConfig) -> Self {
        StreamPool {
            cfg,
            used: 0,
            counters: StreamCounters::default(),
        }
    }
    /// The configuration.
    pub const fn config(&self) -> &StreamConfig {
        &self.cfg
    }
    /// Heap bytes charged now (never more than the memcap).
    pub const fn memory_bytes(&self) -> usize {
        self.used
    }
    /// Counters.
    pub fn counters(&self) -> StreamCounters {
        StreamCounters {
            memory_bytes: self.used as u64,
            ..self.counters
        }
    }
    fn room(&self) -> usize {
        self.cfg.memcap.saturating_sub(self.used)
    }
    fn charge(&mut self, bytes: usize) {
        self.used = self.used.saturating_add(bytes);
    }
    fn refund(&mut self, bytes: usize) {
        self.used = self.used.saturating_sub(bytes);
    }
}

/// Grows `v` so that `extra` more elements fit, charging `pool`; leaves at least `keep_room`
/// bytes of the pool's room untouched. `false` (nothing changed) if that does not fit.
fn reserve<T>(v: &mut Vec<T>, extra: usize, pool: &mut StreamPool, keep_room: usize) -> bool {
    let Some(need) = v.len().checked_add(extra) else {
        return false;
    };
    let old = v.capacity();
    if need <= old {
        return true;
    }
    let elem = size_of::<T>().max(1);
    let room = pool.room().saturating_sub(keep_room) / elem;
    let max_cap = old.saturating_add(room);
    if need > max_cap {
        return false;
    }
    let target = need.max(old.saturating_mul(2)).max(8).min(max_cap);
    v.reserve_exact(target - v.len());
    if v.capacity() > max_cap {
        v.shrink_to(need);
    }
    pool.charge(v.capacity().saturating_sub(old) * elem);
    true
}

/// Frees `v`, refunding `pool`.
fn free<T>(v: &mut Vec<T>, pool: &mut StreamPool) {
    pool.refund(v.capacity() * size_of::<T>().max(1));
    *v = Vec::new();
}

/// Shrinks `v`'s capacity towards `len.max(floor)` when it holds more than twice that.
fn trim_capacity<T>(v: &mut Vec<T>, floor: usize, pool: &mut StreamPool) {
    let want = v.len().max(floor);
    let old = v.capacity();
    if old > want.saturating_mul(2) {
        v.shrink_to(want);
        pool.refund(old.saturating_sub(v.capacity()) * size_of::<T>().max(1));
    }
}

/// One TCP segment as the engine sees it.
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number (meaningful when `flags` has ACK).
    pub ack: u32,
    /// TCP flags.
    pub flags: TcpFlags,
    /// Payload.
    pub payload: &'a [u8],
    /// Advertised window (unscaled), when known: a one-sided session's client FIN past the
    /// window of its handshake-completing ACK is refused, as Suricata does.
    pub window: Option<u16>,
}

impl<'a> Segment<'a> {
    /// The segment of a decoded TCP packet as Suricata's stream engine takes it: data on a SYN
    /// is stream data only when the SYN carries the TCP Fast Open option (`options`: the bytes
    /// after the fixed header), and data on a SYN/ACK never is (Suricata's SYN_SENT and
    /// midstream SYN/ACK handling reassemble nothing).
    pub fn from_tcp(
        seq: u32,
        ack: u32,
        flags: TcpFlags,
        options: &[u8],
        payload: &'a [u8],
    ) -> Self {
        let keep = !flags.syn() || (!flags.ack() && crate::tcp::has_tfo_option(options));
        Segment {
            seq,
            ack,
            flags,
            payload: if keep { payload } else { &[] },
            window: None,
        }
    }

    /// The segment with its advertised window.
    pub const fn with_window(self, window: u16) -> Self {
        Segment {
            window: Some(window),
            ..self
        }
    }
}

/// What one call did to one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DirNew {
    /// Bytes newly delivered to the window (read them with [`StreamTracker::pending`]).
    pub bytes: u64,
    /// Holes skipped.
    pub gaps: u32,
    /// Bytes skipped in those holes.
    pub gap_bytes: u64,
    /// The direction ended with this call (FIN reached, RST, flush).
    pub eof: bool,
    /// The direction reached the reassembly depth with this call.
    pub depth_reached: bool,
}

impl DirNew {
    /// Anything for the inspector to look at.
    pub const fn any(&self) -> bool {
        self.bytes > 0 || self.gaps > 0 || self.eof || self.depth_reached
    }
}

/// What one call did, per direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NewData {
    /// Client to server.
    pub to_server: DirNew,
    /// Server to client.
    pub to_client: DirNew,
}

impl NewData {
    /// The direction `dir`.
    pub const fn get(&self, dir: Direction) -> &DirNew {
        match dir {
            Direction::ToServer => &self.to_server,
            Direction::ToClient => &self.to_client,
        }
    }
    fn get_mut(&mut self, dir: Direction) -> &mut DirNew {
        match dir {
            Direction::ToServer => &mut self.to_server,
            Direction::ToClient => &mut self.to_client,
        }
    }
    /// Anything new in either direction.
    pub const fn any(&self) -> bool {
        self.to_server.any() || self.to_client.any()
    }
}

/// A slice of a direction's window for the inspector: `data[new_from..]` has not been
/// inspected yet, `data[..new_from]` is already-inspected context (never across a gap).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk<'a> {
    /// Context followed by the new bytes; contiguous in the stream.
    pub data: &'a [u8],
    /// Where the new bytes start in `data`.
    pub new_from: usize,
    /// Stream offset of `data[0]` (0 = first byte of the direction).
    pub offset: u64,
    /// Bytes skipped right before `data[new_from]` (0 if none).
    pub gap_before: u64,
}

impl<'a> Chunk<'a> {
    /// The bytes not inspected yet.
    pub fn new_bytes(&self) -> &'a [u8] {
        self.data.get(self.new_from..).unwrap_or_default()
    }
}

/// Bytes already held past the delivery point, contiguous.
#[derive(Debug, Clone)]
struct Held {
    start: u64,
    data: Vec<u8>,
}

impl Held {
    fn end(&self) -> u64 {
        self.start + self.data.len() as u64
    }
}

/// A run of window bytes contiguous in the stream: window position `pos` holds stream offset
/// `off`; `gap` bytes were skipped before it.
#[derive(Debug, Clone, Copy)]
struct Run {
    pos: u64,
    off: u64,
    gap: u64,
}

/// Runs a window may hold (gaps not yet consumed); past it the oldest are dropped.
const MAX_RUNS: usize = 16;

/// Sliced byte ranges `[start, end)`.
type Range = (u64, u64);

/// One direction's reassembly state.
#[derive(Debug, Clone, Default)]
struct Half {
    /// Base sequence number known (from a SYN, an ACK of the peer, or the first data).
    init: bool,
    /// Base came from a SYN.
    syn: bool,
    /// Sequence number of offset 0.
    base_seq: u32,
    /// Next offset to deliver.
    delivered: u64,
    /// Highest offset acknowledged by the peer (valid when `ack_seen`).
    acked: u64,
    ack_seen: bool,
    /// This direction's sender has sent a segment with the ACK flag. Suricata takes the peer's
    /// ACKs of a stream as not yet initialised while the stream's own TCP flags lack ACK and
    /// nothing has left its buffer (`STREAM_LASTACK_GT_BASESEQ`): the data of a Fast Open SYN
    /// is not reassembled, though the SYN/ACK and the server's next segments acknowledge it,
    /// until the client has sent an ACK. Only a direction started by a SYN waits for it.
    ack_flag: bool,
    /// The sender's first ACK just opened the way for acknowledged data: IDS reassembly runs
    /// for the peer's data on this direction's segments, so that data waits for the peer's next
    /// segment, a FIN closing after the peer's, or the peer's data reaching the app layer (its
    /// protocol detection first hands over the data of the direction seen first).
    own_wait: bool,
    /// Data of this direction came when the peer had already acknowledged past the delivery
    /// point (the ACK was captured first): Suricata's IDS reassembly of it runs on the peer's
    /// segments, so it waits for the peer's next segment (or a FIN after the peer's), not
    /// delivered on its own packet.
    ack_early: bool,
    /// Offset of the FIN (end of data), if seen.
    fin: Option<u64>,
    /// No more data accepted (FIN reached, RST, depth).
    closed: bool,
    depth_hit: bool,
    /// One-sided session (nothing will acknowledge this direction): in-order data is
    /// delivered once this many bytes wait (Suricata moves `last_ack` with `next_seq` and
    /// inspects the raw stream per chunk); 0 = not one-sided.
    oneside: u32,
    /// One-sided and the client's FIN arrived: everything in order is delivered (Suricata's
    /// CLOSE_WAIT reassembles the packet's own direction).
    fin_flush: bool,
    /// One-sided: sequence number past the window of the first pure ACK after the SYN (the
    /// ACK completing a one-sided handshake: Suricata's `next_win`, which no packet of the
    /// unseen side moves); a FIN ending past it is refused. Valid when `oneside_win`.
    oneside_win_end: u32,
    oneside_win: bool,
    /// The session has not completed its handshake (set per packet by the engine, see
    /// [`StreamTracker::set_in_handshake`]).
    handshake: bool,
    /// A RST closed the session during its handshake: no more data is taken and nothing is
    /// delivered before the flow end ([`StreamTracker::flush`]), as Suricata's SYN_SENT and
    /// SYN_RECV RST handling reassembles nothing (its flow-end pseudo packets do).
    reset: bool,
    /// Held bytes: sorted, disjoint, non-adjacent chunks, all past `delivered`.
    held: Vec<Held>,
    /// Original bounds of the segments behind `held` (sorted by start).
    segs: Vec<Range>,
    held_bytes: usize,
    /// Since when `held` is non-empty without progress.
    stall_since: Option<Timestamp>,
    /// Window bytes; `win[0]` is window position `win_pos`.
    win: Vec<u8>,
    win_pos: u64,
    /// Window position up to which the inspector consumed.
    insp: u64,
    runs: Vec<Run>,
    /// Stream offset following the window's last byte.
    win_end_off: u64,
}

impl Half {
    fn seq_at(&self, off: u64) -> u32 {
        self.base_seq.wrapping_add(off as u32)
    }

    /// Offset of `seq`, relative to the delivery point (negative: before offset 0).
    fn offset_of(&self, seq: u32) -> i64 {
        let d = seq.wrapping_sub(self.seq_at(self.delivered)) as i32;
        (self.delivered as i64).saturating_add(i64::from(d))
    }

    fn start_at(&mut self, seq: u32, syn: bool) {
        self.init = true;
        self.syn = syn;
        self.base_seq = seq;
        self.delivered = 0;
        self.acked = 0;
        self.ack_seen = false;
        self.ack_flag = false;
        self.own_wait = false;
        self.ack_early = false;
        self.fin = None;
        self.win_end_off = 0;
    }

    /// The peer's ACKs may deliver data and skip holes (see `ack_flag`, `own_wait`).
    fn acks_usable(&self) -> bool {
        self.ack_seen && (self.ack_flag || !self.syn) && !self.own_wait && !self.ack_early
    }

    /// Nothing delivered or held yet: the base may still be moved.
    fn pristine(&self) -> bool {
        self.delivered == 0 && self.held.is_empty() && self.runs.is_empty()
    }

    fn win_end(&self) -> u64 {
        self.win_pos + self.win.len() as u64
    }

    /// Held bytes contiguous with the delivery point.
    fn ready_in_order(&self) -> u64 {
        self.held
            .first()
            .filter(|h| h.start == self.delivered)
            .map_or(0, |h| h.data.len() as u64)
    }

    fn heap_bytes(&self) -> usize {
        self.held.capacity() * size_of::<Held>()
            + self.held.iter().map(|h| h.data.capacity()).sum::<usize>()
            + self.segs.capacity() * size_of::<Range>()
            + self.win.capacity()
            + self.runs.capacity() * size_of::<Run>()
    }

    fn free_held(&mut self, pool: &mut StreamPool) {
        for h in &mut self.held {
            free(&mut h.data, pool);
        }
        free(&mut self.held, pool);
        free(&mut self.segs, pool);
        self.held_bytes = 0;
        self.stall_since = None;
    }

    fn free_all(&mut self, pool: &mut StreamPool) {
        self.free_held(pool);
        free(&mut self.win, pool);
        free(&mut self.runs, pool);
    }

    /// Drops `n` bytes from the front of the window.
    fn drop_front(&mut self, n: usize, pool: &mut StreamPool) {
        let n = n.min(self.win.len());
        if n == 0 {
            return;
        }
        let new_pos = self.win_pos + n as u64;
        if self.insp < new_pos {
            pool.counters.window_overflow_bytes += new_pos - self.insp;
            self.insp = new_pos;
        }
        self.win.drain(..n);
        self.win_pos = new_pos;
        // Keep the run containing `win_pos` (the last one starting at or before it).
        let first = self
            .runs
            .iter()
            .rposition(|r| r.pos <= new_pos)
            .unwrap_or(0);
        self.runs.drain(..first);
    }

    /// Appends bytes at stream offset `off` to the window. `keep_room`: pool bytes not to
    /// touch. `false` if the memcap refused it.
    fn append(
        &mut self,
        pool: &mut StreamPool,
        mut off: u64,
        mut bytes: &[u8],
        keep_room: usize,
    ) -> bool {
        if bytes.is_empty() {
            return true;
        }
        let wmax = pool.cfg.window_max.max(1);
        if bytes.len() > wmax {
            let cut = bytes.len() - wmax;
            let all = self.win.len();
            self.drop_front(all, pool);
            pool.counters.window_overflow_bytes += cut as u64;
            bytes = bytes.get(cut..).unwrap_or_default();
            off += cut as u64;
        }
        let over = (self.win.len() + bytes.len()).saturating_sub(wmax);
        self.drop_front(over, pool);
        let new_run = self.runs.is_empty() || off != self.win_end_off;
        if new_run {
            if self.runs.len() >= MAX_RUNS {
                if let Some(r) = self.runs.get(1) {
                    let n = r.pos.saturating_sub(self.win_pos) as usize;
                    self.drop_front(n, pool);
                }
            }
            if !reserve(&mut self.runs, 1, pool, keep_room) {
                return false;
            }
        }
        if !reserve(&mut self.win, bytes.len(), pool, keep_room) {
            return false;
        }
        if new_run {
            let pos = self.win_end();
            self.runs.push(Run {
                pos,
                off,
                gap: off.saturating_sub(self.win_end_off),
            });
        }
        self.win.extend_from_slice(bytes);
        self.win_end_off = off + bytes.len() as u64;
        pool.counters.delivered_bytes += bytes.len() as u64;
        true
    }

    /// The run containing window position `p` (index).
    fn run_of(&self, p: u64) -> Option<usize> {
        self.runs.iter().rposition(|r| r.pos <= p)
    }

    fn pending(&self) -> Option<Chunk<'_>> {
        let end = self.win_end();
        if self.insp >= end {
            return None;
        }
        let ri = self.run_of(self.insp)?;
        let run = self.runs.get(ri)?;
        let stop = self.runs.get(ri + 1).map_or(end, |r| r.pos.min(end));
        let keep = context_start(self.insp, run.pos, self.win_pos);
        let from = (keep - self.win_pos) as usize;
        let to = (stop - self.win_pos) as usize;
        Some(Chunk {
            data: self.win.get(from..to)?,
            new_from: (self.insp - keep) as usize,
            offset: run.off + (keep - run.pos),
            gap_before: if self.insp == run.pos { run.gap } else { 0 },
        })
    }

    /// Marks the current chunk inspected and trims the window to the kept context.
    fn consume(&mut self, pool: &mut StreamPool) {
        let end = self.win_end();
        if self.insp >= end {
            return;
        }
        let Some(ri) = self.run_of(self.insp) else {
            self.insp = end;
            return;
        };
        self.insp = self.runs.get(ri + 1).map_or(end, |r| r.pos.min(end));
        let keep = pool.cfg.window_keep.min(pool.cfg.window_max) as u64;
        let run_pos = self
            .run_of(self.insp)
            .and_then(|i| self.runs.get(i))
            .map_or(0, |r| r.pos);
        let from = if run_pos == self.insp {
            self.insp
        } else {
            self.insp.saturating_sub(keep).max(run_pos)
        };
        let n = from.saturating_sub(self.win_pos) as usize;
        self.drop_front(n, pool);
        trim_capacity(&mut self.win, 4096, pool);
        trim_capacity(&mut self.runs, 4, pool);
    }

    /// Stores (or, in the fast path, delivers) `data` whose first byte is at offset `start`.
    fn insert(
        &mut self,
        pool: &mut StreamPool,
        ts: Timestamp,
        start: i64,
        data: &[u8],
        out: &mut DirNew,
    ) {
        if data.is_empty() {
            return;
        }
        if self.closed || self.reset {
            pool.counters.after_close += 1;
            return;
        }
        let end = start.saturating_add(data.len() as i64);
        let delivered = self.delivered as i64;
        if end <= delivered {
            pool.counters.overlaps += 1;
            self.check_retransmission(pool, start, data);
            return;
        }
        if start > delivered && (start - delivered) as u64 > pool.cfg.max_ahead {
            pool.counters.out_of_window += 1;
            return;
        }
        if start < delivered {
            pool.counters.overlaps += 1;
            self.check_retransmission(pool, start, data);
        }
        // Make room per direction: skip the leading hole (or deliver past the ACK) first.
        let incoming = (end - start.max(delivered)) as usize;
        if !self.held.is_empty()
            && (self.held_bytes.saturating_add(incoming) > pool.cfg.max_held_bytes
                || self.segs.len() >= pool.cfg.max_held_segments)
        {
            self.progress(pool, ts, true, out);
            if self.closed || end <= self.delivered as i64 {
                return;
            }
        }
        let delivered = self.delivered as i64;
        let s = start.max(delivered) as u64;
        let mut limit = if pool.cfg.depth == 0 {
            u64::MAX
        } else {
            pool.cfg.depth
        };
        if let Some(f) = self.fin {
            limit = limit.min(f);
        }
        if s >= limit {
            pool.counters.after_close += 1;
            return;
        }
        let e = (end as u64).min(limit);
        let (from, to) = ((s as i64 - start) as usize, (e as i64 - start) as usize);
        let Some(bytes) = data.get(from..to) else {
            return;
        };
        let orig = (start.max(0) as u64, end as u64);
        if pool.cfg.delivery == Delivery::Immediate && s == self.delivered && self.held.is_empty() {
            if self.append(pool, s, bytes, 0) {
                self.delivered = e;
                out.bytes += bytes.len() as u64;
            } else {
                pool.counters.memcap_hits += 1;
            }
            return;
        }
        if !self.hold(pool, s, bytes, orig) {
            pool.counters.memcap_hits += 1;
            return;
        }
        if s > self.delivered || pool.cfg.delivery == Delivery::Acked {
            pool.counters.ooo_held += 1;
        }
        if self.stall_since.is_none() {
            self.stall_since = Some(ts);
        }
    }

    /// Counts a retransmission of delivered bytes whose data differs from what the window
    /// still has.
    fn check_retransmission(&self, pool: &mut StreamPool, start: i64, data: &[u8]) {
        let Some(run) = self.runs.last() else { return };
        // Window positions of the last run map to offsets run.off.. win_end_off.
        let lo = (start.max(run.off as i64)) as u64;
        let hi = (start.saturating_add(data.len() as i64).max(0) as u64)
            .min(self.win_end_off)
            .min(self.delivered);
        let run_first = run.off.max(self.win_pos.saturating_sub(run.pos) + run.off);
        let lo = lo.max(run_first);
        if lo >= hi {
            return;
        }
        let wfrom = (run.pos + (lo - run.off)).saturating_sub(self.win_pos) as usize;
        let dfrom = (lo as i64 - start) as usize;
        let n = (hi - lo) as usize;
        if let (Some(w), Some(d)) = (self.win.get(wfrom..wfrom + n), data.get(dfrom..dfrom + n)) {
            if w != d {
                pool.counters.overlap_different += 1;
            }
        }
    }

    /// Merges `bytes` (covering `[s, s+len)`, from a segment originally covering `orig`) into
    /// the held chunks, applying the overlap policy. `false` if the memcap refused it.
    fn hold(&mut self, pool: &mut StreamPool, s: u64, bytes: &[u8], orig: Range) -> bool {
        let e = s + bytes.len() as u64;
        // Chunks overlapping or touching [s, e).
        let i = self.held.partition_point(|h| h.end() < s);
        let j = self.held.partition_point(|h| h.start <= e);
        let j = j.max(i);
        // Bytes of [s, e) that keep their old value: covered by an old chunk and by an old
        // segment the policy prefers.
        let mut keep: Vec<Range> = Vec::new();
        let mut overlap = false;
        let mut different = false;
        for h in self.held.get(i..j).unwrap_or_default() {
            let (a, b) = (h.start.max(s), h.end().min(e));
            if a >= b {
                continue;
            }
            overlap = true;
            let old = h.data.get((a - h.start) as usize..(b - h.start) as usize);
            let new = bytes.get((a - s) as usize..(b - s) as usize);
            if old != new {
                different = true;
            }
        }
        if overlap && different {
            for &(os, oe) in &self.segs {
                if oe <= s || os >= e || pool.cfg.policy.new_wins(orig, (os, oe)) {
                    continue;
                }
                for h in self.held.get(i..j).unwrap_or_default() {
                    let (a, b) = (h.start.max(s).max(os), h.end().min(e).min(oe));
                    if a < b {
                        keep.push((a, b));
                    }
                }
            }
        }
        if overlap {
            pool.counters.overlaps += 1;
            if different {
                pool.counters.overlap_different += 1;
            }
        }
        // The segment bound list.
        if !reserve(&mut self.segs, 1, pool, 0) {
            return false;
        }
        let write = |dst: &mut [u8], dst_start: u64, keep: &[Range]| {
            // Copy `bytes` into dst (which starts at offset dst_start) except the kept ranges.
            let mut p = s;
            let mut ks: Vec<Range> = keep.to_vec();
            ks.sort_unstable();
            for (a, b) in ks.into_iter().chain(core::iter::once((e, e))) {
                let a = a.max(p);
                if a > p {
                    let d = dst.get_mut((p - dst_start) as usize..(a - dst_start) as usize);
                    let src = bytes.get((p - s) as usize..(a - s) as usize);
                    if let (Some(d), Some(src)) = (d, src) {
                        d.copy_from_slice(src);
                    }
                }
                p = p.max(b);
            }
        };
        let merged_start = self.held.get(i).map_or(s, |h| h.start.min(s));
        let merged_end = if j > i {
            self.held.get(j - 1).map_or(e, |h| h.end().max(e))
        } else {
            e
        };
        if j == i + 1 && self.held.get(i).is_some_and(|h| h.start <= s) {
            // Extend one chunk in place.
            let Some(h) = self.held.get_mut(i) else {
                return false;
            };
            let grow = (merged_end - h.end()) as usize;
            if !reserve(&mut h.data, grow, pool, 0) {
                return false;
            }
            let hs = h.start;
            h.data.resize((merged_end - hs) as usize, 0);
            write(&mut h.data, hs, &keep);
        } else {
            let len = (merged_end - merged_start) as usize;
            let mut v: Vec<u8> = Vec::new();
            if !reserve(&mut self.held, 1, pool, 0) || !reserve(&mut v, len, pool, 0) {
                return false;
            }
            v.resize(len, 0);
            for h in self.held.drain(i..j) {
                let at = (h.start - merged_start) as usize;
                if let Some(d) = v.get_mut(at..at + h.data.len()) {
                    d.copy_from_slice(&h.data);
                }
                pool.refund(h.data.capacity());
            }
            write(&mut v, merged_start, &keep);
            self.held.insert(
                i,
                Held {
                    start: merged_start,
                    data: v,
                },
            );
        }
        let at = self.segs.partition_point(|&r| r <= orig);
        self.segs.insert(at, orig);
        self.held_bytes = self.held.iter().map(|h| h.data.len()).sum();
        true
    }

    /// Delivers what can be delivered and skips holes that must be skipped. `force`: deliver
    /// regardless of ACKs and skip the leading hole.
    fn progress(&mut self, pool: &mut StreamPool, ts: Timestamp, force: bool, out: &mut DirNew) {
        let before = self.delivered;
        loop {
            let oneside_ready = self.oneside > 0
                && (self.fin_flush || self.ready_in_order() >= u64::from(self.oneside));
            let limit = if force || pool.cfg.delivery == Delivery::Immediate || oneside_ready {
                u64::MAX
            } else if self.acks_usable() {
                self.acked.min(self.fin.unwrap_or(u64::MAX))
            } else {
                self.delivered
            };
            let mut moved = false;
            while self.delivered < limit {
                let Some(h) = self.held.first() else { break };
                if h.start != self.delivered {
                    break;
                }
                let n = ((limit - self.delivered) as usize).min(h.data.len());
                let mut chunk = self.held.remove(0);
                let cap = chunk.data.capacity();
                pool.refund(cap);
                let rest = chunk.data.len() - n;
                // Leave room to put the rest of the chunk back.
                let ok = self.append(
                    pool,
                    self.delivered,
                    chunk.data.get(..n).unwrap_or_default(),
                    rest,
                );
                if !ok {
                    // Cannot happen (the chunk's own bytes were refunded); stay consistent.
                    pool.counters.memcap_hits += 1;
                    pool.counters.gaps += 1;
                    pool.counters.gap_bytes += n as u64;
                    out.gaps += 1;
                    out.gap_bytes += n as u64;
                } else {
                    out.bytes += n as u64;
                }
                self.delivered += n as u64;
                moved = true;
                if rest > 0 {
                    chunk.data.drain(..n);
                    chunk.data.shrink_to_fit();
                    pool.charge(chunk.data.capacity());
                    chunk.start = self.delivered;
                    self.held.insert(0, chunk);
                    break;
                }
                if self.held.is_empty() {
                    free(&mut self.held, pool);
                }
            }
            // A hole at the delivery point. An ACK skips it only up to data held past it, or
            // to an acknowledged FIN (Suricata's app-layer reassembly declares a gap only when
            // it finds a segment beyond its progress, CheckGap, and ends the stream once the
            // session closes): with nothing held, data acknowledged before it arrives
            // (captured after the peer's ACK) is still delivered when it comes.
            let next = self.held.first().map(|h| h.start);
            let mut to = None;
            // The ACK of a FIN covers one sequence number past the data.
            let acked = self.acked.min(self.fin.unwrap_or(u64::MAX));
            let end = next.or(self.fin.filter(|&f| acked >= f));
            if let Some(n) = end.filter(|_| self.acks_usable() && acked > self.delivered) {
                let bound = n.min(acked);
                if bound > self.delivered {
                    to = Some(bound);
                }
            }
            if to.is_none() && force {
                to = next.filter(|&n| n > self.delivered);
            }
            if let Some(t) = to {
                let skipped = t - self.delivered;
                pool.counters.gaps += 1;
                pool.counters.gap_bytes += skipped;
                out.gaps += 1;
                out.gap_bytes += skipped;
                self.delivered = t;
                moved = true;
            }
            if !moved {
                break;
            }
        }
        self.held_bytes = self.held.iter().map(|h| h.data.len()).sum();
        let d = self.delivered;
        let old_len = self.segs.len();
        self.segs.retain(|&(_, e)| e > d);
        if self.segs.is_empty() && old_len > 0 {
            free(&mut self.segs, pool);
        }
        if self.held.is_empty() {
            self.stall_since = None;
        } else if self.delivered != before || self.stall_since.is_none() {
            self.stall_since = Some(ts);
        }
        if pool.cfg.depth > 0 && self.delivered >= pool.cfg.depth && !self.depth_hit {
            self.depth_hit = true;
            self.closed = true;
            pool.counters.depth_reached += 1;
            out.depth_reached = true;
            self.free_held(pool);
        }
        if let Some(f) = self.fin {
            if self.delivered >= f && !self.closed {
                self.closed = true;
                out.eof = true;
                self.free_held(pool);
            }
        }
    }

    /// Ends the direction: delivers everything held, skipping holes.
    fn finish(&mut self, pool: &mut StreamPool, ts: Timestamp, out: &mut DirNew) {
        if self.closed {
            return;
        }
        while !self.held.is_empty() && !self.closed {
            let before = (self.delivered, self.held.len());
            self.progress(pool, ts, true, out);
            if (self.delivered, self.held.len()) == before {
                break;
            }
        }
        if !self.closed {
            self.closed = true;
            out.eof = true;
        }
        self.free_held(pool);
    }

    /// The peer acknowledged `ack` (in this direction's sequence space).
    fn on_ack(&mut self, pool: &mut StreamPool, ack: u32) {
        if !self.init {
            // Mid-stream: the peer tells where this direction's data starts.
            self.start_at(ack, false);
            pool.counters.midstream += 1;
        }
        let o = self.offset_of(ack);
        if o < 0 || o as u64 > self.delivered.saturating_add(pool.cfg.max_ahead) {
            pool.counters.out_of_window += 1;
            return;
        }
        let o = o as u64;
        if !self.ack_seen || o > self.acked {
            self.acked = o;
            self.ack_seen = true;
        }
    }
}

/// Window position from which context is kept for a chunk whose new bytes start at `insp` in
/// the run starting at `run_pos` (everything kept in the run up to `insp`).
fn context_start(insp: u64, run_pos: u64, win_pos: u64) -> u64 {
    run_pos.max(win_pos).min(insp)
}

/// Reassembly state of one TCP session, both directions. Lives wherever the engine wants it
/// (a [`StreamTable`] slot, or inline in per-flow state); its heap memory is charged to the
/// [`StreamPool`] passed to each call (always pass the same pool).
#[derive(Debug, Clone, Default)]
pub struct StreamTracker {
    halves: [Half; 2],
}

impl StreamTracker {
    /// A tracker with nothing seen.
    pub fn new() -> Self {
        StreamTracker::default()
    }

    /// Processes one segment travelling in `dir` (relative to the flow's client, as
    /// [`crate::FlowRef::direction`] gives it) at packet time `ts`.
    ///
    /// - SYN / SYN-ACK set the sender's initial sequence number; without them the first ACK of
    ///   the peer or the first data byte sets it (mid-stream pickup).
    /// - The segment's ACK acknowledges the other direction (delivery in `Acked` mode, gap
    ///   skipping in both modes).
    /// - FIN marks the end of the sender's data; RST ends both directions, delivering what is
    ///   held (holes skipped), except a RST during the handshake in [`Delivery::Acked`] mode
    ///   ([`StreamTracker::set_in_handshake`]): it delivers nothing, [`StreamTracker::flush`]
    ///   does at the flow end.
    pub fn on_segment(
        &mut self,
        pool: &mut StreamPool,
        ts: Timestamp,
        dir: Direction,
        seg: &Segment<'_>,
    ) -> NewData {
        let mut out = NewData::default();
        let (d, p) = (dir.index(), dir.reversed().index());
        let flags = seg.flags;
        if !seg.payload.is_empty() {
            pool.counters.segments += 1;
            pool.counters.bytes += seg.payload.len() as u64;
        }
        // Timeouts first, in both directions, as packet time moves on.
        self.check_timeouts(pool, ts, &mut out);

        if self.halves[d].reset {
            // Closed by a RST in its handshake: everything waits for the flow end.
            if !seg.payload.is_empty() {
                pool.counters.after_close += 1;
            }
            return out;
        }
        if flags.rst() {
            let h = &self.halves[d];
            let plausible = !h.init || {
                let o = h.offset_of(seg.seq) - h.delivered as i64;
                o >= -(1 << 20) && o <= pool.cfg.max_ahead as i64
            };
            if plausible && h.handshake && pool.cfg.delivery == Delivery::Acked {
                for h in &mut self.halves {
                    h.reset = true;
                    h.stall_since = None;
                }
            } else if plausible {
                for dir in [Direction::ToServer, Direction::ToClient] {
                    self.halves[dir.index()].finish(pool, ts, out.get_mut(dir));
                }
            } else {
                pool.counters.out_of_window += 1;
            }
            return out;
        }

        let mut data_seq = seg.seq;
        {
            let h = &mut self.halves[d];
            if flags.syn() {
                data_seq = seg.seq.wrapping_add(1);
                if !h.init || (h.pristine() && !h.closed) {
                    h.start_at(data_seq, true);
                }
            } else if !seg.payload.is_empty() && !h.init {
                h.start_at(seg.seq, false);
                pool.counters.midstream += 1;
            } else if !seg.payload.is_empty()
                && !h.syn
                && h.pristine()
                && h.offset_of(seg.seq) < 0
                && h.offset_of(seg.seq) > -(pool.cfg.max_ahead as i64)
            {
                // Base guessed from the peer's ACK; this data starts before it: trust the data.
                h.start_at(seg.seq, false);
            }
        }
        // A segment from the peer: its ACK handling reassembles the peer's acknowledged data.
        self.halves[p].own_wait = false;
        self.halves[p].ack_early = false;
        if flags.ack() {
            let h = &mut self.halves[d];
            if h.syn && !h.ack_flag && !h.held.is_empty() {
                h.own_wait = true;
            }
            h.ack_flag = true;
        }
        if flags.ack() && flags.syn() {
            // A SYN/ACK acknowledges nothing for reassembly (Suricata runs none on it): data
            // on a Fast Open SYN is delivered on the server's next ACK once the client has sent
            // an ACK (`Half::ack_flag`). It only tells where a
            // mid-stream client's data starts.
            let peer = &mut self.halves[p];
            if !peer.init {
                peer.start_at(seg.ack, false);
                pool.counters.midstream += 1;
            }
        } else if flags.ack() {
            self.halves[p].on_ack(pool, seg.ack);
        }
        let h = &mut self.halves[d];
        let mut fin = flags.fin();
        if h.oneside > 0 && h.syn && !flags.syn() && flags.ack() && !h.oneside_win {
            if let (false, true, Some(w)) = (fin, seg.payload.is_empty(), seg.window) {
                h.oneside_win_end = seg.seq.wrapping_add(u32::from(w));
                h.oneside_win = true;
            }
        }
        if fin && h.oneside > 0 {
            let end = seg.seq.wrapping_add(seg.payload.len() as u32);
            fin = !h.oneside_win || end.wrapping_sub(h.oneside_win_end) as i32 <= 0;
            if fin && dir == Direction::ToServer {
                h.fin_flush = true;
            }
        }
        if h.init {
            if !seg.payload.is_empty()
                && pool.cfg.delivery == Delivery::Acked
                && h.oneside == 0
                && h.ack_seen
                && h.acked > h.delivered
            {
                h.ack_early = true;
            }
            let start = h.offset_of(data_seq);
            if fin && h.fin.is_none() {
                let f = start.saturating_add(seg.payload.len() as i64);
                if f >= h.delivered as i64 {
                    h.fin = Some(f as u64);
                }
            }
            h.insert(pool, ts, start, seg.payload, out.get_mut(dir));
            h.progress(pool, ts, false, out.get_mut(dir));
        }
        let peer = &mut self.halves[p];
        if peer.init && !peer.closed {
            peer.progress(pool, ts, false, out.get_mut(dir.reversed()));
        }
        let peer_fin = self.halves[p].fin.is_some();
        let h = &mut self.halves[d];
        if h.own_wait && (out.get(dir.reversed()).bytes > 0 || (fin && flags.ack() && peer_fin)) {
            // The peer's data reached the app layer (its protocol detection hands over this
            // direction's data first), or a FIN after the peer's reassembles both directions.
            h.own_wait = false;
            if h.init && !h.closed {
                h.progress(pool, ts, false, out.get_mut(dir));
            }
        }
        if h.ack_early && fin && flags.ack() && peer_fin {
            // A FIN after the peer's reassembles both directions.
            h.ack_early = false;
            if h.init && !h.closed {
                h.progress(pool, ts, false, out.get_mut(dir));
            }
        }
        out
    }

    /// Skips holes in directions stalled past the gap timeout at `ts` (also done on every
    /// segment; call it when a flow is idle to bound the delay).
    pub fn poll(&mut self, pool: &mut StreamPool, ts: Timestamp) -> NewData {
        let mut out = NewData::default();
        self.check_timeouts(pool, ts, &mut out);
        out
    }

    fn check_timeouts(&mut self, pool: &mut StreamPool, ts: Timestamp, out: &mut NewData) {
        for dir in [Direction::ToServer, Direction::ToClient] {
            let h = &mut self.halves[dir.index()];
            // One-sided: in-order data waiting for its chunk is not stalled.
            if h.closed || h.reset || (h.oneside > 0 && h.ready_in_order() > 0) {
                continue;
            }
            if let Some(since) = h.stall_since {
                if since.expired(ts, pool.cfg.gap_timeout_secs) {
                    h.progress(pool, ts, true, out.get_mut(dir));
                }
            }
        }
    }

    /// Ends both directions (flow end or timeout): delivers everything held, holes skipped.
    pub fn flush(&mut self, pool: &mut StreamPool, ts: Timestamp) -> NewData {
        let mut out = NewData::default();
        for dir in [Direction::ToServer, Direction::ToClient] {
            self.halves[dir.index()].finish(pool, ts, out.get_mut(dir));
        }
        out
    }

    /// The next chunk of `dir` to inspect (new bytes plus kept context), if any. After a gap,
    /// the bytes on each side come in separate chunks.
    pub fn pending(&self, dir: Direction) -> Option<Chunk<'_>> {
        self.halves[dir.index()].pending()
    }

    /// Marks the chunk [`StreamTracker::pending`] returned as inspected, freeing what is no
    /// longer needed as context.
    pub fn consume(&mut self, pool: &mut StreamPool, dir: Direction) {
        self.halves[dir.index()].consume(pool);
    }

    /// Marks everything delivered in `dir` as inspected.
    pub fn consume_all(&mut self, pool: &mut StreamPool, dir: Direction) {
        let h = &mut self.halves[dir.index()];
        while h.insp < h.win_end() {
            h.consume(pool);
        }
    }

    /// Stream offset of the next byte `dir` will deliver (bytes delivered + skipped).
    pub fn delivered_offset(&self, dir: Direction) -> u64 {
        self.halves[dir.index()].delivered
    }

    /// Bytes `dir` holds past the delivery point.
    pub fn held_bytes(&self, dir: Direction) -> usize {
        self.halves[dir.index()].held_bytes
    }

    /// `dir` takes no more data (FIN reached, RST, flush, depth).
    pub fn is_closed(&self, dir: Direction) -> bool {
        self.halves[dir.index()].closed
    }

    /// `dir` reached the reassembly depth.
    pub fn depth_reached(&self, dir: Direction) -> bool {
        self.halves[dir.index()].depth_hit
    }

    /// Suricata's `next_seq - isn` of `dir` (what `stream_size` compares): 1 for the SYN (or
    /// the mid-stream pickup) plus the bytes received in order, plus 1 for a FIN reached in
    /// order; 0 before the direction's first sequence number is known. Read-only.
    pub fn seq_size(&self, dir: Direction) -> u32 {
        let h = &self.halves[dir.index()];
        if !h.init {
            return 0;
        }
        let mut end = h.delivered;
        for c in &h.held {
            if c.start > end {
                break;
            }
            end = end.max(c.end());
        }
        let fin = u64::from(h.fin.is_some_and(|f| f <= end));
        end.wrapping_add(1).wrapping_add(fin) as u32
    }

    /// Heap bytes this tracker holds (what it charged to its pool).
    pub fn heap_bytes(&self) -> usize {
        self.halves.iter().map(Half::heap_bytes).sum()
    }

    /// Marks the session one-sided (`Some(chunk)`: only one side is seen, as
    /// `crate::FlowRef::is_one_sided` tells) or not (`None`). While one-sided, in
    /// [`Delivery::Acked`] mode a direction delivers its in-order data once `chunk` bytes wait,
    /// and all of it when the client sends its FIN, instead of waiting for ACKs that will
    /// never be seen; the flow end delivers the rest as usual.
    pub fn set_one_sided(&mut self, chunk: Option<usize>) {
        let c = chunk.map_or(0, |c| c.clamp(1, u32::MAX as usize) as u32);
        for h in &mut self.halves {
            h.oneside = c;
            if c == 0 {
                h.fin_flush = false;
            }
        }
    }

    /// Tells whether the session is still in its handshake (Suricata's SYN_SENT or SYN_RECV:
    /// `crate::PacketFlags::IN_HANDSHAKE` of the packet about to be passed). In
    /// [`Delivery::Acked`] mode a RST then closes the session without delivering anything: what
    /// is held (a Fast Open SYN's data) is delivered by [`StreamTracker::flush`] at the flow
    /// end, as Suricata's flow-end pseudo packets reassemble it.
    pub fn set_in_handshake(&mut self, handshake: bool) {
        for h in &mut self.halves {
            h.handshake = handshake;
        }
    }

    /// Swaps the two directions: call when the flow's client and server are swapped after
    /// this tracker was created ([`crate::FlowRef::reverse`] by the app layer, or the flow
    /// table making a late SYN's sender the client), so `dir` keeps meaning the same bytes.
    pub fn reverse(&mut self) {
        self.halves.swap(0, 1);
    }

    /// Releases every heap byte back to `pool` (call before dropping a tracker that is not in
    /// a [`StreamTable`]).
    pub fn release(&mut self, pool: &mut StreamPool) {
        for h in &mut self.halves {
            h.free_all(pool);
        }
        *self = StreamTracker::default();
    }
}

/// A handle to a tracker in a [`StreamTable`]: 8 bytes, to keep in the engine's per-flow slot
/// (`Option<StreamHandle>`). Stale handles (the tracker was released or expired) are detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StreamHandle {
    index: u32,
    gen: u32,
}

#[derive(Debug, Clone, Default)]
struct Slot {
    gen: u32,
    live: bool,
    flow_id: u64,
    last_seen: Timestamp,
    next_free: u32,
    tracker: StreamTracker,
}

const NO_SLOT: u32 = u32::MAX;

/// Per-worker side table of [`StreamTracker`]s, outside the flow table: a slab grown on demand
/// (within the memcap) and allocated only for TCP flows that send a SYN or data.
#[derive(Debug, Clone)]
pub struct StreamTable {
    pool: StreamPool,
    slots: Vec<Slot>,
    free_head: u32,
    cursor: usize,
}

impl StreamTable {
    /// An empty table; nothing is allocated until the first tracker.
    pub fn new(cfg: StreamConfig) -> Self {
        StreamTable {
            pool: StreamPool::new(cfg),
            slots: Vec::new(),
            free_head: NO_SLOT,
            cursor: 0,
        }
    }

    /// Bytes of one slot (tracker without buffers plus bookkeeping).
    pub const fn bytes_per_tracker() -> usize {
        size_of::<Slot>()
    }

    /// The pool (counters, memory).
    pub const fn pool(&self) -> &StreamPool {
        &self.pool
    }

    /// Counters.
    pub fn counters(&self) -> StreamCounters {
        self.pool.counters()
    }

    /// Heap bytes held now (slab plus buffers), at most the memcap.
    pub const fn memory_bytes(&self) -> usize {
        self.pool.used
    }

    fn slot(&self, h: StreamHandle) -> Option<&Slot> {
        self.slots
            .get(h.index as usize)
            .filter(|s| s.live && s.gen == h.gen)
    }

    fn alloc(&mut self, flow_id: u64, ts: Timestamp) -> Option<StreamHandle> {
        let index = if self.free_head != NO_SLOT {
            let i = self.free_head;
            self.free_head = self.slots.get(i as usize)?.next_free;
            i
        } else {
            if self.slots.len() >= NO_SLOT as usize - 1
                || !reserve(&mut self.slots, 1, &mut self.pool, 0)
            {
                return None;
            }
            self.slots.push(Slot::default());
            (self.slots.len() - 1) as u32
        };
        let s = self.slots.get_mut(index as usize)?;
        s.gen = s.gen.wrapping_add(1);
        s.live = true;
        s.flow_id = flow_id;
        s.last_seen = ts;
        s.next_free = NO_SLOT;
        s.tracker = StreamTracker::default();
        self.pool.counters.trackers_created += 1;
        self.pool.counters.trackers_active += 1;
        Some(StreamHandle { index, gen: s.gen })
    }

    /// Processes a segment of flow `flow_id` (see [`StreamTracker::on_segment`]). `handle` is
    /// the flow's slot: `None` (or stale) gets a tracker when the segment carries a SYN or
    /// data; if the memcap refuses one it stays `None` (counted in `memcap_hits`).
    pub fn on_segment(
        &mut self,
        handle: &mut Option<StreamHandle>,
        flow_id: u64,
        ts: Timestamp,
        dir: Direction,
        seg: &Segment<'_>,
    ) -> NewData {
        let live = handle.filter(|h| self.slot(*h).is_some_and(|s| s.flow_id == flow_id));
        let h = match live {
            Some(h) => h,
            None => {
                *handle = None;
                if !seg.flags.syn() && seg.payload.is_empty() {
                    return NewData::default();
                }
                match self.alloc(flow_id, ts) {
                    Some(h) => {
                        *handle = Some(h);
                        h
                    }
                    None => {
                        self.pool.counters.memcap_hits += 1;
                        return NewData::default();
                    }
                }
            }
        };
        let Some(slot) = self.slots.get_mut(h.index as usize) else {
            return NewData::default();
        };
        slot.last_seen = slot.last_seen.max(ts);
        slot.tracker.on_segment(&mut self.pool, ts, dir, seg)
    }

    /// The tracker behind `handle`, if it is still live.
    pub fn tracker(&self, handle: StreamHandle) -> Option<&StreamTracker> {
        self.slot(handle).map(|s| &s.tracker)
    }

    /// See [`StreamTracker::pending`].
    pub fn pending(&self, handle: StreamHandle, dir: Direction) -> Option<Chunk<'_>> {
        self.tracker(handle)?.pending(dir)
    }

    /// See [`StreamTracker::consume`].
    pub fn consume(&mut self, handle: StreamHandle, dir: Direction) {
        if self.slot(handle).is_some() {
            if let Some(s) = self.slots.get_mut(handle.index as usize) {
                s.tracker.consume(&mut self.pool, dir);
            }
        }
    }

    /// See [`StreamTracker::consume_all`].
    pub fn consume_all(&mut self, handle: StreamHandle, dir: Direction) {
        if self.slot(handle).is_some() {
            if let Some(s) = self.slots.get_mut(handle.index as usize) {
                s.tracker.consume_all(&mut self.pool, dir);
            }
        }
    }

    /// See [`StreamTracker::poll`].
    pub fn poll(&mut self, handle: StreamHandle, ts: Timestamp) -> NewData {
        if self.slot(handle).is_none() {
            return NewData::default();
        }
        match self.slots.get_mut(handle.index as usize) {
            Some(s) => s.tracker.poll(&mut self.pool, ts),
            None => NewData::default(),
        }
    }

    /// See [`StreamTracker::flush`].
    pub fn flush(&mut self, handle: StreamHandle, ts: Timestamp) -> NewData {
        if self.slot(handle).is_none() {
            return NewData::default();
        }
        match self.slots.get_mut(handle.index as usize) {
            Some(s) => s.tracker.flush(&mut self.pool, ts),
            None => NewData::default(),
        }
    }

    /// See [`StreamTracker::set_one_sided`].
    pub fn set_one_sided(&mut self, handle: StreamHandle, chunk: Option<usize>) {
        if self.slot(handle).is_some() {
            if let Some(s) = self.slots.get_mut(handle.index as usize) {
                s.tracker.set_one_sided(chunk);
            }
        }
    }

    /// See [`StreamTracker::set_in_handshake`].
    pub fn set_in_handshake(&mut self, handle: StreamHandle, handshake: bool) {
        if self.slot(handle).is_some() {
            if let Some(s) = self.slots.get_mut(handle.index as usize) {
                s.tracker.set_in_handshake(handshake);
            }
        }
    }

    /// See [`StreamTracker::reverse`].
    pub fn reverse(&mut self, handle: StreamHandle) {
        if self.slot(handle).is_some() {
            if let Some(s) = self.slots.get_mut(handle.index as usize) {
                s.tracker.reverse();
            }
        }
    }

    /// Frees the tracker behind `handle` (flow ended). Stale handles are ignored.
    pub fn release(&mut self, handle: StreamHandle) {
        if self.slot(handle).is_some() {
            self.free_slot(handle.index);
        }
    }

    fn free_slot(&mut self, index: u32) {
        let Some(s) = self.slots.get_mut(index as usize) else {
            return;
        };
        s.tracker.release(&mut self.pool);
        s.live = false;
        s.next_free = self.free_head;
        self.free_head = index;
        self.pool.counters.trackers_active = self.pool.counters.trackers_active.saturating_sub(1);
    }

    /// Frees trackers not fed for more than `idle_secs` at `now`, visiting at most `max` slots
    /// (round robin, bounded work per call). This reclaims trackers of flows the flow table
    /// evicted without telling the engine. Returns how many were freed.
    pub fn expire(&mut self, now: Timestamp, idle_secs: u32, max: usize) -> usize {
        let n = self.slots.len();
        if n == 0 {
            return 0;
        }
        let mut freed = 0;
        for _ in 0..max.min(n) {
            self.cursor = (self.cursor + 1) % n;
            let i = self.cursor;
            let expired = self
                .slots
                .get(i)
                .is_some_and(|s| s.live && s.last_seen.expired(now, idle_secs));
            if expired {
                self.free_slot(i as u32);
                freed += 1;
            }
        }
        freed
    }

    /// Recomputes the heap bytes held from the structures themselves (for tests: equals
    /// [`StreamTable::memory_bytes`]).
    pub fn audit_bytes(&self) -> usize {
        self.slots.capacity() * size_of::<Slot>()
            + self
                .slots
                .iter()
                .map(|s| s.tracker.heap_bytes())
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: u8 = TcpFlags::ACK;
    const S: u8 = TcpFlags::SYN;
    const SA: u8 = TcpFlags::SYN | TcpFlags::ACK;

    fn ts(s: u64) -> Timestamp {
        Timestamp::from_secs(s)
    }

    fn seg(seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Segment<'_> {
        Segment {
            seq,
            ack,
            flags: TcpFlags(flags),
            payload,
            window: None,
        }
    }

    fn drain(t: &mut StreamTracker, pool: &mut StreamPool, dir: Direction) -> Vec<u8> {
        let mut v = Vec::new();
        while let Some(c) = t.pending(dir) {
            v.extend_from_slice(c.new_bytes());
            t.consume(pool, dir);
        }
        v
    }

    #[test]
    fn test_policy_table() {
        use OverlapPolicy::*;
        // (new, old) → expected new_wins per policy [First, Last, Bsd, Linux, OldLinux, Solaris]
        let cases: &[(Range, Range, [bool; 6])] = &[
            // same start, new ends before
            (
                (10, 15),
                (10, 20),
                [false, true, false, false, false, false],
            ),
            // same start, same end
            ((10, 20), (10, 20), [false, true, false, false, true, true]),
            // same start, new ends after
            ((10, 25), (10, 20), [false, true, false, true, true, true]),
            // new starts before, ends inside
            ((5, 15), (10, 20), [false, true, true, true, true, false]),
            // new starts before, covers
            ((5, 25), (10, 20), [false, true, true, true, true, true]),
            // new starts after, ends inside
            (
                (12, 18),
                (10, 20),
                [false, true, false, false, false, false],
            ),
            // new starts after, same end
            (
                (12, 20),
                (10, 20),
                [false, true, false, false, false, false],
            ),
            // new starts after, ends after
            ((12, 25), (10, 20), [false, true, false, false, false, true]),
        ];
        for (new, old, want) in cases {
            for (p, w) in [First, Last, Bsd, Linux, OldLinux, Solaris]
                .iter()
                .zip(want)
            {
                assert_eq!(p.new_wins(*new, *old), *w, "{p:?} new {new:?} old {old:?}");
            }
        }
        assert_eq!(OverlapPolicy::from_suricata_name("windows"), Some(Bsd));
        assert_eq!(OverlapPolicy::from_suricata_name("hpux11"), Some(Solaris));
        assert_eq!(OverlapPolicy::from_suricata_name("nope"), None);
    }

    #[test]
    fn test_in_order_after_handshake() {
        let mut pool = StreamPool::new(StreamConfig::default());
        let mut t = StreamTracker::new();
        let c = Direction::ToServer;
        t.on_segment(&mut pool, ts(1), c, &seg(100, 0, S, b""));
        t.on_segment(&mut pool, ts(1), c.reversed(), &seg(500, 101, SA, b""));
        let n = t.on_segment(&mut pool, ts(1), c, &seg(101, 501, A, b"GET / HT"));
        assert_eq!(n.to_server.bytes, 8);
        let n = t.on_segment(&mut pool, ts(1), c, &seg(109, 501, A, b"TP/1.0\r\n"));
        assert_eq!(n.to_server.bytes, 8);
        let ch = t.pending(c).unwrap();
        assert_eq!(
            (ch.data, ch.new_from, ch.offset),
            (&b"GET / HTTP/1.0\r\n"[..], 0, 0)
        );
        t.consume(&mut pool, c);
        assert!(t.pending(c).is_none());
        // Context kept: the next chunk shows the previous bytes before the new ones.
        t.on_segment(&mut pool, ts(1), c, &seg(117, 501, A, b"Host"));
        let ch = t.pending(c).unwrap();
        assert_eq!(ch.data, b"GET / HTTP/1.0\r\nHost");
        assert_eq!(ch.new_bytes(), b"Host");
        assert_eq!(ch.new_from, 16);
        // Server data.
        t.on_segment(
            &mut pool,
            ts(1),
            c.reversed(),
            &seg(501, 121, A, b"HTTP/1.0 200"),
        );
        assert_eq!(drain(&mut t, &mut pool, c.reversed()), b"HTTP/1.0 200");
        assert_eq!(pool.memory_bytes(), t.heap_bytes());
    }

    #[test]
    fn test_syn_data_only_with_tfo_option() {
        let tfo = [2, 4, 5, 0xb4, 34, 10, 1, 2, 3, 4, 5, 6, 7, 8];
        let syn = TcpFlags(S);
        assert_eq!(Segment::from_tcp(1, 0, syn, &tfo, b"GET").payload, b"GET");
        assert_eq!(
            Segment::from_tcp(1, 0, syn, &[2, 4, 5, 0xb4], b"GET").payload,
            b""
        );
        // SYN/ACK data is never stream data, with or without the option.
        assert_eq!(
            Segment::from_tcp(1, 2, TcpFlags(SA), &tfo, b"x").payload,
            b""
        );
        assert_eq!(
            Segment::from_tcp(1, 2, TcpFlags(A), &[], b"x").payload,
            b"x"
        );
    }

    /// Suricata delivers a Fast Open SYN's data when the server acknowledges it after the
    /// SYN/ACK (it runs no reassembly on the SYN/ACK), in IDS (`Acked`) mode.
    #[test]
    fn test_tfo_syn_data_delivered_on_server_ack_not_synack() {
        let mut pool = StreamPool::new(StreamConfig::replay());
        let mut t = StreamTracker::new();
        let c = Direction::ToServer;
        let tfo = [34, 10, 1, 2, 3, 4, 5, 6, 7, 8];
        let req = b"GET / HTTP/1.0\r\n\r\n";
        let end = 101 + req.len() as u32;
        let syn = Segment::from_tcp(100, 0, TcpFlags(S), &tfo, req);
        let n = t.on_segment(&mut pool, ts(1), c, &syn);
        assert!(!n.any());
        // The SYN/ACK acknowledges the data: nothing delivered yet.
        let n = t.on_segment(&mut pool, ts(1), c.reversed(), &seg(500, end, SA, b""));
        assert_eq!(n.to_server.bytes, 0);
        // The client's ACK neither.
        let n = t.on_segment(&mut pool, ts(1), c, &seg(end, 501, A, b""));
        assert_eq!(n.to_server.bytes, 0);
        // The server's next packet does, from ISN + 1.
        let n = t.on_segment(&mut pool, ts(1), c.reversed(), &seg(501, end, A, b"HTTP"));
        assert_eq!(n.to_server.bytes, req.len() as u64);
        let ch = t.pending(c).unwrap();
        assert_eq!((ch.data, ch.offset), (&req[..], 0));
        t.release(&mut pool);
        assert_eq!(pool.memory_bytes(), 0);
    }

    /// tcp-fastopen-07's first session: the server answers the Fast Open SYN's request and
    /// closes before the client sends any ACK. Suricata reassembles the SYN's data neither on the
    /// server's segments (the client's stream has no ACK flag yet) nor on the client's first ACK
    /// (IDS reassembly of a stream runs on the peer's segments), but when the client's next ACK
    /// brings the server's data to the app layer, whose protocol detection hands over the
    /// direction seen first.
    #[test]
    fn test_tfo_syn_data_waits_for_the_clients_ack() {
        let mut pool = StreamPool::new(StreamConfig::replay());
        let mut t = StreamTracker::new();
        let c = Direction::ToServer;
        let tfo = [34, 2];
        let req = b"GET /index.php HTTP/1.1\r\nUser-Agent: Mozilla/5.0\r\nAccept: */*\r\n\r\n";
        let resp = [b'x'; 309];
        let (cisn, sisn) = (3_211_917_998_u32, 3_335_201_646_u32);
        let cend = cisn + 1 + req.len() as u32;
        let syn = Segment::from_tcp(cisn, 0, TcpFlags(S), &tfo, req);
        assert!(!t.on_segment(&mut pool, ts(1), c, &syn).any());
        let s = c.reversed();
        let n = t.on_segment(&mut pool, ts(1), s, &seg(sisn, cend, SA, b""));
        assert_eq!(n.to_server.bytes, 0);
        // The server's response and FIN acknowledge the request: not delivered.
        let psh = A | TcpFlags::PSH;
        let n = t.on_segment(&mut pool, ts(1), s, &seg(sisn + 1, cend, psh, &resp));
        assert_eq!(n.to_server.bytes, 0);
        let fin = seg(sisn + 310, cend, A | TcpFlags::FIN, b"");
        assert_eq!(t.on_segment(&mut pool, ts(1), s, &fin).to_server.bytes, 0);
        // The client's first ACK (of the SYN/ACK only): nothing either way.
        let n = t.on_segment(&mut pool, ts(1), c, &seg(cend, sisn + 1, A, b""));
        assert!(!n.any());
        // Its ACK of 244 response bytes: the response, and the request with it.
        let n = t.on_segment(&mut pool, ts(1), c, &seg(cend, sisn + 245, A, b""));
        assert_eq!(
            (n.to_server.bytes, n.to_client.bytes),
            (req.len() as u64, 244)
        );
        assert_eq!(drain(&mut t, &mut pool, c), req);
        t.release(&mut pool);
        assert_eq!(pool.memory_bytes(), 0);
    }

    /// After the client's first ACK, the acknowledged Fast Open data waits for a segment of the
    /// server (or one of the client bringing server data, or a FIN after the server's): the
    /// client's own segments do not reassemble it.
    #[test]
    fn test_tfo_syn_data_after_the_clients_ack_waits_for_the_server() {
        let mut pool = StreamPool::new(StreamConfig::replay());
        let mut t = StreamTracker::new();
        let c = Direction::ToServer;
        let req = b"GET / HTTP/1.0\r\n\r\n";
        let end = 101 + req.len() as u32;
        t.on_segment(
            &mut pool,
            ts(1),
            c,
            &Segment::from_tcp(100, 0, TcpFlags(S), &[34, 2], req),
        );
        t.on_segment(&mut pool, ts(1), c.reversed(), &seg(500, end, SA, b""));
        t.on_segment(&mut pool, ts(1), c.reversed(), &seg(501, end, A, b""));
        assert_eq!(
            t.on_segment(&mut pool, ts(1), c, &seg(end, 501, A, b""))
                .to_server
                .bytes,
            0
        );
        assert_eq!(
            t.on_segment(&mut pool, ts(1), c, &seg(end, 501, A, b""))
                .to_server
                .bytes,
            0
        );
        let n = t.on_segment(&mut pool, ts(1), c.reversed(), &seg(501, end, A, b""));
        assert_eq!(n.to_server.bytes, req.len() as u64);
        // Without the client's ACK flag, a FIN after the server's delivers it.
        let mut t2 = StreamTracker::new();
        t2.on_segment(
            &mut pool,
            ts(1),
            c,
            &Segment::from_tcp(100, 0, TcpFlags(S), &[34, 2], req),
        );
        t2.on_segment(&mut pool, ts(1), c.reversed(), &seg(500, end, SA, b""));
        let sfin = seg(501, end, A | TcpFlags::FIN, b"");
        assert_eq!(
            t2.on_segment(&mut pool, ts(1), c.reversed(), &sfin)
                .to_server
                .bytes,
            0
        );
        let cfin = seg(end, 502, A | TcpFlags::FIN, b"");
        assert_eq!(
            t2.on_segment(&mut pool, ts(1), c, &cfin).to_server.bytes,
            req.len() as u64
        );
        t.release(&mut pool);
        t2.release(&mut pool);
        assert_eq!(pool.memory_bytes(), 0);
    }

    /// One-sided sessions (`stream.async-oneside`): nothing acknowledges the side seen, so its
    /// in-order data is delivered per chunk and at the client's FIN; a hole is not skipped
    /// for it, and waiting for the chunk is not a stall.
    #[test]
    fn test_one_sided_delivery() {
        let mut pool = StreamPool::new(StreamConfig::replay());
        let mut t = StreamTracker::new();
        let c = Direction::ToServer;
        t.on_segment(&mut pool, ts(1), c, &seg(100, 0, S, b""));
        t.set_one_sided(Some(8));
        let n = t.on_segment(&mut pool, ts(1), c, &seg(101, 7, A, b"GET "));
        assert_eq!(n.to_server.bytes, 0);
        // Ten seconds later: still waiting for the chunk (no gap timeout).
        let n = t.on_segment(&mut pool, ts(11), c, &seg(105, 7, A, b""));
        assert_eq!(n.to_server.bytes, 0);
        let n = t.on_segment(&mut pool, ts(11), c, &seg(105, 7, A, b"/ HTTP"));
        assert_eq!(n.to_server.bytes, 10);
        // A hole: what follows it waits.
        let n = t.on_segment(&mut pool, ts(11), c, &seg(120, 7, A, b"Host: a\r\n"));
        assert_eq!(n.to_server.bytes, 0);
        let n = t.on_segment(&mut pool, ts(11), c, &seg(111, 7, A, b"/1.0\r\n"));
        assert_eq!(n.to_server.bytes, 0);
        // The client's FIN delivers everything in order, up to the hole.
        let n = t.on_segment(&mut pool, ts(11), c, &seg(130, 7, TcpFlags::FIN | A, b""));
        assert_eq!(n.to_server.bytes, 6);
        assert_eq!(drain(&mut t, &mut pool, c), b"GET / HTTP/1.0\r\n");
        // Not one-sided: nothing is delivered without the peer's ACK.
        let mut t2 = StreamTracker::new();
        t2.on_segment(&mut pool, ts(1), c, &seg(100, 0, S, b""));
        let n = t2.on_segment(&mut pool, ts(1), c, &seg(101, 7, A, b"GET / HTTP"));
        assert_eq!(n.to_server.bytes, 0);
        t.release(&mut pool);
        t2.release(&mut pool);
        assert_eq!(pool.memory_bytes(), 0);
    }

    /// Suricata refuses a one-sided client's FIN ending past the window of the ACK that
    /// completed its handshake (suricata-verify stream-async-6063-cli-01: window 256, 396
    /// bytes sent): the data then waits for the flow end.
    #[test]
    fn test_one_sided_fin_past_window_is_refused() {
        let c = Direction::ToServer;
        for (window, flushed) in [(256u16, false), (16000, true)] {
            let mut pool = StreamPool::new(StreamConfig::replay());
            let mut t = StreamTracker::new();
            t.on_segment(&mut pool, ts(1), c, &seg(100, 0, S, b""));
            t.set_one_sided(Some(2560));
            t.on_segment(
                &mut pool,
                ts(1),
                c,
                &seg(101, 7, A, b"").with_window(window),
            );
            let data = [b'x'; 396];
            t.on_segment(
                &mut pool,
                ts(1),
                c,
                &seg(101, 7, A, &data).with_window(window),
            );
            let fin = seg(497, 7, TcpFlags::FIN | A, b"").with_window(window);
            let n = t.on_segment(&mut pool, ts(1), c, &fin);
            assert_eq!(n.to_server.bytes == 396, flushed, "window {window}");
            assert_eq!(n.to_server.eof, flushed, "window {window}");
            let n = t.flush(&mut pool, ts(2));
            assert_eq!(n.to_server.bytes == 396, !flushed, "window {window}");
            t.release(&mut pool);
        }
    }

    /// Decodes the hex of a captured payload.
    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// bench-mixed.pcap packets 73819-73840 (192.168.1.10:49216 -> 192.168.1.2:445): the
    /// server's ACK of the client's SMB negotiate request was captured before the request.
    /// Suricata reassembles the request when it comes (no gap: nothing lies past it); it was
    /// skipped as a hole at the ACK, then taken for a retransmission and never inspected.
    #[test]
    fn test_data_captured_after_its_ack_is_delivered() {
        let mut pool = StreamPool::new(StreamConfig::replay());
        let mut t = StreamTracker::new();
        let (c, s) = (Direction::ToServer, Direction::ToClient);
        let req = unhex(
            "0000002fff534d4272000000000801c8000000000000000000000000ffff0100ffff0000000c00024e\
             54204c4d20302e313200",
        );
        let resp = unhex(
            "0000009fff534d4272000000008801c8000000000000000000000000ffff0100ffff00001100000332\
             000100044100000000010050780000fdf30080302f1884cbbad301c4ff005a00747334313200000000\
             00000000000000604806062b0601050502a03e303ca00e300c060a2b06010401823702020aa32a3028\
             a0261b246e6f745f646566696e65645f696e5f5246433431373840706c656173655f69676e6f7265",
        );
        assert_eq!((req.len(), resp.len()), (51, 163));
        const AP: u8 = TcpFlags::ACK | TcpFlags::PSH;
        t.on_segment(&mut pool, ts(1), c, &seg(443317320, 0, S, b""));
        t.on_segment(&mut pool, ts(1), s, &seg(3268579866, 443317321, SA, b""));
        t.on_segment(&mut pool, ts(1), c, &seg(443317321, 3268579867, A, b""));
        // The server acknowledges the 51 request bytes before they are seen: no gap yet.
        let n = t.on_segment(&mut pool, ts(1), s, &seg(3268579867, 443317372, A, b""));
        assert_eq!(n.to_server, DirNew::default());
        // The request: IDS reassembly of it runs on the server's next segment, not on its own.
        let n = t.on_segment(&mut pool, ts(1), c, &seg(443317321, 3268579867, AP, &req));
        assert_eq!(n.to_server.bytes, 0);
        // The server's response (acknowledging the request again).
        let n = t.on_segment(&mut pool, ts(1), s, &seg(3268579867, 443317372, AP, &resp));
        assert_eq!(n.to_server.bytes, 51);
        assert_eq!(drain(&mut t, &mut pool, c), req);
        assert!(req.windows(5).any(|w| w == b"\xffSMBr"));
        let k = pool.counters();
        assert_eq!((k.gaps, k.gap_bytes), (0, 0));
        assert_eq!(t.seq_size(c), 52);
        // The client's ACK of the response delivers it.
        t.on_segment(&mut pool, ts(1), c, &seg(443317372, 3268580030, A, b""));
        assert_eq!(drain(&mut t, &mut pool, s), resp);
        t.release(&mut pool);
    }

    /// A hole the peer acknowledged is still skipped once data past it arrives, and an
    /// acknowledged FIN behind a hole still ends the direction.
    #[test]
    fn test_acked_hole_skipped_when_data_follows_or_fin_acked() {
        let mut pool = StreamPool::new(StreamConfig::replay());
        let mut t = StreamTracker::new();
        let (c, s) = (Direction::ToServer, Direction::ToClient);
        t.on_segment(&mut pool, ts(1), c, &seg(100, 0, S, b""));
        t.on_segment(&mut pool, ts(1), s, &seg(500, 101, SA, b""));
        t.on_segment(&mut pool, ts(1), c, &seg(101, 501, A, b""));
        // [101, 111) lost before us; the server acknowledges it.
        t.on_segment(&mut pool, ts(1), s, &seg(501, 111, A, b""));
        assert_eq!(pool.counters().gaps, 0);
        t.on_segment(&mut pool, ts(1), c, &seg(111, 501, A, b"after"));
        let n = t.on_segment(&mut pool, ts(1), s, &seg(501, 116, A, b""));
        assert_eq!(pool.counters().gap_bytes, 10);
        assert_eq!(drain(&mut t, &mut pool, c), b"after");
        assert_eq!(t.delivered_offset(c), 15);
        assert!(!n.to_server.eof);
        // [116, 120) lost, then an empty FIN at 120 acknowledged: the direction ends.
        t.on_segment(&mut pool, ts(1), c, &seg(120, 501, A | TcpFlags::FIN, b""));
        let n = t.on_segment(&mut pool, ts(1), s, &seg(501, 121, A, b""));
        assert!(n.to_server.eof);
        assert!(t.is_closed(c));
        t.release(&mut pool);
    }

    /// A Fast Open SYN's data, a SYN/ACK acknowledging it, then the client's RST: the session
    /// is still in its handshake (Suricata's SYN_RECV), whose RST reassembles nothing; the
    /// data comes at the flow end, and nothing after the RST is taken.
    #[test]
    fn test_rst_in_handshake_leaves_the_data_to_the_flow_end() {
        const TFO: u8 = 0x22;
        let req = b"GET /tfo HTTP/1.1\r\nHost: example\r\n\r\n";
        let end = 1001 + req.len() as u32;
        let c = Direction::ToServer;
        for handshake in [true, false] {
            let mut pool = StreamPool::new(StreamConfig::replay());
            let mut t = StreamTracker::new();
            let syn = Segment::from_tcp(1000, 0, TcpFlags(S), &[TFO, 2], req);
            assert_eq!(syn.payload.len(), req.len());
            t.on_segment(&mut pool, ts(1), c, &syn);
            t.set_in_handshake(true);
            let n = t.on_segment(&mut pool, ts(1), c.reversed(), &seg(5000, end, SA, b""));
            assert!(!n.any());
            t.set_in_handshake(handshake);
            let n = t.on_segment(&mut pool, ts(2), c, &seg(end, 0, TcpFlags::RST, b""));
            if handshake {
                assert!(!n.any(), "{n:?}");
                assert!(t.pending(c).is_none());
                assert_eq!(t.held_bytes(c), req.len());
                // Nothing more is taken, and the gap timeout delivers nothing.
                t.set_in_handshake(false);
                let n = t.on_segment(&mut pool, ts(9), c, &seg(end, 5001, A, b"more"));
                assert!(!n.any());
                let n = t.flush(&mut pool, ts(10));
                assert_eq!(n.to_server.bytes, req.len() as u64);
                assert!(n.to_server.eof && n.to_client.eof);
            } else {
                // Established: the RST delivers what is held.
                assert_eq!(n.to_server.bytes, req.len() as u64);
                assert!(n.to_server.eof);
            }
            assert_eq!(drain(&mut t, &mut pool, c), req);
            t.release(&mut pool);
            assert_eq!(pool.memory_bytes(), 0);
        }
    }

    /// Memory figures quoted in the docs: a table slot (tracker without buffers) is 432 bytes
    /// on 64-bit targets; the handle kept in the flow entry is 8.
    #[test]
    fn test_sizes() {
        assert_eq!(size_of::<Half>(), 200);
        assert_eq!(size_of::<StreamTracker>(), 400);
        assert_eq!(StreamTable::bytes_per_tracker(), 432);
        assert_eq!(size_of::<StreamHandle>(), 8);
        assert_eq!(size_of::<Option<StreamHandle>>(), 12);
    }
}
