/* queue: the queue host driven in-process (queue_host_new on a parsed
   config) and spoken to with libdrover and with a raw ZeroMQ socket:
   FIFO, capacity, waiting puts and gets and their timeouts, fairness,
   leases, ack, nack, requeue on disconnect and lease expiry, sizes, batches,
   prefetch, durability across a restart, reload, statistics, metrics, a
   wrong key, bad input and failures at start. */
#include <criterion/criterion.h>
#include <czmq.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "conf.h"
#include "drover.h"
#include "log.h"
#include "queue_host.h"
#include "wire.h"

#define KEY "unit-test-authkey"

typedef struct {
	char dir[64];
	char ep[64];
	int port;
	conf_t *conf;
	queue_host_t *h;
} fx_t;

static fx_t fx;

static int
free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f, "%s", path);
	fputs(text, f);
	fclose(f);
}

/* Parses a config with these queues (YAML lines under "queues:") for the
   fixture directory; NULL and *err on failure of queue_host_new. */
static queue_host_t *
host_new(const char *queues, char **err)
{
	char *yaml, *errs = NULL, path[128];

	if (asprintf(&yaml,
		     "supervisor:\n"
		     "  state_dir: %s/var\n"
		     "  queues:\n"
		     "    listen: %s\n"
		     "    authkey_file: %s/queue.key\n"
		     "queues:\n%s",
		     fx.dir, fx.ep, fx.dir, queues) < 0)
		cr_assert_fail("asprintf");
	conf_free(&fx.conf);
	cr_assert_eq(conf_parse_string(yaml, strlen(yaml), "test.yaml", fx.dir, &fx.conf, &errs), 0,
		     "%s", errs ? errs : "");
	free(yaml);
	snprintf(path, sizeof(path), "%s/var", fx.dir);
	mkdir(path, 0755);
	return queue_host_new(fx.conf, -1, -1, err);
}

static void
start(const char *queues)
{
	char *err = NULL;

	fx.h = host_new(queues, &err);
	cr_assert_not_null(fx.h, "queue_host_new: %s", err ? err : "?");
}

/* Applies a new queues section to the running host, as a SIGHUP does. */
static void
reload(const char *queues)
{
	conf_t *old = fx.conf;
	char *yaml, *errs = NULL, *apply_err = NULL;

	cr_assert(asprintf(&yaml,
			   "supervisor:\n  state_dir: %s/var\n  queues:\n    listen: %s\n"
			   "    authkey_file: %s/queue.key\nqueues:\n%s",
			   fx.dir, fx.ep, fx.dir, queues) > 0);
	fx.conf = NULL;
	cr_assert_eq(conf_parse_string(yaml, strlen(yaml), "t.yaml", fx.dir, &fx.conf, &errs), 0,
		     "%s", errs ? errs : "");
	cr_assert_eq(queue_host_apply(fx.h, fx.conf, &apply_err), 0, "%s", apply_err);
	conf_free(&old);
	free(yaml);
}

static void
setup(void)
{
	char path[128];

	zsys_handler_set(NULL);
	if (getenv("DROVER_TEST_DEBUG"))
		log_set_level(DLOG_DEBUG);
	memset(&fx, 0, sizeof(fx));
	snprintf(fx.dir, sizeof(fx.dir), "/tmp/drover-qtest-XXXXXX");
	cr_assert_not_null(mkdtemp(fx.dir));
	fx.port = free_port();
	snprintf(fx.ep, sizeof(fx.ep), "tcp://127.0.0.1:%d", fx.port);
	snprintf(path, sizeof(path), "%s/queue.key", fx.dir);
	write_file(path, KEY "\n");
}

static void
teardown(void)
{
	char cmd[128];

	queue_host_destroy(&fx.h);
	conf_free(&fx.conf);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx.dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", fx.dir);
}

/* A client that takes one message per get: most tests here look at
   droverd's order and leases one message at a time. The prefetch buffer
   (the default) has tests of its own, with prefetch_client(). */
static drover_client *
prefetch_client(void)
{
	int rc;
	drover_client *c = drover_connect(fx.ep, KEY, strlen(KEY), 5000, &rc);

	cr_assert_not_null(c, "connect: %s", drover_strerror(rc));
	return c;
}

static drover_client *
client(void)
{
	drover_client *c = prefetch_client();

	cr_assert_eq(drover_set_prefetch(c, 1), DROVER_OK);
	return c;
}

static void
put_str(drover_client *c, const char *q, const char *s)
{
	int rc = drover_put(c, q, s, strlen(s), 0);

	cr_assert_eq(rc, DROVER_OK, "put %s: %s", s, drover_strerror(rc));
}

/* Gets one message and checks its body; returns it (caller acks). */
static drover_msg *
get_is(drover_client *c, const char *q, const char *want)
{
	int rc;
	drover_msg *m = drover_get(c, q, 2000, &rc);

	cr_assert_not_null(m, "get from %s: %s", q, drover_strerror(rc));
	cr_assert_eq(drover_msg_size(m), strlen(want));
	cr_assert_eq(memcmp(drover_msg_data(m), want, strlen(want)), 0, "got %.*s, want %s",
		     (int)drover_msg_size(m), (const char *)drover_msg_data(m), want);
	return m;
}

static size_t
size_of(drover_client *c, const char *q)
{
	size_t n = 999999;

	cr_assert_eq(drover_queue_size(c, q, &n), DROVER_OK);
	return n;
}

TestSuite(queue, .init = setup, .fini = teardown, .timeout = 60);

Test(queue, fifo_order_and_capacity)
{
	drover_client *c;
	drover_msg *m;

	start("  q: { capacity: 3 }\n");
	c = client();
	put_str(c, "q", "a");
	put_str(c, "q", "b");
	put_str(c, "q", "c");
	cr_assert_eq(drover_put(c, "q", "d", 1, 0), DROVER_EFULL);
	cr_assert_eq(size_of(c, "q"), 3);
	drover_ack(c, get_is(c, "q", "a"));
	put_str(c, "q", "d");
	drover_ack(c, get_is(c, "q", "b"));
	drover_ack(c, get_is(c, "q", "c"));
	m = get_is(c, "q", "d");
	cr_assert_eq(drover_ack(c, m), DROVER_OK);
	cr_assert_eq(size_of(c, "q"), 0);
	drover_close(c);
}

Test(queue, get_and_put_time_out_with_empty_and_full)
{
	drover_client *c;
	double t;
	int rc;

	start("  q: { capacity: 1 }\n");
	c = client();
	t = now_s();
	cr_assert_null(drover_get(c, "q", 300, &rc));
	cr_assert_eq(rc, DROVER_EEMPTY);
	cr_assert_geq(now_s() - t, 0.29);
	cr_assert_lt(now_s() - t, 2.0);
	put_str(c, "q", "x");
	t = now_s();
	cr_assert_eq(drover_put(c, "q", "y", 1, 300), DROVER_EFULL);
	cr_assert_geq(now_s() - t, 0.29);
	cr_assert_lt(now_s() - t, 2.0);
	cr_assert_null(drover_get(c, "nope", 0, &rc));
	cr_assert_eq(rc, DROVER_ENOQUEUE);
	drover_close(c);
}

typedef struct {
	const char *q;
	int timeout_ms;
	int rc;
	char body[32];
	double waited;
	const char *put; /* put this instead of getting */
	volatile int connected;
} job_t;

static void *
job_run(void *arg)
{
	job_t *j = arg;
	drover_client *c = client();
	double t = now_s();
	drover_msg *m;

	__atomic_store_n(&j->connected, 1, __ATOMIC_RELEASE);
	if (j->put != NULL) {
		j->rc = drover_put(c, j->q, j->put, strlen(j->put), j->timeout_ms);
	} else if ((m = drover_get(c, j->q, j->timeout_ms, &j->rc)) != NULL) {
		snprintf(j->body, sizeof(j->body), "%.*s", (int)drover_msg_size(m),
			 (const char *)drover_msg_data(m));
		drover_ack(c, m);
	}
	j->waited = now_s() - t;
	drover_close(c);
	return NULL;
}

static void
wait_stat(drover_client *c, const char *q, size_t consumers)
{
	drover_stats_t st;

	for (int i = 0; i < 200; i++) {
		cr_assert_eq(drover_stats(c, q, &st), DROVER_OK);
		if (st.consumers >= consumers)
			return;
		sleep_ms(10);
	}
	cr_assert_fail("consumers of %s never reached %zu", q, consumers);
}

