//! A preallocated batch of datagrams for `recvmmsg`/`sendmmsg`.

use std::cell::RefCell;
use std::mem;
use std::net::{Ipv4Addr, SocketAddrV4};

/// Messages per batch that workers and the reflector use.
pub const DEFAULT_BATCH_SIZE: usize = 64;
/// Buffer per message: GWLB inner MTU 8500 + GENEVE 8 + at most 252 bytes of options, rounded up.
pub const DEFAULT_BUF_SIZE: usize = 9216;
/// The largest batch: the kernel caps one `recvmmsg`/`sendmmsg` at `UIO_MAXIOV` (1024) messages.
pub const MAX_BATCH_SIZE: usize = 1024;

/// Control-message space per message. One `IP_PKTINFO` needs `CMSG_SPACE(12)` = 32 bytes on 64-bit;
/// the rest is headroom so an unexpected extra cmsg is truncated (`MSG_CTRUNC`) instead of failing.
const CMSG_BUF_LEN: usize = 64;

/// Control-message buffer, aligned for `cmsghdr`.
#[derive(Clone, Copy)]
#[repr(C, align(8))]
pub(crate) struct CmsgBuf(pub(crate) [u8; CMSG_BUF_LEN]);

/// One `IP_PKTINFO` control message, laid out as `CMSG_FIRSTHDR`/`CMSG_DATA` expect
/// (checked against the libc macros by a test and a debug assertion).
#[derive(Clone, Copy)]
#[repr(C)]
pub(crate) struct PktinfoCmsg {
    pub(crate) hdr: libc::cmsghdr,
    pub(crate) info: libc::in_pktinfo,
}

impl PktinfoCmsg {
    /// A `cmsg` asking the kernel to send from `local` (`ipi_spec_dst`), routing as usual.
    pub(crate) fn new(local: Ipv4Addr) -> Self {
        let mut c = PktinfoCmsg {
            hdr: zeroed_cmsghdr(),
            info: zeroed_pktinfo(),
        };
        c.hdr.cmsg_len = pktinfo_cmsg_len();
        c.hdr.cmsg_level = libc::IPPROTO_IP;
        c.hdr.cmsg_type = libc::IP_PKTINFO;
        c.info.ipi_ifindex = 0;
        c.info.ipi_spec_dst = libc::in_addr {
            s_addr: u32::from(local).to_be(),
        };
        c.info.ipi_addr = libc::in_addr { s_addr: 0 };
        c
    }
}

fn zeroed_cmsghdr() -> libc::cmsghdr {
    // cmsghdr has private padding fields on some targets, so build it through mem::zeroed.
    #[allow(unsafe_code)]
    // SAFETY: cmsghdr is a C struct of integers; all-zero bytes are a valid value.
    unsafe {
        mem::zeroed()
    }
}

fn zeroed_pktinfo() -> libc::in_pktinfo {
    libc::in_pktinfo {
        ipi_ifindex: 0,
        ipi_spec_dst: libc::in_addr { s_addr: 0 },
        ipi_addr: libc::in_addr { s_addr: 0 },
    }
}

/// `CMSG_LEN(sizeof(struct in_pktinfo))`.
pub(crate) fn pktinfo_cmsg_len() -> usize {
    let data = u32::try_from(mem::size_of::<libc::in_pktinfo>()).expect("in_pktinfo is tiny");
    #[allow(unsafe_code)]
    // SAFETY: CMSG_LEN is pure arithmetic on its argument.
    let len = unsafe { libc::CMSG_LEN(data) };
    len as usize
}

/// `CMSG_SPACE(sizeof(struct in_pktinfo))`.
#[cfg(test)]
fn pktinfo_cmsg_space() -> usize {
    let data = u32::try_from(mem::size_of::<libc::in_pktinfo>()).expect("in_pktinfo is tiny");
    #[allow(unsafe_code)]
    // SAFETY: CMSG_SPACE is pure arithmetic on its argument.
    let space = unsafe { libc::CMSG_SPACE(data) };
    space as usize
}

pub(crate) fn zeroed_mmsghdr() -> libc::mmsghdr {
    #[allow(unsafe_code)]
    // SAFETY: mmsghdr is a C struct of integers and raw pointers; all-zero bytes (null pointers,
    // zero lengths) are a valid value.
    unsafe {
        mem::zeroed()
    }
}

