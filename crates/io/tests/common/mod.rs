//! Test helpers: GWLB-style datagram builders (independent of seawall-wire), randomness, and
//! collecting what a group of worker sockets received.
#![allow(dead_code)] // each test binary uses a different subset

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

use seawall_io::{Batch, WorkerSocket};

/// Liveness bound for collecting datagrams (not a timing assertion: loopback delivers at once).
pub const PATIENCE: Duration = Duration::from_secs(20);

/// xorshift64*.
pub struct Rng(u64);
impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn u32(&mut self) -> u32 {
        (self.next() >> 32) as u32
    }
    pub fn u16(&mut self) -> u16 {
        (self.next() >> 48) as u16
    }
}

/// One GENEVE option: class, type, data (a multiple of 4 bytes).
pub fn option(class: u16, ty: u8, data: &[u8]) -> Vec<u8> {
    assert_eq!(data.len() % 4, 0);
    let mut o = class.to_be_bytes().to_vec();
    o.push(ty);
    o.push((data.len() / 4) as u8);
    o.extend_from_slice(data);
    o
}

/// The three AWS options as GWLB sends them: endpoint id, attachment id, flow cookie.
pub fn gwlb_options(endpoint: u64, attachment: u64, cookie: u32) -> Vec<u8> {
    let mut o = option(0x0108, 1, &endpoint.to_be_bytes());
    o.extend(option(0x0108, 2, &attachment.to_be_bytes()));
    o.extend(option(0x0108, 3, &cookie.to_be_bytes()));
    o
}

/// GENEVE header (version 0, flags 0, VNI 0) + options + inner packet.
pub fn geneve(protocol: u16, options: &[u8], inner: &[u8]) -> Vec<u8> {
    assert_eq!(options.len() % 4, 0);
    let mut d = vec![(options.len() / 4) as u8, 0];
    d.extend_from_slice(&protocol.to_be_bytes());
    d.extend_from_slice(&[0, 0, 0, 0]);
    d.extend_from_slice(options);
    d.extend_from_slice(inner);
    d
}

/// TCP (20-byte header) or UDP (8-byte header) with ports, then `tail`; other protocols: `tail`.
pub fn l4(proto: u8, sp: u16, dp: u16, tail: &[u8]) -> Vec<u8> {
    let mut t = sp.to_be_bytes().to_vec();
    t.extend_from_slice(&dp.to_be_bytes());
    match proto {
        6 => t.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xFF, 0xFF, 0, 0, 0, 0]),
        17 => t.extend_from_slice(&[0, (8 + tail.len()) as u8, 0, 0]),
        _ => t.clear(),
    }
    t.extend_from_slice(tail);
    t
}

/// IPv4 header with `opt_words` words of (NOP) options and the given flags/fragment-offset field.
pub fn ipv4(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    opt_words: u8,
    frag: u16,
    payload: &[u8],
) -> Vec<u8> {
    let hl = 20 + 4 * usize::from(opt_words);
    let total = (hl + payload.len()) as u16;
    let mut p = vec![0x40 | (5 + opt_words), 0];
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&[0x12, 0x34]);
    p.extend_from_slice(&frag.to_be_bytes());
    p.extend_from_slice(&[64, proto, 0, 0]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend(std::iter::repeat_n(1u8, 4 * usize::from(opt_words)));
    p.extend_from_slice(payload);
    p
}

/// IPv6 fixed header + payload.
pub fn ipv6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    p.push(next_header);
    p.push(64);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(payload);
    p
}

/// IPv6 fragment header (8 bytes) in front of `payload`.
pub fn ipv6_fragment(next_header: u8, offset_words: u16, more: bool, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![next_header, 0];
    p.extend_from_slice(&((offset_words << 3) | u16::from(more)).to_be_bytes());
    p.extend_from_slice(&[0xDE, 0xAD, 0xBE, 0xEF]);
    p.extend_from_slice(payload);
    p
}

/// Client sockets on 127.0.0.1, each with its own source port (GWLB uses a different outer
/// source port per direction of a flow).
pub fn senders(n: usize) -> Vec<UdpSocket> {
    (0..n)
        .map(|_| UdpSocket::bind("127.0.0.1:0").expect("bind sender"))
        .collect()
}

/// Send every `(sender, datagram)` to `to` in chunks, draining `sockets` after each chunk; return
/// what each socket received, as `(socket index, bytes)` in arrival order.
pub fn exchange(
    sockets: &[WorkerSocket],
    senders: &[UdpSocket],
    to: SocketAddrV4,
    datagrams: &[(usize, Vec<u8>)],
) -> Vec<(usize, Vec<u8>)> {
    let mut out = Vec::with_capacity(datagrams.len());
    let mut batch = Batch::new(64, 9216);
    for chunk in datagrams.chunks(128) {
        for (s, d) in chunk {
            senders[*s].send_to(d, to).expect("send");
        }
        let want = out.len() + chunk.len();
        let deadline = Instant::now() + PATIENCE;
        while out.len() < want {
            assert!(
                Instant::now() < deadline,
                "only {} of {want} datagrams arrived",
                out.len()
            );
            for (i, s) in sockets.iter().enumerate() {
                let n = s
                    .recv_batch(&mut batch, Duration::from_millis(5))
                    .expect("recv");
                for m in 0..n {
                    assert!(!batch.truncated(m));
                    out.push((i, batch.payload(m).to_vec()));
                }
            }
        }
        assert_eq!(out.len(), want, "no duplicates");
    }
    out
}
