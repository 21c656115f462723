use super::*;

fn feed_all(
    st: &mut HttpState,
    dir: Direction,
    data: &[u8],
    chunk: usize,
    ev: &mut Vec<AppEvent>,
) -> Counters {
    let mut c = Counters::default();
    for ch in data.chunks(chunk.max(1)) {
        st.feed(dir, Timestamp(0), ch, &Limits::default(), &mut c, ev);
    }
    c
}

/// The events, without the partial request heads (tested on their own, see
/// `partial_request_*`).
fn kinds(ev: &[AppEvent]) -> Vec<(u64, EventKind)> {
    ev.iter()
        .filter(|e| e.kind != EventKind::HttpRequestHeadersPartial)
        .map(|e| (e.tx_id, e.kind))
        .collect()
}

const REQ: &[u8] = b"GET /a/../b%20c?x=%41 HTTP/1.1\r\nHost: WWW.Example.com:8080\r\nUser-Agent: Test/1.0 \r\nCookie: a=b\r\nAccept: */*\r\nX-Dup: 1\r\nx-dup: 2\r\n\r\n";

#[test]
fn request_buffers_exact() {
    for chunk in [1, 3, REQ.len()] {
        let mut st = HttpState::default();
        let mut ev = Vec::new();
        let c = feed_all(&mut st, Direction::ToServer, REQ, chunk, &mut ev);
        assert_eq!(c, Counters::default());
        assert_eq!(kinds(&ev), vec![(0, EventKind::HttpRequestHeaders)]);
        let tx = st.tx(0).expect("tx");
        let g = |b| tx.get(Direction::ToServer, b);
        assert_eq!(g(Buffer::HttpMethod), Some(&b"GET"[..]));
        assert_eq!(g(Buffer::HttpUriRaw), Some(&b"/a/../b%20c?x=%41"[..]));
        assert_eq!(g(Buffer::HttpUri), Some(&b"/b c?x=%41"[..]));
        assert_eq!(g(Buffer::HttpProtocol), Some(&b"HTTP/1.1"[..]));
        assert_eq!(
            g(Buffer::HttpRequestLine),
            Some(&b"GET /a/../b%20c?x=%41 HTTP/1.1"[..])
        );
        assert_eq!(g(Buffer::HttpHost), Some(&b"www.example.com"[..]));
        assert_eq!(g(Buffer::HttpHostRaw), Some(&b"WWW.Example.com:8080"[..]));
        assert_eq!(g(Buffer::HttpUserAgent), Some(&b"Test/1.0"[..]));
        assert_eq!(g(Buffer::HttpCookie), Some(&b"a=b"[..]));
        assert_eq!(g(Buffer::HttpAccept), Some(&b"*/*"[..]));
        assert_eq!(
            g(Buffer::HttpHeader),
            Some(&b"Host: WWW.Example.com:8080\r\nUser-Agent: Test/1.0\r\nAccept: */*\r\nX-Dup: 1, 2\r\n"[..])
        );
        assert_eq!(
            g(Buffer::HttpHeaderNames),
            Some(&b"\r\nHost\r\nUser-Agent\r\nCookie\r\nAccept\r\nX-Dup\r\n\r\n"[..])
        );
        assert_eq!(
            g(Buffer::HttpStart),
            Some(&b"GET /a/../b%20c?x=%41 HTTP/1.1\r\nHost: WWW.Example.com:8080\r\nUser-Agent: Test/1.0\r\nCookie: a=b\r\nAccept: */*\r\nX-Dup: 1, 2\r\n\r\n"[..])
        );
        let raw_start = REQ.iter().position(|&b| b == b'\n').expect("nl") + 1;
        assert_eq!(g(Buffer::HttpHeaderRaw), Some(&REQ[raw_start..]));
        assert_eq!(g(Buffer::HttpRequestBody), None);
        assert_eq!(g(Buffer::HttpStatCode), None);
        assert_eq!(tx.urilen(false), Some(10));
        assert_eq!(tx.urilen(true), Some(17));
    }
}

const RESP_HDR: &[u8] = b"HTTP/1.1 200 OK\r\nServer: nginx\r\nSet-Cookie: s=1\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n";

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("write");
    e.finish().expect("finish")
}

