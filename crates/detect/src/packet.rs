//! What the engine needs to know about one packet, computed once per [`crate::Engine::inspect`]
//! call from the decoded [`InnerPacket`] and its raw L3 bytes, with Suricata's decoder view:
//! fragments (first or not) carry no transport header, ports or payload.

use core::net::IpAddr;

use seawall_applayer::{AppProto, TxBuffers};
use seawall_flow::{Direction, PacketFlags, Timestamp};
use seawall_wire::{InnerPacket, IpVersion, Transport};

/// The flow a packet belongs to, as the flow table reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowInfo {
    /// Flow id (EVE `flow_id`).
    pub flow_id: u64,
    /// The packet's direction relative to the flow's originator.
    pub direction: Direction,
    /// Per-packet flow flags (`established`, first packet in its direction, ...).
    pub flags: PacketFlags,
}

impl FlowInfo {
    /// From a flow table reference.
    pub fn from_ref<T>(f: &seawall_flow::FlowRef<'_, T>) -> FlowInfo {
        FlowInfo {
            flow_id: f.flow_id(),
            direction: f.direction(),
            flags: f.flags(),
        }
    }

    /// `flow:established` holds.
    pub const fn established(&self) -> bool {
        self.flags.established()
    }
}

/// One packet handed to the engine.
#[derive(Debug, Clone, Copy)]
pub struct PacketInfo<'a> {
    /// Packet timestamp (thresholds and xbits expiry use it; the clock is never read).
    pub ts: Timestamp,
    /// The decoded packet.
    pub pkt: &'a InnerPacket<'a>,
    /// The bytes given to `decode_inner` (the L3 packet): IPv4 id, DF/RF bits and options come
    /// from here. An empty slice is allowed; those keywords then never match.
    pub raw: &'a [u8],
    /// The packet's flow, `None` when untracked (fragments, untracked ICMP errors, ...).
    pub flow: Option<FlowInfo>,
    /// True for a packet rebuilt by defragmentation (`flow:only_frag` / `no_frag`).
    pub reassembled: bool,
    /// 1-based packet number in the capture (EVE `pcap_cnt`), 0 when not from a capture.
    pub pcap_cnt: u64,
    /// Stream and app-layer context (TCP reassembly, detected protocol, transactions ready for
    /// inspection). The default (nothing) gives packet-only inspection.
    pub app: AppInput<'a>,
}

/// One transaction whose buffers are ready for the rules of direction `dir`.
#[derive(Debug, Clone, Copy)]
pub struct TxRef<'a> {
    /// Transaction id (per flow).
    pub tx_id: u64,
    /// Direction whose rules inspect it (the packet's direction).
    pub dir: Direction,
    /// The transaction's buffers.
    pub buffers: TxBuffers<'a>,
    /// The body of direction `dir` is ready for inspection (complete, or its inspection limit
    /// reached): before that `file.data` and `http.*_body` are treated as absent, as
    /// Suricata inspects bodies only once complete or past its minimal inspect size.
    pub body_ready: bool,
}

/// One direction's protocol detection outcome (Suricata's `alproto_ts` / `alproto_tc`), which
/// `app-layer-protocol` compares for packets of that direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DirProto {
    /// Not decided yet: `app-layer-protocol` (negated or not) does not match.
    #[default]
    Unknown,
    /// Decided without a protocol: only negated checks match.
    Failed,
    /// This direction's data was recognised as this protocol.
    Known(AppProto),
}

