//! The shared corpus: locating captures and rule sets, turning captures into GWLB datagrams, and
//! the synthetic traffic of the passthrough bench.
//!
//! * [`load`] / [`read_packets`]: a capture of the corpus (`$SEAWALL_CORPUS` or
//!   `<repo>/../shared/corpus`), wrapped with a fixed cookie seed;
//! * [`NoMatch`]: a generator of TCP and UDP flows whose payloads contain no `content` literal of
//!   a rule set (case-insensitively, across segment boundaries of a TCP stream too), so no rule's
//!   fast pattern can hit, whatever the engine picks;
//! * [`vary`]: rewrites the low 16 bits of both inner addresses (checksums fixed incrementally), so
//!   every replay of a capture is made of new flows for a stateful appliance while HOME_NET /
//!   EXTERNAL_NET membership (all prefixes of /16 or shorter) is unchanged;
//! * [`wrap_passes`]: `count` datagrams cycling over a capture, a fresh variant per pass.

use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use seawall_sim::{
    read_capture, wrap_all, Capture, CaptureStats, Datagram, InnerPacket, WrapConfig, Wrapper,
};

/// Environment variable that overrides the corpus directory.
pub const CORPUS_ENV: &str = "SEAWALL_CORPUS";
/// The throughput capture, relative to the corpus directory.
pub const BENCH_PCAP: &str = "pcaps/bench-mixed.pcap";
/// Cookie seed of every benchmark replay, so runs send identical bytes.
pub const BENCH_SEED: u64 = 0x5ea_3a11;
/// The ET Open rule set, relative to the corpus directory.
pub const ET_OPEN_RULES: &str = "et-open/et-open.rules";

/// The corpus directory: `$SEAWALL_CORPUS`, else `<repo>/../shared/corpus`.
pub fn corpus_dir() -> PathBuf {
    match std::env::var_os(CORPUS_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => repo_root().join("..").join("shared").join("corpus"),
    }
}

/// The workspace root (the parent of this crate's manifest directory).
pub fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// The default throughput capture (`bench-mixed.pcap` in the corpus).
pub fn default_pcap() -> PathBuf {
    corpus_dir().join(BENCH_PCAP)
}

/// The ET Open rule set of the corpus.
pub fn et_open_rules() -> PathBuf {
    corpus_dir().join(ET_OPEN_RULES)
}

/// `Ok(path)` when `path` is a file, else a loud error naming `what` and where the corpus was looked
/// for.
///
/// # Errors
/// `path` is not a file.
pub fn require_file(path: &Path, what: &str) -> Result<PathBuf, String> {
    if path.is_file() {
        Ok(path.to_path_buf())
    } else {
        Err(format!(
            "{what} {} not found (corpus directory {}; set ${CORPUS_ENV} to the corpus directory)",
            path.display(),
            corpus_dir().display()
        ))
    }
}

/// A capture wrapped as GWLB would send it.
#[derive(Debug, Clone)]
pub struct Load {
    /// The capture file.
    pub pcap: PathBuf,
    /// What reading it found.
    pub stats: CaptureStats,
    /// The datagrams, in capture order.
    pub datagrams: Vec<Datagram>,
}

impl Load {
    /// UDP payload bytes of all datagrams.
    pub fn bytes(&self) -> u64 {
        self.datagrams.iter().map(|d| d.bytes.len() as u64).sum()
    }
}

/// Reads `pcap` and wraps at most `max_packets` of its IP packets (all when `None`) with the
/// simulator's default ids, 64 outer sockets and the fixed [`BENCH_SEED`].
///
/// # Errors
/// The file is missing (the message says where the corpus was looked for) or unreadable.
pub fn load(pcap: &Path, max_packets: Option<usize>) -> Result<Load, String> {
    let cap = read_packets(pcap, max_packets)?;
    let cfg = WrapConfig {
        seed: Some(BENCH_SEED),
        ..WrapConfig::default()
    };
    Ok(Load {
        pcap: pcap.to_path_buf(),
        stats: cap.stats,
        datagrams: wrap_all(&cap.packets, &cfg),
    })
}

