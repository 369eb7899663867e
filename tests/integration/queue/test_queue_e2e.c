/* Queues end to end: a real droverd (started by the harness with the
   authkey file it writes), libdrover clients, worker processes killed with
   SIGKILL, droverd itself killed with SIGKILL and restarted, 200 clients at
   once, hostile frames, and the numbers in /api/v1/queues and /metrics. */
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "auth.h"
#include "drover.h"
#include "harness.h"
#include "wire.h"

#define PUTTER_WINDOW 50 /* puts between the putter's flushes */

static drv_t d;
static char ep[64];

static void
teardown(void)
{
	drv_cleanup(&d);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
start(const char *yaml)
{
	cr_assert_eq(drv_start(&d, yaml), 0, "droverd did not start");
	snprintf(ep, sizeof(ep), "tcp://127.0.0.1:%d", d.qport);
}

/* A client that takes one message per get (no prefetch): these tests look
   at droverd's order and leases one message at a time. */
static drover_client *
client(void)
{
	int rc;
	drover_client *c = drover_connect(ep, DRV_AUTHKEY, strlen(DRV_AUTHKEY), 5000, &rc);

	cr_assert_not_null(c, "connect %s: %s", ep, drover_strerror(rc));
	cr_assert_eq(drover_set_prefetch(c, 1), DROVER_OK);
	return c;
}

static void
put_str(drover_client *c, const char *q, const char *s)
{
	int rc = drover_put(c, q, s, strlen(s), 1000);

	cr_assert_eq(rc, DROVER_OK, "put %s: %s", s, drover_strerror(rc));
}

static drover_msg *
get_is(drover_client *c, const char *q, const char *want, int timeout_ms)
{
	int rc;
	drover_msg *m = drover_get(c, q, timeout_ms, &rc);

	cr_assert_not_null(m, "get %s: %s", q, drover_strerror(rc));
	cr_assert_eq(drover_msg_size(m), strlen(want), "got %.*s, want %s", (int)drover_msg_size(m),
		     (const char *)drover_msg_data(m), want);
	cr_assert_eq(memcmp(drover_msg_data(m), want, strlen(want)), 0, "got %.*s, want %s",
		     (int)drover_msg_size(m), (const char *)drover_msg_data(m), want);
	return m;
}

/* The queue object named name from /api/v1/queues (caller owns). */
static json_t *
api_queue(const char *name)
{
	json_t *a = drv_get_json(&d, "/api/v1/queues"), *q, *found = NULL;
	size_t i;

	cr_assert(json_is_array(a), "/api/v1/queues is not an array");
	json_array_foreach(a, i, q) if (strcmp(json_string_value(json_object_get(q, "name")),
					       name) == 0) found = json_incref(q);
	json_decref(a);
	cr_assert_not_null(found, "no queue %s in /api/v1/queues", name);
	return found;
}

static long
jint(json_t *o, const char *k)
{
	return (long)json_integer_value(json_object_get(o, k));
}

Test(queue_e2e, the_basics_through_droverd, .fini = teardown, .timeout = 60)
{
	drover_client *c;
	drover_msg *m;
	double t;
	int rc;
	char big[2048] = {0};

	start("queues:\n"
	      "  tasks: { capacity: 2, lease: 500ms, max_message: 1KB }\n");
	c = client();
	put_str(c, "tasks", "a");
	put_str(c, "tasks", "b");
	t = now_s();
	cr_assert_eq(drover_put(c, "tasks", "c", 1, 200), DROVER_EFULL);
	cr_assert_geq(now_s() - t, 0.19);
	cr_assert_eq(drover_put(c, "tasks", big, sizeof(big), 0), DROVER_ETOOBIG);
	cr_assert_eq(drover_put(c, "other", "x", 1, 0), DROVER_ENOQUEUE);
	drover_nack(c, get_is(c, "tasks", "a", 1000));
	m = get_is(c, "tasks", "a", 1000); /* nacked: at the head again */
	drover_msg_free(m);		   /* its lease runs out ... */
	drover_ack(c, get_is(c, "tasks", "b", 1000));
	drover_ack(c, get_is(c, "tasks", "a", 3000)); /* ... and it is back */
	t = now_s();
	cr_assert_null(drover_get(c, "tasks", 200, &rc));
	cr_assert_eq(rc, DROVER_EEMPTY);
	cr_assert_geq(now_s() - t, 0.19);
	drover_close(c);
}

Test(queue_e2e, a_wrong_key_is_refused_fast_logged_and_others_keep_working, .fini = teardown,
     .timeout = 60)
{
	drover_client *good, *bad;
	char *log, *body = NULL;
	double t;
	int rc;

	start("queues:\n  q: {}\n");
	good = client();
	put_str(good, "q", "one");
	t = now_s();
	bad = drover_connect(ep, "wrong-key", 9, 10000, &rc);
	cr_assert_null(bad);
	cr_assert_eq(rc, DROVER_EAUTH, "%s", drover_strerror(rc));
	cr_assert_lt(now_s() - t, 3.0);
	drover_ack(good, get_is(good, "q", "one", 1000));
	put_str(good, "q", "two");
	drover_ack(good, get_is(good, "q", "two", 1000));
	drover_close(good);

	log = drv_slurp(d.log_path);
	cr_assert_not_null(strstr(log, "refused 127.0.0.1:"), "%s", log);
	cr_assert_null(strstr(log, DRV_AUTHKEY));
	free(log);
	cr_assert_eq(drv_http(&d, "GET", "/api/v1/queues", NULL, false, &body), 200);
	cr_assert_null(strstr(body, DRV_AUTHKEY));
	free(body);
	cr_assert_eq(drv_http(&d, "GET", "/api/v1/status", NULL, false, &body), 200);
	cr_assert_null(strstr(body, DRV_AUTHKEY));
	free(body);
	drv_sh("cat /proc/$(pgrep -n droverd)/cmdline", &body);
	cr_assert_null(strstr(body, DRV_AUTHKEY));
	free(body);
}

/* A worker process (queue_worker: a program of its own, see its comment):
   takes n messages, tells the parent, and sits on them. */
static pid_t
greedy_worker(const char *q, size_t n)
{
	int p[2];
	pid_t pid;
	char ok, num[16];

	snprintf(num, sizeof(num), "%zu", n);
	cr_assert_eq(pipe(p), 0);
	if ((pid = fork()) == 0) {
		dup2(p[1], 1);
		execl(QUEUE_WORKER, QUEUE_WORKER, "greedy", ep, d.authkey_path, q, num,
		      (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	cr_assert_eq(read(p[0], &ok, 1), 1, "the worker got no messages");
	close(p[0]);
	return pid;
}

Test(queue_e2e, a_worker_killed_holding_leases_loses_none, .fini = teardown, .timeout = 60)
{
	drover_client *c;
	json_t *q;
	pid_t w;
	int status;
	double t;

	start("queues:\n  tasks: { lease: 60s }\n");
	c = client();
	put_str(c, "tasks", "t1");
	put_str(c, "tasks", "t2");
	put_str(c, "tasks", "t3");
	put_str(c, "tasks", "t4");
	cr_assert_eq(drover_flush(c, 5000), DROVER_OK);
	w = greedy_worker("tasks", 3);
	q = api_queue("tasks");
	cr_assert_eq(jint(q, "in_flight"), 3);
	cr_assert_eq(jint(q, "size"), 1);
	cr_assert_eq(jint(q, "consumers"), 1);
	json_decref(q);
	kill(w, SIGKILL);
	waitpid(w, &status, 0);
	/* droverd notices at once (long before the 60 s lease would run out)
	   and puts them back at the head, in order: another worker gets all of
	   them, the lost ones first. */
	t = now_s();
	for (;;) {
		q = api_queue("tasks");
		status = (int)jint(q, "in_flight");
		json_decref(q);
		if (status == 0)
			break;
		cr_assert_lt(now_s() - t, 5.0, "the dead worker's leases are still out");
		drv_sleep_ms(20);
	}
	drover_ack(c, get_is(c, "tasks", "t1", 1000));
	drover_ack(c, get_is(c, "tasks", "t2", 1000));
	drover_ack(c, get_is(c, "tasks", "t3", 1000));
	drover_ack(c, get_is(c, "tasks", "t4", 1000));
	{
		size_t size;

		cr_assert_eq(drover_queue_size(c, "tasks", &size), DROVER_OK); /* acks read */
		cr_assert_eq(size, 0);
	}
	q = api_queue("tasks");
	cr_assert_eq(jint(q, "in_flight"), 0);
	cr_assert_eq(jint(q, "size"), 0);
	json_decref(q);
	drover_close(c);
}

/* Puts numbered messages one by one and writes each confirmed number to fd,
   until killed or droverd goes away (queue_worker put: pipelined within
   credit, a flush every PUTTER_WINDOW puts). */
static pid_t
putter(int fd)
{
	char window[16];
	pid_t pid;

	snprintf(window, sizeof(window), "%d", PUTTER_WINDOW);
	if ((pid = fork()) == 0) {
		dup2(fd, 1);
		execl(QUEUE_WORKER, QUEUE_WORKER, "put", ep, d.authkey_path, "jobs", window,
		      (char *)NULL);
		_exit(127);
	}
	return pid;
}

Test(queue_e2e, durable_messages_flush_confirmed_survive_kill_9_of_droverd_once_each_in_order, .fini = teardown,
     .timeout = 90)
{
	drover_client *c;
	drover_msg *m[256];
	int p[2], status;
	pid_t w;
	char *confirmed_text, path[400], cmd[512];
	static unsigned char seen[1 << 20];
	unsigned confirmed = 0, got = 0, last = 0, v, i;
	size_t n, k;
	FILE *f;

	start("queues:\n  jobs: { durable: true, capacity: 1000000 }\n");
	c = client();
	/* 300 in and 100 of them acked, then a stream of puts cut by kill -9. */
	for (i = 0; i < 300; i++) {
		char b[16];

		snprintf(b, sizeof(b), "pre%u", i);
		put_str(c, "jobs", b);
	}
	for (got = 0; got < 100; got += (unsigned)n) {
		cr_assert_eq(drover_get_many(c, "jobs", m, 100 - got, 1000, &n), DROVER_OK);
		cr_assert_eq(drover_ack_many(c, m, n), DROVER_OK);
	}
	cr_assert_eq(drover_get_many(c, "jobs", m, 10, 1000, &n), DROVER_OK); /* leased */
	for (k = 0; k < n; k++)
		drover_msg_free(m[k]);
	{
		size_t size;

		cr_assert_eq(drover_queue_size(c, "jobs", &size), DROVER_OK); /* acks read */
		cr_assert_eq(size, 190);
	}
	drover_close(c);
	snprintf(path, sizeof(path), "%s/confirmed", d.dir);
	cr_assert_eq(pipe(p), 0);
	w = putter(p[1]);
	close(p[1]);
	f = fdopen(p[0], "r");
	char line[32];
	while (confirmed < 2000 && fgets(line, sizeof(line), f) != NULL)
		confirmed++;
	kill(d.pid, SIGKILL);
	waitpid(d.pid, &status, 0);
	d.pid = 0;
	while (fgets(line, sizeof(line), f) != NULL) /* confirmations in flight */
		confirmed++;
	fclose(f);
	waitpid(w, &status, 0);
	cr_assert_geq(confirmed, 2000);

	cr_assert_eq(drv_launch(&d), 0, "droverd did not restart");
	c = client();
	/* pre100..pre299 (the 10 leased ones among them), then 0..confirmed-1,
	   perhaps some of the window whose flush did not return, none twice. */
	got = 0;
	for (;;) {
		if (drover_get_many(c, "jobs", m, 256, 500, &n) != DROVER_OK)
			break;
		for (k = 0; k < n; k++) {
			char b[32];

			snprintf(b, sizeof(b), "%.*s", (int)drover_msg_size(m[k]),
				 (const char *)drover_msg_data(m[k]));
			if (got < 200) {
				char want[16];

				snprintf(want, sizeof(want), "pre%u", 100 + got);
				cr_assert_str_eq(b, want);
			} else {
				v = (unsigned)strtoul(b, NULL, 10);
				cr_assert_lt(v, sizeof(seen));
				cr_assert_eq(seen[v], 0, "message %u came twice", v);
				cr_assert(got == 200 || v == last + 1, "%u after %u", v, last);
				seen[v] = 1;
				last = v;
			}
			got++;
		}
		drover_ack_many(c, m, n);
	}
	for (v = 0; v < confirmed; v++)
		cr_assert(seen[v], "confirmed message %u is lost (of %u)", v, confirmed);
	cr_assert_leq(got - 200, confirmed + PUTTER_WINDOW);
	drover_close(c);
	snprintf(cmd, sizeof(cmd), "ls %s/var/queues.db", d.dir);
	cr_assert_eq(drv_sh(cmd, &confirmed_text), 0);
	free(confirmed_text);
}

typedef struct {
	int id;
	int rc;
} crowd_t;

static void *
crowd_member(void *arg)
{
	crowd_t *m = arg;
	char body[32];
	drover_client *c;
	drover_msg *msg;
	int rc, i;

	if ((c = drover_connect(ep, DRV_AUTHKEY, strlen(DRV_AUTHKEY), 20000, &rc)) == NULL) {
		m->rc = rc;
		return NULL;
	}
	for (i = 0; i < 5 && rc == DROVER_OK; i++) {
		snprintf(body, sizeof(body), "%d.%d", m->id, i);
		rc = drover_put(c, "crowd", body, strlen(body), 10000);
	}
	for (i = 0; i < 5 && rc == DROVER_OK; i++)
		if ((msg = drover_get(c, "crowd", 10000, &rc)) != NULL)
			rc = drover_ack(c, msg);
	m->rc = rc;
	drover_close(c);
	return NULL;
}

Test(queue_e2e, two_hundred_clients_at_once, .fini = teardown, .timeout = 120)
{
	enum { N = 200 };
	static pthread_t th[N];
	static crowd_t m[N];
	json_t *q;
	int i;

	start("queues:\n  crowd: {}\n");
	for (i = 0; i < N; i++) {
		m[i] = (crowd_t){.id = i};
		cr_assert_eq(pthread_create(&th[i], NULL, crowd_member, &m[i]), 0);
	}
	for (i = 0; i < N; i++) {
		pthread_join(th[i], NULL);
		cr_assert_eq(m[i].rc, DROVER_OK, "client %d: %s", i, drover_strerror(m[i].rc));
	}
	for (i = 0; i < 100; i++) {
		q = api_queue("crowd");
		if (jint(q, "in_flight") == 0 && jint(q, "size") == 0)
			break;
		json_decref(q);
		q = NULL;
		drv_sleep_ms(50);
	}
	cr_assert_not_null(q, "messages left over");
	cr_assert_eq(jint(q, "put_total"), 5 * N);
	cr_assert_geq(jint(q, "get_total"), 5 * N);
	json_decref(q);
}

Test(queue_e2e, hostile_bytes_and_frames_do_not_disturb_droverd, .fini = teardown, .timeout = 60)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	void *ctx = zmq_ctx_new(), *s;
	auth_keypair_t sk, ck;
	uint8_t hdr[WIRE_HDR_LEN];
	wire_req_t r;
	drover_client *c;
	int fd, i, linger = 0;
	char junk[4096];

	start("queues:\n  q: {}\n");
	c = client();
	/* Not ZeroMQ at all. */
	for (i = 0; i < 3; i++) {
		fd = socket(AF_INET, SOCK_STREAM, 0);
		sa.sin_port = htons((uint16_t)d.qport);
		cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		memset(junk, i == 0 ? 0xff : 'G', sizeof(junk));
		if (write(fd, i == 2 ? "GET / HTTP/1.0\r\n\r\n" : junk,
			  i == 2 ? 18 : sizeof(junk)) < 0)
			cr_assert_fail("write");
		close(fd);
	}
	/* ZeroMQ with the right keys, and nonsense inside. */
	auth_derive(DRV_AUTHKEY, strlen(DRV_AUTHKEY), AUTH_SERVER, &sk);
	auth_derive(DRV_AUTHKEY, strlen(DRV_AUTHKEY), AUTH_CLIENT, &ck);
	s = zmq_socket(ctx, ZMQ_DEALER);
	zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, sk.public_key, 32);
	zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, ck.public_key, 32);
	zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, ck.secret_key, 32);
	zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
	zmq_connect(s, ep);
	for (i = 0; i < 200; i++) {
		size_t len = (size_t)(rand() % 40);

		for (size_t k = 0; k < len; k++)
			junk[k] = (char)rand();
		if (i % 3 == 0 && len >= WIRE_HDR_LEN)
			junk[0] = WIRE_VERSION;
		zmq_send(s, junk, len, i % 2 ? ZMQ_SNDMORE : 0);
	}
	zmq_send(s, "", 0, 0);
	r = (wire_req_t){.op = WIRE_PUT, .req_id = 1, .count = 2};
	wire_req_encode(hdr, &r);
	zmq_send(s, hdr, sizeof(hdr), ZMQ_SNDMORE);
	zmq_send(s, "q", 1, 0); /* truncated: the messages never come */
	drv_sleep_ms(300);
	zmq_close(s);
	zmq_ctx_term(ctx);

	put_str(c, "q", "fine");
	drover_ack(c, get_is(c, "q", "fine", 1000));
	cr_assert(drv_alive(d.pid));
	json_t *q = api_queue("q");
	cr_assert_eq(jint(q, "size"), 0);
	cr_assert_eq(jint(q, "put_total"), 1);
	json_decref(q);
	drover_close(c);
}

