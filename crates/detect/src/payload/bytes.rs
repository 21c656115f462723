//! Number extraction as Suricata's `util-byte` does it: binary big/little endian, and strings read
//! with C `strtoull` rules (leading white space, optional sign, base 0 = auto `0x`/`0` prefixes).

/// Binary read of `bytes` (at most 8), big or little endian.
pub(crate) fn extract_binary(bytes: &[u8], little: bool) -> u64 {
    let mut v = 0u64;
    for (i, _) in bytes.iter().enumerate() {
        let b = if little {
            bytes[i]
        } else {
            bytes[bytes.len() - 1 - i]
        };
        v |= u64::from(b) << ((i & 7) * 8);
    }
    v
}

/// `strtoull(str, &end, base)` over `s` (the bytes stop at the slice end, as Suricata copies at
/// most `nbytes` into a NUL-terminated buffer). Returns `(value, consumed)`; `None` when there is
/// no number or it overflows (Suricata's "no match").
pub(crate) fn extract_string(s: &[u8], base: u32) -> Option<(u64, usize)> {
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        i += 1;
    }
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    let mut base = base;
    let has_0x = |i: usize| {
        i + 1 < s.len() && s[i] == b'0' && (s[i + 1] | 0x20) == b'x' && {
            // "0x" counts as a prefix only when a hex digit follows.
            i + 2 < s.len() && s[i + 2].is_ascii_hexdigit()
        }
    };
    if base == 0 {
        if has_0x(i) {
            base = 16;
            i += 2;
        } else if i < s.len() && s[i] == b'0' {
            base = 8;
        } else {
            base = 10;
        }
    } else if base == 16 && has_0x(i) {
        i += 2;
    }
    let start = i;
    let mut v: u64 = 0;
    let mut overflow = false;
    while i < s.len() {
        let d = match s[i] {
            c @ b'0'..=b'9' => u32::from(c - b'0'),
            c @ b'a'..=b'z' => u32::from(c - b'a') + 10,
            c @ b'A'..=b'Z' => u32::from(c - b'A') + 10,
            _ => break,
        };
        if d >= base {
            break;
        }
        match v
            .checked_mul(u64::from(base))
            .and_then(|x| x.checked_add(u64::from(d)))
        {
            Some(x) => v = x,
            None => overflow = true,
        }
        i += 1;
    }
    if i == start || overflow {
        return None;
    }
    if neg {
        v = v.wrapping_neg();
    }
    Some((v, i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary() {
        assert_eq!(extract_binary(&[0x01, 0x02], false), 0x0102);
        assert_eq!(extract_binary(&[0x01, 0x02], true), 0x0201);
        assert_eq!(extract_binary(&[0xff; 8], true), u64::MAX);
        assert_eq!(extract_binary(&[], true), 0);
    }

    #[test]
    fn strings() {
        assert_eq!(extract_string(b"123", 10), Some((123, 3)));
        assert_eq!(extract_string(b"  12x", 10), Some((12, 4)));
        assert_eq!(extract_string(b"0x1f", 0), Some((31, 4)));
        assert_eq!(extract_string(b"0x1f", 16), Some((31, 4)));
        assert_eq!(extract_string(b"1f", 16), Some((31, 2)));
        assert_eq!(extract_string(b"017", 0), Some((15, 3)));
        assert_eq!(extract_string(b"017", 10), Some((17, 3)));
        assert_eq!(extract_string(b"0x", 0), Some((0, 1)));
        assert_eq!(extract_string(b"-1", 10), Some((u64::MAX, 2)));
        assert_eq!(extract_string(b"abc", 10), None);
        assert_eq!(extract_string(b"", 10), None);
        assert_eq!(extract_string(b"99999999999999999999999", 10), None);
        assert_eq!(
            extract_string(b"18446744073709551615", 10),
            Some((u64::MAX, 20))
        );
        assert_eq!(extract_string(b"8", 8), None);
    }
}