/// Reads at most `max_packets` IP packets of `pcap` (all when `None`), unwrapped.
///
/// # Errors
/// The file is missing (the message says where the corpus was looked for), unreadable or holds no
/// IP packet.
pub fn read_packets(pcap: &Path, max_packets: Option<usize>) -> Result<Capture, String> {
    if !pcap.is_file() {
        return Err(format!(
            "capture {} not found (set ${CORPUS_ENV} to the corpus directory, or pass --pcap FILE)",
            pcap.display()
        ));
    }
    let mut cap = read_capture(pcap).map_err(|e| format!("{}: {e}", pcap.display()))?;
    if let Some(max) = max_packets {
        cap.packets.truncate(max);
    }
    if cap.packets.is_empty() {
        return Err(format!("{}: no IP packets", pcap.display()));
    }
    Ok(cap)
}
/// Every `content` literal of a rule text (lower-cased; negated ones included, as are contents of
/// disabled rules: a superset only makes [`NoMatch`] stricter). Hex parts (`|0d 0a|`) and the
/// escapes `\"`, `\\`, `\;`, `\:` are decoded; empty literals are left out.
pub fn rule_literals(text: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut rest = line;
        while let Some(at) = rest.find("content:") {
            rest = &rest[at + "content:".len()..];
            let arg = rest.trim_start();
            let arg = arg.strip_prefix('!').unwrap_or(arg).trim_start();
            let Some(arg) = arg.strip_prefix('"') else {
                continue;
            };
            let (lit, used) = decode_content(arg.as_bytes());
            rest = &arg[used.min(arg.len())..];
            if !lit.is_empty() {
                out.push(lit);
            }
        }
    }
    out
}

/// Decodes a content argument after its opening quote; returns the bytes (lower-cased) and how
/// many input bytes were used (up to and including the closing quote).
fn decode_content(s: &[u8]) -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    let (mut hex, mut nibble): (bool, Option<u8>) = (false, None);
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        i += 1;
        match c {
            b'"' if !hex => return (out, i),
            b'|' => {
                hex = !hex;
                nibble = None;
            }
            _ if hex => {
                if let Some(d) = (c as char).to_digit(16) {
                    let d = d as u8;
                    match nibble.take() {
                        Some(h) => out.push((h << 4 | d).to_ascii_lowercase()),
                        None => nibble = Some(d),
                    }
                }
            }
            b'\\' if i < s.len() => {
                out.push(s[i].to_ascii_lowercase());
                i += 1;
            }
            _ => out.push(c.to_ascii_lowercase()),
        }
    }
    (out, i)
}

/// A set of literals no generated payload may contain (compared case-insensitively).
#[derive(Debug, Clone)]
pub struct Avoid {
    /// Bytes that are literals by themselves (lower-cased).
    single: [bool; 256],
    /// Two-byte literals: a bitset indexed by the 16-bit value.
    pairs: Vec<u64>,
    /// Three-byte literals: a bitset indexed by the 24-bit value.
    triples: Vec<u64>,
    /// Longer literals, by their last four bytes.
    long: HashMap<[u8; 4], Vec<Vec<u8>>>,
    /// Prefilter of `long`: a bitset of the last three bytes of every long literal.
    long_tails: Vec<u64>,
    /// How many distinct literals.
    literals: usize,
}

fn bit_set(bits: &mut [u64], i: usize) {
    bits[i / 64] |= 1 << (i % 64);
}

fn bit_get(bits: &[u64], i: usize) -> bool {
    bits[i / 64] & (1 << (i % 64)) != 0
}

fn key(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .fold(0usize, |k, b| k << 8 | usize::from(b.to_ascii_lowercase()))
}

impl Avoid {
    /// The set of `literals` (any case).
    pub fn new(literals: impl IntoIterator<Item = Vec<u8>>) -> Self {
        let mut a = Avoid {
            single: [false; 256],
            pairs: vec![0; (1 << 16) / 64],
            triples: vec![0; (1 << 24) / 64],
            long: HashMap::new(),
            long_tails: vec![0; (1 << 24) / 64],
            literals: 0,
        };
        let mut seen = HashSet::new();
        for mut lit in literals {
            lit.make_ascii_lowercase();
            if lit.is_empty() || !seen.insert(lit.clone()) {
                continue;
            }
            match lit.len() {
                1 => a.single[usize::from(lit[0])] = true,
                2 => bit_set(&mut a.pairs, key(&lit)),
                3 => bit_set(&mut a.triples, key(&lit)),
                n => {
                    bit_set(&mut a.long_tails, key(&lit[n - 3..]));
                    let k: [u8; 4] = lit[n - 4..].try_into().expect("four bytes");
                    a.long.entry(k).or_default().push(lit);
                }
            }
        }
        a.literals = seen.len();
        a
    }

    /// The literals of the rule file(s) at `paths`.
    ///
    /// # Errors
    /// A file cannot be read.
    pub fn from_rule_files(paths: &[PathBuf]) -> Result<Self, String> {
        let mut lits = Vec::new();
        for p in paths {
            let text = std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?;
            lits.extend(rule_literals(&String::from_utf8_lossy(&text)));
        }
        Ok(Avoid::new(lits))
    }

