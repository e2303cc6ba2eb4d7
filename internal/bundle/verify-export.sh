#!/bin/sh
# verify-export.sh - check a stella-export bundle offline (bundle format v1).
#
# What it checks
#   1. checksums.txt is well formed: line 1 is "root sha256:<64 lowercase hex>",
#      every other line is "<64 lowercase hex>  <path>" (sha256sum text format)
#      with a safe relative path (no absolute path, no "." / ".." / empty
#      component, no control character or backslash), sorted byte-wise,
#      no duplicates, LF line ends and a final LF.
#   2. Every listed file exists, is a regular file and has the listed SHA-256.
#   3. No file other than checksums.txt is present without being listed.
#   4. The Merkle root on line 1 equals the RFC 6962 Merkle Tree Hash of
#      lines 2..n of checksums.txt (each line without its LF is one leaf):
#        leaf = SHA-256(0x00 || line)
#        node = SHA-256(0x01 || left || right)
#        no leaves: SHA-256 of the empty string
#   5. Inner bundles (listed files ending in .tgz or .tar.gz) are checked with
#      "stella-export verify" when stella-export is on PATH; otherwise only by
#      their digest (step 2), and a NOTE line says so.
#
# How to run it
#   sh verify-export.sh             inside the extracted bundle directory
#                                   (or sh /path/to/bundle/verify-export.sh)
#   sh verify-export.sh bundle.tgz  extracts to a temporary directory first,
#                                   checks it there, then removes it
#   sh verify-export.sh DIR         checks the extracted bundle in DIR
# With no argument it checks the directory the script is in when that holds
# checksums.txt, else the current directory.
#
# Output (stdout): one line per problem, e.g. "FAILED <path>", "MISSING <path>",
# "EXTRA <path>", "ROOT MISMATCH: ...". The last line is
# "OK root sha256:<hex>" on success, or "FAILED ..." otherwise.
#
# Exit codes
#   0  everything holds
#   1  verification failed (a digest, a missing or extra file, the Merkle
#      root, an inner bundle, a malformed checksums.txt, an unreadable archive)
#   2  usage error, or a required tool is missing
#
# Needs only a POSIX sh, awk, cat, find, sort, od, tail, mktemp, mkdir, rm,
# tar (for the .tgz form), and sha256sum or "shasum -a 256". It never uses
# the network.

LC_ALL=C
export LC_ALL
unset CDPATH
umask 077

usage() {
	echo "usage: sh verify-export.sh [bundle.tgz | bundle-directory]"
	echo "  with no argument, checks the script's own directory if it holds"
	echo "  checksums.txt, else the current directory"
}

die() { # exit code, message
	echo "verify-export.sh: $2" >&2
	exit "$1"
}

# ---- arguments
ARCHIVE=
DIR=
if [ $# -gt 1 ]; then
	usage >&2
	exit 2
fi
if [ $# -eq 1 ]; then
	case $1 in
	-h | --help)
		usage
		exit 0
		;;
	-*)
		usage >&2
		exit 2
		;;
	esac
	if [ -d "$1" ]; then
		DIR=$1
	elif [ -f "$1" ]; then
		case $1 in
		*.tgz | *.tar.gz) ARCHIVE=$1 ;;
		*) die 2 "$1: not a .tgz or .tar.gz file" ;;
		esac
	else
		die 2 "$1: no such file or directory"
	fi
