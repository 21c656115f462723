//! DNS over UDP (one message per datagram) and TCP (2-byte length prefix), enough for `dns.query`
//! and the EVE `dns` object.
//!
//! Our own small parser rather than a crate: `dns.query` must present the name bytes exactly as
//! Suricata does (labels joined with `.`, bytes as sent, no lowercasing, no escaping, no trailing
//! dot), including names that general-purpose DNS crates reject (non-UTF-8 labels used by tunnels).

use std::collections::VecDeque;

use seawall_flow::{Direction, Timestamp};

use crate::{AppEvent, Counters, EventKind, Limits};

/// Longest name we build (RFC 1035: 255 octets on the wire).
const MAX_NAME: usize = 255;
/// At most this many compression pointers are followed in one name.
const MAX_POINTERS: usize = 16;
/// At most this many questions are kept per message.
const MAX_QUESTIONS: usize = 32;

/// One question of a DNS message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsQuestion {
    /// Name as Suricata presents it: labels joined with `.`, raw bytes.
    pub name: Vec<u8>,
    pub rrtype: u16,
    pub rrclass: u16,
}

/// One DNS message (a transaction).
#[derive(Debug, Clone)]
pub struct DnsTx {
    pub tx_id: u64,
    pub ts: Timestamp,
    pub id: u16,
    /// QR bit: true for responses.
    pub response: bool,
    pub opcode: u8,
    pub rcode: u8,
    pub questions: Vec<DnsQuestion>,
}

impl DnsTx {
    pub(crate) fn mem(&self) -> usize {
        std::mem::size_of::<Self>()
            + self
                .questions
                .iter()
                .map(|q| q.name.capacity() + std::mem::size_of::<DnsQuestion>())
                .sum::<usize>()
    }

    /// `dns.query` buffers: the query names of a request (Suricata 7 inspects `dns.query` in
    /// requests only).
    pub fn queries(&self) -> impl Iterator<Item = &[u8]> {
        self.questions
            .iter()
            .filter(move |_| !self.response)
            .map(|q| q.name.as_slice())
    }

    /// EVE `dns` object as Suricata 7 adds it to alerts.
    pub fn eve(&self) -> serde_json::Value {
        let key = if self.response { "answer" } else { "query" };
        let items: Vec<serde_json::Value> = self
            .questions
            .iter()
            .map(|q| {
                serde_json::json!({
                    "type": key,
                    "id": self.id,
                    "rrname": crate::eve_string(&q.name),
                    "rrtype": rrtype_name(q.rrtype),
                    "tx_id": self.tx_id,
                    "opcode": self.opcode,
                })
            })
            .collect();
        serde_json::json!({ key: items })
    }
}

/// Suricata's text for common record types (numeric string otherwise).
pub fn rrtype_name(t: u16) -> String {
    let s = match t {
        1 => "A",
        2 => "NS",
        5 => "CNAME",
        6 => "SOA",
        10 => "NULL",
        12 => "PTR",
        13 => "HINFO",
        15 => "MX",
        16 => "TXT",
        28 => "AAAA",
        33 => "SRV",
        35 => "NAPTR",
        41 => "OPT",
        43 => "DS",
        46 => "RRSIG",
        47 => "NSEC",
        48 => "DNSKEY",
        50 => "NSEC3",
        64 => "SVCB",
        65 => "HTTPS",
        99 => "SPF",
        252 => "AXFR",
        255 => "ANY",
        257 => "CAA",
        _ => return t.to_string(),
    };
    s.to_string()
}

/// Why a message could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DnsError {
    #[error("dns message shorter than its header")]
    Truncated,
    #[error("dns name runs past the message or loops")]
    BadName,
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// Read the name at `pos`; returns the name and the offset just after it in the original position.
pub(crate) fn read_name(msg: &[u8], mut pos: usize) -> Result<(Vec<u8>, usize), DnsError> {
    let mut name = Vec::new();
    let mut end = None;
    let mut pointers = 0;
    loop {
        let len = *msg.get(pos).ok_or(DnsError::BadName)?;
        match len & 0xc0 {
            0x00 => {
                if len == 0 {
                    return Ok((name, end.unwrap_or(pos + 1)));
                }
                let l = len as usize;
                let label = msg.get(pos + 1..pos + 1 + l).ok_or(DnsError::BadName)?;
                if !name.is_empty() {
                    name.push(b'.');
                }
                if name.len() + l > MAX_NAME {
                    return Err(DnsError::BadName);
                }
                name.extend_from_slice(label);
                pos += 1 + l;
            }
            0xc0 => {
                let lo = *msg.get(pos + 1).ok_or(DnsError::BadName)?;
                pointers += 1;
                if pointers > MAX_POINTERS {
                    return Err(DnsError::BadName);
                }
                if end.is_none() {
                    end = Some(pos + 2);
                }
                pos = (((len & 0x3f) as usize) << 8) | lo as usize;
            }
            _ => return Err(DnsError::BadName),
        }
    }
}

