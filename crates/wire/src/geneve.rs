//! GENEVE (RFC 8926) header and option TLV views, in the smoltcp `Packet` style.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Ver|  Opt Len  |O|C|    Rsvd.  |          Protocol Type        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |        Virtual Network Identifier (VNI)       |    Reserved   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Variable-Length Options                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!
//! Option:
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Option Class         |      Type     |R|R|R| Length  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                 Variable-Length Option Data                   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use core::fmt;

use crate::error::{Error, Result};
use crate::gwlb::Vni;
use crate::{AWS_OPTION_CLASS, ETHERTYPE_IPV4, ETHERTYPE_IPV6};

/// Byte offsets of the GENEVE header fields.
mod field {
    pub type Field = core::ops::Range<usize>;
    /// ver:2 | opt_len:6 (4-byte words).
    pub const VER_OPTLEN: usize = 0;
    /// O | C | reserved:6.
    pub const FLAGS: usize = 1;
    pub const PROTOCOL: Field = 2..4;
    pub const VNI: Field = 4..7;
    pub const RESERVED: usize = 7;
    pub const OPTIONS: usize = 8;
}

/// Byte offsets of the option TLV fields.
mod opt_field {
    pub type Field = core::ops::Range<usize>;
    pub const CLASS: Field = 0..2;
    pub const TYPE: usize = 2;
    /// rsvd:3 | length:5 (4-byte words of data).
    pub const LENGTH: usize = 3;
    pub const DATA: usize = 4;
}

/// Length of the fixed GENEVE header.
pub const HEADER_LEN: usize = field::OPTIONS;
/// Largest option area: opt_len is 6 bits of 4-byte words (RFC 8926: 252 bytes).
pub const MAX_OPTIONS_LEN: usize = 63 * 4;
/// Length of an option TLV header (class, type, length).
pub const OPTION_HEADER_LEN: usize = opt_field::DATA;
/// The OAM (O) flag in the flags byte.
pub const FLAG_OAM: u8 = 0x80;
/// The critical-options-present (C) flag in the flags byte.
pub const FLAG_CRITICAL: u8 = 0x40;
/// The critical bit of an option type.
pub const OPTION_TYPE_CRITICAL: u8 = 0x80;

