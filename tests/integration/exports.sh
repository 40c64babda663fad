#!/usr/bin/env bash
# libdaisy.so exports the public API and nothing else.
#
#   exports.sh LIBDAISY INCLUDE_DIR
#
# libdaisy is built with hidden visibility and the public headers mark
# their functions DAISY_EXPORT (include/daisy/export.h). This reads the
# defined dynamic symbols of the built library (nm -D --defined-only) and
# fails, listing the names, when one does not start with daisy_, when one
# is an internal name that carries the prefix (daisy_codec_*), when one is
# not declared in INCLUDE_DIR/*.h (an internal function that leaked), or
# when a function declared there is not exported (DAISY_EXPORT forgotten).
. "$(dirname "$0")/lib.sh"
lib=${1:?usage: exports.sh LIBDAISY INCLUDE_DIR}
incdir=${2:?usage: exports.sh LIBDAISY INCLUDE_DIR}

nm -D --defined-only --format=posix "$lib" > "$tmpdir/nm.txt"
check "nm reads $lib" test $? -eq 0
awk '{ sub(/@.*/, "", $1); print $1 }' "$tmpdir/nm.txt" | sort -u > "$tmpdir/exported"
check "libdaisy exports symbols" test -s "$tmpdir/exported"

# One check per rule; each lists what breaks it.
rule() {  # description, file of offending names
  checks=$((checks + 1))
  if [ -s "$2" ]; then
    fail "$1: $(wc -l < "$2") symbol(s)"
    sed 's/^/    /' "$2" >&2
  fi
}
grep -v '^daisy_' "$tmpdir/exported" > "$tmpdir/unprefixed"
rule "exported names without the daisy_ prefix" "$tmpdir/unprefixed"
grep '^daisy_codec_' "$tmpdir/exported" > "$tmpdir/internal"
rule "internal daisy_codec_ names exported" "$tmpdir/internal"

# Function declarations in the public headers: a line that starts with a
# type and names daisy_...( (typedefs of function types excluded).
grep -hE '^[A-Za-z_][^(]*\bdaisy_[a-z0-9_]+\(' "$incdir"/*.h | grep -v '^typedef' |
  grep -oE '\bdaisy_[a-z0-9_]+\(' | tr -d '(' | sort -u > "$tmpdir/declared"
check "public headers declare functions" test -s "$tmpdir/declared"
comm -23 "$tmpdir/exported" "$tmpdir/declared" | grep '^daisy_' > "$tmpdir/undeclared"
rule "exported but not declared in $incdir" "$tmpdir/undeclared"
comm -13 "$tmpdir/exported" "$tmpdir/declared" > "$tmpdir/hidden"
rule "declared in $incdir but not exported (DAISY_EXPORT?)" "$tmpdir/hidden"

echo "$(wc -l < "$tmpdir/exported") symbols exported"
finish
