//! `seawall replay`: offline inspection of captures, comparable with `suricata -r`.
//!
//! Rules are loaded with `seawall_rules` (parser diagnostics summarised), compiled into the
//! engine (loaded / skipped by reason), and every frame of the captures (pcap or pcapng; any link
//! type `seawall_flow::decode_frame` knows, GWLB GENEVE captures included) goes through the same
//! [`Inspector`] the appliance's workers use. Alerts are written to `OUTDIR/eve.json` as EVE
//! records; a summary goes to stdout and `OUTDIR/replay-stats.json`.
//!
//! Threads: one inspector by default, on the reading thread, so `eve.json` is in packet order as
//! with Suricata's `--runmode single`. With `--workers N` the reader hashes each packet's
//! symmetric address pair (plus protocol and VLAN/GWLB endpoint: fragments carry no ports, and
//! all fragments and packets of a flow must meet in one worker) to one of N workers over bounded
//! channels; packets of a flow stay in order. Batches are recycled, and each worker buffers its
//! EVE lines and appends them to the shared file in large chunks. Known difference with N > 1:
//! host-tracked state (`threshold`/`detection_filter` by_src/by_dst, xbits) lives in each
//! worker's `DetectCtx`, so a host whose flows spread over workers is counted per worker (on
//! bench-mixed.pcap with ET Open: 1 of 569 alerts moves); use one worker for exact parity.

use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeMap;
use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io::{IsTerminal, Read, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use pcap_file::pcap::PcapParser;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
use pcap_file::pcapng::{Block, PcapNgReader};
use pcap_file::PcapError;
use seawall_dataplane::inspect::{AlertEvent, InspectConfig, InspectCounters, Inspector, Origin};
use seawall_detect::{Engine, EngineOptions, Verdict};
use seawall_evidence::eve::{AlertInfo, AlertRecord, SeawallInfo};
use seawall_evidence::{Action, Direction, EveError, EveWriter};
use seawall_flow::Timestamp;
use seawall_rules::{CheckOptions, Classifications};
use seawall_wire::Transport;
use serde::Serialize;

/// Arguments of `seawall replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Rule file or directory of `*.rules` (repeat the option for more).
    #[arg(long = "rules", value_name = "PATH", required = true)]
    pub rules: Vec<PathBuf>,
    /// Output directory for eve.json and replay-stats.json.
    #[arg(
        short = 'l',
        long = "log-dir",
        value_name = "OUTDIR",
        default_value = "."
    )]
    pub outdir: PathBuf,
    /// A suricata.yaml-style file whose `vars:` define address and port groups.
    #[arg(long, value_name = "FILE")]
    pub vars: Option<PathBuf>,
    /// A classification.config (classtype priorities and EVE categories); default: Suricata's.
    #[arg(long, value_name = "FILE")]
    pub classification: Option<PathBuf>,
    /// A threshold.config (`threshold`, `event_filter`, `suppress`, `rate_filter` lines, as
    /// Suricata's `threshold-file`); lines that don't parse are reported and skipped.
    #[arg(long = "threshold-file", value_name = "FILE")]
    pub threshold_file: Option<PathBuf>,
    /// Inspection threads (flow affinity). 1 keeps eve.json in packet order.
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Pick up TCP sessions seen without their handshake (Suricata's `stream.midstream`).
    #[arg(long)]
    pub midstream: bool,
    /// Track TCP sessions of which only one side is captured (Suricata's
    /// `stream.async-oneside`).
    #[arg(long)]
    pub async_oneside: bool,
    /// Add the inspected payload (base64) to each EVE record.
    #[arg(long)]
    pub eve_payload: bool,
    /// Add the whole packet (base64) to each EVE record.
    #[arg(long)]
    pub eve_packet: bool,
    /// Never show a progress bar.
    #[arg(long)]
    pub no_progress: bool,
    /// Captures (pcap or pcapng), replayed in order; packet numbers continue across files.
    #[arg(required = true, value_name = "PCAP")]
    pub pcaps: Vec<PathBuf>,
}

