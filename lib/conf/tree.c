/* tree: YAML text -> conf__node_t, from libyaml's event API. The events are
   used rather than the document API so that an alias is expanded where it
   stands, against a budget (a document would share the node, and a "billion
   laughs" file would cost a walk per share), and so that nesting is bounded
   while reading, not afterwards. An alias becomes a copy of its anchor's node
   that remembers the alias and the anchor, so that a message about a value
   points at both; merge keys (<<: *defaults) are applied as each mapping
   closes, and top-level "x-" keys are dropped at the end. */
#include "conf_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define ANCHOR_NAME_MAX 64 /* bytes of an anchor's name kept for messages */

typedef struct {
	char *name;
	conf__node_t *node;
	bool open; /* its mapping or list has not ended yet */
} s_anchor_t;

typedef struct {
	conf__ctx_t *x;
	const char *text;
	size_t len;
	conf__node_t *root;
	conf__node_t *stack[CONF__MAX_DEPTH];
	int depth;
	int docs;
	s_anchor_t *anchors; /* in document order; a later one of a name wins */
	size_t n_anchors, cap_anchors;
	size_t *by_name; /* open addressing: 1 + index of the latest anchor of a name */
	size_t n_slots;	 /* a power of two, more than twice n_anchors */
	size_t copied;	    /* nodes made by aliases so far */
	conf__node_t *dead; /* a list (kids only) of nodes a merge set aside */
} s_tree_t;

static void
s_origin_drop(conf__origin_t *o)
{
	if (o != NULL && --o->refs == 0)
		free(o);
}

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
	s_origin_drop(n->from);
	free(n);
}

/* Appends kid to n's kids; false when out of memory (kid not taken). */
static bool
s_push_kid(conf__node_t *n, conf__node_t *kid)
{
	conf__node_t **kids;
	size_t cap;

	if (n->n == n->cap) {
		cap = n->cap ? n->cap * 2 : 8;
		if ((kids = realloc(n->kids, cap * sizeof(*kids))) == NULL)
			return false;
		n->kids = kids;
		n->cap = cap;
	}
	n->kids[n->n++] = kid;
	return true;
}

/* Sets n's node count and height from its kids. */
static void
s_measure(conf__node_t *n)
{
	size_t i;

	n->nodes = 1;
	n->height = n->type == CONF__SCALAR ? 0 : 1;
	for (i = 0; i < n->n; i++) {
		n->nodes += n->kids[i]->nodes;
		if (n->kids[i]->height + 1 > n->height)
			n->height = n->kids[i]->height + 1;
	}
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
	n->nodes = 1;
	n->height = type == CONF__SCALAR ? 0 : 1;
	return n;
}

/* Hangs n under the innermost open mapping or list (or makes it the root);
   takes n, freeing it on failure. */
static int
s_attach(s_tree_t *t, conf__node_t *n)
{
	if (t->depth == 0) {
		if (t->root == NULL) {
			t->root = n;
			return 0;
		}
		conf__node_free(n); /* cannot happen: one node per document */
		return 0;
	}
	if (!s_push_kid(t->stack[t->depth - 1], n)) {
		conf__node_free(n);
		t->x->oom = true;
		return -1;
	}
	return 0;
}

static size_t
s_name_hash(const char *name)
{
	size_t h = 1469598103934665603u;

	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 1099511628211u;
	return h;
}

/* The slot of name in by_name: where it is, or the empty one it would go. */
static size_t *
s_slot(s_tree_t *t, const char *name)
{
	size_t i = s_name_hash(name) & (t->n_slots - 1);

	while (t->by_name[i] != 0 && strcmp(t->anchors[t->by_name[i] - 1].name, name) != 0)
		i = (i + 1) & (t->n_slots - 1);
	return &t->by_name[i];
}

/* Makes room for one more name in by_name; false when out of memory. */
static bool
s_slots_grow(s_tree_t *t)
{
	size_t n = t->n_slots ? t->n_slots * 2 : 64, i, old = t->n_slots, *was = t->by_name;

	if (2 * (t->n_anchors + 1) < t->n_slots)
		return true;
	if ((t->by_name = calloc(n, sizeof(*t->by_name))) == NULL) {
		t->by_name = was;
		return false;
	}
	t->n_slots = n;
	for (i = 0; i < old; i++)
		if (was[i] != 0)
			*s_slot(t, t->anchors[was[i] - 1].name) = was[i];
	free(was);
	return true;
}

