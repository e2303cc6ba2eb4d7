#!/usr/bin/env bash
# Offline release dry run for release engineers (NOT run by CI: it compiles
# goreleaser on first use, which takes several minutes).
#
#   scripts/release-check.sh
#
# 1. Installs goreleaser v2.16.0 into ${XDG_CACHE_HOME:-$HOME/.cache}/stella-export/bin
#    if it is not there yet (override the directory with GORELEASER_BIN_DIR).
#    Later goreleaser versions need a newer Go than this repo uses.
# 2. Installs gcc-aarch64-linux-gnu with apt if missing and running as root;
#    otherwise prints the apt command and exits 2.
# 3. Runs `goreleaser check` and `goreleaser release --snapshot --clean
#    --skip=publish` (output in dist/, git-ignored), then checks with `file`
#    that both linux binaries are statically linked for the right CPU.
#
# Exit codes: 0 ok, 1 a check failed, 2 missing prerequisite.
set -euo pipefail

cd "$(dirname "$0")/.."

goreleaser_version=v2.16.0
bin_dir=${GORELEASER_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/stella-export/bin}
goreleaser=$bin_dir/goreleaser

die() { echo "release-check: $*" >&2; exit 1; }

command -v go >/dev/null 2>&1 || { echo "release-check: go not found in PATH" >&2; exit 2; }
command -v git >/dev/null 2>&1 || { echo "release-check: git not found in PATH" >&2; exit 2; }
command -v file >/dev/null 2>&1 || { echo "release-check: 'file' not found; apt-get install -y file" >&2; exit 2; }

# --- goreleaser -------------------------------------------------------------
have_version=""
if [ -x "$goreleaser" ]; then
	have_version=$("$goreleaser" --version 2>/dev/null | sed -n 's/^GitVersion: *v\{0,1\}//p' || true)
fi
if [ "$have_version" != "${goreleaser_version#v}" ]; then
	echo "release-check: installing goreleaser $goreleaser_version into $bin_dir (takes a few minutes)" >&2
	mkdir -p "$bin_dir"
	GOBIN=$bin_dir go install "github.com/goreleaser/goreleaser/v2@$goreleaser_version"
fi
"$goreleaser" --version 2>/dev/null | sed -n 's/^GitVersion: */goreleaser /p'

# --- C cross compiler -------------------------------------------------------
if ! command -v aarch64-linux-gnu-gcc >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "release-check: installing gcc-aarch64-linux-gnu" >&2
		apt-get update
		DEBIAN_FRONTEND=noninteractive apt-get install -y gcc-aarch64-linux-gnu
	else
		echo "release-check: aarch64-linux-gnu-gcc not found; install it with:" >&2
		echo "  sudo apt-get install -y gcc-aarch64-linux-gnu" >&2
		exit 2
	fi
fi
command -v gcc >/dev/null 2>&1 || { echo "release-check: gcc not found; apt-get install -y gcc libc6-dev" >&2; exit 2; }

# --- goreleaser run ---------------------------------------------------------
git rev-parse --verify -q HEAD >/dev/null || die "goreleaser needs a git repository with at least one commit"

# Without a git remote, goreleaser (snapshot mode) drops ALL git info and uses
# commit "none" and a zero commit date, so mod_timestamp and the archive mtimes
# fall back to "now" and the output is not reproducible. Give it a remote URL
# through the environment only (nothing is written to .git/config).
if ! git ls-remote --get-url >/dev/null 2>&1 && [ -z "${GIT_CONFIG_COUNT:-}" ]; then
	export GIT_CONFIG_COUNT=1
	export GIT_CONFIG_KEY_0=remote.origin.url
	export GIT_CONFIG_VALUE_0=https://github.com/stella-ops/stella-export.git
fi

"$goreleaser" check
"$goreleaser" release --snapshot --clean --skip=publish

# --- verify the artifacts ---------------------------------------------------
status=0
for arch in amd64 arm64; do
	case "$arch" in
	amd64) want='x86-64' ;;
	arm64) want='ARM aarch64' ;;
	esac
	# goreleaser names build dirs <id>_<os>_<arch>[_<variant>], e.g. stella-export_linux_amd64_v1.
	bins=(dist/stella-export_linux_"$arch"*/stella-export)
	if [ ! -f "${bins[0]}" ]; then
		echo "release-check: no linux/$arch binary in dist/" >&2
		status=1
		continue
	fi
	for b in "${bins[@]}"; do
		info=$(file -b "$b")
		echo "$b: $info"
		case "$info" in
		*"statically linked"*|*"static-pie linked"*) ;;
		*) echo "release-check: $b is NOT statically linked" >&2; status=1 ;;
		esac
		case "$info" in
		*"$want"*) ;;
		*) echo "release-check: $b is not a $want binary" >&2; status=1 ;;
		esac
	done
	archives=(dist/stella-export_*_linux_"$arch".tar.gz)
	if [ -f "${archives[0]}" ]; then
		echo "${archives[0]}"
	else
		echo "release-check: no linux/$arch archive in dist/" >&2
		status=1
	fi
done
[ -f dist/checksums.txt ] || { echo "release-check: dist/checksums.txt missing" >&2; status=1; }
if [ -f dist/checksums.txt ]; then
	(cd dist && sha256sum -c checksums.txt) || status=1
fi

if [ "$status" = 0 ]; then
	echo "release-check: OK (artifacts in dist/; remove with rm -rf dist)"
fi
exit "$status"
