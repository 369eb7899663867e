/* Upgrade in place: the engine's side. An exec keeps the pid, so the
   workers stay our children (their exits are still ours to reap, pending
   SIGCHLDs included), and the descriptors the old program leaves open
   (the read ends of the output pipes, the readiness socket) are there in
   the new one under the same numbers. What lives only in memory (states,
   counters, timers) goes across as JSON: proc_core_export() in the old
   program, proc_core_adopt() then the first apply in the new one.

   Bytes a worker writes meanwhile wait in its pipe: the old program moves
   output with splice(2), pipe to file, so nothing sits in a buffer of ours
   to be lost or written twice. A worker that fills its pipe while nobody
   reads blocks for that moment, as it does when the disk is slow. */
#include "proc_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

#define UPGRADE_PROC_VERSION 1

/* ---- the old program ---- */

static json_t *
s_ring(const proc_t *p)
{
	json_t *a = json_array();
	unsigned i;

	for (i = 0; a != NULL && i < p->ring_len; i++)
		json_array_append_new(a, json_integer(p->restart_ring[i]));
	return a;
}

static int
s_cap_fd(const proc__cap_t *cap, void (*keep)(void *ctx, int fd), void *ctx)
{
	if (cap->io.fd < 0)
		return -1;
	keep(ctx, cap->io.fd);
	return cap->io.fd;
}

static json_t *
s_proc_json(const proc_t *p, void (*keep)(void *ctx, int fd), void *ctx)
{
	return json_pack(
	    "{s:s, s:s, s:I, s:s, s:I, s:I, s:f, s:I, s:I, s:I, s:I, s:b, s:b, s:b, s:b, s:b, s:b, "
	    "s:b, s:s?, s:I, s:I, s:o, s:I, s:I, s:b, s:I, s:I}",
	    "name", p->name, "group", p->grp->name, "instance", (json_int_t)p->instance, "state",
	    proc_state_name(p->state), "pid", (json_int_t)p->child.pid, "starttime",
	    (json_int_t)p->starttime, "since", p->since, "restarts", (json_int_t)p->restarts,
	    "spawns", (json_int_t)p->spawns, "exit_code", (json_int_t)p->exit_code, "exit_signal",
	    (json_int_t)p->exit_signal, "ready", p->ready, "want_up", p->want_up,
	    "start_after_stop", p->start_after_stop, "removing", p->removing, "fail_pending",
	    p->fail_pending, "waiting_deps", p->waiting_deps, "min_up_done", p->min_up_done,
	    "error", p->error, "failures", (json_int_t)p->failures, "started_ms",
	    (json_int_t)p->started_ms, "ring", s_ring(p), "ring_pos", (json_int_t)p->ring_pos,
	    "timer_ms", (json_int_t)(ev_timer_active(&p->timer) ? p->timer.at_ms : -1),
	    "spawn_queued", p->spawn_queued != 0, "out_fd", (json_int_t)s_cap_fd(&p->out, keep, ctx),
	    "err_fd", (json_int_t)s_cap_fd(&p->err, keep, ctx));
}

json_t *
proc_core_export(proc_core_t *core, void (*keep)(void *ctx, int fd), void *ctx)
{
	json_t *st, *groups, *procs, *g;
	proc__grp_t *grp;
	size_t i;
	unsigned k;

	st = json_pack("{s:i, s:s, s:I, s:{}, s:[]}", "version", UPGRADE_PROC_VERSION,
		       "notify_addr", core->notify_addr, "notify_fd", (json_int_t)core->notify_fd,
		       "groups", "procs");
	if (st == NULL)
		return NULL;
	if (core->notify_fd >= 0)
		keep(ctx, core->notify_fd);
	groups = json_object_get(st, "groups");
	procs = json_object_get(st, "procs");
	for (i = 0; i < core->n_grps; i++) {
		grp = core->grps[i];
		if (grp->removing || grp->cg == NULL)
			continue; /* going away: its workers are stopped by the next program */
		g = json_pack("{s:b, s:I, s:I}", "want_up", grp->want_up, "instances",
			      (json_int_t)grp->cg->instances, "rolling", (json_int_t)grp->rolling);
		if (g == NULL || json_object_set_new(groups, grp->name, g) != 0)
			goto nomem;
		for (k = 0; k < grp->n_procs; k++) {
			json_t *r = s_proc_json(grp->procs[k], keep, ctx);

			/* A reload changed the group and its instances are on their
			   way down: the next program has the new settings already,
			   so each starts again once it is down. */
			if (r != NULL && grp->next_cg != NULL && grp->want_up &&
			    !grp->procs[k]->removing)
				json_object_set_new(r, "start_after_stop", json_true());
			if (json_array_append_new(procs, r) != 0)
				goto nomem;
		}
	}
	/* Instances of removed groups that still run: the next program stops them. */
	for (i = 0; i < core->n_grps; i++) {
		grp = core->grps[i];
		if (!grp->removing && grp->cg != NULL)
			continue;
		for (k = 0; k < grp->n_procs; k++)
			if (grp->procs[k]->child.pid > 0 &&
			    json_array_append_new(procs, s_proc_json(grp->procs[k], keep, ctx)) != 0)
				goto nomem;
	}
	return st;
nomem:
	json_decref(st);
	return NULL;
}

