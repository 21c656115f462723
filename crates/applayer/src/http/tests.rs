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

fn kinds(ev: &[AppEvent]) -> Vec<(u64, EventKind)> {
    ev.iter().map(|e| (e.tx_id, e.kind)).collect()
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
        assert_eq!(
            kinds(&ev),
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
    assert!(ev.is_empty());
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
