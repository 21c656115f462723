//! The bare reflector echoes every datagram byte-identically, from the address it was sent to.

mod common;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::*;
use seawall_io::reflector::{run_reflector, run_reflector_with, ReflectorConfig};

#[test]
fn reflector_echoes_byte_identically() {
    let stop = Arc::new(AtomicBool::new(false));
    let handle = run_reflector(
        SocketAddrV4::new(Ipv4Addr::new(127, 61, 3, 1), 0),
        2,
        Arc::clone(&stop),
    )
    .expect("start");
    let to = handle.local_addr();
    assert_ne!(to.port(), 0);
    let clients = senders(4);
    for c in &clients {
        c.set_read_timeout(Some(PATIENCE)).expect("timeout");
    }
    let mut rng = Rng::new(0x0EF1_EC70);
    let per_client = 50;
    let mut total = 0u64;
    let mut buf = vec![0u8; 10_000];
    // One datagram per client per round, echoes read before the next round (the clients' default
    // receive buffers are small).
    for round in 0..per_client {
        let mut sent = Vec::with_capacity(clients.len());
        for c in &clients {
            let len = [0usize, 10, 200, 1400, 8500][rng.below(5) as usize];
            let tail: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            let inner = ipv4(
                Ipv4Addr::from(rng.u32()),
                Ipv4Addr::from(rng.u32()),
                17,
                0,
                0,
                &l4(17, rng.u16(), 53, &tail),
            );
            let d = geneve(0x0800, &gwlb_options(rng.next(), round, rng.u32()), &inner);
            c.send_to(&d, to).expect("send");
            sent.push(d);
            total += 1;
        }
        for (c, d) in clients.iter().zip(&sent) {
            let (n, from) = c.recv_from(&mut buf).expect("echo");
            assert_eq!(from, SocketAddr::V4(to), "echo source");
            assert_eq!(&buf[..n], &d[..], "echo is byte-identical");
        }
    }
    stop.store(true, Ordering::Relaxed);
    let stats = handle.join().expect("join");
    assert_eq!(stats.len(), 2);
    assert_eq!(stats.iter().map(|s| s.received).sum::<u64>(), total);
    assert_eq!(stats.iter().map(|s| s.sent).sum::<u64>(), total);
}

#[test]
fn reflector_rejects_bad_config() {
    let stop = Arc::new(AtomicBool::new(false));
    let addr = SocketAddrV4::new(Ipv4Addr::new(127, 61, 3, 2), 0);
    assert!(
        run_reflector(addr, 0, Arc::clone(&stop)).is_err(),
        "zero threads"
    );
    let cfg = ReflectorConfig {
        batch_size: 0,
        ..ReflectorConfig::default()
    };
    assert!(
        run_reflector_with(addr, 1, &cfg, stop).is_err(),
        "zero batch"
    );
}
