/* parse: the YAML tree of one file into a conf_t, SPEC 2 key by key. Every
   handler reports what is wrong with its own value and goes on, so that one
   run names every problem in the file. Cross-group checks (dependencies and
   their cycles) run once all groups are read. */
#include "conf_internal.h"
#include "timing.h"

#include <arpa/inet.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "units.h"

#define MAX_INSTANCES CONF_MAX_INSTANCES /* per group; beyond that it is a typo */
#define MAX_NAME 64			 /* group, queue and host names */
#define NAME_RULE CONF__NAME_RULE

typedef struct s_parse s_parse_t;
typedef void (*s_key_fn)(s_parse_t *p, const conf__node_t *key, const conf__node_t *val, void *obj);

typedef struct {
	const char *name;
	s_key_fn fn;
} s_key_t;

/* What we remember of a group beyond its conf_group_t, for later checks. */
typedef struct {
	conf_group_t *g;
	const conf__node_t *key;	/* the group's name in the file */
	const conf__node_t *env;	/* its env mapping: known ${VAR}s */
	const conf__node_t **deps;	/* depends_on entries, parallel to g->depends_on */
	size_t *dep_pos;		/* their index in the list; SIZE_MAX: not a list */
	size_t *dep_idx;		/* the groups they name; SIZE_MAX: none */
	const conf__node_t *ready_kind; /* the key of the ready check, once seen */
	const conf__node_t *backoff_initial, *backoff_max;
	bool has_command;
} s_grp_t;

struct s_parse {
	conf__ctx_t *x;
	conf_t *c;
	s_grp_t *aux; /* parallel to c->groups */
};

/* ---- helpers ---- */

static void *
s_alloc(s_parse_t *p, size_t n, size_t size)
{
	void *v = calloc(n ? n : 1, size);

	if (v == NULL)
		p->x->oom = true;
	return v;
}

static bool
s_grow(s_parse_t *p, void **arr, size_t n, size_t size)
{
	void *v;

	/* the capacity is 4, then doubles each time n reaches a power of two */
	if (n != 0 && (n < 4 || (n & (n - 1)) != 0))
		return true;
	if ((v = realloc(*arr, (n ? n * 2 : 4) * size)) == NULL) {
		p->x->oom = true;
		return false;
	}
	*arr = v;
	return true;
}

