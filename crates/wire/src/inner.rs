//! Inner packet decode: the bare IPv4/IPv6 packet GWLB carries, down to TCP/UDP/ICMP.
//!
//! Headers are sliced with etherparse (`Ipv4HeaderSlice`, `Ipv6HeaderSlice`, the IPv6 extension
//! header slices, `TcpHeaderSlice`, `UdpHeaderSlice`); the length and ordering rules that decide
//! which [`Error`] a malformed packet gets are checked here first, so every malformed class has one
//! exact error. The IPv6 extension chain is walked here (with etherparse's per-header slices) rather
//! than by `Ipv6Slice`, because the walk must stop after the fragment header of a non-first
//! fragment: what follows it is fragment data, not headers.
//!
//! Zero allocation, never panics.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::{
    IpAuthHeaderSlice, Ipv4HeaderSlice, Ipv6FragmentHeaderSlice, Ipv6HeaderSlice,
    Ipv6RawExtHeaderSlice, TcpHeaderSlice, UdpHeaderSlice,
};

use crate::error::{Error, Result};
use crate::{ETHERTYPE_IPV4, ETHERTYPE_IPV6};

/// IP protocol numbers used here.
pub mod ip_proto {
    /// IPv6 hop-by-hop options.
    pub const HOPOPT: u8 = 0;
    /// ICMP (v4).
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// DCCP.
    pub const DCCP: u8 = 33;
    /// IPv6 routing header.
    pub const IPV6_ROUTE: u8 = 43;
    /// IPv6 fragment header.
    pub const IPV6_FRAG: u8 = 44;
    /// Encapsulating security payload.
    pub const ESP: u8 = 50;
    /// Authentication header.
    pub const AH: u8 = 51;
    /// ICMPv6.
    pub const ICMPV6: u8 = 58;
    /// IPv6 no next header.
    pub const IPV6_NONXT: u8 = 59;
    /// IPv6 destination options.
    pub const IPV6_OPTS: u8 = 60;
    /// SCTP.
    pub const SCTP: u8 = 132;
    /// Mobility header.
    pub const MOBILITY: u8 = 135;
    /// UDP-Lite.
    pub const UDPLITE: u8 = 136;
    /// Host identity protocol.
    pub const HIP: u8 = 139;
    /// Shim6.
    pub const SHIM6: u8 = 140;
}

const IPV4_MIN_HEADER: usize = 20;
const IPV6_HEADER: usize = 40;
const TCP_MIN_HEADER: usize = 20;
const UDP_HEADER: usize = 8;
const ICMP_HEADER: usize = 8;
/// Largest IP packet: fragments may not reassemble past it.
const MAX_IP_LEN: usize = 65535;

/// Inner IP version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpVersion {
    /// IPv4 (GENEVE protocol 0x0800).
    V4,
    /// IPv6 (GENEVE protocol 0x86DD).
    V6,
}

/// Source and destination port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Ports {
    /// Source port.
    pub src: u16,
    /// Destination port.
    pub dst: u16,
}

/// TCP flags byte (byte 13 of the header): CWR ECE URG ACK PSH RST SYN FIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
    /// URG.
    pub const URG: u8 = 0x20;
    /// ECE.
    pub const ECE: u8 = 0x40;
    /// CWR.
    pub const CWR: u8 = 0x80;

    /// Whether all bits of `mask` are set.
    pub const fn contains(self, mask: u8) -> bool {
        self.0 & mask == mask
    }
    /// SYN set.
    pub const fn syn(self) -> bool {
        self.contains(Self::SYN)
    }
    /// ACK set.
    pub const fn ack(self) -> bool {
        self.contains(Self::ACK)
    }
    /// FIN set.
    pub const fn fin(self) -> bool {
        self.contains(Self::FIN)
    }
    /// RST set.
    pub const fn rst(self) -> bool {
        self.contains(Self::RST)
    }
    /// PSH set.
    pub const fn psh(self) -> bool {
        self.contains(Self::PSH)
    }
    /// URG set.
    pub const fn urg(self) -> bool {
        self.contains(Self::URG)
    }
}

