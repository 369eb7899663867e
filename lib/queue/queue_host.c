/* queue_host: the actor that serves droverd's queues. Its thread owns a
   private ZeroMQ context with the CURVE ROUTER, the ZAP handler and the
   ROUTER's monitor, and runs one zloop over them, the actor pipe and one
   timer armed for the earliest deadline (none when nothing waits). Each pass
   reads up to QH_BUDGET requests, then commits the durable store once and
   sends the replies that waited for that commit (group commit). */
#include "queue_host.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "net.h"
#include "prom.h"
#include "queue_internal.h"
#include "secret.h"
#include "str.h"

#define MON_ENDPOINT_FMT "inproc://drover-queue-monitor-%p"
#define MON_EVENTS                                                                                 \
	(ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |      \
	 ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)

struct queue_host {
	zactor_t *actor;
	int listen_fd;	  /* the host's listening socket (the actor closes it) */
	int seq;	  /* of the last request to the actor */
	json_t *stats;	  /* the last numbers it gave */
	char *metrics;	  /* likewise */
	bool late_logged; /* the actor was late, said once until it is not */
};

/* The kinds of request; a reply names its kind, so that a late one (its
   caller gave up waiting) is freed rightly. */
enum { QH_STATS, QH_METRICS, QH_APPLY, QH_EXPORT };

#define QH_ASK_MS 1000	  /* stats and metrics: the loop never waits longer */
#define QH_APPLY_MS 10000 /* a reload may open SQLite files */
#define QH_EXPORT_MS 120000 /* a commit, the linger, and the writing of every message */
/* The protocol's revision, in HELLO replies: 2 has sessions, 3 packed
   requests and replies. */
#define QH_REVISION 3

static void s_end_pass(qh_t *h);
static void s_flush(qh_t *h);
static void s_drain_monitor(qh_t *h);

/* ---- sending ---- */

static int
s_send_rid(qh_t *h, const uint8_t *rid, size_t rid_len)
{
	return zmq_send(h->router, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ? -1 : 0;
}

/* Sends a reply: the header and then n frames, or all of it packed into
   one frame when h->pack (the request was packed). */
static int
s_send_reply(qh_t *h, const uint8_t *rid, size_t rid_len, const uint8_t *hdr, size_t n,
	     const void *const *data, const size_t *lens)
{
	zmq_msg_t m;
	uint8_t *o;
	size_t i, len = WIRE_HDR_LEN;

	if (s_send_rid(h, rid, rid_len) != 0)
		return -1;
	for (i = 0; i < n; i++)
		len += WIRE_PART_LEN + lens[i];
	/* out of memory: the frames one by one, which a client that packs
	   reads too */
	if (n == 0 || !h->pack || zmq_msg_init_size(&m, len) != 0) {
		zmq_send(h->router, hdr, WIRE_HDR_LEN, (n > 0 ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT);
		for (i = 0; i < n; i++)
			zmq_send(h->router, data[i], lens[i],
				 (i + 1 < n ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT);
		return 0;
	}
	o = zmq_msg_data(&m);
	memcpy(o, hdr, WIRE_HDR_LEN);
	o += WIRE_HDR_LEN;
	for (i = 0; i < n; i++)
		o = wire_part_put(o, data[i], lens[i]);
	if (zmq_msg_send(&m, h->router, ZMQ_DONTWAIT) < 0)
		zmq_msg_close(&m);
	return 0;
}

int
qh__reply_credit(qh_t *h, const uint8_t *rid, size_t rid_len, uint8_t op, uint32_t req_id,
		 int16_t status, uint32_t count, uint32_t credit, const char *text)
{
	uint8_t hdr[WIRE_HDR_LEN];
	wire_rep_t r = {
	    .op = op, .status = status, .req_id = req_id, .count = count, .credit = credit};
	const void *data[1] = {text};
	size_t len = text != NULL ? strlen(text) : 0;

	wire_rep_encode(hdr, &r);
	return s_send_reply(h, rid, rid_len, hdr, status != WIRE_OK && text != NULL ? 1 : 0, data,
			    &len);
}

int
qh__reply(qh_t *h, const uint8_t *rid, size_t rid_len, uint8_t op, uint32_t req_id, int16_t status,
	  uint32_t count, const char *text)
{
	return qh__reply_credit(h, rid, rid_len, op, req_id, status, count, 0, text);
}

void
qh__reply_grant(qh_t *h, const uint8_t *rid, size_t rid_len, uint8_t op, uint32_t req_id,
		uint32_t count, uint32_t credit, int64_t max_message, bool deferred)
{
	uint8_t hdr[WIRE_HDR_LEN], mm[8];
	wire_rep_t r = {
	    .op = op, .status = WIRE_OK, .req_id = req_id, .count = count, .credit = credit};
	const void *data[1] = {mm};
	size_t len = sizeof(mm);

	if (deferred) {
		qh__reply_after_commit(h, rid, rid_len, op, req_id, WIRE_OK, count, credit);
		if (h->n_deferred > 0 && h->deferred[h->n_deferred - 1].req_id == req_id)
			h->deferred[h->n_deferred - 1].max_message = max_message;
		return;
	}
	wire_rep_encode(hdr, &r);
	wire_put_u64(mm, (uint64_t)max_message);
	s_send_reply(h, rid, rid_len, hdr, 1, data, &len);
}

/* A reply with one data frame. */
static int
s_reply_frame(qh_t *h, const uint8_t *rid, size_t rid_len, uint8_t op, uint32_t req_id,
	      uint32_t count, const void *data, size_t len)
{
	uint8_t hdr[WIRE_HDR_LEN];
	wire_rep_t r = {.op = op, .status = WIRE_OK, .req_id = req_id, .count = count};
	const void *d[1] = {data};

	wire_rep_encode(hdr, &r);
	return s_send_reply(h, rid, rid_len, hdr, 1, d, &len);
}

void
qh__reply_after_commit(qh_t *h, const uint8_t *rid, size_t rid_len, uint8_t op, uint32_t req_id,
		       int16_t status, uint32_t count, uint32_t credit)
{
	deferred_t *d;

	if (h->n_deferred == h->cap_deferred) {
		size_t cap = h->cap_deferred ? h->cap_deferred * 2 : 64;
		deferred_t *nd = realloc(h->deferred, cap * sizeof(*nd));

		if (nd == NULL) {
			/* Cannot wait: commit now and answer at once. */
			if (store_commit(h->store) != 0)
				status = WIRE_EFULL, count = 0;
			qh__reply_credit(h, rid, rid_len, op, req_id, status, count, credit,
					 "queue is full");
			return;
		}
		h->deferred = nd;
		h->cap_deferred = cap;
	}
	d = &h->deferred[h->n_deferred++];
	memcpy(d->rid, rid, rid_len);
	d->rid_len = rid_len;
	d->op = op;
	d->req_id = req_id;
	d->status = status;
	d->count = count;
	d->credit = credit;
	d->max_message = 0;
	d->packed = h->pack;
}

void
qh__confirm(qh_t *h, const uint8_t *rid, size_t rid_len, const queue_t *q, uint8_t op,
	    uint32_t req_id, uint32_t credit, bool durable)
{
	confirm_t *c = NULL;
	size_t i;

	if (h->last_confirm < h->n_confirms) {
		c = &h->confirms[h->last_confirm];
		if (c->q != q || c->rid_len != rid_len || memcmp(c->rid, rid, rid_len) != 0)
			c = NULL;
	}
	for (i = 0; c == NULL && i < h->n_confirms; i++) {
		confirm_t *e = &h->confirms[i];

		if (e->q == q && e->rid_len == rid_len && memcmp(e->rid, rid, rid_len) == 0) {
			c = e;
			h->last_confirm = i;
		}
	}
	if (c == NULL) {
		if (h->n_confirms == h->cap_confirms) {
			size_t cap = h->cap_confirms ? h->cap_confirms * 2 : 16;
			confirm_t *nc = realloc(h->confirms, cap * sizeof(*nc));

			if (nc == NULL) { /* answer this one alone, now */
				qh__reply_credit(h, rid, rid_len, op, req_id, WIRE_OK, 1, credit,
						 NULL);
				return;
			}
			h->confirms = nc;
			h->cap_confirms = cap;
		}
		h->last_confirm = h->n_confirms;
		c = &h->confirms[h->n_confirms++];
		memcpy(c->rid, rid, rid_len);
		c->rid_len = rid_len;
		c->q = q;
		c->count = c->credit = 0;
		c->durable = false;
	}
	c->op = op;
	c->last_id = req_id;
	c->count++;
	c->credit += credit;
	c->durable |= durable;
}

int
qh__send_msgs(qh_t *h, peer_t *p, uint32_t req_id, lease_t **leases, size_t n)
{
	uint8_t hdr[WIRE_HDR_LEN], *o;
	wire_rep_t r = {.op = WIRE_GET, .status = WIRE_OK, .req_id = req_id, .count = (uint32_t)n};
	zmq_msg_t ids, m;
	size_t i, len;

	wire_rep_encode(hdr, &r);
	if (s_send_rid(h, p->rid, p->rid_len) != 0)
		return -1;
	if (h->pack) {
		/* [header][ids][message]...: one frame */
		len = WIRE_HDR_LEN + WIRE_PART_LEN + 8 * n;
		for (i = 0; i < n; i++)
			len += WIRE_PART_LEN + leases[i]->msg->len;
		if (zmq_msg_init_size(&m, len) == 0) {
			o = zmq_msg_data(&m);
			memcpy(o, hdr, WIRE_HDR_LEN);
			o += WIRE_HDR_LEN;
			wire_put_u32(o, (uint32_t)(8 * n));
			o += WIRE_PART_LEN;
			for (i = 0; i < n; i++, o += 8)
				wire_put_u64(o, leases[i]->id);
			for (i = 0; i < n; i++)
				o = wire_part_put(o, leases[i]->msg->data, leases[i]->msg->len);
			if (zmq_msg_send(&m, h->router, ZMQ_DONTWAIT) < 0)
				zmq_msg_close(&m);
			return 0;
		}
		/* out of memory: the frames one by one, which a client that
		   packs reads too */
	}
	zmq_send(h->router, hdr, sizeof(hdr), ZMQ_SNDMORE | ZMQ_DONTWAIT);
	zmq_msg_init_size(&ids, n * 8);
	for (i = 0; i < n; i++)
		wire_put_u64((uint8_t *)zmq_msg_data(&ids) + 8 * i, leases[i]->id);
	zmq_msg_send(&ids, h->router, ZMQ_SNDMORE | ZMQ_DONTWAIT);
	for (i = 0; i < n; i++) {
		qmsg_t *q = leases[i]->msg;

		zmq_msg_init_size(&m, q->len);
		if (q->len)
			memcpy(zmq_msg_data(&m), q->data, q->len);
		zmq_msg_send(&m, h->router, (i + 1 < n ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT);
	}
	return 0;
}

/* ---- connections (from the ROUTER's monitor) ---- */

conn_t *
qh__conn(qh_t *h, int fd)
{
	size_t n;

	if (fd < 0 || fd > (1 << 22))
		return NULL;
	if ((size_t)fd >= h->n_conns) {
		n = (size_t)fd + 64;
		conn_t *c = realloc(h->conns, n * sizeof(*c));
		if (c == NULL)
			return NULL;
		memset(c + h->n_conns, 0, (n - h->n_conns) * sizeof(*c));
		h->conns = c;
		h->n_conns = n;
	}
	return &h->conns[fd];
}

static void
s_peer_name(int fd, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char ip[INET6_ADDRSTRLEN];

	buf[0] = '\0';
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) != 0)
		return;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, ntohs(a->sin_port));
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, ntohs(a->sin6_port));
	} else {
		snprintf(buf, len, "a local socket");
	}
}

