/* tree: YAML text -> conf__node_t, from libyaml's event API. The events are
   used rather than the document API so that aliases can be refused where
   they stand (a document would share the node and hide the alias, and a
   "billion laughs" file would then cost a walk per share) and so that nesting
   is bounded while reading, not afterwards. */
#include "conf_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

typedef struct {
	conf__ctx_t *x;
	const char *text;
	size_t len;
	conf__node_t *root;
	conf__node_t *stack[CONF__MAX_DEPTH];
	int depth;
	int docs;
} s_tree_t;

void
conf__node_free(conf__node_t *n)
{
	size_t i;

	if (n == NULL)
		return;
	for (i = 0; i < n->n; i++)
		conf__node_free(n->kids[i]);
	free(n->kids);
	free(n->str);
	free(n);
}

bool
conf__node_is_null(const conf__node_t *n)
{
	if (n == NULL)
		return true;
	if (n->type != CONF__SCALAR || !n->plain)
		return false;
	return n->len == 0 || strcmp(n->str, "~") == 0 || strcmp(n->str, "null") == 0 ||
	       strcmp(n->str, "Null") == 0 || strcmp(n->str, "NULL") == 0;
}

static int
s_mark_int(size_t v)
{
	return v >= (size_t)0x7ffffffe ? 0x7fffffff : (int)v + 1;
}

static conf__node_t *
s_node_new(s_tree_t *t, conf__node_type_t type, const yaml_mark_t *m)
{
	conf__node_t *n = calloc(1, sizeof(*n));

	if (n == NULL) {
		t->x->oom = true;
		return NULL;
	}
	n->type = type;
	n->line = s_mark_int(m->line);
	n->col = s_mark_int(m->column);
	return n;
}

/* Hangs n under the innermost open mapping or list (or makes it the root);
   takes n, freeing it on failure. */
static int
s_attach(s_tree_t *t, conf__node_t *n)
{
	conf__node_t *parent, **kids;
	size_t cap;

	if (t->depth == 0) {
		if (t->root == NULL) {
			t->root = n;
			return 0;
		}
		conf__node_free(n); /* cannot happen: one node per document */
		return 0;
	}
	parent = t->stack[t->depth - 1];
	if (parent->n == parent->cap) {
		cap = parent->cap ? parent->cap * 2 : 8;
		if ((kids = realloc(parent->kids, cap * sizeof(*kids))) == NULL) {
			conf__node_free(n);
			t->x->oom = true;
			return -1;
		}
		parent->kids = kids;
		parent->cap = cap;
	}
	parent->kids[parent->n++] = n;
	return 0;
}

/* Reports a problem at node n while the tree is being built: the key path
   is read off the open mappings and lists. */
static void
s_err_here(s_tree_t *t, const conf__node_t *n, const char *msg)
{
	size_t old = t->x->path_len;
	const conf__node_t *c;
	int i;

	for (i = 0; i < t->depth; i++) {
		c = t->stack[i];
		/* inner levels: the last kid is the open child; the innermost: n
		   is not attached yet */
		size_t at = i + 1 < t->depth ? c->n - 1 : c->n;

		if (c->type == CONF__SEQ)
			conf__path_push_index(t->x, at);
		else if (at % 2 == 1 && c->kids[at - 1]->type == CONF__SCALAR)
			conf__path_push(t->x, c->kids[at - 1]->str);
		else if (at % 2 == 1)
			conf__path_push(t->x, "?");
		/* else n is a key itself: the path of its mapping is right */
	}
	conf__err(t->x, n, "%s", msg);
	conf__path_pop(t->x, old);
}

static int
s_scalar(s_tree_t *t, const yaml_event_t *ev)
{
	conf__node_t *n = s_node_new(t, CONF__SCALAR, &ev->start_mark);
	size_t len = ev->data.scalar.length;

	if (n == NULL)
		return -1;
	if ((n->str = malloc(len + 1)) == NULL) {
		free(n);
		t->x->oom = true;
		return -1;
	}
	memcpy(n->str, ev->data.scalar.value, len);
	n->str[len] = '\0';
	n->len = len;
	n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	if (strlen(n->str) != len) {
		s_err_here(t, n, "a NUL character is not allowed");
		n->bad = true;
	}
	return s_attach(t, n);
}

