#!/usr/bin/python3
"""drover-agent and droverd's hub on loopback: placement by names and by
labels with instances numbered across hosts and ${HOST} per host; a remote
worker killed and restarted by its agent, seen in the API and on the event
stream; every action on remote processes and groups; an agent silent (its
process stopped) becomes LOST and comes back with the same pids; droverd
killed and restarted under running agents; an agent killed leaves no worker
behind and a new one brings them back once; refusals (unknown key, a name
that is not its key's, a wrong server key, another protocol version, a key
removed and reloaded); garbage on the agent port; reloads that move groups
between agents and pick up a later agent by labels.

Run by ctest with DROVERD, DROVER_AGENT and DROVERCTL in the environment."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(1, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from cluster import Cluster, alive, wait_for, zcert_keys  # noqa: E402
from droverd_fixture import has_ipv6_loopback  # noqa: E402

SLEEP_GROUP = """\
  web:
    command: "echo up on ${HOST} as ${INSTANCE}; exec sleep 1000"
    instances: 2
    start_timeout: 0s
    hosts: [node1, node2]
"""


def copies(root, name):
    """Pids of live processes whose cwd is under root and DROVER_NAME is name."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if not os.readlink("/proc/%s/cwd" % pid).startswith(root):
                continue
            with open("/proc/%s/environ" % pid, "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if ("DROVER_NAME=" + name).encode() in env and alive(int(pid)):
            found.append(int(pid))
    return found


class Events:
    """Follows /api/v1/events, keeping (arrival time, type, data)."""

    def __init__(self, port):
        self.items = []
        self.lock = threading.Lock()
        self.resp = urllib.request.urlopen("http://127.0.0.1:%d/api/v1/events" % port,
                                           timeout=60)
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        etype = None
        try:
            for raw in self.resp:
                line = raw.decode().rstrip("\n")
                if line.startswith("event:"):
                    etype = line[6:].strip()
                elif line.startswith("data:") and etype:
                    with self.lock:
                        self.items.append((time.time(), etype, json.loads(line[5:])))
        except (OSError, ValueError):
            pass

    def first(self, fn):
        with self.lock:
            for t, etype, data in self.items:
                if fn(etype, data):
                    return t
        return None

    def close(self):
        self.resp.close()


class AgentTests(unittest.TestCase):
    def tearDown(self):
        if getattr(self, "c", None) is not None:
            if self._outcome.result.failures or self._outcome.result.errors:
                sys.stderr.write(self.c.output()[-4000:])
                for a in self.c.agents:
                    sys.stderr.write(a.output()[-2000:])
            self.c.cleanup()

    def cluster(self, groups, names=("node1", "node2"), **kw):
        self.c = Cluster(groups, agent_names=names, **kw).start()
        return self.c

    @unittest.skipUnless(has_ipv6_loopback(), "this host has no IPv6 loopback (::1)")
    def test_an_agent_reaches_droverd_at_an_ipv6_address(self):
        c = self.cluster(SLEEP_GROUP, ipv6=True)
        self.assertTrue(c.agents_url.startswith("tcp://[::1]:"), c.agents_url)
        c.agent("node1")
        c.agent("node2")
        for i, host in enumerate(["node1", "node1", "node2", "node2"]):
            self.assertIsNotNone(c.wait_state("web:%d" % i, "RUNNING", host=host)["pid"])
        agents = {a["name"]: a for a in c.get("/api/v1/agents")}
        self.assertEqual(agents["node1"]["state"], "CONNECTED")
        self.assertIn("::1", agents["node1"]["address"])

    def test_placement_by_names_numbers_instances_across_hosts(self):
        c = self.cluster(SLEEP_GROUP + "  here:\n    command: [sleep, '1000']\n"
                         "    start_timeout: 0s\n")
        # Before the agents come: UNKNOWN, waiting for them.
        p = c.process("web:3")
        self.assertEqual(p["state"], "UNKNOWN")
        self.assertEqual(p["host"], "node2")
        self.assertIsNone(p["pid"])
        self.assertEqual(p["error"], "waiting for agent node2")
        c.agent("node1")
        c.agent("node2")
        for i, host in enumerate(["node1", "node1", "node2", "node2"]):
            p = c.wait_state("web:%d" % i, "RUNNING", host=host)
            self.assertIsNotNone(p["pid"])
        self.assertEqual(c.process("here:0")["host"], "local")
        # ${HOST} and ${INSTANCE} per host, in each agent's own log directory.
        for i, host in enumerate(["node1", "node1", "node2", "node2"]):
            path = os.path.join(c.dir, "agent-" + host, "log", "web:%d.out" % i)
            text = wait_for("output of web:%d" % i,
                            lambda: os.path.exists(path) and open(path).read())
            self.assertEqual(text, "up on %s as %d\n" % (host, i))
        agents = {a["name"]: a for a in c.get("/api/v1/agents")}
        self.assertEqual(agents["node1"]["state"], "CONNECTED")
        self.assertEqual(agents["node1"]["processes"], 2)
        one = c.get("/api/v1/agents/node2")
        for key in ("name", "address", "hostname", "labels", "state", "since", "last_seen",
                    "version", "cores", "memory_bytes", "processes"):
            self.assertIn(key, one)
        self.assertEqual(c.request("GET", "/api/v1/agents/nobody")[0], 404)
        metrics = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % c.http_port).read()
        self.assertIn(b'drover_agent_up{agent="node1"} 1', metrics)
        self.assertIn(b'drover_process_state{name="web:2",group="web",host="node2",'
                      b'state="RUNNING"} 1', metrics)
        # CPU and memory samples come from the agent (every 5 s).
        p = wait_for("a memory sample of web:3", lambda: (lambda q: q if q["rss_bytes"] else
                                                           None)(c.process("web:3")), timeout=12)
        self.assertGreater(p["rss_bytes"], 0)
        self.assertGreaterEqual(p["cpu_seconds"], 0)
        wait_for("the heartbeat round trip", lambda: b'drover_agent_heartbeat_rtt_seconds{'
                 b'agent="node1"}' in urllib.request.urlopen(
                     "http://127.0.0.1:%d/metrics" % c.http_port).read())

    def test_placement_by_labels_per_host(self):
        c = self.cluster("  w:\n    command: [sleep, '1000']\n    start_timeout: 0s\n"
                         "    hosts: { labels: { role: worker }, per_host: 2 }\n",
                         names=("a1", "a2", "a3"))
        c.agent("a1", labels={"role": "worker"})
        c.agent("a2", labels={"role": "db"})
        c.wait_state("w:1", "RUNNING", host="a1")
        c.agent("a3", labels={"role": "worker", "zone": "b"})
        c.wait_state("w:3", "RUNNING", host="a3")
        c.wait_agent("a2", "CONNECTED")
        time.sleep(0.5)
        hosts = sorted(p["host"] for p in c.get("/api/v1/processes"))
        self.assertEqual(hosts, ["a1", "a1", "a3", "a3"])

    def test_remote_worker_killed_is_restarted_and_seen_at_once(self):
        c = self.cluster(SLEEP_GROUP, names=("node1", "node2"))
        a = c.agent("node1")
        c.agent("node2")
        old = c.wait_state("web:0", "RUNNING")["pid"]
        ev = Events(c.http_port)
        time.sleep(0.3)
        os.kill(old, signal.SIGKILL)
        p = wait_for("a new pid", lambda: (lambda q: q if q["state"] == "RUNNING" and
                                           q["pid"] not in (None, old) else None)(
                                               c.process("web:0")))
        self.assertEqual(p["restarts"], 1)
        new = p["pid"]
        seen = wait_for("the event", lambda: ev.first(
            lambda t, d: t == "process" and d.get("name") == "web:0" and d.get("pid") == new))
        ev.close()
        started = wait_for("the agent's log line",
                           lambda: c.log_time(r"web:0: started, pid %d" % new, a.output()))
        # The agent's log stamps milliseconds: allow one for rounding.
        self.assertLess(seen - started, 0.101, "the event came %.3f s after the restart" %
                        (seen - started))

    def test_logs_of_a_remote_process_tail_and_follow_byte_for_byte(self):
        c = self.cluster("  talk:\n"
                         "    command: \"i=0; while [ $i -lt 400 ]; do i=$((i+1)); "
                         "echo \\\"line $i \\u00e9t\\u00e9 ${HOST}\\\"; sleep 0.005; done; "
                         "exec sleep 1000\"\n"
                         "    start_timeout: 0s\n"
                         "    hosts: [node1]\n", names=("node1",))
        c.agent("node1")
        c.wait_state("talk:0", "RUNNING")
        path = os.path.join(c.dir, "agent-node1", "log", "talk:0.out")
        # Follow from the start while it writes.
        ctl = subprocess.Popen([os.environ["DROVERCTL"], "-s", "http://127.0.0.1:%d" % c.http_port,
                                "logs", "-f", "-n", "1000", "talk:0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wait_for("all 400 lines written",
                 lambda: os.path.exists(path) and open(path, "rb").read().count(b"\n") >= 400,
                 timeout=20)
        time.sleep(1.5)
        ctl.terminate()
        out, err = ctl.communicate(timeout=10)
        with open(path, "rb") as f:
            text = f.read()
        self.assertEqual(out, text, err)
        self.assertIn("line 400 \u00e9t\u00e9 node1\n".encode(), text)
        # The tail, as the API gives it, and the same for stderr (none).
        status, body = c.request("GET", "/api/v1/processes/talk:0/logs?tail=50")
        self.assertEqual(status, 200, body)
        self.assertEqual([l + "\n" for l in body["lines"]],
                         [l.decode() + "\n" for l in text.splitlines()[-50:]])
        self.assertEqual(body["offset"], len(text))
        status, body = c.request("GET", "/api/v1/processes/talk:0/logs?stream=nope")
        self.assertEqual(status, 400)

    def test_actions_on_remote_processes_and_groups(self):
        c = self.cluster(SLEEP_GROUP)
        c.agent("node1")
        # A group action while one of its hosts has no agent yet: done where
        # it can be, and a 504 that names the host missing.
        old = c.wait_state("web:0", "RUNNING")["pid"]
        status, g = c.request("POST", "/api/v1/groups/web/restart")
        self.assertEqual(status, 504, g)
        self.assertEqual(g["error"]["code"], "timeout")
        self.assertIn("agent node2 is not connected", g["error"]["message"])
        wait_for("web:0 restarted on node1", lambda: c.process("web:0")["pid"] not in (None, old))
        c.agent("node2")
        pid = c.wait_state("web:2", "RUNNING")["pid"]
        status, p = c.request("POST", "/api/v1/processes/web:2/restart")
        self.assertEqual(status, 200, p)
        p = c.wait_state("web:2", "RUNNING")
        self.assertNotEqual(p["pid"], pid)
        status, p = c.request("POST", "/api/v1/processes/web:2/stop")
        self.assertEqual(status, 200, p)
        c.wait_state("web:2", "STOPPED")
        status, p = c.request("POST", "/api/v1/processes/web:2/stop")
        self.assertEqual(status, 409, p)
        status, p = c.request("POST", "/api/v1/processes/web:2/start")
        self.assertEqual(status, 200, p)
        p = c.wait_state("web:2", "RUNNING")
        status, _ = c.request("POST", "/api/v1/processes/web:2/signal", {"signal": "KILL"})
        self.assertEqual(status, 200)
        wait_for("a restart after KILL",
                 lambda: c.process("web:2")["pid"] not in (None, p["pid"]) and
                 c.process("web:2")["state"] == "RUNNING")
        status, g = c.request("POST", "/api/v1/groups/web/stop")
        self.assertEqual(status, 200, g)
        for i in range(4):
            c.wait_state("web:%d" % i, "STOPPED")
        status, g = c.request("POST", "/api/v1/groups/web/start")
        self.assertEqual(status, 200, g)
        for i in range(4):
            c.wait_state("web:%d" % i, "RUNNING")
        status, g = c.request("PUT", "/api/v1/groups/web/instances", {"instances": 3})
        self.assertEqual(status, 200, g)
        c.wait_state("web:5", "RUNNING", host="node2")
        c.wait_state("web:2", "RUNNING", host="node1")
        # droverctl speaks to remote processes as to local ones.
        out = os.popen("%s -s http://127.0.0.1:%d status web:4" %
                       (os.environ["DROVERCTL"], c.http_port)).read()
        self.assertIn("node2", out)

    def test_silent_agent_is_lost_then_back_with_the_same_pids(self):
        c = self.cluster(SLEEP_GROUP)
        a = c.agent("node1")
        c.agent("node2")
        before = {n: c.wait_state(n, "RUNNING") for n in ("web:0", "web:1")}
        ev = Events(c.http_port)
        time.sleep(0.2)
        a.kill(signal.SIGSTOP)
        t0 = time.monotonic()
        c.wait_agent("node1", "LOST", timeout=5)
        lost_after = time.monotonic() - t0
        self.assertLess(lost_after, 3 * 0.2 + 0.5, "LOST after %.2f s" % lost_after)
        p = c.process("web:0")
        self.assertEqual(p["state"], "UNKNOWN")
        self.assertEqual(p["pid"], before["web:0"]["pid"])
        self.assertEqual(p["error"], "agent node1 lost")
        self.assertEqual(c.process("web:2")["state"], "RUNNING")
        status, _ = c.request("POST", "/api/v1/processes/web:0/restart")
        self.assertEqual(status, 504)
        # The same for the group, and droverctl says why at once (a 504, not
        # "already in that state" and then half a minute of waiting).
        status, g = c.request("POST", "/api/v1/groups/web/restart")
        self.assertEqual(status, 504, g)
        self.assertIn("agent node1 is lost", g["error"]["message"])
        t0 = time.monotonic()
        r = subprocess.run([os.environ["DROVERCTL"], "-s", "http://127.0.0.1:%d" % c.http_port,
                            "restart", "web"], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("agent node1 is lost", r.stderr)
        self.assertLess(time.monotonic() - t0, 10)
        a.kill(signal.SIGCONT)
        c.wait_agent("node1", "CONNECTED")
        wait_for("agent events", lambda: ev.first(
            lambda t, d: t == "agent" and d["name"] == "node1" and d["state"] == "CONNECTED"))
        self.assertIsNotNone(ev.first(
            lambda t, d: t == "agent" and d["name"] == "node1" and d["state"] == "LOST"))
        ev.close()
        out = os.popen("%s -s http://127.0.0.1:%d agents" %
                       (os.environ["DROVERCTL"], c.http_port)).read()
        self.assertRegex(out, r"node1\s.*CONNECTED")
        for n, old in before.items():
            p = c.wait_state(n, "RUNNING")
            self.assertEqual(p["pid"], old["pid"])
            self.assertEqual(p["restarts"], old["restarts"])

    def test_droverd_stops_cleanly_with_a_command_in_flight(self):
        c = self.cluster(SLEEP_GROUP, names=("node1",), heartbeat="2s")
        a = c.agent("node1")
        c.wait_state("web:0", "RUNNING")
        a.kill(signal.SIGSTOP)  # it will not answer
        answer = {}

        def call():
            answer["r"] = c.request("POST", "/api/v1/processes/web:0/restart")
        t = threading.Thread(target=call)
        t.start()
        time.sleep(0.5)
        c.proc.terminate()
        self.assertEqual(c.proc.wait(20), 0, "droverd did not stop cleanly")
        t.join(20)
        self.assertEqual(answer["r"][0], 503, answer)
        a.kill(signal.SIGCONT)

    def test_droverd_killed_and_restarted_agents_keep_their_workers(self):
        c = self.cluster(SLEEP_GROUP)
        c.agent("node1")
        c.agent("node2")
        before = {n: c.wait_state(n, "RUNNING")["pid"] for n in ("web:0", "web:3")}
        os.killpg(c.proc.pid, signal.SIGKILL)
        c.proc.wait()
        time.sleep(0.5)
        c.start()
        for n, pid in before.items():
            self.assertEqual(c.wait_state(n, "RUNNING")["pid"], pid)
        self.assertEqual(c.process("web:0")["restarts"], 0)

    def test_droverd_upgraded_in_place_agents_keep_their_workers(self):
        c = self.cluster(SLEEP_GROUP + "  here:\n    command: [sleep, \"1001\"]\n"
                         "    start_timeout: 0s\n")
        c.agent("node1")
        c.agent("node2")
        names = ("web:0", "web:1", "web:2", "web:3", "here:0")
        before = {n: c.wait_state(n, "RUNNING")["pid"] for n in names}
        pid = c.proc.pid
        os.kill(pid, signal.SIGUSR2)
        wait_for("the upgraded droverd",
                 lambda: (c.try_get("/api/v1/status") or {}).get("upgrades") == 1)
        self.assertEqual(c.get("/api/v1/status")["pid"], pid)
        for n, p in before.items():
            self.assertEqual(c.wait_state(n, "RUNNING")["pid"], p, n)
            self.assertEqual(c.process(n)["restarts"], 0, n)
        c.wait_agent("node1", "CONNECTED")
        c.wait_agent("node2", "CONNECTED")
        # Commands reach the agents through the new hub.
        status, _ = c.request("POST", "/api/v1/processes/web:3/restart")
        self.assertEqual(status, 200)
        wait_for("web:3 restarted", lambda: c.process("web:3")["pid"] != before["web:3"] and
                 c.process("web:3")["state"] == "RUNNING")

    def test_agent_killed_leaves_no_worker_and_comes_back_once(self):
        c = self.cluster(SLEEP_GROUP)
        a = c.agent("node1")
        c.agent("node2")
        pids = [c.wait_state(n, "RUNNING")["pid"] for n in ("web:0", "web:1")]
        a.kill(signal.SIGKILL)
        wait_for("the workers gone", lambda: not any(alive(p) for p in pids), timeout=5)
        c.wait_state("web:0", "UNKNOWN", timeout=5)
        a.start()
        new = [c.wait_state(n, "RUNNING")["pid"] for n in ("web:0", "web:1")]
        self.assertTrue(all(p not in pids for p in new))
        # One copy of each instance of this cluster runs, nowhere a second.
        # (A worker is RUNNING from its fork; the environment copies() reads
        # is its own once it has exec'd: wait for that.)
        for name in ("web:0", "web:1", "web:2", "web:3"):
            wait_for("%s exec'd" % name, lambda: copies(c.dir, name), timeout=5)
            self.assertEqual(len(copies(c.dir, name)), 1, name)
        time.sleep(0.5)
        self.assertEqual([c.process(n)["pid"] for n in ("web:0", "web:1")], new)

    def test_refusals_are_quick_clear_and_logged_with_the_address(self):
        c = self.cluster(SLEEP_GROUP, names=("node1",))
        other = os.path.join(c.dir, "other")
        os.makedirs(other)
        c.keygen("rogue", into=other)
        c.keygen("node9", into=other)
        c.keygen("node2")
        cases = [
            (dict(name="rogue", key_name="../other/rogue"), "refused this agent's key",
             "refused 127.0.0.1: unknown key"),
            (dict(name="node2", key_name="node1"), "name node2 does not match its key",
             "refused 127.0.0.1: name node2 does not match its key"),
            (dict(name="node1", server_key=os.path.join(other, "node9.cert")),
             "no secure handshake", "refused 127.0.0.1: no secure handshake"),
        ]
        for kw, agent_says, droverd_says in cases:
            a = c.agent(**kw)
            t0 = time.monotonic()
            wait_for(agent_says, lambda: agent_says in a.output(), timeout=5)
            self.assertLess(time.monotonic() - t0, 1.0)
            if droverd_says:
                wait_for(droverd_says, lambda: droverd_says in c.output(), timeout=6)
            a.stop()
        # Another protocol version, from a raw client holding a good key.
        import zmq
        pub, sec = zcert_keys(os.path.join(c.keys, "node2.cert_secret"))
        spub, _ = zcert_keys(os.path.join(c.keys, "droverd.cert"))
        ctx = zmq.Context()
        s = ctx.socket(zmq.DEALER)
        s.curve_publickey, s.curve_secretkey, s.curve_serverkey = \
            pub.encode(), sec.encode(), spub.encode()
        s.linger = 0
        s.connect(c.agents_url)
        s.send_multipart([b"HELLO", json.dumps(
            {"protocol": 99, "name": "node2", "version": "9", "hostname": "x", "labels": {},
             "processes": []}).encode()])
        self.assertTrue(s.poll(2000))
        kind, body = s.recv_multipart()
        self.assertEqual(kind, b"REFUSED")
        self.assertIn("protocol version 99", json.loads(body)["reason"])
        s.close()
        ctx.term()
        # A key removed and a reload: the agent is disconnected.
        a = c.agent("node1")
        c.wait_agent("node1", "CONNECTED")
        os.unlink(os.path.join(c.keys, "node1.cert"))
        self.assertEqual(c.reload()[0], 200)
        c.wait_agent("node1", "LOST", timeout=3)
        wait_for("the agent told", lambda: "key was removed" in a.output(), timeout=3)

    def test_garbage_on_the_agent_port_changes_nothing(self):
        c = self.cluster(SLEEP_GROUP)
        c.agent("node1")
        c.wait_state("web:0", "RUNNING")
        # A TCP client that sends junk, and one that never speaks.
        junk = socket.create_connection(("127.0.0.1", c.agents_port))
        junk.sendall(os.urandom(4096))
        silent = socket.create_connection(("127.0.0.1", c.agents_port))
        # A client with a good key sending bad frames.
        import zmq
        pub, sec = zcert_keys(os.path.join(c.keys, "node2.cert_secret"))
        spub, _ = zcert_keys(os.path.join(c.keys, "droverd.cert"))
        ctx = zmq.Context()
        s = ctx.socket(zmq.DEALER)
        s.curve_publickey, s.curve_secretkey, s.curve_serverkey = \
            pub.encode(), sec.encode(), spub.encode()
        s.linger = 0
        s.connect(c.agents_url)
        for frames in ([b"NOSUCH", b"{}"], [b"HELLO", b"not json"], [b"HELLO"],
                       [b"EVENT", b"[1,2]"], [b"HELLO", b"{}"], [b"x" * 100, b"{}"],
                       [b"HELLO", b"{" * 100000], [b"EVENT", b'{"seq": 1, "processes": [{}, 7]}'],
                       [b"HELLO", b" " * (5 * 1024 * 1024)],
                       [b"HELLO", json.dumps({"protocol": 1, "name": "node2", "version": "1",
                                               "hostname": "h", "labels": {},
                                               "processes": [{"name": "web:0"}, 5]}).encode()]):
            s.send_multipart(frames)
        time.sleep(1.0)
        self.assertIsNone(c.proc.poll(), "droverd died")
        wait_for("bad messages logged", lambda: "bad message from" in c.output())
        self.assertEqual(c.process("web:0")["state"], "RUNNING")
        self.assertEqual(c.process("web:0")["host"], "node1")
        status, _ = c.request("POST", "/api/v1/processes/web:0/restart")
        self.assertEqual(status, 200)
        s.close()
        ctx.term()
        junk.close()
        silent.close()

    def test_check_help_and_bad_flags_say_one_clear_line(self):
        c = self.cluster(SLEEP_GROUP, names=("node1",))
        agent = os.environ["DROVER_AGENT"]
        key = os.path.join(c.keys, "node1.cert_secret")
        srv = os.path.join(c.keys, "droverd.cert")

        def run(*args):
            r = subprocess.run([agent] + list(args), capture_output=True, text=True,
                               timeout=20, cwd=c.dir)
            return r.returncode, r.stdout + r.stderr

        rc, out = run("--help")
        self.assertEqual(rc, 0)
        self.assertIn("--server-key", out)
        ok = ["--connect", c.agents_url, "--name", "node1", "--key", key, "--server-key", srv]
        rc, out = run("--check", *ok)
        self.assertEqual(rc, 0, out)
        self.assertIn("OK", out)
        for args, code, says in [
                (["--connect", "http://x", "--name", "a"], 2, "expected tcp://HOST:PORT"),
                (["--name", "local"], 2, "not a valid agent name"),
                (["--label", "nokey"], 2, "expected KEY=VALUE"),
                (["--bogus"], 2, "usage"),
                (["--check", "--connect", c.agents_url, "--name", "node1"], 2, "--key is missing"),
                (["--check"] + ok[:5] + [os.path.join(c.keys, "node1.cert"), "--server-key", srv],
                 1, "holds no secret key"),
                (["--check"] + ok[:7] + [os.path.join(c.dir, "drover.yaml")], 1,
                 "not a certificate"),
                (["--check"] + ok[:7] + ["/nonexistent"], 1, "No such file")]:
            rc, out = run(*args)
            self.assertEqual(rc, code, (args, out))
            self.assertIn(says, out, args)
            self.assertLessEqual(len(out.strip().splitlines()), 1 if code == 1 else 30, out)
        # agent.yaml, with its errors at file:line:col.
        y = os.path.join(c.dir, "agent.yaml")
        with open(y, "w") as f:
            f.write("agent:\n  connect: %s\n  name: node1\n  key: keys/node1.cert_secret\n"
                    "  server_key: keys/droverd.cert\n  labels: { role: w }\n" % c.agents_url)
        rc, out = run("--check", "-c", y)
        self.assertEqual(rc, 0, out)
        with open(y, "w") as f:
            f.write("agent:\n  connect: nope\n  name: node1\n  colour: blue\n")
        rc, out = run("--check", "-c", y)
        self.assertEqual(rc, 1, out)
        self.assertIn("agent.yaml:2:12: agent.connect: expected tcp://HOST:PORT", out)
        self.assertIn("agent.yaml:4:3: agent.colour: unknown key", out)
        self.assertIn("missing key", out)

    def test_reload_moves_groups_and_keeps_the_unchanged(self):
        stay = "  stay:\n    command: [sleep, '1001']\n    start_timeout: 0s\n" \
               "    hosts: [node1, node2]\n"
        move1 = "  move:\n    command: [sleep, '1002']\n    start_timeout: 0s\n" \
                "    hosts: [node1]\n"
        label = "  bylabel:\n    command: [sleep, '1003']\n    start_timeout: 0s\n" \
                "    hosts: { labels: { late: 'yes' }, per_host: 1 }\n"
        c = self.cluster(stay + move1, names=("node1", "node2", "node3"))
        c.agent("node1")
        c.agent("node2")
        keep = {n: c.wait_state(n, "RUNNING")["pid"] for n in ("stay:0", "stay:1")}
        old = c.wait_state("move:0", "RUNNING", host="node1")["pid"]
        c.write(stay + move1.replace("[node1]", "[node2]") + label)
        self.assertEqual(c.reload()[0], 200)
        c.wait_state("move:0", "RUNNING", host="node2")
        wait_for("the old copy gone", lambda: not alive(old), timeout=5)
        c.agent("node3", labels={"late": "yes"})
        c.wait_state("bylabel:0", "RUNNING", host="node3")
        for n, pid in keep.items():
            self.assertEqual(c.process(n)["pid"], pid)


if __name__ == "__main__":
    unittest.main(verbosity=2)
