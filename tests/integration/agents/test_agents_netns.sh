#!/usr/bin/env bash
# The mission's whole shape on three hosts made of network namespaces
# joined by a bridge: droverd with its queues and hub on the hub host, a
# task_worker group with queue_access placed on two agent hosts, task_master
# on the hub host finishing 10,000 tasks while one agent host's worker is
# killed with SIGKILL: every task done, none lost. Then a partition: one
# agent's link is cut for 10 s; it becomes LOST and its processes UNKNOWN
# within 3 heartbeats; a worker that dies meanwhile is restarted by its
# agent; when the link comes back every other process has the same pid and
# no new restart, and droverd shows the restarted one's new pid.
# Needs root (ip netns); CI runs as root.
#
#   test_agents_netns.sh DROVERD DROVER_AGENT DROVERCTL TASK_MASTER TASK_WORKER
set -euo pipefail
droverd=$1 agent=$2 droverctl=$3 master=$4 worker=$5

fail() {
	echo "FAIL: $*" >&2
	for f in "$dir"/*.log; do
		[ -f "$f" ] && tail -n 30 "$f" | sed "s|^|  $(basename "$f"): |" >&2
	done
	exit 1
}

if [ "$(id -u)" -ne 0 ]; then
	echo "FAIL: this test creates network namespaces and needs root" >&2
	exit 1
fi

tag=dra$$
hub=$tag-h w1=$tag-1 w2=$tag-2
dir=$(mktemp -d /tmp/drover-agents-netns.XXXXXX)
net=10.$(( $$ % 200 + 20 )).$(( ($$ / 200) % 250 + 1 ))
cleanup() {
	for ns in "$w1" "$w2" "$hub"; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
	done
	sleep 0.2
	for ns in "$w1" "$w2" "$hub"; do
		ip netns del "$ns" 2>/dev/null || true
	done
	rm -rf "$dir"
}
trap cleanup EXIT

for ns in "$hub" "$w1" "$w2"; do
	ip netns add "$ns"
	ip -n "$ns" link set lo up
done
ip -n "$hub" link add br0 type bridge
ip -n "$hub" addr add "$net.1/24" dev br0
ip -n "$hub" link set br0 up
i=2
for ns in "$w1" "$w2"; do
	ip link add "$tag-v$i" type veth peer name "$tag-p$i"
	ip link set "$tag-v$i" netns "$hub"
	ip link set "$tag-p$i" netns "$ns"
	ip -n "$hub" link set "$tag-v$i" master br0
	ip -n "$hub" link set "$tag-v$i" up
	ip -n "$ns" addr add "$net.$i/24" dev "$tag-p$i"
	ip -n "$ns" link set "$tag-p$i" up
	i=$((i + 1))
done

mkdir -p "$dir/keys"
"$droverctl" keygen "$dir/keys" --name w1 > /dev/null
"$droverctl" keygen "$dir/keys" --name w2 > /dev/null
head -c 32 /dev/urandom | base64 > "$dir/queue.key"
chmod 600 "$dir/queue.key"
cat > "$dir/drover.yaml" <<YAML
supervisor:
  name: hub
  state_dir: $dir/var
  http: { listen: 127.0.0.1:9170 }
  agents: { listen: tcp://$net.1:9171, keys_dir: $dir/keys, heartbeat: 500ms }
  queues: { listen: tcp://$net.1:9172, authkey_file: $dir/queue.key }
queues:
  tasks:   { capacity: 100000, durable: true, lease: 5s }
  results: { capacity: 100000 }
groups:
  worker:
    command: ["$worker", "-i", "120"]
    instances: 2
    start_timeout: 0s
    restart: always
    queue_access: true
    hosts: [w1, w2]
  idle:
    command: [sleep, "1000"]
    start_timeout: 0s
    hosts: [w1, w2]
YAML

ip netns exec "$hub" "$droverd" -c "$dir/drover.yaml" > "$dir/droverd.log" 2>&1 &
api() { ip netns exec "$hub" curl -sf "http://127.0.0.1:9170$1"; }
for _ in $(seq 100); do api /api/v1/status > /dev/null && break; sleep 0.1; done
api /api/v1/status > /dev/null || fail "droverd did not come up"
[ -f "$dir/keys/droverd.cert" ] || fail "droverd made no key pair in keys_dir"

for n in 1 2; do
	ns=$tag-$n
	ip netns exec "$ns" "$agent" --connect "tcp://$net.1:9171" --name "w$n" \
		--key "$dir/keys/w$n.cert_secret" --server-key "$dir/keys/droverd.cert" \
		--state-dir "$dir/agent-w$n" > "$dir/agent-w$n.log" 2>&1 &
done

# field NAME KEY: one field of a process object.
field() { api "/api/v1/processes/$1" | python3 -c "import json,sys; print(json.load(sys.stdin)['$2'])"; }
wait_field() { # NAME KEY VALUE [TRIES of 0.1 s]
	for _ in $(seq "${4:-100}"); do
		[ "$(field "$1" "$2" 2>/dev/null)" = "$3" ] && return 0
		sleep 0.1
	done
	fail "$1: $2 is $(field "$1" "$2" 2>/dev/null), not $3"
}
for p in worker:0 worker:1 worker:2 worker:3 idle:0 idle:1; do wait_field "$p" state RUNNING; done
[ "$(field worker:2 host)" = w2 ] || fail "worker:2 is not on w2"

# The workers got the queue endpoint and a 0600 copy of the authkey.
wpid=$(field worker:3 pid)
tr '\0' '\n' < "/proc/$wpid/environ" | grep -q "^DROVER_QUEUE_URL=tcp://$net.1:9172$" ||
	fail "worker:3 has no DROVER_QUEUE_URL"
[ "$(stat -c %a "$dir/agent-w2/queue.key")" = 600 ] || fail "the agent's queue key is not 0600"
cmp -s <(head -n1 "$dir/queue.key") <(head -n1 "$dir/agent-w2/queue.key") ||
	fail "the agent's queue key differs"

# 10,000 tasks through the agents' workers, one worker SIGKILLed meanwhile.
ep=tcp://$net.1:9172
ip netns exec "$hub" timeout 120 "$master" -n 10000 "$ep" "$dir/queue.key" > "$dir/master.log" 2>&1 &
mpid=$!
sleep 1
victim=$(field worker:1 pid)
kill -9 "$victim"
wait "$mpid" || fail "task_master failed"
grep -q "10000 results, sum of squares 333283335000: ok" "$dir/master.log" ||
	fail "task_master said: $(cat "$dir/master.log")"
wait_field worker:1 state RUNNING
[ "$(field worker:1 pid)" != "$victim" ] || fail "worker:1 was not restarted"

# A partition: w1's link down for 10 s.
declare -A before
for p in worker:0 idle:0 worker:2 idle:1; do before[$p]=$(field "$p" pid); done
r0=$(field idle:1 restarts)
t0=$(date +%s.%N)
ip -n "$w1" link set "$tag-p2" down
wait_field idle:0 state UNKNOWN 40
# When droverd said LOST (the agent's "since"), not when this loop of curl
# and python3 noticed: on a loaded machine the polling alone took a second.
lost_ms=$(api /api/v1/agents/w1 | python3 -c "import json,sys; a=json.load(sys.stdin)
print(int((a['since'] - $t0) * 1000) if a['state'] == 'LOST' else 'not-LOST')")
[ "$lost_ms" != not-LOST ] || fail "w1 is not LOST"
[ "$lost_ms" -le 3000 ] || fail "LOST after $lost_ms ms (3 heartbeats of 500 ms, the check, a loaded machine)"
[ "$(field idle:0 error)" = "agent w1 lost" ] || fail "idle:0 error: $(field idle:0 error)"
[ "$(field idle:0 pid)" = "${before[idle:0]}" ] || fail "idle:0 lost its last pid"
[ "$(field idle:1 state)" = RUNNING ] || fail "w2's process is not RUNNING during w1's partition"
# A worker on w1 dies during the partition: its agent restarts it alone.
kill -9 "${before[worker:0]}"
sleep 9
ip -n "$w1" link set "$tag-p2" up
wait_field idle:0 state RUNNING 100
wait_field worker:0 state RUNNING 50
[ "$(field idle:0 pid)" = "${before[idle:0]}" ] || fail "idle:0 has a new pid after the partition"
[ "$(field idle:0 restarts)" = 0 ] || fail "idle:0 restarted during the partition"
[ "$(field worker:0 pid)" != "${before[worker:0]}" ] || fail "worker:0 shows its dead pid"
kill -0 "$(field worker:0 pid)" || fail "worker:0's new pid is not running"
[ "$(field idle:1 restarts)" = "$r0" ] || fail "w2's process restarted"
echo "PASS: agents on two hosts: 10000 tasks with a worker killed; LOST in $lost_ms ms; back with the same pids"
