//! A tiny IPv4/IPv6 packet builder for the fuzz targets: structure drawn from the fuzzer's bytes
//! with `arbitrary`, wrapped around fuzzer-chosen payload bytes. Headers are well formed (lengths,
//! IPv4 header checksum) so the decoder gets past them and the layers behind it see the payload;
//! the choices (addresses, ports, flags, fragment fields, ICMP errors quoting a packet) are
//! kept in small ranges so packets of one input share flows and fragment trackers.
#![allow(dead_code)]

use arbitrary::{Result, Unstructured};

pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_IPV6: u16 = 0x86dd;

/// The transport header to put in front of the payload.
#[derive(Debug, Clone, Copy)]
pub enum L4 {
    Tcp { sport: u16, dport: u16, seq: u32, ack: u32, flags: u8, window: u16 },
    Udp { sport: u16, dport: u16 },
    /// ICMP (v4 or v6, after the IP version); `quote` makes the payload a built packet (an error).
    Icmp { ty: u8, code: u8, rest: [u8; 4] },
    /// Any other protocol number: the payload is the whole IP payload.
    Other(u8),
}

/// IP-level choices.
#[derive(Debug, Clone, Copy)]
pub struct Ip {
    pub v6: bool,
    /// Host index of the source and destination (10.0.0.x / fd00::x).
    pub src: u8,
    pub dst: u8,
    pub ttl: u8,
    pub tos: u8,
    /// IPv4 DF bit.
    pub df: bool,
    /// IPv4: the id; IPv6: the fragment header id (only used with `frag`).
    pub id: u16,
    /// Fragment: (offset in 8-byte units, more fragments).
    pub frag: Option<(u16, bool)>,
    /// IPv4 options (padded to 4 bytes, at most 40).
    pub ipv4_options: bool,
}

const PORTS: [u16; 8] = [80, 443, 53, 1234, 8080, 0, 65535, 5353];

fn port(u: &mut Unstructured<'_>) -> Result<u16> {
    Ok(if u.ratio(1, 8)? { u.arbitrary()? } else { *u.choose(&PORTS)? })
}

impl Ip {
    pub fn arbitrary(u: &mut Unstructured<'_>) -> Result<Ip> {
        Ok(Ip {
            v6: u.ratio(1, 3)?,
            src: u.int_in_range(1..=4)?,
            dst: u.int_in_range(1..=4)?,
            ttl: u.arbitrary()?,
            tos: u.arbitrary()?,
            df: u.arbitrary()?,
            id: u.int_in_range(0..=3)?,
            frag: if u.ratio(1, 6)? {
                Some((u.int_in_range(0..=16)?, u.arbitrary()?))
            } else {
                None
            },
            ipv4_options: u.ratio(1, 10)?,
        })
    }
}

impl L4 {
    pub fn arbitrary(u: &mut Unstructured<'_>) -> Result<L4> {
        Ok(match u.int_in_range(0..=9)? {
            0..=4 => L4::Tcp {
                sport: port(u)?,
                dport: port(u)?,
                seq: if u.arbitrary()? { u.int_in_range(0..=4096)? } else { u.arbitrary()? },
                ack: if u.arbitrary()? { u.int_in_range(0..=4096)? } else { u.arbitrary()? },
                flags: u.arbitrary()?,
                window: u.arbitrary()?,
            },
            5..=7 => L4::Udp { sport: port(u)?, dport: port(u)? },
            8 => L4::Icmp {
                ty: *u.choose(&[0, 3, 5, 8, 11, 12, 1, 2, 128, 129, 133, 255])?,
                code: u.int_in_range(0..=4)?,
                rest: u.arbitrary()?,
            },
            _ => L4::Other(*u.choose(&[0, 2, 41, 43, 44, 47, 50, 51, 59, 60, 132, 255])?),
        })
    }
}

fn v4_addr(host: u8) -> [u8; 4] {
    [10, 0, 0, host]
}

fn v6_addr(host: u8) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[0] = 0xfd;
    a[15] = host;
    a
}

fn sum16(data: &[u8]) -> u32 {
    data.chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum()
}

