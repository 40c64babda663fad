#!/usr/bin/env bash
# Mistakes on the command line, as every program says them: one line
# "PROGRAM: what is wrong" (the name typed, never a path), the hint
# "Try 'PROGRAM --help' ...", exit 2; a file or directory that cannot be
# used named with the reason; --version everywhere; what only the broker
# uses refused with --serial; keys not overwritten by accident.
. "$(dirname "$0")/lib.sh"
cd "$tmpdir"
cat > a.json <<JSON
{"tasks": [{"id": "a", "total_roi": {"offset": [0], "shape": [4]},
  "read_roi": {"offset": [0], "shape": [1]}, "write_roi": {"offset": [0], "shape": [1]},
  "workers": 1, "read_write_conflict": false, "command": "touch $tmpdir/ran"}]}
JSON
# status, expected stderr (exact), program and arguments...
says() {
  local want_rc=$1 want=$2 rc=0; shift 2
  timeout 20 "$@" > out.txt 2> err.txt || rc=$?
  [ "$rc" -eq "$want_rc" ] && [ "$(cat err.txt)" = "$want" ] && return 0
  echo "  $* -> $rc: $(cat err.txt)" >&2
  return 1
}
hint() { printf "%s\nTry '%s --help' for more information." "$2" "$1"; }

# 1. Option errors: one line and the hint, under the name typed.
for c in plan run monitor markers keygen; do
  check "daisy $c --bogus" says 2 "$(hint "daisy $c" "daisy $c: unrecognized option '--bogus'")" \
    "$DAISY" "$c" --bogus
  check "daisy $c --version" says 0 "" "$DAISY" "$c" --version
  check "... prints the version" test "$(cat out.txt)" = "daisy $c $VERSION"
done
check "daisy-broker --bogus" says 2 "$(hint daisy-broker "daisy-broker: unrecognized option '--bogus'")" \
  "$BROKER" --bogus a.json
check "daisy-worker --bogus" says 2 "$(hint daisy-worker "daisy-worker: unrecognized option '--bogus'")" \
  "$WORKER" --bogus
# An empty command or task (a script's variable left unset) is a mistake:
# sh -c '' would "succeed" at every block having done nothing.
for opt in --exec --run --check; do
  extra=(); [ "$opt" = --check ] && extra=(--exec true)
  check "daisy-worker $opt ''" says 2 "$(hint daisy-worker "daisy-worker: $opt: an empty string")" \
    "$WORKER" --connect tcp://127.0.0.1:9 --task a "${extra[@]}" "$opt" ''
done
check "daisy-worker --task ''" \
  says 2 "$(hint daisy-worker "daisy-worker: no task: use --task ID or set DAISY_TASK_ID")" \
  "$WORKER" --connect tcp://127.0.0.1:9 --task '' --exec true
check "daisy worker --bogus" says 2 "$(hint "daisy worker" "daisy worker: unrecognized option '--bogus'")" \
  "$DAISY" worker --bogus
check "a missing value" says 2 "$(hint "daisy run" "daisy run: option '--logs' requires an argument")" \
  "$DAISY" run --logs
check "daisy run without a file" says 2 "$(hint "daisy run" "daisy run: expected one pipeline file")" \
  "$DAISY" run
check "daisy plan with two" says 2 "$(hint "daisy plan" "daisy plan: expected one pipeline file")" \
  "$DAISY" plan a.json a.json
check "daisy-broker without a file" says 2 "$(hint daisy-broker "daisy-broker: expected one pipeline file")" \
  "$BROKER"
check "daisy monitor without an endpoint" says 2 "$(hint "daisy monitor" "daisy monitor: expected one endpoint")" \
  "$DAISY" monitor
check "daisy markers without DIR" \
  says 2 "$(hint "daisy markers" "daisy markers: expected DIR and optionally PIPELINE.json")" "$DAISY" markers
check "daisy without a command" \
  says 2 "$(hint daisy "daisy: expected a command: plan, run, monitor, markers, worker or keygen")" "$DAISY"
