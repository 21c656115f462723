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
    /// The bytes after the IP headers up to `ip_len`: transport header and payload (for checksums).
    pub ip_payload: &'a [u8],
    /// The transport layer.
    pub transport: Transport<'a>,
}

impl InnerPacket<'_> {
    /// Whether the IPv4 header checksum is correct (always true for IPv6, which has none).
    /// Needs the bytes given to [`decode_inner`].
    pub fn ipv4_header_checksum_valid(&self, inner: &[u8]) -> bool {
        match self.version {
            IpVersion::V4 => inner
                .get(..self.header_len)
                .is_some_and(crate::checksum::ipv4_header_valid),
            IpVersion::V6 => true,
        }
    }

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
///
/// Not decoded (reported as [`Transport::Other`] with their protocol number, not as errors): ESP,
/// IPv4 AH (IPv6 AH is walked as part of the extension chain), GRE and any other protocol.
/// IPv6 jumbograms (payload length 0) are `BadTotalLength`: they cannot occur under GWLB's MTU.
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
        ip_payload: payload,
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
        ip_payload: chain.rest,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::*;
    use proptest::prelude::*;

    const V4: u16 = ETHERTYPE_IPV4;
    const V6: u16 = ETHERTYPE_IPV6;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// A copy of `bytes` changed by `f`.
    fn patched(bytes: &[u8], f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut v = bytes.to_vec();
        f(&mut v);
        v
    }

    /// Sets the IPv4 total length to the buffer length.
    fn fix_total_len(v: &mut [u8]) {
        let len = v.len() as u16;
        v[2..4].copy_from_slice(&len.to_be_bytes());
    }

    /// Sets the IPv6 payload length to the buffer length minus 40.
    fn fix_payload_len(v: &mut [u8]) {
        let len = (v.len() - 40) as u16;
        v[4..6].copy_from_slice(&len.to_be_bytes());
    }

    #[test]
    fn test_deconstruct_ipv4_tcp() {
        let p = decode_inner(V4, &IPV4_TCP_SYN).unwrap();
        assert_eq!(p.version, IpVersion::V4);
        assert_eq!(p.src, ip("10.0.1.10"));
        assert_eq!(p.dst, ip("10.0.2.20"));
        assert_eq!(p.ip_proto, 6);
        assert_eq!(p.ttl, 64);
        assert_eq!(p.tos, 0);
        assert_eq!(p.fragment, None);
        assert_eq!(p.header_len, 20);
        assert_eq!(p.ip_len, 40);
        assert_eq!(
            p.transport,
            Transport::Tcp {
                ports: Ports {
                    src: 49152,
                    dst: 80
                },
                flags: TcpFlags(TcpFlags::SYN),
                seq: 1,
                ack: 0,
                window: 64240,
                urgent: 0,
                options: &[],
                payload: &[],
            }
        );
        assert_eq!(
            p.five_tuple(),
            FiveTuple {
                src: ip("10.0.1.10"),
                dst: ip("10.0.2.20"),
                ip_proto: 6,
                src_port: 49152,
                dst_port: 80,
            }
        );
        assert_eq!(
            p.to_string(),
            "IP 10.0.1.10.49152 > 10.0.2.20.80: tcp Flags [S], seq 1, ack 0, win 64240, length 0"
        );
    }

    #[test]
    fn test_ipv4_options_and_tcp_options() {
        let p = decode_inner(V4, &IPV4_OPTS_TCP_PSH).unwrap();
        assert_eq!(p.header_len, 28);
        let Transport::Tcp {
            ports,
            flags,
            seq,
            ack,
            window,
            options,
            payload,
            ..
        } = p.transport
        else {
            panic!("not tcp: {p:?}");
        };
        assert_eq!(
            ports,
            Ports {
                src: 1234,
                dst: 443
            }
        );
        assert_eq!(flags, TcpFlags(TcpFlags::PSH | TcpFlags::ACK));
        assert!(flags.psh() && flags.ack() && !flags.syn());
        assert_eq!((seq, ack, window), (0x0102_0304, 0x0a0b_0c0d, 512));
        assert_eq!(options, &[2, 4, 5, 0xb4, 1, 1, 1, 0]);
        assert_eq!(payload, b"hello");
        assert_eq!(p.transport.payload(), b"hello");
        assert_eq!(
            p.to_string(),
            "IP 10.0.1.10.1234 > 10.0.2.20.443: tcp Flags [P.], seq 16909060, ack 168496141, win 512, length 5"
        );
    }

    #[test]
    fn test_trailing_bytes_after_total_length_are_ignored() {
        let padded = patched(&IPV4_TCP_SYN, |v| v.extend_from_slice(&[0xee; 6]));
        let p = decode_inner(V4, &padded).unwrap();
        assert_eq!(p.ip_len, 40);
        assert_eq!(p.transport.payload(), &[]);
        let padded = patched(&IPV6_UDP, |v| v.extend_from_slice(&[0xee; 6]));
        let p = decode_inner(V6, &padded).unwrap();
        assert_eq!(p.transport.payload(), &[0xab, 0xcd]);
    }

    #[test]
    fn test_ipv4_udp() {
        let p = decode_inner(V4, &IPV4_UDP_DNS).unwrap();
        assert_eq!(
            p.transport,
            Transport::Udp {
                ports: Ports { src: 5353, dst: 53 },
                payload: &[0x12, 0x34, 0x01, 0x00],
            }
        );
        assert_eq!(p.five_tuple().dst_port, 53);
        assert_eq!(
            p.to_string(),
            "IP 10.0.1.10.5353 > 10.0.0.2.53: UDP, length 4"
        );
        // A UDP length shorter than the IP payload bounds the UDP payload.
        let short = patched(&IPV4_UDP_DNS, |v| {
            v[24..26].copy_from_slice(&10u16.to_be_bytes())
        });
        assert_eq!(
            decode_inner(V4, &short).unwrap().transport.payload(),
            &[0x12, 0x34]
        );
    }

    #[test]
    fn test_ipv4_first_fragment_has_ports() {
        let p = decode_inner(V4, &IPV4_FRAG_FIRST_UDP).unwrap();
        assert_eq!(
            p.fragment,
            Some(Fragment {
                id: 0xbeef,
                offset: 0,
                more: true
            })
        );
        assert!(p.fragment.unwrap().is_first());
        // The UDP length (1008) covers the whole datagram, not this fragment: not an error.
        let Transport::Udp { ports, payload } = p.transport else {
            panic!("not udp: {p:?}");
        };
        assert_eq!(
            ports,
            Ports {
                src: 5000,
                dst: 6000
            }
        );
        assert_eq!(payload, &(0..16).collect::<Vec<u8>>()[..]);
    }

    #[test]
    fn test_ipv4_later_fragment_has_no_transport() {
        let p = decode_inner(V4, &IPV4_FRAG_LATER).unwrap();
        let frag = p.fragment.unwrap();
        assert_eq!(
            frag,
            Fragment {
                id: 0xbeef,
                offset: 3,
                more: true
            }
        );
        assert!(!frag.is_first());
        assert_eq!(frag.byte_offset(), 24);
        assert_eq!(p.ip_proto, 17);
        assert_eq!(
            p.transport,
            Transport::Fragment {
                payload: &IPV4_FRAG_LATER[20..]
            }
        );
        let t = p.five_tuple();
        assert_eq!((t.src_port, t.dst_port, t.ip_proto), (0, 0, 17));
        assert_eq!(
            p.to_string(),
            "IP 10.0.1.10 > 10.0.2.20: ip-proto-17 fragment, length 24 (frag 48879:24@24+)"
        );
        // A later fragment with a garbage "transport header" is still fine: nothing is parsed.
        let junk = patched(&IPV4_FRAG_LATER, |v| v[20..].fill(0));
        assert!(decode_inner(V4, &junk).is_ok());
    }

    #[test]
    fn test_ipv4_icmp_echo() {
        let p = decode_inner(V4, &IPV4_ICMP_ECHO).unwrap();
        assert_eq!(
            p.transport,
            Transport::Icmp {
                ty: 8,
                code: 0,
                rest_of_header: [0x42, 0x42, 0x00, 0x01],
                quoted: None,
                payload: b"ping",
            }
        );
        assert_eq!(p.five_tuple().src_port, 0);
        assert_eq!(
            p.to_string(),
            "IP 10.0.1.10 > 10.0.2.20: ICMP type 8 code 0"
        );
    }

    fn quoted(p: &InnerPacket<'_>) -> Option<QuotedTuple> {
        match p.transport {
            Transport::Icmp { quoted, .. } => quoted,
            _ => panic!("not icmp: {p:?}"),
        }
    }

    #[test]
    fn test_icmpv4_error_quoting_udp() {
        let p = decode_inner(V4, &IPV4_ICMP_UNREACH_UDP).unwrap();
        let q = quoted(&p).unwrap();
        assert_eq!(
            q,
            QuotedTuple {
                src: ip("10.0.1.10"),
                dst: ip("10.9.9.9"),
                ip_proto: 17,
                ports: Some(Ports {
                    src: 40000,
                    dst: 33434
                }),
            }
        );
        assert_eq!(q.five_tuple().dst_port, 33434);
        // The ICMP packet itself has no ports.
        assert_eq!(p.five_tuple().src_port, 0);
        assert_eq!(
            p.to_string(),
            "IP 10.0.0.254 > 10.0.1.10: ICMP type 3 code 3 (quoting 10.0.1.10.40000 > 10.9.9.9.33434 proto 17)"
        );
    }

    #[test]
    fn test_icmpv4_error_quoting_tcp() {
        let p = decode_inner(V4, &IPV4_ICMP_TTL_TCP).unwrap();
        let q = quoted(&p).unwrap();
        assert_eq!(q.ip_proto, 6);
        assert_eq!((q.src, q.dst), (ip("10.0.1.10"), ip("10.0.2.20")));
        assert_eq!(
            q.ports,
            Some(Ports {
                src: 49152,
                dst: 80
            })
        );
    }

    #[test]
    fn test_icmpv4_error_truncated_quote() {
        // 2 bytes of the quoted TCP header: addresses but no ports.
        let p = decode_inner(V4, &IPV4_ICMP_QUOTE_SHORT).unwrap();
        let q = quoted(&p).unwrap();
        assert_eq!(q.ip_proto, 6);
        assert_eq!(q.ports, None);
        assert_eq!(q.five_tuple().src_port, 0);
        // Less than an IPv4 header quoted: no tuple, still no error.
        let cut = patched(&IPV4_ICMP_TTL_TCP, |v| {
            v.truncate(20 + 8 + 19);
            fix_total_len(v);
        });
        assert_eq!(quoted(&decode_inner(V4, &cut).unwrap()), None);
        // Nothing quoted at all.
        let cut = patched(&IPV4_ICMP_TTL_TCP, |v| {
            v.truncate(28);
            fix_total_len(v);
        });
        assert_eq!(quoted(&decode_inner(V4, &cut).unwrap()), None);
        // A quoted non-first fragment has no ports.
        let frag = patched(&IPV4_ICMP_TTL_TCP, |v| v[28 + 6] = 0x00);
        let frag = patched(&frag, |v| v[28 + 7] = 0x10);
        let q = quoted(&decode_inner(V4, &frag).unwrap()).unwrap();
        assert_eq!(q.ports, None);
        // A quote that is not IPv4 (bad IHL) gives no tuple.
        let bad = patched(&IPV4_ICMP_TTL_TCP, |v| v[28] = 0x43);
        assert_eq!(quoted(&decode_inner(V4, &bad).unwrap()), None);
    }

    #[test]
    fn test_deconstruct_ipv6_tcp() {
        let p = decode_inner(V6, &IPV6_TCP_SYN).unwrap();
        assert_eq!(p.version, IpVersion::V6);
        assert_eq!(p.src, ip("2001:db8::1"));
        assert_eq!(p.dst, ip("2001:db8:1::2"));
        assert_eq!((p.ip_proto, p.ttl, p.header_len, p.ip_len), (6, 64, 40, 60));
        assert_eq!(
            p.transport.ports(),
            Some(Ports {
                src: 50000,
                dst: 443
            })
        );
        assert_eq!(
            p.to_string(),
            "IP6 2001:db8::1.50000 > 2001:db8:1::2.443: tcp Flags [S], seq 100, ack 0, win 65535, length 0"
        );
    }

    #[test]
    fn test_ipv6_hop_by_hop_routing_fragment_tcp() {
        let p = decode_inner(V6, &IPV6_HBH_RT_FRAG_TCP).unwrap();
        assert_eq!(p.header_len, 40 + 8 + 24 + 8);
        assert_eq!(p.ip_proto, 6);
        assert_eq!(
            p.fragment,
            Some(Fragment {
                id: 0xcafe_babe,
                offset: 0,
                more: true
            })
        );
        let Transport::Tcp {
            ports,
            seq,
            ack,
            flags,
            payload,
            ..
        } = p.transport
        else {
            panic!("not tcp: {p:?}");
        };
        assert_eq!(
            ports,
            Ports {
                src: 50000,
                dst: 443
            }
        );
        assert_eq!((seq, ack), (101, 201));
        assert_eq!(flags.to_string(), ".");
        assert_eq!(payload, b"GET / HTTP/1.1\r\n");
    }

    #[test]
    fn test_ipv6_later_fragment() {
        let p = decode_inner(V6, &IPV6_FRAG_LATER).unwrap();
        assert_eq!(p.header_len, 64);
        assert_eq!(p.ip_proto, 6);
        assert_eq!(
            p.fragment,
            Some(Fragment {
                id: 0xcafe_babe,
                offset: 2,
                more: false
            })
        );
        assert_eq!(
            p.transport,
            Transport::Fragment {
                payload: &[1, 2, 3, 4, 5, 6, 7, 8]
            }
        );
        assert_eq!(p.five_tuple().dst_port, 0);
        assert_eq!(
            p.to_string(),
            "IP6 2001:db8::1 > 2001:db8:1::2: ip-proto-6 fragment, length 8 (frag 3405691582:8@16)"
        );
        // Fragment data that looks like an extension header is not walked.
        let tricky = patched(&IPV6_FRAG_LATER, |v| v[56] = ip_proto::IPV6_OPTS);
        let p = decode_inner(V6, &tricky).unwrap();
        assert_eq!(p.ip_proto, ip_proto::IPV6_OPTS);
        assert!(matches!(p.transport, Transport::Fragment { payload } if payload.len() == 8));
    }

    #[test]
    fn test_ipv6_atomic_fragment_is_not_a_fragment() {
        // Fragment header with offset 0 and M clear (RFC 6946): a whole packet.
        let atomic = patched(&IPV6_HBH_RT_FRAG_TCP, |v| v[72 + 3] = 0);
        let p = decode_inner(V6, &atomic).unwrap();
        assert_eq!(p.fragment, None);
        assert_eq!(
            p.transport.ports(),
            Some(Ports {
                src: 50000,
                dst: 443
            })
        );
    }

    #[test]
    fn test_ipv6_auth_header_and_esp() {
        // AH (next TCP, 12 + 4 bytes ICV: payload len 2) in front of the TCP SYN.
        let mut v = IPV6_TCP_SYN[..40].to_vec();
        v[6] = ip_proto::AH;
        v.extend_from_slice(&[6, 2, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0xaa, 0xbb, 0xcc, 0xdd]);
        v.extend_from_slice(&IPV6_TCP_SYN[40..]);
        fix_payload_len(&mut v);
        let p = decode_inner(V6, &v).unwrap();
        assert_eq!(p.header_len, 56);
        assert_eq!(
            p.transport.ports(),
            Some(Ports {
                src: 50000,
                dst: 443
            })
        );
        // AH with payload length 0 is malformed.
        let bad = patched(&v, |v| v[41] = 0);
        assert_eq!(decode_inner(V6, &bad), Err(Error::BadIpv6ExtHeader));
        // ESP: opaque, not an error.
        let esp = patched(&IPV6_TCP_SYN, |v| v[6] = ip_proto::ESP);
        let p = decode_inner(V6, &esp).unwrap();
        assert_eq!(p.ip_proto, ip_proto::ESP);
        assert!(matches!(p.transport, Transport::Other { payload } if payload.len() == 20));
        // No next header with nothing after it.
        let none = patched(&IPV6_TCP_SYN[..40], |v| {
            v[6] = ip_proto::IPV6_NONXT;
            fix_payload_len(v);
        });
        let p = decode_inner(V6, &none).unwrap();
        assert_eq!(p.transport, Transport::Other { payload: &[] });
        assert_eq!(
            p.to_string(),
            "IP6 2001:db8::1 > 2001:db8:1::2: ip-proto-59, length 0"
        );
    }

    #[test]
    fn test_ipv6_udp_and_icmp_echo() {
        let p = decode_inner(V6, &IPV6_UDP).unwrap();
        assert_eq!(
            p.transport,
            Transport::Udp {
                ports: Ports { src: 5353, dst: 53 },
                payload: &[0xab, 0xcd]
            }
        );
        let p = decode_inner(V6, &IPV6_ICMP_ECHO).unwrap();
        assert_eq!(p.ip_proto, 58);
        assert!(matches!(
            p.transport,
            Transport::Icmp {
                ty: 128,
                code: 0,
                quoted: None,
                rest_of_header: [0, 7, 0, 1],
                payload: b"hi"
            }
        ));
        assert_eq!(
            p.to_string(),
            "IP6 2001:db8::1 > 2001:db8:1::2: ICMP6 type 128 code 0"
        );
    }

    #[test]
    fn test_icmpv6_error_quoting_udp() {
        let p = decode_inner(V6, &IPV6_ICMP_PTB_UDP).unwrap();
        let Transport::Icmp {
            ty,
            rest_of_header,
            quoted,
            ..
        } = p.transport
        else {
            panic!("not icmp: {p:?}");
        };
        assert_eq!(ty, 2);
        assert_eq!(u32::from_be_bytes(rest_of_header), 1280);
        assert_eq!(
            quoted,
            Some(QuotedTuple {
                src: ip("2001:db8::1"),
                dst: ip("2001:db8:2::3"),
                ip_proto: 17,
                ports: Some(Ports {
                    src: 40000,
                    dst: 33434
                }),
            })
        );
    }

    #[test]
    fn test_icmpv6_error_quoting_tcp_behind_extension_headers() {
        let p = decode_inner(V6, &IPV6_ICMP_TTL_EXT_TCP).unwrap();
        let q = quoted(&p).unwrap();
        assert_eq!((q.src, q.dst), (ip("2001:db8::1"), ip("2001:db8:1::2")));
        assert_eq!(q.ip_proto, 6);
        assert_eq!(
            q.ports,
            Some(Ports {
                src: 50000,
                dst: 443
            })
        );
        // The quote cut inside the routing header: addresses, the header reached, no ports, no error.
        let cut = patched(&IPV6_ICMP_TTL_EXT_TCP, |v| {
            v.truncate(40 + 8 + 40 + 8 + 10);
            fix_payload_len(v);
        });
        let q = quoted(&decode_inner(V6, &cut).unwrap()).unwrap();
        assert_eq!(q.ip_proto, ip_proto::IPV6_ROUTE);
        assert_eq!(q.ports, None);
        // Cut inside the quoted IPv6 header: no tuple.
        let cut = patched(&IPV6_ICMP_TTL_EXT_TCP, |v| {
            v.truncate(40 + 8 + 39);
            fix_payload_len(v);
        });
        assert_eq!(quoted(&decode_inner(V6, &cut).unwrap()), None);
        // A quoted chain with hop-by-hop out of place: addresses only.
        let bad = patched(&IPV6_ICMP_TTL_EXT_TCP, |v| v[48 + 40 + 8] = 0);
        let q = quoted(&decode_inner(V6, &bad).unwrap()).unwrap();
        assert_eq!(q.ports, None);
    }

    /// Every inner malformed class, each with its exact error.
    #[test]
    fn test_malformed_inner_packets() {
        let tcp_hdr = 20; // offset of the TCP header in IPV4_TCP_SYN
        let cases: Vec<(&str, u16, Vec<u8>, Error)> = vec![
            ("not ip", 0x6558, IPV4_TCP_SYN.to_vec(), Error::BadProtocol),
            ("empty", V4, vec![], Error::InnerTruncated),
            (
                "v4 short header",
                V4,
                IPV4_TCP_SYN[..19].to_vec(),
                Error::InnerTruncated,
            ),
            (
                "v6 short header",
                V6,
                IPV6_TCP_SYN[..39].to_vec(),
                Error::InnerTruncated,
            ),
            ("v6 in v4", V4, IPV6_TCP_SYN.to_vec(), Error::InnerVersion),
            ("v4 in v6", V6, IPV4_TCP_SYN.to_vec(), Error::InnerVersion),
            (
                "version 5",
                V4,
                patched(&IPV4_TCP_SYN, |v| v[0] = 0x55),
                Error::InnerVersion,
            ),
            (
                "ihl 4",
                V4,
                patched(&IPV4_TCP_SYN, |v| v[0] = 0x44),
                Error::BadIhl,
            ),
            (
                "ihl 0",
                V4,
                patched(&IPV4_TCP_SYN, |v| v[0] = 0x40),
                Error::BadIhl,
            ),
            (
                "ihl past total length",
                V4,
                patched(&IPV4_TCP_SYN, |v| v[0] = 0x4f),
                Error::BadIhl,
            ),
            (
                "total length past the bytes",
                V4,
                patched(&IPV4_TCP_SYN, |v| v[3] = 41),
                Error::BadTotalLength,
            ),
            (
                "total length below 20",
                V4,
                patched(&IPV4_TCP_SYN, |v| v[3] = 19),
                Error::BadTotalLength,
            ),
            (
                "v6 payload length past the bytes",
                V6,
                patched(&IPV6_TCP_SYN, |v| v[5] = 21),
                Error::BadTotalLength,
            ),
            (
                "v6 payload length 0 with bytes (jumbogram)",
                V6,
                patched(&IPV6_TCP_SYN, |v| v[5] = 0),
                Error::BadTotalLength,
            ),
            (
                "hop-by-hop not first",
                V6,
                patched(&IPV6_HBH_RT_FRAG_TCP, |v| v[48] = 0),
                Error::BadIpv6ExtHeader,
            ),
            (
                "routing header longer than the packet",
                V6,
                patched(&IPV6_HBH_RT_FRAG_TCP, |v| v[49] = 20),
                Error::BadIpv6ExtHeader,
            ),
            (
                "chain cut inside the routing header",
                V6,
                patched(&IPV6_HBH_RT_FRAG_TCP, |v| {
                    v.truncate(60);
                    fix_payload_len(v);
                }),
                Error::BadIpv6ExtHeader,
            ),
            (
                "chain cut inside the fragment header",
                V6,
                patched(&IPV6_HBH_RT_FRAG_TCP, |v| {
                    v.truncate(76);
                    fix_payload_len(v);
                }),
                Error::BadIpv6ExtHeader,
            ),
            (
                "two fragment headers",
                V6,
                patched(&IPV6_HBH_RT_FRAG_TCP, |v| {
                    v[72] = ip_proto::IPV6_FRAG;
                    v.splice(80..80, [6, 0, 0, 1, 0, 0, 0, 9]);
                    fix_payload_len(v);
                }),
                Error::BadFragment,
            ),
            (
                "v4 fragment past 65535",
                V4,
                patched(&IPV4_FRAG_LATER, |v| v[6..8].copy_from_slice(&[0x1f, 0xff])),
                Error::BadFragment,
            ),
            (
                "v6 fragment past 65535",
                V6,
                patched(&IPV6_FRAG_LATER, |v| {
                    v[58..60].copy_from_slice(&[0xff, 0xf8])
                }),
                Error::BadFragment,
            ),
            (
                "tcp header cut",
                V4,
                patched(&IPV4_TCP_SYN, |v| {
                    v.truncate(39);
                    fix_total_len(v);
                }),
                Error::TransportTruncated,
            ),
            (
                "udp header cut",
                V4,
                patched(&IPV4_UDP_DNS, |v| {
                    v.truncate(27);
                    fix_total_len(v);
                }),
                Error::TransportTruncated,
            ),
            (
                "icmp header cut",
                V4,
                patched(&IPV4_ICMP_ECHO, |v| {
                    v.truncate(27);
                    fix_total_len(v);
                }),
                Error::TransportTruncated,
            ),
            (
                "icmpv6 header cut",
                V6,
                patched(&IPV6_ICMP_ECHO, |v| {
                    v.truncate(47);
                    fix_payload_len(v);
                }),
                Error::TransportTruncated,
            ),
            (
                "tcp in a first fragment cut",
                V6,
                patched(&IPV6_HBH_RT_FRAG_TCP, |v| {
                    v.truncate(90);
                    fix_payload_len(v);
                }),
                Error::TransportTruncated,
            ),
            (
                "tcp data offset 4",
                V4,
                patched(&IPV4_TCP_SYN, |v| v[tcp_hdr + 12] = 0x40),
                Error::BadTcpOffset,
            ),
            (
                "tcp data offset past the segment",
                V4,
                patched(&IPV4_TCP_SYN, |v| v[tcp_hdr + 12] = 0x60),
                Error::BadTcpOffset,
            ),
            (
                "udp length 7",
                V4,
                patched(&IPV4_UDP_DNS, |v| v[25] = 7),
                Error::BadUdpLength,
            ),
            (
                "udp length past the ip payload",
                V4,
                patched(&IPV4_UDP_DNS, |v| v[25] = 13),
                Error::BadUdpLength,
            ),
            (
                "udp length 0 in ipv6 (jumbogram)",
                V6,
                patched(&IPV6_UDP, |v| v[44..46].fill(0)),
                Error::BadUdpLength,
            ),
        ];
        for (name, protocol, bytes, expected) in &cases {
            assert_eq!(decode_inner(*protocol, bytes), Err(*expected), "{name}");
        }
    }

    /// Cross-check against etherparse's own full slicer on every well-formed, unfragmented fixture.
    #[test]
    fn test_agrees_with_etherparse_sliced_packet() {
        use etherparse::{NetSlice, SlicedPacket, TransportSlice};
        for (protocol, bytes) in [
            (V4, &IPV4_TCP_SYN[..]),
            (V4, &IPV4_OPTS_TCP_PSH[..]),
            (V4, &IPV4_UDP_DNS[..]),
            (V4, &IPV4_ICMP_ECHO[..]),
            (V4, &IPV4_ICMP_UNREACH_UDP[..]),
            (V6, &IPV6_TCP_SYN[..]),
            (V6, &IPV6_UDP[..]),
            (V6, &IPV6_ICMP_ECHO[..]),
            (V6, &IPV6_ICMP_PTB_UDP[..]),
        ] {
            let ours = decode_inner(protocol, bytes).unwrap();
            let theirs = SlicedPacket::from_ip(bytes).unwrap();
            let (src, dst): (IpAddr, IpAddr) = match theirs.net.as_ref().unwrap() {
                NetSlice::Ipv4(s) => (
                    s.header().source_addr().into(),
                    s.header().destination_addr().into(),
                ),
                NetSlice::Ipv6(s) => (
                    s.header().source_addr().into(),
                    s.header().destination_addr().into(),
                ),
                other => panic!("{other:?}"),
            };
            assert_eq!((ours.src, ours.dst), (src, dst));
            let ports = match theirs.transport.as_ref().unwrap() {
                TransportSlice::Tcp(t) => Some(Ports {
                    src: t.source_port(),
                    dst: t.destination_port(),
                }),
                TransportSlice::Udp(u) => Some(Ports {
                    src: u.source_port(),
                    dst: u.destination_port(),
                }),
                _ => None,
            };
            assert_eq!(ours.transport.ports(), ports);
            assert_eq!(
                ours.transport.payload(),
                theirs.transport.as_ref().map_or(&[][..], |t| match t {
                    TransportSlice::Tcp(t) => t.payload(),
                    TransportSlice::Udp(u) => u.payload(),
                    TransportSlice::Icmpv4(i) => i.payload(),
                    TransportSlice::Icmpv6(i) => &i.slice()[8..],
                    _ => &[],
                })
            );
        }
    }

    #[test]
    fn test_five_tuple_reversed_and_display() {
        let t = decode_inner(V4, &IPV4_TCP_SYN).unwrap().five_tuple();
        let r = t.reversed();
        assert_eq!(
            (r.src, r.src_port, r.dst, r.dst_port),
            (t.dst, 80, t.src, 49152)
        );
        assert_eq!(r.reversed(), t);
        assert_eq!(t.to_string(), "10.0.1.10.49152 > 10.0.2.20.80 proto 6");
    }

    #[test]
    fn test_tcp_flags_display() {
        assert_eq!(TcpFlags(0).to_string(), "none");
        assert_eq!(TcpFlags(TcpFlags::SYN | TcpFlags::ACK).to_string(), "S.");
        assert_eq!(TcpFlags(0xff).to_string(), "FSRP.UEW");
        let f = TcpFlags(TcpFlags::FIN | TcpFlags::RST | TcpFlags::URG);
        assert!(f.fin() && f.rst() && f.urg() && !f.ack());
    }

    fn arb_addr_v4() -> impl Strategy<Value = [u8; 4]> {
        any::<[u8; 4]>()
    }

    proptest! {
        /// Packets built by etherparse's writer decode to what was built.
        #[test]
        fn prop_built_tcp_udp_decode(
            v6 in any::<bool>(),
            src4 in arb_addr_v4(), dst4 in arb_addr_v4(),
            src6 in any::<[u8; 16]>(), dst6 in any::<[u8; 16]>(),
            sport in any::<u16>(), dport in any::<u16>(),
            seq in any::<u32>(), win in any::<u16>(), ttl in any::<u8>(),
            udp in any::<bool>(),
            payload in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            use etherparse::PacketBuilder;
            let ip = if v6 { PacketBuilder::ipv6(src6, dst6, ttl) } else { PacketBuilder::ipv4(src4, dst4, ttl) };
            let mut bytes = Vec::new();
            if udp {
                ip.udp(sport, dport).write(&mut bytes, &payload).unwrap();
            } else {
                ip.tcp(sport, dport, seq, win).syn().write(&mut bytes, &payload).unwrap();
            }
            let p = decode_inner(if v6 { V6 } else { V4 }, &bytes).unwrap();
            let (src, dst): (IpAddr, IpAddr) = if v6 {
                (Ipv6Addr::from(src6).into(), Ipv6Addr::from(dst6).into())
            } else {
                (Ipv4Addr::from(src4).into(), Ipv4Addr::from(dst4).into())
            };
            prop_assert_eq!(p.five_tuple(), FiveTuple {
                src, dst, ip_proto: if udp { 17 } else { 6 }, src_port: sport, dst_port: dport,
            });
            prop_assert_eq!(p.ttl, ttl);
            prop_assert_eq!(p.transport.payload(), &payload[..]);
            if let Transport::Tcp { seq: s, window, flags, .. } = p.transport {
                prop_assert_eq!((s, window, flags.syn()), (seq, win, true));
            }
        }

        #[test]
        fn prop_decode_inner_never_panics(protocol in prop_oneof![Just(V4), Just(V6), any::<u16>()],
                                          bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(p) = decode_inner(protocol, &bytes) {
                let _ = p.to_string();
                prop_assert!(p.header_len <= p.ip_len && p.ip_len <= bytes.len());
            }
        }

        /// Random corruption of real fixtures (deeper than random bytes get): never a panic, and
        /// an `Ok` always describes bytes inside the buffer.
        #[test]
        fn prop_corrupted_fixtures_never_panic(
            which in 0usize..12,
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
            cut in any::<usize>(),
        ) {
            let fixtures: [(u16, &[u8]); 12] = [
                (V4, &IPV4_TCP_SYN), (V4, &IPV4_OPTS_TCP_PSH), (V4, &IPV4_UDP_DNS),
                (V4, &IPV4_FRAG_FIRST_UDP), (V4, &IPV4_FRAG_LATER), (V4, &IPV4_ICMP_UNREACH_UDP),
                (V4, &IPV4_ICMP_TTL_TCP), (V6, &IPV6_TCP_SYN), (V6, &IPV6_HBH_RT_FRAG_TCP),
                (V6, &IPV6_FRAG_LATER), (V6, &IPV6_ICMP_PTB_UDP), (V6, &IPV6_ICMP_TTL_EXT_TCP),
            ];
            let (protocol, original) = fixtures[which];
            let mut bytes = original.to_vec();
            for (at, value) in flips {
                let at = at % bytes.len();
                bytes[at] = value;
            }
            bytes.truncate(cut % (bytes.len() + 1));
            if let Ok(p) = decode_inner(protocol, &bytes) {
                let _ = p.to_string();
                prop_assert!(p.header_len <= p.ip_len && p.ip_len <= bytes.len());
            }
        }
    }
}