fn fold(mut s: u32) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// Builds `ip` + `l4` + `payload` into `out` (cleared first); returns the GENEVE protocol type.
pub fn build(ip: &Ip, l4: &L4, payload: &[u8], out: &mut Vec<u8>) -> u16 {
    out.clear();
    let mut seg = Vec::with_capacity(payload.len() + 20);
    let proto = match *l4 {
        L4::Tcp { sport, dport, seq, ack, flags, window } => {
            seg.extend_from_slice(&sport.to_be_bytes());
            seg.extend_from_slice(&dport.to_be_bytes());
            seg.extend_from_slice(&seq.to_be_bytes());
            seg.extend_from_slice(&ack.to_be_bytes());
            seg.extend_from_slice(&[0x50, flags]);
            seg.extend_from_slice(&window.to_be_bytes());
            seg.extend_from_slice(&[0, 0, 0, 0]);
            6
        }
        L4::Udp { sport, dport } => {
            seg.extend_from_slice(&sport.to_be_bytes());
            seg.extend_from_slice(&dport.to_be_bytes());
            let len = (8 + payload.len()).min(0xffff) as u16;
            seg.extend_from_slice(&len.to_be_bytes());
            seg.extend_from_slice(&[0, 0]);
            17
        }
        L4::Icmp { ty, code, rest } => {
            seg.extend_from_slice(&[ty, code, 0, 0]);
            seg.extend_from_slice(&rest);
            if ip.v6 {
                58
            } else {
                1
            }
        }
        L4::Other(p) => p,
    };
    // A later fragment carries no transport header.
    if !matches!(ip.frag, Some((off, _)) if off > 0) {
        seg.extend_from_slice(payload);
    } else {
        seg.clear();
        seg.extend_from_slice(payload);
    }
    if ip.v6 {
        let mut ext = Vec::new();
        let next = if let Some((off, more)) = ip.frag {
            ext.extend_from_slice(&[proto, 0]);
            ext.extend_from_slice(&((off << 3) | u16::from(more)).to_be_bytes());
            ext.extend_from_slice(&u32::from(ip.id).to_be_bytes());
            44
        } else {
            proto
        };
        let plen = (ext.len() + seg.len()).min(0xffff) as u16;
        out.extend_from_slice(&[0x60 | (ip.tos >> 4), ip.tos << 4, 0, 0]);
        out.extend_from_slice(&plen.to_be_bytes());
        out.extend_from_slice(&[next, ip.ttl]);
        out.extend_from_slice(&v6_addr(ip.src));
        out.extend_from_slice(&v6_addr(ip.dst));
        out.extend_from_slice(&ext);
        out.extend_from_slice(&seg);
        ETHERTYPE_IPV6
    } else {
        let opts: &[u8] = if ip.ipv4_options { &[7, 7, 4, 0, 0, 0, 0, 1] } else { &[] };
        let hlen = 20 + opts.len();
        let total = (hlen + seg.len()).min(0xffff) as u16;
        let (off, more) = ip.frag.unwrap_or((0, false));
        let frag = (off & 0x1fff) | if more { 0x2000 } else { 0 } | if ip.df { 0x4000 } else { 0 };
        out.extend_from_slice(&[0x40 | (hlen / 4) as u8, ip.tos]);
        out.extend_from_slice(&total.to_be_bytes());
        out.extend_from_slice(&ip.id.to_be_bytes());
        out.extend_from_slice(&frag.to_be_bytes());
        out.extend_from_slice(&[ip.ttl, proto, 0, 0]);
        out.extend_from_slice(&v4_addr(ip.src));
        out.extend_from_slice(&v4_addr(ip.dst));
        out.extend_from_slice(opts);
        let c = fold(sum16(&out[..hlen]));
        out[10..12].copy_from_slice(&c.to_be_bytes());
        out.extend_from_slice(&seg);
        ETHERTYPE_IPV4
    }
}

/// A payload of fuzzer bytes, or (when `pieces` is not empty) a mix of fuzzer bytes and copies
/// of `pieces` (e.g. the rules' literals, so that matches happen).
pub fn arbitrary_payload(u: &mut Unstructured<'_>, pieces: &[Vec<u8>], out: &mut Vec<u8>) -> Result<()> {
    if pieces.is_empty() || u.ratio(1, 4)? {
        let len = u.int_in_range(0..=512)?;
        out.extend_from_slice(u.bytes(len.min(u.len()))?);
        return Ok(());
    }
    for _ in 0..u.int_in_range(1..=6)? {
        if u.arbitrary()? {
            out.extend_from_slice(u.choose(pieces)?);
        } else {
            let len = u.int_in_range(0..=16)?;
            out.extend_from_slice(u.bytes(len.min(u.len()))?);
        }
    }
    Ok(())
}

/// One packet: either built (IP + transport around a payload from [`arbitrary_payload`]; ICMP
/// sometimes quoting a built packet, as an error does) or raw fuzzer bytes for the decoder.
/// Returns the protocol type.
pub fn arbitrary_packet(u: &mut Unstructured<'_>, pieces: &[Vec<u8>], out: &mut Vec<u8>) -> Result<u16> {
    if u.ratio(1, 8)? {
        let v6: bool = u.arbitrary()?;
        let len = u.int_in_range(0..=256)?;
        out.clear();
        out.extend_from_slice(u.bytes(len.min(u.len()))?);
        return Ok(if v6 { ETHERTYPE_IPV6 } else { ETHERTYPE_IPV4 });
    }
    let ip = Ip::arbitrary(u)?;
    let l4 = L4::arbitrary(u)?;
    let mut payload = Vec::new();
    if matches!(l4, L4::Icmp { ty, .. } if matches!(ty, 3 | 5 | 11 | 12 | 1 | 2)) && u.arbitrary()? {
        // An ICMP error quoting a packet of the same flows (maybe cut short).
        let qip = Ip { frag: None, ..Ip::arbitrary(u)? };
        let ql4 = L4::arbitrary(u)?;
        let qlen = u.int_in_range(0..=16)?;
        let qpay = u.bytes(qlen.min(u.len()))?.to_vec();
        build(&qip, &ql4, &qpay, &mut payload);
        let cut = u.int_in_range(0..=payload.len())?;
        payload.truncate(cut.max(payload.len().min(8)));
    } else {
        arbitrary_payload(u, pieces, &mut payload)?;
    }
    Ok(build(&ip, &l4, &payload, out))
}
