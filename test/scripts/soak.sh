#!/usr/bin/env bash
# `npm run soak -- --minutes M [--seed S] [--out FILE] [--topology pair|active-active]`: set up
# (Debian packages, npm ci, build), then run the chaos soak on a network-namespace lab (the VRRP
# pair, or three LBs behind a router's ECMP with BGP) and check its history. Needs root.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "$(id -u)" -ne 0 ]; then
  echo "soak: needs root (it creates network namespaces); run: sudo npm run soak -- --minutes M" >&2
  exit 1
fi
bash test/scripts/setup.sh
exec node dist/test/soak/run.js "$@"
