"""QueueClient: one encrypted connection to droverd's queues.

The wire protocol is docs/queue-protocol.md: a ZeroMQ DEALER with CURVE keys
derived from the authkey, 16-byte headers, request ids. Requests that do not
wait for one another are pipelined: acks and nacks go out without waiting for
a reply, a get can fetch several messages at once (prefetch), put_many and
get_many move up to 4096 messages per round trip.

A client belongs to one thread at a time (ZeroMQ sockets are not
thread-safe); use one client per thread or process. After fork() a child
must make its own client.
"""

import collections
import struct
import time

import zmq
from zmq.utils.monitor import parse_monitor_message

from . import errors
from .errors import (AuthError, ConnectionError, DroverError, Empty, Full, InvalidRequest,
                     Timeout, TooBig)
from .keys import keypair

VERSION = 1
OP_HELLO, OP_PUT, OP_GET, OP_ACK, OP_NACK, OP_STATS = 1, 2, 3, 4, 5, 6
OP_NAMES = {OP_HELLO: "hello", OP_PUT: "put", OP_GET: "get", OP_ACK: "ack", OP_NACK: "nack",
            OP_STATS: "stats"}
MAX_BATCH = 4096            # messages per PUT in put_many
MAX_COUNT = 65536           # protocol limit per request
BATCH_BYTES = 8 << 20       # put_many starts a new request past this many bytes

_REQ = struct.Struct("!BBHIiI")     # version, op, flags, request id, timeout_ms, count
_REP = struct.Struct("!BBhIII")     # version, op, status, request id, count, reserved
_STATS = struct.Struct("!7Q")
_U64 = struct.Struct("!Q")

_HANDSHAKE_FAILED = (zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL |
                     zmq.EVENT_HANDSHAKE_FAILED_AUTH)
_EVENTS = zmq.EVENT_HANDSHAKE_SUCCEEDED | _HANDSHAKE_FAILED | zmq.EVENT_DISCONNECTED


def _ms(timeout):
    """Seconds (None: forever) to the protocol's timeout_ms (-1: forever)."""
    if timeout is None:
        return -1
    if timeout < 0:
        raise ValueError("timeout must be None or >= 0")
    return min(int(timeout * 1000), 0x7FFFFFFF)


class Message:
    """A message leased to this client by get(): .data (bytes), .queue,
    .lease (the server's lease id). ack() when done with it, or nack() to
    put it back at the head of the queue at once. A message neither acked
    nor nacked goes back to the queue when its lease runs out or the client
    closes."""

    __slots__ = ("client", "queue", "lease", "data", "settled")

    def __init__(self, client, queue, lease, data):
        self.client = client
        self.queue = queue
        self.lease = lease
        self.data = data
        self.settled = False

    def ack(self):
        """Done: the server removes the message for good. Asynchronous: no
        round trip. A second ack or nack of the same message does nothing."""
        if not self.settled:
            self.settled = True
            self.client._settle_one(OP_ACK, self)

    def nack(self):
        """Back to the head of the queue now, for any consumer (asynchronous)."""
        if not self.settled:
            self.settled = True
            self.client._settle_one(OP_NACK, self)

    def __repr__(self):
        return "<drover.Message %s lease=%d %d bytes%s>" % (
            self.queue, self.lease, len(self.data), " settled" if self.settled else "")


