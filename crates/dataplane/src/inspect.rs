//! One worker's inspection pipeline, shared by `seawall replay` and the appliance's workers:
//!
//! ```text
//! capture frame ──decode_link───┐   ┌─ tunnel::decapsulate (inner packet: back to decode_inner)
//!                               ├─▶ decode_inner ─▶ Defrag (fragments) ─▶ FlowTable<FlowDetect>
//! GWLB inner packet ────────────┘                                          │
//!                                     alerts + verdict ◀── Engine::inspect ◀┘
//! ```
//!
//! Time is the packet timestamp, never the clock: flow and fragment expiry run when packet time
//! advances. Every packet that reaches the engine is handed, with its alerts, to a caller-supplied
//! sink ([`AlertEvent`]) only when it raised alerts, so the caller writes EVE records without
//! copying anything.
//!
//! Suricata parity (what `seawall replay` is compared on): fragments are inspected as packets of
//! their own (no flow), and the packet rebuilt from them is inspected once more with `pcap_cnt` 0,
//! as Suricata does with its pseudo packets. Midstream pickup is a setting ([`InspectConfig`]): off
//! for replay, as in Suricata's default config; on in the appliance.
//!
//! Tunnels (GRE, ERSPAN, VXLAN, GENEVE with or without the AWS options, Teredo, IP in IP; see
//! `seawall_flow::tunnel`) are opened as Suricata opens them: the inner packet is inspected first,
//! as a packet of its own (`pcap_cnt` 0, its flow keyed per tunnel depth, [`AlertEvent::tunnel`]),
//! then the carrier with header rules only. Only TCP, UDP, ICMP, SCTP and ESP packets (and
//! 6in4 carriers) have flows, as in Suricata: IP-only rules match every GRE packet.
//!
//! Streams and app layer (issue 5), per flow in a side table keyed by flow id (`FlowSide`):
//! - TCP segments of tracked sessions go to the per-worker [`StreamTable`] (replay: delivery on
//!   ACK, as `suricata -r`); delivered bytes feed protocol detection (content + port), then the
//!   flow's [`AppState`], and a raw-stream buffer per direction. UDP payloads feed DNS.
//! - Raw-stream inspection of a direction runs on a packet of that direction once 2560 bytes
//!   wait (`raw_chunk_size`), or when the app layer completed a message (Suricata's
//!   `AppLayerParserTriggerRawStreamReassembly`), or the stream depth was reached, or Suricata's
//!   session state is past TIME_WAIT (the client closed first, or the session is closed; a
//!   server-first close leaves the data to the flow end); the alert is on that packet. Payload
//!   rules match the stream there, or the packet's own payload when it was not added to the
//!   stream (or the rule needs the packet: depth/offset, dsize).
//! - Transactions are inspected on the next packet of their direction after their buffers
//!   became available (so a request parsed on the server's ACK alerts on the client's next
//!   packet), once per transaction and rule; bodies once complete. The app layer sees the end of
//!   the streams when the session closes (both FINs acknowledged, or RST).
//! - When a flow ends (timeout, or [`Inspector::finish`] at the end of a capture), its streams
//!   are flushed and what is left is inspected with one pseudo packet per direction
//!   (`pcap_cnt` 0), as Suricata does.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use seawall_applayer::{
    detect_dir, detection::other_side_probe, AppEvent, AppProto, AppState, Detect, EventKind,
    Limits, Transport as AppTransport,
};
use seawall_detect::{
    Alert, AppInput, DetectCtx, DirProto, Engine, FlowDetect, FlowInfo, PacketInfo, TxAlerted,
    TxRef, Verdict,
};
use seawall_flow::stream::{NewData, Segment, StreamConfig, StreamHandle, StreamTable};
use seawall_flow::tunnel::{decapsulate, has_flow, layer_endpoint, TunnelKind};
use seawall_flow::{
    decode_link, Defrag, DefragConfig, DefragResult, Direction, FlowConfig, FlowStats, FlowTable,
    PacketFlags, TcpState, Timestamp,
};
use seawall_wire::{
    decode_inner, FiveTuple, GwlbMeta, InnerPacket, IpVersion, Ports, TcpFlags, Transport,
};

/// Settings of one [`Inspector`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InspectConfig {
    /// Flow table (memcap, timeouts, midstream pickup).
    pub flow: FlowConfig,
    /// Defragmenter.
    pub defrag: DefragConfig,
    /// At most this many flows are expired per second of packet time (bounded work per packet).
    pub expire_batch: usize,
    /// TCP stream reassembly (per worker; `Delivery::Acked` for replay as `suricata -r`).
    pub stream: StreamConfig,
    /// App-layer parser limits.
    pub app: Limits,
    /// Raw-stream inspection runs once this many reassembled bytes of a direction are waiting
    /// (Suricata's `stream.reassembly.{toserver,toclient}-chunk-size`, 2560 without
    /// randomness), or earlier when the app layer completes a message in that direction.
    pub raw_chunk_size: usize,
}

impl InspectConfig {
    /// Offline replay compared with Suricata: Suricata's timeouts and ICMP flow key, midstream
    /// pickup as given (Suricata's default is off).
    pub fn replay(midstream: bool) -> Self {
        InspectConfig {
            flow: FlowConfig {
                midstream,
                ..FlowConfig::replay()
            },
            defrag: DefragConfig::default(),
            expire_batch: 4096,
            stream: StreamConfig::replay(),
            app: Limits::default(),
            raw_chunk_size: 2560,
        }
    }

    /// The appliance: midstream pickup on (GWLB moves flows between instances).
    pub fn appliance() -> Self {
        InspectConfig {
            flow: FlowConfig::default(),
            defrag: DefragConfig::default(),
            expire_batch: 4096,
            stream: StreamConfig::default(),
            app: Limits::default(),
            raw_chunk_size: 2560,
        }
    }
}

/// Where a packet came from, for evidence records.
/// The hasher of the per-flow side map, keyed by flow id. A flow id is already a seeded hash of
/// the flow key (`seawall_flow`'s table), so one multiply spreads it over the map's bits; SipHash
/// on every packet's lookup was 1 % of replay's inspection.
#[derive(Debug, Default, Clone, Copy)]
struct IdHash;

impl std::hash::BuildHasher for IdHash {
    type Hasher = IdHasher;
    fn build_hasher(&self) -> IdHasher {
        IdHasher(0)
    }
}

/// See [`IdHash`].
#[derive(Debug, Default, Clone, Copy)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        // A folded 128-bit multiply: the high bits (hashbrown's control byte) and the low bits
        // (its bucket) both depend on every bit of the id.
        let m = u128::from(self.0) * 0x9e37_79b9_7f4a_7c15;
        (m as u64) ^ ((m >> 64) as u64)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin<'a> {
    /// A capture frame: its link type and bytes (EVE `packet`).
    Capture {
        /// pcap/pcapng link type.
        linktype: u32,
        /// The whole frame.
        frame: &'a [u8],
    },
    /// A GWLB datagram's inner packet (raw IP, link type 101 in EVE).
    Gwlb,
    /// A packet decapsulated from a tunnel. EVE logs `packet` (the tunnel packet as Suricata sets
    /// it up: from the IP header, or from the Ethernet header of GRE TEB / GENEVE 0x6558 /
    /// ERSPAN I, ...; see `seawall_flow::tunnel::Decap::packet`) with link type 12 (DLT_RAW),
    /// as Suricata does.
    Tunnel {
        /// The tunnel packet's bytes.
        packet: &'a [u8],
    },
}

/// The tunnel a packet came out of (Suricata's EVE `tunnel` object: the root packet's tuple,
/// its `pcap_cnt` and the depth).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TunnelInfo {
    /// Tunnel depth (Suricata's recursion level): 1 for a packet inside one tunnel.
    pub depth: u8,
    /// The encapsulation the packet came out of.
    pub kind: TunnelKind,
    /// The root (outermost) packet's capture number; 0 when live or rebuilt.
    pub root_pcap_cnt: u64,
    /// The root packet's 5-tuple.
    pub root: FiveTuple,
}

/// One inspected packet that raised alerts, borrowed for the sink.
#[derive(Debug)]
pub struct AlertEvent<'a> {
    /// Packet time.
    pub ts: Timestamp,
    /// 1-based capture packet number; 0 for live traffic and for packets rebuilt from fragments.
    pub pcap_cnt: u64,
    /// The decoded packet (the rebuilt one for a completed fragment train).
    pub pkt: &'a InnerPacket<'a>,
    /// The packet's L3 bytes.
    pub l3: &'a [u8],
    /// Its flow, when tracked.
    pub flow: Option<FlowInfo>,
    /// Frame the packet came in (for a rebuilt packet: the fragment that completed it).
    pub origin: Origin<'a>,
    /// GWLB metadata (GWLB traffic, or a GENEVE capture).
    pub gwlb: Option<GwlbMeta>,
    /// True for a packet rebuilt by defragmentation.
    pub reassembled: bool,
    /// The alerts, in Suricata's order.
    pub alerts: &'a [Alert],
    /// The engine's verdict for this packet.
    pub verdict: Verdict,
    /// The flow's application protocol (EVE `app_proto`), when detected.
    pub app_proto: Option<&'static str>,
    /// The app-layer object Suricata adds to alerts on this flow (`"http"`, `"tls"`, `"dns"`
    /// with its value), from the transaction inspected on this packet or the flow's latest.
    pub app_meta: Option<(&'static str, serde_json::Value)>,
    /// The transaction `app_meta` describes (EVE `tx_id`).
    pub app_tx: Option<u64>,
    /// Set for a packet decapsulated from a tunnel (its `pcap_cnt` is then 0, as Suricata's).
    pub tunnel: Option<TunnelInfo>,
}

/// Counters of one inspector (summed by the caller across workers).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InspectCounters {
    /// Frames or GWLB packets handed in.
    pub packets: u64,
    /// Their bytes (frame length, or inner packet length).
    pub bytes: u64,
    /// Packets given to the engine (frames + rebuilt packets).
    pub inspected: u64,
    /// Frames that yielded no inspectable packet, by stable reason label
    /// (`link_not_ip`, `inner_truncated`, ...).
    pub decode_errors: BTreeMap<&'static str, u64>,
    /// Fragments seen.
    pub fragments: u64,
    /// Packets rebuilt from fragments.
    pub reassembled: u64,
    /// Fragments dropped by the defragmenter, by reason.
    pub defrag_drops: BTreeMap<&'static str, u64>,
    /// Packets inspected without a flow (fragments, untracked ICMP errors), by reason.
    pub untracked: BTreeMap<&'static str, u64>,
    /// Flows created.
    pub flows: u64,
    /// Alerts raised.
    pub alerts: u64,
    /// Packets whose verdict was drop or reject.
    pub dropped: u64,
    /// Flows whose application protocol was detected, by protocol.
    pub app_flows: BTreeMap<&'static str, u64>,
    /// App-layer transactions inspected.
    pub app_txs: u64,
    /// Raw-stream inspections run.
    pub raw_inspections: u64,
    /// Tunnel packets decapsulated (and inspected as packets of their own), by encapsulation.
    pub tunnels: BTreeMap<&'static str, u64>,
    /// Tunnel carriers whose tunnel was not opened (malformed or unsupported encapsulation, or
    /// an inner packet Suricata discards), and tunnels that carried nothing inspectable, by
    /// reason; the carrier is inspected either way.
    pub tunnel_errors: BTreeMap<&'static str, u64>,
}

impl InspectCounters {
    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &InspectCounters) {
        self.packets += other.packets;
        self.bytes += other.bytes;
        self.inspected += other.inspected;
        self.fragments += other.fragments;
        self.reassembled += other.reassembled;
        self.flows += other.flows;
        self.alerts += other.alerts;
        self.dropped += other.dropped;
        self.app_txs += other.app_txs;
        self.raw_inspections += other.raw_inspections;
        for (dst, src) in [
            (&mut self.decode_errors, &other.decode_errors),
            (&mut self.defrag_drops, &other.defrag_drops),
            (&mut self.untracked, &other.untracked),
            (&mut self.app_flows, &other.app_flows),
            (&mut self.tunnels, &other.tunnels),
            (&mut self.tunnel_errors, &other.tunnel_errors),
        ] {
            for (k, v) in src {
                *dst.entry(k).or_default() += v;
            }
        }
    }

    /// All decode errors.
    pub fn decode_error_total(&self) -> u64 {
        self.decode_errors.values().sum()
    }
}

/// Errors building an inspector.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InspectError {
    /// The flow table settings are unusable.
    #[error("flow table: {0}")]
    Flow(#[from] seawall_flow::ConfigError),
}

