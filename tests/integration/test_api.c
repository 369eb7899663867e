/* The HTTP API of a real droverd (SPEC 4): every endpoint, the JSON shapes,
   auth refused and accepted, 400/401/403/404/405/413, the event stream,
   /metrics checked by promtool and scraped by a real Prometheus, and bad
   input that must not hurt droverd. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static drv_t d;

static void
teardown(void)
{
	drv_cleanup(&d);
}

static const char *s_conf =
    "groups:\n"
    "  db:\n"
    "    command: [sleep, '3600']\n"
    "    start_timeout: 0s\n"
    "  web:\n"
    "    command: \"echo hello from $DROVER_NAME; echo oops >&2; exec sleep 3600\"\n"
    "    instances: 3\n"
    "    start_timeout: 0s\n"
    "    depends_on: [db]\n"
    "  trap:\n"
    "    command: \"trap 'echo got USR1' USR1; while :; do sleep 0.05; done\"\n"
    "    start_timeout: 0s\n";

static void
start(void)
{
	cr_assert_eq(drv_start(&d, s_conf), 0);
	cr_assert(drv_wait_state(&d, "web:2", "RUNNING", 5000));
	cr_assert(drv_wait_state(&d, "trap:0", "RUNNING", 5000));
}

/* curl with the headers in the output: returns the status line and headers
   and body in *out. */
static int
s_curl(const char *args, char **out)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), "curl -s -i --max-time 5 %s", args);
	return drv_sh(cmd, out);
}

Test(api, status_counts_everything, .fini = teardown, .timeout = 30)
{
	json_t *s;

	start();
	s = drv_get_json(&d, "/api/v1/status");
	cr_assert_not_null(s);
	cr_assert_eq(json_integer_value(json_object_get(s, "groups")), 3);
	cr_assert_eq(json_integer_value(json_object_get(s, "processes")), 5);
	cr_assert_eq(json_integer_value(json_object_get(s, "agents")), 0);
	cr_assert_eq(json_integer_value(json_object_get(s, "pid")), d.pid);
	cr_assert(json_is_string(json_object_get(s, "version")));
	cr_assert(json_is_string(json_object_get(s, "name")));
	cr_assert(json_number_value(json_object_get(s, "uptime_s")) >= 0);
	cr_assert_str_eq(json_string_value(json_object_get(s, "config_file")), d.conf_path);
	cr_assert(json_is_integer(json_object_get(s, "queues")));
	json_decref(s);
}

Test(api, processes_are_ordered_and_complete, .fini = teardown, .timeout = 30)
{
	static const char *order[] = {"db:0", "web:0", "web:1", "web:2", "trap:0"};
	static const char *keys[] = {"name",  "group",	     "instance", "host",      "state",
				     "pid",   "since",	     "restarts", "exit_code", "exit_signal",
				     "ready", "cpu_seconds", "rss_bytes"};
	json_t *list, *p;
	size_t i, k;

	start();
	/* A process's first memory sample comes with the first read after its
	   exec: give the five a moment to have one. */
	for (int tries = 0; tries < 50; tries++) {
		bool all = true;

		list = drv_get_json(&d, "/api/v1/processes");
		for (i = 0; i < json_array_size(list); i++)
			all = all && json_integer_value(
					 json_object_get(json_array_get(list, i), "rss_bytes")) > 0;
		if (all)
			break;
		json_decref(list);
		list = NULL;
		drv_sleep_ms(100);
	}
	if (list == NULL)
		list = drv_get_json(&d, "/api/v1/processes");
	cr_assert_eq(json_array_size(list), 5);
	for (i = 0; i < 5; i++) {
		p = json_array_get(list, i);
		cr_assert_str_eq(json_string_value(json_object_get(p, "name")), order[i]);
		for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
			cr_assert_not_null(json_object_get(p, keys[k]), "%s lacks %s", order[i],
					   keys[k]);
		cr_assert_str_eq(json_string_value(json_object_get(p, "state")), "RUNNING");
		cr_assert_gt(json_integer_value(json_object_get(p, "pid")), 0);
		cr_assert(json_is_null(json_object_get(p, "exit_code")));
		cr_assert(json_is_true(json_object_get(p, "ready")));
		cr_assert_gt(json_integer_value(json_object_get(p, "rss_bytes")), 0);
	}
	json_decref(list);

	p = drv_get_json(&d, "/api/v1/processes/web:1");
	cr_assert_str_eq(json_string_value(json_object_get(p, "group")), "web");
	cr_assert_eq(json_integer_value(json_object_get(p, "instance")), 1);
	json_decref(p);
	/* The colon may come percent-encoded. */
	p = drv_get_json(&d, "/api/v1/processes/web%3A2");
	cr_assert_str_eq(json_string_value(json_object_get(p, "name")), "web:2");
	json_decref(p);
}

