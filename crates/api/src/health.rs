//! What "healthy" means for a GWLB target, and where the answer comes from.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use seawall_telemetry::Heartbeats;

/// The data plane's state as the health check and the status API see it. The binary implements it
/// with [`HealthState`]; tests can implement it with plain values, so `api` needs no data plane.
pub trait HealthSource: Send + Sync + 'static {
    /// Whether every worker made progress recently, as of `now`.
    fn workers_healthy(&self, now: Instant) -> WorkerHealth;
    /// True once a drain (SIGTERM) began: the GWLB must stop sending new flows here.
    fn draining(&self) -> bool;
    /// True while a rule set is loaded and in use.
    fn rules_loaded(&self) -> bool;
    /// Number of data plane workers.
    fn workers(&self) -> usize;
    /// Time since the appliance started, as of `now`.
    fn uptime(&self, now: Instant) -> Duration;
}

/// The workers' part of the health verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkerHealth {
    /// Every worker made progress within the stall threshold.
    Healthy,
    /// At least one worker did not.
    Stalled {
        /// The worker stalled the longest (lowest index among equals).
        worker: usize,
        /// Its time since the last progress.
        stalled_for: Duration,
        /// How many workers are stalled in all.
        stalled_workers: usize,
    },
    /// There are no workers at all, so nothing forwards packets.
    NoWorkers,
}

/// The health verdict: the first failing condition, or healthy. Its `Display` is the body of the
/// health response (`ok`, `draining`, `worker 1 stalled for 3.2s`, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    /// Serve traffic: HTTP 200.
    Healthy,
    /// Draining (SIGTERM received): HTTP 503.
    Draining,
    /// No rule set loaded: HTTP 503.
    RulesNotLoaded,
    /// Workers stalled or absent: HTTP 503.
    Workers(WorkerHealth),
}

impl Health {
    /// Evaluate `source` at `now`. Draining wins over everything, then rules, then workers.
    pub fn check(source: &dyn HealthSource, now: Instant) -> Health {
        if source.draining() {
            return Health::Draining;
        }
        if !source.rules_loaded() {
            return Health::RulesNotLoaded;
        }
        match source.workers_healthy(now) {
            WorkerHealth::Healthy => Health::Healthy,
            unhealthy => Health::Workers(unhealthy),
        }
    }

    /// True for [`Health::Healthy`].
    pub fn is_healthy(self) -> bool {
        self == Health::Healthy
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Health::Healthy | Health::Workers(WorkerHealth::Healthy) => f.write_str("ok"),
            Health::Draining => f.write_str("draining"),
            Health::RulesNotLoaded => f.write_str("rules not loaded"),
            Health::Workers(WorkerHealth::NoWorkers) => f.write_str("no workers"),
            Health::Workers(WorkerHealth::Stalled {
                worker,
                stalled_for,
                stalled_workers,
            }) => {
                write!(
                    f,
                    "worker {worker} stalled for {:.1}s",
                    stalled_for.as_secs_f64()
                )?;
                if *stalled_workers > 1 {
                    write!(f, " ({stalled_workers} workers stalled)")?;
                }
                Ok(())
            }
        }
    }
}

/// The production [`HealthSource`]: the workers' heartbeats, a stall threshold, and the draining and
/// rules-loaded flags. Share it as `Arc<HealthState>` between the binary (which sets the flags) and
/// the servers.
#[derive(Debug)]
pub struct HealthState {
    heartbeats: Heartbeats,
    stall_after: Duration,
    draining: AtomicBool,
    rules_loaded: AtomicBool,
}

impl HealthState {
    /// The default stall threshold: a worker that has not beaten for longer is unhealthy. Workers beat
    /// at least once per receive timeout, which must be well below this.
    pub const DEFAULT_STALL_AFTER: Duration = Duration::from_secs(2);

    /// Healthy while every heartbeat is at most `stall_after` old. Starts not draining and with rules
    /// loaded (the pass-all data plane needs none); a rule loader calls
    /// [`set_rules_loaded`](Self::set_rules_loaded)`(false)` until its first load succeeds.
    pub fn new(heartbeats: Heartbeats, stall_after: Duration) -> Self {
        HealthState {
            heartbeats,
            stall_after,
            draining: AtomicBool::new(false),
            rules_loaded: AtomicBool::new(true),
        }
    }

    /// Enter (or, `false`, leave) draining: the health check answers 503 `draining`.
    pub fn set_draining(&self, draining: bool) {
        self.draining.store(draining, Ordering::Relaxed);
    }