/// Parse the header and the question section of one DNS message.
pub fn parse_message(msg: &[u8], tx_id: u64, ts: Timestamp) -> Result<DnsTx, DnsError> {
    if msg.len() < 12 {
        return Err(DnsError::Truncated);
    }
    let id = be16(msg, 0).ok_or(DnsError::Truncated)?;
    let flags = be16(msg, 2).ok_or(DnsError::Truncated)?;
    let qd = be16(msg, 4).ok_or(DnsError::Truncated)? as usize;
    let mut questions = Vec::new();
    let mut pos = 12;
    for _ in 0..qd.min(MAX_QUESTIONS) {
        let (name, next) = read_name(msg, pos)?;
        let rrtype = be16(msg, next).ok_or(DnsError::Truncated)?;
        let rrclass = be16(msg, next + 2).ok_or(DnsError::Truncated)?;
        pos = next + 4;
        questions.push(DnsQuestion {
            name,
            rrtype,
            rrclass,
        });
    }
    Ok(DnsTx {
        tx_id,
        ts,
        id,
        response: flags & 0x8000 != 0,
        opcode: ((flags >> 11) & 0x0f) as u8,
        rcode: (flags & 0x0f) as u8,
        questions,
    })
}

/// Does `msg` look like a DNS message (used by protocol detection on port 53)?
pub fn looks_like_dns(msg: &[u8]) -> bool {
    let (Some(flags), Some(qd), Some(an), Some(ns), Some(ar)) = (
        be16(msg, 2),
        be16(msg, 4),
        be16(msg, 6),
        be16(msg, 8),
        be16(msg, 10),
    ) else {
        return false;
    };
    let opcode = (flags >> 11) & 0x0f;
    if opcode > 6 || qd == 0 || qd > 64 || an > 1024 || ns > 1024 || ar > 1024 {
        return false;
    }
    read_name(msg, 12).is_ok()
}

/// How a name or question ended in [`probe`]'s walk: parsed, cut short by the end of the
/// input, or malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Walk {
    Done(usize),
    Short,
    Bad,
}

/// Labels (and pointers) followed in one name before Suricata's name parser stops.
const PROBE_MAX_LABELS: usize = 255;
/// Suricata's longest name (in dotted form); past it a name that followed a pointer ends.
const PROBE_MAX_NAME_LEN: usize = 1025;

/// Walks one name at `at` as Suricata 7.0.10's DNS name parser does for its probe: the end of
/// the input ends the name; a label running past the end, or a pointer cut in half, is
/// "incomplete"; label types 01/10, a pointer past the end, or a pointer to itself before any
/// other pointer are errors; past 255 labels the walk stops (an error unless a pointer was
/// followed), and where the name first grows past 1025 characters if a pointer was followed. Returns the offset just
/// past the name in the original position.
fn probe_name(msg: &[u8], at: usize) -> Walk {
    let mut pos = at;
    // Where the name ends in the original position, once a pointer was followed.
    let mut after: Option<usize> = None;
    let mut count = 0usize;
    let mut name_len = 0usize;
    // Suricata cuts the name at its longest once; the walk ends there if a pointer was followed.
    let mut truncated = false;
    while let Some(&len) = msg.get(pos) {
        if len == 0 {
            pos += 1;
            break;
        }
        match len & 0xc0 {
            0x00 => {
                let end = pos + 1 + usize::from(len);
                if end > msg.len() {
                    return Walk::Short;
                }
                if !truncated {
                    name_len += usize::from(name_len > 0) + usize::from(len);
                }
                pos = end;
            }
            0xc0 => {
                let Some(lo) = msg.get(pos + 1) else {
                    return Walk::Short;
                };
                let target = usize::from(u16::from_be_bytes([len, *lo]) & 0x3fff);
                if target > msg.len() {
                    return Walk::Bad;
                }
                if target == pos {
                    if after.is_some() {
                        break;
                    }
                    return Walk::Bad;
                }
                if after.is_none() {
                    after = Some(pos + 2);
                }
                pos = target;
            }
            _ => return Walk::Bad,
        }
        count += 1;
        if count > PROBE_MAX_LABELS {
            if after.is_some() {
                break;
            }
            return Walk::Bad;
        }
        if name_len > PROBE_MAX_NAME_LEN {
            name_len = PROBE_MAX_NAME_LEN;
            truncated = true;
            if after.is_some() {
                break;
            }
        }
    }
    Walk::Done(after.unwrap_or(pos))
}

