/* queue_upgrade_host: a queue host in a process of its own, driven on its
   standard input, that upgrades itself in place the way droverd does:
   queue_host_export() into a memfd, then an exec of itself that hands the
   listening socket and the memfd to the next process, which makes its host
   from them before anything else. For the tests of the upgrade
   (test_upgrade.c, tests/integration/python/test_upgrade.py).

     queue_upgrade_host CONF [LISTEN_FD IMPORT_FD]

   Prints "ready PORT leaked=FDS" once its host serves, FDS being the
   descriptors it found open at start other than 0-2 and the two it was
   given (empty: nothing leaked through the exec). Then reads commands, one
   a line:
     upgrade    export, then exec itself (if the exec fails, as fail-exec)
     fail-exec  export, destroy, and a new host from a dup of the listening
                socket and the export: droverd's way when its exec fails
     stats      prints the queues' statistics, one JSON line
     quit       destroys the host and exits 0
   Errors are one line "error ..." and exit 1. Logs go to stderr. */
#include <czmq.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "queue_host.h"

static void
s_say(const char *a, const char *b)
{
	printf("%s%s\n", a, b);
	fflush(stdout);
}

static void
s_die(const char *what, const char *why)
{
	printf("error %s: %s\n", what, why ? why : "?");
	fflush(stdout);
	exit(1);
}

/* The descriptors open now beyond 0-2 but a and b, as "3,7". */
static void
s_open_fds(int a, int b, char *out, size_t len)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	size_t used = 0;

	out[0] = '\0';
	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		int fd = atoi(e->d_name);

		if (e->d_name[0] == '.' || fd <= 2 || fd == a || fd == b || fd == dirfd(d))
			continue;
		used += (size_t)snprintf(out + used, len > used ? len - used : 0, "%s%d",
					 used ? "," : "", fd);
	}
	closedir(d);
}

/* One line of standard input, read a byte at a time: nothing is left in a
   buffer that an exec would lose. NULL at the end. */
static char *
s_line(char *buf, size_t len)
{
	size_t n = 0;
	char ch;

	while (n + 1 < len) {
		ssize_t r = read(0, &ch, 1);

		if (r <= 0)
			return n > 0 ? (buf[n] = '\0', buf) : NULL;
		if (ch == '\n')
			break;
		buf[n++] = ch;
	}
	buf[n] = '\0';
	return buf;
}

static int
s_export(queue_host_t *h)
{
	int mfd = memfd_create("drover-queue-export", MFD_CLOEXEC);
	char *err = NULL;

	if (mfd < 0)
		s_die("memfd_create", strerror(errno));
	if (queue_host_export(h, mfd, &err) != 0)
		s_die("export", err);
	return mfd;
}

int
main(int argc, char **argv)
{
	conf_t *conf = NULL;
	char *err = NULL, leaked[512], line[256], port[16];
	int lfd = -1, mfd = -1;
	queue_host_t *h;

	if (argc != 2 && argc != 4) {
		fprintf(stderr, "usage: %s CONF [LISTEN_FD IMPORT_FD]\n", argv[0]);
		return 2;
	}
	if (argc == 4) {
		lfd = atoi(argv[2]);
		mfd = atoi(argv[3]);
	}
	s_open_fds(lfd, mfd, leaked, sizeof(leaked));
	if (argc == 2) /* what the test runner left open is not ours to judge */
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
	zsys_handler_set(NULL);
	if (getenv("DROVER_TEST_DEBUG"))
		log_set_level(DLOG_DEBUG);
	if (conf_load(argv[1], &conf, &err) != 0)
		s_die("config", err);
	if ((h = queue_host_new(conf, lfd, mfd, &err)) == NULL)
		s_die("queue_host_new", err);
	if (mfd >= 0)
		close(mfd);
	snprintf(port, sizeof(port), "%s", strrchr(conf->queues_listen, ':') + 1);
	printf("ready %s leaked=%s\n", port, argc == 4 ? leaked : "");
	fflush(stdout);
	while (s_line(line, sizeof(line)) != NULL) {
		if (strcmp(line, "upgrade") == 0) {
			char a[16], b[16];

			mfd = s_export(h);
			lfd = queue_host_listen_fd(h);
			/* droverd's way: close-on-exec off for these two only */
			fcntl(lfd, F_SETFD, 0);
			fcntl(mfd, F_SETFD, 0);
			snprintf(a, sizeof(a), "%d", lfd);
			snprintf(b, sizeof(b), "%d", mfd);
			execv("/proc/self/exe", (char *[]){argv[0], argv[1], a, b, NULL});
			fprintf(stderr, "exec: %s: a new host from the export\n", strerror(errno));
			fcntl(mfd, F_SETFD, FD_CLOEXEC);
			goto failed_exec;
		} else if (strcmp(line, "fail-exec") == 0) {
			mfd = s_export(h);
		failed_exec:
			lfd = dup(queue_host_listen_fd(h));
			queue_host_destroy(&h);
			if ((h = queue_host_new(conf, lfd, mfd, &err)) == NULL)
				s_die("queue_host_new after the export", err);
			close(mfd);
			printf("ready %s leaked=\n", port); /* no exec: nothing crossed one */
			fflush(stdout);
		} else if (strcmp(line, "stats") == 0) {
			json_t *j = queue_host_stats(h);
			char *text = json_dumps(j, JSON_COMPACT);

			s_say(text, "");
			free(text);
			json_decref(j);
		} else if (strcmp(line, "quit") == 0) {
			break;
		} else {
			s_say("error unknown command ", line);
		}
	}
	queue_host_destroy(&h);
	conf_free(&conf);
	return 0;
}
