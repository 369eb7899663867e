#!/usr/bin/python3
"""drover's supervisor benchmarks: droverd beside supervisord 4.2 in the same
run, and a bare posix_spawn loop as the machine's floor.

    bench/run.py            full run (about 8 minutes)
    bench/run.py --quick    a small, fast run (about 1.5 minutes)

Measures the time until N workers (`sleep 100000`) are RUNNING in each
supervisor's API, the supervisor's resident memory, its CPU and wakeups while
idle with the big set, restart latency after `kill -9` of a worker, the time
of one full process listing and requests per second with wrk, and the
throughput of log capture of a worker writing 200 MiB (every byte checked by
sha256), alone and beside the big set of idle workers. Prints a table with
ratios ("drover gain": how many times faster, smaller or more drover is) and PASS/MISS against issue 2's targets.

Python 3 standard library only. Every process it starts is stopped at the
end, on error and on Ctrl-C too: the supervisors are shut down, then anything
still carrying this run's tag in its environment is killed. Benchmarks are
not tests: the exit status is 0 whatever the figures are (1 only when the
harness itself could not run).
"""

import argparse
import ctypes
import hashlib
import http.client
import json
import os
import platform
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xmlrpc.client

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TAG_VAR = "DROVER_BENCH_TAG"
TAG = "%d-%d" % (os.getpid(), int(time.time()))
MIB = 1024 * 1024

sys.path.insert(0, HERE)
from benchlib import build as build_targets, fmt, free_port, get, machine as machine_line, median, now, pct, proc_status, say  # noqa: E402


def p99(xs):
    """Nearest-rank 99th percentile."""
    return pct(xs, 99)




# ---------------------------------------------------------------- processes

def child_env():
    env = dict(os.environ)
    env[TAG_VAR] = TAG
    return env


def tagged_pids():
    """Pids of every process that carries this run's tag in its environment."""
    needle = ("%s=%s" % (TAG_VAR, TAG)).encode()
    me = os.getpid()
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == me:
            continue
        try:
            with open("/proc/%s/environ" % d, "rb") as f:
                if needle in f.read().split(b"\0"):
                    pids.append(int(d))
        except OSError:
            pass
    return pids


