//! Link-layer decode for captures: from a pcap frame to the L3 packet [`decode_inner`] takes.
//!
//! Covers the link layers Suricata 7 decodes: Ethernet (with up to three 802.1Q / 802.1ad /
//! QinQ 0x9100 tags; the first two VLAN ids are kept for the flow key), PPPoE sessions, MPLS
//! label stacks, NSH (ethertype 0x894F, MD types 1 and 2), Linux cooked captures v1 (113) and
//! v2 (276), raw IP (101, 12, 14, 228, 229, 778), BSD loopback (0, 108), PPP (9) and Cisco HDLC
//! (104).
//!
//! [`decode_link`] stops at the frame's own IP packet; tunnels inside it (GRE, VXLAN, GENEVE,
//! Teredo, IP in IP) are opened by [`crate::tunnel::decapsulate`]. [`decode_frame`] also opens a
//! GWLB GENEVE datagram (an outer IPv4/UDP datagram to port 6081 with the AWS options) with
//! [`seawall_wire::parse_gwlb`] and returns the inner packet with its [`GwlbMeta`].
//!
//! Zero allocation, never panics.
//!
//! [`decode_inner`]: seawall_wire::decode_inner

use seawall_wire::{parse_gwlb, GwlbMeta, ETHERTYPE_IPV4, ETHERTYPE_IPV6, GENEVE_PORT};

/// pcap link-type numbers understood by [`decode_frame`].
pub mod linktype {
    /// BSD loopback: 4-byte address family in host byte order.
    pub const NULL: u32 = 0;
    /// Ethernet (DLT_EN10MB).
    pub const ETHERNET: u32 = 1;
    /// PPP (with or without the HDLC address/control bytes).
    pub const PPP: u32 = 9;
    /// DLT_RAW as numbered on some BSDs.
    pub const RAW_12: u32 = 12;
    /// DLT_RAW as numbered on OpenBSD.
    pub const RAW_14: u32 = 14;
    /// LINKTYPE_RAW: bare IPv4 or IPv6.
    pub const RAW: u32 = 101;
    /// Cisco HDLC: address, control, then a 2-byte EtherType.
    pub const CISCO_HDLC: u32 = 104;
    /// OpenBSD loopback: 4-byte address family in network byte order.
    pub const LOOP: u32 = 108;
    /// Linux cooked capture v1.
    pub const LINUX_SLL: u32 = 113;
    /// Bare IPv4.
    pub const IPV4: u32 = 228;
    /// Bare IPv6.
    pub const IPV6: u32 = 229;
    /// Linux cooked capture v2.
    pub const LINUX_SLL2: u32 = 276;
    /// GRE over IP (decoded as raw IP).
    pub const GRE_OVER_IP: u32 = 778;
}

/// Suricata's `decoder.max-layers` default: a packet whose decoding reaches this many layers
/// (link headers, VLAN tags, IP headers, tunnel headers) is not decoded further.
pub const MAX_LAYERS: u8 = 16;

const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
const ETHERTYPE_QINQ_OLD: u16 = 0x9100;
const ETHERTYPE_MPLS: u16 = 0x8847;
const ETHERTYPE_MPLS_MULTICAST: u16 = 0x8848;
const ETHERTYPE_NSH: u16 = 0x894f;
const ETHERTYPE_PPPOE_SESSION: u16 = 0x8864;
const ETHERNET_HEADER: usize = 14;
const VLAN_TAG: usize = 4;
/// Suricata keeps three VLAN layers; a fourth tag stops the decode.
const MAX_VLAN_TAGS: u8 = 3;
const SLL_HEADER: usize = 16;
const SLL2_HEADER: usize = 20;
const LOOPBACK_HEADER: usize = 4;
const CHDLC_HEADER: usize = 4;
const NSH_BASE_HEADER: usize = 8;
const MPLS_SHIM: usize = 4;
/// PPPoE session header with a 1-byte PPP protocol (2-byte: one more).
const PPPOE_SESSION_HEADER: usize = 7;
const IPV4_MIN_HEADER: usize = 20;
const IPV6_HEADER: usize = 40;
const UDP_HEADER: usize = 8;
const IP_PROTO_UDP: u8 = 17;

/// One frame reduced to its L3 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// EtherType of `l3`: 0x0800 (IPv4) or 0x86DD (IPv6); the `protocol` argument of
    /// [`seawall_wire::decode_inner`].
    pub protocol: u16,
    /// The IP packet (possibly followed by link padding, which `decode_inner` ignores).
    pub l3: &'a [u8],
    /// Outer and inner VLAN ids (12 bits each, 0 when absent). Suricata keys flows on them too.
    pub vlan: [u16; 2],
    /// Set when the frame was a GWLB GENEVE datagram: `l3` is then the inner packet.
    pub gwlb: Option<GwlbMeta>,
    /// Decoder layers before `l3` (Ethernet, each VLAN tag, MPLS, ...; for a tunnel packet the
    /// layers of its carrier too), bounded by [`MAX_LAYERS`].
    pub layers: u8,
}

