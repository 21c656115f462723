//! The flow key: GWLB endpoint id plus a symmetric 5-tuple, and how a packet maps to one.

use core::fmt;
use core::hash::{Hash, Hasher};
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use seawall_wire::inner::ip_proto;
use seawall_wire::{FiveTuple, InnerPacket, Transport};

/// Direction of a packet relative to its flow's originator (the "client").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the client (the flow's originator: SYN sender, first sender of UDP) to the server.
    ToServer,
    /// From the server to the client.
    ToClient,
}

impl Direction {
    /// The other direction.
    pub const fn reversed(self) -> Direction {
        match self {
            Direction::ToServer => Direction::ToClient,
            Direction::ToClient => Direction::ToServer,
        }
    }
    /// 0 for `ToServer`, 1 for `ToClient` (index of per-direction counters).
    pub const fn index(self) -> usize {
        match self {
            Direction::ToServer => 0,
            Direction::ToClient => 1,
        }
    }
}

/// A symmetric flow key: both directions of a flow give the same key.
///
/// The two endpoints are stored in a canonical order (`lo` <= `hi`, comparing address then port),
/// so the key says nothing about which side is the client; the flow table records that. The GWLB
/// endpoint id is part of the key because address spaces behind different endpoints may overlap
/// (DESIGN.md section 1); it is 0 for traffic not from GWLB (captures). For captures with VLAN
/// tags, fold the VLAN ids into `endpoint` (see [`FlowKey::capture_endpoint`]) as Suricata keys
/// flows on VLAN ids.
///
/// ICMP echo request/reply use the echo identifier as both ports; other ICMP messages have ports 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey {
    endpoint: u64,
    lo_addr: [u8; 16],
    hi_addr: [u8; 16],
    lo_port: u16,
    hi_port: u16,
    proto: u8,
    v6: bool,
}

fn addr_bytes(a: IpAddr) -> ([u8; 16], bool) {
    match a {
        IpAddr::V4(v4) => {
            let mut b = [0u8; 16];
            b[..4].copy_from_slice(&v4.octets());
            (b, false)
        }
        IpAddr::V6(v6) => (v6.octets(), true),
    }
}

impl FlowKey {
    /// The key of `tuple` under `endpoint`, and whether the tuple's source is the `lo` side.
    pub fn from_tuple(endpoint: u64, tuple: &FiveTuple) -> (FlowKey, bool) {
        let (src, v6) = addr_bytes(tuple.src);
        let (dst, _) = addr_bytes(tuple.dst);
        let src_is_lo = (src, tuple.src_port) <= (dst, tuple.dst_port);
        let (lo, hi) = if src_is_lo {
            ((src, tuple.src_port), (dst, tuple.dst_port))
        } else {
            ((dst, tuple.dst_port), (src, tuple.src_port))
        };
        (
            FlowKey {
                endpoint,
                lo_addr: lo.0,
                hi_addr: hi.0,
                lo_port: lo.1,
                hi_port: hi.1,
                proto: tuple.ip_proto,
                v6,
            },
            src_is_lo,
        )
    }

    /// An `endpoint` value for capture traffic: GWLB endpoint id 0 with the two VLAN ids folded in
    /// the top 24 bits (real GWLB endpoint ids are never combined with VLAN tags).
    pub const fn capture_endpoint(vlan: [u16; 2]) -> u64 {
        ((vlan[0] as u64 & 0xfff) << 52) | ((vlan[1] as u64 & 0xfff) << 40)
    }

    /// GWLB endpoint id (0 when not from GWLB).
    pub const fn endpoint(&self) -> u64 {
        self.endpoint
    }
    /// IP protocol.
    pub const fn proto(&self) -> u8 {
        self.proto
    }
    fn addr(&self, b: [u8; 16]) -> IpAddr {
        if self.v6 {
            IpAddr::V6(Ipv6Addr::from(b))
        } else {
            IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
        }
    }
    /// The lower endpoint (address, port) in canonical order.
    pub fn lo(&self) -> (IpAddr, u16) {
        (self.addr(self.lo_addr), self.lo_port)
    }
    /// The higher endpoint (address, port) in canonical order.
    pub fn hi(&self) -> (IpAddr, u16) {
        (self.addr(self.hi_addr), self.hi_port)
    }

    /// Keyed hash (SipHash-1-3 via std, seeded) used by the table; symmetric because the key is.
    pub(crate) fn hash_with(&self, seed: u64) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        seed.hash(&mut h);
        self.hash(&mut h);
        h.finish()
    }
}

