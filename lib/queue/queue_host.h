/* queue_host: droverd's named work queues (SPEC 6), served on a ZeroMQ
   ROUTER with CURVE keys derived from the authkey (docs/queue-protocol.md).

   The host is a CZMQ actor: its own thread and zloop own every queue,
   lease, waiting request and the durable store. The functions below are
   called from droverd's main thread and talk to the actor by synchronous
   messages over its pipe; they are not thread-safe among themselves (one
   caller thread).

   Upgrade in place (docs/queues.md, "Across an upgrade of droverd"): the
   old droverd calls queue_host_export() into a memfd and execs; the new one
   calls queue_host_new() with the inherited listening socket and that
   memfd before anything else serves. Clients keep their connections'
   sessions: their leases, and nothing they were told is lost. */
#ifndef DROVER_QUEUE_HOST_H
#define DROVER_QUEUE_HOST_H

#include <jansson.h>

#include "conf.h"

typedef struct queue_host queue_host_t;

/* Reads the authkey, opens the durable store (if a queue is durable),
   listens and starts the actor. Returns the host (caller owns,
   queue_host_destroy), or NULL with *err set to a malloc'd one-line message
   (caller frees): no or unreadable authkey file, a store that cannot be
   opened or is corrupt (never emptied), a listener that cannot be bound, an
   export that cannot be read. conf is only read during the call.

   listen_fd: -1 to bind conf->queues_listen itself, else an inherited
   listening TCP socket (from the previous droverd) that the host takes
   over: it is the host's once the host is made (closed by
   queue_host_destroy), still the caller's when this fails.

   import_fd: -1, or a descriptor holding a queue_host_export() of the
   previous droverd, read from offset 0 to its end (it holds that export
   alone; not closed by the host, its offset left as it is). The queues
   come back as they were: a queue's messages in the same order (a durable
   queue's from the store, which holds them already; only their order comes
   from the export), and every client session with its leases, each with
   the time it had left. A session whose client does not say HELLO again
   within QH_RESUME_GRACE_MS (15 s, the heartbeat timeout) is taken for a
   vanished client: its messages go back to their queues. Queues by name:
   one that is no longer configured loses its messages (a durable one keeps
   them in queues.db), a new one starts empty (or from the store). */
queue_host_t *queue_host_new(const conf_t *conf, int listen_fd, int import_fd, char **err);

/* The listening socket the host keeps open for as long as it lives, also
   after an export (droverd clears its close-on-exec flag just before the
   exec). ZeroMQ accepts on a dup of it; while no ROUTER is there (between an
   export and the next host) connections wait in its backlog. */
int queue_host_listen_fd(queue_host_t *h);

/* Quiesces the host and writes its state to fd (a memfd droverd gives,
   written from its current offset):
   - stops reading requests; every request it has read is answered: a
     waiting PUT that had appended part of its messages appends the rest
     (past the capacity if need be) and is answered OK; other waiting
     requests (GET, PUT, CREDIT that had done nothing yet) end unanswered,
     for their clients to send again to the next droverd;
   - clients without a session (an old client, a connection that closed)
     give their leases back, as a disconnect does; every client's credit is
     freed;
   - commits the durable store, sends the replies that waited for it, and
     closes the ROUTER with a linger of 1 s (zmq_ctx_term: the replies are
     in the kernel's hands, the connections closed);
   - writes every queue's ready messages in order (a durable queue's by id),
     every session with its leases (queue, lease id, holder, time left,
     the message) and the lease table's generations, versioned, with a
     digest (queue_export.c).
   After it returns 0 the host serves nothing (stats and metrics still
   answer); queue_host_destroy() then frees it without requeueing a lease
   or touching the store. -1 with *err (malloc'd) when it could not write:
   the host then serves again (the same sessions, resumed by their clients)
   unless *err says it could not. */
int queue_host_export(queue_host_t *h, int fd, char **err);

/* Applies a reloaded configuration: adds and removes queues, changes
   capacity, lease, max_message and durable. A changed listen address or
   authkey file takes effect only at the next start (logged). Returns 0, or
   -1 with *err (caller frees), what could not be applied, a line each (also
   logged); what could be is. next is only read during the call. */
int queue_host_apply(queue_host_t *h, const conf_t *next, char **err);

/* A JSON array, one object per queue in config order: {name, size,
   capacity, in_flight, durable, put_total, get_total, consumers}. Caller
   owns. */
json_t *queue_host_stats(queue_host_t *h);

/* Prometheus text exposition of the queue metrics (drover_queue_depth,
   drover_queue_in_flight, drover_queue_capacity, drover_queue_consumers,
   drover_queue_put_total, drover_queue_get_total, drover_queue_acked_total,
   drover_queue_requeued_total, drover_queue_clients,
   drover_queue_auth_failures_total), with # HELP and # TYPE lines. malloc'd,
   caller frees. */
char *queue_host_metrics(queue_host_t *h);

/* Stops the actor (committing what is pending) and frees the host, closing
   its listening socket. After an export nothing is requeued or stored. */
void queue_host_destroy(queue_host_t **hp);

#endif