check "daisy bogus" says 2 "$(hint daisy "daisy: unknown command 'bogus'")" "$DAISY" bogus
keygen_usage="daisy keygen: expected one NAME (the key pair is written to NAME and NAME_secret)"
check "daisy keygen without NAME" says 2 "$(hint "daisy keygen" "$keygen_usage")" "$DAISY" keygen
check "daisy keygen with two" says 2 "$(hint "daisy keygen" "$keygen_usage")" "$DAISY" keygen k1 k2
check "neither written" test ! -e k1 -a ! -e k2
check "daisy keygen ''" says 2 "$(hint "daisy keygen" "daisy keygen: NAME '' is not a file name")" \
  "$DAISY" keygen ''
check "daisy keygen dir/" says 2 "$(hint "daisy keygen" "daisy keygen: NAME 'kd/' is not a file name")" \
  "$DAISY" keygen kd/
check "... nothing written" test ! -e _secret -a ! -e kd

# 1b. Output that cannot be written (a full disk: /dev/full) is a failure,
#     not a plan or a summary cut short that passes for whole.
if [ -w /dev/full ]; then
  for args in "plan --json a.json" "plan a.json" "--help" "keygen --help"; do
    # shellcheck disable=SC2086
    "$DAISY" $args > /dev/full 2> full.err
    check "daisy $args > /dev/full: exit 4" test $? -eq 4
    check "... saying so" grep -q "^daisy[a-z ]*: cannot write the output: " full.err
  done
  "$BROKER" --version > /dev/full 2> full.err
  check "daisy-broker --version > /dev/full: exit 4" test $? -eq 4
  "$WORKER" --help > /dev/full 2> full.err
  check "daisy-worker --help > /dev/full: exit 4" test $? -eq 4
  check "... saying so" grep -q "^daisy-worker: cannot write the output: " full.err
fi

# 2. Files that cannot be used: named, with the reason.
check "monitor: an unreadable --broker-key" \
  says 2 "daisy monitor: --broker-key: cannot read 'nope': No such file or directory" \
  "$DAISY" monitor --broker-key nope tcp://127.0.0.1:9
check "keygen into a missing directory" \
  says 4 "daisy keygen: cannot write '$tmpdir/nodir/k' and '$tmpdir/nodir/k_secret': No such file or directory" \
  "$DAISY" keygen "$tmpdir/nodir/k"

# 3. keygen keeps an existing pair unless --force.
"$DAISY" keygen k > /dev/null
before=$(cat k k_secret | md5sum)
check "keygen over an existing pair: exit 1, naming it" \
  says 1 "daisy keygen: 'k' exists; nothing written (--force overwrites the pair, and workers and monitors given the old public key are then refused)" \
  "$DAISY" keygen k
check "... the pair unchanged" test "$(cat k k_secret | md5sum)" = "$before"
rm k
check "keygen over an existing NAME_secret alone: refused too" \
  says 1 "daisy keygen: 'k_secret' exists; nothing written (--force overwrites the pair, and workers and monitors given the old public key are then refused)" \
  "$DAISY" keygen k
chmod 644 k_secret
check "keygen --force overwrites" says 0 "" "$DAISY" keygen --force k
check "... a new pair" test "$(cat k k_secret | md5sum)" != "$before"
check "... whose secret is again readable by its owner only" test "$(stat -c %a k_secret)" = 600
check "--force is in keygen's help" bash -c "'$DAISY' keygen --help | grep -q -- '^  --force '"
# Writes that fail (a full disk; here a file size limit of 0, which fails
# them the same way without root): exit 4 with the reason, and no empty
# files left to pass for keys. (The message goes through a pipe, which
# the limit does not cover.)
check "keygen whose files cannot be written" says 4 \
  "daisy keygen: cannot write 'full' and 'full_secret': File too large" \
  bash -c "set -o pipefail; (trap '' XFSZ; ulimit -f 0; exec '$DAISY' keygen full) 2>&1 >/dev/null | cat >&2"
check "... leaves neither file" test ! -e full -a ! -e full_secret

