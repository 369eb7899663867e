#!/usr/bin/python3
"""Agents at scale on one machine: droverd's hub with N drover-agents as
processes on loopback (no network namespaces: scale, not topology), each
running W `sleep` workers placed by labels. Prints a table of figures with
their targets (issue: agents) and the machine's floor, the same 2,000
processes spawned directly by a bare posix_spawn loop (bench/spawn_floor,
with pipes as the agents capture output).

    python3 bench/agents/run.py [--agents 100] [--workers 20] [--trials 20]
                                [--build build] [--json out.json]

Figures, not tests: run it on a quiet machine and quote medians."""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from benchlib import ROOT, build, fmt, free_port, machine, median, pct, proc_status, say  # noqa: E402


def http(port, method, path, timeout=60):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def raw_get_ms(port, path):
    """Milliseconds for one GET, from connect to the last byte (no Python
    HTTP machinery in the measured part beyond a socket read loop)."""
    req = ("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path).encode()
    t0 = time.perf_counter()
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(req)
    n = 0
    while True:
        b = s.recv(1 << 20)
        if not b:
            break
        n += len(b)
    s.close()
    return (time.perf_counter() - t0) * 1000, n


def pss_mib(pid):
    """Proportional set size: shared library pages divided among their users."""
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    return None


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(") ", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Bench:
    def __init__(self, a):
        self.a = a
        self.dir = tempfile.mkdtemp(prefix="drover-bench-agents-")
        self.keys = os.path.join(self.dir, "keys")
        os.makedirs(self.keys)
        bd = os.path.abspath(a.build)
        self.droverd = os.path.join(bd, "supervisor", "droverd")
        self.agent = os.path.join(bd, "agent", "drover-agent")
        self.droverctl = os.path.join(bd, "client", "droverctl", "droverctl")
        self.floor = os.path.join(bd, "bench", "spawn_floor")
        self.port = free_port()
        self.aport = free_port()
        self.dproc = None
        self.agents = []

    def setup(self):
        say("making %d agent key pairs" % self.a.agents)
        subprocess.run([self.droverctl, "keygen", self.keys, "--name", "droverd"], check=True,
                       stdout=subprocess.DEVNULL)
        for i in range(self.a.agents):
            subprocess.run([self.droverctl, "keygen", self.keys, "--name", "a%03d" % i],
                           check=True, stdout=subprocess.DEVNULL)
        with open(os.path.join(self.dir, "drover.yaml"), "w") as f:
            f.write("supervisor:\n"
                    "  state_dir: ./var\n"
                    "  http: { listen: \"127.0.0.1:%d\" }\n"
                    "  agents: { listen: \"tcp://127.0.0.1:%d\", keys_dir: ./keys }\n"
                    "groups:\n"
                    "  w:\n"
                    "    command: [/bin/sleep, '100000']\n"
                    "    start_timeout: 0s\n"
                    "    hosts: { labels: { bench: 'yes' }, per_host: %d }\n"
                    % (self.port, self.aport, self.a.workers))

    def start_droverd(self):
        self.dproc = subprocess.Popen([self.droverd, "-c", os.path.join(self.dir, "drover.yaml")],
                                      cwd=self.dir, stdout=open(os.path.join(self.dir, "d.log"), "ab"),
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def start_agents(self):
        for i in range(self.a.agents):
            name = "a%03d" % i
            d = os.path.join(self.dir, "ag", name)
            os.makedirs(d, exist_ok=True)
            p = subprocess.Popen([self.agent, "--connect", "tcp://127.0.0.1:%d" % self.aport,
                                  "--name", name, "--key", os.path.join(self.keys, name + ".cert_secret"),
                                  "--server-key", os.path.join(self.keys, "droverd.cert"),
                                  "--label", "bench=yes", "--state-dir", d],
                                 cwd=d, stdout=open(os.path.join(d, "agent.log"), "ab"),
                                 stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            self.agents.append(p)

    def procs(self):
        try:
            return http(self.port, "GET", "/api/v1/processes")
        except OSError:
            return None

    def wait_running(self, n, exclude_pids=frozenset(), timeout=120):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            ps = self.procs()
            if ps is not None:
                up = [p for p in ps if p["state"] == "RUNNING" and p["pid"] not in exclude_pids]
                if len(up) >= n:
                    return ps
            time.sleep(0.01)
        with open(os.path.join(self.dir, "d.log")) as f:
            sys.stderr.write(f.read()[-3000:])
        raise SystemExit("not all %d RUNNING within %d s" % (n, timeout))

    def wait_stopped(self, n, timeout=120):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            ps = self.procs()
            if ps is not None and sum(p["state"] == "STOPPED" for p in ps) >= n:
                return ps
            time.sleep(0.01)
        raise SystemExit("not all %d STOPPED within %d s" % (n, timeout))

    def stop(self):
        for p in self.agents:
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
                p.terminate()
        for p in self.agents:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        if self.dproc is not None and self.dproc.poll() is None:
            self.dproc.terminate()
            self.dproc.wait(30)
        shutil.rmtree(self.dir, ignore_errors=True)


def run(a):
    build(a.build, ["droverd", "droverd_hub", "drover-agent", "droverctl", "spawn_floor"])
    total = a.agents * a.workers
    load_start = os.getloadavg()[0]
    res = {"machine": machine(), "agents": a.agents, "workers_per_agent": a.workers}
    floors = []
    for _ in range(3):
        out = subprocess.run([os.path.join(a.build, "bench", "spawn_floor"), "spawn", str(total),
                              "--pipes", "--", "/bin/sleep", "100000"],
                             capture_output=True, text=True, check=True).stdout
        floors.append(json.loads(out)["seconds"])
    res["floor_s"] = median(floors)
    say("floor: %d spawns with pipes: %.3f s" % (total, res["floor_s"]))

    b = Bench(a)
    try:
        b.setup()
        t0 = time.monotonic()
        b.start_droverd()
        b.start_agents()
        ps = b.wait_running(total)
        res["start_s"] = time.monotonic() - t0
        say("start: %d agents x %d workers RUNNING in the API after %.3f s" %
            (a.agents, a.workers, res["start_s"]))

        # A group restart across every agent.
        acks, ups = [], []
        for _ in range(a.restarts):
            old = {p["pid"] for p in ps}
            t0 = time.monotonic()
            http(b.port, "POST", "/api/v1/groups/w/restart")
            acks.append((time.monotonic() - t0) * 1000)
            ps = b.wait_running(total, exclude_pids=old)
            ups.append(time.monotonic() - t0)
            say("group restart: acknowledged by all after %.1f ms, all RUNNING after %.3f s" %
                (acks[-1], ups[-1]))
        res["restart_ack_ms_p50"] = median(acks)
        res["restart_running_s"] = median(ups)

        # The same fan-out without 2,000 respawns competing for the CPU:
        # a group stop, then a start, each acknowledged by every agent.
        sacks = []
        for _ in range(a.restarts):
            for action in ("stop", "start"):
                t0 = time.monotonic()
                http(b.port, "POST", "/api/v1/groups/w/" + action)
                if action == "stop":
                    sacks.append((time.monotonic() - t0) * 1000)
                    b.wait_stopped(total)
            ps = b.wait_running(total)
        res["stop_ack_ms_p50"] = median(sacks)
        say("group stop: acknowledged by all after %.1f ms (p50)" % res["stop_ack_ms_p50"])

        # The API with every process.
        lat = []
        size = 0
        for _ in range(50):
            ms, size = raw_get_ms(b.port, "/api/v1/processes")
            lat.append(ms)
        res["get_processes_ms_p50"] = median(lat)
        res["get_processes_ms_p99"] = pct(lat, 99)
        res["get_processes_bytes"] = size
        say("GET /api/v1/processes (%d processes, %d bytes): p50 %.2f ms" %
            (total, size, res["get_processes_ms_p50"]))

        # Idle: heartbeats only.
        time.sleep(3)
        dpid = b.dproc.pid
        c0, t0 = cpu_s(dpid), time.monotonic()
        time.sleep(a.idle)
        res["idle_cpu_pct"] = (cpu_s(dpid) - c0) / (time.monotonic() - t0) * 100
        res["droverd_rss_mib"] = int(proc_status(dpid)["VmRSS"].split()[0]) / 1024
        res["agent_rss_mib"] = median([int(proc_status(p.pid)["VmRSS"].split()[0]) / 1024
                                       for p in b.agents[:10]])
        res["agent_pss_mib"] = median([pss_mib(p.pid) for p in b.agents[:10]])
        res["droverd_pss_mib"] = pss_mib(dpid)
        say("idle: droverd %.2f %% of a core, RSS %.1f MiB; an agent's RSS %.1f MiB" %
            (res["idle_cpu_pct"], res["droverd_rss_mib"], res["agent_rss_mib"]))

        # LOST and back, one agent at a time.
        lost, back = [], []
        for i in range(a.trials):
            victim = b.agents[i % len(b.agents)]
            name = "a%03d" % (i % len(b.agents))
            mine = {p["name"]: p["pid"] for p in b.procs() if p["host"] == name}
            victim.send_signal(signal.SIGSTOP)
            t0 = time.monotonic()
            while True:
                ag = http(b.port, "GET", "/api/v1/agents/" + name)
                if ag["state"] == "LOST":
                    break
                time.sleep(0.005)
            lost.append(time.monotonic() - t0)
            victim.send_signal(signal.SIGCONT)
            t0 = time.monotonic()
            while True:
                ps = [p for p in b.procs() if p["host"] == name]
                if len(ps) == len(mine) and all(p["state"] == "RUNNING" and
                                                p["pid"] == mine[p["name"]] for p in ps):
                    break
                time.sleep(0.005)
            back.append((time.monotonic() - t0) * 1000)
        res["lost_s_p50"] = median(lost)
        res["reconciled_ms_p50"] = median(back)
        say("silent -> LOST: p50 %.2f s; reconnect -> reconciled: p50 %.1f ms (%d trials)" %
            (res["lost_s_p50"], res["reconciled_ms_p50"], a.trials))
    finally:
        b.stop()
    res["load_start"] = load_start
    res["load_end"] = os.getloadavg()[0]
    return res


def table(r):
    fl = r["floor_s"]
    rows = [
        ("start %d agents x %d workers until RUNNING (s)" % (r["agents"], r["workers_per_agent"]),
         r.get("start_s"), 3, "<= 1.5x floor (%.3f s)" % (1.5 * fl),
         r.get("start_s") is not None and r["start_s"] <= 1.5 * fl, r.get("start_s", 0) / fl),
        ("group restart: every agent acknowledged, p50 (ms)", r.get("restart_ack_ms_p50"), 1,
         "<= 100 ms", r.get("restart_ack_ms_p50", 1e9) <= 100, None),
        ("group stop: every agent acknowledged, p50 (ms)", r.get("stop_ack_ms_p50"), 1,
         "(beside the restart)", None, None),
        ("group restart: all RUNNING again (s)", r.get("restart_running_s"), 3,
         "<= 1.5x floor", r.get("restart_running_s", 1e9) <= 1.5 * fl,
         r.get("restart_running_s", 0) / fl),
        ("droverd RSS, 100 idle agents (MiB)", r.get("droverd_rss_mib"), 1, "<= 16 MiB",
         r.get("droverd_rss_mib", 1e9) <= 16, None),
        ("droverd CPU, 100 idle agents (% of a core)", r.get("idle_cpu_pct"), 2, "<= 1 %",
         r.get("idle_cpu_pct", 1e9) <= 1, None),
        ("one agent's RSS with 20 workers (MiB)", r.get("agent_rss_mib"), 1, "<= 4 MiB",
         r.get("agent_rss_mib", 1e9) <= 4, None),
        ("one agent's PSS (shared pages divided among their users) (MiB)",
         r.get("agent_pss_mib"), 2, "(beside the RSS)", None, None),
        ("droverd's PSS (MiB)", r.get("droverd_pss_mib"), 1, "(beside the RSS)", None, None),
        ("agent silent -> LOST, p50 (s)", r.get("lost_s_p50"), 2, "3 heartbeats (3 s)", None, None),
        ("reconnect -> reconciled view, 20 processes, p50 (ms)", r.get("reconciled_ms_p50"), 1,
         "-", None, None),
        ("GET /api/v1/processes, 2000 processes, p50 (ms)", r.get("get_processes_ms_p50"), 2,
         "<= 10 ms", r.get("get_processes_ms_p50", 1e9) <= 10, None),
    ]
    lines = ["| metric | drover | target | vs floor | result |", "|---|---|---|---|---|"]
    for name, v, d, target, ok, ratio in rows:
        lines.append("| %s | %s | %s | %s | %s |" % (
            name, fmt(v, d), target, "%.2fx" % ratio if ratio else "-",
            "-" if ok is None else ("PASS" if ok else "MISS")))
    lines.append("")
    lines.append("floor: %d processes spawned by a bare posix_spawn loop with pipes: %.3f s" %
                 (r["agents"] * r["workers_per_agent"], fl))
    lines.append("machine: %s" % r["machine"])
    lines.append("load average (1 min): %.2f at the start, %.2f at the end (the run's own processes "
                 "count)" % (r["load_start"], r["load_end"]))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--agents", type=int, default=100)
    ap.add_argument("--workers", type=int, default=20)
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--restarts", type=int, default=5)
    ap.add_argument("--idle", type=float, default=30.0, help="seconds of idle CPU measurement")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--json", help="also write the figures here")
    a = ap.parse_args()
    r = run(a)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(r, f, indent=1)
    print(table(r))


if __name__ == "__main__":
    main()
