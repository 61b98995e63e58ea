#!/usr/bin/env bash
# `npm run lab`: set up (Debian packages, npm ci, build), then run the agent on a self-contained
# network-namespace lab and tear it down. Needs root (network namespaces).
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "$(id -u)" -ne 0 ]; then
  echo "lab: needs root (it creates network namespaces); run: sudo npm run lab" >&2
  exit 1
fi
bash test/scripts/setup.sh
exec node dist/test/lab/lab.js "$@"