/// What the stream and app layer add to one packet (Suricata's raw-stream inspection and
/// transaction inspection run on the packet).
#[derive(Debug, Clone, Copy, Default)]
pub struct AppInput<'a> {
    /// Reassembled raw-stream bytes of the packet's direction to inspect now (Suricata's
    /// `PKT_DETECT_HAS_STREAMDATA`): TCP payload rules match here, and the prefilter scans it.
    pub stream: Option<&'a [u8]>,
    /// The packet's payload was added to the stream (Suricata's `PKT_STREAM_ADD`): stream rules
    /// then don't inspect the packet payload itself.
    pub stream_added: bool,
    /// The flow's detected application protocol.
    pub alproto: Option<AppProto>,
    /// Protocol detection finished (found, or none of ours: Suricata's ALPROTO_FAILED): a
    /// negated `app-layer-protocol` only matches then.
    pub alproto_done: bool,
    /// Transactions to inspect on this packet.
    pub txs: &'a [TxRef<'a>],
    /// The protocol detection outcome of the packet's direction; `None` when the caller does
    /// not track it (then `app-layer-protocol` compares the flow's protocol, negated checks
    /// once detection is done).
    pub dir_alproto: Option<DirProto>,
    /// The packet carries a direction's protocol-detection result (Suricata's
    /// `PKT_PROTO_DETECT_TS_DONE`/`_TC_DONE`: in IDS mode the first packet of that direction
    /// after detection completed): PD-only signatures match only on such packets.
    pub proto_detect_done: bool,
    /// The TCP session's stream sizes `[client, server]` after this packet, as Suricata's
    /// `stream_size` computes them (`next_seq - isn`: in-order sequence space, SYN and FIN
    /// counted); `None` without a TCP session (the keyword never matches then).
    pub stream_size: Option<[u32; 2]>,
}

impl<'a> PacketInfo<'a> {
    /// A packet with no flow, not reassembled, pcap_cnt 0.
    pub fn new(ts: Timestamp, pkt: &'a InnerPacket<'a>, raw: &'a [u8]) -> Self {
        PacketInfo {
            ts,
            pkt,
            raw,
            flow: None,
            reassembled: false,
            pcap_cnt: 0,
            app: AppInput::default(),
        }
    }

    /// With this flow.
    pub fn with_flow(mut self, flow: FlowInfo) -> Self {
        self.flow = Some(flow);
        self
    }
}

pub(crate) const FRAG_MF: u8 = 1;
pub(crate) const FRAG_DF: u8 = 2;
pub(crate) const FRAG_RF: u8 = 4;

/// Transport facts, Suricata-style (none for fragments).
#[derive(Debug, Clone, Copy)]
pub(crate) enum L4 {
    Tcp {
        flags: u8,
        seq: u32,
        ack: u32,
        window: u16,
    },
    Udp,
    Icmp {
        ty: u8,
        code: u8,
        rest: [u8; 4],
    },
    None,
}

/// The per-packet view every check reads.
#[derive(Debug, Clone, Copy)]
pub(crate) struct View<'a> {
    pub v4: bool,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: u8,
    pub sport: u16,
    pub dport: u16,
    /// TCP/UDP with a decoded header (port checks apply).
    pub has_ports: bool,
    pub l4: L4,
    pub payload: &'a [u8],
    pub ttl: u8,
    pub tos: u8,
    /// IPv4 identification.
    pub ip_id: Option<u16>,
    /// IPv4 MF/DF/RF bits (FRAG_*).
    pub fragbits: u8,
    /// IPv4: the raw offset field (8-byte units); IPv6: the fragment header offset in bytes.
    pub frag_offset: Option<u16>,
    /// IPv4 option flags (Suricata's IPV4_OPT_FLAG_* bits).
    pub ipopts: u16,
    /// TCP stream sizes `[client, server]` ([`AppInput::stream_size`]).
    pub stream_size: Option<[u32; 2]>,
}

