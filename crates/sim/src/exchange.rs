//! Sending datagrams to the appliance and matching what comes back.
//!
//! A pool of K non-blocking UDP sockets plays GWLB's per-flow outer source ports: each datagram
//! leaves from socket `flow_socket_index % K` and the appliance must answer to that socket (it replies
//! to the sender's address and port). One thread drives everything with a level-triggered epoll
//! loop, and amortizes its system calls:
//!
//! - sending: up to [`SEND_BURST`] datagrams are taken from the input at a time, queued per socket
//!   (a flow always uses the same socket, so every flow keeps its order) and sent with one
//!   `sendmmsg` per socket;
//! - receiving: one `recvmmsg` per readable socket takes up to [`RECV_BATCH`] datagrams;
//! - pacing: `rate` datagrams per second (token schedule from the first send, checked with the
//!   millisecond resolution of epoll), or flat out;
//! - a bounded in-flight window, so that flat out never overruns socket buffers: a correct
//!   appliance returns 100 %. A datagram unanswered for `window_timeout` stops holding a window slot
//!   (it is still matched if it comes back later);
//! - verification: every received datagram is looked up by (64-bit content hash, length) among the
//!   sends still outstanding, and a hit is confirmed by comparing the bytes with the datagram sent
//!   (kept until it returns), so a hash collision can never pass corruption off as a match.
//!   Identical datagrams are matched first-in first-out per socket, so repeats are counted
//!   correctly. Latency is measured from just before the `sendmmsg` that sent a datagram to the
//!   `recvmmsg` that received it.
//!
//! Telling a duplicate or misdirected return from a corrupt one, for content that is no longer
//! outstanding, relies on the hash (all three are failures either way). Outstanding datagrams keep
//! their bytes; only if the bytes of datagrams that expired without returning exceed
//! [`RETAIN_BYTES`] are the oldest expiring ones replaced by a second, independent 64-bit hash
//! (128 bits in all) to bound memory against an appliance that drops a lot.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{self, IoSlice, IoSliceMut, IsTerminal};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::socket::{
    recvmmsg, sendmmsg, ControlMessage, MsgFlags, MultiHeaders, SockaddrStorage,
};
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
/// Default [`ExchangeOptions::settle`].
pub const DEFAULT_SETTLE: Duration = Duration::from_millis(20);
/// Default SO_RCVBUF / SO_SNDBUF request per socket (the kernel may cap it at rmem_max/wmem_max).
pub const DEFAULT_SOCKET_BUFFER: usize = 4 << 20;

/// Takes at most this many datagrams from the input between two looks at the receive side.
pub const SEND_BURST: usize = 64;
/// Datagrams per `recvmmsg`.
pub const RECV_BATCH: usize = 32;
/// Bytes of expired, unreturned datagrams kept for byte comparison before older ones are reduced
/// to a second hash.
pub const RETAIN_BYTES: usize = 256 << 20;
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
    /// Once every datagram sent is back, how long to keep receiving so that late duplicates
    /// and unexpected datagrams are counted too (bounded by `timeout` after the last send).
    pub settle: Duration,
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
            settle: DEFAULT_SETTLE,
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
            sockets.push(s.into());
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

/// End of a list in the [`Matcher`] slab.
const NIL: u32 = u32::MAX;
/// Seed of the content hash.
const SEED: u64 = 0x05ea_3a11_5eed_0001;
/// Seed of the second hash that replaces the bytes of released datagrams.
const CHECK_SEED: u64 = 0x9e37_79b9_7f4a_7c15;

const P0: u64 = 0xa076_1d64_78bd_642f;
const P1: u64 = 0xe703_7ed1_a0b4_28db;
const P2: u64 = 0x8ebc_6af0_9c88_c6e3;

fn mum(a: u64, b: u64) -> u64 {
    let r = u128::from(a) * u128::from(b);
    // Folding the 128-bit product: truncation is the point.
    #[allow(clippy::cast_possible_truncation)]
    let (lo, hi) = (r as u64, (r >> 64) as u64);
    lo ^ hi
}

fn read_u64(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w[..b.len()].copy_from_slice(b);
    u64::from_le_bytes(w)
}