    /// Distinct literals in the set.
    pub fn len(&self) -> usize {
        self.literals
    }

    /// No literal at all.
    pub fn is_empty(&self) -> bool {
        self.literals == 0
    }

    /// Bytes that may appear in a payload (neither case of them is a one-byte literal).
    pub fn alphabet(&self) -> Vec<u8> {
        (0..=255u8)
            .filter(|b| !self.single[usize::from(b.to_ascii_lowercase())])
            .collect()
    }

    /// Whether some literal ends at the last byte of `buf`.
    pub fn ends_here(&self, buf: &[u8]) -> bool {
        let n = buf.len();
        let Some(&last) = buf.last() else {
            return false;
        };
        if self.single[usize::from(last.to_ascii_lowercase())] {
            return true;
        }
        if n >= 2 && bit_get(&self.pairs, key(&buf[n - 2..])) {
            return true;
        }
        if n < 3 {
            return false;
        }
        let tail = key(&buf[n - 3..]);
        if bit_get(&self.triples, tail) {
            return true;
        }
        if n < 4 || !bit_get(&self.long_tails, tail) {
            return false;
        }
        let mut k = [0u8; 4];
        k.copy_from_slice(&buf[n - 4..]);
        k.make_ascii_lowercase();
        self.long.get(&k).is_some_and(|cands| {
            cands
                .iter()
                .any(|lit| lit.len() <= n && buf[n - lit.len()..].eq_ignore_ascii_case(lit))
        })
    }

    /// The end offset of the first literal found in `buf` (an independent check of the generator).
    pub fn find(&self, buf: &[u8]) -> Option<usize> {
        (1..=buf.len()).find(|&end| self.ends_here(&buf[..end]))
    }
}

/// A small deterministic generator (splitmix64): the bench needs reproducible traffic, not
/// cryptographic randomness, and `rand` is not a dependency of this crate's library.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// True with probability `pct` %.
    pub fn chance(&mut self, pct: u64) -> bool {
        self.next_u64() % 100 < pct
    }
}

/// Appends `len` bytes to `buf` such that no literal of `avoid` ends anywhere in the new bytes
/// (so none occurs in `buf` if none did before).
///
/// # Errors
/// The alphabet is empty or a position cannot be filled (a rule set that forbids nearly every
/// byte pair).
fn extend_avoiding(
    buf: &mut Vec<u8>,
    len: usize,
    avoid: &Avoid,
    alphabet: &[u8],
    rng: &mut Rng,
) -> Result<(), String> {
    if alphabet.is_empty() {
        return Err("every byte value is a one-byte content of the rule set".into());
    }
    let target = buf.len() + len;
    while buf.len() < target {
        let mut placed = false;
        for _ in 0..256 {
            let b = alphabet[(rng.next_u64() % alphabet.len() as u64) as usize];
            buf.push(b);
            if avoid.ends_here(buf) {
                buf.pop();
            } else {
                placed = true;
                break;
            }
        }
        if !placed {
            return Err(format!(
                "cannot extend a payload at {} bytes without forming a rule content",
                buf.len()
            ));
        }
    }
    Ok(())
}

/// First address of the client side of [`NoMatch`] traffic: 10.0.0.0/8, inside the default
/// HOME_NET.
pub const NO_MATCH_CLIENT_NET: [u8; 1] = [10];
/// Server side: 198.18.0.0/15 (RFC 2544 benchmarking), outside HOME_NET (so `EXTERNAL_NET`).
pub const NO_MATCH_SERVER_NET: [u8; 2] = [198, 18];

/// Synthetic traffic that no rule of a set matches: outbound TCP connections (handshake, data both
/// ways with consistent sequence numbers, FIN close) and UDP exchanges, 10.0.0.0/8 clients to
/// 198.18.0.0/15 servers on high ports, flows interleaved (up to 256 live at a time), payloads of
/// bytes that form no `content` of the set, case-insensitively, anywhere in a datagram or in the
/// byte stream of a TCP direction.
#[derive(Debug, Clone)]
pub struct NoMatch {
    /// The packets (raw IPv4), in send order; timestamps 5 µs apart.
    pub packets: Vec<InnerPacket>,
    /// Flows generated.
    pub flows: usize,
    /// Of which TCP.
    pub tcp_flows: usize,
}

/// One live synthetic flow: its remaining packets, built up front.
struct LiveFlow {
    packets: std::vec::IntoIter<Vec<u8>>,
}

