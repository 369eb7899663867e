"""QueueClient: one encrypted connection to droverd's queues.

The wire protocol is docs/queue-protocol.md: a ZeroMQ DEALER with CURVE keys
derived from the authkey, 16-byte headers, request ids. The one-call-at-a-time
shape does not wait for a round trip per call: a put within the credit droverd
granted (places reserved for this client) is sent and returns, its
confirmation is read later (flush() waits for all of them, close() flushes,
and unconfirmed puts are resent after a reconnect); get() is served from a
prefetch buffer that a standing GET keeps filled; complete(), ack() and
nack() are sent without waiting. put_many and get_many move up to 4096
messages per round trip.

A client has a session at droverd (its ZeroMQ routing id, random): when the
connection drops and ZeroMQ connects again (droverd upgraded in place, a
network cut), the client says HELLO and droverd answers whether it kept the
session with its leases. Every request sent before that HELLO and not
answered was not applied (droverd answers all it read before closing a
connection, and drops what a session sends on a new connection before its
HELLO): it is sent again then, without an error to the caller.

A client belongs to one thread at a time (ZeroMQ sockets are not
thread-safe); use one client per thread or process. After fork() a child
must make its own client.
"""

import collections
import os
import struct
import time

import zmq
from zmq.backend import Socket as _Base
from zmq.backend import zmq_poll as _zmq_poll

from . import errors
from .errors import (AuthError, ConnectionError, DroverError, Empty, Full, InvalidRequest,
                     Timeout, TooBig)
from .keys import keypair

VERSION = 1
OP_HELLO, OP_PUT, OP_GET, OP_ACK, OP_NACK, OP_STATS = 1, 2, 3, 4, 5, 6
OP_COMPLETE, OP_CREDIT, OP_RETURN = 7, 8, 9
OP_NAMES = {OP_HELLO: "hello", OP_PUT: "put", OP_GET: "get", OP_ACK: "ack", OP_NACK: "nack",
            OP_STATS: "stats", OP_COMPLETE: "complete", OP_CREDIT: "credit"}
F_CREDITED, F_REFILL = 1, 2     # request flags: within credit; grant credit in the reply
F_STANDING = 4                  # a GET that stays until all it asked for came
F_PACKED = 8                    # revision 3: the request is one frame, and so are its replies
ASYNC_BIT = 0x80000000          # request ids of puts and completes not waited for
SEQ_MASK = 0x7FFFFFFF           # request ids come from one sequence (see _older)
ALOG_PROOF = 4096               # acks not shown read past which a HELLO asks for proof
ALOG_MAX = 1 << 20              # past which the oldest are forgotten
DEFAULT_PREFETCH = 16
IDLE_CREDIT = 1.0               # seconds: credit not used this long goes back at flush
GET_IDLE = 0.2                  # seconds: a get that waits this long gives back all credit
# The adaptive window grows to PREFETCH_AUTO_MAX messages while that many
# of the messages the queue gives fit in PREFETCH_AUTO_BYTES: a consumer of
# small messages faster than a round trip per half window needs a deep one
# (on a loaded 2-core host a round trip takes milliseconds), one of large
# messages does not.
PREFETCH_AUTO_MAX = 1024
PREFETCH_AUTO_BYTES = 8 << 20
CREDIT_WANT = 1024
MAX_BATCH = 4096            # messages per PUT in put_many
MAX_COUNT = 65536           # protocol limit per request
BATCH_BYTES = 8 << 20       # put_many starts a new request past this many bytes
SLICE = 0.1                 # seconds a blocking receive waits before the monitor is read

_REQ = struct.Struct("!BBHIiI")     # version, op, flags, request id, timeout_ms, count
_REP = struct.Struct("!BBhIII")     # version, op, status, request id, count, credit
_STATS = struct.Struct("!7Q")
_U64 = struct.Struct("!Q")
_U32 = struct.Struct("!I")
_EIGHT = _U32.pack(8)
# A monitor event's first frame: event (u16), value (i32), native order and
# no padding (zmq_socket_monitor). Read here rather than with pyzmq's
# zmq.utils.monitor, whose import pulls in asyncio: 45 ms more at every
# start of a program that uses this client.
_MON = struct.Struct("=Hi")
_HDR = 16
_LEN = [bytes((i,)) for i in range(256)]

# The hot path calls libzmq through pyzmq's Cython socket methods with plain
# int flags: the Python-level send_multipart, recv_multipart and enum flags
# cost several microseconds a message, more than the rest of a call.
_send, _recv, _getopt = _Base.send, _Base.recv, _Base.get
_SNDMORE, _NOBLOCK = int(zmq.SNDMORE), int(zmq.NOBLOCK)
_OPT_EVENTS, _RCVMORE, _POLLIN = int(zmq.EVENTS), int(zmq.RCVMORE), int(zmq.POLLIN)


def _recv_all(sock):
    """The frames of one whole message (there must be one)."""
    frames = [_recv(sock, 0)]
    while _getopt(sock, _RCVMORE):
        frames.append(_recv(sock, 0))
    return frames


def _unpack(f):
    """A packed reply (revision 3: the header, then each further frame as a
    u32 length and its bytes) as the frames it stands for."""
    frames, i, n, u = [f[:_HDR]], _HDR, len(f), _U32.unpack_from
    while i < n:
        if n - i < 4:
            raise InvalidRequest("malformed packed reply")
        size = u(f, i)[0]
        i += 4
        if size > n - i:
            raise InvalidRequest("malformed packed reply")
        frames.append(f[i:i + size])
        i += size
    return frames


def _readable(sock):
    return _getopt(sock, _OPT_EVENTS) & _POLLIN


_HANDSHAKE_FAILED = (zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL |
                     zmq.EVENT_HANDSHAKE_FAILED_AUTH)
_EVENTS = zmq.EVENT_HANDSHAKE_SUCCEEDED | _HANDSHAKE_FAILED | zmq.EVENT_DISCONNECTED


