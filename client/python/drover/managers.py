"""drover.managers: the multiprocessing.managers task_master/task_worker code,
served by droverd.

Code written for Python's multiprocessing.managers runs on drover's queues
with its import line and its address changed:

    from drover.managers import BaseManager  # was: multiprocessing.managers

    class QueueManager(BaseManager):
        pass

    QueueManager.register('get_task_queue')
    QueueManager.register('get_result_queue')
    m = QueueManager(address=('127.0.0.1', 9172), authkey=b'abc')  # droverd's queues
    m.connect()
    task = m.get_task_queue()
    n = task.get(timeout=1)                 # queue.Empty after 1 s, as before

droverd is the server: the queues are declared in its configuration (a
registered typeid names a drover queue: the typeid itself, or the queue=
given to register()), the authkey is the first line of its
queues.authkey_file, and start()/shutdown() only connect, check the queues
and close. What changes:

- Values go through a safe codec, not pickle: int, float, str, bytes, bool,
  None and lists, tuples and dicts of those. Anything else is refused with an
  EncodeError naming its type. BaseManager(..., codec='pickle') is the
  explicit opt-in to pickle, with its risk: any holder of the authkey can
  then run code in every process that gets from the queues.
- A get() leases the message. It is acked by task_done(), or, in code that
  never calls task_done(), by the same proxy's next get() or when the
  manager closes (shutdown(), the end of a with block, the exit of the
  process). A worker killed meanwhile, or one that dies of an uncaught
  exception, gives the task back to the queue for another worker.
- A wrong authkey raises AuthenticationError (a multiprocessing
  AuthenticationError and a drover.AuthError); a queue droverd does not have
  raises UnknownQueue at the first call, naming the queue.

docs/queues.md, "Coming from multiprocessing.managers", has the details.
"""

import atexit
import builtins
import collections
import multiprocessing
import multiprocessing.util
import os
import pickle
import sys
import threading
import time
import weakref

from .client import QueueClient
from .errors import AuthError, NoSuchQueue
from .errors import ConnectionError as _DroverConnectionError
from .keys import read_authkey

__all__ = ["BaseManager", "QueueProxy", "AuthenticationError", "ConnectionRefused", "UnknownQueue",
           "EncodeError", "DecodeError", "PickleRefused", "encode", "decode", "CODECS"]

DEFAULT_ENDPOINT = "tcp://127.0.0.1:9172"
MAX_DEPTH = 100             # nesting of lists, tuples and dicts the safe codec accepts
FLUSH_TIMEOUT = 30.0        # seconds shutdown() waits for droverd to confirm the puts
FAST_TASK = 0.002           # back for the next get() within this: fetch more per round trip
DEFAULT_WINDOW = 256        # ... up to this many
TAIL = 64                   # ... but the last messages of a queue one at a time


class AuthenticationError(AuthError, multiprocessing.AuthenticationError):
    """droverd refused the authkey. Caught by `except
    multiprocessing.AuthenticationError` as well as by `except
    drover.AuthError`."""


class ConnectionRefused(_DroverConnectionError, builtins.ConnectionRefusedError):
    """Nothing answered at the address within the timeout. Caught by
    `except ConnectionRefusedError` (what the managers' connect() raises
    when nothing listens) as well as by `except drover.ConnectionError`."""


class UnknownQueue(NoSuchQueue):
    """A registered typeid names a queue droverd does not have. .queue is
    the name looked for, .typeid the registered name."""

    def __init__(self, message, queue=None, typeid=None):
        super().__init__(message)
        self.queue = queue
        self.typeid = typeid


class EncodeError(TypeError):
    """put() of a value the manager's codec cannot carry. .type is the name
    of the type refused."""

    def __init__(self, message, type_name=None):
        super().__init__(message)
        self.type = type_name


class DecodeError(ValueError):
    """get() of a message that is not in the manager's codec. .data is the
    message's bytes; the message counts as gotten (task_done() or the next
    get() acks it)."""

    def __init__(self, message, data=None):
        super().__init__(message)
        self.data = data


class PickleRefused(DecodeError):
    """get() of a pickled message by a manager that did not opt in to pickle."""