impl fmt::Display for FlowKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (la, lp) = self.lo();
        let (ha, hp) = self.hi();
        write!(
            f,
            "ep {:#x} {la}.{lp} <> {ha}.{hp} proto {}",
            self.endpoint, self.proto
        )
    }
}

/// Why a packet has no flow (DESIGN.md section 1: handled without per-flow state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Untracked {
    /// A fragment (first or not): send it through [`crate::Defrag`] first; the reassembled packet
    /// has a flow.
    Fragment,
    /// An ICMP error whose quoted packet belongs to no tracked flow, or whose quote is too short
    /// to name one.
    IcmpErrorNoFlow,
}

impl Untracked {
    /// Stable snake_case label for counters.
    pub const fn reason(self) -> &'static str {
        match self {
            Untracked::Fragment => "fragment",
            Untracked::IcmpErrorNoFlow => "icmp_error_no_flow",
        }
    }
}

/// How a packet maps to a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mapping {
    /// The packet belongs to the flow `key`; `src_is_lo` tells which side sent it.
    Flow { key: FlowKey, src_is_lo: bool },
    /// An ICMP error quoting a packet of flow `key`; `src_is_lo` is the side the error travels
    /// *from* (the quoted packet's destination side). Looked up, never created.
    IcmpError { key: FlowKey, src_is_lo: bool },
    /// No flow.
    None(Untracked),
}

fn is_echo(proto: u8, ty: u8) -> bool {
    if proto == ip_proto::ICMPV6 {
        matches!(ty, 128 | 129)
    } else {
        matches!(ty, 0 | 8)
    }
}

fn is_icmp_error(proto: u8, ty: u8) -> bool {
    if proto == ip_proto::ICMPV6 {
        matches!(ty, 1..=4)
    } else {
        matches!(ty, 3 | 4 | 5 | 11 | 12)
    }
}

/// Maps a decoded packet to its flow key.
pub(crate) fn map_packet(endpoint: u64, pkt: &InnerPacket<'_>, icmp_echo_by_id: bool) -> Mapping {
    if pkt.fragment.is_some() {
        return Mapping::None(Untracked::Fragment);
    }
    let mut tuple = pkt.five_tuple();
    if let Transport::Icmp {
        ty,
        rest_of_header,
        quoted,
        ..
    } = pkt.transport
    {
        if is_icmp_error(pkt.ip_proto, ty) {
            let Some(q) = quoted else {
                return Mapping::None(Untracked::IcmpErrorNoFlow);
            };
            let (key, quoted_src_is_lo) = FlowKey::from_tuple(endpoint, &q.five_tuple());
            // The error travels from the quoted packet's destination side back to its source.
            return Mapping::IcmpError {
                key,
                src_is_lo: !quoted_src_is_lo,
            };
        }
        if icmp_echo_by_id && is_echo(pkt.ip_proto, ty) {
            let id = u16::from_be_bytes([rest_of_header[0], rest_of_header[1]]);
            tuple.src_port = id;
            tuple.dst_port = id;
        }
    }
    let (key, src_is_lo) = FlowKey::from_tuple(endpoint, &tuple);
    Mapping::Flow { key, src_is_lo }
}

#[cfg(test)]
mod tests {
    use super::*;
    use seawall_wire::decode_inner;

    fn v4(
        build: impl FnOnce(etherparse::PacketBuilderStep<etherparse::IpHeaders>) -> Vec<u8>,
    ) -> Vec<u8> {
        build(etherparse::PacketBuilder::ipv4(
            [10, 0, 0, 1],
            [10, 0, 0, 2],
            64,
        ))
    }

