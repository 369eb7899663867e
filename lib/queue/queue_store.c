/* queue_store: durable messages in SQLite. Schema (user_version 1):
     queues(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)
     messages(id INTEGER PRIMARY KEY, queue INTEGER NOT NULL, data BLOB NOT NULL)
   Message ids are assigned by the host in put order, so "ORDER BY id" is the
   order to load. WAL with synchronous=NORMAL: a commit is in the WAL file
   before the put is confirmed (safe against a crash of droverd), fsync at
   checkpoints only (not against power loss). */
#include "queue_store.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "str.h"

struct store {
	sqlite3 *db;
	char *path;
	sqlite3_stmt *begin, *commit, *rollback, *insert, *delete_one, *delete_queue;
	int in_txn;
	char err[512];
};

static void
s_seterr(store_t *s, const char *what)
{
	snprintf(s->err, sizeof(s->err), "%s: %s", what, sqlite3_errmsg(s->db));
}

static int
s_exec(store_t *s, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(s->err, sizeof(s->err), "%s", msg ? msg : sqlite3_errmsg(s->db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int
s_int(store_t *s, const char *sql, int64_t *out)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
		s_seterr(s, "read");
		return -1;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	else if (rc != SQLITE_DONE)
		s_seterr(s, "read");
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static int
s_prepare(store_t *s, const char *sql, sqlite3_stmt **st)
{
	if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK) {
		s_seterr(s, "not a drover queue store");
		return -1;
	}
	return 0;
}

/* Creates the schema in an empty file, or checks an existing one. */
static int
s_schema(store_t *s)
{
	int64_t tables = 0, version = 0;

	if (s_int(s, "SELECT count(*) FROM sqlite_master", &tables) != 0)
		return -1;
	if (tables == 0)
		return s_exec(
		    s, "BEGIN;"
		       "CREATE TABLE queues(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
		       "CREATE TABLE messages(id INTEGER PRIMARY KEY, queue INTEGER NOT NULL,"
		       " data BLOB NOT NULL);"
		       "PRAGMA user_version=1;"
		       "COMMIT;");
	if (s_int(s, "PRAGMA user_version", &version) != 0)
		return -1;
	if (version != 1) {
		snprintf(s->err, sizeof(s->err),
			 "not a drover queue store (schema version %lld, expected 1)",
			 (long long)version);
		return -1;
	}
	return 0;
}

store_t *
store_open(const char *path, char **err)
{
	store_t *s = calloc(1, sizeof(*s));
	int64_t dummy;

	*err = NULL;
	if (s == NULL || (s->path = strdup(path)) == NULL) {
		free(s);
		*err = str_printf("durable store %s: out of memory", path);
		return NULL;
	}
	if (sqlite3_open_v2(path, &s->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		snprintf(s->err, sizeof(s->err), "%s",
			 s->db ? sqlite3_errmsg(s->db) : "cannot open");
		goto fail;
	}
	sqlite3_extended_result_codes(s->db, 0);
	sqlite3_busy_timeout(s->db, 2000);
	/* The first statements read the header: a file that is not a database
	   fails here, before anything is written. */
	if (s_int(s, "PRAGMA schema_version", &dummy) != 0)
		goto fail;
	if (sqlite3_db_readonly(s->db, "main") == 1) {
		snprintf(s->err, sizeof(s->err), "not writable");
		goto fail;
	}
	if (s_schema(s) != 0 ||
	    s_exec(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL") != 0)
		goto fail;
	if (s_prepare(s, "BEGIN", &s->begin) != 0 || s_prepare(s, "COMMIT", &s->commit) != 0 ||
	    s_prepare(s, "ROLLBACK", &s->rollback) != 0 ||
	    s_prepare(s, "INSERT INTO messages(id, queue, data) VALUES(?, ?, ?)", &s->insert) !=
		0 ||
	    s_prepare(s, "DELETE FROM messages WHERE id = ?", &s->delete_one) != 0 ||
	    s_prepare(s, "DELETE FROM messages WHERE queue = ?", &s->delete_queue) != 0)
		goto fail;
	return s;
fail:
	*err = str_printf("durable store %s: %s (the file is left as it is)", path, s->err);
	store_close(&s);
	return NULL;
}

int
store_queue_id(store_t *s, const char *name, int64_t *id, char **err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	*err = NULL;
	if (sqlite3_prepare_v2(s->db, "INSERT OR IGNORE INTO queues(name) VALUES(?)", -1, &st,
			       NULL) != SQLITE_OK ||
	    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	if (sqlite3_prepare_v2(s->db, "SELECT id FROM queues WHERE name = ?", -1, &st, NULL) !=
		SQLITE_OK ||
	    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC) != SQLITE_OK)
		goto fail;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		goto fail;
	*id = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return 0;
fail:
	*err = str_printf("durable store %s: queue %s: %s", s->path, name, sqlite3_errmsg(s->db));
	sqlite3_finalize(st);
	return -1;
}

int
store_load(store_t *s, int64_t qid, store_row_fn fn, void *arg, char **err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	*err = NULL;
	rc = sqlite3_prepare_v2(
	    s->db,
	    qid >= 0 ? "SELECT queue, id, data FROM messages WHERE queue = ? ORDER BY id"
		     : "SELECT queue, id, data FROM messages ORDER BY id",
	    -1, &st, NULL);
	if (rc == SQLITE_OK && qid >= 0)
		rc = sqlite3_bind_int64(st, 1, qid);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const void *data = sqlite3_column_blob(st, 2);
		size_t len = (size_t)sqlite3_column_bytes(st, 2);

		if (fn(arg, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
		       data ? data : "", len) != 0) {
			rc = SQLITE_NOMEM;
			break;
		}
		rc = SQLITE_OK;
	}
	if (rc != SQLITE_DONE) {
		*err = str_printf(
		    "durable store %s: reading messages: %s (the file is left as it is)", s->path,
		    rc == SQLITE_NOMEM ? "out of memory" : sqlite3_errmsg(s->db));
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_finalize(st);
	return 0;
}

int64_t
store_max_id(store_t *s)
{
	int64_t id = 0;

	if (s_int(s, "SELECT coalesce(max(id), 0) FROM messages", &id) != 0)
		return 0;
	return id;
}

int64_t
store_count(store_t *s, int64_t qid)
{
	sqlite3_stmt *st;
	int64_t n = 0;

	if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM messages WHERE queue = ?", -1, &st,
			       NULL) != SQLITE_OK)
		return 0;
	sqlite3_bind_int64(st, 1, qid);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

static int
s_step(store_t *s, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE) {
		s_seterr(s, what);
		return -1;
	}
	return 0;
}

static int
s_begin(store_t *s)
{
	if (s->in_txn)
		return 0;
	if (s_step(s, s->begin, "begin") != 0)
		return -1;
	s->in_txn = 1;
	return 0;
}

int
store_insert(store_t *s, int64_t qid, int64_t id, const void *data, size_t len)
{
	if (s_begin(s) != 0)
		return -1;
	sqlite3_bind_int64(s->insert, 1, id);
	sqlite3_bind_int64(s->insert, 2, qid);
	sqlite3_bind_blob64(s->insert, 3, len ? data : "", len, SQLITE_STATIC);
	return s_step(s, s->insert, "insert");
}

int
store_delete(store_t *s, int64_t id)
{
	if (s_begin(s) != 0)
		return -1;
	sqlite3_bind_int64(s->delete_one, 1, id);
	return s_step(s, s->delete_one, "delete");
}

int
store_delete_queue(store_t *s, int64_t qid)
{
	if (s_begin(s) != 0)
		return -1;
	sqlite3_bind_int64(s->delete_queue, 1, qid);
	return s_step(s, s->delete_queue, "delete");
}

int
store_pending(const store_t *s)
{
	return s != NULL && s->in_txn;
}

int
store_commit(store_t *s)
{
	if (!s->in_txn)
		return 0;
	s->in_txn = 0;
	if (s_step(s, s->commit, "commit") != 0) {
		char keep[sizeof(s->err)];

		memcpy(keep, s->err, sizeof(keep));
		if (!sqlite3_get_autocommit(s->db))
			s_step(s, s->rollback, "rollback");
		memcpy(s->err, keep, sizeof(keep));
		return -1;
	}
	return 0;
}

const char *
store_error(const store_t *s)
{
	return s->err;
}

const char *
store_path(const store_t *s)
{
	return s->path;
}

void
store_close(store_t **sp)
{
	store_t *s;

	if (sp == NULL || (s = *sp) == NULL)
		return;
	if (s->db != NULL) {
		if (s->in_txn)
			store_commit(s);
		sqlite3_finalize(s->begin);
		sqlite3_finalize(s->commit);
		sqlite3_finalize(s->rollback);
		sqlite3_finalize(s->insert);
		sqlite3_finalize(s->delete_one);
		sqlite3_finalize(s->delete_queue);
		sqlite3_close(s->db);
	}
	free(s->path);
	free(s);
	*sp = NULL;
}
