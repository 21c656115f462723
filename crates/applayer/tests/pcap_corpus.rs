//! Real protocol bytes: the corpus captures are split into flows (a small in-test TCP reassembler
//! for these clean captures), detected and parsed, and what the parsers extract is compared with
//! tshark's view of the same captures, pinned in `test_data/tshark/*.tsv` (regenerate with
//! `test_data/tshark/generate.sh`).

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use pcap_file::pcap::PcapReader;
use seawall_applayer::{
    detect_status, AppEvent, AppProto, AppState, Buffer, Detect, Direction, EventKind, Limits,
    Timestamp, Transport, TxBuffers,
};

/// `$SEAWALL_CORPUS/pcaps/proto` (default `<repo>/../shared/corpus`); a missing corpus fails the
/// test, never skips it.
fn corpus() -> PathBuf {
    let root = std::env::var_os("SEAWALL_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"));
    let dir = root.join("pcaps/proto");
    assert!(
        dir.is_dir(),
        "the shared corpus is missing at {} (set SEAWALL_CORPUS)",
        root.display()
    );
    dir
}

fn pinned(name: &str) -> Vec<Vec<String>> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("test_data/tshark")
        .join(name);
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

/// One row of what we extracted: capture, then fields (stream index first for TCP).
type Row = Vec<String>;

#[derive(Default)]
struct Extracted {
    http_req: Vec<Row>,
    http_resp: Vec<Row>,
    tls_client: Vec<Row>,
    tls_server: Vec<Row>,
    dns: Vec<Row>,
    ja4: Vec<Row>,
    certs: Vec<Row>,
}

struct DirStream {
    next: Option<u64>,
    base: Option<u32>,
    pending: BTreeMap<u64, Vec<u8>>,
}

struct TcpFlow {
    index: usize,
    client: (IpAddr, u16),
    server_port: u16,
    dirs: [DirStream; 2],
    first: [Vec<u8>; 2],
    state: Option<AppState>,
    undetected: [bool; 2],
}

fn s(b: Option<&[u8]>) -> String {
    b.map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default()
}

fn record(
    file: &str,
    stream: usize,
    frame: u64,
    st: &AppState,
    ev: &[AppEvent],
    out: &mut Extracted,
) {
    for e in ev {
        let Some(tx) = st.buffers(e.tx_id) else {
            continue;
        };
        let mut row = vec![file.to_string(), stream.to_string()];
        match (e.kind, tx) {
            (EventKind::HttpRequestHeaders, TxBuffers::Http(h)) => {
                let r = h.request.as_ref().expect("request");
                row.extend([
                    s(Some(&r.method)),
                    s(Some(&r.uri_raw)),
                    s(r.head.header("Host")),
                    s(r.head.header("User-Agent")),
                ]);
                out.http_req.push(row);
            }
            (EventKind::HttpResponseHeaders, TxBuffers::Http(h)) => {
                row.push(s(h.get(Direction::ToClient, Buffer::HttpStatCode)));
                out.http_resp.push(row);
            }
            (EventKind::TlsClientHello, t) => {
                row.extend([
                    s(t.get(Direction::ToServer, Buffer::TlsSni)),
                    s(t.get(Direction::ToServer, Buffer::Ja3String)),
                    s(t.get(Direction::ToServer, Buffer::Ja3Hash)),
                ]);
                out.tls_client.push(row.clone());
                out.ja4.push(vec![
                    file.into(),
                    stream.to_string(),
                    s(t.get(Direction::ToServer, Buffer::Ja4Hash)),
                ]);
            }
            (EventKind::TlsServerHello, t) => {
                row.extend([
                    s(t.get(Direction::ToClient, Buffer::Ja3sString)),
                    s(t.get(Direction::ToClient, Buffer::Ja3sHash)),
                ]);
                out.tls_server.push(row);
            }
            (EventKind::TlsCertificate, t) => {
                row.extend([
                    t.get_all(Direction::ToClient, Buffer::TlsCerts)
                        .len()
                        .to_string(),
                    s(t.get(Direction::ToClient, Buffer::TlsCertSubject)),
                    s(t.get(Direction::ToClient, Buffer::TlsCertIssuer)),
                    s(t.get(Direction::ToClient, Buffer::TlsCertSerial)),
                ]);
                out.certs.push(row);
            }
            (EventKind::DnsRequest, t) => {
                out.dns.push(vec![
                    file.into(),
                    frame.to_string(),
                    s(t.get(Direction::ToServer, Buffer::DnsQuery)),
                ]);
            }
            _ => {}
        }
    }
}