# 4. daisy run --serial refuses what only the broker uses, naming it.
touch f
for opt in "--bind ipc://*" "--publish tcp://127.0.0.1:9" "--http 127.0.0.1:0" "--http-public" \
           "--prefetch 2" "--restart-cap 1" "--resources cpu=1" "--heartbeat 100"; do
  # shellcheck disable=SC2086
  check "--serial $opt" says 2 "$(hint "daisy run" "daisy run: ${opt%% *} needs the broker: it does not go with --serial")" \
    "$DAISY" run --serial $opt a.json
done
check "nothing ran" test ! -e ran

# 4b. --restart-cap 0 was taken as the default (3 x the task's workers),
#     which no help said: a cap is at least one death.
check "daisy run --restart-cap 0" says 2 \
  "daisy run: --restart-cap: '0' is not an integer from 1 to 4294967295" \
  "$DAISY" run --restart-cap 0 a.json
check "daisy-broker --restart-cap 0" says 2 \
  "daisy-broker: --restart-cap: '0' is not an integer from 1 to 4294967295" \
  "$BROKER" --restart-cap 0 a.json

# 4c. An option about the workers daisy-broker starts, without --local or
#     --launch, was ignored (an invalid --resources too): the operator's
#     workers never see it.
for opt in "--resources cpu=2" "--worker-give-up 5" "--prefetch 2" "--restart-cap 3" \
           "--hosts a,b" "--worker-program /bin/true" "--connect-timeout 5"; do
  # shellcheck disable=SC2086
  check "daisy-broker $opt without a launcher" says 2 \
    "$(hint daisy-broker "daisy-broker: ${opt%% *} is for the workers this broker starts: it goes with --local, --launch or --print-job-script")" \
    "$BROKER" $opt a.json
done

# 5. A log directory that cannot be made: the run's failure (4), not the
#    pipeline file's, said the same with and without --serial.
for mode in --serial --quiet; do
  check "daisy run $mode --logs f/logs" \
    says 4 "daisy run: cannot create log directory 'f/logs': Not a directory" \
    "$DAISY" run $mode --logs f/logs a.json
done

# A task whose blocks only a "worker" program runs: --serial cannot (it
# runs commands), which is the option's fault, not the file's.
sed 's/"command": /"worker": /' a.json > w.json
check "--serial with a worker task" \
  says 2 "$(hint "daisy run" "daisy run: w.json: task 'a' has a \"worker\" program and no \"command\": --serial runs commands only (run it without --serial)")" \
  "$DAISY" run --serial w.json

# 6. daisy-broker: a bad run id, an endpoint workers cannot connect to,
#    CurveZMQ options that cannot be used: bad command line, before
#    anything starts.
check "--run-id ''" \
  says 2 "$(hint daisy-broker "daisy-broker: --run-id: '' is not a run id (1 to 32 letters, digits, '-', '_' or '.')")" \
  "$BROKER" --run-id '' a.json
check "--run-id with a space" \
  says 2 "$(hint daisy-broker "daisy-broker: --run-id: 'a b' is not a run id (1 to 32 letters, digits, '-', '_' or '.')")" \
  "$BROKER" --run-id 'a b' a.json
