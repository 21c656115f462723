//! seawall-io: packet I/O, the bottom of the data plane's runtime stack.
//!
//! * [`Batch`]: a preallocated batch of datagram buffers with their peer, local address
//!   (`IP_PKTINFO`) and truncation flag; receiving and sending allocate nothing.
//! * [`WorkerSocket`]: one UDP/IPv4 socket per worker in a `SO_REUSEPORT` group bound to the GENEVE
//!   address, receiving with `recvmmsg` and sending back with `sendmmsg` from the address each
//!   datagram was received on.
//! * [`attach_steering`] / [`steering_hash`] / [`steer_index`]: flow-affine steering, so both
//!   directions of an inner flow (keyed by GWLB endpoint id and symmetric 5-tuple) reach the same
//!   worker: a classic-BPF reuseport program in the kernel, and the same hash in Rust.
//! * [`reflector`]: the bare recvmmsg/sendmmsg GENEVE echo, the performance baseline.
//!
//! This is the one crate allowed `unsafe` (`#![deny(unsafe_code)]` instead of `forbid`): the batched
//! socket calls (`recvmmsg`, `sendmmsg`, control messages) and `SO_ATTACH_REUSEPORT_CBPF` have no
//! safe wrapper in `std` or `socket2`. Every unsafe block is allowed one by one, with a `// SAFETY:`
//! comment. The steering code parses untrusted bytes without panicking (it does not depend on
//! `seawall-wire`, whose parser validates fully; steering only needs a few fixed offsets).
#![deny(unsafe_code)]

mod batch;
pub mod reflector;
mod socket;
mod steering;

pub use batch::{Batch, DEFAULT_BATCH_SIZE, DEFAULT_BUF_SIZE, MAX_BATCH_SIZE};
pub use socket::{IoStats, SocketOptions, WorkerSocket};
pub use steering::{attach_steering, steer_index, steering_hash};

/// Bind a reuseport group of `n` worker sockets on `addr` (port 0: one free port for all of them),
/// in order, and attach the steering program, so datagrams go to
/// `sockets[steer_index(payload, n)]`.
///
/// # Errors
/// Binding, socket options or attaching the program fail; `n` is 0; `opts.reuse_port` is false
/// with `n > 1`.
pub fn bind_group(
    addr: std::net::SocketAddrV4,
    n: usize,
    opts: &SocketOptions,
) -> std::io::Result<Vec<WorkerSocket>> {
    if n == 0 || (n > 1 && !opts.reuse_port) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "a steered group needs at least one socket and reuse_port for more than one",
        ));
    }
    let first = WorkerSocket::bind(addr, opts)?;
    let bound = first.local_addr();
    let mut sockets = Vec::with_capacity(n);
    sockets.push(first);
    for _ in 1..n {
        sockets.push(WorkerSocket::bind(bound, opts)?);
    }
    attach_steering(&sockets)?;
    Ok(sockets)
}

#[cfg(test)]
mod tests {
    fn assert_send<T: Send>() {}
    fn assert_sync<T: Sync>() {}

    #[test]
    fn thread_safety() {
        // A worker socket may be shared; a batch moves to its worker thread but is not shared.
        assert_send::<super::WorkerSocket>();
        assert_sync::<super::WorkerSocket>();
        assert_send::<super::Batch>();
    }
}
