#!/usr/bin/env bash
# Installs the Debian packages the build and tests need, only those missing, then V8.
set -euo pipefail

packages=(g++ make cmake ccache libssl-dev zlib1g-dev libicu-dev pkg-config)
python=${PYTHON:-python3}
command -v "$python" >/dev/null || packages+=(python3)
# npm installs esbuild (TypeScript apps) and the compat suite's packages; keep a Node.js already there.
command -v npm >/dev/null || packages+=(npm)
"$python" -c "import venv, ensurepip" 2>/dev/null || packages+=(python3-venv)
"$python" - <<'PY' 2>/dev/null || packages+=(python3-dev)
import sysconfig, pathlib, sys
sys.exit(0 if (pathlib.Path(sysconfig.get_paths()["include"]) / "Python.h").exists() else 1)
PY

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  [ "$(id -u)" = 0 ] || { echo "install_system_packages: run as root to install: ${missing[*]}" >&2; exit 1; }
  echo "install_system_packages: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

exec "$(dirname "$0")/../third_party/fetch_v8.sh"
