/* libdrover: the C client of drover's queues (drover.h, and the protocol in
   docs/queue-protocol.md). One DEALER socket per client with CURVE keys
   derived from the authkey, a socket monitor to tell a refused handshake
   (DROVER_EAUTH) and a lost connection (DROVER_ECONN) from silence, and a
   request id per request so that replies are matched whatever their order.
   Acks and nacks are sent without waiting for a reply. */
#include "drover.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "auth.h"
#include "wire.h"

_Static_assert((int)DROVER_EEMPTY == (int)WIRE_EEMPTY && (int)DROVER_EFULL == (int)WIRE_EFULL &&
		   (int)DROVER_EAUTH == (int)WIRE_EAUTH && (int)DROVER_ECONN == (int)WIRE_ECONN &&
		   (int)DROVER_ETOOBIG == (int)WIRE_ETOOBIG &&
		   (int)DROVER_ENOQUEUE == (int)WIRE_ENOQUEUE &&
		   (int)DROVER_EINVAL == (int)WIRE_EINVAL &&
		   (int)DROVER_ETIMEOUT == (int)WIRE_ETIMEOUT,
	       "drover.h and wire.h status codes agree");

#define REPLY_GRACE_MS 5000 /* beyond a request's own timeout */
#define PUT_BATCH 4096	    /* messages per PUT of drover_put_many */
#define PUT_BATCH_BYTES (8u << 20)
#define ABANDONED 64 /* GETs given up on, whose late replies are nacked */

typedef struct cqueue {
	char *name;
	size_t len;
	drover_msg **buf; /* prefetched messages, a ring */
	size_t cap, head, n;
	uint32_t pending; /* the standing GET of prefetch, 0 if none */
	int pending_err;  /* its error, for the next drover_get */
	struct cqueue *next;
} cqueue_t;

struct drover_msg {
	zmq_msg_t data;
	uint64_t lease;
	cqueue_t *q;
};

#define ASYNC_BIT 0x80000000u /* request ids of drover_put_async */
#define ASYNC_MAX 10000	      /* outstanding asynchronous puts */

struct drover_client {
	void *sock;
	void *mon;
	uint32_t next_id; /* below ASYNC_BIT */
	uint32_t next_async;
	size_t async_out; /* asynchronous puts not answered yet */
	int async_err;	  /* the first failure among them since drover_flush */
	bool unsynced;	  /* sent something without a reply since the last reply */
	unsigned prefetch;
	uint64_t max_frame;
	cqueue_t *queues;
	struct {
		uint32_t req_id;
		cqueue_t *q;
	} abandoned[ABANDONED];
	unsigned n_abandoned;
};

/* A reply being read. */
typedef struct {
	wire_rep_t rep;
	zmq_msg_t fr[3]; /* frames after the header; GET data frames go to msgs */
	size_t nfr;
	drover_msg **msgs; /* GET: the messages, when wanted */
	size_t nmsgs;
} reply_t;

/* ---- the shared context ---- */

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static void *s_ctx;
static pid_t s_ctx_pid;
static unsigned s_mon_seq;

static void *
s_context(unsigned *seq)
{
	void *ctx;

	pthread_mutex_lock(&s_lock);
	if (s_ctx == NULL || s_ctx_pid != getpid()) {
		/* After fork() the parent's context is unusable here; it is
		   left alone, not terminated. */
		s_ctx = zmq_ctx_new();
		s_ctx_pid = getpid();
		if (s_ctx != NULL) {
			int limit = zmq_ctx_get(s_ctx, ZMQ_SOCKET_LIMIT);

			zmq_ctx_set(s_ctx, ZMQ_BLOCKY, 0);
			/* three sockets a client: the default 1023 would stop
			   a process at about 340 clients */
			if (limit > 0)
				zmq_ctx_set(s_ctx, ZMQ_MAX_SOCKETS, limit);
		}
	}
	ctx = s_ctx;
	*seq = ++s_mon_seq;
	pthread_mutex_unlock(&s_lock);
	return ctx;
}

/* ---- time ---- */

static int64_t
s_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The client-side deadline of a request whose server-side wait is
   timeout_ms: -1 for none. */
static int64_t
s_deadline(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : s_now_ms() + timeout_ms + REPLY_GRACE_MS;
}

/* ---- queues and messages ---- */

static cqueue_t *
s_queue(drover_client *c, const char *name)
{
	size_t len = strlen(name);
	cqueue_t *q;

	for (q = c->queues; q != NULL; q = q->next)
		if (q->len == len && memcmp(q->name, name, len) == 0)
			return q;
	if ((q = calloc(1, sizeof(*q))) == NULL || (q->name = strdup(name)) == NULL) {
		free(q);
		return NULL;
	}
	q->len = len;
	q->next = c->queues;
	c->queues = q;
	return q;
}

static void
s_msg_free(drover_msg *m)
{
	zmq_msg_close(&m->data);
	free(m);
}

