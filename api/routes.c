/* api routes: the JSON endpoints of SPEC 4 under /api/v1. Each handler reads
   the fleet view (lib/view) or sends a command through it to the process's
   owner, and fills an api_reply_t: local and remote processes alike.
   Unknown paths give 404, known paths with another method 405 with Allow,
   malformed bodies 400, unknown names 404, actions that make no sense in the
   current state 409. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api_internal.h"
#include "clock.h"
#include "logs.h"
#include "units.h"

bool
api_route_mutates(const char *method)
{
	return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
	       strcmp(method, "OPTIONS") != 0;
}

/* A group object: its settings summary (from the view) with the states and
   names of its instances on every host. */
static json_t *
s_group_json(api_t *api, const json_t *summary)
{
	const char *name = json_string_value(json_object_get(summary, "name"));
	size_t counts[PROC_N_STATES] = {0}, total, i, n = view_count(api->view);
	json_t *o = json_deep_copy(summary), *states = json_object(), *procs = json_array();
	const view_proc_t *p;

	total = view_group_states(api->view, name, counts);
	for (i = 0; i < PROC_N_STATES; i++)
		if (counts[i] > 0)
			json_object_set_new(states, proc_state_name((proc_state_t)i),
					    json_integer((json_int_t)counts[i]));
	for (i = 0; i < n; i++) {
		p = view_at(api->view, i);
		if (strcmp(p->group, name) == 0)
			json_array_append_new(procs, json_string(p->name));
	}
	json_object_set_new(o, "instances", json_integer((json_int_t)total));
	json_object_set_new(o, "states", states);
	json_object_set_new(o, "processes", procs);
	return o;
}

static json_t *
s_hook_list(api_t *api, json_t *(*fn)(void *))
{
	json_t *a = fn ? fn(api->ctx) : NULL;

	return json_is_array(a) ? a : (json_decref(a), json_array());
}

/* ---- GET ---- */

static void
s_status(api_t *api, api_reply_t *r)
{
	size_t counts[PROC_N_STATES] = {0}, i, n = view_count(api->view);
	json_t *agents = s_hook_list(api, api->hooks.agents);
	json_t *queues = s_hook_list(api, api->hooks.queues);
	json_t *o, *states = json_object();

	for (i = 0; i < n; i++)
		counts[view_at(api->view, i)->state]++;
	for (i = 0; i < PROC_N_STATES; i++)
		json_object_set_new(states, proc_state_name((proc_state_t)i),
				    json_integer((json_int_t)counts[i]));
	o = json_pack("{s:s, s:s, s:i, s:f, s:I, s:s, s:I, s:I, s:I, s:I, s:o}", "name",
		      api->name, "version", DROVER_VERSION, "pid", (int)getpid(), "uptime_s",
		      (double)(clock_ms() - api->started_ms) / 1000.0, "upgrades",
		      (json_int_t)api->upgrades, "config_file", api->config_file, "groups",
		      (json_int_t)json_array_size(view_groups(api->view)), "processes",
		      (json_int_t)n, "agents", (json_int_t)json_array_size(agents), "queues",
		      (json_int_t)json_array_size(queues), "states", states);
	json_decref(agents);
	json_decref(queues);
	api_reply_json(r, 200, o);
}

static void
s_processes(api_t *api, api_reply_t *r)
{
	size_t i, n;
	json_t *a = json_array();

	view_refresh(api->view);
	n = view_count(api->view);
	for (i = 0; i < n; i++)
		json_array_append_new(a, view_proc_json(view_at(api->view, i)));
	api_reply_json(r, 200, a);
}

static void
s_groups(api_t *api, api_reply_t *r)
{
	const json_t *groups = view_groups(api->view);
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < json_array_size(groups); i++)
		json_array_append_new(a, s_group_json(api, json_array_get(groups, i)));
	api_reply_json(r, 200, a);
}

static bool
s_query_count(struct MHD_Connection *conn, const char *key, long long *v, const char *what,
	      api_reply_t *r)
{
	const char *s = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, key);
	char *end;
	long long x;

	if (s == NULL)
		return true;
	errno = 0;
	x = strtoll(s, &end, 10);
	if (errno || *end || end == s || x < 0) {
		api_reply_error(r, 400, "bad_request", "%s must be %s, got \"%s\"", key, what, s);
		return false;
	}
	*v = x;
	return true;
}

/* A command sent through the view, and the request waiting for it.
   Commands to local processes end at once, within the call; those to other
   hosts end when the agent answers (or the hub gives up), and the request
   stays suspended until then. */
