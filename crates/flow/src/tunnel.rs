//! Tunnel decapsulation as Suricata 7.0.10 does it with its default configuration.
//!
//! A decoded IP packet may carry another packet: GRE (version 0 with checksum, key, sequence and
//! routing fields; PPTP's version 1 with PPP), Transparent Ethernet Bridging and ERSPAN type I/II
//! in GRE, VLAN in GRE, VXLAN (UDP port 4789), GENEVE (UDP port 6081, with or without AWS GWLB
//! options), Teredo (UDP port 3544), IPv6 in IPv4 (protocol 41), IPv4 in IPv6 (next header 4)
//! and IPv6 in IPv6 (next header 41). [`decapsulate`] finds the inner packet; the caller decodes
//! it with [`seawall_wire::decode_inner`] and inspects it as a packet of its own, then inspects
//! the carrier without its payload (Suricata's `PKT_NOPAYLOAD_INSPECTION` on a tunnel's parent).
//!
//! Suricata facts this follows (`decode-gre.c`, `decode-udp.c`, `decode-vxlan.c`,
//! `decode-geneve.c`, `decode-teredo.c`, `decode-erspan.c`, `decode-ipv4.c`, `decode-ipv6.c`,
//! `PacketTunnelPktSetup` in `decode.c`):
//! - the UDP decoders are tried in the order Teredo, GENEVE, VXLAN, on the source *or* the
//!   destination port; IPv4 protocol 4 (IPv4 in IPv4) is not decoded; GRE and IPv6 in IPv6 after
//!   IPv6 extension headers are not decoded, IPv4 in IPv6 is;
//! - a tunnel packet whose inner IP header does not decode is discarded (for Teredo: any decode
//!   problem), and the carrier is then an ordinary packet, payload included
//!   ([`Decap::keeps_tunnel`]); an inner Ethernet frame keeps the tunnel whatever it carries;
//! - the tunnel packet has no `pcap_cnt` of its own (EVE logs none), its flow is keyed on its
//!   own VLAN ids and its depth ([`layer_endpoint`]);
//! - a packet stops decoding at Suricata's `decoder.max-layers` (16) layers.
//!
//! Zero allocation, never panics.

use core::fmt;

use seawall_wire::inner::ip_proto;
use seawall_wire::{parse_gwlb, InnerPacket, IpVersion, Transport, ETHERTYPE_IPV4, ETHERTYPE_IPV6};

use crate::link::{ethernet_walk, network_layer, Frame, FrameError, Walk, MAX_LAYERS};

/// UDP port Suricata decodes VXLAN on (`decoder.vxlan.ports` default).
pub const VXLAN_PORT: u16 = 4789;
/// UDP port Suricata decodes GENEVE on (`decoder.geneve.ports` default).
pub const GENEVE_PORT: u16 = 6081;
/// UDP port Suricata decodes Teredo on (`decoder.teredo.ports` in the default suricata.yaml).
pub const TEREDO_PORT: u16 = 3544;

const IP_PROTO_GRE: u8 = 47;
const IP_PROTO_IPIP: u8 = 4;
const IP_PROTO_IPV6: u8 = 41;

const ETHERTYPE_ARP: u16 = 0x0806;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
const ETHERTYPE_QINQ_OLD: u16 = 0x9100;
const ETHERTYPE_BRIDGE: u16 = 0x6558;
const ETHERTYPE_ERSPAN: u16 = 0x88be;
const GRE_PROTO_PPP: u16 = 0x880b;

const GRE_HEADER: usize = 4;
const ERSPAN_II_HEADER: usize = 8;
const VXLAN_HEADER: usize = 8;
const GENEVE_HEADER: usize = 8;
const ETHERNET_HEADER: usize = 14;
const IPV4_MIN_HEADER: usize = 20;
const IPV6_HEADER: usize = 40;
const TEREDO_ORIGIN_INDICATION: usize = 8;

/// The encapsulation a tunnel packet came out of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TunnelKind {
    /// GRE version 0 (IPv4, IPv6, VLAN, Transparent Ethernet Bridging or PPP inside).
    Gre,
    /// GRE version 1 (PPTP) carrying PPP.
    Pptp,
    /// ERSPAN type I (GRE protocol 0x88BE without a sequence number): a bare Ethernet frame.
    ErspanI,
    /// ERSPAN type II (GRE protocol 0x88BE with a sequence number): 8-byte header + Ethernet.
    ErspanII,
    /// VXLAN (UDP 4789).
    Vxlan,
    /// GENEVE (UDP 6081) without the AWS GWLB options.
    Geneve,
    /// GENEVE (UDP 6081) with the AWS GWLB options: a capture of GWLB traffic.
    GeneveGwlb,
    /// Teredo (UDP 3544): IPv6 in UDP.
    Teredo,
    /// IPv6 in IPv4 (protocol 41).
    Ipv6InIpv4,
    /// IPv4 in IPv6 (next header 4).
    Ipv4InIpv6,
    /// IPv6 in IPv6 (next header 41).
    Ipv6InIpv6,
}

impl TunnelKind {
    /// Stable snake_case label for counters.
    pub const fn name(self) -> &'static str {
        match self {
            TunnelKind::Gre => "gre",
            TunnelKind::Pptp => "pptp",
            TunnelKind::ErspanI => "erspan_i",
            TunnelKind::ErspanII => "erspan_ii",
            TunnelKind::Vxlan => "vxlan",
            TunnelKind::Geneve => "geneve",
            TunnelKind::GeneveGwlb => "geneve_gwlb",
            TunnelKind::Teredo => "teredo",
            TunnelKind::Ipv6InIpv4 => "ipv6_in_ipv4",
            TunnelKind::Ipv4InIpv6 => "ipv4_in_ipv6",
            TunnelKind::Ipv6InIpv6 => "ipv6_in_ipv6",
        }
    }
}

