/* droverctl as an operator uses it: the real program against a real droverd,
   checked on what a person reads (aligned tables, one-line errors) and what
   a script relies on (exit codes, JSON). */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static drv_t d;

static void
teardown(void)
{
	drv_cleanup(&d);
}

static int
count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* Runs `droverctl -s BASE --token-file TOKEN ARGS` (args is shell text);
   returns the exit status, stdout in *out and stderr in *err (caller frees
   both; either may be NULL). */
static int ctl(char **out, char **err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
ctl(char **out, char **err, const char *fmt, ...)
{
	char args[2048], cmd[4096], errpath[400];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(errpath, sizeof(errpath), "%s/ctl.err", d.dir[0] ? d.dir : "/tmp");
	snprintf(cmd, sizeof(cmd), "NO_COLOR= DROVER_URL= DROVER_TOKEN_FILE= '%s' -s %s --token-file %s %s 2>%s",
		 drv_bin("droverctl"), d.base, d.token_path, args, errpath);
	rc = drv_sh(cmd, out);
	if (err != NULL)
		*err = drv_slurp(errpath);
	return rc;
}

/* Processes used by most tests: three sleepers, a worker that counts lines
   and traps USR1, and a program that cannot be executed. */
static const char *groups =
	"groups:\n"
	"  web:\n"
	"    command: [sleep, '1000']\n"
	"    instances: 3\n"
	"    start_timeout: 0s\n"
	"    stop: { timeout: 2s }\n"
	"  worker:\n"
	"    command: |\n"
	"      trap 'echo usr1 > {DIR}/usr1' USR1\n"
	"      for i in $(seq 1 50); do echo \"line $i\"; done\n"
	"      while [ ! -e {DIR}/go ]; do sleep 0.05; done\n"
	"      echo \"written after the follower started\"\n"
	"      while :; do sleep 0.05; done\n"
	"    start_timeout: 0s\n"
	"  broken:\n"
	"    command: [./no-such-program]\n"
	"    autostart: false\n";

static void
start_default(void)
{
	cr_assert_eq(drv_start(&d, groups), 0);
	cr_assert(drv_wait_state(&d, "web:2", "RUNNING", 5000));
	cr_assert(drv_wait_state(&d, "worker:0", "RUNNING", 5000));
}

/* The column at which word starts in line, or -1. */
static int
col_of(const char *line, const char *word)
{
	const char *p = strstr(line, word);

	return p ? (int)(p - line) : -1;
}

Test(droverctl, status_lists_every_process_in_aligned_columns, .fini = teardown, .timeout = 30)
{
	char *out, *err, *line, *save = NULL;
	int state_col, pid_end, n = 0;
	const char *names[] = {"web:0", "web:1", "web:2", "worker:0", "broken:0"};

	start_default();
	cr_assert_eq(ctl(&out, &err, "status"), 0, "stderr: %s", err);
	cr_assert_str_empty(err);
	cr_assert_null(strchr(out, '\033'), "colour codes in a pipe");
	line = strtok_r(out, "\n", &save);
	cr_assert_not_null(line);
	cr_assert_eq(strncmp(line, "NAME", 4), 0, "header: %s", line);
	state_col = col_of(line, "STATE");
	pid_end = col_of(line, "PID") + 3;
	cr_assert_gt(state_col, 0);
	cr_assert_not_null(strstr(line, "UPTIME"));
	cr_assert_not_null(strstr(line, "RESTARTS"));
	cr_assert_not_null(strstr(line, "CPU"));
	cr_assert_not_null(strstr(line, "MEM"));
	while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
		cr_assert_lt(n, 5, "extra row: %s", line);
		cr_assert_eq(strncmp(line, names[n], strlen(names[n])), 0, "row %d: %s", n, line);
		/* The state starts under STATE; the pid (right-aligned) ends under PID. */
		cr_assert(line[state_col] != ' ' && line[state_col - 1] == ' ', "row: %s", line);
		cr_assert(line[pid_end - 1] != ' ' && line[pid_end] == ' ', "row: %s", line);
		cr_assert_neq(line[strlen(line) - 1], ' ', "trailing blank: '%s'", line);
		if (n < 4)
			cr_assert_eq(strncmp(line + state_col, "RUNNING", 7), 0, "row: %s", line);
		else
			cr_assert_eq(strncmp(line + state_col, "STOPPED", 7), 0, "row: %s", line);
		n++;
	}
	cr_assert_eq(n, 5);
	free(out);
	free(err);
}

