/* errors: the list of "FILE:LINE:COL: key.path: message" lines and the key
   path they name. An operator reads these, so values are quoted, control
   characters never reach the terminal and nothing is unboundedly long. */
#include "conf_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEG_MAX 64 /* bytes of one key shown in a path */

void
conf__err_at(conf__ctx_t *x, int line, int col, const char *path, const char *fmt, ...)
{
	conf__err_t *errs;
	char *msg = NULL, *text = NULL;
	va_list ap;
	size_t cap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (msg == NULL || asprintf(&text, "%s:%d:%d: %s: %s", x->file, line, col,
				    path && *path ? path : "(top)", msg) < 0)
		text = NULL;
	free(msg);
	if (text == NULL) {
		x->oom = true;
		return;
	}
	if (x->n_errs == x->cap_errs) {
		cap = x->cap_errs ? x->cap_errs * 2 : 16;
		if ((errs = realloc(x->errs, cap * sizeof(*errs))) == NULL) {
			free(text);
			x->oom = true;
			return;
		}
		x->errs = errs;
		x->cap_errs = cap;
	}
	x->errs[x->n_errs] = (conf__err_t){line, col, x->n_errs, text};
	x->n_errs++;
}

void
conf__err(conf__ctx_t *x, const conf__node_t *n, const char *fmt, ...)
{
	char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (msg == NULL) {
		x->oom = true;
		return;
	}
	if (n != NULL && n->from != NULL)
		conf__err_at(x, n->from->use_line, n->from->use_col, x->path,
			     "%s (through *%s: anchor &%s at %s:%d:%d, this value at %s:%d:%d)", msg,
			     n->from->name, n->from->name, x->file, n->from->anchor_line,
			     n->from->anchor_col, x->file, n->line, n->col);
	else
		conf__err_at(x, n ? n->line : 1, n ? n->col : 1, x->path, "%s", msg);
	free(msg);
}

static int
s_err_cmp(const void *a, const void *b)
{
	const conf__err_t *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return x->seq < y->seq ? -1 : (x->seq > y->seq);
}

char *
conf__err_join(conf__ctx_t *x)
{
	size_t i, total = 1, off = 0, l;
	char *out;

	if (x->n_errs == 0)
		return NULL;
	qsort(x->errs, x->n_errs, sizeof(*x->errs), s_err_cmp);
	for (i = 0; i < x->n_errs; i++)
		total += strlen(x->errs[i].text) + 1;
	if ((out = malloc(total)) == NULL)
		return NULL;
	for (i = 0; i < x->n_errs; i++) {
		l = strlen(x->errs[i].text);
		memcpy(out + off, x->errs[i].text, l);
		off += l;
		out[off++] = '\n';
	}
	out[off] = '\0';
	return out;
}

void
conf__ctx_fini(conf__ctx_t *x)
{
	size_t i;

	for (i = 0; i < x->n_errs; i++)
		free(x->errs[i].text);
	free(x->errs);
	free(x->path);
	x->errs = NULL;
	x->path = NULL;
	x->n_errs = x->cap_errs = x->path_len = x->path_cap = 0;
}

static bool
s_path_reserve(conf__ctx_t *x, size_t more)
{
	size_t cap = x->path_cap ? x->path_cap : 64;
	char *p;

	if (x->path_len + more + 1 <= x->path_cap)
		return true;
	while (cap < x->path_len + more + 1)
		cap *= 2;
	if ((p = realloc(x->path, cap)) == NULL) {
		x->oom = true;
		return false;
	}
	if (x->path == NULL)
		p[0] = '\0';
	x->path = p;
	x->path_cap = cap;
	return true;
}

size_t
conf__path_push(conf__ctx_t *x, const char *seg)
{
	size_t old = x->path_len, i, n = strlen(seg);
	bool cut = n > SEG_MAX;

	if (cut)
		n = SEG_MAX;
	if (!s_path_reserve(x, n + 4))
		return old;
	if (x->path_len > 0)
		x->path[x->path_len++] = '.';
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)seg[i];

		x->path[x->path_len++] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
	}
	if (cut) {
		memcpy(x->path + x->path_len, "...", 3);
		x->path_len += 3;
	}
	x->path[x->path_len] = '\0';
	return old;
}

size_t
conf__path_push_index(conf__ctx_t *x, size_t i)
{
	size_t old = x->path_len;
	int n;

	if (!s_path_reserve(x, 24))
		return old;
	n = snprintf(x->path + x->path_len, 24, "[%zu]", i);
	if (n > 0 && n < 24)
		x->path_len += (size_t)n;
	x->path[x->path_len] = '\0';
	return old;
}

void
conf__path_pop(conf__ctx_t *x, size_t len)
{
	if (x->path == NULL || len > x->path_len)
		return;
	x->path_len = len;
	x->path[len] = '\0';
}

const char *
conf__quote(const char *s, char *buf, size_t size)
{
	size_t o = 0, i;

	if (size < 16) {
		if (size > 0)
			buf[0] = '\0';
		return buf;
	}
	buf[o++] = '"';
	for (i = 0; s[i] != '\0'; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (o + 8 >= size) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (ch == '"' || ch == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)ch;
		} else if (ch == '\n') {
			buf[o++] = '\\';
			buf[o++] = 'n';
		} else if (ch == '\t') {
			buf[o++] = '\\';
			buf[o++] = 't';
		} else if (ch < 0x20 || ch == 0x7f) {
			o += (size_t)snprintf(buf + o, size - o, "\\x%02x", ch);
		} else {
			buf[o++] = (char)ch;
		}
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}
