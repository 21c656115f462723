//! Header keywords (ttl, tos, id, flags, fragbits, fragoffset, ipopts, itype, icode, icmp_id,
//! icmp_seq, ip_proto, ack, seq, window, sameip, dsize), compiled from the AST and evaluated on a
//! [`View`] with Suricata 7's semantics (which packets each applies to, modifiers, masks).

use seawall_rules::ast::{Flags, Fragbits, IpProto, RuleOption, Uint};

use crate::packet::{ipopt, View, FRAG_DF, FRAG_MF, FRAG_RF, L4};

/// Flag modifiers shared by `flags` and `fragbits`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Modifier {
    Exact,
    Plus,
    Any,
    Not,
}

impl Modifier {
    fn from(c: Option<char>) -> Modifier {
        match c {
            Some('+') => Modifier::Plus,
            Some('*') => Modifier::Any,
            Some('!') => Modifier::Not,
            _ => Modifier::Exact,
        }
    }
}

/// One compiled header check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HeaderCheck {
    Ttl(Uint),
    Tos(Uint),
    Id(Uint),
    Flags {
        modifier: Modifier,
        flags: u8,
        keep: u8,
    },
    Fragbits {
        modifier: Modifier,
        bits: u8,
    },
    FragOffset(Uint),
    Ipopts(u16),
    Itype(Uint),
    Icode(Uint),
    IcmpId(u16),
    IcmpSeq(u16),
    IpProto(IpProto),
    Ack(u32),
    Seq(u32),
    Window {
        negated: bool,
        value: u16,
    },
    Sameip,
    Dsize(Uint),
}

fn tcp_flag_bits(s: &str) -> u8 {
    s.chars().fold(0u8, |acc, c| {
        acc | match c {
            'F' => 0x01,
            'S' => 0x02,
            'R' => 0x04,
            'P' => 0x08,
            'A' => 0x10,
            'U' => 0x20,
            'E' => 0x40,
            'C' => 0x80,
            _ => 0,
        }
    })
}

