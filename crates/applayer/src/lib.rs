//! seawall-applayer: protocol detection and HTTP/1.x, TLS and DNS parsers that turn reassembled
//! stream bytes (or UDP payloads) into the inspection buffers that rules select with sticky
//! buffers (`http.uri`, `tls.sni`, `dns.query`, ...), plus the EVE `http`/`tls`/`dns` objects
//! Suricata adds to alerts.
//!
//! Layer: above `flow` (which reassembles TCP and hands each direction's bytes over in order, in
//! arbitrary chunks) and below `detect` (which asks a transaction for a [`Buffer`] after each
//! [`AppEvent`]). Sans-I/O: no sockets, files, clock, threads or logging; time is a parameter.
//!
//! Invariants:
//! - no input makes a parser panic (proptests feed arbitrary bytes in arbitrary chunks);
//! - the memory a flow's [`AppState`] keeps is bounded by its [`Limits`] ([`AppState::mem_usage`]
//!   never exceeds [`AppState::mem_bound`]); every limit that is hit bumps a [`Counters`] field.
//!
//! Use:
//! ```
//! use seawall_applayer::{detect, AppProto, AppState, Buffer, Direction, Limits, Timestamp, Transport};
//! let req = b"GET /a%20b HTTP/1.1\r\nHost: Example.COM:8080\r\n\r\n";
//! let proto = detect(Direction::ToServer, Transport::Tcp, req, 8080).expect("http");
//! let mut st = AppState::new(proto, Transport::Tcp, Limits::default());
//! let mut events = Vec::new();
//! st.feed(Direction::ToServer, Timestamp(0), req, &mut events);
//! let tx = st.buffers(events[0].tx_id).expect("tx");
//! assert_eq!(tx.get(Direction::ToServer, Buffer::HttpUri), Some(&b"/a b"[..]));
//! assert_eq!(tx.get(Direction::ToServer, Buffer::HttpHost), Some(&b"example.com"[..]));
//! ```
#![forbid(unsafe_code)]

pub mod detection;
pub mod dns;
pub mod http;
pub mod ssh;
pub mod tls;
pub mod transform;

pub use detection::{detect, detect_dir, detect_status, Detect, Detection};
pub use seawall_flow::{Direction, Timestamp};
pub use seawall_rules::keywords::buffer::{Buffer, Transform};
pub use transform::{apply_transforms, transforms_supported, UnsupportedTransform};

use dns::{DnsState, DnsTx};
use http::{HttpState, HttpTx};
use tls::{TlsState, TlsTx};

/// Application-layer protocols this crate detects: HTTP, TLS and DNS are parsed; SMB, FTP, SMTP
/// and SSH are only detected (their rules inspect the raw payload and stream once the flow is
/// known to be that protocol, as Suricata's do); SSH's record framing is followed to end
/// inspection once both sides sent NEWKEYS ([`AppState::no_inspection`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AppProto {
    Http,
    Tls,
    Dns,
    Smb,
    Ftp,
    Smtp,
    Ssh,
}

impl AppProto {
    /// Suricata's name (`app-layer-protocol:` value and rule-header protocol).
    pub const fn name(self) -> &'static str {
        match self {
            AppProto::Http => "http",
            AppProto::Tls => "tls",
            AppProto::Dns => "dns",
            AppProto::Smb => "smb",
            AppProto::Ftp => "ftp",
            AppProto::Smtp => "smtp",
            AppProto::Ssh => "ssh",
        }
    }

    /// Whether this crate parses the protocol into transactions (else it is detected only).
    pub const fn is_parsed(self) -> bool {
        matches!(self, AppProto::Http | AppProto::Tls | AppProto::Dns)
    }
}

/// Transport the app-layer bytes arrive on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// Reassembled stream bytes, in order, in arbitrary chunks.
    Tcp,
    /// One datagram payload per [`AppState::feed`] call.
    Udp,
}

