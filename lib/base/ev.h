/* ev: the event loop every thread of drover that is not a CZMQ actor runs.

   One epoll set for all file descriptors (only ready ones cost anything) and
   one timerfd armed at the earliest deadline of a binary min-heap of timers.
   With no timers armed the loop sleeps in epoll_wait until an fd is ready:
   an idle process makes no wakeups. Watchers and timers are structs the caller
   embeds in its own objects, so starting one never allocates. Not thread-safe:
   one loop, one owner thread. */
#ifndef DROVER_EV_H
#define DROVER_EV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ev ev_t;
typedef struct ev_io ev_io_t;
typedef struct ev_timer ev_timer_t;

typedef void(ev_io_fn)(ev_t *ev, ev_io_t *io, uint32_t events);
typedef void(ev_timer_fn)(ev_t *ev, ev_timer_t *t);

struct ev_io {
	int fd;
	uint32_t events; /* EPOLLIN | EPOLLOUT ...; 0 = not watched */
	ev_io_fn *fn;
	void *arg;
};

struct ev_timer {
	int64_t at_ms;	 /* monotonic deadline */
	size_t heap_idx; /* 0 = not armed; else 1-based index in the heap */
	uint64_t pass;	 /* the timer pass it was armed in (internal) */
	ev_timer_fn *fn;
	void *arg;
};

/* NULL with errno set on failure. */
ev_t *ev_new(void);
void ev_destroy(ev_t **evp);

/* Starts watching fd for events (EPOLLIN, EPOLLOUT, ...). Returns 0 or -errno. */
int ev_io_start(ev_t *ev, ev_io_t *io, int fd, uint32_t events, ev_io_fn *fn, void *arg);
/* Changes the events watched; 0 events keeps the fd registered but quiet. */
int ev_io_modify(ev_t *ev, ev_io_t *io, uint32_t events);
/* Stops watching (call before closing the fd). Safe on a stopped watcher. */
void ev_io_stop(ev_t *ev, ev_io_t *io);
static inline bool
ev_io_active(const ev_io_t *io)
{
	return io->fn != NULL;
}

/* Arms t to fire once at the monotonic deadline at_ms (re-arms if armed). */
void ev_timer_start(ev_t *ev, ev_timer_t *t, int64_t at_ms, ev_timer_fn *fn, void *arg);
void ev_timer_stop(ev_t *ev, ev_timer_t *t);
static inline bool
ev_timer_active(const ev_timer_t *t)
{
	return t->heap_idx != 0;
}

/* Runs until ev_break(); returns 0, or -errno if epoll itself failed. */
int ev_run(ev_t *ev);
/* Waits at most timeout_ms (-1 forever) for one batch of events and handles it. */
int ev_run_once(ev_t *ev, int timeout_ms);
void ev_break(ev_t *ev);
/* Calls fn(p) after the current batch of events has been handled: for
   objects that embed a watcher which may still be named by a pending event. */
void ev_free_later(ev_t *ev, void *p, void (*fn)(void *));
/* Number of wakeups so far (epoll_wait returns), for tests and metrics. */
uint64_t ev_wakeups(const ev_t *ev);

#endif
