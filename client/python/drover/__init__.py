"""drover: the Python client of drover's network work queues.

    from drover import QueueClient, AuthError
    import queue   # drover's Full and Empty subclass queue.Full and queue.Empty

    c = QueueClient("tcp://127.0.0.1:9172", authkey=b"abc")
    c.put("tasks", b"42", timeout=5)
    m = c.get("tasks", timeout=1)   # raises queue.Empty on timeout
    m.data; m.ack()                 # or m.nack(); a worker rather completes its task:
    # c.complete(m, "results", b"r")  puts the result and acks m, both or neither
    c.flush()                       # every put and complete confirmed (close() flushes too)

Pure Python over pyzmq (Debian's python3-zmq). The link is encrypted with
CURVE keys derived from the authkey; delivery is at-least-once. One call at a
time does not wait for a round trip each: puts go within credit and are
confirmed in the background, gets come from a prefetch window. The wire
protocol is docs/queue-protocol.md in the drover repository.
"""

from .client import Message, QueueClient
from .errors import (AuthError, ConnectionError, DroverError, Empty, Full, InvalidRequest,
                     NoSuchQueue, Timeout, TooBig, strerror)
from .keys import keypair, read_authkey

__version__ = "0.1.0"
__all__ = ["QueueClient", "Message", "DroverError", "Empty", "Full", "AuthError",
           "ConnectionError", "TooBig", "NoSuchQueue", "InvalidRequest", "Timeout",
           "strerror", "keypair", "read_authkey"]
