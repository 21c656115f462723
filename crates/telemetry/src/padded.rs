//! Cache-line-padded atomics, so that two workers' counters never share a cache line (no false
//! sharing between cores on the hot path). 128 bytes covers adjacent-line prefetching on x86-64 and
//! the 128-byte lines of some ARM cores (the same choice as crossbeam's `CachePadded`).

use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::metrics::counter::Atomic;

/// An `AtomicU64` alone on its (128-byte) cache line.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct PaddedU64(pub(crate) AtomicU64);

impl Atomic<u64> for PaddedU64 {
    #[inline]
    fn inc(&self) -> u64 {
        self.inc_by(1)
    }

    #[inline]
    fn inc_by(&self, v: u64) -> u64 {
        self.0.fetch_add(v, Ordering::Relaxed)
    }

    #[inline]
    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// An `f64` stored as bits in an `AtomicU64`, alone on its cache line.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct PaddedF64(AtomicU64);

impl Atomic<f64> for PaddedF64 {
    #[inline]
    fn inc(&self) -> f64 {
        self.inc_by(1.0)
    }

    #[inline]
    fn inc_by(&self, v: f64) -> f64 {
        // One writer per counter in practice, so the loop runs once; it stays correct with more.
        let prev = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + v).to_bits())
            })
            .unwrap_or_else(|bits| bits);
        f64::from_bits(prev)
    }

    #[inline]
    fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_values_are_alone_on_their_line() {
        assert_eq!(std::mem::align_of::<PaddedU64>(), 128);
        assert_eq!(std::mem::size_of::<PaddedU64>(), 128);
        assert_eq!(std::mem::align_of::<PaddedF64>(), 128);
    }

    #[test]
    fn f64_adds_accumulate() {
        let a = PaddedF64::default();
        assert_eq!(a.inc_by(0.25), 0.0);
        assert_eq!(a.inc_by(0.5), 0.25);
        assert_eq!(a.get(), 0.75);
        let b = PaddedU64::default();
        b.inc();
        b.inc_by(41);
        assert_eq!(b.get(), 42);
    }
}
