#!/usr/bin/env bash
# Servers measured at the same time: every server runs pinned to core 0, and one wrk per
# server, all on core 1, loads them all at once for SECONDS, ROUNDS times. Server CPU per
# request comes from the run time of the server's threads (/proc/PID/task/*/schedstat, in
# nanoseconds) over each round. The machine's drift (a shared host:
# 10-30% between minutes) then hits every server alike, and the ratios of one round to the
# next agree within a few percent, where runs one after another (run.sh, bench_all.sh)
# need many rounds to show a 5% difference. The servers share core 0's caches, which
# penalises large working sets a little more than a core of one's own would.
#
#   benches/http/side_by_side.sh PATH ROUNDS SECONDS NAME=SERVER_BINARY...
#   benches/http/side_by_side.sh /plaintext 8 3 oc=target/release/examples/hello_http \
#       may=/tmp/oc-peers/may-minihttp/release/peer-may-minihttp
#
# PATH /plaintext is sent 16 requests deep over 256 connections per server
# (../shared/peers/pipeline.lua), anything else one at a time over 128 (the TechEmpower
# shapes of ../shared/peers/run.sh). Each server takes its port as its first argument and
# $PORT, its workers from $WORKERS. Prints, per server, the median CPU per request and its
# ratio to the first server's, round by round. Needs wrk and python3.
#
# Knobs (environment): SERVER_WORKERS (1), SERVER_CPUS (0), WRK_CPUS (1), WRK_THREADS (1),
# CONNS (connections per server: 256 for /plaintext, else 128).
# All CPUs, the way TechEmpower's "all cores" figures run, servers and loads sharing both:
#   SERVER_WORKERS=2 SERVER_CPUS=0,1 WRK_CPUS=0,1 WRK_THREADS=2 benches/http/side_by_side.sh ...
set -eu
path=$1 rounds=$2 secs=$3
shift 3
here=$(cd "$(dirname "$0")" && pwd)
script=$here/../../../shared/peers/pipeline.lua
out=$(mktemp)
names=() pids=() ports=()
port=${BASE_PORT:-18960}
trap 'kill "${pids[@]}" 2> /dev/null; wait 2> /dev/null; rm -f "$out" "$out".wrk.*' EXIT
for server in "$@"; do
  port=$((port + 1))
  PORT=$port WORKERS=${SERVER_WORKERS:-1} taskset -c "${SERVER_CPUS:-0}" "${server#*=}" $port > /dev/null 2>&1 &
  pids+=($!) names+=("${server%%=*}") ports+=($port)
done
for i in "${!ports[@]}"; do
  for _ in $(seq 100); do
    curl -s -o /dev/null --max-time 1 "http://127.0.0.1:${ports[$i]}$path" && break
    sleep 0.1
  done
done
headers=(-H "Host: 127.0.0.1" -H "Accept: text/plain,text/html;q=0.9,application/xhtml+xml;q=0.9,application/xml;q=0.8,*/*;q=0.7" -H "Connection: keep-alive")
load() { # port seconds
  if [ "$path" = /plaintext ]; then
    taskset -c "${WRK_CPUS:-1}" wrk -t"${WRK_THREADS:-1}" -c"${CONNS:-256}" -d"$2"s "${headers[@]}" -s "$script" "http://127.0.0.1:$1$path" -- 16
  else
    taskset -c "${WRK_CPUS:-1}" wrk -t"${WRK_THREADS:-1}" -c"${CONNS:-128}" -d"$2"s "${headers[@]}" "http://127.0.0.1:$1$path"
  fi
}
# CPU time in microseconds. /proc/PID/stat counts whole clock ticks (10 ms): on a loaded
# machine a server got 8-17 ticks a round, and the ratios swung by 10-50% from that alone.
# (A thread that exits during a round takes its time with it; these servers keep theirs.)
cpu() { cat /proc/"$1"/task/*/schedstat | awk '{ns += $1} END {printf "%d\n", ns / 1000}'; }
# Round 0 warms up and is not counted.
for round in $(seq 0 "$rounds"); do
  before=() loads=()
  for i in "${!pids[@]}"; do before+=("$(cpu "${pids[$i]}")"); done
  # The loads start one after the other: every other round in the reverse order, so that
  # starting first favours no server.
  order=("${!ports[@]}")
  if [ $((round % 2)) = 1 ]; then
    order=()
    for ((i = ${#ports[@]} - 1; i >= 0; i--)); do order+=($i); done
  fi
  for i in "${order[@]}"; do
    load "${ports[$i]}" "$secs" > "$out.wrk.$i" 2>&1 &
    loads+=($!)
  done
  wait "${loads[@]}"
  for i in "${!pids[@]}"; do
    micros=$(($(cpu "${pids[$i]}") - before[i]))
    requests=$(awk '/requests in/ {print $1}' "$out.wrk.$i")
    [ "$round" -gt 0 ] && echo "${names[$i]} $round ${requests:-0} $micros" >> "$out"
  done
done
python3 - "$out" "$secs" <<'PY'
import statistics, sys
runs, order = {}, []
for line in open(sys.argv[1]):
    name, _, requests, micros = line.split()
    if name not in runs:
        order.append(name)
    # CPU per request in microseconds, and requests per second.
    runs.setdefault(name, []).append((int(micros) / max(int(requests), 1), int(requests) / float(sys.argv[2])))
base = runs[order[0]]
for name in order:
    v = runs[name]
    ratios = [a[0] / b[0] for a, b in zip(v, base)]
    print(f"{name:14} {statistics.median(x[0] for x in v):7.3f} us/req  {statistics.median(x[1] for x in v):>10,.0f} req/s"
          f"  / {order[0]}: median {statistics.median(ratios):.3f}, by round " + " ".join(f"{r:.2f}" for r in ratios))
PY