# ---------------------------------------------------------------- the safe codec
#
# One value is a tag byte and, for most tags, a payload:
#   n T F            None, True, False
#   i<hex>;          int (hexadecimal: no digit limit either way)
#   f<repr>;         float
#   s<len>:<utf-8>   str (lone surrogates kept)
#   b<len>:<bytes>   bytes
#   l<n>: t<n>: d<n>:  list, tuple of n values; dict of n key, value pairs
# A message is exactly one value. Pickles start with 0x80, which no tag is.

_REFUSE = ("the safe codec carries int, float, str, bytes, bool, None and lists, tuples and "
           "dicts of them: convert it, or create the manager with codec='pickle' if every "
           "holder of the authkey is trusted (docs/queues.md)")


def _refuse(x, where):
    name = type(x).__qualname__
    mod = type(x).__module__
    if mod not in ("builtins", None):
        name = "%s.%s" % (mod, name)
    raise EncodeError("drover.managers: cannot send a value of type %s%s: %s" %
                      (name, where, _REFUSE), name)


def _enc(x, out, depth):
    t = type(x)
    if t is int:
        out.append(b"i%x;" % x)
    elif t is str:
        b = x.encode("utf-8", "surrogatepass")
        out.append(b"s%d:" % len(b))
        out.append(b)
    elif t is bytes:
        out.append(b"b%d:" % len(x))
        out.append(x)
    elif x is None:
        out.append(b"n")
    elif x is True:
        out.append(b"T")
    elif x is False:
        out.append(b"F")
    elif t is float:
        out.append(b"f%s;" % repr(x).encode())
    elif t is list or t is tuple:
        if depth >= MAX_DEPTH:
            raise EncodeError("drover.managers: values nested deeper than %d" % MAX_DEPTH,
                              t.__name__)
        out.append(b"%s%d:" % (b"l" if t is list else b"t", len(x)))
        for v in x:
            _enc(v, out, depth + 1)
    elif t is dict:
        if depth >= MAX_DEPTH:
            raise EncodeError("drover.managers: values nested deeper than %d" % MAX_DEPTH, "dict")
        out.append(b"d%d:" % len(x))
        for k, v in x.items():
            _enc(k, out, depth + 1)
            _enc(v, out, depth + 1)
    else:
        _refuse(x, "" if depth == 0 else " (inside a list, tuple or dict)")


def encode(x):
    """The bytes of x in the safe codec; EncodeError names a type it does
    not carry."""
    t = type(x)
    if t is int:                    # the common cases, without a list
        return b"i%x;" % x
    if t is str:
        b = x.encode("utf-8", "surrogatepass")
        return b"s%d:%s" % (len(b), b)
    out = []
    _enc(x, out, 0)
    return b"".join(out)


def _size(b, i, end, what):
    """A decimal length or count at b[i:] up to ':', checked against the
    bytes left; returns (n, index after ':')."""
    j = b.find(b":", i, i + 21)
    if j < 0:
        raise DecodeError("malformed %s length" % what, b)
    digits = b[i:j]
    if not digits.isdigit():
        raise DecodeError("malformed %s length" % what, b)
    n = int(digits)
    if n > end - (j + 1):
        raise DecodeError("%s of %d overruns the message" % (what, n), b)
    return n, j + 1


def _dec(b, i, end, depth):
    """The value at b[i:], and the index after it."""
    if i >= end:
        raise DecodeError("truncated message", b)
    tag = b[i]
    i += 1
    if tag == 0x69:                 # i
        j = b.find(b";", i)
        if j < 0:
            raise DecodeError("unterminated int", b)
        try:
            return int(b[i:j], 16), j + 1
        except ValueError:
            raise DecodeError("malformed int", b) from None
    if tag == 0x73 or tag == 0x62:  # s b
        n, i = _size(b, i, end, "str" if tag == 0x73 else "bytes")
        raw = b[i:i + n]
        if tag == 0x62:
            return raw, i + n
        try:
            return raw.decode("utf-8", "surrogatepass"), i + n
        except UnicodeDecodeError:
            raise DecodeError("str that is not UTF-8", b) from None
    if tag == 0x6E:                 # n
        return None, i
    if tag == 0x54:                 # T
        return True, i
    if tag == 0x46:                 # F
        return False, i
    if tag == 0x66:                 # f
        j = b.find(b";", i, i + 64)
        if j < 0:
            raise DecodeError("unterminated float", b)
        try:
            return float(b[i:j]), j + 1
        except ValueError:
            raise DecodeError("malformed float", b) from None
    if tag in (0x6C, 0x74, 0x64):   # l t d
        if depth >= MAX_DEPTH:
            raise DecodeError("values nested deeper than %d" % MAX_DEPTH, b)
        n, i = _size(b, i, end, "container")   # each item is at least one byte
        if tag == 0x64:
            d = {}
            for _ in range(n):
                k, i = _dec(b, i, end, depth + 1)
                v, i = _dec(b, i, end, depth + 1)
                try:
                    d[k] = v
                except TypeError:
                    raise DecodeError("dict key of unhashable type %s" % type(k).__name__,
                                      b) from None
            return d, i
        items = []
        for _ in range(n):
            v, i = _dec(b, i, end, depth + 1)
            items.append(v)
        return (items if tag == 0x6C else tuple(items)), i
    if tag == 0x80:
        raise PickleRefused(
            "drover.managers: refusing to unpickle a message (it was put by a manager created "
            "with codec='pickle'): unpickling runs code chosen by whoever put it. Create this "
            "manager with codec='pickle' too if every holder of the authkey is trusted", b)
    raise DecodeError("not a message of drover.managers' safe codec (first byte %r)" %
                      b[i - 1:i], b)


