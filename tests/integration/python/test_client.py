#!/usr/bin/python3
"""The Python client (client/python/drover) against a real droverd: put, get,
ack, nack, FIFO, batches, Empty/Full with timeouts, a wrong key refused fast
while a right one keeps working, errors for an unknown queue and a message
too big, leases that run out, messages of a client that closes or is killed
going to another, a durable queue across kill -9 of droverd, and the C side
(droverctl put/get) reading what Python wrote and the reverse.

Run by ctest with DROVERD (and DROVERCTL when built) in the environment:
    DROVERD=build/supervisor/droverd python3 tests/integration/python/test_client.py
"""

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from droverd_fixture import ROOT, Droverd, has_ipv6_loopback, program  # noqa: E402

import drover  # noqa: E402
from drover import AuthError, QueueClient  # noqa: E402

QUEUES = {
    "fifo": "{}",
    "nack": "{}",
    "empty": "{}",
    "small": "{ capacity: 2 }",
    "batch": "{ capacity: 20000 }",
    "tiny": "{ max_message: 1KB }",
    "lease": "{ lease: 500ms }",
    "closed": "{}",
    "killed": "{}",
    "waiting": "{}",
    "auth": "{}",
    "ctl": "{}",
    "keep": "{ durable: true }",
    "restart": "{}",
    "credit": "{ capacity: 100000 }",
    "ctasks": "{ lease: 60s }",
    "cresults": "{ capacity: 1 }",
    "gone": "{}",
    "ptasks": "{}",
    "presults": "{ capacity: 100000 }",
    "pf_small": "{ capacity: 10000 }",
    "pf_big": "{ capacity: 400 }",
    "first": "{}",
    "vanish": "{}",
    "zero": "{}",
    "standing": "{}",
    "held": "{ capacity: 64 }",
    "nothing": "{}",
}


