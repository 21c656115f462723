//! `content` and its modifiers: `nocase`, `rawbytes`, `depth`, `offset`, `distance`, `within`,
//! `fast_pattern` (plain, `only`, `chop`), `startswith`, `endswith` and the legacy buffer modifiers.

use std::fmt;

use super::buffer::Buffer;
use super::{no_arg, require, KwError, KwResult};
use crate::diag::DiagKind;

/// A modifier value: a literal, or a name set by `byte_extract`/`byte_math`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Num {
    Lit(i32),
    Var(String),
}

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Num::Lit(v) => v.fmt(f),
            Num::Var(v) => f.write_str(v),
        }
    }
}

/// `fast_pattern` variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FastPattern {
    /// `fast_pattern`
    Plain,
    /// `fast_pattern:only` (deprecated in Suricata 7, still accepted)
    Only,
    /// `fast_pattern:offset,length`
    Chop { offset: u16, len: u16 },
}

/// A content match with its modifiers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Content {
    /// Decoded bytes (escapes and `|hex|` resolved).
    pub pattern: Vec<u8>,
    pub negated: bool,
    pub nocase: bool,
    pub rawbytes: bool,
    pub depth: Option<Num>,
    pub offset: Option<Num>,
    pub distance: Option<Num>,
    pub within: Option<Num>,
    pub startswith: bool,
    pub endswith: bool,
    pub fast_pattern: Option<FastPattern>,
    /// The buffer this content inspects (sticky buffer in force, or the legacy modifier).
    pub buffer: Buffer,
    /// True when the buffer was set by a legacy modifier after the content (`http_uri;`).
    pub legacy_modifier: bool,
}

impl Content {
    /// True if any relative modifier (distance/within) is set.
    pub fn is_relative(&self) -> bool {
        self.distance.is_some() || self.within.is_some()
    }
}

/// Parse the value of `content:` (`"..."` or `!"..."`).
pub fn parse_content(value: &str) -> KwResult<Content> {
    let lead = value.len() - value.trim_start().len();
    let v = value.trim();
    let (negated, rest, mut at) = match v.strip_prefix('!') {
        Some(r) => {
            let r2 = r.trim_start();
            (true, r2, lead + 1 + (r.len() - r2.len()))
        }
        None => (false, v, lead),
    };
    let inner = rest
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .filter(|_| rest.len() >= 2)
        .ok_or_else(|| KwError::bad("content must be a quoted string".to_string()).at(at))?;
    at += 1;
    let pattern = decode_pattern(inner).map_err(|(msg, i)| KwError::bad(msg).at(at + i))?;
    if pattern.is_empty() {
        return Err(KwError::bad("content is empty".to_string()).at(at));
    }
    Ok(Content {
        pattern,
        negated,
        ..Content::default()
    })
}

/// Decode the inside of a quoted content: `\"`, `\;`, `\\`, `\:` escapes and `|41 42|` hex blocks.
/// Errors carry the byte offset inside `s`.
pub fn decode_pattern(s: &str) -> Result<Vec<u8>, (String, usize)> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                match b.get(i + 1) {
                    Some(&c @ (b'"' | b';' | b'\\' | b':')) => out.push(c),
                    Some(_) => {
                        let esc: String = s[i..].chars().take(2).collect();
                        return Err((
                            format!("invalid escape `{esc}` (only \\\" \\; \\: \\\\)"),
                            i,
                        ));
                    }
                    None => return Err(("trailing backslash".to_string(), i)),
                }
                i += 2;
            }
            b'"' => return Err(("unescaped `\"` inside content".to_string(), i)),
            b'|' => {
                let start = i;
                i += 1;
                let mut hi: Option<u8> = None;
                loop {
                    match b.get(i) {
                        None => return Err(("unterminated hex block `|`".to_string(), start)),
                        Some(b'|') => break,
                        Some(b' ') => {
                            if hi.is_some() {
                                return Err(("hex digits must come in pairs".to_string(), i));
                            }
                        }
                        Some(&c) if c.is_ascii_hexdigit() => {
                            let d = hex_val(c);
                            match hi.take() {
                                Some(h) => out.push(h << 4 | d),
                                None => hi = Some(d),
                            }
                        }
                        Some(_) => {
                            let c = s[i..].chars().next().unwrap_or('?');
                            return Err((format!("invalid character `{c}` in hex block"), i));
                        }
                    }
                    i += 1;
                }
                if hi.is_some() {
                    return Err(("odd number of hex digits".to_string(), i));
                }
                if i == start + 1 {
                    return Err(("empty hex block `||`".to_string(), start));
                }
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

fn hex_val(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c - b'A' + 10,
    }
}

