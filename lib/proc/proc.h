/* proc: the process core. Spawns and watches the worker processes of a
   configuration, one proc_t per instance ("group:index"), drives the state
   machine of SPEC 3 (restarts with backoff, start_timeout, readiness,
   max_restarts, dependency order), captures output, and applies a new
   configuration by difference. droverd and drover-agent both run it.

   Everything here is single-threaded: the core belongs to the thread that
   runs its ev_t loop, and every call must come from that thread. The caller
   must have blocked SIGCHLD (and the signals it wants as fds) in every thread
   before calling proc_core_new(). */
#ifndef DROVER_PROC_H
#define DROVER_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "conf.h"
#include "ev.h"

typedef enum {
	PROC_STOPPED,
	PROC_STARTING,
	PROC_RUNNING,
	PROC_BACKOFF,
	PROC_STOPPING,
	PROC_EXITED,
	PROC_FATAL,
	PROC_UNKNOWN
} proc_state_t;

typedef struct proc_core proc_core_t;
typedef struct proc proc_t;

/* What the core tells its owner. Every callback is optional. */
typedef struct {
	/* p changed state (or pid, or readiness). */
	void (*on_change)(void *ctx, const proc_t *p);
	/* A group was added, removed, scaled or changed by proc_core_apply(). */
	void (*on_group)(void *ctx, const char *group, const char *what);
	/* proc_core_shutdown() has finished: no process of any group is left. */
	void (*on_stopped)(void *ctx);
} proc_events_t;

/* Creates a core on loop ev. host is ${HOST}. Returns NULL with errno set. */
proc_core_t *proc_core_new(ev_t *ev, const char *host, const proc_events_t *events, void *ctx);
/* Kills (SIGKILL) whatever still runs and frees the core. */
void proc_core_destroy(proc_core_t **corep);

/* Makes the running set match conf: the first call creates everything and
   starts the autostart groups in dependency order; later calls start added
   groups, stop removed ones, restart changed ones, add or remove instances of
   scaled ones, and leave the rest alone. The core keeps a reference to conf
   until the next apply or destroy: conf must outlive that (the caller owns it). */
int proc_core_apply(proc_core_t *core, const conf_t *conf);

/* Stops every process in reverse dependency order within the stop timeouts,
   then calls on_stopped. No restarts happen after this. */
void proc_core_shutdown(proc_core_t *core);

/* Lookup and iteration, ordered by group (config order) then instance. */
size_t proc_core_count(const proc_core_t *core);
proc_t *proc_core_at(const proc_core_t *core, size_t i);	   /* 0 <= i < count */
proc_t *proc_core_find(const proc_core_t *core, const char *name); /* "web:2" */
const conf_t *proc_core_conf(const proc_core_t *core);
/* Number of instances of a group currently in each state; returns the total. */
size_t proc_core_group_states(const proc_core_t *core, const char *group,
			      size_t counts[PROC_UNKNOWN + 1]);

/* Actions on one process: 0, or -errno: -EALREADY (already in that state),
   -ESRCH (no such process / not running), -EINVAL. */
int proc_start(proc_core_t *core, proc_t *p);
int proc_stop(proc_core_t *core, proc_t *p);
int proc_restart(proc_core_t *core, proc_t *p);
int proc_signal(proc_core_t *core, proc_t *p, int sig);

/* Actions on a group: -ENOENT for an unknown group. A rolling restart
   restarts one instance at a time, each once the previous one is RUNNING. */
int proc_group_start(proc_core_t *core, const char *group);
int proc_group_stop(proc_core_t *core, const char *group);
int proc_group_restart(proc_core_t *core, const char *group, bool rolling);
/* Sets the instance count (added ones start when the group is started). */
int proc_group_scale(proc_core_t *core, const char *group, unsigned instances);

/* Accessors. Pointers stay valid until the process is removed. */
const char *proc_name(const proc_t *p); /* "web:2" */
const char *proc_group(const proc_t *p);
unsigned proc_instance(const proc_t *p);
proc_state_t proc_state(const proc_t *p);
const char *proc_state_name(proc_state_t s); /* "RUNNING" */
pid_t proc_pid(const proc_t *p);	     /* 0 when not running */
double proc_since(const proc_t *p);	     /* Unix time of the last state change */
unsigned proc_restarts(const proc_t *p);     /* automatic and manual restarts so far */
int proc_exit_code(const proc_t *p);	     /* -1 when none (or killed by a signal) */
int proc_exit_signal(const proc_t *p);	     /* 0 when none */
bool proc_ready(const proc_t *p);
/* Last error worth showing (e.g. "exec ./run: No such file or directory"), or NULL. */
const char *proc_error(const proc_t *p);
/* Path of the captured stream ("stdout" or "stderr"), or NULL if not captured
   to a file (merged stderr gives the stdout file). */
const char *proc_log_path(const proc_t *p, const char *stream);
/* CPU seconds (user+system) and resident bytes from /proc, sampled at most
   every 1s per process; -1 when not running. */
void proc_usage(proc_t *p, double *cpu_seconds, int64_t *rss_bytes);

#endif
