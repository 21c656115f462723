//! Header keywords (ttl, tos, id, flags, fragbits, fragoffset, ipopts, itype, icode, icmp_id,
//! icmp_seq, ip_proto, ack, seq, window, sameip, dsize, and the TCP session's stream_size),
//! compiled from the AST and evaluated on a [`View`] with Suricata 7's semantics (which packets
//! each applies to, modifiers, masks).

use seawall_rules::ast::{Flags, Fragbits, IpProto, RuleOption, StreamSize, Uint};

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
    StreamSize {
        side: SizeSide,
        op: SizeOp,
        value: u32,
    },
}

/// `stream_size` sides (Suricata's client/server/both/either).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SizeSide {
    Client,
    Server,
    Both,
    Either,
}

/// `stream_size` operators (Suricata's `DetectU32Match` modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SizeOp {
    Lt,
    Le,
    Eq,
    Ne,
    Ge,
    Gt,
}

impl SizeOp {
    fn holds(self, x: u32, v: u32) -> bool {
        match self {
            SizeOp::Lt => x < v,
            SizeOp::Le => x <= v,
            SizeOp::Eq => x == v,
            SizeOp::Ne => x != v,
            SizeOp::Ge => x >= v,
            SizeOp::Gt => x > v,
        }
    }
}

fn stream_size_check(s: &StreamSize) -> Result<HeaderCheck, &'static str> {
    let side = match s.side {
        "client" => SizeSide::Client,
        "server" => SizeSide::Server,
        "both" => SizeSide::Both,
        "either" => SizeSide::Either,
        _ => return Err("stream_size"),
    };
    let op = match s.op {
        "<" => SizeOp::Lt,
        "<=" => SizeOp::Le,
        "=" => SizeOp::Eq,
        "!=" => SizeOp::Ne,
        ">=" => SizeOp::Ge,
        ">" => SizeOp::Gt,
        _ => return Err("stream_size"),
    };
    Ok(HeaderCheck::StreamSize {
        side,
        op,
        value: s.value,
    })
}

/// Suricata's `DetectStreamSizeMatchAux` on sizes `[client, server]`.
fn stream_size_matches(side: SizeSide, op: SizeOp, value: u32, sizes: [u32; 2]) -> bool {
    let [client, server] = sizes;
    match side {
        SizeSide::Client => op.holds(client, value),
        SizeSide::Server => op.holds(server, value),
        SizeSide::Both => op.holds(client, value) && op.holds(server, value),
        SizeSide::Either => op.holds(client, value) || op.holds(server, value),
    }
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
            RuleOption::StreamSize(s) => stream_size_check(s)?,
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
            HeaderCheck::StreamSize { side, op, value } => {
                matches!(v.l4, L4::Tcp { .. })
                    && v.stream_size
                        .is_some_and(|s| stream_size_matches(*side, *op, *value, s))
            }
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

#[cfg(test)]
mod tests {
    use seawall_flow::{Direction, Segment, StreamConfig, StreamPool, StreamTracker, Timestamp};
    use seawall_rules::keywords::flow::parse_stream_size;
    use seawall_wire::TcpFlags;

    use super::*;

    fn check(text: &str) -> (SizeSide, SizeOp, u32) {
        let s = parse_stream_size(text).expect("valid stream_size");
        match stream_size_check(&s) {
            Ok(HeaderCheck::StreamSize { side, op, value }) => (side, op, value),
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn stream_size_sides_and_operators() {
        // (keyword value, [client, server] sizes, matches)
        let table: &[(&str, [u32; 2], bool)] = &[
            ("client,<,5", [4, 100], true),
            ("client,<,5", [5, 0], false),
            ("client,<=,5", [5, 0], true),
            ("server,>,100", [0, 101], true),
            ("server,>,100", [1000, 100], false),
            ("server,>=,100", [0, 100], true),
            ("client,=,1", [1, 7], true),
            ("client,!=,1", [1, 7], false),
            ("both,>,10", [11, 12], true),
            ("both,>,10", [11, 10], false),
            ("either,>,10", [1, 11], true),
            ("either,>,10", [10, 10], false),
            ("either,<,2", [1, 500], true),
        ];
        for (text, sizes, want) in table {
            let (side, op, value) = check(text);
            assert_eq!(
                stream_size_matches(side, op, value, *sizes),
                *want,
                "{text} on {sizes:?}"
            );
        }
    }

    /// Sizes as Suricata computes them from the session's sequence numbers (`next_seq - isn`):
    /// the SYN counts one, in-order data its length, an out-of-order segment nothing until the
    /// hole is filled, and an in-order FIN one.
    #[test]
    fn stream_sizes_follow_next_seq_minus_isn() {
        let mut pool = StreamPool::new(StreamConfig::replay());
        let mut t = StreamTracker::new();
        let ts = Timestamp::from_secs(1);
        let f = |s: &str| {
            TcpFlags(s.chars().fold(0u8, |a, c| {
                a | match c {
                    'F' => TcpFlags::FIN,
                    'S' => TcpFlags::SYN,
                    'A' => TcpFlags::ACK,
                    'P' => TcpFlags::PSH,
                    _ => 0,
                }
            }))
        };
        let (cs, ss) = (1000u32, 5000u32);
        let (ts_, tc) = (Direction::ToServer, Direction::ToClient);
        // (direction, flags, seq, ack, payload, [client, server] after it)
        type Step<'a> = (Direction, &'a str, u32, u32, &'a [u8], [u32; 2]);
        let steps: &[Step<'_>] = &[
            (ts_, "S", cs, 0, b"", [1, 0]),
            (tc, "SA", ss, cs + 1, b"", [1, 1]),
            (ts_, "A", cs + 1, ss + 1, b"", [1, 1]),
            (ts_, "AP", cs + 1, ss + 1, b"abc", [4, 1]),
            // Out of order: bytes 4..6 of the server before 1..3.
            (tc, "AP", ss + 4, cs + 4, b"xyz", [4, 1]),
            (tc, "AP", ss + 1, cs + 4, b"MZ!", [4, 7]),
            (ts_, "FA", cs + 4, ss + 7, b"", [5, 7]),
        ];
        for (i, (dir, fl, seq, ack, payload, want)) in steps.iter().enumerate() {
            let seg = Segment::from_tcp(*seq, *ack, f(fl), &[], payload);
            let _ = t.on_segment(&mut pool, ts, *dir, &seg);
            assert_eq!([t.seq_size(ts_), t.seq_size(tc)], *want, "step {i} ({fl})");
        }
    }
}
