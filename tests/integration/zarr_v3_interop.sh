#!/bin/bash
# Zarr v3 interoperability between daisy_array and zarrita (npm), an
# independent implementation, in Node.
#
# Usage: zarr_v3_interop.sh ARRAY_TOOL
#
# Here -> zarrita: array_tool writes v3 arrays (every dtype; sharded and
# not; no compressor, gzip, zstd, blosc; with and without crc32c; in
# unaligned blocks, with runs of fill value so some inner chunks are not
# stored) and zarrita must read exactly the data written.
# zarrita -> here: zarrita writes v3 arrays (bytes little and big endian,
# zstd, blosc, transpose) and array_tool must read exactly the same data.
# (zarrita 0.7 cannot write sharded arrays, gzip or crc32c: those
# directions are covered by reading ours.)
# Markers: a partial `daisy run --markers` (DAISY in the environment) and
# zarrita must read its done markers byte for byte, one per block done.
#
# zarrita is installed by scripts/deps.sh, or here on first use, into
# $DAISY_NODE_DIR (default ~/.cache/daisy/node) under a lock. Without node
# or zarrita the test is skipped (77), except in CI (CI=true), where it
# fails.
set -u
tool="${1:-${ARRAY_TOOL:-}}"
here="$(cd "$(dirname "$0")" && pwd)"
node_dir="${DAISY_NODE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/daisy/node}"

unavailable() {
    if [ "${CI:-}" = "true" ]; then
        echo "FAIL: $1 (CI=true: this test must run)"
        exit 1
    fi
    echo "SKIP: $1"
    exit 77
}

[ -n "$tool" ] || { echo "FAIL: give the path of array_tool (argument or ARRAY_TOOL)"; exit 1; }
command -v node >/dev/null || unavailable "node is not installed"
if [ ! -f "$node_dir/node_modules/zarrita/package.json" ]; then
    "$here/../../scripts/deps.sh" --node-only "$node_dir" >&2 \
        || unavailable "zarrita could not be installed into $node_dir"
fi
[ -f "$node_dir/node_modules/zarrita/package.json" ] \
    || unavailable "zarrita is not installed in $node_dir"

# ESM resolves packages from the script's own directory: run a copy there.
work=$(mktemp -d /tmp/daisy-zarr3-interop.XXXXXX)
trap 'rm -rf "$work" "$node_dir/zarr_v3_interop.$$.mjs"' EXIT
mjs="$node_dir/zarr_v3_interop.$$.mjs"
cp "$here/zarr_v3_interop.mjs" "$mjs"

failed=0 passed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }

DTYPES="uint8 uint16 uint32 uint64 int8 int16 int32 int64 float32 float64"
SHAPE=20,30,17 CHUNKS=8,8,8 SHARDS=16,16,16 COUNT=$((20 * 30 * 17))

# Here -> zarrita
here_to_zarrita() {  # name dtype array_tool-options...
    local name=$1 dtype=$2; shift 2
    local data="$work/$name.in" out="$work/$name.out" dir="$work/ours.zarr/$name"
    node "$mjs" gen "$dtype" "$COUNT" "${#name}$RANDOM" "$data" || { bad "$name: gen"; return; }
    if ! "$tool" write "$dir" --format 3 --dtype "$dtype" --shape $SHAPE --chunks $CHUNKS \
            --voxel-size 4,3,2 --offset -8,0,6 --block 7,11,5 --data "$data" "$@"; then
        bad "$name: array_tool write"; return
    fi
    if ! node "$mjs" read "$dir" "$out" > "$work/$name.meta"; then
        bad "$name: zarrita could not read it"; return
    fi
    cmp -s "$data" "$out" || { bad "$name: zarrita reads other data"; return; }
    grep -q '"resolution":\[4,3,2\],"offset":\[-8,0,6\]' "$work/$name.meta" \
        || { bad "$name: attributes $(cat "$work/$name.meta")"; return; }
    ok
}

for dt in $DTYPES; do
    here_to_zarrita "plain-$dt" "$dt"
    here_to_zarrita "sharded-$dt" "$dt" --shards $SHARDS
done
for sh in "" "--shards $SHARDS"; do
    tag=${sh:+sharded}; tag=${tag:-plain}
    here_to_zarrita "$tag-gzip" uint16 --compressor gzip --level 5 $sh
    here_to_zarrita "$tag-zstd" float32 --compressor zstd --level 3 $sh
    here_to_zarrita "$tag-zstd-crc" int32 --compressor zstd --checksum $sh
    here_to_zarrita "$tag-blosc" uint16 --compressor blosc --cname lz4 --shuffle 1 $sh
    here_to_zarrita "$tag-blosc-bit" uint8 --compressor blosc --cname zstd --shuffle 2 --checksum $sh
    here_to_zarrita "$tag-crc" float64 --checksum $sh
