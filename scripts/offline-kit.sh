#!/bin/sh
# offline-kit.sh: assemble an Offline Kit on removable media, and import it
# on the far side of the air gap (docs/offline-kit.md).
#
#   scripts/offline-kit.sh CONTRACTS_DIR SIGNING_KEY MEDIUM_DIR
#   scripts/offline-kit.sh import MEDIUM_DIR --key PUBLIC_KEY [--oci REGISTRY/PREFIX] [--insecure-registry]
#
# Near side: checks every contract (*.yaml) of CONTRACTS_DIR with `plan
# --check`, runs each with `--sign-key SIGNING_KEY --package` (the key's
# password from STELLA_EXPORT_PASSWORD), verifies each bundle with the
# public key beside the signing key (PREFIX.pub for PREFIX.key), publishes
# each into the OCI layout MEDIUM_DIR/oci, announces each into the outbox
# MEDIUM_DIR/outbox, and writes MEDIUM_DIR/kit.json (contracts, export ids,
# roots, digests), MEDIUM_DIR/kit.sha256 (sha256sum -c of every file of the
# kit) and MEDIUM_DIR/VERIFY.txt (the commands for the far side). The kit
# is built in a temporary directory beside MEDIUM_DIR and renamed into
# place only when complete: a failure leaves no half-written kit.
#
# Far side: `import` checks kit.sha256 (a changed, missing or extra bundle
# is named), verifies every bundle and its signatures with PUBLIC_KEY and
# its digest and root against kit.json, and with --oci publishes each
# bundle into the registry (repository REGISTRY/PREFIX/<tenant>).
#
# It calls only stella-export (from PATH, or $STELLA_EXPORT) and POSIX
# tools with coreutils' sha256sum.
set -eu

se=${STELLA_EXPORT:-stella-export}
prog=offline-kit.sh

die() { echo "$prog: $*" >&2; exit 1; }
usage() {
  echo "usage: $prog CONTRACTS_DIR SIGNING_KEY MEDIUM_DIR" >&2
  echo "       $prog import MEDIUM_DIR --key PUBLIC_KEY [--oci REGISTRY/PREFIX] [--insecure-registry]" >&2
  exit 2
}

