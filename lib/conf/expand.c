/* expand: ${VAR} references in templates. The same scanner serves the parser
   (which names undefined variables) and conf_expand (which fills them in), so
   the two can never disagree about what a reference is. */
#include "conf_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool
s_name_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > 255 || (s[0] >= '0' && s[0] <= '9'))
		return false;
	for (i = 0; i < len; i++) {
		char ch = s[i];

		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		      (ch >= '0' && ch <= '9') || ch == '_'))
			return false;
	}
	return true;
}

int
conf__vars_each(const char *s, void (*fn)(const char *name, size_t len, void *arg), void *arg,
		const char **why)
{
	const char *p = s, *end;

	while ((p = strchr(p, '$')) != NULL) {
		if (p[1] == '$') {
			p += 2;
			continue;
		}
		if (p[1] != '{') {
			p++;
			continue;
		}
		if ((end = strchr(p + 2, '}')) == NULL) {
			*why = "unterminated ${ (write $$ for a literal $)";
			return -1;
		}
		if (!s_name_ok(p + 2, (size_t)(end - p - 2))) {
			*why = "bad variable reference: a name is letters, digits and '_'";
			return -1;
		}
		fn(p + 2, (size_t)(end - p - 2), arg);
		p = end + 1;
	}
	return 0;
}

typedef struct {
	char *buf;
	size_t len, cap;
	bool oom;
} s_buf_t;

static void
s_put(s_buf_t *b, const char *s, size_t n)
{
	size_t cap;
	char *p;

	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		cap = b->cap ? b->cap : 64;
		while (cap < b->len + n + 1)
			cap *= 2;
		if ((p = realloc(b->buf, cap)) == NULL) {
			b->oom = true;
			return;
		}
		b->buf = p;
		b->cap = cap;
	}
	memcpy(b->buf + b->len, s, n);
	b->len += n;
	b->buf[b->len] = '\0';
}

/* The value of one name: built-ins, then the instance's env, then ours. */
static const char *
s_lookup(const char *name, const conf_vars_t *v, char *num, size_t num_size)
{
	size_t i;

	if (v != NULL) {
		if (strcmp(name, "INSTANCE") == 0) {
			snprintf(num, num_size, "%u", v->instance);
			return num;
		}
		if (strcmp(name, "GROUP") == 0)
			return v->group ? v->group : "";
		if (strcmp(name, "NAME") == 0)
			return v->name ? v->name : "";
		if (strcmp(name, "HOST") == 0)
			return v->host ? v->host : "";
		for (i = 0; v->env != NULL && i < v->n_env; i++)
			if (v->env[i].key != NULL && strcmp(v->env[i].key, name) == 0)
				return v->env[i].value ? v->env[i].value : "";
	}
	return getenv(name);
}

char *
conf_expand(const char *tmpl, const conf_vars_t *vars)
{
	s_buf_t b = {0};
	const char *p = tmpl, *d, *end, *val;
	char name[256], num[16];
	size_t n;

	s_put(&b, "", 0);
	while (p != NULL && (d = strchr(p, '$')) != NULL) {
		s_put(&b, p, (size_t)(d - p));
		if (d[1] == '$') {
			s_put(&b, "$", 1);
			p = d + 2;
			continue;
		}
		end = d[1] == '{' ? strchr(d + 2, '}') : NULL;
		n = end ? (size_t)(end - d - 2) : 0;
		if (end == NULL || n >= sizeof(name)) {
			s_put(&b, d, 1); /* not a reference: copied as written */
			p = d + 1;
			continue;
		}
		memcpy(name, d + 2, n);
		name[n] = '\0';
		if ((val = s_lookup(name, vars, num, sizeof(num))) != NULL)
			s_put(&b, val, strlen(val));
		p = end + 1;
	}
	if (p != NULL)
		s_put(&b, p, strlen(p));
	if (b.oom) {
		free(b.buf);
		return NULL;
	}
	return b.buf;
}
