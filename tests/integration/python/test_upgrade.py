#!/usr/bin/python3
"""The Python client across droverd's upgrade in place: a real queue host in
a process of its own (tests/unit/queue/queue_upgrade_host.c) exports its
state to a memfd and execs itself with the listening socket and the memfd,
as droverd does on `droverctl upgrade`; or, droverd's way when the exec
fails, makes a new host from its own export. Clients connected all along
ride through it with no error: a producer and a consumer that go on while
it happens, leases held across it and acked without a redelivery, a get
waiting across it, completes, and a client that never comes back.

Run by ctest with QUEUE_UPGRADE_HOST in the environment:
    QUEUE_UPGRADE_HOST=build/tests/unit/queue/queue_upgrade_host \\
        python3 tests/integration/python/test_upgrade.py
"""

import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from droverd_fixture import free_port, program  # noqa: E402

import drover  # noqa: E402
from drover import QueueClient  # noqa: E402

KEY = b"upgrade-test-key-7c1e"
QUEUES = {
    "stream": "{ capacity: 100000 }",
    "keep": "{ durable: true }",
    "held": "{}",
    "short": "{ lease: 1s }",
    "wait": "{}",
    "tasks": "{}",
    "results": "{}",
}


class Host:
    """queue_upgrade_host on a config with QUEUES, driven on its stdin."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="drover-pyupg-")
        os.mkdir(os.path.join(self.dir, "var"))
        with open(os.path.join(self.dir, "queue.key"), "wb") as f:
            f.write(KEY + b"\n")
        self.endpoint = "tcp://127.0.0.1:%d" % free_port()
        conf = os.path.join(self.dir, "host.yaml")
        with open(conf, "w") as f:
            f.write("supervisor:\n  state_dir: %s/var\n  queues:\n    listen: %s\n"
                    "    authkey_file: %s/queue.key\nqueues:\n" % (self.dir, self.endpoint,
                                                                    self.dir))
            for name, settings in QUEUES.items():
                f.write("  %s: %s\n" % (name, settings))
        self.log = open(os.path.join(self.dir, "host.log"), "wb")
        self.proc = subprocess.Popen([program("QUEUE_UPGRADE_HOST"), conf], cwd=self.dir,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log)
        self.expect_ready()

    def ask(self, cmd):
        self.proc.stdin.write(cmd.encode() + b"\n")
        self.proc.stdin.flush()
        return self.line()

    def line(self):
        line = self.proc.stdout.readline().decode().rstrip("\n")
        if not line:
            raise AssertionError("the host process ended:\n" + self.output())
        return line

    def expect_ready(self, line=None):
        line = line or self.line()
        if not line.startswith("ready "):
            raise AssertionError("host: %s\n%s" % (line, self.output()))
        leaked = line.split("leaked=", 1)[1]
        if leaked:
            raise AssertionError("descriptors crossed the exec: %s" % leaked)

    def upgrade(self):
        pid = self.proc.pid
        self.expect_ready(self.ask("upgrade"))
        assert self.proc.pid == pid      # the same process, a new program

    def failed_exec(self):
        self.expect_ready(self.ask("fail-exec"))

    def output(self):
        self.log.flush()
        with open(os.path.join(self.dir, "host.log"), "rb") as f:
            return f.read().decode(errors="replace")[-4000:]

    def close(self):
        try:
            self.proc.stdin.write(b"quit\n")
            self.proc.stdin.close()
            self.proc.wait(20)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        return self.proc.returncode


@unittest.skipUnless(program("QUEUE_UPGRADE_HOST"), "queue_upgrade_host is not built")
class UpgradeTest(unittest.TestCase):
    def setUp(self):
        self.h = Host()

    def tearDown(self):
        rc = self.h.close()
        self.assertEqual(rc, 0, "the host process ended with %s" % rc)

    def client(self, **kw):
        c = QueueClient(self.h.endpoint, authkey=KEY, timeout=5, **kw)
        self.addCleanup(c.close)
        return c

    def drain(self, c, name):
        got = []
        while True:
            try:
                m = c.get(name, timeout=0)
            except queue.Empty:
                return got
            got.append(m.data)
            m.ack()

    def test_a_producer_and_a_consumer_ride_through_upgrades_with_every_message_once(self):
        n = 3000
        errors, got = [], []
        done = threading.Event()

        def produce():
            try:
                with QueueClient(self.h.endpoint, authkey=KEY, timeout=5) as p:
                    for i in range(n):
                        p.put("stream", b"%d" % i, timeout=10)
                    p.flush(30)
            except Exception as e:  # noqa: BLE001
                errors.append(("producer", e))

        def consume():
            try:
                with QueueClient(self.h.endpoint, authkey=KEY, timeout=5) as c:
                    while len(got) < n and not done.is_set():
                        try:
                            m = c.get("stream", timeout=0.5)
                        except queue.Empty:
                            continue
                        got.append(int(m.data))
                        m.ack()
            except Exception as e:  # noqa: BLE001
                errors.append(("consumer", e))

        threads = [threading.Thread(target=produce), threading.Thread(target=consume)]
        for t in threads:
            t.start()
        try:
            for k in range(3):
                time.sleep(0.3)
                self.h.upgrade() if k != 1 else self.h.failed_exec()
            threads[0].join(60)
            end = time.monotonic() + 60
            while len(got) < n and time.monotonic() < end and threads[1].is_alive():
                time.sleep(0.05)
        finally:
            done.set()
            for t in threads:
                t.join(30)
        self.assertEqual(errors, [])
        self.assertEqual(sorted(got), list(range(n)), "lost: %s" %
                         sorted(set(range(n)) - set(got))[:10])
        self.assertEqual(got, list(range(n)), "out of order")
        c = self.client()
        self.assertEqual(c.stats("stream")["in_flight"], 0)
        self.assertEqual(c.size("stream"), 0)

    def test_leases_held_across_an_upgrade_are_acked_without_a_redelivery(self):
        p, c = self.client(), self.client(prefetch=1)
        for i in range(5):
            p.put("held", b"h%d" % i)
            p.put("keep", b"k%d" % i)
        p.flush(5)
        mh, mk = c.get("held", timeout=5), c.get("keep", timeout=5)
        pre = self.client()          # prefetch: several leased to it at once
        first = pre.get("held", timeout=5)
        self.h.upgrade()
        self.assertEqual(c.stats("held")["in_flight"], 1 + 4)
        mh.ack()
        mk.ack()
        first.ack()
        rest = [pre.get("held", timeout=5) for _ in range(3)]   # from its buffer
        for m in rest:
            m.ack()
        self.assertEqual([mh.data, first.data] + [m.data for m in rest],
                         [b"h%d" % i for i in range(5)])
        # its acks went out while it had not noticed the reconnect: its next
        # call sends them again, before its own request
        self.assertEqual(pre.stats("held")["in_flight"], 0)
        self.assertEqual(c.stats("held")["in_flight"], 0)
        self.assertEqual(self.drain(c, "held"), [])
        self.assertEqual(self.drain(c, "keep"), [b"k%d" % i for i in range(1, 5)])
        self.assertEqual(c.stats("keep")["in_flight"], 0)
        p.put("held", b"after")
        p.flush(5)
        self.assertEqual(self.drain(c, "held"), [b"after"])

    def test_the_failed_exec_path_keeps_everything_too(self):
        p, c = self.client(), self.client(prefetch=1)
        for i in range(5):
            p.put("held", b"h%d" % i)
        p.flush(5)
        m = c.get("held", timeout=5)
        self.h.failed_exec()
        m.ack()
        self.assertEqual(self.drain(c, "held"), [b"h%d" % i for i in range(1, 5)])
        self.assertEqual(c.stats("held")["in_flight"], 0)

    def test_a_get_waiting_across_an_upgrade_gets_what_is_put_after(self):
        c, p = self.client(prefetch=1), self.client()
        got = []

        def wait():
            got.append(c.get("wait", timeout=30).data)

        t = threading.Thread(target=wait)
        t.start()
        time.sleep(0.3)
        self.h.upgrade()
        p.put("wait", b"late")
        p.flush(5)
        t.join(40)
        self.assertEqual(got, [b"late"])

    def test_completes_across_an_upgrade_leave_one_result_per_task(self):
        p, w = self.client(), self.client()
        for i in range(20):
            p.put("tasks", b"%d" % i)
        p.flush(5)
        tasks = [w.get("tasks", timeout=5) for _ in range(20)]
        for t in tasks[:10]:
            w.complete(t, "results", b"r" + t.data, timeout=5)
        self.h.upgrade()
        for t in tasks[10:]:
            w.complete(t, "results", b"r" + t.data, timeout=5)
        w.flush(10)
        r = self.client(prefetch=1)
        self.assertEqual(sorted(self.drain(r, "results")), sorted(b"r%d" % i for i in range(20)))
        self.assertEqual(p.stats("tasks")["in_flight"] + p.size("tasks"), 0)

    def test_a_client_that_never_comes_back_has_its_lease_run_out(self):
        other = self.client(prefetch=1)
        other.put("short", b"task")
        other.flush(5)
        gone = QueueClient(self.h.endpoint, authkey=KEY, timeout=5, prefetch=1)
        self.assertEqual(gone.get("short", timeout=5).data, b"task")
        self.h.proc.stdin.write(b"upgrade\n")
        self.h.proc.stdin.flush()
        gone._teardown(linger=0)     # gone for good, without a word
        self.h.expect_ready()
        m = other.get("short", timeout=20)   # once its 1 s lease ran out
        self.assertEqual(m.data, b"task")
        m.ack()
        self.assertEqual(other.stats("short")["in_flight"], 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
