#!/usr/bin/env bash
# CurveZMQ: an authorised worker finishes a run; an unauthorised one and a
# plain-text one get nothing; a monitor needs the broker's public key.
. "$(dirname "$0")/lib.sh"
cd "$tmpdir"
mkdir allow
"$DAISY" keygen broker > /dev/null && "$DAISY" keygen good > /dev/null && "$DAISY" keygen bad > /dev/null
check "keygen writes both halves" test -f broker -a -f broker_secret
check "secret key is private" test "$(stat -c %a broker_secret)" = 600
cp good allow/

cat > p.json <<'JSON'
{"tasks": [{"id": "t", "total_roi": {"offset": [0], "shape": [30]},
  "read_roi": {"offset": [0], "shape": [1]}, "write_roi": {"offset": [0], "shape": [1]},
  "command": "true"}]}
JSON
port=$(free_port); pport=$((port + 1))
"$BROKER" --bind "tcp://127.0.0.1:$port" --publish "tcp://127.0.0.1:$pport" \
  --curve-secret broker_secret --curve-allow allow --quiet p.json > b.out 2> b.err &
broker=$!
sleep 0.3
run="echo \$DAISY_BLOCK_ID >> $tmpdir/ran-"
# The mismatch shows in some connection attempts only (libzmq often reports
# a bare EPIPE instead): the worker retries until it sees it, and exits then.
timeout 60 "$WORKER" --connect "tcp://127.0.0.1:$port" --task t --give-up 30 --exec "${run}plain" > plain.txt 2>&1
check "a plain-text worker is refused" test $? -eq 1
check "and told why" grep -q "broker at tcp://127.0.0.1:$port speaks CurveZMQ and this worker clear text (pass --curve-secret and --broker-key" plain.txt
timeout 20 "$WORKER" --connect "tcp://127.0.0.1:$port" --task t --give-up 2 \
  --curve-secret bad_secret --broker-key broker --exec "${run}bad" > bad.txt 2>&1
check "a worker with a key not on the list is refused" test $? -eq 1
check "neither got a block" test ! -e ran-plain -a ! -e ran-bad
timeout 20 "$DAISY" monitor --json --timeout 2 --broker-key bad "tcp://127.0.0.1:$pport" > mon-bad.jsonl 2>/dev/null
check "a monitor with the wrong server key gives up" test $? -eq 5
check "and saw nothing" test ! -s mon-bad.jsonl
timeout 60 "$DAISY" monitor --json --timeout 30 "tcp://127.0.0.1:$pport" > /dev/null 2> mon-plain.err
check "a monitor without the key stops as a usage error" test $? -eq 2
check "told to pass it" grep -q "the broker at tcp://127.0.0.1:$pport speaks CurveZMQ: pass --broker-key FILE" mon-plain.err
timeout 30 "$DAISY" monitor --json --timeout 20 --broker-key broker "tcp://127.0.0.1:$pport" > mon.jsonl 2>/dev/null &
monitor=$!
sleep 1.2
timeout 30 "$WORKER" --connect "tcp://127.0.0.1:$port" --task t \
  --curve-secret good_secret --broker-key broker --exec "${run}good" > good.txt 2>&1
check "an authorised worker finishes the run" test $? -eq 0
wait $broker
check "the broker exits 0" test $? -eq 0
wait $monitor
check "a monitor with the broker's key saw the end" grep -q '"event":"run_finished"' mon.jsonl
check "every block ran on the authorised worker" test "$(sort -u ran-good | wc -l)" -eq 30
check "the refusal is logged" grep -q "refused a worker" b.err
check "the clear-text worker's too, which fails before any key is asked for" \
  grep -q "on tcp://127.0.0.1:$port: it speaks clear text" b.err
check "once, not at each of its reconnections" \
  test "$(grep -c 'it speaks clear text' b.err)" -le 4

# A CurveZMQ worker meeting a clear-text broker is told so; a monitor on
# an endpoint where nothing publishes says that it waits.
cport=$(free_port)
"$BROKER" --bind "tcp://127.0.0.1:$cport" --quiet p.json > c.out 2> c.err &
clear=$!
timeout 60 "$WORKER" --connect "tcp://127.0.0.1:$cport" --task t --give-up 30 \
  --curve-secret good_secret --broker-key broker --exec "${run}curve" > curve.txt 2>&1
check "a CurveZMQ worker at a clear-text broker exits 1" test $? -eq 1
check "saying why" grep -q "broker at tcp://127.0.0.1:$cport speaks clear text and this worker CurveZMQ" curve.txt
kill $clear; wait $clear 2>/dev/null
timeout 20 "$DAISY" monitor --timeout 3 "tcp://127.0.0.1:$cport" > /dev/null 2> wait.err
check "a monitor with nothing to hear says it waits" grep -q "waiting for the progress feed at tcp://127.0.0.1:$cport" wait.err

# Without keys, binding beyond loopback gets a warning.
timeout 10 "$BROKER" --bind "tcp://0.0.0.0:$((port + 2))" --local --quiet --logs logs p.json > /dev/null 2> warn.err
check "clear text on a public address is warned about" grep -q "warning: serving workers on tcp://0.0.0.0" warn.err
finish
