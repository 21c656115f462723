//! WorkerSocket and Batch over loopback: batch round trip, reply source address, truncation,
//! timeouts, single sends.

mod common;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

use common::PATIENCE;
use seawall_io::{Batch, SocketOptions, WorkerSocket};

fn plain_socket(addr: Ipv4Addr) -> WorkerSocket {
    // No reuseport: nobody else can join (or steal from) this test's port.
    let opts = SocketOptions::default()
        .with_reuse_port(false)
        .with_buffers(1 << 20, 1 << 20);
    WorkerSocket::bind(SocketAddrV4::new(addr, 0), &opts).expect("bind worker socket")
}

fn client() -> UdpSocket {
    let c = UdpSocket::bind("127.0.0.1:0").expect("bind client");
    c.set_read_timeout(Some(PATIENCE)).expect("client timeout");
    c
}

fn client_addr(c: &UdpSocket) -> SocketAddrV4 {
    match c.local_addr().expect("client addr") {
        SocketAddr::V4(a) => a,
        SocketAddr::V6(_) => unreachable!("bound to IPv4"),
    }
}

/// Receive until `n` datagrams arrived, calling `f` on every non-empty batch (loopback usually
/// queues everything at once, but softirq processing may be deferred, so don't count on one batch).
fn recv_n(s: &WorkerSocket, batch: &mut Batch, n: usize, mut f: impl FnMut(&Batch)) {
    let deadline = Instant::now() + PATIENCE;
    let mut got = 0;
    while got < n {
        assert!(
            Instant::now() < deadline,
            "only {got} of {n} datagrams arrived"
        );
        if s.recv_batch(batch, Duration::from_millis(100))
            .expect("recv_batch")
            > 0
        {
            got += batch.len();
            f(batch);
        }
    }
    assert_eq!(got, n);
}

fn datagram(i: usize, len: usize) -> Vec<u8> {
    let mut d = vec![i as u8];
    d.extend((1..len).map(|b| (b * 7 + i * 13) as u8));
    d
}

#[test]
fn batch_round_trip_sends_back_only_kept_messages_unchanged() {
    let s = plain_socket(Ipv4Addr::new(127, 61, 1, 1));
    let c = client();
    let sizes = [1usize, 60, 100, 1500, 8000, 9216, 2, 333];
    for (i, &len) in sizes.iter().enumerate() {
        c.send_to(&datagram(i, len), s.local_addr()).expect("send");
    }
    let mut batch = Batch::new(16, 9216);
    let mut seen = [false; 8];
    let mut sent = 0;
    recv_n(&s, &mut batch, sizes.len(), |b| {
        let mut keep = [false; 16];
        for (m, kept) in keep.iter_mut().enumerate().take(b.len()) {
            let i = usize::from(b.payload(m)[0]);
            assert!(!std::mem::replace(&mut seen[i], true), "message {i} twice");
            assert_eq!(b.payload(m), &datagram(i, sizes[i])[..]);
            assert_eq!(b.peer(m), client_addr(&c));
            assert_eq!(b.local(m), Ipv4Addr::new(127, 61, 1, 1));
            assert!(!b.truncated(m));
            *kept = i % 2 == 0;
        }
        sent += s.send_back(b, &keep[..b.len()]).expect("send_back");
    });
    assert_eq!(sent, sizes.len() / 2);
    let st = s.stats();
    assert_eq!(
        (st.received, st.sent, st.send_errors),
        (sizes.len() as u64, 4, 0)
    );

    // Then a marker: the client must get exactly the kept messages, byte-identical, and the marker
    // (the send counter above rules out anything else after them).
    s.send_to_from(b"marker", client_addr(&c), Ipv4Addr::UNSPECIFIED)
        .expect("marker");
    let mut buf = vec![0u8; 10_000];
    let mut echoed = [false; 8];
    let mut marker = false;
    while !marker || echoed.iter().filter(|&&e| e).count() < sizes.len() / 2 {
        let (n, from) = c.recv_from(&mut buf).expect("echo");
        assert_eq!(from, SocketAddr::V4(s.local_addr()));
        if &buf[..n] == b"marker" {
            marker = true;
            continue;
        }
        let i = usize::from(buf[0]);
        assert!(i % 2 == 0, "message {i} was not kept but came back");
        assert_eq!(
            &buf[..n],
            &datagram(i, sizes[i])[..],
            "message {i} byte-identical"
        );
        assert!(
            !std::mem::replace(&mut echoed[i], true),
            "message {i} echoed twice"
        );
    }
}

