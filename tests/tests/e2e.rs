//! End-to-end: the real `seawall run` binary on loopback, driven by the GWLB simulator and by raw
//! sockets. Every test starts its own appliance on free ports.

use std::net::UdpSocket;
use std::process::Command;
use std::time::{Duration, Instant};

use seawall_sim::{ExchangeOptions, SimConfig};
use seawall_tests::{corpus_dir, loopback_config, metric_sum, seawall_bin, Appliance};
use seawall_wire::{AttachmentId, FlowCookie, GwlbEndpointId, GwlbMeta, GwlbRepr};

fn meta() -> GwlbMeta {
    GwlbMeta {
        endpoint: GwlbEndpointId(0x0a0b_0c0d_0e0f_1011),
        attachment: AttachmentId(0x1122_3344_5566_7788),
        cookie: FlowCookie(0x99aa_bbcc),
    }
}

/// IPv4/UDP 10.0.0.1:40000 -> 10.0.0.2:53 with `payload_len` bytes of payload.
fn ipv4_udp(payload_len: usize) -> Vec<u8> {
    let total = 28 + payload_len;
    let mut p = vec![0u8; total];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&[10, 0, 0, 1]);
    p[16..20].copy_from_slice(&[10, 0, 0, 2]);
    let mut s: u32 = p[..20]
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    p[10..12].copy_from_slice(&(!(s as u16)).to_be_bytes());
    p[20..22].copy_from_slice(&40000u16.to_be_bytes());
    p[22..24].copy_from_slice(&53u16.to_be_bytes());
    p[24..26].copy_from_slice(&((8 + payload_len) as u16).to_be_bytes());
    p
}

fn gwlb(inner: &[u8]) -> Vec<u8> {
    let repr = GwlbRepr::for_inner(meta(), inner).expect("ip inner");
    let mut buf = vec![0u8; repr.buffer_len() + inner.len()];
    let n = repr.emit_datagram(inner, &mut buf).expect("fits");
    buf.truncate(n);
    buf
}

fn assert_nothing_comes_back(sock: &UdpSocket) {
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut buf = [0u8; 65536];
    if let Ok((n, from)) = sock.recv_from(&mut buf) {
        panic!("a {n}-byte datagram came back from {from}, none should");
    }
}

#[test]
fn real_capture_returns_byte_identical_through_the_binary() {
    let app = Appliance::start(&loopback_config(2, "", ""));
    let pcap = corpus_dir().join("pcaps/bench-mixed.pcap");
    let cfg = SimConfig {
        target: app.geneve,
        pcap,
        timeout: 5.0,
        ..SimConfig::default()
    };
    let report = seawall_sim::run(&cfg, false).expect("simulator run");
    assert!(report.sent > 200_000, "{report}");
    // Frames whose inner packet is larger than GWLB's 8500-byte MTU cannot cross a GWLB: not sent.
    assert!(report.over_mtu > 0 && report.over_mtu < 1_000, "{report}");
    assert_eq!(
        report.sent + report.over_mtu + report.skipped_frames,
        report.frames,
        "{report}"
    );
    assert_eq!(report.returned, report.sent, "{report}");
    assert_eq!(
        report.corrupt + report.duplicate + report.misdirected + report.unexpected,
        0,
        "{report}"
    );
    app.wait_metric(
        "seawall_dataplane_packets_returned_total",
        &[],
        report.sent as f64,
    );
    let m = app.metrics();
    assert_eq!(
        metric_sum(&m, "seawall_dataplane_packets_received_total", &[]),
        report.sent as f64
    );
    assert_eq!(
        metric_sum(&m, "seawall_dataplane_packets_returned_total", &[]),
        report.sent as f64
    );
    assert_eq!(metric_sum(&m, "seawall_dataplane_drops_total", &[]), 0.0);
}

/// One class of bad datagram, how many to send, and the drop reason it must be counted under.
struct Case {
    reason: &'static str,
    count: usize,
    bytes: Vec<u8>,
}

