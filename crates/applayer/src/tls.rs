//! TLS handshake: record framing and handshake-message reassembly here (bounded), message bodies
//! parsed with `tls-parser`, certificates with `x509-parser` (the crate Suricata itself uses, so
//! subject/issuer strings are formatted identically), JA3/JA3S/JA4 computed per their specs.
//!
//! - JA3 string: `SSLVersion,Ciphers,Extensions,EllipticCurves,EcPointFormats`, decimal values,
//!   list items joined by `-`, GREASE values (0x?a?a with equal bytes) removed from ciphers,
//!   extensions and curves; `ja3.hash` is its lowercase hex MD5.
//! - JA3S string: `SSLVersion,Cipher,Extensions` from the ServerHello, hashed likewise.
//! - JA4 (`ja4.hash`): `t` + version (highest non-GREASE supported_versions entry, else the hello
//!   version: `13`,`12`,`11`,`10`,`s3`,`s2`, `00` otherwise) + `d`/`i` (SNI present or not) +
//!   2-digit cipher count + 2-digit extension count (GREASE excluded, capped at 99) + first and
//!   last character of the first ALPN value (`00` without ALPN) + `_` + first 12 hex digits of
//!   SHA-256 over the sorted ciphers (4-digit hex, comma-joined) + `_` + first 12 hex digits of
//!   SHA-256 over the sorted extensions without SNI and ALPN, then `_` and the signature
//!   algorithms in their original order (omitted with the `_` when there are none); an empty
//!   list hashes to `000000000000`.
//! - `tls.cert_serial`: serial bytes as uppercase hex joined by `:`; `tls.cert_fingerprint`: SHA-1
//!   of the DER as lowercase hex joined by `:`; subject/issuer/serial/fingerprint describe the
//!   first (server) certificate, `tls.certs` is each DER certificate.

use md5::{Digest as _, Md5};
use seawall_flow::{Direction, Timestamp};
use seawall_rules::keywords::buffer::Buffer;
use sha1::Sha1;
use sha2::Sha256;
use tls_parser::{TlsMessage, TlsMessageHandshake};

use crate::{AppEvent, Counters, EventKind, Limits};

const RECORD_MAX: usize = 16384 + 2048;

/// Is `v` a GREASE value (RFC 8701)?
pub fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && (v >> 8) == (v & 0xff)
}

/// What the handshake revealed (one transaction per flow, id 0).
#[derive(Debug, Clone, Default)]
pub struct TlsTx {
    pub ts: Option<Timestamp>,
    pub sni: Option<Vec<u8>>,
    /// Negotiated version (ServerHello, supported_versions aware), else the ClientHello's.
    pub version: Option<u16>,
    pub client_version: Option<u16>,
    pub ja3_string: Option<Vec<u8>>,
    pub ja3_hash: Option<Vec<u8>>,
    pub ja3s_string: Option<Vec<u8>>,
    pub ja3s_hash: Option<Vec<u8>>,
    pub ja4: Option<Vec<u8>>,
    pub alpn: Vec<Vec<u8>>,
    /// Each certificate of the server's chain (DER).
    pub certs: Vec<Vec<u8>>,
    pub subject: Option<Vec<u8>>,
    pub issuer: Option<Vec<u8>>,
    pub serial: Option<Vec<u8>>,
    pub fingerprint: Option<Vec<u8>>,
    pub not_before: Option<String>,
    pub not_after: Option<String>,
    /// DNS names of the subjectAltName extension.
    pub san: Vec<Vec<u8>>,
}

impl TlsTx {
    fn mem(&self) -> usize {
        let o = |v: &Option<Vec<u8>>| v.as_ref().map_or(0, Vec::capacity);
        std::mem::size_of::<Self>()
            + o(&self.sni)
            + o(&self.ja3_string)
            + o(&self.ja3_hash)
            + o(&self.ja3s_string)
            + o(&self.ja3s_hash)
            + o(&self.ja4)
            + o(&self.subject)
            + o(&self.issuer)
            + o(&self.serial)
            + o(&self.fingerprint)
            + 64
            + self.alpn.iter().map(|v| v.capacity() + 24).sum::<usize>()
            + self.certs.iter().map(|v| v.capacity() + 24).sum::<usize>()
            + self.san.iter().map(|v| v.capacity() + 24).sum::<usize>()
    }

