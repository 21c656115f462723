//! Flow-affine steering: both directions of an inner flow go to the same worker socket.
//!
//! The kernel's own `SO_REUSEPORT` hash covers the *outer* 4-tuple. GWLB sends the two directions of
//! an inner flow from different outer source ports, so that hash splits flows across workers. Instead
//! we attach a classic-BPF program to the reuseport group (`SO_ATTACH_REUSEPORT_CBPF`, no privileges
//! needed) that returns the index of the socket to use, computed from a **symmetric** hash of
//!
//! * the GWLB endpoint id (AWS option class `0x0108` type 1, 8 bytes), when it is the *first* GENEVE
//!   option; otherwise the endpoint id is skipped (GWLB always puts it first);
//! * the inner addresses, combined with XOR (IPv4: one word, IPv6: word by word);
//! * the inner protocol (IPv4 protocol / IPv6 next header);
//! * the inner ports as `(min << 16) | max`, only for TCP or UDP, only for unfragmented IPv4
//!   (MF clear and offset 0, so every fragment of a datagram, first or not, hashes on addresses and
//!   protocol alone) and only when the IPv6 next header is TCP/UDP directly (an IPv6 fragment header
//!   or any extension header means addresses and protocol only).
//!
//! Known limit: an IPv6 flow whose two directions differ in extension headers (one direction with a
//! hop-by-hop or destination-options header, the other without) hashes ports on one side only and
//! may be split; ICMP errors quoting a flow are steered by their own addresses, not the flow's.
//! The data plane handles both without per-flow state, as DESIGN.md section 1 requires.
//!
//! The GENEVE option length comes from the packet (`8 + 4 * opt_len`), the IPv4 header length from
//! IHL. The hash is a multiplicative mix per word finished with murmur3's `fmix32`, then `% n`.
//!
//! **Fallback:** anything the program cannot parse goes to socket index 0: a GENEVE version other
//! than 0, a protocol type other than `0x0800`/`0x86DD`, or a datagram too short for any load
//! (classic BPF aborts a program with return value 0 on an out-of-bounds load, and the plain Rust
//! [`steering_hash`] returns `None`, which [`steer_index`] maps to 0). Those datagrams are malformed
//! and are dropped by the data plane anyway, so piling them on worker 0 is harmless.
//!
//! **Data offset:** for UDP the kernel pulls the UDP header before running the reuseport program, so
//! absolute offset 0 is the first byte of the UDP payload (the GENEVE header). This is checked on the
//! running kernel by a test (`bpf_offset_zero_is_udp_payload`).
//!
//! **Socket order:** the returned value is an index into the reuseport group in bind order. The
//! group must not change after [`attach_steering`]: closing a socket reorders the group.

use std::io;
use std::os::fd::AsRawFd;

use crate::socket::WorkerSocket;

const SEED: u32 = 0x811C_9DC5;
const MIX: u32 = 0x9E37_79B1;
const FMIX1: u32 = 0x85EB_CA6B;
const FMIX2: u32 = 0xC2B2_AE35;

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86DD;
const AWS_CLASS: u16 = 0x0108;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;

#[inline]
fn mix(h: u32, v: u32) -> u32 {
    (h ^ v).wrapping_mul(MIX)
}

#[inline]
fn fmix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(FMIX1);
    h ^= h >> 13;
    h = h.wrapping_mul(FMIX2);
    h ^ (h >> 16)
}

/// Symmetric port key: `(min << 16) | max`.
#[inline]
fn port_key(sp: u16, dp: u16) -> u32 {
    let (lo, hi) = if dp > sp { (sp, dp) } else { (dp, sp) };
    (u32::from(lo) << 16) | u32::from(hi)
}

#[inline]
fn byte(d: &[u8], off: usize) -> Option<u8> {
    d.get(off).copied()
}

