#!/usr/bin/env bash
# Lays out the FrameworkBenchmarks entry `frameworks/Rust/oc/`: the submission files
# (benchmark_config.json, oc.dockerfile, README.md) and the oc workspace they build, taken from
# the committed tree (git archive HEAD).
#
#   benches/techempower/scripts/package-submission.sh OUT_DIR
set -euo pipefail
out=${1:?usage: package-submission.sh OUT_DIR (e.g. FrameworkBenchmarks/frameworks/Rust/oc)}
root=$(cd "$(dirname "$0")/../../.." && pwd)
mkdir -p "$out"
git -C "$root" archive HEAD | tar -x -C "$out"
cp "$root/benches/techempower/submission/benchmark_config.json" \
   "$root/benches/techempower/submission/oc.dockerfile" \
   "$root/benches/techempower/submission/README.md" "$out/"
echo "entry laid out in $out"
