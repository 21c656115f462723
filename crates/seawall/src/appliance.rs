//! Wiring: the data plane workers, the metrics registry, the health state and the HTTP servers, and
//! the signal handling of `seawall run` (SIGTERM drains, SIGINT stops, SIGHUP reloads rules).

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use seawall_api::{HealthState, Management, ProfileRules, ReloadAnswer, ReloadError, RuleReloader};
use seawall_dataplane::evidence::{alert_queue, EvidenceWriter};
use seawall_dataplane::inline::InlineSetup;
use seawall_dataplane::inspect::InspectConfig;
use seawall_dataplane::policy::{EngineSet, Policy, RuleManager};
use seawall_dataplane::Dataplane;
use seawall_telemetry::prometheus_client::registry::Registry;
use seawall_telemetry::{DataplaneMetrics, DetectMetrics, Epoch, Heartbeats};
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
    /// Rule reloads (SIGHUP and the API).
    pub reloader: Arc<Reloader>,
    evidence: EvidenceWriter,
    stop_servers: oneshot::Sender<()>,
    servers: tokio::task::JoinHandle<Result<(), seawall_api::Error>>,
}

/// Reloads the rules of every profile: builds the new engines off the hot path, swaps them in
/// between batches, reports (log line, metric, API answer). Until the first load finished, a
/// reload answers "busy".
pub struct Reloader {
    manager: OnceLock<Arc<RuleManager>>,
    metrics: DetectMetrics,
}

fn profile_rules(set: &EngineSet) -> Vec<ProfileRules> {
    set.profiles
        .iter()
        .map(|p| ProfileRules {
            name: p.load.name.clone(),
            mode: p.load.mode.clone(),
            files: p.load.files,
            rules_loaded: p.load.rules_loaded,
            rules_skipped: p.load.rules_skipped,
            load_seconds: p.load.load_seconds,
        })
        .collect()
}

impl Reloader {
    fn publish(&self, set: &EngineSet) {
        for (i, p) in set.profiles.iter().enumerate() {
            self.metrics
                .set_rules(i, p.load.rules_loaded, p.load.rules_skipped);
            tracing::info!(
                profile = %p.load.name,
                mode = %p.load.mode,
                files = p.load.files,
                rules_loaded = p.load.rules_loaded,
                rules_skipped = p.load.rules_skipped,
                load_seconds = p.load.load_seconds,
                threshold_entries = p.load.threshold_entries,
                generation = set.generation,
                "rules loaded"
            );
            for w in &p.load.threshold_warnings {
                tracing::warn!(profile = %p.load.name, "threshold file: {w}");
            }
        }
    }
}

impl RuleReloader for Reloader {
    fn reload(&self) -> Result<ReloadAnswer, ReloadError> {
        let Some(manager) = self.manager.get() else {
            return Err(ReloadError::Busy(
                "the rules are still being loaded at start; try again".to_owned(),
            ));
        };
        match manager.reload(Duration::from_secs(2)) {
            Ok(set) => {
                self.metrics.reload(true);
                self.publish(&set);
                Ok(ReloadAnswer {
                    ok: true,
                    message: format!("rule set {} running", set.generation),
                    generation: set.generation,
                    profiles: profile_rules(&set),
                })
            }
            Err(e) => {
                self.metrics.reload(false);
                let running = manager.current();
                tracing::error!(error = %e, generation = running.generation, "rule reload failed; the running rules stay");
                Err(ReloadError::Failed(ReloadAnswer {
                    ok: false,
                    message: format!("{e}; rule set {} keeps running", running.generation),
                    generation: running.generation,
                    profiles: profile_rules(&running),
                }))
            }
        }
    }
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
        let specs = cfg.detect.profile_specs(&cfg.profiles);
        let policy = Arc::new(Policy::new(
            &specs,
            cfg.detect.exception_policy,
            cfg.dataplane.malformed_inner,
        ));
        let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
        let mut registry = Registry::default();
        seawall_telemetry::register_build_info(&mut registry, env!("CARGO_PKG_VERSION"));
        let metrics =
            DataplaneMetrics::register(&mut registry, workers, &seawall_dataplane::drop_reasons());
        let detect_metrics = DetectMetrics::register(&mut registry, workers, &names);
        let heartbeats = Heartbeats::register(&mut registry, epoch, workers);
        let registry = Arc::new(registry);
        let health = Arc::new(HealthState::new(
            heartbeats.clone(),
            Duration::from_millis(cfg.health.stall_after_ms),
        ));
        // Unhealthy ("rules not loaded") until the first rule set is running.
        health.set_rules_loaded(false);
        let token = cfg.api.token()?;
        let reloader = Arc::new(Reloader {
            manager: OnceLock::new(),
            metrics: detect_metrics.clone(),
        });

