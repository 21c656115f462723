//! seawall-dataplane: the per-core workers that carry GWLB traffic.
//!
//! One [`Worker`] per core, each a plain OS thread with its own `SO_REUSEPORT` socket
//! ([`seawall_io::WorkerSocket`]); the kernel's reuseport BPF program steers both directions of an
//! inner flow to the same worker. A worker loops: receive a batch (`recvmmsg`) → classify every
//! datagram ([`classify`]: size, source allow-list, GENEVE and AWS options, inner packet) → send the
//! kept datagrams back unchanged from the address they arrived on (`sendmmsg`) → count.
//!
//! With inspection ([`Dataplane::start_with`] and an [`inline::InlineSetup`]), every valid
//! datagram's inner packet also goes through the worker's [`inspect::Inspector`] of the profile its
//! GWLB endpoint selects ([`policy`]); in IPS mode a `drop`/`reject` verdict keeps the datagram
//! from going back and a reject injects a reset riding the flow's latest GENEVE header
//! ([`headers`]); alerts leave through a bounded queue to the evidence thread ([`evidence`]).
//! Without it ([`Dataplane::start`]) every valid datagram is passed, byte for byte.
//!
//! Architecture invariants:
//! * The per-packet path allocates nothing, takes no lock shared between workers and logs nothing:
//!   outcomes are counters ([`seawall_telemetry::WorkerMetrics`]) updated once per batch.
//! * A datagram is returned exactly as received: the GENEVE header is never re-serialised.
//! * Malformed input is a counted drop (or, for a bad inner packet with `malformed_inner = pass`, a
//!   counted pass), never a panic.
#![forbid(unsafe_code)]

pub mod dropped;
pub mod evidence;
pub mod headers;
pub mod inline;
pub mod inspect;
pub mod policy;

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ipnet::Ipv4Net;
use seawall_io::{Batch, SocketOptions, WorkerSocket};
use seawall_telemetry::{DropReason, Epoch, Heartbeat, Heartbeats, WorkerMetrics};
use serde::{Deserialize, Serialize};

/// Drop reasons of the data plane beyond [`seawall_wire::Error::reason`].
pub mod reason {
    /// The datagram came from an address outside `dataplane.allow_sources`.
    pub const NOT_ALLOWED: &str = "not_allowed";
    /// The datagram was larger than the receive buffer (`dataplane.buffer_size`).
    pub const OVERSIZE: &str = "oversize";
    /// The datagram was to be returned but the send failed (buffer full, no route, …).
    pub const SEND_FAILED: &str = "send_failed";
    /// IPS: the engine's verdict was drop (the rule, or an earlier drop of the flow).
    pub const VERDICT_DROP: &str = "verdict_drop";
    /// IPS: the engine's verdict was reject (the reset was injected separately).
    pub const VERDICT_REJECT: &str = "verdict_reject";
    /// A fragment the defragmenter had no room for, dropped by the fail-closed exception policy.
    pub const DEFRAG_EXCEPTION: &str = "defrag_memcap";
}

/// Every drop reason label the data plane can count, for pre-creating the counters.
pub fn drop_reasons() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = vec![
        reason::NOT_ALLOWED,
        reason::OVERSIZE,
        reason::SEND_FAILED,
        reason::VERDICT_DROP,
        reason::VERDICT_REJECT,
        reason::DEFRAG_EXCEPTION,
    ];
    v.extend(seawall_wire::Error::ALL.iter().map(|e| e.reason()));
    v
}

/// Where an alerting packet came from, as Suricata 7.0.10's EVE says it: the record's `pkt_src`
/// and, for a packet decapsulated from a tunnel or rebuilt from fragments, the `tunnel` object
/// (the root packet: the outermost captured one, or the fragment that completed the rebuilt
/// packet, with its ports as 0 since Suricata does not decode ports of fragments).
pub mod eve_source {
    use core::net::IpAddr;

