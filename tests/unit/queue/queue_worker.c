/* queue_worker: the worker processes of the queue tests (test_queue.c,
   tests/integration/queue/test_queue_e2e.c), each a libdrover client:

     queue_worker ack ENDPOINT AUTHKEY_FILE QUEUE N
         takes up to N (1..64) messages in one call, acks them all and exits
         at once (the acks must not be lost with the process)
     queue_worker greedy ENDPOINT AUTHKEY_FILE QUEUE N
         takes N (1..64) messages, writes "y" to its standard output and
         sits on them until it is killed
     queue_worker complete ENDPOINT AUTHKEY_FILE TASKS RESULTS IDLE_MS
         gets each task of TASKS and completes it with the result "r" and
         the task, one at a time as the examples do, with the default
         prefetch; exits after IDLE_MS without a task
     queue_worker put ENDPOINT AUTHKEY_FILE QUEUE WINDOW
         puts "0\n", "1\n", ... one at a time, flushes after every WINDOW
         puts and then writes the lines flush confirmed to its standard
         output; until a put or a flush fails, or it is killed

   A program of its own, started with exec: a worker forked from a test
   without an exec is a copy of a process whose other threads (ZeroMQ's,
   the in-process droverd's) may hold a lock at the fork, and ASan's
   allocator does not take its locks around fork(): the child's first
   threads then wait on them for ever. Exits 0, or 1 with the reason on
   stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drover.h"

static int
s_fail(const char *what, int rc)
{
	fprintf(stderr, "queue_worker: %s: %s\n", what, drover_strerror(rc));
	return 1;
}

static long
s_num(const char *s, long lo, long hi)
{
	char *end;
	long v = strtol(s, &end, 10);

	return *s != '\0' && *end == '\0' && v >= lo && v <= hi ? v : -1;
}

static int
s_ack(drover_client *c, const char *q, size_t want)
{
	drover_msg *m[64];
	size_t n = 0;
	int rc;

	if ((rc = drover_get_many(c, q, m, want, 1000, &n)) != DROVER_OK)
		return s_fail("get_many", rc);
	drover_ack_many(c, m, n);
	drover_close(c);
	return 0;
}

static int
s_greedy(drover_client *c, const char *q, size_t want)
{
	drover_msg *m[64];
	size_t got = 0, n;
	int rc;

	while (got < want) {
		if ((rc = drover_get_many(c, q, m + got, want - got, 5000, &n)) != DROVER_OK)
			return s_fail("get_many", rc);
		got += n;
	}
	if (write(1, "y", 1) != 1)
		return 1;
	for (;;)
		pause();
}

static int
s_complete(drover_client *c, const char *tasks, const char *results, int idle_ms)
{
	drover_msg *m;
	char body[80];
	int rc;

	while ((m = drover_get(c, tasks, idle_ms, &rc)) != NULL) {
		int n = snprintf(body, sizeof(body), "r%.*s", (int)drover_msg_size(m),
				 (const char *)drover_msg_data(m));

		if ((rc = drover_complete(c, m, results, body, (size_t)n, 10000)) != DROVER_OK)
			return s_fail("complete", rc);
	}
	drover_close(c);
	return 0;
}

static int
s_put(drover_client *c, const char *q, int window)
{
	char body[32], *done = malloc((size_t)window * 12);
	size_t len = 0;
	int rc, k = 0;

	if (done == NULL)
		return 1;
	for (unsigned i = 0;; i++) {
		int n = snprintf(body, sizeof(body), "%u\n", i);

		if ((rc = drover_put(c, q, body, (size_t)n, 2000)) != DROVER_OK)
			return s_fail("put", rc);
		memcpy(done + len, body, (size_t)n);
		len += (size_t)n;
		if (++k < window)
			continue;
		if ((rc = drover_flush(c, 2000)) != DROVER_OK)
			return s_fail("flush", rc);
		if (write(1, done, len) != (ssize_t)len)
			return 1;
		len = 0;
		k = 0;
	}
}

int
main(int argc, char **argv)
{
	drover_client *c;
	long n;
	int rc;

	if (argc < 5) {
		fprintf(stderr, "usage: queue_worker ack|greedy|complete|put ENDPOINT AUTHKEY_FILE "
				"...\n");
		return 1;
	}
	if ((c = drover_connect_keyfile(argv[2], argv[3], 5000, &rc)) == NULL)
		return s_fail("connect", rc);
	if (strcmp(argv[1], "ack") == 0 && argc == 6 && (n = s_num(argv[5], 1, 64)) > 0)
		return s_ack(c, argv[4], (size_t)n);
	if (strcmp(argv[1], "greedy") == 0 && argc == 6 && (n = s_num(argv[5], 1, 64)) > 0)
		return s_greedy(c, argv[4], (size_t)n);
	if (strcmp(argv[1], "complete") == 0 && argc == 7 &&
	    (n = s_num(argv[6], 0, 3600000)) >= 0)
		return s_complete(c, argv[4], argv[5], (int)n);
	if (strcmp(argv[1], "put") == 0 && argc == 6 && (n = s_num(argv[5], 1, 100000)) > 0)
		return s_put(c, argv[4], (int)n);
	fprintf(stderr, "queue_worker: bad arguments\n");
	return 1;
}
