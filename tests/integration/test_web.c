/* The dashboard's files and the history behind its charts, from a real
   droverd: the embedded bundle with its CSP, ETag and gzip, http.web_root,
   and GET /api/v1/{processes,queues}/{name}/history with its memory bound. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"

/* Under AddressSanitizer droverd's RSS grows with the quarantine of freed
   memory, not with what it keeps: the RSS check is for the plain build. */
#if defined(__SANITIZE_ADDRESS__)
#define S_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define S_ASAN 1
#endif
#endif
#ifndef S_ASAN
#define S_ASAN 0
#endif

static drv_t d;

static void
teardown(void)
{
	drv_cleanup(&d);
	unsetenv("DROVER_HISTORY_INTERVAL_MS");
}

static int
s_curl(const char *args, char **out)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), "curl -s -i --max-time 5 %s", args);
	return drv_sh(cmd, out);
}

/* The value of header name in a curl -i output, into buf ("" if absent). */
static const char *
s_header(const char *resp, const char *name, char *buf, size_t len)
{
	const char *p = resp, *e;
	size_t n = strlen(name);

	buf[0] = '\0';
	while ((p = strstr(p, "\r\n")) != NULL) {
		p += 2;
		if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
			p += n + 1;
			while (*p == ' ')
				p++;
			e = strstr(p, "\r\n");
			snprintf(buf, len, "%.*s", (int)(e ? e - p : (long)strlen(p)), p);
			break;
		}
		if (p[0] == '\r')
			break;
	}
	return buf;
}

Test(web, root_serves_the_embedded_dashboard_with_a_strict_csp, .fini = teardown, .timeout = 30)
{
	char *body = NULL, cmd[512], csp[512], etag[128], full[1600];

	cr_assert_eq(drv_start(&d, "groups:\n  a: { command: [sleep, '3600'] }\n"), 0);
	snprintf(cmd, sizeof(cmd), "%s/", d.base);
	cr_assert_eq(s_curl(cmd, &body), 0);
	cr_assert(strncmp(body, "HTTP/1.1 200", 12) == 0, "%s", body);
	cr_assert(strstr(body, "Content-Type: text/html") != NULL);
	cr_assert(strstr(body, "<script defer src=\"app.js\"></script>") != NULL);
	s_header(body, "Content-Security-Policy", csp, sizeof(csp));
	cr_assert(strstr(csp, "default-src 'none'") != NULL, "%s", csp);
	cr_assert(strstr(csp, "script-src 'self'") != NULL);
	cr_assert(strstr(csp, "connect-src 'self'") != NULL);
	cr_assert(strstr(csp, "unsafe-inline") == NULL);
	cr_assert_str_neq(s_header(body, "ETag", etag, sizeof(etag)), "");
	free(body);

	/* The same ETag back: 304, no body. */
	snprintf(cmd, sizeof(cmd), "-H 'If-None-Match: %s' %s/", etag, d.base);
	cr_assert_eq(s_curl(cmd, &body), 0);
	cr_assert(strncmp(body, "HTTP/1.1 304", 12) == 0, "%s", body);
	free(body);

	/* The script, gzipped when asked for and plain when not. */
	snprintf(cmd, sizeof(cmd), "-H 'Accept-Encoding: gzip' %s/app.js -o /dev/null -D -",
		 d.base);
	cr_assert_eq(s_curl(cmd, &body), 0);
	cr_assert(strncmp(body, "HTTP/1.1 200", 12) == 0);
	cr_assert_str_eq(s_header(body, "Content-Encoding", csp, sizeof(csp)), "gzip");
	cr_assert(strstr(body, "text/javascript") != NULL);
	free(body);
	snprintf(cmd, sizeof(cmd), "%s/app.js", d.base);
	cr_assert_eq(s_curl(cmd, &body), 0);
	cr_assert_str_eq(s_header(body, "Content-Encoding", csp, sizeof(csp)), "");
	cr_assert(strstr(body, "/api/v1/events") != NULL);
	free(body);
	snprintf(full, sizeof(full),
		 "curl -s -H 'Accept-Encoding: gzip' %s/app.js | gzip -dc > %s/gz.js && "
		 "curl -s %s/app.js > %s/plain.js && cmp %s/gz.js %s/plain.js && echo same",
		 d.base, d.dir, d.base, d.dir, d.dir, d.dir);
	cr_assert_eq(drv_sh(full, &body), 0);
	cr_assert(strstr(body, "same") != NULL);
	free(body);

	/* Not the dashboard's: the API's 404 and 405. */
	cr_assert_eq(drv_http(&d, "GET", "/nope.js", NULL, false, NULL), 404);
	cr_assert_eq(drv_http(&d, "POST", "/", "{}", true, NULL), 405);
	cr_assert_eq(drv_http(&d, "GET", "/app.css", NULL, false, NULL), 200);
}

