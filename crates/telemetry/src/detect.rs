//! Inspection metrics: verdicts, alerts, inspection time, flows, exception-policy hits, injected
//! (and deliberately skipped) rejects, the evidence queue, the rule sets (loads and reloads), and
//! the inspectors' decode counters ([`crate::decode`]).
//!
//! As for [`crate::DataplaneMetrics`], every hot-path series is created at registration and
//! resolved into a per-worker handle ([`DetectWorkerMetrics`]) whose methods are relaxed atomic
//! adds on cache lines that worker alone writes; call them once per batch. Labels are bounded:
//! worker index, a fixed action/reason list, and profile names from the config file.

use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::{Registry, Unit};

use crate::dataplane::WorkerLabels;
use crate::decode::{DecodeFamilies, DecodeWorkerMetrics};
use crate::padded::PaddedU64;

type Count = Counter<u64, PaddedU64>;

/// Verdict labels, in [`Verdicts`] order.
pub const VERDICT_ACTIONS: [&str; 3] = ["pass", "drop", "reject"];
/// Rule action labels of alerts, in [`AlertCounts`] order.
pub const ALERT_ACTIONS: [&str; 4] = ["alert", "drop", "reject", "pass"];
/// Flow eviction reasons (`seawall_flow_evicted_total{reason}`), in [`FlowTotals`] order.
pub const EVICT_REASONS: [&str; 5] = ["timeout", "closed", "new", "established", "reused"];
/// Exception-policy reasons, in [`Exceptions`] order: an undecodable inner packet, a fragment the
/// defragmenter could not hold (memcap or tracker limits).
pub const EXCEPTION_REASONS: [&str; 2] = ["malformed_inner", "defrag_memcap"];
/// Exception-policy actions.
pub const EXCEPTION_ACTIONS: [&str; 2] = ["fail_open", "fail_closed"];
/// Reasons an injected reject was not sent.
pub const INJECT_FAILURES: [&str; 3] = ["no_header", "craft", "send"];
/// Reasons a reject was deliberately not injected (the packet is still dropped): `tunnel`, the
/// alert was on a packet decapsulated from a tunnel inside the traffic, whose reset would leave
/// without the tunnel's encapsulation.
pub const INJECT_SKIPS: [&str; 1] = ["tunnel"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabels {
    worker: usize,
    action: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    worker: usize,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ExceptionLabels {
    worker: usize,
    reason: &'static str,
    action: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProfileLabels {
    profile: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

/// Upper bounds of the inspection-time buckets, in nanoseconds; `+Inf` is implicit.
pub const INSPECT_TIME_BOUNDS_NS: [u64; 12] = [
    1_000,
    5_000,
    10_000,
    50_000,
    100_000,
    500_000,
    1_000_000,
    5_000_000,
    10_000_000,
    50_000_000,
    100_000_000,
    1_000_000_000,
];
const TIME_BUCKETS: usize = INSPECT_TIME_BOUNDS_NS.len() + 1;

#[repr(align(128))]
#[derive(Default)]
struct TimeInner {
    buckets: [AtomicU64; TIME_BUCKETS],
    sum_ns: AtomicU64,
}

/// A lock-free histogram of durations (seconds in the exposition), written by one worker.
#[derive(Clone, Default)]
pub struct TimeHistogram(Arc<TimeInner>);

impl TimeHistogram {
    /// Record one duration.
    #[inline]
    pub fn observe(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let bucket = INSPECT_TIME_BOUNDS_NS.partition_point(|&b| b < ns);
        self.0.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.0.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.0
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .sum()
    }
}

impl fmt::Debug for TimeHistogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimeHistogram")
            .field("count", &self.count())
            .finish()
    }
}

impl TypedMetric for TimeHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for TimeHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), fmt::Error> {
        let mut buckets = [(f64::INFINITY, 0u64); TIME_BUCKETS];
        for (i, slot) in buckets.iter_mut().enumerate() {
            if let Some(&b) = INSPECT_TIME_BOUNDS_NS.get(i) {
                slot.0 = b as f64 / 1e9;
            }
            slot.1 = self.0.buckets[i].load(Ordering::Relaxed);
        }
        let count = buckets.iter().map(|b| b.1).sum();
        let sum = self.0.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// Per-batch verdict counts (engine verdicts, whatever the mode).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Verdicts {
    /// Pass.
    pub pass: u64,
    /// Drop (including packets of flows dropped earlier).
    pub drop: u64,
    /// Reject.
    pub reject: u64,
}

/// Per-batch alert counts by rule action, in [`ALERT_ACTIONS`] order.
pub type AlertCounts = [u64; 4];

/// Flow table totals (monotonic, summed over a worker's tables) plus the live count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowTotals {
    /// Flows live now.
    pub active: u64,
    /// Flows created.
    pub created: u64,
    /// Flows evicted, in [`EVICT_REASONS`] order.
    pub evicted: [u64; 5],
}

