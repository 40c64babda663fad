#!/usr/bin/env bash
# Installs the Debian packages daisy needs to build, test and benchmark,
# skipping the ones already there (so a second run costs a second), then
# zarrita (npm, for the Zarr v3 interop test) into $DAISY_NODE_DIR
# (default ~/.cache/daisy/node), once, under a lock so that parallel runs
# do not race. `deps.sh --node-only DIR` does only the latter (the interop
# test calls it on first use).
set -euo pipefail

ZARRITA_VERSION=0.7.5
node_dir="${DAISY_NODE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/daisy/node}"

install_zarrita() {  # dir
  local dir=$1
  [ -f "$dir/node_modules/zarrita/package.json" ] && return 0
  command -v npm >/dev/null || { echo "deps: npm is missing: zarrita not installed" >&2; return 1; }
  mkdir -p "$dir"
  (
    flock 9
    [ -f "$dir/node_modules/zarrita/package.json" ] && exit 0
    echo "deps: installing zarrita@$ZARRITA_VERSION into $dir" >&2
    npm install --prefix "$dir" --no-audit --no-fund --silent "zarrita@$ZARRITA_VERSION" >&2
  ) 9>"$dir/.lock"
}

if [ "${1:-}" = "--node-only" ]; then
  install_zarrita "${2:-$node_dir}"
  exit
fi

packages=(
  gcc clang libclang-rt-14-dev pkg-config meson ninja-build
  libjansson-dev libczmq-dev libzmq3-dev libsodium-dev libmsgpack-dev libcriterion-dev
  zlib1g-dev libzstd-dev libblosc-dev libsqlite3-dev python3-zarr python3-numcodecs
  python3 python3-zmq python3-msgpack python3-networkx python3-psycopg2 iproute2
  slurm-wlm munge postgresql postgresql-contrib libpq-dev nodejs npm
  libmicrohttpd-dev chromium python3-websocket curl strace
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node may come from elsewhere (nodesource, nvm): then no Debian nodejs/npm.
if command -v node >/dev/null && command -v npm >/dev/null; then
  kept=()
  for p in "${missing[@]}"; do
    [ "$p" = nodejs ] || [ "$p" = npm ] || kept+=("$p")
  done
  missing=("${kept[@]}")
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
install_zarrita "$node_dir"
