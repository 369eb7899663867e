#include "ev.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "clock.h"

struct ev {
	int epfd;
	int tfd;
	ev_io_t tio;
	ev_timer_t **heap; /* 1-based min-heap by at_ms */
	size_t n_heap, cap_heap;
	int64_t armed_ms;    /* deadline the timerfd is armed for; -1 none */
	uint64_t timer_pass; /* counts passes over due timers */
	bool timers_dirty;   /* the heap changed: re-arm before sleeping */
	bool stop;
	uint64_t wakeups;
	struct ev_later {
		void *p;
		void (*fn)(void *);
	} * later;
	size_t n_later, cap_later;
};

static void s_timerfd_ready(ev_t *ev, ev_io_t *io, uint32_t events);

static void
s_run_later(ev_t *ev)
{
	size_t i;

	for (i = 0; i < ev->n_later; i++)
		ev->later[i].fn(ev->later[i].p);
	ev->n_later = 0;
}

void
ev_free_later(ev_t *ev, void *p, void (*fn)(void *))
{
	struct ev_later *l;
	size_t cap;

	if (ev->n_later == ev->cap_later) {
		cap = ev->cap_later ? ev->cap_later * 2 : 16;
		l = realloc(ev->later, cap * sizeof(*l));
		if (l == NULL) {
			fn(p); /* cannot defer: free now rather than leak */
			return;
		}
		ev->later = l;
		ev->cap_later = cap;
	}
	ev->later[ev->n_later].p = p;
	ev->later[ev->n_later].fn = fn;
	ev->n_later++;
}

ev_t *
ev_new(void)
{
	ev_t *ev = calloc(1, sizeof(*ev));
	int err;

	if (ev == NULL)
		return NULL;
	ev->epfd = epoll_create1(EPOLL_CLOEXEC);
	ev->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	ev->armed_ms = -1;
	if (ev->epfd < 0 || ev->tfd < 0 ||
	    ev_io_start(ev, &ev->tio, ev->tfd, EPOLLIN, s_timerfd_ready, NULL) != 0) {
		err = errno;
		ev_destroy(&ev);
		errno = err;
		return NULL;
	}
	return ev;
}

void
ev_destroy(ev_t **evp)
{
	ev_t *ev;

	if (evp == NULL || *evp == NULL)
		return;
	ev = *evp;
	if (ev->epfd >= 0)
		close(ev->epfd);
	if (ev->tfd >= 0)
		close(ev->tfd);
	s_run_later(ev);
	free(ev->later);
	free(ev->heap);
	free(ev);
	*evp = NULL;
}

int
ev_io_start(ev_t *ev, ev_io_t *io, int fd, uint32_t events, ev_io_fn *fn, void *arg)
{
	struct epoll_event e = {.events = events, .data.ptr = io};

	io->fd = fd;
	io->events = events;
	io->fn = fn;
	io->arg = arg;
	if (epoll_ctl(ev->epfd, EPOLL_CTL_ADD, fd, &e) == -1) {
		io->fn = NULL;
		return -errno;
	}
	return 0;
}

int
ev_io_modify(ev_t *ev, ev_io_t *io, uint32_t events)
{
	struct epoll_event e = {.events = events, .data.ptr = io};

	if (io->events == events)
		return 0;
	if (epoll_ctl(ev->epfd, EPOLL_CTL_MOD, io->fd, &e) == -1)
		return -errno;
	io->events = events;
	return 0;
}

void
ev_io_stop(ev_t *ev, ev_io_t *io)
{
	if (io->fn == NULL)
		return;
	epoll_ctl(ev->epfd, EPOLL_CTL_DEL, io->fd, NULL);
	io->fn = NULL;
	io->events = 0;
}

/* Heap helpers: the heap holds pointers; each timer knows its index. */
static void
s_heap_set(ev_t *ev, size_t i, ev_timer_t *t)
{
	ev->heap[i] = t;
	t->heap_idx = i;
}

static void
s_heap_up(ev_t *ev, size_t i)
{
	ev_timer_t *t = ev->heap[i];

	while (i > 1 && ev->heap[i / 2]->at_ms > t->at_ms) {
		s_heap_set(ev, i, ev->heap[i / 2]);
		i /= 2;
	}
	s_heap_set(ev, i, t);
}

