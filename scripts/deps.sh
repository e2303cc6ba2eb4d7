#!/usr/bin/env bash
# deps.sh: install the Debian packages the test suite runs against:
# busybox (its tar and sh read our bundles), dash (POSIX sh), pigz, zstd and
# GNU time (scripts/bench.sh), file (static-binary check), openssl (checks the
# webhook HMAC the way docs/notifications.md tells receivers to; bench.sh's
# signing key), age (age and age-keygen: interop tests of internal/agecrypt),
# python3-cryptography (the independent .enc decryptor of
# internal/envelope/testdata/decrypt_enc.py), prometheus (its promtool
# checks --metrics-file output: internal/metrics), docker-registry and skopeo
# (the real registry and copier of the publish/pull scripts, oci_*.txtar),
# chromium (renders verify --html reports headless: internal/report). Root
# only; as another user it
# prints the apt command and exits 1 if something is missing.
set -euo pipefail
need=()
command -v busybox >/dev/null || need+=(busybox)
command -v dash >/dev/null || need+=(dash)
command -v pigz >/dev/null || need+=(pigz)
command -v zstd >/dev/null || need+=(zstd)
[ -x /usr/bin/time ] || need+=(time)
command -v file >/dev/null || need+=(file)
command -v tar >/dev/null || need+=(tar)
command -v openssl >/dev/null || need+=(openssl)
command -v age >/dev/null || need+=(age)
command -v chromium >/dev/null || need+=(chromium)
/usr/bin/python3 -c 'import cryptography' 2>/dev/null || need+=(python3-cryptography)
command -v promtool >/dev/null || need+=(prometheus)
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v skopeo >/dev/null || need+=(skopeo)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "deps.sh: missing ${need[*]}; run: sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "deps.sh: installed ${need[*]}"
