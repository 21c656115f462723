#!/usr/bin/env bash
# Runs the seawall-applayer fuzz targets on stable Rust (no sanitizer), each for SECONDS, seeded from
# seeds/TARGET. With no TARGET named, runs every target of this directory (`cargo fuzz list`).
#
#   crates/applayer/fuzz/run.sh SECONDS [TARGET...]
#
# Installs cargo-fuzz if it is missing. New inputs go to corpus/TARGET, crashes to
# artifacts/TARGET (both gitignored). Exits non-zero as soon as a target finds a crash.
set -euo pipefail

secs="${1:?usage: run.sh SECONDS [TARGET...]}"
shift
cd "$(dirname "$0")"

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

if [ $# -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list)
else
    targets=("$@")
fi

for target in "${targets[@]}"; do
    echo "fuzz: $target for ${secs}s" >&2
    mkdir -p "corpus/$target" "seeds/$target"
    # -s none: no sanitizer, so stable works; -a: debug assertions (overflow checks) on, since a
    # panic of any kind is a bug.
    cargo fuzz run -s none -a "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$secs" -max_len=8192
done
