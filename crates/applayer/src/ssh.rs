//! SSH record tracker: enough of the SSH transport layer to know when both sides switched to
//! encrypted traffic, as Suricata 7.0.10's SSH parser does.
//!
//! Each direction starts with an identification line (`SSH-protover-swver`, ended by LF, CRLF
//! or a CR followed by another byte), then binary packets: `uint32 packet_length`, a padding
//! length byte and the message code, then `packet_length - 2` more bytes. A direction that
//! sent `SSH_MSG_NEWKEYS` (21) is finished. When a NEWKEYS record that arrived whole in one
//! chunk finishes the second direction, the flow stops being inspected
//! ([`SshTracker::no_inspection`]): Suricata then sets its parser's no-inspection,
//! no-reassembly and bypass-ready flags, which end app-layer parsing, stream reassembly and
//! payload inspection for the rest of the flow. A NEWKEYS record whose body spans chunks
//! finishes its direction without that effect (Suricata only skips the rest of such a record).
//!
//! Memory is fixed: a banner of at most [`MAX_BANNER`] bytes and a 6-byte record header per
//! direction. Malformed input (a banner that is not `SSH-x-y`, a packet length below 2) stops
//! tracking the direction; nothing panics.

/// Suricata's longest banner line awaited before it parses what it has (`SSH_MAX_BANNER_LEN`).
pub const MAX_BANNER: usize = 256;
/// `uint32 packet_length`, `byte padding_length`, `byte message code`.
const HEADER_LEN: usize = 6;
/// `SSH_MSG_NEWKEYS`.
const MSG_NEWKEYS: u8 = 21;

/// Where one direction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Reading the identification line; `len` bytes of it are kept.
    Banner { len: usize, cr: bool },
    /// The banner was longer than [`MAX_BANNER`]: skipping to its end of line.
    BannerEol { cr: bool },
    /// Binary packets: `hdr_len` bytes of a header kept, then `skip` body bytes to pass over.
    Records { hdr_len: usize, skip: u64 },
    /// Malformed: nothing more is tracked in this direction.
    Failed,
}

/// One direction's state.
#[derive(Debug, Clone)]
struct Side {
    phase: Phase,
    banner: [u8; MAX_BANNER],
    hdr: [u8; HEADER_LEN],
    /// Sent `SSH_MSG_NEWKEYS` (Suricata's `SshStateFinished`).
    newkeys: bool,
}

impl Default for Side {
    fn default() -> Self {
        Side {
            phase: Phase::Banner { len: 0, cr: false },
            banner: [0; MAX_BANNER],
            hdr: [0; HEADER_LEN],
            newkeys: false,
        }
    }
}

/// What went wrong in a direction (kept for counters and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SshError {
    /// The identification line is not `SSH-protover-swver`.
    InvalidBanner,
    /// A binary packet length below 2.
    InvalidRecord,
}

/// Both directions of one SSH flow. Index 0 is to the server, 1 to the client.
#[derive(Debug, Clone, Default)]
pub struct SshTracker {
    sides: [Side; 2],
    no_inspection: bool,
    error: [Option<SshError>; 2],
}

impl SshTracker {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether both directions sent NEWKEYS and the flow's inspection ends.
    pub fn no_inspection(&self) -> bool {
        self.no_inspection
    }

    /// Whether direction `dir` (0 to server, 1 to client) sent NEWKEYS.
    pub fn newkeys(&self, dir: usize) -> bool {
        self.sides.get(dir).is_some_and(|s| s.newkeys)
    }

    /// The error that stopped tracking direction `dir`, if any.
    pub fn error(&self, dir: usize) -> Option<SshError> {
        self.error.get(dir).copied().flatten()
    }

    /// Lost bytes in `dir`: the record boundaries are gone, so the direction stops (Suricata's
    /// SSH parser does not accept gaps).
    pub fn gap(&mut self, dir: usize) {
        if let Some(s) = self.sides.get_mut(dir) {
            s.phase = Phase::Failed;
        }
    }

    /// The next in-order bytes of `dir` (0 to server, 1 to client), one stream chunk.
    pub fn feed(&mut self, dir: usize, data: &[u8]) {
        if dir > 1 || self.no_inspection {
            return;
        }
        let mut input = data;
        while !input.is_empty() {
            let step = match self.sides[dir].phase {
                Phase::Failed => return,
                Phase::Banner { .. } => self.banner(dir, input),
                Phase::BannerEol { .. } => Ok(eol_skip(&mut self.sides[dir], input)),
                Phase::Records { .. } => self.records(dir, input),
            };
            match step {
                Ok(n) => input = &input[n.min(input.len())..],
                Err(e) => {
                    self.error[dir] = Some(e);
                    self.sides[dir].phase = Phase::Failed;
                    return;
                }
            }
            if self.no_inspection {
                return;
            }
        }
    }