/// tcpdump style: `S.` for SYN+ACK, `none` for no flags.
impl fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return write!(f, "none");
        }
        const NAMES: [(u8, char); 8] = [
            (TcpFlags::FIN, 'F'),
            (TcpFlags::SYN, 'S'),
            (TcpFlags::RST, 'R'),
            (TcpFlags::PSH, 'P'),
            (TcpFlags::ACK, '.'),
            (TcpFlags::URG, 'U'),
            (TcpFlags::ECE, 'E'),
            (TcpFlags::CWR, 'W'),
        ];
        for (bit, c) in NAMES {
            if self.0 & bit != 0 {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

/// Fragmentation of the inner packet (IPv4 MF/offset, or an IPv6 fragment header that fragments).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fragment {
    /// Identification (16 bits for IPv4, 32 for IPv6).
    pub id: u32,
    /// Offset in 8-byte units.
    pub offset: u16,
    /// More fragments follow.
    pub more: bool,
}

impl Fragment {
    /// The first fragment carries the transport header; later ones carry none.
    pub const fn is_first(&self) -> bool {
        self.offset == 0
    }
    /// Offset in bytes.
    pub const fn byte_offset(&self) -> usize {
        self.offset as usize * 8
    }
}

/// Addresses, protocol and (when there) ports of a packet quoted by an ICMP error.
///
/// This is the quoted packet's own direction (usually the reverse of the ICMP error's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QuotedTuple {
    /// Quoted source address.
    pub src: IpAddr,
    /// Quoted destination address.
    pub dst: IpAddr,
    /// Quoted upper-layer protocol (after IPv6 extension headers, as far as the quote goes).
    pub ip_proto: u8,
    /// Ports, for TCP/UDP/SCTP/DCCP/UDP-Lite quotes long enough to hold them (not for non-first fragments).
    pub ports: Option<Ports>,
}

impl QuotedTuple {
    /// The quoted 5-tuple, ports 0 when unknown.
    pub fn five_tuple(&self) -> FiveTuple {
        let ports = self.ports.unwrap_or_default();
        FiveTuple {
            src: self.src,
            dst: self.dst,
            ip_proto: self.ip_proto,
            src_port: ports.src,
            dst_port: ports.dst,
        }
    }
}

/// The transport layer of an inner packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport<'a> {
    /// A TCP segment (possibly the first fragment of a fragmented packet).
    Tcp {
        /// Ports.
        ports: Ports,
        /// Flags byte.
        flags: TcpFlags,
        /// Sequence number.
        seq: u32,
        /// Acknowledgement number.
        ack: u32,
        /// Window (unscaled).
        window: u16,
        /// Urgent pointer.
        urgent: u16,
        /// Option bytes (data offset * 4 - 20 bytes).
        options: &'a [u8],
        /// Segment payload.
        payload: &'a [u8],
    },
    /// A UDP datagram; the payload is bounded by the UDP length (by the fragment for a first fragment).
    Udp {
        /// Ports.
        ports: Ports,
        /// Datagram payload.
        payload: &'a [u8],
    },
    /// ICMPv4 (ip_proto 1) or ICMPv6 (ip_proto 58).
    Icmp {
        /// Type.
        ty: u8,
        /// Code.
        code: u8,
        /// Bytes 4..8 of the ICMP header (echo id and sequence, MTU, pointer, ...).
        rest_of_header: [u8; 4],
        /// For error messages, the quoted packet's tuple, when the quote holds an IP header.
        quoted: Option<QuotedTuple>,
        /// Bytes after the 8-byte ICMP header.
        payload: &'a [u8],
    },
    /// A non-first fragment: no transport header, only fragment data.
    Fragment {
        /// Fragment data.
        payload: &'a [u8],
    },
    /// Any other upper-layer protocol (ESP, GRE, SCTP, no-next-header, ...), not decoded.
    Other {
        /// IP payload.
        payload: &'a [u8],
    },
}

