//! The simulator against small in-test UDP "appliances" on 127.0.0.1: a faithful echo, one that
//! corrupts, one that drops, one that duplicates, one that answers from the wrong port.

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use seawall_sim::{
    exchange, read_capture, run, send_datagrams, wrap_all, Datagram, ExchangeOptions, ReturnKind,
    SimConfig, WrapConfig,
};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// What the fake appliance does with the n-th datagram (0-based).
#[derive(Clone, Copy)]
enum Mode {
    Echo,
    CorruptEvery(u64),
    DropEvery(u64),
    Twice,
    /// Echo, but from a second socket (wrong source port).
    FromOtherPort,
}

/// A UDP socket with appliance-sized buffers, so the fake never drops under the sim's window.
fn bind_big(addr: SocketAddr) -> UdpSocket {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
    s.set_recv_buffer_size(4 << 20).unwrap();
    s.set_send_buffer_size(4 << 20).unwrap();
    s.bind(&addr.into()).unwrap();
    s.into()
}

struct FakeAppliance {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<u64>>,
}

impl FakeAppliance {
    fn start(mode: Mode) -> Self {
        let sock = bind_big("127.0.0.1:0".parse().unwrap());
        sock.set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let other = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = sock.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            let mut n = 0u64;
            while !stop2.load(Ordering::Relaxed) {
                let Ok((len, peer)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let pkt = &mut buf[..len];
                match mode {
                    Mode::Echo => {
                        sock.send_to(pkt, peer).unwrap();
                    }
                    Mode::CorruptEvery(k) => {
                        if n % k == k - 1 {
                            let mid = pkt.len() / 2;
                            pkt[mid] ^= 0xff;
                        }
                        sock.send_to(pkt, peer).unwrap();
                    }
                    Mode::DropEvery(k) => {
                        if n % k != k - 1 {
                            sock.send_to(pkt, peer).unwrap();
                        }
                    }
                    Mode::Twice => {
                        sock.send_to(pkt, peer).unwrap();
                        sock.send_to(pkt, peer).unwrap();
                    }
                    Mode::FromOtherPort => {
                        other.send_to(pkt, peer).unwrap();
                    }
                }
                n += 1;
            }
            n
        });
        Self {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    /// Stops the thread and returns how many datagrams it received.
    fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for FakeAppliance {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn cfg(target: SocketAddr, pcap: &str) -> SimConfig {
    SimConfig {
        target,
        pcap: data(pcap),
        timeout: 1.0,
        seed: Some(1),
        ..SimConfig::default()
    }
}

/// 100 distinct datagrams over 8 sockets.
fn synthetic(count: usize) -> Vec<Datagram> {
    (0..count)
        .map(|i| Datagram {
            flow_socket_index: i % 8,
            bytes: format!("datagram number {i:05}").into_bytes(),
        })
        .collect()
}

fn short_opts() -> ExchangeOptions {
    ExchangeOptions {
        timeout: Duration::from_millis(300),
        sockets: 8,
        ..ExchangeOptions::default()
    }
}

#[test]
fn echo_returns_everything_byte_identical() {
    let app = FakeAppliance::start(Mode::Echo);
    let report = run(&cfg(app.addr, "http-testmyids.pcap"), false).unwrap();
    assert_eq!(app.stop(), 10);
    assert_eq!(report.frames, 10);
    assert_eq!(report.sent, 10);
    assert_eq!(report.returned, 10);
    assert_eq!(report.missing, 0);
    assert_eq!(report.corrupt, 0);
    assert_eq!(report.flows, 1);
    assert_eq!(report.flow_cookies, 1);
    assert_eq!(report.bytes_sent, 969 + 10 * 40);
    assert_eq!(report.bytes_returned, report.bytes_sent);
    assert_eq!(report.latency.samples, 10);
    assert!(report.latency.p50_us <= report.latency.p99_us);
    assert!(report.latency.p99_us <= report.latency.p999_us);
    assert!(report.is_clean());
    let text = report.to_string();
    assert!(text.contains("returned  10 (100.00 %)"), "{text}");
    assert!(text.contains("ok: every datagram came back"), "{text}");
}

#[test]
fn loops_start_new_flows_each_pass() {
    let app = FakeAppliance::start(Mode::Echo);
    let report = run(
        &SimConfig {
            loops: 3,
            ..cfg(app.addr, "http-vlan.pcap")
        },
        false,
    )
    .unwrap();
    app.stop();
    assert_eq!(report.sent, 3 * 14);
    assert_eq!(report.returned, 3 * 14);
    assert_eq!(report.flow_cookies, 3 * report.flows);
    assert_eq!(report.duplicate, 0);
    assert!(report.is_clean());
}

#[test]
fn paced_and_small_window_runs_return_everything() {
    let app = FakeAppliance::start(Mode::Echo);
    let paced = run(
        &SimConfig {
            rate: Some(5000),
            ..cfg(app.addr, "dns-mdns.pcap")
        },
        false,
    )
    .unwrap();
    assert_eq!((paced.sent, paced.returned), (24, 24));
    let opts = ExchangeOptions {
        window: 2,
        ..short_opts()
    };
    let ex = exchange(app.addr, synthetic(500), &opts).unwrap();
    app.stop();
    assert_eq!((ex.report.sent, ex.report.returned), (500, 500));
    assert!(ex.report.is_clean());
    // Not collected unless asked.
    assert!(ex.received.is_empty());
}

#[test]
fn corruption_is_counted() {
    let app = FakeAppliance::start(Mode::CorruptEvery(10));
    let ex = send_datagrams(app.addr, &synthetic(100), &short_opts()).unwrap();
    assert_eq!(app.stop(), 100);
    let r = &ex.report;
    assert_eq!(r.sent, 100);
    assert_eq!(r.corrupt, 10);
    assert_eq!(r.returned, 90);
    assert_eq!(r.missing, 10);
    assert!(!r.is_clean());
    assert_eq!(ex.received.len(), 100);
    let corrupt: Vec<_> = ex
        .received
        .iter()
        .filter(|d| d.kind == ReturnKind::Corrupt)
        .collect();
    assert_eq!(corrupt.len(), 10);
    assert!(corrupt.iter().all(|d| d.from == app_addr_of(&ex)));
}

/// All returns of these tests come from the target.
fn app_addr_of(ex: &seawall_sim::Exchange) -> SocketAddr {
    ex.report.target.parse().unwrap()
}

#[test]
fn drops_are_missing() {
    let app = FakeAppliance::start(Mode::DropEvery(4));
    let ex = send_datagrams(app.addr, &synthetic(100), &short_opts()).unwrap();
    app.stop();
    let r = &ex.report;
    assert_eq!((r.sent, r.returned, r.missing, r.corrupt), (100, 75, 25, 0));
    assert!(ex.received.iter().all(|d| d.kind == ReturnKind::Matched));
}

#[test]
fn drops_do_not_stall_a_small_window() {
    // Every datagram dropped: each window slot is freed after window_timeout.
    let app = FakeAppliance::start(Mode::DropEvery(1));
    let opts = ExchangeOptions {
        window: 4,
        window_timeout: Duration::from_millis(10),
        ..short_opts()
    };
    let ex = exchange(app.addr, synthetic(20), &opts).unwrap();
    assert_eq!(app.stop(), 20);
    assert_eq!((ex.report.sent, ex.report.missing), (20, 20));
}

#[test]
fn duplicates_are_counted() {
    let app = FakeAppliance::start(Mode::Twice);
    // The second copy of the last datagram can arrive after every datagram is back: the
    // settle period (longer here than the default, for a loaded machine) still counts it.
    let opts = ExchangeOptions {
        settle: Duration::from_millis(250),
        ..short_opts()
    };
    let ex = send_datagrams(app.addr, &synthetic(50), &opts).unwrap();
    app.stop();
    let r = &ex.report;
    assert_eq!(
        (r.sent, r.returned, r.duplicate, r.corrupt),
        (50, 50, 50, 0)
    );
}

#[test]
fn identical_datagrams_are_matched_one_for_one() {
    let app = FakeAppliance::start(Mode::Echo);
    let same = vec![
        Datagram {
            flow_socket_index: 3,
            bytes: b"same bytes".to_vec(),
        };
        5
    ];
    let ex = send_datagrams(app.addr, &same, &short_opts()).unwrap();
    app.stop();
    assert_eq!((ex.report.sent, ex.report.returned), (5, 5));
    assert_eq!(ex.report.duplicate, 0);
    assert!(ex.received.iter().all(|d| d.socket == 3));
}

#[test]
fn replies_from_another_address_are_unexpected() {
    let app = FakeAppliance::start(Mode::FromOtherPort);
    let ex = send_datagrams(app.addr, &synthetic(10), &short_opts()).unwrap();
    app.stop();
    let r = &ex.report;
    assert_eq!(
        (r.sent, r.returned, r.unexpected, r.missing),
        (10, 0, 10, 10)
    );
}

#[test]
fn nothing_listening_means_all_missing() {
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let ex = send_datagrams(port, &synthetic(10), &short_opts()).unwrap();
    let r = &ex.report;
    assert_eq!(r.sent + r.send_errors, 10);
    assert_eq!(r.returned, 0);
    assert_eq!(r.missing, r.sent);
}

#[test]
fn wrapped_corpus_capture_round_trips_and_reports_json() {
    let app = FakeAppliance::start(Mode::Echo);
    let cap = read_capture(data("dns-ipv6-fragmented.pcap")).unwrap();
    let datagrams = wrap_all(
        &cap.packets,
        &WrapConfig {
            sockets: 8,
            seed: Some(3),
            ..WrapConfig::default()
        },
    );
    let ex = send_datagrams(app.addr, &datagrams, &short_opts()).unwrap();
    app.stop();
    assert_eq!(ex.report.returned, 8);
    // Each return came back on the socket its datagram left from.
    for got in &ex.received {
        assert!(datagrams
            .iter()
            .any(|d| d.bytes == got.bytes && d.flow_socket_index == got.socket));
    }
    let json: serde_json::Value = serde_json::to_value(&ex.report).unwrap();
    for key in [
        "sent",
        "returned",
        "missing",
        "corrupt",
        "sent_pps",
        "returned_pps",
    ] {
        assert!(json.get(key).is_some(), "{key} missing in {json}");
    }
    assert_eq!(json["latency"]["samples"], 8);
    assert!(json["latency"].get("p999_us").is_some());
}
