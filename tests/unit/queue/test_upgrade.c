/* upgrade: the queue host's part of droverd's upgrade in place. A real host
   (queue_host_new on a parsed config, a real SQLite file), real ZeroMQ
   sockets on loopback and libdrover clients: queue_host_export() into a
   memfd, queue_host_destroy(), and a new host from a dup of the listening
   socket and the export (the way droverd goes on when its exec fails, and
   the way the next droverd starts); and the exec itself, in a process of
   its own (queue_upgrade_host). Contents and order, leases held across it
   and acked without a redelivery, leases of a client that does not come
   back running out, requests sent while no host was there, a waiting GET,
   a listening socket that never refuses, and no descriptor that would
   leak into the next droverd. */
#include <criterion/criterion.h>
#include <czmq.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "drover.h"
#include "log.h"
#include "queue_host.h"

#define KEY "upgrade-test-authkey"

static struct {
	char dir[64];
	char ep[64];
	int port;
	conf_t *conf;
	queue_host_t *h;
} fx;

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

static void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static char *
conf_text(const char *queues)
{
	char *yaml;

	cr_assert(asprintf(&yaml,
			   "supervisor:\n"
			   "  state_dir: %s/var\n"
			   "  queues:\n"
			   "    listen: %s\n"
			   "    authkey_file: %s/queue.key\n"
			   "queues:\n%s",
			   fx.dir, fx.ep, fx.dir, queues) > 0);
	return yaml;
}

static void
start(const char *queues)
{
	char *yaml = conf_text(queues), *errs = NULL, *err = NULL;

	cr_assert_eq(conf_parse_string(yaml, strlen(yaml), "test.yaml", fx.dir, &fx.conf, &errs), 0,
		     "%s", errs ? errs : "");
	free(yaml);
	fx.h = queue_host_new(fx.conf, -1, -1, &err);
	cr_assert_not_null(fx.h, "queue_host_new: %s", err ? err : "?");
}