impl<'a> Transport<'a> {
    /// Ports for TCP and UDP, `None` otherwise.
    pub const fn ports(&self) -> Option<Ports> {
        match self {
            Transport::Tcp { ports, .. } | Transport::Udp { ports, .. } => Some(*ports),
            _ => None,
        }
    }

    /// The bytes after the transport header (after the IP headers for `Fragment`/`Other`).
    pub const fn payload(&self) -> &'a [u8] {
        match self {
            Transport::Tcp { payload, .. }
            | Transport::Udp { payload, .. }
            | Transport::Icmp { payload, .. }
            | Transport::Fragment { payload }
            | Transport::Other { payload } => payload,
        }
    }
}

/// The 5-tuple of a packet; ports are 0 when the packet has none (ICMP, non-first fragments, other
/// protocols).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FiveTuple {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Upper-layer protocol.
    pub ip_proto: u8,
    /// Source port (0 if none).
    pub src_port: u16,
    /// Destination port (0 if none).
    pub dst_port: u16,
}

impl FiveTuple {
    /// The tuple of the other direction.
    pub const fn reversed(&self) -> FiveTuple {
        FiveTuple {
            src: self.dst,
            dst: self.src,
            ip_proto: self.ip_proto,
            src_port: self.dst_port,
            dst_port: self.src_port,
        }
    }
}

impl fmt::Display for FiveTuple {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} > {} proto {}",
            Endpoint(self.src, self.src_port),
            Endpoint(self.dst, self.dst_port),
            self.ip_proto
        )
    }
}

/// tcpdump's `addr.port`.
struct Endpoint(IpAddr, u16);

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

/// A decoded inner packet: views into the bytes given to [`decode_inner`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InnerPacket<'a> {
    /// IP version.
    pub version: IpVersion,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Upper-layer protocol: IPv4 protocol, or the IPv6 next header after the extension headers.
    pub ip_proto: u8,
    /// TTL / hop limit.
    pub ttl: u8,
    /// IPv4 TOS / IPv6 traffic class.
    pub tos: u8,
    /// Set when the packet is a fragment (IPv4 MF or offset, IPv6 fragment header that fragments).
    pub fragment: Option<Fragment>,
    /// Bytes of IP header, IPv4 options and IPv6 extension headers before the transport layer.
    pub header_len: usize,
    /// IP packet length from its length field (bytes after it in the buffer are ignored).
    pub ip_len: usize,
    /// The transport layer.
    pub transport: Transport<'a>,
}

impl InnerPacket<'_> {
    /// The 5-tuple; ports 0 when portless.
    pub fn five_tuple(&self) -> FiveTuple {
        let ports = self.transport.ports().unwrap_or_default();
        FiveTuple {
            src: self.src,
            dst: self.dst,
            ip_proto: self.ip_proto,
            src_port: ports.src,
            dst_port: ports.dst,
        }
    }
}