impl NoMatch {
    /// About `packets` packets (flows are completed, so a few more), deterministic for `seed`.
    ///
    /// # Errors
    /// The rule set leaves no usable alphabet.
    pub fn generate(avoid: &Avoid, packets: usize, seed: u64) -> Result<Self, String> {
        let alphabet = avoid.alphabet();
        let mut rng = Rng::new(seed);
        let mut live: Vec<LiveFlow> = Vec::new();
        let (mut out, mut flows, mut tcp_flows) = (Vec::with_capacity(packets + 256), 0, 0);
        let mut made = 0usize;
        while out.len() < packets || !live.is_empty() {
            if made < packets && live.len() < 256 {
                let tcp = rng.chance(60);
                let f = if tcp {
                    tcp_flow(avoid, &alphabet, &mut rng)?
                } else {
                    udp_flow(avoid, &alphabet, &mut rng)?
                };
                made += f.len();
                flows += 1;
                tcp_flows += usize::from(tcp);
                live.push(LiveFlow {
                    packets: f.into_iter(),
                });
                continue;
            }
            let i = (rng.next_u64() % live.len() as u64) as usize;
            match live[i].packets.next() {
                Some(p) => out.push(InnerPacket {
                    ts: Duration::from_micros(1_700_000_000_000_000 + 5 * out.len() as u64),
                    bytes: p,
                }),
                None => {
                    live.swap_remove(i);
                }
            }
        }
        Ok(NoMatch {
            packets: out,
            flows,
            tcp_flows,
        })
    }
}

fn client_addr(rng: &mut Rng) -> [u8; 4] {
    let r = rng.next_u64().to_be_bytes();
    [NO_MATCH_CLIENT_NET[0], r[0], r[1], 1 + r[2] % 254]
}

fn server_addr(rng: &mut Rng) -> [u8; 4] {
    let r = rng.next_u64().to_be_bytes();
    [
        NO_MATCH_SERVER_NET[0],
        NO_MATCH_SERVER_NET[1] | (r[0] & 1),
        r[1],
        1 + r[2] % 254,
    ]
}

const TCP_FIN: u8 = 0x01;
const TCP_SYN: u8 = 0x02;
const TCP_PSH: u8 = 0x08;
const TCP_ACK: u8 = 0x10;

/// One TCP connection: handshake, 20..=120 data segments (40 % client to server, 16..=400 bytes;
/// 60 % server to client, 64..=1200 bytes), FIN from both sides, last ACK.
fn tcp_flow(avoid: &Avoid, alphabet: &[u8], rng: &mut Rng) -> Result<Vec<Vec<u8>>, String> {
    let (c, s) = (client_addr(rng), server_addr(rng));
    let (cp, sp) = (
        rng.range(32_768, 60_999) as u16,
        rng.range(10_000, 30_000) as u16,
    );
    let segs: Vec<(bool, usize)> = (0..rng.range(20, 120))
        .map(|_| {
            if rng.chance(40) {
                (true, rng.range(16, 400) as usize)
            } else {
                (false, rng.range(64, 1200) as usize)
            }
        })
        .collect();
    let (mut up, mut down) = (Vec::new(), Vec::new());
    let up_len = segs.iter().filter(|s| s.0).map(|s| s.1).sum();
    let down_len = segs.iter().filter(|s| !s.0).map(|s| s.1).sum();
    extend_avoiding(&mut up, up_len, avoid, alphabet, rng)?;
    extend_avoiding(&mut down, down_len, avoid, alphabet, rng)?;
    let (mut cseq, mut sseq) = (rng.next_u64() as u32, rng.next_u64() as u32);
    let (mut cid, mut sid) = (rng.next_u64() as u16, rng.next_u64() as u16);
    let mut pkts = Vec::with_capacity(segs.len() + 6);
    let c2s = |seq: u32, ack: u32, flags: u8, data: &[u8], id: &mut u16| {
        *id = id.wrapping_add(1);
        ipv4_tcp(c, s, cp, sp, seq, ack, flags, data, *id)
    };
    pkts.push(c2s(cseq, 0, TCP_SYN, &[], &mut cid));
    cseq = cseq.wrapping_add(1);
    sid = sid.wrapping_add(1);
    pkts.push(ipv4_tcp(
        s,
        c,
        sp,
        cp,
        sseq,
        cseq,
        TCP_SYN | TCP_ACK,
        &[],
        sid,
    ));
    sseq = sseq.wrapping_add(1);
    pkts.push(c2s(cseq, sseq, TCP_ACK, &[], &mut cid));
    let (mut uo, mut dof) = (0usize, 0usize);
    for (to_server, len) in segs {
        if to_server {
            pkts.push(c2s(
                cseq,
                sseq,
                TCP_PSH | TCP_ACK,
                &up[uo..uo + len],
                &mut cid,
            ));
            cseq = cseq.wrapping_add(len as u32);
            uo += len;
        } else {
            sid = sid.wrapping_add(1);
            let d = &down[dof..dof + len];
            pkts.push(ipv4_tcp(
                s,
                c,
                sp,
                cp,
                sseq,
                cseq,
                TCP_PSH | TCP_ACK,
                d,
                sid,
            ));
            sseq = sseq.wrapping_add(len as u32);
            dof += len;
        }
    }
    pkts.push(c2s(cseq, sseq, TCP_FIN | TCP_ACK, &[], &mut cid));
    cseq = cseq.wrapping_add(1);
    sid = sid.wrapping_add(1);
    pkts.push(ipv4_tcp(
        s,
        c,
        sp,
        cp,
        sseq,
        cseq,
        TCP_FIN | TCP_ACK,
        &[],
        sid,
    ));
    sseq = sseq.wrapping_add(1);
    pkts.push(c2s(cseq, sseq, TCP_ACK, &[], &mut cid));
    Ok(pkts)
}