/// What a replay did (`replay-stats.json`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReplayStats {
    /// Captures read.
    pub pcaps: Vec<String>,
    /// Inspection threads.
    pub workers: usize,
    /// Frames read.
    pub packets: u64,
    /// Frame bytes.
    pub bytes: u64,
    /// Flows created.
    pub flows: u64,
    /// Alerts written.
    pub alerts: u64,
    /// Frames without an inspectable packet, by reason.
    pub decode_errors: BTreeMap<String, u64>,
    /// Fragments seen / packets rebuilt.
    pub fragments: u64,
    /// Packets rebuilt from fragments.
    pub reassembled: u64,
    /// Fragments the defragmenter dropped, by reason.
    pub defrag_drops: BTreeMap<String, u64>,
    /// Packets given to the engine (frames, tunnel packets, rebuilt and flow-end packets).
    pub inspected: u64,
    /// Packets decapsulated from tunnels (and inspected as packets of their own), by
    /// encapsulation.
    pub tunnels: BTreeMap<String, u64>,
    /// Tunnels not opened (malformed or unsupported, or an inner packet Suricata discards) or
    /// carrying nothing inspectable, by reason.
    pub tunnel_errors: BTreeMap<String, u64>,
    /// Packets inspected without a flow, by reason.
    pub untracked: BTreeMap<String, u64>,
    /// Rules read from the files.
    pub rules_read: usize,
    /// Rules the parser refused, by reason.
    pub rules_parse_skipped: BTreeMap<String, usize>,
    /// Rules the engine loaded.
    pub rules_loaded: usize,
    /// Rules the engine skipped, by reason.
    pub rules_engine_skipped: BTreeMap<String, usize>,
    /// Seconds to read, parse and compile the rules.
    pub rule_load_seconds: f64,
    /// Seconds from the first frame to the last alert written.
    pub inspect_seconds: f64,
    /// Frames per second of inspection time.
    pub pps: f64,
    /// Megabits (frame bytes) per second of inspection time.
    pub mbps: f64,
}

/// EVE options and lookups shared by the writers.
struct EveCtx {
    payload: bool,
    packet: bool,
    classes: Classifications,
}

fn eve_direction(d: seawall_flow::Direction) -> Direction {
    match d {
        seawall_flow::Direction::ToServer => Direction::ToServer,
        seawall_flow::Direction::ToClient => Direction::ToClient,
    }
}

/// Writes one EVE record per alert of `ev` (no allocation: every field is borrowed);
/// `frame_cnt` is the capture number of the frame being processed (0 at the end of the input).
fn write_event<W: Write>(
    eve: &mut EveWriter<W>,
    ev: &AlertEvent<'_>,
    ctx: &EveCtx,
    frame_cnt: u64,
) -> Result<(), EveError> {
    let pkt = ev.pkt;
    let t = pkt.five_tuple();
    let (sport, dport, icmp) = if pkt.fragment.is_some() {
        (0, 0, None)
    } else {
        match pkt.transport {
            Transport::Icmp { ty, code, .. } => (0, 0, Some((ty, code))),
            _ => (t.src_port, t.dst_port, None),
        }
    };
    let packet = match (ctx.packet, ev.origin) {
        (false, _) => None,
        (true, Origin::Capture { linktype, frame }) if !ev.reassembled => Some((frame, linktype)),
        // Tunnel packets as Suricata sets them up (from the IP header, or the Ethernet header of
        // an Ethernet-carrying tunnel), with its DLT_RAW (12 on Linux).
        (true, Origin::Tunnel { packet }) if !ev.reassembled => Some((packet, 12)),
        // Rebuilt and GWLB packets are raw IP (LINKTYPE_RAW).
        (true, _) => Some((ev.l3, 101)),
    };
    let payload = if ctx.payload && pkt.fragment.is_none() {
        Some(pkt.transport.payload())
    } else {
        None
    };
    let (pkt_src, tunnel) = seawall_dataplane::eve_source::of(ev, frame_cnt);
    let seawall = ev.gwlb.map(|g| SeawallInfo {
        appliance: None,
        gwlb: Some(g),
    });
    for a in ev.alerts {
        let category = match a.classtype.as_deref() {
            Some(c) => ctx.classes.get(c).map_or(c, |ct| ct.description.as_str()),
            None => "",
        };
        let blocked = !matches!(ev.verdict, Verdict::Pass)
            && !matches!(
                a.action,
                seawall_rules::ast::Action::Alert | seawall_rules::ast::Action::Pass
            );
        let rec = AlertRecord {
            timestamp_us: ev.ts.as_micros(),
            flow_id: ev.flow.map(|f| f.flow_id),
            pcap_cnt: ev.pcap_cnt,
            src_ip: pkt.src,
            src_port: sport,
            dest_ip: pkt.dst,
            dest_port: dport,
            proto: pkt.ip_proto,
            icmp,
            pkt_src: Some(pkt_src.as_str()),
            // The transaction of the app-layer object (Suricata's PACKET_ALERT_FLAG_TX).
            tx_id: ev.app_meta.as_ref().and(ev.app_tx),
            tx_guessed: false,
            alert: AlertInfo {
                action: if blocked {
                    Action::Blocked
                } else {
                    Action::Allowed
                },
                gid: a.gid,
                signature_id: a.sid,
                rev: a.rev,
                signature: &a.msg,
                category,
                severity: a.priority,
            },
            tunnel,
            // The app-layer object (`http`, `tls`, `dns`) Suricata adds to the alert, in its
            // place and key order.
            app_layer: ev.app_meta.as_ref().map(|(k, v)| (*k, v)),
            app_proto: ev.app_proto,
            direction: ev.flow.map(|f| eve_direction(f.direction)),
            payload,
            // Written with the payload only; 1 for a transaction (or stream) match on TCP.
            stream: ctx
                .payload
                .then_some(u8::from(pkt.ip_proto == 6 && ev.app_meta.is_some())),
            packet,
            seawall,
        };
        eve.write(&rec)?;
    }
    Ok(())
}