bool
conf_name_ok(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= MAX_NAME &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

static const char *
s_fmt_ms(int64_t ms, char *buf, size_t size)
{
	if (ms != 0 && ms % 3600000 == 0)
		snprintf(buf, size, "%lldh", (long long)(ms / 3600000));
	else if (ms != 0 && ms % 60000 == 0)
		snprintf(buf, size, "%lldm", (long long)(ms / 60000));
	else if (ms != 0 && ms % 1000 == 0)
		snprintf(buf, size, "%llds", (long long)(ms / 1000));
	else
		snprintf(buf, size, "%lldms", (long long)ms);
	return buf;
}

/* Cleans an absolute path of "", "." and ".." components. A component that
   holds a ${VAR} and everything after it are kept as written, since what it
   expands to is not known yet. Returns a new string or NULL. */
static char *
s_normalize(const char *path)
{
	size_t n = strlen(path), o = 0, l;
	const char *s = path, *e;
	bool verbatim = false;
	char *out = malloc(n + 2);

	if (out == NULL)
		return NULL;
	while (*s != '\0') {
		while (*s == '/')
			s++;
		if (*s == '\0')
			break;
		e = s + strcspn(s, "/");
		l = (size_t)(e - s);
		if (!verbatim && memchr(s, '$', l) != NULL)
			verbatim = true;
		if (!verbatim && (l == 1 && s[0] == '.')) {
			s = e;
			continue;
		}
		if (!verbatim && l == 2 && s[0] == '.' && s[1] == '.') {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--;
			s = e;
			continue;
		}
		out[o++] = '/';
		memcpy(out + o, s, l);
		o += l;
		s = e;
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = '\0';
	return out;
}

/* The absolute form of s: under the config file's directory unless it starts
   with '/', or (for a template) with a ${VAR} that will expand to a full path. */
static char *
s_abs(s_parse_t *p, const char *s, bool tmpl)
{
	char *joined = NULL, *out;

	if (tmpl && s[0] == '$' && s[1] == '{')
		out = strdup(s);
	else if (s[0] == '/')
		out = s_normalize(s);
	else if (asprintf(&joined, "%s/%s", p->c->dir, s) < 0)
		out = NULL;
	else
		out = s_normalize(joined);
	free(joined);
	if (out == NULL)
		p->x->oom = true;
	return out;
}

/* For each key of map, the index of an earlier pair with the same key, or
   SIZE_MAX. Sorting keeps this n log n for a file with very many groups. */
static int
s_dup_cmp(const void *a, const void *b, void *arg)
{
	const conf__node_t *map = arg;
	size_t i = *(const size_t *)a, j = *(const size_t *)b;
	const conf__node_t *ki = map->kids[2 * i], *kj = map->kids[2 * j];
	bool si = ki->type == CONF__SCALAR && !ki->bad, sj = kj->type == CONF__SCALAR && !kj->bad;
	int r;

	/* a total order (qsort needs one): string keys by text, then the rest */
	if (si != sj)
		return si ? -1 : 1;
	if (!si)
		return i < j ? -1 : (i > j);
	if (ki->len != kj->len)
		return ki->len < kj->len ? -1 : 1;
	if ((r = memcmp(ki->str, kj->str, ki->len)) != 0)
		return r;
	return i < j ? -1 : (i > j);
}

static size_t *
s_dups(s_parse_t *p, const conf__node_t *map)
{
	size_t n = map->n / 2, i, *ord, *first;

	ord = s_alloc(p, n, sizeof(*ord));
	first = s_alloc(p, n, sizeof(*first));
	if (ord == NULL || first == NULL) {
		free(ord);
		free(first);
		return NULL;
	}
	for (i = 0; i < n; i++) {
		ord[i] = i;
		first[i] = SIZE_MAX;
	}
	qsort_r(ord, n, sizeof(*ord), s_dup_cmp, (void *)map);
	for (i = 1; i < n; i++) {
		const conf__node_t *a = map->kids[2 * ord[i - 1]], *b = map->kids[2 * ord[i]];

		if (a->type == CONF__SCALAR && b->type == CONF__SCALAR && !a->bad && !b->bad &&
		    a->len == b->len && memcmp(a->str, b->str, a->len) == 0)
			first[ord[i]] =
			    first[ord[i - 1]] == SIZE_MAX ? ord[i - 1] : first[ord[i - 1]];
	}
	free(ord);
	return first;
}

/* A mapping key must be a plain string; reports anything else. */
static bool
s_key_ok(s_parse_t *p, const conf__node_t *key)
{
	if (key->bad)
		return false;
	if (key->type != CONF__SCALAR) {
		conf__err(p->x, key, "expected a string key, got %s",
			  key->type == CONF__MAP ? "a mapping" : "a list");
		return false;
	}
	return true;
}

typedef void (*s_each_fn)(s_parse_t *p, const conf__node_t *key, const conf__node_t *val,
			  void *obj);

/* Calls fn for each pair of map whose key is a string seen for the first time,
   with the key pushed on the path; dupword names the thing in the message
   ("key", "group", "queue"). A null map is an empty one. */
static void
s_each(s_parse_t *p, const conf__node_t *map, const char *dupword, s_each_fn fn, void *obj)
{
	const conf__node_t *key, *val;
	size_t *first, i, old;

	if (conf__node_is_null(map) || !conf__is(p->x, map, CONF__MAP))
		return;
	first = s_dups(p, map);
	for (i = 0; first != NULL && i < map->n / 2; i++) {
		key = map->kids[2 * i];
		val = map->kids[2 * i + 1];
		if (!s_key_ok(p, key))
			continue;
		old = conf__path_push(p->x, key->str);
		if (first[i] != SIZE_MAX)
			conf__err(p->x, key, "duplicate %s (first at line %d)", dupword,
				  map->kids[2 * first[i]]->line);
		else
			fn(p, key, val, obj);
		conf__path_pop(p->x, old);
	}
	free(first);
}

typedef struct {
	const s_key_t *keys;
	void *obj;
} s_walk_t;

static void
s_walk_one(s_parse_t *p, const conf__node_t *key, const conf__node_t *val, void *arg)
{
	const s_walk_t *w = arg;
	size_t k;

	for (k = 0; w->keys[k].name != NULL; k++) {
		if (strcmp(w->keys[k].name, key->str) == 0) {
			w->keys[k].fn(p, key, val, w->obj);
			return;
		}
	}
	conf__err(p->x, key, "unknown key");
}

/* Walks a mapping with a fixed set of keys: each known key goes to its
   handler, the rest are reported. */
static void
s_walk(s_parse_t *p, const conf__node_t *map, const s_key_t *keys, void *obj)
{
	s_walk_t w = {keys, obj};

	s_each(p, map, "key", s_walk_one, &w);
}

/* The value of the first pair of map with this key, or NULL. */
static const conf__node_t *
s_get(const conf__node_t *map, const char *name)
{
	size_t i;

	if (map == NULL || map->type != CONF__MAP)
		return NULL;
	for (i = 0; i + 1 < map->n; i += 2)
		if (map->kids[i]->type == CONF__SCALAR && strcmp(map->kids[i]->str, name) == 0)
			return map->kids[i + 1];
	return NULL;
}

/* Validates "HOST:PORT" where HOST is an IPv4 address, a host name, a
   bracketed IPv6 address or (for ZeroMQ) '*', and PORT is 1..65535. */
static bool
s_hostport_ok(const char *s, bool star)
{
	char host[256], v6[16];
	const char *port, *close;
	size_t hl;
	long n;

	if (s[0] == '[') {
		if ((close = strchr(s, ']')) == NULL || close[1] != ':')
			return false;
		hl = (size_t)(close - s - 1);
		if (hl == 0 || hl >= sizeof(host))
			return false;
		memcpy(host, s + 1, hl);
		host[hl] = '\0';
		if (inet_pton(AF_INET6, host, v6) != 1)
			return false;
		port = close + 2;
	} else {
		if ((port = strrchr(s, ':')) == NULL)
			return false;
		hl = (size_t)(port - s);
		port++;
		if (hl == 0 || hl >= sizeof(host))
			return false;
		memcpy(host, s, hl);
		host[hl] = '\0';
		if (!(star && strcmp(host, "*") == 0)) {
			if (strspn(host, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					 "0123456789.-") != hl ||
			    host[0] == '-' || host[0] == '.')
				return false;
			if (strspn(host, "0123456789.") == hl && inet_pton(AF_INET, host, v6) != 1)
				return false;
		}
	}
	if (*port == '\0' || strlen(port) > 5 || strspn(port, "0123456789") != strlen(port))
		return false;
	n = strtol(port, NULL, 10);
	return n >= 1 && n <= 65535;
}

/* ---- ${VAR} references ---- */

typedef struct {
	s_parse_t *p;
	const s_grp_t *a;
	const conf__node_t *n;
	bool shell;
} s_refs_t;

static bool
s_env_has(const conf__node_t *env, const char *name, size_t len)
{
	size_t i;

	if (env == NULL || env->type != CONF__MAP)
		return false;
	for (i = 0; i + 1 < env->n; i += 2) {
		const conf__node_t *k = env->kids[i];

		if (k->type == CONF__SCALAR && k->len == len && memcmp(k->str, name, len) == 0)
			return true;
	}
	return false;
}

static void
s_ref(const char *name, size_t len, void *arg)
{
	static const char *builtins[] = {"INSTANCE", "GROUP", "NAME", "HOST", NULL};
	s_refs_t *r = arg;
	char buf[256];
	int i;

	snprintf(buf, sizeof(buf), "%.*s", (int)len, name);
	for (i = 0; builtins[i] != NULL; i++)
		if (strcmp(buf, builtins[i]) == 0)
			return;
	if (s_env_has(r->a->env, name, len) || getenv(buf) != NULL)
		return;
	if (r->shell)
		conf__err(r->p->x, r->n,
			  "undefined variable ${%s} (write $${%s} to leave it to the shell)", buf,
			  buf);
	else
		conf__err(r->p->x, r->n, "undefined variable ${%s}", buf);
}

/* Checks the ${VAR} references of a template written at node n. */
static void
s_refs(s_parse_t *p, const s_grp_t *a, const conf__node_t *n, bool shell)
{
	s_refs_t r = {p, a, n, shell};
	const char *why = NULL;

	if (n->type == CONF__SCALAR && conf__vars_each(n->str, s_ref, &r, &why) != 0)
		conf__err(p->x, n, "%s", why);
}

/* ---- supervisor ---- */

static void
s_set_str(s_parse_t *p, const conf__node_t *val, char **dst)
{
	char *s;

	if (conf__str(p->x, val, false, &s) == 0) {
		free(*dst);
		*dst = s;
	}
}

static void
s_set_path(s_parse_t *p, const conf__node_t *val, char **dst)
{
	char *s;

	if (conf__str(p->x, val, false, &s) != 0)
		return;
	free(*dst);
	*dst = s_abs(p, s, false);
	free(s);
}

/* A listen address: "HOST:PORT" for HTTP, "tcp://HOST:PORT" for ZeroMQ (a
   bare "HOST:PORT" is taken as tcp://). */
static void
s_set_listen(s_parse_t *p, const conf__node_t *val, char **dst, bool zmq)
{
	const char *hp;
	char *s, q[96];

	if (conf__str(p->x, val, false, &s) != 0)
		return;
	hp = s;
	if (zmq && strncmp(s, "tcp://", 6) == 0)
		hp = s + 6;
	if (strstr(hp, "://") != NULL || !s_hostport_ok(hp, zmq)) {
		conf__err(p->x, val, "expected %s, got %s", zmq ? "tcp://HOST:PORT" : "HOST:PORT",
			  conf__quote(s, q, sizeof(q)));
		free(s);
		return;
	}
	free(*dst);
	*dst = s;
	if (zmq && hp == s && asprintf(dst, "tcp://%s", s) < 0) {
		*dst = NULL;
		p->x->oom = true;
	}
	if (*dst != s)
		free(s);
}

static void
s_k_name(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	s_set_str(p, v, &p->c->name);
}

static void
s_k_state_dir(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	s_set_path(p, v, &p->c->state_dir);
}

static void
s_k_log_dir(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	s_set_path(p, v, &p->c->log_dir);
}

static void
s_k_http_listen(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	s_set_listen(p, v, &p->c->http_listen, false);
}

static void
s_k_token_file(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	s_set_path(p, v, &p->c->http_token_file);
}

static void
s_k_web_root(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	s_set_path(p, v, &p->c->http_web_root);
}

static void
s_k_agents_listen(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	s_set_listen(p, v, &p->c->agents_listen, true);
}

static void
s_k_keys_dir(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	s_set_path(p, v, &p->c->agents_keys_dir);
}

static void
s_k_heartbeat(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	if (conf__duration(p->x, v, true, &p->c->agents_heartbeat_ms) == 0 &&
	    (p->c->agents_heartbeat_ms < 50 || p->c->agents_heartbeat_ms > 60000))
		conf__err(p->x, v, "expected a duration from 50ms to 60s");
}

static void
s_k_lost_after(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	int64_t n;

	if (conf__count(p->x, v, 100, &n) == 0) {
		if (n < 2)
			conf__err(p->x, v, "expected at least 2 heartbeats");
		else
			p->c->agents_lost_after = (unsigned)n;
	}
}

static void
s_k_advertise(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	s_set_listen(p, v, &p->c->queues_advertise, true);
}

static void
s_k_queues_listen(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	s_set_listen(p, v, &p->c->queues_listen, true);
}

static void
s_k_authkey_file(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	s_set_path(p, v, &p->c->queues_authkey_file);
}

static void
s_k_http(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	static const s_key_t keys[] = {{"listen", s_k_http_listen},
				       {"token_file", s_k_token_file},
				       {"web_root", s_k_web_root},
				       {NULL, NULL}};

	s_walk(p, v, keys, NULL);
}

static void
s_k_agents(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	static const s_key_t keys[] = {{"listen", s_k_agents_listen},
				       {"keys_dir", s_k_keys_dir},
				       {"heartbeat", s_k_heartbeat},
				       {"lost_after", s_k_lost_after},
				       {NULL, NULL}};

	s_walk(p, v, keys, NULL);
}

static void
s_k_queues_sec(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	static const s_key_t keys[] = {{"listen", s_k_queues_listen},
				       {"authkey_file", s_k_authkey_file},
				       {"advertise", s_k_advertise},
				       {NULL, NULL}};

	s_walk(p, v, keys, NULL);
}

static void
s_k_supervisor(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	static const s_key_t keys[] = {
	    {"name", s_k_name}, {"state_dir", s_k_state_dir}, {"log_dir", s_k_log_dir},
	    {"http", s_k_http}, {"agents", s_k_agents},	      {"queues", s_k_queues_sec},
	    {NULL, NULL}};

	s_walk(p, v, keys, NULL);
}

/* ---- a group's keys ---- */

/* A command: a list is argv, a string is run by /bin/sh -c. Each argument is
   a template whose ${VAR}s must be defined. */
static void
s_argv(s_parse_t *p, s_grp_t *a, const conf__node_t *v, char ***argv_out, size_t *argc_out,
       bool *shell_out)
{
	char **argv;
	size_t i, old;
	char q[96];

	if (v->bad)
		return;
	if (v->type == CONF__SCALAR && !conf__node_is_null(v)) {
		if (strspn(v->str, " \t\r\n") == v->len) {
			conf__err(p->x, v, "empty command");
			return;
		}
		if ((argv = s_alloc(p, 4, sizeof(*argv))) == NULL)
			return;
		argv[0] = strdup("/bin/sh");
		argv[1] = strdup("-c");
		argv[2] = strdup(v->str);
		if (argv[0] == NULL || argv[1] == NULL || argv[2] == NULL) {
			for (i = 0; i < 3; i++)
				free(argv[i]);
			free(argv);
			p->x->oom = true;
			return;
		}
		*argv_out = argv;
		*argc_out = 3;
		if (shell_out)
			*shell_out = true;
		s_refs(p, a, v, true);
		return;
	}
	if (conf__node_is_null(v) || (v->type == CONF__SEQ && v->n == 0)) {
		conf__err(p->x, v, "empty command");
		return;
	}
	if (v->type != CONF__SEQ) {
		conf__err(p->x, v, "expected a list or a string, got %s",
			  conf__what(v, q, sizeof(q)));
		return;
	}
	if ((argv = s_alloc(p, v->n + 1, sizeof(*argv))) == NULL)
		return;
	/* argv stays dense and NULL-terminated: a rejected item takes no slot */
	*argv_out = argv;
	*argc_out = 0;
	for (i = 0; i < v->n; i++) {
		old = conf__path_push_index(p->x, i);
		if (conf__str(p->x, v->kids[i], i > 0, &argv[*argc_out]) == 0) {
			s_refs(p, a, v->kids[i], false);
			(*argc_out)++;
		}
		conf__path_pop(p->x, old);
	}
}

static void
s_g_command(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	s_grp_t *a = o;

	a->has_command = true;
	s_argv(p, a, v, &a->g->argv, &a->g->argc, &a->g->shell);
}

static void
s_g_instances(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	s_grp_t *a = o;
	int64_t n;

	if (conf__count(p->x, v, MAX_INSTANCES, &n) == 0)
		a->g->instances = (unsigned)n;
}

static bool
s_var_name_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && !(s[0] >= '0' && s[0] <= '9') &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

static void
s_env_one(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	s_grp_t *a = o;
	conf_group_t *g = a->g;
	conf_kv_t *kv;

	if (!s_var_name_ok(k->str)) {
		conf__err(p->x, k, "invalid variable name: use letters, digits and '_'");
		return;
	}
	if (v->bad)
		return;
	if (v->type != CONF__SCALAR) {
		conf__is(p->x, v, CONF__SCALAR);
		return;
	}
	if (!s_grow(p, (void **)&g->env, g->n_env, sizeof(*g->env)))
		return;
	kv = &g->env[g->n_env++];
	kv->key = strdup(k->str);
	kv->value = strdup(conf__node_is_null(v) ? "" : v->str); /* FOO: (nothing) is "" */
	if (kv->key == NULL || kv->value == NULL)
		p->x->oom = true;
	s_refs(p, a, v, false);
}

/* The ${KEY} references between the env entries of one group, as edges
   "entry i needs entry j" (builtins come first in a lookup, and an entry's
   reference to itself means droverd's own variable, "PATH: ${PATH}:/x"). */
typedef struct {
	const conf_group_t *g;
	size_t from;
	size_t *to; /* the entries from refers to, at most n_env */
	size_t n_to;
} s_env_refs_t;

static void
s_env_edge(const char *name, size_t len, void *arg)
{
	static const char *builtins[] = {"INSTANCE", "GROUP", "NAME", "HOST", NULL};
	s_env_refs_t *r = arg;
	size_t j, k;

	for (k = 0; builtins[k] != NULL; k++)
		if (strlen(builtins[k]) == len && memcmp(builtins[k], name, len) == 0)
			return;
	for (j = 0; j < r->g->n_env; j++)
		if (j != r->from && strlen(r->g->env[j].key) == len &&
		    memcmp(r->g->env[j].key, name, len) == 0)
			break;
	if (j == r->g->n_env)
		return;
	for (k = 0; k < r->n_to; k++)
		if (r->to[k] == j)
			return;
	r->to[r->n_to++] = j;
}

/* Reports the cycle of env entries that entry s leads into, unless it is one
   already reported (done). Follows unresolved references only. */
static void
s_env_cycle(s_parse_t *p, const conf_group_t *g, const conf__node_t *map, size_t **to,
	    const size_t *n_to, const bool *resolved, size_t *seen, unsigned char *done, size_t s)
{
	size_t cur = s, step = 0, i, k, old, len = 0, first;
	char *text = NULL;
	FILE *m;

	/* seen[i]: 1 + the step at which this walk met i. */
	while (seen[cur] == 0 && !done[cur]) {
		seen[cur] = ++step;
		for (k = 0; k < n_to[cur] && resolved[to[cur][k]]; k++)
			;
		if (k == n_to[cur])
			goto out; /* cannot happen: an unresolved entry has an unresolved need */
		cur = to[cur][k];
	}
	if (done[cur] || seen[cur] == 0)
		goto out;
	/* cur starts the cycle: report it at cur's value, as "A -> B -> A". */
	if ((m = open_memstream(&text, &len)) == NULL) {
		p->x->oom = true;
		goto out;
	}
	first = cur;
	do {
		fprintf(m, "%s -> ", g->env[cur].key);
		done[cur] = 1;
		for (k = 0; k < n_to[cur] && (resolved[to[cur][k]] || seen[to[cur][k]] == 0); k++)
			;
		cur = to[cur][k];
	} while (cur != first);
	fprintf(m, "%s", g->env[first].key);
	if (fclose(m) != 0 || text == NULL) {
		p->x->oom = true;
		goto out;
	}
	for (i = 0; i + 1 < map->n; i += 2)
		if (map->kids[i]->type == CONF__SCALAR &&
		    strcmp(map->kids[i]->str, g->env[first].key) == 0)
			break;
	old = conf__path_push(p->x, g->env[first].key);
	conf__err(p->x, i + 1 < map->n ? map->kids[i + 1] : map,
		  "variables refer to each other in a cycle: %s", text);
	conf__path_pop(p->x, old);
out:
	free(text);
	for (i = 0; i < g->n_env; i++)
		if (seen[i] != 0)
			done[i] = 1;
	memset(seen, 0, g->n_env * sizeof(*seen));
}

/* Puts the env entries in an order where each comes after those it refers
   to, since they are expanded one after the other, each seeing those before
   it: "A: ${B}" with B below would otherwise get droverd's B, or nothing. A
   cycle ("A: ${B}", "B: ${A}") is an error. */
static void
s_env_order(s_parse_t *p, conf_group_t *g, const conf__node_t *map)
{
	size_t n = g->n_env, i, k, n_out = 0, *n_to, **to, *order, *seen;
	bool *resolved, progress;
	unsigned char *done;
	conf_kv_t *sorted;
	const char *why;
	s_env_refs_t r;

	if (n < 2)
		return;
	to = s_alloc(p, n, sizeof(*to));
	n_to = s_alloc(p, n, sizeof(*n_to));
	order = s_alloc(p, n, sizeof(*order));
	seen = s_alloc(p, n, sizeof(*seen));
	resolved = s_alloc(p, n, sizeof(*resolved));
	done = s_alloc(p, n, 1);
	sorted = s_alloc(p, n, sizeof(*sorted));
	for (i = 0; to && n_to && order && seen && resolved && done && sorted && i < n; i++) {
		r = (s_env_refs_t){g, i, s_alloc(p, n, sizeof(size_t)), 0};
		if ((to[i] = r.to) == NULL)
			goto out;
		conf__vars_each(g->env[i].value, s_env_edge, &r, &why);
		n_to[i] = r.n_to;
	}
	if (i < n)
		goto out;
	/* Rounds over what is left, each taking the entries whose needs are all
	   met, in the order written: stable, and n rounds at worst. */
	do {
		progress = false;
		for (i = 0; i < n; i++) {
			if (resolved[i])
				continue;
			for (k = 0; k < n_to[i] && resolved[to[i][k]]; k++)
				;
			if (k == n_to[i]) {
				resolved[i] = progress = true;
				order[n_out++] = i;
			}
		}
	} while (progress && n_out < n);
	if (n_out < n) {
		for (i = 0; i < n; i++)
			if (!resolved[i] && !done[i])
				s_env_cycle(p, g, map, to, n_to, resolved, seen, done, i);
		goto out;
	}
	for (i = 0; i < n; i++)
		sorted[i] = g->env[order[i]];
	memcpy(g->env, sorted, n * sizeof(*sorted));
out:
	for (i = 0; to != NULL && i < n; i++)
		free(to[i]);
	free(to);
	free(n_to);
	free(order);
	free(seen);
	free(resolved);
	free(done);
	free(sorted);
}

static void
s_g_env(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	s_grp_t *a = o;

	s_each(p, v, "key", s_env_one, o);
	if (v->type == CONF__MAP)
		s_env_order(p, a->g, v);
}

static void
s_g_cwd(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	s_grp_t *a = o;
	char *s;

	if (conf__str(p->x, v, false, &s) != 0)
		return;
	s_refs(p, a, v, false);
	a->g->cwd = s_abs(p, s, true);
	free(s);
}

static void
s_g_user(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	s_grp_t *a = o;

	s_set_str(p, v, &a->g->user);
}

/* "022", "0022" or "0o022": octal, as chmod writes it. */
static void
s_g_umask(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	s_grp_t *a = o;
	const char *s;
	char q[96];
	long m;

	if (!conf__is(p->x, v, CONF__SCALAR))
		return;
	s = v->str;
	if (s[0] == '0' && (s[1] == 'o' || s[1] == 'O'))
		s += 2;
	if (*s == '\0' || strlen(s) > 4 || strspn(s, "01234567") != strlen(s) ||
	    (m = strtol(s, NULL, 8)) > 0777) {
		conf__err(p->x, v, "expected an octal mode like \"022\", got %s",
			  conf__quote(v->str, q, sizeof(q)));
		return;
	}
	a->g->umask = (int)m;
}

static void
s_g_autostart(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	s_grp_t *a = o;

	conf__bool(p->x, v, &a->g->autostart);
}

static void
s_g_queue_access(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	s_grp_t *a = o;

	conf__bool(p->x, v, &a->g->queue_access);
}

static void
s_g_restart(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	s_grp_t *a = o;
	char q[96];

	if (v->bad)
		return;
	if (v->type == CONF__SCALAR && strcmp(v->str, "always") == 0)
		a->g->restart = CONF_RESTART_ALWAYS;
	else if (v->type == CONF__SCALAR && strcmp(v->str, "on-failure") == 0)
		a->g->restart = CONF_RESTART_ON_FAILURE;
	else if (v->type == CONF__SCALAR && strcmp(v->str, "never") == 0)
		a->g->restart = CONF_RESTART_NEVER;
	else
		conf__err(p->x, v, "expected always|on-failure|never, got %s",
			  conf__what(v, q, sizeof(q)));
}

static void
s_b_initial(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	s_grp_t *a = o;

	if (conf__duration(p->x, v, false, &a->g->backoff_initial_ms) == 0)
		a->backoff_initial = v;
}

static void
s_b_max(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	s_grp_t *a = o;

	if (conf__duration(p->x, v, false, &a->g->backoff_max_ms) == 0)
		a->backoff_max = v;
}

static void
s_b_factor(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	s_grp_t *a = o;
	double f;

	if (conf__number(p->x, v, &f) != 0)
		return;
	if (f < 1.0 || f > CONF_MAX_BACKOFF_FACTOR) {
		conf__err(p->x, v, "must be from 1 to %d, got %.32s", CONF_MAX_BACKOFF_FACTOR,
			  v->str);
		return;
	}
	a->g->backoff_factor = f;
}

static void
s_g_backoff(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	static const s_key_t keys[] = {
	    {"initial", s_b_initial}, {"max", s_b_max}, {"factor", s_b_factor}, {NULL, NULL}};
	s_grp_t *a = o;
	char b1[32], b2[32];
	size_t old;

	s_walk(p, v, keys, a);
	if ((a->backoff_initial || a->backoff_max) &&
	    a->g->backoff_initial_ms > a->g->backoff_max_ms) {
		old = conf__path_push(p->x, a->backoff_initial ? "initial" : "max");
		conf__err(p->x, a->backoff_initial ? a->backoff_initial : a->backoff_max,
			  "initial (%s) is longer than max (%s)",
			  s_fmt_ms(a->g->backoff_initial_ms, b1, sizeof(b1)),
			  s_fmt_ms(a->g->backoff_max_ms, b2, sizeof(b2)));
		conf__path_pop(p->x, old);
	}
}

static void
s_g_start_timeout(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	s_grp_t *a = o;

	conf__duration(p->x, v, false, &a->g->start_timeout_ms);
}

static void
s_m_count(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	s_grp_t *a = o;
	int64_t n;

	if (conf__count(p->x, v, MAX_INSTANCES, &n) == 0)
		a->g->max_restarts = (unsigned)n;
}

static void
s_m_within(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	s_grp_t *a = o;

	conf__duration(p->x, v, true, &a->g->max_restarts_within_ms);
}

static void
s_g_max_restarts(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	static const s_key_t keys[] = {{"count", s_m_count}, {"within", s_m_within}, {NULL, NULL}};

	s_walk(p, v, keys, o);
}

/* ---- ready ---- */

/* Claims the group's one ready check for key k; false (reported) when another
   check came first. */
static bool
s_ready_kind(s_parse_t *p, s_grp_t *a, const conf__node_t *k, conf_ready_kind_t kind)
{
	if (a->ready_kind != NULL) {
		conf__err(p->x, k, "more than one ready check (%s and %s)", a->ready_kind->str,
			  k->str);
		return false;
	}
	a->ready_kind = k;
	a->g->ready.kind = kind;
	return true;
}

static void
s_r_tcp(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	s_grp_t *a = o;
	char *s, q[96];

	if (!s_ready_kind(p, a, k, CONF_READY_TCP) || conf__str(p->x, v, false, &s) != 0)
		return;
	if (strchr(s, '$') == NULL && !s_hostport_ok(s, false)) {
		conf__err(p->x, v, "expected HOST:PORT, got %s", conf__quote(s, q, sizeof(q)));
		free(s);
		return;
	}
	s_refs(p, a, v, false);
	a->g->ready.target = s;
}

static void
s_r_http(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	s_grp_t *a = o;
	char *s, q[96];

	if (!s_ready_kind(p, a, k, CONF_READY_HTTP) || conf__str(p->x, v, false, &s) != 0)
		return;
	if (strncmp(s, "http://", 7) != 0 || s[7] == '\0' || s[7] == '/') {
		conf__err(p->x, v, "expected an http:// URL, got %s", conf__quote(s, q, sizeof(q)));
		free(s);
		return;
	}
	s_refs(p, a, v, false);
	a->g->ready.target = s;
}

static void
s_r_exec(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	s_grp_t *a = o;
	size_t argc = 0;

	if (s_ready_kind(p, a, k, CONF_READY_EXEC))
		s_argv(p, a, v, &a->g->ready.exec_argv, &argc, NULL);
}

static void
s_r_notify(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	s_grp_t *a = o;
	bool on;

	if (conf__bool(p->x, v, &on) == 0 && on)
		s_ready_kind(p, a, k, CONF_READY_NOTIFY);
}

static void
s_r_delay(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	s_grp_t *a = o;

	if (s_ready_kind(p, a, k, CONF_READY_DELAY))
		conf__duration(p->x, v, false, &a->g->ready.delay_ms);
}

static void
s_r_timeout(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	s_grp_t *a = o;

	conf__duration(p->x, v, true, &a->g->ready.timeout_ms);
}

static void
s_r_interval(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	s_grp_t *a = o;

	conf__duration(p->x, v, true, &a->g->ready.interval_ms);
}

static void
s_g_ready(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	static const s_key_t keys[] = {{"tcp", s_r_tcp},	   {"http", s_r_http},
				       {"exec", s_r_exec},	   {"notify", s_r_notify},
				       {"delay", s_r_delay},	   {"timeout", s_r_timeout},
				       {"interval", s_r_interval}, {NULL, NULL}};
	s_grp_t *a = o;

	s_walk(p, v, keys, a);
	if (v->type == CONF__MAP && v->n > 0 && a->ready_kind == NULL && s_get(v, "notify") == NULL)
		conf__err(p->x, v, "expected one of tcp, http, exec, notify or delay");
}

/* ---- depends_on, stop, output, limits, hosts ---- */

static void
s_g_depends_on(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	s_grp_t *a = o;
	conf_group_t *g = a->g;
	const conf__node_t *const *items = (const conf__node_t *const *)&v;
	size_t n = 1, i, j, old;
	char q[96];

	if (v->bad || conf__node_is_null(v))
		return;
	if (v->type == CONF__SEQ) {
		items = (const conf__node_t *const *)v->kids;
		n = v->n;
	} else if (v->type != CONF__SCALAR) {
		conf__err(p->x, v, "expected a list of group names, got %s",
			  conf__what(v, q, sizeof(q)));
		return;
	}
	g->depends_on = s_alloc(p, n, sizeof(*g->depends_on));
	a->deps = s_alloc(p, n, sizeof(*a->deps));
	a->dep_pos = s_alloc(p, n, sizeof(*a->dep_pos));
	if (g->depends_on == NULL || a->deps == NULL || a->dep_pos == NULL)
		return;
	for (i = 0; i < n; i++) {
		old = v->type == CONF__SEQ ? conf__path_push_index(p->x, i) : p->x->path_len;
		for (j = 0; j < g->n_depends_on; j++)
			if (items[i]->type == CONF__SCALAR &&
			    strcmp(g->depends_on[j], items[i]->str) == 0)
				break;
		if (j < g->n_depends_on)
			conf__err(p->x, items[i], "%s is listed twice",
				  conf__quote(items[i]->str, q, sizeof(q)));
		else if (conf__str(p->x, items[i], false, &g->depends_on[g->n_depends_on]) == 0) {
			a->deps[g->n_depends_on] = items[i];
			a->dep_pos[g->n_depends_on++] = v->type == CONF__SEQ ? i : SIZE_MAX;
		}
		conf__path_pop(p->x, old);
	}
}

static void
s_s_signal(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	s_grp_t *a = o;
	char q[96];
	int sig;

	if (!conf__is(p->x, v, CONF__SCALAR))
		return;
	if ((sig = units_signal(v->str)) == 0) {
		conf__err(p->x, v, "unknown signal %s", conf__quote(v->str, q, sizeof(q)));
		return;
	}
	a->g->stop_signal = sig;
}

static void
s_s_timeout(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	s_grp_t *a = o;

	conf__duration(p->x, v, false, &a->g->stop_timeout_ms);
}

static void
s_g_stop(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	static const s_key_t keys[] = {
	    {"signal", s_s_signal}, {"timeout", s_s_timeout}, {NULL, NULL}};

	s_walk(p, v, keys, o);
}

typedef struct {
	s_grp_t *a;
	conf_output_t *o;
} s_out_t;

static void
s_o_file(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *arg)
{
	s_out_t *w = arg;
	char *s;

	if (conf__str(p->x, v, false, &s) != 0)
		return;
	if (strcmp(s, "auto") != 0) {
		s_refs(p, w->a, v, false);
		w->o->file = s_abs(p, s, true);
	}
	free(s);
}

static void
s_o_max_size(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *arg)
{
	s_out_t *w = arg;

	conf__size(p->x, v, &w->o->max_size);
}

static void
s_o_keep(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *arg)
{
	s_out_t *w = arg;
	int64_t n;

	if (conf__count(p->x, v, 1000, &n) == 0)
		w->o->keep = (unsigned)n;
}

/* stdout/stderr: a mapping {file, max_size, keep}, null (discard), "inherit",
   "auto", or for stderr "merge". */
static void
s_output(s_parse_t *p, s_grp_t *a, const conf__node_t *v, conf_output_t *o, bool is_err)
{
	static const s_key_t keys[] = {
	    {"file", s_o_file}, {"max_size", s_o_max_size}, {"keep", s_o_keep}, {NULL, NULL}};
	s_out_t w = {a, o};
	char q[96];

	if (v->bad)
		return;
	if (conf__node_is_null(v)) {
		o->mode = CONF_OUT_NULL;
	} else if (v->type == CONF__MAP) {
		o->mode = CONF_OUT_FILE;
		s_walk(p, v, keys, &w);
	} else if (v->type == CONF__SCALAR && strcmp(v->str, "inherit") == 0) {
		o->mode = CONF_OUT_INHERIT;
	} else if (v->type == CONF__SCALAR && strcmp(v->str, "auto") == 0) {
		o->mode = CONF_OUT_FILE;
	} else if (is_err && v->type == CONF__SCALAR && strcmp(v->str, "merge") == 0) {
		o->mode = CONF_OUT_MERGE;
	} else if (!is_err && v->type == CONF__SCALAR && strcmp(v->str, "merge") == 0) {
		conf__err(p->x, v, "merge is only for stderr");
	} else {
		conf__err(p->x, v, "expected {file, max_size, keep}, null, inherit%s, got %s",
			  is_err ? " or merge" : "", conf__what(v, q, sizeof(q)));
	}
}

static void
s_g_stdout(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	s_grp_t *a = o;

	s_output(p, a, v, &a->g->out, false);
}

static void
s_g_stderr(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	s_grp_t *a = o;

	s_output(p, a, v, &a->g->err, true);
}

static void
s_l_nofile(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	s_grp_t *a = o;

	conf__count(p->x, v, INT64_MAX, &a->g->limit_nofile);
}

static void
s_l_core(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	s_grp_t *a = o;

	conf__size(p->x, v, &a->g->limit_core);
}

static void
s_l_memory(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	s_grp_t *a = o;

	conf__size(p->x, v, &a->g->limit_memory);
}

static void
s_l_nproc(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	s_grp_t *a = o;

	conf__count(p->x, v, INT64_MAX, &a->g->limit_nproc);
}

static void
s_g_limits(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	static const s_key_t keys[] = {{"nofile", s_l_nofile},
				       {"core", s_l_core},
				       {"memory", s_l_memory},
				       {"nproc", s_l_nproc},
				       {NULL, NULL}};

	s_walk(p, v, keys, o);
}

static void
s_h_label(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	s_grp_t *a = o;
	conf_group_t *g = a->g;
	conf_kv_t *kv;
	char *s;

	if (conf__str(p->x, v, false, &s) != 0)
		return;
	if (!s_grow(p, (void **)&g->host_labels, g->n_host_labels, sizeof(*g->host_labels))) {
		free(s);
		return;
	}
	kv = &g->host_labels[g->n_host_labels++];
	kv->value = s;
	if ((kv->key = strdup(k->str)) == NULL)
		p->x->oom = true;
}

static void
s_h_labels(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	s_each(p, v, "key", s_h_label, o);
}

static void
s_h_per_host(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	s_grp_t *a = o;
	int64_t n;

	if (conf__count(p->x, v, MAX_INSTANCES, &n) != 0)
		return;
	if (n == 0) {
		conf__err(p->x, v, "must be at least 1");
		return;
	}
	a->g->per_host = (unsigned)n;
}

/* Replaces the default placement by the names in v (a list or one name). */
static void
s_host_names(s_parse_t *p, s_grp_t *a, const conf__node_t *v)
{
	const conf__node_t *const *items = (const conf__node_t *const *)&v;
	conf_group_t *g = a->g;
	size_t n = 1, i, old;
	char *s;

	if (v->type == CONF__SEQ) {
		items = (const conf__node_t *const *)v->kids;
		n = v->n;
	}
	if (n == 0) {
		conf__err(p->x, v, "empty host list");
		return;
	}
	if ((g->hosts = s_alloc(p, n, sizeof(*g->hosts))) == NULL)
		return;
	for (i = 0; i < n; i++) {
		old = v->type == CONF__SEQ ? conf__path_push_index(p->x, i) : p->x->path_len;
		if (conf__str(p->x, items[i], false, &s) == 0) {
			if (!conf_name_ok(s))
				conf__err(p->x, items[i], "invalid host name: " NAME_RULE);
			g->hosts[g->n_hosts++] = s;
		}
		conf__path_pop(p->x, old);
	}
}

static void
s_g_hosts(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	static const s_key_t keys[] = {
	    {"labels", s_h_labels}, {"per_host", s_h_per_host}, {NULL, NULL}};
	s_grp_t *a = o;
	conf_group_t *g = a->g;
	char q[96];
	size_t i;

	if (v->bad)
		return;
	if (v->type == CONF__MAP) {
		for (i = 0; i < g->n_hosts; i++)
			free(g->hosts[i]);
		free(g->hosts);
		g->hosts = NULL;
		g->n_hosts = 0;
		g->per_host = 1;
		s_walk(p, v, keys, a);
		return;
	}
	if (conf__node_is_null(v)) {
		conf__err(p->x, v, "expected a list of hosts or {labels, per_host}, got null");
		return;
	}
	if (v->type == CONF__SCALAR || v->type == CONF__SEQ) {
		for (i = 0; i < g->n_hosts; i++)
			free(g->hosts[i]);
		free(g->hosts);
		g->hosts = NULL;
		g->n_hosts = 0;
		s_host_names(p, a, v);
		return;
	}
	conf__err(p->x, v, "expected a list of hosts, got %s", conf__what(v, q, sizeof(q)));
}

/* ---- groups ---- */

static void
s_group_defaults(s_parse_t *p, conf_group_t *g)
{
	g->instances = 1;
	g->umask = -1;
	g->autostart = true;
	g->restart = CONF_RESTART_ON_FAILURE;
	g->backoff_initial_ms = 100;
	g->backoff_max_ms = 30000;
	g->backoff_factor = 2.0;
	g->start_timeout_ms = 1000;
	g->max_restarts = 5;
	g->max_restarts_within_ms = 60000;
	g->ready.kind = CONF_READY_NONE;
	g->ready.timeout_ms = 60000;
	g->ready.interval_ms = 100;
	g->stop_signal = SIGTERM;
	g->stop_timeout_ms = 10000;
	g->out = (conf_output_t){CONF_OUT_FILE, NULL, 50LL * 1024 * 1024, 5};
	g->err = g->out;
	g->limit_nofile = g->limit_core = g->limit_memory = g->limit_nproc = -1;
	if ((g->hosts = s_alloc(p, 1, sizeof(*g->hosts))) != NULL &&
	    (g->hosts[0] = strdup("local")) != NULL)
		g->n_hosts = 1;
	else
		p->x->oom = true;
}

static void
s_group(s_parse_t *p, const conf__node_t *key, const conf__node_t *val, void *o)
{
	static const s_key_t keys[] = {{"command", s_g_command},
				       {"instances", s_g_instances},
				       {"env", s_g_env},
				       {"cwd", s_g_cwd},
				       {"user", s_g_user},
				       {"umask", s_g_umask},
				       {"autostart", s_g_autostart},
				       {"restart", s_g_restart},
				       {"backoff", s_g_backoff},
				       {"start_timeout", s_g_start_timeout},
				       {"max_restarts", s_g_max_restarts},
				       {"ready", s_g_ready},
				       {"depends_on", s_g_depends_on},
				       {"stop", s_g_stop},
				       {"stdout", s_g_stdout},
				       {"stderr", s_g_stderr},
				       {"limits", s_g_limits},
				       {"hosts", s_g_hosts},
				       {"queue_access", s_g_queue_access},
				       {NULL, NULL}};
	conf_t *c = p->c;
	conf_group_t *g;
	s_grp_t a = {0};
	char q[96];

	if (!conf_name_ok(key->str))
		conf__err(p->x, key, "invalid group name: " NAME_RULE);
	if (!s_grow(p, (void **)&c->groups, c->n_groups, sizeof(*c->groups)) ||
	    !s_grow(p, (void **)&p->aux, c->n_groups, sizeof(*p->aux)))
		return;
	g = &c->groups[c->n_groups];
	memset(g, 0, sizeof(*g));
	s_group_defaults(p, g);
	g->line = key->line;
	if ((g->name = strdup(key->str)) == NULL)
		p->x->oom = true;
	a.g = g;
	a.key = key;
	a.env = s_get(val, "env");
	if (val->type == CONF__MAP) {
		s_walk(p, val, keys, &a);
		if (!a.has_command)
			conf__err(p->x, key, "command is required");
	} else if (!val->bad) {
		conf__err(p->x, val, "expected a mapping with a command, got %s",
			  conf__what(val, q, sizeof(q)));
	}
	p->aux[c->n_groups++] = a;
}

static void
s_k_groups(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	s_each(p, v, "group", s_group, NULL);
}

/* ---- queues ---- */

static void
s_q_capacity(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	conf_queue_t *q = o;
	int64_t n;

	if (conf__count(p->x, v, INT64_MAX, &n) != 0)
		return;
	if (n == 0)
		conf__err(p->x, v, "must be at least 1");
	else
		q->capacity = n;
}

static void
s_q_durable(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	conf_queue_t *q = o;

	conf__bool(p->x, v, &q->durable);
}

static void
s_q_lease(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	conf_queue_t *q = o;

	conf__duration(p->x, v, true, &q->lease_ms);
}

static void
s_q_max_message(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	conf_queue_t *q = o;
	int64_t n;

	if (conf__size(p->x, v, &n) != 0)
		return;
	if (n == 0)
		conf__err(p->x, v, "must be larger than 0");
	else
		q->max_message = n;
}

static void
s_queue(s_parse_t *p, const conf__node_t *key, const conf__node_t *val, void *o)
{
	static const s_key_t keys[] = {{"capacity", s_q_capacity},
				       {"durable", s_q_durable},
				       {"lease", s_q_lease},
				       {"max_message", s_q_max_message},
				       {NULL, NULL}};
	conf_t *c = p->c;
	conf_queue_t *q;

	if (!conf_name_ok(key->str))
		conf__err(p->x, key, "invalid queue name: " NAME_RULE);
	if (!s_grow(p, (void **)&c->queues, c->n_queues, sizeof(*c->queues)))
		return;
	q = &c->queues[c->n_queues++];
	*q = (conf_queue_t){.line = key->line,
			    .capacity = 100000,
			    .durable = false,
			    .lease_ms = 30000,
			    .max_message = 1024 * 1024};
	if ((q->name = strdup(key->str)) == NULL)
		p->x->oom = true;
	s_walk(p, val, keys, q); /* null: all defaults */
}

static void
s_k_queues(s_parse_t *p, const conf__node_t *k, const conf__node_t *v, void *o)
{
	s_each(p, v, "queue", s_queue, NULL);
}

/* ---- dependencies ---- */

static int
s_name_cmp(const void *a, const void *b, void *arg)
{
	const conf_t *c = arg;

	return strcmp(c->groups[*(const size_t *)a].name, c->groups[*(const size_t *)b].name);
}

static size_t
s_find(const conf_t *c, const size_t *by_name, const char *name)
{
	size_t lo = 0, hi = c->n_groups, mid;
	int r;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		r = strcmp(name, c->groups[by_name[mid]].name);
		if (r == 0)
			return by_name[mid];
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return SIZE_MAX;
}

/* Pushes groups.NAME.depends_on[k] for a message about dependency j. */
static size_t
s_dep_path(s_parse_t *p, size_t i, size_t j)
{
	size_t old = p->x->path_len;

	conf__path_push(p->x, "groups");
	conf__path_push(p->x, p->c->groups[i].name);
	conf__path_push(p->x, "depends_on");
	if (p->aux[i].dep_pos[j] != SIZE_MAX)
		conf__path_push_index(p->x, p->aux[i].dep_pos[j]);
	return old;
}

static void
s_resolve_deps(s_parse_t *p)
{
	conf_t *c = p->c;
	size_t *by_name, i, j, old;
	char q[96];

	if ((by_name = s_alloc(p, c->n_groups, sizeof(*by_name))) == NULL)
		return;
	for (i = 0; i < c->n_groups; i++)
		by_name[i] = i;
	qsort_r(by_name, c->n_groups, sizeof(*by_name), s_name_cmp, c);
	for (i = 0; i < c->n_groups; i++) {
		const conf_group_t *g = &c->groups[i];

		if (g->n_depends_on == 0)
			continue;
		if ((p->aux[i].dep_idx = s_alloc(p, g->n_depends_on, sizeof(size_t))) == NULL)
			break;
		for (j = 0; j < g->n_depends_on; j++) {
			p->aux[i].dep_idx[j] = s_find(c, by_name, g->depends_on[j]);
			if (p->aux[i].dep_idx[j] != SIZE_MAX)
				continue;
			old = s_dep_path(p, i, j);
			conf__err(p->x, p->aux[i].deps[j], "unknown group %s",
				  conf__quote(g->depends_on[j], q, sizeof(q)));
			conf__path_pop(p->x, old);
		}
	}
	free(by_name);
}

/* Reports the cycle closed by the edge u -> v, where v is on the DFS stack at
   position from: "web -> api -> web". */
static void
s_report_cycle(s_parse_t *p, const size_t *stack, size_t from, size_t top, size_t e)
{
	const conf_t *c = p->c;
	size_t u = stack[top], i, old, len = 0;
	char *text = NULL;
	FILE *m = open_memstream(&text, &len);

	if (m == NULL) {
		p->x->oom = true;
		return;
	}
	/* a long cycle is shown by its ends: the message stays one short line */
	for (i = from; i <= top; i++) {
		if (top - from >= 8 && i == from + 3) {
			fprintf(m, "... -> ");
			i = top - 2;
		}
		fprintf(m, "%s -> ", c->groups[stack[i]].name);
	}
	fprintf(m, "%s", c->groups[stack[from]].name);
	if (top - from >= 8)
		fprintf(m, " (%zu groups)", top - from + 1);
	if (fclose(m) != 0 || text == NULL) {
		free(text);
		p->x->oom = true;
		return;
	}
	old = s_dep_path(p, u, e);
	conf__err(p->x, p->aux[u].deps[e], "dependency cycle: %s", text);
	conf__path_pop(p->x, old);
	free(text);
}

/* Depth-first over depends_on without recursion (a file may hold many
   groups): gray groups are on the stack, a dependency on a gray one closes a
   cycle. */
static void
s_check_cycles(s_parse_t *p)
{
	size_t n = p->c->n_groups, *stack, *edge, *pos, top, s, u, v;
	unsigned char *color;

	stack = s_alloc(p, n, sizeof(*stack));
	edge = s_alloc(p, n, sizeof(*edge));
	pos = s_alloc(p, n, sizeof(*pos));
	color = s_alloc(p, n, 1);
	for (s = 0; stack && edge && pos && color && s < n; s++) {
		if (color[s] != 0)
			continue;
		top = 0;
		stack[0] = s;
		edge[0] = 0;
		pos[s] = 0;
		color[s] = 1;
		for (;;) {
			u = stack[top];
			if (p->aux[u].dep_idx == NULL ||
			    edge[top] >= p->c->groups[u].n_depends_on) {
				color[u] = 2;
				if (top-- == 0)
					break;
				continue;
			}
			v = p->aux[u].dep_idx[edge[top]++];
			if (v == SIZE_MAX || color[v] == 2)
				continue;
			if (color[v] == 1) {
				s_report_cycle(p, stack, pos[v], top, edge[top] - 1);
				continue;
			}
			color[v] = 1;
			pos[v] = ++top;
			stack[top] = v;
			edge[top] = 0;
		}
	}
	free(stack);
	free(edge);
	free(pos);
	free(color);
}

/* ---- the file ---- */

static char *
s_dup_or_oom(s_parse_t *p, const char *s)
{
	char *d = strdup(s);

	if (d == NULL)
		p->x->oom = true;
	return d;
}

static void
s_defaults(s_parse_t *p)
{
	conf_t *c = p->c;
	char host[256] = "localhost";

	if (c->name == NULL) {
		if (gethostname(host, sizeof(host)) != 0 || host[0] == '\0')
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		c->name = s_dup_or_oom(p, host);
	}
	if (c->state_dir == NULL)
		c->state_dir = s_abs(p, "var", false);
	if (c->log_dir == NULL && c->state_dir != NULL &&
	    asprintf(&c->log_dir, "%s/log", c->state_dir) < 0) {
		c->log_dir = NULL;
		p->x->oom = true;
	}
	if (c->http_listen == NULL)
		c->http_listen = s_dup_or_oom(p, "127.0.0.1:9170");
	if (c->agents_listen == NULL)
		c->agents_listen = s_dup_or_oom(p, "tcp://127.0.0.1:9171");
	if (c->agents_heartbeat_ms == 0)
		c->agents_heartbeat_ms = TIMING_AGENT_HEARTBEAT_MS;
	if (c->agents_lost_after == 0)
		c->agents_lost_after = TIMING_AGENT_LOST_AFTER;
	if (c->queues_listen == NULL)
		c->queues_listen = s_dup_or_oom(p, "tcp://127.0.0.1:9172");
}

void
conf__build(conf__ctx_t *x, const conf__node_t *root, conf_t *c)
{
	static const s_key_t keys[] = {{"supervisor", s_k_supervisor},
				       {"groups", s_k_groups},
				       {"queues", s_k_queues},
				       {NULL, NULL}};
	s_parse_t p = {x, c, NULL};
	size_t i;

	if (root != NULL && !conf__node_is_null(root)) {
		if (root->type == CONF__MAP)
			s_walk(&p, root, keys, NULL);
		else if (!root->bad)
			conf__is(x, root, CONF__MAP);
	}
	s_defaults(&p);
	if (!x->oom) {
		s_resolve_deps(&p);
		s_check_cycles(&p);
	}
	for (i = 0; i < c->n_groups; i++) {
		free(p.aux[i].deps);
		free(p.aux[i].dep_pos);
		free(p.aux[i].dep_idx);
	}
	free(p.aux);
}
