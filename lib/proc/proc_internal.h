/* Internals of the process core, shared by its files only. */
#ifndef DROVER_PROC_INTERNAL_H
#define DROVER_PROC_INTERNAL_H

#include <sys/resource.h>

#include <jansson.h>

#include "proc.h"

typedef struct proc__grp proc__grp_t;

/* A child we must reap: a worker or a readiness probe. */
typedef struct proc__child {
	pid_t pid;
	void (*on_exit)(struct proc__child *c, int wstat);
} proc__child_t;

/* One captured stream: a pipe from the worker into a size-rotated file. */
typedef struct {
	proc_t *p;
	conf_out_mode_t mode;
	const char *stream; /* "stdout" / "stderr" */
	char *path;	    /* NULL: not captured to a file */
	int64_t max_size;
	unsigned keep;
	int file_fd;	/* -1 until first used */
	int64_t offset; /* write position in file_fd */
	int pipe_size;	/* current capacity of the pipe */
	int full_errno;	/* the file cannot grow (ENOSPC...): output is dropped */
	int64_t dropped; /* bytes dropped since */
	ev_io_t io;	/* read end of the pipe; io.fd = -1 when none */
} proc__cap_t;

typedef enum { PROBE_IDLE, PROBE_CONNECTING, PROBE_SENDING, PROBE_READING } proc__probe_state_t;

struct proc {
	proc_core_t *core;
	proc__grp_t *grp;
	char *name;
	unsigned instance;
	proc_state_t state;
	proc__child_t child; /* child.pid == 0 when not running */
	double since;
	unsigned restarts;
	unsigned spawns;
	int exit_code;
	int exit_signal;
	int wstat;		      /* of the exit being handled */
	unsigned long long starttime; /* the kernel's start time of child.pid */
	bool ready;
	bool want_up;	       /* operator's intent */
	bool start_after_stop; /* restart: start again once stopped */
	bool removing;	       /* delete once down */
	bool fail_pending;     /* killed because it never became ready */
	bool waiting_deps;     /* wants up, but a dependency is not ready */
	bool min_up_done;      /* start_timeout has passed since the spawn */
	char *error;
	unsigned failures; /* consecutive failed starts, for backoff */
	int64_t started_ms;
	int64_t *restart_ring; /* times of recent automatic restarts */
	unsigned ring_len, ring_pos;
	ev_timer_t timer;	/* start_timeout, ready timeout, backoff, stop kill */
	ev_timer_t probe_timer; /* next readiness probe */
	proc__cap_t out, err;
	/* readiness probe in flight */
	proc__probe_state_t probe_state;
	ev_io_t probe_io;
	proc__child_t probe_child;
	char *probe_req;
	char *ready_target; /* expanded tcp/http target of the running instance */
	size_t probe_req_off;
	/* usage sampling */
	int64_t usage_ms;
	double cpu;
	int64_t rss;
	size_t spawn_queued; /* position+1 in the spawn queue, 0 = not queued */
};

struct proc__grp {
	char *name;
	conf_group_t *cg;      /* current settings (owned); NULL once removed */
	conf_group_t *next_cg; /* changed by reload (owned): applied once all are down */
	int stop_signal;       /* copied: still needed after the conf is gone */
	int64_t stop_timeout_ms;
	proc_t **procs;
	unsigned n_procs;
	bool want_up;
	bool removing;
	int rolling;  /* next instance of a rolling restart, -1 none */
	size_t order; /* position in config order */
};

struct proc_core {
	ev_t *ev;
	char *host;
	char *dir;
	char *log_dir;
	char *queue_url;    /* for groups with queue_access; NULL: none */
	char *authkey_file; /* likewise */
	bool die_with_owner;
	char *state_file; /* the workers that run, for the next run after a crash */
	ev_timer_t save_timer;
	proc_events_t events;
	void *ctx;
	bool applied; /* proc_core_apply() has run once */
	proc__grp_t **grps;
	size_t n_grps;
	proc_t **all; /* flat, ordered by group then instance */
	size_t n_all, all_cap;
	bool all_dirty;
	/* pid -> child, open addressing */
	proc__child_t **pids;
	size_t pids_cap, pids_used;
	int notify_fd;
	ev_io_t notify_io;
	char notify_addr[64]; /* "@drover-..." as given to workers */
	bool shutting_down;
	bool stopped_reported;
	/* spawns pending, handled a few per loop pass so the loop stays responsive */
	proc_t **spawnq;
	size_t spawnq_head, spawnq_len, spawnq_cap;
	ev_timer_t spawn_timer;
	ev_timer_t settle_timer; /* re-evaluate dependencies and shutdown order */
	struct rlimit nofile0;	 /* the program's original RLIMIT_NOFILE, given back to workers */
	int devnull_fd;		 /* stdin of every worker, and where null output goes */
	json_t *adopt;		 /* proc_core_adopt(): the last program's, until the first apply */
	int64_t adopt_ms;	 /* when it was given */
};