    /// Buffer `b`, if known (the first certificate for `tls.certs`).
    pub fn get(&self, b: Buffer) -> Option<&[u8]> {
        match b {
            Buffer::TlsSni => self.sni.as_deref(),
            Buffer::TlsCerts => self.certs.first().map(Vec::as_slice),
            Buffer::TlsCertSubject => self.subject.as_deref(),
            Buffer::TlsCertIssuer => self.issuer.as_deref(),
            Buffer::TlsCertSerial => self.serial.as_deref(),
            Buffer::TlsCertFingerprint => self.fingerprint.as_deref(),
            Buffer::TlsSubjectAltName => self.san.first().map(Vec::as_slice),
            Buffer::Ja3Hash => self.ja3_hash.as_deref(),
            Buffer::Ja3String => self.ja3_string.as_deref(),
            Buffer::Ja3sHash => self.ja3s_hash.as_deref(),
            Buffer::Ja3sString => self.ja3s_string.as_deref(),
            Buffer::Ja4Hash => self.ja4.as_deref(),
            _ => None,
        }
    }

    /// EVE `tls` object (Suricata 7 field names).
    pub fn eve(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        let s = |v: &Option<Vec<u8>>| v.as_deref().map(crate::eve_string);
        if let Some(v) = s(&self.subject) {
            m.insert("subject".into(), v.into());
        }
        if let Some(v) = s(&self.issuer) {
            m.insert("issuerdn".into(), v.into());
        }
        if let Some(v) = s(&self.serial) {
            m.insert("serial".into(), v.into());
        }
        if let Some(v) = s(&self.fingerprint) {
            m.insert("fingerprint".into(), v.into());
        }
        if let Some(v) = s(&self.sni) {
            m.insert("sni".into(), v.into());
        }
        if let Some(v) = self.version.or(self.client_version) {
            m.insert("version".into(), version_name(v).into());
        }
        if let Some(v) = &self.not_before {
            m.insert("notbefore".into(), v.clone().into());
        }
        if let Some(v) = &self.not_after {
            m.insert("notafter".into(), v.clone().into());
        }
        if let (Some(h), Some(st)) = (s(&self.ja3_hash), s(&self.ja3_string)) {
            m.insert("ja3".into(), serde_json::json!({"hash": h, "string": st}));
        }
        if let (Some(h), Some(st)) = (s(&self.ja3s_hash), s(&self.ja3s_string)) {
            m.insert("ja3s".into(), serde_json::json!({"hash": h, "string": st}));
        }
        if let Some(v) = s(&self.ja4) {
            m.insert("ja4".into(), v.into());
        }
        serde_json::Value::Object(m)
    }
}

/// Suricata's version names.
pub fn version_name(v: u16) -> &'static str {
    match v {
        0x0002 | 0x0200 => "SSLv2",
        0x0300 => "SSLv3",
        0x0301 => "TLSv1",
        0x0302 => "TLS 1.1",
        0x0303 => "TLS 1.2",
        0x0304 => "TLS 1.3",
        _ => "UNDETERMINED",
    }
}

#[derive(Debug, Default)]
struct Half {
    /// Record header bytes collected so far.
    hdr: Vec<u8>,
    /// Content type and payload bytes left of the current record.
    rec_type: u8,
    rec_left: usize,
    /// Handshake bytes awaiting a complete message.
    hs: Vec<u8>,
    /// Bytes of an oversized handshake message still to drop.
    skip: usize,
    /// Past ChangeCipherSpec/application data: handshake payload is encrypted.
    encrypted: bool,
    dead: bool,
}

/// Per-flow TLS state.
#[derive(Debug, Default)]
pub struct TlsState {
    halves: [Half; 2],
    tx: TlsTx,
    seen_client_hello: bool,
    seen_server_hello: bool,
    seen_cert: bool,
}