static void
wait_in_flight(drover_client *c, const char *q, size_t n)
{
	drover_stats_t st;

	for (int i = 0; i < 300; i++) {
		cr_assert_eq(drover_stats(c, q, &st), DROVER_OK);
		if (st.in_flight == n)
			return;
		sleep_ms(10);
	}
	cr_assert_fail("in_flight of %s stays %zu, not %zu", q, st.in_flight, n);
}

Test(queue, waiting_consumers_are_served_first_come_first_served)
{
	pthread_t th[3];
	job_t j[3];
	drover_client *c;
	int i;

	start("  q: {}\n");
	c = client();
	for (i = 0; i < 3; i++) {
		j[i] = (job_t){.q = "q", .timeout_ms = 10000};
		pthread_create(&th[i], NULL, job_run, &j[i]);
		wait_stat(c, "q", (size_t)i + 1); /* its GET has arrived */
	}
	put_str(c, "q", "first");
	put_str(c, "q", "second");
	put_str(c, "q", "third");
	for (i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	cr_assert_eq(j[0].rc, DROVER_OK);
	cr_assert_str_eq(j[0].body, "first");
	cr_assert_str_eq(j[1].body, "second");
	cr_assert_str_eq(j[2].body, "third");
	drover_close(c);
}

Test(queue, a_waiting_put_goes_in_when_room_is_made)
{
	pthread_t th;
	job_t j = {.q = "q", .timeout_ms = 10000, .put = "late"};
	drover_client *c;

	start("  q: { capacity: 1 }\n");
	c = client();
	put_str(c, "q", "early");
	pthread_create(&th, NULL, job_run, &j);
	for (int i = 0; i < 2000 && !__atomic_load_n(&j.connected, __ATOMIC_ACQUIRE); i++)
		sleep_ms(5);
	sleep_ms(300); /* its put waits meanwhile */
	drover_ack(c, get_is(c, "q", "early"));
	pthread_join(th, NULL);
	cr_assert_eq(j.rc, DROVER_OK);
	cr_assert_geq(j.waited, 0.25);
	drover_ack(c, get_is(c, "q", "late"));
	drover_close(c);
}

Test(queue, nack_puts_messages_back_at_the_head_in_order)
{
	drover_client *c;
	drover_msg *m[3];
	size_t n;

	start("  q: {}\n");
	c = client();
	put_str(c, "q", "a");
	put_str(c, "q", "b");
	put_str(c, "q", "c");
	cr_assert_eq(drover_nack(c, get_is(c, "q", "a")), DROVER_OK);
	cr_assert_eq(drover_get_many(c, "q", m, 2, 1000, &n), DROVER_OK);
	cr_assert_eq(n, 2);
	cr_assert_eq(memcmp(drover_msg_data(m[0]), "a", 1), 0);
	cr_assert_eq(memcmp(drover_msg_data(m[1]), "b", 1), 0);
	cr_assert_eq(drover_nack_many(c, m, 2), DROVER_OK);
	drover_ack(c, get_is(c, "q", "a"));
	drover_ack(c, get_is(c, "q", "b"));
	drover_ack(c, get_is(c, "q", "c"));
	cr_assert_eq(size_of(c, "q"), 0);
	drover_close(c);
}

Test(queue, an_expired_lease_puts_the_message_back_at_the_head)
{
	drover_client *c;
	drover_msg *a, *b;
	drover_stats_t st;

	start("  q: { lease: 300ms }\n");
	c = client();
	put_str(c, "q", "a");
	put_str(c, "q", "b");
	a = get_is(c, "q", "a");
	cr_assert_eq(drover_stats(c, "q", &st), DROVER_OK);
	cr_assert_eq(st.in_flight, 1);
	sleep_ms(600);
	cr_assert_eq(drover_stats(c, "q", &st), DROVER_OK);
	cr_assert_eq(st.in_flight, 0);
	cr_assert_eq(st.size, 2);
	/* A late ack is ignored: the message is back and comes again. */
	drover_ack(c, a);
	b = get_is(c, "q", "a");
	drover_ack(c, b);
	drover_ack(c, get_is(c, "q", "b"));
	drover_close(c);
}

Test(queue, a_consumer_that_goes_away_loses_no_message)
{
	drover_client *c1, *c2;
	drover_msg *m[2];
	size_t n;

	start("  q: {}\n");
	c1 = client();
	c2 = client();
	put_str(c2, "q", "a");
	put_str(c2, "q", "b");
	put_str(c2, "q", "c");
	cr_assert_eq(drover_flush(c2, 5000), DROVER_OK); /* all three in before c1 asks */
	cr_assert_eq(drover_get_many(c1, "q", m, 2, 1000, &n), DROVER_OK);
	cr_assert_eq(n, 2);
	drover_ack(c1, m[1]); /* b is done; a is not */
	drover_msg_free(m[0]);
	drover_close(c1);
	wait_in_flight(c2, "q", 0); /* droverd has noticed */
	drover_ack(c2, get_is(c2, "q", "a"));
	drover_ack(c2, get_is(c2, "q", "c"));
	cr_assert_eq(size_of(c2, "q"), 0);
	drover_close(c2);
}

Test(queue, acks_sent_just_before_a_process_exits_are_not_lost)
{
	drover_client *c;
	drover_stats_t st;
	char key[300];
	int status, i;
	pid_t pid;

	start("  q: {}\n");
	c = client();
	for (i = 0; i < 20; i++)
		put_str(c, "q", "job");
	cr_assert_eq(drover_flush(c, 5000), DROVER_OK);
	snprintf(key, sizeof(key), "%s/queue.key", fx.dir);
	for (i = 0; i < 4; i++) {
		/* A process of its own (see queue_worker.c): it takes up to
		   5, acks them all and exits at once. */
		if ((pid = fork()) == 0) {
			execl(QUEUE_WORKER, QUEUE_WORKER, "ack", fx.ep, key, "q", "5",
			      (char *)NULL);
			_exit(127);
		}
		cr_assert_gt(pid, 0);
		waitpid(pid, &status, 0);
		cr_assert_eq(status, 0, "worker %d: wait status 0x%x", i, status);
	}
	cr_assert_eq(drover_stats(c, "q", &st), DROVER_OK);
	cr_assert_eq(st.size, 0);
	cr_assert_eq(st.in_flight, 0);
	cr_assert_eq(st.get_total, 20, "nothing was delivered twice");
	drover_close(c);
}

Test(queue, oversize_and_unknown_queues_are_refused_clearly)
{
	drover_client *c;
	char *big = calloc(1, 2048);

	start("  q: { max_message: 1KB }\n");
	c = client();
	cr_assert_eq(drover_put(c, "q", big, 1024, 0), DROVER_OK);
	cr_assert_eq(drover_put(c, "q", big, 1025, 0), DROVER_ETOOBIG);
	cr_assert_eq(drover_put(c, "nope", "x", 1, 0), DROVER_ENOQUEUE);
	cr_assert_eq(drover_put(c, "", "x", 1, 0), DROVER_EINVAL);
	cr_assert_eq(size_of(c, "q"), 1);
	cr_assert_str_eq(drover_strerror(DROVER_ETOOBIG),
			 "message larger than the queue's max_message");
	free(big);
	drover_close(c);
}

Test(queue, batches_keep_order_and_partial_puts_say_how_many)
{
	enum { N = 10000 };
	static char bodies[N][8];
	const void *data[N];
	size_t sizes[N], done, n, got = 0, i;
	drover_msg *m[700];
	drover_client *c;

	start("  q: { capacity: 10000 }\n  small: { capacity: 5 }\n");
	c = client();
	for (i = 0; i < N; i++) {
		sizes[i] = (size_t)snprintf(bodies[i], sizeof(bodies[i]), "%zu", i);
		data[i] = bodies[i];
	}
	cr_assert_eq(drover_put_many(c, "q", data, sizes, N, 0, &done), DROVER_OK);
	cr_assert_eq(done, N);
	while (got < N) {
		cr_assert_eq(drover_get_many(c, "q", m, 700, 1000, &n), DROVER_OK);
		for (i = 0; i < n; i++) {
			cr_assert_eq(drover_msg_size(m[i]), sizes[got + i]);
			cr_assert_eq(memcmp(drover_msg_data(m[i]), bodies[got + i], sizes[got + i]),
				     0);
		}
		got += n;
		cr_assert_eq(drover_ack_many(c, m, n), DROVER_OK);
	}
	cr_assert_eq(drover_put_many(c, "small", data, sizes, 8, 100, &done), DROVER_EFULL);
	cr_assert_eq(done, 5);
	drover_close(c);
}

Test(queue, prefetch_fetches_ahead_and_close_returns_the_rest)
{
	drover_client *c, *c2;
	drover_stats_t st;

	start("  q: {}\n");
	c = client();
	c2 = client();
	for (int i = 0; i < 20; i++)
		put_str(c2, "q", i < 10 ? "x" : "y");
	cr_assert_eq(drover_flush(c2, 5000), DROVER_OK);
	cr_assert_eq(drover_set_prefetch(c, 10), DROVER_OK);
	cr_assert_eq(drover_set_prefetch(c, 0), DROVER_EINVAL);
	drover_ack(c, get_is(c, "q", "x"));
	cr_assert_eq(drover_stats(c2, "q", &st), DROVER_OK);
	cr_assert_eq(st.size, 10);
	cr_assert_geq(st.in_flight, 9);
	for (int i = 1; i < 5; i++)
		drover_ack(c, get_is(c, "q", "x"));
	drover_close(c); /* five prefetched, never handed out */
	for (int i = 0; i < 200 && drover_stats(c2, "q", &st) == DROVER_OK && st.size < 15; i++)
		sleep_ms(10);
	cr_assert_eq(st.size, 15);
	cr_assert_eq(st.in_flight, 0);
	drover_ack(c2, get_is(c2, "q", "x"));
	drover_close(c2);
}

Test(queue, puts_within_credit_return_at_once_and_flush_confirms_them)
{
	drover_client *c;
	char body[16], *big = calloc(1, 2000);
	int i;

	start("  q: { capacity: 100000 }\n  small: { max_message: 1KB }\n");
	c = client();
	for (i = 0; i < 3000; i++) {
		snprintf(body, sizeof(body), "%d", i);
		cr_assert_eq(drover_put(c, "q", body, strlen(body), 0), DROVER_OK);
	}
	cr_assert_eq(drover_flush(c, 5000), DROVER_OK);
	cr_assert_eq(drover_undelivered(c), 0);
	cr_assert_eq(size_of(c, "q"), 3000);
	drover_ack(c, get_is(c, "q", "0"));
	drover_ack(c, get_is(c, "q", "1"));
	/* Without credit a put waits for its answer: errors come at once. */
	cr_assert_eq(drover_put_async(c, "nope", "x", 1), DROVER_ENOQUEUE);
	cr_assert_eq(drover_put(c, "small", big, 2000, 0), DROVER_ETOOBIG);
	cr_assert_eq(drover_put(c, "small", "ok", 2, 0), DROVER_OK);
	/* Within credit the client knows max_message, and refuses at once. */
	cr_assert_eq(drover_put(c, "small", big, 2000, 0), DROVER_ETOOBIG);
	cr_assert_eq(drover_put(c, "q", "after", 5, 0), DROVER_OK);
	cr_assert_eq(drover_flush(c, 5000), DROVER_OK);
	cr_assert_eq(size_of(c, "q"), 2999);
	free(big);
	drover_close(c);
}

Test(queue, a_put_refused_after_it_returned_is_reported_with_its_count_once)
{
	drover_client *c;
	drover_msg *m;
	int rc;

	start("  q: {}\n  gone: {}\n");
	c = client();
	put_str(c, "gone", "first");   /* waited for: grants credit */
	cr_assert_eq(drover_flush(c, 5000), DROVER_OK);
	put_str(c, "gone", "with credit");
	cr_assert_eq(drover_flush(c, 5000), DROVER_OK);
	reload("  q: {}\n");
	put_str(c, "gone", "x"); /* within credit: returns at once */
	cr_assert_eq(drover_flush(c, 5000), DROVER_ENOQUEUE);
	cr_assert_eq(drover_undelivered(c), 1);
	reload("  q: {}\n  gone: {}\n");
	put_str(c, "gone", "a");	/* waited for, grants credit */
	put_str(c, "gone", "b");	/* within credit: returns at once */
	put_str(c, "gone", "c");
	cr_assert_eq(drover_flush(c, 5000), DROVER_OK); /* in before the queue goes */
	reload("  q: {}\n");
	put_str(c, "gone", "d");	/* still within credit: returns at once */
	rc = drover_flush(c, 5000);
	cr_assert_eq(rc, DROVER_ENOQUEUE, "flush: %s", drover_strerror(rc));
	cr_assert_eq(drover_undelivered(c), 1, "d: %zu", drover_undelivered(c));
	cr_assert_eq(drover_flush(c, 5000), DROVER_OK, "reported once");
	cr_assert_eq(drover_undelivered(c), 0);
	/* and by the next call when that is not a flush */
	reload("  q: {}\n  gone: {}\n");
	put_str(c, "gone", "a");
	put_str(c, "gone", "b");
	cr_assert_eq(drover_flush(c, 5000), DROVER_OK);
	reload("  q: {}\n");
	put_str(c, "gone", "c");
	cr_assert_eq(size_of(c, "q"), 0); /* a round trip: c's answer is in by now */
	cr_assert_null(drover_get(c, "q", 2000, &rc));
	cr_assert_eq(rc, DROVER_ENOQUEUE, "get: %s", drover_strerror(rc));
	cr_assert_geq(drover_undelivered(c), 1);
	put_str(c, "q", "fine");
	m = get_is(c, "q", "fine");
	drover_ack(c, m);
	drover_close(c);
}

Test(queue, with_prefetch_a_put_message_is_pushed_to_the_waiting_consumer)
{
	drover_client *c;
	char body[16];
	int i;

	start("  q: {}\n");
	c = client();
	cr_assert_eq(drover_set_prefetch(c, 2), DROVER_OK);
	for (i = 0; i < 200; i++) {
		snprintf(body, sizeof(body), "%d", i);
		put_str(c, "q", body);
		drover_ack(c, get_is(c, "q", body));
	}
	int rc;
	cr_assert_null(drover_get(c, "q", 0, &rc));
	cr_assert_eq(rc, DROVER_EEMPTY);
	cr_assert_eq(size_of(c, "q"), 0);
	drover_close(c);
}

Test(queue, stats_and_metrics_count_what_happened)
{
	drover_client *c;
	json_t *a, *q;
	char *text;

	start("  tasks: { capacity: 50, durable: false }\n  res-1.x: {}\n");
	c = client();
	put_str(c, "tasks", "a");
	put_str(c, "tasks", "b");
	drover_msg *m = get_is(c, "tasks", "a");
	a = queue_host_stats(fx.h);
	cr_assert_eq(json_array_size(a), 2);
	q = json_array_get(a, 0);
	cr_assert_str_eq(json_string_value(json_object_get(q, "name")), "tasks");
	cr_assert_eq(json_integer_value(json_object_get(q, "size")), 1);
	cr_assert_eq(json_integer_value(json_object_get(q, "capacity")), 50);
	cr_assert_eq(json_integer_value(json_object_get(q, "in_flight")), 1);
	cr_assert(json_is_false(json_object_get(q, "durable")));
	cr_assert_eq(json_integer_value(json_object_get(q, "put_total")), 2);
	cr_assert_eq(json_integer_value(json_object_get(q, "get_total")), 1);
	cr_assert_eq(json_integer_value(json_object_get(q, "consumers")), 1);
	json_decref(a);
	drover_ack(c, m);
	cr_assert_eq(size_of(c, "tasks"), 1); /* the ack has been read */
	text = queue_host_metrics(fx.h);
	cr_assert_not_null(text);
	cr_assert_not_null(strstr(text, "# TYPE drover_queue_depth gauge\n"));
	cr_assert_not_null(strstr(text, "drover_queue_depth{queue=\"tasks\"} 1\n"));
	cr_assert_not_null(strstr(text, "drover_queue_put_total{queue=\"tasks\"} 2\n"));
	cr_assert_not_null(strstr(text, "drover_queue_acked_total{queue=\"tasks\"} 1\n"));
	cr_assert_not_null(strstr(text, "drover_queue_depth{queue=\"res-1.x\"} 0\n"), "%s", text);
	cr_assert_not_null(strstr(text, "# TYPE drover_queue_put_total counter\n"));
	cr_assert_null(strstr(text, KEY));
	free(text);
	drover_close(c);
}

Test(queue, reload_adds_removes_and_resizes_queues)
{
	drover_client *c;
	pthread_t th, th2;
	job_t put = {.q = "a", .timeout_ms = 10000, .put = "waits"};
	job_t get = {.q = "b", .timeout_ms = 10000};
	json_t *s;

	start("  a: { capacity: 1 }\n  b: {}\n");
	c = client();
	put_str(c, "a", "1");
	pthread_create(&th, NULL, job_run, &put);
	pthread_create(&th2, NULL, job_run, &get);
	wait_stat(c, "b", 1);
	sleep_ms(100);
	/* a grows: the waiting put goes in; b goes: its waiting get hears so; c
	   is new. */
	conf_t *old = fx.conf;
	char *err = NULL, *errs = NULL, *apply_err = NULL;
	char *yaml;

	cr_assert(
	    asprintf(&yaml,
		     "supervisor:\n  state_dir: %s/var\n  queues:\n    listen: %s\n"
		     "    authkey_file: %s/queue.key\nqueues:\n  a: { capacity: 5 }\n  c: {}\n",
		     fx.dir, fx.ep, fx.dir) > 0);
	cr_assert_eq(conf_parse_string(yaml, strlen(yaml), "t.yaml", fx.dir, &fx.conf, &errs), 0);
	cr_assert_eq(queue_host_apply(fx.h, fx.conf, &apply_err), 0, "%s", apply_err);
	conf_free(&old);
	free(yaml);
	free(err);
	pthread_join(th, NULL);
	pthread_join(th2, NULL);
	cr_assert_eq(put.rc, DROVER_OK);
	cr_assert_eq(get.rc, DROVER_ENOQUEUE);
	cr_assert_eq(size_of(c, "a"), 2);
	put_str(c, "c", "new");
	cr_assert_eq(drover_put(c, "b", "x", 1, 0), DROVER_ENOQUEUE);
	s = queue_host_stats(fx.h);
	cr_assert_eq(json_array_size(s), 2);
	cr_assert_eq(json_integer_value(json_object_get(json_array_get(s, 0), "capacity")), 5);
	json_decref(s);
	drover_close(c);
}

Test(queue, durable_messages_survive_a_restart_in_order)
{
	drover_client *c;
	drover_msg *m[10];
	char body[16];
	size_t n, i;

	start("  d: { durable: true }\n");
	c = client();
	for (i = 0; i < 100; i++) {
		snprintf(body, sizeof(body), "m%zu", i);
		put_str(c, "d", body);
	}
	cr_assert_eq(drover_get_many(c, "d", m, 10, 1000, &n), DROVER_OK);
	cr_assert_eq(n, 10);
	cr_assert_eq(drover_ack_many(c, m, 5), DROVER_OK); /* m0..m4 done */
	cr_assert_eq(size_of(c, "d"), 90);		   /* the acks have been read */
	for (i = 5; i < 10; i++)
		drover_msg_free(m[i]); /* m5..m9 leased, never acked */
	drover_close(c);
	queue_host_destroy(&fx.h);

	start("  d: { durable: true }\n");
	c = client();
	cr_assert_eq(size_of(c, "d"), 95);
	for (i = 5; i < 100; i++) {
		snprintf(body, sizeof(body), "m%zu", i);
		drover_ack(c, get_is(c, "d", body));
	}
	cr_assert_eq(size_of(c, "d"), 0);
	drover_close(c);
	queue_host_destroy(&fx.h);
	start("  d: { durable: true }\n");
	c = client();
	cr_assert_eq(size_of(c, "d"), 0, "acked messages stay gone");
	drover_close(c);
}

Test(queue, a_corrupt_store_stops_the_start_and_is_left_alone)
{
	char path[128], *err = NULL, buf[64] = "";
	FILE *f;

	snprintf(path, sizeof(path), "%s/var", fx.dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/var/queues.db", fx.dir);
	write_file(path, "this is not a database, but it is someone's data\n");
	cr_assert_null(host_new("  d: { durable: true }\n", &err));
	cr_assert_not_null(err);
	cr_assert_not_null(strstr(err, "queues.db"), "%s", err);
	cr_assert_not_null(strstr(err, "not a database"), "%s", err);
	free(err);
	f = fopen(path, "r");
	cr_assert_not_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	cr_assert_str_eq(buf, "this is not a database, but it is someone's data\n");
}

/* A reload whose new durable queue cannot be stored (queues.db is not a
   database) applies what it can and says what it did not. */
Test(queue, a_reload_says_which_queue_it_could_not_add_and_applies_the_rest)
{
	conf_t *old;
	char path[128], *yaml, *errs = NULL, *apply_err = NULL;
	drover_client *c;

	start("  a: { capacity: 2 }\n");
	snprintf(path, sizeof(path), "%s/var/queues.db", fx.dir);
	write_file(path, "this is not a database\n");
	old = fx.conf;
	fx.conf = NULL;
	cr_assert(asprintf(&yaml,
			   "supervisor:\n  state_dir: %s/var\n  queues:\n    listen: %s\n"
			   "    authkey_file: %s/queue.key\nqueues:\n  a: { capacity: 5 }\n"
			   "  d: { durable: true }\n  b: {}\n",
			   fx.dir, fx.ep, fx.dir) > 0);
	cr_assert_eq(conf_parse_string(yaml, strlen(yaml), "t.yaml", fx.dir, &fx.conf, &errs), 0);
	cr_assert_eq(queue_host_apply(fx.h, fx.conf, &apply_err), -1);
	cr_assert_not_null(apply_err);
	cr_assert_not_null(strstr(apply_err, "queue d: not added"), "%s", apply_err);
	cr_assert_not_null(strstr(apply_err, "queues.db"), "%s", apply_err);
	cr_assert_null(strstr(apply_err, "queue a"), "%s", apply_err);
	free(apply_err);
	conf_free(&old);
	free(yaml);

	c = client();
	put_str(c, "a", "1"); /* a now holds 5 */
	put_str(c, "a", "2");
	put_str(c, "a", "3");
	put_str(c, "b", "x"); /* b was added */
	cr_assert_eq(drover_put(c, "d", "y", 1, 0), DROVER_ENOQUEUE);
	drover_close(c);
}

static volatile sig_atomic_t alarms;

static void
on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

/* A program that catches signals while it uses libdrover, or embeds the
   queue host (droverd blocks its own): ZeroMQ's calls fail with EINTR when
   a handler ran inside them, and no call may fail nor any reply be lost or
   garbled for it. The signals go to whichever thread does not block them:
   the client's (this one) or the host's (ZeroMQ's I/O threads block
   every signal). Fails when the host's thread takes signals, or when the
   client does not retry its sends. */
Test(queue, a_storm_of_signals_loses_and_garbles_no_reply, .timeout = 120)
{
	struct sigaction sa = {0};
	struct itimerval storm = {{0, 50}, {0, 50}}, off = {{0, 0}, {0, 0}};
	drover_client *c;
	drover_msg *m;
	char want[32];
	int rc = DROVER_OK, i, n = 50000;

	start("  s: { capacity: 50000 }\n");
	c = prefetch_client();
	sa.sa_handler = on_alarm;
	cr_assert_eq(sigaction(SIGALRM, &sa, NULL), 0);
	cr_assert_eq(setitimer(ITIMER_REAL, &storm, NULL), 0);
	for (i = 0; i < n && rc == DROVER_OK; i++) {
		snprintf(want, sizeof(want), "m%d", i);
		rc = drover_put(c, "s", want, strlen(want), 5000);
	}
	cr_assert_eq(rc, DROVER_OK, "put %d of %d: %s", i, n, drover_strerror(rc));
	for (i = 0; i < n && rc == DROVER_OK; i++) {
		snprintf(want, sizeof(want), "m%d", i);
		if ((m = drover_get(c, "s", 5000, &rc)) == NULL)
			break;
		cr_expect(drover_msg_size(m) == strlen(want) &&
			      memcmp(drover_msg_data(m), want, strlen(want)) == 0,
			  "got %.*s, want %s", (int)drover_msg_size(m),
			  (const char *)drover_msg_data(m), want);
		rc = drover_ack(c, m);
	}
	cr_assert_eq(rc, DROVER_OK, "get or ack %d of %d: %s", i + 1, n, drover_strerror(rc));
	setitimer(ITIMER_REAL, &off, NULL);
	signal(SIGALRM, SIG_DFL);
	cr_assert_gt(alarms, 1000, "the storm: %d signals", (int)alarms);
	drover_close(c);
}

Test(queue, no_authkey_or_a_busy_port_stops_the_start)
{
	char path[128], *err = NULL;
	queue_host_t *other;

	snprintf(path, sizeof(path), "%s/queue.key", fx.dir);
	unlink(path);
	cr_assert_null(host_new("  q: {}\n", &err));
	cr_assert_not_null(strstr(err, "queue.key"), "%s", err);
	cr_assert_not_null(strstr(err, "No such file"), "%s", err);
	free(err);
	err = NULL;
	write_file(path, "\n");
	cr_assert_null(host_new("  q: {}\n", &err));
	cr_assert_not_null(strstr(err, "empty"), "%s", err);
	free(err);
	err = NULL;
	write_file(path, KEY "\n");
	start("  q: {}\n");
	other = host_new("  q: {}\n", &err);
	cr_assert_null(other);
	cr_assert_not_null(strstr(err, "Address already in use"), "%s", err);
	free(err);
}

Test(queue, a_wrong_key_is_refused_fast_and_others_keep_working)
{
	drover_client *good, *bad;
	double t;
	int rc;

	start("  q: {}\n");
	good = client();
	put_str(good, "q", "x");
	t = now_s();
	bad = drover_connect(fx.ep, "not-the-key", 11, 10000, &rc);
	cr_assert_null(bad);
	cr_assert_eq(rc, DROVER_EAUTH);
	cr_assert_lt(now_s() - t, 3.0);
	drover_ack(good, get_is(good, "q", "x"));
	cr_assert_null(drover_connect(fx.ep, "", 0, 1000, &rc));
	cr_assert_eq(rc, DROVER_EINVAL);
	drover_close(good);
}

Test(queue, no_server_is_a_connection_error)
{
	int rc;
	double t = now_s();

	cr_assert_null(drover_connect("tcp://127.0.0.1:1", KEY, strlen(KEY), 500, &rc));
	cr_assert_eq(rc, DROVER_ECONN);
	cr_assert_lt(now_s() - t, 3.0);
}

/* ---- a raw ZeroMQ peer with the right keys ---- */

static void *
raw_socket(void *ctx)
{
	auth_keypair_t s, c;
	void *sock = zmq_socket(ctx, ZMQ_DEALER);
	int linger = 0;

	auth_derive(KEY, strlen(KEY), AUTH_SERVER, &s);
	auth_derive(KEY, strlen(KEY), AUTH_CLIENT, &c);
	zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, s.public_key, 32);
	zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, c.public_key, 32);
	zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, c.secret_key, 32);
	zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof(linger));
	cr_assert_eq(zmq_connect(sock, fx.ep), 0);
	return sock;
}