/// Per-flow memory limits (defaults follow Suricata's default `suricata.yaml` where it has one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest HTTP request/response head (start line + headers) kept; larger heads stop the
    /// parser for that direction (`http_head_too_large`).
    pub http_head_limit: usize,
    /// Most headers parsed per head (more are ignored: `http_too_many_headers`).
    pub http_max_headers: usize,
    /// Request body bytes kept for `http.request_body` (Suricata `request-body-limit`: 100 KiB).
    pub request_body_limit: usize,
    /// Response body bytes kept (after dechunking and decompression) for `http.response_body`
    /// and `file.data` (Suricata `response-body-limit`: 100 KiB).
    pub response_body_limit: usize,
    /// Most decompressed bytes produced per body, whatever is kept (compression-bomb guard).
    pub decompress_limit: usize,
    /// Transactions kept per flow; the oldest is dropped beyond it (`tx_evicted`).
    pub max_txs: usize,
    /// Largest TLS handshake message reassembled (bigger ones are skipped: `tls_msg_too_large`).
    pub tls_handshake_limit: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            http_head_limit: 64 * 1024,
            http_max_headers: 256,
            request_body_limit: 100 * 1024,
            response_body_limit: 100 * 1024,
            decompress_limit: 1024 * 1024,
            max_txs: 32,
            tls_handshake_limit: 256 * 1024,
        }
    }
}

/// What happened that was not a clean parse, per flow (the data plane sums them into metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub http_head_too_large: u64,
    pub http_too_many_headers: u64,
    pub http_malformed: u64,
    pub http_body_truncated: u64,
    pub http_decompress_failed: u64,
    pub http_decompress_limit: u64,
    pub http_tunnel: u64,
    pub tls_malformed: u64,
    pub tls_msg_too_large: u64,
    pub dns_malformed: u64,
    pub tx_evicted: u64,
    pub gaps: u64,
}

/// Something new is ready in transaction `tx_id`: the buffers of [`EventKind::buffers`] can now
/// be inspected (each once per transaction).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppEvent {
    pub tx_id: u64,
    pub kind: EventKind,
}

/// What became available.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventKind {
    /// Request line and headers parsed.
    HttpRequestHeaders,
    /// A request head still arriving: its request line and the header lines libhtp has read
    /// (Suricata inspects the request-line and single-header buffers before the head is
    /// complete). May repeat as lines arrive; [`EventKind::HttpRequestHeaders`] follows.
    HttpRequestHeadersPartial,
    /// Request body complete (or its inspection limit reached, or the stream closed).
    HttpRequestBody,
    /// Status line and headers parsed.
    HttpResponseHeaders,
    /// A response head still arriving: its status line and the header lines read so far
    /// (Suricata inspects the response line and single-header buffers before the head is
    /// complete). May repeat as lines arrive; [`EventKind::HttpResponseHeaders`] follows.
    HttpResponseHeadersPartial,
    /// Response body complete (or limit reached, or stream closed).
    HttpResponseBody,
    /// ClientHello parsed: SNI, JA3, JA4.
    TlsClientHello,
    /// ServerHello parsed: version, JA3S.
    TlsServerHello,
    /// Server Certificate message parsed.
    TlsCertificate,
    /// A DNS query message.
    DnsRequest,
    /// A DNS response message.
    DnsResponse,
}

impl EventKind {
    /// The direction whose rules should inspect the event's buffers.
    pub const fn direction(self) -> Direction {
        match self {
            EventKind::HttpRequestHeaders
            | EventKind::HttpRequestHeadersPartial
            | EventKind::HttpRequestBody
            | EventKind::TlsClientHello
            | EventKind::DnsRequest => Direction::ToServer,
            _ => Direction::ToClient,
        }
    }

