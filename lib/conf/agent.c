/* The agent's settings (SPEC 7): agent.yaml, with the same file:line:col
   errors as drover.yaml, all of them reported. Relative paths are resolved
   against the file's directory. */
#include "conf_agent.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf_internal.h"
#include "str.h"

#define AGENT_MAX_FILE (1024 * 1024)

void
conf_agent_free(conf_agent_t **ap)
{
	conf_agent_t *a;
	size_t i;

	if (ap == NULL || *ap == NULL)
		return;
	a = *ap;
	free(a->connect);
	free(a->name);
	free(a->key);
	free(a->server_key);
	free(a->state_dir);
	free(a->log_dir);
	for (i = 0; i < a->n_labels; i++) {
		free(a->labels[i].key);
		free(a->labels[i].value);
	}
	free(a->labels);
	free(a);
	*ap = NULL;
}

int
conf_agent_add_label(conf_agent_t *a, const char *key, const char *value)
{
	conf_kv_t *l;
	size_t i;

	for (i = 0; i < a->n_labels; i++) {
		if (strcmp(a->labels[i].key, key) == 0) {
			char *v = strdup(value);

			if (v == NULL)
				return -ENOMEM;
			free(a->labels[i].value);
			a->labels[i].value = v;
			return 0;
		}
	}
	if ((l = realloc(a->labels, (a->n_labels + 1) * sizeof(*l))) == NULL)
		return -ENOMEM;
	a->labels = l;
	l[a->n_labels].key = strdup(key);
	l[a->n_labels].value = strdup(value);
	if (l[a->n_labels].key == NULL || l[a->n_labels].value == NULL) {
		free(l[a->n_labels].key);
		free(l[a->n_labels].value);
		return -ENOMEM;
	}
	a->n_labels++;
	return 0;
}

bool
conf_agent_name_ok(const char *s)
{
	return str_name_ok(s) && strcmp(s, "local") != 0;
}

/* An absolute path: s itself, or s under dir. */
static char *
s_abs(const char *dir, const char *s)
{
	char *out = NULL;

	if (s[0] == '/')
		return strdup(s);
	if (asprintf(&out, "%s/%s", dir, s) < 0)
		return NULL;
	return out;
}

static void
s_path(conf__ctx_t *x, const char *dir, const conf__node_t *v, char **dst)
{
	char *s;

	if (conf__str(x, v, false, &s) != 0)
		return;
	free(*dst);
	if ((*dst = s_abs(dir, s)) == NULL)
		x->oom = true;
	free(s);
}

/* A mapping key must be a string: a mapping or a list as a key (YAML's
   "? {a: 1}" or "{{}: x}") has no text. Reports anything else. */
static bool
s_key_ok(conf__ctx_t *x, const conf__node_t *k)
{
	if (k->bad)
		return false;
	if (k->type != CONF__SCALAR) {
		conf__err(x, k, "expected a string key, got %s",
			  k->type == CONF__MAP ? "a mapping" : "a list");
		return false;
	}
	return true;
}

/* Is the key at map->kids[i] one seen before in map? Says so, as drover.yaml's
   parser does (a key given twice is an error, not the last one winning). */
static bool
s_dup(conf__ctx_t *x, const conf__node_t *map, size_t i)
{
	const conf__node_t *k = map->kids[i];
	size_t j;

	for (j = 0; j < i; j += 2) {
		if (map->kids[j]->type == CONF__SCALAR && !map->kids[j]->bad &&
		    strcmp(map->kids[j]->str, k->str) == 0) {
			conf__err(x, k, "duplicate key (first at line %d)", map->kids[j]->line);
			return true;
		}
	}
	return false;
}