/// One UDP exchange: 2..=12 datagrams of 16..=1200 bytes, either direction.
fn udp_flow(avoid: &Avoid, alphabet: &[u8], rng: &mut Rng) -> Result<Vec<Vec<u8>>, String> {
    let (c, s) = (client_addr(rng), server_addr(rng));
    let (cp, sp) = (
        rng.range(32_768, 60_999) as u16,
        rng.range(10_000, 30_000) as u16,
    );
    let mut id = rng.next_u64() as u16;
    let mut pkts = Vec::new();
    for k in 0..rng.range(2, 12) {
        let mut data = Vec::new();
        extend_avoiding(
            &mut data,
            rng.range(16, 1200) as usize,
            avoid,
            alphabet,
            rng,
        )?;
        id = id.wrapping_add(1);
        pkts.push(if k == 0 || rng.chance(50) {
            ipv4_udp(c, s, cp, sp, &data, id)
        } else {
            ipv4_udp(s, c, sp, cp, &data, id)
        });
    }
    Ok(pkts)
}

/// The Internet checksum (RFC 1071) of `data`, folded, starting from `sum`.
fn inet_sum(data: &[u8], mut sum: u32) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for w in &mut chunks {
        sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [b] = chunks.remainder() {
        sum += u32::from(*b) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum
}

/// An IPv4 header (DF, TTL 64) followed by `l4`; fills the IP checksum and the TCP/UDP checksum
/// at `l4_csum` (an offset in `l4`).
fn ipv4(
    src: [u8; 4],
    dst: [u8; 4],
    proto: u8,
    id: u16,
    mut l4: Vec<u8>,
    l4_csum: usize,
) -> Vec<u8> {
    let total = 20 + l4.len();
    let mut p = Vec::with_capacity(total);
    p.extend_from_slice(&[0x45, 0]);
    p.extend_from_slice(&(total as u16).to_be_bytes());
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&[0x40, 0, 64, proto, 0, 0]);
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    let ip = !(inet_sum(&p, 0) as u16);
    p[10..12].copy_from_slice(&ip.to_be_bytes());
    let mut pseudo = Vec::with_capacity(12);
    pseudo.extend_from_slice(&src);
    pseudo.extend_from_slice(&dst);
    pseudo.extend_from_slice(&[0, proto]);
    pseudo.extend_from_slice(&(l4.len() as u16).to_be_bytes());
    let mut c = !(inet_sum(&l4, inet_sum(&pseudo, 0)) as u16);
    if c == 0 && proto == 17 {
        c = 0xffff;
    }
    l4[l4_csum..l4_csum + 2].copy_from_slice(&c.to_be_bytes());
    p.extend_from_slice(&l4);
    p
}

#[allow(clippy::too_many_arguments)]
fn ipv4_tcp(
    src: [u8; 4],
    dst: [u8; 4],
    sp: u16,
    dp: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    data: &[u8],
    id: u16,
) -> Vec<u8> {
    let mut t = Vec::with_capacity(20 + data.len());
    t.extend_from_slice(&sp.to_be_bytes());
    t.extend_from_slice(&dp.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&ack.to_be_bytes());
    t.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    t.extend_from_slice(data);
    ipv4(src, dst, 6, id, t, 16)
}

