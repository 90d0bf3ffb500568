#!/usr/bin/env bash
# What the access log costs oc-server per request: two servers side by side, the same except
# `logging.access_log` (on: lines to a file), measured in turns (off, on, off, on, ...) so that
# the machine's other load falls on both alike. Each turn: wrk for DURATION seconds on one of
# them, the server's CPU time (user + system, from /proc) over the turn divided by the requests
# it answered. Prints each turn and the medians, for a fixed `/plaintext` route (the cheapest
# request: the log's worst case) and a 1 KiB static file.
#
#   bash benches/server/access_log.sh          # 5 turns each, 5 s per turn, 1 worker
#   ROUNDS=9 DURATION=10 bash benches/server/access_log.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-64}
WORKERS=${WORKERS:-1}
. benches/server/common.sh
need wrk wrk
cargo build --release -p oc-server >&2
OC=target/release/oc-server

scratch log
mkdir -p "$work/www"
head -c 1024 /dev/urandom >"$work/www/1k.bin"

start() { # $1 port, $2 access log true|false; sets $started (not in a subshell: the trap kills it)
  cat >"$work/oc-$1.json" <<EOF
{ "runtime": { "workers": $WORKERS }, "listeners": [{ "address": "127.0.0.1:$1" }],
  "logging": { "level": "warn", "access_log": $2 },
  "routes": [
    { "kind": "fixed", "path": "/plaintext", "body": "Hello, World!" },
    { "kind": "static", "path": "/", "root": "$work/www" } ] }
EOF
  "$OC" --config "$work/oc-$1.json" >"$work/access-$1.log" 2>"$work/oc-$1.err" &
  pids+=($!)
  started=$!
}
start 18180 false
off_pid=$started
start 18181 true
on_pid=$started
for pid in $off_pid $on_pid; do
  kill -0 "$pid" 2>/dev/null || { echo "oc-server did not start:" >&2; cat "$work"/oc-*.err >&2; exit 1; }
done
for port in 18180 18181; do
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
done

HZ=$(getconf CLK_TCK)
ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
turn() { # $1 pid, $2 url; prints CPU µs per request
  local before after out reqs
  before=$(ticks "$1")
  out=$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" "$2")
  after=$(ticks "$1")
  reqs=$(echo "$out" | awk '/requests in/ {print $1}')
  awk -v t=$((after - before)) -v hz="$HZ" -v n="$reqs" 'BEGIN { printf "%.3f\n", t / hz * 1e6 / n }'
}
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "$(lscpu | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print $2}'), $(nproc) CPUs; $WORKERS worker(s); wrk -t1 -c$CONNECTIONS -d${DURATION}s; $ROUNDS turns each"
for path in plaintext 1k.bin; do
  wrk -t1 -c"$CONNECTIONS" -d1s "http://127.0.0.1:18180/$path" >/dev/null
  wrk -t1 -c"$CONNECTIONS" -d1s "http://127.0.0.1:18181/$path" >/dev/null
  offs=()
  ons=()
  for i in $(seq "$ROUNDS"); do
    off=$(turn "$off_pid" "http://127.0.0.1:18180/$path")
    on=$(turn "$on_pid" "http://127.0.0.1:18181/$path")
    offs+=("$off")
    ons+=("$on")
    echo "/$path turn $i: off $off µs, on $on µs"
  done
  m_off=$(printf '%s\n' "${offs[@]}" | median)
  m_on=$(printf '%s\n' "${ons[@]}" | median)
  awk -v a="$m_off" -v b="$m_on" -v p="/$path" \
    'BEGIN { printf "%s: median CPU per request: access log off %.3f µs, on %.3f µs: %+.1f%%\n", p, a, b, (b - a) / a * 100 }'
done
echo "access log lines written: $(wc -l <"$work/access-18181.log")"
