#!/usr/bin/python3
"""A queue consumer that takes one message and never acks it, for the clock
jump test, which runs it under the fake wall clock.

    lease_holder.py ENDPOINT AUTHKEY_FILE QUEUE

Prints "ready TIME" once connected (TIME: its wall clock, time.time()), then "got DATA TIME" when the message comes
then, for each line read on stdin,
"time TIME", so that the test sees which wall clock it has. It keeps its
connection until stdin closes and then leaves without acking or nacking."""

import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "client", "python"))

from drover import QueueClient, read_authkey  # noqa: E402


def main():
    endpoint, key_file, queue = sys.argv[1:4]
    c = QueueClient(endpoint, authkey=read_authkey(key_file), prefetch=1)
    print("ready %.3f" % time.time(), flush=True)
    m = c.get(queue)
    print("got %s %.3f" % (m.data.decode(), time.time()), flush=True)
    for _ in sys.stdin:
        print("time %.3f" % time.time(), flush=True)
    os._exit(0)  # no close(): the lease is left to run out, never given back


if __name__ == "__main__":
    main()