/// 64-bit content hash (wyhash-style multiply-mix over 16-byte blocks): fast and well mixed, but
/// not collision-resistant, which is why a hit is always confirmed by comparing the bytes.
fn digest(bytes: &[u8], seed: u64) -> u64 {
    let mut h = seed ^ P0;
    let mut blocks = bytes.chunks_exact(16);
    for b in &mut blocks {
        h = mum(read_u64(&b[..8]) ^ P1, read_u64(&b[8..]) ^ h);
    }
    let rest = blocks.remainder();
    let (a, b) = if rest.len() > 8 {
        (read_u64(&rest[..8]), read_u64(&rest[8..]))
    } else {
        (read_u64(rest), 0)
    };
    mum(mum(a ^ P1, b ^ h) ^ P2, bytes.len() as u64 ^ P1)
}

/// Hasher of map keys that already are hashes: (digest, length).
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = digest(bytes, self.0);
    }
    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }
    fn write_u32(&mut self, n: u32) {
        self.0 ^= u64::from(n).wrapping_mul(P0);
    }
}

type KeyMap<V> = HashMap<(u64, u32), V, BuildHasherDefault<KeyHasher>>;

/// One sent datagram still outstanding (pending or expired).
struct Sent {
    seq: u64,
    at: Instant,
    socket: u32,
    /// Next outstanding datagram with the same (hash, length), in send order.
    next: u32,
    /// The bytes sent; empty once released.
    bytes: Vec<u8>,
    /// Set when `bytes` was released: the content's second hash stands in for them.
    check: Option<u64>,
}

/// Every distinct (hash, length) ever sent.
struct Content {
    /// Socket of the first send, to tell a duplicate from a misdirected return.
    first_socket: u32,
    /// Outstanding sends (slab indices), oldest first.
    head: u32,
    tail: u32,
}

/// Matches returns to outstanding sends: (hash, length) → a FIFO list of the outstanding sends
/// with that key in a slab, each confirmed by comparing bytes.
struct Matcher {
    contents: KeyMap<Content>,
    slab: Vec<Sent>,
    free: Vec<u32>,
    hash: fn(&[u8], u64) -> u64,
}

impl Matcher {
    fn new(hash: fn(&[u8], u64) -> u64) -> Self {
        Self {
            contents: KeyMap::default(),
            slab: Vec::new(),
            free: Vec::new(),
            hash,
        }
    }

    fn key(&self, bytes: &[u8]) -> (u64, u32) {
        let len = u32::try_from(bytes.len()).expect("a UDP payload fits u32");
        ((self.hash)(bytes, SEED), len)
    }

    /// Records a send; returns its slab index.
    fn insert(&mut self, socket: u32, bytes: Vec<u8>, seq: u64, at: Instant) -> u32 {
        let key = self.key(&bytes);
        let sent = Sent {
            seq,
            at,
            socket,
            next: NIL,
            bytes,
            check: None,
        };
        let idx = match self.free.pop() {
            Some(i) => {
                self.slab[i as usize] = sent;
                i
            }
            None => {
                self.slab.push(sent);
                u32::try_from(self.slab.len() - 1).expect("fewer than 2^32 outstanding sends")
            }
        };
        let c = self.contents.entry(key).or_insert(Content {
            first_socket: socket,
            head: NIL,
            tail: NIL,
        });
        if c.tail == NIL {
            c.head = idx;
        } else {
            self.slab[c.tail as usize].next = idx;
        }
        c.tail = idx;
        idx
    }

    fn same(&self, s: &Sent, bytes: &[u8]) -> bool {
        match s.check {
            None => s.bytes == bytes,
            Some(check) => (self.hash)(bytes, CHECK_SEED) == check,
        }
    }

    /// Takes the oldest outstanding send on `socket` with exactly these bytes: Ok((seq, sent at,
    /// bytes it retained)), or how the datagram is classified.
    fn take(&mut self, socket: u32, bytes: &[u8]) -> Result<(u64, Instant, usize), ReturnKind> {
        let key = self.key(bytes);
        let Some(c) = self.contents.get(&key) else {
            return Err(ReturnKind::Corrupt);
        };
        let (first_socket, head) = (c.first_socket, c.head);
        let (mut prev, mut cur) = (NIL, head);
        let mut elsewhere = false;
        while cur != NIL {
            let s = &self.slab[cur as usize];
            if self.same(s, bytes) {
                if s.socket == socket {
                    break;
                }
                elsewhere = true;
            }
            prev = cur;
            cur = s.next;
        }
        if cur == NIL {
            return Err(if elsewhere {
                ReturnKind::Misdirected
            } else if head != NIL {
                // Outstanding sends share the hash and length, but none has these bytes.
                ReturnKind::Corrupt
            } else if first_socket == socket {
                ReturnKind::Duplicate
            } else {
                ReturnKind::Misdirected
            });
        }
        let next = self.slab[cur as usize].next;
        if prev == NIL {
            if let Some(c) = self.contents.get_mut(&key) {
                c.head = next;
                if c.tail == cur {
                    c.tail = NIL;
                }
            }
        } else {
            self.slab[prev as usize].next = next;
            if let Some(c) = self.contents.get_mut(&key) {
                if c.tail == cur {
                    c.tail = prev;
                }
            }
        }
        let s = &mut self.slab[cur as usize];
        let retained = s.bytes.len();
        let found = (s.seq, s.at, retained);
        s.bytes = Vec::new();
        s.check = None;
        self.free.push(cur);
        Ok(found)
    }

