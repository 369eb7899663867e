/* The HTTP API under clients that misbehave on purpose: connections that
   hang up half-way or are held open, oversized query strings, tokens and
   names with bytes after a NUL, event subscribers that never read. Each
   test is what an attacker on loopback could do without a token. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define N_FLOOD 1100 /* beyond the API's 1000 connections */

static drv_t d;

static int64_t
clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
teardown(void)
{
	drv_cleanup(&d);
}

static void
start(void)
{
	struct rlimit rl;

	/* The floods need more descriptors than the usual 1024. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4096 && rl.rlim_max >= 4096) {
		rl.rlim_cur = 4096;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	cr_assert_eq(drv_start(&d, "groups:\n"
				   "  db:\n"
				   "    command: [sleep, '3600']\n"
				   "    start_timeout: 0s\n"),
		     0);
	cr_assert(drv_wait_state(&d, "db:0", "RUNNING", 5000));
}

/* A connected socket to the API, or -1. rcvbuf > 0 shrinks its receive
   buffer (a reader that falls behind at once). */
static int
s_connect(int rcvbuf)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	sa.sin_port = htons((uint16_t)d.port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Sends req (len bytes, NULs allowed) on a new connection and returns the
   status of the answer, or -1 when none came within timeout_ms. */
static int
s_raw(const char *req, size_t len, int timeout_ms)
{
	char buf[256];
	size_t got = 0;
	int64_t deadline = clock_ms() + timeout_ms;
	int fd = s_connect(0), status = -1;
	struct pollfd p;
	ssize_t k;

	if (fd < 0)
		return -1;
	if (write(fd, req, len) != (ssize_t)len)
		goto out;
	p.fd = fd;
	p.events = POLLIN;
	while (got < sizeof(buf) - 1 && memchr(buf, '\n', got) == NULL) {
		int64_t left = deadline - clock_ms();

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			goto out;
		if ((k = read(fd, buf + got, sizeof(buf) - 1 - got)) <= 0)
			goto out;
		got += (size_t)k;
	}
	buf[got] = '\0';
	if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
		status = -1;
out:
	close(fd);
	return status;
}

static int
s_get(const char *path, int timeout_ms)
{
	char req[16384];
	int n = snprintf(req, sizeof(req),
			 "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);

	cr_assert(n > 0 && (size_t)n < sizeof(req));
	return s_raw(req, (size_t)n, timeout_ms);
}

/* How many descriptors droverd has open. */
static int
s_fds(pid_t pid)
{
	char path[64];
	struct dirent *e;
	DIR *dir;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	if ((dir = opendir(path)) == NULL)
		return -1;
	while ((e = readdir(dir)) != NULL)
		n += e->d_name[0] != '.';
	closedir(dir);
	return n;
}

Test(api_limits, hung_up_connections_are_released_at_once, .fini = teardown, .timeout = 60)
{
	static int fds[N_FLOOD];
	int base, now = -1, i, n = 0;
	int64_t deadline;

	start();
	base = s_fds(d.pid);
	/* Each sends the start of a request line and hangs up: with the FIN
	   right behind the bytes, droverd must still see the hang-up. */
	for (i = 0; i < N_FLOOD; i++) {
		if ((fds[i] = s_connect(0)) < 0)
			break;
		n++;
		cr_assert_eq(write(fds[i], "GET /api/v1/sta", 15), 15);
	}
	cr_assert_eq(n, N_FLOOD, "connect: %s", strerror(errno));
	for (i = 0; i < n; i++)
		close(fds[i]);
	/* Every one of them is gone within seconds, not at the 60 s timeout. */
	deadline = clock_ms() + 10000;
	while (clock_ms() < deadline && (now = s_fds(d.pid)) > base)
		drv_sleep_ms(100);
	cr_assert_leq(now, base, "droverd still holds %d connections of %d", now - base, n);
	cr_assert_eq(s_get("/api/v1/status", 5000), 200);
}

Test(api_limits, held_connections_leave_room_for_others, .fini = teardown, .timeout = 60)
{
	static int fds[N_FLOOD];
	int i, n = 0;

	start();
	/* Each sends the start of a request line and then nothing. */
	for (i = 0; i < N_FLOOD; i++) {
		if ((fds[i] = s_connect(0)) < 0)
			break;
		n++;
		cr_assert_eq(write(fds[i], "GET /api/v1/sta", 15), 15);
	}
	cr_assert_eq(n, N_FLOOD, "connect: %s", strerror(errno));
	/* Someone else is still answered, at once. */
	cr_assert_eq(s_get("/api/v1/status", 5000), 200);
	cr_assert_eq(s_get("/api/v1/processes/db:0", 5000), 200);
	for (i = 0; i < n; i++)
		close(fds[i]);
	cr_assert_eq(s_get("/api/v1/status", 5000), 200);
}

Test(api_limits, a_long_query_is_answered_at_once, .fini = teardown, .timeout = 30)
{
	char path[16384];
	size_t o;
	int i;

	start();
	for (int n = 0; n <= 500; n += 100) {
		o = (size_t)snprintf(path, sizeof(path), "/api/v1/processes/db:0/logs?tail=5");
		for (i = 0; i < n; i++)
			o += (size_t)snprintf(path + o, sizeof(path) - o, "&a%d=1", i);
		/* Up to the limit the call works; beyond it, a 400 at once. */
		cr_assert_eq(s_get(path, 5000), n < 100 ? 200 : 400, "%d arguments", n);
	}
	/* Arguments without a value, as many as fit. */
	o = (size_t)snprintf(path, sizeof(path), "/api/v1/status?");
	while (o < 8000)
		path[o++] = '&';
	path[o] = '\0';
	cr_assert_eq(s_get(path, 5000), 400);
	/* A target over 8 KiB: 414. */
	o = (size_t)snprintf(path, sizeof(path), "/api/v1/status?x=");
	while (o < 12000)
		path[o++] = 'x';
	path[o] = '\0';
	cr_assert_eq(s_get(path, 5000), 414);
	cr_assert_eq(s_get("/api/v1/status", 5000), 200);
}

Test(api_limits, token_and_names_are_compared_whole, .fini = teardown, .timeout = 30)
{
	static const char head[] = "POST /api/v1/processes/db:0/stop HTTP/1.1\r\nHost: x\r\n"
				   "Content-Length: 0\r\nConnection: close\r\n"
				   "Authorization: Bearer " DRV_TOKEN;
	char req[512];
	size_t n;
	pid_t pid;

	start();
	pid = drv_pid(&d, "db:0");
	/* The token and more, or less of it: not the token. (After a NUL,
	   libmicrohttpd 0.9.75 itself drops the rest of a header line, so
	   "TOKEN\0junk" reaches droverd as the token.) */
	memcpy(req, head, sizeof(head) - 1);
	n = sizeof(head) - 1;
	memcpy(req + n, "junk\r\n\r\n", 8);
	cr_assert_eq(s_raw(req, n + 8, 5000), 401);
	n = sizeof(head) - 1 - 3;
	memcpy(req + n, "\r\n\r\n", 4);
	cr_assert_eq(s_raw(req, n + 4, 5000), 401);
	cr_assert_eq(drv_pid(&d, "db:0"), pid);
	/* A name never holds a NUL or a '/'. */
	cr_assert_eq(s_get("/api/v1/processes/db:0%2f", 5000), 400);
	cr_assert_eq(s_get("/api/v1/processes/db:0%2Flogs", 5000), 400);
	cr_assert_eq(s_get("/api/v1/processes/db:0%00junk", 5000), 400);
	cr_assert_eq(s_get("/api/v1/groups/db%00x", 5000), 400);
	cr_assert_eq(s_get("/api/v1/processes/db:0/logs?stream=stdout%00x", 5000), 400);
	cr_assert_eq(s_get("/api/v1/processes/db%3A0", 5000), 200);
	/* The real token still works. */
	memcpy(req, head, sizeof(head) - 1);
	n = sizeof(head) - 1;
	memcpy(req + n, "\r\n\r\n", 4);
	cr_assert_eq(s_raw(req, n + 4, 5000), 200);
}

/* How many of the n client sockets fds still have droverd's end
   ESTABLISHED (droverd closing its end moves it on at once, whatever its
   client reads). */
static int
s_established(const int *fds, int n)
{
	char line[512], want[16];
	FILE *f;
	bool seen[256] = {false};
	int count = 0;

	if (n > 256 || (f = fopen("/proc/net/tcp", "r")) == NULL)
		return -1;
	snprintf(want, sizeof(want), ":%04X", d.port);
	while (fgets(line, sizeof(line), f) != NULL) {
		char local[64], remote[64];
		unsigned state, rport;
		const char *colon;

		if (sscanf(line, " %*d: %63s %63s %x", local, remote, &state) != 3 || state != 1 ||
		    strstr(local, want) == NULL || (colon = strchr(remote, ':')) == NULL ||
		    sscanf(colon + 1, "%x", &rport) != 1)
			continue;
		for (int i = 0; i < n; i++) {
			struct sockaddr_in sa;
			socklen_t len = sizeof(sa);

			if (getsockname(fds[i], (struct sockaddr *)&sa, &len) == 0 &&
			    ntohs(sa.sin_port) == rport) {
				count += !seen[i]; /* a line may be read twice */
				seen[i] = true;
				break;
			}
		}
	}
	fclose(f);
	return count;
}

Test(api_limits, event_streams_that_fall_behind_are_bounded_together, .fini = teardown,
     .timeout = 90)
{
	enum { N_SUBS = 60 };
	static const char sub[] = "GET /api/v1/events HTTP/1.1\r\nHost: x\r\n\r\n";
	char *yaml, *p, *body = NULL;
	int fds[N_SUBS], i, open_ = -1;
	size_t cap = 2 * 1024 * 1024;
	int64_t deadline;

	start();
	for (i = 0; i < N_SUBS; i++) {
		cr_assert_geq(fds[i] = s_connect(4096), 0);
		cr_assert_eq(write(fds[i], sub, sizeof(sub) - 1), (ssize_t)(sizeof(sub) - 1));
	}
	deadline = clock_ms() + 10000;
	while (clock_ms() < deadline && s_established(fds, N_SUBS) < N_SUBS)
		drv_sleep_ms(50);
	cr_assert_eq(i = s_established(fds, N_SUBS), N_SUBS, "%d streams open", i);
	/* A config with 12000 errors: each reload sends every subscriber an
	   event of about 1.1 MB, which none of them reads. Three of them stay
	   under one stream's own bound, and go well over all streams'
	   together. */
	cr_assert_not_null(yaml = malloc(cap));
	p = yaml + sprintf(yaml, "groups:\n  db:\n    command: [sleep, '3600']\n");
	for (i = 0; i < 12000; i++)
		p += sprintf(p, "    no_such_key_%d: 1\n", i);
	cr_assert_lt((size_t)(p - yaml), cap);
	cr_assert_eq(drv_rewrite(&d, yaml), 0);
	free(yaml);
	for (i = 0; i < 3; i++) {
		cr_assert_eq(drv_http(&d, "POST", "/api/v1/reload", NULL, true, &body), 422);
		free(body);
	}
	/* Streams furthest behind are closed until the rest fit; not all. */
	deadline = clock_ms() + 5000;
	while (clock_ms() < deadline && (open_ = s_established(fds, N_SUBS)) == N_SUBS)
		drv_sleep_ms(50);
	cr_assert_lt(open_, N_SUBS, "all %d streams still open", open_);
	cr_assert_geq(open_, 10, "only %d streams left", open_);
	for (i = 0; i < N_SUBS; i++)
		close(fds[i]);
	cr_assert_eq(s_get("/api/v1/status", 5000), 200);
}

/* A worker that writes 3 MiB without a newline into a log of 1 MiB files:
   the current file keeps the end of the line, and the API gives it in
   pieces of 64 KiB, by tail and by follow. */
Test(api_limits, a_line_without_end_stays_readable, .fini = teardown, .timeout = 60)
{
	json_t *o = NULL, *lines;
	const char *l;
	char path[400];
	size_t i;

	cr_assert_eq(
	    drv_start(&d, "groups:\n"
			  "  long:\n"
			  "    command: \"head -c 3145728 /dev/zero | tr '\\\\0' x; exec sleep "
			  "3600\"\n"
			  "    start_timeout: 0s\n"
			  "    stdout: { file: auto, max_size: 1MB, keep: 3 }\n"),
	    0);
	cr_assert(drv_wait_state(&d, "long:0", "RUNNING", 5000));
	for (int waited = 0; waited < 10000; waited += 100) {
		json_decref(o);
		o = drv_get_json(&d, "/api/v1/processes/long:0/logs?tail=3");
		cr_assert_not_null(o);
		/* All 3 MiB are in once the first MiB was rotated twice. */
		snprintf(path, sizeof(path), "%s/var/log/long:0.out.2", d.dir);
		if (json_array_size(json_object_get(o, "lines")) == 3 &&
		    json_integer_value(json_object_get(o, "offset")) == 1024 * 1024 &&
		    access(path, F_OK) == 0)
			break;
		drv_sleep_ms(100);
	}
	lines = json_object_get(o, "lines");
	cr_assert_eq(json_array_size(lines), 3, "%s", json_dumps(o, 0));
	cr_assert_eq(json_integer_value(json_object_get(o, "offset")), 1024 * 1024);
	for (i = 0; i < 3; i++) {
		l = json_string_value(json_array_get(lines, i));
		cr_assert_eq(strlen(l), 65536);
		cr_assert_eq(strspn(l, "x"), 65536);
	}
	/* Following the file from its start: whole pieces, the last one
	   waiting for the line to end or grow. */
	snprintf(path, sizeof(path), "/api/v1/processes/long:0/logs?offset=0&inode=%lld",
		 (long long)json_integer_value(json_object_get(o, "inode")));
	json_decref(o);
	o = drv_get_json(&d, path);
	lines = json_object_get(o, "lines");
	cr_assert_eq(json_array_size(lines), 15);
	for (i = 0; i < 15; i++)
		cr_assert_eq(strlen(json_string_value(json_array_get(lines, i))), 65536);
	cr_assert_eq(json_integer_value(json_object_get(o, "offset")), 15 * 65536);
	json_decref(o);
}