static bool
s_reported(qh_t *h, const char *addr, int64_t now)
{
	for (unsigned i = 0; i < 32; i++)
		if (now - h->reported_at[i] < 120000 && strcmp(h->reported[i], addr) == 0)
			return true;
	return false;
}

static void
s_remember(qh_t *h, const char *addr, int64_t now)
{
	unsigned i = h->n_reported++ % 32;

	snprintf(h->reported[i], sizeof(h->reported[i]), "%s", addr);
	h->reported_at[i] = now;
}

/* The address of a refused peer whose connection was gone before we could
   ask: one that droverd closed lately and that was not reported yet. */
static void
s_find_refused(qh_t *h, char *addr, size_t len, int64_t now)
{
	char peers[64][64];
	int n = qh__closed_peers(h->port, peers, 64), i;

	for (i = 0; i < n; i++)
		if (!s_reported(h, peers[i], now)) {
			size_t l = strnlen(peers[i], sizeof(peers[i]) - 1);

			if (l >= len)
				l = len - 1;
			memcpy(addr, peers[i], l);
			addr[l] = '\0';
			return;
		}
}

static void
s_log_refusal(qh_t *h, const char *known, int event, int value)
{
	int64_t now = zclock_mono();
	char why[128], more[64] = "", addr[64];

	snprintf(addr, sizeof(addr), "%s", known);
	if (addr[0] == '\0')
		s_find_refused(h, addr, sizeof(addr), now);
	if (addr[0] != '\0')
		s_remember(h, addr, now);

	h->refused_total++;
	if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL &&
	    value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC)
		snprintf(why, sizeof(why), "CURVE handshake failed (wrong authkey?)");
	else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL &&
		 value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)
		snprintf(why, sizeof(why), "not a CURVE client (no or another security mechanism)");
	else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
		snprintf(why, sizeof(why), "protocol error 0x%x in the handshake", (unsigned)value);
	else
		snprintf(why, sizeof(why), "connection closed during the handshake");
	if (h->refuse_log_ms != 0 && now - h->refuse_log_ms < 1000) {
		h->refuse_quiet++;
		return;
	}
	if (h->refuse_quiet > 0)
		snprintf(more, sizeof(more), " (and %llu more refused before)",
			 (unsigned long long)h->refuse_quiet);
	h->refuse_quiet = 0;
	h->refuse_log_ms = now;
	log_warn("queues: refused %s: %s%s", addr[0] ? addr : "a client (address unknown)", why,
		 more);
}

/* Reads every pending monitor event. A TCP connection that closes takes its
   peers with it: their leases go back to the queues. */
static void
s_drain_monitor(qh_t *h)
{
	uint8_t ev[6];
	uint16_t event;
	uint32_t value;
	int rc, more;
	size_t ml = sizeof(more);
	conn_t *c;
	peer_t *p, *next;

	for (;;) {
		rc = zmq_recv(h->mon, ev, sizeof(ev), ZMQ_DONTWAIT);
		if (rc < 0)
			break;
		more = 0;
		zmq_getsockopt(h->mon, ZMQ_RCVMORE, &more, &ml);
		while (more) { /* the endpoint: not the peer's address */
			char junk[1];

			zmq_recv(h->mon, junk, sizeof(junk), 0);
			zmq_getsockopt(h->mon, ZMQ_RCVMORE, &more, &ml);
		}
		if (rc != 6)
			continue;
		memcpy(&event, ev, 2);
		memcpy(&value, ev + 2, 4);
		switch (event) {
		case ZMQ_EVENT_ACCEPTED:
			if ((c = qh__conn(h, (int)value)) == NULL)
				break;
			if (!c->open)
				h->clients++;
			c->open = true;
			s_peer_name((int)value, c->addr, sizeof(c->addr));
			log_debug("queues: connection %d from %s", (int)value,
				  c->addr[0] ? c->addr : "?");
			break;
		case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
		case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
			/* The DISCONNECTED of the same connection follows at once. */
			h->pending_fail = event;
			h->pending_fail_err = (int)value;
			break;
		case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
			h->pending_fail = 0; /* the ZAP handler logged it */
			break;
		case ZMQ_EVENT_DISCONNECTED:
			if ((c = qh__conn(h, (int)value)) == NULL)
				break;
			log_debug("queues: connection %d from %s closed", (int)value,
				  c->addr[0] ? c->addr : "?");
			if (h->pending_fail != 0)
				s_log_refusal(h, c->addr, h->pending_fail, h->pending_fail_err);
			h->pending_fail = 0;
			/* Its last requests (acks, say) may still be unread
			   in the ROUTER: the peers die once they are read. */
			for (p = c->peers; p != NULL; p = next) {
				next = p->fnext;
				p->fnext = NULL;
				p->fd = -1;
				if (!p->closing && !p->dead) {
					p->closing = true;
					h->n_closing++;
				}
			}
			c->peers = NULL;
			if (c->open && h->clients > 0)
				h->clients--;
			c->open = false;
			break;
		default:
			break;
		}
	}
}

/* ---- requests ---- */

/* Reads one request into h->fr. Returns its number of frames (0: none
   pending); *overflow when it had more frames than any request may. */
