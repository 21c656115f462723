//! Sending datagrams to the appliance and matching what comes back.
//!
//! A pool of K non-blocking UDP sockets plays GWLB's per-flow outer source ports: each datagram
//! leaves from socket `flow_socket_index % K` and the appliance must answer to that socket (it replies
//! to the sender's address and port). One thread drives everything with a `mio` poll loop:
//!
//! - pacing: `rate` datagrams per second (token schedule from the first send), or flat out;
//! - a bounded in-flight window, so that flat out never overruns socket buffers: a correct
//!   appliance returns 100 %. A datagram unanswered for `window_timeout` stops holding a window slot
//!   (it is still matched if it comes back later);
//! - verification: every received datagram is looked up by (socket, 64-bit SipHash of the bytes,
//!   length) among the sends still outstanding; identical datagrams are matched first-in first-out,
//!   so repeats are counted correctly. Latency is measured from send to receive.

use std::collections::{HashMap, VecDeque};
use std::hash::{DefaultHasher, Hasher};
use std::io::{self, IsTerminal};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};
use socket2::{Domain, Protocol, Socket, Type};

use crate::report::{LatencySummary, SimReport};
use crate::wrap::Datagram;
use crate::SimError;

/// Default maximum of datagrams in flight.
pub const DEFAULT_WINDOW: usize = 256;
/// Default time after which an unanswered datagram stops holding a window slot.
pub const DEFAULT_WINDOW_TIMEOUT: Duration = Duration::from_millis(500);
/// Default wait for returns after the last send.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// Default SO_RCVBUF / SO_SNDBUF request per socket (the kernel may cap it at rmem_max/wmem_max).
pub const DEFAULT_SOCKET_BUFFER: usize = 4 << 20;

/// Sends at most this many datagrams between two looks at the receive side.
const SEND_BURST: usize = 64;
/// Largest UDP payload.
const RECV_BUF: usize = 65_536;
/// How often a line of progress is printed when stderr is not a terminal.
const PROGRESS_LINE_EVERY: Duration = Duration::from_secs(5);

/// How [`exchange`] sends and waits.
#[derive(Debug, Clone, PartialEq)]
pub struct ExchangeOptions {
    /// Datagrams per second; `None` sends flat out (still bounded by `window`).
    pub rate: Option<u64>,
    /// Maximum datagrams sent and not yet returned (or expired).
    pub window: usize,
    /// An unanswered datagram stops counting against the window after this long.
    pub window_timeout: Duration,
    /// How long to wait for returns after the last send.
    pub timeout: Duration,
    /// Number of sockets (outer source ports).
    pub sockets: usize,
    /// Local address to bind; `None`: loopback when the target is loopback, else unspecified.
    pub bind: Option<IpAddr>,
    /// SO_RCVBUF / SO_SNDBUF to request per socket.
    pub socket_buffer: usize,
    /// Keep every received datagram in [`Exchange::received`].
    pub collect: bool,
    /// Show progress on stderr: a bar on a terminal, else a line every few seconds.
    pub progress: bool,
    /// Total datagrams expected (for the progress bar length).
    pub progress_total: Option<u64>,
}

impl Default for ExchangeOptions {
    fn default() -> Self {
        Self {
            rate: None,
            window: DEFAULT_WINDOW,
            window_timeout: DEFAULT_WINDOW_TIMEOUT,
            timeout: DEFAULT_TIMEOUT,
            sockets: crate::wrap::DEFAULT_SOCKETS,
            bind: None,
            socket_buffer: DEFAULT_SOCKET_BUFFER,
            collect: false,
            progress: false,
            progress_total: None,
        }
    }
}

/// How a received datagram was classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnKind {
    /// Byte-identical to an outstanding send on the same socket.
    Matched,
    /// From the target, but its bytes match nothing sent.
    Corrupt,
    /// Identical to a datagram sent on this socket that has already come back as often as it was sent.
    Duplicate,
    /// Identical to a datagram sent on another socket.
    Misdirected,
    /// From an address other than the target.
    Unexpected,
}

