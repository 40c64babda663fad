#!/usr/bin/env bash
# Separate hosts: network namespaces joined by veth pairs, the broker in
# one, workers in two others, each with its own address. Cutting one
# worker host's link mid-run sends its blocks to the other host after the
# heartbeat timeout; once the link is back, its late results change
# nothing; the run completes with nothing lost or counted twice. Reported
# as skipped where namespaces cannot be created.
. "$(dirname "$0")/lib.sh"
cd "$tmpdir"
ns="dz$$"
B=${ns}b W1=${ns}w1 W2=${ns}w2
cleanup() {
  for n in $B $W1 $W2; do
    for p in $(ip netns pids "$n" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
    ip netns del "$n" 2>/dev/null
  done
  rm -rf "$tmpdir"
}
trap cleanup EXIT
if ! ip netns add "$B" 2>/dev/null; then
  echo "cannot create network namespaces here (needs root and iproute2): skipped"
  exit 77
fi
ip netns add "$W1" && ip netns add "$W2" || exit 77
link() {  # worker namespace, index
  ip link add "${ns}b$2" type veth peer name "${ns}w$2" || return 1
  ip link set "${ns}b$2" netns "$B" && ip link set "${ns}w$2" netns "$1" || return 1
  ip -n "$B" addr add "10.213.$2.1/24" dev "${ns}b$2"
  ip -n "$1" addr add "10.213.$2.2/24" dev "${ns}w$2"
  ip -n "$B" link set "${ns}b$2" up && ip -n "$1" link set "${ns}w$2" up
  ip -n "$1" link set lo up
}
ip -n "$B" link set lo up
link "$W1" 1 && link "$W2" 2 || { echo "cannot create veth pairs: skipped"; exit 77; }

cat > p.json <<'JSON'
{"tasks": [{"id": "t", "total_roi": {"offset": [0], "shape": [40]},
  "read_roi": {"offset": [0], "shape": [1]}, "write_roi": {"offset": [0], "shape": [1]},
  "command": "true"}]}
JSON
ip netns exec "$B" "$BROKER" --bind tcp://0.0.0.0:5555 --heartbeat 300 --liveness 3 \
  --quiet p.json > broker.out 2> broker.err &
broker=$!
sleep 0.3
# Once $tmpdir/slow exists, the next block host 1 starts runs 10 s (and
# says so in cut.txt): the cut then surely falls inside it, however slowly
# this machine runs the test.
work() {  # namespace, address, name
  ip netns exec "$1" "$WORKER" --connect "tcp://$2:5555" --task t --worker-id "$3" \
    --exec "echo \$DAISY_BLOCK_ID >> $tmpdir/$3.started; if [ $3 = host1 ] && [ -e $tmpdir/slow ] && mkdir $tmpdir/slow.taken 2>/dev/null; then echo \$DAISY_BLOCK_ID > $tmpdir/cut.txt; sleep 10; else sleep 0.3; fi; echo \$DAISY_BLOCK_ID \$DAISY_ATTEMPT >> $tmpdir/$3.done" \
    > "$3.log" 2>&1 &
}
work "$W1" 10.213.1.1 host1; w1=$!
work "$W2" 10.213.2.1 host2; w2=$!
for _ in $(seq 100); do [ "$(cat host1.started 2>/dev/null | wc -l)" -ge 3 ] && break; sleep 0.1; done
touch slow
for _ in $(seq 100); do [ -s cut.txt ] && break; sleep 0.1; done
cut_block=$(cat cut.txt)
ip -n "$B" link set "${ns}b1" down
sleep 2.5      # several heartbeat timeouts: host 1 is lost, its block moves
ip -n "$B" link set "${ns}b1" up
wait $broker
check "the run completes across hosts" test $? -eq 0
check "summary counts each block once" grep -q "completed ✔: 40 (skipped 0)" broker.out
check "the cut block ran again on host 2" grep -q "^$cut_block 1" host2.done
done_blocks=$(cat host1.done host2.done | awk '{print $1}' | sort -u | wc -l)
check "every block done on some host" test "$done_blocks" -eq 40
for w in $w1 $w2; do timeout 40 tail --pid=$w -f /dev/null; done
check "both hosts did work" test -s host1.done -a -s host2.done

# A broker bound to a wildcard launches its workers on the other hosts: they
# are told this host's routable address (not 0.0.0.0, which would be their
# own machine), and the template's placeholders are filled in.
ip -n "$W1" route add default via 10.213.1.1
ip -n "$W2" route add default via 10.213.2.1
cat > q.json <<'JSON'
{"tasks": [{"id": "q", "total_roi": {"offset": [0], "shape": [30]},
  "read_roi": {"offset": [0], "shape": [1]}, "write_roi": {"offset": [0], "shape": [1]},
  "workers": 2, "command": "echo $DAISY_BLOCK_ID >> launched.$(ip -o -4 addr show scope global | awk '{print $4}' | head -1 | tr / _)"}]}
JSON
ip netns exec "$B" "$BROKER" --bind tcp://0.0.0.0:5556 --heartbeat 300 --quiet --logs qlogs \
  --launch "echo {task} {worker_id} >> $tmpdir/templ.txt; ip netns exec {host} {cmd}" \
  --hosts "$W1,$W2" q.json > q.out 2> q.err
check "a wildcard broker's launched run completes" test $? -eq 0
check "it advertises a routable address" grep -q "workers connect to tcp://10.213.[12].1:5556" q.err
check "every block ran" test "$(cat launched.* | sort -un | wc -l)" -eq 30
check "on both hosts" test "$(ls launched.* | wc -l)" -eq 2
check "{task} and {worker_id} filled in" grep -q "^q q-0$" templ.txt
finish
