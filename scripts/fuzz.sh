#!/usr/bin/env bash
# Fuzzes the wire decoder (protocol/fuzz_decode.c) with libFuzzer under
# AddressSanitizer + UndefinedBehaviorSanitizer.
#
#   scripts/fuzz.sh [SECONDS]      (default 30)
#
# Builds build-fuzz/fuzz_decode with clang, runs it for SECONDS on a fresh
# copy of protocol/corpus (build-fuzz/corpus) with inputs up to 64 KiB,
# and prints one summary line. Exits non-zero when the fuzzer finds a
# crash, a sanitizer report, a leak, an oversized allocation or a timeout;
# the input that did it is saved as build-fuzz/crash-* (or leak-*, oom-*,
# timeout-*) and the fuzzer's output is in build-fuzz/fuzz.log.
# Needs clang with libFuzzer (Debian: clang-14 / libclang-rt-14-dev) and
# libmsgpack-dev.
set -uo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-30}
case $seconds in
  ''|*[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS]" >&2; exit 2 ;;
esac
out=build-fuzz
cc=${CC_FUZZ:-clang}
mkdir -p "$out"

if ! $cc -std=gnu11 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Werror \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -Iinclude -Isrc protocol/fuzz_decode.c protocol/protocol.c src/error.c src/text.c \
    $(pkg-config --cflags --libs msgpack zlib) -o "$out/fuzz_decode"; then
  echo "fuzz_decode: build failed (is clang with libFuzzer installed?)" >&2
  exit 1
fi

rm -rf "$out/corpus"
cp -r protocol/corpus "$out/corpus"
seeds=$(ls "$out/corpus" | wc -l)

# malloc_limit_mb: a 64 KiB input must never make the decoder ask for a
# large block at once (msgpack-c would for a huge declared array length).
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
"$out/fuzz_decode" -max_total_time="$seconds" -max_len=65536 -timeout=10 \
  -rss_limit_mb=2048 -malloc_limit_mb=64 -print_final_stats=1 \
  -artifact_prefix="$out/" "$out/corpus" >"$out/fuzz.log" 2>&1
rc=$?

execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/fuzz.log" | tail -1)
secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$out/fuzz.log" | tail -1)
cov=$(grep -o 'cov: [0-9]*' "$out/fuzz.log" | tail -1 | cut -d' ' -f2)
final=$(ls "$out/corpus" | wc -l)
if [ $rc -ne 0 ]; then
  artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$out/fuzz.log" | tail -1)
  echo "fuzz_decode: FAILED (exit $rc) after ${execs:-?} execs; input: ${artifact:-none saved}; log: $out/fuzz.log"
  grep -m1 -E 'ERROR: |runtime error|==ERROR|deadly signal' "$out/fuzz.log" >&2
  exit 1
fi
echo "fuzz_decode: OK, ${execs:-?} execs in ${secs:-$seconds} s, coverage ${cov:-?} edges, corpus $seeds -> $final inputs"