fn deliver(file: &str, f: &mut TcpFlow, d: usize, data: &[u8], frame: u64, out: &mut Extracted) {
    let dir = if d == 0 {
        Direction::ToServer
    } else {
        Direction::ToClient
    };
    if f.state.is_none() {
        // Detect on either direction (Suricata tries both); keep what each side sent meanwhile.
        if f.first[d].len() < 4096 {
            f.first[d].extend_from_slice(data);
        }
        if f.undetected[d] {
            return;
        }
        match detect_status(dir, Transport::Tcp, &f.first[d], f.server_port) {
            Detect::Found(p) => {
                let mut app = AppState::new(p, Transport::Tcp, Limits::default());
                for (side, sdir) in [(0, Direction::ToServer), (1, Direction::ToClient)] {
                    let buffered = std::mem::take(&mut f.first[side]);
                    let mut ev = Vec::new();
                    app.feed(sdir, Timestamp(0), &buffered, &mut ev);
                    record(file, f.index, frame, &app, &ev, out);
                }
                f.state = Some(app);
            }
            Detect::NeedMore if f.first[d].len() < 4096 => {}
            _ => f.undetected[d] = true,
        }
        return;
    }
    if let Some(app) = f.state.as_mut() {
        let mut ev = Vec::new();
        app.feed(dir, Timestamp(0), data, &mut ev);
        record(file, f.index, frame, app, &ev, out);
    }
}

fn run_capture(path: &Path, out: &mut Extracted) {
    let file = path
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let mut reader = PcapReader::new(File::open(path).expect("open")).expect("pcap");
    let mut flows: HashMap<(IpAddr, u16, IpAddr, u16), usize> = HashMap::new();
    let mut tcp: Vec<TcpFlow> = Vec::new();
    let mut frame = 0u64;
    while let Some(pkt) = reader.next_packet() {
        let pkt = pkt.expect("packet");
        frame += 1;
        let Ok(sp) = SlicedPacket::from_ethernet(&pkt.data) else {
            continue;
        };
        let (src, dst, frag) = match &sp.net {
            Some(NetSlice::Ipv4(v4)) => (
                IpAddr::V4(v4.header().source_addr()),
                IpAddr::V4(v4.header().destination_addr()),
                v4.is_payload_fragmented(),
            ),
            Some(NetSlice::Ipv6(v6)) => (
                IpAddr::V6(v6.header().source_addr()),
                IpAddr::V6(v6.header().destination_addr()),
                v6.is_payload_fragmented(),
            ),
            _ => continue,
        };
        if frag {
            continue;
        }
        match &sp.transport {
            Some(TransportSlice::Udp(u)) => {
                let (sport, dport) = (u.source_port(), u.destination_port());
                if sport != 53 && dport != 53 {
                    continue;
                }
                let dir = if dport == 53 {
                    Direction::ToServer
                } else {
                    Direction::ToClient
                };
                let mut st = AppState::new(AppProto::Dns, Transport::Udp, Limits::default());
                let mut ev = Vec::new();
                st.feed(dir, Timestamp(0), u.payload(), &mut ev);
                for e in ev {
                    if e.kind == EventKind::DnsRequest {
                        let tx = st.buffers(e.tx_id).expect("tx");
                        let name = s(tx.get(Direction::ToServer, Buffer::DnsQuery));
                        out.dns.push(vec![file.clone(), frame.to_string(), name]);
                    }
                }
            }
            Some(TransportSlice::Tcp(t)) => {
                let (sport, dport) = (t.source_port(), t.destination_port());
                let key = if (src, sport) <= (dst, dport) {
                    (src, sport, dst, dport)
                } else {
                    (dst, dport, src, sport)
                };
                let idx = *flows.entry(key).or_insert_with(|| {
                    let client = if t.syn() && t.ack() {
                        (dst, dport)
                    } else {
                        (src, sport)
                    };
                    let server_port = if client == (src, sport) { dport } else { sport };
                    tcp.push(TcpFlow {
                        index: tcp.len(),
                        client,
                        server_port,
                        dirs: [0, 1].map(|_| DirStream {
                            next: None,
                            base: None,
                            pending: BTreeMap::new(),
                        }),
                        first: [Vec::new(), Vec::new()],
                        state: None,
                        undetected: [false, false],
                    });
                    tcp.len() - 1
                });
                let f = &mut tcp[idx];
                let d = usize::from((src, sport) != f.client);
                let ds = &mut f.dirs[d];
                let seq = t.sequence_number();
                if t.syn() {
                    ds.base = Some(seq.wrapping_add(1));
                    ds.next = Some(0);
                }
                // The peer acknowledged bytes we never saw: a capture gap in the other direction.
                let o = 1 - d;
                if t.ack() {
                    let os = &mut f.dirs[o];
                    if let (Some(ob), Some(onext)) = (os.base, os.next) {
                        let acked = u64::from(t.acknowledgment_number().wrapping_sub(ob));
                        let first = os.pending.first_key_value().map(|(k, _)| *k);
                        if let Some(k) = first.filter(|k| *k > onext && acked > onext) {
                            os.next = Some(k);
                            if let Some(app) = f.state.as_mut() {
                                app.gap(if o == 0 {
                                    Direction::ToServer
                                } else {
                                    Direction::ToClient
                                });
                            }
                            let mut ready = Vec::new();
                            let os = &mut f.dirs[o];
                            let mut next = k;
                            while let Some(v) = os.pending.remove(&next) {
                                next += v.len() as u64;
                                ready.extend_from_slice(&v);
                            }
                            os.next = Some(next);
                            deliver(&file, f, o, &ready, frame, out);
                        }
                    }
                }
                let ds = &mut f.dirs[d];
                let payload = t.payload();
                if payload.is_empty() {
                    continue;
                }
                let base = *ds.base.get_or_insert(seq);
                let rel = u64::from(seq.wrapping_sub(base));
                let next = *ds.next.get_or_insert(rel);
                if rel + payload.len() as u64 <= next {
                    continue; // retransmission
                }
                ds.pending.entry(rel).or_insert_with(|| payload.to_vec());
                // Deliver what is in order now.
                let mut ready = Vec::new();
                let mut next = next;
                while let Some((&k, _)) = ds.pending.first_key_value() {
                    if k > next {
                        break;
                    }
                    let v = ds.pending.remove(&k).expect("present");
                    let skip = (next - k) as usize;
                    if skip < v.len() {
                        ready.extend_from_slice(&v[skip..]);
                        next = k + v.len() as u64;
                    }
                }
                ds.next = Some(next);
                if !ready.is_empty() {
                    deliver(&file, f, d, &ready, frame, out);
                }
            }
            _ => {}
        }
    }
}

