//! AWS Gateway Load Balancer metadata: the class 0x0108 GENEVE options, the header GWLB builds
//! ([`GwlbRepr`]) and the one-call datagram check the data plane runs on every packet ([`parse_gwlb`]).

use core::fmt;

use crate::error::{Error, Result};
use crate::geneve::{GeneveOption, GenevePacket, HEADER_LEN, OPTION_HEADER_LEN};
use crate::{
    AWS_OPTION_CLASS, ETHERTYPE_IPV4, ETHERTYPE_IPV6, GWLB_OPT_ATTACHMENT, GWLB_OPT_COOKIE,
    GWLB_OPT_ENDPOINT,
};

/// GENEVE virtual network identifier (24 bits; GWLB sends 0). Opaque, echoed unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Vni(pub u32);

/// GWLB endpoint (VPC endpoint, `vpce-…`) id from option type 1. Part of every flow key: address
/// spaces behind different endpoints may overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct GwlbEndpointId(pub u64);

/// GWLB attachment id from option type 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct AttachmentId(pub u64);

/// GWLB flow cookie from option type 3. Changes when GWLB treats a reused 5-tuple as a new flow, so
/// never cache it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FlowCookie(pub u32);

impl fmt::Display for Vni {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for GwlbEndpointId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#018x}", self.0)
    }
}

impl fmt::Display for AttachmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#018x}", self.0)
    }
}

impl fmt::Display for FlowCookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#010x}", self.0)
    }
}

/// Data length of option type 1 (endpoint id).
const ENDPOINT_LEN: usize = 8;
/// Data length of option type 2 (attachment id).
const ATTACHMENT_LEN: usize = 8;
/// Data length of option type 3 (flow cookie).
const COOKIE_LEN: usize = 4;
/// Option area length GWLB sends: three TLV headers plus 8 + 8 + 4 data bytes (opt_len 8).
pub const GWLB_OPTIONS_LEN: usize =
    3 * OPTION_HEADER_LEN + ENDPOINT_LEN + ATTACHMENT_LEN + COOKIE_LEN;

/// The three AWS options of a GWLB datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct GwlbMeta {
    /// Option type 1.
    pub endpoint: GwlbEndpointId,
    /// Option type 2.
    pub attachment: AttachmentId,
    /// Option type 3.
    pub cookie: FlowCookie,
}

impl GwlbMeta {
    /// Reads the AWS options of `pkt` (class 0x0108, types 1, 2, 3), walking every option.
    ///
    /// Errors: `Truncated` if the header is short; `OptionOverrun` if an option runs past the option
    /// area; `CriticalOption` for any other option with the critical bit; `MissingGwlbOption(t)` if
    /// type `t` is absent or its data has the wrong length. If an AWS type occurs twice, the first
    /// occurrence decides (a wrong-length first one is not rescued by a later one). Unknown non-critical options are skipped (they are echoed, never re-serialised).
    pub fn parse<T: AsRef<[u8]>>(pkt: &GenevePacket<T>) -> Result<GwlbMeta> {
        pkt.check_len()?;
        Self::parse_options(pkt.options_bytes())
    }

