#!/usr/bin/env bash
# Builds and runs the whole test suite twice: a normal build, and one under
# AddressSanitizer + UndefinedBehaviorSanitizer. Ends with one line
# "N passed, N failed" over both runs; exits non-zero if anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh || exit 1

# A one-node SLURM cluster for the slurm launcher's tests, and a throwaway
# PostgreSQL server on loopback for the graph database's postgresql://
# tests (DAISY_TEST_POSTGRES, a superuser's URL; the tests make databases
# of their own and drop them). Tests say "skipped" and why where they
# cannot start; both are stopped at the end.
if [ "$(id -u)" -eq 0 ]; then
  trap 'scripts/slurm.sh down; scripts/postgres.sh down' EXIT
  scripts/slurm.sh up || echo "slurm: not started; the slurm tests will be skipped"
  if scripts/postgres.sh up; then
    DAISY_TEST_POSTGRES=$(scripts/postgres.sh url)
    export DAISY_TEST_POSTGRES
  else
    echo "postgres: not started; the PostgreSQL tests will be skipped"
  fi
fi

passed=0 failed=0 skipped=0
run_suite() {  # name, build dir, meson options...
  local name=$1 dir=$2; shift 2
  [ -d "$dir" ] || meson setup "$dir" "$@" >/dev/null || return 1
  ninja -C "$dir" >/dev/null || { ninja -C "$dir" | tail -30; return 1; }
  meson test -C "$dir" --print-errorlogs --num-processes 2 || true
  local counts
  counts=$(python3 - "$dir/meson-logs/testlog.json" <<'PY'
import json, sys
p = f = s = 0
for line in open(sys.argv[1]):
    r = json.loads(line)["result"]
    if r == "OK" or r == "EXPECTEDFAIL": p += 1
    elif r == "SKIP": s += 1
    else: f += 1
print(p, f, s)
PY
)
  read -r p f s <<<"$counts"
  echo "$name: $p passed, $f failed, $s skipped"
  passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
}

run_suite "normal build" build-test --buildtype=debugoptimized || failed=$((failed + 1))
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp \
  run_suite "sanitizers" build-asan --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false \
  || failed=$((failed + 1))

# The protocol decoder takes bytes from anyone: fuzz it for a bounded time.
if scripts/fuzz.sh "${DAISY_FUZZ_SECONDS:-30}"; then
  passed=$((passed + 1)); echo "fuzz: passed"
else
  failed=$((failed + 1)); echo "fuzz: FAILED"
fi

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