/// Why a frame yields no IP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The capture's link type is not one [`decode_frame`] knows.
    #[error("unsupported link type {0}")]
    UnsupportedLinkType(u32),
    /// The link-layer header (or a VLAN tag) is cut short, or the frame is empty.
    #[error("link-layer header truncated")]
    Truncated,
    /// The frame carries something other than IPv4/IPv6 (ARP, LLDP, ...): the EtherType, or the
    /// version nibble for raw captures.
    #[error("frame does not carry ipv4 or ipv6 (type {0:#06x})")]
    NotIp(u16),
    /// A datagram to UDP port 6081 that is not a valid GWLB GENEVE datagram.
    #[error("geneve to port 6081: {0}")]
    Geneve(seawall_wire::Error),
    /// More than three VLAN tags (Suricata keeps three).
    #[error("too many vlan tags")]
    TooManyVlans,
    /// An MPLS label stack with a reserved bottom label or an unknown payload.
    #[error("mpls label stack without a decodable payload")]
    Mpls,
    /// An NSH header of another version, a bad length, or a reserved/unsupported MD type or
    /// next protocol.
    #[error("nsh header invalid or unsupported")]
    Nsh,
    /// Suricata's `decoder.max-layers` (16) reached.
    #[error("too many decoder layers")]
    TooManyLayers,
}

impl FrameError {
    /// Stable snake_case label for counters.
    pub const fn reason(self) -> &'static str {
        match self {
            FrameError::UnsupportedLinkType(_) => "link_unsupported",
            FrameError::Truncated => "link_truncated",
            FrameError::NotIp(_) => "link_not_ip",
            FrameError::Geneve(e) => e.reason(),
            FrameError::TooManyVlans => "link_too_many_vlans",
            FrameError::Mpls => "link_mpls_invalid",
            FrameError::Nsh => "link_nsh_invalid",
            FrameError::TooManyLayers => "link_too_many_layers",
        }
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([s[0], s[1]]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// Decoder state while walking link headers: VLAN ids seen and layers counted.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Walk {
    vlan: [u16; 2],
    tags: u8,
    layers: u8,
}

impl Walk {
    pub(crate) fn new(layers: u8) -> Self {
        Walk {
            layers,
            ..Walk::default()
        }
    }

    /// VLAN ids already known (an ERSPAN session's VLAN id).
    pub(crate) fn set_vlan(&mut self, vlan: [u16; 2]) {
        self.vlan = vlan;
        self.tags = u8::from(vlan[0] != 0) + u8::from(vlan[1] != 0);
    }

    /// Suricata's `PacketIncreaseCheckLayers`.
    fn layer(&mut self) -> Result<(), FrameError> {
        self.layers = self.layers.saturating_add(1);
        if self.layers >= MAX_LAYERS {
            return Err(FrameError::TooManyLayers);
        }
        Ok(())
    }

    pub(crate) fn frame(self, protocol: u16, l3: &[u8]) -> Frame<'_> {
        Frame {
            protocol,
            l3,
            vlan: self.vlan,
            gwlb: None,
            layers: self.layers,
        }
    }
}

/// Suricata's `DecodeEthernet`: the 14-byte header, then the network layer.
pub(crate) fn ethernet_walk<'a>(
    frame: &'a [u8],
    walk: &mut Walk,
) -> Result<(u16, &'a [u8]), FrameError> {
    let ethertype = be16(frame, 12).ok_or(FrameError::Truncated)?;
    walk.layer()?;
    network_layer(ethertype, &frame[ETHERNET_HEADER..], walk)
}

/// Suricata's `DecodeNetworkLayer` for what Seawall inspects: IPv4/IPv6 end the walk; VLAN
/// tags, MPLS and NSH are walked through. Recursion (MPLS pseudowires and NSH carrying
/// Ethernet) is bounded by [`MAX_LAYERS`].
pub(crate) fn network_layer<'a>(
    mut ethertype: u16,
    mut data: &'a [u8],
    walk: &mut Walk,
) -> Result<(u16, &'a [u8]), FrameError> {
    loop {
        match ethertype {
            ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => return Ok((ethertype, data)),
            ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD => {
                if walk.tags >= MAX_VLAN_TAGS {
                    return Err(FrameError::TooManyVlans);
                }
                let tci = be16(data, 0).ok_or(FrameError::Truncated)?;
                ethertype = be16(data, 2).ok_or(FrameError::Truncated)?;
                walk.layer()?;
                if let Some(slot) = walk.vlan.get_mut(usize::from(walk.tags)) {
                    *slot = tci & 0x0fff;
                }
                walk.tags += 1;
                data = &data[VLAN_TAG..];
            }
            ETHERTYPE_MPLS | ETHERTYPE_MPLS_MULTICAST => {
                walk.layer()?;
                return mpls(data, walk);
            }
            ETHERTYPE_NSH => return nsh(data, walk),
            ETHERTYPE_PPPOE_SESSION => return pppoe_session(data),
            other => return Err(FrameError::NotIp(other)),
        }
    }
}