pub(crate) fn mem_bound(l: &Limits) -> usize {
    std::mem::size_of::<TlsState>()
        // handshake buffers: one message (<= limit) plus one record, Vec growth doubling
        + 2 * 2 * (l.tls_handshake_limit + RECORD_MAX + 8)
        // the transaction: certificates (<= one message) and small strings
        + 2 * l.tls_handshake_limit
        + 16 * 1024
}

impl TlsState {
    pub(crate) fn tx(&self) -> &TlsTx {
        &self.tx
    }

    pub(crate) fn mem(&self) -> usize {
        std::mem::size_of::<Self>()
            + self
                .halves
                .iter()
                .map(|h| h.hdr.capacity() + h.hs.capacity())
                .sum::<usize>()
            + self.tx.mem()
    }

    pub(crate) fn gap(&mut self, dir: Direction) {
        // Record framing is lost; we do not try to find it again.
        let h = &mut self.halves[crate::dir_index(dir)];
        h.dead = true;
        h.hs = Vec::new();
    }

    pub(crate) fn feed(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        mut data: &[u8],
        limits: &Limits,
        counters: &mut Counters,
        events: &mut Vec<AppEvent>,
    ) {
        if self.tx.ts.is_none() {
            self.tx.ts = Some(ts);
        }
        let idx = crate::dir_index(dir);
        while !data.is_empty() {
            let h = &mut self.halves[idx];
            if h.dead {
                return;
            }
            if h.rec_left == 0 {
                // Record header.
                let need = 5 - h.hdr.len();
                let n = need.min(data.len());
                h.hdr.extend_from_slice(&data[..n]);
                data = &data[n..];
                if h.hdr.len() < 5 {
                    return;
                }
                let (ty, major, len) = (
                    h.hdr[0],
                    h.hdr[1],
                    u16::from_be_bytes([h.hdr[3], h.hdr[4]]) as usize,
                );
                h.hdr.clear();
                if !(20..=24).contains(&ty) || major != 3 || len > RECORD_MAX {
                    counters.tls_malformed += 1;
                    h.dead = true;
                    h.hs = Vec::new();
                    return;
                }
                if ty == 20 || ty == 23 {
                    h.encrypted = true;
                    h.hs = Vec::new();
                }
                h.rec_type = ty;
                h.rec_left = len;
                continue;
            }
            let n = h.rec_left.min(data.len());
            let payload = &data[..n];
            data = &data[n..];
            h.rec_left -= n;
            if h.rec_type == 22 && !h.encrypted {
                let mut p = payload;
                if h.skip > 0 {
                    let s = h.skip.min(p.len());
                    h.skip -= s;
                    p = &p[s..];
                }
                h.hs.extend_from_slice(p);
                self.drain_messages(dir, limits, counters, events);
            }
            let both_done = self.halves.iter().all(|h| h.encrypted || h.dead);
            if both_done {
                // Nothing more to learn from this flow.
                for h in &mut self.halves {
                    h.dead = true;
                    h.hs = Vec::new();
                }
                return;
            }
        }
    }

    fn drain_messages(
        &mut self,
        dir: Direction,
        limits: &Limits,
        counters: &mut Counters,
        events: &mut Vec<AppEvent>,
    ) {
        let idx = crate::dir_index(dir);
        loop {
            let h = &mut self.halves[idx];
            if h.skip > 0 {
                let s = h.skip.min(h.hs.len());
                h.hs.drain(..s);
                h.skip -= s;
            }
            if h.hs.len() < 4 {
                return;
            }
            let len = (h.hs[1] as usize) << 16 | (h.hs[2] as usize) << 8 | h.hs[3] as usize;
            if len > limits.tls_handshake_limit {
                counters.tls_msg_too_large += 1;
                h.skip = 4 + len;
                continue;
            }
            if h.hs.len() < 4 + len {
                return;
            }
            let msg: Vec<u8> = h.hs.drain(..4 + len).collect();
            if h.hs.is_empty() {
                h.hs = Vec::new();
            }
            self.message(dir, &msg, counters, events);
        }
    }

