#!/usr/bin/env bash
# Builds the fuzz targets with a nightly toolchain and runs them from the seeds in
# fuzz/seeds/parse, the way `cargo fuzz run TARGET -s none` does, without needing cargo-fuzz
# installed (CI uses this; developers may use either).
#
#   http/fuzz/run.sh [SECONDS]                  both targets in SECONDS (default 60): `parse`
#                                               for two thirds, `head_vs_httparse` the rest
#   http/fuzz/run.sh SECONDS TARGET [ARGS...]   one target (SECONDS 0: no time limit), with
#                                               more libFuzzer arguments, e.g.
#   nice http/fuzz/run.sh 0 head_vs_httparse -runs=10000000
#
# The build has libFuzzer's coverage instrumentation and Rust's debug assertions (overflow
# checks), but no AddressSanitizer: the parser is safe Rust, and leaving it out halves the
# build. A failing input is written to http/fuzz/artifacts/TARGET/. Nightly's
# `invalid_runtime_symbol_definitions` lint (deny by default in recent nightlies, e.g. 2026-10-29) refuses
# oc-runtime's `extern "C-unwind"` hooks of `read`, `write` and `close`; the targets never
# run a coroutine, so the lint is allowed here (older nightlies do not know it, hence
# `unknown_lints`).
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-60}
triple=$(rustc +nightly -vV | sed -n 's/^host: //p')
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions \
-Aunknown_lints -Ainvalid_runtime_symbol_definitions"
cargo +nightly build --release --bins --target "$triple" --target-dir target/plain
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
# run TARGET SECONDS [ARGS...]
run() {
  local target=$1 time=$2
  shift 2
  mkdir -p "artifacts/$target" "$corpus/$target"
  "target/plain/$triple/release/$target" "$corpus/$target" seeds/parse -artifact_prefix="artifacts/$target/" \
    -max_total_time="$time" -rss_limit_mb=4096 -print_final_stats=1 "$@"
}
if [ $# -ge 2 ]; then
  target=$2
  shift 2
  run "$target" "$seconds" "$@"
else
  run parse $((seconds * 2 / 3))
  run head_vs_httparse $((seconds - seconds * 2 / 3))
fi