static int
s_buf_push(cqueue_t *q, drover_msg *m)
{
	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 16, i;
		drover_msg **b = malloc(cap * sizeof(*b));

		if (b == NULL)
			return -1;
		for (i = 0; i < q->n; i++)
			b[i] = q->buf[(q->head + i) % q->cap];
		free(q->buf);
		q->buf = b;
		q->cap = cap;
		q->head = 0;
	}
	q->buf[(q->head + q->n) % q->cap] = m;
	q->n++;
	return 0;
}

static drover_msg *
s_buf_pop(cqueue_t *q)
{
	drover_msg *m;

	if (q->n == 0)
		return NULL;
	m = q->buf[q->head];
	q->head = (q->head + 1) % q->cap;
	q->n--;
	return m;
}

/* ---- sending ---- */

static int
s_send(drover_client *c, const void *p, size_t len, int flags)
{
	while (zmq_send(c->sock, p, len, flags) < 0) {
		if (errno != EINTR)
			return DROVER_ECONN;
	}
	return DROVER_OK;
}

static uint32_t
s_req_id(drover_client *c)
{
	if (++c->next_id >= ASYNC_BIT)
		c->next_id = 1;
	return c->next_id;
}

/* Sends header and queue name; more frames follow when more. */
static int
s_send_head(drover_client *c, uint8_t op, uint32_t req_id, int timeout_ms, uint32_t count,
	    const cqueue_t *q, bool more)
{
	uint8_t hdr[WIRE_HDR_LEN];
	wire_req_t r = {.op = op, .req_id = req_id, .timeout_ms = timeout_ms, .count = count};
	int rc;

	wire_req_encode(hdr, &r);
	if (q == NULL)
		return s_send(c, hdr, sizeof(hdr), more ? ZMQ_SNDMORE : 0);
	if ((rc = s_send(c, hdr, sizeof(hdr), ZMQ_SNDMORE)) != 0)
		return rc;
	return s_send(c, q->name, q->len, more ? ZMQ_SNDMORE : 0);
}

/* ACK or NACK of n lease ids of q, no reply wanted. */
static int
s_send_leases(drover_client *c, uint8_t op, cqueue_t *q, const uint64_t *ids, size_t n)
{
	zmq_msg_t f;
	size_t i;
	int rc;

	if ((rc = s_send_head(c, op, 0, 0, (uint32_t)n, q, true)) != 0)
		return rc;
	zmq_msg_init_size(&f, n * 8);
	for (i = 0; i < n; i++)
		wire_put_u64((uint8_t *)zmq_msg_data(&f) + 8 * i, ids[i]);
	while (zmq_msg_send(&f, c->sock, 0) < 0)
		if (errno != EINTR) {
			zmq_msg_close(&f);
			return DROVER_ECONN;
		}
	c->unsynced = true;
	return DROVER_OK;
}

/* ---- receiving ---- */

/* Drops prefetched messages: after a disconnect droverd has requeued them. */
static void
s_drop_prefetched(drover_client *c)
{
	cqueue_t *q;
	drover_msg *m;

	for (q = c->queues; q != NULL; q = q->next) {
		while ((m = s_buf_pop(q)) != NULL)
			s_msg_free(m);
		q->pending = 0; /* droverd dropped it with the connection */
	}
}

/* Reads pending monitor events: DROVER_EAUTH for a refused handshake,
   DROVER_ECONN for a lost connection, else DROVER_OK. */
static int
s_monitor(drover_client *c)
{
	uint8_t ev[6];
	uint16_t event;
	int rc = DROVER_OK, n, more;
	size_t ml = sizeof(more);
	char junk[1];

	while ((n = zmq_recv(c->mon, ev, sizeof(ev), ZMQ_DONTWAIT)) >= 0) {
		more = 0;
		zmq_getsockopt(c->mon, ZMQ_RCVMORE, &more, &ml);
		while (more) {
			zmq_recv(c->mon, junk, sizeof(junk), 0);
			zmq_getsockopt(c->mon, ZMQ_RCVMORE, &more, &ml);
		}
		if (n != 6)
			continue;
		memcpy(&event, ev, 2);
		switch (event) {
		case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
		case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
		case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
			rc = DROVER_EAUTH;
			break;
		case ZMQ_EVENT_DISCONNECTED:
			s_drop_prefetched(c);
			if (c->async_out > 0 && c->async_err == DROVER_OK)
				c->async_err = DROVER_ECONN; /* fate unknown */
			c->async_out = 0;
			if (rc == DROVER_OK)
				rc = DROVER_ECONN;
			break;
		default:
			break;
		}
	}
	return rc;
}

static void
s_reply_clear(reply_t *r)
{
	size_t i;

	for (i = 0; i < r->nfr; i++)
		zmq_msg_close(&r->fr[i]);
	r->nfr = 0;
}