        let servers = rt.block_on(seawall_api::bind(cfg.health.listen, cfg.api.listen))?;
        let (health_addr, mgmt_addr) = (servers.health_addr(), servers.mgmt_addr());
        let (stop_servers, stopped) = oneshot::channel::<()>();
        let source: Arc<dyn seawall_api::HealthSource> = health.clone();
        let mgmt = Management {
            reloader: Some(reloader.clone()),
            token: token.as_deref().map(Arc::from),
        };
        let servers = rt.spawn(servers.serve_with(source, registry.clone(), mgmt, async {
            let _ = stopped.await;
        }));
        if token.is_none() {
            tracing::warn!(
                "no API token (api.token_file or SEAWALL_API_TOKEN): POST /api/v1/rules/reload answers 403; SIGHUP still reloads"
            );
        }

        let manager = match RuleManager::load(specs, workers) {
            Ok(m) => Arc::new(m),
            Err(e) => {
                detect_metrics.reload(false);
                let _ = stop_servers.send(());
                let _ = rt.block_on(servers);
                return Err(anyhow::anyhow!("cannot load the rules: {e}"));
            }
        };
        detect_metrics.reload(true);
        reloader.publish(&manager.current());
        if reloader.manager.set(manager.clone()).is_err() {
            anyhow::bail!("rule manager set twice");
        }

        let (tx, rx) = alert_queue(cfg.evidence.queue);
        let evidence = EvidenceWriter::start(
            &cfg.evidence,
            rx,
            manager.engines().clone(),
            policy.names.clone(),
            detect_metrics.clone(),
        )
        .with_context(|| {
            format!(
                "cannot write alerts to {} (evidence.dir)",
                cfg.evidence.eve_path().display()
            )
        })?;
        let mut inspect = InspectConfig::appliance();
        inspect.flow.memcap = cfg.detect.flow_memcap;
        inspect.flow.midstream = cfg.detect.midstream;
        inspect.flow.hash_seed = u64::from(std::process::id())
            ^ SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
        let setup = InlineSetup {
            policy: policy.clone(),
            rules: manager,
            inspect,
            metrics: detect_metrics,
            evidence: Some(tx),
            header_table_flows: cfg.detect.header_table_flows,
        };

        if cfg.dataplane.allow_sources.is_empty() {
            tracing::warn!(
                "dataplane.allow_sources is empty: GENEVE from any source is accepted; \
                 list the GWLB subnets in production"
            );
        }
        let dataplane = Dataplane::start_with(&cfg.dataplane, &metrics, &heartbeats, Some(&setup))
            .with_context(|| {
                format!(
                    "cannot start the data plane on {} (dataplane.listen)",
                    cfg.dataplane.listen
                )
            })?;
        drop(setup);
        health.set_rules_loaded(true);
        tracing::info!(
            geneve = %dataplane.local_addr(),
            workers = dataplane.workers(),
            steering = cfg.dataplane.steering,
            allow_sources = cfg.dataplane.allow_sources.len(),
            profiles = policy.len(),
            eve = %evidence.path().display(),
            "data plane started"
        );
        Ok(Self {
            dataplane,
            health,
            registry,
            health_addr,
            mgmt_addr,
            reloader,
            evidence,
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
        // The workers held the last senders of the alert queue: the writer drains it and ends.
        let written = self.evidence.join().context("cannot write alerts");
        served?;
        stopped?;
        written
    }
}

/// `seawall run`: start, then serve until a signal.
///
/// SIGTERM drains: health turns 503 so the GWLB stops sending new flows, datagrams keep being
/// forwarded until none arrived for `drain.idle_secs` or `drain.timeout_secs` passed; then exit 0.
/// SIGINT stops at once. SIGHUP asks for a rule reload.
pub fn run(cfg: &Config) -> anyhow::Result<()> {
    let rt = management_runtime()?;
    // Handlers first: a SIGTERM that arrives while starting must drain, not kill the process.
    let (mut term, mut int, mut hup) = rt.block_on(async {
        anyhow::Ok((
            signal(SignalKind::terminate()).context("cannot handle SIGTERM")?,
            signal(SignalKind::interrupt()).context("cannot handle SIGINT")?,
            signal(SignalKind::hangup()).context("cannot handle SIGHUP")?,
        ))
    })?;
    let app = Appliance::start(cfg, &rt)?;
    tracing::info!(health = %app.health_addr, api = %app.mgmt_addr, "seawall running");

    let outcome = rt.block_on(async {
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        loop {
            tokio::select! {
                _ = term.recv() => return Ok(Stop::Drain),
                _ = int.recv() => return Ok(Stop::Now),
                _ = hup.recv() => {
                    tracing::info!("SIGHUP: reloading the rules");
                    let reloader = app.reloader.clone();
                    // Compilation runs on a blocking thread; the outcome is logged and counted.
                    tokio::task::spawn_blocking(move || reloader.reload());
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
