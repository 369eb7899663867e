#include "table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct table {
	size_t ncols;
	size_t nrows, cap;	/* rows, header included as row 0 */
	char **cells;		/* nrows * ncols, each malloc'd */
	const char **colours;	/* nrows * ncols, static strings or NULL */
	bool *right;		/* per column */
};

/* A copy of s with every control character turned into a space. */
static char *
s_clean(const char *s)
{
	char *c = strdup(s != NULL ? s : "-");

	for (char *p = c; p != NULL && *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	return c;
}

table_t *
table_new(const char *const *headers, size_t ncols)
{
	table_t *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->ncols = ncols;
	t->right = calloc(ncols, sizeof(bool));
	if (t->right == NULL || table_add(t, headers, NULL) != 0) {
		table_destroy(&t);
		errno = ENOMEM;
		return NULL;
	}
	return t;
}

void
table_destroy(table_t **tp)
{
	table_t *t;

	if (tp == NULL || *tp == NULL)
		return;
	t = *tp;
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t->colours);
	free(t->right);
	free(t);
	*tp = NULL;
}

void
table_align_right(table_t *t, size_t col)
{
	if (col < t->ncols)
		t->right[col] = true;
}

int
table_add(table_t *t, const char *const *cells, const char *const *colours)
{
	size_t base;

	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **nc = realloc(t->cells, cap * t->ncols * sizeof(*nc));

		if (nc == NULL)
			return -ENOMEM;
		t->cells = nc;
		const char **ncol = realloc(t->colours, cap * t->ncols * sizeof(*ncol));
		if (ncol == NULL)
			return -ENOMEM;
		t->colours = ncol;
		t->cap = cap;
	}
	base = t->nrows * t->ncols;
	for (size_t i = 0; i < t->ncols; i++) {
		t->cells[base + i] = s_clean(cells[i]);
		t->colours[base + i] = colours != NULL ? colours[i] : NULL;
		if (t->cells[base + i] == NULL) {
			while (i-- > 0)
				free(t->cells[base + i]);
			return -ENOMEM;
		}
	}
	t->nrows++;
	return 0;
}

size_t
table_rows(const table_t *t)
{
	return t->nrows - 1;
}

size_t
table_width(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

static void
s_pad(FILE *f, size_t n)
{
	while (n-- > 0)
		fputc(' ', f);
}

void
table_print(const table_t *t, FILE *f, bool colour)
{
	size_t *w = calloc(t->ncols, sizeof(size_t));

	if (w == NULL)
		return;
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++) {
			size_t cw = table_width(t->cells[r * t->ncols + c]);
			if (cw > w[c])
				w[c] = cw;
		}
	for (size_t r = 0; r < t->nrows; r++) {
		size_t end = t->ncols;

		/* Empty cells at the end of a row print nothing, not blanks. */
		while (end > 1 && t->cells[r * t->ncols + end - 1][0] == '\0')
			end--;
		for (size_t c = 0; c < end; c++) {
			const char *cell = t->cells[r * t->ncols + c];
			const char *sgr = r == 0 ? "1" : t->colours[r * t->ncols + c];
			size_t gap = w[c] - table_width(cell);
			bool last = c + 1 == end;

			if (c > 0)
				fputs("  ", f);
			if (t->right[c])
				s_pad(f, gap);
			if (colour && sgr != NULL)
				fprintf(f, "\033[%sm%s\033[0m", sgr, cell);
			else
				fputs(cell, f);
			if (!t->right[c] && !last)
				s_pad(f, gap);
		}
		fputc('\n', f);
	}
	free(w);
}

const char *
fmt_duration(double seconds, char *buf, size_t len)
{
	long s = (long)seconds;

	if (seconds < 0)
		snprintf(buf, len, "-");
	else if (s < 60)
		snprintf(buf, len, "%lds", s);
	else if (s < 3600)
		snprintf(buf, len, "%ldm%02lds", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%ldh%02ldm", s / 3600, s % 3600 / 60);
	else
		snprintf(buf, len, "%ldd%02ldh", s / 86400, s % 86400 / 3600);
	return buf;
}

const char *
fmt_cpu(double seconds, char *buf, size_t len)
{
	if (seconds < 0)
		snprintf(buf, len, "-");
	else if (seconds < 10)
		snprintf(buf, len, "%.2fs", seconds);
	else if (seconds < 60)
		snprintf(buf, len, "%.1fs", seconds);
	else
		fmt_duration(seconds, buf, len);
	return buf;
}

const char *
fmt_bytes(int64_t bytes, char *buf, size_t len)
{
	static const char units[] = "KMGTP";
	double v = (double)bytes;
	int u = -1;

	if (bytes < 0) {
		snprintf(buf, len, "-");
		return buf;
	}
	if (bytes < 1024) {
		snprintf(buf, len, "%lldB", (long long)bytes);
		return buf;
	}
	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	/* 1023.97K would print as "1024K"; move to the next unit instead. */
	if (v >= 9.95 && v < 10)
		snprintf(buf, len, "10%c", units[u]);
	else if (v < 10)
		snprintf(buf, len, "%.1f%c", v, units[u]);
	else if (v >= 1023.5 && u < 4)
		snprintf(buf, len, "1.0%c", units[u + 1]);
	else
		snprintf(buf, len, "%.0f%c", v, units[u]);
	return buf;
}
