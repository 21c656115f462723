//! Steady state allocates nothing: `recv_batch` and `send_back` on a warm batch make no heap
//! allocation on the calling thread (counted by a wrapping global allocator).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::time::Duration;

use seawall_io::{Batch, SocketOptions, WorkerSocket};

thread_local! {
    // const-initialised, no destructor: touching it never allocates.
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

struct Counting;

#[allow(unsafe_code)]
// SAFETY: every method forwards to the system allocator with the caller's arguments unchanged;
// the thread-local counter is const-initialised and never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded contract of GlobalAlloc::alloc.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded contract of GlobalAlloc::dealloc.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded contract of GlobalAlloc::realloc.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> usize {
    ALLOCS.with(Cell::get)
}

#[test]
fn recv_and_send_back_do_not_allocate() {
    let opts = SocketOptions::default()
        .with_reuse_port(false)
        .with_buffers(1 << 20, 1 << 20);
    let s = WorkerSocket::bind(SocketAddrV4::new(Ipv4Addr::new(127, 61, 4, 1), 0), &opts)
        .expect("bind");
    let c = UdpSocket::bind("127.0.0.1:0").expect("client");
    c.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let before = allocs();
    let mut batch = Batch::new(64, 9216);
    assert!(
        allocs() > before,
        "the counter sees this thread's allocations"
    );
    let keep = [true; 64];
    let payload = [0x5Au8; 300];
    let mut buf = [0u8; 512];
    let mut measured = 0;
    for round in 0..20 {
        for _ in 0..8 {
            c.send_to(&payload, s.local_addr()).expect("send");
        }
        let mut got = 0;
        while got < 8 {
            let before = allocs();
            let n = s
                .recv_batch(&mut batch, Duration::from_secs(20))
                .expect("recv");
            let sent = s.send_back(&batch, &keep).expect("send_back");
            let after = allocs();
            // Round 0 warms up lazily initialised runtime state; later rounds must not allocate.
            if round > 0 {
                assert_eq!(
                    after - before,
                    0,
                    "round {round}: recv_batch + send_back allocated"
                );
                measured += n;
            }
            assert_eq!(sent, n);
            got += n;
        }
        for _ in 0..8 {
            let (n, from) = c.recv_from(&mut buf).expect("echo");
            assert_eq!(&buf[..n], &payload[..]);
            assert_eq!(from, SocketAddr::V4(s.local_addr()));
        }
    }
    assert_eq!(measured, 19 * 8);
    // Also the timeout path.
    let before = allocs();
    assert_eq!(
        s.recv_batch(&mut batch, Duration::from_millis(10))
            .expect("timeout"),
        0
    );
    assert_eq!(allocs() - before, 0, "a timed-out recv_batch allocated");
}
