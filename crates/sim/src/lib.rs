//! seawall-sim: a GWLB simulator, the test and benchmark driver of the appliance.
//!
//! Layer: a tool on top of `seawall-wire` (it emits GENEVE headers with [`seawall_wire::GwlbRepr`]);
//! nothing in the appliance depends on it. It plays AWS Gateway Load Balancer on a socket:
//!
//! 1. [`capture`]: read a pcap/pcapng (Ethernet with VLAN/QinQ tags, raw IP, Linux SLL/SLL2,
//!    BSD loopback) and reduce every frame to its bare inner IP packet;
//! 2. [`wrap`]: wrap each packet as GWLB does: one random flow cookie per symmetric inner
//!    5-tuple, a new cookie when the tuple is reused after GWLB's idle timeout, configurable
//!    endpoint and attachment ids, VNI 0, one outer source port per flow;
//! 3. [`mod@exchange`]: send the datagrams to the appliance from a pool of UDP sockets (one per
//!    outer source port), paced or flat out with a bounded in-flight window, receive the returns
//!    on the same sockets, check each is byte-identical to a datagram sent, and measure latency;
//! 4. [`report`]: sent / returned / missing / corrupt, rates and latency percentiles.
//!
//! [`run`] does all of it for `seawall sim`; the lower-level pieces serve tests and benches.
#![forbid(unsafe_code)]

pub mod capture;
mod error;
pub mod exchange;
pub mod flow;
pub mod report;
pub mod wrap;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use capture::{load_pcap, read_capture, read_capture_from, Capture, CaptureStats, InnerPacket};
pub use error::SimError;
pub use exchange::{
    exchange, send_datagrams, Exchange, ExchangeOptions, Received, ReturnKind, SocketPool,
};
pub use flow::FlowTuple;
pub use report::{LatencySummary, SimReport};
pub use wrap::{wrap_all, Datagram, WrapConfig, WrapInfo, Wrapper};

/// [`wrap::DEFAULT_ENDPOINT_ID`] as the hex string the command line shows.
pub const DEFAULT_ENDPOINT_ID_HEX: &str = "05ea3a11e0d00001";
/// [`wrap::DEFAULT_ATTACHMENT_ID`] as the hex string the command line shows.
pub const DEFAULT_ATTACHMENT_ID_HEX: &str = "05ea3a11a7ac0001";

/// The largest inner packet GWLB carries (bytes of the inner IP packet).
pub const GWLB_MTU: usize = 8500;

