#!/usr/bin/python3
"""task_master: the master half of multiprocessing's task_master/task_worker
example over drover's queues. Puts N numbers into "tasks", collects their
squares from "results" (put there by task_worker.py or task_worker, on this
host or another) and checks the sum.

    examples/task_master.py [-n N] [ENDPOINT [AUTHKEY_FILE]]

ENDPOINT defaults to $DROVER_QUEUE_URL or tcp://127.0.0.1:9172, AUTHKEY_FILE to
$DROVER_AUTHKEY_FILE or examples/secrets/queue.key: the settings of
examples/drover.yaml.
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "client", "python"))  # or: pip install client/python
from drover import DroverError, QueueClient, read_authkey  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
ap.add_argument("-n", type=int, default=100, help="number of tasks (100)")
ap.add_argument("endpoint", nargs="?", default=os.environ.get("DROVER_QUEUE_URL", "tcp://127.0.0.1:9172"))
ap.add_argument("authkey_file", nargs="?",
                default=os.environ.get("DROVER_AUTHKEY_FILE", os.path.join(HERE, "secrets", "queue.key")))
a = ap.parse_args()

try:
    with QueueClient(a.endpoint, authkey=read_authkey(a.authkey_file)) as q:
        for n in range(a.n):                      # hand out the work
            q.put("tasks", b"%d" % n, timeout=10)
        print("task_master: put %d tasks, waiting for the results" % a.n, flush=True)
        total = 0
        for _ in range(a.n):                      # collect, ack each one
            m = q.get("results", timeout=30)      # raises queue.Empty after 30 s
            total += int(m.data)
            m.ack()
except (DroverError, OSError, ValueError) as e:  # AuthError, Empty, no key file...
    sys.exit("task_master: %s" % e)
ok = total == sum(n * n for n in range(a.n))
print("task_master: %d results, sum of squares %d: %s" % (a.n, total, "ok" if ok else "WRONG"))
sys.exit(0 if ok else 1)