fn malformed_cases() -> Vec<Case> {
    let good = gwlb(&ipv4_udp(16));
    let mut cases = Vec::new();
    let mut add = |reason, count, bytes| {
        cases.push(Case {
            reason,
            count,
            bytes,
        })
    };

    add("geneve_truncated", 2, good[..6].to_vec());
    let mut d = good.clone();
    d[0] |= 0x40; // version 1
    add("geneve_bad_version", 3, d);
    let mut d = good.clone();
    d[8 + 12 + 12 + 3] = 2; // cookie option claims 8 data bytes, 4 remain in the option area
    add("geneve_option_overrun", 4, d);
    let mut d = good.clone();
    d[8 + 12 + 12 + 2] = 4; // cookie option becomes unknown type 4: TLV 3 missing
    add("geneve_missing_aws_option", 5, d);
    // An extra 4-byte option of another class with the critical bit set.
    let mut d = good[..40].to_vec();
    d[0] = 9; // opt_len 9 words
    d.extend_from_slice(&[0x02, 0x00, 0x80, 0x00]);
    d.extend_from_slice(&good[40..]);
    add("geneve_critical_option", 6, d);
    let mut d = good.clone();
    d[2..4].copy_from_slice(&0x0806u16.to_be_bytes()); // ARP is not an IP protocol
    add("geneve_bad_protocol", 7, d);
    let mut d = good.clone();
    d[2..4].copy_from_slice(&0x86ddu16.to_be_bytes()); // says IPv6, carries IPv4
    add("inner_version_mismatch", 2, d);
    add("inner_truncated", 3, gwlb(&ipv4_udp(16)[..12]));
    let mut inner = ipv4_udp(16);
    inner[0] = 0x44; // IHL 4
    add("inner_bad_ihl", 4, gwlb(&inner));
    add("oversize", 5, gwlb(&ipv4_udp(3000)));
    cases
}

#[test]
fn malformed_and_not_allowed_datagrams_are_dropped_and_counted_exactly() {
    let app = Appliance::start(&loopback_config(
        2,
        "allow_sources = [\"127.0.0.1/32\"]\nmalformed_inner = \"drop\"\nbuffer_size = 2000",
        "",
    ));
    let cases = malformed_cases();
    let allowed = UdpSocket::bind("127.0.0.1:0").unwrap();
    let stranger = UdpSocket::bind("127.0.0.2:0").unwrap();
    let good = gwlb(&ipv4_udp(16));
    const STRANGER_COUNT: usize = 9;
    for case in &cases {
        for _ in 0..case.count {
            allowed.send_to(&case.bytes, app.geneve).unwrap();
        }
    }
    for _ in 0..STRANGER_COUNT {
        stranger.send_to(&good, app.geneve).unwrap();
    }
    assert_nothing_comes_back(&allowed);
    assert_nothing_comes_back(&stranger);

    // Still serving: a valid datagram comes back unchanged, and health is 200.
    allowed
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    allowed.send_to(&good, app.geneve).unwrap();
    let mut buf = [0u8; 4096];
    let (n, from) = allowed
        .recv_from(&mut buf)
        .expect("the valid datagram comes back");
    assert_eq!(&buf[..n], &good[..]);
    assert_eq!(from, app.geneve);
    app.wait_health(200);

    app.wait_metric("seawall_dataplane_packets_returned_total", &[], 1.0);
    let m = app.metrics();
    for case in &cases {
        let got = metric_sum(
            &m,
            "seawall_dataplane_drops_total",
            &[&format!("reason=\"{}\"", case.reason)],
        );
        assert_eq!(got, case.count as f64, "drops for {}", case.reason);
    }
    let not_allowed = metric_sum(
        &m,
        "seawall_dataplane_drops_total",
        &["reason=\"not_allowed\""],
    );
    assert_eq!(not_allowed, STRANGER_COUNT as f64);
    let total: usize = cases.iter().map(|c| c.count).sum::<usize>() + STRANGER_COUNT;
    assert_eq!(
        metric_sum(&m, "seawall_dataplane_drops_total", &[]),
        total as f64
    );
    assert_eq!(
        metric_sum(&m, "seawall_dataplane_packets_returned_total", &[]),
        1.0
    );
}

#[test]
fn malformed_inner_is_passed_and_counted_by_default() {
    let app = Appliance::start(&loopback_config(1, "", ""));
    let mut inner = ipv4_udp(16);
    inner[0] = 0x44;
    let d = gwlb(&inner);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    for _ in 0..3 {
        sock.send_to(&d, app.geneve).unwrap();
        let mut buf = [0u8; 4096];
        let (n, _) = sock.recv_from(&mut buf).expect("passed back in IDS mode");
        assert_eq!(&buf[..n], &d[..]);
    }
    app.wait_metric("seawall_dataplane_packets_returned_total", &[], 3.0);
    let m = app.metrics();
    assert_eq!(
        metric_sum(
            &m,
            "seawall_dataplane_malformed_passed_total",
            &["reason=\"inner_bad_ihl\""]
        ),
        3.0
    );
    assert_eq!(metric_sum(&m, "seawall_dataplane_drops_total", &[]), 0.0);
}

