#!/usr/bin/env bash
# duckdb.sh: install the pinned DuckDB Node.js client (@duckdb/node-api, from
# the npm registry) that the dataset interop tests read our Parquet, CSV and
# JSON lines files with, into a cache that survives between runs:
#
#   ${STELLA_EXPORT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/stella-export}/duckdb/<version>/node_modules
#
# DuckDB is an independent reader: its Parquet, CSV and JSON readers share no
# code with ours. A cold install downloads about 60 MB; a warm cache returns
# at once. Prints "version directory" on stdout; the tests take the directory
# from STELLA_EXPORT_DUCKDB (NODE_PATH-style: the folder holding node_modules).
#
#   bash scripts/duckdb.sh
set -euo pipefail

# Pinned version. Change it here only.
ver="1.5.6-r.1"

cache="${STELLA_EXPORT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/stella-export}/duckdb"
dest="$cache/$ver"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "duckdb.sh: node and npm are needed (apt-get install nodejs npm)" >&2
  exit 1
fi

check() {
  (cd "$dest" && node -e 'require("@duckdb/node-api")' >/dev/null 2>&1)
}

if [ -d "$dest/node_modules/@duckdb/node-api" ] && check; then
  echo "$ver $dest"
  exit 0
fi

mkdir -p "$cache"
work=$(mktemp -d "$cache/.install.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "duckdb.sh: installing @duckdb/node-api@$ver (about 60 MB)" >&2
printf '{"name":"stella-export-duckdb","private":true}\n' >"$work/package.json"
npm install --prefix "$work" --no-audit --no-fund --loglevel=error "@duckdb/node-api@$ver" >&2
rm -rf "$dest"
mv "$work" "$dest"
trap - EXIT
if ! check; then
  echo "duckdb.sh: @duckdb/node-api@$ver installed in $dest but does not load" >&2
  exit 1
fi
echo "$ver $dest"