/// A `Read` that counts the bytes read (for the progress bar).
struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// What [`for_each_frame`] calls per frame: `(timestamp, link type, frame bytes)`.
type FrameFn<'a> = dyn FnMut(Timestamp, u32, &[u8]) -> anyhow::Result<()> + 'a;

/// Calls `f(ts, linktype, frame)` for every frame of a pcap or pcapng file.
fn for_each_frame(path: &Path, read: Arc<AtomicU64>, f: &mut FrameFn<'_>) -> anyhow::Result<()> {
    let mut file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut magic = [0u8; 4];
    file.read_exact(&mut magic)
        .with_context(|| format!("{}: not a capture (too short)", path.display()))?;
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    // No BufReader: both readers below read into their own buffer, in big reads.
    let input = Counting { inner: file, read };
    if magic == [0x0a, 0x0d, 0x0d, 0x0a] {
        let mut r = PcapNgReader::new(input)
            .with_context(|| format!("{}: bad pcapng header", path.display()))?;
        // (link type, if_tsresol) of each interface, in declaration order.
        let mut ifaces: Vec<(u32, u8)> = Vec::new();
        while let Some(block) = r.next_block() {
            let block = block.with_context(|| format!("{}: bad pcapng block", path.display()))?;
            match block {
                Block::SectionHeader(_) => ifaces.clear(),
                Block::InterfaceDescription(idb) => {
                    let resol = idb.options.iter().find_map(|o| match o {
                        InterfaceDescriptionOption::IfTsResol(v) => Some(*v),
                        _ => None,
                    });
                    ifaces.push((u32::from(idb.linktype), resol.unwrap_or(6)));
                }
                Block::EnhancedPacket(epb) => {
                    let Some(&(linktype, resol)) = ifaces.get(epb.interface_id as usize) else {
                        bail!(
                            "{}: packet on undeclared interface {}",
                            path.display(),
                            epb.interface_id
                        );
                    };
                    let ts = ng_micros(epb.timestamp.as_nanos(), resol);
                    f(Timestamp(ts), linktype, &epb.data)?;
                }
                Block::SimplePacket(spb) => {
                    let Some(&(linktype, _)) = ifaces.first() else {
                        bail!("{}: no interface block", path.display());
                    };
                    f(Timestamp(0), linktype, &spb.data)?;
                }
                _ => {}
            }
        }
    } else {
        for_each_pcap_record(path, input, f)?;
    }
    Ok(())
}

/// The first size of [`for_each_pcap_record`]'s buffer: small enough to stay in the CPU cache
/// between the read that fills it and the inspection of its frames (pcap-file's `PcapReader`
/// reads into 8 MB, cold by the time a frame is parsed: its read copies were 5 % of replay's
/// inspection on bench-mixed.pcap).
const PCAP_BUF: usize = 256 << 10;
/// The largest record the buffer grows to hold (`PcapReader`'s bound).
const PCAP_BUF_MAX: usize = 8_000_000;