/// Settings of one simulator run (`seawall sim ...`).
///
/// Plain data: usable as `#[command(flatten)]` clap arguments and as a serde table.
#[derive(Debug, Clone, PartialEq, clap::Args, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// Appliance GENEVE address.
    #[arg(long, default_value = "127.0.0.1:6081")]
    pub target: SocketAddr,
    /// Capture to replay (pcap or pcapng).
    #[arg(long)]
    pub pcap: PathBuf,
    /// Packets per second; omit to send flat out.
    #[arg(long, value_name = "PPS")]
    pub rate: Option<u64>,
    /// GWLB endpoint id (TLV 1), hex, optional `0x` or `vpce-` prefix.
    #[arg(long, value_name = "HEX", value_parser = parse_hex_u64, default_value = DEFAULT_ENDPOINT_ID_HEX)]
    pub endpoint_id: u64,
    /// Attachment id (TLV 2), hex, optional `0x` prefix.
    #[arg(long, value_name = "HEX", value_parser = parse_hex_u64, default_value = DEFAULT_ATTACHMENT_ID_HEX)]
    pub attachment_id: u64,
    /// Replay the capture this many times (each pass starts new GWLB flows).
    #[arg(long = "loop", value_name = "N", default_value_t = 1)]
    #[serde(rename = "loop")]
    pub loops: u32,
    /// Seconds to wait for returns after the last send.
    #[arg(long, value_name = "S", default_value_t = 2.0)]
    pub timeout: f64,
    /// Outer sockets (source ports) flows are spread over.
    #[arg(long, default_value_t = wrap::DEFAULT_SOCKETS)]
    pub sockets: usize,
    /// Maximum datagrams in flight.
    #[arg(long, default_value_t = exchange::DEFAULT_WINDOW)]
    pub window: usize,
    /// Seconds after which an unanswered datagram stops holding a window slot.
    #[arg(long, value_name = "S", default_value_t = 0.5)]
    pub window_timeout: f64,
    /// TCP idle timeout in seconds (a tuple idle longer gets a new flow cookie).
    #[arg(long, value_name = "S", default_value_t = 350)]
    pub tcp_idle: u64,
    /// Idle timeout of UDP and other non-TCP flows, in seconds.
    #[arg(long, value_name = "S", default_value_t = 120)]
    pub udp_idle: u64,
    /// Local address to send from (default: loopback for a loopback target, else any).
    #[arg(long, value_name = "IP")]
    pub bind: Option<IpAddr>,
    /// Seed of the flow-cookie generator (default: random).
    #[arg(long)]
    pub seed: Option<u64>,
    /// SO_RCVBUF/SO_SNDBUF to request per socket, bytes.
    #[arg(long, value_name = "BYTES", default_value_t = exchange::DEFAULT_SOCKET_BUFFER)]
    pub socket_buffer: usize,
    /// GWLB's inner MTU: larger inner packets cannot cross a GWLB and are not sent (counted as
    /// `over_mtu`).
    #[arg(long, value_name = "BYTES", default_value_t = GWLB_MTU)]
    pub mtu: usize,
    /// Print the report as JSON (read by the caller; `run` ignores it).
    #[arg(long)]
    pub json: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            target: SocketAddr::from(([127, 0, 0, 1], seawall_wire::GENEVE_PORT)),
            pcap: PathBuf::new(),
            rate: None,
            endpoint_id: wrap::DEFAULT_ENDPOINT_ID,
            attachment_id: wrap::DEFAULT_ATTACHMENT_ID,
            loops: 1,
            timeout: exchange::DEFAULT_TIMEOUT.as_secs_f64(),
            sockets: wrap::DEFAULT_SOCKETS,
            window: exchange::DEFAULT_WINDOW,
            window_timeout: exchange::DEFAULT_WINDOW_TIMEOUT.as_secs_f64(),
            tcp_idle: wrap::DEFAULT_TCP_IDLE.as_secs(),
            udp_idle: wrap::DEFAULT_UDP_IDLE.as_secs(),
            bind: None,
            seed: None,
            socket_buffer: exchange::DEFAULT_SOCKET_BUFFER,
            mtu: GWLB_MTU,
            json: false,
        }
    }
}

impl SimConfig {
    /// The wrapping part of the settings.
    pub fn wrap_config(&self) -> WrapConfig {
        WrapConfig {
            endpoint_id: self.endpoint_id,
            attachment_id: self.attachment_id,
            tcp_idle: Duration::from_secs(self.tcp_idle),
            udp_idle: Duration::from_secs(self.udp_idle),
            sockets: self.sockets,
            seed: self.seed,
        }
    }

    /// The sending part of the settings.
    pub fn exchange_options(&self, progress: bool) -> Result<ExchangeOptions, SimError> {
        Ok(ExchangeOptions {
            rate: self.rate,
            window: self.window,
            window_timeout: seconds("window_timeout", self.window_timeout)?,
            timeout: seconds("timeout", self.timeout)?,
            settle: crate::exchange::DEFAULT_SETTLE,
            sockets: self.sockets,
            bind: self.bind,
            socket_buffer: self.socket_buffer,
            collect: false,
            progress,
            progress_total: None,
        })
    }

