/* Copies of one group's settings that live apart from the conf_t they came
   from: the process engine keeps its own, so a reload that frees the old
   configuration can never leave it pointing into freed memory. */
#include "conf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void
s_strv_free(char **v, size_t n)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static size_t
s_strv_len(char *const *v)
{
	size_t n = 0;

	while (v != NULL && v[n] != NULL)
		n++;
	return n;
}

static void
s_kv_free(conf_kv_t *kv, size_t n)
{
	size_t i;

	for (i = 0; kv != NULL && i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

void
conf_group_clear(conf_group_t *g)
{
	if (g == NULL)
		return;
	free(g->name);
	s_strv_free(g->argv, g->argc);
	s_kv_free(g->env, g->n_env);
	free(g->cwd);
	free(g->user);
	free(g->ready.target);
	s_strv_free(g->ready.exec_argv, s_strv_len(g->ready.exec_argv));
	s_strv_free(g->depends_on, g->n_depends_on);
	free(g->out.file);
	free(g->err.file);
	s_strv_free(g->hosts, g->n_hosts);
	s_kv_free(g->host_labels, g->n_host_labels);
	memset(g, 0, sizeof(*g));
}

void
conf_group_destroy(conf_group_t **gp)
{
	if (gp == NULL || *gp == NULL)
		return;
	conf_group_clear(*gp);
	free(*gp);
	*gp = NULL;
}

/* Copies s (NULL stays NULL) into *d; false when out of memory. */
static bool
s_str(char **d, const char *s)
{
	*d = s ? strdup(s) : NULL;
	return s == NULL || *d != NULL;
}

/* Copies n strings of v, NULL-terminated; false when out of memory. */
static bool
s_strv(char ***d, char *const *v, size_t n)
{
	size_t i;

	*d = NULL;
	if (v == NULL)
		return true;
	if ((*d = calloc(n + 1, sizeof(**d))) == NULL)
		return false;
	for (i = 0; i < n; i++)
		if (!s_str(&(*d)[i], v[i]))
			return false;
	return true;
}

static bool
s_kv(conf_kv_t **d, const conf_kv_t *kv, size_t n)
{
	size_t i;

	*d = NULL;
	if (kv == NULL || n == 0)
		return true;
	if ((*d = calloc(n, sizeof(**d))) == NULL)
		return false;
	for (i = 0; i < n; i++)
		if (!s_str(&(*d)[i].key, kv[i].key) || !s_str(&(*d)[i].value, kv[i].value))
			return false;
	return true;
}

conf_group_t *
conf_group_dup(const conf_group_t *g)
{
	conf_group_t *d = calloc(1, sizeof(*d));
	bool ok;

	if (d == NULL)
		return NULL;
	*d = *g; /* scalars; every pointer is replaced below */
	d->name = d->cwd = d->user = d->ready.target = d->out.file = d->err.file = NULL;
	d->argv = d->ready.exec_argv = d->depends_on = d->hosts = NULL;
	d->env = d->host_labels = NULL;
	/* counts stay, so that a failed copy frees only what was made */
	ok = s_str(&d->name, g->name) && s_strv(&d->argv, g->argv, g->argc) &&
	     s_kv(&d->env, g->env, g->n_env) && s_str(&d->cwd, g->cwd) &&
	     s_str(&d->user, g->user) && s_str(&d->ready.target, g->ready.target) &&
	     s_strv(&d->ready.exec_argv, g->ready.exec_argv, s_strv_len(g->ready.exec_argv)) &&
	     s_strv(&d->depends_on, g->depends_on, g->n_depends_on) &&
	     s_str(&d->out.file, g->out.file) && s_str(&d->err.file, g->err.file) &&
	     s_strv(&d->hosts, g->hosts, g->n_hosts) &&
	     s_kv(&d->host_labels, g->host_labels, g->n_host_labels);
	if (!ok) {
		conf_group_destroy(&d);
		errno = ENOMEM;
	}
	return d;
}
