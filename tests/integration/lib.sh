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
# A TCP port on loopback that is free now, below the kernel's ephemeral
# range (32768 and up), so that no outgoing connection of a concurrent test
# takes it between now and the bind.
free_port() {
  /usr/bin/python3 - <<'PY'
import random, socket
while True:
    port = random.randrange(20000, 32000, 2)
    try:
        for p in (port, port + 1):
            s = socket.socket(); s.bind(("127.0.0.1", p)); s.close()
    except OSError:
        continue
    print(port)
    break
PY
}
