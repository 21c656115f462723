//! `seawall-wire`: the byte layer of Seawall, at the bottom of the crate graph.
//!
//! It owns the GWLB contract of DESIGN.md section 1: zero-copy views of the GENEVE header and its
//! option TLVs ([`GenevePacket`], [`GeneveOption`], [`GeneveOptions`]), the AWS class 0x0108
//! options ([`GwlbMeta`]), the header exactly as GWLB builds it ([`GwlbRepr`]), the one-call check
//! the data plane runs on every datagram ([`parse_gwlb`]) and the inner IPv4/IPv6/TCP/UDP/ICMP
//! decode ([`decode_inner`], on etherparse slices).
//!
//! Rules of this layer (smoltcp style, STYLE.md section 3):
//! - sans-I/O: no sockets, files, clocks, threads or logging;
//! - zero allocation and no panics on any input (fuzzed by `fuzz/`, target `geneve_packet`);
//! - views check their length once (`check_len`); after it no accessor panics;
//! - received headers are never re-serialised: the data plane echoes datagram bytes unchanged, so
//!   options this crate does not know survive;
//! - every malformed input maps to exactly one [`Error`] variant with a stable metric label
//!   ([`Error::reason`]).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
pub mod geneve;
mod gwlb;
pub mod inner;

#[cfg(test)]
mod fixtures;

pub use error::{Error, Result};
pub use geneve::{GeneveOption, GeneveOptions, GenevePacket};
pub use gwlb::{
    parse_gwlb, protocol_for_inner, AttachmentId, FlowCookie, GwlbEndpointId, GwlbFrame, GwlbMeta,
    GwlbRepr, Vni, GWLB_OPTIONS_LEN,
};
pub use inner::{
    decode_inner, FiveTuple, Fragment, InnerPacket, IpVersion, Ports, QuotedTuple, TcpFlags,
    Transport,
};

/// UDP port GWLB sends GENEVE to (and the port replies come from).
pub const GENEVE_PORT: u16 = 6081;
/// GENEVE option class of the AWS GWLB options.
pub const AWS_OPTION_CLASS: u16 = 0x0108;
/// AWS option type 1: GWLB endpoint (VPCE) id, 8 bytes.
pub const GWLB_OPT_ENDPOINT: u8 = 1;
/// AWS option type 2: attachment id, 8 bytes.
pub const GWLB_OPT_ATTACHMENT: u8 = 2;
/// AWS option type 3: flow cookie, 4 bytes.
pub const GWLB_OPT_COOKIE: u8 = 3;
/// GENEVE protocol type (EtherType) of an inner IPv4 packet.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// GENEVE protocol type (EtherType) of an inner IPv6 packet.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