/* Remembers that anchor (from libyaml, may be NULL) names n: a later
   anchor of the same name replaces an earlier one, as YAML says. */
static int
s_anchor_add(s_tree_t *t, const unsigned char *anchor, conf__node_t *n, bool open)
{
	s_anchor_t *a;
	size_t cap;

	if (anchor == NULL)
		return 0;
	if (t->n_anchors == t->cap_anchors) {
		cap = t->cap_anchors ? t->cap_anchors * 2 : 8;
		if ((a = realloc(t->anchors, cap * sizeof(*a))) == NULL) {
			t->x->oom = true;
			return -1;
		}
		t->anchors = a;
		t->cap_anchors = cap;
	}
	if (!s_slots_grow(t)) {
		t->x->oom = true;
		return -1;
	}
	a = &t->anchors[t->n_anchors];
	if ((a->name = strndup((const char *)anchor, ANCHOR_NAME_MAX)) == NULL) {
		t->x->oom = true;
		return -1;
	}
	a->node = n;
	a->open = open;
	n->anchored = true;
	t->n_anchors++;
	*s_slot(t, a->name) = t->n_anchors;
	return 0;
}

/* The latest anchor of this name, or NULL. */
static s_anchor_t *
s_anchor_find(s_tree_t *t, const char *name)
{
	char key[ANCHOR_NAME_MAX + 1];
	size_t i;

	if (t->n_slots == 0)
		return NULL;
	snprintf(key, sizeof(key), "%s", name);
	i = *s_slot(t, key);
	return i != 0 ? &t->anchors[i - 1] : NULL;
}

/* Sets n aside until the tree is done: a merge removes nodes that an anchor
   may still name. Takes n. */
static void
s_bury(s_tree_t *t, conf__node_t *n)
{
	if (n == NULL)
		return;
	if (t->dead == NULL && (t->dead = calloc(1, sizeof(*t->dead))) == NULL) {
		t->x->oom = true;
		conf__node_free(n);
		return;
	}
	if (!s_push_kid(t->dead, n)) {
		t->x->oom = true;
		conf__node_free(n);
	}
}

/* A deep copy of src that says it came through origin (NULL: keeps src's).
   NULL when out of memory. */
static conf__node_t *
s_copy(s_tree_t *t, const conf__node_t *src, conf__origin_t *origin)
{
	conf__node_t *n = calloc(1, sizeof(*n)), *kid;
	size_t i;

	if (n == NULL)
		goto oom;
	n->type = src->type;
	n->line = src->line;
	n->col = src->col;
	n->len = src->len;
	n->plain = src->plain;
	n->bad = src->bad;
	n->nodes = src->nodes;
	n->height = src->height;
	n->from = origin != NULL ? origin : src->from;
	if (n->from != NULL)
		n->from->refs++;
	if (src->str != NULL && (n->str = malloc(src->len + 1)) == NULL)
		goto oom;
	if (src->str != NULL)
		memcpy(n->str, src->str, src->len + 1);
	if (src->n > 0 && (n->kids = calloc(src->n, sizeof(*n->kids))) == NULL)
		goto oom;
	n->cap = src->n;
	for (i = 0; i < src->n; i++) {
		if ((kid = s_copy(t, src->kids[i], origin)) == NULL)
			goto oom;
		n->kids[n->n++] = kid;
	}
	return n;
oom:
	conf__node_free(n);
	t->x->oom = true;
	return NULL;
}

/* Counts nodes a copy makes against the file's budget; false (reported at
   the alias at line:col) when it would go over. */
static bool
s_budget(s_tree_t *t, size_t nodes, const char *what, int line, int col)
{
	if (nodes <= CONF__MAX_ALIAS_NODES - t->copied) {
		t->copied += nodes;
		return true;
	}
	conf__err_at(t->x, line, col, "syntax error",
		     "%s: aliases expand this file beyond %d nodes; refused (an alias bomb?)", what,
		     CONF__MAX_ALIAS_NODES);
	return false;
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
	if (s_attach(t, n) != 0)
		return -1;
	return s_anchor_add(t, ev->data.scalar.anchor, n, false);
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
	return s_anchor_add(t,
			    type == CONF__MAP ? ev->data.mapping_start.anchor
					      : ev->data.sequence_start.anchor,
			    n, true);
}