def reap_orphans():
    """This harness is a child subreaper: orphaned workers come to it."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def kill_tagged(timeout=10.0):
    """SIGKILLs every process of this run still alive; returns how many."""
    killed = 0
    end = now() + timeout
    while now() < end:
        pids = tagged_pids()
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except OSError:
                pass
        time.sleep(0.05)
        reap_orphans()
    reap_orphans()
    return killed


def rss_mib(pid):
    st = proc_status(pid)
    return int(st["VmRSS"].split()[0]) / 1024.0, int(st["VmHWM"].split()[0]) / 1024.0


def mem_detail_mib(pid):
    """What of the resident set is the process's own: anonymous memory
    (heap, stacks, relocated library data) and the private (unshared) pages
    of every thread, from /proc/PID/status and smaps_rollup. The rest of RSS
    is shared library text, the same pages every process using the library
    maps."""
    st = proc_status(pid)
    out = {"anon_mib": int(st.get("RssAnon", "0 kB").split()[0]) / 1024.0}
    priv = 0
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith(("Private_Clean:", "Private_Dirty:")):
                    priv += int(line.split()[1])
        out["private_mib"] = priv / 1024.0
    except OSError:
        pass
    return out


def cpu_sample(pid):
    """CPU and wakeups of every thread of pid: (cpu_ns from schedstat,
    utime+stime ticks from stat, voluntary switches, timeslices, threads)."""
    cpu_ns = vol = slices = 0
    threads = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                a = f.read().split()
            st = proc_status_path("/proc/%d/task/%s/status" % (pid, tid))
        except OSError:
            continue
        cpu_ns += int(a[0])
        slices += int(a[2])
        vol += int(st.get("voluntary_ctxt_switches", "0"))
        threads += 1
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    return cpu_ns, ticks, vol, slices, threads


def proc_status_path(path):
    out = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


# ---------------------------------------------------------------- HTTP

class Http:
    """One keep-alive connection; reconnects when the server closes it."""

    def __init__(self, port, timeout=60.0):
        self.port = port
        self.timeout = timeout
        self.conn = None

    def request(self, method, path, body=None, headers=None):
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, body=body, headers=headers or {})
                r = self.conn.getresponse()
                data = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.close()
                return r.status, data
            except (http.client.HTTPException, ConnectionError, BrokenPipeError) as e:
                self.close()
                if attempt == 1 or isinstance(e, ConnectionRefusedError):
                    raise
        raise RuntimeError("unreachable")

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class ApiError(Exception):
    pass


# ---------------------------------------------------------------- supervisors

class Supervisor:
    """One supervisor instance with `n` sleeping workers and `loggers`
    log writers (not started automatically), in its own temp directory."""

    kind = "?"

    def __init__(self, h, n, loggers):
        self.h = h
        self.n = n
        self.loggers = loggers
        self.dir = tempfile.mkdtemp(prefix="%s-" % self.kind, dir=h.tmp)
        self.log_dir = os.path.join(self.dir, "log")
        os.makedirs(self.log_dir)
        self.port = free_port()
        self.proc = None
        self.pid = None
        self.t_launch = None
        self.out = None

    def ts_file(self, i):
        return os.path.join(self.dir, "loggen.%d.ts" % i)

    def launch(self):
        self.out = open(os.path.join(self.dir, "%s.out" % self.kind), "wb")
        self.t_launch = now()
        self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=self.out,
                                     stderr=subprocess.STDOUT, env=child_env(),
                                     start_new_session=True, cwd=self.dir)
        self.pid = self.proc.pid
        self.h.live.append(self)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def check_alive(self):
        if not self.alive():
            raise ApiError("%s exited with status %s; its output:\n%s" %
                           (self.kind, self.proc.returncode, self.tail_output()))

    def tail_output(self, n=2000):
        try:
            with open(os.path.join(self.dir, "%s.out" % self.kind), "rb") as f:
                return f.read()[-n:].decode(errors="replace")
        except OSError:
            return ""

    def wait_api(self, timeout=30.0):
        end = now() + timeout
        while True:
            self.check_alive()
            try:
                self.list()
                return True
            except (OSError, http.client.HTTPException, ApiError, xmlrpc.client.Error):
                if now() > end:
                    raise
                time.sleep(0.005)

    def stop(self, timeout=120.0):
        """Orderly shutdown; then SIGKILL whatever is left. Returns seconds."""
        if self.proc is None:
            return None
        t0 = now()
        took = None
        if self.alive():
            try:
                self.ask_shutdown()
            except Exception:
                try:
                    os.kill(self.pid, signal.SIGTERM)
                except OSError:
                    pass
            try:
                self.proc.wait(timeout)
                took = now() - t0
            except subprocess.TimeoutExpired:
                say("%s did not stop within %.0f s: killing it" % (self.kind, timeout))
                try:
                    os.killpg(self.pid, signal.SIGKILL)
                except OSError:
                    pass
                self.proc.wait()
        left = len(tagged_pids())
        if left:
            say("%s left %d processes behind after its shutdown: killing them" % (self.kind, left))
            self.h.notes.append("%s left %d processes running after its shutdown (n=%d)" %
                                (self.kind, left, self.n))
        kill_tagged()
        self.proc = None
        if self in self.h.live:
            self.h.live.remove(self)
        if self.out:
            self.out.close()
        return took

    def count_running(self):
        return sum(1 for name, st, pid in self.list() if self.is_worker(name) and st == "RUNNING")


class Drover(Supervisor):
    kind = "droverd"

    def __init__(self, h, n, loggers):
        super().__init__(h, n, loggers)
        self.http = Http(self.port)
        self.conf = os.path.join(self.dir, "drover.yaml")
        lines = [
            "supervisor:",
            "  name: bench",
            "  state_dir: %s" % os.path.join(self.dir, "var"),
            "  log_dir: %s" % self.log_dir,
            "  http: { listen: \"127.0.0.1:%d\" }" % self.port,
            "  agents: { listen: \"tcp://127.0.0.1:%d\" }" % free_port(),
            "  queues: { listen: \"tcp://127.0.0.1:%d\" }" % free_port(),
            "groups:",
        ]
        if n:
            lines += [
                "  w:",
                "    command: [/bin/sleep, \"100000\"]",
                "    instances: %d" % n,
                "    restart: always",
                "    start_timeout: 0s",
            ]
        if loggers:
            lines += [
                "  logger:",
                "    command: [%s, \"%d\", \"%s/loggen.${INSTANCE}.ts\"]" %
                (json.dumps(h.loggen), h.log_bytes, self.dir),
                "    instances: %d" % loggers,
                "    autostart: false",
                "    restart: never",
                "    start_timeout: 0s",
                "    stdout: { file: auto, max_size: 50MB, keep: 10 }",
                "    stderr: ~",
            ]
        if not n and not loggers:
            lines[-1] = "groups: {}"
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")

    def argv(self):
        return [self.h.droverd, "-c", self.conf]

    def worker_name(self, i):
        return "w:%d" % i

    def logger_name(self, i):
        return "logger:%d" % i

    def logger_file(self, i):
        return os.path.join(self.log_dir, "logger:%d.out" % i)

    def is_worker(self, name):
        return name.startswith("w:")

    def _get(self, path):
        status, data = self.http.request("GET", path)
        if status != 200:
            raise ApiError("GET %s: HTTP %d %s" % (path, status, data[:200]))
        return json.loads(data)

    def list(self):
        return [(p["name"], p["state"], p["pid"]) for p in self._get("/api/v1/processes")]

    def one(self, name):
        p = self._get("/api/v1/processes/" + name)
        return p["state"], p["pid"]

    def start(self, name):
        status, data = self.http.request("POST", "/api/v1/processes/%s/start" % name, body=b"{}",
                                         headers={"Content-Type": "application/json"})
        if status // 100 != 2:
            raise ApiError("start %s: HTTP %d %s" % (name, status, data[:200]))

    def ask_shutdown(self):
        os.kill(self.pid, signal.SIGTERM)

    def listing_request(self):
        return "GET", "/api/v1/processes", None, {}

    def listing_count(self, data):
        return len(json.loads(data))

    def wrk_args(self):
        return ["http://127.0.0.1:%d/api/v1/processes" % self.port]


class Supervisord(Supervisor):
    kind = "supervisord"
    XML_LIST = xmlrpc.client.dumps((), "supervisor.getAllProcessInfo").encode()

    def __init__(self, h, n, loggers):
        super().__init__(h, n, loggers)
        self.conf = os.path.join(self.dir, "supervisord.conf")
        self.rpc = xmlrpc.client.ServerProxy("http://127.0.0.1:%d/RPC2" % self.port)
        self.http = Http(self.port)
        text = """[supervisord]