static int
s_open(s_tree_t *t, const yaml_event_t *ev, conf__node_type_t type)
{
	conf__node_t *n;

	if (t->depth == CONF__MAX_DEPTH) {
		conf__err_at(t->x, s_mark_int(ev->start_mark.line),
			     s_mark_int(ev->start_mark.column), "syntax error",
			     "nested deeper than %d levels", CONF__MAX_DEPTH);
		return -1;
	}
	if ((n = s_node_new(t, type, &ev->start_mark)) == NULL || s_attach(t, n) != 0)
		return -1;
	t->stack[t->depth++] = n;
	return 0;
}

/* An alias stands for a node written elsewhere; we refuse it but keep a
   placeholder so that a mapping's keys and values stay paired. */
static int
s_alias(s_tree_t *t, const yaml_event_t *ev)
{
	conf__node_t *n = s_node_new(t, CONF__SCALAR, &ev->start_mark);
	char msg[160];

	if (n == NULL)
		return -1;
	if ((n->str = strdup("")) == NULL) {
		free(n);
		t->x->oom = true;
		return -1;
	}
	n->bad = true;
	snprintf(msg, sizeof(msg), "aliases (*%.64s) are not supported; write the value out",
		 (const char *)ev->data.alias.anchor);
	s_err_here(t, n, msg);
	return s_attach(t, n);
}

/* libyaml's reader errors carry a byte offset rather than a mark. */
static void
s_offset_pos(const s_tree_t *t, size_t off, int *line, int *col)
{
	size_t i, l = 1, c = 1;

	for (i = 0; i < off && i < t->len; i++) {
		if (t->text[i] == '\n') {
			l++;
			c = 1;
		} else {
			c++;
		}
	}
	*line = s_mark_int(l - 1);
	*col = s_mark_int(c - 1);
}

#define YAML_MAX_KEY 1024 /* a plain key longer than this is no key to libyaml */

/* libyaml takes a plain key of more than 1024 characters for a value and
   says "mapping values are not allowed in this context" at its ':'. When
   that is what happened, say so, and for a group or queue name give the rule
   a shorter bad name gets. Returns true when it reported. */
static bool
s_long_key(s_tree_t *t, const yaml_parser_t *p)
{
	size_t at = 0, start, len, old, col, line = 0, chars = 0, i;
	const conf__node_t *root = t->root, *owner, *last;
	char *key;

	if (p->error != YAML_SCANNER_ERROR)
		return false;
	/* libyaml's marks count characters: find the byte of line:column. */
	while (at < t->len && line < p->problem_mark.line)
		line += t->text[at++] == '\n';
	while (at < t->len && chars < p->problem_mark.column && t->text[at] != '\n') {
		at++;
		while (at < t->len && ((unsigned char)t->text[at] & 0xc0) == 0x80)
			at++;
		chars++;
	}
	if (at >= t->len || t->text[at] != ':')
		return false;
	for (start = at; start > 0 && t->text[start - 1] != '\n'; start--)
		;
	start += strspn(t->text + start, " ");
	if (start >= at || (len = at - start) <= YAML_MAX_KEY)
		return false;
	while (len > 0 && t->text[start + len - 1] == ' ')
		len--;
	if ((key = strndup(t->text + start, len)) == NULL) {
		t->x->oom = true;
		return true;
	}
	for (col = p->problem_mark.column, i = start; i < at; i++)
		col -= ((unsigned char)t->text[i] & 0xc0) != 0x80; /* the key's, 0-based */
	/* The top-level key it sits under: "groups:" with its mapping opened
	   (a long key after good ones), or with the long key taken for its
	   scalar value (the first key). */
	owner = NULL;
	if (root != NULL && root->type == CONF__MAP && root->n >= 2 && root->n % 2 == 0) {
		last = root->kids[root->n - 1];
		if ((t->depth >= 2 && last == t->stack[1] && last->type == CONF__MAP &&
		     last->n > 0 && (size_t)last->kids[0]->col == col + 1) ||
		    (t->depth == 1 && last->type == CONF__SCALAR &&
		     (size_t)last->line == p->problem_mark.line + 1 &&
		     (size_t)last->col == col + 1))
			owner = root->kids[root->n - 2];
	}
	if (owner != NULL && owner->type == CONF__SCALAR &&
	    (strcmp(owner->str, "groups") == 0 || strcmp(owner->str, "queues") == 0)) {
		old = conf__path_push(t->x, owner->str);
		conf__path_push(t->x, key);
		conf__err_at(t->x, s_mark_int(p->problem_mark.line), s_mark_int(col),
			     t->x->path ? t->x->path : owner->str,
			     "invalid %s name: " CONF__NAME_RULE,
			     owner->str[0] == 'g' ? "group" : "queue");
		conf__path_pop(t->x, old);
	} else {
		conf__err_at(t->x, s_mark_int(p->problem_mark.line), s_mark_int(col),
			     "syntax error", "a key of %zu characters; YAML allows at most %d", len,
			     YAML_MAX_KEY);
	}
	free(key);
	return true;
}

