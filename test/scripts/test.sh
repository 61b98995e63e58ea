#!/usr/bin/env bash
# The project's test command (`npm test`): set up, build, then every test — unit tests and the
# real-kernel tests in network namespaces — one file at a time so timing tests are not starved.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash test/scripts/setup.sh
if [ "$(id -u)" -ne 0 ] && [ -n "${CI:-}" ]; then
  echo "test: CI must run as root (the real-kernel tests cannot be skipped there)" >&2
  exit 1
fi
mapfile -t files < <(find dist/test -name '*.test.js' | sort)
# TAP for the full record, then a summary of the failures at the very end, where a CI log's tail shows it.
exec node --test --test-concurrency=1 \
  --test-reporter=tap --test-reporter-destination=stdout \
  --test-reporter=./dist/test/support/failure-summary.js --test-reporter-destination=stdout \
  "${files[@]}"
