//! Protocol detection by content (and, for DNS, by port 53 plus a sanity check), as Suricata's
//! probing parsers do: HTTP on any port, TLS on any port.

use seawall_flow::Direction;

use crate::{dns, AppProto, Transport};

/// Outcome of looking at a flow's first bytes in one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detect {
    Found(AppProto),
    /// A prefix of a known protocol's signature: look again with more bytes.
    NeedMore,
    /// None of ours.
    Unknown,
}

/// Request methods recognised at the start of a to-server stream (libhtp knows these and
/// Suricata's HTTP probing matches them).
const METHODS: &[&[u8]] = &[
    b"GET",
    b"POST",
    b"HEAD",
    b"PUT",
    b"DELETE",
    b"OPTIONS",
    b"CONNECT",
    b"TRACE",
    b"PATCH",
    b"PROPFIND",
    b"PROPPATCH",
    b"MKCOL",
    b"COPY",
    b"MOVE",
    b"LOCK",
    b"UNLOCK",
    b"CHECKOUT",
    b"UNCHECKOUT",
    b"CHECKIN",
    b"UPDATE",
    b"LABEL",
    b"REPORT",
    b"MKWORKSPACE",
    b"MKACTIVITY",
    b"MERGE",
    b"INVALID",
    b"VERSION-CONTROL",
    b"BASELINE-CONTROL",
    b"SEARCH",
    b"POLL",
    b"BPROPFIND",
    b"BPROPPATCH",
    b"BCOPY",
    b"BMOVE",
    b"BDELETE",
    b"NOTIFY",
    b"SUBSCRIBE",
    b"UNSUBSCRIBE",
];

fn http_status(d: &[u8]) -> Detect {
    // Requests: METHOD followed by a space or tab.
    let mut prefix = false;
    for m in METHODS {
        if d.len() > m.len() && d.starts_with(m) && matches!(d[m.len()], b' ' | b'\t') {
            return Detect::Found(AppProto::Http);
        }
        if d.len() <= m.len() && m.starts_with(d) {
            prefix = true;
        }
    }
    // Responses: "HTTP/".
    const RESP: &[u8] = b"HTTP/";
    if d.len() >= RESP.len() && d[..RESP.len()].eq_ignore_ascii_case(RESP) {
        return Detect::Found(AppProto::Http);
    }
    if d.len() < RESP.len() && RESP[..d.len()].eq_ignore_ascii_case(d) {
        prefix = true;
    }
    if prefix {
        Detect::NeedMore
    } else {
        Detect::Unknown
    }
}

fn tls_status(d: &[u8]) -> Detect {
    match d {
        [] => Detect::NeedMore,
        // TLS record: handshake (22), version 3.x (x <= 4), sane length.
        [0x16] | [0x16, 0x03] | [0x16, 0x03, 0..=4] | [0x16, 0x03, 0..=4, _] => Detect::NeedMore,
        [0x16, 0x03, 0..=4, hi, lo, rest @ ..] => {
            let len = u16::from_be_bytes([*hi, *lo]);
            if len == 0 || len > 16384 + 2048 {
                return Detect::Unknown;
            }
            // First handshake message: ClientHello (1) or ServerHello (2).
            match rest.first() {
                None => Detect::NeedMore,
                Some(1 | 2) => Detect::Found(AppProto::Tls),
                Some(_) => Detect::Unknown,
            }
        }
        // SSLv2-compatible ClientHello: 2-byte header with the high bit set, type 1, version 2 or 3.x.
        [h, _, 0x01, 0x00 | 0x03, 0x00..=0x04, ..] if h & 0x80 != 0 => Detect::Found(AppProto::Tls),
        _ => Detect::Unknown,
    }
}

