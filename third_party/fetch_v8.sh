#!/usr/bin/env bash
# Brings V8 in from the Debian release's Node.js shared library: libnode108 (Node.js 18,
# V8 10.2) on Debian 12, libnode115 (Node.js 20, V8 11.3) on Debian 13. The package is the
# one the release's libnode-dev depends on, and libnode's runtime libraries (ICU among them)
# are read from that package's own dependencies, so nothing names one release.
# `apt-get install libnode-dev` conflicts with the Node.js these machines have, so the
# packages are downloaded and unpacked into third_party/v8/ instead.
# Idempotent: exits at once when this release's headers and library are already there.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
dest="$here/v8"

fail() { echo "fetch_v8: $*" >&2; exit 1; }

release=$(. /etc/os-release 2>/dev/null && echo "${ID:-unknown}-${VERSION_ID:-unknown}")

installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

all_installed() {
  for p in "$@"; do installed "$p" || return 1; done
}

# What an earlier run fetched: the release, the libnode package and its runtime libraries.
if [ -f "$dest/include/node/v8-version.h" ] && [ -f "$dest/FETCHED" ]; then
  read -r fetched_release fetched_pkg fetched_runtime < "$dest/FETCHED" || true
  read -ra fetched_runtime <<< "${fetched_runtime:-}"
  if [ "$fetched_release" = "$release" ] && [ -e "$dest/lib/libnode.so.${fetched_pkg#libnode}" ] \
      && all_installed "${fetched_runtime[@]}"; then
    exit 0
  fi
fi

command -v apt-get >/dev/null || fail "apt-get not found: this script needs Debian 12 or 13"
[ "$(id -u)" = 0 ] || fail "run as root (it calls apt-get)"

# libnodeNNN, as the release's libnode-dev requires it (the package lists may be missing).
libnode_of_release() {
  apt-cache depends libnode-dev 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^libnode[0-9]+$/ { print $2; exit }'
}
pkg=$(libnode_of_release)
if [ -z "$pkg" ]; then
  apt-get update -qq || fail "apt-get update failed"
  pkg=$(libnode_of_release)
fi
[ -n "$pkg" ] || fail "this release's libnode-dev names no libnodeNNN package (apt-cache depends libnode-dev)"
soname="libnode.so.${pkg#libnode}"

# libnode's shared-library dependencies (not its JS modules, which would pull in nodejs).
read -ra runtime < <(apt-cache depends "$pkg" | awk '$1 == "Depends:" && $2 ~ /^(lib|zlib)/ { print $2 }' | sort -u | xargs)
((${#runtime[@]})) || fail "apt-cache lists no dependencies for $pkg"

# A tree unpacked before FETCHED existed is kept when it holds this release's library.
if [ -f "$dest/include/node/v8-version.h" ] && [ -e "$dest/lib/$soname" ] && all_installed "${runtime[@]}"; then
  echo "$release $pkg ${runtime[*]}" > "$dest/FETCHED"
  exit 0
fi
if ! all_installed "${runtime[@]}"; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${runtime[@]}" >/dev/null \
    || fail "could not install $pkg's runtime packages: ${runtime[*]}"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
if ! apt-get download "$pkg" libnode-dev >/dev/null 2>&1; then
  apt-get update -qq || fail "apt-get update failed"
  apt-get download "$pkg" libnode-dev >/dev/null || fail "apt-get download $pkg libnode-dev failed"
fi

rm -rf "$dest.tmp"
mkdir -p "$dest.tmp"
for deb in ./*.deb; do
  dpkg -x "$deb" "$dest.tmp/root" || fail "dpkg -x $deb failed"
done
found=$(find "$dest.tmp/root/usr/lib" -name "$soname" | head -n 1)
[ -n "$found" ] || fail "$soname not found in the downloaded packages"
mkdir -p "$dest.tmp/lib"
cp -a "$(dirname "$found")"/libnode.so* "$dest.tmp/lib/"
mv "$dest.tmp/root/usr/include" "$dest.tmp/include"
rm -rf "$dest.tmp/root"
echo "$release $pkg ${runtime[*]}" > "$dest.tmp/FETCHED"
rm -rf "$dest"
mv "$dest.tmp" "$dest"

version=$(awk '/define V8_(MAJOR|MINOR|BUILD)_VERSION/ {printf "%s.", $3}' "$dest/include/node/v8-version.h")
echo "fetch_v8: V8 ${version%.} from $pkg ($release) in $dest"