static size_t
s_recv(qh_t *h, bool *overflow)
{
	size_t n = 0, max = WIRE_MAX_COUNT + 4;
	int more = 1;
	zmq_msg_t junk;

	*overflow = false;
	while (more) {
		zmq_msg_t *m = &junk;

		if (n < max) {
			if (n == h->fr_cap) {
				size_t cap = h->fr_cap ? h->fr_cap * 2 : 64;
				zmq_msg_t *fr = realloc(h->fr, cap * sizeof(*fr));

				if (fr == NULL) {
					*overflow = true;
				} else {
					h->fr = fr;
					h->fr_cap = cap;
				}
			}
			if (n < h->fr_cap)
				m = &h->fr[n];
		}
		zmq_msg_init(m);
		if (zmq_msg_recv(m, h->router, n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
			zmq_msg_close(m);
			break;
		}
		more = zmq_msg_more(m);
		if (m == &junk) {
			zmq_msg_close(m);
			*overflow = true;
		} else {
			n++;
		}
	}
	return n;
}

/* A packed request (revision 3, frame 1 longer than a header and flagged
   WIRE_F_PACKED): its parts become frames 2.. as if they had been sent one
   by one, so that everything after reads one form. Returns the number of
   frames now; *why when the parts do not fill the frame exactly or other
   frames came after it (the request is then refused). */
static size_t
s_unpack(qh_t *h, size_t n, bool *overflow, const char **why)
{
	const uint8_t *hdr = zmq_msg_data(&h->fr[1]), *data;
	size_t len, max = WIRE_MAX_COUNT + 4;
	wire_parts_t it;
	int rc;

	*why = NULL;
	if (zmq_msg_size(&h->fr[1]) <= WIRE_HDR_LEN || !((hdr[2] << 8 | hdr[3]) & WIRE_F_PACKED))
		return n;
	h->pack = true;
	if (n != 2) {
		*why = "a packed request is one frame";
		return n;
	}
	wire_parts_init(&it, hdr, zmq_msg_size(&h->fr[1]));
	while ((rc = wire_parts_next(&it, &data, &len)) == 1) {
		if (n == max) {
			*overflow = true;
			return n;
		}
		if (n == h->fr_cap) {
			size_t cap = h->fr_cap * 2;
			zmq_msg_t *fr = realloc(h->fr, cap * sizeof(*fr));

			if (fr == NULL) {
				*overflow = true;
				return n;
			}
			h->fr = fr;
			h->fr_cap = cap;
		}
		if (zmq_msg_init_size(&h->fr[n], len) != 0) {
			*overflow = true;
			return n;
		}
		if (len)
			memcpy(zmq_msg_data(&h->fr[n]), data, len);
		n++;
	}
	if (rc < 0)
		*why = "the parts of a packed request do not fill its frame";
	return n;
}

static void
s_stats_of(const queue_t *q, wire_stats_t *st)
{
	st->size = q->ready.len;
	st->capacity = (uint64_t)q->capacity;
	st->in_flight = q->in_flight;
	st->consumers = q->consumers;
	st->put_total = q->put_total;
	st->get_total = q->get_total;
	st->durable = q->durable;
}

static void
s_einval(qh_t *h, const uint8_t *rid, size_t rid_len, const wire_req_t *r, const char *why)
{
	log_debug("queues: refused a request%s%s: %s", r->op ? " " : "",
		  r->op ? wire_op_name(r->op) : "", why);
	qh__reply(h, rid, rid_len, r->op, r->req_id, WIRE_EINVAL, 0, why);
}

/* Is the request that came on connection fd one of p's session, that is on
   the connection of its last HELLO? A session's requests on any other
   connection (sent before the HELLO of a new connection, a reconnect's
   first frames) are dropped unread: its client sends them again once the
   HELLO is answered. A closed connection's last requests are still the
   session's (until it dies). The descriptor tells connections apart: the
   same client on a new connection that reuses the descriptor would need
   its reconnect interval (100 ms at least) to pass within one pass. Not
   the monitor: its ACCEPTED may come after the connection's first request. */
static bool
s_session_current(const peer_t *p, int fd)
{
	return p != NULL && !p->dead && !p->detached && p->hello_fd == fd;
}

/* The HELLO reply: frame 1 the largest frame accepted. To a client with a
   session id, also frame 2, the protocol's revision, and count 1 when the
   session was known (resumed); a client without gets what revision 1 sent. */
static void
s_hello_reply(qh_t *h, const uint8_t *rid, size_t rid_len, uint32_t req_id, uint32_t resumed)
{
	uint8_t hdr[WIRE_HDR_LEN], mf[8], rev[4];
	wire_rep_t r = {.op = WIRE_HELLO, .status = WIRE_OK, .req_id = req_id, .count = resumed};
	bool session = qh__session_rid(rid, rid_len);

	wire_rep_encode(hdr, &r);
	wire_put_u64(mf, (uint64_t)h->max_frame);
	wire_put_u32(rev, QH_REVISION);
	if (s_send_rid(h, rid, rid_len) != 0)
		return;
	zmq_send(h->router, hdr, sizeof(hdr), ZMQ_SNDMORE | ZMQ_DONTWAIT);
	zmq_send(h->router, mf, sizeof(mf), (session ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT);
	if (session)
		zmq_send(h->router, rev, sizeof(rev), ZMQ_DONTWAIT);
}

/* HELLO of a client with a session id. On a connection the session does
   not know yet: the session goes on there with its leases (count 1: after
   an upgrade, or a reconnect droverd had not noticed), or a new one begins
   (count 0: the old one ended with its connection, or never was). */
static void
s_session_hello(qh_t *h, const uint8_t *rid, size_t rid_len, int fd, const wire_req_t *r)
{
	peer_t *p;

	/* The DISCONNECTED of an older connection on the same fd came before
	   this one's first request: know it, so that the session is not killed
	   with the old connection. */
	s_drain_monitor(h);
	p = qh__peer_find(h, rid, rid_len);
	if (p != NULL && p->dead) {
		qh__settle(h); /* it leaves the table: its leases go back */
		p = qh__peer_find(h, rid, rid_len);
	}
	if (s_session_current(p, fd)) {
		s_hello_reply(h, rid, rid_len, r->req_id, 1);
		return;
	}
	if (p == NULL) {
		if ((p = qh__peer_get(h, rid, rid_len, fd)) == NULL) {
			qh__reply(h, rid, rid_len, WIRE_HELLO, r->req_id, WIRE_EINVAL, 0,
				  "out of memory");
			return;
		}
		qh__peer_resume(h, p, fd);
		s_hello_reply(h, rid, rid_len, r->req_id, 0);
		return;
	}
	/* Its old connection's requests that waited are over, and every answer
	   to that connection goes out before this one: the client sends again
	   what was not answered before it. */
	log_debug("queues: a session with leases goes on on connection %d", fd);
	qh__peer_suspend(h, p);
	qh__settle(h);
	s_flush(h);
	qh__peer_resume(h, p, fd);
	s_hello_reply(h, rid, rid_len, r->req_id, 1);
}

/* Handles the request in h->fr[0..n): [routing id][header][queue]... */
static void
s_dispatch(qh_t *h, size_t n, bool overflow, const char *bad_parts)
{
	const uint8_t *rid = zmq_msg_data(&h->fr[0]);
	size_t rid_len = zmq_msg_size(&h->fr[0]), i;
	/* The connection's fd (for its DISCONNECTED event) is on the frames
	   the peer sent, not on the routing id the ROUTER made up. */
	int fd = n > 1 ? zmq_msg_get(&h->fr[1], ZMQ_SRCFD) : -1, expect, rc;
	bool gone;
	wire_req_t r;
	queue_t *q;
	peer_t *p;
	char why[160];
	uint8_t buf[WIRE_STATS_LEN];
	wire_stats_t st;

	if (n < 2 || rid_len == 0 || rid_len > 255)
		return;
	/* A request sent just before its connection closed: acks and puts
	   count, but nobody is there to take messages or to wait. */
	rc = wire_req_decode(zmq_msg_data(&h->fr[1]), zmq_msg_size(&h->fr[1]), &r);
	if (qh__session_rid(rid, rid_len)) {
		p = qh__peer_find(h, rid, rid_len);
		if (!(rc == 0 && r.op == WIRE_HELLO) && !s_session_current(p, fd)) {
			log_debug("queues: dropped a %s of a session before its HELLO on "
				  "connection %d",
				  rc == 0 ? wire_op_name(r.op) : "request", fd);
			return;
		}
		/* its connection is known closed once the monitor said so (its
		   ACCEPTED may come late: conns[] says nothing yet) */
		gone = p != NULL && p->closing;
	} else {
		gone = fd >= 0 && (size_t)fd < h->n_conns && !h->conns[fd].open;
	}
	if (rc == -EPROTO) {
		if (zmq_msg_size(&h->fr[1]) == WIRE_HDR_LEN)
			snprintf(why, sizeof(why), "unsupported protocol version %u",
				 ((const uint8_t *)zmq_msg_data(&h->fr[1]))[0]);
		else
			snprintf(why, sizeof(why), "a request header has %d bytes, not %d",
				 (int)zmq_msg_size(&h->fr[1]), WIRE_HDR_LEN);
		s_einval(h, rid, rid_len, &r, why);
		return;
	}
	if (rc != 0) {
		s_einval(h, rid, rid_len, &r,
			 r.timeout_ms < -1		? "bad timeout"
			 : (r.flags & ~WIRE_F_ALL) != 0 ? "unknown flags"
							: "unknown op");
		return;
	}
	if (bad_parts != NULL) {
		s_einval(h, rid, rid_len, &r, bad_parts);
		return;
	}
	expect = wire_req_frames(&r);
	if (expect < 0 || overflow || n - 2 != (size_t)expect) {
		snprintf(why, sizeof(why),
			 "a %s request with count %u needs %d frames after the header",
			 wire_op_name(r.op), r.count, expect);
		s_einval(h, rid, rid_len, &r, expect < 0 ? "bad count" : why);
		return;
	}
	if (r.op == WIRE_HELLO) {
		if (qh__session_rid(rid, rid_len))
			s_session_hello(h, rid, rid_len, fd, &r);
		else
			s_hello_reply(h, rid, rid_len, r.req_id, 0);
		return;
	}
	if (!wire_queue_name_ok(zmq_msg_data(&h->fr[2]), zmq_msg_size(&h->fr[2]))) {
		s_einval(h, rid, rid_len, &r, "bad queue name");
		return;
	}
	if ((q = qh__queue_find(h, zmq_msg_data(&h->fr[2]), zmq_msg_size(&h->fr[2]))) == NULL) {
		snprintf(why, sizeof(why), "no queue \"%.*s\"", (int)zmq_msg_size(&h->fr[2]),
			 (const char *)zmq_msg_data(&h->fr[2]));
		qh__reply(h, rid, rid_len, r.op, r.req_id, WIRE_ENOQUEUE, 0, why);
		return;
	}
	switch (r.op) {
	case WIRE_PUT:
		for (i = 3; i < n; i++)
			if ((int64_t)zmq_msg_size(&h->fr[i]) > q->max_message) {
				snprintf(why, sizeof(why),
					 "message of %zu bytes is larger than max_message %lld of "
					 "queue \"%s\"",
					 zmq_msg_size(&h->fr[i]), (long long)q->max_message,
					 q->name);
				qh__reply(h, rid, rid_len, r.op, r.req_id, WIRE_ETOOBIG, 0, why);
				return;
			}
		p = (r.timeout_ms != 0 || (r.flags & WIRE_F_KNOWN) != 0) && !gone
			? qh__peer_get(h, rid, rid_len, fd)
			: NULL;
		qh__do_put(h, p, rid, rid_len, &r, q, &h->fr[3], n - 3);
		break;
	case WIRE_COMPLETE: {
		/* [results queue][lease id (8), name length (1), task queue
		   name, result] */
		const uint8_t *t = zmq_msg_data(&h->fr[3]);
		size_t tlen = zmq_msg_size(&h->fr[3]), nlen = tlen > 8 ? t[8] : 0;
		queue_t *tq;

		if (tlen < 9 + nlen || !wire_queue_name_ok(t + 9, nlen)) {
			s_einval(
			    h, rid, rid_len, &r,
			    "a COMPLETE's frame 2 is a lease id, the task's queue and the result");
			return;
		}
		if ((tq = qh__queue_find(h, t + 9, nlen)) == NULL) {
			snprintf(why, sizeof(why), "no queue \"%.*s\"", (int)nlen,
				 (const char *)t + 9);
			qh__reply(h, rid, rid_len, r.op, r.req_id, WIRE_ENOQUEUE, 0, why);
			return;
		}
		if ((int64_t)(tlen - 9 - nlen) > q->max_message) {
			snprintf(why, sizeof(why),
				 "message of %zu bytes is larger than max_message %lld of queue "
				 "\"%s\"",
				 tlen - 9 - nlen, (long long)q->max_message, q->name);
			qh__reply(h, rid, rid_len, r.op, r.req_id, WIRE_ETOOBIG, 0, why);
			return;
		}
		qh__do_complete(h, qh__peer_find(h, rid, rid_len), rid, rid_len, &r, q, tq,
				wire_get_u64(t), t + 9 + nlen, tlen - 9 - nlen);
		break;
	}
	case WIRE_CREDIT:
		if (gone)
			return;
		if ((p = qh__peer_get(h, rid, rid_len, fd)) == NULL) {
			qh__reply(h, rid, rid_len, r.op, r.req_id, WIRE_EFULL, 0, "out of memory");
			return;
		}
		qh__do_credit(h, p, &r, q);
		break;
	case WIRE_RETURN:
		qh__do_return(h, rid, rid_len, q, r.count);
		break;
	case WIRE_GET:
		if (gone && qh__peer_find(h, rid, rid_len) == NULL)
			return;
		if ((p = qh__peer_get(h, rid, rid_len, fd)) == NULL) {
			qh__reply(h, rid, rid_len, r.op, r.req_id, WIRE_EEMPTY, 0, "out of memory");
			return;
		}
		qh__do_get(h, p, &r, q);
		break;
	case WIRE_ACK:
	case WIRE_NACK:
		if (zmq_msg_size(&h->fr[3]) != (size_t)r.count * 8) {
			s_einval(h, rid, rid_len, &r, "the lease id frame is not count x 8 bytes");
			return;
		}
		rc = (int)qh__do_ack(h, rid, rid_len, q, zmq_msg_data(&h->fr[3]), r.count,
				     r.op == WIRE_NACK);
		if (r.req_id != 0)
			qh__reply(h, rid, rid_len, r.op, r.req_id, WIRE_OK, (uint32_t)rc, NULL);
		break;
	case WIRE_STATS:
		s_stats_of(q, &st);
		wire_stats_encode(buf, &st);
		s_reply_frame(h, rid, rid_len, WIRE_STATS, r.req_id, 0, buf, WIRE_STATS_LEN);
		break;
	default:
		break;
	}
}

/* ---- the loop ---- */

static int
s_on_timer(zloop_t *loop, int timer_id, void *arg)
{
	qh_t *h = arg;

	if (timer_id == h->timer_id)
		h->timer_id = -1;
	qh__expire(h, zclock_mono());
	s_end_pass(h);
	return 0;
}

/* Arms the timer for the earliest deadline if it is earlier than the armed
   one. A timer that fires early finds nothing due and rearms; with no
   deadline at all nothing is armed again. */
static void
s_rearm(qh_t *h)
{
	int64_t at, now;

	if (h->heap_len == 0)
		return;
	at = h->heap[0]->at_ms;
	if (h->timer_id != -1 && at >= h->timer_at)
		return;
	if (h->timer_id != -1)
		zloop_timer_end(h->loop, h->timer_id);
	now = zclock_mono();
	h->timer_id = zloop_timer(h->loop, at > now ? (size_t)(at - now) : 1, 1, s_on_timer, h);
	h->timer_at = at;
}

/* After every event: serve what became possible, commit the durable store
   once, answer the puts that waited for it, rearm the timer. */
static void
s_end_pass(qh_t *h)
{
	for (;;) {
		qh__settle(h);
		if (!store_pending(h->store) && h->n_deferred == 0 && h->n_confirms == 0)
			break;
		s_flush(h);
	}
	s_rearm(h);
}

/* Commits the durable store and sends the replies that waited for it and
   the pass's confirmations. */
static void
s_flush(qh_t *h)
{
	size_t i;
	peer_t *p;
	int rc;

	{
		rc = h->store ? store_commit(h->store) : 0;
		if (rc != 0)
			log_error(
			    "queues: durable store %s: %s; unconfirmed puts are answered EFULL",
			    store_path(h->store), store_error(h->store));
		for (i = 0; i < h->n_deferred; i++) {
			deferred_t *d = &h->deferred[i];

			h->pack = d->packed;

			if (rc == 0 && d->status == WIRE_OK && d->max_message > 0) {
				qh__reply_grant(h, d->rid, d->rid_len, d->op, d->req_id, d->count,
						d->credit, d->max_message, false);
				continue;
			}
			if (qh__reply_credit(h, d->rid, d->rid_len, d->op, d->req_id,
					     rc ? WIRE_EFULL : d->status, rc ? 0 : d->count,
					     d->credit,
					     rc		 ? "durable store failed"
					     : d->status ? "queue is full"
							 : NULL) != 0 &&
			    (p = qh__peer_find(h, d->rid, d->rid_len)) != NULL)
				qh__peer_kill(h, p);
		}
		h->n_deferred = 0;
		h->pack = false; /* a confirmation is a header alone anyway */
		/* One reply per client and queue for the credited requests of
		   the pass; with count > 1, a failure covers all of them. */
		for (i = 0; i < h->n_confirms; i++) {
			confirm_t *c = &h->confirms[i];
			bool bad = rc != 0 && c->durable;

			if (qh__reply_credit(h, c->rid, c->rid_len, c->op, c->last_id,
					     bad ? WIRE_EFULL : WIRE_OK, c->count, c->credit,
					     bad ? "durable store failed" : NULL) != 0 &&
			    (p = qh__peer_find(h, c->rid, c->rid_len)) != NULL)
				qh__peer_kill(h, p);
		}
		h->n_confirms = 0;
		h->last_confirm = 0;
	}
}

/* Reads up to QH_BUDGET requests. When the ROUTER runs dry, the peers whose
   connections closed have had every request they sent read: they die now
   and their leases go back. */
static void
s_read_requests(qh_t *h)
{
	size_t n, i, k;
	bool overflow;
	const char *bad_parts = NULL;
	peer_t *p;

	s_drain_monitor(h);
	for (i = 0; i < QH_BUDGET; i++) {
		if ((n = s_recv(h, &overflow)) == 0)
			break;
		if (n >= 2)
			n = s_unpack(h, n, &overflow, &bad_parts);
		s_dispatch(h, n, overflow, bad_parts);
		for (k = 0; k < n; k++)
			zmq_msg_close(&h->fr[k]);
		h->pack = false;
		qh__settle(h);
		h->pack = false;
	}
	if (i < QH_BUDGET && h->n_closing > 0) {
		for (i = 0; i < h->n_buckets; i++)
			for (p = h->buckets[i]; p != NULL; p = p->hnext)
				if (p->closing) {
					p->closing = false;
					qh__peer_kill(h, p);
				}
		h->n_closing = 0;
	}
	s_end_pass(h);
}

static int
s_on_router(zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
	qh_t *h = arg;

	if (h->router != NULL)
		s_read_requests(h);
	return 0;
}

static int
s_on_monitor(zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
	qh_t *h = arg;

	if (h->router != NULL)
		s_read_requests(h);
	return 0;
}

static int
s_on_zap(zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
	qh_t *h = arg;

	if (h->zap != NULL)
		h->refused_total += (uint64_t)auth_zap_handle(h->zap);
	return 0;
}

/* ---- stats, metrics, reload ---- */

static json_t *
s_stats_json(qh_t *h)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < h->n_queues; i++) {
		queue_t *q = h->queues[i];

		json_array_append_new(
		    a,
		    json_pack("{s:s, s:I, s:I, s:I, s:b, s:I, s:I, s:I}", "name", q->name, "size",
			      (json_int_t)q->ready.len, "capacity", (json_int_t)q->capacity,
			      "in_flight", (json_int_t)q->in_flight, "durable", q->durable,
			      "put_total", (json_int_t)q->put_total, "get_total",
			      (json_int_t)q->get_total, "consumers", (json_int_t)q->consumers));
	}
	return a;
}

