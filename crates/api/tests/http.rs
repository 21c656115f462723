//! The servers over real sockets on 127.0.0.1, with a minimal hyper client.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use seawall_api::{bind, Error, HealthSource, HealthState, WorkerHealth, OPENMETRICS_CONTENT_TYPE};
use seawall_telemetry::prometheus_client::encoding::text::encode;
use seawall_telemetry::prometheus_client::registry::Registry;
use seawall_telemetry::{register_build_info, DataplaneMetrics, Epoch, Heartbeats};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const STALL_AFTER: Duration = Duration::from_millis(50);
/// Upper bound on polls while waiting for a state change (x 10 ms): a failure bound, not a timing.
const MAX_POLLS: usize = 1_000;

struct Response {
    status: StatusCode,
    content_type: Option<String>,
    body: String,
}

async fn request(addr: SocketAddr, method: Method, path: &str) -> Response {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header(HOST, addr.to_string())
        .body(Empty::<Bytes>::new())
        .expect("valid request");
    let resp = sender.send_request(req).await.expect("response");
    let status = resp.status();
    let content_type = resp
        .headers()
        .get(CONTENT_TYPE)
        .map(|v| v.to_str().expect("ascii header").to_owned());
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    Response {
        status,
        content_type,
        body: String::from_utf8(body.to_vec()).expect("utf-8 body"),
    }
}

async fn get(addr: SocketAddr, path: &str) -> Response {
    request(addr, Method::GET, path).await
}

struct Running {
    health: SocketAddr,
    mgmt: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), Error>>,
}

impl Running {
    async fn stop(self) {
        self.stop.send(()).expect("server still running");
        self.task
            .await
            .expect("server task")
            .expect("clean shutdown");
    }
}

async fn start(source: Arc<dyn HealthSource>, registry: Arc<Registry>) -> Running {
    let local: SocketAddr = "127.0.0.1:0".parse().expect("address");
    let servers = bind(local, local).await.expect("bind port 0");
    let (health, mgmt) = (servers.health_addr(), servers.mgmt_addr());
    assert_ne!(health.port(), 0);
    assert_ne!(health, mgmt);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(servers.serve(source, registry, async {
        let _ = stopped.await;
    }));
    Running {
        health,
        mgmt,
        stop,
        task,
    }
}

fn state(workers: usize) -> Arc<HealthState> {
    let epoch = Epoch::new(Instant::now(), SystemTime::now());
    Arc::new(HealthState::new(
        Heartbeats::new(epoch, workers),
        STALL_AFTER,
    ))
}

/// Beats every worker every 5 ms, except those switched off, until dropped.
struct Beater {
    enabled: Arc<Vec<AtomicBool>>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Beater {
    fn start(heartbeats: Heartbeats) -> Self {
        let enabled: Arc<Vec<AtomicBool>> = Arc::new(
            (0..heartbeats.len())
                .map(|_| AtomicBool::new(true))
                .collect(),
        );
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (enabled, stop) = (enabled.clone(), stop.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let now = heartbeats.epoch().ticks(Instant::now());
                    for (beat, on) in heartbeats.iter().zip(enabled.iter()) {
                        if on.load(Ordering::Relaxed) {
                            beat.beat(now);
                        }
                    }
                    thread::sleep(Duration::from_millis(5));
                }
            })
        };
        Beater {
            enabled,
            stop,
            thread: Some(thread),
        }
    }

    fn set(&self, worker: usize, on: bool) {
        self.enabled[worker].store(on, Ordering::Relaxed);
    }
}

impl Drop for Beater {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.join().expect("beater thread");
        }
    }
}

/// Poll `path` until `done` holds for the response; panics after [`MAX_POLLS`].
async fn poll_until(addr: SocketAddr, path: &str, done: impl Fn(&Response) -> bool) -> Response {
    poll_method_until(addr, Method::GET, path, done).await
}

