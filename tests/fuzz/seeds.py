#!/usr/bin/env python3
"""Writes the seed corpora of the harnesses into tests/fuzz/<harness>/seeds
(committed; run again after a protocol or format change). Seeds are small,
valid inputs that reach each part of a decoder; the fuzzer mutates from
there."""
import base64
import json
import os
import shutil
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def put(harness, name, data):
    d = os.path.join(HERE, harness, "seeds")
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def reset(harness):
    shutil.rmtree(os.path.join(HERE, harness, "seeds"), ignore_errors=True)


# ---- drover.yaml ----
reset("conf")
with open(os.path.join(ROOT, "examples", "drover.yaml")) as f:
    put("conf", "example.yaml", f.read())
put("conf", "spec.yaml", """supervisor:
  name: master-1
  state_dir: ./var
  log_dir: ./var/log
  http:
    listen: 127.0.0.1:9170
    token_file: ./secrets/api.token
  agents:
    listen: tcp://127.0.0.1:9171
    keys_dir: ./secrets/agents
    heartbeat: 1s
    lost_after: 3
  queues:
    listen: tcp://127.0.0.1:9172
    authkey_file: ./secrets/queue.key
    advertise: tcp://10.0.0.1:9172
groups:
  web:
    command: ["python3", "-m", "http.server", "${PORT}"]
    instances: 4
    env: { PORT: "80${INSTANCE}0", B: "${PORT}-${GROUP}-${NAME}-${HOST}" }
    cwd: /srv/app
    umask: "022"
    autostart: true
    restart: on-failure
    backoff: { initial: 100ms, max: 30s, factor: 2 }
    start_timeout: 1s
    max_restarts: { count: 5, within: 60s }
    ready: { tcp: "127.0.0.1:${PORT}", timeout: 10s, interval: 100ms }
    depends_on: [db]
    stop: { signal: TERM, timeout: 10s }
    stdout: { file: auto, max_size: 50MB, keep: 5 }
    stderr: merge
    limits: { nofile: 4096, core: 0, memory: 512MB, nproc: 100 }
    hosts: [local, node-1]
    queue_access: true
  db:
    command: "exec sleep 1000"
    ready: { exec: ["true"] }
    stdout: null
    stderr: { file: ./db.err, max_size: 1KB, keep: 0 }
  worker:
    command: [worker]
    hosts: { labels: { role: worker }, per_host: 2 }
    ready: { http: "http://127.0.0.1:${PORT}/" }
    restart: always
  notify:
    command: [n]
    ready: { notify: true }
    stdout: inherit
    restart: never
  delay:
    command: [d]
    ready: { delay: 2s }
    instances: 0
queues:
  tasks:   { capacity: 100000, durable: true, lease: 30s, max_message: 1MB }
  results: { capacity: 100000 }
""")
put("conf", "minimal.yaml", "groups:\n  a:\n    command: [a]\n")
put("conf", "empty.yaml", "")
put("conf", "errors.yaml", """supervisor:
  nme: x
groups:
  web:
    command: []
    restart: sometimes
    instances: -1
    backoff: { initial: 10 parsecs }
    depends_on: [nowhere, web]
    env: { A: "${B}", B: "${A}" }
  web:
    command: [b]
queues:
  q: { capacity: 1GB, lease: forever }
""")
put("conf", "anchors.yaml", "a: &x [1, 2]\nb: *x\ngroups: {g: {command: [\"$${X}\"]}}\n")

# ---- agent.yaml ----
reset("conf_agent")
put("conf_agent", "agent.yaml", """agent:
  connect: tcp://hub.example:9171
  name: node-1
  key: ./keys/node-1.cert_secret
  server_key: ./keys/droverd.cert
  labels: { role: worker, zone: a }
  state_dir: /var/lib/drover-agent
  log_dir: ./log
""")
put("conf_agent", "minimal.yaml",
    "agent: {connect: 'tcp://h:1', name: n, key: k, server_key: s}\n")
put("conf_agent", "errors.yaml",
    "agent:\n  connect: udp://x\n  name: local\n  labels: [a]\n  extra: 1\nother: 2\n")

# ---- queue frames ----
reset("wire")


def req(op, flags=0, req_id=1, timeout=0, count=1):
    return struct.pack(">BBHIiI", 1, op, flags, req_id, timeout, count)


for op in range(1, 10):
    put("wire", "req-%d" % op, req(op, flags=op & 7, req_id=op, timeout=op * 100 - 101, count=op))
