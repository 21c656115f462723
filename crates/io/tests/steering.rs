//! Flow-affine steering over loopback: the kernel's reuseport cBPF program against the Rust hash,
//! and both directions of every inner flow on one socket.

mod common;

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4};

use common::*;
use seawall_io::{bind_group, steer_index, steering_hash, SocketOptions, WorkerSocket};

fn group(addr: Ipv4Addr, n: usize) -> Vec<WorkerSocket> {
    let opts = SocketOptions::default().with_buffers(4 << 20, 1 << 20);
    bind_group(SocketAddrV4::new(addr, 0), n, &opts).expect("bind steered group")
}

/// A random, mostly well-formed GWLB datagram covering every branch of the steering program.
fn varied_datagram(rng: &mut Rng) -> Vec<u8> {
    let kind = rng.below(20);
    if kind == 0 {
        // Garbage, possibly empty.
        let len = rng.below(48) as usize;
        return (0..len).map(|_| rng.next() as u8).collect();
    }
    let ep = [0x0123_4567_89AB_CDEFu64, 7, u64::MAX][rng.below(3) as usize];
    let options = match rng.below(6) {
        0 => Vec::new(),
        1 => {
            // Unknown option first: the endpoint id is not hashed.
            let mut o = option(0x1234, 0x05, &[1, 2, 3, 4]);
            o.extend(gwlb_options(ep, 2, 3));
            o
        }
        2 => {
            // More options after the AWS ones (opt_len > 8).
            let mut o = gwlb_options(ep, 2, rng.u32());
            o.extend(option(0xABCD, 9, &[0; 12]));
            o
        }
        _ => gwlb_options(ep, 2, rng.u32()),
    };
    let proto = [6u8, 17, 1, 50][rng.below(4) as usize];
    let (sp, dp) = (
        rng.u16(),
        [80u16, 443, 53, rng.u16()][rng.below(4) as usize],
    );
    let tail: Vec<u8> = (0..rng.below(32)).map(|_| rng.next() as u8).collect();
    let mut d = if rng.below(2) == 0 {
        let frag = [0u16, 0, 0x4000, 0x2000, 0x00B9, 0x20B9][rng.below(6) as usize];
        let inner = ipv4(
            Ipv4Addr::from(rng.u32()),
            Ipv4Addr::from(rng.u32()),
            proto,
            rng.below(4) as u8,
            frag,
            &l4(proto, sp, dp, &tail),
        );
        geneve(0x0800, &options, &inner)
    } else {
        let (src, dst) = (
            Ipv6Addr::from(u128::from(rng.next()) << 64 | 1),
            Ipv6Addr::from(rng.next() as u128),
        );
        let inner = match rng.below(4) {
            0 => ipv6(
                src,
                dst,
                44,
                &ipv6_fragment(
                    proto,
                    rng.below(2) as u16 * 100,
                    true,
                    &l4(proto, sp, dp, &tail),
                ),
            ),
            1 => ipv6(src, dst, 0, &[proto, 0, 1, 4, 0, 0, 0, 0]),
            _ => ipv6(src, dst, proto, &l4(proto, sp, dp, &tail)),
        };
        geneve(0x86DD, &options, &inner)
    };
    match kind {
        1 => d[0] |= 0x40,                                   // GENEVE version 1
        2 => d[2] = 0x65,                                    // unknown protocol type
        3 => d.truncate(rng.below(d.len() as u64) as usize), // cut anywhere
        _ => {}
    }
    d
}

#[test]
fn kernel_program_agrees_with_steering_hash() {
    for (n, last_octet) in [(3usize, 1u8), (4, 2)] {
        let sockets = group(Ipv4Addr::new(127, 61, 2, last_octet), n);
        let to = sockets[0].local_addr();
        let tx = senders(4);
        let mut rng = Rng::new(0xA61_0000 + n as u64);
        let datagrams: Vec<(usize, Vec<u8>)> = (0..1500)
            .map(|i| (i % tx.len(), varied_datagram(&mut rng)))
            .collect();
        let parsed = datagrams
            .iter()
            .filter(|(_, d)| steering_hash(d).is_some())
            .count();
        assert!(
            parsed > 1000,
            "the sample must be mostly parseable, got {parsed}"
        );
        let got = exchange(&sockets, &tx, to, &datagrams);
        assert_eq!(got.len(), datagrams.len());
        let mut per_socket = vec![0usize; n];
        for (sock, d) in &got {
            assert_eq!(*sock, steer_index(d, n), "n={n} datagram {d:02x?}");
            per_socket[*sock] += 1;
        }
        assert!(
            per_socket.iter().all(|&c| c > 0),
            "n={n} spread {per_socket:?}"
        );
    }
}

/// One inner flow: which IP version, protocol, endpoint and addresses.
struct Flow {
    v6: bool,
    proto: u8,
    endpoint: u64,
    client: u128,
    server: u128,
    cport: u16,
    sport: u16,
}

