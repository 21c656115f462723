//! Wiring: the data plane workers, the metrics registry, the health state and the HTTP servers, and
//! the signal handling of `seawall run` (SIGTERM drains, SIGINT stops, SIGHUP reloads rules).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use seawall_api::HealthState;
use seawall_dataplane::Dataplane;
use seawall_telemetry::prometheus_client::registry::Registry;
use seawall_telemetry::{DataplaneMetrics, Epoch, Heartbeats};
use tokio::runtime::Runtime;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::oneshot;

use crate::config::Config;

/// A running appliance: workers plus the health and management servers.
pub struct Appliance {
    pub dataplane: Dataplane,
    pub health: Arc<HealthState>,
    pub registry: Arc<Registry>,
    pub health_addr: SocketAddr,
    pub mgmt_addr: SocketAddr,
    stop_servers: oneshot::Sender<()>,
    servers: tokio::task::JoinHandle<Result<(), seawall_api::Error>>,
}

/// The small runtime the HTTP servers (and signal handling) run on; workers are plain threads.
pub fn management_runtime() -> anyhow::Result<Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("seawall-mgmt")
        .enable_all()
        .build()
        .context("cannot start the management runtime")
}

impl Appliance {
    /// Binds the HTTP servers first (so a taken port fails before any packet is touched), then the
    /// GENEVE sockets, then starts the workers and the servers.
    pub fn start(cfg: &Config, rt: &Runtime) -> anyhow::Result<Self> {
        let workers = cfg.dataplane.worker_count();
        let epoch = Epoch::new(Instant::now(), SystemTime::now());
        let mut registry = Registry::default();
        seawall_telemetry::register_build_info(&mut registry, env!("CARGO_PKG_VERSION"));
        let metrics =
            DataplaneMetrics::register(&mut registry, workers, &seawall_dataplane::drop_reasons());
        let heartbeats = Heartbeats::register(&mut registry, epoch, workers);
        let registry = Arc::new(registry);
        let health = Arc::new(HealthState::new(
            heartbeats.clone(),
            Duration::from_millis(cfg.health.stall_after_ms),
        ));

        let servers = rt.block_on(seawall_api::bind(cfg.health.listen, cfg.api.listen))?;
        let (health_addr, mgmt_addr) = (servers.health_addr(), servers.mgmt_addr());

        if cfg.dataplane.allow_sources.is_empty() {
            tracing::warn!(
                "dataplane.allow_sources is empty: GENEVE from any source is accepted; \
                 list the GWLB subnets in production"
            );
        }
        let dataplane =
            Dataplane::start(&cfg.dataplane, &metrics, &heartbeats).with_context(|| {
                format!(
                    "cannot start the data plane on {} (dataplane.listen)",
                    cfg.dataplane.listen
                )
            })?;
        tracing::info!(
            geneve = %dataplane.local_addr(),
            workers = dataplane.workers(),
            steering = cfg.dataplane.steering,
            allow_sources = cfg.dataplane.allow_sources.len(),
            malformed_inner = ?cfg.dataplane.malformed_inner,
            "data plane started"
        );

        let (stop_servers, stopped) = oneshot::channel::<()>();
        let source: Arc<dyn seawall_api::HealthSource> = health.clone();
        let servers = rt.spawn(servers.serve(source, registry.clone(), async {
            let _ = stopped.await;
        }));
        Ok(Self {
            dataplane,
            health,
            registry,
            health_addr,
            mgmt_addr,
            stop_servers,
            servers,
        })
    }

    /// Stops the servers and the workers.
    pub fn shutdown(self, rt: &Runtime) -> anyhow::Result<()> {
        let _ = self.stop_servers.send(());
        let served = rt
            .block_on(self.servers)
            .context("http server task failed")?;
        let stopped = self.dataplane.stop().context("a data plane worker failed");
        served?;
        stopped
    }
}

/// `seawall run`: start, then serve until a signal.
///
/// SIGTERM drains: health turns 503 so the GWLB stops sending new flows, datagrams keep being
/// forwarded until none arrived for `drain.idle_secs` or `drain.timeout_secs` passed; then exit 0.
/// SIGINT stops at once. SIGHUP asks for a rule reload.
pub fn run(cfg: &Config) -> anyhow::Result<()> {
    let rt = management_runtime()?;
    let app = Appliance::start(cfg, &rt)?;
    tracing::info!(health = %app.health_addr, api = %app.mgmt_addr, "seawall running");

    let outcome = rt.block_on(async {
        let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
        let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
        let mut hup = signal(SignalKind::hangup()).context("cannot handle SIGHUP")?;
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        loop {
            tokio::select! {
                _ = term.recv() => return Ok(Stop::Drain),
                _ = int.recv() => return Ok(Stop::Now),
                _ = hup.recv() => {
                    tracing::info!("SIGHUP: rule reload requested; this build forwards every valid packet and has no rule set to reload");
                }
                _ = tick.tick() => {
                    if app.dataplane.any_worker_exited() {
                        return Ok(Stop::WorkerDied);
                    }
                }
            }
        }
    });
    let stop: Stop = match outcome {
        Ok(s) => s,
        Err(e) => {
            let _ = app.shutdown(&rt);
            return Err(e);
        }
    };
    match stop {
        Stop::Drain => drain(&app, cfg, &rt),
        Stop::Now => tracing::info!("SIGINT: stopping"),
        Stop::WorkerDied => {
            tracing::error!("a data plane worker stopped; exiting so the instance is replaced");
            let result = app.shutdown(&rt);
            return Err(result
                .err()
                .unwrap_or_else(|| anyhow::anyhow!("a data plane worker stopped")));
        }
    }
    app.shutdown(&rt)?;
    tracing::info!("stopped");
    Ok(())
}

enum Stop {
    Drain,
    Now,
    WorkerDied,
}

fn drain(app: &Appliance, cfg: &Config, rt: &Runtime) {
    app.health.set_draining(true);
    let started = Instant::now();
    let timeout = Duration::from_secs(cfg.drain.timeout_secs);
    let idle = Duration::from_secs(cfg.drain.idle_secs);
    tracing::info!(
        timeout_secs = cfg.drain.timeout_secs,
        idle_secs = cfg.drain.idle_secs,
        "SIGTERM: draining; health answers 503 and traffic is still forwarded"
    );
    rt.block_on(async {
        let mut int = signal(SignalKind::interrupt()).ok();
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tokio::select! {
                _ = async { match int.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending::<()>().await } } => {
                    tracing::info!("SIGINT during drain: stopping now");
                    return;
                }
                _ = tick.tick() => {
                    let now = Instant::now();
                    if app.dataplane.idle_for(now) >= idle {
                        tracing::info!(after_ms = started.elapsed().as_millis() as u64, "drain done: no traffic for drain.idle_secs");
                        return;
                    }
                    if now.duration_since(started) >= timeout {
                        tracing::info!("drain done: drain.timeout_secs reached");
                        return;
                    }
                    if app.dataplane.any_worker_exited() {
                        return;
                    }
                }
            }
        }
    });
}

/// Blocks until SIGTERM or SIGINT (used by `seawall reflect`).
pub fn wait_for_termination() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start a runtime for signal handling")?;
    rt.block_on(async {
        let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
        let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        Ok(())
    })
}
