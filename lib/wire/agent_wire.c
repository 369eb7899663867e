/* The agent protocol's messages: checked decoding and group settings. */
#include "agent_wire.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const s_types[AWIRE_N_TYPES] = {"HELLO", "STATE", "EVENT",	 "SAMPLES",
						   "CMD",   "ACK",   "LOGREQ",	 "LOGS",
						   "PING",  "PONG",  "REGISTER", "REFUSED"};

const char *
awire_type_name(awire_type_t t)
{
	return (unsigned)t < AWIRE_N_TYPES ? s_types[t] : "?";
}

static int s_bad(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
s_bad(char *why, size_t why_len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, why_len, fmt, ap);
	va_end(ap);
	return -EPROTO;
}

/* The fields each type must have, with their JSON types. */
typedef struct {
	const char *key;
	json_type type;
} s_field_t;

static const s_field_t s_hello[] = {{"protocol", JSON_INTEGER},
				    {"name", JSON_STRING},
				    {"version", JSON_STRING},
				    {"hostname", JSON_STRING},
				    {"labels", JSON_OBJECT},
				    {"processes", JSON_ARRAY},
				    {NULL, 0}};
static const s_field_t s_state[] = {{"generation", JSON_INTEGER},
				    {"groups", JSON_ARRAY},
				    {"heartbeat_ms", JSON_INTEGER},
				    {NULL, 0}};
static const s_field_t s_event[] = {{"seq", JSON_INTEGER}, {"processes", JSON_ARRAY}, {NULL, 0}};
static const s_field_t s_samples[] = {{"samples", JSON_ARRAY}, {NULL, 0}};
static const s_field_t s_cmd[] = {{"id", JSON_INTEGER}, {"cmd", JSON_STRING}, {NULL, 0}};
static const s_field_t s_ack[] = {{"id", JSON_INTEGER}, {"rc", JSON_INTEGER}, {NULL, 0}};
static const s_field_t s_logreq[] = {{"id", JSON_INTEGER}, {"name", JSON_STRING}, {NULL, 0}};
static const s_field_t s_logs[] = {
    {"id", JSON_INTEGER}, {"status", JSON_INTEGER}, {"reply", JSON_OBJECT}, {NULL, 0}};
static const s_field_t s_ping[] = {{"t", JSON_INTEGER}, {NULL, 0}};
static const s_field_t s_none[] = {{NULL, 0}};
static const s_field_t s_refused[] = {{"reason", JSON_STRING}, {NULL, 0}};

static const s_field_t *const s_fields[AWIRE_N_TYPES] = {s_hello, s_state, s_event,  s_samples,
							 s_cmd,	  s_ack,   s_logreq, s_logs,
							 s_ping,  s_ping,  s_none,   s_refused};

static const char *
s_json_type_name(json_type t)
{
	switch (t) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	default:
		return "a value";
	}
}

int
awire_decode(const void *type, size_t type_len, const void *body, size_t len, awire_type_t *t,
	     json_t **out, char *why, size_t why_len)
{
	const s_field_t *f;
	json_error_t e;
	json_t *j, *v;
	int i;

	*out = NULL;
	if (type_len == 0 || type_len > AWIRE_MAX_TYPE)
		return s_bad(why, why_len, "bad type frame (%zu bytes)", type_len);
	for (i = 0; i < AWIRE_N_TYPES; i++)
		if (strlen(s_types[i]) == type_len && memcmp(s_types[i], type, type_len) == 0)
			break;
	if (i == AWIRE_N_TYPES)
		return s_bad(why, why_len, "unknown message type");
	if (len > AWIRE_MAX_BODY)
		return s_bad(why, why_len, "%s body of %zu bytes is over the limit", s_types[i],
			     len);
	if ((j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &e)) == NULL)
		return s_bad(why, why_len, "%s body is not JSON: %s", s_types[i], e.text);
	if (!json_is_object(j)) {
		json_decref(j);
		return s_bad(why, why_len, "%s body is not a JSON object", s_types[i]);
	}
	for (f = s_fields[i]; f->key != NULL; f++) {
		v = json_object_get(j, f->key);
		if (v == NULL || json_typeof(v) != f->type) {
			json_decref(j);
			return s_bad(why, why_len, "%s: \"%s\" must be %s", s_types[i], f->key,
				     s_json_type_name(f->type));
		}
	}
	*t = (awire_type_t)i;
	*out = j;
	return 0;
}