put("wire", "rep-get", struct.pack(">BBhIII", 1, 3, -1, 7, 2, 0))
put("wire", "stats", struct.pack(">7Q", 5, 100000, 1, 2, 30, 25, 1))
put("wire", "name", b"tasks")

# ---- the agent protocol ----
reset("agent_wire")


def msg(t, body):
    t = t.encode()
    return bytes([len(t)]) + t + json.dumps(body, separators=(",", ":")).encode()


proc = {"name": "web:2", "group": "web", "instance": 2, "host": "local", "state": "RUNNING",
        "pid": 4242, "since": 1732390000.25, "restarts": 3, "exit_code": None,
        "exit_signal": None, "ready": True, "cpu_seconds": 0.52, "rss_bytes": 10485760,
        "error": None}
exited = dict(proc, state="BACKOFF", pid=None, exit_code=1, exit_signal="TERM",
              error="exit 1", removed=True)
group = {"name": "web", "argv": ["python3", "-m", "http.server", "${PORT}"], "shell": False,
         "instances": 2, "instance_base": 0, "env": [["PORT", "80${INSTANCE}0"]],
         "cwd": "/srv/app", "user": None, "umask": 18, "autostart": True,
         "restart": "on-failure",
         "backoff": {"initial_ms": 100, "max_ms": 30000, "factor": 2.0},
         "start_timeout_ms": 1000, "max_restarts": {"count": 5, "within_ms": 60000},
         "ready": {"kind": "tcp", "target": "127.0.0.1:${PORT}", "exec": [], "delay_ms": 0,
                   "timeout_ms": 60000, "interval_ms": 100},
         "depends_on": ["db"], "stop": {"signal": 15, "timeout_ms": 10000},
         "stdout": {"mode": "file", "file": None, "max_size": 52428800, "keep": 5},
         "stderr": {"mode": "merge", "file": None, "max_size": 52428800, "keep": 5},
         "limits": {"nofile": 4096, "core": 0, "memory": -1, "nproc": -1},
         "queue_access": True}
shell = dict(group, name="db", argv=["/bin/sh", "-c", "exec db"], shell=True, env=[],
             ready={"kind": "exec", "target": None, "exec": ["true"], "delay_ms": 0,
                    "timeout_ms": 1000, "interval_ms": 50},
             stdout={"mode": "null", "file": None, "max_size": 0, "keep": 0},
             stderr={"mode": "file", "file": "/var/log/db.err", "max_size": 1024, "keep": 1})
put("agent_wire", "hello", msg("HELLO", {
    "protocol": 1, "name": "node-1", "version": "0.1.0", "hostname": "node-1",
    "labels": {"role": "worker"}, "processes": [proc], "cores": 2,
    "memory_bytes": 4 << 30, "boot_id": "b0", "seq": 7}))
put("agent_wire", "state", msg("STATE", {
    "generation": 3, "groups": [group, shell], "heartbeat_ms": 1000, "lost_after": 3,
    "queues": {"url": "tcp://127.0.0.1:9172",
               "authkey": base64.b64encode(b"secret").decode()}}))
put("agent_wire", "event", msg("EVENT", {"seq": 8, "processes": [proc, exited]}))
put("agent_wire", "samples", msg("SAMPLES", {"samples": [["web:2", 0.5, 1048576]]}))
put("agent_wire", "cmd", msg("CMD", {"id": 1, "cmd": "signal", "name": "web:2",
                                     "signal": 1}))
put("agent_wire", "cmd-group", msg("CMD", {"id": 2, "cmd": "restart", "group": "web", "n": 1}))
put("agent_wire", "ack", msg("ACK", {"id": 1, "rc": -3, "message": "no such process"}))
put("agent_wire", "logreq", msg("LOGREQ", {"id": 4, "name": "web:2", "stream": "stdout",
                                           "tail": 200, "offset": -1, "inode": -1}))
put("agent_wire", "logs", msg("LOGS", {"id": 4, "status": 200, "reply": {"lines": ["a"]}}))
put("agent_wire", "ping", msg("PING", {"t": 123456}))
put("agent_wire", "pong", msg("PONG", {"t": 123456}))
put("agent_wire", "register", msg("REGISTER", {}))
put("agent_wire", "refused", msg("REFUSED", {"reason": "unknown key"}))

