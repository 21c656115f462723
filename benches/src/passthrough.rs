//! The passthrough A/B harness: bare reflector versus appliance with a rule set loaded, same load,
//! one run.
//!
//! Both systems under test (SUT) run as separate processes of the release `seawall` binary, side by
//! side on loopback for the whole run of one worker count: `seawall reflect --workers W` (the bare
//! recvmmsg/sendmmsg echo, the baseline of DESIGN.md section 6) and `seawall run` with `W` workers,
//! ET Open loaded (IDS mode; `--no-rules`: no rules, the old passthrough comparison), evidence
//! written to a temporary directory. The simulator (`seawall-sim`, in this process, one thread)
//! replays the same datagrams to each, alternating A/B (and B/A) round by round so that drift on a
//! shared machine hits both. Two kinds of traffic:
//!
//! * `no-match`: synthetic TCP and UDP flows whose payloads hold no `content` literal of the rule
//!   set ([`corpus::NoMatch`]), so no fast pattern hits; zero alerts is checked in the appliance's
//!   metrics and its `eve.json` (a run with an alert fails);
//! * `capture`: the real capture (`bench-mixed.pcap`), which does raise alerts.
//!
//! For each: maximum throughput (flat out with a bounded in-flight window; returned packets per
//! second), then latency at fixed offered loads (10 % and 50 % of the reflector's median maximum):
//! p50, p99, p99.9 from send to return. Every replay is made of new flows ([`corpus::vary`] gives
//! each pass its own addresses), so a stateful appliance never sees a retransmission of a flow it
//! already tracked. Every return is checked byte for byte by the simulator. Besides the rates, the
//! harness reads each process's CPU time from `/proc/PID/task/*/schedstat` and reports CPU
//! microseconds per packet: on a small machine the simulator competes with the SUT for the same
//! cores, so flat-out pps is a property of simulator + SUT together, and the CPU cost per packet is
//! the cleaner comparison. Worker counts `W` and 1 (pinned: simulator on CPU 0, both SUTs on CPU 1)
//! give the scaling from 1 to 2 workers.

use std::fmt::Write as _;
use std::fs;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use seawall_sim::{exchange, Datagram, ExchangeOptions, InnerPacket, SimReport};
use serde::Serialize;

use crate::corpus;

/// Goal of DESIGN.md section 6: appliance pps / reflector pps on traffic that matches nothing.
pub const GOAL_PPS_RATIO: f64 = 0.9;
/// Goal: appliance p50 / reflector p50.
pub const GOAL_P50_RATIO: f64 = 1.5;
/// Goal: appliance p99 / reflector p99.
pub const GOAL_P99_RATIO: f64 = 2.0;
/// Offered loads of the latency runs, as fractions of the reflector's maximum.
pub const LATENCY_LOADS: [f64; 2] = [0.10, 0.50];
/// Seed of the synthetic no-match traffic.
pub const NO_MATCH_SEED: u64 = 0x5ea_3a11_0000_0006;
/// Name of the synthetic traffic in the results.
pub const NO_MATCH: &str = "no-match";
/// Name of the real capture in the results.
pub const CAPTURE: &str = "capture";

const USAGE: &str = "\
usage: cargo bench -p seawall-benches --bench passthrough -- [OPTIONS]
  --workers W         workers of both systems (default 2); W=1 is run as well (scaling)
  --only              run only --workers W, not W=1 too
  --rounds N          A/B rounds per measurement (default 5; --quick: 3)
  --packets N         use at most N packets of the capture (default all; --quick: 50000)
  --no-match-packets N  packets of synthetic no-match traffic (default 200000; --quick: 50000)
  --pcap FILE         capture (default $SEAWALL_CORPUS or <repo>/../shared/corpus, pcaps/bench-mixed.pcap)
  --rules PATH        rule file of the appliance, repeatable (default <corpus>/et-open/et-open.rules);
                      the no-match traffic avoids every content of these files
  --no-rules          the appliance runs without rules (the plain passthrough comparison); the
                      no-match traffic still avoids the contents of --rules / ET Open
  --capture-latency   latency runs on the capture too (default on; off with --quick)
  --no-capture-latency  no latency runs on the capture
  --seconds S         duration of each fixed-load latency run (default 2; --quick: 1)
  --window N          simulator in-flight window of the throughput runs (default 256)
  --quick             fewer rounds, packets and seconds (about two minutes)
  --no-pin            W=1: do not pin the simulator to CPU 0 and the systems under test to CPU 1
  --seawall PATH      use this seawall binary (no build)
  --no-build          do not run `cargo build --release -p seawall` first
  --keep-evidence     keep the appliance's temporary evidence directory (eve.json)
  --write-no-match F  also write the synthetic traffic as a pcap (raw IP) to F
  --json PATH         where to write the results (default <target>/bench-results/passthrough.json)";

/// Command-line options.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// The main worker count.
    pub workers: usize,
    /// Also run W=1 (when `workers != 1`).
    pub also_one: bool,
    /// A/B rounds per measurement.
    pub rounds: usize,
    /// Packet cap of the capture.
    pub packets: Option<usize>,
    /// Packets of synthetic no-match traffic.
    pub no_match_packets: usize,
    /// Capture.
    pub pcap: PathBuf,
    /// Rule files (for the appliance unless `no_rules`, and for the no-match generator).
    pub rules: Vec<PathBuf>,
    /// The appliance runs without rules.
    pub no_rules: bool,
    /// Latency runs on the capture too.
    pub capture_latency: bool,
    /// Seconds per latency run.
    pub seconds: f64,
    /// In-flight window of the throughput runs.
    pub window: usize,
    /// Pin for W=1.
    pub pin: bool,
    /// Explicit binary.
    pub seawall: Option<PathBuf>,
    /// Build the binary first.
    pub build: bool,
    /// Keep the temporary evidence directory.
    pub keep_evidence: bool,
    /// Write the synthetic traffic here.
    pub write_no_match: Option<PathBuf>,
    /// JSON output path.
    pub json: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            workers: 2,
            also_one: true,
            rounds: 5,
            packets: None,
            no_match_packets: 200_000,
            pcap: corpus::default_pcap(),
            rules: vec![corpus::et_open_rules()],
            no_rules: false,
            capture_latency: true,
            seconds: 2.0,
            window: seawall_sim::exchange::DEFAULT_WINDOW,
            pin: true,
            seawall: None,
            build: true,
            keep_evidence: false,
            write_no_match: None,
            json: None,
        }
    }
}

impl Options {
    /// Parses the arguments after the program name. `--bench` (added by `cargo bench`) is ignored.
    ///
    /// # Errors
    /// An unknown option or a bad value; `Err(USAGE)` for `--help`.
    pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Self, String> {
        let mut o = Options::default();
        let (mut rounds, mut packets, mut seconds) = (None, None, None);
        let (mut no_match, mut capture_latency, mut rules) = (None, None, Vec::new());
        let mut quick = false;
        let mut it = args.into_iter();
        while let Some(a) = it.next() {
            let mut value = |name: &str| {
                it.next()
                    .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))
            };
            match a.as_str() {
                "--bench" => {}
                "--help" | "-h" => return Err(USAGE.to_string()),
                "--workers" => o.workers = number(&value("--workers")?, "--workers")?,
                "--only" => o.also_one = false,
                "--rounds" => rounds = Some(number(&value("--rounds")?, "--rounds")?),
                "--packets" => packets = Some(number(&value("--packets")?, "--packets")?),
                "--no-match-packets" => {
                    no_match = Some(number(&value("--no-match-packets")?, "--no-match-packets")?);
                }
                "--pcap" => o.pcap = PathBuf::from(value("--pcap")?),
                "--rules" => rules.push(PathBuf::from(value("--rules")?)),
                "--no-rules" => o.no_rules = true,
                "--capture-latency" => capture_latency = Some(true),
                "--no-capture-latency" => capture_latency = Some(false),
                "--seconds" => {
                    let v = value("--seconds")?;
                    let s: f64 = v
                        .parse()
                        .map_err(|_| format!("--seconds: `{v}` is not a number"))?;
                    if !(0.1..=600.0).contains(&s) {
                        return Err("--seconds: must be 0.1..=600".into());
                    }
                    seconds = Some(s);
                }
                "--window" => o.window = number(&value("--window")?, "--window")?,
                "--quick" => quick = true,
                "--no-pin" => o.pin = false,
                "--seawall" => o.seawall = Some(PathBuf::from(value("--seawall")?)),
                "--no-build" => o.build = false,
                "--keep-evidence" => o.keep_evidence = true,
                "--write-no-match" => {
                    o.write_no_match = Some(PathBuf::from(value("--write-no-match")?))
                }
                "--json" => o.json = Some(PathBuf::from(value("--json")?)),
                other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
            }
        }
        o.rounds = rounds.unwrap_or(if quick { 3 } else { 5 });
        o.packets = packets.or(quick.then_some(50_000));
        o.no_match_packets = no_match.unwrap_or(if quick { 50_000 } else { 200_000 });
        o.seconds = seconds.unwrap_or(if quick { 1.0 } else { 2.0 });
        o.capture_latency = capture_latency.unwrap_or(!quick);
        if !rules.is_empty() {
            o.rules = rules;
        }
        if o.workers == 0
            || o.rounds == 0
            || o.window == 0
            || o.packets == Some(0)
            || o.no_match_packets == 0
        {
            return Err(
                "--workers, --rounds, --window, --packets and --no-match-packets must be at least 1"
                    .into(),
            );
        }
        Ok(o)
    }

    /// The worker counts to run, main one first.
    pub fn worker_counts(&self) -> Vec<usize> {
        if self.also_one && self.workers != 1 {
            vec![self.workers, 1]
        } else {
            vec![self.workers]
        }
    }
}

