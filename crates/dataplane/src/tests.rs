use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant, SystemTime};

use prometheus_client::registry::Registry;
use seawall_telemetry::{DataplaneMetrics, Epoch, Heartbeats};
use seawall_wire::{AttachmentId, FlowCookie, GwlbEndpointId, GwlbMeta, GwlbRepr};

use super::*;

/// A minimal IPv4/UDP packet 10.0.0.1:1234 -> 10.0.0.2:53 with a 4-byte payload.
fn ipv4_udp() -> Vec<u8> {
    let mut p = vec![
        0x45, 0, 0, 32, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, // IPv4
        0x04, 0xd2, 0, 53, 0, 12, 0, 0, // UDP
        b'a', b'b', b'c', b'd',
    ];
    let sum = ipv4_checksum(&p[..20]);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    p
}

fn ipv4_checksum(h: &[u8]) -> u16 {
    let mut s: u32 = h
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

fn datagram(inner: &[u8]) -> Vec<u8> {
    let meta = GwlbMeta {
        endpoint: GwlbEndpointId(0x0123_4567_89ab_cdef),
        attachment: AttachmentId(42),
        cookie: FlowCookie(0xdead_beef),
    };
    let repr = GwlbRepr::for_inner(meta, inner).expect("valid inner");
    let mut buf = vec![0u8; repr.buffer_len() + inner.len()];
    let n = repr.emit_datagram(inner, &mut buf).expect("fits");
    buf.truncate(n);
    buf
}

const GWLB: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);

#[test]
fn valid_datagram_passes() {
    let d = datagram(&ipv4_udp());
    assert_eq!(
        classify(
            &d,
            GWLB,
            false,
            &AllowList::default(),
            MalformedPolicy::Drop
        ),
        Verdict::Pass
    );
}

#[test]
fn oversize_is_dropped_before_anything_else() {
    let d = datagram(&ipv4_udp());
    assert_eq!(
        classify(&d, GWLB, true, &AllowList::default(), MalformedPolicy::Pass),
        Verdict::Drop(reason::OVERSIZE)
    );
}

#[test]
fn allow_list_drops_other_sources() {
    let allow = AllowList::new(vec!["10.1.0.0/16".parse().unwrap()]);
    let d = datagram(&ipv4_udp());
    assert_eq!(
        classify(
            &d,
            Ipv4Addr::new(10, 1, 2, 3),
            false,
            &allow,
            MalformedPolicy::Drop
        ),
        Verdict::Pass
    );
    assert_eq!(
        classify(
            &d,
            Ipv4Addr::new(10, 2, 0, 1),
            false,
            &allow,
            MalformedPolicy::Drop
        ),
        Verdict::Drop(reason::NOT_ALLOWED)
    );
    assert!(AllowList::default().is_open());
}

#[test]
fn bad_geneve_is_dropped_whatever_the_policy() {
    let mut d = datagram(&ipv4_udp());
    d[0] |= 0x40; // version 1
    for policy in [MalformedPolicy::Pass, MalformedPolicy::Drop] {
        assert_eq!(
            classify(&d, GWLB, false, &AllowList::default(), policy),
            Verdict::Drop("geneve_bad_version")
        );
    }
    assert_eq!(
        classify(
            &d[..5],
            GWLB,
            false,
            &AllowList::default(),
            MalformedPolicy::Pass
        ),
        Verdict::Drop("geneve_truncated")
    );
}

#[test]
fn bad_inner_follows_the_policy() {
    let mut inner = ipv4_udp();
    inner[0] = 0x44; // IHL 4
    let d = datagram(&inner);
    assert_eq!(
        classify(
            &d,
            GWLB,
            false,
            &AllowList::default(),
            MalformedPolicy::Pass
        ),
        Verdict::PassMalformed("inner_bad_ihl")
    );
    assert_eq!(
        classify(
            &d,
            GWLB,
            false,
            &AllowList::default(),
            MalformedPolicy::Drop
        ),
        Verdict::Drop("inner_bad_ihl")
    );
}

#[test]
fn every_verdict_reason_is_registered() {
    let reasons = drop_reasons();
    for e in seawall_wire::Error::ALL {
        assert!(reasons.contains(&e.reason()));
    }
    for r in [reason::NOT_ALLOWED, reason::OVERSIZE, reason::SEND_FAILED] {
        assert!(reasons.contains(&r));
    }
}

#[test]
fn config_validation_names_the_key() {
    let c = DataplaneConfig {
        batch_size: 0,
        ..DataplaneConfig::default()
    };
    assert!(c.validate().unwrap_err().contains("dataplane.batch_size"));
    let c = DataplaneConfig {
        buffer_size: 100,
        ..DataplaneConfig::default()
    };
    assert!(c.validate().unwrap_err().contains("dataplane.buffer_size"));
    assert!(DataplaneConfig::default().validate().is_ok());
}

struct Running {
    dp: Dataplane,
    registry: Registry,
    heartbeats: Heartbeats,
}