/// Suricata's `DecodeMPLS`: the label stack down to the bottom-of-stack bit, then IPv4/IPv6 by
/// the explicit-null labels or by the version nibble, or an Ethernet pseudowire.
fn mpls<'a>(data: &'a [u8], walk: &mut Walk) -> Result<(u16, &'a [u8]), FrameError> {
    let mut off = 0;
    let shim = loop {
        let s = be32(data, off).ok_or(FrameError::Truncated)?;
        off += MPLS_SHIM;
        if (s >> 8) & 1 == 1 {
            break s;
        }
    };
    let rest = &data[off..];
    match shim >> 12 {
        0 => return Ok((ETHERTYPE_IPV4, rest)),
        2 => return Ok((ETHERTYPE_IPV6, rest)),
        // Router alert and implicit null at the bottom, other reserved labels.
        l if l < 16 => return Err(FrameError::Mpls),
        _ => {}
    }
    if rest.len() < MPLS_SHIM {
        return Err(FrameError::Truncated);
    }
    match rest[0] >> 4 {
        4 => Ok((ETHERTYPE_IPV4, rest)),
        6 => Ok((ETHERTYPE_IPV6, rest)),
        // Ethernet pseudowire behind a 4-byte control word.
        0 => {
            let frame = &rest[MPLS_SHIM..];
            if frame.len() < ETHERNET_HEADER {
                return Err(FrameError::Truncated);
            }
            ethernet_walk(frame, walk)
        }
        _ => Err(FrameError::Mpls),
    }
}

/// Suricata's `DecodeNSH` (RFC 8300): version 0, MD type 1 (24-byte header) or 2, next
/// protocol IPv4, IPv6, Ethernet or MPLS.
fn nsh<'a>(data: &'a [u8], walk: &mut Walk) -> Result<(u16, &'a [u8]), FrameError> {
    let vfl = be16(data, 0).filter(|_| data.len() >= NSH_BASE_HEADER);
    let vfl = vfl.ok_or(FrameError::Truncated)?;
    walk.layer()?;
    let length = usize::from(vfl & 0x3f) * 4;
    if vfl >> 14 != 0 || length >= data.len() {
        return Err(FrameError::Nsh);
    }
    match data[2] {
        1 if length == 24 => {}
        2 => {}
        _ => return Err(FrameError::Nsh),
    }
    let rest = &data[length..];
    match data[3] {
        1 => Ok((ETHERTYPE_IPV4, rest)),
        2 => Ok((ETHERTYPE_IPV6, rest)),
        3 => {
            if rest.len() < ETHERNET_HEADER {
                return Err(FrameError::Truncated);
            }
            ethernet_walk(rest, walk)
        }
        5 => {
            walk.layer()?;
            mpls(rest, walk)
        }
        _ => Err(FrameError::Nsh),
    }
}

/// Suricata's `DecodePPPOESession`: version/type, code, session id, length, then a PPP
/// protocol of one octet (low bit of the first octet set) or two.
fn pppoe_session(data: &[u8]) -> Result<(u16, &[u8]), FrameError> {
    let plen = be16(data, 4).filter(|_| data.len() >= PPPOE_SESSION_HEADER);
    if plen.ok_or(FrameError::Truncated)? == 0 {
        return Err(FrameError::NotIp(ETHERTYPE_PPPOE_SESSION));
    }
    let first = u16::from(data[6]);
    let (proto, hlen) = if first & 1 == 1 {
        (first, PPPOE_SESSION_HEADER)
    } else {
        let second = u16::from(*data.get(7).ok_or(FrameError::Truncated)?);
        ((first << 8) | second, PPPOE_SESSION_HEADER + 1)
    };
    let rest = &data[hlen..];
    match proto {
        0x0021 | 0x002f if rest.len() >= IPV4_MIN_HEADER => {
            if proto == 0x002f && rest[0] >> 4 != 4 {
                return Err(FrameError::NotIp(proto));
            }
            Ok((ETHERTYPE_IPV4, rest))
        }
        0x0057 if rest.len() >= IPV6_HEADER => Ok((ETHERTYPE_IPV6, rest)),
        0x0021 | 0x002f | 0x0057 => Err(FrameError::Truncated),
        other => Err(FrameError::NotIp(other)),
    }
}