fn number(v: &str, name: &str) -> Result<usize, String> {
    v.parse()
        .map_err(|_| format!("{name}: `{v}` is not a whole number"))
}

/// The two systems under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum System {
    /// `seawall reflect`: the bare recvmmsg/sendmmsg echo.
    Reflector,
    /// `seawall run`: the appliance's data plane.
    Appliance,
}

impl System {
    fn name(self) -> &'static str {
        match self {
            System::Reflector => "reflector",
            System::Appliance => "appliance",
        }
    }
}

/// One simulator run against one system.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Sample {
    /// Round number.
    pub round: usize,
    /// Offered rate (None: flat out).
    pub rate: Option<u64>,
    /// Datagrams sent.
    pub sent: u64,
    /// Returned byte-identical.
    pub returned: u64,
    /// Not returned.
    pub missing: u64,
    /// Returned but matching nothing sent (corrupt + duplicate + misdirected + unexpected).
    pub bad: u64,
    /// Sends refused by the kernel.
    pub send_errors: u64,
    /// Returned packets per second.
    pub returned_pps: f64,
    /// Sent packets per second.
    pub sent_pps: f64,
    /// Latency percentiles, microseconds.
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// CPU microseconds of the system under test per returned packet.
    pub sut_cpu_us_per_pkt: f64,
    /// CPU microseconds of the simulator (this process) per returned packet.
    pub sim_cpu_us_per_pkt: f64,
    /// Appliance only: alerts counted during the run (`seawall_detect_alerts_total`).
    pub alerts: Option<u64>,
}

impl Sample {
    fn from_report(
        round: usize,
        rate: Option<u64>,
        r: &SimReport,
        sut_ns: u64,
        sim_ns: u64,
    ) -> Self {
        let per_pkt = |ns: u64| {
            if r.returned == 0 {
                0.0
            } else {
                ns as f64 / 1000.0 / r.returned as f64
            }
        };
        Sample {
            round,
            rate,
            sent: r.sent,
            returned: r.returned,
            missing: r.missing,
            bad: r.corrupt + r.duplicate + r.misdirected + r.unexpected,
            send_errors: r.send_errors,
            returned_pps: r.returned_pps,
            sent_pps: r.sent_pps,
            p50_us: r.latency.p50_us,
            p99_us: r.latency.p99_us,
            p999_us: r.latency.p999_us,
            sut_cpu_us_per_pkt: per_pkt(sut_ns),
            sim_cpu_us_per_pkt: per_pkt(sim_ns),
            alerts: None,
        }
    }
}

/// Medians over the rounds of one (load, system).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Median returned pps.
    pub returned_pps: f64,
    /// Median p50, µs.
    pub p50_us: f64,
    /// Median p99, µs.
    pub p99_us: f64,
    /// Median p99.9, µs.
    pub p999_us: f64,
    /// Median SUT CPU µs per packet.
    pub sut_cpu_us_per_pkt: f64,
    /// Median simulator CPU µs per packet.
    pub sim_cpu_us_per_pkt: f64,
    /// Totals over the rounds.
    pub sent: u64,
    /// Total returned.
    pub returned: u64,
    /// Total missing.
    pub missing: u64,
    /// Total bad returns.
    pub bad: u64,
    /// Total send errors.
    pub send_errors: u64,
    /// Total alerts (appliance).
    pub alerts: u64,
}

impl Summary {
    fn of(samples: &[Sample]) -> Self {
        let med = |f: fn(&Sample) -> f64| median(samples.iter().map(f).collect());
        Summary {
            returned_pps: med(|s| s.returned_pps),
            p50_us: med(|s| s.p50_us),
            p99_us: med(|s| s.p99_us),
            p999_us: med(|s| s.p999_us),
            sut_cpu_us_per_pkt: med(|s| s.sut_cpu_us_per_pkt),
            sim_cpu_us_per_pkt: med(|s| s.sim_cpu_us_per_pkt),
            sent: samples.iter().map(|s| s.sent).sum(),
            returned: samples.iter().map(|s| s.returned).sum(),
            missing: samples.iter().map(|s| s.missing).sum(),
            bad: samples.iter().map(|s| s.bad).sum(),
            send_errors: samples.iter().map(|s| s.send_errors).sum(),
            alerts: samples.iter().filter_map(|s| s.alerts).sum(),
        }
    }
}

/// One offered load, both systems.
#[derive(Debug, Clone, Serialize)]
pub struct LoadResult {
    /// "max", "10%", "50%".
    pub load: String,
    /// Offered rate (None: flat out).
    pub rate: Option<u64>,
    /// Reflector samples, per round.
    pub reflector: Vec<Sample>,
    /// Appliance samples, per round.
    pub appliance: Vec<Sample>,
    /// Reflector medians.
    pub reflector_summary: Summary,
    /// Appliance medians.
    pub appliance_summary: Summary,
}

/// The ratios of DESIGN.md section 6 for one traffic and worker count.
#[derive(Debug, Clone, Serialize)]
pub struct Ratios {
    /// Median appliance pps / median reflector pps (flat out).
    pub pps: f64,
    /// Smallest and largest per-round pps ratio (each round's pair).
    pub pps_round_range: (f64, f64),
    /// Appliance CPU µs per packet / reflector CPU µs per packet (flat out): what inspection
    /// costs, independent of who the bottleneck is.
    pub cpu_per_pkt: f64,
    /// Reflector CPU µs per packet / appliance CPU µs per packet (flat out): the pps ratio the
    /// two would have with cores of their own (1 / `cpu_per_pkt`).
    pub cpu_cost: f64,
    /// Per latency load: appliance / reflector percentiles.
    pub latency: Vec<LatencyRatio>,
    /// pps and latency goals met.
    pub goals_met: bool,
}

/// Appliance / reflector latency at one offered load.
#[derive(Debug, Clone, Serialize)]
pub struct LatencyRatio {
    /// "10%", "50%".
    pub load: String,
    /// Ratio of the median p50s.
    pub p50: f64,
    /// Ratio of the median p99s.
    pub p99: f64,
    /// Ratio of the median p99.9s.
    pub p999: f64,
    /// Smallest and largest per-round p50 ratio (each round's pair): the noise.
    pub p50_round_range: (f64, f64),
    /// Smallest and largest per-round p99 ratio.
    pub p99_round_range: (f64, f64),
}

/// One traffic at one worker count.
#[derive(Debug, Clone, Serialize)]
pub struct TrafficResult {
    /// [`NO_MATCH`] or [`CAPTURE`].
    pub traffic: String,
    /// Per load: "max", then the latency loads (if run).
    pub loads: Vec<LoadResult>,
    /// The ratios.
    pub ratios: Ratios,
    /// Alerts over all appliance runs of this traffic (metrics), and per flat-out pass (median).
    pub alerts: u64,
    /// Median alerts of one flat-out pass over the traffic.
    pub alerts_per_pass: f64,
}