fn chunked(data: &[u8], size: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for c in data.chunks(size) {
        out.extend_from_slice(format!("{:x};ext=1\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\nTrailer: x\r\n\r\n");
    out
}

#[test]
fn chunked_gzip_response_any_chunking() {
    let plain = b"<html>hello world, this is the body</html>".repeat(20);
    let mut resp = RESP_HDR.to_vec();
    resp.extend_from_slice(&chunked(&gzip(&plain), 37));
    resp.extend_from_slice(b"HTTP/1.1 304 Not Modified\r\n\r\n");
    for chunk in [1, 5, 64, resp.len()] {
        let mut st = HttpState::default();
        let mut ev = Vec::new();
        feed_all(
            &mut st,
            Direction::ToServer,
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\n\r\n",
            7,
            &mut ev,
        );
        let c = feed_all(&mut st, Direction::ToClient, &resp, chunk, &mut ev);
        assert_eq!(c, Counters::default(), "chunk {chunk}");
        // A head arriving in pieces is published as its lines are read.
        let k: Vec<_> = kinds(&ev)
            .into_iter()
            .filter(|(_, k)| *k != EventKind::HttpResponseHeadersPartial)
            .collect();
        assert_eq!(
            k,
            vec![
                (0, EventKind::HttpRequestHeaders),
                (1, EventKind::HttpRequestHeaders),
                (0, EventKind::HttpResponseHeaders),
                (0, EventKind::HttpResponseBody),
                (1, EventKind::HttpResponseHeaders),
            ],
            "chunk {chunk}"
        );
        let tx = st.tx(0).expect("tx");
        let g = |b| tx.get(Direction::ToClient, b);
        assert_eq!(g(Buffer::FileData), Some(plain.as_slice()));
        assert_eq!(g(Buffer::HttpResponseBody), Some(plain.as_slice()));
        assert_eq!(g(Buffer::HttpStatCode), Some(&b"200"[..]));
        assert_eq!(g(Buffer::HttpStatMsg), Some(&b"OK"[..]));
        assert_eq!(g(Buffer::HttpServer), Some(&b"nginx"[..]));
        assert_eq!(g(Buffer::HttpCookie), Some(&b"s=1"[..]));
        assert_eq!(g(Buffer::HttpProtocol), Some(&b"HTTP/1.1"[..]));
        assert_eq!(
            g(Buffer::HttpHeader),
            Some(&b"Server: nginx\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n"[..])
        );
        assert_eq!(g(Buffer::HttpResponseLine), Some(&b"HTTP/1.1 200 OK"[..]));
        // request-only buffers answer for either direction
        assert_eq!(g(Buffer::HttpHost), Some(&b"a"[..]));
        let tx1 = st.tx(1).expect("tx1");
        assert_eq!(
            tx1.get(Direction::ToClient, Buffer::HttpStatCode),
            Some(&b"304"[..])
        );
        let eve = tx.eve();
        assert_eq!(eve["status"], 200);
        assert_eq!(eve["hostname"], "a");
        assert_eq!(eve["url"], "/");
        assert_eq!(eve["http_content_type"], "text/html");
    }
}

#[test]
fn request_body_limit_and_content_length() {
    let body = vec![b'x'; 300_000];
    let mut req = format!(
        "POST /up HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    req.extend_from_slice(b"GET /next HTTP/1.1\r\n\r\n");
    let mut st = HttpState::default();
    let mut ev = Vec::new();
    let c = feed_all(&mut st, Direction::ToServer, &req, 4096, &mut ev);
    assert_eq!(c.http_body_truncated, 1);
    assert_eq!(
        kinds(&ev),
        vec![
            (0, EventKind::HttpRequestHeaders),
            (0, EventKind::HttpRequestBody),
            (1, EventKind::HttpRequestHeaders),
        ]
    );
    let tx = st.tx(0).expect("tx");
    assert_eq!(tx.request_body.len(), Limits::default().request_body_limit);
    assert_eq!(
        st.tx(1)
            .expect("tx1")
            .get(Direction::ToServer, Buffer::HttpUri),
        Some(&b"/next"[..])
    );
}

#[test]
fn continue_head_and_until_close() {
    let mut st = HttpState::default();
    let mut ev = Vec::new();
    feed_all(
        &mut st,
        Direction::ToServer,
        b"HEAD /h HTTP/1.1\r\n\r\nGET /c HTTP/1.0\r\n\r\n",
        100,
        &mut ev,
    );
    let resp = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nHTTP/1.0 200 OK\r\n\r\nbody until close";
    feed_all(&mut st, Direction::ToClient, resp, 9, &mut ev);
    assert_eq!(
        st.tx(0)
            .expect("tx")
            .get(Direction::ToClient, Buffer::HttpStatCode),
        Some(&b"200"[..])
    );
    assert_eq!(st.tx(0).expect("tx").response_body, b"");
    let mut c = Counters::default();
    st.close(Direction::ToClient, &Limits::default(), &mut c, &mut ev);
    assert_eq!(
        ev.last().map(|e| (e.tx_id, e.kind)),
        Some((1, EventKind::HttpResponseBody))
    );
    assert_eq!(st.tx(1).expect("tx").response_body, b"body until close");
}

#[test]
fn http09_folding_and_lenient_fallback() {
    let mut st = HttpState::default();
    let mut ev = Vec::new();
    feed_all(&mut st, Direction::ToServer, b"GET /old\r\n", 1, &mut ev);
    assert!(st.tx(0).is_none());
    st.close(
        Direction::ToServer,
        &Limits::default(),
        &mut Counters::default(),
        &mut ev,
    );
    let tx = st.tx(0).expect("tx");
    assert_eq!(
        tx.get(Direction::ToServer, Buffer::HttpUri),
        Some(&b"/old"[..])
    );
    assert_eq!(
        tx.get(Direction::ToServer, Buffer::HttpProtocol),
        Some(&b""[..])
    );
    let mut st = HttpState::default();
    feed_all(
        &mut st,
        Direction::ToServer,
        b"OPTIONS\nHost: x\n\nTRACE /a\r\n\r\n",
        1,
        &mut ev,
    );
    assert_eq!(
        st.tx(0)
            .expect("tx")
            .get(Direction::ToServer, Buffer::HttpHost),
        Some(&b"x"[..])
    );
    assert_eq!(
        st.tx(1)
            .expect("tx")
            .get(Direction::ToServer, Buffer::HttpUri),
        Some(&b"/a"[..])
    );
    let mut st = HttpState::default();
    let req = b"GET / HTTP/1.1\r\nUser-Agent: a\r\n  b\r\nBad Line\r\nHost: h\r\n\r\n";
    feed_all(&mut st, Direction::ToServer, req, 4, &mut ev);
    let tx = st.tx(0).expect("tx");
    assert_eq!(
        tx.get(Direction::ToServer, Buffer::HttpUserAgent),
        Some(&b"a b"[..])
    );
    assert_eq!(
        tx.get(Direction::ToServer, Buffer::HttpHost),
        Some(&b"h"[..])
    );
}

#[test]
fn absolute_uri_host_wins() {
    let mut st = HttpState::default();
    let mut ev = Vec::new();
    feed_all(
        &mut st,
        Direction::ToServer,
        b"GET http://Proxy.Example:3128/x HTTP/1.1\r\nHost: other\r\n\r\n",
        10,
        &mut ev,
    );
    let tx = st.tx(0).expect("tx");
    assert_eq!(
        tx.get(Direction::ToServer, Buffer::HttpHost),
        Some(&b"proxy.example"[..])
    );
    assert_eq!(
        tx.get(Direction::ToServer, Buffer::HttpHostRaw),
        Some(&b"Proxy.Example"[..])
    );
    assert_eq!(
        tx.get(Direction::ToServer, Buffer::HttpUri),
        Some(&b"/x"[..])
    );
}

#[test]
fn connect_tunnel_stops_parsing() {
    let mut st = HttpState::default();
    let mut ev = Vec::new();
    feed_all(
        &mut st,
        Direction::ToServer,
        b"CONNECT a:443 HTTP/1.1\r\n\r\n\x16\x03\x01garbage",
        100,
        &mut ev,
    );
    let c = feed_all(
        &mut st,
        Direction::ToClient,
        b"HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x03more",
        100,
        &mut ev,
    );
    assert_eq!(c.http_tunnel, 1);
    feed_all(
        &mut st,
        Direction::ToServer,
        b"GET / HTTP/1.1\r\n\r\n",
        100,
        &mut ev,
    );
    assert_eq!(ev.len(), 2);
}

#[test]
fn head_limit_and_gap_resync() {
    let mut st = HttpState::default();
    let mut ev = Vec::new();
    let mut big = b"GET / HTTP/1.1\r\n".to_vec();
    big.extend(std::iter::repeat_n(
        b'a',
        Limits::default().http_head_limit + 10,
    ));
    let c = feed_all(&mut st, Direction::ToServer, &big, 1000, &mut ev);
    assert_eq!(c.http_head_too_large, 1);
    // The request line was read (and published) before the head grew too large.
    assert_eq!(kinds(&ev), vec![]);
    let mut st = HttpState::default();
    feed_all(
        &mut st,
        Direction::ToServer,
        b"POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc",
        100,
        &mut ev,
    );
    st.gap(Direction::ToServer);
    feed_all(&mut st, Direction::ToServer, b"mid-body junk", 100, &mut ev);
    feed_all(
        &mut st,
        Direction::ToServer,
        b"GET /after HTTP/1.1\r\n\r\n",
        100,
        &mut ev,
    );
    assert_eq!(
        st.tx(1)
            .expect("tx")
            .get(Direction::ToServer, Buffer::HttpUri),
        Some(&b"/after"[..])
    );
}

#[test]
fn tx_limit_evicts_oldest() {
    let mut st = HttpState::default();
    let mut ev = Vec::new();
    let reqs = b"GET / HTTP/1.1\r\n\r\n".repeat(40);
    let c = feed_all(&mut st, Direction::ToServer, &reqs, 1000, &mut ev);
    assert_eq!(c.tx_evicted, 8);
    assert!(st.tx(7).is_none());
    assert!(st.tx(39).is_some());
}

/// libhtp's chunk lengths: trailing junk after the hex digits is cut off; a response chunk
/// line without digits turns the body into identity until close (http-evader 009, 044).
#[test]
fn lenient_chunk_lengths_like_libhtp() {
    assert_eq!(parse_chunk_size(b"fx\r\n"), Some(15));
    assert_eq!(parse_chunk_size(b" \t5;ext\r\n"), Some(5));
    assert_eq!(parse_chunk_size(b"X5O\r\n"), None);
    assert_eq!(parse_chunk_size(b"80000000\r\n"), None);
    let mut st = HttpState::default();
    let mut ev = Vec::new();
    feed_all(
        &mut st,
        Direction::ToServer,
        b"GET / HTTP/1.1\r\n\r\n",
        100,
        &mut ev,
    );
    let resp = b"HTTP/1.0 200 ok\r\nTransfer-Encoding: chunked\r\n\r\nX5O!P%@AP[4\nmore";
    feed_all(&mut st, Direction::ToClient, resp, 7, &mut ev);
    st.close(
        Direction::ToClient,
        &Limits::default(),
        &mut Counters::default(),
        &mut ev,
    );
    let tx = st.tx(0).expect("tx");
    assert_eq!(
        tx.get(Direction::ToClient, Buffer::FileData),
        Some(&b"X5O!P%@AP[4\nmore"[..])
    );
}

/// libhtp's RES_FINALIZE: bytes right behind a length-delimited response body that don't
/// start a response are more body, and the response completes at the close (http-evader 239);
/// a following response still parses.
#[test]
fn bytes_after_a_length_body_are_body_until_a_response_line() {
    let mut st = HttpState::default();
    let mut ev = Vec::new();
    feed_all(
        &mut st,
        Direction::ToServer,
        b"GET / HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n",
        100,
        &mut ev,
    );
    let resp = b"HTTP/1.1 200 ok\r\nContent-Length: 3\r\n\r\nabcXYZ";
    feed_all(&mut st, Direction::ToClient, resp, 100, &mut ev);
    assert!(!kinds(&ev).contains(&(0, EventKind::HttpResponseBody)));
    st.close(
        Direction::ToClient,
        &Limits::default(),
        &mut Counters::default(),
        &mut ev,
    );
    assert!(kinds(&ev).contains(&(0, EventKind::HttpResponseBody)));
    assert_eq!(
        st.tx(0)
            .expect("tx")
            .get(Direction::ToClient, Buffer::FileData),
        Some(&b"abcXYZ"[..])
    );
    let mut st = HttpState::default();
    let mut ev = Vec::new();
    feed_all(
        &mut st,
        Direction::ToServer,
        b"GET / HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n",
        100,
        &mut ev,
    );
    let two = b"HTTP/1.1 200 ok\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 404 no\r\nContent-Length: 0\r\n\r\n";
    feed_all(&mut st, Direction::ToClient, two, 100, &mut ev);
    assert_eq!(
        st.tx(0)
            .expect("tx")
            .get(Direction::ToClient, Buffer::FileData),
        Some(&b"abc"[..])
    );
    assert_eq!(
        st.tx(1)
            .expect("tx")
            .get(Direction::ToClient, Buffer::HttpStatCode),
        Some(&b"404"[..])
    );
}

const EICAR: &[u8] = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// One GET, then `resp` (a real http-evader response stream, in one piece), then the close;
/// the transaction.
fn evader(resp: &[u8]) -> HttpTx {
    let mut st = HttpState::default();
    let mut ev = Vec::new();
    feed_all(
        &mut st,
        Direction::ToServer,
        b"GET /x HTTP/1.1\r\nHost: evader.example.com\r\n\r\n",
        100,
        &mut ev,
    );
    feed_all(&mut st, Direction::ToClient, resp, resp.len(), &mut ev);
    st.close(
        Direction::ToClient,
        &Limits::default(),
        &mut Counters::default(),
        &mut ev,
    );
    st.tx(0).expect("tx").clone()
}

fn header<'a>(tx: &'a HttpTx, name: &str) -> Option<&'a [u8]> {
    tx.response.as_ref().and_then(|r| r.head.header(name))
}

/// libhtp ends a response header line at a bare CR (http-evader 094: `...eicar.txt"\rTransfer-
/// Encoding: chunked`), and a status line too (377: `HTTP/1.1\rTransfer-Encoding:chunked` with
/// a Content-Length the chunked coding overrides: the body is read as chunks, fails, and is
/// identity until the close).
#[test]
fn bare_cr_ends_response_lines() {
    let tx = evader(include_bytes!("testdata/evader-094.bin"));
    assert_eq!(header(&tx, "transfer-encoding"), Some(&b"chunked"[..]));
    assert_eq!(tx.response_body, EICAR);
    let tx = evader(include_bytes!("testdata/evader-377.bin"));
    let r = tx.response.as_ref().expect("response");
    assert_eq!(r.protocol, b"HTTP/1.1");
    assert_eq!(r.status, b"");
    assert_eq!(header(&tx, "Transfer-Encoding"), Some(&b"chunked"[..]));
    assert_eq!(header(&tx, "Content-Length"), Some(&b"68"[..]));
    assert_eq!(tx.response_body, EICAR);
}

/// A status line and header lines that end with bare CRs only, the head with `\r\n\n`
/// (http-evader 399).
#[test]
fn cr_only_head() {
    let tx = evader(include_bytes!("testdata/evader-399.bin"));
    assert_eq!(header(&tx, "Content-length"), Some(&b"68"[..]));
    assert_eq!(header(&tx, "Connection"), Some(&b"close"[..]));
    assert_eq!(tx.response_body, EICAR);
}

/// Head ends libhtp accepts: `\n\r\r\n` (LF CR is one line ending; 410) and a line of one
/// space before more data (`\n \n`, 416).
#[test]
fn lf_cr_and_space_line_end_the_head() {
    for resp in [
        &include_bytes!("testdata/evader-410.bin")[..],
        &include_bytes!("testdata/evader-416.bin")[..],
    ] {
        let tx = evader(resp);
        assert_eq!(header(&tx, "Content-Length"), Some(&b"68"[..]));
        assert_eq!(tx.response_body, EICAR);
    }
}

/// Folding: on HTTP/1.1 a continuation line with a colon after a header with one starts a new
/// header (268: ` Transfer-Encoding: chunked` after `Connection: close`), so with a
/// Content-Length too the body is chunked (270: the chunk length fails, identity until the
/// close); a name on its own line continued by ` :chunked` is one header (298); a line
/// starting with NUL continues the previous one (307: `Transfer-Encoding:` + `\0chunked`).
#[test]
fn folding_as_libhtp() {
    let tx = evader(include_bytes!("testdata/evader-268.bin"));
    assert_eq!(header(&tx, "Connection"), Some(&b"close"[..]));
    assert_eq!(header(&tx, "Transfer-Encoding"), Some(&b"chunked"[..]));
    assert_eq!(tx.response_body, EICAR);
    let tx = evader(include_bytes!("testdata/evader-270.bin"));
    assert_eq!(header(&tx, "Transfer-Encoding"), Some(&b"chunked"[..]));
    assert_eq!(tx.response_body, EICAR);
    let tx = evader(include_bytes!("testdata/evader-298.bin"));
    assert_eq!(header(&tx, "Transfer-Encoding"), Some(&b"chunked"[..]));
    assert_eq!(tx.response_body, EICAR);
    let tx = evader(include_bytes!("testdata/evader-307.bin"));
    assert_eq!(header(&tx, "Transfer-Encoding"), Some(&b"\0chunked"[..]));
    assert_eq!(tx.response_body, EICAR);
}

/// Header names: NUL bytes are ignored by libhtp's named lookups (291:
/// `Transfer\0-encoding`), trailing `\v`/`\f` are trimmed (294); `gz\0ip` is gzip (315).
#[test]
fn header_names_and_values_with_control_bytes() {
    let tx = evader(include_bytes!("testdata/evader-291.bin"));
    assert_eq!(header(&tx, "Transfer-Encoding"), Some(&b"chunked"[..]));
    assert_eq!(tx.response_body, EICAR);
    let tx = evader(include_bytes!("testdata/evader-294.bin"));
    let names = tx
        .get(Direction::ToClient, Buffer::HttpHeaderNames)
        .expect("names");
    assert!(names.windows(19).any(|w| w == b"\r\nTransfer-Encoding"));
    assert_eq!(tx.response_body, EICAR);
    let tx = evader(include_bytes!("testdata/evader-315.bin"));
    assert_eq!(tx.response_body, EICAR);
}

/// A 100 with a Content-Length is not interim: it is the response, with a body (447).
#[test]
fn status_100_with_a_body() {
    let tx = evader(include_bytes!("testdata/evader-447.bin"));
    assert_eq!(
        tx.get(Direction::ToClient, Buffer::HttpStatCode),
        Some(&b"100"[..])
    );
    assert_eq!(tx.response_body, EICAR);
}

/// No status line at all: the bytes are the body, complete at the close (266).
#[test]
fn response_without_status_line_is_body() {
    let tx = evader(include_bytes!("testdata/evader-266.bin"));
    assert_eq!(tx.response_body, EICAR);
}

/// gzip with a header CRC flag and a wrong CRC: zlib refuses the header, libhtp restarts past
/// the 12-byte header probe as raw deflate (195).
#[test]
fn gzip_header_crc_restart() {
    let tx = evader(include_bytes!("testdata/evader-195.bin"));
    assert_eq!(tx.response_body, EICAR);
}

/// `http.response_header`: one `Name: value` per combined header, cookies included; while the
/// head arrives, the lines read so far are inspectable (Suricata's progress rule).
#[test]
fn response_header_instances_and_partial_head() {
    let mut st = HttpState::default();
    let mut ev = Vec::new();
    feed_all(
        &mut st,
        Direction::ToServer,
        b"GET / HTTP/1.1\r\n\r\n",
        100,
        &mut ev,
    );
    let l = Limits::default();
    let mut c = Counters::default();
    st.feed(
        Direction::ToClient,
        Timestamp(0),
        b"HTTP/1.0 200 OK\nServer: x\n",
        &l,
        &mut c,
        &mut ev,
    );
    st.feed(
        Direction::ToClient,
        Timestamp(0),
        b"Header1: first\n",
        &l,
        &mut c,
        &mut ev,
    );
    let tx = st.tx(0).expect("tx");
    assert!(tx.response.is_none());
    assert_eq!(
        tx.get_all(Direction::ToClient, Buffer::HttpResponseHeader),
        vec![&b"Server: x"[..], b"Header1: first"]
    );
    assert_eq!(
        tx.get(Direction::ToClient, Buffer::HttpStatCode),
        Some(&b"200"[..])
    );
    assert_eq!(tx.get(Direction::ToClient, Buffer::HttpHeader), None);
    st.feed(
        Direction::ToClient,
        Timestamp(0),
        b"Set-Cookie: a=b\nheader1: second\nContent-Length: 0\n\n",
        &l,
        &mut c,
        &mut ev,
    );
    let tx = st.tx(0).expect("tx");
    assert!(tx.response_partial.is_none());
    assert_eq!(
        tx.get_all(Direction::ToClient, Buffer::HttpResponseHeader),
        vec![
            &b"Server: x"[..],
            b"Header1: first, second",
            b"Set-Cookie: a=b",
            b"Content-Length: 0"
        ]
    );
    assert_eq!(
        tx.get(Direction::ToClient, Buffer::HttpHeader),
        Some(&b"Server: x\r\nHeader1: first, second\r\nContent-Length: 0\r\n"[..])
    );
}

/// tcp-fastopen-08 (suricata-verify): the request as the server acknowledged it: the SYN's
/// data, the next segment (its last header line cut), then the rest.
const TFO_SYN: &[u8] = b"GET //a1a2a3a4a5a6a7a8a9a0b1b2b3b4b5b6b7b8b9b0c1c2c3c4c5c6c7c8c9c0d1d2";
const TFO_SEG: &[u8] = b"d3d4d5d6d7d8d9d0 HTTP/1.1\r\nUser-Agent: czxt2s\r\nAccept: */*\r\n\
Host: 10.0.0.61\r\nConnection: Keep-Aliv";
const TFO_END: &[u8] = b"e\r\n\r\n";

#[test]
fn partial_request_published_before_the_head_completes() {
    let mut st = HttpState::default();
    let mut ev = Vec::new();
    let l = Limits::default();
    let mut c = Counters::default();
    st.feed(
        Direction::ToServer,
        Timestamp(0),
        TFO_SYN,
        &l,
        &mut c,
        &mut ev,
    );
    // No request line yet.
    assert!(ev.is_empty());
    st.feed(
        Direction::ToServer,
        Timestamp(1),
        TFO_SEG,
        &l,
        &mut c,
        &mut ev,
    );
    assert_eq!(
        ev,
        vec![AppEvent {
            tx_id: 0,
            kind: EventKind::HttpRequestHeadersPartial
        }]
    );
    let tx = st.tx(0).expect("tx");
    let g = |b| tx.get(Direction::ToServer, b);
    assert_eq!(g(Buffer::HttpMethod), Some(&b"GET"[..]));
    assert_eq!(
        g(Buffer::HttpUriRaw),
        Some(
            &b"//a1a2a3a4a5a6a7a8a9a0b1b2b3b4b5b6b7b8b9b0c1c2c3c4c5c6c7c8c9c0d1d2d3d4d5d6d7d8d9d0"
                [..]
        )
    );
    assert_eq!(g(Buffer::HttpProtocol), Some(&b"HTTP/1.1"[..]));
    assert_eq!(g(Buffer::HttpUserAgent), Some(&b"czxt2s"[..]));
    assert_eq!(g(Buffer::HttpAccept), Some(&b"*/*"[..]));
    assert_eq!(g(Buffer::HttpHostRaw), Some(&b"10.0.0.61"[..]));
    assert_eq!(
        tx.get_all(Direction::ToServer, Buffer::HttpRequestHeader),
        vec![
            &b"User-Agent: czxt2s"[..],
            b"Accept: */*",
            b"Host: 10.0.0.61"
        ]
    );
    assert_eq!(tx.urilen(false), Some(81));
    assert_eq!(tx.urilen(true), Some(82));
    // The cut line is not read; libhtp sets the hostname and builds the whole-head buffers
    // only when the head is complete.
    assert_eq!(g(Buffer::HttpConnection), None);
    assert_eq!(g(Buffer::HttpHost), None);
    assert_eq!(g(Buffer::HttpHeader), None);
    assert_eq!(g(Buffer::HttpHeaderNames), None);
    assert_eq!(g(Buffer::HttpStart), None);
    assert_eq!(g(Buffer::HttpHeaderRaw), None);
    // The rest completes the same transaction.
    ev.clear();
    st.feed(
        Direction::ToServer,
        Timestamp(2),
        TFO_END,
        &l,
        &mut c,
        &mut ev,
    );
    assert_eq!(kinds(&ev), vec![(0, EventKind::HttpRequestHeaders)]);
    assert_eq!(c, Counters::default());
    let tx = st.tx(0).expect("tx");
    assert!(tx.request_partial.is_none());
    let g = |b| tx.get(Direction::ToServer, b);
    assert_eq!(g(Buffer::HttpConnection), Some(&b"Keep-Alive"[..]));
    assert_eq!(g(Buffer::HttpHost), Some(&b"10.0.0.61"[..]));
    assert_eq!(g(Buffer::HttpUserAgent), Some(&b"czxt2s"[..]));
    assert!(st.tx(1).is_none());
    // Its response pairs with it.
    feed_all(
        &mut st,
        Direction::ToClient,
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
        1000,
        &mut ev,
    );
    assert!(st.tx(0).is_some_and(|t| t.response.is_some()));
    assert!(st.tx(1).is_none());
}

#[test]
fn partial_request_waits_for_a_line_at_the_chunk_end() {
    // tcp-fastopen-07's first request, cut after the User-Agent line's LF: libhtp cannot know
    // yet whether that line continues, so only the request line is read.
    let mut st = HttpState::default();
    let mut ev = Vec::new();
    let l = Limits::default();
    let mut c = Counters::default();
    let head = b"GET /index.php HTTP/1.1\r\nUser-Agent: Mozilla/5.0\r\n";
    st.feed(Direction::ToServer, Timestamp(0), head, &l, &mut c, &mut ev);
    assert_eq!(
        ev.iter().map(|e| (e.tx_id, e.kind)).collect::<Vec<_>>(),
        vec![(0, EventKind::HttpRequestHeadersPartial)]
    );
    let tx = st.tx(0).expect("tx");
    assert_eq!(
        tx.get(Direction::ToServer, Buffer::HttpUri),
        Some(&b"/index.php"[..])
    );
    assert_eq!(tx.get(Direction::ToServer, Buffer::HttpUserAgent), None);
    // A byte that is not a continuation does not re-decide the line...
    ev.clear();
    st.feed(
        Direction::ToServer,
        Timestamp(1),
        b"Acc",
        &l,
        &mut c,
        &mut ev,
    );
    assert!(ev.is_empty());
    // ...the next line's end does.
    st.feed(
        Direction::ToServer,
        Timestamp(2),
        b"ept: */*\r\nX",
        &l,
        &mut c,
        &mut ev,
    );
    assert_eq!(
        ev.iter().map(|e| (e.tx_id, e.kind)).collect::<Vec<_>>(),
        vec![(0, EventKind::HttpRequestHeadersPartial)]
    );
    let tx = st.tx(0).expect("tx");
    assert_eq!(
        tx.get(Direction::ToServer, Buffer::HttpUserAgent),
        Some(&b"Mozilla/5.0"[..])
    );
    assert_eq!(
        tx.get(Direction::ToServer, Buffer::HttpAccept),
        Some(&b"*/*"[..])
    );
}

#[test]
fn no_partial_request_without_a_protocol() {
    // HTTP/0.9: libhtp reads no header lines after such a request line.
    let mut st = HttpState::default();
    let mut ev = Vec::new();
    let l = Limits::default();
    let mut c = Counters::default();
    st.feed(
        Direction::ToServer,
        Timestamp(0),
        b"GET /x\r\nA",
        &l,
        &mut c,
        &mut ev,
    );
    assert!(ev
        .iter()
        .all(|e| e.kind != EventKind::HttpRequestHeadersPartial));
}
