/* One worker instance: its state machine (SPEC 3), spawning it with its
   expanded config, and what happens when it exits. All state changes go
   through proc__set_state(). */
#include "proc_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "units.h"

extern char **environ;

static void s_on_exit(proc__child_t *c, int wstat);
static void s_on_timer(ev_t *ev, ev_timer_t *t);
static void s_fail(proc_t *p, const char *why);

#define P_OF_CHILD(c) ((proc_t *)((char *)(c)-offsetof(proc_t, child)))

proc_t *
proc__new(proc_core_t *core, proc__grp_t *g, unsigned instance)
{
	proc_t *p = calloc(1, sizeof(*p));
	const conf_group_t *cg = g->cg;
	conf_vars_t vars;
	char name[512];

	if (p == NULL)
		return NULL;
	snprintf(name, sizeof(name), "%s:%u", g->name, instance);
	p->core = core;
	p->grp = g;
	p->instance = instance;
	p->state = PROC_STOPPED;
	p->since = clock_wall();
	p->exit_code = -1;
	p->child.on_exit = s_on_exit;
	p->ring_len = cg->max_restarts + 1;
	p->restart_ring = calloc(p->ring_len, sizeof(*p->restart_ring));
	p->usage_ms = -1;
	p->probe_io.fd = -1;
	if ((p->name = strdup(name)) == NULL || p->restart_ring == NULL)
		goto fail;
	vars = (conf_vars_t){
	    .group = g->name, .instance = instance, .name = p->name, .host = core->host};
	proc__cap_init(&p->out, p, "stdout");
	proc__cap_init(&p->err, p, "stderr");
	if (proc__cap_configure(&p->out, &cg->out, core->log_dir, &vars, ".out") != 0 ||
	    proc__cap_configure(&p->err, &cg->err, core->log_dir, &vars, ".err") != 0)
		goto fail;
	return p;
fail:
	proc__free(p);
	return NULL;
}

static void
s_free_now(void *arg)
{
	proc_t *p = arg;

	free(p->name);
	free(p->error);
	free(p->restart_ring);
	free(p->probe_req);
	free(p->ready_target);
	free(p);
}

/* Releases fds and timers now; the memory once the current batch of events
   has been handled, since one of them may still name this process. */
void
proc__free(void *arg)
{
	proc_t *p = arg;

	if (p == NULL)
		return;
	proc__probe_stop(p);
	ev_timer_stop(p->core->ev, &p->timer);
	proc__spawn_dequeue(p->core, p);
	if (p->child.pid > 0)
		proc__pid_del(p->core, &p->child);
	proc__cap_free(&p->out);
	proc__cap_free(&p->err);
	ev_free_later(p->core->ev, p, s_free_now);
}

bool
proc__is_down(const proc_t *p)
{
	return p->child.pid == 0 && p->state != PROC_STARTING && p->state != PROC_RUNNING &&
	       p->state != PROC_STOPPING && !p->spawn_queued;
}

void
proc__set_error(proc_t *p, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	free(p->error);
	p->error = s;
}

void
proc__set_state(proc_t *p, proc_state_t s)
{
	/* FATAL again is news: a manual start failed once more. */
	if (p->state == s && s != PROC_FATAL)
		return;
	log_debug("%s: %s -> %s", p->name, proc_state_name(p->state), proc_state_name(s));
	p->state = s;
	p->since = clock_wall();
	proc__changed(p);
}

/* ---- starting ---- */

static bool
s_deps_ready(proc_t *p)
{
	const conf_group_t *cg = p->grp->cg;
	size_t i;

	for (i = 0; cg != NULL && i < cg->n_depends_on; i++)
		if (!proc__group_is_ready(p->core, cg->depends_on[i]))
			return false;
	return true;
}

/* Wanted up: spawn it as soon as its dependencies are ready. */
static void
s_start(proc_t *p)
{
	if (p->removing || p->core->shutting_down || p->grp->next_cg != NULL)
		return;
	switch (p->state) {
	case PROC_STARTING:
	case PROC_RUNNING:
		return;
	case PROC_STOPPING:
		p->start_after_stop = true;
		return;
	case PROC_BACKOFF:
		ev_timer_stop(p->core->ev, &p->timer);
		break;
	default:
		break;
	}
	if (!s_deps_ready(p)) {
		p->waiting_deps = true;
		return;
	}
	p->waiting_deps = false;
	proc__spawn_enqueue(p->core, p);
}