# ---- secret and key files ----
reset("secret")
put("secret", "token", "  s3cr3t-token \n")
put("secret", "key-crlf", b"\x00\xff raw key bytes\t\r\nsecond line\n")
put("secret", "empty", "\n \n")
pub = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
sec = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"
cert = ("#   ****  Generated on 2026-12-01 by CZMQ  ****\n"
        "#   ZeroMQ CURVE Public Certificate\n#   Exchange securely, or use a secure mechanism"
        " to verify the contents\n#   of this file after exchange. Store public certificates"
        " in your home\n#   directory, in the .curve subdirectory.\n\nmetadata\n"
        "    name = \"node-1\"\ncurve\n    public-key = \"%s\"\n" % pub)
put("secret", "node-1.cert", cert)
put("secret", "node-1.cert_secret", cert + "    secret-key = \"%s\"\n" % sec)

# ---- the queue host: a script of steps (see fuzz_queue.c) ----
reset("queue")


def field(b):
    assert len(b) < 256
    return bytes([len(b)]) + b


def request(client, frames, op_hdr=None):
    # client 0..2 ("A" reads its replies); frames after the routing id
    return bytes([client]) + bytes([len(frames) - 1]) + b"".join(field(f) for f in frames)


def hdr(op, flags=0, req_id=1, timeout=0, count=1):
    return struct.pack(">BBHIiI", 1, op, flags, req_id, timeout, count)


LEASE0 = b"\xff\xff\x00" + b"\x00" * 5
TIME = bytes([6 << 5 | 20])        # 1.6 s pass
GONE_B = bytes([7 << 5 | 1])       # client B goes away
put("queue", "hello-stats", request(0, [hdr(1, count=0)]) + request(0, [hdr(6), b"tasks"]))
put("queue", "put-get-ack", request(0, [hdr(2, count=2), b"tasks", b"m1", b"m2"]) +
    request(0, [hdr(3, count=2, req_id=2), b"tasks"]) +
    request(0, [hdr(4, req_id=3), b"tasks", LEASE0]))
put("queue", "put-get-nack-expire", request(0, [hdr(2, req_id=1), b"results", b"x"]) +
    request(0, [hdr(3, req_id=2, timeout=500), b"results"]) +
    request(0, [hdr(5, req_id=3), b"results", b"\xff\xff\x01" + b"\x00" * 5]) + TIME +
    request(0, [hdr(3, req_id=4, timeout=-1, flags=4, count=3), b"results"]) + TIME)
put("queue", "complete", request(0, [hdr(2, req_id=1), b"tasks", b"t"]) +
    request(0, [hdr(3, req_id=2), b"tasks"]) +
    request(0, [hdr(7, req_id=3), b"results", LEASE0 + bytes([5]) + b"tasks" + b"result"]))
put("queue", "credit-return", request(0, [hdr(8, req_id=1, timeout=1000, count=4), b"tasks"]) +
    request(0, [hdr(2, flags=3, req_id=2, count=3), b"tasks", b"a", b"b", b"c"]) +
    request(0, [hdr(9, req_id=3, count=1), b"tasks"]))
put("queue", "full-wait", request(1, [hdr(2, req_id=1), b"one", b"a"]) +
    request(1, [hdr(2, req_id=2, timeout=1000), b"one", b"b"]) +
    request(0, [hdr(3, req_id=3, timeout=1000), b"one"]) + GONE_B + TIME)
def packed(op, parts, flags=0, req_id=1, timeout=0, count=1):
    # revision 3: one frame, the header and each part as u32 length + bytes
    return hdr(op, flags | 8, req_id, timeout, count) + \
        b"".join(struct.pack(">I", len(p)) + p for p in parts)


put("queue", "packed-put-get-complete", request(0, [packed(2, [b"tasks", b"t1"], flags=2)]) +
    request(0, [packed(3, [b"tasks"], req_id=2, timeout=-1, flags=4, count=2)]) +
    request(0, [packed(7, [b"results", LEASE0 + bytes([5]) + b"tasks" + b"r1"], flags=3,
                       req_id=3)]) +
    request(1, [packed(2, [b"tasks", b"t2"], req_id=4)]) +
    request(0, [packed(4, [b"results", LEASE0], req_id=0)]) + TIME)
put("queue", "packed-durable-credit", request(0, [packed(8, [b"tasks"], timeout=1000, count=2)]) +
    request(0, [packed(2, [b"tasks", b"a"], flags=3, req_id=2)]) +
    request(0, [packed(2, [b"tasks", b"b", b"c"], flags=2, req_id=3, count=2)]) +
    request(2, [packed(6, [b"tasks"], req_id=4)]))
