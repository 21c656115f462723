//! Request-URI splitting and normalization as libhtp does it with Suricata's defaults
//! (personality IDS, `uri-include-all: no`, path not lowercased).
//!
//! What is implemented for `http.uri` (the normalized URI):
//! 1. The URI is split into `[scheme://authority]path[?query][#fragment]`; the normalized URI is
//!    `path` + `?query` (query kept raw: libhtp does not decode it) + `#fragment` (decoded like the
//!    path's `%HH`). Scheme and authority are dropped (`uri-include-all: no`).
//! 2. Path decoding, in one pass: `%HH` becomes its byte (including `%2F`, `%5C` and `%00`);
//!    `%uHHHH` becomes the code point's byte when below 0x100, the ASCII letter for the fullwidth
//!    forms U+FF01..U+FF5E, `?` otherwise; an invalid `%` sequence is kept as is; `\` becomes `/`;
//!    runs of `/` collapse into one.
//! 3. UTF-8 best fit: valid multi-byte UTF-8 sequences (including overlong ones) in the decoded
//!    path become the code point's byte below 0x100, ASCII for fullwidth forms, `?` otherwise;
//!    invalid sequences stay as they are. (libhtp's best-fit table also maps some Windows-1252
//!    look-alikes; those become `?` here.)
//! 4. Dot segments are removed (RFC 3986 section 5.2.4).
//!
//! `http.uri.raw` is the URI exactly as in the request line.

/// The parts of a request URI, as slices of the raw URI.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct UriParts<'a> {
    pub scheme: Option<&'a [u8]>,
    /// `host[:port]` from an absolute URI (without userinfo).
    pub authority: Option<&'a [u8]>,
    pub path: &'a [u8],
    pub query: Option<&'a [u8]>,
    pub fragment: Option<&'a [u8]>,
}

/// Split a raw request URI.
pub fn split(raw: &[u8]) -> UriParts<'_> {
    let mut parts = UriParts::default();
    let mut rest = raw;
    // Absolute form: scheme "://" authority.
    if let Some(colon) = rest.iter().position(|&b| b == b':') {
        let scheme = &rest[..colon];
        if !scheme.is_empty()
            && scheme[0].is_ascii_alphabetic()
            && scheme
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
            && rest[colon..].starts_with(b"://")
        {
            parts.scheme = Some(scheme);
            let after = &rest[colon + 3..];
            let end = after
                .iter()
                .position(|&b| matches!(b, b'/' | b'?' | b'#'))
                .unwrap_or(after.len());
            let mut auth = &after[..end];
            if let Some(at) = auth.iter().rposition(|&b| b == b'@') {
                auth = &auth[at + 1..];
            }
            parts.authority = Some(auth);
            rest = &after[end..];
        }
    }
    let (before_frag, frag) = match rest.iter().position(|&b| b == b'#') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    parts.fragment = frag;
    match before_frag.iter().position(|&b| b == b'?') {
        Some(i) => {
            parts.path = &before_frag[..i];
            parts.query = Some(&before_frag[i + 1..]);
        }
        None => parts.path = before_frag,
    }
    parts
}

/// Host and port of an authority or `Host` header value: `(host, port)`; IPv6 literals keep
/// their brackets.
pub fn host_port(v: &[u8]) -> (&[u8], Option<&[u8]>) {
    let v = trim(v);
    if v.first() == Some(&b'[') {
        if let Some(close) = v.iter().position(|&b| b == b']') {
            let host = &v[..=close];
            let rest = &v[close + 1..];
            return match rest.strip_prefix(b":") {
                Some(p) => (host, Some(p)),
                None => (host, None),
            };
        }
        return (v, None);
    }
    match v.iter().rposition(|&b| b == b':') {
        Some(i) if v[i + 1..].iter().all(u8::is_ascii_digit) => (&v[..i], Some(&v[i + 1..])),
        _ => (v, None),
    }
}

/// `http.host`: lowercase, port stripped, trailing dots removed.
pub fn normalize_host(v: &[u8]) -> Vec<u8> {
    let (host, _) = host_port(v);
    let mut h: Vec<u8> = host.iter().map(u8::to_ascii_lowercase).collect();
    while h.last() == Some(&b'.') {
        h.pop();
    }
    h
}

pub(crate) fn trim(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t' | b'\r' | b'\n', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t' | b'\r' | b'\n'] = v {
        v = rest;
    }
    v
}

fn hexval(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn bestfit(cp: u32) -> u8 {
    if cp < 0x100 {
        cp as u8
    } else if (0xff01..=0xff5e).contains(&cp) {
        (cp - 0xff01 + 0x21) as u8
    } else {
        b'?'
    }
}

fn push_path_byte(out: &mut Vec<u8>, c: u8) {
    let c = if c == b'\\' { b'/' } else { c };
    if c == b'/' && out.last() == Some(&b'/') {
        return;
    }
    out.push(c);
}

/// Step 2: `%HH`, `%uHHHH`, backslashes, separator compression.
fn decode_path(path: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.len());
    let mut i = 0;
    while i < path.len() {
        let b = path[i];
        if b == b'%' {
            if matches!(path.get(i + 1), Some(b'u' | b'U')) {
                let hex: Option<Vec<u8>> = (2..6)
                    .map(|k| path.get(i + k).and_then(|&h| hexval(h)))
                    .collect();
                if let Some(h) = hex {
                    let cp = (u32::from(h[0]) << 12)
                        | (u32::from(h[1]) << 8)
                        | (u32::from(h[2]) << 4)
                        | u32::from(h[3]);
                    push_path_byte(&mut out, bestfit(cp));
                    i += 6;
                    continue;
                }
            } else if let (Some(h), Some(l)) = (
                path.get(i + 1).and_then(|&h| hexval(h)),
                path.get(i + 2).and_then(|&l| hexval(l)),
            ) {
                push_path_byte(&mut out, h << 4 | l);
                i += 3;
                continue;
            }
            out.push(b'%');
            i += 1;
            continue;
        }
        push_path_byte(&mut out, b);
        i += 1;
    }
    out
}