    /// Bytes kept for the outstanding send at `idx`.
    fn retained(&self, idx: u32) -> usize {
        self.slab[idx as usize].bytes.len()
    }

    /// Replaces the kept bytes of `idx` with their second hash; returns the bytes freed.
    fn release(&mut self, idx: u32) -> usize {
        let hash = self.hash;
        let s = &mut self.slab[idx as usize];
        if s.check.is_some() {
            return 0;
        }
        s.check = Some(hash(&s.bytes, CHECK_SEED));
        std::mem::take(&mut s.bytes).len()
    }
}

struct Engine<'o> {
    target: SocketAddr,
    opts: &'o ExchangeOptions,
    pool: SocketPool,
    epoll: Epoll,
    /// Sockets whose send buffer was full (waiting for EPOLLOUT).
    blocked: Vec<bool>,
    /// Datagrams taken from the input and not sent yet, per socket, in order.
    staged: Vec<VecDeque<Vec<u8>>>,
    staged_total: usize,
    /// Datagrams taken from the input (the pacing schedule).
    taken: u64,
    pace_start: Option<Instant>,
    matcher: Matcher,
    /// Per sequence number: PENDING, RETURNED or EXPIRED.
    status: Vec<u8>,
    /// Sends in order, for window expiry: (sent at, seq, slab index).
    order: VecDeque<(Instant, u64, u32)>,
    in_flight: usize,
    /// Bytes kept for expired, unreturned sends.
    expired_bytes: usize,
    hist: Histogram<u64>,
    report: SimReport,
    received: Vec<Received>,
    first_send: Option<Instant>,
    last_send: Option<Instant>,
    last_return: Option<Instant>,
    progress: Progress,
    send_hdrs: MultiHeaders<SockaddrStorage>,
    send_addrs: Vec<Option<SockaddrStorage>>,
    recv_hdrs: Option<MultiHeaders<SockaddrStorage>>,
    recv_buf: Vec<u8>,
}

fn epoll_err(what: &'static str) -> impl FnOnce(Errno) -> SimError {
    move |e| SimError::Io {
        what,
        source: io::Error::from(e),
    }
}

fn interest(i: usize, writable: bool) -> EpollEvent {
    let mut flags = EpollFlags::EPOLLIN;
    if writable {
        flags |= EpollFlags::EPOLLOUT;
    }
    EpollEvent::new(flags, i as u64)
}

/// The source address of a received datagram.
fn socket_addr(s: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = s.as_sockaddr_in() {
        return Some(SocketAddr::V4((*v4).into()));
    }
    s.as_sockaddr_in6().map(|v6| SocketAddr::V6((*v6).into()))
}

/// `d` in whole milliseconds, rounded up (epoll's resolution).
fn epoll_timeout(d: Duration) -> EpollTimeout {
    let ms = d.as_nanos().div_ceil(1_000_000);
    u64::try_from(ms)
        .ok()
        .and_then(|ms| EpollTimeout::try_from(ms).ok())
        .unwrap_or(EpollTimeout::MAX)
}

impl<'o> Engine<'o> {
    fn new(
        target: SocketAddr,
        pool: SocketPool,
        opts: &'o ExchangeOptions,
    ) -> Result<Self, SimError> {
        let epoll =
            Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(epoll_err("create epoll"))?;
        for (i, s) in pool.sockets.iter().enumerate() {
            epoll
                .add(s, interest(i, false))
                .map_err(epoll_err("register socket"))?;
        }
        let hist = Histogram::new_with_bounds(1, 3_600_000_000_000, 3)
            .expect("static histogram bounds are valid");
        let n = pool.len();
        Ok(Self {
            target,
            opts,
            blocked: vec![false; n],
            staged: vec![VecDeque::new(); n],
            staged_total: 0,
            taken: 0,
            pace_start: None,
            pool,
            epoll,
            matcher: Matcher::new(digest),
            status: Vec::new(),
            order: VecDeque::new(),
            in_flight: 0,
            expired_bytes: 0,
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
            send_hdrs: MultiHeaders::preallocate(SEND_BURST, None),
            send_addrs: vec![Some(SockaddrStorage::from(target)); SEND_BURST],
            recv_hdrs: Some(MultiHeaders::preallocate(RECV_BATCH, None)),
            recv_buf: vec![0u8; RECV_BATCH * RECV_BUF],
        })
    }

