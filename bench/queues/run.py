#!/usr/bin/python3
"""drover's queue benchmarks: the task_master/task_worker pattern over
droverd's queues (C client and Python client) beside Python's
multiprocessing.managers in the same run.

    bench/queues/run.py            full run: 100,000 tasks, 3 runs each (about 3 minutes)
    bench/queues/run.py --quick    10,000 tasks, 1 run each (about 30 seconds)

First the examples as shipped (examples/task_master[.py] and
examples/task_worker[.py], one call at a time, workers completing each task)
beside the managers' classic example: the master process's time from start to
exit, 20,000 tasks, 4 workers and 1 worker.

Then, for each of (a) drover with the C client (libdrover, bench/queues/qbench.c),
(b) drover with the Python client (client/python/drover) and (c) a
multiprocessing.managers.BaseManager serving two queue.Queue with an authkey:
a master puts N small tasks into `tasks`, 4 workers (processes) get each one,
put its square into `results` (drover: and ack it), the master collects the N
results and checks their sum. End-to-end tasks/s is N over the time from the
master's first put to its last result, with the workers connected and waiting
beforehand. Then one client alone times synchronous round trips (put,
flush, get; the ack after the timed part; p50, p99), and a client puts into a
durable queue (SQLite, group commit) as fast as it can, then flushes. Prints a
table with ratios against the managers and PASS/MISS against the targets of
issues 3 and 9; progress goes to stderr, the table to stdout.

Python 3 standard library only (the drover Python client needs Debian's
python3-zmq). droverd and the managers run on free loopback ports in a temp
directory; every process started is stopped at the end, on error and on
Ctrl-C too. Benchmarks are not tests: the exit status is 0 whatever the
figures are (1 only when the harness itself could not run).
"""

import argparse
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PYNODE = os.path.join(HERE, "pynode.py")
PYTHON = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable
KINDS = ("c", "python", "managers")

sys.path.insert(0, os.path.dirname(HERE))
from benchlib import build as build_targets, fmt, free_port, get, machine as machine_line, median, now, pct, say  # noqa: E402,I001

LABEL = {"c": "drover C", "python": "drover Python", "managers": "managers"}


def wait_port(port, proc, timeout=20.0):
    end = now() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError("exited with status %s before listening on %d" % (proc.returncode, port))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if now() > end:
                raise RuntimeError("nothing listens on 127.0.0.1:%d after %.0f s" % (port, timeout))
            time.sleep(0.02)