/// One line, tcpdump style, e.g. `IP 10.0.0.1.1234 > 10.0.0.2.80: tcp Flags [S.], seq 1, ack 2, win 512, length 0`.
impl fmt::Display for InnerPacket<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ip = match self.version {
            IpVersion::V4 => "IP",
            IpVersion::V6 => "IP6",
        };
        let ports = self.transport.ports().unwrap_or_default();
        match self.transport.ports() {
            Some(_) => write!(
                f,
                "{ip} {} > {}: ",
                Endpoint(self.src, ports.src),
                Endpoint(self.dst, ports.dst)
            )?,
            None => write!(f, "{ip} {} > {}: ", self.src, self.dst)?,
        }
        match self.transport {
            Transport::Tcp {
                flags,
                seq,
                ack,
                window,
                payload,
                ..
            } => write!(
                f,
                "tcp Flags [{flags}], seq {seq}, ack {ack}, win {window}, length {}",
                payload.len()
            )?,
            Transport::Udp { payload, .. } => write!(f, "UDP, length {}", payload.len())?,
            Transport::Icmp {
                ty, code, quoted, ..
            } => {
                let name = if self.ip_proto == ip_proto::ICMPV6 {
                    "ICMP6"
                } else {
                    "ICMP"
                };
                write!(f, "{name} type {ty} code {code}")?;
                if let Some(q) = quoted {
                    write!(f, " (quoting {})", q.five_tuple())?;
                }
            }
            Transport::Fragment { payload } => write!(
                f,
                "ip-proto-{} fragment, length {}",
                self.ip_proto,
                payload.len()
            )?,
            Transport::Other { payload } => {
                write!(f, "ip-proto-{}, length {}", self.ip_proto, payload.len())?
            }
        }
        if let Some(frag) = self.fragment {
            write!(
                f,
                " (frag {}:{}@{}{})",
                frag.id,
                self.ip_len.saturating_sub(self.header_len),
                frag.byte_offset(),
                if frag.more { "+" } else { "" }
            )?;
        }
        Ok(())
    }
}

/// Decodes the inner packet of a GWLB datagram. `protocol` is the GENEVE protocol type: 0x0800 needs
/// IPv4, 0x86DD IPv6 (else `BadProtocol`; a mismatched version nibble is `InnerVersion`).
///
/// Checks, in order: fixed header present (`InnerTruncated`), IHL (`BadIhl`), total/payload length
/// against the bytes (`BadTotalLength`), the IPv6 extension chain (`BadIpv6ExtHeader`), fragment
/// bounds (`BadFragment`), then the transport header of unfragmented packets and first fragments
/// (`TransportTruncated`, `BadTcpOffset`, `BadUdpLength`). Non-first fragments are not an error:
/// they decode to [`Transport::Fragment`]. Bytes after the IP length are ignored. Zero allocation,
/// never panics.
pub fn decode_inner(protocol: u16, inner: &[u8]) -> Result<InnerPacket<'_>> {
    let expected = match protocol {
        ETHERTYPE_IPV4 => 4,
        ETHERTYPE_IPV6 => 6,
        _ => return Err(Error::BadProtocol),
    };
    let Some(first) = inner.first() else {
        return Err(Error::InnerTruncated);
    };
    if first >> 4 != expected {
        return Err(Error::InnerVersion);
    }
    if expected == 4 {
        decode_ipv4(inner)
    } else {
        decode_ipv6(inner)
    }
}

fn decode_ipv4(bytes: &[u8]) -> Result<InnerPacket<'_>> {
    if bytes.len() < IPV4_MIN_HEADER {
        return Err(Error::InnerTruncated);
    }
    let ihl = usize::from(bytes[0] & 0x0f) * 4;
    if ihl < IPV4_MIN_HEADER {
        return Err(Error::BadIhl);
    }
    let total = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
    if total > bytes.len() || total < IPV4_MIN_HEADER {
        return Err(Error::BadTotalLength);
    }
    if ihl > total {
        return Err(Error::BadIhl);
    }
    let packet = &bytes[..total];
    let header = Ipv4HeaderSlice::from_slice(packet).map_err(|e| {
        use etherparse::err::ipv4::{HeaderError, HeaderSliceError};
        match e {
            HeaderSliceError::Len(_) => Error::InnerTruncated,
            HeaderSliceError::Content(HeaderError::UnexpectedVersion { .. }) => Error::InnerVersion,
            HeaderSliceError::Content(HeaderError::HeaderLengthSmallerThanHeader { .. }) => {
                Error::BadIhl
            }
        }
    })?;
    let payload = &packet[ihl..];
    let offset = header.fragments_offset().value();
    let more = header.more_fragments();
    let fragment = (more || offset != 0).then_some(Fragment {
        id: u32::from(header.identification()),
        offset,
        more,
    });
    let proto = header.protocol().0;
    let transport = if offset != 0 {
        if usize::from(offset) * 8 + payload.len() > MAX_IP_LEN {
            return Err(Error::BadFragment);
        }
        Transport::Fragment { payload }
    } else {
        decode_transport(proto, payload, more)?
    };
    Ok(InnerPacket {
        version: IpVersion::V4,
        src: IpAddr::V4(header.source_addr()),
        dst: IpAddr::V4(header.destination_addr()),
        ip_proto: proto,
        ttl: header.ttl(),
        tos: bytes[1],
        fragment,
        header_len: ihl,
        ip_len: total,
        transport,
    })
}