fn parse_num(v: &str, min: i64, max: i64, vars: &[String]) -> KwResult<Num> {
    let v = v.trim();
    if v.starts_with(|c: char| c.is_ascii_digit() || c == '-') {
        Ok(Num::Lit(super::uint::parse_i64(v, min, max)? as i32))
    } else if vars.iter().any(|n| n == v) {
        Ok(Num::Var(v.to_string()))
    } else {
        Err(KwError::bad(format!(
            "`{v}` is neither a number nor a byte_extract/byte_math variable"
        )))
    }
}

fn set<T>(slot: &mut Option<T>, v: T, kw: &'static str) -> KwResult<()> {
    if slot.is_some() {
        return Err(KwError::kind(DiagKind::Duplicate(kw)));
    }
    *slot = Some(v);
    Ok(())
}

fn flag(slot: &mut bool, kw: &'static str, value: Option<&str>) -> KwResult<()> {
    no_arg(value)?;
    if *slot {
        return Err(KwError::kind(DiagKind::Duplicate(kw)));
    }
    *slot = true;
    Ok(())
}

/// Apply a content modifier to `c`.
pub fn apply_modifier(
    c: &mut Content,
    kw: &'static str,
    value: Option<&str>,
    vars: &[String],
    fast_pattern_seen: bool,
) -> KwResult<()> {
    let len = c.pattern.len() as i64;
    match kw {
        "nocase" => flag(&mut c.nocase, kw, value)?,
        // Suricata refuses a repeated nocase but tolerates the others.
        "rawbytes" => no_arg(value).map(|()| c.rawbytes = true)?,
        "startswith" => no_arg(value).map(|()| c.startswith = true)?,
        "endswith" => no_arg(value).map(|()| c.endswith = true)?,
        "depth" => {
            let n = parse_num(require(value)?, 0, 65535, vars)?;
            if let Num::Lit(d) = n {
                if i64::from(d) < len {
                    return Err(KwError::kind(DiagKind::Invalid(format!(
                        "depth {d} is shorter than the content ({len} bytes)"
                    ))));
                }
            }
            set(&mut c.depth, n, kw)?;
        }
        "offset" => set(
            &mut c.offset,
            parse_num(require(value)?, 0, 65535, vars)?,
            kw,
        )?,
        "distance" => set(
            &mut c.distance,
            parse_num(require(value)?, -65535, 65535, vars)?,
            kw,
        )?,
        "within" => {
            let n = parse_num(require(value)?, 0, 65535, vars)?;
            if let Num::Lit(w) = n {
                if i64::from(w) < len {
                    return Err(KwError::kind(DiagKind::Invalid(format!(
                        "within {w} is shorter than the content ({len} bytes)"
                    ))));
                }
            }
            set(&mut c.within, n, kw)?;
        }
        "fast_pattern" => {
            if fast_pattern_seen || c.fast_pattern.is_some() {
                return Err(KwError::kind(DiagKind::Duplicate("fast_pattern")));
            }
            let fp = match value.map(str::trim) {
                None | Some("") => FastPattern::Plain,
                Some("only") => FastPattern::Only,
                Some(v) => {
                    let (o, l) = v.split_once(',').ok_or_else(|| {
                        KwError::bad(format!("expected `only` or `offset,length`, got `{v}`"))
                    })?;
                    let offset = super::uint::parse_u64(o, 65535)? as u16;
                    let l = super::uint::parse_u64(l, 65535)? as u16;
                    if i64::from(offset) + i64::from(l) > len {
                        return Err(KwError::bad(format!(
                            "chop {offset},{l} runs past the content ({len} bytes)"
                        )));
                    }
                    FastPattern::Chop { offset, len: l }
                }
            };
            c.fast_pattern = Some(fp);
        }
        _ => return Err(KwError::kind(DiagKind::UnknownKeyword(kw.to_string()))),
    }
    Ok(())
}