impl fmt::Display for TunnelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a packet that looks like a tunnel carrier yields no tunnel packet. The carrier is then
/// inspected as an ordinary packet (payload included), as Suricata does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum TunnelError {
    /// The GRE header (4 bytes, or with its optional fields) runs past the packet.
    #[error("gre header truncated")]
    GreTruncated,
    /// GRE flags GRE does not allow (recursion control, reserved bits; for version 1 checksum,
    /// routing, strict source route, no key, no PPP).
    #[error("gre flags invalid for its version")]
    GreBadFlags,
    /// A GRE source route entry runs past the packet.
    #[error("gre source route entry malformed")]
    GreBadSre,
    /// GRE version other than 0 and 1.
    #[error("gre version is not 0 or 1")]
    GreBadVersion,
    /// GRE carries a protocol Suricata does not decode (WCCP, Aruba, MPLS, ...).
    #[error("gre protocol type {0:#06x} is not decoded")]
    GreProtocol(u16),
    /// The ERSPAN type II header is cut short or not version 1.
    #[error("erspan type ii header truncated or unsupported version")]
    Erspan,
    /// UDP to the VXLAN port that is not VXLAN (short, I flag clear, reserved byte set).
    #[error("not a valid vxlan header")]
    Vxlan,
    /// VXLAN carrying an Ethernet frame of a type Suricata does not decode.
    #[error("vxlan inner ethertype {0:#06x} is not decoded")]
    VxlanPayload(u16),
    /// UDP to the GENEVE port that is not GENEVE (short, version, reserved bits, option lengths).
    #[error("not a valid geneve header")]
    Geneve,
    /// GENEVE carrying a protocol type Suricata does not decode.
    #[error("geneve protocol type {0:#06x} is not decoded")]
    GenevePayload(u16),
    /// The inner packet of an IP-in-IP tunnel is shorter than an IP header, or of the other IP
    /// version.
    #[error("ip-in-ip inner packet truncated or of the wrong version")]
    IpInIp,
    /// The inner Ethernet frame, VLAN tag or PPP header is cut short or of an unknown type.
    #[error("tunnel inner link layer truncated or unknown")]
    InnerLink,
    /// Suricata's `decoder.max-layers` (16) reached: the tunnel is not opened.
    #[error("too many decoder layers")]
    TooManyLayers,
}

impl TunnelError {
    /// Stable snake_case label for counters.
    pub const fn reason(self) -> &'static str {
        match self {
            TunnelError::GreTruncated => "gre_truncated",
            TunnelError::GreBadFlags => "gre_bad_flags",
            TunnelError::GreBadSre => "gre_bad_sre",
            TunnelError::GreBadVersion => "gre_bad_version",
            TunnelError::GreProtocol(_) => "gre_unknown_protocol",
            TunnelError::Erspan => "erspan_invalid",
            TunnelError::Vxlan => "vxlan_invalid",
            TunnelError::VxlanPayload(_) => "vxlan_unknown_payload",
            TunnelError::Geneve => "geneve_invalid",
            TunnelError::GenevePayload(_) => "geneve_unknown_payload",
            TunnelError::IpInIp => "ipip_invalid",
            TunnelError::InnerLink => "tunnel_inner_link_invalid",
            TunnelError::TooManyLayers => "tunnel_too_many_layers",
        }
    }
}

/// How strictly the inner packet must decode for the tunnel packet to exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keep {
    /// The inner IP header must decode (the tunnel handed it straight to the IP decoder).
    IpHeader,
    /// Any decode problem discards it (Teredo: Suricata drops invalid Teredo packets).
    Valid,
    /// Always kept (an Ethernet frame or VLAN tag decoded first).
    Always,
}

/// A tunnel found in a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decap<'a> {
    /// The encapsulation.
    pub kind: TunnelKind,
    /// The inner packet (`protocol`, `l3`, its own `vlan` ids, GWLB metadata for a GENEVE with
    /// the AWS options, `layers` decoded so far), or why the tunnel carries nothing inspectable
    /// (ARP, PPP control, ...): the tunnel packet still exists then, and the carrier's payload is
    /// still not inspected.
    pub inner: Result<Frame<'a>, FrameError>,
    /// The tunnel packet's bytes as Suricata sets it up (what its first decoder reads): the IP
    /// packet, or the Ethernet frame (GRE TEB, ERSPAN I, GENEVE 0x6558), the ERSPAN II header,
    /// the VLAN tag (GRE 0x8100, VXLAN with a tagged frame), the PPP header. Suricata logs these
    /// bytes as an alert's `packet`.
    pub packet: &'a [u8],
    keep: Keep,
}

impl Decap<'_> {
    /// Whether the tunnel packet exists when its IP packet fails to decode with `e`: Suricata
    /// discards a tunnel packet whose IP header is invalid (any invalid Teredo packet), and the
    /// carrier is then inspected as an ordinary packet.
    pub fn keeps_tunnel(&self, e: seawall_wire::Error) -> bool {
        use seawall_wire::Error as E;
        match self.keep {
            Keep::Always => true,
            Keep::Valid => false,
            Keep::IpHeader => !matches!(
                e,
                E::InnerVersion | E::InnerTruncated | E::BadIhl | E::BadTotalLength
            ),
        }
    }
}

/// The flow-table `endpoint` of a packet `depth` tunnels below the layer whose endpoint is
/// `base` (Suricata keys flows on the recursion level). Depth 0 is `base` itself; for capture
/// endpoints ([`crate::FlowKey::capture_endpoint`], VLAN ids in the top 24 bits) no two
/// (VLAN ids, depth) pairs share a value.
pub const fn layer_endpoint(base: u64, depth: u8) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    base.wrapping_add((depth as u64).wrapping_mul(K))
}

/// Whether Suricata 7 tracks a flow for `pkt` (`FlowSetupPacket` is called by the TCP, UDP,
/// ICMPv4, ICMPv6, SCTP and ESP decoders, and for IPv6-in-IPv4 carriers): GRE, IPv4-in-IPv4,
/// IGMP, OSPF, ... packets have no flow, so IP-only rules are evaluated on every one of them.
pub fn has_flow(pkt: &InnerPacket<'_>) -> bool {
    let v4 = pkt.version == IpVersion::V4;
    match (pkt.ip_proto, pkt.transport) {
        (ip_proto::TCP, Transport::Tcp { .. }) | (ip_proto::UDP, Transport::Udp { .. }) => true,
        (ip_proto::ICMP, Transport::Icmp { .. }) => v4,
        (ip_proto::ICMPV6, Transport::Icmp { .. }) => !v4,
        (ip_proto::SCTP, t) => t.payload().len() >= 12,
        (ip_proto::ESP, t) => t.payload().len() >= 8,
        (IP_PROTO_IPV6, _) => v4,
        // Fragments: the flow table reports them untracked itself.
        (_, Transport::Fragment { .. }) => true,
        _ => false,
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([s[0], s[1]]))
}