/// Calls `f(ts, linktype, frame)` for every record of a classic pcap file read from `input`, as
/// pcap-file's `PcapReader` does (same parser, same errors) with a cache-sized buffer.
fn for_each_pcap_record(
    path: &Path,
    mut input: impl Read,
    f: &mut FrameFn<'_>,
) -> anyhow::Result<()> {
    let mut buf = vec![0u8; PCAP_BUF];
    let (mut pos, mut len) = (0usize, 0usize);
    // Reads more after `buf[pos..len]` (moved to the front; the buffer doubled when already
    // full, up to PCAP_BUF_MAX); 0 at the end of the input.
    let mut refill =
        |buf: &mut Vec<u8>, pos: &mut usize, len: &mut usize| -> std::io::Result<usize> {
            buf.copy_within(*pos..*len, 0);
            *len -= *pos;
            *pos = 0;
            if *len == buf.len() {
                if buf.len() >= PCAP_BUF_MAX {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                buf.resize((buf.len() * 2).min(PCAP_BUF_MAX), 0);
            }
            let n = input.read(buf.get_mut(*len..).unwrap_or_default())?;
            *len += n;
            Ok(n)
        };
    let not_pcap = || format!("{}: not a pcap or pcapng file", path.display());
    let parser = loop {
        match PcapParser::new(buf.get(..len).unwrap_or_default()) {
            Ok((rest, parser)) => {
                pos = len - rest.len();
                break parser;
            }
            Err(PcapError::IncompleteBuffer) => {
                if refill(&mut buf, &mut pos, &mut len).with_context(not_pcap)? == 0 {
                    return Err(PcapError::IoError(std::io::ErrorKind::UnexpectedEof.into()))
                        .with_context(not_pcap);
                }
            }
            Err(e) => return Err(e).with_context(not_pcap),
        }
    };
    let linktype = u32::from(parser.header().datalink);
    let bad = || format!("{}: bad pcap record", path.display());
    loop {
        match parser.next_packet(buf.get(pos..len).unwrap_or_default()) {
            Ok((rest, p)) => {
                let next = len - rest.len();
                let ts = u64::try_from(p.timestamp.as_micros()).unwrap_or(u64::MAX);
                f(Timestamp(ts), linktype, &p.data)?;
                pos = next;
            }
            Err(PcapError::IncompleteBuffer) => {
                let at_end = pos == len;
                if refill(&mut buf, &mut pos, &mut len).with_context(bad)? == 0 {
                    if at_end {
                        return Ok(());
                    }
                    return Err(PcapError::IoError(std::io::ErrorKind::UnexpectedEof.into()))
                        .with_context(bad);
                }
            }
            Err(e) => return Err(e).with_context(bad),
        }
    }
}

/// A pcapng raw timestamp (in `if_tsresol` units; pcap-file hands it over as "nanoseconds") in
/// microseconds.
fn ng_micros(raw: u128, resol: u8) -> u64 {
    let v = u32::from(resol & 0x7f);
    let us = if resol & 0x80 == 0 {
        if v >= 6 {
            raw / 10u128.pow((v - 6).min(30))
        } else {
            raw * 10u128.pow(6 - v)
        }
    } else {
        // Negative power of two.
        (raw * 1_000_000) >> v.min(127)
    };
    u64::try_from(us).unwrap_or(u64::MAX)
}

/// The worker of a frame: a symmetric hash of (endpoint/VLAN, address pair, protocol).
fn worker_of(linktype: u32, frame: &[u8], n: usize) -> usize {
    let Ok(f) = seawall_flow::decode_frame(linktype, frame) else {
        return 0;
    };
    let Ok(p) = seawall_wire::decode_inner(f.protocol, f.l3) else {
        return 0;
    };
    let (a, b): (IpAddr, IpAddr) = if p.src <= p.dst {
        (p.src, p.dst)
    } else {
        (p.dst, p.src)
    };
    let mut h = DefaultHasher::new();
    f.gwlb.map(|m| m.endpoint.0).hash(&mut h);
    f.vlan.hash(&mut h);
    a.hash(&mut h);
    b.hash(&mut h);
    p.ip_proto.hash(&mut h);
    (h.finish() % n as u64) as usize
}

struct FrameMeta {
    ts: Timestamp,
    pcap_cnt: u64,
    linktype: u32,
    start: usize,
    end: usize,
}

#[derive(Default)]
struct Batch {
    data: Vec<u8>,
    frames: Vec<FrameMeta>,
}

const BATCH_FRAMES: usize = 256;
const EVE_CHUNK: usize = 256 << 10;

fn progress_bar(total: u64, enabled: bool) -> Option<indicatif::ProgressBar> {
    if !enabled || !std::io::stderr().is_terminal() || total < (32 << 20) {
        return None;
    }
    let pb = indicatif::ProgressBar::new(total);
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Some(pb)
}

/// Runs `seawall replay`.
pub fn run(args: &ReplayArgs) -> anyhow::Result<ExitCode> {
    if args.workers == 0 {
        bail!("--workers must be at least 1");
    }
    // ---- rules ----
    let t_load = Instant::now();
    let opts = CheckOptions {
        allow_unsupported: true,
        vars_file: args.vars.clone(),
        classification_file: args.classification.clone(),
    };
    let mut report = seawall_rules::check_paths(&args.rules, &opts);
    if report.config_errors > 0 {
        for d in report.diagnostics.iter().take(report.config_errors) {
            eprintln!("{d}");
        }
        bail!(
            "cannot load the rules ({} input problem(s))",
            report.config_errors
        );
    }
    if let Some(path) = &args.threshold_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the threshold file {}", path.display()))?;
        let cfg = seawall_rules::threshold_config::ThresholdConfig::parse(&text);
        for e in &cfg.errors {
            eprintln!("{}: {e}", path.display());
        }
        for w in cfg.apply(&mut report.loaded) {
            eprintln!("{}: {w}", path.display());
        }
        println!(
            "threshold-file: {} entr{} applied, {} line(s) skipped",
            cfg.entries.len(),
            if cfg.entries.len() == 1 { "y" } else { "ies" },
            cfg.errors.len()
        );
    }
    let mut diags = Vec::new();
    let loader = seawall_rules::check::loader_for(&opts, &mut diags);
    let eopts = EngineOptions {
        classifications: loader.classifications().clone(),
        ..EngineOptions::default()
    };
    let (engine, compiled) = Engine::compile(&report.loaded, loader.vars(), &eopts);
    let rule_load = t_load.elapsed();
    let engine = Arc::new(engine);

    let mut stats = ReplayStats {
        pcaps: args.pcaps.iter().map(|p| p.display().to_string()).collect(),
        workers: args.workers,
        rules_read: report.read,
        rules_parse_skipped: report
            .skipped_by_reason
            .iter()
            .map(|(k, v)| ((*k).to_string(), *v))
            .collect(),
        rules_loaded: compiled.loaded,
        rules_engine_skipped: compiled.by_reason.iter().cloned().collect(),
        rule_load_seconds: rule_load.as_secs_f64(),
        ..ReplayStats::default()
    };
    println!(
        "rules: {} file(s), {} rule(s) read, {} parsed, {} refused by the parser{}",
        report.files,
        report.read,
        report.loaded.len(),
        report.skipped(),
        summary(&stats.rules_parse_skipped)
    );
    println!(
        "engine: {} rule(s) loaded, {} skipped{} ({} groups, {} ip-only, {} prefiltered) in {:.3} s",
        compiled.loaded,
        compiled.skipped.len(),
        summary(&stats.rules_engine_skipped),
        compiled.groups,
        compiled.ip_only,
        compiled.prefiltered,
        rule_load.as_secs_f64()
    );

    // ---- output ----
    std::fs::create_dir_all(&args.outdir)
        .with_context(|| format!("cannot create {}", args.outdir.display()))?;
    let eve_path = args.outdir.join("eve.json");
    let ectx = Arc::new(EveCtx {
        payload: args.eve_payload,
        packet: args.eve_packet,
        classes: loader.classifications().clone(),
    });
    let mut cfg = InspectConfig::replay(args.midstream);
    cfg.flow.async_oneside = args.async_oneside;
    let total_bytes: u64 = args
        .pcaps
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    let pb = progress_bar(total_bytes, !args.no_progress);
    let read = Arc::new(AtomicU64::new(0));

    // ---- inspection ----
    let t_inspect = Instant::now();
    let counters = if args.workers == 1 {
        run_single(args, &engine, &cfg, &ectx, &eve_path, &read, pb.as_ref())?
    } else {
        run_multi(args, &engine, &cfg, &ectx, &eve_path, &read, pb.as_ref())?
    };
    let inspect = t_inspect.elapsed();
    if let Some(pb) = &pb {
        pb.finish_and_clear();
    }
    fill_stats(&mut stats, &counters, inspect);
    println!(
        "replay: {} packet(s), {} byte(s), {} flow(s), {} alert(s), {} decode error(s){}",
        stats.packets,
        stats.bytes,
        stats.flows,
        stats.alerts,
        counters.decode_error_total(),
        summary(&stats.decode_errors)
    );
    if !stats.tunnels.is_empty() || !stats.tunnel_errors.is_empty() || stats.fragments > 0 {
        println!(
            "decode: {} tunnel packet(s){}, {} tunnel error(s){}, {} fragment(s), {} rebuilt, {} defrag drop(s){}",
            stats.tunnels.values().sum::<u64>(),
            summary(&stats.tunnels),
            stats.tunnel_errors.values().sum::<u64>(),
            summary(&stats.tunnel_errors),
            stats.fragments,
            stats.reassembled,
            stats.defrag_drops.values().sum::<u64>(),
            summary(&stats.defrag_drops)
        );
    }
    println!(
        "time: rules {:.3} s, inspection {:.3} s with {} worker(s): {:.0} pps, {:.1} Mbps",
        stats.rule_load_seconds, stats.inspect_seconds, stats.workers, stats.pps, stats.mbps
    );
    println!("eve: {}", eve_path.display());
    let json = serde_json::to_string_pretty(&stats).context("cannot encode the stats")?;
    std::fs::write(args.outdir.join("replay-stats.json"), json + "\n")
        .context("cannot write replay-stats.json")?;
    Ok(ExitCode::SUCCESS)
}

