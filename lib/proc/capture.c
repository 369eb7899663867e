/* Output capture: each captured stream is a pipe whose read end sits in the
   loop's epoll set; ready bytes move to the log file with splice(2), never
   through user space. When the disk is slower than the worker, the pipe
   fills and the worker blocks: back-pressure, not loss. Files rotate by size
   (FILE -> FILE.1 -> ... FILE.keep), when the next bytes come rather than as
   soon as the file is full: the current file always holds the last output,
   even the end of a line that filled several files. */
#include "proc_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "log.h"

#define CAP_BIG_PIPE (1024 * 1024)  /* a busy writer's pipe grows to this */
#define CAP_SLICE (8 * 1024 * 1024) /* bytes moved per wakeup before yielding */

void
proc__cap_init(proc__cap_t *cap, proc_t *p, const char *stream)
{
	memset(cap, 0, sizeof(*cap));
	cap->p = p;
	cap->stream = stream;
	cap->file_fd = -1;
	cap->io.fd = -1;
}

int
proc__cap_configure(proc__cap_t *cap, const conf_output_t *o, const char *log_dir,
		    const conf_vars_t *vars, const char *suffix)
{
	cap->mode = o->mode;
	cap->max_size = o->max_size;
	cap->keep = o->keep;
	if (o->mode != CONF_OUT_FILE)
		return 0;
	if (o->file != NULL)
		cap->path = conf_expand(o->file, vars);
	else if (asprintf(&cap->path, "%s/%s%s", log_dir, vars->name, suffix) < 0)
		cap->path = NULL;
	return cap->path == NULL ? -ENOMEM : 0;
}

static int
s_open_file(proc__cap_t *cap, bool truncate)
{
	cap->file_fd =
	    open(cap->path, O_WRONLY | O_CREAT | O_CLOEXEC | (truncate ? O_TRUNC : 0), 0640);
	if (cap->file_fd < 0)
		return -errno; /* the caller says it, once */
	cap->offset = truncate ? 0 : lseek(cap->file_fd, 0, SEEK_END);
	if (cap->offset < 0)
		cap->offset = 0;
	return 0;
}

static void
s_rotate(proc__cap_t *cap)
{
	char from[PATH_MAX], to[PATH_MAX];
	unsigned i;

	close(cap->file_fd);
	cap->file_fd = -1;
	for (i = cap->keep; i > 1; i--) {
		snprintf(from, sizeof(from), "%s.%u", cap->path, i - 1);
		snprintf(to, sizeof(to), "%s.%u", cap->path, i);
		rename(from, to);
	}
	if (cap->keep > 0) {
		snprintf(to, sizeof(to), "%s.%u", cap->path, 1u);
		rename(cap->path, to);
	}
	s_open_file(cap, true);
}

/* An error that says the file cannot grow now, but may later. */
static bool
s_disk_trouble(int err)
{
	return err == ENOSPC || err == EDQUOT || err == EFBIG || err == EIO;
}

/* The file cannot grow: said once, until it can again. */
static void
s_full(proc__cap_t *cap, int err)
{
	if (cap->full_errno != 0)
		return;
	cap->full_errno = err;
	log_error("%s: %s: %s: the worker's output is dropped until it can grow again",
		  cap->p->name, cap->path, strerror(err));
}

/* Writes buf[0..n) at the file's offset, going on after a short write;
   what cannot be written (the disk is full) is said once per file. */
static void
s_write_all(proc__cap_t *cap, const char *buf, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = pwrite(cap->file_fd, buf, n, cap->offset);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w < 0 && s_disk_trouble(errno))
				s_full(cap, errno);
			else
				log_error("%s: writing %s: %s: %zu bytes of output lost",
					  cap->p->name, cap->path,
					  w < 0 ? strerror(errno) : "nothing written", n);
			cap->dropped += (int64_t)n;
			return;
		}
		cap->offset += w;
		buf += w;
		n -= (size_t)w;
	}
}

/* True when the pipe holds no byte now (end of file, or a wakeup before
   the first byte). */
static bool
s_nothing_yet(proc__cap_t *cap)
{
	int pending = 0;

	return ioctl(cap->io.fd, FIONREAD, &pending) == 0 && pending == 0;
}

/* Moves what the pipe holds into the file, up to a slice per call so one
   chatty worker cannot starve the others. Returns true at end of file. */
