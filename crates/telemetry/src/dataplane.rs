//! The data plane's metric families and the per-worker handles the hot path writes to.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

use crate::histogram::BatchSizeHistogram;
use crate::padded::{PaddedF64, PaddedU64};

/// The drop reason that [`DataplaneMetrics::register`] always adds, and under which a drop with an
/// unregistered reason label is counted (so that no drop goes uncounted).
pub const OTHER_REASON: &str = "other";

type Count = Counter<u64, PaddedU64>;
type Seconds = Counter<f64, PaddedF64>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct WorkerLabels {
    pub(crate) worker: usize,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DropLabels {
    worker: usize,
    reason: &'static str,
}

/// A drop reason resolved once (by [`DataplaneMetrics::reason`] or [`WorkerMetrics::reason`]) so that
/// counting a drop is an array index, not a string search.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DropReason(usize);

impl DropReason {
    /// Position of the reason in [`DataplaneMetrics::reasons`].
    pub fn index(self) -> usize {
        self.0
    }
}

/// The data plane's metrics: one set of series per worker, all created at registration (at zero, so
/// that `rate()` works from the first scrape and tests can read exact values).
///
/// Series (see [`crate::names`]), label `worker` = worker index `0..workers`:
/// `seawall_dataplane_packets_received_total`, `seawall_dataplane_bytes_received_total`,
/// `seawall_dataplane_packets_returned_total`, `seawall_dataplane_bytes_returned_total`,
/// `seawall_dataplane_drops_total{worker,reason}`,
/// `seawall_dataplane_malformed_passed_total{worker,reason}`, `seawall_dataplane_batches_received_total`,
/// `seawall_dataplane_batch_size_packets` (histogram) and `seawall_dataplane_busy_seconds_total`.
#[derive(Clone, Debug)]
pub struct DataplaneMetrics {
    reasons: Arc<[&'static str]>,
    workers: Vec<WorkerMetrics>,
}

impl DataplaneMetrics {
    /// Register the families on `registry` and create every series for `workers` workers and for
    /// each of `drop_reasons` (duplicates are ignored; [`OTHER_REASON`] is added if absent).
    pub fn register(
        registry: &mut Registry,
        workers: usize,
        drop_reasons: &[&'static str],
    ) -> Self {
        let mut reasons: Vec<&'static str> = Vec::with_capacity(drop_reasons.len() + 1);
        for &reason in drop_reasons.iter().chain(std::iter::once(&OTHER_REASON)) {
            if !reasons.contains(&reason) {
                reasons.push(reason);
            }
        }
        let reasons: Arc<[&'static str]> = reasons.into();
        let other = DropReason(
            reasons
                .iter()
                .position(|&r| r == OTHER_REASON)
                .expect("OTHER_REASON was just added"),
        );

        let packets_received = Family::<WorkerLabels, Count>::default();
        let bytes_received = Family::<WorkerLabels, Count>::default();
        let packets_returned = Family::<WorkerLabels, Count>::default();
        let bytes_returned = Family::<WorkerLabels, Count>::default();
        let drops = Family::<DropLabels, Count>::default();
        let malformed_passed = Family::<DropLabels, Count>::default();
        let batches = Family::<WorkerLabels, Count>::default();
        let batch_size = Family::<WorkerLabels, BatchSizeHistogram>::default();
        let busy = Family::<WorkerLabels, Seconds>::default();

        registry.register(
            "seawall_dataplane_packets_received",
            "GENEVE datagrams received",
            packets_received.clone(),
        );
        registry.register(
            "seawall_dataplane_bytes_received",
            "Bytes of GENEVE datagrams received (UDP payload)",
            bytes_received.clone(),
        );
        registry.register(
            "seawall_dataplane_packets_returned",
            "GENEVE datagrams sent back to the GWLB",
            packets_returned.clone(),
        );
        registry.register(
            "seawall_dataplane_bytes_returned",
            "Bytes of GENEVE datagrams sent back to the GWLB (UDP payload)",
            bytes_returned.clone(),
        );
        registry.register(
            "seawall_dataplane_drops",
            "Datagrams dropped, by reason",
            drops.clone(),
        );
        registry.register(
            "seawall_dataplane_malformed_passed",
            "Datagrams returned unchanged although their inner packet is malformed, by reason",
            malformed_passed.clone(),
        );
        registry.register(
            "seawall_dataplane_batches_received",
            "Non-empty receive batches",
            batches.clone(),
        );
        registry.register_with_unit(
            "seawall_dataplane_batch_size",
            "Datagrams per receive batch",
            Unit::Other("packets".to_owned()),
            batch_size.clone(),
        );
        registry.register_with_unit(
            "seawall_dataplane_busy",
            "Time spent processing batches, excluding waits for packets",
            Unit::Seconds,
            busy.clone(),
        );

        let workers = (0..workers)
            .map(|worker| {
                let labels = WorkerLabels { worker };
                WorkerMetrics {
                    packets_received: packets_received.get_or_create_owned(&labels),
                    bytes_received: bytes_received.get_or_create_owned(&labels),
                    packets_returned: packets_returned.get_or_create_owned(&labels),
                    bytes_returned: bytes_returned.get_or_create_owned(&labels),
                    batches: batches.get_or_create_owned(&labels),
                    batch_size: batch_size.get_or_create_owned(&labels),
                    busy: busy.get_or_create_owned(&labels),
                    drops: reasons
                        .iter()
                        .map(|&reason| drops.get_or_create_owned(&DropLabels { worker, reason }))
                        .collect(),
                    malformed_passed: reasons
                        .iter()
                        .map(|&reason| {
                            malformed_passed.get_or_create_owned(&DropLabels { worker, reason })
                        })
                        .collect(),
                    reasons: reasons.clone(),
                    other,
                }
            })
            .collect();

        DataplaneMetrics { reasons, workers }
    }

    /// Worker `index`'s handle; resolve it once at worker start and move it into the worker.
    pub fn worker(&self, index: usize) -> Option<WorkerMetrics> {
        self.workers.get(index).cloned()
    }

    /// Number of workers registered.
    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    /// Every `reason` label value, in registration order ([`OTHER_REASON`] included).
    pub fn reasons(&self) -> &[&'static str] {
        &self.reasons
    }

    /// The resolved reason for `label`, if it was registered.
    pub fn reason(&self, label: &str) -> Option<DropReason> {
        self.reasons
            .iter()
            .position(|&r| r == label)
            .map(DropReason)
    }
}

/// One worker's metric handles: clones of the series' atomics, resolved at registration.
///
/// Every method is lock-free and allocation-free: one to three relaxed atomic adds on cache lines no
/// other worker writes. Call them once per batch with the batch's totals, not once per packet.
#[derive(Clone, Debug)]
pub struct WorkerMetrics {
    packets_received: Count,
    bytes_received: Count,
    packets_returned: Count,
    bytes_returned: Count,
    batches: Count,
    batch_size: BatchSizeHistogram,
    busy: Seconds,
    drops: Box<[Count]>,
    malformed_passed: Box<[Count]>,
    reasons: Arc<[&'static str]>,
    other: DropReason,
}

impl WorkerMetrics {
    /// A receive batch of `packets` datagrams totalling `bytes` bytes of UDP payload: counts the
    /// packets, the bytes, one batch and the batch size. An empty batch (receive timeout) counts nothing.
    #[inline]
    pub fn received_batch(&self, packets: u64, bytes: u64) {
        if packets == 0 {
            return;
        }
        self.packets_received.inc_by(packets);
        self.bytes_received.inc_by(bytes);
        self.batches.inc();
        self.batch_size.observe(packets);
    }

    /// `packets` datagrams totalling `bytes` bytes sent back to the GWLB.
    #[inline]
    pub fn returned(&self, packets: u64, bytes: u64) {
        self.packets_returned.inc_by(packets);
        self.bytes_returned.inc_by(bytes);
    }

    /// `packets` datagrams dropped for `reason`. A reason from another registration that is out of
    /// range here counts as [`OTHER_REASON`].
    #[inline]
    pub fn dropped(&self, reason: DropReason, packets: u64) {
        self.by_reason(&self.drops, reason).inc_by(packets);
    }

    /// `packets` datagrams returned although their inner packet was malformed for `reason`
    /// (`malformed_inner = pass`).
    #[inline]
    pub fn malformed_passed(&self, reason: DropReason, packets: u64) {
        self.by_reason(&self.malformed_passed, reason)
            .inc_by(packets);
    }

    /// As [`dropped`](Self::dropped) with the label (e.g. `seawall_wire::Error::reason()`), looked up
    /// by a linear scan over the registered reasons; an unregistered label counts as [`OTHER_REASON`].
    #[inline]
    pub fn dropped_label(&self, reason: &str, packets: u64) {
        self.dropped(self.reason(reason), packets);
    }

    #[inline]
    fn by_reason<'a>(&self, counters: &'a [Count], reason: DropReason) -> &'a Count {
        counters.get(reason.0).unwrap_or(&counters[self.other.0])
    }

    /// The resolved reason for `label`, or [`OTHER_REASON`]'s if it was not registered.
    pub fn reason(&self, label: &str) -> DropReason {
        self.reasons
            .iter()
            .position(|&r| r == label)
            .map_or(self.other, DropReason)
    }

    /// Time spent processing (from batch received to batch sent).
    #[inline]
    pub fn busy(&self, elapsed: Duration) {
        self.busy.inc_by(elapsed.as_secs_f64());
    }
}

/// Export `seawall_build_info{version="…"} 1`.
pub fn register_build_info(registry: &mut Registry, version: &'static str) {
    registry.register(
        "seawall_build",
        "Seawall build information",
        Info::new([("version", version)]),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names;
    use prometheus_client::encoding::text::encode;

    const REASONS: &[&str] = &["geneve_truncated", "not_allowed", "oversize", "send_error"];

    fn render(registry: &Registry) -> String {
        let mut text = String::new();
        encode(&mut text, registry).expect("encoding into a String cannot fail");
        text
    }

    /// The value of the series `name{labels}`, which must appear exactly once.
    fn value(text: &str, series: &str) -> f64 {
        let prefix = format!("{series} ");
        let found: Vec<&str> = text
            .lines()
            .filter_map(|line| line.strip_prefix(prefix.as_str()))
            .collect();
        assert_eq!(found.len(), 1, "series {series} in\n{text}");
        found[0].parse().expect("a number")
    }

    #[test]
    fn every_series_exists_at_zero_after_registration() {
        let mut registry = Registry::default();
        let metrics = DataplaneMetrics::register(&mut registry, 2, REASONS);
        let text = render(&registry);
        for worker in 0..2 {
            for name in [
                names::PACKETS_RECEIVED,
                names::BYTES_RECEIVED,
                names::PACKETS_RETURNED,
                names::BYTES_RETURNED,
                names::BATCHES_RECEIVED,
            ] {
                assert_eq!(value(&text, &format!("{name}{{worker=\"{worker}\"}}")), 0.0);
            }
            assert_eq!(
                value(&text, &format!("{}{{worker=\"{worker}\"}}", names::BUSY)),
                0.0
            );
            for reason in metrics.reasons() {
                for name in [names::DROPS, names::MALFORMED_PASSED] {
                    let series = format!("{name}{{worker=\"{worker}\",reason=\"{reason}\"}}");
                    assert_eq!(value(&text, &series), 0.0);
                }
            }
        }
        assert_eq!(metrics.reasons().len(), REASONS.len() + 1);
        assert_eq!(metrics.reasons().last(), Some(&OTHER_REASON));
        // Only the bounded labels: 2 workers x 5 reasons drop series.
        assert_eq!(text.matches("seawall_dataplane_drops_total{").count(), 10);
    }

    #[test]
    fn metadata_lines_are_openmetrics() {
        let mut registry = Registry::default();
        DataplaneMetrics::register(&mut registry, 1, REASONS);
        let text = render(&registry);
        for line in [
            "# TYPE seawall_dataplane_packets_received counter",
            "# HELP seawall_dataplane_drops Datagrams dropped, by reason.",
            "# TYPE seawall_dataplane_batch_size_packets histogram",
            "# UNIT seawall_dataplane_batch_size_packets packets",
            "# TYPE seawall_dataplane_busy_seconds counter",
            "# UNIT seawall_dataplane_busy_seconds seconds",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn increments_show_exactly_in_the_text() {
        let mut registry = Registry::default();
        let metrics = DataplaneMetrics::register(&mut registry, 2, REASONS);
        let w0 = metrics.worker(0).expect("worker 0");
        let w1 = metrics.worker(1).expect("worker 1");
        w0.received_batch(3, 300);
        w0.received_batch(64, 6400);
        w0.received_batch(0, 0); // a receive timeout: no batch
        w0.returned(60, 6000);
        w0.dropped_label("geneve_truncated", 2);
        w0.dropped(metrics.reason("not_allowed").expect("registered"), 5);
        w0.dropped_label("no_such_reason", 1);
        w0.busy(Duration::from_millis(1500));
        w0.malformed_passed(w0.reason("geneve_truncated"), 6);
        w1.received_batch(1, 9000);
        w1.returned(1, 9000);

        let text = render(&registry);
        let w = |name: &str, worker: u32| value(&text, &format!("{name}{{worker=\"{worker}\"}}"));
        let drops = |worker: u32, reason: &str| {
            value(
                &text,
                &format!(
                    "{}{{worker=\"{worker}\",reason=\"{reason}\"}}",
                    names::DROPS
                ),
            )
        };
        assert_eq!(w(names::PACKETS_RECEIVED, 0), 67.0);
        assert_eq!(w(names::BYTES_RECEIVED, 0), 6700.0);
        assert_eq!(w(names::BATCHES_RECEIVED, 0), 2.0);
        assert_eq!(w(names::PACKETS_RETURNED, 0), 60.0);
        assert_eq!(w(names::BYTES_RETURNED, 0), 6000.0);
        assert_eq!(w(names::BUSY, 0), 1.5);
        assert_eq!(drops(0, "geneve_truncated"), 2.0);
        assert_eq!(drops(0, "not_allowed"), 5.0);
        assert_eq!(drops(0, OTHER_REASON), 1.0);
        assert_eq!(drops(0, "oversize"), 0.0);
        assert_eq!(drops(1, "geneve_truncated"), 0.0);
        let passed = format!(
            "{}{{worker=\"0\",reason=\"geneve_truncated\"}}",
            names::MALFORMED_PASSED
        );
        assert_eq!(value(&text, &passed), 6.0);
        assert_eq!(w(names::PACKETS_RECEIVED, 1), 1.0);
        assert_eq!(w(names::BYTES_RETURNED, 1), 9000.0);

        // The histogram: batches of 3 and 64 on worker 0.
        let bucket = |worker: u32, le: &str| {
            value(
                &text,
                &format!(
                    "{}_bucket{{le=\"{le}\",worker=\"{worker}\"}}",
                    names::BATCH_SIZE
                ),
            )
        };
        assert_eq!(bucket(0, "2.0"), 0.0);
        assert_eq!(bucket(0, "4.0"), 1.0);
        assert_eq!(bucket(0, "32.0"), 1.0);
        assert_eq!(bucket(0, "64.0"), 2.0);
        assert_eq!(bucket(0, "+Inf"), 2.0);
        assert_eq!(bucket(1, "1.0"), 1.0);
        assert_eq!(w(&format!("{}_sum", names::BATCH_SIZE), 0), 67.0);
        assert_eq!(w(&format!("{}_count", names::BATCH_SIZE), 0), 2.0);
    }

    #[test]
    fn duplicate_reasons_are_one_series_and_out_of_range_reasons_count_as_other() {
        let mut small = Registry::default();
        let one = DataplaneMetrics::register(&mut small, 1, &["a", "a", OTHER_REASON]);
        assert_eq!(one.reasons(), &["a", OTHER_REASON]);
        let mut big = Registry::default();
        let many = DataplaneMetrics::register(&mut big, 1, &["a", "b", "c", "d"]);
        let foreign = many.reason("d").expect("registered");
        assert_eq!(foreign.index(), 3);
        one.worker(0).expect("worker 0").dropped(foreign, 4);
        let text = render(&small);
        assert_eq!(
            value(
                &text,
                "seawall_dataplane_drops_total{worker=\"0\",reason=\"other\"}"
            ),
            4.0
        );
        assert!(one.worker(1).is_none());
    }

    #[test]
    fn build_info_is_one_line() {
        let mut registry = Registry::default();
        register_build_info(&mut registry, "1.2.3");
        let text = render(&registry);
        assert_eq!(value(&text, "seawall_build_info{version=\"1.2.3\"}"), 1.0);
        assert!(text.contains("# TYPE seawall_build info\n"));
    }
}
