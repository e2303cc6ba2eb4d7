#!/usr/bin/env bash
# trivy.sh: build the pinned real Trivy CLI the Trivy DB interop tests run
# against, from the Go module proxy, into the cache scripts/cosign.sh uses:
#
#   ${STELLA_EXPORT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/stella-export}/trivy/<version>/trivy
#
# Trivy's module builds like its release (goreleaser.yml): CGO off, the jsonv2
# experiment on, the version stamped into pkg/version/app.ver. A cold build
# (empty module and build caches) took 11m43s on two shared cores, one
# compile peaking at 3.3 GB of memory, and leaves 2.4 GB in Go's build cache;
# a warm cache returns at once. A lock (flock) keeps two runs from building at once; the binary
# appears in the cache only when complete (rename). Prints one "version path"
# line on stdout.
#
#   bash scripts/trivy.sh             build (or reuse) the pinned version
#   bash scripts/trivy.sh v0.74.0     only that one
set -euo pipefail

# Pinned versions: module path and version. Change them here only.
pins=(
  "github.com/aquasecurity/trivy v0.74.0"
)

# The temp dir and the partial binary of the build under way, removed however
# the script ends (a signal exits through the EXIT trap).
work="" partial=""
cleanup() {
  if [ -n "$work" ]; then chmod -R u+w "$work" 2>/dev/null || true; rm -rf "$work"; fi
  if [ -n "$partial" ]; then rm -f "$partial"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cache="${STELLA_EXPORT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/stella-export}/trivy"
want="${1:-}"

# cached VERSION DEST: DEST/trivy exists and says it is VERSION.
cached() {
  local out
  [ -x "$2/trivy" ] && out=$("$2/trivy" --version 2>/dev/null) && grep -qx "Version: ${1#v}" <<<"$out"
}

build() {
  local mod="$1" ver="$2" dest="$cache/$2"
  if cached "$ver" "$dest"; then
    echo "$ver $dest/trivy"
    return 0
  fi
  mkdir -p "$dest"
  # One build at a time per version; whoever waited finds the binary done.
  exec 9>"$dest/.lock"
  if ! flock -n 9; then
    echo "trivy.sh: another build of $mod@$ver is running; waiting for it" >&2
    flock 9
  fi
  if cached "$ver" "$dest"; then
    exec 9>&-
    echo "$ver $dest/trivy"
    return 0
  fi
  work=$(mktemp -d "${TMPDIR:-/tmp}/stella-trivy.XXXXXX")
  partial="$dest/trivy.tmp"
  echo "trivy.sh: building $mod@$ver (cold builds take ~15 minutes and ~3 GB of memory)" >&2
  local dir
  dir=$(GOFLAGS=-mod=mod go mod download -json "$mod@$ver" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  if [ -z "$dir" ] || [ ! -d "$dir" ]; then
    echo "trivy.sh: go mod download $mod@$ver gave no module directory" >&2
    return 1
  fi
  cp -r "$dir" "$work/src"
  chmod -R u+w "$work/src"
  (
    cd "$work/src"
    GOFLAGS=-mod=mod CGO_ENABLED=0 GOEXPERIMENT=jsonv2 GOWORK=off go build -trimpath \
      -ldflags "-s -w -X github.com/aquasecurity/trivy/pkg/version/app.ver=${ver#v}" \
      -o "$partial" ./cmd/trivy
  )
  local got
  got=$("$partial" --version 2>&1 || true)
  if ! grep -qx "Version: ${ver#v}" <<<"$got"; then
    echo "trivy.sh: the built binary does not say it is version ${ver#v}: $got" >&2
    return 1
  fi
  mv -f "$partial" "$dest/trivy"
  exec 9>&-
  cleanup
  work="" partial=""
  echo "$ver $dest/trivy"
}

found=""
for pin in "${pins[@]}"; do
  read -r mod ver <<<"$pin"
  if [ -n "$want" ] && [ "$want" != "$ver" ]; then continue; fi
  found=1
  build "$mod" "$ver"
done
if [ -z "$found" ]; then
  echo "trivy.sh: $want is not a pinned version (pinned: $(printf '%s\n' "${pins[@]}" | awk '{print $2}' | paste -sd ' '))" >&2
  exit 2
fi
