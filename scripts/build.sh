#!/usr/bin/env bash
# Build a fully static stella-export binary with the version stamped in.
#
#   scripts/build.sh [-o PATH] [-v VERSION] [--arch amd64|arm64]
#
#   -o PATH          output path, relative to the current directory
#                    (default: bin/stella-export in the repo root)
#   -v VERSION       version to stamp (default: git describe --tags --always --dirty,
#                    else 0.0.0-dev)
#   --arch ARCH      amd64 (default) or arm64; arm64 cross-compiles with
#                    aarch64-linux-gnu-gcc (apt-get install -y gcc-aarch64-linux-gnu)
#
# cgo stays on (CGO_ENABLED=1) and the link is static (-extldflags '-static') so
# the recipe does not change when mattn/go-sqlite3 is linked in later.
# Exit codes: 0 ok, 1 build failed or binary not static, 2 usage or missing toolchain.
set -euo pipefail

caller_pwd=$PWD
cd "$(dirname "$0")/.."

usage() {
	sed -n '2,15s/^# \{0,1\}//p' "$0" >&2
	exit "${1:-2}"
}

out=bin/stella-export
out_given=0
version=""
arch=amd64

while [ $# -gt 0 ]; do
	case "$1" in
	-o) [ $# -ge 2 ] || usage; out=$2; shift 2; out_given=1 ;;
	-o=*|--out=*) out=${1#*=}; shift; out_given=1 ;;
	-v) [ $# -ge 2 ] || usage; version=$2; shift 2 ;;
	-v=*|--version=*) version=${1#*=}; shift ;;
	--arch) [ $# -ge 2 ] || usage; arch=$2; shift 2 ;;
	--arch=*) arch=${1#*=}; shift ;;
	-h|--help) usage 0 ;;
	*) echo "build.sh: unknown argument: $1" >&2; usage ;;
	esac
done

# An explicit relative -o is relative to where the script was run from.
if [ "$out_given" = 1 ] && [ "${out#/}" = "$out" ]; then
	out=$caller_pwd/$out
fi

if [ -z "$version" ]; then
	version=$(git describe --tags --always --dirty 2>/dev/null || true)
	[ -n "$version" ] || version=0.0.0-dev
fi

case "$arch" in
amd64)
	cc=${CC:-gcc}
	file_arch='x86-64'
	;;
arm64)
	cc=aarch64-linux-gnu-gcc
	file_arch='ARM aarch64'
	;;
*)
	echo "build.sh: unsupported --arch '$arch' (want amd64 or arm64)" >&2
	exit 2
	;;
esac

if ! command -v "$cc" >/dev/null 2>&1; then
	echo "build.sh: C compiler '$cc' for linux/$arch not found; install it with:" >&2
	if [ "$arch" = arm64 ]; then
		echo "  apt-get install -y gcc-aarch64-linux-gnu" >&2
	else
		echo "  apt-get install -y gcc libc6-dev" >&2
	fi
	exit 2
fi
command -v file >/dev/null 2>&1 || { echo "build.sh: 'file' not found; install it with: apt-get install -y file" >&2; exit 2; }

mkdir -p "$(dirname "$out")"

pkg=github.com/stella-ops/stella-export/internal/version
echo "building stella-export $version for linux/$arch -> $out" >&2

errlog=$(mktemp)
trap 'rm -f "$errlog"' EXIT
if ! CGO_ENABLED=1 GOOS=linux GOARCH="$arch" CC="$cc" \
	go build -trimpath \
		-ldflags "-s -w -X $pkg.Version=$version -extldflags '-static'" \
		-tags 'osusergo netgo sqlite_omit_load_extension' \
		-o "$out" ./cmd/stella-export 2>"$errlog"; then
	cat "$errlog" >&2
	echo "build.sh: go build failed" >&2
	exit 1
fi
# Show anything the toolchain printed (linker warnings, e.g. getaddrinfo in
# static glibc binaries) so it cannot go unnoticed.
if [ -s "$errlog" ]; then
	echo "build.sh: build stderr (warnings):" >&2
	cat "$errlog" >&2
fi

info=$(file -b "$out")
case "$info" in
*"statically linked"*|*"static-pie linked"*) ;;
*)
	echo "build.sh: $out is NOT statically linked: $info" >&2
	exit 1
	;;
esac
case "$info" in
*"$file_arch"*) ;;
*)
	echo "build.sh: $out is not a $file_arch binary: $info" >&2
	exit 1
	;;
esac

echo "$out: $info"
