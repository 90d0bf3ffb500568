#!/usr/bin/env bash
# Builds the `parse` fuzz target with a nightly toolchain and runs it for SECONDS (default 60)
# from the seeds in fuzz/seeds/parse, the way `cargo fuzz run parse -s none` does, without
# needing cargo-fuzz installed (CI uses this; developers may use either).
#
#   http/fuzz/run.sh [SECONDS]
#
# The build has libFuzzer's coverage instrumentation and Rust's debug assertions (overflow
# checks), but no AddressSanitizer: the parser is safe Rust, and leaving it out halves the
# build. A failing input is written to http/fuzz/artifacts/parse/.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-60}
triple=$(rustc +nightly -vV | sed -n 's/^host: //p')
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions"
cargo +nightly build --release --bin parse --target "$triple" --target-dir target/plain
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
mkdir -p artifacts/parse
"target/plain/$triple/release/parse" "$corpus" seeds/parse -artifact_prefix=artifacts/parse/ \
  -max_total_time="$seconds" -rss_limit_mb=4096 -print_final_stats=1