Test(droverctl, status_json_is_the_apis_json, .fini = teardown, .timeout = 30)
{
	char *out;
	json_t *j;

	start_default();
	cr_assert_eq(ctl(&out, NULL, "--json status"), 0);
	j = json_loads(out, 0, NULL);
	cr_assert(json_is_array(j), "not a JSON array: %s", out);
	cr_assert_eq(json_array_size(j), 5);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(j, 3), "name")),
			 "worker:0");
	cr_assert(json_is_integer(json_object_get(json_array_get(j, 0), "pid")));
	json_decref(j);
	free(out);

	/* One process: its object; a group: only its instances. */
	cr_assert_eq(ctl(&out, NULL, "status web:1 --json"), 0);
	j = json_loads(out, 0, NULL);
	cr_assert_str_eq(json_string_value(json_object_get(j, "state")), "RUNNING");
	json_decref(j);
	free(out);
	cr_assert_eq(ctl(&out, NULL, "status web"), 0);
	cr_assert_eq(count_lines(out), 4, "%s", out);
	cr_assert_null(strstr(out, "worker"));
	free(out);
}

Test(droverctl, stop_then_start_changes_states_and_exits_0, .fini = teardown, .timeout = 30)
{
	char *out;
	pid_t pid;

	start_default();
	cr_assert_eq(ctl(&out, NULL, "stop web:1"), 0);
	cr_assert_str_eq(out, "web:1: stopped\n");
	free(out);
	/* droverctl waits: the state is already there when it returns. */
	cr_assert(drv_wait_state(&d, "web:1", "STOPPED", 0));
	cr_assert(drv_wait_state(&d, "web:0", "RUNNING", 0));
	cr_assert_eq(ctl(&out, NULL, "start web:1"), 0);
	cr_assert(drv_wait_state(&d, "web:1", "RUNNING", 0));
	pid = drv_pid(&d, "web:1");
	cr_assert_gt(pid, 0);
	cr_assert_not_null(strstr(out, "web:1: started (pid "), "%s", out);
	free(out);

	/* A whole group, then everything. */
	cr_assert_eq(ctl(&out, NULL, "stop web"), 0);
	cr_assert_eq(count_lines(out), 3, "%s", out);
	free(out);
	for (int i = 0; i < 3; i++) {
		char name[16];

		snprintf(name, sizeof(name), "web:%d", i);
		cr_assert(drv_wait_state(&d, name, "STOPPED", 0), "%s", name);
	}
	cr_assert(drv_wait_state(&d, "worker:0", "RUNNING", 0));
	cr_assert_eq(ctl(NULL, NULL, "stop all"), 0);
	cr_assert(drv_wait_state(&d, "worker:0", "STOPPED", 0));
	cr_assert_eq(ctl(NULL, NULL, "start web"), 0);
	cr_assert(drv_wait_state(&d, "web:2", "RUNNING", 0));
	/* Stopping what is stopped is not a failure. */
	cr_assert_eq(ctl(NULL, NULL, "stop worker:0"), 0);
}

Test(droverctl, restart_gives_new_pids_also_rolling, .fini = teardown, .timeout = 30)
{
	pid_t before[3], after;
	char name[16];

	start_default();
	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "web:%d", i);
		before[i] = drv_pid(&d, name);
	}
	cr_assert_eq(ctl(NULL, NULL, "restart web:0"), 0);
	after = drv_pid(&d, "web:0");
	cr_assert(after > 0 && after != before[0]);
	cr_assert_eq(drv_pid(&d, "web:1"), before[1]);
	cr_assert_eq(ctl(NULL, NULL, "restart web --rolling"), 0);
	for (int i = 1; i < 3; i++) {
		snprintf(name, sizeof(name), "web:%d", i);
		cr_assert(drv_wait_state(&d, name, "RUNNING", 0));
		cr_assert_neq(drv_pid(&d, name), before[i], "%s kept its pid", name);
	}
}

