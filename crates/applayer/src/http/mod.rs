//! HTTP/1.x: requests and responses, pipelined and keep-alive, with Content-Length, chunked and
//! until-close bodies, gzip/deflate response bodies, and the Suricata inspection buffers.
//!
//! Heads (start line + headers) are framed here (bounded by [`Limits::http_head_limit`]).
//! Response heads follow libhtp 0.5's line rules byte for byte (`reshead`: bare CR line ends,
//! LF-CR, folding, header name and value trimming); request header fields are parsed by
//! `httparse` and, when it refuses a head that libhtp would accept (obsolete line folding, odd
//! bytes), by a lenient fallback. Headers that repeat are combined into one, values joined with
//! `", "`, a repeated `Content-Length` ignored, as libhtp does (`libhtp::combine`); named
//! lookups ignore NUL bytes in names as libhtp's do. Buffer contents follow Suricata 7:
//! - `http.header`: `Name: value\r\n` per header, in order, without `Cookie` (requests) or
//!   `Set-Cookie` (responses); `http.header.raw`: the header bytes exactly as sent, from after the
//!   start line through the empty line; `http.header_names`: `\r\n` + `Name\r\n` per header + `\r\n`;
//!   `http.start`: start line + `\r\n` + `Name: value\r\n` per header (cookies included) + `\r\n`;
//! - `http.host`: from an absolute URI's authority if there is one, else the Host header; lowercase,
//!   port and trailing dots removed. `http.host.raw`: the URI's host, else the Host header value;
//! - `http.uri`: see [`uri`]; `http.cookie`: `Cookie` (requests) / `Set-Cookie` (responses);
//! - `http.request_header` / `http.response_header`: one `Name: value` instance per combined
//!   header, cookies included. While a response head arrives, its status line, single-header
//!   buffers and `http.response_header` are published early (Suricata inspects them before the
//!   head completes; `http.header`, `http.header_names`, `http.start` wait for the whole head).
//!   Likewise a request head: once its request line is read, the request-line buffers, `urilen`,
//!   `http.host.raw`, the single-header buffers and `http.request_header`, with the header lines
//!   libhtp has read (`reqhead`); `http.host` (libhtp sets the hostname at the head's end) and
//!   the whole-head buffers wait.
//!
//! Request-only buffers answer for either direction (a rule may mix request and response buffers);
//! buffers that exist on both sides (`http.header`, `http.protocol`, ...) answer for `dir`.

pub mod body;
mod libhtp;
mod reqhead;
mod reshead;
pub mod uri;

use std::collections::VecDeque;

use seawall_flow::{Direction, Timestamp};
use seawall_rules::keywords::buffer::Buffer;

use crate::{AppEvent, Counters, EventKind, Limits};
use body::{Decoder, Encoding};
use reqhead::ReqScan;
use reshead::{ResScan, ResStep};

/// Times a request or response head still arriving is published (see
/// [`HttpState::publish_partial_request`], [`HttpState::publish_partial_response`]).
const PARTIAL_PUBLISH_MAX: u8 = 32;

/// Longest chunk-size line (chunk extensions included) we accept.
const CHUNK_LINE_MAX: usize = 1024;

/// A parsed head: start line, combined headers, raw header block.
#[derive(Debug, Default, Clone)]
pub struct Head {
    /// Start line without its line ending.
    pub line: Vec<u8>,
    /// Combined headers in first-seen order: (name as first sent, value trimmed).
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    /// Header bytes as sent, after the start line, through the terminating empty line.
    pub raw: Vec<u8>,
    /// `http.header` buffer.
    pub header_norm: Vec<u8>,
    /// `http.header_names` buffer.
    pub header_names: Vec<u8>,
    /// `http.start` buffer.
    pub start: Vec<u8>,
    /// `http.request_header` / `http.response_header` instances: one `Name: value` per
    /// (combined) header, cookies included, as ranges of `start`.
    pub lines: Vec<(u32, u32)>,
}

impl Head {
    /// Value of header `name` (case-insensitive; NUL bytes in the name as sent are ignored,
    /// as libhtp's named lookups do).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| libhtp::eq_nocase_norzero(n, name.as_bytes()))
            .map(|(_, v)| v.as_slice())
    }

    /// The `Name: value` instances (`http.request_header` / `http.response_header`).
    pub fn header_lines(&self) -> impl Iterator<Item = &[u8]> {
        self.lines
            .iter()
            .filter_map(|&(a, b)| self.start.get(a as usize..b as usize))
    }

    fn mem(&self) -> usize {
        self.line.capacity()
            + self.lines.capacity() * 8
            + self.raw.capacity()
            + self.header_norm.capacity()
            + self.header_names.capacity()
            + self.start.capacity()
            + self
                .headers
                .iter()
                .map(|(n, v)| n.capacity() + v.capacity() + 48)
                .sum::<usize>()
    }
}

/// The request side of a transaction.
#[derive(Debug, Default, Clone)]
pub struct Request {
    pub head: Head,
    pub method: Vec<u8>,
    pub uri_raw: Vec<u8>,
    pub uri_norm: Vec<u8>,
    /// Empty for HTTP/0.9.
    pub protocol: Vec<u8>,
    pub host: Option<Vec<u8>>,
    pub host_raw: Option<Vec<u8>>,
}

/// The response side of a transaction.
#[derive(Debug, Default, Clone)]
pub struct Response {
    pub head: Head,
    pub protocol: Vec<u8>,
    pub status: Vec<u8>,
    pub msg: Vec<u8>,
}

/// One request/response exchange.
#[derive(Debug, Clone)]
pub struct HttpTx {
    pub tx_id: u64,
    pub ts: Timestamp,
    pub request: Option<Request>,
    /// The request while its head is still arriving (request line and the header lines libhtp
    /// has read): Suricata inspects the request-line buffers and the single-header buffers
    /// (not `http.host`, `http.header`, `http.header.raw`, `http.header_names`, `http.start`)
    /// before the head is complete.
    pub request_partial: Option<Box<Request>>,
    pub response: Option<Response>,
    /// The response while its head is still arriving (status line and the header lines read so
    /// far): Suricata inspects the response line buffers, the single-header buffers and
    /// `http.response_header` before the head is complete.
    pub response_partial: Option<Box<Response>>,
    /// Dechunked request body, up to the limit.
    pub request_body: Vec<u8>,
    /// Dechunked, decompressed response body, up to the limit.
    pub response_body: Vec<u8>,
    /// Response body bytes seen (after dechunking, before decompression).
    pub response_len: u64,
}

impl HttpTx {
    fn new(tx_id: u64, ts: Timestamp) -> Self {
        HttpTx {
            tx_id,
            ts,
            request: None,
            request_partial: None,
            response: None,
            response_partial: None,
            request_body: Vec::new(),
            response_body: Vec::new(),
            response_len: 0,
        }
    }

    fn mem(&self) -> usize {
        let req_mem = |r: &Request| {
            std::mem::size_of::<Request>()
                + r.head.mem()
                + r.method.capacity()
                + r.uri_raw.capacity()
                + r.uri_norm.capacity()
                + r.protocol.capacity()
                + r.host.as_ref().map_or(0, Vec::capacity)
                + r.host_raw.as_ref().map_or(0, Vec::capacity)
        };
        std::mem::size_of::<Self>()
            + self.request.as_ref().map_or(0, req_mem)
            + self.request_partial.as_deref().map_or(0, req_mem)
            + self.response_partial.as_ref().map_or(0, |r| {
                std::mem::size_of::<Response>()
                    + r.head.mem()
                    + r.protocol.capacity()
                    + r.status.capacity()
                    + r.msg.capacity()
            })
            + self.response.as_ref().map_or(0, |r| {
                std::mem::size_of::<Response>()
                    + r.head.mem()
                    + r.protocol.capacity()
                    + r.status.capacity()
                    + r.msg.capacity()
            })
            + self.request_body.capacity()
            + self.response_body.capacity()
    }

