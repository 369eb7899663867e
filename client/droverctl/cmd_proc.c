/* Process commands: status, start/stop/restart, signal, reload, scale, upgrade. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <time.h>

#include "ctl.h"
#include "table.h"
#include "units.h"

#define CTL_POLL_MS 100
#define CTL_WAIT_DEFAULT_S 30.0
#define CTL_GRACE_S 1.0

static double
s_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
s_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
s_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static const char *
s_str(const json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v != NULL ? v : "";
}

static bool
s_is_process_name(const char *s)
{
	return strchr(s, ':') != NULL;
}

/* A signal number or name from the API as a name. */
static const char *
s_signame(const json_t *v, char *buf, size_t len)
{
	const char *n;

	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v)) {
		n = units_signal_name((int)json_integer_value(v));
		if (n != NULL)
			return n;
		snprintf(buf, len, "%lld", (long long)json_integer_value(v));
		return buf;
	}
	return NULL;
}

/* The INFO cell: why a process is not running, when that matters. */
static void
s_info(const json_t *p, double now, char *buf, size_t len)
{
	const char *state = s_str(p, "state"), *err = s_str(p, "error"), *sig;
	json_t *code = json_object_get(p, "exit_code");
	double since = json_number_value(json_object_get(p, "since"));
	char sb[16], ago[32];

	buf[0] = '\0';
	if (strcmp(state, "RUNNING") == 0 || strcmp(state, "STOPPED") == 0)
		return;
	if (strcmp(state, "STARTING") == 0) {
		if (json_is_false(json_object_get(p, "ready")))
			snprintf(buf, len, "waiting until ready");
		return;
	}
	if (err[0] != '\0') {
		snprintf(buf, len, "%s", err);
		return;
	}
	sig = s_signame(json_object_get(p, "exit_signal"), sb, sizeof(sb));
	fmt_duration(since > 0 ? now - since : -1, ago, sizeof(ago));
	if (sig != NULL)
		snprintf(buf, len, "killed by SIG%s, %s ago", sig, ago);
	else if (json_is_integer(code))
		snprintf(buf, len, "exit %lld, %s ago", (long long)json_integer_value(code), ago);
}

static const char *
s_state_colour(const json_t *p)
{
	const char *s = s_str(p, "state");
	json_t *code = json_object_get(p, "exit_code");

	if (strcmp(s, "RUNNING") == 0)
		return "32";
	if (strcmp(s, "STARTING") == 0 || strcmp(s, "STOPPING") == 0 || strcmp(s, "BACKOFF") == 0)
		return "33";
	if (strcmp(s, "FATAL") == 0)
		return "31";
	if (strcmp(s, "EXITED") == 0)
		return json_is_integer(code) && json_integer_value(code) == 0 ? NULL : "31";
	if (strcmp(s, "UNKNOWN") == 0)
		return "35";
	return NULL;
}