char *
awire_encode(json_t *body, size_t *len)
{
	char *s = json_dumps(body, JSON_COMPACT);

	json_decref(body);
	*len = s ? strlen(s) : 0;
	return s;
}

/* ---- group settings ---- */

static const char *const s_restart[] = {"always", "on-failure", "never"};
static const char *const s_ready[] = {"none", "tcp", "http", "exec", "notify", "delay"};
static const char *const s_out[] = {"file", "null", "inherit", "merge"};

static json_t *
s_strv(char *const *v, size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; v != NULL && i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static size_t
s_strv_len(char *const *v)
{
	size_t n = 0;

	while (v != NULL && v[n] != NULL)
		n++;
	return n;
}

static json_t *
s_kv(const conf_kv_t *kv, size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, json_pack("[s,s]", kv[i].key, kv[i].value));
	return a;
}

static json_t *
s_str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *
s_output(const conf_output_t *o)
{
	return json_pack("{s:s, s:o, s:I, s:i}", "mode", s_out[o->mode], "file",
			 s_str_or_null(o->file), "max_size", (json_int_t)o->max_size, "keep",
			 (int)o->keep);
}

json_t *
awire_group_encode(const conf_group_t *g)
{
	json_t *o = json_object();

	json_object_set_new(o, "name", json_string(g->name));
	json_object_set_new(o, "argv", s_strv(g->argv, g->argc));
	json_object_set_new(o, "shell", json_boolean(g->shell));
	json_object_set_new(o, "instances", json_integer(g->instances));
	json_object_set_new(o, "instance_base", json_integer(g->instance_base));
	json_object_set_new(o, "env", s_kv(g->env, g->n_env));
	json_object_set_new(o, "cwd", s_str_or_null(g->cwd));
	json_object_set_new(o, "user", s_str_or_null(g->user));
	json_object_set_new(o, "umask", json_integer(g->umask));
	json_object_set_new(o, "autostart", json_boolean(g->autostart));
	json_object_set_new(o, "restart", json_string(s_restart[g->restart]));
	json_object_set_new(o, "backoff",
			    json_pack("{s:I, s:I, s:f}", "initial_ms",
				      (json_int_t)g->backoff_initial_ms, "max_ms",
				      (json_int_t)g->backoff_max_ms, "factor", g->backoff_factor));
	json_object_set_new(o, "start_timeout_ms", json_integer(g->start_timeout_ms));
	json_object_set_new(o, "max_restarts",
			    json_pack("{s:i, s:I}", "count", (int)g->max_restarts, "within_ms",
				      (json_int_t)g->max_restarts_within_ms));
	json_object_set_new(
	    o, "ready",
	    json_pack("{s:s, s:o, s:o, s:I, s:I, s:I}", "kind", s_ready[g->ready.kind], "target",
		      s_str_or_null(g->ready.target), "exec",
		      s_strv(g->ready.exec_argv, s_strv_len(g->ready.exec_argv)), "delay_ms",
		      (json_int_t)g->ready.delay_ms, "timeout_ms", (json_int_t)g->ready.timeout_ms,
		      "interval_ms", (json_int_t)g->ready.interval_ms));
	json_object_set_new(o, "depends_on", s_strv(g->depends_on, g->n_depends_on));
	json_object_set_new(o, "stop",
			    json_pack("{s:i, s:I}", "signal", g->stop_signal, "timeout_ms",
				      (json_int_t)g->stop_timeout_ms));
	json_object_set_new(o, "stdout", s_output(&g->out));
	json_object_set_new(o, "stderr", s_output(&g->err));
	json_object_set_new(o, "limits",
			    json_pack("{s:I, s:I, s:I, s:I}", "nofile", (json_int_t)g->limit_nofile,
				      "core", (json_int_t)g->limit_core, "memory",
				      (json_int_t)g->limit_memory, "nproc",
				      (json_int_t)g->limit_nproc));
	json_object_set_new(o, "queue_access", json_boolean(g->queue_access));
	return o;
}

/* ---- decoding, field by field ---- */

typedef struct {
	char *why;
	size_t why_len;
	bool bad;
} s_dec_t;

static void
s_fail(s_dec_t *d, const char *key, const char *what)
{
	if (!d->bad)
		snprintf(d->why, d->why_len, "group setting \"%s\": %s", key, what);
	d->bad = true;
}

