#!/usr/bin/env bash
# Install the Debian packages that tests need when they are missing: sctk (sclite), chromium,
# npm, and Slurm (slurmctld, slurmd, slurm-client, munge) for the `slurm` tests, which start a
# one-node cluster of their own (tests/slurm_cluster.py; no accounting, so no slurmdbd).
# Needs root (CI runs as root). Elsewhere it says what to install and lets the tests decide:
# under CI=true the sclite parity, browser and Slurm tests fail rather than skip.
set -euo pipefail
PATH="$PATH:/usr/sbin:/sbin"  # Debian's daemons (slurmctld, slurmd, munged) live there
need=()
{ command -v sclite || [ -x /usr/lib/sctk/bin/sclite ]; } >/dev/null 2>&1 || need+=(sctk)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v npm >/dev/null 2>&1 || need+=(npm)  # onnxruntime-web for the live demo (make web)
command -v slurmctld >/dev/null 2>&1 || need+=(slurmctld)
command -v slurmd >/dev/null 2>&1 || need+=(slurmd)
command -v sbatch >/dev/null 2>&1 || need+=(slurm-client)
command -v munged >/dev/null 2>&1 || need+=(munge)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing ${need[*]} with apt-get"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
else
  echo "note: ${need[*]} missing; install them (Debian: apt-get install ${need[*]}) for the" \
       "sclite parity, browser and Slurm tests" >&2
fi
