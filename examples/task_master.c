/*
 * task_master: the master half of multiprocessing's task_master/task_worker
 * example over drover's queues. Puts N numbers into "tasks", collects their
 * squares from "results" (put there by task_worker, on this host or another)
 * and checks the sum.
 *
 *   task_master [-n N] [ENDPOINT [AUTHKEY_FILE]]
 *
 * ENDPOINT defaults to $DROVER_QUEUE_URL or tcp://127.0.0.1:9172, AUTHKEY_FILE
 * to $DROVER_AUTHKEY_FILE or examples/secrets/queue.key: the settings of
 * examples/drover.yaml.
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

/* Prints "task_master: " and the message on stderr, and exits with status. */
static void __attribute__((format(printf, 2, 3), noreturn))
fail(int status, const char *fmt, ...)
{
	va_list ap;

	fputs("task_master: ", stderr);
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
	long long total = 0, want = 0;
	drover_client *c;
	drover_msg *m;
	char buf[32];
	int rc, i, n = 100, opt;

	while ((opt = getopt(argc, argv, "n:")) != -1)
		if (opt == 'n')
			n = atoi(optarg);
		else
			fail(2, "usage: [-n N] [ENDPOINT [AUTHKEY_FILE]]");
	endpoint = optind < argc ? argv[optind++] : endpoint ? endpoint : "tcp://127.0.0.1:9172";
	keyfile = optind < argc ? argv[optind++] : keyfile ? keyfile : EXAMPLE_AUTHKEY_FILE;
	if ((c = drover_connect_keyfile(endpoint, keyfile, 5000, &rc)) == NULL)
		fail(1, "%s: %s", rc == DROVER_EINVAL ? keyfile : endpoint,
		     rc == DROVER_EINVAL ? strerror(errno) : drover_strerror(rc));
	for (i = 0; i < n; i++) {	/* hand out the work: returns at once within credit */
		snprintf(buf, sizeof(buf), "%d", i);
		if ((rc = drover_put(c, "tasks", buf, strlen(buf), 10000)) != DROVER_OK)
			break;
		want += (long long)i * i;
	}
	printf("task_master: put %d tasks, waiting for the results\n", i);
	for (i = 0; rc == DROVER_OK && i < n; i++) {	/* collect, ack each one */
		if ((m = drover_get(c, "results", 30000, &rc)) == NULL)
			break;
		snprintf(buf, sizeof(buf), "%.*s", (int)drover_msg_size(m), (const char *)drover_msg_data(m));
		total += strtoll(buf, NULL, 10);
		rc = drover_ack(c, m);
	}
	drover_close(c);	/* delivers the last acks first */
	if (rc != DROVER_OK)
		fail(1, "%s", drover_strerror(rc));
	printf("task_master: %d results, sum of squares %lld: %s\n", n, total, total == want ? "ok" : "WRONG");
	return total == want ? 0 : 1;
}