Test(api, groups_summarise_config_and_states, .fini = teardown, .timeout = 30)
{
	json_t *list, *g;

	start();
	list = drv_get_json(&d, "/api/v1/groups");
	cr_assert_eq(json_array_size(list), 3);
	g = json_array_get(list, 1);
	cr_assert_str_eq(json_string_value(json_object_get(g, "name")), "web");
	cr_assert_eq(json_integer_value(json_object_get(g, "instances")), 3);
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(g, "states"), "RUNNING")),
		     3);
	cr_assert_str_eq(json_string_value(json_array_get(json_object_get(g, "depends_on"), 0)),
			 "db");
	cr_assert_eq(json_array_size(json_object_get(g, "processes")), 3);
	json_decref(list);
}

Test(api, mutating_calls_need_the_token, .fini = teardown, .timeout = 30)
{
	char *body = NULL, cmd[512];
	pid_t pid;

	start();
	pid = drv_pid(&d, "db:0");
	cr_assert_eq(drv_http(&d, "POST", "/api/v1/processes/db:0/stop", NULL, false, &body), 401);
	cr_assert(strstr(body, "\"unauthorized\"") != NULL, "%s", body);
	free(body);
	snprintf(cmd, sizeof(cmd),
		 "-X POST -H 'Authorization: Bearer wrong-token' %s/api/v1/processes/db:0/stop",
		 d.base);
	cr_assert_eq(s_curl(cmd, &body), 0);
	cr_assert(strncmp(body, "HTTP/1.1 401", 12) == 0, "%s", body);
	cr_assert(strstr(body, "WWW-Authenticate: Bearer") != NULL, "%s", body);
	free(body);
	cr_assert(drv_alive(pid));
	cr_assert_eq(drv_pid(&d, "db:0"), pid);
	/* A page of another origin is refused even with the token. */
	snprintf(cmd, sizeof(cmd),
		 "-X POST -H 'Authorization: Bearer " DRV_TOKEN
		 "' -H 'Origin: http://evil.example' "
		 "%s/api/v1/processes/db:0/stop",
		 d.base);
	cr_assert_eq(s_curl(cmd, &body), 0);
	cr_assert(strncmp(body, "HTTP/1.1 403", 12) == 0, "%s", body);
	free(body);
	cr_assert_eq(drv_http(&d, "POST", "/api/v1/processes/db:0/stop", NULL, true, NULL), 200);
	cr_assert(drv_wait_state(&d, "db:0", "STOPPED", 5000));
	cr_assert_not(drv_alive(pid));
}

Test(api, process_actions_change_states, .fini = teardown, .timeout = 30)
{
	char *body = NULL, path[512], *out = NULL;
	pid_t pid;

	start();
	pid = drv_pid(&d, "web:0");
	cr_assert_eq(drv_http(&d, "POST", "/api/v1/processes/web:0/restart", NULL, true, NULL),
		     200);
	cr_assert(drv_wait_state(&d, "web:0", "RUNNING", 5000));
	cr_assert_neq(drv_pid(&d, "web:0"), pid);
	cr_assert_not(drv_alive(pid));

	cr_assert_eq(drv_http(&d, "POST", "/api/v1/processes/web:1/stop", NULL, true, NULL), 200);
	cr_assert(drv_wait_state(&d, "web:1", "STOPPED", 5000));
	cr_assert_eq(drv_http(&d, "POST", "/api/v1/processes/web:1/stop", NULL, true, &body), 409);
	free(body);
	cr_assert_eq(drv_http(&d, "POST", "/api/v1/processes/web:1/start", NULL, true, NULL), 200);
	cr_assert(drv_wait_state(&d, "web:1", "RUNNING", 5000));

	cr_assert_eq(drv_http(&d, "POST", "/api/v1/processes/trap:0/signal",
			      "{\"signal\": \"USR1\"}", true, NULL),
		     200);
	drv_sleep_ms(500);
	snprintf(path, sizeof(path), "/api/v1/processes/trap:0/logs?stream=stdout&tail=5");
	cr_assert_eq(drv_http(&d, "GET", path, NULL, false, &out), 200);
	cr_assert(strstr(out, "got USR1") != NULL, "%s", out);
	free(out);
}