/* Sends frames (NULL-terminated list of (ptr, len) pairs). */
static void
raw_send(void *sock, int n, const void *const *p, const size_t *len)
{
	for (int i = 0; i < n; i++)
		zmq_send(sock, p[i], len[i], i + 1 < n ? ZMQ_SNDMORE : 0);
}

/* Receives a reply: status, or 1 when none came within ms. */
static int
raw_status(void *sock, int ms, uint32_t *req_id)
{
	zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
	uint8_t buf[64];
	wire_rep_t r;
	int n, more;
	size_t ml = sizeof(more);

	if (zmq_poll(&it, 1, ms) <= 0)
		return 1;
	n = zmq_recv(sock, buf, sizeof(buf), 0);
	do {
		more = 0;
		zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &ml);
		if (more)
			zmq_recv(sock, buf + 32, 32, 0);
	} while (more);
	cr_assert_eq(wire_rep_decode(buf, (size_t)n, &r), 0);
	if (req_id)
		*req_id = r.req_id;
	return r.status;
}

Test(queue, garbage_and_truncated_frames_are_refused_and_serving_goes_on)
{
	void *ctx = zmq_ctx_new(), *s;
	uint8_t hdr[WIRE_HDR_LEN], junk[3] = {1, 2, 3};
	wire_req_t r;
	drover_client *c;
	uint32_t id;
	char big[70];

	start("  q: {}\n");
	c = client();
	s = raw_socket(ctx);

	/* one byte, three bytes: too short to hold an id */
	raw_send(s, 1, (const void *[]){junk}, (size_t[]){1});
	cr_assert_eq(raw_status(s, 2000, &id), DROVER_EINVAL);
	cr_assert_eq(id, 0);
	/* a header of the wrong version, keeping its request id */
	r = (wire_req_t){.op = WIRE_STATS, .req_id = 77};
	wire_req_encode(hdr, &r);
	hdr[0] = 9;
	raw_send(s, 2, (const void *[]){hdr, "q"}, (size_t[]){sizeof(hdr), 1});
	cr_assert_eq(raw_status(s, 2000, &id), DROVER_EINVAL);
	cr_assert_eq(id, 77);
	/* a PUT that says 3 messages and brings 1 */
	r = (wire_req_t){.op = WIRE_PUT, .req_id = 78, .count = 3};
	wire_req_encode(hdr, &r);
	raw_send(s, 3, (const void *[]){hdr, "q", "m"}, (size_t[]){sizeof(hdr), 1, 1});
	cr_assert_eq(raw_status(s, 2000, NULL), DROVER_EINVAL);
	/* a PUT without its queue name */
	r = (wire_req_t){.op = WIRE_PUT, .req_id = 79, .count = 1};
	wire_req_encode(hdr, &r);
	raw_send(s, 1, (const void *[]){hdr}, (size_t[]){sizeof(hdr)});
	cr_assert_eq(raw_status(s, 2000, NULL), DROVER_EINVAL);
	/* an ACK whose lease frame is not 8 bytes a lease, then bogus leases */
	r = (wire_req_t){.op = WIRE_ACK, .req_id = 80, .count = 2};
	wire_req_encode(hdr, &r);
	raw_send(s, 3, (const void *[]){hdr, "q", junk}, (size_t[]){sizeof(hdr), 1, 3});
	cr_assert_eq(raw_status(s, 2000, NULL), DROVER_EINVAL);
	memset(big, 0xff, sizeof(big));
	raw_send(s, 3, (const void *[]){hdr, "q", big}, (size_t[]){sizeof(hdr), 1, 16});
	cr_assert_eq(raw_status(s, 2000, NULL), DROVER_OK);
	/* a GET for 0 messages, a GET with a timeout below -1 */
	r = (wire_req_t){.op = WIRE_GET, .req_id = 81, .count = 0};
	wire_req_encode(hdr, &r);
	raw_send(s, 2, (const void *[]){hdr, "q"}, (size_t[]){sizeof(hdr), 1});
	cr_assert_eq(raw_status(s, 2000, NULL), DROVER_EINVAL);
	r = (wire_req_t){.op = WIRE_GET, .req_id = 82, .count = 1, .timeout_ms = -5};
	wire_req_encode(hdr, &r);
	raw_send(s, 2, (const void *[]){hdr, "q"}, (size_t[]){sizeof(hdr), 1});
	cr_assert_eq(raw_status(s, 2000, NULL), DROVER_EINVAL);
	/* a queue name with a NUL, and one of 70 bytes that does not exist */
	r = (wire_req_t){.op = WIRE_STATS, .req_id = 83};
	wire_req_encode(hdr, &r);
	raw_send(s, 2, (const void *[]){hdr, "q\0"}, (size_t[]){sizeof(hdr), 2});
	cr_assert_eq(raw_status(s, 2000, NULL), DROVER_EINVAL);
	memset(big, 'z', sizeof(big));
	raw_send(s, 2, (const void *[]){hdr, big}, (size_t[]){sizeof(hdr), sizeof(big)});
	cr_assert_eq(raw_status(s, 2000, NULL), DROVER_ENOQUEUE);
	/* an unknown op */
	r = (wire_req_t){.op = 42, .req_id = 84};
	wire_req_encode(hdr, &r);
	raw_send(s, 2, (const void *[]){hdr, "q"}, (size_t[]){sizeof(hdr), 1});
	cr_assert_eq(raw_status(s, 2000, NULL), DROVER_EINVAL);
	/* a frame larger than any max_message: ZeroMQ drops that peer */
	char *huge = calloc(1, (1 << 20) + 70000);
	r = (wire_req_t){.op = WIRE_PUT, .req_id = 85, .count = 1};
	wire_req_encode(hdr, &r);
	raw_send(s, 3, (const void *[]){hdr, "q", huge},
		 (size_t[]){sizeof(hdr), 1, (1 << 20) + 70000});
	free(huge);
	cr_assert_eq(raw_status(s, 500, NULL), 1);

	/* and the well-behaved client was served all along */
	put_str(c, "q", "still here");
	drover_ack(c, get_is(c, "q", "still here"));
	cr_assert_eq(size_of(c, "q"), 0);
	zmq_close(s);
	zmq_ctx_term(ctx);
	drover_close(c);
}