put("queue", "packed-malformed", request(0, [packed(2, [b"tasks", b"x"])[:-1]]) +
    request(0, [packed(2, [b"tasks", b"x"]), b"more"]) +
    request(0, [hdr(2) + b"\x00\x00\x00\x01q"]) +
    request(0, [packed(3, [b"nope"], req_id=9)]))
put("queue", "errors", request(0, [b"\x02short"]) + request(0, [hdr(99)]) +
    request(0, [hdr(2, count=5), b"tasks", b"a"]) + request(0, [hdr(6), b"nope"]) +
    request(0, [hdr(2), b"tasks", b"x" * 100]) + request(2, [hdr(4, count=2), b"tasks", b"1234"]))

# ---- the HTTP API: method, prefix, headers, path, query, body (fuzz_http.c) ----
reset("http")
GET, POST, PUT, HEAD, DELETE, OPTIONS = 0, 1, 2, 3, 4, 5
TOK, ORIGIN_OK, QMARK, JSONCT = 1, 4 | 8, 0x10, 0x20


def http(method, prefix, hdrs=0, path=b"", query=b"", body=b""):
    return bytes([method, prefix, hdrs]) + field(path) + field(query) + body


for i, name in enumerate(["processes", "groups", "agents", "queues", "status", "reload"]):
    put("http", "get-" + name, http(GET, 2, 0, name.encode()))
put("http", "get-process", http(GET, 0, 0, b"web:0"))
put("http", "get-remote", http(GET, 0, 0, b"db:1"))
put("http", "get-group", http(HEAD, 1, 0, b"web"))
put("http", "get-agent", http(GET, 7, 0, b"node-1"))
put("http", "page", http(GET, 8))
put("http", "metrics", http(GET, 9))
put("http", "events", http(GET, 10, 0x40))
put("http", "logs", http(GET, 11, 0, b"", b"stream=stdout&tail=5"))
put("http", "logs-follow", http(GET, 11, 0, b"", b"offset=10&inode=1&tail=0"))
put("http", "logs-remote", http(GET, 5, 0, b"logs", b"stream=stdout&tail=3"))
put("http", "start", http(POST, 3, TOK, b"start"))
put("http", "restart-remote", http(POST, 5, TOK, b"restart"))
put("http", "signal", http(POST, 3, TOK | JSONCT, b"signal", b"", b'{"signal": "HUP"}'))
put("http", "signal-remote", http(POST, 5, TOK, b"signal", b"", b'{"signal": 9}'))
put("http", "group-restart", http(POST, 4, TOK | ORIGIN_OK, b"restart", b"rolling=1"))
put("http", "group-remote", http(POST, 6, TOK, b"stop"))
put("http", "scale", http(PUT, 4, TOK, b"instances", b"", b'{"instances": 3}'))
put("http", "scale-remote", http(PUT, 6, TOK, b"instances", b"", b'{"instances": 7}'))
put("http", "reload", http(POST, 12, TOK))
put("http", "no-token", http(POST, 3, 0, b"stop"))
put("http", "cross-origin", http(POST, 3, TOK | 4, b"stop"))
put("http", "bad-path", http(GET, 0, 0, b"web%00x"))
put("http", "bad-slash", http(GET, 1, 0, b"web%2Fx"))
put("http", "many-args", http(GET, 13, 0, b"", b"a&" * 120))
put("http", "method", http(DELETE, 2, TOK, b"processes"))

# ---- the hub: a script of steps (see fuzz_hub.c) ----
reset("hub")
HTYPES = ["HELLO", "STATE", "EVENT", "SAMPLES", "CMD", "ACK", "LOGREQ", "LOGS", "PING", "PONG",
          "REGISTER", "REFUSED"]
HUSERS = ["node-1", "node-2", "node-3", "local", None]


def body16(body):
    b = json.dumps(body, separators=(",", ":")).encode() if not isinstance(body, bytes) else body
    assert len(b) < 65536
    return struct.pack(">H", len(b)) + b


def hmsg(rid, user, t, body):
    # rid 0..3, user an index of HUSERS; t a type name
    return bytes([rid + 4 * user, HTYPES.index(t)]) + body16(body)


