#!/usr/bin/env bash
# The Debian package, end to end (scripts/test.sh runs this): builds it from
# a clean copy of the tree with dpkg-buildpackage, runs lintian, installs it
# with dpkg -i, starts droverd and drover-agent from the installed files on
# the installed configuration with the units' own command lines (under
# systemd when this machine runs it), checks the API, a worker, the agent,
# the queues, the notifications a Type=notify unit gets, bash completion, the
# Python wheel, pkg-config and `man droverd`, then removes the package and
# checks that nothing is left outside /etc and /var, and purges it.
#
# Needs root (dpkg -i), and droverd's ports 9170-9172 free. Refuses to touch
# a drover package that was installed before it ran.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
out=$top/build-deb
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo

# With pipefail, "cmd | grep -q" can fail when grep stops reading first:
# has PATTERN reads all of its input.
has() { grep -e "$1" >/dev/null; }
say() { printf '%s\n' "package test: $*"; }
fail() { printf '%s\n' "package test: FAILED: $*" >&2; exit 1; }

# Waits up to $1 seconds for the command after it to succeed.
wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.2
	done
}

if dpkg-query -W -f='${Status}' drover 2>/dev/null | has "ok installed"; then
	fail "a drover package is installed already; remove it first (dpkg -P drover libdrover-dev libdrover0)"
fi
for port in 9170 9171 9172; do
	wait_for 120 sh -c "[ -z \"\$(ss -Hltn 'sport = :$port')\" ]"  ||
		fail "port $port is in use (the installed configuration needs 9170-9172)"
done

# ---- build ----
# DROVER_PACKAGE_REUSE=1 takes the packages of the last run, when there are.
if [ "${DROVER_PACKAGE_REUSE:-}" = 1 ] && ls "$out"/drover_*.deb >/dev/null 2>&1; then
	say "reusing the packages in $out"