#[test]
fn replies_leave_from_the_address_each_datagram_was_sent_to() {
    let s = plain_socket(Ipv4Addr::UNSPECIFIED);
    let port = s.local_addr().port();
    let c = client();
    let targets = [
        Ipv4Addr::new(127, 0, 0, 2),
        Ipv4Addr::new(127, 0, 0, 1),
        Ipv4Addr::new(127, 61, 1, 3),
    ];
    for (i, t) in targets.iter().enumerate() {
        c.send_to(&[i as u8; 20], SocketAddrV4::new(*t, port))
            .expect("send");
    }
    let mut batch = Batch::new(8, 2048);
    recv_n(&s, &mut batch, targets.len(), |b| {
        for m in 0..b.len() {
            let i = usize::from(b.payload(m)[0]);
            assert_eq!(b.payload(m), &[i as u8; 20]);
            assert_eq!(
                b.local(m),
                targets[i],
                "IP_PKTINFO local address of message {i}"
            );
        }
        assert_eq!(s.send_back(b, &[true; 8]).expect("send_back"), b.len());
    });
    let mut buf = [0u8; 64];
    let mut replied = [false; 3];
    for _ in 0..targets.len() {
        let (n, from) = c.recv_from(&mut buf).expect("reply");
        let i = usize::from(buf[0]);
        assert_eq!(&buf[..n], &[i as u8; 20]);
        assert_eq!(
            from,
            SocketAddr::V4(SocketAddrV4::new(targets[i], port)),
            "reply {i} source"
        );
        assert!(!std::mem::replace(&mut replied[i], true));
    }
}

#[test]
fn send_to_from_uses_the_given_source_address() {
    let s = plain_socket(Ipv4Addr::UNSPECIFIED);
    let port = s.local_addr().port();
    let c = client();
    let mut buf = [0u8; 64];
    for src in [Ipv4Addr::new(127, 0, 0, 2), Ipv4Addr::new(127, 61, 1, 4)] {
        s.send_to_from(b"injected", client_addr(&c), src)
            .expect("send_to_from");
        let (n, from) = c.recv_from(&mut buf).expect("injected");
        assert_eq!(&buf[..n], b"injected");
        assert_eq!(from, SocketAddr::V4(SocketAddrV4::new(src, port)));
    }
    assert_eq!(s.stats().sent, 2);
}

#[test]
fn oversize_datagram_is_flagged_truncated_and_not_sent_back() {
    let s = plain_socket(Ipv4Addr::new(127, 61, 1, 5));
    let c = client();
    let big = datagram(1, 200);
    c.send_to(&big, s.local_addr()).expect("send big");
    c.send_to(&datagram(2, 64), s.local_addr())
        .expect("send fitting");
    let mut batch = Batch::new(4, 64);
    recv_n(&s, &mut batch, 2, |b| {
        for m in 0..b.len() {
            if b.payload(m)[0] == 1 {
                assert!(b.truncated(m));
                assert_eq!(b.payload(m), &big[..64]);
            } else {
                assert!(!b.truncated(m));
                assert_eq!(b.payload(m), &datagram(2, 64)[..]);
            }
        }
        s.send_back(b, &[true; 4]).expect("send_back");
    });
    let st = s.stats();
    assert_eq!(st.received_truncated, 1);
    assert_eq!((st.sent, st.send_skipped_truncated), (1, 1));
    let mut buf = [0u8; 512];
    let (n, _) = c.recv_from(&mut buf).expect("the fitting one");
    assert_eq!(&buf[..n], &datagram(2, 64)[..]);
}

