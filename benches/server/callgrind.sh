#!/usr/bin/env bash
# User-space instructions per request of oc-server under callgrind, access log off and on:
# the difference between a run of 250 and one of 50 rounds (4 connections x $DEPTH requests
# each), divided by the extra requests, so that start-up cost cancels out. Repeatable on a
# loaded machine, unlike CPU time (the kernel's share, the log's write(2) of 64 KiB at a time
# included, is not counted).
#
#   bash benches/server/callgrind.sh                  # GET /plaintext (a fixed route)
#   bash benches/server/callgrind.sh /1k.bin          # a 1 KiB static file
#
# Runs on the epoll backend (valgrind does not support io_uring). Needs valgrind, python3.
set -eu
cd "$(dirname "$0")/../.."
path=${1:-/plaintext}
export DEPTH=${DEPTH:-1}
command -v valgrind >/dev/null || { apt-get update -qq >/dev/null && apt-get install -y -qq valgrind >/dev/null; }
cargo build --release -p oc-server >&2
out=$(mktemp -d)
[ -n "${KEEP:-}" ] && echo "callgrind output in $out" >&2 || trap 'rm -rf "$out"' EXIT
mkdir -p "$out/www"
head -c 1024 /dev/zero >"$out/www/1k.bin"
port=18280
count() { # $1 rounds, $2 access log true|false
  cat >"$out/oc.json" <<JSON
{ "runtime": { "workers": 1, "io_backend": "epoll" }, "listeners": [{ "address": "127.0.0.1:$port" }],
  "logging": { "level": "warn", "access_log": $2 },
  "routes": [ { "kind": "fixed", "path": "/plaintext", "body": "Hello, World!" },
              { "kind": "static", "path": "/", "root": "$out/www" } ] }
JSON
  valgrind --tool=callgrind --callgrind-out-file="$out/cg.$1.$2" \
    target/release/oc-server --config "$out/oc.json" >"$out/access.$1.$2" 2>"$out/server.$1.$2" &
  local pid=$!
  for _ in $(seq 300); do
    (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
    sleep 0.2
  done
  python3 benches/http/pipeline_client.py $port 4 "$1" "$path" >/dev/null
  kill -TERM $pid
  wait $pid || true
  awk '/^summary:/ {s += $2} END {print s}' "$out"/cg.$1.$2*
}
for log in false true; do
  small=$(count 50 $log)
  large=$(count 250 $log)
  echo "oc-server $path, access log $log: $(( (large - small) / (200 * 4 * DEPTH) )) instructions per request (user space)"
done