static char *
s_metrics_text(qh_t *h)
{
	static const struct {
		const char *name, *type, *help;
		int field;
	} m[] = {
	    {"drover_queue_depth", "gauge", "Messages ready in the queue.", 0},
	    {"drover_queue_in_flight", "gauge", "Messages leased to consumers and not yet acked.",
	     1},
	    {"drover_queue_capacity", "gauge", "Most messages the queue holds ready.", 2},
	    {"drover_queue_consumers", "gauge", "Connected clients that have read from the queue.",
	     3},
	    {"drover_queue_put_total", "counter", "Messages put into the queue.", 4},
	    {"drover_queue_get_total", "counter", "Messages delivered, redeliveries included.", 5},
	    {"drover_queue_acked_total", "counter", "Messages acked by consumers.", 6},
	    {"drover_queue_requeued_total", "counter",
	     "Messages put back at the head: nack, lease expiry or consumer gone.", 7},
	};
	char *buf = NULL;
	size_t len = 0, i, k;
	FILE *f = open_memstream(&buf, &len);
	uint64_t v = 0;

	if (f == NULL)
		return NULL;
	for (i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		prom_head(f, m[i].name, m[i].type, m[i].help);
		for (k = 0; k < h->n_queues; k++) {
			queue_t *q = h->queues[k];

			switch (m[i].field) {
			case 0:
				v = q->ready.len;
				break;
			case 1:
				v = q->in_flight;
				break;
			case 2:
				v = (uint64_t)q->capacity;
				break;
			case 3:
				v = q->consumers;
				break;
			case 4:
				v = q->put_total;
				break;
			case 5:
				v = q->get_total;
				break;
			case 6:
				v = q->acked_total;
				break;
			default:
				v = q->requeued_total;
				break;
			}
			fprintf(f, "%s{queue=\"", m[i].name);
			prom_label(f, q->name);
			fprintf(f, "\"} %llu\n", (unsigned long long)v);
		}
	}
	fprintf(f,
		"# HELP drover_queue_connections Client connections open to the queue endpoint.\n"
		"# TYPE drover_queue_connections gauge\n"
		"drover_queue_connections %llu\n"
		"# HELP drover_queue_auth_failures_total Connections refused: wrong authkey or no "
		"CURVE.\n"
		"# TYPE drover_queue_auth_failures_total counter\n"
		"drover_queue_auth_failures_total %llu\n",
		(unsigned long long)h->clients, (unsigned long long)h->refused_total);
	fclose(f);
	return buf;
}

