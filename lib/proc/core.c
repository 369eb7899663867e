/* The core: groups, ordering by depends_on, reload by difference, shutdown,
   and reaping. Workers' own state machine is in worker.c. */
#include "proc_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

extern char **environ;

#define SPAWN_BATCH 16 /* spawns per loop pass */

/* ---- pid map: open addressing with linear probing, tombstones ---- */

#define PID_TOMB ((proc__child_t *)1)

static size_t
s_pid_slot(pid_t pid, size_t cap)
{
	return ((size_t)pid * 2654435761u) & (cap - 1);
}

static void
s_pid_grow(proc_core_t *core)
{
	proc__child_t **old = core->pids;
	size_t oldcap = core->pids_cap, i, j;
	size_t cap = oldcap ? oldcap * 2 : 256;

	core->pids = calloc(cap, sizeof(*core->pids));
	if (core->pids == NULL)
		abort(); /* a few KB: out of memory here is fatal */
	core->pids_cap = cap;
	core->pids_used = 0;
	for (i = 0; i < oldcap; i++) {
		if (old[i] == NULL || old[i] == PID_TOMB)
			continue;
		j = s_pid_slot(old[i]->pid, cap);
		while (core->pids[j] != NULL)
			j = (j + 1) & (cap - 1);
		core->pids[j] = old[i];
		core->pids_used++;
	}
	free(old);
}

void
proc__pid_add(proc_core_t *core, proc__child_t *c)
{
	size_t j;

	if ((core->pids_used + 1) * 2 > core->pids_cap)
		s_pid_grow(core);
	j = s_pid_slot(c->pid, core->pids_cap);
	while (core->pids[j] != NULL && core->pids[j] != PID_TOMB)
		j = (j + 1) & (core->pids_cap - 1);
	core->pids[j] = c;
	core->pids_used++;
}

static size_t
s_pid_index(proc_core_t *core, pid_t pid)
{
	size_t j, n;

	if (core->pids_cap == 0)
		return SIZE_MAX;
	j = s_pid_slot(pid, core->pids_cap);
	for (n = 0; n < core->pids_cap && core->pids[j] != NULL; n++) {
		if (core->pids[j] != PID_TOMB && core->pids[j]->pid == pid)
			return j;
		j = (j + 1) & (core->pids_cap - 1);
	}
	return SIZE_MAX;
}

proc__child_t *
proc__pid_find(proc_core_t *core, pid_t pid)
{
	size_t j = s_pid_index(core, pid);

	return j == SIZE_MAX ? NULL : core->pids[j];
}

void
proc__pid_del(proc_core_t *core, proc__child_t *c)
{
	size_t j = s_pid_index(core, c->pid);

	if (j != SIZE_MAX)
		core->pids[j] = PID_TOMB; /* counted in pids_used until the next grow */
}

/* ---- reaping ---- */

/* SIGCHLD: reap everything, then act. Grandchildren that were re-parented to
   us (the program is a child subreaper) are reaped and otherwise ignored. */
void
proc_core_reap(proc_core_t *core)
{
	proc__child_t *c;
	int wstat;
	pid_t pid;

	while ((pid = waitpid(-1, &wstat, WNOHANG)) > 0) {
		c = proc__pid_find(core, pid);
		if (c == NULL)
			continue;
		proc__pid_del(core, c);
		c->on_exit(c, wstat);
	}
}

/* ---- spawn queue ---- */

static void s_spawn_some(ev_t *ev, ev_timer_t *t);

void
proc__spawn_enqueue(proc_core_t *core, proc_t *p)
{
	proc_t **q;
	size_t cap, i;

	if (p->spawn_queued)
		return;
	if (core->spawnq_len == core->spawnq_cap) {
		cap = core->spawnq_cap ? core->spawnq_cap * 2 : 64;
		q = malloc(cap * sizeof(*q));
		if (q == NULL)
			abort();
		for (i = 0; i < core->spawnq_len; i++)
			q[i] = core->spawnq[(core->spawnq_head + i) % core->spawnq_cap];
		free(core->spawnq);
		core->spawnq = q;
		core->spawnq_cap = cap;
		core->spawnq_head = 0;
	}
	core->spawnq[(core->spawnq_head + core->spawnq_len) % core->spawnq_cap] = p;
	core->spawnq_len++;
	p->spawn_queued = 1;
	if (!ev_timer_active(&core->spawn_timer))
		ev_timer_start(core->ev, &core->spawn_timer, 0, s_spawn_some, core);
}