fn extract(prefix: &str) -> Extracted {
    let mut out = Extracted::default();
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus())
        .expect("corpus")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
        })
        .collect();
    files.sort();
    for f in files {
        run_capture(&f, &mut out);
    }
    out
}

/// Compare as sorted multisets; print the differences and the agreement figure.
fn compare(
    what: &str,
    mut ours: Vec<Row>,
    mut theirs: Vec<Row>,
) -> (usize, usize, Vec<Row>, Vec<Row>) {
    ours.sort();
    theirs.sort();
    let mut only_ours = Vec::new();
    let mut only_theirs = Vec::new();
    let (mut i, mut j, mut same) = (0, 0, 0);
    while i < ours.len() || j < theirs.len() {
        match (ours.get(i), theirs.get(j)) {
            (Some(a), Some(b)) if a == b => {
                same += 1;
                i += 1;
                j += 1;
            }
            (Some(a), Some(b)) if a < b => {
                only_ours.push(a.clone());
                i += 1;
            }
            (Some(_), Some(b)) => {
                only_theirs.push(b.clone());
                j += 1;
            }
            (Some(a), None) => {
                only_ours.push(a.clone());
                i += 1;
            }
            (None, Some(b)) => {
                only_theirs.push(b.clone());
                j += 1;
            }
            (None, None) => break,
        }
    }
    eprintln!(
        "{what}: {same}/{} tshark rows matched, {} only ours",
        theirs.len(),
        only_ours.len()
    );
    for r in only_ours.iter().take(10) {
        eprintln!("  only ours:   {r:?}");
    }
    for r in only_theirs.iter().take(10) {
        eprintln!("  only tshark: {r:?}");
    }
    (same, theirs.len(), only_ours, only_theirs)
}