static void
s_free_strv(char **v)
{
	size_t i;

	for (i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

/* Expands the instance's env in file order (each value may use the ones
   before it) and builds envp: the program's environment, overridden by
   ours. NULL (ENOMEM) when any entry could not be made: a worker never
   starts with part of its environment missing. */
static char **
s_build_env(proc_t *p, conf_kv_t **kv_out, size_t *n_kv)
{
	const conf_group_t *cg = p->grp->cg;
	proc_core_t *core = p->core;
	conf_kv_t *kv;
	conf_vars_t vars = {p->grp->name, p->instance, p->name, core->host, NULL, 0};
	size_t n_env = 0, i, j, k, n = 0, extra = 7;
	char **envp;
	char buf[32];
	bool ok = true;

	kv = calloc(cg->n_env + extra, sizeof(*kv));
	if (kv == NULL)
		return NULL;
	for (i = 0; i < cg->n_env; i++) {
		vars.env = kv;
		vars.n_env = i;
		kv[i].key = cg->env[i].key;
		ok = ok && (kv[i].value = conf_expand(cg->env[i].value, &vars)) != NULL;
	}
	k = cg->n_env;
	snprintf(buf, sizeof(buf), "%u", p->instance);
	kv[k].key = "DROVER_NAME", kv[k++].value = strdup(p->name);
	kv[k].key = "DROVER_GROUP", kv[k++].value = strdup(p->grp->name);
	kv[k].key = "DROVER_INSTANCE", kv[k++].value = strdup(buf);
	if (cg->ready.kind == CONF_READY_NOTIFY)
		kv[k].key = "NOTIFY_SOCKET", kv[k++].value = strdup(core->notify_addr);
	if (cg->queue_access && core->queue_url != NULL)
		kv[k].key = "DROVER_QUEUE_URL", kv[k++].value = strdup(core->queue_url);
	if (cg->queue_access && core->authkey_file != NULL)
		kv[k].key = "DROVER_AUTHKEY_FILE", kv[k++].value = strdup(core->authkey_file);
	*kv_out = kv;
	*n_kv = k;
	for (j = cg->n_env; j < k; j++)
		ok = ok && kv[j].value != NULL;
	for (i = 0; environ[i] != NULL; i++)
		n_env++;
	envp = ok ? calloc(n_env + k + 1, sizeof(*envp)) : NULL;
	if (envp == NULL)
		return NULL;
	for (i = 0; environ[i] != NULL && ok; i++) {
		for (j = 0; j < k; j++) {
			size_t kl = strlen(kv[j].key);
			if (strncmp(environ[i], kv[j].key, kl) == 0 && environ[i][kl] == '=')
				break;
		}
		if (j < k || strncmp(environ[i], "NOTIFY_SOCKET=", 14) == 0)
			continue;
		if ((envp[n] = strdup(environ[i])) == NULL)
			ok = false;
		else
			n++;
	}
	for (j = 0; j < k && ok; j++) {
		char *e;

		if (asprintf(&e, "%s=%s", kv[j].key, kv[j].value) < 0)
			ok = false;
		else
			envp[n++] = e;
	}
	envp[n] = NULL;
	if (!ok) {
		s_free_strv(envp);
		return NULL;
	}
	return envp;
}

static int
s_lookup_user(const char *user, proc__spawn_spec_t *s)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	int n = 64;

	if (getpwnam_r(user, &pw, buf, sizeof(buf), &res) != 0 || res == NULL)
		return -ENOENT;
	s->uid = pw.pw_uid;
	s->gid = pw.pw_gid;
	if (pw.pw_uid == geteuid())
		return 0;
	if (geteuid() != 0)
		return -EPERM;
	/* getgrouplist() says how many there are when the buffer is short. */
	for (;;) {
		int want = n;

		free(s->groups);
		if ((s->groups = calloc((size_t)n, sizeof(gid_t))) == NULL)
			return -ENOMEM;
		if (getgrouplist(user, pw.pw_gid, s->groups, &n) >= 0)
			break;
		if (n <= want)
			n = want * 2;
		if (n > 65536)
			return -E2BIG;
	}
	s->n_groups = n;
	s->switch_user = true;
	return 0;
}

/* Spawns the instance now (from the spawn queue). */
void
proc__spawn(proc_t *p)
{
	proc_core_t *core = p->core;
	const conf_group_t *cg = p->grp->cg;
	proc__spawn_spec_t s;
	conf_kv_t *kv = NULL;
	size_t n_kv = 0, i;
	conf_vars_t vars;
	char **argv = NULL, *path = NULL, *cwd = NULL;
	const char *stage = "spawn";
	int out_fd = -1, err_fd = -1, rc;
	pid_t pid;

	if (!p->want_up || p->child.pid > 0 || cg == NULL || core->shutting_down)
		return;
	memset(&s, 0, sizeof(s));
	s.envp = s_build_env(p, &kv, &n_kv);
	vars = (conf_vars_t){p->grp->name, p->instance, p->name, core->host, kv, n_kv};
	argv = calloc(cg->argc + 1, sizeof(*argv));
	if (s.envp == NULL || argv == NULL) {
		rc = -ENOMEM;
		goto failed;
	}
	for (i = 0; i < cg->argc; i++)
		argv[i] = conf_expand(cg->argv[i], &vars);
	s.argv = argv;
	if ((path = proc__which(argv[0], s.envp)) == NULL) {
		rc = -errno;
		stage = "exec";
		goto failed;
	}
	s.path = path;
	cwd = conf_expand(cg->cwd ? cg->cwd : core->dir, &vars);
	s.cwd = cwd;
	s.umask = cg->umask;
	s.nofile = core->nofile0;
	s.limit_nofile = cg->limit_nofile;
	s.limit_core = cg->limit_core;
	s.limit_memory = cg->limit_memory;
	s.limit_nproc = cg->limit_nproc;
	if (cg->user != NULL && (rc = s_lookup_user(cg->user, &s)) != 0) {
		stage = "switch user";
		goto failed;
	}
	s.fd_in = -1;
	if ((rc = proc__cap_open(&p->out, &out_fd)) != 0 ||
	    (rc = proc__cap_open(&p->err, &err_fd)) != 0) {
		stage = "open output";
		goto failed;
	}
	s.fd_out = out_fd;
	s.fd_err = p->err.mode == CONF_OUT_MERGE ? out_fd : err_fd;
	free(p->ready_target);
	p->ready_target = cg->ready.target ? conf_expand(cg->ready.target, &vars) : NULL;
	pid = proc__exec(core, &s, &stage);
	rc = pid < 0 ? (int)pid : 0;
	if (out_fd >= 0)
		close(out_fd);
	if (err_fd >= 0)
		close(err_fd);
	out_fd = err_fd = -1;
	if (rc != 0)
		goto failed;
	p->child.pid = pid;
	proc__step(p, PEV_SPAWNED, NULL);
	goto done;
failed:
	if (out_fd >= 0)
		close(out_fd);
	if (err_fd >= 0)
		close(err_fd);
	proc__cap_drain_close(&p->out);
	proc__cap_drain_close(&p->err);
	proc__set_error(p, "%s %s: %s", stage,
			strcmp(stage, "chdir") == 0	    ? (cwd ? cwd : "")
			: strcmp(stage, "switch user") == 0 ? cg->user
							    : (argv && argv[0] ? argv[0] : ""),
			strerror(-rc));
	log_error("%s: %s", p->name, p->error);
	/* Transient: back off and retry; else it would fail the same way
	   again: say so, don't crash-loop. */
	proc__step(p,
		   rc == -EAGAIN || rc == -ENOMEM || rc == -EMFILE || rc == -ENFILE
		       ? PEV_SPAWN_AGAIN
		       : PEV_SPAWN_FAILED,
		   NULL);
done:
	for (i = 0; i < n_kv; i++)
		free(kv[i].value);
	free(kv);
	s_free_strv(s.envp);
	s_free_strv(argv);
	free(path);
	free(cwd);
	free(s.groups);
}

/* The exec worked: STARTING, with the start timeout and the readiness check. */
static void
s_spawned(proc_t *p)
{
	proc_core_t *core = p->core;
	const conf_group_t *cg = p->grp->cg;

	if (p->spawns++ > 0)
		p->restarts++;
	proc__pid_add(core, &p->child);
	p->starttime = core->state_file ? proc__starttime(p->child.pid) : 0;
	proc__state_dirty(core);
	p->started_ms = clock_ms();
	p->exit_code = -1;
	p->exit_signal = 0;
	p->ready = cg->ready.kind == CONF_READY_NONE;
	p->min_up_done = false;
	p->fail_pending = false;
	free(p->error);
	p->error = NULL;
	log_info("%s: started, pid %d", p->name, (int)p->child.pid);
	proc__set_state(p, PROC_STARTING);
	ev_timer_start(core->ev, &p->timer, p->started_ms + cg->start_timeout_ms, s_on_timer, p);
	proc__probe_start(p);
}

/* ---- readiness and timers ---- */

static void
s_to_running(proc_t *p)
{
	ev_timer_stop(p->core->ev, &p->timer);
	proc__probe_stop(p);
	p->failures = 0;
	proc__set_state(p, PROC_RUNNING);
}

static void
s_ready(proc_t *p)
{
	if (p->state != PROC_STARTING || p->ready)
		return;
	p->ready = true;
	proc__probe_stop(p);
	if (p->min_up_done)
		s_to_running(p);
	else
		proc__changed(p);
}

static int64_t
s_backoff_ms(const conf_group_t *cg, unsigned failures)
{
	double ms = (double)cg->backoff_initial_ms;
	unsigned i;

	for (i = 1; i < failures && ms < (double)cg->backoff_max_ms; i++)
		ms *= cg->backoff_factor;
	if (ms > (double)cg->backoff_max_ms)
		ms = (double)cg->backoff_max_ms;
	/* +-10% jitter so that a crowd of failing workers does not retry in step. */
	ms *= 0.9 + 0.2 * ((double)random() / (double)RAND_MAX);
	return (int64_t)ms;
}

/* The worker is gone and should come back: back off, or give up when it has
   restarted too often within the window (flapping). */
static void
s_restart_later(proc_t *p, bool failed_start)
{
	const conf_group_t *cg = p->grp->cg;
	int64_t now = clock_ms(), delay;
	unsigned i, recent = 0;

	for (i = 0; i < p->ring_len; i++)
		if (p->restart_ring[i] != 0 &&
		    p->restart_ring[i] > now - cg->max_restarts_within_ms)
			recent++;
	if (recent >= cg->max_restarts) {
		proc__set_error(p, "exited %u times within %lld ms: not restarted (FATAL)",
				recent + 1, (long long)cg->max_restarts_within_ms);
		log_error("%s: %s", p->name, p->error);
		p->want_up = false;
		proc__set_state(p, PROC_FATAL);
		return;
	}
	p->restart_ring[p->ring_pos] = now;
	p->ring_pos = (p->ring_pos + 1) % p->ring_len;
	p->failures++;
	/* A worker that was up restarts at once; failing starts back off. */
	delay = (!failed_start && p->failures == 1) ? 0 : s_backoff_ms(cg, p->failures);
	proc__set_state(p, PROC_BACKOFF);
	ev_timer_start(p->core->ev, &p->timer, now + delay, s_on_timer, p);
}

/* The start failed (not ready in time, or could not spawn): kill what runs,
   then count it like an exit while STARTING. */
static void
s_fail(proc_t *p, const char *why)
{
	if (why != NULL) {
		proc__set_error(p, "%s", why);
		log_error("%s: %s", p->name, why);
	}
	if (p->child.pid > 0) {
		p->fail_pending = true;
		kill(-p->child.pid, SIGKILL);
		kill(p->child.pid, SIGKILL);
		return;
	}
	if (p->grp->cg == NULL || p->grp->cg->restart == CONF_RESTART_NEVER || !p->want_up) {
		p->want_up = false;
		proc__set_state(p, PROC_FATAL);
		return;
	}
	s_restart_later(p, true);
}

static void
s_timer(proc_t *p)
{
	ev_t *ev = p->core->ev;
	const conf_group_t *cg = p->grp->cg;

	switch (p->state) {
	case PROC_STARTING:
		if (!p->min_up_done) {
			p->min_up_done = true;
			if (p->ready) {
				s_to_running(p);
				return;
			}
			ev_timer_start(ev, &p->timer, p->started_ms + cg->ready.timeout_ms,
				       s_on_timer, p);
			return;
		}
		s_fail(p, "not ready within the ready timeout");
		break;
	case PROC_BACKOFF:
		if (p->want_up)
			s_start(p);
		break;
	case PROC_STOPPING:
		/* It ignored the stop signal: kill the whole process group. */
		log_warn("%s: still running %lld ms after the stop signal: SIGKILL", p->name,
			 (long long)p->grp->stop_timeout_ms);
		if (p->child.pid > 0) {
			kill(-p->child.pid, SIGKILL);
			kill(p->child.pid, SIGKILL);
		}
		break;
	default:
		break;
	}
}

/* ---- stopping and exits ---- */

/* Wanted down: the stop signal to what runs (then SIGKILL after the stop
   timeout); what does not run yet is STOPPED at once. */
static void
s_stop(proc_t *p)
{
	proc_core_t *core = p->core;

	p->waiting_deps = false;
	proc__spawn_dequeue(core, p);
	if (p->child.pid > 0) {
		if (p->state == PROC_STOPPING)
			return;
		proc__probe_stop(p);
		kill(-p->child.pid, p->grp->stop_signal);
		kill(p->child.pid, p->grp->stop_signal); /* in case it left its group */
		proc__set_state(p, PROC_STOPPING);
		ev_timer_start(core->ev, &p->timer, clock_ms() + p->grp->stop_timeout_ms,
			       s_on_timer, p);
		return;
	}
	ev_timer_stop(core->ev, &p->timer);
	/* Already down: nothing changes, so nothing to settle (settling here
	   again would loop, since settling is what calls us). */
	if (p->state == PROC_BACKOFF || p->state == PROC_STARTING) {
		proc__set_state(p, PROC_STOPPED);
		proc__settle(core);
	}
}

static bool
s_should_restart(const proc_t *p)
{
	const conf_group_t *cg = p->grp->cg;

	if (!p->want_up || cg == NULL || p->removing || p->core->shutting_down ||
	    p->grp->next_cg != NULL)
		return false;
	switch (cg->restart) {
	case CONF_RESTART_ALWAYS:
		return true;
	case CONF_RESTART_ON_FAILURE:
		return p->exit_code != 0;
	default:
		return false;
	}
}

static void
s_exit(proc_t *p)
{
	proc__child_t *c = &p->child;
	pid_t pid = c->pid;
	int wstat = p->wstat;
	char how[64];

	c->pid = 0;
	proc__state_dirty(p->core);
	/* Whatever the worker left behind in its process group goes with it. */
	kill(-pid, SIGKILL);
	proc__probe_stop(p);
	ev_timer_stop(p->core->ev, &p->timer);
	proc__cap_drain_close(&p->out);
	proc__cap_drain_close(&p->err);
	if (WIFEXITED(wstat)) {
		p->exit_code = WEXITSTATUS(wstat);
		p->exit_signal = 0;
		snprintf(how, sizeof(how), "exit code %d", p->exit_code);
	} else {
		p->exit_code = -1;
		p->exit_signal = WTERMSIG(wstat);
		snprintf(how, sizeof(how), "signal %s",
			 units_signal_name(p->exit_signal) ? units_signal_name(p->exit_signal)
							   : "?");
	}
	p->ready = false;
	log_info("%s: pid %d exited (%s) in state %s", p->name, (int)pid, how,
		 proc_state_name(p->state));
	switch (p->state) {
	case PROC_STOPPING:
		proc__set_state(p, PROC_STOPPED);
		if (p->start_after_stop && !p->removing) {
			p->start_after_stop = false;
			p->failures = 0;
			s_start(p);
		}
		break;
	case PROC_STARTING:
		/* A one-shot job that finished its work early is not a failure. */
		if (p->exit_code == 0 && p->grp->cg != NULL &&
		    p->grp->cg->restart != CONF_RESTART_ALWAYS && !p->fail_pending) {
			p->want_up = false;
			proc__set_state(p, PROC_EXITED);
			break;
		}
		if (!p->fail_pending)
			proc__set_error(p, "exited while starting (%s)", how);
		if (p->want_up && p->grp->cg != NULL && p->grp->cg->restart != CONF_RESTART_NEVER &&
		    !p->removing && !p->core->shutting_down && p->grp->next_cg == NULL) {
			s_restart_later(p, true);
		} else {
			p->want_up = false;
			proc__set_state(p, p->exit_code == 0 ? PROC_EXITED : PROC_FATAL);
		}
		p->fail_pending = false;
		break;
	case PROC_RUNNING:
		if (s_should_restart(p)) {
			s_restart_later(p, false);
		} else {
			p->want_up = false;
			proc__set_state(p, PROC_EXITED);
		}
		break;
	default:
		proc__set_state(p, PROC_EXITED);
		break;
	}
	proc__settle(p->core);
}

/* ---- the transition function ---- */

static void
s_on_exit(proc__child_t *c, int wstat)
{
	proc_t *p = P_OF_CHILD(c);

	p->wstat = wstat;
	proc__step(p, PEV_EXIT, NULL);
}

static void
s_on_timer(ev_t *ev, ev_timer_t *t)
{
	proc__step(t->arg, PEV_TIMER, NULL);
}

/* Upgrade in place: the timer the last program had armed, same deadline
   (CLOCK_MONOTONIC runs on across an exec). */
void
proc__arm_timer(proc_t *p, int64_t at_ms)
{
	ev_timer_start(p->core->ev, &p->timer, at_ms, s_on_timer, p);
}

/* The one place where an instance changes: the event, the state it is in
   and the operator's intent (want_up, start_after_stop, removing) give the
   next state and what is done (spawn, signal, timers). Nothing outside this
   file sets those; the engine and the program send events. */
void
proc__step(proc_t *p, proc__ev_t ev, const char *why)
{
	switch (ev) {
	case PEV_START:
		p->want_up = true;
		s_start(p);
		break;
	case PEV_RESTART:
		p->want_up = true;
		if (p->child.pid > 0) {
			p->start_after_stop = true;
			s_stop(p);
		} else {
			s_start(p);
		}
		break;
	case PEV_STOP:
		p->want_up = false;
		p->start_after_stop = false;
		s_stop(p);
		break;
	case PEV_RECONFIGURE:
		/* Its group changed: down now, fresh instances with the new
		   settings once every instance is down. */
		p->start_after_stop = false;
		s_stop(p);
		break;
	case PEV_REMOVE:
		p->removing = true;
		s_stop(p);
		break;
	case PEV_KEEP:
		/* Scaled back up before it was gone. */
		p->removing = false;
		if (p->grp->want_up) {
			p->want_up = true;
			s_start(p);
		}
		break;
	case PEV_SHUTDOWN:
		/* Nothing restarts any more; what runs is stopped in dependency
		   order (PEV_STOP from the engine), what does not yet run now. */
		p->want_up = false;
		p->start_after_stop = false;
		proc__spawn_dequeue(p->core, p);
		if (p->state == PROC_BACKOFF || p->waiting_deps)
			s_stop(p);
		break;
	case PEV_DEPS:
		if (p->waiting_deps)
			s_start(p);
		break;
	case PEV_SPAWNED:
		s_spawned(p);
		break;
	case PEV_SPAWN_AGAIN:
		s_fail(p, NULL);
		break;
	case PEV_SPAWN_FAILED:
		p->want_up = false;
		proc__set_state(p, PROC_FATAL);
		break;
	case PEV_READY:
		s_ready(p);
		break;
	case PEV_NOT_READY:
		s_fail(p, why);
		break;
	case PEV_TIMER:
		s_timer(p);
		break;
	case PEV_EXIT:
		s_exit(p);
		break;
	}
}

/* ---- actions ---- */

int
proc_start(proc_core_t *core, proc_t *p)
{
	if (p->removing || core->shutting_down)
		return -ESRCH;
	if (p->state == PROC_STARTING || p->state == PROC_RUNNING)
		return -EALREADY;
	if (p->state != PROC_STOPPING) {
		/* A start by hand forgives the past: backoff and flapping. */
		p->failures = 0;
		memset(p->restart_ring, 0, p->ring_len * sizeof(*p->restart_ring));
		free(p->error);
		p->error = NULL;
	}
	proc__step(p, p->state == PROC_STOPPING ? PEV_RESTART : PEV_START, NULL);
	return 0;
}

int
proc_stop(proc_core_t *core, proc_t *p)
{
	bool idle =
	    p->child.pid == 0 && p->state != PROC_BACKOFF && !p->spawn_queued && !p->waiting_deps;

	proc__step(p, PEV_STOP, NULL);
	return idle ? -EALREADY : 0;
}

int
proc_restart(proc_core_t *core, proc_t *p)
{
	int rc;

	if (p->removing || core->shutting_down)
		return -ESRCH;
	if (p->child.pid > 0) {
		proc__step(p, PEV_RESTART, NULL);
		return 0;
	}
	rc = proc_start(core, p);
	return rc == -EALREADY ? 0 : rc;
}

int
proc_signal(proc_core_t *core, proc_t *p, int sig)
{
	if (p->child.pid <= 0)
		return -ESRCH;
	if (kill(p->child.pid, sig) == -1)
		return -errno;
	return 0;
}

/* ---- accessors ---- */

void
proc_snapshot(const proc_t *p, proc_snapshot_t *s)
{
	*s = (proc_snapshot_t){
	    .name = p->name,
	    .group = p->grp->name,
	    .instance = p->instance,
	    .host = NULL,
	    .state = p->state,
	    .pid = (int)p->child.pid,
	    .since = p->since,
	    .restarts = p->restarts,
	    .exit_code = p->exit_code,
	    .exit_signal = p->exit_signal,
	    .ready = proc_ready(p),
	    .cpu_seconds = -1,
	    .rss_bytes = -1,
	    .error = p->error,
	};
}

const char *
proc_name(const proc_t *p)
{
	return p->name;
}

const char *
proc_group(const proc_t *p)
{
	return p->grp->name;
}

unsigned
proc_instance(const proc_t *p)
{
	return p->instance;
}

proc_state_t
proc_state(const proc_t *p)
{
	return p->state;
}

pid_t
proc_pid(const proc_t *p)
{
	return p->child.pid;
}

double
proc_since(const proc_t *p)
{
	return p->since;
}

unsigned
proc_restarts(const proc_t *p)
{
	return p->restarts;
}

int
proc_exit_code(const proc_t *p)
{
	return p->exit_code;
}

int
proc_exit_signal(const proc_t *p)
{
	return p->exit_signal;
}

bool
proc_ready(const proc_t *p)
{
	return p->ready && p->child.pid > 0;
}

const char *
proc_error(const proc_t *p)
{
	return p->error;
}

const char *
proc_log_path(const proc_t *p, const char *stream)
{
	if (stream == NULL || strcmp(stream, "stdout") == 0)
		return p->out.path;
	if (strcmp(stream, "stderr") == 0)
		return p->err.mode == CONF_OUT_MERGE ? p->out.path : p->err.path;
	return NULL;
}

void
proc_usage(proc_t *p, double *cpu_seconds, int64_t *rss_bytes)
{
	static long ticks, page;
	char path[64], buf[1024], *s;
	unsigned long utime, stime;
	long rss;
	int64_t now;
	int fd;
	ssize_t n;

	*cpu_seconds = -1;
	*rss_bytes = -1;
	if (p->child.pid <= 0)
		return;
	now = clock_ms();
	if (p->usage_ms >= 0 && now - p->usage_ms < 1000 && p->cpu >= 0) {
		*cpu_seconds = p->cpu;
		*rss_bytes = p->rss;
		return;
	}
	if (ticks == 0) {
		ticks = sysconf(_SC_CLK_TCK);
		page = sysconf(_SC_PAGESIZE);
	}
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)p->child.pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	/* Fields after the command name, which may hold spaces: skip to ')'. */
	if ((s = strrchr(buf, ')')) == NULL)
		return;
	if (sscanf(s + 2,
		   "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d %*d %*d "
		   "%*u %*u %ld",
		   &utime, &stime, &rss) != 3)
		return;
	p->cpu = (double)(utime + stime) / (double)ticks;
	p->rss = (int64_t)rss * page;
	/* A process caught in its exec has no memory yet: not a sample (unknown,
	   and read again next time). */
	p->usage_ms = p->rss > 0 ? now : -1;
	*cpu_seconds = p->cpu;
	*rss_bytes = p->rss > 0 ? p->rss : -1;
}