static int64_t
s_max_frame(const conf_t *c)
{
	int64_t max = 0;
	size_t i;

	/* A frame of lease ids (ACK, NACK) may be as large as the protocol
	   allows: a smaller limit would make ZeroMQ drop such a client. */
	max = WIRE_MAX_IDS_FRAME;
	for (i = 0; i < c->n_queues; i++)
		if (c->queues[i].max_message > max)
			max = c->queues[i].max_message;
	return max + WIRE_FRAME_SLACK;
}

static int
s_load_row(void *arg, int64_t qid, int64_t id, const void *data, size_t len)
{
	qh_t *h = arg;
	queue_t *q = NULL;
	qmsg_t *m;
	size_t i;

	for (i = 0; i < h->n_queues; i++)
		if (h->queues[i]->durable && h->queues[i]->store_id == qid)
			q = h->queues[i];
	if (q == NULL)
		return 0; /* a queue no longer configured: kept on disk */
	if ((m = qh__msg_new(data, len)) == NULL || qh__ring_push_back(&q->ready, m) != 0) {
		free(m);
		return -1;
	}
	m->id = id;
	return 0;
}

static int
s_load_row_into(void *arg, int64_t qid, int64_t id, const void *data, size_t len)
{
	queue_t *q = arg;
	qmsg_t *m = qh__msg_new(data, len);

	if (m == NULL || qh__ring_push_back(&q->ready, m) != 0) {
		free(m);
		return -1;
	}
	m->id = id;
	return 0;
}

/* A queue that becomes durable: every message it holds, ready or leased,
   goes into the store. */
static void
s_store_all(qh_t *h, queue_t *q)
{
	size_t i;
	qmsg_t *m;

	for (i = 0; i < q->ready.len; i++) {
		m = q->ready.buf[(q->ready.head + i) & (q->ready.cap - 1)];
		m->id = ++h->next_id;
		store_insert(h->store, q->store_id, m->id, m->data, m->len);
	}
	for (i = 0; i < h->n_slots; i++)
		if (h->slots[i] != NULL && h->slots[i]->q == q) {
			m = h->slots[i]->msg;
			m->id = ++h->next_id;
			store_insert(h->store, q->store_id, m->id, m->data, m->len);
		}
}

/* Opens the store if needed and gives q its store id. */
static int
s_make_durable(qh_t *h, queue_t *q, char **err)
{
	char path[4096];

	if (h->store == NULL) {
		snprintf(path, sizeof(path), "%s/queues.db", h->state_dir);
		if ((h->store = store_open(path, err)) == NULL)
			return -1;
		h->next_id = store_max_id(h->store);
	}
	return store_queue_id(h->store, q->name, &q->store_id, err);
}

