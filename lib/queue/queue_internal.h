/* queue_internal: the queue host's state, owned by its actor thread alone.
   queue_core.c holds the queue logic (rings, leases, waiting requests,
   deadlines); queue_host.c the sockets, the actor and the API towards
   droverd. */
#ifndef DROVER_QUEUE_INTERNAL_H
#define DROVER_QUEUE_INTERNAL_H

#include "timing.h"
#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>
#include <zmq.h>

#include "auth.h"
#include "conf.h"
#include "log.h"
#include "queue_host.h"
#include "queue_store.h"
#include "wire.h"

#define QH_BUDGET 512 /* requests read per pass before committing */
#define QH_HEARTBEAT_IVL_MS TIMING_QUEUE_HEARTBEAT_MS
#define QH_HEARTBEAT_TIMEOUT_MS TIMING_QUEUE_HEARTBEAT_TIMEOUT_MS
#define QH_CREDIT_WINDOW 1024 /* most places of a queue reserved for one client */
/* A session brought over by an upgrade (queue_host_export, then an import)
   whose client has not said HELLO again by then is taken for vanished, as
   heartbeats would take it: its leases go back. */
#define QH_RESUME_GRACE_MS TIMING_QUEUE_HEARTBEAT_TIMEOUT_MS
/* How long an export waits for the replies it sent to reach the kernel. */
#define QH_EXPORT_LINGER_MS 1000

/* A message; data follows. */
typedef struct qmsg {
	int64_t id; /* row id in the store (durable queues), else 0 */
	size_t len;
	uint8_t data[];
} qmsg_t;

/* A double-ended ring of messages: the ready part of a queue. */
typedef struct {
	qmsg_t **buf;
	size_t cap, head, len;
} qring_t;

/* A deadline in the host's min-heap: leases, waiting requests, and
   sessions waiting for their client after an upgrade. */
enum { DL_LEASE = 1, DL_WAIT = 2, DL_SESSION = 3 };
typedef struct {
	int64_t at_ms;
	uint64_t seq; /* ties: earlier first */
	size_t idx;   /* position in the heap, SIZE_MAX when not in it */
	uint8_t kind;
} dl_t;

struct queue;
struct peer;

typedef struct lease {
	dl_t dl; /* first: a dl_t * of kind DL_LEASE is a lease_t * */
	uint32_t slot;
	uint64_t id; /* gen << 32 | slot */
	qmsg_t *msg;
	struct queue *q;
	struct peer *peer;
	struct lease *prev, *next; /* the peer's leases, in delivery order */
} lease_t;

typedef struct waiter {
	dl_t dl;    /* first; DL_WAIT; not in the heap when waiting forever */
	uint8_t op; /* WIRE_GET, WIRE_PUT or WIRE_CREDIT */
	uint16_t flags;
	uint32_t req_id, count;
	struct peer *peer;
	struct queue *q;
	struct waiter *qprev, *qnext; /* the queue's FIFO of getters or putters */
	struct waiter *pprev, *pnext; /* the peer's waiting requests */
	zmq_msg_t *frames;	      /* PUT: the messages not yet appended */
	size_t n, done;		      /* PUT: frames[done..n) still to append */
} waiter_t;

/* A client, identified by its ROUTER routing id. A client that sets its
   own routing id (first byte not 0: a session id, docs/queue-protocol.md)
   has a session: a peer made by its HELLO, whose leases a later connection
   takes over with a HELLO of its own (after an upgrade of droverd, or when
   the same connection's close was not noticed yet); requests that reach
   the session on any other connection are dropped unread. Any other client
   (a routing id the ROUTER made up) is a peer from the first request that
   needs state, leases or a waiting request, until its connection closes. */
typedef struct peer {
	uint8_t rid[256];
	size_t rid_len;
	uint64_t hash;
	int fd;		    /* its TCP connection, -1 if unknown */
	bool dead;	    /* gone: freed at the next settle */
	bool closing;	    /* its connection closed: dead once the requests it
			       sent before are read */
	bool session;	    /* a session id: made by HELLO, taken over by HELLO */
	bool detached;	    /* a session without a connection (exported, or
			       imported and its client not back yet) */
	int hello_fd;	    /* the connection of its last HELLO (-1: none or
			       unknown) */
	dl_t gone_dl;	    /* DL_SESSION: when a detached session is given up */
	struct peer *hnext; /* hash chain */
	struct peer *fnext; /* peers on the same fd */
	struct peer *dnext; /* dead list */
	lease_t *lhead, *ltail;
	waiter_t *whead;
	struct queue **read; /* queues it has read from: the consumers count */
	size_t n_read, cap_read;
	struct pcred {
		struct queue *q;
		uint32_t n; /* places of q reserved for this peer */
	} *cred;
	size_t n_cred, cap_cred;
} peer_t;

typedef struct queue {
	char *name;
	size_t name_len;
	int64_t capacity, lease_ms, max_message;
	bool durable;
	int64_t store_id; /* its id in the store, -1 if none yet */
	qring_t ready;
	uint64_t in_flight, consumers;
	uint64_t reserved; /* places granted to clients as credit, not yet used */
	uint64_t put_total, get_total, acked_total, requeued_total;
	waiter_t *gets_head, *gets_tail, *puts_head, *puts_tail;
	bool dirty; /* on the host's dirty list */
	struct queue *dnext;
} queue_t;

