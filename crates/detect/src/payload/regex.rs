//! `pcre` compiled with PCRE2 (JIT when available) the way Suricata 7 compiles it: flags `i s m x`
//! map to PCRE2 options, `G` (ungreedy) becomes a leading `(?U)`, `E` (dollar end only) rewrites
//! `$` to `\z`, `A` (anchored at the start offset) is checked on the match position, and Suricata's
//! match limits (3500 steps, depth 1500) are set with start-of-pattern verbs.

use super::Unsupported;

/// Suricata's `SC_MATCH_LIMIT_DEFAULT` / `SC_MATCH_LIMIT_RECURSION_DEFAULT` (and the packaged
/// suricata.yaml values).
const MATCH_LIMIT: u32 = 3500;
const DEPTH_LIMIT: u32 = 1500;

#[derive(Debug, Clone)]
pub(crate) struct Regex {
    re: pcre2::bytes::Regex,
    anchored: bool,
}

pub(crate) enum Found {
    /// `(start, end)` of the match in the subject.
    At(usize, usize),
    NoMatch,
    /// A PCRE2 error (match limit, bad offset): Suricata treats it as no match even when negated.
    Error,
}

impl Regex {
    pub(crate) fn new(pattern: &str, modifiers: &str) -> Result<Regex, Unsupported> {
        let has = |c: char| modifiers.contains(c);
        let mut body = pattern.to_string();
        if has('E') && !has('m') {
            if inline_sets_multiline(pattern) {
                return Err(Unsupported::new(
                    "pcre",
                    "`E` (dollar end only) with inline options is not supported",
                ));
            }
            body = dollar_end_only(pattern);
        }
        let split = leading_verbs_end(&body);
        let mut full = format!("(*LIMIT_MATCH={MATCH_LIMIT})(*LIMIT_DEPTH={DEPTH_LIMIT})");
        full.push_str(&body[..split]);
        if has('G') {
            full.push_str("(?U)");
        }
        full.push_str(&body[split..]);
        let mut b = pcre2::bytes::RegexBuilder::new();
        b.caseless(has('i'))
            .dotall(has('s'))
            .multi_line(has('m'))
            .extended(has('x'))
            .jit_if_available(true);
        let re = b
            .build(&full)
            .map_err(|e| Unsupported::new("pcre", format!("pcre2 compile failed: {e}")))?;
        Ok(Regex {
            re,
            anchored: has('A'),
        })
    }

    /// Match `subject` starting at `start` (PCRE2 start offset: look-behind sees before it).
    pub(crate) fn find_at(&self, subject: &[u8], start: usize) -> Found {
        if start > subject.len() {
            return Found::Error;
        }
        match self.re.find_at(subject, start) {
            Ok(Some(m)) => {
                if self.anchored && m.start() != start {
                    // An unanchored search tries `start` first, so a later match means none there.
                    Found::NoMatch
                } else {
                    Found::At(m.start(), m.end())
                }
            }
            Ok(None) => Found::NoMatch,
            Err(_) => Found::Error,
        }
    }
}

/// True when an inline option group (`(?m)`, `(?im:`...) turns on multi-line mode.
fn inline_sets_multiline(p: &str) -> bool {
    let b = p.as_bytes();
    (0..b.len().saturating_sub(1)).any(|i| {
        b[i] == b'(' && b[i + 1] == b'?' && {
            let opts = b[i + 2..]
                .iter()
                .take_while(|c| c.is_ascii_alphabetic() || **c == b'-' || **c == b'^');
            opts.take_while(|c| **c != b'-').any(|c| *c == b'm')
        }
    })
}

/// Byte index just past the leading `(*VERB)` items, which must stay first in a PCRE2 pattern.
fn leading_verbs_end(p: &str) -> usize {
    let b = p.as_bytes();
    let mut i = 0;
    while b[i..].starts_with(b"(*") {
        let mut j = i + 2;
        while j < b.len()
            && (b[j].is_ascii_uppercase() || b[j].is_ascii_digit() || b[j] == b'_' || b[j] == b'=')
        {
            j += 1;
        }
        if j < b.len() && b[j] == b')' && j > i + 2 {
            i = j + 1;
        } else {
            break;
        }
    }
    i
}

/// Rewrite every `$` metacharacter (outside classes, escapes and `\Q..\E`) to `\z`.
fn dollar_end_only(p: &str) -> String {
    let b = p.as_bytes();
    let mut out = Vec::with_capacity(b.len() + 4);
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' if i + 1 < b.len() && b[i + 1] == b'Q' => {
                let end = find(b, i + 2, b"\\E").map_or(b.len(), |e| e + 2);
                out.extend_from_slice(&b[i..end]);
                i = end;
            }
            b'\\' => {
                let end = (i + 2).min(b.len());
                out.extend_from_slice(&b[i..end]);
                i = end;
            }
            b'[' => {
                let end = class_end(b, i);
                out.extend_from_slice(&b[i..end]);
                i = end;
            }
            b'$' => {
                out.extend_from_slice(b"\\z");
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| p.to_string())
}

fn find(b: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    b.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// Index just past the character class opening at `start` (`[`).
fn class_end(b: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    if i < b.len() && b[i] == b'^' {
        i += 1;
    }
    if i < b.len() && b[i] == b']' {
        i += 1;
    }
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'[' if b.get(i + 1) == Some(&b':') => {
                i = find(b, i + 2, b":]").map_or(i + 1, |e| e + 2);
            }
            b']' => return i + 1,
            _ => i += 1,
        }
    }
    b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites() {
        assert_eq!(dollar_end_only(r"a$"), r"a\z");
        assert_eq!(dollar_end_only(r"[$]\$\Q$\E$"), r"[$]\$\Q$\E\z");
        assert_eq!(dollar_end_only(r"[]$]$"), r"[]$]\z");
        assert_eq!(dollar_end_only(r"[[:alpha:]$]$"), r"[[:alpha:]$]\z");
        assert_eq!(leading_verbs_end("(*UTF)(*UCP)abc"), 12);
        assert_eq!(leading_verbs_end("(*LIMIT_MATCH=10)x"), 17);
        assert_eq!(leading_verbs_end("(?i)x"), 0);
        assert_eq!(leading_verbs_end(""), 0);
    }

    #[test]
    fn flags() {
        let re = Regex::new("a.+b", "G").expect("compiles");
        assert!(matches!(re.find_at(b"axbxb", 0), Found::At(0, 3)));
        let re = Regex::new("a.+b", "").expect("compiles");
        assert!(matches!(re.find_at(b"axbxb", 0), Found::At(0, 5)));
        let re = Regex::new("b", "A").expect("compiles");
        assert!(matches!(re.find_at(b"ab", 0), Found::NoMatch));
        assert!(matches!(re.find_at(b"ab", 1), Found::At(1, 2)));
        let re = Regex::new("a$", "E").expect("compiles");
        assert!(matches!(re.find_at(b"a\n", 0), Found::NoMatch));
        let re = Regex::new("a$", "").expect("compiles");
        assert!(matches!(re.find_at(b"a\n", 0), Found::At(0, 1)));
        // The match limit makes catastrophic patterns fail (as errors), as in Suricata.
        let re = Regex::new("(a+)+$", "").expect("compiles");
        let hay = [b'a'; 40].iter().chain(b"b").copied().collect::<Vec<u8>>();
        assert!(matches!(re.find_at(&hay, 0), Found::Error));
    }
}