# field NAME: the first string value of a member NAME in the one-line JSON
# on stdin (values holding no comma: ids, digests, paths of the kit).
field() { tr ',' '\n' | sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" | head -n 1; }

assemble() {
  contracts=$1 key=$2 medium=$3
  [ -d "$contracts" ] || die "$contracts: not a directory of contracts"
  [ -f "$key" ] || die "$key: no signing key"
  pub=${key%.key}.pub
  [ -f "$pub" ] || die "$pub: no public key beside the signing key"
  [ ! -e "$medium" ] || die "$medium already exists; give a new directory"
  parent=$(dirname "$medium")
  [ -d "$parent" ] || die "$parent: no such directory"

  work=$(mktemp -d "$parent/.offline-kit.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  mkdir "$work/bundles" "$work/contracts"

  echo "== plan --check $contracts"
  "$se" plan --check "$contracts"

  entries=""
  n=0
  for c in "$contracts"/*.yaml; do
    [ -f "$c" ] || continue
    name=$(basename "$c" .yaml)
    b=$work/bundles/$name.tgz
    echo "== run $c"
    "$se" run -q "$c" -o "$work/exports/$name" --package "$b" --sign-key "$key"
    rm -rf "$work/exports/$name"
    echo "== verify $name.tgz"
    v=$("$se" verify --json "$b" --key "$pub")
    id=$(printf '%s\n' "$v" | field exportId)
    root=$(printf '%s\n' "$v" | field root)
    sha=$(printf '%s\n' "$v" | field sha256)
    [ -n "$id" ] && [ -n "$root" ] && [ -n "$sha" ] || die "verify $b: no export id, root or digest in its report"
    "$se" publish -q "$b" --oci-layout "$work/oci"
    "$se" emit -q "$b" --outbox "$work/outbox"
    cp "$c" "$work/contracts/$name.yaml"
    entry=$(printf '{"bundle":"bundles/%s.tgz","contract":"contracts/%s.yaml","exportId":"%s","root":"%s","sha256":"%s"}' \
      "$name" "$name" "$id" "$root" "$sha")
    if [ -z "$entries" ]; then entries=$entry; else entries="$entries,$entry"; fi
    n=$((n + 1))
  done
  [ "$n" -gt 0 ] || die "$contracts: no *.yaml contract"
  rmdir "$work/exports" 2>/dev/null || true

  printf '{"exports":[%s],"format":"stella-export/offline-kit/v1"}\n' "$entries" > "$work/kit.json"
  cp "$pub" "$work/signing-key.pub"
  cat > "$work/VERIFY.txt" <<EOF
Offline Kit: $n exports, signed with the key signing-key.pub (compare its
fingerprint with the one you were given: stella-export verify prints it).

On the far side, from this directory:

  sha256sum -c kit.sha256
  for b in bundles/*.tgz; do stella-export verify "\$b" --key PUBLIC_KEY; done

or, in one step (and, with --oci, into a registry):

  scripts/offline-kit.sh import . --key PUBLIC_KEY [--oci REGISTRY/PREFIX]

kit.json lists every export with its id, Merkle root and SHA-256; outbox/
holds their ready notifications for 'stella-export emit relay'; oci/ is an
OCI image layout with every bundle ('skopeo copy oci:oci:TAG docker://...').
EOF
  (cd "$work" && find . -type f ! -name kit.sha256 | LC_ALL=C sort | sed 's|^\./||' | xargs sha256sum > kit.sha256)
  mv "$work" "$medium"
  trap - EXIT
  echo "kit: $medium ($n exports)"
}

import_kit() {
  medium="" pub="" oci="" insecure=""
  [ $# -ge 1 ] || usage
  medium=$1; shift
  while [ $# -gt 0 ]; do
    case $1 in
      --key) [ $# -ge 2 ] || usage; pub=$2; shift 2 ;;
      --oci) [ $# -ge 2 ] || usage; oci=$2; shift 2 ;;
      --insecure-registry) insecure=--insecure-registry; shift ;;
      *) usage ;;
    esac
  done
  [ -n "$pub" ] || usage
  [ -f "$medium/kit.json" ] && [ -f "$medium/kit.sha256" ] || die "$medium: not an Offline Kit (no kit.json or kit.sha256)"
  pub=$(cd "$(dirname "$pub")" && pwd)/$(basename "$pub")

  echo "== sha256sum -c kit.sha256"
  if ! (cd "$medium" && sha256sum --quiet --strict -c kit.sha256); then
    die "$medium: files of the kit do not match kit.sha256 (named above)"
  fi
  extra=$(cd "$medium" && find . -type f ! -name kit.sha256 | sed 's|^\./||' | while read -r f; do
    grep -q "  $f\$" kit.sha256 || echo "$f"
  done)
  [ -z "$extra" ] || die "$medium: files not in kit.sha256: $extra"

  n=0
  # One export per line of kit.json's array (no export field holds "},{").
  list=$(mktemp)
  trap 'rm -f "$list"' EXIT
  sed 's/.*"exports":\[//; s/\],"format".*//' "$medium/kit.json" | awk '{ gsub(/\},\{/, "}\n{"); print }' > "$list"
  while IFS= read -r e; do
    [ -n "$e" ] || continue
    bundle=$(printf '%s\n' "$e" | field bundle)
    id=$(printf '%s\n' "$e" | field exportId)
    root=$(printf '%s\n' "$e" | field root)
    sha=$(printf '%s\n' "$e" | field sha256)
    case $bundle in bundles/*.tgz) ;; *) die "kit.json: bundle \"$bundle\" is not under bundles/" ;; esac
    echo "== verify $bundle"
    v=$("$se" verify --json "$medium/$bundle" --key "$pub") || die "$bundle: does not verify"
    [ "$(printf '%s\n' "$v" | field root)" = "$root" ] || die "$bundle: root differs from kit.json's $root"
    [ "$(printf '%s\n' "$v" | field sha256)" = "$sha" ] || die "$bundle: SHA-256 differs from kit.json's $sha"
    [ "$(printf '%s\n' "$v" | field exportId)" = "$id" ] || die "$bundle: export id differs from kit.json's $id"
    if [ -n "$oci" ]; then
      "$se" publish -q "$medium/$bundle" --oci "$oci" --allow-network $insecure
    fi
    n=$((n + 1))
  done < "$list"
  [ "$n" -gt 0 ] || die "$medium/kit.json lists no export"
  if [ -n "$oci" ]; then
    echo "imported: $n exports verified and published to $oci"
  else
    echo "imported: $n exports verified"
  fi
}

case ${1:-} in
  import) shift; import_kit "$@" ;;
  ""|-h|--help) usage ;;
  *) [ $# -eq 3 ] || usage; assemble "$1" "$2" "$3" ;;
esac