/* Nacks the messages of a GET reply nobody waits for any more. */
static void
s_nack_stray(drover_client *c, const wire_rep_t *rep, zmq_msg_t *ids)
{
	unsigned i;
	size_t n;

	for (i = 0; i < c->n_abandoned; i++)
		if (c->abandoned[i].req_id == rep->req_id) {
			n = zmq_msg_size(ids) / 8;
			if (n > 0) {
				uint64_t *v = malloc(n * sizeof(*v));
				size_t k;

				if (v != NULL) {
					for (k = 0; k < n; k++)
						v[k] = wire_get_u64((uint8_t *)zmq_msg_data(ids) +
								    8 * k);
					s_send_leases(c, WIRE_NACK, c->abandoned[i].q, v, n);
					free(v);
				}
			}
			c->abandoned[i] = c->abandoned[--c->n_abandoned];
			return;
		}
}

static cqueue_t *
s_pending_owner(drover_client *c, uint32_t req_id)
{
	cqueue_t *q;

	for (q = c->queues; q != NULL; q = q->next)
		if (q->pending != 0 && q->pending == req_id)
			return q;
	return NULL;
}

/* A message of queue q made of data frame f (whose content it takes) and
   the i-th lease id of the ids frame; NULL when out of memory. */
static drover_msg *
s_msg_take(zmq_msg_t *f, zmq_msg_t *ids, size_t i, cqueue_t *q)
{
	drover_msg *m = malloc(sizeof(*m));

	if (m == NULL)
		return NULL;
	zmq_msg_init(&m->data);
	zmq_msg_move(&m->data, f);
	m->lease = wire_get_u64((uint8_t *)zmq_msg_data(ids) + 8 * i);
	m->q = q;
	return m;
}

/* The rest of a reply to q's standing GET: its messages go to q's prefetch
   buffer. Returns 1 if req_id was awaited (mine), else 0, or an error. */
static int
s_read_prefetch(drover_client *c, cqueue_t *q, reply_t *r, int more, bool mine)
{
	zmq_msg_t f, ids;
	size_t idx = 0, nids = 0;
	bool ok = r->rep.status == WIRE_OK;
	int rc = 0;

	q->pending = 0;
	if (!ok && !mine && r->rep.status != WIRE_EEMPTY)
		q->pending_err = r->rep.status;
	zmq_msg_init(&ids);
	while (more) {
		zmq_msg_init(&f);
		if (zmq_msg_recv(&f, c->sock, 0) < 0) {
			zmq_msg_close(&f);
			rc = DROVER_ECONN;
			break;
		}
		more = zmq_msg_more(&f);
		if (ok && idx == 0) {
			zmq_msg_move(&ids, &f);
			nids = zmq_msg_size(&ids) / 8;
		} else if (ok && idx - 1 < nids) {
			drover_msg *m = s_msg_take(&f, &ids, idx - 1, q);

			if (m != NULL && s_buf_push(q, m) != 0)
				s_msg_free(m); /* leased: back after the lease */
		}
		zmq_msg_close(&f);
		idx++;
	}
	zmq_msg_close(&ids);
	r->nfr = 0;
	r->nmsgs = 0;
	return rc != 0 ? rc : mine ? 1 : 0;
}

/* Reads one whole reply. Returns 1 if it is the one for req_id (filled in
   *r, with GET messages made into drover_msg of q), 0 if it was another
   (dropped), or an error. */
static int
s_read_one(drover_client *c, uint32_t req_id, cqueue_t *q, reply_t *r)
{
	zmq_msg_t f, ids;
	int more, rc = 0;
	bool mine = false, get_ok = false;
	size_t idx = 0, nids = 0;
	cqueue_t *pq;

	zmq_msg_init(&f);
	zmq_msg_init(&ids);
	if (zmq_msg_recv(&f, c->sock, ZMQ_DONTWAIT) < 0) {
		zmq_msg_close(&f);
		return errno == EAGAIN || errno == EINTR ? 0 : DROVER_ECONN;
	}
	more = zmq_msg_more(&f);
	if (wire_rep_decode(zmq_msg_data(&f), zmq_msg_size(&f), &r->rep) == 0 &&
	    r->rep.req_id == req_id)
		mine = true;
	get_ok = r->rep.op == WIRE_GET && r->rep.status == WIRE_OK;
	zmq_msg_close(&f);
	if (r->rep.op == WIRE_GET && (pq = s_pending_owner(c, r->rep.req_id)) != NULL)
		return s_read_prefetch(c, pq, r, more, mine);
	if (r->rep.op == WIRE_PUT && (r->rep.req_id & ASYNC_BIT) != 0 && !mine) {
		if (c->async_out > 0)
			c->async_out--;
		if (r->rep.status != WIRE_OK && c->async_err == DROVER_OK)
			c->async_err = r->rep.status <= 0 && r->rep.status >= DROVER_ETIMEOUT
					   ? r->rep.status
					   : DROVER_EINVAL;
	}
	r->nfr = 0;
	r->nmsgs = 0;
	while (more) {
		zmq_msg_init(&f);
		if (zmq_msg_recv(&f, c->sock, 0) < 0) {
			zmq_msg_close(&f);
			rc = DROVER_ECONN;
			break;
		}
		more = zmq_msg_more(&f);
		if (get_ok && idx == 0) {
			zmq_msg_move(&ids, &f);
			nids = zmq_msg_size(&ids) / 8;
		} else if (get_ok && mine && r->msgs != NULL && idx - 1 < nids) {
			drover_msg *m = s_msg_take(&f, &ids, idx - 1, q);

			if (m != NULL)
				r->msgs[r->nmsgs++] = m;
		} else if (!get_ok && mine && r->nfr < 3) {
			zmq_msg_init(&r->fr[r->nfr]);
			zmq_msg_move(&r->fr[r->nfr++], &f);
		}
		zmq_msg_close(&f);
		idx++;
	}
	if (!mine && get_ok)
		s_nack_stray(c, &r->rep, &ids);
	zmq_msg_close(&ids);
	if (rc != 0 || !mine) {
		size_t i;

		for (i = 0; i < r->nmsgs; i++)
			s_msg_free(r->msgs[i]);
		r->nmsgs = 0;
		s_reply_clear(r);
		return rc;
	}
	return 1;
}