def decode(b):
    """The value in b (bytes) of the safe codec. Raises DecodeError for
    anything else (PickleRefused for a pickle), never runs code."""
    b = bytes(b)
    v, i = _dec(b, 0, len(b), 0)
    if i != len(b):
        raise DecodeError("%d bytes after the value" % (len(b) - i), b)
    return v


def _raw_encode(x):
    if type(x) is bytes:
        return x
    if isinstance(x, (bytearray, memoryview)):
        return bytes(x)
    raise EncodeError("drover.managers: codec='raw' sends bytes, not %s" %
                      type(x).__qualname__, type(x).__qualname__)


def _pickle_encode(x):
    return pickle.dumps(x, pickle.HIGHEST_PROTOCOL)


def _pickle_decode(b):
    if b[:1] == b"\x80":
        return pickle.loads(b)
    return decode(b)


# name -> (encode, decode). "raw": bytes as they are, for queues shared
# with the C client or droverctl.
CODECS = {
    "safe": (encode, decode),
    "raw": (_raw_encode, bytes),
    "pickle": (_pickle_encode, _pickle_decode),
}


# ---------------------------------------------------------------- exits

_managers = weakref.WeakSet()   # managers with connections open in this process
_crashed = False                # an uncaught exception is ending the process
_prev_excepthook = None         # set when ours is installed


def _excepthook(t, v, tb):
    global _crashed
    _crashed = True
    _prev_excepthook(t, v, tb)


def _thread_excepthook(args):
    """An uncaught exception ends a thread: what it got goes back at exit
    (the process's managers give back then, as for the main thread's)."""
    global _crashed
    if args.exc_type is not SystemExit:
        _crashed = True
    _prev_thread_excepthook(args)


_prev_thread_excepthook = None


def _hook_exits():
    """At the first connection: at exit, close every manager (ack what
    was gotten) unless an uncaught exception is killing the process or one
    of its threads (then give it back). A multiprocessing.Process child
    ends with os._exit, without atexit: its finalizers (which run at the
    end of the target, with its exception in flight if it raised) close
    them there."""
    global _prev_excepthook, _prev_thread_excepthook
    if _prev_excepthook is not None:
        return
    _prev_excepthook = sys.excepthook
    sys.excepthook = _excepthook
    _prev_thread_excepthook = threading.excepthook
    threading.excepthook = _thread_excepthook
    atexit.register(_at_exit)
    _finalize_here()
    # A forked Process child starts with no finalizers: register it there too.
    multiprocessing.util.register_after_fork(_hook_exits, _finalize_here)


def _finalize_here(_=None):
    multiprocessing.util.Finalize(None, _at_process_exit, exitpriority=100)


def _after_fork_in_child():
    """A child of fork() must not touch its parent's ZeroMQ sockets, not
    even to close them (libzmq's threads are not in the child: that
    hangs). The parent's connections are detached here and kept, unused,
    until the child exits; the child makes its own on first use."""
    pid = os.getpid()
    for m in list(_managers):
        m._lock = threading.Lock()     # another thread may have held it: it is not here
        inherited = [s for s in m._sessions if s.pid != pid]
        m._sessions = [s for s in m._sessions if s.pid == pid]
        for s in inherited:
            c, s.client = s.client, None
            if c is not None:
                _orphans.append((c._sock, c._mon))
                c._sock = c._mon = None     # its close() and __del__ do nothing now
        m._local = threading.local()


