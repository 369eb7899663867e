#!/usr/bin/python3
"""The four examples end to end against a real droverd, as the README runs
them: a C task_master with Python task_workers, a Python task_master with C
task_workers, and Python alone. The endpoint and the authkey file are given
by argument in one run and by environment ($DROVER_QUEUE_URL,
$DROVER_AUTHKEY_FILE) in the other.

Run by ctest with DROVERD, and TASK_MASTER / TASK_WORKER when libdrover is
built (without them the mixed runs are skipped).
"""

import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from droverd_fixture import ROOT, Droverd, program  # noqa: E402

from drover import QueueClient  # noqa: E402

PY_MASTER = [sys.executable, os.path.join(ROOT, "examples", "task_master.py")]
PY_WORKER = [sys.executable, os.path.join(ROOT, "examples", "task_worker.py")]
TASKS = 300


class ExamplesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # The queues of examples/drover.yaml.
        cls.d = Droverd({"tasks": "{ capacity: 10000, durable: true, lease: 30s, max_message: 1MB }",
                         "results": "{ capacity: 10000 }"}).start()

    @classmethod
    def tearDownClass(cls):
        rc = cls.d.stop()
        out = cls.d.output()
        cls.d.cleanup()
        if rc != 0:
            raise AssertionError("droverd exited with status %s on SIGTERM:\n%s" % (rc, out[-3000:]))

    def run_flow(self, master, workers, by_env):
        """Starts the workers (a list of commands), runs the master to the
        end, waits for the workers to go idle and stop; checks that every
        task was done once and the master's sum is right."""
        where = [] if by_env else [self.d.endpoint, self.d.key_file]
        env = dict(os.environ)
        if by_env:
            env.update(DROVER_QUEUE_URL=self.d.endpoint, DROVER_AUTHKEY_FILE=self.d.key_file)
        else:
            env.pop("DROVER_QUEUE_URL", None)
            env.pop("DROVER_AUTHKEY_FILE", None)
        ws = [subprocess.Popen(w + ["-i", "4"] + where, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT) for w in workers]
        try:
            m = subprocess.run(master + ["-n", str(TASKS)] + where, env=env, capture_output=True,
                               timeout=60)
            outs = [w.communicate(timeout=30)[0].decode() for w in ws]
        finally:
            for w in ws:
                if w.poll() is None:
                    w.kill()
                    w.wait()
        mout = m.stdout.decode() + m.stderr.decode()
        self.assertEqual(m.returncode, 0, mout)
        self.assertIn("%d results, sum of squares %d: ok" % (TASKS, sum(i * i for i in range(TASKS))),
                      mout)
        done = 0
        for w, out in zip(ws, outs):
            self.assertEqual(w.returncode, 0, out)
            done += int(out.split("tasks done")[0].split()[-1])
        self.assertEqual(done, TASKS)  # every task once: no worker died, no lease ran out
        # Every task and result acked, the last ones too: nothing is left
        # to confuse the next master.
        with QueueClient(self.d.endpoint, authkey=self.d.authkey) as c:
            for name in ("tasks", "results"):
                st = c.stats(name)
                self.assertEqual((st["size"], st["in_flight"]), (0, 0), (name, st))

    def test_python_master_with_python_workers(self):
        self.run_flow(PY_MASTER, [PY_WORKER, PY_WORKER], by_env=False)

    @unittest.skipUnless(program("TASK_MASTER"), "the C examples are not built (no libdrover)")
    def test_c_master_with_python_workers(self):
        self.run_flow([program("TASK_MASTER")], [PY_WORKER, PY_WORKER], by_env=False)

    @unittest.skipUnless(program("TASK_WORKER"), "the C examples are not built (no libdrover)")
    def test_python_master_with_c_workers(self):
        self.run_flow(PY_MASTER, [[program("TASK_WORKER")]] * 2, by_env=True)

    @unittest.skipUnless(program("TASK_MASTER") and program("TASK_WORKER"),
                         "the C examples are not built (no libdrover)")
    def test_c_master_with_a_c_and_a_python_worker(self):
        self.run_flow([program("TASK_MASTER")], [[program("TASK_WORKER")], PY_WORKER], by_env=True)

    def test_a_wrong_key_file_is_one_clear_line(self):
        bad = os.path.join(self.d.dir, "bad.key")
        with open(bad, "w") as f:
            f.write("not the key\n")
        progs = [PY_MASTER, PY_WORKER]
        progs += [[p] for p in (program("TASK_MASTER"), program("TASK_WORKER")) if p]
        for prog in progs:
            r = subprocess.run(prog + [self.d.endpoint, bad], capture_output=True, timeout=30)
            self.assertEqual(r.returncode, 1, r)
            self.assertIn(b"authentication failed", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