    use seawall_evidence::{PktSrc, TunnelRecord};
    use seawall_flow::tunnel::TunnelKind;

    use crate::inspect::{AlertEvent, TunnelInfo};

    /// The `pkt_src` of a packet decapsulated from a `kind` tunnel (Suricata names the decoder).
    pub const fn tunnel_pkt_src(kind: TunnelKind) -> PktSrc {
        match kind {
            TunnelKind::Gre | TunnelKind::Pptp | TunnelKind::ErspanI | TunnelKind::ErspanII => {
                PktSrc::Gre
            }
            TunnelKind::Vxlan => PktSrc::Vxlan,
            TunnelKind::Geneve | TunnelKind::GeneveGwlb => PktSrc::Geneve,
            TunnelKind::Teredo => PktSrc::Teredo,
            TunnelKind::Ipv6InIpv4 => PktSrc::Ipv4Tunnel,
            TunnelKind::Ipv4InIpv6 | TunnelKind::Ipv6InIpv6 => PktSrc::Ipv6Tunnel,
            // A kind added to `TunnelKind` later: give it its decoder's name here.
            _ => PktSrc::Wire,
        }
    }

    fn root(t: &TunnelInfo, frame_cnt: u64) -> TunnelRecord {
        TunnelRecord {
            src_ip: t.root.src,
            src_port: t.root.src_port,
            dest_ip: t.root.dst,
            dest_port: t.root.dst_port,
            proto: t.root.ip_proto,
            depth: t.depth,
            // A carrier rebuilt from fragments has no number of its own: the frame that
            // completed it is the root.
            pcap_cnt: if t.root_pcap_cnt != 0 {
                t.root_pcap_cnt
            } else {
                frame_cnt
            },
            pkt_src: PktSrc::Wire,
        }
    }

    /// `pkt_src` and `tunnel` of the record for `ev`; `frame_cnt` is the capture number of the
    /// frame whose processing raised `ev` (0 when live or at the end of the input).
    pub fn of(ev: &AlertEvent<'_>, frame_cnt: u64) -> (PktSrc, Option<TunnelRecord>) {
        if ev.reassembled {
            let tunnel = match &ev.tunnel {
                Some(t) => root(t, frame_cnt),
                None => TunnelRecord {
                    src_ip: ev.pkt.src,
                    src_port: 0,
                    dest_ip: ev.pkt.dst,
                    dest_port: 0,
                    // An IPv6 fragment's protocol is its fragment header's.
                    proto: match ev.pkt.src {
                        IpAddr::V4(_) => ev.pkt.ip_proto,
                        IpAddr::V6(_) => 44,
                    },
                    depth: 0,
                    pcap_cnt: frame_cnt,
                    pkt_src: PktSrc::Wire,
                },
            };
            return (PktSrc::Defrag, Some(tunnel));
        }
        if let Some(t) = &ev.tunnel {
            return (tunnel_pkt_src(t.kind), Some(root(t, frame_cnt)));
        }
        // Only the flow-end pseudo packets have no bytes.
        if ev.l3.is_empty() {
            return (PktSrc::FlowTimeout, None);
        }
        (PktSrc::Wire, None)
    }
}

/// `[dataplane]` section of the config file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataplaneConfig {
    /// Address and port GWLB sends GENEVE to.
    pub listen: SocketAddrV4,
    /// Worker threads, one socket each; 0 means one per core.
    pub workers: usize,
    /// Datagrams per recvmmsg/sendmmsg call.
    pub batch_size: usize,
    /// Receive buffer per datagram; larger datagrams are dropped as `oversize`.
    pub buffer_size: usize,
    /// Socket receive and send buffer sizes, in bytes (best effort).
    pub socket_buffer_bytes: usize,
    /// Keep both directions of an inner flow on one worker with the reuseport BPF program.
    pub steering: bool,
    /// Pin worker N to core N (modulo the core count).
    pub pin_cores: bool,
    /// CIDRs of the GWLB nodes allowed to send GENEVE; empty accepts any source (a warning at start).
    pub allow_sources: Vec<Ipv4Net>,
    /// What happens to a valid GENEVE datagram whose inner packet cannot be decoded. Unset: pass
    /// in IDS mode, drop in IPS mode (the profile's `detect.exception_policy` decides).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub malformed_inner: Option<MalformedPolicy>,
}