void
proc__spawn_dequeue(proc_core_t *core, proc_t *p)
{
	size_t i, k;

	if (!p->spawn_queued)
		return;
	for (i = 0; i < core->spawnq_len; i++) {
		k = (core->spawnq_head + i) % core->spawnq_cap;
		if (core->spawnq[k] == p)
			core->spawnq[k] = NULL; /* skipped when reached */
	}
	p->spawn_queued = 0;
}

/* Spawns a batch, then yields to the loop (an expired timer) so that exits,
   API requests and output keep flowing while 1000 workers come up. */
static void
s_spawn_some(ev_t *ev, ev_timer_t *t)
{
	proc_core_t *core = t->arg;
	proc_t *p;
	int n = 0;

	while (core->spawnq_len > 0 && n < SPAWN_BATCH) {
		p = core->spawnq[core->spawnq_head];
		core->spawnq_head = (core->spawnq_head + 1) % core->spawnq_cap;
		core->spawnq_len--;
		if (p == NULL)
			continue;
		p->spawn_queued = 0;
		proc__spawn(p);
		n++;
	}
	if (core->spawnq_len > 0)
		ev_timer_start(ev, &core->spawn_timer, 0, s_spawn_some, core);
}

/* ---- groups ---- */

static proc__grp_t *
s_grp_find(const proc_core_t *core, const char *name)
{
	size_t i;

	for (i = 0; i < core->n_grps; i++)
		if (strcmp(core->grps[i]->name, name) == 0)
			return core->grps[i];
	return NULL;
}

static bool
s_grp_down(const proc__grp_t *g)
{
	unsigned i;

	for (i = 0; i < g->n_procs; i++)
		if (!proc__is_down(g->procs[i]))
			return false;
	return true;
}

/* A group is ready when each of its wanted instances is RUNNING. A group
   nobody started counts as not ready; one with no instances is ready, and so
   is one that is not on this host (its readiness is another host's). */
bool
proc__group_is_ready(proc_core_t *core, const char *group)
{
	proc__grp_t *g = s_grp_find(core, group);
	unsigned i;

	if (g == NULL)
		return true;
	if (g->removing)
		return false;
	for (i = 0; i < g->n_procs; i++)
		if (g->procs[i]->state != PROC_RUNNING)
			return false;
	return true;
}

/* Room for n processes in the flat list, so that rebuilding it cannot fail. */
static int
s_all_reserve(proc_core_t *core, size_t n)
{
	proc_t **all;

	if (n <= core->all_cap)
		return 0;
	if ((all = realloc(core->all, n * sizeof(*all))) == NULL)
		return -ENOMEM;
	core->all = all;
	core->all_cap = n;
	return 0;
}

static size_t
s_total(const proc_core_t *core)
{
	size_t n = 0, i;

	for (i = 0; i < core->n_grps; i++)
		n += core->grps[i]->n_procs;
	return n;
}

static void
s_rebuild_all(proc_core_t *core)
{
	size_t i;
	unsigned k;

	if (s_all_reserve(core, s_total(core)) != 0)
		abort(); /* callers that may not fail reserved the room first */
	core->n_all = 0;
	for (i = 0; i < core->n_grps; i++)
		for (k = 0; k < core->grps[i]->n_procs; k++)
			core->all[core->n_all++] = core->grps[i]->procs[k];
	core->all_dirty = false;
}

/* Instances that are not on their way out. */
static unsigned
s_active_count(const proc__grp_t *g)
{
	unsigned k, n = 0;

	for (k = 0; k < g->n_procs; k++)
		if (!g->procs[k]->removing)
			n++;
	return n;
}

/* New instances made for a resize, not yet part of their group. */
typedef struct {
	proc_t **procs;
	unsigned n;
} s_extra_t;