Test(queue_e2e, api_and_metrics_show_the_queues, .fini = teardown, .timeout = 60)
{
	drover_client *c;
	drover_msg *m;
	json_t *q;
	char *body = NULL, *out = NULL, cmd[600];

	start("queues:\n"
	      "  tasks: { capacity: 100, durable: true }\n"
	      "  results: {}\n");
	c = client();
	put_str(c, "tasks", "1");
	put_str(c, "tasks", "2");
	put_str(c, "tasks", "3");
	m = get_is(c, "tasks", "1", 1000);
	q = api_queue("tasks");
	cr_assert_eq(jint(q, "size"), 2);
	cr_assert_eq(jint(q, "capacity"), 100);
	cr_assert_eq(jint(q, "in_flight"), 1);
	cr_assert(json_is_true(json_object_get(q, "durable")));
	cr_assert_eq(jint(q, "put_total"), 3);
	cr_assert_eq(jint(q, "get_total"), 1);
	cr_assert_eq(jint(q, "consumers"), 1);
	json_decref(q);
	drover_ack(c, m);
	cr_assert_eq(drv_http(&d, "GET", "/metrics", NULL, false, &body), 200);
	cr_assert_not_null(strstr(body, "drover_queue_depth{queue=\"tasks\"} 2"), "%s", body);
	cr_assert_not_null(strstr(body, "drover_queue_in_flight{queue=\"tasks\"}"));
	cr_assert_not_null(strstr(body, "drover_queue_put_total{queue=\"tasks\"} 3"));
	cr_assert_not_null(strstr(body, "drover_queue_depth{queue=\"results\"} 0"));
	/* promtool's lint, for the queue lines (where it is installed) */
	if (drv_sh("command -v promtool", NULL) == 0) {
		snprintf(cmd, sizeof(cmd), "%s/metrics.txt", d.dir);
		FILE *f = fopen(cmd, "w");
		fputs(body, f);
		fclose(f);
		snprintf(cmd, sizeof(cmd),
			 "promtool check metrics < %s/metrics.txt 2>&1 | grep drover_queue", d.dir);
		drv_sh(cmd, &out);
		cr_assert_str_eq(out, "", "promtool: %s", out);
		free(out);
	}
	free(body);
	drover_close(c);
}