/// Everything measured for one worker count.
#[derive(Debug, Clone, Serialize)]
pub struct WorkerResult {
    /// Worker threads of both systems.
    pub workers: usize,
    /// Simulator on CPU 0, systems under test on CPU 1.
    pub pinned: bool,
    /// `seawall_detect_rules_loaded` of the appliance.
    pub rules_loaded: Option<u64>,
    /// `seawall_detect_rules_skipped`.
    pub rules_skipped: Option<u64>,
    /// Seconds from the appliance's start to its first returned datagram (rule loading).
    pub appliance_ready_secs: f64,
    /// Per traffic.
    pub traffic: Vec<TrafficResult>,
    /// Records in the appliance's eve.json after it stopped.
    pub eve_records: u64,
    /// Of which about no-match traffic (an address in 198.18.0.0/15).
    pub eve_no_match_records: u64,
}

/// What was replayed.
#[derive(Debug, Clone, Serialize)]
pub struct TrafficInfo {
    /// [`NO_MATCH`] or [`CAPTURE`].
    pub name: String,
    /// Where it came from.
    pub source: String,
    /// Datagrams per flat-out pass.
    pub packets: usize,
    /// Flows (synthetic traffic only).
    pub flows: Option<usize>,
    /// Packets left out because their datagram exceeds the receive buffer.
    pub oversize_left_out: usize,
    /// Mean UDP payload bytes (GENEVE + inner).
    pub mean_datagram_bytes: f64,
    /// Synthetic: distinct content literals avoided.
    pub literals_avoided: Option<usize>,
    /// Synthetic: byte values payloads are drawn from.
    pub alphabet: Option<usize>,
}

/// One line of the headline table.
#[derive(Debug, Clone, Serialize)]
pub struct Headline {
    /// What is compared.
    pub item: String,
    /// Worker count.
    pub workers: usize,
    /// Reflector figure (or the W=1 figure for scaling rows).
    pub reflector: f64,
    /// Appliance figure (or the W=2 figure for scaling rows).
    pub appliance: f64,
    /// appliance / reflector.
    pub ratio: f64,
    /// The goal, if the design sets one.
    pub goal: Option<String>,
    /// Whether it is met.
    pub met: Option<bool>,
}

/// Scaling of the appliance (and, for reference, the reflector) from W=1 to the main W.
#[derive(Debug, Clone, Serialize)]
pub struct Scaling {
    /// Traffic measured.
    pub traffic: String,
    /// The two worker counts, W=1 first.
    pub workers: (usize, usize),
    /// Appliance median pps at each.
    pub appliance_pps: (f64, f64),
    /// Appliance median CPU µs per packet at each.
    pub appliance_cpu_us_per_pkt: (f64, f64),
    /// Reflector median pps at each.
    pub reflector_pps: (f64, f64),
    /// Reflector median CPU µs per packet at each.
    pub reflector_cpu_us_per_pkt: (f64, f64),
    /// Appliance pps(main W) / pps(W=1).
    pub appliance_speedup: f64,
    /// Reflector pps(main W) / pps(W=1).
    pub reflector_speedup: f64,
}

/// The whole run (written as JSON).
#[derive(Debug, Clone, Serialize)]
pub struct Results {
    /// Rule files of the appliance (empty: `--no-rules`).
    pub rules: Vec<String>,
    /// "ids".
    pub mode: String,
    /// The traffics.
    pub traffic: Vec<TrafficInfo>,
    /// CPUs of the machine.
    pub cpus: usize,
    /// A/B rounds.
    pub rounds: usize,
    /// Simulator in-flight window (flat out).
    pub window: usize,
    /// Seconds per latency run.
    pub latency_seconds: f64,
    /// The binary measured.
    pub seawall: String,
    /// Wall-clock seconds of the whole run.
    pub elapsed_secs: f64,
    /// Per worker count.
    pub results: Vec<WorkerResult>,
    /// The headline figures with their goals.
    pub headline: Vec<Headline>,
    /// W=1 → main W.
    pub scaling: Option<Scaling>,
    /// How to read the numbers.
    pub notes: Vec<String>,
    /// Every return of every run was byte-identical and nothing went missing.
    pub all_clean: bool,
    /// The no-match traffic raised no alert (metrics and eve.json), at every worker count.
    pub no_match_verified: bool,
}

/// A traffic ready to replay: the inner packets (wrapped per pass with a fresh variant).
struct Traffic {
    info: TrafficInfo,
    packets: Vec<InnerPacket>,
    latency: bool,
}

