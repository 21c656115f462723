//! The passthrough A/B harness: bare reflector versus appliance, same load, one run.
//!
//! Both systems under test (SUT) run as separate processes of the release `seawall` binary, side by
//! side on loopback for the whole run of one worker count: `seawall reflect --workers W` (the bare
//! recvmmsg/sendmmsg echo, the baseline of DESIGN.md section 6) and `seawall run` with `W` workers.
//! The simulator (`seawall-sim`, in this process, one thread) replays the same wrapped capture to
//! each, alternating A/B (and B/A) round by round so that drift on a shared machine hits both:
//!
//! 1. maximum throughput: flat out with a bounded in-flight window; returned packets per second;
//! 2. latency at fixed offered loads (10 % and 50 % of the reflector's median maximum): p50, p99,
//!    p99.9 from send to return.
//!
//! Every return is checked byte for byte by the simulator. Besides the rates, the harness reads each
//! process's CPU time from `/proc/PID/task/*/schedstat` and reports CPU microseconds per packet:
//! on a small machine the simulator competes with the SUT for the same cores, so flat-out pps is a
//! property of simulator + SUT together, and the CPU cost per packet is the cleaner comparison.

use std::fmt::Write as _;
use std::fs;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use seawall_sim::{exchange, Datagram, ExchangeOptions, SimReport};
use serde::Serialize;

use crate::corpus;

/// Goal of DESIGN.md section 6: appliance pps / reflector pps.
pub const GOAL_PPS_RATIO: f64 = 0.9;
/// Goal: appliance p50 / reflector p50.
pub const GOAL_P50_RATIO: f64 = 1.5;
/// Goal: appliance p99 / reflector p99.
pub const GOAL_P99_RATIO: f64 = 2.0;
/// Offered loads of the latency runs, as fractions of the reflector's maximum.
pub const LATENCY_LOADS: [f64; 2] = [0.10, 0.50];

const USAGE: &str = "\
usage: cargo bench -p seawall-benches --bench passthrough -- [OPTIONS]
  --workers W     workers of both systems (default 2); W=1 is run as well
  --only          run only --workers W, not W=1 too
  --rounds N      A/B rounds per measurement (default 4; --quick: 2)
  --packets N     use at most N packets of the capture (default all; --quick: 50000)
  --pcap FILE     capture (default $SEAWALL_CORPUS or <repo>/../shared/corpus, pcaps/bench-mixed.pcap)
  --seconds S     duration of each fixed-load latency run (default 2; --quick: 1)
  --window N      simulator in-flight window of the throughput runs (default 256)
  --quick         fewer rounds, packets and seconds (about a minute)
  --no-pin        W=1: do not pin the simulator to CPU 0 and the system under test to CPU 1
  --seawall PATH  use this seawall binary (no build)
  --no-build      do not run `cargo build --release -p seawall` first
  --json PATH     where to write the results (default <target>/bench-results/passthrough.json)";