class Proxy:
    """A TCP forwarder in front of droverd whose connections can be cut, as
    a network drop does; it keeps listening, so ZeroMQ reconnects."""

    def __init__(self, port):
        self.upstream = port
        self.lsock = socket.create_server(("127.0.0.1", 0))
        self.port = self.lsock.getsockname()[1]
        self.pairs = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                a, _ = self.lsock.accept()
            except OSError:
                return
            b = socket.create_connection(("127.0.0.1", self.upstream))
            with self.lock:
                self.pairs.append((a, b))
            for x, y in ((a, b), (b, a)):
                threading.Thread(target=self._pump, args=(x, y), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        with self.lock:
            pairs, self.pairs = self.pairs, []
        for a, b in pairs:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def close(self):
        self.lsock.close()
        self.cut()


class ClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Droverd(QUEUES).start()

    @classmethod
    def tearDownClass(cls):
        rc = cls.d.stop()
        out = cls.d.output()
        cls.d.cleanup()
        if rc != 0:
            raise AssertionError("droverd exited with status %s on SIGTERM:\n%s" % (rc, out[-3000:]))

    def client(self, **kw):
        c = QueueClient(self.d.endpoint, authkey=self.d.authkey, timeout=kw.pop("timeout", 5), **kw)
        self.addCleanup(c.close)
        return c

    def drain(self, c, name):
        while True:
            try:
                c.get(name, timeout=0).ack()
            except queue.Empty:
                return

    # ------------------------------------------------------------ basics

    def test_put_get_ack_in_fifo_order(self):
        c = self.client()
        for i in range(10):
            c.put("fifo", b"m%d" % i, timeout=5)
        self.assertEqual(c.size("fifo"), 10)
        got = []
        for _ in range(10):
            m = c.get("fifo", timeout=5)
            got.append(m.data)
            m.ack()
        self.assertEqual(got, [b"m%d" % i for i in range(10)])
        st = c.stats("fifo")
        self.assertEqual((st["size"], st["in_flight"]), (0, 0))
        self.assertGreaterEqual(st["put_total"], 10)
        self.assertFalse(st["durable"])

    def test_requests_go_packed_to_this_droverd_and_messages_of_any_size_cross(self):
        # droverd names revision 3 in its HELLO reply: the client sends one
        # frame per request (docs/queue-protocol.md, "Packed requests")
        c = self.client()
        self.assertTrue(c._pack)
        sizes = [0, 1, 15, 16, 17, 255, 4096, 100000]
        for n in sizes:
            c.put("fifo", bytes([n % 251]) * n, timeout=5)
        c.flush(5)
        for n in sizes:
            m = c.get("fifo", timeout=5)
            self.assertEqual(m.data, bytes([n % 251]) * n)
            m.ack()
        self.assertEqual(c.size("fifo"), 0)
        # any bytes-like message goes as its bytes (a memoryview of ints
        # counts 4 bytes an item)
        import array
        ints = array.array("i", [1, 2, 3])
        for data in (bytearray(b"ba"), memoryview(b"mv"), memoryview(ints)):
            c.put("fifo", data, timeout=5)
        for want in (b"ba", b"mv", ints.tobytes()):
            m = c.get("fifo", timeout=5)
            self.assertEqual(m.data, want)
            m.ack()

    def test_messages_are_opaque_bytes(self):
        c = self.client()
        blobs = [b"", b"\x00\xff" * 100, bytes(range(256)), "héllo".encode()]
        for b in blobs:
            c.put("fifo", b)
        for b in blobs:
            m = c.get("fifo", timeout=5)
            self.assertEqual(m.data, b)
            m.ack()

    def test_nack_puts_the_message_back_at_the_head(self):
        c = self.client(prefetch=1)     # droverd's order, one message at a time
        c.put_many("nack", [b"first", b"second"])
        m = c.get("nack", timeout=5)
        self.assertEqual(m.data, b"first")
        m.nack()
        m2 = c.get("nack", timeout=5)
        self.assertEqual(m2.data, b"first")
        m2.ack()
        m3 = c.get("nack", timeout=5)
        self.assertEqual(m3.data, b"second")
        m3.ack()

    def test_batches_move_many_messages(self):
        c = self.client()
        n = 10000
        self.assertEqual(c.put_many("batch", (b"%d" % i for i in range(n))), n)
        self.assertEqual(c.size("batch"), n)
        got = []
        while len(got) < n:
            ms = c.get_many("batch", 1000, timeout=5)
            self.assertLessEqual(len(ms), 1000)
            got.extend(int(m.data) for m in ms)
            c.ack_many(ms)
        self.assertEqual(got, list(range(n)))
        self.assertEqual(c.stats("batch")["in_flight"], 0)

    def test_prefetch_hands_out_messages_in_order(self):
        c = self.client(prefetch=8)
        c.put_many("fifo", [b"p%d" % i for i in range(20)])
        got = []
        for _ in range(20):
            m = c.get("fifo", timeout=5)
            got.append(m.data)
            m.ack()
        self.assertEqual(got, [b"p%d" % i for i in range(20)])

    def _starve(self, c, queue, rounds):
        """A consumer faster than a round trip per half window: after the
        get that renews its standing GET, it takes everything it holds
        before the reply can come, so that its next get waits for that
        reply. Returns droverd's in_flight (what the client holds: its
        window) once the GET is renewed after the last round."""
        q = queue.encode()
        for _ in range(rounds + 1):
            while q not in c._standing:
                c.get(queue, timeout=5).ack()
            n = len(c._held[queue])
            if n:
                c.ack_many(c.get_many(queue, max=n))
            c.get(queue, timeout=5).ack()
        while q not in c._standing:
            c.get(queue, timeout=5).ack()
        return c.stats(queue)["in_flight"]

    def test_the_prefetch_window_grows_deep_for_small_messages_and_not_for_large(self):
        c = self.client()
        self.assertEqual(c.put_many("pf_small", [b"%d" % i for i in range(8000)]), 8000)
        # 16 doubled on every starved get, up to 1,024 (256 before: too
        # shallow for a worker of the examples on a loaded host).
        held = self._starve(c, "pf_small", 8)
        self.assertGreater(held, 1000)
        self.assertLessEqual(held, 1024)
        # 300 KB messages: 16 of them are 4.7 MB; 32 would pass 8 MiB.
        for i in range(250):
            c.put("pf_big", bytes([i % 256]) * 300000)
        c.flush(timeout=10)
        held = self._starve(c, "pf_big", 2)
        self.assertLessEqual(held, 16)
        self.assertGreater(held, 8)
        c.close()

    # ------------------------------------------------------------ waiting

    def test_get_on_an_empty_queue_raises_queue_empty_after_the_timeout(self):
        c = self.client()
        t0 = time.monotonic()
        with self.assertRaises(queue.Empty) as cm:
            c.get("empty", timeout=0.3)
        took = time.monotonic() - t0
        self.assertIsInstance(cm.exception, drover.Empty)
        self.assertGreaterEqual(took, 0.25)
        self.assertLess(took, 2.0)
        with self.assertRaises(drover.Empty):
            c.get("empty", timeout=0)
        with self.assertRaises(drover.Empty):
            c.get_many("empty", 10, timeout=0.05)

    def test_put_on_a_full_queue_raises_queue_full_after_the_timeout(self):
        c = self.client(prefetch=1)     # no standing GET making room meanwhile
        c.put("small", b"1")
        c.put("small", b"2")
        t0 = time.monotonic()
        with self.assertRaises(queue.Full) as cm:
            c.put("small", b"3", timeout=0.3)
        took = time.monotonic() - t0
        self.assertIsInstance(cm.exception, drover.Full)
        self.assertGreaterEqual(took, 0.25)
        self.assertLess(took, 2.0)
        with self.assertRaises(drover.Full) as cm:
            c.put_many("small", [b"a", b"b"], timeout=0)
        self.assertEqual(cm.exception.done, 0)
        self.drain(c, "small")
        with self.assertRaises(drover.Full) as cm:
            c.put_many("small", [b"a", b"b", b"c"], timeout=0.1)
        self.assertEqual(cm.exception.done, 2)
        self.drain(c, "small")

    def test_a_waiting_get_is_served_by_a_later_put_and_a_waiting_put_by_a_get(self):
        getter, putter = self.client(), self.client()
        box = {}

        def wait_for_one():
            m = getter.get("waiting", timeout=10)
            box["data"] = m.data
            box["at"] = time.monotonic()
            m.ack()

        t = threading.Thread(target=wait_for_one)
        t.start()
        time.sleep(0.3)
        t_put = time.monotonic()
        putter.put("waiting", b"late")
        t.join(10)
        self.assertEqual(box.get("data"), b"late")
        self.assertLess(box["at"] - t_put, 1.0)

        putter.put("small", b"1")
        putter.put("small", b"2")

        def free_one():
            time.sleep(0.3)
            getter.get("small", timeout=5).ack()

        t = threading.Thread(target=free_one)
        t.start()
        t0 = time.monotonic()
        putter.put("small", b"3", timeout=10)  # waits for room
        self.assertGreaterEqual(time.monotonic() - t0, 0.2)
        t.join(10)
        self.drain(getter, "small")

    # ------------------------------------------------------------ errors

    def test_a_wrong_key_is_refused_within_seconds_and_others_keep_working(self):
        good = self.client()
        good.put("auth", b"before")
        t0 = time.monotonic()
        with self.assertRaises(AuthError):
            QueueClient(self.d.endpoint, authkey=b"not the key", timeout=10)
        self.assertLess(time.monotonic() - t0, 5.0)
        good.put("auth", b"after")
        self.assertEqual([m.data for m in good.get_many("auth", 10, timeout=5)][:2],
                         [b"before", b"after"])
        end = time.monotonic() + 3
        while "refused" not in self.d.output() and time.monotonic() < end:
            time.sleep(0.05)
        self.assertIn("refused", self.d.output())
        self.assertNotIn(self.d.authkey.decode(), self.d.output())

    def test_unknown_queue_and_too_big_messages_are_clear_errors(self):
        c = self.client()
        with self.assertRaises(drover.NoSuchQueue) as cm:
            c.put("no-such-queue", b"x")
        self.assertIn("no-such-queue", str(cm.exception))
        with self.assertRaises(drover.NoSuchQueue):
            c.get("no-such-queue", timeout=0)
        with self.assertRaises(drover.TooBig) as cm:
            c.put("tiny", b"x" * 2000)
        self.assertIn("max_message", str(cm.exception))
        c.put("tiny", b"x" * 1024)  # the limit itself is fine
        self.assertEqual(len(c.get("tiny", timeout=5).data), 1024)
        with self.assertRaises(ValueError):
            c.put("", b"x")
        with self.assertRaises(TypeError):
            c.put("tiny", "text, not bytes")
        c.put("fifo", b"still fine")  # the connection is still good
        self.drain(c, "fifo")

    def test_nothing_listening_is_a_connection_error_within_the_timeout(self):
        from droverd_fixture import free_port
        t0 = time.monotonic()
        with self.assertRaises(drover.ConnectionError):
            QueueClient("tcp://127.0.0.1:%d" % free_port(), authkey=b"k", timeout=0.5)
        self.assertLess(time.monotonic() - t0, 3.0)

    # ------------------------------------------------------------ at-least-once

    def test_an_unacked_message_comes_back_when_its_lease_runs_out(self):
        c = self.client()
        c.put("lease", b"slow work")
        m = c.get("lease", timeout=5)
        self.assertEqual(c.stats("lease")["in_flight"], 1)
        m2 = c.get("lease", timeout=5)  # after about 500 ms
        self.assertEqual(m2.data, b"slow work")
        m2.ack()
        m.ack()  # stale lease: skipped by the server, no error
        time.sleep(0.8)
        with self.assertRaises(drover.Empty):
            c.get("lease", timeout=0)

    def test_messages_of_a_client_that_closes_go_to_another(self):
        a, b = self.client(), self.client()
        a.put_many("closed", [b"1", b"2", b"3"])
        held = a.get_many("closed", 2, timeout=5)
        self.assertEqual([m.data for m in held], [b"1", b"2"])
        a.close()
        end = time.monotonic() + 5
        while b.stats("closed")["in_flight"] and time.monotonic() < end:
            time.sleep(0.02)
        self.assertEqual(b.stats("closed")["size"], 3)  # back at the head, in order
        got = [m.data for m in b.get_many("closed", 10, timeout=5)]
        self.assertEqual(got, [b"1", b"2", b"3"])


    def test_messages_of_a_worker_killed_with_sigkill_go_to_another(self):
        c = self.client()
        c.put_many("killed", [b"k%d" % i for i in range(5)])
        code = ("import sys, time; sys.path.insert(0, %r); import drover\n"
                "c = drover.QueueClient(%r, authkey=%r)\n"
                "ms = c.get_many('killed', 3, timeout=5)\n"
                "print(len(ms), flush=True); time.sleep(60)\n" %
                (os.path.join(ROOT, "client", "python"), self.d.endpoint, self.d.authkey))
        p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
        try:
            self.assertEqual(p.stdout.readline().strip(), b"3")
            self.assertEqual(c.size("killed"), 2)
            p.kill()
        finally:
            p.wait()
            p.stdout.close()
        end = time.monotonic() + 5
        while c.stats("killed")["in_flight"] and time.monotonic() < end:
            time.sleep(0.02)
        got = []
        while len(got) < 5 and time.monotonic() < end:
            ms = c.get_many("killed", 10, timeout=2)
            got += [m.data for m in ms]
            c.ack_many(ms)
        self.assertEqual(sorted(got), [b"k%d" % i for i in range(5)])
        self.assertEqual(got[:3], [b"k0", b"k1", b"k2"])  # back at the head

    # ------------------------------------------------------------ credit, complete

    def test_puts_within_credit_return_at_once_and_flush_confirms_them(self):
        c = self.client()
        n = 5000
        for i in range(n):
            c.put("credit", b"%d" % i, timeout=0)
        c.flush(timeout=10)
        self.assertEqual(c.size("credit"), n)
        got = []
        while len(got) < n:
            ms = c.get_many("credit", 1000, timeout=5)
            got.extend(int(m.data) for m in ms)
            c.ack_many(ms)
        self.assertEqual(got, list(range(n)))

    def test_a_put_refused_later_is_reported_by_flush_with_its_count(self):
        c = self.client()
        c.put("gone", b"1", timeout=5)      # waited for: grants credit
        c.put("gone", b"2", timeout=5)      # within credit
        with self.assertRaises(drover.TooBig):
            c.put("tiny", b"x" * 2000)      # waited for (no credit yet)
        c.put("tiny", b"x")
        with self.assertRaises(drover.TooBig):
            c.put("tiny", b"x" * 2000)      # within credit: the client knows max_message
        c.flush(timeout=5)
        self.assertEqual(c.size("gone"), 2)
        self.drain(c, "gone")
        self.drain(c, "tiny")

    def test_an_earlier_failure_comes_before_prefetched_messages(self):
        c, other = self.client(), self.client(prefetch=1)
        for i in range(4):
            other.put("first", b"%d" % i)
        other.flush(5)
        self.assertEqual(c.get("first", timeout=5).data, b"0")   # the rest come prefetched
        c.put("vanish", b"a", timeout=5)                          # waited for: credit
        without = {k: v for k, v in QUEUES.items() if k != "vanish"}
        self.d.reload(without)
        self.addCleanup(self.d.reload, QUEUES)
        end = time.monotonic() + 10
        while True:
            try:
                other.stats("vanish")
            except drover.NoSuchQueue:
                break
            self.assertLess(time.monotonic(), end, "the reload did not remove the queue")
            time.sleep(0.05)
        c.put("vanish", b"b")                 # within credit: refused later
        c.stats("first")                      # a call that waits reads the refusal
        with self.assertRaises(drover.NoSuchQueue) as e:
            c.get("first", timeout=5)
        self.assertEqual(e.exception.undelivered, 1)
        self.assertEqual([c.get("first", timeout=5).data for _ in range(3)], [b"1", b"2", b"3"])

    def test_a_timeout_of_0_takes_what_has_come(self):
        c, other = self.client(), self.client(prefetch=1)
        c.put("zero", b"x", timeout=5)        # waited for: credit
        c.put("zero", b"y")                   # within credit
        time.sleep(0.3)                       # its confirmation comes meanwhile
        c.flush(timeout=0)                    # read, not a Timeout
        with self.assertRaises(queue.Empty):
            c.get("standing", timeout=0.05)   # a GET now stands at droverd
        other.put("standing", b"s1")
        other.put("standing", b"s2")
        other.flush(5)
        time.sleep(0.3)                       # pushed to the standing GET meanwhile
        self.assertEqual([c.get("standing", timeout=0).data for _ in range(2)], [b"s1", b"s2"])
        with self.assertRaises(queue.Empty):
            c.get("standing", timeout=0.05)   # stands again
        other.put("standing", b"s3")
        other.flush(5)
        t0 = time.monotonic()
        got = c.get_many("standing", 10, timeout=5)   # waits for the standing GET
        self.assertLess(time.monotonic() - t0, 2)
        self.assertEqual([m.data for m in got][-1:], [b"s3"])
        c.ack_many(got)
        self.drain(c, "zero")
        self.drain(c, "standing")

    def test_credit_goes_back_while_a_get_waits(self):
        """A consumer waiting in a get is not putting: after 0.2 s its
        credit goes back, whichever way the get waits."""
        b = self.client(prefetch=1)
        for way in ("get, prefetch off", "get, first GET", "get_many"):
            a = self.client(prefetch=1 if way == "get, prefetch off" else None)
            a.put("held", b"a", timeout=5)          # waited for: a holds places
            with self.assertRaises(queue.Full):
                for _ in range(64):
                    b.put("held", b"b", timeout=0.1)
            b.flush(5)
            self.assertLess(b.size("held"), 64, way)
            with self.assertRaises(queue.Empty):
                if way == "get_many":
                    a.get_many("nothing", 4, timeout=0.5)
                else:
                    a.get("nothing", timeout=0.5)
            while b.size("held") < 64:             # a's places are free again
                b.put("held", b"b", timeout=1)
            b.flush(5)
            a.close()
            self.drain(b, "held")

    def test_complete_against_a_full_results_queue_leaves_the_task_for_redelivery(self):
        w, other = self.client(prefetch=1), self.client(prefetch=1)
        other.put("ctasks", b"t1")
        other.put("ctasks", b"t2")
        other.flush(5)
        m = w.get("ctasks", timeout=5)
        w.complete(m, "cresults", b"r1", timeout=5)
        w.flush(5)
        self.assertEqual(w.stats("ctasks")["in_flight"], 0)
        m = w.get("ctasks", timeout=5)
        self.assertEqual(m.data, b"t2")
        t0 = time.monotonic()
        with self.assertRaises(queue.Full):
            w.complete(m, "cresults", b"r2", timeout=0.3)
        self.assertGreaterEqual(time.monotonic() - t0, 0.25)
        self.assertTrue(m.settled)
        self.assertEqual(w.size("cresults"), 1)
        again = other.get("ctasks", timeout=5)      # at once: it was nacked
        self.assertEqual(again.data, b"t2")
        r = w.get("cresults", timeout=5)
        r.ack()
        other.complete(again, "cresults", b"r2", timeout=5)
        other.flush(5)
        r = w.get("cresults", timeout=5)
        self.assertEqual(r.data, b"r2")
        r.ack()
        w.flush(5)
        self.assertEqual(w.stats("ctasks")["in_flight"] + w.size("ctasks"), 0)

    def test_a_connection_dropped_mid_window_resends_and_the_master_gets_every_result(self):
        proxy = Proxy(self.d.port)
        self.addCleanup(proxy.close)
        n = 3000
        stop = threading.Event()
        errors = []

        def worker():
            try:
                with QueueClient(self.d.endpoint, authkey=self.d.authkey) as w:
                    while not stop.is_set():
                        try:
                            m = w.get("ptasks", timeout=0.2)
                        except queue.Empty:
                            continue
                        w.complete(m, "presults", b"r" + m.data, timeout=10)
            except Exception as e:  # noqa: BLE001
                errors.append(e)

        th = threading.Thread(target=worker)
        th.start()
        try:
            master = QueueClient("tcp://127.0.0.1:%d" % proxy.port, authkey=self.d.authkey,
                                 timeout=5)
            self.addCleanup(master.close)
            for i in range(n):
                master.put("ptasks", b"%d" % i, timeout=10)
                if i in (n // 3, 2 * n // 3):
                    proxy.cut()             # mid-window: puts not yet confirmed
            seen = set()
            deadline = time.monotonic() + 60
            while len(seen) < n and time.monotonic() < deadline:
                try:
                    m = master.get("presults", timeout=1)
                except queue.Empty:
                    continue
                seen.add(int(m.data[1:]))
                m.ack()
            self.assertEqual(len(seen), n, "missing results: %s" %
                             sorted(set(range(n)) - seen)[:10])
            master.flush(timeout=10)
        finally:
            stop.set()
            th.join(30)
        self.assertEqual(errors, [])

    # ------------------------------------------------------------ the C side

    @unittest.skipUnless(program("DROVERCTL"), "droverctl is not built")
    def test_droverctl_reads_what_python_wrote_and_the_reverse(self):
        ctl = program("DROVERCTL")
        env = dict(os.environ, DROVER_QUEUE_URL=self.d.endpoint, DROVER_AUTHKEY_FILE=self.d.key_file)
        c = self.client()
        c.put("ctl", b"from python")
        r = subprocess.run([ctl, "get", "ctl", "--timeout", "5"], env=env, capture_output=True,
                           timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.rstrip(b"\n"), b"from python")
        r = subprocess.run([ctl, "put", "ctl", "from droverctl"], env=env, capture_output=True,
                           timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        m = c.get("ctl", timeout=5)
        self.assertEqual(m.data, b"from droverctl")
        m.ack()

    # ------------------------------------------------------------ restarts

    def test_durable_messages_survive_kill_9_and_a_client_reconnects(self):
        c = self.client()
        c.put_many("keep", [b"d%d" % i for i in range(100)])
        c.get("keep", timeout=5).ack()  # d0 is gone for good
        c.get("keep", timeout=5)        # d1 leased, not acked: comes back
        c.put("keep", b"d100")          # confirmed once committed, with the ack before it
        c.put("restart", b"lost")       # not durable: lost with droverd
        os.kill(self.d.proc.pid, signal.SIGKILL)
        self.d.proc.wait()
        self.d.stop()
        self.d.start()
        # The same client goes on once ZeroMQ has reconnected; a request that
        # was outstanding when the connection dropped fails with ConnectionError.
        end = time.monotonic() + 10
        while True:
            try:
                st = c.stats("keep")
                break
            except drover.ConnectionError:
                self.assertLess(time.monotonic(), end)
                time.sleep(0.1)
        self.assertEqual(st["size"], 100)
        self.assertTrue(st["durable"])
        got = []
        while len(got) < 100:
            ms = c.get_many("keep", 100, timeout=5)
            got += [m.data for m in ms]
            c.ack_many(ms)
        self.assertEqual(got, [b"d%d" % i for i in range(1, 101)])
        self.assertEqual(c.size("restart"), 0)


@unittest.skipUnless(has_ipv6_loopback(), "this host has no IPv6 loopback (::1)")
class IPv6Test(unittest.TestCase):
    """droverd's queues on an IPv6 address (queues.listen: tcp://[::1]:PORT):
    the Python client, drover.managers and libdrover (droverctl) reach it."""

    @classmethod
    def setUpClass(cls):
        cls.d = Droverd({"six": "{}"}, ipv6=True).start()

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def test_every_client_reaches_queues_on_an_ipv6_address(self):
        self.assertTrue(self.d.endpoint.startswith("tcp://[::1]:"), self.d.endpoint)
        with QueueClient(self.d.endpoint, authkey=self.d.authkey, timeout=5) as c:
            c.put("six", b"from python")
            c.flush(5)
        from drover.managers import BaseManager

        class M(BaseManager):
            pass
        M.register("six")
        m = M(address=("::1", self.d.port), authkey=self.d.authkey, codec="raw")
        m.connect()
        self.assertEqual(m.six().get(timeout=5), b"from python")
        m.six().put(b"from managers")
        m.shutdown()
        ctl = program("DROVERCTL")
        if ctl is None:
            self.skipTest("droverctl is not built")
        env = dict(os.environ, DROVER_AUTHKEY_FILE=self.d.key_file)
        got = []
        for url in (self.d.endpoint, "[::1]:%d" % self.d.port):
            r = subprocess.run([ctl, "-q", url, "get", "six", "--timeout", "5"], env=env,
                               capture_output=True, timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            got.append(r.stdout.rstrip(b"\n"))
            r = subprocess.run([ctl, "-q", url, "put", "six", "from droverctl"], env=env,
                               capture_output=True, timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(got, [b"from managers", b"from droverctl"])


class OfflineTest(unittest.TestCase):
    """What needs no server: keys, the authkey file, the exceptions."""

    def test_a_timeout_that_is_not_seconds_is_a_clear_error(self):
        for bad in (None, 0, -1, "5", True):
            with self.assertRaises(ValueError) as e:
                QueueClient("tcp://127.0.0.1:1", authkey=b"k", timeout=bad)
            self.assertIn("timeout must be seconds", str(e.exception))

    def test_keys_match_the_vectors_of_the_protocol_document(self):
        from drover.keys import keypair
        self.assertEqual(keypair(b"abc", "server"),
                         (b"fdPO}O}rRMLM8D4Id7>Q+5{^^&Z00]BfRU3=@vea",
                          b"N7]y3Rb-0I2[CNoR2W+vBiHm$uYE*=@JyKlCB?8Y"))
        self.assertEqual(keypair(b"abc", "client"),
                         (b"YAb=d4-TBkeBf(jo$aDJAmSH]Kj59rH8xpS]+sbE",
                          b"d6Cwx^ezz-hCdDnPxrlEDeJF9qeuTI]Yu^8KrvC#"))

    def test_the_authkey_file_is_read_as_droverd_reads_it(self):
        import tempfile
        with tempfile.NamedTemporaryFile("wb", delete=False) as f:
            f.write(b" \t s3cret \r\nsecond line\n")
        self.addCleanup(os.unlink, f.name)
        self.assertEqual(drover.read_authkey(f.name), b"s3cret")
        with open(f.name, "wb") as g:
            g.write(b"  \n")
        with self.assertRaises(ValueError):
            drover.read_authkey(f.name)

    def test_exceptions_are_the_standard_ones_too(self):
        self.assertTrue(issubclass(drover.Empty, queue.Empty))
        self.assertTrue(issubclass(drover.Full, queue.Full))
        self.assertTrue(issubclass(drover.ConnectionError, ConnectionError))
        self.assertTrue(issubclass(drover.Timeout, TimeoutError))
        for cls in (drover.Empty, drover.Full, drover.AuthError, drover.TooBig,
                    drover.NoSuchQueue, drover.Timeout, drover.InvalidRequest):
            self.assertTrue(issubclass(cls, drover.DroverError))
        self.assertEqual([c.code for c in (drover.Empty, drover.Full, drover.AuthError,
                                           drover.ConnectionError, drover.TooBig,
                                           drover.NoSuchQueue, drover.InvalidRequest,
                                           drover.Timeout)], list(range(-1, -9, -1)))
        self.assertEqual(drover.strerror(-3), "authentication failed (wrong authkey?)")


if __name__ == "__main__":
    unittest.main(verbosity=2)