static void
setup(void)
{
	char path[128];
	FILE *f;

	zsys_handler_set(NULL);
	if (getenv("DROVER_TEST_DEBUG"))
		log_set_level(DLOG_DEBUG);
	memset(&fx, 0, sizeof(fx));
	snprintf(fx.dir, sizeof(fx.dir), "/tmp/drover-upgtest-XXXXXX");
	cr_assert_not_null(mkdtemp(fx.dir));
	fx.port = free_port();
	snprintf(fx.ep, sizeof(fx.ep), "tcp://127.0.0.1:%d", fx.port);
	snprintf(path, sizeof(path), "%s/queue.key", fx.dir);
	cr_assert_not_null(f = fopen(path, "w"));
	fputs(KEY "\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/var", fx.dir);
	mkdir(path, 0755);
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

static drover_client *
client(unsigned prefetch)
{
	int rc;
	drover_client *c = drover_connect(fx.ep, KEY, strlen(KEY), 5000, &rc);

	cr_assert_not_null(c, "connect: %s", drover_strerror(rc));
	if (prefetch > 0)
		cr_assert_eq(drover_set_prefetch(c, prefetch), DROVER_OK);
	return c;
}

static void
put_str(drover_client *c, const char *q, const char *s)
{
	int rc = drover_put(c, q, s, strlen(s), 5000);

	cr_assert_eq(rc, DROVER_OK, "put %s into %s: %s", s, q, drover_strerror(rc));
}

static drover_msg *
get_is(drover_client *c, const char *q, const char *want)
{
	int rc;
	drover_msg *m = drover_get(c, q, 10000, &rc);

	cr_assert_not_null(m, "get from %s (wanted %s): %s", q, want, drover_strerror(rc));
	cr_assert_eq(drover_msg_size(m), strlen(want), "got %.*s, wanted %s",
		     (int)drover_msg_size(m), (const char *)drover_msg_data(m), want);
	cr_assert_eq(memcmp(drover_msg_data(m), want, strlen(want)), 0, "got %.*s, wanted %s",
		     (int)drover_msg_size(m), (const char *)drover_msg_data(m), want);
	return m;
}

static void
get_none(drover_client *c, const char *q)
{
	int rc;
	drover_msg *m = drover_get(c, q, 0, &rc);

	cr_assert_null(m, "%s still has %.*s", q, m ? (int)drover_msg_size(m) : 0,
		       m ? (const char *)drover_msg_data(m) : "");
	cr_assert_eq(rc, DROVER_EEMPTY, "%s", drover_strerror(rc));
}

static drover_stats_t
stats(drover_client *c, const char *q)
{
	drover_stats_t st;
	int rc = drover_stats(c, q, &st);

	cr_assert_eq(rc, DROVER_OK, "stats %s: %s", q, drover_strerror(rc));
	return st;
}

/* A TCP connect to the queue port: 0, or the errno (ECONNREFUSED when
   nothing listens). */
static int
tcp_connect(int *fdp)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				 .sin_port = htons((uint16_t)fx.port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	*fdp = fd;
	return connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ? 0 : errno;
}

/* The first half of an upgrade: the host's state into a memfd, the host
   gone; returns the memfd, *lfd a dup of the listening socket (what droverd
   keeps across its exec). */
static int
export_and_destroy(int *lfd)
{
	int mfd = memfd_create("test-export", MFD_CLOEXEC);
	char *err = NULL;

	cr_assert_geq(mfd, 0);
	*lfd = fcntl(queue_host_listen_fd(fx.h), F_DUPFD_CLOEXEC, 3);
	cr_assert_geq(*lfd, 0);
	cr_assert_eq(queue_host_export(fx.h, mfd, &err), 0, "export: %s", err ? err : "?");
	queue_host_destroy(&fx.h);
	return mfd;
}

/* The second half: the next host from the socket and the export. */
static void
import_from(int lfd, int mfd)
{
	char *err = NULL;

	fx.h = queue_host_new(fx.conf, lfd, mfd, &err);
	cr_assert_not_null(fx.h, "queue_host_new from the export: %s", err ? err : "?");
	cr_assert_eq(queue_host_listen_fd(fx.h), lfd);
	close(mfd);
}

/* export, destroy, a new host: droverd's path when its exec fails, and what
   the next droverd does. Between the two, the listening socket takes a
   connection (its backlog holds it). */
static void
upgrade(void)
{
	int lfd, mfd = export_and_destroy(&lfd), tfd;

	cr_assert_eq(tcp_connect(&tfd), 0, "a connection refused while no host was there: %s",
		     strerror(errno));
	import_from(lfd, mfd);
	close(tfd);
}

TestSuite(upgrade, .init = setup, .fini = teardown, .timeout = 120);

Test(upgrade, contents_order_and_leases_come_back_and_the_leases_are_acked_without_redelivery)
{
	drover_client *c, *p;
	drover_msg *mp, *mk, *m1, *m2;
	drover_stats_t st;
	char buf[16];

	start("  plain: {}\n  keep: { durable: true }\n");
	p = client(0);
	c = client(1);
	for (int i = 0; i < 10; i++) {
		snprintf(buf, sizeof(buf), "p%d", i);
		put_str(p, "plain", buf);
		snprintf(buf, sizeof(buf), "k%d", i);
		put_str(p, "keep", buf);
	}
	cr_assert_eq(drover_flush(p, 5000), DROVER_OK);
	mp = get_is(c, "plain", "p0");
	mk = get_is(c, "keep", "k0");
	/* a durable queue whose order is not the order of its ids: k2 k1 k3 */
	m1 = get_is(c, "keep", "k1");
	m2 = get_is(c, "keep", "k2");
	drover_nack(c, m1);
	drover_nack(c, m2);
	st = stats(c, "keep");
	cr_assert_eq(st.size, 9);
	cr_assert_eq(st.in_flight, 1);

	upgrade();

	st = stats(c, "plain");
	cr_assert_eq(st.size, 9);
	cr_assert_eq(st.in_flight, 1, "the lease of p0 is held still");
	st = stats(p, "keep");
	cr_assert_eq(st.size, 9);
	cr_assert_eq(st.in_flight, 1);
	cr_assert(st.durable);
	/* the client acks what it holds: no error, and nothing comes again */
	cr_assert_eq(drover_ack(c, mp), DROVER_OK);
	cr_assert_eq(drover_ack(c, mk), DROVER_OK);
	cr_assert_eq(stats(c, "plain").in_flight, 0);
	cr_assert_eq(stats(c, "keep").in_flight, 0);
	for (int i = 1; i < 10; i++) {
		snprintf(buf, sizeof(buf), "p%d", i);
		drover_ack(c, get_is(c, "plain", buf));
	}
	drover_ack(c, get_is(c, "keep", "k2"));
	drover_ack(c, get_is(c, "keep", "k1"));
	for (int i = 3; i < 10; i++) {
		snprintf(buf, sizeof(buf), "k%d", i);
		drover_ack(c, get_is(c, "keep", buf));
	}
	get_none(c, "plain");
	get_none(c, "keep");
	/* and both go on putting and getting */
	put_str(p, "plain", "after");
	put_str(c, "keep", "after too");
	cr_assert_eq(drover_flush(p, 5000), DROVER_OK);
	cr_assert_eq(drover_flush(c, 5000), DROVER_OK);
	drover_ack(c, get_is(c, "plain", "after"));
	drover_ack(p, get_is(p, "keep", "after too"));
	cr_assert_eq(stats(p, "keep").in_flight + stats(p, "keep").size, 0);
	drover_close(c);
	drover_close(p);
}

Test(upgrade, a_second_upgrade_and_a_restart_keep_the_durable_order)
{
	drover_client *c;
	char buf[16], *err = NULL;

	start("  keep: { durable: true }\n");
	c = client(1);
	for (int i = 0; i < 5; i++) {
		snprintf(buf, sizeof(buf), "k%d", i);
		put_str(c, "keep", buf);
	}
	cr_assert_eq(drover_flush(c, 5000), DROVER_OK);
	drover_msg *m0 = get_is(c, "keep", "k0");
	upgrade();
	upgrade();
	drover_ack(c, m0);
	drover_ack(c, get_is(c, "keep", "k1"));
	drover_close(c);
	/* a plain restart reads the store: what was acked across the upgrades
	   is gone for good */
	queue_host_destroy(&fx.h);
	fx.h = queue_host_new(fx.conf, -1, -1, &err);
	cr_assert_not_null(fx.h, "%s", err ? err : "?");
	c = client(1);
	for (int i = 2; i < 5; i++) {
		snprintf(buf, sizeof(buf), "k%d", i);
		drover_ack(c, get_is(c, "keep", buf));
	}
	get_none(c, "keep");
	drover_close(c);
}

Test(upgrade, a_client_that_does_not_come_back_has_its_lease_run_out)
{
	drover_client *gone, *other;
	drover_msg *m;
	int lfd, mfd;

	start("  short: { lease: 1s }\n");
	other = client(1);
	put_str(other, "short", "task");
	cr_assert_eq(drover_flush(other, 5000), DROVER_OK);
	gone = client(1);
	m = get_is(gone, "short", "task");
	mfd = export_and_destroy(&lfd);
	drover_msg_free(m);
	drover_close(gone); /* never comes back */
	import_from(lfd, mfd);
	cr_assert_eq(stats(other, "short").in_flight, 1);
	/* delivered again once its lease (1 s) has run out */
	drover_ack(other, get_is(other, "short", "task"));
	cr_assert_eq(stats(other, "short").in_flight, 0);
	drover_close(other);
}

Test(upgrade, a_session_not_back_within_the_heartbeat_timeout_gives_its_leases_back,
     .timeout = 120)
{
	drover_client *gone, *other;
	drover_msg *m;
	int lfd, mfd, rc;

	start("  long: { lease: 10m }\n");
	other = client(1);
	put_str(other, "long", "task");
	cr_assert_eq(drover_flush(other, 5000), DROVER_OK);
	gone = client(1);
	m = get_is(gone, "long", "task");
	mfd = export_and_destroy(&lfd);
	drover_msg_free(m);
	drover_close(gone);
	import_from(lfd, mfd);
	/* as a client that vanished: back after the heartbeat timeout (15 s),
	   not after its ten-minute lease */
	m = drover_get(other, "long", 60000, &rc);
	cr_assert_not_null(m, "%s", drover_strerror(rc));
	drover_ack(other, m);
	drover_close(other);
}

/* The second half of an upgrade, later, from another thread: requests
   made meanwhile wait for it. */
typedef struct {
	int lfd, mfd, delay_ms;
} later_t;

static void *
s_import_later(void *arg)
{
	later_t *l = arg;
	char *err = NULL;

	sleep_ms(l->delay_ms);
	fx.h = queue_host_new(fx.conf, l->lfd, l->mfd, &err);
	if (fx.h == NULL)
		fprintf(stderr, "queue_host_new: %s\n", err ? err : "?");
	close(l->mfd);
	return NULL;
}

static drover_client *late;
static int late_rc;

static void *
s_connect_thread(void *arg)
{
	(void)arg;
	late = drover_connect(fx.ep, KEY, strlen(KEY), 10000, &late_rc);
	return NULL;
}

Test(upgrade, puts_and_acks_made_while_no_host_is_there_are_applied_once_in_order)
{
	drover_client *p, *c;
	drover_msg *held[8];
	pthread_t t, tc;
	later_t l = {.delay_ms = 300};
	char buf[16];
	int rc;

	start("  q: { capacity: 1000 }\n  tasks: {}\n  l: {}\n");
	p = client(0);
	c = client(0); /* prefetch: held messages are leases too */
	for (int i = 0; i < 8; i++)
		put_str(p, "tasks", "t");
	for (int i = 0; i < 50; i++) {
		snprintf(buf, sizeof(buf), "x%d", i);
		put_str(p, "q", buf);
	}
	cr_assert_eq(drover_flush(p, 5000), DROVER_OK);
	for (int i = 0; i < 8; i++)
		held[i] = get_is(c, "tasks", "t");
	l.mfd = export_and_destroy(&l.lfd);
	cr_assert_eq(pthread_create(&t, NULL, s_import_later, &l), 0);
	/* a new client connecting meanwhile waits in the backlog, then is served */
	cr_assert_eq(pthread_create(&tc, NULL, s_connect_thread, NULL), 0);
	/* no host: these go out into the void, or wait for the next one */
	for (int i = 50; i < 100; i++) {
		snprintf(buf, sizeof(buf), "x%d", i);
		rc = drover_put(p, "q", buf, strlen(buf), 5000);
		cr_assert_eq(rc, DROVER_OK, "put %s: %s", buf, drover_strerror(rc));
	}
	for (int i = 0; i < 8; i++)
		cr_assert_eq(drover_ack(c, held[i]), DROVER_OK);
	pthread_join(tc, NULL);
	pthread_join(t, NULL);
	cr_assert_not_null(late, "a client that connected while no host was there: %s",
			   drover_strerror(late_rc));
	cr_assert_not_null(fx.h);
	cr_assert_eq(drover_flush(p, 10000), DROVER_OK, "undelivered %zu",
		     drover_undelivered(p));
	/* the first call reads the reconnect and sends the acks again; the
	   second one's answer is after them */
	stats(c, "tasks");
	cr_assert_eq(stats(c, "tasks").in_flight, 0, "the acks made while no host was there");
	cr_assert_eq(stats(c, "q").size, 100, "every put once");
	for (int i = 0; i < 100; i++) {
		snprintf(buf, sizeof(buf), "x%d", i);
		drover_ack(c, get_is(c, "q", buf));
	}
	get_none(c, "q");
	get_none(c, "tasks");
	put_str(late, "l", "late");
	drover_ack(late, get_is(late, "l", "late"));
	drover_close(late);
	drover_close(c);
	drover_close(p);
}

typedef struct {
	drover_client *c;
	const char *queue;
	int timeout_ms, rc;
	char got[32];
} getter_t;

static void *
s_get_thread(void *arg)
{
	getter_t *g = arg;
	drover_msg *m = drover_get(g->c, g->queue, g->timeout_ms, &g->rc);

	if (m != NULL) {
		snprintf(g->got, sizeof(g->got), "%.*s", (int)drover_msg_size(m),
			 (const char *)drover_msg_data(m));
		drover_ack(g->c, m);
	}
	return NULL;
}

Test(upgrade, a_get_waiting_across_the_upgrade_is_served_by_the_next_host)
{
	getter_t g1 = {.queue = "q1", .timeout_ms = 30000}, g2 = {.queue = "q2", .timeout_ms = 30000};
	drover_client *p;
	pthread_t t1, t2;

	start("  q1: {}\n  q2: {}\n");
	p = client(0);
	g1.c = client(1); /* a plain GET waits at the host */
	g2.c = client(0); /* prefetch: after a first get, a standing GET waits there */
	put_str(p, "q2", "zero");
	cr_assert_eq(drover_flush(p, 5000), DROVER_OK);
	drover_ack(g2.c, get_is(g2.c, "q2", "zero"));
	cr_assert_eq(pthread_create(&t1, NULL, s_get_thread, &g1), 0);
	cr_assert_eq(pthread_create(&t2, NULL, s_get_thread, &g2), 0);
	sleep_ms(300); /* both wait at the host (not asserted: either way works) */
	upgrade();
	put_str(p, "q1", "one");
	put_str(p, "q2", "two");
	cr_assert_eq(drover_flush(p, 5000), DROVER_OK);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	cr_assert_eq(g1.rc, DROVER_OK, "%s", drover_strerror(g1.rc));
	cr_assert_eq(g2.rc, DROVER_OK, "%s", drover_strerror(g2.rc));
	cr_assert_str_eq(g1.got, "one");
	cr_assert_str_eq(g2.got, "two");
	/* The getters' acks went without waiting, on their own connections:
	   closing makes sure droverd read them before p asks. */
	drover_close(g1.c);
	drover_close(g2.c);
	cr_assert_eq(stats(p, "q1").in_flight + stats(p, "q2").in_flight, 0);
	drover_close(p);
}

Test(upgrade, completes_made_across_the_upgrade_leave_one_result_each)
{
	drover_client *w, *p;
	drover_msg *t[20];
	char buf[16];

	start("  tasks: {}\n  results: {}\n");
	p = client(0);
	w = client(0);
	for (int i = 0; i < 20; i++) {
		snprintf(buf, sizeof(buf), "%d", i);
		put_str(p, "tasks", buf);
	}
	cr_assert_eq(drover_flush(p, 5000), DROVER_OK);
	for (int i = 0; i < 20; i++) {
		int rc;

		t[i] = drover_get(w, "tasks", 5000, &rc);
		cr_assert_not_null(t[i], "%s", drover_strerror(rc));
	}
	for (int i = 0; i < 10; i++)
		cr_assert_eq(drover_complete(w, t[i], "results", "r", 1, 5000), DROVER_OK);
	upgrade();
	for (int i = 10; i < 20; i++)
		cr_assert_eq(drover_complete(w, t[i], "results", "r", 1, 5000), DROVER_OK);
	cr_assert_eq(drover_flush(w, 10000), DROVER_OK, "undelivered %zu", drover_undelivered(w));
	cr_assert_eq(stats(p, "tasks").in_flight + stats(p, "tasks").size, 0);
	cr_assert_eq(stats(p, "results").size, 20);
	for (int i = 0; i < 20; i++)
		drover_ack(p, get_is(p, "results", "r"));
	drover_close(w);
	drover_close(p);
}

/* Every descriptor made since before was, must be close-on-exec: nothing
   of ZeroMQ's (connections, its eventfds and epolls), SQLite's or ours
   leaks into the next droverd. */
static void
all_close_on_exec(const bool *before, const char *when)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	cr_assert_not_null(d);
	while ((e = readdir(d)) != NULL) {
		int fd = atoi(e->d_name), fl;
		char path[64], target[256] = "";

		if (e->d_name[0] == '.' || fd == dirfd(d) || fd < 0 || fd >= 4096 || before[fd])
			continue;
		fl = fcntl(fd, F_GETFD);
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		if (readlink(path, target, sizeof(target) - 1) < 0)
			target[0] = '\0';
		cr_expect(fl >= 0 && (fl & FD_CLOEXEC), "%s: descriptor %d (%s) is not close-on-exec",
			  when, fd, target);
	}
	closedir(d);
}

