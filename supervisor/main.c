/* droverd: reads the configuration, then runs the process core, the HTTP
   API and the queue host on one event loop (the queue host has its own actor
   thread). Signals arrive as fds: SIGTERM/SIGINT stop everything in reverse
   dependency order and exit 0; SIGHUP reloads by difference. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "api.h"
#include "clock.h"
#include "conf.h"
#include "conf_agent.h"
#include "ev.h"
#include "fleet.h"
#include "history.h"
#include "log.h"
#include "logs.h"
#include "net.h"
#include "proc.h"
#include "sdnotify.h"
#include "secret.h"
#include "str.h"
#include "upgrade.h"
#ifdef DROVER_HAVE_QUEUE
#include <dlfcn.h>

#include "queue_module.h"
#endif
#ifdef DROVER_HAVE_HUB
#include "hub_module.h"
#endif

typedef struct {
	const char *conf_path;
	conf_t *conf;
	ev_t *ev;
	proc_core_t *core;
	fleet_t *fleet; /* owns the view the API reads */
	api_t *api;
	sup_history_t *history; /* the dashboard's charts (history.c) */
#ifdef DROVER_HAVE_QUEUE
	const drover_queue_module_t *qmod; /* loaded when queues are configured */
	queue_host_t *queues;
	bool queues_exported; /* by an upgrade whose exec has not happened yet */
	ev_timer_t queue_events; /* armed only while someone follows the events */
	json_t *queue_seen;	 /* {name: stats} last published */
#endif
#ifdef DROVER_HAVE_HUB
	const drover_hub_module_t *hmod; /* loaded when agents.keys_dir is set */
	hub_t *hub;
#endif
	log_level_t log_level;
	int sigfd;
	ev_io_t sig_io;
	bool stopping;
	ev_timer_t watchdog; /* systemd's, when the unit sets WatchdogSec */
	char hostname[256];
	proc_host_t limits; /* from proc_host_setup(), given to workers */
	/* upgrade in place (upgrade.h) */
	char exe[PATH_MAX]; /* the binary to execute: droverd's path at its start */
	char **argv;	    /* as droverd was started */
	bool upgrading;	    /* an upgrade is scheduled */
	ev_timer_t upgrade_timer;
	json_t *inherit; /* the previous droverd's state, while starting after an upgrade */
} sup_t;

static void
s_usage(FILE *f)
{
	fprintf(f, "usage: droverd [-c FILE] [--check] [-v]\n"
		   "  SIGHUP reloads the configuration, SIGUSR2 upgrades droverd in place\n"
		   "  -c, --config FILE  configuration (default: ./drover.yaml)\n"
		   "  -n, --check        validate the configuration and exit 0 or 1\n"
		   "  -v, --verbose      log state changes too\n"
		   "  -V, --version      print the version\n");
}

/* The listening socket the previous droverd handed over for part ("hub",
   "queues"), or -1. */
static int
s_inherited_fd(const json_t *inherit, const char *part)
{
	json_t *fd = json_object_get(json_object_get(inherit, part), "listen_fd");

	return json_is_integer(fd) ? (int)json_integer_value(fd) : -1;
}

/* ---- what a start needs beyond the file's syntax ---- */

/* Checked alike by --check, the start and a reload (which keeps the running
   configuration when they fail), so that --check passes only what droverd
   runs: secret files private and readable, queues with their authkey, the
   API on loopback unless it has a token, no group placed on agents when
   none can connect (agents.keys_dir unset) or on a name no agent can have. Returns 0, or -1 with *err
   (malloc'd: a line a problem, each after the file's name; NULL when out
   of memory). */
static int
s_preflight(const conf_t *c, char **err)
{
	const char *secrets[][2] = {{"token_file", c->http_token_file},
				    {"authkey_file", c->queues_authkey_file}};
	char msg[512], *v;
	const char *why;
	size_t len = 0, vlen, i, k;
	FILE *out;
	int n = 0;

	*err = NULL;
	if ((out = open_memstream(err, &len)) == NULL)
		return -1;
	for (i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
		if (secrets[i][1] == NULL)
			continue;
		if (secret_check_private(secrets[i][1], msg, sizeof(msg)) != 0) {
			fprintf(out, "%s: %s %s: %s\n", c->path, secrets[i][0], secrets[i][1], msg);
			n++;
		} else if (secret_read(secrets[i][1], &v, &vlen, &why) != 0) {
			fprintf(out, "%s: %s %s: %s\n", c->path, secrets[i][0], secrets[i][1], why);
			n++;
		} else {
			secret_free(v, vlen);
		}
	}
	if (c->n_queues > 0 && c->queues_authkey_file == NULL) {
		fprintf(out,
			"%s: supervisor.queues.authkey_file is not set: the queues need a shared "
			"authkey\n",
			c->path);
		n++;
	}
	if (c->http_token_file == NULL &&
	    net_check_listen(c->http_listen, "http.listen", true, API_NO_TOKEN_WHY, &v) != 0) {
		fprintf(out, "%s: %s\n", c->path, v ? v : "http.listen: out of memory");
		free(v);
		n++;
	}
	for (i = 0; i < c->n_groups && c->agents_keys_dir == NULL; i++) {
		const conf_group_t *g = &c->groups[i];

		if (g->n_host_labels > 0) {
			fprintf(out,
				"%s: groups.%s.hosts: placed by labels on agents, but "
				"supervisor.agents.keys_dir is not set: no agent can connect\n",
				c->path, g->name);
			n++;
			continue;
		}
		for (k = 0; k < g->n_hosts; k++) {
			if (strcmp(g->hosts[k], "local") == 0)
				continue;
			fprintf(out,
				"%s: groups.%s.hosts: %s is an agent, but "
				"supervisor.agents.keys_dir is not set: no agent can connect\n",
				c->path, g->name, g->hosts[k]);
			n++;
			break;
		}
	}
	for (i = 0; i < c->n_groups; i++) {
		for (k = 0; k < c->groups[i].n_hosts; k++) {
			const char *h = c->groups[i].hosts[k];

			if (strcmp(h, "local") != 0 && !conf_agent_name_ok(h)) {
				fprintf(out,
					"%s: groups.%s.hosts: \"%s\" cannot be an agent's name (1 to 64 "
					"letters, digits, '-', '_' or '.', not first '-' or '.')\n",
					c->path, c->groups[i].name, h);
				n++;
			}
		}
	}
	if (fclose(out) != 0) {
		free(*err);
		*err = NULL;
		return -1;
	}
	if (n == 0) {
		free(*err);
		*err = NULL;
		return 0;
	}
	return -1;
}

