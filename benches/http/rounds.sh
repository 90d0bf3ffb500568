#!/usr/bin/env bash
# Interleaved rounds of oc, may_minihttp and the floor on the TechEmpower plaintext and json
# shapes (../shared/peers/run.sh, one worker pinned to core 0, wrk on core 1), then the
# ratios of oc to may_minihttp round by round: this machine drifts between minutes, so only
# servers measured in the same round compare.
#
#   benches/http/rounds.sh [ROUNDS] [OC_BINARY]
#
# Needs the peers built (cd ../shared/peers && ./build.sh) and wrk.
set -eu
rounds=${1:-7}
here=$(cd "$(dirname "$0")" && pwd)
oc=$(realpath "${2:-$here/../../target/release/examples/hello_http}")
peers=$(realpath "$here/../../../shared/peers")
built=${PEERS_TARGET:-${TMPDIR:-/tmp}/oc-peers}
csv=$(mktemp)
for round in $(seq "$rounds"); do
  for server in "oc $oc" "may_minihttp $built/may-minihttp/release/peer-may-minihttp" "floor $built/floor/release/peer-floor"; do
    set -- $server
    (cd "$peers" && PIN=1 WORKERS=1 DURATION=${DURATION:-5} WARMUP=${WARMUP:-2} OUTCSV=$csv ./run.sh "$1" 18500 -- "$2" > /dev/null 2>&1)
  done
  echo "round $round done" >&2
done
python3 "$here/rounds.py" "$csv"
rm -f "$csv"
