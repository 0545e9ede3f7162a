#!/usr/bin/env bash
# Brings V8 in from Debian's libnode108 (Node.js 18's shared library, V8 10.2).
# `apt-get install libnode-dev` conflicts with the Node.js these machines have,
# so the packages are downloaded and unpacked into third_party/v8/ instead.
# Idempotent: exits at once when the headers and library are already there.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
dest="$here/v8"
runtime_pkgs=(libc-ares2 libicu72 libuv1 libnghttp2-14 libbrotli1 libssl3)

fail() { echo "fetch_v8: $*" >&2; exit 1; }

have_runtime_deps() {
  for p in "${runtime_pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || return 1
  done
}

if [ -f "$dest/include/node/v8-version.h" ] && [ -e "$dest/lib/libnode.so.108" ] && have_runtime_deps; then
  exit 0
fi

command -v apt-get >/dev/null || fail "apt-get not found: this script needs Debian 12 (bookworm)"
[ "$(id -u)" = 0 ] || fail "run as root (it calls apt-get)"

if ! have_runtime_deps; then
  apt-get update -qq || fail "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${runtime_pkgs[@]}" >/dev/null \
    || fail "could not install libnode's runtime packages: ${runtime_pkgs[*]}"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
if ! apt-get download libnode108 libnode-dev >/dev/null 2>&1; then
  apt-get update -qq || fail "apt-get update failed"
  apt-get download libnode108 libnode-dev >/dev/null || fail "apt-get download libnode108 libnode-dev failed"
fi

rm -rf "$dest.tmp"
mkdir -p "$dest.tmp"
for deb in ./*.deb; do
  dpkg -x "$deb" "$dest.tmp/root" || fail "dpkg -x $deb failed"
done
arch_dir=$(dirname "$(find "$dest.tmp/root/usr/lib" -name 'libnode.so.108' | head -n 1)")
[ -n "$arch_dir" ] || fail "libnode.so.108 not found in the downloaded packages"
mkdir -p "$dest.tmp/lib"
cp -a "$arch_dir"/libnode.so* "$dest.tmp/lib/"
mv "$dest.tmp/root/usr/include" "$dest.tmp/include"
rm -rf "$dest.tmp/root"
rm -rf "$dest"
mv "$dest.tmp" "$dest"

version=$(awk '/define V8_(MAJOR|MINOR|BUILD)_VERSION/ {printf "%s.", $3}' "$dest/include/node/v8-version.h")
echo "fetch_v8: V8 ${version%.} in $dest"
