#!/usr/bin/python3
"""One node of the queue benchmark, started by bench/queues/run.py: a master,
a worker or a round-trip probe, over Python's multiprocessing.managers
(--kind managers) or drover's Python client (--kind drover).

    pynode.py --kind managers --role server --port P --authkey-file F
    pynode.py --kind K --role worker  (endpoint/port, authkey-file)
    pynode.py --kind K --role master --tasks N --workers W
    pynode.py --kind K --role rtt --count N
    pynode.py --kind drover --role durable --count N --queue Q

    pynode.py --kind zmq|tcp --role echo_server|echo --port P --count N

A worker prints "ready" once connected and waits for tasks; it stops on the
task "stop". The master and the probes print one JSON line of figures.
Python 3 standard library, plus Debian's python3-zmq for drover.
"""

import argparse
import json
import os
import queue
import sys
import time
from multiprocessing.managers import BaseManager

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
STOP = b"stop"


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


# ---------------------------------------------------------------- managers

class QueueManager(BaseManager):
    pass


def managers_server(a, key):
    """The classic task_master's manager: two queue.Queue behind a port."""
    tasks, results = queue.Queue(), queue.Queue()
    QueueManager.register("tasks", callable=lambda: tasks)
    QueueManager.register("results", callable=lambda: results)
    m = QueueManager(address=("127.0.0.1", a.port), authkey=key)
    s = m.get_server()
    emit({"ready": True})
    s.serve_forever()


def managers_connect(a, key):
    QueueManager.register("tasks")
    QueueManager.register("results")
    m = QueueManager(address=("127.0.0.1", a.port), authkey=key)
    m.connect()
    return m.tasks(), m.results()


def managers_worker(a, key):
    tasks, results = managers_connect(a, key)
    emit({"ready": True})
    done = 0
    while True:
        n = tasks.get()
        if n is None:
            break
        results.put(n * n)
        done += 1
    emit({"done": done})


def managers_master(a, key):
    tasks, results = managers_connect(a, key)
    n = a.tasks
    t0 = time.perf_counter()
    for i in range(n):
        tasks.put(i)
    t_put = time.perf_counter()
    total = 0
    for _ in range(n):
        total += results.get()
    t1 = time.perf_counter()
    for _ in range(a.workers):
        tasks.put(None)
    ok = total == sum(i * i for i in range(n))
    emit({"tasks": n, "seconds": t1 - t0, "put_seconds": t_put - t0,
          "tasks_s": n / (t1 - t0), "ok": ok})


def managers_rtt(a, key):
    tasks, _ = managers_connect(a, key)
    lat = []
    for i in range(a.warmup + a.count):
        t0 = time.perf_counter_ns()
        tasks.put(i)
        tasks.get()
        t1 = time.perf_counter_ns()
        if i >= a.warmup:
            lat.append((t1 - t0) / 1000.0)
    emit({"lat_us": lat})


# ---------------------------------------------------------------- drover

def drover_client(a, key):
    sys.path.insert(0, os.path.join(ROOT, "client", "python"))
    import drover
    return drover.QueueClient(a.endpoint, authkey=key, timeout=10, prefetch=a.prefetch)


def drover_worker(a, key):
    c = drover_client(a, key)
    c.size(a.tasks_queue)  # connected and admitted
    emit({"ready": True})
    done = 0
    if a.batch <= 1:
        # One call per message, as in examples/task_worker.py.
        while True:
            m = c.get(a.tasks_queue)
            if m.data == STOP:
                m.ack()
                break
            c.complete(m, a.results_queue, b"%d" % (int(m.data) ** 2))
            done += 1
    else:
        # Up to B tasks per round trip; a "stop" ends this worker and the
        # tasks after it in its batch go back for the others.
        stop = False
        while not stop:
            ms = c.get_many(a.tasks_queue, a.batch)
            out = []
            for i, m in enumerate(ms):
                if m.data == STOP:
                    stop = True
                    c.nack_many(ms[i + 1:])
                    ms = ms[:i + 1]
                    break
                out.append(b"%d" % (int(m.data) ** 2))
            if out:
                c.put_many(a.results_queue, out)
            c.ack_many(ms)
            done += len(out)
    c.close()
    emit({"done": done})


def drover_master(a, key):
    c = drover_client(a, key)
    n = a.tasks
    batch = max(a.batch, 1000)
    t0 = time.perf_counter()
    for i in range(0, n, batch):
        c.put_many(a.tasks_queue, [b"%d" % j for j in range(i, min(n, i + batch))])
    t_put = time.perf_counter()
    total = got = 0
    while got < n:
        ms = c.get_many(a.results_queue, min(batch, n - got))
        for m in ms:
            total += int(m.data)
        c.ack_many(ms)
        got += len(ms)
    t1 = time.perf_counter()
    c.put_many(a.tasks_queue, [STOP] * a.workers)
    ok = total == sum(i * i for i in range(n))
    c.close()
    emit({"tasks": n, "seconds": t1 - t0, "put_seconds": t_put - t0,
          "tasks_s": n / (t1 - t0), "ok": ok})


