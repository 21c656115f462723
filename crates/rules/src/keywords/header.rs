//! Packet-header and protocol keywords: `flags`, `fragbits`, `ipopts`, `ip_proto`,
//! `app-layer-protocol`, `tls.version`, `ssl_version`, `ssl_state`.

use std::fmt;

use super::uint::parse_u64;
use super::{KwError, KwResult};
use crate::diag::DiagKind;

/// `flags:[+*!]FSRPAUCE0[,mask]` (`1`/`2` are accepted for `C`/`E`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Flags {
    /// `+` (all plus any others), `*` (any), `!` (none of), or none (exactly).
    pub modifier: Option<char>,
    /// Flag letters, normalised (`1`→`C`, `2`→`E`).
    pub flags: String,
    /// Flags to ignore.
    pub mask: Option<String>,
}

fn flag_letters(s: &str, allow_zero: bool) -> KwResult<String> {
    let mut out = String::new();
    for c in s.chars() {
        let n = match c.to_ascii_uppercase() {
            '1' => 'C',
            '2' => 'E',
            c @ ('F' | 'S' | 'R' | 'P' | 'A' | 'U' | 'C' | 'E') => c,
            '0' if allow_zero => '0',
            _ => return Err(KwError::bad(format!("invalid tcp flag `{c}`"))),
        };
        if out.contains(n) {
            return Err(KwError::bad(format!("tcp flag `{n}` given twice")));
        }
        out.push(n);
    }
    if out.is_empty() {
        return Err(KwError::bad("no tcp flags given".to_string()));
    }
    if out.len() > 1 && out.contains('0') {
        return Err(KwError::bad(
            "`0` cannot be combined with other flags".to_string(),
        ));
    }
    Ok(out)
}

/// Parse `flags:`.
pub fn parse_flags(v: &str) -> KwResult<Flags> {
    let (main, mask) = match v.split_once(',') {
        Some((m, k)) => (m.trim(), Some(flag_letters(k.trim(), false)?)),
        None => (v.trim(), None),
    };
    let (modifier, letters) = match main.chars().next() {
        Some(c @ ('+' | '*' | '!')) => (Some(c), main[1..].trim()),
        _ => (None, main),
    };
    let (modifier, letters) = match (modifier, letters.chars().last()) {
        (None, Some(c @ ('+' | '*'))) => (Some(c), &letters[..letters.len() - 1]),
        other => (other.0, letters),
    };
    Ok(Flags {
        modifier,
        flags: flag_letters(letters, true)?,
        mask,
    })
}

impl fmt::Display for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(m) = self.modifier {
            write!(f, "{m}")?;
        }
        f.write_str(&self.flags)?;
        if let Some(m) = &self.mask {
            write!(f, ",{m}")?;
        }
        Ok(())
    }
}

/// `fragbits:[+*!]MDR`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fragbits {
    pub modifier: Option<char>,
    pub bits: String,
}

/// Parse `fragbits:`.
pub fn parse_fragbits(v: &str) -> KwResult<Fragbits> {
    let v = v.trim();
    let (modifier, rest) = match (v.chars().next(), v.chars().last()) {
        (Some(c @ ('+' | '*' | '!')), _) => (Some(c), v[1..].trim()),
        (_, Some(c @ ('+' | '*'))) => (Some(c), v[..v.len() - 1].trim()),
        _ => (None, v),
    };
    let mut bits = String::new();
    for c in rest.chars() {
        let c = c.to_ascii_uppercase();
        if !matches!(c, 'M' | 'D' | 'R') || bits.contains(c) {
            return Err(KwError::bad(format!("invalid fragbits `{rest}`")));
        }
        bits.push(c);
    }
    if bits.is_empty() {
        return Err(KwError::bad("no fragment bits given".to_string()));
    }
    Ok(Fragbits { modifier, bits })
}

impl fmt::Display for Fragbits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(m) = self.modifier {
            write!(f, "{m}")?;
        }
        f.write_str(&self.bits)
    }
}

/// Parse `ipopts:`.
pub fn parse_ipopts(v: &str) -> KwResult<String> {
    let v = v.trim();
    const OPTS: &[&str] = &[
        "rr", "eol", "nop", "ts", "sec", "esec", "lsrr", "lsrre", "ssrr", "satid", "any",
    ];
    if OPTS.contains(&v) {
        Ok(v.to_string())
    } else {
        Err(KwError::bad(format!("unknown ip option `{v}`")))
    }
}

/// `ip_proto:[!<>]N|name`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpProto {
    /// `!`, `<`, `>` or none.
    pub op: Option<char>,
    pub proto: u8,
}