/* Waits for the reply to req_id (0: for every asynchronous put to be
   answered) until deadline_ms (-1: none). Returns
   DROVER_OK with *r filled (r->rep.status is the request's outcome), or
   DROVER_ETIMEOUT, DROVER_ECONN, DROVER_EAUTH. */
static int
s_wait(drover_client *c, uint32_t req_id, cqueue_t *q, int64_t deadline_ms, reply_t *r)
{
	zmq_pollitem_t items[2] = {{c->sock, 0, ZMQ_POLLIN, 0}, {c->mon, 0, ZMQ_POLLIN, 0}};
	int rc;
	long wait;

	for (;;) {
		while ((rc = s_read_one(c, req_id, q, r)) != 0 || zmq_poll(items, 1, 0) > 0) {
			if (rc == 1) {
				/* Requests are handled in order: all sent before
				   this one have been read by droverd. */
				c->unsynced = false;
				return DROVER_OK;
			}
			if (rc < 0)
				return rc;
			if (req_id == 0 && c->async_out == 0)
				return DROVER_OK;
		}
		if (req_id == 0 && c->async_out == 0)
			return DROVER_OK;
		if ((rc = s_monitor(c)) != DROVER_OK)
			return rc;
		if (deadline_ms < 0) {
			wait = -1;
		} else {
			wait = (long)(deadline_ms - s_now_ms());
			if (wait <= 0)
				return DROVER_ETIMEOUT;
		}
		if (zmq_poll(items, 2, wait) < 0 && errno != EINTR)
			return DROVER_ECONN;
	}
}

/* A reply's error status, with the server's text ignored. */
static int
s_status(const reply_t *r)
{
	int16_t s = r->rep.status;

	return s <= 0 && s >= DROVER_ETIMEOUT ? s : DROVER_EINVAL;
}

/* ---- connecting ---- */

static int
s_setopt(void *sock, int opt, int v)
{
	return zmq_setsockopt(sock, opt, &v, sizeof(v));
}

