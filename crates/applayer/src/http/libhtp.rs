//! Small byte-level rules of libhtp 0.5 that Suricata's HTTP buffers depend on (our own
//! implementation of the behaviour, read from libhtp's documentation and source).

/// Space or tab (libhtp's `htp_is_lws`).
pub(crate) fn is_lws(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

/// Space, `\t`, `\n`, `\v`, `\f`, `\r` (libhtp's `htp_is_space`).
pub(crate) fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Shortens `len` past trailing line endings (any mix of CR and LF), as `htp_chomp`.
pub(crate) fn chomp(data: &[u8], len: &mut usize) {
    while *len > 0 && matches!(data[*len - 1], b'\r' | b'\n') {
        *len -= 1;
    }
}

/// `a` equals `b` ignoring ASCII case and any NUL bytes in `a` (libhtp's named header
/// lookup and its `gzip`/`deflate` comparisons).
pub(crate) fn eq_nocase_norzero(a: &[u8], b: &[u8]) -> bool {
    let mut it = a.iter().filter(|&&c| c != 0);
    for &c in b {
        match it.next() {
            Some(x) if x.eq_ignore_ascii_case(&c) => {}
            _ => return false,
        }
    }
    it.next().is_none()
}

/// `needle` occurs in `hay` ignoring ASCII case and NUL bytes in `hay` (libhtp's
/// `bstr_index_of_c_nocasenorzero`, used for `chunked`).
pub(crate) fn contains_nocase_norzero(hay: &[u8], needle: &[u8]) -> bool {
    if needle.is_empty() {
        return true;
    }
    (0..hay.len()).filter(|&i| hay[i] != 0).any(|i| {
        let mut j = 0;
        let mut k = i;
        while j < needle.len() && k < hay.len() {
            if hay[k] == 0 {
                k += 1;
                continue;
            }
            if !hay[k].eq_ignore_ascii_case(&needle[j]) {
                return false;
            }
            j += 1;
            k += 1;
        }
        j == needle.len()
    })
}

/// libhtp's `htp_parse_content_length`: bytes before the first digit skipped, the digits
/// parsed, anything after them ignored; `None` without a digit or on overflow.
pub(crate) fn parse_content_length(v: &[u8]) -> Option<u64> {
    let start = v.iter().position(u8::is_ascii_digit)?;
    let digits = &v[start..];
    let end = digits
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(digits.len());
    let mut n: u64 = 0;
    for &d in &digits[..end] {
        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    i64::try_from(n).ok()?;
    Some(n)
}

/// libhtp's cap on repetitions of already-repeated headers per message.
const MAX_REPETITIONS: usize = 64;

/// Adds header fields to `headers` as libhtp's generic header processors do: a name seen
/// before (ASCII case-insensitive, exact bytes otherwise) gets the new value appended after
/// `", "`, except `Content-Length`, whose repeats are ignored; after 64 repetitions of
/// already-repeated names, further repeats are dropped.
pub(crate) fn combine(fields: Vec<(Vec<u8>, Vec<u8>)>) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out: Vec<(Vec<u8>, Vec<u8>, bool)> = Vec::with_capacity(fields.len());
    let mut repetitions = 0usize;
    for (n, v) in fields {
        match out
            .iter_mut()
            .find(|(hn, _, _)| hn.eq_ignore_ascii_case(&n))
        {
            Some((_, hv, repeated)) => {
                if *repeated {
                    if repetitions >= MAX_REPETITIONS {
                        continue;
                    }
                    repetitions += 1;
                }
                *repeated = true;
                if !n.eq_ignore_ascii_case(b"content-length") {
                    hv.extend_from_slice(b", ");
                    hv.extend_from_slice(&v);
                }
            }
            None => out.push((n, v, false)),
        }
    }
    out.into_iter().map(|(n, v, _)| (n, v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_insensitive_comparisons() {
        assert!(eq_nocase_norzero(
            b"Transfer\0-Encoding",
            b"transfer-encoding"
        ));
        assert!(eq_nocase_norzero(b"gz\0ip", b"gzip"));
        assert!(!eq_nocase_norzero(b"gzip2", b"gzip"));
        assert!(!eq_nocase_norzero(b"gzi", b"gzip"));
        assert!(contains_nocase_norzero(b"chu\0nked", b"chunked"));
        assert!(contains_nocase_norzero(b"\0CHUNKED", b"chunked"));
        assert!(contains_nocase_norzero(b"gzip, chunked", b"chunked"));
        assert!(!contains_nocase_norzero(b"chunke", b"chunked"));
    }

    #[test]
    fn content_length_repeats_are_ignored() {
        let f = |n: &str, v: &str| (n.as_bytes().to_vec(), v.as_bytes().to_vec());
        let h = combine(vec![
            f("Content-Length", "68"),
            f("X", "1"),
            f("content-length", "70"),
            f("x", "2"),
        ]);
        assert_eq!(h, vec![f("Content-Length", "68"), f("X", "1, 2")]);
    }
}
