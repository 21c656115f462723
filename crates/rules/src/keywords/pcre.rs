//! `pcre:"/regex/flags"`: PCRE2 syntax plus Suricata's modifier letters (relative `R`, buffer
//! letters such as `U`, `H`, `P`, ...). Patterns are compile-checked with PCRE2, as Suricata does.

use std::fmt;

use super::buffer::Buffer;
use super::{KwError, KwResult};
use crate::diag::DiagKind;

/// A pcre match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pcre {
    /// The regex between the slashes, as written (PCRE2 syntax).
    pub pattern: String,
    /// Modifier letters as written after the closing slash.
    pub modifiers: String,
    pub negated: bool,
    /// `R`: relative to the previous match in the same buffer.
    pub relative: bool,
    /// The buffer inspected: from a buffer letter (`U`, `H`, ...) or the sticky buffer in force.
    pub buffer: Buffer,
    /// True when `buffer` comes from a modifier letter.
    pub buffer_from_modifier: bool,
}

impl Pcre {
    /// `i`
    pub fn caseless(&self) -> bool {
        self.modifiers.contains('i')
    }
}

/// Suricata's buffer letters.
fn buffer_letter(c: char) -> Option<Buffer> {
    Some(match c {
        'U' => Buffer::HttpUri,
        'I' => Buffer::HttpUriRaw,
        'P' => Buffer::HttpRequestBody,
        'Q' => Buffer::FileData,
        'H' => Buffer::HttpHeader,
        'D' => Buffer::HttpHeaderRaw,
        'M' => Buffer::HttpMethod,
        'C' => Buffer::HttpCookie,
        'S' => Buffer::HttpStatCode,
        'Y' => Buffer::HttpStatMsg,
        'V' => Buffer::HttpUserAgent,
        'W' => Buffer::HttpHost,
        'Z' => Buffer::HttpHostRaw,
        _ => return None,
    })
}

/// Parse `pcre:` in the context of the sticky buffer `sticky`.
pub fn parse_pcre(value: &str, sticky: Buffer) -> KwResult<Pcre> {
    let lead = value.len() - value.trim_start().len();
    let v = value.trim();
    let (negated, rest, mut at) = match v.strip_prefix('!') {
        Some(r) => (
            true,
            r.trim_start(),
            lead + 1 + (r.len() - r.trim_start().len()),
        ),
        None => (false, v, lead),
    };
    let inner = rest
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .filter(|_| rest.len() >= 2)
        .ok_or_else(|| KwError::bad("pcre must be a quoted string".to_string()).at(at))?;
    at += 1;
    let body = inner.strip_prefix('/').ok_or_else(|| {
        KwError::kind(DiagKind::BadPcre("regex must start with `/`".into())).at(at)
    })?;
    let close = body.rfind('/').ok_or_else(|| {
        KwError::kind(DiagKind::BadPcre("regex has no closing `/`".into())).at(at)
    })?;
    let pattern = &body[..close];
    let modifiers = &body[close + 1..];
    let mut relative = false;
    let mut buffer: Option<Buffer> = None;
    for (i, c) in modifiers.char_indices() {
        let pos = at + 1 + close + 1 + i;
        match c {
            'i' | 's' | 'm' | 'x' | 'A' | 'E' | 'G' | 'O' | 'B' => {}
            'R' => relative = true,
            other => match buffer_letter(other) {
                Some(b) => {
                    if let Some(prev) = buffer {
                        if prev != b {
                            return Err(KwError::kind(DiagKind::BadPcre(format!(
                                "more than one buffer modifier (`{other}`)"
                            )))
                            .at(pos));
                        }
                    }
                    buffer = Some(b);
                }
                None => {
                    return Err(KwError::kind(DiagKind::BadPcre(format!(
                        "unknown modifier `{other}`"
                    )))
                    .at(pos))
                }
            },
        }
    }
    // Suricata 7 inspects `http.response_body` through the file.data buffer.
    let same = |a: Buffer, b: Buffer| {
        a == b
            || matches!(
                (a, b),
                (Buffer::FileData, Buffer::HttpResponseBody)
                    | (Buffer::HttpResponseBody, Buffer::FileData)
            )
    };
    if let Some(b) = buffer {
        if sticky != Buffer::Payload {
            if !same(sticky, b) {
                return Err(KwError::kind(DiagKind::Conflict(
                    "pcre buffer modifier",
                    sticky.name(),
                ))
                .at(at));
            }
            buffer = Some(sticky);
        }
    }
    compile_check(pattern, modifiers).map_err(|e| e.at(at + 1))?;
    Ok(Pcre {
        pattern: pattern.to_string(),
        modifiers: modifiers.to_string(),
        negated,
        relative,
        buffer: buffer.unwrap_or(sticky),
        buffer_from_modifier: buffer.is_some(),
    })
}

/// Compile `pattern` with PCRE2 using the flags among `modifiers` that change how it parses.
pub fn compile_check(pattern: &str, modifiers: &str) -> KwResult<()> {
    let mut b = pcre2::bytes::RegexBuilder::new();
    b.caseless(modifiers.contains('i'))
        .dotall(modifiers.contains('s'))
        .multi_line(modifiers.contains('m'))
        .extended(modifiers.contains('x'));
    b.build(pattern)
        .map(|_| ())
        .map_err(|e| KwError::kind(DiagKind::BadPcre(e.to_string())))
}

impl fmt::Display for Pcre {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pcre:{}\"/{}/{}\"",
            if self.negated { "!" } else { "" },
            self.pattern,
            self.modifiers
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_checks() {
        let p = parse_pcre(r#""/^GET\s+\/x/Ui""#, Buffer::Payload).expect("valid");
        assert_eq!(p.buffer, Buffer::HttpUri);
        assert!(!p.relative && p.caseless());
        let p = parse_pcre(r#"!"/a(b/R""#, Buffer::Payload);
        assert!(matches!(
            p,
            Err(KwError {
                kind: DiagKind::BadPcre(_),
                ..
            })
        ));
        assert!(parse_pcre(r#""/a/q""#, Buffer::Payload).is_err());
        assert!(parse_pcre(r#""a/""#, Buffer::Payload).is_err());
        assert!(parse_pcre(r#""/a/U""#, Buffer::HttpHost).is_err());
        assert!(parse_pcre(r#""/a/U""#, Buffer::HttpUri).is_ok());
        let p = parse_pcre(r#""/a/R""#, Buffer::HttpHost).expect("valid");
        assert_eq!(p.buffer, Buffer::HttpHost);
    }
}
