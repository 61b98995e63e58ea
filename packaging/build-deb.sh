#!/usr/bin/env bash
# `npm run package`: builds dist/ha-agent_<version>_<arch>.deb from this tree with dpkg-deb.
#
# Not debhelper: the package is the npm build (tsc, the native engines built for this machine's
# architecture, the production node_modules) laid out under /usr/lib/ha-agent, plus a few plain
# files. dh would add a debian/ source package and a dpkg-buildpackage run around the same steps,
# and its one real help here, the systemd maintainer-script snippets, is the few lines in
# packaging/deb/ (written as dh_installsystemd writes them, with its --no-enable --no-start
# --restart-after-upgrade behaviour).
#
# `--no-build` packages dist/ as it is (right after an `npm run build`, as CI does).
#
# The production node_modules are copied from the tree (`npm ci` has installed them from the
# lockfile), the packages `npm ls --omit=dev` names: no network, and the exact versions tested.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

started=$(date +%s.%N)
log() { printf 'package: %s\n' "$*" >&2; }
fail() { printf 'package: %s\n' "$*" >&2; exit 1; }

for tool in dpkg-deb dpkg-architecture gzip strip; do
  command -v "$tool" >/dev/null 2>&1 || fail "$tool not found (Debian: apt-get install dpkg-dev binutils)"
done
[ -d node_modules ] || fail "no node_modules: run npm ci first"

version=$(node -p 'require("./package.json").version')
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
maintainer=${DEB_MAINTAINER:-"ha-agent maintainers <ha-agent@users.noreply.github.com>"}
# Reproducible dates: the last commit's, or now outside a git checkout.
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH=$epoch
date_day=$(date -u -d "@$epoch" +%F)
date_rfc=$(date -u -d "@$epoch" -R)

build=yes
for arg in "$@"; do
  case $arg in
    --no-build) build=no ;;
    *) fail "unknown argument $arg (usage: build-deb.sh [--no-build])" ;;
  esac
done

log "building ha-agent $version for $arch"
[ "$build" = no ] || npm run -s build
# A package must carry the native engines: without a compiler native/build.sh skips them (and
# the agent falls back to slower JavaScript checks), which is fine in a checkout, not in a .deb.
for engine in tcp_check; do
  [ -f "dist/native/$engine.node" ] || fail "dist/native/$engine.node was not built (gcc and Node's headers are needed)"
done

stage=$(mktemp -d "${TMPDIR:-/tmp}/ha-agent-deb.XXXXXX")
trap 'rm -rf "$stage"' EXIT
chmod 0755 "$stage"
app=$stage/usr/lib/ha-agent
doc=$stage/usr/share/doc/ha-agent
install -d "$app/dist" "$stage/usr/bin" "$stage/lib/systemd/system" "$stage/usr/lib/tmpfiles.d" \
  "$stage/usr/lib/modules-load.d" "$stage/etc/ha-agent" "$stage/usr/share/man/man8" "$stage/usr/share/man/man5" \
  "$stage/usr/share/bash-completion/completions" "$doc" "$stage/DEBIAN"

# The app: compiled JavaScript (no tests, benchmarks or source maps) and package.json, which
# agent/version.ts reads.
for part in agent checks config native; do
  cp -R "dist/$part" "$app/dist/"
done
find "$app/dist" -name '*.map' -delete
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$app"/dist/native/*.node
node -e '
  const p = require("./package.json");
  const keep = { name: p.name, version: p.version, description: p.description, type: p.type, license: p.license, dependencies: p.dependencies };
  process.stdout.write(JSON.stringify(keep, null, 2) + "\n");
' > "$app/package.json"