/// Step 3: UTF-8 best fit.
fn utf8_bestfit(p: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(p.len());
    let mut i = 0;
    while i < p.len() {
        let b = p[i];
        let (need, init) = match b {
            0xc0..=0xdf => (1, u32::from(b & 0x1f)),
            0xe0..=0xef => (2, u32::from(b & 0x0f)),
            0xf0..=0xf7 => (3, u32::from(b & 0x07)),
            _ => {
                out.push(b);
                i += 1;
                continue;
            }
        };
        let cont = p.get(i + 1..i + 1 + need);
        match cont {
            Some(c) if c.iter().all(|&x| x & 0xc0 == 0x80) => {
                let cp = c
                    .iter()
                    .fold(init, |acc, &x| (acc << 6) | u32::from(x & 0x3f));
                out.push(bestfit(cp));
                i += 1 + need;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// Step 4: RFC 3986 remove_dot_segments.
pub fn remove_dot_segments(input: &[u8]) -> Vec<u8> {
    let mut inp: &[u8] = input;
    let mut out: Vec<u8> = Vec::with_capacity(input.len());
    fn pop_segment(out: &mut Vec<u8>) {
        match out.iter().rposition(|&b| b == b'/') {
            Some(i) => out.truncate(i),
            None => out.clear(),
        }
    }
    while !inp.is_empty() {
        if let Some(r) = inp.strip_prefix(b"../") {
            inp = r;
        } else if let Some(r) = inp.strip_prefix(b"./") {
            inp = r;
        } else if inp.starts_with(b"/./") {
            inp = &inp[2..];
        } else if inp == b"/." {
            inp = b"/";
        } else if inp.starts_with(b"/../") {
            inp = &inp[3..];
            pop_segment(&mut out);
        } else if inp == b"/.." {
            inp = b"/";
            pop_segment(&mut out);
        } else if inp == b"." || inp == b".." {
            inp = b"";
        } else {
            let start = usize::from(inp[0] == b'/');
            let end = inp[start..]
                .iter()
                .position(|&b| b == b'/')
                .map_or(inp.len(), |p| p + start);
            out.extend_from_slice(&inp[..end]);
            inp = &inp[end..];
        }
    }
    out
}

/// Normalize a decoded path: steps 2 to 4.
pub fn normalize_path(path: &[u8]) -> Vec<u8> {
    remove_dot_segments(&utf8_bestfit(&decode_path(path)))
}

/// `%HH` decoding only (fragments).
fn url_decode(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        if v[i] == b'%' {
            if let (Some(h), Some(l)) = (
                v.get(i + 1).and_then(|&h| hexval(h)),
                v.get(i + 2).and_then(|&l| hexval(l)),
            ) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(v[i]);
        i += 1;
    }
    out
}

/// The `http.uri` buffer for a raw request URI.
pub fn normalize_uri(raw: &[u8]) -> Vec<u8> {
    let p = split(raw);
    let mut out = normalize_path(p.path);
    if let Some(q) = p.query {
        out.push(b'?');
        out.extend_from_slice(q);
    }
    if let Some(f) = p.fragment {
        out.push(b'#');
        out.extend_from_slice(&url_decode(f));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> String {
        String::from_utf8_lossy(&normalize_uri(s.as_bytes())).into_owned()
    }

    #[test]
    fn percent_and_separators() {
        assert_eq!(n("/a%20b/c%2Fd"), "/a b/c/d");
        assert_eq!(n("/a//b\\c"), "/a/b/c");
        assert_eq!(n("/a%zz%4"), "/a%zz%4");
        assert_eq!(n("/%u0041%uFF21%u4e00"), "/AA?");
        assert_eq!(n("/x?q=%41+b"), "/x?q=%41+b");
        assert_eq!(n("/x#fr%41g"), "/x#frAg");
    }

    #[test]
    fn dot_segments() {
        assert_eq!(n("/a/b/../c/./d"), "/a/c/d");
        assert_eq!(n("/../../etc/passwd"), "/etc/passwd");
        assert_eq!(n("/a/%2e%2e/b"), "/b");
        assert_eq!(n("/a/.."), "/");
        assert_eq!(remove_dot_segments(b"mid/content=5/../6"), b"mid/6");
    }

    #[test]
    fn absolute_uri_and_utf8() {
        assert_eq!(n("http://user@Example.com:8080/p/q?x=1"), "/p/q?x=1");
        let p = split(b"http://user@Example.com:8080/p");
        assert_eq!(p.authority, Some(&b"Example.com:8080"[..]));
        assert_eq!(n("/caf%C3%A9"), "/caf\u{e9}".replace('\u{e9}', "\u{fffd}"));
        assert_eq!(normalize_uri(b"/caf%C3%A9"), b"/caf\xe9");
        assert_eq!(normalize_uri(b"/%C0%AE%C0%AE/x"), b"/x");
    }

    #[test]
    fn hosts() {
        assert_eq!(normalize_host(b"WWW.Example.COM.:8080"), b"www.example.com");
        assert_eq!(normalize_host(b" [::1]:80 "), b"[::1]");
        assert_eq!(host_port(b"a.b:x"), (&b"a.b:x"[..], None));
    }
}
