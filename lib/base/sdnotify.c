/* sdnotify: systemd's notification protocol, written here rather than
   through libsystemd: a datagram of NAME=VALUE lines to $NOTIFY_SOCKET, a
   file system socket ("/run/..."), an abstract one ("@..."), or a vsock
   ("vsock:CID:PORT"), as sd_notify(3) and systemd's "notify socket"
   interface describe it. libsystemd and what it pulls in (libgcrypt,
   libgpg-error, liblzma, libzstd, liblz4, libcap) cost every drover-agent
   and droverd about 1 MiB of RSS for these few lines. The environment is
   left as it is: the process engine does not pass NOTIFY_SOCKET on to
   workers, and WATCHDOG_PID names this process, not theirs. */
#include "sdnotify.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

#ifdef DROVER_HAVE_SYSTEMD
#include <linux/vm_sockets.h>

static int64_t s_watchdog_ms;

/* Sends what to $NOTIFY_SOCKET: 0 (also when it is not set) or -errno. */
static int
s_send(const char *what)
{
	const char *path = getenv("NOTIFY_SOCKET");
	union {
		struct sockaddr sa;
		struct sockaddr_un un;
		struct sockaddr_vm vm;
	} addr;
	socklen_t len;
	size_t n;
	int fd, type = SOCK_DGRAM, rc = 0;
	unsigned cid, port;

	if (path == NULL || path[0] == '\0')
		return 0;
	memset(&addr, 0, sizeof(addr));
	if (path[0] == '/' || path[0] == '@') {
		n = strlen(path);
		if (n >= sizeof(addr.un.sun_path))
			return -ENAMETOOLONG;
		addr.un.sun_family = AF_UNIX;
		memcpy(addr.un.sun_path, path, n);
		if (path[0] == '@')
			addr.un.sun_path[0] = '\0'; /* the abstract namespace */
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	} else if (sscanf(path, "vsock:%u:%u", &cid, &port) == 2) {
		addr.vm.svm_family = AF_VSOCK;
		addr.vm.svm_cid = cid;
		addr.vm.svm_port = port;
		len = sizeof(addr.vm);
		type = SOCK_SEQPACKET;
	} else {
		return -EAFNOSUPPORT;
	}
	if ((fd = socket(addr.sa.sa_family, type | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	if (type == SOCK_DGRAM) {
		if (sendto(fd, what, strlen(what), MSG_NOSIGNAL, &addr.sa, len) < 0)
			rc = -errno;
	} else if (connect(fd, &addr.sa, len) != 0 ||
		   send(fd, what, strlen(what), MSG_NOSIGNAL) < 0) {
		rc = -errno;
	}
	close(fd);
	return rc;
}

static void
s_notify(const char *what)
{
	int rc = s_send(what);

	if (rc < 0)
		log_warn("systemd notification %s: %s", what, strerror(-rc));
}

static void
s_on_watchdog(ev_t *ev, ev_timer_t *t)
{
	s_send("WATCHDOG=1");
	ev_timer_start(ev, t, clock_ms() + s_watchdog_ms, s_on_watchdog, NULL);
}

void
sdn_ready(const char *status)
{
	char buf[512];

	snprintf(buf, sizeof(buf), "READY=1\nSTATUS=%s", status ? status : "running");
	s_notify(buf);
}

void
sdn_reloading(void)
{
	s_notify("RELOADING=1\nSTATUS=reloading");
}

void
sdn_stopping(int64_t within_ms)
{
	char buf[128];

	if (within_ms > 0)
		snprintf(buf, sizeof(buf), "STOPPING=1\nSTATUS=stopping\nEXTEND_TIMEOUT_USEC=%lld",
			 (long long)within_ms * 1000);
	else
		snprintf(buf, sizeof(buf), "STOPPING=1\nSTATUS=stopping");
	s_notify(buf);
}

/* The unit's watchdog interval in microseconds, or 0: WATCHDOG_USEC, when
   WATCHDOG_PID (if set) is this process (sd_watchdog_enabled(3)). */
static unsigned long long
s_watchdog_usec(void)
{
	const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	unsigned long long v;
	char *end;

	if (usec == NULL || getenv("NOTIFY_SOCKET") == NULL)
		return 0;
	errno = 0;
	v = strtoull(usec, &end, 10);
	if (errno != 0 || end == usec || *end != '\0')
		return 0;
	if (pid != NULL && strtoll(pid, NULL, 10) != (long long)getpid())
		return 0;
	return v;
}

int64_t
sdn_watchdog_start(ev_t *ev, ev_timer_t *t)
{
	unsigned long long usec = s_watchdog_usec();

	if (usec == 0)
		return 0;
	s_watchdog_ms = (int64_t)(usec / 2000);
	if (s_watchdog_ms < 1)
		s_watchdog_ms = 1;
	s_send("WATCHDOG=1");
	ev_timer_start(ev, t, clock_ms() + s_watchdog_ms, s_on_watchdog, NULL);
	return s_watchdog_ms;
}

#else /* a build without notifications (DROVER_SYSTEMD=OFF) */

void
sdn_ready(const char *status)
{
	(void)status;
}

void
sdn_reloading(void)
{
}

void
sdn_stopping(int64_t within_ms)
{
	(void)within_ms;
}

int64_t
sdn_watchdog_start(ev_t *ev, ev_timer_t *t)
{
	(void)ev;
	(void)t;
	return 0;
}
#endif
