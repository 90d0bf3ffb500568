#!/usr/bin/env bash
# User-space instructions per request of an HTTP server, under callgrind: the difference
# between a run of 250 and one of 50 rounds ($CONNS connections, 4 by default, x $DEPTH
# pipelined requests each, 16 by default), divided by the extra requests, so start-up cost
# cancels out.
#
#   benches/http/callgrind.sh SERVER_BINARY [PATH]
#   DEPTH=1 benches/http/callgrind.sh SERVER_BINARY /json
#   CACHE=1 CONNS=256 DEPTH=1 benches/http/callgrind.sh SERVER_BINARY /json
#
# CACHE=1 also simulates the caches (a 32 KiB 8-way L1 and, as the last level, a 1 MiB
# 16-way cache, the L2 of the processors we measure on; LL=size,ways,line changes it) and
# prints the data misses per request: with many connections, the lines each request finds
# cold because the other connections' requests ran since (the kernel's own accesses are not
# simulated). Each round sends on every connection before reading any answer.
#
# The server takes its port as its first argument (and $PORT), its workers from $WORKERS
# (the convention of ../shared/peers). oc runs on its epoll backend: valgrind does not
# support io_uring. Needs valgrind and python3. KEEP=1 keeps the callgrind files (for
# callgrind_annotate). PORT_CALLGRIND picks the port (18180).
set -eu
bin=$1
path=${2:-/plaintext}
depth=${DEPTH:-16}
export DEPTH=$depth
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp -d)
port=${PORT_CALLGRIND:-18180}
conns=${CONNS:-4}
cache=()
if [ -n "${CACHE:-}" ]; then
  cache=(--cache-sim=yes --I1=32768,8,64 --D1=32768,8,64 "--LL=${LL:-1048576,16,64}")
fi
# Prints the sums of the summary line (Ir first; with CACHE, the misses after it).
count() {
  OC_IO_BACKEND=epoll PORT=$port WORKERS=1 valgrind --tool=callgrind "${cache[@]}" --callgrind-out-file="$out/cg.$1" \
    "$bin" $port > "$out/server.$1.log" 2>&1 &
  local pid=$!
  for _ in $(seq 200); do
    (echo > /dev/tcp/127.0.0.1/$port) 2> /dev/null && break
    sleep 0.2
  done
  python3 "$here/pipeline_client.py" $port "$conns" "$1" "$path"
  kill -TERM $pid
  wait $pid || true
  awk '/^summary:/ {for (i = 2; i <= NF; i++) s[i] += $i; n = NF} END {for (i = 2; i <= n; i++) printf "%d ", s[i]; print ""}' "$out"/cg.$1*
}
read -r -a small <<< "$(count 50)"
read -r -a large <<< "$(count 250)"
requests=$((200 * conns * depth))
echo "$bin: $(( (large[0] - small[0]) / requests )) instructions per request (user space)"
if [ -n "${CACHE:-}" ]; then
  # The events: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw.
  per() { awk -v d=$(( large[$1] - small[$1] )) -v n=$requests 'BEGIN {printf "%.1f", d / n}'; }
  echo "  data misses per request: L1 $(per 4) read, $(per 5) write; last level $(per 7) read, $(per 8) write"
fi
if [ -n "${KEEP:-}" ]; then echo "callgrind output kept in $out"; else rm -rf "$out"; fi
