#!/usr/bin/env bash
# Server CPU per request split into user and kernel time, from /proc/PID/stat, with the
# server pinned to core 0 and wrk to core 1 (the shape of ../shared/peers/run.sh).
#
#   benches/http/cpu_split.sh NAME PORT PATH SECONDS CONNECTIONS -- SERVER_BINARY
#   benches/http/cpu_split.sh oc 18400 /json 5 128 -- target/release/examples/hello_http
#
# PATH /plaintext is sent 16 requests deep (../shared/peers/pipeline.lua); anything else one
# at a time. The server takes its port as its first argument and $PORT, its workers from
# $WORKERS (set to 1 here). Run several servers in turn, several rounds: the machine drifts.
set -eu
name=$1 port=$2 path=$3 secs=$4 conns=$5
shift 6
here=$(cd "$(dirname "$0")" && pwd)
export PORT=$port WORKERS=1
taskset -c 0 "$@" "$port" > /dev/null 2>&1 &
pid=$!
trap 'kill $pid 2> /dev/null; wait $pid 2> /dev/null || true' EXIT
for _ in $(seq 100); do
  curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/plaintext" && break
  sleep 0.1
done
headers=(-H "Host: 127.0.0.1" -H "Accept: application/json,text/html;q=0.9,application/xhtml+xml;q=0.9,application/xml;q=0.8,*/*;q=0.7" -H "Connection: keep-alive")
pipeline=()
if [ "$path" = /plaintext ]; then
  pipeline=(-s "$here/../../../shared/peers/pipeline.lua")
fi
load() {
  if [ ${#pipeline[@]} -gt 0 ]; then
    taskset -c 1 wrk -t1 -c"$conns" -d"$1"s "${headers[@]}" "${pipeline[@]}" "http://127.0.0.1:$port$path" -- 16
  else
    taskset -c 1 wrk -t1 -c"$conns" -d"$1"s "${headers[@]}" "http://127.0.0.1:$port$path"
  fi
}
load 2 > /dev/null
read -r user0 sys0 < <(awk '{print $14, $15}' "/proc/$pid/stat")
out=$(load "$secs")
read -r user1 sys1 < <(awk '{print $14, $15}' "/proc/$pid/stat")
requests=$(echo "$out" | awk '/requests in/ {print $1}')
rps=$(echo "$out" | awk '/^Requests\/sec:/ {print $2}')
hz=$(getconf CLK_TCK)
awk -v n="$name" -v r="$rps" -v q="$requests" -v u=$((user1 - user0)) -v s=$((sys1 - sys0)) -v hz="$hz" 'BEGIN {
  printf "%s: %.0f req/s, user %.3f us, kernel %.3f us, total %.3f us per request\n", n, r, u / hz / q * 1e6, s / hz / q * 1e6, (u + s) / hz / q * 1e6
}'
