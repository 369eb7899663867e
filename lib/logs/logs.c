/* logs: reading a worker's captured output back, as the logs call of the
   API gives it (docs/api.md): the last N lines, or the lines written since
   a byte offset of a file with a given inode, through rotations. droverd
   reads its own workers' files with it, and drover-agent those of its host,
   so a remote process's logs are byte for byte what a local one's are.
   Nothing is kept in memory between calls. */
#include "logs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Length of the valid UTF-8 sequence at s[0..n) (RFC 3629: no overlong
   forms, no surrogates, nothing above U+10FFFF), or 0 if it is not one. */
static size_t
s_utf8_len(const unsigned char *s, size_t n)
{
	size_t len, i;
	unsigned cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

json_t *
logs_json_text(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	char *out;
	size_t i = 0, o = 0, len;
	json_t *j;

	for (i = 0; i < n && (len = s_utf8_len(u + i, n - i)) > 0 && u[i] != 0; i += len)
		;
	if (i == n) {
		j = json_stringn(s, n);
		return j ? j : json_string("");
	}
	/* Invalid UTF-8 (or a NUL): keep what is valid, replace the rest. */
	if ((out = malloc(n * 3 + 1)) == NULL)
		return json_string("");
	for (i = 0; i < n;) {
		len = u[i] != 0 ? s_utf8_len(u + i, n - i) : 0;
		if (len > 0) {
			memcpy(out + o, s + i, len);
			o += len;
			i += len;
		} else {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	j = json_stringn(out, o);
	free(out);
	return j ? j : json_string("");
}

/* The next piece of text[*pos..n): a line without its newline, or the
   first LOGS_LINE_MAX bytes of a longer one, so that a line without end
   (a worker writing megabytes without a newline) is still read. A last line
   shorter than that and without its newline is a piece only when partial.
   Sets *start, *len and moves *pos past the piece; false when none. */
static bool
s_piece(const char *text, size_t n, size_t *pos, bool partial, size_t *start, size_t *len)
{
	size_t i = *pos, lim = n - i < LOGS_LINE_MAX + 1 ? n - i : LOGS_LINE_MAX + 1;
	const char *nl;

	if (i >= n)
		return false;
	*start = i;
	if ((nl = memchr(text + i, '\n', lim)) != NULL) {
		*len = (size_t)(nl - text) - i;
		*pos = (size_t)(nl - text) + 1;
	} else if (n - i > LOGS_LINE_MAX) {
		*len = LOGS_LINE_MAX;
		*pos = i + LOGS_LINE_MAX;
	} else if (partial) {
		*len = n - i;
		*pos = n;
	} else {
		return false;
	}
	return true;
}

/* Splits text[0..n) into lines, a line longer than LOGS_LINE_MAX into
   pieces (a final partial line included when keep_partial), and appends the
   last max of them to a. Returns the length of what was split: up to the
   end of the last whole line or piece. */
static size_t
s_lines(json_t *a, const char *text, size_t n, size_t max, bool keep_partial)
{
	size_t pos = 0, count = 0, start, len;

	while (s_piece(text, n, &pos, keep_partial, &start, &len))
		count++;
	pos = 0;
	for (; count > max && s_piece(text, n, &pos, keep_partial, &start, &len); count--)
		; /* beyond the last max */
	while (s_piece(text, n, &pos, keep_partial, &start, &len))
		json_array_append_new(a, logs_json_text(text + start, len));
	return pos;
}

/* Reads up to max bytes of fd from off into a new buffer (caller frees). */
static char *
s_read(int fd, off_t off, size_t max, size_t *got)
{
	char *buf = malloc(max + 1);
	ssize_t k;

	*got = 0;
	while (buf != NULL && *got < max &&
	       (k = pread(fd, buf + *got, max - *got, off + (off_t)*got)) > 0)
		*got += (size_t)k;
	return buf;
}

/* Opens the k-th file of a capture: path itself for k = 0, else path.k
   (the rotated ones). Returns the fd and fills *st, or -1. */
static int
s_open_nth(const char *path, unsigned k, struct stat *st)
{
	char name[PATH_MAX];
	int fd;

	if (k == 0)
		snprintf(name, sizeof(name), "%s", path);
	else
		snprintf(name, sizeof(name), "%s.%u", path, k);
	if ((fd = open(name, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	if (fstat(fd, st) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

#define API_FOLLOW_MAX_FILES 100 /* rotated files looked at for the caller's inode */

/* The follow half of the logs call: the complete lines after offset in the
   file with inode. When that file was rotated since (the current one is
   another inode), it is found among PATH.1, PATH.2, ...: its rest comes
   first, a line cut by the rotation is joined with its end in the next file,
   and the next call goes on in that next file, so a follower that is behind
   by several rotations still gets every line the files hold. Sets "offset"
   and "inode" in o for the next call. */
static void
s_follow(const char *path, int fd, const struct stat *cur, long long offset, long long inode,
	 json_t *lines, json_t *o)
{
	char *buf = NULL, *head = NULL, *joined;
	struct stat ost, nst;
	size_t got = 0, hgot = 0, complete, cut;
	unsigned k;
	off_t from;
	int ofd = -1, nfd = -1;

	if (inode >= 0 && inode != (long long)cur->st_ino) {
		for (k = 1; k <= API_FOLLOW_MAX_FILES; k++) {
			if ((ofd = s_open_nth(path, k, &ost)) < 0)
				break;
			if ((long long)ost.st_ino == inode)
				break;
			close(ofd);
			ofd = -1;
		}
		if (ofd < 0 || offset > ost.st_size) {
			if (ofd >= 0)
				close(ofd);
			offset = 0; /* that file is gone: the current one from its start */
			goto current;
		}
		/* The rest of the old file. */
		buf = s_read(ofd, (off_t)offset,
			     (size_t)(ost.st_size - offset) < LOGS_READ_MAX
				 ? (size_t)(ost.st_size - offset)
				 : LOGS_READ_MAX,
			     &got);
		close(ofd);
		complete = buf ? s_lines(lines, buf, got, LOGS_TAIL_MAX, false) : 0;
		if (buf == NULL || (off_t)offset + (off_t)got < ost.st_size) {
			/* More of the old file next time. */
			json_object_set_new(o, "offset",
					    json_integer(offset + (long long)complete));
			json_object_set_new(o, "inode", json_integer(inode));
			free(buf);
			return;
		}
		/* The old file is done: on to the next one (PATH.(k-1), or the
		   current file), joining a line the rotation cut. */
		if (k - 1 == 0) {
			nfd = fd;
			nst = *cur;
		} else if ((nfd = s_open_nth(path, k - 1, &nst)) < 0) {
			free(buf);
			offset = 0;
			goto current;
		}
		from = 0;
		cut = got - complete; /* shorter than a piece */
		if (cut > 0) {
			size_t pos = 0, start, len;

			head = s_read(nfd, 0, LOGS_LINE_MAX + 1 - cut, &hgot);
			if (head == NULL || (joined = malloc(cut + hgot)) == NULL)
				goto done;
			memcpy(joined, buf + complete, cut);
			memcpy(joined + cut, head, hgot);
			if (!s_piece(joined, cut + hgot, &pos, false, &start, &len)) {
				/* The cut line goes on beyond what is written: later. */
				free(joined);
				json_object_set_new(o, "offset",
						    json_integer(offset + (long long)complete));
				json_object_set_new(o, "inode", json_integer(inode));
				goto done;
			}
			json_array_append_new(lines, logs_json_text(joined + start, len));
			free(joined);
			from = (off_t)(pos - cut);
		}
		if (nfd != fd) {
			/* Another rotated file: the next call reads it. */
			json_object_set_new(o, "offset", json_integer((json_int_t)from));
			json_object_set_new(o, "inode", json_integer((json_int_t)nst.st_ino));
			goto done;
		}
		free(buf);
		free(head);
		buf = head = NULL;
		nfd = -1;
		offset = from;
	}
current:
	from = offset <= cur->st_size ? (off_t)offset : 0; /* truncated: from the start */
	buf = s_read(fd, from,
		     (size_t)(cur->st_size - from) < LOGS_READ_MAX ? (size_t)(cur->st_size - from)
								   : LOGS_READ_MAX,
		     &got);
	complete = buf ? s_lines(lines, buf, got, LOGS_TAIL_MAX, false) : 0;
	json_object_set_new(o, "offset", json_integer((json_int_t)from + (json_int_t)complete));
	json_object_set_new(o, "inode", json_integer((json_int_t)cur->st_ino));
done:
	if (nfd >= 0 && nfd != fd)
		close(nfd);
	free(buf);
	free(head);
}

/* Reads the query argument key, if present, as a count >= 0 into *v. False
   (with a 400 reply) when it is there but not such a number. */
json_t *
logs_read(const char *path, const char *name, const char *stream, long long tail, long long offset,
	  long long inode)
{
	long long file_id;
	char *buf = NULL;
	struct stat st;
	off_t from;
	size_t want, got = 0, complete;
	int fd;
	json_t *o, *lines;

	if (tail < 0)
		tail = LOGS_TAIL_DEFAULT;
	if (tail > LOGS_TAIL_MAX)
		tail = LOGS_TAIL_MAX;
	o = json_pack("{s:s, s:s, s:s}", "name", name, "stream", stream, "path", path);
	lines = json_array();
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) != 0) {
		if (fd >= 0)
			close(fd);
		/* Nothing written yet. */
		json_object_set_new(o, "offset", json_integer(0));
		json_object_set_new(o, "inode", json_null());
		json_object_set_new(o, "lines", lines);
		return o;
	}
	file_id = (long long)st.st_ino;
	if (offset >= 0) {
		s_follow(path, fd, &st, offset, inode, lines, o);
		close(fd);
		json_object_set_new(o, "lines", lines);
		return o;
	} else {
		/* Tail: read back from the end until enough lines are in. */
		want = (size_t)st.st_size < LOGS_READ_MAX ? (size_t)st.st_size : LOGS_READ_MAX;
		if (want > (size_t)(tail + 1) * 512 && tail < LOGS_TAIL_MAX)
			want = (size_t)(tail + 1) * 512;
		for (;;) {
			size_t nl = 0, i;

			from = st.st_size - (off_t)want;
			free(buf);
			buf = s_read(fd, from, want, &got);
			for (i = 0; buf != NULL && i < got; i++)
				nl += buf[i] == '\n';
			if (buf == NULL || nl > (size_t)tail || from == 0 ||
			    want >= LOGS_READ_MAX || got > (size_t)(tail + 1) * LOGS_LINE_MAX)
				break;
			want = want * 4 < LOGS_READ_MAX ? want * 4 : LOGS_READ_MAX;
			if (want > (size_t)st.st_size)
				want = (size_t)st.st_size;
		}
		close(fd);
		/* The first line read may be cut: drop it unless it starts the
		   file, or is longer than a piece (then its pieces count). */
		complete = 0;
		if (buf != NULL && from > 0) {
			char *nl = memchr(buf, '\n', got);

			if (nl != NULL && (size_t)(nl - buf) <= LOGS_LINE_MAX)
				complete = (size_t)(nl - buf) + 1;
		}
		if (buf != NULL)
			s_lines(lines, buf + complete, got - complete, (size_t)tail, true);
		free(buf);
		json_object_set_new(o, "offset", json_integer((json_int_t)st.st_size));
		json_object_set_new(o, "inode", json_integer(file_id));
		json_object_set_new(o, "lines", lines);
		return o;
	}
}
