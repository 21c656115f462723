//! The flow key GWLB balances on: a symmetric 5-tuple of the inner packet.
//!
//! Both directions of a connection give the same [`FlowTuple`] (the two endpoints are stored in
//! sorted order). Packets without ports (ICMP, fragments, other protocols) use a 3-tuple: ports 0.
//! Fragments of TCP/UDP (first or not) also use the 3-tuple, since only the first one has ports.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Symmetric flow key: `(lo, hi)` endpoints in sorted order plus the IP protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowTuple {
    /// The smaller `(address, port)` endpoint.
    pub lo: (IpAddr, u16),
    /// The larger `(address, port)` endpoint.
    pub hi: (IpAddr, u16),
    /// IP protocol number of the transport (after IPv6 extension headers).
    pub proto: u8,
}

/// IP protocol numbers used here.
pub const PROTO_TCP: u8 = 6;
/// UDP.
pub const PROTO_UDP: u8 = 17;
const PROTO_SCTP: u8 = 132;
const PROTO_UDPLITE: u8 = 136;

impl FlowTuple {
    /// Builds the symmetric key from one direction.
    pub fn new(src: (IpAddr, u16), dst: (IpAddr, u16), proto: u8) -> Self {
        let (lo, hi) = if src <= dst { (src, dst) } else { (dst, src) };
        Self { lo, hi, proto }
    }

    /// True for TCP flows (their idle timeout differs from everything else).
    pub fn is_tcp(&self) -> bool {
        self.proto == PROTO_TCP
    }

    /// Extracts the key from a bare IPv4/IPv6 packet; `None` when the IP header is unreadable.
    pub fn of_packet(ip: &[u8]) -> Option<Self> {
        match ip.first()? >> 4 {
            4 => Self::of_ipv4(ip),
            6 => Self::of_ipv6(ip),
            _ => None,
        }
    }

    fn of_ipv4(ip: &[u8]) -> Option<Self> {
        if ip.len() < 20 {
            return None;
        }
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        let proto = ip[9];
        let frag = u16::from_be_bytes([ip[6], ip[7]]);
        let fragmented = frag & 0x3fff != 0; // MF or a non-zero offset
        let src = IpAddr::V4(Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]));
        let dst = IpAddr::V4(Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]));
        let ports = if fragmented || ihl < 20 {
            None
        } else {
            ports(proto, ip.get(ihl..)?)
        };
        Some(Self::with_ports(src, dst, proto, ports))
    }

    fn of_ipv6(ip: &[u8]) -> Option<Self> {
        if ip.len() < 40 {
            return None;
        }
        let src = IpAddr::V6(Ipv6Addr::from(
            <[u8; 16]>::try_from(&ip[8..24]).expect("16 bytes"),
        ));
        let dst = IpAddr::V6(Ipv6Addr::from(
            <[u8; 16]>::try_from(&ip[24..40]).expect("16 bytes"),
        ));
        let mut next = ip[6];
        let mut off = 40;
        let mut fragmented = false;
        // Walk the extension header chain (bounded: each step advances at least 8 bytes).
        loop {
            match next {
                0 | 43 | 60 => {
                    let hdr = ip.get(off..off + 2)?;
                    next = hdr[0];
                    off += (usize::from(hdr[1]) + 1) * 8;
                }
                51 => {
                    let hdr = ip.get(off..off + 2)?;
                    next = hdr[0];
                    off += (usize::from(hdr[1]) + 2) * 4;
                }
                44 => {
                    let hdr = ip.get(off..off + 8)?;
                    next = hdr[0];
                    let offset_flags = u16::from_be_bytes([hdr[2], hdr[3]]);
                    // An "atomic" fragment (offset 0, M clear) is a whole packet.
                    fragmented |= offset_flags & 0xfff9 != 0;
                    off += 8;
                }
                _ => break,
            }
            if off > ip.len() {
                return Some(Self::with_ports(src, dst, next, None));
            }
        }
        let ports = if fragmented {
            None
        } else {
            ports(next, &ip[off..])
        };
        Some(Self::with_ports(src, dst, next, ports))
    }

    fn with_ports(src: IpAddr, dst: IpAddr, proto: u8, ports: Option<(u16, u16)>) -> Self {
        let (sp, dp) = ports.unwrap_or((0, 0));
        Self::new((src, sp), (dst, dp), proto)
    }
}

fn ports(proto: u8, l4: &[u8]) -> Option<(u16, u16)> {
    match proto {
        PROTO_TCP | PROTO_UDP | PROTO_SCTP | PROTO_UDPLITE if l4.len() >= 4 => Some((
            u16::from_be_bytes([l4[0], l4[1]]),
            u16::from_be_bytes([l4[2], l4[3]]),
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4_udp(src: [u8; 4], sp: u16, dst: [u8; 4], dp: u16) -> Vec<u8> {
        let mut p = vec![0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0];
        p.extend_from_slice(&src);
        p.extend_from_slice(&dst);
        p.extend_from_slice(&sp.to_be_bytes());
        p.extend_from_slice(&dp.to_be_bytes());
        p.extend_from_slice(&[0, 8, 0, 0]);
        p
    }

    #[test]
    fn symmetric_v4() {
        let a = FlowTuple::of_packet(&v4_udp([10, 0, 0, 1], 1234, [10, 0, 0, 2], 53)).unwrap();
        let b = FlowTuple::of_packet(&v4_udp([10, 0, 0, 2], 53, [10, 0, 0, 1], 1234)).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.proto, PROTO_UDP);
        assert_eq!(a.lo, ("10.0.0.1".parse().unwrap(), 1234));
        let c = FlowTuple::of_packet(&v4_udp([10, 0, 0, 2], 54, [10, 0, 0, 1], 1234)).unwrap();
        assert_ne!(a, c);
    }

    #[test]
    fn v4_fragment_has_no_ports() {
        let mut p = v4_udp([10, 0, 0, 1], 1234, [10, 0, 0, 2], 53);
        p[6] = 0x20; // MF
        let t = FlowTuple::of_packet(&p).unwrap();
        assert_eq!((t.lo.1, t.hi.1), (0, 0));
    }

    #[test]
    fn v6_with_extension_headers() {
        let mut p = vec![0x60, 0, 0, 0, 0, 16, 0, 64];
        p.extend_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        p.extend_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        // hop-by-hop (8 bytes) → TCP
        p.extend_from_slice(&[6, 0, 1, 4, 0, 0, 0, 0]);
        p.extend_from_slice(&[0x1f, 0x90, 0x00, 0x50, 0, 0, 0, 0]);
        let t = FlowTuple::of_packet(&p).unwrap();
        assert!(t.is_tcp());
        assert_eq!(t.lo.1, 8080);
        assert_eq!(t.hi.1, 80);
        // A fragment header with M set hides the ports.
        p[6] = 44;
        p[40..48].copy_from_slice(&[6, 0, 0, 1, 0, 0, 0, 7]);
        let t = FlowTuple::of_packet(&p).unwrap();
        assert_eq!((t.lo.1, t.hi.1, t.proto), (0, 0, 6));
    }

    #[test]
    fn garbage_is_none() {
        assert_eq!(FlowTuple::of_packet(&[]), None);
        assert_eq!(FlowTuple::of_packet(&[0x45, 0]), None);
        assert_eq!(FlowTuple::of_packet(&[0x00; 40]), None);
    }
}