def cpu_seconds(pid):
    """User + system CPU of a process, all its threads."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_http(port, proc, timeout=20.0):
    """Until GET /api/v1/status answers 200 (droverd is up; a bare TCP probe
    of the queue port would be logged there as a refused client)."""
    end = now() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError("exited with status %s before serving its API" % proc.returncode)
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", "/api/v1/status")
            if c.getresponse().status == 200:
                c.close()
                return
            c.close()
        except (OSError, http.client.HTTPException):
            pass
        if now() > end:
            raise RuntimeError("no API on 127.0.0.1:%d after %.0f s" % (port, timeout))
        time.sleep(0.02)


class Harness:
    def __init__(self, a):
        self.a = a
        self.tasks = a.tasks or (10000 if a.quick else 100000)
        self.runs = a.runs or (1 if a.quick else 3)
        self.workers = a.workers
        self.rtt = 2000 if a.quick else 10000
        self.ex_tasks = a.example_tasks
        self.durable = 20000 if a.quick else 100000
        self.durable_single = 2000 if a.quick else 10000
        self.batch = a.batch
        self.run_no = 0
        self.max_runs = 2 * (2 * self.runs + 1)   # flows of the C and the Python client
        self.prefetch = a.prefetch
        self.build = os.path.abspath(a.build_dir)
        self.droverd = os.path.abspath(a.droverd or os.path.join(self.build, "supervisor", "droverd"))
        self.qbench = os.path.join(self.build, "bench", "queues", "qbench")
        self.tmp = None
        self.key = None
        self.procs = []
        self.notes = []
        self.d = None           # the running droverd
        self.endpoint = None

    # ------------------------------------------------------------ processes

    def spawn(self, argv, **kw):
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=kw.pop("stderr", None), start_new_session=True, **kw)
        self.procs.append(p)
        return p

    def read_json(self, p, what, timeout=600.0):
        """The next JSON line of p's stdout."""
        line = p.stdout.readline()
        if not line:
            p.wait(timeout)
            raise RuntimeError("%s exited with status %s and said nothing" % (what, p.returncode))
        try:
            return json.loads(line)
        except ValueError:
            raise RuntimeError("%s said %r" % (what, line[:200]))

    def finish(self, p, timeout=30.0):
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        if p.stdout:
            p.stdout.close()
        if p in self.procs:
            self.procs.remove(p)

    def kill_all(self):
        for p in list(self.procs):
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
            self.finish(p, 5)

    # ------------------------------------------------------------ droverd

    def start_droverd(self):
        d = os.path.join(self.tmp, "droverd")
        os.makedirs(d)
        qport, http_port = free_port(), free_port()
        self.endpoint = "tcp://127.0.0.1:%d" % qport
        cap = max(2 * self.tasks, 2 * self.ex_tasks, 10000)
        conf = os.path.join(d, "drover.yaml")
        with open(conf, "w") as f:
            f.write("\n".join([
                "supervisor:",
                "  name: qbench",
                "  state_dir: %s" % os.path.join(d, "var"),
                "  log_dir: %s" % os.path.join(d, "log"),
                "  http: { listen: \"127.0.0.1:%d\" }" % http_port,
                "  agents: { listen: \"tcp://127.0.0.1:%d\" }" % free_port(),
                "  queues:",
                "    listen: \"%s\"" % self.endpoint,
                "    authkey_file: %s" % self.key,
                "groups: {}",
                "queues:",
                "  rtt: {}",
                # For the examples as shipped: the queues of examples/drover.yaml
                # (tasks durable), with room for every task, as the managers'
                # unbounded queue.Queue have: with 10,000 places each, a master
                # that puts 20,000 before it reads a result fills both queues
                # and goes at the pace of the workers' room.
                "  tasks: { capacity: %d, durable: true, lease: 30s, max_message: 1MB }" % cap,
                "  results: { capacity: %d }" % cap,
            ] + ["  %s%d: { capacity: %d }" % (tr, i, cap) for i in range(1, self.max_runs + 1)
                 for tr in "tr"]
              + ["  %s_%s: { capacity: %d, durable: true }" % (what, kind, self.durable + 1000)
                 for what in ("durable", "durable_single") for kind in ("c", "python")]) + "\n")
        self.d_out = open(os.path.join(d, "droverd.out"), "wb")
        self.d = subprocess.Popen([self.droverd, "-c", conf], stdin=subprocess.DEVNULL,
                                  stdout=self.d_out, stderr=subprocess.STDOUT,
                                  start_new_session=True, cwd=d)
        self.http_port = http_port
        wait_http(http_port, self.d)
        say("droverd %d serves queues on %s" % (self.d.pid, self.endpoint))

    def stop_droverd(self):
        if self.d is None:
            return
        if self.d.poll() is None:
            self.d.send_signal(signal.SIGTERM)
            try:
                self.d.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.d.pid, signal.SIGKILL)
                self.d.wait()
        self.d_out.close()
        self.d = None

    def droverd_output(self, n=1500):
        try:
            with open(os.path.join(self.tmp, "droverd", "droverd.out"), "rb") as f:
                return f.read()[-n:].decode(errors="replace")
        except OSError:
            return ""

    # ------------------------------------------------------------ one node

    def node(self, kind, role, *extra):
        """argv of one master, worker or probe of the given kind."""
        if kind == "c":
            return [self.qbench, role, "--endpoint", self.endpoint, "--authkey-file", self.key] + list(extra)
        argv = [PYTHON, PYNODE, "--kind", "managers" if kind == "managers" else "drover",
                "--role", role, "--authkey-file", self.key]
        if kind == "managers":
            argv += ["--port", str(self.mgr_port)]
        else:
            argv += ["--endpoint", self.endpoint]
        return argv + list(extra)

    def start_managers(self):
        self.mgr_port = free_port()
        self.mgr = self.spawn(self.node("managers", "server"))
        self.read_json(self.mgr, "the manager")
        wait_port(self.mgr_port, self.mgr)
        say("multiprocessing manager %d on 127.0.0.1:%d" % (self.mgr.pid, self.mgr_port))

    def flow(self, kind, workers, mode):
        """One task_master/task_worker run: returns the master's figures.
        mode "batch": workers move BATCH tasks per call (get_many, put_many,
        ack_many); "single": one get, put and ack per task, as the examples
        do. The managers have one mode: a call per task."""
        extra = []
        if kind != "managers":
            # Fresh queues for each run: nothing one run leaves behind (a
            # redelivered task, say) can count in the next.
            self.run_no += 1
            extra = ["--tasks-queue", "t%d" % self.run_no, "--results-queue", "r%d" % self.run_no]
            extra += (["--batch", str(self.batch)] if mode == "batch" else
                      ["--batch", "1", "--prefetch", str(self.prefetch)])
        ws = [self.spawn(self.node(kind, "worker", *extra)) for _ in range(workers)]
        m = None
        try:
            for i, w in enumerate(ws):
                self.read_json(w, "%s worker %d" % (kind, i), timeout=30)
            server = self.mgr.pid if kind == "managers" else self.d.pid
            cpu0, t0 = cpu_seconds(server), now()
            m = self.spawn(self.node(kind, "master", "--tasks", str(self.tasks),
                                     "--workers", str(workers), *extra[:4]))
            r = self.read_json(m, "%s master" % kind)
            r["server_cpu"] = (cpu_seconds(server) - cpu0) / (now() - t0)
            self.finish(m)
            done = []
            for i, w in enumerate(ws):
                done.append(self.read_json(w, "%s worker %d" % (kind, i)).get("done"))
                self.finish(w)
        except BaseException:
            for p in ws + [m]:
                if p is not None and p in self.procs:
                    try:
                        os.killpg(p.pid, signal.SIGKILL)
                    except OSError:
                        pass
                    self.finish(p, 5)
            raise
        r["per_worker"] = done
        if not r.get("ok"):
            self.notes.append("%s: the sum of the results was WRONG" % LABEL[kind])
        return r

    def consumers(self, name):
        c = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=5)
        c.request("GET", "/api/v1/queues")
        qs = json.loads(c.getresponse().read())
        c.close()
        return next((q["consumers"] for q in qs if q["name"] == name), 0)

    def example(self, kind, role, *extra):
        """argv of the shipped example program examples/task_ROLE[.py]."""
        if kind == "c":
            argv = [os.path.join(self.build, "examples", "task_" + role)]
        else:
            argv = [PYTHON, os.path.join(ROOT, "examples", "task_%s.py" % role)]
        return argv + list(extra) + [self.endpoint, self.key]

    def example_flow(self, kind, workers):
        """The examples as shipped (kind c or python), or the managers'
        classic example: workers started and waiting, then the master;
        returns the master process's seconds from start to exit, and the
        server's CPU seconds meanwhile (droverd's, or the manager process's):
        a figure the load of the machine barely moves."""
        end = now() + 30
        while kind != "managers" and self.consumers("tasks") != 0:   # the last run's are gone
            if now() > end:
                raise RuntimeError("the last run's workers are still connected")
            time.sleep(0.02)
        if kind == "managers":
            ws = [self.spawn(self.node("managers", "worker")) for _ in range(workers)]
        else:
            ws = [self.spawn(self.example(kind, "worker", "-i", "600")) for _ in range(workers)]
        try:
            if kind == "managers":
                for i, w in enumerate(ws):
                    self.read_json(w, "managers worker %d" % i, timeout=30)
            else:
                end = now() + 30
                while self.consumers("tasks") < workers:
                    if now() > end:
                        raise RuntimeError("the example workers did not connect")
                    time.sleep(0.02)
            server = self.mgr.pid if kind == "managers" else self.d.pid
            cpu0, t0 = cpu_seconds(server), now()
            if kind == "managers":
                m = self.spawn(self.node("managers", "master", "--tasks", str(self.ex_tasks),
                                         "--workers", str(workers)))
                r = self.read_json(m, "managers master")
                self.finish(m)
                ok = r.get("ok")
            else:
                m = self.spawn(self.example(kind, "master", "-n", str(self.ex_tasks)))
                out = m.stdout.read().decode(errors="replace")
                m.wait(600)
                ok = m.returncode == 0 and out.rstrip().endswith("ok")
                self.finish(m)
            seconds = now() - t0
            cpu = cpu_seconds(server) - cpu0
            if not ok:
                self.notes.append("%s example: the master failed or the sum was WRONG" % LABEL[kind])
        finally:
            for w in ws:
                if kind == "managers" and w.poll() is None:
                    try:
                        self.read_json(w, "managers worker", timeout=30)
                    except Exception:
                        pass
                try:
                    os.killpg(w.pid, signal.SIGKILL)
                except OSError:
                    pass
                self.finish(w, 5)
        return seconds, cpu

    def probe(self, kind, role, *extra):
        p = self.spawn(self.node(kind, role, *extra))
        r = self.read_json(p, "%s %s" % (kind, role))
        self.finish(p)
        return r