/// A read/write view of a GENEVE header followed by its payload.
///
/// [`GenevePacket::check_len`] is the only bounds check: after it returned `Ok(())`, no accessor
/// panics. Accessors of the fixed header need 8 bytes; `options`/`payload` also need the option area.
/// [`GenevePacket::options`] and [`fmt::Display`] never panic, checked or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenevePacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> GenevePacket<T> {
    /// Wraps a buffer without checking its length (use on output buffers).
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps a buffer and checks that it holds the whole header (use on input).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// `Err(Error::Truncated)` if the buffer is shorter than 8 bytes or than 8 + 4 * opt_len bytes.
    /// After `Ok(())` no accessor panics. Does not look at the version or the options.
    pub fn check_len(&self) -> Result<()> {
        let data = self.buffer.as_ref();
        if data.len() < HEADER_LEN || data.len() < self.header_len() {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    /// Consumes the view, returning the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The version (2 bits; 0 is the only version defined).
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_OPTLEN] >> 6
    }

    /// The option length in 4-byte words (6 bits).
    pub fn opt_len(&self) -> u8 {
        self.buffer.as_ref()[field::VER_OPTLEN] & 0x3f
    }

    /// The option area length in bytes (4 * opt_len, at most 252).
    pub fn options_len(&self) -> usize {
        usize::from(self.opt_len()) * 4
    }

    /// Header length in bytes including options: 8 + 4 * opt_len. Never panics (0 bytes: 8).
    pub fn header_len(&self) -> usize {
        let opt_len = self
            .buffer
            .as_ref()
            .get(field::VER_OPTLEN)
            .map_or(0, |b| b & 0x3f);
        HEADER_LEN + usize::from(opt_len) * 4
    }

    /// The flags byte as received: O (0x80), C (0x40), 6 reserved bits.
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }

    /// The OAM (control packet) flag.
    pub fn oam(&self) -> bool {
        self.flags() & FLAG_OAM != 0
    }

    /// The critical-options-present flag.
    pub fn critical(&self) -> bool {
        self.flags() & FLAG_CRITICAL != 0
    }

    /// The protocol type of the payload (an EtherType: 0x0800 or 0x86DD from GWLB).
    pub fn protocol(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::PROTOCOL];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// The 24-bit virtual network identifier.
    pub fn vni(&self) -> Vni {
        let b = &self.buffer.as_ref()[field::VNI];
        Vni(u32::from_be_bytes([0, b[0], b[1], b[2]]))
    }

    /// The reserved byte after the VNI.
    pub fn reserved(&self) -> u8 {
        self.buffer.as_ref()[field::RESERVED]
    }

    /// The option area bytes (clamped to the buffer, so it never panics).
    pub fn options_bytes(&self) -> &[u8] {
        let data = self.buffer.as_ref();
        let end = self.header_len().min(data.len());
        data.get(field::OPTIONS..end).unwrap_or(&[])
    }

    /// An iterator over the options; it yields `Err` once and stops at the first malformed option.
    /// Never panics, even on an unchecked packet (it walks what the buffer holds).
    pub fn options(&self) -> GeneveOptions<'_> {
        GeneveOptions::new(self.options_bytes())
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> GenevePacket<&'a T> {
    /// The payload after the header and options (the inner packet). Needs `check_len`.
    pub fn payload(&self) -> &'a [u8] {
        let data = self.buffer.as_ref();
        &data[self.header_len()..]
    }

    /// The option area with the lifetime of the buffer. Never panics.
    pub fn options_slice(&self) -> &'a [u8] {
        let data = self.buffer.as_ref();
        let end = self.header_len().min(data.len());
        data.get(field::OPTIONS..end).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> GenevePacket<T> {
    /// Sets the version (low 2 bits of `version`).
    pub fn set_version(&mut self, version: u8) {
        let b = &mut self.buffer.as_mut()[field::VER_OPTLEN];
        *b = (*b & 0x3f) | ((version & 0x03) << 6);
    }

    /// Sets the option length in 4-byte words (low 6 bits of `words`).
    pub fn set_opt_len(&mut self, words: u8) {
        let b = &mut self.buffer.as_mut()[field::VER_OPTLEN];
        *b = (*b & 0xc0) | (words & 0x3f);
    }

    /// Sets the whole flags byte.
    pub fn set_flags(&mut self, flags: u8) {
        self.buffer.as_mut()[field::FLAGS] = flags;
    }

    /// Sets the protocol type.
    pub fn set_protocol(&mut self, protocol: u16) {
        self.buffer.as_mut()[field::PROTOCOL].copy_from_slice(&protocol.to_be_bytes());
    }

    /// Sets the VNI (the low 24 bits of `vni`).
    pub fn set_vni(&mut self, vni: Vni) {
        let b = vni.0.to_be_bytes();
        self.buffer.as_mut()[field::VNI].copy_from_slice(&b[1..]);
    }

    /// Sets the reserved byte after the VNI.
    pub fn set_reserved(&mut self, reserved: u8) {
        self.buffer.as_mut()[field::RESERVED] = reserved;
    }

    /// The option area, writable. Needs `check_len`.
    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = self.header_len();
        &mut self.buffer.as_mut()[field::OPTIONS..end]
    }

    /// The payload, writable. Needs `check_len`.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        &mut self.buffer.as_mut()[start..]
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for GenevePacket<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// A name for the EtherTypes GWLB uses, for Display.
fn protocol_name(protocol: u16) -> &'static str {
    match protocol {
        ETHERTYPE_IPV4 => "IPv4",
        ETHERTYPE_IPV6 => "IPv6",
        0x6558 => "TEB",
        _ => "unknown",
    }
}