_orphans = []
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _at_exit(crashed=False):
    for m in list(_managers):
        try:
            m._close(done=not (_crashed or crashed))
        except Exception as e:      # too late to raise: say it
            print("drover.managers: at exit: %s: %s" % (type(e).__name__, e), file=sys.stderr)


def _at_process_exit():
    """multiprocessing's finalizers: at the end of a Process's target (the
    exception that ends it, if any, in flight), and at a normal exit after
    atexit (nothing left to close then)."""
    e = sys.exc_info()[1]
    _at_exit(crashed=e is not None and not (isinstance(e, SystemExit) and e.code in (None, 0)))


# ---------------------------------------------------------------- connections

class _Leases:
    """What one thread got from one queue: messages handed out and not yet
    acked, gets not yet matched by task_done(), whether the code calls
    task_done() (then only task_done() acks), and messages fetched ahead and
    not handed out yet, with the window that fetches them."""

    __slots__ = ("held", "owed", "explicit", "ahead", "window", "got_at")

    def __init__(self):
        self.held = collections.deque()
        self.owed = 0
        self.explicit = False
        self.ahead = collections.deque()
        self.window = 1
        self.got_at = None      # when the last get() returned (monotonic seconds)


class _Session:
    """One thread's connection to droverd and its leases."""

    __slots__ = ("client", "pid", "leases", "last", "__weakref__")

    def __init__(self, client):
        self.client = client
        self.pid = os.getpid()
        self.leases = collections.defaultdict(_Leases)
        self.last = None        # the message of the last get(), until the next put()

    def settle(self, done):
        """Acks the messages gotten by code that never calls task_done()
        (done), gives back those still owed a task_done() and those fetched
        ahead, then closes."""
        c = self.client
        if c is None or c.closed:
            return
        ack, nack = [], []
        for ls in self.leases.values():
            (ack if done and not ls.explicit else nack).extend(ls.held)
            nack.extend(ls.ahead)           # fetched, never handed out
            ls.held.clear()
            ls.ahead.clear()
        try:
            if nack:
                c.nack_many(nack)
            if ack:
                c.ack_many(ack)
            if hasattr(c, "flush"):     # puts confirmed before close() returns
                c.flush(timeout=FLUSH_TIMEOUT)
        finally:
            c.close()
            self.client = None


def _endpoint(address):
    """droverd's queue endpoint for a managers address: (host, port), with
    '' for this host, or an endpoint string ("tcp://host:port", "host:port")."""
    if address is None:
        return os.environ.get("DROVER_QUEUE_URL") or DEFAULT_ENDPOINT
    if isinstance(address, str):
        if "://" in address:
            return address
        host, sep, port = address.rpartition(":")
        if not sep:
            raise ValueError("address %r: give (host, port) or 'tcp://host:port'" % address)
        address = (host, port)
    if not isinstance(address, (tuple, list)) or len(address) != 2:
        raise ValueError("address %r: give (host, port) of droverd's queue endpoint" % (address,))
    host, port = address
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = "[%s]" % host
    return "tcp://%s:%d" % (host, int(port))


def _authkey(authkey):
    if authkey is None:
        path = os.environ.get("DROVER_AUTHKEY_FILE")
        if not path:
            raise ValueError("authkey: give the authkey of droverd's queues.authkey_file, or set "
                             "DROVER_AUTHKEY_FILE to that file")
        return read_authkey(path)
    if isinstance(authkey, str):
        return authkey.encode()
    if not isinstance(authkey, (bytes, bytearray)):
        raise TypeError("authkey should be a byte string")
    return bytes(authkey)


# ---------------------------------------------------------------- the manager