def _older(a, b):
    """Was sequence number a sent before b? (31-bit serial numbers)"""
    d = (b - a) & SEQ_MASK
    return 0 < d < (SEQ_MASK >> 1)


class _Lost(Exception):
    """A request went unanswered across a reconnect: not applied, send it again."""


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
    many messages of a queue get() keeps leased to this client ahead of the
    calls (1 turns prefetch off): droverd pushes them as they are put, and
    get() hands them out without a round trip. Their leases run meanwhile,
    so keep prefetch small beside the lease time and the work per message.
    By default (None) it is adaptive: 16, doubled up to 1024 messages (and
    8 MiB of them) whenever a get had to wait for a full window (the queue has plenty and this consumer is
    faster than a round trip per window).

    Raises AuthError for a wrong key (within milliseconds to a few seconds),
    ConnectionError when nothing answered within timeout.
    """

    def __init__(self, endpoint, authkey, timeout=5.0, prefetch=None, context=None):
        if isinstance(authkey, str):
            authkey = authkey.encode()
        if not authkey:
            raise ValueError("authkey must not be empty")
        if prefetch is not None and not 1 <= prefetch <= MAX_COUNT:
            raise ValueError("prefetch must be 1..%d" % MAX_COUNT)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or \
                not 0 < timeout < 1e9:
            raise ValueError("timeout must be seconds, more than 0 (the handshake's bound and "
                             "the margin over each request's own timeout), not %r" % (timeout,))
        self.endpoint = endpoint
        self.timeout = timeout
        self._auto = prefetch is None
        self.prefetch = DEFAULT_PREFETCH if prefetch is None else prefetch
        self._window = {}               # queue (bytes) -> its adaptive prefetch
        self._asked = {}                # queue (bytes) -> what its standing GET asked for
        self._received = {}             # ... and how many of those came
        self._starved = set()           # queues whose get waited for the standing GET
        self.max_frame = None           # the server's largest frame, from HELLO
        self._pack = False              # droverd reads packed requests (revision 3)
        self._qparts = {}               # queue (bytes) -> its part of a packed request
        self._seq = 0                   # of the last request: its id, or id | ASYNC_BIT
        self._tick = 0                  # puts and completes: every 64th reads what came
        self._replies = {}              # request id -> reply frames that came early
        self._abandoned = {}            # id of a request given up on -> its queue or None
        self._names = {}                # queue name -> its bytes on the wire
        self._alog = collections.deque()  # (seq before, op, queue, lease ids frame, n):
        #                                  acks and nacks not shown read yet
        self._alog_n = 0                # lease ids in it
        self._proven = 0                # droverd has read every request before this seq
        self._marker = 0                # a HELLO that proves acks read, until answered
        self._connected = False         # the first HELLO was answered
        self._resync = 0                # the HELLO sent after a disconnect, until answered
        self._waiting = 0               # seq of the request a call waits for
        self._lost = False              # ... it went unanswered across a reconnect
        self._held = collections.defaultdict(collections.deque)  # prefetched, per queue
        self._standing = {}             # queue (bytes) -> id of its standing GET
        self._standing_name = {}        # ... and the name its messages carry
        self._credit = {}               # queue (bytes) -> places reserved for us
        self._inflight = {}             # queue (bytes) -> requests whose replies bring credit
        self._max_message = {}          # queue (bytes) -> its max_message, once a reply said
        self._last_put = {}             # queue (bytes) -> time of the last put or complete
        self._pend = {}                 # id -> [op, queue, last frame, task queue, lease,
        #                                      credited, the answer dict of a put that
        #                                      waits or None, resent (a complete)]
        self._err = None                # the first failure of those, not yet reported
        self._err_count = 0
        self._ctx = context or zmq.Context.instance()
        self._sock = self._mon = None
        self._up = False                # connected, as far as the monitor told
        server_pub, _ = keypair(authkey, "server")
        client_pub, client_sec = keypair(authkey, "client")
        s = self._ctx.socket(zmq.DEALER)
        try:
            # The session id: droverd keeps our leases under it across a new
            # connection. Not 0 first: those are the ids the ROUTER makes up.
            sid = bytearray(os.urandom(16))
            sid[0] = sid[0] or 1
            self.session = bytes(sid)
            s.setsockopt(zmq.ROUTING_ID, self.session)
            s.curve_serverkey = server_pub
            s.curve_publickey = client_pub
            s.curve_secretkey = client_sec
            s.setsockopt(zmq.LINGER, 2000)
            s.setsockopt(zmq.SNDHWM, 1000000)
            s.setsockopt(zmq.RCVHWM, 1000000)
            s.setsockopt(zmq.RECONNECT_IVL, 100)
            s.setsockopt(zmq.RECONNECT_IVL_MAX, 2000)
            s.setsockopt(zmq.HEARTBEAT_IVL, 5000)
            s.setsockopt(zmq.HEARTBEAT_TIMEOUT, 15000)
            if endpoint.startswith("tcp://["):
                # an IPv6 address needs ZeroMQ's IPv6 on (only then: a host
                # name still resolves to its IPv4 address as before)
                s.setsockopt(zmq.IPV6, 1)
            # A wait for a reply is a blocking receive of at most this long
            # (one wakeup, no poll of two sockets), then a look at the monitor.
            s.setsockopt(zmq.RCVTIMEO, int(SLICE * 1000))
            self._sock = s
            self._mon = s.get_monitor_socket(_EVENTS)
            self._items = [(self._sock, _POLLIN), (self._mon, _POLLIN)]
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
            ready = dict(self._pollwait(left))
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
        self._pack = self._revision(frames) >= 3
        self._connected = True

    def close(self, timeout=5.0):
        """Flushes (waits up to timeout seconds for the confirmation of every
        put and complete, see flush()) and closes the connection. Acks
        already sent still reach droverd; messages still leased to this
        client, prefetched ones included, go back to their queues. Raises
        what flush() raises, after closing."""
        err = None
        if self._sock is not None:
            held = [m for d in self._held.values() for m in d]
            self._held.clear()
            self._standing.clear()
            try:
                self._events()
                if self._pend or self._err is not None:
                    try:
                        self.flush(timeout)
                    except DroverError as e:
                        err = e
                live = self._up or self._resync    # connected, or coming back
                if held and live:
                    self.nack_many(held)    # at once, rather than on the disconnect
                if self._alog and live:
                    # Acks and nacks have no reply: one round trip proves
                    # droverd read them before the connection goes (ZeroMQ
                    # may drop unsent messages of a process that exits).
                    self._request(OP_HELLO, None, (), 0, 0)
            except (DroverError, zmq.ZMQError):
                pass
        self._teardown(linger=2000)
        if err is not None:
            raise err

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
        self._pend.clear()

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

    @staticmethod
    def _revision(frames):
        """The protocol revision a HELLO reply names (1 when it names none)."""
        return _U32.unpack(frames[2])[0] if len(frames) > 2 and len(frames[2]) == 4 else 1

    def _qpart(self, queue):
        """A queue name as a part of a packed request, made once."""
        p = self._qparts.get(queue)
        if p is None:
            p = self._qparts[queue] = _U32.pack(len(queue)) + queue
        return p

    def _send(self, op, queue, frames, count, timeout_ms, reply=True, flags=0, rid=None):
        """Sends one request; returns its id (0 when no reply is wanted)."""
        sock = self._sock
        if sock is None:
            raise ConnectionError("the client is closed")
        if rid is not None:
            pass
        elif reply:
            rid = self._seq_next()
        else:
            rid = 0
        if queue is not None and self._pack:
            # one frame (with CURVE every frame is a box of its own), when
            # it fits in what droverd takes
            parts = [self._qpart(queue)]
            for f in frames:
                parts.append(_U32.pack(len(f)))
                parts.append(f)
            body = b"".join(parts)
            if not self.max_frame or _HDR + len(body) <= self.max_frame:
                _send(sock, _REQ.pack(VERSION, op, flags | F_PACKED, rid, timeout_ms, count) +
                      body, 0)
                return rid
        head = _REQ.pack(VERSION, op, flags, rid, timeout_ms, count)
        if queue is None:
            _send(sock, head, 0)
        elif frames:
            _send(sock, head, _SNDMORE)
            _send(sock, queue, _SNDMORE)
            last = len(frames) - 1
            for i, f in enumerate(frames):
                _send(sock, f, _SNDMORE if i < last else 0)
        else:
            _send(sock, head, _SNDMORE)
            _send(sock, queue, 0)
        return rid

    def _seq_next(self):
        """Request ids come from one sequence (sync ids below ASYNC_BIT, the
        ids of puts and completes not waited for with it set), so that a
        reply tells which requests droverd has read: all sent before."""
        self._seq = self._seq % (SEQ_MASK - 1) + 1
        return self._seq

    def _async_id(self):
        return self._seq_next() | ASYNC_BIT

    def _send_leases(self, op, q, frame, n):
        """An ACK or NACK of n lease ids (frame), remembered until a reply
        to a later request shows droverd read it."""
        sock = self._sock
        if sock is None:
            raise ConnectionError("the client is closed")
        if self._pack and (not self.max_frame or len(frame) + 280 <= self.max_frame):
            _send(sock, _REQ.pack(VERSION, op, F_PACKED, 0, 0, n) + self._qpart(q) +
                  _U32.pack(len(frame)) + frame, 0)
        else:
            _send(sock, _REQ.pack(VERSION, op, 0, 0, 0, n), _SNDMORE)
            _send(sock, q, _SNDMORE)
            _send(sock, frame, 0)
        self._alog.append((self._seq, op, q, frame, n))
        self._alog_n += n
        while self._alog_n > ALOG_MAX:
            self._alog_n -= self._alog.popleft()[4]  # at worst delivered again
        if self._alog_n >= ALOG_PROOF and not self._marker and not self._resync and \
                self._connected:
            self._marker = self._send(OP_HELLO, None, (), 0, 0)

    def _prove(self, rid):
        """A reply to request rid: droverd has read every request before it."""
        seq = rid & SEQ_MASK
        if not seq:
            return
        if rid == self._marker:
            self._marker = 0
        proven = self._proven
        if not proven or 0 < (seq - proven) & SEQ_MASK < SEQ_MASK >> 1:    # _older()
            self._proven = proven = seq
        alog = self._alog
        while alog and 0 < (proven - alog[0][0]) & SEQ_MASK < SEQ_MASK >> 1:
            self._alog_n -= alog.popleft()[4]

    def _request(self, op, q, frames, count, ms, queue=None, flags=0, resynced=False,
                 idle=False):
        """Sends a request and returns its reply's frames, and its status,
        count and credit from the header. queue: the request's queue
        (bytes): a GET's leases are nacked, credit granted is kept, if the
        reply comes after the client gave up. A request not applied because
        the connection dropped is sent again (with the time it has left)."""
        end = None if ms < 0 else time.monotonic() + ms / 1000
        deadline = None if end is None else end + self.timeout
        # After a reconnect, the requests sent before go again first.
        if not resynced:
            self._await_resync(deadline)
        left = ms                       # then what is left of it, if sent again
        while True:
            rid = self._send(op, q, frames, count, left, flags=flags)
            try:
                frames = self._wait(rid, ms, queue, deadline, idle)
                break
            except _Lost:
                self._abandon(rid, queue)   # a droverd of revision 1 may answer it still
                left = self._left_ms(end)
        _, _, status, _, count, credit = _REP.unpack(frames[0])
        return frames, status, count, credit

    def _take(self, frames):
        """Files a reply under its request id (returns the id), or deals
        with it: the confirmation of a put or complete, the messages of a
        standing GET, a reply to a request given up on."""
        if len(frames[0]) != _HDR:
            if len(frames[0]) < _HDR or len(frames) > 1:
                return 0
            try:
                frames = _unpack(frames[0])
            except InvalidRequest:
                return 0
        _, op, status, rid, count, credit = _REP.unpack(frames[0])
        if op == OP_HELLO and self._resync and rid == self._resync:
            # the droverd now there may be another (an upgrade)
            self._pack = self._revision(frames) >= 3
            self._resync_done(status == 0 and count == 1)
            return 0
        # Any reply but a HELLO's (one after a reconnect does not count: the
        # requests before it on that connection were dropped) shows what
        # droverd has read.
        if op == OP_HELLO and rid == self._marker:
            self._prove(rid)
            return 0
        if op != OP_HELLO:
            self._prove(rid)
        if rid & ASYNC_BIT:
            self._async_reply(op, status, rid, credit, frames)
            return 0
        if op == OP_GET and self._standing:
            for q, sid in self._standing.items():
                if sid == rid:
                    if status == 0:
                        self._held[self._standing_name[q]].extend(
                            self._messages(self._standing_name[q], frames, count))
                        # All it asked for at once, to a get that waited: a
                        # larger window.
                        left = self._asked.get(q, 0) - self._received.get(q, 0)
                        if q in self._starved:
                            self._starved.discard(q)
                            w = self._window.get(q, self.prefetch)
                            if self._auto and count >= left and w < PREFETCH_AUTO_MAX and \
                                    count and sum(map(len, frames[2:])) // count * 2 * w <= \
                                    PREFETCH_AUTO_BYTES:
                                self._window[q] = 2 * w
                        # It stands at droverd until all it asked for came.
                        self._received[q] = self._received.get(q, 0) + count
                        if count < left:
                            return rid
                    elif status != errors.EEMPTY:
                        self._replies[rid] = frames
                    del self._standing[q]
                    return rid
        if rid in self._abandoned:
            q = self._abandoned.pop(rid)
            if op == OP_GET and status == 0 and q is not None and len(frames) > 2:
                self._send_leases(OP_NACK, q, frames[1], len(frames[1]) // 8)
            elif status == 0 and credit and q is not None:
                self._credit[q] = self._credit.get(q, 0) + credit
            return 0
        self._replies[rid] = frames
        return rid

    def _async_reply(self, op, status, rid, credit, frames):
        """droverd answers the credited requests of one pass to one queue
        with one reply, to the last of them: an OK reply (or a failure with
        count > 1) answers every credited request to that queue sent
        before it too."""
        pend = self._pend
        e = pend.get(rid)
        if e is None:
            return                      # sent before a disconnect, resent since
        q = e[1]
        if credit:
            self._credit[q] = self._credit.get(q, 0) + credit
        answered = [rid]
        if e[5] and (status == 0 or _REP.unpack(frames[0])[4] > 1):
            answered = []
            for i, o in pend.items():
                if o[1] == q and o[5]:
                    answered.append(i)
                if i == rid:
                    break
        n = self._inflight.get(q, 0)
        self._inflight[q] = max(0, n - len(answered))
        for i in answered:
            o = pend.pop(i)
            if len(o) > 6 and o[6] is not None:    # a put that waits for this
                o[6]["status"], o[6]["frames"] = status, frames
            elif status:
                self._failed(o, q, status, frames)

    def _failed(self, e, q, status, frames):
        if e[0] == OP_COMPLETE:         # the task stays leased: give it back now
            self._send_leases(OP_NACK, e[3], _U64.pack(e[4]), 1)
            if e[7]:
                return  # sent again after a reconnect: its task is done again
        if self._err is None:
            msg = frames[1].decode("utf-8", "replace") if len(frames) > 1 else None
            self._err = errors.from_status(status, "%s %r: %s" % (
                OP_NAMES.get(e[0], "?"), q.decode("utf-8", "replace"),
                msg or errors.strerror(status)))
        self._err_count += 1

    def _report(self):
        """Raises the failure of a put or complete not reported yet, with
        .undelivered: how many messages it and later failures cover."""
        e = self._err
        if e is not None:
            e.undelivered = self._err_count
            if self._err_count > 1:
                e.args = ("%s (%d messages not delivered)" % (e.args[0], self._err_count),)
            self._err = None
            self._err_count = 0
            raise e

    def _events(self):
        """Reads the pending monitor events without waiting; returns a bad
        one (a failed handshake first, else a disconnect before the first
        HELLO was answered), or 0. A later disconnect starts a resync."""
        bad = 0
        while self._mon.get(zmq.EVENTS) & zmq.POLLIN:
            frames = self._mon.recv_multipart()
            if len(frames[0]) != _MON.size:
                continue
            ev = _MON.unpack(frames[0])[0]
            if ev == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                self._up = True
            elif ev == zmq.EVENT_DISCONNECTED and self._connected:
                self._up = False
                self._resync_start()
            elif ev == zmq.EVENT_DISCONNECTED or ev & _HANDSHAKE_FAILED:
                self._up = False
                if not bad & _HANDSHAKE_FAILED:  # the disconnect after it says less
                    bad = ev
        return bad

    def _resync_start(self):
        """The connection dropped (ZeroMQ connects again by itself): a HELLO,
        whose answer says whether droverd kept our session. Meanwhile no put
        goes within credit (droverd frees it with the connection)."""
        self._credit.clear()
        if self._resync:                # its answer, if it comes, says nothing now
            self._abandoned[self._resync] = None
        self._resync = self._send(OP_HELLO, None, (), 0, 0)

    def _resync_done(self, resumed):
        """The HELLO after a disconnect is answered: droverd kept our session
        (its leases: prefetched messages stay ours) or not (they went back to
        their queues). Either way every request sent before that HELLO and
        not answered was not applied: puts go again, without credit;
        completes too when the session (so their task's lease) is still
        there; acks and nacks not shown read; a call waiting for a reply
        sends its request again (_Lost). Credit and standing GETs ended with
        the connection."""
        r, self._resync, self._marker = self._resync, 0, 0
        self._credit.clear()
        self._inflight.clear()
        for q, rid in list(self._standing.items()):
            if _older(rid, r):
                del self._standing[q]
                self._abandoned[rid] = q    # a droverd of revision 1 may answer it
        if not resumed:
            self._held.clear()
        old = list(self._pend.items())
        self._pend.clear()              # the same dict: flush() may be watching it
        for rid, e in old:
            if not _older(rid & SEQ_MASK, r):
                self._pend[rid] = e     # sent since: on its way
            elif e[0] == OP_PUT or resumed:
                nid = self._async_id()
                self._send(e[0], e[1], (e[2],), 1, -1 if e[0] == OP_PUT else 0,
                           flags=F_REFILL, rid=nid)
                e[5] = False            # a resend: answered alone
                e[7] = e[0] == OP_COMPLETE
                self._pend[nid] = e
            else:
                continue                # its task went back to its queue
            self._inflight[e[1]] = self._inflight.get(e[1], 0) + 1
        again = []
        while self._alog and _older(self._alog[0][0], r):
            again.append(self._alog.popleft())
            self._alog_n -= again[-1][4]
        if resumed:
            for _, op, q, frame, n in again:
                self._send_leases(op, q, frame, n)
        self._proven = r
        if self._waiting and _older(self._waiting, r):
            self._lost = True

    def _await_resync(self, deadline):
        """Waits up to deadline (None: none) for the end of a resync, if one
        is under way, so that the requests sent before it go again first.
        True when none is under way any more."""
        if _readable(self._mon):
            self._events()
        return not self._resync or self._wait_until(lambda: not self._resync, deadline)

    def _poll(self):
        """Reads the replies and monitor events that are there, without
        waiting."""
        sock = self._sock
        if sock is None:
            raise ConnectionError("the client is closed")
        while _readable(sock):
            self._take(_recv_all(sock))
        if _readable(self._mon) and self._events() & _HANDSHAKE_FAILED:
            raise AuthError("%s: authentication failed on reconnecting" % self.endpoint)

    def _pollwait(self, seconds):
        """Waits up to seconds (None: forever) for the socket or the
        monitor: [(socket, events)] of those ready (libzmq's poll, without
        the Python-level Poller around it)."""
        ms = -1 if seconds is None else max(1, int(seconds * 1000))
        return _zmq_poll(self._items, ms)

    def _wait_until(self, done, deadline):
        """Reads replies until done() or the deadline (None: none); False on
        the deadline, once what had come by then is read (a timeout of 0
        still takes the replies already there). A lost connection is waited
        out (ZeroMQ reconnects)."""
        sock, mon, poll = self._sock, self._mon, self._pollwait
        while not done():
            if deadline is None:
                if self._recv_one():
                    continue
            else:
                left = deadline - time.monotonic()
                if left <= 0:
                    self._poll()
                    return done()
                if left > SLICE:
                    if self._recv_one():
                        continue
                else:
                    for s, _ in poll(left):
                        if s is sock:
                            while _readable(sock):
                                self._take(_recv_all(sock))
                        elif s is mon and self._events() & _HANDSHAKE_FAILED:
                            raise AuthError("%s: authentication failed on reconnecting" %
                                            self.endpoint)
                    continue
            # A slice went by without a reply: the monitor may have news.
            if _readable(mon) and self._events() & _HANDSHAKE_FAILED:
                raise AuthError("%s: authentication failed on reconnecting" % self.endpoint)
        return True

    def _recv_one(self):
        """Waits up to SLICE for a reply (a blocking receive: the cheapest
        wait, one wakeup and no poll of the monitor) and deals with it:
        its request id (see _take), or None when none came."""
        try:
            f = _recv(self._sock, 0)
        except zmq.Again:
            return None
        return self._take_first(f) or -1

    def _take_first(self, f):
        """_take of the reply whose first frame f was just received: its
        other frames, if it has some, are read first."""
        if len(f) > _HDR:               # packed: a reply of one frame
            return self._take((f,))
        frames = [f]
        sock = self._sock
        while _getopt(sock, _RCVMORE):
            frames.append(_recv(sock, 0))
        return self._take(frames)

    def _wait(self, rid, timeout_ms, queue=None, deadline=False, idle=False):
        """The reply frames of request rid, waiting for the request's own
        timeout plus the client's margin (or until deadline). A lost
        connection is waited out; raises _Lost when the request was not
        applied (send it again), Timeout when nothing came. idle (a GET's
        wait): past GET_IDLE this client is not putting, and its credit goes
        back, as for a standing GET."""
        replies = self._replies
        if rid in replies:
            return replies.pop(rid)
        idle_at = time.monotonic() + GET_IDLE if idle else None
        sock, mon, poll = self._sock, self._mon, self._pollwait
        if deadline is False:
            deadline = None if timeout_ms < 0 else \
                time.monotonic() + timeout_ms / 1000 + self.timeout
        self._waiting, self._lost = rid & SEQ_MASK, False
        try:
            while True:
                if self._lost:
                    raise _Lost()
                if idle_at is not None and time.monotonic() >= idle_at:
                    idle_at = None
                    self._return_credit(0)
                if deadline is None:
                    left = None
                else:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        self._abandon(rid, queue)
                        raise Timeout("%s: no reply within %.1f s" % (
                            self.endpoint, timeout_ms / 1000 + self.timeout))
                if left is None or left > SLICE:
                    got = self._recv_one()
                    if got:
                        if got == rid and rid in replies:
                            return replies.pop(rid)
                        continue
                    # A slice without a reply: the monitor may have news.
                    ready = ((mon, _POLLIN),) if _readable(mon) else ()
                else:
                    ready = poll(left)
                for s, _ in ready:
                    if s is sock:
                        while _readable(sock):
                            if self._take(_recv_all(sock)) == rid and rid in replies:
                                return replies.pop(rid)
                    elif s is mon:
                        ev = self._events()
                        if ev:
                            self._abandon(rid, queue)
                            if ev & _HANDSHAKE_FAILED:
                                raise AuthError("%s: authentication failed on reconnecting" %
                                                self.endpoint)
                            raise ConnectionError("%s: connection lost with a request "
                                                  "outstanding (its outcome is unknown)" %
                                                  self.endpoint)
        finally:
            self._waiting, self._lost = 0, False

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

    def _sized(self, data, q=None):
        if type(data) is not bytes:
            if not isinstance(data, (bytes, bytearray, memoryview)):
                raise TypeError("a message is bytes, not %s" % type(data).__name__)
            data = bytes(data)  # its bytes (a memoryview's len counts items)
        if self.max_frame is not None and len(data) > self.max_frame:
            raise TooBig("message of %d bytes is larger than the server accepts (%d)" %
                         (len(data), self.max_frame))
        mm = self._max_message.get(q) if q is not None else None
        if mm is not None and len(data) > mm:
            raise TooBig("message of %d bytes is larger than max_message %d of queue %r" %
                         (len(data), mm, q.decode("utf-8", "replace")))
        return data

    def _deadline(self, timeout, grace=0):
        return None if timeout is None else time.monotonic() + max(timeout, 0) + grace

    def _left_ms(self, deadline):
        if deadline is None:
            return -1
        return max(0, min(int((deadline - time.monotonic()) * 1000), 0x7FFFFFFF))

    def _wait_credit(self, q, deadline):
        """Waits for the replies in flight on q, which bring credit back,
        until q has credit or nothing is in flight (or the deadline)."""
        credit, inflight = self._credit, self._inflight
        self._wait_until(lambda: credit.get(q, 0) > 0 or not inflight.get(q, 0), deadline)
        return credit.get(q, 0)

    def _send_credited(self, op, q, frame):
        """A PUT or COMPLETE of one message frame within credit, not waited
        for: the hot path of put() and complete(), kept short."""
        self._seq = seq = self._seq % (SEQ_MASK - 1) + 1    # _async_id(), inline
        rid = seq | ASYNC_BIT
        sock = self._sock
        if self._pack:      # the frame is within max_message: it fits
            _send(sock, _REQ.pack(VERSION, op, F_CREDITED | F_REFILL | F_PACKED, rid, 0, 1) +
                  self._qpart(q) + _U32.pack(len(frame)) + frame, 0)
        else:
            _send(sock, _REQ.pack(VERSION, op, F_CREDITED | F_REFILL, rid, 0, 1), _SNDMORE)
            _send(sock, q, _SNDMORE)
            _send(sock, frame, 0)
        self._credit[q] -= 1
        self._inflight[q] = self._inflight.get(q, 0) + 1
        self._last_put[q] = time.monotonic()
        return rid

    # ---------------------------------------------------------------- API

    def put(self, queue, data, timeout=None):
        """Appends data (bytes) to the tail of queue.

        Within the credit droverd granted this client for the queue (places
        reserved for it, so the put cannot be Full) the message is sent and
        put() returns at once; droverd's confirmation (for a durable queue:
        the commit) comes back in the background, and flush() waits for it.
        Without credit put() waits up to timeout seconds (None: forever, 0:
        not at all) for some, or for room, then raises Full. A put not
        confirmed when the connection drops is sent again on reconnect.
        Raises TooBig, NoSuchQueue too, and the failure of an earlier put or
        complete not reported yet (e.undelivered: how many messages; this
        one was not sent then)."""
        # The common case first, in one piece: bytes, a queue seen before,
        # credit, a connection that is up, nothing to report, and not the
        # 64th call (which reads the replies).
        q = self._names.get(queue)
        if q is not None and type(data) is bytes and self._pack:
            t = (self._tick + 1) & 63
            mm = self._max_message.get(q)
            if t and self._credit.get(q, 0) > 0 and not self._resync and self._err is None and \
                    mm is not None and len(data) <= mm:
                self._tick = t
                self._pend[self._send_credited(OP_PUT, q, data)] = \
                    [OP_PUT, q, data, None, 0, True, None, False]
                return
        q = self._name(queue)
        data = self._sized(data, q)
        c = self._credit.get(q, 0)
        self._tick = t = (self._tick + 1) & 63
        if t == 0 or c == 0:            # now and then, and whenever credit runs out
            self._poll()
            c = self._credit.get(q, 0)
        if self._resync:
            # After a reconnect the puts not applied go first (order); if that
            # takes longer than this put may wait, it goes after them anyway.
            self._await_resync(self._deadline(timeout, self.timeout))
            c = self._credit.get(q, 0)
        if self._err is not None:
            self._report()
        if c == 0 and self._inflight.get(q, 0):
            c = self._wait_credit(q, self._deadline(timeout))
            if self._err is not None:
                self._report()
        if c > 0:
            rid = self._send_credited(OP_PUT, q, data)
            self._pend[rid] = [OP_PUT, q, data, None, 0, True, None, False]
            return
        self._last_put[q] = time.monotonic()
        # No credit: the put waits for its answer, which grants some. It is
        # kept like the others until then, and sent again if the connection
        # drops meanwhile.
        ms = _ms(timeout)
        if _readable(self._mon):
            self._events()
        rid = self._async_id()
        answer = {}
        e = self._pend[rid] = [OP_PUT, q, data, None, 0, False, answer, False]
        self._send(OP_PUT, q, (data,), 1, ms, flags=F_REFILL, rid=rid)
        self._inflight[q] = self._inflight.get(q, 0) + 1
        deadline = None if ms < 0 else time.monotonic() + ms / 1000 + self.timeout
        if not self._wait_until(lambda: answer, deadline):
            e[6] = None                 # answered later like the others
            raise Timeout("%s: no reply within %.1f s (the put stays pending, see flush)" %
                          (self.endpoint, ms / 1000 + self.timeout))
        frames, status = answer["frames"], answer["status"]
        if status:
            self._raise(frames, status, OP_PUT, queue)
        if len(frames) > 1 and len(frames[1]) == 8:
            self._max_message[q] = _U64.unpack(frames[1])[0]

    def complete(self, task, queue, data, timeout=None):
        """Puts data (bytes) into queue as the result of task (a Message
        from get()) and acks the task, in one request that droverd applies
        whole or not at all: a task whose lease ran out, or that went back
        after this client's connection dropped, gets no result from this
        call, so a redelivered task ends with exactly one result. Sent
        without waiting, within this client's credit for queue like put();
        without credit it waits up to timeout seconds for room, then raises
        Full. On any failure the task is nacked (back to its queue for
        another try). A complete that droverd refuses later nacks its task
        too, and the next put, get or flush() reports it."""
        # The common case first, in one piece (see put()).
        q = self._names.get(queue)
        if q is not None and type(data) is bytes and self._pack and task.client is self and \
                not task.settled:
            t = (self._tick + 1) & 63
            mm = self._max_message.get(q)
            if t and self._credit.get(q, 0) > 0 and not self._resync and \
                    mm is not None and len(data) <= mm:
                self._tick = t
                tq = self._names.get(task.queue) or self._name(task.queue)
                task.settled = True
                frame = _U64.pack(task.lease) + _LEN[len(tq)] + tq + data
                self._pend[self._send_credited(OP_COMPLETE, q, frame)] = \
                    [OP_COMPLETE, q, frame, tq, task.lease, True, None, False]
                return
        if task.client is not self:
            raise ValueError("%r belongs to another client" % task)
        if task.settled:
            raise ValueError("%r was acked or nacked already" % task)
        try:
            q = self._name(queue)
            data = self._sized(data, q)
            c = self._credit.get(q, 0)
            self._tick = t = (self._tick + 1) & 63
            if t == 0 or c == 0:
                self._poll()
                c = self._credit.get(q, 0)
            if self._resync:
                self._await_resync(self._deadline(timeout, self.timeout))
                c = self._credit.get(q, 0)
            if c == 0:
                deadline = self._deadline(timeout)
                if self._inflight.get(q, 0):
                    c = self._wait_credit(q, deadline)
                if c == 0:
                    frames, status, _, credit = self._request(
                        OP_CREDIT, q, (), CREDIT_WANT, self._left_ms(deadline), q)
                    if status:
                        self._raise(frames, status, OP_PUT, queue)
                    self._credit[q] = self._credit.get(q, 0) + credit
                    if len(frames) > 1 and len(frames[1]) == 8:
                        self._max_message[q] = _U64.unpack(frames[1])[0]
                    self._sized(data, q)
        except BaseException:
            task.nack()
            raise
        tq = self._name(task.queue)
        task.settled = True
        frame = b"".join((_U64.pack(task.lease), _LEN[len(tq)], tq, data))
        rid = self._send_credited(OP_COMPLETE, q, frame)
        self._pend[rid] = [OP_COMPLETE, q, frame, tq, task.lease, True, None, False]

    def flush(self, timeout=None):
        """Waits up to timeout seconds (None: forever) until droverd has
        confirmed every put and complete sent without waiting (those resent
        after a reconnect included), and gives back the credit of queues
        this client has not put into for a second (a get that waits 0.2 s
        gives back all of it; close too). Raises the first failure among them (e.undelivered: how many
        messages failed), or Timeout when confirmations are still missing
        (e.undelivered: how many; they stay pending and are resent on
        reconnect)."""
        pend = self._pend
        if not pend:
            self._poll()
        # else the wait reads the replies, and the monitor whenever a slice
        # passes without one (a lost connection sends no replies)
        ok = not pend or self._wait_until(lambda: not pend, self._deadline(timeout))
        if ok:
            self._return_credit(IDLE_CREDIT)
        elif self._err is not None:
            self._err_count += len(pend)  # as libdrover: what failed and what is unconfirmed
        self._report()
        if not ok:
            e = Timeout("%s: %d puts or completes not confirmed within %.1f s" %
                        (self.endpoint, len(pend), timeout))
            e.undelivered = len(pend)
            raise e

    def _return_credit(self, idle):
        """Gives back the credit of queues with nothing in flight that this
        client has not put into for idle seconds, so that a client that
        stopped putting holds no places."""
        now = time.monotonic()
        for q, c in self._credit.items():    # values change, keys do not
            if c > 0 and not self._inflight.get(q, 0) and now - self._last_put.get(q, 0) >= idle:
                self._send(OP_RETURN, q, (), c, 0, reply=False)
                self._credit[q] = 0

    def put_many(self, queue, items, timeout=None):
        """Appends every message of items in order, up to 4096 per round
        trip, each batch waited for; returns how many. timeout applies to
        each round trip. On Full (or another error) e.done says how many of
        the first messages went in; the rest did not."""
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
        frames, status, count, _ = self._request(OP_PUT, q, batch, len(batch), ms)
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
        (a queue.Empty). Served from the prefetch buffer, which a standing
        GET at droverd keeps filled. Reports the failure of an earlier put
        or complete first."""
        if self._err is not None:
            self._report()
        held = self._held.get(queue)
        if held:
            m = held.popleft()
            if len(held) <= (PREFETCH_AUTO_MAX if self._auto else self.prefetch) >> 1 and \
                    self._names.get(queue) not in self._standing:
                self._rearm(queue)
            return m
        if self.prefetch == 1 and not self._resync:
            # Nothing is prefetched, so nothing waits on news of the
            # session: the GET goes at once (a disconnect not read yet
            # shows when the wait for its reply reads the monitor, and the
            # GET goes again then).
            return self._get_one(queue, _ms(timeout))
        if self._resync or _readable(self._mon):
            # After a reconnect: whether the session (the prefetched
            # messages) is still ours comes first; waited for as a reply is.
            if not self._await_resync(self._deadline(timeout, self.timeout)):
                raise Empty("get %r: %s" % (queue, errors.strerror(errors.EEMPTY)))
            held = self._held.get(queue)
            if held:
                m = held.popleft()
                self._rearm(queue)
                return m
        if self.prefetch == 1:
            return self._get(queue, 1, _ms(timeout), True)[0]
        q = self._name(queue)
        rid = self._standing.get(q)
        if rid is None:
            # Nothing standing: an ordinary GET, so that a timeout of 0
            # still takes what is there.
            msgs = self._get(queue, self._window.get(q, self.prefetch), _ms(timeout))
            if len(msgs) > 1:
                self._held[queue].extend(msgs[1:])
            self._rearm(queue)
            return msgs[0]
        held = self._held[queue]
        standing = self._standing
        deadline = self._deadline(timeout)
        self._starved.add(q)
        idle = False
        while True:
            until = deadline
            if not idle and (until is None or until - time.monotonic() > GET_IDLE):
                until = time.monotonic() + GET_IDLE
            if not self._wait_until(lambda: held or standing.get(q) != rid, until) and \
                    until != deadline:
                idle = True             # not putting meanwhile: the credit goes back
                self._return_credit(0)
                continue
            if held or rid in self._replies or q in standing:
                break
            # The connection dropped: droverd forgot the standing GET. Ask
            # again (ZeroMQ sends it once reconnected) and wait on.
            self._rearm(queue)
            rid = standing.get(q)
            if rid is None:
                break
        if not held:
            if q not in standing and rid in self._replies:   # it failed: say why
                frames = self._replies.pop(rid)
                self._raise(frames, _REP.unpack(frames[0])[2], OP_GET, queue)
            if self._err is not None:
                self._report()
            raise Empty("get %r: %s" % (queue, errors.strerror(errors.EEMPTY)))
        m = held.popleft()
        self._rearm(queue)
        return m

    def _rearm(self, queue):
        """Keeps one GET of up to prefetch messages standing at droverd for
        queue, renewed once the buffer is down to half."""
        if self.prefetch <= 1 or self._sock is None:
            return
        q = self._name(queue)
        held = len(self._held.get(queue, ()))
        w = self._window.get(q, self.prefetch)
        if q in self._standing or held > w >> 1:
            return
        self._standing[q] = self._send(OP_GET, q, (), w - held, -1, flags=F_STANDING)
        self._asked[q] = w - held
        self._received[q] = 0
        self._standing_name[q] = queue

    def get_many(self, queue, max=100, timeout=None):
        """Up to max messages of queue in one round trip (at least one:
        waits up to timeout seconds for the first, then raises Empty).
        Prefetched messages, if any, are returned first without waiting."""
        if not 1 <= max <= MAX_COUNT:
            raise ValueError("max must be 1..%d" % MAX_COUNT)
        if self._err is not None:
            self._report()
        held = self._held.get(queue)
        if not held and self._names.get(queue) in self._standing:
            # A GET of ours stands at droverd: it is served before any
            # other, so wait for it as get() does, then take what it brought.
            held = self._held[queue]
            held.appendleft(self.get(queue, timeout))
        if held:
            return [held.popleft() for _ in range(min(max, len(held)))]
        return self._get(queue, max, _ms(timeout))

    def _get(self, queue, count, ms, resynced=False):
        q = self._name(queue)
        frames, status, n, _ = self._request(OP_GET, q, (), count, ms, q, resynced=resynced,
                                             idle=True)
        if status:
            self._raise(frames, status, OP_GET, queue)
        return self._messages(queue, frames, n)

    def _get_one(self, queue, ms):
        """get() with prefetch off, the common case in one piece: a packed
        GET, and its reply, when it is the next to come, packed, with its
        one message, made into the Message here. Anything else (another
        reply first, a slice without one, a failure, a reconnect) goes the
        general way."""
        q = self._names.get(queue)
        sock = self._sock
        if q is None or sock is None or not self._pack:
            return self._get(queue, 1, ms, True)[0]
        end = None if ms < 0 else time.monotonic() + ms / 1000
        self._seq = rid = self._seq % (SEQ_MASK - 1) + 1     # _seq_next(), inline
        _send(sock, _REQ.pack(VERSION, OP_GET, F_PACKED, rid, ms, 1) + self._qpart(q), 0)
        try:
            f = _recv(sock, 0)
        except zmq.Again:
            f = None
        if f is not None:
            n = len(f)
            if n >= 32:
                _, op, status, r, count, _ = _REP.unpack_from(f)
                if r == rid and op == OP_GET and not status and count == 1 and \
                        f[16:20] == _EIGHT and _U32.unpack_from(f, 28)[0] == n - 32:
                    self._prove(rid)
                    return Message(self, queue, _U64.unpack_from(f, 20)[0], f[32:])
            self._take_first(f)
        try:
            frames = self._wait(rid, ms, q, None if end is None else end + self.timeout,
                                idle=True)
            _, _, status, _, n, _ = _REP.unpack(frames[0])
        except _Lost:
            self._abandon(rid, q)   # a droverd of revision 1 may answer it still
            frames, status, n, _ = self._request(OP_GET, q, (), 1, self._left_ms(end), q,
                                                 resynced=True, idle=True)
        if status:
            self._raise(frames, status, OP_GET, queue)
        return self._messages(queue, frames, n)[0]

    def _messages(self, queue, frames, n):
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
            per = MAX_COUNT if not self.max_frame else max(1, min(MAX_COUNT, self.max_frame // 8))
            for i in range(0, len(leases), per):
                part = leases[i:i + per]
                self._send_leases(op, q, struct.pack("!%dQ" % len(part), *part), len(part))

    def _settle_one(self, op, m):
        self._send_leases(op, self._name(m.queue), _U64.pack(m.lease), 1)

    def stats(self, queue):
        """The queue's figures: a dict with size (ready), capacity, in_flight
        (leased, not acked), consumers, put_total, get_total, durable."""
        frames, status, _, _ = self._request(OP_STATS, self._name(queue), (), 0, 0)
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
