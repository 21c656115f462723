//! `cargo run -p seawall-rules --release --example check -- [--allow-unsupported] [--vars FILE] PATH...`
//! The same report as `seawall rules check`, for use without the binary.

use std::path::PathBuf;

use seawall_rules::{check_paths, CheckOptions};

fn main() {
    let mut opts = CheckOptions::default();
    let mut paths = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--allow-unsupported" => opts.allow_unsupported = true,
            "--vars" => opts.vars_file = args.next().map(PathBuf::from),
            _ => paths.push(PathBuf::from(a)),
        }
    }
    let report = check_paths(&paths, &opts);
    #[allow(clippy::print_stdout)]
    {
        print!("{report}");
    }
    std::process::exit(report.exit_code());
}