Test(upgrade, no_descriptor_of_the_host_or_of_zeromq_lacks_close_on_exec)
{
	static bool before[4096];
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	drover_client *c;

	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.' && atoi(e->d_name) < 4096)
			before[atoi(e->d_name)] = true;
	closedir(d);
	start("  q: {}\n  keep: { durable: true }\n");
	c = client(0);
	put_str(c, "q", "x");
	put_str(c, "keep", "y");
	cr_assert_eq(drover_flush(c, 5000), DROVER_OK);
	drover_ack(c, get_is(c, "q", "x"));
	all_close_on_exec(before, "serving");
	upgrade();
	drover_ack(c, get_is(c, "keep", "y"));
	all_close_on_exec(before, "after the upgrade");
	drover_close(c);
}

Test(upgrade, a_damaged_export_is_refused_and_the_socket_stays_the_callers)
{
	int lfd, mfd, tfd;
	char *err = NULL;
	drover_client *c;

	start("  q: {}\n");
	c = client(0);
	put_str(c, "q", "x");
	cr_assert_eq(drover_flush(c, 5000), DROVER_OK);
	mfd = export_and_destroy(&lfd);
	/* a byte changed in the middle */
	{
		struct stat st;
		uint8_t b;

		fstat(mfd, &st);
		cr_assert_eq(pread(mfd, &b, 1, st.st_size / 2), 1);
		b ^= 0x40;
		cr_assert_eq(pwrite(mfd, &b, 1, st.st_size / 2), 1);
	}
	cr_assert_null(queue_host_new(fx.conf, lfd, mfd, &err));
	cr_assert_not_null(strstr(err, "damaged"), "%s", err);
	free(err);
	err = NULL;
	cr_assert_geq(fcntl(lfd, F_GETFD), 0, "the socket is still the caller's");
	cr_assert_eq(tcp_connect(&tfd), 0, "still listening");
	/* droverd may start afresh on it: the client goes on */
	fx.h = queue_host_new(fx.conf, lfd, -1, &err);
	cr_assert_not_null(fx.h, "%s", err ? err : "?");
	close(tfd);
	close(mfd);
	put_str(c, "q", "y");
	cr_assert_eq(drover_flush(c, 5000), DROVER_OK);
	drover_ack(c, get_is(c, "q", "y"));
	drover_close(c);
}