nodaemon=true
logfile=%(dir)s/supervisord.log
pidfile=%(dir)s/supervisord.pid
childlogdir=%(log)s
minfds=%(minfds)d
loglevel=info

[inet_http_server]
port=127.0.0.1:%(port)d

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
""" % {"dir": self.dir, "log": self.log_dir, "port": self.port, "minfds": 4 * (n + loggers) + 256}
        if n:
            text += """
[program:w]
command=/bin/sleep 100000
process_name=w_%%(process_num)d
numprocs=%d
startsecs=0
autorestart=true
""" % n
        if loggers:
            text += """
[program:logger]
command=%s %d %s/loggen.%%(process_num)d.ts
process_name=logger_%%(process_num)d
numprocs=%d
autostart=false
autorestart=false
startsecs=0
stdout_logfile=%s/logger_%%(process_num)d.out
stdout_logfile_maxbytes=50MB
stdout_logfile_backups=10
stderr_logfile=NONE
""" % (h.loggen, h.log_bytes, self.dir, loggers, self.log_dir)
        with open(self.conf, "w") as f:
            f.write(text)

    def argv(self):
        return [self.h.supervisord, "-n", "-c", self.conf]

    def worker_name(self, i):
        return "w:w_%d" % i

    def logger_name(self, i):
        return "logger:logger_%d" % i

    def logger_file(self, i):
        return os.path.join(self.log_dir, "logger_%d.out" % i)

    def is_worker(self, name):
        return name.startswith("w:")

    def list(self):
        return [("%s:%s" % (p["group"], p["name"]), p["statename"], p["pid"])
                for p in self.rpc.supervisor.getAllProcessInfo()]

    def one(self, name):
        p = self.rpc.supervisor.getProcessInfo(name)
        return p["statename"], p["pid"]

    def start(self, name):
        self.rpc.supervisor.startProcess(name, False)

    def ask_shutdown(self):
        self.rpc.supervisor.shutdown()

    def listing_request(self):
        return "POST", "/RPC2", self.XML_LIST, {"Content-Type": "text/xml"}

    def listing_count(self, data):
        return len(xmlrpc.client.loads(data)[0][0])

    def wrk_args(self):
        return ["-s", os.path.join(HERE, "xmlrpc.lua"), "http://127.0.0.1:%d/RPC2" % self.port]


# ---------------------------------------------------------------- measurements

def wait_running(s, timeout):
    """Seconds from launch until all s.n workers are RUNNING in the API.
    Polls the last worker cheaply, then confirms with one full listing; if
    some are not RUNNING yet, keeps polling the full listing."""
    end = s.t_launch + timeout
    last = s.worker_name(s.n - 1)
    while True:
        if now() > end:
            raise ApiError("%d workers not RUNNING after %.0f s" % (s.n, timeout))
        s.check_alive()
        try:
            st, _ = s.one(last)
        except (OSError, http.client.HTTPException, ApiError, xmlrpc.client.Error, KeyError):
            time.sleep(0.002)
            continue
        if st == "RUNNING":
            t = now()
            if s.count_running() == s.n:
                return t - s.t_launch
            break
        time.sleep(0.002)
    while True:
        if now() > end:
            raise ApiError("%d workers not RUNNING after %.0f s" % (s.n, timeout))
        s.check_alive()
        time.sleep(0.01)
        running = s.count_running()
        if running == s.n:
            return now() - s.t_launch


def measure_idle(s, seconds):
    a = cpu_sample(s.pid)
    t0 = now()
    time.sleep(seconds)
    b = cpu_sample(s.pid)
    dt = now() - t0
    return {
        "seconds": dt,
        "cpu_ms": (b[0] - a[0]) / 1e6,
        "cpu_ticks_ms": (b[1] - a[1]) * 1000.0 / os.sysconf("SC_CLK_TCK"),
        "wakeups": b[2] - a[2],
        "timeslices": b[3] - a[3],
        "threads": b[4],
    }


def last_pid():
    with open("/proc/sys/kernel/ns_last_pid") as f:
        return int(f.read())


def ppid_of(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def wait_new_child(s, since_pid, t0, timeout=30.0):
    """Waits, without asking the supervisor anything, for a new child of it:
    watches the kernel's last allocated pid and checks the parent of each
    new one. Returns (pid, seconds since t0) or (None, None)."""
    seen = since_pid
    while now() - t0 < timeout:
        cur = last_pid()
        if cur != seen:
            rng = range(seen + 1, cur + 1) if cur > seen else range(1, cur + 1)
            for pid in rng:
                if ppid_of(pid) == s.pid:
                    return pid, now() - t0
            seen = cur
        time.sleep(0.0005)
    return None, None


def measure_restarts(s, kills, polled=True, first=0):
    """kill -9 of `kills` different workers, one after the other. polled:
    the time until the API shows a new pid RUNNING, polling the API tightly.
    Not polled: the time until a new child of the supervisor exists, seen in
    /proc without a word to the supervisor (so a supervisor that only looks
    at its children when something wakes it is not helped by the polling);
    the API is asked only afterwards, to check that pid is RUNNING."""
    lat = []
    timeouts = 0
    for k in range(kills):
        name = s.worker_name((first + k * s.n // kills) % s.n)
        st, pid = s.one(name)
        if st != "RUNNING" or not pid:
            raise ApiError("%s is %s before the kill" % (name, st))
        base = last_pid()
        t0 = now()
        os.kill(pid, signal.SIGKILL)
        if polled:
            while True:
                st, p2 = s.one(name)
                if st == "RUNNING" and p2 and p2 != pid:
                    lat.append((now() - t0) * 1e3)
                    break
                if now() - t0 > 30:
                    timeouts += 1
                    break
        else:
            p2, dt = wait_new_child(s, base, t0)
            if p2 is None:
                timeouts += 1
            else:
                end = now() + 30
                while now() < end:
                    st, p3 = s.one(name)
                    if st == "RUNNING" and p3 == p2:
                        lat.append(dt * 1e3)
                        break
                    time.sleep(0.01)
                else:
                    timeouts += 1
        time.sleep(0.02)
    return {"n": len(lat), "timeouts": timeouts, "median_ms": median(lat), "p99_ms": p99(lat),
            "max_ms": max(lat) if lat else None}


def measure_listing(s, max_calls, max_seconds):
    method, path, body, headers = s.listing_request()
    conn = Http(s.port, timeout=120)
    status, data = conn.request(method, path, body, headers)
    if status != 200:
        raise ApiError("%s %s: HTTP %d" % (method, path, status))
    count = s.listing_count(data)
    times = []
    end = now() + max_seconds
    while len(times) < max_calls and (now() < end or len(times) < 3):
        t0 = now()
        status, data = conn.request(method, path, body, headers)
        times.append((now() - t0) * 1e3)
    conn.close()
    return {"calls": len(times), "median_ms": median(times), "p99_ms": p99(times),
            "bytes": len(data), "entries": count}


def run_wrk(s, seconds):
    cmd = [shutil.which("wrk"), "-t1", "-c4", "-d%ds" % seconds, "--timeout", "30s"] + s.wrk_args()
    r = subprocess.run(cmd, capture_output=True, text=True, env=child_env(), timeout=seconds + 60)
    m = re.search(r"Requests/sec:\s+([\d.]+)", r.stdout)
    errors = re.search(r"Socket errors:.*", r.stdout)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", r.stdout)
    return {"rps": float(m.group(1)) if m else None,
            "errors": errors.group(0) if errors else None,
            "non2xx": int(non2xx.group(1)) if non2xx else 0,
            "raw": r.stdout + r.stderr}


def rotated_files(base):
    """The capture of one stream in write order: base.K ... base.1, base."""
    d, b = os.path.split(base)
    nums = []
    for f in os.listdir(d):
        if f.startswith(b + "."):
            suffix = f[len(b) + 1:]
            if suffix.isdigit():
                nums.append(int(suffix))
    return ["%s.%d" % (base, k) for k in sorted(nums, reverse=True)] + [base]


def captured_size(base):
    total = 0
    for f in rotated_files(base):
        try:
            total += os.stat(f).st_size
        except OSError:
            pass
    return total


def settle_disk():
    """Writes back the dirty pages of earlier captures, so that their
    writeback does not land in the middle of the next measurement."""
    os.sync()
    time.sleep(0.2)


def read_ts(path):
    try:
        with open(path) as f:
            a = f.read().split()
        if len(a) == 2:
            return float(a[0]), float(a[1])
    except (OSError, ValueError):
        pass
    return None


def check_capture(h, base):
    """sha256 of the files of one capture, concatenated in write order."""
    hs = hashlib.sha256()
    size = 0
    for f in rotated_files(base):
        if not os.path.exists(f):
            continue
        with open(f, "rb") as fh:
            while True:
                b = fh.read(4 * MIB)
                if not b:
                    break
                hs.update(b)
                size += len(b)
    return size, hs.hexdigest()


def finish_capture(h, base, ts, t_done):
    size, digest = check_capture(h, base)
    ok = size == h.log_bytes and digest == h.log_sha
    mbps = h.log_bytes / (t_done - ts[0]) / 1e6
    files = len([f for f in rotated_files(base) if os.path.exists(f)])
    for f in rotated_files(base):
        try:
            os.unlink(f)
        except OSError:
            pass
    return {"mb_s": mbps, "bytes": size, "ok": ok, "files": files,
            "writer_s": ts[1] - ts[0], "seconds": t_done - ts[0]}


def measure_capture(s, i):
    """Starts logger i; throughput from loggen's first write until the last
    byte is in the log file(s); then checks every byte."""
    base = s.logger_file(i)
    tsf = s.ts_file(i)
    timeout = max(120.0, s.h.log_bytes / 2e6)
    settle_disk()
    t0 = now()
    s.start(s.logger_name(i))
    ts = None
    while True:
        if ts is None:
            ts = read_ts(tsf)
        if ts is not None and captured_size(base) >= s.h.log_bytes:
            t_done = now()
            break
        if now() - t0 > timeout:
            raise ApiError("capture of %s incomplete after %.0f s: %d of %d bytes" %
                           (s.logger_name(i), timeout, captured_size(base), s.h.log_bytes))
        time.sleep(0.001)
    time.sleep(0.05)  # let a late rotation settle before reading the files
    r = finish_capture(s.h, base, ts, t_done)
    if not r["ok"]:
        s.h.notes.append("%s: capture %d: %d bytes, sha256 mismatch or short (expected %d)" %
                         (s.kind, i, r["bytes"], s.h.log_bytes))
    return r


# ---------------------------------------------------------------- the floor

def run_floor(h, res):
    f = res.setdefault("floor", {})
    sleep = ["/bin/sleep", "100000"]
    for n in (h.small, h.big):
        for pipes in (False, True):
            key = "spawn_%d%s" % (n, "_pipes" if pipes else "")
            ts = []
            for _ in range(h.runs):
                cmd = [h.spawn_floor, "spawn", str(n)] + (["--pipes"] if pipes else []) + ["--"] + sleep
                out = subprocess.run(cmd, capture_output=True, text=True, env=child_env(),
                                     check=True, timeout=300).stdout
                ts.append(json.loads(out)["seconds"])
                reap_orphans()
            f[key] = {"runs": ts, "median_s": median(ts)}
            say("floor: %d spawns%s: %.3f s (median of %d)" %
                (n, " with pipes" if pipes else "", median(ts), len(ts)))
    out = subprocess.run([h.spawn_floor, "restart", str(h.kills), "--"] + sleep, capture_output=True,
                         text=True, env=child_env(), check=True, timeout=300).stdout
    f["restart"] = json.loads(out)
    say("floor: kill -9 + respawn: median %.2f ms" % f["restart"]["median_ms"])
    caps = []
    d = tempfile.mkdtemp(prefix="floor-", dir=h.tmp)
    for i in range(h.log_reps):
        base = os.path.join(d, "cap%d.out" % i)
        tsf = os.path.join(d, "ts%d" % i)
        settle_disk()
        out = subprocess.run([h.spawn_floor, "capture", base, "--", h.loggen, str(h.log_bytes), tsf],
                             capture_output=True, text=True, env=child_env(), check=True,
                             timeout=600).stdout
        caps.append(finish_capture(h, base, read_ts(tsf), json.loads(out)["end"]))
    f["log_alone"] = {"reps": caps, "median_mb_s": median([c["mb_s"] for c in caps]),
                      "ok": all(c["ok"] for c in caps)}
    say("floor: pipe -> splice -> file: %.0f MB/s" % f["log_alone"]["median_mb_s"])


# ---------------------------------------------------------------- a supervisor

def run_supervisor(h, cls, res):
    r = res.setdefault(cls.kind, {})
    errors = r.setdefault("errors", [])

    def step(what, fn):
        try:
            return fn()
        except KeyboardInterrupt:
            raise
        except Exception as e:
            msg = "%s: %s: %s: %s" % (cls.kind, what, type(e).__name__, e)
            say("ERROR " + msg)
            errors.append(msg)
            return None

    for n in (h.small, h.big):
        runs = h.runs if (cls is Drover or n == h.small) else h.sup_big_runs
        big = n == h.big
        times = []
        for k in range(runs):
            s = cls(h, n, h.log_reps if big else 0)
            try:
                s.launch()
                t = step("start %d" % n, lambda: wait_running(s, h.spawn_timeout))
                if t is None:
                    break
                times.append(t)
                say("%s: %d workers RUNNING after %.3f s" % (cls.kind, n, t))
                if k < runs - 1:
                    continue
                time.sleep(1.0)
                rss = rss_mib(s.pid)
                r["rss_%d" % n] = {"rss_mib": rss[0], "hwm_mib": rss[1]}
                r["rss_%d" % n].update(mem_detail_mib(s.pid))
                say("%s: RSS with %d workers: %.1f MiB" % (cls.kind, n, rss[0]))
                if big:
                    say("%s: idle for %d s ..." % (cls.kind, h.idle_seconds))
                    idle = step("idle", lambda: measure_idle(s, h.idle_seconds))
                    if idle:
                        r["idle_%d" % n] = idle
                        say("%s: idle: %.1f ms CPU, %d wakeups" %
                            (cls.kind, idle["cpu_ms"], idle["wakeups"]))
                    lst = step("listing", lambda: measure_listing(s, h.list_calls, h.list_seconds))
                    if lst:
                        r["list_%d" % n] = lst
                        say("%s: one listing of %d: %.2f ms (median of %d), %d bytes" %
                            (cls.kind, lst["entries"], lst["median_ms"], lst["calls"], lst["bytes"]))
                    w = step("wrk", lambda: run_wrk(s, h.wrk_seconds))
                    if w:
                        r["wrk_%d" % n] = w
                        say("%s: wrk: %s req/s" % (cls.kind, w["rps"]))
                rst = step("restart", lambda: measure_restarts(s, h.kills))
                if rst:
                    r["restart_%d" % n] = rst
                    say("%s: restart with %d workers: median %.2f ms, p99 %.2f ms" %
                        (cls.kind, n, rst["median_ms"] or -1, rst["p99_ms"] or -1))
                if not big:
                    up = step("restart, not polled",
                              lambda: measure_restarts(s, h.unpolled_kills, polled=False, first=1))
                    if up:
                        r["restart_unpolled_%d" % n] = up
                        say("%s: restart with %d workers, API not polled: median %.2f ms" %
                            (cls.kind, n, up["median_ms"] or -1))
                if big:
                    caps = []
                    for i in range(h.log_reps):
                        c = step("log beside %d" % n, lambda: measure_capture(s, i))
                        if c is None:
                            break
                        caps.append(c)
                        say("%s: log beside %d idle: %.0f MB/s%s" %
                            (cls.kind, n, c["mb_s"], "" if c["ok"] else " BYTES WRONG"))
                        if c["seconds"] > 20:
                            break  # slow: one repetition is enough
                    if caps:
                        r["log_beside_%d" % n] = {"reps": caps,
                                                  "median_mb_s": median([c["mb_s"] for c in caps]),
                                                  "ok": all(c["ok"] for c in caps)}
                    r["rss_end_%d" % n] = dict(zip(("rss_mib", "hwm_mib"), rss_mib(s.pid)))
            finally:
                took = s.stop()
                if took is not None and k == runs - 1:
                    r["stop_%d" % n] = took
                shutil.rmtree(s.dir, ignore_errors=True)
        if times:
            r["spawn_%d" % n] = {"runs": times, "median_s": median(times)}
    s = cls(h, 0, h.log_reps)
    try:
        s.launch()
        if step("start (loggers only)", lambda: s.wait_api()):
            caps = []
            for i in range(h.log_reps):
                c = step("log alone", lambda: measure_capture(s, i))
                if c is None:
                    break
                caps.append(c)
                say("%s: log alone: %.0f MB/s%s" % (cls.kind, c["mb_s"], "" if c["ok"] else " BYTES WRONG"))
            if caps:
                r["log_alone"] = {"reps": caps, "median_mb_s": median([c["mb_s"] for c in caps]),
                                  "ok": all(c["ok"] for c in caps)}
    finally:
        s.stop()
        shutil.rmtree(s.dir, ignore_errors=True)


# ---------------------------------------------------------------- the table

def table(h, res):
    D, S, F = res.get("droverd", {}), res.get("supervisord", {}), res.get("floor", {})
    full = not h.quick
    rows = []

    def row(label, d, s, f, digits, target=None, verdict=None, higher_better=False):
        # The ratio is always "how many times better drover is": time and
        # memory divide supervisord by drover, rates drover by supervisord.
        if higher_better:
            d_, s_ = s, d
        else:
            d_, s_ = d, s
        ratio = (s_ / d_) if (isinstance(d_, (int, float)) and isinstance(s_, (int, float)) and d_) else None
        rows.append((label, fmt(d, digits), fmt(s, digits), fmt(f, digits),
                     "-" if ratio is None else ("%.1fx" % ratio if ratio >= 0.095 else "%.3fx" % ratio),
                     target or "", verdict or ""))

    def judge(ok, cond=True):
        if not cond:
            return "n/a (quick)"
        if ok is None:
            return "-"
        return "PASS" if ok else "MISS"

    for n in (h.small, h.big):
        d, s = get(D, "spawn_%d" % n, "median_s"), get(S, "spawn_%d" % n, "median_s")
        f = get(F, "spawn_%d" % n, "median_s")
        ok = (d / f <= 1.2) if (d and f) else None
        row("start %d workers until RUNNING (s)" % n, d, s, f, 3, "<= 1.2x floor",
            judge(ok) + (" (%.2fx)" % (d / f) if d and f else ""))
    for n in (h.small, h.big):
        row("  floor with 2 pipes per child, %d (s)" % n, None, None,
            get(F, "spawn_%d_pipes" % n, "median_s"), 3)
    for n in (h.small, h.big):
        d, s = get(D, "rss_%d" % n, "rss_mib"), get(S, "rss_%d" % n, "rss_mib")
        lim = 4 if n <= 100 else 8
        row("resident memory, %d workers (MiB)" % n, d, s, None, 1, "<= %d MiB" % lim,
            judge(d <= lim if d is not None else None, full))
        row("  of which private (not shared), %d (MiB)" % n, get(D, "rss_%d" % n, "private_mib"),
            get(S, "rss_%d" % n, "private_mib"), None, 1)
    n = h.big
    d, s = get(D, "idle_%d" % n, "cpu_ms"), get(S, "idle_%d" % n, "cpu_ms")
    dw, sw = get(D, "idle_%d" % n, "wakeups"), get(S, "idle_%d" % n, "wakeups")
    quiet = (d <= 10 and dw <= h.idle_seconds) if (d is not None and dw is not None) else None
    row("idle CPU over %d s, %d workers (ms)" % (h.idle_seconds, n), d, s, None, 1,
        "no CPU beyond noise", judge(quiet))
    row("idle wakeups over %d s, %d workers" % (h.idle_seconds, n), dw, sw, None, 0,
        "(<= 10 ms, <= 1/s)", "")
    for n in (h.small, h.big):
        d, s = get(D, "restart_%d" % n, "median_ms"), get(S, "restart_%d" % n, "median_ms")
        f = get(F, "restart", "median_ms")
        row("restart after kill -9, p50, %d workers (ms)" % n, d, s, f, 2, "<= 6 ms",
            judge(d <= 6 if d is not None else None))
        d, s = get(D, "restart_%d" % n, "p99_ms"), get(S, "restart_%d" % n, "p99_ms")
        row("restart after kill -9, p99, %d workers (ms)" % n, d, s, get(F, "restart", "p99_ms"), 2)
        if n == h.small:
            row("  same, API not polled, p50 (ms)", get(D, "restart_unpolled_%d" % n, "median_ms"),
                get(S, "restart_unpolled_%d" % n, "median_ms"), None, 2)
    n = h.big
    d, s = get(D, "list_%d" % n, "median_ms"), get(S, "list_%d" % n, "median_ms")
    row("one full listing, %d workers (ms)" % n, d, s, None, 2, "<= 5 ms",
        judge(d <= 5 if d is not None else None, full))
    row("  response size (KiB)", (get(D, "list_%d" % n, "bytes") or 0) / 1024 or None,
        (get(S, "list_%d" % n, "bytes") or 0) / 1024 or None, None, 0)
    row("listings per second with wrk, %d workers" % n, get(D, "wrk_%d" % n, "rps"),
        get(S, "wrk_%d" % n, "rps"), None, 1, higher_better=True)
    mb = h.log_bytes // MIB
    d, s = get(D, "log_alone", "median_mb_s"), get(S, "log_alone", "median_mb_s")
    row("log capture %d MiB, alone (MB/s)" % mb, d, s, get(F, "log_alone", "median_mb_s"), 0,
        ">= 1200 MB/s", judge(d >= 1200 if d is not None else None), higher_better=True)
    d, s = get(D, "log_beside_%d" % n, "median_mb_s"), get(S, "log_beside_%d" % n, "median_mb_s")
    row("log capture %d MiB, beside %d idle (MB/s)" % (mb, n), d, s, None, 0, ">= 1000 MB/s",
        judge(d >= 1000 if d is not None else None, full), higher_better=True)
    ok = {k: all(get(R, k, "ok") in (True, None) for R in (D, S, F)) for k in ("log_alone",)}
    bytes_ok = []
    for name, R in (("droverd", D), ("supervisord", S), ("floor", F)):
        for k in ("log_alone", "log_beside_%d" % n):
            v = get(R, k, "ok")
            if v is not None:
                bytes_ok.append("%s %s: %s" % (name, k, "every byte checked, sha256 ok" if v else "BYTES WRONG"))
    row("stop %d workers (s)" % n, get(D, "stop_%d" % n), get(S, "stop_%d" % n), None, 2)

    head = ("metric", "drover", "supervisord", "floor", "drover gain", "target (drover)", "result")
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    lines = []
    for r in [head, tuple("-" * w for w in widths)] + rows:
        lines.append("  ".join((str(c).ljust(w) if i in (0, 5, 6) else str(c).rjust(w))
                               for i, (c, w) in enumerate(zip(r, widths))).rstrip())
    return "\n".join(lines), bytes_ok, ok


# ---------------------------------------------------------------- main

class Harness:
    def __init__(self, a):
        self.quick = a.quick
        self.small, self.big = (20, 200) if a.quick else (100, 1000)
        self.runs = a.runs if a.runs else (1 if a.quick else 3)
        self.sup_big_runs = 1
        self.idle_seconds = 5 if a.quick else 30
        self.kills = 10 if a.quick else 50
        self.unpolled_kills = 3 if a.quick else 10
        self.list_calls, self.list_seconds = (50, 3) if a.quick else (300, 15)
        self.wrk_seconds = 3 if a.quick else 10
        self.log_bytes = (50 if a.quick else 200) * MIB
        self.log_reps = 2 if a.quick else 3
        self.spawn_timeout = 300.0
        self.build = a.build_dir
        self.droverd = a.droverd or os.path.join(self.build, "supervisor", "droverd")
        self.spawn_floor = os.path.join(self.build, "bench", "spawn_floor")
        self.loggen = os.path.join(self.build, "bench", "loggen")
        self.supervisord = shutil.which("supervisord") or "/usr/bin/supervisord"
        self.tmp = None
        self.live = []
        self.notes = []
        self.log_sha = None


def build(h, a):
    targets = ["spawn_floor", "loggen"]
    if "drover" in a.only and not a.droverd:
        targets.append("droverd")
    if not a.no_build:
        build_targets(h.build, targets)


def machine():
    sv = subprocess.run([shutil.which("supervisord") or "supervisord", "--version"],
                        capture_output=True, text=True).stdout.strip()
    return machine_line(", supervisord %s, Python %s" % (sv, platform.python_version()))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small, fast run (20/200 workers)")
    ap.add_argument("--only", default="floor,drover,supervisord",
                    help="comma-separated subset of floor,drover,supervisord")
    ap.add_argument("--runs", type=int, default=0, help="start-up runs per size (median is shown)")
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build-bench"))
    ap.add_argument("--droverd", help="droverd binary (default: BUILD/supervisor/droverd)")
    ap.add_argument("--no-build", action="store_true", help="do not build the helpers and droverd")
    ap.add_argument("--json", help="write every figure to this file")
    ap.add_argument("--keep", action="store_true", help="keep the temp directory")
    a = ap.parse_args()
    a.only = a.only.split(",")
    h = Harness(a)

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 4 * h.big + 1024
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(want, soft)), hard))
    # Orphans (of a supervisor that died) come to this process, to be reaped.
    try:
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass

    def on_term(signum, frame):
        raise KeyboardInterrupt()

    signal.signal(signal.SIGINT, on_term)   # also when started in the background
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)

    build(h, a)
    for p in (h.spawn_floor, h.loggen):
        if not os.access(p, os.X_OK):
            sys.exit("run.py: %s is missing (cmake --build %s --target spawn_floor loggen)" % (p, h.build))
    if "drover" in a.only and not os.access(h.droverd, os.X_OK):
        say("droverd is not built (%s): drover is left out of this run" % h.droverd)
        h.notes.append("droverd was not built: no drover figures")
        a.only.remove("drover")
    if "supervisord" in a.only and not os.access(h.supervisord, os.X_OK):
        say("supervisord is not installed: left out")
        a.only.remove("supervisord")

    res = {"machine": machine(), "quick": h.quick, "counts": [h.small, h.big], "runs": h.runs,
           "log_bytes": h.log_bytes, "command": " ".join(["bench/run.py"] + sys.argv[1:])}
    h.tmp = tempfile.mkdtemp(prefix="drover-bench-")
    rc = 0
    try:
        say("expected output of loggen %d: computing sha256" % h.log_bytes)
        out = subprocess.run([h.loggen, str(h.log_bytes)], stdout=subprocess.PIPE, check=True).stdout
        h.log_sha = hashlib.sha256(out).hexdigest()
        del out
        if "floor" in a.only:
            run_floor(h, res)
        if "drover" in a.only:
            run_supervisor(h, Drover, res)
        if "supervisord" in a.only:
            run_supervisor(h, Supervisord, res)
    except KeyboardInterrupt:
        say("interrupted: cleaning up")
        rc = 130
    finally:
        for s in list(h.live):
            try:
                s.stop(timeout=30)
            except Exception as e:
                say("stopping %s: %s" % (s.kind, e))
        n = kill_tagged()
        if n:
            say("killed %d leftover processes" % n)
        if not a.keep:
            shutil.rmtree(h.tmp, ignore_errors=True)
        else:
            say("kept %s" % h.tmp)
    if rc:
        return rc

    text, bytes_ok, _ = table(h, res)
    print()
    print("drover benchmarks (%s run): %s" % ("quick" if h.quick else "full", res["command"]))
    print(res["machine"])
    print("start-up: median of %d runs (supervisord with %d workers: %d run); restart: %d kills; "
          "listing: median of many calls; log: median of %d" %
          (h.runs, h.big, h.sup_big_runs, h.kills, h.log_reps))
    print()
    print(text)
    print()
    for line in bytes_ok:
        print("  " + line)
    for name in ("droverd", "supervisord"):
        for e in get(res, name, "errors") or []:
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