impl Default for DataplaneConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, seawall_wire::GENEVE_PORT),
            workers: 0,
            batch_size: seawall_io::DEFAULT_BATCH_SIZE,
            buffer_size: seawall_io::DEFAULT_BUF_SIZE,
            socket_buffer_bytes: 16 << 20,
            steering: true,
            pin_cores: false,
            allow_sources: Vec::new(),
            malformed_inner: None,
        }
    }
}

impl DataplaneConfig {
    /// Worker count with `0` resolved to the number of cores.
    pub fn worker_count(&self) -> usize {
        match self.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }

    /// Checks values that types alone cannot; the error names the key.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=seawall_io::MAX_BATCH_SIZE).contains(&self.batch_size) {
            return Err(format!(
                "dataplane.batch_size: must be 1..={}, got {}",
                seawall_io::MAX_BATCH_SIZE,
                self.batch_size
            ));
        }
        if !(1500..=65535).contains(&self.buffer_size) {
            return Err(format!(
                "dataplane.buffer_size: must be 1500..=65535 bytes, got {}",
                self.buffer_size
            ));
        }
        if self.workers > 1024 {
            return Err(format!(
                "dataplane.workers: must be 0 (one per core) ..=1024, got {}",
                self.workers
            ));
        }
        Ok(())
    }
}

/// Policy for inner packets that cannot be decoded (the GENEVE header itself was valid).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MalformedPolicy {
    /// Return the datagram unchanged and count it (IDS behaviour, the default).
    Pass,
    /// Drop the datagram and count it (fail closed).
    Drop,
}

/// The GWLB source allow-list; empty accepts every source.
#[derive(Debug, Clone, Default)]
pub struct AllowList(Vec<Ipv4Net>);

impl AllowList {
    /// An allow-list of these CIDRs.
    pub fn new(nets: Vec<Ipv4Net>) -> Self {
        Self(nets)
    }

    /// True when the list is empty (every source accepted).
    pub fn is_open(&self) -> bool {
        self.0.is_empty()
    }

    /// True when `addr` may send GENEVE.
    #[inline]
    pub fn allows(&self, addr: Ipv4Addr) -> bool {
        self.0.is_empty() || self.0.iter().any(|n| n.contains(&addr))
    }
}

