#!/usr/bin/python3
"""Soak: droverd with 1000 workers of which 100 flap (exit every 100-500 ms
and are restarted at once), for --minutes, while wrk loads the API and 20
event-stream subscribers come and go, each reconnecting with Last-Event-ID.
Samples droverd's RSS and open descriptors every 10 s and reports whether
they stay flat after the warm-up, the API's latency percentiles from wrk,
and whether any subscriber missed an event (ids must follow each other
within a stream and across its reconnects, unless droverd said resync).

    python3 bench/soak/run.py [--minutes 10] [--workers 1000] [--flappers 100]
                              [--build build] [--json out.json]

A scripted run for docs/reliability.md, not a test."""

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from benchlib import ROOT, build, free_port, machine, median, proc_status, say  # noqa: E402


def rss_kib(pid):
    return int(proc_status(pid).get("VmRSS", "0 kB").split()[0])


def fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


class Subscriber(threading.Thread):
    """Follows the event stream, hangs up after 5-30 s and comes back with
    Last-Event-ID; counts gaps."""

    def __init__(self, port, stop):
        super().__init__(daemon=True)
        self.port, self.stop = port, stop
        self.last = None
        self.events = self.gaps = self.resyncs = self.reconnects = 0

    def run(self):
        while not self.stop.is_set():
            req = urllib.request.Request("http://127.0.0.1:%d/api/v1/events" % self.port)
            if self.last is not None:
                req.add_header("Last-Event-ID", str(self.last))
            until = time.monotonic() + random.uniform(5, 30)
            try:
                with urllib.request.urlopen(req, timeout=30) as r:
                    for raw in r:
                        line = raw.decode(errors="replace").rstrip("\n")
                        if line.startswith("id: "):
                            n = int(line[4:])
                            if self.last is not None and n != self.last + 1:
                                self.gaps += 1
                            self.last = n
                            self.events += 1
                        elif line == "event: resync":
                            self.resyncs += 1
                            self.last = None
                        if time.monotonic() > until or self.stop.is_set():
                            break
            except OSError:
                pass
            self.reconnects += 1


def run(a):
    build(a.build, ["droverd"])
    droverd = os.path.join(os.path.abspath(a.build), "supervisor", "droverd")
    d = tempfile.mkdtemp(prefix="drover-soak-")
    port = free_port()
    with open(os.path.join(d, "drover.yaml"), "w") as f:
        f.write("supervisor:\n  state_dir: ./var\n  http: { listen: \"127.0.0.1:%d\" }\n"
                "groups:\n"
                "  steady:\n    command: [/bin/sleep, '100000']\n    instances: %d\n"
                "    start_timeout: 0s\n    stdout: null\n    stderr: null\n"
                "  flap:\n    command: \"exec sleep 0.$(( $$ %% 5 + 1 ))\"\n    instances: %d\n"
                "    start_timeout: 0s\n    restart: always\n"
                "    max_restarts: { count: 10000, within: 1s }\n"
                "    stdout: null\n    stderr: null\n"
                % (port, a.workers - a.flappers, a.flappers))
    proc = subprocess.Popen([droverd, "-c", os.path.join(d, "drover.yaml")], cwd=d,
                            stdout=open(os.path.join(d, "droverd.log"), "ab"),
                            stderr=subprocess.STDOUT)
    res = {"machine": machine(), "minutes": a.minutes, "workers": a.workers,
           "flappers": a.flappers}
    stop = threading.Event()
    subs = []
    try:
        for _ in range(200):
            if proc.poll() is not None:
                with open(os.path.join(d, "droverd.log")) as f:
                    raise SystemExit("droverd exited:\n" + f.read()[-2000:])
            try:
                urllib.request.urlopen("http://127.0.0.1:%d/api/v1/status" % port, timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        say("droverd up; warming up for 30 s")
        subs = [Subscriber(port, stop) for _ in range(20)]
        for s in subs:
            s.start()
        dur = int(a.minutes * 60)
        wrk = subprocess.Popen(["wrk", "-t1", "-c8", "-d%ds" % (dur + 30), "--latency",
                                "http://127.0.0.1:%d/api/v1/processes/flap:0" % port],
                               stdout=subprocess.PIPE, text=True)
        time.sleep(30)
        samples = []
        t0 = time.monotonic()
        while time.monotonic() - t0 < dur:
            samples.append((round(time.monotonic() - t0), rss_kib(proc.pid), fds(proc.pid)))
            say("t=%4ds rss %d KiB, %d descriptors" % samples[-1])
            time.sleep(10)
        out, _ = wrk.communicate(timeout=120)
        lat = {}
        for p in ("50%", "99%"):
            m = re.search(r"^\s*%s\s+([\d.]+)(us|ms|s)" % re.escape(p), out, re.M)
            if m:
                v = float(m.group(1))
                lat[p] = v / 1000 if m.group(2) == "us" else v * 1000 if m.group(2) == "s" else v
        m = re.search(r"Requests/sec:\s+([\d.]+)", out)
        st = urllib.request.urlopen("http://127.0.0.1:%d/api/v1/processes" % port).read()
        restarts = sum(p["restarts"] for p in json.loads(st) if p["group"] == "flap")
        res.update({
            "rss_kib_first": samples[0][1], "rss_kib_last": samples[-1][1],
            "rss_kib_max": max(s[1] for s in samples),
            "fds_first": samples[0][2], "fds_last": samples[-1][2],
            "fds_max": max(s[2] for s in samples),
            "api_p50_ms": lat.get("50%"), "api_p99_ms": lat.get("99%"),
            "api_rps": float(m.group(1)) if m else None, "flap_restarts": restarts,
            "samples": samples,
        })
    finally:
        stop.set()
        for s in subs:
            s.join(35)
        res.update({
            "sse_events": sum(s.events for s in subs),
            "sse_reconnects": sum(s.reconnects for s in subs),
            "sse_gaps": sum(s.gaps for s in subs),
            "sse_resyncs": sum(s.resyncs for s in subs),
        })
        proc.send_signal(signal.SIGTERM)
        try:
            res["exit_status"] = proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            res["exit_status"] = "killed"
        if os.environ.get("DROVER_SOAK_KEEP"):
            say("kept %s" % d)
        else:
            shutil.rmtree(d, ignore_errors=True)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--workers", type=int, default=1000)
    ap.add_argument("--flappers", type=int, default=100)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--json")
    a = ap.parse_args()
    r = run(a)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(r, f, indent=1)
    print("| figure | value |\n|---|---|")
    for k in ("minutes", "workers", "flappers", "flap_restarts", "rss_kib_first",
              "rss_kib_last", "rss_kib_max", "fds_first", "fds_last", "fds_max", "api_rps",
              "api_p50_ms", "api_p99_ms", "sse_events", "sse_reconnects", "sse_gaps",
              "sse_resyncs", "exit_status"):
        print("| %s | %s |" % (k, r.get(k)))
    print("\nmachine: %s" % r["machine"])


if __name__ == "__main__":
    main()