/// Bytes of a flow direction kept while waiting for the protocol to be recognised.
const DETECT_MAX: usize = 4096;
/// Raw-stream bytes kept per direction between inspections (older ones are dropped).
const RAW_MAX: usize = 1 << 20;

/// App-layer state of one flow.
#[derive(Debug)]
enum AppSlot {
    /// Looking at the first bytes of each direction.
    Detecting {
        first: [Vec<u8>; 2],
        unknown: [bool; 2],
    },
    Known(Box<AppState>),
    /// No protocol of ours.
    Failed,
}

/// Stream and app-layer state of one flow, beside the flow table (keyed by flow id).
#[derive(Debug)]
struct FlowSide {
    /// The flow's client when the state was created (a flow table reversal swaps the sides).
    client: (core::net::IpAddr, u16),
    /// Latest packet time (sweeps entries of flows the table dropped without expiry).
    last_seen: Timestamp,
    stream: Option<StreamHandle>,
    app: AppSlot,
    /// Each direction's own detection outcome (Suricata's `alproto_ts`/`alproto_tc`, what
    /// `app-layer-protocol` compares).
    dir_proto: [DirProto; 2],
    /// Once the protocol is known from one direction: the other direction's first bytes while
    /// its own detection goes on, and whether that detection had already given up.
    other_first: Vec<u8>,
    other_done: bool,
    /// A direction's detection completed: the next packet of that direction carries the
    /// result (Suricata's FLOW_PROTO_DETECT_*_DONE, IDS mode); `pd_now`: this packet does.
    pd_pending: [bool; 2],
    pd_now: bool,
    /// Reassembled bytes not yet raw-inspected, per direction.
    raw: [Vec<u8>; 2],
    /// The app layer completed a message: raw-inspect on the next packet of that direction.
    trigger: [bool; 2],
    /// The direction ended (FIN/RST/depth): inspect what is left.
    ended: [bool; 2],
    /// Sequence number just past each direction's FIN, and whether the peer acknowledged it.
    fin_end: [Option<u32>; 2],
    fin_acked: [bool; 2],
    /// The client sent the first FIN (Suricata's CLOSE_WAIT; a server-first FIN is FIN_WAIT1).
    client_fin_first: bool,
    /// The TCP session is closed (both FINs acknowledged, or a RST); the app layer was told.
    closed: bool,
    /// A mid-stream pickup from a packet other than a SYN/ACK: protocol detection may reverse
    /// the flow (Suricata's `STREAMTCP_FLAG_MIDSTREAM` without `_MIDSTREAM_SYNACK`).
    reversible: bool,
    /// Suricata's `stream.midstream` is on: detection also tries the other direction's
    /// patterns (on every flow).
    midstream: bool,
    app_closed: bool,
    /// Transactions with new buffers, per direction of the rules that inspect them.
    pending: [Vec<u64>; 2],
    /// The latest transaction seen (EVE metadata).
    last_tx: Option<u64>,
    /// Transactions whose body is ready, per direction (bounded: the latest few).
    bodies: Vec<(u64, Direction)>,
    alerted: TxAlerted,
    /// IPS: a verdict dropped this (tunnel) flow; its later packets are dropped uninspected.
    dropped: bool,
    /// The app layer ended inspection (SSH: both sides sent NEWKEYS; Suricata's no-inspection
    /// and no-reassembly parser flags): no more reassembly or parsing, and the later packets
    /// are inspected without payload.
    no_inspect: bool,
}

impl FlowSide {
    fn new(client: (core::net::IpAddr, u16), now: Timestamp) -> Self {
        FlowSide {
            client,
            last_seen: now,
            stream: None,
            app: AppSlot::Detecting {
                first: [Vec::new(), Vec::new()],
                unknown: [false, false],
            },
            dir_proto: [DirProto::Unknown; 2],
            other_first: Vec::new(),
            other_done: false,
            pd_pending: [false; 2],
            pd_now: false,
            raw: [Vec::new(), Vec::new()],
            trigger: [false; 2],
            ended: [false; 2],
            fin_end: [None; 2],
            fin_acked: [false; 2],
            client_fin_first: false,
            closed: false,
            reversible: false,
            midstream: false,
            app_closed: false,
            pending: [Vec::new(), Vec::new()],
            last_tx: None,
            bodies: Vec::new(),
            alerted: TxAlerted::default(),
            dropped: false,
            no_inspect: false,
        }
    }

    fn alproto(&self) -> Option<AppProto> {
        match &self.app {
            AppSlot::Known(a) => Some(a.proto()),
            _ => None,
        }
    }

    /// Suricata's session state is past TIME_WAIT (CLOSE_WAIT, LAST_ACK, CLOSING or CLOSED),
    /// where `StreamTcpReassembleRawCheckLimit` lets every packet raw-inspect its direction's
    /// acknowledged data whatever its size. A server-first close goes FIN_WAIT1, FIN_WAIT2,
    /// TIME_WAIT (below): its data waits for the chunk size, the close or the flow end.
    fn past_time_wait(&self) -> bool {
        let (c, s) = (Direction::ToServer.index(), Direction::ToClient.index());
        self.closed || (self.fin_end[c].is_some() && (self.client_fin_first || !self.fin_acked[s]))
    }

    fn reverse(&mut self) {
        self.dir_proto.swap(0, 1);
        self.pd_pending.swap(0, 1);
        self.raw.swap(0, 1);
        self.trigger.swap(0, 1);
        self.ended.swap(0, 1);
        self.fin_end.swap(0, 1);
        self.fin_acked.swap(0, 1);
        self.pending.swap(0, 1);
        if let AppSlot::Detecting { first, unknown } = &mut self.app {
            first.swap(0, 1);
            unknown.swap(0, 1);
        }
    }

    /// Takes the app events into the per-direction pending lists and raw triggers.
    fn on_events(&mut self, events: &mut Vec<AppEvent>) {
        for ev in events.drain(..) {
            let d = ev.kind.direction().index();
            if !self.pending[d].contains(&ev.tx_id) {
                self.pending[d].push(ev.tx_id);
            }
            self.last_tx = Some(ev.tx_id);
            // Suricata triggers raw-stream inspection when a message completes (HTTP request
            // or response done) so that stream and state are inspected together.
            if matches!(
                ev.kind,
                EventKind::HttpRequestBody | EventKind::HttpResponseBody
            ) {
                if self.bodies.len() >= 64 {
                    self.bodies.remove(0);
                }
                self.bodies.push((ev.tx_id, ev.kind.direction()));
            }
            let complete = match ev.kind {
                EventKind::HttpRequestBody | EventKind::HttpResponseBody => true,
                EventKind::HttpRequestHeaders | EventKind::HttpResponseHeaders => match &self.app {
                    AppSlot::Known(a) => a
                        .buffers(ev.tx_id)
                        .is_some_and(|b| http_head_completes(&b, ev.kind.direction())),
                    _ => false,
                },
                _ => false,
            };
            if complete {
                self.trigger[d] = true;
            }
        }
    }

    /// Feeds in-order bytes of `dir` to the app layer (detecting the protocol first).
    /// Returns true when protocol detection found them going the other way on a reversible
    /// flow: they were parsed as the other direction's, and the caller must reverse the flow.
    #[allow(clippy::too_many_arguments)]
    fn feed(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        data: &[u8],
        transport: AppTransport,
        port: u16,
        limits: &Limits,
        events: &mut Vec<AppEvent>,
        counters: &mut InspectCounters,
    ) -> bool {
        if data.is_empty() {
            return false;
        }
        let d = dir.index();
        match &mut self.app {
            AppSlot::Failed => {}
            AppSlot::Known(a) => {
                a.feed(dir, ts, data, events);
                if self.dir_proto[d] == DirProto::Unknown {
                    // This direction's own detection goes on (Suricata: a direction whose
                    // detection ends without a protocol is FAILED once the other is known).
                    self.dir_proto[d] = if self.other_done {
                        DirProto::Failed
                    } else {
                        let take = data
                            .len()
                            .min(DETECT_MAX.saturating_sub(self.other_first.len()));
                        self.other_first.extend_from_slice(&data[..take]);
                        let known = a.proto();
                        match detect_dir(dir, transport, &self.other_first, port, self.midstream)
                            .status
                        {
                            Detect::Found(q) => DirProto::Known(q),
                            // The known protocol's probing parser runs on this side too.
                            _ if other_side_probe(known, dir, transport, &self.other_first) => {
                                DirProto::Known(known)
                            }
                            Detect::NeedMore if self.other_first.len() < DETECT_MAX => {
                                DirProto::Unknown
                            }
                            _ => DirProto::Failed,
                        }
                    };
                    if self.dir_proto[d] != DirProto::Unknown {
                        self.other_first = Vec::new();
                        self.pd_pending[d] = true;
                    }
                }
            }
            AppSlot::Detecting { first, unknown } => {
                let take = data.len().min(DETECT_MAX.saturating_sub(first[d].len()));
                first[d].extend_from_slice(&data[..take]);
                if unknown[d] {
                    // Gave up: its bytes wait (bounded) for the parser, should the other
                    // direction find the protocol (Suricata keeps them in the stream).
                    return false;
                }
                let det = detect_dir(dir, transport, &first[d], port, self.midstream);
                match det.status {
                    Detect::Found(p) => {
                        let mut a = Box::new(AppState::new(p, transport, *limits));
                        // Suricata reverses a mid-stream flow whose data matched the other
                        // direction's pattern (app-layer.c, `reverse_flow`).
                        let rev = self.reversible
                            && transport == AppTransport::Tcp
                            && (det.reversed || seen_reversed(p, dir, &first[d]));
                        let bufs = core::mem::take(first);
                        let o = dir.reversed().index();
                        if transport == AppTransport::Udp {
                            self.dir_proto = [DirProto::Known(p); 2];
                            self.pd_now = true;
                            self.pd_pending[o] = true;
                        } else {
                            self.dir_proto[d] = DirProto::Known(p);
                            self.pd_pending[d] = true;
                            self.other_done = unknown[o];
                            self.other_first.clone_from(&bufs[o]);
                            if unknown[o] {
                                // The other direction already gave up: Suricata runs its
                                // detection again now (TCPProtoDetectTriggerOpposingSide, its
                                // data came first) with this protocol's probing parser, else
                                // it ends FAILED; flagged on the flow.
                                let od = dir.reversed();
                                self.dir_proto[o] = if other_side_probe(p, od, transport, &bufs[o])
                                {
                                    DirProto::Known(p)
                                } else {
                                    DirProto::Failed
                                };
                                self.pd_pending[o] = true;
                            }
                        }
                        let (fdir, odir) = if rev {
                            (dir.reversed(), dir)
                        } else {
                            (dir, dir.reversed())
                        };
                        // The direction that was recognised first, then the other.
                        let other = dir.reversed();
                        a.feed(fdir, ts, &bufs[d], events);
                        if !bufs[other.index()].is_empty() && transport == AppTransport::Tcp {
                            a.feed(odir, ts, &bufs[other.index()], events);
                        }
                        if take < data.len() {
                            a.feed(fdir, ts, &data[take..], events);
                        }
                        *counters.app_flows.entry(p.name()).or_default() += 1;
                        self.app = AppSlot::Known(a);
                        return rev;
                    }
                    Detect::NeedMore
                        if first[d].len() < DETECT_MAX && transport == AppTransport::Tcp => {}
                    _ => {
                        unknown[d] = true;
                        if transport == AppTransport::Udp || unknown.iter().all(|u| *u) {
                            // Suricata's DisableAppLayer: undecided directions become FAILED.
                            for (i, dp) in self.dir_proto.iter_mut().enumerate() {
                                if *dp == DirProto::Unknown {
                                    *dp = DirProto::Failed;
                                    if transport == AppTransport::Udp && i == d {
                                        self.pd_now = true;
                                    } else {
                                        self.pd_pending[i] = true;
                                    }
                                }
                            }
                            self.app = AppSlot::Failed;
                        }
                    }
                }
            }
        }
        false
    }

