//! Replays a capture through the simulator against an in-process bare reflector (`seawall-io`'s
//! recvmmsg/sendmmsg echo, one thread) on 127.0.0.1 and prints the report: a quick way to see the
//! simulator's own ceiling and cost.
//!
//! `cargo run --release -p seawall-sim --example echo_replay -- FILE [LOOPS] [RATE]`
//!
//! The capture is read and wrapped first; only [`seawall_sim::exchange`] is measured, fed with
//! cloned datagrams as the passthrough bench does. Besides the report it prints the CPU time per
//! returned packet of the simulator (the calling thread; `exchange` runs on it) and of the
//! reflector (every other thread), from `/proc/self/task/*/schedstat`.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// CPU nanoseconds of this process's threads: (the calling thread, all the others).
fn cpu_ns() -> (u64, u64) {
    let me = std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|p| p.file_name()?.to_str()?.parse::<u64>().ok());
    let (mut mine, mut others) = (0, 0);
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return (0, 0);
    };
    for t in dir.filter_map(Result::ok) {
        let tid = t.file_name().to_str().and_then(|s| s.parse::<u64>().ok());
        let ns = std::fs::read_to_string(t.path().join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0);
        if tid.is_some() && tid == me {
            mine += ns;
        } else {
            others += ns;
        }
    }
    (mine, others)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let pcap = args.next().expect("usage: echo_replay FILE [LOOPS] [RATE]");
    let loops: usize = args
        .next()
        .map_or(1, |s| s.parse().expect("LOOPS is a number"));
    let rate: Option<u64> = args.next().map(|s| s.parse().expect("RATE is a number"));
    let stop = Arc::new(AtomicBool::new(false));
    let reflector = seawall_io::reflector::run_reflector(
        SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0),
        1,
        Arc::clone(&stop),
    )
    .expect("start the reflector");
    let target = std::net::SocketAddr::V4(reflector.local_addr());
    let cfg = seawall_sim::SimConfig {
        target,
        pcap: pcap.into(),
        rate,
        ..seawall_sim::SimConfig::default()
    };
    let cap = seawall_sim::read_capture(&cfg.pcap).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(1);
    });
    let one = seawall_sim::wrap_all(&cap.packets, &cfg.wrap_config());
    let datagrams: Vec<seawall_sim::Datagram> = one
        .iter()
        .filter(|d| d.bytes.len() <= seawall_io::DEFAULT_BUF_SIZE)
        .cycle()
        .take(one.len() * loops)
        .cloned()
        .collect();
    let mut opts = cfg.exchange_options(true).expect("valid options");
    opts.progress_total = Some(datagrams.len() as u64);

    let (sim0, refl0) = cpu_ns();
    let ex = seawall_sim::exchange(target, datagrams.iter().cloned(), &opts);
    let (sim1, refl1) = cpu_ns();
    stop.store(true, Ordering::Relaxed);
    let _ = reflector.join();
    match ex {
        Ok(ex) => {
            let r = ex.report;
            println!("{r}");
            let per = |ns: u64| ns as f64 / 1000.0 / r.returned.max(1) as f64;
            println!(
                "cpu per returned packet: simulator {:.2} µs, reflector {:.2} µs",
                per(sim1.saturating_sub(sim0)),
                per(refl1.saturating_sub(refl0))
            );
            if !r.is_clean() {
                std::process::exit(1);
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