/// Command-line options.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// The main worker count.
    pub workers: usize,
    /// Also run W=1 (when `workers != 1`).
    pub also_one: bool,
    /// A/B rounds per measurement.
    pub rounds: usize,
    /// Packet cap.
    pub packets: Option<usize>,
    /// Capture.
    pub pcap: PathBuf,
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
    /// JSON output path.
    pub json: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            workers: 2,
            also_one: true,
            rounds: 4,
            packets: None,
            pcap: corpus::default_pcap(),
            seconds: 2.0,
            window: seawall_sim::exchange::DEFAULT_WINDOW,
            pin: true,
            seawall: None,
            build: true,
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
                "--pcap" => o.pcap = PathBuf::from(value("--pcap")?),
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
                "--json" => o.json = Some(PathBuf::from(value("--json")?)),
                other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
            }
        }
        o.rounds = rounds.unwrap_or(if quick { 2 } else { 4 });
        o.packets = packets.or(quick.then_some(50_000));
        o.seconds = seconds.unwrap_or(if quick { 1.0 } else { 2.0 });
        if o.workers == 0 || o.rounds == 0 || o.window == 0 || o.packets == Some(0) {
            return Err("--workers, --rounds, --window and --packets must be at least 1".into());
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

/// The ratios of DESIGN.md section 6 for one worker count.
#[derive(Debug, Clone, Serialize)]
pub struct Ratios {
    /// Median appliance pps / median reflector pps (flat out).
    pub pps: f64,
    /// Smallest and largest per-round pps ratio (each round's pair).
    pub pps_round_range: (f64, f64),
    /// Reflector CPU µs per packet / appliance CPU µs per packet (flat out): the pps ratio the
    /// two would have with cores of their own.
    pub cpu_cost: f64,
    /// Per latency load: appliance / reflector percentiles.
    pub latency: Vec<LatencyRatio>,
    /// All goals met.
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

/// Everything measured for one worker count.
#[derive(Debug, Clone, Serialize)]
pub struct WorkerResult {
    /// Worker threads of both systems.
    pub workers: usize,
    /// Simulator on CPU 0, system under test on CPU 1.
    pub pinned: bool,
    /// Per load.
    pub loads: Vec<LoadResult>,
    /// The ratios.
    pub ratios: Ratios,
}

/// The whole run (written as JSON).
#[derive(Debug, Clone, Serialize)]
pub struct Results {
    /// Capture used.
    pub pcap: String,
    /// Datagrams per flat-out pass.
    pub packets: usize,
    /// Capture packets left out because their datagram exceeds the receive buffer.
    pub oversize_left_out: usize,
    /// Mean UDP payload bytes.
    pub mean_datagram_bytes: f64,
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
    /// Per worker count.
    pub results: Vec<WorkerResult>,
    /// How to read the numbers.
    pub notes: Vec<String>,
    /// Every return of every run was byte-identical and nothing went missing.
    pub all_clean: bool,
}

/// Runs the whole benchmark and prints the table.
///
/// # Errors
/// The binary cannot be built or started, the capture is missing, a system never answers.
pub fn run(opts: &Options) -> Result<Results, String> {
    let target_dir = target_dir();
    let bin = locate_binary(opts, &target_dir)?;
    let out_dir = target_dir.join("bench-results");
    fs::create_dir_all(&out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;

    let t = Instant::now();
    let mut load = corpus::load(&opts.pcap, opts.packets)?;
    // Datagrams larger than the systems' receive buffer come back from neither (the appliance
    // counts them as `oversize`): they would only add the same "missing" to both sides.
    let before = load.datagrams.len();
    load.datagrams
        .retain(|d| d.bytes.len() <= seawall_io::DEFAULT_BUF_SIZE);
    let oversize = before - load.datagrams.len();
    let n = load.datagrams.len();
    if n == 0 {
        return Err(format!(
            "{}: no datagram fits the receive buffer",
            load.pcap.display()
        ));
    }
    let mean_bytes = load.bytes() as f64 / n as f64;
    eprintln!(
        "passthrough: {} → {n} datagrams (mean {mean_bytes:.0} B; {oversize} larger than {} B \
         left out) in {:.1} s; binary {}",
        load.pcap.display(),
        seawall_io::DEFAULT_BUF_SIZE,
        t.elapsed().as_secs_f64(),
        bin.display()
    );
    let cpus = std::thread::available_parallelism().map_or(1, |c| c.get());

    let mut results = Vec::new();
    for w in opts.worker_counts() {
        let pinned = w == 1 && opts.pin && cpus >= 2;
        results.push(run_workers(
            opts,
            &bin,
            &out_dir,
            &load.datagrams,
            w,
            pinned,
            cpus,
        )?);
    }

    let mut notes = vec![format!(
        "{cpus} CPUs: the simulator (one thread: a sendto and a recvfrom per datagram, plus a SipHash \
         match of every byte) runs on the same cores as the system under test. Flat-out pps is \
         therefore a property of simulator + SUT together and the pps ratio understates the \
         appliance's extra cost; 'cpu µs/pkt' (from /proc/PID/task/*/schedstat) is the cleaner \
         per-packet comparison, and cpu_cost = reflector cpu/pkt ÷ appliance cpu/pkt is the pps \
         ratio each would have with cores of its own. 'sut cores' / 'sim cores' = pps × µs/pkt: \
         a simulator near 1.00 core is the bottleneck of the max-load row, not the SUT."
    )];
    if cpus <= 2 {
        notes.push(format!(
            "W=2 on {cpus} CPUs cannot isolate the simulator; it is not pinned. W=1 pins the \
             simulator to CPU 0 and the SUT (all its threads) to CPU 1 unless --no-pin."
        ));
    }
    notes.push(
        "Both systems are separate processes of the same release binary, alive for the whole \
         run of one W, measured alternately (A/B then B/A); figures are medians over the rounds."
            .into(),
    );
    let all_clean = results.iter().all(|r| {
        r.loads.iter().all(|l| {
            [&l.reflector_summary, &l.appliance_summary]
                .iter()
                .all(|s| s.missing == 0 && s.bad == 0 && s.send_errors == 0)
        })
    });
    let res = Results {
        pcap: load.pcap.display().to_string(),
        packets: n,
        oversize_left_out: oversize,
        mean_datagram_bytes: mean_bytes,
        cpus,
        rounds: opts.rounds,
        window: opts.window,
        latency_seconds: opts.seconds,
        seawall: bin.display().to_string(),
        results,
        notes,
        all_clean,
    };
    print!("{}", render(&res));
    let json_path = opts
        .json
        .clone()
        .unwrap_or_else(|| out_dir.join("passthrough.json"));
    let json = serde_json::to_string_pretty(&res).map_err(|e| e.to_string())?;
    fs::write(&json_path, json + "\n").map_err(|e| format!("{}: {e}", json_path.display()))?;
    println!("results written to {}", json_path.display());
    Ok(res)
}

#[allow(clippy::too_many_arguments)]
fn run_workers(
    opts: &Options,
    bin: &Path,
    out_dir: &Path,
    datagrams: &[Datagram],
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
        let refl = Sut::start(System::Reflector, bin, out_dir, workers, sut_cpus)?;
        let app = Sut::start(System::Appliance, bin, out_dir, workers, sut_cpus)?;
        let mut suts = [refl, app];
        let tag = format!("W={workers}{}", if pinned { " pinned" } else { "" });
        for s in &mut suts {
            s.wait_ready(datagrams)?;
            // Warm-up: page in, grow socket buffers, settle the scheduler.
            let warm = &datagrams[..datagrams.len().min(20_000)];
            measure(s, warm, None, opts.window, 0)?;
        }

        let mut loads = Vec::new();
        let max = ab_rounds(opts, &suts, datagrams, None, &tag, "max")?;
        let refl_max = max.reflector_summary.returned_pps;
        loads.push(max);
        for frac in LATENCY_LOADS {
            let rate = (refl_max * frac).round().max(1.0) as u64;
            let count = ((rate as f64 * opts.seconds).ceil() as usize).max(1);
            let slice: Vec<Datagram> = datagrams.iter().cycle().take(count).cloned().collect();
            let label = format!("{:.0}%", frac * 100.0);
            loads.push(ab_rounds(opts, &suts, &slice, Some(rate), &tag, &label)?);
        }
        for s in suts {
            s.stop();
        }
        let ratios = ratios(&loads);
        Ok(WorkerResult {
            workers,
            pinned,
            loads,
            ratios,
        })
    })();
    if pinned {
        set_own_affinity(&all_cpus)?;
    }
    result
}

fn ab_rounds(
    opts: &Options,
    suts: &[Sut; 2],
    datagrams: &[Datagram],
    rate: Option<u64>,
    tag: &str,
    label: &str,
) -> Result<LoadResult, String> {
    let (mut refl, mut app) = (Vec::new(), Vec::new());
    for round in 0..opts.rounds {
        let order: [&Sut; 2] = if round % 2 == 0 {
            [&suts[0], &suts[1]]
        } else {
            [&suts[1], &suts[0]]
        };
        for s in order {
            let sample = measure(s, datagrams, rate, opts.window, round)?;
            eprintln!(
                "  {tag} {label:>4} round {round} {:<9} {:>9.0} pps  p50 {:>7.1} µs  p99 {:>8.1} µs  \
                 sut {:.2} µs/pkt  missing {} bad {}",
                s.system.name(),
                sample.returned_pps,
                sample.p50_us,
                sample.p99_us,
                sample.sut_cpu_us_per_pkt,
                sample.missing,
                sample.bad
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
    let div = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
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
    Ratios {
        pps,
        pps_round_range: round_range(max, |s| s.returned_pps),
        cpu_cost: div(
            max.reflector_summary.sut_cpu_us_per_pkt,
            max.appliance_summary.sut_cpu_us_per_pkt,
        ),
        latency,
        goals_met,
    }
}

/// The results as a text table.
pub fn render(res: &Results) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "\n=== passthrough: appliance vs bare reflector, loopback, {} datagrams of {} (mean {:.0} B, \
         {} oversize left out), {} rounds A/B, window {}, latency runs {} s ===",
        res.packets,
        res.pcap,
        res.mean_datagram_bytes,
        res.oversize_left_out,
        res.rounds,
        res.window,
        res.latency_seconds
    );
    for w in &res.results {
        let _ = writeln!(
            o,
            "\nW={} worker(s){}",
            w.workers,
            if w.pinned {
                " (sim pinned to CPU 0, SUT to CPU 1)"
            } else {
                " (unpinned)"
            }
        );
        let _ = writeln!(
            o,
            "  {:<12} {:<9} {:>10} {:>9} {:>9} {:>9} {:>10} {:>10} {:>9} {:>9} {:>10} {:>8} {:>6}",
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
            "bad"
        );
        for l in &w.loads {
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
                    "  {:<12} {:<9} {:>10.0} {:>9.1} {:>9.1} {:>9.1} {:>10.2} {:>10.2} {:>9.2} {:>9.2} {:>9.2}% {:>8} {:>6}",
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
                    s.bad + s.send_errors
                );
            }
        }
        let r = &w.ratios;
        let verdict = |ok: bool| if ok { "ok" } else { "MISSED" };
        let _ = writeln!(
            o,
            "  ratios W={}: pps {:.3} (goal ≥ {GOAL_PPS_RATIO}: {}; per round {:.3}..{:.3}); \
             cpu-cost {:.3} (reflector µs/pkt ÷ appliance µs/pkt)",
            w.workers,
            r.pps,
            verdict(r.pps >= GOAL_PPS_RATIO),
            r.pps_round_range.0,
            r.pps_round_range.1,
            r.cpu_cost
        );
        for l in &r.latency {
            let _ = writeln!(
                o,
                "  latency @{:>4}: p50 {:.2}× (goal ≤ {GOAL_P50_RATIO}: {}; per round {:.2}..{:.2}), \
                 p99 {:.2}× (goal ≤ {GOAL_P99_RATIO}: {}; per round {:.2}..{:.2}), p99.9 {:.2}×",
                l.load,
                l.p50,
                verdict(l.p50 <= GOAL_P50_RATIO),
                l.p50_round_range.0,
                l.p50_round_range.1,
                l.p99,
                verdict(l.p99 <= GOAL_P99_RATIO),
                l.p99_round_range.0,
                l.p99_round_range.1,
                l.p999
            );
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
    log: PathBuf,
}

impl Sut {
    fn start(
        system: System,
        bin: &Path,
        out_dir: &Path,
        workers: usize,
        cpus: Option<&str>,
    ) -> Result<Self, String> {
        let port = free_udp_port()?;
        let listen = format!("127.0.0.1:{port}");
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
                let text = format!(
                    "[dataplane]\nlisten = \"{listen}\"\nworkers = {workers}\n\n\
                     [health]\nlisten = \"127.0.0.1:{}\"\n\n[api]\nlisten = \"127.0.0.1:{}\"\n\n\
                     [drain]\ntimeout_secs = 1\nidle_secs = 1\n\n[log]\nlevel = \"warn\"\n",
                    free_tcp_port()?,
                    free_tcp_port()?
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
            log,
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a few datagrams until they all come back (the process is up).
    fn wait_ready(&mut self, datagrams: &[Datagram]) -> Result<(), String> {
        let probe = &datagrams[..datagrams.len().min(16)];
        let opts = ExchangeOptions {
            timeout: Duration::from_millis(200),
            ..ExchangeOptions::default()
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let r = exchange(self.target, probe.iter().cloned(), &opts)
                .map_err(|e| format!("probe of {}: {e}", self.system.name()))?;
            if r.report.returned == r.report.sent {
                return Ok(());
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

fn measure(
    sut: &Sut,
    datagrams: &[Datagram],
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
    let (sut0, sim0) = (cpu_ns(sut.pid()), cpu_ns(own));
    let ex = exchange(sut.target, datagrams.iter().cloned(), &opts)
        .map_err(|e| format!("simulator against {}: {e}", sut.system.name()))?;
    let (sut1, sim1) = (cpu_ns(sut.pid()), cpu_ns(own));
    Ok(Sample::from_report(
        round,
        rate,
        &ex.report,
        sut1.saturating_sub(sut0),
        sim1.saturating_sub(sim0),
    ))
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
        assert_eq!(o.rounds, 4);
        assert_eq!(o.packets, None);
    }

    #[test]
    fn quick_sets_smaller_defaults_but_explicit_values_win() {
        let o = parse(&["--quick", "--rounds", "3"]).unwrap();
        assert_eq!(o.rounds, 3);
        assert_eq!(o.packets, Some(50_000));
        assert_eq!(o.seconds, 1.0);
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
        assert_eq!(r.latency.len(), 1);
        assert!((r.latency[0].p50 - 1.2).abs() < 1e-9);
        assert!((r.latency[0].p99 - 2.5).abs() < 1e-9);
        assert_eq!(r.latency[0].p99_round_range, (2.5, 2.5));
        assert!(!r.goals_met, "p99 ratio 2.5 misses the goal of 2");
    }
}