    /// One UDP datagram of `dir`, as Suricata 7.0.10's `AppLayerHandleUdp`: a direction still
    /// undecided runs detection on this datagram alone (its own protocol, else the other
    /// direction's, else failed), flags this packet and the next packet of each direction as
    /// carrying a detection result, and the datagram goes to the parser once the flow has a
    /// protocol. Returns true when detection found the message going the other way (a DNS
    /// response sent to port 53, a query from it): this side was reversed and the caller must
    /// reverse the flow entry and the packet.
    #[allow(clippy::too_many_arguments)]
    fn feed_udp(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        data: &[u8],
        port: u16,
        limits: &Limits,
        events: &mut Vec<AppEvent>,
        counters: &mut InspectCounters,
    ) -> bool {
        let (d, o) = (dir.index(), dir.reversed().index());
        if self.dir_proto == [DirProto::Failed; 2] {
            return false;
        }
        let mut pdir = dir;
        let mut reversed = false;
        if self.dir_proto[d] == DirProto::Unknown {
            let other = match self.dir_proto[o] {
                DirProto::Known(p) => Some(p),
                _ => None,
            };
            let ports = (self.client.1, port);
            match seawall_applayer::detection::detect_udp(data, ports, other, self.midstream) {
                Some((p, msg_dir)) => {
                    self.dir_proto[d] = DirProto::Known(p);
                    if !matches!(self.app, AppSlot::Known(_)) {
                        self.app =
                            AppSlot::Known(Box::new(AppState::new(p, AppTransport::Udp, *limits)));
                        *counters.app_flows.entry(p.name()).or_default() += 1;
                    }
                    reversed = msg_dir != dir;
                }
                None => {
                    self.dir_proto[d] = match self.dir_proto[o] {
                        DirProto::Unknown => DirProto::Failed,
                        known => known,
                    };
                    if matches!(self.app, AppSlot::Detecting { .. }) {
                        self.app = AppSlot::Failed;
                    }
                }
            }
            // FlagPacketFlow for both directions: this packet and the flow (the next packet
            // of each direction) carry the result.
            self.pd_now = true;
            self.pd_pending = [true; 2];
            if reversed {
                self.reverse();
                pdir = dir.reversed();
            }
        }
        if let AppSlot::Known(a) = &mut self.app {
            a.feed(pdir, ts, data, events);
        }
        reversed
    }
}

/// Whether the first bytes `b` of `dir`, in which protocol `p` was found, match what Suricata
/// registers for the other direction: an HTTP status line (to client) or request (to server);
/// an SMB1/SMB2 response (to client) or request (to server), as its SMB probe tells.
fn seen_reversed(p: AppProto, dir: Direction, b: &[u8]) -> bool {
    let to_client = match p {
        AppProto::Http => b.len() >= 5 && b[..5].eq_ignore_ascii_case(b"HTTP/"),
        AppProto::Smb => match (b.first(), b.get(4..8)) {
            (Some(0), Some(b"\xffSMB")) => b.get(13).is_some_and(|f| f & 0x80 != 0),
            (Some(0), Some(b"\xfeSMB")) => b.get(20).is_some_and(|f| f & 0x01 != 0),
            _ => return false,
        },
        _ => return false,
    };
    to_client == (dir == Direction::ToServer)
}

/// Reads what the stream delivered (both directions) into the raw-stream buffers and the app
/// layer; marks ended directions.
#[allow(clippy::too_many_arguments)]
fn deliver(
    streams: &mut StreamTable,
    side: &mut FlowSide,
    new: NewData,
    ts: Timestamp,
    server_port: u16,
    limits: &Limits,
    events: &mut Vec<AppEvent>,
    counters: &mut InspectCounters,
) -> bool {
    let Some(h) = side.stream else { return false };
    // Protocol detection reversed the flow: the stream halves and per-direction state are
    // swapped here; the caller swaps the flow entry (and the packet's direction).
    let mut reversed = false;
    for dd in [Direction::ToServer, Direction::ToClient] {
        while let Some(chunk) = streams.pending(h, dd) {
            if side.no_inspect {
                streams.consume(h, dd);
                continue;
            }
            if chunk.gap_before > 0 {
                if let AppSlot::Known(a) = &mut side.app {
                    a.gap(dd);
                }
                side.raw[dd.index()].clear();
            }
            let bytes = chunk.new_bytes();
            let raw = &mut side.raw[dd.index()];
            if raw.len() + bytes.len() > RAW_MAX {
                raw.clear();
            }
            raw.extend_from_slice(bytes);
            let rev = side.feed(
                dd,
                ts,
                bytes,
                AppTransport::Tcp,
                server_port,
                limits,
                events,
                counters,
            );
            if rev {
                side.reverse();
                streams.reverse(h);
                reversed = !reversed;
                streams.consume(h, dd.reversed());
            } else {
                streams.consume(h, dd);
            }
        }
    }
    for dd in [Direction::ToServer, Direction::ToClient] {
        let n = new.get(if reversed { dd.reversed() } else { dd });
        // A FIN alone does not: Suricata's raw inspection waits for the session state
        // (`FlowSide::past_time_wait`).
        if n.depth_reached {
            side.ended[dd.index()] = true;
        }
    }
    // The app layer sees the end of the streams when the session is closed (both FINs
    // acknowledged, or a RST), as Suricata passes STREAM_EOF once the TCP state reaches
    // CLOSED: a body delimited by the close completes then, not at the server's FIN.
    if side.closed && !side.app_closed {
        side.app_closed = true;
        if let AppSlot::Known(a) = &mut side.app {
            for dd in [Direction::ToServer, Direction::ToClient] {
                a.close(dd, events);
            }
        }
    }
    reversed
}

/// App-layer EVE metadata of an alerting packet: `app_proto`, the transaction's object and id.
type AppMeta = (
    Option<&'static str>,
    Option<(&'static str, serde_json::Value)>,
    Option<u64>,
);

/// Runs the engine on `info` (a packet of `side`'s flow, or a flow-end pseudo packet when
/// `force_raw`) with the flow's raw stream and transactions of the packet's direction.
#[allow(clippy::too_many_arguments)]
fn run_detect(
    engine: &Engine,
    ctx: &mut DetectCtx,
    side: &mut FlowSide,
    info: PacketInfo<'_>,
    stream_added: bool,
    force_raw: bool,
    raw_chunk: usize,
    flow: &mut FlowDetect,
    alerts: &mut Vec<Alert>,
    counters: &mut InspectCounters,
) -> (Verdict, AppMeta) {
    let Some(fi) = info.flow else {
        return (Verdict::Pass, (None, None, None));
    };
    let dir = fi.direction;
    let d = dir.index();
    // Raw-stream inspection of the packet's direction: a chunk's worth of reassembled bytes,
    // or the app layer / stream end asked for it.
    let raw_ready = !side.raw[d].is_empty()
        && (force_raw
            || side.raw[d].len() >= raw_chunk
            || side.trigger[d]
            || side.ended[d]
            || side.past_time_wait());
    let alproto = side.alproto();
    let alproto_done = !matches!(side.app, AppSlot::Detecting { .. });
    let FlowSide {
        raw,
        trigger,
        pending,
        alerted,
        app,
        last_tx,
        bodies,
        dir_proto,
        pd_now,
        ..
    } = side;
    let mut txs: Vec<TxRef<'_>> = Vec::new();
    if let AppSlot::Known(a) = &*app {
        for &tx_id in &pending[d] {
            if let Some(b) = a.buffers(tx_id) {
                txs.push(TxRef {
                    tx_id,
                    dir,
                    buffers: b,
                    body_ready: bodies.contains(&(tx_id, dir)),
                });
            }
        }
    }
    counters.app_txs += txs.len() as u64;
    let stream = if raw_ready {
        counters.raw_inspections += 1;
        trigger[d] = false;
        Some(&raw[d][..])
    } else {
        None
    };
    let info = PacketInfo {
        app: AppInput {
            stream,
            stream_added,
            alproto,
            alproto_done,
            dir_alproto: Some(dir_proto[d]),
            proto_detect_done: core::mem::take(pd_now),
            txs: &txs,
            stream_size: info.app.stream_size,
        },
        ..info
    };
    let v = engine.inspect_app(ctx, &info, Some(flow), alerted, alerts);
    let mut meta: AppMeta = (None, None, None);
    if !alerts.is_empty() {
        if let (AppSlot::Known(a), Some(p)) = (&*app, alproto) {
            let tx = txs.last().map(|t| t.tx_id).or(*last_tx);
            let (tx, eve) = tx.and_then(|t| Some((t, a.buffers(t)?.eve()))).unzip();
            meta = (Some(p.name()), eve, tx);
        } else if matches!(app, AppSlot::Failed) {
            // Suricata's ALPROTO_FAILED once detection gave up on the flow.
            meta = (Some("failed"), None, None);
        }
    }
    drop(txs);
    pending[d].clear();
    if raw_ready {
        raw[d].clear();
    }
    (v, meta)
}

/// Whether an HTTP message whose head was just parsed has no body (so it is complete).
fn http_head_completes(b: &seawall_applayer::TxBuffers<'_>, dir: Direction) -> bool {
    use seawall_applayer::Buffer;
    let chunked = b.get(dir, Buffer::HttpHeader).is_some_and(|h| {
        h.windows(17)
            .any(|w| w.eq_ignore_ascii_case(b"transfer-encoding"))
    });
    if chunked {
        return false;
    }
    let len = b.get(dir, Buffer::HttpContentLen);
    match dir {
        Direction::ToServer => len.is_none_or(|l| l.iter().all(|c| *c == b'0')),
        Direction::ToClient => {
            let code = b.get(dir, Buffer::HttpStatCode).unwrap_or_default();
            code.starts_with(b"1")
                || code == b"204"
                || code == b"304"
                || len.is_some_and(|l| !l.is_empty() && l.iter().all(|c| *c == b'0'))
        }
    }
}

/// One worker's pipeline. Not `Sync`: one per thread; the engine is shared.
pub struct Inspector {
    engine: Arc<Engine>,
    ctx: DetectCtx,
    flows: FlowTable<FlowDetect>,
    defrag: Defrag,
    alerts: Vec<Alert>,
    counters: InspectCounters,
    expire_batch: usize,
    last_expire: Option<Timestamp>,
    streams: StreamTable,
    sides: HashMap<u64, FlowSide, IdHash>,
    app_limits: Limits,
    raw_chunk: usize,
    events: Vec<AppEvent>,
    ended: Vec<(FlowStats, FlowDetect)>,
    /// IPS: a drop/reject on a tunnel packet drops the rest of its (inner) flow
    /// ([`Inspector::set_drop_tunnel_flows`]).
    drop_tunnel_flows: bool,
    /// The packet handed in (not one of its tunnels' packets) was dropped or rejected.
    outer_blocked: bool,
    /// `stream.midstream` (protocol detection tries both directions' patterns).
    midstream: bool,
}

impl std::fmt::Debug for Inspector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inspector")
            .field("counters", &self.counters)
            .finish()
    }
}

/// Where a packet sits: the flow-key context it belongs to and how deep in tunnels.
#[derive(Debug, Clone, Copy)]
struct Layer {
    /// Flow-table endpoint of the context's depth 0: the GWLB endpoint id, or the capture's
    /// VLAN ids ([`seawall_flow::FlowKey::capture_endpoint`]).
    base: u64,
    /// Tunnels between the context and this packet (Suricata keys flows on it).
    depth: u8,
    /// Decoder layers before this packet's IP header.
    layers: u8,
    gwlb: Option<GwlbMeta>,
    tunnel: Option<TunnelInfo>,
}

impl Layer {
    fn endpoint(&self) -> u64 {
        layer_endpoint(self.base, self.depth)
    }

    /// The layer of the packet `f` that `carrier` (of this layer, capture number `pcap_cnt`)
    /// carries in a `kind` tunnel. A GENEVE datagram with the AWS options starts a GWLB context
    /// keyed on its endpoint id, as the appliance keys the packets GWLB sends it.
    fn inner(
        &self,
        kind: TunnelKind,
        f: &seawall_flow::Frame<'_>,
        pcap_cnt: u64,
        carrier: &InnerPacket<'_>,
    ) -> Layer {
        let (root, root_pcap_cnt, depth) = match self.tunnel {
            Some(t) => (t.root, t.root_pcap_cnt, t.depth),
            None => (carrier.five_tuple(), pcap_cnt, 0),
        };
        let tunnel = Some(TunnelInfo {
            depth: depth.saturating_add(1),
            kind,
            root_pcap_cnt,
            root,
        });
        // GWLB metadata in a GENEVE header is trusted only on the outermost tunnel of a
        // capture: one nested in traffic (or inside real GWLB traffic) is the sender's own bytes
        // and must not key its packets into another endpoint's flows.
        let (base, depth, gwlb) = match (f.gwlb, self.gwlb) {
            (Some(m), None) if self.depth == 0 && self.tunnel.is_none() => {
                (m.endpoint.0, 0, Some(m))
            }
            (_, Some(m)) => (self.base, self.depth.saturating_add(1), Some(m)),
            (_, None) => (
                seawall_flow::FlowKey::capture_endpoint(f.vlan),
                self.depth.saturating_add(1),
                None,
            ),
        };
        Layer {
            base,
            depth,
            layers: f.layers,
            gwlb,
            tunnel,
        }
    }
}