struct api_wait {
	api_t *api;
	api_req_t *req; /* NULL once the request is gone */
	bool done;
	bool late; /* not done within the call: the request is suspended */
	bool is_group;
	bool is_logs; /* a logs call: status and reply from the agent */
	unsigned status;
	json_t *reply;
	int rc;
	char msg[256];
	char name[256];
	char what[32];
};

typedef api_wait_t s_outcome_t;

static void s_action_result(api_t *api, api_reply_t *r, const s_outcome_t *o, const char *name,
			    const char *what);
static void s_group_result(api_t *api, api_reply_t *r, const s_outcome_t *o, const char *group,
			   const char *what);

static api_wait_t *
s_wait_new(api_t *api, api_req_t *req, bool is_group, const char *name, const char *what)
{
	api_wait_t *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return NULL;
	req->api_owner = api;
	w->api = api;
	w->req = req;
	w->is_group = is_group;
	snprintf(w->name, sizeof(w->name), "%s", name);
	snprintf(w->what, sizeof(w->what), "%s", what);
	req->wait = w;
	return w;
}

/* Builds the answer of a finished command into r. */
static void
s_wait_result(api_wait_t *w, api_reply_t *r)
{
	if (w->is_logs) {
		if (w->reply != NULL && w->status >= 200 && w->status < 600)
			api_reply_json(r, w->status, w->reply);
		else {
			api_reply_error(r, 504, "timeout", "logs of %s: %s", w->name,
					w->msg[0] ? w->msg : "no answer from its host");
			json_decref(w->reply); /* an answer without a status is not given */
		}
		w->reply = NULL;
		return;
	}
	if (w->is_group)
		s_group_result(w->api, r, w, w->name, w->what);
	else
		s_action_result(w->api, r, w, w->name, w->what);
}

static void
s_on_done(void *arg, int rc, const char *msg)
{
	api_wait_t *w = arg;
	api_req_t *req = w->req;
	api_reply_t r = {0};

	w->done = true;
	w->rc = rc;
	snprintf(w->msg, sizeof(w->msg), "%s", msg ? msg : "");
	if (req == NULL) { /* the client went away: nobody to answer */
		json_decref(w->reply);
		free(w);
		return;
	}
	if (!w->late)
		return; /* within the call: s_wait_reply() answers */
	req->wait = NULL;
	s_wait_result(w, &r);
	free(w);
	api_req_answer(req->api_owner, req, &r);
}

static void
s_on_logs(void *arg, int status, json_t *reply, const char *err)
{
	api_wait_t *w = arg;

	w->status = (unsigned)status;
	w->reply = reply;
	s_on_done(arg, 0, err);
}

void
api_wait_forget(api_req_t *req)
{
	if (req->wait != NULL) {
		req->wait->req = NULL;
		req->wait = NULL;
	}
}

/* After the command was sent: the answer now if it came within the call,
   else status 0 and the answer when it comes. */
static void
s_wait_reply(api_wait_t *w, api_reply_t *r)
{
	if (!w->done) {
		w->late = true;
		r->status = 0;
		return;
	}
	w->req->wait = NULL;
	s_wait_result(w, r);
	free(w);
}

/* GET /processes/{name}/logs?stream=stdout&tail=N[&offset=BYTES&inode=N]:
   the last N lines, or with offset the complete lines written since that byte
   offset of the file with that inode (droverctl logs -f); a file rotated
   since is finished first from FILE.1. Reads the capture file; nothing is kept in memory. */
static void
s_logs(api_t *api, struct MHD_Connection *conn, const view_proc_t *p, api_req_t *req,
       api_reply_t *r)
{
	const char *stream = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "stream");
	const char *path;
	long long tail = LOGS_TAIL_DEFAULT, offset = -1, inode = -1;

	if (stream == NULL || *stream == '\0')
		stream = "stdout";
	if (strcmp(stream, "stdout") != 0 && strcmp(stream, "stderr") != 0) {
		api_reply_error(r, 400, "bad_request",
				"stream must be stdout or stderr, got \"%s\"", stream);
		return;
	}
	if (!s_query_count(conn, "tail", &tail, "a count of lines", r) ||
	    !s_query_count(conn, "offset", &offset, "a byte offset", r) ||
	    !s_query_count(conn, "inode", &inode, "a number", r))
		return;
	if (tail > LOGS_TAIL_MAX)
		tail = LOGS_TAIL_MAX;
	if ((path = view_log_path(api->view, p, stream)) == NULL &&
	    (p->host == NULL || strcmp(p->host, VIEW_HOST_LOCAL) == 0)) {
		api_reply_error(r, 404, "not_captured", "the %s of %s is not captured to a file",
				stream, p->name);
		return;
	}
	if (path == NULL) { /* on another host: its agent reads the file */
		api_wait_t *w = s_wait_new(api, req, false, p->name, "logs");

		if (w == NULL) {
			api_reply_error(r, 500, "internal", "out of memory");
			return;
		}
		w->is_logs = true;
		view_logs(api->view, p,
			  json_pack("{s:s, s:I, s:I, s:I}", "stream", stream, "tail",
				    (json_int_t)tail, "offset", (json_int_t)offset, "inode",
				    (json_int_t)inode),
			  s_on_logs, w);
		s_wait_reply(w, r);
		return;
	}
	api_reply_json(r, 200, logs_read(path, p->name, stream, tail, offset, inode));
}