/// The tunnel `pkt` carries, if any. `layers` is how many decoder layers the packet took so far
/// (its [`Frame::layers`] plus one for its IP header). Fragments carry none (their rebuilt packet
/// may).
///
/// `Ok(None)`: not a tunnel. `Err`: a carrier whose tunnel Suricata does not open (counted by the
/// caller; the packet is inspected as an ordinary one).
pub fn decapsulate<'a>(
    pkt: &InnerPacket<'a>,
    layers: u8,
) -> Result<Option<Decap<'a>>, TunnelError> {
    if pkt.fragment.is_some() {
        return Ok(None);
    }
    let v4 = pkt.version == IpVersion::V4;
    // IPv6 extension headers before the payload: only IPv4-in-IPv6 is decoded behind them.
    let bare = v4 || pkt.header_len == IPV6_HEADER;
    match (pkt.ip_proto, pkt.transport) {
        (IP_PROTO_GRE, Transport::Other { payload }) if bare => gre(payload, layers),
        (IP_PROTO_IPV6, Transport::Other { payload }) if bare => {
            let kind = if v4 {
                TunnelKind::Ipv6InIpv4
            } else {
                TunnelKind::Ipv6InIpv6
            };
            if payload.len() < IPV6_HEADER {
                // Suricata: IPv6 decode fails (4in6 too small: event), no tunnel.
                return Err(TunnelError::IpInIp);
            }
            if !v4 && payload[0] >> 4 != 6 {
                return Err(TunnelError::IpInIp);
            }
            direct(kind, ETHERTYPE_IPV6, payload, layers, Keep::IpHeader)
        }
        (IP_PROTO_IPIP, Transport::Other { payload }) if !v4 => {
            if payload.len() < IPV4_MIN_HEADER || payload[0] >> 4 != 4 {
                return Err(TunnelError::IpInIp);
            }
            direct(
                TunnelKind::Ipv4InIpv6,
                ETHERTYPE_IPV4,
                payload,
                layers,
                Keep::IpHeader,
            )
        }
        (ip_proto::UDP, Transport::Udp { ports, payload }) => {
            let on = |port: u16| ports.src == port || ports.dst == port;
            if on(TEREDO_PORT) {
                if let Some(d) = teredo(payload, layers) {
                    return Ok(Some(d));
                }
            }
            let mut err = None;
            if on(GENEVE_PORT) {
                match geneve(payload, layers) {
                    Ok(d) => return Ok(d),
                    Err(e) => err = Some(e),
                }
            }
            if on(VXLAN_PORT) {
                match vxlan(payload, layers) {
                    Ok(d) => return Ok(d),
                    Err(e) => err = Some(e),
                }
            }
            err.map_or(Ok(None), Err)
        }
        _ => Ok(None),
    }
}

/// The tunnel packet about to be set up: Suricata refuses it when its parent has
/// `max-layers - 1` layers already.
fn check_layers(layers: u8) -> Result<u8, TunnelError> {
    if layers.saturating_add(1) >= MAX_LAYERS {
        return Err(TunnelError::TooManyLayers);
    }
    Ok(layers + 1)
}

/// The first decoder of the tunnel packet (IP, Ethernet) must still fit in the layers: when it
/// does not, Suricata's decoder fails and the tunnel packet is discarded.
fn check_first(layers: u8) -> Result<u8, TunnelError> {
    if layers.saturating_add(1) >= MAX_LAYERS {
        return Err(TunnelError::TooManyLayers);
    }
    Ok(layers)
}

/// An IP packet handed straight to the IP decoder.
fn direct(
    kind: TunnelKind,
    protocol: u16,
    l3: &[u8],
    layers: u8,
    keep: Keep,
) -> Result<Option<Decap<'_>>, TunnelError> {
    let layers = check_first(check_layers(layers)?)?;
    Ok(Some(Decap {
        kind,
        inner: Ok(Frame {
            protocol,
            l3,
            vlan: [0, 0],
            gwlb: None,
            layers,
        }),
        packet: l3,
        keep,
    }))
}

/// An Ethernet frame as the tunnel payload (TEB, ERSPAN, GENEVE 0x6558): the tunnel exists once
/// the 14-byte header is there, whatever it carries. `extra` layers (an ERSPAN header) come
/// between the tunnel packet's start and the frame.
fn bridged(
    kind: TunnelKind,
    frame: &[u8],
    vlan: [u16; 2],
    layers: u8,
    extra: u8,
) -> Result<Option<Decap<'_>>, TunnelError> {
    let layers = check_first(check_layers(layers)?.saturating_add(extra))?;
    if frame.len() < ETHERNET_HEADER {
        return Err(TunnelError::InnerLink);
    }
    let mut walk = Walk::new(layers);
    walk.set_vlan(vlan);
    let inner = ethernet_walk(frame, &mut walk).map(|(protocol, l3)| walk.frame(protocol, l3));
    Ok(Some(Decap {
        kind,
        inner,
        packet: frame,
        keep: Keep::Always,
    }))
}

/// A VLAN tag (and what follows) as the tunnel payload (GRE 0x8100, VXLAN carrying a tagged
/// frame): Suricata's `DecodeVLAN` fails, and the tunnel with it, when the tag is cut short or
/// its type is unknown.
fn tagged(
    kind: TunnelKind,
    ethertype: u16,
    data: &[u8],
    layers: u8,
) -> Result<Option<Decap<'_>>, TunnelError> {
    let layers = check_layers(layers)?;
    if data.len() < 4 {
        return Err(TunnelError::InnerLink);
    }
    let next = be16(data, 2).unwrap_or(0);
    if !known_network_type(next) {
        return Err(TunnelError::InnerLink);
    }
    let mut walk = Walk::new(layers);
    let inner =
        network_layer(ethertype, data, &mut walk).map(|(protocol, l3)| walk.frame(protocol, l3));
    Ok(Some(Decap {
        kind,
        inner,
        packet: data,
        keep: Keep::Always,
    }))
}

/// Ethertypes Suricata's `DecodeNetworkLayer` knows (it returns false for the others).
fn known_network_type(t: u16) -> bool {
    matches!(
        t,
        ETHERTYPE_IPV4
            | ETHERTYPE_IPV6
            | 0x8864 // PPPoE session
            | 0x8863 // PPPoE discovery
            | ETHERTYPE_VLAN
            | ETHERTYPE_QINQ
            | ETHERTYPE_QINQ_OLD
            | 0x88e7 // 802.1ah
            | ETHERTYPE_ARP
            | 0x8847 // MPLS unicast
            | 0x8848 // MPLS multicast
            | 0x8903 // DCE
            | 0x8926 // VN-Tag
            | 0x894f // NSH
    )
}