Test(web, web_root_serves_the_files_from_disk, .fini = teardown, .timeout = 30)
{
	char path[512], *body = NULL;
	FILE *f;
	int st;

	cr_assert_eq(drv_prepare(&d,
				 "supervisor:\n"
				 "  http: { listen: '127.0.0.1:{PORT}', web_root: '{DIR}/www' }\n"
				 "  state_dir: '{DIR}/var'\n"
				 "groups:\n"
				 "  a: { command: [sleep, '3600'] }\n"),
		     0);
	snprintf(path, sizeof(path), "%s/www", d.dir);
	cr_assert_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/www/index.html", d.dir);
	cr_assert_not_null(f = fopen(path, "w"));
	fputs("<p>from disk</p>\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/www/app.js", d.dir);
	cr_assert_not_null(f = fopen(path, "w"));
	fputs("console.log(1)\n", f);
	fclose(f);
	cr_assert_eq(drv_launch(&d), 0);
	cr_assert_eq(drv_http(&d, "GET", "/", NULL, false, &body), 200);
	cr_assert_str_eq(body, "<p>from disk</p>\n");
	free(body);
	cr_assert_eq(drv_http(&d, "GET", "/app.js", NULL, false, &body), 200);
	cr_assert_str_eq(body, "console.log(1)\n");
	free(body);
	cr_assert_eq(drv_http(&d, "GET", "/app.css", NULL, false, NULL), 404);
	st = drv_http(&d, "GET", "/..%2Fdrover.yaml", NULL, false, NULL);
	cr_assert(st == 400 || st == 404, "%d", st);
	cr_assert_eq(drv_http(&d, "GET", "/.hidden", NULL, false, NULL), 404);
}

/* Polls the history of path until it holds at least n samples; returns it. */
static json_t *
s_history(const char *path, size_t n)
{
	json_t *h = NULL;
	int i;

	for (i = 0; i < 400; i++) {
		json_decref(h);
		h = drv_get_json(&d, path);
		if (h != NULL && json_array_size(json_object_get(h, "t")) >= n)
			return h;
		drv_sleep_ms(50);
	}
	cr_assert_fail("%s: fewer than %zu samples after 20 s", path, n);
	return NULL;
}