drover_client *
drover_connect(const char *endpoint, const void *authkey, size_t authkey_len, int timeout_ms,
	       int *rc)
{
	drover_client *c = NULL;
	auth_keypair_t server, client;
	char mon_ep[96];
	unsigned seq;
	void *ctx;
	reply_t r = {0};
	uint32_t id;
	int err = DROVER_ECONN, dummy;

	if (rc == NULL)
		rc = &dummy;
	if (endpoint == NULL || authkey == NULL || authkey_len == 0 ||
	    auth_derive(authkey, authkey_len, AUTH_SERVER, &server) != 0 ||
	    auth_derive(authkey, authkey_len, AUTH_CLIENT, &client) != 0) {
		*rc = DROVER_EINVAL;
		return NULL;
	}
	if ((ctx = s_context(&seq)) == NULL || (c = calloc(1, sizeof(*c))) == NULL)
		goto fail;
	c->prefetch = 1;
	if ((c->sock = zmq_socket(ctx, ZMQ_DEALER)) == NULL)
		goto fail;
	s_setopt(c->sock, ZMQ_LINGER, 2000);
	s_setopt(c->sock, ZMQ_RECONNECT_IVL, 100);
	s_setopt(c->sock, ZMQ_RECONNECT_IVL_MAX, 2000);
	s_setopt(c->sock, ZMQ_HEARTBEAT_IVL, 5000);
	s_setopt(c->sock, ZMQ_HEARTBEAT_TIMEOUT, 15000);
	zmq_setsockopt(c->sock, ZMQ_CURVE_SERVERKEY, server.public_key, AUTH_KEY_LEN);
	zmq_setsockopt(c->sock, ZMQ_CURVE_PUBLICKEY, client.public_key, AUTH_KEY_LEN);
	if (zmq_setsockopt(c->sock, ZMQ_CURVE_SECRETKEY, client.secret_key, AUTH_KEY_LEN) != 0)
		goto fail;
	snprintf(mon_ep, sizeof(mon_ep), "inproc://drover-client-%d-%u", (int)getpid(), seq);
	if (zmq_socket_monitor(c->sock, mon_ep,
			       ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
				   ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
				   ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) != 0 ||
	    (c->mon = zmq_socket(ctx, ZMQ_PAIR)) == NULL)
		goto fail;
	s_setopt(c->mon, ZMQ_LINGER, 0);
	s_setopt(c->mon, ZMQ_RCVHWM, 0);
	if (zmq_connect(c->mon, mon_ep) != 0)
		goto fail;
	if (zmq_connect(c->sock, endpoint) != 0) {
		err = DROVER_EINVAL;
		goto fail;
	}
	id = s_req_id(c);
	if (s_send_head(c, WIRE_HELLO, id, 0, 0, NULL, false) != 0)
		goto fail;
	err = s_wait(c, id, NULL, timeout_ms < 0 ? -1 : s_now_ms() + timeout_ms, &r);
	if (err == DROVER_ETIMEOUT)
		err = DROVER_ECONN;
	if (err != DROVER_OK)
		goto fail;
	if (r.rep.status != WIRE_OK || r.nfr < 1 || zmq_msg_size(&r.fr[0]) != 8) {
		err = r.rep.status != WIRE_OK ? s_status(&r) : DROVER_EINVAL;
		s_reply_clear(&r);
		goto fail;
	}
	c->max_frame = wire_get_u64(zmq_msg_data(&r.fr[0]));
	s_reply_clear(&r);
	memset(&client, 0, sizeof(client));
	*rc = DROVER_OK;
	return c;
fail:
	memset(&client, 0, sizeof(client));
	/* Nothing queued is worth delivering, and with a linger ZeroMQ would
	   go on reconnecting (and being refused) for a while. */
	if (c != NULL && c->sock != NULL)
		s_setopt(c->sock, ZMQ_LINGER, 0);
	drover_close(c);
	*rc = err;
	return NULL;
}

drover_client *
drover_connect_keyfile(const char *endpoint, const char *authkey_file, int timeout_ms, int *rc)
{
	drover_client *c;
	uint8_t *key = NULL;
	size_t len = 0;
	int err;

	if (authkey_file == NULL || (err = auth_read_keyfile(authkey_file, &key, &len)) != 0) {
		errno = authkey_file == NULL ? EINVAL : -err;
		if (rc != NULL)
			*rc = DROVER_EINVAL;
		return NULL;
	}
	c = drover_connect(endpoint, key, len, timeout_ms, rc);
	auth_key_free(key, len);
	return c;
}

void
drover_close(drover_client *c)
{
	cqueue_t *q, *next;

	if (c == NULL)
		return;
	if (c->unsynced && c->sock != NULL) {
		/* Acks and pipelined puts are sent by ZeroMQ's thread, which
		   dies with the process: one round trip makes sure droverd has
		   them before we go. */
		reply_t r = {0};
		uint32_t id = s_req_id(c);

		if (s_send_head(c, WIRE_HELLO, id, 0, 0, NULL, false) == 0 &&
		    s_wait(c, id, NULL, s_now_ms() + REPLY_GRACE_MS, &r) == DROVER_OK)
			s_reply_clear(&r);
	}
	s_drop_prefetched(c);
	if (c->sock != NULL) {
		zmq_socket_monitor(c->sock, NULL, 0);
		zmq_close(c->sock);
	}
	if (c->mon != NULL)
		zmq_close(c->mon);
	for (q = c->queues; q != NULL; q = next) {
		next = q->next;
		free(q->buf);
		free(q->name);
		free(q);
	}
	free(c);
}

/* ---- put ---- */

static bool
s_name_ok(const char *queue)
{
	return queue != NULL && wire_queue_name_ok(queue, strlen(queue));
}

/* One PUT of n messages; *done = how many went in. */
static int
s_put(drover_client *c, cqueue_t *q, const void *const *data, const size_t *sizes, size_t n,
      int timeout_ms, size_t *done)
{
	reply_t r = {0};
	uint32_t id = s_req_id(c);
	size_t i;
	int rc;

	*done = 0;
	for (i = 0; i < n; i++)
		if (c->max_frame > 0 && sizes[i] > c->max_frame)
			return DROVER_ETOOBIG;
	if ((rc = s_monitor(c)) == DROVER_EAUTH)
		return rc;
	if ((rc = s_send_head(c, WIRE_PUT, id, timeout_ms, (uint32_t)n, q, true)) != 0)
		return rc;
	for (i = 0; i < n; i++)
		if ((rc = s_send(c, sizes[i] ? data[i] : "", sizes[i],
				 i + 1 < n ? ZMQ_SNDMORE : 0)) != 0)
			return rc;
	if ((rc = s_wait(c, id, q, s_deadline(timeout_ms), &r)) != DROVER_OK)
		return rc;
	*done = r.rep.count <= n ? r.rep.count : n;
	rc = s_status(&r);
	s_reply_clear(&r);
	return rc;
}