static void
s_extra_free(s_extra_t *x)
{
	unsigned i;

	for (i = 0; i < x->n; i++)
		proc__free(x->procs[i]);
	free(x->procs);
	x->procs = NULL;
	x->n = 0;
}

/* Phase one of a resize of g to n instances: room in g->procs and the new
   instances made. Nothing visible changes; -ENOMEM leaves g as it was. */
static int
s_resize_prepare(proc_core_t *core, proc__grp_t *g, unsigned n, s_extra_t *x)
{
	proc_t **procs;
	unsigned i;

	memset(x, 0, sizeof(*x));
	if (n <= g->n_procs)
		return 0;
	if ((procs = realloc(g->procs, n * sizeof(*procs))) == NULL)
		return -ENOMEM;
	g->procs = procs; /* more room only; n_procs is unchanged */
	if ((x->procs = calloc(n - g->n_procs, sizeof(*x->procs))) == NULL)
		return -ENOMEM;
	for (i = g->n_procs; i < n; i++) {
		if ((x->procs[x->n] = proc__new(core, g, g->cg->instance_base + i)) == NULL) {
			s_extra_free(x);
			return -ENOMEM;
		}
		x->n++;
	}
	return 0;
}

/* Phase two: cannot fail. Added instances start if the group is wanted up,
   surplus ones (highest indexes) stop and are removed once down, the others
   are not touched. Takes x's instances. */
static void
s_resize_commit(proc_core_t *core, proc__grp_t *g, unsigned n, s_extra_t *x)
{
	unsigned i;

	for (i = 0; i < g->n_procs && i < n; i++)
		if (g->procs[i]->removing) /* scaled back up before it was gone */
			proc__step(g->procs[i], PEV_KEEP, NULL);
	for (i = n; i < g->n_procs; i++)
		if (!g->procs[i]->removing)
			proc__step(g->procs[i], PEV_REMOVE, NULL);
	for (i = 0; i < x->n; i++) {
		g->procs[g->n_procs++] = x->procs[i];
		if (core->events.on_change) /* the owner learns of it, even while STOPPED */
			core->events.on_change(core->ctx, x->procs[i]);
		if (g->want_up)
			proc__step(x->procs[i], PEV_START, NULL);
	}
	free(x->procs);
	x->procs = NULL;
	x->n = 0;
	core->all_dirty = true;
}

/* A group for cg (which it takes), not yet in the core's list. */
static proc__grp_t *
s_grp_new(conf_group_t *cg)
{
	proc__grp_t *g = calloc(1, sizeof(*g));

	if (g == NULL || (g->name = strdup(cg->name)) == NULL) {
		free(g);
		return NULL;
	}
	g->cg = cg;
	g->stop_signal = cg->stop_signal;
	g->stop_timeout_ms = cg->stop_timeout_ms;
	g->rolling = -1;
	return g;
}

static void
s_grp_free(proc__grp_t *g)
{
	conf_group_destroy(&g->cg);
	conf_group_destroy(&g->next_cg);
	free(g->procs);
	free(g->name);
	free(g);
}

/* Removes instances marked for removal once they are down, and groups being
   removed once empty. */
static void
s_collect(proc_core_t *core)
{
	size_t i, j;
	unsigned k, w;
	proc__grp_t *g;

	for (i = 0; i < core->n_grps; i++) {
		g = core->grps[i];
		for (k = 0, w = 0; k < g->n_procs; k++) {
			if (g->procs[k]->removing && proc__is_down(g->procs[k])) {
				if (core->events.on_removed)
					core->events.on_removed(core->ctx, g->procs[k]);
				proc__free(g->procs[k]);
				core->all_dirty = true;
			} else {
				g->procs[w++] = g->procs[k];
			}
		}
		g->n_procs = w;
	}
	for (i = 0, j = 0; i < core->n_grps; i++) {
		g = core->grps[i];
		if (g->removing && g->n_procs == 0) {
			if (core->events.on_group)
				core->events.on_group(core->ctx, g->name, "removed");
			s_grp_free(g);
			core->all_dirty = true;
		} else {
			core->grps[j++] = g;
		}
	}
	core->n_grps = j;
	if (core->all_dirty)
		s_rebuild_all(core);
}

