//! Capture reading: pcap and pcapng files → bare inner IP packets.
//!
//! GWLB carries bare L3 packets (no Ethernet), so every frame is reduced to the bytes from its IPv4 or
//! IPv6 header on, trimmed to the IP length when the link layer padded the frame (Ethernet pads short
//! frames to 60 bytes). Frames that carry no IP packet (ARP, LLDP, ...) are skipped and counted.

use std::fs::File;
use std::io::{BufReader, Cursor, Read};
use std::path::Path;
use std::time::Duration;

use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
use pcap_file::pcapng::{Block, PcapNgReader};
use pcap_file::DataLink;
use serde::Serialize;

use crate::SimError;

/// One inner IP packet taken from a capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InnerPacket {
    /// Capture timestamp (since the Unix epoch, as recorded in the file).
    pub ts: Duration,
    /// The packet from its IPv4/IPv6 header on, trimmed to the IP length.
    pub bytes: Vec<u8>,
}

/// What reading a capture found, beyond the packets themselves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CaptureStats {
    /// Frames (packet records) in the file.
    pub frames: u64,
    /// Frames that yielded an inner IP packet.
    pub ip_packets: u64,
    /// Frames skipped because they carry no IPv4/IPv6 packet (ARP, LLDP, unknown link type, ...).
    pub skipped_non_ip: u64,
    /// Frames skipped because the IP header itself is cut short by the capture.
    pub skipped_truncated: u64,
    /// IP packets whose frame had trailing bytes past the IP length (link padding), trimmed away.
    pub trimmed: u64,
}

/// A capture read into memory.
#[derive(Debug, Clone, Default)]
pub struct Capture {
    /// The inner IP packets, in file order.
    pub packets: Vec<InnerPacket>,
    /// Counters collected while reading.
    pub stats: CaptureStats,
}

/// The link-layer header types the simulator can strip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkType {
    /// DLT_EN10MB (1), with any number of 802.1Q / 802.1ad / QinQ tags.
    Ethernet,
    /// Raw IP: LINKTYPE_RAW (101), DLT_RAW (12 / 14), LINKTYPE_IPV4 (228), LINKTYPE_IPV6 (229).
    RawIp,
    /// Linux cooked capture v1 (113).
    LinuxSll,
    /// Linux cooked capture v2 (276).
    LinuxSll2,
    /// BSD loopback, address family in host byte order (0).
    Null,
    /// OpenBSD loopback, address family in network byte order (108).
    Loop,
    /// Anything else: every frame is skipped as non-IP.
    Unsupported(u32),
}

impl LinkType {
    /// Maps a pcap link-type number.
    pub fn from_number(n: u32) -> Self {
        match n {
            1 => Self::Ethernet,
            12 | 14 | 101 | 228 | 229 => Self::RawIp,
            113 => Self::LinuxSll,
            276 => Self::LinuxSll2,
            0 => Self::Null,
            108 => Self::Loop,
            other => Self::Unsupported(other),
        }
    }

    fn from_datalink(dl: DataLink) -> Self {
        Self::from_number(u32::from(dl))
    }
}

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
const ETHERTYPE_QINQ_OLD: u16 = 0x9100;

/// Why a frame did not yield an IP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameSkip {
    /// The frame carries something other than IPv4/IPv6.
    NotIp,
    /// The frame announces IP but the IP header is cut short.
    Truncated,
}

/// Result of reducing one frame to its inner IP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extracted<'a> {
    /// The IP packet, trimmed to its IP length.
    pub ip: &'a [u8],
    /// True when bytes past the IP length were cut off.
    pub trimmed: bool,
}

/// Strips the link layer of `frame` and returns the inner IPv4/IPv6 packet.
pub fn extract_ip(link: LinkType, frame: &[u8]) -> Result<Extracted<'_>, FrameSkip> {
    let l3 = match link {
        LinkType::Ethernet => {
            if frame.len() < 14 {
                return Err(FrameSkip::NotIp);
            }
            let mut ethertype = be16(frame, 12);
            let mut off = 14;
            while matches!(
                ethertype,
                ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD
            ) {
                if frame.len() < off + 4 {
                    return Err(FrameSkip::NotIp);
                }
                ethertype = be16(frame, off + 2);
                off += 4;
            }
            by_ethertype(ethertype, &frame[off..])?
        }
        LinkType::RawIp => frame,
        LinkType::LinuxSll => {
            if frame.len() < 16 {
                return Err(FrameSkip::NotIp);
            }
            by_ethertype(be16(frame, 14), &frame[16..])?
        }
        LinkType::LinuxSll2 => {
            if frame.len() < 20 {
                return Err(FrameSkip::NotIp);
            }
            by_ethertype(be16(frame, 0), &frame[20..])?
        }
        LinkType::Null | LinkType::Loop => {
            // The 4-byte address family differs by OS (AF_INET6 is 10, 24, 28 or 30); the IP version
            // nibble below decides.
            if frame.len() < 4 {
                return Err(FrameSkip::NotIp);
            }
            &frame[4..]
        }
        LinkType::Unsupported(_) => return Err(FrameSkip::NotIp),
    };
    trim_ip(l3)
}