/// Runs the whole benchmark and prints the table.
///
/// # Errors
/// The binary cannot be built or started, the capture or the rules are missing, a system never
/// answers.
pub fn run(opts: &Options) -> Result<Results, String> {
    let started = Instant::now();
    let target_dir = target_dir();
    for r in &opts.rules {
        corpus::require_file(r, "rule file")?;
    }
    corpus::require_file(&opts.pcap, "capture")?;
    let bin = locate_binary(opts, &target_dir)?;
    let out_dir = target_dir.join("bench-results");
    fs::create_dir_all(&out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let tmp = std::env::temp_dir().join(format!("seawall-passthrough-{}", std::process::id()));
    fs::create_dir_all(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;

    let traffic = [no_match_traffic(opts)?, capture_traffic(opts)?];
    let cpus = std::thread::available_parallelism().map_or(1, |c| c.get());

    let mut results = Vec::new();
    for w in opts.worker_counts() {
        let pinned = w == 1 && opts.pin && cpus >= 2;
        let evidence = tmp.join(format!("evidence-w{w}"));
        results.push(run_workers(
            opts, &bin, &out_dir, &evidence, &traffic, w, pinned, cpus,
        )?);
    }

    let all_clean = results.iter().all(|r| {
        r.traffic.iter().all(|t| {
            t.loads.iter().all(|l| {
                [&l.reflector_summary, &l.appliance_summary]
                    .iter()
                    .all(|s| s.missing == 0 && s.bad == 0 && s.send_errors == 0)
            })
        })
    });
    let no_match_verified = results.iter().all(|r| {
        r.eve_no_match_records == 0
            && r.traffic
                .iter()
                .filter(|t| t.traffic == NO_MATCH)
                .all(|t| t.alerts == 0)
    });
    let headline = headline(opts, &results);
    let scaling = scaling(&results);
    let notes = notes(opts, cpus, &results);
    let res = Results {
        rules: if opts.no_rules {
            Vec::new()
        } else {
            opts.rules.iter().map(|p| p.display().to_string()).collect()
        },
        mode: "ids".into(),
        traffic: traffic.iter().map(|t| t.info.clone()).collect(),
        cpus,
        rounds: opts.rounds,
        window: opts.window,
        latency_seconds: opts.seconds,
        seawall: bin.display().to_string(),
        elapsed_secs: started.elapsed().as_secs_f64(),
        results,
        headline,
        scaling,
        notes,
        all_clean,
        no_match_verified,
    };
    print!("{}", render(&res));
    let json_path = opts
        .json
        .clone()
        .unwrap_or_else(|| out_dir.join("passthrough.json"));
    let json = serde_json::to_string_pretty(&res).map_err(|e| e.to_string())?;
    fs::write(&json_path, json + "\n").map_err(|e| format!("{}: {e}", json_path.display()))?;
    println!("results written to {}", json_path.display());
    if opts.keep_evidence {
        println!(
            "evidence (eve.json per worker count) kept in {}",
            tmp.display()
        );
    } else {
        let _ = fs::remove_dir_all(&tmp);
    }
    Ok(res)
}

/// Drops packets whose datagram would not fit the systems' receive buffer (they would only add
/// the same "missing" to both sides) and measures the rest: (kept, left out, mean datagram bytes).
fn fit(packets: Vec<InnerPacket>) -> Result<(Vec<InnerPacket>, usize, f64), String> {
    let n = packets.len();
    let (wrapped, _) = corpus::wrap_passes(&packets, 0, n)?;
    let mut bytes = 0u64;
    let kept: Vec<InnerPacket> = packets
        .into_iter()
        .zip(&wrapped)
        .filter(|(_, d)| d.bytes.len() <= seawall_io::DEFAULT_BUF_SIZE)
        .map(|(p, d)| {
            bytes += d.bytes.len() as u64;
            p
        })
        .collect();
    if kept.is_empty() {
        return Err("no datagram fits the receive buffer".into());
    }
    let mean = bytes as f64 / kept.len() as f64;
    Ok((n - kept.len(), mean)).map(|(o, m)| (kept, o, m))
}

fn no_match_traffic(opts: &Options) -> Result<Traffic, String> {
    let t = Instant::now();
    let avoid = corpus::Avoid::from_rule_files(&opts.rules)?;
    let alphabet = avoid.alphabet().len();
    let nm = corpus::NoMatch::generate(&avoid, opts.no_match_packets, NO_MATCH_SEED)?;
    if let Some(path) = &opts.write_no_match {
        corpus::write_pcap_raw(path, &nm.packets)?;
        eprintln!(
            "passthrough: no-match traffic written to {}",
            path.display()
        );
    }
    let (flows, n) = (nm.flows, nm.packets.len());
    let (packets, oversize, mean) = fit(nm.packets)?;
    eprintln!(
        "passthrough: no-match traffic: {n} packets, {flows} flows ({} TCP), avoiding {} content \
         literals (alphabet {alphabet} byte values), mean datagram {mean:.0} B, in {:.1} s",
        nm.tcp_flows,
        avoid.len(),
        t.elapsed().as_secs_f64()
    );
    Ok(Traffic {
        info: TrafficInfo {
            name: NO_MATCH.into(),
            source: format!(
                "synthetic (seed {NO_MATCH_SEED:#x}): 10.0.0.0/8 clients to 198.18.0.0/15 servers, \
                 60 % TCP connections / 40 % UDP exchanges, payloads free of every content of {}",
                opts.rules
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            packets: packets.len(),
            flows: Some(flows),
            oversize_left_out: oversize,
            mean_datagram_bytes: mean,
            literals_avoided: Some(avoid.len()),
            alphabet: Some(alphabet),
        },
        packets,
        latency: true,
    })
}

fn capture_traffic(opts: &Options) -> Result<Traffic, String> {
    let t = Instant::now();
    let cap = corpus::read_packets(&opts.pcap, opts.packets)?;
    let (packets, oversize, mean) =
        fit(cap.packets).map_err(|e| format!("{}: {e}", opts.pcap.display()))?;
    eprintln!(
        "passthrough: {} → {} datagrams (mean {mean:.0} B; {oversize} larger than {} B left out) \
         in {:.1} s",
        opts.pcap.display(),
        packets.len(),
        seawall_io::DEFAULT_BUF_SIZE,
        t.elapsed().as_secs_f64()
    );
    Ok(Traffic {
        info: TrafficInfo {
            name: CAPTURE.into(),
            source: opts.pcap.display().to_string(),
            packets: packets.len(),
            flows: None,
            oversize_left_out: oversize,
            mean_datagram_bytes: mean,
            literals_avoided: None,
            alphabet: None,
        },
        packets,
        latency: opts.capture_latency,
    })
}

/// Hands out fresh address variants ([`corpus::vary`]) for one appliance process.
struct Variants(u16);

impl Variants {
    /// `count` datagrams of `packets`, each pass over them a new variant.
    fn take(&mut self, packets: &[InnerPacket], count: usize) -> Result<Vec<Datagram>, String> {
        let (d, next) = corpus::wrap_passes(packets, self.0, count)?;
        self.0 = next;
        Ok(d)
    }
}

#[allow(clippy::too_many_arguments)]
fn run_workers(
    opts: &Options,
    bin: &Path,
    out_dir: &Path,
    evidence: &Path,
    traffic: &[Traffic],
    workers: usize,
    pinned: bool,
    cpus: usize,
) -> Result<WorkerResult, String> {
    let all_cpus = format!("0-{}", cpus.saturating_sub(1));
    let sut_cpus = pinned.then_some("1");
    if pinned {
        set_own_affinity("0")?;
    }
    let result = (|| {
        let rules: &[PathBuf] = if opts.no_rules { &[] } else { &opts.rules };
        let refl = Sut::start(
            System::Reflector,
            bin,
            out_dir,
            workers,
            sut_cpus,
            &[],
            evidence,
        )?;
        let app = Sut::start(
            System::Appliance,
            bin,
            out_dir,
            workers,
            sut_cpus,
            rules,
            evidence,
        )?;
        let mut suts = [refl, app];
        let probe = &traffic[0].packets[..traffic[0].packets.len().min(16)];
        let probe = corpus::wrap_passes(probe, u16::MAX - 1, probe.len())?.0;
        let mut ready = 0.0;
        for s in &mut suts {
            ready = s.wait_ready(&probe)?;
        }
        let (rules_loaded, rules_skipped) = match suts[1].metrics() {
            Ok(m) => (
                metric_sum(&m, "seawall_detect_rules_loaded"),
                metric_sum(&m, "seawall_detect_rules_skipped"),
            ),
            Err(_) => (None, None),
        };
        eprintln!(
            "passthrough: W={workers}: appliance ready after {ready:.1} s, rules loaded {} \
             (skipped {})",
            rules_loaded.map_or("?".into(), |n| n.to_string()),
            rules_skipped.map_or("?".into(), |n| n.to_string())
        );
        let tag = format!("W={workers}{}", if pinned { " pinned" } else { "" });
        let mut variants = Variants(1);
        let mut results = Vec::new();
        for t in traffic {
            let n = t.packets.len();
            // Warm-up: page in, grow socket buffers, settle the scheduler.
            let warm = variants.take(&t.packets, n.min(20_000))?;
            for s in &suts {
                measure(s, warm.clone(), None, opts.window, 0)?;
            }
            let mut loads = Vec::new();
            let label = format!("{tag} {}", t.info.name);
            let max = ab_rounds(opts, &suts, None, &label, "max", || {
                variants.take(&t.packets, n)
            })?;
            let refl_max = max.reflector_summary.returned_pps;
            loads.push(max);
            if t.latency {
                for frac in LATENCY_LOADS {
                    let rate = (refl_max * frac).round().max(1.0) as u64;
                    let count = ((rate as f64 * opts.seconds).ceil() as usize).max(1);
                    let load = format!("{:.0}%", frac * 100.0);
                    loads.push(ab_rounds(opts, &suts, Some(rate), &label, &load, || {
                        variants.take(&t.packets, count)
                    })?);
                }
            }
            let ratios = ratios(&loads);
            let alerts = loads.iter().map(|l| l.appliance_summary.alerts).sum();
            let alerts_per_pass = median(
                loads[0]
                    .appliance
                    .iter()
                    .filter_map(|s| s.alerts.map(|a| a as f64))
                    .collect(),
            );
            results.push(TrafficResult {
                traffic: t.info.name.clone(),
                loads,
                ratios,
                alerts,
                alerts_per_pass,
            });
        }
        for s in suts {
            s.stop();
        }
        let (eve_records, eve_no_match_records) = eve_counts(&evidence.join("eve.json"));
        Ok(WorkerResult {
            workers,
            pinned,
            rules_loaded,
            rules_skipped,
            appliance_ready_secs: ready,
            traffic: results,
            eve_records,
            eve_no_match_records,
        })
    })();
    if pinned {
        set_own_affinity(&all_cpus)?;
    }
    result
}

/// Records of an eve.json, and those naming an address of 198.18.0.0/15 (the no-match servers).
fn eve_counts(path: &Path) -> (u64, u64) {
    let Ok(text) = fs::read_to_string(path) else {
        return (0, 0);
    };
    let lines = text.lines().filter(|l| !l.trim().is_empty());
    lines.fold((0, 0), |(all, nm), l| {
        let hit = l.contains("\"198.18.") || l.contains("\"198.19.");
        (all + 1, nm + u64::from(hit))
    })
}

fn ab_rounds(
    opts: &Options,
    suts: &[Sut; 2],
    rate: Option<u64>,
    tag: &str,
    label: &str,
    mut build: impl FnMut() -> Result<Vec<Datagram>, String>,
) -> Result<LoadResult, String> {
    let (mut refl, mut app) = (Vec::new(), Vec::new());
    for round in 0..opts.rounds {
        let order: [&Sut; 2] = if round % 2 == 0 {
            [&suts[0], &suts[1]]
        } else {
            [&suts[1], &suts[0]]
        };
        // Fresh flows for every round; both systems get the same datagrams.
        let datagrams = build()?;
        for s in order {
            let sample = measure(s, datagrams.clone(), rate, opts.window, round)?;
            eprintln!(
                "  {tag} {label:>4} round {round} {:<9} {:>9.0} pps  p50 {:>7.1} µs  p99 {:>8.1} µs  \
                 sut {:.2} µs/pkt  missing {} bad {}{}",
                s.system.name(),
                sample.returned_pps,
                sample.p50_us,
                sample.p99_us,
                sample.sut_cpu_us_per_pkt,
                sample.missing,
                sample.bad,
                sample
                    .alerts
                    .map_or(String::new(), |a| format!("  alerts {a}"))
            );
            match s.system {
                System::Reflector => refl.push(sample),
                System::Appliance => app.push(sample),
            }
        }
    }
    Ok(LoadResult {
        load: label.to_string(),
        rate,
        reflector_summary: Summary::of(&refl),
        appliance_summary: Summary::of(&app),
        reflector: refl,
        appliance: app,
    })
}

fn ratios(loads: &[LoadResult]) -> Ratios {
    let max = &loads[0];
    let round_range = |l: &LoadResult, f: fn(&Sample) -> f64| {
        l.reflector
            .iter()
            .zip(&l.appliance)
            .map(|(r, a)| div(f(a), f(r)))
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
                (lo.min(x), hi.max(x))
            })
    };
    let pps = div(
        max.appliance_summary.returned_pps,
        max.reflector_summary.returned_pps,
    );
    let latency: Vec<LatencyRatio> = loads[1..]
        .iter()
        .map(|l| {
            let (r, a) = (&l.reflector_summary, &l.appliance_summary);
            LatencyRatio {
                load: l.load.clone(),
                p50: div(a.p50_us, r.p50_us),
                p99: div(a.p99_us, r.p99_us),
                p999: div(a.p999_us, r.p999_us),
                p50_round_range: round_range(l, |s| s.p50_us),
                p99_round_range: round_range(l, |s| s.p99_us),
            }
        })
        .collect();
    let goals_met = pps >= GOAL_PPS_RATIO
        && latency
            .iter()
            .all(|l| l.p50 <= GOAL_P50_RATIO && l.p99 <= GOAL_P99_RATIO);
    let (r_cpu, a_cpu) = (
        max.reflector_summary.sut_cpu_us_per_pkt,
        max.appliance_summary.sut_cpu_us_per_pkt,
    );
    Ratios {
        pps,
        pps_round_range: round_range(max, |s| s.returned_pps),
        cpu_per_pkt: div(a_cpu, r_cpu),
        cpu_cost: div(r_cpu, a_cpu),
        latency,
        goals_met,
    }
}

fn div(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        f64::NAN
    }
}

