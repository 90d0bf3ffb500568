#!/usr/bin/env bash
# oc's request head parser against httparse on the same heads (http/benches/head.rs): the
# median nanoseconds per head (parsers alternated round by round), then the instructions per
# head under callgrind (the difference between 11,000 and 1,000 parses, divided by 10,000, so
# start-up cancels out).
#
#   benches/http/head_parser.sh
#
# Needs valgrind. Run from anywhere in the workspace.
set -eu
cd "$(dirname "$0")/../.."
cargo bench -p oc-http --bench head --no-run 2>&1 | tail -1
bin=$(ls -t target/release/deps/head-* | grep -v '\.d$' | head -1)
echo "== median ns per head ($bin)"
"$bin" --bench
echo "== callgrind instructions per head"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
count() {
  valgrind --tool=callgrind --callgrind-out-file="$out/cg" "$bin" count "$1" "$2" "$3" > /dev/null 2>&1
  awk '/^summary:/ {print $2}' "$out/cg"
}
printf '%-10s %10s %10s %15s\n' head oc httparse httparse+scan
for head in plaintext browser long-url; do
  row=$(printf '%-10s' "$head")
  for parser in oc httparse httparse+scan; do
    small=$(count "$head" "$parser" 1000)
    large=$(count "$head" "$parser" 11000)
    row="$row $(printf '%10s' $(( (large - small) / 10000 )))"
  done
  echo "$row"
done