/// What a worker does with one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Return it unchanged.
    Pass,
    /// Return it unchanged, but its inner packet could not be decoded (counted under this reason).
    PassMalformed(&'static str),
    /// Send nothing; count under this reason.
    Drop(&'static str),
}

/// The per-datagram decision: size, source, GENEVE + AWS options, inner packet. Pure, allocation-free.
#[inline]
pub fn classify(
    payload: &[u8],
    peer: Ipv4Addr,
    truncated: bool,
    allow: &AllowList,
    malformed_inner: MalformedPolicy,
) -> Verdict {
    if truncated {
        return Verdict::Drop(reason::OVERSIZE);
    }
    if !allow.allows(peer) {
        return Verdict::Drop(reason::NOT_ALLOWED);
    }
    let frame = match seawall_wire::parse_gwlb(payload) {
        Ok(f) => f,
        Err(e) => return Verdict::Drop(e.reason()),
    };
    match seawall_wire::decode_inner(frame.protocol, frame.inner) {
        Ok(_) => Verdict::Pass,
        Err(e) => match malformed_inner {
            MalformedPolicy::Pass => Verdict::PassMalformed(e.reason()),
            MalformedPolicy::Drop => Verdict::Drop(e.reason()),
        },
    }
}

/// State shared between the workers and their owner: written by one side, read by the other, never
/// locked.
#[derive(Debug)]
struct Shared {
    stop: AtomicBool,
    /// Per worker: epoch ticks of the last received datagram (0 = none yet).
    last_rx: Vec<AtomicU64>,
    /// Per worker: epoch ticks until which the worker must stall (fault injection for tests).
    stall_until: Vec<AtomicU64>,
}

/// Resolved per-reason counter handles, so counting a drop is an index.
#[derive(Debug, Clone)]
struct Reasons {
    labels: Vec<&'static str>,
    resolved: Vec<DropReason>,
}

impl Reasons {
    fn new(metrics: &WorkerMetrics) -> Self {
        let labels = drop_reasons();
        let resolved = labels.iter().map(|l| metrics.reason(l)).collect();
        Self { labels, resolved }
    }

    #[inline]
    fn get(&self, label: &'static str) -> usize {
        // Labels are `&'static str` constants: compare pointers first, then text.
        self.labels
            .iter()
            .position(|l| std::ptr::eq(*l, label) || *l == label)
            .unwrap_or(0)
    }
}

/// One worker: a socket, a batch, and the counters it alone writes.
pub struct Worker {
    index: usize,
    socket: WorkerSocket,
    batch: Batch,
    keep: Vec<bool>,
    metrics: WorkerMetrics,
    reasons: Reasons,
    /// Per batch: drops by reason index; zeroed after each batch.
    drop_counts: Vec<u64>,
    /// Per batch: malformed inner packets passed, by reason index; zeroed after each batch.
    passed_counts: Vec<u64>,
    heartbeat: Heartbeat,
    epoch: Epoch,
    allow: AllowList,
    malformed_inner: MalformedPolicy,
    shared: Arc<Shared>,
    inline: Option<inline::Inline>,
}

/// How long a worker waits for packets before it beats its heartbeat anyway.
const IDLE_WAKE: Duration = Duration::from_millis(50);

impl Worker {
    /// The receive → classify → send loop, until the data plane is stopped.
    ///
    /// # Errors
    /// A socket error other than a timeout or an interrupted call.
    pub fn run(mut self) -> io::Result<()> {
        while !self.shared.stop.load(Ordering::Relaxed) {
            self.heartbeat.beat(self.epoch.ticks(Instant::now()));
            self.maybe_stall();
            let n = self.socket.recv_batch(&mut self.batch, IDLE_WAKE)?;
            if let Some(inline) = &mut self.inline {
                // A batch boundary: install a reloaded rule set; expire idle flows when idle.
                inline.refresh(n == 0);
            }
            if n == 0 {
                continue;
            }
            let started = Instant::now();
            self.shared.last_rx[self.index]
                .store(self.epoch.ticks(started).max(1), Ordering::Relaxed);
            self.process(n)?;
            self.metrics.busy(started.elapsed());
        }
        Ok(())
    }

    fn process(&mut self, n: usize) -> io::Result<()> {
        let mut bytes_in = 0u64;
        let mut bytes_out = 0u64;
        let mut kept = 0u64;
        let inspect_started = self.inline.is_some().then(Instant::now);
        let ts = inline::Inline::batch_time();
        for i in 0..n {
            let payload = self.batch.payload(i);
            bytes_in += payload.len() as u64;
            let verdict = match &mut self.inline {
                Some(inline) => inline.packet(
                    payload,
                    self.batch.peer(i),
                    self.batch.local(i),
                    self.batch.truncated(i),
                    &self.allow,
                    &self.socket,
                    ts,
                ),
                None => classify(
                    payload,
                    *self.batch.peer(i).ip(),
                    self.batch.truncated(i),
                    &self.allow,
                    self.malformed_inner,
                ),
            };
            let keep = match verdict {
                Verdict::Pass => true,
                Verdict::PassMalformed(r) => {
                    let idx = self.reasons.get(r);
                    self.passed_counts[idx] += 1;
                    true
                }
                Verdict::Drop(r) => {
                    let idx = self.reasons.get(r);
                    self.drop_counts[idx] += 1;
                    false
                }
            };
            if keep {
                kept += 1;
                bytes_out += payload.len() as u64;
            }
            self.keep[i] = keep;
        }
        if let (Some(inline), Some(t)) = (&mut self.inline, inspect_started) {
            inline.end_batch(t.elapsed());
        }
        // Count what was received and decided before anything leaves, so that a peer that sees a
        // reply also sees it counted.
        self.metrics.received_batch(n as u64, bytes_in);
        self.flush_counts();
        let sent = if kept > 0 {
            self.socket.send_back(&self.batch, &self.keep[..n])? as u64
        } else {
            0
        };
        if sent < kept {
            let idx = self.reasons.get(reason::SEND_FAILED);
            self.drop_counts[idx] += kept - sent;
            self.flush_counts();
        }
        // The socket does not report which messages failed, so bytes are counted only when every
        // kept datagram went out (failures are counted as drops above).
        self.metrics
            .returned(sent, if sent == kept { bytes_out } else { 0 });
        Ok(())
    }

    fn flush_counts(&mut self) {
        for (idx, count) in self.drop_counts.iter_mut().enumerate() {
            if *count > 0 {
                self.metrics.dropped(self.reasons.resolved[idx], *count);
                *count = 0;
            }
        }
        for (idx, count) in self.passed_counts.iter_mut().enumerate() {
            if *count > 0 {
                self.metrics
                    .malformed_passed(self.reasons.resolved[idx], *count);
                *count = 0;
            }
        }
    }

    fn maybe_stall(&self) {
        let until = self.shared.stall_until[self.index].load(Ordering::Relaxed);
        if until == 0 {
            return;
        }
        while self.epoch.ticks(Instant::now()) < until && !self.shared.stop.load(Ordering::Relaxed)
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        self.shared.stall_until[self.index].store(0, Ordering::Relaxed);
    }
}

/// The running workers.
pub struct Dataplane {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<io::Result<()>>>,
    local: SocketAddrV4,
    epoch: Epoch,
}

impl std::fmt::Debug for Dataplane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dataplane")
            .field("workers", &self.threads.len())
            .field("local", &self.local)
            .finish()
    }
}

