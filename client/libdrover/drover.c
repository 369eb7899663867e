/* libdrover: the C client of drover's queues (drover.h, and the protocol in
   docs/queue-protocol.md). One DEALER socket per client with CURVE keys
   derived from the authkey, a socket monitor to tell a refused handshake
   (DROVER_EAUTH) and a lost connection (DROVER_ECONN) from silence, and a
   request id per request so that replies are matched whatever their order.

   Nothing on the one-call-at-a-time path waits for a round trip when it
   need not: a put within the credit droverd granted (places reserved for
   this client) is sent and returns; its confirmation comes back later and
   is read by the next calls (pend_t, below, keeps a copy until then so that
   it can be resent after a reconnect). complete, ack and nack are sent
   without waiting; gets are served from a prefetch buffer that droverd
   fills through a standing GET.

   A client has a session at droverd (its routing id, random): when the
   connection drops and ZeroMQ connects again (droverd upgraded in place, a
   network cut), the client sends HELLO, and droverd says whether it kept the
   session with its leases. Every request sent before that HELLO and not
   answered was not applied (droverd answers all it read before closing a
   connection, and drops what a session sends on a new connection before its
   HELLO), so it is sent again then, without an error to the caller
   (s_resync_done). */
#include "drover.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "auth.h"
#include "timing.h"
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
	uint32_t credit;      /* places reserved for us: puts that cannot be FULL */
	uint32_t inflight;    /* requests whose replies may grant credit */
	uint64_t max_message; /* the queue's, from a reply that granted credit; 0: unknown */
	int64_t last_put_ms;  /* of the last put or complete into it */
	drover_msg **buf;     /* prefetched messages, a ring */
	size_t cap, head, n;
	uint32_t pending;  /* the standing GET of prefetch, 0 if none */
	uint32_t asked;	   /* ... the messages it asked for */
	uint32_t received; /* ... and those that came (it stands until all did) */
	unsigned window;   /* prefetch of this queue (adaptive: grows to PREFETCH_AUTO_MAX) */
	bool starved;	   /* a get waited for the standing GET */
	int pending_err;   /* its error, for the next drover_get */
	struct cqueue *next;
} cqueue_t;

struct drover_msg {
	zmq_msg_t data;
	uint64_t lease;
	cqueue_t *q;
};

#define ASYNC_BIT 0x80000000u /* request ids of puts and completes not waited for */
#define DEFAULT_PREFETCH 16
/* The adaptive window grows to PREFETCH_AUTO_MAX messages, as long as that
   many of the messages the queue gives are within PREFETCH_AUTO_BYTES: a
   consumer of small messages that is faster than a round trip per half
   window needs a deep one (a round trip on a loaded 2-core host is several
   milliseconds, in which such a consumer handles hundreds), one of large
   messages does not. */
#define PREFETCH_AUTO_MAX 1024
#define PREFETCH_AUTO_BYTES (8u << 20)
#define CREDIT_WANT 1024 /* places a CREDIT request asks for */
#define CLOSE_FLUSH_MS 5000
#define IDLE_CREDIT_MS 1000 /* credit not used this long goes back */
#define GET_IDLE_MS 200	    /* a get that waits this long gives back all credit */

/* A put or complete sent without waiting, until its reply comes. */
typedef struct {
	uint32_t id;	/* 0: answered, a hole in the ring */
	uint8_t op;	/* WIRE_PUT or WIRE_COMPLETE */
	bool credited;	/* sent within credit (not a resend) */
	bool waited;	/* a put without credit that drover_put waits for */
	bool resent;	/* a complete sent again after a reconnect: its failure
			   only gives the task back */
	cqueue_t *q;	/* where the message goes */
	cqueue_t *tq;	/* COMPLETE: the task's queue */
	uint64_t lease; /* COMPLETE: the task */
	zmq_msg_t data; /* a copy of the last frame, sent again after a reconnect */
} pend_t;

/* An ack or nack of one lease, sent without a reply, kept until a reply to
   a later request shows that droverd read it, to be sent again if the
   connection drops before. */
typedef struct {
	uint32_t after; /* the sequence number of the last request sent before it */
	uint8_t op;	/* WIRE_ACK, WIRE_NACK */
	cqueue_t *q;
	uint64_t lease;
} alog_t;

#define SEQ_MASK 0x7fffffffu
#define ALOG_PROOF 4096	   /* unproven acks past which a HELLO asks for proof */
#define ALOG_MAX (1u << 20) /* past which the oldest are forgotten */
#define S_RESEND 1	    /* internal: a request went unanswered across a reconnect */

