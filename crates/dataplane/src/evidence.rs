//! Alerts leave the workers through a bounded queue to one evidence thread that writes EVE JSON.
//!
//! A worker turns each alert into an [`AlertMsg`] (plain values and `Arc` clones: no allocation)
//! and `try_send`s it; when the queue is full the record is dropped and counted, never the packet
//! (DESIGN.md section 2). The thread ([`EvidenceWriter`]) writes `DIR/eve.json` (appending, one
//! record per line, Suricata's `alert` schema plus the `seawall` object: GWLB endpoint id,
//! attachment id, flow cookie and the profile name) and flushes whenever the queue runs empty, so
//! records are on disk within milliseconds of the alert.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use arc_swap::ArcSwap;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use seawall_evidence::eve::{AlertInfo, AlertRecord, SeawallInfo};
use seawall_evidence::{Action, Direction, EveWriter, PktSrc, TunnelRecord};
use seawall_telemetry::DetectMetrics;
use seawall_wire::GwlbMeta;
use serde::{Deserialize, Serialize};

use crate::policy::EngineSet;

/// `[evidence]` section of the config file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvidenceConfig {
    /// Directory of `eve.json` (created at start).
    pub dir: PathBuf,
    /// Alert records that may wait for the writer; more are dropped and counted.
    pub queue: usize,
}

impl Default for EvidenceConfig {
    fn default() -> Self {
        EvidenceConfig {
            dir: PathBuf::from("seawall-out"),
            queue: 65536,
        }
    }
}

impl EvidenceConfig {
    /// Checks values types cannot; the error names the key.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=1 << 24).contains(&self.queue) {
            return Err(format!(
                "evidence.queue: must be 1..=16777216, got {}",
                self.queue
            ));
        }
        if self.dir.as_os_str().is_empty() {
            return Err("evidence.dir: must not be empty".to_owned());
        }
        Ok(())
    }

    /// `DIR/eve.json`.
    pub fn eve_path(&self) -> PathBuf {
        self.dir.join("eve.json")
    }
}

/// One alert, owned, on its way to the evidence thread.
#[derive(Debug, Clone)]
pub struct AlertMsg {
    /// Packet time, microseconds since the Unix epoch.
    pub ts_us: u64,
    /// Flow id, when tracked.
    pub flow_id: Option<u64>,
    /// Source address.
    pub src: IpAddr,
    /// Source port (0 when none).
    pub sport: u16,
    /// Destination address.
    pub dst: IpAddr,
    /// Destination port.
    pub dport: u16,
    /// IP protocol.
    pub proto: u8,
    /// ICMP type and code.
    pub icmp: Option<(u8, u8)>,
    /// Flow direction.
    pub direction: Option<Direction>,
    /// `blocked` (an IPS drop/reject took effect) or `allowed`.
    pub blocked: bool,
    /// Generator id.
    pub gid: u32,
    /// Sid.
    pub sid: u32,
    /// Revision.
    pub rev: u32,
    /// Message.
    pub msg: Arc<str>,
    /// Classtype.
    pub classtype: Option<Arc<str>>,
    /// Priority.
    pub priority: u8,
    /// GWLB metadata of the packet.
    pub gwlb: GwlbMeta,
    /// Profile index.
    pub profile: u16,
    /// Where the packet came from (EVE `pkt_src`: `wire/pcap`, or the tunnel decoder's name for
    /// a packet decapsulated from a tunnel inside the GWLB traffic, `defrag`, ...).
    pub pkt_src: PktSrc,
    /// The tunnel the packet came out of (EVE `tunnel`), as `seawall replay` writes it.
    pub tunnel: Option<TunnelRecord>,
}

/// A bounded queue of alerts: what a worker holds.
pub fn alert_queue(capacity: usize) -> (Sender<AlertMsg>, Receiver<AlertMsg>) {
    crossbeam_channel::bounded(capacity.max(1))
}

/// The running evidence thread.
#[derive(Debug)]
pub struct EvidenceWriter {
    handle: JoinHandle<io::Result<()>>,
    path: PathBuf,
}