fn by_ethertype(ethertype: u16, rest: &[u8]) -> Result<&[u8], FrameSkip> {
    match ethertype {
        ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => Ok(rest),
        _ => Err(FrameSkip::NotIp),
    }
}

/// Checks the IP version and header, and trims trailing link padding.
fn trim_ip(l3: &[u8]) -> Result<Extracted<'_>, FrameSkip> {
    let Some(first) = l3.first() else {
        return Err(FrameSkip::NotIp);
    };
    let ip_len = match first >> 4 {
        4 => {
            if l3.len() < 20 {
                return Err(FrameSkip::Truncated);
            }
            usize::from(be16(l3, 2))
        }
        6 => {
            if l3.len() < 40 {
                return Err(FrameSkip::Truncated);
            }
            match be16(l3, 4) {
                // Jumbogram (hop-by-hop jumbo option): keep what was captured.
                0 => l3.len(),
                payload => 40 + usize::from(payload),
            }
        }
        _ => return Err(FrameSkip::NotIp),
    };
    // A total length shorter than the header is the inner packet's own problem (the appliance must
    // handle it); keep the bytes as captured rather than invent a length.
    if ip_len >= 20 && ip_len < l3.len() {
        Ok(Extracted {
            ip: &l3[..ip_len],
            trimmed: true,
        })
    } else {
        Ok(Extracted {
            ip: l3,
            trimmed: false,
        })
    }
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Reads every inner IP packet of a pcap or pcapng file.
pub fn load_pcap(path: impl AsRef<Path>) -> Result<Vec<InnerPacket>, SimError> {
    read_capture(path).map(|c| c.packets)
}

/// Reads a pcap or pcapng file (detected by its magic number) with counters.
pub fn read_capture(path: impl AsRef<Path>) -> Result<Capture, SimError> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|source| SimError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    read_capture_from(BufReader::with_capacity(1 << 20, file)).map_err(|e| match e {
        SimError::Pcap { path: _, source } => SimError::Pcap {
            path: path.to_path_buf(),
            source,
        },
        other => other,
    })
}

/// Reads a pcap or pcapng stream (detected by its magic number).
pub fn read_capture_from<R: Read>(mut reader: R) -> Result<Capture, SimError> {
    let mut magic = [0u8; 4];
    reader
        .read_exact(&mut magic)
        .map_err(|e| pcap_error(pcap_file::PcapError::IoError(e)))?;
    let chained = Cursor::new(magic).chain(reader);
    let mut cap = Capture::default();
    if magic == [0x0a, 0x0d, 0x0d, 0x0a] {
        read_pcapng(chained, &mut cap)?;
    } else {
        read_pcap(chained, &mut cap)?;
    }
    Ok(cap)
}

fn pcap_error(source: pcap_file::PcapError) -> SimError {
    SimError::Pcap {
        path: Default::default(),
        source,
    }
}

fn push_frame(cap: &mut Capture, link: LinkType, ts: Duration, frame: &[u8]) {
    cap.stats.frames += 1;
    match extract_ip(link, frame) {
        Ok(ex) => {
            cap.stats.ip_packets += 1;
            cap.stats.trimmed += u64::from(ex.trimmed);
            cap.packets.push(InnerPacket {
                ts,
                bytes: ex.ip.to_vec(),
            });
        }
        Err(FrameSkip::NotIp) => cap.stats.skipped_non_ip += 1,
        Err(FrameSkip::Truncated) => cap.stats.skipped_truncated += 1,
    }
}

fn read_pcap<R: Read>(reader: R, cap: &mut Capture) -> Result<(), SimError> {
    let mut r = PcapReader::new(reader).map_err(pcap_error)?;
    let link = LinkType::from_datalink(r.header().datalink);
    while let Some(pkt) = r.next_packet() {
        let pkt = pkt.map_err(pcap_error)?;
        push_frame(cap, link, pkt.timestamp, &pkt.data);
    }
    Ok(())
}