/// One-line, tcpdump-style: `Geneve, Flags [none], vni 0x0, proto IPv4 (0x0800), options [...]`.
/// Never panics: a short buffer prints as truncated, a malformed option as `[|geneve]`.
impl<T: AsRef<[u8]>> fmt::Display for GenevePacket<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.check_len().is_err() {
            return write!(f, "Geneve [|geneve] ({} bytes)", self.buffer.as_ref().len());
        }
        write!(f, "Geneve")?;
        if self.version() != 0 {
            write!(f, " ver {}", self.version())?;
        }
        let flags = match (self.oam(), self.critical()) {
            (false, false) => "none",
            (true, false) => "O",
            (false, true) => "C",
            (true, true) => "O,C",
        };
        write!(
            f,
            ", Flags [{flags}], vni {:#x}, proto {} ({:#06x}), options [",
            self.vni().0,
            protocol_name(self.protocol()),
            self.protocol()
        )?;
        for (i, option) in self.options().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            match option {
                Ok(option) => write!(f, "{option}")?,
                Err(_) => write!(f, "[|geneve]")?,
            }
        }
        write!(f, "]")
    }
}

/// A read/write view of one GENEVE option TLV.
///
/// [`GeneveOption::check_len`] is the only bounds check: after `Ok(())` no accessor panics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GeneveOption<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> GeneveOption<T> {
    /// Wraps a buffer without checking its length.
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps a buffer and checks that it holds the option header and its data.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let option = Self::new_unchecked(buffer);
        option.check_len()?;
        Ok(option)
    }

    /// `Err(Error::OptionOverrun)` if the buffer is shorter than 4 bytes or than 4 + 4 * length.
    pub fn check_len(&self) -> Result<()> {
        let data = self.buffer.as_ref();
        if data.len() < OPTION_HEADER_LEN || data.len() < self.total_len() {
            Err(Error::OptionOverrun)
        } else {
            Ok(())
        }
    }

    /// Consumes the view, returning the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The option class (0x0108 for AWS).
    pub fn class(&self) -> u16 {
        let b = &self.buffer.as_ref()[opt_field::CLASS];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// The option type, including the critical bit (0x80).
    pub fn option_type(&self) -> u8 {
        self.buffer.as_ref()[opt_field::TYPE]
    }

    /// Whether the critical bit of the type is set.
    pub fn critical(&self) -> bool {
        self.option_type() & OPTION_TYPE_CRITICAL != 0
    }

    /// The three reserved bits before the length.
    pub fn reserved(&self) -> u8 {
        self.buffer.as_ref()[opt_field::LENGTH] >> 5
    }

    /// The data length in 4-byte words (5 bits), not counting the 4-byte option header.
    pub fn length(&self) -> u8 {
        self.buffer.as_ref()[opt_field::LENGTH] & 0x1f
    }

    /// The data length in bytes (4 * length).
    pub fn data_len(&self) -> usize {
        usize::from(self.length()) * 4
    }

    /// The whole option length in bytes, header included. Never panics (0 bytes: 4).
    pub fn total_len(&self) -> usize {
        let words = self
            .buffer
            .as_ref()
            .get(opt_field::LENGTH)
            .map_or(0, |b| b & 0x1f);
        OPTION_HEADER_LEN + usize::from(words) * 4
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> GeneveOption<&'a T> {
    /// The option data (4 * length bytes).
    pub fn data(&self) -> &'a [u8] {
        let data = self.buffer.as_ref();
        &data[opt_field::DATA..self.total_len()]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> GeneveOption<T> {
    /// Sets the option class.
    pub fn set_class(&mut self, class: u16) {
        self.buffer.as_mut()[opt_field::CLASS].copy_from_slice(&class.to_be_bytes());
    }

    /// Sets the option type (including the critical bit).
    pub fn set_option_type(&mut self, option_type: u8) {
        self.buffer.as_mut()[opt_field::TYPE] = option_type;
    }

    /// Sets the three reserved bits (low 3 bits of `reserved`).
    pub fn set_reserved(&mut self, reserved: u8) {
        let b = &mut self.buffer.as_mut()[opt_field::LENGTH];
        *b = (*b & 0x1f) | ((reserved & 0x07) << 5);
    }

    /// Sets the data length in 4-byte words (low 5 bits of `words`).
    pub fn set_length(&mut self, words: u8) {
        let b = &mut self.buffer.as_mut()[opt_field::LENGTH];
        *b = (*b & 0xe0) | (words & 0x1f);
    }

    /// The option data, writable. Needs `check_len`.
    pub fn data_mut(&mut self) -> &mut [u8] {
        let end = self.total_len();
        &mut self.buffer.as_mut()[opt_field::DATA..end]
    }
}

/// `class 0x0108 type 0x1 len 12 data 0123456789abcdef` (tcpdump style; data in hex, at most 32
/// bytes shown). Never panics.
impl<T: AsRef<[u8]>> fmt::Display for GeneveOption<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.buffer.as_ref();
        if self.check_len().is_err() {
            return write!(f, "[|geneve option] ({} bytes)", bytes.len());
        }
        let class = self.class();
        let name = if class == AWS_OPTION_CLASS {
            " AWS"
        } else {
            ""
        };
        write!(
            f,
            "class{name} {class:#06x} type {:#x}{} len {}",
            self.option_type(),
            if self.critical() { "(C)" } else { "" },
            self.total_len()
        )?;
        let data = bytes.get(opt_field::DATA..self.total_len()).unwrap_or(&[]);
        if !data.is_empty() {
            write!(f, " data ")?;
            for b in data.iter().take(32) {
                write!(f, "{b:02x}")?;
            }
            if data.len() > 32 {
                write!(f, "..")?;
            }
        }
        Ok(())
    }
}