fn ipv4_udp(src: [u8; 4], dst: [u8; 4], sp: u16, dp: u16, data: &[u8], id: u16) -> Vec<u8> {
    let mut u = Vec::with_capacity(8 + data.len());
    u.extend_from_slice(&sp.to_be_bytes());
    u.extend_from_slice(&dp.to_be_bytes());
    u.extend_from_slice(&((8 + data.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(data);
    ipv4(src, dst, 17, id, u, 6)
}

/// RFC 1624 eq. 3: the checksum after one 16-bit word of the covered data changed.
fn csum_adjust(csum: u16, old: u16, new: u16) -> u16 {
    let mut s = u32::from(!csum) + u32::from(!old) + u32::from(new);
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// XORs the 16-bit word at `at` with `v`; returns (old, new) or None when out of bounds.
fn xor_word(p: &mut [u8], at: usize, v: u16) -> Option<(u16, u16)> {
    let w = p.get_mut(at..at + 2)?;
    let old = u16::from_be_bytes([w[0], w[1]]);
    let new = old ^ v;
    w.copy_from_slice(&new.to_be_bytes());
    Some((old, new))
}

/// Adjusts the checksum at `at` for the word changes; `udp`: 0 means "no checksum" and stays 0,
/// a computed 0 is sent as 0xffff.
fn fix_csum(p: &mut [u8], at: usize, changes: &[(u16, u16)], udp: bool) {
    let Some(w) = p.get_mut(at..at + 2) else {
        return;
    };
    let mut c = u16::from_be_bytes([w[0], w[1]]);
    if udp && c == 0 {
        return;
    }
    for &(old, new) in changes {
        c = csum_adjust(c, old, new);
    }
    if udp && c == 0 {
        c = 0xffff;
    }
    w.copy_from_slice(&c.to_be_bytes());
}

/// Variant `v` of an inner packet: the low 16 bits of the source and destination addresses XORed
/// with `v`, the IPv4 header checksum and the TCP/UDP (and ICMPv6) checksums adjusted
/// incrementally, everything else unchanged. Variant 0 is the packet itself. Every network of
/// /16 or shorter keeps its members (RFC 1918, 198.18/15, multicast, ...), so the rules' address
/// groups match as before, while every 5-tuple is new. Packets that are not IP, or too short to
/// hold both addresses, are returned unchanged.
pub fn vary(inner: &[u8], v: u16) -> Vec<u8> {
    let mut p = inner.to_vec();
    if v == 0 {
        return p;
    }
    match p.first().map(|b| b >> 4) {
        Some(4) if p.len() >= 20 => {
            let ihl = usize::from(p[0] & 0x0f) * 4;
            let (Some(a), Some(b)) = (xor_word(&mut p, 14, v), xor_word(&mut p, 18, v)) else {
                return inner.to_vec();
            };
            fix_csum(&mut p, 10, &[a, b], false);
            let frag_offset = u16::from_be_bytes([p[6], p[7]]) & 0x1fff;
            if frag_offset == 0 && ihl >= 20 {
                match p[9] {
                    6 => fix_csum(&mut p, ihl + 16, &[a, b], false),
                    17 => fix_csum(&mut p, ihl + 6, &[a, b], true),
                    _ => {}
                }
            }
        }
        Some(6) if p.len() >= 40 => {
            let a = xor_word(&mut p, 22, v).expect("40 bytes");
            let b = xor_word(&mut p, 38, v).expect("40 bytes");
            let (mut next, mut off) = (p[6], 40usize);
            loop {
                match next {
                    0 | 43 | 60 => {
                        let Some(&l) = p.get(off + 1) else { break };
                        next = p[off];
                        off += (usize::from(l) + 1) * 8;
                    }
                    51 => {
                        let Some(&l) = p.get(off + 1) else { break };
                        next = p[off];
                        off += (usize::from(l) + 2) * 4;
                    }
                    44 => {
                        let Some(fo) = p.get(off + 2..off + 4) else {
                            break;
                        };
                        if u16::from_be_bytes([fo[0], fo[1]]) >> 3 != 0 {
                            break;
                        }
                        next = p[off];
                        off += 8;
                    }
                    6 => {
                        fix_csum(&mut p, off + 16, &[a, b], false);
                        break;
                    }
                    17 => {
                        fix_csum(&mut p, off + 6, &[a, b], false);
                        break;
                    }
                    58 => {
                        fix_csum(&mut p, off + 2, &[a, b], false);
                        break;
                    }
                    _ => break,
                }
            }
        }
        _ => {}
    }
    p
}

/// `count` datagrams cycling over `packets`: pass `k` (0-based) is [`vary`]`(_, first + k)`, all
/// wrapped by one [`Wrapper`] with the [`BENCH_SEED`]. Returns the datagrams and the next unused
/// variant.
///
/// # Errors
/// `packets` is empty, or the 16-bit variant space is exhausted.
pub fn wrap_passes(
    packets: &[InnerPacket],
    first: u16,
    count: usize,
) -> Result<(Vec<Datagram>, u16), String> {
    if packets.is_empty() {
        return Err("no packets to wrap".into());
    }
    let passes = count.div_ceil(packets.len());
    let next = usize::from(first) + passes;
    let next = u16::try_from(next).map_err(|_| "more than 65535 variants of one capture")?;
    let mut w = Wrapper::new(&WrapConfig {
        seed: Some(BENCH_SEED),
        ..WrapConfig::default()
    });
    let mut out = Vec::with_capacity(count);
    for (i, p) in packets.iter().cycle().take(count).enumerate() {
        let v = first + (i / packets.len()) as u16;
        let inner = vary(&p.bytes, v);
        let mut bytes = Vec::with_capacity(inner.len() + 48);
        let info = w.wrap_into(p.ts, &inner, &mut bytes);
        out.push(Datagram {
            flow_socket_index: info.socket,
            bytes,
        });
    }
    Ok((out, next))
}

/// Writes `packets` as a pcap (LINKTYPE_RAW, microsecond timestamps), e.g. so that the synthetic
/// traffic can be replayed offline (`seawall replay --rules ... FILE`).
///
/// # Errors
/// The file cannot be written.
pub fn write_pcap_raw(path: &Path, packets: &[InnerPacket]) -> Result<(), String> {
    let err = |e: std::io::Error| format!("{}: {e}", path.display());
    let f = std::fs::File::create(path).map_err(err)?;
    let mut w = std::io::BufWriter::new(f);
    let mut hdr = Vec::with_capacity(24);
    hdr.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    hdr.extend_from_slice(&2u16.to_le_bytes());
    hdr.extend_from_slice(&4u16.to_le_bytes());
    hdr.extend_from_slice(&[0; 8]);
    hdr.extend_from_slice(&65_535u32.to_le_bytes());
    hdr.extend_from_slice(&101u32.to_le_bytes());
    w.write_all(&hdr).map_err(err)?;
    for p in packets {
        let len = u32::try_from(p.bytes.len()).map_err(|_| "packet over 4 GiB".to_string())?;
        let mut rec = Vec::with_capacity(16);
        rec.extend_from_slice(&(p.ts.as_secs() as u32).to_le_bytes());
        rec.extend_from_slice(&p.ts.subsec_micros().to_le_bytes());
        rec.extend_from_slice(&len.to_le_bytes());
        rec.extend_from_slice(&len.to_le_bytes());
        w.write_all(&rec).map_err(err)?;
        w.write_all(&p.bytes).map_err(err)?;
    }
    w.flush().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_capture_is_a_loud_error() {
        let err = load(Path::new("/nonexistent/x.pcap"), None).unwrap_err();
        assert!(err.contains("/nonexistent/x.pcap"), "{err}");
        assert!(err.contains(CORPUS_ENV), "{err}");
    }

    #[test]
    fn default_pcap_is_under_the_corpus() {
        assert!(default_pcap().ends_with(BENCH_PCAP));
    }

    #[test]
    fn rule_literals_decode_hex_escapes_and_negation() {
        let text = r#"alert tcp any any -> any any (msg:"content: x"; content:"GET |20 2F|"; nocase; content:!"a\"b"; content: "|0d0a|X\;"; sid:1;)
# alert tcp any any -> any any (content:"Off"; sid:2;)"#;
        let lits = rule_literals(text);
        assert!(lits.contains(&b"get  /".to_vec()), "{lits:?}");
        assert!(lits.contains(&b"a\"b".to_vec()), "{lits:?}");
        assert!(lits.contains(&b"\r\nx;".to_vec()), "{lits:?}");
        assert!(
            lits.contains(&b"off".to_vec()),
            "disabled rules count too: {lits:?}"
        );
    }

    #[test]
    fn avoid_finds_literals_of_every_length_case_insensitively() {
        let a = Avoid::new([
            b"Z".to_vec(),
            b"ab".to_vec(),
            b"cde".to_vec(),
            b"LongOne".to_vec(),
        ]);
        assert_eq!(a.len(), 4);
        assert!(!a.alphabet().contains(&b'z') && !a.alphabet().contains(&b'Z'));
        assert_eq!(a.find(b"xxAB"), Some(4));
        assert_eq!(a.find(b"xCdEx"), Some(4));
        assert_eq!(a.find(b"..longone"), Some(9));
        assert_eq!(a.find(b"..longon"), None);
        assert_eq!(a.find(b"z"), Some(1));
        assert_eq!(a.find(b"acbdec"), None);
    }

    fn checksum_ok(p: &[u8]) -> bool {
        let ihl = usize::from(p[0] & 0x0f) * 4;
        if inet_sum(&p[..ihl], 0) != 0xffff {
            return false;
        }
        let mut pseudo = p[12..20].to_vec();
        pseudo.extend_from_slice(&[0, p[9]]);
        pseudo.extend_from_slice(&((p.len() - ihl) as u16).to_be_bytes());
        inet_sum(&p[ihl..], inet_sum(&pseudo, 0)) == 0xffff
    }

    #[test]
    fn no_match_traffic_avoids_every_literal_and_has_valid_checksums() {
        let avoid = Avoid::new([
            b"\x00".to_vec(),
            b"ab".to_vec(),
            b"\xff\xfe\x01".to_vec(),
            b"qwer".to_vec(),
        ]);
        let nm = NoMatch::generate(&avoid, 3000, 7).unwrap();
        assert!(nm.packets.len() >= 3000 && nm.flows > 10 && nm.tcp_flows > 0);
        assert!(nm.tcp_flows < nm.flows, "UDP flows too");
        // Per TCP direction, the concatenated payloads avoid every literal (stream inspection).
        let mut streams: HashMap<[u8; 12], Vec<u8>> = HashMap::new();
        for p in &nm.packets {
            assert!(checksum_ok(&p.bytes));
            let (ihl, proto) = (20, p.bytes[9]);
            let data = match proto {
                6 => &p.bytes[ihl + 20..],
                17 => &p.bytes[ihl + 8..],
                _ => panic!("protocol {proto}"),
            };
            assert_eq!(avoid.find(data), None);
            if proto == 6 {
                let k: [u8; 12] = p.bytes[12..24].try_into().unwrap();
                streams.entry(k).or_default().extend_from_slice(data);
            }
            let (src, dst) = (&p.bytes[12..14], &p.bytes[16..18]);
            let client = |a: &[u8]| a[0] == 10;
            let server = |a: &[u8]| a[0] == 198 && a[1] & 0xfe == 18;
            assert!((client(src) && server(dst)) || (server(src) && client(dst)));
        }
        for s in streams.values() {
            assert_eq!(avoid.find(s), None);
        }
        let again = NoMatch::generate(&avoid, 3000, 7).unwrap();
        assert_eq!(again.packets, nm.packets, "deterministic");
    }

    #[test]
    fn vary_keeps_checksums_valid_and_low_words_only() {
        let avoid = Avoid::new([b"ab".to_vec()]);
        let nm = NoMatch::generate(&avoid, 200, 1).unwrap();
        for p in &nm.packets {
            assert_eq!(vary(&p.bytes, 0), p.bytes);
            let v = vary(&p.bytes, 0x1234);
            assert!(checksum_ok(&v));
            assert_eq!(v[12..14], p.bytes[12..14]);
            assert_ne!(v[14..16], p.bytes[14..16]);
            assert_eq!(v[16..18], p.bytes[16..18]);
            assert_ne!(v[18..20], p.bytes[18..20]);
            assert_eq!(
                v[20..],
                p.bytes[20..]
                    .iter()
                    .zip(&v[20..])
                    .map(|(_, b)| *b)
                    .collect::<Vec<_>>()[..]
            );
            assert_eq!(v.len(), p.bytes.len());
        }
        // UDP with no checksum keeps 0.
        let mut u = ipv4_udp([10, 0, 0, 1], [198, 18, 0, 1], 1000, 2000, b"xyz", 1);
        u[26..28].copy_from_slice(&[0, 0]);
        assert_eq!(vary(&u, 9)[26..28], [0, 0]);
    }

    #[test]
    fn wrap_passes_cycles_with_a_new_variant_per_pass() {
        let avoid = Avoid::new([b"ab".to_vec()]);
        let nm = NoMatch::generate(&avoid, 50, 3).unwrap();
        let n = nm.packets.len();
        let (d, next) = wrap_passes(&nm.packets, 5, 2 * n + 1).unwrap();
        assert_eq!(d.len(), 2 * n + 1);
        assert_eq!(next, 8);
        let inner = |i: usize| d[i].bytes[40..].to_vec();
        assert_eq!(inner(0), vary(&nm.packets[0].bytes, 5));
        assert_eq!(inner(n), vary(&nm.packets[0].bytes, 6));
        assert_eq!(inner(2 * n), vary(&nm.packets[0].bytes, 7));
        assert!(wrap_passes(&nm.packets, u16::MAX, n + 1).is_err());
    }

    #[test]
    fn raw_pcap_round_trips_through_the_simulator_reader() {
        let avoid = Avoid::new([b"ab".to_vec()]);
        let nm = NoMatch::generate(&avoid, 30, 4).unwrap();
        let path = std::env::temp_dir().join(format!("seawall-bench-{}.pcap", std::process::id()));
        write_pcap_raw(&path, &nm.packets).unwrap();
        let back = read_packets(&path, None).unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!(back.packets, nm.packets);
    }
}