    /// The request, or the partial one while its head arrives.
    fn request_eager(&self) -> Option<&Request> {
        self.request.as_ref().or(self.request_partial.as_deref())
    }

    /// The response, or the partial one while its head arrives.
    fn response_eager(&self) -> Option<&Response> {
        self.response.as_ref().or(self.response_partial.as_deref())
    }

    /// [`Self::head`], with the partial request or response head.
    fn head_eager(&self, dir: Direction) -> Option<&Head> {
        match dir {
            Direction::ToServer => self.request_eager().map(|r| &r.head),
            Direction::ToClient => self.response_eager().map(|r| &r.head),
        }
    }

    fn head(&self, dir: Direction) -> Option<&Head> {
        match dir {
            Direction::ToServer => self.request.as_ref().map(|r| &r.head),
            Direction::ToClient => self.response.as_ref().map(|r| &r.head),
        }
    }

    /// Buffer `b` for rules of direction `dir` (see the module doc).
    pub fn get(&self, dir: Direction, b: Buffer) -> Option<&[u8]> {
        let req = self.request_eager();
        let resp = self.response_eager();
        match b {
            Buffer::HttpMethod => req.map(|r| r.method.as_slice()),
            Buffer::HttpUri => req.map(|r| r.uri_norm.as_slice()),
            Buffer::HttpUriRaw => req.map(|r| r.uri_raw.as_slice()),
            Buffer::HttpRequestLine => req.map(|r| r.head.line.as_slice()),
            // libhtp sets the hostname when the request head is complete.
            Buffer::HttpHost => self.request.as_ref().and_then(|r| r.host.as_deref()),
            Buffer::HttpHostRaw => req.and_then(|r| r.host_raw.as_deref()),
            Buffer::HttpUserAgent => req.and_then(|r| r.head.header("User-Agent")),
            Buffer::HttpReferer => req.and_then(|r| r.head.header("Referer")),
            Buffer::HttpAccept => req.and_then(|r| r.head.header("Accept")),
            Buffer::HttpAcceptEnc => req.and_then(|r| r.head.header("Accept-Encoding")),
            Buffer::HttpAcceptLang => req.and_then(|r| r.head.header("Accept-Language")),
            Buffer::HttpConnection => self.head_eager(dir).and_then(|h| h.header("Connection")),
            Buffer::HttpRequestBody => nonempty(&self.request_body),
            Buffer::HttpStatCode => resp.map(|r| r.status.as_slice()),
            Buffer::HttpStatMsg => resp.map(|r| r.msg.as_slice()),
            Buffer::HttpResponseLine => resp.map(|r| r.head.line.as_slice()),
            Buffer::HttpLocation => resp.and_then(|r| r.head.header("Location")),
            Buffer::HttpServer => resp.and_then(|r| r.head.header("Server")),
            Buffer::HttpResponseBody => nonempty(&self.response_body),
            Buffer::FileData => match dir {
                Direction::ToServer => nonempty(&self.request_body),
                Direction::ToClient => nonempty(&self.response_body),
            },
            Buffer::HttpProtocol => match dir {
                Direction::ToServer => req.map(|r| r.protocol.as_slice()),
                Direction::ToClient => resp.map(|r| r.protocol.as_slice()),
            },
            Buffer::HttpHeader => self.head(dir).map(|h| h.header_norm.as_slice()),
            Buffer::HttpHeaderRaw => self.head(dir).map(|h| h.raw.as_slice()),
            Buffer::HttpHeaderNames => self.head(dir).map(|h| h.header_names.as_slice()),
            Buffer::HttpRequestHeader => req.and_then(|r| r.head.header_lines().next()),
            Buffer::HttpResponseHeader => resp.and_then(|r| r.head.header_lines().next()),
            Buffer::HttpStart => self.head(dir).map(|h| h.start.as_slice()),
            Buffer::HttpContentType => self.head_eager(dir).and_then(|h| h.header("Content-Type")),
            Buffer::HttpContentLen => match dir {
                Direction::ToServer => req.and_then(|r| r.head.header("Content-Length")),
                Direction::ToClient => self.head(dir).and_then(|h| h.header("Content-Length")),
            },
            Buffer::HttpCookie => match dir {
                Direction::ToServer => req.and_then(|r| r.head.header("Cookie")),
                Direction::ToClient => resp.and_then(|r| r.head.header("Set-Cookie")),
            },
            _ => None,
        }
    }

    /// Every instance of a multi-buffer (`http.request_header`, `http.response_header`: one
    /// per header, in order); other buffers: [`Self::get`]'s one, if any.
    pub fn get_all(&self, dir: Direction, b: Buffer) -> Vec<&[u8]> {
        match b {
            Buffer::HttpRequestHeader => self
                .request_eager()
                .map(|r| r.head.header_lines().collect())
                .unwrap_or_default(),
            Buffer::HttpResponseHeader => self
                .response_eager()
                .map(|r| r.head.header_lines().collect())
                .unwrap_or_default(),
            _ => self.get(dir, b).into_iter().collect(),
        }
    }

    /// `urilen`.
    pub fn urilen(&self, raw: bool) -> Option<usize> {
        self.request_eager().map(|r| {
            if raw {
                r.uri_raw.len()
            } else {
                r.uri_norm.len()
            }
        })
    }