static void
s_heap_down(ev_t *ev, size_t i)
{
	ev_timer_t *t = ev->heap[i];
	size_t c;

	while ((c = 2 * i) <= ev->n_heap) {
		if (c < ev->n_heap && ev->heap[c + 1]->at_ms < ev->heap[c]->at_ms)
			c++;
		if (ev->heap[c]->at_ms >= t->at_ms)
			break;
		s_heap_set(ev, i, ev->heap[c]);
		i = c;
	}
	s_heap_set(ev, i, t);
}

/* Arms the timerfd for the earliest deadline, or disarms it when none. */
static void
s_rearm(ev_t *ev)
{
	struct itimerspec its;
	int64_t at;

	at = ev->n_heap > 0 ? ev->heap[1]->at_ms : -1;
	if (at == ev->armed_ms)
		return;
	memset(&its, 0, sizeof(its));
	if (at >= 0) {
		if (at < 1)
			at = 1; /* 0 would disarm */
		its.it_value.tv_sec = at / 1000;
		its.it_value.tv_nsec = (at % 1000) * 1000000;
	}
	timerfd_settime(ev->tfd, TFD_TIMER_ABSTIME, &its, NULL);
	ev->armed_ms = at;
}

void
ev_timer_stop(ev_t *ev, ev_timer_t *t)
{
	size_t i = t->heap_idx;
	ev_timer_t *last;

	if (i == 0)
		return;
	last = ev->heap[ev->n_heap--];
	t->heap_idx = 0;
	if (last != t) {
		s_heap_set(ev, i, last);
		s_heap_up(ev, i);
		s_heap_down(ev, last->heap_idx);
	}
	ev->timers_dirty = true;
}

void
ev_timer_start(ev_t *ev, ev_timer_t *t, int64_t at_ms, ev_timer_fn *fn, void *arg)
{
	ev_timer_t **h;
	size_t cap;

	ev_timer_stop(ev, t);
	t->at_ms = at_ms;
	t->pass = ev->timer_pass;
	t->fn = fn;
	t->arg = arg;
	if (ev->n_heap + 1 >= ev->cap_heap) {
		cap = ev->cap_heap ? ev->cap_heap * 2 : 64;
		h = realloc(ev->heap, cap * sizeof(*h));
		if (h == NULL)
			abort(); /* a few bytes per timer: out of memory here is fatal */
		ev->heap = h;
		ev->cap_heap = cap;
	}
	ev->n_heap++;
	s_heap_set(ev, ev->n_heap, t);
	s_heap_up(ev, ev->n_heap);
	ev->timers_dirty = true;
}

/* Fires every timer whose deadline has passed. A callback may start or stop
   timers, including the one that fired; a timer armed during this pass waits
   for the next one, so a callback that re-arms itself for "now" cannot keep
   the loop from its fds. */
static void
s_timerfd_ready(ev_t *ev, ev_io_t *io, uint32_t events)
{
	uint64_t ticks;
	int64_t now = clock_ms();
	ev_timer_t *t;

	if (read(ev->tfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		return;
	ev->armed_ms = -1;
	ev->timer_pass++;
	while (ev->n_heap > 0 && ev->heap[1]->at_ms <= now && ev->heap[1]->pass != ev->timer_pass) {
		t = ev->heap[1];
		ev_timer_stop(ev, t);
		t->fn(ev, t);
	}
	ev->timers_dirty = true;
}

int
ev_run_once(ev_t *ev, int timeout_ms)
{
	struct epoll_event evs[64];
	ev_io_t *io;
	int i, n;

	/* One timerfd_settime per pass at most, however many timers changed. */
	if (ev->timers_dirty) {
		ev->timers_dirty = false;
		s_rearm(ev);
	}
	n = epoll_wait(ev->epfd, evs, 64, timeout_ms);
	ev->wakeups++;
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (i = 0; i < n; i++) {
		io = evs[i].data.ptr;
		if (io->fn != NULL)
			io->fn(ev, io, evs[i].events);
	}
	s_run_later(ev);
	return 0;
}

int
ev_run(ev_t *ev)
{
	int rc = 0;

	ev->stop = false;
	while (!ev->stop && rc == 0)
		rc = ev_run_once(ev, -1);
	return rc;
}

void
ev_break(ev_t *ev)
{
	ev->stop = true;
}

uint64_t
ev_wakeups(const ev_t *ev)
{
	return ev->wakeups;
}
