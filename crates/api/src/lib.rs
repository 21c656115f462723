//! Management layer of Seawall: the HTTP surfaces around the data plane.
//!
//! Two servers, on two ports, so that a busy or misbehaving management client can never make the
//! GWLB think the appliance is down:
//! - **health** (default port 8081, [`health_router`]): `GET`/`HEAD` `/healthz` and `/` for the GWLB's
//!   health checks, 200 only while every worker made progress recently, rules are loaded and the
//!   appliance is not draining; 503 with the reason otherwise.
//! - **management** (default port 8080, [`mgmt_router`]): `GET /metrics` in OpenMetrics text for
//!   Prometheus, and the `/api/v1/...` API: `GET /api/v1/status`, and `POST /api/v1/rules/reload`
//!   (bearer token, [`Management`], [`RuleReloader`]).
//!
//! The data plane is seen only through the [`HealthSource`] trait (implemented by [`HealthState`] from
//! the workers' heartbeats) and a `prometheus_client` `Registry`, so this crate's tests run without a
//! data plane. Together with the binary, this is the only async code in Seawall: the binary runs
//! [`serve`] (or [`bind`] then [`Servers::serve`]) on a small tokio runtime of its own; the workers are
//! plain threads and never wait on anything here.
#![forbid(unsafe_code)]

mod health;
mod reload;
mod routes;

use std::future::{Future, IntoFuture};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use seawall_telemetry::prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use health::{Health, HealthSource, HealthState, WorkerHealth};
pub use reload::{
    constant_time_eq, Management, ProfileRules, ReloadAnswer, ReloadError, RuleReloader,
};
pub use routes::{health_router, mgmt_router, mgmt_router_with, OPENMETRICS_CONTENT_TYPE};

/// Default address of the health server.
pub const DEFAULT_HEALTH_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 8081);
/// Default address of the management server (metrics and API).
pub const DEFAULT_MGMT_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 8080);

/// Errors of the HTTP servers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A listening socket could not be bound (address in use, permission, no such address).
    #[error("cannot bind the {server} server to {addr}")]
    Bind {
        /// `health` or `management`.
        server: &'static str,
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// A server stopped with an I/O error.
    #[error("the {server} server on {addr} failed")]
    Serve {
        /// `health` or `management`.
        server: &'static str,
        /// The address it listened on.
        addr: SocketAddr,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

const HEALTH: &str = "health";
const MGMT: &str = "management";

/// Both servers' listening sockets, bound but not yet serving. Binding first lets the binary fail at
/// start (before the data plane runs) when a port is taken, and lets tests bind port 0.
#[derive(Debug)]
pub struct Servers {
    health: TcpListener,
    health_addr: SocketAddr,
    mgmt: TcpListener,
    mgmt_addr: SocketAddr,
}

/// Bind the health and management listeners. Must run inside a tokio runtime.
pub async fn bind(health_addr: SocketAddr, mgmt_addr: SocketAddr) -> Result<Servers, Error> {
    let (health, health_addr) = bind_one(HEALTH, health_addr).await?;
    let (mgmt, mgmt_addr) = bind_one(MGMT, mgmt_addr).await?;
    Ok(Servers {
        health,
        health_addr,
        mgmt,
        mgmt_addr,
    })
}

async fn bind_one(
    server: &'static str,
    addr: SocketAddr,
) -> Result<(TcpListener, SocketAddr), Error> {
    let bind_error = |source| Error::Bind {
        server,
        addr,
        source,
    };
    let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
    let local = listener.local_addr().map_err(bind_error)?;
    Ok((listener, local))
}

impl Servers {
    /// The health server's bound address (the real port when 0 was asked for).
    pub fn health_addr(&self) -> SocketAddr {
        self.health_addr
    }

    /// The management server's bound address.
    pub fn mgmt_addr(&self) -> SocketAddr {
        self.mgmt_addr
    }

    /// Serve both until `shutdown` completes, then stop accepting, let in-flight requests finish
    /// and return `Ok(())`.
    ///
    /// Draining is not shutdown: on SIGTERM the binary calls [`HealthState::set_draining`] and keeps
    /// serving (health answers 503 `draining`), and resolves `shutdown` only when the drain ends.
    pub async fn serve(
        self,
        source: Arc<dyn HealthSource>,
        registry: Arc<Registry>,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), Error> {
        self.serve_with(source, registry, Management::default(), shutdown)
            .await
    }

    /// [`Servers::serve`] with the management API's mutating endpoints (`mgmt`).
    pub async fn serve_with(
        self,
        source: Arc<dyn HealthSource>,
        registry: Arc<Registry>,
        mgmt: Management,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), Error> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let stopped = |mut rx: watch::Receiver<bool>| async move {
            // An Err means the sender is gone, which also means stop.
            let _ = rx.wait_for(|&stop| stop).await;
        };
        let (health_addr, mgmt_addr) = (self.health_addr, self.mgmt_addr);
        tracing::info!(%health_addr, %mgmt_addr, "http servers listening");

        let health = axum::serve(self.health, health_router(source.clone()))
            .with_graceful_shutdown(stopped(stop_rx.clone()));
        let mgmt = axum::serve(self.mgmt, mgmt_router_with(source, registry, mgmt))
            .with_graceful_shutdown(stopped(stop_rx));
        let servers = async {
            let (health, mgmt) = tokio::join!(health.into_future(), mgmt.into_future());
            health.map_err(|source| Error::Serve {
                server: HEALTH,
                addr: health_addr,
                source,
            })?;
            mgmt.map_err(|source| Error::Serve {
                server: MGMT,
                addr: mgmt_addr,
                source,
            })
        };
        tokio::pin!(servers);
        tokio::select! {
            // The servers only return early on an error.
            result = &mut servers => return result,
            () = shutdown => {}
        }
        // The receivers live in the servers, which are still running: the send cannot fail.
        let _ = stop_tx.send(true);
        servers.await?;
        tracing::info!("http servers stopped");
        Ok(())
    }
}

/// [`bind`] then [`Servers::serve`]: run the health server on `health_addr` and the management server
/// on `mgmt_addr` until `shutdown` completes.
pub async fn serve(
    health_addr: SocketAddr,
    mgmt_addr: SocketAddr,
    source: Arc<dyn HealthSource>,
    registry: Arc<Registry>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), Error> {
    bind(health_addr, mgmt_addr)
        .await?
        .serve(source, registry, shutdown)
        .await
}