async fn poll_method_until(
    addr: SocketAddr,
    method: Method,
    path: &str,
    done: impl Fn(&Response) -> bool,
) -> Response {
    let mut last = None;
    for _ in 0..MAX_POLLS {
        let resp = request(addr, method.clone(), path).await;
        if done(&resp) {
            return resp;
        }
        last = Some((resp.status, resp.body));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{path} never reached the expected state; last answer {last:?}");
}

#[tokio::test]
async fn healthy_answers_200_ok_on_both_paths_and_head() {
    let state = state(2);
    let _beater = Beater::start(state.heartbeats().clone());
    let running = start(state.clone(), Arc::new(Registry::default())).await;

    let ok = poll_until(running.health, "/healthz", |r| r.status == StatusCode::OK).await;
    assert_eq!(ok.body, "ok");
    let root = poll_until(running.health, "/", |r| r.status == StatusCode::OK).await;
    assert_eq!(root.body, "ok");
    assert_eq!(
        root.content_type.as_deref(),
        Some("text/plain; charset=utf-8")
    );
    // HEAD is answered like GET, without the body.
    let head = poll_method_until(running.health, Method::HEAD, "/healthz", |r| {
        r.status == StatusCode::OK
    })
    .await;
    assert_eq!(head.body, "");

    // The health port serves nothing else, and the management port no health check.
    assert_eq!(
        get(running.health, "/metrics").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(running.mgmt, "/healthz").await.status,
        StatusCode::NOT_FOUND
    );
    running.stop().await;
}

#[tokio::test]
async fn a_worker_whose_heartbeat_stops_turns_health_503_and_back() {
    let state = state(2);
    let beater = Beater::start(state.heartbeats().clone());
    let running = start(state.clone(), Arc::new(Registry::default())).await;

    poll_until(running.health, "/healthz", |r| r.status == StatusCode::OK).await;

    beater.set(1, false);
    let stalled = poll_until(running.health, "/healthz", |r| {
        r.status == StatusCode::SERVICE_UNAVAILABLE && r.body.starts_with("worker 1 stalled for ")
    })
    .await;
    assert!(stalled.body.ends_with('s'), "{}", stalled.body);
    assert!(matches!(
        state.workers_healthy(Instant::now()),
        WorkerHealth::Stalled { worker: 1, .. }
    ));
    let head = request(running.health, Method::HEAD, "/").await;
    assert_eq!(head.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(head.body, "");

    beater.set(1, true);
    poll_until(running.health, "/", |r| r.status == StatusCode::OK).await;
    running.stop().await;
}

#[tokio::test]
async fn draining_answers_503_draining() {
    let state = state(1);
    let _beater = Beater::start(state.heartbeats().clone());
    let running = start(state.clone(), Arc::new(Registry::default())).await;
    poll_until(running.health, "/healthz", |r| r.status == StatusCode::OK).await;

    state.set_draining(true);
    for path in ["/healthz", "/"] {
        let resp = get(running.health, path).await;
        assert_eq!(resp.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(resp.body, "draining");
    }
    let head = request(running.health, Method::HEAD, "/healthz").await;
    assert_eq!(head.status, StatusCode::SERVICE_UNAVAILABLE);

    let status: serde_json::Value =
        serde_json::from_str(&get(running.mgmt, "/api/v1/status").await.body).expect("json");
    assert_eq!(status["draining"], true);
    assert_eq!(status["healthy"], false);
    assert_eq!(status["health"], "draining");
    running.stop().await;
}

/// A fixed answer, as a test or a future component would provide without a data plane.
struct Fixed {
    rules_loaded: bool,
}

impl HealthSource for Fixed {
    fn workers_healthy(&self, _now: Instant) -> WorkerHealth {
        WorkerHealth::Healthy
    }
    fn draining(&self) -> bool {
        false
    }
    fn rules_loaded(&self) -> bool {
        self.rules_loaded
    }
    fn workers(&self) -> usize {
        4
    }
    fn uptime(&self, _now: Instant) -> Duration {
        Duration::from_millis(12_500)
    }
}

#[tokio::test]
async fn any_health_source_drives_the_servers() {
    let running = start(
        Arc::new(Fixed {
            rules_loaded: false,
        }),
        Arc::new(Registry::default()),
    )
    .await;
    let resp = get(running.health, "/healthz").await;
    assert_eq!(resp.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(resp.body, "rules not loaded");

    let resp = get(running.mgmt, "/api/v1/status").await;
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(resp.content_type.as_deref(), Some("application/json"));
    let status: serde_json::Value = serde_json::from_str(&resp.body).expect("json");
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(status["workers"], 4);
    assert_eq!(status["draining"], false);
    assert_eq!(status["rules_loaded"], false);
    assert_eq!(status["uptime_seconds"], 12.5);
    assert_eq!(
        get(running.mgmt, "/api/v1/nope").await.status,
        StatusCode::NOT_FOUND
    );
    running.stop().await;
}

#[tokio::test]
async fn metrics_returns_the_registry_text() {
    let mut registry = Registry::default();
    let epoch = Epoch::new(Instant::now(), SystemTime::now());
    let heartbeats = Heartbeats::register(&mut registry, epoch, 2);
    let metrics =
        DataplaneMetrics::register(&mut registry, 2, &["geneve_truncated", "not_allowed"]);
    register_build_info(&mut registry, "9.9.9");
    let worker = metrics.worker(1).expect("worker 1");
    worker.received_batch(5, 500);
    worker.dropped_label("not_allowed", 3);
    heartbeats.get(1).expect("worker 1").beat(1_000_000_000);
    let registry = Arc::new(registry);
    let mut expected = String::new();
    encode(&mut expected, &registry).expect("encode");

    let running = start(
        Arc::new(HealthState::new(heartbeats, STALL_AFTER)),
        registry.clone(),
    )
    .await;
    let resp = get(running.mgmt, "/metrics").await;
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(resp.content_type.as_deref(), Some(OPENMETRICS_CONTENT_TYPE));
    assert_eq!(resp.body, expected);
    for line in [
        "seawall_dataplane_packets_received_total{worker=\"1\"} 5",
        "seawall_dataplane_bytes_received_total{worker=\"1\"} 500",
        "seawall_dataplane_drops_total{worker=\"1\",reason=\"not_allowed\"} 3",
        "seawall_dataplane_drops_total{worker=\"0\",reason=\"not_allowed\"} 0",
        "seawall_build_info{version=\"9.9.9\"} 1",
    ] {
        assert!(
            resp.body.lines().any(|l| l == line),
            "{line:?} in\n{}",
            resp.body
        );
    }
    assert!(resp.body.ends_with("# EOF\n"));

    // Later increments show up in the next scrape.
    worker.received_batch(2, 200);
    let resp = get(running.mgmt, "/metrics").await;
    assert!(resp
        .body
        .lines()
        .any(|l| l == "seawall_dataplane_packets_received_total{worker=\"1\"} 7"));
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_probes_are_all_answered() {
    const PROBES: usize = 50;
    let running = start(
        Arc::new(Fixed { rules_loaded: true }),
        Arc::new(Registry::default()),
    )
    .await;
    // Every probe opens its connection, then all send at once: 50 connections open together, as
    // when several GWLB nodes probe at the same moment.
    let barrier = Arc::new(tokio::sync::Barrier::new(PROBES));
    let probes: Vec<_> = (0..PROBES)
        .map(|i| {
            let (addr, barrier) = (running.health, barrier.clone());
            let path = if i % 2 == 0 { "/healthz" } else { "/" };
            tokio::spawn(async move {
                let stream = TcpStream::connect(addr).await.expect("connect");
                let (mut sender, conn) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream))
                        .await
                        .expect("handshake");
                tokio::spawn(conn);
                barrier.wait().await;
                let req = Request::get(path)
                    .header(HOST, addr.to_string())
                    .body(Empty::<Bytes>::new())
                    .expect("valid request");
                let resp = sender.send_request(req).await.expect("response");
                let status = resp.status();
                let body = resp.into_body().collect().await.expect("body").to_bytes();
                (status, body)
            })
        })
        .collect();
    let mut answered = 0;
    for probe in probes {
        let (status, body) = probe.await.expect("probe task");
        assert_eq!(status, StatusCode::OK);
        assert_eq!(&body[..], b"ok");
        answered += 1;
    }
    assert_eq!(answered, PROBES);
    running.stop().await;
}

#[tokio::test]
async fn a_taken_port_is_an_error_naming_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let taken_addr = taken.local_addr().expect("local addr");
    let free: SocketAddr = "127.0.0.1:0".parse().expect("address");

    let err = bind(taken_addr, free).await.expect_err("health port taken");
    assert!(
        matches!(
            err,
            Error::Bind {
                server: "health",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("cannot bind the health server to {taken_addr}")
    );
    let source = std::error::Error::source(&err).expect("io error as source");
    assert!(!source.to_string().is_empty());

    let err = bind(free, taken_addr).await.expect_err("mgmt port taken");
    assert_eq!(
        err.to_string(),
        format!("cannot bind the management server to {taken_addr}")
    );
}

#[tokio::test]
async fn shutdown_stops_accepting() {
    let running = start(state(1), Arc::new(Registry::default())).await;
    let (health, mgmt) = (running.health, running.mgmt);
    assert_eq!(get(mgmt, "/metrics").await.status, StatusCode::OK);
    running.stop().await;
    assert!(TcpStream::connect(health).await.is_err());
    assert!(TcpStream::connect(mgmt).await.is_err());
}
