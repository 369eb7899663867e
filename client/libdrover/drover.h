/* drover.h: the C client of drover's network work queues (SPEC 6).

   #include <drover.h>, link with `pkg-config --libs drover`.

   A client is one encrypted connection (ZeroMQ DEALER, CURVE keys derived
   from the authkey) to droverd's queue endpoint. See docs/queue-protocol.md
   for the wire protocol.

   Thread-safety: a drover_client and the drover_msg it returned belong to
   one thread at a time; use one client per thread (clients are independent
   of each other and may be used from different threads at the same time).
   Moving a client to another thread between calls is fine. All clients of a
   process share one ZeroMQ context, created on first use; after fork(), a
   child must connect its own clients (the library notices the new pid and
   makes a fresh context).

   Delivery is at-least-once: a message whose lease runs out, or whose client
   disconnects or dies before acking it, is delivered again.

   Reconnects: a client has a session at droverd (a random ZeroMQ routing
   id). When its connection drops and ZeroMQ connects again (droverd
   upgraded in place, a network cut) no call fails for it: the client says
   HELLO, and what droverd did not apply (requests sent before and not
   answered: puts, completes, acks, the request a call waits for) is sent
   again. After an upgrade droverd kept the session, so messages leased to
   this client stay leased to it; after a plain disconnect they went back
   to their queues (docs/queue-protocol.md, "Sessions"). DROVER_ECONN is
   drover_connect's when nothing answered; a later call returns it only as
   the failure of a put or complete that ZeroMQ refused to send again after
   a reconnect (drover_undelivered counts it). */
#ifndef DROVER_H
#define DROVER_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct drover_client drover_client;
typedef struct drover_msg drover_msg;

enum { DROVER_OK = 0, DROVER_EEMPTY = -1, DROVER_EFULL = -2, DROVER_EAUTH = -3, DROVER_ECONN = -4,
       DROVER_ETOOBIG = -5, DROVER_ENOQUEUE = -6, DROVER_EINVAL = -7, DROVER_ETIMEOUT = -8 };

/* Connects to droverd's queue endpoint; NULL on failure with *rc set (DROVER_EAUTH for a wrong key,
   within a few seconds). The authkey is raw bytes. */
drover_client *drover_connect(const char *endpoint, const void *authkey, size_t authkey_len,
                              int timeout_ms, int *rc);

/* Appends one message (copied) to the tail of queue.

   Within the credit droverd granted this client for queue (places reserved
   for it, so the put cannot be FULL) the message is sent and DROVER_OK
   returned at once; droverd's confirmation (for a durable queue: the
   commit) comes back in the background: drover_flush waits for it. Without
   credit it waits up to timeout_ms (-1: forever, 0: not at all) for some,
   or for room, and returns DROVER_EFULL after the timeout, the synchronous
   meaning. A put not confirmed when the connection drops is sent again once
   ZeroMQ has reconnected (at-least-once; exactly once across an upgrade of
   droverd). Right after a reconnect it first waits, up to timeout_ms plus
   5 s, for those to be sent again.

   Returns DROVER_OK, DROVER_EFULL, DROVER_ETOOBIG, DROVER_ENOQUEUE,
   DROVER_ECONN, DROVER_ETIMEOUT, DROVER_EINVAL; or the failure of an
   earlier put or complete that was not confirmed (drover_undelivered says
   how many messages it covers), in which case this one was not sent. */
int  drover_put(drover_client *c, const char *queue, const void *data, size_t size, int timeout_ms);

/* Waits up to timeout_ms (-1: forever) for a message; NULL with *rc = DROVER_EEMPTY on timeout.
   The message is leased to this client: ack it when done, or nack it. Caller
   owns the result (drover_ack, drover_nack, drover_complete or
   drover_msg_free frees it). Messages come from a prefetch buffer that
   droverd fills ahead (drover_set_prefetch; by default 16, growing to 1024
   for a fast consumer of a long queue of small messages). An earlier put or
   complete that failed is reported here first (NULL, *rc its error). */
drover_msg *drover_get(drover_client *c, const char *queue, int timeout_ms, int *rc);
/* A message's bytes, exactly as put: not NUL-terminated (the bytes after
   them may be the next message's), so read them by drover_msg_size, e.g.
   printf("%.*s", (int)drover_msg_size(m), (const char *)drover_msg_data(m)).
   Valid until m is freed. */
const void *drover_msg_data(const drover_msg *m);
size_t      drover_msg_size(const drover_msg *m);
int  drover_ack(drover_client *c, drover_msg *m);    /* done with it; frees m */
int  drover_nack(drover_client *c, drover_msg *m);   /* back to the queue now; frees m */

/* Puts a result (data, copied) into queue and acks the task m, in one
   request that droverd applies whole or not at all: a task whose lease ran
   out or that went back to its queue (this client's connection dropped)
   gets no result from this call, so a redelivered task ends with exactly
   one result. Sent without waiting, within this client's credit for queue
   like drover_put; without credit it waits up to timeout_ms for room, then
   DROVER_EFULL. Takes m in every case: on success the task is done; on a
   failure the task is nacked (back to its queue for another try). A
   complete that droverd refuses later (the results queue was full after
   all, or removed) also nacks its task; the failure is reported by the
   first put, get or flush after its answer was read (replies are read when
   a call waits, when credit runs out, and on every 64th put or complete). */