    /// EVE `http` object (Suricata 7 field names).
    pub fn eve(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        let mut put = |k: &str, v: Option<&[u8]>| {
            if let Some(v) = v {
                m.insert(
                    k.to_string(),
                    serde_json::Value::String(crate::eve_string(v)),
                );
            }
        };
        let d = Direction::ToServer;
        put("hostname", self.get(d, Buffer::HttpHost));
        put("url", self.get(d, Buffer::HttpUriRaw));
        put("http_user_agent", self.get(d, Buffer::HttpUserAgent));
        put(
            "http_content_type",
            self.get(Direction::ToClient, Buffer::HttpContentType),
        );
        put("http_refer", self.get(d, Buffer::HttpReferer));
        put("http_method", self.get(d, Buffer::HttpMethod));
        let proto = self
            .get(d, Buffer::HttpProtocol)
            .filter(|p| !p.is_empty())
            .or_else(|| self.get(Direction::ToClient, Buffer::HttpProtocol));
        put("protocol", proto);
        put(
            "redirect",
            self.get(Direction::ToClient, Buffer::HttpLocation),
        );
        if let Some(code) = self
            .response
            .as_ref()
            .and_then(|r| std::str::from_utf8(&r.status).ok()?.parse::<u16>().ok())
        {
            m.insert("status".into(), code.into());
        }
        if self.response.is_some() {
            m.insert("length".into(), self.response_len.into());
        }
        serde_json::Value::Object(m)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    Size,
    Data(u64),
    /// After chunk data: the CRLF (`seen_cr` tells whether the CR was consumed).
    DataEnd {
        seen_cr: bool,
    },
    /// Trailer lines until an empty one; `line_len` counts bytes of the current line.
    Trailer {
        line_len: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyMode {
    Length(u64),
    Chunked(Chunk),
    UntilClose,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Head,
    Body(BodyMode),
    /// A response body delimited by its length ended with more bytes right behind it: like
    /// libhtp's RES_FINALIZE, the next line decides: a line that doesn't start with `HTTP` is
    /// more body (the response completes at the next line that does, or at the close).
    Finalize,
    /// After a gap: drop bytes until a chunk starts with a message head.
    Resync,
    /// Tunnel (CONNECT, Upgrade) or an unrecoverable error: nothing more is parsed.
    Dead,
}

/// One direction's parser.
#[derive(Debug)]
struct Half {
    state: State,
    buf: Vec<u8>,
    /// Where to resume searching for the end of the head.
    scan: usize,
    /// Transaction the current body belongs to.
    tx: u64,
    decoder: Option<Decoder>,
    body_event_sent: bool,
    body_bytes: u64,
    /// End of the head's first line and whether it lacks a protocol (HTTP/0.9 check).
    first_line: Option<(usize, bool)>,
    /// Response head framing (libhtp's line rules); unused for requests.
    res_scan: ResScan,
    /// How far libhtp has read a request head still arriving; unused for responses.
    req_scan: ReqScan,
}

impl Default for Half {
    fn default() -> Self {
        Half {
            state: State::Head,
            buf: Vec::new(),
            scan: 0,
            tx: 0,
            decoder: None,
            body_event_sent: false,
            body_bytes: 0,
            first_line: None,
            res_scan: ResScan::default(),
            req_scan: ReqScan::default(),
        }
    }
}

/// Per-flow HTTP state.
#[derive(Debug, Default)]
pub struct HttpState {
    txs: VecDeque<HttpTx>,
    next_tx: u64,
    req: Half,
    resp: Half,
    /// A CONNECT request waits for its response before the request side goes on.
    connect_pending: Option<u64>,
    /// The transaction holding a partial response (its head still arriving).
    partial_tx: Option<u64>,
    /// The transaction holding a partial request (its head still arriving).
    partial_req_tx: Option<u64>,
    /// Time of the latest bytes fed.
    last_ts: Timestamp,
}

/// Upper bound of an HTTP state's memory under `l`.
pub(crate) fn mem_bound(l: &Limits) -> usize {
    let head = l.http_head_limit.max(1);
    // A parsed head keeps the line, raw block, normalized header, names, start (each <= ~2x head
    // size) and the combined headers; request URIs normalized add 2 more copies.
    let per_head = 16 * head + l.http_max_headers * 96 + 1024;
    let per_tx = std::mem::size_of::<HttpTx>()
        + std::mem::size_of::<Request>()
        + std::mem::size_of::<Response>()
        + 2 * per_head
        + l.request_body_limit
        + l.response_body_limit;
    std::mem::size_of::<HttpState>()
        + l.max_txs.max(1) * per_tx
        // The one partial response (a head still arriving).
        + std::mem::size_of::<Response>()
        + per_head
        + 2 * (head + CHUNK_LINE_MAX)
        // The response head scanner's fields and folded line (their bytes come from the head).
        + 2 * head + l.http_max_headers * 48
        + 2 * (body::LAYER_LIMIT * (body::INFLATE_STATE + 4096 + 256))
        // Vec growth may double a capacity once.
        + l.max_txs.max(1) * (l.request_body_limit + l.response_body_limit)
}

fn is_token_start(d: &[u8]) -> bool {
    matches!(
        crate::detection::detect_status(Direction::ToServer, crate::Transport::Tcp, d, 0),
        crate::Detect::Found(crate::AppProto::Http)
    )
}

impl HttpState {
    pub(crate) fn tx(&self, id: u64) -> Option<&HttpTx> {
        self.txs.iter().find(|t| t.tx_id == id)
    }

    fn tx_mut(&mut self, id: u64) -> Option<&mut HttpTx> {
        self.txs.iter_mut().find(|t| t.tx_id == id)
    }

    pub(crate) fn mem(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.txs.capacity() * std::mem::size_of::<HttpTx>()
            + self.txs.iter().map(HttpTx::mem).sum::<usize>()
            + [&self.req, &self.resp]
                .iter()
                .map(|h| {
                    h.buf.capacity() + h.decoder.as_ref().map_or(0, Decoder::mem) + h.res_scan.mem()
                })
                .sum::<usize>()
    }

    fn half(&mut self, dir: Direction) -> &mut Half {
        match dir {
            Direction::ToServer => &mut self.req,
            Direction::ToClient => &mut self.resp,
        }
    }

    pub(crate) fn gap(&mut self, dir: Direction) {
        if dir == Direction::ToServer {
            // The partial request keeps what was read; the next head is a new transaction.
            self.partial_req_tx = None;
        }
        if dir == Direction::ToClient {
            // At most one transaction holds a partial response: the head being read.
            self.partial_tx = None;
            for t in &mut self.txs {
                t.response_partial = None;
            }
        }
        let h = self.half(dir);
        if h.state != State::Dead {
            h.state = State::Resync;
            h.buf = Vec::new();
            h.scan = 0;
            h.first_line = None;
            h.decoder = None;
        }
    }

    pub(crate) fn close(
        &mut self,
        dir: Direction,
        limits: &Limits,
        counters: &mut Counters,
        events: &mut Vec<AppEvent>,
    ) {
        if self.half(dir).state == State::Finalize {
            let line = std::mem::take(&mut self.half(dir).buf);
            if !line.is_empty() && response_line_is_body(&line) {
                self.body_data(dir, &line, limits, counters, events);
            }
            self.end_body(dir, limits, counters, events);
        }
        if let State::Body(mode) = self.half(dir).state {
            // libhtp takes a partial line as complete at the close: a response chunk-length
            // line that is not one becomes identity body (http-evader 044).
            if dir == Direction::ToClient && mode == BodyMode::Chunked(Chunk::Size) {
                let line = std::mem::take(&mut self.half(dir).buf);
                if !uri::trim(&line).is_empty() && parse_chunk_size(&line).is_none() {
                    counters.http_malformed += 1;
                    self.body_data(dir, &line, limits, counters, events);
                }
            }
            self.end_body(dir, limits, counters, events);
        }
        // An HTTP/0.9 request line with nothing after it completes at the close.
        if dir == Direction::ToServer && self.req.state == State::Head {
            if let Some((nl, true)) = self.req.first_line {
                let mut head = std::mem::take(&mut self.req.buf);
                head.truncate(nl + 1);
                self.req.first_line = None;
                self.on_request(self.last_ts, &head, limits, counters, events);
            }
        }
        // libhtp takes the close as the end of a response's first line, and finalises a
        // response head cut short by the close with the header lines complete by then.
        if dir == Direction::ToClient
            && self.resp.state == State::Head
            && self.resp.buf.iter().any(|&b| b != b'\r' && b != b'\n')
        {
            let head = std::mem::take(&mut self.resp.buf);
            let scan = std::mem::take(&mut self.resp.res_scan);
            self.on_response_at_close(self.last_ts, &head, scan, limits, counters, events);
            if matches!(self.resp.state, State::Body(_) | State::Finalize) {
                self.end_body(dir, limits, counters, events);
            }
        }
        // libhtp finalises a head cut short by the close (no empty line yet): the start line
        // and the complete header lines are parsed.
        let h = self.half(dir);
        if h.state == State::Head && h.buf.contains(&b'\n') && !uri::trim(&h.buf).is_empty() {
            let mut head = std::mem::take(&mut h.buf);
            if let Some(nl) = head.iter().rposition(|&b| b == b'\n') {
                head.truncate(nl + 1);
            }
            head.extend_from_slice(b"\r\n");
            if dir == Direction::ToServer {
                self.req.first_line = None;
            }
            self.on_head(dir, self.last_ts, &head, limits, counters, events);
        }
        let h = self.half(dir);
        h.state = State::Dead;
        h.buf = Vec::new();
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
        self.last_ts = ts;
        while !data.is_empty() {
            let state = self.half(dir).state;
            match state {
                State::Dead => return,
                State::Resync => {
                    if is_token_start(data) {
                        self.half(dir).state = State::Head;
                    } else {
                        return;
                    }
                }
                State::Head => {
                    data = self.feed_head(dir, ts, data, limits, counters, events);
                }
                State::Body(mode) => {
                    data = self.feed_body(dir, mode, data, limits, counters, events);
                }
                State::Finalize => {
                    data = self.feed_finalize(dir, data, limits, counters, events);
                }
            }
        }
    }

    /// [`State::Finalize`]: one line at a time.
    fn feed_finalize<'d>(
        &mut self,
        dir: Direction,
        data: &'d [u8],
        limits: &Limits,
        counters: &mut Counters,
        events: &mut Vec<AppEvent>,
    ) -> &'d [u8] {
        let h = self.half(dir);
        let Some(nl) = data.iter().position(|&b| b == b'\n') else {
            let room = CHUNK_LINE_MAX.saturating_sub(h.buf.len());
            h.buf.extend_from_slice(&data[..room.min(data.len())]);
            return &[];
        };
        h.buf.extend_from_slice(&data[..=nl]);
        let line = std::mem::take(&mut h.buf);
        let rest = &data[nl + 1..];
        if response_line_is_body(&line) {
            counters.http_malformed += 1;
            self.body_data(dir, &line, limits, counters, events);
            if rest.is_empty() {
                self.end_body(dir, limits, counters, events);
                self.half(dir).state = State::Head;
            }
        } else {
            self.end_body(dir, limits, counters, events);
            let h = self.half(dir);
            h.state = State::Head;
            h.buf = line;
            h.scan = 0;
            h.res_scan = ResScan::default();
        }
        rest
    }

    /// Accumulate head bytes; returns the unconsumed rest of `data`.
    fn feed_head<'d>(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        mut data: &'d [u8],
        limits: &Limits,
        counters: &mut Counters,
        events: &mut Vec<AppEvent>,
    ) -> &'d [u8] {
        let h = self.half(dir);
        if h.buf.is_empty() {
            h.res_scan = ResScan::default();
            h.req_scan = ReqScan::default();
            // Empty lines between messages are ignored (libhtp does the same).
            let skip = data
                .iter()
                .position(|&b| b != b'\r' && b != b'\n')
                .unwrap_or(data.len());
            data = &data[skip..];
            if data.is_empty() {
                return data;
            }
        }
        let room = limits.http_head_limit.saturating_sub(h.buf.len());
        let take = room.min(data.len());
        let old_len = h.buf.len();
        h.buf.extend_from_slice(&data[..take]);
        if dir == Direction::ToClient {
            return self.feed_response_head(ts, data, take, old_len, limits, counters, events);
        }
        match find_head_end(
            &h.buf,
            h.scan,
            dir == Direction::ToServer,
            &mut h.first_line,
        ) {
            Some(end) => {
                h.first_line = None;
                h.scan = 0;
                let mut head = std::mem::take(&mut h.buf);
                if end >= old_len {
                    head.truncate(end);
                    self.on_head(dir, ts, &head, limits, counters, events);
                    &data[end - old_len..]
                } else {
                    // The head ended inside bytes buffered earlier (an HTTP/0.9 line decided by
                    // the byte after it): those after the end are parsed again, before the rest.
                    let leftover = head.split_off(end);
                    self.on_head(dir, ts, &head, limits, counters, events);
                    self.feed(dir, ts, &leftover, limits, counters, events);
                    &data[take..]
                }
            }
            None => {
                h.scan = h.buf.len().saturating_sub(3);
                if take < data.len() || h.buf.len() >= limits.http_head_limit {
                    counters.http_head_too_large += 1;
                    h.state = State::Dead;
                    h.buf = Vec::new();
                } else if dir == Direction::ToServer {
                    self.publish_partial_request(ts, limits, counters, events);
                }
                &[]
            }
        }
    }

    /// [`Self::feed_head`] for responses: `data[..take]` was appended to the buffer (which held
    /// `old_len` bytes before).
    #[allow(clippy::too_many_arguments)]
    fn feed_response_head<'d>(
        &mut self,
        ts: Timestamp,
        data: &'d [u8],
        take: usize,
        old_len: usize,
        limits: &Limits,
        counters: &mut Counters,
        events: &mut Vec<AppEvent>,
    ) -> &'d [u8] {
        let h = &mut self.resp;
        let max = limits.http_max_headers.max(1);
        let before = (h.res_scan.status.is_some(), h.res_scan.fields.len());
        match h.res_scan.step(&h.buf, max) {
            ResStep::NeedMore => {
                if take < data.len() || h.buf.len() >= limits.http_head_limit {
                    counters.http_head_too_large += 1;
                    h.state = State::Dead;
                    h.buf = Vec::new();
                    h.res_scan = ResScan::default();
                    return &[];
                }
                let after = (h.res_scan.status.is_some(), h.res_scan.fields.len());
                // Each publication copies the head read so far: a head dribbled in line by line
                // is published a bounded number of times (then at its end).
                if after.0 && after != before && h.res_scan.published < PARTIAL_PUBLISH_MAX {
                    h.res_scan.published += 1;
                    self.publish_partial_response(ts, limits, counters, events);
                }
                &[]
            }
            ResStep::BodyLine { start, end } => {
                let mut buf = std::mem::take(&mut h.buf);
                let scan = std::mem::take(&mut h.res_scan);
                drop(scan);
                let leftover = buf.split_off(end);
                self.on_response_body_line(ts, &buf[start..], limits, counters, events);
                let rest = self.resume_after(
                    Direction::ToClient,
                    ts,
                    leftover,
                    data,
                    take,
                    old_len,
                    end,
                    limits,
                    counters,
                    events,
                );
                // libhtp completes the response when the data at hand ends after such lines.
                if rest.is_empty() && self.resp.state == State::Finalize && self.resp.buf.is_empty()
                {
                    self.end_body(Direction::ToClient, limits, counters, events);
                    self.resp.state = State::Head;
                }
                rest
            }
            ResStep::Done { end } => {
                let mut buf = std::mem::take(&mut h.buf);
                let scan = std::mem::take(&mut h.res_scan);
                let leftover = buf.split_off(end.min(buf.len()));
                if scan.dropped > 0 {
                    counters.http_too_many_headers += 1;
                }
                self.on_response_scanned(ts, &buf, scan, limits, counters, events);
                self.resume_after(
                    Direction::ToClient,
                    ts,
                    leftover,
                    data,
                    take,
                    old_len,
                    end,
                    limits,
                    counters,
                    events,
                )
            }
        }
    }

    /// After a head (or a line) ending at `end` of the buffer: the bytes behind it are parsed
    /// again when they were buffered before this call, else the rest of `data` is returned.
    #[allow(clippy::too_many_arguments)]
    fn resume_after<'d>(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        leftover: Vec<u8>,
        data: &'d [u8],
        take: usize,
        old_len: usize,
        end: usize,
        limits: &Limits,
        counters: &mut Counters,
        events: &mut Vec<AppEvent>,
    ) -> &'d [u8] {
        if end >= old_len {
            &data[(end - old_len).min(data.len())..]
        } else {
            self.feed(dir, ts, &leftover, limits, counters, events);
            &data[take..]
        }
    }

    fn on_head(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        head: &[u8],
        limits: &Limits,
        counters: &mut Counters,
        events: &mut Vec<AppEvent>,
    ) {
        match dir {
            Direction::ToServer => self.on_request(ts, head, limits, counters, events),
            Direction::ToClient => {
                let mut scan = ResScan::default();
                let max = limits.http_max_headers.max(1);
                match scan.step(head, max) {
                    ResStep::Done { .. } | ResStep::NeedMore => {
                        self.on_response_scanned(ts, head, scan, limits, counters, events)
                    }
                    ResStep::BodyLine { start, .. } => {
                        self.on_response_body_line(ts, &head[start..], limits, counters, events)
                    }
                }
            }
        }
    }

    fn push_tx(&mut self, tx: HttpTx, limits: &Limits, counters: &mut Counters) {
        self.txs.push_back(tx);
        while self.txs.len() > limits.max_txs.max(1) {
            self.txs.pop_front();
            counters.tx_evicted += 1;
        }
    }

    fn on_request(
        &mut self,
        ts: Timestamp,
        head: &[u8],
        limits: &Limits,
        counters: &mut Counters,
        events: &mut Vec<AppEvent>,
    ) {
        let (line, hdr_block) = split_start_line(head);
        let req = build_request(line, hdr_block, limits, counters);
        let body = request_body_mode(&req.head);
        let is_connect = req.method.eq_ignore_ascii_case(b"CONNECT");
        // The transaction that holds the partial request, else a new one.
        let id = match self.partial_req_tx.take() {
            Some(id) if self.tx(id).is_some() => id,
            _ => {
                let id = self.next_tx;
                self.next_tx += 1;
                self.push_tx(HttpTx::new(id, ts), limits, counters);
                id
            }
        };
        if let Some(t) = self.tx_mut(id) {
            t.request = Some(req);
            t.request_partial = None;
        }
        events.push(AppEvent {
            tx_id: id,
            kind: EventKind::HttpRequestHeaders,
        });
        let h = &mut self.req;
        h.tx = id;
        h.body_event_sent = false;
        h.body_bytes = 0;
        h.decoder = None;
        h.state = match body {
            Some(mode) => State::Body(mode),
            None => State::Head,
        };
        if is_connect && body.is_none() {
            // Wait for the response: 2xx makes it a tunnel.
            self.connect_pending = Some(id);
            self.req.state = State::Dead;
        }
    }

    /// Suricata inspects a request's line and the headers libhtp has read while the head is
    /// still arriving (see [`reqhead`]): they become the transaction's partial request, published
    /// when the request line is complete and each time more header lines are read (a bounded
    /// number of times). Not for a request line without a protocol (HTTP/0.9 has no headers).
    fn publish_partial_request(
        &mut self,
        ts: Timestamp,
        limits: &Limits,
        counters: &mut Counters,
        events: &mut Vec<AppEvent>,
    ) {
        let h = &mut self.req;
        let Some((start, cut)) = h.req_scan.step(&h.buf) else {
            return;
        };
        if cut == h.req_scan.published_cut || h.req_scan.published >= PARTIAL_PUBLISH_MAX {
            return;
        }
        let line = strip_cr(&h.buf[..start - 1]);
        if parse_request_line(line).2.is_empty() {
            return;
        }
        h.req_scan.published_cut = cut;
        h.req_scan.published += 1;
        let mut block = h.buf[start..cut].to_vec();
        block.extend_from_slice(b"\r\n");
        // The counters count complete heads only.
        let mut req = build_request(line, &block, limits, &mut Counters::default());
        req.host = None;
        let id = match self.partial_req_tx {
            Some(id) if self.tx(id).is_some() => id,
            _ => {
                let id = self.next_tx;
                self.next_tx += 1;
                self.push_tx(HttpTx::new(id, ts), limits, counters);
                id
            }
        };
        let Some(t) = self.tx_mut(id) else {
            return;
        };
        t.request_partial = Some(Box::new(req));
        self.partial_req_tx = Some(id);
        events.push(AppEvent {
            tx_id: id,
            kind: EventKind::HttpRequestHeadersPartial,
        });
    }

    /// Suricata inspects a response's line and single headers while the head is still
    /// arriving: the status line and the header lines read so far become the transaction's
    /// partial response (not for a 1xx, 204 or 304, whose heads decide interim responses and
    /// bodiless messages).
    fn publish_partial_response(
        &mut self,
        ts: Timestamp,
        limits: &Limits,
        counters: &mut Counters,
        events: &mut Vec<AppEvent>,
    ) {
        let h = &self.resp;
        let Some((ls, le)) = h.res_scan.status else {
            return;
        };
        let line = &h.buf[ls..le.min(h.buf.len())];
        let (protocol, status, msg) = parse_status_line(line);
        if matches!(parse_status_code(status), Some(100..=199 | 204 | 304)) {
            return;
        }
        let raw = &h.buf[h.res_scan.headers_start.min(h.buf.len())..];
        let headers = libhtp::combine(h.res_scan.fields.clone());
        let resp = Response {
            protocol: protocol.to_vec(),
            status: status.to_vec(),
            msg: msg.to_vec(),
            head: build_head(line, raw, headers, true),
        };
        let id = match self.partial_tx {
            Some(id) if self.tx(id).is_some() => id,
            _ => self.response_tx(ts, limits, counters),
        };
        let Some(t) = self.tx_mut(id) else {
            return;
        };
        t.response_partial = Some(Box::new(resp));
        self.partial_tx = Some(id);
        events.push(AppEvent {
            tx_id: id,
            kind: EventKind::HttpResponseHeadersPartial,
        });
    }

    /// The transaction a response head belongs to: the one holding its partial response, else
    /// the oldest without a response, else a new one.
    fn take_partial_tx(&mut self, ts: Timestamp, limits: &Limits, counters: &mut Counters) -> u64 {
        match self.partial_tx.take() {
            Some(id) if self.tx(id).is_some() => {
                if let Some(t) = self.tx_mut(id) {
                    t.response_partial = None;
                }
                id
            }
            _ => self.response_tx(ts, limits, counters),
        }
    }

    /// The oldest transaction without a response, or a new one.
    fn response_tx(&mut self, ts: Timestamp, limits: &Limits, counters: &mut Counters) -> u64 {
        match self
            .txs
            .iter()
            .find(|t| t.response.is_none() && (t.request.is_some() || t.request_partial.is_some()))
        {
            Some(t) => t.tx_id,
            None => {
                let id = self.next_tx;
                self.next_tx += 1;
                self.push_tx(HttpTx::new(id, ts), limits, counters);
                id
            }
        }
    }

    /// A first response line that is body (libhtp: no status line, the bytes are body until
    /// a line starting with `HTTP`).
    fn on_response_body_line(
        &mut self,
        ts: Timestamp,
        line: &[u8],
        limits: &Limits,
        counters: &mut Counters,
        events: &mut Vec<AppEvent>,
    ) {
        counters.http_malformed += 1;
        let id = self.response_tx(ts, limits, counters);
        if let Some(t) = self.tx_mut(id) {
            t.response = Some(Response::default());
        }
        let h = &mut self.resp;
        h.tx = id;
        h.body_event_sent = false;
        h.body_bytes = 0;
        h.decoder = None;
        h.state = State::Finalize;
        self.body_data(Direction::ToClient, line, limits, counters, events);
    }

    /// A response head cut short by the close: `scan` has framed what it could of `head`.
    fn on_response_at_close(
        &mut self,
        ts: Timestamp,
        head: &[u8],
        mut scan: ResScan,
        limits: &Limits,
        counters: &mut Counters,
        events: &mut Vec<AppEvent>,
    ) {
        if scan.status.is_none() {
            // The first line ends at the close.
            let start = scan.line_start().min(head.len());
            let line = &head[start..];
            let mut len = line.len();
            libhtp::chomp(line, &mut len);
            if len == 0 {
                return;
            }
            if response_line_is_body(&line[..len]) {
                self.on_response_body_line(ts, line, limits, counters, events);
                return;
            }
            scan.status = Some((start, start + len));
            scan.headers_start = head.len();
        }
        self.on_response_scanned(ts, head, scan, limits, counters, events);
    }

    /// A response head framed by [`ResScan`] in `head` (status line, header lines, the empty
    /// line).
    fn on_response_scanned(
        &mut self,
        ts: Timestamp,
        head: &[u8],
        scan: ResScan,
        limits: &Limits,
        counters: &mut Counters,
        events: &mut Vec<AppEvent>,
    ) {
        let (ls, le) = scan.status.unwrap_or((0, 0));
        let line = &head[ls.min(head.len())..le.min(head.len())];
        let raw = &head[scan.headers_start.min(head.len())..];
        let (protocol, status, msg) = parse_status_line(line);
        let code = parse_status_code(status);
        let headers = libhtp::combine(scan.fields);
        let parsed = build_head(line, raw, headers, true);
        // libhtp: a 100 without Transfer-Encoding and without a positive Content-Length is
        // interim: the next status line is the transaction's response.
        if code == Some(100)
            && parsed.header("Transfer-Encoding").is_none()
            && parsed
                .header("Content-Length")
                .and_then(libhtp::parse_content_length)
                .is_none_or(|n| n == 0)
        {
            if let Some(id) = self.partial_tx.take() {
                if let Some(t) = self.tx_mut(id) {
                    t.response_partial = None;
                }
            }
            self.resp.state = State::Head;
            return;
        }
        let resp = Response {
            protocol: protocol.to_vec(),
            status: status.to_vec(),
            msg: msg.to_vec(),
            head: parsed,
        };
        // Pair with the oldest transaction that has no response yet.
        let id = self.take_partial_tx(ts, limits, counters);
        let is_head = self
            .tx(id)
            .and_then(|t| t.request.as_ref())
            .is_some_and(|r| r.method.eq_ignore_ascii_case(b"HEAD"));
        let Ok(body) = response_body_mode(&resp.head, code, is_head) else {
            // libhtp: an unparsable response Content-Length is a parser error.
            counters.http_malformed += 1;
            if let Some(t) = self.tx_mut(id) {
                t.response = Some(resp);
            }
            events.push(AppEvent {
                tx_id: id,
                kind: EventKind::HttpResponseHeaders,
            });
            self.resp.state = State::Dead;
            return;
        };
        let announces_body = resp.head.header("Transfer-Encoding").is_some()
            || resp.head.header("Content-Length").is_some();
        let encoding = resp
            .head
            .header("Content-Encoding")
            .map(Encoding::chain_from_header)
            .unwrap_or_default();
        if let Some(t) = self.tx_mut(id) {
            t.response = Some(resp);
        }
        events.push(AppEvent {
            tx_id: id,
            kind: EventKind::HttpResponseHeaders,
        });
        // libhtp: a 101 announcing a body is not a protocol switch.
        let tunnel = (code == Some(101) && !announces_body)
            || (self.connect_pending == Some(id) && matches!(code, Some(200..=299)));
        if self.connect_pending == Some(id) {
            self.connect_pending = None;
            if !tunnel {
                self.req.state = State::Head;
            }
        }
        if tunnel {
            counters.http_tunnel += 1;
            self.req.state = State::Dead;
            self.resp.state = State::Dead;
            self.req.buf = Vec::new();
            return;
        }
        let h = &mut self.resp;
        h.tx = id;
        h.body_event_sent = false;
        h.body_bytes = 0;
        h.decoder = match body {
            Some(_) => Decoder::chain(&encoding, limits.decompress_limit),
            None => None,
        };
        h.state = match body {
            Some(mode) => State::Body(mode),
            None => State::Head,
        };
    }

    /// Consume body bytes in `mode`; returns the rest of `data`.
    fn feed_body<'d>(
        &mut self,
        dir: Direction,
        mode: BodyMode,
        data: &'d [u8],
        limits: &Limits,
        counters: &mut Counters,
        events: &mut Vec<AppEvent>,
    ) -> &'d [u8] {
        match mode {
            BodyMode::UntilClose => {
                self.body_data(dir, data, limits, counters, events);
                &[]
            }
            BodyMode::Length(n) => {
                let take = (data.len() as u64).min(n) as usize;
                self.body_data(dir, &data[..take], limits, counters, events);
                let left = n - take as u64;
                if left == 0 && dir == Direction::ToClient && take < data.len() {
                    self.half(dir).state = State::Finalize;
                } else if left == 0 {
                    self.end_body(dir, limits, counters, events);
                    self.half(dir).state = State::Head;
                } else {
                    self.half(dir).state = State::Body(BodyMode::Length(left));
                }
                &data[take..]
            }
            BodyMode::Chunked(c) => self.feed_chunked(dir, c, data, limits, counters, events),
        }
    }

    fn feed_chunked<'d>(
        &mut self,
        dir: Direction,
        c: Chunk,
        data: &'d [u8],
        limits: &Limits,
        counters: &mut Counters,
        events: &mut Vec<AppEvent>,
    ) -> &'d [u8] {
        let set = |s: &mut Self, c: Chunk| s.half(dir).state = State::Body(BodyMode::Chunked(c));
        match c {
            Chunk::Size => {
                let h = self.half(dir);
                let nl = data.iter().position(|&b| b == b'\n');
                let end = nl.map_or(data.len(), |i| i + 1);
                if h.buf.len() + end > CHUNK_LINE_MAX {
                    counters.http_malformed += 1;
                    h.buf = Vec::new();
                    self.end_body(dir, limits, counters, events);
                    self.half(dir).state = State::Dead;
                    return &[];
                }
                h.buf.extend_from_slice(&data[..end]);
                if nl.is_none() {
                    return &[];
                }
                let line = std::mem::take(&mut h.buf);
                match parse_chunk_size(&line) {
                    Some(0) => {
                        // libhtp ends the body at the last chunk, before any trailer.
                        self.end_body(dir, limits, counters, events);
                        set(self, Chunk::Trailer { line_len: 0 });
                    }
                    Some(n) => set(self, Chunk::Data(n)),
                    None => {
                        // An empty line where a size was expected is tolerated (stray CRLF).
                        if uri::trim(&line).is_empty() {
                            set(self, Chunk::Size);
                        } else if dir == Direction::ToClient {
                            // libhtp: an invalid response chunk length turns the body into
                            // identity until the connection closes, from that line on.
                            counters.http_malformed += 1;
                            self.body_data(dir, &line, limits, counters, events);
                            self.half(dir).state = State::Body(BodyMode::UntilClose);
                        } else {
                            counters.http_malformed += 1;
                            self.end_body(dir, limits, counters, events);
                            self.half(dir).state = State::Dead;
                            return &[];
                        }
                    }
                }
                &data[end..]
            }
            Chunk::Data(n) => {
                let take = (data.len() as u64).min(n) as usize;
                self.body_data(dir, &data[..take], limits, counters, events);
                let left = n - take as u64;
                set(
                    self,
                    if left == 0 {
                        Chunk::DataEnd { seen_cr: false }
                    } else {
                        Chunk::Data(left)
                    },
                );
                &data[take..]
            }
            Chunk::DataEnd { seen_cr } => match data[0] {
                b'\r' if !seen_cr => {
                    set(self, Chunk::DataEnd { seen_cr: true });
                    &data[1..]
                }
                b'\n' => {
                    set(self, Chunk::Size);
                    &data[1..]
                }
                _ => {
                    // Missing CRLF: be lenient and read a size line from here.
                    set(self, Chunk::Size);
                    data
                }
            },
            Chunk::Trailer { mut line_len } => {
                let mut i = 0;
                while i < data.len() {
                    let b = data[i];
                    i += 1;
                    if b == b'\n' {
                        if line_len == 0 {
                            self.end_body(dir, limits, counters, events);
                            self.half(dir).state = State::Head;
                            return &data[i..];
                        }
                        line_len = 0;
                    } else if b != b'\r' {
                        line_len += 1;
                    }
                }
                set(self, Chunk::Trailer { line_len });
                &[]
            }
        }
    }

    /// Body bytes (transfer-decoded) for the current transaction of `dir`.
    fn body_data(
        &mut self,
        dir: Direction,
        data: &[u8],
        limits: &Limits,
        counters: &mut Counters,
        events: &mut Vec<AppEvent>,
    ) {
        if data.is_empty() {
            return;
        }
        let (limit, kind) = match dir {
            Direction::ToServer => (limits.request_body_limit, EventKind::HttpRequestBody),
            Direction::ToClient => (limits.response_body_limit, EventKind::HttpResponseBody),
        };
        let half = match dir {
            Direction::ToServer => &mut self.req,
            Direction::ToClient => &mut self.resp,
        };
        half.body_bytes += data.len() as u64;
        let id = half.tx;
        let Some(tx) = self.txs.iter_mut().find(|t| t.tx_id == id) else {
            return;
        };
        let body = match dir {
            Direction::ToServer => &mut tx.request_body,
            Direction::ToClient => {
                tx.response_len += data.len() as u64;
                &mut tx.response_body
            }
        };
        let room = limit.saturating_sub(body.len());
        let mut hit = false;
        match &mut half.decoder {
            Some(d) if room > 0 => {
                let r = d.push(data, body, room);
                if r.failed {
                    counters.http_decompress_failed += 1;
                }
                if r.limited {
                    counters.http_decompress_limit += 1;
                    hit = true;
                }
            }
            Some(_) => hit = true,
            None => {
                let n = room.min(data.len());
                body.extend_from_slice(&data[..n]);
                hit = n < data.len();
            }
        }
        if (hit || body.len() >= limit) && !half.body_event_sent {
            counters.http_body_truncated += u64::from(hit);
            half.body_event_sent = true;
            events.push(AppEvent { tx_id: id, kind });
        }
    }

    fn end_body(
        &mut self,
        dir: Direction,
        limits: &Limits,
        _counters: &mut Counters,
        events: &mut Vec<AppEvent>,
    ) {
        let (limit, kind) = match dir {
            Direction::ToServer => (limits.request_body_limit, EventKind::HttpRequestBody),
            Direction::ToClient => (limits.response_body_limit, EventKind::HttpResponseBody),
        };
        let half = match dir {
            Direction::ToServer => &mut self.req,
            Direction::ToClient => &mut self.resp,
        };
        let id = half.tx;
        let decoder = half.decoder.take();
        let sent = std::mem::replace(&mut half.body_event_sent, true);
        let Some(tx) = self.txs.iter_mut().find(|t| t.tx_id == id) else {
            return;
        };
        let body = match dir {
            Direction::ToServer => &mut tx.request_body,
            Direction::ToClient => &mut tx.response_body,
        };
        if let Some(mut d) = decoder {
            let room = limit.saturating_sub(body.len());
            d.finish(body, room);
        }
        if !sent && !body.is_empty() {
            events.push(AppEvent { tx_id: id, kind });
        }
    }
}