Test(droverctl, a_start_that_fails_exits_1_with_the_reason, .fini = teardown, .timeout = 30)
{
	char *err;

	start_default();
	cr_assert_eq(ctl(NULL, &err, "start broken"), 1);
	cr_assert_eq(count_lines(err), 1, "%s", err);
	cr_assert_not_null(strstr(err, "broken:0"), "%s", err);
	cr_assert_not_null(strstr(err, "No such file or directory"), "%s", err);
	free(err);
}

Test(droverctl, unknown_process_exits_1_with_one_line, .fini = teardown, .timeout = 30)
{
	char *out, *err;

	start_default();
	cr_assert_eq(ctl(&out, &err, "stop web:9"), 1);
	cr_assert_str_empty(out);
	cr_assert_eq(count_lines(err), 1, "%s", err);
	cr_assert_eq(strncmp(err, "droverctl: ", 11), 0, "%s", err);
	cr_assert_not_null(strstr(err, "web:9"), "%s", err);
	free(out);
	free(err);
	cr_assert_eq(ctl(&out, &err, "status nosuchgroup"), 1);
	cr_assert_eq(count_lines(err), 1, "%s", err);
	cr_assert_not_null(strstr(err, "nosuchgroup"), "%s", err);
	free(out);
	free(err);
}

Test(droverctl, usage_errors_exit_2_with_a_usage_line, .fini = teardown, .timeout = 30)
{
	static const char *bad[] = {"",	    "frobnicate", "status --follow", "scale web",
				    "scale web many", "signal NOSUCHSIG web:0", "logs", "start",
				    "--no-such-option status", "restart web:0 --rolling"};
	char *out, *err;

	/* Usage is checked before anything is asked of droverd. */
	d.port = drv_free_port();
	snprintf(d.base, sizeof(d.base), "http://127.0.0.1:%d", d.port);
	snprintf(d.token_path, sizeof(d.token_path), "/nonexistent");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(ctl(&out, &err, "%s", bad[i]), 2, "droverctl %s: %s", bad[i], err);
		cr_assert_not_null(strstr(err, "usage: droverctl"), "droverctl %s: %s", bad[i], err);
		cr_assert_leq(count_lines(err), 2, "droverctl %s: %s", bad[i], err);
		free(out);
		free(err);
	}
	cr_assert_eq(ctl(&out, NULL, "--help"), 0);
	cr_assert_not_null(strstr(out, "logs [-f] [-n N]"));
	free(out);
}

Test(droverctl, wrong_or_missing_token_is_one_line, .fini = teardown, .timeout = 30)
{
	char cmd[1024], bad[400], *err;

	start_default();
	snprintf(bad, sizeof(bad), "%s/wrong.token", d.dir);
	snprintf(cmd, sizeof(cmd), "echo not-the-token > %s", bad);
	cr_assert_eq(drv_sh(cmd, NULL), 0);
	cr_assert_eq(ctl(NULL, &err, "--token-file %s stop web", bad), 1);
	cr_assert_str_eq(err, "droverctl: the API refused the token (401)\n");
	free(err);
	/* The token never shows, whatever happens. */
	snprintf(cmd, sizeof(cmd), "'%s' -s %s stop web 2>&1", drv_bin("droverctl"), d.base);
	cr_assert_eq(drv_sh(cmd, &err), 1);
	cr_assert_eq(count_lines(err), 1, "%s", err);
	cr_assert_not_null(strstr(err, "401"), "%s", err);
	cr_assert_null(strstr(err, DRV_TOKEN));
	free(err);
	/* Reading is open. */
	cr_assert_eq(ctl(NULL, NULL, "--token-file %s status", bad), 0);
	cr_assert(drv_wait_state(&d, "web:0", "RUNNING", 0));
}

Test(droverctl, unreachable_server_is_one_line, .timeout = 30)
{
	char cmd[1024], *err;
	int port = drv_free_port();

	snprintf(cmd, sizeof(cmd), "'%s' -s http://127.0.0.1:%d status 2>&1", drv_bin("droverctl"),
		 port);
	cr_assert_eq(drv_sh(cmd, &err), 1);
	snprintf(cmd, sizeof(cmd),
		 "droverctl: cannot reach droverd at http://127.0.0.1:%d: Connection refused\n", port);
	cr_assert_str_eq(err, cmd);
	free(err);
}