/* Prints the process table of the array procs. */
static void
s_print_processes(ctl_t *c, json_t *procs)
{
	static const char *heads[] = {"NAME", "HOST",	"STATE", "PID", "UPTIME",
				      "RESTARTS", "CPU", "MEM",	  "INFO"};
	const char *cells[9], *cols[9] = {NULL};
	char pid[24], up[32], rs[24], cpu[32], mem[32], info[512];
	double now = s_now();
	bool hosts = false;
	size_t i, n;
	json_t *p;
	table_t *t;

	json_array_foreach(procs, i, p) if (strcmp(s_str(p, "host"), "local") != 0 &&
					    s_str(p, "host")[0] != '\0') hosts = true;
	/* HOST only when some process runs elsewhere. */
	if (hosts) {
		t = table_new(heads, 9);
	} else {
		const char *h2[] = {heads[0], heads[2], heads[3], heads[4],
				    heads[5], heads[6], heads[7], heads[8]};
		t = table_new(h2, 8);
	}
	if (t == NULL)
		return;
	n = hosts ? 9 : 8;
	for (size_t k = hosts ? 3 : 2; k < n - 1; k++)
		table_align_right(t, k);
	json_array_foreach(procs, i, p)
	{
		json_t *jp = json_object_get(p, "pid");
		json_t *cs = json_object_get(p, "cpu_seconds"), *rss = json_object_get(p, "rss_bytes");
		double since = json_number_value(json_object_get(p, "since"));
		size_t k = 0;

		snprintf(pid, sizeof(pid), "-");
		if (json_is_integer(jp) && json_integer_value(jp) > 0)
			snprintf(pid, sizeof(pid), "%lld", (long long)json_integer_value(jp));
		fmt_duration(pid[0] != '-' && since > 0 ? now - since : -1, up, sizeof(up));
		snprintf(rs, sizeof(rs), "%lld",
			 (long long)json_integer_value(json_object_get(p, "restarts")));
		fmt_cpu(json_is_number(cs) ? json_number_value(cs) : -1, cpu, sizeof(cpu));
		fmt_bytes(json_is_integer(rss) ? (int64_t)json_integer_value(rss) : -1, mem,
			  sizeof(mem));
		s_info(p, now, info, sizeof(info));
		cells[k++] = s_str(p, "name");
		if (hosts)
			cells[k++] = s_str(p, "host");
		cols[k] = s_state_colour(p);
		cells[k++] = s_str(p, "state");
		cells[k++] = pid;
		cells[k++] = up;
		cells[k++] = rs;
		cells[k++] = cpu;
		cells[k++] = mem;
		cells[k++] = info;
		table_add(t, cells, cols);
	}
	table_print(t, stdout, c->colour);
	table_destroy(&t);
}

/* True when group is a group droverd knows (from GET /api/v1/groups). */
static int
s_group_exists(ctl_t *c, const char *group, bool *exists)
{
	json_t *groups, *g;
	size_t i;

	*exists = false;
	if (ctl_call(c, "GET", "/api/v1/groups", NULL, NULL, &groups, NULL) != 0)
		return -1;
	json_array_foreach(groups, i, g)
	{
		const char *name = json_is_string(g) ? json_string_value(g) : s_str(g, "name");
		if (strcmp(name, group) == 0)
			*exists = true;
	}
	json_decref(groups);
	return 0;
}

/* The processes of target: NULL target or "all" = every one, "g:i" = that
   one, else the instances of group g (an unknown group is an error). Caller
   owns the array. */
