//! Passthrough A/B bench: the appliance against the bare recvmmsg/sendmmsg reflector on loopback,
//! same simulator load, pps and latency ratios (DESIGN.md section 6). A plain `main` (harness =
//! false); the work is in `seawall_benches::passthrough`.
//!
//! `cargo bench -p seawall-benches --bench passthrough [-- --quick | --workers W | --rounds N |
//! --packets N | --pcap FILE | --help]`

use std::process::ExitCode;

use seawall_benches::passthrough::{run, Options};

fn main() -> ExitCode {
    let opts = match Options::parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    match run(&opts) {
        Ok(res) if res.all_clean => ExitCode::SUCCESS,
        Ok(_) => {
            eprintln!("passthrough: some datagrams were missing or not byte-identical");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("passthrough: {e}");
            ExitCode::FAILURE
        }
    }
}