/// The headline rows: per worker count, the no-match pps and CPU ratios (goal), the capture
/// ratios (reported), the latency ratios (goals) on no-match traffic and, if run, on the capture.
fn headline(opts: &Options, results: &[WorkerResult]) -> Vec<Headline> {
    let mut rows = Vec::new();
    let rules = if opts.no_rules { "no rules" } else { "rules" };
    for w in results {
        for t in &w.traffic {
            let max = &t.loads[0];
            let (r, a) = (&max.reflector_summary, &max.appliance_summary);
            let judged = t.traffic == NO_MATCH;
            rows.push(Headline {
                item: format!("{} pps, {rules}", t.traffic),
                workers: w.workers,
                reflector: r.returned_pps,
                appliance: a.returned_pps,
                ratio: t.ratios.pps,
                goal: judged.then(|| format!("≥ {GOAL_PPS_RATIO}")),
                met: judged.then_some(t.ratios.pps >= GOAL_PPS_RATIO),
            });
            rows.push(Headline {
                item: format!("{} CPU µs/pkt", t.traffic),
                workers: w.workers,
                reflector: r.sut_cpu_us_per_pkt,
                appliance: a.sut_cpu_us_per_pkt,
                ratio: t.ratios.cpu_per_pkt,
                goal: judged.then(|| {
                    format!(
                        "≤ {:.2} (= pps {GOAL_PPS_RATIO} on own cores)",
                        1.0 / GOAL_PPS_RATIO
                    )
                }),
                met: judged.then_some(t.ratios.cpu_per_pkt <= 1.0 / GOAL_PPS_RATIO),
            });
            for (l, lr) in t.loads[1..].iter().zip(&t.ratios.latency) {
                let (r, a) = (&l.reflector_summary, &l.appliance_summary);
                for (pct, rv, av, ratio, goal) in [
                    ("p50", r.p50_us, a.p50_us, lr.p50, GOAL_P50_RATIO),
                    ("p99", r.p99_us, a.p99_us, lr.p99, GOAL_P99_RATIO),
                ] {
                    rows.push(Headline {
                        item: format!("{} latency {pct} µs @{}", t.traffic, l.load),
                        workers: w.workers,
                        reflector: rv,
                        appliance: av,
                        ratio,
                        goal: Some(format!("≤ {goal}")),
                        met: Some(ratio <= goal),
                    });
                }
            }
        }
    }
    rows
}

fn scaling(results: &[WorkerResult]) -> Option<Scaling> {
    let one = results.iter().find(|r| r.workers == 1)?;
    let many = results.iter().find(|r| r.workers != 1)?;
    let max = |w: &WorkerResult| {
        w.traffic
            .iter()
            .find(|t| t.traffic == NO_MATCH)
            .map(|t| t.loads[0].clone())
    };
    let (a, b) = (max(one)?, max(many)?);
    let pair = |f: fn(&LoadResult) -> f64| (f(&a), f(&b));
    let appliance_pps = pair(|l| l.appliance_summary.returned_pps);
    let reflector_pps = pair(|l| l.reflector_summary.returned_pps);
    Some(Scaling {
        traffic: NO_MATCH.into(),
        workers: (one.workers, many.workers),
        appliance_pps,
        appliance_cpu_us_per_pkt: pair(|l| l.appliance_summary.sut_cpu_us_per_pkt),
        reflector_pps,
        reflector_cpu_us_per_pkt: pair(|l| l.reflector_summary.sut_cpu_us_per_pkt),
        appliance_speedup: div(appliance_pps.1, appliance_pps.0),
        reflector_speedup: div(reflector_pps.1, reflector_pps.0),
    })
}

fn notes(opts: &Options, cpus: usize, results: &[WorkerResult]) -> Vec<String> {
    let mut notes = vec![format!(
        "Simulator ceiling: {cpus} CPUs, and the simulator (one thread: a sendto and a recvfrom \
         per datagram, plus a SipHash match of every byte) runs on the same cores as the system \
         under test. Flat-out pps is therefore a property of simulator + SUT together: when the \
         'sim cores' column is near 1.00 the simulator, not the SUT, is the bottleneck, and the \
         pps ratio understates the appliance's extra cost. 'CPU µs/pkt' (from \
         /proc/PID/task/*/schedstat, all threads of the SUT) is the fairer comparison: its ratio \
         (appliance ÷ reflector) ≤ {:.2} is what a pps ratio ≥ {GOAL_PPS_RATIO} means when each \
         system has cores of its own.",
        1.0 / GOAL_PPS_RATIO
    )];
    if cpus <= 2 {
        notes.push(format!(
            "W=2 on {cpus} CPUs cannot isolate the simulator; it is not pinned, and W=2 shares the \
             two cores with the simulator, so the scaling row cannot show a 2× speed-up here. \
             W=1 pins the simulator to CPU 0 and each SUT (all its threads) to CPU 1 unless \
             --no-pin: that is the cleanest pps comparison on this machine."
        ));
    }
    notes.push(
        "Both systems are separate processes of the same release binary, alive for the whole \
         run of one W, measured alternately (A/B then B/A) on the same datagrams; figures are \
         medians over the rounds. Every round replays new flows (the low 16 bits of both inner \
         addresses changed, checksums fixed), so the appliance's flow table, stream reassembly and \
         app-layer parsers see fresh traffic each time."
            .into(),
    );
    if !opts.no_rules {
        notes.push(format!(
            "The appliance runs in IDS mode (every packet returned) with the rules loaded \
             ({} loaded, {} skipped for unsupported keywords); eve.json goes to a temporary \
             directory. The no-match traffic is checked to raise zero alerts (metrics and \
             eve.json); the capture raises alerts, which the appliance writes as it goes.",
            results
                .first()
                .and_then(|r| r.rules_loaded)
                .map_or("?".into(), |n| n.to_string()),
            results
                .first()
                .and_then(|r| r.rules_skipped)
                .map_or("?".into(), |n| n.to_string()),
        ));
    } else {
        notes.push("--no-rules: the appliance inspects with an empty rule set.".into());
    }
    notes
}