pub(crate) fn sockaddr_from(addr: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: addr.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*addr.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

fn zeroed_sockaddr() -> libc::sockaddr_in {
    sockaddr_from(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0))
}

/// Per-message results of the last receive.
#[derive(Clone, Copy, Debug)]
struct Meta {
    len: usize,
    peer: SocketAddrV4,
    local: Ipv4Addr,
    truncated: bool,
}

const EMPTY_META: Meta = Meta {
    len: 0,
    peer: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0),
    local: Ipv4Addr::UNSPECIFIED,
    truncated: false,
};

/// Kernel-facing headers for one direction. Raw pointers in here are rewritten from fresh borrows
/// right before every syscall, so they never outlive what they point to.
/// `C` is the per-message control buffer: raw bytes on receive, one `IP_PKTINFO` on send.
struct Headers<C> {
    hdrs: Box<[libc::mmsghdr]>,
    iov: Box<[libc::iovec]>,
    names: Box<[libc::sockaddr_in]>,
    cmsg: Box<[C]>,
}

impl<C: Copy> Headers<C> {
    fn new(n: usize, cmsg: C) -> Self {
        Headers {
            hdrs: (0..n).map(|_| zeroed_mmsghdr()).collect(),
            iov: (0..n)
                .map(|_| libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0,
                })
                .collect(),
            names: (0..n).map(|_| zeroed_sockaddr()).collect(),
            cmsg: vec![cmsg; n].into_boxed_slice(),
        }
    }
}

/// A preallocated batch of `capacity` datagram buffers of `buf_size` bytes each, with the
/// `mmsghdr`/`iovec`/`sockaddr_in`/control-message storage for receiving into them and sending them
/// back. Everything is allocated in [`Batch::new`]; receiving and sending allocate nothing.
///
/// After [`WorkerSocket::recv_batch`](crate::WorkerSocket::recv_batch), messages `0..len()` hold
/// the received datagrams with their peer, the local address they were sent to and whether they
/// were truncated.
pub struct Batch {
    buf_size: usize,
    bufs: Box<[u8]>,
    meta: Box<[Meta]>,
    len: usize,
    recv: Headers<CmsgBuf>,
    /// Send-side headers; behind a `RefCell` so `send_back(&Batch)` can fill them.
    send: RefCell<Headers<PktinfoCmsg>>,
}

