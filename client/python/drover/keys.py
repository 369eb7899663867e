"""CURVE key pairs from the authkey, exactly as droverd derives them
(docs/queue-protocol.md, "Keys from the authkey")."""

try:
    # CPython's own BLAKE2, without hashlib, whose import loads OpenSSL:
    # 7 to 16 ms more at every start of a worker
    from _blake2 import blake2b as _blake2b
except ImportError:             # another Python: hashlib has it
    from hashlib import blake2b as _blake2b

import zmq
from zmq.utils import z85


def keypair(authkey, role):
    """(public, secret) Z85 keys of role "server" or "client" for authkey
    (bytes): the secret key is keyed BLAKE2b-256 of the authkey with the
    label drover-queue-<role>-v1 as the key."""
    if role not in ("server", "client"):
        raise ValueError("role must be 'server' or 'client'")
    sk = _blake2b(authkey, digest_size=32,
                   key=b"drover-queue-%s-v1" % role.encode()).digest()
    sk_z85 = z85.encode(sk)
    return zmq.curve_public(sk_z85), sk_z85


def read_authkey(path):
    """The authkey in a file as droverd reads it: the first line without
    leading and trailing white space (space, tab, CR, LF), as bytes."""
    with open(path, "rb") as f:
        line = f.readline()
    key = line.strip(b" \t\r\n")
    if not key:
        raise ValueError("%s: the authkey file is empty" % path)
    return key