/// Iterator over the options of a GENEVE option area.
///
/// Yields each option as a view over exactly its bytes. If an option's length runs past the end of
/// the area (or fewer than 4 bytes remain), it yields `Err(Error::OptionOverrun)` once and then stops
/// (smoltcp's `Ipv6OptionsIterator::hit_error`). Zero-length options are valid and yielded.
#[derive(Debug, Clone)]
pub struct GeneveOptions<'a> {
    rest: &'a [u8],
    hit_error: bool,
}

impl<'a> GeneveOptions<'a> {
    /// Iterates the options in `area` (the option area of a GENEVE header, any length).
    pub const fn new(area: &'a [u8]) -> Self {
        Self {
            rest: area,
            hit_error: false,
        }
    }

    /// Whether the iterator stopped at a malformed option.
    pub const fn hit_error(&self) -> bool {
        self.hit_error
    }
}

impl<'a> Iterator for GeneveOptions<'a> {
    type Item = Result<GeneveOption<&'a [u8]>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.hit_error || self.rest.is_empty() {
            return None;
        }
        let total = GeneveOption::new_unchecked(self.rest).total_len();
        match self.rest.split_at_checked(total) {
            Some((this, rest)) if self.rest.len() >= OPTION_HEADER_LEN => {
                self.rest = rest;
                Some(Ok(GeneveOption::new_unchecked(this)))
            }
            _ => {
                self.hit_error = true;
                self.rest = &[];
                Some(Err(Error::OptionOverrun))
            }
        }
    }
}