Test(api, group_actions_and_scale, .fini = teardown, .timeout = 40)
{
	char *body = NULL;
	pid_t w0, w1;
	json_t *g;

	start();
	w0 = drv_pid(&d, "web:0");
	w1 = drv_pid(&d, "web:1");
	cr_assert_eq(
	    drv_http(&d, "PUT", "/api/v1/groups/web/instances", "{\"instances\": 5}", true, &body),
	    200);
	g = json_loads(body, 0, NULL);
	free(body);
	cr_assert_eq(json_integer_value(json_object_get(g, "instances")), 5);
	json_decref(g);
	cr_assert(drv_wait_state(&d, "web:4", "RUNNING", 5000));
	cr_assert_eq(drv_pid(&d, "web:0"), w0, "scaling up touched web:0");
	cr_assert_eq(
	    drv_http(&d, "PUT", "/api/v1/groups/web/instances", "{\"instances\": 2}", true, NULL),
	    200);
	cr_assert(drv_wait_state(&d, "web:2", "", 5000));
	cr_assert_eq(drv_pid(&d, "web:1"), w1, "scaling down touched web:1");

	cr_assert_eq(drv_http(&d, "POST", "/api/v1/groups/web/stop", NULL, true, NULL), 200);
	cr_assert(drv_wait_state(&d, "web:0", "STOPPED", 5000));
	cr_assert(drv_wait_state(&d, "web:1", "STOPPED", 5000));
	cr_assert_eq(drv_http(&d, "POST", "/api/v1/groups/web/start", NULL, true, NULL), 200);
	cr_assert(drv_wait_state(&d, "web:1", "RUNNING", 5000));
	w0 = drv_pid(&d, "web:0");
	cr_assert_eq(drv_http(&d, "POST", "/api/v1/groups/web/restart?rolling=1", NULL, true, NULL),
		     200);
	cr_assert(drv_wait_state(&d, "web:0", "RUNNING", 5000));
	drv_sleep_ms(300);
	cr_assert(drv_wait_state(&d, "web:1", "RUNNING", 5000));
	cr_assert_neq(drv_pid(&d, "web:0"), w0);
	cr_assert_eq(drv_http(&d, "POST", "/api/v1/groups/nosuch/start", NULL, true, NULL), 404);
}

Test(api, logs_give_the_last_lines_of_each_stream, .fini = teardown, .timeout = 30)
{
	json_t *o, *lines;

	start();
	drv_sleep_ms(200);
	o = drv_get_json(&d, "/api/v1/processes/web:2/logs?stream=stdout&tail=10");
	lines = json_object_get(o, "lines");
	cr_assert_eq(json_array_size(lines), 1, "%s", json_dumps(o, 0));
	cr_assert_str_eq(json_string_value(json_array_get(lines, 0)), "hello from web:2");
	json_decref(o);
	o = drv_get_json(&d, "/api/v1/processes/web:2/logs?stream=stderr");
	cr_assert_str_eq(json_string_value(json_array_get(json_object_get(o, "lines"), 0)), "oops");
	json_decref(o);
	cr_assert_eq(
	    drv_http(&d, "GET", "/api/v1/processes/web:2/logs?stream=stdin", NULL, false, NULL),
	    400);
	cr_assert_eq(drv_http(&d, "GET", "/api/v1/processes/web:2/logs?tail=-3", NULL, false, NULL),
		     400);
}