fn nonempty(v: &[u8]) -> Option<&[u8]> {
    (!v.is_empty()).then_some(v)
}

/// End of the head (index just past the empty line), searching from `from`. For requests, a
/// first line without a protocol is an HTTP/0.9 request that ends at that line, unless header
/// lines follow it (libhtp then parses them as a normal request).
fn find_head_end(
    buf: &[u8],
    from: usize,
    request: bool,
    first_line: &mut Option<(usize, bool)>,
) -> Option<usize> {
    // The resume offset and the cached first line describe an earlier, longer buffer when the
    // buffer was emptied in between (a close or a resync): then scan again from the start.
    let from = if from > buf.len() { 0 } else { from };
    if matches!(*first_line, Some((nl, _)) if nl >= buf.len()) {
        *first_line = None;
    }
    if request {
        if first_line.is_none() {
            let lf = from.saturating_sub(3);
            let nl = buf[lf..].iter().position(|&b| b == b'\n').map(|p| p + lf)?;
            let (_, _, proto) = parse_request_line(strip_cr(&buf[..nl]));
            *first_line = Some((nl, proto.is_empty()));
        }
        let (nl, no_proto) = (*first_line)?;
        if no_proto {
            let rest = &buf[nl + 1..];
            match rest.first() {
                None => return None,
                Some(b'\r' | b'\n') => return Some(nl + 1),
                Some(_) => {
                    let line_end = rest.iter().position(|&b| b == b'\n');
                    let line = &rest[..line_end.unwrap_or(rest.len())];
                    if !line.contains(&b':') {
                        return line_end.map(|_| nl + 1);
                    }
                }
            }
        }
    }
    let mut i = from;
    while let Some(p) = buf[i..].iter().position(|&b| b == b'\n') {
        let nl = i + p;
        match buf.get(nl + 1) {
            Some(b'\n') => return Some(nl + 2),
            Some(b'\r') if buf.get(nl + 2) == Some(&b'\n') => return Some(nl + 3),
            _ => {}
        }
        i = nl + 1;
    }
    None
}