/// Per-batch exception-policy hits: `[reason][action]` in [`EXCEPTION_REASONS`] x
/// [`EXCEPTION_ACTIONS`] order.
pub type Exceptions = [[u64; 2]; 2];

/// The inspection metric families (see the module doc for what is where).
#[derive(Clone, Debug)]
pub struct DetectMetrics {
    workers: Vec<DetectWorkerMetrics>,
    profiles: Vec<String>,
    rules_loaded: Family<ProfileLabels, Gauge>,
    rules_skipped: Family<ProfileLabels, Gauge>,
    reloads: Family<ResultLabels, Counter>,
    evidence_written: Counter,
    evidence_write_errors: Counter,
    decode: DecodeFamilies,
}

/// One worker's inspection handles.
#[derive(Clone, Debug)]
pub struct DetectWorkerMetrics {
    verdicts: [Count; 3],
    alerts: [Count; 4],
    inspect: TimeHistogram,
    flows_active: Gauge<i64, AtomicI64>,
    flows_created: Count,
    flows_evicted: [Count; 5],
    exceptions: [[Count; 2]; 2],
    injected: Count,
    inject_failed: [Count; 3],
    inject_skipped: [Count; 1],
    header_evictions: Count,
    evidence_queued: Count,
    evidence_dropped: Count,
    last_flows: Arc<[AtomicU64; 6]>,
}

fn arr<const N: usize, T>(f: impl FnMut(usize) -> T) -> [T; N] {
    core::array::from_fn(f)
}