Test(api, errors_are_json_with_fitting_statuses, .fini = teardown, .timeout = 30)
{
	char *body = NULL, cmd[512];
	json_t *e;

	start();
	cr_assert_eq(drv_http(&d, "GET", "/api/v1/nosuch", NULL, false, &body), 404);
	e = json_loads(body, 0, NULL);
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(e, "error"), "code")),
			 "not_found");
	cr_assert(json_is_string(json_object_get(json_object_get(e, "error"), "message")));
	json_decref(e);
	free(body);
	cr_assert_eq(drv_http(&d, "GET", "/api/v1/processes/web:9", NULL, false, NULL), 404);
	cr_assert_eq(drv_http(&d, "GET", "/nosuch", NULL, false, NULL), 404);
	cr_assert_eq(drv_http(&d, "DELETE", "/api/v1/status", NULL, true, NULL), 405);
	cr_assert_eq(drv_http(&d, "GET", "/api/v1/reload", NULL, false, NULL), 405);
	snprintf(cmd, sizeof(cmd), "%s/api/v1/processes/web:0/start", d.base);
	cr_assert_eq(s_curl(cmd, &body), 0);
	cr_assert(strncmp(body, "HTTP/1.1 405", 12) == 0, "%s", body);
	cr_assert(strstr(body, "Allow: POST") != NULL, "%s", body);
	free(body);
	cr_assert_eq(
	    drv_http(&d, "POST", "/api/v1/processes/trap:0/signal", "{\"signal\": ", true, &body),
	    400);
	cr_assert(strstr(body, "malformed JSON") != NULL, "%s", body);
	free(body);
	cr_assert_eq(drv_http(&d, "POST", "/api/v1/processes/trap:0/signal", "[1]", true, NULL),
		     400);
	cr_assert_eq(drv_http(&d, "POST", "/api/v1/processes/trap:0/signal",
			      "{\"signal\": \"NOPE\"}", true, NULL),
		     400);
	cr_assert_eq(
	    drv_http(&d, "PUT", "/api/v1/groups/web/instances", "{\"instances\": -1}", true, NULL),
	    400);
	cr_assert_eq(drv_http(&d, "PUT", "/api/v1/groups/web/instances", "{\"instances\": \"4\"}",
			      true, NULL),
		     400);
	/* A body over the limit: 413, and nothing else happens. */
	snprintf(cmd, sizeof(cmd),
		 "head -c 200000 /dev/zero | tr '\\0' x | curl -s -o /dev/null -w '%%{http_code}' "
		 "-X POST -H 'Authorization: Bearer " DRV_TOKEN "' --data-binary @- "
		 "%s/api/v1/processes/trap:0/signal",
		 d.base);
	cr_assert_eq(drv_sh(cmd, &body), 0);
	cr_assert_str_eq(body, "413");
	free(body);
	cr_assert(drv_wait_state(&d, "trap:0", "RUNNING", 100));
}

Test(api, garbage_and_stalled_clients_do_not_hurt, .fini = teardown, .timeout = 30)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	static const char junk[] =
	    "\x16\x03\x01\x02\x00garbage\r\n\r\nGET / HTTP/9.9\r\n\r\n\x00\xff";
	int fds[20], i;
	char *body = NULL;

	start();
	sa.sin_port = htons((uint16_t)d.port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (i = 0; i < 20; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM, 0);
		cr_assert_eq(connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
		/* Half of them send junk, the other half a request that never ends. */
		if (i % 2 == 0)
			cr_assert_gt(write(fds[i], junk, sizeof(junk)), 0);
		else
			cr_assert_gt(
			    write(fds[i], "GET /api/v1/status HTTP/1.1\r\nHost: x\r\n", 38), 0);
	}
	/* droverd answers others meanwhile. */
	cr_assert_eq(drv_http(&d, "GET", "/api/v1/status", NULL, false, &body), 200);
	free(body);
	for (i = 0; i < 20; i++)
		close(fds[i]);
	cr_assert_eq(drv_http(&d, "GET", "/api/v1/processes", NULL, false, NULL), 200);
	cr_assert(drv_alive(d.pid));
}

/* Starts curl following /api/v1/events into a file in d.dir, whose path
   goes to path. Returns curl's pid (SIGTERM it when done). */
