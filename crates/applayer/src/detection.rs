//! Protocol detection by content (and, for DNS, by port 53 plus Suricata's probe), as Suricata's
//! pattern matcher and probing parsers do, per direction ([`detect_dir`]): HTTP/1 by request
//! methods to the server and `HTTP/0.9|1.0|1.1` to the client, TLS by record headers of each
//! direction (any port; the SSLv2 probe on port 443), and the protocols detected without a
//! parser here, with Suricata 7.0.10's patterns and directions: SMB (NetBIOS
//! session header then `|ff|SMB`, `|fe|SMB` or `|fd|SMB` at offset 4, both directions, plus the
//! probe on its detection ports 139 and 445 (the stock suricata.yaml's `smb.detection-ports`) that
//! accepts one small NetBIOS message first), FTP (`USER `, `PASS `, `PORT `,
//! `FEAT` to the server, `220 (` to the client), SMTP (`EHLO`, `HELO`, `QUIT` to the server) and
//! SSH (`SSH-` either way); the text patterns are case-insensitive and anchored at offset 0.
//! UDP datagrams go through [`detect_udp`] (DNS). [`detect_status`] is the older check with HTTP
//! and TLS recognised either way (the HTTP parser's resynchronisation uses it).

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

/// Suricata 7.0.10's HTTP/1 request patterns (app-layer-htp.c): one of these methods, then a
/// space or a tab, at offset 0 of the to-server stream, case-insensitive.
const HTTP_METHODS: [&[u8]; 28] = [
    b"GET",
    b"PUT",
    b"POST",
    b"HEAD",
    b"TRACE",
    b"OPTIONS",
    b"CONNECT",
    b"DELETE",
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
];

/// Suricata 7.0.10's HTTP/1 response patterns: a status line's version at offset 0 of the
/// to-client stream, case-insensitive (no other version: `HTTP/2` or `HTTP/1.2` is not HTTP).
const HTTP_VERSIONS: [&[u8]; 3] = [b"HTTP/0.9", b"HTTP/1.0", b"HTTP/1.1"];

/// HTTP/1 by Suricata's patterns of direction `dir`: requests to the server, responses to the
/// client.
fn http_status(dir: Direction, d: &[u8]) -> Detect {
    let mut prefix = false;
    match dir {
        Direction::ToServer => {
            for m in HTTP_METHODS {
                for sep in [b' ', b'\t'] {
                    match anchored_ci2(d, m, sep) {
                        Detect::Found(_) => return Detect::Found(AppProto::Http),
                        Detect::NeedMore => prefix = true,
                        Detect::Unknown => {}
                    }
                }
            }
        }
        Direction::ToClient => {
            for v in HTTP_VERSIONS {
                match anchored_ci(d, v, AppProto::Http) {
                    Detect::Found(p) => return Detect::Found(p),
                    Detect::NeedMore => prefix = true,
                    Detect::Unknown => {}
                }
            }
        }
    }
    if prefix {
        Detect::NeedMore
    } else {
        Detect::Unknown
    }
}

/// [`anchored_ci`] for the pattern `head` followed by the byte `last` (a method and its
/// separator) as HTTP.
fn anchored_ci2(d: &[u8], head: &[u8], last: u8) -> Detect {
    match anchored_ci(d, head, AppProto::Http) {
        Detect::Found(_) => match d.get(head.len()) {
            None => Detect::NeedMore,
            Some(&b) if b == last => Detect::Found(AppProto::Http),
            Some(_) => Detect::Unknown,
        },
        st => st,
    }
}

/// Request methods that start an HTTP message for [`detect_status`] (libhtp knows these).
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

