#!/usr/bin/python3
"""drover.managers against a real droverd: every proxy method and exception
beside what queue.Queue does with the same calls, leases acked by
task_done(), by the next get() and at exit (and given back on a crash), the
safe codec's round trips and refusals, pickle refused unless opted in, a
wrong authkey, unknown queues and the typeid-to-queue mapping.

Run by ctest with DROVERD in the environment:
    DROVERD=build/supervisor/droverd python3 tests/integration/python/test_managers.py
"""

import math
import multiprocessing
import os
import pickle
import queue
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from droverd_fixture import ROOT, Droverd, free_port  # noqa: E402

import drover  # noqa: E402
from drover import QueueClient  # noqa: E402
from drover import managers  # noqa: E402
from drover.managers import BaseManager  # noqa: E402

QUEUES = {name: "{}" for name in ("get_task_queue", "get_result_queue", "mapped", "leases",
                                  "explicit", "exits", "codec", "pickled", "raw", "threads",
                                  "joined", "ctasks", "cresults", "forked", "window",
                                  "mptasks", "mpresults")}
QUEUES["pair"] = "{ capacity: 2 }"


class QueueManager(BaseManager):
    pass


QueueManager.register("get_task_queue")
QueueManager.register("get_result_queue")
QueueManager.register("get_pair", queue="pair")
for _name in QUEUES:
    QueueManager.register(_name)