impl Dataplane {
    /// Binds one socket per worker (a steered reuseport group), then starts the workers.
    ///
    /// `metrics` must have been registered for at least `cfg.worker_count()` workers with
    /// [`drop_reasons`]; `heartbeats` likewise.
    ///
    /// # Errors
    /// Binding the sockets or attaching the steering program fails; a thread cannot be spawned.
    pub fn start(
        cfg: &DataplaneConfig,
        metrics: &seawall_telemetry::DataplaneMetrics,
        heartbeats: &Heartbeats,
    ) -> io::Result<Self> {
        Self::start_with(cfg, metrics, heartbeats, None)
    }

    /// [`Dataplane::start`] with inline inspection when `inline` is given: every worker builds
    /// its inspectors (one per profile) before its socket is bound.
    ///
    /// # Errors
    /// As [`Dataplane::start`]; an inspector cannot be built (flow table settings).
    pub fn start_with(
        cfg: &DataplaneConfig,
        metrics: &seawall_telemetry::DataplaneMetrics,
        heartbeats: &Heartbeats,
        inline: Option<&inline::InlineSetup>,
    ) -> io::Result<Self> {
        let n = cfg.worker_count();
        let mut inlines = Vec::with_capacity(n);
        if let Some(setup) = inline {
            for index in 0..n {
                let dm = setup.metrics.worker(index).ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "inspection metrics registered for too few workers",
                    )
                })?;
                let i = inline::Inline::new(setup, index, dm)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
                inlines.push(Some(i));
            }
        } else {
            inlines.resize_with(n, || None);
        }
        let mut inlines = inlines.into_iter();
        let opts = SocketOptions::default()
            .with_reuse_port(true)
            .with_buffers(cfg.socket_buffer_bytes, cfg.socket_buffer_bytes);
        let sockets = if cfg.steering {
            seawall_io::bind_group(cfg.listen, n, &opts)?
        } else {
            let first = WorkerSocket::bind(cfg.listen, &opts)?;
            let bound = first.local_addr();
            let mut v = vec![first];
            for _ in 1..n {
                v.push(WorkerSocket::bind(bound, &opts)?);
            }
            v
        };
        let local = sockets[0].local_addr();
        let epoch = heartbeats.epoch();
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            last_rx: (0..n).map(|_| AtomicU64::new(0)).collect(),
            stall_until: (0..n).map(|_| AtomicU64::new(0)).collect(),
        });
        let cores = if cfg.pin_cores {
            core_affinity::get_core_ids().unwrap_or_default()
        } else {
            Vec::new()
        };
        let allow = AllowList::new(cfg.allow_sources.clone());
        let mut threads = Vec::with_capacity(n);
        for (index, socket) in sockets.into_iter().enumerate() {
            let wm = metrics.worker(index).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "metrics registered for too few workers",
                )
            })?;
            let heartbeat = heartbeats.get(index).cloned().ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "heartbeats created for too few workers",
                )
            })?;
            let reasons = Reasons::new(&wm);
            let worker = Worker {
                index,
                socket,
                batch: Batch::new(cfg.batch_size, cfg.buffer_size),
                keep: vec![false; cfg.batch_size],
                drop_counts: vec![0; reasons.labels.len()],
                passed_counts: vec![0; reasons.labels.len()],
                metrics: wm,
                reasons,
                heartbeat,
                epoch,
                allow: allow.clone(),
                malformed_inner: cfg.malformed_inner.unwrap_or(MalformedPolicy::Pass),
                shared: Arc::clone(&shared),
                inline: inlines.next().flatten(),
            };
            let core = (!cores.is_empty()).then(|| cores[index % cores.len()]);
            let handle = std::thread::Builder::new()
                .name(format!("seawall-worker-{index}"))
                .spawn(move || {
                    if let Some(core) = core {
                        core_affinity::set_for_current(core);
                    }
                    worker.run()
                })?;
            threads.push(handle);
        }
        Ok(Self {
            shared,
            threads,
            local,
            epoch,
        })
    }

    /// The address the workers are bound to (useful with port 0).
    pub fn local_addr(&self) -> SocketAddrV4 {
        self.local
    }

    /// Number of workers.
    pub fn workers(&self) -> usize {
        self.threads.len()
    }

    /// How long since any worker last received a datagram (since start if none has).
    pub fn idle_for(&self, now: Instant) -> Duration {
        let last = self
            .shared
            .last_rx
            .iter()
            .map(|t| t.load(Ordering::Relaxed))
            .max()
            .unwrap_or(0);
        Duration::from_nanos(self.epoch.ticks(now).saturating_sub(last))
    }

    /// True when a worker thread has ended (a socket error or a panic).
    pub fn any_worker_exited(&self) -> bool {
        self.threads.iter().any(JoinHandle::is_finished)
    }

    /// Fault injection: makes worker `index` stop making progress for `duration` (health tests).
    pub fn stall_worker(&self, index: usize, duration: Duration) {
        if let Some(slot) = self.shared.stall_until.get(index) {
            let until = self.epoch.ticks(Instant::now() + duration).max(1);
            slot.store(until, Ordering::Relaxed);
        }
    }

    /// Stops the workers and waits for them; returns the first worker error.
    ///
    /// # Errors
    /// A worker ended with a socket error, or panicked.
    pub fn stop(self) -> io::Result<()> {
        self.shared.stop.store(true, Ordering::Relaxed);
        let mut first = Ok(());
        for t in self.threads {
            let r = t
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("worker thread panicked")));
            if first.is_ok() {
                first = r;
            }
        }
        first
    }
}

#[cfg(test)]
mod tests;