#ifdef DROVER_HAVE_QUEUE
/* ---- the queue module ---- */

static bool
s_wants_queues(const conf_t *c)
{
	return c->n_queues > 0 || c->queues_authkey_file != NULL;
}

/* Loads the module file (droverd-queues.so, droverd-hub.so) from
   $DROVER_MODULE_DIR, else droverd's own directory (the build tree), else
   <droverd's dir>/../lib/drover (an installed tree, wherever it was moved),
   else the configured install directory, and returns its table symbol, or
   NULL with *err set (malloc'd). The module stays loaded for droverd's
   lifetime. */
static const void *
s_module_load(const char *file, const char *symbol, char **err)
{
	char exe[PATH_MAX], rel[PATH_MAX + 64], path[PATH_MAX + 128],
	    tried[4 * (PATH_MAX + 128)] = "";
	const char *dirs[4] = {getenv("DROVER_MODULE_DIR"), NULL, NULL, DROVER_MODULE_DIR};
	const void *m;
	ssize_t n;
	void *h;
	size_t i;

	if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) > 0) {
		exe[n] = '\0';
		if (strrchr(exe, '/') != NULL) {
			*strrchr(exe, '/') = '\0';
			dirs[1] = exe; /* the build tree: next to droverd */
			snprintf(rel, sizeof(rel), "%s/%s", exe, DROVER_MODULE_RELDIR);
			dirs[2] = rel; /* installed under another prefix */
		}
	}
	for (i = 0; i < 4; i++) {
		if (dirs[i] == NULL || *dirs[i] == '\0')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dirs[i], file);
		if (access(path, F_OK) != 0) {
			if (strlen(tried) + strlen(path) + 3 < sizeof(tried))
				strcat(strcat(tried, *tried ? ", " : ""), path);
			continue;
		}
		if ((h = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
			*err = str_printf("cannot load %s", dlerror());
			return NULL;
		}
		if ((m = dlsym(h, symbol)) == NULL) {
			*err = str_printf("%s is not a module of droverd %s", path, DROVER_VERSION);
			dlclose(h);
		}
		return m;
	}
	*err = str_printf("the module %s was not found (looked for %s)", file, tried);
	return NULL;
}

static const drover_queue_module_t *
s_queue_module_load(char **err)
{
	const drover_queue_module_t *m =
	    s_module_load(DROVER_QUEUE_MODULE_FILE, DROVER_QUEUE_MODULE_SYMBOL, err);

	if (m != NULL &&
	    (m->abi != DROVER_QUEUE_MODULE_ABI || strcmp(m->version, DROVER_VERSION) != 0)) {
		*err = str_printf("%s is not the queue module of droverd %s",
				  DROVER_QUEUE_MODULE_FILE, DROVER_VERSION);
		return NULL;
	}
	return m;
}

/* Loads the module if needed and starts the queue host on conf: on
   listen_fd when it is an inherited listener, from import_fd when it holds
   the previous host's export (-1: neither). */
static int
s_queues_start(sup_t *s, const conf_t *conf, int listen_fd, int import_fd, char **err)
{
	if (s->qmod == NULL && (s->qmod = s_queue_module_load(err)) == NULL)
		return -1;
	s->qmod->set_log(s->log_level, "droverd");
	if ((s->queues = s->qmod->host_new(conf, listen_fd, import_fd, err)) == NULL)
		return -1;
	return 0;
}
#endif

#ifdef DROVER_HAVE_HUB
/* ---- the agent hub ---- */

static void
s_hub_proc_cmd(void *ctx, const view_proc_t *p, const char *cmd, int sig, view_done_fn done,
	       void *arg)
{
	sup_t *s = ctx;

	s->hmod->proc_cmd(s->hub, p, cmd, sig, done, arg);
}

