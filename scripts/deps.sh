#!/usr/bin/env bash
# Installs the Debian packages daisy needs to build, test and benchmark,
# skipping the ones already there (so a second run costs a second).
set -euo pipefail

packages=(
  gcc clang libclang-rt-14-dev pkg-config meson ninja-build
  libjansson-dev libczmq-dev libzmq3-dev libmsgpack-dev libcriterion-dev
  zlib1g-dev libzstd-dev libblosc-dev libsqlite3-dev python3-zarr python3-numcodecs
  python3 python3-zmq python3-msgpack python3-networkx python3-psycopg2 iproute2
  slurm-wlm munge postgresql postgresql-contrib libpq-dev
  libmicrohttpd-dev chromium python3-websocket curl
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
