#!/usr/bin/env bash
# bench.sh: throughput and peak memory of `stella-export package` and
# `stella-export verify` against what an operator does by hand.
#
#   scripts/bench.sh [--size 1G] [--work DIR] [--ours-only] [--keep]
#                    [--run [--docs 1000000] [--big 3] [--big-size 500M]]
#
# Generates a deterministic mixed payload (scripts/benchgen), warms the page
# cache, then times in one run:
#   package  vs  tar --sort=name --format=pax | pigz -6   + sha256sum of every file
#   package  vs  the same with gzip -6
#   verify   vs  tar -xzf + (tail -n +2 checksums.txt | sha256sum -c)
# and prints each wall time, the ratio (baseline time / stella-export time,
# higher is better) and peak RSS (/usr/bin/time -v). Targets: package >= 2x
# the pigz pipeline, verify >= 1.5x its pipeline, peak RSS <= 64 MiB.
#
# --run also measures `stella-export run` (wall time, peak RSS) on two
# generated evidence sources (scripts/benchgen -evidence): --docs small
# documents (80% OSV, 10% OpenVEX, 10% CycloneDX, plus policy findings) and
# --big CycloneDX SBOMs of --big-size each. Each source goes through
# json:raw and mirror:full with --package. Memory grows with the number of
# documents, never with their size: the big-SBOM runs must stay flat.
set -euo pipefail

size=1G work="" ours_only=0 keep=0 run=0 docs=1000000 big=3 big_size=500M
while [ $# -gt 0 ]; do
  case "$1" in
    --size) size=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --ours-only) ours_only=1; shift ;;
    --keep) keep=1; shift ;;
    --run) run=1; shift ;;
    --docs) docs=$2; shift 2 ;;
    --big) big=$2; shift 2 ;;
    --big-size) big_size=$2; shift 2 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

repo=$(cd "$(dirname "$0")/.." && pwd)
need=(pigz gzip tar sha256sum)
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

bin=$work/stella-export
(cd "$repo" && go build -trimpath -o "$bin" ./cmd/stella-export)
payload=$work/payload
rm -rf "$payload"
(cd "$repo" && go run ./scripts/benchgen -size "$size" -o "$payload") >/dev/null
bytes=$(find "$payload" -type f -printf '%s\n' | awk '{s+=$1} END {printf "%d\n", s}')
files=$(find "$payload" -type f | wc -l)

warm() { find "$payload" -type f -print0 | xargs -0 cat >/dev/null; }

# measure NAME CMD... : runs CMD under /usr/bin/time -v, sets T_<NAME> and R_<NAME> (KiB)
measure() {
  local name=$1; shift
  local log=$work/time.$name
  /usr/bin/time -v -o "$log" "$@" >/dev/null
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
  printf -v "T_$name" '%s' "$wall"
  printf -v "R_$name" '%s' "$rss"
}

echo "payload: $files files, $bytes bytes ($size), $(nproc) cores, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
warm
rm -f "$work/out.tgz"
measure package "$bin" package "$payload" -o "$work/out.tgz"
warm
rm -rf "$work/x"; mkdir "$work/x"
measure verify "$bin" verify -q "$work/out.tgz"

mbps() { awk -v b="$bytes" -v t="$1" 'BEGIN { printf "%.0f", b / t / 1e6 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

printf '%-44s %8s %8s %10s %8s\n' "step" "seconds" "MB/s" "peak RSS" "ratio"
printf '%-44s %8s %8s %10s %8s\n' "stella-export package" "$T_package" "$(mbps "$T_package")" "$(mib "$R_package") MiB" "-"

if [ "$ours_only" = 0 ]; then
  warm
  measure pigz bash -c "tar --sort=name --format=pax -cf - -C '$payload' . | pigz -6 > '$work/pigz.tgz' && find '$payload' -type f -print0 | xargs -0 sha256sum > '$work/pigz.sums'"
  printf '%-44s %8s %8s %10s %8s\n' "tar | pigz -6 + sha256sum (baseline)" "$T_pigz" "$(mbps "$T_pigz")" "$(mib "$R_pigz") MiB" "$(ratio "$T_pigz" "$T_package")x"
  warm
  measure gzip bash -c "tar --sort=name --format=pax -cf - -C '$payload' . | gzip -6 > '$work/gzip.tgz' && find '$payload' -type f -print0 | xargs -0 sha256sum > '$work/gzip.sums'"
  printf '%-44s %8s %8s %10s %8s\n' "tar | gzip -6 + sha256sum (baseline)" "$T_gzip" "$(mbps "$T_gzip")" "$(mib "$R_gzip") MiB" "$(ratio "$T_gzip" "$T_package")x"
fi
printf '%-44s %8s %8s %10s %8s\n' "stella-export verify" "$T_verify" "$(mbps "$T_verify")" "$(mib "$R_verify") MiB" "-"
if [ "$ours_only" = 0 ]; then
  cat "$work/out.tgz" >/dev/null
  measure tarx bash -c "tar -xzf '$work/out.tgz' -C '$work/x' && cd '$work/x' && tail -n +2 checksums.txt | sha256sum -c --quiet -"
  printf '%-44s %8s %8s %10s %8s\n' "tar -xzf + sha256sum -c (baseline)" "$T_tarx" "$(mbps "$T_tarx")" "$(mib "$R_tarx") MiB" "$(ratio "$T_tarx" "$T_verify")x"
fi
echo "bundle: $(stat -c %s "$work/out.tgz") bytes"

[ "$run" = 1 ] || exit 0

# run_source NAME BENCHGEN-ARGS... : generates an evidence source and times
# `run` through json:raw and mirror:full, each with --package.
run_source() {
  local name=$1; shift
  local dir=$work/run-$name
  rm -rf "$dir" && mkdir -p "$dir"
  (cd "$repo" && go run ./scripts/benchgen -evidence "$@" -o "$dir/src") >/dev/null
  local nfiles nbytes
  nfiles=$(find "$dir/src" -type f | wc -l)
  nbytes=$(find "$dir/src" -type f -printf '%s\n' | awk '{s+=$1} END {printf "%d\n", s}')
  echo "run source $name: $nfiles files, $nbytes bytes"
  local profile
  for profile in json:raw mirror:full; do
    local tag=${profile/:/-}
    printf 'apiVersion: stella-export/v1\nkind: EvidenceExport\nexport_id: urn:stella:export:bench:%s\ntenant: bench\nprofile: %s\nsource: src\n' \
      "$tag" "$profile" > "$dir/$tag.yaml"
    find "$dir/src" -type f -print0 | xargs -0 cat >/dev/null
    measure "run_${name}_${tag//-/_}" "$bin" run "$dir/$tag.yaml" -o "$dir/out-$tag" --package "$dir/$tag.tgz"
    local t r
    t=T_run_${name}_${tag//-/_} r=R_run_${name}_${tag//-/_}
    printf '%-44s %8s %8s %10s %8s\n' "run $profile --package ($name)" "${!t}" \
      "$(awk -v b="$nbytes" -v t="${!t}" 'BEGIN { printf "%.0f", b / t / 1e6 }')" "$(mib "${!r}") MiB" "-"
    rm -rf "$dir/out-$tag" "$dir/$tag.tgz"
  done
  rm -rf "$dir"
}

echo "== stella-export run ($(nproc) cores)"
printf '%-44s %8s %8s %10s %8s\n' "step" "seconds" "MB/s" "peak RSS" ""
run_source small -docs "$docs"
if [ "$big" -gt 0 ]; then
  run_source big -docs 0 -big "$big" -big-size "$big_size"
fi
