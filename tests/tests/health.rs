//! The GWLB health check follows the data plane: a stalled worker turns it 503 and recovery turns it
//! back to 200. Real workers (sockets, threads) and the real HTTP servers, in one process, with the
//! data plane's fault injection (`Dataplane::stall_worker`).

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use seawall_api::HealthState;
use seawall_dataplane::{drop_reasons, Dataplane, DataplaneConfig};
use seawall_telemetry::prometheus_client::registry::Registry;
use seawall_telemetry::{DataplaneMetrics, Epoch, Heartbeats};
use seawall_tests::http;

fn wait_for(addr: SocketAddr, status: u16, want_body: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok((s, body)) = http("GET", addr, "/healthz") {
            if s == status && body.contains(want_body) {
                return body;
            }
        }
        assert!(
            Instant::now() < deadline,
            "health never answered {status} {want_body:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn stalled_worker_turns_health_503_and_recovery_turns_it_back() {
    let workers = 2;
    let epoch = Epoch::new(Instant::now(), SystemTime::now());
    let mut registry = Registry::default();
    let metrics = DataplaneMetrics::register(&mut registry, workers, &drop_reasons());
    let heartbeats = Heartbeats::register(&mut registry, epoch, workers);
    let cfg = DataplaneConfig {
        listen: SocketAddrV4::new(seawall_tests::unique_loopback(), 0),
        workers,
        ..DataplaneConfig::default()
    };
    let dp = Dataplane::start(&cfg, &metrics, &heartbeats).expect("data plane");
    let health = Arc::new(HealthState::new(heartbeats, Duration::from_millis(300)));

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let any = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let servers = rt.block_on(seawall_api::bind(any, any)).unwrap();
    let addr = servers.health_addr();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let source: Arc<dyn seawall_api::HealthSource> = health.clone();
    let task = rt.spawn(servers.serve(source, Arc::new(registry), async {
        let _ = stop_rx.await;
    }));

    wait_for(addr, 200, "ok");
    dp.stall_worker(1, Duration::from_secs(4));
    let body = wait_for(addr, 503, "stalled");
    assert!(body.contains("worker 1"), "{body}");
    wait_for(addr, 200, "ok");

    health.set_draining(true);
    wait_for(addr, 503, "draining");

    let _ = stop_tx.send(());
    rt.block_on(task).unwrap().unwrap();
    dp.stop().unwrap();
}