    /// Record whether a rule set is loaded.
    pub fn set_rules_loaded(&self, loaded: bool) {
        self.rules_loaded.store(loaded, Ordering::Relaxed);
    }

    /// The stall threshold.
    pub fn stall_after(&self) -> Duration {
        self.stall_after
    }

    /// The heartbeats read by the check.
    pub fn heartbeats(&self) -> &Heartbeats {
        &self.heartbeats
    }
}

impl HealthSource for HealthState {
    fn workers_healthy(&self, now: Instant) -> WorkerHealth {
        if self.heartbeats.is_empty() {
            return WorkerHealth::NoWorkers;
        }
        let now = self.heartbeats.epoch().ticks(now);
        let mut worst: Option<(usize, Duration)> = None;
        let mut stalled_workers = 0;
        for (worker, beat) in self.heartbeats.iter().enumerate() {
            let stalled_for = beat.stalled_for(now);
            if stalled_for > self.stall_after {
                stalled_workers += 1;
                if worst.is_none_or(|(_, longest)| stalled_for > longest) {
                    worst = Some((worker, stalled_for));
                }
            }
        }
        match worst {
            None => WorkerHealth::Healthy,
            Some((worker, stalled_for)) => WorkerHealth::Stalled {
                worker,
                stalled_for,
                stalled_workers,
            },
        }
    }

    fn draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    fn rules_loaded(&self) -> bool {
        self.rules_loaded.load(Ordering::Relaxed)
    }

    fn workers(&self) -> usize {
        self.heartbeats.len()
    }

    fn uptime(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.heartbeats.epoch().start())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use seawall_telemetry::Epoch;
    use std::time::SystemTime;

    const MS: u64 = 1_000_000;

    fn state(workers: usize) -> (HealthState, Instant) {
        let start = Instant::now();
        let epoch = Epoch::new(start, SystemTime::UNIX_EPOCH);
        let state = HealthState::new(Heartbeats::new(epoch, workers), Duration::from_millis(50));
        (state, start)
    }

    #[test]
    fn fresh_heartbeats_are_healthy_and_old_ones_stalled() {
        let (state, start) = state(3);
        let at = |ms: u64| start + Duration::from_millis(ms);
        assert_eq!(state.workers_healthy(at(50)), WorkerHealth::Healthy);
        for beat in state.heartbeats().iter() {
            beat.beat(100 * MS);
        }
        state.heartbeats().get(2).expect("worker 2").beat(30 * MS);
        state.heartbeats().get(1).expect("worker 1").beat(20 * MS);
        assert_eq!(
            state.workers_healthy(at(110)),
            WorkerHealth::Stalled {
                worker: 1,
                stalled_for: Duration::from_millis(90),
                stalled_workers: 2
            }
        );
        let health = Health::check(&state, at(110));
        assert_eq!(
            health.to_string(),
            "worker 1 stalled for 0.1s (2 workers stalled)"
        );
        assert!(!health.is_healthy());
        // Worker 0 is exactly at the threshold (50 ms): not stalled.
        assert_eq!(
            state.workers_healthy(at(150)),
            WorkerHealth::Stalled {
                worker: 1,
                stalled_for: Duration::from_millis(130),
                stalled_workers: 2,
            }
        );
        assert_eq!(state.uptime(at(150)), Duration::from_millis(150));
    }

    #[test]
    fn draining_wins_then_rules_then_workers() {
        let (state, start) = state(1);
        let late = start + Duration::from_secs(5);
        assert_eq!(Health::check(&state, start), Health::Healthy);
        assert_eq!(Health::check(&state, start).to_string(), "ok");
        assert_eq!(
            Health::check(&state, late).to_string(),
            "worker 0 stalled for 5.0s"
        );
        state.set_rules_loaded(false);
        assert_eq!(Health::check(&state, late), Health::RulesNotLoaded);
        state.set_draining(true);
        assert_eq!(Health::check(&state, start), Health::Draining);
        assert_eq!(Health::check(&state, start).to_string(), "draining");
        state.set_draining(false);
        state.set_rules_loaded(true);
        assert_eq!(Health::check(&state, start), Health::Healthy);
    }

    #[test]
    fn no_workers_is_unhealthy() {
        let (state, start) = state(0);
        assert_eq!(Health::check(&state, start).to_string(), "no workers");
        assert_eq!(state.workers(), 0);
    }
}
