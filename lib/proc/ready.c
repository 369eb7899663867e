/* Readiness: a STARTING worker becomes RUNNING once start_timeout has passed
   and its ready check has succeeded. Checks: a TCP connect, an HTTP GET that
   answers 2xx, a command that exits 0 (each retried every interval), a delay,
   or READY=1 sent by the worker on $NOTIFY_SOCKET (the sd_notify protocol;
   one datagram socket for all workers, the sender known by SCM_CREDENTIALS). */
#include "proc_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

static void s_probe_next(ev_t *ev, ev_timer_t *t);

/* ---- sd_notify ---- */

static void
s_on_notify(ev_t *ev, ev_io_t *io, uint32_t events)
{
	proc_core_t *core = io->arg;
	char buf[4096];
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(struct ucred))];
	} ctl;
	struct iovec iov = {buf, sizeof(buf) - 1};
	struct msghdr mh;
	struct cmsghdr *cm;
	struct ucred *cred;
	proc__child_t *c;
	proc_t *p;
	ssize_t n;

	for (;;) {
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = &ctl;
		mh.msg_controllen = sizeof(ctl);
		n = recvmsg(core->notify_fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0)
			return;
		buf[n] = '\0';
		cred = NULL;
		for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm))
			if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_CREDENTIALS)
				cred = (struct ucred *)CMSG_DATA(cm);
		if (cred == NULL || (c = proc__pid_find(core, cred->pid)) == NULL)
			continue; /* not from one of our workers: ignore */
		p = (proc_t *)((char *)c - offsetof(proc_t, child));
		if (&p->child != c)
			continue;
		if (strstr(buf, "READY=1") != NULL &&
		    (buf == strstr(buf, "READY=1") || strstr(buf, "\nREADY=1") != NULL))
			proc__step(p, PEV_READY, NULL);
	}
}

int
proc__notify_init(proc_core_t *core, const char *addr, int fd)
{
	struct sockaddr_un sa;
	socklen_t len;
	int one = 1;
	static unsigned seq;

	if (addr != NULL && fd >= 0 && strlen(addr) < sizeof(core->notify_addr)) {
		/* Upgrade in place: the workers know this address already. */
		core->notify_fd = fd;
		snprintf(core->notify_addr, sizeof(core->notify_addr), "%s", addr);
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		return ev_io_start(core->ev, &core->notify_io, fd, EPOLLIN, s_on_notify, core);
	}
	core->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (core->notify_fd < 0)
		return -errno;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	/* An abstract address: nothing on disk to clean up or to collide with. */
	snprintf(core->notify_addr, sizeof(core->notify_addr), "@drover-notify-%d-%u",
		 (int)getpid(), seq++);
	memcpy(sa.sun_path + 1, core->notify_addr + 1, strlen(core->notify_addr) - 1);
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(core->notify_addr));
	if (bind(core->notify_fd, (struct sockaddr *)&sa, len) == -1 ||
	    setsockopt(core->notify_fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) == -1)
		return -errno;
	return ev_io_start(core->ev, &core->notify_io, core->notify_fd, EPOLLIN, s_on_notify, core);
}

void
proc__notify_close(proc_core_t *core)
{
	if (core->notify_fd < 0)
		return;
	ev_io_stop(core->ev, &core->notify_io);
	close(core->notify_fd);
	core->notify_fd = -1;
}

/* ---- probes ---- */

static void
s_probe_close(proc_t *p)
{
	if (p->probe_io.fn != NULL)
		ev_io_stop(p->core->ev, &p->probe_io);
	if (p->probe_state != PROBE_IDLE && p->probe_io.fd >= 0 && p->probe_child.pid == 0)
		close(p->probe_io.fd);
	p->probe_io.fd = -1;
	p->probe_state = PROBE_IDLE;
	free(p->probe_req);
	p->probe_req = NULL;
}

/* This attempt failed: try again after the interval. */
static void
s_probe_retry(proc_t *p)
{
	s_probe_close(p);
	if (p->state == PROC_STARTING && !p->ready)
		ev_timer_start(p->core->ev, &p->probe_timer,
			       clock_ms() + p->grp->cg->ready.interval_ms, s_probe_next, p);
}