/// The results as text: the headline table with the goals, then the details per worker count.
pub fn render(res: &Results) -> String {
    let mut o = String::new();
    let verdict = |m: Option<bool>| match m {
        Some(true) => "ok",
        Some(false) => "MISSED",
        None => "",
    };
    let _ = writeln!(
        o,
        "\n=== passthrough: appliance ({}, IDS) vs bare reflector, loopback, {} rounds A/B, window {}, \
         latency runs {} s, {} CPUs ===",
        if res.rules.is_empty() {
            "no rules".to_string()
        } else {
            res.rules.join(", ")
        },
        res.rounds,
        res.window,
        res.latency_seconds,
        res.cpus
    );
    for t in &res.traffic {
        let _ = writeln!(
            o,
            "traffic {:<9} {} datagrams/pass (mean {:.0} B{}{}), {}",
            t.name,
            t.packets,
            t.mean_datagram_bytes,
            t.flows.map_or(String::new(), |f| format!(", {f} flows")),
            if t.oversize_left_out > 0 {
                format!(", {} oversize left out", t.oversize_left_out)
            } else {
                String::new()
            },
            t.source
        );
    }
    let _ = writeln!(
        o,
        "\n  {:<34} {:>3} {:>12} {:>12} {:>8}  goal",
        "headline (medians)", "W", "reflector", "appliance", "ratio"
    );
    for h in &res.headline {
        let _ = writeln!(
            o,
            "  {:<34} {:>3} {:>12.2} {:>12.2} {:>8.3}  {:<33} {}",
            h.item,
            h.workers,
            h.reflector,
            h.appliance,
            h.ratio,
            h.goal.as_deref().unwrap_or("(reported)"),
            verdict(h.met)
        );
    }
    if let Some(s) = &res.scaling {
        let _ = writeln!(
            o,
            "  scaling ({}, flat out) W={} → W={}: appliance {:.0} → {:.0} pps (×{:.2}), CPU {:.2} → \
             {:.2} µs/pkt; reflector {:.0} → {:.0} pps (×{:.2}), CPU {:.2} → {:.2} µs/pkt",
            s.traffic,
            s.workers.0,
            s.workers.1,
            s.appliance_pps.0,
            s.appliance_pps.1,
            s.appliance_speedup,
            s.appliance_cpu_us_per_pkt.0,
            s.appliance_cpu_us_per_pkt.1,
            s.reflector_pps.0,
            s.reflector_pps.1,
            s.reflector_speedup,
            s.reflector_cpu_us_per_pkt.0,
            s.reflector_cpu_us_per_pkt.1
        );
    }
    for w in &res.results {
        let _ = writeln!(
            o,
            "\nW={} worker(s){}; appliance ready after {:.1} s; rules loaded {}; eve.json records {} \
             ({} about no-match traffic)",
            w.workers,
            if w.pinned {
                " (sim pinned to CPU 0, SUTs to CPU 1)"
            } else {
                " (unpinned)"
            },
            w.appliance_ready_secs,
            w.rules_loaded.map_or("?".into(), |n| n.to_string()),
            w.eve_records,
            w.eve_no_match_records
        );
        let _ = writeln!(
            o,
            "  {:<9} {:<10} {:<9} {:>10} {:>9} {:>9} {:>9} {:>10} {:>10} {:>9} {:>9} {:>9} {:>7} {:>5} {:>8}",
            "traffic",
            "load",
            "system",
            "pps",
            "p50 µs",
            "p99 µs",
            "p99.9 µs",
            "sut µs/pk",
            "sim µs/pk",
            "sut cores",
            "sim cores",
            "returned",
            "missing",
            "bad",
            "alerts"
        );
        for t in &w.traffic {
            for l in &t.loads {
                let load = match l.rate {
                    Some(r) => format!("{} {}k", l.load, r / 1000),
                    None => l.load.clone(),
                };
                for (name, s) in [
                    ("reflector", &l.reflector_summary),
                    ("appliance", &l.appliance_summary),
                ] {
                    let _ = writeln!(
                        o,
                        "  {:<9} {:<10} {:<9} {:>10.0} {:>9.1} {:>9.1} {:>9.1} {:>10.2} {:>10.2} {:>9.2} {:>9.2} {:>8.2}% {:>7} {:>5} {:>8}",
                        t.traffic,
                        load,
                        name,
                        s.returned_pps,
                        s.p50_us,
                        s.p99_us,
                        s.p999_us,
                        s.sut_cpu_us_per_pkt,
                        s.sim_cpu_us_per_pkt,
                        s.returned_pps * s.sut_cpu_us_per_pkt / 1e6,
                        s.returned_pps * s.sim_cpu_us_per_pkt / 1e6,
                        if s.sent == 0 {
                            100.0
                        } else {
                            s.returned as f64 * 100.0 / s.sent as f64
                        },
                        s.missing,
                        s.bad + s.send_errors,
                        if name == "appliance" {
                            s.alerts.to_string()
                        } else {
                            String::new()
                        }
                    );
                }
            }
            let r = &t.ratios;
            let _ = writeln!(
                o,
                "  {} W={}: pps {:.3} (per round {:.3}..{:.3}); CPU/pkt {:.3}× (pps-equivalent \
                 {:.3}); alerts per pass {:.0}",
                t.traffic,
                w.workers,
                r.pps,
                r.pps_round_range.0,
                r.pps_round_range.1,
                r.cpu_per_pkt,
                r.cpu_cost,
                t.alerts_per_pass
            );
            for l in &r.latency {
                let _ = writeln!(
                    o,
                    "  {} latency @{:>4}: p50 {:.2}× (per round {:.2}..{:.2}), p99 {:.2}× (per round \
                     {:.2}..{:.2}), p99.9 {:.2}×",
                    t.traffic,
                    l.load,
                    l.p50,
                    l.p50_round_range.0,
                    l.p50_round_range.1,
                    l.p99,
                    l.p99_round_range.0,
                    l.p99_round_range.1,
                    l.p999
                );
            }
        }
    }
    let _ = writeln!(
        o,
        "\nbyte identity: {}",
        if res.all_clean {
            "every datagram of every run came back byte-identical (missing 0, bad 0)"
        } else {
            "NOT CLEAN: see the missing / bad columns (bad = corrupt + duplicate + misdirected + \
             unexpected + send errors)"
        }
    );
    let _ = writeln!(
        o,
        "no-match traffic: {}",
        if res.no_match_verified {
            "zero alerts (appliance metrics and eve.json) at every worker count"
        } else {
            "ALERTS RAISED: the traffic is not a no-match load; its pps figures do not measure \
             the goal (see the alerts column and eve.json with --keep-evidence)"
        }
    );
    let _ = writeln!(o, "elapsed: {:.0} s", res.elapsed_secs);
    for n in &res.notes {
        let _ = writeln!(o, "note: {n}");
    }
    o
}

/// One system under test: a child process of the `seawall` binary.
struct Sut {
    system: System,
    child: Child,
    target: SocketAddr,
    /// The appliance's management API (metrics).
    api: Option<SocketAddr>,
    log: PathBuf,
    started: Instant,
}

/// A TOML basic string.
fn toml_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(o, "\\u{:04x}", u32::from(c));
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

