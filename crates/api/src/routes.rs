//! The two routers and their handlers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use seawall_telemetry::prometheus_client::encoding::text::encode;
use seawall_telemetry::prometheus_client::registry::Registry;
use serde::Serialize;

use crate::health::{Health, HealthSource};
use crate::reload::{Management, ReloadAnswer, ReloadError};

/// The `Content-Type` of `/metrics`: the OpenMetrics text that `prometheus-client` encodes.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone)]
struct HealthRoute {
    source: Arc<dyn HealthSource>,
    /// The last verdict, to log transitions rather than probes.
    was_healthy: Arc<AtomicBool>,
}

/// The health router (port 8081): `GET`/`HEAD` on `/healthz` and `/` (GWLB's default path).
///
/// 200 `ok` while [`Health::check`] is healthy; 503 with the reason (`draining`,
/// `worker 1 stalled for 3.2s`, …) otherwise. Each probe reads a few atomics: no lock, no await.
pub fn health_router(source: Arc<dyn HealthSource>) -> Router {
    let state = HealthRoute {
        source,
        was_healthy: Arc::new(AtomicBool::new(true)),
    };
    Router::new()
        .route("/healthz", get(healthz))
        .route("/", get(healthz))
        .with_state(state)
}

async fn healthz(State(route): State<HealthRoute>) -> Response {
    let health = Health::check(route.source.as_ref(), Instant::now());
    let healthy = health.is_healthy();
    if route.was_healthy.swap(healthy, Ordering::Relaxed) != healthy {
        if healthy {
            tracing::info!("health check passing again");
        } else {
            tracing::warn!(reason = %health, "health check failing");
        }
    }
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, [(CACHE_CONTROL, "no-store")], health.to_string()).into_response()
}

#[derive(Clone)]
struct MgmtRoute {
    source: Arc<dyn HealthSource>,
    registry: Arc<Registry>,
    mgmt: Management,
}

/// The management router (port 8080): `GET /metrics` (unauthenticated, for Prometheus) and the
/// `/api/v1` API (`GET /api/v1/status`), without a rule reloader.
pub fn mgmt_router(source: Arc<dyn HealthSource>, registry: Arc<Registry>) -> Router {
    mgmt_router_with(source, registry, Management::default())
}

/// The management router with the mutating endpoints of `mgmt`: `POST /api/v1/rules/reload`
/// (`Authorization: Bearer <token>`; 403 when no token is configured, 401 on a missing or wrong
/// one, compared in constant time).
pub fn mgmt_router_with(
    source: Arc<dyn HealthSource>,
    registry: Arc<Registry>,
    mgmt: Management,
) -> Router {
    let state = MgmtRoute {
        source,
        registry,
        mgmt,
    };
    let api_v1 = Router::new()
        .route("/status", get(status))
        .route("/rules/reload", post(reload));
    Router::new()
        .route("/metrics", get(metrics))
        .nest("/api/v1", api_v1)
        .with_state(state)
}

async fn metrics(State(route): State<MgmtRoute>) -> Response {
    let mut body = String::with_capacity(16 * 1024);
    match encode(&mut body, &route.registry) {
        Ok(()) => (
            StatusCode::OK,
            [(CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE)],
            body,
        )
            .into_response(),
        Err(std::fmt::Error) => {
            tracing::error!("metrics encoding failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "metrics encoding failed").into_response()
        }
    }
}

/// The body of `GET /api/v1/status`.
#[derive(Debug, Serialize)]
struct Status {
    version: &'static str,
    workers: usize,
    draining: bool,
    rules_loaded: bool,
    healthy: bool,
    health: String,
    uptime_seconds: f64,
}

async fn status(State(route): State<MgmtRoute>) -> Json<Status> {
    let now = Instant::now();
    let source = route.source.as_ref();
    let health = Health::check(source, now);
    Json(Status {
        version: env!("CARGO_PKG_VERSION"),
        workers: source.workers(),
        draining: source.draining(),
        rules_loaded: source.rules_loaded(),
        healthy: health.is_healthy(),
        health: health.to_string(),
        uptime_seconds: source.uptime(now).as_secs_f64(),
    })
}

/// Checks `Authorization: Bearer <token>` against the configured token; the error response says
/// what is wrong (never the token). `None` when authorized, else the refusal.
fn refusal(mgmt: &Management, headers: &HeaderMap) -> Option<Response> {
    let Some(token) = mgmt.token.as_deref() else {
        return Some(
            (
                StatusCode::FORBIDDEN,
                Json(ReloadAnswer::refused(
                    "no API token is configured: set [api] token_file in the config file or the \
                 SEAWALL_API_TOKEN environment variable, then restart",
                )),
            )
                .into_response(),
        );
    };
    let given = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        Some(g) if crate::reload::constant_time_eq(g.as_bytes(), token.as_bytes()) => None,
        _ => Some(
            (
                StatusCode::UNAUTHORIZED,
                [(WWW_AUTHENTICATE, "Bearer")],
                Json(ReloadAnswer::refused(
                    "missing or wrong token: send `Authorization: Bearer <token>`",
                )),
            )
                .into_response(),
        ),
    }
}

async fn reload(State(route): State<MgmtRoute>, headers: HeaderMap) -> Response {
    if let Some(r) = refusal(&route.mgmt, &headers) {
        return r;
    }
    let Some(reloader) = route.mgmt.reloader.clone() else {
        return (
            StatusCode::NOT_IMPLEMENTED,
            Json(ReloadAnswer::refused(
                "this process has no rule set to reload",
            )),
        )
            .into_response();
    };
    match tokio::task::spawn_blocking(move || reloader.reload()).await {
        Ok(Ok(answer)) => (StatusCode::OK, Json(answer)).into_response(),
        Ok(Err(ReloadError::Busy(msg))) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(ReloadAnswer::refused(&msg)),
        )
            .into_response(),
        Ok(Err(ReloadError::Failed(answer))) => {
            (StatusCode::UNPROCESSABLE_ENTITY, Json(answer)).into_response()
        }
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(ReloadAnswer::refused("the reload task failed")),
        )
            .into_response(),
    }
}
