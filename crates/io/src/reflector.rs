//! The bare GENEVE reflector: the performance baseline for the data plane.
//!
//! `threads` plain threads, each with its own [`WorkerSocket`] of one steered reuseport group (the
//! same socket options, batch size, buffer size and steering program as the workers), receive a
//! batch with `recvmmsg` and send every datagram straight back, unchanged, with `sendmmsg` — no
//! parsing, no copying. Whatever the data plane costs on top of this is the cost of inspection.

use std::io;
use std::net::SocketAddrV4;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::{bind_group, Batch, IoStats, SocketOptions, WorkerSocket};
use crate::{DEFAULT_BATCH_SIZE, DEFAULT_BUF_SIZE};

/// Reflector settings; the defaults are the workers' defaults.
#[derive(Clone, Debug)]
pub struct ReflectorConfig {
    /// Messages per `recvmmsg`/`sendmmsg`.
    pub batch_size: usize,
    /// Bytes per message buffer.
    pub buf_size: usize,
    /// Socket options (reuse port, buffer sizes).
    pub socket: SocketOptions,
    /// How often an idle thread checks the stop flag.
    pub poll_interval: Duration,
}

impl Default for ReflectorConfig {
    fn default() -> Self {
        ReflectorConfig {
            batch_size: DEFAULT_BATCH_SIZE,
            buf_size: DEFAULT_BUF_SIZE,
            socket: SocketOptions::default(),
            poll_interval: Duration::from_millis(50),
        }
    }
}

/// A running reflector.
#[derive(Debug)]
pub struct ReflectorHandle {
    local: SocketAddrV4,
    threads: Vec<JoinHandle<io::Result<IoStats>>>,
}

impl ReflectorHandle {
    /// The address the reflector listens on (the real port when started on port 0).
    pub fn local_addr(&self) -> SocketAddrV4 {
        self.local
    }

    /// Wait for every thread to stop (set the stop flag first) and return each socket's counters,
    /// in socket (steering index) order. The first thread error, if any, is returned instead.
    pub fn join(self) -> io::Result<Vec<IoStats>> {
        let mut stats = Vec::with_capacity(self.threads.len());
        let mut first_err = None;
        for t in self.threads {
            match t.join() {
                Ok(Ok(s)) => stats.push(s),
                Ok(Err(e)) => {
                    first_err.get_or_insert(e);
                }
                Err(_) => {
                    first_err.get_or_insert(io::Error::other("reflector thread panicked"));
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(stats),
        }
    }
}

/// Start the reflector on `addr` with `threads` threads and the default (worker) settings. It runs
/// until `stop` is set; then [`ReflectorHandle::join`].
pub fn run_reflector(
    addr: SocketAddrV4,
    threads: usize,
    stop: Arc<AtomicBool>,
) -> io::Result<ReflectorHandle> {
    run_reflector_with(addr, threads, &ReflectorConfig::default(), stop)
}

/// [`run_reflector`] with explicit settings.
pub fn run_reflector_with(
    addr: SocketAddrV4,
    threads: usize,
    config: &ReflectorConfig,
    stop: Arc<AtomicBool>,
) -> io::Result<ReflectorHandle> {
    if !(1..=crate::MAX_BATCH_SIZE).contains(&config.batch_size) || config.buf_size == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "bad batch or buffer size",
        ));
    }
    let sockets = bind_group(addr, threads, &config.socket)?;
    let local = sockets[0].local_addr();
    let mut handles = Vec::with_capacity(threads);
    for (i, socket) in sockets.into_iter().enumerate() {
        let thread_stop = Arc::clone(&stop);
        let (batch_size, buf_size, interval) =
            (config.batch_size, config.buf_size, config.poll_interval);
        let spawned = std::thread::Builder::new()
            .name(format!("reflector-{i}"))
            .spawn(move || reflect(&socket, batch_size, buf_size, interval, &thread_stop));
        match spawned {
            Ok(h) => handles.push(h),
            Err(e) => {
                // Stop what already runs (through the caller's flag) before reporting.
                stop.store(true, Ordering::Relaxed);
                for h in handles {
                    let _ = h.join();
                }
                return Err(e);
            }
        }
    }
    Ok(ReflectorHandle {
        local,
        threads: handles,
    })
}

fn reflect(
    socket: &WorkerSocket,
    batch_size: usize,
    buf_size: usize,
    interval: Duration,
    stop: &AtomicBool,
) -> io::Result<IoStats> {
    let mut batch = Batch::new(batch_size, buf_size);
    let keep = vec![true; batch_size];
    while !stop.load(Ordering::Relaxed) {
        if socket.recv_batch(&mut batch, interval)? > 0 {
            socket.send_back(&batch, &keep)?;
        }
    }
    Ok(socket.stats())
}
