#!/usr/bin/env bash
# The build enforces the layers (meson.build): a source of a lower layer
# that includes a header of a higher one, or a private header of another
# layer, does not compile. Each case compiles a real source of the layer
# with one forbidden include added, with the layer's flags as meson gives
# them; the untouched source must compile, the changed one must not.
. "$(dirname "$0")/lib.sh"
src=$(cd "$(dirname "$0")/../.." && pwd)
CC=${CC:-cc}
flags=$(pkg-config --cflags libczmq jansson msgpack 2>/dev/null)

compiles() {  # layer, private dirs (comma-separated), source file
  local layer=$1 dirs=$2 file=$3 inc=()
  IFS=, read -ra d <<<"$dirs"
  for x in "${d[@]}"; do inc+=(-I"$src/$x"); done
  # shellcheck disable=SC2086
  $CC -std=gnu11 -D_GNU_SOURCE -fsyntax-only -DDAISY_LAYER_$layer -I"$src/include" \
      "${inc[@]}" $flags "$file" 2>"$tmpdir/err"
}

case_() {  # layer, private dirs, real source, forbidden include
  local layer=$1 dirs=$2 file=$src/$3 include=$4
  check "$3 compiles as it is" compiles "$layer" "$dirs" "$file"
  { echo "#include $include"; cat "$file"; } >"$tmpdir/$(basename "$file")"
  if compiles "$layer" "$dirs" "$tmpdir/$(basename "$file")"; then
    fail "$3 with #include $include compiled"
  else
    checks=$((checks + 1))
  fi
}

case_ PROTOCOL protocol protocol/protocol.c '"daisy/scheduler.h"'
case_ PROTOCOL protocol protocol/protocol.c '"daisy/task.h"'
case_ PROTOCOL protocol protocol/protocol.c '"blockmap.h"'
case_ CORE src src/scheduler.c '"daisy/protocol.h"'
case_ CORE src src/scheduler.c '"daisy/broker.h"'
case_ CORE src src/serial.c '"daisy/array.h"'
case_ BROKER broker broker/broker.c '"daisy/worker.h"'
case_ BROKER broker broker/broker.c '"daisy/launcher.h"'
case_ BROKER broker broker/roster.c '"graph_internal.h"'
case_ WORKER worker worker/worker.c '"daisy/broker.h"'
case_ WORKER worker worker/worker.c '"broker_internal.h"'
case_ ZARR zarr,src zarr/array.c '"daisy/protocol.h"'
case_ ZARR zarr,src zarr/array.c '"daisy/graphdb.h"'
case_ CORE src src/scheduler.c '"daisy/graphdb.h"'
case_ GRAPHDB graphdb graphdb/sqlite.c '"daisy/protocol.h"'
case_ GRAPHDB graphdb graphdb/sqlite.c '"daisy/array.h"'
case_ GRAPHDB graphdb graphdb/schema.c '"blockmap.h"'
case_ RUNTIME runtime,src runtime/launcher.c '"daisy/array.h"'
case_ RUNTIME runtime,src runtime/serve.c '"daisy/daisy.h"'
finish