// SAFETY: the raw pointers inside the mmsghdr/iovec storage only ever point into this Batch's own
// heap allocations and are rewritten from fresh borrows before every syscall; nothing in a Batch is
// tied to the thread that created it. (RefCell keeps it !Sync, which is intended.)
#[allow(unsafe_code)]
unsafe impl Send for Batch {}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("capacity", &self.capacity())
            .field("buf_size", &self.buf_size)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl Batch {
    /// Allocate a batch of `n` messages of `buf_size` bytes (use [`DEFAULT_BATCH_SIZE`] and
    /// [`DEFAULT_BUF_SIZE`]; a datagram larger than `buf_size` is received truncated and flagged).
    ///
    /// # Panics
    /// If `n` is 0 or above [`MAX_BATCH_SIZE`], or `buf_size` is 0.
    pub fn new(n: usize, buf_size: usize) -> Self {
        assert!(
            (1..=MAX_BATCH_SIZE).contains(&n),
            "batch size must be 1..=1024, got {n}"
        );
        assert!(buf_size > 0, "buffer size must be positive");
        let total = n
            .checked_mul(buf_size)
            .expect("batch buffer size overflows usize");
        Batch {
            buf_size,
            bufs: vec![0u8; total].into_boxed_slice(),
            meta: vec![EMPTY_META; n].into_boxed_slice(),
            len: 0,
            recv: Headers::new(n, CmsgBuf([0; CMSG_BUF_LEN])),
            send: RefCell::new(Headers::new(n, PktinfoCmsg::new(Ipv4Addr::UNSPECIFIED))),
        }
    }

    /// Number of messages received by the last `recv_batch`.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the last `recv_batch` received nothing.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Maximum messages per batch.
    pub fn capacity(&self) -> usize {
        self.meta.len()
    }

    /// Buffer size per message.
    pub fn buf_size(&self) -> usize {
        self.buf_size
    }

    /// The bytes of message `i` (only the first `buf_size` bytes if it was truncated).
    ///
    /// # Panics
    /// If `i >= len()`.
    pub fn payload(&self, i: usize) -> &[u8] {
        let m = self.meta_at(i);
        let start = i * self.buf_size;
        &self.bufs[start..start + m.len]
    }

    /// The sender (outer source address and port) of message `i`.
    ///
    /// # Panics
    /// If `i >= len()`.
    pub fn peer(&self, i: usize) -> SocketAddrV4 {
        self.meta_at(i).peer
    }

    /// The local address message `i` was received on (`IP_PKTINFO` `ipi_spec_dst`: for unicast the
    /// packet's destination address), or `0.0.0.0` if the kernel gave none.
    ///
    /// # Panics
    /// If `i >= len()`.
    pub fn local(&self, i: usize) -> Ipv4Addr {
        self.meta_at(i).local
    }

    /// Whether message `i` was larger than the buffer (`MSG_TRUNC`): its payload is incomplete.
    ///
    /// # Panics
    /// If `i >= len()`.
    pub fn truncated(&self, i: usize) -> bool {
        self.meta_at(i).truncated
    }

    fn meta_at(&self, i: usize) -> &Meta {
        assert!(
            i < self.len,
            "message {i} out of range (batch holds {})",
            self.len
        );
        &self.meta[i]
    }

    /// Reset the receive headers for a `recvmmsg` of up to `capacity()` messages and return them.
    pub(crate) fn prepare_recv(&mut self) -> &mut [libc::mmsghdr] {
        self.len = 0;
        let n = self.capacity();
        let bufs = self.bufs.as_mut_ptr();
        let h = &mut self.recv;
        for i in 0..n {
            // `wrapping_add` keeps this free of unsafe; the offset is in bounds (i < n).
            h.iov[i] = libc::iovec {
                iov_base: bufs.wrapping_add(i * self.buf_size).cast(),
                iov_len: self.buf_size,
            };
        }
        let iov = h.iov.as_mut_ptr();
        let names = h.names.as_mut_ptr();
        let cmsg = h.cmsg.as_mut_ptr();
        for (i, m) in h.hdrs.iter_mut().enumerate() {
            m.msg_len = 0;
            let hdr = &mut m.msg_hdr;
            hdr.msg_name = names.wrapping_add(i).cast();
            hdr.msg_namelen = mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            hdr.msg_iov = iov.wrapping_add(i);
            hdr.msg_iovlen = 1;
            hdr.msg_control = cmsg.wrapping_add(i).cast();
            hdr.msg_controllen = CMSG_BUF_LEN as _;
            hdr.msg_flags = 0;
        }
        &mut h.hdrs
    }

    /// Record the results of a `recvmmsg` that filled `count` messages.
    pub(crate) fn finish_recv(&mut self, count: usize) -> usize {
        debug_assert!(count <= self.capacity());
        let mut truncated = 0;
        for i in 0..count {
            let m = &self.recv.hdrs[i];
            let hdr = &m.msg_hdr;
            let is_trunc = hdr.msg_flags & libc::MSG_TRUNC != 0;
            truncated += usize::from(is_trunc);
            let name = &self.recv.names[i];
            let peer = if i32::from(name.sin_family) == libc::AF_INET {
                SocketAddrV4::new(
                    Ipv4Addr::from(u32::from_be(name.sin_addr.s_addr)),
                    u16::from_be(name.sin_port),
                )
            } else {
                SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)
            };
            let local = parse_pktinfo(hdr).unwrap_or(Ipv4Addr::UNSPECIFIED);
            self.meta[i] = Meta {
                len: (m.msg_len as usize).min(self.buf_size),
                peer,
                local,
                truncated: is_trunc,
            };
        }
        self.len = count;
        truncated
    }

    /// Fill the send headers with the messages `i` where `keep[i]` (a truncated message is skipped:
    /// its bytes are incomplete), then call `f` with the headers to pass to `sendmmsg` and the
    /// number of skipped truncated messages. `keep.len()` must be at least `len()`.
    pub(crate) fn with_send_headers<R>(
        &self,
        keep: &[bool],
        f: impl FnOnce(&mut [libc::mmsghdr], usize) -> R,
    ) -> R {
        let mut guard = self.send.borrow_mut();
        let h = &mut *guard;
        let mut count = 0;
        let mut skipped = 0;
        for (i, (&k, m)) in keep.iter().zip(self.meta.iter()).take(self.len).enumerate() {
            if !k {
                continue;
            }
            if m.truncated {
                skipped += 1;
                continue;
            }
            let start = i * self.buf_size;
            h.iov[count] = libc::iovec {
                // The kernel only reads from iov_base on send; *mut is what the C type says.
                iov_base: self.bufs[start..start + m.len].as_ptr().cast_mut().cast(),
                iov_len: m.len,
            };
            h.names[count] = sockaddr_from(m.peer);
            // An unspecified local address (no IP_PKTINFO received) means: no control message.
            h.cmsg[count] = PktinfoCmsg::new(m.local);
            count += 1;
        }
        // Pointers are taken once, after all writes through the slices above.
        let iov = h.iov.as_mut_ptr();
        let names = h.names.as_mut_ptr();
        let cmsg = h.cmsg.as_mut_ptr();
        for ci in 0..count {
            let has_local = h.cmsg[ci].info.ipi_spec_dst.s_addr != 0;
            let m = &mut h.hdrs[ci];
            m.msg_len = 0;
            let hdr = &mut m.msg_hdr;
            hdr.msg_name = names.wrapping_add(ci).cast();
            hdr.msg_namelen = mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            hdr.msg_iov = iov.wrapping_add(ci);
            hdr.msg_iovlen = 1;
            if has_local {
                hdr.msg_control = cmsg.wrapping_add(ci).cast();
                hdr.msg_controllen = mem::size_of::<PktinfoCmsg>() as _;
            } else {
                hdr.msg_control = std::ptr::null_mut();
                hdr.msg_controllen = 0;
            }
            hdr.msg_flags = 0;
        }
        f(&mut h.hdrs[..count], skipped)
    }
}