static void
s_build(conf__ctx_t *x, const conf__node_t *root, const char *dir, conf_agent_t *a)
{
	const conf__node_t *agent = NULL, *k, *v, *lk, *lv;
	size_t i, j, mark, mark2;
	char *s;

	if (root == NULL || conf__node_is_null(root)) {
		conf__err_at(x, 1, 1, "", "the file is empty: expected an agent: section");
		return;
	}
	if (!conf__is(x, root, CONF__MAP))
		return;
	for (i = 0; i + 1 < root->n; i += 2) {
		k = root->kids[i];
		if (!s_key_ok(x, k) || s_dup(x, root, i))
			continue;
		if (strcmp(k->str, "agent") == 0)
			agent = root->kids[i + 1];
		else
			conf__err(x, k, "unknown key \"%s\" (expected agent)", k->str);
	}
	if (agent == NULL) {
		conf__err_at(x, root->line, root->col, "", "missing the agent: section");
		return;
	}
	mark = conf__path_push(x, "agent");
	if (!conf__is(x, agent, CONF__MAP)) {
		conf__path_pop(x, mark);
		return;
	}
	for (i = 0; i + 1 < agent->n; i += 2) {
		k = agent->kids[i];
		v = agent->kids[i + 1];
		if (!s_key_ok(x, k))
			continue;
		mark2 = conf__path_push(x, k->str);
		if (s_dup(x, agent, i)) {
			conf__path_pop(x, mark2);
			continue;
		}
		if (strcmp(k->str, "connect") == 0) {
			if (conf__str(x, v, false, &s) == 0) {
				if (strncmp(s, "tcp://", 6) != 0 || strchr(s + 6, ':') == NULL)
					conf__err(x, v, "expected tcp://HOST:PORT, got \"%s\"", s);
				free(a->connect);
				a->connect = s;
			}
		} else if (strcmp(k->str, "name") == 0) {
			if (conf__str(x, v, false, &s) == 0) {
				if (!conf_agent_name_ok(s))
					conf__err(x, v,
						  "invalid agent name: 1-64 letters, digits, '-', "
						  "'_' or '.', not \"local\"");
				free(a->name);
				a->name = s;
			}
		} else if (strcmp(k->str, "key") == 0) {
			s_path(x, dir, v, &a->key);
		} else if (strcmp(k->str, "server_key") == 0) {
			s_path(x, dir, v, &a->server_key);
		} else if (strcmp(k->str, "state_dir") == 0) {
			s_path(x, dir, v, &a->state_dir);
		} else if (strcmp(k->str, "log_dir") == 0) {
			s_path(x, dir, v, &a->log_dir);
		} else if (strcmp(k->str, "labels") == 0) {
			if (conf__node_is_null(v) || !conf__is(x, v, CONF__MAP)) {
				conf__path_pop(x, mark2);
				continue;
			}
			for (j = 0; j + 1 < v->n; j += 2) {
				lk = v->kids[j];
				lv = v->kids[j + 1];
				if (!s_key_ok(x, lk) || s_dup(x, v, j) ||
				    conf__str(x, lv, true, &s) != 0)
					continue;
				if (conf_agent_add_label(a, lk->str, s) != 0)
					x->oom = true;
				free(s);
			}
		} else {
			conf__err(x, k,
				  "unknown key \"%s\" (expected connect, name, key, server_key, "
				  "labels, state_dir or log_dir)",
				  k->str);
		}
		conf__path_pop(x, mark2);
	}
	conf__path_pop(x, mark);
	if (a->connect == NULL)
		conf__err_at(x, agent->line, agent->col, "agent",
			     "missing connect (tcp://HUB:9171)");
	if (a->name == NULL)
		conf__err_at(x, agent->line, agent->col, "agent", "missing name");
	if (a->key == NULL)
		conf__err_at(x, agent->line, agent->col, "agent",
			     "missing key (this agent's NAME.cert_secret)");
	if (a->server_key == NULL)
		conf__err_at(x, agent->line, agent->col, "agent",
			     "missing server_key (droverd.cert from droverd's keys_dir)");
}

int
conf_agent_parse_string(const char *text, size_t len, const char *name, const char *dir,
			conf_agent_t **out, char **errors)
{
	conf__ctx_t x = {.file = name};
	conf__node_t *root = NULL;
	conf_agent_t *a = calloc(1, sizeof(*a));
	int rc = -1;

	*out = NULL;
	*errors = NULL;
	if (a == NULL)
		goto oom;
	if (conf__tree_load(&x, text, len, &root) == 0)
		s_build(&x, root, dir, a);
	conf__node_free(root);
	if (x.oom)
		goto oom;
	if (x.n_errs > 0) {
		*errors = conf__err_join(&x);
		goto done;
	}
	if (a->state_dir == NULL && (a->state_dir = s_abs(dir, "var")) == NULL)
		goto oom;
	if (a->log_dir == NULL && asprintf(&a->log_dir, "%s/log", a->state_dir) < 0) {
		a->log_dir = NULL;
		goto oom;
	}
	*out = a;
	a = NULL;
	rc = 0;
	goto done;
oom:
	free(*errors);
	if (asprintf(errors, "%s: out of memory\n", name) < 0)
		*errors = NULL;
done:
	conf__ctx_fini(&x);
	conf_agent_free(&a);
	return rc;
}

int
conf_agent_load(const char *path, conf_agent_t **out, char **errors)
{
	char *text = NULL, *dir = NULL, real[PATH_MAX], *slash;
	size_t len = 0;
	FILE *f;
	int rc = -1;

	*out = NULL;
	*errors = NULL;
	if ((f = fopen(path, "r")) == NULL) {
		if (asprintf(errors, "%s: cannot read: %s\n", path, strerror(errno)) < 0)
			*errors = NULL;
		return -1;
	}
	text = malloc(AGENT_MAX_FILE + 1);
	if (text != NULL)
		len = fread(text, 1, AGENT_MAX_FILE + 1, f);
	fclose(f);
	if (text == NULL)
		goto oom;
	if (len > AGENT_MAX_FILE) {
		if (asprintf(errors, "%s: larger than %d bytes\n", path, AGENT_MAX_FILE) < 0)
			*errors = NULL;
		goto done;
	}
	if (realpath(path, real) == NULL)
		snprintf(real, sizeof(real), "%s", path);
	if ((slash = strrchr(real, '/')) != NULL)
		dir = strndup(real, (size_t)(slash - real) ? (size_t)(slash - real) : 1);
	else
		dir = strdup(".");
	if (dir == NULL)
		goto oom;
	rc = conf_agent_parse_string(text, len, path, dir, out, errors);
	goto done;
oom:
	if (asprintf(errors, "%s: out of memory\n", path) < 0)
		*errors = NULL;
done:
	free(text);
	free(dir);
	return rc;
}