    fn message(
        &mut self,
        dir: Direction,
        msg: &[u8],
        counters: &mut Counters,
        events: &mut Vec<AppEvent>,
    ) {
        let parsed = match tls_parser::parse_tls_message_handshake(msg) {
            Ok((_, TlsMessage::Handshake(m))) => m,
            Ok(_) => return,
            Err(_) => {
                // Types tls-parser does not know (or malformed bodies) are skipped.
                if matches!(msg.first(), Some(1 | 2 | 11)) {
                    counters.tls_malformed += 1;
                }
                return;
            }
        };
        match (dir, parsed) {
            (Direction::ToServer, TlsMessageHandshake::ClientHello(ch))
                if !self.seen_client_hello =>
            {
                self.seen_client_hello = true;
                let ciphers: Vec<u16> = ch.ciphers.iter().map(|c| c.0).collect();
                let hello = Hello::parse(ch.version.0, &ciphers, ch.ext.unwrap_or(&[]), true);
                self.tx.client_version = Some(ch.version.0);
                self.tx.sni = hello.sni.clone();
                self.tx.alpn = hello.alpn.clone();
                let ja3 = hello.ja3_string(&ciphers);
                self.tx.ja3_hash = Some(md5_hex(&ja3));
                self.tx.ja3_string = Some(ja3);
                self.tx.ja4 = Some(hello.ja4(&ciphers));
                events.push(AppEvent {
                    tx_id: 0,
                    kind: EventKind::TlsClientHello,
                });
            }
            (Direction::ToClient, TlsMessageHandshake::ServerHello(sh))
                if !self.seen_server_hello =>
            {
                self.seen_server_hello = true;
                let hello =
                    Hello::parse(sh.version.0, &[sh.cipher.0], sh.ext.unwrap_or(&[]), false);
                self.tx.version = Some(hello.selected_version.unwrap_or(sh.version.0));
                let ja3s = format!(
                    "{},{},{}",
                    sh.version.0,
                    sh.cipher.0,
                    join_dec(&hello.ext_types)
                )
                .into_bytes();
                self.tx.ja3s_hash = Some(md5_hex(&ja3s));
                self.tx.ja3s_string = Some(ja3s);
                events.push(AppEvent {
                    tx_id: 0,
                    kind: EventKind::TlsServerHello,
                });
                if self.tx.version == Some(0x0304) {
                    // Everything after the TLS 1.3 ServerHello is encrypted.
                    self.halves[1].encrypted = true;
                }
            }
            (Direction::ToClient, TlsMessageHandshake::Certificate(c)) if !self.seen_cert => {
                self.seen_cert = true;
                self.tx.certs = c.cert_chain.iter().map(|rc| rc.data.to_vec()).collect();
                if let Some(first) = c.cert_chain.first() {
                    self.describe_cert(first.data, counters);
                }
                events.push(AppEvent {
                    tx_id: 0,
                    kind: EventKind::TlsCertificate,
                });
            }
            _ => {}
        }
    }

    fn describe_cert(&mut self, der: &[u8], counters: &mut Counters) {
        self.tx.fingerprint = Some(hex_colon(&Sha1::digest(der), false).into_bytes());
        match x509_parser::parse_x509_certificate(der) {
            Ok((_, cert)) => {
                self.tx.subject = Some(cert.subject().to_string().into_bytes());
                self.tx.issuer = Some(cert.issuer().to_string().into_bytes());
                self.tx.serial = Some(hex_colon(cert.raw_serial(), true).into_bytes());
                let fmt = |t: &x509_parser::time::ASN1Time| {
                    let d = t.to_datetime();
                    format!(
                        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                        d.year(),
                        u8::from(d.month()),
                        d.day(),
                        d.hour(),
                        d.minute(),
                        d.second()
                    )
                };
                self.tx.not_before = Some(fmt(&cert.validity().not_before));
                self.tx.not_after = Some(fmt(&cert.validity().not_after));
                if let Ok(Some(san)) = cert.subject_alternative_name() {
                    for gn in &san.value.general_names {
                        if let x509_parser::extensions::GeneralName::DNSName(n) = gn {
                            self.tx.san.push(n.as_bytes().to_vec());
                        }
                    }
                }
            }
            Err(_) => counters.tls_malformed += 1,
        }
    }
}

