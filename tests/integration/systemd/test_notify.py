#!/usr/bin/env python3
"""droverd and drover-agent tell systemd what a Type=notify unit needs, by
the notification protocol (sd_notify(3), written in drover, without
libsystemd): READY=1 only once the API answers and the autostart groups are
started; WATCHDOG=1 at half of WATCHDOG_USEC, and none when WATCHDOG_PID
names another process; RELOADING=1 then READY=1 around a SIGHUP reload;
STOPPING=1 with EXTEND_TIMEOUT_USEC (the local groups' stop timeouts and
5 s) on SIGTERM, then exit 0; to a socket path, and (the agent) to an
abstract socket ("@name"). Neither program maps libsystemd. A build with
DROVER_SYSTEMD=OFF says nothing, and CMake does not add this test there.

    test_notify.py DROVERD DROVER_AGENT DROVERCTL
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

droverd, agent, droverctl = sys.argv[1:4]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def fail(msg, *logs):
    print("FAIL:", msg, file=sys.stderr)
    for log in logs:
        if os.path.exists(log):
            with open(log) as f:
                sys.stderr.write(f"--- {log}\n{f.read()[-3000:]}")
    sys.exit(1)


class Notify:
    """systemd's side: a datagram socket; every message, split in fields.
    A path starting with "@" is in the abstract namespace."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + path[1:] if path.startswith("@") else path)

    def next(self, timeout):
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(4096).decode()
        except socket.timeout:
            return None
        return dict(line.split("=", 1) for line in data.split("\n") if "=" in line)

    def wait_for(self, key, timeout, seen=None):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = self.next(max(0.01, deadline - time.monotonic()))
            if m is None:
                break
            if seen is not None:
                seen.append(m)
            if key in m:
                return m
        return None


def main():
    for prog in (droverd, agent):
        libs = subprocess.run(["ldd", prog], capture_output=True, text=True).stdout
        if "libsystemd" in libs:
            fail(f"{prog} links libsystemd (about 1 MiB of RSS with what it pulls in)")
    d = tempfile.mkdtemp(prefix="drover-notify.")
    port = free_port()
    conf = os.path.join(d, "drover.yaml")
    with open(conf, "w") as f:
        f.write(f"""supervisor:
  state_dir: ./var
  http: {{ listen: 127.0.0.1:{port} }}
groups:
  db:
    command: [sleep, "1000"]
    stop: {{ timeout: 3s }}
  web:
    command: [sleep, "1000"]
    instances: 2
    depends_on: [db]
    stop: {{ timeout: 2s }}
  later:
    command: [sleep, "1000"]
    autostart: false
    stop: {{ timeout: 60s }}
""")
    log = os.path.join(d, "droverd.log")
    n = Notify(os.path.join(d, "notify.sock"))
    env = dict(os.environ, NOTIFY_SOCKET=n.path, WATCHDOG_USEC="600000")
    with open(log, "w") as out:
        p = subprocess.Popen([droverd, "-c", conf], stdout=out, stderr=out, env=env)
    try:
        seen = []
        ready = n.wait_for("READY", 30, seen)
        if ready is None:
            fail("droverd sent no READY=1", log)
        # READY=1 means the API answers now, with the autostart groups started.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/processes", timeout=5) as r:
            procs = json.load(r)
        states = {x["name"]: x["state"] for x in procs}
        if states.get("db:0") not in ("STARTING", "RUNNING") or states.get("later:0") != "STOPPED":
            fail(f"at READY=1 the processes were {states}", log)
        # The watchdog: a ping about every 300 ms (10 in 3 s), neither
        # missing nor in a busy loop; the bounds leave room for a loaded
        # machine.
        t0 = time.monotonic()
        pings = 0
        while time.monotonic() - t0 < 3:
            m = n.next(2)
            if m is None:
                fail("the watchdog pings stopped", log)
            pings += "WATCHDOG" in m
        if not 4 <= pings <= 15:
            fail(f"{pings} watchdog pings in 3 s at WATCHDOG_USEC=600000", log)
        # A reload: RELOADING=1, then READY=1.
        p.send_signal(1)
        if n.wait_for("RELOADING", 10) is None:
            fail("no RELOADING=1 on SIGHUP", log)
        if n.wait_for("READY", 10) is None:
            fail("no READY=1 after the reload", log)
        # The stop: STOPPING=1 with the time the stop timeouts may take.
        p.terminate()
        m = n.wait_for("STOPPING", 10)
        if m is None:
            fail("no STOPPING=1 on SIGTERM", log)
        want = (3 + 2 + 60 + 5) * 1000000
        if m.get("EXTEND_TIMEOUT_USEC") != str(want):
            fail(f"STOPPING=1 with {m}, wanted EXTEND_TIMEOUT_USEC={want}", log)
        if p.wait(30) != 0:
            fail(f"droverd exited {p.returncode}", log)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()

    # drover-agent: READY=1 once it runs (its hub need not be there yet).
    keys = os.path.join(d, "keys")
    for name in ("droverd", "n1"):
        subprocess.run([droverctl, "keygen", keys, "--name", name], check=True,
                       stdout=subprocess.DEVNULL)
    alog = os.path.join(d, "agent.log")
    n2 = Notify("@drover-notify-test-%d" % os.getpid())
    # A watchdog for another process (WATCHDOG_PID): not this agent's to ping.
    env = dict(os.environ, NOTIFY_SOCKET=n2.path, WATCHDOG_USEC="200000",
               WATCHDOG_PID=str(os.getpid()))
    with open(alog, "w") as out:
        a = subprocess.Popen([agent, "--connect", f"tcp://127.0.0.1:{free_port()}", "--name", "n1",
                              "--key", os.path.join(keys, "n1.cert_secret"),
                              "--server-key", os.path.join(keys, "droverd.cert"),
                              "--state-dir", os.path.join(d, "agent")],
                             stdout=out, stderr=out, env=env)
    try:
        seen = []
        if n2.wait_for("READY", 30, seen) is None:
            fail("drover-agent sent no READY=1", alog)
        t0 = time.monotonic()
        while time.monotonic() - t0 < 0.5:
            m = n2.next(0.5)
            if m is not None:
                seen.append(m)
        if any("WATCHDOG" in m for m in seen):
            fail("drover-agent pinged a watchdog that WATCHDOG_PID gives another process", alog)
        a.terminate()
        if n2.wait_for("STOPPING", 10) is None:
            fail("drover-agent sent no STOPPING=1", alog)
        if a.wait(30) != 0:
            fail(f"drover-agent exited {a.returncode}", alog)
    finally:
        if a.poll() is None:
            a.kill()
            a.wait()
    subprocess.run(["rm", "-rf", d])
    print("ok")


main()