static void
s_probe_ok(proc_t *p)
{
	s_probe_close(p);
	proc__step(p, PEV_READY, NULL);
}

/* Splits "host:port", "[v6]:port" or an http URL into host, port, path. */
static int
s_split(const char *target, bool http, char *host, size_t hl, char *port, size_t pl,
	const char **path)
{
	const char *h = target, *e, *colon;

	*path = "/";
	if (http) {
		if (strncmp(h, "http://", 7) != 0)
			return -EINVAL;
		h += 7;
	}
	e = h + strcspn(h, "/");
	if (http && *e == '/')
		*path = e;
	if (*h == '[') {
		colon = memchr(h, ']', (size_t)(e - h));
		if (colon == NULL)
			return -EINVAL;
		snprintf(host, hl, "%.*s", (int)(colon - h - 1), h + 1);
		colon++;
	} else {
		colon = memchr(h, ':', (size_t)(e - h));
		snprintf(host, hl, "%.*s", (int)((colon ? colon : e) - h), h);
	}
	if (colon != NULL && *colon == ':')
		snprintf(port, pl, "%.*s", (int)(e - colon - 1), colon + 1);
	else if (http)
		snprintf(port, pl, "80");
	else
		return -EINVAL;
	return 0;
}

static void
s_on_probe_io(ev_t *ev, ev_io_t *io, uint32_t events)
{
	proc_t *p = io->arg;
	char buf[256];
	int err = 0;
	socklen_t len = sizeof(err);
	ssize_t n;

	switch (p->probe_state) {
	case PROBE_CONNECTING:
		if (getsockopt(io->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1 || err != 0) {
			s_probe_retry(p);
			return;
		}
		if (p->grp->cg->ready.kind == CONF_READY_TCP) {
			s_probe_ok(p);
			return;
		}
		p->probe_state = PROBE_SENDING;
		/* fall through */
	case PROBE_SENDING:
		n = send(io->fd, p->probe_req + p->probe_req_off,
			 strlen(p->probe_req) - p->probe_req_off, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno != EAGAIN)
				s_probe_retry(p);
			return;
		}
		p->probe_req_off += (size_t)n;
		if (p->probe_req_off == strlen(p->probe_req)) {
			p->probe_state = PROBE_READING;
			ev_io_modify(ev, io, EPOLLIN);
		}
		return;
	case PROBE_READING:
		/* The status line fits in the first segment of any real server. */
		n = recv(io->fd, buf, sizeof(buf) - 1, 0);
		if (n < 0 && errno == EAGAIN)
			return;
		if (n >= 12) {
			buf[n] = '\0';
			if (strncmp(buf, "HTTP/1.", 7) == 0 && buf[9] == '2') {
				s_probe_ok(p);
				return;
			}
		}
		s_probe_retry(p);
		return;
	default:
		return;
	}
}

