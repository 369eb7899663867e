#!/usr/bin/python3
"""Upgrade in place (docs/upgrade.md): droverd re-executes its binary on the
same pid and keeps what it runs.

- every worker keeps its pid and counters; a worker writing as fast as it
  can loses and repeats not one line of its output across upgrades;
- the API's listener never refuses a connection during upgrades;
- an event stream comes back with Last-Event-ID and misses no event;
- a worker in BACKOFF restarts when its backoff ends, one that ignores the
  stop signal is still killed when its stop timeout ends, a group scaled by
  the API keeps its count, a configuration file edited since the last load
  is not applied by the upgrade (a reload applies it);
- a binary that does not run is refused and changes nothing; an exec that
  fails leaves the old droverd running as it was;
- droverctl upgrade and SIGUSR2 both do it.

Run by ctest with DROVERD and DROVERCTL in the environment."""

import errno
import http.client
import json
import os
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

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "client", "python"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, cond, timeout=10.0, step=0.02):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(step)
    raise AssertionError("timed out waiting for " + what)


class Droverd:
    """droverd on a config of groups, from a binary (a copy when asked)."""

    def __init__(self, groups, binary=None, extra="", env=None, queues=None, token=None):
        self.dir = tempfile.mkdtemp(prefix="drover-upgrade-")
        self.authkey = b"upgrade-queue-key-31f7"
        self.endpoint = "tcp://127.0.0.1:%d" % free_port()
        if queues is not None:
            key = os.path.join(self.dir, "queue.key")
            with open(key, "wb") as f:
                f.write(self.authkey + b"\n")
            os.chmod(key, 0o600)
            extra += "  queues: { listen: \"%s\", authkey_file: %s }\n" % (self.endpoint, key)
        self.port = free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        tokfile = ""
        if token is not None:
            self.token_file = os.path.join(self.dir, "api.token")
            with open(self.token_file, "w") as f:
                f.write(token + "\n")
            os.chmod(self.token_file, 0o600)
            tokfile = ", token_file: %s" % self.token_file
        self.conf = os.path.join(self.dir, "drover.yaml")
        self.binary = binary or os.environ["DROVERD"]
        self.head = ("supervisor:\n  state_dir: ./var\n  log_dir: ./var/log\n"
                     "  http: { listen: \"127.0.0.1:%d\"%s }\n%s" % (self.port, tokfile, extra))
        self.queues = "queues:\n" + queues if queues else None
        self.write(groups)
        self.out = open(os.path.join(self.dir, "droverd.out"), "ab")
        self.proc = subprocess.Popen([self.binary, "-v", "-c", self.conf], cwd=self.dir,
                                     stdin=subprocess.DEVNULL, stdout=self.out,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     env=dict(os.environ, **(env or {})))
        wait_for("droverd's API", lambda: self.try_get("/api/v1/status"))

    def write(self, groups):
        with open(self.conf, "w") as f:
            f.write(self.head + "groups:\n" + groups + (self.queues or ""))

    def log(self):
        with open(os.path.join(self.dir, "droverd.out"), "rb") as f:
            return f.read().decode(errors="replace")

    def call(self, method, path, body=None, token=None):
        req = urllib.request.Request(self.base + path, method=method,
                                     data=None if body is None else json.dumps(body).encode())
        if token is not None:
            req.add_header("Authorization", "Bearer " + token)
        if body is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def get(self, path):
        status, body = self.call("GET", path)
        assert status == 200, (path, status, body)
        return body

    def try_get(self, path):
        try:
            return self.get(path)
        except (OSError, AssertionError):
            return None

    def procs(self):
        return {p["name"]: p for p in self.get("/api/v1/processes")}

    def state(self, name):
        return self.procs().get(name, {}).get("state")

    def upgrades(self):
        return self.get("/api/v1/status")["upgrades"]

    def upgrade_signal(self):
        n = self.upgrades()
        os.kill(self.proc.pid, signal.SIGUSR2)
        wait_for("the upgraded droverd", lambda: (self.try_get("/api/v1/status") or {})
                 .get("upgrades", -1) > n)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.out.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


