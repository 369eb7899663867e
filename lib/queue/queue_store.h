/* queue_store: durable queue messages in SQLite (WAL, synchronous=NORMAL),
   <state_dir>/queues.db. One owner (the queue host's thread); writes go into
   one transaction that store_commit() ends: the host commits once per pass
   of its loop (group commit). */
#ifndef DROVER_QUEUE_STORE_H
#define DROVER_QUEUE_STORE_H

#include <stddef.h>
#include <stdint.h>

typedef struct store store_t;

/* Opens (creating if missing) the store at path and checks that it is a
   drover queue store. NULL on failure with *err set (malloc'd, names the
   file); the file is never emptied or replaced. */
store_t *store_open(const char *path, char **err);

/* The id of queue name in the store, added if new. 0 or -1 with *err. */
int store_queue_id(store_t *s, const char *name, int64_t *id, char **err);

/* Calls fn for every stored message of every queue, in put order (ids
   ascending). With qid >= 0, only that queue's. fn returns 0 to go on.
   Returns 0, or -1 with *err (a corrupt file, say). */
typedef int (*store_row_fn)(void *arg, int64_t qid, int64_t id, const void *data, size_t len);
int store_load(store_t *s, int64_t qid, store_row_fn fn, void *arg, char **err);

/* The largest message id in the store (0 if none). */
int64_t store_max_id(store_t *s);

/* Stores a message (inside the open transaction, begun if needed). 0 or -1
   (the error is kept for store_error()). */
int store_insert(store_t *s, int64_t qid, int64_t id, const void *data, size_t len);
/* Deletes a message by id. 0 or -1. */
int store_delete(store_t *s, int64_t id);
/* Deletes every message of a queue. 0 or -1. */
int store_delete_queue(store_t *s, int64_t qid);
/* Number of stored messages of queue qid. */
int64_t store_count(store_t *s, int64_t qid);

/* True while a transaction is open (something to commit). */
int store_pending(const store_t *s);
/* Commits the open transaction, if any. 0, or -1 (then it is rolled back). */
int store_commit(store_t *s);
/* The last error's text. */
const char *store_error(const store_t *s);
const char *store_path(const store_t *s);

void store_close(store_t **sp);

#endif
