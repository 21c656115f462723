#!/usr/bin/env bash
# Runs a seawall-wire fuzz target for SECONDS on stable Rust (no sanitizer), seeded from seeds/.
#
#   crates/wire/fuzz/run.sh SECONDS [TARGET]      (TARGET defaults to geneve_packet)
#
# Installs cargo-fuzz if it is missing. New inputs go to corpus/TARGET, crashes to artifacts/TARGET
# (both gitignored). Exits non-zero if the target finds a crash.
set -euo pipefail

secs="${1:?usage: run.sh SECONDS [TARGET]}"
target="${2:-geneve_packet}"
cd "$(dirname "$0")"

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

mkdir -p "corpus/$target"
# -s none: no sanitizer, so stable works; -a: debug assertions (overflow checks) on, since a
# panic of any kind is a bug in this crate.
exec cargo fuzz run -s none -a "$target" "corpus/$target" "seeds/$target" -- \
    -max_total_time="$secs" -max_len=9216
