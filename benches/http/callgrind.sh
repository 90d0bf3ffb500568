#!/usr/bin/env bash
# User-space instructions per request of an HTTP server, under callgrind: the difference
# between a run of 250 and one of 50 rounds (4 connections x $DEPTH pipelined requests each,
# 16 by default), divided by the extra requests, so start-up cost cancels out.
#
#   benches/http/callgrind.sh SERVER_BINARY [PATH]
#   DEPTH=1 benches/http/callgrind.sh SERVER_BINARY /json
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
count() {
  OC_IO_BACKEND=epoll PORT=$port WORKERS=1 valgrind --tool=callgrind --callgrind-out-file="$out/cg.$1" \
    "$bin" $port > "$out/server.$1.log" 2>&1 &
  local pid=$!
  for _ in $(seq 200); do
    (echo > /dev/tcp/127.0.0.1/$port) 2> /dev/null && break
    sleep 0.2
  done
  python3 "$here/pipeline_client.py" $port 4 "$1" "$path"
  kill -TERM $pid
  wait $pid || true
  awk '/^summary:/ {s += $2} END {print s}' "$out"/cg.$1*
}
small=$(count 50)
large=$(count 250)
echo "$bin: $(( (large - small) / (200 * 4 * depth) )) instructions per request (user space)"
if [ -n "${KEEP:-}" ]; then echo "callgrind output kept in $out"; else rm -rf "$out"; fi