static void
s_hub_logs(void *ctx, const view_proc_t *p, json_t *query, view_logs_fn done, void *arg)
{
	sup_t *s = ctx;

	s->hmod->logs(s->hub, p, query, done, arg);
}

static void
s_hub_group_cmd(void *ctx, const char *group, const char *cmd, long n, view_done_fn done, void *arg)
{
	sup_t *s = ctx;

	s->hmod->group_cmd(s->hub, group, cmd, n, done, arg);
}

/* An agent's state changed: an "agent" event. */
static void
s_on_agent(void *ctx, json_t *agent)
{
	sup_t *s = ctx;

	if (s->api != NULL && api_subscribers(s->api) > 0)
		api_publish(s->api, "agent", agent);
	else
		json_decref(agent);
}

/* Loads the module if needed and starts the hub on conf, on listen_fd when
   it is an inherited listener (-1: the hub binds its own). */
static int
s_hub_start(sup_t *s, const conf_t *conf, int listen_fd, char **err)
{
	static const fleet_remote_t remote = {s_hub_proc_cmd, s_hub_group_cmd, s_hub_logs};
	const drover_hub_module_t *m = s->hmod;

	if (m == NULL) {
		m = s_module_load(DROVER_HUB_MODULE_FILE, DROVER_HUB_MODULE_SYMBOL, err);
		if (m == NULL)
			return -1;
		if (m->abi != DROVER_HUB_MODULE_ABI || strcmp(m->version, DROVER_VERSION) != 0) {
			*err = str_printf("%s is not the hub module of droverd %s",
					  DROVER_HUB_MODULE_FILE, DROVER_VERSION);
			return -1;
		}
		s->hmod = m;
	}
	m->set_log(s->log_level, "droverd");
	if ((s->hub = m->hub_new(s->ev, fleet_view(s->fleet), conf, listen_fd, s_on_agent, s, err)) ==
	    NULL)
		return -1;
	fleet_set_remote(s->fleet, &remote, s);
	return 0;
}

static json_t *
s_agents(void *ctx)
{
	sup_t *s = ctx;

	return s->hub ? s->hmod->agents(s->hub) : json_array();
}

static json_t *
s_agent(void *ctx, const char *name)
{
	sup_t *s = ctx;

	return s->hub ? s->hmod->agent(s->hub, name) : NULL;
}

#endif

/* ---- core events -> API events ---- */

static void
s_on_change(void *ctx, const proc_t *p)
{
	sup_t *s = ctx;

	fleet_on_change(s->fleet, p);
}

static void
s_on_removed(void *ctx, const proc_t *p)
{
	sup_t *s = ctx;

	fleet_on_removed(s->fleet, p);
}

static void
s_on_group(void *ctx, const char *group, const char *what)
{
	sup_t *s = ctx;

	log_info("group %s: %s", group, what);
	if (s->api != NULL)
		api_publish(s->api, "group",
			    json_pack("{s:s, s:s}", "group", group, "event", what));
}

static void
s_on_stopped(void *ctx)
{
	sup_t *s = ctx;

	if (s->stopping) {
		log_info("all processes stopped");
		ev_break(s->ev);
	}
}

/* ---- placement ---- */

/* Applies the groups of conf placed on this host to the process engine;
   the engine copies what it keeps. 0 or -errno, nothing changed on error. */
static int
s_apply_local(sup_t *s, const conf_t *conf)
{
	conf_group_t *local = calloc(conf->n_groups ? conf->n_groups : 1, sizeof(*local));
	size_t i, n = 0;
	int rc;

	if (local == NULL)
		return -ENOMEM;
	for (i = 0; i < conf->n_groups; i++) {
		const conf_group_t *g = &conf->groups[i];
		size_t k;

		if (!fleet_is_local(g))
			continue;
		local[n] = *g; /* shallow: only read while applying */
		/* hosts: [node-1, local]: local runs the second block of indices */
		for (k = 0; k < g->n_hosts; k++)
			if (strcmp(g->hosts[k], "local") == 0)
				break;
		local[n++].instance_base = k < g->n_hosts ? (unsigned)k * g->instances : 0;
	}
	rc = proc_core_set_queue_access(
	    s->core, conf->queues_advertise ? conf->queues_advertise : conf->queues_listen,
	    conf->queues_authkey_file);
	if (rc == 0)
		rc = proc_core_apply(s->core, local, n);
	free(local);
	if (rc == 0)
		fleet_set_conf(s->fleet, conf);
	return rc;
}

/* ---- reload ---- */

/* The config event of a reload: ok when all of it was applied, applied
   when the new configuration runs (ok, or all but what errors says). */
static void
s_publish_config(sup_t *s, bool ok, bool applied, const char *errors)
{
	json_t *ev;

	if (s->api == NULL)
		return;
	ev = json_pack("{s:b, s:b, s:s}", "ok", ok, "applied", applied, "config_file",
		       s->conf->path);
	if (errors != NULL)
		json_object_set_new(ev, "errors", logs_json_text(errors, strlen(errors)));
	api_publish(s->api, "config", ev);
}

