//! Replays a capture through the simulator against an in-process UDP echo on 127.0.0.1 and prints
//! the report: a quick way to see the simulator's own ceiling.
//!
//! `cargo run --release -p seawall-sim --example echo_replay -- FILE [LOOPS]`

use std::net::UdpSocket;

fn main() {
    let mut args = std::env::args().skip(1);
    let pcap = args.next().expect("usage: echo_replay FILE [LOOPS]");
    let loops = args
        .next()
        .map_or(1, |s| s.parse().expect("LOOPS is a number"));
    // Buffers as large as the appliance's, so the echo itself doesn't drop under the window.
    let echo = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)
        .expect("create echo socket");
    let _ = echo.set_recv_buffer_size(16 << 20);
    let _ = echo.set_send_buffer_size(4 << 20);
    echo.bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .expect("bind echo socket");
    let echo: UdpSocket = echo.into();
    let target = echo.local_addr().expect("echo address");
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        while let Ok((n, peer)) = echo.recv_from(&mut buf) {
            let _ = echo.send_to(&buf[..n], peer);
        }
    });
    let cfg = seawall_sim::SimConfig {
        target,
        pcap: pcap.into(),
        loops,
        ..seawall_sim::SimConfig::default()
    };
    match seawall_sim::run(&cfg, true) {
        Ok(report) => println!("{report}"),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