static bool
s_str_differ(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a != NULL && strcmp(a, b) != 0);
}

/* Adds a line to *errs (what a reload did not apply) and logs it. */
static void s_apply_err(char **errs, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
s_apply_err(char **errs, const char *fmt, ...)
{
	char line[1024], *all;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_error("reload: %s", line);
	all = str_printf("%s%s\n", *errs ? *errs : "", line);
	if (all != NULL) {
		free(*errs);
		*errs = all;
	}
}

/* Applies next's queues. 0, or -1 if something failed: *errs (caller
   frees) says what, a line each, also logged. */
static int
s_apply(qh_t *h, const conf_t *next, char **errs)
{
	queue_t **qs = calloc(next->n_queues + 1, sizeof(*qs)), *q;
	char *err = NULL;
	size_t i, k;
	int rc = 0;
	int64_t max;

	if (qs == NULL) {
		s_apply_err(errs, "queues: out of memory, no queue changed");
		return -1;
	}
	if (s_str_differ(h->listen, next->queues_listen))
		log_warn("reload: supervisor.queues.listen changed; it takes effect when droverd "
			 "restarts");
	if (s_str_differ(h->authkey_file, next->queues_authkey_file))
		log_warn("reload: supervisor.queues.authkey_file changed; it takes effect when "
			 "droverd restarts");
	for (i = 0; i < next->n_queues; i++) {
		const conf_queue_t *cq = &next->queues[i];

		q = qh__queue_find(h, cq->name, strlen(cq->name));
		if (q == NULL) {
			if ((q = qh__queue_new(cq)) == NULL) {
				s_apply_err(errs, "queue %s: out of memory, not added", cq->name);
				rc = -1;
				continue;
			}
			if (q->durable &&
			    (s_make_durable(h, q, &err) != 0 ||
			     store_load(h->store, q->store_id, s_load_row_into, q, &err) != 0)) {
				s_apply_err(errs, "queue %s: not added: %s", q->name,
					    err ? err : "out of memory");
				free(err);
				err = NULL;
				qh__queue_free(h, q);
				rc = -1;
				continue;
			}
			log_info("queues: added %s (capacity %lld%s, %zu stored messages)", q->name,
				 (long long)q->capacity, q->durable ? ", durable" : "",
				 q->ready.len);
		} else {
			if (cq->durable && !q->durable) {
				if (s_make_durable(h, q, &err) != 0) {
					s_apply_err(errs, "queue %s: not made durable: %s", q->name,
						    err ? err : "out of memory");
					free(err);
					err = NULL;
					rc = -1;
				} else {
					s_store_all(h, q);
					q->durable = true;
				}
			} else if (!cq->durable && q->durable) {
				if (h->store != NULL &&
				    store_delete_queue(h->store, q->store_id) != 0)
					log_error("reload: queue %s: %s", q->name,
						  store_error(h->store));
				q->durable = false;
			}
			if (cq->capacity != q->capacity || cq->lease_ms != q->lease_ms ||
			    cq->max_message != q->max_message)
				log_info(
				    "queues: %s: capacity %lld, lease %lldms, max_message %lld",
				    q->name, (long long)cq->capacity, (long long)cq->lease_ms,
				    (long long)cq->max_message);
			q->capacity = cq->capacity;
			q->lease_ms = cq->lease_ms;
			q->max_message = cq->max_message;
			qh__mark_dirty(h, q);
		}
		qs[i] = q;
	}
	/* Queues that are gone: their waiters hear ENOQUEUE. */
	for (k = 0; k < h->n_queues; k++) {
		q = h->queues[k];
		for (i = 0; i < next->n_queues; i++)
			if (qs[i] == q)
				break;
		if (i < next->n_queues)
			continue;
		log_info("queues: removed %s (%zu ready, %llu in flight%s)", q->name, q->ready.len,
			 (unsigned long long)q->in_flight,
			 q->durable ? "; its stored messages stay in queues.db" : " dropped");
		qh__queue_free(h, q);
	}
	/* compact: queues that failed to be created leave holes */
	for (i = k = 0; i < next->n_queues; i++)
		if (qs[i] != NULL)
			qs[k++] = qs[i];
	free(h->queues);
	h->queues = qs;
	h->n_queues = k;
	max = s_max_frame(next);
	if (max != h->max_frame) {
		h->max_frame = max;
		zmq_setsockopt(h->router, ZMQ_MAXMSGSIZE, &max, sizeof(max));
	}
	return rc;
}

/* ---- sockets ---- */

static int
s_setopt_int(void *sock, int opt, int v)
{
	return zmq_setsockopt(sock, opt, &v, sizeof(v));
}

/* The ZeroMQ side: a private context with our ZAP handler, the CURVE ROUTER
   on a dup of the host's listening socket (ZMQ_USE_FD: ZeroMQ accepts on it
   and closes its dup with the ROUTER; the host's own stays open, so that
   connections wait in its backlog while no ROUTER is there), and the
   ROUTER's monitor. 0, or -1 with *err. */
static int
s_open(qh_t *h, char **err)
{
	char mon_ep[64], last[256];
	size_t ll = sizeof(last);
	const char *colon;
	int zfd;

	if ((h->ctx = zmq_ctx_new()) == NULL)
		goto zerr;
	/* CURVE encryption of every frame is most of the work, and it happens
	   in the I/O threads: two let connections spread over two cores. */
	zmq_ctx_set(h->ctx, ZMQ_IO_THREADS, 2);
	if ((h->zap = auth_zap_new(h->ctx, h->client_pk)) == NULL)
		goto zerr;
	if ((h->router = zmq_socket(h->ctx, ZMQ_ROUTER)) == NULL)
		goto zerr;
	s_setopt_int(h->router, ZMQ_LINGER, 0);
	s_setopt_int(h->router, ZMQ_ROUTER_MANDATORY, 1);
	/* A client with a session id that connects again takes its routing id
	   over at once, even while the old connection is not known to be dead
	   (without, ZeroMQ would refuse it until the heartbeats say so). */
	s_setopt_int(h->router, ZMQ_ROUTER_HANDOVER, 1);
	s_setopt_int(h->router, ZMQ_SNDHWM, 100000);
	s_setopt_int(h->router, ZMQ_RCVHWM, 100000);
	s_setopt_int(h->router, ZMQ_HEARTBEAT_IVL, QH_HEARTBEAT_IVL_MS);
	s_setopt_int(h->router, ZMQ_HEARTBEAT_TIMEOUT, QH_HEARTBEAT_TIMEOUT_MS);
	s_setopt_int(h->router, ZMQ_CURVE_SERVER, 1);
	zmq_setsockopt(h->router, ZMQ_CURVE_SECRETKEY, h->server_sk, AUTH_KEY_LEN);
	zmq_setsockopt(h->router, ZMQ_ZAP_DOMAIN, "drover-queues", 13);
	zmq_setsockopt(h->router, ZMQ_MAXMSGSIZE, &h->max_frame, sizeof(h->max_frame));
	snprintf(mon_ep, sizeof(mon_ep), MON_ENDPOINT_FMT, (void *)h);
	if (zmq_socket_monitor(h->router, mon_ep, MON_EVENTS) != 0 ||
	    (h->mon = zmq_socket(h->ctx, ZMQ_PAIR)) == NULL ||
	    s_setopt_int(h->mon, ZMQ_RCVHWM, 0) != 0 || s_setopt_int(h->mon, ZMQ_LINGER, 0) != 0 ||
	    zmq_connect(h->mon, mon_ep) != 0)
		goto zerr;
	if ((zfd = fcntl(h->listen_fd, F_DUPFD_CLOEXEC, 3)) < 0) {
		*err = str_printf("listen %s: %s", h->listen, strerror(errno));
		return -1;
	}
	if (s_setopt_int(h->router, ZMQ_USE_FD, zfd) != 0 || zmq_bind(h->router, h->listen) != 0) {
		*err = str_printf("listen %s: %s", h->listen, zmq_strerror(errno));
		close(zfd);
		return -1;
	}
	if (zmq_getsockopt(h->router, ZMQ_LAST_ENDPOINT, last, &ll) == 0 &&
	    strncmp(last, "tcp://", 6) == 0 && (colon = strrchr(last, ':')) != NULL)
		h->port = atoi(colon + 1);
	return 0;
zerr:
	*err = str_printf("ZeroMQ: %s", zmq_strerror(errno));
	return -1;
}

/* Closes the ZeroMQ side, waiting up to linger_ms for the replies already
   sent to reach the kernel (zmq_ctx_term waits for them). The listening
   socket stays open. */
static void
s_close(qh_t *h, int linger_ms)
{
	if (h->router != NULL) {
		zmq_socket_monitor(h->router, NULL, 0);
		s_setopt_int(h->router, ZMQ_LINGER, linger_ms);
		zmq_close(h->router);
		h->router = NULL;
	}
	if (h->mon != NULL)
		zmq_close(h->mon);
	h->mon = NULL;
	auth_zap_destroy(&h->zap);
	if (h->ctx != NULL)
		zmq_ctx_term(h->ctx);
	h->ctx = NULL;
	free(h->conns); /* every connection is gone */
	h->conns = NULL;
	h->n_conns = 0;
	h->clients = 0;
}

static int s_on_router(zloop_t *loop, zmq_pollitem_t *item, void *arg);
static int s_on_monitor(zloop_t *loop, zmq_pollitem_t *item, void *arg);
static int s_on_zap(zloop_t *loop, zmq_pollitem_t *item, void *arg);

static void
s_pollers(qh_t *h, bool on)
{
	zmq_pollitem_t items[3] = {{auth_zap_socket(h->zap), 0, ZMQ_POLLIN, 0},
				   {h->mon, 0, ZMQ_POLLIN, 0},
				   {h->router, 0, ZMQ_POLLIN, 0}};
	zloop_fn *fn[3] = {s_on_zap, s_on_monitor, s_on_router};

	for (int i = 0; i < 3; i++)
		if (on)
			zloop_poller(h->loop, &items[i], fn[i], h);
		else
			zloop_poller_end(h->loop, &items[i]);
}

/* ---- export ---- */

/* queue_host_export() in the actor: quiesce, flush, close, write. A failed
   write reopens the ROUTER and the host goes on serving (its sessions
   resume as after an import). */
static int
s_export(qh_t *h, int fd, char **err)
{
	size_t i;
	peer_t *p;
	char *err2 = NULL;

	*err = NULL;
	if (h->exported) {
		*err = str_printf("export: the queue host was exported already");
		return -1;
	}
	/* No request is read from here on; the connections that closed are
	   known, their peers die as they would have. */
	s_drain_monitor(h);
	s_pollers(h, false);
	if (h->timer_id != -1)
		zloop_timer_end(h->loop, h->timer_id);
	h->timer_id = -1;
	for (i = 0; i < h->n_buckets; i++)
		for (p = h->buckets[i]; p != NULL; p = p->hnext) {
			if (p->dead)
				continue;
			if (!p->session || p->closing) {
				qh__peer_kill(h, p); /* it cannot come back: leases go back */
				continue;
			}
			qh__peer_suspend(h, p);
			qh__peer_detach(h, p, 0);
		}
	/* Commit, answer what waited for the commit; then every reply goes to
	   the kernel before the connections close. */
	for (;;) {
		qh__settle(h);
		if (!store_pending(h->store) && h->n_deferred == 0 && h->n_confirms == 0)
			break;
		s_flush(h);
	}
	s_close(h, QH_EXPORT_LINGER_MS);
	if (qh__export_write(h, fd, err) == 0) {
		h->exported = true;
		return 0;
	}
	/* The sessions wait for their clients as after an import. */
	for (i = 0; i < h->n_buckets; i++)
		for (p = h->buckets[i]; p != NULL; p = p->hnext)
			if (p->detached)
				qh__peer_detach(h, p, zclock_mono() + QH_RESUME_GRACE_MS);
	if (s_open(h, &err2) != 0) {
		log_error("queues: after a failed export, cannot serve again: %s", err2);
		free(err2);
		s_close(h, 0);
		h->exported = true;
		return -1;
	}
	s_pollers(h, true);
	s_rearm(h);
	log_warn("queues: %s; serving on", *err);
	return -1;
}

/* ---- the actor ---- */

static int
s_on_pipe(zloop_t *loop, zsock_t *pipe, void *arg)
{
	qh_t *h = arg;
	char *cmd = NULL;
	void *ptr = NULL;
	int rc = 0;

	int seq = 0;

	if (zsock_recv(pipe, "spi", &cmd, &ptr, &seq) != 0 || cmd == NULL)
		return -1;
	if (streq(cmd, "$TERM")) {
		rc = -1;
	} else if (streq(cmd, "STATS")) {
		zsock_send(pipe, "ipii", seq, s_stats_json(h), 0, QH_STATS);
	} else if (streq(cmd, "METRICS")) {
		zsock_send(pipe, "ipii", seq, s_metrics_text(h), 0, QH_METRICS);
	} else if (streq(cmd, "APPLY")) {
		char *errs = NULL;
		int ok = -1;

		if (h->exported) {
			s_apply_err(&errs, "queues: droverd is being upgraded, no queue changed");
		} else {
			ok = s_apply(h, ptr, &errs);
			s_end_pass(h);
		}
		zsock_send(pipe, "ipii", seq, errs, ok, QH_APPLY);
	} else if (streq(cmd, "EXPORT")) {
		char *err = NULL;
		int ok = s_export(h, (int)(intptr_t)ptr, &err);

		zsock_send(pipe, "ipii", seq, err, ok, QH_EXPORT);
	}
	zstr_free(&cmd);
	return rc;
}

/* Frees the host; after an export without touching the store (nothing is
   pending) or requeueing anything: the next droverd has it all. */
static void
s_qh_free(qh_t *h)
{
	size_t i;
	peer_t *p;

	if (h == NULL)
		return;
	for (i = 0; i < h->n_queues; i++)
		qh__queue_free(h, h->queues[i]);
	free(h->queues);
	h->n_queues = 0;
	for (i = 0; i < h->n_buckets; i++)
		while ((p = h->buckets[i]) != NULL) {
			qh__peer_kill(h, p);
			qh__settle(h);
		}
	store_close(&h->store);
	s_close(h, 0);
	if (h->listen_fd >= 0)
		close(h->listen_fd);
	sodium_memzero(h->server_sk, sizeof(h->server_sk));
	free(h->buckets);
	free(h->conns);
	free(h->slots);
	free(h->gens);
	free(h->free_slots);
	free(h->heap);
	free(h->fr);
	free(h->deferred);
	free(h->confirms);
	free(h->listen);
	free(h->authkey_file);
	free(h->state_dir);
	free(h);
}

/* Takes ownership of args, a qh_t from s_setup(). */
static void
s_actor(zsock_t *pipe, void *args)
{
	qh_t *h = args;
	sigset_t all;

	/* No signal is this thread's, as none is ZeroMQ's own threads': a
	   handler run in zloop's zmq_poll() makes it fail with EINTR, which
	   ends the loop for good (zloop stops on any error). droverd blocks
	   its signals anyway; a program that embeds the host may not. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	h->loop = zloop_new();
	zloop_set_nonstop(h->loop, true);
	zloop_reader(h->loop, pipe, s_on_pipe, h);
	s_pollers(h, true);
	s_rearm(h); /* imported leases and sessions have deadlines */
	zsock_signal(pipe, 0);
	zloop_start(h->loop);
	zloop_destroy(&h->loop);
	s_qh_free(h);
}

/* Everything that can fail, before the actor starts. listen_fd (>= 0) is
   the host's once it returns a host, never closed when it fails. */
static qh_t *
s_setup(const conf_t *conf, int listen_fd, int import_fd, char **err)
{
	qh_t *h = calloc(1, sizeof(*h));
	uint8_t *key = NULL;
	size_t key_len = 0, i;
	auth_keypair_t server, client;
	int rc, fl;

	if (h == NULL)
		return NULL;
	h->timer_id = -1;
	h->listen_fd = -1;
	memset(&server, 0, sizeof(server));
	if (conf->queues_authkey_file == NULL) {
		*err = str_printf(
		    "supervisor.queues.authkey_file is not set: the queues need a shared authkey");
		goto fail;
	}
	if ((rc = auth_read_keyfile(conf->queues_authkey_file, &key, &key_len)) != 0) {
		*err = str_printf("authkey_file %s: %s", conf->queues_authkey_file,
				  secret_strerror(rc));
		goto fail;
	}
	rc = auth_derive(key, key_len, AUTH_SERVER, &server);
	if (rc == 0)
		rc = auth_derive(key, key_len, AUTH_CLIENT, &client);
	auth_key_free(key, key_len);
	if (rc != 0) {
		*err = str_printf("cannot derive the CURVE keys: %s", strerror(-rc));
		goto fail;
	}
	memcpy(h->server_sk, server.secret_key, AUTH_KEY_LEN);
	memcpy(h->client_pk, client.public_key, AUTH_KEY_LEN);
	sodium_memzero(&server, sizeof(server));
	sodium_memzero(&client, sizeof(client));
	if ((h->listen = strdup(conf->queues_listen)) == NULL ||
	    (h->authkey_file = strdup(conf->queues_authkey_file)) == NULL ||
	    (h->state_dir = strdup(conf->state_dir)) == NULL)
		goto oom;
	h->max_frame = s_max_frame(conf);
	if ((h->queues = calloc(conf->n_queues + 1, sizeof(*h->queues))) == NULL)
		goto oom;
	for (i = 0; i < conf->n_queues; i++) {
		if ((h->queues[i] = qh__queue_new(&conf->queues[i])) == NULL)
			goto oom;
		h->n_queues++;
		if (h->queues[i]->durable && s_make_durable(h, h->queues[i], err) != 0)
			goto fail;
	}

	if (!zmq_has("curve")) {
		*err = str_printf("this libzmq has no CURVE support");
		goto fail;
	}
	if (listen_fd >= 0) {
		/* Inherited: close-on-exec again (droverd cleared it for the exec)
		   and non-blocking, as ZeroMQ needs. */
		if (!net_is_listener(listen_fd)) {
			*err = str_printf("listen %s: descriptor %d is not a listening socket",
					  conf->queues_listen, listen_fd);
			goto fail;
		}
		h->listen_fd = listen_fd;
		fcntl(listen_fd, F_SETFD, FD_CLOEXEC);
		if ((fl = fcntl(listen_fd, F_GETFL)) >= 0 && !(fl & O_NONBLOCK))
			fcntl(listen_fd, F_SETFL, fl | O_NONBLOCK);
	} else if ((h->listen_fd = net_listen_zmq(conf->queues_listen, "listen", err)) < 0) {
		goto fail;
	}
	rc = s_open(h, err);
	if (listen_fd >= 0 && rc != 0)
		h->listen_fd = -1; /* the caller's still */
	if (rc != 0)
		goto fail;

	if (import_fd >= 0) {
		if (qh__import(h, import_fd, err) != 0)
			goto fail;
	} else if (h->store != NULL && store_load(h->store, -1, s_load_row, h, err) != 0) {
		goto fail;
	}
	for (i = 0; i < h->n_queues; i++) {
		queue_t *q = h->queues[i];

		if (q->in_flight > 0)
			log_info("queues: %s: %zu messages back, %llu of them leased", q->name,
				 q->ready.len + (size_t)q->in_flight,
				 (unsigned long long)q->in_flight);
		else if (q->ready.len > 0)
			log_info("queues: %s: %zu messages back", q->name, q->ready.len);
	}
	return h;
oom:
	*err = str_printf("out of memory");
fail:
	sodium_memzero(&server, sizeof(server));
	if (listen_fd >= 0)
		h->listen_fd = -1; /* never closed on failure: the caller's */
	s_qh_free(h);
	return NULL;
}

queue_host_t *
queue_host_new(const conf_t *conf, int listen_fd, int import_fd, char **err)
{
	queue_host_t *qh;
	qh_t *h;
	size_t i;
	int fd;

	*err = NULL;
	if ((h = s_setup(conf, listen_fd, import_fd, err)) == NULL) {
		if (*err == NULL)
			*err = str_printf("out of memory");
		return NULL;
	}
	fd = h->listen_fd;
	if ((qh = calloc(1, sizeof(*qh))) == NULL || (qh->actor = zactor_new(s_actor, h)) == NULL) {
		free(qh);
		if (listen_fd >= 0)
			h->listen_fd = -1;
		s_qh_free(h);
		*err = str_printf("cannot start the queue thread");
		return NULL;
	}
	qh->listen_fd = fd;
	log_info("queues: listening on %s%s, %zu queue%s", conf->queues_listen,
		 listen_fd >= 0 ? " (a socket handed over)" : "", conf->n_queues,
		 conf->n_queues == 1 ? "" : "s");
	for (i = 0; i < conf->n_queues; i++)
		log_debug("queues: %s: capacity %lld, lease %lldms, max_message %lld%s",
			  conf->queues[i].name, (long long)conf->queues[i].capacity,
			  (long long)conf->queues[i].lease_ms,
			  (long long)conf->queues[i].max_message,
			  conf->queues[i].durable ? ", durable" : "");
	return qh;
}

int
queue_host_listen_fd(queue_host_t *qh)
{
	return qh != NULL ? qh->listen_fd : -1;
}

/* Asks the actor and waits at most timeout_ms for its answer: droverd's
   loop never waits on the queue thread without a deadline. Replies to
   earlier requests whose callers gave up are freed on the way. 0 and *ptr,
   *ival; -ETIMEDOUT; -EIO. */
static int
s_ask(queue_host_t *qh, const char *cmd, void *arg, int timeout_ms, void **ptr, int *ival)
{
	int seq = ++qh->seq, rseq, kind, iv;
	int64_t deadline = zclock_mono() + timeout_ms, left;
	void *p;

	if (zsock_send(qh->actor, "spi", cmd, arg, seq) != 0)
		return -EIO;
	while ((left = deadline - zclock_mono()) > 0) {
		zsock_set_rcvtimeo(qh->actor, (int)left);
		p = NULL;
		if (zsock_recv(qh->actor, "ipii", &rseq, &p, &iv, &kind) != 0)
			break;
		if (rseq == seq) {
			zsock_set_rcvtimeo(qh->actor, -1);
			*ptr = p;
			*ival = iv;
			qh->late_logged = false;
			return 0;
		}
		if (kind == QH_STATS) /* late: nobody waits for it any more */
			json_decref(p);
		else if (kind == QH_METRICS || kind == QH_EXPORT || kind == QH_APPLY)
			free(p);
	}
	zsock_set_rcvtimeo(qh->actor, -1); /* zactor_destroy() waits without one */
	if (!qh->late_logged)
		log_warn("queues: no answer to %s within %d ms: answering from the last numbers",
			 cmd, timeout_ms);
	qh->late_logged = true;
	return -ETIMEDOUT;
}

int
queue_host_apply(queue_host_t *qh, const conf_t *next, char **err)
{
	void *p = NULL;
	int ok = -1;

	*err = NULL;
	if (qh == NULL || s_ask(qh, "APPLY", (void *)next, QH_APPLY_MS, &p, &ok) != 0) {
		*err = str_printf("queues: the queue thread did not answer within %d s; the "
				  "changes may take effect later\n",
				  QH_APPLY_MS / 1000);
		return -1;
	}
	if (ok != 0)
		*err = p != NULL ? p : str_printf("queues: not every change was applied\n");
	else
		free(p);
	return ok;
}

int
queue_host_export(queue_host_t *qh, int fd, char **err)
{
	void *p = NULL;
	int ok = -1, rc;

	*err = NULL;
	if (qh == NULL || fd < 0) {
		*err = str_printf("export: no queue host or no descriptor");
		return -1;
	}
	rc = s_ask(qh, "EXPORT", (void *)(intptr_t)fd, QH_EXPORT_MS, &p, &ok);
	if (rc != 0) {
		*err = str_printf("export: the queue thread did not answer within %d s",
				  QH_EXPORT_MS / 1000);
		return -1;
	}
	if (ok != 0)
		*err = p != NULL ? p : str_printf("export failed");
	else
		free(p);
	return ok;
}

json_t *
queue_host_stats(queue_host_t *qh)
{
	void *p = NULL;
	int iv;

	if (qh == NULL)
		return json_array();
	if (s_ask(qh, "STATS", NULL, QH_ASK_MS, &p, &iv) == 0 && p != NULL) {
		json_decref(qh->stats);
		qh->stats = json_deep_copy(p);
		return p;
	}
	return qh->stats ? json_deep_copy(qh->stats) : json_array();
}

char *
queue_host_metrics(queue_host_t *qh)
{
	void *p = NULL;
	int iv;

	if (qh == NULL)
		return NULL;
	if (s_ask(qh, "METRICS", NULL, QH_ASK_MS, &p, &iv) == 0 && p != NULL) {
		free(qh->metrics);
		qh->metrics = strdup(p);
		return p;
	}
	return qh->metrics ? strdup(qh->metrics) : NULL;
}

void
queue_host_destroy(queue_host_t **qhp)
{
	if (qhp == NULL || *qhp == NULL)
		return;
	zactor_destroy(&(*qhp)->actor);
	json_decref((*qhp)->stats);
	free((*qhp)->metrics);
	free(*qhp);
	*qhp = NULL;
}
