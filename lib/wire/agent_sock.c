/* A ZeroMQ socket in an ev loop. ZMQ_FD is edge-triggered and only says
   "look at ZMQ_EVENTS": each wakeup receives until ZMQ_EVENTS has no
   POLLIN, and every send is followed by such a look on the next loop pass,
   since a send can swallow the edge of a message that arrived meanwhile. */
#include "agent_wire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <zmq.h>

#include "clock.h"

#define AWIRE_PUMP_MAX 256 /* messages per pass, so that one peer cannot hog the loop */

struct awire_sock {
	ev_t *ev;
	void *zsock;
	bool router;
	awire_msg_fn *fn;
	awire_bad_fn *bad;
	void *arg;
	ev_io_t io;
	ev_timer_t again; /* look at ZMQ_EVENTS on the next pass */
	bool pumping;
};

static void s_pump(awire_sock_t *s);

static void
s_on_io(ev_t *ev, ev_io_t *io, uint32_t events)
{
	s_pump(io->arg);
}

static void
s_on_again(ev_t *ev, ev_timer_t *t)
{
	s_pump(t->arg);
}

static void
s_later(awire_sock_t *s)
{
	if (!ev_timer_active(&s->again))
		ev_timer_start(s->ev, &s->again, clock_ms(), s_on_again, s);
}

/* One part of a message, without waiting. A signal caught meanwhile
   (EINTR, before the part is queued) is no reason to lose the message, nor
   to leave its first parts queued for the next message to complete. */
static int
s_send_part(void *zsock, const void *p, size_t n, int flags)
{
	int rc;

	while ((rc = zmq_send(zsock, p, n, flags | ZMQ_DONTWAIT)) < 0 && errno == EINTR)
		;
	return rc;
}

/* One part of a message, without waiting; EINTR as in s_send_part(): a
   message's later parts are there once its first is. */
static int
s_recv_part(zmq_msg_t *m, void *zsock)
{
	int rc;

	while ((rc = zmq_msg_recv(m, zsock, ZMQ_DONTWAIT)) < 0 && errno == EINTR)
		;
	return rc;
}

/* ZMQ_EVENTS. Stopping at an EINTR would leave messages unread with no
   edge on ZMQ_FD to come for them. */
static int
s_events(void *zsock, uint32_t *ev)
{
	size_t el = sizeof(*ev);
	int rc;

	while ((rc = zmq_getsockopt(zsock, ZMQ_EVENTS, ev, &el)) != 0 && errno == EINTR)
		;
	return rc;
}

/* Receives the rest of a message that has more parts, and drops it. */
static void
s_drain(void *zsock)
{
	zmq_msg_t m;
	int more = 1;
	size_t ml = sizeof(more);

	while (more) {
		zmq_msg_init(&m);
		if (s_recv_part(&m, zsock) < 0) {
			zmq_msg_close(&m);
			return;
		}
		zmq_getsockopt(zsock, ZMQ_RCVMORE, &more, &ml);
		zmq_msg_close(&m);
	}
}

/* Receives one message: [rid] type body. 1 when one was handled, 0 when
   none is pending. */
static int
s_recv_one(awire_sock_t *s)
{
	zmq_msg_t f[3];
	int n = 0, more = 1, want = s->router ? 3 : 2, i;
	size_t ml = sizeof(more);
	awire_from_t from = {0};
	char why[200];
	awire_type_t t;
	json_t *body;

	while (more && n < want) {
		zmq_msg_init(&f[n]);
		if (s_recv_part(&f[n], s->zsock) < 0) {
			zmq_msg_close(&f[n]);
			for (i = 0; i < n; i++)
				zmq_msg_close(&f[i]);
			return n == 0 ? 0 : 1;
		}
		n++;
		zmq_getsockopt(s->zsock, ZMQ_RCVMORE, &more, &ml);
	}
	if (more)
		s_drain(s->zsock);
	if (s->router) {
		from.rid = zmq_msg_data(&f[0]);
		from.rid_len = zmq_msg_size(&f[0]);
	}
	from.user = zmq_msg_gets(&f[n - 1], "User-Id");
	from.peer = zmq_msg_gets(&f[n - 1], "Peer-Address");
	if (n != want || more) {
		if (s->bad)
			s->bad(s->arg, &from, "wrong number of frames");
	} else if (awire_decode(zmq_msg_data(&f[want - 2]), zmq_msg_size(&f[want - 2]),
				zmq_msg_data(&f[want - 1]), zmq_msg_size(&f[want - 1]), &t, &body,
				why, sizeof(why)) != 0) {
		if (s->bad)
			s->bad(s->arg, &from, why);
	} else {
		s->fn(s->arg, &from, t, body);
	}
	for (i = 0; i < n; i++)
		zmq_msg_close(&f[i]);
	return 1;
}

