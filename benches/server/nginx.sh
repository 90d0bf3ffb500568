#!/usr/bin/env bash
# oc-server against nginx, side by side in one run, same worker count: a 1 KiB and a 1 MiB
# static file, and /plaintext through each one's reverse proxy to the same upstream; first
# with the access log off in both, then on in both (each to a file). Prints requests/s and the
# server's CPU time per request (user + system of all its processes, from /proc, over the
# measured run), as a Markdown table.
#
#   bash benches/server/nginx.sh                 # 1 worker each, 10 s per run
#   WORKERS=2 DURATION=15 CONNECTIONS=128 bash benches/server/nginx.sh
#   ROUNDS=3 DURATION=5 bash benches/server/nginx.sh
#
# With ROUNDS=N (default 1) every case is measured N times, the two servers taking turns
# to go first from one round to the next, and the table gives the medians with each
# figure's range: one run moves by 5-10% on a shared 2-CPU machine.
#
# Needs wrk and nginx (installed with apt-get if missing; root).
set -euo pipefail
cd "$(dirname "$0")/../.."

WORKERS=${WORKERS:-1}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
WRK_THREADS=${WRK_THREADS:-1}
OC_PORT=18080
NGINX_PORT=18081
UPSTREAM_PORT=18090

. benches/server/common.sh
need wrk wrk
need nginx nginx
NGINX=$(command -v nginx)

cargo build --release -p oc-server >&2
OC=target/release/oc-server

scratch nginx

mkdir -p "$work/www" "$work/nginx"
head -c 1024 /dev/urandom >"$work/www/1k.bin"
head -c $((1024 * 1024)) /dev/urandom >"$work/www/1m.bin"
# nginx's workers run as an unprivileged user: they must be able to read the files.
chmod -R a+rX "$work"

# The upstream both proxies use.
start_upstream "$OC" $UPSTREAM_PORT

oc_config() { # $1: access log true|false
  cat >"$work/oc.json" <<EOF
{ "runtime": { "workers": $WORKERS }, "listeners": [{ "address": "127.0.0.1:$OC_PORT" }],
  "logging": { "level": "warn", "access_log": $1 },
  "routes": [
    { "kind": "proxy", "path": "/plaintext", "upstreams": ["127.0.0.1:$UPSTREAM_PORT"] },
    { "kind": "static", "path": "/", "root": "$work/www" } ] }
EOF
}

nginx_config() { # $1: access log on|off
  local log=off
  [ "$1" = on ] && log=$work/nginx/access.log
  nginx_conf "$work/nginx" "$WORKERS" $NGINX_PORT $UPSTREAM_PORT "$work/www" "$log"
}

# CPU ticks (user + system) of a process and its children that are alive.
ticks() {
  local total=0 p
  for p in "$@" $(pgrep -P "$1" 2>/dev/null || true); do
    [ -r "/proc/$p/stat" ] || continue
    # Fields 14 and 15 (utime, stime) after the command name in parentheses.
    total=$((total + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
  done
  echo "$total"
}

HZ=$(getconf CLK_TCK)

ROUNDS=${ROUNDS:-1}
results=$work/results

measure() { # $1 server name, $2 pid, $3 url, $4 label, $5 log
  local url=$3 out before after reqs rps cpu_us
  wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d1s "$url" >/dev/null # warm-up
  before=$(ticks "$2")
  out=$(wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${DURATION}s" "$url")
  after=$(ticks "$2")
  reqs=$(echo "$out" | awk '/requests in/ {print $1}')
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  errors=$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}' | tr '\n' ' ')
  cpu_us=$(awk -v t=$((after - before)) -v hz="$HZ" -v n="$reqs" 'BEGIN { printf "%.2f", t / hz * 1e6 / n }')
  # One line per measurement: label, log, server, req/s, CPU, errors (tab-separated).
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$4" "$5" "$1" "$rps" "$cpu_us" "${errors:-}" >>"$results"
  echo "$4 / log $5 / $1: $rps req/s, $cpu_us us CPU per request $errors" >&2
}

wait_port $UPSTREAM_PORT
for log in off on; do
  flag=false
  [ $log = on ] && flag=true
  oc_config $flag
  "$OC" --config "$work/oc.json" >"$work/oc-access.log" 2>"$work/oc.err" &
  oc_pid=$!
  pids+=($oc_pid)
  nginx_config $log
  "$NGINX" -c "$work/nginx/nginx.conf" -p "$work/nginx" &
  nginx_pid=$!
  pids+=($nginx_pid)
  wait_port $OC_PORT
  wait_port $NGINX_PORT
  # The ports answer: make sure it is these processes (not some left from another run).
  kill -0 $oc_pid && kill -0 $nginx_pid || { cat "$work/oc.err" "$work/nginx/error.log" >&2; exit 1; }
  for round in $(seq "$ROUNDS"); do
    for case in "1k.bin:1 KiB static" "1m.bin:1 MiB static" "plaintext:proxy /plaintext"; do
      path=${case%%:*}
      label=${case#*:}
      if [ $((round % 2)) = 1 ]; then
        measure oc-server $oc_pid "http://127.0.0.1:$OC_PORT/$path" "$label" $log
        measure nginx $nginx_pid "http://127.0.0.1:$NGINX_PORT/$path" "$label" $log
      else
        measure nginx $nginx_pid "http://127.0.0.1:$NGINX_PORT/$path" "$label" $log
        measure oc-server $oc_pid "http://127.0.0.1:$OC_PORT/$path" "$label" $log
      fi
    done
  done
  kill $oc_pid $nginx_pid
  wait $oc_pid $nginx_pid 2>/dev/null || true
done

echo
echo "$(lscpu | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print $2}'), $(nproc) CPUs; $WORKERS worker(s) each;" \
  "wrk -t$WRK_THREADS -c$CONNECTIONS -d${DURATION}s; $ROUNDS round(s); nginx $($NGINX -v 2>&1 | sed 's/.*\///')"
echo
python3 - "$results" "$ROUNDS" <<'PYEOF2'
import statistics, sys
rows, rounds = {}, int(sys.argv[2])
for line in open(sys.argv[1]):
    label, log, server, rps, cpu, errors = line.rstrip("\n").split("\t")
    r = rows.setdefault((label, log, server), {"rps": [], "cpu": [], "errors": []})
    r["rps"].append(float(rps))
    r["cpu"].append(float(cpu))
    if errors.strip():
        r["errors"].append(errors.strip())
def fig(values, fmt):
    text = fmt.format(statistics.median(values))
    return text + (f" ({fmt.format(min(values))}-{fmt.format(max(values))})" if rounds > 1 else "")
head = "median (range)" if rounds > 1 else "one run"
print(f"| case | access log | server | requests/s, {head} | CPU µs/request, {head} | errors |")
print("|---|---|---|---|---|---|")
for (label, log, server), r in rows.items():
    print(f"| {label} | {log} | {server} | {fig(r['rps'], '{:,.0f}')} | {fig(r['cpu'], '{:.2f}')} | {'; '.join(r['errors'])} |")
PYEOF2