impl core::iter::FusedIterator for GeneveOptions<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::GWLB_IPV4_TCP;

    /// The GENEVE header and options of [`GWLB_IPV4_TCP`].
    fn header() -> &'static [u8] {
        &GWLB_IPV4_TCP[..40]
    }

    #[test]
    fn test_deconstruct() {
        let pkt = GenevePacket::new_checked(&GWLB_IPV4_TCP[..]).unwrap();
        assert_eq!(pkt.version(), 0);
        assert_eq!(pkt.opt_len(), 8);
        assert_eq!(pkt.options_len(), 32);
        assert_eq!(pkt.header_len(), 40);
        assert_eq!(pkt.flags(), 0);
        assert!(!pkt.oam());
        assert!(!pkt.critical());
        assert_eq!(pkt.protocol(), 0x0800);
        assert_eq!(pkt.vni(), Vni(0));
        assert_eq!(pkt.reserved(), 0);
        assert_eq!(pkt.options_bytes(), &GWLB_IPV4_TCP[8..40]);
        assert_eq!(pkt.payload(), &GWLB_IPV4_TCP[40..]);

        let options: Vec<_> = pkt.options().map(|o| o.unwrap()).collect();
        assert_eq!(options.len(), 3);
        let summary: Vec<_> = options
            .iter()
            .map(|o| (o.class(), o.option_type(), o.length(), o.data()))
            .collect();
        assert_eq!(
            summary,
            vec![
                (0x0108, 1, 2, &GWLB_IPV4_TCP[12..20]),
                (0x0108, 2, 2, &GWLB_IPV4_TCP[24..32]),
                (0x0108, 3, 1, &GWLB_IPV4_TCP[36..40]),
            ]
        );
    }

    #[test]
    fn test_deconstruct_nonzero_fields() {
        let bytes = [
            0x81, 0xc0, 0x65, 0x58, 0xab, 0xcd, 0xef, 0x5a, 0x00, 0x00, 0x7f, 0x00,
        ];
        let pkt = GenevePacket::new_checked(&bytes[..]).unwrap();
        assert_eq!(pkt.version(), 2);
        assert_eq!(pkt.opt_len(), 1);
        assert_eq!(pkt.header_len(), 12);
        assert!(pkt.oam());
        assert!(pkt.critical());
        assert_eq!(pkt.protocol(), 0x6558);
        assert_eq!(pkt.vni(), Vni(0xabcdef));
        assert_eq!(pkt.reserved(), 0x5a);
        assert!(pkt.payload().is_empty());
    }

    #[test]
    fn test_construct() {
        let mut bytes = [0xffu8; 40];
        let mut pkt = GenevePacket::new_unchecked(&mut bytes[..]);
        pkt.set_version(0);
        pkt.set_opt_len(8);
        pkt.set_flags(0);
        pkt.set_protocol(0x0800);
        pkt.set_vni(Vni(0));
        pkt.set_reserved(0);
        let opts = pkt.options_mut();
        let (o1, rest) = opts.split_at_mut(12);
        let (o2, o3) = rest.split_at_mut(12);
        for (buf, ty, data) in [
            (o1, 1, &GWLB_IPV4_TCP[12..20]),
            (o2, 2, &GWLB_IPV4_TCP[24..32]),
            (o3, 3, &GWLB_IPV4_TCP[36..40]),
        ] {
            let mut opt = GeneveOption::new_unchecked(buf);
            opt.set_class(0x0108);
            opt.set_option_type(ty);
            opt.set_reserved(0);
            opt.set_length((data.len() / 4) as u8);
            opt.data_mut().copy_from_slice(data);
        }
        assert_eq!(&bytes[..], header());
    }

    #[test]
    fn test_setters_keep_neighbouring_bits() {
        let mut bytes = [0u8; 12];
        let mut pkt = GenevePacket::new_unchecked(&mut bytes[..]);
        pkt.set_opt_len(0xff);
        pkt.set_version(0xff);
        assert_eq!(pkt.opt_len(), 0x3f);
        assert_eq!(pkt.version(), 3);
        pkt.set_opt_len(1);
        assert_eq!(pkt.version(), 3);
        pkt.set_vni(Vni(0xff12_3456));
        assert_eq!(pkt.vni(), Vni(0x12_3456));
        pkt.set_reserved(0x77);
        assert_eq!(pkt.vni(), Vni(0x12_3456));
        pkt.payload_mut();
        assert_eq!(pkt.options_mut().len(), 4);

        let mut opt_bytes = [0u8; 4];
        let mut opt = GeneveOption::new_unchecked(&mut opt_bytes[..]);
        opt.set_length(0xff);
        opt.set_reserved(0xff);
        assert_eq!(opt.length(), 0x1f);
        assert_eq!(opt.reserved(), 7);
        opt.set_length(0);
        assert_eq!(opt.reserved(), 7);
        assert_eq!(opt_bytes[3], 0xe0);
    }

    #[test]
    fn test_truncated() {
        for len in 0..8 {
            assert_eq!(
                GenevePacket::new_checked(&GWLB_IPV4_TCP[..len]).unwrap_err(),
                Error::Truncated,
                "len {len}"
            );
        }
        for len in 8..40 {
            assert_eq!(
                GenevePacket::new_checked(&GWLB_IPV4_TCP[..len]).unwrap_err(),
                Error::Truncated,
                "len {len}"
            );
        }
        let pkt = GenevePacket::new_checked(&GWLB_IPV4_TCP[..40]).unwrap();
        assert!(pkt.payload().is_empty());
        // Largest option area: 8 + 252 bytes.
        let mut big = [0u8; 8 + MAX_OPTIONS_LEN];
        big[0] = 0x3f;
        assert_eq!(
            GenevePacket::new_checked(&big[..259]).unwrap_err(),
            Error::Truncated
        );
        assert_eq!(
            GenevePacket::new_checked(&big[..]).unwrap().header_len(),
            260
        );
    }

    #[test]
    fn test_unchecked_never_panics_in_safe_accessors() {
        let short = GenevePacket::new_unchecked(&GWLB_IPV4_TCP[..13]);
        assert_eq!(short.header_len(), 40);
        assert_eq!(short.options_bytes(), &GWLB_IPV4_TCP[8..13]);
        assert_eq!(
            short.options().collect::<Vec<_>>(),
            vec![Err(Error::OptionOverrun)]
        );
        let empty = GenevePacket::new_unchecked(&[][..]);
        assert_eq!(empty.header_len(), 8);
        assert!(empty.options_bytes().is_empty());
        assert_eq!(empty.options().count(), 0);
        assert_eq!(empty.to_string(), "Geneve [|geneve] (0 bytes)");
    }

    #[test]
    fn test_display() {
        let pkt = GenevePacket::new_checked(&GWLB_IPV4_TCP[..]).unwrap();
        assert_eq!(
            pkt.to_string(),
            "Geneve, Flags [none], vni 0x0, proto IPv4 (0x0800), options [\
             class AWS 0x0108 type 0x1 len 12 data 0a1b2c3d4e5f6071, \
             class AWS 0x0108 type 0x2 len 12 data 8091a2b3c4d5e6f7, \
             class AWS 0x0108 type 0x3 len 8 data deadbeef]"
        );
        let odd = [0x41, 0xc0, 0x12, 0x34, 0, 0, 1, 0, 0x00, 0x00, 0x80, 0x02];
        assert_eq!(
            GenevePacket::new_unchecked(&odd[..]).to_string(),
            "Geneve ver 1, Flags [O,C], vni 0x1, proto unknown (0x1234), options [[|geneve]]"
        );
        let opt = GeneveOption::new_unchecked(&[0x12, 0x34, 0x85, 0x00][..]);
        assert_eq!(opt.to_string(), "class 0x1234 type 0x85(C) len 4");
        let long = [0u8; 4 + 124];
        let mut long = long;
        long[3] = 31;
        let s = GeneveOption::new_unchecked(&long[..]).to_string();
        assert!(s.ends_with(&format!(" data {}..", "00".repeat(32))), "{s}");
        assert_eq!(
            GeneveOption::new_unchecked(&[0u8, 1, 2][..]).to_string(),
            "[|geneve option] (3 bytes)"
        );
    }

    #[test]
    fn test_option_view() {
        let bytes = [0x01, 0x08, 0x81, 0xe1, 0xaa, 0xbb, 0xcc, 0xdd, 0xee];
        let opt = GeneveOption::new_checked(&bytes[..8]).unwrap();
        assert_eq!(opt.class(), 0x0108);
        assert_eq!(opt.option_type(), 0x81);
        assert!(opt.critical());
        assert_eq!(opt.reserved(), 7);
        assert_eq!(opt.length(), 1);
        assert_eq!(opt.data_len(), 4);
        assert_eq!(opt.total_len(), 8);
        assert_eq!(opt.data(), &[0xaa, 0xbb, 0xcc, 0xdd]);
        assert_eq!(
            GeneveOption::new_checked(&bytes[..7]).unwrap_err(),
            Error::OptionOverrun
        );
        assert_eq!(
            GeneveOption::new_checked(&bytes[..3]).unwrap_err(),
            Error::OptionOverrun
        );
        // A longer buffer is fine; data stops at the option's own length.
        assert_eq!(
            GeneveOption::new_checked(&bytes[..]).unwrap().data().len(),
            4
        );
    }

    fn collect(area: &[u8]) -> Vec<Result<(u16, u8, usize)>> {
        GeneveOptions::new(area)
            .map(|o| o.map(|o| (o.class(), o.option_type(), o.data().len())))
            .collect()
    }

    #[test]
    fn test_options_zero_length() {
        let area = [0x00, 0x01, 0x05, 0x00, 0xff, 0xff, 0x06, 0x00];
        assert_eq!(collect(&area), vec![Ok((1, 5, 0)), Ok((0xffff, 6, 0))]);
        assert!(collect(&[]).is_empty());
    }

    #[test]
    fn test_options_ending_exactly_at_end() {
        let area = [
            0x00, 0x01, 0x05, 0x01, 1, 2, 3, 4, 0x00, 0x02, 0x06, 0x02, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        assert_eq!(collect(&area), vec![Ok((1, 5, 4)), Ok((2, 6, 8))]);
    }

    #[test]
    fn test_options_overrun_by_one_word() {
        // The second option claims 2 words of data, only 1 is there.
        let area = [0x00, 0x01, 0x05, 0x00, 0x00, 0x02, 0x06, 0x02, 0, 0, 0, 0];
        let mut it = GeneveOptions::new(&area);
        assert_eq!(it.next().map(|o| o.map(|o| o.class())), Some(Ok(1)));
        assert!(!it.hit_error());
        assert_eq!(
            it.next().map(|o| o.map(|o| o.class())),
            Some(Err(Error::OptionOverrun))
        );
        assert!(it.hit_error());
        assert!(it.next().is_none());
        assert!(it.next().is_none());
    }

    #[test]
    fn test_options_stop_after_first_error() {
        // A ragged tail (not a multiple of 4) after a good option is an overrun, reported once.
        let area = [0x00, 0x01, 0x05, 0x00, 0x00, 0x02];
        assert_eq!(
            collect(&area),
            vec![Ok((1, 5, 0)), Err(Error::OptionOverrun)]
        );
        // Option data length runs past the GENEVE option area into the payload: still an overrun.
        let mut datagram = [0u8; 8 + 4 + 8];
        datagram[0] = 0x01; // opt_len 1: the area is 4 bytes
        datagram[8..12].copy_from_slice(&[0x00, 0x07, 0x01, 0x01]);
        let pkt = GenevePacket::new_checked(&datagram[..]).unwrap();
        assert_eq!(
            pkt.options().collect::<Vec<_>>(),
            vec![Err(Error::OptionOverrun)]
        );
    }

    #[test]
    fn test_options_252_byte_area() {
        // 8 options of 4 + 28 bytes (length 7) = 256 > 252, so: 7 of them (224) + one of 28 (length 6).
        let mut area = [0u8; MAX_OPTIONS_LEN];
        for i in 0..7 {
            area[i * 32..i * 32 + 4].copy_from_slice(&[0x00, i as u8, 0x10, 0x07]);
        }
        area[224..228].copy_from_slice(&[0x00, 0x07, 0x10, 0x06]);
        let got = collect(&area);
        assert_eq!(got.len(), 8);
        assert!(got.iter().all(|o| o.is_ok()));
        assert_eq!(got[7], Ok((7, 0x10, 24)));
        // One maximal option (length 31: 128 bytes) plus the rest.
        let mut area = [0u8; MAX_OPTIONS_LEN];
        area[..4].copy_from_slice(&[0x00, 0x01, 0x01, 31]);
        area[128..132].copy_from_slice(&[0x00, 0x02, 0x01, 30]);
        assert_eq!(collect(&area), vec![Ok((1, 1, 124)), Ok((2, 1, 120))]);
        // The same at the end of a whole datagram with opt_len 63.
        let mut datagram = [0u8; 8 + MAX_OPTIONS_LEN];
        datagram[0] = 63;
        datagram[8..].copy_from_slice(&area);
        let pkt = GenevePacket::new_checked(&datagram[..]).unwrap();
        assert_eq!(pkt.options().count(), 2);
        assert!(pkt.payload().is_empty());
    }
}
