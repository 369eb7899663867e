/* proc: the process engine. Runs the groups placed on this host, one proc_t
   per instance ("group:index"): spawns and watches them, drives the state
   machine of SPEC 3 (restarts with backoff, start_timeout, readiness,
   max_restarts, dependency order among these groups), captures output, and
   applies a new set of groups by difference. droverd runs it for its own
   host and drover-agent for the host it is on; the engine knows nothing of
   either, nor of HTTP, ZeroMQ or other hosts.

   Everything here is single-threaded: the core belongs to the thread that
   runs its ev_t loop, and every call must come from that thread. The
   program owns the process-wide settings: it calls proc_host_setup() once
   before any thread exists, blocks SIGCHLD, and calls proc_core_reap() when
   SIGCHLD arrives. */
#ifndef DROVER_PROC_H
#define DROVER_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <jansson.h>

#include "conf.h"
#include "ev.h"
#include "pstate.h"

/* What the program gives every worker back of its own process-wide state. */
typedef struct {
	struct rlimit nofile; /* the descriptor limit before proc_host_setup raised it */
} proc_host_t;

/* Once per program, before any thread: makes this process a child
   subreaper (orphaned grandchildren are re-parented to it, so none is left
   behind) and raises its descriptor limit to the hard limit (many workers
   mean many pipes and log files). Fills *h with what workers get back.
   0 or -errno. */
int proc_host_setup(proc_host_t *h);

/* Where the engine runs: copied by proc_core_new(). */
typedef struct {
	const char *host;    /* ${HOST} */
	const char *dir;     /* workers' default cwd (the config file's directory) */
	const char *log_dir; /* where "auto" output files go; created if missing */
	proc_host_t limits;  /* from proc_host_setup() */
	/* Workers get SIGKILL when the program dies (drover-agent: never a
	   worker left running unsupervised). */
	bool die_with_owner;
	/* Where the engine keeps the list of its running workers (NULL: none),
	   for proc_leftovers_stop() after a crash. */
	const char *state_file;
	/* Upgrade in place: the readiness socket of the previous program (its
	   workers have its address in NOTIFY_SOCKET), taken over instead of
	   making a new one. notify_addr NULL: a fresh start. */
	const char *notify_addr;
	int notify_fd;
} proc_run_t;

/* Before the first apply: stops the workers that a previous run, killed
   without stopping them, left running (those of state_file whose pid still
   has the same start time): TERM to each process group, KILL after
   timeout_ms. Returns how many there were, or -errno. Blocks: call it
   before the loop runs. */
int proc_leftovers_stop(const char *state_file, int64_t timeout_ms);

typedef struct proc_core proc_core_t;
typedef struct proc proc_t;

/* What the core tells its owner. Every callback is optional. */
typedef struct {
	/* p changed state (or pid, or readiness). */
	void (*on_change)(void *ctx, const proc_t *p);
	/* A group was added, removed, scaled or changed by proc_core_apply(). */
	void (*on_group)(void *ctx, const char *group, const char *what);
	/* p is going away (scaled down, its group removed or changed); it is
	   down, and the pointer is invalid after this call. */
	void (*on_removed)(void *ctx, const proc_t *p);
	/* proc_core_shutdown() has finished: no process of any group is left. */
	void (*on_stopped)(void *ctx);
} proc_events_t;

/* Creates an engine on loop ev. Returns NULL with errno set. */
proc_core_t *proc_core_new(ev_t *ev, const proc_run_t *run, const proc_events_t *events, void *ctx);
/* Kills (SIGKILL) whatever still runs and frees the core. */
void proc_core_destroy(proc_core_t **corep);

/* SIGCHLD arrived: reaps every child that has exited and acts on those
   the engine started; others (re-parented grandchildren) are only reaped. */
void proc_core_reap(proc_core_t *core);