/// One received datagram (kept when [`ExchangeOptions::collect`] is set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// Index of the socket it arrived on.
    pub socket: usize,
    /// Its source address.
    pub from: SocketAddr,
    /// The UDP payload.
    pub bytes: Vec<u8>,
    /// The verdict.
    pub kind: ReturnKind,
}

/// Result of [`exchange`].
#[derive(Debug, Clone, Default)]
pub struct Exchange {
    /// Counters, rates and latency. Capture fields (`frames`, `flows`, ...) are left at 0.
    pub report: SimReport,
    /// Every received datagram, in arrival order, when collecting.
    pub received: Vec<Received>,
}

/// The simulator's outer sockets.
#[derive(Debug)]
pub struct SocketPool {
    sockets: Vec<UdpSocket>,
}

impl SocketPool {
    /// Binds `count` non-blocking UDP sockets to `ip` with ephemeral ports.
    pub fn bind(count: usize, ip: IpAddr, buffer: usize) -> Result<Self, SimError> {
        let mut sockets = Vec::with_capacity(count);
        for _ in 0..count.max(1) {
            let addr = SocketAddr::new(ip, 0);
            let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))
                .map_err(SimError::io("create udp socket"))?;
            // Best effort: the kernel caps these at net.core.{r,w}mem_max.
            let _ = s.set_recv_buffer_size(buffer);
            let _ = s.set_send_buffer_size(buffer);
            s.set_nonblocking(true)
                .map_err(SimError::io("set socket non-blocking"))?;
            s.bind(&addr.into())
                .map_err(SimError::io("bind simulator socket"))?;
            sockets.push(UdpSocket::from_std(s.into()));
        }
        Ok(Self { sockets })
    }

    /// Number of sockets.
    pub fn len(&self) -> usize {
        self.sockets.len()
    }

    /// Always false (a pool has at least one socket).
    pub fn is_empty(&self) -> bool {
        self.sockets.is_empty()
    }

    /// Local address of socket `i`.
    pub fn local_addr(&self, i: usize) -> io::Result<SocketAddr> {
        self.sockets[i].local_addr()
    }
}