/* ---- actions ---- */

static void
s_action_result(api_t *api, api_reply_t *r, const s_outcome_t *o, const char *name,
		const char *what)
{
	const view_proc_t *p = view_find(api->view, name);
	const char *state = p ? proc_state_name(p->state) : "gone";

	if (!o->done) {
		api_reply_error(r, 504, "timeout", "%s %s: no answer from its host", what, name);
		return;
	}
	switch (o->rc) {
	case 0:
		if (p == NULL)
			api_reply_error(r, 404, "not_found", "no process named %s", name);
		else
			api_reply_json(r, 200, view_proc_json(p));
		break;
	case -EALREADY:
		api_reply_error(r, 409, "conflict", "%s: %s is already %s", what, name, state);
		break;
	case -ESRCH:
		api_reply_error(r, 409, "conflict", "%s: %s is not running (%s)", what, name,
				state);
		break;
	case -ETIMEDOUT:
	case -EHOSTUNREACH:
		api_reply_error(r, 504, "timeout", "%s %s: %s", what, name,
				*o->msg ? o->msg : strerror(-o->rc));
		break;
	default:
		api_reply_error(r, 500, "internal", "%s %s: %s", what, name,
				*o->msg ? o->msg : strerror(-o->rc));
	}
}

/* Parses the body as a JSON object; on failure sets a 400 reply. */
static json_t *
s_body(const api_req_t *req, api_reply_t *r)
{
	json_error_t e;
	json_t *j;

	if (req->len == 0) {
		api_reply_error(r, 400, "bad_request", "this call needs a JSON object body");
		return NULL;
	}
	if ((j = json_loadb(req->body, req->len, 0, &e)) == NULL) {
		api_reply_error(r, 400, "bad_request",
				"malformed JSON body: %s (line %d, column %d)", e.text, e.line,
				e.column);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		api_reply_error(r, 400, "bad_request", "the body must be a JSON object");
		return NULL;
	}
	return j;
}

static void
s_process_action(api_t *api, const view_proc_t *p, const char *action, api_req_t *req,
		 api_reply_t *r)
{
	api_wait_t *w;
	char name[256];
	json_t *body, *v;
	int sig = 0;

	snprintf(name, sizeof(name), "%s", p->name);
	if (strcmp(action, "signal") == 0) {
		if ((body = s_body(req, r)) == NULL)
			return;
		v = json_object_get(body, "signal");
		if (json_is_string(v))
			sig = units_signal(json_string_value(v));
		else if (json_is_integer(v) && json_integer_value(v) > 0 &&
			 json_integer_value(v) < 65)
			sig = (int)json_integer_value(v);
		json_decref(body);
		if (sig <= 0) {
			api_reply_error(
			    r, 400, "bad_request",
			    "\"signal\" must be a signal name like \"HUP\" or a number");
			return;
		}
	}
	if ((w = s_wait_new(api, req, false, name, action)) == NULL) {
		api_reply_error(r, 500, "internal", "out of memory");
		return;
	}
	view_proc_cmd(api->view, p, action, sig, s_on_done, w);
	s_wait_reply(w, r);
}

static void
s_group_result(api_t *api, api_reply_t *r, const s_outcome_t *o, const char *group,
	       const char *what)
{
	const json_t *g = view_group(api->view, group);

	if (!o->done)
		api_reply_error(r, 504, "timeout", "%s %s: no answer from its hosts", what, group);
	else if (o->rc == -ENOENT || (o->rc == 0 && g == NULL))
		api_reply_error(r, 404, "not_found", "no group named %s", group);
	else if (o->rc == -EINVAL)
		api_reply_error(r, 400, "bad_request", "%s %s: %s", what, group,
				*o->msg ? o->msg : strerror(-o->rc));
	else if (o->rc == -ETIMEDOUT || o->rc == -EHOSTUNREACH) /* an agent LOST or silent */
		api_reply_error(r, 504, "timeout", "%s %s: %s", what, group,
				*o->msg ? o->msg : strerror(-o->rc));
	else if (o->rc != 0)
		api_reply_error(r, 409, "conflict", "%s %s: %s", what, group,
				*o->msg ? o->msg : strerror(-o->rc));
	else
		api_reply_json(r, 200, s_group_json(api, g));
}