    /// Checks the settings that have no natural parse-time check.
    pub fn validate(&self) -> Result<(), SimError> {
        let bad = |key, message: &str| {
            Err(SimError::Config {
                key,
                message: message.to_string(),
            })
        };
        if self.loops == 0 {
            return bad("loop", "must be at least 1");
        }
        if self.sockets == 0 {
            return bad("sockets", "must be at least 1");
        }
        if self.window == 0 {
            return bad("window", "must be at least 1");
        }
        if self.rate == Some(0) {
            return bad("rate", "must be at least 1 (omit it to send flat out)");
        }
        if self.tcp_idle == 0 {
            return bad("tcp_idle", "must be at least 1 second");
        }
        if self.udp_idle == 0 {
            return bad("udp_idle", "must be at least 1 second");
        }
        if !(576..=65_000).contains(&self.mtu) {
            return bad("mtu", "must be 576..=65000 bytes");
        }
        seconds("timeout", self.timeout)?;
        seconds("window_timeout", self.window_timeout)?;
        Ok(())
    }
}

fn seconds(key: &'static str, s: f64) -> Result<Duration, SimError> {
    Duration::try_from_secs_f64(s).map_err(|_| SimError::Config {
        key,
        message: format!("{s} is not a non-negative number of seconds"),
    })
}

/// Parses a 64-bit id written in hex, with an optional `0x` or `vpce-` prefix.
pub fn parse_hex_u64(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .or_else(|| t.strip_prefix("vpce-"))
        .unwrap_or(t);
    if t.is_empty() || t.len() > 16 {
        return Err(format!("`{s}`: expected 1 to 16 hex digits"));
    }
    u64::from_str_radix(t, 16).map_err(|e| format!("`{s}`: {e}"))
}

/// Runs the simulator: reads the capture, wraps it, sends it `loops` times and reports.
///
/// Each pass of `--loop` shifts the capture's timestamps past GWLB's idle timeouts, so every pass
/// starts new GWLB flows (new cookies), as a capture replayed later would. `progress` enables
/// progress output on stderr.
pub fn run(cfg: &SimConfig, progress: bool) -> Result<SimReport, SimError> {
    cfg.validate()?;
    let mut cap = read_capture(&cfg.pcap)?;
    let before = cap.packets.len();
    cap.packets.retain(|p| p.bytes.len() <= cfg.mtu);
    let over_mtu = (before - cap.packets.len()) as u64;
    let wrap_cfg = cfg.wrap_config();
    let mut opts = cfg.exchange_options(progress)?;
    opts.progress_total = Some(cap.packets.len() as u64 * u64::from(cfg.loops));

    let first = cap.packets.iter().map(|p| p.ts).min().unwrap_or_default();
    let last = cap.packets.iter().map(|p| p.ts).max().unwrap_or_default();
    let pass_gap =
        (last - first) + wrap_cfg.tcp_idle.max(wrap_cfg.udp_idle) + Duration::from_secs(1);

    let mut wrapper = Wrapper::new(&wrap_cfg);
    let mut report = {
        let wrapper = &mut wrapper;
        let packets = &cap.packets;
        let datagrams = (0..cfg.loops).flat_map(move |pass| packets.iter().map(move |p| (pass, p)));
        let datagrams = datagrams.map(|(pass, p)| {
            let mut bytes = Vec::with_capacity(p.bytes.len() + 64);
            let shift = pass_gap.checked_mul(pass).unwrap_or(Duration::MAX);
            let info = wrapper.wrap_into(p.ts.saturating_add(shift), &p.bytes, &mut bytes);
            Datagram {
                flow_socket_index: info.socket,
                bytes,
            }
        });
        exchange(cfg.target, datagrams, &opts)?.report
    };
    report.frames = cap.stats.frames;
    report.skipped_frames = cap.stats.skipped_non_ip + cap.stats.skipped_truncated;
    report.over_mtu = over_mtu;
    report.flows = wrapper.tuples();
    report.flow_cookies = wrapper.cookies();
    Ok(report)
}