/// The local address used when none is configured.
pub fn default_bind(target: SocketAddr) -> IpAddr {
    match (target.ip().is_loopback(), target) {
        (true, SocketAddr::V4(_)) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        (true, SocketAddr::V6(_)) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        (false, SocketAddr::V4(_)) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        (false, SocketAddr::V6(_)) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

/// Sends caller-supplied datagrams (e.g. malformed ones) and collects what came back.
///
/// Same as [`exchange`] with `collect` forced on.
pub fn send_datagrams(
    target: SocketAddr,
    datagrams: &[Datagram],
    opts: &ExchangeOptions,
) -> Result<Exchange, SimError> {
    let opts = ExchangeOptions {
        collect: true,
        progress_total: Some(datagrams.len() as u64),
        ..opts.clone()
    };
    exchange(target, datagrams.iter().cloned(), &opts)
}

/// Binds a socket pool, sends every datagram to `target` and matches the returns.
///
/// `flow_socket_index` is taken modulo the pool size. Returns when every datagram came back, or
/// `opts.timeout` after the last send.
pub fn exchange<I>(
    target: SocketAddr,
    datagrams: I,
    opts: &ExchangeOptions,
) -> Result<Exchange, SimError>
where
    I: IntoIterator<Item = Datagram>,
{
    if opts.window == 0 {
        return Err(SimError::Config {
            key: "window",
            message: "must be at least 1".into(),
        });
    }
    if opts.rate == Some(0) {
        return Err(SimError::Config {
            key: "rate",
            message: "must be at least 1 packet per second (omit it to send flat out)".into(),
        });
    }
    let bind = opts.bind.unwrap_or_else(|| default_bind(target));
    let pool = SocketPool::bind(opts.sockets, bind, opts.socket_buffer)?;
    let mut engine = Engine::new(target, pool, opts)?;
    engine.run(datagrams.into_iter())?;
    Ok(engine.finish())
}

const PENDING: u8 = 0;
const RETURNED: u8 = 1;
const EXPIRED: u8 = 2;

/// (socket, digest, length) of a sent datagram.
type SentKey = (u32, u64, u32);

struct Engine<'o> {
    target: SocketAddr,
    opts: &'o ExchangeOptions,
    pool: SocketPool,
    poll: Poll,
    blocked: Vec<bool>,
    /// Outstanding sends by content, FIFO per identical content.
    pending: HashMap<SentKey, VecDeque<(u64, Instant)>>,
    /// Socket of the first send of each content, to tell duplicates from corruption.
    ever_sent: HashMap<(u64, u32), u32>,
    /// Per sequence number: PENDING, RETURNED or EXPIRED.
    status: Vec<u8>,
    /// Sends in order, for window expiry.
    order: VecDeque<(Instant, u64)>,
    in_flight: usize,
    hist: Histogram<u64>,
    report: SimReport,
    received: Vec<Received>,
    first_send: Option<Instant>,
    last_send: Option<Instant>,
    last_return: Option<Instant>,
    progress: Progress,
}

impl<'o> Engine<'o> {
    fn new(
        target: SocketAddr,
        mut pool: SocketPool,
        opts: &'o ExchangeOptions,
    ) -> Result<Self, SimError> {
        let poll = Poll::new().map_err(SimError::io("create poll"))?;
        for (i, s) in pool.sockets.iter_mut().enumerate() {
            poll.registry()
                .register(s, Token(i), Interest::READABLE | Interest::WRITABLE)
                .map_err(SimError::io("register socket"))?;
        }
        let hist = Histogram::new_with_bounds(1, 3_600_000_000_000, 3)
            .expect("static histogram bounds are valid");
        let n = pool.len();
        Ok(Self {
            target,
            opts,
            blocked: vec![false; n],
            pool,
            poll,
            pending: HashMap::new(),
            ever_sent: HashMap::new(),
            status: Vec::new(),
            order: VecDeque::new(),
            in_flight: 0,
            hist,
            report: SimReport {
                target: target.to_string(),
                sockets: n,
                ..SimReport::default()
            },
            received: Vec::new(),
            first_send: None,
            last_send: None,
            last_return: None,
            progress: Progress::new(opts.progress, opts.progress_total),
        })
    }

    fn run(&mut self, mut datagrams: impl Iterator<Item = Datagram>) -> Result<(), SimError> {
        let mut events = Events::with_capacity(256);
        let mut buf = vec![0u8; RECV_BUF];
        let mut next = datagrams.next();
        let n = self.pool.len();
        loop {
            let now = Instant::now();
            self.expire(now);

            // Send phase.
            let mut wake: Option<Instant> = None;
            let mut burst = 0;
            while let Some(d) = &next {
                if self.in_flight >= self.opts.window || burst >= SEND_BURST {
                    break;
                }
                if let Some(rate) = self.opts.rate {
                    let start = self.first_send.unwrap_or(now);
                    let due =
                        start + Duration::from_secs_f64(self.report.sent as f64 / rate as f64);
                    if due > now {
                        wake = Some(due);
                        break;
                    }
                }
                let s = d.flow_socket_index % n;
                if self.blocked[s] {
                    break;
                }
                match self.pool.sockets[s].send_to(&d.bytes, self.target) {
                    Ok(_) => {
                        let sent_at = Instant::now();
                        self.record_send(s, &d.bytes, sent_at);
                        next = datagrams.next();
                        burst += 1;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        self.blocked[s] = true;
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) if per_datagram_error(&e) => {
                        self.report.send_errors += 1;
                        next = datagrams.next();
                    }
                    Err(e) => {
                        return Err(SimError::Io {
                            what: "send datagram",
                            source: e,
                        })
                    }
                }
            }

            let now = Instant::now();
            let outstanding = self.report.sent - self.report.returned;
            let final_deadline = match (&next, self.last_send) {
                (None, Some(last)) => Some(last + self.opts.timeout),
                (None, None) => Some(now), // nothing was sent
                _ => None,
            };
            if let Some(deadline) = final_deadline {
                if outstanding == 0 || now >= deadline {
                    break;
                }
            }

            let can_send_now = next.as_ref().is_some_and(|d| {
                self.in_flight < self.opts.window
                    && wake.is_none()
                    && !self.blocked[d.flow_socket_index % n]
            });
            let timeout = if can_send_now {
                Duration::ZERO
            } else {
                let mut deadline = now + Duration::from_millis(100);
                if let Some(w) = wake {
                    deadline = deadline.min(w);
                }
                if self.in_flight >= self.opts.window {
                    if let Some(&(t, _)) = self.order.front() {
                        deadline = deadline.min(t + self.opts.window_timeout);
                    }
                }
                if let Some(d) = final_deadline {
                    deadline = deadline.min(d);
                }
                deadline.saturating_duration_since(now)
            };
            match self.poll.poll(&mut events, Some(timeout)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(SimError::Io {
                        what: "poll",
                        source: e,
                    })
                }
            }
            for ev in events.iter() {
                let i = ev.token().0;
                if ev.is_writable() {
                    self.blocked[i] = false;
                }
                if ev.is_readable() {
                    self.drain(i, &mut buf)?;
                }
            }
            self.progress.tick(&self.report);
        }
        self.progress.finish();
        Ok(())
    }

    fn record_send(&mut self, socket: usize, bytes: &[u8], at: Instant) {
        let seq = self.report.sent;
        let digest = digest(bytes);
        let len = u32::try_from(bytes.len()).expect("a UDP payload fits u32");
        let sock = u32::try_from(socket).expect("socket index fits u32");
        self.pending
            .entry((sock, digest, len))
            .or_default()
            .push_back((seq, at));
        self.ever_sent.entry((digest, len)).or_insert(sock);
        self.status.push(PENDING);
        self.order.push_back((at, seq));
        self.in_flight += 1;
        self.report.sent += 1;
        self.report.bytes_sent += bytes.len() as u64;
        self.first_send.get_or_insert(at);
        self.last_send = Some(at);
    }

    /// Frees window slots of datagrams unanswered for `window_timeout`.
    fn expire(&mut self, now: Instant) {
        while let Some(&(t, seq)) = self.order.front() {
            let idx = usize::try_from(seq).expect("sequence fits usize");
            if self.status[idx] != PENDING {
                self.order.pop_front();
            } else if now.saturating_duration_since(t) >= self.opts.window_timeout {
                self.status[idx] = EXPIRED;
                self.in_flight -= 1;
                self.order.pop_front();
            } else {
                break;
            }
        }
    }

    fn drain(&mut self, i: usize, buf: &mut [u8]) -> Result<(), SimError> {
        loop {
            match self.pool.sockets[i].recv_from(buf) {
                Ok((len, from)) => {
                    let now = Instant::now();
                    self.on_receive(i, from, &buf[..len], now);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // ICMP errors surfacing on the socket (e.g. port unreachable): the datagram is
                // simply missing.
                Err(e) if per_datagram_error(&e) => {}
                Err(e) => {
                    return Err(SimError::Io {
                        what: "receive datagram",
                        source: e,
                    })
                }
            }
        }
    }

    fn on_receive(&mut self, socket: usize, from: SocketAddr, bytes: &[u8], now: Instant) {
        let kind = if from != self.target {
            self.report.unexpected += 1;
            ReturnKind::Unexpected
        } else {
            let digest = digest(bytes);
            let len = u32::try_from(bytes.len()).expect("a UDP payload fits u32");
            let sock = u32::try_from(socket).expect("socket index fits u32");
            let key = (sock, digest, len);
            let hit = match self.pending.get_mut(&key) {
                Some(q) => {
                    let hit = q.pop_front();
                    if q.is_empty() {
                        self.pending.remove(&key);
                    }
                    hit
                }
                None => None,
            };
            match hit {
                Some((seq, sent_at)) => {
                    let idx = usize::try_from(seq).expect("sequence fits usize");
                    if self.status[idx] == PENDING {
                        self.in_flight -= 1;
                    }
                    self.status[idx] = RETURNED;
                    self.report.returned += 1;
                    self.report.bytes_returned += bytes.len() as u64;
                    let ns = u64::try_from(now.saturating_duration_since(sent_at).as_nanos())
                        .unwrap_or(u64::MAX);
                    self.hist.saturating_record(ns.max(1));
                    self.last_return = Some(now);
                    ReturnKind::Matched
                }
                None => match self.ever_sent.get(&(digest, len)) {
                    Some(&first) if first == sock => {
                        self.report.duplicate += 1;
                        ReturnKind::Duplicate
                    }
                    Some(_) => {
                        self.report.misdirected += 1;
                        ReturnKind::Misdirected
                    }
                    None => {
                        self.report.corrupt += 1;
                        ReturnKind::Corrupt
                    }
                },
            }
        };
        if self.opts.collect {
            self.received.push(Received {
                socket,
                from,
                bytes: bytes.to_vec(),
                kind,
            });
        }
    }

    fn finish(mut self) -> Exchange {
        let end = Instant::now();
        let r = &mut self.report;
        r.missing = r.sent - r.returned;
        if let (Some(first), Some(last)) = (self.first_send, self.last_send) {
            r.send_seconds = last.duration_since(first).as_secs_f64();
            r.total_seconds = end.duration_since(first).as_secs_f64();
            if r.send_seconds > 0.0 {
                r.sent_pps = r.sent as f64 / r.send_seconds;
            }
            if let Some(lr) = self.last_return {
                let secs = lr.duration_since(first).as_secs_f64();
                if secs > 0.0 {
                    r.returned_pps = r.returned as f64 / secs;
                }
            }
        }
        if !self.hist.is_empty() {
            let us = |ns: u64| ns as f64 / 1000.0;
            r.latency = LatencySummary {
                samples: self.hist.len(),
                p50_us: us(self.hist.value_at_quantile(0.5)),
                p99_us: us(self.hist.value_at_quantile(0.99)),
                p999_us: us(self.hist.value_at_quantile(0.999)),
                max_us: us(self.hist.max()),
                mean_us: self.hist.mean() / 1000.0,
            };
        }
        Exchange {
            report: self.report,
            received: self.received,
        }
    }
}

/// Errors that concern one datagram (or an ICMP error about an earlier one), not the socket.
fn per_datagram_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
            | io::ErrorKind::InvalidInput
    ) || e.raw_os_error() == Some(90) // EMSGSIZE on Linux
}

