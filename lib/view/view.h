/* view: the fleet view. Every process on every host, local and remote
   alike, as a snapshot {host, group, instance, state, pid, since, restarts,
   exit, cpu, rss, error}, in group order then instance; with change events
   carrying sequence numbers, and commands handed to the process's owner.
   The front-ends (HTTP API, dashboard, metrics) read this and nothing else:
   they cannot tell a local process from a remote one.

   Single-threaded: the view belongs to the thread of droverd's loop. */
#ifndef DROVER_VIEW_H
#define DROVER_VIEW_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "pstate.h"

#define VIEW_HOST_LOCAL "local"

/* One process (pstate.h). In view_put() the strings are the caller's and
   are copied; from the view's own accessors they stay valid until the next
   change of that process. */
typedef proc_snapshot_t view_proc_t;

typedef struct view view_t;

/* How a command ends: rc 0 or -errno, msg a reason a person reads (may be
   NULL). Called exactly once, at once or later. */
typedef void (*view_done_fn)(void *arg, int rc, const char *msg);

/* The answer to a log request for a process on another host: an HTTP
   status and the reply (taken), or err when there is none. */
typedef void (*view_logs_fn)(void *arg, int status, json_t *reply, const char *err);

/* The owner of the processes (droverd), which routes each command to the
   engine or agent that runs the process. Every hook is optional. */
typedef struct {
	/* cmd: "start", "stop", "restart" or "signal" (sig set). */
	void (*proc_cmd)(void *ctx, const view_proc_t *p, const char *cmd, int sig,
			 view_done_fn done, void *arg);
	/* cmd: "start", "stop", "restart" (n = 1: rolling) or "scale" (n instances). */
	void (*group_cmd)(void *ctx, const char *group, const char *cmd, long n, view_done_fn done,
			  void *arg);
	/* The file a process's stream is captured to on this host, or NULL
	   (not captured, or on another host). */
	const char *(*log_path)(void *ctx, const view_proc_t *p, const char *stream);
	/* The logs call of a process whose output is on another host: query is
	   {stream, tail, offset, inode} (taken); done is called exactly once. */
	void (*logs)(void *ctx, const view_proc_t *p, json_t *query, view_logs_fn done, void *arg);
	/* Called before a read that shows CPU and memory: refresh the samples
	   (the owner decides how often it really does). */
	void (*refresh)(void *ctx);
} view_owner_t;

/* A change: p is the process's new snapshot (removed: state is what it was
   and removed is true); seq grows by one per change. */
typedef void (*view_listener_fn)(void *ctx, const view_proc_t *p, bool removed, uint64_t seq);

view_t *view_new(const view_owner_t *owner, void *owner_ctx);
void view_destroy(view_t **vp);

/* Up to a few listeners (the API, the hub); 0 or -ENOSPC. */
int view_listen(view_t *v, view_listener_fn fn, void *ctx);

/* Inserts or updates p. Returns 1 when something a user sees changed (and
   listeners were told), 0 when not, -ENOMEM. cpu_seconds and rss_bytes are
   taken but are not news on their own. */
int view_put(view_t *v, const view_proc_t *p);
/* Updates the samples of a process without an event. */
void view_sample(view_t *v, const char *name, double cpu_seconds, int64_t rss_bytes);
/* Removes a process; listeners are told. */
void view_remove(view_t *v, const char *name);

/* The groups, in configuration order, each a JSON object with at least
   "name" (its settings summary); takes the array. Processes sort by the
   position of their group here, then by instance. */
void view_set_groups(view_t *v, json_t *groups);
/* The summaries (borrowed), or an empty array. */
const json_t *view_groups(const view_t *v);
const json_t *view_group(const view_t *v, const char *name);

/* Processes in order: 0 <= i < count. view_refresh() first when showing
   CPU and memory. */
size_t view_count(view_t *v);
const view_proc_t *view_at(view_t *v, size_t i);
const view_proc_t *view_find(const view_t *v, const char *name);
void view_refresh(view_t *v);
uint64_t view_seq(const view_t *v);
/* Number of processes of a group in each state; returns the total. */
size_t view_group_states(view_t *v, const char *group, size_t counts[PROC_N_STATES]);

/* Commands, handed to the owner; done is called exactly once (with -ENOSYS
   when the owner has no such hook). */
void view_proc_cmd(view_t *v, const view_proc_t *p, const char *cmd, int sig, view_done_fn done,
		   void *arg);
void view_group_cmd(view_t *v, const char *group, const char *cmd, long n, view_done_fn done,
		    void *arg);
const char *view_log_path(view_t *v, const view_proc_t *p, const char *stream);
/* The logs call for a process on another host (see view_owner_t.logs). */
void view_logs(view_t *v, const view_proc_t *p, json_t *query, view_logs_fn done, void *arg);

/* The settings summary of a group, for view_set_groups() (caller owns). */
json_t *view_group_summary(const conf_group_t *g);

/* The process object of SPEC 4 (caller owns). */
json_t *view_proc_json(const view_proc_t *p);
/* Decodes a process object (as made by view_proc_json) into *p, whose
   strings then point into j (borrowed: keep j while using p). 0 or -EINVAL. */
int view_proc_from_json(const json_t *j, view_proc_t *p);

#endif
