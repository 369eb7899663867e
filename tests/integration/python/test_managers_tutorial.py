#!/usr/bin/python3
"""The classic task_master/task_worker example of multiprocessing.managers
(our text of it in managers_tutorial/) run twice: against Python's own
managers and against a real droverd through drover.managers, with only the
import line and the address changed; both give the same results. Then on
droverd a worker is SIGKILLed in the middle of a task and the master still
gets every result.

Run by ctest with DROVERD in the environment:
    DROVERD=build/supervisor/droverd python3 tests/integration/python/test_managers_tutorial.py
"""

import collections
import difflib
import os
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from droverd_fixture import ROOT, Droverd, free_port  # noqa: E402

from drover import QueueClient  # noqa: E402

TUTORIAL = os.path.join(HERE, "managers_tutorial")
MP_IMPORT = "from multiprocessing.managers import BaseManager"
DROVER_IMPORT = "from drover.managers import BaseManager"
# The tutorial's queues, named after the typeids it registers.
QUEUES = {"get_task_queue": "{ capacity: 1000, lease: 60s }",
          "get_result_queue": "{ capacity: 1000 }"}
WAIT = 60.0     # for a line a program prints; the machine may be busy


def tutorial(name):
    with open(os.path.join(TUTORIAL, name)) as f:
        return f.read()


def variant(text, kind, port):
    """The tutorial's text for kind "managers" or "drover": the address's
    port replaced by port and, for drover, the import line by drover's."""
    assert text.count(MP_IMPORT + "\n") == 1 and text.count(", 5000)") == 1
    text = text.replace(", 5000)", ", %d)" % port)
    if kind == "drover":
        text = text.replace(MP_IMPORT + "\n", DROVER_IMPORT + "\n")
    return text


