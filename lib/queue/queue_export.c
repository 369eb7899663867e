/* queue_export: the queue host's state written for the next droverd of an
   upgrade in place (queue_host_export), and read back by the new host
   (queue_host_new with an import fd).

   Format, version 1; integers big-endian:

     "drover-q" (8 bytes), u32 version (1), u32 0
     records, each a tag byte:
       'G'  the lease slots: u32 n, then n x u32, each slot's generation (a
            lease id is generation << 32 | slot, so that an id a client
            holds never names another lease)
       'Q'  a queue: u8 name length, name, u8 durable, u64 put_total,
            get_total, acked_total, requeued_total, u64 n, then its n ready
            messages from the head: u64 id, and when the id is 0 (not
            stored: a queue that is not durable) u64 length and the bytes
       'S'  a session: u8 routing id length, routing id, u16 n, n x (u8
            length, name) of the queues it read from, u64 n, then its n
            leases in delivery order: u64 lease id, u8 name length, queue
            name, i64 ms left (-1: no deadline), then the message as above
       'E'  the end, then 32 bytes: BLAKE2b-256 of every byte before them

   A durable queue's messages are in SQLite already: only their ids are
   written, and the reader loads them from the store in the order written.
   Waiting requests are not written: the export ends them first (see
   queue_host.h). */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "queue_internal.h"
#include "str.h"

#define X_MAGIC "drover-q"
#define X_VERSION 1
#define X_DIGEST 32

/* ---- writing ---- */

typedef struct {
	int fd;
	int err; /* errno of the first failure, 0 */
	size_t len;
	uint64_t total;
	crypto_generichash_state hs;
	uint8_t buf[1 << 16];
} xw_t;

static void
s_flush(xw_t *w)
{
	size_t off = 0;
	ssize_t n;

	crypto_generichash_update(&w->hs, w->buf, w->len);
	while (w->err == 0 && off < w->len) {
		n = write(w->fd, w->buf + off, w->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			w->err = n < 0 ? errno : EIO;
			break;
		}
		off += (size_t)n;
	}
	w->total += w->len;
	w->len = 0;
}

static void
s_put(xw_t *w, const void *p, size_t len)
{
	const uint8_t *b = p;

	while (len > 0 && w->err == 0) {
		size_t k = sizeof(w->buf) - w->len;

		if (k > len)
			k = len;
		memcpy(w->buf + w->len, b, k);
		w->len += k;
		b += k;
		len -= k;
		if (w->len == sizeof(w->buf))
			s_flush(w);
	}
}

static void
s_u8(xw_t *w, uint8_t v)
{
	s_put(w, &v, 1);
}

static void
s_u16(xw_t *w, uint16_t v)
{
	uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};

	s_put(w, b, 2);
}

static void
s_u32(xw_t *w, uint32_t v)
{
	uint8_t b[4];

	wire_put_u32(b, v);
	s_put(w, b, 4);
}

static void
s_u64(xw_t *w, uint64_t v)
{
	uint8_t b[8];

	wire_put_u64(b, v);
	s_put(w, b, 8);
}

static void
s_name(xw_t *w, const void *name, size_t len)
{
	s_u8(w, (uint8_t)len);
	s_put(w, name, len);
}

/* A message: its id in the store, or 0 and its bytes. */
static void
s_msg(xw_t *w, const queue_t *q, const qmsg_t *m)
{
	if (q->durable && m->id > 0) {
		s_u64(w, (uint64_t)m->id);
		return;
	}
	s_u64(w, 0);
	s_u64(w, m->len);
	s_put(w, m->data, m->len);
}

static void
s_write_queue(xw_t *w, const queue_t *q)
{
	size_t i;

	s_u8(w, 'Q');
	s_name(w, q->name, q->name_len);
	s_u8(w, q->durable);
	s_u64(w, q->put_total);
	s_u64(w, q->get_total);
	s_u64(w, q->acked_total);
	s_u64(w, q->requeued_total);
	s_u64(w, q->ready.len);
	for (i = 0; i < q->ready.len; i++)
		s_msg(w, q, q->ready.buf[(q->ready.head + i) & (q->ready.cap - 1)]);
}