    fn udp(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> Vec<u8> {
        let mut v = Vec::new();
        etherparse::PacketBuilder::ipv4(src, dst, 64)
            .udp(sport, dport)
            .write(&mut v, b"x")
            .unwrap();
        v
    }

    fn map(bytes: &[u8]) -> Mapping {
        map_packet(7, &decode_inner(0x0800, bytes).unwrap(), true)
    }

    #[test]
    fn test_key_is_symmetric_with_direction_bit() {
        let a = map(&udp([10, 0, 0, 1], 1000, [10, 0, 0, 2], 53));
        let b = map(&udp([10, 0, 0, 2], 53, [10, 0, 0, 1], 1000));
        let (
            Mapping::Flow {
                key: ka,
                src_is_lo: la,
            },
            Mapping::Flow {
                key: kb,
                src_is_lo: lb,
            },
        ) = (a, b)
        else {
            panic!("{a:?} {b:?}")
        };
        assert_eq!(ka, kb);
        assert_ne!(la, lb);
        assert_eq!(ka.hash_with(1), kb.hash_with(1));
        assert_ne!(ka.hash_with(1), ka.hash_with(2));
        assert_eq!(ka.endpoint(), 7);
        assert_eq!(ka.lo(), ("10.0.0.1".parse().unwrap(), 1000));
        assert_eq!(
            ka.to_string(),
            "ep 0x7 10.0.0.1.1000 <> 10.0.0.2.53 proto 17"
        );
        // Same addresses, ports swapped between sides: a different flow.
        let c = map(&udp([10, 0, 0, 1], 53, [10, 0, 0, 2], 1000));
        assert!(matches!(c, Mapping::Flow { key, .. } if key != ka));
        // Different endpoint: a different flow.
        let d = map_packet(
            8,
            &decode_inner(0x0800, &udp([10, 0, 0, 1], 1000, [10, 0, 0, 2], 53)).unwrap(),
            true,
        );
        assert!(matches!(d, Mapping::Flow { key, .. } if key != ka));
    }

    #[test]
    fn test_icmp_echo_keyed_by_id() {
        let req = v4(|b| {
            let mut v = Vec::new();
            b.icmpv4_echo_request(0x1234, 1)
                .write(&mut v, b"ping")
                .unwrap();
            v
        });
        let mut rep = Vec::new();
        etherparse::PacketBuilder::ipv4([10, 0, 0, 2], [10, 0, 0, 1], 64)
            .icmpv4_echo_reply(0x1234, 1)
            .write(&mut rep, b"ping")
            .unwrap();
        let other = v4(|b| {
            let mut v = Vec::new();
            b.icmpv4_echo_request(0x9999, 1)
                .write(&mut v, b"ping")
                .unwrap();
            v
        });
        let key = |m: Mapping| match m {
            Mapping::Flow { key, .. } => key,
            m => panic!("{m:?}"),
        };
        assert_eq!(key(map(&req)), key(map(&rep)));
        assert_ne!(key(map(&req)), key(map(&other)));
        assert_eq!(key(map(&req)).lo().1, 0x1234);
        // Without echo-by-id, all echoes between two hosts share one flow (Suricata's key).
        let k = |b: &[u8]| match map_packet(0, &decode_inner(0x0800, b).unwrap(), false) {
            Mapping::Flow { key, .. } => key,
            m => panic!("{m:?}"),
        };
        assert_eq!(k(&req), k(&other));
    }

    #[test]
    fn test_icmp_error_maps_to_quoted_flow_reversed() {
        // 10.0.0.1:1000 > 10.0.0.2:53 UDP, then 10.0.0.2 answers port unreachable quoting it.
        let orig = udp([10, 0, 0, 1], 1000, [10, 0, 0, 2], 53);
        let mut err = Vec::new();
        etherparse::PacketBuilder::ipv4([10, 0, 0, 2], [10, 0, 0, 1], 64)
            .icmpv4(etherparse::Icmpv4Type::DestinationUnreachable(
                etherparse::icmpv4::DestUnreachableHeader::Port,
            ))
            .write(&mut err, &orig)
            .unwrap();
        let Mapping::Flow { key, src_is_lo } = map(&orig) else {
            panic!()
        };
        assert_eq!(
            map(&err),
            Mapping::IcmpError {
                key,
                src_is_lo: !src_is_lo
            }
        );
        // An error quoting too little: no flow.
        let mut short = Vec::new();
        etherparse::PacketBuilder::ipv4([10, 0, 0, 2], [10, 0, 0, 1], 64)
            .icmpv4(etherparse::Icmpv4Type::TimeExceeded(
                etherparse::icmpv4::TimeExceededCode::TtlExceededInTransit,
            ))
            .write(&mut short, &orig[..10])
            .unwrap();
        assert_eq!(map(&short), Mapping::None(Untracked::IcmpErrorNoFlow));
    }

    #[test]
    fn test_fragments_are_untracked() {
        let mut p = udp([10, 0, 0, 1], 1000, [10, 0, 0, 2], 53);
        p[6] = 0x20; // MF: a first fragment
        assert_eq!(map(&p), Mapping::None(Untracked::Fragment));
        assert_eq!(Untracked::Fragment.reason(), "fragment");
    }

    #[test]
    fn test_capture_endpoint_folds_vlans() {
        assert_eq!(FlowKey::capture_endpoint([0, 0]), 0);
        assert_ne!(
            FlowKey::capture_endpoint([1, 2]),
            FlowKey::capture_endpoint([2, 1])
        );
        assert_eq!(Direction::ToServer.reversed(), Direction::ToClient);
    }
}