class BaseManager:
    """multiprocessing.managers.BaseManager over droverd's queues.

        QueueManager(address=(host, port), authkey=b"...", codec="safe",
                     timeout=5.0, prefetch=None, complete=False)

    address is droverd's queue endpoint (supervisor.queues.listen) as
    (host, port), '' meaning this host, or "tcp://host:port"; None reads
    $DROVER_QUEUE_URL. authkey is the first line of droverd's
    queues.authkey_file (None: read the file $DROVER_AUTHKEY_FILE names).
    codec: "safe" (the default), "raw" (bytes only, to share queues with
    the C client) or "pickle" (the explicit opt-in: see the module's doc).
    timeout bounds the connection handshake; prefetch is the most messages
    one get() fetches at once (None: 256) for code whose tasks are short
    (see get()); 1 fetches one at a time.
    complete=True: the first put() after a get() of another queue is that
    task's result: droverd puts it and acks the task in one step (when the
    client offers complete()), so a task redelivered after a crash never
    leaves a second result; a worker that puts several times per task would
    have its task acked at the first. serializer and ctx of the managers
    are accepted and not used.
    """

    _registry = {}

    def __init__(self, address=None, authkey=None, serializer="pickle", ctx=None, *,
                 codec="safe", timeout=5.0, prefetch=None, complete=False,
                 shutdown_timeout=1.0):
        if codec not in CODECS:
            raise ValueError("codec must be one of %s, not %r" % (", ".join(CODECS), codec))
        self._address = address
        self._endpoint = _endpoint(address)
        self._authkey = _authkey(authkey)
        self._codec = codec
        self._encode, self._decode = CODECS[codec]
        self._timeout = timeout
        if prefetch is None:
            prefetch = DEFAULT_WINDOW
        if not 1 <= prefetch <= 4096:
            raise ValueError("prefetch must be 1..4096")
        self._max_window = prefetch
        self._complete = complete
        self._local = threading.local()
        self._sessions = []
        self._lock = threading.Lock()
        self._proxies = {}
        self._connected = False

    @property
    def address(self):
        return self._address

    @classmethod
    def register(cls, typeid, callable=None, proxytype=None, exposed=None, method_to_typeid=None,
                 create_method=True, *, queue=None):
        """Registers typeid: manager.typeid() returns the proxy of the drover
        queue named queue (default: typeid itself). The managers' callable,
        proxytype, exposed and method_to_typeid are accepted and not used:
        droverd holds the queue."""
        if not isinstance(typeid, str):
            raise TypeError("typeid must be a str, not %s" % type(typeid).__name__)
        name = typeid if queue is None else queue
        if not isinstance(name, str) or not 1 <= len(name.encode()) <= 255 or "\0" in name:
            raise ValueError("queue name %r: 1..255 bytes without NUL" % (name,))
        if "_registry" not in cls.__dict__:
            cls._registry = cls._registry.copy()
        cls._registry[typeid] = name
        if create_method:
            def temp(self, *args, **kwds):
                if args or kwds:
                    raise TypeError("%s() takes no arguments with drover: the queue %r is declared "
                                    "in droverd's configuration" % (typeid, name))
                return self._proxy(typeid)
            temp.__name__ = typeid
            temp.__qualname__ = "%s.%s" % (cls.__qualname__, typeid)
            temp.__doc__ = "The proxy of drover queue %r." % name
            setattr(cls, typeid, temp)

    # ------------------------------------------------------------ life

    def connect(self):
        """Connects to droverd (this thread's connection): raises
        AuthenticationError for a wrong authkey, ConnectionRefused (a
        ConnectionRefusedError, as the managers' connect() raises, and a
        drover.ConnectionError) when nothing answers within the timeout."""
        self._session()
        self._connected = True

    def start(self, initializer=None, initargs=()):
        """The master's start(): droverd is the server, so this connects and
        checks that every registered queue exists (UnknownQueue names the
        missing ones). initializer is called here, in this process."""
        s = self._session()
        missing = []
        for typeid, name in sorted(self._registry.items()):
            try:
                s.client.stats(name)
            except NoSuchQueue:
                missing.append((typeid, name))
            except AuthError as e:
                raise AuthenticationError(str(e)) from None
        if missing:
            raise UnknownQueue(
                "droverd at %s has no queue %s: declare %s in its configuration under queues: "
                "(e.g. `queues: { %s: { capacity: 100000 } }`) and reload it, or map the typeid "
                "to a queue it has: register('%s', queue='NAME')" % (
                    self._endpoint, ", ".join("%r (for %s)" % (n, t) for t, n in missing),
                    "it" if len(missing) == 1 else "them", missing[0][1], missing[0][0]),
                missing[0][1], missing[0][0])
        if initializer is not None:
            initializer(*initargs)
        self._connected = True

    def get_server(self):
        raise NotImplementedError(
            "drover.managers: droverd is the server: declare the queues in its configuration "
            "(queues:), start droverd, and call start() or connect() here")

    def shutdown(self):
        """Closes this manager's connections: what code that never calls
        task_done() got is acked, what code that calls it still owes a
        task_done() goes back to its queue. The queues stay in droverd."""
        self._close(done=True)

    def join(self, timeout=None):
        """Nothing to wait for: droverd is not a child of this process."""

    def __enter__(self):
        if not self._connected:
            self.start()
        return self

    def __exit__(self, exc_type, exc_value, tb):
        # An exception out of the with block: the tasks in hand go back.
        self._close(done=exc_type is None)

    def __reduce__(self):
        raise TypeError("a drover.managers manager is not passed to other processes: make one "
                        "there with the same address and authkey")

    def __repr__(self):
        return "<%s %s codec=%s>" % (type(self).__name__, self._endpoint, self._codec)

    # ------------------------------------------------------------ inside

    def _session(self):
        """This thread's connection, made on first use (a new one in a
        child after fork())."""
        s = getattr(self._local, "s", None)
        if s is not None and s.client is not None:     # fork() resets _local
            return s
        try:
            # The window of get() does the prefetching, adapted to the tasks.
            client = QueueClient(self._endpoint, self._authkey, timeout=self._timeout, prefetch=1)
        except AuthError as e:
            raise AuthenticationError("%s (the authkey is not the one in droverd's "
                                      "queues.authkey_file)" % e) from None
        except _DroverConnectionError as e:
            raise ConnectionRefused(str(e)) from None
        s = self._local.s = _Session(client)
        with self._lock:
            self._sessions.append(s)
        _managers.add(self)
        _hook_exits()
        return s

    def _close(self, done):
        pid = os.getpid()
        with self._lock:
            sessions, self._sessions = self._sessions, []
        err = None
        for s in sessions:
            if s.pid != pid:        # a parent's, inherited by fork(): not ours to close
                continue
            try:
                s.settle(done)
            except Exception as e:
                err = err or e
        self._local = threading.local()
        self._connected = False
        _managers.discard(self)
        if err is not None:
            raise err

    def _proxy(self, typeid):
        p = self._proxies.get(typeid)
        if p is None:
            if typeid not in self._registry:
                raise KeyError("%r is not registered" % typeid)
            p = self._proxies[typeid] = QueueProxy(self, typeid, self._registry[typeid])
        return p


