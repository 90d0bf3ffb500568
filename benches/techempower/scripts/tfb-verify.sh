#!/usr/bin/env bash
# The FrameworkBenchmarks toolset's own verification of a running server, outside Docker:
# extracts toolset/ from a git directory of TechEmpower/FrameworkBenchmarks and runs
# tfb_verify.py with this entry's benchmark_config.json.
#
#   TFB_GIT=/path/to/FrameworkBenchmarks.git benches/techempower/scripts/tfb-verify.sh [--url URL] [--tests LIST]
#
# Installs what it needs when missing: siege (apt) and requests, colorama, psycopg2 (pip).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
TFB_GIT=${TFB_GIT:-/work/.mirror/TechEmpower+FrameworkBenchmarks/repo}
dir=${TFB_TOOLSET_DIR:-/tmp/oc-techempower-toolset}
if [ ! -d "$dir/toolset" ]; then
  mkdir -p "$dir"
  git --git-dir="$TFB_GIT" archive HEAD:toolset | (mkdir -p "$dir/toolset" && tar -x -C "$dir/toolset")
fi
command -v siege >/dev/null || apt-get install -y -qq siege >/dev/null
python3 -c 'import requests, colorama, psycopg2' 2>/dev/null \
  || pip install -q --break-system-packages requests colorama psycopg2-binary
exec python3 "$here/tfb_verify.py" --toolset "$dir" "$@"