fn strip_cr(l: &[u8]) -> &[u8] {
    l.strip_suffix(b"\r").unwrap_or(l)
}

/// (start line without EOL, the rest).
fn split_start_line(head: &[u8]) -> (&[u8], &[u8]) {
    match head.iter().position(|&b| b == b'\n') {
        Some(nl) => (strip_cr(&head[..nl]), &head[nl + 1..]),
        None => (strip_cr(head), &[]),
    }
}

fn split_ws(s: &[u8]) -> (&[u8], &[u8]) {
    let end = s
        .iter()
        .position(|&b| b == b' ' || b == b'\t')
        .unwrap_or(s.len());
    let rest = &s[end..];
    let skip = rest
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(rest.len());
    (&s[..end], &rest[skip..])
}

/// (method, uri, protocol) of a request line; protocol is empty for HTTP/0.9.
pub fn parse_request_line(line: &[u8]) -> (&[u8], &[u8], &[u8]) {
    let line = uri::trim(line);
    let (method, rest) = split_ws(line);
    // The protocol is the last token when it looks like one; the URI is everything between.
    let rest = uri::trim(rest);
    if let Some(sp) = rest.iter().rposition(|&b| b == b' ' || b == b'\t') {
        let proto = &rest[sp + 1..];
        if proto.len() >= 4 && proto[..4].eq_ignore_ascii_case(b"HTTP") {
            return (method, uri::trim(&rest[..sp]), proto);
        }
    }
    (method, rest, &[])
}

