//! `seawall`: the appliance binary. CLI, config, wiring, signals.
//!
//! Subcommands:
//! * `run` — the appliance: GENEVE workers, health and management servers, SIGTERM drain.
//! * `demo` — the quick start: the appliance on loopback and the GWLB simulator replaying a bundled
//!   capture through it, then a summary.
//! * `sim` — the GWLB simulator against a running appliance.
//! * `reflect` — the bare recvmmsg/sendmmsg GENEVE reflector (the performance baseline).
//! * `config check FILE` / `config default` — validate a config (and its threshold files) / print
//!   every key with its default.
//! * `rules check PATH...` — parse and validate rule files.
//! * `replay --rules PATH... PCAP...` — offline inspection of captures, EVE JSON alerts.
#![forbid(unsafe_code)]

mod appliance;
mod config;
mod demo;
mod replay;

use std::net::SocketAddrV4;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::config::Config;

/// mimalloc instead of glibc malloc: the per-flow and per-transaction allocations of the app
/// layer and stream reassembly made glibc's malloc/free 12-16 % of replay inspection time.
/// Built without transparent huge pages (`no_thp`): zeroing a fresh 2 MiB page on the first
/// touch of a growing heap cost more than it saved.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "seawall",
    version,
    about = "Inline IDS/IPS for AWS Gateway Load Balancer"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the appliance.
    Run(RunArgs),
    /// Quick start: run the appliance on loopback and replay a capture through it with the GWLB simulator.
    Demo(demo::DemoArgs),
    /// GWLB simulator: replay a capture as GENEVE to an appliance and check what comes back.
    Sim(SimArgs),
    /// Bare recvmmsg/sendmmsg GENEVE reflector, the baseline for benchmarks.
    Reflect(ReflectArgs),
    /// Configuration file tools.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Rule file tools.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Inspect captures offline (like `suricata -r`): alerts to OUTDIR/eve.json, stats to stdout.
    Replay(replay::ReplayArgs),
}

#[derive(Debug, Subcommand)]
enum RulesCommand {
    /// Parse and validate rule files (or directories of `*.rules`): every diagnostic as
    /// file:line:col, then a summary; exits non-zero on any error.
    Check(RulesCheckArgs),
}

#[derive(Debug, Args)]
struct RulesCheckArgs {
    /// Rule files or directories.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Exit 0 when the only problems are rules skipped for unsupported keywords.
    #[arg(long)]
    allow_unsupported: bool,
    /// A suricata.yaml-style file whose `vars:` section defines address and port groups.
    #[arg(long, value_name = "FILE")]
    vars: Option<PathBuf>,
    /// A classification.config (classtype priorities); default: Suricata's stock one.
    #[arg(long, value_name = "FILE")]
    classification: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Config file (TOML); without it every setting has its default.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Override `dataplane.workers`.
    #[arg(long)]
    workers: Option<usize>,
    /// Override `dataplane.listen`.
    #[arg(long)]
    listen: Option<SocketAddrV4>,
    /// Rule file or directory of `*.rules` (repeat for more): replaces the rules of every profile
    /// (`detect.rules` and `profiles[].rules`), as `suricata -S` does.
    #[arg(long = "rules", value_name = "PATH")]
    rules: Vec<PathBuf>,
    /// `ids` (alerts only) or `ips` (drop/reject take effect): replaces the mode of every profile.
    #[arg(long, value_name = "MODE")]
    mode: Option<seawall_dataplane::policy::Mode>,
    /// A suricata.yaml-style file whose `vars:` define address and port groups (`detect.vars_file`,
    /// for every profile).
    #[arg(long, value_name = "FILE")]
    vars: Option<PathBuf>,
    /// A threshold.config (`threshold`, `event_filter`, `suppress`, `rate_filter` lines):
    /// replaces `detect.threshold_file` and `profiles[].threshold_file`; read at start and on
    /// every reload, a line that does not parse fails the load.
    #[arg(long = "threshold-file", value_name = "FILE")]
    threshold_file: Option<PathBuf>,
}