#[test]
fn recv_batch_times_out_with_zero() {
    let s = plain_socket(Ipv4Addr::new(127, 61, 1, 6));
    let mut batch = Batch::new(4, 128);
    assert_eq!(
        s.recv_batch(&mut batch, Duration::from_millis(30))
            .expect("timeout"),
        0
    );
    assert!(batch.is_empty());
    assert_eq!(
        s.recv_batch(&mut batch, Duration::ZERO).expect("no wait"),
        0
    );
    // A datagram after a timeout is still received, and a new receive replaces the old batch.
    let c = client();
    c.send_to(b"late", s.local_addr()).expect("send");
    recv_n(&s, &mut batch, 1, |b| assert_eq!(b.payload(0), b"late"));
    assert_eq!(
        s.recv_batch(&mut batch, Duration::ZERO)
            .expect("empty again"),
        0
    );
    assert!(batch.is_empty());
}

#[test]
fn blocking_receives_wake_on_the_first_datagram_and_take_the_whole_queue() {
    // Duration::MAX (no kernel timeout) and a long finite timeout (SO_RCVTIMEO) both block until
    // a datagram comes, then take everything queued behind it.
    let s = plain_socket(Ipv4Addr::new(127, 61, 1, 20));
    let mut batch = Batch::new(8, 128);
    for (round, timeout) in [Duration::MAX, PATIENCE, Duration::MAX]
        .into_iter()
        .enumerate()
    {
        let to = s.local_addr();
        let sender = std::thread::spawn(move || {
            let c = client();
            std::thread::sleep(Duration::from_millis(20));
            for i in 0..3 {
                c.send_to(&datagram(round * 3 + i, 40), to).expect("send");
            }
        });
        let mut got = Vec::new();
        while got.len() < 3 {
            let n = s.recv_batch(&mut batch, timeout).expect("receive");
            assert!(n > 0, "round {round}: a blocking receive returned nothing");
            got.extend((0..n).map(|i| batch.payload(i).to_vec()));
        }
        sender.join().expect("sender");
        let want: Vec<Vec<u8>> = (0..3).map(|i| datagram(round * 3 + i, 40)).collect();
        assert_eq!(got, want, "round {round}");
    }
    // After blocking ones, short and zero timeouts still time out empty.
    for timeout in [
        Duration::from_millis(15),
        Duration::from_millis(3),
        Duration::ZERO,
    ] {
        assert_eq!(s.recv_batch(&mut batch, timeout).expect("timeout"), 0);
        assert!(batch.is_empty());
    }
    assert_eq!(s.stats().received, 9);
}

#[test]
fn send_back_rejects_a_short_keep_slice() {
    let s = plain_socket(Ipv4Addr::new(127, 61, 1, 7));
    let c = client();
    c.send_to(b"x", s.local_addr()).expect("send");
    c.send_to(b"y", s.local_addr()).expect("send");
    let mut batch = Batch::new(4, 128);
    recv_n(&s, &mut batch, 2, |b| {
        let short = vec![true; b.len() - 1];
        let err = s.send_back(b, &short).expect_err("keep too short");
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        assert_eq!(s.send_back(b, &[false; 4]).expect("nothing kept"), 0);
    });
}

#[test]
fn reuse_port_group_shares_one_port() {
    let opts = SocketOptions::default().with_buffers(0, 0);
    let group =
        seawall_io::bind_group(SocketAddrV4::new(Ipv4Addr::new(127, 61, 1, 8), 0), 3, &opts)
            .expect("group");
    let port = group[0].local_addr().port();
    assert_ne!(port, 0);
    assert!(group.iter().all(|s| s.local_addr().port() == port));
    let no_reuse = SocketOptions::default().with_reuse_port(false);
    assert!(seawall_io::bind_group(
        SocketAddrV4::new(Ipv4Addr::new(127, 61, 1, 9), 0),
        2,
        &no_reuse
    )
    .is_err());
    assert!(
        WorkerSocket::bind(group[0].local_addr(), &no_reuse).is_err(),
        "port is taken"
    );
}