fn dns_status(transport: Transport, d: &[u8], port: u16) -> Detect {
    if port != 53 {
        return Detect::Unknown;
    }
    let msg = match transport {
        Transport::Udp => d,
        Transport::Tcp => {
            if d.len() < 2 {
                return Detect::NeedMore;
            }
            let want = u16::from_be_bytes([d[0], d[1]]) as usize;
            if d.len() < 2 + want.min(512) {
                // Judge on what we have once the header and a name fit.
                if d.len() < 2 + 12 + 1 {
                    return Detect::NeedMore;
                }
            }
            &d[2..d.len().min(2 + want)]
        }
    };
    if dns::looks_like_dns(msg) {
        Detect::Found(AppProto::Dns)
    } else if transport == Transport::Tcp && msg.len() < 12 {
        Detect::NeedMore
    } else {
        Detect::Unknown
    }
}

/// Tri-state detection on the first bytes of `dir` of a flow. `port_hint` is the server port.
pub fn detect_status(
    dir: Direction,
    transport: Transport,
    first_bytes: &[u8],
    port_hint: u16,
) -> Detect {
    let _ = dir; // both directions: mid-stream pickups may see the response first
    let mut need_more = false;
    if transport == Transport::Tcp {
        for st in [http_status(first_bytes), tls_status(first_bytes)] {
            match st {
                Detect::Found(p) => return Detect::Found(p),
                Detect::NeedMore => need_more = true,
                Detect::Unknown => {}
            }
        }
    }
    match dns_status(transport, first_bytes, port_hint) {
        Detect::Found(p) => return Detect::Found(p),
        Detect::NeedMore => need_more = true,
        Detect::Unknown => {}
    }
    if need_more || first_bytes.is_empty() {
        Detect::NeedMore
    } else {
        Detect::Unknown
    }
}

/// Detect the protocol of a flow from the first bytes of one direction; `None` when unknown or
/// when more bytes are needed (see [`detect_status`] to tell them apart).
pub fn detect(
    dir: Direction,
    transport: Transport,
    first_bytes: &[u8],
    port_hint: u16,
) -> Option<AppProto> {
    match detect_status(dir, transport, first_bytes, port_hint) {
        Detect::Found(p) => Some(p),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TS: Direction = Direction::ToServer;
    const TC: Direction = Direction::ToClient;

    #[test]
    fn http_on_any_port() {
        assert_eq!(
            detect(TS, Transport::Tcp, b"GET / HTTP/1.1\r\n", 8080),
            Some(AppProto::Http)
        );
        assert_eq!(
            detect(TC, Transport::Tcp, b"HTTP/1.1 200 OK\r\n", 1234),
            Some(AppProto::Http)
        );
        assert_eq!(
            detect_status(TS, Transport::Tcp, b"PO", 80),
            Detect::NeedMore
        );
        assert_eq!(
            detect_status(TS, Transport::Tcp, b"GETX / HTTP/1.1", 80),
            Detect::Unknown
        );
        assert_eq!(detect(TS, Transport::Udp, b"GET / HTTP/1.1\r\n", 80), None);
    }

    #[test]
    fn tls_record() {
        let ch = [0x16, 0x03, 0x01, 0x00, 0x40, 0x01, 0x00, 0x00, 0x3c];
        assert_eq!(detect(TS, Transport::Tcp, &ch, 8443), Some(AppProto::Tls));
        assert_eq!(
            detect_status(TS, Transport::Tcp, &ch[..3], 8443),
            Detect::NeedMore
        );
        let not = [0x16, 0x03, 0x01, 0x00, 0x40, 0x17];
        assert_eq!(
            detect_status(TS, Transport::Tcp, &not, 443),
            Detect::Unknown
        );
    }

    #[test]
    fn dns_needs_port_53_and_sanity() {
        let q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01a\x00\x00\x01\x00\x01";
        assert_eq!(detect(TS, Transport::Udp, q, 53), Some(AppProto::Dns));
        assert_eq!(detect(TS, Transport::Udp, q, 5353), None);
        let mut t = (q.len() as u16).to_be_bytes().to_vec();
        t.extend_from_slice(q);
        assert_eq!(detect(TS, Transport::Tcp, &t, 53), Some(AppProto::Dns));
        assert_eq!(
            detect(TS, Transport::Udp, b"\x00\x00\x00\x00garbage!", 53),
            None
        );
    }
}