const PROTO_NAMES: &[(&str, u8)] = &[
    ("ip", 0),
    ("hopopt", 0),
    ("icmp", 1),
    ("igmp", 2),
    ("ggp", 3),
    ("ipencap", 4),
    ("ipip", 4),
    ("st", 5),
    ("tcp", 6),
    ("egp", 8),
    ("igp", 9),
    ("pup", 12),
    ("udp", 17),
    ("hmp", 20),
    ("xns-idp", 22),
    ("rdp", 27),
    ("iso-tp4", 29),
    ("dccp", 33),
    ("xtp", 36),
    ("ddp", 37),
    ("idpr-cmtp", 38),
    ("ipv6", 41),
    ("ipv6-route", 43),
    ("ipv6-frag", 44),
    ("idrp", 45),
    ("rsvp", 46),
    ("gre", 47),
    ("esp", 50),
    ("ah", 51),
    ("skip", 57),
    ("ipv6-icmp", 58),
    ("icmpv6", 58),
    ("ipv6-nonxt", 59),
    ("ipv6-opts", 60),
    ("vmtp", 81),
    ("eigrp", 88),
    ("ospf", 89),
    ("ax.25", 93),
    ("ipip", 94),
    ("etherip", 97),
    ("encap", 98),
    ("pim", 103),
    ("ipcomp", 108),
    ("vrrp", 112),
    ("l2tp", 115),
    ("isis", 124),
    ("sctp", 132),
    ("fc", 133),
    ("mobility-header", 135),
    ("udplite", 136),
    ("mpls-in-ip", 137),
    ("manet", 138),
    ("hip", 139),
    ("shim6", 140),
    ("wesp", 141),
    ("rohc", 142),
    ("ethernet", 143),
];

/// Parse `ip_proto:`.
pub fn parse_ip_proto(v: &str) -> KwResult<IpProto> {
    let v = v.trim();
    let (op, rest) = match v.chars().next() {
        Some(c @ ('!' | '<' | '>')) => (Some(c), v[1..].trim()),
        _ => (None, v),
    };
    let proto = if rest.starts_with(|c: char| c.is_ascii_digit()) {
        parse_u64(rest, 255)? as u8
    } else {
        let lower = rest.to_ascii_lowercase();
        PROTO_NAMES
            .iter()
            .find(|(n, _)| *n == lower)
            .map(|(_, p)| *p)
            .ok_or_else(|| KwError::bad(format!("unknown protocol `{rest}`")))?
    };
    match (op, proto) {
        (Some('<'), 0) | (Some('>'), 255) => Err(KwError::bad(format!("`{v}` can never match"))),
        _ => Ok(IpProto { op, proto }),
    }
}

impl fmt::Display for IpProto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(o) = self.op {
            write!(f, "{o}")?;
        }
        write!(f, "{}", self.proto)
    }
}

/// Check an `app-layer-protocol` name.
pub fn check_app_proto(p: &str) -> KwResult<()> {
    if crate::ast::APP_PROTOS.contains(&p) || matches!(p, "failed" | "unknown") {
        Ok(())
    } else {
        Err(KwError::bad(format!("unknown application protocol `{p}`")))
    }
}

/// Parse `tls.version:` (`1.0`..`1.3`, `sslv3`, or a hex value).
pub fn parse_tls_version(v: &str) -> KwResult<u16> {
    let v = v.trim();
    Ok(match v {
        "sslv3" | "SSLv3" => 0x0300,
        "1.0" | "tls1.0" => 0x0301,
        "1.1" | "tls1.1" => 0x0302,
        "1.2" | "tls1.2" => 0x0303,
        "1.3" | "tls1.3" => 0x0304,
        other => {
            let h = other
                .strip_prefix("0x")
                .ok_or_else(|| KwError::bad(format!("unknown tls version `{other}`")))?;
            u16::from_str_radix(h, 16)
                .map_err(|_| KwError::bad(format!("unknown tls version `{other}`")))?
        }
    })
}

fn name_list(v: &str, sep: char, allowed: &[&str], what: &str) -> KwResult<Vec<(bool, String)>> {
    let mut out: Vec<(bool, String)> = Vec::new();
    for item in v.split(sep).map(str::trim) {
        let (neg, name) = match item.strip_prefix('!') {
            Some(n) => (true, n.trim()),
            None => (false, item),
        };
        let lower = name.to_ascii_lowercase();
        if !allowed.contains(&lower.as_str()) {
            return Err(KwError::bad(format!("unknown {what} `{name}`")));
        }
        if out.iter().any(|(_, n)| *n == lower) {
            return Err(KwError::kind(DiagKind::Duplicate(
                "ssl_version/ssl_state value",
            )));
        }
        out.push((neg, lower));
    }
    Ok(out)
}

/// Parse `ssl_version:`.
pub fn parse_ssl_version(v: &str) -> KwResult<Vec<(bool, String)>> {
    name_list(
        v,
        ',',
        &["sslv2", "sslv3", "tls1.0", "tls1.1", "tls1.2", "tls1.3"],
        "ssl version",
    )
}

/// Parse `ssl_state:`.
pub fn parse_ssl_state(v: &str) -> KwResult<Vec<(bool, String)>> {
    name_list(
        v,
        '|',
        &[
            "client_hello",
            "server_hello",
            "client_keyx",
            "server_keyx",
            "unknown",
        ],
        "ssl state",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_forms() {
        assert_eq!(parse_flags("S,12").expect("valid").to_string(), "S,CE");
        assert_eq!(parse_flags("SA+").expect("valid").to_string(), "+SA");
        assert_eq!(parse_flags("!FPU").expect("valid").to_string(), "!FPU");
        assert!(parse_flags("SX").is_err());
        assert!(parse_flags("SS").is_err());
        assert!(parse_fragbits("!D").is_ok());
        assert!(parse_fragbits("X").is_err());
        assert_eq!(parse_fragbits("M+").expect("valid").to_string(), "+M");
        assert_eq!(parse_ip_proto("!tcp").expect("valid").to_string(), "!6");
        assert!(parse_ip_proto("nope").is_err());
        assert_eq!(parse_tls_version("1.2"), Ok(0x0303));
        assert!(parse_ssl_state("client_hello|!server_hello").is_ok());
        assert!(parse_ssl_version("tls9").is_err());
    }
}
