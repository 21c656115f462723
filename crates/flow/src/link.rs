//! Link-layer decode for captures: from a pcap frame to the L3 packet [`decode_inner`] takes.
//!
//! Covers what captures of Seawall's traffic carry: Ethernet (with any number of 802.1Q / 802.1ad /
//! QinQ 0x9100 tags; the first two VLAN ids are kept for the flow key), Linux cooked captures v1
//! (113) and v2 (276), raw IP (101, 12, 14, 228, 229), BSD loopback (0, 108), and GENEVE as GWLB
//! sends it: an outer IPv4/UDP datagram to port 6081 is decapsulated with
//! [`seawall_wire::parse_gwlb`] and the inner packet is returned with its [`GwlbMeta`].
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
    /// DLT_RAW as numbered on some BSDs.
    pub const RAW_12: u32 = 12;
    /// DLT_RAW as numbered on OpenBSD.
    pub const RAW_14: u32 = 14;
    /// LINKTYPE_RAW: bare IPv4 or IPv6.
    pub const RAW: u32 = 101;
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
}

const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
const ETHERTYPE_QINQ_OLD: u16 = 0x9100;
const ETHERNET_HEADER: usize = 14;
const VLAN_TAG: usize = 4;
const SLL_HEADER: usize = 16;
const SLL2_HEADER: usize = 20;
const LOOPBACK_HEADER: usize = 4;
const IPV4_MIN_HEADER: usize = 20;
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
}

impl FrameError {
    /// Stable snake_case label for counters.
    pub const fn reason(self) -> &'static str {
        match self {
            FrameError::UnsupportedLinkType(_) => "link_unsupported",
            FrameError::Truncated => "link_truncated",
            FrameError::NotIp(_) => "link_not_ip",
            FrameError::Geneve(e) => e.reason(),
        }
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at + 2)?;
    Some(u16::from_be_bytes([s[0], s[1]]))
}

/// Reduces a captured frame to its IP packet.
///
/// `linktype` is the pcap/pcapng link type of the capture. An outer IPv4/UDP datagram to port 6081
/// is treated as GWLB GENEVE (whatever the link type): its inner packet is returned with the AWS
/// metadata, or [`FrameError::Geneve`] if the GENEVE header is malformed. Datagrams *from* port
/// 6081 (the appliance's replies) are not decapsulated, so a capture of both directions does not
/// inspect each inner packet twice.
pub fn decode_frame(linktype: u32, frame: &[u8]) -> Result<Frame<'_>, FrameError> {
    let mut vlan = [0u16; 2];
    let (protocol, l3) = match linktype {
        linktype::ETHERNET => {
            let mut ethertype = be16(frame, 12).ok_or(FrameError::Truncated)?;
            let mut off = ETHERNET_HEADER;
            let mut tags = 0usize;
            while matches!(
                ethertype,
                ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD
            ) {
                let tci = be16(frame, off).ok_or(FrameError::Truncated)?;
                ethertype = be16(frame, off + 2).ok_or(FrameError::Truncated)?;
                if let Some(slot) = vlan.get_mut(tags) {
                    *slot = tci & 0x0fff;
                }
                tags += 1;
                off += VLAN_TAG;
            }
            (ethertype, frame.get(off..).ok_or(FrameError::Truncated)?)
        }
        linktype::LINUX_SLL => {
            let proto = be16(frame, 14).ok_or(FrameError::Truncated)?;
            let rest = frame.get(SLL_HEADER..).ok_or(FrameError::Truncated)?;
            (proto, rest)
        }
        linktype::LINUX_SLL2 => {
            let proto = be16(frame, 0).ok_or(FrameError::Truncated)?;
            let rest = frame.get(SLL2_HEADER..).ok_or(FrameError::Truncated)?;
            (proto, rest)
        }
        linktype::RAW | linktype::RAW_12 | linktype::RAW_14 | linktype::IPV4 | linktype::IPV6 => {
            (by_version(frame)?, frame)
        }
        linktype::NULL | linktype::LOOP => {
            // The address family value for IPv6 differs by OS (10, 24, 28, 30): the version
            // nibble decides.
            let rest = frame.get(LOOPBACK_HEADER..).ok_or(FrameError::Truncated)?;
            (by_version(rest)?, rest)
        }
        other => return Err(FrameError::UnsupportedLinkType(other)),
    };
    if protocol != ETHERTYPE_IPV4 && protocol != ETHERTYPE_IPV6 {
        return Err(FrameError::NotIp(protocol));
    }
    if let Some(payload) = geneve_payload(protocol, l3) {
        let gwlb = parse_gwlb(payload).map_err(FrameError::Geneve)?;
        return Ok(Frame {
            protocol: gwlb.protocol,
            l3: gwlb.inner,
            vlan,
            gwlb: Some(gwlb.meta),
        });
    }
    Ok(Frame {
        protocol,
        l3,
        vlan,
        gwlb: None,
    })
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
        for lt in [1, 0, 12, 14, 101, 108, 113, 228, 229, 276] {
            for cut in 0..=f.len() {
                let _ = decode_frame(lt, &f[..cut]);
            }
        }
    }

    proptest::proptest! {
        /// Arbitrary bytes under every link type: never a panic, and an `Ok` points inside the frame
        /// (or, for GENEVE, inside its UDP payload) with an IP protocol.
        #[test]
        fn prop_decode_frame_never_panics(
            lt in proptest::prop_oneof![proptest::strategy::Just(1u32), proptest::strategy::Just(113), proptest::strategy::Just(276), proptest::strategy::Just(101), proptest::strategy::Just(0), 0u32..300],
            bytes in proptest::collection::vec(proptest::arbitrary::any::<u8>(), 0..120),
        ) {
            if let Ok(f) = decode_frame(lt, &bytes) {
                proptest::prop_assert!(f.protocol == ETHERTYPE_IPV4 || f.protocol == ETHERTYPE_IPV6);
                proptest::prop_assert!(f.l3.len() <= bytes.len());
            }
        }
    }
}
