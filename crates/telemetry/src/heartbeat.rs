//! Worker heartbeats: the lock-free progress stamps that the health check reads, and the epoch
//! that turns the caller's `Instant`s into ticks.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};

use crate::dataplane::WorkerLabels;
use crate::padded::PaddedU64;

/// The process-wide start: a monotonic `Instant` and the wall-clock time it corresponds to, both read
/// once by the caller at start. Heartbeats are nanosecond ticks since [`Epoch::start`].
#[derive(Clone, Copy, Debug)]
pub struct Epoch {
    start: Instant,
    start_unix: Duration,
}

impl Epoch {
    /// `start` and `start_unix` should be read together, e.g. `Epoch::new(Instant::now(), SystemTime::now())`.
    /// A `start_unix` before 1970 is taken as 1970.
    pub fn new(start: Instant, start_unix: SystemTime) -> Self {
        let start_unix = start_unix
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        Epoch { start, start_unix }
    }

    /// The monotonic start.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// Nanoseconds from the start to `now` (0 if `now` is earlier; saturates after 584 years).
    #[inline]
    pub fn ticks(&self, now: Instant) -> u64 {
        let nanos = now.saturating_duration_since(self.start).as_nanos();
        u64::try_from(nanos).unwrap_or(u64::MAX)
    }

    /// The Unix time, in seconds, of a tick. Derived from the monotonic clock, so it ignores wall-clock
    /// steps after the start: good enough for a "last seen" gauge.
    pub fn unix_seconds(&self, ticks: u64) -> f64 {
        (self.start_unix + Duration::from_nanos(ticks)).as_secs_f64()
    }
}

/// One worker's progress stamp: the tick (see [`Epoch::ticks`]) of its last loop iteration.
///
/// Clones share the stamp. [`beat`](Heartbeat::beat) is a single relaxed atomic store on a cache line
/// of its own: lock-free, wait-free and allocation-free, so a worker calls it once per loop iteration
/// (after each batch, and after each receive timeout so that an idle worker stays healthy).
#[derive(Clone, Debug, Default)]
pub struct Heartbeat(Arc<PaddedU64>);

impl Heartbeat {
    /// A heartbeat stamped at tick 0, the epoch's start.
    pub fn new() -> Self {
        Self::default()
    }

    /// Record progress at tick `now`.
    #[inline]
    pub fn beat(&self, now: u64) {
        self.0 .0.store(now, Ordering::Relaxed);
    }

    /// The tick of the last beat.
    #[inline]
    pub fn last(&self) -> u64 {
        self.0 .0.load(Ordering::Relaxed)
    }

    /// How long ago, at tick `now`, the last beat was (zero if it is in the future).
    pub fn stalled_for(&self, now: u64) -> Duration {
        Duration::from_nanos(now.saturating_sub(self.last()))
    }
}

/// The heartbeats of all workers (index = worker index) with their epoch. Clones share the stamps.
#[derive(Clone)]
pub struct Heartbeats {
    epoch: Epoch,
    beats: Arc<[Heartbeat]>,
}

impl fmt::Debug for Heartbeats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Heartbeats")
            .field("epoch", &self.epoch)
            .field(
                "last",
                &self.beats.iter().map(Heartbeat::last).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Heartbeats {
    /// `workers` heartbeats, all stamped at the epoch's start, not registered anywhere.
    pub fn new(epoch: Epoch, workers: usize) -> Self {
        Heartbeats {
            epoch,
            beats: (0..workers).map(|_| Heartbeat::new()).collect(),
        }
    }

    /// As [`Heartbeats::new`], and export the gauge
    /// `seawall_dataplane_last_progress_timestamp_seconds{worker}` (the Unix time of each worker's
    /// last beat) on `registry`.
    pub fn register(registry: &mut Registry, epoch: Epoch, workers: usize) -> Self {
        let beats = Self::new(epoch, workers);
        registry.register_collector(Box::new(ProgressCollector(beats.clone())));
        beats
    }

    /// The epoch the ticks count from.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// Number of workers.
    pub fn len(&self) -> usize {
        self.beats.len()
    }

    /// True when there are no workers.
    pub fn is_empty(&self) -> bool {
        self.beats.is_empty()
    }

    /// Worker `index`'s heartbeat (clone it to move it into the worker).
    pub fn get(&self, index: usize) -> Option<&Heartbeat> {
        self.beats.get(index)
    }

    /// All heartbeats, by worker index.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &Heartbeat> {
        self.beats.iter()
    }
}

/// Encodes the heartbeats as a gauge at scrape time, so the worker's beat is the only write.
#[derive(Debug)]
struct ProgressCollector(Heartbeats);

impl Collector for ProgressCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let mut family = encoder.encode_descriptor(
            "seawall_dataplane_last_progress_timestamp",
            "Unix time of the worker's last loop iteration (heartbeat).",
            Some(&Unit::Seconds),
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        for (worker, beat) in self.0.iter().enumerate() {
            let labels = WorkerLabels { worker };
            let gauge = ConstGauge::new(self.0.epoch.unix_seconds(beat.last()));
            gauge.encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch() -> (Epoch, Instant) {
        #[allow(clippy::disallowed_methods)] // tests need some real Instant to start from
        let start = Instant::now();
        (
            Epoch::new(start, UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
            start,
        )
    }

    #[test]
    fn ticks_are_nanoseconds_since_start_and_saturate_before_it() {
        let (epoch, start) = epoch();
        assert_eq!(epoch.ticks(start), 0);
        assert_eq!(
            epoch.ticks(start + Duration::from_millis(1500)),
            1_500_000_000
        );
        let later = Epoch::new(start + Duration::from_secs(1), UNIX_EPOCH);
        assert_eq!(later.ticks(start), 0);
        assert_eq!(epoch.unix_seconds(1_500_000_000), 1_700_000_001.5);
    }

    #[test]
    fn clones_share_the_stamp() {
        let (epoch, _) = epoch();
        let beats = Heartbeats::new(epoch, 2);
        let mine = beats.get(1).expect("two workers").clone();
        mine.beat(7_000);
        assert_eq!(beats.get(1).expect("two workers").last(), 7_000);
        assert_eq!(beats.get(0).expect("two workers").last(), 0);
        assert_eq!(
            beats.get(1).expect("two workers").stalled_for(10_000),
            Duration::from_nanos(3_000)
        );
        assert_eq!(mine.stalled_for(1_000), Duration::ZERO);
        assert_eq!(beats.len(), 2);
        assert!(beats.get(2).is_none());
    }

    #[test]
    fn gauge_reports_unix_time_of_last_beat() {
        let (epoch, _) = epoch();
        let mut registry = Registry::default();
        let beats = Heartbeats::register(&mut registry, epoch, 2);
        beats.get(0).expect("worker 0").beat(2_250_000_000);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
        let expected = "# HELP seawall_dataplane_last_progress_timestamp_seconds Unix time of the worker's last loop iteration (heartbeat).\n\
# TYPE seawall_dataplane_last_progress_timestamp_seconds gauge\n\
# UNIT seawall_dataplane_last_progress_timestamp_seconds seconds\n\
seawall_dataplane_last_progress_timestamp_seconds{worker=\"0\"} 1700000002.25\n\
seawall_dataplane_last_progress_timestamp_seconds{worker=\"1\"} 1700000000.0\n\
# EOF\n";
        assert_eq!(text, expected);
    }
}
