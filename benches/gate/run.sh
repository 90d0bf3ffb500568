#!/usr/bin/env bash
# Performance gate: measures figures that repeat (instruction counts under callgrind, resident
# memory of a fixed load) and fails if any is worse than the maximum recorded beside it in
# benches/gate/figures.txt.
#
#   benches/gate/run.sh            # builds the release binaries, measures, compares
#   GATE_RECORD=1 benches/gate/run.sh   # measures and prints new lines for figures.txt
#
# Figures (each measured on the epoll backend where valgrind is involved: it does not run
# io_uring):
#   plaintext_instructions   user-space instructions per pipelined /plaintext request of
#                            examples/hello_http (benches/http/callgrind.sh)
#   hook_instructions_thread, hook_instructions_coroutine
#                            instructions a hooked read(2) executes beyond the raw system call,
#                            on a plain thread and in a coroutine (callgrind, collecting only
#                            inside the reading functions)
#   idle_connection_bytes    resident memory per idle keep-alive connection of hello_http,
#                            4,000 connections (benches/http/idle_memory.py)
#   idle_coroutine_bytes     resident memory per coroutine parked forever, 10,000 of them
# Needs valgrind (callgrind_annotate comes with it) and python3.
set -euo pipefail
cd "$(dirname "$0")/../.."
figures=benches/gate/figures.txt
hook_calls=20000

cargo build --release -q -p oc-examples --example hello_http
cargo build --release -q -p oc-perf-gate
server=target/release/examples/hello_http
gate=target/release/oc-perf-gate
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

declare -A got

# The count moves between about 653 and 681 here: how the four connections' batches interleave
# with the worker's parks differs from run to run. The least of three runs is the figure.
plaintext=()
for _ in 1 2 3; do
  plaintext+=("$(benches/http/callgrind.sh "$server" | sed -n 's/.*: \([0-9]*\) instructions per request.*/\1/p')")
done
got[plaintext_instructions]=$(printf '%s\n' "${plaintext[@]}" | sort -n | head -1)
echo "plaintext instructions per request, three runs: ${plaintext[*]}"

# Instructions executed inside one function (and what it calls), in a run of the gate binary.
inside() {
  local file="$out/hooks.$1.$2"
  OC_IO_BACKEND=epoll valgrind --tool=callgrind --callgrind-out-file="$file" --toggle-collect="oc_perf_gate::$2" \
    "$gate" hooks "$1" "$hook_calls" > "$file.log" 2>&1
  awk '/^summary:/ {s += $2} END {print s}' "$file"
}
for context in thread coroutine; do
  hooked=$(inside "$context" reads_hooked)
  raw=$(inside "$context" reads_raw)
  got[hook_instructions_$context]=$(( (hooked - raw) / hook_calls ))
done

ulimit -n 20000
got[idle_connection_bytes]=$(python3 benches/http/idle_memory.py "$server" 19020 4000 | sed -n 's/.*: \([0-9,]*\) B per connection.*/\1/p' | tr -d ,)
got[idle_coroutine_bytes]=$("$gate" idle-coroutines 10000 | sed -n 's/^RESULT //p')

for name in "${!got[@]}"; do
  if [ -z "${got[$name]}" ]; then
    echo "perf gate: $name could not be measured" >&2
    exit 1
  fi
done

if [ -n "${GATE_RECORD:-}" ]; then
  for name in plaintext_instructions hook_instructions_thread hook_instructions_coroutine idle_connection_bytes idle_coroutine_bytes; do
    echo "$name ${got[$name]}"
  done
  exit 0
fi

failed=0
printf '%-30s %12s %12s %12s\n' figure measured recorded max
while read -r name recorded max _; do
  case "$name" in ''|'#'*) continue ;; esac
  value=${got[$name]:-}
  if [ -z "$value" ]; then
    echo "perf gate: $figures names $name, which this script does not measure" >&2
    exit 1
  fi
  verdict=ok
  if [ "$value" -gt "$max" ]; then verdict="WORSE than $max"; failed=1; fi
  printf '%-30s %12s %12s %12s  %s\n' "$name" "$value" "$recorded" "$max" "$verdict"
done < "$figures"
if [ "$failed" -ne 0 ]; then
  echo "perf gate: a figure is worse than its recorded maximum (benches/gate/figures.txt)" >&2
  exit 1
fi
echo "perf gate: every figure within its margin"