/* Waits until the worker has written its first 50 lines. */
static void
wait_for_line_50(void)
{
	char *out = NULL;

	for (int i = 0; i < 100; i++) {
		free(out);
		cr_assert_eq(ctl(&out, NULL, "logs -n 1 worker:0"), 0);
		if (strcmp(out, "line 50\n") == 0)
			break;
		drv_sleep_ms(50);
	}
	cr_assert_str_eq(out, "line 50\n");
	free(out);
}

Test(droverctl, logs_n_prints_the_last_n_lines, .fini = teardown, .timeout = 30)
{
	char *out;

	start_default();
	wait_for_line_50();
	cr_assert_eq(ctl(&out, NULL, "logs -n 5 worker:0"), 0);
	cr_assert_str_eq(out, "line 46\nline 47\nline 48\nline 49\nline 50\n");
	free(out);
	/* A group of one instance names it. */
	cr_assert_eq(ctl(&out, NULL, "logs -n 2 worker"), 0);
	cr_assert_str_eq(out, "line 49\nline 50\n");
	free(out);
}

Test(droverctl, logs_follow_prints_a_line_written_after_it_started, .fini = teardown,
     .timeout = 30)
{
	char cmd[2048], path[400], *out;

	start_default();
	wait_for_line_50();
	/* The follower starts and prints the last line; then the worker is let
	   go; wait for its next line, then stop the follower. */
	snprintf(path, sizeof(path), "%s/follow.out", d.dir);
	snprintf(cmd, sizeof(cmd),
		 "'%s' -s %s logs -f -n 1 worker:0 > %s 2>&1 & f=$!; "
		 "for i in $(seq 1 100); do grep -q 'line 50' %s && break; sleep 0.05; done; "
		 "touch %s/go; "
		 "for i in $(seq 1 100); do grep -q 'after the follower' %s && break; sleep 0.05; "
		 "done; kill $f; wait $f 2>/dev/null; true",
		 drv_bin("droverctl"), d.base, path, path, d.dir, path);
	cr_assert_eq(drv_sh(cmd, NULL), 0);
	out = drv_slurp(path);
	cr_assert_str_eq(out, "line 50\nwritten after the follower started\n");
	free(out);
}

Test(droverctl, scale_changes_the_instance_count, .fini = teardown, .timeout = 30)
{
	char *out;

	start_default();
	cr_assert_eq(ctl(&out, NULL, "scale web 5"), 0);
	cr_assert_str_eq(out, "web: 5 instances\n");
	free(out);
	cr_assert(drv_wait_state(&d, "web:4", "RUNNING", 5000));
	cr_assert_eq(ctl(&out, NULL, "status web"), 0);
	cr_assert_eq(count_lines(out), 6, "%s", out);
	free(out);
	cr_assert_eq(ctl(NULL, NULL, "scale web 1"), 0);
	for (int i = 0; i < 100 && drv_http(&d, "GET", "/api/v1/processes/web:1", NULL, false,
					     NULL) != 404;
	     i++)
		drv_sleep_ms(50);
	cr_assert_eq(drv_http(&d, "GET", "/api/v1/processes/web:1", NULL, false, NULL), 404);
	cr_assert(drv_wait_state(&d, "web:0", "RUNNING", 0));
}

Test(droverctl, signal_is_delivered, .fini = teardown, .timeout = 30)
{
	char path[400], *out, *text = NULL;
	struct stat st;

	start_default();
	cr_assert_eq(ctl(&out, NULL, "signal USR1 worker:0"), 0);
	cr_assert_str_eq(out, "worker:0: sent SIGUSR1\n");
	free(out);
	snprintf(path, sizeof(path), "%s/usr1", d.dir);
	for (int i = 0; i < 100 && stat(path, &st) != 0; i++)
		drv_sleep_ms(50);
	text = drv_slurp(path);
	cr_assert_str_eq(text, "usr1\n");
	free(text);
	/* A stopped process cannot be signalled: one line, exit 1. */
	cr_assert_eq(ctl(NULL, &out, "signal HUP broken:0"), 1);
	cr_assert_eq(count_lines(out), 1, "%s", out);
	free(out);
}

