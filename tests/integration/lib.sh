# lib.sh - shared helpers for the integration tests (sourced).
# Each test runs the built programs the way a user would and exits 0 on
# success, 1 on failure, 77 when it cannot run here (reported as skipped).
set -u
fails=0
checks=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
check() {  # description, command...
  local what=$1; shift
  checks=$((checks + 1))
  "$@" || fail "$what"
}
finish() {
  echo "$checks checks, $fails failed"
  [ "$fails" -eq 0 ]
}
tmpdir=$(mktemp -d)
trap 'rm -rf "$tmpdir"' EXIT