static bool
s_pump(proc__cap_t *cap, size_t slice)
{
	char sink[65536];
	size_t moved = 0, want;
	ssize_t n;

	while (moved < slice) {
		if (cap->file_fd < 0 && s_nothing_yet(cap)) {
			/* No file is made for a worker that has said nothing: the
			   file opens with its first byte. A worker that exits
			   silent (end of file here) costs no file at all. */
			n = read(cap->io.fd, sink, 1);
			if (n <= 0)
				return n == 0 || !(errno == EAGAIN || errno == EINTR);
			if ((n = s_open_file(cap, false)) == 0) {
				s_write_all(cap, sink, 1); /* it came meanwhile */
			} else {
				s_full(cap, (int)-n);
				cap->dropped++;
			}
			moved++;
			continue;
		}
		if (cap->file_fd < 0 && (n = s_open_file(cap, false)) != 0) {
			/* No file: keep the worker running, drop its output. */
			s_full(cap, (int)-n);
			n = read(cap->io.fd, sink, sizeof(sink));
			if (n > 0)
				cap->dropped += n;
		} else {
			if (cap->max_size > 0 && cap->offset >= cap->max_size) {
				/* Full: the next byte, if one comes, goes to a new
				   file. It is read to know: asking FIONREAD and then
				   splicing raced a writer, and a byte went past the
				   limit. */
				n = read(cap->io.fd, sink, 1);
				if (n <= 0)
					return n == 0 || !(errno == EAGAIN || errno == EINTR);
				s_rotate(cap);
				if (cap->file_fd >= 0)
					s_write_all(cap, sink, 1);
				else
					cap->dropped++; /* the new file did not open */
				moved++;
				continue;
			}
			want = (size_t)cap->pipe_size;
			if (cap->max_size > 0 && cap->offset + (int64_t)want > cap->max_size)
				want = (size_t)(cap->max_size - cap->offset);
			n = splice(cap->io.fd, NULL, cap->file_fd, &cap->offset, want,
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n == -1 && errno == EINVAL) {
				/* A file system without splice support: copy, all of it. */
				n = read(cap->io.fd, sink, sizeof(sink));
				if (n > 0)
					s_write_all(cap, sink, (size_t)n);
			} else if (n == -1 && s_disk_trouble(errno)) {
				/* The file cannot grow: drop what waits rather than block
				   the worker, and try the file again with the next bytes. */
				s_full(cap, errno);
				n = read(cap->io.fd, sink, sizeof(sink));
				if (n > 0)
					cap->dropped += n;
			} else if (n > 0 && cap->full_errno != 0) {
				log_info("%s: writing %s again; %lld bytes of output were dropped "
					 "while it could not grow",
					 cap->p->name, cap->path, (long long)cap->dropped);
				cap->full_errno = 0;
				cap->dropped = 0;
			}
			if (n == cap->pipe_size && cap->pipe_size < CAP_BIG_PIPE) {
				/* A burst filled the pipe: give this writer a bigger one. */
				if (fcntl(cap->io.fd, F_SETPIPE_SZ, CAP_BIG_PIPE) > 0)
					cap->pipe_size = fcntl(cap->io.fd, F_GETPIPE_SZ);
			}
		}
		if (n == 0)
			return true;
		if (n < 0)
			return !(errno == EAGAIN || errno == EINTR);
		moved += (size_t)n;
	}
	return false;
}

static void
s_close_pipe(proc__cap_t *cap)
{
	if (cap->io.fd < 0)
		return;
	ev_io_stop(cap->p->core->ev, &cap->io);
	close(cap->io.fd);
	cap->io.fd = -1;
}

static void
s_on_readable(ev_t *ev, ev_io_t *io, uint32_t events)
{
	proc__cap_t *cap = io->arg;

	if (s_pump(cap, CAP_SLICE))
		s_close_pipe(cap);
}

int
proc__cap_open(proc__cap_t *cap, int *child_fd)
{
	int p[2], rc;

	*child_fd = -1;
	switch (cap->mode) {
	case CONF_OUT_NULL:
		return 0;
	case CONF_OUT_INHERIT:
		*child_fd = -2;
		return 0;
	case CONF_OUT_MERGE:
		return 0;
	case CONF_OUT_FILE:
		break;
	}
	s_close_pipe(cap);
	if (pipe2(p, O_CLOEXEC) == -1)
		return -errno;
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	cap->pipe_size = fcntl(p[0], F_GETPIPE_SZ);
	if (cap->pipe_size <= 0)
		cap->pipe_size = 65536;
	if ((rc = ev_io_start(cap->p->core->ev, &cap->io, p[0], EPOLLIN, s_on_readable, cap)) !=
	    0) {
		close(p[0]);
		close(p[1]);
		return rc;
	}
	*child_fd = p[1];
	return 0;
}

/* Upgrade in place: the read end of a pipe the previous program made for
   the running worker, with whatever it still holds, captured from here on.
   The file is opened again (appending) with the next bytes. */
int
proc__cap_adopt(proc__cap_t *cap, int fd)
{
	int rc;

	if (cap->mode != CONF_OUT_FILE) {
		close(fd);
		return 0;
	}
	s_close_pipe(cap);
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	cap->pipe_size = fcntl(fd, F_GETPIPE_SZ);
	if (cap->pipe_size <= 0)
		cap->pipe_size = 65536;
	if ((rc = ev_io_start(cap->p->core->ev, &cap->io, fd, EPOLLIN, s_on_readable, cap)) != 0)
		close(fd);
	return rc;
}

/* The worker exited: everything it wrote is in the pipe now; move it all,
   then close the pipe (the next spawn makes a new one). */
void
proc__cap_drain_close(proc__cap_t *cap)
{
	if (cap->io.fd < 0)
		return;
	s_pump(cap, SIZE_MAX);
	s_close_pipe(cap);
}

void
proc__cap_free(proc__cap_t *cap)
{
	proc__cap_drain_close(cap);
	if (cap->file_fd >= 0)
		close(cap->file_fd);
	cap->file_fd = -1;
	free(cap->path);
	cap->path = NULL;
}