/* Makes the running set match groups[0..n): the first call creates
   everything and starts the autostart groups in dependency order; later
   calls start added groups, stop removed ones, restart changed ones, add or
   remove instances of scaled ones, and leave the rest alone. The engine
   keeps its own copies of the groups: the caller may free them at once.
   Two-phase: everything that can fail is prepared first, so on failure
   (-ENOMEM) nothing has changed. A dependency on a group that is not in
   groups (placed on another host) counts as satisfied. */
int proc_core_apply(proc_core_t *core, const conf_group_t *groups, size_t n);

/* Upgrade in place (docs/upgrade.md). What the engine runs, as a JSON object
   for the next program on the same pid: every instance with its state,
   pid, counters, timer deadline and the read ends of its output pipes, every
   group's wanted state and instance count, and the readiness socket. keep is
   called with each descriptor the next program needs (the caller makes
   them survive the exec). The engine itself is not changed: when the exec
   fails it goes on as it was. NULL on allocation failure. */
json_t *proc_core_export(proc_core_t *core, void (*keep)(void *ctx, int fd), void *ctx);
/* The next program, before its first proc_core_apply() (which must apply the
   same groups with the instance counts proc_core_groups_exported() gives):
   every instance of the apply found in state takes over its worker (same
   pid, the pipes with whatever they hold, its timers) instead of starting;
   the others start as a first apply starts them. A worker of the state
   that the apply does not make is stopped. Takes no reference to state
   after the apply. 0, or -EINVAL for a state that is not an export. */
int proc_core_adopt(proc_core_t *core, json_t *state);
/* The instance count an export recorded for a group (scaled since the
   configuration was read), or -1 when it has none. */
long proc_core_adopt_instances(const proc_core_t *core, const char *group);
/* Descriptors of the state that no apply took (closes them); call after the
   first apply. Returns how many workers of the state were not adopted. */
unsigned proc_core_adopt_done(proc_core_t *core);

/* Stops every process in reverse dependency order within the stop timeouts,
   then calls on_stopped. No restarts happen after this. */
void proc_core_shutdown(proc_core_t *core);

/* Lookup and iteration, ordered by group (config order) then instance. */
size_t proc_core_count(const proc_core_t *core);
proc_t *proc_core_at(const proc_core_t *core, size_t i);	   /* 0 <= i < count */
proc_t *proc_core_find(const proc_core_t *core, const char *name); /* "web:2" */
/* What workers of groups with queue_access get as DROVER_QUEUE_URL and
   DROVER_AUTHKEY_FILE (NULL: not set). 0 or -ENOMEM. */
int proc_core_set_queue_access(proc_core_t *core, const char *url, const char *authkey_file);

/* The engine's copy of a group's settings, or NULL. */
const conf_group_t *proc_core_group(const proc_core_t *core, const char *group);
/* Number of instances of a group currently in each state; returns the total. */
size_t proc_core_group_states(const proc_core_t *core, const char *group,
			      size_t counts[PROC_N_STATES]);

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
/* Sets the instance count (added ones start when the group is started);
   -EINVAL beyond CONF_MAX_INSTANCES, -ENOMEM with nothing changed. */
int proc_group_scale(proc_core_t *core, const char *group, unsigned instances);

/* p as a snapshot: host NULL, CPU and memory unknown (-1); the strings are
   p's, valid until it changes. */
void proc_snapshot(const proc_t *p, proc_snapshot_t *s);

/* Accessors. Pointers stay valid until the process is removed. */
const char *proc_name(const proc_t *p); /* "web:2" */
const char *proc_group(const proc_t *p);
unsigned proc_instance(const proc_t *p);
proc_state_t proc_state(const proc_t *p);
pid_t proc_pid(const proc_t *p);	 /* 0 when not running */
double proc_since(const proc_t *p);	 /* Unix time of the last state change */
unsigned proc_restarts(const proc_t *p); /* automatic and manual restarts so far */
int proc_exit_code(const proc_t *p);	 /* -1 when none (or killed by a signal) */
int proc_exit_signal(const proc_t *p);	 /* 0 when none */
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