    /// [`GwlbMeta::parse`] on a bare option area.
    ///
    /// The whole area is walked before the AWS options are judged, so the error of a datagram
    /// with several problems is, in this order: `OptionOverrun`, `CriticalOption`,
    /// `MissingGwlbOption(1)`, `(2)`, `(3)`.
    pub fn parse_options(area: &[u8]) -> Result<GwlbMeta> {
        // Per AWS type: None = not seen, Some(None) = first occurrence had the wrong length.
        let mut endpoint: Option<Option<GwlbEndpointId>> = None;
        let mut attachment: Option<Option<AttachmentId>> = None;
        let mut cookie: Option<Option<FlowCookie>> = None;
        let mut critical = false;
        for option in crate::geneve::GeneveOptions::new(area) {
            let option = option?;
            if option.class() != AWS_OPTION_CLASS {
                critical |= option.critical();
                continue;
            }
            let data = option.data();
            match option.option_type() {
                GWLB_OPT_ENDPOINT => {
                    endpoint.get_or_insert_with(|| {
                        data.try_into()
                            .ok()
                            .map(|b| GwlbEndpointId(u64::from_be_bytes(b)))
                    });
                }
                GWLB_OPT_ATTACHMENT => {
                    attachment.get_or_insert_with(|| {
                        data.try_into()
                            .ok()
                            .map(|b| AttachmentId(u64::from_be_bytes(b)))
                    });
                }
                GWLB_OPT_COOKIE => {
                    cookie.get_or_insert_with(|| {
                        data.try_into()
                            .ok()
                            .map(|b| FlowCookie(u32::from_be_bytes(b)))
                    });
                }
                _ => critical |= option.critical(),
            }
        }
        if critical {
            return Err(Error::CriticalOption);
        }
        Ok(GwlbMeta {
            endpoint: endpoint
                .flatten()
                .ok_or(Error::MissingGwlbOption(GWLB_OPT_ENDPOINT))?,
            attachment: attachment
                .flatten()
                .ok_or(Error::MissingGwlbOption(GWLB_OPT_ATTACHMENT))?,
            cookie: cookie
                .flatten()
                .ok_or(Error::MissingGwlbOption(GWLB_OPT_COOKIE))?,
        })
    }
}

impl fmt::Display for GwlbMeta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "endpoint {} attachment {} cookie {}",
            self.endpoint, self.attachment, self.cookie
        )
    }
}

/// The protocol type GWLB sets for an inner packet: 0x0800 for IPv4, 0x86DD for IPv6, from the
/// version nibble. `Err(Error::InnerVersion)` for anything else (or an empty packet).
pub fn protocol_for_inner(inner: &[u8]) -> Result<u16> {
    match inner.first().map(|b| b >> 4) {
        Some(4) => Ok(ETHERTYPE_IPV4),
        Some(6) => Ok(ETHERTYPE_IPV6),
        _ => Err(Error::InnerVersion),
    }
}

/// The GENEVE header exactly as GWLB builds it: version 0, opt_len 8, flags 0, the protocol type,
/// the VNI, reserved 0, then TLVs type 1 (endpoint, 8 B), 2 (attachment, 8 B), 3 (cookie, 4 B) of
/// class 0x0108 with reserved bits 0. Used by the simulator and tests; the data plane never
/// re-serialises a received header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GwlbRepr {
    /// VNI (24 bits; GWLB sends 0).
    pub vni: Vni,
    /// Protocol type: 0x0800 or 0x86DD.
    pub protocol: u16,
    /// The AWS options.
    pub meta: GwlbMeta,
}

impl GwlbRepr {
    /// The header GWLB would put in front of `inner` (VNI 0, protocol from the inner IP version).
    pub fn for_inner(meta: GwlbMeta, inner: &[u8]) -> Result<GwlbRepr> {
        Ok(GwlbRepr {
            vni: Vni(0),
            protocol: protocol_for_inner(inner)?,
            meta,
        })
    }

    /// Parses a GWLB header: length, version 0, the AWS options and an IP protocol type. Flags,
    /// reserved bits and unknown non-critical options are accepted and not kept.
    pub fn parse<T: AsRef<[u8]>>(pkt: &GenevePacket<T>) -> Result<GwlbRepr> {
        pkt.check_len()?;
        if pkt.version() != 0 {
            return Err(Error::BadVersion);
        }
        let meta = GwlbMeta::parse(pkt)?;
        let protocol = pkt.protocol();
        if protocol != ETHERTYPE_IPV4 && protocol != ETHERTYPE_IPV6 {
            return Err(Error::BadProtocol);
        }
        Ok(GwlbRepr {
            vni: pkt.vni(),
            protocol,
            meta,
        })
    }