impl EvidenceWriter {
    /// Creates `cfg.dir` and starts the thread writing what `rx` receives to `DIR/eve.json`
    /// (appended). It ends when every sender is gone, after writing what was queued.
    pub fn start(
        cfg: &EvidenceConfig,
        rx: Receiver<AlertMsg>,
        engines: Arc<ArcSwap<EngineSet>>,
        names: Vec<Arc<str>>,
        metrics: DetectMetrics,
    ) -> io::Result<Self> {
        std::fs::create_dir_all(&cfg.dir)?;
        let path = cfg.eve_path();
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let handle = std::thread::Builder::new()
            .name("seawall-evidence".to_owned())
            .spawn(move || run(file, &rx, &engines, &names, &metrics))?;
        Ok(EvidenceWriter { handle, path })
    }

    /// The file written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Waits for the thread (drop every sender first).
    pub fn join(self) -> io::Result<()> {
        self.handle
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("evidence thread panicked")))
    }
}

fn run(
    file: File,
    rx: &Receiver<AlertMsg>,
    engines: &ArcSwap<EngineSet>,
    names: &[Arc<str>],
    metrics: &DetectMetrics,
) -> io::Result<()> {
    let mut out = BufWriter::with_capacity(256 << 10, file);
    let mut line = EveWriter::new(Vec::with_capacity(4096));
    loop {
        let first = match rx.recv_timeout(Duration::from_millis(500)) {
            Ok(m) => m,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let set = engines.load();
        let mut written = 0u64;
        let mut failed = 0u64;
        for m in std::iter::once(first).chain(rx.try_iter()) {
            match write_one(&mut out, &mut line, &m, &set, names) {
                Ok(()) => written += 1,
                Err(_) => failed += 1,
            }
        }
        if out.flush().is_err() {
            failed += written;
            written = 0;
        }
        metrics.evidence_written(written);
        if failed > 0 {
            metrics.evidence_write_errors(failed);
        }
    }
    out.flush()
}

/// Encodes one record (adding `"profile"` to the `seawall` object) and appends it to `out`.
fn write_one(
    out: &mut impl Write,
    line: &mut EveWriter<Vec<u8>>,
    m: &AlertMsg,
    set: &EngineSet,
    names: &[Arc<str>],
) -> io::Result<()> {
    let profile = usize::from(m.profile);
    let category = match (&m.classtype, set.profiles.get(profile)) {
        (Some(c), Some(p)) => p
            .classes
            .get(c)
            .map_or(c.as_ref(), |ct| ct.description.as_str()),
        (Some(c), None) => c.as_ref(),
        (None, _) => "",
    };
    line.get_mut().clear();
    line.write(&AlertRecord {
        timestamp_us: m.ts_us,
        flow_id: m.flow_id,
        pcap_cnt: 0,
        src_ip: m.src,
        src_port: m.sport,
        dest_ip: m.dst,
        dest_port: m.dport,
        proto: m.proto,
        icmp: m.icmp,
        pkt_src: Some(m.pkt_src.as_str()),
        tx_id: None,
        tx_guessed: false,
        alert: AlertInfo {
            action: if m.blocked {
                Action::Blocked
            } else {
                Action::Allowed
            },
            gid: m.gid,
            signature_id: m.sid,
            rev: m.rev,
            signature: &m.msg,
            category,
            severity: m.priority,
        },
        tunnel: m.tunnel,
        app_layer: None,
        app_proto: None,
        direction: m.direction,
        payload: None,
        // No payload logging: no `stream` (as Suricata).
        stream: None,
        packet: None,
        seawall: Some(SeawallInfo {
            appliance: None,
            gwlb: Some(m.gwlb),
        }),
    })
    .map_err(io::Error::other)?;
    // The record ends with the `seawall` object: `...}}\n`. Insert the profile name before the
    // object's closing brace (the evidence crate's `SeawallInfo` has no field for it yet).
    let buf = line.get_mut();
    if buf.ends_with(b"}}\n") {
        buf.truncate(buf.len() - 3);
        buf.extend_from_slice(b",\"profile\":");
        let name = names.get(profile).map_or("default", |n| n.as_ref());
        serde_json::to_writer(&mut *buf, name).map_err(io::Error::other)?;
        buf.extend_from_slice(b"}}\n");
    }
    out.write_all(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{DetectConfig, RuleManager};
    use seawall_telemetry::prometheus_client::registry::Registry;
    use seawall_wire::{AttachmentId, FlowCookie, GwlbEndpointId};

    #[test]
    fn records_carry_the_gwlb_ids_and_the_profile() {
        let dir = std::env::temp_dir().join(format!("seawall-evidence-{}", std::process::id()));
        let cfg = EvidenceConfig {
            dir: dir.clone(),
            queue: 4,
        };
        let specs = DetectConfig::default().profile_specs(&[]);
        let mgr = RuleManager::load(specs, 1).unwrap();
        let metrics = DetectMetrics::register(&mut Registry::default(), 1, &["default".into()]);
        let (tx, rx) = alert_queue(cfg.queue);
        let w = EvidenceWriter::start(
            &cfg,
            rx,
            mgr.engines().clone(),
            vec![Arc::from("zone \"a\"")],
            metrics,
        )
        .unwrap();
        let msg = AlertMsg {
            ts_us: 1_700_000_000_000_000,
            flow_id: Some(42),
            src: "10.0.0.1".parse().unwrap(),
            sport: 1234,
            dst: "10.0.0.2".parse().unwrap(),
            dport: 80,
            proto: 6,
            icmp: None,
            direction: Some(Direction::ToServer),
            blocked: true,
            gid: 1,
            sid: 9000001,
            rev: 1,
            msg: Arc::from("test"),
            classtype: Some(Arc::from("bad-unknown")),
            priority: 2,
            gwlb: GwlbMeta {
                endpoint: GwlbEndpointId(0xabc),
                attachment: AttachmentId(0xdef),
                cookie: FlowCookie(0x1234),
            },
            profile: 0,
            pkt_src: PktSrc::Wire,
            tunnel: None,
        };
        // The same alert on a packet out of a GRE tunnel inside the GWLB traffic.
        let tunnelled = AlertMsg {
            pkt_src: PktSrc::Gre,
            tunnel: Some(TunnelRecord {
                src_ip: "192.0.2.1".parse().unwrap(),
                src_port: 0,
                dest_ip: "192.0.2.2".parse().unwrap(),
                dest_port: 0,
                proto: 47,
                depth: 1,
                pcap_cnt: 0,
                pkt_src: PktSrc::Wire,
            }),
            ..msg.clone()
        };
        tx.send(msg).unwrap();
        tx.send(tunnelled).unwrap();
        drop(tx);
        let path = w.path().to_path_buf();
        w.join().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(v["pkt_src"], "wire/pcap");
        assert!(v.get("tunnel").is_none());
        // Suricata's `pkt_src` and `tunnel` (root tuple, depth, root source), after `alert`.
        let t: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(t["pkt_src"], "gre tunnel");
        assert!(lines[1].contains(
            "},\"tunnel\":{\"src_ip\":\"192.0.2.1\",\"src_port\":0,\"dest_ip\":\"192.0.2.2\",\"dest_port\":0,\"proto\":\"GRE\",\"depth\":1,\"pkt_src\":\"wire/pcap\"},"
        ), "{}", lines[1]);
        assert_eq!(v["alert"]["signature_id"], 9000001);
        assert_eq!(v["alert"]["action"], "blocked");
        assert_eq!(v["alert"]["category"], "Potentially Bad Traffic");
        assert_eq!(v["seawall"]["profile"], "zone \"a\"");
        assert_eq!(v["seawall"]["flow_cookie"], "0x00001234");
        assert!(v["seawall"]["endpoint_id"]
            .as_str()
            .unwrap()
            .ends_with("abc"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