/// Suricata's `DecodePPP`: optional HDLC address/control (0xFF 0x03), a 1- or 2-byte protocol;
/// IPv4 (and VJ-uncompressed IPv4) and IPv6 are returned, other protocols are `NotIp`.
pub(crate) fn ppp<'a>(data: &'a [u8], walk: &mut Walk) -> Result<(u16, &'a [u8]), FrameError> {
    let first = *data.first().ok_or(FrameError::Truncated)?;
    let off = if first == 0xff { 2 } else { 0 };
    let byte = *data.get(off).ok_or(FrameError::Truncated)?;
    let size = if byte & 1 == 1 { 1 } else { 2 };
    let proto = if size == 1 {
        u16::from(byte)
    } else {
        be16(data, off).ok_or(FrameError::Truncated)?
    };
    walk.layer()?;
    let rest = &data[off + size..];
    match proto {
        0x0021 | 0x002f => {
            if rest.len() < IPV4_MIN_HEADER {
                return Err(FrameError::Truncated);
            }
            if proto == 0x002f && rest[0] >> 4 != 4 {
                return Err(FrameError::NotIp(proto));
            }
            Ok((ETHERTYPE_IPV4, rest))
        }
        0x0057 => {
            if rest.len() < IPV6_HEADER {
                return Err(FrameError::Truncated);
            }
            Ok((ETHERTYPE_IPV6, rest))
        }
        other => Err(FrameError::NotIp(other)),
    }
}

/// Reduces a captured frame to its own IP packet, without opening any tunnel (a GWLB GENEVE
/// datagram is returned as the outer IPv4/UDP packet). `linktype` is the pcap/pcapng link type.
pub fn decode_link(linktype: u32, frame: &[u8]) -> Result<Frame<'_>, FrameError> {
    let mut walk = Walk::new(0);
    let (protocol, l3) = match linktype {
        linktype::ETHERNET => ethernet_walk(frame, &mut walk)?,
        linktype::LINUX_SLL => {
            let proto = be16(frame, 14).ok_or(FrameError::Truncated)?;
            let rest = frame.get(SLL_HEADER..).ok_or(FrameError::Truncated)?;
            walk.layer()?;
            network_layer(proto, rest, &mut walk)?
        }
        linktype::LINUX_SLL2 => {
            let proto = be16(frame, 0).ok_or(FrameError::Truncated)?;
            let rest = frame.get(SLL2_HEADER..).ok_or(FrameError::Truncated)?;
            walk.layer()?;
            network_layer(proto, rest, &mut walk)?
        }
        linktype::RAW
        | linktype::RAW_12
        | linktype::RAW_14
        | linktype::IPV4
        | linktype::IPV6
        | linktype::GRE_OVER_IP => (by_version(frame)?, frame),
        linktype::NULL | linktype::LOOP => {
            // The address family value for IPv6 differs by OS (10, 24, 28, 30): the version
            // nibble decides.
            let rest = frame.get(LOOPBACK_HEADER..).ok_or(FrameError::Truncated)?;
            (by_version(rest)?, rest)
        }
        linktype::CISCO_HDLC => {
            let proto = be16(frame, 2).ok_or(FrameError::Truncated)?;
            walk.layer()?;
            network_layer(proto, &frame[CHDLC_HEADER..], &mut walk)?
        }
        linktype::PPP => ppp(frame, &mut walk)?,
        other => return Err(FrameError::UnsupportedLinkType(other)),
    };
    Ok(walk.frame(protocol, l3))
}

/// Reduces a captured frame to its IP packet, opening a GWLB GENEVE datagram.
///
/// As [`decode_link`]; in addition an outer IPv4/UDP datagram to port 6081 is treated as GWLB
/// GENEVE (whatever the link type): its inner packet is returned with the AWS metadata, or
/// [`FrameError::Geneve`] if the GENEVE header is malformed. Datagrams *from* port 6081 (the
/// appliance's replies) are not decapsulated, so a capture of both directions does not inspect
/// each inner packet twice. (The inspection pipeline uses [`decode_link`] and opens GENEVE like
/// every other tunnel, as Suricata does.)
pub fn decode_frame(linktype: u32, frame: &[u8]) -> Result<Frame<'_>, FrameError> {
    let f = decode_link(linktype, frame)?;
    if let Some(payload) = geneve_payload(f.protocol, f.l3) {
        let gwlb = parse_gwlb(payload).map_err(FrameError::Geneve)?;
        return Ok(Frame {
            protocol: gwlb.protocol,
            l3: gwlb.inner,
            gwlb: Some(gwlb.meta),
            ..f
        });
    }
    Ok(f)
}