int qh__closed_peers(int port, char (*out)[64], int max); /* queue_internal.h */

Test(queue, the_kernel_names_a_peer_whose_connection_droverd_closed)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct sockaddr_in ca;
	socklen_t len = sizeof(sa);
	int l = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM, 0), a, n, i;
	char peers[64][64], want[64];
	bool found = false;

	cr_assert_eq(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	listen(l, 4);
	getsockname(l, (struct sockaddr *)&sa, &len);
	cr_assert_eq(connect(c, (struct sockaddr *)&sa, sizeof(sa)), 0);
	len = sizeof(ca);
	getsockname(c, (struct sockaddr *)&ca, &len);
	snprintf(want, sizeof(want), "127.0.0.1:%u", ntohs(ca.sin_port));
	a = accept(l, NULL, NULL);
	close(a); /* the server closes first, as libzmq does on a refusal */
	n = qh__closed_peers(ntohs(sa.sin_port), peers, 64);
	for (i = 0; i < n; i++)
		found |= strcmp(peers[i], want) == 0;
	cr_assert(found, "%s not among %d closed peers", want, n);
	close(c);
	close(l);
}

/* ---- credit, complete, flow control (issue 9) ---- */

Test(queue, puts_within_credit_never_see_full_and_all_arrive)
{
	drover_client *a, *b;
	drover_stats_t st;
	unsigned i, granted;
	double t;
	char body[16];
	int rc;

	start("  q: { capacity: 64 }\n");
	a = client();
	b = client();
	put_str(a, "q", "a0"); /* waited for: droverd grants a some places */
	/* b takes every place that is not a's (waiting a little, so that the
	   credit its confirmations bring is used too) */
	for (i = 0; i < 64; i++)
		if ((rc = drover_put(b, "q", "b", 1, 100)) != DROVER_OK)
			break;
	cr_assert_eq(rc, DROVER_EFULL); /* so b's own credit is used up */
	cr_assert_eq(drover_flush(b, 5000), DROVER_OK);
	cr_assert_eq(drover_stats(a, "q", &st), DROVER_OK);
	granted = 64 - (unsigned)st.size;
	cr_assert_geq(granted, 1, "a holds reserved places");
	cr_assert_eq(drover_put(b, "q", "b", 1, 0), DROVER_EFULL, "they are a's");
	/* a's puts within its credit go in although the queue looks full to b */
	for (i = 0; i < granted; i++) {
		snprintf(body, sizeof(body), "a%u", i + 1);
		cr_assert_eq(drover_put(a, "q", body, strlen(body), 0), DROVER_OK, "put %u of %u", i,
			     granted);
	}
	cr_assert_eq(drover_flush(a, 5000), DROVER_OK);
	cr_assert_eq(drover_undelivered(a), 0);
	cr_assert_eq(size_of(a, "q"), 64);
	/* without credit, on a full queue: FULL after the timeout */
	t = now_s();
	cr_assert_eq(drover_put(a, "q", "late", 4, 300), DROVER_EFULL);
	cr_assert_geq(now_s() - t, 0.29);
	t = now_s();
	cr_assert_eq(drover_put(b, "q", "late", 4, 300), DROVER_EFULL);
	cr_assert_geq(now_s() - t, 0.29);
	drover_close(a);
	drover_close(b);
}