/// Suricata 7.0.10's DNS probing parser on one message (`rs_dns_probe`; for TCP the message
/// after its length prefix): at least a 12-byte header; the questions the header announces
/// parsed as a request (names, type, class), a message cut short judged on its header alone,
/// a malformed name refused; and the header's record counts must fit the message (two bytes
/// each at least). `Some(true)` for a request (QR bit clear), `Some(false)` for a response,
/// `None` when it is not DNS.
pub fn probe(msg: &[u8]) -> Option<bool> {
    let (Some(flags), Some(qd), Some(an), Some(ns), Some(ar)) = (
        be16(msg, 2),
        be16(msg, 4),
        be16(msg, 6),
        be16(msg, 8),
        be16(msg, 10),
    ) else {
        return None;
    };
    let mut at = 12;
    for _ in 0..qd {
        match probe_name(msg, at) {
            Walk::Done(end) if end + 4 <= msg.len() => at = end + 4,
            // The name or its type and class cut short: the header alone decides.
            Walk::Done(_) | Walk::Short => break,
            Walk::Bad => return None,
        }
    }
    let records = 2 * (usize::from(qd) + usize::from(an) + usize::from(ns) + usize::from(ar));
    if records + 12 > msg.len() {
        return None;
    }
    Some(flags & 0x8000 == 0)
}

/// Per-flow DNS state.
#[derive(Debug)]
pub struct DnsState {
    tcp: bool,
    /// TCP reassembly buffer per direction (`[to_server, to_client]`).
    tcp_buf: [Vec<u8>; 2],
    txs: VecDeque<DnsTx>,
    next_tx: u64,
}

impl DnsState {
    pub(crate) fn new(tcp: bool) -> Self {
        DnsState {
            tcp,
            tcp_buf: [Vec::new(), Vec::new()],
            txs: VecDeque::new(),
            next_tx: 0,
        }
    }

    pub(crate) fn tx(&self, id: u64) -> Option<&DnsTx> {
        self.txs.iter().find(|t| t.tx_id == id)
    }

    pub(crate) fn mem(&self) -> usize {
        self.tcp_buf.iter().map(Vec::capacity).sum::<usize>()
            + self.txs.iter().map(DnsTx::mem).sum::<usize>()
    }

    pub(crate) fn gap(&mut self, dir: Direction) {
        // A TCP gap loses the framing: drop what we have and hope the next chunk starts a message.
        self.tcp_buf[crate::dir_index(dir)].clear();
    }

    pub(crate) fn feed(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        data: &[u8],
        limits: &Limits,
        counters: &mut Counters,
        events: &mut Vec<AppEvent>,
    ) {
        if !self.tcp {
            self.message(dir, ts, data, limits, counters, events);
            return;
        }
        let idx = crate::dir_index(dir);
        let mut buf = std::mem::take(&mut self.tcp_buf[idx]);
        let mut data = data;
        while !data.is_empty() || buf.len() >= 2 {
            // Need the 2-byte length first.
            while buf.len() < 2 && !data.is_empty() {
                buf.push(data[0]);
                data = &data[1..];
            }
            if buf.len() < 2 {
                break;
            }
            let want = u16::from_be_bytes([buf[0], buf[1]]) as usize;
            let have = buf.len() - 2;
            let take = (want - have.min(want)).min(data.len());
            buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if buf.len() - 2 == want {
                self.message(dir, ts, &buf[2..], limits, counters, events);
                buf.clear();
            } else {
                break;
            }
        }
        self.tcp_buf[idx] = buf;
    }

