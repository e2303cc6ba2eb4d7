#!/usr/bin/env bash
# bench.sh: throughput and peak memory of stella-export against what an
# operator does by hand.
#
#   scripts/bench.sh [--size 1G] [--work DIR] [--ours-only] [--keep]
#                    [--run [--docs 200000,1000000] [--huge] [--big 3] [--big-size 500M]]
#                    [--trivy [--trivy-advisories 100000]]
#                    [--encryption [--enc-size 1G]]
#                    [--dataset [--rows 10000000]]
#
# Generates a deterministic mixed payload of --size (scripts/benchgen), warms
# the page cache, then times in one run:
#   package  vs  tar --sort=name --format=pax | pigz -6   + sha256sum of every file
#   package  vs  the same with gzip -6
#   verify   vs  tar -xzf + (tail -n +2 checksums.txt | sha256sum -c)
# and prints each wall time, the ratio (baseline time / stella-export time,
# higher is better) and peak RSS (/usr/bin/time -v). Targets: package >= 2x
# the pigz pipeline, verify >= 1.5x its pipeline, peak RSS <= 64 MiB.
#
# --run then measures `stella-export run` on generated evidence sources
# (scripts/benchgen -evidence -big 0: 80% OSV, 10% OpenVEX, 10% CycloneDX
# small documents, plus policy findings), one per count in --docs (a comma-
# separated list, default 200000,1000000; --huge appends 5000000), and one
# source of --big CycloneDX SBOMs of --big-size each (--big 0 skips it). On
# each source, page cache warm before every step, it times:
#   tar --sort=name --format=pax -cf - src | zstd -3 -T0          (hand pipeline)
#   find src -name '*.json' -print0 | sort -z | xargs -0 cat | zstd -3 -T0
#   stella-export run json:raw --package, run mirror:full --package
#   stella-export sign --attest of the json:raw bundle (a new PKCS#8 key)
#   stella-export verify --key --attestation of that bundle
# and prints wall time, peak RSS and, for run, the ratio stella-export time /
# tar|zstd time (lower is better). Targets, each marked PASS or MISS: json:raw
# <= 2x the hand pipeline, mirror:full <= 3x; run peak RSS <= 256 MiB; sign
# and verify < 64 MiB; with two or more counts, run peak RSS at the largest
# count within 10% of the smallest (flat). --ours-only skips the hand
# pipelines (ratios print "-"). Missed targets do not change the exit status;
# a step that fails does (exit 1, after the tables).
#
# --trivy then measures `stella-export run` of profile trivy:db (a Trivy
# vulnerability database) on --trivy-advisories generated OSV advisories
# (scripts/benchgen -evidence -osv-only; Go, npm, PyPI, crates.io and Maven
# in turn), page cache warm: wall time (target under 30 s) and
# peak RSS. `scripts/bench.sh --size 16M --ours-only --trivy` runs little
# else.
#
# --encryption then encrypts and decrypts one file of --enc-size random
# bytes (default 1G; 16M for a CI smoke run) in envelope and age mode with
# stella-export's code (scripts/benchgen -encrypt, the per-file path of an
# encrypted run; stella-export decrypt), against the age CLI and openssl enc
# -aes-256-ctr on the same file as anchors: wall time, MB/s and peak RSS
# (target: flat, under 64 MiB, whatever the size), checking each round trip
# with cmp; then `run --package` json:raw of one generated source of about
# --enc-size without and with envelope encryption (target: encryption adds
# under 25% to the run's time; the unencrypted run is measured before and
# after the encrypted one, and the faster counts).
#
# --dataset then converts an HMIS-like client table of --rows rows (default
# 10000000; scripts/benchgen -dataset, about 105 bytes a row of CSV) to
# Parquet (snappy) with the same redaction (first_name dropped, ssn HMAC-
# SHA-256 under the tenant's key, VAWA-protected rows suppressed): ours
# (`stella-export run` of a DatasetExport contract: schema pin, every
# guardrail, redaction, Parquet, manifests, ledger) against DuckDB's
# COPY (SELECT ... FROM read_csv(...)) TO '...parquet' through
# @duckdb/node-api (scripts/duckdb.sh) as the anchor, page cache warm: wall
# time, input rows/s, peak RSS, and whether DuckDB finds the same rows in both
# files. Targets: ours <= 2x DuckDB's time, peak RSS <= 256 MiB whatever
# --rows (bounded memory: one row group of 65,536 rows at a time).
#
# Free disk is checked before anything is generated (about 16 KiB per
# document; 1,000,000 documents are 1.85 GB of source in 4 GB of blocks). The
# work directory (default a new one under $TMPDIR) is removed at the end
# unless --keep; without --keep each source and its outputs are removed as
# soon as they are measured.
set -euo pipefail

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
die() { echo "bench.sh: $*" >&2; exit 2; }

