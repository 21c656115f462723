//! Passthrough A/B bench: the appliance with ET Open loaded against the bare recvmmsg/sendmmsg
//! reflector on loopback, same simulator load: pps, CPU per packet and latency ratios on traffic
//! that matches no rule and on the real capture, and the scaling from 1 to 2 workers (DESIGN.md
//! section 6, issue 6). A plain `main` (harness = false); the work is in
//! `seawall_benches::passthrough`.
//!
//! `cargo bench -p seawall-benches --bench passthrough [-- --quick | --no-rules | --workers W |
//! --rounds N | --packets N | --pcap FILE | --rules FILE | --help]`
//!
//! Exits non-zero when a datagram went missing or came back altered, or when the no-match traffic
//! raised an alert (its figures would not measure what they claim); missed performance goals are
//! reported in the table and the JSON, not as a failure.

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
        Ok(res) if res.all_clean && res.no_match_verified => ExitCode::SUCCESS,
        Ok(res) => {
            if !res.all_clean {
                eprintln!("passthrough: some datagrams were missing or not byte-identical");
            }
            if !res.no_match_verified {
                eprintln!("passthrough: the no-match traffic raised alerts");
            }
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("passthrough: {e}");
            ExitCode::FAILURE
        }
    }
}
