//! A lock-free histogram of small integers (batch sizes).
//!
//! `prometheus_client::metrics::histogram::Histogram` takes a mutex on every `observe`, which a scrape
//! can hold while a worker wants to record a batch. This one is a fixed array of atomics written by
//! its worker only and read by the scrape: `observe` is a binary search over a few bounds and three
//! relaxed atomic adds. A scrape racing an `observe` may see the bucket without the sum (or the
//! reverse) for that one scrape; `_count` is computed from the buckets, so `_count` and the `+Inf`
//! bucket always agree.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};

/// Upper bounds of the batch-size buckets; `+Inf` is implicit. A batch is 1..=N datagrams with N
/// typically 32 or 64.
pub(crate) const BATCH_SIZE_BOUNDS: [u64; 8] = [1, 2, 4, 8, 16, 32, 64, 128];
const BUCKETS: usize = BATCH_SIZE_BOUNDS.len() + 1;

#[repr(align(128))]
#[derive(Default)]
struct Inner {
    /// Non-cumulative counts; the last one is `+Inf`.
    buckets: [AtomicU64; BUCKETS],
    sum: AtomicU64,
}

/// A histogram of batch sizes with the fixed bounds [`BATCH_SIZE_BOUNDS`]. Clones share the counts.
#[derive(Clone, Default)]
pub(crate) struct BatchSizeHistogram(Arc<Inner>);

impl BatchSizeHistogram {
    /// Record one batch of `size` datagrams.
    #[inline]
    pub(crate) fn observe(&self, size: u64) {
        let bucket = BATCH_SIZE_BOUNDS.partition_point(|&bound| bound < size);
        self.0.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.0.sum.fetch_add(size, Ordering::Relaxed);
    }

    fn snapshot(&self) -> (u64, [(f64, u64); BUCKETS]) {
        let mut buckets = [(f64::INFINITY, 0); BUCKETS];
        for (i, slot) in buckets.iter_mut().enumerate() {
            if let Some(&bound) = BATCH_SIZE_BOUNDS.get(i) {
                // Bounds are small integers, exactly representable.
                slot.0 = bound as f64;
            }
            slot.1 = self.0.buckets[i].load(Ordering::Relaxed);
        }
        (self.0.sum.load(Ordering::Relaxed), buckets)
    }
}

impl fmt::Debug for BatchSizeHistogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (sum, buckets) = self.snapshot();
        f.debug_struct("BatchSizeHistogram")
            .field("sum", &sum)
            .field("buckets", &buckets)
            .finish()
    }
}

impl TypedMetric for BatchSizeHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for BatchSizeHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), fmt::Error> {
        let (sum, buckets) = self.snapshot();
        let count = buckets.iter().map(|b| b.1).sum();
        // Sums of batch sizes stay far below 2^53, where f64 is exact.
        encoder.encode_histogram::<NoLabelSet>(sum as f64, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_the_first_bucket_at_or_above() {
        let h = BatchSizeHistogram::default();
        for size in [1, 2, 3, 64, 65, 200] {
            h.observe(size);
        }
        let (sum, buckets) = h.snapshot();
        assert_eq!(sum, 1 + 2 + 3 + 64 + 65 + 200);
        let counts: Vec<u64> = buckets.iter().map(|b| b.1).collect();
        assert_eq!(counts, [1, 1, 1, 0, 0, 0, 1, 1, 1]);
        assert_eq!(buckets[6].0, 64.0);
        assert!(buckets[8].0.is_infinite());
    }
}