done
# Files: shards, not chunks (3 x 2 x 2 shards, minus any all fill).
n=$(find "$work/ours.zarr/sharded-uint8" -type f -path '*/c/*' | wc -l)
[ "$n" -le 12 ] && [ "$n" -ge 1 ] && ok || bad "sharded-uint8 has $n shard files"

# zarrita -> here
zarrita_to_here() {  # name dtype codecs fill
    local name=$1 dtype=$2 codecs=$3 fill=$4
    local data="$work/$name.in" out="$work/$name.out" dir="$work/theirs/$name"
    node "$mjs" gen "$dtype" "$COUNT" 7 "$data" || { bad "$name: gen"; return; }
    node "$mjs" write "$dir" "$dtype" $SHAPE $CHUNKS "$codecs" "$fill" "$data" \
        || { bad "$name: zarrita write"; return; }
    if ! "$tool" read "$dir" --out "$out" > "$work/$name.meta"; then
        bad "$name: array_tool could not read it"; return
    fi
    cmp -s "$data" "$out" || { bad "$name: array_tool reads other data"; return; }
    grep -q '"voxel_size": \[3, 3, 3\], "offset": \[-6, -6, -6\]' "$work/$name.meta" \
        || { bad "$name: metadata $(cat "$work/$name.meta")"; return; }
    ok
}

LE='{"name":"bytes","configuration":{"endian":"little"}}'
BE='{"name":"bytes","configuration":{"endian":"big"}}'
ZSTD='{"name":"zstd","configuration":{"level":3,"checksum":false}}'
ZSTDC='{"name":"zstd","configuration":{"level":1,"checksum":true}}'
BLOSC='{"name":"blosc","configuration":{"cname":"lz4","clevel":5,"shuffle":"shuffle","typesize":4,"blocksize":0}}'
TRANS='{"name":"transpose","configuration":{"order":[2,0,1]}}'
for dt in $DTYPES; do
    zarrita_to_here "bytes-$dt" "$dt" "[$LE]" 0
    zarrita_to_here "zstd-$dt" "$dt" "[$LE,$ZSTD]" 0
done
zarrita_to_here "big-uint16" uint16 "[$BE]" 0
zarrita_to_here "big-float64" float64 "[$BE,$ZSTD]" NaN
zarrita_to_here "zstd-checksum" int16 "[$LE,$ZSTDC]" 0
zarrita_to_here "blosc-float32" float32 "[$LE,$BLOSC]" 0
zarrita_to_here "transpose-int32" int32 "[$TRANS,$LE,$ZSTD]" 0

# Done markers are a Zarr v3 array too (one byte per block, one chunk,
# sparse on disk): zarrita reads what a partial run recorded, byte for byte
# the chunk file, one non-zero byte per block that succeeded.
markers_by_zarrita() {
    local name=markers dir="$work/markers-run"
    mkdir -p "$dir"
    cat > "$dir/p.json" <<JSON
{"tasks": [{"id": "a", "total_roi": {"offset": [0, 0], "shape": [60, 40]},
  "read_roi": {"offset": [0, 0], "shape": [10, 10]}, "write_roi": {"offset": [0, 0], "shape": [10, 10]},
  "max_retries": 0, "command": "test \$((DAISY_BLOCK_ID % 5)) -ne 0 && echo \$DAISY_BLOCK_ID >> $dir/ok.txt"}]}
JSON
    (cd "$dir" && timeout 120 "$DAISY" run --quiet --markers m --logs logs p.json > run.txt 2>&1)
    [ -s "$dir/ok.txt" ] || { bad "$name: the run did nothing"; return; }
    node "$mjs" read "$dir/m/a" "$work/markers.out" > "$work/markers.meta" \
        || { bad "$name: zarrita cannot read the markers"; return; }
    cmp -s "$work/markers.out" "$dir/m/a/c/0/0" || { bad "$name: zarrita reads other bytes"; return; }
    local set
    set=$(tr -d '\000' < "$work/markers.out" | wc -c)
    [ "$set" -eq "$(wc -l < "$dir/ok.txt")" ] \
        || { bad "$name: $set blocks marked, $(wc -l < "$dir/ok.txt") succeeded"; return; }
    grep -q '"shape":\[6,4\]' "$work/markers.meta" || { bad "$name: $(cat "$work/markers.meta")"; return; }
    ok
}
if [ -n "${DAISY:-}" ]; then markers_by_zarrita; fi

echo "zarr v3 interop: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
