/* The core: groups, ordering by depends_on, reload by difference, shutdown,
   and reaping. Workers' own state machine is in worker.c. */
#include "proc_internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
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
   us (we are a child subreaper) are reaped and otherwise ignored. */
static void
s_on_signal(ev_t *ev, ev_io_t *io, uint32_t events)
{
	proc_core_t *core = io->arg;
	struct signalfd_siginfo si;
	proc__child_t *c;
	int wstat;
	pid_t pid;

	while (read(core->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		;
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
   nobody started counts as not ready; one with no instances is ready. */
bool
proc__group_is_ready(proc_core_t *core, const char *group)
{
	proc__grp_t *g = s_grp_find(core, group);
	unsigned i;

	if (g == NULL || g->removing)
		return false;
	for (i = 0; i < g->n_procs; i++)
		if (g->procs[i]->state != PROC_RUNNING)
			return false;
	return true;
}

static void
s_rebuild_all(proc_core_t *core)
{
	size_t n = 0, i;
	unsigned k;
	proc_t **all;

	for (i = 0; i < core->n_grps; i++)
		n += core->grps[i]->n_procs;
	all = realloc(core->all, (n ? n : 1) * sizeof(*all));
	if (all == NULL)
		abort();
	core->all = all;
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

/* Sets the number of instances: added ones start if the group is wanted up,
   surplus ones (highest indexes) stop and are removed once down. The others
   are not touched. */
static int
s_grp_resize(proc_core_t *core, proc__grp_t *g, unsigned n)
{
	proc_t **procs;
	unsigned i;

	for (i = 0; i < g->n_procs && i < n; i++) {
		if (g->procs[i]->removing) { /* scaled back up before it was gone */
			g->procs[i]->removing = false;
			if (g->want_up)
				proc__begin_start(g->procs[i]);
		}
	}
	for (i = n; i < g->n_procs; i++) {
		if (!g->procs[i]->removing) {
			g->procs[i]->removing = true;
			proc__begin_stop(g->procs[i]);
		}
	}
	if (n > g->n_procs) {
		procs = realloc(g->procs, n * sizeof(*procs));
		if (procs == NULL)
			return -ENOMEM;
		g->procs = procs;
		for (i = g->n_procs; i < n; i++) {
			g->procs[i] = proc__new(core, g, i);
			if (g->procs[i] == NULL)
				return -ENOMEM;
			g->n_procs = i + 1;
			if (g->want_up)
				proc__begin_start(g->procs[i]);
		}
	}
	core->all_dirty = true;
	return 0;
}

static proc__grp_t *
s_grp_new(proc_core_t *core, const conf_group_t *cg)
{
	proc__grp_t *g = calloc(1, sizeof(*g));
	proc__grp_t **grps;

	if (g == NULL || (g->name = strdup(cg->name)) == NULL) {
		free(g);
		return NULL;
	}
	grps = realloc(core->grps, (core->n_grps + 1) * sizeof(*grps));
	if (grps == NULL) {
		free(g->name);
		free(g);
		return NULL;
	}
	core->grps = grps;
	core->grps[core->n_grps++] = g;
	g->cg = cg;
	g->stop_signal = cg->stop_signal;
	g->stop_timeout_ms = cg->stop_timeout_ms;
	g->rolling = -1;
	return g;
}

static void
s_grp_free(proc__grp_t *g)
{
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
		if (g->next_cg != NULL && s_grp_down(g)) {
			g->cg = g->next_cg;
			g->next_cg = NULL;
			g->stop_signal = g->cg->stop_signal;
			g->stop_timeout_ms = g->cg->stop_timeout_ms;
			for (k = 0; k < g->n_procs; k++)
				proc__free(g->procs[k]); /* fresh instances for the new config */
			g->n_procs = 0;
			s_grp_resize(core, g, g->cg->instances);
			if (core->events.on_group)
				core->events.on_group(core->ctx, g->name, "changed");
		}
	}
	s_collect(core);
	if (core->shutting_down) {
		for (i = 0; i < core->n_grps; i++) {
			g = core->grps[i];
			if (!s_grp_down(g) && !s_has_live_dependents(core, g))
				for (k = 0; k < g->n_procs; k++)
					proc__begin_stop(g->procs[k]);
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
			proc__begin_start(core->all[i]);
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

proc_core_t *
proc_core_new(ev_t *ev, const char *host, const proc_events_t *events, void *ctx)
{
	proc_core_t *core = calloc(1, sizeof(*core));
	sigset_t mask;
	struct rlimit rl;
	int err;

	if (core == NULL)
		return NULL;
	core->ev = ev;
	core->sigfd = -1;
	core->notify_fd = -1;
	core->ctx = ctx;
	if (events != NULL)
		core->events = *events;
	if ((core->host = strdup(host ? host : "localhost")) == NULL)
		goto fail;
	/* We adopt orphaned grandchildren, so none is left behind unreaped. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) == -1)
		goto fail;
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	core->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (core->sigfd < 0)
		goto fail;
	if ((errno = -ev_io_start(ev, &core->sig_io, core->sigfd, EPOLLIN, s_on_signal, core)) != 0)
		goto fail;
	if ((errno = -proc__notify_init(core)) != 0)
		goto fail;
	/* Many workers mean many pipes and log files: take the hard limit, and
	   give workers back the original soft limit (select() users need it). */
	getrlimit(RLIMIT_NOFILE, &core->nofile0);
	rl = core->nofile0;
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	core->umask0 = umask(022);
	umask(core->umask0);
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
	if (core->sigfd >= 0) {
		ev_io_stop(core->ev, &core->sig_io);
		close(core->sigfd);
	}
	proc__notify_close(core);
	free(core->grps);
	free(core->all);
	free(core->pids);
	free(core->spawnq);
	free(core->host);
	free(core);
	*corep = NULL;
}

/* Makes the running set match conf (see proc.h). */
int
proc_core_apply(proc_core_t *core, const conf_t *conf)
{
	proc__grp_t *g, **order;
	const conf_group_t *cg;
	size_t i, j, n;
	unsigned k;
	bool first = core->conf == NULL;

	if (mkdir(conf->log_dir, 0755) == -1 && errno != EEXIST)
		log_warn("log_dir %s: %s", conf->log_dir, strerror(errno));
	core->conf = conf;
	/* Removed groups stop and go once down. */
	for (i = 0; i < core->n_grps; i++) {
		g = core->grps[i];
		if (g->removing || conf_group_find(conf, g->name) != NULL)
			continue;
		g->removing = true;
		g->cg = NULL;
		g->next_cg = NULL;
		g->want_up = false;
		for (k = 0; k < g->n_procs; k++) {
			g->procs[k]->removing = true;
			proc__begin_stop(g->procs[k]);
		}
		if (core->events.on_group)
			core->events.on_group(core->ctx, g->name, "removing");
	}
	for (i = 0; i < conf->n_groups; i++) {
		cg = &conf->groups[i];
		g = s_grp_find(core, cg->name);
		if (g != NULL && g->removing) {
			/* Re-added while still stopping: treat as changed. */
			g->removing = false;
			for (k = 0; k < g->n_procs; k++)
				g->procs[k]->removing = false;
			g->cg = cg;
			g->next_cg = cg;
			g->want_up = cg->autostart;
			continue;
		}
		if (g == NULL) {
			if ((g = s_grp_new(core, cg)) == NULL)
				return -ENOMEM;
			g->want_up = cg->autostart;
			if (s_grp_resize(core, g, cg->instances) != 0)
				return -ENOMEM;
			if (!first && core->events.on_group)
				core->events.on_group(core->ctx, g->name, "added");
			continue;
		}
		if (!conf_group_same(g->cg, cg)) {
			/* Changed: stop all, then start afresh with the new config. */
			g->cg = cg;
			g->next_cg = cg;
			g->rolling = -1;
			for (k = 0; k < g->n_procs; k++) {
				g->procs[k]->start_after_stop = false;
				proc__begin_stop(g->procs[k]);
			}
			continue;
		}
		g->cg = cg; /* same settings; the old conf goes away */
		if (cg->instances != s_active_count(g)) {
			if (s_grp_resize(core, g, cg->instances) != 0)
				return -ENOMEM;
			if (core->events.on_group)
				core->events.on_group(core->ctx, g->name, "scaled");
		}
	}
	/* Config order for the API; removed groups last until they are gone. */
	order = calloc(core->n_grps ? core->n_grps : 1, sizeof(*order));
	if (order == NULL)
		return -ENOMEM;
	n = 0;
	for (i = 0; i < conf->n_groups; i++)
		if ((g = s_grp_find(core, conf->groups[i].name)) != NULL)
			order[n++] = g;
	for (j = 0; j < core->n_grps; j++)
		if (core->grps[j]->removing)
			order[n++] = core->grps[j];
	if (n > 0) /* with no group at all core->grps is NULL */
		memcpy(core->grps, order, n * sizeof(*order));
	core->n_grps = n;
	free(order);
	s_rebuild_all(core);
	proc__settle(core);
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
		for (k = 0; k < core->grps[i]->n_procs; k++) {
			core->grps[i]->procs[k]->want_up = false;
			core->grps[i]->procs[k]->start_after_stop = false;
			proc__spawn_dequeue(core, core->grps[i]->procs[k]);
			/* Not yet running: nothing to stop in order. */
			if (core->grps[i]->procs[k]->state == PROC_BACKOFF ||
			    core->grps[i]->procs[k]->waiting_deps)
				proc__begin_stop(core->grps[i]->procs[k]);
		}
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

const conf_t *
proc_core_conf(const proc_core_t *core)
{
	return core->conf;
}

size_t
proc_core_group_states(const proc_core_t *core, const char *group, size_t counts[PROC_UNKNOWN + 1])
{
	proc__grp_t *g = s_grp_find(core, group);
	unsigned k;

	memset(counts, 0, sizeof(size_t) * (PROC_UNKNOWN + 1));
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
	int rc;

	if (g == NULL)
		return -ENOENT;
	if (instances > 100000)
		return -EINVAL;
	if ((rc = s_grp_resize(core, g, instances)) != 0)
		return rc;
	s_rebuild_all(core);
	if (core->events.on_group)
		core->events.on_group(core->ctx, g->name, "scaled");
	proc__settle(core);
	return 0;
}