def run_floors(h, res):
    """One request's round trip with nothing behind it: a ZeroMQ echo with
    CURVE (what a drover request rides on) and a plain TCP socket echo (what
    a managers call rides on), Python at both ends."""
    r = res.setdefault("floor", {})
    for kind in ("zmq", "tcp"):
        port = free_port()
        argv = [PYTHON, PYNODE, "--kind", kind, "--port", str(port), "--authkey-file", h.key]
        srv = h.spawn(argv + ["--role", "echo_server"])
        p50s, p99s = [], []
        try:
            h.read_json(srv, "%s echo server" % kind, timeout=30)
            for k in range(h.runs):
                cl = h.spawn(argv + ["--role", "echo", "--count", str(h.rtt)])
                xs = h.read_json(cl, "%s echo" % kind)["lat_us"]
                h.finish(cl)
                p50s.append(pct(xs, 50))
                p99s.append(pct(xs, 99))
        except Exception as e:
            say("ERROR %s echo: %s" % (kind, e))
            continue
        finally:
            if kind == "zmq" and p50s:
                h.echo = argv  # its server stays, for the echoes beside each round trip run
            else:
                try:
                    os.killpg(srv.pid, signal.SIGKILL)
                except OSError:
                    pass
                h.finish(srv)
        r[kind] = {"p50_us": median(p50s), "p99_us": median(p99s)}
        say("floor: %s echo round trip: p50 %.1f us, p99 %.1f us" %
            (kind, r[kind]["p50_us"], r[kind]["p99_us"]))


def run_examples(h, res):
    """The shipped examples, one call at a time, beside the managers'
    classic example: master + W workers and master + 1 worker, h.runs runs
    each, kinds interleaved so that a change of load hits all of them."""
    kinds = [k for k in ("managers", "c", "python") if k in h.a.only]
    for workers in (h.workers, 1):
        times = {k: [] for k in kinds}
        cpus = {k: [] for k in kinds}
        for run in range(h.runs):
            for kind in kinds:
                try:
                    t, cpu = h.example_flow(kind, workers)
                except KeyboardInterrupt:
                    raise
                except Exception as e:
                    msg = "%s example, %d workers: %s: %s" % (LABEL[kind], workers,
                                                             type(e).__name__, e)
                    say("ERROR " + msg)
                    res.setdefault(kind, {}).setdefault("errors", []).append(msg)
                    continue
                times[kind].append(t)
                cpus[kind].append(cpu)
                say("%s example: %d tasks, %d workers: %.2f s (%.0f tasks/s), server CPU %.3f s" %
                    (LABEL[kind], h.ex_tasks, workers, t, h.ex_tasks / t, cpu))
        for kind in kinds:
            if times[kind]:
                res.setdefault(kind, {})["example_%d" % workers] = {
                    "runs": times[kind], "median_s": median(times[kind]),
                    "server_cpu_runs": cpus[kind], "server_cpu_s": median(cpus[kind])}
        # Each run's ratio against the managers' run beside it: a change of
        # load during the run hits both sides of one ratio.
        m = times.get("managers") or []
        for kind in ("c", "python"):
            t = times.get(kind) or []
            if m and len(t) == len(m):
                rs = [a / b for a, b in zip(m, t)]
                h.notes.append("examples, %d worker%s, %s: run by run %s x the managers (median %.1fx)" %
                               (workers, "s" if workers > 1 else "", LABEL[kind],
                                ", ".join("%.1f" % r for r in rs), median(rs)))


