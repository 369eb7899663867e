"""A real droverd for the Python integration tests: started on free loopback
ports in a temp directory with a queues section and an authkey file, stopped
(SIGTERM, then SIGKILL) at the end. Python 3 standard library only.

The programs come from the environment ctest sets: DROVERD (required),
DROVERCTL, TASK_MASTER and TASK_WORKER (optional: tests that need them are
skipped without them)."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "client", "python"))

from drover import ConnectionError, QueueClient, Timeout  # noqa: E402,A004


def free_port(family=socket.AF_INET):
    with socket.socket(family) as s:
        s.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
        return s.getsockname()[1]


def has_ipv6_loopback():
    """Can this host bind ::1 (some hosts turn IPv6 off)?"""
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def program(var):
    """The path in $var if it names an executable, else None."""
    p = os.environ.get(var)
    return os.path.abspath(p) if p and os.access(p, os.X_OK) else None


class Droverd:
    """droverd with the given queues (name -> settings in YAML flow style)."""

    def __init__(self, queues, authkey=b"  drover-test-key-5f2c9a7e \nsecond line\n", ipv6=False):
        self.dir = tempfile.mkdtemp(prefix="drover-pytest-")
        self.authkey = authkey.split(b"\n")[0].strip(b" \t\r")  # as droverd reads it
        self.key_file = os.path.join(self.dir, "queue.key")
        with open(self.key_file, "wb") as f:
            f.write(authkey)
        os.chmod(self.key_file, 0o600)
        if ipv6:                        # the queues on [::1] (the API stays on IPv4)
            self.port = free_port(socket.AF_INET6)
            self.endpoint = "tcp://[::1]:%d" % self.port
        else:
            self.port = free_port()
            self.endpoint = "tcp://127.0.0.1:%d" % self.port
        self.http_port = free_port()
        self.conf = os.path.join(self.dir, "drover.yaml")
        lines = [
            "supervisor:",
            "  name: pytest",
            "  state_dir: ./var",
            "  log_dir: ./var/log",
            "  http: { listen: \"127.0.0.1:%d\" }" % self.http_port,
            "  agents: { listen: \"tcp://127.0.0.1:%d\" }" % free_port(),
            "  queues:",
            "    listen: \"%s\"" % self.endpoint,
            "    authkey_file: ./queue.key",
            "groups: {}",
            "queues:",
        ]
        self.head = lines
        self.write(queues)
        self.proc = None
        self.out = None

    def write(self, queues):
        """Writes the configuration with these queues."""
        lines = self.head + ["  %s: %s" % (name, settings) for name, settings in queues.items()]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")

    def reload(self, queues):
        """Reloads droverd on a configuration with these queues."""
        self.write(queues)
        self.proc.send_signal(signal.SIGHUP)

    def start(self, timeout=20.0):
        droverd = program("DROVERD")
        if droverd is None:
            raise RuntimeError("set DROVERD to the built droverd (ctest does)")
        self.out = open(os.path.join(self.dir, "droverd.out"), "ab")
        self.proc = subprocess.Popen([droverd, "-c", self.conf], cwd=self.dir,
                                     stdin=subprocess.DEVNULL, stdout=self.out,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        end = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                out = self.output()
                self.cleanup()
                raise RuntimeError("droverd exited with status %d:\n%s" %
                                   (self.proc.returncode if self.proc else -1, out))
            try:
                # A real handshake and HELLO: a bare TCP probe would show up
                # in droverd's log as a refused client.
                QueueClient(self.endpoint, authkey=self.authkey, timeout=0.5).close()
                return self
            except (ConnectionError, Timeout):
                if time.monotonic() > end:
                    out = self.output()
                    self.cleanup()
                    raise RuntimeError("droverd does not listen on %s:\n%s" % (self.endpoint, out))
                time.sleep(0.02)

    def output(self):
        try:
            with open(os.path.join(self.dir, "droverd.out"), "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def stop(self, timeout=20.0):
        """SIGTERM; returns droverd's exit status (SIGKILL after timeout: -9)."""
        rc = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait()
            rc = self.proc.returncode
            self.proc = None
        if self.out is not None:
            self.out.close()
            self.out = None
        return rc

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
