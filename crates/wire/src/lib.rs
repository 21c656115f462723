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
//!
//! The per-datagram path of the data plane:
//!
//! ```
//! use seawall_wire::{decode_inner, parse_gwlb, Error, GwlbMeta, GwlbRepr};
//!
//! # let inner = [0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
//! #              0x30, 0x39, 0, 53, 0, 8, 0, 0];
//! # let mut datagram = [0u8; 68];
//! # GwlbRepr::for_inner(GwlbMeta::default(), &inner).unwrap().emit_datagram(&inner, &mut datagram).unwrap();
//! fn inspect(datagram: &[u8]) -> Result<(), Error> {
//!     let frame = parse_gwlb(datagram)?; // GENEVE + AWS options
//!     let packet = decode_inner(frame.protocol, frame.inner)?; // inner IP + transport
//!     let _flow_key = (frame.meta.endpoint, packet.five_tuple());
//!     // pass: send `datagram` back unchanged; error: count `e.reason()`
//!     Ok(())
//! }
//! assert_eq!(inspect(&datagram), Ok(()));
//! assert_eq!(inspect(&datagram[..7]).unwrap_err().reason(), "geneve_truncated");
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod checksum;
pub mod craft;
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

#[cfg(test)]
mod tests {
    //! The whole pipeline (`parse_gwlb` then `decode_inner`) on one datagram per malformed class.
    use super::*;
    use crate::fixtures::{GWLB_IPV4_TCP, IPV4_FRAG_LATER, IPV4_UDP_DNS, IPV6_HBH_RT_FRAG_TCP};

    fn pipeline(datagram: &[u8]) -> Result<FiveTuple> {
        let frame = parse_gwlb(datagram)?;
        Ok(decode_inner(frame.protocol, frame.inner)?.five_tuple())
    }

    /// GWLB_IPV4_TCP with `f` applied to the inner packet (offset 40); the IPv4 total length is
    /// left as `f` made it.
    fn inner_v4(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut inner = GWLB_IPV4_TCP[40..].to_vec();
        f(&mut inner);
        [&GWLB_IPV4_TCP[..40], &inner[..]].concat()
    }

    fn with_inner(protocol: u16, inner: &[u8]) -> Vec<u8> {
        let mut d = [&GWLB_IPV4_TCP[..40], inner].concat();
        d[2..4].copy_from_slice(&protocol.to_be_bytes());
        d
    }

    fn set_total_len(v: &mut [u8], len: u16) {
        v[2..4].copy_from_slice(&len.to_be_bytes());
    }

    #[test]
    fn test_real_gwlb_datagram() {
        let t = pipeline(&GWLB_IPV4_TCP).unwrap();
        assert_eq!(t.to_string(), "10.0.1.10.49152 > 10.0.2.20.80 proto 6");
    }

    /// One datagram for every variant of [`Error::ALL`]: each malformed class of DESIGN.md section 7
    /// that wire detects gets exactly its own error.
    #[test]
    fn test_every_malformed_class_has_a_fixture() {
        let cases: Vec<(Vec<u8>, Error)> = vec![
            (GWLB_IPV4_TCP[..30].to_vec(), Error::Truncated),
            (
                {
                    let mut d = GWLB_IPV4_TCP.to_vec();
                    d[0] |= 0x80;
                    d
                },
                Error::BadVersion,
            ),
            (
                {
                    let mut d = GWLB_IPV4_TCP.to_vec();
                    d[23] = 3; // TLV 2 claims 12 bytes of data
                    d
                },
                Error::OptionOverrun,
            ),
            (
                {
                    let mut d = GWLB_IPV4_TCP.to_vec();
                    d[34] = 4; // TLV 3 becomes an unknown type 4
                    d
                },
                Error::MissingGwlbOption(GWLB_OPT_COOKIE),
            ),
            (
                {
                    let mut d = GWLB_IPV4_TCP.to_vec();
                    d[34] = 0x83; // TLV 3 becomes an unknown critical type
                    d
                },
                Error::CriticalOption,
            ),
            (with_inner(0x6558, &GWLB_IPV4_TCP[40..]), Error::BadProtocol),
            (
                with_inner(ETHERTYPE_IPV6, &GWLB_IPV4_TCP[40..]),
                Error::InnerVersion,
            ),
            (GWLB_IPV4_TCP[..50].to_vec(), Error::InnerTruncated),
            (inner_v4(|v| v[0] = 0x44), Error::BadIhl),
            (inner_v4(|v| set_total_len(v, 400)), Error::BadTotalLength),
            (
                with_inner(ETHERTYPE_IPV6, &{
                    let mut v = IPV6_HBH_RT_FRAG_TCP.to_vec();
                    v[48] = 0;
                    v
                }),
                Error::BadIpv6ExtHeader,
            ),
            (
                with_inner(ETHERTYPE_IPV4, &{
                    let mut v = IPV4_FRAG_LATER.to_vec();
                    v[6..8].copy_from_slice(&[0x3f, 0xff]);
                    v
                }),
                Error::BadFragment,
            ),
            (
                inner_v4(|v| {
                    v.truncate(30);
                    set_total_len(v, 30);
                }),
                Error::TransportTruncated,
            ),
            (inner_v4(|v| v[32] = 0xf0), Error::BadTcpOffset),
            (
                with_inner(ETHERTYPE_IPV4, &{
                    let mut v = IPV4_UDP_DNS.to_vec();
                    v[25] = 4;
                    v
                }),
                Error::BadUdpLength,
            ),
        ];
        for (datagram, expected) in &cases {
            assert_eq!(pipeline(datagram), Err(*expected), "{}", expected.reason());
        }
        for e in Error::ALL {
            assert!(
                cases.iter().any(|(_, c)| c.reason() == e.reason()),
                "no fixture for {e:?}"
            );
        }
    }

    /// The fuzz seeds (fuzz/seeds/geneve_packet) are well-formed datagrams, so fuzzing starts deep.
    #[test]
    fn test_fuzz_seeds_decode() {
        macro_rules! seeds {
            ($($name:literal),* $(,)?) => {
                [$(($name, &include_bytes!(concat!("../fuzz/seeds/geneve_packet/", $name))[..])),*]
            };
        }
        for (name, bytes) in seeds![
            "gwlb_ipv4_tcp_syn",
            "gwlb_ipv4_opts_tcp",
            "gwlb_ipv4_frag_first_udp",
            "gwlb_ipv4_frag_later",
            "gwlb_ipv4_icmp_unreach_udp",
            "gwlb_ipv6_hbh_rt_frag_tcp",
            "gwlb_ipv6_frag_later",
            "gwlb_ipv6_icmp_ttl_ext_tcp",
            "gwlb_unknown_options_udp",
        ] {
            let frame = parse_gwlb(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
            decode_inner(frame.protocol, frame.inner).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}