fn summary<K: std::fmt::Display, V: std::fmt::Display + Ord + Copy>(m: &BTreeMap<K, V>) -> String {
    if m.is_empty() {
        return String::new();
    }
    let mut v: Vec<(&K, &V)> = m.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1));
    let shown: Vec<String> = v.iter().take(8).map(|(k, n)| format!("{k}: {n}")).collect();
    let more = if v.len() > 8 {
        format!(", {} more reason(s)", v.len() - 8)
    } else {
        String::new()
    };
    format!(" ({}{more})", shown.join(", "))
}

fn fill_stats(stats: &mut ReplayStats, c: &InspectCounters, inspect: Duration) {
    stats.packets = c.packets;
    stats.bytes = c.bytes;
    stats.flows = c.flows;
    stats.alerts = c.alerts;
    stats.fragments = c.fragments;
    stats.reassembled = c.reassembled;
    let owned = |m: &BTreeMap<&'static str, u64>| -> BTreeMap<String, u64> {
        m.iter().map(|(k, v)| ((*k).to_string(), *v)).collect()
    };
    stats.decode_errors = owned(&c.decode_errors);
    stats.defrag_drops = owned(&c.defrag_drops);
    stats.inspected = c.inspected;
    stats.tunnels = owned(&c.tunnels);
    stats.tunnel_errors = owned(&c.tunnel_errors);
    stats.untracked = owned(&c.untracked);
    let secs = inspect.as_secs_f64().max(1e-9);
    stats.inspect_seconds = inspect.as_secs_f64();
    stats.pps = c.packets as f64 / secs;
    stats.mbps = c.bytes as f64 * 8.0 / secs / 1e6;
}