/* A placeholder for an alias that cannot be expanded, so that a mapping's
   keys and values stay paired; the problem is reported at it. */
static int
s_bad_alias(s_tree_t *t, const yaml_event_t *ev, const char *msg)
{
	conf__node_t *n = s_node_new(t, CONF__SCALAR, &ev->start_mark);

	if (n == NULL)
		return -1;
	if ((n->str = strdup("")) == NULL) {
		free(n);
		t->x->oom = true;
		return -1;
	}
	n->bad = true;
	s_err_here(t, n, msg);
	return s_attach(t, n);
}

/* An alias stands for its anchor's node: a copy of it goes here, within the
   depth and the file's expansion budget. Returns 0, or -1 to stop (no
   memory, or over budget: the rest cannot be trusted). */
static int
s_alias(s_tree_t *t, const yaml_event_t *ev)
{
	const char *name = (const char *)ev->data.alias.anchor;
	s_anchor_t *a = s_anchor_find(t, name);
	int line = s_mark_int(ev->start_mark.line), col = s_mark_int(ev->start_mark.column);
	conf__origin_t *o;
	conf__node_t *n;
	char msg[200];

	if (a == NULL) {
		snprintf(msg, sizeof(msg), "*%.64s: no anchor &%.64s before this alias", name,
			 name);
		return s_bad_alias(t, ev, msg);
	}
	if (a->open) {
		snprintf(msg, sizeof(msg),
			 "*%.64s is inside its own anchor &%.64s (at line %d): a value cannot "
			 "contain itself",
			 name, name, a->node->line);
		return s_bad_alias(t, ev, msg);
	}
	if (t->depth + a->node->height > CONF__MAX_DEPTH) {
		conf__err_at(t->x, line, col, "syntax error",
			     "*%.64s: nested deeper than %d levels", name, CONF__MAX_DEPTH);
		return -1;
	}
	snprintf(msg, sizeof(msg), "*%.64s", name);
	if (!s_budget(t, a->node->nodes, msg, line, col))
		return -1;
	if ((o = malloc(sizeof(*o) + strlen(a->name) + 1)) == NULL) {
		t->x->oom = true;
		return -1;
	}
	*o = (conf__origin_t){.refs = 1,
			      .use_line = line,
			      .use_col = col,
			      .anchor_line = a->node->line,
			      .anchor_col = a->node->col};
	strcpy(o->name, a->name);
	n = s_copy(t, a->node, o);
	s_origin_drop(o); /* the copy holds its own references */
	if (n == NULL)
		return -1;
	return s_attach(t, n);
}

/* ---- merge keys ---- */

/* Pushes the key path of the mapping being closed (the open child of every
   level still open); returns the length to pop back to. */
static size_t
s_path_open(s_tree_t *t)
{
	size_t old = t->x->path_len, at;
	const conf__node_t *c;
	int i;

	for (i = 0; i < t->depth; i++) {
		c = t->stack[i];
		if (c->n == 0)
			break;
		at = c->n - 1;
		if (c->type == CONF__SEQ)
			conf__path_push_index(t->x, at);
		else if (at % 2 == 1 && c->kids[at - 1]->type == CONF__SCALAR)
			conf__path_push(t->x, c->kids[at - 1]->str);
		else
			conf__path_push(t->x, "?");
	}
	return old;
}

typedef struct {
	conf__node_t *key, *val;
	unsigned rank;	  /* 0: written in the mapping; k: from the k-th merged mapping */
	bool copy;	  /* its mapping is anchored: copy it, leave the original */
	bool drop;	  /* a key written earlier (or in the mapping) wins */
	bool made;	  /* key and val are copies made here */
} s_pair_t;

static bool
s_is_merge_key(const conf__node_t *k)
{
	return k->type == CONF__SCALAR && k->plain && !k->bad && strcmp(k->str, "<<") == 0;
}

static int
s_pair_cmp(const void *a, const void *b)
{
	const s_pair_t *p = *(s_pair_t *const *)a, *q = *(s_pair_t *const *)b;
	int r;

	if (p->key->len != q->key->len)
		return p->key->len < q->key->len ? -1 : 1;
	if ((r = memcmp(p->key->str, q->key->str, p->key->len)) != 0)
		return r;
	if (p->rank != q->rank)
		return p->rank < q->rank ? -1 : 1;
	return p < q ? -1 : (p > q); /* written order */
}

