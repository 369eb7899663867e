/* conf: loading a file, freeing, lookups and the comparison that drives
   reload by difference. The YAML is read in tree.c and interpreted in
   parse.c. */
#include "conf.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf_internal.h"

#define CONF_MAX_FILE (16 * 1024 * 1024) /* no configuration is this large */

static size_t
s_argv_len(char **argv)
{
	size_t n = 0;

	while (argv != NULL && argv[n] != NULL)
		n++;
	return n;
}

void
conf_free(conf_t **cp)
{
	conf_t *c;
	size_t i;

	if (cp == NULL || *cp == NULL)
		return;
	c = *cp;
	for (i = 0; i < c->n_groups; i++)
		conf_group_clear(&c->groups[i]);
	free(c->groups);
	for (i = 0; i < c->n_queues; i++)
		free(c->queues[i].name);
	free(c->queues);
	free(c->path);
	free(c->dir);
	free(c->text);
	free(c->name);
	free(c->state_dir);
	free(c->log_dir);
	free(c->http_listen);
	free(c->http_token_file);
	free(c->http_web_root);
	free(c->agents_listen);
	free(c->agents_keys_dir);
	free(c->queues_listen);
	free(c->queues_authkey_file);
	free(c->queues_advertise);
	free(c);
	*cp = NULL;
}

/* An absolute directory for dir (NULL: the current one). */
static char *
s_abs_dir(const char *dir)
{
	char cwd[PATH_MAX], *out = NULL;

	if (dir != NULL && dir[0] == '/')
		return strdup(dir);
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return NULL;
	if (dir == NULL || strcmp(dir, ".") == 0 || dir[0] == '\0')
		return strdup(cwd);
	if (asprintf(&out, "%s/%s", cwd, dir) < 0)
		return NULL;
	return out;
}

static int
s_parse(const char *text, size_t len, const char *name, char *path, char *dir, conf_t **out,
	char **errors)
{
	conf__ctx_t x = {.file = name};
	conf__node_t *root = NULL;
	conf_t *c = calloc(1, sizeof(*c));
	int rc = -1;

	*out = NULL;
	*errors = NULL;
	if (c == NULL || path == NULL || dir == NULL) {
		free(c);
		free(path);
		free(dir);
		x.oom = true;
		goto done;
	}
	c->path = path;
	c->dir = dir;
	if (conf__tree_load(&x, text, len, &root) == 0)
		conf__build(&x, root, c);
	conf__node_free(root);
	if (x.n_errs == 0 && !x.oom) {
		*out = c; /* caller owns */
		c = NULL;
		rc = 0;
	}
	conf_free(&c);
done:
	if (rc != 0) {
		if (x.oom) {
			if (asprintf(errors, "%s: out of memory\n", name) < 0)
				*errors = NULL;
		} else {
			*errors = conf__err_join(&x);
		}
	}
	conf__ctx_fini(&x);
	return rc;
}

int
conf_parse_string(const char *text, size_t len, const char *name, const char *dir, conf_t **out,
		  char **errors)
{
	char *adir, *path = NULL;

	if (name == NULL)
		name = "<string>";
	adir = s_abs_dir(dir);
	if (adir != NULL && name[0] == '/')
		path = strdup(name);
	else if (adir != NULL && asprintf(&path, "%s/%s", adir, name) < 0)
		path = NULL;
	return s_parse(text ? text : "", text ? len : 0, name, path, adir, out, errors);
}

/* Reads the whole of f, up to CONF_MAX_FILE bytes. Returns 0 or -errno. */
static int
s_slurp(FILE *f, char **out, size_t *len)
{
	size_t cap = 4096, n = 0, r;
	char *buf = malloc(cap), *b;

	if (buf == NULL)
		return -ENOMEM;
	while ((r = fread(buf + n, 1, cap - n, f)) > 0) {
		n += r;
		if (n == cap) {
			if (cap >= CONF_MAX_FILE) {
				free(buf);
				return -EFBIG;
			}
			if ((b = realloc(buf, cap * 2)) == NULL) {
				free(buf);
				return -ENOMEM;
			}
			buf = b;
			cap *= 2;
		}
	}
	if (ferror(f)) {
		free(buf);
		return errno ? -errno : -EIO;
	}
	*out = buf;
	*len = n;
	return 0;
}