int
drover_put(drover_client *c, const char *queue, const void *data, size_t size, int timeout_ms)
{
	cqueue_t *q;
	size_t done;

	if (c == NULL || !s_name_ok(queue) || (data == NULL && size > 0) || timeout_ms < -1 ||
	    (q = s_queue(c, queue)) == NULL)
		return DROVER_EINVAL;
	return s_put(c, q, &data, &size, 1, timeout_ms, &done);
}

int
drover_put_many(drover_client *c, const char *queue, const void *const *data, const size_t *sizes,
		size_t n, int timeout_ms, size_t *done)
{
	cqueue_t *q;
	size_t total = 0, k, bytes, got;
	int rc = DROVER_OK;

	if (done != NULL)
		*done = 0;
	if (c == NULL || !s_name_ok(queue) || (n > 0 && (data == NULL || sizes == NULL)) ||
	    timeout_ms < -1 || (q = s_queue(c, queue)) == NULL)
		return DROVER_EINVAL;
	while (total < n) {
		for (k = 0, bytes = 0; total + k < n && k < PUT_BATCH; k++) {
			if (k > 0 && bytes + sizes[total + k] > PUT_BATCH_BYTES)
				break;
			bytes += sizes[total + k];
		}
		rc = s_put(c, q, data + total, sizes + total, k, timeout_ms, &got);
		total += got;
		if (rc != DROVER_OK)
			break;
	}
	if (done != NULL)
		*done = total;
	return rc;
}

int
drover_put_async(drover_client *c, const char *queue, const void *data, size_t size)
{
	cqueue_t *q;
	uint32_t id;
	int rc;

	if (c == NULL || !s_name_ok(queue) || (data == NULL && size > 0) ||
	    (q = s_queue(c, queue)) == NULL)
		return DROVER_EINVAL;
	if (c->max_frame > 0 && size > c->max_frame)
		return DROVER_ETOOBIG;
	if ((rc = s_monitor(c)) == DROVER_EAUTH)
		return rc;
	if (c->async_out >= ASYNC_MAX) {
		reply_t r = {0};

		/* Too many in flight: wait for answers (not for all). */
		while (c->async_out >= ASYNC_MAX / 2)
			if ((rc = s_wait(c, UINT32_MAX, NULL, s_now_ms() + 10, &r)) != DROVER_OK &&
			    rc != DROVER_ETIMEOUT)
				return rc;
	}
	if (++c->next_async >= ASYNC_BIT - 1) /* never UINT32_MAX */
		c->next_async = 1;
	id = c->next_async | ASYNC_BIT;
	if ((rc = s_send_head(c, WIRE_PUT, id, -1, 1, q, true)) != 0 ||
	    (rc = s_send(c, size ? data : "", size, 0)) != 0)
		return rc;
	c->async_out++;
	c->unsynced = true;
	return DROVER_OK;
}

int
drover_flush(drover_client *c, int timeout_ms)
{
	reply_t r = {0};
	int rc;

	if (c == NULL || timeout_ms < -1)
		return DROVER_EINVAL;
	rc = c->async_out == 0
		 ? DROVER_OK
		 : s_wait(c, 0, NULL, timeout_ms < 0 ? -1 : s_now_ms() + timeout_ms, &r);
	if (rc == DROVER_OK || rc == DROVER_ECONN) {
		if (c->async_err != DROVER_OK)
			rc = c->async_err;
		c->async_err = DROVER_OK;
	}
	return rc;
}

/* ---- get ---- */

static void
s_abandon(drover_client *c, uint32_t req_id, cqueue_t *q)
{
	if (c->n_abandoned == ABANDONED) {
		memmove(c->abandoned, c->abandoned + 1, (ABANDONED - 1) * sizeof(c->abandoned[0]));
		c->n_abandoned--;
	}
	c->abandoned[c->n_abandoned].req_id = req_id;
	c->abandoned[c->n_abandoned].q = q;
	c->n_abandoned++;
}

/* One GET of up to max messages into out[]; *n = how many. */
static int
s_get(drover_client *c, cqueue_t *q, size_t max, int timeout_ms, drover_msg **out, size_t *n)
{
	reply_t r = {0};
	uint32_t id = s_req_id(c);
	int rc;

	*n = 0;
	if (max > WIRE_MAX_COUNT)
		max = WIRE_MAX_COUNT;
	if ((rc = s_monitor(c)) == DROVER_EAUTH)
		return rc;
	if ((rc = s_send_head(c, WIRE_GET, id, timeout_ms, (uint32_t)max, q, false)) != 0)
		return rc;
	r.msgs = out;
	rc = s_wait(c, id, q, s_deadline(timeout_ms), &r);
	if (rc == DROVER_ETIMEOUT)
		s_abandon(c, id, q);
	if (rc != DROVER_OK)
		return rc;
	*n = r.nmsgs;
	rc = s_status(&r);
	s_reply_clear(&r);
	if (rc == DROVER_OK && *n == 0)
		rc = DROVER_EEMPTY;
	return rc;
}