/* A consumer that waits in a get is not putting: after 0.2 s of waiting
   its credit goes back, whichever way the get waits (a plain GET with
   prefetch off, a first GET, get_many), so that the places it held are
   others' again. */
Test(queue, credit_goes_back_while_a_get_waits)
{
	drover_client *a, *b, *p;
	drover_msg *msgs[4];
	size_t n;
	unsigned i;
	int rc, round;

	start("  q: { capacity: 64 }\n  e: {}\n");
	b = client();
	for (round = 0; round < 3; round++) {
		a = round == 0 ? client() : prefetch_client();
		put_str(a, "q", "a"); /* waited for: droverd grants a some places */
		for (i = 0; i < 64; i++)
			if ((rc = drover_put(b, "q", "b", 1, 100)) != DROVER_OK)
				break;
		cr_assert_eq(rc, DROVER_EFULL, "round %d", round);
		cr_assert_eq(drover_flush(b, 5000), DROVER_OK);
		cr_assert_lt(size_of(b, "q"), 64, "round %d: a holds places", round);
		if (round < 2) { /* get with prefetch off; a first GET with prefetch */
			cr_assert_null(drover_get(a, "e", 500, &rc));
		} else {
			rc = drover_get_many(a, "e", msgs, 4, 500, &n);
		}
		cr_assert_eq(rc, DROVER_EEMPTY, "round %d", round);
		/* a's places are free again: b fills them */
		while (size_of(b, "q") < 64)
			cr_assert_eq(drover_put(b, "q", "b", 1, 1000), DROVER_OK, "round %d", round);
		cr_assert_eq(drover_flush(b, 5000), DROVER_OK);
		drover_close(a);
		p = prefetch_client();
		cr_assert_eq(drover_get_many(p, "q", msgs, 4, 1000, &n), DROVER_OK);
		while (n > 0) { /* empty q again */
			cr_assert_eq(drover_ack_many(p, msgs, n), DROVER_OK);
			if (drover_get_many(p, "q", msgs, 4, 0, &n) != DROVER_OK)
				n = 0;
		}
		cr_assert_eq(drover_flush(p, 5000), DROVER_OK);
		drover_close(p);
	}
	drover_close(b);
}