def echo_p50(h):
    """One run of h.rtt ZeroMQ+CURVE echoes against the floor's server: its
    p50 (us), or None."""
    if not getattr(h, "echo", None):
        return None
    try:
        cl = h.spawn(h.echo + ["--role", "echo", "--count", str(h.rtt)])
        xs = h.read_json(cl, "zmq echo")["lat_us"]
        h.finish(cl)
        return pct(xs, 50)
    except Exception as e:
        say("ERROR zmq echo: %s" % e)
        return None


def measure_rtt(h, kind, step, what, label, *extra, echoes=False):
    """h.runs runs of h.rtt put+get round trips by one client of kind: the
    median over the runs of each run's p50 and p99, or None. With echoes,
    each run follows a run of ZeroMQ echoes, so that a change of load hits
    both sides of the run's ratio (its p50 against two echoes' p50)."""
    p50s, p99s, twos = [], [], []
    for k in range(h.runs):
        e = echo_p50(h) if echoes else None
        lat = step(what, lambda: h.probe(kind, "rtt", "--count", str(h.rtt), *extra))
        if not lat:
            break
        xs = lat["lat_us"]
        p50s.append(pct(xs, 50))
        p99s.append(pct(xs, 99))
        if e:
            twos.append(2 * e)
        say("%s: %s: p50 %.1f us, p99 %.1f us (%d)%s" %
            (LABEL[kind], label, p50s[-1], p99s[-1], len(xs),
             ", two echoes just before: %.1f us" % (2 * e) if e else ""))
    if not p50s:
        return None
    r = {"count": h.rtt, "runs": len(p50s), "p50_us": median(p50s),
         "p99_us": median(p99s), "p50s": p50s, "p99s": p99s}
    if len(twos) == len(p50s):
        r["two_echoes_us"] = twos
        r["vs_two_echoes"] = [a / b for a, b in zip(p50s, twos)]
        r["vs_two_echoes_median"] = median(r["vs_two_echoes"])
        h.notes.append("sync round trip, %s: run by run %s x the two echoes run just before "
                       "it (median %.2fx)" % (LABEL[kind], ", ".join(
                           "%.2f" % x for x in r["vs_two_echoes"]), r["vs_two_echoes_median"]))
    return r


def run_kind(h, kind, res):
    r = res.setdefault(kind, {})
    errors = r.setdefault("errors", [])

    def step(what, fn):
        try:
            return fn()
        except KeyboardInterrupt:
            raise
        except Exception as e:
            msg = "%s: %s: %s: %s" % (LABEL[kind], what, type(e).__name__, e)
            say("ERROR " + msg)
            errors.append(msg)
            h.kill_all_workers = True
            return None

    if kind == "managers":
        plan = (("single", h.workers, h.runs), ("single", 1, 1))
    else:
        plan = (("batch", h.workers, h.runs), ("single", h.workers, h.runs), ("batch", 1, 1))
    for mode, workers, runs in plan:
        rates, cpus = [], []
        for k in range(runs):
            f = step("%d workers" % workers, lambda: h.flow(kind, workers, mode))
            if f is None:
                break
            rates.append(f["tasks_s"])
            cpus.append(f["server_cpu"])
            say("%s (%s): %d tasks, %d workers: %.0f tasks/s (puts alone took %.2f s), "
                "per worker %s, server CPU %.0f%%" %
                (LABEL[kind], mode, f["tasks"], workers, f["tasks_s"], f["put_seconds"],
                 f["per_worker"], 100 * f["server_cpu"]))
        if rates:
            r["flow_%s_%d" % (mode, workers)] = {"runs": rates, "median": median(rates),
                                                 "server_cpu": median(cpus)}
    rtt = measure_rtt(h, kind, step, "round trips", "put+get round trip",
                      echoes=kind != "managers")
    if rtt:
        r["rtt"] = rtt
    if kind == "c":
        # The same with the put pipelined and the get standing at droverd
        # (prefetch): one ZeroMQ round trip instead of two.
        rtt = measure_rtt(h, kind, step, "pipelined round trips", "pipelined put+get",
                          "--pipelined")
        if rtt:
            r["rtt_pipe"] = rtt
    if kind != "managers":
        for what, batch, count in (("durable", h.batch, h.durable),
                                   ("durable_single", 1, h.durable_single)):
            q = "%s_%s" % (what, kind)
            d = step(what, lambda: h.probe(kind, "durable", "--count", str(count), "--queue", q,
                                           "--batch", str(batch)))
            if d:
                r[what] = d
                say("%s: %d durable puts, %d per call: %.0f/s (queue size after: %s)" %
                    (LABEL[kind], d["puts"], batch, d["puts_s"], d.get("size")))
                if d.get("size") != d["puts"]:
                    h.notes.append("%s: durable queue holds %s messages after %d puts" %
                                   (LABEL[kind], d.get("size"), d["puts"]))


