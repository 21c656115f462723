//! Packets the appliance builds itself: the TCP reset and the ICMP destination-unreachable that
//! answer a `reject` rule (DESIGN.md section 3), as bare inner IP packets.
//!
//! The data plane puts the crafted packet behind the flow's latest GENEVE header, byte for byte,
//! and sends it to the GWLB (the appliance cannot originate flows; DESIGN.md section 1). This
//! module only builds the inner packet: IPv4 (20-byte header, no options) or IPv6 (40-byte header,
//! no extension headers), checksums filled in. It writes into a caller buffer: no allocation, no
//! panic on any input (a buffer too small or a packet that cannot be answered gives `None`).
//!
//! What is sent, as Suricata does:
//! - TCP: a reset with the sequence numbers the receiver accepts. Toward the source (the sender
//!   of the offending packet) the reset comes from the destination: `seq` = the packet's
//!   acknowledgement number (0 without ACK), `ack` = its sequence number plus its segment length,
//!   flags RST+ACK. Toward the destination it continues the sender's stream: `seq` = sequence
//!   number plus segment length, `ack` = the packet's acknowledgement number, flags RST (+ACK
//!   when the packet had ACK).
//! - anything else with an IP header: ICMP port unreachable (ICMPv4 type 3 code 3, ICMPv6 type 1
//!   code 4) quoting the offending packet (up to 548 bytes for IPv4 so the error fits in 576
//!   bytes, up to 1232 bytes for IPv6 so it fits in the 1280-byte minimum MTU). Toward the source
//!   it appears to come from the destination; toward the destination, from the source.
//!
//! Non-first fragments carry no transport header and are never answered.

use core::net::IpAddr;

use crate::checksum::{accumulate, checksum, finish, pseudo_header};
use crate::inner::{ip_proto, InnerPacket, IpVersion, TcpFlags, Transport};

/// Which side of the offending packet an injected packet goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Toward {
    /// The sender of the offending packet (`reject`, `rejectsrc`).
    Source,
    /// Its receiver (`rejectdst`).
    Destination,
}

/// TTL / hop limit of crafted packets.
pub const CRAFT_TTL: u8 = 64;
/// Largest quote in an ICMPv4 error (576 - 20 - 8).
pub const ICMPV4_MAX_QUOTE: usize = 548;
/// Largest quote in an ICMPv6 error (1280 - 40 - 8).
pub const ICMPV6_MAX_QUOTE: usize = 1232;
/// A buffer of this size holds any packet this module builds.
pub const MAX_CRAFTED_LEN: usize = 1280;

const TCP_HEADER: usize = 20;
const ICMP_HEADER: usize = 8;

/// Addresses of the crafted packet: (source, destination).
fn endpoints(pkt: &InnerPacket<'_>, toward: Toward) -> (IpAddr, IpAddr) {
    match toward {
        Toward::Source => (pkt.dst, pkt.src),
        Toward::Destination => (pkt.src, pkt.dst),
    }
}

/// Writes an IP header for `payload_len` bytes of `proto` into `out`; returns its length, or
/// `None` when the addresses are of mixed families or `out` is too small.
fn ip_header(
    out: &mut [u8],
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    payload_len: usize,
) -> Option<usize> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let total = u16::try_from(20 + payload_len).ok()?;
            let h = out.get_mut(..20)?;
            h.fill(0);
            h[0] = 0x45;
            h[2..4].copy_from_slice(&total.to_be_bytes());
            h[6] = 0x40; // DF
            h[8] = CRAFT_TTL;
            h[9] = proto;
            h[12..16].copy_from_slice(&s.octets());
            h[16..20].copy_from_slice(&d.octets());
            let sum = checksum(h);
            h[10..12].copy_from_slice(&sum.to_be_bytes());
            Some(20)
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let plen = u16::try_from(payload_len).ok()?;
            let h = out.get_mut(..40)?;
            h.fill(0);
            h[0] = 0x60;
            h[4..6].copy_from_slice(&plen.to_be_bytes());
            h[6] = proto;
            h[7] = CRAFT_TTL;
            h[8..24].copy_from_slice(&s.octets());
            h[24..40].copy_from_slice(&d.octets());
            Some(40)
        }
        _ => None,
    }
}