static void
s_group_action(api_t *api, struct MHD_Connection *conn, const char *group, const char *action,
	       api_req_t *req, api_reply_t *r)
{
	const char *rolling = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "rolling");
	long roll = rolling != NULL && strcmp(rolling, "0") != 0 && strcmp(rolling, "false") != 0;
	api_wait_t *w;

	if ((w = s_wait_new(api, req, true, group, action)) == NULL) {
		api_reply_error(r, 500, "internal", "out of memory");
		return;
	}
	view_group_cmd(api->view, group, action, strcmp(action, "restart") == 0 ? roll : 0,
		       s_on_done, w);
	s_wait_reply(w, r);
}

static void
s_scale(api_t *api, const char *group, api_req_t *req, api_reply_t *r)
{
	api_wait_t *w;
	json_t *body, *v;
	json_int_t n;

	if ((body = s_body(req, r)) == NULL)
		return;
	v = json_object_get(body, "instances");
	if (!json_is_integer(v) || (n = json_integer_value(v)) < 0 || n > CONF_MAX_INSTANCES) {
		json_decref(body);
		api_reply_error(r, 400, "bad_request",
				"\"instances\" must be an integer from 0 to %d",
				CONF_MAX_INSTANCES);
		return;
	}
	json_decref(body);
	if ((w = s_wait_new(api, req, true, group, "scale")) == NULL) {
		api_reply_error(r, 500, "internal", "out of memory");
		return;
	}
	view_group_cmd(api->view, group, "scale", (long)n, s_on_done, w);
	s_wait_reply(w, r);
}

/* POST /api/v1/upgrade: 202 once droverd has checked the binary; the
   exec follows once this reply is sent (docs/upgrade.md). */
static void
s_upgrade(api_t *api, api_reply_t *r)
{
	char *err = NULL;
	json_t *o;

	if (api->hooks.upgrade == NULL) {
		api_reply_error(r, 501, "not_implemented", "upgrade in place is not available");
		return;
	}
	if ((o = api->hooks.upgrade(api->ctx, &err)) == NULL) {
		api_reply_error(r, 409, "upgrade_refused", "%s", err ? err : "refused");
		free(err);
		return;
	}
	api_reply_json(r, 202, o);
}

static void
s_reload(api_t *api, api_reply_t *r)
{
	char *errors = NULL;
	json_t *list, *o;
	char *line, *save = NULL;
	int rc, status = 500;
	const char *code, *message;

	if (api->hooks.reload == NULL) {
		api_reply_error(r, 501, "not_implemented", "reload is not available");
		return;
	}
	if ((rc = api->hooks.reload(api->ctx, &errors)) == 0) {
		free(errors);
		api_reply_json(r, 200,
			       json_pack("{s:b, s:s}", "ok", 1, "config_file", api->config_file));
		return;
	}
	if (rc == API_RELOAD_NOT_APPLIED) {
		code = "reload_failed";
		message = "the configuration could not be applied; the running configuration is "
			  "kept";
	} else if (rc == API_RELOAD_PARTIAL) {
		code = "reload_incomplete";
		message = "the new configuration is running, except what errors lists";
	} else {
		status = 422;
		code = "invalid_config";
		message = "the configuration file is invalid; the running configuration is kept";
	}
	list = json_array();
	for (line = errors ? strtok_r(errors, "\n", &save) : NULL; line != NULL;
	     line = strtok_r(NULL, "\n", &save))
		json_array_append_new(list, logs_json_text(line, strlen(line)));
	o = json_pack("{s:{s:s, s:s, s:o}}", "error", "code", code, "message", message, "errors",
		      list);
	free(errors);
	api_reply_json(r, status, o);
}

/* ---- routing ---- */

static bool
s_method_is(const char *method, const char *want, api_reply_t *r, const char *allow)
{
	if (strcmp(method, want) == 0 || (strcmp(want, "GET") == 0 && strcmp(method, "HEAD") == 0))
		return true;
	r->allow = allow;
	api_reply_error(r, 405, "method_not_allowed", "%s is not allowed here; use %s", method,
			allow);
	return false;
}