/// Suricata's `DecodeGRE`.
fn gre(b: &[u8], layers: u8) -> Result<Option<Decap<'_>>, TunnelError> {
    if b.len() < GRE_HEADER {
        return Err(TunnelError::GreTruncated);
    }
    let layers = layers.saturating_add(1);
    if layers >= MAX_LAYERS {
        return Err(TunnelError::TooManyLayers);
    }
    let (flags, ver) = (b[0], b[1]);
    let proto = u16::from_be_bytes([b[2], b[3]]);
    let (csum, route, key, seq, ssr, recur) = (
        flags & 0x80 != 0,
        flags & 0x40 != 0,
        flags & 0x20 != 0,
        flags & 0x10 != 0,
        flags & 0x08 != 0,
        flags & 0x07 != 0,
    );
    let mut hlen = GRE_HEADER;
    let pptp = match ver & 0x07 {
        0 => {
            if recur || ver & 0x78 != 0 {
                return Err(TunnelError::GreBadFlags);
            }
            hlen += usize::from(key) * 4 + usize::from(seq) * 4;
            if csum || route {
                hlen += 4;
            }
            if hlen > b.len() {
                return Err(TunnelError::GreTruncated);
            }
            if route {
                // Source route entries up to the null entry (address family 0, length 0).
                loop {
                    let Some(sre) = b.get(hlen..hlen + 4) else {
                        return Err(TunnelError::GreBadSre);
                    };
                    hlen += 4;
                    let (af, len) = (u16::from_be_bytes([sre[0], sre[1]]), sre[3]);
                    if af == 0 && len == 0 {
                        break;
                    }
                    hlen += usize::from(len);
                    if hlen > b.len() {
                        return Err(TunnelError::GreBadSre);
                    }
                }
            }
            false
        }
        1 => {
            if csum || route || ssr || recur || ver & 0x78 != 0 || proto != GRE_PROTO_PPP || !key {
                return Err(TunnelError::GreBadFlags);
            }
            hlen += 4 + usize::from(seq) * 4 + usize::from(ver & 0x80 != 0) * 4;
            if hlen > b.len() {
                return Err(TunnelError::GreTruncated);
            }
            true
        }
        _ => return Err(TunnelError::GreBadVersion),
    };
    let data = &b[hlen..];
    let kind = if pptp {
        TunnelKind::Pptp
    } else {
        TunnelKind::Gre
    };
    match proto {
        ETHERTYPE_IPV4 => direct(kind, ETHERTYPE_IPV4, data, layers, Keep::IpHeader),
        ETHERTYPE_IPV6 => direct(kind, ETHERTYPE_IPV6, data, layers, Keep::IpHeader),
        GRE_PROTO_PPP => {
            // PPTP's payload length 0: nothing to decode.
            if pptp && be16(b, 4) == Some(0) {
                return Ok(None);
            }
            ppp_tunnel(kind, data, layers)
        }
        ETHERTYPE_VLAN => tagged(kind, ETHERTYPE_VLAN, data, layers),
        ETHERTYPE_ERSPAN if !seq => bridged(TunnelKind::ErspanI, data, [0, 0], layers, 0),
        ETHERTYPE_ERSPAN => {
            // Type II: version 1 in the top 4 bits, the session's VLAN id in the low 12.
            let Some(vv) = be16(data, 0).filter(|_| data.len() >= ERSPAN_II_HEADER) else {
                return Err(TunnelError::Erspan);
            };
            if vv >> 12 != 1 {
                return Err(TunnelError::Erspan);
            }
            let vlan = [vv & 0x0fff, 0];
            // The tunnel packet starts at the ERSPAN header.
            bridged(
                TunnelKind::ErspanII,
                &data[ERSPAN_II_HEADER..],
                vlan,
                layers,
                1,
            )
            .map(|d| d.map(|d| Decap { packet: data, ..d }))
        }
        ETHERTYPE_BRIDGE => bridged(kind, data, [0, 0], layers, 0),
        other => Err(TunnelError::GreProtocol(other)),
    }
}

/// PPP in GRE (Suricata's `DecodePPP` on a tunnel packet).
fn ppp_tunnel(kind: TunnelKind, data: &[u8], layers: u8) -> Result<Option<Decap<'_>>, TunnelError> {
    let layers = check_layers(layers)?;
    let mut walk = Walk::new(layers);
    match crate::link::ppp(data, &mut walk) {
        Ok((protocol, l3)) => {
            let inner = walk.frame(protocol, l3);
            check_first(inner.layers)?;
            Ok(Some(Decap {
                kind,
                inner: Ok(inner),
                packet: data,
                keep: Keep::IpHeader,
            }))
        }
        // Unsupported PPP protocols (LCP, CCP, ...): the tunnel packet exists, without IP.
        Err(e @ FrameError::NotIp(_)) => Ok(Some(Decap {
            kind,
            inner: Err(e),
            packet: data,
            keep: Keep::Always,
        })),
        Err(_) => Err(TunnelError::InnerLink),
    }
}

/// Suricata's `DecodeVXLAN`.
fn vxlan(b: &[u8], layers: u8) -> Result<Option<Decap<'_>>, TunnelError> {
    if b.len() < VXLAN_HEADER + ETHERNET_HEADER {
        return Err(TunnelError::Vxlan);
    }
    let layers = layers.saturating_add(1);
    if layers >= MAX_LAYERS {
        return Err(TunnelError::TooManyLayers);
    }
    if b[0] & 0x08 == 0 || b[7] != 0 {
        return Err(TunnelError::Vxlan);
    }
    let ethertype = u16::from_be_bytes([b[VXLAN_HEADER + 12], b[VXLAN_HEADER + 13]]);
    let data = &b[VXLAN_HEADER + ETHERNET_HEADER..];
    match ethertype {
        ETHERTYPE_ARP => Ok(None),
        ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => {
            direct(TunnelKind::Vxlan, ethertype, data, layers, Keep::IpHeader)
        }
        ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD => {
            tagged(TunnelKind::Vxlan, ethertype, data, layers)
        }
        other => Err(TunnelError::VxlanPayload(other)),
    }
}

/// Suricata's `DecodeGeneve`; the AWS GWLB options, when present, are returned as the inner
/// packet's metadata.
fn geneve(b: &[u8], layers: u8) -> Result<Option<Decap<'_>>, TunnelError> {
    if b.len() < GENEVE_HEADER {
        return Err(TunnelError::Geneve);
    }
    let layers = layers.saturating_add(1);
    if layers >= MAX_LAYERS {
        return Err(TunnelError::TooManyLayers);
    }
    let opt_len = usize::from(b[0] & 0x3f) * 4;
    let hlen = GENEVE_HEADER + opt_len;
    if b.len() < hlen || b[0] >> 6 != 0 || b[1] & 0x3f != 0 || b[7] != 0 {
        return Err(TunnelError::Geneve);
    }
    // The options' own lengths must add up to the header's option length.
    let mut at = GENEVE_HEADER;
    while at < hlen {
        let Some(l) = b.get(at + 3) else {
            return Err(TunnelError::Geneve);
        };
        at += 4 + usize::from(l & 0x1f) * 4;
    }
    if at != hlen {
        return Err(TunnelError::Geneve);
    }
    let ethertype = u16::from_be_bytes([b[2], b[3]]);
    let data = &b[hlen..];
    let gwlb = parse_gwlb(b).ok().map(|g| g.meta);
    let kind = if gwlb.is_some() {
        TunnelKind::GeneveGwlb
    } else {
        TunnelKind::Geneve
    };
    let mut d = match ethertype {
        ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => direct(kind, ethertype, data, layers, Keep::IpHeader)?,
        ETHERTYPE_BRIDGE => bridged(kind, data, [0, 0], layers, 0)?,
        ETHERTYPE_ARP => return Ok(None),
        other => return Err(TunnelError::GenevePayload(other)),
    };
    if let Some(Decap { inner: Ok(f), .. }) = &mut d {
        f.gwlb = gwlb;
    }
    Ok(d)
}

