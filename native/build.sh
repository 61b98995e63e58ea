#!/usr/bin/env bash
# Builds the native modules into dist/native/*.node: the check engines (native/tcp_check.c,
# native/http_check.c, both on native/engine.h), systemd's notifier (native/sd_notify.c) and the
# nf_tables change listener (native/nft_events.c; without it drift is followed by `nft monitor`),
# against the Node-API and libuv headers of the Node that runs the build (<prefix>/include/node,
# shipped with Node's packages). Optional by design: on a system other than Linux (the engines
# need epoll), or without a C compiler or those headers, the build says so, removes any module an
# earlier build left (it would not match this tree's JavaScript), and the agent's tcp and http
# checks run in JavaScript (slower, and tcp checks complete the handshake); the daemon logs why at
# start. A compiler that fails on the source is an error.
set -euo pipefail
cd "$(dirname "$0")/.."
cc=${CC:-cc}
modules=(tcp_check http_check sd_notify nft_events nflog)
include=$(node -p "require('node:path').resolve(process.execPath, '../../include/node')")
skip() {
  for module in "${modules[@]}"; do rm -f "dist/native/$module.node"; done
  echo "build: $1: tcp checks will run in JavaScript, http checks too (README, Checks)" >&2
  exit 0
}
system=$(uname -s)
[ "$system" = Linux ] || skip "the tcp check engine needs Linux, this is $system"
command -v "$cc" >/dev/null 2>&1 || skip "no C compiler ($cc)"
[ -f "$include/node_api.h" ] && [ -f "$include/uv.h" ] || skip "no Node headers in $include"
mkdir -p dist/native
for module in "${modules[@]}"; do
  out=dist/native/$module.node
  # Debian's hardening: fortified libc calls, full RELRO with immediate binding.
  "$cc" -O2 -D_FORTIFY_SOURCE=2 -fstack-protector-strong -Wall -Wextra -Werror -std=gnu11 -shared -fPIC \
    -Wl,-z,relro,-z,now -I"$include" -o "$out.tmp" "native/$module.c" -lm
  mv "$out.tmp" "$out"
done