fn run_single(
    args: &ReplayArgs,
    engine: &Arc<Engine>,
    cfg: &InspectConfig,
    ectx: &EveCtx,
    eve_path: &Path,
    read: &Arc<AtomicU64>,
    pb: Option<&indicatif::ProgressBar>,
) -> anyhow::Result<InspectCounters> {
    let mut insp = Inspector::new(engine.clone(), cfg).context("cannot build the inspector")?;
    let mut eve = EveWriter::create(eve_path)
        .with_context(|| format!("cannot create {}", eve_path.display()))?;
    let mut pcap_cnt = 0u64;
    let mut failed: Option<EveError> = None;
    let mut last_ts = Timestamp(0);
    for pcap in &args.pcaps {
        for_each_frame(pcap, read.clone(), &mut |ts, linktype, frame| {
            pcap_cnt += 1;
            last_ts = last_ts.max(ts);
            insp.process_frame(ts, pcap_cnt, linktype, frame, &mut |ev| {
                if failed.is_none() {
                    if let Err(e) = write_event(&mut eve, ev, ectx, pcap_cnt) {
                        failed = Some(e);
                    }
                }
            });
            if let Some(e) = failed.take() {
                return Err(e).context("cannot write eve.json");
            }
            if pcap_cnt % 4096 == 0 {
                if let Some(pb) = pb {
                    pb.set_position(read.load(Ordering::Relaxed));
                }
            }
            Ok(())
        })?;
    }
    // End of the captures: flows end, what they still hold is inspected (Suricata's flow
    // timeout at shutdown).
    insp.finish(last_ts, &mut |ev| {
        if failed.is_none() {
            if let Err(e) = write_event(&mut eve, ev, ectx, 0) {
                failed = Some(e);
            }
        }
    });
    if let Some(e) = failed.take() {
        return Err(e).context("cannot write eve.json");
    }
    eve.flush().context("cannot write eve.json")?;
    Ok(insp.counters())
}

fn run_multi(
    args: &ReplayArgs,
    engine: &Arc<Engine>,
    cfg: &InspectConfig,
    ectx: &Arc<EveCtx>,
    eve_path: &Path,
    read: &Arc<AtomicU64>,
    pb: Option<&indicatif::ProgressBar>,
) -> anyhow::Result<InspectCounters> {
    let n = args.workers;
    let out =
        Arc::new(Mutex::new(File::create(eve_path).with_context(|| {
            format!("cannot create {}", eve_path.display())
        })?));
    let (free_tx, free_rx) = crossbeam_channel::unbounded::<Batch>();
    for _ in 0..n * 8 {
        free_tx
            .send(Batch::default())
            .context("batch pool channel closed")?;
    }
    let mut txs = Vec::with_capacity(n);
    let mut handles = Vec::with_capacity(n);
    for w in 0..n {
        let (tx, rx) = crossbeam_channel::bounded::<Batch>(4);
        txs.push(tx);
        let mut insp = Inspector::new(engine.clone(), cfg).context("cannot build the inspector")?;
        let free_tx = free_tx.clone();
        let out = out.clone();
        let ectx = ectx.clone();
        let h = std::thread::Builder::new()
            .name(format!("replay-{w}"))
            .spawn(move || -> Result<InspectCounters, EveError> {
                let mut eve = EveWriter::new(Vec::with_capacity(EVE_CHUNK * 2));
                let mut failed: Option<EveError> = None;
                let mut last_ts = Timestamp(0);
                for mut batch in rx {
                    for m in &batch.frames {
                        last_ts = last_ts.max(m.ts);
                        let frame = &batch.data[m.start..m.end];
                        insp.process_frame(m.ts, m.pcap_cnt, m.linktype, frame, &mut |ev| {
                            if failed.is_none() {
                                if let Err(e) = write_event(&mut eve, ev, &ectx, m.pcap_cnt) {
                                    failed = Some(e);
                                }
                            }
                        });
                    }
                    if let Some(e) = failed.take() {
                        return Err(e);
                    }
                    if eve.get_mut().len() >= EVE_CHUNK {
                        drain(&out, eve.get_mut())?;
                    }
                    batch.data.clear();
                    batch.frames.clear();
                    // The reader may be gone already; the batch is then simply dropped.
                    let _ = free_tx.send(batch);
                }
                insp.finish(last_ts, &mut |ev| {
                    if failed.is_none() {
                        if let Err(e) = write_event(&mut eve, ev, &ectx, 0) {
                            failed = Some(e);
                        }
                    }
                });
                if let Some(e) = failed.take() {
                    return Err(e);
                }
                drain(&out, eve.get_mut())?;
                Ok(insp.counters())
            })
            .context("cannot start a worker thread")?;
        handles.push(h);
    }
    drop(free_tx);
    let mut pending: Vec<Option<Batch>> = (0..n).map(|_| None).collect();
    let mut pcap_cnt = 0u64;
    let send = |w: usize, b: Batch, txs: &[crossbeam_channel::Sender<Batch>]| {
        txs[w]
            .send(b)
            .map_err(|_| anyhow::anyhow!("worker {w} stopped early"))
    };
    let mut reader_result = Ok(());
    for pcap in &args.pcaps {
        reader_result = for_each_frame(pcap, read.clone(), &mut |ts, linktype, frame| {
            pcap_cnt += 1;
            let w = worker_of(linktype, frame, n);
            let b = match &mut pending[w] {
                Some(b) => b,
                slot => slot.insert(free_rx.recv().unwrap_or_default()),
            };
            let start = b.data.len();
            b.data.extend_from_slice(frame);
            b.frames.push(FrameMeta {
                ts,
                pcap_cnt,
                linktype,
                start,
                end: b.data.len(),
            });
            if b.frames.len() >= BATCH_FRAMES {
                if let Some(b) = pending[w].take() {
                    send(w, b, &txs)?;
                }
            }
            if pcap_cnt % 4096 == 0 {
                if let Some(pb) = pb {
                    pb.set_position(read.load(Ordering::Relaxed));
                }
            }
            Ok(())
        });
        if reader_result.is_err() {
            break;
        }
    }
    for (w, slot) in pending.iter_mut().enumerate() {
        if let Some(b) = slot.take() {
            // A worker that stopped reports its own error below.
            let _ = send(w, b, &txs);
        }
    }
    drop(txs);
    let mut total = InspectCounters::default();
    for h in handles {
        let c = h
            .join()
            .map_err(|_| anyhow::anyhow!("a worker thread panicked"))?
            .context("cannot write eve.json")?;
        total.merge(&c);
    }
    reader_result?;
    Ok(total)
}