/* Does another group that is not down depend on g? Then g must keep running
   while shutting down. */
static bool
s_has_live_dependents(proc_core_t *core, const proc__grp_t *g)
{
	const conf_group_t *cg;
	size_t i, d;

	for (i = 0; i < core->n_grps; i++) {
		cg = core->grps[i]->cg;
		if (cg == NULL || core->grps[i] == g || s_grp_down(core->grps[i]))
			continue;
		for (d = 0; d < cg->n_depends_on; d++)
			if (strcmp(cg->depends_on[d], g->name) == 0)
				return true;
	}
	return false;
}

/* A changed group whose instances are all down takes its new settings,
   with fresh instances. */
static void
s_grp_swap(proc_core_t *core, proc__grp_t *g)
{
	s_extra_t x;
	unsigned k, n_old = g->n_procs;
	proc_t **old;

	conf_group_destroy(&g->cg);
	g->cg = g->next_cg;
	g->next_cg = NULL;
	g->stop_signal = g->cg->stop_signal;
	g->stop_timeout_ms = g->cg->stop_timeout_ms;
	if ((old = malloc((n_old ? n_old : 1) * sizeof(*old))) == NULL) {
		log_error("group %s: out of memory taking its new settings", g->name);
		return;
	}
	if (n_old > 0) /* a group of no instances has no list */
		memcpy(old, g->procs, n_old * sizeof(*old));
	g->n_procs = 0;
	for (k = 0; k < n_old; k++) {
		if (core->events.on_removed)
			core->events.on_removed(core->ctx, old[k]);
		proc__free(old[k]);
	}
	free(old);
	core->all_dirty = true;
	if (s_resize_prepare(core, g, g->cg->instances, &x) != 0) {
		log_error("group %s: out of memory making its instances", g->name);
		return;
	}
	s_resize_commit(core, g, g->cg->instances, &x);
	if (core->events.on_group)
		core->events.on_group(core->ctx, g->name, "changed");
}

/* The one place where ordering is decided, run after state changes:
   - instances waiting for dependencies start once those are ready;
   - a group changed by reload swaps to its new config once all are down;
   - during shutdown, groups stop once nothing running depends on them;
   - removed instances and groups are collected. */
static void
s_settle(ev_t *ev, ev_timer_t *t)
{
	proc_core_t *core = t->arg;
	proc__grp_t *g;
	size_t i;
	unsigned k;

	for (i = 0; i < core->n_grps; i++) {
		g = core->grps[i];
		if (g->next_cg != NULL && s_grp_down(g))
			s_grp_swap(core, g);
	}
	s_collect(core);
	if (core->shutting_down) {
		for (i = 0; i < core->n_grps; i++) {
			g = core->grps[i];
			if (!s_grp_down(g) && !s_has_live_dependents(core, g))
				for (k = 0; k < g->n_procs; k++)
					proc__step(g->procs[k], PEV_STOP, NULL);
		}
		for (i = 0; i < core->n_grps; i++)
			if (!s_grp_down(core->grps[i]))
				return;
		if (!core->stopped_reported) {
			core->stopped_reported = true;
			if (core->events.on_stopped)
				core->events.on_stopped(core->ctx);
		}
		return;
	}
	for (i = 0; i < core->n_all; i++)
		if (core->all[i]->waiting_deps)
			proc__step(core->all[i], PEV_DEPS, NULL);
}

void
proc__settle(proc_core_t *core)
{
	if (!ev_timer_active(&core->settle_timer))
		ev_timer_start(core->ev, &core->settle_timer, 0, s_settle, core);
}

void
proc__changed(proc_t *p)
{
	proc_core_t *core = p->core;
	proc__grp_t *g = p->grp;

	if (core->events.on_change)
		core->events.on_change(core->ctx, p);
	/* A rolling restart moves on when the restarted instance is up. */
	if (g->rolling >= 0 && (unsigned)g->rolling < g->n_procs && g->procs[g->rolling] == p &&
	    (p->state == PROC_RUNNING || p->state == PROC_FATAL)) {
		g->rolling++;
		if (p->state == PROC_FATAL || (unsigned)g->rolling >= g->n_procs)
			g->rolling = -1;
		else
			proc_restart(core, g->procs[g->rolling]);
	}
	proc__settle(core);
}