fn decode_ipv6(bytes: &[u8]) -> Result<InnerPacket<'_>> {
    let header = Ipv6HeaderSlice::from_slice(bytes).map_err(|e| {
        use etherparse::err::ipv6::HeaderSliceError;
        match e {
            HeaderSliceError::Len(_) => Error::InnerTruncated,
            HeaderSliceError::Content(_) => Error::InnerVersion,
        }
    })?;
    let payload_len = usize::from(header.payload_length());
    // A zero payload length with bytes after the header would be a jumbogram (RFC 2675), which
    // cannot occur under GWLB's 8500-byte MTU.
    if (payload_len == 0 && bytes.len() > IPV6_HEADER) || IPV6_HEADER + payload_len > bytes.len() {
        return Err(Error::BadTotalLength);
    }
    let total = IPV6_HEADER + payload_len;
    let chain = walk_ipv6_exts(header.next_header().0, &bytes[IPV6_HEADER..total], false)?;
    let header_len = total - chain.rest.len();
    let transport = match chain.fragment {
        Some(frag) if !frag.is_first() => {
            if frag.byte_offset() + chain.rest.len() > MAX_IP_LEN {
                return Err(Error::BadFragment);
            }
            Transport::Fragment {
                payload: chain.rest,
            }
        }
        Some(frag) => decode_transport(chain.next, chain.rest, frag.more)?,
        None => decode_transport(chain.next, chain.rest, false)?,
    };
    Ok(InnerPacket {
        version: IpVersion::V6,
        src: IpAddr::V6(header.source_addr()),
        dst: IpAddr::V6(header.destination_addr()),
        ip_proto: chain.next,
        ttl: header.hop_limit(),
        tos: header.traffic_class(),
        fragment: chain.fragment.filter(|f| f.more || f.offset != 0),
        header_len,
        ip_len: total,
        transport,
    })
}

/// Where an IPv6 extension header walk ended.
struct Chain<'a> {
    /// Next header value of the last header walked: the upper-layer protocol.
    next: u8,
    /// Bytes after the last header walked.
    rest: &'a [u8],
    /// The fragment header, if one was walked (atomic fragments included).
    fragment: Option<Fragment>,
    /// False if a header was cut short (lax mode only).
    complete: bool,
}

