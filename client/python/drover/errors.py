"""Exceptions of the drover queue client, one per status of the queue
protocol (docs/queue-protocol.md). Every one is a DroverError with a .code
(the DROVER_E* value of libdrover); Empty and Full are also queue.Empty and
queue.Full, so code written for queue.Queue or multiprocessing catches them."""

import builtins
import queue as _queue

OK = 0
EEMPTY = -1
EFULL = -2
EAUTH = -3
ECONN = -4
ETOOBIG = -5
ENOQUEUE = -6
EINVAL = -7
ETIMEOUT = -8


class DroverError(Exception):
    """Base class. .code is the protocol status (a negative DROVER_E* value)."""

    code = None

    def __init__(self, message, code=None):
        super().__init__(message)
        if code is not None:
            self.code = code


class Empty(DroverError, _queue.Empty):
    """get: nothing arrived before the timeout."""
    code = EEMPTY


class Full(DroverError, _queue.Full):
    """put: no room in the queue before the timeout. For put_many, .done says
    how many of the first messages went in (the rest did not)."""
    code = EFULL
    done = 0


class AuthError(DroverError, builtins.PermissionError):
    """The queue server refused the CURVE handshake: a wrong authkey."""
    code = EAUTH


class ConnectionError(DroverError, builtins.ConnectionError):  # noqa: A001
    """No connection: nothing answered in time, or the connection was lost
    while a request was outstanding (its outcome is then unknown)."""
    code = ECONN


class TooBig(DroverError, builtins.ValueError):
    """A message larger than the queue's max_message."""
    code = ETOOBIG


class NoSuchQueue(DroverError, builtins.LookupError):
    """No queue of that name in droverd's configuration."""
    code = ENOQUEUE


class InvalidRequest(DroverError, builtins.ValueError):
    """The server found the request malformed (a bug, or a version mismatch)."""
    code = EINVAL


class Timeout(DroverError, builtins.TimeoutError):
    """No reply within the request's timeout plus the client's margin."""
    code = ETIMEOUT


BY_CODE = {c.code: c for c in (Empty, Full, AuthError, ConnectionError, TooBig, NoSuchQueue,
                               InvalidRequest, Timeout)}

STRERROR = {
    OK: "success",
    EEMPTY: "queue empty: nothing arrived before the timeout",
    EFULL: "queue full: no room before the timeout",
    EAUTH: "authentication failed (wrong authkey?)",
    ECONN: "no connection to droverd's queue endpoint",
    ETOOBIG: "message larger than the queue's max_message",
    ENOQUEUE: "no such queue",
    EINVAL: "invalid argument or request",
    ETIMEOUT: "no reply from droverd in time",
}


def strerror(code):
    """The same words as libdrover's drover_strerror()."""
    return STRERROR.get(code, "unknown error")


def from_status(code, message=None):
    """The exception for a protocol status (an unknown one: DroverError)."""
    cls = BY_CODE.get(code, DroverError)
    return cls(message or strerror(code), code)