static void
s_pump(awire_sock_t *s)
{
	uint32_t ev = 0;
	int n = 0;

	if (s->pumping) /* a handler sent something: we look again anyway */
		return;
	s->pumping = true;
	while (n < AWIRE_PUMP_MAX && s_events(s->zsock, &ev) == 0 && (ev & ZMQ_POLLIN)) {
		if (s_recv_one(s) == 0)
			break;
		n++;
	}
	s->pumping = false;
	if (n == AWIRE_PUMP_MAX)
		s_later(s); /* more waiting: after the rest of the loop had its turn */
}

awire_sock_t *
awire_sock_new(ev_t *ev, void *zsock, bool router, awire_msg_fn *fn, awire_bad_fn *bad, void *arg)
{
	awire_sock_t *s = calloc(1, sizeof(*s));
	int fd, rc;
	size_t fl = sizeof(fd);

	if (s == NULL)
		return NULL;
	s->ev = ev;
	s->zsock = zsock;
	s->router = router;
	s->fn = fn;
	s->bad = bad;
	s->arg = arg;
	if (zmq_getsockopt(zsock, ZMQ_FD, &fd, &fl) != 0 ||
	    (rc = ev_io_start(ev, &s->io, fd, EPOLLIN, s_on_io, s)) != 0) {
		free(s);
		errno = EINVAL;
		return NULL;
	}
	s_later(s);
	return s;
}

void
awire_sock_destroy(awire_sock_t **sp)
{
	if (sp == NULL || *sp == NULL)
		return;
	ev_io_stop((*sp)->ev, &(*sp)->io);
	ev_timer_stop((*sp)->ev, &(*sp)->again);
	free(*sp);
	*sp = NULL;
}

int
awire_send(awire_sock_t *s, const void *rid, size_t rid_len, awire_type_t t, json_t *body)
{
	const char *type = awire_type_name(t);
	size_t len;
	char *text = awire_encode(body, &len);
	int rc = 0;

	if (text == NULL)
		return -ENOMEM;
	if ((s->router && s_send_part(s->zsock, rid, rid_len, ZMQ_SNDMORE) < 0) ||
	    s_send_part(s->zsock, type, strlen(type), ZMQ_SNDMORE) < 0 ||
	    s_send_part(s->zsock, text, len, 0) < 0)
		rc = -errno;
	free(text);
	/* A send can swallow the fd's edge for a message that came meanwhile:
	   look now, and pump on the next pass only if one did (the common
	   case costs no timer and no extra wakeup). */
	if (!s->pumping) {
		uint32_t ev = 0;

		if (s_events(s->zsock, &ev) != 0 || (ev & ZMQ_POLLIN))
			s_later(s);
	}
	return rc;
}

void
awire_tcp_liveness(void *zsock, int64_t dead_ms)
{
	int maxrt = (int)dead_ms, on = 1, idle = (int)(dead_ms / 2000), intvl, cnt = 3;

	if (idle < 1)
		idle = 1;
	intvl = (int)(dead_ms / 1000 - idle) / cnt;
	if (intvl < 1)
		intvl = 1;
	zmq_setsockopt(zsock, ZMQ_TCP_MAXRT, &maxrt, sizeof(maxrt));
	zmq_setsockopt(zsock, ZMQ_TCP_KEEPALIVE, &on, sizeof(on));
	zmq_setsockopt(zsock, ZMQ_TCP_KEEPALIVE_IDLE, &idle, sizeof(idle));
	zmq_setsockopt(zsock, ZMQ_TCP_KEEPALIVE_INTVL, &intvl, sizeof(intvl));
	zmq_setsockopt(zsock, ZMQ_TCP_KEEPALIVE_CNT, &cnt, sizeof(cnt));
}