/* Appends the pairs of one merged mapping m (rank r) to pairs. */
static void
s_merge_source(s_pair_t *pairs, size_t *np, conf__node_t *m, unsigned r)
{
	size_t i;

	for (i = 0; i + 1 < m->n; i += 2)
		pairs[(*np)++] = (s_pair_t){m->kids[i], m->kids[i + 1], r, m->anchored, false, false};
}

/* How many pairs map has once its merge keys are applied (before the
   duplicates go); 0 when it has no merge key. */
static size_t
s_merge_count(const conf__node_t *map)
{
	const conf__node_t *v;
	size_t i, j, total = 0;
	bool any = false;

	for (i = 0; i + 1 < map->n; i += 2) {
		if (!s_is_merge_key(map->kids[i])) {
			total++;
			continue;
		}
		any = true;
		v = map->kids[i + 1];
		if (v->type == CONF__MAP)
			total += v->n / 2;
		for (j = 0; v->type == CONF__SEQ && j < v->n; j++)
			if (v->kids[j]->type == CONF__MAP)
				total += v->kids[j]->n / 2;
	}
	return any ? total + 1 : 0;
}

/* Reports a merge key's value v that is neither a mapping nor a list of
   them (once; quietly for what was reported already). */
static void
s_merge_check(s_tree_t *t, const conf__node_t *v)
{
	size_t j, old;

	if (v->type == CONF__MAP || v->bad)
		return;
	for (j = 0; v->type == CONF__SEQ && j < v->n; j++)
		if (v->kids[j]->type != CONF__MAP && !v->kids[j]->bad)
			break;
	if (v->type == CONF__SEQ && j == v->n)
		return;
	if (v->type == CONF__SEQ)
		v = v->kids[j];
	old = s_path_open(t);
	conf__path_push(t->x, "<<");
	conf__err(t->x, v, "merges a mapping or a list of mappings, got %s",
		  v->type == CONF__SEQ ? "a list" : "a scalar");
	conf__path_pop(t->x, old);
}

/* Gives map its merged pairs (kids, nk nodes; taken): what was moved leaves
   its merged mapping, and the merge keys with their values, and the pairs
   that lost, are set aside whole. */
static void
s_merge_commit(s_tree_t *t, conf__node_t *map, s_pair_t *pairs, size_t np,
	       conf__node_t **kids, size_t nk)
{
	conf__node_t *v;
	size_t i, j;

	for (i = 0; i < np; i++)
		if (pairs[i].rank > 0 && !pairs[i].copy && pairs[i].drop) {
			s_bury(t, pairs[i].key);
			s_bury(t, pairs[i].val);
		}
	for (i = 0; i + 1 < map->n; i += 2) {
		if (!s_is_merge_key(map->kids[i]))
			continue;
		v = map->kids[i + 1];
		if (v->type == CONF__MAP && !v->anchored)
			v->n = 0;
		for (j = 0; v->type == CONF__SEQ && j < v->n; j++)
			if (v->kids[j]->type == CONF__MAP && !v->kids[j]->anchored)
				v->kids[j]->n = 0;
		s_bury(t, map->kids[i]);
		s_bury(t, v);
	}
	free(map->kids);
	map->kids = kids;
	map->n = nk;
	map->cap = 2 * np + 1;
	s_measure(map);
}

/* Applies the merge keys of mapping map as YAML 1.1 says: the pairs of
   "<<: *a" (or of each of "<<: [*a, *b]") join the mapping where the merge
   key stands, unless the mapping itself, or a mapping merged before, has the
   key. A merged mapping that an anchor names is copied; anything removed is
   set aside (an anchor may name it). */