/* core.c */
void proc__pid_add(proc_core_t *core, proc__child_t *c);
void proc__pid_del(proc_core_t *core, proc__child_t *c);
proc__child_t *proc__pid_find(proc_core_t *core, pid_t pid);
void proc__changed(proc_t *p);	      /* tell the owner, re-evaluate order */
void proc__settle(proc_core_t *core); /* schedule dependency / shutdown evaluation */
bool proc__group_is_ready(proc_core_t *core, const char *group);
void proc__spawn_enqueue(proc_core_t *core, proc_t *p);
void proc__spawn_dequeue(proc_core_t *core, proc_t *p);

/* What a child needs; everything is prepared before fork, the child only
   makes system calls. */
typedef struct {
	const char *path; /* resolved executable */
	char **argv;
	char **envp;
	const char *cwd;	   /* NULL: keep */
	int fd_in, fd_out, fd_err; /* -1: /dev/null; -2: inherit */
	int umask;		   /* -1: keep */
	struct rlimit nofile;
	int64_t limit_core, limit_memory, limit_nproc, limit_nofile;
	bool switch_user;
	uid_t uid;
	gid_t gid;
	gid_t *groups;
	int n_groups;
} proc__spawn_spec_t;

/* Spawns per spec in a new session. Returns the pid, or -errno when the
   child could not be set up or exec failed; *stage then names the step. */
pid_t proc__exec(proc_core_t *core, const proc__spawn_spec_t *spec, const char **stage);
/* Finds argv0 in PATH (from envp, else droverd's); caller frees. NULL + errno. */
char *proc__which(const char *argv0, char *const *envp);

/* worker.c */

/* What can happen to an instance; proc__step() is the transition function. */
typedef enum {
	PEV_START,	  /* wanted up (a start, a group start, autostart) */
	PEV_RESTART,	  /* wanted up, and what runs is stopped first */
	PEV_STOP,	  /* wanted down */
	PEV_RECONFIGURE,  /* its group changed: down, for fresh instances */
	PEV_REMOVE,	  /* wanted down, and gone once down */
	PEV_KEEP,	  /* a removal called off */
	PEV_SHUTDOWN,	  /* the engine is stopping: nothing restarts any more */
	PEV_DEPS,	  /* its dependencies may be ready now */
	PEV_SPAWNED,	  /* the exec worked (child.pid is set) */
	PEV_SPAWN_AGAIN,  /* the spawn failed for now (no memory, descriptors...) */
	PEV_SPAWN_FAILED, /* the spawn would fail again (no such file...) */
	PEV_READY,	  /* its readiness check passed */
	PEV_NOT_READY,	  /* its readiness check cannot pass (why) */
	PEV_TIMER,	  /* its timer fired */
	PEV_EXIT	  /* its process exited (wstat) */
} proc__ev_t;

proc_t *proc__new(proc_core_t *core, proc__grp_t *g, unsigned instance);
void proc__free(void *p);
void proc__step(proc_t *p, proc__ev_t ev, const char *why);
void proc__set_state(proc_t *p, proc_state_t s);
void proc__spawn(proc_t *p); /* from the spawn queue */
void proc__set_error(proc_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool proc__is_down(const proc_t *p);
void proc__arm_timer(proc_t *p, int64_t at_ms); /* its timer, as the last program left it */

/* upgrade.c */
void proc__adopt_group(proc_core_t *core, proc__grp_t *g); /* first apply: adopt or start its instances */

/* leftover.c */
unsigned long long proc__starttime(pid_t pid);
void proc__state_dirty(proc_core_t *core); /* save the state file on this pass */

/* capture.c */
void proc__cap_init(proc__cap_t *cap, proc_t *p, const char *stream);
int proc__cap_configure(proc__cap_t *cap, const conf_output_t *o, const char *log_dir,
			const conf_vars_t *vars, const char *suffix);
/* Makes a pipe for a new child; *child_fd gets the write end (caller closes after spawn). */
int proc__cap_open(proc__cap_t *cap, int *child_fd);
void proc__cap_drain_close(proc__cap_t *cap);
int proc__cap_adopt(proc__cap_t *cap, int fd); /* upgrade.c: a pipe the last program made */
void proc__cap_free(proc__cap_t *cap);

/* ready.c */
int proc__notify_init(proc_core_t *core, const char *addr, int fd); /* addr: inherited */
void proc__notify_close(proc_core_t *core);
void proc__probe_start(proc_t *p); /* begins readiness checking for a new child */
void proc__probe_stop(proc_t *p);

#endif