/// Each test listens on its own loopback address: port 0 with SO_REUSEPORT could otherwise join
/// another test's reuseport group on the same address.
fn start(ip: Ipv4Addr, workers: usize, allow: Vec<ipnet::Ipv4Net>) -> Running {
    let mut registry = Registry::default();
    let epoch = Epoch::new(Instant::now(), SystemTime::now());
    let metrics = DataplaneMetrics::register(&mut registry, workers, &drop_reasons());
    let heartbeats = Heartbeats::new(epoch, workers);
    let cfg = DataplaneConfig {
        listen: SocketAddrV4::new(ip, 0),
        workers,
        allow_sources: allow,
        socket_buffer_bytes: 1 << 20,
        ..DataplaneConfig::default()
    };
    let dp = Dataplane::start(&cfg, &metrics, &heartbeats).expect("start");
    Running {
        dp,
        registry,
        heartbeats,
    }
}

fn metric(registry: &Registry, line_prefix: &str) -> f64 {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry).unwrap();
    text.lines()
        .filter(|l| l.starts_with(line_prefix))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum()
}

#[test]
fn workers_echo_valid_datagrams_and_drop_bad_ones() {
    let r = start(Ipv4Addr::new(127, 62, 0, 1), 2, Vec::new());
    let target = r.dp.local_addr();
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let good = datagram(&ipv4_udp());
    let mut bad = good.clone();
    bad[0] |= 0x40;
    for _ in 0..10 {
        client.send_to(&bad, target).unwrap();
        client.send_to(&good, target).unwrap();
    }
    let mut buf = [0u8; 2048];
    for _ in 0..10 {
        let (n, from) = client.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], &good[..]);
        assert_eq!(from, std::net::SocketAddr::V4(target));
    }
    // Nothing else comes back.
    client
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    assert!(client.recv_from(&mut buf).is_err());
    // The returned counter is updated just after the datagrams leave: wait for it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric(&r.registry, "seawall_dataplane_packets_returned_total") < 10.0 {
        assert!(
            Instant::now() < deadline,
            "returned counter never reached 10"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let returned = metric(&r.registry, "seawall_dataplane_packets_returned_total");
    let dropped = metric(
        &r.registry,
        "seawall_dataplane_drops_total{worker=\"0\",reason=\"geneve_bad_version\"}",
    ) + metric(
        &r.registry,
        "seawall_dataplane_drops_total{worker=\"1\",reason=\"geneve_bad_version\"}",
    );
    assert_eq!(returned, 10.0);
    assert_eq!(dropped, 10.0);
    assert_eq!(
        metric(&r.registry, "seawall_dataplane_packets_received_total"),
        20.0
    );
    r.dp.stop().unwrap();
}

#[test]
fn allow_list_is_enforced_on_the_socket_path() {
    let r = start(
        Ipv4Addr::new(127, 62, 0, 2),
        1,
        vec!["127.0.0.2/32".parse().unwrap()],
    );
    let target = r.dp.local_addr();
    let client = UdpSocket::bind("127.0.0.1:0").unwrap(); // not allowed
    client
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    client.send_to(&datagram(&ipv4_udp()), target).unwrap();
    let mut buf = [0u8; 2048];
    assert!(client.recv_from(&mut buf).is_err());
    let allowed = UdpSocket::bind("127.0.0.2:0").unwrap();
    allowed
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    allowed.send_to(&datagram(&ipv4_udp()), target).unwrap();
    assert!(allowed.recv_from(&mut buf).is_ok());
    assert_eq!(
        metric(
            &r.registry,
            "seawall_dataplane_drops_total{worker=\"0\",reason=\"not_allowed\"}"
        ),
        1.0
    );
    r.dp.stop().unwrap();
}

#[test]
fn stalled_worker_stops_beating() {
    let r = start(Ipv4Addr::new(127, 62, 0, 3), 2, Vec::new());
    let epoch = r.heartbeats.epoch();
    // Both workers beat while idle.
    let deadline = Instant::now() + Duration::from_secs(10);
    let before = r.heartbeats.get(1).unwrap().last();
    while r.heartbeats.get(1).unwrap().last() == before {
        assert!(Instant::now() < deadline, "worker 1 never beat");
        std::thread::sleep(Duration::from_millis(5));
    }
    r.dp.stall_worker(1, Duration::from_secs(3));
    // Wait until the stall has taken effect: worker 1 is behind worker 0 by a clear margin.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = epoch.ticks(Instant::now());
        if r.heartbeats.get(1).unwrap().stalled_for(now) >= Duration::from_millis(300) {
            break;
        }
        assert!(Instant::now() < deadline, "stall never showed");
        std::thread::sleep(Duration::from_millis(5));
    }
    let now = epoch.ticks(Instant::now());
    assert!(r.heartbeats.get(0).unwrap().stalled_for(now) < Duration::from_millis(300));
    // And it recovers.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = epoch.ticks(Instant::now());
        if r.heartbeats.get(1).unwrap().stalled_for(now) < Duration::from_millis(100) {
            break;
        }
        assert!(Instant::now() < deadline, "worker 1 never recovered");
        std::thread::sleep(Duration::from_millis(5));
    }
    r.dp.stop().unwrap();
}
