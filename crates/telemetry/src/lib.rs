//! Observability layer of Seawall: the Prometheus metric families, the per-worker heartbeats that the
//! health check reads, and the tracing (structured log) setup.
//!
//! This crate sits beside the packet path, not on it: it depends on no other Seawall crate, does no
//! I/O except installing the global tracing subscriber ([`init_tracing`]), and never reads the clock.
//! Time comes in from the caller, as an [`Epoch`] taken once at start and as nanosecond ticks since
//! that epoch ([`Epoch::ticks`]).
//!
//! The hot path only touches handles resolved once per worker at start: [`WorkerMetrics`] (clones of
//! the counters' `Arc<AtomicU64>`s and a lock-free histogram) and [`Heartbeat`] (one `AtomicU64`).
//! Every hot-path operation is a relaxed atomic add, store or compare-exchange on memory written by
//! one worker only: no lock, no allocation, no shared cache line between workers' counters. The
//! scrape (`prometheus_client::encoding::text::encode`) only reads those atomics, so it never stalls
//! a worker.
//!
//! Metric names follow `seawall_<subsystem>_<name>_<unit>[_total]` with bounded labels: the worker
//! index and, for drops, a reason from a list fixed at start. The exact names are in [`names`].
#![forbid(unsafe_code)]

mod dataplane;
mod decode;
mod detect;
mod heartbeat;
mod histogram;
mod logging;
mod padded;

pub use dataplane::{
    register_build_info, DataplaneMetrics, DropReason, WorkerMetrics, OTHER_REASON,
};
pub use decode::{DecodeFamily, DecodeWorkerMetrics, MAX_LABELS as DECODE_MAX_LABELS};
pub use detect::{
    AlertCounts, DetectMetrics, DetectWorkerMetrics, Exceptions, FlowTotals, TimeHistogram,
    Verdicts, ALERT_ACTIONS, EVICT_REASONS, EXCEPTION_ACTIONS, EXCEPTION_REASONS, INJECT_FAILURES,
    INJECT_SKIPS, VERDICT_ACTIONS,
};
pub use heartbeat::{Epoch, Heartbeat, Heartbeats};
pub use logging::{init_tracing, TracingError};

/// Re-export, so that users name the same `prometheus-client` version as this crate.
pub use prometheus_client;

/// The exposed metric names, as they appear in the OpenMetrics text (counters with `_total`).
pub mod names {
    /// Counter `{worker}`: GENEVE datagrams received from the network.
    pub const PACKETS_RECEIVED: &str = "seawall_dataplane_packets_received_total";
    /// Counter `{worker}`: bytes of the received GENEVE datagrams (UDP payload).
    pub const BYTES_RECEIVED: &str = "seawall_dataplane_bytes_received_total";
    /// Counter `{worker}`: datagrams sent back to the GWLB.
    pub const PACKETS_RETURNED: &str = "seawall_dataplane_packets_returned_total";
    /// Counter `{worker}`: bytes of the datagrams sent back to the GWLB (UDP payload).
    pub const BYTES_RETURNED: &str = "seawall_dataplane_bytes_returned_total";
    /// Counter `{worker, reason}`: datagrams dropped, by reason.
    pub const DROPS: &str = "seawall_dataplane_drops_total";
    /// Counter `{worker, reason}`: datagrams returned although their inner packet was malformed.
    pub const MALFORMED_PASSED: &str = "seawall_dataplane_malformed_passed_total";
    /// Counter `{worker}`: non-empty receive batches.
    pub const BATCHES_RECEIVED: &str = "seawall_dataplane_batches_received_total";
    /// Histogram `{worker}`: datagrams per receive batch (`_bucket`, `_sum`, `_count` series).
    pub const BATCH_SIZE: &str = "seawall_dataplane_batch_size_packets";
    /// Counter `{worker}`: seconds spent processing batches (not waiting for packets).
    pub const BUSY: &str = "seawall_dataplane_busy_seconds_total";
    /// Gauge `{worker}`: Unix time of the worker's last heartbeat.
    pub const LAST_PROGRESS: &str = "seawall_dataplane_last_progress_timestamp_seconds";
    /// Info `{version}`: always 1.
    pub const BUILD_INFO: &str = "seawall_build_info";
}