# ---------------------------------------------------------------- drover.managers

# The classic task_master/task_worker of multiprocessing.managers at scale:
# one text, run once with Python's managers and once with drover.managers,
# only the import line and the address differing. The harness's additions:
# the master waits for a line on stdin (the workers are connected) and times
# itself; each worker stops at a None task; no line printed per task.
DM_MASTER = """\
import json, queue, sys, time
from multiprocessing.managers import BaseManager

task_queue = queue.Queue()
result_queue = queue.Queue()

class QueueManager(BaseManager):
    pass

QueueManager.register('get_task_queue', callable=lambda: task_queue)
QueueManager.register('get_result_queue', callable=lambda: result_queue)
manager = QueueManager(address=ADDRESS, authkey=AUTHKEY)
manager.start()
task = manager.get_task_queue()
result = manager.get_result_queue()
tasks, workers = int(sys.argv[1]), int(sys.argv[2])
print(json.dumps({"ready": True}), flush=True)
sys.stdin.readline()
t0 = time.monotonic()
for n in range(tasks):
    task.put(n)
for i in range(workers):
    task.put(None)
t_put = time.monotonic()
total = 0
for i in range(tasks):
    r = result.get(timeout=120)
    total += int(r.split(' = ')[1])
t1 = time.monotonic()
manager.shutdown()
ok = total == sum(n * n for n in range(tasks))
print(json.dumps({"tasks": tasks, "seconds": t1 - t0, "tasks_s": tasks / (t1 - t0),
                  "put_seconds": t_put - t0, "ok": ok}), flush=True)
"""
DM_WORKER = """\
import json, queue, sys, time
from multiprocessing.managers import BaseManager

class QueueManager(BaseManager):
    pass

QueueManager.register('get_task_queue')
QueueManager.register('get_result_queue')
m = QueueManager(address=ADDRESS, authkey=AUTHKEY)
m.connect()
task = m.get_task_queue()
result = m.get_result_queue()
print(json.dumps({"ready": True}), flush=True)
done = 0
while True:
    n = task.get(timeout=120)
    if n is None:
        break
    r = '%d * %d = %d' % (n, n, n*n)
    result.put(r)
    done += 1
print(json.dumps({"done": done}), flush=True)
"""
DM_IMPORTS = {"managers": "from multiprocessing.managers import BaseManager",
                   "drover": "from drover.managers import BaseManager"}


def dm_text(text, kind, address, key):
    return (text.replace(DM_IMPORTS["managers"], DM_IMPORTS[kind])
            .replace("ADDRESS", repr(address)).replace("AUTHKEY", repr(key)))


def dm_droverd(h):
    """A droverd of its own for the example, with the queues named after
    its typeids (nothing else's queues or figures are touched)."""
    d = os.path.join(h.tmp, "example-droverd")
    os.makedirs(d)
    port, http_port = free_port(), free_port()
    cap = 2 * h.dm_tasks + 1000
    conf = os.path.join(d, "drover.yaml")
    with open(conf, "w") as f:
        f.write("\n".join([
            "supervisor:",
            "  name: qbench-example",
            "  state_dir: %s" % os.path.join(d, "var"),
            "  log_dir: %s" % os.path.join(d, "log"),
            "  http: { listen: \"127.0.0.1:%d\" }" % http_port,
            "  agents: { listen: \"tcp://127.0.0.1:%d\" }" % free_port(),
            "  queues:",
            "    listen: \"tcp://127.0.0.1:%d\"" % port,
            "    authkey_file: %s" % h.key,
            "groups: {}",
            "queues:",
            "  get_task_queue: { capacity: %d }" % cap,
            "  get_result_queue: { capacity: %d }" % cap]) + "\n")
    out = open(os.path.join(d, "droverd.out"), "wb")
    p = subprocess.Popen([h.droverd, "-c", conf], stdin=subprocess.DEVNULL, stdout=out,
                         stderr=subprocess.STDOUT, start_new_session=True, cwd=d)
    out.close()
    h.procs.append(p)
    wait_http(http_port, p)
    return p, port