/* ---- public ---- */

int
proc_host_setup(proc_host_t *h)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &h->nofile) == -1)
		return -errno;
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) == -1)
		return -errno;
	rl = h->nofile;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		log_warn("cannot raise the descriptor limit to %llu: %s",
			 (unsigned long long)rl.rlim_max, strerror(errno));
	return 0;
}

proc_core_t *
proc_core_new(ev_t *ev, const proc_run_t *run, const proc_events_t *events, void *ctx)
{
	proc_core_t *core = calloc(1, sizeof(*core));
	char cwd[PATH_MAX];
	int err;

	if (core == NULL)
		return NULL;
	core->ev = ev;
	core->notify_fd = -1;
	core->devnull_fd = -1;
	core->ctx = ctx;
	if (events != NULL)
		core->events = *events;
	core->nofile0 = run->limits.nofile;
	core->die_with_owner = run->die_with_owner;
	if (run->state_file != NULL && (core->state_file = strdup(run->state_file)) == NULL)
		goto fail;
	if (run->dir == NULL && getcwd(cwd, sizeof(cwd)) == NULL)
		goto fail;
	if ((core->host = strdup(run->host ? run->host : "localhost")) == NULL ||
	    (core->dir = strdup(run->dir ? run->dir : cwd)) == NULL ||
	    (core->log_dir = strdup(run->log_dir ? run->log_dir : core->dir)) == NULL)
		goto fail;
	if ((core->devnull_fd = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
		goto fail;
	if ((errno = -proc__notify_init(core, run->notify_addr, run->notify_fd)) != 0)
		goto fail;
	if (mkdir(core->log_dir, 0755) == -1 && errno != EEXIST)
		log_warn("log_dir %s: %s", core->log_dir, strerror(errno));
	return core;
fail:
	err = errno;
	proc_core_destroy(&core);
	errno = err;
	return NULL;
}

void
proc_core_destroy(proc_core_t **corep)
{
	proc_core_t *core;
	size_t i;
	unsigned k;
	proc_t *p;

	if (corep == NULL || *corep == NULL)
		return;
	core = *corep;
	for (i = 0; i < core->n_grps; i++) {
		for (k = 0; k < core->grps[i]->n_procs; k++) {
			p = core->grps[i]->procs[k];
			if (p->child.pid > 0) {
				kill(-p->child.pid, SIGKILL);
				kill(p->child.pid, SIGKILL);
			}
			proc__free(p);
		}
		s_grp_free(core->grps[i]);
	}
	ev_timer_stop(core->ev, &core->spawn_timer);
	ev_timer_stop(core->ev, &core->settle_timer);
	proc__notify_close(core);
	if (core->devnull_fd >= 0)
		close(core->devnull_fd);
	free(core->grps);
	free(core->all);
	free(core->pids);
	free(core->spawnq);
	free(core->host);
	free(core->dir);
	free(core->log_dir);
	free(core->queue_url);
	free(core->authkey_file);
	ev_timer_stop(core->ev, &core->save_timer);
	if (core->state_file != NULL) {
		char tmp[4200];

		unlink(core->state_file); /* everything was stopped or killed above */
		snprintf(tmp, sizeof(tmp), "%s.tmp", core->state_file);
		unlink(tmp); /* the previous list, kept for the next save */
	}
	free(core->state_file);
	json_decref(core->adopt);
	free(core);
	*corep = NULL;
}

/* What apply will do to one group of the new set, prepared in phase one. */
typedef enum { PLAN_NEW, PLAN_READD, PLAN_CHANGED, PLAN_SAME } s_plan_kind_t;

typedef struct {
	s_plan_kind_t kind;
	proc__grp_t *g;	   /* the group (made here for PLAN_NEW) */
	conf_group_t *cg;  /* the new settings' copy, until a group takes it */
	s_extra_t extra;   /* instances made for a scale-up */
	unsigned target_n; /* instance count after apply */
	bool linked;	   /* PLAN_NEW: the core has the group now */
} s_plan_t;

static void
s_plans_free(s_plan_t *plans, size_t n)
{
	size_t i;
	unsigned k;

	for (i = 0; plans != NULL && i < n; i++) {
		s_extra_free(&plans[i].extra);
		if (plans[i].kind == PLAN_NEW && plans[i].g != NULL && !plans[i].linked) {
			for (k = 0; k < plans[i].g->n_procs; k++)
				proc__free(plans[i].g->procs[k]);
			plans[i].g->n_procs = 0;
			plans[i].g->cg = NULL; /* still plans[i].cg's */
			s_grp_free(plans[i].g);
		}
		conf_group_destroy(&plans[i].cg);
	}
	free(plans);
}

/* Phase one: copies of every group's settings, new groups with their
   instances, room in every list. Nothing visible changes. */
static int
s_apply_prepare(proc_core_t *core, const conf_group_t *groups, size_t n, s_plan_t **out)
{
	s_plan_t *plans = calloc(n ? n : 1, sizeof(*plans)), *pl;
	proc__grp_t **grps;
	const conf_group_t *target;
	size_t i, n_new = 0, total = s_total(core);

	if (plans == NULL)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		pl = &plans[i];
		if ((pl->cg = conf_group_dup(&groups[i])) == NULL)
			goto nomem;
		pl->g = s_grp_find(core, groups[i].name);
		pl->target_n = groups[i].instances;
		if (pl->g == NULL) {
			pl->kind = PLAN_NEW;
			if ((pl->g = s_grp_new(pl->cg)) == NULL)
				goto nomem;
			if (s_resize_prepare(core, pl->g, pl->target_n, &pl->extra) != 0)
				goto nomem;
			n_new++;
			total += pl->target_n;
			continue;
		}
		target = pl->g->next_cg ? pl->g->next_cg : pl->g->cg;
		if (pl->g->removing)
			pl->kind = PLAN_READD;
		else if (!conf_group_same(target, pl->cg))
			pl->kind = PLAN_CHANGED;
		else
			pl->kind = PLAN_SAME;
		if (pl->kind == PLAN_SAME && pl->g->next_cg == NULL) {
			if (s_resize_prepare(core, pl->g, pl->target_n, &pl->extra) != 0)
				goto nomem;
			total += pl->extra.n;
		}
	}
	if (n_new > 0) {
		if ((grps = realloc(core->grps, (core->n_grps + n_new) * sizeof(*grps))) == NULL)
			goto nomem;
		core->grps = grps; /* more room only */
	}
	if (s_all_reserve(core, total) != 0)
		goto nomem;
	*out = plans;
	return 0;
nomem:
	s_plans_free(plans, n);
	return -ENOMEM;
}

/* Phase two: cannot fail. Takes the plans' copies and instances. */
static void
s_apply_commit(proc_core_t *core, const conf_group_t *groups, size_t n, s_plan_t *plans)
{
	proc__grp_t *g;
	s_plan_t *pl;
	size_t i, j, w;
	unsigned k;
	bool first = !core->applied, found;

	core->applied = true;
	/* Removed groups stop and go once down. */
	for (i = 0; i < core->n_grps; i++) {
		g = core->grps[i];
		for (j = 0, found = false; j < n && !found; j++)
			found = strcmp(groups[j].name, g->name) == 0;
		if (g->removing || found)
			continue;
		g->removing = true;
		conf_group_destroy(&g->cg);
		conf_group_destroy(&g->next_cg);
		g->want_up = false;
		for (k = 0; k < g->n_procs; k++)
			proc__step(g->procs[k], PEV_REMOVE, NULL);
		if (core->events.on_group)
			core->events.on_group(core->ctx, g->name, "removing");
	}
	/* Every new group is known before any instance starts, so that a
	   dependency on a group added in the same apply is waited for. */
	for (i = 0; i < n; i++) {
		if (plans[i].kind != PLAN_NEW)
			continue;
		g = plans[i].g;
		core->grps[core->n_grps++] = g;
		plans[i].linked = true; /* the core's now, with its settings */
		plans[i].cg = NULL;
		s_resize_commit(core, g, plans[i].target_n,
				&plans[i].extra); /* not wanted up yet */
	}
	for (i = 0; i < n; i++) {
		pl = &plans[i];
		g = pl->g;
		switch (pl->kind) {
		case PLAN_NEW:
			if (first && core->adopt != NULL) {
				proc__adopt_group(core, g); /* upgrade.c */
				break;
			}
			g->want_up = g->cg->autostart;
			for (k = 0; k < g->n_procs && g->want_up; k++)
				proc__step(g->procs[k], PEV_START, NULL);
			if (!first && core->events.on_group)
				core->events.on_group(core->ctx, g->name, "added");
			break;
		case PLAN_READD:
			/* Re-added while still stopping: fresh instances once down. */
			g->removing = false;
			for (k = 0; k < g->n_procs; k++)
				proc__step(g->procs[k], PEV_KEEP, NULL); /* waits for the swap */
			conf_group_destroy(&g->next_cg);
			g->next_cg = pl->cg;
			pl->cg = NULL;
			g->want_up = g->next_cg->autostart;
			break;
		case PLAN_CHANGED:
			/* Stop all, then start afresh with the new settings. */
			conf_group_destroy(&g->next_cg);
			g->next_cg = pl->cg;
			pl->cg = NULL;
			g->rolling = -1;
			for (k = 0; k < g->n_procs; k++)
				proc__step(g->procs[k], PEV_RECONFIGURE, NULL);
			break;
		case PLAN_SAME:
			if (g->next_cg != NULL) {
				/* Pending change: its instance count is the new one. */
				conf_group_destroy(&g->next_cg);
				g->next_cg = pl->cg;
				pl->cg = NULL;
				break;
			}
			conf_group_destroy(&g->cg);
			g->cg = pl->cg;
			pl->cg = NULL;
			if (pl->target_n != s_active_count(g) || pl->extra.n > 0) {
				s_resize_commit(core, g, pl->target_n, &pl->extra);
				if (core->events.on_group)
					core->events.on_group(core->ctx, g->name, "scaled");
			}
			break;
		}
	}
	/* The new set's order; removed groups last until they are gone. The
	   list only moves entries within the room phase one made. */
	for (i = 0, w = 0; i < n; i++) {
		for (j = w; j < core->n_grps; j++) {
			if (strcmp(core->grps[j]->name, groups[i].name) == 0) {
				g = core->grps[j];
				memmove(&core->grps[w + 1], &core->grps[w],
					(j - w) * sizeof(*core->grps));
				core->grps[w++] = g;
				break;
			}
		}
	}
	s_plans_free(plans, n); /* only what no group took */
	s_rebuild_all(core);
	proc__settle(core);
}

/* Makes the running set match groups (see proc.h). */
int
proc_core_apply(proc_core_t *core, const conf_group_t *groups, size_t n)
{
	s_plan_t *plans = NULL;
	int rc;

	if ((rc = s_apply_prepare(core, groups, n, &plans)) != 0)
		return rc;
	s_apply_commit(core, groups, n, plans);
	return 0;
}

void
proc_core_shutdown(proc_core_t *core)
{
	size_t i;
	unsigned k;

	core->shutting_down = true;
	for (i = 0; i < core->n_grps; i++) {
		core->grps[i]->want_up = false;
		core->grps[i]->rolling = -1;
		for (k = 0; k < core->grps[i]->n_procs; k++)
			proc__step(core->grps[i]->procs[k], PEV_SHUTDOWN, NULL);
	}
	proc__settle(core);
}

size_t
proc_core_count(const proc_core_t *core)
{
	return core->n_all;
}

proc_t *
proc_core_at(const proc_core_t *core, size_t i)
{
	return i < core->n_all ? core->all[i] : NULL;
}

proc_t *
proc_core_find(const proc_core_t *core, const char *name)
{
	size_t i;

	for (i = 0; i < core->n_all; i++)
		if (strcmp(core->all[i]->name, name) == 0)
			return core->all[i];
	return NULL;
}

int
proc_core_set_queue_access(proc_core_t *core, const char *url, const char *authkey_file)
{
	char *u = url ? strdup(url) : NULL, *k = authkey_file ? strdup(authkey_file) : NULL;

	if ((url && u == NULL) || (authkey_file && k == NULL)) {
		free(u);
		free(k);
		return -ENOMEM;
	}
	free(core->queue_url);
	free(core->authkey_file);
	core->queue_url = u;
	core->authkey_file = k;
	return 0;
}

const conf_group_t *
proc_core_group(const proc_core_t *core, const char *group)
{
	proc__grp_t *g = s_grp_find(core, group);

	return g == NULL ? NULL : g->next_cg ? g->next_cg : g->cg;
}

size_t
proc_core_group_states(const proc_core_t *core, const char *group, size_t counts[PROC_N_STATES])
{
	proc__grp_t *g = s_grp_find(core, group);
	unsigned k;

	memset(counts, 0, sizeof(size_t) * PROC_N_STATES);
	if (g == NULL)
		return 0;
	for (k = 0; k < g->n_procs; k++)
		counts[g->procs[k]->state]++;
	return g->n_procs;
}

static proc__grp_t *
s_grp_live(proc_core_t *core, const char *group)
{
	proc__grp_t *g = s_grp_find(core, group);

	return (g == NULL || g->removing || core->shutting_down) ? NULL : g;
}

/* Starting a group pulls in the groups it depends on, as systemd's Requires=
   does: otherwise it would wait forever for a dependency nobody started. */
static void
s_grp_want(proc_core_t *core, proc__grp_t *g, int depth)
{
	size_t d;
	unsigned k;
	proc__grp_t *dep;

	if (depth > 64)
		return; /* the config forbids cycles; this only bounds the walk */
	g->want_up = true;
	for (d = 0; g->cg != NULL && d < g->cg->n_depends_on; d++) {
		dep = s_grp_live(core, g->cg->depends_on[d]);
		if (dep != NULL && !dep->want_up)
			s_grp_want(core, dep, depth + 1);
	}
	for (k = 0; k < g->n_procs; k++)
		if (!g->procs[k]->removing)
			proc_start(core, g->procs[k]);
}

int
proc_group_start(proc_core_t *core, const char *group)
{
	proc__grp_t *g = s_grp_live(core, group);

	if (g == NULL)
		return -ENOENT;
	s_grp_want(core, g, 0);
	return 0;
}

int
proc_group_stop(proc_core_t *core, const char *group)
{
	proc__grp_t *g = s_grp_live(core, group);
	unsigned k;

	if (g == NULL)
		return -ENOENT;
	g->want_up = false;
	g->rolling = -1;
	for (k = 0; k < g->n_procs; k++)
		proc_stop(core, g->procs[k]);
	return 0;
}

int
proc_group_restart(proc_core_t *core, const char *group, bool rolling)
{
	proc__grp_t *g = s_grp_live(core, group);
	unsigned k;

	if (g == NULL)
		return -ENOENT;
	if (!rolling || g->n_procs == 0) {
		g->want_up = true;
		for (k = 0; k < g->n_procs; k++)
			proc_restart(core, g->procs[k]);
		return 0;
	}
	g->want_up = true;
	g->rolling = 0;
	proc_restart(core, g->procs[0]);
	return 0;
}

int
proc_group_scale(proc_core_t *core, const char *group, unsigned instances)
{
	proc__grp_t *g = s_grp_live(core, group);
	s_extra_t x;
	int rc;

	if (g == NULL)
		return -ENOENT;
	if (instances > CONF_MAX_INSTANCES)
		return -EINVAL;
	if ((rc = s_resize_prepare(core, g, instances, &x)) != 0)
		return rc;
	if (s_all_reserve(core, s_total(core) + x.n) != 0) {
		s_extra_free(&x);
		return -ENOMEM;
	}
	s_resize_commit(core, g, instances, &x);
	if (g->cg != NULL)
		g->cg->instances = instances; /* what a later reload compares with */
	if (g->next_cg != NULL)
		g->next_cg->instances = instances;
	s_rebuild_all(core);
	if (core->events.on_group)
		core->events.on_group(core->ctx, g->name, "scaled");
	proc__settle(core);
	return 0;
}