#[test]
fn sigterm_drains_keeps_forwarding_then_exits_zero() {
    let app = Appliance::start(&loopback_config(
        2,
        "",
        "[drain]\nidle_secs = 2\ntimeout_secs = 60",
    ));
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let d = gwlb(&ipv4_udp(8));
    app.signal("TERM");
    let body = app.wait_health(503);
    assert!(body.contains("draining"), "{body}");
    // Traffic is still forwarded while draining.
    sock.send_to(&d, app.geneve).unwrap();
    let mut buf = [0u8; 4096];
    let (n, _) = sock.recv_from(&mut buf).expect("forwarded while draining");
    assert_eq!(&buf[..n], &d[..]);
    assert_eq!(app.wait_exit(Duration::from_secs(30)), Some(0));
}

#[test]
fn drain_ends_at_the_timeout_when_traffic_never_stops() {
    let app = Appliance::start(&loopback_config(
        1,
        "",
        "[drain]\nidle_secs = 1\ntimeout_secs = 3",
    ));
    let target = app.geneve;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sender = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
            let d = gwlb(&ipv4_udp(8));
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = sock.send_to(&d, target);
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    app.signal("TERM");
    let code = app.wait_exit(Duration::from_secs(30));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    sender.join().unwrap();
    assert_eq!(code, Some(0));
    // Never idle for 1 s, so only the 3 s timeout can have ended it.
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "drained after {:?}",
        started.elapsed()
    );
}

#[test]
fn raw_datagrams_through_simulator_sockets_come_back_on_their_socket() {
    // The simulator's own raw-datagram path, against the binary: 64 sockets, one per outer port.
    let app = Appliance::start(&loopback_config(2, "", ""));
    let datagrams: Vec<seawall_sim::Datagram> = (0..500)
        .map(|i| seawall_sim::Datagram {
            flow_socket_index: i % 64,
            bytes: gwlb(&ipv4_udp(i % 300)),
        })
        .collect();
    let ex = seawall_sim::send_datagrams(app.geneve, &datagrams, &ExchangeOptions::default())
        .expect("exchange");
    assert_eq!(ex.report.returned, 500, "{}", ex.report);
    assert_eq!(
        ex.report.misdirected + ex.report.corrupt,
        0,
        "{}",
        ex.report
    );
}

#[test]
fn config_check_accepts_good_files_and_names_the_bad_key() {
    let dir = tempfile_dir();
    let good = dir.join("good.toml");
    std::fs::write(&good, loopback_config(2, "", "")).unwrap();
    let out = Command::new(seawall_bin())
        .args(["config", "check"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[dataplane]\nworkers = 2\nbach_size = 32\n").unwrap();
    let out = Command::new(seawall_bin())
        .args(["config", "check"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bach_size") && err.contains("bad.toml"),
        "{err}"
    );

    // `run` refuses the same file before binding anything.
    let out = Command::new(seawall_bin())
        .args(["run", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bach_size"));

    // The printed defaults are a valid config.
    let out = Command::new(seawall_bin())
        .args(["config", "default"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let defaults = dir.join("defaults.toml");
    std::fs::write(&defaults, &out.stdout).unwrap();
    let out = Command::new(seawall_bin())
        .args(["config", "check"])
        .arg(&defaults)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn demo_replays_the_bundled_capture() {
    let listen = format!("{}:0", seawall_tests::unique_loopback());
    let out_dir = tempfile_dir();
    let out = Command::new(seawall_bin())
        .args(["demo", "--workers", "2", "--listen", &listen, "--out"])
        .arg(&out_dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("returned  350 (100.00 %)"), "{stdout}");
    assert!(
        stdout.contains("every datagram came back byte-identical"),
        "{stdout}"
    );
    // The shipped rules fire on the bundled capture's testmyids response and curl request.
    assert!(stdout.contains("alerts: 2 written to"), "{stdout}");
    assert!(stdout.contains("sid 9000001"), "{stdout}");
    let eve = std::fs::read_to_string(out_dir.join("eve.json")).expect("eve.json written");
    assert_eq!(
        eve.lines()
            .filter(|l| l.contains("\"event_type\":\"alert\""))
            .count(),
        2
    );
    let _ = std::fs::remove_dir_all(&out_dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "seawall-e2e-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}