/// EtherType from the IP version nibble of a raw packet.
fn by_version(l3: &[u8]) -> Result<u16, FrameError> {
    match l3.first().map(|b| b >> 4) {
        Some(4) => Ok(ETHERTYPE_IPV4),
        Some(6) => Ok(ETHERTYPE_IPV6),
        Some(v) => Err(FrameError::NotIp(u16::from(v))),
        None => Err(FrameError::Truncated),
    }
}

/// The UDP payload of an unfragmented outer IPv4/UDP datagram to port 6081, if `l3` is one.
fn geneve_payload(protocol: u16, l3: &[u8]) -> Option<&[u8]> {
    if protocol != ETHERTYPE_IPV4 || l3.len() < IPV4_MIN_HEADER || l3[0] >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(l3[0] & 0x0f) * 4;
    let total = usize::from(be16(l3, 2)?);
    let frag = be16(l3, 6)?;
    if ihl < IPV4_MIN_HEADER || total < ihl || total > l3.len() || l3[9] != IP_PROTO_UDP {
        return None;
    }
    // More-fragments or a fragment offset: not a whole datagram.
    if frag & 0x3fff != 0 {
        return None;
    }
    let udp = &l3[ihl..total];
    if be16(udp, 2)? != GENEVE_PORT {
        return None;
    }
    let udp_len = usize::from(be16(udp, 4)?);
    if udp_len < UDP_HEADER || udp_len > udp.len() {
        return None;
    }
    Some(&udp[UDP_HEADER..udp_len])
}

#[cfg(test)]
mod tests {
    use super::*;
    use seawall_wire::{decode_inner, AttachmentId, FlowCookie, GwlbEndpointId, GwlbRepr};

    /// IPv4/UDP 10.0.0.1:1234 > 10.0.0.2:53, 4 bytes of payload.
    fn ipv4_udp() -> Vec<u8> {
        let mut v = Vec::new();
        etherparse::PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .udp(1234, 53)
            .write(&mut v, b"abcd")
            .unwrap();
        v
    }

    fn ipv6_tcp() -> Vec<u8> {
        let mut v = Vec::new();
        etherparse::PacketBuilder::ipv6([0x20; 16], [0x21; 16], 64)
            .tcp(1, 2, 3, 4)
            .syn()
            .write(&mut v, &[])
            .unwrap();
        v
    }

    fn ether(tags: &[(u16, u16)], ethertype: u16, l3: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        for (tpid, tci) in tags {
            f.extend_from_slice(&tpid.to_be_bytes());
            f.extend_from_slice(&tci.to_be_bytes());
        }
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(l3);
        f
    }

    #[test]
    fn test_ethernet_plain_vlan_qinq() {
        let ip = ipv4_udp();
        let f = ether(&[], ETHERTYPE_IPV4, &ip);
        let d = decode_frame(linktype::ETHERNET, &f).unwrap();
        assert_eq!(
            (d.protocol, d.l3, d.vlan, d.gwlb),
            (0x0800, &ip[..], [0, 0], None)
        );

        let f = ether(&[(0x8100, 0x2064)], ETHERTYPE_IPV4, &ip);
        let d = decode_frame(linktype::ETHERNET, &f).unwrap();
        assert_eq!((d.l3, d.vlan), (&ip[..], [100, 0]));

        for outer in [0x88a8, 0x9100, 0x8100] {
            let f = ether(
                &[(outer, 10), (0x8100, 0xf014)],
                ETHERTYPE_IPV6,
                &ipv6_tcp(),
            );
            let d = decode_frame(linktype::ETHERNET, &f).unwrap();
            assert_eq!((d.protocol, d.vlan), (0x86dd, [10, 20]), "{outer:#x}");
            assert!(decode_inner(d.protocol, d.l3).is_ok());
        }
        // Three tags: the third id is not kept, the packet still decodes.
        let f = ether(
            &[(0x88a8, 1), (0x8100, 2), (0x8100, 3)],
            ETHERTYPE_IPV4,
            &ip,
        );
        assert_eq!(decode_frame(linktype::ETHERNET, &f).unwrap().vlan, [1, 2]);
    }