/// Walks the IPv6 extension headers starting with `next` over `data` (the IPv6 payload).
///
/// Stops at the first non-extension header, or after the fragment header of a non-first fragment.
/// Strict mode: a short header is `BadIpv6ExtHeader`. Lax mode (ICMP quotes, which are cut short by
/// design): a short header ends the walk with `complete: false`. In both modes a hop-by-hop header
/// that is not first is `BadIpv6ExtHeader` and a second fragment header is `BadFragment`.
fn walk_ipv6_exts(mut next: u8, data: &[u8], lax: bool) -> Result<Chain<'_>> {
    let mut rest = data;
    let mut fragment: Option<Fragment> = None;
    let mut first = true;
    fn short(lax: bool, next: u8, rest: &[u8], fragment: Option<Fragment>) -> Result<Chain<'_>> {
        if lax {
            Ok(Chain {
                next,
                rest,
                fragment,
                complete: false,
            })
        } else {
            Err(Error::BadIpv6ExtHeader)
        }
    }
    loop {
        let len = match next {
            ip_proto::HOPOPT if !first => return Err(Error::BadIpv6ExtHeader),
            ip_proto::HOPOPT
            | ip_proto::IPV6_ROUTE
            | ip_proto::IPV6_OPTS
            | ip_proto::MOBILITY
            | ip_proto::HIP
            | ip_proto::SHIM6 => match Ipv6RawExtHeaderSlice::from_slice(rest) {
                Ok(h) => {
                    next = h.next_header().0;
                    h.slice().len()
                }
                Err(_) => return short(lax, next, rest, fragment),
            },
            ip_proto::IPV6_FRAG => {
                if fragment.is_some() {
                    return Err(Error::BadFragment);
                }
                let Ok(h) = Ipv6FragmentHeaderSlice::from_slice(rest) else {
                    return short(lax, next, rest, fragment);
                };
                let frag = Fragment {
                    id: h.identification(),
                    offset: h.fragment_offset().value(),
                    more: h.more_fragments(),
                };
                fragment = Some(frag);
                next = h.next_header().0;
                let len = h.slice().len();
                if !frag.is_first() {
                    // What follows is fragment data, not headers.
                    return Ok(Chain {
                        next,
                        rest: rest.get(len..).unwrap_or(&[]),
                        fragment,
                        complete: true,
                    });
                }
                len
            }
            ip_proto::AH => match IpAuthHeaderSlice::from_slice(rest) {
                Ok(h) => {
                    next = h.next_header().0;
                    h.slice().len()
                }
                Err(etherparse::err::ip_auth::HeaderSliceError::Len(_)) => {
                    return short(lax, next, rest, fragment)
                }
                Err(etherparse::err::ip_auth::HeaderSliceError::Content(_)) => {
                    return Err(Error::BadIpv6ExtHeader)
                }
            },
            _ => {
                return Ok(Chain {
                    next,
                    rest,
                    fragment,
                    complete: true,
                })
            }
        };
        rest = rest.get(len..).unwrap_or(&[]);
        first = false;
    }
}

/// Decodes the transport header of an unfragmented packet or a first fragment (`more`: more
/// fragments follow, so the UDP length covers more than these bytes).
fn decode_transport(proto: u8, data: &[u8], more: bool) -> Result<Transport<'_>> {
    match proto {
        ip_proto::TCP => decode_tcp(data),
        ip_proto::UDP => decode_udp(data, more),
        ip_proto::ICMP | ip_proto::ICMPV6 => decode_icmp(proto, data),
        _ => Ok(Transport::Other { payload: data }),
    }
}

fn decode_tcp(data: &[u8]) -> Result<Transport<'_>> {
    if data.len() < TCP_MIN_HEADER {
        return Err(Error::TransportTruncated);
    }
    let offset = usize::from(data[12] >> 4) * 4;
    if offset < TCP_MIN_HEADER || offset > data.len() {
        return Err(Error::BadTcpOffset);
    }
    let tcp = TcpHeaderSlice::from_slice(data).map_err(|e| match e {
        etherparse::err::tcp::HeaderSliceError::Len(l) if l.required_len <= TCP_MIN_HEADER => {
            Error::TransportTruncated
        }
        _ => Error::BadTcpOffset,
    })?;
    Ok(Transport::Tcp {
        ports: Ports {
            src: tcp.source_port(),
            dst: tcp.destination_port(),
        },
        flags: TcpFlags(data[13]),
        seq: tcp.sequence_number(),
        ack: tcp.acknowledgment_number(),
        window: tcp.window_size(),
        urgent: tcp.urgent_pointer(),
        options: &data[TCP_MIN_HEADER..offset],
        payload: &data[offset..],
    })
}

