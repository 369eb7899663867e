/* The fleet view: a table of process snapshots with a name index, kept in
   display order lazily (sorted when read after a change of membership). */
#include "view.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "units.h"

#define VIEW_MAX_LISTENERS 4

/* One entry: the snapshot plus the strings it owns. */
typedef struct {
	view_proc_t p;
	char *name, *group, *host, *error;
	size_t group_pos; /* position of its group in the configuration order */
} s_ent_t;

struct view {
	view_owner_t owner;
	void *owner_ctx;
	s_ent_t **ents;
	size_t n, cap;
	bool sorted;
	s_ent_t **index; /* open addressing by name; NULL empty, TOMB deleted */
	size_t index_cap, index_used;
	json_t *groups;
	uint64_t seq;
	struct {
		view_listener_fn fn;
		void *ctx;
	} listeners[VIEW_MAX_LISTENERS];
	size_t n_listeners;
};

#define TOMB ((s_ent_t *)1)

static size_t
s_hash(const char *s)
{
	size_t h = 1469598103934665603ull;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

static size_t
s_slot(const view_t *v, const char *name)
{
	size_t j = s_hash(name) & (v->index_cap - 1), tomb = SIZE_MAX;

	while (v->index[j] != NULL) {
		if (v->index[j] == TOMB) {
			if (tomb == SIZE_MAX)
				tomb = j;
		} else if (strcmp(v->index[j]->name, name) == 0) {
			return j;
		}
		j = (j + 1) & (v->index_cap - 1);
	}
	return tomb != SIZE_MAX ? tomb : j;
}

static int
s_index_grow(view_t *v)
{
	s_ent_t **old = v->index;
	size_t oldcap = v->index_cap, i, cap = oldcap ? oldcap * 2 : 64;

	if ((v->index = calloc(cap, sizeof(*v->index))) == NULL) {
		v->index = old;
		return -ENOMEM;
	}
	v->index_cap = cap;
	v->index_used = 0;
	for (i = 0; i < oldcap; i++) {
		if (old[i] == NULL || old[i] == TOMB)
			continue;
		v->index[s_slot(v, old[i]->name)] = old[i];
		v->index_used++;
	}
	free(old);
	return 0;
}

view_t *
view_new(const view_owner_t *owner, void *owner_ctx)
{
	view_t *v = calloc(1, sizeof(*v));

	if (v == NULL)
		return NULL;
	if (owner != NULL)
		v->owner = *owner;
	v->owner_ctx = owner_ctx;
	v->groups = json_array();
	v->sorted = true;
	if (v->groups == NULL || s_index_grow(v) != 0) {
		view_destroy(&v);
		errno = ENOMEM;
	}
	return v;
}

static void
s_ent_free(s_ent_t *e)
{
	free(e->name);
	free(e->group);
	free(e->host);
	free(e->error);
	free(e);
}

void
view_destroy(view_t **vp)
{
	view_t *v;
	size_t i;

	if (vp == NULL || *vp == NULL)
		return;
	v = *vp;
	for (i = 0; i < v->n; i++)
		s_ent_free(v->ents[i]);
	free(v->ents);
	free(v->index);
	json_decref(v->groups);
	free(v);
	*vp = NULL;
}

int
view_listen(view_t *v, view_listener_fn fn, void *ctx)
{
	if (v->n_listeners == VIEW_MAX_LISTENERS)
		return -ENOSPC;
	v->listeners[v->n_listeners].fn = fn;
	v->listeners[v->n_listeners].ctx = ctx;
	v->n_listeners++;
	return 0;
}

static void
s_tell(view_t *v, const view_proc_t *p, bool removed)
{
	size_t i;

	v->seq++;
	for (i = 0; i < v->n_listeners; i++)
		v->listeners[i].fn(v->listeners[i].ctx, p, removed, v->seq);
}

static size_t
s_group_pos(const view_t *v, const char *group)
{
	size_t i;
	const char *name;

	for (i = 0; i < json_array_size(v->groups); i++) {
		name = json_string_value(json_object_get(json_array_get(v->groups, i), "name"));
		if (name != NULL && strcmp(name, group) == 0)
			return i;
	}
	return SIZE_MAX; /* removed groups last */
}

/* Replaces *dst with a copy of src (NULL stays NULL); false when out of memory. */
static bool
s_set_str(char **dst, const char *src)
{
	char *c = NULL;

	if (src != NULL && (c = strdup(src)) == NULL)
		return false;
	free(*dst);
	*dst = c;
	return true;
}

static bool
s_str_eq(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Does anything a user sees differ between the entry and p? */
static bool
s_differs(const s_ent_t *e, const view_proc_t *p)
{
	return e->p.state != p->state || e->p.pid != p->pid || e->p.since != p->since ||
	       e->p.restarts != p->restarts || e->p.exit_code != p->exit_code ||
	       e->p.exit_signal != p->exit_signal || e->p.ready != p->ready ||
	       !s_str_eq(e->error, p->error) || !s_str_eq(e->host, p->host) ||
	       e->p.instance != p->instance;
}

int
view_put(view_t *v, const view_proc_t *p)
{
	size_t j;
	s_ent_t *e, **ents;

	j = s_slot(v, p->name);
	e = (v->index[j] != NULL && v->index[j] != TOMB) ? v->index[j] : NULL;
	if (e == NULL) {
		if ((v->index_used + 1) * 2 > v->index_cap) {
			if (s_index_grow(v) != 0)
				return -ENOMEM;
			j = s_slot(v, p->name);
		}
		if (v->n == v->cap) {
			size_t cap = v->cap ? v->cap * 2 : 64;

			if ((ents = realloc(v->ents, cap * sizeof(*ents))) == NULL)
				return -ENOMEM;
			v->ents = ents;
			v->cap = cap;
		}
		if ((e = calloc(1, sizeof(*e))) == NULL)
			return -ENOMEM;
		if (!s_set_str(&e->name, p->name) || !s_set_str(&e->group, p->group) ||
		    !s_set_str(&e->host, p->host) || !s_set_str(&e->error, p->error)) {
			s_ent_free(e);
			return -ENOMEM;
		}
		e->p = *p;
		e->group_pos = s_group_pos(v, p->group);
		if (v->index[j] == NULL)
			v->index_used++;
		v->index[j] = e;
		v->ents[v->n++] = e;
		v->sorted = false;
	} else {
		bool news = s_differs(e, p);

		if (!news) {
			e->p.cpu_seconds = p->cpu_seconds;
			e->p.rss_bytes = p->rss_bytes;
			return 0;
		}
		if (!s_str_eq(e->host, p->host) && !s_set_str(&e->host, p->host))
			return -ENOMEM;
		if (!s_str_eq(e->error, p->error) && !s_set_str(&e->error, p->error))
			return -ENOMEM;
		if (e->p.instance != p->instance)
			v->sorted = false;
		e->p = *p;
	}
	e->p.name = e->name;
	e->p.group = e->group;
	e->p.host = e->host;
	e->p.error = e->error;
	s_tell(v, &e->p, false);
	return 1;
}

void
view_sample(view_t *v, const char *name, double cpu_seconds, int64_t rss_bytes)
{
	size_t j = s_slot(v, name);

	if (v->index[j] == NULL || v->index[j] == TOMB)
		return;
	v->index[j]->p.cpu_seconds = cpu_seconds;
	v->index[j]->p.rss_bytes = rss_bytes;
}

void
view_remove(view_t *v, const char *name)
{
	size_t j = s_slot(v, name), i;
	s_ent_t *e;

	if (v->index[j] == NULL || v->index[j] == TOMB)
		return;
	e = v->index[j];
	v->index[j] = TOMB;
	for (i = 0; i < v->n; i++)
		if (v->ents[i] == e)
			break;
	memmove(&v->ents[i], &v->ents[i + 1], (v->n - i - 1) * sizeof(*v->ents));
	v->n--;
	s_tell(v, &e->p, true);
	s_ent_free(e);
}

void
view_set_groups(view_t *v, json_t *groups)
{
	size_t i;

	if (!json_is_array(groups)) {
		json_decref(groups);
		groups = json_array();
	}
	json_decref(v->groups);
	v->groups = groups;
	for (i = 0; i < v->n; i++)
		v->ents[i]->group_pos = s_group_pos(v, v->ents[i]->group);
	v->sorted = false;
}

const json_t *
view_groups(const view_t *v)
{
	return v->groups;
}

const json_t *
view_group(const view_t *v, const char *name)
{
	size_t i = s_group_pos(v, name);

	return i == SIZE_MAX ? NULL : json_array_get(v->groups, i);
}

static int
s_cmp(const void *a, const void *b)
{
	const s_ent_t *x = *(s_ent_t *const *)a, *y = *(s_ent_t *const *)b;
	int c;

	if (x->group_pos != y->group_pos)
		return x->group_pos < y->group_pos ? -1 : 1;
	if ((c = strcmp(x->group, y->group)) != 0)
		return c;
	return x->p.instance < y->p.instance ? -1 : x->p.instance > y->p.instance;
}

size_t
view_count(view_t *v)
{
	return v->n;
}

const view_proc_t *
view_at(view_t *v, size_t i)
{
	if (!v->sorted) {
		qsort(v->ents, v->n, sizeof(*v->ents), s_cmp);
		v->sorted = true;
	}
	return i < v->n ? &v->ents[i]->p : NULL;
}

const view_proc_t *
view_find(const view_t *v, const char *name)
{
	size_t j = s_slot(v, name);

	return (v->index[j] == NULL || v->index[j] == TOMB) ? NULL : &v->index[j]->p;
}

void
view_refresh(view_t *v)
{
	if (v->owner.refresh)
		v->owner.refresh(v->owner_ctx);
}

uint64_t
view_seq(const view_t *v)
{
	return v->seq;
}

size_t
view_group_states(view_t *v, const char *group, size_t counts[PROC_N_STATES])
{
	size_t i, n = 0;

	memset(counts, 0, sizeof(size_t) * PROC_N_STATES);
	for (i = 0; i < v->n; i++) {
		if (strcmp(v->ents[i]->group, group) != 0)
			continue;
		if ((unsigned)v->ents[i]->p.state < PROC_N_STATES)
			counts[v->ents[i]->p.state]++;
		n++;
	}
	return n;
}

void
view_proc_cmd(view_t *v, const view_proc_t *p, const char *cmd, int sig, view_done_fn done,
	      void *arg)
{
	if (v->owner.proc_cmd == NULL) {
		done(arg, -ENOSYS, "no owner for this process");
		return;
	}
	v->owner.proc_cmd(v->owner_ctx, p, cmd, sig, done, arg);
}

void
view_group_cmd(view_t *v, const char *group, const char *cmd, long n, view_done_fn done, void *arg)
{
	if (v->owner.group_cmd == NULL) {
		done(arg, -ENOSYS, "no owner for this group");
		return;
	}
	v->owner.group_cmd(v->owner_ctx, group, cmd, n, done, arg);
}

const char *
view_log_path(view_t *v, const view_proc_t *p, const char *stream)
{
	return v->owner.log_path ? v->owner.log_path(v->owner_ctx, p, stream) : NULL;
}

void
view_logs(view_t *v, const view_proc_t *p, json_t *query, view_logs_fn done, void *arg)
{
	if (v->owner.logs == NULL) {
		json_decref(query);
		done(arg, 0, NULL, "its output is not on this host");
		return;
	}
	v->owner.logs(v->owner_ctx, p, query, done, arg);
}

/* ---- the process object ---- */

static json_t *
s_int_or_null(long long x, bool present)
{
	return present ? json_integer(x) : json_null();
}

json_t *
view_proc_json(const view_proc_t *p)
{
	const char *signame = p->exit_signal > 0 ? units_signal_name(p->exit_signal) : NULL;
	json_t *o = json_object();

	json_object_set_new(o, "name", json_string(p->name));
	json_object_set_new(o, "group", json_string(p->group));
	json_object_set_new(o, "instance", json_integer(p->instance));
	json_object_set_new(o, "host", json_string(p->host ? p->host : VIEW_HOST_LOCAL));
	json_object_set_new(o, "state", json_string(proc_state_name(p->state)));
	json_object_set_new(o, "pid", s_int_or_null(p->pid, p->pid > 0));
	json_object_set_new(o, "since", json_real(p->since));
	json_object_set_new(o, "restarts", json_integer(p->restarts));
	json_object_set_new(o, "exit_code", s_int_or_null(p->exit_code, p->exit_code >= 0));
	if (signame != NULL)
		json_object_set_new(o, "exit_signal", json_string(signame));
	else
		json_object_set_new(o, "exit_signal",
				    s_int_or_null(p->exit_signal, p->exit_signal > 0));
	json_object_set_new(o, "ready", json_boolean(p->ready));
	json_object_set_new(o, "cpu_seconds",
			    p->cpu_seconds >= 0 ? json_real(p->cpu_seconds) : json_null());
	json_object_set_new(o, "rss_bytes", s_int_or_null(p->rss_bytes, p->rss_bytes >= 0));
	json_object_set_new(o, "error", p->error ? json_string(p->error) : json_null());
	return o;
}

int
view_proc_from_json(const json_t *j, view_proc_t *p)
{
	const json_t *x;
	int st;

	memset(p, 0, sizeof(*p));
	p->name = json_string_value(json_object_get(j, "name"));
	p->group = json_string_value(json_object_get(j, "group"));
	p->host = json_string_value(json_object_get(j, "host"));
	st = proc_state_parse(json_string_value(json_object_get(j, "state")));
	x = json_object_get(j, "instance");
	if (p->name == NULL || p->group == NULL || st < 0 || !json_is_integer(x) ||
	    json_integer_value(x) < 0 || json_integer_value(x) > (json_int_t)UINT32_MAX)
		return -EINVAL;
	p->instance = (unsigned)json_integer_value(x);
	p->state = (proc_state_t)st;
	x = json_object_get(j, "pid");
	p->pid =
	    json_is_integer(x) && json_integer_value(x) > 0 && json_integer_value(x) < INT32_MAX
		? (int)json_integer_value(x)
		: 0;
	x = json_object_get(j, "since");
	p->since = json_is_number(x) && isfinite(json_number_value(x)) ? json_number_value(x) : 0;
	x = json_object_get(j, "restarts");
	p->restarts =
	    json_is_integer(x) && json_integer_value(x) >= 0 && json_integer_value(x) < UINT32_MAX
		? (unsigned)json_integer_value(x)
		: 0;
	x = json_object_get(j, "exit_code");
	p->exit_code =
	    json_is_integer(x) && json_integer_value(x) >= 0 && json_integer_value(x) < 256
		? (int)json_integer_value(x)
		: -1;
	x = json_object_get(j, "exit_signal");
	p->exit_signal =
	    json_is_string(x) ? units_signal(json_string_value(x))
	    : json_is_integer(x) && json_integer_value(x) > 0 && json_integer_value(x) < 128
		? (int)json_integer_value(x)
		: 0;
	if (p->exit_signal < 0)
		p->exit_signal = 0;
	p->ready = json_is_true(json_object_get(j, "ready"));
	x = json_object_get(j, "cpu_seconds");
	p->cpu_seconds =
	    json_is_number(x) && isfinite(json_number_value(x)) && json_number_value(x) >= 0
		? json_number_value(x)
		: -1;
	x = json_object_get(j, "rss_bytes");
	p->rss_bytes =
	    json_is_integer(x) && json_integer_value(x) >= 0 ? json_integer_value(x) : -1;
	p->error = json_string_value(json_object_get(j, "error"));
	return 0;
}