/// Builds the TCP reset answering `pkt` toward `toward` into `out`; returns its length.
///
/// `None` when `pkt` is not an unfragmented-or-first-fragment TCP segment or `out` is too small.
pub fn tcp_reset(pkt: &InnerPacket<'_>, toward: Toward, out: &mut [u8]) -> Option<usize> {
    let Transport::Tcp {
        ports,
        flags,
        seq,
        ack,
        payload,
        ..
    } = pkt.transport
    else {
        return None;
    };
    if pkt.fragment.is_some_and(|f| !f.is_first()) {
        return None;
    }
    let seg_len = (payload.len() as u32)
        .wrapping_add(u32::from(flags.syn()))
        .wrapping_add(u32::from(flags.fin()));
    let (src, dst) = endpoints(pkt, toward);
    let (sport, dport, r_seq, r_ack, r_flags) = match toward {
        Toward::Source => (
            ports.dst,
            ports.src,
            if flags.ack() { ack } else { 0 },
            seq.wrapping_add(seg_len),
            TcpFlags::RST | TcpFlags::ACK,
        ),
        Toward::Destination => (
            ports.src,
            ports.dst,
            seq.wrapping_add(seg_len),
            ack,
            if flags.ack() {
                TcpFlags::RST | TcpFlags::ACK
            } else {
                TcpFlags::RST
            },
        ),
    };
    let hl = ip_header(out, src, dst, ip_proto::TCP, TCP_HEADER)?;
    let t = out.get_mut(hl..hl + TCP_HEADER)?;
    t.fill(0);
    t[0..2].copy_from_slice(&sport.to_be_bytes());
    t[2..4].copy_from_slice(&dport.to_be_bytes());
    t[4..8].copy_from_slice(&r_seq.to_be_bytes());
    t[8..12].copy_from_slice(&r_ack.to_be_bytes());
    t[12] = 5 << 4;
    t[13] = r_flags;
    let sum = finish(accumulate(
        pseudo_header(src, dst, ip_proto::TCP, TCP_HEADER),
        t,
    ));
    t[16..18].copy_from_slice(&sum.to_be_bytes());
    Some(hl + TCP_HEADER)
}

/// Builds the ICMP port unreachable answering `pkt` (whose L3 bytes are `raw`, as given to
/// [`crate::decode_inner`]) toward `toward` into `out`; returns its length.
///
/// `None` for a non-first fragment, for ICMP errors (never answered with an error, RFC 1122), or
/// when `out` is too small.
pub fn icmp_unreachable(
    pkt: &InnerPacket<'_>,
    raw: &[u8],
    toward: Toward,
    out: &mut [u8],
) -> Option<usize> {
    if pkt.fragment.is_some_and(|f| !f.is_first()) {
        return None;
    }
    if let Transport::Icmp { ty, .. } = pkt.transport {
        let is_error = match pkt.version {
            IpVersion::V4 => matches!(ty, 3 | 4 | 5 | 11 | 12),
            IpVersion::V6 => ty < 128,
        };
        if is_error {
            return None;
        }
    }
    let (src, dst) = endpoints(pkt, toward);
    let (proto, ty, code, max_quote) = match pkt.version {
        IpVersion::V4 => (ip_proto::ICMP, 3u8, 3u8, ICMPV4_MAX_QUOTE),
        IpVersion::V6 => (ip_proto::ICMPV6, 1, 4, ICMPV6_MAX_QUOTE),
    };
    let quote = &raw[..raw.len().min(pkt.ip_len).min(max_quote)];
    let icmp_len = ICMP_HEADER + quote.len();
    let hl = ip_header(out, src, dst, proto, icmp_len)?;
    let m = out.get_mut(hl..hl + icmp_len)?;
    m[..ICMP_HEADER].fill(0);
    m[0] = ty;
    m[1] = code;
    m[ICMP_HEADER..].copy_from_slice(quote);
    let start = match pkt.version {
        IpVersion::V4 => 0,
        IpVersion::V6 => pseudo_header(src, dst, proto, icmp_len),
    };
    let sum = finish(accumulate(start, m));
    m[2..4].copy_from_slice(&sum.to_be_bytes());
    Some(hl + icmp_len)
}