struct drover_client {
	void *sock;
	void *mon;
	uint8_t sid[16]; /* the session id: our routing id */
	uint32_t seq;	 /* of the last request: its id is seq, or seq | ASYNC_BIT */
	uint32_t proven; /* droverd has read every request sent before this seq */
	bool connected;	 /* the first HELLO was answered */
	uint32_t resync; /* the HELLO sent after a disconnect, until answered; 0 */
	uint32_t waiting; /* seq of the request a call waits for, 0 */
	bool lost;	  /* ... it went unanswered across a reconnect: send it again */
	uint32_t marker;  /* a HELLO that proves acks read, until answered; 0 */
	alog_t *alog;	  /* a ring of acks and nacks not proven read */
	size_t alog_cap, alog_head, alog_len;
	pend_t *pend; /* a ring of requests not answered yet, in sending order */
	size_t pend_cap, pend_head, pend_len, n_out; /* n_out: not answered */
	int err;				     /* the first failure not yet reported */
	size_t err_count;			     /* messages it and later failures cover */
	size_t undelivered;			     /* what the last reported failure covered */
	bool unsynced; /* sent something without a reply since the last reply */
	unsigned prefetch;
	bool prefetch_auto; /* not set by drover_set_prefetch: adaptive */
	uint64_t max_frame;
	bool pack; /* droverd reads packed requests (revision 3): send them */
	unsigned tick; /* puts and completes since replies were last read */
	cqueue_t *queues;
	struct {
		uint32_t req_id;
		cqueue_t *q;
		uint8_t op;
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
	q->window = DEFAULT_PREFETCH;
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

/* ---- requests not waited for ---- */

static pend_t *
s_pend_at(drover_client *c, size_t i)
{
	return &c->pend[(c->pend_head + i) % c->pend_cap];
}

/* A new entry at the tail (id 0 until the caller fills it), NULL when out of
   memory. */
static pend_t *
s_pend_add(drover_client *c)
{
	pend_t *e;

	if (c->pend_len == c->pend_cap) {
		size_t cap = c->pend_cap ? c->pend_cap * 2 : 256, i;
		pend_t *p = malloc(cap * sizeof(*p));

		if (p == NULL)
			return NULL;
		for (i = 0; i < c->pend_len; i++)
			p[i] = *s_pend_at(c, i); /* zmq_msg_t may be moved bytewise once unused */
		free(c->pend);
		c->pend = p;
		c->pend_cap = cap;
		c->pend_head = 0;
	}
	e = s_pend_at(c, c->pend_len++);
	memset(e, 0, sizeof(*e));
	zmq_msg_init(&e->data);
	c->n_out++;
	return e;
}

static pend_t *
s_pend_find(drover_client *c, uint32_t id)
{
	size_t i;

	for (i = 0; i < c->pend_len; i++)
		if (s_pend_at(c, i)->id == id)
			return s_pend_at(c, i);
	return NULL;
}

/* The entry is answered: it becomes a hole, and holes at the head go. */
static void
s_pend_trim(drover_client *c)
{
	while (c->pend_len > 0 && s_pend_at(c, 0)->id == 0) {
		zmq_msg_close(&s_pend_at(c, 0)->data);
		c->pend_head = (c->pend_head + 1) % c->pend_cap;
		c->pend_len--;
	}
}

/* The entry is answered: a hole, until s_pend_trim. */
static void
s_pend_clear(drover_client *c, pend_t *e)
{
	zmq_msg_close(&e->data);
	zmq_msg_init(&e->data);
	e->id = 0;
	c->n_out--;
}

static void
s_pend_done(drover_client *c, pend_t *e)
{
	s_pend_clear(c, e);
	while (c->pend_len > 0 && s_pend_at(c, 0)->id == 0) {
		zmq_msg_close(&s_pend_at(c, 0)->data);
		c->pend_head = (c->pend_head + 1) % c->pend_cap;
		c->pend_len--;
	}
}

/* Request ids come from one sequence (sync ids below ASYNC_BIT, the ids of
   puts and completes not waited for with it set), so that a reply tells
   which requests droverd has read: all that were sent before. */
static uint32_t
s_seq_next(drover_client *c)
{
	if (++c->seq >= SEQ_MASK) /* never 0, never UINT32_MAX with the bit */
		c->seq = 1;
	return c->seq;
}

static uint32_t
s_async_id(drover_client *c)
{
	return s_seq_next(c) | ASYNC_BIT;
}

/* Was sequence number a sent before b? (31-bit serial numbers) */
static bool
s_older(uint32_t a, uint32_t b)
{
	uint32_t d = (b - a) & SEQ_MASK;

	return d != 0 && d < (SEQ_MASK >> 1);
}

/* Remembers a failure of n messages sent without waiting, for the next
   call and drover_flush to report. */
static void
s_fail(drover_client *c, int rc, size_t n)
{
	if (c->err == DROVER_OK)
		c->err = rc;
	c->err_count += n;
}

/* The failure not reported yet (and forgets it), or DROVER_OK. */
static int
s_take_err(drover_client *c)
{
	int rc = c->err;

	if (rc != DROVER_OK) {
		c->undelivered = c->err_count;
		c->err = DROVER_OK;
		c->err_count = 0;
	}
	return rc;
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
	return s_seq_next(c);
}

/* Sends a request: the header, q's name (none when q is NULL) and n more
   frames. To a droverd of revision 3 as one packed frame (with CURVE each
   frame is a box of its own) when it fits in the largest frame droverd
   takes; else frame by frame. */
static int
s_send_req(drover_client *c, uint8_t op, uint16_t flags, uint32_t req_id, int timeout_ms,
	   uint32_t count, const cqueue_t *q, size_t n, const void *const *parts,
	   const size_t *lens)
{
	uint8_t hdr[WIRE_HDR_LEN], *o;
	wire_req_t r = {
	    .op = op, .flags = flags, .req_id = req_id, .timeout_ms = timeout_ms, .count = count};
	size_t i, len = WIRE_HDR_LEN + WIRE_PART_LEN + (q != NULL ? q->len : 0);
	zmq_msg_t m;
	int rc;

	for (i = 0; i < n; i++)
		len += WIRE_PART_LEN + lens[i];
	if (q != NULL && c->pack && (c->max_frame == 0 || len <= c->max_frame)) {
		r.flags |= WIRE_F_PACKED;
		if (zmq_msg_init_size(&m, len) != 0)
			return DROVER_ECONN;
		o = zmq_msg_data(&m);
		wire_req_encode(o, &r);
		o = wire_part_put(o + WIRE_HDR_LEN, q->name, q->len);
		for (i = 0; i < n; i++)
			o = wire_part_put(o, parts[i], lens[i]);
		while (zmq_msg_send(&m, c->sock, 0) < 0)
			if (errno != EINTR) {
				zmq_msg_close(&m);
				return DROVER_ECONN;
			}
		return DROVER_OK;
	}
	wire_req_encode(hdr, &r);
	if ((rc = s_send(c, hdr, sizeof(hdr), q != NULL ? ZMQ_SNDMORE : 0)) != 0 || q == NULL)
		return rc;
	if ((rc = s_send(c, q->name, q->len, n > 0 ? ZMQ_SNDMORE : 0)) != 0)
		return rc;
	for (i = 0; i < n; i++)
		if ((rc = s_send(c, lens[i] ? parts[i] : "", lens[i],
				 i + 1 < n ? ZMQ_SNDMORE : 0)) != 0)
			return rc;
	return DROVER_OK;
}

/* A request of header and queue name alone. */
static int
s_send_head(drover_client *c, uint8_t op, uint32_t req_id, int timeout_ms, uint32_t count,
	    const cqueue_t *q)
{
	return s_send_req(c, op, 0, req_id, timeout_ms, count, q, 0, NULL, NULL);
}

/* ---- acks and nacks not proven read ---- */

static alog_t *
s_alog_at(drover_client *c, size_t i)
{
	return &c->alog[(c->alog_head + i) % c->alog_cap];
}

static void
s_alog_drop(drover_client *c, size_t n)
{
	c->alog_head = (c->alog_head + n) % (c->alog_cap ? c->alog_cap : 1);
	c->alog_len -= n;
}

/* Remembers n acks or nacks just sent. Many of them without a reply since:
   a HELLO, whose reply will show them read. */
static void
s_alog_add(drover_client *c, uint8_t op, cqueue_t *q, const uint64_t *ids, size_t n)
{
	size_t i, k;

	for (i = 0; i < n; i++) {
		if (c->alog_len == ALOG_MAX)
			s_alog_drop(c, 1); /* at worst delivered again, after its lease */
		if (c->alog_len == c->alog_cap) {
			size_t cap = c->alog_cap ? c->alog_cap * 2 : 256;
			alog_t *a = malloc(cap * sizeof(*a));

			if (a == NULL)
				return;
			for (k = 0; k < c->alog_len; k++)
				a[k] = *s_alog_at(c, k);
			free(c->alog);
			c->alog = a;
			c->alog_cap = cap;
			c->alog_head = 0;
		}
		*s_alog_at(c, c->alog_len++) =
		    (alog_t){.after = c->seq, .op = op, .q = q, .lease = ids[i]};
	}
	if (c->alog_len >= ALOG_PROOF && c->marker == 0 && c->resync == 0 && c->connected) {
		uint32_t id = s_req_id(c);

		if (s_send_head(c, WIRE_HELLO, id, 0, 0, NULL) == 0)
			c->marker = id;
	}
}

/* A reply to request id: droverd has read every request sent before it. */
static void
s_prove(drover_client *c, uint32_t id)
{
	uint32_t seq = id & SEQ_MASK;

	if (seq == 0)
		return;
	if (id == c->marker)
		c->marker = 0;
	if (c->proven == 0 || s_older(c->proven, seq))
		c->proven = seq;
	while (c->alog_len > 0 && s_older(s_alog_at(c, 0)->after, c->proven))
		s_alog_drop(c, 1);
}

/* ACK or NACK of n lease ids of q, no reply wanted. */
static int
s_send_leases(drover_client *c, uint8_t op, cqueue_t *q, const uint64_t *ids, size_t n)
{
	uint8_t one[8], *buf = n == 1 ? one : malloc(n * 8);
	const void *parts[1] = {buf};
	size_t i, len = n * 8;
	int rc;

	if (buf == NULL)
		return DROVER_ECONN;
	for (i = 0; i < n; i++)
		wire_put_u64(buf + 8 * i, ids[i]);
	rc = s_send_req(c, op, 0, 0, 0, (uint32_t)n, q, 1, parts, &len);
	if (buf != one)
		free(buf);
	if (rc != 0)
		return rc;
	c->unsynced = true;
	s_alog_add(c, op, q, ids, n);
	return DROVER_OK;
}

/* Gives back the credit of queues with nothing in flight that this client
   has not put into for idle_ms (0: all of them), so that a client that
   stopped putting holds no places. */
static void
s_return_credit(drover_client *c, int64_t idle_ms)
{
	int64_t now = s_now_ms();
	cqueue_t *q;

	for (q = c->queues; q != NULL; q = q->next)
		if (q->credit > 0 && q->inflight == 0 && now - q->last_put_ms >= idle_ms &&
		    s_send_head(c, WIRE_RETURN, 0, 0, q->credit, q) == 0) {
			q->credit = 0;
			c->unsynced = true;
		}
}

/* ---- receiving ---- */

static void s_abandon(drover_client *c, uint32_t req_id, cqueue_t *q);

/* Drops q's prefetched messages: droverd has requeued them. */
static void
s_drop_buf(cqueue_t *q)
{
	drover_msg *m;

	while ((m = s_buf_pop(q)) != NULL)
		s_msg_free(m);
}

/* Drops every prefetched message (close: droverd requeues them). */
static void
s_drop_prefetched(drover_client *c)
{
	cqueue_t *q;

	for (q = c->queues; q != NULL; q = q->next) {
		s_drop_buf(q);
		q->pending = 0;
	}
}

/* The connection dropped (ZeroMQ connects again by itself): a HELLO,
   whose answer says whether droverd kept our session. Meanwhile no put
   goes within credit (droverd frees it with the connection). */
static void
s_resync_start(drover_client *c)
{
	cqueue_t *q;
	uint32_t id = s_req_id(c);

	for (q = c->queues; q != NULL; q = q->next)
		q->credit = 0;
	if (s_send_head(c, WIRE_HELLO, id, 0, 0, NULL) == 0)
		c->resync = id;
}

/* A put or complete that was not applied goes again, without credit (a put
   waits at droverd for room; their replies grant credit anew). */
static void
s_pend_resend(drover_client *c, pend_t *e)
{
	const void *parts[1] = {zmq_msg_data(&e->data)};
	size_t len = zmq_msg_size(&e->data);
	int rc;

	e->id = s_async_id(c);
	e->credited = false;
	e->resent = e->op == WIRE_COMPLETE;
	rc = s_send_req(c, e->op, WIRE_F_REFILL, e->id, e->op == WIRE_PUT ? -1 : 0, 1, e->q, 1,
			parts, &len);
	if (rc != 0) {
		e->id = 0;
		c->n_out--;
		s_fail(c, DROVER_ECONN, 1);
		return;
	}
	e->q->inflight++;
	c->unsynced = true;
}

/* The HELLO after a disconnect is answered: droverd kept our session (its
   leases: prefetched messages stay ours) or not (they went back to their
   queues). Either way every request sent before that HELLO and not
   answered was not applied: puts go again, completes too when the session
   (so their task's lease) is still there, and so do acks and nacks not
   proven read; a call waiting for a reply sends its request again
   (S_RESEND). Credit and standing GETs ended with the connection. */
static void
s_resync_done(drover_client *c, bool resumed)
{
	uint32_t r = c->resync;
	cqueue_t *q;
	size_t i, n, k;
	alog_t *old;

	c->resync = 0;
	c->marker = 0;
	for (q = c->queues; q != NULL; q = q->next) {
		q->credit = q->inflight = 0;
		if (q->pending != 0 && s_older(q->pending, r)) {
			s_abandon(c, q->pending, q); /* a droverd of revision 1 may answer it */
			q->pending = 0;
		}
		if (!resumed)
			s_drop_buf(q);
	}
	for (i = 0; i < c->pend_len; i++) {
		pend_t *e = s_pend_at(c, i);

		if (e->id == 0)
			continue;
		if (!s_older(e->id & SEQ_MASK, r))
			e->q->inflight++; /* sent since: on its way */
		else if (e->op == WIRE_PUT || resumed)
			s_pend_resend(c, e);
		else
			s_pend_clear(c, e); /* its task went back to its queue */
	}
	s_pend_trim(c);
	for (n = 0; n < c->alog_len && s_older(s_alog_at(c, n)->after, r); n++)
		;
	old = resumed && n > 0 ? malloc(n * sizeof(*old)) : NULL;
	for (i = 0; old != NULL && i < n; i++)
		old[i] = *s_alog_at(c, i);
	s_alog_drop(c, n);
	for (i = 0; old != NULL && i < n; i = k) {
		uint64_t ids[256];
		size_t m = 0;

		for (k = i; k < n && m < 256 && old[k].op == old[i].op && old[k].q == old[i].q; k++)
			ids[m++] = old[k].lease;
		s_send_leases(c, old[i].op, old[i].q, ids, m);
	}
	free(old);
	c->proven = r;
	if (c->waiting != 0 && s_older(c->waiting, r))
		c->lost = true;
}

/* Reads pending monitor events: DROVER_EAUTH for a refused handshake,
   DROVER_ECONN for a connection lost before the first HELLO was answered,
   else DROVER_OK (a later loss starts a resync). */
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
			if (!c->connected) {
				if (rc == DROVER_OK)
					rc = DROVER_ECONN;
				break;
			}
			s_resync_start(c);
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

/* A reply to a request given up on: a GET's messages are nacked (they are
   leased to us), credit granted is kept. */
static void
s_stray(drover_client *c, const wire_rep_t *rep, zmq_msg_t *ids, bool get_ok)
{
	unsigned i;
	size_t n;

	for (i = 0; i < c->n_abandoned; i++)
		if (c->abandoned[i].req_id == rep->req_id) {
			n = zmq_msg_size(ids) / 8;
			if (get_ok && n > 0) {
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
			if (rep->status == WIRE_OK && rep->op != WIRE_GET &&
			    c->abandoned[i].q != NULL)
				c->abandoned[i].q->credit += rep->credit;
			c->abandoned[i] = c->abandoned[--c->n_abandoned];
			return;
		}
}

/* One put or complete is answered: status OK or a failure. */
static void
s_pend_answer(drover_client *c, pend_t *e, int16_t status)
{
	if (e->q->inflight > 0)
		e->q->inflight--;
	if (status != WIRE_OK) {
		/* A complete that found no room leaves its task leased: give it
		   back at once, for another try. */
		if (e->op == WIRE_COMPLETE && e->tq != NULL)
			s_send_leases(c, WIRE_NACK, e->tq, &e->lease, 1);
		/* A complete sent again after a reconnect was said to be on its
		   way: its task is done again, as when it is not resent. */
		if (!e->resent)
			s_fail(c, status <= 0 && status >= DROVER_ETIMEOUT ? status : DROVER_EINVAL,
			       1);
	}
	s_pend_clear(c, e);
}

/* The reply to a put or complete sent without waiting. droverd answers the
   credited requests of one pass to one queue with one reply, to the last of
   them: an OK reply (or a failure with count > 1) answers every credited
   request to that queue sent before it too. */
static void
s_async_reply(drover_client *c, const wire_rep_t *rep)
{
	pend_t *e = s_pend_find(c, rep->req_id);
	size_t i;

	if (e == NULL)
		return; /* sent before a disconnect, and resent under another id */
	e->q->credit += rep->credit;
	if (e->credited && (rep->status == WIRE_OK || rep->count > 1))
		for (i = 0; i < c->pend_len; i++) {
			pend_t *o = s_pend_at(c, i);

			if (o == e)
				break;
			if (o->id != 0 && o->credited && o->q == e->q)
				s_pend_answer(c, o, rep->status);
		}
	s_pend_answer(c, e, rep->status);
	s_pend_trim(c);
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

/* The frames of a reply after its header: those ZeroMQ delivers after it,
   or the parts of a packed reply's one frame (revision 3). */
typedef struct {
	drover_client *c;
	zmq_msg_t head; /* the header frame, parts and all */
	int more;	/* frame by frame: more follow */
	bool packed;
	wire_parts_t it;
} rd_t;

/* Starts reading the reply whose first frame is f (taken). */
static void
s_rd_start(rd_t *rd, drover_client *c, zmq_msg_t *f)
{
	rd->c = c;
	rd->more = zmq_msg_more(f);
	rd->packed = zmq_msg_size(f) > WIRE_HDR_LEN;
	zmq_msg_init(&rd->head);
	zmq_msg_move(&rd->head, f);
	if (rd->packed)
		wire_parts_init(&rd->it, zmq_msg_data(&rd->head), zmq_msg_size(&rd->head));
}

static bool
s_rd_more(const rd_t *rd)
{
	return rd->packed ? rd->it.left > 0 : rd->more != 0;
}

/* The next frame into f (which it initializes): 0, or DROVER_ECONN when
   the connection failed under it, DROVER_EINVAL when a packed reply's
   parts do not fill its frame (the rest is dropped). */
static int
s_rd_next(rd_t *rd, zmq_msg_t *f)
{
	const uint8_t *data;
	size_t len;

	if (rd->packed) {
		if (wire_parts_next(&rd->it, &data, &len) != 1 || zmq_msg_init_size(f, len) != 0) {
			rd->it.left = 0;
			zmq_msg_init(f);
			return DROVER_EINVAL;
		}
		if (len)
			memcpy(zmq_msg_data(f), data, len);
		return 0;
	}
	zmq_msg_init(f);
	while (zmq_msg_recv(f, rd->c->sock, 0) < 0) {
		if (errno == EINTR) /* a signal caught: the part is still there */
			continue;
		rd->more = 0;
		return DROVER_ECONN;
	}
	rd->more = zmq_msg_more(f);
	return 0;
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
s_read_prefetch(drover_client *c, cqueue_t *q, reply_t *r, rd_t *rd, bool mine)
{
	zmq_msg_t f, ids;
	size_t idx = 0, nids = 0, bytes = 0;
	bool ok = r->rep.status == WIRE_OK, grow;
	int rc = 0;

	if (!ok && !mine && r->rep.status != WIRE_EEMPTY)
		q->pending_err = r->rep.status;
	/* Everything asked for at once, to a get that had to wait: the queue
	   has plenty and this consumer is faster than a round trip per window:
	   a larger window keeps it busy. */
	grow = ok && c->prefetch_auto && q->starved && r->rep.count > 0 &&
	       r->rep.count >= q->asked - q->received && q->window < PREFETCH_AUTO_MAX;
	if (ok)
		q->starved = false;
	/* A standing GET stays at droverd until all it asked for came. */
	q->received += ok ? r->rep.count : 0;
	if (!ok || q->received >= q->asked)
		q->pending = 0;
	zmq_msg_init(&ids);
	while (s_rd_more(rd)) {
		if ((rc = s_rd_next(rd, &f)) != 0) {
			zmq_msg_close(&f);
			if (rc != DROVER_ECONN)
				rc = 0;
			break;
		}
		if (ok && idx == 0) {
			zmq_msg_move(&ids, &f);
			nids = zmq_msg_size(&ids) / 8;
		} else if (ok && idx - 1 < nids) {
			drover_msg *m;

			bytes += zmq_msg_size(&f);
			m = s_msg_take(&f, &ids, idx - 1, q);
			if (m != NULL && s_buf_push(q, m) != 0)
				s_msg_free(m); /* leased: back after the lease */
		}
		zmq_msg_close(&f);
		idx++;
	}
	zmq_msg_close(&ids);
	if (grow && bytes / r->rep.count * q->window * 2 <= PREFETCH_AUTO_BYTES)
		q->window *= 2;
	r->nfr = 0;
	r->nmsgs = 0;
	return rc != 0 ? rc : mine ? 1 : 0;
}

/* The rest of s_read_one(): the reply whose header rd holds. */
static int
s_read_rest(drover_client *c, uint32_t req_id, cqueue_t *q, reply_t *r, rd_t *rd)
{
	zmq_msg_t f, ids;
	int rc = 0;
	bool mine = false, get_ok = false;
	size_t idx = 0, nids = 0;
	cqueue_t *pq;

	zmq_msg_init(&ids);
	if (wire_rep_decode(zmq_msg_data(&rd->head),
			    rd->packed ? WIRE_HDR_LEN : zmq_msg_size(&rd->head), &r->rep) == 0 &&
	    r->rep.req_id == req_id)
		mine = true;
	get_ok = r->rep.op == WIRE_GET && r->rep.status == WIRE_OK;
	if (r->rep.op == WIRE_HELLO && c->resync != 0 && r->rep.req_id == c->resync) {
		/* [max frame][revision]: the droverd now there may be another */
		for (idx = 0; s_rd_more(rd) && s_rd_next(rd, &f) == 0; idx++) {
			if (idx == 1 && zmq_msg_size(&f) == 4)
				c->pack = wire_get_u32(zmq_msg_data(&f)) >= 3;
			zmq_msg_close(&f);
		}
		if (idx < 2)
			c->pack = false;
		s_resync_done(c, r->rep.status == WIRE_OK && r->rep.count == 1);
		return 0;
	}
	/* Any reply but a HELLO's (one after a reconnect does not count: the
	   requests before it on that connection were dropped) shows what
	   droverd has read. */
	if (r->rep.op != WIRE_HELLO || r->rep.req_id == c->marker)
		s_prove(c, r->rep.req_id);
	if (r->rep.op == WIRE_GET && (pq = s_pending_owner(c, r->rep.req_id)) != NULL)
		return s_read_prefetch(c, pq, r, rd, mine);
	if ((r->rep.op == WIRE_PUT || r->rep.op == WIRE_COMPLETE) &&
	    (r->rep.req_id & ASYNC_BIT) != 0 && !mine)
		s_async_reply(c, &r->rep);
	r->nfr = 0;
	r->nmsgs = 0;
	while (s_rd_more(rd)) {
		if ((rc = s_rd_next(rd, &f)) != 0) {
			zmq_msg_close(&f);
			if (rc != DROVER_ECONN)
				rc = 0;
			break;
		}
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
	if (!mine && (r->rep.req_id & ASYNC_BIT) == 0)
		s_stray(c, &r->rep, &ids, get_ok);
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

/* Reads one whole reply. Returns 1 if it is the one for req_id (filled in
   *r, with GET messages made into drover_msg of q), 0 if it was another
   (dropped), or an error. */
static int
s_read_one(drover_client *c, uint32_t req_id, cqueue_t *q, reply_t *r)
{
	zmq_msg_t f;
	rd_t rd;
	int rc;

	zmq_msg_init(&f);
	if (zmq_msg_recv(&f, c->sock, ZMQ_DONTWAIT) < 0) {
		zmq_msg_close(&f);
		return errno == EAGAIN || errno == EINTR ? 0 : DROVER_ECONN;
	}
	s_rd_start(&rd, c, &f);
	zmq_msg_close(&f);
	rc = s_read_rest(c, req_id, q, r, &rd);
	/* what is left of a reply that ended early */
	while (!rd.packed && rd.more && s_rd_next(&rd, &f) == 0)
		zmq_msg_close(&f);
	zmq_msg_close(&rd.head);
	return rc;
}

enum { W_REPLY, W_FLUSH, W_CREDIT, W_RESYNC };

static int s_wait_loop(drover_client *c, int mode, uint32_t req_id, cqueue_t *q,
		       int64_t deadline_ms, reply_t *r);

/* Whether what s_wait waits for in mode W_FLUSH, W_CREDIT or W_RESYNC is
   there. */
static bool
s_wait_done(drover_client *c, int mode, const cqueue_t *q)
{
	if (mode == W_FLUSH)
		return c->n_out == 0;
	if (mode == W_CREDIT)
		return q->credit > 0 || q->inflight == 0;
	if (mode == W_RESYNC)
		return c->resync == 0;
	return false;
}

/* Reads replies until deadline_ms (-1: none): in mode W_REPLY until the
   one to req_id (returns DROVER_OK with *r filled, r->rep.status being the
   request's outcome), in mode W_FLUSH until every put and complete sent
   without waiting is answered, in mode W_CREDIT until q has credit or
   nothing in flight that could bring some, in mode W_RESYNC until the HELLO
   after a reconnect is answered. A lost connection is waited out (ZeroMQ
   connects again). Returns DROVER_OK, or DROVER_ETIMEOUT, DROVER_EAUTH,
   DROVER_ECONN (a connection lost before the first HELLO was answered), or
   S_RESEND (W_REPLY: the request was not applied, send it again). */
static int
s_wait_mode(drover_client *c, int mode, uint32_t req_id, cqueue_t *q, int64_t deadline_ms,
	    reply_t *r)
{
	int rc;

	if (mode == W_REPLY) {
		c->waiting = req_id & SEQ_MASK;
		c->lost = false;
	}
	rc = s_wait_loop(c, mode, req_id, q, deadline_ms, r);
	c->waiting = 0;
	c->lost = false;
	return rc;
}

static int
s_wait_loop(drover_client *c, int mode, uint32_t req_id, cqueue_t *q, int64_t deadline_ms,
	    reply_t *r)
{
	zmq_pollitem_t items[2] = {{c->sock, 0, ZMQ_POLLIN, 0}, {c->mon, 0, ZMQ_POLLIN, 0}};
	int rc;
	long wait;

	for (;;) {
		while ((rc = s_read_one(c, mode == W_REPLY ? req_id : 0, q, r)) != 0 ||
		       zmq_poll(items, 1, 0) > 0) {
			if (rc == 1) {
				/* Requests are handled in order: all sent before
				   this one have been read by droverd. */
				c->unsynced = false;
				return DROVER_OK;
			}
			if (rc < 0)
				return rc;
			if (mode == W_REPLY && c->lost)
				return S_RESEND;
			if (s_wait_done(c, mode, q))
				return DROVER_OK;
		}
		if (mode == W_REPLY && c->lost)
			return S_RESEND;
		if (s_wait_done(c, mode, q))
			return DROVER_OK;
		rc = s_monitor(c);
		if (rc == DROVER_EAUTH || (rc != DROVER_OK && mode == W_REPLY))
			return rc;
		if (s_wait_done(c, mode, q))
			return DROVER_OK;
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

static int
s_wait(drover_client *c, uint32_t req_id, cqueue_t *q, int64_t deadline_ms, reply_t *r)
{
	return s_wait_mode(c, W_REPLY, req_id, q, deadline_ms, r);
}

/* Waits up to deadline_ms (-1: none) for the end of a resync (s_resync_done),
   if one is under way: requests sent before it are sent again first, so
   that puts keep their order. DROVER_OK, DROVER_ETIMEOUT, DROVER_EAUTH. */
static int
s_await_resync(drover_client *c, int64_t deadline_ms)
{
	reply_t r = {0};
	int rc;

	if ((rc = s_monitor(c)) == DROVER_EAUTH)
		return rc;
	if (c->resync == 0)
		return DROVER_OK;
	return s_wait_mode(c, W_RESYNC, 0, NULL, deadline_ms, &r);
}

/* Reads the replies and monitor events that are there, without waiting:
   confirmations, credit, pushed messages, a lost connection. DROVER_EAUTH
   or DROVER_OK. */
static int
s_poll_replies(drover_client *c)
{
	reply_t r = {0};
	int rc;

	while ((rc = s_read_one(c, 0, NULL, &r)) != 0)
		if (rc < 0)
			break;
	return s_monitor(c) == DROVER_EAUTH ? DROVER_EAUTH : DROVER_OK;
}

/* Whether a put or complete into q reads the replies that came first.
   Not on every call: a read that finds nothing costs libzmq a poll(2) and a
   getpid(2) on the socket and again on its monitor, more than the rest of a
   put. Every 64th call does, and any call that finds q's credit used up
   (replies bring credit); a failure is reported by the first call after it
   was read, a dropped connection noticed within 64 calls (the requests
   sent meanwhile go again after its HELLO, as every unanswered one does). */
static bool
s_poll_due(drover_client *c, const cqueue_t *q)
{
	return (++c->tick & 63) == 0 || q->credit == 0;
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
	c->prefetch = DEFAULT_PREFETCH;
	c->prefetch_auto = true;
	if ((c->sock = zmq_socket(ctx, ZMQ_DEALER)) == NULL)
		goto fail;
	/* The session id: droverd keeps our leases under it across a new
	   connection. Not 0 first: those are the ids the ROUTER makes up. */
	if (getrandom(c->sid, sizeof(c->sid), 0) != (ssize_t)sizeof(c->sid))
		goto fail;
	if (c->sid[0] == 0)
		c->sid[0] = 1;
	if (zmq_setsockopt(c->sock, ZMQ_ROUTING_ID, c->sid, sizeof(c->sid)) != 0)
		goto fail;
	s_setopt(c->sock, ZMQ_LINGER, 2000);
	/* A window of puts, acks and completes can be in the pipe at once,
	   also while ZeroMQ reconnects: never block on ZeroMQ's queue. */
	s_setopt(c->sock, ZMQ_SNDHWM, 1000000);
	s_setopt(c->sock, ZMQ_RCVHWM, 1000000);
	s_setopt(c->sock, ZMQ_RECONNECT_IVL, 100);
	s_setopt(c->sock, ZMQ_RECONNECT_IVL_MAX, 2000);
	s_setopt(c->sock, ZMQ_HEARTBEAT_IVL, TIMING_QUEUE_HEARTBEAT_MS);
	s_setopt(c->sock, ZMQ_HEARTBEAT_TIMEOUT, TIMING_QUEUE_HEARTBEAT_TIMEOUT_MS);
	/* An IPv6 address (tcp://[::1]:9172) needs ZeroMQ's IPv6 on; only then,
	   so that a host name still resolves to its IPv4 address as before. */
	if (strncmp(endpoint, "tcp://[", 7) == 0)
		s_setopt(c->sock, ZMQ_IPV6, 1);
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
	if (s_send_head(c, WIRE_HELLO, id, 0, 0, NULL) != 0)
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
	/* revision 3 reads packed requests */
	c->pack = r.nfr >= 2 && zmq_msg_size(&r.fr[1]) == 4 && wire_get_u32(zmq_msg_data(&r.fr[1])) >= 3;
	s_reply_clear(&r);
	c->connected = true;
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
	size_t i;

	if (c == NULL)
		return;
	if (c->sock != NULL && c->n_out > 0)
		drover_flush(c, CLOSE_FLUSH_MS);
	if (c->unsynced && c->sock != NULL) {
		/* Acks are sent by ZeroMQ's thread, which dies with the
		   process: one round trip makes sure droverd has them before
		   we go. */
		reply_t r = {0};
		int64_t deadline = s_now_ms() + REPLY_GRACE_MS;
		int rc = S_RESEND;

		while (rc == S_RESEND) {
			uint32_t id = s_req_id(c);

			if (s_send_head(c, WIRE_HELLO, id, 0, 0, NULL) != 0)
				break;
			if ((rc = s_wait(c, id, NULL, deadline, &r)) == DROVER_OK)
				s_reply_clear(&r);
		}
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
	for (i = 0; i < c->pend_len; i++)
		zmq_msg_close(&s_pend_at(c, i)->data);
	free(c->pend);
	free(c->alog);
	free(c);
}

/* ---- put ---- */

static bool
s_name_ok(const char *queue)
{
	return queue != NULL && wire_queue_name_ok(queue, strlen(queue));
}

/* One PUT of n messages, waited for; *done = how many went in. With
   WIRE_F_REFILL in flags the reply's credit is q's. */
/* The server-side wait left of a request that must be answered by end_ms
   (-1: none), for a request sent again. */
static int
s_left_ms(int64_t end_ms)
{
	int64_t left;

	if (end_ms < 0)
		return -1;
	left = end_ms - s_now_ms();
	return left <= 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
}

static int
s_put_flags(drover_client *c, cqueue_t *q, const void *const *data, const size_t *sizes, size_t n,
	    int timeout_ms, size_t *done, uint16_t flags)
{
	reply_t r = {0};
	int64_t end = timeout_ms < 0 ? -1 : s_now_ms() + timeout_ms, deadline = s_deadline(timeout_ms);
	uint32_t id;
	size_t i;
	int rc;

	*done = 0;
	for (i = 0; i < n; i++)
		if (c->max_frame > 0 && sizes[i] > c->max_frame)
			return DROVER_ETOOBIG;
	if ((rc = s_await_resync(c, deadline)) == DROVER_EAUTH)
		return rc;
	for (int ms = timeout_ms;; ms = s_left_ms(end)) { /* again if it was not applied */
		id = s_req_id(c);
		if ((rc = s_send_req(c, WIRE_PUT, flags, id, ms, (uint32_t)n, q, n, data, sizes)) !=
		    0)
			return rc;
		if ((rc = s_wait(c, id, q, deadline, &r)) != S_RESEND)
			break;
		s_abandon(c, id, q); /* a droverd of revision 1 may answer it still */
	}
	if (rc != DROVER_OK) {
		if (rc == DROVER_ETIMEOUT)
			s_abandon(c, id, q);
		return rc;
	}
	q->credit += r.rep.credit;
	if (r.rep.status == WIRE_OK && r.nfr > 0 && zmq_msg_size(&r.fr[0]) == 8)
		q->max_message = wire_get_u64(zmq_msg_data(&r.fr[0]));
	*done = r.rep.count <= n ? r.rep.count : n;
	rc = s_status(&r);
	s_reply_clear(&r);
	return rc;
}

static int
s_put(drover_client *c, cqueue_t *q, const void *const *data, const size_t *sizes, size_t n,
      int timeout_ms, size_t *done)
{
	return s_put_flags(c, q, data, sizes, n, timeout_ms, done, 0);
}

/* Waits until q has credit, for at most until deadline_ms (-1: forever):
   first for the replies in flight, which bring credit back, then with a
   CREDIT request that waits at droverd for room (in line with waiting
   puts). DROVER_OK with q->credit > 0, DROVER_EFULL, or another error. */
static int
s_get_credit(drover_client *c, cqueue_t *q, int64_t deadline_ms)
{
	reply_t r = {0};
	uint32_t id;
	int rc, ms;
	int64_t wait_until;

	if (q->credit == 0 && q->inflight > 0) {
		rc = s_wait_mode(c, W_CREDIT, 0, q, deadline_ms, &r);
		if (rc == DROVER_EAUTH)
			return rc;
	}
	if (q->credit > 0)
		return DROVER_OK;
	ms = s_left_ms(deadline_ms);
	wait_until = s_deadline(ms);
	for (;; ms = s_left_ms(deadline_ms)) { /* again if it was not applied */
		id = s_req_id(c);
		if ((rc = s_send_head(c, WIRE_CREDIT, id, ms, CREDIT_WANT, q)) != 0)
			return rc;
		if ((rc = s_wait(c, id, q, wait_until, &r)) != S_RESEND)
			break;
		s_abandon(c, id, q); /* a droverd of revision 1 may answer it still */
	}
	if (rc != DROVER_OK) {
		if (rc == DROVER_ETIMEOUT)
			s_abandon(c, id, q);
		return rc;
	}
	rc = s_status(&r);
	if (rc == DROVER_OK)
		q->credit += r.rep.credit;
	if (rc == DROVER_OK && r.nfr > 0 && zmq_msg_size(&r.fr[0]) == 8)
		q->max_message = wire_get_u64(zmq_msg_data(&r.fr[0]));
	s_reply_clear(&r);
	return rc == DROVER_OK && q->credit == 0 ? DROVER_EFULL : rc;
}

/* Sends a PUT (tq NULL) or a COMPLETE of task (tq, lease) within q's
   credit, without waiting; its reply is read later. */
static int
s_send_credited(drover_client *c, cqueue_t *q, const void *data, size_t size, cqueue_t *tq,
		uint64_t lease)
{
	pend_t *e;
	int rc;

	if ((e = s_pend_add(c)) == NULL)
		return DROVER_EINVAL;
	e->id = s_async_id(c);
	e->credited = true;
	e->op = tq != NULL ? WIRE_COMPLETE : WIRE_PUT;
	e->q = q;
	e->tq = tq;
	e->lease = lease;
	if (tq == NULL) {
		zmq_msg_close(&e->data);
		zmq_msg_init_size(&e->data, size);
		if (size)
			memcpy(zmq_msg_data(&e->data), data, size);
	}
	if (tq != NULL) {
		/* one frame: the lease id, the task's queue, the result; kept
		   to send again after a reconnect */
		uint8_t *f;

		zmq_msg_close(&e->data);
		if (zmq_msg_init_size(&e->data, 9 + tq->len + size) != 0) {
			zmq_msg_init(&e->data);
			s_pend_done(c, e);
			return DROVER_ECONN;
		}
		f = zmq_msg_data(&e->data);
		wire_put_u64(f, lease);
		f[8] = (uint8_t)tq->len;
		memcpy(f + 9, tq->name, tq->len);
		if (size)
			memcpy(f + 9 + tq->len, data, size);
		data = f;
		size = zmq_msg_size(&e->data);
	}
	rc = s_send_req(c, e->op, WIRE_F_CREDITED | WIRE_F_REFILL, e->id, 0, 1, q, 1, &data, &size);
	if (rc != 0) {
		s_pend_done(c, e);
		return rc;
	}
	q->credit--;
	q->inflight++;
	q->last_put_ms = s_now_ms();
	c->unsynced = true;
	return DROVER_OK;
}

static pend_t *
s_pend_waited(drover_client *c)
{
	size_t i;

	for (i = 0; i < c->pend_len; i++)
		if (s_pend_at(c, i)->id != 0 && s_pend_at(c, i)->waited)
			return s_pend_at(c, i);
	return NULL;
}

/* A put without credit: sent with REFILL and waited for, up to timeout_ms
   at droverd plus the margin. Kept like the puts within credit until its
   answer, so that a dropped connection sends it again and the wait goes on
   (its answer then comes under another id). */
static int
s_put_waited(drover_client *c, cqueue_t *q, const void *data, size_t size, int timeout_ms)
{
	int64_t deadline = s_deadline(timeout_ms);
	reply_t r = {0};
	pend_t *e;
	int rc;

	if ((e = s_pend_add(c)) == NULL)
		return DROVER_EINVAL;
	e->id = s_async_id(c);
	e->op = WIRE_PUT;
	e->q = q;
	e->waited = true;
	zmq_msg_close(&e->data);
	zmq_msg_init_size(&e->data, size);
	if (size)
		memcpy(zmq_msg_data(&e->data), data, size);
	if ((rc = s_send_req(c, WIRE_PUT, WIRE_F_REFILL, e->id, timeout_ms, 1, q, 1, &data,
			     &size)) != 0) {
		s_pend_done(c, e);
		return rc;
	}
	q->inflight++;
	c->unsynced = true;
	for (;;) {
		if ((e = s_pend_waited(c)) == NULL)
			return DROVER_ECONN; /* cannot happen: it is only answered here */
		rc = s_wait(c, e->id, q, deadline, &r);
		if (rc == S_RESEND)
			continue; /* sent again (s_resync_done): wait for the new answer */
		break;
	}
	if ((e = s_pend_waited(c)) == NULL)
		return DROVER_ECONN;
	if (rc != DROVER_OK) {
		e->waited = false; /* answered later like the others; flush reports it */
		return rc;
	}
	if (q->inflight > 0)
		q->inflight--;
	q->credit += r.rep.credit;
	if (r.rep.status == WIRE_OK && r.nfr > 0 && zmq_msg_size(&r.fr[0]) == 8)
		q->max_message = wire_get_u64(zmq_msg_data(&r.fr[0]));
	rc = s_status(&r);
	s_reply_clear(&r);
	s_pend_done(c, e);
	return rc;
}

int
drover_put(drover_client *c, const char *queue, const void *data, size_t size, int timeout_ms)
{
	cqueue_t *q;
	int64_t deadline;
	int rc;

	if (c == NULL || !s_name_ok(queue) || (data == NULL && size > 0) || timeout_ms < -1 ||
	    (q = s_queue(c, queue)) == NULL)
		return DROVER_EINVAL;
	if ((c->max_frame > 0 && size > c->max_frame) ||
	    (q->max_message > 0 && size > q->max_message))
		return DROVER_ETOOBIG;
	if ((s_poll_due(c, q) && (rc = s_poll_replies(c)) != DROVER_OK) ||
	    (rc = s_take_err(c)) != DROVER_OK)
		return rc;
	/* After a reconnect, the puts not applied go first (order); if that
	   takes longer than this put may wait, it goes after them anyway. */
	if (c->resync != 0 &&
	    (rc = s_await_resync(c, s_deadline(timeout_ms))) == DROVER_EAUTH)
		return rc;
	if (q->credit == 0 && q->inflight > 0) {
		reply_t r = {0};

		deadline = timeout_ms < 0 ? -1 : s_now_ms() + timeout_ms;
		if ((rc = s_wait_mode(c, W_CREDIT, 0, q, deadline, &r)) == DROVER_EAUTH)
			return rc;
		if (timeout_ms >= 0) {
			int64_t left = deadline - s_now_ms();

			timeout_ms = left > 0 ? (int)left : 0;
		}
	}
	if (q->credit > 0)
		return s_send_credited(c, q, data, size, NULL, 0);
	/* No credit: the put waits for its answer, which grants some. */
	q->last_put_ms = s_now_ms();
	return s_put_waited(c, q, data, size, timeout_ms);
}

int
drover_complete(drover_client *c, drover_msg *m, const char *queue, const void *data, size_t size,
		int timeout_ms)
{
	cqueue_t *q;
	int rc;

	if (m == NULL)
		return DROVER_EINVAL;
	if (c == NULL || !s_name_ok(queue) || (data == NULL && size > 0) || timeout_ms < -1 ||
	    (q = s_queue(c, queue)) == NULL) {
		rc = DROVER_EINVAL;
		goto fail;
	}
	if ((c->max_frame > 0 && size > c->max_frame) ||
	    (q->max_message > 0 && size > q->max_message)) {
		rc = DROVER_ETOOBIG;
		goto fail;
	}
	if (s_poll_due(c, q) && (rc = s_poll_replies(c)) != DROVER_OK)
		goto fail;
	if (c->resync != 0 &&
	    (rc = s_await_resync(c, s_deadline(timeout_ms))) == DROVER_EAUTH)
		goto fail;
	if (q->credit == 0 &&
	    (rc = s_get_credit(c, q, timeout_ms < 0 ? -1 : s_now_ms() + timeout_ms)) != DROVER_OK)
		goto fail;
	if (q->max_message > 0 && size > q->max_message) { /* known since the grant */
		rc = DROVER_ETOOBIG;
		goto fail;
	}
	if ((rc = s_send_credited(c, q, data, size, m->q, m->lease)) != DROVER_OK)
		goto fail;
	s_msg_free(m);
	return DROVER_OK;
fail:
	/* The task goes back to its queue for another try. */
	if (c != NULL && rc != DROVER_ECONN && rc != DROVER_EAUTH)
		s_send_leases(c, WIRE_NACK, m->q, &m->lease, 1);
	s_msg_free(m);
	return rc;
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
	if ((rc = s_poll_replies(c)) == DROVER_EAUTH)
		return rc;
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
	return drover_put(c, queue, data, size, -1);
}

int
drover_flush(drover_client *c, int timeout_ms)
{
	reply_t r = {0};
	int rc, err;

	if (c == NULL || timeout_ms < -1)
		return DROVER_EINVAL;
	c->undelivered = 0;
	if ((rc = s_poll_replies(c)) == DROVER_EAUTH)
		return rc;
	if (c->n_out > 0)
		rc = s_wait_mode(c, W_FLUSH, 0, NULL, timeout_ms < 0 ? -1 : s_now_ms() + timeout_ms,
				 &r);
	if (rc == DROVER_OK)
		s_return_credit(c, IDLE_CREDIT_MS);
	err = s_take_err(c);
	if (rc == DROVER_ETIMEOUT && err == DROVER_OK) {
		c->undelivered = c->n_out;
		return rc;
	}
	if (rc == DROVER_ETIMEOUT)
		c->undelivered += c->n_out;
	return err != DROVER_OK ? err : rc;
}

size_t
drover_undelivered(const drover_client *c)
{
	return c != NULL ? c->undelivered : 0;
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
/* Waits for a GET's answer (s_wait); once it has waited GET_IDLE_MS this
   client is not putting, and its credit goes back, as for a standing GET. */
static int
s_wait_get(drover_client *c, uint32_t id, cqueue_t *q, int64_t deadline, reply_t *r)
{
	int64_t idle = s_now_ms() + GET_IDLE_MS;
	int rc;

	if (deadline >= 0 && deadline <= idle)
		return s_wait(c, id, q, deadline, r);
	if ((rc = s_wait(c, id, q, idle, r)) != DROVER_ETIMEOUT)
		return rc;
	s_return_credit(c, 0);
	return s_wait(c, id, q, deadline, r);
}

static int
s_get(drover_client *c, cqueue_t *q, size_t max, int timeout_ms, drover_msg **out, size_t *n)
{
	reply_t r = {0};
	int64_t end = timeout_ms < 0 ? -1 : s_now_ms() + timeout_ms, deadline = s_deadline(timeout_ms);
	uint32_t id;
	int rc;

	*n = 0;
	if (max > WIRE_MAX_COUNT)
		max = WIRE_MAX_COUNT;
	if ((rc = s_monitor(c)) == DROVER_EAUTH)
		return rc;
	if (c->resync != 0) { /* what is left after the wait is the GET's */
		if ((rc = s_await_resync(c, deadline)) == DROVER_EAUTH)
			return rc;
		if (rc == DROVER_ETIMEOUT)
			return DROVER_EEMPTY; /* droverd is not back yet */
		timeout_ms = s_left_ms(end);
	}
	r.msgs = out;
	for (int ms = timeout_ms;; ms = s_left_ms(end)) { /* again if it was not applied */
		id = s_req_id(c);
		if ((rc = s_send_head(c, WIRE_GET, id, ms, (uint32_t)max, q)) != 0)
			return rc;
		if ((rc = s_wait_get(c, id, q, deadline, &r)) != S_RESEND)
			break;
		s_abandon(c, id, q); /* a droverd of revision 1 may answer it still */
	}
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
static unsigned
s_window(const drover_client *c, const cqueue_t *q)
{
	return c->prefetch_auto && q->window > 0 ? q->window : c->prefetch;
}

static void
s_rearm(drover_client *c, cqueue_t *q)
{
	unsigned w = s_window(c, q);
	uint32_t id;

	if (w <= 1 || q->pending != 0 || q->n > w / 2)
		return;
	id = s_req_id(c);
	if (s_send_req(c, WIRE_GET, WIRE_F_STANDING, id, -1, (uint32_t)(w - q->n), q, 0, NULL,
		       NULL) == 0) {
		q->pending = id;
		q->asked = (uint32_t)(w - q->n);
		q->received = 0;
	}
}

static drover_msg *
s_get_prefetched(drover_client *c, cqueue_t *q, int timeout_ms, int *rc)
{
	reply_t r = {0};
	drover_msg *m;
	int64_t deadline;
	int err;

	if ((m = s_buf_pop(q)) == NULL) {
		if (q->pending_err != 0) {
			*rc = q->pending_err;
			q->pending_err = 0;
			return NULL;
		}
		deadline = timeout_ms < 0 ? -1 : s_now_ms() + timeout_ms;
		if ((err = s_monitor(c)) == DROVER_EAUTH) {
			*rc = err;
			return NULL;
		}
		/* After a reconnect: whether the session (the standing GET's
		   messages) is still ours comes first; waited for as a reply is. */
		if (c->resync != 0) {
			if ((err = s_await_resync(c, s_deadline(timeout_ms))) != DROVER_OK) {
				*rc = err == DROVER_ETIMEOUT ? DROVER_EEMPTY : err;
				return NULL;
			}
			if ((m = s_buf_pop(q)) != NULL) {
				s_rearm(c, q);
				*rc = DROVER_OK;
				return m;
			}
			timeout_ms = s_left_ms(deadline);
		}
		if (q->pending == 0) {
			/* Nothing outstanding: an ordinary GET, so that a
			   timeout of 0 still takes what is there. */
			drover_msg **got = malloc(s_window(c, q) * sizeof(*got));
			size_t n = 0, i;

			if (got == NULL) {
				*rc = DROVER_EINVAL;
				return NULL;
			}
			err = s_get(c, q, s_window(c, q), timeout_ms, got, &n);
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
		q->starved = true;
		for (bool idle = false;;) {
			int64_t until = deadline;

			/* Waiting a while for messages: this client is not
			   putting, its credit goes back. */
			if (!idle && (until < 0 || until > s_now_ms() + GET_IDLE_MS))
				until = s_now_ms() + GET_IDLE_MS;
			err = s_wait(c, q->pending, q, until, &r);
			if (err == DROVER_ETIMEOUT && !idle && until != deadline) {
				idle = true;
				s_return_credit(c, 0);
				continue;
			}
			if (err == DROVER_OK && r.rep.status != WIRE_OK)
				err = s_status(&r);
			s_reply_clear(&r);
			/* The connection dropped and the standing GET ended with
			   it: ask again and wait on till the deadline. */
			if (err != S_RESEND || q->n > 0)
				break;
			err = DROVER_OK;
			s_rearm(c, q);
			if (q->pending == 0)
				break;
		}
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
	if (c->err != DROVER_OK) { /* a put or complete that failed meanwhile */
		*rc = s_take_err(c);
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
	if (c->err != DROVER_OK)
		return s_take_err(c);
	while (got < max && q->n > 0)
		msgs[got++] = s_buf_pop(q);
	/* A batch is the caller's: a GET of max, unless a standing GET is
	   there already (it would be served first). */
	if (got == 0 && c->prefetch > 1 && q->pending != 0) {
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
	size_t i, k, done = 0, per = WIRE_MAX_COUNT;
	int rc = DROVER_OK, r;

	if (c == NULL || (n > 0 && msgs == NULL))
		return DROVER_EINVAL;
	if (n == 0)
		return DROVER_OK;
	/* At most what one request and the server's frame limit allow (an
	   older droverd advertised less than a frame of 65536 ids). */
	if (c->max_frame > 0 && c->max_frame / 8 < per)
		per = (size_t)(c->max_frame / 8);
	if ((ids = malloc((n < per ? n : per) * sizeof(*ids))) == NULL)
		return DROVER_EINVAL;
	/* One message per run of messages of the same queue. */
	while (done < n) {
		cqueue_t *q = msgs[done] ? msgs[done]->q : NULL;

		for (k = 0;
		     done + k < n && k < per && msgs[done + k] != NULL && msgs[done + k]->q == q;
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
	int64_t deadline;
	int rc;

	if (c == NULL || st == NULL || !s_name_ok(queue) || (q = s_queue(c, queue)) == NULL)
		return DROVER_EINVAL;
	deadline = s_deadline(0);
	/* after a reconnect, once the acks and puts sent before are in again */
	if ((rc = s_await_resync(c, deadline)) == DROVER_EAUTH)
		return rc;
	do {
		id = s_req_id(c);
		if ((rc = s_send_head(c, WIRE_STATS, id, 0, 0, q)) != 0)
			return rc;
		rc = s_wait(c, id, q, deadline, &r);
		if (rc == S_RESEND) /* a droverd of revision 1 may answer it still */
			s_abandon(c, id, q);
	} while (rc == S_RESEND);
	if (rc != DROVER_OK)
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
	c->prefetch_auto = false;
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
