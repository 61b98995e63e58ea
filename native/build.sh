#!/usr/bin/env bash
# Builds the tcp check engine (native/tcp_check.c) into dist/native/tcp_check.node, against the
# Node-API and libuv headers of the Node that runs the build (<prefix>/include/node, shipped with
# Node's packages). Optional by design: without a C compiler or those headers the build says so,
# and the agent's tcp checks run in JavaScript (slower, and they complete the handshake); the
# daemon logs which one it uses. A compiler that fails on the source is an error.
set -euo pipefail
cd "$(dirname "$0")/.."
cc=${CC:-cc}
out=dist/native/tcp_check.node
include=$(node -p "require('node:path').resolve(process.execPath, '../../include/node')")
if ! command -v "$cc" >/dev/null 2>&1; then
  echo "build: no C compiler ($cc): tcp checks will run in JavaScript (README, Checks)" >&2
  exit 0
fi
if [ ! -f "$include/node_api.h" ] || [ ! -f "$include/uv.h" ]; then
  echo "build: no Node headers in $include: tcp checks will run in JavaScript (README, Checks)" >&2
  exit 0
fi
mkdir -p dist/native
"$cc" -O2 -Wall -Wextra -Werror -std=gnu11 -shared -fPIC -I"$include" -o "$out.tmp" native/tcp_check.c
mv "$out.tmp" "$out"