def drover_rtt(a, key):
    c = drover_client(a, key)
    lat = []
    for i in range(a.warmup + a.count):
        t0 = time.perf_counter_ns()
        c.put("rtt", b"x")
        c.flush()               # the put confirmed: the synchronous meaning
        m = c.get("rtt")
        t1 = time.perf_counter_ns()
        m.ack()  # asynchronous: no round trip, outside the timed part
        if i >= a.warmup:
            lat.append((t1 - t0) / 1000.0)
    c.close()
    emit({"lat_us": lat})


def drover_durable(a, key):
    c = drover_client(a, key)
    n = a.count
    data = [b"d%07d" % i for i in range(n)]
    t0 = time.perf_counter()
    if a.batch <= 1:
        for d in data:
            c.put(a.queue, d)
    else:
        for i in range(0, n, a.batch):
            c.put_many(a.queue, data[i:i + a.batch])
    c.flush()                   # every put committed
    t1 = time.perf_counter()
    size = c.size(a.queue)
    c.close()
    emit({"puts": n, "seconds": t1 - t0, "puts_s": n / (t1 - t0), "size": size})


# ---------------------------------------------------------------- floors

def zmq_echo_server(a, key):
    """A ZeroMQ ROUTER with CURVE that sends every request back: the floor
    of one request over ZeroMQ, with no queue behind it."""
    import zmq
    sys.path.insert(0, os.path.join(ROOT, "client", "python"))
    from drover.keys import keypair
    pub, sec = keypair(key, "server")
    s = zmq.Context.instance().socket(zmq.ROUTER)
    s.curve_server = True
    s.curve_publickey, s.curve_secretkey = pub, sec
    s.bind("tcp://127.0.0.1:%d" % a.port)
    emit({"ready": True})
    while True:
        s.send_multipart(s.recv_multipart())


def zmq_echo(a, key):
    import zmq
    sys.path.insert(0, os.path.join(ROOT, "client", "python"))
    from drover.keys import keypair
    s = zmq.Context.instance().socket(zmq.DEALER)
    s.curve_serverkey = keypair(key, "server")[0]
    s.curve_publickey, s.curve_secretkey = keypair(key, "client")
    s.connect("tcp://127.0.0.1:%d" % a.port)
    lat = []
    msg = b"x" * 16
    for i in range(a.warmup + a.count):
        t0 = time.perf_counter_ns()
        s.send(msg)
        s.recv()
        t1 = time.perf_counter_ns()
        if i >= a.warmup:
            lat.append((t1 - t0) / 1000.0)
    emit({"lat_us": lat})


def tcp_echo_server(a, key):
    """A plain TCP echo of 16-byte requests: the floor under the managers'
    calls (one socket, no I/O thread)."""
    import socket
    srv = socket.create_server(("127.0.0.1", a.port))
    emit({"ready": True})
    while True:
        c, _ = srv.accept()
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            b = c.recv(16)
            if not b:
                break
            c.sendall(b)
        c.close()


def tcp_echo(a, key):
    import socket
    c = socket.create_connection(("127.0.0.1", a.port))
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    lat = []
    msg = b"x" * 16
    for i in range(a.warmup + a.count):
        t0 = time.perf_counter_ns()
        c.sendall(msg)
        n = 0
        while n < len(msg):
            n += len(c.recv(16 - n))
        t1 = time.perf_counter_ns()
        if i >= a.warmup:
            lat.append((t1 - t0) / 1000.0)
    emit({"lat_us": lat})


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kind", choices=("managers", "drover", "zmq", "tcp"), required=True)
    ap.add_argument("--role", choices=("server", "worker", "master", "rtt", "durable",
                                       "echo_server", "echo"), required=True)
    ap.add_argument("--port", type=int, help="managers, zmq, tcp: the server's port on 127.0.0.1")
    ap.add_argument("--endpoint", help="drover: the queue endpoint")
    ap.add_argument("--authkey-file", required=True)
    ap.add_argument("--tasks", type=int, default=100000)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--queue", default="durable")
    ap.add_argument("--tasks-queue", default="tasks", help="drover: the queue of tasks")
    ap.add_argument("--results-queue", default="results", help="drover: the queue of results")
    ap.add_argument("--batch", type=int, default=1, help="drover: messages per get_many/put_many")
    ap.add_argument("--prefetch", type=int, default=1, help="drover: prefetch of get()")
    a = ap.parse_args()
    with open(a.authkey_file, "rb") as f:
        key = f.readline().strip(b" \t\r\n")  # as droverd reads it
    fn = globals().get("%s_%s" % (a.kind, a.role))
    if fn is None:
        ap.error("no role %s for %s" % (a.role, a.kind))
    fn(a, key)


if __name__ == "__main__":
    main()
