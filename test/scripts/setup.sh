#!/usr/bin/env bash
# Prepares a fresh Debian 12 machine for the tests and the lab: the Debian packages the agent and
# its real-kernel tests use (gcc builds the tcp check's native helper; python3 binds the unix
# datagram socket that stands in for systemd's notification socket; chromium renders the status page
# headless; prometheus ships promtool, which checks the alert rules in contrib/), the npm
# dependencies, and the build. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/../.."

PACKAGES=(iptables nftables iproute2 conntrack conntrackd keepalived redis-server procps psmisc monitoring-plugins-basic haproxy openssl gcc libc6-dev python3 chromium prometheus)
# The Debian package's build and tests (test/packaging, test/systemd): dpkg-deb, dpkg-shlibdeps,
# lintian, man, bash-completion, systemd-analyze, setpriv.
PACKAGES+=(dpkg-dev binutils lintian man-db bash-completion systemd util-linux)
# BGP for active-active (bgp section): BIRD 2, whose `bird -p` checks the rendered bird.conf and
# which runs on the LBs and the router namespace of the active-active tests.
PACKAGES+=(bird2)
# The iptables driver's VIP sets (ipset); the data-path benchmark's client (wrk).
PACKAGES+=(ipset wrk)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages (${missing[*]}); run as root to install them" >&2
  else
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # The packaged services must not start on the host: the tests start their own, in namespaces.
    # The machine's own policy (if any) is put back however the install ends.
    policy=/usr/sbin/policy-rc.d
    saved=""
    if [ -e "$policy" ]; then saved=$(mktemp) && cp -p "$policy" "$saved"; fi
    restore_policy() { if [ -n "$saved" ]; then mv "$saved" "$policy"; else rm -f "$policy"; fi; }
    trap restore_policy EXIT
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    restore_policy
    trap - EXIT
  fi
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run -s build