class Mkdir:
    """Unpickling this makes a directory: what a pickle can make a
    consumer do."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (self.path,))


# Values the safe codec carries, each with what comes back equal to it.
VALUES = [0, 1, -1, 2 ** 64, -(2 ** 200), 10 ** 5000, 0.0, -0.0, 1.5, 1e300, float("inf"),
          float("-inf"), "", "abc", "é ü ✓ 😀", "\ud800 lone surrogate", "a:b;c", b"", b"\x00\xff:;",
          b"\x80not a pickle", True, False, None, [], (), {}, [1, [2, [3, []]]], (1, "a", b"b", None),
          {"k": 1, 2: "two", (1, 2): [3.5], None: True, b"b": {"nested": ()}, 1.5: False},
          [True, 1, 1.0], ["x" * 100000]]


class ManagersTest(unittest.TestCase):
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

    def manager(self, cls=QueueManager, **kw):
        m = cls(address=("127.0.0.1", self.d.port), authkey=kw.pop("authkey", self.d.authkey), **kw)
        self.addCleanup(m.shutdown)
        return m

    def stats(self, name, via=None):
        """(ready, leased) of a queue. via: a manager whose acks were sent
        without a reply; its own connection then asks, after them."""
        if via is not None:
            st = via._session().client.stats(name)
        else:
            with QueueClient(self.d.endpoint, authkey=self.d.authkey) as c:
                st = c.stats(name)
        return st["size"], st["in_flight"]

    def drain(self, name):
        # prefetch 1: what a client fetched ahead would go back on close.
        with QueueClient(self.d.endpoint, authkey=self.d.authkey, prefetch=1) as c:
            while True:
                try:
                    c.get(name, timeout=0).ack()
                except queue.Empty:
                    return

    # ------------------------------------------------------------ queue.Queue

    def test_every_proxy_method_means_what_it_means_on_queue_queue(self):
        m = self.manager()
        m.start()
        proxy, local = m.get_pair(), queue.Queue(maxsize=2)   # droverd's "pair" has capacity 2
        calls = [("empty",), ("qsize",), ("full",),
                 ("put", 1), ("put_nowait", "two"), ("full",), ("qsize",), ("empty",),
                 ("put", 3, False), ("put_nowait", 3), ("put", 3, True, 0.2),
                 ("put", 3, True, -1), ("put", 3, False, -1),
                 ("get",), ("qsize",), ("get_nowait",), ("empty",), ("full",),
                 ("get", False), ("get", True, 0.2), ("get_nowait",), ("get", True, -1),
                 ("get", False, -1),
                 ("put", [1, (2, 3)], True, 5), ("get", True, 5),
                 ("task_done",), ("task_done",), ("task_done",), ("task_done",)]
        for call in calls:
            outcomes = []
            for q in (local, proxy):
                t0 = time.monotonic()
                try:
                    outcomes.append(("value", getattr(q, call[0])(*call[1:])))
                except (queue.Empty, queue.Full, ValueError) as e:
                    outcomes.append(next(c for c in (queue.Empty, queue.Full, ValueError)
                                         if isinstance(e, c)))
                args = call[2:] if call[0] == "put" else call[1:]
                if len(args) == 2 and args[0] and args[1] > 0 and isinstance(outcomes[-1], type):
                    # A timed wait that failed waited its timeout first.
                    self.assertGreaterEqual(time.monotonic() - t0, args[1], (call, q))
            self.assertEqual(outcomes[1], outcomes[0], "%s%r" % (call[0], call[1:]))
        self.assertEqual(self.stats("pair", via=m), (0, 0))

    def test_empty_and_full_are_queue_empty_and_queue_full(self):
        m = self.manager()
        p = m.get_pair()
        self.addCleanup(self.drain, "pair")
        with self.assertRaises(queue.Empty) as e:
            p.get(timeout=0.05)
        self.assertIsInstance(e.exception, drover.Empty)
        p.put(1)
        p.put(2)
        with self.assertRaises(queue.Full) as e:
            p.put(3, timeout=0.05)
        self.assertIsInstance(e.exception, drover.Full)

    def test_join_returns_once_everything_put_is_done(self):
        m, w = self.manager(), self.manager()
        q = m.joined()
        for i in range(5):
            q.put(i)
        done = []

        def worker():
            wq = w.joined()
            for _ in range(5):
                done.append(wq.get(timeout=30))
                wq.task_done()

        t = threading.Thread(target=worker)
        t.start()
        q.join()
        t.join(30)
        self.assertEqual(sorted(done), list(range(5)))
        self.assertEqual(self.stats("joined"), (0, 0))

    # ------------------------------------------------------------ leases

    def test_a_get_leases_until_the_next_get_or_shutdown(self):
        m = self.manager()
        q = m.leases()
        q.put("a")
        q.put("b")
        self.assertEqual(q.get(timeout=5), "a")
        self.assertEqual(self.stats("leases"), (1, 1))
        self.assertEqual(q.get(timeout=5), "b")             # "a" is acked now
        self.assertEqual(self.stats("leases"), (0, 1))
        m.shutdown()                                        # and "b" now
        self.assertEqual(self.stats("leases"), (0, 0))

    def test_task_done_acks_and_from_then_on_only_it(self):
        m = self.manager()
        q = m.explicit()
        for v in "abc":
            q.put(v)
        self.assertEqual(q.get(timeout=5), "a")
        q.task_done()
        self.assertEqual(self.stats("explicit", via=m), (2, 0))
        self.assertEqual((q.get(timeout=5), q.get(timeout=5)), ("b", "c"))
        self.assertEqual(self.stats("explicit"), (0, 2))   # no task_done yet: both leased
        q.task_done()
        self.assertEqual(self.stats("explicit", via=m), (0, 1))
        m.shutdown()            # "c" is still owed a task_done(): it goes back
        self.assertEqual(self.stats("explicit"), (1, 0))
        n = self.manager()
        self.assertEqual(n.explicit().get(timeout=5), "c")
        n.shutdown()
        self.assertEqual(self.stats("explicit"), (0, 0))

    def test_a_result_put_leaves_the_task_leased_until_the_next_get(self):
        m = self.manager()
        self.addCleanup(self.drain, "cresults")
        t, r = m.ctasks(), m.cresults()
        t.put(6)
        t.put(7)
        n = t.get(timeout=5)
        r.put(n * n)
        self.assertEqual(self.stats("ctasks", via=m), (1, 1))
        self.assertEqual(t.get(timeout=5), 7)
        self.assertEqual(self.stats("ctasks", via=m), (0, 1))
        m.shutdown()
        self.assertEqual(self.stats("ctasks"), (0, 0))

    @unittest.skipUnless(hasattr(QueueClient, "complete"), "QueueClient has no complete() yet")
    def test_complete_acks_the_task_with_its_first_result(self):
        m = self.manager(complete=True)
        self.addCleanup(self.drain, "cresults")
        t, r = m.ctasks(), m.cresults()
        t.put(6)
        t.put(7)
        n = t.get(timeout=5)
        r.put(n * n)                        # the result and the ack, in one step
        c = m._session().client
        c.flush()
        self.assertEqual(self.stats("ctasks", via=m), (1, 0))
        r.put("a second put")               # a plain put: the task is done already
        c.flush()
        self.assertEqual(self.stats("cresults", via=m), (2, 0))
        self.assertEqual(t.get(timeout=5), 7)
        m.shutdown()
        self.assertEqual(self.stats("ctasks"), (0, 0))

    def set_fast_task(self, seconds):
        old = managers.FAST_TASK
        managers.FAST_TASK = seconds
        self.addCleanup(setattr, managers, "FAST_TASK", old)

    def test_slow_tasks_are_fetched_one_at_a_time(self):
        self.set_fast_task(0)               # every task counts as slow
        m = self.manager()
        q = m.window()
        self.addCleanup(self.drain, "window")
        for i in range(5):
            q.put(i)
        self.assertEqual((q.get(timeout=5), q.get(timeout=5)), (0, 1))
        self.assertEqual(self.stats("window"), (3, 1))     # the rest for other workers

    def test_short_tasks_are_fetched_several_at_a_time(self):
        self.set_fast_task(1e9)             # every task counts as short
        m = self.manager(prefetch=8)
        q = m.window()
        n = 200                             # far more than the queue's last messages
        for i in range(n):
            q.put(i)
        ahead = 0
        for i, window in enumerate([1, 2, None, 4, None, None, None, 8, None]):
            self.assertEqual(q.get(timeout=5), i)
            ahead = window - 1 if window else ahead - 1
            self.assertEqual(self.stats("window", via=m), (n - i - 1 - ahead, 1 + ahead))
            self.assertEqual(q.qsize(), n - i - 1)          # as queue.Queue counts
        m.shutdown()            # the one in hand acked, those fetched ahead back at the head
        self.assertEqual(self.stats("window"), (n - 9, 0))
        self.assertEqual(self.manager().window().get(timeout=5), 9)
        self.drain("window")

    def test_the_last_messages_of_a_queue_are_fetched_one_at_a_time(self):
        # Code that ends each worker with a None: no worker may hold several
        # of them ahead, to give back in front of tasks another gave back.
        self.set_fast_task(1e9)
        m = self.manager()
        q = m.window()
        n = managers.TAIL + 8
        for i in range(n - 4):
            q.put(i)
        for _ in range(4):
            q.put(None)
        for i in range(n):
            self.assertEqual(q.get(timeout=5), i if i < n - 4 else None)
            self.assertEqual(self.stats("window", via=m), (n - i - 1, 1))
        m.shutdown()
        self.assertEqual(self.stats("window"), (0, 0))

    def run_script(self, body):
        script = textwrap.dedent("""\
            import sys
            from drover.managers import BaseManager
            class QueueManager(BaseManager):
                pass
            QueueManager.register('exits')
            m = QueueManager(address=('127.0.0.1', %d), authkey=%r)
            m.connect()
            q = m.exits()
        """) % (self.d.port, self.d.authkey) + textwrap.dedent(body)
        env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "client", "python"))
        return subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                              text=True, timeout=60)

    def test_a_process_that_exits_acks_what_it_got(self):
        self.addCleanup(self.drain, "exits")
        m = self.manager()
        m.exits().put(42)
        r = self.run_script("assert q.get(timeout=10) == 42\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.stats("exits"), (0, 0))

    def test_a_process_killed_by_an_exception_gives_its_task_back(self):
        self.addCleanup(self.drain, "exits")
        m = self.manager()
        m.exits().put(42)
        r = self.run_script("q.get(timeout=10)\nraise RuntimeError('boom')\n")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("RuntimeError: boom", r.stderr)      # the usual traceback
        self.assertEqual(self.stats("exits"), (1, 0))
        r = self.run_script("assert q.get(timeout=10) == 42\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.stats("exits"), (0, 0))

    def test_an_exception_out_of_a_with_block_gives_the_task_back(self):
        self.addCleanup(self.drain, "exits")
        self.manager().exits().put(7)
        with self.assertRaises(KeyError):
            with QueueManager(address=("127.0.0.1", self.d.port), authkey=self.d.authkey) as m:
                self.assertEqual(m.exits().get(timeout=5), 7)
                raise KeyError("in the middle of the task")
        self.assertEqual(self.stats("exits"), (1, 0))
        with QueueManager(address=("127.0.0.1", self.d.port), authkey=self.d.authkey) as m:
            self.assertEqual(m.exits().get(timeout=5), 7)
        self.assertEqual(self.stats("exits"), (0, 0))

    def test_a_multiprocessing_child_flushes_and_acks_or_gives_its_task_back(self):
        """A multiprocessing.Process child ends with os._exit, without
        atexit: its results still reach droverd and its task is acked when
        the target returns, given back when it raises."""
        self.addCleanup(self.drain, "mptasks")
        self.addCleanup(self.drain, "mpresults")
        m = self.manager()
        for v in (5, 6):
            m.mptasks().put(v)
        ctx = multiprocessing.get_context("fork")

        def works():
            m.mpresults().put(m.mptasks().get(timeout=10) * 10)    # never task_done()

        def fails():
            m.mptasks().get(timeout=10)
            raise RuntimeError("boom in the child")

        p = ctx.Process(target=works)
        p.start()
        p.join(30)
        self.assertEqual(p.exitcode, 0)
        self.assertEqual(m.mpresults().get(timeout=5), 50)      # its result was not lost
        m.mpresults().task_done()
        self.assertEqual(self.stats("mptasks"), (1, 0))        # 5 acked, 6 waits
        p = ctx.Process(target=fails)
        p.start()
        p.join(30)
        self.assertEqual(p.exitcode, 1)
        self.assertEqual(self.stats("mptasks"), (1, 0))        # 6 given back
        self.assertEqual(m.mptasks().get(timeout=5), 6)
        m.mptasks().task_done()

    def test_each_thread_has_its_own_connection_and_leases(self):
        m = self.manager()
        q = m.threads()
        for i in range(4):
            q.put(i)
        got = []

        def take():
            got.append(q.get(timeout=10))
            q.task_done()

        ts = [threading.Thread(target=take) for _ in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(30)
        self.assertEqual(sorted(got), [0, 1, 2, 3])
        # Closing gives back what is owed a task_done(): nothing, as each
        # thread's task_done() acked its own.
        m.shutdown()
        self.assertEqual(self.stats("threads"), (0, 0))
        with self.assertRaises(ValueError):
            q.task_done()       # this thread got nothing

    def test_a_child_after_fork_makes_its_own_connection(self):
        m = self.manager()
        q = m.forked()
        for i in range(3):
            q.put(i)
        self.assertEqual(q.get(timeout=5), 0)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                signal.alarm(30)            # a hang fails the test instead of stopping it
                code = 0 if q.get(timeout=10) == 1 else 2
                m.shutdown()                # acks it; leaves the parent's connection alone
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        self.assertEqual(os.waitstatus_to_exitcode(status), 0)
        self.assertEqual(q.get(timeout=5), 2)   # the parent's connection works on
        m.shutdown()
        self.assertEqual(self.stats("forked"), (0, 0))

    # ------------------------------------------------------------ codec

    def assertSame(self, got, v):
        """Equal, of the same type all the way down, -0.0 apart from 0.0."""
        self.assertIs(type(got), type(v))
        if isinstance(v, float):
            self.assertEqual(repr(got), repr(v))
        elif isinstance(v, (list, tuple)):
            self.assertEqual(len(got), len(v))
            for a, b in zip(got, v):
                self.assertSame(a, b)
        elif isinstance(v, dict):
            self.assertEqual(list(got), list(v))
            for k in v:
                self.assertSame(got[k], v[k])
        else:
            self.assertEqual(got, v)

    def test_the_safe_codec_round_trips_through_droverd(self):
        m = self.manager()
        q = m.codec()
        for v in VALUES:
            q.put(v)
        for v in VALUES:
            self.assertSame(q.get(timeout=5), v)
        q.put(float("nan"))
        self.assertTrue(math.isnan(q.get(timeout=5)))

    def test_the_safe_codec_keeps_types_apart(self):
        for v in VALUES:
            self.assertSame(managers.decode(managers.encode(v)), v)
        self.assertIs(managers.decode(managers.encode(True)), True)
        self.assertIs(type(managers.decode(managers.encode([1, 1.0, True]))[1]), float)

    def test_the_safe_codec_refuses_other_types_by_name(self):
        class Point:
            pass

        import enum

        class Colour(enum.IntEnum):
            RED = 1

        m = self.manager()
        q = m.codec()
        for v, name in ((set(), "set"), ({1: {2}}, "set"), (bytearray(b"x"), "bytearray"),
                        (Point(), "Point"), (Colour.RED, "Colour"), (1j, "complex"),
                        ([object()], "object"), (Mkdir("/nonexistent"), "Mkdir")):
            with self.assertRaises(managers.EncodeError) as e:
                q.put(v)
            self.assertIsInstance(e.exception, TypeError)
            self.assertIn(name, str(e.exception))
            self.assertIn(name, e.exception.type)
            self.assertIn("codec='pickle'", str(e.exception))
        self.assertEqual(self.stats("codec"), (0, 0))       # nothing half sent

    def test_the_safe_codec_refuses_malformed_input(self):
        deep = b"l1:" * 200 + b"n"
        for data in (b"", b"x", b"i", b"i12", b"izz;", b"s5:abc", b"s-1:", b"s99999999999999999999999:",
                     b"b3:ab", b"l2:n", b"l99999:n", b"d1:l0:n", b"n n", b"nn", b"f;", b"fabc;",
                     b"s2:\xff\xfe", deep, b"\x00", b"T\n", b"t1:"):
            with self.assertRaises(managers.DecodeError, msg=repr(data)) as e:
                managers.decode(data)
            self.assertEqual(e.exception.data, data)

    def test_a_message_not_in_the_codec_is_a_clear_error_and_counts_as_got(self):
        self.addCleanup(self.drain, "codec")
        with QueueClient(self.d.endpoint, authkey=self.d.authkey) as c:
            c.put("codec", b"42 from the C client")
        m = self.manager()
        q = m.codec()
        with self.assertRaises(managers.DecodeError) as e:
            q.get(timeout=5)
        self.assertIn("codec()", str(e.exception))
        self.assertEqual(e.exception.data, b"42 from the C client")
        self.assertEqual(self.stats("codec"), (0, 1))
        q.task_done()
        self.assertEqual(self.stats("codec", via=m), (0, 0))

    def test_raw_codec_shares_bytes_with_other_clients(self):
        m = self.manager(codec="raw")
        q = m.raw()
        q.put(b"42")
        with QueueClient(self.d.endpoint, authkey=self.d.authkey) as c:
            msg = c.get("raw", timeout=5)
            self.assertEqual(msg.data, b"42")
            msg.ack()
            c.put("raw", b"1764")
        self.assertEqual(q.get(timeout=5), b"1764")
        with self.assertRaises(managers.EncodeError):
            q.put("a str")

    # ------------------------------------------------------------ pickle

    def test_pickle_is_refused_unless_opted_in(self):
        path = os.path.join(tempfile.mkdtemp(prefix="drover-pickle-"), "made-by-a-pickle")
        self.addCleanup(lambda: os.path.isdir(path) and os.rmdir(path))
        self.addCleanup(self.drain, "pickled")
        trusting = self.manager(codec="pickle")
        t = trusting.pickled()
        t.put(Mkdir(path))                  # what anyone holding the authkey could put
        safe = self.manager()
        s = safe.pickled()
        with self.assertRaises(managers.PickleRefused) as e:
            s.get(timeout=5)
        self.assertIsInstance(e.exception, managers.DecodeError)
        self.assertIn("codec='pickle'", str(e.exception))
        self.assertFalse(os.path.exists(path))              # nothing ran
        self.assertEqual(e.exception.data, pickle.dumps(Mkdir(path), pickle.HIGHEST_PROTOCOL))
        safe.shutdown()         # done with it: acked
        # Opted in: any object goes, and so does the code a pickle runs.
        t.put({1, 2, frozenset({3})})
        t.put(Mkdir(path))
        self.assertEqual(t.get(timeout=5), {1, 2, frozenset({3})})
        t.get(timeout=5)
        self.assertTrue(os.path.isdir(path))
        # The pickle codec reads what the safe one wrote.
        self.manager().pickled().put([1, "two"])
        self.assertEqual(t.get(timeout=5), [1, "two"])

    def test_an_unknown_codec_is_refused(self):
        with self.assertRaises(ValueError):
            QueueManager(address=("127.0.0.1", self.d.port), authkey=self.d.authkey, codec="marshal")

    # ------------------------------------------------------------ auth, names

    def test_a_wrong_authkey_is_the_managers_authentication_error(self):
        for how in ("connect", "start"):
            m = QueueManager(address=("127.0.0.1", self.d.port), authkey=b"not the key")
            t0 = time.monotonic()
            with self.assertRaises(multiprocessing.AuthenticationError) as e:
                getattr(m, how)()
            self.assertLess(time.monotonic() - t0, 5)
            self.assertIsInstance(e.exception, drover.AuthError)
            self.assertIsInstance(e.exception, managers.AuthenticationError)
            self.assertIn("authentication failed", str(e.exception))
        # droverd still serves everyone else.
        ok = self.manager()
        ok.connect()
        self.assertEqual(ok.get_pair().qsize(), 0)

    def test_start_says_when_droverd_is_not_there(self):
        port = free_port()
        m = QueueManager(address=("127.0.0.1", port), authkey=b"abc", timeout=0.5)
        with self.assertRaises(ConnectionRefusedError) as e:    # as the managers' connect()
            m.start()
        self.assertIsInstance(e.exception, drover.ConnectionError)
        self.assertIn("127.0.0.1:%d" % port, str(e.exception))

    def test_an_unknown_queue_is_a_clear_error_at_the_first_call(self):
        class Lost(BaseManager):
            pass

        Lost.register("get_missing_queue")
        m = self.manager(Lost)
        m.connect()                         # connecting does not look at queues
        q = m.get_missing_queue()
        for call in (lambda: q.put(1), lambda: q.get(timeout=1), q.qsize):
            with self.assertRaises(managers.UnknownQueue) as e:
                call()
            msg = str(e.exception)
            self.assertIn("'get_missing_queue'", msg)
            self.assertIn("queues:", msg)
            self.assertIn("register('get_missing_queue', queue='NAME')", msg)
            self.assertIsInstance(e.exception, drover.NoSuchQueue)
            self.assertIsInstance(e.exception, LookupError)
            self.assertEqual((e.exception.queue, e.exception.typeid),
                             ("get_missing_queue", "get_missing_queue"))
        with self.assertRaises(managers.UnknownQueue) as e:
            self.manager(Lost).start()      # the master's start() checks them all
        self.assertIn("'get_missing_queue'", str(e.exception))

    def test_register_maps_a_typeid_to_a_queue(self):
        class Mapped(BaseManager):
            pass

        Mapped.register("get_task_queue", callable=lambda: None, queue="mapped")
        m = self.manager(Mapped)
        m.start()
        m.get_task_queue().put("to mapped")
        self.assertEqual(self.stats("mapped"), (1, 0))
        self.assertEqual(self.stats("get_task_queue"), (0, 0))
        self.assertEqual(m.get_task_queue().get(timeout=5), "to mapped")
        self.assertIs(m.get_task_queue(), m.get_task_queue())
        # The registry is the subclass's own, as in the managers.
        self.assertNotIn("get_task_queue", BaseManager._registry)
        self.assertFalse(hasattr(BaseManager, "get_task_queue"))
        with self.assertRaises(TypeError):
            m.get_task_queue(10)            # queues are declared in droverd, not made here

    def test_the_address_and_the_authkey_in_their_forms(self):
        ep = managers._endpoint
        self.assertEqual(ep(("", 5000)), "tcp://127.0.0.1:5000")
        self.assertEqual(ep(("10.0.0.1", "5000")), "tcp://10.0.0.1:5000")
        self.assertEqual(ep(("::1", 5000)), "tcp://[::1]:5000")
        self.assertEqual(ep("host:5000"), "tcp://host:5000")
        self.assertEqual(ep("tcp://host:5000"), "tcp://host:5000")
        with self.assertRaises(ValueError):
            ep("no port")
        # An endpoint string, and the key read from $DROVER_AUTHKEY_FILE as
        # droverd reads it (the fixture's file has white space and a second line).
        old = os.environ.get("DROVER_AUTHKEY_FILE")
        os.environ["DROVER_AUTHKEY_FILE"] = self.d.key_file
        try:
            m = QueueManager(address=self.d.endpoint)
            self.addCleanup(m.shutdown)
            m.start()
            self.assertEqual(m.get_pair().qsize(), 0)
        finally:
            if old is None:
                del os.environ["DROVER_AUTHKEY_FILE"]
            else:
                os.environ["DROVER_AUTHKEY_FILE"] = old
        with self.assertRaises(TypeError):
            QueueManager(address=self.d.endpoint, authkey=12345)

    def test_the_server_side_calls_say_droverd_is_the_server(self):
        m = self.manager()
        with self.assertRaises(NotImplementedError) as e:
            m.get_server()
        self.assertIn("droverd", str(e.exception))
        with self.assertRaises(TypeError):
            pickle.dumps(m.get_pair())


if __name__ == "__main__":
    unittest.main(verbosity=2)