impl RunArgs {
    /// Applies the command-line overrides to `cfg`.
    fn apply(&self, cfg: &mut Config) {
        if let Some(w) = self.workers {
            cfg.dataplane.workers = w;
        }
        if let Some(l) = self.listen {
            cfg.dataplane.listen = l;
        }
        if !self.rules.is_empty() {
            cfg.detect.rules = self.rules.clone();
            for p in &mut cfg.profiles {
                p.rules = None;
            }
        }
        if let Some(m) = self.mode {
            cfg.detect.mode = m;
            for p in &mut cfg.profiles {
                p.mode = None;
            }
        }
        if let Some(v) = &self.vars {
            cfg.detect.vars_file = Some(v.clone());
            for p in &mut cfg.profiles {
                p.vars_file = None;
            }
        }
        if let Some(t) = &self.threshold_file {
            cfg.detect.threshold_file = Some(t.clone());
            for p in &mut cfg.profiles {
                p.threshold_file = None;
            }
        }
    }
}

#[derive(Debug, Args)]
struct SimArgs {
    #[command(flatten)]
    sim: seawall_sim::SimConfig,
    /// Exit with status 3 unless every datagram came back byte-identical.
    #[arg(long)]
    require_clean: bool,
}

#[derive(Debug, Args)]
struct ReflectArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:6081")]
    listen: SocketAddrV4,
    /// Reflector threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    workers: usize,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate a config file (and read its threshold files) without starting anything.
    Check {
        /// The config file.
        file: PathBuf,
    },
    /// Print the default config, every key with its value.
    Default,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run(args) => {
            let mut cfg = match &args.config {
                Some(path) => Config::load(path)?,
                None => Config::default(),
            };
            args.apply(&mut cfg);
            cfg.validate()?;
            seawall_telemetry::init_tracing(cfg.log.json, &cfg.log.level)
                .context("cannot set up logging")?;
            appliance::run(&cfg)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo(args) => demo::run(&args),
        Command::Replay(args) => replay::run(&args),
        Command::Sim(args) => {
            let progress = !args.sim.json;
            let report = seawall_sim::run(&args.sim, progress)?;
            if args.sim.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).context("cannot encode the report")?
                );
            } else {
                println!("{report}");
            }
            if args.require_clean && !report.is_clean() {
                return Ok(ExitCode::from(3));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Reflect(args) => {
            let workers = match args.workers {
                0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
                n => n,
            };
            let stop = Arc::new(AtomicBool::new(false));
            let handle =
                seawall_io::reflector::run_reflector(args.listen, workers, stop.clone())
                    .with_context(|| format!("cannot start the reflector on {}", args.listen))?;
            eprintln!(
                "reflector: {} threads on {}; Ctrl-C or SIGTERM stops it",
                workers,
                handle.local_addr()
            );
            appliance::wait_for_termination()?;
            stop.store(true, Ordering::Relaxed);
            let stats = handle.join().context("reflector thread failed")?;
            let received: u64 = stats.iter().map(|s| s.received).sum();
            let sent: u64 = stats.iter().map(|s| s.sent).sum();
            eprintln!("reflector: received {received}, sent {sent}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Config(ConfigCommand::Check { file }) => {
            Config::load(&file)?
                .check_files()
                .with_context(|| format!("invalid config file {}", file.display()))?;
            println!("{}: ok", file.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Rules(RulesCommand::Check(args)) => {
            let opts = seawall_rules::CheckOptions {
                allow_unsupported: args.allow_unsupported,
                vars_file: args.vars,
                classification_file: args.classification,
            };
            let report = seawall_rules::check_paths(&args.paths, &opts);
            print!("{report}");
            Ok(ExitCode::from(
                u8::try_from(report.exit_code()).unwrap_or(1),
            ))
        }
        Command::Config(ConfigCommand::Default) => {
            print!("{}", Config::default().to_toml());
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_threshold_file_flag_replaces_every_profile_s() {
        let Command::Run(args) = Cli::try_parse_from([
            "seawall",
            "run",
            "--threshold-file",
            "/etc/seawall/t.config",
        ])
        .unwrap()
        .command
        else {
            panic!("not run");
        };
        let mut cfg = Config::parse(
            "[detect]\nthreshold_file = \"a.config\"\n[[profiles]]\nname = \"z\"\nendpoints = [\"1\"]\nthreshold_file = \"b.config\"\n",
        )
        .unwrap();
        args.apply(&mut cfg);
        let specs = cfg.detect.profile_specs(&cfg.profiles);
        assert!(specs
            .iter()
            .all(|s| s.threshold_file.as_deref()
                == Some(std::path::Path::new("/etc/seawall/t.config"))));
    }
}