    fn run(&mut self, mut datagrams: impl Iterator<Item = Datagram>) -> Result<(), SimError> {
        let mut events = vec![EpollEvent::empty(); 256];
        let mut next = datagrams.next();
        let n = self.pool.len();
        // When every datagram sent was back (all sent): the settle period starts there.
        let mut all_back: Option<Instant> = None;
        loop {
            let now = Instant::now();
            self.expire(now);

            // Take what may be sent now, queued per socket.
            let mut wake: Option<Instant> = None;
            let mut burst = 0;
            while let Some(d) = next.take() {
                if self.in_flight + self.staged_total >= self.opts.window || burst >= SEND_BURST {
                    next = Some(d);
                    break;
                }
                if let Some(rate) = self.opts.rate {
                    let start = *self.pace_start.get_or_insert(now);
                    let due = start + Duration::from_secs_f64(self.taken as f64 / rate as f64);
                    if due > now {
                        wake = Some(due);
                        next = Some(d);
                        break;
                    }
                }
                self.staged[d.flow_socket_index % n].push_back(d.bytes);
                self.staged_total += 1;
                self.taken += 1;
                burst += 1;
                next = datagrams.next();
            }
            self.flush()?;

            let now = Instant::now();
            let outstanding = self.report.sent - self.report.returned;
            let final_deadline = match (next.is_none() && self.staged_total == 0, self.last_send) {
                (true, Some(last)) => Some(last + self.opts.timeout),
                (true, None) => Some(now), // nothing was sent
                _ => None,
            };
            let final_deadline = match final_deadline {
                Some(deadline) if outstanding == 0 => {
                    let settled = *all_back.get_or_insert(now) + self.opts.settle;
                    Some(deadline.min(settled))
                }
                other => {
                    all_back = None;
                    other
                }
            };
            if let Some(deadline) = final_deadline {
                if now >= deadline {
                    break;
                }
            }

            let can_send_now = next.is_some()
                && self.in_flight + self.staged_total < self.opts.window
                && wake.is_none();
            let timeout = if can_send_now {
                Duration::ZERO
            } else {
                let mut deadline = now + Duration::from_millis(100);
                if let Some(w) = wake {
                    deadline = deadline.min(w);
                }
                if self.in_flight + self.staged_total >= self.opts.window {
                    if let Some(&(t, _, _)) = self.order.front() {
                        deadline = deadline.min(t + self.opts.window_timeout);
                    }
                }
                if let Some(d) = final_deadline {
                    deadline = deadline.min(d);
                }
                deadline.saturating_duration_since(now)
            };
            let ready = match self.epoll.wait(&mut events, epoll_timeout(timeout)) {
                Ok(k) => k,
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(epoll_err("epoll_wait")(e)),
            };
            for ev in &events[..ready] {
                let i = usize::try_from(ev.data()).expect("socket index fits usize");
                let flags = ev.events();
                if flags.contains(EpollFlags::EPOLLOUT) && self.blocked[i] {
                    self.blocked[i] = false;
                    self.epoll
                        .modify(&self.pool.sockets[i], &mut interest(i, false))
                        .map_err(epoll_err("modify epoll interest"))?;
                }
                if flags.intersects(EpollFlags::EPOLLIN | EpollFlags::EPOLLERR) {
                    self.drain(i)?;
                }
            }
            self.progress.tick(&self.report);
        }
        self.progress.finish();
        Ok(())
    }