def dm_flow(h, kind, address, key):
    """One run of the example: the master starts (with the managers, its
    server), the workers connect, then the master puts and collects."""
    texts = {}
    for role, text in (("master", DM_MASTER), ("worker", DM_WORKER)):
        texts[role] = os.path.join(h.tmp, "example_%s_%s.py" % (kind, role))
        with open(texts[role], "w") as f:
            f.write(dm_text(text, kind, address, key))
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "client", "python"))
    m = subprocess.Popen([PYTHON, texts["master"], str(h.dm_tasks), str(h.workers)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
                         start_new_session=True)
    h.procs.append(m)
    ws, ok = [], False
    try:
        h.read_json(m, "%s example master" % kind, timeout=60)
        for i in range(h.workers):
            ws.append(h.spawn([PYTHON, texts["worker"]], env=env))
        for i, w in enumerate(ws):
            h.read_json(w, "%s example worker %d" % (kind, i), timeout=60)
        m.stdin.write(b"go\n")
        m.stdin.close()
        r = h.read_json(m, "%s example master" % kind)
        r["per_worker"] = [h.read_json(w, "%s example worker" % kind).get("done") for w in ws]
        ok = True
    finally:
        for p in ws + [m]:
            if not ok:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except OSError:
                    pass
            if not m.stdin.closed:
                m.stdin.close()
            h.finish(p, 30)
    return r


def run_drover_managers(h, res):
    """The example, h.dm_tasks tasks and h.workers workers, h.runs
    times on each side; res["drover_managers"] gets the medians and the ratio."""
    with open(h.key, "rb") as f:
        key = f.readline().strip()
    r = res.setdefault("drover_managers", {"tasks": h.dm_tasks, "workers": h.workers})
    d = None
    rates = {"managers": [], "drover": []}
    try:
        d, port = dm_droverd(h)
        # Runs alternate between the two, so that a busy spell of the
        # machine does not fall on one side only.
        for k in range(h.runs):
            for kind, addr in (("managers", ("127.0.0.1", free_port())),
                               ("drover", ("127.0.0.1", port))):
                if len(rates[kind]) < k:
                    continue        # it failed before
                try:
                    f = dm_flow(h, kind, addr, key)
                except Exception as e:
                    say("ERROR example on %s: %s: %s" % (kind, type(e).__name__, e))
                    r.setdefault("errors", []).append("%s: %s" % (kind, e))
                    continue
                if not f.get("ok"):
                    h.notes.append("the example on %s: the sum of the results was WRONG" % kind)
                rates[kind].append(f["tasks_s"])
                say("example on %s: %d tasks, %d workers: %.0f tasks/s (puts alone took %.2f s), "
                    "per worker %s" % (kind, f["tasks"], h.workers, f["tasks_s"], f["put_seconds"],
                                       f["per_worker"]))
        for kind, xs in rates.items():
            if xs:
                r[kind] = {"runs": xs, "median": median(xs)}
    finally:
        if d is not None:
            if d.poll() is None:
                d.send_signal(signal.SIGTERM)
                try:
                    d.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(d.pid, signal.SIGKILL)
            h.finish(d, 5)
    dm, mm = get(r, "drover", "median"), get(r, "managers", "median")
    r["ratio"] = dm / mm if dm and mm else None


def dm_main(h):
    """--drover-managers-only: the example on both managers alone."""
    if not os.access(h.droverd, os.X_OK):
        say("droverd is not built (%s)" % h.droverd)
        return 1
    res = {"machine": machine(), "command": " ".join(["bench/queues/run.py"] + sys.argv[1:])}
    h.tmp = tempfile.mkdtemp(prefix="drover-qbench-")
    h.key = os.path.join(h.tmp, "queue.key")
    with open(h.key, "w") as f:
        f.write(os.urandom(24).hex() + "\n")
    os.chmod(h.key, 0o600)
    try:
        run_drover_managers(h, res)
    except KeyboardInterrupt:
        say("interrupted: cleaning up")
        return 130
    finally:
        h.kill_all()
        if not h.a.keep:
            shutil.rmtree(h.tmp, ignore_errors=True)
    print()
    print("drover queue benchmarks: %s" % res["command"])
    print(res["machine"])
    print("tasks/s: median of %d runs" % h.runs)
    print()
    print(dm_table(res))
    for e in get(res, "drover_managers", "errors") or []:
        print("  error: " + e)
    for note in h.notes:
        print("  note: " + note)
    return 0


def dm_table(res):
    """The example's row: drover.managers against multiprocessing.managers."""
    r = res.get("drover_managers")
    if not r:
        return ""
    ratio = r.get("ratio")
    return "\n".join([
        "the managers' task_master/task_worker, unchanged but for the import and the address "
        "(%d tasks, %d workers):" % (r["tasks"], r["workers"]),
        "  multiprocessing.managers  %s tasks/s" % fmt(get(r, "managers", "median"), 0),
        "  drover.managers           %s tasks/s" % fmt(get(r, "drover", "median"), 0),
        "  ratio                     %s   target >= 5x: %s" % (
            "-" if ratio is None else "%.1fx" % ratio,
            "-" if ratio is None else ("PASS" if ratio >= 5 else "MISS"))])


# ---------------------------------------------------------------- the table

def table(h, res):
    C, P, M = res.get("c", {}), res.get("python", {}), res.get("managers", {})
    F = res.get("floor", {})
    rows = []

    def ratio(x, base, higher_better):
        if not isinstance(x, (int, float)) or not isinstance(base, (int, float)) or not x or not base:
            return None
        return x / base if higher_better else base / x

    def rfmt(r):
        return "-" if r is None else ("%.1fx" % r if r < 100 else "%.0fx" % r)

    def row(label, c, p, m, digits, higher_better, target="", verdict="", f=None):
        """higher_better None: no ratios."""
        rc = rp = None
        if higher_better is not None:
            rc, rp = ratio(c, m, higher_better), ratio(p, m, higher_better)
        rows.append((label, fmt(c, digits), fmt(p, digits), fmt(m, digits), fmt(f, digits),
                     rfmt(rc), rfmt(rp), target, verdict))

    def judge(*checks):
        """checks: (name, ratio or value, minimum)"""
        out = []
        for name, v, least in checks:
            if v is None:
                out.append("%s -" % name if name else "-")
            else:
                out.append(("%s %s" % (name, "PASS" if v >= least else "MISS")).strip())
        return ", ".join(out)

    w = h.workers
    for nw in (w, 1):
        c, p, m = (get(R, "example_%d" % nw, "median_s") for R in (C, P, M))
        row("examples as shipped, %d tasks, master + %d worker%s (s)" %
            (h.ex_tasks, nw, "s" if nw > 1 else ""), c, p, m, 2, False,
            "C >= 10x, Py >= 5x",
            judge(("C", ratio(c, m, False), 10), ("Py", ratio(p, m, False), 5)))
        if c and p and m:
            row("  same in tasks/s", h.ex_tasks / c, h.ex_tasks / p, h.ex_tasks / m, 0, True)
        row("  server CPU per run (s: droverd, the manager)",
            *(get(R, "example_%d" % nw, "server_cpu_s") for R in (C, P, M)), 3, False)
    m = get(M, "flow_single_%d" % w, "median")
    c, p = get(C, "flow_batch_%d" % w, "median"), get(P, "flow_batch_%d" % w, "median")
    row("tasks/s, master + %d workers, %d tasks, batches of %d" % (w, h.tasks, h.batch),
        c, p, m, 0, True, "C >= 30x, Py >= 3x",
        judge(("C", ratio(c, m, True), 30), ("Py", ratio(p, m, True), 3)))
    c, p = (get(R, "flow_batch_%d" % w, "server_cpu") for R in (C, P))
    row("  server CPU meanwhile (% of one core)", c and 100 * c, p and 100 * p,
        (get(M, "flow_single_%d" % w, "server_cpu") or 0) * 100 or None, 0, None)
    c, p = get(C, "flow_single_%d" % w, "median"), get(P, "flow_single_%d" % w, "median")
    row("  same, one get/put/ack per task (prefetch %d)" % h.prefetch, c, p, m, 0, True,
        "(not a target)", "")
    c, p = get(C, "flow_batch_1", "median"), get(P, "flow_batch_1", "median")
    row("tasks/s, master + 1 worker, batches of %d" % h.batch, c, p,
        get(M, "flow_single_1", "median"), 0, True)
    def within(R, two):
        """How far under 1.1 x two echoes R's round trip is (>= 1: within):
        the median of its runs each against the echoes run just before it,
        else its median against the floor's."""
        v = get(R, "rtt", "vs_two_echoes_median")
        if v:
            return 1.1 / v
        return ratio(get(R, "rtt", "p50_us"), two and 1.1 * two, False)

    for q in ("p50", "p99"):
        c, p, m = (get(R, "rtt", q + "_us") for R in (C, P, M))
        z = get(F, "zmq", q + "_us")
        two = 2 * z if z else None
        row("sync round trip: put, flush, get, %s (us)" % q, c, p, m, 1, False,
            "p50 <= 1.1 x two echoes" if q == "p50" else "",
            judge(("C", within(C, two), 1), ("Py", within(P, two), 1)) if q == "p50" else "",
            f=two)
    for q in ("p50", "p99"):
        c, m = get(C, "rtt_pipe", q + "_us"), get(M, "rtt", q + "_us")
        row("  same, put pipelined, get prefetched, %s (us)" % q, c, None, m, 1, False,
            "(not a target)", "")
    for q in ("p50", "p99"):
        row("  floor: one ZeroMQ+CURVE echo, %s (us)" % q, None, None, None, 1, False,
            f=get(F, "zmq", q + "_us"))
    for q in ("p50", "p99"):
        row("  floor: one plain TCP echo, %s (us)" % q, None, None, None, 1, False,
            f=get(F, "tcp", q + "_us"))
    c, p = get(C, "durable", "puts_s"), get(P, "durable", "puts_s")
    row("durable queue puts/s, %d per call" % h.batch, c, p, None, 0, True, ">= 50,000/s",
        judge(("C", c, 50000), ("Py", p, 50000)))
    c, p = get(C, "durable_single", "puts_s"), get(P, "durable_single", "puts_s")
    row("durable, one put per call, then flush: puts/s", c, p, None, 0, True, ">= 50,000/s",
        judge(("C", c, 50000), ("Py", p, 50000)))

    head = ("metric", LABEL["c"], LABEL["python"], LABEL["managers"], "floor", "C/mgr", "Py/mgr",
            "target", "result")
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    lines = []
    for r in [head, tuple("-" * w for w in widths)] + rows:
        lines.append("  ".join((str(c).ljust(w) if i in (0, 7, 8) else str(c).rjust(w))
                               for i, (c, w) in enumerate(zip(r, widths))).rstrip())
    return "\n".join(lines)


# ---------------------------------------------------------------- main

def build(h, a):
    if not a.no_build:
        build_targets(h.build, (["qbench"] if a.droverd else ["droverd", "qbench"]) +
                      ["task_master", "task_worker"])
    # The Python client's bytecode, as an installed package has it (and as
    # the standard library that the managers' example runs on has it): with
    # PYTHONDONTWRITEBYTECODE in the environment every start of an example
    # would compile the client again (about 10 ms).
    subprocess.run([PYTHON, "-m", "compileall", "-q", os.path.join(ROOT, "client", "python", "drover")],
                   stdout=subprocess.DEVNULL)


def machine():
    zmq = subprocess.run([PYTHON, "-c", "import zmq; print(zmq.zmq_version(), zmq.__version__)"],
                         capture_output=True, text=True).stdout.split()
    return machine_line(", Python %s%s" % (
        platform.python_version(), ", libzmq %s, pyzmq %s" % tuple(zmq) if len(zmq) == 2 else ""))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="10,000 tasks, one run each")
    ap.add_argument("--only", default=",".join(KINDS), help="comma-separated subset of c,python,managers")
    ap.add_argument("--tasks", type=int, default=0, help="tasks per run (default 100,000)")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--batch", type=int, default=100,
                    help="drover: tasks per get_many/put_many/ack_many in the batch rows (100)")
    ap.add_argument("--prefetch", type=int, default=10,
                    help="drover: prefetch of get() in the one-call-per-message rows (10)")
    ap.add_argument("--runs", type=int, default=0, help="runs of the flow with the workers (median shown)")
    ap.add_argument("--example-tasks", type=int, default=20000,
                    help="tasks per run of the shipped examples (20,000)")
    ap.add_argument("--no-examples", action="store_true", help="leave out the shipped examples")
    ap.add_argument("--examples-only", action="store_true", help="only the shipped examples")
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build-bench"))
    ap.add_argument("--droverd", help="droverd binary (default: BUILD/supervisor/droverd)")
    ap.add_argument("--no-build", action="store_true", help="do not build droverd and qbench")
    ap.add_argument("--json", help="write every figure to this file")
    ap.add_argument("--drover-managers-tasks", type=int, default=20000,
                    help="tasks of the managers' example run on multiprocessing.managers and on "
                    "drover.managers (20,000; 0: leave it out)")
    ap.add_argument("--drover-managers-only", action="store_true",
                    help="only the managers' example on multiprocessing.managers and drover.managers")
    ap.add_argument("--keep", action="store_true", help="keep the temp directory")
    a = ap.parse_args()
    a.only = [k for k in a.only.split(",") if k]
    for k in a.only:
        if k not in KINDS:
            ap.error("--only: unknown %r" % k)
    h = Harness(a)
    h.a = a

    def on_term(signum, frame):
        raise KeyboardInterrupt()

    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)

    build(h, a)
    h.dm_tasks = a.drover_managers_tasks
    if a.drover_managers_only:
        return dm_main(h)
    if ("c" in a.only or "python" in a.only) and not os.access(h.droverd, os.X_OK):
        say("droverd is not built (%s): drover is left out of this run" % h.droverd)
        h.notes.append("droverd was not built: no drover figures")
        a.only = [k for k in a.only if k == "managers"]
    if "c" in a.only and not os.access(h.qbench, os.X_OK):
        say("qbench is not built (%s; it needs libdrover): the C client is left out" % h.qbench)
        h.notes.append("qbench (libdrover) was not built: no C client figures")
        a.only.remove("c")
    if "python" in a.only and subprocess.run([PYTHON, "-c", "import zmq"]).returncode != 0:
        say("%s cannot import zmq (apt-get install python3-zmq): the Python client is left out" % PYTHON)
        a.only.remove("python")

    res = {"machine": machine(), "tasks": h.tasks, "workers": h.workers, "runs": h.runs,
           "command": " ".join(["bench/queues/run.py"] + sys.argv[1:])}
    h.tmp = tempfile.mkdtemp(prefix="drover-qbench-")
    h.key = os.path.join(h.tmp, "queue.key")
    with open(h.key, "w") as f:
        f.write(os.urandom(24).hex() + "\n")
    os.chmod(h.key, 0o600)
    rc = 0
    try:
        if "c" in a.only or "python" in a.only:
            h.start_droverd()
        if "managers" in a.only:
            h.start_managers()
        if not a.examples_only:
            run_floors(h, res)
        if not h.a.no_examples:
            run_examples(h, res)
        for kind in (() if h.a.examples_only else KINDS):
            if kind in a.only:
                run_kind(h, kind, res)
                h.kill_all_workers = False
                if kind != "managers" and h.d.poll() is not None:
                    say("droverd died (status %s):\n%s" % (h.d.returncode, h.droverd_output()))
                    h.notes.append("droverd died during the %s run" % LABEL[kind])
                    break
        if h.dm_tasks and "python" in a.only and "managers" in a.only:
            run_drover_managers(h, res)
    except KeyboardInterrupt:
        say("interrupted: cleaning up")
        rc = 130
    except Exception as e:
        say("ERROR: %s: %s" % (type(e).__name__, e))
        if h.d is not None:
            say("droverd's output:\n%s" % h.droverd_output())
        rc = 1
    finally:
        h.kill_all()
        h.stop_droverd()
        if not a.keep:
            shutil.rmtree(h.tmp, ignore_errors=True)
        else:
            say("kept %s" % h.tmp)
    if rc:
        return rc

    print()
    print("drover queue benchmarks: %s" % res["command"])
    print(res["machine"])
    print("examples: the master's seconds from start to exit, median of %d runs; tasks/s: "
          "median of %d runs with %d workers (1 run with 1 worker); round trip: median of %d "
          "runs of %d put, flush, get by one client (the ack, asynchronous, is sent after the "
          "timed part); ratios: how many times better than the managers" %
          (h.runs, h.runs, h.workers, h.runs, h.rtt))
    print()
    print(table(h, res))
    print()
    if res.get("drover_managers"):
        print(dm_table(res))
        print()
    for kind in KINDS:
        for e in get(res, kind, "errors") or []:
            print("  error: " + e)
    for note in h.notes:
        print("  note: " + note)
    if a.json:
        res["notes"] = h.notes
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