class Program:
    """A Python program started on a text, its output read line by line in
    a thread so the test can wait for a line with a deadline."""

    def __init__(self, tmp, name, text):
        path = os.path.join(tmp, name)
        with open(path, "w") as f:
            f.write(text)
        env = dict(os.environ, PYTHONUNBUFFERED="1",
                   PYTHONPATH=os.path.join(ROOT, "client", "python"))
        self.lines = []
        self.cond = threading.Condition()
        self.name = name
        self.p = subprocess.Popen([sys.executable, path], cwd=tmp, env=env, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  start_new_session=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.p.stdout:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()
        self.p.stdout.close()
        with self.cond:
            self.lines.append(None)     # end of output
            self.cond.notify_all()

    def wait_for(self, prefix, timeout=WAIT):
        """Until a line starting with prefix; AssertionError with the output
        when the program ends or the deadline passes first."""
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                if any(line is not None and line.startswith(prefix) for line in self.lines):
                    return
                left = end - time.monotonic()
                if None in self.lines or left <= 0:
                    raise AssertionError("%s: no line %r in its output:\n%s" %
                                         (self.name, prefix, self.output()))
                self.cond.wait(left)

    def finish(self, timeout=WAIT):
        """Waits for the exit; returns the status and the output lines."""
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("%s did not end in %.0f s:\n%s" % (self.name, timeout, self.output()))
        self.reader.join(timeout)
        return rc, [line for line in self.lines if line is not None]

    def output(self):
        return "\n".join(line for line in self.lines if line is not None)

    def kill(self):
        """SIGKILL to the program and what it started (the managers' server)."""
        try:
            os.killpg(self.p.pid, signal.SIGKILL)
        except OSError:
            pass
        self.p.wait()


def shape(lines):
    """The lines with every number replaced by N: what must not differ
    between two runs of the random tasks."""
    return [re.sub(r"\d+", "N", line) for line in lines]


class TutorialTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="drover-tutorial-")
        self.programs = []
        self.addCleanup(self.cleanup)

    def cleanup(self):
        for p in self.programs:
            if p.p.poll() is None:
                p.kill()
        subprocess.run(["rm", "-rf", self.tmp])

    def droverd(self, queues=QUEUES):
        d = Droverd(queues, authkey=b"abc\n").start()
        self.addCleanup(d.cleanup)
        return d

    def start(self, name, text):
        p = Program(self.tmp, name, text)
        self.programs.append(p)
        return p

    def run_tutorial(self, kind, port):
        """The master, then the worker once every task is in; returns the
        master's and the worker's output lines."""
        master = self.start("%s_master.py" % kind, variant(tutorial("task_master.py"), kind, port))
        master.wait_for("Try get results...")
        worker = self.start("%s_worker.py" % kind, variant(tutorial("task_worker.py"), kind, port))
        wrc, wout = worker.finish()
        mrc, mout = master.finish()
        self.assertEqual((mrc, wrc), (0, 0), "%s run:\n%s\n----\n%s" % (kind, "\n".join(mout),
                                                                      "\n".join(wout)))
        return mout, wout

    def check_results(self, mout, what):
        """Every task the master put came back as its one right result."""
        tasks = [int(m.group(1)) for m in map(re.compile(r"Put task (\d+)\.\.\.$").match, mout) if m]
        results = [line[len("Result: "):] for line in mout if line.startswith("Result: ")]
        self.assertEqual(len(tasks), 10, "\n".join(mout))
        self.assertEqual(collections.Counter(results),
                         collections.Counter("%d * %d = %d" % (n, n, n * n) for n in tasks),
                         "%s: the results are not those of the tasks:\n%s" % (what, "\n".join(mout)))
        self.assertEqual(mout[-1], "master exit.")

    def test_only_the_import_and_the_address_differ(self):
        for name in ("task_master.py", "task_worker.py"):
            text = tutorial(name)
            before = variant(text, "managers", 5000).splitlines()
            after = variant(text, "drover", 9172).splitlines()
            diff = [line for line in difflib.unified_diff(before, after, lineterm="", n=0)
                    if line[:1] in "+-" and line[:3] not in ("+++", "---")]
            self.assertEqual(len(diff), 4, diff)    # two lines out, two in
            self.assertIn("-" + MP_IMPORT, diff)
            self.assertIn("+" + DROVER_IMPORT, diff)
            addr_out = [line[1:] for line in diff if "address=" in line and line[0] == "-"]
            addr_in = [line[1:].replace("9172", "5000") for line in diff
                       if "address=" in line and line[0] == "+"]
            self.assertEqual((len(addr_out), addr_in), (1, addr_out))

    def test_the_same_results_on_the_managers_and_on_droverd(self):
        mgr = self.run_tutorial("managers", free_port())
        d = self.droverd()
        drv = self.run_tutorial("drover", d.port)
        for (mout, wout), what in ((mgr, "managers"), (drv, "drover")):
            self.check_results(mout, what)
            self.assertEqual(sum(line.startswith("run task") for line in wout), 10, "\n".join(wout))
        # The same lines in the same order, numbers aside.
        self.assertEqual(shape(drv[0]), shape(mgr[0]))
        self.assertEqual(shape(drv[1]), shape(mgr[1]))
        # Nothing left behind: every task and result acked.
        with QueueClient(d.endpoint, authkey=d.authkey) as c:
            for name in QUEUES:
                st = c.stats(name)
                self.assertEqual((st["size"], st["in_flight"]), (0, 0), (name, st))

    def test_a_worker_killed_mid_task_loses_nothing(self):
        d = self.droverd()
        master = self.start("master.py", variant(tutorial("task_master.py"), "drover", d.port))
        master.wait_for("Try get results...")
        first = self.start("worker1.py", variant(tutorial("task_worker.py"), "drover", d.port))
        first.wait_for("run task")                  # it sleeps 1 s on the task now
        first.kill()
        _, out1 = first.finish()
        self.assertNotIn("worker exit.", out1)
        # The task it held goes back at once (droverd sees the connection
        # drop); the second worker does it and the nine others.
        second = self.start("worker2.py", variant(tutorial("task_worker.py"), "drover", d.port))
        rc2, out2 = second.finish()
        mrc, mout = master.finish()
        self.assertEqual((mrc, rc2), (0, 0), "\n".join(mout) + "\n----\n" + "\n".join(out2))
        self.check_results(mout, "after the kill")
        killed = re.match(r"run task (\d+) \*", [line for line in out1 if line.startswith("run task")][-1])
        self.assertIn("run task %s * %s..." % (killed.group(1), killed.group(1)), out2)
        with QueueClient(d.endpoint, authkey=d.authkey) as c:
            for name in QUEUES:
                st = c.stats(name)
                self.assertEqual((st["size"], st["in_flight"]), (0, 0), (name, st))

    def test_sentinels_and_a_killed_worker_lose_nothing(self):
        # The other common shape: short tasks, one None per worker to stop
        # it, and here one worker killed in the middle of the run. Room for
        # every task and result, as the managers' unbounded queue.Queue have.
        d = self.droverd({name: "{ capacity: 100000 }" for name in QUEUES})
        head = ("import queue, sys, time\n" + DROVER_IMPORT + "\n"
                "class QueueManager(BaseManager):\n    pass\n"
                "QueueManager.register('get_task_queue')\n"
                "QueueManager.register('get_result_queue')\n"
                "m = QueueManager(address=('127.0.0.1', %d), authkey=b'abc')\n"
                "m.connect()\ntask = m.get_task_queue()\nresult = m.get_result_queue()\n"
                % d.port)
        tasks, workers = 3000, 4
        master = head + textwrap.dedent("""\
            for n in range(%d):
                task.put(n)
            for i in range(%d):
                task.put(None)
            print('all put')
            seen = set()
            while len(seen) < %d:
                seen.add(result.get(timeout=60))   # at least once: maybe twice
                if len(seen) == 300:
                    print('300 results')
            m.shutdown()
            print('master exit: %%d results' %% len(seen))
            """ % (tasks, workers, tasks))
        worker = head + textwrap.dedent("""\
            print('ready')
            while True:
                n = task.get(timeout=60)
                if n is None:
                    break
                time.sleep(0.0005)
                result.put(n)
            print('worker exit')
            """)
        ws = [self.start("worker%d.py" % i, worker) for i in range(workers)]
        for w in ws:
            w.wait_for("ready")
        m = self.start("master.py", master)
        try:
            m.wait_for("300 results")
        except AssertionError as e:
            raise AssertionError("%s\nworkers:\n%s" % (e, "\n".join(w.output() for w in ws)))
        ws[0].kill()                        # with tasks in hand and fetched ahead
        for w in ws[1:]:
            rc, out = w.finish()
            self.assertEqual(rc, 0, "\n".join(out))
        rc, out = m.finish()
        self.assertEqual(rc, 0, "\n".join(out))
        self.assertIn("master exit: %d results" % tasks, out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