static void
s_write_session(xw_t *w, const peer_t *p, int64_t now)
{
	const lease_t *l;
	uint64_t n = 0;
	size_t i, nread = p->n_read < 65535 ? p->n_read : 65535;

	s_u8(w, 'S');
	s_name(w, p->rid, p->rid_len);
	s_u16(w, (uint16_t)nread);
	for (i = 0; i < nread; i++)
		s_name(w, p->read[i]->name, p->read[i]->name_len);
	for (l = p->lhead; l != NULL; l = l->next)
		n++;
	s_u64(w, n);
	for (l = p->lhead; l != NULL; l = l->next) {
		int64_t left = -1;

		if (l->dl.idx != SIZE_MAX)
			left = l->dl.at_ms > now ? l->dl.at_ms - now : 0;
		s_u64(w, l->id);
		s_name(w, l->q->name, l->q->name_len);
		s_u64(w, (uint64_t)left);
		s_msg(w, l->q, l->msg);
	}
}

int
qh__export_write(qh_t *h, int fd, char **err)
{
	xw_t *w;
	uint8_t digest[X_DIGEST];
	int64_t now = zclock_mono();
	size_t i;
	peer_t *p;
	uint64_t sessions = 0, leases = 0, messages = 0;

	/* On the heap for its size; the hash state needs 64-byte alignment. */
	if (posix_memalign((void **)&w, 64, sizeof(*w)) != 0) {
		*err = str_printf("export: out of memory");
		return -1;
	}
	memset(w, 0, sizeof(*w));
	w->fd = fd;
	crypto_generichash_init(&w->hs, NULL, 0, X_DIGEST);
	s_put(w, X_MAGIC, 8);
	s_u32(w, X_VERSION);
	s_u32(w, 0);
	s_u8(w, 'G');
	s_u32(w, (uint32_t)h->n_slots);
	for (i = 0; i < h->n_slots; i++) {
		s_u32(w, h->gens[i]);
		if (h->slots[i] != NULL)
			leases++;
	}
	for (i = 0; i < h->n_queues; i++) {
		s_write_queue(w, h->queues[i]);
		messages += h->queues[i]->ready.len;
	}
	for (i = 0; i < h->n_buckets; i++)
		for (p = h->buckets[i]; p != NULL; p = p->hnext)
			if (p->session && !p->dead) {
				s_write_session(w, p, now);
				sessions++;
			}
	s_u8(w, 'E');
	s_flush(w);
	crypto_generichash_final(&w->hs, digest, sizeof(digest));
	w->len = 0;
	if (w->err == 0) {
		/* the digest is not part of what it covers */
		size_t off = 0;
		ssize_t n;

		while (off < sizeof(digest)) {
			n = write(fd, digest + off, sizeof(digest) - off);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				w->err = n < 0 ? errno : EIO;
				break;
			}
			off += (size_t)n;
		}
	}
	if (w->err != 0) {
		*err = str_printf("export: writing the queues' state: %s", strerror(w->err));
		free(w);
		return -1;
	}
	log_info("queues: exported %llu ready messages, %llu leases of %llu sessions (%llu bytes)",
		 (unsigned long long)messages, (unsigned long long)leases,
		 (unsigned long long)sessions, (unsigned long long)(w->total + sizeof(digest)));
	free(w);
	return 0;
}

/* ---- reading ---- */

typedef struct {
	const uint8_t *p;
	size_t left;
	bool bad;
} xr_t;

static const uint8_t *
s_take(xr_t *r, size_t n)
{
	const uint8_t *p = r->p;

	if (r->bad || n > r->left) {
		r->bad = true;
		return NULL;
	}
	r->p += n;
	r->left -= n;
	return p;
}

static uint8_t
s_get_u8(xr_t *r)
{
	const uint8_t *p = s_take(r, 1);

	return p ? p[0] : 0;
}

static uint16_t
s_get_u16(xr_t *r)
{
	const uint8_t *p = s_take(r, 2);

	return p ? (uint16_t)(p[0] << 8 | p[1]) : 0;
}

static uint32_t
s_get_u32(xr_t *r)
{
	const uint8_t *p = s_take(r, 4);

	return p ? wire_get_u32(p) : 0;
}

static uint64_t
s_get_u64(xr_t *r)
{
	const uint8_t *p = s_take(r, 8);

	return p ? wire_get_u64(p) : 0;
}

/* A queue name or routing id: NULL when malformed. */
static const uint8_t *
s_get_name(xr_t *r, size_t *len)
{
	*len = s_get_u8(r);
	if (*len == 0)
		r->bad = true;
	return s_take(r, *len);
}