/// The `ipi_spec_dst` of the first `IP_PKTINFO` control message of a received `msghdr`.
fn parse_pktinfo(hdr: &libc::msghdr) -> Option<Ipv4Addr> {
    // msg_controllen is size_t on glibc, socklen_t on musl.
    #[allow(clippy::unnecessary_cast)]
    let controllen = hdr.msg_controllen as usize;
    if hdr.msg_control.is_null() || controllen < mem::size_of::<libc::cmsghdr>() {
        return None;
    }
    #[allow(unsafe_code)]
    // SAFETY: `hdr` was just filled by recvmmsg: msg_control points at this batch's aligned CmsgBuf
    // and msg_controllen is the number of valid control bytes written by the kernel, which the
    // CMSG_* macros use to bound the walk. The payload is read unaligned.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(hdr);
        while !c.is_null() {
            let cm = &*c;
            if cm.cmsg_level == libc::IPPROTO_IP
                && cm.cmsg_type == libc::IP_PKTINFO
                && cm.cmsg_len as usize >= pktinfo_cmsg_len()
            {
                let info: libc::in_pktinfo =
                    std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::in_pktinfo>());
                return Some(Ipv4Addr::from(u32::from_be(info.ipi_spec_dst.s_addr)));
            }
            c = libc::CMSG_NXTHDR(hdr, c);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pktinfo_cmsg_layout_matches_libc_macros() {
        assert_eq!(mem::offset_of!(PktinfoCmsg, info), pktinfo_cmsg_len() - 12);
        assert_eq!(mem::size_of::<PktinfoCmsg>(), pktinfo_cmsg_space());
        assert!(pktinfo_cmsg_space() <= CMSG_BUF_LEN);
        assert!(mem::align_of::<libc::cmsghdr>() <= mem::align_of::<CmsgBuf>());
    }

    #[test]
    fn new_batch_is_empty_and_sized() {
        let b = Batch::new(4, 100);
        assert!(b.is_empty());
        assert_eq!(b.capacity(), 4);
        assert_eq!(b.buf_size(), 100);
    }

    #[test]
    #[should_panic(expected = "out of range")]
    fn payload_out_of_range_panics() {
        let b = Batch::new(4, 100);
        let _ = b.payload(0);
    }
}
