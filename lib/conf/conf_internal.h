/* conf internals: the YAML tree built from libyaml events, the error list and
   the key path used in messages. Nothing here is part of the contract. */
#ifndef DROVER_CONF_INTERNAL_H
#define DROVER_CONF_INTERNAL_H

#include "conf.h"

#include <stdarg.h>

/* Mappings and lists nested deeper than this are refused: no real
   configuration comes close, and it bounds every walk over the tree. */
#define CONF__MAX_DEPTH 64

/* What a group, queue or host name may be. */
#define CONF__NAME_RULE "use 1 to 64 letters, digits, '_', '.' or '-'"

/* Aliases may expand the file to at most this many nodes in all: far more
   than any real file, and refused in milliseconds (a "billion laughs"). */
#define CONF__MAX_ALIAS_NODES 100000

typedef enum { CONF__SCALAR, CONF__MAP, CONF__SEQ } conf__node_type_t;

/* Where a node copied by an alias came from, for messages: the alias (the
   place of use) and its anchor. Shared by the nodes of one copy. */
typedef struct {
	int refs;
	int use_line, use_col;	     /* the alias *name */
	int anchor_line, anchor_col; /* the anchor &name */
	char name[];
} conf__origin_t;

/* One YAML node. A mapping's kids alternate key, value, key, value. */
typedef struct conf__node {
	conf__node_type_t type;
	int line, col; /* 1-based, where the node starts */
	char *str;     /* scalar: NUL-terminated text */
	size_t len;
	bool plain;    /* scalar written without quotes */
	bool bad;      /* already reported (bad alias, NUL byte): skip quietly */
	bool anchored; /* carries an &anchor: copied, never moved, by a merge */
	conf__origin_t *from; /* NULL unless written through an alias */
	size_t nodes;	      /* in this subtree, itself included */
	int height;	      /* levels of mappings and lists, itself included */
	struct conf__node **kids;
	size_t n, cap;
} conf__node_t;

typedef struct {
	int line, col;
	size_t seq; /* report order, to keep the sort stable */
	char *text; /* "FILE:LINE:COL: path: message" */
} conf__err_t;

/* What every stage shares: the file name for messages, the errors so far, the
   key path of the node being looked at, and whether memory ran out. */
typedef struct {
	const char *file;
	conf__err_t *errs;
	size_t n_errs, cap_errs;
	char *path;
	size_t path_len, path_cap;
	bool oom;
} conf__ctx_t;

/* Parses text into a tree; *root is NULL for an empty document. Returns 0, or
   -1 after reporting a syntax error or an expansion beyond
   CONF__MAX_ALIAS_NODES (nothing else can be trusted then). The caller owns
   *root (conf__node_free). Aliases are expanded into copies that remember
   where they came from, merge keys (<<) are applied, and top-level keys
   beginning with "x-" are dropped (docker-compose's extension fields, where
   anchors live). An alias without its anchor is reported and replaced by a
   bad node so that the rest of the file is still checked. */
int conf__tree_load(conf__ctx_t *x, const char *text, size_t len, conf__node_t **root);
void conf__node_free(conf__node_t *n);
bool conf__node_is_null(const conf__node_t *n);

/* Records "FILE:LINE:COL: path: message". */
void conf__err_at(conf__ctx_t *x, int line, int col, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* The same at node n with the current key path; for a node written through
   an alias, at the alias, naming the anchor and where the value is. */
void conf__err(conf__ctx_t *x, const conf__node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sorts the errors by position and joins them, one per line; caller frees.
   NULL when there are none (or no memory). */
char *conf__err_join(conf__ctx_t *x);
void conf__ctx_fini(conf__ctx_t *x);

/* The key path: push appends ".seg" (or "[i]"), returning the length to pop
   back to. Segments are cleaned of control characters and shortened. */
size_t conf__path_push(conf__ctx_t *x, const char *seg);
size_t conf__path_push_index(conf__ctx_t *x, size_t i);
void conf__path_pop(conf__ctx_t *x, size_t len);

/* Writes s as a short double-quoted literal for a message into buf. */
const char *conf__quote(const char *s, char *buf, size_t size);

/* Calls fn for each ${NAME} in s ("$$" is a literal '$'). Returns 0, or -1
   with *why set when a reference is malformed. */
int conf__vars_each(const char *s, void (*fn)(const char *name, size_t len, void *arg), void *arg,
		    const char **why);

/* Scalar values. Each returns 0, or -1 once the problem is reported at n
   (quietly for a node already reported). "what" phrases read "a string". */
const char *conf__what(const conf__node_t *n, char *buf, size_t size);
int conf__str(conf__ctx_t *x, const conf__node_t *n, bool empty_ok, char **out);
int conf__bool(conf__ctx_t *x, const conf__node_t *n, bool *out);
int conf__count(conf__ctx_t *x, const conf__node_t *n, int64_t max, int64_t *out);
int conf__duration(conf__ctx_t *x, const conf__node_t *n, bool positive, int64_t *out_ms);
int conf__size(conf__ctx_t *x, const conf__node_t *n, int64_t *out);
int conf__number(conf__ctx_t *x, const conf__node_t *n, double *out);
/* True when n is of type t; otherwise reports "expected <what>, got ...". */
bool conf__is(conf__ctx_t *x, const conf__node_t *n, conf__node_type_t t);

/* Parses the tree of one file into c (already holding path, dir and
   defaults). Problems go to x. */
void conf__build(conf__ctx_t *x, const conf__node_t *root, conf_t *c);

#endif