/* ---- the new program ---- */

int
proc_core_adopt(proc_core_t *core, json_t *state)
{
	if (!json_is_object(state) ||
	    json_integer_value(json_object_get(state, "version")) != UPGRADE_PROC_VERSION ||
	    !json_is_array(json_object_get(state, "procs")) ||
	    !json_is_object(json_object_get(state, "groups")))
		return -EINVAL;
	json_decref(core->adopt);
	core->adopt = json_incref(state);
	core->adopt_ms = clock_ms();
	return 0;
}

long
proc_core_adopt_instances(const proc_core_t *core, const char *group)
{
	json_t *g = json_object_get(json_object_get(core->adopt, "groups"), group);
	json_t *n = json_object_get(g, "instances");

	return json_is_integer(n) && json_integer_value(n) >= 0 &&
		       json_integer_value(n) <= CONF_MAX_INSTANCES
		   ? (long)json_integer_value(n)
		   : -1;
}

static json_t *
s_record(proc_core_t *core, const char *name)
{
	json_t *procs = json_object_get(core->adopt, "procs"), *r;
	size_t i;

	json_array_foreach (procs, i, r)
		if (!json_is_true(json_object_get(r, "taken")) &&
		    json_is_string(json_object_get(r, "name")) &&
		    strcmp(json_string_value(json_object_get(r, "name")), name) == 0)
			return r;
	return NULL;
}