/// Apply a legacy buffer modifier (`http_uri`, ...) to the preceding content.
pub fn apply_legacy(c: &mut Content, b: Buffer) -> KwResult<()> {
    let name = b.legacy_name().unwrap_or("content");
    if c.buffer != Buffer::Payload {
        if c.legacy_modifier {
            if c.buffer == b {
                return Err(KwError::kind(DiagKind::Duplicate(name)));
            }
            return Err(KwError::kind(DiagKind::Conflict(
                name,
                c.buffer.legacy_name().unwrap_or("content"),
            )));
        }
        return Err(KwError::kind(DiagKind::Conflict(name, c.buffer.name())));
    }
    c.buffer = b;
    c.legacy_modifier = true;
    Ok(())
}

/// Write pattern bytes as a content string body: printable ASCII as is, the rest as `|hex|`.
pub(crate) fn write_pattern(f: &mut fmt::Formatter<'_>, p: &[u8]) -> fmt::Result {
    let mut in_hex = false;
    for &b in p {
        let literal = (0x20..=0x7e).contains(&b) && !matches!(b, b'"' | b';' | b'\\' | b'|');
        if literal {
            if in_hex {
                f.write_str("|")?;
                in_hex = false;
            }
            write!(f, "{}", b as char)?;
        } else {
            if in_hex {
                write!(f, " {b:02X}")?;
            } else {
                write!(f, "|{b:02X}")?;
                in_hex = true;
            }
        }
    }
    if in_hex {
        f.write_str("|")?;
    }
    Ok(())
}

impl fmt::Display for Content {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("content:")?;
        if self.negated {
            f.write_str("!")?;
        }
        f.write_str("\"")?;
        write_pattern(f, &self.pattern)?;
        f.write_str("\"")?;
        if self.legacy_modifier {
            write!(f, "; {}", self.buffer.legacy_name().unwrap_or("pkt_data"))?;
        }
        if self.nocase {
            f.write_str("; nocase")?;
        }
        if self.rawbytes {
            f.write_str("; rawbytes")?;
        }
        if self.startswith {
            f.write_str("; startswith")?;
        }
        if let Some(v) = &self.depth {
            write!(f, "; depth:{v}")?;
        }
        if let Some(v) = &self.offset {
            write!(f, "; offset:{v}")?;
        }
        if let Some(v) = &self.distance {
            write!(f, "; distance:{v}")?;
        }
        if let Some(v) = &self.within {
            write!(f, "; within:{v}")?;
        }
        if self.endswith {
            f.write_str("; endswith")?;
        }
        match self.fast_pattern {
            None => {}
            Some(FastPattern::Plain) => f.write_str("; fast_pattern")?,
            Some(FastPattern::Only) => f.write_str("; fast_pattern:only")?,
            Some(FastPattern::Chop { offset, len }) => write!(f, "; fast_pattern:{offset},{len}")?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode() {
        assert_eq!(
            decode_pattern(r#"a|41 42|b\;\"\\\:"#),
            Ok(b"aABb;\"\\:".to_vec())
        );
        assert_eq!(decode_pattern("|4142|"), Ok(b"AB".to_vec()));
        assert!(decode_pattern("|41").is_err());
        assert!(decode_pattern("|4|").is_err());
        assert!(decode_pattern("|zz|").is_err());
        assert!(decode_pattern(r"\x").is_err());
        assert!(decode_pattern("a\"b").is_err());
    }

    #[test]
    fn content_forms() {
        let c = parse_content(r#" ! "abc""#).expect("valid");
        assert!(c.negated);
        assert_eq!(c.pattern, b"abc");
        assert!(parse_content("abc").is_err());
        assert!(parse_content("\"\"").is_err());
        assert!(parse_content("\"").is_err());
    }
}
