//! The Internet checksum (RFC 1071) for inner headers: verifying what arrives (an IDS may flag or
//! ignore bad checksums) and filling in what the appliance builds (a TCP reset for `reject`).
//!
//! Sums are carried in a `u64`, so no input length can overflow; never panics.

use core::net::IpAddr;

use crate::inner::{ip_proto, InnerPacket, Transport};

/// Adds `data` (as big-endian 16-bit words, an odd last byte padded with zero) to `sum`.
pub fn accumulate(sum: u64, data: &[u8]) -> u64 {
    let mut chunks = data.chunks_exact(2);
    let mut sum = sum;
    for c in &mut chunks {
        sum += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u64::from(u16::from_be_bytes([*last, 0]));
    }
    sum
}

/// Folds a sum to 16 bits and complements it: the value to put in a checksum field.
pub fn finish(sum: u64) -> u16 {
    let mut sum = sum;
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The checksum of `data` alone (e.g. an IPv4 header with its checksum field zeroed).
/// A buffer that already holds a correct checksum gives 0.
pub fn checksum(data: &[u8]) -> u16 {
    finish(accumulate(0, data))
}

/// The sum of the TCP/UDP/ICMPv6 pseudo-header: addresses, protocol and upper-layer length.
/// Mixed address families sum the addresses as given (never a valid packet; no panic).
pub fn pseudo_header(src: IpAddr, dst: IpAddr, proto: u8, len: usize) -> u64 {
    let mut sum = 0;
    for addr in [src, dst] {
        sum = match addr {
            IpAddr::V4(a) => accumulate(sum, &a.octets()),
            IpAddr::V6(a) => accumulate(sum, &a.octets()),
        };
    }
    sum + u64::from(proto) + len as u64
}

/// Whether an IPv4 header (IHL * 4 bytes, checksum field included) has a correct checksum.
pub fn ipv4_header_valid(header: &[u8]) -> bool {
    checksum(header) == 0
}

/// Verifies the transport checksum of a decoded packet.
///
/// `Some(true|false)` for TCP, UDP, ICMPv4 and ICMPv6 in unfragmented packets; `None` when it
/// cannot be checked here (fragments, other protocols). An IPv4 UDP checksum of 0 means "none"
/// and counts as valid; in IPv6 it is invalid (RFC 8200 section 8.1).
pub fn transport_valid(packet: &InnerPacket<'_>) -> Option<bool> {
    if packet.fragment.is_some() {
        return None;
    }
    let l4 = packet.ip_payload;
    match packet.transport {
        Transport::Tcp { .. } => Some(with_pseudo(packet, ip_proto::TCP, l4)),
        Transport::Udp { .. } => {
            // Checked over the UDP length, not trailing bytes of the IP payload.
            let len = l4
                .get(4..6)
                .map_or(0, |b| usize::from(u16::from_be_bytes([b[0], b[1]])));
            let datagram = l4.get(..len).unwrap_or(l4);
            let zero = datagram.get(6..8) == Some(&[0, 0][..]);
            if zero {
                Some(packet.src.is_ipv4())
            } else {
                Some(with_pseudo(packet, ip_proto::UDP, datagram))
            }
        }
        Transport::Icmp { .. } if packet.ip_proto == ip_proto::ICMPV6 => {
            Some(with_pseudo(packet, ip_proto::ICMPV6, l4))
        }
        Transport::Icmp { .. } => Some(checksum(l4) == 0),
        Transport::Fragment { .. } | Transport::Other { .. } => None,
    }
}

fn with_pseudo(packet: &InnerPacket<'_>, proto: u8, l4: &[u8]) -> bool {
    let sum = pseudo_header(packet.src, packet.dst, proto, l4.len());
    finish(accumulate(sum, l4)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::*;
    use crate::{decode_inner, ETHERTYPE_IPV4, ETHERTYPE_IPV6};

    const GOOD: [(u16, &[u8]); 10] = [
        (ETHERTYPE_IPV4, &IPV4_TCP_SYN),
        (ETHERTYPE_IPV4, &IPV4_OPTS_TCP_PSH),
        (ETHERTYPE_IPV4, &IPV4_UDP_DNS),
        (ETHERTYPE_IPV4, &IPV4_ICMP_ECHO),
        (ETHERTYPE_IPV4, &IPV4_ICMP_UNREACH_UDP),
        (ETHERTYPE_IPV6, &IPV6_TCP_SYN),
        (ETHERTYPE_IPV6, &IPV6_UDP),
        (ETHERTYPE_IPV6, &IPV6_ICMP_PTB_UDP),
        (ETHERTYPE_IPV6, &IPV6_ICMP_TTL_EXT_TCP),
        (ETHERTYPE_IPV6, &IPV6_ICMP_ECHO),
    ];

    #[test]
    fn test_fixture_checksums_verify() {
        for (protocol, bytes) in GOOD {
            let p = decode_inner(protocol, bytes).unwrap();
            assert!(p.ipv4_header_checksum_valid(bytes), "{p}");
            assert_eq!(transport_valid(&p), Some(true), "{p}");
        }
    }

    #[test]
    fn test_corruption_is_detected() {
        for (protocol, bytes) in GOOD {
            let mut bad = bytes.to_vec();
            let last = bad.len() - 1;
            bad[last] ^= 0x01;
            let p = decode_inner(protocol, &bad).unwrap();
            assert_eq!(transport_valid(&p), Some(false), "{p}");
        }
        let mut bad = IPV4_TCP_SYN;
        bad[8] = 63; // TTL
        let p = decode_inner(ETHERTYPE_IPV4, &bad).unwrap();
        assert!(!p.ipv4_header_checksum_valid(&bad));
        assert!(!p.ipv4_header_checksum_valid(&bad[..10]));
    }

    #[test]
    fn test_not_checkable() {
        let p = decode_inner(ETHERTYPE_IPV4, &IPV4_FRAG_FIRST_UDP).unwrap();
        assert_eq!(transport_valid(&p), None);
        let p = decode_inner(ETHERTYPE_IPV6, &IPV6_FRAG_LATER).unwrap();
        assert_eq!(transport_valid(&p), None);
    }

    #[test]
    fn test_udp_zero_checksum() {
        let mut v4 = IPV4_UDP_DNS;
        v4[26..28].fill(0);
        let p = decode_inner(ETHERTYPE_IPV4, &v4).unwrap();
        assert_eq!(transport_valid(&p), Some(true));
        let mut v6 = IPV6_UDP;
        v6[46..48].fill(0);
        let p = decode_inner(ETHERTYPE_IPV6, &v6).unwrap();
        assert_eq!(transport_valid(&p), Some(false));
    }

    #[test]
    fn test_fill_in_ipv4_header_checksum() {
        let mut header = [0u8; 20];
        header.copy_from_slice(&IPV4_TCP_SYN[..20]);
        header[10..12].fill(0);
        let c = checksum(&header);
        assert_eq!(c.to_be_bytes(), [IPV4_TCP_SYN[10], IPV4_TCP_SYN[11]]);
        header[10..12].copy_from_slice(&c.to_be_bytes());
        assert!(ipv4_header_valid(&header));
    }

    #[test]
    fn test_odd_length_and_folding() {
        // RFC 1071 section 3 example: 00 01 f2 03 f4 f5 f6 f7 sums to 0x2ddf0, folds to 0xddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(accumulate(0, &data), 0x2_ddf0);
        assert_eq!(finish(accumulate(0, &data)), !0xddf2);
        assert_eq!(accumulate(0, &[0xab]), 0xab00);
        assert_eq!(checksum(&[]), 0xffff);
    }
}