impl DetectMetrics {
    /// Registers every family and creates every series for `workers` workers and `profiles`
    /// (profile names, in profile order).
    pub fn register(registry: &mut Registry, workers: usize, profiles: &[String]) -> Self {
        let verdicts = Family::<ActionLabels, Count>::default();
        let alerts = Family::<ActionLabels, Count>::default();
        let inspect = Family::<WorkerLabels, TimeHistogram>::default();
        let flows_active = Family::<WorkerLabels, Gauge<i64, AtomicI64>>::default();
        let flows_created = Family::<WorkerLabels, Count>::default();
        let flows_evicted = Family::<ReasonLabels, Count>::default();
        let exceptions = Family::<ExceptionLabels, Count>::default();
        let injected = Family::<WorkerLabels, Count>::default();
        let inject_failed = Family::<ReasonLabels, Count>::default();
        let inject_skipped = Family::<ReasonLabels, Count>::default();
        let header_evictions = Family::<WorkerLabels, Count>::default();
        let evidence_queued = Family::<WorkerLabels, Count>::default();
        let evidence_dropped = Family::<WorkerLabels, Count>::default();
        let rules_loaded = Family::<ProfileLabels, Gauge>::default();
        let rules_skipped = Family::<ProfileLabels, Gauge>::default();
        let reloads = Family::<ResultLabels, Counter>::default();
        let evidence_written = Counter::default();
        let evidence_write_errors = Counter::default();

        registry.register(
            "seawall_detect_verdicts",
            "Engine verdicts per inspected packet, by action (IDS mode counts what IPS would do)",
            verdicts.clone(),
        );
        registry.register(
            "seawall_detect_alerts",
            "Alerts raised, by rule action",
            alerts.clone(),
        );
        registry.register_with_unit(
            "seawall_detect_inspect_batch",
            "Inspection time per receive batch",
            Unit::Seconds,
            inspect.clone(),
        );
        registry.register(
            "seawall_flow_active_flows",
            "Flows tracked now",
            flows_active.clone(),
        );
        registry.register(
            "seawall_flow_created",
            "Flows created",
            flows_created.clone(),
        );
        registry.register(
            "seawall_flow_evicted",
            "Flows removed, by reason (idle timeout, or evicted under pressure while closed, new or established, or reused)",
            flows_evicted.clone(),
        );
        registry.register(
            "seawall_detect_exception_policy",
            "Exception-policy hits, by reason and by the action taken",
            exceptions.clone(),
        );
        registry.register(
            "seawall_detect_rejects_injected",
            "Reject packets (TCP reset, ICMP unreachable) injected",
            injected.clone(),
        );
        registry.register(
            "seawall_detect_reject_failures",
            "Reject packets not injected, by reason",
            inject_failed.clone(),
        );
        registry.register(
            "seawall_detect_rejects_skipped",
            "Reject packets deliberately not injected (the packet is still dropped), by reason: tunnel = the alert was on a packet decapsulated from a tunnel, whose reset would leave without the tunnel's encapsulation",
            inject_skipped.clone(),
        );
        registry.register(
            "seawall_detect_header_table_evictions",
            "Flows evicted from the bounded per-worker side tables (latest GENEVE headers for rejects, IPS-dropped flows)",
            header_evictions.clone(),
        );
        registry.register(
            "seawall_evidence_alerts_queued",
            "Alert records handed to the evidence writer",
            evidence_queued.clone(),
        );
        registry.register(
            "seawall_evidence_alerts_dropped",
            "Alert records dropped because the evidence queue was full (the packet is never dropped)",
            evidence_dropped.clone(),
        );
        registry.register(
            "seawall_evidence_alerts_written",
            "Alert records written to eve.json",
            evidence_written.clone(),
        );
        registry.register(
            "seawall_evidence_write_errors",
            "Alert records that could not be written",
            evidence_write_errors.clone(),
        );
        registry.register(
            "seawall_detect_rules_loaded",
            "Rules loaded in the running rule set, per profile",
            rules_loaded.clone(),
        );
        registry.register(
            "seawall_detect_rules_skipped",
            "Rules of the running rule set that could not be loaded (unsupported keywords), per profile",
            rules_skipped.clone(),
        );
        registry.register(
            "seawall_detect_rule_reloads",
            "Rule set loads (start and reloads), by result",
            reloads.clone(),
        );
        for p in profiles {
            let l = ProfileLabels { profile: p.clone() };
            let _ = rules_loaded.get_or_create(&l);
            let _ = rules_skipped.get_or_create(&l);
        }
        for result in ["ok", "failed"] {
            let _ = reloads.get_or_create(&ResultLabels { result });
        }

        let workers: Vec<DetectWorkerMetrics> = (0..workers)
            .map(|worker| {
                let wl = WorkerLabels { worker };
                DetectWorkerMetrics {
                    verdicts: arr(|i| {
                        verdicts.get_or_create_owned(&ActionLabels {
                            worker,
                            action: VERDICT_ACTIONS[i],
                        })
                    }),
                    alerts: arr(|i| {
                        alerts.get_or_create_owned(&ActionLabels {
                            worker,
                            action: ALERT_ACTIONS[i],
                        })
                    }),
                    inspect: inspect.get_or_create_owned(&wl),
                    flows_active: flows_active.get_or_create_owned(&wl),
                    flows_created: flows_created.get_or_create_owned(&wl),
                    flows_evicted: arr(|i| {
                        flows_evicted.get_or_create_owned(&ReasonLabels {
                            worker,
                            reason: EVICT_REASONS[i],
                        })
                    }),
                    exceptions: arr(|r| {
                        arr(|a| {
                            exceptions.get_or_create_owned(&ExceptionLabels {
                                worker,
                                reason: EXCEPTION_REASONS[r],
                                action: EXCEPTION_ACTIONS[a],
                            })
                        })
                    }),
                    injected: injected.get_or_create_owned(&wl),
                    inject_failed: arr(|i| {
                        inject_failed.get_or_create_owned(&ReasonLabels {
                            worker,
                            reason: INJECT_FAILURES[i],
                        })
                    }),
                    inject_skipped: arr(|i| {
                        inject_skipped.get_or_create_owned(&ReasonLabels {
                            worker,
                            reason: INJECT_SKIPS[i],
                        })
                    }),
                    header_evictions: header_evictions.get_or_create_owned(&wl),
                    evidence_queued: evidence_queued.get_or_create_owned(&wl),
                    evidence_dropped: evidence_dropped.get_or_create_owned(&wl),
                    last_flows: Arc::new(Default::default()),
                }
            })
            .collect();
        let decode = DecodeFamilies::register(registry, workers.len());
        DetectMetrics {
            workers,
            profiles: profiles.to_vec(),
            rules_loaded,
            rules_skipped,
            reloads,
            evidence_written,
            evidence_write_errors,
            decode,
        }
    }

