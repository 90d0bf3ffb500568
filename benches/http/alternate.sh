#!/usr/bin/env bash
# Servers measured one at a time, alternating, in the official shape: each run is
# ../shared/peers/run.sh with PIN=1 (the server alone on core 0 with one worker, wrk on core
# 1; plaintext pipelined 16 deep over 256 connections, then json over 128). Round r runs every
# server once, in the order given. Prints, per server and test, the median CPU per request,
# requests/s, and the ratio of CPU per request to the first server's within each round.
#
#   benches/http/alternate.sh ROUNDS NAME=SERVER_BINARY...
#   benches/http/alternate.sh 8 oc=target/release/examples/hello_http \
#       may_minihttp=${TMPDIR:-/tmp}/oc-peers/may-minihttp/release/peer-may-minihttp
#
# DURATION (5) and WARMUP (2) seconds per test are passed to run.sh. Needs wrk and python3.
set -eu
rounds=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
run=$here/../../../shared/peers/run.sh
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for round in $(seq "$rounds"); do
  for server in "$@"; do
    PIN=1 WORKERS=1 DURATION=${DURATION:-5} WARMUP=${WARMUP:-2} \
      "$run" "${server%%=*}" "${BASE_PORT:-18090}" -- "${server#*=}" 2> /dev/null |
      grep '^RESULT' | sed "s/^/$round,/" >> "$out" || echo "round $round: ${server%%=*} failed" >&2
    sleep 1
  done
done
python3 - "$out" <<'PY'
import statistics, sys
# round,RESULT,name,mode,pt_rps,pt_p99,json_rps,json_p99,vmhwm_kb,pt_srv_cpu%,json_srv_cpu%,...
runs, order = {}, []
for line in open(sys.argv[1]):
    f = line.strip().split(",")
    if len(f) < 11:
        continue
    name = f[2]
    if name not in order:
        order.append(name)
    pt = float(f[9]) / 100 / max(float(f[4]), 1) * 1e6
    js = float(f[10]) / 100 / max(float(f[6]), 1) * 1e6
    runs.setdefault(name, {})[int(f[0])] = ((pt, float(f[4])), (js, float(f[6])))
base = runs[order[0]]
for test, k in (("plaintext", 0), ("json", 1)):
    for name in order:
        v = runs[name]
        rounds = sorted(r for r in v if r in base)
        ratios = [v[r][k][0] / base[r][k][0] for r in rounds]
        print(f"{test:9} {name:14} {statistics.median(x[k][0] for x in v.values()):7.3f} us/req"
              f" {statistics.median(x[k][1] for x in v.values()):>10,.0f} req/s  / {order[0]}: median"
              f" {statistics.median(ratios):.3f}, by round " + " ".join(f"{r:.2f}" for r in ratios))
PY