/* A result larger than its queue's max_message is ETOOBIG at once, also on
   a client's first complete into that queue (the limit comes with the
   credit), and its task goes back at once. */
Test(queue, a_result_over_max_message_is_too_big_at_once_and_its_task_returns)
{
	drover_client *a, *w;
	char big[2048];
	drover_msg *m;

	start("  t: {}\n  r: { max_message: 1KB }\n");
	a = client();
	w = client();
	put_str(a, "t", "task");
	cr_assert_eq(drover_flush(a, 5000), DROVER_OK);
	m = get_is(w, "t", "task");
	memset(big, 'x', sizeof(big));
	cr_assert_eq(drover_complete(w, m, "r", big, sizeof(big), 1000), DROVER_ETOOBIG);
	m = get_is(a, "t", "task"); /* nacked: here at once */
	cr_assert_eq(drover_complete(a, m, "r", "ok", 2, 1000), DROVER_OK);
	cr_assert_eq(drover_flush(a, 5000), DROVER_OK);
	cr_assert_eq(size_of(a, "r"), 1);
	drover_close(a);
	drover_close(w);
}

typedef struct {
	int id, n, rc;
} producer_t;

static void *
producer_run(void *arg)
{
	producer_t *p = arg;
	drover_client *c = client();
	char body[32];

	p->rc = DROVER_OK;
	for (int i = 0; i < p->n && p->rc == DROVER_OK; i++) {
		snprintf(body, sizeof(body), "%d.%d", p->id, i);
		p->rc = drover_put(c, "q", body, strlen(body), 20000);
	}
	if (p->rc == DROVER_OK)
		p->rc = drover_flush(c, 20000);
	drover_close(c);
	return NULL;
}

Test(queue, clients_sharing_a_small_queue_never_deadlock_and_none_starves, .timeout = 120)
{
	enum { P = 4, N = 300 };
	producer_t p[P];
	pthread_t th[P];
	int next[P] = {0}, got = 0, rc, id, i;
	drover_client *c;
	drover_msg *m;

	start("  q: { capacity: 4 }\n");
	for (i = 0; i < P; i++) {
		p[i] = (producer_t){.id = i, .n = N};
		pthread_create(&th[i], NULL, producer_run, &p[i]);
	}
	c = prefetch_client();
	while (got < P * N && (m = drover_get(c, "q", 20000, &rc)) != NULL) {
		char body[32];

		/* the data has no NUL of its own: what follows it in memory may
		   be the next message */
		snprintf(body, sizeof(body), "%.*s", (int)drover_msg_size(m),
			 (const char *)drover_msg_data(m));
		cr_assert_eq(sscanf(body, "%d.%d", &id, &i), 2, "%s", body);
		cr_assert(id >= 0 && id < P);
		cr_assert_eq(i, next[id], "producer %d: %d after %d", id, i, next[id] - 1);
		next[id]++;
		got++;
		drover_ack(c, m);
	}
	cr_assert_eq(got, P * N, "got %d of %d: %s", got, P * N, drover_strerror(rc));
	for (i = 0; i < P; i++) {
		pthread_join(th[i], NULL);
		cr_assert_eq(p[i].rc, DROVER_OK, "producer %d: %s", i, drover_strerror(p[i].rc));
		cr_assert_eq(next[i], N);
	}
	drover_close(c);
}