def hproc(name, state="RUNNING", pid=100, **kw):
    group, inst = name.split(":")
    p = dict(proc, name=name, group=group, instance=int(inst), state=state, pid=pid)
    p.update(kw)
    return p


def hello(name, procs, seq=0, labels=None, protocol=1):
    return {"protocol": protocol, "name": name, "version": "0.1.0", "hostname": name,
            "labels": labels or {}, "processes": procs, "cores": 2, "memory_bytes": 1 << 30,
            "boot_id": "b", "seq": seq}


def htime(ms):
    return bytes([160 + min(31, ms // 250)])


HCMD = lambda i, c: bytes([192, i, c])          # c % 4: start stop restart signal
HGROUP = lambda g, c: bytes([208, g, c])        # g: web db work gpu loc nope; c % 4 == 3: scale
HLOGS = lambda i, q: bytes([216, i, q])
HRELOAD = lambda conf, keys: bytes([224 + conf + 2 * keys])
HREAD = bytes([232])

put("hub", "hello-event", hmsg(0, 0, "HELLO", hello("node-1", [hproc("web:2"), hproc("web:3")])) +
    hmsg(0, 0, "EVENT", {"seq": 1, "processes": [hproc("web:2", "STOPPING"),
                                                  dict(hproc("web:3", "EXITED"), removed=True)]}) +
    hmsg(0, 0, "SAMPLES", {"samples": [["web:2", 0.5, 1048576], ["web:0", 1.0, 1]]}) + HREAD)
put("hub", "hello-labels", hmsg(1, 1, "HELLO", hello("node-2", [hproc("work:0"), hproc("db:0")],
                                                  labels={"role": "worker", "zone": "a"})) +
    hmsg(2, 0, "HELLO", hello("node-1", [hproc("work:2")], labels={"role": "worker"})) +
    HRELOAD(1, 0) + HREAD)
put("hub", "lost", hmsg(0, 0, "HELLO", hello("node-1", [hproc("web:2")])) + htime(2000) +
    hmsg(0, 0, "PING", {"t": 5, "rtt_ms": 3}) + htime(4000) + htime(4000) +
    hmsg(0, 0, "PONG", {"t": 5}) + HREAD)
put("hub", "replaced", hmsg(0, 0, "HELLO", hello("node-1", [hproc("web:2")])) +
    hmsg(3, 0, "HELLO", hello("node-1", [hproc("web:3")], seq=4)) +
    hmsg(0, 0, "EVENT", {"seq": 1, "processes": [hproc("web:2", "FATAL")]}) +
    hmsg(3, 0, "EVENT", {"seq": 9, "processes": [hproc("web:3")]}))
put("hub", "commands", hmsg(0, 0, "HELLO", hello("node-1", [hproc("web:2"), hproc("web:3")])) +
    HCMD(1, 3 + 4 * 9) + HGROUP(0, 2) + HLOGS(1, 0x10) +
    hmsg(0, 0, "ACK", {"id": 1, "rc": 0, "message": ""}) +
    hmsg(0, 0, "ACK", {"id": 2, "rc": -3, "message": "no such process"}) +
    hmsg(0, 0, "LOGS", {"id": 3, "status": 200, "reply": {"lines": ["a"]}}) +
    HCMD(2, 1) + htime(6000))
put("hub", "scale-reload", hmsg(1, 1, "HELLO", hello("node-2", [hproc("db:0")])) +
    HGROUP(0, 3 + 4 * 1) + HGROUP(1, 3 + 4 * 3) + HRELOAD(1, 1) + HRELOAD(0, 0) +
    hmsg(0, 2, "HELLO", hello("node-3", [])) + HRELOAD(1, 1))
put("hub", "command-times-out", hmsg(0, 0, "HELLO", hello("node-1", [hproc("web:2")])) +
    HGROUP(0, 0) + htime(2000) + hmsg(0, 0, "PING", {"t": 1}) + htime(2000) +
    hmsg(0, 0, "PING", {"t": 2}) + htime(2000) + hmsg(0, 0, "ACK", {"id": 1, "rc": 0}))
put("hub", "refused", hmsg(0, 1, "HELLO", hello("node-1", [])) +
    hmsg(1, 4, "HELLO", hello("node-2", [])) +
    hmsg(2, 0, "HELLO", hello("node-1", [], protocol=2)) +
    hmsg(3, 3, "HELLO", hello("local", [hproc("web:0", "STOPPED")])) +
    hmsg(2, 0, "EVENT", {"seq": 1, "processes": []}) + HREAD)

# ---- the agent: a script of steps (see fuzz_agent.c) ----
reset("agent")


def amsg(t, body):
    return bytes([0, HTYPES.index(t)]) + body16(body)


def agroup(name, argv, instances=1, base=0, **kw):
    g = dict(group, name=name, argv=argv, instances=instances, instance_base=base, env=[],
             depends_on=[], cwd=None, user=None,
             backoff={"initial_ms": 10, "max_ms": 1000, "factor": 2.0},
             ready={"kind": "none", "target": None, "exec": [], "delay_ms": 0,
                    "timeout_ms": 1000, "interval_ms": 100},
             stop={"signal": 15, "timeout_ms": 500},
             limits={"nofile": -1, "core": 0, "memory": -1, "nproc": -1},
             queue_access=False)
    g.update(kw)
    return g


def astate(gen, groups, **kw):
    b = {"generation": gen, "groups": groups, "heartbeat_ms": 1000, "lost_after": 3}
    b.update(kw)
    return amsg("STATE", b)


def atime(ms):
    return bytes([160 + min(31, ms // 250)])


AHELLO = bytes([192])
ACHLD = bytes([208])
ATERM = bytes([240])

put("agent", "state-true", astate(1, [agroup("web", ["true", "${PORT}"], 2, 4,
                                           env=[["PORT", "80${INSTANCE}"]])]) +
    ACHLD + atime(500) + ACHLD + atime(2000) + ACHLD + atime(6000))
put("agent", "commands", astate(1, [agroup("db", ["sleep", "1000"], 1, 0, restart="always")]) +
    amsg("CMD", {"id": 1, "cmd": "signal", "name": "db:0", "signal": 1}) +
    amsg("CMD", {"id": 2, "cmd": "restart", "group": "db", "n": 1}) +
    amsg("CMD", {"id": 3, "cmd": "stop", "name": "db:0"}) +
    amsg("CMD", {"id": 4, "cmd": "start", "name": "db:9"}) +
    amsg("LOGREQ", {"id": 5, "name": "db:0", "stream": "stdout", "tail": 10, "offset": -1,
                    "inode": -1}) +
    amsg("LOGREQ", {"id": 6, "name": "db:0", "stream": "stdin"}) +
    amsg("PING", {"t": 42}) + atime(1000) + ACHLD)
put("agent", "state-changes", astate(1, [agroup("web", ["true"], 3), agroup("db", ["sleep", "9"])]) +
    atime(250) + astate(2, [agroup("db", ["sleep", "9"], 2), agroup("new", ["x"])]) + ACHLD +
    atime(1000) + astate(3, []) + atime(1000) + ACHLD)
put("agent", "refused-silence", amsg("REFUSED", {"reason": "unknown key"}) + atime(6000) +
    amsg("REGISTER", {}) + amsg("PONG", {"t": 1}) + atime(4000) + atime(4000) + AHELLO +
    amsg("HELLO", {"protocol": 1}))
put("agent", "bad-states", astate(1, [agroup("web", ["true"]), agroup("web", ["true"])]) +
    astate(2, [agroup("web", ["true"], backoff={"initial_ms": 1, "max_ms": 1,
                                               "factor": 0.5})]) +
    astate(3, [agroup("web", ["true"], stdout={"mode": "file", "file": "rel", "max_size": 0,
                                               "keep": 0})]))
put("agent", "ready-queues", astate(1, [agroup("w", ["true"], 1, queue_access=True,
                                               ready={"kind": "exec", "target": None,
                                                      "exec": ["true"], "delay_ms": 0,
                                                      "timeout_ms": 1000,
                                                      "interval_ms": 10}),
                                        agroup("t", ["sleep", "5"], 1, depends_on=["w"],
                                               ready={"kind": "tcp", "target": "h:${PORT}",
                                                      "exec": [], "delay_ms": 0,
                                                      "timeout_ms": 300,
                                                      "interval_ms": 50})],
                                        queues={"url": "tcp://10.0.0.1:9172",
                                                "authkey": base64.b64encode(b"k").decode()}) +
    atime(100) + ACHLD + atime(400) + ACHLD + atime(1000))
put("agent", "shutdown", astate(1, [agroup("db", ["sleep", "100"], 2)]) + ATERM +
    astate(2, [agroup("db", ["sleep", "100"], 3)]) + atime(1000) + ACHLD)
