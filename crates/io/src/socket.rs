//! The worker socket: UDP/IPv4 with `SO_REUSEPORT` and `IP_PKTINFO`, batched with
//! `recvmmsg`/`sendmmsg`.

use std::io;
use std::mem;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use crate::batch::{sockaddr_from, Batch, PktinfoCmsg};

/// How long a send waits for room in the socket buffer (once per message) before dropping.
const SEND_WAIT: Duration = Duration::from_millis(10);

/// How much shorter than a [`WorkerSocket::recv_batch`] timeout the socket's `SO_RCVTIMEO` is set:
/// at least one kernel timer tick (10 ms at `HZ=100`), so the kernel's tick-rounded wait never
/// outlasts the timeout; the rest is waited with `poll`. Timeouts up to this long use `poll` alone.
const RCVTIMEO_SLACK: Duration = Duration::from_millis(10);

/// Socket options for worker sockets (and the reflector, which must match them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketOptions {
    /// Join a `SO_REUSEPORT` group (one socket per worker on the same address).
    pub reuse_port: bool,
    /// Requested `SO_RCVBUF` in bytes; best effort (raised past `rmem_max` with `SO_RCVBUFFORCE`
    /// when privileged). 0 leaves the kernel default.
    pub recv_buffer: usize,
    /// Requested `SO_SNDBUF` in bytes; best effort like `recv_buffer`. 0 leaves the default.
    pub send_buffer: usize,
}

impl Default for SocketOptions {
    fn default() -> Self {
        SocketOptions {
            reuse_port: true,
            recv_buffer: 16 << 20,
            send_buffer: 4 << 20,
        }
    }
}

impl SocketOptions {
    /// These options with `reuse_port` set as given.
    pub fn with_reuse_port(mut self, reuse_port: bool) -> Self {
        self.reuse_port = reuse_port;
        self
    }

    /// These options with the buffer sizes set as given.
    pub fn with_buffers(mut self, recv_buffer: usize, send_buffer: usize) -> Self {
        self.recv_buffer = recv_buffer;
        self.send_buffer = send_buffer;
        self
    }
}

/// Counters of one socket since it was bound. Per-message outcomes are counted here, never logged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct IoStats {
    /// Datagrams received.
    pub received: u64,
    /// Datagrams received larger than the batch buffer (`MSG_TRUNC`).
    pub received_truncated: u64,
    /// Datagrams sent.
    pub sent: u64,
    /// Datagrams dropped because the send buffer stayed full (`EAGAIN`).
    pub send_would_block: u64,
    /// Datagrams dropped because the kernel had no buffers (`ENOBUFS`).
    pub send_no_buffers: u64,
    /// Datagrams that failed with another per-message error (e.g. unreachable, bad source).
    pub send_errors: u64,
    /// Datagrams asked to be sent back that were not, because they were received truncated.
    pub send_skipped_truncated: u64,
}

#[derive(Default)]
struct Counters {
    received: AtomicU64,
    received_truncated: AtomicU64,
    sent: AtomicU64,
    send_would_block: AtomicU64,
    send_no_buffers: AtomicU64,
    send_errors: AtomicU64,
    send_skipped_truncated: AtomicU64,
}