#[inline]
fn be16(d: &[u8], off: usize) -> Option<u16> {
    let b = d.get(off..off.checked_add(2)?)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

#[inline]
fn be32(d: &[u8], off: usize) -> Option<u32> {
    let b = d.get(off..off.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// The steering hash of one GENEVE datagram (the UDP payload), exactly as the kernel-side classic-BPF
/// program computes it, or `None` when that program would fall back (see the module docs).
///
/// Symmetric: swapping the inner source and destination (addresses and ports) gives the same hash.
/// Every load mirrors one load of the BPF program, so both agree on every input, including
/// truncated ones.
pub fn steering_hash(d: &[u8]) -> Option<u32> {
    let b0 = byte(d, 0)?;
    if b0 & 0xC0 != 0 {
        return None;
    }
    let opt_words = b0 & 0x3F;
    let inner = 8 + 4 * usize::from(opt_words);
    let mut h = SEED;
    if opt_words >= 3 && be16(d, 8)? == AWS_CLASS && byte(d, 10)? == 1 && byte(d, 11)? & 0x1F == 2 {
        h = mix(h, be32(d, 12)?);
        h = mix(h, be32(d, 16)?);
    }
    match be16(d, 2)? {
        ETHERTYPE_IPV4 => {
            let src = be32(d, inner + 12)?;
            let dst = be32(d, inner + 16)?;
            h = mix(h, src ^ dst);
            let proto = byte(d, inner + 9)?;
            h = mix(h, u32::from(proto));
            let frag = be16(d, inner + 6)?;
            if frag & 0x3FFF == 0 && (proto == IPPROTO_TCP || proto == IPPROTO_UDP) {
                let l4 = inner + 4 * usize::from(byte(d, inner)? & 0x0F);
                let sp = be16(d, l4)?;
                let dp = be16(d, l4 + 2)?;
                h = mix(h, port_key(sp, dp));
            }
        }
        ETHERTYPE_IPV6 => {
            for i in 0..4 {
                let s = be32(d, inner + 8 + 4 * i)?;
                let t = be32(d, inner + 24 + 4 * i)?;
                h = mix(h, s ^ t);
            }
            let nh = byte(d, inner + 6)?;
            h = mix(h, u32::from(nh));
            if nh == IPPROTO_TCP || nh == IPPROTO_UDP {
                let sp = be16(d, inner + 40)?;
                let dp = be16(d, inner + 42)?;
                h = mix(h, port_key(sp, dp));
            }
        }
        _ => return None,
    }
    Some(fmix32(h))
}

/// The worker index (`0..n`) for a datagram: `steering_hash % n`, or 0 when it cannot be parsed.
/// This is what the kernel program returns, for a software dispatcher that must agree with it.
///
/// # Panics
/// If `n` is 0.
#[inline]
pub fn steer_index(datagram: &[u8], n: usize) -> usize {
    assert!(n > 0, "steer_index needs at least one worker");
    match steering_hash(datagram) {
        // u32 always fits usize on the platforms this crate builds for (Linux, 32/64-bit).
        Some(h) => h as usize % n,
        None => 0,
    }
}

// ---------------------------------------------------------------------------------------------
// Classic BPF
// ---------------------------------------------------------------------------------------------

/// Classic BPF opcodes (linux/filter.h, linux/bpf_common.h).
pub(crate) mod op {
    pub const LD: u16 = 0x00;
    pub const LDX: u16 = 0x01;
    pub const ST: u16 = 0x02;
    pub const ALU: u16 = 0x04;
    pub const JMP: u16 = 0x05;
    pub const RET: u16 = 0x06;
    pub const MISC: u16 = 0x07;

    pub const W: u16 = 0x00;
    pub const H: u16 = 0x08;
    pub const B: u16 = 0x10;

    pub const IMM: u16 = 0x00;
    pub const ABS: u16 = 0x20;
    pub const IND: u16 = 0x40;
    pub const MEM: u16 = 0x60;

    pub const ADD: u16 = 0x00;
    pub const MUL: u16 = 0x20;
    pub const OR: u16 = 0x40;
    pub const AND: u16 = 0x50;
    pub const LSH: u16 = 0x60;
    pub const RSH: u16 = 0x70;
    pub const MOD: u16 = 0x90;
    pub const XOR: u16 = 0xA0;

    pub const JA: u16 = 0x00;
    pub const JEQ: u16 = 0x10;
    pub const JGT: u16 = 0x20;
    pub const JGE: u16 = 0x30;
    pub const JSET: u16 = 0x40;

    pub const K: u16 = 0x00;
    pub const X: u16 = 0x08;
    /// `RET` source: the accumulator.
    pub const A: u16 = 0x10;

    pub const TAX: u16 = 0x00;
}

#[derive(Clone, Copy)]
enum Target {
    Next,
    Label(usize),
}

struct Insn {
    code: u16,
    k: u32,
    jt: Target,
    jf: Target,
}

/// A tiny classic-BPF assembler with forward labels.
struct Asm {
    insns: Vec<Insn>,
    labels: Vec<Option<usize>>,
}

impl Asm {
    fn new() -> Self {
        Asm {
            insns: Vec::new(),
            labels: Vec::new(),
        }
    }

    fn label(&mut self) -> usize {
        self.labels.push(None);
        self.labels.len() - 1
    }

    fn bind(&mut self, l: usize) {
        debug_assert!(self.labels[l].is_none(), "label bound twice");
        self.labels[l] = Some(self.insns.len());
    }

    fn op(&mut self, code: u16, k: u32) {
        self.insns.push(Insn {
            code,
            k,
            jt: Target::Next,
            jf: Target::Next,
        });
    }

    fn jmp(&mut self, code: u16, k: u32, jt: Target, jf: Target) {
        self.insns.push(Insn {
            code: op::JMP | code,
            k,
            jt,
            jf,
        });
    }

    fn ja(&mut self, l: usize) {
        self.insns.push(Insn {
            code: op::JMP | op::JA,
            k: 0,
            jt: Target::Label(l),
            jf: Target::Next,
        });
    }

    // Helpers for the instructions the steering program uses.
    fn ld_abs(&mut self, size: u16, off: u32) {
        self.op(op::LD | size | op::ABS, off);
    }
    fn ld_ind(&mut self, size: u16, off: u32) {
        self.op(op::LD | size | op::IND, off);
    }
    fn ld_imm(&mut self, k: u32) {
        self.op(op::LD | op::IMM, k);
    }
    fn ld_mem(&mut self, slot: u32) {
        self.op(op::LD | op::MEM, slot);
    }
    fn ldx_mem(&mut self, slot: u32) {
        self.op(op::LDX | op::MEM, slot);
    }
    fn st(&mut self, slot: u32) {
        self.op(op::ST, slot);
    }
    fn alu_k(&mut self, alu: u16, k: u32) {
        self.op(op::ALU | alu | op::K, k);
    }
    fn alu_x(&mut self, alu: u16) {
        self.op(op::ALU | alu | op::X, 0);
    }
    fn tax(&mut self) {
        self.op(op::MISC | op::TAX, 0);
    }

    fn finish(self) -> Vec<libc::sock_filter> {
        let labels = self.labels;
        let resolve = |idx: usize, t: Target| -> u32 {
            match t {
                Target::Next => 0,
                Target::Label(l) => {
                    let pos = labels[l].expect("every steering label is bound");
                    assert!(pos > idx, "classic BPF jumps go forward only");
                    u32::try_from(pos - idx - 1).expect("jump offset fits u32")
                }
            }
        };
        self.insns
            .iter()
            .enumerate()
            .map(|(idx, i)| {
                if i.code == op::JMP | op::JA {
                    libc::sock_filter {
                        code: i.code,
                        jt: 0,
                        jf: 0,
                        k: resolve(idx, i.jt),
                    }
                } else {
                    let jt = resolve(idx, i.jt);
                    let jf = resolve(idx, i.jf);
                    libc::sock_filter {
                        code: i.code,
                        jt: u8::try_from(jt).expect("conditional jump offset fits 8 bits"),
                        jf: u8::try_from(jf).expect("conditional jump offset fits 8 bits"),
                        k: i.k,
                    }
                }
            })
            .collect()
    }
}

// Scratch memory slots.
const M_HASH: u32 = 0;
const M_OPTW: u32 = 1;
const M_INNER: u32 = 2;
const M_TMP: u32 = 3;
const M_PROTO: u32 = 4;
const M_SPORT: u32 = 5;
const M_TMP2: u32 = 6;

/// `M[hash] = (M[hash] ^ A) * MIX`. Clobbers X.
fn emit_mix(a: &mut Asm) {
    a.ldx_mem(M_HASH);
    a.alu_x(op::XOR);
    a.alu_k(op::MUL, MIX);
    a.st(M_HASH);
}

/// With A = destination port and M[sport] = source port: A = `(min << 16) | max`, then mix it.
fn emit_ports(a: &mut Asm) {
    let gt = a.label();
    let key = a.label();
    a.ldx_mem(M_SPORT);
    a.jmp(op::JGT | op::X, 0, Target::Label(gt), Target::Next);
    // dp <= sp: (dp << 16) | sp
    a.alu_k(op::LSH, 16);
    a.alu_x(op::OR);
    a.ja(key);
    a.bind(gt);
    // dp > sp: (sp << 16) | dp
    a.st(M_TMP2);
    a.ld_mem(M_SPORT);
    a.alu_k(op::LSH, 16);
    a.ldx_mem(M_TMP2);
    a.alu_x(op::OR);
    a.bind(key);
    emit_mix(a);
}

/// The reuseport steering program for a group of `n` sockets (see the module docs for the layout).
pub(crate) fn steering_program(n: u32) -> Vec<libc::sock_filter> {
    assert!(n > 0, "steering needs at least one socket");
    let mut a = Asm::new();
    let fail = a.label();
    let noep = a.label();
    let v4 = a.label();
    let v6 = a.label();
    let p4 = a.label();
    let p6 = a.label();
    let done = a.label();

    // GENEVE: version 0, option length in words, inner offset = 8 + 4 * opt_len.
    a.ld_abs(op::B, 0);
    a.jmp(op::JSET | op::K, 0xC0, Target::Label(fail), Target::Next);
    a.alu_k(op::AND, 0x3F);
    a.st(M_OPTW);
    a.alu_k(op::LSH, 2);
    a.alu_k(op::ADD, 8);
    a.st(M_INNER);
    a.ld_imm(SEED);
    a.st(M_HASH);

    // Endpoint id, when the first option is AWS class 0x0108 type 1 with 2 words of data.
    a.ld_mem(M_OPTW);
    a.jmp(op::JGE | op::K, 3, Target::Next, Target::Label(noep));
    a.ld_abs(op::H, 8);
    a.jmp(
        op::JEQ | op::K,
        u32::from(AWS_CLASS),
        Target::Next,
        Target::Label(noep),
    );
    a.ld_abs(op::B, 10);
    a.jmp(op::JEQ | op::K, 1, Target::Next, Target::Label(noep));
    a.ld_abs(op::B, 11);
    a.alu_k(op::AND, 0x1F);
    a.jmp(op::JEQ | op::K, 2, Target::Next, Target::Label(noep));
    a.ld_abs(op::W, 12);
    emit_mix(&mut a);
    a.ld_abs(op::W, 16);
    emit_mix(&mut a);

    a.bind(noep);
    a.ld_abs(op::H, 2);
    a.jmp(
        op::JEQ | op::K,
        u32::from(ETHERTYPE_IPV4),
        Target::Label(v4),
        Target::Next,
    );
    a.jmp(
        op::JEQ | op::K,
        u32::from(ETHERTYPE_IPV6),
        Target::Label(v6),
        Target::Label(fail),
    );

    // Inner IPv4.
    a.bind(v4);
    a.ldx_mem(M_INNER);
    a.ld_ind(op::W, 12);
    a.st(M_TMP);
    a.ld_ind(op::W, 16);
    a.ldx_mem(M_TMP);
    a.alu_x(op::XOR);
    emit_mix(&mut a);
    a.ldx_mem(M_INNER);
    a.ld_ind(op::B, 9);
    a.st(M_PROTO);
    emit_mix(&mut a);
    a.ldx_mem(M_INNER);
    a.ld_ind(op::H, 6);
    a.jmp(op::JSET | op::K, 0x3FFF, Target::Label(done), Target::Next);
    a.ld_mem(M_PROTO);
    a.jmp(
        op::JEQ | op::K,
        u32::from(IPPROTO_TCP),
        Target::Label(p4),
        Target::Next,
    );
    a.jmp(
        op::JEQ | op::K,
        u32::from(IPPROTO_UDP),
        Target::Label(p4),
        Target::Label(done),
    );
    a.bind(p4);
    a.ldx_mem(M_INNER);
    a.ld_ind(op::B, 0);
    a.alu_k(op::AND, 0x0F);
    a.alu_k(op::LSH, 2);
    a.alu_x(op::ADD);
    a.tax();
    a.ld_ind(op::H, 0);
    a.st(M_SPORT);
    a.ld_ind(op::H, 2);
    emit_ports(&mut a);
    a.ja(done);

    // Inner IPv6.
    a.bind(v6);
    for i in 0..4 {
        a.ldx_mem(M_INNER);
        a.ld_ind(op::W, 8 + 4 * i);
        a.st(M_TMP);
        a.ld_ind(op::W, 24 + 4 * i);
        a.ldx_mem(M_TMP);
        a.alu_x(op::XOR);
        emit_mix(&mut a);
    }
    a.ldx_mem(M_INNER);
    a.ld_ind(op::B, 6);
    a.st(M_PROTO);
    emit_mix(&mut a);
    a.ld_mem(M_PROTO);
    a.jmp(
        op::JEQ | op::K,
        u32::from(IPPROTO_TCP),
        Target::Label(p6),
        Target::Next,
    );
    a.jmp(
        op::JEQ | op::K,
        u32::from(IPPROTO_UDP),
        Target::Label(p6),
        Target::Label(done),
    );
    a.bind(p6);
    a.ldx_mem(M_INNER);
    a.ld_ind(op::H, 40);
    a.st(M_SPORT);
    a.ld_ind(op::H, 42);
    emit_ports(&mut a);

    // fmix32, then % n.
    a.bind(done);
    a.ld_mem(M_HASH);
    a.tax();
    a.alu_k(op::RSH, 16);
    a.alu_x(op::XOR);
    a.alu_k(op::MUL, FMIX1);
    a.tax();
    a.alu_k(op::RSH, 13);
    a.alu_x(op::XOR);
    a.alu_k(op::MUL, FMIX2);
    a.tax();
    a.alu_k(op::RSH, 16);
    a.alu_x(op::XOR);
    a.alu_k(op::MOD, n);
    a.op(op::RET | op::A, 0);

    a.bind(fail);
    a.op(op::RET | op::K, 0);
    a.finish()
}

/// Attach a classic-BPF reuseport program to the group `socket` belongs to.
pub(crate) fn attach_reuseport_cbpf(
    socket: &WorkerSocket,
    prog: &[libc::sock_filter],
) -> io::Result<()> {
    let len = u16::try_from(prog.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "bpf program too long"))?;
    let fprog = libc::sock_fprog {
        len,
        filter: prog.as_ptr().cast_mut(),
    };
    let optlen = libc::socklen_t::try_from(std::mem::size_of::<libc::sock_fprog>())
        .expect("sock_fprog size fits socklen_t");
    #[allow(unsafe_code)]
    // SAFETY: `fprog` is a valid sock_fprog for the duration of the call; it points at `prog.len()`
    // initialised sock_filter entries that the kernel only reads (it copies the program).
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_REUSEPORT_CBPF,
            std::ptr::from_ref(&fprog).cast(),
            optlen,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Attach the symmetric-flow steering program to a reuseport group.
///
/// `sockets` must be the whole group, all bound (with `SocketOptions::reuse_port`) to the same
/// address, in bind order: the program returns an index into the kernel's group, which is bind
/// order. Datagrams then go to `sockets[steer_index(payload, sockets.len())]`. Call it after the
/// last bind, and do not close sockets of the group afterwards (that reorders the kernel's group).
pub fn attach_steering(sockets: &[WorkerSocket]) -> io::Result<()> {
    let Some(first) = sockets.first() else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no sockets to steer",
        ));
    };
    let first_addr = first.local_addr();
    if sockets.iter().any(|s| s.local_addr() != first_addr) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "steering needs one reuseport group: all sockets bound to the same address",
        ));
    }
    let n = u32::try_from(sockets.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "too many sockets"))?;
    attach_reuseport_cbpf(first, &steering_program(n))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A classic-BPF interpreter for the instructions the steering program uses, with the kernel's
    /// semantics for an out-of-bounds packet load (the program returns 0).
    pub(crate) fn run(prog: &[libc::sock_filter], pkt: &[u8]) -> u32 {
        let (mut a, mut x, mut mem) = (0u32, 0u32, [0u32; 16]);
        let load = |off: u64, size: usize| -> Option<u32> {
            let off = usize::try_from(off).ok()?;
            let b = pkt.get(off..off + size)?;
            Some(b.iter().fold(0u32, |acc, &v| (acc << 8) | u32::from(v)))
        };
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            pc += 1;
            let size = match i.code & 0x18 {
                op::W => 4,
                op::H => 2,
                _ => 1,
            };
            match i.code & 0x07 {
                op::LD => match i.code & 0xE0 {
                    op::IMM => a = i.k,
                    op::ABS => match load(u64::from(i.k), size) {
                        Some(v) => a = v,
                        None => return 0,
                    },
                    op::IND => match load(u64::from(x) + u64::from(i.k), size) {
                        Some(v) => a = v,
                        None => return 0,
                    },
                    op::MEM => a = mem[i.k as usize],
                    other => panic!("unsupported ld mode {other:#x}"),
                },
                op::LDX => match i.code & 0xE0 {
                    op::MEM => x = mem[i.k as usize],
                    op::IMM => x = i.k,
                    other => panic!("unsupported ldx mode {other:#x}"),
                },
                op::ST => mem[i.k as usize] = a,
                op::ALU => {
                    let src = if i.code & op::X != 0 { x } else { i.k };
                    a = match i.code & 0xF0 {
                        op::ADD => a.wrapping_add(src),
                        op::MUL => a.wrapping_mul(src),
                        op::OR => a | src,
                        op::AND => a & src,
                        op::LSH => a << src,
                        op::RSH => a >> src,
                        op::MOD => a % src,
                        op::XOR => a ^ src,
                        other => panic!("unsupported alu op {other:#x}"),
                    };
                }
                op::JMP => {
                    let src = if i.code & op::X != 0 { x } else { i.k };
                    let cond = match i.code & 0xF0 {
                        op::JA => {
                            pc += i.k as usize;
                            continue;
                        }
                        op::JEQ => a == src,
                        op::JGT => a > src,
                        op::JGE => a >= src,
                        op::JSET => a & src != 0,
                        other => panic!("unsupported jmp op {other:#x}"),
                    };
                    pc += usize::from(if cond { i.jt } else { i.jf });
                }
                op::RET => return if i.code & op::A != 0 { a } else { i.k },
                op::MISC => x = a,
                other => panic!("unsupported class {other:#x}"),
            }
        }
    }

    /// xorshift64*: deterministic test randomness without a dependency.
    pub(crate) struct Rng(u64);
    impl Rng {
        pub(crate) fn new(seed: u64) -> Self {
            Rng(seed | 1)
        }
        pub(crate) fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        pub(crate) fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// A GWLB-like datagram with random inner headers (IPv4 with options, IPv6, fragments, other
    /// protocols), random GENEVE option layouts, then randomly truncated or corrupted.
    pub(crate) fn random_datagram(rng: &mut Rng) -> Vec<u8> {
        let mut d = Vec::new();
        let v6 = rng.below(2) == 0;
        // GENEVE options.
        let mut opts = Vec::new();
        match rng.below(4) {
            0 => {} // none
            1 => {
                opts.extend_from_slice(&[0x01, 0x08, 0x01, 0x02]);
                opts.extend_from_slice(&rng.next().to_be_bytes());
                opts.extend_from_slice(&[0x01, 0x08, 0x02, 0x02]);
                opts.extend_from_slice(&rng.next().to_be_bytes());
                opts.extend_from_slice(&[0x01, 0x08, 0x03, 0x01]);
                opts.extend_from_slice(&(rng.next() as u32).to_be_bytes());
            }
            2 => {
                // An unknown option first, then the endpoint id.
                opts.extend_from_slice(&[0x12, 0x34, 0x05, 0x01, 1, 2, 3, 4]);
                opts.extend_from_slice(&[0x01, 0x08, 0x01, 0x02]);
                opts.extend_from_slice(&rng.next().to_be_bytes());
            }
            _ => {
                for _ in 0..rng.below(6) {
                    let words = rng.below(3) as u8;
                    opts.extend_from_slice(&[0x01, 0x08, rng.below(4) as u8, words]);
                    for _ in 0..words {
                        opts.extend_from_slice(&(rng.next() as u32).to_be_bytes());
                    }
                }
            }
        }
        d.push((opts.len() / 4) as u8);
        d.push(0);
        d.extend_from_slice(if v6 { &[0x86, 0xDD] } else { &[0x08, 0x00] });
        d.extend_from_slice(&[0, 0, 0, 0]);
        d.extend_from_slice(&opts);
        let protos = [6u8, 17, 1, 58, 44, 0, 132];
        let proto = protos[rng.below(protos.len() as u64) as usize];
        if v6 {
            d.extend_from_slice(&[0x60, 0, 0, 0, 0, 20, proto, 64]);
            for _ in 0..4 {
                d.extend_from_slice(&rng.next().to_be_bytes());
            }
        } else {
            let opt_words = rng.below(3) as u8;
            let frag: u16 = match rng.below(4) {
                0 => 0x2000,
                1 => 0x0010,
                2 => 0x4000,
                _ => 0,
            };
            d.push(0x40 | (5 + opt_words));
            d.extend_from_slice(&[0, 0, 40, 0, 1]);
            d.extend_from_slice(&frag.to_be_bytes());
            d.extend_from_slice(&[64, proto, 0, 0]);
            d.extend_from_slice(&rng.next().to_be_bytes());
            for _ in 0..opt_words {
                d.extend_from_slice(&[1, 1, 1, 1]);
            }
        }
        d.extend_from_slice(&rng.next().to_be_bytes());
        d.extend_from_slice(&rng.next().to_be_bytes());
        match rng.below(6) {
            0 => {
                let cut = rng.below(d.len() as u64 + 1) as usize;
                d.truncate(cut);
            }
            1 if !d.is_empty() => {
                let at = rng.below(d.len() as u64) as usize;
                d[at] = rng.next() as u8;
            }
            _ => {}
        }
        d
    }

    #[test]
    fn program_and_rust_hash_agree_on_random_and_truncated_input() {
        let progs: Vec<_> = (1..=8).map(steering_program).collect();
        let mut rng = Rng::new(0x5EA_3A11);
        let mut parsed = 0;
        for _ in 0..20_000 {
            let d = random_datagram(&mut rng);
            if steering_hash(&d).is_some() {
                parsed += 1;
            }
            for (i, p) in progs.iter().enumerate() {
                let n = i + 1;
                assert_eq!(
                    run(p, &d) as usize,
                    steer_index(&d, n),
                    "n={n} datagram={d:02x?}"
                );
            }
        }
        // Most datagrams are well formed: the comparison is not only about the fallback.
        assert!(parsed > 10_000, "only {parsed} datagrams parsed");
    }

    #[test]
    fn program_is_small_enough_for_the_kernel() {
        // BPF_MAXINSNS is 4096; conditional jumps are checked by `finish`.
        let p = steering_program(4);
        assert!(p.len() < 4096);
        assert_eq!(p.last().map(|i| i.code), Some(op::RET | op::K));
    }

    /// Verifies on the running kernel that a UDP reuseport program sees the UDP payload at absolute
    /// offset 0: `ldb [0]; ret a` must pick the socket named by the payload's first byte. (Were
    /// offset 0 the UDP header, the byte would be the source port's high byte, >= 0x80 for
    /// ephemeral ports, and the kernel would fall back to its 4-tuple hash, one socket per sender.)
    #[test]
    fn bpf_offset_zero_is_udp_payload() {
        use crate::{Batch, SocketOptions, WorkerSocket};
        use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
        use std::time::{Duration, Instant};

        let opts = SocketOptions::default().with_buffers(1 << 20, 1 << 20);
        let addr = SocketAddrV4::new(Ipv4Addr::new(127, 61, 0, 1), 0);
        let s0 = WorkerSocket::bind(addr, &opts).expect("bind 0");
        let s1 = WorkerSocket::bind(s0.local_addr(), &opts).expect("bind 1");
        let prog = [
            libc::sock_filter {
                code: op::LD | op::B | op::ABS,
                jt: 0,
                jf: 0,
                k: 0,
            },
            libc::sock_filter {
                code: op::RET | op::A,
                jt: 0,
                jf: 0,
                k: 0,
            },
        ];
        attach_reuseport_cbpf(&s1, &prog).expect("attach");
        let senders: Vec<UdpSocket> = (0..4)
            .map(|_| UdpSocket::bind("127.0.0.1:0").expect("sender"))
            .collect();
        let total = 64u8;
        for i in 0..total {
            let payload = [i % 2, i, 0xAA, 0x55];
            senders[usize::from(i) % senders.len()]
                .send_to(&payload, s0.local_addr())
                .expect("send");
        }
        let mut got = 0;
        let mut batch = Batch::new(16, 64);
        let deadline = Instant::now() + Duration::from_secs(10);
        while got < usize::from(total) && Instant::now() < deadline {
            for (idx, s) in [&s0, &s1].into_iter().enumerate() {
                let n = s
                    .recv_batch(&mut batch, Duration::from_millis(20))
                    .expect("recv");
                for m in 0..n {
                    assert_eq!(
                        usize::from(batch.payload(m)[0]),
                        idx,
                        "datagram {:?}",
                        batch.payload(m)
                    );
                }
                got += n;
            }
        }
        assert_eq!(got, usize::from(total), "all datagrams received");
    }

    fn v4_tcp(src: [u8; 4], dst: [u8; 4], sp: u16, dp: u16, ep: u64) -> Vec<u8> {
        let mut d = vec![3, 0, 0x08, 0x00, 0, 0, 0, 0, 0x01, 0x08, 0x01, 0x02];
        d.extend_from_slice(&ep.to_be_bytes());
        d.extend_from_slice(&[0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0]);
        d.extend_from_slice(&src);
        d.extend_from_slice(&dst);
        d.extend_from_slice(&sp.to_be_bytes());
        d.extend_from_slice(&dp.to_be_bytes());
        d.extend_from_slice(&[0; 16]);
        d
    }

    #[test]
    fn hash_is_symmetric_and_keyed_by_endpoint() {
        let a = v4_tcp([10, 0, 0, 1], [192, 168, 1, 9], 40_000, 443, 7);
        let b = v4_tcp([192, 168, 1, 9], [10, 0, 0, 1], 443, 40_000, 7);
        let c = v4_tcp([10, 0, 0, 1], [192, 168, 1, 9], 40_000, 443, 8);
        let d = v4_tcp([10, 0, 0, 1], [192, 168, 1, 9], 40_001, 443, 7);
        assert_eq!(steering_hash(&a), steering_hash(&b));
        assert!(steering_hash(&a).is_some());
        assert_ne!(steering_hash(&a), steering_hash(&c));
        assert_ne!(steering_hash(&a), steering_hash(&d));
    }

    #[test]
    fn unparseable_falls_back_to_zero() {
        assert_eq!(steering_hash(&[]), None);
        let mut bad_version = v4_tcp([1, 1, 1, 1], [2, 2, 2, 2], 1, 2, 3);
        bad_version[0] |= 0x40;
        assert_eq!(steering_hash(&bad_version), None);
        let mut bad_proto = v4_tcp([1, 1, 1, 1], [2, 2, 2, 2], 1, 2, 3);
        bad_proto[2] = 0x65;
        assert_eq!(steering_hash(&bad_proto), None);
        let short = &v4_tcp([1, 1, 1, 1], [2, 2, 2, 2], 1, 2, 3)[..30];
        assert_eq!(steering_hash(short), None);
        for n in 1..5 {
            assert_eq!(steer_index(short, n), 0);
        }
    }
}
