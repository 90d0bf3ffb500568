#!/usr/bin/env bash
# Echo benchmark: oc (io_uring and epoll) side by side with may and tokio echo servers.
#
#   benches/echo/run.sh [ROUNDS] [CONNS] [SECONDS]
#
# Each round runs every server in turn (interleaved, so drift hits all alike), pinned to
# core 0 with one worker, against the same load client pinned to core 1 (oc's echo_client,
# epoll backend). Reports messages/s, p99 latency and server CPU per message (medians).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-3}
CONNS=${2:-200}
SECS=${3:-5}
PORT=${PORT:-7300}
TARGET=${CARGO_TARGET_DIR:-$PWD/target}

cargo build --release -q -p oc-examples --example echo_server --example echo_client
cargo build --release -q --manifest-path benches/echo/peers/Cargo.toml --target-dir "$TARGET/echo-peers"
OC=$TARGET/release/examples/echo_server
CLIENT=$TARGET/release/examples/echo_client
PEERS=$TARGET/echo-peers/release

declare -A CMD=(
  [oc-uring]="env OC_IO_BACKEND=uring $OC"
  [oc-epoll]="env OC_IO_BACKEND=epoll $OC"
  [may]="$PEERS/echo_may"
  [tokio]="$PEERS/echo_tokio"
)
NAMES=(oc-uring oc-epoll may tokio)
HZ=$(getconf CLK_TCK)
OUT=$(mktemp)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

for round in $(seq "$ROUNDS"); do
  for name in "${NAMES[@]}"; do
    WORKERS=1 taskset -c 0 ${CMD[$name]} "$PORT" 2>/dev/null &
    pid=$!
    for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null && break; sleep 0.1; done
    server=$(pgrep -P "$pid" || true); server=${server:-$pid}
    before=$(cpu_ticks "$server")
    line=$(OC_IO_BACKEND=epoll taskset -c 1 "$CLIENT" "127.0.0.1:$PORT" "$CONNS" "$SECS")
    after=$(cpu_ticks "$server")
    kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
    rate=$(sed -E 's/.*msgs_per_sec=([0-9]+).*/\1/' <<<"$line")
    p99=$(sed -E 's/.*p99_us=([0-9]+).*/\1/' <<<"$line")
    cpu_us=$(awk -v t=$((after - before)) -v hz="$HZ" -v r="$rate" -v s="$SECS" 'BEGIN { printf "%.2f", t / hz * 1e6 / (r * s) }')
    echo "$round,$name,$rate,$p99,$cpu_us" | tee -a "$OUT"
    PORT=$((PORT + 1))
  done
done

echo
echo "| server | messages/s | p99 latency | server CPU per message |"
echo "|---|---|---|---|"
for name in "${NAMES[@]}"; do
  med() { grep ",$name," "$OUT" | cut -d, -f"$1" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
  echo "| $name | $(med 3) | $(med 4) µs | $(med 5) µs |"
done
rm -f "$OUT"