Test(queue_e2e, sighup_adds_resizes_and_removes_queues, .fini = teardown, .timeout = 60)
{
	drover_client *c;
	json_t *a = NULL, *q;
	int i;

	start("queues:\n  a: { capacity: 1 }\n  b: {}\n");
	c = client();
	put_str(c, "a", "1");
	cr_assert_eq(drover_put(c, "a", "2", 1, 0), DROVER_EFULL);
	cr_assert_eq(drv_rewrite(&d, "queues:\n  a: { capacity: 5 }\n  c: { durable: true }\n"), 0);
	kill(d.pid, SIGHUP);
	for (i = 0; i < 100; i++) {
		json_decref(a);
		a = drv_get_json(&d, "/api/v1/queues");
		if (json_array_size(a) == 2 &&
		    strcmp(json_string_value(json_object_get(json_array_get(a, 1), "name")), "c") ==
			0)
			break;
		drv_sleep_ms(50);
	}
	cr_assert_eq(json_array_size(a), 2, "the reload was not applied");
	q = json_array_get(a, 0);
	cr_assert_eq(jint(q, "capacity"), 5);
	cr_assert_eq(jint(q, "size"), 1, "a kept its message");
	json_decref(a);
	put_str(c, "a", "2");
	put_str(c, "c", "new");
	cr_assert_eq(drover_put(c, "b", "x", 1, 0), DROVER_ENOQUEUE);
	drover_close(c);
}