/// 64-bit content digest (SipHash-1-3 with fixed keys).
fn digest(bytes: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    h.write(bytes);
    h.finish()
}

/// Progress on stderr: an indicatif bar on a terminal, else a line every few seconds.
enum Progress {
    Off,
    Bar(ProgressBar),
    Lines { last: Instant },
}

impl Progress {
    fn new(enabled: bool, total: Option<u64>) -> Self {
        if !enabled {
            return Self::Off;
        }
        if io::stderr().is_terminal() {
            let bar = ProgressBar::new(total.unwrap_or(0));
            let style = ProgressStyle::with_template(
                "{elapsed_precise} [{wide_bar}] {pos}/{len} sent {per_sec} {msg}",
            )
            .expect("static progress template is valid");
            bar.set_style(style);
            Self::Bar(bar)
        } else {
            Self::Lines {
                last: Instant::now(),
            }
        }
    }

    fn tick(&mut self, r: &SimReport) {
        match self {
            Self::Off => {}
            Self::Bar(bar) => {
                if bar.position() != r.sent {
                    bar.set_position(r.sent);
                    bar.set_message(format!("returned {}", r.returned));
                }
            }
            Self::Lines { last } => {
                if last.elapsed() >= PROGRESS_LINE_EVERY {
                    *last = Instant::now();
                    eprintln!(
                        "seawall sim: sent {} returned {} corrupt {}",
                        r.sent, r.returned, r.corrupt
                    );
                }
            }
        }
    }

    fn finish(&mut self) {
        if let Self::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}