fn drain(out: &Mutex<File>, buf: &mut Vec<u8>) -> Result<(), EveError> {
    if buf.is_empty() {
        return Ok(());
    }
    let mut f = out
        .lock()
        .map_err(|_| EveError::Io(std::io::Error::other("eve.json writer poisoned")))?;
    f.write_all(buf)?;
    buf.clear();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcapng_timestamp_units() {
        assert_eq!(ng_micros(1_500_000, 6), 1_500_000);
        assert_eq!(ng_micros(1_500_000_000, 9), 1_500_000);
        assert_eq!(ng_micros(15, 1), 1_500_000);
        // 2^-10 s units: 1024 units = 1 s.
        assert_eq!(ng_micros(1024, 0x80 | 10), 1_000_000);
    }

    /// A reader handing out at most 1000 bytes a call (records straddle reads).
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.0.len()).min(1000);
            let (head, rest) = self.0.split_at(n);
            buf.get_mut(..n).unwrap_or_default().copy_from_slice(head);
            self.0 = rest;
            Ok(n)
        }
    }

    fn pcap_of(records: &[Vec<u8>]) -> Vec<u8> {
        let mut v = Vec::new();
        for w in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 0x0010_0000, 1] {
            v.extend_from_slice(&w.to_le_bytes());
        }
        for (i, r) in records.iter().enumerate() {
            let len = r.len() as u32;
            for w in [i as u32, 7, len, len] {
                v.extend_from_slice(&w.to_le_bytes());
            }
            v.extend_from_slice(r);
        }
        v
    }

    /// Every record as written, across reads and past the first buffer size (the buffer grows);
    /// a truncated last record is an error, as with pcap-file's `PcapReader`.
    #[test]
    fn pcap_records_across_reads_and_buffer_growth() {
        let records: Vec<Vec<u8>> = (0..40usize)
            .map(|i| {
                vec![
                    i as u8;
                    if i == 20 {
                        PCAP_BUF + 12_345
                    } else {
                        60 + i * 977
                    }
                ]
            })
            .collect();
        let file = pcap_of(&records);
        let mut got: Vec<(u64, u32, Vec<u8>)> = Vec::new();
        for_each_pcap_record(Path::new("t"), Trickle(&file), &mut |ts, lt, frame| {
            got.push((ts.0, lt, frame.to_vec()));
            Ok(())
        })
        .expect("whole file");
        assert_eq!(got.len(), records.len());
        for (i, (ts, lt, frame)) in got.iter().enumerate() {
            assert_eq!((*ts, *lt), (i as u64 * 1_000_000 + 7, 1));
            assert_eq!(frame, &records[i]);
        }
        let mut n = 0;
        let cut = file.get(..file.len() - 5).unwrap_or_default();
        let r = for_each_pcap_record(Path::new("t"), Trickle(cut), &mut |_, _, _| {
            n += 1;
            Ok(())
        });
        assert!(r.is_err());
        assert_eq!(n, records.len() - 1);
        assert!(
            for_each_pcap_record(Path::new("t"), Trickle(&file[..10]), &mut |_, _, _| Ok(()))
                .is_err()
        );
    }

    /// Seawall's EVE lines for tunnel packets against Suricata 7.0.10's (committed in the
    /// evidence crate's test data, same rules and capture): byte-identical but for `flow_id`
    /// (Seawall's own), `packet` included (from the Ethernet header where the tunnel carries
    /// Ethernet: GRE TEB, GENEVE).
    #[test]
    fn tunnel_alerts_match_suricata_lines() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            replay: ReplayArgs,
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let data = root.join("crates/evidence/test_data");
        let want = std::fs::read_to_string(data.join("suricata-7.0.10-eve-tunnel-alerts.json"))
            .expect("suricata lines");
        // The line without its `"flow_id":N,` (bytes, so field order still counts).
        let mask_flow = |l: &str| -> String {
            let key = "\"flow_id\":";
            let Some(at) = l.find(key) else {
                return l.to_string();
            };
            let rest = &l[at + key.len()..];
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            format!("{}{}", &l[..at], rest[digits..].trim_start_matches(','))
        };
        for workers in ["1", "2"] {
            let out = std::env::temp_dir().join(format!(
                "seawall-replay-tunnel-{}-{workers}",
                std::process::id()
            ));
            let cli = Cli::try_parse_from([
                "replay".as_ref(),
                "--rules".as_ref(),
                data.join("suricata-tunnel.rules").as_os_str(),
                "--eve-payload".as_ref(),
                "--eve-packet".as_ref(),
                "--no-progress".as_ref(),
                "--workers".as_ref(),
                workers.as_ref(),
                "-l".as_ref(),
                out.as_os_str(),
                root.join("tests/data/tunnels/input.pcap").as_os_str(),
            ])
            .expect("args");
            std::fs::create_dir_all(&out).expect("outdir");
            run(&cli.replay).expect("replay");
            let got = std::fs::read_to_string(out.join("eve.json")).expect("eve.json");
            let stats: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(out.join("replay-stats.json")).expect("stats"),
            )
            .expect("stats json");
            let _ = std::fs::remove_dir_all(&out);
            // The decode counters (summed over the workers).
            assert_eq!(
                stats["tunnels"],
                serde_json::json!({"geneve": 2, "gre": 4, "ipv6_in_ipv4": 1, "vxlan": 1})
            );
            assert_eq!(
                stats["tunnel_errors"],
                serde_json::json!({"gre_unknown_protocol": 1})
            );
            let mut got: Vec<&str> = got.lines().collect();
            // Workers write in their own order; the lines start with their (distinct)
            // timestamps, Suricata's are in packet order.
            got.sort_unstable();
            let want: Vec<&str> = want.lines().take(7).collect();
            assert_eq!(got.len(), want.len(), "{got:#?}");
            // VXLAN, 6in4, GRE, GRE TEB, GENEVE with Ethernet, GRE in GRE (depth 2): the whole
            // line.
            for (g, w) in got.iter().zip(&want) {
                assert!(g.contains("\"tunnel\":{"), "{g}");
                assert_eq!(mask_flow(g), mask_flow(w), "workers {workers}");
            }
        }
        // A packet rebuilt from fragments: `pkt_src` `defrag` and a `tunnel` object at depth 0
        // whose root is the completing fragment (Suricata also writes `app_proto` `failed` and
        // the rebuilt packet behind the first fragment's Ethernet header).
        let out =
            std::env::temp_dir().join(format!("seawall-replay-defrag-{}", std::process::id()));
        let cli = Cli::try_parse_from([
            "replay".as_ref(),
            "--rules".as_ref(),
            root.join("tests/data/ipv4-frag/test.rules").as_os_str(),
            "--no-progress".as_ref(),
            "-l".as_ref(),
            out.as_os_str(),
            root.join("tests/data/ipv4-frag/input.pcap").as_os_str(),
        ])
        .expect("args");
        std::fs::create_dir_all(&out).expect("outdir");
        run(&cli.replay).expect("replay");
        let got = std::fs::read_to_string(out.join("eve.json")).expect("eve.json");
        let _ = std::fs::remove_dir_all(&out);
        let got: Vec<&str> = got.lines().filter(|l| l.contains("\"defrag\"")).collect();
        let w = want.lines().nth(7).expect("defrag line");
        let cut = |l: &str| -> String {
            let l = mask_flow(l);
            let end = l
                .find(",\"app_proto\"")
                .or_else(|| l.find(",\"direction\""))
                .expect("direction");
            l[..end].to_string()
        };
        assert_eq!(got.len(), 1, "{got:#?}");
        assert_eq!(cut(got[0]), cut(w));
    }

    #[test]
    fn worker_hash_is_symmetric() {
        let mut a = vec![0u8; 12];
        a.extend_from_slice(&[0x08, 0x00]);
        let mut b = a.clone();
        etherparse::PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(1000, 80, 1, 1000)
            .write(&mut a, b"x")
            .expect("build");
        etherparse::PacketBuilder::ipv4([10, 0, 0, 2], [10, 0, 0, 1], 64)
            .tcp(80, 1000, 1, 1000)
            .write(&mut b, b"y")
            .expect("build");
        for n in [2, 3, 7] {
            assert_eq!(worker_of(1, &a, n), worker_of(1, &b, n));
        }
    }
}
