#!/usr/bin/env bash
# Two hosts for real: droverd in one network namespace, workers in another,
# joined by a veth pair, the queue endpoint on the master's LAN address.
# The C and Python workers on the worker host square the master's tasks; a
# worker with a wrong key is refused at once and droverd logs its address;
# a worker killed with SIGKILL while holding tasks loses none of them.
# Needs root (ip netns); CI runs as root.
#
#   test_two_hosts.sh DROVERD DROVERCTL TASK_MASTER TASK_WORKER PYTHON3
set -euo pipefail
droverd=$1 droverctl=$2 master=$3 worker=$4 python=$5
src=$(cd "$(dirname "$0")/../../.." && pwd)

fail() { echo "FAIL: $*" >&2; [ -f "$dir/droverd.log" ] && sed 's/^/  droverd: /' "$dir/droverd.log" >&2; exit 1; }

if [ "$(id -u)" -ne 0 ]; then
	echo "FAIL: this test creates network namespaces and needs root" >&2
	exit 1
fi

tag=drv$$
nm=$tag-m nw=$tag-w
dir=$(mktemp -d /tmp/drover-netns.XXXXXX)
net=10.$(( $$ % 200 + 20 )).$(( ($$ / 200) % 250 + 1 ))
cleanup() {
	[ -n "${dpid:-}" ] && kill -TERM "$dpid" 2>/dev/null && wait "$dpid" 2>/dev/null || true
	ip netns pids "$nw" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
	ip netns pids "$nm" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
	ip netns del "$nw" 2>/dev/null || true
	ip netns del "$nm" 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT

ip netns add "$nm"
ip netns add "$nw"
ip link add "$tag-a" type veth peer name "$tag-b"
ip link set "$tag-a" netns "$nm"
ip link set "$tag-b" netns "$nw"
ip -n "$nm" addr add "$net.1/24" dev "$tag-a"
ip -n "$nw" addr add "$net.2/24" dev "$tag-b"
for ns in "$nm" "$nw"; do
	ip -n "$ns" link set lo up
done
ip -n "$nm" link set "$tag-a" up
ip -n "$nw" link set "$tag-b" up

head -c 32 /dev/urandom | base64 > "$dir/queue.key"
chmod 600 "$dir/queue.key"
echo wrong-key-0123456789 > "$dir/wrong.key"
cat > "$dir/drover.yaml" <<YAML
supervisor:
  name: master
  state_dir: $dir/var
  http: { listen: 127.0.0.1:9170 }
  queues: { listen: tcp://$net.1:9172, authkey_file: $dir/queue.key }
queues:
  tasks:   { capacity: 100000, durable: true, lease: 30s }
  results: { capacity: 100000 }
YAML

ip netns exec "$nm" "$droverd" -c "$dir/drover.yaml" > "$dir/droverd.log" 2>&1 &
dpid=$!
for _ in $(seq 100); do
	ip netns exec "$nm" curl -sf http://127.0.0.1:9170/api/v1/status > /dev/null && break
	sleep 0.1
done
ip netns exec "$nm" curl -sf http://127.0.0.1:9170/api/v1/status > /dev/null || fail "droverd did not come up"

ep=tcp://$net.1:9172
# The worker host cannot reach the master's loopback, only its LAN address.
ip netns exec "$nw" curl -s --max-time 1 http://127.0.0.1:9170/ > /dev/null && fail "namespaces not separate"

# A wrong key, from the worker host: refused within seconds, logged with its address.
start=$(date +%s%N)
if out=$(ip netns exec "$nw" timeout 10 "$worker" -i 1 "$ep" "$dir/wrong.key" 2>&1); then
	fail "a worker with a wrong key was let in: $out"
fi
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "$out" | grep -qi "auth" || fail "wrong key: expected an authentication error, got: $out"
[ "$elapsed_ms" -lt 5000 ] || fail "wrong key took $elapsed_ms ms to be refused"
sleep 0.3
grep -q "$net.2" "$dir/droverd.log" || fail "droverd did not log the refused peer's address"
grep -q "$(head -c 12 "$dir/queue.key")" "$dir/droverd.log" && fail "the authkey is in droverd's log"

# Workers on the worker host: one C, one Python.
ip netns exec "$nw" "$worker" -i 4 "$ep" "$dir/queue.key" > "$dir/w1.log" 2>&1 &
w1=$!
ip netns exec "$nw" "$python" "$src/examples/task_worker.py" -i 4 "$ep" "$dir/queue.key" > "$dir/w2.log" 2>&1 &
w2=$!
sleep 0.5

# The master, on the master host.
out=$(ip netns exec "$nm" timeout 60 "$master" -n 2000 "$ep" "$dir/queue.key" 2>&1) || fail "task_master: $out"
echo "$out" | grep -q "2000 results, sum of squares 2664667000: ok" || fail "task_master said: $out"
wait "$w1" || fail "C worker: $(cat "$dir/w1.log")"
wait "$w2" || fail "Python worker: $(cat "$dir/w2.log")"

# A worker killed with SIGKILL while it holds tasks: they go to another worker.
ip netns exec "$nm" "$droverctl" -q "$ep" --authkey-file "$dir/queue.key" put tasks 7 > /dev/null
ip netns exec "$nm" "$droverctl" -q "$ep" --authkey-file "$dir/queue.key" put tasks 8 > /dev/null
ip netns exec "$nw" "$python" - "$src/client/python" "$ep" "$dir/queue.key" > "$dir/holder.log" 2>&1 <<'PY' &
import sys, time
sys.path.insert(0, sys.argv[1])
from drover import QueueClient, read_authkey
c = QueueClient(sys.argv[2], authkey=read_authkey(sys.argv[3]))
held = [c.get("tasks", timeout=5), c.get("tasks", timeout=5)]
print("holding", [m.data for m in held], flush=True)
time.sleep(60)
PY
holder=$!
for _ in $(seq 50); do grep -q holding "$dir/holder.log" && break; sleep 0.1; done
grep -q "holding \[b'7', b'8'\]" "$dir/holder.log" || fail "holder: $(cat "$dir/holder.log")"
kill -9 "$holder"
got=""
for n in 1 2; do
	m=$(ip netns exec "$nw" "$droverctl" -q "$ep" --authkey-file "$dir/queue.key" get tasks --timeout 20) ||
		fail "a task held by the killed worker did not come back"
	got="$got$m "
done
[ "$got" = "7 8 " ] || fail "redelivered in the wrong order or not at all: '$got'"

echo "PASS: two hosts: master and workers over $ep, wrong key refused in $elapsed_ms ms"
