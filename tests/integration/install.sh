#!/usr/bin/env bash
# `meson install` as a user does it, into a staging directory: headers,
# library, programs and the pkg-config file are installed, a program builds
# against them through pkg-config, and the installed programs run.
. "$(dirname "$0")/lib.sh"
stage="$tmpdir/stage"
DESTDIR="$stage" meson install -C "$BUILD" --quiet --no-rebuild > "$tmpdir/install.log" 2>&1
check "meson install succeeds" test $? -eq 0
pc=$(find "$stage" -name daisy.pc | head -1)
check "pkg-config file installed" test -n "$pc"
check "umbrella header installed" test -n "$(find "$stage" -path '*/include/daisy/daisy.h')"
check "generated version header installed" test -n "$(find "$stage" -path '*/include/daisy/version.h')"
check "export header installed" test -n "$(find "$stage" -path '*/include/daisy/export.h')"
for p in daisy daisy-broker daisy-worker; do
  check "$p installed" test -n "$(find "$stage" -path "*/bin/$p" -type f)"
done
check "the Python worker module installed" test -n "$(find "$stage" -name daisy_worker.py)"
pymod=$(find "$stage" -name daisy_worker.py | head -1)
check "where /usr/bin/python3 imports it from, under the build's prefix" /usr/bin/python3 -c '
import sys, os
prefix, where = sys.argv[1], os.path.dirname(sys.argv[2])
ok = [p for p in sys.path if p.startswith(prefix + "/") and p == where]
sys.exit(0 if ok or not prefix.startswith(("/usr/local", "/usr")) else f"{where} is not on {sys.path}")' \
  "$(meson introspect "$BUILD" --buildoptions | /usr/bin/python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"] == "prefix"][0])')" \
  "${pymod#$stage}"
lib=$(dirname "$(find "$stage" -name 'libdaisy.so*' -type f | head -1)")
export PKG_CONFIG_PATH=$(dirname "$pc") PKG_CONFIG_SYSROOT_DIR="$stage"
cc -o "$tmpdir/remote_worker" "$EXAMPLES/remote_worker.c" $(pkg-config --cflags --libs daisy) \
  -Wl,-rpath,"$lib" > "$tmpdir/cc.log" 2>&1
check "a program builds against the installed library" test -x "$tmpdir/remote_worker"
# The public headers need nothing of daisy's dependencies, so neither do
# the flags: pkg-config gives daisy's include directory alone (it gave
# those of libpq, pgm, libxml2, krb5 ... from Requires.private), every
# header compiles by itself with it, and none includes more than the C
# library's headers (a dependency's, in /usr/include, would compile anyway).
inc=$(dirname "$(find "$stage" -path '*/include/daisy/daisy.h')")
extra=$(for f in $(pkg-config --cflags daisy); do [ "$f" = "-I${inc%/daisy}" ] || echo "$f"; done)
[ -z "$extra" ] || echo "pkg-config --cflags daisy also gives:" $extra
check "pkg-config --cflags daisy gives daisy's include directory alone" test -z "$extra"
bad=""
for h in "$inc"/*.h; do
  echo "#include <daisy/${h##*/}>" > "$tmpdir/one_header.c"
  cc -c -o /dev/null -Wall -Werror $(pkg-config --cflags daisy) "$tmpdir/one_header.c" \
    >> "$tmpdir/cc.log" 2>&1 || bad="$bad ${h##*/}"
done
[ -z "$bad" ] || echo "headers that do not compile by themselves:$bad"
check "each installed header compiles by itself with pkg-config's flags" test -z "$bad"
foreign=$(sed -n 's/^ *# *include *<\(.*\)>.*/\1/p' "$inc"/*.h | sort -u \
  | grep -vxE '(std(arg|bool|def|int|io|lib)|inttypes|limits|signal|time|sys/types)\.h')
[ -z "$foreign" ] || echo "installed headers include:" $foreign
check "the installed headers include only the C library's headers" test -z "$foreign"
bin=$(dirname "$(find "$stage" -path '*/bin/daisy' -type f)")
# No LD_LIBRARY_PATH: the installed programs find their library themselves,
# wherever the tree is (here a DESTDIR staging copy, then moved elsewhere).
"$bin/daisy" plan "$EXAMPLES/pipelines/two_tasks.json" > "$tmpdir/plan.txt"
check "the installed daisy runs" grep -q "task extract: 16 blocks" "$tmpdir/plan.txt"
for p in daisy daisy-broker daisy-worker; do
  check "the installed $p --version" test "$("$bin/$p" --version 2>&1)" = "$p $VERSION"
done
mv "$stage" "$tmpdir/moved"
bin=${bin/$stage/$tmpdir/moved}
cat > "$tmpdir/one.json" <<JSON
{"tasks": [{"id": "t", "total_roi": {"offset": [0], "shape": [4]}, "read_roi": {"offset": [0], "shape": [1]},
  "write_roi": {"offset": [0], "shape": [1]}, "command": "echo \$DAISY_BLOCK_ID >> $tmpdir/ran.txt"}]}
JSON
(cd "$tmpdir" && env -u LD_LIBRARY_PATH "$bin/daisy" run --quiet one.json > run.txt 2>&1)
check "a moved install runs a pipeline with its own daisy-worker" test "$(sort "$tmpdir/ran.txt" | tr '\n' ' ')" = "0 1 2 3 "
# The live view's page is installed with the programs and found beside
# them (share/daisy/www), wherever the tree was moved.
check "the live view's page installed" test -n "$(find "$tmpdir/moved" -path '*/share/daisy/www/index.html')"
if command -v curl > /dev/null; then
  env -u DAISY_WWW -u LD_LIBRARY_PATH timeout 20 "$bin/daisy" monitor --http 127.0.0.1:0 \
    tcp://127.0.0.1:1 > "$tmpdir/mon.txt" 2>&1 &
  mon=$!
  url=""
  for _ in $(seq 100); do
    url=$(grep -o 'http://127.0.0.1:[0-9]*/' "$tmpdir/mon.txt" | head -1)
    [ -n "$url" ] && break
    sleep 0.05
  done
  page=$(curl -s --max-time 5 "${url}" || true)
  js=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "${url}app.js" || true)
  kill "$mon" 2> /dev/null
  wait "$mon" 2> /dev/null
  check "the installed daisy monitor --http serves the page" grep -q '<canvas' <<< "$page"
  check "... and its script" test "$js" = 200
fi
finish