else
	case $0 in
	*/*) DIR=${0%/*} ;;
	*) DIR=. ;;
	esac
	[ -n "$DIR" ] || DIR=/
	[ -f "$DIR/checksums.txt" ] || DIR=.
fi

# ---- tools
for t in awk cat find sort od tail mktemp mkdir rm; do
	command -v "$t" >/dev/null 2>&1 || die 2 "required tool not found: $t"
done
if command -v sha256sum >/dev/null 2>&1; then
	SHA=sha256sum
elif command -v shasum >/dev/null 2>&1; then
	SHA="shasum -a 256"
else
	die 2 "required tool not found: sha256sum (or shasum)"
fi
if [ -n "$ARCHIVE" ]; then
	command -v tar >/dev/null 2>&1 || die 2 "required tool not found: tar"
fi

# ---- work directory, removed on exit
W=
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	if [ -n "$W" ]; then rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
W=$(mktemp -d) || die 2 "cannot create a temporary directory"
case $W in
/*) ;;
*) W=$(cd "$W" && pwd) || die 2 "cannot use the temporary directory" ;;
esac
mkdir "$W/m" "$W/x" || die 2 "cannot use the temporary directory"

if [ -n "$ARCHIVE" ]; then
	case $ARCHIVE in
	-*) ARCHIVE=./$ARCHIVE ;;
	esac
	if ! tar -xzf "$ARCHIVE" -C "$W/x"; then
		echo "FAILED cannot extract $ARCHIVE"
		exit 1
	fi
	DIR=$W/x
	if [ ! -f "$DIR/checksums.txt" ]; then
		# Accept an archive that wraps the bundle in one top-level directory.
		set -- "$W"/x/*
		if [ $# -eq 1 ] && [ -f "$1/checksums.txt" ]; then DIR=$1; fi
	fi
fi

case $DIR in
-*) DIR=./$DIR ;;
esac
cd "$DIR" || die 2 "cannot enter $DIR"

# hash_batch LIST: prints "<hex>  <name>" for every name in the file LIST (one
# per line), running the SHA-256 tool once per 256 names rather than per file.
hash_batch() {
	_list=$1
	set --
	while IFS= read -r _f; do
		set -- "$@" "$_f"
		if [ $# -ge 256 ]; then
			$SHA "$@" </dev/null 2>/dev/null
			set --
		fi
	done <"$_list"
	if [ $# -gt 0 ]; then
		$SHA "$@" </dev/null 2>/dev/null
	fi
	return 0
}

# ---- 1. checksums.txt format
if [ ! -f checksums.txt ]; then
	echo "MISSING checksums.txt"
	echo "FAILED no checksums.txt in $DIR"
	exit 1
fi
case $(tail -c 1 checksums.txt | od -An -tx1) in
*0a*) ;;
*)
	echo "MALFORMED checksums.txt: empty or no final LF"
	echo "FAILED checksums.txt is malformed"
	exit 1
	;;
esac
if ! awk '
function bad(why) {
	printf "MALFORMED checksums.txt line %d: %s: %s\n", NR, why, $0
	nbad++
}
NR == 1 {
	if (length($0) != 76 || substr($0, 1, 12) != "root sha256:" || substr($0, 13) !~ /^[0-9a-f]+$/)
		bad("want \"root sha256:<64 lowercase hex>\"")
	next
}
{
	if (length($0) < 67 || substr($0, 65, 2) != "  " || substr($0, 1, 64) !~ /^[0-9a-f]+$/) {
		bad("want \"<64 lowercase hex>  <path>\"")
		next
	}
	p = substr($0, 67)
	s = "/" p "/"
	if (p ~ /[\001-\037\177]/) bad("control character in path")
	else if (p ~ /\\/) bad("backslash in path")
	else if (p ~ /^\//) bad("absolute path")
	else if (s ~ /\/\.\.\//) bad("\"..\" component in path")
	else if (s ~ /\/\.?\//) bad("empty or \".\" component in path")
	else if (p == "checksums.txt") bad("checksums.txt lists itself")
	else if (have && !(prev < p)) bad("path duplicated or not in byte-wise order")
	prev = p
	have = 1
}
END { exit (nbad > 0) }
' checksums.txt; then
	echo "FAILED checksums.txt is malformed"
	exit 1
fi
IFS= read -r ROOTLINE <checksums.txt
STATED=${ROOTLINE#root sha256:}

# ---- 2. per-file state, Merkle leaf preimages
# status: one letter per listed file, in order (E exists, M missing, N not a
# regular file); files: "./<path>" of the regular files, for hash_batch;
# m/0.<i>: 0x00 followed by line i+1 of checksums.txt (leaf i of level 0).
N=0
{
	IFS= read -r _root
	while IFS= read -r _l; do
		N=$((N + 1))
		printf '\000%s' "$_l" >"$W/m/0.$N"
		printf '0.%s\n' "$N" >&4
		_p=${_l#*  }
		if [ -h "$_p" ]; then
			echo N
		elif [ -f "$_p" ]; then
			echo E
			printf './%s\n' "$_p" >&3
		elif [ -e "$_p" ]; then
			echo N
		else
			echo M
		fi
	done
} <checksums.txt >"$W/status" 3>"$W/files" 4>"$W/m/names" ||
	die 2 "cannot write to the temporary directory"

hash_batch "$W/files" >"$W/sums"
find . ! -type d -print | sort >"$W/present"

FAIL=0
awk '
f == 1 { got[substr($0, 67)] = substr($0, 1, 64); next }
f == 2 { if (FNR > 1) { n++; want[n] = substr($0, 1, 64); path[n] = substr($0, 67); listed["./" path[n]] = 1 }; next }
f == 3 { st[FNR] = $0; next }
f == 4 { if (!($0 in listed) && $0 != "./checksums.txt") extra[++ne] = substr($0, 3); next }
END {
	for (i = 1; i <= n; i++) {
		k = "./" path[i]
		if (st[i] == "M") { print "MISSING " path[i]; bad++ }
		else if (st[i] != "E") { print "FAILED " path[i] " (not a regular file)"; bad++ }
		else if (!(k in got)) { print "FAILED " path[i] " (unreadable)"; bad++ }
		else if (got[k] != want[i]) { print "FAILED " path[i]; bad++ }
	}
	for (i = 1; i <= ne; i++) { print "EXTRA " extra[i]; bad++ }
	exit (bad > 0)
}
' f=1 "$W/sums" f=2 checksums.txt f=3 "$W/status" f=4 "$W/present" || FAIL=1

# ---- 3. inner bundles
HAVE_SE=0
if command -v stella-export >/dev/null 2>&1; then HAVE_SE=1; fi
INNER=0
{
	IFS= read -r _root
	while IFS= read -r _l; do
		_p=${_l#*  }
		case $_p in
		*.tgz | *.tar.gz) ;;
		*) continue ;;
		esac
		INNER=$((INNER + 1))
		if [ "$HAVE_SE" = 1 ] && [ -f "$_p" ] && [ ! -h "$_p" ]; then
			stella-export verify "./$_p" </dev/null >&2
			_rc=$?
			if [ "$_rc" -ne 0 ]; then
				echo "FAILED $_p (stella-export verify exited $_rc)"
				FAIL=1
			fi
		fi
	done
} <checksums.txt
if [ "$INNER" -gt 0 ] && [ "$HAVE_SE" = 0 ]; then
	echo "NOTE $INNER inner bundle(s) checked by digest only: stella-export is not on PATH"
fi

# ---- 4. Merkle root
# Level 0 is the leaf preimages m/0.1 .. m/0.N. For each level, one batched
# SHA-256 run hashes its files; one awk then lists the level's hashes in order
# and pairs adjacent ones (left, right) into the next level's preimages
# 0x01 || left || right, written by printf from octal escapes; an odd last
# hash is carried up unchanged. This bottom-up pairing gives exactly the
# RFC 6962 tree, whose left subtree holds the largest power of two smaller
# than n leaves. No leaves: SHA-256 of the empty string.
if [ "$N" -eq 0 ]; then
	COMPUTED=$($SHA </dev/null | awk '{ print $1 }')
else
	COMPUTED=$(
		cd "$W/m" || exit 1
		: >carry.0
		LV=0
		while :; do
			hash_batch names >sums
			LV=$((LV + 1))
			awk -v lv="$LV" '
			BEGIN { for (i = 0; i < 256; i++) oct[sprintf("%02x", i)] = sprintf("\\%03o", i) }
			function raw(h,   s, k) {
				s = ""
				for (k = 1; k < 64; k += 2) s = s oct[substr(h, k, 2)]
				return s
			}
			f == 1 { name[++nn] = $0; next }
			f == 2 { sum[substr($0, 67)] = substr($0, 1, 64); next }
			f == 3 { carried = $0; next }
			END {
				for (i = 1; i <= nn; i++) {
					if (!(name[i] in sum)) exit 1
					h[++n] = sum[name[i]]
				}
				if (carried != "") h[++n] = carried
				if (n == 1) { print h[1] > "root"; exit 0 }
				for (i = 1; i + 1 <= n; i += 2) print "\\001" raw(h[i]) raw(h[i + 1]) > ("pairs." lv)
				printf "%s", (n % 2 == 1 ? h[n] "\n" : "") > ("carry." lv)
			}
			' f=1 names f=2 sums f=3 "carry.$((LV - 1))" || exit 1
			[ -f root ] && break
			_j=0
			while IFS= read -r _o; do
				_j=$((_j + 1))
				# _o holds only octal escapes made by awk from hex digests.
				# shellcheck disable=SC2059
				printf "$_o" >"$LV.$_j"
				printf '%s\n' "$LV.$_j"
			done <"pairs.$LV" >names
		done
		IFS= read -r _r <root && printf '%s\n' "$_r"
	) || die 2 "cannot compute the Merkle root in $W"
fi

if [ "$COMPUTED" != "$STATED" ]; then
	echo "ROOT MISMATCH: checksums.txt says sha256:$STATED, lines give sha256:$COMPUTED"
	FAIL=1
fi

if [ "$FAIL" -ne 0 ]; then
	echo "FAILED root sha256:$STATED"
	exit 1
fi
echo "OK root sha256:$COMPUTED"
exit 0