    /// Buffers that became complete with this event.
    pub const fn buffers(self) -> &'static [Buffer] {
        match self {
            EventKind::HttpRequestHeaders => &[
                Buffer::HttpMethod,
                Buffer::HttpUri,
                Buffer::HttpUriRaw,
                Buffer::HttpProtocol,
                Buffer::HttpRequestLine,
                Buffer::HttpHost,
                Buffer::HttpHostRaw,
                Buffer::HttpUserAgent,
                Buffer::HttpHeader,
                Buffer::HttpHeaderRaw,
                Buffer::HttpHeaderNames,
                Buffer::HttpCookie,
                Buffer::HttpReferer,
                Buffer::HttpContentType,
                Buffer::HttpContentLen,
                Buffer::HttpAccept,
                Buffer::HttpAcceptEnc,
                Buffer::HttpAcceptLang,
                Buffer::HttpConnection,
                Buffer::HttpStart,
                Buffer::HttpRequestHeader,
            ],
            EventKind::HttpRequestHeadersPartial => &[
                Buffer::HttpMethod,
                Buffer::HttpUri,
                Buffer::HttpUriRaw,
                Buffer::HttpProtocol,
                Buffer::HttpRequestLine,
                Buffer::HttpHostRaw,
                Buffer::HttpUserAgent,
                Buffer::HttpCookie,
                Buffer::HttpReferer,
                Buffer::HttpContentType,
                Buffer::HttpContentLen,
                Buffer::HttpAccept,
                Buffer::HttpAcceptEnc,
                Buffer::HttpAcceptLang,
                Buffer::HttpConnection,
                Buffer::HttpRequestHeader,
            ],
            EventKind::HttpRequestBody => &[Buffer::HttpRequestBody, Buffer::FileData],
            EventKind::HttpResponseHeaders => &[
                Buffer::HttpStatCode,
                Buffer::HttpStatMsg,
                Buffer::HttpResponseLine,
                Buffer::HttpProtocol,
                Buffer::HttpHeader,
                Buffer::HttpHeaderRaw,
                Buffer::HttpHeaderNames,
                Buffer::HttpCookie,
                Buffer::HttpContentType,
                Buffer::HttpContentLen,
                Buffer::HttpLocation,
                Buffer::HttpServer,
                Buffer::HttpStart,
                Buffer::HttpResponseHeader,
            ],
            EventKind::HttpResponseHeadersPartial => &[
                Buffer::HttpStatCode,
                Buffer::HttpStatMsg,
                Buffer::HttpResponseLine,
                Buffer::HttpProtocol,
                Buffer::HttpCookie,
                Buffer::HttpContentType,
                Buffer::HttpLocation,
                Buffer::HttpServer,
                Buffer::HttpConnection,
                Buffer::HttpResponseHeader,
            ],
            EventKind::HttpResponseBody => &[Buffer::HttpResponseBody, Buffer::FileData],
            EventKind::TlsClientHello => &[
                Buffer::TlsSni,
                Buffer::Ja3Hash,
                Buffer::Ja3String,
                Buffer::Ja4Hash,
            ],
            EventKind::TlsServerHello => &[Buffer::Ja3sHash, Buffer::Ja3sString],
            EventKind::TlsCertificate => &[
                Buffer::TlsCerts,
                Buffer::TlsCertSubject,
                Buffer::TlsCertIssuer,
                Buffer::TlsCertSerial,
                Buffer::TlsCertFingerprint,
                Buffer::TlsSubjectAltName,
            ],
            EventKind::DnsRequest => &[Buffer::DnsQuery],
            EventKind::DnsResponse => &[],
        }
    }
}

pub(crate) const fn dir_index(d: Direction) -> usize {
    match d {
        Direction::ToServer => 0,
        Direction::ToClient => 1,
    }
}

#[derive(Debug)]
enum Parser {
    Http(Box<HttpState>),
    Tls(Box<TlsState>),
    Dns(DnsState),
    /// SSH: only the record framing, to know when both sides sent NEWKEYS.
    Ssh(Box<ssh::SshTracker>),
    /// A protocol that is detected but not parsed: bytes are ignored.
    Detected,
}

