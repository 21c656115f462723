//! Buffer transforms (`dotprefix`, `to_lowercase`, `xor`, ...) applied to an inspection buffer before
//! matching, with Suricata's semantics.

use md5::{Digest as _, Md5};
use seawall_rules::keywords::buffer::Transform;
use sha1::Sha1;
use sha2::Sha256;

/// A transform this crate cannot apply (the engine must skip the rule that uses it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("transform `{0}` is not supported by the app layer")]
pub struct UnsupportedTransform(pub &'static str);

/// True when every transform in `ts` can be applied by [`apply_transforms`].
pub fn transforms_supported(ts: &[Transform]) -> Result<(), UnsupportedTransform> {
    for t in ts {
        if matches!(t, Transform::Pcrexform(_)) {
            return Err(UnsupportedTransform(t.name()));
        }
    }
    Ok(())
}

/// C `isspace`: space, \t, \n, \v, \f, \r.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn hexval(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Apply `ts` in order to `input`, writing the result to `out` (cleared first).
///
/// Semantics (Suricata 7):
/// - `dotprefix`: prepend `.`;
/// - `to_lowercase` / `to_uppercase`: ASCII case mapping;
/// - `strip_whitespace`: remove every `isspace` byte;
/// - `compress_whitespace`: each run of `isspace` bytes becomes its first byte;
/// - `url_decode`: `+` becomes a space and `%HH` its byte; an invalid `%` sequence is kept as is;
/// - `xor:"key"`: byte `i` is xored with `key[i % key.len()]`;
/// - `to_md5` / `to_sha1` / `to_sha256`: the raw digest (16/20/32 bytes);
/// - `header_lowercase`: lowercase each line's header name (up to the first `:`);
/// - `strip_pseudo_headers`: drop lines that start with `:`.
///
/// `pcrexform` needs a regex engine and is reported as unsupported (nothing is written).
pub fn apply_transforms(
    ts: &[Transform],
    input: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), UnsupportedTransform> {
    transforms_supported(ts)?;
    out.clear();
    out.extend_from_slice(input);
    let mut tmp = Vec::new();
    for t in ts {
        tmp.clear();
        apply_one(t, out, &mut tmp);
        std::mem::swap(out, &mut tmp);
    }
    Ok(())
}

fn apply_one(t: &Transform, input: &[u8], out: &mut Vec<u8>) {
    match t {
        Transform::Dotprefix => {
            out.reserve(input.len() + 1);
            out.push(b'.');
            out.extend_from_slice(input);
        }
        Transform::ToLowercase => out.extend(input.iter().map(u8::to_ascii_lowercase)),
        Transform::ToUppercase => out.extend(input.iter().map(u8::to_ascii_uppercase)),
        Transform::StripWhitespace => out.extend(input.iter().copied().filter(|b| !is_space(*b))),
        Transform::CompressWhitespace => {
            let mut prev_space = false;
            for &b in input {
                let sp = is_space(b);
                if !(sp && prev_space) {
                    out.push(b);
                }
                prev_space = sp;
            }
        }
        Transform::UrlDecode => {
            let mut i = 0;
            while i < input.len() {
                let b = input[i];
                if b == b'+' {
                    out.push(b' ');
                    i += 1;
                } else if b == b'%' && i + 2 < input.len() {
                    match (hexval(input[i + 1]), hexval(input[i + 2])) {
                        (Some(h), Some(l)) => {
                            out.push(h << 4 | l);
                            i += 3;
                        }
                        _ => {
                            out.push(b);
                            i += 1;
                        }
                    }
                } else {
                    out.push(b);
                    i += 1;
                }
            }
        }
        Transform::Xor(key) => {
            if key.is_empty() {
                out.extend_from_slice(input);
            } else {
                out.extend(input.iter().zip(key.iter().cycle()).map(|(b, k)| b ^ k));
            }
        }
        Transform::ToMd5 => out.extend_from_slice(&Md5::digest(input)),
        Transform::ToSha1 => out.extend_from_slice(&Sha1::digest(input)),
        Transform::ToSha256 => out.extend_from_slice(&Sha256::digest(input)),
        Transform::HeaderLowercase => {
            let mut in_name = true;
            for &b in input {
                if b == b'\n' {
                    in_name = true;
                    out.push(b);
                } else if in_name && b == b':' && !out.is_empty() && out.last() != Some(&b'\n') {
                    in_name = false;
                    out.push(b);
                } else if in_name {
                    out.push(b.to_ascii_lowercase());
                } else {
                    out.push(b);
                }
            }
        }
        Transform::StripPseudoHeaders => {
            for line in input.split_inclusive(|b| *b == b'\n') {
                if line.first() != Some(&b':') {
                    out.extend_from_slice(line);
                }
            }
        }
        // Rejected by `transforms_supported` before we get here; `Transform` is non-exhaustive, so
        // anything unknown leaves the buffer unchanged rather than panicking.
        _ => out.extend_from_slice(input),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(ts: &[Transform], input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        apply_transforms(ts, input, &mut out).expect("supported");
        out
    }

    #[test]
    fn simple_transforms() {
        assert_eq!(run(&[Transform::Dotprefix], b"evil.com"), b".evil.com");
        assert_eq!(run(&[Transform::ToLowercase], b"AbC"), b"abc");
        assert_eq!(run(&[Transform::ToUppercase], b"AbC"), b"ABC");
        assert_eq!(run(&[Transform::StripWhitespace], b" a b\t\r\nc "), b"abc");
        assert_eq!(
            run(&[Transform::CompressWhitespace], b"a  b\t\t c"),
            b"a b\tc"
        );
        assert_eq!(run(&[Transform::UrlDecode], b"a+b%41%zz%4"), b"a bA%zz%4");
        assert_eq!(
            run(&[Transform::Xor(vec![0x01, 0x02])], b"\x00\x00\x03"),
            b"\x01\x02\x02"
        );
    }

    #[test]
    fn chained_and_digests() {
        assert_eq!(
            run(&[Transform::ToLowercase, Transform::Dotprefix], b"WWW.X"),
            b".www.x"
        );
        let md5 = run(&[Transform::ToMd5], b"abc");
        assert_eq!(
            md5,
            [
                0x90, 0x01, 0x50, 0x98, 0x3c, 0xd2, 0x4f, 0xb0, 0xd6, 0x96, 0x3f, 0x7d, 0x28, 0xe1,
                0x7f, 0x72
            ]
        );
        let sha = run(&[Transform::ToSha256], b"abc");
        assert_eq!(sha.len(), 32);
        assert_eq!(&sha[..4], &[0xba, 0x78, 0x16, 0xbf]);
        assert_eq!(run(&[Transform::ToSha1], b"abc")[..2], [0xa9, 0x99]);
    }

    #[test]
    fn header_transforms() {
        assert_eq!(
            run(
                &[Transform::HeaderLowercase],
                b"Host: A\r\nUser-Agent: X:Y\r\n"
            ),
            b"host: A\r\nuser-agent: X:Y\r\n"
        );
        assert_eq!(
            run(
                &[Transform::StripPseudoHeaders],
                b":method: GET\r\nhost: a\r\n"
            ),
            b"host: a\r\n"
        );
    }

    #[test]
    fn pcrexform_is_unsupported() {
        let mut out = Vec::new();
        let err = apply_transforms(&[Transform::Pcrexform("(a)".into())], b"a", &mut out);
        assert_eq!(err, Err(UnsupportedTransform("pcrexform")));
    }
}