    /// Header length: 8 + 32 = 40 bytes.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + GWLB_OPTIONS_LEN
    }

    /// Writes the header into `buf[..self.buffer_len()]`. Never panics: a `buf` shorter than
    /// `buffer_len()` is left untouched (use [`GwlbRepr::try_emit`] to be told).
    pub fn emit(&self, buf: &mut [u8]) {
        // A short buffer is a caller bug that try_emit reports; emit itself must not panic.
        let _ = self.try_emit(buf);
    }

    /// Writes the header into `buf[..self.buffer_len()]` and returns the length written, or
    /// `Err(Error::Truncated)` (writing nothing) if `buf` is shorter than `buffer_len()`.
    pub fn try_emit(&self, buf: &mut [u8]) -> Result<usize> {
        let len = self.buffer_len();
        let Some(buf) = buf.get_mut(..len) else {
            return Err(Error::Truncated);
        };
        let (header, options) = buf.split_at_mut(HEADER_LEN);
        let mut pkt = GenevePacket::new_unchecked(header);
        pkt.set_version(0);
        pkt.set_opt_len((GWLB_OPTIONS_LEN / 4) as u8);
        pkt.set_flags(0);
        pkt.set_protocol(self.protocol);
        pkt.set_vni(self.vni);
        pkt.set_reserved(0);

        let (opt1, rest) = options.split_at_mut(OPTION_HEADER_LEN + ENDPOINT_LEN);
        let (opt2, opt3) = rest.split_at_mut(OPTION_HEADER_LEN + ATTACHMENT_LEN);
        emit_option(opt1, GWLB_OPT_ENDPOINT, &self.meta.endpoint.0.to_be_bytes());
        emit_option(
            opt2,
            GWLB_OPT_ATTACHMENT,
            &self.meta.attachment.0.to_be_bytes(),
        );
        emit_option(opt3, GWLB_OPT_COOKIE, &self.meta.cookie.0.to_be_bytes());
        Ok(len)
    }

    /// Writes the header followed by `inner` into `buf`, returning the datagram length, or
    /// `Err(Error::Truncated)` (writing nothing) if `buf` is too short.
    pub fn emit_datagram(&self, inner: &[u8], buf: &mut [u8]) -> Result<usize> {
        let total = self.buffer_len() + inner.len();
        let Some(buf) = buf.get_mut(..total) else {
            return Err(Error::Truncated);
        };
        let (header, payload) = buf.split_at_mut(self.buffer_len());
        self.try_emit(header)?;
        payload.copy_from_slice(inner);
        Ok(total)
    }
}

/// Writes one class 0x0108 option; `buf` is exactly 4 + data.len() bytes, data a multiple of 4.
fn emit_option(buf: &mut [u8], option_type: u8, data: &[u8]) {
    let mut option = GeneveOption::new_unchecked(buf);
    option.set_class(AWS_OPTION_CLASS);
    option.set_option_type(option_type);
    option.set_reserved(0);
    option.set_length((data.len() / 4) as u8);
    option.data_mut().copy_from_slice(data);
}

impl fmt::Display for GwlbRepr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let proto = match self.protocol {
            ETHERTYPE_IPV4 => "IPv4",
            ETHERTYPE_IPV6 => "IPv6",
            _ => "unknown",
        };
        write!(
            f,
            "GWLB vni {} proto {proto} ({:#06x}) {}",
            self.vni, self.protocol, self.meta
        )
    }
}

/// The result of [`parse_gwlb`]: what the data plane needs from the encapsulation, plus the inner
/// packet. The header bytes themselves are `udp_payload[..geneve_len]`, echoed as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GwlbFrame<'a> {
    /// Length of the GENEVE header including options (offset of the inner packet).
    pub geneve_len: usize,
    /// Protocol type: 0x0800 or 0x86DD.
    pub protocol: u16,
    /// The AWS options.
    pub meta: GwlbMeta,
    /// The VNI as received.
    pub vni: Vni,
    /// The inner IP packet (bare L3).
    pub inner: &'a [u8],
}