impl Sut {
    fn start(
        system: System,
        bin: &Path,
        out_dir: &Path,
        workers: usize,
        cpus: Option<&str>,
        rules: &[PathBuf],
        evidence: &Path,
    ) -> Result<Self, String> {
        let port = free_udp_port()?;
        let listen = format!("127.0.0.1:{port}");
        let mut api = None;
        let mut args: Vec<String> = match system {
            System::Reflector => vec![
                "reflect".into(),
                "--listen".into(),
                listen.clone(),
                "--workers".into(),
                workers.to_string(),
            ],
            System::Appliance => {
                let config = out_dir.join(format!("passthrough-appliance-w{workers}.toml"));
                let api_addr = SocketAddr::from(([127, 0, 0, 1], free_tcp_port()?));
                api = Some(api_addr);
                let rules = rules
                    .iter()
                    .map(|p| toml_str(&p.display().to_string()))
                    .collect::<Vec<_>>()
                    .join(", ");
                let text = format!(
                    "[dataplane]\nlisten = \"{listen}\"\nworkers = {workers}\n\n\
                     [health]\nlisten = \"127.0.0.1:{}\"\n\n[api]\nlisten = \"{api_addr}\"\n\n\
                     [drain]\ntimeout_secs = 1\nidle_secs = 1\n\n[log]\nlevel = \"warn\"\n\n\
                     [detect]\nmode = \"ids\"\nrules = [{rules}]\n\n[evidence]\ndir = {}\n",
                    free_tcp_port()?,
                    toml_str(&evidence.display().to_string())
                );
                fs::write(&config, text).map_err(|e| format!("{}: {e}", config.display()))?;
                vec![
                    "run".into(),
                    "--config".into(),
                    config.display().to_string(),
                ]
            }
        };
        let mut cmd = match cpus {
            Some(c) => {
                let mut full = vec!["-c".to_string(), c.to_string(), bin.display().to_string()];
                full.append(&mut args);
                let mut cmd = Command::new("taskset");
                cmd.args(full);
                cmd
            }
            None => {
                let mut cmd = Command::new(bin);
                cmd.args(args);
                cmd
            }
        };
        let log = out_dir.join(format!("passthrough-{}-w{workers}.log", system.name()));
        let file = fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = file.try_clone().map_err(|e| e.to_string())?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        Ok(Sut {
            system,
            child,
            target: SocketAddr::from(([127, 0, 0, 1], port)),
            api,
            log,
            started: Instant::now(),
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends the probe datagrams until they all come back (the process is up, its rules loaded);
    /// returns the seconds since the start.
    fn wait_ready(&mut self, probe: &[Datagram]) -> Result<f64, String> {
        let opts = ExchangeOptions {
            timeout: Duration::from_millis(200),
            ..ExchangeOptions::default()
        };
        // Loading and compiling a large rule set takes a while on a busy machine.
        let deadline = self.started + Duration::from_secs(300);
        loop {
            let r = exchange(self.target, probe.iter().cloned(), &opts)
                .map_err(|e| format!("probe of {}: {e}", self.system.name()))?;
            if r.report.returned == r.report.sent {
                return Ok(self.started.elapsed().as_secs_f64());
            }
            let exited = self.child.try_wait().ok().flatten();
            if Instant::now() >= deadline || exited.is_some() {
                let log = fs::read_to_string(&self.log).unwrap_or_default();
                return Err(format!(
                    "{} on {} did not answer (returned {}/{}, exit {exited:?}); log {}:\n{log}",
                    self.system.name(),
                    self.target,
                    r.report.returned,
                    r.report.sent,
                    self.log.display()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The appliance's Prometheus text.
    fn metrics(&self) -> Result<String, String> {
        let addr = self.api.ok_or("the reflector has no metrics")?;
        http_get(addr, "/metrics")
    }

    /// Total `seawall_detect_alerts_total` (None for the reflector).
    fn alerts(&self) -> Result<Option<u64>, String> {
        if self.api.is_none() {
            return Ok(None);
        }
        let m = self.metrics()?;
        metric_sum(&m, "seawall_detect_alerts_total")
            .map(Some)
            .ok_or_else(|| "the appliance exports no seawall_detect_alerts_total".into())
    }

    /// SIGTERM, then SIGKILL after 5 s.
    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Sut {
    fn drop(&mut self) {
        // Never leave a child behind on an error path (stop() has already reaped it otherwise).
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A plain HTTP/1.1 GET on loopback (no client dependency for one scrape), the body.
fn http_get(addr: SocketAddr, path: &str) -> Result<String, String> {
    let err = |e: std::io::Error| format!("GET http://{addr}{path}: {e}");
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(err)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(err)?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(err)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(err)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("GET http://{addr}{path}: no HTTP header"))?;
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        return Err(format!(
            "GET http://{addr}{path}: {}",
            head.lines().next().unwrap_or("")
        ));
    }
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return Ok(dechunk(body));
    }
    Ok(body.to_string())
}

/// Decodes a chunked body.
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// Sum of every sample of the metric `name` (any labels) in Prometheus text; None if absent.
fn metric_sum(text: &str, name: &str) -> Option<u64> {
    let mut found = None;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        if !(rest.starts_with('{') || rest.starts_with(' ')) {
            continue;
        }
        let value = rest.rsplit(' ').next()?;
        let v: f64 = value.parse().ok()?;
        *found.get_or_insert(0) += v as u64;
    }
    found
}

fn measure(
    sut: &Sut,
    datagrams: Vec<Datagram>,
    rate: Option<u64>,
    window: usize,
    round: usize,
) -> Result<Sample, String> {
    let opts = ExchangeOptions {
        rate,
        window,
        timeout: Duration::from_secs(1),
        ..ExchangeOptions::default()
    };
    let own = std::process::id();
    let alerts0 = sut.alerts()?;
    let (sut0, sim0) = (cpu_ns(sut.pid()), cpu_ns(own));
    let ex = exchange(sut.target, datagrams, &opts)
        .map_err(|e| format!("simulator against {}: {e}", sut.system.name()))?;
    let (sut1, sim1) = (cpu_ns(sut.pid()), cpu_ns(own));
    let alerts1 = sut.alerts()?;
    let mut s = Sample::from_report(
        round,
        rate,
        &ex.report,
        sut1.saturating_sub(sut0),
        sim1.saturating_sub(sim0),
    );
    s.alerts = alerts0.zip(alerts1).map(|(a, b)| b.saturating_sub(a));
    Ok(s)
}

/// CPU time of every thread of `pid`, nanoseconds (0 when /proc is unavailable).
fn cpu_ns(pid: u32) -> u64 {
    let Ok(dir) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    dir.filter_map(Result::ok)
        .filter_map(|t| fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

fn set_own_affinity(cpus: &str) -> Result<(), String> {
    let status = Command::new("taskset")
        .args(["-a", "-p", "-c", cpus, &std::process::id().to_string()])
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("taskset (use --no-pin without it): {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("taskset -a -p -c {cpus} failed: {status}"))
    }
}

fn free_udp_port() -> Result<u16, String> {
    let s = UdpSocket::bind("127.0.0.1:0").map_err(|e| format!("free udp port: {e}"))?;
    s.local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("free udp port: {e}"))
}

fn free_tcp_port() -> Result<u16, String> {
    let s = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("free tcp port: {e}"))?;
    s.local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("free tcp port: {e}"))
}

/// The Cargo target directory: `$CARGO_TARGET_DIR`, else three levels above this executable
/// (`<target>/<profile>/deps/passthrough-HASH`), else `<repo>/target`.
fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        return if dir.is_absolute() {
            dir
        } else {
            corpus::repo_root().join(dir)
        };
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            let deps = exe.parent()?;
            (deps.file_name()? == "deps").then_some(())?;
            Some(deps.parent()?.parent()?.to_path_buf())
        })
        .unwrap_or_else(|| corpus::repo_root().join("target"))
}

fn locate_binary(opts: &Options, target_dir: &Path) -> Result<PathBuf, String> {
    if let Some(bin) = &opts.seawall {
        return if bin.is_file() {
            Ok(bin.clone())
        } else {
            Err(format!("--seawall {}: no such file", bin.display()))
        };
    }
    if opts.build {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        eprintln!(
            "passthrough: cargo build --release -p seawall (target dir {})",
            target_dir.display()
        );
        let status = Command::new(&cargo)
            .args(["build", "--release", "-p", "seawall"])
            .current_dir(corpus::repo_root())
            .env("CARGO_TARGET_DIR", target_dir)
            .status()
            .map_err(|e| format!("cannot run cargo: {e}"))?;
        if !status.success() {
            return Err(format!("cargo build --release -p seawall failed: {status}"));
        }
    }
    let bin = target_dir.join("release").join("seawall");
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!(
            "{} not found (build it with `cargo build --release -p seawall`, or pass --seawall PATH)",
            bin.display()
        ))
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, String> {
        Options::parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn defaults_and_cargo_bench_flag() {
        let o = parse(&["--bench"]).unwrap();
        assert_eq!(o.workers, 2);
        assert_eq!(o.worker_counts(), vec![2, 1]);
        assert_eq!(o.rounds, 5);
        assert_eq!(o.packets, None);
        assert_eq!(o.no_match_packets, 200_000);
        assert!(o.capture_latency && !o.no_rules);
        assert_eq!(o.rules, vec![corpus::et_open_rules()]);
    }

    #[test]
    fn quick_sets_smaller_defaults_but_explicit_values_win() {
        let o = parse(&["--quick", "--rounds", "3"]).unwrap();
        assert_eq!(o.rounds, 3);
        assert_eq!(o.packets, Some(50_000));
        assert_eq!(o.no_match_packets, 50_000);
        assert!(!o.capture_latency);
        assert_eq!(o.seconds, 1.0);
        let o = parse(&[
            "--quick",
            "--capture-latency",
            "--no-rules",
            "--rules",
            "a",
            "--rules",
            "b",
        ])
        .unwrap();
        assert!(o.capture_latency && o.no_rules);
        assert_eq!(o.rules, vec![PathBuf::from("a"), PathBuf::from("b")]);
        let o = parse(&["--workers", "1"]).unwrap();
        assert_eq!(o.worker_counts(), vec![1]);
        let o = parse(&["--workers", "4", "--only"]).unwrap();
        assert_eq!(o.worker_counts(), vec![4]);
    }

    #[test]
    fn bad_arguments_are_rejected() {
        assert!(parse(&["--frobnicate"]).unwrap_err().contains("unknown"));
        assert!(parse(&["--rounds"]).unwrap_err().contains("needs a value"));
        assert!(parse(&["--rounds", "x"]).is_err());
        assert!(parse(&["--workers", "0"]).is_err());
        assert!(parse(&["--seconds", "0"]).is_err());
        assert!(parse(&["--no-match-packets", "0"]).is_err());
    }

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(vec![]), 0.0);
    }

    fn sample(pps: f64, p50: f64, p99: f64, cpu: f64) -> Sample {
        Sample {
            returned_pps: pps,
            p50_us: p50,
            p99_us: p99,
            p999_us: p99 * 2.0,
            sut_cpu_us_per_pkt: cpu,
            ..Sample::default()
        }
    }

    fn load(name: &str, refl: Vec<Sample>, app: Vec<Sample>) -> LoadResult {
        LoadResult {
            load: name.into(),
            rate: None,
            reflector_summary: Summary::of(&refl),
            appliance_summary: Summary::of(&app),
            reflector: refl,
            appliance: app,
        }
    }

    #[test]
    fn ratios_use_medians_and_judge_the_goals() {
        let loads = vec![
            load(
                "max",
                vec![sample(100.0, 0.0, 0.0, 2.0), sample(200.0, 0.0, 0.0, 2.0)],
                vec![sample(95.0, 0.0, 0.0, 4.0), sample(190.0, 0.0, 0.0, 4.0)],
            ),
            load(
                "10%",
                vec![sample(0.0, 10.0, 20.0, 0.0)],
                vec![sample(0.0, 12.0, 50.0, 0.0)],
            ),
        ];
        let r = ratios(&loads);
        assert!((r.pps - 142.5 / 150.0).abs() < 1e-9);
        assert!((r.pps_round_range.0 - 0.95).abs() < 1e-9);
        assert!((r.cpu_cost - 0.5).abs() < 1e-9);
        assert!((r.cpu_per_pkt - 2.0).abs() < 1e-9);
        assert_eq!(r.latency.len(), 1);
        assert!((r.latency[0].p50 - 1.2).abs() < 1e-9);
        assert!((r.latency[0].p99 - 2.5).abs() < 1e-9);
        assert_eq!(r.latency[0].p99_round_range, (2.5, 2.5));
        assert!(!r.goals_met, "p99 ratio 2.5 misses the goal of 2");
    }

    #[test]
    fn headline_judges_no_match_only_and_scaling_pairs_worker_counts() {
        let mk = |w: usize, pps_r: f64, pps_a: f64| {
            let loads = vec![
                load(
                    "max",
                    vec![sample(pps_r, 0.0, 0.0, 2.0)],
                    vec![sample(pps_a, 0.0, 0.0, 2.1)],
                ),
                load(
                    "10%",
                    vec![sample(0.0, 10.0, 20.0, 0.0)],
                    vec![sample(0.0, 16.0, 30.0, 0.0)],
                ),
            ];
            let capture = vec![load(
                "max",
                vec![sample(pps_r, 0.0, 0.0, 2.0)],
                vec![sample(pps_a / 2.0, 0.0, 0.0, 4.0)],
            )];
            WorkerResult {
                workers: w,
                pinned: w == 1,
                rules_loaded: Some(1),
                rules_skipped: Some(0),
                appliance_ready_secs: 1.0,
                traffic: vec![
                    TrafficResult {
                        traffic: NO_MATCH.into(),
                        ratios: ratios(&loads),
                        loads,
                        alerts: 0,
                        alerts_per_pass: 0.0,
                    },
                    TrafficResult {
                        traffic: CAPTURE.into(),
                        ratios: ratios(&capture),
                        loads: capture,
                        alerts: 7,
                        alerts_per_pass: 7.0,
                    },
                ],
                eve_records: 7,
                eve_no_match_records: 0,
            }
        };
        let results = vec![mk(2, 200.0, 190.0), mk(1, 100.0, 80.0)];
        let rows = headline(&Options::default(), &results);
        let find = |item: &str, w: usize| {
            rows.iter()
                .find(|r| r.item.starts_with(item) && r.workers == w)
                .unwrap()
                .clone()
        };
        assert_eq!(find("no-match pps", 2).met, Some(true));
        assert_eq!(find("no-match pps", 1).met, Some(false));
        assert_eq!(find("capture pps", 2).met, None, "reported, not judged");
        assert_eq!(find("no-match CPU", 2).met, Some(true));
        let p50 = find("no-match latency p50", 2);
        assert!((p50.ratio - 1.6).abs() < 1e-9);
        assert_eq!(p50.met, Some(false));
        assert_eq!(find("no-match latency p99", 2).met, Some(true));
        let s = scaling(&results).unwrap();
        assert_eq!(s.workers, (1, 2));
        assert!((s.appliance_speedup - 190.0 / 80.0).abs() < 1e-9);
        let text = render(&Results {
            rules: vec!["et-open.rules".into()],
            mode: "ids".into(),
            traffic: Vec::new(),
            cpus: 2,
            rounds: 1,
            window: 1,
            latency_seconds: 1.0,
            seawall: "seawall".into(),
            elapsed_secs: 1.0,
            headline: rows,
            scaling: Some(s),
            notes: vec!["simulator ceiling".into()],
            all_clean: true,
            no_match_verified: true,
            results,
        });
        assert!(text.contains("MISSED") && text.contains("ok") && text.contains("scaling"));
        assert!(text.contains("note: simulator ceiling"));
    }

    #[test]
    fn metrics_parsing_sums_every_label_set() {
        let text = "# HELP seawall_detect_alerts Alerts.\n\
                    # TYPE seawall_detect_alerts counter\n\
                    seawall_detect_alerts_total{worker=\"0\",action=\"alert\"} 3\n\
                    seawall_detect_alerts_total{worker=\"1\",action=\"alert\"} 4\n\
                    seawall_detect_alerts_total_other 100\n\
                    seawall_detect_rules_loaded{profile=\"default\"} 25563\n";
        assert_eq!(metric_sum(text, "seawall_detect_alerts_total"), Some(7));
        assert_eq!(metric_sum(text, "seawall_detect_rules_loaded"), Some(25563));
        assert_eq!(metric_sum(text, "seawall_nothing"), None);
        assert_eq!(dechunk("4\r\nabcd\r\n3\r\nefg\r\n0\r\n\r\n"), "abcdefg");
    }

    #[test]
    fn toml_strings_and_eve_counts() {
        assert_eq!(toml_str(r#"a"b\c"#), r#""a\"b\\c""#);
        let path = std::env::temp_dir().join(format!("seawall-eve-{}.json", std::process::id()));
        fs::write(
            &path,
            "{\"src_ip\":\"10.1.2.3\",\"dest_ip\":\"198.19.4.5\"}\n{\"src_ip\":\"192.168.0.1\"}\n",
        )
        .unwrap();
        assert_eq!(eve_counts(&path), (2, 1));
        let _ = fs::remove_file(&path);
        assert_eq!(eve_counts(Path::new("/nonexistent/eve.json")), (0, 0));
    }
}