Test(droverctl, reload_applies_a_file_or_prints_its_errors, .fini = teardown, .timeout = 30)
{
	char yaml[4096], *out, *err;

	start_default();
	snprintf(yaml, sizeof(yaml), "%s  extra:\n    command: [sleep, '1001']\n", groups);
	cr_assert_eq(drv_rewrite(&d, yaml), 0);
	cr_assert_eq(ctl(&out, &err, "reload"), 0, "%s", err);
	free(out);
	free(err);
	cr_assert(drv_wait_state(&d, "extra:0", "RUNNING", 5000));

	snprintf(yaml, sizeof(yaml), "%s  bad:\n    command: [true]\n    restart: sometimes\n",
		 groups);
	cr_assert_eq(drv_rewrite(&d, yaml), 0);
	cr_assert_eq(ctl(&out, &err, "reload"), 1);
	cr_assert_not_null(strstr(err, "keeps the running configuration"), "%s", err);
	cr_assert_not_null(strstr(err, "groups.bad.restart"), "%s", err);
	cr_assert_not_null(strstr(err, "drover.yaml:"), "%s", err);
	free(out);
	free(err);
	cr_assert(drv_wait_state(&d, "extra:0", "RUNNING", 0));
}

/* A valid file whose new durable queue cannot be stored (queues.db is
   not a database): the rest of it runs, and the API, droverctl and the
   exit status say what did not. */
Test(droverctl, a_reload_applied_in_part_says_what_was_not, .fini = teardown, .timeout = 30)
{
	char path[400], *out, *err, *body = NULL;
	json_t *j, *e;
	FILE *f;

	cr_assert_eq(drv_start(&d, "queues:\n  a: {}\n"), 0);
	snprintf(path, sizeof(path), "%s/var/queues.db", d.dir);
	cr_assert_not_null(f = fopen(path, "w"));
	fputs("not a database\n", f);
	fclose(f);
	cr_assert_eq(drv_rewrite(&d, "queues:\n  a: {}\n  d: { durable: true }\n  b: {}\n"
				     "groups:\n  extra:\n    command: [sleep, '1001']\n"),
		     0);
	cr_assert_eq(drv_http(&d, "POST", "/api/v1/reload", NULL, true, &body), 500, "%s", body);
	j = json_loads(body, 0, NULL);
	e = json_object_get(j, "error");
	cr_assert_str_eq(json_string_value(json_object_get(e, "code")), "reload_incomplete");
	cr_assert_eq(json_array_size(json_object_get(e, "errors")), 1, "%s", body);
	cr_assert_not_null(
	    strstr(json_string_value(json_array_get(json_object_get(e, "errors"), 0)),
		   "queue d: not added"),
	    "%s", body);
	json_decref(j);
	free(body);
	/* What could be applied is. */
	cr_assert(drv_wait_state(&d, "extra:0", "RUNNING", 5000));
	cr_assert_eq(ctl(&out, &err, "queues"), 0, "%s", err);
	cr_assert_not_null(strstr(out, "\nb "), "%s", out);
	cr_assert_null(strstr(out, "\nd "), "%s", out);
	free(out);
	free(err);

	cr_assert_eq(ctl(&out, &err, "reload"), 1);
	cr_assert_not_null(strstr(err, "reloaded the configuration, except:"), "%s", err);
	cr_assert_not_null(strstr(err, "queue d: not added"), "%s", err);
	cr_assert_not_null(strstr(err, "queues.db"), "%s", err);
	free(out);
	free(err);
}

Test(droverctl, agents_and_queues_answer_with_empty_lists, .fini = teardown, .timeout = 30)
{
	char *out;
	json_t *j;

	start_default();
	cr_assert_eq(ctl(&out, NULL, "agents"), 0);
	cr_assert_str_eq(out, "no agents\n");
	free(out);
	cr_assert_eq(ctl(&out, NULL, "--json agents"), 0);
	j = json_loads(out, 0, NULL);
	cr_assert(json_is_array(j), "%s", out);
	json_decref(j);
	free(out);
	cr_assert_eq(ctl(&out, NULL, "--json queues"), 0);
	j = json_loads(out, 0, NULL);
	cr_assert(json_is_array(j), "%s", out);
	json_decref(j);
	free(out);
}

