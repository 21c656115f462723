//! `seawall-flow`: flow tracking for Seawall, the layer between the wire decode (`seawall-wire`)
//! and detection.
//!
//! What it does, per worker, for every decoded inner packet:
//! - [`decode_frame`] reduces a capture frame (Ethernet with VLAN/QinQ, Linux SLL/SLL2, raw IP,
//!   GWLB GENEVE, MPLS, NSH, PPP, Cisco HDLC) to the L3 packet that `seawall_wire::decode_inner`
//!   takes, and [`decapsulate`] opens the tunnels Suricata opens (GRE, ERSPAN, VXLAN, GENEVE,
//!   Teredo, IP in IP) so their packets are inspected as packets of their own;
//! - [`Defrag`] reassembles IPv4/IPv6 fragments (Suricata's defaults: memcap 32 MiB, 65535
//!   trackers, timeout 60 s, BSD overlap policy) into pooled buffers;
//! - [`FlowTable::process`] maps the packet to its flow — key = GWLB endpoint id + symmetric
//!   5-tuple ([`FlowKey`]); ICMP errors map to the flow they quote, ICMP echo by identifier — and
//!   returns a [`FlowRef`]: flow id, the packet's [`Direction`] (to_server is from the flow's
//!   originator), its [`PacketFlags`] (`established` with Suricata's semantics), the TCP state and
//!   the engine's per-flow slot `T`.
//!
//! ```
//! use seawall_flow::{decode_frame, linktype, FlowConfig, FlowTable, Timestamp};
//! use seawall_wire::decode_inner;
//!
//! # let mut frame = vec![0u8; 12]; frame.extend_from_slice(&[0x08, 0x00]);
//! # etherparse::PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64).udp(1000, 53)
//! #     .write(&mut frame, b"q").unwrap();
//! let mut table: FlowTable<u32> = FlowTable::new(FlowConfig::default()).expect("memcap fits");
//! let f = decode_frame(linktype::ETHERNET, &frame).expect("ip frame");
//! let pkt = decode_inner(f.protocol, f.l3).expect("valid ip");
//! let endpoint = f.gwlb.map_or(0, |m| m.endpoint.0);
//! let mut flow = table.process(Timestamp::from_secs(1), endpoint, &pkt).expect("tracked");
//! assert!(!flow.flags().established()); // first packet of a UDP flow
//! *flow.data_mut() += 1; // engine state (flowbits, ...) lives here
//! ```
//!
//! Architecture invariants:
//! - **Sans-I/O**: no sockets, files, clock reads, threads or logging. Time is the packet
//!   timestamp passed in ([`Timestamp`]); `clippy.toml` bans `Instant::now`/`SystemTime::now`.
//! - **Never panics** on any input (proptests feed arbitrary packet sequences).
//! - **One owner, no locks**: a table and a defragmenter belong to one worker; both directions
//!   of a flow reach the same worker (DESIGN.md section 2).
//! - **Bounded memory**: the flow table allocates its whole capacity up front from its memcap
//!   (fixed per-flow size, [`FlowTable::bytes_per_flow`], ≤ 256 bytes for the engine's slot
//!   sizes) and never grows; the defragmenter accounts every byte it holds before allocating it.
//! - **Eviction order**: when the table is full, timed-out flows go first, then closed, then
//!   half-open/unanswered flows, and only then the longest-idle established flow. A flood of new
//!   flows evicts its own kind before any established flow.
//! - **Deterministic**: results depend only on the packets and their timestamps, never on when
//!   [`FlowTable::expire`] runs (a flow found expired on lookup is replaced as if it had been
//!   expired).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod defrag;
mod key;
pub mod link;
pub mod stream;
mod table;
mod tcp;
pub mod tunnel;

pub use defrag::{
    Defrag, DefragConfig, DefragCounters, DefragDrop, DefragResult, OverlapPolicy, Reassembled,
};
pub use key::{Direction, FlowKey, Untracked};
pub use link::{decode_frame, decode_link, linktype, Frame, FrameError, MAX_LAYERS};
pub use stream::{
    Chunk, Delivery, DirNew, NewData, OverlapPolicy as StreamOverlapPolicy, Segment, StreamConfig,
    StreamCounters, StreamHandle, StreamPool, StreamTable, StreamTracker,
};
pub use table::{
    ConfigError, FlowConfig, FlowCounters, FlowRef, FlowStats, FlowTable, PacketFlags, Timeouts,
};
pub use tcp::TcpState;
pub use tunnel::{decapsulate, Decap, TunnelError, TunnelKind};

/// A packet timestamp: microseconds since the Unix epoch (as in a pcap record).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// From whole seconds.
    pub const fn from_secs(secs: u64) -> Self {
        Timestamp(secs.saturating_mul(1_000_000))
    }
    /// From seconds and microseconds.
    pub const fn from_secs_micros(secs: u64, micros: u32) -> Self {
        Timestamp(secs.saturating_mul(1_000_000).saturating_add(micros as u64))
    }
    /// Microseconds since the epoch.
    pub const fn as_micros(self) -> u64 {
        self.0
    }
    /// Whole seconds since the epoch.
    pub const fn as_secs(self) -> u64 {
        self.0 / 1_000_000
    }
    /// Whether `timeout_secs` have passed since `self` at `now` (strictly more, as Suricata).
    pub const fn expired(self, now: Timestamp, timeout_secs: u32) -> bool {
        now.0 > self.0.saturating_add(timeout_secs as u64 * 1_000_000)
    }
}