/// Fields of a Client/ServerHello's extensions.
#[derive(Debug, Default)]
struct Hello {
    version: u16,
    ext_types: Vec<u16>,
    /// Number of non-GREASE extensions (JA4).
    sni: Option<Vec<u8>>,
    groups: Vec<u16>,
    point_formats: Vec<u8>,
    sig_algs: Vec<u16>,
    alpn: Vec<Vec<u8>>,
    supported_versions: Vec<u16>,
    selected_version: Option<u16>,
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn u16_list(b: &[u8]) -> Vec<u16> {
    b.chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect()
}

impl Hello {
    fn parse(version: u16, _ciphers: &[u16], ext: &[u8], client: bool) -> Hello {
        let mut h = Hello {
            version,
            ..Hello::default()
        };
        let mut pos = 0;
        while let (Some(ty), Some(len)) = (be16(ext, pos), be16(ext, pos + 2)) {
            let Some(data) = ext.get(pos + 4..pos + 4 + len as usize) else {
                break;
            };
            pos += 4 + len as usize;
            if !is_grease(ty) {
                h.ext_types.push(ty);
            }
            match ty {
                0x0000 if client => {
                    // server_name_list: (type, len, name)*; the first host_name counts.
                    let mut p = 2;
                    while let (Some(&nt), Some(nl)) = (data.get(p), be16(data, p + 1)) {
                        let Some(name) = data.get(p + 3..p + 3 + nl as usize) else {
                            break;
                        };
                        if nt == 0 {
                            h.sni = Some(name.to_vec());
                            break;
                        }
                        p += 3 + nl as usize;
                    }
                    if h.sni.is_none() {
                        h.sni = Some(Vec::new());
                    }
                }
                0x000a => h.groups = u16_list(data.get(2..).unwrap_or(&[])),
                0x000b => h.point_formats = data.get(1..).unwrap_or(&[]).to_vec(),
                0x000d => h.sig_algs = u16_list(data.get(2..).unwrap_or(&[])),
                0x0010 => {
                    let mut p = 2;
                    while let Some(&l) = data.get(p) {
                        let Some(v) = data.get(p + 1..p + 1 + l as usize) else {
                            break;
                        };
                        h.alpn.push(v.to_vec());
                        p += 1 + l as usize;
                    }
                }
                0x002b if client => h.supported_versions = u16_list(data.get(1..).unwrap_or(&[])),
                0x002b => h.selected_version = be16(data, 0),
                _ => {}
            }
        }
        h
    }

    fn ja3_string(&self, ciphers: &[u16]) -> Vec<u8> {
        let c: Vec<u16> = ciphers.iter().copied().filter(|c| !is_grease(*c)).collect();
        let g: Vec<u16> = self
            .groups
            .iter()
            .copied()
            .filter(|c| !is_grease(*c))
            .collect();
        let pf: Vec<u16> = self.point_formats.iter().map(|&p| u16::from(p)).collect();
        format!(
            "{},{},{},{},{}",
            self.version,
            join_dec(&c),
            join_dec(&self.ext_types),
            join_dec(&g),
            join_dec(&pf)
        )
        .into_bytes()
    }