/// Per-interface facts of a pcapng section.
#[derive(Clone, Copy)]
struct Iface {
    link: LinkType,
    /// if_tsresol: bit 7 clear → 10^-n s, set → 2^-n s. Default 6 (µs).
    tsresol: u8,
    /// if_tsoffset, seconds.
    tsoffset: u64,
}

impl Iface {
    /// Converts a raw 64-bit pcapng timestamp (units of the interface's resolution).
    fn timestamp(&self, raw: u64) -> Duration {
        let raw = u128::from(raw);
        let n = u32::from(self.tsresol & 0x7f);
        let nanos: u128 = if self.tsresol & 0x80 == 0 {
            match n.cmp(&9) {
                std::cmp::Ordering::Less => raw.saturating_mul(10u128.pow(9 - n)),
                std::cmp::Ordering::Equal => raw,
                std::cmp::Ordering::Greater => raw / 10u128.pow((n - 9).min(38)),
            }
        } else if n < 64 {
            raw.saturating_mul(1_000_000_000) >> n
        } else {
            0
        };
        let secs = u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX);
        let sub = u32::try_from(nanos % 1_000_000_000).expect("remainder below 1e9 fits u32");
        Duration::new(secs.saturating_add(self.tsoffset), sub)
    }
}

fn read_pcapng<R: Read>(reader: R, cap: &mut Capture) -> Result<(), SimError> {
    let mut r = PcapNgReader::new(reader).map_err(pcap_error)?;
    let mut ifaces: Vec<Iface> = Vec::new();
    let mut last_ts = Duration::ZERO;
    let mut little_endian = r.section().endianness == pcap_file::Endianness::Little;
    while let Some(block) = r.next_block() {
        match block.map_err(pcap_error)? {
            Block::SectionHeader(shb) => {
                ifaces.clear();
                little_endian = shb.endianness == pcap_file::Endianness::Little;
            }
            Block::InterfaceDescription(idb) => {
                let mut iface = Iface {
                    link: LinkType::from_datalink(idb.linktype),
                    tsresol: 6,
                    tsoffset: 0,
                };
                for opt in &idb.options {
                    match opt {
                        InterfaceDescriptionOption::IfTsResol(v) => iface.tsresol = *v,
                        InterfaceDescriptionOption::IfTsOffset(v) => iface.tsoffset = *v,
                        _ => {}
                    }
                }
                ifaces.push(iface);
            }
            Block::EnhancedPacket(epb) => {
                let iface = iface_of(&ifaces, epb.interface_id);
                // pcap-file 2.0 returns the raw EPB timestamp as if it were nanoseconds.
                let raw = u64::try_from(epb.timestamp.as_nanos()).unwrap_or(u64::MAX);
                last_ts = iface.timestamp(raw);
                push_frame(cap, iface.link, last_ts, &epb.data);
            }
            Block::Packet(pb) => {
                let iface = iface_of(&ifaces, u32::from(pb.interface_id));
                // pcap-file 2.0 reads the obsolete block's two 32-bit halves (high word first in
                // the file) as one u64 in section byte order: swap them back for little endian.
                let raw = if little_endian {
                    pb.timestamp.rotate_left(32)
                } else {
                    pb.timestamp
                };
                last_ts = iface.timestamp(raw);
                push_frame(cap, iface.link, last_ts, &pb.data);
            }
            Block::SimplePacket(spb) => {
                // No timestamp: keep the previous packet's time.
                let iface = iface_of(&ifaces, 0);
                push_frame(cap, iface.link, last_ts, &spb.data);
            }
            _ => {}
        }
    }
    Ok(())
}