int
conf_load(const char *path, conf_t **out, char **errors)
{
	char *text = NULL, *real = NULL, *dir = NULL, *slash;
	size_t len = 0;
	FILE *f;
	int rc;

	*out = NULL;
	*errors = NULL;
	errno = 0;
	if ((f = fopen(path, "r")) == NULL) {
		rc = -errno;
	} else {
		rc = s_slurp(f, &text, &len);
		fclose(f);
	}
	if (rc != 0) {
		if (asprintf(errors, "%s: cannot read: %s\n", path,
			     rc == -EFBIG ? "larger than 16MB" : strerror(-rc)) < 0)
			*errors = NULL;
		return -1;
	}
	if ((real = realpath(path, NULL)) == NULL) {
		/* gone since it was read */
		if (asprintf(errors, "%s: cannot read: %s\n", path, strerror(errno)) < 0)
			*errors = NULL;
		free(text);
		return -1;
	}
	if ((dir = strdup(real)) != NULL) {
		slash = strrchr(dir, '/');
		if (slash == dir)
			slash[1] = '\0';
		else if (slash != NULL)
			*slash = '\0';
	}
	rc = s_parse(text, len, path, real, dir, out, errors);
	if (rc == 0) {
		(*out)->text = text; /* kept for an upgrade in place */
		(*out)->text_len = len;
	} else {
		free(text);
	}
	return rc;
}

const conf_group_t *
conf_group_find(const conf_t *c, const char *name)
{
	size_t i;

	for (i = 0; c != NULL && name != NULL && i < c->n_groups; i++)
		if (strcmp(c->groups[i].name, name) == 0)
			return &c->groups[i];
	return NULL;
}

const conf_queue_t *
conf_queue_find(const conf_t *c, const char *name)
{
	size_t i;

	for (i = 0; c != NULL && name != NULL && i < c->n_queues; i++)
		if (strcmp(c->queues[i].name, name) == 0)
			return &c->queues[i];
	return NULL;
}

/* ---- comparison ---- */

static bool
s_str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static bool
s_strv_eq(char **a, size_t na, char **b, size_t nb)
{
	size_t i;

	if (na != nb)
		return false;
	for (i = 0; i < na; i++)
		if (!s_str_eq(a[i], b[i]))
			return false;
	return true;
}

static bool
s_kv_eq(const conf_kv_t *a, size_t na, const conf_kv_t *b, size_t nb)
{
	size_t i;

	if (na != nb)
		return false;
	for (i = 0; i < na; i++)
		if (!s_str_eq(a[i].key, b[i].key) || !s_str_eq(a[i].value, b[i].value))
			return false;
	return true;
}

static bool
s_out_eq(const conf_output_t *a, const conf_output_t *b)
{
	return a->mode == b->mode && s_str_eq(a->file, b->file) && a->max_size == b->max_size &&
	       a->keep == b->keep;
}

static bool
s_ready_eq(const conf_ready_t *a, const conf_ready_t *b)
{
	return a->kind == b->kind && s_str_eq(a->target, b->target) &&
	       s_strv_eq(a->exec_argv, s_argv_len(a->exec_argv), b->exec_argv,
			 s_argv_len(b->exec_argv)) &&
	       a->delay_ms == b->delay_ms && a->timeout_ms == b->timeout_ms &&
	       a->interval_ms == b->interval_ms;
}

bool
conf_group_same(const conf_group_t *a, const conf_group_t *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	/* not compared: instances and autostart (scaling and starting are not
	   changes of configuration), line (where it sits in the file) */
	return s_str_eq(a->name, b->name) && s_strv_eq(a->argv, a->argc, b->argv, b->argc) &&
	       a->shell == b->shell && s_kv_eq(a->env, a->n_env, b->env, b->n_env) &&
	       s_str_eq(a->cwd, b->cwd) && s_str_eq(a->user, b->user) && a->umask == b->umask &&
	       a->restart == b->restart && a->backoff_initial_ms == b->backoff_initial_ms &&
	       a->backoff_max_ms == b->backoff_max_ms &&
	       !islessgreater(a->backoff_factor, b->backoff_factor) &&
	       a->start_timeout_ms == b->start_timeout_ms && a->max_restarts == b->max_restarts &&
	       a->max_restarts_within_ms == b->max_restarts_within_ms &&
	       s_ready_eq(&a->ready, &b->ready) &&
	       s_strv_eq(a->depends_on, a->n_depends_on, b->depends_on, b->n_depends_on) &&
	       a->stop_signal == b->stop_signal && a->stop_timeout_ms == b->stop_timeout_ms &&
	       s_out_eq(&a->out, &b->out) && s_out_eq(&a->err, &b->err) &&
	       a->limit_nofile == b->limit_nofile && a->limit_core == b->limit_core &&
	       a->limit_memory == b->limit_memory && a->limit_nproc == b->limit_nproc &&
	       s_strv_eq(a->hosts, a->n_hosts, b->hosts, b->n_hosts) &&
	       s_kv_eq(a->host_labels, a->n_host_labels, b->host_labels, b->n_host_labels) &&
	       a->per_host == b->per_host && a->queue_access == b->queue_access &&
	       a->instance_base == b->instance_base;
}
