"""A real cluster for the agent tests: droverd with its hub on loopback and
drover-agents as separate processes, each with its own key pair made by
droverctl keygen, its own state and log directories. Standard library only
(and python3-zmq for the raw protocol clients).

The programs come from the environment ctest sets: DROVERD, DROVER_AGENT,
DROVERCTL."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request


def free_port(family=socket.AF_INET):
    with socket.socket(family) as s:
        s.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
        return s.getsockname()[1]


def program(var):
    p = os.environ.get(var)
    if not p or not os.access(p, os.X_OK):
        raise RuntimeError("set %s to the built program (ctest does)" % var)
    return os.path.abspath(p)


def wait_for(what, fn, timeout=10.0, step=0.02):
    """Calls fn until it returns something true; returns it, or fails."""
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError("timed out waiting for %s" % what)
        time.sleep(step)


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


class Agent:
    def __init__(self, cluster, name, labels=None, key_name=None, server_key=None, extra=()):
        self.cluster = cluster
        self.name = name
        self.dir = os.path.join(cluster.dir, "agent-" + name)
        os.makedirs(self.dir, exist_ok=True)
        key_name = key_name or name
        self.argv = [program("DROVER_AGENT"), "--connect", cluster.agents_url, "--name", name,
                     "--key", os.path.join(cluster.keys, key_name + ".cert_secret"),
                     "--server-key", server_key or os.path.join(cluster.keys, "droverd.cert"),
                     "--state-dir", self.dir]
        for k, v in (labels or {}).items():
            self.argv += ["--label", "%s=%s" % (k, v)]
        self.argv += list(extra)
        self.log = os.path.join(self.dir, "agent.log")
        self.proc = None

    def start(self):
        out = open(self.log, "ab")
        self.proc = subprocess.Popen(self.argv, cwd=self.dir, stdin=subprocess.DEVNULL,
                                     stdout=out, stderr=subprocess.STDOUT)
        out.close()
        return self

    def output(self):
        with open(self.log, "rb") as f:
            return f.read().decode(errors="replace")

    def kill(self, sig=signal.SIGKILL):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            if sig in (signal.SIGKILL, signal.SIGTERM):
                self.proc.wait(20)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Cluster:
    """droverd with agents.keys_dir; groups is the YAML text under groups:."""

    def __init__(self, groups, heartbeat="200ms", agent_names=(), extra_supervisor="",
                 ipv6=False):
        self.dir = tempfile.mkdtemp(prefix="drover-agents-")
        self.keys = os.path.join(self.dir, "keys")
        os.makedirs(self.keys)
        for n in agent_names:
            self.keygen(n)
        self.http_port = free_port()
        if ipv6:                        # the agents' listener on [::1]
            self.agents_port = free_port(socket.AF_INET6)
            self.agents_url = "tcp://[::1]:%d" % self.agents_port
        else:
            self.agents_port = free_port()
            self.agents_url = "tcp://127.0.0.1:%d" % self.agents_port
        self.heartbeat = heartbeat
        self.extra_supervisor = extra_supervisor
        self.conf = os.path.join(self.dir, "drover.yaml")
        self.write(groups)
        self.proc = None
        self.agents = []
        self.log = os.path.join(self.dir, "droverd.log")

    def keygen(self, name, into=None):
        subprocess.run([program("DROVERCTL"), "keygen", into or self.keys, "--name", name],
                       check=True, stdout=subprocess.DEVNULL)

    def write(self, groups):
        with open(self.conf, "w") as f:
            f.write("supervisor:\n"
                    "  name: hub\n"
                    "  state_dir: ./var\n"
                    "  http: { listen: \"127.0.0.1:%d\" }\n"
                    "  agents: { listen: \"%s\", keys_dir: ./keys, heartbeat: %s }\n"
                    "%s"
                    "groups:\n%s" % (self.http_port, self.agents_url, self.heartbeat,
                                     self.extra_supervisor, groups))

    def start(self):
        out = open(self.log, "ab")
        self.proc = subprocess.Popen([program("DROVERD"), "-c", self.conf], cwd=self.dir,
                                     stdin=subprocess.DEVNULL, stdout=out,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        out.close()
        wait_for("droverd's API", lambda: self.try_get("/api/v1/status"))
        return self

    def output(self):
        with open(self.log, "rb") as f:
            return f.read().decode(errors="replace")

    def agent(self, name, **kw):
        a = Agent(self, name, **kw)
        self.agents.append(a)
        return a.start()

    def try_get(self, path):
        try:
            return self.get(path)
        except (OSError, ValueError):
            return None

    def request(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.http_port, path),
                                     data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=20) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def get(self, path):
        status, body = self.request("GET", path)
        if status != 200:
            raise ValueError("GET %s: %d %s" % (path, status, body))
        return body

    def procs(self):
        return {p["name"]: p for p in self.get("/api/v1/processes")}

    def process(self, name):
        return self.get("/api/v1/processes/" + name)

    def wait_state(self, name, state, timeout=10.0, host=None):
        def ok():
            p = self.try_get("/api/v1/processes/" + name)
            return p if p and p["state"] == state and (host is None or p["host"] == host) \
                else None
        return wait_for("%s %s" % (name, state), ok, timeout)

    def wait_agent(self, name, state, timeout=10.0):
        def ok():
            for a in self.try_get("/api/v1/agents") or []:
                if a["name"] == name and a["state"] == state:
                    return a
            return None
        return wait_for("agent %s %s" % (name, state), ok, timeout)

    def log_time(self, pattern, text):
        """The wall time of the first log line matching pattern."""
        for line in text.splitlines():
            if re.search(pattern, line):
                stamp = line[:23]
                t = time.mktime(time.strptime(stamp[:19], "%Y-%m-%d %H:%M:%S"))
                return t + int(stamp[20:23]) / 1000.0
        return None

    def reload(self):
        return self.request("POST", "/api/v1/reload")

    def stop(self):
        for a in self.agents:
            a.stop()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def zcert_keys(path):
    """(public, secret) Z85 keys of a zcert file (secret None for a .cert)."""
    pub = sec = None
    with open(path) as f:
        for line in f:
            m = re.match(r'\s*(public|secret)-key\s*=\s*"(.*)"', line)
            if m:
                if m.group(1) == "public":
                    pub = m.group(2)
                else:
                    sec = m.group(2)
    return pub, sec