static json_t *
s_processes(ctl_t *c, const char *target)
{
	json_t *all, *out, *p;
	char *path, *esc;
	size_t i;
	bool exists;

	if (target != NULL && s_is_process_name(target)) {
		if ((esc = ctl_escape(target)) == NULL ||
		    asprintf(&path, "/api/v1/processes/%s", esc) < 0) {
			free(esc);
			return NULL;
		}
		free(esc);
		if (ctl_call(c, "GET", path, NULL, target, &p, NULL) != 0) {
			free(path);
			return NULL;
		}
		free(path);
		out = json_array();
		json_array_append_new(out, p);
		return out;
	}
	if (ctl_call(c, "GET", "/api/v1/processes", NULL, NULL, &all, NULL) != 0)
		return NULL;
	if (!json_is_array(all)) {
		ctl_err("GET /api/v1/processes: droverd's answer is not a list");
		json_decref(all);
		return NULL;
	}
	if (target == NULL || strcmp(target, "all") == 0)
		return all;
	out = json_array();
	json_array_foreach(all, i, p) if (strcmp(s_str(p, "group"), target) == 0)
		json_array_append(out, p);
	json_decref(all);
	if (json_array_size(out) == 0) {
		if (s_group_exists(c, target, &exists) != 0 || !exists) {
			if (!exists)
				ctl_err("no such process or group: %s", target);
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

int
cmd_status(ctl_t *c, int argc, char **argv)
{
	json_t *procs;

	if (argc > 1)
		return ctl_usage("status");
	if ((procs = s_processes(c, argc == 1 ? argv[0] : NULL)) == NULL)
		return CTL_FAILED;
	if (c->json) {
		/* One process by name prints its object, as the API does. */
		if (argc == 1 && s_is_process_name(argv[0]))
			ctl_print_json(json_array_get(procs, 0));
		else
			ctl_print_json(procs);
	} else if (json_array_size(procs) == 0) {
		printf("no processes\n");
	} else {
		s_print_processes(c, procs);
	}
	json_decref(procs);
	return CTL_OK;
}

/* ---- start, stop, restart ---- */

typedef enum { ACT_START, ACT_STOP, ACT_RESTART } act_t;

/* Sends the action for target: one process, one group, or every group
   (stopped in reverse order, so dependents go before what they depend on).
   Answers go into replies. Returns 0 or -1 (one line printed). */
static int
s_send_action(ctl_t *c, act_t act, const char *action, const char *target, json_t *replies)
{
	json_t *groups = NULL, *reply, *names = json_array();
	char *path = NULL, *esc;
	const char *kind;
	ctl_resp_t r;
	size_t i, n;
	int rc = 0;

	if (strcmp(target, "all") == 0) {
		if (ctl_call(c, "GET", "/api/v1/groups", NULL, NULL, &groups, NULL) != 0) {
			json_decref(names);
			return -1;
		}
		json_array_foreach(groups, i, reply)
		{
			const char *g = json_is_string(reply) ? json_string_value(reply)
							      : s_str(reply, "name");
			json_array_append_new(names, json_string(g));
		}
		json_decref(groups);
		kind = "groups";
	} else {
		json_array_append_new(names, json_string(target));
		kind = s_is_process_name(target) ? "processes" : "groups";
	}
	n = json_array_size(names);
	for (i = 0; i < n && rc == 0; i++) {
		const char *name = json_string_value(json_array_get(names, act == ACT_STOP ? n - 1 - i : i));

		if ((esc = ctl_escape(name)) == NULL ||
		    asprintf(&path, "/api/v1/%s/%s/%s%s", kind, esc, action,
			     c->rolling ? "?rolling=1" : "") < 0) {
			free(esc);
			rc = -1;
			break;
		}
		free(esc);
		if (ctl_http(c, "POST", path, NULL, &r) != 0) {
			rc = -1;
		} else if (r.status == 409) {
			/* Already in that state: nothing to do, not a failure. */
		} else if (r.status < 200 || r.status > 299) {
			ctl_http_error(c, &r, name);
			rc = -1;
		} else if ((reply = json_loadb(r.body, r.len, 0, NULL)) != NULL) {
			json_array_append_new(replies, reply);
		}
		ctl_resp_free(&r);
		free(path);
		path = NULL;
	}
	json_decref(names);
	return rc;
}

/* The process object called name in procs, or NULL. */
static json_t *
s_find(json_t *procs, const char *name)
{
	json_t *p;
	size_t i;

	json_array_foreach(procs, i, p) if (strcmp(s_str(p, "name"), name) == 0) return p;
	return NULL;
}

typedef enum { W_WAIT, W_OK, W_FAIL } verdict_t;

/* Whether p (now) shows that act is done, given old (before the action, may
   be NULL) and the seconds since the action. A failure verdict needs a state
   change after the action, or a FATAL/EXITED state that stayed so beyond a
   grace second (droverd does not restamp a failed start that ends FATAL
   again, and spawns within milliseconds). */
static verdict_t
s_verdict(act_t act, json_t *p, json_t *old, double elapsed)
{
	const char *s = s_str(p, "state");
	double since = json_number_value(json_object_get(p, "since"));
	double since0 = old ? json_number_value(json_object_get(old, "since")) : 0;
	json_int_t pid = json_integer_value(json_object_get(p, "pid"));
	json_int_t pid0 = old ? json_integer_value(json_object_get(old, "pid")) : 0;
	json_t *code = json_object_get(p, "exit_code");
	bool changed = since > since0 || elapsed >= CTL_GRACE_S;

	if (act == ACT_STOP)
		return strcmp(s, "STOPPED") == 0 || strcmp(s, "EXITED") == 0 ||
			       strcmp(s, "FATAL") == 0
			   ? W_OK
			   : W_WAIT;
	if (strcmp(s, "RUNNING") == 0)
		return act == ACT_START || pid0 == 0 || pid != pid0 ? W_OK : W_WAIT;
	if (!changed)
		return W_WAIT;
	if (strcmp(s, "FATAL") == 0)
		return W_FAIL;
	if (strcmp(s, "EXITED") == 0)	/* a one-shot job: did it succeed? */
		return json_is_integer(code) && json_integer_value(code) == 0 ? W_OK : W_FAIL;
	return W_WAIT;
}

static void
s_report(act_t act, json_t *p, json_t *old, verdict_t v, double waited_s)
{
	static const char *done[] = {"started", "stopped", "restarted"};
	static const char *verb[] = {"start", "stop", "restart"};
	const char *name = s_str(p, "name"), *state = s_str(p, "state");
	json_t *pid = json_object_get(p, "pid");
	json_t *pid0 = old != NULL ? json_object_get(old, "pid") : NULL;
	char info[512];

	if (v == W_OK) {
		if (act == ACT_START && json_is_integer(pid) && json_equal(pid, pid0))
			printf("%s: already running (pid %lld)\n", name,
			       (long long)json_integer_value(pid));
		else if (act == ACT_STOP && old != NULL && !json_is_integer(pid0))
			printf("%s: not running (%s)\n", name, state);
		else if (strcmp(state, "EXITED") == 0)
			printf("%s: ran and exited 0\n", name);
		else if (json_is_integer(pid))
			printf("%s: %s (pid %lld)\n", name, done[act],
			       (long long)json_integer_value(pid));
		else
			printf("%s: %s\n", name, done[act]);
		return;
	}
	s_info(p, s_now(), info, sizeof(info));
	if (v == W_FAIL)
		ctl_err("%s: failed to %s: %s%s%s", name, verb[act], state, info[0] ? ", " : "",
			info);
	else
		ctl_err("%s: still %s after %.0fs%s%s", name, state, waited_s, info[0] ? ", " : "",
			info);
}

int
cmd_action(ctl_t *c, const char *action, int argc, char **argv)
{
	act_t act = strcmp(action, "start") == 0  ? ACT_START
		    : strcmp(action, "stop") == 0 ? ACT_STOP
						  : ACT_RESTART;
	double limit = c->timeout_s >= 0 ? c->timeout_s : CTL_WAIT_DEFAULT_S, t0;
	json_t *before = NULL, *replies = json_array(), *now = NULL, *p, *done;
	const char *target;
	int rc = CTL_FAILED;
	size_t i;

	if (argc != 1) {
		json_decref(replies);
		return ctl_usage(action);
	}
	target = argv[0];
	if (c->rolling && s_is_process_name(target)) {
		json_decref(replies);
		ctl_err("--rolling restarts a group, not one process");
		return ctl_usage(action);
	}
	if (!c->no_wait && (before = s_processes(c, target)) == NULL)
		goto out;
	if (s_send_action(c, act, action, target, replies) != 0)
		goto out;
	if (c->no_wait) {
		if (c->json)
			ctl_print_json(json_array_size(replies) == 1 ? json_array_get(replies, 0)
								     : replies);
		else
			printf("%s: %s requested\n", target, action);
		rc = CTL_OK;
		goto out;
	}
	/* Wait until every process of the target got where the action leads,
	   polling the API (it answers from memory, so this is cheap). */
	done = json_object();
	t0 = s_mono();
	for (;;) {
		size_t pending = 0;

		json_decref(now);
		if ((now = s_processes(c, target)) == NULL)
			break;
		json_array_foreach(now, i, p)
		{
			const char *name = s_str(p, "name");
			verdict_t v;

			if (json_object_get(done, name) != NULL)
				continue;
			v = s_verdict(act, p, s_find(before, name), s_mono() - t0);
			if (v == W_WAIT)
				pending++;
			else
				json_object_set_new(done, name, json_integer(v));
		}
		if (pending == 0 || s_mono() - t0 >= limit)
			break;
		s_sleep_ms(CTL_POLL_MS);
	}
	if (now != NULL) {
		rc = CTL_OK;
		json_array_foreach(now, i, p)
		{
			json_t *v = json_object_get(done, s_str(p, "name"));
			verdict_t vd = v ? (verdict_t)json_integer_value(v) : W_WAIT;

			if (vd != W_OK)
				rc = CTL_FAILED;
			if (!c->json)
				s_report(act, p, s_find(before, s_str(p, "name")), vd, s_mono() - t0);
		}
		if (c->json)
			ctl_print_json(s_is_process_name(target) ? json_array_get(now, 0) : now);
	}
	json_decref(done);
out:
	json_decref(now);
	json_decref(before);
	json_decref(replies);
	return rc;
}

/* ---- signal, reload, scale ---- */

int
cmd_signal(ctl_t *c, int argc, char **argv)
{
	json_t *procs, *p, *body;
	const char *name;
	char num[16], *path, *esc;
	size_t i, sent = 0;
	int sig, rc = CTL_OK;

	if (argc != 2)
		return ctl_usage("signal");
	if ((sig = units_signal(argv[0])) == 0) {
		ctl_err("unknown signal \"%s\" (HUP, INT, QUIT, KILL, USR1, USR2, TERM, ...)", argv[0]);
		return ctl_usage("signal");
	}
	if ((name = units_signal_name(sig)) == NULL) {
		snprintf(num, sizeof(num), "%d", sig);
		name = num;
	}
	if ((procs = s_processes(c, argv[1])) == NULL)
		return CTL_FAILED;
	body = json_pack("{s:s}", "signal", name);
	json_array_foreach(procs, i, p)
	{
		/* A group's stopped instances are left out; one named process is
		   asked regardless, so droverd says why it cannot. */
		if (!s_is_process_name(argv[1]) && !json_is_integer(json_object_get(p, "pid")))
			continue;
		if ((esc = ctl_escape(s_str(p, "name"))) == NULL ||
		    asprintf(&path, "/api/v1/processes/%s/signal", esc) < 0) {
			free(esc);
			rc = CTL_FAILED;
			break;
		}
		free(esc);
		if (ctl_call(c, "POST", path, body, s_str(p, "name"), NULL, NULL) != 0) {
			rc = CTL_FAILED;
		} else {
			sent++;
			if (!c->json)
				printf("%s: sent SIG%s\n", s_str(p, "name"), name);
		}
		free(path);
	}
	if (rc == CTL_OK && sent == 0) {
		ctl_err("%s: no running process to signal", argv[1]);
		rc = CTL_FAILED;
	}
	if (c->json && rc == CTL_OK) {
		json_t *j = json_pack("{s:s, s:I}", "signal", name, "sent", (json_int_t)sent);

		ctl_print_json(j);
		json_decref(j);
	}
	json_decref(body);
	json_decref(procs);
	return rc;
}

/* Prints the lines of the errors a failed reload returned: a string with one
   problem per line, or an array of them. */
static void
s_print_errors(const json_t *v)
{
	size_t i;
	json_t *e;

	if (json_is_string(v)) {
		const char *s = json_string_value(v), *nl;

		while (*s) {
			nl = strchr(s, '\n');
			int len = nl ? (int)(nl - s) : (int)strlen(s);
			if (len > 0)
				fprintf(stderr, "  %.*s\n", len, s);
			s += len + (nl != NULL);
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, e) s_print_errors(e);
	} else if (json_is_object(v)) {
		s_print_errors(json_object_get(v, "message"));
	}
}

int
cmd_reload(ctl_t *c, int argc, char **argv)
{
	json_t *j, *e, *errs;
	const char *code, *what = NULL;
	ctl_resp_t r;

	(void)argv;
	if (argc != 0)
		return ctl_usage("reload");
	if (ctl_http(c, "POST", "/api/v1/reload", NULL, &r) != 0)
		return CTL_FAILED;
	j = json_loadb(r.body, r.len, 0, NULL);
	if (r.status >= 200 && r.status <= 299) {
		if (c->json)
			ctl_print_json(j != NULL ? j : json_null());
		else
			printf("reloaded the configuration\n");
		json_decref(j);
		ctl_resp_free(&r);
		return CTL_OK;
	}
	e = json_object_get(j, "error");
	code = json_string_value(json_object_get(e, "code"));
	if (r.status == 422)
		what = "reload refused, droverd keeps the running configuration:";
	else if (r.status == 500 && code != NULL && strcmp(code, "reload_failed") == 0)
		what = "reload failed, droverd keeps the running configuration:";
	else if (r.status == 500 && code != NULL && strcmp(code, "reload_incomplete") == 0)
		what = "reloaded the configuration, except:";
	if (what == NULL || j == NULL) {
		ctl_http_error(c, &r, "reload");
		json_decref(j);
		ctl_resp_free(&r);
		return CTL_FAILED;
	}
	/* The errors may sit beside or inside "error"; print every one. */
	if (c->json) {
		ctl_print_json(j);	/* the errors are the answer: on stdout */
	} else {
		ctl_err("%s", what);
		if ((errs = json_object_get(e, "errors")) != NULL ||
		    (errs = json_object_get(j, "errors")) != NULL)
			s_print_errors(errs);
		else
			s_print_errors(json_object_get(e, "message"));
	}
	json_decref(j);
	ctl_resp_free(&r);
	return CTL_FAILED;
}

/* The number of upgrades droverd reports, or -1 when it does not answer. */
static long
s_upgrades(ctl_t *c, long *pid)
{
	json_t *st = NULL;
	long n = -1;

	if (ctl_call(c, "GET", "/api/v1/status", NULL, "status", &st, NULL) == 0 &&
	    json_is_integer(json_object_get(st, "upgrades"))) {
		n = (long)json_integer_value(json_object_get(st, "upgrades"));
		*pid = (long)json_integer_value(json_object_get(st, "pid"));
	}
	json_decref(st);
	return n;
}

/* POST /api/v1/upgrade, then (unless --no-wait) waits until the new droverd
   answers with one more upgrade counted. */
int
cmd_upgrade(ctl_t *c, int argc, char **argv)
{
	double timeout = c->timeout_s >= 0 ? c->timeout_s : 30;
	long before, after = -1, pid = 0, pid2 = 0;
	json_t *j = NULL;
	int i;

	(void)argv;
	if (argc != 0)
		return ctl_usage("upgrade");
	if ((before = s_upgrades(c, &pid)) < 0)
		return CTL_FAILED;
	if (ctl_call(c, "POST", "/api/v1/upgrade", NULL, "upgrade", &j, NULL) != 0)
		return CTL_FAILED;
	if (c->no_wait) {
		if (c->json)
			ctl_print_json(j);
		else
			printf("upgrading droverd in place: %s -> %s\n",
			       json_string_value(json_object_get(j, "from")),
			       json_string_value(json_object_get(j, "to")));
		json_decref(j);
		return CTL_OK;
	}
	for (i = 0; i < (int)(timeout * 20); i++) {
		struct timespec ts = {0, 50 * 1000 * 1000};

		nanosleep(&ts, NULL);
		if ((after = s_upgrades(c, &pid2)) > before)
			break;
	}
	if (after <= before) {
		ctl_err("droverd did not come back upgraded within %g s (see its log)", timeout);
		json_decref(j);
		return CTL_FAILED;
	}
	if (c->json)
		ctl_print_json(j);
	else
		printf("droverd upgraded in place: %s -> %s (pid %ld)\n",
		       json_string_value(json_object_get(j, "from")),
		       json_string_value(json_object_get(j, "to")), pid2);
	json_decref(j);
	return pid2 == pid ? CTL_OK : CTL_FAILED;
}

int
cmd_scale(ctl_t *c, int argc, char **argv)
{
	json_t *body, *reply = NULL;
	char *end, *path, *esc;
	long n;
	int rc;

	if (argc != 2)
		return ctl_usage("scale");
	n = strtol(argv[1], &end, 10);
	if (argv[1][0] == '\0' || *end != '\0' || n < 0 || n > 100000) {
		ctl_err("scale wants a number of instances, not \"%s\"", argv[1]);
		return ctl_usage("scale");
	}
	if (s_is_process_name(argv[0])) {
		ctl_err("scale acts on a group, not on one process (%s)", argv[0]);
		return ctl_usage("scale");
	}
	if ((esc = ctl_escape(argv[0])) == NULL ||
	    asprintf(&path, "/api/v1/groups/%s/instances", esc) < 0) {
		free(esc);
		return CTL_FAILED;
	}
	free(esc);
	body = json_pack("{s:I}", "instances", (json_int_t)n);
	rc = ctl_call(c, "PUT", path, body, argv[0], &reply, NULL);
	json_decref(body);
	free(path);
	if (rc != 0)
		return CTL_FAILED;
	if (c->json)
		ctl_print_json(reply);
	else
		printf("%s: %ld instance%s\n", argv[0], n, n == 1 ? "" : "s");
	json_decref(reply);
	return CTL_OK;
}