static int64_t
s_int(s_dec_t *d, const json_t *o, const char *key, int64_t lo, int64_t hi)
{
	const json_t *v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
		s_fail(d, key, "missing or out of range");
		return lo;
	}
	return json_integer_value(v);
}

static bool
s_bool(s_dec_t *d, const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	if (!json_is_boolean(v))
		s_fail(d, key, "must be true or false");
	return json_is_true(v);
}

/* A string (NULL allowed when nullable); a copy, or NULL. */
static char *
s_str(s_dec_t *d, const json_t *o, const char *key, bool nullable)
{
	const json_t *v = json_object_get(o, key);
	char *s;

	if (nullable && json_is_null(v))
		return NULL;
	if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 65536 ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		s_fail(d, key, "must be a non-empty string without NUL");
		return NULL;
	}
	if ((s = strdup(json_string_value(v))) == NULL)
		s_fail(d, key, "out of memory");
	return s;
}

static int
s_enum(s_dec_t *d, const json_t *o, const char *key, const char *const *names, int n)
{
	const char *s = json_string_value(json_object_get(o, key));
	int i;

	for (i = 0; s != NULL && i < n; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	s_fail(d, key, "unknown value");
	return 0;
}

/* A NULL-terminated copy of an array of strings; *n its length. */
static char **
s_strv_dec(s_dec_t *d, const json_t *o, const char *key, size_t *n, bool nonempty)
{
	const json_t *a = json_object_get(o, key), *v;
	char **out;
	size_t i;

	*n = 0;
	if (!json_is_array(a) || json_array_size(a) > 4096 ||
	    (nonempty && json_array_size(a) == 0)) {
		s_fail(d, key, "must be a list of strings");
		return NULL;
	}
	if ((out = calloc(json_array_size(a) + 1, sizeof(*out))) == NULL) {
		s_fail(d, key, "out of memory");
		return NULL;
	}
	json_array_foreach(a, i, v)
	{
		if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v) ||
		    (out[i] = strdup(json_string_value(v))) == NULL) {
			s_fail(d, key, "must be a list of strings");
			break;
		}
		(*n)++;
	}
	return out;
}

static void
s_output_dec(s_dec_t *d, const json_t *o, const char *key, conf_output_t *out)
{
	const json_t *v = json_object_get(o, key);

	if (!json_is_object(v)) {
		s_fail(d, key, "must be an object");
		return;
	}
	out->mode = (conf_out_mode_t)s_enum(d, v, "mode", s_out, 4);
	out->file = s_str(d, v, "file", true);
	if (out->file != NULL && out->file[0] != '/')
		s_fail(d, key, "file must be an absolute path");
	out->max_size = s_int(d, v, "max_size", 0, INT64_MAX);
	out->keep = (unsigned)s_int(d, v, "keep", 0, 1000);
}