    /// Worker `index`'s decode counters ([`crate::decode`]); one per worker, owned by it.
    pub fn decode_worker(&self, index: usize) -> Option<DecodeWorkerMetrics> {
        (index < self.workers.len()).then(|| self.decode.worker(index))
    }

    /// Worker `index`'s handle.
    pub fn worker(&self, index: usize) -> Option<DetectWorkerMetrics> {
        self.workers.get(index).cloned()
    }

    /// The running rule set of profile `index`: rules loaded and skipped.
    pub fn set_rules(&self, index: usize, loaded: usize, skipped: usize) {
        if let Some(p) = self.profiles.get(index) {
            let l = ProfileLabels { profile: p.clone() };
            self.rules_loaded
                .get_or_create(&l)
                .set(i64::try_from(loaded).unwrap_or(i64::MAX));
            self.rules_skipped
                .get_or_create(&l)
                .set(i64::try_from(skipped).unwrap_or(i64::MAX));
        }
    }

    /// A rule set load (at start or a reload) succeeded (`true`) or failed.
    pub fn reload(&self, ok: bool) {
        let result = if ok { "ok" } else { "failed" };
        self.reloads.get_or_create(&ResultLabels { result }).inc();
    }

    /// `n` alert records written by the evidence writer.
    pub fn evidence_written(&self, n: u64) {
        self.evidence_written.inc_by(n);
    }

    /// `n` alert records the evidence writer failed to write.
    pub fn evidence_write_errors(&self, n: u64) {
        self.evidence_write_errors.inc_by(n);
    }
}

impl DetectWorkerMetrics {
    /// One batch's inspection: its verdicts, alerts and time.
    #[inline]
    pub fn batch(&self, verdicts: Verdicts, alerts: &AlertCounts, elapsed: Duration) {
        for (c, v) in self
            .verdicts
            .iter()
            .zip([verdicts.pass, verdicts.drop, verdicts.reject])
        {
            if v > 0 {
                c.inc_by(v);
            }
        }
        for (c, &v) in self.alerts.iter().zip(alerts) {
            if v > 0 {
                c.inc_by(v);
            }
        }
        self.inspect.observe(elapsed);
    }

    /// The worker's flow table totals now; monotonic totals are turned into increments.
    pub fn flows(&self, t: &FlowTotals) {
        self.flows_active
            .set(i64::try_from(t.active).unwrap_or(i64::MAX));
        let now = [
            t.created,
            t.evicted[0],
            t.evicted[1],
            t.evicted[2],
            t.evicted[3],
            t.evicted[4],
        ];
        for (i, &v) in now.iter().enumerate() {
            let before = self.last_flows[i].swap(v, Ordering::Relaxed);
            let delta = v.saturating_sub(before);
            if delta == 0 {
                continue;
            }
            match i {
                0 => self.flows_created.inc_by(delta),
                _ => self.flows_evicted[i - 1].inc_by(delta),
            };
        }
    }