/// Suricata's `DecodeTeredo`: `None` when the payload is not Teredo (the next UDP decoder is
/// tried, then the packet is ordinary UDP).
fn teredo(b: &[u8], layers: u8) -> Option<Decap<'_>> {
    if b.len() < IPV6_HEADER {
        return None;
    }
    let mut start = 0;
    if b[0] == 0 {
        // Origin indication (type 0x0000) precedes the IPv6 packet; anything else (an
        // authentication header) is not a tunnelled packet.
        if b[1] != 0 || b.len() < TEREDO_ORIGIN_INDICATION + IPV6_HEADER {
            return None;
        }
        start = TEREDO_ORIGIN_INDICATION;
    }
    let ip = &b[start..];
    if ip.len() < IPV6_HEADER || ip[0] >> 4 != 6 {
        return None;
    }
    let (next, hlim) = (ip[6], ip[7]);
    let plen = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
    if hlim == 0 || (next == 0 && plen < 8) || ip.len() != IPV6_HEADER + plen {
        return None;
    }
    let layers = check_first(check_layers(layers).ok()?).ok()?;
    Some(Decap {
        kind: TunnelKind::Teredo,
        inner: Ok(Frame {
            protocol: ETHERTYPE_IPV6,
            l3: ip,
            vlan: [0, 0],
            gwlb: None,
            layers,
        }),
        packet: ip,
        keep: Keep::Valid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::{decode_frame, decode_link, linktype};
    use core::net::IpAddr;
    use seawall_wire::decode_inner;

    /// Frames taken from the corpus captures (suricata-verify bug-6402-01, decode-chdlc-01,
    /// decode-nsh-type1/2 and bench-mixed.pcap), one per encapsulation.
    mod frames {
        macro_rules! frame {
            ($name:ident, $file:literal) => {
                pub const $name: &[u8] =
                    include_bytes!(concat!("../testdata/tunnel/", $file, ".bin"));
            };
        }
        frame!(GWLB_GRE_TCP, "gwlb_gre_tcp");
        frame!(GRE_IP_ICMP, "gre_ip_icmp");
        frame!(GRE_GRE_ICMP, "gre_gre_icmp");
        frame!(GRE_TEB_ICMP, "gre_teb_icmp");
        frame!(GRE_ARUBA, "gre_aruba_vlan");
        frame!(VXLAN_ICMP, "vxlan_icmp");
        frame!(GENEVE_ICMP, "geneve_icmp");
        frame!(GENEVE_HTTP, "geneve_http");
        frame!(TEREDO_ICMPV6, "teredo_icmpv6");
        frame!(IPV6_IN_IPV4, "ipv6_in_ipv4_icmpv6");
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// Opens every tunnel of an Ethernet frame; returns the kinds and the innermost packet's
    /// (src, dst, ip_proto, dst port), with the innermost frame.
    fn open(frame: &[u8]) -> (Vec<TunnelKind>, (IpAddr, IpAddr, u8, u16), Frame<'_>) {
        let mut f = decode_link(linktype::ETHERNET, frame).unwrap();
        let mut kinds = Vec::new();
        loop {
            let pkt = decode_inner(f.protocol, f.l3).unwrap();
            match decapsulate(&pkt, f.layers + 1).unwrap() {
                None => {
                    let t = pkt.five_tuple();
                    return (kinds, (t.src, t.dst, t.ip_proto, t.dst_port), f);
                }
                Some(d) => {
                    kinds.push(d.kind);
                    f = d.inner.unwrap();
                }
            }
        }
    }

    #[test]
    fn test_real_tunnels_open_to_their_inner_packets() {
        use TunnelKind::*;
        let (k, t, f) = open(frames::GWLB_GRE_TCP);
        assert_eq!(k, [GeneveGwlb, Gre]);
        assert_eq!(t, (ip("10.2.0.1"), ip("10.2.0.2"), 6, 1234));
        // Ethernet, IPv4, GENEVE, tunnel, IPv4, GRE, tunnel.
        assert_eq!(f.layers, 7);
        let (k, t, _) = open(frames::GRE_IP_ICMP);
        assert_eq!(k, [Gre]);
        assert_eq!(t, (ip("66.59.111.190"), ip("172.28.2.3"), 1, 0));
        let (k, t, _) = open(frames::GRE_GRE_ICMP);
        assert_eq!(k, [Gre, Gre]);
        assert_eq!(t, (ip("10.10.25.1"), ip("192.168.1.2"), 1, 0));
        let (k, t, _) = open(frames::GRE_TEB_ICMP);
        assert_eq!(k, [Gre]);
        assert_eq!(t, (ip("192.168.69.10"), ip("192.168.69.2"), 1, 0));
        let (k, t, _) = open(frames::VXLAN_ICMP);
        assert_eq!(k, [Vxlan]);
        assert_eq!(t, (ip("192.168.203.3"), ip("192.168.203.5"), 1, 0));
        let (k, t, f) = open(frames::GENEVE_ICMP);
        assert_eq!((k, f.gwlb), (vec![Geneve], None));
        assert_eq!(t, (ip("10.0.0.1"), ip("10.0.0.2"), 1, 0));
        let (k, t, _) = open(frames::GENEVE_HTTP);
        assert_eq!(k, [Geneve]);
        assert_eq!(t, (ip("10.0.0.226"), ip("95.217.228.176"), 6, 80));
        // A Teredo router solicitation behind an authentication header: Suricata's Teredo
        // decoder only takes an origin indication, so this stays an ordinary UDP datagram.
        let (k, t, _) = open(frames::TEREDO_ICMPV6);
        assert_eq!(k, []);
        assert_eq!(t, (ip("192.168.0.13"), ip("157.56.106.184"), 17, 3544));
        let (k, t, _) = open(frames::IPV6_IN_IPV4);
        assert_eq!(k, [Ipv6InIpv4]);
        assert_eq!(
            t,
            (
                ip("2001:470:1f17:13f:3e97:eff:fe73:4dec"),
                ip("2604:a880:1:20::224:b001"),
                58,
                0
            )
        );
    }

    #[test]
    fn test_gwlb_geneve_keeps_its_metadata_and_decode_frame_still_opens_it() {
        let f = decode_link(linktype::ETHERNET, frames::GWLB_GRE_TCP).unwrap();
        let pkt = decode_inner(f.protocol, f.l3).unwrap();
        let d = decapsulate(&pkt, f.layers + 1).unwrap().unwrap();
        let inner = d.inner.unwrap();
        let meta = inner.gwlb.expect("aws options");
        assert_eq!(meta.endpoint.0, 0x31e1_29cd_c0cd_8633);
        // The legacy capture decoder returns the same inner packet.
        let legacy = decode_frame(linktype::ETHERNET, frames::GWLB_GRE_TCP).unwrap();
        assert_eq!((legacy.l3, legacy.gwlb), (inner.l3, Some(meta)));
    }

    #[test]
    fn test_unsupported_gre_protocol_is_counted_not_opened() {
        let f = decode_link(linktype::ETHERNET, frames::GRE_ARUBA).unwrap();
        let pkt = decode_inner(f.protocol, f.l3).unwrap();
        let e = decapsulate(&pkt, f.layers + 1).unwrap_err();
        assert_eq!(e, TunnelError::GreProtocol(0x8300));
        assert_eq!(e.reason(), "gre_unknown_protocol");
        // And such a packet has no flow in Suricata.
        assert!(!has_flow(&pkt));
    }

    /// A 20-byte IPv4 header (no checksum) with `proto` and `payload`.
    fn ipv4(proto: u8, payload: &[u8]) -> Vec<u8> {
        let total = (20 + payload.len()) as u16;
        let mut v = vec![0x45, 0];
        v.extend_from_slice(&total.to_be_bytes());
        v.extend_from_slice(&[0, 1, 0, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
        v.extend_from_slice(payload);
        v
    }

    /// An IPv6 header with `nh` and `payload`.
    fn ipv6(nh: u8, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![0x60, 0, 0, 0];
        v.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        v.extend_from_slice(&[nh, 64]);
        v.extend_from_slice(&[0x20; 16]);
        v.extend_from_slice(&[0x21; 16]);
        v.extend_from_slice(payload);
        v
    }

    fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let mut v = sport.to_be_bytes().to_vec();
        v.extend_from_slice(&dport.to_be_bytes());
        v.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        v.extend_from_slice(&[0, 0]);
        v.extend_from_slice(payload);
        ipv4(17, &v)
    }

    /// The inner ICMP echo of `GRE_IP_ICMP` (an IPv4 packet).
    fn inner_icmp() -> Vec<u8> {
        let f = decode_link(linktype::ETHERNET, frames::GRE_IP_ICMP).unwrap();
        let pkt = decode_inner(f.protocol, f.l3).unwrap();
        let d = decapsulate(&pkt, 2).unwrap().unwrap();
        let l3 = d.inner.unwrap().l3;
        let total = usize::from(u16::from_be_bytes([l3[2], l3[3]]));
        l3[..total].to_vec()
    }

    fn decap(l3: &[u8]) -> Result<Option<Decap<'_>>, TunnelError> {
        let v = l3[0] >> 4;
        let proto = if v == 4 { 0x0800 } else { 0x86dd };
        let pkt = decode_inner(proto, l3).unwrap();
        // `decapsulate` borrows from `l3` only.
        let pkt: InnerPacket<'_> = pkt;
        decapsulate(&pkt, 2)
    }

    fn gre(flags: u8, ver: u8, proto: u16, extra: &[u8], payload: &[u8]) -> Vec<u8> {
        let mut g = vec![flags, ver];
        g.extend_from_slice(&proto.to_be_bytes());
        g.extend_from_slice(extra);
        g.extend_from_slice(payload);
        ipv4(47, &g)
    }

    #[test]
    fn test_gre_optional_fields_and_malformed_classes() {
        let icmp = inner_icmp();
        let inner_of = |p: &[u8]| match decap(p) {
            Ok(Some(Decap { inner: Ok(f), .. })) => f.l3.to_vec(),
            other => panic!("{other:?}"),
        };
        // Checksum + offset, key, sequence: 12 bytes of optional fields.
        let p = gre(0xb0, 0, 0x0800, &[0; 12], &icmp);
        assert_eq!(inner_of(&p), icmp);
        // Routing with one source route entry (4 bytes of data) and the null entry.
        let p = gre(
            0x40,
            0,
            0x0800,
            &[0, 0, 0, 0, 0, 2, 0, 4, 1, 2, 3, 4, 0, 0, 0, 0],
            &icmp,
        );
        assert_eq!(inner_of(&p), icmp);
        // PPTP: key (payload length, call id), sequence, ack; PPP with HDLC bytes, IPv4.
        let mut ppp = vec![0xff, 0x03, 0x00, 0x21];
        ppp.extend_from_slice(&icmp);
        let len = (ppp.len() as u16).to_be_bytes();
        let p = gre(
            0x30,
            0x81,
            0x880b,
            &[len[0], len[1], 0, 7, 0, 0, 0, 1, 0, 0, 0, 2],
            &ppp,
        );
        let d = decap(&p).unwrap().unwrap();
        assert_eq!(d.kind, TunnelKind::Pptp);
        assert_eq!(d.inner.unwrap().l3, &icmp[..]);
        // PPTP payload length 0: nothing.
        let p = gre(0x20, 0x01, 0x880b, &[0, 0, 0, 7], &[]);
        assert_eq!(decap(&p), Ok(None));
        // PPP LCP: a tunnel packet without IP.
        let p = gre(0x20, 0x01, 0x880b, &[0, 4, 0, 7], &[0xff, 0x03, 0xc0, 0x21]);
        let d = decap(&p).unwrap().unwrap();
        assert_eq!(d.inner, Err(FrameError::NotIp(0xc021)));

        for (p, e) in [
            (ipv4(47, &[0, 0, 8]), TunnelError::GreTruncated),
            (
                gre(0x20, 0, 0x0800, &[0, 0], &[]),
                TunnelError::GreTruncated,
            ),
            (gre(0x01, 0, 0x0800, &[], &icmp), TunnelError::GreBadFlags),
            (gre(0, 0x08, 0x0800, &[], &icmp), TunnelError::GreBadFlags),
            (
                gre(0x80, 1, 0x880b, &[0; 8], &icmp),
                TunnelError::GreBadFlags,
            ),
            (gre(0, 1, 0x880b, &[], &icmp), TunnelError::GreBadFlags),
            (
                gre(0x40, 0, 0x0800, &[0, 0, 0, 0, 0, 2, 0, 40, 1], &[]),
                TunnelError::GreBadSre,
            ),
            (
                gre(0x40, 0, 0x0800, &[0, 0, 0, 0, 0, 2], &[]),
                TunnelError::GreBadSre,
            ),
            (gre(0, 2, 0x0800, &[], &icmp), TunnelError::GreBadVersion),
            (
                gre(0, 0, 0x8847, &[], &icmp),
                TunnelError::GreProtocol(0x8847),
            ),
            (
                gre(0x10, 0, 0x88be, &[0; 4], &[0x20, 0, 0, 0, 0, 0, 0, 0]),
                TunnelError::Erspan,
            ),
            (
                gre(0x10, 0, 0x88be, &[0; 4], &[0x10, 0, 0]),
                TunnelError::Erspan,
            ),
            (gre(0, 0, 0x6558, &[], &[0; 10]), TunnelError::InnerLink),
            (gre(0, 0, 0x8100, &[], &[0, 5]), TunnelError::InnerLink),
            (
                gre(0, 0, 0x8100, &[], &[0, 5, 0x12, 0x34]),
                TunnelError::InnerLink,
            ),
        ] {
            assert_eq!(decap(&p), Err(e), "{p:02x?}");
        }
    }

    #[test]
    fn test_erspan_and_bridged_frames() {
        let icmp = inner_icmp();
        let mut eth = vec![0u8; 12];
        eth.extend_from_slice(&[0x81, 0x00, 0x00, 0x07, 0x08, 0x00]);
        eth.extend_from_slice(&icmp);
        // Type I: no sequence number, a bare (here VLAN-tagged) frame.
        let p = gre(0, 0, 0x88be, &[], &eth);
        let d = decap(&p).unwrap().unwrap();
        assert_eq!(d.kind, TunnelKind::ErspanI);
        let f = d.inner.unwrap();
        assert_eq!((f.l3, f.vlan), (&icmp[..], [7, 0]));
        // Type II: sequence number, 8-byte header with version 1 and the session's VLAN 42.
        let mut e2 = vec![0x10, 42, 0, 0, 0, 0, 0, 0];
        e2.extend_from_slice(&eth);
        let p = gre(0x10, 0, 0x88be, &[0, 0, 0, 1], &e2);
        let d = decap(&p).unwrap().unwrap();
        assert_eq!(d.kind, TunnelKind::ErspanII);
        assert_eq!(d.inner.unwrap().vlan, [42, 7]);
        // An ARP frame over TEB: the tunnel exists, nothing to inspect.
        let mut arp = vec![0u8; 12];
        arp.extend_from_slice(&[0x08, 0x06]);
        arp.extend_from_slice(&[0; 28]);
        let p = gre(0, 0, 0x6558, &[], &arp);
        let d = decap(&p).unwrap().unwrap();
        assert_eq!(d.inner, Err(FrameError::NotIp(0x0806)));
        assert!(d.keeps_tunnel(seawall_wire::Error::InnerTruncated));
    }

    /// The tunnel packet's bytes start where Suricata sets the tunnel packet up (and logs its
    /// `packet` from): the IP header for IP payloads (VXLAN skips its Ethernet header itself),
    /// the Ethernet header for GRE TEB and GENEVE 0x6558, the ERSPAN II header.
    #[test]
    fn test_tunnel_packet_starts_where_suricata_sets_it_up() {
        // Bytes between the tunnel packet's start and its IP header, for one tunnel layer.
        let before_ip = |frame: &[u8]| {
            let f = decode_link(linktype::ETHERNET, frame).unwrap();
            let pkt = decode_inner(f.protocol, f.l3).unwrap();
            let d = decapsulate(&pkt, f.layers + 1).unwrap().unwrap();
            let l3 = d.inner.unwrap().l3;
            let off = l3.as_ptr() as usize - d.packet.as_ptr() as usize;
            assert_eq!(&d.packet[off..], l3);
            (d.kind, off, d.packet[..off].to_vec())
        };
        assert_eq!(before_ip(frames::GRE_IP_ICMP).1, 0);
        assert_eq!(before_ip(frames::VXLAN_ICMP).1, 0);
        let (kind, off, eth) = before_ip(frames::GRE_TEB_ICMP);
        assert_eq!((kind, off, &eth[12..]), (TunnelKind::Gre, 14, &[8, 0][..]));
        let (kind, off, eth) = before_ip(frames::GENEVE_ICMP);
        assert_eq!(
            (kind, off, &eth[12..]),
            (TunnelKind::Geneve, 14, &[8, 0][..])
        );

        let icmp = inner_icmp();
        let mut eth = vec![0u8; 12];
        eth.extend_from_slice(&[0x08, 0x00]);
        eth.extend_from_slice(&icmp);
        let mut e2 = vec![0x10, 42, 0, 0, 0, 0, 0, 0];
        e2.extend_from_slice(&eth);
        let p = gre(0x10, 0, 0x88be, &[0, 0, 0, 1], &e2);
        let d = decap(&p).unwrap().unwrap();
        assert_eq!((d.kind, d.packet), (TunnelKind::ErspanII, &e2[..]));
        let p = gre(0, 0, 0x88be, &[], &eth);
        assert_eq!(decap(&p).unwrap().unwrap().packet, &eth[..]);
        let mut tagged = vec![0x00, 0x07, 0x08, 0x00];
        tagged.extend_from_slice(&icmp);
        let p = gre(0, 0, 0x8100, &[], &tagged);
        assert_eq!(decap(&p).unwrap().unwrap().packet, &tagged[..]);
    }

    #[test]
    fn test_udp_tunnels_and_their_malformed_classes() {
        let icmp = inner_icmp();
        let mut eth = vec![0u8; 12];
        eth.extend_from_slice(&[0x08, 0x00]);
        eth.extend_from_slice(&icmp);
        // VXLAN on the source port too.
        let mut vx = vec![0x08, 0, 0, 0, 0, 0, 1, 0];
        vx.extend_from_slice(&eth);
        let p = udp(4789, 1000, &vx);
        let d = decap(&p).unwrap().unwrap();
        assert_eq!(
            (d.kind, d.inner.unwrap().l3),
            (TunnelKind::Vxlan, &icmp[..])
        );
        let mut bad = vx.clone();
        bad[0] = 0;
        assert_eq!(decap(&udp(1, 4789, &bad)), Err(TunnelError::Vxlan));
        bad = vx.clone();
        bad[7] = 1;
        assert_eq!(decap(&udp(1, 4789, &bad)), Err(TunnelError::Vxlan));
        assert_eq!(decap(&udp(1, 4789, &vx[..20])), Err(TunnelError::Vxlan));
        bad = vx.clone();
        bad[20..22].copy_from_slice(&[0x12, 0x34]);
        assert_eq!(
            decap(&udp(1, 4789, &bad)),
            Err(TunnelError::VxlanPayload(0x1234))
        );
        // ARP in VXLAN is not a tunnel packet: the datagram stays ordinary UDP.
        bad = vx.clone();
        bad[20..22].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(decap(&udp(1, 4789, &bad)), Ok(None));

        // GENEVE with one 4-byte option, IPv4 inside.
        let mut gn = vec![0x01, 0, 0x08, 0x00, 0, 0, 9, 0, 0x01, 0x02, 0x03, 0x00];
        gn.extend_from_slice(&icmp);
        let p = udp(1000, 6081, &gn);
        let d = decap(&p).unwrap().unwrap();
        assert_eq!(
            (d.kind, d.inner.unwrap().l3),
            (TunnelKind::Geneve, &icmp[..])
        );
        for (i, b) in [(0usize, 0x41u8), (1, 0x01), (7, 1), (11, 0x01)] {
            let mut bad = gn.clone();
            bad[i] = b;
            assert_eq!(
                decap(&udp(1000, 6081, &bad)),
                Err(TunnelError::Geneve),
                "{i}"
            );
        }
        assert_eq!(decap(&udp(1000, 6081, &gn[..6])), Err(TunnelError::Geneve));
        let mut bad = gn.clone();
        bad[2..4].copy_from_slice(&[0x12, 0x34]);
        assert_eq!(
            decap(&udp(1000, 6081, &bad)),
            Err(TunnelError::GenevePayload(0x1234))
        );

        // Teredo with an origin indication; without it; not Teredo (hop limit 0, length
        // mismatch): ordinary UDP.
        let v6 = ipv6(59, &[]);
        let mut t = vec![0, 0, 0, 0, 0, 0, 0, 0];
        t.extend_from_slice(&v6);
        let p = udp(3544, 1, &t);
        let d = decap(&p).unwrap().unwrap();
        assert_eq!((d.kind, d.inner.unwrap().l3), (TunnelKind::Teredo, &v6[..]));
        assert!(!d.keeps_tunnel(seawall_wire::Error::TransportTruncated));
        assert!(decap(&udp(1, 3544, &v6)).unwrap().is_some());
        let mut h0 = v6.clone();
        h0[7] = 0;
        assert_eq!(decap(&udp(1, 3544, &h0)), Ok(None));
        let mut long = v6.clone();
        long.push(0);
        assert_eq!(decap(&udp(1, 3544, &long)), Ok(None));
        assert_eq!(decap(&udp(1, 3544, &[0, 1, 0, 0])), Ok(None));
    }

    #[test]
    fn test_ip_in_ip() {
        let icmp = inner_icmp();
        let v6 = ipv6(59, &[]);
        let p = ipv4(41, &v6);
        let d = decap(&p).unwrap().unwrap();
        assert_eq!(
            (d.kind, d.inner.unwrap().l3),
            (TunnelKind::Ipv6InIpv4, &v6[..])
        );
        assert!(!d.keeps_tunnel(seawall_wire::Error::InnerVersion));
        assert!(d.keeps_tunnel(seawall_wire::Error::BadTcpOffset));
        assert_eq!(decap(&ipv4(41, &v6[..30])), Err(TunnelError::IpInIp));
        let p = ipv6(4, &icmp);
        let d = decap(&p).unwrap().unwrap();
        assert_eq!(
            (d.kind, d.inner.unwrap().l3),
            (TunnelKind::Ipv4InIpv6, &icmp[..])
        );
        assert_eq!(decap(&ipv6(4, &icmp[..10])), Err(TunnelError::IpInIp));
        let p = ipv6(41, &v6);
        let d = decap(&p).unwrap().unwrap();
        assert_eq!(d.kind, TunnelKind::Ipv6InIpv6);
        assert_eq!(decap(&ipv6(41, &icmp[..40])), Err(TunnelError::IpInIp));
        // IPv4 in IPv4 is not decoded by Suricata 7.
        assert_eq!(decap(&ipv4(4, &icmp)), Ok(None));
        // GRE behind an IPv6 extension header is not decoded either.
        let mut dst_opts = vec![47, 0, 1, 4, 0, 0, 0, 0];
        dst_opts.extend_from_slice(&[0, 0, 0x08, 0x00]);
        dst_opts.extend_from_slice(&icmp);
        assert_eq!(decap(&ipv6(60, &dst_opts)), Ok(None));
    }

    #[test]
    fn test_layers_are_bounded() {
        let icmp = inner_icmp();
        let p = gre(0, 0, 0x0800, &[], &icmp);
        let pkt = decode_inner(0x0800, &p).unwrap();
        assert_eq!(
            decapsulate(&pkt, MAX_LAYERS - 1),
            Err(TunnelError::TooManyLayers)
        );
        // GRE, the tunnel packet, its IPv4 header: the 16th layer is refused.
        assert_eq!(
            decapsulate(&pkt, MAX_LAYERS - 3),
            Err(TunnelError::TooManyLayers)
        );
        assert!(decapsulate(&pkt, MAX_LAYERS - 4).unwrap().is_some());
        // GRE in GRE in ...: every level adds layers, so nesting ends.
        let mut l3 = icmp.clone();
        for _ in 0..20 {
            l3 = gre(0, 0, 0x0800, &[], &l3);
        }
        let mut depth = 0;
        let mut f = Frame {
            protocol: 0x0800,
            l3: &l3,
            vlan: [0, 0],
            gwlb: None,
            layers: 1,
        };
        loop {
            let pkt = decode_inner(f.protocol, f.l3).unwrap();
            match decapsulate(&pkt, f.layers + 1) {
                Ok(Some(d)) => {
                    depth += 1;
                    f = d.inner.unwrap();
                }
                Err(TunnelError::TooManyLayers) => break,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(depth, 4);
    }

    #[test]
    fn test_flow_protocols() {
        let icmp = inner_icmp();
        let pkt = decode_inner(0x0800, &icmp).unwrap();
        assert!(has_flow(&pkt));
        let g = gre(0, 0, 0x0800, &[], &icmp);
        assert!(!has_flow(&decode_inner(0x0800, &g).unwrap()));
        let v6 = ipv6(59, &[]);
        let six = ipv4(41, &v6);
        assert!(has_flow(&decode_inner(0x0800, &six).unwrap()));
        assert!(!has_flow(&decode_inner(0x86dd, &ipv6(41, &v6)).unwrap()));
        assert!(!has_flow(&decode_inner(0x0800, &ipv4(2, &[0; 8])).unwrap()));
        assert!(has_flow(&decode_inner(0x0800, &ipv4(50, &[0; 8])).unwrap()));
        assert!(!has_flow(
            &decode_inner(0x0800, &ipv4(50, &[0; 7])).unwrap()
        ));
    }

    #[test]
    fn test_layer_endpoints_do_not_collide() {
        let mut seen = std::collections::HashSet::new();
        for a in [0u16, 1, 100, 4095] {
            for b in [0u16, 2, 4095] {
                for depth in 0..8 {
                    let base = crate::FlowKey::capture_endpoint([a, b]);
                    assert!(seen.insert(layer_endpoint(base, depth)));
                }
            }
        }
    }

    proptest::proptest! {
        /// Arbitrary bytes behind every carrier header: never a panic, and an inner packet
        /// always lies inside the carrier's bytes.
        #[test]
        fn prop_decapsulate_never_panics(
            which in 0u8..8,
            bytes in proptest::collection::vec(proptest::arbitrary::any::<u8>(), 0..96),
            layers in 0u8..20,
        ) {
            let l3 = match which {
                0 => ipv4(47, &bytes),
                1 => udp(1, 4789, &bytes),
                2 => udp(6081, 1, &bytes),
                3 => udp(3544, 1, &bytes),
                4 => ipv4(41, &bytes),
                5 => ipv6(4, &bytes),
                6 => ipv6(47, &bytes),
                _ => ipv6(41, &bytes),
            };
            let proto = if l3[0] >> 4 == 4 { 0x0800 } else { 0x86dd };
            if let Ok(pkt) = decode_inner(proto, &l3) {
                if let Ok(Some(Decap { inner: Ok(f), .. })) = decapsulate(&pkt, layers) {
                    let start = l3.as_ptr() as usize;
                    let at = f.l3.as_ptr() as usize;
                    proptest::prop_assert!(at >= start && at + f.l3.len() <= start + l3.len());
                    proptest::prop_assert!(f.layers < MAX_LAYERS);
                }
            }
        }
    }
}