Test(droverctl, colour_only_on_a_terminal_and_not_with_no_color, .fini = teardown, .timeout = 30)
{
	char cmd[2048], *out;

	start_default();
	/* script(1) gives droverctl a terminal. */
	snprintf(cmd, sizeof(cmd), "TERM=xterm script -qec \"'%s' -s %s status\" /dev/null",
		 drv_bin("droverctl"), d.base);
	cr_assert_eq(drv_sh(cmd, &out), 0);
	cr_assert_not_null(strstr(out, "\033[32mRUNNING"), "%s", out);
	free(out);
	snprintf(cmd, sizeof(cmd), "NO_COLOR=1 TERM=xterm script -qec \"'%s' -s %s status\" /dev/null",
		 drv_bin("droverctl"), d.base);
	cr_assert_eq(drv_sh(cmd, &out), 0);
	cr_assert_null(strchr(out, '\033'), "%s", out);
	free(out);
}

Test(droverctl, keygen_writes_a_key_pair_with_a_private_secret, .fini = teardown, .timeout = 30)
{
	char dir[400], path[500], *text;
	struct stat st;

	cr_assert_eq(drv_prepare(&d, "groups: {}\n"), 0);
	snprintf(dir, sizeof(dir), "%s/keys", d.dir);
	cr_assert_eq(ctl(&text, NULL, "keygen %s --name agent-1", dir), 0);
	cr_assert_not_null(strstr(text, "public key"), "%s", text);
	free(text);
	snprintf(path, sizeof(path), "%s/agent-1.cert_secret", dir);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600);
	text = drv_slurp(path);
	cr_assert_not_null(strstr(text, "secret-key = \""), "%s", text);
	free(text);
	snprintf(path, sizeof(path), "%s/agent-1.cert", dir);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 0077 & ~0044, 0, "public file writable by others");
	text = drv_slurp(path);
	cr_assert_not_null(strstr(text, "public-key = \""), "%s", text);
	cr_assert_null(strstr(text, "secret-key"), "%s", text);
	free(text);
	/* An existing pair is kept unless --force. */
	cr_assert_eq(ctl(NULL, NULL, "keygen %s --name agent-1", dir), 1);
	cr_assert_eq(ctl(NULL, NULL, "keygen %s --name agent-1 --force", dir), 0);
}

#ifdef DROVER_HAVE_LIBDROVER

static const char *qgroups = "queues:\n"
			     "  tasks: { capacity: 100 }\n"
			     "  small: { capacity: 1 }\n"
			     "  tiny: { max_message: 1KB }\n"
			     "groups: {}\n";

/* droverctl's queue options for the harness's droverd. */
static char qopts[800];

static void
start_queues(void)
{
	cr_assert_eq(drv_start(&d, qgroups), 0);
	snprintf(qopts, sizeof(qopts), "-q tcp://127.0.0.1:%d --authkey-file %s", d.qport,
		 d.authkey_path);
}

Test(droverctl_queue, put_then_get_round_trips_the_body, .fini = teardown, .timeout = 30)
{
	char cmd[2048], *out;

	start_queues();
	cr_assert_eq(ctl(NULL, NULL, "%s put tasks 'hello world'", qopts), 0);
	snprintf(cmd, sizeof(cmd), "printf 'two\\nlines' | '%s' %s put tasks -", drv_bin("droverctl"),
		 qopts);
	cr_assert_eq(drv_sh(cmd, NULL), 0);
	cr_assert_eq(ctl(&out, NULL, "%s queues", qopts), 0);
	cr_assert_not_null(strstr(out, "tasks"), "%s", out);
	free(out);
	cr_assert_eq(ctl(&out, NULL, "%s get tasks --timeout 5", qopts), 0);
	cr_assert_str_eq(out, "hello world");
	free(out);
	/* --no-ack gives it back: the next get sees it again. */
	cr_assert_eq(ctl(&out, NULL, "%s get tasks --timeout 5 --no-ack", qopts), 0);
	cr_assert_str_eq(out, "two\nlines");
	free(out);
	cr_assert_eq(ctl(&out, NULL, "%s get tasks --timeout 5", qopts), 0);
	cr_assert_str_eq(out, "two\nlines");
	free(out);
}

Test(droverctl_queue, get_on_an_empty_queue_exits_1_after_the_timeout, .fini = teardown,
     .timeout = 30)
{
	char *out, *err;

	start_queues();
	cr_assert_eq(ctl(&out, &err, "%s get tasks --timeout 0.3", qopts), 1);
	cr_assert_str_empty(out);
	cr_assert_eq(count_lines(err), 1, "%s", err);
	free(out);
	free(err);
}