else
	say "building the package from a clean copy of the tree"
	rm -rf "$out"
	mkdir -p "$out/src"
	git ls-files -z --cached --others --exclude-standard |
		while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
		tar --null -T - -cf - | tar -xf - -C "$out/src"
	(cd "$out/src" && DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" \
		dpkg-buildpackage -b -us -uc >"$out/build.log" 2>&1) ||
		{ tail -50 "$out/build.log"; fail "dpkg-buildpackage (log: $out/build.log)"; }
fi
ls "$out"/*.deb

say "lintian"
lintian -I --fail-on error,warning "$out"/*.changes || fail "lintian has errors or warnings"

# ---- install ----
pids=()
tmp=$(mktemp -d)
cleanup() {
	local p
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	if dpkg-query -W drover >/dev/null 2>&1; then
		$SUDO dpkg -P drover libdrover-dev libdrover0 >/dev/null 2>&1 || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

say "installing"
$SUDO dpkg -i "$out"/drover_*.deb "$out"/libdrover0_*.deb "$out"/libdrover-dev_*.deb
getent passwd drover >/dev/null || fail "no drover user"
for f in api.token queue.key; do
	[ "$(stat -c %a:%U /etc/drover/$f)" = 600:root ] || fail "$f is not 0600 root"
done
[ "$(stat -c %a /etc/drover/agent/node-1.cert_secret)" = 600 ] || fail "the agent's secret key is not 0600"
unitdir=$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || echo /lib/systemd/system)
for u in droverd drover-agent; do
	[ -f "$unitdir/$u.service" ] || fail "no $unitdir/$u.service"
done
if command -v systemd-analyze >/dev/null; then
	systemd-analyze verify "$unitdir/droverd.service" "$unitdir/drover-agent.service" ||
		fail "systemd-analyze verify"
fi
/usr/bin/droverd --check -c /etc/drover/drover.yaml
/usr/bin/drover-agent --check -c /etc/drover/agent.yaml

api=http://127.0.0.1:9170/api/v1
status_has() { curl -fsS "$api/$1" | has "$2"; }
# json_ok PATH EXPR: the API's answer at PATH, as d, makes the Python EXPR true.
json_ok() {
	curl -fsS "$api/$1" | /usr/bin/python3 -c "import json, sys; d = json.load(sys.stdin); sys.exit(0 if ($2) else 1)"
}

# ---- run: under systemd, or with the units' command lines ----
if [ -d /run/systemd/system ]; then
	say "starting droverd and drover-agent with systemctl"
	$SUDO systemctl start droverd
	$SUDO systemctl start drover-agent
	systemctl is-active droverd drover-agent
	notified() { true; }
else
	say "no systemd here: starting droverd and drover-agent with the units' command lines"
	# A stand-in for systemd's side of Type=notify: a datagram socket whose
	# messages go to a file, one per line.
	cat >"$tmp/notify.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as f:
    while True:
        f.write(s.recv(4096).decode().replace("\n", " ") + "\n")
PY
	python3 "$tmp/notify.py" "$tmp/notify.sock" "$tmp/notify.log" &
	pids+=($!)
	wait_for 10 test -S "$tmp/notify.sock" || fail "notify socket"
	unit_exec() { sed -n 's/^ExecStart=//p' "$unitdir/$1.service"; }
	unit_watchdog_usec() { echo $(($(sed -n 's/^WatchdogSec=\([0-9]*\)s$/\1/p' "$unitdir/$1.service") * 1000000)); }
	# shellcheck disable=SC2046
	NOTIFY_SOCKET=$tmp/notify.sock WATCHDOG_USEC=$(unit_watchdog_usec droverd) \
		$(unit_exec droverd) >"$tmp/droverd.log" 2>&1 &
	droverd_pid=$!
	pids+=($droverd_pid)
	notified() { grep -q "$1" "$tmp/notify.log"; }
	wait_for 30 notified "^READY=1" || { cat "$tmp/droverd.log"; fail "droverd sent no READY=1"; }
	# READY=1 means the API listens: no waiting from here on.
	status_has status '"name"' || fail "the API does not answer after READY=1"
	wait_for 30 notified "^WATCHDOG=1" || fail "no watchdog ping"
	# shellcheck disable=SC2046
	$(unit_exec drover-agent) >"$tmp/agent.log" 2>&1 &
	agent_pid=$!
	pids+=($agent_pid)
fi

say "checking the API, the workers, the agent, the queues"
wait_for 30 json_ok processes '[p["state"] for p in d if p["group"] == "hello"] == ["RUNNING"] * 2' ||
	{ curl -fsS "$api/processes"; fail "hello:0 and hello:1 are not RUNNING"; }
pid=$(curl -fsS "$api/processes/hello:0" | /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["pid"])')
[ -n "$pid" ] || fail "hello:0 has no pid"
[ "$(stat -c %U /proc/"$pid")" = drover ] || fail "hello:0 does not run as drover"
grep -q "hello from hello:0" /var/log/drover/hello:0.out || fail "hello:0's output is not in /var/log/drover"
/usr/bin/droverctl status hello | has "hello:1 *RUNNING" || fail "droverctl status"
/usr/bin/droverctl --token-file /etc/drover/api.token restart hello:1 >/dev/null || fail "droverctl restart"
wait_for 60 json_ok agents '[(a["name"], a["state"]) for a in d] == [("node-1", "CONNECTED")]' ||
	{ curl -fsS "$api/agents"; fail "the agent node-1 did not connect"; }
/usr/bin/droverctl --authkey-file /etc/drover/queue.key put tasks from-the-package-test
[ "$(/usr/bin/droverctl --authkey-file /etc/drover/queue.key get tasks --timeout 5)" = from-the-package-test ] ||
	fail "droverctl put/get through the queue module"

say "upgrade in place"
before=$(curl -fsS "$api/status" | /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["pid"])')
/usr/bin/droverctl --token-file /etc/drover/api.token upgrade | has "upgraded in place" ||
	fail "droverctl upgrade"
json_ok status 'd["upgrades"] == 1 and d["pid"] == '"$before" || fail "droverd is not the same, upgraded once"
json_ok processes '[p["pid"] for p in d if p["name"] == "hello:0"] == ['"$pid"']' ||
	fail "hello:0 did not keep its pid across the upgrade"
wait_for 30 json_ok agents '[(a["name"], a["state"]) for a in d] == [("node-1", "CONNECTED")]' ||
	fail "the agent did not come back after the upgrade"
/usr/bin/droverctl --authkey-file /etc/drover/queue.key put tasks after-the-upgrade
[ "$(/usr/bin/droverctl --authkey-file /etc/drover/queue.key get tasks --timeout 5)" = after-the-upgrade ] ||
	fail "the queues after the upgrade"

say "bash completion"
words=$(bash -c 'source /usr/share/bash-completion/completions/droverctl
	COMP_WORDS=(droverctl restart he); COMP_CWORD=2; _droverctl; echo "${COMPREPLY[*]}"
	COMP_WORDS=(droverctl sc); COMP_CWORD=1; _droverctl; echo "${COMPREPLY[*]}"')
[ "$words" = $'hello hello:0 hello:1\nscale' ] || fail "completion gave: $words"

say "the Python wheel, pkg-config and libdrover"
/usr/bin/python3 -m venv --without-pip --system-site-packages "$tmp/venv"
"$tmp/venv/bin/python" -m pip install --quiet --no-index --no-deps /usr/share/drover/python/drover-*.whl
"$tmp/venv/bin/python" - <<'PY'
import drover
c = drover.QueueClient("tcp://127.0.0.1:9172", authkey=open("/etc/drover/queue.key", "rb").read().strip())
c.put("tasks", b"from python", timeout=5)
m = c.get("tasks", timeout=5)
assert m.data == b"from python", m.data
m.ack()
c.close()
PY
cc -o "$tmp/task_worker" /usr/share/doc/drover/examples/task_worker.c $(pkg-config --cflags --libs drover)
cc -o "$tmp/task_worker_static" /usr/share/doc/drover/examples/task_worker.c $(pkg-config --cflags drover) \
	"$(pkg-config --variable=libdir drover)/libdrover.a" $(pkg-config --static --libs drover | sed 's/ -ldrover / /')
! ldd "$tmp/task_worker_static" | has libdrover || fail "libdrover.a did not link statically"
ldd "$tmp/task_worker" | has "libdrover.so.0 =>" || fail "not linked with libdrover.so.0"

say "man pages"
for page in droverd.8 drover-agent.8 droverctl.1 drover.yaml.5 libdrover.3; do
	MANPAGER=cat MANWIDTH=80 man "${page##*.}" "${page%.*}" 2>"$tmp/man.err" | has "^NAME" ||
		fail "man ${page##*.} ${page%.*} does not render"
	[ ! -s "$tmp/man.err" ] || { cat "$tmp/man.err"; fail "man ${page%.*} warns"; }
done
MANPAGER=cat man droverd | has "READY=1" || fail "man droverd is not droverd(8)"

say "reload and stop"
if [ -d /run/systemd/system ]; then
	$SUDO systemctl reload droverd
	$SUDO systemctl stop drover-agent droverd
	! systemctl is-active --quiet droverd || fail "droverd still active"
else
	kill -HUP "$droverd_pid"
	wait_for 10 notified "^RELOADING=1" || fail "no RELOADING=1"
	wait_for 10 sh -c "grep -A9 '^RELOADING=1' '$tmp/notify.log' | grep '^READY=1' >/dev/null" || fail "no READY=1 after the reload"
	kill -TERM "$agent_pid"
	wait "$agent_pid" || fail "drover-agent exited $?"
	kill -TERM "$droverd_pid"
	wait "$droverd_pid" || fail "droverd exited $?"
	notified "^STOPPING=1 .*EXTEND_TIMEOUT_USEC=" || fail "no STOPPING=1 with EXTEND_TIMEOUT_USEC"
fi
! kill -0 "$pid" 2>/dev/null || fail "a worker outlived droverd"

say "removing"
dpkg-query -L drover libdrover0 libdrover-dev | sort -u >"$tmp/files"
$SUDO dpkg -r drover libdrover-dev libdrover0
left=$(while read -r f; do
	case $f in /etc/* | /var/*) continue ;; esac
	if [ -e "$f" ] && [ ! -d "$f" ]; then echo "$f"; fi
done <"$tmp/files")
[ -z "$left" ] || fail "left after dpkg -r: $left"
[ -e /etc/drover/drover.yaml ] || fail "dpkg -r removed a conffile"
$SUDO dpkg -P drover
for d in /etc/drover /var/lib/drover /var/log/drover /etc/systemd/system/multi-user.target.wants/droverd.service; do
	[ ! -e "$d" ] && [ ! -L "$d" ] || fail "$d is left after purge"
done
say "ok"
