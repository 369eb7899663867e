/*
 * task_worker: the worker half of multiprocessing's task_master/task_worker
 * example over drover's queues. Takes numbers from "tasks" and completes
 * each with its square: drover_complete puts the result into "results" and
 * acks the task in one step that droverd applies whole or not at all. Stops
 * when no task came for -i SECONDS (default 10). A worker killed while it
 * holds a task loses nothing and leaves no second result: droverd hands the
 * task to another worker.
 *
 *   task_worker [-i SECONDS] [ENDPOINT [AUTHKEY_FILE]]
 *
 * ENDPOINT defaults to $DROVER_QUEUE_URL or tcp://127.0.0.1:9172, AUTHKEY_FILE
 * to $DROVER_AUTHKEY_FILE or examples/secrets/queue.key.
 */
#include <drover.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef EXAMPLE_AUTHKEY_FILE
#define EXAMPLE_AUTHKEY_FILE "examples/secrets/queue.key"
#endif

/* Prints "task_worker: " and the message on stderr, and exits with status. */
static void __attribute__((format(printf, 2, 3), noreturn))
fail(int status, const char *fmt, ...)
{
	va_list ap;

	fputs("task_worker: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(status);
}

int
main(int argc, char **argv)
{
	const char *endpoint = getenv("DROVER_QUEUE_URL"), *keyfile = getenv("DROVER_AUTHKEY_FILE");
	drover_client *c;
	drover_msg *m;
	char buf[32];
	long long x;
	int rc, done = 0, idle_s = 10, opt;

	while ((opt = getopt(argc, argv, "i:")) != -1)
		if (opt == 'i')
			idle_s = atoi(optarg);
		else
			fail(2, "usage: [-i SECONDS] [ENDPOINT [AUTHKEY_FILE]]");
	endpoint = optind < argc ? argv[optind++] : endpoint ? endpoint : "tcp://127.0.0.1:9172";
	keyfile = optind < argc ? argv[optind++] : keyfile ? keyfile : EXAMPLE_AUTHKEY_FILE;
	if ((c = drover_connect_keyfile(endpoint, keyfile, 5000, &rc)) == NULL)
		fail(1, "%s: %s", rc == DROVER_EINVAL ? keyfile : endpoint,
		     rc == DROVER_EINVAL ? strerror(errno) : drover_strerror(rc));
	while ((m = drover_get(c, "tasks", idle_s * 1000, &rc)) != NULL) {
		snprintf(buf, sizeof(buf), "%.*s", (int)drover_msg_size(m), (const char *)drover_msg_data(m));
		x = strtoll(buf, NULL, 10);
		snprintf(buf, sizeof(buf), "%lld", x * x);
		/* result in and task acked, or neither (the task goes back) */
		if ((rc = drover_complete(c, m, "results", buf, strlen(buf), 10000)) != DROVER_OK)
			break;
		done++;
	}
	if (rc == DROVER_EEMPTY && drover_flush(c, 10000) != DROVER_OK)	/* every result confirmed */
		rc = DROVER_ECONN;
	drover_close(c);
	printf("task_worker %d: %d tasks done\n", (int)getpid(), done);
	if (rc != DROVER_EEMPTY)
		fail(1, "%s", drover_strerror(rc));
	return 0;
}
