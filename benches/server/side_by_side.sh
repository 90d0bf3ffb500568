#!/usr/bin/env bash
# Several oc-server builds and nginx, loaded in turn within each round: a 1 KiB static file
# and /plaintext through each one's reverse proxy to one upstream, one worker each, access
# log off. Prints each server's CPU time per request (user + system from /proc over the
# measured run) and requests answered, round by round, then the medians. For comparing two
# builds with nginx beside them, where the machine's drift between separate runs would
# swamp a few percent.
#
#   bash benches/server/side_by_side.sh before=PATH/TO/oc-server after=target/release/oc-server
#   ROUNDS=5 DURATION=4 REVERSE=1 CASES="1k.bin plaintext" bash benches/server/side_by_side.sh ...
#
# REVERSE=1 loads the servers in the reverse order (nginx first); run both orders. Needs wrk
# and nginx (installed with apt-get if missing; root).
set -euo pipefail
cd "$(dirname "$0")/../.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-4}
CONNECTIONS=${CONNECTIONS:-64}
CASES=${CASES:-1k.bin plaintext}
UPSTREAM_PORT=18190
NGINX_PORT=18191
FIRST_OC_PORT=18192

if [ $# -eq 0 ]; then
  echo "usage: $0 NAME=OC_SERVER_BINARY..." >&2
  exit 2
fi
. benches/server/common.sh
need wrk wrk
need nginx nginx

scratch sbs
mkdir -p "$work/www" "$work/nginx"
head -c 1024 /dev/urandom >"$work/www/1k.bin"
chmod -R a+rX "$work"

# The upstream both kinds of proxy use: the first build.
start_upstream "${1#*=}" $UPSTREAM_PORT

# Servers: "name pid port", in load order.
servers=()
port=$FIRST_OC_PORT
for arg in "$@"; do
  name=${arg%%=*}
  binary=${arg#*=}
  cat >"$work/$name.json" <<EOF
{ "runtime": { "workers": 1 }, "listeners": [{ "address": "127.0.0.1:$port" }],
  "logging": { "level": "warn", "access_log": false },
  "routes": [
    { "kind": "proxy", "path": "/plaintext", "upstreams": ["127.0.0.1:$UPSTREAM_PORT"] },
    { "kind": "static", "path": "/", "root": "$work/www" } ] }
EOF
  "$binary" --config "$work/$name.json" 2>"$work/$name.err" &
  pid=$!
  pids+=($pid)
  wait_port $port
  servers+=("$name $pid $port")
  port=$((port + 1))
done

nginx_conf "$work/nginx" 1 $NGINX_PORT $UPSTREAM_PORT "$work/www" off
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
pids+=($!)
wait_port $NGINX_PORT
wait_port $UPSTREAM_PORT
# nginx's CPU is its worker's (the master sleeps).
nginx_worker=$(pgrep -P "${pids[-1]}" | head -1)
servers+=("nginx $nginx_worker $NGINX_PORT")
if [ -n "${REVERSE:-}" ]; then
  reversed=()
  for ((i = ${#servers[@]} - 1; i >= 0; i--)); do reversed+=("${servers[i]}"); done
  servers=("${reversed[@]}")
fi

HZ=$(getconf CLK_TCK)
ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
results="$work/results"
for round in $(seq "$ROUNDS"); do
  for case in $CASES; do
    for server in "${servers[@]}"; do
      read -r name pid port <<<"$server"
      url="http://127.0.0.1:$port/$case"
      wrk -t1 -c"$CONNECTIONS" -d1s "$url" >/dev/null
      before=$(ticks "$pid")
      out=$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" "$url")
      after=$(ticks "$pid")
      reqs=$(echo "$out" | awk '/requests in/ {print $1}')
      echo "$round $case $name $reqs $((after - before))" | tee -a "$results" |
        awk -v hz="$HZ" -v d="$DURATION" '{printf "round %s %-10s %-10s %9.0f req/s %7.3f us CPU per request\n", $1, $2, $3, $4 / d, $5 / hz * 1e6 / $4}'
    done
  done
done

echo
echo "$(lscpu | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print $2}'), $(nproc) CPUs; 1 worker each;" \
  "$ROUNDS rounds of wrk -t1 -c$CONNECTIONS -d${DURATION}s; order: $(for s in "${servers[@]}"; do printf '%s ' "${s%% *}"; done)"
python3 - "$results" "$HZ" "$DURATION" <<'EOF'
import statistics, sys
from collections import defaultdict
path, hz, duration = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
cpu, rps, order = defaultdict(list), defaultdict(list), []
for line in open(path):
    _, case, name, reqs, ticks = line.split()
    if name not in order:
        order.append(name)
    cpu[case, name].append(int(ticks) / hz * 1e6 / int(reqs))
    rps[case, name].append(int(reqs) / duration)
print("| case | server | requests/s (median) | CPU µs/request (median) |")
print("|---|---|---|---|")
for case in dict.fromkeys(c for c, _ in cpu):
    for name in order:
        print(f"| {case} | {name} | {statistics.median(rps[case, name]):,.0f} | {statistics.median(cpu[case, name]):.3f} |")
EOF