fn add(c: &AtomicU64, n: usize) {
    if n > 0 {
        c.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// A UDP/IPv4 worker socket: `SO_REUSEPORT` (optional), `IP_PKTINFO`, large buffers, bound to the
/// GENEVE address. Receives and sends whole batches.
pub struct WorkerSocket {
    socket: Socket,
    local: SocketAddrV4,
    counters: Counters,
    /// The `SO_RCVTIMEO` last set on the socket, in microseconds; 0 = none (block forever, the
    /// kernel's default).
    rcvtimeo_us: AtomicU64,
}

impl std::fmt::Debug for WorkerSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerSocket")
            .field("fd", &self.socket.as_raw_fd())
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

fn set_int_opt(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    #[allow(unsafe_code)]
    // SAFETY: `value` is a live c_int and the length passed is its size; the kernel only reads it.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            std::ptr::from_ref(&value).cast(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Wait until `fd` is ready for `events`, at most `timeout` (`None`: forever). Ok(false) on timeout.
fn poll_fd(fd: RawFd, events: libc::c_short, timeout: Option<Duration>) -> io::Result<bool> {
    let ms = match timeout {
        None => -1,
        Some(t) => {
            let ms = t.as_nanos().div_ceil(1_000_000);
            libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX)
        }
    };
    let mut p = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    #[allow(unsafe_code)]
    // SAFETY: `p` is one valid pollfd and nfds is 1.
    let rc = unsafe { libc::poll(&mut p, 1, ms) };
    match rc {
        r if r < 0 => Err(io::Error::last_os_error()),
        0 => Ok(false),
        _ => Ok(true),
    }
}

impl WorkerSocket {
    /// Create the socket, set its options and bind it to `addr` (for GENEVE `0.0.0.0:6081`; port 0
    /// picks a free port, see [`local_addr`](Self::local_addr)).
    pub fn bind(addr: SocketAddrV4, opts: &SocketOptions) -> io::Result<Self> {
        let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
        if opts.reuse_port {
            socket.set_reuse_port(true)?;
        }
        let fd = socket.as_raw_fd();
        // Best effort: a small buffer only costs drops under bursts, which are counted by the kernel.
        if opts.recv_buffer > 0 {
            let want = opts.recv_buffer;
            if socket.set_recv_buffer_size(want).is_err()
                || socket.recv_buffer_size().map_or(true, |got| got < want)
            {
                let v = libc::c_int::try_from(want).unwrap_or(libc::c_int::MAX);
                let _ = set_int_opt(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, v);
            }
        }
        if opts.send_buffer > 0 {
            let want = opts.send_buffer;
            if socket.set_send_buffer_size(want).is_err()
                || socket.send_buffer_size().map_or(true, |got| got < want)
            {
                let v = libc::c_int::try_from(want).unwrap_or(libc::c_int::MAX);
                let _ = set_int_opt(fd, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, v);
            }
        }
        set_int_opt(fd, libc::IPPROTO_IP, libc::IP_PKTINFO, 1)?;
        socket.bind(&SocketAddr::V4(addr).into())?;
        let local = socket.local_addr()?.as_socket_ipv4().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidData, "bound address is not IPv4")
        })?;
        Ok(WorkerSocket {
            socket,
            local,
            counters: Counters::default(),
            rcvtimeo_us: AtomicU64::new(0),
        })
    }

    /// The bound address (with the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddrV4 {
        self.local
    }

    /// The effective `SO_RCVBUF` (the kernel reports twice the requested value).
    pub fn recv_buffer_size(&self) -> io::Result<usize> {
        self.socket.recv_buffer_size()
    }

    /// The effective `SO_SNDBUF`.
    pub fn send_buffer_size(&self) -> io::Result<usize> {
        self.socket.send_buffer_size()
    }

    /// A snapshot of this socket's counters.
    pub fn stats(&self) -> IoStats {
        let c = &self.counters;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        IoStats {
            received: l(&c.received),
            received_truncated: l(&c.received_truncated),
            sent: l(&c.sent),
            send_would_block: l(&c.send_would_block),
            send_no_buffers: l(&c.send_no_buffers),
            send_errors: l(&c.send_errors),
            send_skipped_truncated: l(&c.send_skipped_truncated),
        }
    }

    /// One `recvmmsg` into `batch`: non-blocking with `MSG_DONTWAIT`, else blocking until the first
    /// datagram (or `SO_RCVTIMEO`) and then taking whatever else is queued (`MSG_WAITFORONE`).
    fn try_recv(&self, batch: &mut Batch, flags: libc::c_int) -> io::Result<usize> {
        let fd = self.socket.as_raw_fd();
        let hdrs = batch.prepare_recv();
        let vlen = libc::c_uint::try_from(hdrs.len()).expect("batch size is at most 1024");
        #[allow(unsafe_code)]
        // SAFETY: `hdrs` are `vlen` mmsghdrs just prepared by `prepare_recv`: each points at its own
        // buffer of buf_size bytes (one iovec), sockaddr_in and control buffer, all owned by `batch`,
        // which stays mutably borrowed (so nothing else touches them) until `finish_recv`. The
        // timeout pointer is null.
        let rc =
            unsafe { libc::recvmmsg(fd, hdrs.as_mut_ptr(), vlen, flags, std::ptr::null_mut()) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        let count = usize::try_from(rc).expect("non-negative");
        debug_assert!(count <= batch.capacity());
        let truncated = batch.finish_recv(count);
        add(&self.counters.received, count);
        add(&self.counters.received_truncated, truncated);
        Ok(count)
    }

    /// Sets `SO_RCVTIMEO` to `timeout` (`None`: none, block forever) unless it already is.
    fn set_recv_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        // Microseconds rounded up (at least 1: a zero timeval means "forever").
        let us = timeout.map_or(0, |t| {
            u64::try_from(t.as_nanos().div_ceil(1_000)).map_or(u64::MAX, |us| us.max(1))
        });
        if self.rcvtimeo_us.load(Ordering::Relaxed) == us {
            return Ok(());
        }
        let secs = us / 1_000_000;
        let tv = libc::timeval {
            tv_sec: libc::time_t::try_from(secs).unwrap_or(libc::time_t::MAX),
            tv_usec: libc::suseconds_t::try_from(us % 1_000_000).expect("below 1_000_000"),
        };
        #[allow(unsafe_code)]
        // SAFETY: `tv` is a live timeval and the length passed is its size; the kernel only reads it.
        let rc = unsafe {
            libc::setsockopt(
                self.socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                std::ptr::from_ref(&tv).cast(),
                mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        self.rcvtimeo_us.store(us, Ordering::Relaxed);
        Ok(())
    }

    /// Receive up to `batch.capacity()` datagrams with `recvmmsg`, waiting at most `timeout` for the
    /// first one. Returns how many were received (also `batch.len()`); `Ok(0)` on timeout.
    /// `Duration::ZERO` never waits; `Duration::MAX` waits forever. `EINTR` is retried.
    ///
    /// One system call per wake-up in the common case: a blocking `recvmmsg` with
    /// `MSG_WAITFORONE`, bounded by the socket's `SO_RCVTIMEO` (set only when the timeout changes).
    /// The kernel counts that timeout in timer ticks, so it is set 10 ms (one tick or more) short of
    /// `timeout` and the rest is waited precisely with `poll`, as are timeouts no longer than the
    /// slack and waits cut short (`EINTR`, a consumed ICMP error, another thread changing the
    /// timeout of a shared socket, a non-blocking descriptor): a timeout costs a few more calls,
    /// received datagrams do not.
    pub fn recv_batch(&self, batch: &mut Batch, timeout: Duration) -> io::Result<usize> {
        if timeout.is_zero() {
            return self.recv_nowait(batch, None);
        }
        let deadline = Instant::now().checked_add(timeout);
        let kernel_timeout = match deadline {
            None => None,
            Some(_) if timeout <= RCVTIMEO_SLACK => {
                return self.recv_nowait(batch, Some(deadline));
            }
            Some(_) => Some(timeout - RCVTIMEO_SLACK),
        };
        self.set_recv_timeout(kernel_timeout)?;
        match self.try_recv(batch, libc::MSG_WAITFORONE) {
            Ok(n) => return Ok(n),
            Err(e) => match e.raw_os_error() {
                // The kernel timeout elapsed, or the wait was cut short: go on below.
                Some(
                    libc::EAGAIN
                    | libc::EINTR
                    | libc::ECONNREFUSED
                    | libc::EHOSTUNREACH
                    | libc::ENETUNREACH,
                ) => {}
                _ => return Err(e),
            },
        }
        self.recv_nowait(batch, Some(deadline))
    }

    /// Non-blocking receives, waiting with `poll` until `deadline` (`None`: do not wait;
    /// `Some(None)`: forever).
    fn recv_nowait(
        &self,
        batch: &mut Batch,
        deadline: Option<Option<Instant>>,
    ) -> io::Result<usize> {
        loop {
            match self.try_recv(batch, libc::MSG_DONTWAIT) {
                Ok(n) => return Ok(n),
                Err(e) => match e.raw_os_error() {
                    Some(libc::EAGAIN) => {}
                    Some(libc::EINTR) => continue,
                    // A pending ICMP error reported on the socket: consumed by this call, retry.
                    Some(libc::ECONNREFUSED | libc::EHOSTUNREACH | libc::ENETUNREACH) => continue,
                    _ => return Err(e),
                },
            }
            let Some(dl) = deadline else {
                return Ok(0);
            };
            let now = Instant::now();
            let remaining = match dl {
                None => None,
                Some(dl) if dl <= now => return Ok(0),
                Some(dl) => Some(dl - now),
            };
            match poll_fd(self.socket.as_raw_fd(), libc::POLLIN, remaining) {
                Ok(true) => {}
                Ok(false) => return Ok(0),
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// `sendmmsg` the messages `i < batch.len()` with `keep[i]` true, each with its bytes unchanged,
    /// to `batch.peer(i)` from `batch.local(i)` (an `IP_PKTINFO` control message with
    /// `ipi_spec_dst`), so the reply leaves from the address the datagram was sent to.
    ///
    /// Returns how many were sent. Partial sends are continued; a message that cannot be sent
    /// (send buffer still full after a short wait, `ENOBUFS`, unreachable, …) is dropped and counted
    /// in [`stats`](Self::stats), and the rest of the batch still goes out. Truncated messages are
    /// never sent (counted as `send_skipped_truncated`). Errors are returned only for a broken
    /// socket or when `keep` is shorter than the batch.
    pub fn send_back(&self, batch: &Batch, keep: &[bool]) -> io::Result<usize> {
        if keep.len() < batch.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "keep is shorter than the batch",
            ));
        }
        batch.with_send_headers(keep, |hdrs, skipped| {
            add(&self.counters.send_skipped_truncated, skipped);
            self.send_all(hdrs)
        })
    }

    fn send_all(&self, hdrs: &mut [libc::mmsghdr]) -> io::Result<usize> {
        let fd = self.socket.as_raw_fd();
        let total = hdrs.len();
        let (mut start, mut sent) = (0usize, 0usize);
        let (mut would_block, mut no_buffers, mut errors) = (0usize, 0usize, 0usize);
        let mut waited = false;
        let result = loop {
            if start >= total {
                break Ok(sent);
            }
            let rest = &mut hdrs[start..];
            let vlen = libc::c_uint::try_from(rest.len()).expect("batch size is at most 1024");
            #[allow(unsafe_code)]
            // SAFETY: `rest` are mmsghdrs prepared by `with_send_headers`: each points at one iovec
            // over a message buffer of the (immutably borrowed) batch, a sockaddr_in and optionally
            // one PktinfoCmsg, all alive for this call; the kernel writes only `msg_len`.
            let rc = unsafe { libc::sendmmsg(fd, rest.as_mut_ptr(), vlen, libc::MSG_DONTWAIT) };
            if rc > 0 {
                let n = usize::try_from(rc).expect("positive");
                debug_assert!(n <= rest.len());
                sent += n;
                start += n;
                waited = false;
                continue;
            }
            let err = if rc == 0 {
                // Not expected with vlen > 0; drop the head message so the loop always ends.
                io::Error::from(io::ErrorKind::WriteZero)
            } else {
                io::Error::last_os_error()
            };
            match err.raw_os_error() {
                Some(libc::EINTR) => {}
                Some(libc::EAGAIN) if !waited => {
                    waited = true;
                    match poll_fd(fd, libc::POLLOUT, Some(SEND_WAIT)) {
                        Ok(_) => {}
                        Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
                        Err(e) => break Err(e),
                    }
                }
                Some(libc::EAGAIN) => {
                    would_block += 1;
                    start += 1;
                    waited = false;
                }
                Some(libc::ENOBUFS) => {
                    no_buffers += 1;
                    start += 1;
                }
                Some(libc::EBADF | libc::ENOTSOCK | libc::EFAULT) => break Err(err),
                _ => {
                    errors += 1;
                    start += 1;
                }
            }
        };
        let c = &self.counters;
        add(&c.sent, sent);
        add(&c.send_would_block, would_block);
        add(&c.send_no_buffers, no_buffers);
        add(&c.send_errors, errors);
        result
    }

    /// Send one datagram (e.g. an injected TCP reset riding a flow's GENEVE header) to `peer` from
    /// `local` (`0.0.0.0`: let the kernel choose). Counted in [`stats`](Self::stats) like
    /// `send_back`, but the error is also returned.
    pub fn send_to_from(
        &self,
        bytes: &[u8],
        peer: SocketAddrV4,
        local: Ipv4Addr,
    ) -> io::Result<()> {
        let fd = self.socket.as_raw_fd();
        let mut name = sockaddr_from(peer);
        let mut iov = libc::iovec {
            iov_base: bytes.as_ptr().cast_mut().cast(),
            iov_len: bytes.len(),
        };
        let mut cmsg = PktinfoCmsg::new(local);
        let mut hdr = crate::batch::zeroed_mmsghdr().msg_hdr;
        hdr.msg_name = std::ptr::from_mut(&mut name).cast();
        hdr.msg_namelen = mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        hdr.msg_iov = &mut iov;
        hdr.msg_iovlen = 1;
        if !local.is_unspecified() {
            hdr.msg_control = std::ptr::from_mut(&mut cmsg).cast();
            hdr.msg_controllen = mem::size_of::<PktinfoCmsg>() as _;
        }
        let mut waited = false;
        let result = loop {
            #[allow(unsafe_code)]
            // SAFETY: `hdr` points at `name`, one `iov` over `bytes` (only read by the kernel) and
            // optionally `cmsg`, all alive on this stack frame for the call.
            let rc = unsafe { libc::sendmsg(fd, &hdr, libc::MSG_DONTWAIT) };
            if rc >= 0 {
                break Ok(());
            }
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EINTR) => {}
                Some(libc::EAGAIN) if !waited => {
                    waited = true;
                    let _ = poll_fd(fd, libc::POLLOUT, Some(SEND_WAIT));
                }
                _ => break Err(err),
            }
        };
        let c = &self.counters;
        match &result {
            Ok(()) => add(&c.sent, 1),
            Err(e) => match e.raw_os_error() {
                Some(libc::EAGAIN) => add(&c.send_would_block, 1),
                Some(libc::ENOBUFS) => add(&c.send_no_buffers, 1),
                _ => add(&c.send_errors, 1),
            },
        }
        result
    }
}

impl AsFd for WorkerSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

impl AsRawFd for WorkerSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}