    #[test]
    fn test_ethernet_errors() {
        let ip = ipv4_udp();
        assert_eq!(
            decode_frame(linktype::ETHERNET, &[0; 13]),
            Err(FrameError::Truncated)
        );
        let f = ether(&[(0x8100, 1)], ETHERTYPE_IPV4, &[]);
        assert_eq!(
            decode_frame(linktype::ETHERNET, &f[..16]),
            Err(FrameError::Truncated)
        );
        let arp = ether(&[], 0x0806, &[0; 28]);
        assert_eq!(
            decode_frame(linktype::ETHERNET, &arp),
            Err(FrameError::NotIp(0x0806))
        );
        assert_eq!(FrameError::NotIp(0x0806).reason(), "link_not_ip");
        let f = ether(&[], ETHERTYPE_IPV4, &ip);
        assert_eq!(
            decode_frame(999, &f),
            Err(FrameError::UnsupportedLinkType(999))
        );
    }

    #[test]
    fn test_linux_sll_and_sll2() {
        let ip = ipv6_tcp();
        let mut sll = vec![0u8; 14];
        sll.extend_from_slice(&0x86ddu16.to_be_bytes());
        sll.extend_from_slice(&ip);
        let d = decode_frame(linktype::LINUX_SLL, &sll).unwrap();
        assert_eq!((d.protocol, d.l3), (0x86dd, &ip[..]));
        assert_eq!(
            decode_frame(linktype::LINUX_SLL, &sll[..15]),
            Err(FrameError::Truncated)
        );

        let mut sll2 = 0x0800u16.to_be_bytes().to_vec();
        sll2.extend_from_slice(&[0; 18]);
        let ip4 = ipv4_udp();
        sll2.extend_from_slice(&ip4);
        let d = decode_frame(linktype::LINUX_SLL2, &sll2).unwrap();
        assert_eq!((d.protocol, d.l3), (0x0800, &ip4[..]));
        assert_eq!(
            decode_frame(linktype::LINUX_SLL2, &sll2[..19]),
            Err(FrameError::Truncated)
        );
    }

    #[test]
    fn test_raw_and_loopback() {
        let ip4 = ipv4_udp();
        let ip6 = ipv6_tcp();
        for lt in [
            linktype::RAW,
            linktype::RAW_12,
            linktype::RAW_14,
            linktype::IPV4,
            linktype::IPV6,
        ] {
            assert_eq!(decode_frame(lt, &ip4).unwrap().protocol, 0x0800);
            assert_eq!(decode_frame(lt, &ip6).unwrap().protocol, 0x86dd);
            assert_eq!(decode_frame(lt, &[]), Err(FrameError::Truncated));
            assert_eq!(decode_frame(lt, &[0x55]), Err(FrameError::NotIp(5)));
        }
        for lt in [linktype::NULL, linktype::LOOP] {
            let f = [&[0, 0, 0, 30][..], &ip6].concat();
            assert_eq!(decode_frame(lt, &f).unwrap().l3, &ip6[..]);
            assert_eq!(decode_frame(lt, &f[..3]), Err(FrameError::Truncated));
        }
    }

    fn meta() -> GwlbMeta {
        GwlbMeta {
            endpoint: GwlbEndpointId(0x0123_4567_89ab_cdef),
            attachment: AttachmentId(7),
            cookie: FlowCookie(0xdead_beef),
        }
    }