# Production dependencies: each top-level package npm resolves without dev dependencies, with
# its own nested node_modules (a nested copy under a production package is a production one).
mapfile -t deps < <(npm ls --omit=dev --all --parseable | sed -n "s#^$root/node_modules/##p" | grep -v '/node_modules/' | sort -u)
[ ${#deps[@]} -gt 0 ] || fail "npm ls found no production dependency"
for dep in "${deps[@]}"; do
  mkdir -p "$app/node_modules/$(dirname "$dep")"
  cp -R "node_modules/$dep" "$app/node_modules/$dep"
done
# What is not needed to run: docs (with their web pages and images), type declarations, tests,
# and VCS, editor and CI files.
find "$app/node_modules" \( -name '*.md' -o -name '*.markdown' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' \
  -o -name '*.map' -o -name '*.html' -o -name '*.png' -o -name '*.svg' -o -name '.npmignore' -o -name '.git*' \
  -o -name '.eslintrc*' -o -name '.editorconfig' -o -name '.travis.yml' -o -name '.husky' -o -name '.github' \
  -o -name 'test' -o -name 'tests' -o -name '__tests__' -o -name 'docs' -o -name 'docsify' -o -name 'benchmarks' \
  -o -name 'example' -o -name 'examples' -o -name 'Makefile' -o -name '*.sh' \) -prune -exec rm -rf {} +
find "$app/node_modules" -type d -empty -delete
# Modes: scripts (a #! line: the entry points, the modules' own command-line tools) executable,
# the rest not.
find "$app" -type f -exec chmod 0644 {} +
find "$app" -type f -print0 | xargs -0 awk 'FNR == 1 { if (/^#!/) print FILENAME; nextfile }' | xargs -r chmod 0755

# The native engines' shared-library dependencies (libc), as dpkg-shlibdeps reads them; it wants
# a debian/control to stand in.
shlibs_dir=$stage.shlibs
mkdir -p "$shlibs_dir/debian"
printf 'Source: ha-agent\n\nPackage: ha-agent\nArchitecture: any\n' > "$shlibs_dir/debian/control"
shlibs=$(cd "$shlibs_dir" && dpkg-shlibdeps -O "$app"/dist/native/*.node 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
rm -rf "$shlibs_dir"
[ -n "$shlibs" ] || fail "dpkg-shlibdeps found no library dependency for dist/native/*.node"

# Commands: the system's Node runs the entry points; exec keeps the pid systemd watches.
for cmd in ha-agent agentctl; do
  cat > "$stage/usr/bin/$cmd" <<EOF
#!/bin/sh
# $cmd: runs /usr/lib/ha-agent with the system's Node.js (the nodejs package's /usr/bin/node).
node=/usr/bin/node
[ -x "\$node" ] || node=node
exec "\$node" /usr/lib/ha-agent/dist/agent/cli/$cmd.js "\$@"
EOF
  chmod 0755 "$stage/usr/bin/$cmd"
done

install -m 0644 systemd/ha-agent.service "$stage/lib/systemd/system/ha-agent.service"
install -m 0644 systemd/ha-agent.tmpfiles "$stage/usr/lib/tmpfiles.d/ha-agent.conf"
install -m 0644 systemd/ha-agent.modules "$stage/usr/lib/modules-load.d/ha-agent.conf"
# The config may hold farm addresses operators consider private: not world-readable.
install -m 0640 packaging/config.yaml "$stage/etc/ha-agent/config.yaml"
install -m 0644 packaging/completion/ha-agent.bash "$stage/usr/share/bash-completion/completions/ha-agent"
ln -s ha-agent "$stage/usr/share/bash-completion/completions/agentctl"

for page in ha-agent.8 agentctl.8 ha-agent.yaml.5; do
  node packaging/man/render.mjs --version "$version" --date "$date_day" "packaging/man/$page.md" \
    | gzip -9n > "$stage/usr/share/man/man${page##*.}/$page.gz"
done

# Debian changelog (a native package: one entry for the version built) and copyright, which
# lists the bundled modules' licenses as their package.json files declare them.
cat <<EOF | gzip -9n > "$doc/changelog.gz"
ha-agent ($version) unstable; urgency=medium

  * Release $version, built from the ha-agent tree by packaging/build-deb.sh.

 -- $maintainer  $date_rfc
EOF
chmod 0644 "$doc/changelog.gz"
{
  cat packaging/deb/copyright
  for dep in "${deps[@]}"; do
    license=$(node -p 'const p = require(process.argv[1]); typeof p.license === "string" ? p.license : (p.license && p.license.type) || "UNKNOWN"' "$root/node_modules/$dep/package.json")
    printf '\nFiles: usr/lib/ha-agent/node_modules/%s/*\nCopyright: the authors of the npm package %s\nLicense: %s\n' "$dep" "$dep" "$license"
    [ "$license" != UNKNOWN ] || fail "node_modules/$dep declares no license"
  done
} > "$doc/copyright"
chmod 0644 "$doc/copyright"

install -d "$stage/usr/share/lintian/overrides"
install -m 0644 packaging/deb/lintian-overrides "$stage/usr/share/lintian/overrides/ha-agent"

for script in postinst prerm postrm; do
  install -m 0755 "packaging/deb/$script" "$stage/DEBIAN/$script"
done
( cd "$stage" && find etc -type f -printf '/%p\n' ) > "$stage/DEBIAN/conffiles"
( cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum ) > "$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/conffiles" "$stage/DEBIAN/md5sums"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" -e "s/@MAINTAINER@/$maintainer/" -e "s/@SHLIBS@/$shlibs/" \
  packaging/deb/control.in > "$stage/DEBIAN/control"

mkdir -p dist
out=dist/ha-agent_${version}_${arch}.deb
# Files owned by root whoever builds; mtimes clamped to SOURCE_DATE_EPOCH by dpkg-deb.
dpkg-deb --root-owner-group -Zxz --build "$stage" "$out" >/dev/null
elapsed=$(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
log "$out: $(du -k "$out" | cut -f1) kB (installed $size kB), built in ${elapsed}s"
echo "$out"
