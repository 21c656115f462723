//! `seawall demo`: the quick start. Starts the appliance on loopback with the default config (on free
//! ports), replays a capture through it with the GWLB simulator exactly as GWLB would send it, and
//! prints what came back and what the appliance counted.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use crate::appliance::{management_runtime, Appliance};
use crate::config::Config;

/// The bundled capture: HTTP (IPv4 and IPv6), DNS, TLS with a client certificate, ICMP and IPv4
/// fragments, 350 packets from public test captures (see `crates/seawall/data/README.md`).
const DEMO_PCAP: &[u8] = include_bytes!("../data/demo.pcap");

/// The shipped default rule set (`rules/seawall.rules`).
const DEFAULT_RULES: &str = include_str!("../../../rules/seawall.rules");

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Capture to replay instead of the bundled one.
    #[arg(long)]
    pcap: Option<PathBuf>,
    /// Worker threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    workers: usize,
    /// Replay the capture this many times.
    #[arg(long = "loop", default_value_t = 1)]
    loops: u32,
    /// Packets per second; omit to send flat out.
    #[arg(long)]
    rate: Option<u64>,
    /// GENEVE address of the demo appliance (a loopback address; port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddrV4,
}

pub fn run(args: &DemoArgs) -> anyhow::Result<ExitCode> {
    let mut cfg = Config::default();
    cfg.dataplane.listen = args.listen;
    cfg.dataplane.workers = args.workers;
    cfg.dataplane.allow_sources = vec!["127.0.0.0/8".parse().expect("a valid CIDR")];
    cfg.health.listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    cfg.api.listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    cfg.validate()?;

    let (pcap, temp) = match &args.pcap {
        Some(p) => (p.clone(), None),
        None => {
            let path =
                std::env::temp_dir().join(format!("seawall-demo-{}.pcap", std::process::id()));
            std::fs::write(&path, DEMO_PCAP).with_context(|| {
                format!("cannot write the bundled capture to {}", path.display())
            })?;
            (path.clone(), Some(path))
        }
    };

    let mut loader = seawall_rules::Loader::default();
    let rules = loader.load_str("rules/seawall.rules", DEFAULT_RULES);
    println!(
        "rules: {} of {} loaded from the shipped rules/seawall.rules ({} diagnostics); \
         this build parses and validates them but does not inspect yet: every valid packet is passed",
        rules.rules.len(),
        rules.read,
        rules.diagnostics.len()
    );
    for d in &rules.diagnostics {
        println!("  {d}");
    }

    let rt = management_runtime()?;
    let app = Appliance::start(&cfg, &rt)?;
    let geneve = app.dataplane.local_addr();
    println!(
        "seawall demo: appliance up with {} workers — GENEVE on {geneve}, health http://{}/healthz, metrics http://{}/metrics",
        app.dataplane.workers(),
        app.health_addr,
        app.mgmt_addr
    );
    println!(
        "replaying {} as GWLB would send it (GENEVE, AWS endpoint/attachment/cookie options) …\n",
        args.pcap.as_ref().map_or_else(
            || "the bundled capture (350 packets)".to_owned(),
            |p| p.display().to_string()
        )
    );
    let sim = seawall_sim::SimConfig {
        target: SocketAddr::V4(geneve),
        pcap,
        rate: args.rate,
        loops: args.loops,
        ..seawall_sim::SimConfig::default()
    };
    let report = seawall_sim::run(&sim, true);
    if let Some(t) = temp {
        let _ = std::fs::remove_file(t);
    }
    let registry = app.registry.clone();
    app.shutdown(&rt)?;
    let report = report?;
    println!("{report}");
    println!("\nappliance counters:");
    print_counters(&registry);
    if report.is_clean() {
        println!("\nresult: every datagram came back byte-identical");
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "\nresult: NOT every datagram came back byte-identical (see missing/corrupt above)"
        );
        Ok(ExitCode::FAILURE)
    }
}

/// Sums the data plane counters over workers and prints them, drops by reason.
fn print_counters(registry: &seawall_telemetry::prometheus_client::registry::Registry) {
    let mut text = String::new();
    if seawall_telemetry::prometheus_client::encoding::text::encode(&mut text, registry).is_err() {
        return;
    }
    let mut sums: Vec<(String, f64)> = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let (name, labels) = series.split_once('{').unwrap_or((series, ""));
        let key = match name {
            "seawall_dataplane_packets_received_total"
            | "seawall_dataplane_bytes_received_total"
            | "seawall_dataplane_packets_returned_total"
            | "seawall_dataplane_bytes_returned_total" => name.to_owned(),
            "seawall_dataplane_drops_total" | "seawall_dataplane_malformed_passed_total" => {
                let reason = labels
                    .split(',')
                    .find_map(|kv| kv.trim_end_matches('}').strip_prefix("reason="))
                    .unwrap_or("?")
                    .trim_matches('"');
                format!("{name}{{reason=\"{reason}\"}}")
            }
            _ => continue,
        };
        match sums.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => *v += value,
            None => sums.push((key, value)),
        }
    }
    for (k, v) in sums
        .iter()
        .filter(|(k, v)| !k.contains("reason=") || *v > 0.0)
    {
        println!("  {k:<70} {v}");
    }
}
