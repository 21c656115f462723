#!/usr/bin/env bash
# Runs the seawall-rules fuzz target `rule_file` for SECONDS on stable Rust (no sanitizer),
# seeded from seeds/rule_file (copies of the golden test files).
#
#   crates/rules/fuzz/run.sh SECONDS
#
# Installs cargo-fuzz if it is missing. New inputs go to corpus/rule_file, crashes to
# artifacts/rule_file (both gitignored). Exits non-zero if the target finds a crash.
set -euo pipefail

secs="${1:?usage: run.sh SECONDS}"
target=rule_file
cd "$(dirname "$0")"

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

mkdir -p "corpus/$target"
# -s none: no sanitizer, so stable works; -a: debug assertions on (a panic of any kind is a bug).
exec cargo fuzz run -s none -a "$target" "corpus/$target" "seeds/$target" -- \
    -max_total_time="$secs" -max_len=4096