/// (protocol, status code, message) of a status line, split as libhtp does: white space
/// (`htp_is_space`) before and between the protocol and the code, the message is the rest.
pub fn parse_status_line(line: &[u8]) -> (&[u8], &[u8], &[u8]) {
    use libhtp::is_space;
    let token = |s: &[u8], from: usize| {
        let start = s[from..]
            .iter()
            .position(|&b| !is_space(b))
            .map_or(s.len(), |p| from + p);
        let end = s[start..]
            .iter()
            .position(|&b| is_space(b))
            .map_or(s.len(), |p| start + p);
        (start, end)
    };
    let (ps, pe) = token(line, 0);
    let (cs, ce) = token(line, pe);
    let ms = line[ce..]
        .iter()
        .position(|&b| !is_space(b))
        .map_or(line.len(), |p| ce + p);
    (&line[ps..pe], &line[cs..ce], &line[ms..])
}

/// libhtp's `htp_parse_status`: digits only (spaces or tabs around them), 100 to 999.
fn parse_status_code(status: &[u8]) -> Option<u16> {
    let t = status
        .iter()
        .position(|&b| !libhtp::is_lws(b))
        .map_or(&status[..0], |s| &status[s..]);
    let end = t
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(t.len());
    if end == 0 || !t[end..].iter().all(|&b| libhtp::is_lws(b)) || end > 6 {
        return None;
    }
    let n: u32 = std::str::from_utf8(&t[..end]).ok()?.parse().ok()?;
    u16::try_from(n).ok().filter(|n| (100..=999).contains(n))
}