/// The app-layer state of one flow.
#[derive(Debug)]
pub struct AppState {
    proto: AppProto,
    transport: Transport,
    limits: Limits,
    counters: Counters,
    parser: Parser,
}

impl AppState {
    /// State for a flow whose protocol was detected as `proto`.
    pub fn new(proto: AppProto, transport: Transport, limits: Limits) -> Self {
        let parser = match proto {
            AppProto::Http => Parser::Http(Box::default()),
            AppProto::Tls => Parser::Tls(Box::default()),
            AppProto::Dns => Parser::Dns(DnsState::new(transport == Transport::Tcp)),
            AppProto::Ssh => Parser::Ssh(Box::default()),
            AppProto::Smb | AppProto::Ftp | AppProto::Smtp => Parser::Detected,
        };
        AppState {
            proto,
            transport,
            limits,
            counters: Counters::default(),
            parser,
        }
    }

    pub fn proto(&self) -> AppProto {
        self.proto
    }

    pub fn transport(&self) -> Transport {
        self.transport
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Feed the next in-order bytes of `dir` (TCP: any chunking; UDP: one datagram payload).
    /// Events for what became complete are appended to `events`.
    pub fn feed(&mut self, dir: Direction, ts: Timestamp, data: &[u8], events: &mut Vec<AppEvent>) {
        match &mut self.parser {
            Parser::Http(h) => h.feed(dir, ts, data, &self.limits, &mut self.counters, events),
            Parser::Tls(t) => t.feed(dir, ts, data, &self.limits, &mut self.counters, events),
            Parser::Dns(d) => d.feed(dir, ts, data, &self.limits, &mut self.counters, events),
            Parser::Ssh(s) => s.feed(dir_index(dir), data),
            Parser::Detected => {}
        }
    }

    /// Bytes of `dir` were lost (reassembly gap, mid-stream pickup): the parser resynchronises
    /// where it can (HTTP: at the next message head, DNS/TCP: at the next chunk) or stops.
    pub fn gap(&mut self, dir: Direction) {
        self.counters.gaps += 1;
        match &mut self.parser {
            Parser::Http(h) => h.gap(dir),
            Parser::Tls(t) => t.gap(dir),
            Parser::Dns(d) => d.gap(dir),
            Parser::Ssh(s) => s.gap(dir_index(dir)),
            Parser::Detected => {}
        }
    }

    /// `dir` ended (FIN/RST or flow timeout): bodies delimited by the close and partial bodies are
    /// completed and their events emitted.
    pub fn close(&mut self, dir: Direction, events: &mut Vec<AppEvent>) {
        if let Parser::Http(h) = &mut self.parser {
            h.close(dir, &self.limits, &mut self.counters, events);
        }
    }

    /// The buffers of transaction `tx_id`, if it is still kept.
    pub fn buffers(&self, tx_id: u64) -> Option<TxBuffers<'_>> {
        match &self.parser {
            Parser::Http(h) => h.tx(tx_id).map(TxBuffers::Http),
            Parser::Tls(t) => (tx_id == 0).then_some(TxBuffers::Tls(t.tx())),
            Parser::Dns(d) => d.tx(tx_id).map(TxBuffers::Dns),
            Parser::Ssh(_) | Parser::Detected => None,
        }
    }

    /// Heap and inline bytes this state holds now.
    pub fn mem_usage(&self) -> usize {
        std::mem::size_of::<Self>()
            + match &self.parser {
                Parser::Http(h) => h.mem(),
                Parser::Tls(t) => t.mem(),
                Parser::Dns(d) => d.mem(),
                Parser::Ssh(_) => std::mem::size_of::<ssh::SshTracker>(),
                Parser::Detected => 0,
            }
    }

