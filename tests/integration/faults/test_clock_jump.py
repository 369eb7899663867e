#!/usr/bin/python3
"""The wall clock set back an hour, and forward an hour, under a running
droverd, two drover-agents and a queue client: every duration keeps its
length.

The machine's clock is not touched. droverd, the agents (and through them
their workers) and a queue consumer run under Debian's libfaketime with
FAKETIME_DONT_FAKE_MONOTONIC=1, so that only the wall clock is fake, and
FAKETIME_TIMESTAMP_FILE + FAKETIME_NO_CACHE=1: every read of the wall clock
reads the offset from a file that the test rewrites to make the jump. Beside
it, realmono.so (built here) keeps timers on CLOCK_MONOTONIC out of the
fake, as a real jump does (see realmono.c). The test itself runs on the real
clock and measures with time.monotonic().

First it proves the fake is in effect: the `since` of droverd's processes,
of an agent's processes, and the consumer's time.time() are the real time
before the jump and an hour off after it. Then, with the jump in the middle
of each:

- a failing start (backoff 2 s), on droverd's host and on an agent, is
  retried about 2 s after the last one, not an hour later, not at once;
- a worker that ignores SIGTERM is killed 2 s (stop.timeout) after the stop;
- start_timeout 3 s and a ready timeout of 2 s keep their lengths;
- a message leased (lease: 2s) to a consumer that never acks comes back to
  another consumer after about 2 s, the first one still connected;
- an agent with heartbeat 200ms, lost_after 3, is not LOST by the jump; an
  agent stopped with SIGSTOP is LOST after about 3 heartbeats;
- GET /api/v1/status uptime_s grows by the real time, not by an hour;
- the dashboard's history (sampled every 500 ms here) charts a steady 50
  puts a second as about 50/s in every sample around the jump: none missing
  (back) and none divided by an hour (forward).

Without libfaketime it says so and exits 77 (ctest: skipped).

Run by ctest with DROVERD, DROVER_AGENT, DROVERCTL and REALMONO (the built
realmono.so) in the environment; DROVER_LIBFAKETIME may name the library,
else it is found with dpkg -L libfaketime."""

import glob
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "client", "python"))

from drover import QueueClient, read_authkey  # noqa: E402

HOUR = 3600.0
# What a wall-clock error looks like: anything near an hour. Everything
# within a minute of the expected time counts as the expected time (a loaded
# machine is slow, never an hour slow).
SKEW = 60.0


def find_libfaketime():
    p = os.environ.get("DROVER_LIBFAKETIME")
    if p:
        return p if os.path.isfile(p) else None
    try:
        out = subprocess.run(["dpkg", "-L", "libfaketime"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True).stdout
    except OSError:
        out = ""
    found = [line for line in out.splitlines() if line.endswith("/libfaketime.so.1")]
    found += glob.glob("/usr/lib/*/faketime/libfaketime.so.1")
    return next((p for p in found if os.path.isfile(p)), None)


def program(var):
    p = os.environ.get(var)
    if not p or not os.access(p, os.X_OK if var != "REALMONO" else os.R_OK):
        raise RuntimeError("set %s to the built program (ctest does)" % var)
    return os.path.abspath(p)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, fn, timeout=15.0, step=0.02):
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError("timed out waiting for %s" % what)
        time.sleep(step)


class Events:
    """Follows /api/v1/events, keeping (arrival on the real monotonic clock,
    the real wall clock then, type, data)."""

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
                        self.items.append((time.monotonic(), time.time(), etype,
                                           json.loads(line[5:])))
        except Exception:  # noqa: BLE001 (closed under the reader by close())
            pass

    def select(self, fn):
        with self.lock:
            return [e for e in self.items if fn(e[2], e[3])]

    def process(self, name, states=None, after=None):
        """(arrival, real wall time, process object) of the events of one
        process, in states, arrived after the monotonic time after."""
        return [(t, w, d) for t, w, _, d in self.select(
            lambda et, d: et == "process" and d["name"] == name and
            (states is None or d["state"] in states)) if after is None or t > after]

    def wait_process(self, name, states, after, timeout=15.0):
        return wait_for("%s in %s" % (name, "/".join(states)),
                        lambda: (self.process(name, states, after) or [None])[0], timeout)

    def close(self):
        self.resp.close()