/// A request from its start line (without its line ending) and header block.
fn build_request(line: &[u8], block: &[u8], limits: &Limits, counters: &mut Counters) -> Request {
    let (method, uri_raw, protocol) = parse_request_line(line);
    let parsed = parse_head(line, block, limits, counters, false);
    let parts = uri::split(uri_raw);
    let (host, host_raw) = match parts.authority {
        Some(a) if !a.is_empty() => {
            let (h, _) = uri::host_port(a);
            (Some(uri::normalize_host(a)), Some(h.to_vec()))
        }
        _ => match parsed.header("Host") {
            Some(v) => (Some(uri::normalize_host(v)), Some(v.to_vec())),
            None => (None, None),
        },
    };
    Request {
        method: method.to_vec(),
        uri_raw: uri_raw.to_vec(),
        uri_norm: uri::normalize_uri(uri_raw),
        protocol: protocol.to_vec(),
        host,
        host_raw,
        head: parsed,
    }
}

/// Parse the header block with httparse, falling back to a lenient parser; build the derived
/// buffers.
fn parse_head(
    line: &[u8],
    block: &[u8],
    limits: &Limits,
    counters: &mut Counters,
    response: bool,
) -> Head {
    let mut pairs: Vec<(&[u8], Vec<u8>)> = Vec::new();
    let max = limits.http_max_headers.max(1);
    let mut storage = vec![httparse::EMPTY_HEADER; max];
    match httparse::parse_headers(block, &mut storage) {
        Ok(httparse::Status::Complete((_, hs))) => {
            for h in hs {
                pairs.push((h.name.as_bytes(), uri::trim(h.value).to_vec()));
            }
        }
        Err(httparse::Error::TooManyHeaders) => {
            counters.http_too_many_headers += 1;
            lenient_headers(block, max, &mut pairs);
        }
        _ => lenient_headers(block, max, &mut pairs),
    }
    let headers = libhtp::combine(pairs.into_iter().map(|(n, v)| (n.to_vec(), v)).collect());
    build_head(line, block, headers, response)
}