size=1G work="" ours_only=0 keep=0 run=0 docs="" huge=0 big=3 big_size=500M trivy=0 trivy_advisories=100000 encryption=0 enc_size=1G dataset=0 rows=10000000
while [ $# -gt 0 ]; do
  case "$1" in
    --size|--work|--docs|--big|--big-size|--trivy-advisories|--enc-size|--rows) [ $# -ge 2 ] || die "$1 needs a value" ;;
  esac
  case "$1" in
    --size) size=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --ours-only) ours_only=1; shift ;;
    --keep) keep=1; shift ;;
    --run) run=1; shift ;;
    --docs) docs=$2; shift 2 ;;
    --huge) huge=1; shift ;;
    --big) big=$2; shift 2 ;;
    --big-size) big_size=$2; shift 2 ;;
    --trivy) trivy=1; shift ;;
    --trivy-advisories) trivy_advisories=$2; shift 2 ;;
    --encryption) encryption=1; shift ;;
    --enc-size) enc_size=$2; shift 2 ;;
    --dataset) dataset=1; shift ;;
    --rows) rows=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done

# bytes SIZE: SIZE with an optional K, M or G suffix (powers of 1024), in bytes.
bytes() {
  case "$1" in
    *[!0-9KMG]*|''|[KMG]*|*[KMG]?*) return 1 ;;
    *K) echo $(( ${1%K} << 10 )) ;;
    *M) echo $(( ${1%M} << 20 )) ;;
    *G) echo $(( ${1%G} << 30 )) ;;
    *) echo $(( 10#$1 )) ;;
  esac
}
size_bytes=$(bytes "$size") || die "--size $size: want a number with an optional K, M or G suffix"
enc_bytes=$(bytes "$enc_size") || die "--enc-size $enc_size: want a number with an optional K, M or G suffix"
big_bytes=$(bytes "$big_size") || die "--big-size $big_size: want a number with an optional K, M or G suffix"
case "$big" in *[!0-9]*|'') die "--big $big: want a number of SBOMs (0 for none)" ;; esac
case "$trivy_advisories" in *[!0-9]*|'') die "--trivy-advisories $trivy_advisories: want a number of advisories" ;; esac
trivy_advisories=$(( 10#$trivy_advisories ))
case "$rows" in *[!0-9]*|'') die "--rows $rows: want a number of rows" ;; esac
rows=$(( 10#$rows ))
big=$(( 10#$big ))
[ -n "$docs" ] || docs=200000,1000000
[ "$huge" = 0 ] || docs=$docs,5000000
IFS=, read -r -a counts <<< "$docs"
[ ${#counts[@]} -gt 0 ] || die "--docs: want one or more document counts, comma-separated"
for i in "${!counts[@]}"; do
  case "${counts[$i]}" in
    *[!0-9]*|'') die "--docs $docs: \"${counts[$i]}\" is not a number of documents" ;;
  esac
  counts[i]=$(( 10#${counts[$i]} ))
  [ "${counts[$i]}" -gt 0 ] || die "--docs $docs: counts must be at least 1"
done

repo=$(cd "$(dirname "$0")/.." && pwd)
need=(pigz gzip tar sha256sum)
[ "$run" = 0 ] || need+=(openssl)
[ "$encryption" = 0 ] || need+=(openssl age)
[ "$run" = 0 ] || [ "$ours_only" = 1 ] || need+=(zstd)
[ -x /usr/bin/time ] || need+=(time)
missing=()
for t in "${need[@]}"; do
  if [ "$t" = time ]; then missing+=(time); elif ! command -v "$t" >/dev/null; then missing+=("$t"); fi
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq >/dev/null && apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "bench.sh: missing ${missing[*]}: apt-get install ${missing[*]}" >&2; exit 2
  fi
fi

[ -n "$work" ] || work=$(mktemp -d "${TMPDIR:-/tmp}/stella-bench.XXXXXX")
mkdir -p "$work"
cleanup() { [ "$keep" = 1 ] || rm -rf "$work"; }
trap cleanup EXIT

# Disk: a generated source takes about 4.7 KiB of blocks per document (1-2
# KiB files in 4 KiB blocks), the mirror:full output tree and the extracted
# hand-pipeline archive as much again each, the bundles and hand-pipeline
# outputs under 1 KiB; 16 KiB per document leaves room for spill files. Big SBOMs: the source, the mirror copy and the
# bundles, 3x their size. The mixed payload, its bundle and tar -x of it: 3x
# --size.
per_doc_kib=16
docs_kib() { echo $(( $1 * per_doc_kib )); }
big_kib() { echo $(( big * (big_bytes >> 10) * 3 )); }
# check_disk KIB INODES WHAT: refuses (exit 2) unless $work's filesystem has
# KIB KiB and INODES inodes free, plus a 512 MiB margin.
gib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1048576 }'; }
check_disk() {
  local want=$(( $1 + (512 << 10) )) inodes=$2 what=$3 avail iavail
  avail=$(df -Pk "$work" | awk 'NR == 2 { print $4 }')
  if [ "$avail" -lt "$want" ]; then
    echo "bench.sh: not enough free disk in $work for $what: need about $(gib "$want") GiB, $(gib "$avail") GiB free" >&2
    echo "bench.sh: hint: pass --work DIR on a larger filesystem, or fewer or smaller --docs" >&2
    exit 2
  fi
  iavail=$(df -Pi "$work" | awk 'NR == 2 { print $4 }')
  # Some filesystems (btrfs) report no inode limit: "-" or 0 total.
  case "$iavail" in *[!0-9]*|'') return 0 ;; esac
  if [ "$(df -Pi "$work" | awk 'NR == 2 { print $2 }')" != 0 ] && [ "$iavail" -lt "$inodes" ]; then
    echo "bench.sh: not enough free inodes in $work for $what: need about $inodes, $iavail free" >&2
    echo "bench.sh: hint: pass --work DIR on a larger filesystem, or fewer or smaller --docs" >&2
    exit 2
  fi
}
# Up front, the most the whole run needs at once: every source with --keep,
# else the payload or the largest source.
want_kib=$(( (size_bytes >> 10) * 3 )) want_inodes=$(( size_bytes >> 20 ))
if [ "$run" = 1 ]; then
  largest=0 all=0
  for n in "${counts[@]}"; do
    [ "$n" -le "$largest" ] || largest=$n
    all=$(( all + n ))
  done
  if [ "$keep" = 1 ]; then
    want_kib=$(( want_kib + $(docs_kib "$all") + $(big_kib) )) want_inodes=$(( want_inodes + all * 3 ))
  else
    run_kib=$(docs_kib "$largest")
    [ "$(big_kib)" -le "$run_kib" ] || run_kib=$(big_kib)
    [ "$run_kib" -le "$want_kib" ] || want_kib=$run_kib
    [ $(( largest * 3 )) -le "$want_inodes" ] || want_inodes=$(( largest * 3 ))
  fi
fi
what="--size $size"
[ "$run" = 0 ] || what="$what --run --docs $docs"
check_disk "$want_kib" "$want_inodes" "this bench ($what)"

bin=$work/stella-export
(cd "$repo" && go build -trimpath -o "$bin" ./cmd/stella-export && go build -o "$work/benchgen" ./scripts/benchgen)
payload=$work/payload
rm -rf "$payload"
"$work/benchgen" -size "$size" -o "$payload" >/dev/null
payload_bytes=$(find "$payload" -type f -printf '%s\n' | awk '{s+=$1} END {printf "%d\n", s}')
files=$(find "$payload" -type f | wc -l)

# warm DIR|FILE...: reads them once, so every timed step starts with a warm
# page cache.
warm() { find "$@" -type f -print0 | xargs -0 cat >/dev/null; }

# measure NAME CMD...: runs CMD under /usr/bin/time -v and sets T[NAME]
# (seconds) and R[NAME] (peak RSS, KiB). A failing CMD is recorded in failed
# and returns 1.
declare -A T R
failed=()
measure() {
  local name=$1; shift
  local log=$work/time.$name rc=0
  /usr/bin/time -v -o "$log" "$@" >/dev/null || rc=$?
  if [ "$rc" != 0 ]; then
    echo "bench.sh: $name: exit $rc: $*" >&2
    failed+=("$name")
    return 1
  fi
  T[$name]=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log" | awk -F: '{ if (NF==3) printf "%.2f\n", $1*3600+$2*60+$3; else printf "%.2f\n", $1*60+$2 }')
  R[$name]=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
}

mbps() { awk -v b="$1" -v t="$2" 'BEGIN { if (b > 0 && t > 0) printf "%.0f", b / t / 1e6; else print "-" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

echo "payload: $files files, $payload_bytes bytes ($size), $(nproc) cores, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
warm "$payload"
rm -f "$work/out.tgz"
measure package "$bin" package "$payload" -o "$work/out.tgz"
warm "$work/out.tgz"
rm -rf "$work/x"; mkdir "$work/x"
measure verify "$bin" verify -q "$work/out.tgz"

printf '%-44s %8s %8s %10s %8s\n' "step" "seconds" "MB/s" "peak RSS" "ratio"
printf '%-44s %8s %8s %10s %8s\n' "stella-export package" "${T[package]}" "$(mbps "$payload_bytes" "${T[package]}")" "$(mib "${R[package]}") MiB" "-"

if [ "$ours_only" = 0 ]; then
  warm "$payload"
  # shellcheck disable=SC2016 # the script's $1, $2, $3 are bash -c arguments
  measure pigz bash -c 'tar --sort=name --format=pax -cf - -C "$1" . | pigz -6 > "$2" && find "$1" -type f -print0 | xargs -0 sha256sum > "$3"' \
    _ "$payload" "$work/pigz.tgz" "$work/pigz.sums"
  printf '%-44s %8s %8s %10s %8s\n' "tar | pigz -6 + sha256sum (baseline)" "${T[pigz]}" "$(mbps "$payload_bytes" "${T[pigz]}")" "$(mib "${R[pigz]}") MiB" "$(ratio "${T[pigz]}" "${T[package]}")x"
  warm "$payload"
  # shellcheck disable=SC2016 # the script's $1, $2, $3 are bash -c arguments
  measure gzip bash -c 'tar --sort=name --format=pax -cf - -C "$1" . | gzip -6 > "$2" && find "$1" -type f -print0 | xargs -0 sha256sum > "$3"' \
    _ "$payload" "$work/gzip.tgz" "$work/gzip.sums"
  printf '%-44s %8s %8s %10s %8s\n' "tar | gzip -6 + sha256sum (baseline)" "${T[gzip]}" "$(mbps "$payload_bytes" "${T[gzip]}")" "$(mib "${R[gzip]}") MiB" "$(ratio "${T[gzip]}" "${T[package]}")x"
fi
printf '%-44s %8s %8s %10s %8s\n' "stella-export verify" "${T[verify]}" "$(mbps "$payload_bytes" "${T[verify]}")" "$(mib "${R[verify]}") MiB" "-"
if [ "$ours_only" = 0 ]; then
  warm "$work/out.tgz"
  # shellcheck disable=SC2016 # the script's $1, $2, $3 are bash -c arguments
  measure tarx bash -c 'tar -xzf "$1" -C "$2" && cd "$2" && tail -n +2 checksums.txt | sha256sum -c --quiet -' _ "$work/out.tgz" "$work/x"
  printf '%-44s %8s %8s %10s %8s\n' "tar -xzf + sha256sum -c (baseline)" "${T[tarx]}" "$(mbps "$payload_bytes" "${T[tarx]}")" "$(mib "${R[tarx]}") MiB" "$(ratio "${T[tarx]}" "${T[verify]}")x"
fi
echo "bundle: $(stat -c %s "$work/out.tgz") bytes"

# trivy_bench: with --trivy, generates --trivy-advisories OSV advisories and
# measures run trivy:db --package on them.
trivy_bench() {
  [ "$trivy" = 1 ] || return 0
  local dir=$work/trivy
  rm -rf "$dir"
  check_disk "$(docs_kib "$trivy_advisories")" $(( trivy_advisories * 2 )) "--trivy ($trivy_advisories advisories)"
  mkdir -p "$dir"
  "$work/benchgen" -evidence -osv-only -docs "$trivy_advisories" -o "$dir/src" >/dev/null
  printf 'apiVersion: stella-export/v1\nkind: EvidenceExport\nexport_id: urn:stella:export:bench:trivy-db\ntenant: bench\nprofile: trivy:db\nsource: src\n' > "$dir/trivy.yaml"
  warm "$dir/src"
  echo
  echo "== trivy:db: $trivy_advisories OSV advisories, $(nproc) cores"
  if measure trivy "$bin" run -q "$dir/trivy.yaml" -o "$dir/out" --package "$dir/trivy.tgz"; then
    local v=MISS
    awk -v t="${T[trivy]}" 'BEGIN { exit !(t < 30) }' && v=PASS
    printf '%-44s %8s %10s %10s %s\n' "step" "seconds" "peak RSS" "target" ""
    printf '%-44s %8s %10s %10s %s\n' "run trivy:db --package" "${T[trivy]}" "$(mib "${R[trivy]}") MiB" "<30 s" "$v"
    echo "db/trivy.db: $(stat -c %s "$dir/out/db/trivy.db") bytes"
  fi
  [ "$keep" = 1 ] || rm -rf "$dir"
}

# encryption_bench: with --encryption, times encrypting and decrypting one
# file of --enc-size in both modes, ours against age and openssl.
encryption_bench() {
  [ "$encryption" = 1 ] || return 0
  local dir=$work/enc hex rcpt
  rm -rf "$dir"; mkdir -p "$dir"
  head -c "$enc_bytes" /dev/urandom > "$dir/plain"
  hex=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
  age-keygen -o "$dir/id.key" 2>/dev/null
  rcpt=$(age-keygen -y "$dir/id.key")
  printf '%s' "$hex" > "$dir/hex"
  warm "$dir/plain"
  echo
  echo "== encryption: one file of $enc_bytes bytes ($enc_size), $(nproc) cores"
  printf '%-44s %8s %8s %10s %s\n' "step" "seconds" "MB/s" "peak RSS" "round trip"
  local rss_kib=$(( 64 << 10 ))
  erow() { # erow LABEL NAME OUT PLAIN: one line, with cmp of the round trip
    local ok=-
    if [ -n "${T[$2]:-}" ]; then
      [ -z "$4" ] || { cmp -s "$3" "$4" && ok=same || ok=DIFFERS; }
      local v=MISS; [ "${R[$2]}" -lt "$rss_kib" ] && v=PASS
      printf '%-44s %8s %8s %10s %s (RSS <64 MiB %s)\n' "$1" "${T[$2]}" "$(mbps "$enc_bytes" "${T[$2]}")" "$(mib "${R[$2]}") MiB" "$ok" "$v"
    else
      printf '%-44s %8s\n' "$1" FAILED
    fi
  }
  export STELLA_EXPORT_KMS_MASTER_KEY_HEX=$hex
  measure enc.env.e "$work/benchgen" -encrypt envelope -in "$dir/plain" -o "$dir/x.enc" && :
  erow "ours: envelope encrypt" enc.env.e "" ""
  measure enc.env.d "$bin" decrypt -q "$dir/x.enc" -o "$dir/x.enc.out" && :
  erow "ours: envelope decrypt (stella-export decrypt)" enc.env.d "$dir/x.enc.out" "$dir/plain"
  unset STELLA_EXPORT_KMS_MASTER_KEY_HEX
  rm -f "$dir/x.enc" "$dir/x.enc.out"
  measure enc.age.e "$work/benchgen" -encrypt age -recipient "$rcpt" -in "$dir/plain" -o "$dir/x.age" && :
  erow "ours: age encrypt" enc.age.e "" ""
  measure enc.age.d "$bin" decrypt -q "$dir/x.age" -o "$dir/x.age.out" --identity "$dir/id.key" && :
  erow "ours: age decrypt (stella-export decrypt)" enc.age.d "$dir/x.age.out" "$dir/plain"
  rm -f "$dir/x.age" "$dir/x.age.out"
  measure enc.agecli.e age -r "$rcpt" -o "$dir/y.age" "$dir/plain" && :
  erow "age -r (anchor)" enc.agecli.e "" ""
  measure enc.agecli.d age -d -i "$dir/id.key" -o "$dir/y.age.out" "$dir/y.age" && :
  erow "age -d (anchor)" enc.agecli.d "$dir/y.age.out" "$dir/plain"
  rm -f "$dir/y.age" "$dir/y.age.out"
  local iv; iv=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
  measure enc.ssl.e openssl enc -aes-256-ctr -K "$hex" -iv "$iv" -in "$dir/plain" -out "$dir/z.ctr" && :
  erow "openssl enc -aes-256-ctr (anchor)" enc.ssl.e "" ""
  measure enc.ssl.d openssl enc -d -aes-256-ctr -K "$hex" -iv "$iv" -in "$dir/z.ctr" -out "$dir/z.out" && :
  erow "openssl enc -d -aes-256-ctr (anchor)" enc.ssl.d "$dir/z.out" "$dir/plain"
  rm -f "$dir/z.ctr" "$dir/z.out" "$dir/plain"

  # run --package json:raw without and with envelope encryption (scope
  # payload) on the same generated source of about --enc-size (12 KiB a
  # document, at least 200): target, encryption adds under 25%.
  local ndocs=$(( enc_bytes / 12288 ))
  [ "$ndocs" -ge 200 ] || ndocs=200
  check_disk "$(docs_kib "$ndocs")" $(( ndocs * 4 )) "run --package with and without encryption"
  "$work/benchgen" -evidence -docs "$ndocs" -o "$dir/src" >/dev/null
  local c
  for c in plain env; do
    printf 'apiVersion: stella-export/v1\nkind: EvidenceExport\nexport_id: urn:stella:export:bench:enc\ntenant: bench\nprofile: json:raw\nsource: src\n' > "$dir/$c.yaml"
  done
  echo 'encryption: alias/bench' >> "$dir/env.yaml"
  warm "$dir/src"
  measure enc.run.plain "$bin" run -q "$dir/plain.yaml" -o "$dir/out-plain" --package "$dir/plain.tgz" && :
  rm -rf "$dir/out-plain" "$dir/plain.tgz"
  warm "$dir/src"
  STELLA_EXPORT_KMS_MASTER_KEY_HEX=$hex measure enc.run.env "$bin" run -q "$dir/env.yaml" -o "$dir/out-env" --package "$dir/env.tgz" && :
  rm -rf "$dir/out-env" "$dir/env.tgz"
  # The unencrypted run again, after: the first run of the pair pays for
  # whatever is cold; the faster of the two is the reference.
  warm "$dir/src"
  if measure enc.run.plain2 "$bin" run -q "$dir/plain.yaml" -o "$dir/out-plain" --package "$dir/plain.tgz" &&
    awk -v a="${T[enc.run.plain2]}" -v b="${T[enc.run.plain]:-999999}" 'BEGIN { exit !(a < b) }'; then
    T[enc.run.plain]=${T[enc.run.plain2]} R[enc.run.plain]=${R[enc.run.plain2]}
  fi
  rm -rf "$dir/out-plain" "$dir/plain.tgz"
  if [ -n "${T[enc.run.plain]:-}" ] && [ -n "${T[enc.run.env]:-}" ]; then
    local v=MISS r
    r=$(awk -v e="${T[enc.run.env]}" -v p="${T[enc.run.plain]}" 'BEGIN { if (p > 0) printf "%.2f", e / p; else print "-" }')
    awk -v e="${T[enc.run.env]}" -v p="${T[enc.run.plain]}" 'BEGIN { exit !(e <= 1.25 * p || e - p < 0.05) }' && v=PASS
    printf '%-44s %8s %8s %10s %s\n' "run json:raw --package ($ndocs documents)" "${T[enc.run.plain]}" - "$(mib "${R[enc.run.plain]}") MiB" "unencrypted"
    printf '%-44s %8s %8s %10s %s\n' "run json:raw --package, envelope" "${T[enc.run.env]}" - "$(mib "${R[enc.run.env]}") MiB" "${r}x the unencrypted run (target <=1.25x: $v)"
  else
    printf '%-44s %8s\n' "run json:raw --package with/without envelope" FAILED
  fi
  [ "$keep" = 1 ] || rm -rf "$dir"
}

# dataset_bench: with --dataset, converts a generated client table of
# --rows rows to Parquet, ours against DuckDB's COPY.
dataset_bench() {
  [ "$dataset" = 1 ] || return 0
  local dir=$work/dataset duck salt n_ours n_duck same=-
  if ! duck=$(bash "$repo/scripts/duckdb.sh" | awk 'NF==2 {p=$2} END {print p}') || [ -z "$duck" ]; then
    echo "bench.sh: --dataset: scripts/duckdb.sh failed" >&2
    failed+=(dataset); return 0
  fi
  rm -rf "$dir"
  # CSV ~105 bytes a row, each Parquet file under 90, plus margin.
  check_disk $(( rows / 4 )) 10 "--dataset ($rows rows)"
  "$work/benchgen" -dataset -rows "$rows" -o "$dir" >/dev/null
  salt=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
  warm "$dir/clients.csv"
  echo
  echo "== dataset: CSV to Parquet (snappy, redacted), $rows rows, $(stat -c %s "$dir/clients.csv") bytes of CSV, $(nproc) cores"
  printf 'apiVersion: stella-export/v1\nkind: DatasetExport\nexport_id: urn:stella:export:bench:clients\ntenant: bench\ndataset_ref: csv:clients.csv\nschema_ref: clients.schema.yaml\nschema_digest: sha256:%s\nformat: parquet\ncompression: snappy\nredaction:\n  drop: [first_name]\n  hash: [ssn]\n  suppress_where: {vawa_protected: "true"}\n' \
    "$(sha256sum "$dir/clients.schema.yaml" | cut -d' ' -f1)" > "$dir/clients.yaml"
  STELLA_EXPORT_HASH_SALT_HEX=$salt measure ds.ours "$bin" run -q "$dir/clients.yaml" -o "$dir/ours" && :
  warm "$dir/clients.csv"
  NODE_PATH=$duck/node_modules measure ds.duck node "$repo/scripts/bench/duckdb-copy.js" copy "$dir/clients.csv" "$dir/duck.parquet" "$salt" bench && :
  if [ -d "$dir/ours/data" ] && [ -f "$dir/duck.parquet" ]; then
    same=$(NODE_PATH=$duck/node_modules node "$repo/scripts/bench/duckdb-copy.js" same "$dir/ours/data/*.parquet" "$dir/duck.parquet") || same=FAILED
  fi
  rps() { awk -v n="$rows" -v t="$1" 'BEGIN { if (t > 0) printf "%.0f", n / t; else print "-" }'; }
  printf '%-44s %8s %10s %10s %10s %s\n' "step" "seconds" "rows/s" "peak RSS" "bytes" "target"
  if [ -n "${T[ds.duck]:-}" ]; then
    printf '%-44s %8s %10s %10s %10s %s\n' "DuckDB COPY read_csv TO parquet (anchor)" "${T[ds.duck]}" "$(rps "${T[ds.duck]}")" "$(mib "${R[ds.duck]}") MiB" "$(stat -c %s "$dir/duck.parquet")" ""
  fi
  if [ -n "${T[ds.ours]:-}" ]; then
    local vt=- vr=MISS rt=-
    if [ -n "${T[ds.duck]:-}" ]; then
      rt=$(ratio "${T[ds.ours]}" "${T[ds.duck]}")
      vt=MISS; awk -v a="${T[ds.ours]}" -v b="${T[ds.duck]}" 'BEGIN { exit !(a <= 2 * b) }' && vt=PASS
    fi
    [ "${R[ds.ours]}" -le $(( 256 << 10 )) ] && vr=PASS
    printf '%-44s %8s %10s %10s %10s %s\n' "ours: stella-export run (DatasetExport)" "${T[ds.ours]}" "$(rps "${T[ds.ours]}")" "$(mib "${R[ds.ours]}") MiB" "$(cat "$dir"/ours/data/*.parquet 2>/dev/null | wc -c)" \
      "time ${rt}x DuckDB (<=2x $vt), RSS <=256 MiB $vr"
  fi
  echo "rows in both files: $same"
  [ "$same" = same ] || [ "$same" = - ] || failed+=(dataset-rows)
  [ "$keep" = 1 ] || rm -rf "$dir"
}

if [ "$run" = 0 ]; then
  trivy_bench
  encryption_bench
  dataset_bench
  [ ${#failed[@]} -eq 0 ] || { echo "bench.sh: failed steps: ${failed[*]}" >&2; exit 1; }
  exit 0
fi
[ "$keep" = 1 ] || rm -rf "$payload" "$work/x" "$work"/*.tgz "$work"/*.sums

# The run targets (benchmarks, not tests): json:raw within 2x and mirror:full
# within 3x of tar|zstd, run peak RSS <= 256 MiB and flat, sign/verify < 64 MiB.
run_rss_kib=$(( 256 << 10 ))  # run json:raw / mirror:full --package: <= 256 MiB
sign_rss_kib=$(( 64 << 10 ))  # sign --attest, verify --key --attestation: < 64 MiB
pass=0 miss=0
# verdict OK: sets v to PASS (OK is 1) or MISS and counts it.
verdict() {
  if [ "$1" = 1 ]; then pass=$(( pass + 1 )) v=PASS; else miss=$(( miss + 1 )) v=MISS; fi
}
prow() { printf '%-44s %8s %7s %11s %7s %6s %5s %11s %5s\n' "$@"; }
# row STEP NAME NBYTES [RATIO-TARGET RSS-OP RSS-KIB]: one line of the run
# table for measured step NAME. RATIO-TARGET (2, 3) compares T[NAME] with
# the source's tar|zstd time; RSS-OP (le, lt) and RSS-KIB give the memory
# target.
row() {
  local step=$1 name=$2 nbytes=$3 rtarget=${4:-} op=${5:-} limit=${6:-}
  if [ -z "${T[$name]:-}" ]; then
    prow "$step" FAILED - - - - - - -
    return
  fi
  local r=- rt=- tv=- mt=- mv=- ok rss=${R[$name]} v
  if [ -n "$rtarget" ]; then
    rt="<=${rtarget}x"
    local hand=${T[$src.tar]:-}
    if [ -n "$hand" ] && awk -v h="$hand" 'BEGIN { exit !(h > 0) }'; then
      r=$(ratio "${T[$name]}" "$hand")x
      ok=$(awk -v t="${T[$name]}" -v h="$hand" -v x="$rtarget" 'BEGIN { print (t / h <= x) ? 1 : 0 }')
      verdict "$ok"; tv=$v
    fi
  fi
  if [ -n "$op" ]; then
    if [ "$op" = le ]; then mt="<=$(( limit >> 10 )) MiB"; ok=$(( rss <= limit ? 1 : 0 ))
    else mt="<$(( limit >> 10 )) MiB"; ok=$(( rss < limit ? 1 : 0 )); fi
    verdict "$ok"; mv=$v
  fi
  prow "$step" "${T[$name]}" "$(mbps "$nbytes" "${T[$name]}")" "$(mib "$rss") MiB" "$r" "$rt" "$tv" "$mt" "$mv"
}

# An unencrypted PKCS#8 ECDSA P-256 key: a cosign-format key (sign
# --generate-key) is encrypted with scrypt, which alone takes 64 MiB at every
# signature and would hide what the attestation costs.
key=$work/bench-key
(umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$key.pem" 2>/dev/null)
openssl pkey -in "$key.pem" -pubout -out "$key.pub"

# run_source LABEL WHAT DOCS BENCHGEN-ARGS...: generates an evidence source
# in $work/run-LABEL (DOCS small documents, for the disk check) and measures
# every step of the run table on it. Sets src=LABEL.
run_source() {
  local label=$1 what=$2 ndocs=$3; shift 3
  local dir=$work/run-$label
  src=$label
  rm -rf "$dir"
  if [ "$ndocs" -gt 0 ]; then
    check_disk "$(docs_kib "$ndocs")" $(( ndocs * 4 )) "$what"
  else
    check_disk "$(big_kib)" 1000 "$what"
  fi
  mkdir -p "$dir"
  "$work/benchgen" -evidence "$@" -o "$dir/src" >/dev/null
  local nfiles nbytes
  nfiles=$(find "$dir/src" -type f | wc -l)
  nbytes=$(find "$dir/src" -type f -printf '%s\n' | awk '{s+=$1} END {printf "%d\n", s}')
  echo
  echo "== $what: $nfiles files, $nbytes bytes, $(nproc) cores"
  prow step seconds MB/s "peak RSS" ratio target time "RSS target" RSS

  if [ "$ours_only" = 0 ]; then
    warm "$dir/src"
    # shellcheck disable=SC2016 # the script's $1, $2, $3 are bash -c arguments
    measure "$src.tar" bash -c 'cd "$1" && tar --sort=name --format=pax -cf - src | zstd -q -3 -T0 > "$2"' _ "$dir" "$dir/hand.tar.zst" || true
    row "tar --sort=name --format=pax | zstd -3 -T0" "$src.tar" "$nbytes"
    warm "$dir/src"
    measure "$src.cat" bash -c "cd \"\$1\" && find src -name '*.json' -print0 | sort -z | xargs -0 cat | zstd -q -3 -T0 > \"\$2\"" _ "$dir" "$dir/hand.zst" || true
    row "find -name '*.json' | sort -z | cat | zstd" "$src.cat" "$nbytes"
    rm -f "$dir/hand.zst"
  fi

  local profile tag
  for profile in json:raw mirror:full; do
    tag=${profile/:/-}
    printf 'apiVersion: stella-export/v1\nkind: EvidenceExport\nexport_id: urn:stella:export:bench:%s\ntenant: bench\nprofile: %s\nsource: src\n' \
      "$tag" "$profile" > "$dir/$tag.yaml"
    warm "$dir/src"
    measure "$src.$tag" "$bin" run -q "$dir/$tag.yaml" -o "$dir/out-$tag" --package "$dir/$tag.tgz" || true
    if [ "$tag" = json-raw ]; then
      row "run json:raw --package" "$src.$tag" "$nbytes" 2 le "$run_rss_kib"
    else
      row "run mirror:full --package" "$src.$tag" "$nbytes" 3 le "$run_rss_kib"
    fi
    [ "$keep" = 1 ] || [ "$tag" = json-raw ] || rm -f "$dir/$tag.tgz"
  done
  # What writing the source's tree of files costs by itself: extracting the
  # hand pipeline's archive. Not a target; mirror:full writes a tree of as
  # many files, and file creation is most of its time on a slow file system.
  # Timed after the runs, and every output removed after it: on ext4 without
  # a journal, creating files within minutes of a mass deletion is several
  # times slower (the inode allocator skips recently deleted inodes).
  if [ -f "$dir/hand.tar.zst" ]; then
    mkdir "$dir/untar"
    measure "$src.untar" bash -c 'cd "$1" && zstd -q -d -c "$2" | tar -xf -' _ "$dir/untar" "$dir/hand.tar.zst" || true
    row "zstd -d | tar -x (writing the same tree)" "$src.untar" "$nbytes"
  fi
  [ "$keep" = 1 ] || rm -rf "$dir/out-json-raw" "$dir/out-mirror-full" "$dir/untar" "$dir/hand.tar.zst"

  if [ -n "${T[$src.json-raw]:-}" ]; then
    local tgz=$dir/json-raw.tgz
    warm "$tgz"
    if measure "$src.sign" "$bin" sign -q "$tgz" --key "$key.pem" --attest; then
      row "sign --attest (json:raw bundle)" "$src.sign" 0 "" lt "$sign_rss_kib"
      warm "$tgz" "$tgz.intoto.jsonl"
      measure "$src.verify" "$bin" verify -q "$tgz" --key "$key.pub" --attestation "$tgz.intoto.jsonl" || true
      row "verify --key --attestation" "$src.verify" 0 "" lt "$sign_rss_kib"
    else
      row "sign --attest (json:raw bundle)" "$src.sign" 0
    fi
  fi
  [ "$keep" = 1 ] || rm -rf "$dir"
}

echo
echo "ratio = stella-export time / tar|zstd time (lower is better); targets: json:raw <=2x, mirror:full <=3x"
for n in "${counts[@]}"; do
  run_source "$n" "$n documents" "$n" -docs "$n" -big 0
done

if [ ${#counts[@]} -ge 2 ]; then
  lo=${counts[0]} hi=${counts[0]}
  for n in "${counts[@]}"; do
    [ "$n" -ge "$lo" ] || lo=$n
    [ "$n" -le "$hi" ] || hi=$n
  done
  echo
  echo "== flat memory: peak RSS at $hi documents against $lo (target: within 10%)"
  for tag in json-raw mirror-full; do
    step="run ${tag/-/:} --package"
    if [ -z "${R[$lo.$tag]:-}" ] || [ -z "${R[$hi.$tag]:-}" ]; then
      printf '%-44s %s\n' "$step" FAILED
      continue
    fi
    growth=$(awk -v a="${R[$lo.$tag]}" -v b="${R[$hi.$tag]}" 'BEGIN { printf "%+.0f%%", (b / a - 1) * 100 }')
    ok=$(awk -v a="${R[$lo.$tag]}" -v b="${R[$hi.$tag]}" 'BEGIN { print (b <= a * 1.10) ? 1 : 0 }')
    verdict "$ok"
    printf '%-44s %11s -> %11s %6s %5s\n' "$step" "$(mib "${R[$lo.$tag]}") MiB" "$(mib "${R[$hi.$tag]}") MiB" "$growth" "$v"
  done
fi

if [ "$big" -gt 0 ]; then
  run_source big "$big CycloneDX SBOMs of $big_size" 0 -docs 0 -big "$big" -big-size "$big_size"
fi

trivy_bench
encryption_bench
dataset_bench

echo
echo "targets: $pass PASS, $miss MISS (benchmarks: a MISS does not change the exit status)"
if [ ${#failed[@]} -gt 0 ]; then
  echo "bench.sh: failed steps: ${failed[*]}" >&2
  exit 1
fi
