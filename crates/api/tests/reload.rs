//! `POST /api/v1/rules/reload`: token handling and the answers, over real sockets on 127.0.0.1.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use seawall_api::{bind, HealthState, Management, ReloadAnswer, ReloadError, RuleReloader};
use seawall_telemetry::prometheus_client::registry::Registry;
use seawall_telemetry::{Epoch, Heartbeats};
use tokio::net::TcpStream;

/// Succeeds on odd calls, fails on even ones; counts calls.
struct Flaky(AtomicU64);

impl RuleReloader for Flaky {
    fn reload(&self) -> Result<ReloadAnswer, ReloadError> {
        let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
        let answer = ReloadAnswer {
            ok: n % 2 == 1,
            message: format!("call {n}"),
            generation: n,
            profiles: Vec::new(),
        };
        if answer.ok {
            Ok(answer)
        } else {
            Err(ReloadError::Failed(answer))
        }
    }
}

async fn post(addr: SocketAddr, token: Option<&str>) -> (StatusCode, serde_json::Value) {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let mut req = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/rules/reload")
        .header(HOST, addr.to_string());
    if let Some(t) = token {
        req = req.header(AUTHORIZATION, format!("Bearer {t}"));
    }
    let resp = sender
        .send_request(req.body(Empty::<Bytes>::new()).expect("request"))
        .await
        .expect("response");
    let status = resp.status();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    (status, serde_json::from_slice(&body).expect("json body"))
}

async fn serve(mgmt: Management) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let local: SocketAddr = "127.0.0.1:0".parse().expect("address");
    let servers = bind(local, local).await.expect("bind");
    let addr = servers.mgmt_addr();
    let epoch = Epoch::new(Instant::now(), SystemTime::now());
    let source = Arc::new(HealthState::new(
        Heartbeats::new(epoch, 1),
        Duration::from_secs(5),
    ));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(
        servers.serve_with(source, Arc::new(Registry::default()), mgmt, async {
            let _ = stopped.await;
        }),
    );
    (addr, stop)
}

#[tokio::test]
async fn without_a_token_configured_the_reload_is_forbidden_and_says_how_to_set_one() {
    let reloader = Arc::new(Flaky(AtomicU64::new(0)));
    let (addr, _stop) = serve(Management {
        reloader: Some(reloader.clone()),
        token: None,
    })
    .await;
    let (status, body) = post(addr, Some("anything")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let msg = body["message"].as_str().expect("message");
    assert!(
        msg.contains("token_file") && msg.contains("SEAWALL_API_TOKEN"),
        "{msg}"
    );
    assert_eq!(reloader.0.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_wrong_or_missing_token_is_unauthorized_and_the_right_one_reloads() {
    let reloader = Arc::new(Flaky(AtomicU64::new(0)));
    let (addr, _stop) = serve(Management {
        reloader: Some(reloader.clone()),
        token: Some(Arc::from("s3cret-token")),
    })
    .await;
    assert_eq!(post(addr, None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        post(addr, Some("s3cret-tokeN")).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(post(addr, Some("s3cret")).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(reloader.0.load(Ordering::SeqCst), 0);
    let (status, body) = post(addr, Some("s3cret-token")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["ok"], true);
    let (status, body) = post(addr, Some("s3cret-token")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["ok"], false);
    assert_eq!(body["message"], "call 2");
}
