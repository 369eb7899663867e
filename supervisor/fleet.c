/* fleet: the owner of the view in droverd. */
#include "fleet.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

#define FLEET_SAMPLE_MS 1000 /* local CPU and memory are read at most this often */

struct fleet {
	view_t *view;
	proc_core_t *core;
	fleet_remote_t remote;
	void *remote_ctx;
	int64_t sampled_ms;
	char **local_groups; /* groups placed on this host */
	size_t n_local_groups;
};

static bool
s_group_local(const fleet_t *f, const char *group)
{
	size_t i;

	for (i = 0; i < f->n_local_groups; i++)
		if (strcmp(f->local_groups[i], group) == 0)
			return true;
	return false;
}

static void
s_proc_cmd(void *ctx, const view_proc_t *vp, const char *cmd, int sig, view_done_fn done, void *arg)
{
	fleet_t *f = ctx;
	proc_t *p;
	int rc;

	if (vp->host != NULL && strcmp(vp->host, VIEW_HOST_LOCAL) != 0) {
		if (f->remote.proc_cmd == NULL)
			done(arg, -EHOSTUNREACH, "no agent hub is running");
		else
			f->remote.proc_cmd(f->remote_ctx, vp, cmd, sig, done, arg);
		return;
	}
	if (f->core == NULL || (p = proc_core_find(f->core, vp->name)) == NULL) {
		done(arg, -ESRCH, "no such local process");
		return;
	}
	if (strcmp(cmd, "start") == 0)
		rc = proc_start(f->core, p);
	else if (strcmp(cmd, "stop") == 0)
		rc = proc_stop(f->core, p);
	else if (strcmp(cmd, "restart") == 0)
		rc = proc_restart(f->core, p);
	else if (strcmp(cmd, "signal") == 0)
		rc = proc_signal(f->core, p, sig);
	else
		rc = -EINVAL;
	done(arg, rc, NULL);
}

/* Local engine's part of a group command; 0 or -errno. */
static int
s_local_group_cmd(fleet_t *f, const char *group, const char *cmd, long n)
{
	if (f->core == NULL)
		return -ENOENT;
	if (strcmp(cmd, "start") == 0)
		return proc_group_start(f->core, group);
	if (strcmp(cmd, "stop") == 0)
		return proc_group_stop(f->core, group);
	if (strcmp(cmd, "restart") == 0)
		return proc_group_restart(f->core, group, n != 0);
	if (strcmp(cmd, "scale") == 0)
		return n < 0 || n > CONF_MAX_INSTANCES
			   ? -EINVAL
			   : proc_group_scale(f->core, group, (unsigned)n);
	return -EINVAL;
}

/* A group command done locally and by the hub: answered once both are. */
typedef struct {
	int rc;
	char msg[256];
	view_done_fn done;
	void *arg;
} s_both_t;

static void
s_remote_done(void *arg, int rc, const char *msg)
{
	s_both_t *b = arg;

	if (b->rc == 0 && rc != 0) {
		b->rc = rc;
		snprintf(b->msg, sizeof(b->msg), "%s", msg ? msg : "");
	}
	b->done(b->arg, b->rc, b->msg[0] ? b->msg : NULL);
	free(b);
}

static void
s_group_cmd(void *ctx, const char *group, const char *cmd, long n, view_done_fn done, void *arg)
{
	fleet_t *f = ctx;
	s_both_t *b;
	int rc = 0;

	if (view_group(f->view, group) == NULL) {
		done(arg, -ENOENT, NULL);
		return;
	}
	if (s_group_local(f, group))
		rc = s_local_group_cmd(f, group, cmd, n);
	if (f->remote.group_cmd == NULL || (rc != 0 && rc != -ENOENT) ||
	    (b = calloc(1, sizeof(*b))) == NULL) {
		done(arg, rc == -ENOENT && !s_group_local(f, group) ? 0 : rc, NULL);
		return;
	}
	b->rc = rc == -ENOENT ? 0 : rc;
	b->done = done;
	b->arg = arg;
	f->remote.group_cmd(f->remote_ctx, group, cmd, n, s_remote_done, b);
}

static const char *
s_log_path(void *ctx, const view_proc_t *vp, const char *stream)
{
	fleet_t *f = ctx;
	proc_t *p;

	if (f->core == NULL || (vp->host != NULL && strcmp(vp->host, VIEW_HOST_LOCAL) != 0) ||
	    (p = proc_core_find(f->core, vp->name)) == NULL)
		return NULL;
	return proc_log_path(p, stream);
}