conf_group_t *
awire_group_decode(const json_t *j, char *why, size_t why_len)
{
	s_dec_t d = {why, why_len, false};
	conf_group_t *g = calloc(1, sizeof(*g));
	const json_t *o, *e, *env;
	size_t i, n;

	if (g == NULL || !json_is_object(j)) {
		free(g);
		snprintf(why, why_len, "a group must be an object");
		return NULL;
	}
	g->name = s_str(&d, j, "name", false);
	if (g->name != NULL && !conf_name_ok(g->name))
		s_fail(&d, "name", "must be 1 to 64 letters, digits, '_', '.' or '-'");
	g->argv = s_strv_dec(&d, j, "argv", &g->argc, true);
	g->shell = s_bool(&d, j, "shell");
	g->instances = (unsigned)s_int(&d, j, "instances", 0, CONF_MAX_INSTANCES);
	g->instance_base = (unsigned)s_int(&d, j, "instance_base", 0, INT32_MAX);
	env = json_object_get(j, "env");
	if (!json_is_array(env) || json_array_size(env) > 4096) {
		s_fail(&d, "env", "must be a list of [key, value]");
	} else if (json_array_size(env) > 0) {
		if ((g->env = calloc(json_array_size(env), sizeof(*g->env))) == NULL)
			s_fail(&d, "env", "out of memory");
		json_array_foreach(env, i, e)
		{
			if (g->env == NULL || !json_is_array(e) || json_array_size(e) != 2 ||
			    !json_is_string(json_array_get(e, 0)) ||
			    !json_is_string(json_array_get(e, 1))) {
				s_fail(&d, "env", "must be a list of [key, value]");
				break;
			}
			g->env[i].key = strdup(json_string_value(json_array_get(e, 0)));
			g->env[i].value = strdup(json_string_value(json_array_get(e, 1)));
			g->n_env++;
			if (g->env[i].key == NULL || g->env[i].value == NULL)
				s_fail(&d, "env", "out of memory");
		}
	}
	g->cwd = s_str(&d, j, "cwd", true);
	g->user = s_str(&d, j, "user", true);
	g->umask = (int)s_int(&d, j, "umask", -1, 0777);
	g->autostart = s_bool(&d, j, "autostart");
	g->restart = (conf_restart_t)s_enum(&d, j, "restart", s_restart, 3);
	if (!json_is_object(o = json_object_get(j, "backoff"))) {
		s_fail(&d, "backoff", "must be an object");
	} else {
		g->backoff_initial_ms = s_int(&d, o, "initial_ms", 0, CONF_MAX_DURATION_MS);
		g->backoff_max_ms = s_int(&d, o, "max_ms", 0, CONF_MAX_DURATION_MS);
		e = json_object_get(o, "factor");
		g->backoff_factor = json_is_number(e) ? json_number_value(e) : 0;
		if (!(g->backoff_factor >= 1 && g->backoff_factor <= CONF_MAX_BACKOFF_FACTOR))
			s_fail(&d, "backoff", "factor out of range");
	}
	g->start_timeout_ms = s_int(&d, j, "start_timeout_ms", 0, CONF_MAX_DURATION_MS);
	if (!json_is_object(o = json_object_get(j, "max_restarts"))) {
		s_fail(&d, "max_restarts", "must be an object");
	} else {
		g->max_restarts = (unsigned)s_int(&d, o, "count", 0, 100000);
		g->max_restarts_within_ms = s_int(&d, o, "within_ms", 0, CONF_MAX_DURATION_MS);
	}
	if (!json_is_object(o = json_object_get(j, "ready"))) {
		s_fail(&d, "ready", "must be an object");
	} else {
		g->ready.kind = (conf_ready_kind_t)s_enum(&d, o, "kind", s_ready, 6);
		g->ready.target = s_str(&d, o, "target", true);
		g->ready.exec_argv = s_strv_dec(&d, o, "exec", &n, false);
		g->ready.delay_ms = s_int(&d, o, "delay_ms", 0, CONF_MAX_DURATION_MS);
		g->ready.timeout_ms = s_int(&d, o, "timeout_ms", 0, CONF_MAX_DURATION_MS);
		g->ready.interval_ms = s_int(&d, o, "interval_ms", 1, CONF_MAX_DURATION_MS);
		if ((g->ready.kind == CONF_READY_TCP || g->ready.kind == CONF_READY_HTTP) &&
		    g->ready.target == NULL)
			s_fail(&d, "ready", "needs a target");
		if (g->ready.kind == CONF_READY_EXEC && n == 0)
			s_fail(&d, "ready", "needs a command");
	}
	g->depends_on = s_strv_dec(&d, j, "depends_on", &g->n_depends_on, false);
	if (!json_is_object(o = json_object_get(j, "stop"))) {
		s_fail(&d, "stop", "must be an object");
	} else {
		g->stop_signal = (int)s_int(&d, o, "signal", 1, 64);
		g->stop_timeout_ms = s_int(&d, o, "timeout_ms", 0, CONF_MAX_DURATION_MS);
	}
	s_output_dec(&d, j, "stdout", &g->out);
	s_output_dec(&d, j, "stderr", &g->err);
	if (g->out.mode == CONF_OUT_MERGE)
		s_fail(&d, "stdout", "cannot be merge");
	if (!json_is_object(o = json_object_get(j, "limits"))) {
		s_fail(&d, "limits", "must be an object");
	} else {
		g->limit_nofile = s_int(&d, o, "nofile", -1, INT64_MAX);
		g->limit_core = s_int(&d, o, "core", -1, INT64_MAX);
		g->limit_memory = s_int(&d, o, "memory", -1, INT64_MAX);
		g->limit_nproc = s_int(&d, o, "nproc", -1, INT64_MAX);
	}
	g->queue_access = s_bool(&d, j, "queue_access");
	if (g->cwd != NULL && g->cwd[0] != '/')
		s_fail(&d, "cwd", "must be an absolute path");
	if (d.bad)
		conf_group_destroy(&g);
	return g;
}