#[test]
fn http_requests_and_responses_match_tshark() {
    let ex = extract("http-");
    let expected = pinned("http_requests.tsv");
    let (_, _, ours, theirs) = compare("http requests", ex.http_req, expected.clone());
    assert!(theirs.is_empty());
    // Extra transactions: http-methods.pcap streams whose request line tshark does not dissect as
    // HTTP (bad method or missing spaces) but whose response makes the flow HTTP, as in Suricata;
    // libhtp parses any method token.
    for r in &ours {
        assert_eq!(r[0], "http-methods.pcap", "{r:?}");
        assert!(
            !expected.iter().any(|e| e[0] == r[0] && e[1] == r[1]),
            "{r:?}"
        );
    }
    assert_eq!(ours.len(), 22);
    let (_, _, ours, theirs) =
        compare("http responses", ex.http_resp, pinned("http_responses.tsv"));
    assert!(theirs.is_empty());
    // The first response of bro.org stream 2 loses a body segment in the capture: tshark cannot
    // reassemble it and shows no response; its head was complete, so we (like Suricata) have it.
    assert_eq!(
        ours,
        vec![vec![
            "http-browsing-bro.org.pcap".to_string(),
            "2".into(),
            "200".into()
        ]]
    );
}

#[test]
fn tls_hellos_match_tshark() {
    let ex = extract("tls-");
    let mut theirs = pinned("tls_client.tsv");
    // tshark leaves the SNI column empty without the extension; so do we.
    for r in &mut theirs {
        r.truncate(5);
    }
    // SSLv2-compatible ClientHellos: tshark computes no JA3 and we do not parse them.
    let sslv2 = theirs
        .iter()
        .filter(|r| r.get(4).is_none_or(String::is_empty))
        .count();
    theirs.retain(|r| r.get(4).is_some_and(|h| !h.is_empty()));
    assert_eq!(sslv2, 4);
    let (_, _, ours, theirs) = compare("tls client hello (sni, ja3)", ex.tls_client, theirs);
    assert!(ours.is_empty() && theirs.is_empty());
    let (_, _, ours, theirs) = compare(
        "tls server hello (ja3s)",
        ex.tls_server,
        pinned("tls_server.tsv"),
    );
    assert!(ours.is_empty() && theirs.is_empty());
    for r in ex.certs.iter().take(5) {
        eprintln!("cert: {r:?}");
    }
    for r in ex.ja4.iter().take(3) {
        eprintln!("ja4: {r:?}");
    }
}

#[test]
fn dns_queries_match_tshark() {
    let ex = extract("dns-");
    // tshark renders non-UTF-8 label bytes its own way: compare names without non-ASCII.
    let ascii = |rows: Vec<Row>| -> Vec<Row> {
        rows.into_iter()
            .map(|mut r| {
                if let Some(n) = r.get_mut(2) {
                    n.retain(|c| c.is_ascii());
                }
                r
            })
            .collect()
    };
    let (_, _, ours, theirs) = compare(
        "dns queries",
        ascii(ex.dns),
        ascii(pinned("dns_queries.tsv")),
    );
    assert!(ours.is_empty() && theirs.is_empty());
}

#[test]
fn tls_server_certificates_match_tshark() {
    let ex = extract("tls-");
    let ours: Vec<Row> = ex
        .certs
        .iter()
        .map(|r| {
            vec![
                r[0].clone(),
                r[1].clone(),
                r[2].clone(),
                r[5].replace(':', "").to_lowercase(),
            ]
        })
        .collect();
    let theirs: Vec<Row> = pinned("tls_certs.tsv")
        .into_iter()
        .map(|r| {
            let serials: Vec<&str> = r[2].split(',').collect();
            vec![
                r[0].clone(),
                r[1].clone(),
                serials.len().to_string(),
                serials[0].to_string(),
            ]
        })
        .collect();
    let (_, _, o, t) = compare(
        "tls server certificate chain (count, leaf serial)",
        ours,
        theirs,
    );
    assert!(o.is_empty() && t.is_empty());
    // Subject/issuer strings as x509-parser (and so Suricata) formats them.
    assert!(ex.certs.iter().any(|r| r[0] == "tls-73-ciphersuites.pcap"
        && r[3] == "CN=Test Certificate RSA"
        && r[5] == "00:F4:A7:2F:D3:E8:FC:37:C4"));
    assert!(
        ex.certs.iter().any(|r| r[0] == "tls-firefox-browsing.pcap"
            && r[3] == "CN=www.ntop.org"
            && r[4] == "C=US, O=Let's Encrypt, CN=Let's Encrypt Authority X3"),
        "{:?}",
        ex.certs
            .iter()
            .find(|r| r[0] == "tls-firefox-browsing.pcap")
    );
}
