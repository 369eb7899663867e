"""What drover's benchmark harnesses share (bench/run.py and
bench/queues/run.py): progress lines, statistics, ports, the table's cell
helpers, building the programs they run, and a line about the machine.
Python 3 standard library only."""

import os
import platform
import socket
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
T_START = time.monotonic()


def say(msg):
    """A progress line on stderr, with the seconds since the start."""
    print("[%6.1fs] %s" % (time.monotonic() - T_START, msg), file=sys.stderr, flush=True)


def now():
    return time.monotonic()


def median(xs):
    return statistics.median(xs) if xs else None


def pct(xs, p):
    """Nearest-rank percentile p of xs (None when empty)."""
    if not xs:
        return None
    s = sorted(xs)
    return s[max(0, -(-p * len(s) // 100) - 1)]


def proc_status(pid):
    """/proc/PID/status as a dict of its fields (values as text)."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(d, *path):
    """d[path[0]][path[1]]..., or None where anything is missing."""
    for p in path:
        if not isinstance(d, dict) or p not in d or d[p] is None:
            return None
        d = d[p]
    return d


def fmt(v, digits):
    """A table cell: "-" for None, strings as they are, numbers with digits."""
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    return "%.*f" % (digits, v)


def build(build_dir, targets):
    """Configures build_dir (RelWithDebInfo, no tests) if needed and builds
    targets; a failure is said, not raised (the run then reports what is
    missing)."""
    if not os.path.exists(os.path.join(build_dir, "CMakeCache.txt")):
        subprocess.run(["cmake", "-B", build_dir, "-S", ROOT, "-DDROVER_TESTS=OFF",
                        "-DCMAKE_BUILD_TYPE=RelWithDebInfo"], check=True, stdout=subprocess.DEVNULL)
    for t in targets:
        r = subprocess.run(["cmake", "--build", build_dir, "-j2", "--target", t],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            say("building %s failed:\n%s" % (t, r.stderr[-1500:]))


def machine(extra=""):
    """"2 vCPU <cpu>, 24 GiB RAM, <os>, Linux <release>" + extra."""
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    osr = "?"
    try:
        with open("/etc/os-release") as f:
            osr = dict(l.rstrip().split("=", 1) for l in f if "=" in l).get("PRETTY_NAME", "?").strip('"')
    except OSError:
        pass
    return "%d vCPU %s, %.0f GiB RAM, %s, Linux %s%s" % (
        os.cpu_count(), cpu, mem, osr, platform.release(), extra)