/// A request (any of [`METHODS`] then a space or tab) or a response (`HTTP/`) in either
/// direction: [`detect_status`]'s HTTP check, which the HTTP parser also uses to resume after a
/// gap. Suricata's per-direction patterns are [`http_status`].
fn http_message_status(d: &[u8]) -> Detect {
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

/// Suricata 7.0.10's TLS patterns (app-layer-ssl.c) of direction `dir`: to the server a record
/// header `|16 03 0x|` or `|01 03 0x|` (x <= 3) at offset 0, or `|01 00 02|` at offset 2 (an
/// SSLv2 hello) confirmed by its probe (high bit of the first byte); to the client an alert,
/// handshake or application-data record header `|15|`/`|16|`/`|17| 03 0x`; and to the server
/// on port 443 (stock `tls.detection-ports`) the probe alone.
fn tls_dir_status(dir: Direction, d: &[u8], port: u16) -> Detect {
    let versioned =
        |first: &[u8]| d.len() >= 3 && first.contains(&d[0]) && d[1] == 0x03 && d[2] <= 0x03;
    let sslv2 = |d: &[u8]| d.len() >= 3 && d[0] & 0x80 != 0 && d[2] == 0x01;
    match dir {
        Direction::ToServer => {
            if versioned(&[0x16, 0x01]) {
                return Detect::Found(AppProto::Tls);
            }
            if d.get(2..5) == Some(&[0x01, 0x00, 0x02][..]) && sslv2(d) {
                return Detect::Found(AppProto::Tls);
            }
            if port == 443 && sslv2(d) {
                return Detect::Found(AppProto::Tls);
            }
        }
        Direction::ToClient => {
            if versioned(&[0x15, 0x16, 0x17]) {
                return Detect::Found(AppProto::Tls);
            }
        }
    }
    if d.len() < 5 {
        Detect::NeedMore
    } else {
        Detect::Unknown
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

/// A case-insensitive pattern anchored at offset 0 as `proto`: found, a prefix of it (more bytes
/// may match), or not it.
fn anchored_ci(d: &[u8], pat: &[u8], proto: AppProto) -> Detect {
    let n = d.len().min(pat.len());
    if !d[..n].eq_ignore_ascii_case(&pat[..n]) {
        Detect::Unknown
    } else if n == pat.len() {
        Detect::Found(proto)
    } else {
        Detect::NeedMore
    }
}

/// Suricata's text patterns of the detected-only protocols: (direction, pattern, protocol).
const TEXT_PATTERNS: &[(Direction, &[u8], AppProto)] = &[
    (Direction::ToServer, b"USER ", AppProto::Ftp),
    (Direction::ToServer, b"PASS ", AppProto::Ftp),
    (Direction::ToServer, b"PORT ", AppProto::Ftp),
    (Direction::ToServer, b"FEAT", AppProto::Ftp),
    (Direction::ToClient, b"220 (", AppProto::Ftp),
    (Direction::ToServer, b"EHLO", AppProto::Smtp),
    (Direction::ToServer, b"HELO", AppProto::Smtp),
    (Direction::ToServer, b"QUIT", AppProto::Smtp),
    (Direction::ToServer, b"SSH-", AppProto::Ssh),
    (Direction::ToClient, b"SSH-", AppProto::Ssh),
];

fn text_status(dir: Direction, d: &[u8]) -> Detect {
    let mut need_more = false;
    for &(pdir, pat, proto) in TEXT_PATTERNS {
        if pdir != dir {
            continue;
        }
        match anchored_ci(d, pat, proto) {
            Detect::Found(p) => return Detect::Found(p),
            Detect::NeedMore => need_more = true,
            Detect::Unknown => {}
        }
    }
    if need_more {
        Detect::NeedMore
    } else {
        Detect::Unknown
    }
}

/// SMB record header plus NetBIOS session header: the probe wants this many bytes.
const SMB_MIN_REC: usize = 32 + 4;

/// NetBIOS session service message types (RFC 1002).
fn nbss_type_valid(t: u8) -> bool {
    matches!(t, 0x00 | 0x81..=0x85)
}

/// A NetBIOS record header at the start of `d` (valid type) followed by an SMB magic.
fn nbss_is_smb(d: &[u8]) -> bool {
    d.len() >= 8 && nbss_type_valid(d[0]) && matches!(d[4], 0xfd..=0xff) && &d[5..8] == b"SMB"
}

/// Suricata's SMB probe on at least [`SMB_MIN_REC`] bytes: an SMB record, or one small NetBIOS
/// message (a session request, say) and then an SMB record in the same bytes. The probe's
/// "want more" for a short first message only counts while no more than [`SMB_MIN_REC`] bytes
/// are there: past its maximal depth Suricata gives the probe up.
fn smb_probe(d: &[u8]) -> Detect {
    if d.len() < SMB_MIN_REC {
        return Detect::NeedMore;
    }
    if nbss_is_smb(d) {
        return Detect::Found(AppProto::Smb);
    }
    if nbss_type_valid(d[0]) && d[0] != 0x00 {
        let len = u32::from_be_bytes([0, d[1], d[2], d[3]]) as usize;
        let data = &d[4..];
        if data.len() >= len.saturating_add(8) {
            if data.get(len..).is_some_and(nbss_is_smb) {
                return Detect::Found(AppProto::Smb);
            }
        } else if len < 256 && d.len() == SMB_MIN_REC {
            return Detect::NeedMore;
        }
    }
    Detect::Unknown
}

/// SMB: the pattern `|ff|SMB` / `|fe|SMB` / `|fd|SMB` at offset 4 confirmed by the probe (both
/// directions, any port), and the probe alone on the SMB detection ports (stock suricata.yaml:
/// 139 and 445).
fn smb_status(d: &[u8], port: u16) -> Detect {
    let magic = d.len() >= 8 && matches!(d[4], 0xfd..=0xff) && &d[5..8] == b"SMB";
    if magic {
        return smb_probe(d);
    }
    let may_match = d.len() < 8 && {
        let tail = d.get(4..).unwrap_or(&[]);
        [&b"\xffSMB"[..], b"\xfeSMB", b"\xfdSMB"]
            .iter()
            .any(|m| m.starts_with(tail))
    };
    if matches!(port, 139 | 445) {
        match smb_probe(d) {
            Detect::Unknown if may_match => Detect::NeedMore,
            st => st,
        }
    } else if may_match {
        Detect::NeedMore
    } else {
        Detect::Unknown
    }
}

/// Tri-state detection on the first bytes of `dir` of a flow. `port_hint` is the server port.
///
/// HTTP is recognised here by a request or a response in either direction (the check the HTTP
/// parser resumes on after a gap), TLS by a handshake record either way; the data plane uses
/// [`detect_dir`], which has Suricata's per-direction HTTP and TLS patterns.
pub fn detect_status(
    dir: Direction,
    transport: Transport,
    first_bytes: &[u8],
    port_hint: u16,
) -> Detect {
    one_way(
        dir,
        transport,
        first_bytes,
        port_hint,
        (http_message_status(first_bytes), tls_status(first_bytes)),
    )
}

/// What one direction's protocol detection concluded on its first bytes ([`detect_dir`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Detection {
    pub status: Detect,
    /// The protocol was found by the patterns Suricata registers for the other direction (only
    /// tried with `stream.midstream`): a flow picked up mid-stream is going the other way.
    pub reversed: bool,
}

/// Suricata 7.0.10's protocol detection on the first bytes of `dir` of a TCP flow (or one UDP
/// payload): its patterns of that direction (HTTP requests to the server, `HTTP/0.9`,
/// `HTTP/1.0`, `HTTP/1.1` status lines to the client; TLS record headers of each direction;
/// SMB, FTP, SMTP, SSH as in [`detect_status`]) and its probing parsers by the server port. With `midstream` (Suricata's
/// `stream.midstream`, which applies to every flow) a TCP direction none of whose own patterns
/// matched also tries the other direction's patterns, and gives up only once both directions'
/// pattern depths are reached.
pub fn detect_dir(
    dir: Direction,
    transport: Transport,
    first_bytes: &[u8],
    port_hint: u16,
    midstream: bool,
) -> Detection {
    let own = one_way(
        dir,
        transport,
        first_bytes,
        port_hint,
        (
            http_status(dir, first_bytes),
            tls_dir_status(dir, first_bytes, port_hint),
        ),
    );
    if !midstream || transport != Transport::Tcp || matches!(own, Detect::Found(_)) {
        return Detection {
            status: own,
            reversed: false,
        };
    }
    let rdir = dir.reversed();
    let mut need_more = own == Detect::NeedMore || first_bytes.len() < pm_depth(rdir);
    for st in [
        http_status(rdir, first_bytes),
        tls_dir_status(rdir, first_bytes, 0),
        text_status(rdir, first_bytes),
    ] {
        match st {
            Detect::Found(p) => {
                return Detection {
                    status: Detect::Found(p),
                    reversed: true,
                }
            }
            Detect::NeedMore => need_more = true,
            Detect::Unknown => {}
        }
    }
    Detection {
        status: if need_more {
            Detect::NeedMore
        } else {
            Detect::Unknown
        },
        reversed: false,
    }
}

/// Detection with the patterns of `dir` and `http` as the HTTP check.
fn one_way(
    dir: Direction,
    transport: Transport,
    first_bytes: &[u8],
    port_hint: u16,
    (http, tls): (Detect, Detect),
) -> Detect {
    let mut need_more = false;
    if transport == Transport::Tcp {
        for st in [
            http,
            tls,
            smb_status(first_bytes, port_hint),
            text_status(dir, first_bytes),
        ] {
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
    // Suricata's pattern matcher gives a TCP direction up only once it holds as many bytes as
    // its deepest pattern for that direction reaches (measured on 7.0.10 with the stock
    // configuration: 17 bytes to the server, 8 to the client).
    if need_more
        || first_bytes.is_empty()
        || (transport == Transport::Tcp && first_bytes.len() < pm_depth(dir))
    {
        Detect::NeedMore
    } else {
        Detect::Unknown
    }
}

fn pm_depth(dir: Direction) -> usize {
    match dir {
        Direction::ToServer => PM_DEPTH_TOSERVER,
        Direction::ToClient => PM_DEPTH_TOCLIENT,
    }
}

/// Bytes Suricata 7.0.10's TCP pattern matcher needs before it gives a direction up.
const PM_DEPTH_TOSERVER: usize = 17;
const PM_DEPTH_TOCLIENT: usize = 8;

/// Whether the probing parser of `other`, the protocol the other direction was found to be,
/// recognises `d` (Suricata runs it on a direction's bytes, whatever the ports, once the other
/// direction is known): TLS's SSLv2 probe to the server. SMB's and DNS's probes are left out:
/// on their detection ports they already ran on these bytes and gave up (Suricata masks them
/// then); off those ports this is not done for them (measured equal on bench-mixed.pcap).
pub fn other_side_probe(other: AppProto, dir: Direction, transport: Transport, d: &[u8]) -> bool {
    match (other, transport) {
        (AppProto::Tls, Transport::Tcp) => {
            dir == Direction::ToServer && d.len() >= 3 && d[0] & 0x80 != 0 && d[2] == 0x01
        }
        _ => false,
    }
}

/// Suricata 7.0.10's detection of one UDP datagram (`AppLayerHandleUdp` runs it on the first
/// datagram of each direction): the DNS probing parser, registered on destination port 53
/// (stock `dns.udp.detection-ports`), and also run whatever the ports once the other direction
/// was found to be DNS; with `stream.midstream` Suricata retries its probing parsers with the
/// ports swapped, so the client port 53 counts too. `ports` is (client, server). Returns the protocol and the direction the message says it travels (a
/// DNS request goes to the server): when that is not the datagram's direction, Suricata
/// reverses the flow.
pub fn detect_udp(
    payload: &[u8],
    ports: (u16, u16),
    other_dir: Option<AppProto>,
    midstream: bool,
) -> Option<(AppProto, Direction)> {
    let (client_port, server_port) = ports;
    if server_port != 53 && other_dir != Some(AppProto::Dns) && !(midstream && client_port == 53) {
        return None;
    }
    dns::probe(payload).map(|request| {
        let to = if request {
            Direction::ToServer
        } else {
            Direction::ToClient
        };
        (AppProto::Dns, to)
    })
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
            detect_status(TS, Transport::Tcp, b"GETX / HTTP/1.1\r\n\r\n", 80),
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
        let not = [
            0x16, 0x03, 0x01, 0x00, 0x40, 0x17, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        assert_eq!(
            detect_status(TS, Transport::Tcp, &not, 443),
            Detect::Unknown
        );
    }

    /// An SMB2 NEGOTIATE request as sent on port 445: NetBIOS session message (length 0x66), then
    /// the 64-byte SMB2 header (`|fe|SMB`, header length 64, command 0).
    const SMB2_NEGOTIATE: &[u8] = b"\x00\x00\x00\x66\xfeSMB\x40\x00\x00\x00\x00\x00\x00\x00\
        \x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\
        \x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00";
    /// An SMB1 NEGOTIATE response header (`|ff|SMB`, command 0x72, flags 0x98: a reply).
    const SMB1_NEGOTIATE_RESP: &[u8] = b"\x00\x00\x00\x55\xffSMB\x72\x00\x00\x00\x00\x98\x53\xc8\
        \x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xfe\x00\x00\x00\x00\x00\x00";
    /// A NetBIOS session request (type 0x81, 68 bytes of called/calling names) and then the
    /// first SMB1 record, in one segment.
    fn session_request_then_smb() -> Vec<u8> {
        let mut v = vec![0x81, 0x00, 0x00, 0x44];
        v.extend_from_slice(&[0x20; 68]);
        v.extend_from_slice(&SMB1_NEGOTIATE_RESP[..12]);
        v
    }

    #[test]
    fn detected_only_protocols() {
        let sr = session_request_then_smb();
        // (direction, bytes, server port, expected)
        let table: &[(Direction, &[u8], u16, Detect)] = &[
            // SMB by pattern at offset 4, any port, both directions, once 36 bytes are there.
            (TS, SMB2_NEGOTIATE, 12345, Detect::Found(AppProto::Smb)),
            (TC, SMB1_NEGOTIATE_RESP, 445, Detect::Found(AppProto::Smb)),
            (TS, &SMB2_NEGOTIATE[..20], 12345, Detect::NeedMore),
            (TS, &SMB2_NEGOTIATE[..6], 12345, Detect::NeedMore),
            (
                TS,
                b"\x00\x00\x00\x10\xfeSMX\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
                12345,
                Detect::Unknown,
            ),
            // An invalid NetBIOS message type before the magic.
            (
                TS,
                &[&[0x42u8, 0, 0, 0x66][..], &SMB2_NEGOTIATE[4..]].concat(),
                445,
                Detect::Unknown,
            ),
            // The port-445 probe: a session request first, then SMB in the same bytes; a
            // session request alone is given up past 36 bytes.
            (TS, &sr, 445, Detect::Found(AppProto::Smb)),
            (TS, &sr[..36], 445, Detect::NeedMore),
            (TS, &sr[..40], 445, Detect::Unknown),
            (TS, &sr, 139, Detect::Found(AppProto::Smb)),
            (TS, &sr, 4445, Detect::Unknown),
            // FTP: commands to the server, the "220 (" banner to the client, any case.
            (TS, b"USER anonymous\r\n", 21, Detect::Found(AppProto::Ftp)),
            (TS, b"user bob\r\n", 2121, Detect::Found(AppProto::Ftp)),
            (TS, b"PASS x\r\n", 21, Detect::Found(AppProto::Ftp)),
            (
                TS,
                b"PORT 10,0,0,1,4,1\r\n",
                21,
                Detect::Found(AppProto::Ftp),
            ),
            (TS, b"FEAT\r\n", 21, Detect::Found(AppProto::Ftp)),
            (
                TC,
                b"220 (vsFTPd 3.0.3)\r\n",
                21,
                Detect::Found(AppProto::Ftp),
            ),
            (TC, b"220 mail.example.com ESMTP\r\n", 25, Detect::Unknown),
            (TC, b"USER anonymous\r\n", 21, Detect::Unknown),
            (TS, b"US", 21, Detect::NeedMore),
            // SMTP: EHLO/HELO/QUIT to the server.
            (
                TS,
                b"EHLO client.example.com\r\n",
                25,
                Detect::Found(AppProto::Smtp),
            ),
            (TS, b"helo x\r\n", 587, Detect::Found(AppProto::Smtp)),
            (TS, b"QUIT\r\n", 25, Detect::Found(AppProto::Smtp)),
            (TC, b"EHLO x\r\n", 25, Detect::Unknown),
            // SSH: the version banner either way.
            (
                TS,
                b"SSH-2.0-OpenSSH_8.9p1\r\n",
                22,
                Detect::Found(AppProto::Ssh),
            ),
            (
                TC,
                b"SSH-2.0-OpenSSH_8.9p1\r\n",
                2222,
                Detect::Found(AppProto::Ssh),
            ),
            (TS, b"SSX-2.0-OpenSSH_8.9\r\n", 22, Detect::Unknown),
            // Nothing recognised: Suricata waits for 17 bytes to the server, 8 to the client.
            (TS, &[b'a'; 16], 7777, Detect::NeedMore),
            (TS, &[b'a'; 17], 7777, Detect::Unknown),
            (TC, &[b'b'; 7], 7777, Detect::NeedMore),
            (TC, &[b'b'; 8], 7777, Detect::Unknown),
        ];
        for (i, (dir, bytes, port, want)) in table.iter().enumerate() {
            assert_eq!(
                detect_status(*dir, Transport::Tcp, bytes, *port),
                *want,
                "row {i}"
            );
        }
        // Never on UDP.
        assert_eq!(detect(TS, Transport::Udp, b"SSH-2.0-x\r\n", 22), None);
    }

    /// Every prefix of NetBIOS-shaped inputs (all message types, short and long lengths, the
    /// magic at offset 4 or behind a first message) on the SMB ports and others: an answer, no
    /// panic, and a decided answer never changes into "need more".
    #[test]
    fn smb_shapes_never_panic() {
        let mut seed = 0x2545_f491_u32;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        for t in [0x00u8, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0xff] {
            for len in [0u32, 3, 4, 8, 40, 68, 255, 256, 0xff_ffff] {
                let mut v = vec![t, (len >> 16) as u8, (len >> 8) as u8, len as u8];
                for _ in 0..100 {
                    v.push(next() as u8);
                }
                if next() % 2 == 0 {
                    v[4..8].copy_from_slice(b"\xfeSMB");
                }
                let at = 4 + (len as usize).min(80);
                if next() % 2 == 0 && at + 8 <= v.len() {
                    v[at..at + 8].copy_from_slice(b"\x00\x00\x00\x10\xffSMB");
                }
                for port in [139, 445, 4445] {
                    for dir in [TS, TC] {
                        let mut decided = false;
                        for n in 0..=v.len() {
                            let st = smb_status(&v[..n], port);
                            let _ = detect_status(dir, Transport::Tcp, &v[..n], port);
                            assert!(!(decided && st == Detect::NeedMore), "{v:?} {n}");
                            decided |= st != Detect::NeedMore;
                        }
                    }
                }
            }
        }
    }

    /// Suricata's HTTP/1 patterns are per direction: requests (28 methods, then a space or a
    /// tab) to the server, `HTTP/0.9|1.0|1.1` to the client. Bytes from bench-mixed.pcap
    /// (a UPnP `SUBSCRIBE`/`NOTMETHOD` request and its `HTTP/1.0` response).
    #[test]
    fn http_patterns_are_per_direction() {
        let st = |dir, b: &[u8]| detect_dir(dir, Transport::Tcp, b, 80, false).status;
        let http = Detect::Found(AppProto::Http);
        assert_eq!(st(TS, b"GET / HTTP/1.1\r\n"), http);
        assert_eq!(st(TS, b"get\t/ HTTP/1.1\r\n"), http);
        assert_eq!(st(TS, b"BASELINE-CONTROL / HTTP/1.1\r\n"), http);
        assert_eq!(st(TS, b"BASELINE-CONTROL"), Detect::NeedMore);
        // Not among Suricata's methods: given up at the 17-byte depth.
        assert_eq!(st(TS, b"SUBSCRIBE /WANIPCo"), Detect::Unknown);
        assert_eq!(st(TS, b"NOTMETHOD /WANIPCo"), Detect::Unknown);
        assert_eq!(st(TS, b"GETX / HTTP/1.1\r\n\r\n"), Detect::Unknown);
        // Responses only to the client, requests only to the server.
        assert_eq!(st(TC, b"HTTP/1.0 200 OK\r\nServer: UPnP/1.0\r\n"), http);
        assert_eq!(st(TC, b"http/1.1 200 OK\r\n"), http);
        assert_eq!(
            st(TS, b"HTTP/1.0 200 OK\r\nServer: UPnP/1.0\r\n"),
            Detect::Unknown
        );
        assert_eq!(st(TC, b"GET / HTTP/1.1\r\n"), Detect::Unknown);
        assert_eq!(st(TC, b"HTTP/2 200\r\n"), Detect::Unknown);
        assert_eq!(st(TC, b"HTTP/1."), Detect::NeedMore);
        // detect_status keeps recognising either message anywhere (the HTTP parser's resync).
        assert_eq!(
            detect_status(TS, Transport::Tcp, b"HTTP/1.0 200 OK\r\n", 80),
            http
        );
    }

    /// With `stream.midstream` a direction whose own patterns fail tries the other direction's:
    /// a response seen going to the "server" is HTTP, reversed; it gives up only at the deeper
    /// of the two pattern depths.
    #[test]
    fn midstream_tries_the_other_directions_patterns() {
        let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(
            detect_dir(TS, Transport::Tcp, resp, 80, true),
            Detection {
                status: Detect::Found(AppProto::Http),
                reversed: true
            }
        );
        let req = b"POST /x HTTP/1.1\r\nHost: a\r\n\r\n";
        assert_eq!(
            detect_dir(TC, Transport::Tcp, req, 80, true),
            Detection {
                status: Detect::Found(AppProto::Http),
                reversed: true
            }
        );
        assert_eq!(
            detect_dir(TC, Transport::Tcp, req, 80, false).status,
            Detect::Unknown
        );
        // Own direction found: not reversed.
        assert!(!detect_dir(TS, Transport::Tcp, req, 80, true).reversed);
        // To the client, 8 bytes are enough without midstream, 17 with it.
        let junk = [b'z'; 12];
        assert_eq!(
            detect_dir(TC, Transport::Tcp, &junk, 80, false).status,
            Detect::Unknown
        );
        assert_eq!(
            detect_dir(TC, Transport::Tcp, &junk, 80, true).status,
            Detect::NeedMore
        );
        assert_eq!(
            detect_dir(TC, Transport::Tcp, &[b'z'; 17], 80, true).status,
            Detect::Unknown
        );
    }

    /// Suricata's TLS patterns per direction: handshake (or `|01 03 0x|`) records to the
    /// server, alert/handshake/application-data records to the client (a server whose first
    /// record is an alert, as in bench-mixed.pcap), SSLv2 hellos by the `|01 00 02|` pattern or
    /// on port 443, and the SSLv2 probe on the request side once the response is TLS.
    #[test]
    fn tls_patterns_are_per_direction() {
        let st = |dir, b: &[u8], port| detect_dir(dir, Transport::Tcp, b, port, false).status;
        let tls = Detect::Found(AppProto::Tls);
        let ch = b"\x16\x03\x01\x00\xcf\x01\x00\x00\xcb\x03\x03\x72\xa7\xb8\x95\x58\x91";
        assert_eq!(st(TS, ch, 4443), tls);
        assert_eq!(st(TC, ch, 4443), tls);
        let alert_first =
            b"\x15\x03\x03\x00\x02\x01\x70\x16\x03\x03\x00\x41\x02\x00\x00\x3d\x03\x03\xff";
        assert_eq!(st(TC, alert_first, 443), tls);
        assert_eq!(st(TS, alert_first, 443), Detect::Unknown);
        assert_eq!(st(TC, b"\x17\x03\x03\x01\x00abcdefghijkl", 443), tls);
        assert_eq!(
            st(TS, b"\x17\x03\x03\x01\x00abcdefghijkl", 443),
            Detect::Unknown
        );
        assert_eq!(
            st(TS, b"\x16\x03\x04\x01\x00abcdefghijkl", 443),
            Detect::Unknown
        );
        // SSLv2 client hello, version 2: the pattern at offset 2, any port.
        let v2 = b"\x80\x2e\x01\x00\x02\x00\x15\x00\x00\x00\x10\x07\x00\xc0\x05\x00\x80";
        assert_eq!(st(TS, v2, 8000), tls);
        // SSLv2-framed hello for TLS 1.2 (bench-mixed.pcap, port 4430): only on port 443, or
        // once the response was found to be TLS.
        let v2_tls12 = b"\x80\x32\x01\x03\x03\x00\x09\x00\x00\x00\x20\x00\x00\x03\x02\x00\x80";
        assert_eq!(st(TS, v2_tls12, 4430), Detect::Unknown);
        assert_eq!(st(TS, v2_tls12, 443), tls);
        assert!(other_side_probe(
            AppProto::Tls,
            TS,
            Transport::Tcp,
            v2_tls12
        ));
        assert!(!other_side_probe(
            AppProto::Tls,
            TC,
            Transport::Tcp,
            v2_tls12
        ));
        assert!(!other_side_probe(
            AppProto::Http,
            TS,
            Transport::Tcp,
            v2_tls12
        ));
    }

    /// Arbitrary bytes (and DNS-shaped ones with random counts, labels and pointers): every
    /// prefix gets an answer from detect_dir, detect_udp and the DNS probe, never a panic.
    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut seed = 0x9e37_79b9_u32;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        for round in 0..400 {
            let n = (next() % 96) as usize;
            let mut v: Vec<u8> = (0..n).map(|_| next() as u8).collect();
            if round % 2 == 0 && v.len() > 12 {
                // Small counts and label/pointer bytes: the probe walks names.
                for b in &mut v[4..12] {
                    *b &= 0x03;
                }
                for b in v.iter_mut().skip(12).step_by(3) {
                    *b = [0x00, 0x01, 0x3f, 0xc0, 0x40, 0x80][(*b % 6) as usize];
                }
            }
            for k in 0..=v.len() {
                let d = &v[..k];
                for dir in [TS, TC] {
                    for mid in [false, true] {
                        let _ = detect_dir(dir, Transport::Tcp, d, 443, mid);
                        let _ = detect_dir(dir, Transport::Udp, d, 53, mid);
                    }
                    let _ = other_side_probe(AppProto::Tls, dir, Transport::Tcp, d);
                }
                let _ = detect_udp(d, (53, 53), Some(AppProto::Dns), true);
                let _ = dns::probe(d);
            }
        }
    }

    /// Suricata's UDP DNS probe, on datagrams from bench-mixed.pcap: an inverse query with no
    /// question (packet 181331) and a bare 12-byte response header (181332, 207941) are DNS; an
    /// SNMP message sent to port 53 (207940) is not; port 53 is the server's, or the client's
    /// with midstream, or any once the other direction is DNS.
    #[test]
    fn udp_dns_probe_as_suricata() {
        let iquery =
            b"\x77\xfc\x09\x00\x00\x00\x00\x01\x00\x00\x00\x00\x03\x32\x31\x36\x02\x35\x38\
            \x03\x32\x30\x32\x01\x34\x00\x00\x01\x00\x01\x00\x00\x00\x00\x00\x00";
        let header_only = b"\x30\x40\x80\x81\x00\x00\x00\x00\x00\x00\x00\x00";
        let snmp = b"\x30\x40\x02\x01\x03\x30\x0f\x02\x03\x00\x91\xc8\x02\x02\x05\xdc\x04\x01\
            \x04\x02\x01\x03\x04\x15\x30\x13\x04\x00\x02\x01\x00\x02\x01\x00\x04\x05\x61\x64";
        let dns = Some((AppProto::Dns, TS));
        assert_eq!(detect_udp(iquery, (18427, 53), None, false), dns);
        assert_eq!(
            detect_udp(header_only, (59075, 53), None, false),
            Some((AppProto::Dns, TC))
        );
        assert_eq!(detect_udp(snmp, (59075, 53), None, false), None);
        assert_eq!(detect_udp(iquery, (18427, 5353), None, false), None);
        assert_eq!(detect_udp(iquery, (53, 5353), None, false), None);
        assert_eq!(detect_udp(iquery, (53, 5353), None, true), dns);
        assert_eq!(
            detect_udp(iquery, (18427, 5353), Some(AppProto::Dns), false),
            dns
        );
        assert_eq!(detect_udp(&header_only[..11], (1, 53), None, false), None);
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