/* Adds a line (a problem of a reload) to *errs. */
static void s_reload_err(char **errs, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
s_reload_err(char **errs, const char *fmt, ...)
{
	char line[2048], *all;
	size_t n;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	n = strlen(line);
	all = str_printf("%s%s%s", *errs ? *errs : "", line,
			 n > 0 && line[n - 1] == '\n' ? "" : "\n");
	if (all != NULL) {
		free(*errs);
		*errs = all;
	}
}

/* Re-reads the config file: an invalid one keeps the running config and
   returns its errors (API_RELOAD_INVALID); a valid one is applied by
   difference (0), or not at all when the processes' part fails
   (API_RELOAD_NOT_APPLIED), or all but what failed of the agents' and
   queues' parts (API_RELOAD_PARTIAL, with what). */
static int
s_reload_file(sup_t *s, char **errors)
{
	conf_t *next = NULL, *old;
	char *errs = NULL;
	int rc;

	log_info("reloading %s", s->conf_path);
	if (conf_load(s->conf_path, &next, &errs) != 0) {
		log_error("reload: %s is invalid, keeping the running configuration:\n%s",
			  s->conf_path, errs ? errs : "");
		s_publish_config(s, false, false, errs);
		if (errors != NULL)
			*errors = errs;
		else
			free(errs);
		return API_RELOAD_INVALID;
	}
	if (s_preflight(next, &errs) != 0) {
		log_error("reload: keeping the running configuration:\n%s",
			  errs ? errs : "out of memory");
		if (errs == NULL)
			errs = str_printf("out of memory\n");
		s_publish_config(s, false, false, errs);
		if (errors != NULL)
			*errors = errs;
		else
			free(errs);
		conf_free(&next);
		return API_RELOAD_INVALID;
	}
	if (strcmp(next->http_listen, s->conf->http_listen) != 0)
		log_warn("reload: http.listen changed; it takes effect when droverd restarts");
	rc = s_apply_local(s, next);
	if (rc != 0) {
		errs = str_printf("the processes: %s; nothing was changed\n", strerror(-rc));
		log_error("reload: applying the new configuration: %s", strerror(-rc));
		s_publish_config(s, false, false, errs);
		if (errors != NULL)
			*errors = errs;
		else
			free(errs);
		conf_free(&next);
		return API_RELOAD_NOT_APPLIED;
	}
	/* The processes run by the new configuration from here: what fails
	   below is said, and the rest stays applied. */
#ifdef DROVER_HAVE_HUB
	if (s->hub != NULL) {
		if ((rc = s->hmod->hub_apply(s->hub, next)) != 0)
			s_reload_err(&errs, "agents: the placements were not changed: %s",
				     strerror(-rc));
	} else if (next->agents_keys_dir != NULL) {
		char *herr = NULL;

		if (s_hub_start(s, next, -1, &herr) != 0)
			s_reload_err(&errs, "agents: %s", herr ? herr : "cannot start");
		free(herr);
	}
#endif
#ifdef DROVER_HAVE_QUEUE
	if (s->queues != NULL) {
		char *qerr = NULL;

		if (s->qmod->host_apply(s->queues, next, &qerr) != 0)
			s_reload_err(&errs, "%s",
				     qerr ? qerr : "queues: not every change was applied");
		free(qerr);
	} else if (s_wants_queues(next)) {
		char *qerr = NULL;

		if (s_queues_start(s, next, -1, -1, &qerr) != 0)
			s_reload_err(&errs, "queues: %s", qerr ? qerr : "cannot start");
		free(qerr);
	}
#endif
	old = s->conf;
	s->conf = next;
	conf_free(&old);
	if (errs != NULL) {
		log_error("reloaded %s, except:\n%s", s->conf_path, errs);
		s_publish_config(s, false, true, errs);
		if (errors != NULL)
			*errors = errs;
		else
			free(errs);
		return API_RELOAD_PARTIAL;
	}
	log_info("reloaded %s", s->conf_path);
	s_publish_config(s, true, true, NULL);
	return 0;
}

/* SIGHUP and POST /api/v1/reload: s_reload_file, with systemd told (the
   unit's ExecReload returns once it is over). */
static int
s_reload(void *ctx, char **errors)
{
	sup_t *s = ctx;
	int rc;

	sdn_reloading();
	rc = s_reload_file(s, errors);
	sdn_ready(rc == 0 ? "running" : "running; the last reload failed, see the log");
	return rc;
}

/* How long an orderly stop may take at most: every local group's stop
   timeout in turn (dependency order can make them wait for each other),
   and a little for the rest. */
static int64_t
s_stop_within_ms(const conf_t *c)
{
	int64_t ms = 5000;
	size_t i;

	for (i = 0; i < c->n_groups; i++)
		if (fleet_is_local(&c->groups[i]))
			ms += c->groups[i].stop_timeout_ms;
	return ms;
}

/* ---- hooks for the API ---- */

#ifdef DROVER_HAVE_QUEUE
static json_t *
s_queues(void *ctx)
{
	sup_t *s = ctx;

	return s->queues ? s->qmod->host_stats(s->queues) : json_array();
}

static char *
s_metrics(void *ctx)
{
	sup_t *s = ctx;
	char *q = s->queues ? s->qmod->host_metrics(s->queues) : NULL, *h = NULL, *both;

#ifdef DROVER_HAVE_HUB
	h = s->hub ? s->hmod->metrics(s->hub) : NULL;
#endif
	if (h == NULL)
		return q;
	if (q == NULL)
		return h;
	both = str_printf("%s%s", q, h);
	free(q);
	free(h);
	return both;
}
#endif

#ifdef DROVER_HAVE_QUEUE
/* ---- queue events ---- */

#define SUP_QUEUE_EVENTS_MS 1000

/* While an event stream is open, once a second: a "queue" event for every
   queue whose numbers changed since the last one (and once for each at the
   start). The queue thread is asked for its numbers then, so a busy queue
   costs one event a second, not one per message; with nobody listening
   nothing runs. */
static void
s_on_queue_events(ev_t *ev, ev_timer_t *t)
{
	sup_t *s = t->arg;
	json_t *list, *q, *seen;
	const char *name;
	size_t i;

	if (api_subscribers(s->api) == 0 || s->queues == NULL) {
		json_decref(s->queue_seen);
		s->queue_seen = NULL;
		return;
	}
	if (s->queue_seen == NULL)
		s->queue_seen = json_object();
	list = s->qmod->host_stats(s->queues);
	for (i = 0; json_is_array(list) && i < json_array_size(list); i++) {
		q = json_array_get(list, i);
		if ((name = json_string_value(json_object_get(q, "name"))) == NULL)
			continue;
		seen = json_object_get(s->queue_seen, name);
		if (seen != NULL && json_equal(seen, q))
			continue;
		json_object_set(s->queue_seen, name, q);
		api_publish(s->api, "queue", json_incref(q));
	}
	json_decref(list);
	ev_timer_start(ev, t, clock_ms() + SUP_QUEUE_EVENTS_MS, s_on_queue_events, s);
}

static void
s_subscribed(void *ctx)
{
	sup_t *s = ctx;

	/* A new subscriber gets every queue's numbers once, at once. */
	json_decref(s->queue_seen);
	s->queue_seen = NULL;
	if (s->queues != NULL)
		ev_timer_start(s->ev, &s->queue_events, clock_ms(), s_on_queue_events, s);
}
#endif

static json_t *
s_history(void *ctx, const char *kind, const char *name)
{
	return sup_history_json(((sup_t *)ctx)->history, kind, name);
}

/* ---- upgrade in place (docs/upgrade.md) ---- */

#ifdef DROVER_HAVE_QUEUE
/* The queue host's part: its export in a memfd of its own and its listener,
   both kept across the exec. Returns the memfd, or -1 (nothing exported,
   or the export failed and the host must be started again). */
static int
s_queues_export(sup_t *s, upgrade_keep_t *keep, json_t *st)
{
	char *err = NULL;
	int fd = upgrade_memfd("drover-upgrade-queues"), lfd = s->qmod->host_listen_fd(s->queues);

	if (fd < 0) {
		log_error("upgrade: queues: memfd: %s", strerror(errno));
		return -1;
	}
	s->queues_exported = true; /* from here on the host serves nothing */
	if (s->qmod->host_export(s->queues, fd, &err) != 0 || lseek(fd, 0, SEEK_SET) != 0) {
		log_error("upgrade: queues: %s", err ? err : strerror(errno));
		free(err);
		close(fd);
		return -1;
	}
	upgrade_keep(keep, fd);
	upgrade_keep(keep, lfd);
	json_object_set_new(st, "queues", json_pack("{s:i, s:i}", "listen_fd", lfd, "state_fd", fd));
	return fd;
}

/* The exec failed after the queue host was handed over: a new host on the
   same listener from its own export (or, when the export failed, from the
   durable store alone). */
static void
s_queues_restart(sup_t *s, int export_fd)
{
	int lfd = dup(s->qmod->host_listen_fd(s->queues));
	char *err = NULL;

	s->qmod->host_destroy(&s->queues);
	s->queues_exported = false;
	if (export_fd >= 0)
		lseek(export_fd, 0, SEEK_SET);
	if (lfd < 0 || s_queues_start(s, s->conf, lfd, export_fd, &err) != 0) {
		log_error("upgrade: the queue host does not start again: %s",
			  err ? err : strerror(errno));
		free(err);
		if (lfd >= 0)
			close(lfd);
	}
	if (export_fd >= 0)
		close(export_fd);
}
#endif

/* The exec, once the API has sent its reply. Everything that goes across
   is gathered first; the queue host is handed over last, since that stops
   it. When the exec fails, droverd goes on as it was. */
static void
s_upgrade_now(ev_t *ev, ev_timer_t *t)
{
	sup_t *s = t->arg;
	upgrade_keep_t keep = {0};
	json_t *st, *part;
	char *err = NULL;
	int state_fd = -1, queue_fd = -1, rc = -ENOMEM;

	(void)ev;
	s->upgrading = false;
	if (s->stopping)
		return;
	st = json_pack("{s:i, s:s, s:{s:s, s:s, s:s%}}", "version", UPGRADE_VERSION, "from",
		       DROVER_VERSION, "conf", "path", s->conf->path, "dir", s->conf->dir, "text",
		       s->conf->text ? s->conf->text : "", s->conf->text ? s->conf->text_len : 0);
	if (st == NULL)
		goto nomem;
	if ((part = proc_core_export(s->core, upgrade_keep, &keep)) == NULL ||
	    json_object_set_new(st, "proc", part) != 0)
		goto nomem;
	if ((part = api_export(s->api, upgrade_keep, &keep)) == NULL ||
	    json_object_set_new(st, "api", part) != 0)
		goto nomem;
#ifdef DROVER_HAVE_HUB
	if (s->hub != NULL) {
		/* Agents reconnect to the same socket and register again. */
		upgrade_keep(&keep, s->hmod->hub_listen_fd(s->hub));
		json_object_set_new(st, "hub",
				    json_pack("{s:i}", "listen_fd", s->hmod->hub_listen_fd(s->hub)));
	}
#endif
	if ((part = sup_history_export(s->history)) == NULL ||
	    json_object_set_new(st, "history", part) != 0)
		goto nomem;
#ifdef DROVER_HAVE_QUEUE
	/* Last: the export stops the queue host. */
	if (s->queues != NULL && (queue_fd = s_queues_export(s, &keep, st)) < 0) {
		err = strdup("the queue host could not hand its state over");
		goto restart_queues;
	}
#endif
	sdn_reloading(); /* systemd: the same main pid, ready again soon */
	rc = upgrade_exec(s->exe, s->argv, st, &keep, &state_fd, &err);
	sdn_ready("running; the last upgrade failed, see the log");
#ifdef DROVER_HAVE_QUEUE
restart_queues:
	if (queue_fd >= 0 || s->queues_exported)
		s_queues_restart(s, queue_fd);
#endif
	log_error("upgrade failed, droverd goes on as it was: %s", err ? err : strerror(-rc));
	if (s->api != NULL)
		api_publish(s->api, "upgrade", json_pack("{s:b, s:s}", "ok", 0, "error", err ? err : "?"));
	free(err);
	if (state_fd >= 0)
		close(state_fd);
	json_decref(st);
	upgrade_keep_free(&keep);
	return;
nomem:
	log_error("upgrade failed, droverd goes on as it was: out of memory");
	json_decref(st);
	upgrade_keep_free(&keep);
}

/* SIGUSR2 and POST /api/v1/upgrade: checks that the binary runs, then
   upgrades after delay_ms (time for the API's reply to leave). Returns the
   reply's object, or NULL with *err. */
static json_t *
s_upgrade_schedule(sup_t *s, int64_t delay_ms, char **err)
{
	char *version;
	json_t *o;

	if (s->stopping) {
		*err = strdup("droverd is stopping");
		return NULL;
	}
	if (s->upgrading) {
		*err = strdup("an upgrade is already under way");
		return NULL;
	}
	if ((version = upgrade_check_binary(s->exe, err)) == NULL)
		return NULL;
	log_info("upgrade in place to %s (%s) in %lld ms", version, s->exe, (long long)delay_ms);
	o = json_pack("{s:b, s:s, s:s, s:s, s:i}", "ok", 1, "binary", s->exe, "from",
		      "droverd " DROVER_VERSION, "to", version, "pid", (int)getpid());
	free(version);
	s->upgrading = true;
	ev_timer_start(s->ev, &s->upgrade_timer, clock_ms() + delay_ms, s_upgrade_now, s);
	return o;
}

static json_t *
s_upgrade_hook(void *ctx, char **err)
{
	return s_upgrade_schedule(ctx, 200, err);
}

/* ---- signals ---- */

static void
s_on_signal(ev_t *ev, ev_io_t *io, uint32_t events)
{
	sup_t *s = io->arg;
	struct signalfd_siginfo si;

	while (read(s->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			proc_core_reap(s->core);
			break;
		case SIGHUP:
			if (!s->stopping)
				s_reload(s, NULL);
			break;
		case SIGUSR2: {
			char *err = NULL;
			json_t *o = s_upgrade_schedule(s, 0, &err);

			if (o == NULL) {
				log_error("upgrade refused: %s", err ? err : "?");
				free(err);
			}
			json_decref(o);
			break;
		}
		case SIGTERM:
		case SIGINT:
			if (s->stopping) {
				log_warn("second stop signal: killing every process now");
				ev_break(ev);
				break;
			}
			log_info("received SIG%s: stopping all processes",
				 si.ssi_signo == SIGTERM ? "TERM" : "INT");
			s->stopping = true;
			sdn_stopping(s_stop_within_ms(s->conf));
			proc_core_shutdown(s->core);
			break;
		default:
			break;
		}
	}
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'}, {"check", no_argument, NULL, 'n'},
	    {"verbose", no_argument, NULL, 'v'},      {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},	      {NULL, 0, NULL, 0}};
	sup_t sup = {.conf_path = "drover.yaml", .sigfd = -1, .log_level = DLOG_INFO};
	proc_events_t pev = {s_on_change, s_on_group, s_on_removed, s_on_stopped};
	api_hooks_t hooks = {.reload = s_reload, .history = s_history};
	api_config_t acfg;
	proc_run_t run;
	char state_file[PATH_MAX];
	char *errs = NULL, *token = NULL, *aerr = NULL;
	size_t token_len = 0;
	const char *why = "unreadable";
	bool check = false;
	sigset_t mask;
	int c, rc;

	log_set_ident("droverd");
	while ((c = getopt_long(argc, argv, "c:nvVh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			sup.conf_path = optarg;
			break;
		case 'n':
			check = true;
			break;
		case 'v':
			sup.log_level = DLOG_DEBUG;
			log_set_level(DLOG_DEBUG);
			break;
		case 'V':
			printf("droverd %s\n", DROVER_VERSION);
			return 0;
		case 'h':
			s_usage(stdout);
			return 0;
		default:
			s_usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		s_usage(stderr);
		return 2;
	}
	sup.argv = argv;
	if (!check && (sup.inherit = upgrade_inherit(&errs)) == NULL && errs != NULL) {
		/* Its workers are found through the state file below and stopped. */
		log_error("upgrade: %s; starting afresh", errs);
		free(errs);
		errs = NULL;
	}
	if (sup.inherit != NULL) {
		/* The configuration the previous droverd ran, not the file as it
		   may have been edited since: a changed file waits for a reload. */
		json_t *ic = json_object_get(sup.inherit, "conf");
		const char *text = json_string_value(json_object_get(ic, "text"));
		size_t len = json_string_length(json_object_get(ic, "text"));

		if (text == NULL ||
		    conf_parse_string(text, len, json_string_value(json_object_get(ic, "path")),
				      json_string_value(json_object_get(ic, "dir")), &sup.conf,
				      &errs) != 0 ||
		    (sup.conf->text = malloc(len + 1)) == NULL) {
			log_error("upgrade: the previous configuration does not parse here, reading "
				  "%s:\n%s",
				  sup.conf_path, errs ? errs : "");
			free(errs);
			errs = NULL;
			conf_free(&sup.conf);
		} else {
			memcpy(sup.conf->text, text, len + 1);
			sup.conf->text_len = len;
		}
	}
	if (sup.conf == NULL && conf_load(sup.conf_path, &sup.conf, &errs) != 0) {
		fputs(errs ? errs : "invalid configuration\n", stderr);
		free(errs);
		return 1;
	}
	if (realpath("/proc/self/exe", sup.exe) == NULL)
		snprintf(sup.exe, sizeof(sup.exe), "%s", argv[0]);
	rc = s_preflight(sup.conf, &errs);
	if (rc != 0 && sup.inherit != NULL) {
		/* An upgrade in place: the workers are ours now, so droverd runs
		   on with what it can start, as the previous one did. */
		log_error("upgrade: %s", errs ? errs : "out of memory");
		free(errs);
		errs = NULL;
	} else if (rc != 0) {
		if (check) {
			fputs(errs ? errs : "out of memory\n", stderr);
			free(errs);
			conf_free(&sup.conf);
			return 1;
		}
		if (errs != NULL)
			errs[strlen(errs) - 1] = '\0'; /* die() ends the line */
		die(EX_CONFIG, "%s", errs ? errs : "out of memory");
	}
	if (check) {
		printf("%s: OK (%zu groups, %zu queues)\n", sup.conf_path, sup.conf->n_groups,
		       sup.conf->n_queues);
		conf_free(&sup.conf);
		return 0;
	}

	/* Signals become fds; block them before any thread exists. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR2);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);

	if ((rc = str_mkdirs(sup.conf->state_dir)) != 0)
		die(EX_CANTCREAT, "state_dir %s: %s", sup.conf->state_dir, strerror(-rc));
	if ((rc = str_mkdirs(sup.conf->log_dir)) != 0)
		die(EX_CANTCREAT, "log_dir %s: %s", sup.conf->log_dir, strerror(-rc));
	if (sup.conf->http_token_file != NULL &&
	    secret_read(sup.conf->http_token_file, &token, &token_len, &why) != 0)
		die(EX_CONFIG, "token_file %s: %s", sup.conf->http_token_file, why);
	if (gethostname(sup.hostname, sizeof(sup.hostname) - 1) != 0)
		strcpy(sup.hostname, "localhost");

	if ((rc = proc_host_setup(&sup.limits)) != 0)
		die(EX_OSERR, "process setup: %s", strerror(-rc));
	if ((sup.ev = ev_new()) == NULL)
		die(EX_OSERR, "event loop: %s", strerror(errno));
	snprintf(state_file, sizeof(state_file), "%s/workers.state", sup.conf->state_dir);
	if (sup.inherit == NULL && (rc = proc_leftovers_stop(state_file, 10000)) > 0)
		log_warn("stopped %d workers that a previous droverd left running", rc);
	run = (proc_run_t){.host = sup.hostname,
			   .dir = sup.conf->dir,
			   .log_dir = sup.conf->log_dir,
			   .limits = sup.limits,
			   .state_file = state_file};
	if (sup.inherit != NULL) {
		json_t *pst = json_object_get(sup.inherit, "proc");

		run.notify_addr = json_string_value(json_object_get(pst, "notify_addr"));
		run.notify_fd = (int)json_integer_value(json_object_get(pst, "notify_fd"));
	}
	if ((sup.fleet = fleet_new()) == NULL)
		die(EX_OSERR, "process view: %s", strerror(errno));
	if ((sup.core = proc_core_new(sup.ev, &run, &pev, &sup)) == NULL)
		die(EX_OSERR, "process core: %s", strerror(errno));
	fleet_set_core(sup.fleet, sup.core);
	if (sup.inherit != NULL) {
		size_t i;
		long n;

		if (proc_core_adopt(sup.core, json_object_get(sup.inherit, "proc")) != 0)
			log_error("upgrade: the previous droverd's workers cannot be taken over");
		/* Groups keep the instance counts they were scaled to. */
		for (i = 0; i < sup.conf->n_groups; i++)
			if ((n = proc_core_adopt_instances(sup.core, sup.conf->groups[i].name)) >= 0)
				sup.conf->groups[i].instances = (unsigned)n;
	}
	if ((sup.sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)) < 0 ||
	    ev_io_start(sup.ev, &sup.sig_io, sup.sigfd, EPOLLIN, s_on_signal, &sup) != 0)
		die(EX_OSERR, "signalfd: %s", strerror(errno));

#ifdef DROVER_HAVE_QUEUE
	if (s_wants_queues(sup.conf)) {
		json_t *qst = json_object_get(sup.inherit, "queues");
		int import_fd = json_is_integer(json_object_get(qst, "state_fd"))
				    ? (int)json_integer_value(json_object_get(qst, "state_fd"))
				    : -1;

		if (import_fd >= 0)
			fcntl(import_fd, F_SETFD, FD_CLOEXEC);
		if (s_queues_start(&sup, sup.conf, s_inherited_fd(sup.inherit, "queues"), import_fd,
				   &aerr) != 0)
			die(EX_CONFIG, "queues: %s", aerr ? aerr : "cannot start");
		if (import_fd >= 0)
			close(import_fd);
	}
	hooks.queues = s_queues;
	hooks.metrics = s_metrics;
	hooks.subscribed = s_subscribed;
#endif
#ifdef DROVER_HAVE_HUB
	if (sup.conf->agents_keys_dir != NULL &&
	    s_hub_start(&sup, sup.conf, s_inherited_fd(sup.inherit, "hub"), &aerr) != 0)
		die(EX_CONFIG, "agents: %s", aerr ? aerr : "cannot start");
	hooks.agents = s_agents;
	hooks.agent = s_agent;
#endif
	hooks.upgrade = s_upgrade_hook;
	acfg = (api_config_t){.listen = sup.conf->http_listen,
			      .token = token,
			      .config_file = sup.conf->path,
			      .name = sup.conf->name,
			      .web_root = sup.conf->http_web_root,
			      .inherit = json_object_get(sup.inherit, "api")};
	if ((sup.history = sup_history_new(sup.ev, fleet_view(sup.fleet), hooks.queues, &sup)) ==
	    NULL)
		die(EX_OSERR, "history: %s", strerror(errno));
	sup_history_inherit(sup.history, json_object_get(sup.inherit, "history"));
	if ((sup.api = api_new(sup.ev, fleet_view(sup.fleet), &acfg, &hooks, &sup, &aerr)) == NULL)
		die(EX_CONFIG, "http: %s", aerr ? aerr : "cannot start");
	secret_free(token, token_len);
	log_info("droverd %s: %s, %zu groups, API on http://%s", DROVER_VERSION, sup.conf->path,
		 sup.conf->n_groups, sup.conf->http_listen);
	if ((rc = s_apply_local(&sup, sup.conf)) != 0)
		die(EX_SOFTWARE, "apply configuration: %s", strerror(-rc));
	if (sup.inherit != NULL) {
		unsigned left = proc_core_adopt_done(sup.core);

		log_info("upgraded in place from droverd %s: %zu processes kept%s",
			 json_string_value(json_object_get(sup.inherit, "from")),
			 proc_core_count(sup.core), left ? ", some stopped (see above)" : "");
		proc_core_reap(sup.core); /* exits that came during the exec */
		json_decref(sup.inherit);
		sup.inherit = NULL;
	}
	/* The API listens and the autostart groups are started: a
	   Type=notify unit is up. */
	sdn_watchdog_start(sup.ev, &sup.watchdog);
	sdn_ready("running");

	rc = ev_run(sup.ev);
	if (rc != 0)
		log_error("event loop: %s", strerror(-rc));
	ev_timer_stop(sup.ev, &sup.watchdog);
	ev_timer_stop(sup.ev, &sup.upgrade_timer);

	api_destroy(&sup.api);
	sup_history_destroy(&sup.history);
#ifdef DROVER_HAVE_HUB
	if (sup.hub != NULL)
		sup.hmod->hub_destroy(&sup.hub);
#endif
#ifdef DROVER_HAVE_QUEUE
	ev_timer_stop(sup.ev, &sup.queue_events);
	json_decref(sup.queue_seen);
	if (sup.queues != NULL)
		sup.qmod->host_destroy(&sup.queues);
#endif
	proc_core_destroy(&sup.core);
	fleet_destroy(&sup.fleet);
	ev_io_stop(sup.ev, &sup.sig_io);
	close(sup.sigfd);
	ev_destroy(&sup.ev);
	conf_free(&sup.conf);
	log_info("exit");
	return rc == 0 ? 0 : 1;
}