def _timeout(block, timeout):
    """queue.Queue's block and timeout as the client's seconds."""
    if not block:
        return 0
    if timeout is None:
        return None
    if timeout < 0:
        raise ValueError("'timeout' must be a non-negative number")
    return timeout


class QueueProxy:
    """What manager.get_task_queue() returns: queue.Queue's methods on a
    drover queue. Each thread has its own connection and leases."""

    def __init__(self, manager, typeid, queue):
        self._manager = manager
        self._typeid = typeid
        self._queue = queue

    def __repr__(self):
        return "<QueueProxy %s of drover queue %r at %s>" % (self._typeid, self._queue,
                                                               self._manager._endpoint)

    def __reduce__(self):
        raise TypeError("a drover.managers proxy is not passed to other processes: make a "
                        "manager there and call %s() on it" % self._typeid)

    def _unknown(self):
        m = self._manager
        return UnknownQueue(
            "%s(): droverd at %s has no queue %r: declare it in droverd's configuration "
            "(`queues: { %s: { capacity: 100000 } }`) and reload, or map the typeid to a queue it "
            "has: register(%r, queue='NAME')" % (self._typeid, m._endpoint, self._queue,
                                                  self._queue, self._typeid),
            self._queue, self._typeid)

    def put(self, obj, block=True, timeout=None):
        """Puts obj at the tail; waits while the queue is full (block,
        timeout: as queue.Queue), then raises queue.Full."""
        t = _timeout(block, timeout)
        m = self._manager
        data = m._encode(obj)
        s = m._session()
        c = s.client
        task, s.last = s.last, None
        try:
            if task is not None and m._complete and task.queue != self._queue \
                    and hasattr(c, "complete"):
                ls = s.leases[task.queue]
                if not ls.explicit and ls.held and ls.held[-1] is task:
                    ls.held.pop()
                    c.complete(task, self._queue, data, timeout=t)
                    return
            c.put(self._queue, data, timeout=t)
        except NoSuchQueue:
            raise self._unknown() from None
        except AuthError as e:
            raise AuthenticationError(str(e)) from None

    def put_nowait(self, obj):
        return self.put(obj, False)

    def get(self, block=True, timeout=None):
        """The value at the head; waits while the queue is empty (block,
        timeout: as queue.Queue), then raises queue.Empty. The message is
        leased until task_done(), or, in code that never calls it, until
        this proxy's next get() or the manager's close.

        Code that comes back for the next message within FAST_TASK seconds
        gets several per round trip: the window doubles up to the
        manager's prefetch while tasks stay that short, and is one message
        again after a longer one, so slow tasks are shared among the
        workers one at a time, as the managers share them. The last TAIL
        messages of a queue are fetched one at a time (see _fetch_size())."""
        t = _timeout(block, timeout)
        m = self._manager
        s = m._session()
        c = s.client
        ls = s.leases[self._queue]
        if ls.held and not ls.explicit:
            c.ack_many(ls.held)
            ls.held.clear()
        if ls.ahead:
            msg = ls.ahead.popleft()
        else:
            try:
                if ls.got_at is not None and time.monotonic() - ls.got_at < FAST_TASK:
                    ls.window = self._fetch_size(c, min(2 * ls.window, m._max_window))
                else:
                    ls.window = 1
                if ls.window == 1:
                    msg = c.get(self._queue, timeout=t)
                else:
                    msgs = c.get_many(self._queue, ls.window, timeout=t)
                    msg = msgs[0]
                    ls.ahead.extend(msgs[1:])
            except NoSuchQueue:
                raise self._unknown() from None
            except AuthError as e:
                raise AuthenticationError(str(e)) from None
        ls.held.append(msg)
        ls.owed += 1
        ls.got_at = time.monotonic()
        try:
            v = m._decode(msg.data)
        except DecodeError as e:
            e.args = ("%s(): %s" % (self._typeid, e.args[0]),)
            raise
        s.last = msg
        return v

    def _fetch_size(self, c, want):
        """How many to fetch at once, at most want: none of the queue's last
        TAIL messages, and an eighth of the rest, so that workers reach the
        end of a queue one message at a time. A message fetched ahead that
        goes back (its worker closed or died) goes to the head of the queue:
        had a worker fetched several of the sentinels (one None per worker,
        say) that end a queue, the ones it gives back could pass tasks that
        went back before them, and the workers stop with tasks left."""
        if want <= 1:
            return 1
        return max(1, min(want, (c.stats(self._queue)["size"] - TAIL) // 8))

    def get_nowait(self):
        return self.get(False)

    def task_done(self):
        """The task of the oldest get() not yet marked done is done: its
        message is acked. From the first call on, only task_done() acks this
        proxy's messages. ValueError when called more times than get()."""
        ls = self._manager._session().leases[self._queue]
        if ls.owed <= 0:
            raise ValueError("task_done() called too many times")
        ls.owed -= 1
        ls.explicit = True
        if ls.held:
            ls.held.popleft().ack()

    def _stats(self):
        c = self._manager._session().client
        try:
            return c.stats(self._queue)
        except NoSuchQueue:
            raise self._unknown() from None
        except AuthError as e:
            raise AuthenticationError(str(e)) from None

    def qsize(self):
        """Messages ready in the queue, those this thread fetched ahead and
        has not handed out counted in (not those leased to other consumers)."""
        return self._stats()["size"] + len(self._manager._session().leases[self._queue].ahead)

    def empty(self):
        return self.qsize() == 0

    def full(self):
        st = self._stats()
        return st["size"] + len(self._manager._session().leases[self._queue].ahead) >= \
            st["capacity"]

    def join(self):
        """Waits until every message put in the queue has been acked (none
        ready, none leased); acks first what this thread got and never marks
        done, and gives back what it fetched ahead. Polls droverd's figures,
        every 1 ms at first, 100 ms at most."""
        s = self._manager._session()
        ls = s.leases[self._queue]
        if ls.held and not ls.explicit:
            s.client.ack_many(ls.held)
            ls.held.clear()
        if ls.ahead:                # others may do them meanwhile
            s.client.nack_many(ls.ahead)
            ls.ahead.clear()
        pause = 0.001
        while True:
            st = self._stats()
            if st["size"] == 0 and st["in_flight"] == 0:
                return
            time.sleep(pause)
            pause = min(pause * 2, 0.1)