WRITER = ("  writer:\n"
          "    command: [\"/bin/sh\", \"-c\", \"i=0; while [ $i -lt 300000 ]; do echo line $i;"
          " i=$((i+1)); done; exec sleep 1000\"]\n"
          "    instances: 2\n"
          "    start_timeout: 0s\n"
          "    stdout: { max_size: 1GB }\n"
          "  idle:\n"
          "    command: [sleep, \"1000\"]\n"
          "    start_timeout: 0s\n")


class UpgradeTest(unittest.TestCase):

    def setUp(self):
        self.d = None

    def tearDown(self):
        if self.d is not None:
            result = self._outcome.result
            if any(t is self for t, _ in result.errors + result.failures):
                print(self.d.log()[-4000:])
            self.d.stop()

    def test_workers_and_their_output_are_kept(self):
        d = self.d = Droverd(WRITER)
        wait_for("writers", lambda: all(d.state("writer:%d" % i) == "RUNNING" for i in (0, 1)))
        before = d.procs()
        pid = d.proc.pid
        # Upgrades while both writers pour out lines: by signal and by droverctl.
        for k in range(4):
            if k % 2 == 0:
                d.upgrade_signal()
            else:
                r = subprocess.run([os.environ["DROVERCTL"], "-s", d.base, "upgrade"],
                                   capture_output=True, text=True, timeout=60)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn("upgraded in place", r.stdout)
        self.assertEqual(d.upgrades(), 4)
        after = d.procs()
        for name, p in before.items():
            self.assertEqual(after[name]["pid"], p["pid"], name)
            self.assertEqual(after[name]["restarts"], 0, name)
            self.assertTrue(alive(p["pid"]))
        status = d.get("/api/v1/status")
        self.assertEqual(status["pid"], pid)
        self.assertGreaterEqual(status["uptime_s"], 0.5)  # counted from the first start
        # Every line once, in order, when the writers are done.
        for i in (0, 1):
            path = os.path.join(d.dir, "var", "log", "writer:%d.out" % i)

            def complete():
                with open(path, "rb") as f:
                    f.seek(-20, os.SEEK_END)
                    return f.read().endswith(b"line 299999\n")
            wait_for("writer %d's last line" % i, complete, timeout=120)
            with open(path, "rb") as f:
                lines = f.read().split(b"\n")
            self.assertEqual(lines[-1], b"")
            self.assertEqual(len(lines) - 1, 300000)
            for n, line in enumerate(lines[:-1]):
                if line != b"line %d" % n:
                    self.fail("writer:%d line %d is %r" % (i, n, line))
        # The upgraded droverd still supervises: a killed worker comes back.
        os.kill(before["idle:0"]["pid"], signal.SIGKILL)
        wait_for("idle:0 back", lambda: d.procs()["idle:0"]["pid"] not in
                 (None, before["idle:0"]["pid"]) and d.state("idle:0") == "RUNNING")
        self.assertEqual(d.procs()["idle:0"]["restarts"], 1)
        # Nothing of the old droverd is left open in the new one.
        fds = os.listdir("/proc/%d/fd" % pid)
        self.assertLess(len(fds), 40, sorted(os.readlink("/proc/%d/fd/%s" % (pid, f))
                                             for f in fds))

    def test_listener_never_refuses(self):
        d = self.d = Droverd("  idle:\n    command: [sleep, \"1000\"]\n",
                             env={"DROVER_HISTORY_INTERVAL_MS": "100"})
        # The dashboard's charts have some samples.
        hist = wait_for("samples", lambda: (lambda h: h if h and len(h["t"]) >= 5 else None)(
            d.try_get("/api/v1/processes/idle:0/history")))
        stop = threading.Event()
        counts = {"ok": 0, "refused": 0, "other": 0}
        errors = []

        def hammer():
            while not stop.is_set():
                try:
                    with socket.create_connection(("127.0.0.1", d.port), timeout=10) as s:
                        s.sendall(b"GET /api/v1/status HTTP/1.1\r\nHost: x\r\n"
                                  b"Connection: close\r\n\r\n")
                        data = b""
                        while True:
                            chunk = s.recv(65536)
                            if not chunk:
                                break
                            data += chunk
                    if data.startswith(b"HTTP/1.1 200"):
                        counts["ok"] += 1
                    else:
                        counts["other"] += 1
                except ConnectionRefusedError:
                    counts["refused"] += 1
                except OSError as e:
                    # A request the old droverd had accepted when it executed.
                    counts["other"] += 1
                    errors.append(errno.errorcode.get(e.errno, str(e)))

        threads = [threading.Thread(target=hammer) for _ in range(3)]
        for t in threads:
            t.start()
        try:
            for _ in range(5):
                time.sleep(0.2)
                d.upgrade_signal()
            time.sleep(0.2)
        finally:
            stop.set()
            for t in threads:
                t.join()
        self.assertEqual(counts["refused"], 0, counts)
        self.assertGreater(counts["ok"], 50, counts)
        self.assertEqual(d.upgrades(), 5)
        # The charts went across: the samples from before are still there.
        after = d.get("/api/v1/processes/idle:0/history")
        self.assertGreater(len(after["t"]), len(hist["t"]))
        self.assertAlmostEqual(after["t"][0], hist["t"][0], delta=0.25)

    def test_event_stream_resumes_without_a_gap(self):
        d = self.d = Droverd("  idle:\n    command: [sleep, \"1000\"]\n    start_timeout: 0s\n"
                             "  other:\n    command: [sleep, \"1001\"]\n    start_timeout: 0s\n")
        wait_for("idle", lambda: d.state("idle:0") == "RUNNING")

        def read_events(resp, until):
            """(id, event, data) until the stream ends or until(events) is true."""
            events, cur = [], {}
            try:
                for raw in resp:
                    line = raw.decode().rstrip("\r\n")
                    if line == "":
                        if "data" in cur:  # not the stream's "retry:" preamble
                            events.append((int(cur.get("id", 0)), cur.get("event"),
                                           cur.get("data")))
                            if until(events):
                                break
                        cur = {}
                        continue
                    if line.startswith(":"):
                        continue
                    k, _, v = line.partition(": ")
                    cur[k] = v
            except (http.client.IncompleteRead, ConnectionError):
                pass  # the end of a stream whose server executed
            return events

        def stream(last_id=None):
            c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=15)
            headers = {"Accept": "text/event-stream"}
            if last_id is not None:
                headers["Last-Event-ID"] = str(last_id)
            c.request("GET", "/api/v1/events", headers=headers)
            r = c.getresponse()
            self.assertEqual(r.status, 200)
            return c, r

        s, f = stream()
        subprocess.run([os.environ["DROVERCTL"], "-s", d.base, "restart", "idle"],
                       capture_output=True, timeout=30, check=True)
        first = read_events(f, lambda ev: any(e[1] == "process" and '"RUNNING"' in e[2] and
                                              '"idle:0"' in e[2] for e in ev))
        last_id = first[-1][0]
        n = d.upgrades()
        os.kill(d.proc.pid, signal.SIGUSR2)
        # The old droverd ends the stream before it executes.
        rest = read_events(f, lambda ev: False)
        s.close()
        wait_for("the upgraded droverd", lambda: (d.try_get("/api/v1/status") or {})
                 .get("upgrades", -1) > n)
        seen = first + rest
        last_id = seen[-1][0] if seen else last_id
        # Events while nobody listens, then the subscriber comes back.
        subprocess.run([os.environ["DROVERCTL"], "-s", d.base, "restart", "other"],
                       capture_output=True, timeout=30, check=True)
        s, f = stream(last_id)
        more = read_events(f, lambda ev: any(e[1] == "process" and '"RUNNING"' in e[2] and
                                             '"other:0"' in e[2] for e in ev))
        s.close()
        self.assertNotIn("resync", [e[1] for e in more], more)
        ids = [e[0] for e in seen + more]
        self.assertEqual(ids, list(range(ids[0], ids[0] + len(ids))), ids)

    def test_timers_scale_and_configuration_are_kept(self):
        groups = ("  flaky:\n    command: [\"/bin/sh\", \"-c\", \"exit 3\"]\n"
                  "    start_timeout: 1s\n    restart: always\n"
                  "    backoff: { initial: 3s, max: 3s, factor: 1 }\n    max_restarts: { count: 100 }\n"
                  "  stubborn:\n    command: [\"/bin/sh\", \"-c\", \"trap '' TERM; "
                  "while :; do sleep 0.1; done\"]\n"
                  "    start_timeout: 0s\n    stop: { timeout: 3s }\n"
                  "  web:\n    command: [sleep, \"1002\"]\n    start_timeout: 0s\n")
        d = self.d = Droverd(groups)
        wait_for("stubborn", lambda: d.state("stubborn:0") == "RUNNING")
        wait_for("flaky backing off", lambda: d.procs()["flaky:0"]["restarts"] >= 1 and
                 d.state("flaky:0") == "BACKOFF")
        status, _ = d.call("PUT", "/api/v1/groups/web/instances", {"instances": 3})
        self.assertIn(status, (200, 202))
        wait_for("web scaled", lambda: d.state("web:2") == "RUNNING")
        stubborn = d.procs()["stubborn:0"]["pid"]
        status, _ = d.call("POST", "/api/v1/processes/stubborn:0/stop")
        wait_for("stubborn stopping", lambda: d.state("stubborn:0") == "STOPPING")
        t_stop = time.monotonic()
        flaky = d.procs()["flaky:0"]
        # The file changes on disk; the upgrade does not apply it.
        d.write(groups + "  added:\n    command: [sleep, \"1003\"]\n")
        d.upgrade_signal()
        p = d.procs()
        self.assertNotIn("added:0", p)
        self.assertEqual(sorted(n for n in p if n.startswith("web:")),
                         ["web:0", "web:1", "web:2"])
        self.assertEqual(p["stubborn:0"]["state"], "STOPPING")
        self.assertEqual(p["stubborn:0"]["pid"], stubborn)
        self.assertEqual(p["flaky:0"]["restarts"], flaky["restarts"])
        # The stop timeout runs on: SIGKILL about 3 s after the stop.
        wait_for("stubborn killed", lambda: d.state("stubborn:0") == "STOPPED", timeout=10)
        self.assertGreater(time.monotonic() - t_stop, 2.0)
        self.assertFalse(alive(stubborn))
        # The backoff ends and flaky tries again (and again fails).
        wait_for("flaky retried", lambda: d.procs()["flaky:0"]["restarts"] > flaky["restarts"],
                 timeout=10)
        # A reload applies the file.
        status, _ = d.call("POST", "/api/v1/reload")
        self.assertEqual(status, 200)
        wait_for("added", lambda: d.state("added:0") == "RUNNING")

    def stubborn_svc(self, version, traps):
        """Two instances of svc whose command line holds version; those in
        traps ignore TERM. Each says it is up (its trap set) in a file."""
        self.marks = tempfile.mkdtemp(prefix="drover-upgrade-marks-")
        self.addCleanup(shutil.rmtree, self.marks, True)
        script = os.path.join(self.marks, "svc.sh")
        with open(script, "w") as f:
            f.write('case " $2 " in *" $DROVER_INSTANCE "*) trap "" TERM;; esac\n'
                    'touch "%s/up.$DROVER_INSTANCE"\n'
                    'while :; do sleep 0.1; done\n' % self.marks)
        return lambda v: ("  svc:\n    command: [/bin/sh, %s, %s, \"%s\"]\n"
                          "    start_timeout: 0s\n    stop: { timeout: 2s }\n"
                          "    instances: 2\n" % (script, v, traps))

    def reload_then_upgrade(self, traps):
        svc = self.stubborn_svc("v1", traps)
        d = self.d = Droverd(svc("v1"))
        wait_for("svc up", lambda: all(d.state("svc:%d" % i) == "RUNNING" and
                                       os.path.exists(os.path.join(self.marks, "up.%d" % i))
                                       for i in (0, 1)))
        old = {n: p["pid"] for n, p in d.procs().items()}
        # The command changes: the instances go down (those that ignore
        # TERM slowly), then start anew.
        d.write(svc("v2"))
        status, _ = d.call("POST", "/api/v1/reload")
        self.assertEqual(status, 200)
        wait_for("svc stopping", lambda: d.state("svc:0") == "STOPPING")
        if "1" not in traps:
            wait_for("svc:1 down", lambda: d.state("svc:1") == "STOPPED")
        d.upgrade_signal()
        self.assertEqual(d.procs()["svc:0"]["pid"], old["svc:0"])
        wait_for("svc with the new command", lambda: all(
            d.procs()["svc:%d" % i]["state"] == "RUNNING" and
            d.procs()["svc:%d" % i]["pid"] != old["svc:%d" % i] for i in (0, 1)), timeout=15)
        for i in (0, 1):
            with open("/proc/%d/cmdline" % d.procs()["svc:%d" % i]["pid"], "rb") as f:
                self.assertIn(b"\0v2\0", f.read())
            self.assertFalse(alive(old["svc:%d" % i]))

    def test_a_reload_under_way_completes(self):
        self.reload_then_upgrade("0 1")

    def test_a_reload_under_way_completes_with_an_instance_already_down(self):
        """svc:1 went down at once, svc:0 is still stopping: the upgraded
        droverd starts svc:1 with the new command too (it waited for svc:0
        to be down, and the last droverd was gone by then)."""
        self.reload_then_upgrade("0")

    def test_queues_keep_their_contents_and_leases(self):
        import drover
        d = self.d = Droverd("  idle:\n    command: [sleep, \"1000\"]\n",
                             queues="  stream: { capacity: 1000000 }\n  kept: {}\n"
                             "  durable: { durable: true }\n  held: { lease: 30s }\n")
        endpoint, authkey = d.endpoint, d.authkey
        c = drover.QueueClient(endpoint, authkey=authkey, timeout=20)
        for i in range(100):
            c.put("kept", b"k%d" % i)
            c.put("durable", b"d%d" % i)
        c.put("held", b"the held one")
        c.flush()
        held = c.get("held", timeout=5)
        self.assertEqual(held.data, b"the held one")
        # A producer and a consumer going on through the upgrades.
        total, got, errors, ended = 20000, [], [], []

        def produce():
            try:
                p = drover.QueueClient(endpoint, authkey=authkey, timeout=30)
                for i in range(total):
                    p.put("stream", b"%d" % i)
                    if i % 20 == 0:
                        time.sleep(0.002)  # a stream that lasts through the upgrades
                p.flush()
                p.close()
                ended.append(time.monotonic())
            except Exception as e:  # noqa: BLE001
                errors.append(("producer", repr(e)))

        def consume():
            try:
                q = drover.QueueClient(endpoint, authkey=authkey, timeout=30)
                while len(got) < total:
                    m = q.get("stream", timeout=30)
                    got.append(int(m.data))
                    m.ack()
                q.close()
            except Exception as e:  # noqa: BLE001
                errors.append(("consumer", repr(e)))

        threads = [threading.Thread(target=produce), threading.Thread(target=consume)]
        for t in threads:
            t.start()
        for _ in range(3):
            time.sleep(0.3)
            d.upgrade_signal()
        last_upgrade = time.monotonic()
        for t in threads:
            t.join(120)
        self.assertEqual(errors, [])
        self.assertGreater(ended[0], last_upgrade, "the stream ended before the upgrades")
        self.assertEqual(sorted(set(got)), list(range(total)), "a message was lost")
        self.assertEqual(len(got) - len(set(got)), 0, "messages delivered twice")
        # The lease is still this client's: acked, and never given to anyone else.
        held.ack()
        c.flush()
        other = drover.QueueClient(endpoint, authkey=authkey, timeout=5)
        with self.assertRaises(drover.Empty):
            other.get("held", timeout=1)
        # Contents, durable or not, in order.
        self.assertEqual([other.get("kept", timeout=5).data for _ in range(100)],
                         [b"k%d" % i for i in range(100)])
        self.assertEqual([other.get("durable", timeout=5).data for _ in range(100)],
                         [b"d%d" % i for i in range(100)])
        other.close()
        c.close()
        self.assertEqual(d.upgrades(), 3)

    def test_an_upgrade_reads_the_token_and_the_authkey_again(self):
        """Secrets are rotated without stopping a worker (docs/security.md):
        the upgraded droverd reads both files again."""
        import drover
        d = self.d = Droverd("  idle:\n    command: [sleep, \"1000\"]\n    start_timeout: 0s\n",
                             queues="  q: {}\n", token="token-one")
        pid = wait_for("idle:0", lambda: d.procs().get("idle:0", {}).get("pid"))
        c = drover.QueueClient(d.endpoint, authkey=d.authkey, timeout=10)
        c.put("q", b"kept")
        c.flush()
        c.close()
        with open(d.token_file, "w") as f:
            f.write("token-two\n")
        with open(os.path.join(d.dir, "queue.key"), "w") as f:
            f.write("the-new-queue-key\n")
        # Until the upgrade the old ones hold.
        self.assertEqual(d.call("POST", "/api/v1/processes/idle:0/start", token="token-one")[0],
                         409)
        d.upgrade_signal()
        self.assertEqual(d.call("POST", "/api/v1/processes/idle:0/start", token="token-one")[0],
                         401)
        self.assertEqual(d.call("POST", "/api/v1/processes/idle:0/start", token="token-two")[0],
                         409)  # allowed: it is already RUNNING
        with self.assertRaises(drover.AuthError):
            drover.QueueClient(d.endpoint, authkey=d.authkey, timeout=5)
        c = drover.QueueClient(d.endpoint, authkey=b"the-new-queue-key", timeout=10)
        self.assertEqual(c.get("q", timeout=5).data, b"kept")
        c.close()
        self.assertEqual(d.procs()["idle:0"]["pid"], pid)
        self.assertTrue(alive(pid))

    def test_a_binary_that_does_not_run_changes_nothing(self):
        tmp = tempfile.mkdtemp(prefix="drover-upgrade-bin-")
        binary = os.path.join(tmp, "droverd")
        shutil.copy(os.environ["DROVERD"], binary)
        try:
            import drover
            d = self.d = Droverd("  idle:\n    command: [sleep, \"1000\"]\n"
                                 "    start_timeout: 0s\n", binary=binary,
                                 queues="  kept: {}\n  held: { lease: 30s }\n",
                                 env={"DROVER_MODULE_DIR":  # the queue module, for the copy
                                      os.path.dirname(os.environ["DROVERD"])})
            wait_for("idle", lambda: d.state("idle:0") == "RUNNING")
            pid = d.procs()["idle:0"]["pid"]
            c = drover.QueueClient(d.endpoint, authkey=d.authkey, timeout=20)
            for i in range(10):
                c.put("kept", b"k%d" % i)
            c.put("held", b"h")
            c.flush()
            held = c.get("held", timeout=5)
            # Not a droverd: refused before anything happens.
            os.rename(binary, binary + ".real")
            with open(binary, "w") as f:
                f.write("#!/bin/sh\nexit 1\n")
            os.chmod(binary, 0o755)
            status, body = d.call("POST", "/api/v1/upgrade")
            self.assertEqual(status, 409, body)
            self.assertIn("not a working droverd", body["error"]["message"])
            r = subprocess.run([os.environ["DROVERCTL"], "-s", d.base, "upgrade"],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 1)
            self.assertIn("not a working droverd", r.stderr)
            # A binary that is gone by the time of the exec: the old droverd goes on.
            os.replace(binary + ".real", binary)
            status, body = d.call("POST", "/api/v1/upgrade")
            os.unlink(binary)
            self.assertEqual(status, 202, body)
            wait_for("the failed exec", lambda: "upgrade failed, droverd goes on" in d.log())
            time.sleep(0.3)
            self.assertEqual(d.upgrades(), 0)
            self.assertEqual(d.procs()["idle:0"]["pid"], pid)
            self.assertEqual(d.procs()["idle:0"]["state"], "RUNNING")
            self.assertIsNone(d.proc.poll())
            # The queue host, handed over for nothing, is back with its contents
            # and the lease, and the client goes on.
            held.ack()
            c.put("kept", b"k10")
            c.flush()
            self.assertEqual([c.get("kept", timeout=5).data for _ in range(11)],
                             [b"k%d" % i for i in range(11)])
            with self.assertRaises(drover.Empty):
                c.get("held", timeout=0.5)
            c.close()
            # It still supervises and still serves.
            os.kill(pid, signal.SIGKILL)
            wait_for("idle:0 back", lambda: d.procs()["idle:0"]["pid"] not in (None, pid))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