    fn message(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        msg: &[u8],
        limits: &Limits,
        counters: &mut Counters,
        events: &mut Vec<AppEvent>,
    ) {
        match parse_message(msg, self.next_tx, ts) {
            Ok(tx) => {
                let kind = if tx.response {
                    EventKind::DnsResponse
                } else {
                    EventKind::DnsRequest
                };
                let _ = dir;
                events.push(AppEvent {
                    tx_id: tx.tx_id,
                    kind,
                });
                self.next_tx += 1;
                self.txs.push_back(tx);
                while self.txs.len() > limits.max_txs.max(1) {
                    self.txs.pop_front();
                    counters.tx_evicted += 1;
                }
            }
            Err(_) => counters.dns_malformed += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUERY: &[u8] = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x07Example\x03com\x00\x00\x01\x00\x01";

    #[test]
    fn parses_query_name_as_sent() {
        let tx = parse_message(QUERY, 0, Timestamp(0)).expect("valid");
        assert_eq!(tx.id, 0x1234);
        assert!(!tx.response);
        assert_eq!(tx.questions.len(), 1);
        assert_eq!(tx.questions[0].name, b"www.Example.com");
        assert_eq!(tx.questions[0].rrtype, 1);
        assert!(looks_like_dns(QUERY));
    }

    /// [`probe`] follows Suricata's DNS probe: counts must fit the message, a truncated
    /// question is judged on the header, bad label types and self-pointers are refused, and
    /// pointer loops between two names stop at the label limit without failing.
    #[test]
    fn probe_as_suricata() {
        assert_eq!(probe(QUERY), Some(true));
        let mut resp = QUERY.to_vec();
        resp[2] |= 0x80;
        assert_eq!(probe(&resp), Some(false));
        // Header only, no records: DNS; one byte short: not.
        assert_eq!(
            probe(&QUERY[..12].iter().map(|_| 0).collect::<Vec<u8>>()),
            Some(true)
        );
        assert_eq!(probe(&[0u8; 11]), None);
        // The question cut inside its name: the header decides (1 question fits in 14 bytes).
        assert_eq!(probe(&QUERY[..16]), Some(true));
        // More records announced than two bytes each can hold.
        let mut many = QUERY.to_vec();
        many[10] = 0x40;
        assert_eq!(probe(&many), None);
        // A label of type 01: malformed.
        let mut bad = QUERY[..12].to_vec();
        bad.extend_from_slice(b"\x41a\x00\x00\x01\x00\x01");
        assert_eq!(probe(&bad), None);
        // A pointer to itself: malformed.
        let mut own = QUERY[..12].to_vec();
        own.extend_from_slice(b"\xc0\x0c\x00\x01\x00\x01");
        assert_eq!(probe(&own), None);
        // Two names pointing at each other: the walk stops, the message is DNS.
        let mut lp = QUERY[..12].to_vec();
        lp[5] = 2;
        lp.extend_from_slice(b"\x01a\xc0\x14\x00\x01\x00\x01\x01b\xc0\x0c\x00\x01\x00\x01");
        assert_eq!(probe(&lp), Some(true));
    }

    #[test]
    fn compression_pointer_loop_is_an_error() {
        let mut m = QUERY[..12].to_vec();
        m.extend_from_slice(b"\xc0\x0c\x00\x01\x00\x01");
        assert_eq!(
            parse_message(&m, 0, Timestamp(0)).err(),
            Some(DnsError::BadName)
        );
        assert!(!looks_like_dns(&m));
    }

    #[test]
    fn tcp_framing_across_chunks() {
        let mut st = DnsState::new(true);
        let mut framed = (QUERY.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(QUERY);
        framed.extend_from_slice(&framed.clone());
        let mut ev = Vec::new();
        let mut c = Counters::default();
        for ch in framed.chunks(3) {
            st.feed(
                Direction::ToServer,
                Timestamp(0),
                ch,
                &Limits::default(),
                &mut c,
                &mut ev,
            );
        }
        assert_eq!(ev.len(), 2);
        assert_eq!(
            st.tx(1).expect("tx").queries().collect::<Vec<_>>(),
            vec![&b"www.Example.com"[..]]
        );
    }
}