static pid_t
s_follow_events(char *path, size_t len)
{
	char cmd[768];
	pid_t pid;

	snprintf(path, len, "%s/events.txt", d.dir);
	snprintf(cmd, sizeof(cmd), "exec curl -s -N %s/api/v1/events > %s", d.base, path);
	if ((pid = fork()) == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* The file at path once it holds needle, or as it is after timeout_ms
   (caller frees). */
static char *
s_wait_text(const char *path, const char *needle, int timeout_ms)
{
	char *text = NULL;

	for (int waited = 0;; waited += 50) {
		free(text);
		text = drv_slurp(path);
		if (strstr(text, needle) != NULL || waited >= timeout_ms)
			return text;
		drv_sleep_ms(50);
	}
}

Test(api, events_stream_state_changes, .fini = teardown, .timeout = 30)
{
	char path[320], *text = NULL;
	pid_t curl;

	start();
	curl = s_follow_events(path, sizeof(path));
	drv_sleep_ms(400);
	cr_assert_eq(drv_http(&d, "POST", "/api/v1/processes/db:0/stop", NULL, true, NULL), 200);
	text = s_wait_text(path, "\"STOPPED\"", 5000);
	kill(curl, SIGTERM);
	waitpid(curl, NULL, 0);
	cr_assert(text && strstr(text, "event: process\n") != NULL, "%s", text ? text : "");
	cr_assert(strstr(text, "\"name\":\"db:0\"") != NULL, "%s", text);
	cr_assert(strstr(text, "\"state\":\"STOPPING\"") != NULL, "%s", text);
	cr_assert(strstr(text, "\"state\":\"STOPPED\"") != NULL, "%s", text);
	free(text);
	/* The closed stream is gone and droverd carries on. */
	cr_assert_eq(drv_http(&d, "GET", "/api/v1/status", NULL, false, NULL), 200);
}

Test(api, metrics_pass_promtool, .fini = teardown, .timeout = 30)
{
	char cmd[512], *out = NULL;

	start();
	snprintf(cmd, sizeof(cmd), "curl -s %s/metrics | promtool check metrics 2>&1; echo rc=$?",
		 d.base);
	drv_sh(cmd, &out);
	cr_assert(out && strcmp(out, "rc=0\n") == 0, "promtool says:\n%s", out ? out : "");
	free(out);
	snprintf(cmd, sizeof(cmd), "curl -s %s/metrics", d.base);
	drv_sh(cmd, &out);
	cr_assert(strstr(out, "drover_process_state{name=\"web:1\",group=\"web\",host=\"local\","
			      "state=\"RUNNING\"} 1") != NULL);
	cr_assert(strstr(out, "drover_process_state{name=\"web:1\",group=\"web\",host=\"local\","
			      "state=\"FATAL\"} 0") != NULL);
	cr_assert(
	    strstr(out,
		   "drover_process_restarts_total{name=\"db:0\",group=\"db\",host=\"local\"} 0") !=
	    NULL);
	cr_assert(strstr(out, "drover_process_resident_memory_bytes{name=\"db:0\"") != NULL);
	cr_assert(strstr(out, "drover_process_cpu_seconds_total{name=\"db:0\"") != NULL);
	free(out);
}

Test(api, a_real_prometheus_scrapes_metrics, .fini = teardown, .timeout = 60)
{
	char cmd[1536], yml[320], *out = NULL;
	int pport, i;
	pid_t prom;
	FILE *f;

	start();
	pport = drv_free_port();
	snprintf(yml, sizeof(yml), "%s/prometheus.yml", d.dir);
	f = fopen(yml, "w");
	cr_assert_not_null(f);
	fprintf(f,
		"global: { scrape_interval: 1s }\n"
		"scrape_configs:\n"
		"  - job_name: drover\n"
		"    static_configs: [ { targets: ['127.0.0.1:%d'] } ]\n",
		d.port);
	fclose(f);
	snprintf(cmd, sizeof(cmd),
		 "exec prometheus --config.file=%s --storage.tsdb.path=%s/prom "
		 "--web.listen-address=127.0.0.1:%d > %s/prom.log 2>&1",
		 yml, d.dir, pport, d.dir);
	if ((prom = fork()) == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 40; i++) {
		free(out);
		out = NULL;
		drv_sleep_ms(500);
		snprintf(cmd, sizeof(cmd),
			 "curl -s "
			 "'http://127.0.0.1:%d/api/v1/"
			 "query?query=drover_process_state%%7Bname%%3D%%22web:1%%22,state%%3D%%"
			 "22RUNNING%%22%%7D'",
			 pport);
		drv_sh(cmd, &out);
		if (out && strstr(out, "\"web:1\"") != NULL && strstr(out, "\"1\"]") != NULL)
			break;
	}
	kill(prom, SIGTERM);
	waitpid(prom, NULL, 0);
	cr_assert(out && strstr(out, "\"web:1\"") != NULL, "Prometheus did not scrape: %s",
		  out ? out : "");
	free(out);
}

Test(api, root_serves_a_page_that_reads_the_api, .fini = teardown, .timeout = 30)
{
	char *body = NULL, cmd[512];

	start();
	snprintf(cmd, sizeof(cmd), "%s/", d.base);
	cr_assert_eq(s_curl(cmd, &body), 0);
	cr_assert(strncmp(body, "HTTP/1.1 200", 12) == 0);
	cr_assert(strstr(body, "Content-Type: text/html") != NULL);
	cr_assert(strstr(body, "app.js") != NULL); /* the dashboard: test_web.c */
	free(body);
}

Test(api, non_loopback_listener_without_token_is_refused, .fini = teardown, .timeout = 30)
{
	char cmd[1024], *out = NULL;
	int st;

	cr_assert_eq(drv_prepare(&d, "supervisor:\n"
				     "  http: { listen: '0.0.0.0:{PORT}' }\n"
				     "  state_dir: '{DIR}/var'\n"
				     "groups:\n"
				     "  a: { command: [sleep, '3600'] }\n"),
		     0);
	snprintf(cmd, sizeof(cmd), "%s -c %s 2>&1", drv_bin("droverd"), d.conf_path);
	st = drv_sh(cmd, &out);
	cr_assert_neq(st, 0);
	cr_assert(strstr(out, "refusing to listen on 0.0.0.0") != NULL, "%s", out);
	cr_assert(strstr(out, "token") != NULL, "%s", out);
	free(out);
}

/* Follows a writer's log with offset and inode across many rotations, from
   a follower slow enough to fall one or two rotations behind between polls,
   and checks that every line arrives once, in order. */
Test(api, following_logs_survives_rotation, .fini = teardown, .timeout = 60)
{
	char path[512], *body = NULL;
	long long offset = -1, inode = -1, expect = 0;
	json_t *o, *lines;
	size_t i;
	int rounds;

	cr_assert_eq(
	    drv_start(&d,
		      "groups:\n"
		      "  w:\n"
		      "    command: \"sleep 0.5; i=0; while [ $i -lt 30000 ]; do echo line-$i; "
		      "i=$((i+1)); [ $((i % 100)) = 0 ] && sleep 0.01; done; exec sleep 3600\"\n"
		      "    start_timeout: 0s\n"
		      "    stdout: { file: auto, max_size: 64KB, keep: 6 }\n"),
	    0);
	for (rounds = 0; rounds < 4000 && expect < 30000; rounds++) {
		if (offset < 0)
			snprintf(path, sizeof(path), "/api/v1/processes/w:0/logs?offset=0");
		else
			snprintf(path, sizeof(path),
				 "/api/v1/processes/w:0/logs?offset=%lld&inode=%lld", offset,
				 inode);
		cr_assert_eq(drv_http(&d, "GET", path, NULL, false, &body), 200);
		o = json_loads(body, 0, NULL);
		free(body);
		lines = json_object_get(o, "lines");
		for (i = 0; i < json_array_size(lines); i++) {
			char want[32];

			snprintf(want, sizeof(want), "line-%lld", expect);
			cr_assert_str_eq(json_string_value(json_array_get(lines, i)), want);
			expect++;
		}
		offset = json_integer_value(json_object_get(o, "offset"));
		inode = json_integer_value(json_object_get(o, "inode"));
		json_decref(o);
		drv_sleep_ms(inode > 0 ? 1500 : 20);
	}
	cr_assert_eq(expect, 30000, "followed %lld lines", expect);
	snprintf(path, sizeof(path), "%s/var/log/w:0.out.2", d.dir);
	cr_assert_eq(access(path, F_OK), 0, "the log did not rotate twice");
}

Test(api, events_stream_queue_numbers, .fini = teardown, .timeout = 30)
{
	char cmd[1024], path[320], *text = NULL;
	pid_t curl;

	cr_assert_eq(drv_start(&d, "groups:\n"
				   "  a: { command: [sleep, '3600'] }\n"
				   "queues:\n"
				   "  jobs: { capacity: 10 }\n"),
		     0);
	curl = s_follow_events(path, sizeof(path));
	/* A new subscriber gets every queue's numbers at once... */
	text = s_wait_text(path, "event: queue\n", 2500);
	cr_assert(text && strstr(text, "\"name\":\"jobs\"") != NULL, "%s", text ? text : "");
	cr_assert(strstr(text, "\"size\":0") != NULL, "%s", text);
	/* ... and a change within about a second. */
	snprintf(cmd, sizeof(cmd), "%s -q tcp://127.0.0.1:%d --authkey-file %s put jobs hello",
		 drv_bin("droverctl"), d.qport, d.authkey_path);
	cr_assert_eq(drv_sh(cmd, NULL), 0);
	free(text);
	text = s_wait_text(path, "\"size\":1", 3000);
	kill(curl, SIGTERM);
	waitpid(curl, NULL, 0);
	cr_assert(text && strstr(text, "\"size\":1") != NULL, "%s", text ? text : "");
	cr_assert(strstr(text, "\"put_total\":1") != NULL, "%s", text);
	free(text);
}

Test(api, logs_with_invalid_utf8_are_still_json, .fini = teardown, .timeout = 30)
{
	json_t *o;
	const char *line;

	cr_assert_eq(
	    drv_start(&d, "groups:\n"
			  "  bin:\n"
			  "    command: \"printf 'ok \\\\303\\\\251 bad \\\\377\\\\376 ov "
			  "\\\\300\\\\257 sur \\\\355\\\\240\\\\200 end\\\\n'; exec sleep 3600\"\n"
			  "    start_timeout: 0s\n"),
	    0);
	cr_assert(drv_wait_state(&d, "bin:0", "RUNNING", 5000));
	for (int i = 0; i < 100; i++) {
		o = drv_get_json(&d, "/api/v1/processes/bin:0/logs");
		cr_assert_not_null(o, "the logs answer is not JSON");
		if (json_array_size(json_object_get(o, "lines")) > 0)
			break;
		json_decref(o);
		o = NULL;
		drv_sleep_ms(20);
	}
	cr_assert_not_null(o);
	line = json_string_value(json_array_get(json_object_get(o, "lines"), 0));
	/* Valid UTF-8 kept, each invalid byte replaced by U+FFFD. */
	cr_assert_str_eq(line,
			 "ok \xc3\xa9 bad \xef\xbf\xbd\xef\xbf\xbd ov \xef\xbf\xbd\xef\xbf\xbd sur "
			 "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd end");
	json_decref(o);
}

/* One limit for instances, in the file and when scaling: beyond it a clear
   400, and nothing changes. */
Test(api, scaling_beyond_the_limit_is_refused, .fini = teardown, .timeout = 30)
{
	char *body = NULL;
	json_t *g;

	cr_assert_eq(drv_start(&d, "groups:\n  web:\n    command: [sleep, '1000']\n"
				   "    start_timeout: 0s\n"),
		     0);
	cr_assert(drv_wait_state(&d, "web:0", "RUNNING", 5000));
	cr_assert_eq(drv_http(&d, "PUT", "/api/v1/groups/web/instances", "{\"instances\": 100000}",
			      true, &body),
		     400);
	cr_assert(strstr(body, "0 to 10000") != NULL, "%s", body);
	free(body);
	cr_assert_eq(drv_http(&d, "PUT", "/api/v1/groups/web/instances", "{\"instances\": 10001}",
			      true, NULL),
		     400);
	g = drv_get_json(&d, "/api/v1/groups/web");
	cr_assert_eq(json_integer_value(json_object_get(g, "instances")), 1);
	json_decref(g);
}

/* Secret files that are not secrets are refused at start, by name. */
Test(api, a_token_file_that_is_a_directory_or_a_device_is_refused_by_name, .fini = teardown,
     .timeout = 30)
{
	char cmd[1200], *out = NULL;
	int rc;

	cr_assert_eq(drv_prepare(&d, "supervisor:\n  http: { listen: '127.0.0.1:{PORT}', "
				     "token_file: '{DIR}' }\ngroups: {}\n"),
		     0);
	snprintf(cmd, sizeof(cmd), "%s -c %s 2>&1", drv_bin("droverd"), d.conf_path);
	rc = drv_sh(cmd, &out);
	cr_assert_neq(rc, 0);
	cr_assert(strstr(out, "a directory, not a file") != NULL, "%s", out);
	free(out);
	cr_assert_eq(drv_rewrite(&d, "supervisor:\n  http: { listen: '127.0.0.1:{PORT}' }\n"
				     "  queues: { listen: 'tcp://127.0.0.1:{QPORT}', "
				     "authkey_file: /dev/zero }\nqueues: { q: {} }\ngroups: {}\n"),
		     0);
	rc = drv_sh(cmd, &out);
	cr_assert_neq(rc, 0);
	cr_assert(strstr(out, "not a regular file") != NULL, "%s", out);
	free(out);
}

/* droverd short of descriptors: the API takes a quarter of them at most,
   so however many clients hold connections, a worker that dies is still
   restarted (its pipes open) and a new request is still answered. */
Test(api, held_connections_cannot_starve_supervision_of_descriptors, .fini = teardown,
     .timeout = 60)
{
	struct rlimit rl = {256, 256};
	struct sockaddr_in sa = {.sin_family = AF_INET};
	int fds[300], n = 0;
	pid_t old;
	json_t *p;

	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0); /* this test's process only */
	cr_assert_eq(drv_start(&d, "groups:\n  w:\n    command: [sleep, '1000']\n"
				   "    start_timeout: 0s\n"),
		     0);
	cr_assert(drv_wait_state(&d, "w:0", "RUNNING", 5000));
	old = drv_pid(&d, "w:0");
	rl.rlim_cur = rl.rlim_max = 1024;
	setrlimit(RLIMIT_NOFILE, &rl); /* room for our own sockets (as root) */
	sa.sin_port = htons((uint16_t)d.port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (n = 0; n < 300; n++) {
		if ((fds[n] = socket(AF_INET, SOCK_STREAM, 0)) < 0)
			break;
		if (connect(fds[n], (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
		    write(fds[n], "GET /api/v1/sta", 15) != 15) {
			close(fds[n]);
			break;
		}
	}
	cr_assert_geq(n, 200, "only %d connections", n);
	drv_sleep_ms(300);
	/* Supervision goes on while the API is full: the worker is restarted
	   (new pipes, new files) without anyone asking. */
	kill(old, SIGKILL);
	drv_sleep_ms(1500);
	while (n > 0)
		close(fds[--n]);
	for (int i = 0; i < 100; i++) {
		p = drv_proc(&d, "w:0");
		if (p != NULL && json_integer_value(json_object_get(p, "pid")) != old &&
		    strcmp(json_string_value(json_object_get(p, "state")), "RUNNING") == 0) {
			json_decref(p);
			break;
		}
		json_decref(p);
		drv_sleep_ms(50);
	}
	p = drv_proc(&d, "w:0");
	cr_assert_not_null(p);
	cr_assert_neq(json_integer_value(json_object_get(p, "pid")), old, "not restarted");
	/* Restarted while the connections were held, not after. */
	cr_assert_lt(json_real_value(json_object_get(p, "since")), (double)time(NULL) - 0.5);
	json_decref(p);
}

/* A subscriber that reconnects with Last-Event-ID gets the events it
   missed, with no gap; one that names an event no longer kept (or no
   event at all) is told to read the lists again. */
Test(api, last_event_id_resumes_the_stream_without_a_gap, .fini = teardown, .timeout = 60)
{
	char cmd[600], *out = NULL, *at;
	unsigned long long last = 0, id;

	cr_assert_eq(drv_start(&d, "groups:\n  w:\n    command: [sleep, '1000']\n"
				   "    start_timeout: 0s\n"),
		     0);
	cr_assert(drv_wait_state(&d, "w:0", "RUNNING", 5000));
	/* One restart while subscribed: its events and their ids. */
	snprintf(cmd, sizeof(cmd),
		 "(curl -sN --max-time 2 %s/api/v1/events &) ; sleep 0.5; "
		 "curl -s -X POST -H 'Authorization: Bearer %s' %s/api/v1/processes/w:0/restart "
		 ">/dev/null; sleep 2",
		 d.base, DRV_TOKEN, d.base);
	drv_sh(cmd, &out);
	for (at = out; (at = strstr(at, "id: ")) != NULL; at += 4)
		last = strtoull(at + 4, NULL, 10);
	cr_assert_gt(last, 0, "no event ids: %s", out);
	free(out);
	/* Gone: another restart nobody sees. */
	cr_assert_eq(drv_http(&d, "POST", "/api/v1/processes/w:0/restart", NULL, true, NULL), 200);
	cr_assert(drv_wait_state(&d, "w:0", "RUNNING", 5000));
	/* Back with Last-Event-ID: every id after the last one seen, in order. */
	snprintf(cmd, sizeof(cmd),
		 "curl -sN --max-time 1 -H 'Last-Event-ID: %llu' %s/api/v1/events; true", last,
		 d.base);
	out = NULL;
	drv_sh(cmd, &out);
	id = last;
	for (at = out; (at = strstr(at, "id: ")) != NULL; at += 4) {
		unsigned long long next = strtoull(at + 4, NULL, 10);

		cr_assert_eq(next, id + 1, "a gap after %llu: %s", id, out);
		id = next;
	}
	cr_assert_gt(id, last, "nothing replayed: %s", out);
	cr_assert(strstr(out, "\"name\":\"w:0\"") != NULL, "%s", out);
	cr_assert(strstr(out, "resync") == NULL, "%s", out);
	free(out);
	/* A bogus id: read everything again. */
	snprintf(cmd, sizeof(cmd),
		 "curl -sN --max-time 1 -H 'Last-Event-ID: 99999999' %s/api/v1/events; true",
		 d.base);
	out = NULL;
	drv_sh(cmd, &out);
	cr_assert(strstr(out, "event: resync") != NULL, "%s", out);
	free(out);
}
