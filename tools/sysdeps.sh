#!/usr/bin/env bash
# Install the Debian packages that tests need when they are missing: sctk (sclite) and chromium.
# Needs root (CI runs as root). Elsewhere it says what to install and lets the tests decide:
# under CI=true the sclite parity test fails rather than skip.
set -euo pipefail
need=()
{ command -v sclite || [ -x /usr/lib/sctk/bin/sclite ]; } >/dev/null 2>&1 || need+=(sctk)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v npm >/dev/null 2>&1 || need+=(npm)  # onnxruntime-web for the live demo (make web)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing ${need[*]} with apt-get"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
else
  echo "note: ${need[*]} missing; install them (Debian: apt-get install ${need[*]}) for the" \
       "sclite parity and browser tests" >&2
fi
