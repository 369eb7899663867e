/* logs: a worker's captured output read back for the API's logs call, the
   same on droverd's host and on an agent's. */
#ifndef DROVER_LOGS_H
#define DROVER_LOGS_H

#include <jansson.h>
#include <stddef.h>

#define LOGS_TAIL_DEFAULT 100
#define LOGS_TAIL_MAX 10000
#define LOGS_READ_MAX (4 * 1024 * 1024) /* bytes read back for one call */
#define LOGS_LINE_MAX (64 * 1024)	/* a longer line comes in pieces of this */

/* The answer for the file at path (caller owns): {name, stream, path,
   offset, inode, lines}. tail < 0: the default. With offset >= 0, the
   complete lines written since that byte offset of the file with that
   inode (a file rotated since is finished first from FILE.1 ..); else the
   last tail lines. A file not written yet gives no lines. */
json_t *logs_read(const char *path, const char *name, const char *stream, long long tail,
		  long long offset, long long inode);

/* A JSON string of the bytes s[0..n) with invalid UTF-8 (and NUL bytes)
   replaced by U+FFFD (caller owns). */
json_t *logs_json_text(const char *s, size_t n);

#endif