/* With prefetch, a GET for up to the prefetch stays outstanding at droverd
   (a waiting consumer), so messages are pushed here as they are put; it is
   sent again once the buffer is down to half. */
static void
s_rearm(drover_client *c, cqueue_t *q)
{
	uint32_t id;

	if (c->prefetch <= 1 || q->pending != 0 || q->n > c->prefetch / 2)
		return;
	id = s_req_id(c);
	if (s_send_head(c, WIRE_GET, id, -1, (uint32_t)(c->prefetch - q->n), q, false) == 0)
		q->pending = id;
}

static drover_msg *
s_get_prefetched(drover_client *c, cqueue_t *q, int timeout_ms, int *rc)
{
	reply_t r = {0};
	drover_msg *m;
	int err;

	if ((m = s_buf_pop(q)) == NULL) {
		if (q->pending_err != 0) {
			*rc = q->pending_err;
			q->pending_err = 0;
			return NULL;
		}
		if ((err = s_monitor(c)) == DROVER_EAUTH) {
			*rc = err;
			return NULL;
		}
		if (q->pending == 0) {
			/* Nothing outstanding: an ordinary GET, so that a
			   timeout of 0 still takes what is there. */
			drover_msg **got = malloc(c->prefetch * sizeof(*got));
			size_t n = 0, i;

			if (got == NULL) {
				*rc = DROVER_EINVAL;
				return NULL;
			}
			err = s_get(c, q, c->prefetch, timeout_ms, got, &n);
			for (i = 0; i < n; i++)
				if (s_buf_push(q, got[i]) != 0)
					s_msg_free(got[i]);
			free(got);
			if ((m = s_buf_pop(q)) == NULL) {
				*rc = err;
				return NULL;
			}
			s_rearm(c, q);
			*rc = DROVER_OK;
			return m;
		}
		err = s_wait(c, q->pending, q, timeout_ms < 0 ? -1 : s_now_ms() + timeout_ms, &r);
		if (err == DROVER_OK && r.rep.status != WIRE_OK)
			err = s_status(&r);
		s_reply_clear(&r);
		if ((m = s_buf_pop(q)) == NULL) {
			/* the standing GET stays: what it brings later is kept */
			*rc = err == DROVER_ETIMEOUT || err == DROVER_OK ? DROVER_EEMPTY : err;
			return NULL;
		}
	}
	s_rearm(c, q);
	*rc = DROVER_OK;
	return m;
}

drover_msg *
drover_get(drover_client *c, const char *queue, int timeout_ms, int *rc)
{
	drover_msg *m = NULL, **got;
	cqueue_t *q;
	size_t n = 0, i;
	int dummy, r;

	if (rc == NULL)
		rc = &dummy;
	if (c == NULL || !s_name_ok(queue) || timeout_ms < -1 || (q = s_queue(c, queue)) == NULL) {
		*rc = DROVER_EINVAL;
		return NULL;
	}
	if (c->prefetch > 1)
		return s_get_prefetched(c, q, timeout_ms, rc);
	if ((got = malloc(c->prefetch * sizeof(*got))) == NULL) {
		*rc = DROVER_EINVAL;
		return NULL;
	}
	r = s_get(c, q, c->prefetch, timeout_ms, got, &n);
	if (n > 0) {
		m = got[0];
		for (i = 1; i < n; i++)
			if (s_buf_push(q, got[i]) != 0)
				s_msg_free(got[i]); /* leased: back after the lease */
	}
	free(got);
	*rc = m != NULL ? DROVER_OK : r;
	return m;
}

int
drover_get_many(drover_client *c, const char *queue, drover_msg **msgs, size_t max, int timeout_ms,
		size_t *n)
{
	cqueue_t *q;
	size_t got = 0;

	if (n != NULL)
		*n = 0;
	if (c == NULL || !s_name_ok(queue) || msgs == NULL || max == 0 || timeout_ms < -1 ||
	    n == NULL || (q = s_queue(c, queue)) == NULL)
		return DROVER_EINVAL;
	while (got < max && q->n > 0)
		msgs[got++] = s_buf_pop(q);
	if (got == 0 && c->prefetch > 1) {
		int rc;
		drover_msg *m = s_get_prefetched(c, q, timeout_ms, &rc);

		if (m == NULL)
			return rc;
		msgs[got++] = m;
		while (got < max && q->n > 0)
			msgs[got++] = s_buf_pop(q);
	}
	if (got > 0) {
		s_rearm(c, q);
		*n = got;
		return DROVER_OK;
	}
	return s_get(c, q, max, timeout_ms, msgs, n);
}

const void *
drover_msg_data(const drover_msg *m)
{
	return m ? zmq_msg_data((zmq_msg_t *)&m->data) : NULL;
}

size_t
drover_msg_size(const drover_msg *m)
{
	return m ? zmq_msg_size((zmq_msg_t *)&m->data) : 0;
}

