#!/usr/bin/env bash
# `npm run bench`: every benchmark in bench/, each writing bench/results/<name>.json, then the
# summary page bench/RESULTS.md. Needs root (network namespaces). `npm run bench -- NAME...`
# runs only the named ones (apply, detection, capacity, failover, cluster, drift, ready, status-page,
# maglev, conntrack-count; datapath separately: `npm run bench -- datapath`).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash test/scripts/setup.sh
all=(apply detection capacity failover cluster drift ready status-page maglev conntrack-count)
selected=("$@")
[ ${#selected[@]} -gt 0 ] || selected=("${all[@]}")
for name in "${selected[@]}"; do
  if [ -f "dist/bench/$name.js" ]; then
    echo "== bench $name"
    node "dist/bench/$name.js"
  else
    echo "== bench $name: not built (dist/bench/$name.js missing)" >&2
  fi
done
node dist/bench/summary.js