static void
s_logs(void *ctx, const view_proc_t *vp, json_t *query, view_logs_fn done, void *arg)
{
	fleet_t *f = ctx;

	if (f->remote.logs == NULL) {
		json_decref(query);
		done(arg, 0, NULL, "no agent hub is running");
		return;
	}
	f->remote.logs(f->remote_ctx, vp, query, done, arg);
}

/* CPU and memory of the local processes, read from /proc at most once a
   second whatever the number of readers. */
static void
s_refresh(void *ctx)
{
	fleet_t *f = ctx;
	int64_t now = clock_ms();
	double cpu;
	int64_t rss;
	size_t i, n;
	proc_t *p;

	bool all;

	if (f->core == NULL)
		return;
	/* All of them at most once a second; in between only those started
	   since, which have no sample yet. */
	all = f->sampled_ms == 0 || now - f->sampled_ms >= FLEET_SAMPLE_MS;
	if (all)
		f->sampled_ms = now;
	n = proc_core_count(f->core);
	for (i = 0; i < n; i++) {
		const view_proc_t *v;

		p = proc_core_at(f->core, i);
		if (!all && (proc_pid(p) <= 0 || (v = view_find(f->view, proc_name(p))) == NULL ||
			     v->rss_bytes >= 0))
			continue;
		proc_usage(p, &cpu, &rss);
		view_sample(f->view, proc_name(p), cpu, rss);
	}
}

fleet_t *
fleet_new(void)
{
	fleet_t *f = calloc(1, sizeof(*f));
	view_owner_t owner = {s_proc_cmd, s_group_cmd, s_log_path, s_logs, s_refresh};

	if (f == NULL)
		return NULL;
	if ((f->view = view_new(&owner, f)) == NULL) {
		free(f);
		return NULL;
	}
	return f;
}

static void
s_free_groups(fleet_t *f)
{
	size_t i;

	for (i = 0; i < f->n_local_groups; i++)
		free(f->local_groups[i]);
	free(f->local_groups);
	f->local_groups = NULL;
	f->n_local_groups = 0;
}

void
fleet_destroy(fleet_t **fp)
{
	if (fp == NULL || *fp == NULL)
		return;
	view_destroy(&(*fp)->view);
	s_free_groups(*fp);
	free(*fp);
	*fp = NULL;
}

view_t *
fleet_view(fleet_t *f)
{
	return f->view;
}

void
fleet_set_core(fleet_t *f, proc_core_t *core)
{
	f->core = core;
}

void
fleet_set_remote(fleet_t *f, const fleet_remote_t *remote, void *ctx)
{
	if (remote != NULL)
		f->remote = *remote;
	else
		memset(&f->remote, 0, sizeof(f->remote));
	f->remote_ctx = ctx;
}

bool
fleet_is_local(const conf_group_t *g)
{
	size_t i;

	if (g->n_hosts == 0 && g->n_host_labels == 0)
		return true;
	for (i = 0; i < g->n_hosts; i++)
		if (strcmp(g->hosts[i], "local") == 0)
			return true;
	return false;
}

void
fleet_set_conf(fleet_t *f, const conf_t *conf)
{
	json_t *groups = json_array();
	char **local = calloc(conf->n_groups + 1, sizeof(*local));
	size_t i, n = 0;

	for (i = 0; i < conf->n_groups; i++) {
		json_array_append_new(groups, view_group_summary(&conf->groups[i]));
		if (local != NULL && fleet_is_local(&conf->groups[i]) &&
		    (local[n] = strdup(conf->groups[i].name)) != NULL)
			n++;
	}
	view_set_groups(f->view, groups);
	if (local != NULL) {
		s_free_groups(f);
		f->local_groups = local;
		f->n_local_groups = n;
	}
}

void
fleet_on_change(fleet_t *f, const proc_t *p)
{
	view_proc_t v;
	const view_proc_t *old;

	proc_snapshot(p, &v);
	v.host = VIEW_HOST_LOCAL;
	old = view_find(f->view, v.name);
	if (old != NULL && v.pid == old->pid) { /* keep the last samples */
		v.cpu_seconds = old->cpu_seconds;
		v.rss_bytes = old->rss_bytes;
	}
	view_put(f->view, &v);
}

void
fleet_on_removed(fleet_t *f, const proc_t *p)
{
	view_remove(f->view, proc_name(p));
}