impl Flow {
    /// The datagram for one direction (0: client to server, 1: back), tagged with flow id and
    /// direction in the last 5 bytes of the inner payload.
    fn datagram(&self, id: u32, dir: u8) -> Vec<u8> {
        let mut tag = id.to_be_bytes().to_vec();
        tag.push(dir);
        let (sa, da, sp, dp) = if dir == 0 {
            (self.client, self.server, self.cport, self.sport)
        } else {
            (self.server, self.client, self.sport, self.cport)
        };
        let payload = l4(self.proto, sp, dp, &tag);
        let options = gwlb_options(self.endpoint, 0x0A0B_0C0D, id.wrapping_mul(2_654_435_761));
        if self.v6 {
            geneve(
                0x86DD,
                &options,
                &ipv6(Ipv6Addr::from(sa), Ipv6Addr::from(da), self.proto, &payload),
            )
        } else {
            let inner = ipv4(
                Ipv4Addr::from(sa as u32),
                Ipv4Addr::from(da as u32),
                self.proto,
                0,
                0x4000,
                &payload,
            );
            geneve(0x0800, &options, &inner)
        }
    }
}

fn flows(count: u32, seed: u64) -> Vec<Flow> {
    let mut rng = Rng::new(seed);
    let servers4 = [0x0A00_0005u128, 0x0A00_0106, 0xC0A8_0101];
    let servers6 = [
        0xFD00_0000_0000_0000_0000_0000_0000_0005u128,
        0x2001_0DB8_0000_0000_0000_0000_0000_0080,
    ];
    (0..count)
        .map(|f| {
            let v6 = f % 2 == 1;
            let proto = if (f / 2) % 2 == 0 { 6 } else { 17 };
            let (client, server) = if v6 {
                (
                    0xFD00_0000_0000_0000_0000_0000_0000_0000u128 | u128::from(rng.next()),
                    servers6[rng.below(2) as usize],
                )
            } else {
                (
                    u128::from(0x0A01_0000 | (rng.u32() & 0xFFFF)),
                    servers4[rng.below(3) as usize],
                )
            };
            Flow {
                v6,
                proto,
                endpoint: [0x1111_2222_3333_4444u64, 0x5555_6666_7777_8888][rng.below(2) as usize],
                client,
                server,
                cport: 1024 + (rng.u16() % 60_000),
                sport: [80u16, 443, 53, 8080][rng.below(4) as usize],
            }
        })
        .collect()
}

fn check_affinity(n: usize, addr: Ipv4Addr) {
    let sockets = group(addr, n);
    let to = sockets[0].local_addr();
    // Senders 0..4 carry direction 0 and 4..8 direction 1: every flow's directions come from
    // different outer source ports, so the kernel's own 4-tuple hash would split them.
    let tx = senders(8);
    let count = 600u32;
    let fl = flows(count, 0xF10_0000 + n as u64);
    let mut datagrams = Vec::with_capacity(2 * fl.len());
    for (id, f) in fl.iter().enumerate() {
        let id = id as u32;
        datagrams.push((id as usize % 4, f.datagram(id, 0)));
        datagrams.push((4 + id as usize % 4, f.datagram(id, 1)));
    }
    let got = exchange(&sockets, &tx, to, &datagrams);
    let mut seen: HashMap<u32, [Option<usize>; 2]> = HashMap::new();
    for (sock, d) in &got {
        assert_eq!(*sock, steer_index(d, n), "kernel and Rust agree");
        let tag = &d[d.len() - 5..];
        let id = u32::from_be_bytes([tag[0], tag[1], tag[2], tag[3]]);
        let slot = &mut seen.entry(id).or_default()[usize::from(tag[4])];
        assert!(slot.is_none(), "flow {id} direction {} twice", tag[4]);
        *slot = Some(*sock);
    }
    assert_eq!(seen.len(), count as usize);
    let mut flows_per_socket = vec![0usize; n];
    let mut per_kind: HashMap<(bool, u8), usize> = HashMap::new();
    for (id, dirs) in &seen {
        let (a, b) = (dirs[0].expect("direction 0"), dirs[1].expect("direction 1"));
        assert_eq!(a, b, "flow {id}: directions on sockets {a} and {b}");
        flows_per_socket[a] += 1;
        let f = &fl[*id as usize];
        *per_kind.entry((f.v6, f.proto)).or_default() += 1;
    }
    assert_eq!(per_kind.len(), 4, "TCP and UDP over IPv4 and IPv6");
    // Not degenerate: each socket gets at least a quarter of its fair share.
    let floor = count as usize / (4 * n);
    assert!(
        flows_per_socket.iter().all(|&c| c >= floor),
        "n={n} flows per socket {flows_per_socket:?}"
    );
}

#[test]
fn both_directions_of_every_flow_reach_one_socket_n2() {
    check_affinity(2, Ipv4Addr::new(127, 61, 2, 10));
}

#[test]
fn both_directions_of_every_flow_reach_one_socket_n4() {
    check_affinity(4, Ipv4Addr::new(127, 61, 2, 11));
}

#[test]
fn attach_steering_rejects_mixed_groups() {
    let opts = SocketOptions::default().with_buffers(0, 0);
    let a =
        WorkerSocket::bind(SocketAddrV4::new(Ipv4Addr::new(127, 61, 2, 20), 0), &opts).expect("a");
    let b =
        WorkerSocket::bind(SocketAddrV4::new(Ipv4Addr::new(127, 61, 2, 21), 0), &opts).expect("b");
    let err = seawall_io::attach_steering(&[a, b]).expect_err("different addresses");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert_eq!(
        seawall_io::attach_steering(&[]).expect_err("empty").kind(),
        std::io::ErrorKind::InvalidInput
    );
}