/* The stored messages of one durable queue, by id, while an import picks
   them: msgs[i] is NULL once taken. */
typedef struct {
	int64_t *ids;
	qmsg_t **msgs;
	size_t n, cap;
	bool exported; /* the export had this queue, durable: its order rules */
} xrows_t;

typedef struct {
	qh_t *h;
	xrows_t *rows; /* one per queue of h */
	uint64_t dropped, missing;
} ximp_t;

static int
s_row(void *arg, int64_t qid, int64_t id, const void *data, size_t len)
{
	ximp_t *x = arg;
	xrows_t *rw = NULL;
	qmsg_t *m;
	size_t i;

	for (i = 0; i < x->h->n_queues; i++)
		if (x->h->queues[i]->durable && x->h->queues[i]->store_id == qid)
			rw = &x->rows[i];
	if (rw == NULL)
		return 0; /* a queue no longer configured: kept on disk */
	if (rw->n == rw->cap) {
		size_t cap = rw->cap ? rw->cap * 2 : 64;
		int64_t *ids = realloc(rw->ids, cap * sizeof(*ids));

		if (ids == NULL)
			return -1;
		rw->ids = ids;
		qmsg_t **msgs = realloc(rw->msgs, cap * sizeof(*msgs));
		if (msgs == NULL)
			return -1;
		rw->msgs = msgs;
		rw->cap = cap;
	}
	if ((m = qh__msg_new(data, len)) == NULL)
		return -1;
	m->id = id;
	rw->ids[rw->n] = id;
	rw->msgs[rw->n++] = m;
	return 0;
}