impl HeaderCheck {
    /// Compile a header option; `Ok(None)` when `o` is not a header keyword, `Err(keyword)` when
    /// it is one the engine cannot honour as Suricata does.
    pub(crate) fn compile(o: &RuleOption) -> Result<Option<HeaderCheck>, &'static str> {
        Ok(Some(match o {
            RuleOption::Ttl(u) => HeaderCheck::Ttl(*u),
            RuleOption::Tos(u) => HeaderCheck::Tos(*u),
            RuleOption::Id(u) => HeaderCheck::Id(*u),
            RuleOption::Flags(Flags {
                modifier,
                flags,
                mask,
            }) => HeaderCheck::Flags {
                modifier: Modifier::from(*modifier),
                flags: tcp_flag_bits(flags),
                keep: !mask.as_deref().map_or(0, tcp_flag_bits),
            },
            RuleOption::Fragbits(Fragbits { modifier, bits }) => HeaderCheck::Fragbits {
                modifier: Modifier::from(*modifier),
                bits: bits.chars().fold(0, |a, c| {
                    a | match c {
                        'M' => FRAG_MF,
                        'D' => FRAG_DF,
                        'R' => FRAG_RF,
                        _ => 0,
                    }
                }),
            },
            RuleOption::FragOffset(u) => HeaderCheck::FragOffset(*u),
            RuleOption::Ipopts(name) => HeaderCheck::Ipopts(match name.as_str() {
                "rr" => ipopt::RR,
                "lsrr" => ipopt::LSRR,
                "eol" => ipopt::EOL,
                "nop" => ipopt::NOP,
                "ts" => ipopt::TS,
                "sec" => ipopt::SEC,
                "esec" => ipopt::ESEC,
                "ssrr" => ipopt::SSRR,
                "satid" => ipopt::SID,
                // Suricata 7 requires every option bit for `any`: it never matches in practice.
                "any" => 0xffff,
                _ => return Err("ipopts"),
            }),
            RuleOption::Itype(u) => HeaderCheck::Itype(*u),
            RuleOption::Icode(u) => HeaderCheck::Icode(*u),
            RuleOption::IcmpId(v) => HeaderCheck::IcmpId(*v),
            RuleOption::IcmpSeq(v) => HeaderCheck::IcmpSeq(*v),
            RuleOption::IpProto(p) => HeaderCheck::IpProto(*p),
            RuleOption::Ack(v) => HeaderCheck::Ack(*v),
            RuleOption::Seq(v) => HeaderCheck::Seq(*v),
            RuleOption::Window { negated, value } => HeaderCheck::Window {
                negated: *negated,
                value: *value,
            },
            RuleOption::Sameip => HeaderCheck::Sameip,
            RuleOption::Dsize(u) => HeaderCheck::Dsize(*u),
            _ => return Ok(None),
        }))
    }

    /// Whether the packet satisfies the check.
    pub(crate) fn matches(&self, v: &View<'_>) -> bool {
        match self {
            HeaderCheck::Ttl(u) => u.matches(u64::from(v.ttl)),
            HeaderCheck::Tos(u) => v.v4 && u.matches(u64::from(v.tos)),
            HeaderCheck::Id(u) => v.ip_id.is_some_and(|id| u.matches(u64::from(id))),
            HeaderCheck::Flags {
                modifier,
                flags,
                keep,
            } => match v.l4 {
                L4::Tcp { flags: p, .. } => flags_match(p, *modifier, *flags, *keep),
                _ => false,
            },
            HeaderCheck::Fragbits { modifier, bits } => {
                v.v4 && fragbits_match(v.fragbits, *modifier, *bits)
            }
            HeaderCheck::FragOffset(u) => v.frag_offset.is_some_and(|o| u.matches(u64::from(o))),
            HeaderCheck::Ipopts(want) => v.v4 && v.ipopts & want == *want,
            HeaderCheck::Itype(u) => match v.l4 {
                L4::Icmp { ty, .. } => u.matches(u64::from(ty)),
                _ => false,
            },
            HeaderCheck::Icode(u) => match v.l4 {
                L4::Icmp { code, .. } => u.matches(u64::from(code)),
                _ => false,
            },
            HeaderCheck::IcmpId(want) => icmp_echo_fields(v).is_some_and(|(id, _)| id == *want),
            HeaderCheck::IcmpSeq(want) => icmp_echo_fields(v).is_some_and(|(_, seq)| seq == *want),
            HeaderCheck::IpProto(IpProto { op, proto }) => match op {
                Some('!') => v.proto != *proto,
                Some('<') => v.proto < *proto,
                Some('>') => v.proto > *proto,
                _ => v.proto == *proto,
            },
            HeaderCheck::Ack(want) => matches!(v.l4, L4::Tcp { ack, .. } if ack == *want),
            HeaderCheck::Seq(want) => matches!(v.l4, L4::Tcp { seq, .. } if seq == *want),
            HeaderCheck::Window { negated, value } => match v.l4 {
                L4::Tcp { window, .. } => (window == *value) != *negated,
                _ => false,
            },
            HeaderCheck::Sameip => v.src == v.dst,
            HeaderCheck::Dsize(u) => u.matches(v.payload.len() as u64),
        }
    }
}

/// Suricata's `FlagsMatch`: `keep` is the complement of the mask of ignored flags.
fn flags_match(pflags: u8, modifier: Modifier, dflags: u8, keep: u8) -> bool {
    if dflags == 0 && pflags != 0 {
        return modifier == Modifier::Not;
    }
    let f = pflags & keep;
    match modifier {
        Modifier::Any => f & dflags != 0,
        Modifier::Plus => f & dflags == dflags,
        Modifier::Not => f & dflags != dflags,
        Modifier::Exact => f == dflags,
    }
}

/// Suricata's `FragBitsMatch` (note `+` wants at least one bit beyond those given).
fn fragbits_match(pbits: u8, modifier: Modifier, dbits: u8) -> bool {
    match modifier {
        Modifier::Any => pbits & dbits != 0,
        Modifier::Plus => pbits & dbits == dbits && pbits != dbits,
        Modifier::Not => pbits & dbits != dbits,
        Modifier::Exact => pbits == dbits,
    }
}

/// ICMP identifier and sequence for the message types that carry them (as Suricata).
fn icmp_echo_fields(v: &View<'_>) -> Option<(u16, u16)> {
    let L4::Icmp { ty, rest, .. } = v.l4 else {
        return None;
    };
    let has = if v.v4 {
        matches!(ty, 0 | 8 | 13 | 14 | 15 | 16 | 17 | 18)
    } else {
        matches!(ty, 128 | 129)
    };
    has.then(|| {
        (
            u16::from_be_bytes([rest[0], rest[1]]),
            u16::from_be_bytes([rest[2], rest[3]]),
        )
    })
}
