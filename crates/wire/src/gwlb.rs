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
    /// wins. Unknown non-critical options are skipped (they are echoed, never re-serialised).
    pub fn parse<T: AsRef<[u8]>>(pkt: &GenevePacket<T>) -> Result<GwlbMeta> {
        pkt.check_len()?;
        Self::parse_options(pkt.options_bytes())
    }

    /// [`GwlbMeta::parse`] on a bare option area.
    pub fn parse_options(area: &[u8]) -> Result<GwlbMeta> {
        let mut endpoint = None;
        let mut attachment = None;
        let mut cookie = None;
        for option in crate::geneve::GeneveOptions::new(area) {
            let option = option?;
            if option.class() != AWS_OPTION_CLASS {
                if option.critical() {
                    return Err(Error::CriticalOption);
                }
                continue;
            }
            let data = option.data();
            match option.option_type() {
                GWLB_OPT_ENDPOINT if endpoint.is_none() => {
                    let b: [u8; ENDPOINT_LEN] = data
                        .try_into()
                        .map_err(|_| Error::MissingGwlbOption(GWLB_OPT_ENDPOINT))?;
                    endpoint = Some(GwlbEndpointId(u64::from_be_bytes(b)));
                }
                GWLB_OPT_ATTACHMENT if attachment.is_none() => {
                    let b: [u8; ATTACHMENT_LEN] = data
                        .try_into()
                        .map_err(|_| Error::MissingGwlbOption(GWLB_OPT_ATTACHMENT))?;
                    attachment = Some(AttachmentId(u64::from_be_bytes(b)));
                }
                GWLB_OPT_COOKIE if cookie.is_none() => {
                    let b: [u8; COOKIE_LEN] = data
                        .try_into()
                        .map_err(|_| Error::MissingGwlbOption(GWLB_OPT_COOKIE))?;
                    cookie = Some(FlowCookie(u32::from_be_bytes(b)));
                }
                GWLB_OPT_ENDPOINT | GWLB_OPT_ATTACHMENT | GWLB_OPT_COOKIE => {}
                _ if option.critical() => return Err(Error::CriticalOption),
                _ => {}
            }
        }
        Ok(GwlbMeta {
            endpoint: endpoint.ok_or(Error::MissingGwlbOption(GWLB_OPT_ENDPOINT))?,
            attachment: attachment.ok_or(Error::MissingGwlbOption(GWLB_OPT_ATTACHMENT))?,
            cookie: cookie.ok_or(Error::MissingGwlbOption(GWLB_OPT_COOKIE))?,
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