static int
s_merge(s_tree_t *t, conf__node_t *map)
{
	s_pair_t *pairs = NULL, **ord = NULL;
	conf__node_t **kids = NULL, *v;
	size_t i, j, np = 0, total, nk = 0, ns = 0;
	unsigned rank = 0;
	int rc = -1;

	if ((total = s_merge_count(map)) == 0)
		return 0;
	if ((pairs = calloc(total, sizeof(*pairs))) == NULL ||
	    (ord = calloc(total, sizeof(*ord))) == NULL) {
		t->x->oom = true;
		goto out;
	}
	for (i = 0; i + 1 < map->n; i += 2) {
		conf__node_t *k = map->kids[i];

		v = map->kids[i + 1];
		if (!s_is_merge_key(k)) {
			pairs[np++] = (s_pair_t){k, v, 0, false, false, false};
			continue;
		}
		if (v->type == CONF__MAP) {
			s_merge_source(pairs, &np, v, ++rank);
			continue;
		}
		for (j = 0; v->type == CONF__SEQ && j < v->n; j++)
			if (v->kids[j]->type == CONF__MAP)
				s_merge_source(pairs, &np, v->kids[j], ++rank);
		s_merge_check(t, v);
	}
	/* In each run of equal string keys the first (the mapping's own, then
	   the earliest merged) wins; the mapping's own duplicates stay, for
	   the duplicate-key check. */
	for (i = 0; i < np; i++)
		if (pairs[i].key->type == CONF__SCALAR && !pairs[i].key->bad)
			ord[ns++] = &pairs[i];
	qsort(ord, ns, sizeof(*ord), s_pair_cmp);
	for (i = 1; i < ns; i++)
		if (ord[i]->rank > 0 && ord[i]->key->len == ord[i - 1]->key->len &&
		    memcmp(ord[i]->key->str, ord[i - 1]->key->str, ord[i]->key->len) == 0)
			ord[i]->drop = true;
	for (i = 0; i < np; i++) {
		if (pairs[i].drop || !pairs[i].copy)
			continue;
		if (!s_budget(t, pairs[i].key->nodes + pairs[i].val->nodes, "<<", map->line,
			      map->col))
			goto out;
	}
	if ((kids = calloc(2 * np + 1, sizeof(*kids))) == NULL) {
		t->x->oom = true;
		goto out;
	}
	for (i = 0; i < np; i++) {
		conf__node_t *k, *cv;

		if (pairs[i].drop || !pairs[i].copy)
			continue;
		k = s_copy(t, pairs[i].key, NULL);
		if ((cv = k ? s_copy(t, pairs[i].val, NULL) : NULL) == NULL) {
			conf__node_free(k);
			goto out;
		}
		pairs[i].key = k;
		pairs[i].val = cv;
		pairs[i].made = true;
	}
	for (i = 0; i < np; i++) {
		if (pairs[i].drop)
			continue;
		kids[nk++] = pairs[i].key;
		kids[nk++] = pairs[i].val;
	}
	s_merge_commit(t, map, pairs, np, kids, nk);
	kids = NULL;
	rc = 0;
out:
	for (i = 0; rc != 0 && pairs != NULL && i < np; i++)
		if (pairs[i].made) {
			conf__node_free(pairs[i].key);
			conf__node_free(pairs[i].val);
		}
	free(kids);
	free(ord);
	free(pairs);
	return rc;
}

/* Ends the innermost mapping or list: merges, measures, and closes its
   anchor. */
static int
s_close(s_tree_t *t)
{
	conf__node_t *n;
	size_t i;

	if (t->depth == 0)
		return 0;
	n = t->stack[--t->depth];
	if (n->type == CONF__MAP && s_merge(t, n) != 0)
		return -1;
	s_measure(n);
	for (i = t->n_anchors; n->anchored && i-- > 0;)
		if (t->anchors[i].node == n) {
			t->anchors[i].open = false;
			break;
		}
	return 0;
}

/* Drops the top-level keys that begin with "x-" (with their values). */
static void
s_drop_extensions(conf__node_t *root)
{
	size_t i, o = 0;

	if (root == NULL || root->type != CONF__MAP)
		return;
	for (i = 0; i + 1 < root->n; i += 2) {
		conf__node_t *k = root->kids[i];

		if (k->type == CONF__SCALAR && !k->bad && strncmp(k->str, "x-", 2) == 0) {
			conf__node_free(k);
			conf__node_free(root->kids[i + 1]);
			continue;
		}
		root->kids[o++] = k;
		root->kids[o++] = root->kids[i + 1];
	}
	if (i < root->n) /* an odd kid out cannot happen; keep it */
		root->kids[o++] = root->kids[i];
	root->n = o;
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
		return s_close(t) == 0 ? 1 : -1;
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
	size_t i;

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
	for (i = 0; i < t.n_anchors; i++)
		free(t.anchors[i].name);
	free(t.anchors);
	free(t.by_name);
	conf__node_free(t.dead);
	if (rc == 0 && t.docs > 1)
		rc = -1;
	if (rc != 0) {
		conf__node_free(t.root);
		return -1;
	}
	s_drop_extensions(t.root);
	*root = t.root;
	return 0;
}
