/* queue_host: droverd's named work queues (SPEC 6), served on a ZeroMQ
   ROUTER with CURVE keys derived from the authkey (docs/queue-protocol.md).

   The host is a CZMQ actor: its own thread and zloop own every queue,
   lease, waiting request and the durable store. The functions below are
   called from droverd's main thread and talk to the actor by synchronous
   messages over its pipe; they are not thread-safe among themselves (one
   caller thread). */
#ifndef DROVER_QUEUE_HOST_H
#define DROVER_QUEUE_HOST_H

#include <jansson.h>

#include "conf.h"

typedef struct queue_host queue_host_t;

/* Reads the authkey, opens and loads the durable store (if a queue is
   durable), binds conf->queues_listen and starts the actor. Returns the
   host (caller owns, queue_host_destroy), or NULL with *err set to a
   malloc'd one-line message (caller frees): no or unreadable authkey file,
   a store that cannot be opened or is corrupt (never emptied), a listener
   that cannot be bound. conf is only read during the call. */
queue_host_t *queue_host_new(const conf_t *conf, char **err);

/* Applies a reloaded configuration: adds and removes queues, changes
   capacity, lease, max_message and durable. A changed listen address or
   authkey file takes effect only at the next start (logged). Returns 0, or
   -1 when something could not be applied (logged). next is only read during
   the call. */
int queue_host_apply(queue_host_t *h, const conf_t *next);

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

/* Stops the actor (committing what is pending) and frees the host. */
void queue_host_destroy(queue_host_t **hp);

#endif