void
api_route(api_t *api, struct MHD_Connection *conn, const char *method, const char *path,
	  api_req_t *req, api_reply_t *r)
{
	char name[256], action[32];
	const char *rest;
	size_t n;
	const view_proc_t *p;

	if (strcmp(path, "/status") == 0) {
		if (s_method_is(method, "GET", r, "GET"))
			s_status(api, r);
	} else if (strcmp(path, "/processes") == 0) {
		if (s_method_is(method, "GET", r, "GET"))
			s_processes(api, r);
	} else if (strcmp(path, "/groups") == 0) {
		if (s_method_is(method, "GET", r, "GET"))
			s_groups(api, r);
	} else if (strcmp(path, "/reload") == 0) {
		if (s_method_is(method, "POST", r, "POST"))
			s_reload(api, r);
	} else if (strcmp(path, "/upgrade") == 0) {
		if (s_method_is(method, "POST", r, "POST"))
			s_upgrade(api, r);
	} else if (strcmp(path, "/agents") == 0) {
		if (s_method_is(method, "GET", r, "GET"))
			api_reply_json(r, 200, s_hook_list(api, api->hooks.agents));
	} else if (strncmp(path, "/agents/", 8) == 0 && strchr(path + 8, '/') == NULL) {
		json_t *a = api->hooks.agent ? api->hooks.agent(api->ctx, path + 8) : NULL;

		if (!s_method_is(method, "GET", r, "GET"))
			json_decref(a);
		else if (a == NULL)
			api_reply_error(r, 404, "not_found", "no agent named %s", path + 8);
		else
			api_reply_json(r, 200, a);
	} else if (strcmp(path, "/queues") == 0) {
		if (s_method_is(method, "GET", r, "GET"))
			api_reply_json(r, 200, s_hook_list(api, api->hooks.queues));
	} else if (strncmp(path, "/processes/", 11) == 0 || strncmp(path, "/groups/", 8) == 0) {
		bool is_proc = path[1] == 'p';

		rest = path + (is_proc ? 11 : 8);
		n = strcspn(rest, "/");
		if (n == 0 || n >= sizeof(name)) {
			api_reply_error(r, 404, "not_found", "no such path: /api/v1%s", path);
			return;
		}
		memcpy(name, rest, n);
		name[n] = '\0';
		rest += n;
		action[0] = '\0';
		if (*rest == '/') {
			rest++;
			if (strlen(rest) >= sizeof(action) || strchr(rest, '/') != NULL) {
				api_reply_error(r, 404, "not_found", "no such path: /api/v1%s",
						path);
				return;
			}
			snprintf(action, sizeof(action), "%s", rest);
		}
		if (is_proc) {
			bool act = strcmp(action, "start") == 0 || strcmp(action, "stop") == 0 ||
				   strcmp(action, "restart") == 0 || strcmp(action, "signal") == 0;

			if (action[0] != '\0' && !act && strcmp(action, "logs") != 0) {
				api_reply_error(r, 404, "not_found", "no such path: /api/v1%s",
						path);
				return;
			}
			if (!s_method_is(method, act ? "POST" : "GET", r, act ? "POST" : "GET"))
				return;
			if ((p = view_find(api->view, name)) == NULL) {
				api_reply_error(r, 404, "not_found", "no process named %s", name);
				return;
			}
			if (action[0] == '\0') {
				view_refresh(api->view);
				api_reply_json(r, 200, view_proc_json(p));
			} else if (strcmp(action, "logs") == 0)
				s_logs(api, conn, p, req, r);
			else
				s_process_action(api, p, action, req, r);
		} else {
			bool act = strcmp(action, "start") == 0 || strcmp(action, "stop") == 0 ||
				   strcmp(action, "restart") == 0;
			bool scale = strcmp(action, "instances") == 0;
			const char *want = act ? "POST" : scale ? "PUT" : "GET";

			if (action[0] != '\0' && !act && !scale) {
				api_reply_error(r, 404, "not_found", "no such path: /api/v1%s",
						path);
				return;
			}
			if (!s_method_is(method, want, r, want))
				return;
			if (view_group(api->view, name) == NULL) {
				api_reply_error(r, 404, "not_found", "no group named %s", name);
				return;
			}
			if (act)
				s_group_action(api, conn, name, action, req, r);
			else if (scale)
				s_scale(api, name, req, r);
			else
				api_reply_json(r, 200,
					       s_group_json(api, view_group(api->view, name)));
		}
	} else {
		api_reply_error(r, 404, "not_found", "no such path: /api/v1%s", path);
	}
}