/// `pkt` with no payload to inspect (a tunnel carrier): header rules still see it, payload
/// rules and the UDP app layer don't.
fn without_payload<'a>(pkt: &InnerPacket<'a>) -> InnerPacket<'a> {
    let mut p = *pkt;
    p.transport = match p.transport {
        Transport::Udp { ports, .. } => Transport::Udp {
            ports,
            payload: &[],
        },
        Transport::Other { .. } => Transport::Other { payload: &[] },
        t => t,
    };
    p
}

/// A payload-less TCP ACK from `src` to `dst` (a stream flush pseudo packet).
fn flush_packet(
    src: (core::net::IpAddr, u16),
    dst: (core::net::IpAddr, u16),
    proto: u8,
) -> InnerPacket<'static> {
    InnerPacket {
        version: if src.0.is_ipv4() {
            IpVersion::V4
        } else {
            IpVersion::V6
        },
        src: src.0,
        dst: dst.0,
        ip_proto: proto,
        ttl: 0,
        tos: 0,
        fragment: None,
        header_len: 0,
        ip_len: 0,
        ip_payload: &[],
        transport: Transport::Tcp {
            ports: Ports {
                src: src.1,
                dst: dst.1,
            },
            flags: TcpFlags(TcpFlags::ACK),
            seq: 0,
            ack: 0,
            window: 0,
            urgent: 0,
            options: &[],
            payload: &[],
        },
    }
}

/// `pkt` with an empty TCP payload (Suricata's no-payload-inspection packet flag: header
/// rules only).
fn tcp_without_payload<'a>(pkt: &InnerPacket<'a>) -> InnerPacket<'a> {
    let mut p = *pkt;
    if let Transport::Tcp { payload, .. } = &mut p.transport {
        *payload = &[];
    }
    p
}

fn bump(map: &mut BTreeMap<&'static str, u64>, reason: &'static str) {
    *map.entry(reason).or_default() += 1;
}

const fn is_pass(v: &Verdict) -> bool {
    matches!(v, Verdict::Pass)
}

impl Inspector {
    /// A pipeline around `engine`.
    pub fn new(engine: Arc<Engine>, cfg: &InspectConfig) -> Result<Self, InspectError> {
        let flows = FlowTable::new(cfg.flow)?;
        let ctx = DetectCtx::new(&engine);
        Ok(Inspector {
            engine,
            ctx,
            flows,
            defrag: Defrag::new(cfg.defrag.clone()),
            alerts: Vec::with_capacity(64),
            counters: InspectCounters::default(),
            expire_batch: cfg.expire_batch.max(1),
            last_expire: None,
            streams: StreamTable::new(cfg.stream),
            sides: HashMap::default(),
            app_limits: cfg.app,
            raw_chunk: cfg.raw_chunk_size.max(1),
            events: Vec::new(),
            ended: Vec::new(),
            drop_tunnel_flows: false,
            outer_blocked: false,
            midstream: cfg.flow.midstream,
        })
    }

    /// IPS: a drop or reject verdict on a packet decapsulated from a tunnel marks its flow
    /// (the inner flow, not the carrier's) dropped, and every later packet of that flow gets a
    /// `Drop` verdict without inspection, as Suricata's flow drop flag; other flows in the
    /// same tunnel are inspected as usual. Off by default (replay, IDS).
    pub fn set_drop_tunnel_flows(&mut self, on: bool) {
        self.drop_tunnel_flows = on;
    }

    /// Whether the packet last handed to [`Inspector::process_gwlb`] was itself dropped or
    /// rejected (a verdict on one of the packets of the tunnels it carries does not count).
    pub fn outer_blocked(&self) -> bool {
        self.outer_blocked
    }

    /// The counters so far (`flows` is read from the flow table).
    pub fn counters(&self) -> InspectCounters {
        let mut c = self.counters.clone();
        c.flows = self.flows.counters().created;
        c
    }

    /// The counters so far, borrowed (no copy; `flows` is not filled in: see
    /// [`Inspector::flow_table`]).
    pub fn counters_view(&self) -> &InspectCounters {
        &self.counters
    }

    /// Replaces the engine (a rule reload, at a batch boundary): the detection scratch is
    /// rebuilt for the new engine; flows and their per-flow state are kept.
    pub fn set_engine(&mut self, engine: Arc<Engine>) {
        self.ctx = DetectCtx::new(&engine);
        self.engine = engine;
    }

    /// The flow table (for its own counters).
    pub fn flow_table(&self) -> &FlowTable<FlowDetect> {
        &self.flows
    }