    /// Exception-policy hits of one batch.
    #[inline]
    pub fn exceptions(&self, e: &Exceptions) {
        for (row, counts) in self.exceptions.iter().zip(e) {
            for (c, &v) in row.iter().zip(counts) {
                if v > 0 {
                    c.inc_by(v);
                }
            }
        }
    }

    /// `n` reject packets injected.
    #[inline]
    pub fn injected(&self, n: u64) {
        self.injected.inc_by(n);
    }

    /// A reject packet not injected, reason index into [`INJECT_FAILURES`].
    #[inline]
    pub fn inject_failed(&self, reason: usize, n: u64) {
        if let Some(c) = self.inject_failed.get(reason) {
            c.inc_by(n);
        }
    }

    /// `n` reject packets not injected on purpose, reason index into [`INJECT_SKIPS`].
    #[inline]
    pub fn inject_skipped(&self, reason: usize, n: u64) {
        if let Some(c) = self.inject_skipped.get(reason) {
            c.inc_by(n);
        }
    }

    /// `n` flows' headers evicted from the header table.
    #[inline]
    pub fn header_evictions(&self, n: u64) {
        self.header_evictions.inc_by(n);
    }

    /// Alert records queued for / dropped before the evidence writer.
    #[inline]
    pub fn evidence(&self, queued: u64, dropped: u64) {
        if queued > 0 {
            self.evidence_queued.inc_by(queued);
        }
        if dropped > 0 {
            self.evidence_dropped.inc_by(dropped);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::encoding::text::encode;

    #[test]
    fn series_exist_from_the_start_and_count() {
        let mut reg = Registry::default();
        let m = DetectMetrics::register(&mut reg, 2, &["default".to_owned(), "zone-a".to_owned()]);
        let w = m.worker(1).expect("worker 1");
        w.batch(
            Verdicts {
                pass: 5,
                drop: 2,
                reject: 1,
            },
            &[3, 2, 1, 0],
            Duration::from_micros(20),
        );
        w.flows(&FlowTotals {
            active: 3,
            created: 7,
            evicted: [1, 0, 0, 0, 2],
        });
        w.flows(&FlowTotals {
            active: 2,
            created: 9,
            evicted: [1, 0, 0, 0, 2],
        });
        w.exceptions(&[[0, 4], [1, 0]]);
        w.inject_skipped(0, 2);
        let mut d = m.decode_worker(1).expect("decode worker 1");
        assert!(m.decode_worker(2).is_none());
        d.begin();
        d.add(crate::DecodeFamily::Tunnels, "vxlan", 3);
        d.publish();
        m.set_rules(1, 10, 2);
        m.reload(true);
        let mut text = String::new();
        encode(&mut text, &reg).expect("encode");
        for want in [
            "seawall_detect_verdicts_total{worker=\"1\",action=\"drop\"} 2",
            "seawall_detect_verdicts_total{worker=\"0\",action=\"pass\"} 0",
            "seawall_detect_alerts_total{worker=\"1\",action=\"alert\"} 3",
            "seawall_flow_created_total{worker=\"1\"} 9",
            "seawall_flow_active_flows{worker=\"1\"} 2",
            "seawall_flow_evicted_total{worker=\"1\",reason=\"reused\"} 2",
            "seawall_detect_exception_policy_total{worker=\"1\",reason=\"malformed_inner\",action=\"fail_closed\"} 4",
            "seawall_detect_rules_loaded{profile=\"zone-a\"} 10",
            "seawall_detect_rule_reloads_total{result=\"ok\"} 1",
            "seawall_detect_inspect_batch_seconds_count{worker=\"1\"} 1",
            "seawall_detect_rejects_skipped_total{worker=\"1\",reason=\"tunnel\"} 2",
            "seawall_detect_rejects_skipped_total{worker=\"0\",reason=\"tunnel\"} 0",
            "seawall_decode_tunnels_total{worker=\"1\",kind=\"vxlan\"} 3",
            "seawall_defrag_fragments_total{worker=\"0\"} 0",
        ] {
            assert!(text.contains(want), "missing {want} in\n{text}");
        }
    }
}