/* A TCP connection of the ROUTER, by file descriptor (from the monitor). */
typedef struct {
	bool open;
	char addr[64]; /* "ip:port" of the peer, or "" */
	peer_t *peers;
} conn_t;

/* A PUT reply that waits for the commit of its messages. */
typedef struct {
	uint8_t rid[256];
	size_t rid_len;
	uint32_t req_id, count, credit;
	uint8_t op;
	int16_t status;
	int64_t max_message; /* > 0: sent in frame 1 (a reply that grants credit) */
	bool packed;	     /* sent packed (its request was) */
} deferred_t;

/* The OK replies of a pass to the credited requests of one client on one
   queue, sent as one (the last request's id; the client takes it for all of
   them) after the pass and its commit. */
typedef struct {
	uint8_t rid[256];
	size_t rid_len;
	const void *q; /* the queue: a key within the pass only */
	uint8_t op;
	bool durable; /* waits for the commit */
	uint32_t last_id, count, credit;
} confirm_t;

typedef struct qh {
	void *ctx; /* private ZeroMQ context: our own ZAP handler */
	void *router;
	void *mon; /* PAIR: the ROUTER's monitor events */
	auth_zap_t *zap;
	zloop_t *loop;
	int timer_id; /* -1: none armed */
	int64_t timer_at;
	char *listen;  /* for reload: a change needs a restart */
	int listen_fd; /* the listening socket (ZeroMQ has a dup of it) */
	bool exported; /* queue_host_export() done: serves nothing any more */
	char *authkey_file;
	char *state_dir;
	uint8_t server_sk[AUTH_KEY_LEN]; /* to open the ROUTER again after a failed export */
	uint8_t client_pk[AUTH_KEY_LEN];
	int64_t max_frame; /* ZMQ_MAXMSGSIZE of the ROUTER */

	queue_t **queues; /* in config order */
	size_t n_queues;

	store_t *store;	 /* NULL until a queue is durable */
	int64_t next_id; /* for stored messages */

	peer_t **buckets;
	size_t n_buckets, n_peers;
	peer_t *dead;
	queue_t *dirty;

	conn_t *conns;
	size_t n_conns;
	uint64_t clients; /* connections open now */
	size_t n_closing; /* peers with closing set */
	int pending_fail; /* a handshake failure event whose DISCONNECTED is next */
	int pending_fail_err;
	int64_t refuse_log_ms; /* rate limit of refusal lines */
	uint64_t refuse_quiet;
	uint64_t refused_total;
	int port;	       /* of a tcp:// listener, for qh__closed_peers */
	char reported[32][64]; /* refused peers logged lately */
	int64_t reported_at[32];
	unsigned n_reported;

	lease_t **slots; /* lease id -> lease */
	uint32_t *gens;
	uint32_t *free_slots;
	size_t n_slots, n_free;

	dl_t **heap;
	size_t heap_len, heap_cap;
	uint64_t seq;

	zmq_msg_t *fr; /* frames of the request being read */
	size_t fr_cap;
	/* Replies being sent now go packed (revision 3): set from the request
	   or the waiting request answered, false between them. */
	bool pack;

	deferred_t *deferred;
	size_t n_deferred, cap_deferred;

	confirm_t *confirms;
	size_t n_confirms, cap_confirms, last_confirm;
} qh_t;

/* ---- queue_core.c ---- */
queue_t *qh__queue_new(const conf_queue_t *cq);
void qh__queue_free(qh_t *h, queue_t *q);
queue_t *qh__queue_find(qh_t *h, const void *name, size_t len);
int qh__ring_push_back(qring_t *r, qmsg_t *m);
int qh__ring_push_front(qring_t *r, qmsg_t *m);
qmsg_t *qh__ring_pop_front(qring_t *r);
qmsg_t *qh__msg_new(const void *data, size_t len);

void qh__heap_push(qh_t *h, dl_t *d);
void qh__heap_remove(qh_t *h, dl_t *d);

/* A routing id the client chose (a session id), not one the ROUTER made:
   those begin with a 0 byte. */
static inline bool
qh__session_rid(const uint8_t *rid, size_t len)
{
	return len > 0 && rid[0] != 0;
}

peer_t *qh__peer_get(qh_t *h, const uint8_t *rid, size_t len, int fd);
peer_t *qh__peer_find(qh_t *h, const uint8_t *rid, size_t len);
void qh__peer_kill(qh_t *h, peer_t *p); /* marks it dead; freed at settle */
void qh__settle(qh_t *h);		/* frees dead peers, serves dirty queues */
/* Moves p to the list of connection fd's peers (none if fd < 0). */
void qh__peer_attach(qh_t *h, peer_t *p, int fd);
/* Counts p as a consumer of q from its first GET on. */
void qh__peer_reads(peer_t *p, queue_t *q);
/* Ends p's waiting requests and frees its credit, as its connection's end
   would, but keeps its leases: a put that had appended part of its
   messages appends the rest and is answered; the others go unanswered
   (their client sends them again). */