GROUPS = """\
  flap:
    command: "exit 1"
    hosts: [local, node1]
    start_timeout: 1s
    backoff: { initial: 2s, max: 2s, factor: 1 }
    max_restarts: { count: 1000, within: 60s }
    stdout:
    stderr:
  stubborn:
    command: "trap '' TERM; exec sleep 1000"
    start_timeout: 0s
    stop: { timeout: 2s }
  slow:
    command: [sleep, "1000"]
    autostart: false
    start_timeout: 3s
  unready:
    command: [sleep, "1000"]
    autostart: false
    restart: never
    start_timeout: 0s
    ready: { tcp: "127.0.0.1:%(closed)d", timeout: 2s, interval: 100ms }
"""


class Rig:
    """droverd with agents node1 and node2 and a queue consumer, all on the
    fake wall clock of one timestamp file."""

    def __init__(self, libfaketime):
        self.dir = tempfile.mkdtemp(prefix="drover-clockjump-")
        self.procs = []
        self.holder = None
        self.rc = os.path.join(self.dir, "faketime.rc")
        self.set_offset(0)
        self.env = dict(os.environ)
        self.env.pop("FAKETIME", None)  # it would win over the file
        self.env.update({
            # realmono first: it must see the timer calls before libfaketime.
            "LD_PRELOAD": "%s %s" % (program("REALMONO"), libfaketime),
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            "FAKETIME_NO_CACHE": "1",
            "FAKETIME_TIMESTAMP_FILE": self.rc,
            # The dashboard's history, sampled every 500 ms rather than 5 s.
            "DROVER_HISTORY_INTERVAL_MS": "500",
            # gcc's ASan runtime is a shared library, which must otherwise
            # come before the preloaded ones (clang's is in the program).
            "ASAN_OPTIONS": ":".join(filter(None, [os.environ.get("ASAN_OPTIONS"),
                                                   "verify_asan_link_order=0"])),
        })
        self.keys = os.path.join(self.dir, "keys")
        os.makedirs(self.keys)
        for n in ("node1", "node2"):
            subprocess.run([program("DROVERCTL"), "keygen", self.keys, "--name", n],
                           check=True, stdout=subprocess.DEVNULL)
        self.key_file = os.path.join(self.dir, "queue.key")
        with open(self.key_file, "w") as f:
            f.write("clock-jump-test-key\n")
        os.chmod(self.key_file, 0o600)
        self.http_port = free_port()
        self.agents_url = "tcp://127.0.0.1:%d" % free_port()
        self.queue_url = "tcp://127.0.0.1:%d" % free_port()
        with open(os.path.join(self.dir, "drover.yaml"), "w") as f:
            f.write("supervisor:\n"
                    "  name: clockjump\n"
                    "  state_dir: ./var\n"
                    "  http: { listen: \"127.0.0.1:%d\" }\n"
                    "  agents: { listen: \"%s\", keys_dir: ./keys, heartbeat: 200ms,"
                    " lost_after: 3 }\n"
                    "  queues: { listen: \"%s\", authkey_file: ./queue.key }\n"
                    "groups:\n%s"
                    "queues:\n"
                    "  jobs: { lease: 2s }\n"
                    "  steady: {}\n" % (self.http_port, self.agents_url, self.queue_url,
                                        GROUPS % {"closed": free_port()}))

    def start(self):
        self.droverd = self.spawn("droverd", [program("DROVERD"), "-c", "drover.yaml"],
                                  self.dir)
        wait_for("droverd's API", lambda: self.try_get("/api/v1/status"))
        self.agents = {}
        for n in ("node1", "node2"):
            d = os.path.join(self.dir, "agent-" + n)
            os.makedirs(d)
            self.agents[n] = self.spawn(n, [
                program("DROVER_AGENT"), "--connect", self.agents_url, "--name", n,
                "--key", os.path.join(self.keys, n + ".cert_secret"),
                "--server-key", os.path.join(self.keys, "droverd.cert"), "--state-dir", d], d)
        self.holder = self.spawn("holder", [
            sys.executable, os.path.join(HERE, "lease_holder.py"), self.queue_url,
            self.key_file, "jobs"], self.dir, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.holder_lines = queue.Queue()
        threading.Thread(target=self._read_holder, daemon=True).start()

    def spawn(self, name, argv, cwd, stdin=subprocess.DEVNULL, stdout=None):
        log = open(os.path.join(self.dir, name + ".log"), "ab")
        p = subprocess.Popen(argv, cwd=cwd, env=self.env, stdin=stdin,
                             stdout=stdout or log, stderr=log, start_new_session=True,
                             text=stdout is not None)
        log.close()
        p.drover_name = name
        self.procs.append(p)
        return p

    def _read_holder(self):
        for line in self.holder.stdout:
            self.holder_lines.put((time.monotonic(), line.split()))

    def holder_line(self, word, timeout=15.0):
        end = time.monotonic() + timeout
        while True:
            t, words = self.holder_lines.get(timeout=max(0.01, end - time.monotonic()))
            if words and words[0] == word:
                return t, words

    def holder_time(self):
        """The consumer's time.time() minus the real one."""
        self.holder.stdin.write("\n")
        self.holder.stdin.flush()
        _, words = self.holder_line("time")
        return float(words[1]) - time.time()

    def set_offset(self, seconds):
        """Moves the fake wall clock to the real one plus seconds: every faked
        process sees it at its next read of the wall clock."""
        tmp = self.rc + ".tmp"
        with open(tmp, "w") as f:
            f.write("%+d\n" % seconds)
        os.replace(tmp, self.rc)

    def request(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.http_port, path),
                                     data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=20) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def get(self, path):
        status, body = self.request("GET", path)
        if status != 200:
            raise ValueError("GET %s: %d %s" % (path, status, body))
        return body

    def try_get(self, path):
        try:
            return self.get(path)
        except (OSError, ValueError):
            return None

    def post(self, path):
        status, body = self.request("POST", path)
        if status != 200:
            raise ValueError("POST %s: %d %s" % (path, status, body))
        return body

    def agent_state(self, name):
        for a in self.try_get("/api/v1/agents") or []:
            if a["name"] == name:
                return a["state"]
        return None

    def output(self, name):
        try:
            with open(os.path.join(self.dir, name + ".log"), "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def cleanup(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
                if p is self.holder:
                    p.stdin.close()
                p.terminate()
        for p in reversed(self.procs):
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
            if p.stdout is not None:
                p.stdout.close()
            # libfaketime's shared memory, left behind by a process that
            # did not get to exit by itself.
            for f in glob.glob("/dev/shm/*faketime_*_%d" % p.pid):
                try:
                    os.unlink(f)
                except OSError:
                    pass
        shutil.rmtree(self.dir, ignore_errors=True)


class ClockJumpTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.libfaketime = find_libfaketime()

    def setUp(self):
        self.rig = None
        self.figures = []

    def tearDown(self):
        if self.rig is not None:
            outcome = self._outcome.result
            if outcome.failures or outcome.errors:
                for n in ("droverd", "node1", "node2", "holder"):
                    sys.stderr.write("--- %s\n%s" % (n, self.rig.output(n)[-4000:]))
            self.rig.cleanup()

    def figure(self, what, value, low, high):
        """Checks that a measured duration lies within [low, high] seconds."""
        self.figures.append("%s: %.2f s" % (what, value))
        sys.stderr.write("  %s: %.2f s (expected %.1f..%.1f)\n" % (what, value, low, high))
        self.assertGreaterEqual(value, low, what)
        self.assertLessEqual(value, high, what)

    def near(self, what, skew, expected):
        """Checks that a wall clock is off by expected seconds (give or take
        a minute): the proof that the fake is in effect, or not yet."""
        sys.stderr.write("  %s: wall clock %+.1f s from the real one\n" % (what, skew))
        self.assertLess(abs(skew - expected), SKEW,
                        "%s: the wall clock is %+.0f s off, not %+.0f s: is libfaketime in "
                        "effect?" % (what, skew, expected))

    def test_wall_clock_set_back_an_hour(self):
        self.jump(-HOUR)

    def test_wall_clock_set_forward_an_hour(self):
        self.jump(+HOUR)

    def jump(self, offset):
        if self.libfaketime is None:
            self.skipTest("libfaketime is not installed")
        sys.stderr.write("\nthe wall clock %s an hour:\n" % ("back" if offset < 0 else "forward"))
        r = self.rig = Rig(self.libfaketime)
        r.start()
        ev = Events(r.http_port)
        try:
            self.jump_with(r, ev, offset)
        finally:
            ev.close()

    def jump_with(self, r, ev, offset):
        # Everything up: both agents, the failing starts cycling on both
        # hosts, the consumer connected.
        for n in ("node1", "node2"):
            wait_for("agent %s CONNECTED" % n, lambda n=n: r.agent_state(n) == "CONNECTED")
        for name in ("flap:0", "flap:1"):
            wait_for("two failed starts of " + name,
                     lambda name=name: len(ev.process(name, ("STARTING",))) >= 2)
        wait_for("stubborn:0 RUNNING",
                 lambda: (r.try_get("/api/v1/processes/stubborn:0") or {}).get("state")
                 == "RUNNING")
        t_ready, words = r.holder_line("ready")
        ready_skew = float(words[1]) - (time.time() - (time.monotonic() - t_ready))
        self.assertEqual(r.get("/api/v1/processes/flap:1")["host"], "node1")

        # Before the jump: the fake clock is the real one, in droverd, in the
        # agent (flap:1's since comes from node1) and in the consumer.
        for name in ("flap:0", "flap:1"):
            _, wall, p = ev.process(name, ("STARTING",))[-1]
            self.near(name + "'s since, before the jump", p["since"] - wall, 0)
        self.near("the consumer's time.time(), before the jump", ready_skew, 0)
        up0, m0 = r.get("/api/v1/status")["uptime_s"], time.monotonic()

        # A steady 50 puts a second into queue steady, from 2 s before the
        # jump until the history is read.
        steady = {"stop": threading.Event(), "n": 0}

        def put_steadily():
            c = QueueClient(r.queue_url, authkey=read_authkey(r.key_file))
            t = time.monotonic()
            while not steady["stop"].is_set():
                c.put("steady", b"x", timeout=10)
                steady["n"] += 1
                t += 0.02
                time.sleep(max(0.0, t - time.monotonic()))
            c.close()
        putter = threading.Thread(target=put_steadily, daemon=True)
        putter.start()
        time.sleep(2)

        # Each timed action begins just before the jump, so that the jump
        # falls inside it.
        t_stop = time.monotonic()
        r.post("/api/v1/processes/stubborn:0/stop")
        t_slow = time.monotonic()
        r.post("/api/v1/processes/slow:0/start")
        t_unready = time.monotonic()
        r.post("/api/v1/processes/unready:0/start")
        producer = QueueClient(r.queue_url, authkey=read_authkey(r.key_file), prefetch=1)
        producer.put("jobs", b"m1", timeout=10)
        producer.flush()
        t_got, words = r.holder_line("got")
        self.assertEqual(words[1], "m1")
        # A second consumer waits for the message to come back.
        consumer = QueueClient(r.queue_url, authkey=read_authkey(r.key_file), prefetch=1)
        again = {}

        def wait_again():
            try:
                m = consumer.get("jobs", timeout=30)
                again["t"] = time.monotonic()
                again["data"] = m.data
                again["holder"] = r.holder.poll()
                m.ack()
            except Exception as e:  # noqa: BLE001 (reported by the main thread)
                again["error"] = e
        waiter = threading.Thread(target=wait_again, daemon=True)
        waiter.start()
        time.sleep(max(0.0, t_stop + 0.35 - time.monotonic()))
        t_sigstop = time.monotonic()
        r.agents["node2"].send_signal(signal.SIGSTOP)
        time.sleep(0.1)

        j, j_wall = time.monotonic(), time.time()
        r.set_offset(offset)
        sys.stderr.write("  jump %.2f s after the stop, %.2f s after the message was leased\n"
                         % (j - t_stop, j - t_got))

        # First the proof that every process saw the jump: the consumer,
        # droverd (node1's last_seen is its wall clock at node1's last
        # heartbeat), node1 (flap:1's since is set there) and droverd's own
        # processes.
        self.near("the consumer's time.time(), after the jump", r.holder_time(), offset)

        def last_seen():
            for a in r.get("/api/v1/agents"):
                if a["name"] == "node1":
                    return a["last_seen"] - time.time()
        try:
            wait_for("node1's last_seen an hour off",
                     lambda: abs(last_seen() - offset) < SKEW, timeout=10)
        except AssertionError:
            pass
        self.near("droverd's last_seen of node1, after the jump", last_seen(), offset)
        # A start reported a second after the jump surely happened after it.
        for name in ("flap:1", "flap:0"):
            _, wall, p = ev.wait_process(name, ("STARTING",), j + 1)
            self.near(name + "'s since, after the jump", p["since"] - wall, offset)

        # The lease: the message came back, to the second consumer, about 2 s
        # after the first one got it, while that one was still connected.
        waiter.join(40)
        consumer.close()
        producer.close()
        self.assertNotIn("error", again)
        self.assertEqual(again["data"], b"m1")
        self.assertIsNone(again["holder"], "the consumer holding the lease went away")
        self.figure("lease 2s: delivered again after", again["t"] - t_got, 1.5, 10)

        # The silent agent: LOST after about 3 heartbeats of 200 ms. (Not
        # too early is node1's check below: a slow agent may have been
        # silent for a while before its SIGSTOP.)
        lost = wait_for("node2 LOST", lambda: ev.select(
            lambda et, d: et == "agent" and d["name"] == "node2" and d["state"] == "LOST"))
        self.figure("heartbeat 200ms x lost_after 3: node2 (SIGSTOP) LOST after",
                    lost[0][0] - t_sigstop, 0, 10)

        # The worker that ignores SIGTERM: killed stop.timeout after the stop.
        t, _, p = ev.wait_process("stubborn:0", ("STOPPED", "EXITED", "FATAL"), t_stop)
        self.assertEqual(p["exit_signal"], "KILL")
        self.figure("stop.timeout 2s: stubborn:0 killed after", t - t_stop, 1.5, 10)

        # start_timeout 3s: RUNNING then, not before and not an hour later.
        t, _, _ = ev.wait_process("slow:0", ("RUNNING",), t_slow)
        self.figure("start_timeout 3s: slow:0 RUNNING after", t - t_slow, 2.5, 10)

        # A ready check that never succeeds: the start fails after 2 s.
        t, _, p = ev.wait_process("unready:0", ("FATAL",), t_unready)
        self.assertIn("not ready within the ready timeout", p["error"] or "")
        self.figure("ready.timeout 2s: unready:0 failed after", t - t_unready, 1.5, 10)

        # The failing starts, here and on node1: the backoff running when the
        # clock jumped ends about 2 s after the start before it, and so does
        # the next one, begun after the jump.
        for name in ("flap:0", "flap:1"):
            before = ev.process(name, ("STARTING",))
            before = [e for e in before if e[0] < j][-1]
            first = ev.wait_process(name, ("STARTING",), j)
            second = ev.wait_process(name, ("STARTING",), first[0])
            where = "droverd" if name == "flap:0" else "node1"
            self.figure("backoff 2s (%s on %s): start across the jump after" % (name, where),
                        first[0] - before[0], 1.5, 10)
            self.figure("backoff 2s (%s on %s): next start after" % (name, where),
                        second[0] - first[0], 1.5, 10)

        up1, m1 = r.get("/api/v1/status")["uptime_s"], time.monotonic()
        self.figure("uptime_s grew by (real time %.2f s)" % (m1 - m0), up1 - up0,
                    m1 - m0 - 3, m1 - m0 + 3)

        # The dashboard's history: the put rate of queue steady, sampled every
        # 500 ms, stays about 50 a second in every sample around the jump,
        # none missing, none divided by an hour.
        time.sleep(max(0.0, j + 2.5 - time.monotonic()))
        hist = r.get("/api/v1/queues/steady/history")
        steady["stop"].set()
        putter.join(20)
        # The samples ticked from 1.5 s before the jump to 2 s after it (t is
        # droverd's wall clock, an hour off since the jump), the one that
        # spans the jump among them.
        rates = [x for t, x in zip(hist["t"], hist["put_rate"])
                 if j_wall - 1.5 <= t - offset <= j_wall + 2.0]
        sys.stderr.write("  history: put rate of queue steady (50/s) around the jump: %s\n"
                         % " ".join("-" if x is None else "%.1f" % x for x in rates))
        self.assertEqual(hist["interval_s"], 0.5)
        self.assertGreaterEqual(len(rates), 5, hist)
        for x in rates:
            self.assertIsNotNone(x, "a sample of the history is missing: %s" % rates)
            self.assertTrue(5 <= x <= 500, "a put rate of %.3f/s in the history, not about "
                            "50/s: %s" % (x, rates))

        # node1 answered its heartbeats throughout: never LOST, for at least
        # 3 s (15 heartbeats) after the jump.
        time.sleep(max(0.0, j + 3 - time.monotonic()))
        self.assertEqual(r.agent_state("node1"), "CONNECTED")
        self.assertEqual(ev.select(lambda et, d: et == "agent" and d["name"] == "node1" and
                                   d["state"] != "CONNECTED"), [])
        sys.stderr.write("  node1 CONNECTED throughout, checked until %.2f s after the jump\n"
                         % (time.monotonic() - j))
        r.agents["node2"].send_signal(signal.SIGCONT)
        wait_for("node2 back", lambda: r.agent_state("node2") == "CONNECTED")

        # And all of them stop cleanly on SIGTERM, on the fake clock (under
        # ASan: with nothing to report).
        for p in (r.agents["node1"], r.agents["node2"], r.droverd):
            p.terminate()
            self.assertEqual(p.wait(30), 0, "%s exited with %d" % (p.drover_name, p.returncode))


if __name__ == "__main__":
    if find_libfaketime() is None:
        print("SKIP: libfaketime.so.1 not found (Debian: apt-get install libfaketime): "
              "the clock jump test needs it to fake the wall clock")
        sys.exit(77)
    unittest.main(verbosity=2)
