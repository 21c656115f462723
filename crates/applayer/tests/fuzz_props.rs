//! Fuzz-style properties: arbitrary bytes in arbitrary chunking never panic any parser, and a
//! flow's memory stays within the bound its limits imply, for every protocol and direction mix.

use proptest::prelude::*;
use seawall_applayer::{
    apply_transforms, detect_status, AppEvent, AppProto, AppState, Buffer, Direction, Limits,
    Timestamp, Transform, Transport,
};

fn small_limits() -> Limits {
    Limits {
        http_head_limit: 2048,
        http_max_headers: 16,
        request_body_limit: 4096,
        response_body_limit: 4096,
        decompress_limit: 8192,
        max_txs: 4,
        tls_handshake_limit: 4096,
    }
}

/// Seeds that reach deep states: valid heads, chunked + gzip bodies, TLS records, DNS.
fn seeds() -> Vec<Vec<u8>> {
    vec![
        b"GET /a/../b%20c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n".to_vec(),
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 30\r\n\r\n\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03".to_vec(),
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: deflate\r\n\r\n".to_vec(),
        vec![0x16, 0x03, 0x01, 0x00, 0x30, 0x01, 0x00, 0x00, 0x2c, 0x03, 0x03],
        vec![0x16, 0x03, 0x03, 0x00, 0x30, 0x0b, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x29],
        b"\x00\x1d\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x07example\x03com\x00\x00\x01\x00\x01".to_vec(),
    ]
}

fn input() -> impl Strategy<Value = Vec<(bool, Vec<u8>)>> {
    let seeded = (
        0..6usize,
        proptest::collection::vec(any::<u8>(), 0..300),
        0..64usize,
    )
        .prop_map(|(i, tail, cut)| {
            let mut v = seeds()[i].clone();
            let cut = cut.min(v.len());
            v.truncate(v.len() - cut / 2);
            v.extend(tail);
            v
        });
    let chunk = prop_oneof![proptest::collection::vec(any::<u8>(), 0..400), seeded];
    proptest::collection::vec((any::<bool>(), chunk), 1..12)
}

fn run(proto: AppProto, transport: Transport, feeds: &[(bool, Vec<u8>)], split: usize) {
    let mut st = AppState::new(proto, transport, small_limits());
    let mut events: Vec<AppEvent> = Vec::new();
    for (i, (to_server, data)) in feeds.iter().enumerate() {
        let dir = if *to_server {
            Direction::ToServer
        } else {
            Direction::ToClient
        };
        for c in data.chunks(split.max(1)) {
            st.feed(dir, Timestamp(i as u64), c, &mut events);
            assert!(
                st.mem_usage() <= st.mem_bound(),
                "{} > {}",
                st.mem_usage(),
                st.mem_bound()
            );
        }
        if i % 5 == 4 {
            st.gap(dir);
        }
    }
    st.close(Direction::ToServer, &mut events);
    st.close(Direction::ToClient, &mut events);
    // Every event names a transaction whose buffers can be read (the newest ones are kept).
    let mut out = Vec::new();
    for e in events.iter().rev().take(small_limits().max_txs) {
        if let Some(tx) = st.buffers(e.tx_id) {
            for b in e.kind.buffers() {
                for v in tx.get_all(e.kind.direction(), *b) {
                    apply_transforms(&[Transform::ToLowercase, Transform::Dotprefix], v, &mut out)
                        .expect("supported");
                }
            }
            let _ = tx.urilen(false);
            let _ = tx.eve();
        }
    }
    assert!(st.mem_usage() <= st.mem_bound());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn http_never_panics_and_stays_bounded(feeds in input(), split in 1..50usize) {
        run(AppProto::Http, Transport::Tcp, &feeds, split);
    }

    #[test]
    fn tls_never_panics_and_stays_bounded(feeds in input(), split in 1..50usize) {
        run(AppProto::Tls, Transport::Tcp, &feeds, split);
    }

    #[test]
    fn dns_never_panics_and_stays_bounded(feeds in input(), split in 1..50usize) {
        run(AppProto::Dns, Transport::Tcp, &feeds, split);
        run(AppProto::Dns, Transport::Udp, &feeds, usize::MAX);
    }

    #[test]
    fn detection_and_transforms_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200), port in any::<u16>(),
                                            key in proptest::collection::vec(any::<u8>(), 0..4)) {
        for t in [Transport::Tcp, Transport::Udp] {
            for d in [Direction::ToServer, Direction::ToClient] {
                let _ = detect_status(d, t, &data, port);
            }
        }
        let ts = [Transform::UrlDecode, Transform::CompressWhitespace, Transform::StripWhitespace,
                  Transform::Xor(key), Transform::HeaderLowercase, Transform::StripPseudoHeaders, Transform::ToSha256];
        let mut out = Vec::new();
        apply_transforms(&ts, &data, &mut out).expect("supported");
        prop_assert_eq!(out.len(), 32);
    }
}

/// Same chunking independence on a realistic exchange: one byte at a time and all at once give
/// the same buffers.
#[test]
fn chunking_does_not_change_buffers() {
    let req = b"POST /x?y=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhelloGET /z HTTP/1.1\r\nHost: h2\r\n\r\n";
    let resp = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno";
    let collect = |split: usize| {
        let mut st = AppState::new(AppProto::Http, Transport::Tcp, Limits::default());
        let mut ev = Vec::new();
        for c in req.chunks(split) {
            st.feed(Direction::ToServer, Timestamp(0), c, &mut ev);
        }
        for c in resp.chunks(split) {
            st.feed(Direction::ToClient, Timestamp(0), c, &mut ev);
        }
        let mut out = Vec::new();
        for id in 0..2 {
            let tx = st.buffers(id).expect("tx");
            for b in [
                Buffer::HttpUri,
                Buffer::HttpHost,
                Buffer::HttpRequestBody,
                Buffer::HttpStatCode,
                Buffer::FileData,
            ] {
                let dir = if matches!(b, Buffer::FileData) {
                    Direction::ToClient
                } else {
                    Direction::ToServer
                };
                out.push(tx.get(dir, b).map(<[u8]>::to_vec));
            }
        }
        // A request or response head arriving in pieces is also published while it arrives
        // (Suricata inspects request and response headers before the head is complete).
        ev.retain(|e| {
            !matches!(
                e.kind,
                seawall_applayer::EventKind::HttpResponseHeadersPartial
                    | seawall_applayer::EventKind::HttpRequestHeadersPartial
            )
        });
        (ev, out)
    };
    let whole = collect(usize::MAX);
    assert_eq!(collect(1), whole);
    assert_eq!(whole.1[2], Some(b"hello".to_vec()));
    assert_eq!(whole.1[4], Some(b"abc".to_vec()));
    assert_eq!(whole.1[9], Some(b"no".to_vec()));
}
