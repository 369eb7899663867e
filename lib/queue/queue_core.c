/* queue_core: the queues themselves. FIFO rings of ready messages, leases
   (one per delivered message, by id), the waiting GETs and PUTs of each
   queue served first come first served, and one min-heap of deadlines for
   both. Everything here runs in the queue host's thread. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "queue_internal.h"

/* ---- messages and rings ---- */

qmsg_t *
qh__msg_new(const void *data, size_t len)
{
	qmsg_t *m = malloc(sizeof(*m) + len);

	if (m == NULL)
		return NULL;
	m->id = 0;
	m->len = len;
	if (len)
		memcpy(m->data, data, len);
	return m;
}

static int
s_ring_grow(qring_t *r)
{
	size_t cap = r->cap ? r->cap * 2 : 16, i;
	qmsg_t **buf = malloc(cap * sizeof(*buf));

	if (buf == NULL)
		return -ENOMEM;
	for (i = 0; i < r->len; i++)
		buf[i] = r->buf[(r->head + i) & (r->cap - 1)];
	free(r->buf);
	r->buf = buf;
	r->cap = cap;
	r->head = 0;
	return 0;
}

int
qh__ring_push_back(qring_t *r, qmsg_t *m)
{
	if (r->len == r->cap && s_ring_grow(r) != 0)
		return -ENOMEM;
	r->buf[(r->head + r->len) & (r->cap - 1)] = m;
	r->len++;
	return 0;
}

int
qh__ring_push_front(qring_t *r, qmsg_t *m)
{
	if (r->len == r->cap && s_ring_grow(r) != 0)
		return -ENOMEM;
	r->head = (r->head + r->cap - 1) & (r->cap - 1);
	r->buf[r->head] = m;
	r->len++;
	return 0;
}

qmsg_t *
qh__ring_pop_front(qring_t *r)
{
	qmsg_t *m;

	if (r->len == 0)
		return NULL;
	m = r->buf[r->head];
	r->head = (r->head + 1) & (r->cap - 1);
	r->len--;
	return m;
}

/* ---- the deadline heap ---- */

static bool
s_before(const dl_t *a, const dl_t *b)
{
	return a->at_ms < b->at_ms || (a->at_ms == b->at_ms && a->seq < b->seq);
}

static void
s_heap_set(qh_t *h, size_t i, dl_t *d)
{
	h->heap[i] = d;
	d->idx = i;
}