/// Checks one GWLB datagram (a UDP payload) in one pass: header length, version 0, every option
/// (ends inside the option area, no unknown critical option), the three AWS options, and an IP
/// protocol type. Returns the metadata and the inner packet bytes. Zero allocation, never panics.
///
/// The inner packet is not looked at here: see [`crate::decode_inner`].
pub fn parse_gwlb(udp_payload: &[u8]) -> Result<GwlbFrame<'_>> {
    let pkt = GenevePacket::new_checked(udp_payload)?;
    if pkt.version() != 0 {
        return Err(Error::BadVersion);
    }
    let meta = GwlbMeta::parse_options(pkt.options_slice())?;
    let protocol = pkt.protocol();
    if protocol != ETHERTYPE_IPV4 && protocol != ETHERTYPE_IPV6 {
        return Err(Error::BadProtocol);
    }
    Ok(GwlbFrame {
        geneve_len: pkt.header_len(),
        protocol,
        meta,
        vni: pkt.vni(),
        inner: pkt.payload(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{GWLB_IPV4_TCP, IPV4_TCP_SYN, IPV6_TCP_SYN};
    use proptest::prelude::*;

    const META: GwlbMeta = GwlbMeta {
        endpoint: GwlbEndpointId(0x0a1b_2c3d_4e5f_6071),
        attachment: AttachmentId(0x8091_a2b3_c4d5_e6f7),
        cookie: FlowCookie(0xdead_beef),
    };

    const REPR: GwlbRepr = GwlbRepr {
        vni: Vni(0),
        protocol: 0x0800,
        meta: META,
    };

    /// Builds a datagram with the given fixed header bytes 0..8 and option area, then `inner`.
    fn datagram(head: [u8; 8], options: &[u8], inner: &[u8]) -> Vec<u8> {
        assert_eq!(options.len() % 4, 0);
        let mut out = head.to_vec();
        out[0] = (out[0] & 0xc0) | (options.len() / 4) as u8;
        out.extend_from_slice(options);
        out.extend_from_slice(inner);
        out
    }

    /// The three AWS TLVs of the fixture.
    fn aws_options() -> &'static [u8] {
        &GWLB_IPV4_TCP[8..40]
    }
    const TLV1: core::ops::Range<usize> = 0..12;
    const TLV2: core::ops::Range<usize> = 12..24;
    const TLV3: core::ops::Range<usize> = 24..32;
    const HEAD_V4: [u8; 8] = [0x00, 0x00, 0x08, 0x00, 0, 0, 0, 0];

    #[test]
    fn test_parse() {
        let pkt = GenevePacket::new_checked(&GWLB_IPV4_TCP[..]).unwrap();
        assert_eq!(GwlbMeta::parse(&pkt), Ok(META));
        assert_eq!(GwlbRepr::parse(&pkt), Ok(REPR));
    }

    #[test]
    fn test_emit() {
        let mut buf = [0xa5u8; 40];
        assert_eq!(REPR.buffer_len(), 40);
        REPR.emit(&mut buf);
        assert_eq!(&buf[..], &GWLB_IPV4_TCP[..40]);
        // Into a longer buffer: only buffer_len bytes are written.
        let mut buf = [0xa5u8; 44];
        assert_eq!(REPR.try_emit(&mut buf), Ok(40));
        assert_eq!(&buf[40..], &[0xa5; 4]);
    }

    #[test]
    fn test_emit_short_buffer_writes_nothing() {
        for len in 0..40 {
            let mut buf = vec![0xa5u8; len];
            REPR.emit(&mut buf);
            assert!(buf.iter().all(|&b| b == 0xa5));
            assert_eq!(REPR.try_emit(&mut buf), Err(Error::Truncated));
        }
    }

    #[test]
    fn test_emit_datagram() {
        let mut buf = [0u8; 100];
        let repr = GwlbRepr::for_inner(META, &IPV4_TCP_SYN).unwrap();
        assert_eq!(repr, REPR);
        let n = repr.emit_datagram(&IPV4_TCP_SYN, &mut buf).unwrap();
        assert_eq!(&buf[..n], &GWLB_IPV4_TCP[..]);
        assert_eq!(
            repr.emit_datagram(&IPV4_TCP_SYN, &mut buf[..79]),
            Err(Error::Truncated)
        );
        let v6 = GwlbRepr::for_inner(META, &IPV6_TCP_SYN).unwrap();
        assert_eq!(v6.protocol, 0x86dd);
        assert_eq!(GwlbRepr::for_inner(META, &[0x50]), Err(Error::InnerVersion));
        assert_eq!(GwlbRepr::for_inner(META, &[]), Err(Error::InnerVersion));
    }

    #[test]
    fn test_display() {
        assert_eq!(
            REPR.to_string(),
            "GWLB vni 0 proto IPv4 (0x0800) endpoint 0x0a1b2c3d4e5f6071 \
             attachment 0x8091a2b3c4d5e6f7 cookie 0xdeadbeef"
        );
        assert_eq!(FlowCookie(1).to_string(), "0x00000001");
        assert_eq!(GwlbEndpointId(1).to_string(), "0x0000000000000001");
        assert_eq!(Vni(42).to_string(), "42");
    }

    #[test]
    fn test_parse_gwlb() {
        let frame = parse_gwlb(&GWLB_IPV4_TCP).unwrap();
        assert_eq!(
            frame,
            GwlbFrame {
                geneve_len: 40,
                protocol: 0x0800,
                meta: META,
                vni: Vni(0),
                inner: &IPV4_TCP_SYN,
            }
        );
    }

    #[test]
    fn test_options_in_any_order() {
        let o = aws_options();
        let options = [&o[TLV3], &o[TLV1], &o[TLV2]].concat();
        let d = datagram(HEAD_V4, &options, &IPV4_TCP_SYN);
        assert_eq!(parse_gwlb(&d).unwrap().meta, META);
    }

    #[test]
    fn test_unknown_non_critical_options_pass() {
        let o = aws_options();
        let unknown = [
            0x01, 0x03, 0x10, 0x01, 1, 2, 3, 4, // other class, non-critical, 4 bytes
            0x01, 0x08, 0x04, 0x00, // AWS class, unknown type 4, empty
            0xff, 0xff, 0x7f, 0x00, // experimental class, type 0x7f
        ];
        let options = [&unknown[..8], &o[TLV1], &unknown[8..], &o[TLV2], &o[TLV3]].concat();
        let d = datagram(HEAD_V4, &options, &IPV4_TCP_SYN);
        let frame = parse_gwlb(&d).unwrap();
        assert_eq!(frame.meta, META);
        assert_eq!(frame.geneve_len, 8 + 48);
        assert_eq!(frame.inner, &IPV4_TCP_SYN);
    }

    #[test]
    fn test_critical_options_fail() {
        let o = aws_options();
        for critical in [
            [0x01, 0x03, 0x80, 0x00], // other class
            [0x01, 0x08, 0x81, 0x00], // AWS class, type 1 with the critical bit is another type
            [0x00, 0x00, 0xff, 0x00],
        ] {
            let options = [o, &critical[..]].concat();
            let d = datagram(HEAD_V4, &options, &IPV4_TCP_SYN);
            assert_eq!(
                parse_gwlb(&d),
                Err(Error::CriticalOption),
                "{critical:02x?}"
            );
        }
    }

    #[test]
    fn test_missing_each_aws_option() {
        let o = aws_options();
        for (missing, options) in [
            (1, [&o[TLV2], &o[TLV3]].concat()),
            (2, [&o[TLV1], &o[TLV3]].concat()),
            (3, [&o[TLV1], &o[TLV2]].concat()),
            (1, Vec::new()),
        ] {
            let d = datagram(HEAD_V4, &options, &IPV4_TCP_SYN);
            assert_eq!(parse_gwlb(&d), Err(Error::MissingGwlbOption(missing)));
        }
    }

    #[test]
    fn test_aws_option_of_wrong_length() {
        let o = aws_options();
        // Type 1 with 4 bytes, type 2 with 12, type 3 with 8.
        let short1 = [0x01, 0x08, 0x01, 0x01, 0, 0, 0, 1];
        let long2 = [0x01, 0x08, 0x02, 0x03, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
        let long3 = [0x01, 0x08, 0x03, 0x02, 0, 0, 0, 0, 0, 0, 0, 3];
        for (ty, options) in [
            (1, [&short1[..], &o[TLV2], &o[TLV3]].concat()),
            (2, [&o[TLV1], &long2[..], &o[TLV3]].concat()),
            (3, [&o[TLV1], &o[TLV2], &long3[..]].concat()),
        ] {
            let d = datagram(HEAD_V4, &options, &IPV4_TCP_SYN);
            assert_eq!(parse_gwlb(&d), Err(Error::MissingGwlbOption(ty)));
        }
    }

    #[test]
    fn test_duplicate_aws_option_first_wins() {
        let o = aws_options();
        let other_cookie = [0x01, 0x08, 0x03, 0x01, 0, 0, 0, 7];
        let options = [o, &other_cookie[..]].concat();
        let d = datagram(HEAD_V4, &options, &IPV4_TCP_SYN);
        assert_eq!(parse_gwlb(&d).unwrap().meta.cookie, META.cookie);
    }

    #[test]
    fn test_error_priority_when_several_problems() {
        let o = aws_options();
        let short1 = [0x01, 0x08, 0x01, 0x01, 0, 0, 0, 1];
        let critical = [0x01, 0x03, 0x80, 0x00];
        let overrun = [0x01, 0x03, 0x00, 0x05];
        // Overrun beats a wrong length and a critical option seen before it.
        let options = [&short1[..], &critical[..], &overrun[..]].concat();
        let d = datagram(HEAD_V4, &options, &IPV4_TCP_SYN);
        assert_eq!(parse_gwlb(&d), Err(Error::OptionOverrun));
        // A critical option beats missing and wrong-length AWS options, wherever it is.
        let options = [&short1[..], &critical[..]].concat();
        let d = datagram(HEAD_V4, &options, &IPV4_TCP_SYN);
        assert_eq!(parse_gwlb(&d), Err(Error::CriticalOption));
        // A wrong-length first type 1 is not rescued by a good one later.
        let options = [&short1[..], o].concat();
        let d = datagram(HEAD_V4, &options, &IPV4_TCP_SYN);
        assert_eq!(parse_gwlb(&d), Err(Error::MissingGwlbOption(1)));
        // Missing types are reported in order 1, 2, 3.
        let d = datagram(HEAD_V4, &o[TLV3], &IPV4_TCP_SYN);
        assert_eq!(parse_gwlb(&d), Err(Error::MissingGwlbOption(1)));
    }

    #[test]
    fn test_252_byte_option_area_with_aws_options() {
        let o = aws_options();
        // 32 bytes of AWS options + 220 bytes of one unknown option... too long for 5 bits (max 128):
        // use 124 + 4 (length 31) and 88 + 4 (length 22) bytes.
        let mut pad1 = vec![0x01, 0x55, 0x01, 31];
        pad1.resize(128, 0xee);
        let mut pad2 = vec![0x01, 0x56, 0x02, 22];
        pad2.resize(92, 0xdd);
        let options = [&pad1[..], o, &pad2[..]].concat();
        assert_eq!(options.len(), 252);
        let d = datagram(HEAD_V4, &options, &IPV4_TCP_SYN);
        let frame = parse_gwlb(&d).unwrap();
        assert_eq!(frame.meta, META);
        assert_eq!(frame.geneve_len, 260);
        assert_eq!(frame.inner, &IPV4_TCP_SYN);
    }

    #[test]
    fn test_geneve_errors() {
        // Truncated: below 8 bytes, and opt_len beyond the datagram.
        assert_eq!(parse_gwlb(&GWLB_IPV4_TCP[..7]), Err(Error::Truncated));
        assert_eq!(parse_gwlb(&GWLB_IPV4_TCP[..39]), Err(Error::Truncated));
        // Version 1.
        let mut d = GWLB_IPV4_TCP;
        d[0] |= 0x40;
        assert_eq!(parse_gwlb(&d), Err(Error::BadVersion));
        // Option overrun: the cookie TLV claims 2 words, 1 is left in the area.
        let mut d = GWLB_IPV4_TCP;
        d[35] = 2;
        assert_eq!(parse_gwlb(&d), Err(Error::OptionOverrun));
        // Protocol type: Ethernet (TEB) instead of IP.
        let mut d = GWLB_IPV4_TCP;
        d[2..4].copy_from_slice(&[0x65, 0x58]);
        assert_eq!(parse_gwlb(&d), Err(Error::BadProtocol));
        let pkt = GenevePacket::new_checked(&d[..]).unwrap();
        assert_eq!(GwlbRepr::parse(&pkt), Err(Error::BadProtocol));
        // GwlbMeta::parse on an unchecked short packet reports Truncated instead of panicking.
        let pkt = GenevePacket::new_unchecked(&GWLB_IPV4_TCP[..20]);
        assert_eq!(GwlbMeta::parse(&pkt), Err(Error::Truncated));
        let mut d = GWLB_IPV4_TCP;
        d[0] = 0xc8;
        let pkt = GenevePacket::new_checked(&d[..]).unwrap();
        assert_eq!(GwlbRepr::parse(&pkt), Err(Error::BadVersion));
    }

    #[test]
    fn test_flags_and_reserved_are_accepted() {
        let mut d = GWLB_IPV4_TCP;
        d[1] = 0xff;
        d[4..8].copy_from_slice(&[0x12, 0x34, 0x56, 0x78]);
        let frame = parse_gwlb(&d).unwrap();
        assert_eq!(frame.vni, Vni(0x12_3456));
        assert_eq!(frame.meta, META);
    }

    fn arb_repr() -> impl Strategy<Value = GwlbRepr> {
        (
            0u32..(1 << 24),
            prop_oneof![Just(0x0800u16), Just(0x86ddu16)],
            any::<u64>(),
            any::<u64>(),
            any::<u32>(),
        )
            .prop_map(|(vni, protocol, e, a, c)| GwlbRepr {
                vni: Vni(vni),
                protocol,
                meta: GwlbMeta {
                    endpoint: GwlbEndpointId(e),
                    attachment: AttachmentId(a),
                    cookie: FlowCookie(c),
                },
            })
    }

    proptest! {
        #[test]
        fn prop_emit_then_parse_is_identity(repr in arb_repr(), inner in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(&mut buf);
            let pkt = GenevePacket::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(GwlbRepr::parse(&pkt), Ok(repr));

            let mut buf = vec![0u8; repr.buffer_len() + inner.len()];
            let n = repr.emit_datagram(&inner, &mut buf).unwrap();
            prop_assert_eq!(n, buf.len());
            let frame = parse_gwlb(&buf).unwrap();
            prop_assert_eq!(frame.meta, repr.meta);
            prop_assert_eq!(frame.vni, repr.vni);
            prop_assert_eq!(frame.protocol, repr.protocol);
            prop_assert_eq!(frame.inner, &inner[..]);
        }

        #[test]
        fn prop_parse_then_emit_is_identity(repr in arb_repr()) {
            // The other direction: a GWLB-shaped header re-emits to the same bytes.
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(&mut buf);
            let parsed = GwlbRepr::parse(&GenevePacket::new_checked(&buf[..]).unwrap()).unwrap();
            let mut again = vec![0u8; parsed.buffer_len()];
            parsed.emit(&mut again);
            prop_assert_eq!(buf, again);
        }

        #[test]
        fn prop_unknown_options_survive(repr in arb_repr(), class in 0u16.., ty in 0u8..0x80, words in 0u8..8) {
            // An unknown non-critical option before the AWS ones changes nothing but the offset.
            let mut header = vec![0u8; repr.buffer_len()];
            repr.emit(&mut header);
            let mut unknown = vec![0u8; 4 + usize::from(words) * 4];
            unknown[..2].copy_from_slice(&class.to_be_bytes());
            unknown[2] = ty;
            unknown[3] = words;
            let is_aws_type = class == AWS_OPTION_CLASS && (1..=3).contains(&ty);
            let mut d = header[..8].to_vec();
            d[0] = ((32 + unknown.len()) / 4) as u8;
            d.extend_from_slice(&unknown);
            d.extend_from_slice(&header[8..]);
            let got = parse_gwlb(&d);
            if is_aws_type {
                // An AWS type first: either it has the right length and wins, or it is a length error.
                prop_assert!(got.is_ok() || matches!(got, Err(Error::MissingGwlbOption(_))));
            } else {
                let frame = got.unwrap();
                prop_assert_eq!(frame.meta, repr.meta);
                prop_assert_eq!(frame.geneve_len, d.len());
            }
        }

        #[test]
        fn prop_parse_gwlb_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_gwlb(&bytes);
            let pkt = GenevePacket::new_unchecked(&bytes[..]);
            let _ = pkt.to_string();
            let _ = GwlbMeta::parse(&pkt);
            let _ = pkt.options().count();
        }
    }
}