Test(web, process_and_queue_history_is_sampled_every_interval, .fini = teardown, .timeout = 60)
{
	json_t *h, *rss, *cpu, *t, *idle;
	char *body = NULL;
	double busy;
	size_t i, n;

	/* proc_usage() reads /proc at most once a second: sample at that pace. */
	setenv("DROVER_HISTORY_INTERVAL_MS", "1000", 1);
	cr_assert_eq(drv_start(&d, "groups:\n"
				   "  busy: { command: \"while :; do :; done\" }\n"
				   "  idle: { command: [sleep, '3600'], instances: 2 }\n"
				   "queues:\n"
				   "  jobs: {}\n"),
		     0);
	h = s_history("/api/v1/processes/busy:0/history", 3);
	t = json_object_get(h, "t");
	cpu = json_object_get(h, "cpu_percent");
	rss = json_object_get(h, "rss_bytes");
	n = json_array_size(t);
	cr_assert_eq(json_array_size(cpu), n);
	cr_assert_eq(json_array_size(rss), n);
	cr_assert_float_eq(json_real_value(json_object_get(h, "interval_s")), 1.0, 1e-9);
	cr_assert_eq(json_integer_value(json_object_get(h, "capacity")), 720);
	for (i = 1; i < n; i++)
		cr_assert_float_eq(json_real_value(json_array_get(t, i)) -
				       json_real_value(json_array_get(t, i - 1)),
				   1.0, 1e-6);
	/* A busy loop uses CPU (how much depends on what else the machine
	   runs; and at a 1 s interval a sample can find /proc's 1 s reading
	   not yet renewed, so the busiest sample counts), an idle process
	   none; RSS is a real number. */
	for (busy = 0, i = 0; i < n; i++)
		if (json_real_value(json_array_get(cpu, i)) > busy)
			busy = json_real_value(json_array_get(cpu, i));
	idle = s_history("/api/v1/processes/idle:0/history", 2);
	cr_assert_gt(busy, 1.0, "busy cpu %f", busy);
	cr_assert_lt(json_real_value(json_array_get(json_object_get(idle, "cpu_percent"), 1)),
		     busy);
	json_decref(idle);
	cr_assert_gt(json_integer_value(json_array_get(rss, n - 1)), 100 * 1024);
	json_decref(h);

	h = s_history("/api/v1/queues/jobs/history", 2);
	n = json_array_size(json_object_get(h, "t"));
	cr_assert_eq(json_array_size(json_object_get(h, "size")), n);
	cr_assert_eq(json_array_size(json_object_get(h, "put_rate")), n);
	cr_assert_eq(json_array_size(json_object_get(h, "get_rate")), n);
	cr_assert_eq(json_array_size(json_object_get(h, "in_flight")), n);
	cr_assert_float_eq(json_real_value(json_array_get(json_object_get(h, "size"), n - 1)), 0,
			   1e-9);
	json_decref(h);

	cr_assert_eq(drv_http(&d, "GET", "/api/v1/processes/nope:0/history", NULL, false, &body),
		     404);
	cr_assert(strstr(body, "no process named nope:0") != NULL, "%s", body);
	free(body);
	cr_assert_eq(drv_http(&d, "GET", "/api/v1/queues/nope/history", NULL, false, NULL), 404);
	cr_assert_eq(drv_http(&d, "POST", "/api/v1/processes/idle:0/history", "{}", true, NULL),
		     405);
}

static long
s_rss_kib(pid_t pid)
{
	char path[64], *s, *p;
	long kib = -1;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	s = drv_slurp(path);
	if ((p = strstr(s, "VmRSS:")) != NULL)
		kib = strtol(p + 6, NULL, 10);
	free(s);
	return kib;
}

/* 1000 processes: the store stays under 2 MiB, and droverd does not grow
   while the rings fill and wrap. */
Test(web, a_thousand_processes_keep_history_within_two_mebibytes, .fini = teardown, .timeout = 240)
{
	json_t *h;
	long before, after;
	size_t n;
	int i;

	setenv("DROVER_HISTORY_INTERVAL_MS", "40", 1);
	cr_assert_eq(drv_start(&d, "groups:\n"
				   "  w:\n"
				   "    command: [sleep, '3600']\n"
				   "    instances: 1000\n"
				   "    start_timeout: 0s\n"
				   "    stdout: inherit\n"
				   "    stderr: inherit\n"),
		     0);
	cr_assert(drv_wait_state(&d, "w:999", "RUNNING", 60000));
	h = s_history("/api/v1/processes/w:999/history", 2);
	before = s_rss_kib(d.pid);
	cr_assert_leq(json_integer_value(json_object_get(h, "store_bytes")), 2 << 20, "%lld",
		      (long long)json_integer_value(json_object_get(h, "store_bytes")));
	json_decref(h);
	/* Past a full ring: every slot written, the oldest overwritten. */
	for (i = 0; i < 2000; i++) {
		h = drv_get_json(&d, "/api/v1/processes/w:0/history");
		n = json_array_size(json_object_get(h, "t"));
		json_decref(h);
		if (n >= 720)
			break;
		drv_sleep_ms(50);
	}
	cr_assert_eq(n, 720);
	after = s_rss_kib(d.pid);
	printf("history: droverd VmRSS %ld KiB with 1000 rings started, %ld KiB full\n", before,
	       after);
	if (!S_ASAN)
		cr_assert_leq(after - before, 2048, "droverd grew %ld KiB", after - before);
}