    /// Upper bound of [`AppState::mem_usage`] under this state's [`Limits`].
    pub fn mem_bound(&self) -> usize {
        let l = &self.limits;
        std::mem::size_of::<Self>()
            + match self.proto {
                AppProto::Http => http::mem_bound(l),
                AppProto::Tls => tls::mem_bound(l),
                AppProto::Dns => {
                    2 * (65_535 + 2) * 2
                        + l.max_txs.max(1)
                            * (std::mem::size_of::<DnsTx>()
                                + 32 * (256 + std::mem::size_of::<dns::DnsQuestion>()))
                }
                AppProto::Ssh => std::mem::size_of::<ssh::SshTracker>(),
                AppProto::Smb | AppProto::Ftp | AppProto::Smtp => 0,
            }
    }

    /// The flow's app layer asked for inspection to end (SSH: both sides sent NEWKEYS), as
    /// Suricata's no-inspection/no-reassembly parser flags: no more reassembly, parsing or
    /// payload inspection for the flow.
    pub fn no_inspection(&self) -> bool {
        matches!(&self.parser, Parser::Ssh(s) if s.no_inspection())
    }
}

/// One transaction's buffers, as the engine queries them.
#[derive(Debug, Clone, Copy)]
pub enum TxBuffers<'a> {
    Http(&'a HttpTx),
    Tls(&'a TlsTx),
    Dns(&'a DnsTx),
}

impl<'a> TxBuffers<'a> {
    /// The single buffer `b` for rules inspecting direction `dir` (`None`: absent or a buffer this
    /// protocol doesn't have). For multi-buffers (`tls.certs`, `dns.query`) this is the first one;
    /// use [`TxBuffers::get_all`] to see each.
    pub fn get(&self, dir: Direction, b: Buffer) -> Option<&'a [u8]> {
        match self {
            TxBuffers::Http(h) => h.get(dir, b),
            TxBuffers::Tls(t) => t.get(b),
            TxBuffers::Dns(d) => match b {
                Buffer::DnsQuery => d.queries().next(),
                _ => None,
            },
        }
    }

    /// Every instance of buffer `b` (Suricata's multi-buffer matching: a rule matches if any one
    /// instance matches).
    pub fn get_all(&self, dir: Direction, b: Buffer) -> Vec<&'a [u8]> {
        match (self, b) {
            (TxBuffers::Tls(t), Buffer::TlsCerts) => t.certs.iter().map(Vec::as_slice).collect(),
            (TxBuffers::Tls(t), Buffer::TlsSubjectAltName) => {
                t.san.iter().map(Vec::as_slice).collect()
            }
            (TxBuffers::Dns(d), Buffer::DnsQuery) => d.queries().collect(),
            (TxBuffers::Http(h), _) => h.get_all(dir, b),
            _ => self.get(dir, b).into_iter().collect(),
        }
    }

    /// `urilen`: length of the normalized (or, with `raw`, the raw) request URI.
    pub fn urilen(&self, raw: bool) -> Option<usize> {
        match self {
            TxBuffers::Http(h) => h.urilen(raw),
            _ => None,
        }
    }

    /// The EVE object Suricata adds to alerts for this transaction: (`"http"`|`"tls"`|`"dns"`, value).
    pub fn eve(&self) -> (&'static str, serde_json::Value) {
        match self {
            TxBuffers::Http(h) => ("http", h.eve()),
            TxBuffers::Tls(t) => ("tls", t.eve()),
            TxBuffers::Dns(d) => ("dns", d.eve()),
        }
    }
}

/// Bytes as an EVE string: UTF-8 as is, other bytes escaped as `\xHH` (Suricata prints
/// non-printable bytes in hex).
pub(crate) fn eve_string(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) => s.to_string(),
        Err(_) => {
            let mut s = String::with_capacity(b.len());
            for &c in b {
                if c.is_ascii() {
                    s.push(c as char);
                } else {
                    s.push_str(&format!("\\x{c:02X}"));
                }
            }
            s
        }
    }
}