fn decode_udp(data: &[u8], more: bool) -> Result<Transport<'_>> {
    let udp = UdpHeaderSlice::from_slice(data).map_err(|_| Error::TransportTruncated)?;
    let payload = if more {
        // First fragment: the length field covers the reassembled datagram.
        &data[UDP_HEADER..]
    } else {
        let len = usize::from(udp.length());
        if len < UDP_HEADER || len > data.len() {
            return Err(Error::BadUdpLength);
        }
        &data[UDP_HEADER..len]
    };
    Ok(Transport::Udp {
        ports: Ports {
            src: udp.source_port(),
            dst: udp.destination_port(),
        },
        payload,
    })
}

/// ICMP error types that quote the offending packet.
fn icmp_is_error(proto: u8, ty: u8) -> bool {
    if proto == ip_proto::ICMPV6 {
        // Destination unreachable, packet too big, time exceeded, parameter problem.
        matches!(ty, 1..=4)
    } else {
        // Destination unreachable, source quench, redirect, time exceeded, parameter problem.
        matches!(ty, 3 | 4 | 5 | 11 | 12)
    }
}

fn decode_icmp(proto: u8, data: &[u8]) -> Result<Transport<'_>> {
    let Some((header, payload)) = data.split_first_chunk::<ICMP_HEADER>() else {
        return Err(Error::TransportTruncated);
    };
    let ty = header[0];
    let quoted = if !icmp_is_error(proto, ty) {
        None
    } else if proto == ip_proto::ICMPV6 {
        quoted_ipv6(payload)
    } else {
        quoted_ipv4(payload)
    };
    Ok(Transport::Icmp {
        ty,
        code: header[1],
        rest_of_header: [header[4], header[5], header[6], header[7]],
        quoted,
        payload,
    })
}

/// Ports of a quoted transport header, for protocols whose first 4 bytes are the ports.
fn quoted_ports(proto: u8, data: &[u8]) -> Option<Ports> {
    match proto {
        ip_proto::TCP | ip_proto::UDP | ip_proto::SCTP | ip_proto::DCCP | ip_proto::UDPLITE => {
            let b = data.first_chunk::<4>()?;
            Some(Ports {
                src: u16::from_be_bytes([b[0], b[1]]),
                dst: u16::from_be_bytes([b[2], b[3]]),
            })
        }
        _ => None,
    }
}

/// The tuple of an IPv4 packet quoted by an ICMPv4 error; `None` unless a whole IPv4 header is there.
fn quoted_ipv4(quote: &[u8]) -> Option<QuotedTuple> {
    let header = Ipv4HeaderSlice::from_slice(quote).ok()?;
    let total = usize::from(header.total_len()).min(quote.len());
    let payload = quote.get(header.slice().len()..total).unwrap_or(&[]);
    let proto = header.protocol().0;
    let ports = if header.fragments_offset().value() == 0 {
        quoted_ports(proto, payload)
    } else {
        None
    };
    Some(QuotedTuple {
        src: IpAddr::V4(Ipv4Addr::from(header.source())),
        dst: IpAddr::V4(Ipv4Addr::from(header.destination())),
        ip_proto: proto,
        ports,
    })
}

/// The tuple of an IPv6 packet quoted by an ICMPv6 error; `None` unless the fixed header is there.
/// The extension chain is walked as far as the quote goes.
fn quoted_ipv6(quote: &[u8]) -> Option<QuotedTuple> {
    let header = Ipv6HeaderSlice::from_slice(quote).ok()?;
    let end = (IPV6_HEADER + usize::from(header.payload_length())).min(quote.len());
    let data = quote.get(IPV6_HEADER..end).unwrap_or(&[]);
    let (proto, ports) = match walk_ipv6_exts(header.next_header().0, data, true) {
        Ok(chain) if chain.complete && chain.fragment.is_none_or(|f| f.is_first()) => {
            (chain.next, quoted_ports(chain.next, chain.rest))
        }
        Ok(chain) => (chain.next, None),
        Err(_) => (header.next_header().0, None),
    };
    Some(QuotedTuple {
        src: IpAddr::V6(Ipv6Addr::from(header.source())),
        dst: IpAddr::V6(Ipv6Addr::from(header.destination())),
        ip_proto: proto,
        ports,
    })
}
