#!/usr/bin/env bash
# Builds the anchor: FrameworkBenchmarks' own `frameworks/Rust/may-minihttp` entry, outside this
# repository, from fetched copies of TechEmpower/FrameworkBenchmarks and Xudong-Huang/may_postgres.
#
#   TFB_GIT=/path/to/FrameworkBenchmarks.git MAY_POSTGRES_GIT=/path/to/may_postgres.git \
#     benches/techempower/scripts/build-anchor.sh [OUT_DIR]
#
# Both variables name git directories (bare or not); the defaults are the mirrors under
# /work/.mirror. The entry's `may_postgres` git dependency is replaced, through a `[patch]`
# with a path, by the pinned revision taken from MAY_POSTGRES_GIT. The entry connects to the
# host `tfb-database`: an /etc/hosts line maps it to 127.0.0.1 (added when missing, which
# needs root). The binary ends up at OUT_DIR/may-minihttp/target/release/may-minihttp
# (default OUT_DIR: /tmp/oc-techempower-anchor). Built with `-C target-cpu=native`, as the
# entry's dockerfile does.
set -euo pipefail

TFB_GIT=${TFB_GIT:-/work/.mirror/TechEmpower+FrameworkBenchmarks/repo}
MAY_POSTGRES_GIT=${MAY_POSTGRES_GIT:-/work/.mirror/Xudong-Huang+may_postgres/repo}
TFB_REV=${TFB_REV:-HEAD}
OUT=${1:-/tmp/oc-techempower-anchor}

for g in "$TFB_GIT" "$MAY_POSTGRES_GIT"; do
  git --git-dir="$g" rev-parse --verify -q HEAD >/dev/null || { echo "not a git directory: $g" >&2; exit 1; }
done

mkdir -p "$OUT"
entry="$OUT/may-minihttp"
rm -rf "$entry.new"
mkdir -p "$entry.new"
git --git-dir="$TFB_GIT" archive "$TFB_REV:frameworks/Rust/may-minihttp" | tar -x -C "$entry.new"

# The revision the entry pins (`rev = "..."` on its may_postgres line).
rev=$(sed -n 's/^may_postgres *=.*rev *= *"\([0-9a-f]*\)".*/\1/p' "$entry.new/Cargo.toml")
[ -n "$rev" ] || { echo "cannot find the pinned may_postgres revision in the entry's Cargo.toml" >&2; exit 1; }
full_rev=$(git --git-dir="$MAY_POSTGRES_GIT" rev-parse --verify "$rev^{commit}") \
  || { echo "may_postgres revision $rev is not in $MAY_POSTGRES_GIT" >&2; exit 1; }
mkdir -p "$entry.new/.patched/may_postgres"
git --git-dir="$MAY_POSTGRES_GIT" archive "$full_rev" | tar -x -C "$entry.new/.patched/may_postgres"
cat >> "$entry.new/Cargo.toml" <<TOML

# Added by oc's build-anchor.sh: the pinned git dependency, from a local copy.
[patch."https://github.com/Xudong-Huang/may_postgres.git"]
may_postgres = { path = ".patched/may_postgres" }
TOML

# Keep the previous target directory (incremental rebuilds), replace the sources.
if [ -d "$entry/target" ]; then mv "$entry/target" "$entry.new/target"; fi
rm -rf "$entry"
mv "$entry.new" "$entry"

if ! getent hosts tfb-database >/dev/null; then
  if [ -w /etc/hosts ]; then
    echo "127.0.0.1 tfb-database" >> /etc/hosts
    echo "added '127.0.0.1 tfb-database' to /etc/hosts"
  else
    echo "warning: tfb-database does not resolve and /etc/hosts is not writable: add '127.0.0.1 tfb-database'" >&2
  fi
fi

echo "building may-minihttp (may_postgres $full_rev) in $entry"
(cd "$entry" && RUSTFLAGS="-C target-cpu=native" cargo build --release)
echo "anchor: $entry/target/release/may-minihttp"
