/*
 * qbench: the C side of the queue benchmark (bench/queues/run.py), over
 * libdrover. One process is one role:
 *
 *   qbench worker  --endpoint E --authkey-file F [--batch B] [--prefetch P]
 *   qbench master  --endpoint E --authkey-file F --tasks N --workers W [--batch B]
 *   qbench rtt     --endpoint E --authkey-file F --count N [--warmup N]
 *   qbench durable --endpoint E --authkey-file F --count N --queue Q [--batch B]
 *
 * A worker prints {"ready": true} once connected, takes tasks from "tasks"
 * (--tasks-queue; B at a time with drover_get_many, or one by one with
 * drover_get when B is 1), puts each square into "results" (--results-queue),
 * acks the tasks, and stops at the task
 * "stop". The master puts N tasks, collects N results, checks their sum and
 * puts W "stop" tasks. Each prints one JSON line of figures.
 */
#include <drover.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STOP "stop"

struct opts {
	const char *role, *endpoint, *keyfile, *queue, *tq, *rq;
	long tasks, count, warmup;
	int workers, batch, prefetch;
	int pipelined;
};

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die_rc(const char *what, int rc)
{
	fprintf(stderr, "qbench: %s: %s\n", what, drover_strerror(rc));
	exit(1);
}

/* The authkey as droverd reads it: the first line, trimmed. */
static char *
read_key(const char *path, size_t *len)
{
	static char buf[4096];
	FILE *f = fopen(path, "r");
	char *k;

	if (f == NULL) {
		fprintf(stderr, "qbench: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	if (fgets(buf, sizeof(buf), f) == NULL)
		buf[0] = '\0';
	fclose(f);
	for (k = buf; *k == ' ' || *k == '\t'; k++)
		;
	*len = strcspn(k, "\r\n");
	while (*len > 0 && (k[*len - 1] == ' ' || k[*len - 1] == '\t'))
		(*len)--;
	return k;
}

static drover_client *
connect_or_die(const struct opts *o)
{
	size_t len;
	char *key = read_key(o->keyfile, &len);
	drover_client *c;
	int rc;

	if ((c = drover_connect(o->endpoint, key, len, 10000, &rc)) == NULL)
		die_rc(o->endpoint, rc);
	if (o->prefetch > 1 && (rc = drover_set_prefetch(c, (unsigned)o->prefetch)) != DROVER_OK)
		die_rc("prefetch", rc);
	return c;
}

static long long
msg_number(const drover_msg *m)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%.*s", (int)drover_msg_size(m), (const char *)drover_msg_data(m));
	return strtoll(buf, NULL, 10);
}

static int
is_stop(const drover_msg *m)
{
	return drover_msg_size(m) == strlen(STOP) && memcmp(drover_msg_data(m), STOP, strlen(STOP)) == 0;
}

/* One message at a time, like examples/task_worker.c: get, complete. */
static long
worker_single(drover_client *c, const struct opts *o)
{
	drover_msg *m;
	char buf[32];
	long done = 0;
	long long x;
	int rc, n;

	for (;;) {
		if ((m = drover_get(c, o->tq, -1, &rc)) == NULL)
			die_rc("get", rc);
		if (is_stop(m)) {
			drover_ack(c, m);
			return done;
		}
		x = msg_number(m);
		n = snprintf(buf, sizeof(buf), "%lld", x * x);
		if ((rc = drover_complete(c, m, o->rq, buf, (size_t)n, -1)) != DROVER_OK)
			die_rc("complete", rc);
		done++;
	}
}

/* B tasks per round trip: get_many, put_many of the squares, ack_many. A
   "stop" ends the worker; the tasks after it in its batch are nacked, for
   the other workers. */
static long
worker_batch(drover_client *c, const struct opts *o, int batch)
{
	drover_msg **msgs = calloc((size_t)batch, sizeof(*msgs));
	const void **data = calloc((size_t)batch, sizeof(*data));
	size_t *sizes = calloc((size_t)batch, sizeof(*sizes)), n, i, k;
	char(*bufs)[24] = calloc((size_t)batch, sizeof(*bufs));
	long done = 0;
	long long x;
	int rc, stop = 0;

	if (!msgs || !data || !sizes || !bufs) {
		fprintf(stderr, "qbench: out of memory\n");
		exit(1);
	}
	while (!stop) {
		if ((rc = drover_get_many(c, o->tq, msgs, (size_t)batch, -1, &n)) != DROVER_OK)
			die_rc("get_many", rc);
		for (i = k = 0; i < n; i++) {
			if (is_stop(msgs[i])) {
				stop = 1;
				break;
			}
			x = msg_number(msgs[i]);
			sizes[k] = (size_t)snprintf(bufs[k], sizeof(bufs[k]), "%lld", x * x);
			data[k] = bufs[k];
			k++;
		}
		if (k > 0 && (rc = drover_put_many(c, o->rq, data, sizes, k, -1, NULL)) != DROVER_OK)
			die_rc("put_many", rc);
		if ((rc = drover_ack_many(c, msgs, stop ? i + 1 : n)) != DROVER_OK)
			die_rc("ack_many", rc);
		if (stop && i + 1 < n && (rc = drover_nack_many(c, msgs + i + 1, n - i - 1)) != DROVER_OK)
			die_rc("nack_many", rc);
		done += (long)k;
	}
	free(msgs);
	free(data);
	free(sizes);
	free(bufs);
	return done;
}

static void
run_worker(const struct opts *o)
{
	drover_client *c = connect_or_die(o);
	size_t size;
	long done;
	int rc;

	if ((rc = drover_queue_size(c, o->tq, &size)) != DROVER_OK)
		die_rc("size", rc);
	printf("{\"ready\": true}\n");
	fflush(stdout);
	done = o->batch > 1 ? worker_batch(c, o, o->batch) : worker_single(c, o);
	drover_close(c);
	printf("{\"done\": %ld}\n", done);
}

static void
run_master(const struct opts *o)
{
	drover_client *c = connect_or_die(o);
	size_t b = (size_t)(o->batch > 1 ? o->batch : 1000), n, i, k;
	drover_msg **msgs = calloc(b, sizeof(*msgs));
	const void **data = calloc(b, sizeof(*data));
	size_t *sizes = calloc(b, sizeof(*sizes));
	char(*bufs)[24] = calloc(b, sizeof(*bufs));
	long long total = 0, want = 0;
	double t0, t_put, t1;
	long got = 0, j;
	int rc;

	if (!msgs || !data || !sizes || !bufs) {
		fprintf(stderr, "qbench: out of memory\n");
		exit(1);
	}
	t0 = now_s();
	for (j = 0; j < o->tasks; j += (long)k) {
		for (k = 0; k < b && j + (long)k < o->tasks; k++) {
			sizes[k] = (size_t)snprintf(bufs[k], sizeof(bufs[k]), "%ld", j + (long)k);
			data[k] = bufs[k];
			want += (long long)(j + (long)k) * (j + (long)k);
		}
		if ((rc = drover_put_many(c, o->tq, data, sizes, k, -1, NULL)) != DROVER_OK)
			die_rc("put_many tasks", rc);
	}
	t_put = now_s();
	while (got < o->tasks) {
		n = (size_t)(o->tasks - got) < b ? (size_t)(o->tasks - got) : b;
		if ((rc = drover_get_many(c, o->rq, msgs, n, 60000, &n)) != DROVER_OK)
			die_rc("get_many results", rc);
		for (i = 0; i < n; i++)
			total += msg_number(msgs[i]);
		if ((rc = drover_ack_many(c, msgs, n)) != DROVER_OK)
			die_rc("ack_many", rc);
		got += (long)n;
	}
	t1 = now_s();
	for (k = 0; k < (size_t)o->workers && k < b; k++) {
		data[k] = STOP;
		sizes[k] = strlen(STOP);
	}
	if (k > 0 && (rc = drover_put_many(c, o->tq, data, sizes, k, -1, NULL)) != DROVER_OK)
		die_rc("put_many stop", rc);
	drover_close(c);
	printf("{\"tasks\": %ld, \"seconds\": %.6f, \"put_seconds\": %.6f, \"tasks_s\": %.1f, "
	       "\"ok\": %s}\n",
	       o->tasks, t1 - t0, t_put - t0, (double)o->tasks / (t1 - t0), total == want ? "true" : "false");
	free(msgs);
	free(data);
	free(sizes);
	free(bufs);
}

/* The synchronous round trip: a put waited for with drover_flush, then a
   get (served by the standing GET of the default prefetch); then its ack.
   With --pipelined, the put is not flushed: it goes within credit, and the
   message comes straight back to the standing GET. */
static void
run_rtt(const struct opts *o)
{
	drover_client *c = connect_or_die(o);
	double *lat = calloc((size_t)o->count, sizeof(*lat)), t0;
	drover_msg *m;
	long i;
	int rc;

	if (lat == NULL) {
		fprintf(stderr, "qbench: out of memory\n");
		exit(1);
	}
	for (i = 0; i < o->warmup + o->count; i++) {
		t0 = now_s();
		if (o->pipelined)
			rc = drover_put_async(c, "rtt", "x", 1);
		else if ((rc = drover_put(c, "rtt", "x", 1, -1)) == DROVER_OK)
			rc = drover_flush(c, -1);
		if (rc != DROVER_OK)
			die_rc("put", rc);
		if ((m = drover_get(c, "rtt", -1, &rc)) == NULL)
			die_rc("get", rc);
		if (i >= o->warmup)
			lat[i - o->warmup] = (now_s() - t0) * 1e6;
		/* Asynchronous (no round trip): outside the timed part. */
		if ((rc = drover_ack(c, m)) != DROVER_OK)
			die_rc("ack", rc);
	}
	if (o->pipelined && (rc = drover_flush(c, 5000)) != DROVER_OK)
		die_rc("flush", rc);
	drover_close(c);
	printf("{\"lat_us\": [");
	for (i = 0; i < o->count; i++)
		printf("%s%.2f", i ? ", " : "", lat[i]);
	printf("]}\n");
	free(lat);
}

/* count puts into a durable queue: B per drover_put_many, or one by one
   with drover_put when B is 1, then drover_flush (every one committed). */
static void
run_durable(const struct opts *o)
{
	drover_client *c = connect_or_die(o);
	size_t b = (size_t)(o->batch > 1 ? o->batch : 1), k, size;
	const void **data = calloc(b, sizeof(*data));
	size_t *sizes = calloc(b, sizeof(*sizes));
	char(*bufs)[24] = calloc(b, sizeof(*bufs));
	double t0, t1;
	long j;
	int rc;

	if (!data || !sizes || !bufs) {
		fprintf(stderr, "qbench: out of memory\n");
		exit(1);
	}
	t0 = now_s();
	for (j = 0; j < o->count; j += (long)k) {
		for (k = 0; k < b && j + (long)k < o->count; k++) {
			sizes[k] = (size_t)snprintf(bufs[k], sizeof(bufs[k]), "d%07ld", j + (long)k);
			data[k] = bufs[k];
		}
		if (b == 1)
			rc = drover_put(c, o->queue, data[0], sizes[0], -1);
		else
			rc = drover_put_many(c, o->queue, data, sizes, k, -1, NULL);
		if (rc != DROVER_OK)
			die_rc("put", rc);
	}
	if ((rc = drover_flush(c, -1)) != DROVER_OK)
		die_rc("flush", rc);
	t1 = now_s();
	if ((rc = drover_queue_size(c, o->queue, &size)) != DROVER_OK)
		die_rc("size", rc);
	drover_close(c);
	printf("{\"puts\": %ld, \"seconds\": %.6f, \"puts_s\": %.1f, \"size\": %zu}\n", o->count, t1 - t0,
	       (double)o->count / (t1 - t0), size);
	free(data);
	free(sizes);
	free(bufs);
}

static void
usage(void)
{
	fprintf(stderr, "usage: qbench worker|master|rtt|durable --endpoint E --authkey-file F\n"
			"       [--tasks N] [--workers W] [--count N] [--warmup N] [--queue Q]\n"
			"       [--batch B] [--prefetch P] [--tasks-queue Q] [--results-queue Q]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"endpoint", required_argument, NULL, 'e'}, {"authkey-file", required_argument, NULL, 'k'},
		{"tasks", required_argument, NULL, 't'},    {"workers", required_argument, NULL, 'w'},
		{"count", required_argument, NULL, 'c'},    {"warmup", required_argument, NULL, 'u'},
		{"queue", required_argument, NULL, 'q'},    {"batch", required_argument, NULL, 'b'},
		{"prefetch", required_argument, NULL, 'p'}, {"pipelined", no_argument, NULL, 'P'}, {"tasks-queue", required_argument, NULL, 'T'},
		{"results-queue", required_argument, NULL, 'R'}, {NULL, 0, NULL, 0},
	};
	struct opts o = {.tasks = 100000, .count = 10000, .warmup = 500, .workers = 4, .batch = 1,
			 .prefetch = 1, .queue = "durable", .tq = "tasks", .rq = "results"};
	int ch;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'e': o.endpoint = optarg; break;
		case 'k': o.keyfile = optarg; break;
		case 't': o.tasks = atol(optarg); break;
		case 'w': o.workers = atoi(optarg); break;
		case 'c': o.count = atol(optarg); break;
		case 'u': o.warmup = atol(optarg); break;
		case 'q': o.queue = optarg; break;
		case 'b': o.batch = atoi(optarg); break;
		case 'p': o.prefetch = atoi(optarg); break;
		case 'P': o.pipelined = 1; o.prefetch = 2; break;
		case 'T': o.tq = optarg; break;
		case 'R': o.rq = optarg; break;
		default: usage();
		}
	}
	if (optind != argc - 1 || !o.endpoint || !o.keyfile || o.batch < 1 || o.count < 1 || o.tasks < 1)
		usage();
	o.role = argv[optind];
	if (strcmp(o.role, "worker") == 0)
		run_worker(&o);
	else if (strcmp(o.role, "master") == 0)
		run_master(&o);
	else if (strcmp(o.role, "rtt") == 0)
		run_rtt(&o);
	else if (strcmp(o.role, "durable") == 0)
		run_durable(&o);
	else
		usage();
	return 0;
}