fn iface_of(ifaces: &[Iface], id: u32) -> Iface {
    usize::try_from(id)
        .ok()
        .and_then(|i| ifaces.get(i).copied())
        .unwrap_or(Iface {
            link: LinkType::Unsupported(u32::MAX),
            tsresol: 6,
            tsoffset: 0,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
    use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
    use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionBlock;
    use pcap_file::pcapng::PcapNgWriter;
    use pcap_file::TsResolution;

    /// IPv4/UDP 10.0.0.1:1234 → 10.0.0.2:53 with a 4-byte payload (32 bytes).
    fn ipv4_udp() -> Vec<u8> {
        let mut p = vec![
            0x45, 0, 0, 32, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        p.extend_from_slice(&[0x04, 0xd2, 0, 53, 0, 12, 0, 0, b'a', b'b', b'c', b'd']);
        p
    }

    /// IPv6/UDP with a 4-byte payload (52 bytes).
    fn ipv6_udp() -> Vec<u8> {
        let mut p = vec![0x60, 0, 0, 0, 0, 12, 17, 64];
        p.extend_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        p.extend_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        p.extend_from_slice(&[0x04, 0xd2, 0, 53, 0, 12, 0, 0, b'a', b'b', b'c', b'd']);
        p
    }

    fn ether(tags: &[u16], ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
        for tpid in tags {
            f.extend_from_slice(&tpid.to_be_bytes());
            f.extend_from_slice(&[0x00, 0x64]); // VLAN 100
        }
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(payload);
        // Ethernet minimum frame (without FCS) is 60 bytes: pad.
        if f.len() < 60 {
            f.resize(60, 0);
        }
        f
    }

    fn pcap_bytes(linktype: u32, frames: &[Vec<u8>]) -> Vec<u8> {
        let header = PcapHeader {
            datalink: DataLink::from(linktype),
            ts_resolution: TsResolution::NanoSecond,
            ..PcapHeader::default()
        };
        let mut w = PcapWriter::with_header(Vec::new(), header).unwrap();
        for (i, f) in frames.iter().enumerate() {
            let ts = Duration::new(1_700_000_000 + i as u64, 123_456_789);
            w.write_packet(&PcapPacket::new(ts, f.len() as u32, f))
                .unwrap();
        }
        w.into_writer()
    }

    fn read(bytes: &[u8]) -> Capture {
        read_capture_from(bytes).unwrap()
    }

    #[test]
    fn ethernet_trims_padding() {
        let cap = read(&pcap_bytes(1, &[ether(&[], 0x0800, &ipv4_udp())]));
        assert_eq!(cap.packets.len(), 1);
        assert_eq!(cap.packets[0].bytes, ipv4_udp());
        assert_eq!(cap.packets[0].ts, Duration::new(1_700_000_000, 123_456_789));
        assert_eq!(cap.stats.trimmed, 1);
        assert_eq!(cap.stats.frames, 1);
    }

    #[test]
    fn ethernet_vlan_and_qinq() {
        let frames = [
            ether(&[0x8100], 0x0800, &ipv4_udp()),
            ether(&[0x88a8, 0x8100], 0x86dd, &ipv6_udp()),
            ether(&[0x9100, 0x8100], 0x0800, &ipv4_udp()),
        ];
        let cap = read(&pcap_bytes(1, &frames));
        assert_eq!(cap.stats.ip_packets, 3);
        assert_eq!(cap.packets[0].bytes, ipv4_udp());
        assert_eq!(cap.packets[1].bytes, ipv6_udp());
        assert_eq!(cap.packets[2].bytes, ipv4_udp());
    }

    #[test]
    fn raw_ip_link_types() {
        for linktype in [101, 12, 14, 228, 229] {
            let cap = read(&pcap_bytes(linktype, &[ipv4_udp(), ipv6_udp()]));
            assert_eq!(cap.stats.ip_packets, 2, "linktype {linktype}");
            assert_eq!(cap.packets[0].bytes, ipv4_udp());
            assert_eq!(cap.packets[1].bytes, ipv6_udp());
            assert_eq!(cap.stats.trimmed, 0);
        }
    }

    #[test]
    fn raw_ip_trims_trailing_bytes() {
        let mut p = ipv6_udp();
        p.extend_from_slice(&[0xee; 7]);
        let cap = read(&pcap_bytes(101, &[p]));
        assert_eq!(cap.packets[0].bytes, ipv6_udp());
        assert_eq!(cap.stats.trimmed, 1);
    }

    #[test]
    fn linux_sll() {
        let mut f = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0];
        f.extend_from_slice(&0x0800u16.to_be_bytes());
        f.extend_from_slice(&ipv4_udp());
        let mut arp = f[..14].to_vec();
        arp.extend_from_slice(&0x0806u16.to_be_bytes());
        arp.extend_from_slice(&[0; 28]);
        let cap = read(&pcap_bytes(113, &[f, arp]));
        assert_eq!(cap.packets.len(), 1);
        assert_eq!(cap.packets[0].bytes, ipv4_udp());
        assert_eq!(cap.stats.skipped_non_ip, 1);
    }

    #[test]
    fn linux_sll2() {
        let mut f = 0x86ddu16.to_be_bytes().to_vec();
        f.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 2, 1, 0, 1, 6, 2, 0, 0, 0, 0, 1, 0, 0]);
        f.truncate(20);
        f.extend_from_slice(&ipv6_udp());
        let cap = read(&pcap_bytes(276, &[f]));
        assert_eq!(cap.packets.len(), 1);
        assert_eq!(cap.packets[0].bytes, ipv6_udp());
    }

    #[test]
    fn bsd_loopback() {
        let mut null = 2u32.to_le_bytes().to_vec();
        null.extend_from_slice(&ipv4_udp());
        let mut lo = 24u32.to_be_bytes().to_vec();
        lo.extend_from_slice(&ipv6_udp());
        assert_eq!(read(&pcap_bytes(0, &[null])).packets[0].bytes, ipv4_udp());
        assert_eq!(read(&pcap_bytes(108, &[lo])).packets[0].bytes, ipv6_udp());
    }

    #[test]
    fn non_ip_and_truncated_are_counted() {
        let arp = ether(&[], 0x0806, &[0; 28]);
        let lldp = ether(&[], 0x88cc, &[0; 20]);
        let short = {
            let mut f = ether(&[], 0x0800, &[0x45, 0, 0, 40]);
            f.truncate(18);
            f
        };
        let not_ip_payload = ether(&[], 0x0800, &[0x00; 40]);
        let cap = read(&pcap_bytes(1, &[arp, lldp, short, not_ip_payload]));
        assert!(cap.packets.is_empty());
        assert_eq!(cap.stats.frames, 4);
        assert_eq!(cap.stats.skipped_non_ip, 3);
        assert_eq!(cap.stats.skipped_truncated, 1);
        // An unknown link type skips everything.
        let cap = read(&pcap_bytes(147, &[ipv4_udp()]));
        assert_eq!(cap.stats.skipped_non_ip, 1);
    }

    #[test]
    fn snaplen_cut_packet_is_kept_as_captured() {
        let mut p = ipv4_udp();
        p.truncate(26);
        let cap = read(&pcap_bytes(101, &[p.clone()]));
        assert_eq!(cap.packets[0].bytes, p);
    }

    fn pcapng_bytes(tsresol: Option<u8>, raw_ts: u64, frame: &[u8]) -> Vec<u8> {
        let mut w = PcapNgWriter::new(Vec::new()).unwrap();
        let mut idb = InterfaceDescriptionBlock::new(DataLink::ETHERNET, 0);
        if let Some(r) = tsresol {
            idb.options.push(InterfaceDescriptionOption::IfTsResol(r));
        }
        w.write_pcapng_block(idb).unwrap();
        let epb = EnhancedPacketBlock {
            interface_id: 0,
            // pcap-file writes the raw timestamp as "nanoseconds".
            timestamp: Duration::from_nanos(raw_ts),
            original_len: frame.len() as u32,
            data: frame.to_vec().into(),
            options: vec![],
        };
        w.write_pcapng_block(epb).unwrap();
        w.into_inner()
    }

    #[test]
    fn pcapng_timestamp_resolutions() {
        let frame = ether(&[], 0x0800, &ipv4_udp());
        // Default resolution: microseconds.
        let cap = read(&pcapng_bytes(None, 1_700_000_000_250_000, &frame));
        assert_eq!(cap.packets[0].bytes, ipv4_udp());
        assert_eq!(cap.packets[0].ts, Duration::new(1_700_000_000, 250_000_000));
        // Nanoseconds.
        let cap = read(&pcapng_bytes(Some(9), 1_700_000_000_000_000_007, &frame));
        assert_eq!(cap.packets[0].ts, Duration::new(1_700_000_000, 7));
        // 2^-10 s.
        let cap = read(&pcapng_bytes(Some(0x80 | 10), 3 * 1024 + 512, &frame));
        assert_eq!(cap.packets[0].ts, Duration::new(3, 500_000_000));
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(matches!(
            read_capture_from(&b"definitely not a capture"[..]),
            Err(SimError::Pcap { .. })
        ));
        assert!(matches!(
            read_capture_from(&b"ab"[..]),
            Err(SimError::Pcap { .. })
        ));
        assert!(matches!(
            read_capture("/nonexistent/seawall.pcap"),
            Err(SimError::Open { .. })
        ));
    }
}