static int64_t
s_int(json_t *r, const char *key, int64_t dflt)
{
	json_t *v = json_object_get(r, key);

	return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

static bool
s_bool(json_t *r, const char *key)
{
	return json_is_true(json_object_get(r, key));
}

static void
s_close_fd(json_t *r, const char *key)
{
	int fd = (int)s_int(r, key, -1);

	if (fd > 2)
		close(fd);
	json_object_set_new(r, key, json_integer(-1));
}

/* Takes over one worker: its record's fields, its pid as our child again,
   its pipes and its timer. Returns false when the record cannot be used
   (the instance then starts afresh). */
static bool
s_adopt(proc_t *p, json_t *r)
{
	proc_core_t *core = p->core;
	const char *st = json_string_value(json_object_get(r, "state"));
	json_t *ring = json_object_get(r, "ring"), *v;
	pid_t pid = (pid_t)s_int(r, "pid", 0);
	int state;
	int64_t t;
	size_t i;

	if (st == NULL || (state = proc_state_parse(st)) < 0 || state == PROC_UNKNOWN)
		return false;
	json_object_set_new(r, "taken", json_true());
	if (pid > 0 && s_int(r, "starttime", 0) != 0 &&
	    proc__starttime(pid) != (unsigned long long)s_int(r, "starttime", 0)) {
		/* Not the same process any more: it died and was reaped before
		   the exec, which cannot be since it is our child; be safe. */
		log_warn("%s: pid %d is not the worker the last droverd ran", p->name, (int)pid);
		pid = 0;
	}
	p->state = (proc_state_t)state;
	p->since = json_real_value(json_object_get(r, "since"));
	p->restarts = (unsigned)s_int(r, "restarts", 0);
	p->spawns = (unsigned)s_int(r, "spawns", 0);
	p->exit_code = (int)s_int(r, "exit_code", -1);
	p->exit_signal = (int)s_int(r, "exit_signal", 0);
	p->ready = s_bool(r, "ready");
	p->want_up = s_bool(r, "want_up");
	p->start_after_stop = s_bool(r, "start_after_stop");
	p->fail_pending = s_bool(r, "fail_pending");
	p->waiting_deps = s_bool(r, "waiting_deps");
	p->min_up_done = s_bool(r, "min_up_done");
	p->failures = (unsigned)s_int(r, "failures", 0);
	p->started_ms = s_int(r, "started_ms", clock_ms());
	p->starttime = (unsigned long long)s_int(r, "starttime", 0);
	if (json_is_string(json_object_get(r, "error")))
		proc__set_error(p, "%s", json_string_value(json_object_get(r, "error")));
	json_array_foreach (ring, i, v)
		if (i < p->ring_len)
			p->restart_ring[i] = json_integer_value(v);
	p->ring_pos = (unsigned)s_int(r, "ring_pos", 0) % p->ring_len;
	if (pid > 0) {
		p->child.pid = pid;
		proc__pid_add(core, &p->child);
		if (proc__cap_adopt(&p->out, (int)s_int(r, "out_fd", -1)) != 0 ||
		    proc__cap_adopt(&p->err, (int)s_int(r, "err_fd", -1)) != 0)
			log_error("%s: its output cannot be captured any more", p->name);
		json_object_set_new(r, "out_fd", json_integer(-1));
		json_object_set_new(r, "err_fd", json_integer(-1));
		if (p->state == PROC_STARTING && !p->ready)
			proc__probe_start(p); /* probes begin again; the deadline stays */
	} else {
		s_close_fd(r, "out_fd");
		s_close_fd(r, "err_fd");
		if (p->state == PROC_STARTING || p->state == PROC_RUNNING ||
		    p->state == PROC_STOPPING) {
			/* A worker that is gone: its exit was lost with the pid. */
			p->state = PROC_EXITED;
			p->want_up = false;
			proc__set_error(p, "gone across the upgrade of droverd");
		}
	}
	if ((t = s_int(r, "timer_ms", -1)) >= 0 &&
	    (p->state == PROC_STARTING || p->state == PROC_BACKOFF || p->state == PROC_STOPPING))
		proc__arm_timer(p, t);
	if (s_bool(r, "spawn_queued") && p->want_up)
		proc__spawn_enqueue(core, p);
	proc__state_dirty(core);
	return true;
}

/* The first apply made g's instances: each takes over its worker from the
   last program, or starts as a first apply starts it. */
void
proc__adopt_group(proc_core_t *core, proc__grp_t *g)
{
	json_t *gr = json_object_get(json_object_get(core->adopt, "groups"), g->name);
	proc_t *p;
	json_t *r;
	unsigned k;

	g->want_up = g->cg->autostart;
	if (gr != NULL) {
		g->want_up = s_bool(gr, "want_up");
		g->rolling = (int)s_int(gr, "rolling", -1);
	}
	for (k = 0; k < g->n_procs; k++) {
		p = g->procs[k];
		if ((r = s_record(core, p->name)) != NULL && s_adopt(p, r)) {
			if (p->child.pid == 0 && p->start_after_stop && !p->removing) {
				/* Down already, waiting for the others of its changed
				   group when the last program left: it has the new
				   settings now, and nobody else would start it. */
				p->start_after_stop = false;
				p->failures = 0;
				proc__step(p, PEV_START, NULL);
			}
			if (core->events.on_change)
				core->events.on_change(core->ctx, p);
			continue;
		}
		if (g->want_up)
			proc__step(p, PEV_START, NULL);
	}
}

unsigned
proc_core_adopt_done(proc_core_t *core)
{
	json_t *procs = json_object_get(core->adopt, "procs"), *r;
	unsigned left = 0;
	pid_t pid;
	size_t i;

	json_array_foreach (procs, i, r) {
		if (s_bool(r, "taken"))
			continue;
		s_close_fd(r, "out_fd");
		s_close_fd(r, "err_fd");
		if ((pid = (pid_t)s_int(r, "pid", 0)) <= 0)
			continue;
		/* Its group is gone: it stops as a removed group's worker does,
		   though nobody waits for it (its exit is reaped as a stranger's). */
		left++;
		if (strcmp(json_string_value(json_object_get(r, "state")) ?: "", "STOPPING") == 0) {
			/* It was being stopped (scaled down, its group removed) and
			   had its stop signal: nobody would wait for its timeout. */
			log_warn("%s: pid %d was stopping when droverd was upgraded: killed",
				 json_string_value(json_object_get(r, "name")), (int)pid);
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			continue;
		}
		log_warn("%s: pid %d has no place in this droverd's groups: stopped",
			 json_string_value(json_object_get(r, "name")), (int)pid);
		kill(-pid, SIGTERM);
		kill(pid, SIGTERM);
	}
	json_decref(core->adopt);
	core->adopt = NULL;
	return left;
}