    /// Banner bytes: returns how many of `input` were used.
    fn banner(&mut self, dir: usize, input: &[u8]) -> Result<usize, SshError> {
        let s = &mut self.sides[dir];
        let Phase::Banner { mut len, mut cr } = s.phase else {
            return Ok(0);
        };
        for (i, &b) in input.iter().enumerate() {
            if cr {
                // A CR ends the line; an LF right after it belongs to the line end.
                let line_end = if b == b'\n' { i + 1 } else { i };
                check_banner(&s.banner[..len])?;
                s.phase = Phase::Records {
                    hdr_len: 0,
                    skip: 0,
                };
                return Ok(line_end);
            }
            match b {
                b'\n' => {
                    check_banner(&s.banner[..len])?;
                    s.phase = Phase::Records {
                        hdr_len: 0,
                        skip: 0,
                    };
                    return Ok(i + 1);
                }
                b'\r' => cr = true,
                _ if len < MAX_BANNER => {
                    s.banner[len] = b;
                    len += 1;
                }
                _ => {}
            }
            if len >= MAX_BANNER && !cr {
                // Suricata parses the long line it has and waits for its end of line.
                check_banner(&s.banner[..len])?;
                s.phase = Phase::BannerEol { cr: false };
                return Ok(i + 1);
            }
        }
        s.phase = Phase::Banner { len, cr };
        Ok(input.len())
    }

    /// Binary packet bytes: returns how many of `input` were used.
    fn records(&mut self, dir: usize, input: &[u8]) -> Result<usize, SshError> {
        let other_done = self.sides[1 - dir].newkeys;
        let s = &mut self.sides[dir];
        let Phase::Records {
            mut hdr_len,
            mut skip,
        } = s.phase
        else {
            return Ok(0);
        };
        let mut used = 0usize;
        if skip > 0 {
            let n = (input.len() as u64).min(skip);
            skip -= n;
            used = n as usize;
            s.phase = Phase::Records { hdr_len, skip };
            return Ok(used);
        }
        while hdr_len < HEADER_LEN {
            let Some(&b) = input.get(used) else {
                s.phase = Phase::Records { hdr_len, skip };
                return Ok(used);
            };
            s.hdr[hdr_len] = b;
            hdr_len += 1;
            used += 1;
        }
        let pkt_len = u32::from_be_bytes([s.hdr[0], s.hdr[1], s.hdr[2], s.hdr[3]]);
        if pkt_len <= 1 {
            return Err(SshError::InvalidRecord);
        }
        let body = u64::from(pkt_len) - 2;
        let rest = (input.len() - used) as u64;
        let newkeys = s.hdr[5] == MSG_NEWKEYS;
        if newkeys {
            s.newkeys = true;
        }
        if body <= rest {
            // The whole record is in this chunk.
            if newkeys && other_done {
                self.no_inspection = true;
            }
            s.phase = Phase::Records {
                hdr_len: 0,
                skip: 0,
            };
            Ok(used + body as usize)
        } else {
            s.phase = Phase::Records {
                hdr_len: 0,
                skip: body - rest,
            };
            Ok(input.len())
        }
    }
}

/// Skips a long banner's bytes up to and including its end of line.
fn eol_skip(s: &mut Side, input: &[u8]) -> usize {
    let Phase::BannerEol { mut cr } = s.phase else {
        return 0;
    };
    for (i, &b) in input.iter().enumerate() {
        if cr {
            s.phase = Phase::Records {
                hdr_len: 0,
                skip: 0,
            };
            return if b == b'\n' { i + 1 } else { i };
        }
        match b {
            b'\n' => {
                s.phase = Phase::Records {
                    hdr_len: 0,
                    skip: 0,
                };
                return i + 1;
            }
            b'\r' => cr = true,
            _ => {}
        }
    }
    s.phase = Phase::BannerEol { cr };
    input.len()
}