class QueueClient:
    """A connection to droverd's queue endpoint.

        c = QueueClient("tcp://127.0.0.1:9172", authkey=b"...", timeout=5)

    authkey is the raw shared secret (read_authkey() reads droverd's
    authkey_file the way droverd does). timeout (seconds) bounds the
    connection handshake and is the margin added to each request's own
    timeout before the client gives up with drover.Timeout. prefetch is how
    many messages one get() may fetch at once (the extras are leased to this
    client and handed out by the next get() calls on the same queue).

    Raises AuthError for a wrong key (within milliseconds to a few seconds),
    ConnectionError when nothing answered within timeout.
    """

    def __init__(self, endpoint, authkey, timeout=5.0, prefetch=1, context=None):
        if isinstance(authkey, str):
            authkey = authkey.encode()
        if not authkey:
            raise ValueError("authkey must not be empty")
        if not 1 <= prefetch <= MAX_COUNT:
            raise ValueError("prefetch must be 1..%d" % MAX_COUNT)
        self.endpoint = endpoint
        self.timeout = timeout
        self.prefetch = prefetch
        self.max_frame = None           # the server's largest frame, from HELLO
        self._next_id = 0
        self._replies = {}              # request id -> reply frames that came early
        self._abandoned = {}            # id of a request given up on -> GET's queue or None
        self._names = {}                # queue name -> its bytes on the wire
        self._async_sent = 0            # acks and nacks sent (no reply of their own)
        self._async_seen = 0            # ... of which a later request's reply proves receipt
        self._held = collections.defaultdict(collections.deque)  # prefetched, per queue
        self._ctx = context or zmq.Context.instance()
        self._sock = self._mon = None
        self._up = False                # connected, as far as the monitor told
        server_pub, _ = keypair(authkey, "server")
        client_pub, client_sec = keypair(authkey, "client")
        s = self._ctx.socket(zmq.DEALER)
        try:
            s.curve_serverkey = server_pub
            s.curve_publickey = client_pub
            s.curve_secretkey = client_sec
            s.setsockopt(zmq.LINGER, 2000)
            s.setsockopt(zmq.RECONNECT_IVL, 100)
            s.setsockopt(zmq.RECONNECT_IVL_MAX, 2000)
            s.setsockopt(zmq.HEARTBEAT_IVL, 5000)
            s.setsockopt(zmq.HEARTBEAT_TIMEOUT, 15000)
            self._sock = s
            self._mon = s.get_monitor_socket(_EVENTS)
            self._poller = zmq.Poller()
            self._poller.register(self._sock, zmq.POLLIN)
            self._poller.register(self._mon, zmq.POLLIN)
            s.connect(endpoint)
            self._hello()
        except BaseException:
            self._teardown(linger=0)
            raise

    # ---------------------------------------------------------------- life

    def _hello(self):
        """Sends HELLO and waits for it or for a failed handshake."""
        rid = self._send(OP_HELLO, None, (), 0, 0)
        deadline = time.monotonic() + self.timeout
        while True:
            if rid in self._replies:
                frames = self._replies.pop(rid)
                break
            left = deadline - time.monotonic()
            if left <= 0:
                raise ConnectionError("%s: no answer within %.1f s (is droverd's queue "
                                      "endpoint there?)" % (self.endpoint, self.timeout))
            ready = dict(self._poller.poll(left * 1000))
            if self._mon in ready and self._events() & _HANDSHAKE_FAILED:
                raise AuthError("%s: authentication failed (the server refused the "
                                "authkey)" % self.endpoint)
            if self._sock in ready:
                self._take(self._sock.recv_multipart())
        status = _REP.unpack(frames[0])[2]
        if status:
            self._raise(frames, status, OP_HELLO)
        if len(frames) > 1 and len(frames[1]) == 8:
            self.max_frame = _U64.unpack(frames[1])[0]

    def close(self):
        """Closes the connection. Acks already sent still reach droverd
        (within the 2 s linger); messages still leased to this client,
        prefetched ones included, go back to their queues."""
        if self._sock is not None:
            held = [m for d in self._held.values() for m in d]
            self._held.clear()
            try:
                self._events()
                if held and self._up:
                    self.nack_many(held)    # at once, rather than on the disconnect
                if self._async_sent != self._async_seen and self._up:
                    # Acks and nacks have no reply: one round trip proves
                    # droverd read them before the connection goes (ZeroMQ
                    # may drop unsent messages of a process that exits).
                    self._request(OP_HELLO, None, (), 0, 0)
            except (DroverError, zmq.ZMQError):
                pass
        self._teardown(linger=2000)

    def _teardown(self, linger):
        if self._mon is not None:
            try:
                self._sock.disable_monitor()
            except zmq.ZMQError:
                pass
            self._mon.close(0)
            self._mon = None
        if self._sock is not None:
            self._sock.close(linger)
            self._sock = None
        self._held.clear()

    @property
    def closed(self):
        return self._sock is None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            if self._sock is not None:
                self.close()
        except Exception:
            pass

    # ---------------------------------------------------------------- wire

    def _send(self, op, queue, frames, count, timeout_ms, reply=True):
        """Sends one request; returns its id (0 when no reply is wanted)."""
        sock = self._sock
        if sock is None:
            raise ConnectionError("the client is closed")
        if reply:
            rid = self._next_id = self._next_id % 0xFFFFFFFF + 1
        else:
            rid = 0
            self._async_sent += 1
        head = _REQ.pack(VERSION, op, 0, rid, timeout_ms, count)
        if queue is None:
            sock.send(head)
        elif frames:
            sock.send_multipart([head, queue, *frames])
        else:
            sock.send_multipart((head, queue))
        return rid

    def _request(self, op, q, frames, count, ms, queue=None):
        """Sends a request and returns its reply's frames, and its status
        and count from the header. queue: a GET's queue (bytes), whose
        leases are nacked if the reply comes after the client gave up."""
        # A disconnect that happened before this request must not fail it.
        if self._mon.get(zmq.EVENTS) & zmq.POLLIN:
            self._events()
        sent = self._async_sent
        rid = self._send(op, q, frames, count, ms)
        frames = self._wait(rid, ms, queue)
        self._async_seen = sent     # requests are processed in order
        _, _, status, _, count, _ = _REP.unpack(frames[0])
        return frames, status, count

    def _take(self, frames):
        """Files a reply under its request id (returns the id); nacks the
        leases of a GET reply that came after the client gave up on it."""
        if len(frames[0]) != _REP.size:
            return 0
        _, op, status, rid, count, _ = _REP.unpack(frames[0])
        if rid in self._abandoned:
            q = self._abandoned.pop(rid)
            if op == OP_GET and status == 0 and q is not None and len(frames) > 2:
                self._send(OP_NACK, q, (frames[1],), len(frames[1]) // 8, 0, reply=False)
            return 0
        self._replies[rid] = frames
        return rid

    def _events(self):
        """Reads the pending monitor events without waiting; returns a bad
        one (a failed handshake first, else a disconnect), or 0. A lost
        connection throws away prefetched messages (droverd has requeued
        them)."""
        bad = 0
        while self._mon.get(zmq.EVENTS) & zmq.POLLIN:
            ev = parse_monitor_message(self._mon.recv_multipart())["event"]
            if ev == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                self._up = True
            elif ev == zmq.EVENT_DISCONNECTED or ev & _HANDSHAKE_FAILED:
                self._up = False
                self._held.clear()
                if not bad & _HANDSHAKE_FAILED:  # the disconnect after it says less
                    bad = ev
        return bad

    def _wait(self, rid, timeout_ms, queue=None):
        """The reply frames of request rid, waiting for the request's own
        timeout plus the client's margin. Raises ConnectionError when the
        connection drops meanwhile, Timeout when nothing came."""
        replies = self._replies
        if rid in replies:
            return replies.pop(rid)
        sock, mon, poll = self._sock, self._mon, self._poller.poll
        deadline = None if timeout_ms < 0 else time.monotonic() + timeout_ms / 1000 + self.timeout
        while True:
            if deadline is None:
                ready = poll()
            else:
                left = deadline - time.monotonic()
                if left <= 0:
                    self._abandon(rid, queue)
                    raise Timeout("%s: no reply within %.1f s" % (self.endpoint, timeout_ms / 1000
                                                                  + self.timeout))
                ready = poll(left * 1000)
            for s, _ in ready:
                if s is sock:
                    # One reply per pass: poll says a whole one is there.
                    try:
                        frames = sock.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        continue
                    if self._take(frames) == rid:
                        return replies.pop(rid)
                elif s is mon:
                    ev = self._events()
                    if ev:
                        self._abandon(rid, queue)
                        if ev & _HANDSHAKE_FAILED:
                            raise AuthError("%s: authentication failed on reconnecting" %
                                            self.endpoint)
                        raise ConnectionError("%s: connection lost with a request outstanding "
                                              "(its outcome is unknown)" % self.endpoint)

    def _abandon(self, rid, queue):
        self._abandoned[rid] = queue

    def _raise(self, frames, status, op, queue_name=None):
        """Raises the exception of a reply's non-zero status, with the
        server's words when it sent some."""
        msg = frames[1].decode("utf-8", "replace") if len(frames) > 1 else None
        if not msg:
            msg = errors.strerror(status)
            if queue_name is not None:
                msg = "%s %r: %s" % (OP_NAMES.get(op, "?"), queue_name, msg)
        raise errors.from_status(status, msg)

    def _name(self, queue):
        q = self._names.get(queue)
        if q is None:
            q = queue.encode() if isinstance(queue, str) else bytes(queue)
            if not 1 <= len(q) <= 255 or b"\0" in q:
                raise ValueError("a queue name is 1..255 bytes without NUL: %r" % (queue,))
            if len(self._names) < 1024:
                self._names[queue] = q
        return q

    def _sized(self, data):
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError("a message is bytes, not %s" % type(data).__name__)
        if self.max_frame is not None and len(data) > self.max_frame:
            raise TooBig("message of %d bytes is larger than the server accepts (%d)" %
                         (len(data), self.max_frame))
        return data

    # ---------------------------------------------------------------- API

    def put(self, queue, data, timeout=None):
        """Appends data (bytes) to the tail of queue. Waits up to timeout
        seconds (None: forever, 0: not at all) while the queue is full, then
        raises Full. Returns once droverd has the message (for a durable
        queue: once it is committed). Raises TooBig, NoSuchQueue too."""
        ms = _ms(timeout)
        frames, status, _ = self._request(OP_PUT, self._name(queue), (self._sized(data),), 1, ms)
        if status:
            self._raise(frames, status, OP_PUT, queue)

    def put_many(self, queue, items, timeout=None):
        """Appends every message of items in order, up to 4096 per round
        trip; returns how many. timeout applies to each round trip. On Full
        (or another error) e.done says how many of the first messages went
        in; the rest did not."""
        q = self._name(queue)
        ms = _ms(timeout)
        done = 0
        batch, size = [], 0
        for data in items:
            batch.append(self._sized(data))
            size += len(data)
            if len(batch) >= MAX_BATCH or size >= BATCH_BYTES:
                done = self._put_batch(q, queue, batch, ms, done)
                batch, size = [], 0
        if batch:
            done = self._put_batch(q, queue, batch, ms, done)
        return done

    def _put_batch(self, q, queue, batch, ms, done):
        frames, status, count = self._request(OP_PUT, q, batch, len(batch), ms)
        if status:
            try:
                self._raise(frames, status, OP_PUT, queue)
            except DroverError as e:
                e.done = done + (count if status == errors.EFULL else 0)
                raise
        return done + len(batch)

    def get(self, queue, timeout=None):
        """The next message of queue, leased to this client: a Message with
        .data, .ack() and .nack(). Waits up to timeout seconds (None:
        forever, 0: not at all) while the queue is empty, then raises Empty
        (a queue.Empty). Messages prefetched earlier come first."""
        held = self._held.get(queue)
        if held:
            return held.popleft()
        ms = _ms(timeout)
        msgs = self._get(queue, self.prefetch, ms)
        if len(msgs) > 1:
            self._held[queue].extend(msgs[1:])
        return msgs[0]

    def get_many(self, queue, max=100, timeout=None):
        """Up to max messages of queue in one round trip (at least one:
        waits up to timeout seconds for the first, then raises Empty).
        Prefetched messages, if any, are returned first without waiting."""
        if not 1 <= max <= MAX_COUNT:
            raise ValueError("max must be 1..%d" % MAX_COUNT)
        held = self._held.get(queue)
        if held:
            return [held.popleft() for _ in range(min(max, len(held)))]
        return self._get(queue, max, _ms(timeout))

    def _get(self, queue, count, ms):
        q = self._name(queue)
        frames, status, n = self._request(OP_GET, q, (), count, ms, q)
        if status:
            self._raise(frames, status, OP_GET, queue)
        if n < 1 or len(frames) != n + 2 or len(frames[1]) != 8 * n:
            raise InvalidRequest("malformed GET reply: count %d, %d frames" % (n, len(frames)))
        if n == 1:
            return [Message(self, queue, _U64.unpack(frames[1])[0], frames[2])]
        leases = struct.unpack("!%dQ" % n, frames[1])
        return [Message(self, queue, lease, data) for lease, data in zip(leases, frames[2:])]

    def ack_many(self, msgs):
        """Acks messages (of any queues) with one request per queue, without
        waiting for a reply. Messages already acked or nacked are skipped."""
        self._settle(OP_ACK, msgs)

    def nack_many(self, msgs):
        """Puts messages back at the head of their queues, in order, at once."""
        self._settle(OP_NACK, msgs)

    def _settle(self, op, msgs):
        by_queue = {}
        for m in msgs:
            if m.settled:
                continue
            if m.client is not self:
                raise ValueError("%r belongs to another client" % m)
            m.settled = True
            by_queue.setdefault(m.queue, []).append(m.lease)
        for queue, leases in by_queue.items():
            q = self._name(queue)
            for i in range(0, len(leases), MAX_COUNT):
                part = leases[i:i + MAX_COUNT]
                self._send(op, q, (struct.pack("!%dQ" % len(part), *part),), len(part), 0,
                           reply=False)

    def _settle_one(self, op, m):
        self._send(op, self._name(m.queue), (_U64.pack(m.lease),), 1, 0, reply=False)

    def stats(self, queue):
        """The queue's figures: a dict with size (ready), capacity, in_flight
        (leased, not acked), consumers, put_total, get_total, durable."""
        frames, status, _ = self._request(OP_STATS, self._name(queue), (), 0, 0)
        if status:
            self._raise(frames, status, OP_STATS, queue)
        if len(frames) < 2 or len(frames[1]) != _STATS.size:
            raise InvalidRequest("malformed STATS reply")
        v = _STATS.unpack(frames[1])
        return dict(zip(("size", "capacity", "in_flight", "consumers", "put_total", "get_total"),
                        v[:6]), durable=bool(v[6]))

    def size(self, queue):
        """Number of messages ready in queue (leased ones not counted)."""
        return self.stats(queue)["size"]