/* A worker process as the examples write it (queue_worker complete): get a
   task, complete it with its result ("r" and the task), one at a time, with
   the default prefetch; stops after idle_ms without a task. */
static pid_t
completing_worker(int idle_ms)
{
	char idle[16];
	pid_t pid;

	snprintf(idle, sizeof(idle), "%d", idle_ms);
	if ((pid = fork()) == 0) {
		execl(QUEUE_WORKER, QUEUE_WORKER, "complete", ep, d.authkey_path, "tasks",
		      "results", idle, (char *)NULL);
		_exit(127);
	}
	return pid;
}

Test(queue_e2e, workers_killed_with_completes_in_flight_leave_exactly_one_result_per_task,
     .fini = teardown, .timeout = 120)
{
	enum { N = 3000, W = 3 };
	static unsigned char seen[N];
	drover_client *c;
	drover_msg *m;
	pid_t w[W];
	int status, rc, i, got = 0;
	char body[40];

	start("queues:\n  tasks: { lease: 60s }\n  results: {}\n");
	c = drover_connect(ep, DRV_AUTHKEY, strlen(DRV_AUTHKEY), 5000, &rc);
	cr_assert_not_null(c);
	for (i = 0; i < W; i++)
		w[i] = completing_worker(60000);
	for (i = 0; i < N; i++) {
		snprintf(body, sizeof(body), "%d", i);
		cr_assert_eq(drover_put(c, "tasks", body, strlen(body), 10000), DROVER_OK);
	}
	cr_assert_eq(drover_flush(c, 20000), DROVER_OK);
	/* Kill them in the middle of the stream: each dies with completes sent
	   and not yet confirmed, and with prefetched tasks. */
	while (got < N / 3 && (m = drover_get(c, "results", 20000, &rc)) != NULL) {
		/* the data has no NUL of its own */
		snprintf(body, sizeof(body), "%.*s", (int)drover_msg_size(m),
			 (const char *)drover_msg_data(m));
		i = atoi(body + 1);
		cr_assert(i >= 0 && i < N);
		cr_assert_eq(seen[i], 0, "a second result for task %d", i);
		seen[i] = 1;
		got++;
		drover_ack(c, m);
	}
	for (i = 0; i < W; i++) {
		kill(w[i], SIGKILL);
		waitpid(w[i], &status, 0);
	}
	/* Fresh workers finish the rest: what the dead ones held comes back. */
	for (i = 0; i < W; i++)
		w[i] = completing_worker(1500);
	while (got < N && (m = drover_get(c, "results", 20000, &rc)) != NULL) {
		snprintf(body, sizeof(body), "%.*s", (int)drover_msg_size(m),
			 (const char *)drover_msg_data(m));
		i = atoi(body + 1);
		cr_assert(i >= 0 && i < N);
		cr_assert_eq(seen[i], 0, "a second result for task %d", i);
		seen[i] = 1;
		got++;
		drover_ack(c, m);
	}
	cr_assert_eq(got, N, "%d results of %d: %s", got, N, drover_strerror(rc));
	for (i = 0; i < W; i++)
		waitpid(w[i], &status, 0);
	/* and nothing more: no second result came later */
	cr_assert_null(drover_get(c, "results", 500, &rc));
	cr_assert_eq(rc, DROVER_EEMPTY);
	{
		drover_stats_t st;

		cr_assert_eq(drover_stats(c, "tasks", &st), DROVER_OK);
		cr_assert_eq(st.size + st.in_flight, 0);
	}
	drover_close(c);
}

