#!/usr/bin/env bash
# The TechEmpower load runner: oc-techempower and the anchor (FrameworkBenchmarks' own
# may-minihttp entry) side by side, on the same PostgreSQL, with wrk in the benchmark's
# shapes, each with 1 worker pinned to one CPU and with every CPU.
#
#   benches/techempower/run.sh [--quick] [--tests json,plaintext,...] [--servers oc,may-minihttp]
#                              [--modes pinned,all] [--rounds N] [--out DIR]
#
# Durations (seconds): TE_PRIMER (5), TE_WARMUP (15), TE_DURATION (15): the benchmark's
# own. --quick runs one level per test with 1/2/5 s, a few minutes in all. --rounds N runs
# everything N times (the servers alternate test by test, and which goes first round by
# round) and the summary gives the medians over the rounds with the range of the ratios:
# one 5 s run moves by about 10% on a shared 2-CPU machine, more than most differences
# worth knowing. For the database tests the summary adds PostgreSQL's CPU per request, alone
# and with the server's. Results go to
# DIR (default target/techempower/RUN-TIME) as results.json and results.md.
# Needs: wrk (apt-get install wrk), PostgreSQL set up by `oc-techempower setup-db`, and the
# anchor built by scripts/build-anchor.sh (else only oc runs, and the table says so).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
echo "building oc-techempower (release, target-cpu=native, as the anchor)"
(cd "$root" && RUSTFLAGS="-C target-cpu=native" CARGO_TARGET_DIR="$root/target/te-native" \
  cargo build --release -p oc-techempower --bin oc-techempower)
export OC_TE_BIN="$root/target/te-native/release/oc-techempower"
export OC_TE_ANCHOR="${OC_TE_ANCHOR:-/tmp/oc-techempower-anchor/may-minihttp/target/release/may-minihttp}"
exec python3 "$here/scripts/runner.py" "$@"
