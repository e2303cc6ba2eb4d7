#!/usr/bin/env bash
# cosign.sh: build the pinned real cosign CLIs the signing interop tests run
# against, from the Go module proxy, into a cache that survives between runs:
#
#   ${STELLA_EXPORT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/stella-export}/cosign/<version>/cosign
#
# Auditors run both lines, so we test both: the current v3 and the last v2.
# A cold build takes about 12 minutes per version on two cores; a warm cache
# returns at once. Prints one "version path" line per binary on stdout.
#
#   bash scripts/cosign.sh            build (or reuse) every pinned version
#   bash scripts/cosign.sh v3.1.3     only that one
set -euo pipefail

# Pinned versions: module path and version. Change them here only.
pins=(
  "github.com/sigstore/cosign/v3 v3.1.3"
  "github.com/sigstore/cosign/v2 v2.6.5"
)

cache="${STELLA_EXPORT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/stella-export}/cosign"
want="${1:-}"

build() {
  local mod="$1" ver="$2" dest="$cache/$2"
  if [ -x "$dest/cosign" ] && "$dest/cosign" version 2>/dev/null | grep -q "${ver#v}"; then
    echo "$ver $dest/cosign"
    return 0
  fi
  local work
  work=$(mktemp -d "${TMPDIR:-/tmp}/stella-cosign.XXXXXX")
  trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' RETURN
  echo "cosign.sh: building $mod@$ver (cold builds take ~12 minutes)" >&2
  local dir
  dir=$(GOFLAGS=-mod=mod go mod download -json "$mod@$ver" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  if [ -z "$dir" ] || [ ! -d "$dir" ]; then
    echo "cosign.sh: go mod download $mod@$ver gave no module directory" >&2
    return 1
  fi
  cp -r "$dir" "$work/src"
  chmod -R u+w "$work/src"
  mkdir -p "$dest"
  (
    cd "$work/src"
    GOFLAGS=-mod=mod CGO_ENABLED=0 GOWORK=off go build -trimpath \
      -ldflags "-s -w -X sigs.k8s.io/release-utils/version.gitVersion=$ver" \
      -o "$dest/cosign.tmp" ./cmd/cosign
  )
  mv -f "$dest/cosign.tmp" "$dest/cosign"
  echo "$ver $dest/cosign"
}

for pin in "${pins[@]}"; do
  set -- $pin
  if [ -n "$want" ] && [ "$want" != "$2" ]; then continue; fi
  build "$1" "$2"
done