void
drover_msg_free(drover_msg *m)
{
	if (m != NULL)
		s_msg_free(m);
}

/* ---- ack, nack ---- */

static int
s_settle_many(drover_client *c, drover_msg **msgs, size_t n, uint8_t op)
{
	uint64_t *ids;
	size_t i, k, done = 0;
	int rc = DROVER_OK, r;

	if (c == NULL || (n > 0 && msgs == NULL))
		return DROVER_EINVAL;
	if (n == 0)
		return DROVER_OK;
	if ((ids = malloc((n < WIRE_MAX_COUNT ? n : WIRE_MAX_COUNT) * sizeof(*ids))) == NULL)
		return DROVER_EINVAL;
	/* One message per run of messages of the same queue. */
	while (done < n) {
		cqueue_t *q = msgs[done] ? msgs[done]->q : NULL;

		for (k = 0; done + k < n && k < WIRE_MAX_COUNT && msgs[done + k] != NULL &&
			    msgs[done + k]->q == q;
		     k++)
			ids[k] = msgs[done + k]->lease;
		if (k == 0) { /* a NULL message */
			rc = DROVER_EINVAL;
			done++;
			continue;
		}
		if ((r = s_send_leases(c, op, q, ids, k)) != DROVER_OK)
			rc = r;
		for (i = 0; i < k; i++)
			s_msg_free(msgs[done + i]);
		done += k;
	}
	free(ids);
	return rc;
}

int
drover_ack(drover_client *c, drover_msg *m)
{
	if (m == NULL)
		return DROVER_EINVAL;
	return s_settle_many(c, &m, 1, WIRE_ACK);
}

int
drover_nack(drover_client *c, drover_msg *m)
{
	if (m == NULL)
		return DROVER_EINVAL;
	return s_settle_many(c, &m, 1, WIRE_NACK);
}

int
drover_ack_many(drover_client *c, drover_msg **msgs, size_t n)
{
	return s_settle_many(c, msgs, n, WIRE_ACK);
}

int
drover_nack_many(drover_client *c, drover_msg **msgs, size_t n)
{
	return s_settle_many(c, msgs, n, WIRE_NACK);
}

/* ---- stats ---- */

int
drover_stats(drover_client *c, const char *queue, drover_stats_t *st)
{
	reply_t r = {0};
	wire_stats_t ws;
	cqueue_t *q;
	uint32_t id;
	int rc;

	if (c == NULL || st == NULL || !s_name_ok(queue) || (q = s_queue(c, queue)) == NULL)
		return DROVER_EINVAL;
	id = s_req_id(c);
	if ((rc = s_monitor(c)) == DROVER_EAUTH)
		return rc;
	if ((rc = s_send_head(c, WIRE_STATS, id, 0, 0, q, false)) != 0)
		return rc;
	if ((rc = s_wait(c, id, q, s_deadline(0), &r)) != DROVER_OK)
		return rc;
	rc = s_status(&r);
	if (rc == DROVER_OK && (r.nfr < 1 || wire_stats_decode(zmq_msg_data(&r.fr[0]),
							       zmq_msg_size(&r.fr[0]), &ws) != 0))
		rc = DROVER_EINVAL;
	s_reply_clear(&r);
	if (rc != DROVER_OK)
		return rc;
	st->size = (size_t)ws.size;
	st->capacity = (size_t)ws.capacity;
	st->in_flight = (size_t)ws.in_flight;
	st->consumers = (size_t)ws.consumers;
	st->put_total = ws.put_total;
	st->get_total = ws.get_total;
	st->durable = ws.durable != 0;
	return DROVER_OK;
}

int
drover_queue_size(drover_client *c, const char *queue, size_t *size)
{
	drover_stats_t st;
	int rc;

	if (size == NULL)
		return DROVER_EINVAL;
	if ((rc = drover_stats(c, queue, &st)) == DROVER_OK)
		*size = st.size;
	return rc;
}

int
drover_set_prefetch(drover_client *c, unsigned n)
{
	if (c == NULL || n == 0 || n > WIRE_MAX_COUNT)
		return DROVER_EINVAL;
	c->prefetch = n;
	return DROVER_OK;
}

const char *
drover_strerror(int rc)
{
	switch (rc) {
	case DROVER_OK:
		return "success";
	case DROVER_EEMPTY:
		return "queue empty: nothing arrived before the timeout";
	case DROVER_EFULL:
		return "queue full: no room before the timeout";
	case DROVER_EAUTH:
		return "authentication failed (wrong authkey?)";
	case DROVER_ECONN:
		return "no connection to droverd's queue endpoint";
	case DROVER_ETOOBIG:
		return "message larger than the queue's max_message";
	case DROVER_ENOQUEUE:
		return "no such queue";
	case DROVER_EINVAL:
		return "invalid argument or request";
	case DROVER_ETIMEOUT:
		return "no reply from droverd in time";
	default:
		return "unknown error";
	}
}