/* A consumer faster than a round trip per half window: it takes everything
   its buffer holds (drover_get_many, which renews the standing GET), then
   waits in drover_get for that GET's reply. Returns droverd's in_flight
   (what the client holds: its window) once the GET is renewed after the
   last round. */
static long
starved_window(drover_client *c, const char *q, int rounds)
{
	static drover_msg *msgs[4096];
	drover_stats_t st;
	drover_msg *m;
	size_t n;
	int rc, i;

	m = drover_get(c, q, 5000, &rc);
	cr_assert_not_null(m, "get %s: %s", q, drover_strerror(rc));
	drover_ack(c, m);
	for (i = 0; i <= rounds; i++) {
		rc = drover_get_many(c, q, msgs, 4096, 5000, &n);
		cr_assert_eq(rc, DROVER_OK, "get_many %s: %s", q, drover_strerror(rc));
		cr_assert_eq(drover_ack_many(c, msgs, n), DROVER_OK);
		m = drover_get(c, q, 5000, &rc);
		cr_assert_not_null(m, "get %s: %s", q, drover_strerror(rc));
		drover_ack(c, m);
	}
	rc = drover_get_many(c, q, msgs, 4096, 5000, &n);
	cr_assert_eq(rc, DROVER_OK, "get_many %s: %s", q, drover_strerror(rc));
	cr_assert_eq(drover_ack_many(c, msgs, n), DROVER_OK);
	cr_assert_eq(drover_stats(c, q, &st), DROVER_OK);
	return (long)st.in_flight;
}