/// The derived buffers of a head from its combined headers.
fn build_head(line: &[u8], block: &[u8], headers: Vec<(Vec<u8>, Vec<u8>)>, response: bool) -> Head {
    let skip = if response {
        &b"set-cookie"[..]
    } else {
        &b"cookie"[..]
    };
    let mut header_norm = Vec::new();
    let mut header_names = b"\r\n".to_vec();
    let mut start = line.to_vec();
    start.extend_from_slice(b"\r\n");
    let mut lines = Vec::with_capacity(headers.len());
    for (n, v) in &headers {
        header_names.extend_from_slice(n);
        header_names.extend_from_slice(b"\r\n");
        let a = start.len();
        push_line(&mut start, n, v);
        lines.push((
            u32::try_from(a).unwrap_or(u32::MAX),
            u32::try_from(start.len() - 2).unwrap_or(u32::MAX),
        ));
        if !n.eq_ignore_ascii_case(skip) {
            push_line(&mut header_norm, n, v);
        }
    }
    header_names.extend_from_slice(b"\r\n");
    start.extend_from_slice(b"\r\n");
    Head {
        line: line.to_vec(),
        headers,
        raw: block.to_vec(),
        header_norm,
        header_names,
        start,
        lines,
    }
}

fn push_line(out: &mut Vec<u8>, n: &[u8], v: &[u8]) {
    out.extend_from_slice(n);
    out.extend_from_slice(b": ");
    out.extend_from_slice(v);
    out.extend_from_slice(b"\r\n");
}

/// Lenient header lines: `name: value`, obsolete folding joins with a space, lines without a
/// colon are skipped, at most `max` headers.
fn lenient_headers<'a>(block: &'a [u8], max: usize, out: &mut Vec<(&'a [u8], Vec<u8>)>) {
    for raw_line in block.split(|&b| b == b'\n') {
        let line = strip_cr(raw_line);
        if line.is_empty() {
            break;
        }
        if matches!(line[0], b' ' | b'\t') {
            if let Some((_, v)) = out.last_mut() {
                let cont = uri::trim(line);
                if !cont.is_empty() {
                    if !v.is_empty() {
                        v.push(b' ');
                    }
                    v.extend_from_slice(cont);
                }
            }
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        if out.len() >= max {
            break;
        }
        let name = uri::trim(&line[..colon]);
        out.push((name, uri::trim(&line[colon + 1..]).to_vec()));
    }
}

fn is_chunked(h: &Head) -> bool {
    // libhtp looks for `chunked` anywhere in the value, ignoring case and NUL bytes.
    h.header("Transfer-Encoding")
        .is_some_and(|v| libhtp::contains_nocase_norzero(v, b"chunked"))
}

fn content_length(h: &Head) -> Option<u64> {
    // libhtp's `htp_parse_content_length`: bytes before the first digit are skipped, the digits
    // parsed, junk after them ignored (`68 34` from a folded line is 68; repeated headers were
    // combined and the first value counts); no digit: none.
    libhtp::parse_content_length(h.header("Content-Length")?)
}

fn request_body_mode(h: &Head) -> Option<BodyMode> {
    if is_chunked(h) {
        return Some(BodyMode::Chunked(Chunk::Size));
    }
    match content_length(h) {
        Some(n) if n > 0 => Some(BodyMode::Length(n)),
        _ => None,
    }
}

/// libhtp's `RES_BODY_DETERMINE`; `Err` for a Content-Length libhtp cannot parse (a parser
/// error there).
fn response_body_mode(
    h: &Head,
    code: Option<u16>,
    head_request: bool,
) -> Result<Option<BodyMode>, ()> {
    if head_request {
        return Ok(None);
    }
    let te = h.header("Transfer-Encoding");
    let cl = h.header("Content-Length");
    // A 1xx, 204 or 304 has no body unless it announces one ("Unexpected response body").
    if matches!(code, Some(100..=199 | 204 | 304)) && te.is_none() && cl.is_none() {
        return Ok(None);
    }
    if is_chunked(h) {
        return Ok(Some(BodyMode::Chunked(Chunk::Size)));
    }
    match cl {
        Some(v) => match libhtp::parse_content_length(v) {
            Some(0) => Ok(None),
            Some(n) => Ok(Some(BodyMode::Length(n))),
            None => Err(()),
        },
        None => Ok(Some(BodyMode::UntilClose)),
    }
}

/// libhtp's `htp_treat_response_line_as_body`: a line is body unless it starts (after spaces
/// and NULs) with `HTTP`, any case.
fn response_line_is_body(line: &[u8]) -> bool {
    let start = line
        .iter()
        .position(|&b| !(b.is_ascii_whitespace() || b == 0 || b == 0x0b))
        .unwrap_or(line.len());
    !line
        .get(start..start + 4)
        .is_some_and(|w| w.eq_ignore_ascii_case(b"HTTP"))
}

/// libhtp's `htp_parse_chunked_length`: leading control/space bytes skipped, the hex digits
/// that follow taken and any trailing junk (extensions or not) cut off; no digits or a length
/// above `i32::MAX` is an error.
fn parse_chunk_size(line: &[u8]) -> Option<u64> {
    let start = line
        .iter()
        .position(|b| !matches!(b, b'\r' | b'\n' | b' ' | b'\t' | 0x0b | 0x0c))
        .unwrap_or(line.len());
    let l = &line[start..];
    let end = l
        .iter()
        .position(|b| !b.is_ascii_hexdigit())
        .unwrap_or(l.len());
    if end == 0 {
        return None;
    }
    let mut v: u64 = 0;
    for &b in &l[..end] {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => b - b'A' + 10,
        };
        v = v.checked_mul(16)?.checked_add(u64::from(d))?;
        if v > i32::MAX as u64 {
            return None;
        }
    }
    Some(v)
}

#[cfg(test)]
mod tests;