    /// An outer IPv4/UDP datagram (src port `sport`, dst port `dport`) carrying `payload`.
    fn outer_udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        etherparse::PacketBuilder::ipv4([172, 16, 0, 1], [172, 16, 0, 2], 64)
            .udp(sport, dport)
            .write(&mut v, payload)
            .unwrap();
        v
    }

    fn geneve_datagram(inner: &[u8]) -> Vec<u8> {
        let repr = GwlbRepr::for_inner(meta(), inner).unwrap();
        let mut buf = vec![0u8; repr.buffer_len() + inner.len()];
        let n = repr.emit_datagram(inner, &mut buf).unwrap();
        buf.truncate(n);
        buf
    }

    #[test]
    fn test_geneve_capture_yields_inner_packet_and_meta() {
        let inner = ipv6_tcp();
        let outer = outer_udp(40000, GENEVE_PORT, &geneve_datagram(&inner));
        let f = ether(&[], ETHERTYPE_IPV4, &outer);
        let d = decode_frame(linktype::ETHERNET, &f).unwrap();
        assert_eq!(d.protocol, 0x86dd);
        assert_eq!(d.l3, &inner[..]);
        assert_eq!(d.gwlb, Some(meta()));
        assert!(decode_inner(d.protocol, d.l3).is_ok());

        // Raw-IP capture of the same datagram.
        let d = decode_frame(linktype::RAW, &outer).unwrap();
        assert_eq!(d.gwlb.map(|m| m.endpoint), Some(meta().endpoint));

        // The appliance's reply (from 6081) is not decapsulated.
        let reply = outer_udp(GENEVE_PORT, 40000, &geneve_datagram(&inner));
        let d = decode_frame(linktype::RAW, &reply).unwrap();
        assert_eq!((d.l3, d.gwlb), (&reply[..], None));

        // Malformed GENEVE to 6081 is an error with wire's reason.
        let bad = outer_udp(40000, GENEVE_PORT, &[0u8; 4]);
        let e = decode_frame(linktype::RAW, &bad).unwrap_err();
        assert_eq!(e, FrameError::Geneve(seawall_wire::Error::Truncated));
        assert_eq!(e.reason(), "geneve_truncated");
    }

    #[test]
    fn test_decode_frame_never_panics_on_cut_frames() {
        let inner = ipv4_udp();
        let outer = outer_udp(1, GENEVE_PORT, &geneve_datagram(&inner));
        let f = ether(&[(0x88a8, 1), (0x8100, 2)], ETHERTYPE_IPV4, &outer);
        for lt in [1, 0, 9, 12, 14, 101, 104, 108, 113, 228, 229, 276, 778] {
            for cut in 0..=f.len() {
                let _ = decode_frame(lt, &f[..cut]);
            }
        }
    }

    const CHDLC_HTTP: &[u8] = include_bytes!("../testdata/tunnel/chdlc_http.bin");
    const NSH_TYPE1: &[u8] = include_bytes!("../testdata/tunnel/nsh_type1.bin");
    const NSH_TYPE2: &[u8] = include_bytes!("../testdata/tunnel/nsh_type2.bin");

    /// suricata-verify decode-chdlc-01 (packet 7) and decode-nsh-type1/2.
    #[test]
    fn test_chdlc_and_nsh_real_frames() {
        let d = decode_link(linktype::CISCO_HDLC, CHDLC_HTTP).unwrap();
        let p = decode_inner(d.protocol, d.l3).unwrap();
        let t = p.five_tuple();
        assert_eq!(
            (t.src.to_string(), t.src_port, t.dst.to_string(), t.dst_port),
            ("192.168.2.7".into(), 4938, "65.55.116.183".into(), 80)
        );
        for f in [NSH_TYPE1, NSH_TYPE2] {
            let d = decode_link(linktype::ETHERNET, f).unwrap();
            let p = decode_inner(d.protocol, d.l3).unwrap();
            let t = p.five_tuple();
            assert_eq!((t.src_port, t.dst_port, t.ip_proto), (52377, 52464, 17));
            assert_eq!(p.transport.payload(), b"data\n\n");
        }
        // Malformed NSH, one per class: version 1, length past the packet, MD type 1 with the
        // wrong length, reserved MD type, unknown next protocol, cut short.
        let nsh_at = 14;
        for (at, byte) in [(0usize, 0x40u8), (1, 0x3f), (1, 0x05), (2, 0x00), (3, 0x09)] {
            let mut f = NSH_TYPE1.to_vec();
            f[nsh_at + at] = byte;
            assert_eq!(
                decode_link(linktype::ETHERNET, &f),
                Err(FrameError::Nsh),
                "{at}"
            );
        }
        assert_eq!(
            decode_link(linktype::ETHERNET, &NSH_TYPE1[..nsh_at + 7]),
            Err(FrameError::Truncated)
        );
        assert_eq!(
            decode_link(linktype::CISCO_HDLC, &CHDLC_HTTP[..3]),
            Err(FrameError::Truncated)
        );
    }

    #[test]
    fn test_mpls_ppp_and_vlan_limits() {
        let ip = ipv4_udp();
        // Two labels, IPv4 guessed from the version nibble; explicit-null IPv6 label.
        let mut m = vec![0x00, 0x10, 0x00, 0x40, 0x00, 0x20, 0x01, 0x40];
        m.extend_from_slice(&ip);
        let f = ether(&[], 0x8847, &m);
        let d = decode_link(linktype::ETHERNET, &f).unwrap();
        assert_eq!((d.protocol, d.l3), (0x0800, &ip[..]));
        let mut m = vec![0x00, 0x00, 0x21, 0x40];
        m.extend_from_slice(&ipv6_tcp());
        let f = ether(&[], 0x8847, &m);
        let d = decode_link(linktype::ETHERNET, &f).unwrap();
        assert_eq!(d.protocol, 0x86dd);
        // Ethernet pseudowire behind a control word.
        let mut m = vec![0x00, 0x10, 0x01, 0x40, 0, 0, 0, 0];
        m.extend_from_slice(&ether(&[(0x8100, 9)], ETHERTYPE_IPV4, &ip));
        let f = ether(&[], 0x8847, &m);
        let d = decode_link(linktype::ETHERNET, &f).unwrap();
        assert_eq!((d.l3, d.vlan), (&ip[..], [9, 0]));
        // Router alert at the bottom of the stack; a stack with no bottom.
        let f = ether(&[], 0x8847, &[0x00, 0x00, 0x11, 0x40, 0x45, 0, 0, 0]);
        assert_eq!(decode_link(linktype::ETHERNET, &f), Err(FrameError::Mpls));
        let f = ether(&[], 0x8847, &[0x00, 0x10, 0x00, 0x40]);
        assert_eq!(
            decode_link(linktype::ETHERNET, &f),
            Err(FrameError::Truncated)
        );

        // PPP with and without the HDLC bytes, compressed protocol field; LCP is not IP.
        for head in [&[0xff, 0x03, 0x00, 0x21][..], &[0x00, 0x21], &[0x21]] {
            let f = [head, &ip].concat();
            assert_eq!(decode_link(linktype::PPP, &f).unwrap().l3, &ip[..]);
        }
        assert_eq!(
            decode_link(linktype::PPP, &[0xff, 0x03, 0xc0, 0x21, 1, 2]),
            Err(FrameError::NotIp(0xc021))
        );
        assert_eq!(
            decode_link(linktype::PPP, &[0x00, 0x21, 0x45]),
            Err(FrameError::Truncated)
        );

        // PPPoE session: two-octet and one-octet PPP protocol; LCP; no payload.
        for (proto, extra) in [(&[0x00, 0x21][..], 2u16), (&[0x21], 1)] {
            let mut p = vec![0x11, 0x00, 0x00, 0x01];
            p.extend_from_slice(&(ip.len() as u16 + extra).to_be_bytes());
            p.extend_from_slice(proto);
            p.extend_from_slice(&ip);
            let f = ether(&[(0x8100, 3)], 0x8864, &p);
            let d = decode_link(linktype::ETHERNET, &f).unwrap();
            assert_eq!((d.l3, d.vlan), (&ip[..], [3, 0]));
        }
        let f = ether(&[], 0x8864, &[0x11, 0, 0, 1, 0, 2, 0xc0, 0x21]);
        assert_eq!(
            decode_link(linktype::ETHERNET, &f),
            Err(FrameError::NotIp(0xc021))
        );
        let f = ether(&[], 0x8864, &[0x11, 0, 0, 1, 0, 0, 0x00, 0x21]);
        assert_eq!(
            decode_link(linktype::ETHERNET, &f),
            Err(FrameError::NotIp(0x8864))
        );
        let f = ether(&[], 0x8864, &[0x11, 0, 0, 1, 0, 2, 0x00]);
        assert_eq!(
            decode_link(linktype::ETHERNET, &f),
            Err(FrameError::Truncated)
        );
        let f = ether(&[], 0x8864, &[0x11, 0, 0, 1, 0, 2, 0x00, 0x21, 0x45]);
        assert_eq!(
            decode_link(linktype::ETHERNET, &f),
            Err(FrameError::Truncated)
        );

        // Suricata keeps three VLAN layers: a fourth tag stops the decode.
        let tags = [(0x8100, 1), (0x8100, 2), (0x8100, 3), (0x8100, 4)];
        let f = ether(&tags, ETHERTYPE_IPV4, &ip);
        assert_eq!(
            decode_link(linktype::ETHERNET, &f),
            Err(FrameError::TooManyVlans)
        );
        // Linux SLL carrying a VLAN tag.
        let mut sll = vec![0u8; 14];
        sll.extend_from_slice(&0x8100u16.to_be_bytes());
        sll.extend_from_slice(&[0x00, 0x05, 0x08, 0x00]);
        sll.extend_from_slice(&ip);
        let d = decode_link(linktype::LINUX_SLL, &sll).unwrap();
        assert_eq!((d.l3, d.vlan), (&ip[..], [5, 0]));
    }

    proptest::proptest! {
        /// Arbitrary bytes under every link type: never a panic, and an `Ok` points inside the frame
        /// (or, for GENEVE, inside its UDP payload) with an IP protocol.
        #[test]
        fn prop_decode_frame_never_panics(
            lt in proptest::prop_oneof![proptest::strategy::Just(1u32), proptest::strategy::Just(113), proptest::strategy::Just(276), proptest::strategy::Just(101), proptest::strategy::Just(0), proptest::strategy::Just(104), proptest::strategy::Just(9), 0u32..300],
            bytes in proptest::collection::vec(proptest::arbitrary::any::<u8>(), 0..120),
        ) {
            if let Ok(f) = decode_frame(lt, &bytes) {
                proptest::prop_assert!(f.protocol == ETHERTYPE_IPV4 || f.protocol == ETHERTYPE_IPV6);
                proptest::prop_assert!(f.l3.len() <= bytes.len());
            }
        }
    }
}