void qh__peer_suspend(qh_t *h, peer_t *p);
/* p has no connection until a HELLO resumes it; at give_up_at (> 0) it is
   killed if it is still detached. */
void qh__peer_detach(qh_t *h, peer_t *p, int64_t give_up_at);
/* p's session goes on on connection fd (its HELLO came from there). */
void qh__peer_resume(qh_t *h, peer_t *p, int fd);
/* An import: the lease slot table with n generations (n x u32, network
   order), every slot free; leases are placed by qh__lease_restore, then
   qh__slots_freed() lists the free ones. */
int qh__slots_restore(qh_t *h, const uint8_t *gens, size_t n);
void qh__slots_freed(qh_t *h);
/* Leases m (taken) of q to p under lease id, its deadline left_ms from now
   (-1: none), after p's other leases. 0, -EINVAL (an id whose slot is out
   of the table, of another generation or taken), -ENOMEM. */
int qh__lease_restore(qh_t *h, peer_t *p, queue_t *q, uint64_t id, qmsg_t *m, int64_t left_ms);
void qh__mark_dirty(qh_t *h, queue_t *q);

/* Requests: frames in h->fr[0..n) are [rid][hdr][queue]...; hdr decoded. */
void qh__do_put(qh_t *h, peer_t *p, const uint8_t *rid, size_t rid_len, const wire_req_t *r,
		queue_t *q, zmq_msg_t *msgs, size_t n);
void qh__do_get(qh_t *h, peer_t *p, const wire_req_t *r, queue_t *q);
void qh__do_complete(qh_t *h, peer_t *p, const uint8_t *rid, size_t rid_len, const wire_req_t *r,
		     queue_t *q, queue_t *tq, uint64_t lease_id, const void *data, size_t len);
void qh__do_credit(qh_t *h, peer_t *p, const wire_req_t *r, queue_t *q);
void qh__do_return(qh_t *h, const uint8_t *rid, size_t rid_len, queue_t *q, uint32_t n);
uint32_t qh__do_ack(qh_t *h, const uint8_t *rid, size_t rid_len, queue_t *q, const uint8_t *ids,
		    size_t n, bool nack);
void qh__expire(qh_t *h, int64_t now);
int qh__append(qh_t *h, queue_t *q, const void *data, size_t len);

/* ---- queue_export.c ---- */
/* Writes the host's state (queues, sessions, leases) to fd, from its
   current offset (format in queue_export.c). 0, or -1 with *err. */
int qh__export_write(qh_t *h, int fd, char **err);
/* Reads an export from fd (offset 0; fd is not closed) into a host whose
   queues are made and whose store is open but not loaded: the store's
   messages are loaded here, in the order the export says. 0, or -1 with
   *err (nothing is committed to the store then). */
int qh__import(qh_t *h, int fd, char **err);

/* ---- queue_host.c: connections ---- */
/* The connection of descriptor fd (the table grows), NULL if out of range
   or out of memory. */
conn_t *qh__conn(qh_t *h, int fd);

/* ---- queue_peer.c ---- */
/* Peers of TCP connections on local port that droverd closed lately, "ip:port"
   each; returns how many (at most max). */
int qh__closed_peers(int port, char (*out)[64], int max);

/* ---- queue_host.c ---- */
/* Sends a reply without frames but maybe a text. 0, or -1 when the peer is
   unreachable. */
int qh__reply(qh_t *h, const uint8_t *rid, size_t rid_len, uint8_t op, uint32_t req_id,
	      int16_t status, uint32_t count, const char *text);
/* The same with credit granted in the header. */
int qh__reply_credit(qh_t *h, const uint8_t *rid, size_t rid_len, uint8_t op, uint32_t req_id,
		     int16_t status, uint32_t count, uint32_t credit, const char *text);
/* An OK reply that grants credit to a request that was waited for (a
   synchronous PUT, CREDIT): frame 1 is the queue's max_message (u64), so
   that the client refuses larger messages itself before it sends them
   within credit. With deferred, after the store's next commit. */
void qh__reply_grant(qh_t *h, const uint8_t *rid, size_t rid_len, uint8_t op, uint32_t req_id,
		     uint32_t count, uint32_t credit, int64_t max_message, bool deferred);
/* The OK outcome of a credited PUT or COMPLETE, sent with the others of
   the same client and queue at the end of the pass (after the commit when
   durable). */
void qh__confirm(qh_t *h, const uint8_t *rid, size_t rid_len, const queue_t *q, uint8_t op,
		 uint32_t req_id, uint32_t credit, bool durable);
/* A PUT or COMPLETE reply sent after the store's next commit. */
void qh__reply_after_commit(qh_t *h, const uint8_t *rid, size_t rid_len, uint8_t op,
			    uint32_t req_id, int16_t status, uint32_t count, uint32_t credit);
/* Sends a GET reply: leases and data of msgs. 0 or -1 (unreachable). */
int qh__send_msgs(qh_t *h, peer_t *p, uint32_t req_id, lease_t **leases, size_t n);

#endif