    fn ja4(&self, ciphers: &[u16]) -> Vec<u8> {
        let ver = self
            .supported_versions
            .iter()
            .copied()
            .filter(|v| !is_grease(*v))
            .max()
            .unwrap_or(self.version);
        let ver = match ver {
            0x0304 => "13",
            0x0303 => "12",
            0x0302 => "11",
            0x0301 => "10",
            0x0300 => "s3",
            0x0002 | 0x0200 => "s2",
            0xfeff => "d1",
            0xfefd => "d2",
            0xfefc => "d3",
            _ => "00",
        };
        let c: Vec<u16> = ciphers.iter().copied().filter(|c| !is_grease(*c)).collect();
        let alpn = match self.alpn.first() {
            Some(a) if !a.is_empty() => {
                let (f, l) = (a[0], a[a.len() - 1]);
                if f.is_ascii_alphanumeric() && l.is_ascii_alphanumeric() {
                    format!("{}{}", f as char, l as char)
                } else {
                    format!("{:x}{:x}", f >> 4, l & 0x0f)
                }
            }
            _ => "00".to_string(),
        };
        let mut sc = c.clone();
        sc.sort_unstable();
        let mut se: Vec<u16> = self
            .ext_types
            .iter()
            .copied()
            .filter(|e| *e != 0x0000 && *e != 0x0010)
            .collect();
        se.sort_unstable();
        let hex_list = |v: &[u16]| {
            let mut out = String::with_capacity(v.len() * 5);
            for (i, x) in v.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                for sh in [12u16, 8, 4, 0] {
                    out.push(HEX_LOWER[usize::from((x >> sh) & 0xf)] as char);
                }
            }
            out
        };
        let trunc = |s: &str| -> String {
            if s.is_empty() {
                "000000000000".to_string()
            } else {
                let d = Sha256::digest(s.as_bytes());
                let mut out = String::with_capacity(12);
                push_hex(&mut out, &d[..6], false);
                out
            }
        };
        let mut ext_str = hex_list(&se);
        if !ext_str.is_empty() && !self.sig_algs.is_empty() {
            ext_str.push('_');
            ext_str.push_str(&hex_list(&self.sig_algs));
        }
        format!(
            "t{}{}{:02}{:02}{}_{}_{}",
            ver,
            if self.sni.is_some() { 'd' } else { 'i' },
            c.len().min(99),
            self.ext_types.len().min(99),
            alpn,
            trunc(&hex_list(&sc)),
            trunc(&ext_str)
        )
        .into_bytes()
    }
}

const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";
const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Appends two hex digits per byte (no allocation per byte: this runs once per hello).
fn push_hex(out: &mut String, b: &[u8], upper: bool) {
    let digits = if upper { HEX_UPPER } else { HEX_LOWER };
    for x in b {
        out.push(digits[usize::from(x >> 4)] as char);
        out.push(digits[usize::from(x & 0xf)] as char);
    }
}

fn join_dec(v: &[u16]) -> String {
    use core::fmt::Write as _;
    let mut out = String::with_capacity(v.len() * 6);
    for (i, x) in v.iter().enumerate() {
        if i > 0 {
            out.push('-');
        }
        write!(out, "{x}").expect("writing to a String cannot fail");
    }
    out
}

fn md5_hex(s: &[u8]) -> Vec<u8> {
    let mut out = String::with_capacity(32);
    push_hex(&mut out, &Md5::digest(s), false);
    out.into_bytes()
}

