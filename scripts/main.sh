#!/usr/bin/env bash
# The main job: install what is missing, build, and run the quickstart
# pipeline (square 4,096,000 values blockwise, then reduce them to 16
# partial sums, checked against the closed form).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
[ -d build ] || meson setup build --buildtype=release >/dev/null
ninja -C build >/dev/null
exec build/examples/quickstart "$@"
