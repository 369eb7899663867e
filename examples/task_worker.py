#!/usr/bin/python3
"""task_worker: the worker half of multiprocessing's task_master/task_worker
example over drover's queues. Takes numbers from "tasks" and completes each
with its square: complete() puts the result into "results" and acks the task
in one step that droverd applies whole or not at all. Stops when no task came
for -i SECONDS. A worker killed while it holds a task loses nothing and leaves
no second result: droverd hands the task to another worker.

    examples/task_worker.py [-i SECONDS] [ENDPOINT [AUTHKEY_FILE]]

ENDPOINT defaults to $DROVER_QUEUE_URL or tcp://127.0.0.1:9172, AUTHKEY_FILE to
$DROVER_AUTHKEY_FILE or examples/secrets/queue.key.
"""
import argparse
import os
import queue
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "client", "python"))  # or: pip install client/python
from drover import DroverError, QueueClient, read_authkey  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
ap.add_argument("-i", type=float, default=10, metavar="SECONDS", help="stop after this long idle (10)")
ap.add_argument("endpoint", nargs="?", default=os.environ.get("DROVER_QUEUE_URL", "tcp://127.0.0.1:9172"))
ap.add_argument("authkey_file", nargs="?",
                default=os.environ.get("DROVER_AUTHKEY_FILE", os.path.join(HERE, "secrets", "queue.key")))
a = ap.parse_args()

done = 0
try:
    with QueueClient(a.endpoint, authkey=read_authkey(a.authkey_file)) as q:
        while True:
            m = q.get("tasks", timeout=a.i)   # queue.Empty when idle that long
            n = int(m.data)
            q.complete(m, "results", b"%d" % (n * n), timeout=10)  # result in, task acked
            done += 1
except queue.Empty:
    pass                                      # the with block flushed the results
except (DroverError, OSError, ValueError) as e:  # AuthError, no key file...
    sys.exit("task_worker: %s" % e)
print("task_worker %d: %d tasks done" % (os.getpid(), done))