Test(queue_e2e, the_prefetch_window_grows_deep_for_small_messages_and_not_for_large,
     .fini = teardown, .timeout = 60)
{
	static char big[300000];
	char s[16];
	drover_client *c;
	long held;
	int rc, i;

	start("queues:\n"
	      "  small: { capacity: 10000 }\n"
	      "  big: { capacity: 400 }\n");
	c = drover_connect(ep, DRV_AUTHKEY, strlen(DRV_AUTHKEY), 5000, &rc);
	cr_assert_not_null(c, "connect %s: %s", ep, drover_strerror(rc));
	for (i = 0; i < 8000; i++) {
		snprintf(s, sizeof(s), "%d", i);
		cr_assert_eq(drover_put(c, "small", s, strlen(s), 5000), DROVER_OK);
	}
	for (i = 0; i < 250; i++) {
		memset(big, i, sizeof(big));
		cr_assert_eq(drover_put(c, "big", big, sizeof(big), 5000), DROVER_OK);
	}
	cr_assert_eq(drover_flush(c, 10000), DROVER_OK);
	/* 16 doubled on every starved get, up to 1,024 (256 before: too
	   shallow for a worker of the examples on a loaded host) */
	held = starved_window(c, "small", 8);
	cr_assert(held > 1000 && held <= 1024, "small messages: a window of %ld", held);
	/* 300 KB messages: 16 of them are 4.7 MB, 32 would pass 8 MiB */
	held = starved_window(c, "big", 2);
	cr_assert(held > 8 && held <= 16, "300 KB messages: a window of %ld", held);
	drover_close(c);
}