static void
s_syntax_error(s_tree_t *t, const yaml_parser_t *p)
{
	const char *problem = p->problem ? p->problem : "malformed YAML";
	int line, col;

	if (p->error == YAML_MEMORY_ERROR) {
		t->x->oom = true;
		return;
	}
	if (s_long_key(t, p))
		return;
	if (p->error == YAML_READER_ERROR) {
		s_offset_pos(t, p->problem_offset, &line, &col);
		conf__err_at(t->x, line, col, "syntax error", "%s", problem);
		return;
	}
	line = s_mark_int(p->problem_mark.line);
	col = s_mark_int(p->problem_mark.column);
	if (p->context != NULL)
		conf__err_at(t->x, line, col, "syntax error", "%s (%s at line %d)", problem,
			     p->context, s_mark_int(p->context_mark.line));
	else
		conf__err_at(t->x, line, col, "syntax error", "%s", problem);
}

/* Handles one event. Returns 1 to go on, 0 at the end, -1 to stop. */
static int
s_event(s_tree_t *t, const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_STREAM_END_EVENT:
		return 0;
	case YAML_DOCUMENT_START_EVENT:
		if (++t->docs > 1) {
			conf__err_at(t->x, s_mark_int(ev->start_mark.line),
				     s_mark_int(ev->start_mark.column), "syntax error",
				     "only one YAML document is allowed");
			return -1;
		}
		return 1;
	case YAML_SCALAR_EVENT:
		return s_scalar(t, ev) == 0 ? 1 : -1;
	case YAML_ALIAS_EVENT:
		return s_alias(t, ev) == 0 ? 1 : -1;
	case YAML_SEQUENCE_START_EVENT:
		return s_open(t, ev, CONF__SEQ) == 0 ? 1 : -1;
	case YAML_MAPPING_START_EVENT:
		return s_open(t, ev, CONF__MAP) == 0 ? 1 : -1;
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		if (t->depth > 0)
			t->depth--;
		return 1;
	default:
		return 1;
	}
}

int
conf__tree_load(conf__ctx_t *x, const char *text, size_t len, conf__node_t **root)
{
	s_tree_t t = {.x = x, .text = text, .len = len};
	yaml_parser_t p;
	yaml_event_t ev;
	int more = 1, rc = 0;

	*root = NULL;
	if (!yaml_parser_initialize(&p)) {
		x->oom = true;
		return -1;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	while (more > 0) {
		if (!yaml_parser_parse(&p, &ev)) {
			s_syntax_error(&t, &p);
			rc = -1;
			break;
		}
		more = s_event(&t, &ev);
		yaml_event_delete(&ev);
		if (more < 0 || x->oom)
			rc = -1;
	}
	yaml_parser_delete(&p);
	if (rc == 0 && t.docs > 1)
		rc = -1;
	if (rc != 0) {
		conf__node_free(t.root);
		return -1;
	}
	*root = t.root;
	return 0;
}