/// The packet a `reject` sends toward `toward`: a TCP reset for TCP, an ICMP port unreachable
/// otherwise. See [`tcp_reset`] and [`icmp_unreachable`].
pub fn reject(pkt: &InnerPacket<'_>, raw: &[u8], toward: Toward, out: &mut [u8]) -> Option<usize> {
    if pkt.ip_proto == ip_proto::TCP {
        tcp_reset(pkt, toward, out)
    } else {
        icmp_unreachable(pkt, raw, toward, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checksum::transport_valid;
    use crate::decode_inner;
    use crate::{ETHERTYPE_IPV4, ETHERTYPE_IPV6};

    fn tcp_v4(flags: u8, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; 40];
        p[0] = 0x45;
        let total = (40 + payload.len()) as u16;
        p[2..4].copy_from_slice(&total.to_be_bytes());
        p[8] = 64;
        p[9] = 6;
        p[12..16].copy_from_slice(&[10, 0, 0, 1]);
        p[16..20].copy_from_slice(&[10, 0, 0, 2]);
        p[20..22].copy_from_slice(&40000u16.to_be_bytes());
        p[22..24].copy_from_slice(&80u16.to_be_bytes());
        p[24..28].copy_from_slice(&1000u32.to_be_bytes());
        p[28..32].copy_from_slice(&5000u32.to_be_bytes());
        p[32] = 5 << 4;
        p[33] = flags;
        p.extend_from_slice(payload);
        let s = checksum(&p[..20]);
        p[10..12].copy_from_slice(&s.to_be_bytes());
        p
    }

    fn tcp_of(p: &InnerPacket<'_>) -> (u16, u16, u32, u32, u8) {
        match p.transport {
            Transport::Tcp {
                ports,
                seq,
                ack,
                flags,
                ..
            } => (ports.src, ports.dst, seq, ack, flags.0),
            other => panic!("not tcp: {other:?}"),
        }
    }

    #[test]
    fn reset_toward_source_answers_from_the_destination() {
        let raw = tcp_v4(TcpFlags::ACK | TcpFlags::PSH, b"hello");
        let pkt = decode_inner(ETHERTYPE_IPV4, &raw).unwrap();
        let mut out = [0u8; MAX_CRAFTED_LEN];
        let n = tcp_reset(&pkt, Toward::Source, &mut out).unwrap();
        assert_eq!(n, 40);
        let rst = decode_inner(ETHERTYPE_IPV4, &out[..n]).unwrap();
        assert_eq!(rst.src.to_string(), "10.0.0.2");
        assert_eq!(rst.dst.to_string(), "10.0.0.1");
        assert_eq!(
            tcp_of(&rst),
            (80, 40000, 5000, 1005, TcpFlags::RST | TcpFlags::ACK)
        );
        assert!(rst.ipv4_header_checksum_valid(&out[..n]));
        assert_eq!(transport_valid(&rst), Some(true));
    }

    #[test]
    fn reset_toward_destination_continues_the_sender_stream() {
        let raw = tcp_v4(TcpFlags::SYN, b"");
        let pkt = decode_inner(ETHERTYPE_IPV4, &raw).unwrap();
        let mut out = [0u8; MAX_CRAFTED_LEN];
        let n = tcp_reset(&pkt, Toward::Destination, &mut out).unwrap();
        let rst = decode_inner(ETHERTYPE_IPV4, &out[..n]).unwrap();
        assert_eq!(rst.src.to_string(), "10.0.0.1");
        assert_eq!(tcp_of(&rst), (40000, 80, 1001, 5000, TcpFlags::RST));
        assert_eq!(transport_valid(&rst), Some(true));
    }

    #[test]
    fn icmp_unreachable_quotes_the_udp_packet() {
        let mut raw = vec![
            0x45, 0, 0, 32, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 0x04, 0xd2, 0, 53,
            0, 12, 0, 0, b'a', b'b', b'c', b'd',
        ];
        let s = checksum(&raw[..20]);
        raw[10..12].copy_from_slice(&s.to_be_bytes());
        let pkt = decode_inner(ETHERTYPE_IPV4, &raw).unwrap();
        let mut out = [0u8; MAX_CRAFTED_LEN];
        let n = reject(&pkt, &raw, Toward::Source, &mut out).unwrap();
        assert_eq!(n, 20 + 8 + raw.len());
        let icmp = decode_inner(ETHERTYPE_IPV4, &out[..n]).unwrap();
        assert_eq!(icmp.dst.to_string(), "10.0.0.1");
        match icmp.transport {
            Transport::Icmp {
                ty, code, quoted, ..
            } => {
                assert_eq!((ty, code), (3, 3));
                let q = quoted.unwrap();
                assert_eq!(q.ports.unwrap().dst, 53);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(transport_valid(&icmp), Some(true));
        // An ICMP error is never answered with another.
        assert_eq!(
            reject(&icmp, &out[..n], Toward::Source, &mut [0u8; 1500]),
            None
        );
    }

    #[test]
    fn ipv6_reset_and_unreachable_have_valid_checksums() {
        let mut raw = vec![0u8; 40 + 20];
        raw[0] = 0x60;
        raw[4..6].copy_from_slice(&20u16.to_be_bytes());
        raw[6] = 6;
        raw[7] = 64;
        raw[8..24].copy_from_slice(
            &"2001:db8::1"
                .parse::<core::net::Ipv6Addr>()
                .unwrap()
                .octets(),
        );
        raw[24..40].copy_from_slice(
            &"2001:db8::2"
                .parse::<core::net::Ipv6Addr>()
                .unwrap()
                .octets(),
        );
        raw[40..42].copy_from_slice(&1234u16.to_be_bytes());
        raw[42..44].copy_from_slice(&443u16.to_be_bytes());
        raw[52] = 5 << 4;
        raw[53] = TcpFlags::ACK;
        let pkt = decode_inner(ETHERTYPE_IPV6, &raw).unwrap();
        let mut out = [0u8; MAX_CRAFTED_LEN];
        let n = reject(&pkt, &raw, Toward::Source, &mut out).unwrap();
        let rst = decode_inner(ETHERTYPE_IPV6, &out[..n]).unwrap();
        assert_eq!(transport_valid(&rst), Some(true));
        assert_eq!(rst.dst.to_string(), "2001:db8::1");
        let n = icmp_unreachable(&pkt, &raw, Toward::Destination, &mut out).unwrap();
        let icmp = decode_inner(ETHERTYPE_IPV6, &out[..n]).unwrap();
        assert_eq!(transport_valid(&icmp), Some(true));
        assert!(matches!(
            icmp.transport,
            Transport::Icmp { ty: 1, code: 4, .. }
        ));
    }

    #[test]
    fn small_buffers_and_odd_packets_give_none() {
        let raw = tcp_v4(TcpFlags::ACK, b"x");
        let pkt = decode_inner(ETHERTYPE_IPV4, &raw).unwrap();
        assert_eq!(tcp_reset(&pkt, Toward::Source, &mut [0u8; 39]), None);
        assert_eq!(
            icmp_unreachable(&pkt, &raw, Toward::Source, &mut [0u8; 30]),
            None
        );
        // Never panics on a short raw slice.
        let n = icmp_unreachable(&pkt, &raw[..10], Toward::Source, &mut [0u8; 100]);
        assert_eq!(n, Some(20 + 8 + 10));
    }
}