int  drover_complete(drover_client *c, drover_msg *m, const char *queue, const void *data,
                     size_t size, int timeout_ms);

/* Number of messages ready in queue (not counting leased ones). */
int  drover_queue_size(drover_client *c, const char *queue, size_t *size);
const char *drover_strerror(int rc);
/* Closes the connection; messages still leased to it go back to their
   queues. Flushes first (drover_flush, up to 5 s) and makes sure acks and
   nacks sent before reach droverd (a round trip). Call drover_flush first to
   learn whether every put was confirmed. Frees c; NULL is fine. */
void drover_close(drover_client *c);

/* ---- beyond SPEC 6: batches, prefetch, statistics ---- */

/* drover_connect with the authkey read from a file the way droverd reads
   its authkey_file: the first line, leading and trailing spaces, tabs, CRs
   and LFs removed. NULL on failure with *rc set; DROVER_EINVAL (and errno)
   when the file cannot be read or holds no key. */
drover_client *drover_connect_keyfile(const char *endpoint, const char *authkey_file,
				      int timeout_ms, int *rc);


/* Appends n messages (data[i], sizes[i]) in order, in as few round trips as
   possible, waiting up to timeout_ms for room as drover_put does (the
   timeout applies to each batch of up to 4096 messages). *done, if not NULL,
   receives how many of the first messages were appended (all of them when
   DROVER_OK; fewer on DROVER_EFULL and other errors). */
int  drover_put_many(drover_client *c, const char *queue, const void *const *data,
                     const size_t *sizes, size_t n, int timeout_ms, size_t *done);

/* Credit (places droverd reserves for this client) that the client has not
   used for a second goes back at its next flush; all of it when a get has
   waited 0.2 s for a message, and on close. */

/* drover_put with a timeout of -1: kept for programs written for the
   pipelined puts of earlier versions. */
int  drover_put_async(drover_client *c, const char *queue, const void *data, size_t size);

/* Waits up to timeout_ms (-1: forever) until droverd has answered every put
   and complete sent without waiting (puts resent after a reconnect
   included). Returns
   DROVER_OK when all of them since the last report were confirmed;
   otherwise the first failure (DROVER_ENOQUEUE, DROVER_EFULL, ...), or
   DROVER_ETIMEOUT when answers are still missing (droverd unreachable: the
   puts stay pending and are resent on reconnect). drover_undelivered then
   says how many messages the failure covers. */
int  drover_flush(drover_client *c, int timeout_ms);

/* How many puts and completes the last failure returned by drover_flush,
   drover_put or drover_get covers: refused by droverd, or (DROVER_ETIMEOUT)
   not confirmed yet. 0 after a flush that returned DROVER_OK. */
size_t drover_undelivered(const drover_client *c);

/* Waits up to timeout_ms for at least one message, then returns up to max
   messages at once in msgs[0..*n-1] (each owned by the caller as from
   drover_get). Returns DROVER_OK with *n >= 1, or an error with *n = 0
   (DROVER_EEMPTY on timeout). */
int  drover_get_many(drover_client *c, const char *queue, drover_msg **msgs, size_t max,
                     int timeout_ms, size_t *n);

/* Acks or nacks n messages of this client with one message to droverd, and
   frees them. msgs may mix queues. */
int  drover_ack_many(drover_client *c, drover_msg **msgs, size_t n);
int  drover_nack_many(drover_client *c, drover_msg **msgs, size_t n);

/* Frees a message without acking or nacking it: it stays leased until its
   lease runs out or the client closes, then goes back to the queue. */
void drover_msg_free(drover_msg *m);

/* Prefetch: with n > 1 (at most 65536), drover_get and drover_get_many
   keep a GET for up to n messages outstanding at droverd for each queue
   they read, so messages are pushed to this client as they are put, and
   hand them out from a local buffer; the GET is renewed once the buffer is
   down to half. n = 1 turns prefetch off. Prefetched messages are leased to
   this client meanwhile, so keep n small beside the lease time and the work
   per message. Messages held back when the client closes go back to the
   queue. Without this call the window is adaptive: 16, doubled (up to 1024,
   and while that many of the queue's messages come to 8 MiB at most)
   whenever a get had to wait for a full window, which happens only when
   the queue has plenty and this consumer is faster than a round trip per
   window. Returns DROVER_OK or DROVER_EINVAL. */
int  drover_set_prefetch(drover_client *c, unsigned n);

typedef struct {
	size_t size;		/* messages ready */
	size_t capacity;
	size_t in_flight;	/* leased, not yet acked */
	size_t consumers;	/* connected clients that have read from it */
	unsigned long long put_total;	/* since droverd started */
	unsigned long long get_total;	/* deliveries, redeliveries included */
	int durable;		/* 0 or 1 */
} drover_stats_t;

/* The queue's numbers, as in GET /api/v1/queues. */
int  drover_stats(drover_client *c, const char *queue, drover_stats_t *st);

#ifdef __cplusplus
}
#endif

#endif