static void
s_probe_connect(proc_t *p)
{
	const conf_ready_t *r = &p->grp->cg->ready;
	struct addrinfo hints, *ai = NULL;
	char host[256], port[32];
	const char *path;
	int fd, rc;

	if (p->ready_target == NULL || s_split(p->ready_target, r->kind == CONF_READY_HTTP, host,
					       sizeof(host), port, sizeof(port), &path) != 0) {
		proc__step(p, PEV_NOT_READY, "bad ready target");
		return;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if (getaddrinfo(host, port, &hints, &ai) != 0 || ai == NULL) {
		s_probe_retry(p);
		return;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		freeaddrinfo(ai);
		s_probe_retry(p);
		return;
	}
	rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	if (rc == -1 && errno != EINPROGRESS) {
		close(fd);
		s_probe_retry(p);
		return;
	}
	if (r->kind == CONF_READY_HTTP) {
		if (asprintf(&p->probe_req,
			     "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: droverd\r\n\r\n", path,
			     host) < 0)
			p->probe_req = NULL;
		p->probe_req_off = 0;
	}
	p->probe_state = PROBE_CONNECTING;
	if (ev_io_start(p->core->ev, &p->probe_io, fd, EPOLLOUT, s_on_probe_io, p) != 0) {
		close(fd);
		p->probe_state = PROBE_IDLE;
		s_probe_retry(p);
	}
}

#define PROBE_OF_CHILD(c) ((proc_t *)((char *)(c)-offsetof(proc_t, probe_child)))

static void
s_on_probe_exit(proc__child_t *c, int wstat)
{
	proc_t *p = PROBE_OF_CHILD(c);

	c->pid = 0;
	p->probe_state = PROBE_IDLE;
	if (WIFEXITED(wstat) && WEXITSTATUS(wstat) == 0)
		s_probe_ok(p);
	else
		s_probe_retry(p);
}

static void
s_probe_exec(proc_t *p)
{
	const conf_ready_t *r = &p->grp->cg->ready;
	conf_vars_t vars = {p->grp->name, p->instance, p->name, p->core->host, NULL, 0};
	proc__spawn_spec_t s;
	extern char **environ;
	const char *stage;
	char **argv;
	size_t n = 0, i;
	pid_t pid;

	while (r->exec_argv != NULL && r->exec_argv[n] != NULL)
		n++;
	if (n == 0) {
		proc__step(p, PEV_NOT_READY, "empty ready command");
		return;
	}
	argv = calloc(n + 1, sizeof(*argv));
	if (argv == NULL) {
		s_probe_retry(p);
		return;
	}
	for (i = 0; i < n; i++)
		argv[i] = conf_expand(r->exec_argv[i], &vars);
	memset(&s, 0, sizeof(s));
	s.argv = argv;
	s.envp = environ;
	s.path = proc__which(argv[0], environ);
	s.fd_in = s.fd_out = s.fd_err = -1;
	s.umask = -1;
	s.nofile = p->core->nofile0;
	s.limit_core = s.limit_memory = s.limit_nproc = s.limit_nofile = -1;
	s.cwd = p->core->dir;
	pid = s.path ? proc__exec(p->core, &s, &stage) : -ENOENT;
	for (i = 0; i < n; i++)
		free(argv[i]);
	free(argv);
	free((char *)s.path);
	if (pid < 0) {
		s_probe_retry(p);
		return;
	}
	p->probe_child.pid = pid;
	p->probe_child.on_exit = s_on_probe_exit;
	p->probe_state = PROBE_CONNECTING;
	proc__pid_add(p->core, &p->probe_child);
}

static void
s_probe_next(ev_t *ev, ev_timer_t *t)
{
	proc_t *p = t->arg;

	if (p->state != PROC_STARTING || p->ready || p->probe_state != PROBE_IDLE)
		return;
	switch (p->grp->cg->ready.kind) {
	case CONF_READY_TCP:
	case CONF_READY_HTTP:
		s_probe_connect(p);
		break;
	case CONF_READY_EXEC:
		s_probe_exec(p);
		break;
	default:
		break;
	}
}

static void
s_delay_done(ev_t *ev, ev_timer_t *t)
{
	proc__step(t->arg, PEV_READY, NULL);
}

void
proc__probe_start(proc_t *p)
{
	const conf_ready_t *r = &p->grp->cg->ready;

	p->probe_io.fd = -1;
	switch (r->kind) {
	case CONF_READY_DELAY:
		ev_timer_start(p->core->ev, &p->probe_timer, p->started_ms + r->delay_ms,
			       s_delay_done, p);
		break;
	case CONF_READY_TCP:
	case CONF_READY_HTTP:
	case CONF_READY_EXEC:
		ev_timer_start(p->core->ev, &p->probe_timer, p->started_ms, s_probe_next, p);
		break;
	default:
		break;
	}
}

void
proc__probe_stop(proc_t *p)
{
	ev_timer_stop(p->core->ev, &p->probe_timer);
	if (p->probe_child.pid > 0) {
		kill(-p->probe_child.pid, SIGKILL);
		proc__pid_del(p->core, &p->probe_child);
		p->probe_child.pid = 0; /* reaped by the SIGCHLD loop as a stranger */
	}
	s_probe_close(p);
}