/* ---- the exec itself, in a process of its own ---- */

typedef struct {
	pid_t pid;
	FILE *out;
	int in;
} proc_t;

static void
proc_start(proc_t *p, const char *queues)
{
	char path[128], *yaml = conf_text(queues);
	int to[2], from[2];
	FILE *f;

	snprintf(path, sizeof(path), "%s/host.yaml", fx.dir);
	cr_assert_not_null(f = fopen(path, "w"));
	fputs(yaml, f);
	fclose(f);
	free(yaml);
	cr_assert_eq(pipe2(to, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(from, O_CLOEXEC), 0);
	if ((p->pid = fork()) == 0) {
		dup2(to[0], 0);
		dup2(from[1], 1);
		execl(QUEUE_UPGRADE_HOST, QUEUE_UPGRADE_HOST, path, (char *)NULL);
		_exit(127);
	}
	close(to[0]);
	close(from[1]);
	p->in = to[1];
	p->out = fdopen(from[0], "r");
}

/* Sends a command, returns its answer line (static buffer). */
static const char *
proc_ask(proc_t *p, const char *cmd)
{
	static char line[4096];

	if (cmd != NULL)
		cr_assert_eq(write(p->in, cmd, strlen(cmd)), (ssize_t)strlen(cmd));
	cr_assert_not_null(fgets(line, sizeof(line), p->out), "the host process said nothing");
	line[strcspn(line, "\n")] = '\0';
	return line;
}

static void
proc_stop(proc_t *p)
{
	int st;

	if (write(p->in, "quit\n", 5) < 0)
		kill(p->pid, SIGKILL);
	close(p->in);
	fclose(p->out);
	waitpid(p->pid, &st, 0);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the host process ended with %d", st);
}

Test(upgrade, across_an_exec_nothing_leaks_and_clients_ride_through)
{
	proc_t p;
	const char *l;
	drover_client *c, *w;
	drover_msg *m;
	char want[32];

	proc_start(&p, "  q: {}\n  keep: { durable: true }\n");
	l = proc_ask(&p, NULL);
	cr_assert(strncmp(l, "ready ", 6) == 0, "%s", l);
	c = client(0);
	w = client(1);
	for (int i = 0; i < 20; i++) {
		snprintf(want, sizeof(want), "m%d", i);
		put_str(c, "q", want);
		put_str(c, "keep", want);
	}
	cr_assert_eq(drover_flush(c, 5000), DROVER_OK);
	m = get_is(w, "q", "m0");
	l = proc_ask(&p, "upgrade\n");
	cr_assert(strncmp(l, "ready ", 6) == 0, "%s", l);
	cr_assert_not_null(strstr(l, "leaked="), "%s", l);
	cr_assert_str_eq(strstr(l, "leaked=") + 7, "", "descriptors that crossed the exec: %s",
			 strstr(l, "leaked=") + 7);
	cr_assert_eq(drover_ack(w, m), DROVER_OK);
	for (int i = 1; i < 20; i++) {
		snprintf(want, sizeof(want), "m%d", i);
		drover_ack(w, get_is(w, "q", want));
	}
	for (int i = 0; i < 20; i++) {
		snprintf(want, sizeof(want), "m%d", i);
		drover_ack(c, get_is(c, "keep", want));
	}
	cr_assert_eq(stats(w, "q").in_flight + stats(w, "q").size, 0);
	/* and a failed exec's path, in the same process */
	put_str(c, "q", "again");
	cr_assert_eq(drover_flush(c, 5000), DROVER_OK);
	m = get_is(w, "q", "again");
	l = proc_ask(&p, "fail-exec\n");
	cr_assert(strncmp(l, "ready ", 6) == 0, "%s", l);
	cr_assert_eq(drover_ack(w, m), DROVER_OK);
	cr_assert_eq(stats(w, "q").in_flight, 0);
	drover_close(w);
	drover_close(c);
	proc_stop(&p);
}