for ep in garbage tcp://*:5555 tcp://0.0.0.0:5555 tcp://host tcp://host:0 tcp://host:http ipc://* ''; do
  check "--advertise '$ep'" \
    says 2 "$(hint daisy-broker "daisy-broker: --advertise: '$ep' is not an endpoint workers can connect to (tcp://HOST:PORT, HOST not a wildcard; or ipc://PATH for workers on this host)")" \
    "$BROKER" --advertise "$ep" --local a.json
done
check "nothing ran" test ! -e ran
port=$(free_port)
timeout 60 "$BROKER" --bind "tcp://127.0.0.1:$port" --advertise "tcp://127.0.0.1:$port" --local \
  --quiet --logs logs a.json > /dev/null 2>&1
check "--advertise tcp://127.0.0.1:PORT is taken" test $? -eq 0
check "... and its workers ran" test -e ran
mkdir allow
check "--curve-secret without --curve-allow" \
  says 2 "$(hint daisy-broker "daisy-broker: --curve-secret and --curve-allow go together: give both or neither")" \
  "$BROKER" --curve-secret k_secret a.json
check "--curve-allow without --curve-secret" \
  says 2 "$(hint daisy-broker "daisy-broker: --curve-secret and --curve-allow go together: give both or neither")" \
  "$BROKER" --curve-allow allow a.json
check "an unreadable --curve-secret" \
  says 2 "daisy-broker: --curve-secret: cannot read 'nope': No such file or directory" \
  "$BROKER" --curve-secret nope --curve-allow allow a.json
check "a missing --curve-allow" \
  says 2 "daisy-broker: --curve-allow: cannot read 'nodir': No such file or directory" \
  "$BROKER" --curve-secret k_secret --curve-allow nodir a.json
timeout 20 "$BROKER" --curve-secret a.json --curve-allow allow a.json > /dev/null 2> err.txt
check "a --curve-secret with no key in it: exit 2" test $? -eq 2
check "... saying so" grep -qx "daisy-broker: --curve-secret: 'a.json' holds no secret key (\`daisy keygen NAME\` writes it as NAME_secret)" err.txt
# A port out of range is a mistake, not a port libzmq picks modulo 2^16.
"$BROKER" --bind tcp://127.0.0.1:99999 a.json > /dev/null 2> err.txt
check "daisy-broker --bind with port 99999: exit 2" test $? -eq 2
check "... naming the port" grep -q "^daisy-broker: --bind: 'tcp://127.0.0.1:99999': port '99999' is not 1 to 65535" err.txt
for ep in '' 127.0.0.1:5555 ://x; do
  check "daisy run --bind '$ep': a usage error" \
    says 2 "$(hint "daisy run" "daisy run: --bind: '$ep' is not a ZeroMQ endpoint (tcp://HOST:PORT, ipc://PATH)")" \
    "$DAISY" run --bind "$ep" a.json
done
check "daisy run --bind tpc://127.0.0.1:5555 (a typo): a usage error" \
  says 2 "$(hint "daisy run" "daisy run: --bind: 'tpc://127.0.0.1:5555': unknown transport 'tpc' (tcp://HOST:PORT, ipc://PATH)")" \
  "$DAISY" run --bind tpc://127.0.0.1:5555 a.json
check "daisy-broker --publish 5556: a usage error" \
  says 2 "$(hint daisy-broker "daisy-broker: --publish: '5556' is not a ZeroMQ endpoint (tcp://HOST:PORT, ipc://PATH)")" \
  "$BROKER" --publish 5556 a.json
"$DAISY" run --publish tcp://127.0.0.1:abc a.json > /dev/null 2> err.txt
check "daisy run --publish with port abc: exit 2" test $? -eq 2
check "... naming it" grep -q "^daisy run: --publish: 'tcp://127.0.0.1:abc': port 'abc'" err.txt
# A host the resolver does not know is a typo, said at once, not retried
# silently for ever.
timeout 20 "$WORKER" --connect tcp://nonexistent.invalid:5555 --task t --exec true > /dev/null 2> err.txt
check "daisy-worker --connect to an unknown host: exit 2" test $? -eq 2
check "... naming the host" grep -q "host 'nonexistent.invalid' is not known" err.txt
timeout 20 "$DAISY" monitor tcp://127.0.0.1:99999 > /dev/null 2> err.txt
check "daisy monitor of a port out of range: exit 2" test $? -eq 2
# A port in use is not a mistake on the command line: exit 4, for --http
# as for --bind.
port=$(free_port)
/usr/bin/python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(60)' "$port" &
holder=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
timeout 20 "$DAISY" run --http "127.0.0.1:$port" a.json > /dev/null 2> err.txt
check "daisy run --http on a port in use: exit 4" test $? -eq 4
check "... saying so" grep -q "^daisy run: --http '127.0.0.1:$port': cannot serve there (Address already in use)" err.txt
timeout 20 "$BROKER" --bind "tcp://127.0.0.1:$port" a.json > /dev/null 2> err.txt
check "daisy-broker --bind on a port in use: exit 4" test $? -eq 4
kill $holder
finish