Test(queue, complete_puts_the_result_and_acks_the_task_whole_or_not_at_all)
{
	drover_client *w, *other;
	drover_stats_t st;
	drover_msg *m;
	double t;
	int rc;

	start("  tasks: { lease: 60s }\n  results: { capacity: 1 }\n");
	w = client();
	other = client();
	put_str(other, "tasks", "t1");
	put_str(other, "tasks", "t2");
	cr_assert_eq(drover_flush(other, 5000), DROVER_OK);
	/* an ordinary complete */
	m = get_is(w, "tasks", "t1");
	cr_assert_eq(drover_complete(w, m, "results", "r1", 2, 1000), DROVER_OK);
	cr_assert_eq(drover_flush(w, 5000), DROVER_OK);
	cr_assert_eq(drover_stats(w, "tasks", &st), DROVER_OK);
	cr_assert_eq(st.in_flight, 0, "t1 is acked");
	/* the results queue is full: the complete fails after its timeout and
	   leaves the task to be delivered again */
	cr_assert_eq(size_of(w, "results"), 1);
	m = get_is(w, "tasks", "t2");
	t = now_s();
	rc = drover_complete(w, m, "results", "r2", 2, 300);
	cr_assert_eq(rc, DROVER_EFULL, "complete: %s", drover_strerror(rc));
	cr_assert_geq(now_s() - t, 0.29);
	cr_assert_eq(drover_flush(w, 5000), DROVER_OK);
	cr_assert_eq(size_of(w, "results"), 1, "no second result");
	m = get_is(other, "tasks", "t2"); /* delivered again, at once */
	cr_assert_eq(drover_stats(w, "tasks", &st), DROVER_OK);
	cr_assert_eq(st.get_total, 3);
	/* a task no longer ours (nacked: back in the queue) gets no result */
	drover_ack(w, get_is(w, "results", "r1"));
	cr_assert_eq(drover_flush(w, 5000), DROVER_OK);
	drover_nack(other, m);
	m = get_is(w, "tasks", "t2");
	{
		drover_msg *again;

		drover_nack(w, m); /* w's m is gone; complete a copy of its lease */
		again = get_is(other, "tasks", "t2");
		cr_assert_eq(drover_complete(other, again, "results", "r2", 2, 1000), DROVER_OK);
	}
	cr_assert_eq(drover_flush(other, 5000), DROVER_OK);
	drover_ack(w, get_is(w, "results", "r2"));
	cr_assert_eq(size_of(w, "results"), 0);
	drover_close(w);
	drover_close(other);
}

Test(queue, a_nack_of_65536_leases_in_one_frame_is_within_the_frame_limit)
{
	enum { N = 65536 };
	drover_client *c;
	void *ctx = zmq_ctx_new(), *s;
	const void **data = calloc(N, sizeof(*data));
	size_t *sizes = calloc(N, sizeof(*sizes)), done = 0, ml = sizeof(int);
	uint8_t hdr[WIRE_HDR_LEN], *ids = NULL;
	wire_req_t r;
	wire_rep_t rep;
	drover_stats_t st;
	zmq_msg_t f;
	int more = 1, n = 0;
	uint32_t id;

	/* max_message 64KB: HELLO used to advertise 128 KiB, and a frame of
	   65536 lease ids (512 KiB) made ZeroMQ drop the connection, with no
	   reply and every lease back in the queue. */
	start("  q: { capacity: 70000, max_message: 64KB }\n");
	c = client();
	for (size_t i = 0; i < N; i++) {
		data[i] = "x";
		sizes[i] = 1;
	}
	cr_assert_eq(drover_put_many(c, "q", data, sizes, N, 5000, &done), DROVER_OK);
	cr_assert_eq(done, N);
	s = raw_socket(ctx);
	/* HELLO says a frame of ids fits */
	r = (wire_req_t){.op = WIRE_HELLO, .req_id = 1};
	wire_req_encode(hdr, &r);
	raw_send(s, 1, (const void *[]){hdr}, (size_t[]){sizeof(hdr)});
	{
		uint8_t buf[WIRE_HDR_LEN], lim[8];

		cr_assert_eq(zmq_recv(s, buf, sizeof(buf), 0), WIRE_HDR_LEN);
		cr_assert_eq(zmq_recv(s, lim, sizeof(lim), 0), 8);
		cr_assert_geq(wire_get_u64(lim), (uint64_t)WIRE_MAX_IDS_FRAME + WIRE_HDR_LEN,
			      "HELLO's limit %llu", (unsigned long long)wire_get_u64(lim));
	}
	/* all of them in one GET, and back in one NACK of one frame */
	r = (wire_req_t){.op = WIRE_GET, .req_id = 2, .timeout_ms = 5000, .count = N};
	wire_req_encode(hdr, &r);
	raw_send(s, 2, (const void *[]){hdr, "q"}, (size_t[]){sizeof(hdr), 1});
	while (more) {
		zmq_msg_init(&f);
		cr_assert_geq(zmq_msg_recv(&f, s, 0), 0);
		if (n == 0) {
			cr_assert_eq(wire_rep_decode(zmq_msg_data(&f), zmq_msg_size(&f), &rep), 0);
			cr_assert_eq(rep.count, N);
		} else if (n == 1) {
			cr_assert_eq(zmq_msg_size(&f), (size_t)N * 8);
			ids = malloc(zmq_msg_size(&f));
			memcpy(ids, zmq_msg_data(&f), zmq_msg_size(&f));
		}
		zmq_getsockopt(s, ZMQ_RCVMORE, &more, &ml);
		zmq_msg_close(&f);
		n++;
	}
	cr_assert_eq(n, N + 2);
	r = (wire_req_t){.op = WIRE_NACK, .req_id = 3, .count = N};
	wire_req_encode(hdr, &r);
	raw_send(s, 3, (const void *[]){hdr, "q", ids}, (size_t[]){sizeof(hdr), 1, (size_t)N * 8});
	cr_assert_eq(raw_status(s, 10000, &id), DROVER_OK, "no answer: the connection was dropped");
	cr_assert_eq(id, 3);
	cr_assert_eq(drover_stats(c, "q", &st), DROVER_OK);
	cr_assert_eq(st.in_flight, 0);
	cr_assert_eq(st.size, N);
	zmq_close(s);
	zmq_ctx_term(ctx);
	drover_close(c);
	free(ids);
	free(data);
	free(sizes);
}

/* The GET reply's header and count, its frames read and dropped. */
static int
raw_get_reply(void *sock, int ms, wire_rep_t *rep)
{
	zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
	zmq_msg_t f;
	int more = 1, n = 0;
	size_t ml = sizeof(more);

	if (zmq_poll(&it, 1, ms) <= 0)
		return -1;
	while (more) {
		zmq_msg_init(&f);
		zmq_msg_recv(&f, sock, 0);
		if (n++ == 0)
			cr_assert_eq(wire_rep_decode(zmq_msg_data(&f), zmq_msg_size(&f), rep), 0);
		zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &ml);
		zmq_msg_close(&f);
	}
	return n;
}