/// `SSH-`, a non-empty protocol version without `-`, then `-`.
fn check_banner(line: &[u8]) -> Result<(), SshError> {
    let rest = line.strip_prefix(b"SSH-").ok_or(SshError::InvalidBanner)?;
    match rest.iter().position(|&b| b == b'-') {
        Some(p) if p > 0 => Ok(()),
        _ => Err(SshError::InvalidBanner),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// TCP payloads of the SSH flow cut from bench-mixed (tcp.stream 8: OpenSSH 5.2 client,
    /// OpenSSH 5.8p1 server), in capture order: (to server, bytes).
    fn flow() -> Vec<(bool, Vec<u8>)> {
        let pcap: &[u8] = include_bytes!("../../../tests/data/ssh-newkeys/input.pcap");
        let mut out = Vec::new();
        let reader = pcap_file::pcap::PcapReader::new(pcap).expect("pcap");
        let mut reader = reader;
        while let Some(pkt) = reader.next_packet() {
            let pkt = pkt.expect("packet");
            let sliced = etherparse::SlicedPacket::from_ethernet(&pkt.data).expect("ethernet");
            if let Some(etherparse::TransportSlice::Tcp(t)) = sliced.transport {
                if !t.payload().is_empty() {
                    out.push((t.destination_port() == 22, t.payload().to_vec()));
                }
            }
        }
        out
    }

    /// Index (among payload packets) of the packet after which inspection ends.
    fn ends_after(chunks: &[(bool, Vec<u8>)], split: usize) -> Option<usize> {
        let mut t = SshTracker::new();
        for (i, (to_server, data)) in chunks.iter().enumerate() {
            let dir = if *to_server { 0 } else { 1 };
            for part in data.chunks(split) {
                t.feed(dir, part);
            }
            assert_eq!(t.error(0), None);
            assert_eq!(t.error(1), None);
            if t.no_inspection() {
                return Some(i);
            }
        }
        None
    }

    #[test]
    fn real_flow_ends_at_the_clients_newkeys() {
        let chunks = flow();
        // Payloads: banners (2), KEXINITs (2), DH GEX request/group/init, the server's reply
        // with its NEWKEYS (index 7), the client's NEWKEYS alone (index 8, 16 bytes).
        let i = ends_after(&chunks, usize::MAX).expect("both NEWKEYS");
        assert_eq!(chunks[i].1.len(), 16);
        assert!(chunks[i].0, "the client's NEWKEYS comes second");
        assert_eq!(chunks[i].1[5], MSG_NEWKEYS);
    }

    #[test]
    fn server_newkeys_alone_does_not_end_inspection() {
        let chunks = flow();
        let mut t = SshTracker::new();
        for (to_server, data) in &chunks {
            if !*to_server {
                t.feed(1, data);
            }
        }
        assert!(t.newkeys(1));
        assert!(!t.newkeys(0));
        assert!(!t.no_inspection());
    }

    #[test]
    fn newkeys_split_across_chunks_finishes_without_ending_inspection() {
        // Suricata: a NEWKEYS record whose body is not all there only finishes its direction.
        let chunks = flow();
        // Byte chunks of 8: the client's 16-byte NEWKEYS record arrives as header+2, then 8.
        assert_eq!(ends_after(&chunks, 8), None);
        // Byte chunks of 1: every header is completed byte by byte, bodies never whole.
        let mut t = SshTracker::new();
        for (to_server, data) in &chunks {
            for b in data.chunks(1) {
                t.feed(if *to_server { 0 } else { 1 }, b);
            }
        }
        assert!(t.newkeys(0) && t.newkeys(1));
        assert!(!t.no_inspection());
    }

    #[test]
    fn banner_forms_and_errors() {
        let newkeys = [0, 0, 0, 12, 10, 21, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        for banner in [
            &b"SSH-2.0-x\r\n"[..],
            b"SSH-2.0-x\n",
            b"SSH-1.99-OpenSSH_9 comment\r",
        ] {
            let mut t = SshTracker::new();
            let mut s = banner.to_vec();
            s.extend_from_slice(&newkeys);
            t.feed(1, &s);
            t.feed(0, &s);
            assert!(t.no_inspection(), "{banner:?}");
        }
        for bad in [&b"HTTP/1.1 200\r\n"[..], b"SSH--x\n", b"SSH-2.0\n"] {
            let mut t = SshTracker::new();
            t.feed(0, bad);
            assert_eq!(t.error(0), Some(SshError::InvalidBanner), "{bad:?}");
            t.feed(0, &newkeys);
            assert!(!t.newkeys(0));
        }
        let mut t = SshTracker::new();
        t.feed(0, b"SSH-2.0-x\r\n\0\0\0\x01\x00\x15");
        assert_eq!(t.error(0), Some(SshError::InvalidRecord));
    }

    #[test]
    fn long_banner_waits_for_its_end_of_line() {
        let mut t = SshTracker::new();
        let mut line = b"SSH-2.0-".to_vec();
        line.resize(1000, b'a');
        t.feed(0, &line);
        t.feed(0, b"aaa\r\n\0\0\0\x0c\x0a\x15\0\0\0\0\0\0\0\0\0\0");
        assert!(t.newkeys(0));
        assert_eq!(t.error(0), None);
    }

    #[test]
    fn gap_stops_the_direction() {
        let mut t = SshTracker::new();
        t.feed(0, b"SSH-2.0-x\r\n");
        t.gap(0);
        t.feed(0, &[0, 0, 0, 12, 10, 21, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert!(!t.newkeys(0));
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_memory_is_fixed() {
        let mut x: u32 = 0x1234_5678;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        };
        let size = std::mem::size_of::<SshTracker>();
        for _ in 0..2000 {
            let mut t = SshTracker::new();
            t.feed(0, b"SSH-2.0-x\n");
            for _ in 0..8 {
                let n = (next() % 40) as usize;
                let data: Vec<u8> = (0..n).map(|_| next() as u8).collect();
                t.feed((next() % 3) as usize, &data);
            }
        }
        assert!(size < 2 * MAX_BANNER + 128);
    }
}