impl<'a> View<'a> {
    pub(crate) fn new(pkt: &InnerPacket<'a>, raw: &[u8]) -> View<'a> {
        let v4 = pkt.version == IpVersion::V4;
        let fragmented = pkt.fragment.is_some();
        let (l4, ports, payload) = if fragmented {
            (L4::None, None, &[][..])
        } else {
            match pkt.transport {
                Transport::Tcp {
                    ports,
                    flags,
                    seq,
                    ack,
                    window,
                    payload,
                    ..
                } => (
                    L4::Tcp {
                        flags: flags.0,
                        seq,
                        ack,
                        window,
                    },
                    Some(ports),
                    payload,
                ),
                Transport::Udp { ports, payload } => (L4::Udp, Some(ports), payload),
                Transport::Icmp {
                    ty,
                    code,
                    rest_of_header,
                    payload,
                    ..
                } => (
                    L4::Icmp {
                        ty,
                        code,
                        rest: rest_of_header,
                    },
                    None,
                    payload,
                ),
                Transport::Fragment { .. } | Transport::Other { .. } => (L4::None, None, &[][..]),
            }
        };
        let (ip_id, fragbits, ipopts) = if v4 && raw.len() >= 20 {
            let id = u16::from_be_bytes([raw[4], raw[5]]);
            let off = raw[6];
            let mut bits = 0;
            if off & 0x20 != 0 {
                bits |= FRAG_MF;
            }
            if off & 0x40 != 0 {
                bits |= FRAG_DF;
            }
            if off & 0x80 != 0 {
                bits |= FRAG_RF;
            }
            let ihl = usize::from(raw[0] & 0x0f) * 4;
            let opts = raw.get(20..ihl).map_or(0, ipv4_option_flags);
            (Some(id), bits, opts)
        } else {
            (None, 0, 0)
        };
        let frag_offset = match (v4, pkt.fragment) {
            (true, Some(f)) => Some(f.offset),
            (true, None) => Some(0),
            (false, Some(f)) => Some(f.offset.wrapping_mul(8)),
            (false, None) => None,
        };
        let ports = ports.unwrap_or_default();
        View {
            v4,
            src: pkt.src,
            dst: pkt.dst,
            proto: pkt.ip_proto,
            sport: ports.src,
            dport: ports.dst,
            has_ports: matches!(l4, L4::Tcp { .. } | L4::Udp),
            l4,
            payload,
            ttl: pkt.ttl,
            tos: pkt.tos,
            ip_id,
            fragbits,
            frag_offset,
            ipopts,
            stream_size: None,
        }
    }

    /// With the TCP session's stream sizes (`stream_size`).
    pub(crate) fn with_stream_size(mut self, sizes: Option<[u32; 2]>) -> View<'a> {
        self.stream_size = sizes;
        self
    }
}

/// Suricata's IPv4 option flag bits (`ipopts`).
pub(crate) mod ipopt {
    pub const EOL: u16 = 1 << 1;
    pub const NOP: u16 = 1 << 2;
    pub const RR: u16 = 1 << 3;
    pub const TS: u16 = 1 << 4;
    pub const QS: u16 = 1 << 5;
    pub const LSRR: u16 = 1 << 6;
    pub const SSRR: u16 = 1 << 7;
    pub const SID: u16 = 1 << 8;
    pub const SEC: u16 = 1 << 9;
    pub const CIPSO: u16 = 1 << 10;
    pub const RTRALT: u16 = 1 << 11;
    pub const ESEC: u16 = 1 << 12;
}

/// Walk IPv4 options and collect their flags; stops at end-of-list or a malformed option.
fn ipv4_option_flags(opts: &[u8]) -> u16 {
    let mut flags = 0;
    let mut i = 0;
    while i < opts.len() {
        let ty = opts[i];
        match ty {
            0 => {
                flags |= ipopt::EOL;
                break;
            }
            1 => {
                flags |= ipopt::NOP;
                i += 1;
                continue;
            }
            _ => {}
        }
        let Some(&len) = opts.get(i + 1) else { break };
        let len = usize::from(len);
        if len < 2 || i + len > opts.len() {
            break;
        }
        flags |= match ty {
            0x07 => ipopt::RR,
            0x19 => ipopt::QS,
            0x44 => ipopt::TS,
            0x82 => ipopt::SEC,
            0x83 => ipopt::LSRR,
            0x85 => ipopt::ESEC,
            0x86 => ipopt::CIPSO,
            0x88 => ipopt::SID,
            0x89 => ipopt::SSRR,
            0x94 => ipopt::RTRALT,
            _ => 0,
        };
        i += len;
    }
    flags
}