Test(queue, a_standing_get_stays_until_all_it_asked_for_came)
{
	void *ctx = zmq_ctx_new(), *s;
	uint8_t hdr[WIRE_HDR_LEN];
	wire_req_t r = {.op = WIRE_GET, .flags = WIRE_F_STANDING, .req_id = 9, .timeout_ms = -1,
			.count = 3};
	wire_rep_t rep;
	drover_client *c;

	start("  q: {}\n");
	c = client();
	s = raw_socket(ctx);
	wire_req_encode(hdr, &r);
	raw_send(s, 2, (const void *[]){hdr, "q"}, (size_t[]){sizeof(hdr), 1});
	wait_stat(c, "q", 1);
	put_str(c, "q", "1");
	cr_assert_eq(raw_get_reply(s, 5000, &rep), 3, "header, ids, one message");
	cr_assert_eq(rep.req_id, 9);
	cr_assert_eq(rep.count, 1);
	put_str(c, "q", "2");
	put_str(c, "q", "3");
	cr_assert_eq(drover_flush(c, 5000), DROVER_OK);
	cr_assert_gt(raw_get_reply(s, 5000, &rep), 0, "still standing");
	cr_assert_eq(rep.req_id, 9);
	if (rep.count == 1) /* 2 and 3 may come apart */
		cr_assert_gt(raw_get_reply(s, 5000, &rep), 0);
	put_str(c, "q", "4");
	cr_assert_eq(drover_flush(c, 5000), DROVER_OK);
	cr_assert_eq(raw_get_reply(s, 300, &rep), -1, "three came: it stands no more");
	cr_assert_eq(size_of(c, "q"), 1);
	zmq_close(s);
	zmq_ctx_term(ctx);
	drover_close(c);
}

/* ---- revision 3: packed requests and replies ---- */

/* A packed request: header (flags | WIRE_F_PACKED), then the parts. */
static void
packed_send(void *sock, wire_req_t r, int n, const char *const *parts)
{
	uint8_t buf[512], *o = buf + WIRE_HDR_LEN;

	r.flags |= WIRE_F_PACKED;
	wire_req_encode(buf, &r);
	for (int i = 0; i < n; i++)
		o = wire_part_put(o, parts[i], strlen(parts[i]));
	cr_assert_eq(zmq_send(sock, buf, (size_t)(o - buf), 0), (int)(o - buf));
}

/* One reply, which must be a single frame: its header and parts (at most
   8, each copied NUL-terminated into part[i]); the number of parts, or -1
   when none came within ms. */
static int
packed_recv(void *sock, int ms, wire_rep_t *rep, char part[8][64], size_t *len)
{
	zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
	const uint8_t *d;
	wire_parts_t p;
	zmq_msg_t f;
	size_t l;
	int n = 0, rc;

	if (zmq_poll(&it, 1, ms) <= 0)
		return -1;
	zmq_msg_init(&f);
	cr_assert_geq(zmq_msg_recv(&f, sock, 0), WIRE_HDR_LEN);
	cr_assert_not(zmq_msg_more(&f), "a reply to a packed request is one frame");
	cr_assert_eq(wire_rep_decode(zmq_msg_data(&f), WIRE_HDR_LEN, rep), 0);
	wire_parts_init(&p, zmq_msg_data(&f), zmq_msg_size(&f));
	while ((rc = wire_parts_next(&p, &d, &l)) == 1) {
		cr_assert_lt(n, 8);
		cr_assert_lt(l, 64);
		memcpy(part[n], d, l);
		part[n][l] = '\0';
		len[n++] = l;
	}
	cr_assert_eq(rc, 0, "the parts fill the frame");
	zmq_msg_close(&f);
	return n;
}

Test(queue, packed_requests_get_packed_replies_and_other_clients_are_served_as_before)
{
	void *ctx = zmq_ctx_new(), *s, *old;
	uint8_t hdr[WIRE_HDR_LEN];
	char part[8][64];
	size_t len[8];
	wire_rep_t rep;
	drover_client *c;

	start("  q: {}\n  d: { durable: true }\n");
	c = client();
	s = raw_socket(ctx);

	/* a PUT of two messages waited for (REFILL alone): granted credit and
	   max_message in one frame */
	packed_send(s, (wire_req_t){.op = WIRE_PUT, .flags = WIRE_F_REFILL, .req_id = 5, .count = 2},
		    3, (const char *[]){"q", "a", "bc"});
	cr_assert_eq(packed_recv(s, 5000, &rep, part, len), 1);
	cr_assert_eq(rep.status, DROVER_OK);
	cr_assert_eq(rep.req_id, 5);
	cr_assert_eq(rep.count, 2);
	cr_assert_eq(len[0], 8, "max_message");
	/* the same into a durable queue: the reply after the commit, packed */
	packed_send(s, (wire_req_t){.op = WIRE_PUT, .flags = WIRE_F_REFILL, .req_id = 6, .count = 1},
		    2, (const char *[]){"d", "durable"});
	cr_assert_eq(packed_recv(s, 5000, &rep, part, len), 1);
	cr_assert_eq(rep.req_id, 6);
	cr_assert_eq(rep.count, 1);
	/* a GET of both: header, lease ids, messages, in one frame */
	packed_send(s, (wire_req_t){.op = WIRE_GET, .req_id = 7, .count = 5}, 1,
		    (const char *[]){"q"});
	cr_assert_eq(packed_recv(s, 5000, &rep, part, len), 3);
	cr_assert_eq(rep.count, 2);
	cr_assert_eq(len[0], 16, "two lease ids");
	cr_assert_str_eq(part[1], "a");
	cr_assert_str_eq(part[2], "bc");
	/* a standing GET: what droverd pushes later is packed too */
	packed_send(s,
		    (wire_req_t){.op = WIRE_GET, .flags = WIRE_F_STANDING, .req_id = 8,
				 .timeout_ms = -1, .count = 1},
		    1, (const char *[]){"q"});
	wait_stat(c, "q", 1);
	put_str(c, "q", "pushed");
	cr_assert_eq(packed_recv(s, 5000, &rep, part, len), 2);
	cr_assert_eq(rep.req_id, 8);
	cr_assert_str_eq(part[1], "pushed");
	/* an error reply carries its text as a part */
	packed_send(s, (wire_req_t){.op = WIRE_STATS, .req_id = 9}, 1, (const char *[]){"nope"});
	cr_assert_eq(packed_recv(s, 5000, &rep, part, len), 1);
	cr_assert_eq(rep.status, DROVER_ENOQUEUE);
	cr_assert_str_eq(part[0], "no queue \"nope\"");

	/* a client that does not pack, beside it, gets frames as before */
	old = raw_socket(ctx);
	put_str(c, "q", "plain");
	wire_req_encode(hdr, &(wire_req_t){.op = WIRE_GET, .req_id = 10, .count = 1});
	raw_send(old, 2, (const void *[]){hdr, "q"}, (size_t[]){sizeof(hdr), 1});
	cr_assert_eq(raw_get_reply(old, 5000, &rep), 3, "header, ids, message: three frames");
	cr_assert_eq(rep.req_id, 10);

	/* malformed: parts that do not fill the frame, a packed frame with
	   another after it, more than a header without the flag */
	{
		uint8_t buf[64];
		wire_req_t r = {.op = WIRE_PUT, .flags = WIRE_F_PACKED, .req_id = 11, .count = 1};

		wire_req_encode(buf, &r);
		wire_part_put(buf + WIRE_HDR_LEN, "q", 1);
		wire_put_u32(buf + WIRE_HDR_LEN + 5, 100); /* says 100 bytes, has 3 */
		memcpy(buf + WIRE_HDR_LEN + 9, "abc", 3);
		zmq_send(s, buf, WIRE_HDR_LEN + 12, 0);
		cr_assert_eq(packed_recv(s, 5000, &rep, part, len), 1);
		cr_assert_eq(rep.status, DROVER_EINVAL);
		cr_assert_eq(rep.req_id, 11);
		cr_assert_str_eq(part[0], "the parts of a packed request do not fill its frame");
		r.req_id = 12;
		wire_req_encode(buf, &r);
		wire_part_put(wire_part_put(buf + WIRE_HDR_LEN, "q", 1), "m", 1);
		zmq_send(s, buf, WIRE_HDR_LEN + 10, ZMQ_SNDMORE);
		zmq_send(s, "m", 1, 0);
		cr_assert_eq(packed_recv(s, 5000, &rep, part, len), 1);
		cr_assert_eq(rep.status, DROVER_EINVAL);
		cr_assert_str_eq(part[0], "a packed request is one frame");
		r.flags = 0;
		r.req_id = 13;
		wire_req_encode(buf, &r);
		zmq_send(s, buf, WIRE_HDR_LEN + 10, 0);
		cr_assert_eq(raw_status(s, 5000, NULL), DROVER_EINVAL);
	}

	/* nothing was put by the refused requests, and everyone is served */
	put_str(c, "q", "still here");
	drover_ack(c, get_is(c, "q", "still here"));
	cr_assert_eq(size_of(c, "q"), 0);
	cr_assert_eq(size_of(c, "d"), 1);
	zmq_close(s);
	zmq_close(old);
	zmq_ctx_term(ctx);
	drover_close(c);
}