    /// Sends what is queued, one `sendmmsg` per socket and at most [`SEND_BURST`] datagrams.
    fn flush(&mut self) -> Result<(), SimError> {
        if self.staged_total == 0 {
            return Ok(());
        }
        for s in 0..self.pool.len() {
            while !self.blocked[s] && !self.staged[s].is_empty() {
                let k = self.staged[s].len().min(SEND_BURST);
                let fd = self.pool.sockets[s].as_raw_fd();
                let at = Instant::now();
                let result = {
                    let slices: Vec<[IoSlice<'_>; 1]> = self.staged[s]
                        .iter()
                        .take(k)
                        .map(|b| [IoSlice::new(b)])
                        .collect();
                    let none: [ControlMessage<'_>; 0] = [];
                    sendmmsg(
                        fd,
                        &mut self.send_hdrs,
                        slices.iter(),
                        &self.send_addrs[..k],
                        none,
                        MsgFlags::MSG_DONTWAIT,
                    )
                    .map(Iterator::count)
                };
                match result {
                    Ok(sent) if sent > 0 => {
                        for _ in 0..sent {
                            let bytes = self.staged[s].pop_front().expect("sent from the queue");
                            self.record_send(s, bytes, at);
                        }
                        self.staged_total -= sent;
                    }
                    Ok(_) => {
                        // Not expected with messages to send; try again on the next round.
                        break;
                    }
                    Err(Errno::EAGAIN) => {
                        self.blocked[s] = true;
                        self.epoll
                            .modify(&self.pool.sockets[s], &mut interest(s, true))
                            .map_err(epoll_err("modify epoll interest"))?;
                    }
                    Err(Errno::EINTR) => {}
                    Err(e) => {
                        let e = io::Error::from(e);
                        if !per_datagram_error(&e) {
                            return Err(SimError::Io {
                                what: "send datagram",
                                source: e,
                            });
                        }
                        // The head datagram (or an ICMP error about an earlier one): not sent.
                        self.report.send_errors += 1;
                        self.staged[s].pop_front();
                        self.staged_total -= 1;
                    }
                }
            }
        }
        Ok(())
    }

    fn record_send(&mut self, socket: usize, bytes: Vec<u8>, at: Instant) {
        let seq = self.report.sent;
        let len = bytes.len() as u64;
        let sock = u32::try_from(socket).expect("socket index fits u32");
        let idx = self.matcher.insert(sock, bytes, seq, at);
        self.status.push(PENDING);
        self.order.push_back((at, seq, idx));
        self.in_flight += 1;
        self.report.sent += 1;
        self.report.bytes_sent += len;
        self.first_send.get_or_insert(at);
        self.last_send = Some(at);
    }

    /// Frees window slots of datagrams unanswered for `window_timeout`.
    fn expire(&mut self, now: Instant) {
        while let Some(&(t, seq, idx)) = self.order.front() {
            let i = usize::try_from(seq).expect("sequence fits usize");
            if self.status[i] != PENDING {
                self.order.pop_front();
            } else if now.saturating_duration_since(t) >= self.opts.window_timeout {
                self.status[i] = EXPIRED;
                self.in_flight -= 1;
                self.order.pop_front();
                self.expired_bytes += self.matcher.retained(idx);
                if self.expired_bytes > RETAIN_BYTES {
                    self.expired_bytes -= self.matcher.release(idx);
                }
            } else {
                break;
            }
        }
    }

    /// Receives everything queued on socket `i`, [`RECV_BATCH`] datagrams per `recvmmsg`.
    fn drain(&mut self, i: usize) -> Result<(), SimError> {
        let fd = self.pool.sockets[i].as_raw_fd();
        let mut hdrs = self
            .recv_hdrs
            .take()
            .expect("receive headers are put back after each use");
        let mut buf = std::mem::take(&mut self.recv_buf);
        let result = loop {
            let mut got = [(0usize, None::<SocketAddr>); RECV_BATCH];
            let received = {
                let mut slices: Vec<[IoSliceMut<'_>; 1]> = buf
                    .chunks_exact_mut(RECV_BUF)
                    .map(|c| [IoSliceMut::new(c)])
                    .collect();
                recvmmsg(
                    fd,
                    &mut hdrs,
                    slices.iter_mut(),
                    MsgFlags::MSG_DONTWAIT,
                    None,
                )
                .map(|msgs| {
                    let mut count = 0;
                    for (slot, m) in got.iter_mut().zip(msgs) {
                        *slot = (m.bytes, m.address.as_ref().and_then(socket_addr));
                        count += 1;
                    }
                    count
                })
            };
            match received {
                Ok(count) => {
                    let now = Instant::now();
                    let unknown = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0));
                    for (k, &(len, from)) in got[..count].iter().enumerate() {
                        let bytes = &buf[k * RECV_BUF..][..len.min(RECV_BUF)];
                        self.on_receive(i, from.unwrap_or(unknown), bytes, now);
                    }
                    // Fewer than asked: the queue was empty (epoll is level-triggered, so
                    // anything that arrives later is reported again).
                    if count < RECV_BATCH {
                        break Ok(());
                    }
                }
                Err(Errno::EAGAIN) => break Ok(()),
                Err(Errno::EINTR) => {}
                Err(e) => {
                    let e = io::Error::from(e);
                    // ICMP errors surfacing on the socket (e.g. port unreachable): the datagram
                    // is simply missing.
                    if !per_datagram_error(&e) {
                        break Err(SimError::Io {
                            what: "receive datagram",
                            source: e,
                        });
                    }
                }
            }
        };
        self.recv_hdrs = Some(hdrs);
        self.recv_buf = buf;
        result
    }

    fn on_receive(&mut self, socket: usize, from: SocketAddr, bytes: &[u8], now: Instant) {
        let kind = if from != self.target {
            self.report.unexpected += 1;
            ReturnKind::Unexpected
        } else {
            let sock = u32::try_from(socket).expect("socket index fits u32");
            match self.matcher.take(sock, bytes) {
                Ok((seq, sent_at, retained)) => {
                    let idx = usize::try_from(seq).expect("sequence fits usize");
                    match self.status[idx] {
                        PENDING => self.in_flight -= 1,
                        EXPIRED => self.expired_bytes -= retained,
                        _ => {}
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
                Err(kind) => {
                    match kind {
                        ReturnKind::Duplicate => self.report.duplicate += 1,
                        ReturnKind::Misdirected => self.report.misdirected += 1,
                        _ => self.report.corrupt += 1,
                    }
                    kind
                }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every content collides: matching must rest on the bytes alone.
    fn colliding(_: &[u8], _: u64) -> u64 {
        7
    }

    #[test]
    fn a_hash_collision_never_passes_corruption_as_a_match() {
        let mut m = Matcher::new(colliding);
        let t = Instant::now();
        m.insert(0, b"original".to_vec(), 0, t);
        assert_eq!(m.take(0, b"corrupt!"), Err(ReturnKind::Corrupt));
        assert_eq!(m.take(0, b"original").map(|(seq, _, _)| seq), Ok(0));
        assert_eq!(m.take(0, b"original"), Err(ReturnKind::Duplicate));
    }

    #[test]
    fn identical_sends_match_first_in_first_out_per_socket() {
        let mut m = Matcher::new(digest);
        let t = Instant::now();
        m.insert(1, b"same".to_vec(), 0, t);
        m.insert(2, b"same".to_vec(), 1, t);
        m.insert(1, b"same".to_vec(), 2, t);
        assert_eq!(m.take(1, b"same").map(|r| r.0), Ok(0));
        assert_eq!(m.take(1, b"same").map(|r| r.0), Ok(2));
        // Still outstanding on socket 2 only: a third return on socket 1 went to the wrong port.
        assert_eq!(m.take(1, b"same"), Err(ReturnKind::Misdirected));
        assert_eq!(m.take(2, b"same").map(|r| r.0), Ok(1));
        assert_eq!(m.take(2, b"same"), Err(ReturnKind::Misdirected));
        assert_eq!(m.take(1, b"same"), Err(ReturnKind::Duplicate));
        assert_eq!(m.take(1, b"never sent"), Err(ReturnKind::Corrupt));
    }

    #[test]
    fn released_sends_still_match_by_their_second_hash() {
        let mut m = Matcher::new(digest);
        let t = Instant::now();
        let idx = m.insert(0, vec![5; 100], 0, t);
        assert_eq!(m.retained(idx), 100);
        assert_eq!(m.release(idx), 100);
        assert_eq!(m.retained(idx), 0);
        let mut other = vec![5; 100];
        other[50] = 6;
        assert_eq!(m.take(0, &other), Err(ReturnKind::Corrupt));
        assert_eq!(m.take(0, &[5; 100]).map(|r| (r.0, r.2)), Ok((0, 0)));
    }

    #[test]
    fn digest_depends_on_every_byte_and_the_length() {
        let base = vec![0u8; 37];
        let h = digest(&base, SEED);
        for i in 0..base.len() {
            let mut b = base.clone();
            b[i] = 1;
            assert_ne!(digest(&b, SEED), h, "byte {i}");
        }
        assert_ne!(digest(&base[..36], SEED), h);
        assert_ne!(digest(&base, CHECK_SEED), h);
    }
}