static void
s_heap_up(qh_t *h, size_t i)
{
	dl_t *d = h->heap[i];

	while (i > 0 && s_before(d, h->heap[(i - 1) / 2])) {
		s_heap_set(h, i, h->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	s_heap_set(h, i, d);
}

static void
s_heap_down(qh_t *h, size_t i)
{
	dl_t *d = h->heap[i];
	size_t c;

	for (;;) {
		c = 2 * i + 1;
		if (c >= h->heap_len)
			break;
		if (c + 1 < h->heap_len && s_before(h->heap[c + 1], h->heap[c]))
			c++;
		if (!s_before(h->heap[c], d))
			break;
		s_heap_set(h, i, h->heap[c]);
		i = c;
	}
	s_heap_set(h, i, d);
}

void
qh__heap_push(qh_t *h, dl_t *d)
{
	if (h->heap_len == h->heap_cap) {
		size_t cap = h->heap_cap ? h->heap_cap * 2 : 64;
		dl_t **heap = realloc(h->heap, cap * sizeof(*heap));

		if (heap == NULL) {
			/* Without a deadline the lease lasts until ack or
			   disconnect; better than losing the message. */
			log_error("queues: out of memory for a deadline");
			d->idx = SIZE_MAX;
			return;
		}
		h->heap = heap;
		h->heap_cap = cap;
	}
	d->seq = ++h->seq;
	s_heap_set(h, h->heap_len++, d);
	s_heap_up(h, d->idx);
}

void
qh__heap_remove(qh_t *h, dl_t *d)
{
	size_t i = d->idx;
	dl_t *last;

	if (i == SIZE_MAX)
		return;
	d->idx = SIZE_MAX;
	last = h->heap[--h->heap_len];
	if (last == d)
		return;
	s_heap_set(h, i, last);
	if (i > 0 && s_before(last, h->heap[(i - 1) / 2]))
		s_heap_up(h, i);
	else
		s_heap_down(h, i);
}

/* ---- queues ---- */

queue_t *
qh__queue_new(const conf_queue_t *cq)
{
	queue_t *q = calloc(1, sizeof(*q));

	if (q == NULL || (q->name = strdup(cq->name)) == NULL) {
		free(q);
		return NULL;
	}
	q->name_len = strlen(q->name);
	q->capacity = cq->capacity;
	q->lease_ms = cq->lease_ms;
	q->max_message = cq->max_message;
	q->durable = cq->durable;
	q->store_id = -1;
	return q;
}

queue_t *
qh__queue_find(qh_t *h, const void *name, size_t len)
{
	size_t i;

	for (i = 0; i < h->n_queues; i++)
		if (h->queues[i]->name_len == len && memcmp(h->queues[i]->name, name, len) == 0)
			return h->queues[i];
	return NULL;
}

void
qh__mark_dirty(qh_t *h, queue_t *q)
{
	if (q->dirty)
		return;
	q->dirty = true;
	q->dnext = h->dirty;
	h->dirty = q;
}

/* ---- leases ---- */

static lease_t *
s_lease_new(qh_t *h)
{
	lease_t *l;
	uint32_t slot;
	size_t i, n;

	if (h->n_free == 0) {
		n = h->n_slots ? h->n_slots * 2 : 256;
		if (n > UINT32_MAX)
			return NULL;
		lease_t **slots = realloc(h->slots, n * sizeof(*slots));
		if (slots == NULL)
			return NULL;
		h->slots = slots;
		uint32_t *gens = realloc(h->gens, n * sizeof(*gens));
		if (gens == NULL)
			return NULL;
		h->gens = gens;
		uint32_t *fr = realloc(h->free_slots, n * sizeof(*fr));
		if (fr == NULL)
			return NULL;
		h->free_slots = fr;
		for (i = n; i > h->n_slots; i--) {
			h->slots[i - 1] = NULL;
			h->gens[i - 1] = 0;
			h->free_slots[h->n_free++] = (uint32_t)(i - 1);
		}
		h->n_slots = n;
	}
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	slot = h->free_slots[--h->n_free];
	if (++h->gens[slot] == 0)
		h->gens[slot] = 1;
	l->slot = slot;
	l->id = (uint64_t)h->gens[slot] << 32 | slot;
	l->dl.kind = DL_LEASE;
	l->dl.idx = SIZE_MAX;
	h->slots[slot] = l;
	return l;
}

static lease_t *
s_lease_find(qh_t *h, uint64_t id)
{
	uint32_t slot = (uint32_t)id;

	if (slot >= h->n_slots || h->slots[slot] == NULL || h->gens[slot] != (uint32_t)(id >> 32))
		return NULL;
	return h->slots[slot];
}

/* Unlinks and frees a lease (not its message). */
static void
s_lease_release(qh_t *h, lease_t *l)
{
	peer_t *p = l->peer;

	if (l->prev)
		l->prev->next = l->next;
	else
		p->lhead = l->next;
	if (l->next)
		l->next->prev = l->prev;
	else
		p->ltail = l->prev;
	qh__heap_remove(h, &l->dl);
	h->slots[l->slot] = NULL;
	h->free_slots[h->n_free++] = l->slot;
	l->q->in_flight--;
	free(l);
}

/* The message goes back to the head of its queue. */
static void
s_lease_requeue(qh_t *h, lease_t *l)
{
	queue_t *q = l->q;

	if (qh__ring_push_front(&q->ready, l->msg) != 0) {
		log_error("queues: %s: out of memory, a message is lost", q->name);
		free(l->msg);
	}
	q->requeued_total++;
	qh__mark_dirty(h, q);
	s_lease_release(h, l);
}

static void
s_lease_ack(qh_t *h, lease_t *l)
{
	queue_t *q = l->q;

	if (q->durable && h->store != NULL && l->msg->id > 0 &&
	    store_delete(h->store, l->msg->id) != 0)
		log_error("queues: %s: durable store: %s", q->name, store_error(h->store));
	q->acked_total++;
	free(l->msg);
	s_lease_release(h, l);
}

/* ---- peers ---- */

static uint64_t
s_hash(const uint8_t *p, size_t len)
{
	uint64_t x = 1469598103934665603ULL;

	while (len--)
		x = (x ^ *p++) * 1099511628211ULL;
	return x;
}

peer_t *
qh__peer_find(qh_t *h, const uint8_t *rid, size_t len)
{
	uint64_t hash;
	peer_t *p;

	if (h->n_buckets == 0)
		return NULL;
	hash = s_hash(rid, len);
	for (p = h->buckets[hash & (h->n_buckets - 1)]; p != NULL; p = p->hnext)
		if (p->hash == hash && p->rid_len == len && memcmp(p->rid, rid, len) == 0)
			return p;
	return NULL;
}

static int
s_rehash(qh_t *h)
{
	size_t n = h->n_buckets ? h->n_buckets * 2 : 64, i;
	peer_t **b = calloc(n, sizeof(*b)), *p, *next;

	if (b == NULL)
		return -ENOMEM;
	for (i = 0; i < h->n_buckets; i++)
		for (p = h->buckets[i]; p != NULL; p = next) {
			next = p->hnext;
			p->hnext = b[p->hash & (n - 1)];
			b[p->hash & (n - 1)] = p;
		}
	free(h->buckets);
	h->buckets = b;
	h->n_buckets = n;
	return 0;
}

peer_t *
qh__peer_get(qh_t *h, const uint8_t *rid, size_t len, int fd)
{
	peer_t *p = qh__peer_find(h, rid, len);

	if (p != NULL)
		return p;
	if (len > sizeof(p->rid) || (h->n_peers >= h->n_buckets && s_rehash(h) != 0) ||
	    (p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	memcpy(p->rid, rid, len);
	p->rid_len = len;
	p->hash = s_hash(rid, len);
	p->hnext = h->buckets[p->hash & (h->n_buckets - 1)];
	h->buckets[p->hash & (h->n_buckets - 1)] = p;
	h->n_peers++;
	p->fd = -1;
	p->session = qh__session_rid(rid, len);
	p->hello_fd = -1;
	p->gone_dl.kind = DL_SESSION;
	p->gone_dl.idx = SIZE_MAX;
	qh__peer_attach(h, p, fd);
	return p;
}

/* Takes p off the list of its connection's peers. */
static void
s_peer_unlink_conn(qh_t *h, peer_t *p)
{
	peer_t **pp;

	if (p->fd >= 0 && (size_t)p->fd < h->n_conns)
		for (pp = &h->conns[p->fd].peers; *pp != NULL; pp = &(*pp)->fnext)
			if (*pp == p) {
				*pp = p->fnext;
				break;
			}
	p->fnext = NULL;
	p->fd = -1;
}

void
qh__peer_attach(qh_t *h, peer_t *p, int fd)
{
	conn_t *c;

	s_peer_unlink_conn(h, p);
	if (fd >= 0 && (c = qh__conn(h, fd)) != NULL) {
		p->fd = fd;
		p->fnext = c->peers;
		c->peers = p;
	}
}

void
qh__peer_detach(qh_t *h, peer_t *p, int64_t give_up_at)
{
	s_peer_unlink_conn(h, p);
	if (p->closing) {
		p->closing = false;
		h->n_closing--;
	}
	p->detached = true;
	p->hello_fd = -1;
	qh__heap_remove(h, &p->gone_dl);
	if (give_up_at > 0) {
		p->gone_dl.at_ms = give_up_at;
		qh__heap_push(h, &p->gone_dl);
	}
}

void
qh__peer_resume(qh_t *h, peer_t *p, int fd)
{
	if (p->closing) {
		p->closing = false;
		h->n_closing--;
	}
	p->detached = false;
	qh__heap_remove(h, &p->gone_dl);
	qh__peer_attach(h, p, fd);
	p->hello_fd = fd;
}

void
qh__peer_kill(qh_t *h, peer_t *p)
{
	if (p->dead)
		return;
	p->dead = true;
	p->dnext = h->dead;
	h->dead = p;
}

static void s_waiter_unlink(qh_t *h, waiter_t *w);
static void s_waiter_free(waiter_t *w);

/* Frees every place of a queue reserved for p. */
static void
s_peer_drop_credit(qh_t *h, peer_t *p)
{
	size_t i;

	for (i = 0; i < p->n_cred; i++) {
		p->cred[i].q->reserved -= p->cred[i].n;
		if (p->cred[i].n > 0)
			qh__mark_dirty(h, p->cred[i].q); /* room for waiting puts */
		p->cred[i].n = 0;
	}
}

/* Requeues a dead peer's leases at the heads of their queues (in delivery
   order), drops its waiting requests, and frees it. */
static void
s_peer_free(qh_t *h, peer_t *p)
{
	peer_t **pp;
	size_t i;

	while (p->ltail != NULL)
		s_lease_requeue(h, p->ltail);
	while (p->whead != NULL) {
		waiter_t *w = p->whead;

		s_waiter_unlink(h, w);
		s_waiter_free(w);
	}
	if (p->closing) {
		p->closing = false;
		h->n_closing--;
	}
	for (i = 0; i < p->n_read; i++)
		p->read[i]->consumers--;
	free(p->read);
	s_peer_drop_credit(h, p);
	free(p->cred);
	s_peer_unlink_conn(h, p);
	qh__heap_remove(h, &p->gone_dl);
	for (pp = &h->buckets[p->hash & (h->n_buckets - 1)]; *pp != NULL; pp = &(*pp)->hnext)
		if (*pp == p) {
			*pp = p->hnext;
			break;
		}
	h->n_peers--;
	free(p);
}

void
qh__peer_reads(peer_t *p, queue_t *q)
{
	size_t i;

	for (i = 0; i < p->n_read; i++)
		if (p->read[i] == q)
			return;
	if (p->n_read == p->cap_read) {
		size_t cap = p->cap_read ? p->cap_read * 2 : 4;
		queue_t **r = realloc(p->read, cap * sizeof(*r));

		if (r == NULL)
			return;
		p->read = r;
		p->cap_read = cap;
	}
	p->read[p->n_read++] = q;
	q->consumers++;
}

/* ---- credit ---- */

/* The places of q reserved for p (NULL if none, or when out of memory and
   create). */
static struct pcred *
s_cred(peer_t *p, queue_t *q, bool create)
{
	size_t i;

	if (p == NULL)
		return NULL;
	for (i = 0; i < p->n_cred; i++)
		if (p->cred[i].q == q)
			return &p->cred[i];
	if (!create)
		return NULL;
	if (p->n_cred == p->cap_cred) {
		size_t cap = p->cap_cred ? p->cap_cred * 2 : 4;
		struct pcred *c = realloc(p->cred, cap * sizeof(*c));

		if (c == NULL)
			return NULL;
		p->cred = c;
		p->cap_cred = cap;
	}
	p->cred[p->n_cred] = (struct pcred){.q = q, .n = 0};
	return &p->cred[p->n_cred++];
}

/* Places of q that an unreserved put may take now. */
static int64_t
s_room(const queue_t *q)
{
	return q->capacity - (int64_t)q->ready.len - (int64_t)q->reserved;
}

/* Takes one of p's reserved places of q: true if it had one. */
static bool
s_use_credit(peer_t *p, queue_t *q)
{
	struct pcred *c = s_cred(p, q, false);

	if (c == NULL || c->n == 0)
		return false;
	c->n--;
	q->reserved--;
	return true;
}

/* Reserves places of q for p and returns how many: up to the window of q
   (QH_CREDIT_WINDOW or a quarter of the capacity) less what p holds, and
   never more than half the free room, so that the other clients always
   find room once the queue drains. None while puts wait for room: they
   come first. With at_least_one, one place if there is any room at all
   (a CREDIT request that waited for it). At most most. */
static uint32_t
s_grant(peer_t *p, queue_t *q, bool at_least_one, uint32_t most)
{
	int64_t window = q->capacity / 4, room = s_room(q), give;
	struct pcred *c;

	if (p == NULL || p->dead || room <= 0 || (q->puts_head != NULL && !at_least_one))
		return 0;
	if (window > QH_CREDIT_WINDOW)
		window = QH_CREDIT_WINDOW;
	if (window < 1)
		window = 1;
	if ((c = s_cred(p, q, true)) == NULL)
		return 0;
	give = window - (int64_t)c->n;
	if (give > room / 2)
		give = room / 2;
	if (give > (int64_t)most)
		give = most;
	if (give < 1)
		give = at_least_one ? 1 : 0;
	c->n += (uint32_t)give;
	q->reserved += (uint64_t)give;
	return (uint32_t)give;
}

/* ---- waiting requests ---- */

static waiter_t *
s_waiter_new(qh_t *h, peer_t *p, queue_t *q, const wire_req_t *r)
{
	waiter_t *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return NULL;
	w->dl.kind = DL_WAIT;
	w->dl.idx = SIZE_MAX;
	w->op = r->op;
	w->flags = r->flags;
	w->req_id = r->req_id;
	w->count = r->count;
	w->peer = p;
	w->q = q;
	if (r->op == WIRE_GET) {
		w->qprev = q->gets_tail;
		if (q->gets_tail)
			q->gets_tail->qnext = w;
		else
			q->gets_head = w;
		q->gets_tail = w;
	} else {
		w->qprev = q->puts_tail;
		if (q->puts_tail)
			q->puts_tail->qnext = w;
		else
			q->puts_head = w;
		q->puts_tail = w;
	}
	w->pnext = p->whead;
	if (p->whead)
		p->whead->pprev = w;
	p->whead = w;
	if (r->timeout_ms > 0) {
		w->dl.at_ms = zclock_mono() + r->timeout_ms;
		qh__heap_push(h, &w->dl);
	}
	return w;
}

static void
s_waiter_unlink(qh_t *h, waiter_t *w)
{
	queue_t *q = w->q;
	waiter_t **head = w->op == WIRE_GET ? &q->gets_head : &q->puts_head;
	waiter_t **tail = w->op == WIRE_GET ? &q->gets_tail : &q->puts_tail;

	if (w->qprev)
		w->qprev->qnext = w->qnext;
	else
		*head = w->qnext;
	if (w->qnext)
		w->qnext->qprev = w->qprev;
	else
		*tail = w->qprev;
	if (w->pprev)
		w->pprev->pnext = w->pnext;
	else
		w->peer->whead = w->pnext;
	if (w->pnext)
		w->pnext->pprev = w->pprev;
	w->qprev = w->qnext = w->pprev = w->pnext = NULL;
	qh__heap_remove(h, &w->dl);
}

static void
s_waiter_free(waiter_t *w)
{
	size_t i;

	for (i = w->done; i < w->n; i++)
		zmq_msg_close(&w->frames[i]);
	free(w->frames);
	free(w);
}

/* ---- serving ---- */

int
qh__append(qh_t *h, queue_t *q, const void *data, size_t len)
{
	qmsg_t *m = qh__msg_new(data, len);

	if (m == NULL)
		return -ENOMEM;
	/* A durable message that is not in the store is not taken at all:
	   its put is answered as one that found no room, never confirmed. */
	if (q->durable && h->store != NULL) {
		m->id = ++h->next_id;
		if (store_insert(h->store, q->store_id, m->id, data, len) != 0) {
			log_error("queues: %s: durable store: %s", q->name, store_error(h->store));
			free(m);
			return -EIO;
		}
	}
	if (qh__ring_push_back(&q->ready, m) != 0) {
		if (m->id != 0)
			store_delete(h->store, m->id);
		free(m);
		return -ENOMEM;
	}
	q->put_total++;
	return 0;
}

/* Leases up to count ready messages of q to p and sends them; returns how
   many (0 if p went away). */
static size_t
s_serve_get(qh_t *h, peer_t *p, queue_t *q, uint32_t req_id, uint32_t count)
{
	size_t n = q->ready.len < count ? q->ready.len : count, i, got = 0;
	int64_t at = zclock_mono() + q->lease_ms;
	lease_t **ls = malloc(n * sizeof(*ls)), *l;

	if (ls == NULL)
		return 0;
	for (i = 0; i < n; i++) {
		if ((l = s_lease_new(h)) == NULL)
			break;
		l->msg = qh__ring_pop_front(&q->ready);
		l->q = q;
		l->peer = p;
		l->prev = p->ltail;
		if (p->ltail)
			p->ltail->next = l;
		else
			p->lhead = l;
		p->ltail = l;
		l->dl.at_ms = at;
		qh__heap_push(h, &l->dl);
		q->in_flight++;
		ls[got++] = l;
	}
	if (got > 0 && qh__send_msgs(h, p, req_id, ls, got) != 0) {
		/* Gone: back to the head, in order. */
		for (i = got; i-- > 0;) {
			s_lease_requeue(h, ls[i]);
			q->requeued_total--;
		}
		qh__peer_kill(h, p);
		got = 0;
	} else {
		q->get_total += got;
	}
	free(ls);
	qh__mark_dirty(h, q); /* room for waiting putters */
	return got;
}

/* A standing GET served in part goes on waiting for the rest, behind the
   other waiting consumers (their turn first). */
static void
s_waiter_requeue(qh_t *h, waiter_t *w, size_t got)
{
	queue_t *q = w->q;
	peer_t *p = w->peer;

	(void)h;
	w->count -= (uint32_t)got;
	w->qprev = q->gets_tail;
	w->qnext = NULL;
	if (q->gets_tail)
		q->gets_tail->qnext = w;
	else
		q->gets_head = w;
	q->gets_tail = w;
	w->pprev = NULL;
	w->pnext = p->whead;
	if (p->whead)
		p->whead->pprev = w;
	p->whead = w;
}

/* The reply to a PUT that waited; with grant, credit as its REFILL asks. */
static void
s_put_reply(qh_t *h, waiter_t *w, int16_t status, uint32_t count, bool grant)
{
	uint32_t credit = 0;

	h->pack = (w->flags & WIRE_F_PACKED) != 0;
	if (status == WIRE_OK && (w->flags & WIRE_F_REFILL)) {
		if (grant)
			credit = s_grant(w->peer, w->q, false, UINT32_MAX);
		qh__reply_grant(h, w->peer->rid, w->peer->rid_len, WIRE_PUT, w->req_id, count,
				credit, w->q->max_message, w->q->durable && h->store != NULL);
		return;
	}
	if (w->q->durable && h->store != NULL && count > 0)
		qh__reply_after_commit(h, w->peer->rid, w->peer->rid_len, WIRE_PUT, w->req_id,
				       status, count, credit);
	else
		qh__reply_credit(h, w->peer->rid, w->peer->rid_len, WIRE_PUT, w->req_id, status,
				 count, credit, status == WIRE_EFULL ? "queue is full" : NULL);
}

/* Serves q's waiting getters from its ready messages and moves waiting
   putters' messages in while there is room, until neither can go on. */
static void
s_pump(qh_t *h, queue_t *q)
{
	bool progress = true;
	waiter_t *w;

	while (progress) {
		progress = false;
		while ((w = q->gets_head) != NULL && q->ready.len > 0) {
			size_t got = 0;

			s_waiter_unlink(h, w);
			progress = true;
			h->pack = (w->flags & WIRE_F_PACKED) != 0;
			if (!w->peer->dead)
				got = s_serve_get(h, w->peer, q, w->req_id, w->count);
			if ((w->flags & WIRE_F_STANDING) && got > 0 && got < w->count &&
			    !w->peer->dead) {
				s_waiter_requeue(h, w, got);
				continue;
			}
			s_waiter_free(w);
		}
		while ((w = q->puts_head) != NULL && s_room(q) > 0) {
			if (w->peer->dead) {
				s_waiter_unlink(h, w);
				s_waiter_free(w);
				progress = true;
				continue;
			}
			if (w->op == WIRE_CREDIT) {
				uint32_t g;

				s_waiter_unlink(h, w);
				g = s_grant(w->peer, q, true, w->count);
				h->pack = (w->flags & WIRE_F_PACKED) != 0;
				qh__reply_grant(h, w->peer->rid, w->peer->rid_len, WIRE_CREDIT,
						w->req_id, g, g, q->max_message, false);
				s_waiter_free(w);
				progress = true;
				continue;
			}
			while (w->done < w->n && s_room(q) > 0) {
				zmq_msg_t *f = &w->frames[w->done];

				if (qh__append(h, q, zmq_msg_data(f), zmq_msg_size(f)) != 0)
					break;
				zmq_msg_close(f);
				w->done++;
				progress = true;
			}
			if (w->done < w->n)
				break;
			s_waiter_unlink(h, w);
			/* count: appended before it waited, plus all the rest */
			s_put_reply(h, w, WIRE_OK, w->count + (uint32_t)w->n, true);
			s_waiter_free(w);
			progress = true;
		}
	}
}

void
qh__settle(qh_t *h)
{
	peer_t *p;
	queue_t *q;

	for (;;) {
		if ((p = h->dead) != NULL) {
			h->dead = p->dnext;
			s_peer_free(h, p);
		} else if ((q = h->dirty) != NULL) {
			h->dirty = q->dnext;
			q->dirty = false;
			s_pump(h, q);
		} else {
			break;
		}
	}
	h->pack = false; /* the waiting requests answered set it */
}

/* ---- requests ---- */

void
qh__do_put(qh_t *h, peer_t *p, const uint8_t *rid, size_t rid_len, const wire_req_t *r, queue_t *q,
	   zmq_msg_t *msgs, size_t n)
{
	size_t done = 0, i;
	waiter_t *w;
	bool later = q->durable && h->store != NULL;
	uint32_t credit = 0;

	/* Within the client's credit: places reserved for it, never full. */
	if (r->flags & WIRE_F_CREDITED)
		while (done < n && s_use_credit(p, q)) {
			if (qh__append(h, q, zmq_msg_data(&msgs[done]), zmq_msg_size(&msgs[done])) !=
			    0)
				break;
			done++;
		}
	if (q->puts_head == NULL) {
		while (done < n) {
			if (s_room(q) <= 0) {
				s_pump(h, q); /* waiting getters make room */
				if (s_room(q) <= 0)
					break;
			}
			if (qh__append(h, q, zmq_msg_data(&msgs[done]),
				       zmq_msg_size(&msgs[done])) != 0)
				break;
			done++;
		}
	}
	if (done > 0)
		qh__mark_dirty(h, q);
	if (done == n) {
		if (r->flags & WIRE_F_REFILL)
			credit = s_grant(p, q, false, UINT32_MAX);
		if ((r->flags & WIRE_F_KNOWN) == WIRE_F_REFILL) { /* waited for: tell max_message */
			qh__reply_grant(h, rid, rid_len, WIRE_PUT, r->req_id, (uint32_t)n, credit,
					q->max_message, later);
			return;
		}
		if (r->flags & WIRE_F_CREDITED)
			qh__confirm(h, rid, rid_len, q, WIRE_PUT, r->req_id, credit, later);
		else if (later)
			qh__reply_after_commit(h, rid, rid_len, WIRE_PUT, r->req_id, WIRE_OK,
					       (uint32_t)n, credit);
		else
			qh__reply_credit(h, rid, rid_len, WIRE_PUT, r->req_id, WIRE_OK, (uint32_t)n,
					 credit, NULL);
		return;
	}
	if (r->timeout_ms == 0 || p == NULL || (w = s_waiter_new(h, p, q, r)) == NULL) {
		if (later && done > 0)
			qh__reply_after_commit(h, rid, rid_len, WIRE_PUT, r->req_id, WIRE_EFULL,
					       (uint32_t)done, 0);
		else
			qh__reply(h, rid, rid_len, WIRE_PUT, r->req_id, WIRE_EFULL, (uint32_t)done,
				  "queue is full");
		return;
	}
	if ((w->frames = calloc(n - done, sizeof(zmq_msg_t))) == NULL) {
		s_waiter_unlink(h, w);
		s_waiter_free(w);
		qh__reply(h, rid, rid_len, WIRE_PUT, r->req_id, WIRE_EFULL, (uint32_t)done,
			  "out of memory");
		return;
	}
	/* The frames not yet appended move into the waiter; done counts from
	   the request's first message, so the reply's count is right. */
	for (i = done; i < n; i++) {
		zmq_msg_init(&w->frames[i - done]);
		zmq_msg_move(&w->frames[i - done], &msgs[i]);
	}
	w->n = n - done;
	w->done = 0;
	w->count = (uint32_t)done; /* appended before it waited */
}

/* COMPLETE: the result goes into q and the task's lease is acked, both or
   neither. Nothing is put when the lease is no longer p's (it ran out, or
   the task went back after a disconnect): the task is delivered again and
   its next worker puts the one result; the reply's count says 0. No room
   in q (no credit left and q full): EFULL, and the task stays leased. */
void
qh__do_complete(qh_t *h, peer_t *p, const uint8_t *rid, size_t rid_len, const wire_req_t *r,
		queue_t *q, queue_t *tq, uint64_t lease_id, const void *data, size_t len)
{
	lease_t *l = s_lease_find(h, lease_id);
	bool mine = p != NULL && l != NULL && l->peer == p && l->q == tq, room;
	uint32_t credit = 0;

	room = (r->flags & WIRE_F_CREDITED) && s_use_credit(p, q);
	if (!room)
		room = q->puts_head == NULL && s_room(q) > 0;
	if (!mine) {
		if (r->flags & WIRE_F_REFILL)
			credit = s_grant(p, q, false, UINT32_MAX);
		if (r->flags & WIRE_F_CREDITED)
			qh__confirm(h, rid, rid_len, q, WIRE_COMPLETE, r->req_id, credit, false);
		else
			qh__reply_credit(h, rid, rid_len, WIRE_COMPLETE, r->req_id, WIRE_OK, 0,
					 credit, NULL);
		return;
	}
	if (!room || qh__append(h, q, data, len) != 0) {
		qh__reply(h, rid, rid_len, WIRE_COMPLETE, r->req_id, WIRE_EFULL, 0,
			  "queue is full: the task stays leased");
		return;
	}
	s_lease_ack(h, l);
	qh__mark_dirty(h, q);
	qh__mark_dirty(h, tq);
	if (r->flags & WIRE_F_REFILL)
		credit = s_grant(p, q, false, UINT32_MAX);
	if (r->flags & WIRE_F_CREDITED)
		qh__confirm(h, rid, rid_len, q, WIRE_COMPLETE, r->req_id, credit,
			    h->store != NULL && (q->durable || tq->durable));
	else if (h->store != NULL && (q->durable || tq->durable))
		qh__reply_after_commit(h, rid, rid_len, WIRE_COMPLETE, r->req_id, WIRE_OK, 1, credit);
	else
		qh__reply_credit(h, rid, rid_len, WIRE_COMPLETE, r->req_id, WIRE_OK, 1, credit, NULL);
}

/* CREDIT: reserves up to the window of places of q for p, waiting up to the
   request's timeout (in line with the waiting puts) for at least one. */
void
qh__do_credit(qh_t *h, peer_t *p, const wire_req_t *r, queue_t *q)
{
	uint32_t g = 0;

	if (q->puts_head == NULL && s_room(q) > 0)
		g = s_grant(p, q, true, r->count);
	if (g > 0) {
		qh__reply_grant(h, p->rid, p->rid_len, WIRE_CREDIT, r->req_id, g, g, q->max_message,
				false);
		return;
	}
	if (r->timeout_ms == 0 || s_waiter_new(h, p, q, r) == NULL)
		qh__reply(h, p->rid, p->rid_len, WIRE_CREDIT, r->req_id, WIRE_EFULL, 0,
			  "queue is full");
}

/* RETURN: n of p's reserved places of q are free again. */
void
qh__do_return(qh_t *h, const uint8_t *rid, size_t rid_len, queue_t *q, uint32_t n)
{
	struct pcred *c = s_cred(qh__peer_find(h, rid, rid_len), q, false);

	if (c == NULL)
		return;
	if (n > c->n)
		n = c->n;
	c->n -= n;
	q->reserved -= n;
	if (n > 0)
		qh__mark_dirty(h, q);
}

void
qh__do_get(qh_t *h, peer_t *p, const wire_req_t *r, queue_t *q)
{
	wire_req_t rest = *r;
	size_t got;

	qh__peer_reads(p, q);
	if (r->timeout_ms != -1)
		rest.flags &= (uint16_t)~WIRE_F_STANDING; /* only a GET that waits forever stands */
	if (q->gets_head == NULL && q->ready.len > 0) {
		got = s_serve_get(h, p, q, r->req_id, r->count);
		if (!(rest.flags & WIRE_F_STANDING) || got == 0 || got >= r->count || p->dead)
			return;
		rest.count -= (uint32_t)got; /* stands for the rest */
		s_waiter_new(h, p, q, &rest);
		return;
	}
	if (rest.timeout_ms == 0 || s_waiter_new(h, p, q, &rest) == NULL)
		qh__reply(h, p->rid, p->rid_len, WIRE_GET, r->req_id, WIRE_EEMPTY, 0, NULL);
}

uint32_t
qh__do_ack(qh_t *h, const uint8_t *rid, size_t rid_len, queue_t *q, const uint8_t *ids, size_t n,
	   bool nack)
{
	peer_t *p = qh__peer_find(h, rid, rid_len);
	uint32_t valid = 0;
	lease_t *l;
	size_t i;

	if (p == NULL)
		return 0;
	for (i = 0; i < n; i++) {
		/* nack in reverse, so the first id ends up first in the queue */
		size_t k = nack ? n - 1 - i : i;

		l = s_lease_find(h, wire_get_u64(ids + 8 * k));
		if (l == NULL || l->peer != p || l->q != q)
			continue;
		valid++;
		if (nack)
			s_lease_requeue(h, l);
		else
			s_lease_ack(h, l);
	}
	return valid;
}

static uint64_t
s_peer_leases(const peer_t *p)
{
	uint64_t n = 0;
	const lease_t *l;

	for (l = p->lhead; l != NULL; l = l->next)
		n++;
	return n;
}

/* Everything whose deadline has passed: waiting requests are answered
   (EEMPTY, EFULL), leases go back to the heads of their queues, the
   earliest delivered first. */
void
qh__expire(qh_t *h, int64_t now)
{
	lease_t **exp = NULL;
	size_t n = 0, cap = 0, i;
	dl_t *d;

	while (h->heap_len > 0 && (d = h->heap[0])->at_ms <= now) {
		qh__heap_remove(h, d);
		if (d->kind == DL_SESSION) {
			peer_t *p = (peer_t *)((char *)d - offsetof(peer_t, gone_dl));

			if (p->detached) {
				log_info("queues: a client with %llu lease%s did not come back within "
					 "%d s: its messages go back",
					 (unsigned long long)s_peer_leases(p),
					 s_peer_leases(p) == 1 ? "" : "s", QH_RESUME_GRACE_MS / 1000);
				qh__peer_kill(h, p);
			}
			continue;
		}
		if (d->kind == DL_LEASE) {
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				lease_t **e = realloc(exp, cap * sizeof(*e));
				if (e == NULL) {
					/* requeue this one alone now */
					s_lease_requeue(h, (lease_t *)d);
					continue;
				}
				exp = e;
			}
			exp[n++] = (lease_t *)d;
		} else {
			waiter_t *w = (waiter_t *)d;

			s_waiter_unlink(h, w);
			h->pack = (w->flags & WIRE_F_PACKED) != 0;
			if (!w->peer->dead) {
				if (w->op == WIRE_GET)
					qh__reply(h, w->peer->rid, w->peer->rid_len, WIRE_GET,
						  w->req_id, WIRE_EEMPTY, 0, NULL);
				else if (w->op == WIRE_CREDIT)
					qh__reply(h, w->peer->rid, w->peer->rid_len, WIRE_CREDIT,
						  w->req_id, WIRE_EFULL, 0, "queue is full");
				else
					s_put_reply(h, w, WIRE_EFULL, w->count + (uint32_t)w->done, true);
			}
			s_waiter_free(w);
		}
	}
	for (i = n; i-- > 0;)
		s_lease_requeue(h, exp[i]);
	if (n > 0)
		log_debug("queues: %zu lease%s ran out; the messages are back at the head", n,
			  n == 1 ? "" : "s");
	free(exp);
	h->pack = false;
}

/* Frees q with its messages and leases. With notify, its waiting requests
   are answered ENOQUEUE. */
void
qh__queue_free(qh_t *h, queue_t *q)
{
	waiter_t *w;
	queue_t **qp;
	qmsg_t *m;
	peer_t *p;
	size_t i, k;

	if (q == NULL)
		return;
	while ((w = q->gets_head) != NULL || (w = q->puts_head) != NULL) {
		s_waiter_unlink(h, w);
		h->pack = (w->flags & WIRE_F_PACKED) != 0;
		if (!w->peer->dead)
			qh__reply(h, w->peer->rid, w->peer->rid_len, w->op, w->req_id,
				  WIRE_ENOQUEUE, 0, "the queue was removed");
		s_waiter_free(w);
	}
	h->pack = false;
	for (i = 0; i < h->n_slots; i++)
		if (h->slots[i] != NULL && h->slots[i]->q == q) {
			free(h->slots[i]->msg);
			s_lease_release(h, h->slots[i]);
		}
	for (i = 0; i < h->n_buckets; i++)
		for (p = h->buckets[i]; p != NULL; p = p->hnext)
		{
			for (k = 0; k < p->n_read; k++)
				if (p->read[k] == q) {
					p->read[k] = p->read[--p->n_read];
					break;
				}
			for (k = 0; k < p->n_cred; k++)
				if (p->cred[k].q == q) {
					p->cred[k] = p->cred[--p->n_cred];
					break;
				}
		}
	for (qp = &h->dirty; *qp != NULL; qp = &(*qp)->dnext)
		if (*qp == q) {
			*qp = q->dnext;
			break;
		}
	while ((m = qh__ring_pop_front(&q->ready)) != NULL)
		free(m);
	free(q->ready.buf);
	free(q->name);
	free(q);
}

/* ---- sessions across a reconnect or an upgrade ---- */

void
qh__peer_suspend(qh_t *h, peer_t *p)
{
	waiter_t *w;

	while ((w = p->whead) != NULL) {
		s_waiter_unlink(h, w);
		/* A put that has appended part of its messages cannot be undone:
		   the rest go in too, past the capacity if need be, and it is
		   answered. Any other waiting request was not applied at all: it
		   goes unanswered, and its client sends it again. */
		if (w->op == WIRE_PUT && w->count + w->done > 0) {
			while (w->done < w->n) {
				zmq_msg_t *f = &w->frames[w->done];

				if (qh__append(h, w->q, zmq_msg_data(f), zmq_msg_size(f)) != 0)
					break;
				zmq_msg_close(f);
				w->done++;
			}
			qh__mark_dirty(h, w->q);
			if (!p->dead)
				s_put_reply(h, w, w->done == w->n ? WIRE_OK : WIRE_EFULL,
					    w->count + (uint32_t)w->done, false);
		}
		s_waiter_free(w);
	}
	s_peer_drop_credit(h, p);
}

int
qh__slots_restore(qh_t *h, const uint8_t *gens, size_t n)
{
	size_t cap = n < 256 ? 256 : n, i;

	if (h->n_slots != 0 || n > UINT32_MAX)
		return -EINVAL;
	if ((h->slots = calloc(cap, sizeof(*h->slots))) == NULL ||
	    (h->gens = calloc(cap, sizeof(*h->gens))) == NULL ||
	    (h->free_slots = calloc(cap, sizeof(*h->free_slots))) == NULL)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		h->gens[i] = wire_get_u32(gens + 4 * i);
	h->n_slots = cap;
	h->n_free = 0; /* qh__slots_freed() makes the free list */
	return 0;
}

void
qh__slots_freed(qh_t *h)
{
	size_t i;

	/* The lowest slot is taken first, as s_lease_new does. */
	h->n_free = 0;
	for (i = h->n_slots; i-- > 0;)
		if (h->slots[i] == NULL)
			h->free_slots[h->n_free++] = (uint32_t)i;
}

int
qh__lease_restore(qh_t *h, peer_t *p, queue_t *q, uint64_t id, qmsg_t *m, int64_t left_ms)
{
	uint32_t slot = (uint32_t)id, gen = (uint32_t)(id >> 32);
	lease_t *l;

	if (slot >= h->n_slots || gen == 0 || h->gens[slot] != gen || h->slots[slot] != NULL)
		return -EINVAL;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return -ENOMEM;
	l->slot = slot;
	l->id = id;
	l->dl.kind = DL_LEASE;
	l->dl.idx = SIZE_MAX;
	l->msg = m;
	l->q = q;
	l->peer = p;
	l->prev = p->ltail;
	if (p->ltail)
		p->ltail->next = l;
	else
		p->lhead = l;
	p->ltail = l;
	h->slots[slot] = l;
	q->in_flight++;
	if (left_ms >= 0) {
		l->dl.at_ms = zclock_mono() + left_ms;
		qh__heap_push(h, &l->dl);
	}
	return 0;
}