/* Takes stored message id of queue index qi (ids ascend: a binary search). */
static qmsg_t *
s_row_take(ximp_t *x, size_t qi, int64_t id)
{
	xrows_t *rw = &x->rows[qi];
	size_t lo = 0, hi = rw->n, mid;
	qmsg_t *m;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (rw->ids[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == rw->n || rw->ids[lo] != id || rw->msgs[lo] == NULL)
		return NULL;
	m = rw->msgs[lo];
	rw->msgs[lo] = NULL;
	return m;
}

static ssize_t
s_queue_index(qh_t *h, const void *name, size_t len)
{
	size_t i;

	for (i = 0; i < h->n_queues; i++)
		if (h->queues[i]->name_len == len && memcmp(h->queues[i]->name, name, len) == 0)
			return (ssize_t)i;
	return -1;
}

/* Reads a message as s_msg wrote it, for queue index qi (-1: none, the
   message is skipped). *m is NULL when it is skipped or not found. */
static int
s_read_msg(ximp_t *x, xr_t *r, ssize_t qi, bool durable_then, qmsg_t **m)
{
	uint64_t id = s_get_u64(r), len;
	const uint8_t *data;
	queue_t *q = qi >= 0 ? x->h->queues[qi] : NULL;

	*m = NULL;
	if (id != 0) {
		if (id > INT64_MAX) {
			r->bad = true;
			return -1;
		}
		if (q == NULL || !q->durable || !durable_then) {
			x->dropped++;
			return 0;
		}
		if ((*m = s_row_take(x, (size_t)qi, (int64_t)id)) == NULL)
			x->missing++;
		return 0;
	}
	len = s_get_u64(r);
	if (len > r->left) {
		r->bad = true;
		return -1;
	}
	data = s_take(r, (size_t)len);
	if (r->bad)
		return -1;
	if (q == NULL) {
		x->dropped++;
		return 0;
	}
	/* A queue durable now gets its id in the store once all is read. */
	if ((*m = qh__msg_new(data, (size_t)len)) == NULL)
		return -ENOMEM;
	return 0;
}

static int
s_read_queue(ximp_t *x, xr_t *r)
{
	size_t nlen;
	const uint8_t *name = s_get_name(r, &nlen);
	bool durable = s_get_u8(r) != 0;
	uint64_t put = s_get_u64(r), got = s_get_u64(r), acked = s_get_u64(r),
		 requeued = s_get_u64(r), n = s_get_u64(r), i;
	ssize_t qi;
	queue_t *q = NULL;
	qmsg_t *m;
	int rc;

	if (r->bad || name == NULL || !wire_queue_name_ok(name, nlen) || n > r->left / 8)
		return -1;
	if ((qi = s_queue_index(x->h, name, nlen)) >= 0) {
		q = x->h->queues[qi];
		q->put_total = put;
		q->get_total = got;
		q->acked_total = acked;
		q->requeued_total = requeued;
		if (q->durable && durable)
			x->rows[qi].exported = true;
		if (durable && !q->durable)
			log_warn("queues: %s is no longer durable: its stored messages stay in "
				 "queues.db",
				 q->name);
	} else {
		log_warn("queues: %.*s is no longer configured: its %llu messages are dropped%s",
			 (int)nlen, (const char *)name, (unsigned long long)n,
			 durable ? " (they stay in queues.db)" : "");
	}
	for (i = 0; i < n; i++) {
		if ((rc = s_read_msg(x, r, qi, durable, &m)) != 0)
			return rc;
		if (m != NULL && qh__ring_push_back(&q->ready, m) != 0) {
			free(m);
			return -ENOMEM;
		}
	}
	return 0;
}

static int
s_read_session(ximp_t *x, xr_t *r)
{
	qh_t *h = x->h;
	size_t rlen, nlen, k;
	const uint8_t *rid = s_get_name(r, &rlen), *name;
	uint16_t nread;
	uint64_t n, i, id;
	int64_t left;
	peer_t *p;
	ssize_t qi;
	qmsg_t *m;
	int rc;

	if (r->bad || rid == NULL || !qh__session_rid(rid, rlen) || qh__peer_find(h, rid, rlen))
		return -1;
	if ((p = qh__peer_get(h, rid, rlen, -1)) == NULL)
		return -ENOMEM;
	qh__peer_detach(h, p, zclock_mono() + QH_RESUME_GRACE_MS);
	nread = s_get_u16(r);
	for (k = 0; k < nread; k++) {
		name = s_get_name(r, &nlen);
		if (r->bad)
			return -1;
		if ((qi = s_queue_index(h, name, nlen)) >= 0)
			qh__peer_reads(p, h->queues[qi]);
	}
	n = s_get_u64(r);
	if (r->bad || n > r->left / 18)
		return -1;
	for (i = 0; i < n; i++) {
		id = s_get_u64(r);
		name = s_get_name(r, &nlen);
		left = (int64_t)s_get_u64(r);
		if (r->bad || left < -1)
			return -1;
		qi = s_queue_index(h, name, nlen);
		if ((rc = s_read_msg(x, r, qi, qi >= 0 && x->rows[qi].exported, &m)) != 0)
			return rc;
		if (m == NULL)
			continue;
		if ((rc = qh__lease_restore(h, p, h->queues[qi], id, m, left)) != 0) {
			free(m);
			return rc;
		}
	}
	return 0;
}

/* After the records: a durable queue keeps the stored messages the export
   did not name (a queue it did not have as durable: all of them), in put
   order, after the others; messages that came as bytes into a queue that is
   durable now are stored. */
static int
s_finish(ximp_t *x)
{
	qh_t *h = x->h;
	size_t i, k;

	for (i = 0; i < h->n_queues; i++) {
		queue_t *q = h->queues[i];
		xrows_t *rw = &x->rows[i];

		if (!q->durable)
			continue;
		for (k = 0; k < rw->n; k++)
			if (rw->msgs[k] != NULL) {
				if (qh__ring_push_back(&q->ready, rw->msgs[k]) != 0)
					return -ENOMEM;
				if (rw->exported)
					x->missing++; /* named nowhere: kept anyway */
				rw->msgs[k] = NULL;
			}
		for (k = 0; k < q->ready.len; k++) {
			qmsg_t *m = q->ready.buf[(q->ready.head + k) & (q->ready.cap - 1)];

			if (m->id == 0) {
				m->id = ++h->next_id;
				store_insert(h->store, q->store_id, m->id, m->data, m->len);
			}
		}
	}
	for (k = 0; k < h->n_slots; k++) {
		lease_t *l = h->slots[k];

		if (l != NULL && l->q->durable && l->msg->id == 0) {
			l->msg->id = ++h->next_id;
			store_insert(h->store, l->q->store_id, l->msg->id, l->msg->data,
				     l->msg->len);
		}
	}
	return 0;
}

/* The bytes of fd from offset 0: mapped, or read when it cannot be. */
static uint8_t *
s_map(int fd, size_t *len, bool *mapped)
{
	struct stat st;
	uint8_t *b;
	size_t off = 0;
	ssize_t n;

	*mapped = false;
	if (fstat(fd, &st) != 0 || st.st_size <= 0)
		return NULL;
	*len = (size_t)st.st_size;
	b = mmap(NULL, *len, PROT_READ, MAP_PRIVATE, fd, 0);
	if (b != MAP_FAILED) {
		*mapped = true;
		return b;
	}
	if ((b = malloc(*len)) == NULL)
		return NULL;
	while (off < *len) {
		n = pread(fd, b + off, *len - off, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(b);
			return NULL;
		}
		off += (size_t)n;
	}
	return b;
}

static int
s_parse(ximp_t *x, const uint8_t *b, size_t len, char **err)
{
	uint8_t digest[X_DIGEST];
	xr_t r;
	uint32_t n;
	bool slots = false;
	int rc = 0;
	uint8_t tag;

	if (len < 16 + 1 + X_DIGEST || memcmp(b, X_MAGIC, 8) != 0) {
		*err = str_printf("import: not an export of drover's queue host");
		return -1;
	}
	if (wire_get_u32(b + 8) != X_VERSION) {
		*err = str_printf("import: export format version %u, this droverd reads %d",
				  wire_get_u32(b + 8), X_VERSION);
		return -1;
	}
	crypto_generichash(digest, sizeof(digest), b, len - X_DIGEST, NULL, 0);
	if (b[len - X_DIGEST - 1] != 'E' || sodium_memcmp(digest, b + len - X_DIGEST, X_DIGEST) != 0) {
		*err = str_printf("import: the export is truncated or damaged (its digest differs)");
		return -1;
	}
	r.p = b + 16;
	r.left = len - 16 - 1 - X_DIGEST; /* the 'E' and the digest are checked */
	r.bad = false;
	while (rc == 0 && !r.bad && r.left > 0) {
		tag = s_get_u8(&r);
		switch (tag) {
		case 'G':
			n = s_get_u32(&r);
			if (slots || r.bad || n > r.left / 4 ||
			    qh__slots_restore(x->h, s_take(&r, 4 * (size_t)n), n) != 0)
				rc = -1;
			slots = true;
			break;
		case 'Q':
			rc = s_read_queue(x, &r);
			break;
		case 'S':
			rc = slots ? s_read_session(x, &r) : -1;
			break;
		default:
			rc = -1;
			break;
		}
	}
	if (rc == -ENOMEM) {
		*err = str_printf("import: out of memory");
		return -1;
	}
	if (rc != 0 || r.bad || !slots) {
		*err = str_printf("import: malformed export at byte %zu",
				  (size_t)(r.p - b));
		return -1;
	}
	return 0;
}

int
qh__import(qh_t *h, int fd, char **err)
{
	ximp_t x = {.h = h};
	size_t len = 0, i, k;
	bool mapped;
	uint8_t *b;
	int rc = -1;

	*err = NULL;
	if ((b = s_map(fd, &len, &mapped)) == NULL) {
		*err = str_printf("import: cannot read the export (fd %d): %s", fd,
				  errno ? strerror(errno) : "empty");
		return -1;
	}
	if ((x.rows = calloc(h->n_queues + 1, sizeof(*x.rows))) == NULL) {
		*err = str_printf("import: out of memory");
		goto done;
	}
	if (h->store != NULL && store_load(h->store, -1, s_row, &x, err) != 0)
		goto done;
	if (s_parse(&x, b, len, err) != 0)
		goto done;
	if (s_finish(&x) != 0) {
		*err = str_printf("import: out of memory");
		goto done;
	}
	qh__slots_freed(h);
	rc = 0;
	if (x.dropped > 0)
		log_warn("queues: %llu messages of the export had no queue to go to",
			 (unsigned long long)x.dropped);
	if (x.missing > 0)
		log_warn("queues: %llu stored messages did not match the export (taken as they "
			 "are in queues.db)",
			 (unsigned long long)x.missing);
done:
	for (i = 0; x.rows != NULL && i < h->n_queues; i++) {
		for (k = 0; k < x.rows[i].n; k++)
			free(x.rows[i].msgs[k]);
		free(x.rows[i].ids);
		free(x.rows[i].msgs);
	}
	free(x.rows);
	if (mapped)
		munmap(b, len);
	else
		free(b);
	return rc;
}
