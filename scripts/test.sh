#!/usr/bin/env bash
# test.sh: the whole test suite, as CI runs it (.ci/run calls this).
# gofmt, go vet, staticcheck (pinned in go.mod as a tool), every Go test (unit, golden, testscript CLI scripts, interop
# with GNU tar / busybox / dash / sha256sum, with the real cosign v3 and
# v2 that scripts/cosign.sh builds and with the real Trivy that scripts/trivy.sh
# builds, with DuckDB through the @duckdb/node-api that scripts/duckdb.sh
# installs, fuzz seed corpora, signal handling) and a small run of scripts/bench.sh to keep it working.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
export CI="${CI:-}"

echo "== gofmt"
bad=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$bad" ]; then echo "gofmt would change:"; echo "$bad"; exit 1; fi
echo "== go vet"
go vet ./...
echo "== staticcheck"
go tool staticcheck ./...
echo "== real cosign v3 and v2 for the signing interop tests (scripts/cosign.sh, cached; ~25 min cold)"
if cos=$(bash scripts/cosign.sh); then
  STELLA_EXPORT_COSIGN=$(printf '%s\n' "$cos" | awk 'NF==2 {printf "%s%s=%s", (n++ ? "," : ""), $1, $2}')
  export STELLA_EXPORT_COSIGN
elif [ "$CI" = true ]; then
  echo "scripts/cosign.sh failed; CI runs the cosign interop tests" >&2
  exit 1
else
  echo "warning: scripts/cosign.sh failed; TestCosignInterop will skip" >&2
fi
echo "== real Trivy for the Trivy DB interop tests (scripts/trivy.sh, cached; ~15 min cold)"
if tri=$(bash scripts/trivy.sh); then
  STELLA_EXPORT_TRIVY=$(printf '%s\n' "$tri" | awk 'NF==2 {p=$2} END {print p}')
  export STELLA_EXPORT_TRIVY
elif [ "$CI" = true ]; then
  echo "scripts/trivy.sh failed; CI runs the Trivy interop tests" >&2
  exit 1
else
  echo "warning: scripts/trivy.sh failed; the Trivy interop tests (TestTrivyHarness) will skip" >&2
fi
echo "== DuckDB (@duckdb/node-api) for the dataset interop tests (scripts/duckdb.sh, cached; ~5 s cold)"
if duck=$(bash scripts/duckdb.sh); then
  STELLA_EXPORT_DUCKDB=$(printf '%s\n' "$duck" | awk 'NF==2 {p=$2} END {print p}')
  export STELLA_EXPORT_DUCKDB
elif [ "$CI" = true ]; then
  echo "scripts/duckdb.sh failed; CI runs the DuckDB interop tests" >&2
  exit 1
else
  echo "warning: scripts/duckdb.sh failed; the DuckDB interop tests (internal/dataset) will skip" >&2
fi
echo "== go test"
go test -count=1 ./... 2>&1 | tee "${TMPDIR:-/tmp}/stella-export-test.log"
echo "== benchmarks compile and run once"
go test -run '^$' -bench . -benchtime 1x ./... >/dev/null
echo "== scripts/bench.sh smoke run (32M, run on 2000 documents and one 16M SBOM, encryption of 16M, dataset of 20000 rows)"
bash scripts/bench.sh --size 32M --run --docs 2000 --big 1 --big-size 16M --encryption --enc-size 16M --dataset --rows 20000