    /// Inspects one capture frame. `sink` is called for every inspected packet that raised
    /// alerts (the frame itself, the packet it completes when it is the last fragment, and the
    /// packets of the tunnels it carries: GRE, VXLAN, GENEVE, ... as Suricata decodes them,
    /// see [`seawall_flow::tunnel`]). Returns the frame's verdict (`Pass` for frames that carry
    /// no inspectable packet; the worst verdict of its packets otherwise).
    pub fn process_frame(
        &mut self,
        ts: Timestamp,
        pcap_cnt: u64,
        linktype: u32,
        frame: &[u8],
        sink: &mut dyn FnMut(&AlertEvent<'_>),
    ) -> Verdict {
        self.counters.packets += 1;
        self.counters.bytes += frame.len() as u64;
        let f = match decode_link(linktype, frame) {
            Ok(f) => f,
            Err(e) => {
                bump(&mut self.counters.decode_errors, e.reason());
                return Verdict::Pass;
            }
        };
        let layer = Layer {
            base: seawall_flow::FlowKey::capture_endpoint(f.vlan),
            depth: 0,
            layers: f.layers,
            gwlb: None,
            tunnel: None,
        };
        let origin = Origin::Capture { linktype, frame };
        self.process_l3(ts, pcap_cnt, layer, f.protocol, f.l3, origin, sink)
    }

    /// Inspects the inner packet of a GWLB datagram (`protocol` 0x0800/0x86DD, as in the GENEVE
    /// header). Returns its verdict.
    pub fn process_gwlb(
        &mut self,
        ts: Timestamp,
        meta: GwlbMeta,
        protocol: u16,
        inner: &[u8],
        sink: &mut dyn FnMut(&AlertEvent<'_>),
    ) -> Verdict {
        self.counters.packets += 1;
        self.counters.bytes += inner.len() as u64;
        self.outer_blocked = false;
        let layer = Layer {
            base: meta.endpoint.0,
            depth: 0,
            layers: 0,
            gwlb: Some(meta),
            tunnel: None,
        };
        self.process_l3(ts, 0, layer, protocol, inner, Origin::Gwlb, sink)
    }

    /// Expires flows and fragment trackers idle at `now` (bounded work). Called automatically
    /// as packet time advances; call it at the end of a capture or on an idle timer.
    pub fn expire(&mut self, now: Timestamp) {
        self.expire_into(now, &mut |_| {});
    }

    /// As [`Inspector::expire`]; alerts raised by the flow-end inspection of expired flows
    /// (pseudo packets, `pcap_cnt` 0) go to `sink`.
    pub fn expire_into(&mut self, now: Timestamp, sink: &mut dyn FnMut(&AlertEvent<'_>)) {
        let mut ended = core::mem::take(&mut self.ended);
        self.flows
            .expire_with(now, self.expire_batch, |st, data| ended.push((st, data)));
        for (st, data) in ended.drain(..) {
            self.end_flow(st, data, now, sink);
        }
        self.ended = ended;
        // Trackers and side entries of flows the table dropped without expiry (reuse,
        // emergency eviction): bounded by the table's capacity.
        self.streams.expire(now, 3600, self.expire_batch);
        if self.sides.len() > self.flows.capacity() {
            let streams = &mut self.streams;
            self.sides.retain(|_, s| {
                let keep = !s.last_seen.expired(now, 600);
                if !keep {
                    if let Some(h) = s.stream {
                        streams.release(h);
                    }
                }
                keep
            });
        }
        self.defrag.expire(now);
        self.last_expire = Some(now);
    }

    /// End of input (capture end, shutdown): every flow ends now, and what its streams and
    /// transactions still hold is inspected with flow-end pseudo packets (`pcap_cnt` 0), as
    /// Suricata does when it times out flows at the end of a capture.
    pub fn finish(&mut self, now: Timestamp, sink: &mut dyn FnMut(&AlertEvent<'_>)) {
        let mut ended = core::mem::take(&mut self.ended);
        self.flows
            .expire_with(Timestamp(u64::MAX), usize::MAX, |st, data| {
                ended.push((st, data));
            });
        for (st, data) in ended.drain(..) {
            self.end_flow(st, data, now, sink);
        }
        self.ended = ended;
    }

    /// A flow ended: flush its stream into the app layer and inspect what is left per
    /// direction (client side first) with a pseudo packet.
    fn end_flow(
        &mut self,
        mut st: FlowStats,
        mut data: FlowDetect,
        ts: Timestamp,
        sink: &mut dyn FnMut(&AlertEvent<'_>),
    ) {
        let Some(mut side) = self.sides.remove(&st.flow_id) else {
            return;
        };
        let Some(h) = side.stream else {
            return;
        };
        // Suricata's flow-end reassembly only runs for sessions that got established.
        if !matches!(
            st.tcp_state,
            TcpState::Established | TcpState::FinWait | TcpState::Closing | TcpState::Closed
        ) {
            self.streams.release(h);
            return;
        }
        let new = self.streams.flush(h, ts);
        let mut events = core::mem::take(&mut self.events);
        let reversed = deliver(
            &mut self.streams,
            &mut side,
            new,
            ts,
            st.server.1,
            &self.app_limits,
            &mut events,
            &mut self.counters,
        );
        if reversed {
            core::mem::swap(&mut st.client, &mut st.server);
        }
        for dir in [Direction::ToServer, Direction::ToClient] {
            if let AppSlot::Known(a) = &mut side.app {
                a.close(dir, &mut events);
            }
        }
        side.on_events(&mut events);
        self.events = events;
        self.streams.release(h);
        for dir in [Direction::ToServer, Direction::ToClient] {
            let d = dir.index();
            if side.raw[d].is_empty() && side.pending[d].is_empty() {
                continue;
            }
            let (src, dst) = match dir {
                Direction::ToServer => (st.client, st.server),
                Direction::ToClient => (st.server, st.client),
            };
            let pkt = flush_packet(src, dst, st.proto);
            let established = matches!(
                st.tcp_state,
                TcpState::Established | TcpState::FinWait | TcpState::Closing | TcpState::Closed
            );
            let fi = FlowInfo {
                flow_id: st.flow_id,
                direction: dir,
                flags: PacketFlags(if established {
                    PacketFlags::ESTABLISHED
                } else {
                    0
                }),
            };
            let info = PacketInfo::new(ts, &pkt, &[]).with_flow(fi);
            self.alerts.clear();
            self.counters.inspected += 1;
            let (verdict, (app_proto, app_meta, app_tx)) = run_detect(
                &self.engine,
                &mut self.ctx,
                &mut side,
                info,
                false,
                true,
                self.raw_chunk,
                &mut data,
                &mut self.alerts,
                &mut self.counters,
            );
            if !self.alerts.is_empty() {
                self.counters.alerts += self.alerts.len() as u64;
                sink(&AlertEvent {
                    ts,
                    pcap_cnt: 0,
                    pkt: &pkt,
                    l3: &[],
                    flow: Some(fi),
                    origin: Origin::Gwlb,
                    gwlb: None,
                    reassembled: false,
                    alerts: &self.alerts,
                    verdict,
                    app_proto,
                    app_meta,
                    app_tx,
                    tunnel: None,
                });
            }
        }
    }

    /// The stream reassembly table (counters).
    pub fn streams(&self) -> &StreamTable {
        &self.streams
    }

    fn maybe_expire(&mut self, now: Timestamp, sink: &mut dyn FnMut(&AlertEvent<'_>)) {
        match self.last_expire {
            Some(t) if now.as_secs() <= t.as_secs() => {}
            _ => self.expire_into(now, sink),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn process_l3(
        &mut self,
        ts: Timestamp,
        pcap_cnt: u64,
        layer: Layer,
        protocol: u16,
        l3: &[u8],
        origin: Origin<'_>,
        sink: &mut dyn FnMut(&AlertEvent<'_>),
    ) -> Verdict {
        self.maybe_expire(ts, sink);
        let pkt = match decode_inner(protocol, l3) {
            Ok(p) => p,
            Err(e) => {
                bump(&mut self.counters.decode_errors, e.reason());
                return Verdict::Pass;
            }
        };
        self.process_decoded(ts, pcap_cnt, layer, &pkt, l3, origin, sink)
    }

    /// A decoded packet (a frame's own, or a tunnel's): fragments are inspected on their own
    /// and the packet they complete is inspected (and its tunnels opened) with `pcap_cnt` 0.
    #[allow(clippy::too_many_arguments)]
    fn process_decoded(
        &mut self,
        ts: Timestamp,
        pcap_cnt: u64,
        layer: Layer,
        pkt: &InnerPacket<'_>,
        l3: &[u8],
        origin: Origin<'_>,
        sink: &mut dyn FnMut(&AlertEvent<'_>),
    ) -> Verdict {
        if pkt.fragment.is_none() {
            return self.carry(ts, pcap_cnt, layer, pkt, l3, origin, false, sink);
        }
        // A fragment: inspected on its own (no flow), then the rebuilt packet if it completes one.
        self.counters.fragments += 1;
        let endpoint = layer.endpoint();
        let verdict = self.inspect(
            ts,
            pcap_cnt,
            endpoint,
            layer.gwlb,
            pkt,
            l3,
            origin,
            false,
            layer.tunnel,
            sink,
        );
        match self.defrag.insert(ts, endpoint, l3, pkt) {
            DefragResult::Held => {}
            DefragResult::Dropped(d) => bump(&mut self.counters.defrag_drops, d.reason()),
            DefragResult::Complete(r) => {
                self.counters.reassembled += 1;
                match decode_inner(r.protocol(), r.bytes()) {
                    Ok(whole) => {
                        let v = self.carry(ts, 0, layer, &whole, r.bytes(), origin, true, sink);
                        if !is_pass(&v) {
                            self.counters.dropped += 1;
                        }
                    }
                    Err(e) => bump(&mut self.counters.decode_errors, e.reason()),
                }
                self.defrag.recycle(r);
            }
        }
        verdict
    }

    /// A whole packet: the tunnel it carries, if any, is opened and its packet inspected first
    /// (as Suricata runs tunnel packets through detection before their carrier), then the
    /// packet itself, without its payload when it carried a tunnel packet (Suricata's
    /// `PKT_NOPAYLOAD_INSPECTION`: header rules still match the carrier). Nesting is bounded by
    /// Suricata's 16 decoder layers. Returns the worst verdict.
    #[allow(clippy::too_many_arguments)]
    fn carry(
        &mut self,
        ts: Timestamp,
        pcap_cnt: u64,
        layer: Layer,
        pkt: &InnerPacket<'_>,
        l3: &[u8],
        origin: Origin<'_>,
        reassembled: bool,
        sink: &mut dyn FnMut(&AlertEvent<'_>),
    ) -> Verdict {
        let mut inner_verdict = Verdict::Pass;
        let mut carried = false;
        match decapsulate(pkt, layer.layers.saturating_add(1)) {
            Ok(None) => {}
            Err(e) => bump(&mut self.counters.tunnel_errors, e.reason()),
            Ok(Some(d)) => match d.inner {
                // A tunnel packet without IP (ARP, PPP control): it exists, nothing to inspect.
                Err(e) => {
                    carried = true;
                    bump(&mut self.counters.tunnels, d.kind.name());
                    bump(&mut self.counters.tunnel_errors, e.reason());
                }
                Ok(f) => match decode_inner(f.protocol, f.l3) {
                    // Suricata discards a tunnel packet whose IP header is invalid.
                    Err(e) if !d.keeps_tunnel(e) => {
                        bump(&mut self.counters.tunnel_errors, e.reason());
                    }
                    Err(e) => {
                        carried = true;
                        bump(&mut self.counters.tunnels, d.kind.name());
                        bump(&mut self.counters.decode_errors, e.reason());
                    }
                    Ok(inner) => {
                        carried = true;
                        bump(&mut self.counters.tunnels, d.kind.name());
                        let next = layer.inner(d.kind, &f, pcap_cnt, pkt);
                        inner_verdict = self.process_decoded(
                            ts,
                            0,
                            next,
                            &inner,
                            f.l3,
                            Origin::Tunnel { packet: d.packet },
                            sink,
                        );
                    }
                },
            },
        }
        let shown = if carried { without_payload(pkt) } else { *pkt };
        let v = self.inspect(
            ts,
            pcap_cnt,
            layer.endpoint(),
            layer.gwlb,
            &shown,
            l3,
            origin,
            reassembled,
            layer.tunnel,
            sink,
        );
        if is_pass(&v) {
            inner_verdict
        } else {
            v
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn inspect(
        &mut self,
        ts: Timestamp,
        pcap_cnt: u64,
        endpoint: u64,
        gwlb: Option<GwlbMeta>,
        pkt: &InnerPacket<'_>,
        l3: &[u8],
        origin: Origin<'_>,
        reassembled: bool,
        tunnel: Option<TunnelInfo>,
        sink: &mut dyn FnMut(&AlertEvent<'_>),
    ) -> Verdict {
        self.counters.inspected += 1;
        self.alerts.clear();
        let mut info = PacketInfo::new(ts, pkt, l3);
        info.pcap_cnt = pcap_cnt;
        info.reassembled = reassembled;
        let mut app_proto = None;
        let mut app_meta = None;
        let mut app_tx = None;
        // Suricata tracks flows only for TCP, UDP, ICMP, SCTP, ESP (and 6in4 carriers).
        let tracked = if has_flow(pkt) {
            self.flows
                .process(ts, endpoint, pkt)
                .map_err(|u| u.reason())
        } else {
            Err("no_flow_protocol")
        };
        let (verdict, flow) = match tracked {
            // A tunnel packet of a flow an IPS verdict dropped: dropped uninspected.
            Ok(fref)
                if self.drop_tunnel_flows
                    && tunnel.is_some()
                    && self.sides.get(&fref.flow_id()).is_some_and(|s| s.dropped) =>
            {
                (Verdict::Drop, Some(FlowInfo::from_ref(&fref)))
            }
            Ok(mut fref) => {
                let fi = FlowInfo::from_ref(&fref);
                let mut info = info.with_flow(fi);
                let stats = fref.stats();
                let tcp_state = fref.tcp_state();
                let side = self
                    .sides
                    .entry(fi.flow_id)
                    .or_insert_with(|| FlowSide::new(stats.client, ts));
                side.last_seen = side.last_seen.max(ts);
                if side.client != stats.client {
                    side.client = stats.client;
                    side.reverse();
                    if let Some(h) = side.stream {
                        self.streams.reverse(h);
                    }
                }
                side.reversible = fref.app_reversible();
                side.midstream = self.midstream;
                let dir = fi.direction;
                side.pd_now = core::mem::take(&mut side.pd_pending[dir.index()]);
                let mut stream_added = false;
                // Inspection ended on an earlier packet: this one is seen without payload.
                let no_payload = side.no_inspect;
                let mut app_reversed = false;
                let events = &mut self.events;
                match pkt.transport {
                    Transport::Tcp {
                        flags,
                        seq,
                        ack,
                        payload,
                        options,
                        window,
                        ..
                    } if pkt.fragment.is_none() && tcp_state != TcpState::None => {
                        let seg = Segment::from_tcp(seq, ack, flags, options, payload)
                            .with_window(window);
                        if let Some(h) = side.stream {
                            // `stream.async-oneside`: nothing will acknowledge the side seen.
                            let one = fref.is_one_sided().then_some(self.raw_chunk);
                            self.streams.set_one_sided(h, one);
                            // A RST during the handshake leaves the data to the flow end.
                            let hs = fi.flags.contains(PacketFlags::IN_HANDSHAKE);
                            self.streams.set_in_handshake(h, hs);
                        }
                        let new =
                            self.streams
                                .on_segment(&mut side.stream, fi.flow_id, ts, dir, &seg);
                        let (d, p) = (dir.index(), dir.reversed().index());
                        if flags.fin() {
                            if dir == Direction::ToServer
                                && side.fin_end.iter().all(Option::is_none)
                            {
                                side.client_fin_first = true;
                            }
                            side.fin_end[d] =
                                Some(seq.wrapping_add(payload.len() as u32).wrapping_add(1));
                        }
                        if flags.ack() {
                            if let Some(f) = side.fin_end[p] {
                                if ack.wrapping_sub(f) as i32 >= 0 {
                                    side.fin_acked[p] = true;
                                }
                            }
                        }
                        if flags.rst() || (side.fin_acked[0] && side.fin_acked[1]) {
                            side.closed = true;
                        }
                        // Suricata's PKT_STREAM_ADD; a Fast Open SYN's data is added when
                        // the SYN opens the session.
                        let tfo_syn = flags.syn()
                            && tcp_state == TcpState::SynSent
                            && fi.flags.contains(PacketFlags::TCP_STATE_CHANGED);
                        stream_added = !seg.payload.is_empty()
                            && side.stream.is_some()
                            && (tfo_syn
                                || (!flags.syn()
                                    && matches!(
                                        tcp_state,
                                        TcpState::Established
                                            | TcpState::FinWait
                                            | TcpState::Closing
                                    )));
                        app_reversed = deliver(
                            &mut self.streams,
                            side,
                            new,
                            ts,
                            stats.server.1,
                            &self.app_limits,
                            events,
                            &mut self.counters,
                        );
                    }
                    Transport::Udp { payload, .. } if pkt.fragment.is_none() => {
                        app_reversed = side.feed_udp(
                            dir,
                            ts,
                            payload,
                            stats.server.1,
                            &self.app_limits,
                            events,
                            &mut self.counters,
                        );
                    }
                    _ => {}
                }
                side.on_events(events);
                // Suricata flushes both raw streams when parsing set the no-inspection flag
                // (StreamTcpDetectLogFlush: a pseudo packet of this packet's direction, then of
                // the other, inspected before it), then stops reassembly and payload inspection
                // for the flow.
                let flush_now =
                    !side.no_inspect && matches!(&side.app, AppSlot::Known(a) if a.no_inspection());
                side.no_inspect |= flush_now;
                // Protocol detection reversed the flow: so is this packet (Suricata's
                // PacketSwap + FlowSwap).
                let fi = if app_reversed {
                    fref.reverse();
                    side.client = fref.stats().client;
                    FlowInfo::from_ref(&fref)
                } else {
                    fi
                };
                // `stream_size`: the session's sizes after this packet, client first.
                info.app.stream_size = side.stream.and_then(|h| self.streams.tracker(h)).map(|t| {
                    [
                        t.seq_size(Direction::ToServer),
                        t.seq_size(Direction::ToClient),
                    ]
                });
                // The worst verdict of the flush pseudo packets: a drop there drops this packet
                // too (a pseudo packet has nothing to drop on the wire).
                let mut flush_verdict = Verdict::Pass;
                if flush_now {
                    let st = fref.stats();
                    for dd in [fi.direction, fi.direction.reversed()] {
                        let (src, dst) = match dd {
                            Direction::ToServer => (st.client, st.server),
                            Direction::ToClient => (st.server, st.client),
                        };
                        let fpkt = flush_packet(src, dst, st.proto);
                        let ffi = FlowInfo {
                            flow_id: fi.flow_id,
                            direction: dd,
                            flags: PacketFlags(if fi.flags.contains(PacketFlags::ESTABLISHED) {
                                PacketFlags::ESTABLISHED
                            } else {
                                0
                            }),
                        };
                        self.alerts.clear();
                        self.counters.inspected += 1;
                        let (fv, (fp, fm, ft)) = run_detect(
                            &self.engine,
                            &mut self.ctx,
                            side,
                            PacketInfo::new(ts, &fpkt, &[]).with_flow(ffi),
                            false,
                            true,
                            self.raw_chunk,
                            fref.data_mut(),
                            &mut self.alerts,
                            &mut self.counters,
                        );
                        if !is_pass(&fv) {
                            flush_verdict = Verdict::Drop;
                        }
                        if !self.alerts.is_empty() {
                            self.counters.alerts += self.alerts.len() as u64;
                            sink(&AlertEvent {
                                ts,
                                pcap_cnt: 0,
                                pkt: &fpkt,
                                l3: &[],
                                flow: Some(ffi),
                                origin: Origin::Gwlb,
                                gwlb: None,
                                reassembled: false,
                                alerts: &self.alerts,
                                verdict: fv,
                                app_proto: fp,
                                app_meta: fm,
                                app_tx: ft,
                                tunnel: None,
                            });
                        }
                        self.alerts.clear();
                    }
                }
                let bare;
                let info = if no_payload {
                    bare = tcp_without_payload(pkt);
                    PacketInfo { pkt: &bare, ..info }
                } else {
                    info
                };
                let (v, (proto, meta, tx)) = run_detect(
                    &self.engine,
                    &mut self.ctx,
                    side,
                    info.with_flow(fi),
                    stream_added && !no_payload,
                    false,
                    self.raw_chunk,
                    fref.data_mut(),
                    &mut self.alerts,
                    &mut self.counters,
                );
                app_proto = proto;
                app_meta = meta;
                app_tx = tx;
                let v = if is_pass(&v) { flush_verdict } else { v };
                if self.drop_tunnel_flows && tunnel.is_some() && !is_pass(&v) {
                    side.dropped = true;
                }
                (v, Some(fi))
            }
            Err(reason) => {
                bump(&mut self.counters.untracked, reason);
                let v = self
                    .engine
                    .inspect(&mut self.ctx, &info, None, &mut self.alerts);
                (v, None)
            }
        };
        if !self.alerts.is_empty() {
            self.counters.alerts += self.alerts.len() as u64;
            sink(&AlertEvent {
                ts,
                pcap_cnt,
                pkt,
                l3,
                flow,
                origin,
                gwlb,
                reassembled,
                alerts: &self.alerts,
                verdict,
                app_proto,
                app_meta,
                app_tx,
                tunnel,
            });
        }
        if !reassembled && !is_pass(&verdict) {
            self.counters.dropped += 1;
        }
        if tunnel.is_none() && !is_pass(&verdict) {
            self.outer_blocked = true;
        }
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use seawall_detect::EngineOptions;
    use seawall_rules::Loader;

    /// Flow ids differing in their low bits only (or in their high bits only) land on many
    /// control bytes (top 7 bits) and buckets (low bits) of the side map.
    #[test]
    fn side_map_hash_spreads_ids() {
        use std::hash::BuildHasher;
        for ids in [
            (1..=256u64).collect::<Vec<_>>(),
            (1..=256u64).map(|i| i << 43).collect(),
        ] {
            let hs: Vec<u64> = ids.iter().map(|&id| IdHash.hash_one(id)).collect();
            let top: std::collections::BTreeSet<u64> = hs.iter().map(|h| h >> 57).collect();
            let low: std::collections::BTreeSet<u64> = hs.iter().map(|h| h & 255).collect();
            assert!(top.len() >= 64, "{}", top.len());
            assert!(low.len() >= 128, "{}", low.len());
        }
    }

    /// IPv4 + TCP (no options) from 10.0.0.1:1234 (client) or 10.0.0.2:80 (server).
    fn tcp(from_client: bool, flags: u8, seq: u32, ack: u32, payload: &[u8]) -> Vec<u8> {
        let (src, dst, sp, dp) = if from_client {
            ([10, 0, 0, 1], [10, 0, 0, 2], 1234u16, 80u16)
        } else {
            ([10, 0, 0, 2], [10, 0, 0, 1], 80, 1234)
        };
        let total = 40 + payload.len();
        let mut p = vec![
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            1,
            0,
            0,
            64,
            6,
            0,
            0,
        ];
        p.extend_from_slice(&src);
        p.extend_from_slice(&dst);
        p.extend_from_slice(&sp.to_be_bytes());
        p.extend_from_slice(&dp.to_be_bytes());
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&ack.to_be_bytes());
        p.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        p.extend_from_slice(payload);
        p
    }

    const SYN: u8 = 0x02;
    const ACK: u8 = 0x10;
    const PSH_ACK: u8 = 0x18;
    const FIN_ACK: u8 = 0x11;

    /// Replays `pkts` (raw IP, link type 101) and returns (pcap_cnt, sids, app_proto, has
    /// app object) per alerting packet, the flow-end pseudo packets included.
    fn run(rules: &str, pkts: &[Vec<u8>]) -> Vec<(u64, Vec<u32>, Option<&'static str>, bool)> {
        let load = Loader::default().load_str("t.rules", rules);
        assert!(load.diagnostics.is_empty(), "{:?}", load.diagnostics);
        let (engine, report) = Engine::compile(
            &load.rules,
            &seawall_rules::Vars::suricata_defaults(),
            &EngineOptions::default(),
        );
        assert!(report.skipped.is_empty(), "{:?}", report.skipped);
        let mut insp =
            Inspector::new(Arc::new(engine), &InspectConfig::replay(false)).expect("inspector");
        let mut out = Vec::new();
        let mut sink = |ev: &AlertEvent<'_>| {
            out.push((
                ev.pcap_cnt,
                ev.alerts.iter().map(|a| a.sid).collect(),
                ev.app_proto,
                ev.app_meta.is_some(),
            ));
        };
        for (i, p) in pkts.iter().enumerate() {
            insp.process_frame(Timestamp::from_secs(1), i as u64 + 1, 101, p, &mut sink);
        }
        insp.finish(Timestamp::from_secs(2), &mut sink);
        out
    }

    /// A flow whose protocol detection gave up in both directions is `app_proto` `failed` in
    /// EVE, as Suricata's ALPROTO_FAILED; one still undecided (fewer bytes than Suricata's
    /// pattern matcher needs: 17 to the server, 8 to the client) has none.
    #[test]
    fn failed_detection_is_app_proto_failed() {
        let (c0, s0) = (100u32, 500u32);
        let rows: [(&[u8], &[u8], Option<&str>); 3] = [
            (
                b"hello there, client\r\n",
                b"welcome, server!\r\n",
                Some("failed"),
            ),
            (b"hello there\r\n", b"welcome, server!\r\n", None),
            (b"hello there, client\r\n", b"hi!\r\n", None),
        ];
        for (q, a, want) in rows {
            let (l, r) = (q.len() as u32, a.len() as u32);
            let pkts = vec![
                tcp(true, SYN, c0, 0, b""),
                tcp(false, SYN | ACK, s0, c0 + 1, b""),
                tcp(true, ACK, c0 + 1, s0 + 1, b""),
                tcp(true, PSH_ACK, c0 + 1, s0 + 1, q),
                tcp(false, PSH_ACK, s0 + 1, c0 + 1 + l, a),
                tcp(true, PSH_ACK, c0 + 1 + l, s0 + 1 + r, b"more\r\n"),
            ];
            let got = run(
                "alert tcp any any -> any any (flow:to_server; content:\"more\"; dsize:>0; sid:1;)\n",
                &pkts,
            );
            assert_eq!(got, vec![(6, vec![1], want, false)], "{q:?} {a:?}");
        }
    }

    /// Suricata's IDS-mode attribution: a request is parsed when the server acknowledges it
    /// and its transaction (and the raw stream, triggered by the completed request) is
    /// inspected on the client's next packet; the response likewise on the server's next one;
    /// a request body delimited by nothing but the close is inspected at flow end.
    #[test]
    fn stream_and_app_layer_alerts_land_where_suricata_puts_them() {
        let req = b"GET /evil HTTP/1.1\r\nHost: a\r\n\r\n";
        let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        let (c0, s0) = (100u32, 500u32);
        let (l, r) = (req.len() as u32, resp.len() as u32);
        let pkts = vec![
            tcp(true, SYN, c0, 0, b""),
            tcp(false, SYN | ACK, s0, c0 + 1, b""),
            tcp(true, ACK, c0 + 1, s0 + 1, b""),
            tcp(true, PSH_ACK, c0 + 1, s0 + 1, req),
            tcp(false, ACK, s0 + 1, c0 + 1 + l, b""),
            tcp(false, PSH_ACK, s0 + 1, c0 + 1 + l, resp),
            tcp(true, ACK, c0 + 1 + l, s0 + 1 + r, b""),
            tcp(false, FIN_ACK, s0 + 1 + r, c0 + 1 + l, b""),
            tcp(true, FIN_ACK, c0 + 1 + l, s0 + 2 + r, b""),
            tcp(false, ACK, s0 + 2 + r, c0 + 2 + l, b""),
        ];
        let got = run(
            "alert http any any -> any any (flow:to_server; http.uri; content:\"/evil\"; sid:1;)\n\
             alert tcp any any -> any any (flow:to_server; content:\"evil HTTP\"; sid:2;)\n\
             alert http any any -> any any (http.stat_code; content:\"200\"; sid:3;)\n\
             alert tcp any any -> any any (content:\"Host: a\"; dsize:>0; sid:4;)\n",
            &pkts,
        );
        assert_eq!(
            got,
            vec![
                // dsize: packet payload only, on the packet itself.
                (4, vec![4], None, false),
                (7, vec![1, 2], Some("http"), true),
                (8, vec![3], Some("http"), true),
            ]
        );
        // Without the server's ACK nothing is delivered during the capture: the flow-end pseudo
        // packet (pcap_cnt 0) inspects the request.
        let got = run(
            "alert http any any -> any any (http.uri; content:\"/evil\"; sid:1;)\n",
            &pkts[..4],
        );
        assert_eq!(got, vec![(0, vec![1], Some("http"), true)]);
    }

    /// Suricata raw-inspects a direction's acknowledged data below the chunk size only when
    /// the session state is past TIME_WAIT. bench-mixed 10.0.2.15:50196 -> 218.250.6.59:12556
    /// (its real sequence numbers and sizes): the server closes first (FIN_WAIT1, FIN_WAIT2,
    /// then TIME_WAIT on the client's FIN), so the Gnutella request is matched on its packet and
    /// then only by the flow-end pseudo packet, not on the client's ACK or FIN. When the client
    /// closes first (CLOSE_WAIT) its FIN inspects the stream.
    #[test]
    fn raw_stream_waits_for_suricatas_close_state() {
        let head = b"GNUTELLA CONNECT/0.6\r\nNode: 93.47.226.53:28681\r\n";
        let mut req = head.to_vec();
        req.resize(598, b'x');
        let resp = vec![b'y'; 539];
        let (c0, s0) = (2_896_552_051u32, 6_592_001u32);
        let (l, r) = (req.len() as u32, resp.len() as u32);
        let common = [
            tcp(true, SYN, c0, 0, b""),
            tcp(false, SYN | ACK, s0, c0 + 1, b""),
            tcp(true, ACK, c0 + 1, s0 + 1, b""),
            tcp(true, PSH_ACK, c0 + 1, s0 + 1, &req),
            tcp(false, ACK, s0 + 1, c0 + 1 + l, b""),
            tcp(false, PSH_ACK, s0 + 1, c0 + 1 + l, &resp),
        ];
        let rules = "alert tcp any any -> any any (flow:established,to_server; \
                     content:\"GNUTELLA CONNECT/\"; nocase; depth:17; sid:1;)\n";
        let mut server_first = common.to_vec();
        server_first.extend([
            tcp(false, FIN_ACK, s0 + 1 + r, c0 + 1 + l, b""),
            tcp(true, ACK, c0 + 1 + l, s0 + 2 + r, b""),
            tcp(true, FIN_ACK, c0 + 1 + l, s0 + 2 + r, b""),
            tcp(false, ACK, s0 + 2 + r, c0 + 2 + l, b""),
        ]);
        let got = run(rules, &server_first);
        assert_eq!(
            got,
            vec![
                (4, vec![1], None, false),
                (0, vec![1], Some("failed"), false)
            ]
        );
        let mut client_first = common.to_vec();
        client_first.extend([
            tcp(true, FIN_ACK, c0 + 1 + l, s0 + 1 + r, b""),
            tcp(false, ACK, s0 + 1 + r, c0 + 2 + l, b""),
            tcp(false, FIN_ACK, s0 + 1 + r, c0 + 2 + l, b""),
            tcp(true, ACK, c0 + 2 + l, s0 + 2 + r, b""),
        ]);
        let got = run(rules, &client_first);
        assert_eq!(
            got,
            vec![
                (4, vec![1], None, false),
                (7, vec![1], Some("failed"), false)
            ]
        );
    }

    /// TCP Fast Open (suricata-verify tcp-fastopen-*): the SYN's data is stream data, so a
    /// stream rule does not match the SYN's payload (a `flags` rule, which requires the packet,
    /// does); the request reaches the app layer when the server acknowledges it after its
    /// SYN/ACK, and is inspected on the client's next packet.
    #[test]
    fn tcp_fast_open_syn_data_is_stream_data() {
        let req = b"GET /evil HTTP/1.0\r\n\r\n";
        let (c0, s0, l) = (100u32, 500u32, req.len() as u32);
        // The SYN with a Fast Open cookie option (kind 34, 8-byte cookie) and the request.
        let mut syn = tcp(true, SYN, c0, 0, b"");
        syn.truncate(40);
        syn[32] = 0x80; // data offset 8 words: 12 option bytes
        syn.extend_from_slice(&[1, 1, 34, 10, 1, 2, 3, 4, 5, 6, 7, 8]);
        syn.extend_from_slice(req);
        let total = syn.len() as u16;
        syn[2..4].copy_from_slice(&total.to_be_bytes());
        let pkts = vec![
            syn,
            tcp(false, SYN | ACK, s0, c0 + 1 + l, b""),
            tcp(true, ACK, c0 + 1 + l, s0 + 1, b""),
            tcp(false, ACK, s0 + 1, c0 + 1 + l, b""),
            tcp(true, ACK, c0 + 1 + l, s0 + 1, b""),
        ];
        let got = run(
            "alert tcp any any -> any any (content:\"GET\"; sid:10;)\n\
             alert tcp any any -> any any (flags:S; content:\"GET\"; sid:11;)\n\
             alert http any any -> any any (http.uri; content:\"/evil\"; sid:12;)\n",
            &pkts,
        );
        assert_eq!(
            got,
            vec![
                (1, vec![11], None, false),
                (5, vec![10, 12], Some("http"), true)
            ]
        );
    }

    /// A mid-stream pickup that saw the server's response first (suricata-verify bug-7552-01):
    /// when the response reaches the app layer, protocol detection reverses the flow as
    /// Suricata does, so the client's ACK is to_server and the response is inspected as
    /// to_client data (at flow end, the pseudo packet going from the server).
    #[test]
    fn midstream_response_first_reverses_the_flow() {
        let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        let (c0, s0) = (100u32, 500u32);
        let pkts = [
            tcp(false, PSH_ACK, s0, c0, resp),
            tcp(true, ACK, c0, s0 + resp.len() as u32, b""),
        ];
        let load = Loader::default().load_str(
            "t.rules",
            "alert http any any -> any any (http.stat_code; content:\"200\"; sid:1;)\n\
             alert tcp any 1234 -> any 80 (flow:to_server; sid:2;)\n",
        );
        let (engine, _) = Engine::compile(
            &load.rules,
            &seawall_rules::Vars::suricata_defaults(),
            &EngineOptions::default(),
        );
        let mut insp =
            Inspector::new(Arc::new(engine), &InspectConfig::replay(true)).expect("inspector");
        let mut out = Vec::new();
        let mut sink = |ev: &AlertEvent<'_>| {
            let sids: Vec<u32> = ev.alerts.iter().map(|a| a.sid).collect();
            out.push((ev.pcap_cnt, sids, ev.pkt.src, ev.flow.map(|f| f.direction)));
        };
        for (i, p) in pkts.iter().enumerate() {
            insp.process_frame(Timestamp::from_secs(1), i as u64 + 1, 101, p, &mut sink);
        }
        insp.finish(Timestamp::from_secs(2), &mut sink);
        let server: core::net::IpAddr = [10, 0, 0, 2].into();
        let client: core::net::IpAddr = [10, 0, 0, 1].into();
        assert_eq!(
            out,
            vec![
                (2, vec![2], client, Some(Direction::ToServer)),
                (0, vec![1], server, Some(Direction::ToClient)),
            ]
        );
        let st = insp.flow_table().counters();
        assert_eq!(st.midstream_pickups, 1);
    }

    /// Which first bytes Suricata's detection takes as going the other way.
    /// SSH: once both sides' NEWKEYS are parsed (the client's, on the server's ACK of it), both
    /// raw streams are flushed by pseudo packets before that packet, and the later packets are
    /// inspected without payload: header rules still match, payload rules no more.
    #[test]
    fn ssh_newkeys_both_ways_ends_payload_inspection() {
        let (c0, s0) = (100u32, 500u32);
        let newkeys = [0u8, 0, 0, 12, 10, 21, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        let mut cli = b"SSH-2.0-c\r\n".to_vec();
        cli.extend_from_slice(&newkeys);
        let mut srv = b"SSH-2.0-srvbanner\r\n".to_vec();
        srv.extend_from_slice(&newkeys);
        let (c1, s1) = (c0 + 1 + cli.len() as u32, s0 + 1 + srv.len() as u32);
        let pkts = vec![
            tcp(true, SYN, c0, 0, b""),
            tcp(false, SYN | ACK, s0, c0 + 1, b""),
            tcp(true, ACK, c0 + 1, s0 + 1, b""),
            tcp(false, PSH_ACK, s0 + 1, c0 + 1, &srv),
            tcp(true, ACK, c0 + 1, s1, b""),
            tcp(true, PSH_ACK, c0 + 1, s1, &cli),
            tcp(false, ACK, s1, c1, b""),
            tcp(true, PSH_ACK, c1, s1, b"secret bytes"),
            tcp(false, ACK, s1, c1 + 12, b""),
        ];
        let rules = "alert tcp any any -> any 80 (flow:established,to_server; content:\"secret\"; sid:1;)\n\
                     alert tcp any any -> any 80 (flow:established,to_server; sid:4;)\n\
                     alert ssh any any -> any any (content:\"srvbanner\"; sid:3;)\n";
        let out = run(rules, &pkts);
        let hits = |sid: u32| -> Vec<u64> {
            out.iter()
                .filter(|(_, s, _, _)| s.contains(&sid))
                .map(|(n, _, _, _)| *n)
                .collect()
        };
        assert_eq!(hits(1), Vec::<u64>::new(), "{out:?}");
        // The server's stream is inspected on the to-client flush pseudo packet.
        assert_eq!(hits(3), vec![0], "{out:?}");
        // Header-only rules still see packet 8 (to the server, payload not inspected).
        assert!(hits(4).contains(&8), "{out:?}");
        assert!(out
            .iter()
            .all(|(_, _, p, _)| p.is_none() || *p == Some("ssh")));
    }

    /// A drop raised on an SSH flush pseudo packet drops the packet that triggered the flush
    /// (the pseudo packet itself has nothing on the wire to drop).
    #[test]
    fn ssh_flush_drop_drops_the_triggering_packet() {
        let (c0, s0) = (100u32, 500u32);
        let newkeys = [0u8, 0, 0, 12, 10, 21, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        let mut cli = b"SSH-2.0-c\r\n".to_vec();
        cli.extend_from_slice(&newkeys);
        let mut srv = b"SSH-2.0-srvbanner\r\n".to_vec();
        srv.extend_from_slice(&newkeys);
        let (c1, s1) = (c0 + 1 + cli.len() as u32, s0 + 1 + srv.len() as u32);
        let pkts = [
            tcp(true, SYN, c0, 0, b""),
            tcp(false, SYN | ACK, s0, c0 + 1, b""),
            tcp(true, ACK, c0 + 1, s0 + 1, b""),
            tcp(false, PSH_ACK, s0 + 1, c0 + 1, &srv),
            tcp(true, ACK, c0 + 1, s1, b""),
            tcp(true, PSH_ACK, c0 + 1, s1, &cli),
            tcp(false, ACK, s1, c1, b""),
        ];
        let load = Loader::default().load_str(
            "t.rules",
            "drop ssh any any -> any any (content:\"srvbanner\"; sid:5;)\n",
        );
        assert!(load.diagnostics.is_empty(), "{:?}", load.diagnostics);
        let (engine, _) = Engine::compile(
            &load.rules,
            &seawall_rules::Vars::suricata_defaults(),
            &EngineOptions::default(),
        );
        let mut insp =
            Inspector::new(Arc::new(engine), &InspectConfig::replay(false)).expect("inspector");
        let mut flushed = Vec::new();
        let verdicts: Vec<Verdict> = pkts
            .iter()
            .enumerate()
            .map(|(i, p)| {
                insp.process_frame(Timestamp::from_secs(1), i as u64 + 1, 101, p, &mut |ev| {
                    flushed.push((
                        ev.pcap_cnt,
                        ev.alerts.iter().map(|a| a.sid).collect::<Vec<_>>(),
                    ));
                })
            })
            .collect();
        // The server's stream is inspected on the flush pseudo packet of packet 7 ...
        assert_eq!(flushed, vec![(0, vec![5])]);
        // ... and packet 7 carries the drop.
        assert!(matches!(verdicts[6], Verdict::Drop), "{verdicts:?}");
        assert!(verdicts[..6].iter().all(is_pass), "{verdicts:?}");
    }

    #[test]
    fn app_data_seen_in_the_other_direction() {
        let (ts, tc) = (Direction::ToServer, Direction::ToClient);
        assert!(seen_reversed(AppProto::Http, ts, b"HTTP/1.1 200 OK\r\n"));
        assert!(!seen_reversed(AppProto::Http, tc, b"HTTP/1.1 200 OK\r\n"));
        assert!(seen_reversed(AppProto::Http, tc, b"GET / HTTP/1.1\r\n"));
        assert!(!seen_reversed(AppProto::Http, ts, b"GET / HTTP/1.1\r\n"));
        // SMB1: flags byte 0x98 has the reply bit; SMB2: flags bit 0 (server to redirector).
        let mut smb1 = vec![
            0, 0, 0, 0x40, 0xff, b'S', b'M', b'B', 0x73, 0, 0, 0, 0, 0x98,
        ];
        assert!(seen_reversed(AppProto::Smb, ts, &smb1));
        smb1[13] = 0x18;
        assert!(!seen_reversed(AppProto::Smb, ts, &smb1));
        assert!(seen_reversed(AppProto::Smb, tc, &smb1));
        let mut smb2 = vec![0, 0, 0, 0x40, 0xfe, b'S', b'M', b'B', 64, 0];
        smb2.extend_from_slice(&[0; 10]);
        smb2.extend_from_slice(&[1, 0, 0, 0]);
        assert!(seen_reversed(AppProto::Smb, ts, &smb2));
        assert!(!seen_reversed(AppProto::Tls, ts, &[0x16, 3, 1]));
    }

    /// DNS over UDP: detected by port and content, the query inspected on the packet itself.
    /// A UPnP `SUBSCRIBE` request (not among Suricata's HTTP methods) answered by
    /// `HTTP/1.0 200 OK` (bench-mixed.pcap): the response direction is HTTP; the request
    /// direction, given up before, is FAILED once the response is recognised, its bytes still
    /// go to the parser (the completed request triggers raw inspection on that packet).
    #[test]
    fn request_direction_failed_once_the_response_is_http() {
        let (c0, s0) = (100u32, 500u32);
        let q = b"SUBSCRIBE /upnp/event HTTP/1.1\r\nHost: 192.168.0.1\r\n\r\n";
        let a = b"HTTP/1.0 200 OK\r\nServer: UPnP/1.0\r\n\r\n";
        let (l, r) = (q.len() as u32, a.len() as u32);
        let pkts = vec![
            tcp(true, SYN, c0, 0, b""),
            tcp(false, SYN | ACK, s0, c0 + 1, b""),
            tcp(true, ACK, c0 + 1, s0 + 1, b""),
            tcp(true, PSH_ACK, c0 + 1, s0 + 1, q),
            tcp(false, ACK, s0 + 1, c0 + 1 + l, b""),
            tcp(false, PSH_ACK, s0 + 1, c0 + 1 + l, a),
            tcp(true, ACK, c0 + 1 + l, s0 + 1 + r, b""),
            tcp(true, ACK, c0 + 1 + l, s0 + 1 + r, b""),
        ];
        let got = run(
            "alert tcp any any -> any any (app-layer-protocol:http; sid:1;)\n\
             alert tcp any any -> any any (app-layer-protocol:!http; flow:to_server; \
             content:\"SUBSCRIBE\"; sid:3;)\n",
            &pkts,
        );
        let got: Vec<(u64, Vec<u32>)> = got.into_iter().map(|a| (a.0, a.1)).collect();
        // The request is inspected with its direction FAILED on the ACK of the response; the
        // response direction's PD flag lands on the next server packet (none here).
        assert_eq!(got, vec![(7, vec![3])]);
    }

    #[test]
    fn udp_dns_detection_is_per_direction_with_suricatas_flags() {
        // IPv4/UDP between 10.0.0.2:12345 (client) and 10.0.0.1:53, `to_server` or back.
        let udp = |to_server: bool, payload: &[u8]| {
            let total = (28 + payload.len()) as u8;
            let mut p = vec![0x45, 0, 0, total, 0, 1, 0, 0, 64, 17, 0, 0];
            let (src, dst, sp, dp) = if to_server {
                ([10, 0, 0, 2], [10, 0, 0, 1], [0x30, 0x39], [0, 53])
            } else {
                ([10, 0, 0, 1], [10, 0, 0, 2], [0, 53], [0x30, 0x39])
            };
            p.extend_from_slice(&src);
            p.extend_from_slice(&dst);
            p.extend_from_slice(&sp);
            p.extend_from_slice(&dp);
            p.extend_from_slice(&[0, (8 + payload.len()) as u8, 0, 0]);
            p.extend_from_slice(payload);
            p
        };
        let mut q = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        q.extend_from_slice(b"\x04evil\x03com\x00\x00\x01\x00\x01");
        let mut r = q.clone();
        r[2] = 0x81;
        let rule = "alert udp any any -> any any (app-layer-protocol:dns; sid:2;)\n";
        let pkts = |v: &[(bool, &[u8])]| -> Vec<u64> {
            let frames: Vec<Vec<u8>> = v.iter().map(|(ts, b)| udp(*ts, b)).collect();
            run(rule, &frames).into_iter().map(|a| a.0).collect()
        };
        // Query, query, response, response: the first two packets of each direction carry a
        // detection result (this packet's flag, then the flow's), as in Suricata 7.0.10.
        assert_eq!(
            pkts(&[(true, &q), (true, &q), (false, &r), (false, &r)]),
            vec![1, 2, 3, 4]
        );
        // A first "query" that is not DNS fails its direction; the response is detected on its
        // own and alerts, the later query does not (its direction failed).
        let snmp = b"\x30\x40\x02\x01\x03\x30\x0f\x02\x03\x00\x91\xc8\x02\x02\x05\xdc";
        assert_eq!(
            pkts(&[(true, snmp), (false, &r), (true, &q), (false, &r)]),
            vec![2, 4]
        );
    }

    #[test]
    fn dns_over_udp_is_inspected_on_the_query_packet() {
        let mut q = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        q.extend_from_slice(b"\x04evil\x03com\x00\x00\x01\x00\x01");
        let total = 28 + q.len();
        let mut p = vec![
            0x45,
            0,
            0,
            total as u8,
            0,
            1,
            0,
            0,
            64,
            17,
            0,
            0,
            10,
            0,
            0,
            1,
        ];
        p.extend_from_slice(&[10, 0, 0, 2, 0x30, 0x39, 0, 53, 0, (8 + q.len()) as u8, 0, 0]);
        p.extend_from_slice(&q);
        let got = run(
            "alert dns any any -> any any (dns.query; content:\"evil.com\"; sid:7;)\n",
            &[p],
        );
        assert_eq!(got, vec![(1, vec![7], Some("dns"), true)]);
    }

    /// A 20-byte IPv4 header from 172.16.0.1 to 172.16.0.2 with `proto` and `payload`.
    fn outer_ipv4(proto: u8, payload: &[u8]) -> Vec<u8> {
        let total = (20 + payload.len()) as u16;
        let mut v = vec![0x45, 0];
        v.extend_from_slice(&total.to_be_bytes());
        v.extend_from_slice(&[0, 1, 0, 0, 64, proto, 0, 0, 172, 16, 0, 1, 172, 16, 0, 2]);
        v.extend_from_slice(payload);
        v
    }

    /// Replays raw-IP `pkts` and returns (pcap_cnt, sids, tunnel depth) per alerting packet,
    /// with the counters.
    fn run_tunnels(rules: &str, pkts: &[Vec<u8>]) -> (Vec<(u64, Vec<u32>, u8)>, InspectCounters) {
        let load = Loader::default().load_str("t.rules", rules);
        assert!(load.diagnostics.is_empty(), "{:?}", load.diagnostics);
        let (engine, _) = Engine::compile(
            &load.rules,
            &seawall_rules::Vars::suricata_defaults(),
            &EngineOptions::default(),
        );
        let mut insp =
            Inspector::new(Arc::new(engine), &InspectConfig::replay(false)).expect("inspector");
        let mut out = Vec::new();
        let mut sink = |ev: &AlertEvent<'_>| {
            assert_eq!(
                ev.tunnel.is_some(),
                matches!(ev.origin, Origin::Tunnel { .. })
            );
            out.push((
                ev.pcap_cnt,
                ev.alerts.iter().map(|a| a.sid).collect(),
                ev.tunnel.map_or(0, |t| t.depth),
            ));
        };
        for (i, p) in pkts.iter().enumerate() {
            insp.process_frame(Timestamp::from_secs(1), i as u64 + 1, 101, p, &mut sink);
        }
        insp.finish(Timestamp::from_secs(2), &mut sink);
        (out, insp.counters())
    }

    /// Tunnels as Suricata opens them: the inner packet is inspected first as a packet of its
    /// own (pcap_cnt 0, its own flow), then the carrier with header rules only; GRE carriers
    /// have no flow (an IP-only rule fires on each); a GRE-in-GRE nests.
    #[test]
    fn tunnel_packets_are_inspected_as_packets_of_their_own() {
        let inner = tcp(true, SYN, 1, 0, b"");
        let gre = |payload: &[u8]| {
            let mut g = vec![0x20, 0, 0x08, 0x00, 0, 0, 0, 9];
            g.extend_from_slice(payload);
            outer_ipv4(47, &g)
        };
        let rules = "alert tcp any any -> any 80 (flags:S; sid:1;)\n\
                     alert ip any any -> any any (ip_proto:47; sid:2;)\n\
                     alert ip 172.16.0.1 any -> any any (sid:3;)\n";
        let pkts = vec![gre(&inner), gre(&inner), gre(&gre(&inner))];
        let (got, c) = run_tunnels(rules, &pkts);
        assert_eq!(
            got,
            vec![
                (0, vec![1], 1),
                (1, vec![2, 3], 0),
                (0, vec![1], 1),
                (2, vec![2, 3], 0),
                // The inner SYN again (a retransmission on the same inner flow), then the
                // middle GRE packet (depth 1, its own IP-only match), then the root.
                (0, vec![1], 2),
                (0, vec![2, 3], 1),
                (3, vec![2, 3], 0),
            ]
        );
        assert_eq!(c.tunnels.get("gre"), Some(&4));
        assert_eq!(c.untracked.get("no_flow_protocol"), Some(&4));
        // A GRE protocol Suricata does not open: counted, the carrier inspected alone.
        let mut aruba = vec![0, 0, 0x83, 0x00];
        aruba.extend_from_slice(&inner);
        let (got, c) = run_tunnels(rules, &[outer_ipv4(47, &aruba)]);
        assert_eq!(got, vec![(1, vec![2, 3], 0)]);
        assert_eq!(c.tunnel_errors.get("gre_unknown_protocol"), Some(&1));
    }

    /// The appliance opens a tunnel inside a GWLB inner packet as replay does: the GRE packet
    /// GWLB delivers and the TCP packet inside it are both inspected, the inner one keyed under
    /// the GWLB endpoint with the GWLB metadata; the frame's verdict is the inner drop.
    #[test]
    fn tunnel_inside_gwlb_traffic_is_opened_in_the_appliance() {
        let inner = tcp(true, SYN, 1, 0, b"");
        let mut g = vec![0, 0, 0x08, 0x00];
        g.extend_from_slice(&inner);
        let gre = outer_ipv4(47, &g);
        let load = Loader::default().load_str(
            "t.rules",
            "drop tcp any any -> any 80 (flags:S; sid:1;)\n\
             alert ip any any -> any any (ip_proto:47; sid:2;)\n",
        );
        let (engine, _) = Engine::compile(
            &load.rules,
            &seawall_rules::Vars::suricata_defaults(),
            &EngineOptions::default(),
        );
        let mut insp =
            Inspector::new(Arc::new(engine), &InspectConfig::appliance()).expect("inspector");
        let meta = GwlbMeta {
            endpoint: seawall_wire::GwlbEndpointId(7),
            attachment: seawall_wire::AttachmentId(8),
            cookie: seawall_wire::FlowCookie(9),
        };
        let mut out = Vec::new();
        let v = insp.process_gwlb(Timestamp::from_secs(1), meta, 0x0800, &gre, &mut |ev| {
            out.push((
                ev.alerts.iter().map(|a| a.sid).collect::<Vec<_>>(),
                ev.tunnel.map(|t| (t.depth, t.kind)),
                ev.gwlb,
            ));
        });
        assert_eq!(v, Verdict::Drop);
        assert_eq!(
            out,
            vec![
                (vec![1], Some((1, TunnelKind::Gre)), Some(meta)),
                (vec![2], None, Some(meta)),
            ]
        );
    }

    /// A GENEVE header with AWS options inside GWLB traffic is the sender's bytes: its inner
    /// packet stays keyed under, and reported with, the real GWLB endpoint.
    #[test]
    fn nested_gwlb_options_do_not_pick_another_endpoint() {
        let inner = tcp(true, SYN, 1, 0, b"");
        let spoofed = GwlbMeta {
            endpoint: seawall_wire::GwlbEndpointId(99),
            attachment: seawall_wire::AttachmentId(98),
            cookie: seawall_wire::FlowCookie(97),
        };
        let repr = seawall_wire::GwlbRepr {
            vni: seawall_wire::Vni(0),
            protocol: 0x0800,
            meta: spoofed,
        };
        let mut gen = vec![0u8; repr.buffer_len()];
        repr.emit(&mut gen);
        gen.extend_from_slice(&inner);
        let mut u = 40000u16.to_be_bytes().to_vec();
        u.extend_from_slice(&6081u16.to_be_bytes());
        u.extend_from_slice(&((8 + gen.len()) as u16).to_be_bytes());
        u.extend_from_slice(&[0, 0]);
        u.extend_from_slice(&gen);
        let datagram = outer_ipv4(17, &u);
        let load = Loader::default()
            .load_str("t.rules", "alert tcp any any -> any 80 (flags:S; sid:1;)\n");
        let (engine, _) = Engine::compile(
            &load.rules,
            &seawall_rules::Vars::suricata_defaults(),
            &EngineOptions::default(),
        );
        let mut insp =
            Inspector::new(Arc::new(engine), &InspectConfig::appliance()).expect("inspector");
        let meta = GwlbMeta {
            endpoint: seawall_wire::GwlbEndpointId(7),
            attachment: seawall_wire::AttachmentId(8),
            cookie: seawall_wire::FlowCookie(9),
        };
        let mut out = Vec::new();
        insp.process_gwlb(
            Timestamp::from_secs(1),
            meta,
            0x0800,
            &datagram,
            &mut |ev| {
                out.push((ev.alerts.iter().map(|a| a.sid).collect::<Vec<_>>(), ev.gwlb));
            },
        );
        assert_eq!(out, vec![(vec![1], Some(meta))]);
    }

    /// A VXLAN carrier keeps its flow and header rules, but its payload is not inspected once
    /// the tunnel is opened; a malformed VXLAN header leaves an ordinary UDP datagram.
    #[test]
    fn vxlan_carrier_payload_is_not_inspected() {
        let inner = tcp(true, SYN, 1, 0, b"");
        let vxlan = |flags: u8| {
            let mut v = vec![flags, 0, 0, 0, 0, 0, 1, 0];
            v.extend_from_slice(&[0; 12]);
            v.extend_from_slice(&[0x08, 0x00]);
            v.extend_from_slice(&inner);
            let mut u = 40000u16.to_be_bytes().to_vec();
            u.extend_from_slice(&4789u16.to_be_bytes());
            u.extend_from_slice(&((8 + v.len()) as u16).to_be_bytes());
            u.extend_from_slice(&[0, 0]);
            u.extend_from_slice(&v);
            outer_ipv4(17, &u)
        };
        let rules = "alert tcp any any -> any 80 (flags:S; sid:1;)\n\
                     alert udp any any -> any 4789 (sid:2;)\n\
                     alert udp any any -> any 4789 (content:\"|0a 00 00 01|\"; sid:3;)\n";
        let (got, c) = run_tunnels(rules, &[vxlan(0x08)]);
        assert_eq!(got, vec![(0, vec![1], 1), (1, vec![2], 0)]);
        assert_eq!(c.tunnels.get("vxlan"), Some(&1));
        // The I flag clear: not VXLAN, the payload (with the inner address) is inspected.
        let (got, c) = run_tunnels(rules, &[vxlan(0x00)]);
        assert_eq!(got, vec![(1, vec![2, 3], 0)]);
        assert_eq!(c.tunnel_errors.get("vxlan_invalid"), Some(&1));
    }
}