fn hex_colon(b: &[u8], upper: bool) -> String {
    let mut out = String::with_capacity(b.len() * 3);
    for (i, x) in b.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        push_hex(&mut out, core::slice::from_ref(x), upper);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_helpers_match_format() {
        let bytes = [0x00u8, 0x0f, 0xa0, 0xff, 0x5c];
        assert_eq!(hex_colon(&bytes, false), "00:0f:a0:ff:5c");
        assert_eq!(hex_colon(&bytes, true), "00:0F:A0:FF:5C");
        assert_eq!(hex_colon(&[], true), "");
        assert_eq!(join_dec(&[771, 0, 65535]), "771-0-65535");
        assert_eq!(join_dec(&[]), "");
        let h = md5_hex(b"abc");
        assert_eq!(h, b"900150983cd24fb0d6963f7d28e17f72".to_vec());
    }

    #[test]
    fn grease_values() {
        assert!(is_grease(0x0a0a));
        assert!(is_grease(0xfafa));
        assert!(!is_grease(0x0a1a));
        assert!(!is_grease(0x1301));
    }

    /// Hand-built ClientHello: version 0x0303, ciphers [GREASE, 0x1301, 0xc02b], extensions SNI,
    /// supported_groups [GREASE, 0x001d], ec_point_formats [0], ALPN [h2], sig_algs [0x0403].
    fn client_hello() -> Vec<u8> {
        let mut ext = Vec::new();
        let sni = b"Example.org";
        let mut e = vec![0, 0];
        let list_len = (3 + sni.len()) as u16;
        let mut body = list_len.to_be_bytes().to_vec();
        body.push(0);
        body.extend_from_slice(&(sni.len() as u16).to_be_bytes());
        body.extend_from_slice(sni);
        e.extend_from_slice(&(body.len() as u16).to_be_bytes());
        e.extend_from_slice(&body);
        ext.extend_from_slice(&e);
        ext.extend_from_slice(&[0x00, 0x0a, 0x00, 0x06, 0x00, 0x04, 0x3a, 0x3a, 0x00, 0x1d]);
        ext.extend_from_slice(&[0x00, 0x0b, 0x00, 0x02, 0x01, 0x00]);
        ext.extend_from_slice(&[0x00, 0x10, 0x00, 0x05, 0x00, 0x03, 0x02, b'h', b'2']);
        ext.extend_from_slice(&[0x00, 0x0d, 0x00, 0x04, 0x00, 0x02, 0x04, 0x03]);
        let mut hello = vec![0x03, 0x03];
        hello.extend_from_slice(&[7u8; 32]);
        hello.push(0);
        hello.extend_from_slice(&[0x00, 0x06, 0x2a, 0x2a, 0x13, 0x01, 0xc0, 0x2b]);
        hello.extend_from_slice(&[0x01, 0x00]);
        hello.extend_from_slice(&(ext.len() as u16).to_be_bytes());
        hello.extend_from_slice(&ext);
        let mut msg = vec![1, 0, (hello.len() >> 8) as u8, hello.len() as u8];
        msg.extend_from_slice(&hello);
        let mut rec = vec![0x16, 0x03, 0x01];
        rec.extend_from_slice(&(msg.len() as u16).to_be_bytes());
        rec.extend_from_slice(&msg);
        rec
    }

    #[test]
    fn client_hello_fields_in_one_byte_chunks() {
        let rec = client_hello();
        let mut st = TlsState::default();
        let mut ev = Vec::new();
        let mut c = Counters::default();
        for b in rec.chunks(1) {
            st.feed(
                Direction::ToServer,
                Timestamp(0),
                b,
                &Limits::default(),
                &mut c,
                &mut ev,
            );
        }
        assert_eq!(ev.len(), 1);
        let tx = st.tx();
        assert_eq!(tx.sni.as_deref(), Some(&b"Example.org"[..]));
        assert_eq!(
            tx.ja3_string.as_deref(),
            Some(&b"771,4865-49195,0-10-11-16-13,29,0"[..])
        );
        let h = md5_hex(b"771,4865-49195,0-10-11-16-13,29,0");
        assert_eq!(tx.ja3_hash.as_deref(), Some(h.as_slice()));
        let ja4 = String::from_utf8(tx.ja4.clone().expect("ja4")).expect("ascii");
        assert!(ja4.starts_with("t12d0205h2_"), "{ja4}");
        // ciphers sorted "1301,c02b"; extensions "000a,000b,000d" + "_0403"
        let exp_c = &Sha256::digest(b"1301,c02b")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()[..12];
        let exp_e = &Sha256::digest(b"000a,000b,000d_0403")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()[..12];
        assert_eq!(ja4, format!("t12d0205h2_{exp_c}_{exp_e}"));
        assert_eq!(c, Counters::default());
    }

    #[test]
    fn garbage_record_stops_the_direction() {
        let mut st = TlsState::default();
        let mut ev = Vec::new();
        let mut c = Counters::default();
        st.feed(
            Direction::ToServer,
            Timestamp(0),
            b"GET / HTTP/1.1\r\n",
            &Limits::default(),
            &mut c,
            &mut ev,
        );
        assert_eq!(c.tls_malformed, 1);
        assert!(ev.is_empty());
    }
}