Test(droverctl_queue, full_queue_and_oversize_message_exit_1_with_one_line, .fini = teardown,
     .timeout = 30)
{
	char cmd[2048], *err;

	start_queues();
	cr_assert_eq(ctl(NULL, NULL, "%s put small one", qopts), 0);
	cr_assert_eq(ctl(NULL, &err, "%s put small two --timeout 0.2", qopts), 1);
	cr_assert_eq(count_lines(err), 1, "%s", err);
	cr_assert_not_null(strstr(err, "full"), "%s", err);
	free(err);
	snprintf(cmd, sizeof(cmd), "head -c 2000 /dev/zero | '%s' %s put tiny - 2>&1",
		 drv_bin("droverctl"), qopts);
	cr_assert_eq(drv_sh(cmd, &err), 1);
	cr_assert_eq(count_lines(err), 1, "%s", err);
	cr_assert_not_null(strstr(err, "max_message"), "%s", err);
	free(err);
	cr_assert_eq(ctl(NULL, &err, "%s put nosuchqueue x", qopts), 1);
	cr_assert_str_eq(err, "droverctl: no such queue: nosuchqueue\n");
	free(err);
}

Test(droverctl_queue, wrong_authkey_is_one_line, .fini = teardown, .timeout = 30)
{
	char cmd[1024], bad[400], *err;

	start_queues();
	snprintf(bad, sizeof(bad), "%s/wrong.key", d.dir);
	snprintf(cmd, sizeof(cmd), "echo not-the-key > %s", bad);
	cr_assert_eq(drv_sh(cmd, NULL), 0);
	cr_assert_eq(ctl(NULL, &err, "-q tcp://127.0.0.1:%d --authkey-file %s put tasks x",
			 d.qport, bad),
		     1);
	cr_assert_eq(count_lines(err), 1, "%s", err);
	cr_assert_not_null(strstr(err, "authentication failed"), "%s", err);
	free(err);
}

#endif

/* Something that is not droverd answers 200 with an object where a list
   belongs: one line, and exit 1 (a script must not take it for "no agents"). */
Test(droverctl, an_answer_that_is_not_a_list_exits_1, .timeout = 30)
{
	char cmd[2048], *err = NULL;
	int port = drv_free_port(), i, rc;

	snprintf(cmd, sizeof(cmd),
		 "/usr/bin/python3 -c 'import http.server as h\n"
		 "class H(h.BaseHTTPRequestHandler):\n"
		 "  def do_GET(s):\n"
		 "    b = b\"{\\\"x\\\": 1}\"\n"
		 "    s.send_response(200); s.send_header(\"Content-Type\", \"application/json\")\n"
		 "    s.send_header(\"Content-Length\", str(len(b))); s.end_headers(); s.wfile.write(b)\n"
		 "  def log_message(s, *a): pass\n"
		 "h.HTTPServer((\"127.0.0.1\", %d), H).serve_forever()' >/dev/null 2>&1 &\n"
		 "echo $! > /tmp/ctl-notalist.%d",
		 port, port);
	cr_assert_eq(drv_sh(cmd, NULL), 0);
	for (i = 0; i < 100; i++) { /* until it listens */
		snprintf(cmd, sizeof(cmd), "bash -c 'exec 3<>/dev/tcp/127.0.0.1/%d' 2>/dev/null", port);
		if (drv_sh(cmd, NULL) == 0)
			break;
		drv_sleep_ms(50);
	}
	snprintf(cmd, sizeof(cmd), "NO_COLOR= DROVER_TOKEN_FILE= '%s' -s http://127.0.0.1:%d agents 2>&1",
		 drv_bin("droverctl"), port);
	rc = drv_sh(cmd, &err);
	snprintf(cmd, sizeof(cmd), "kill $(cat /tmp/ctl-notalist.%d); rm -f /tmp/ctl-notalist.%d",
		 port, port);
	drv_sh(cmd, NULL);
	cr_assert_eq(rc, 1, "%s", err);
	cr_assert(strstr(err, "droverd's answer is not a list") != NULL, "%s", err);
	cr_assert_eq(count_lines(err), 1, "%s", err);
	free(err);
}
