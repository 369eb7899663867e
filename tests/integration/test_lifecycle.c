/* The process lifecycle with real droverd and real workers: restarts and
   backoff, flapping to FATAL, stop escalation to SIGKILL with grandchildren,
   dependency order, readiness gating, exec failures, output capture, and
   graceful shutdown. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long
jint(json_t *o, const char *k)
{
	return (long)json_integer_value(json_object_get(o, k));
}

Test(lifecycle, crashed_worker_is_restarted_with_a_new_pid, .fini = teardown, .timeout = 30)
{
	json_t *p;
	pid_t pid1, pid2;

	cr_assert_eq(drv_start(&d, "groups:\n"
				   "  crash:\n"
				   "    command: [sleep, '1000']\n"
				   "    start_timeout: 200ms\n"
				   "    restart: on-failure\n"),
		     0);
	cr_assert(drv_wait_state(&d, "crash:0", "RUNNING", 5000));
	pid1 = drv_pid(&d, "crash:0");
	cr_assert_gt(pid1, 0);
	kill(pid1, SIGKILL);
	/* A worker that was up restarts at once, as a new process. */
	for (int i = 0; i < 250 && ((pid2 = drv_pid(&d, "crash:0")) == pid1 || pid2 == 0); i++)
		drv_sleep_ms(20);
	cr_assert_neq(pid2, pid1);
	cr_assert_gt(pid2, 0);
	cr_assert(drv_wait_state(&d, "crash:0", "RUNNING", 5000));
	p = drv_proc(&d, "crash:0");
	cr_assert_eq(jint(p, "restarts"), 1);
	cr_assert_str_eq(json_string_value(json_object_get(p, "state")), "RUNNING");
	json_decref(p);
}

Test(lifecycle, failing_starts_back_off_with_growing_delays, .fini = teardown, .timeout = 30)
{
	char path[400], *text, *line;
	double t[8];
	int n = 0;

	cr_assert_eq(drv_start(&d, "groups:\n"
				   "  flaky:\n"
				   "    command: \"date +%s.%N >> {DIR}/starts; exit 1\"\n"
				   "    start_timeout: 1s\n"
				   "    backoff: { initial: 200ms, max: 5s, factor: 2 }\n"
				   "    max_restarts: { count: 10, within: 60s }\n"),
		     0);
	drv_sleep_ms(3500);
	snprintf(path, sizeof(path), "%s/starts", d.dir);
	text = drv_slurp(path);
	for (line = strtok(text, "\n"); line != NULL && n < 8; line = strtok(NULL, "\n"))
		t[n++] = atof(line);
	free(text);
	/* 0, +200, +400, +800, +1600 ms (with +-10% jitter): 4 or 5 starts in 3.5 s. */
	cr_assert_geq(n, 4, "only %d starts", n);
	cr_assert_leq(n, 6, "%d starts: no backoff", n);
	cr_assert_gt(t[1] - t[0], 0.15);
	cr_assert_gt(t[2] - t[1], 1.5 * (t[1] - t[0]) * 0.8);
	cr_assert_gt(t[3] - t[2], 1.5 * (t[2] - t[1]) * 0.8);
	cr_assert(drv_wait_state(&d, "flaky:0", "BACKOFF", 3000));
}

Test(lifecycle, flapping_worker_goes_fatal_after_max_restarts, .fini = teardown, .timeout = 30)
{
	json_t *p;

	cr_assert_eq(drv_start(&d, "groups:\n"
				   "  flap:\n"
				   "    command: [sh, -c, 'exit 7']\n"
				   "    start_timeout: 500ms\n"
				   "    backoff: { initial: 50ms, max: 100ms, factor: 2 }\n"
				   "    max_restarts: { count: 3, within: 60s }\n"),
		     0);
	cr_assert(drv_wait_state(&d, "flap:0", "FATAL", 10000));
	p = drv_proc(&d, "flap:0");
	cr_assert_eq(jint(p, "restarts"), 3);
	cr_assert_eq(jint(p, "exit_code"), 7);
	cr_assert(json_is_null(json_object_get(p, "pid")));
	json_decref(p);
	/* FATAL means no more restarts. */
	drv_sleep_ms(500);
	p = drv_proc(&d, "flap:0");
	cr_assert_eq(jint(p, "restarts"), 3);
	json_decref(p);
}

Test(lifecycle, worker_ignoring_sigterm_is_killed_with_its_grandchildren, .fini = teardown,
     .timeout = 30)
{
	char path[400], *text;
	pid_t pid, gc;
	double t0, dt;

	cr_assert_eq(
	    drv_start(
		&d,
		"groups:\n"
		"  stubborn:\n"
		"    command: \"trap '' TERM; sleep 1000 & echo $! > {DIR}/gc.pid; wait; wait\"\n"
		"    start_timeout: 100ms\n"
		"    stop: { signal: TERM, timeout: 700ms }\n"),
	    0);
	cr_assert(drv_wait_state(&d, "stubborn:0", "RUNNING", 5000));
	pid = drv_pid(&d, "stubborn:0");
	snprintf(path, sizeof(path), "%s/gc.pid", d.dir);
	for (int i = 0; i < 250; i++) { /* the shell writes it soon after its start */
		text = drv_slurp(path);
		gc = text ? (pid_t)atoi(text) : 0;
		free(text);
		if (gc > 0)
			break;
		drv_sleep_ms(20);
	}
	cr_assert_gt(gc, 0);
	cr_assert(drv_alive(gc));
	t0 = now_s();
	cr_assert_eq(drv_http(&d, "POST", "/api/v1/processes/stubborn:0/stop", NULL, true, NULL),
		     200);
	cr_assert(drv_wait_state(&d, "stubborn:0", "STOPPED", 5000));
	dt = now_s() - t0;
	cr_assert_geq(dt, 0.6, "stopped after %.3f s: the TERM was not ignored?", dt);
	drv_sleep_ms(100);
	cr_assert_not(drv_alive(pid), "worker %d survived", pid);
	cr_assert_not(drv_alive(gc), "grandchild %d survived", gc);
}

Test(lifecycle, dependencies_start_in_order_and_stop_in_reverse, .fini = teardown, .timeout = 40)
{
	char path[400], *text;
	char *sa, *sb, *xa, *xb;
	int status;

	cr_assert_eq(
	    drv_start(&d,
		      "groups:\n"
		      "  b:\n"
		      "    command: \"echo start b $(date +%s%N) >> {DIR}/order; trap 'echo stop b "
		      ">> {DIR}/order; exit 0' TERM; while :; do sleep 0.05; done\"\n"
		      "    depends_on: [a]\n"
		      "    start_timeout: 0s\n"
		      "  a:\n"
		      "    command: \"echo start a $(date +%s%N) >> {DIR}/order; trap 'sleep 0.3; "
		      "echo stop a >> {DIR}/order; exit 0' TERM; while :; do sleep 0.05; done\"\n"
		      "    start_timeout: 0s\n"
		      "    ready: { delay: 600ms }\n"),
	    0);
	cr_assert(drv_wait_state(&d, "b:0", "RUNNING", 5000));
	cr_assert(drv_wait_state(&d, "a:0", "RUNNING", 100));
	/* RUNNING (start_timeout 0s) can come before b's shell has written its
	   line and set its trap: wait for the line before stopping. */
	snprintf(path, sizeof(path), "%s/order", d.dir);
	for (int i = 0; i < 100; i++) {
		text = drv_slurp(path);
		bool up = text != NULL && strstr(text, "start b") != NULL;

		free(text);
		if (up)
			break;
		drv_sleep_ms(20);
	}
	drv_sleep_ms(100); /* and for its trap, set right after */
	status = drv_stop(&d, 10000);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "droverd exit status %d", status);
	snprintf(path, sizeof(path), "%s/order", d.dir);
	text = drv_slurp(path);
	sa = strstr(text, "start a");
	sb = strstr(text, "start b");
	xa = strstr(text, "stop a");
	xb = strstr(text, "stop b");
	cr_assert(sa && sb && xa && xb, "order file:\n%s", text);
	cr_assert_lt(sa, sb, "b started before a:\n%s", text);
	/* b waited for a to be ready (600 ms). */
	cr_assert_geq(atof(sb + 8) - atof(sa + 8), 0.5e9, "%s", text);
	cr_assert_lt(xb, xa, "a stopped before b:\n%s", text);
	free(text);
}

Test(lifecycle, tcp_readiness_gates_dependents, .fini = teardown, .timeout = 30)
{
	char yaml[2048];
	int port = drv_free_port();

	snprintf(
	    yaml, sizeof(yaml),
	    "groups:\n"
	    "  db:\n"
	    "    command: [python3, -c, \"import socket,time; time.sleep(1.0); s=socket.socket(); "
	    "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', %d)); "
	    "s.listen(); time.sleep(1000)\"]\n"
	    "    start_timeout: 0s\n"
	    "    ready: { tcp: '127.0.0.1:%d', interval: 50ms }\n"
	    "  app:\n"
	    "    command: [sleep, '1000']\n"
	    "    start_timeout: 0s\n"
	    "    depends_on: [db]\n",
	    port, port);
	cr_assert_eq(drv_start(&d, yaml), 0);
	drv_sleep_ms(300);
	cr_assert(drv_wait_state(&d, "db:0", "STARTING", 10));
	cr_assert(drv_wait_state(&d, "app:0", "STOPPED", 10), "app started before db was ready");
	cr_assert(drv_wait_state(&d, "db:0", "RUNNING", 5000));
	cr_assert(drv_wait_state(&d, "app:0", "RUNNING", 3000));
}

Test(lifecycle, notify_readiness_from_the_worker, .fini = teardown, .timeout = 30)
{
	json_t *p;

	cr_assert_eq(
	    drv_start(
		&d, "groups:\n"
		    "  svc:\n"
		    "    command: [python3, -c, \"import os,socket,time; time.sleep(0.8); "
		    "a=os.environ['NOTIFY_SOCKET']; a='\\\\0'+a[1:] if a[0]=='@' else a; "
		    "s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.sendto(b'READY=1', a); "
		    "time.sleep(1000)\"]\n"
		    "    start_timeout: 0s\n"
		    "    ready: { notify: true }\n"
		    "  after:\n"
		    "    command: [sleep, '1000']\n"
		    "    start_timeout: 0s\n"
		    "    depends_on: [svc]\n"),
	    0);
	drv_sleep_ms(300);
	p = drv_proc(&d, "svc:0");
	cr_assert_str_eq(json_string_value(json_object_get(p, "state")), "STARTING");
	cr_assert(json_is_false(json_object_get(p, "ready")));
	json_decref(p);
	cr_assert(drv_wait_state(&d, "after:0", "STOPPED", 10));
	cr_assert(drv_wait_state(&d, "svc:0", "RUNNING", 5000));
	p = drv_proc(&d, "svc:0");
	cr_assert(json_is_true(json_object_get(p, "ready")));
	json_decref(p);
	cr_assert(drv_wait_state(&d, "after:0", "RUNNING", 3000));
}

Test(lifecycle, exec_failure_is_reported_not_crash_looped, .fini = teardown, .timeout = 30)
{
	json_t *p;
	char *log;

	cr_assert_eq(drv_start(&d, "groups:\n"
				   "  missing:\n"
				   "    command: [/nonexistent/drover-test-binary, --flag]\n"
				   "  ok:\n"
				   "    command: [sleep, '1000']\n"
				   "    start_timeout: 0s\n"),
		     0);
	cr_assert(drv_wait_state(&d, "missing:0", "FATAL", 5000));
	p = drv_proc(&d, "missing:0");
	cr_assert_eq(jint(p, "restarts"), 0);
	cr_assert(json_is_null(json_object_get(p, "pid")));
	cr_assert(json_is_null(json_object_get(p, "exit_code")));
	cr_assert_str_eq(json_string_value(json_object_get(p, "error")),
			 "exec /nonexistent/drover-test-binary: No such file or directory");
	json_decref(p);
	log = drv_slurp(d.log_path);
	cr_assert(
	    strstr(log,
		   "missing:0: exec /nonexistent/drover-test-binary: No such file or directory"),
	    "%s", log);
	free(log);
	cr_assert(drv_wait_state(&d, "ok:0", "RUNNING", 3000));
}

Test(lifecycle, burst_of_100MB_is_captured_byte_for_byte_across_rotations, .fini = teardown,
     .timeout = 120)
{
	char cmd[1200], *out = NULL;

	cr_assert_eq(
	    drv_start(&d, "groups:\n"
			  "  burst:\n"
			  "    command: \"head -c 104857600 /dev/urandom | tee {DIR}/src.bin\"\n"
			  "    restart: never\n"
			  "    start_timeout: 0s\n"
			  "    stdout: { file: auto, max_size: 8MB, keep: 20 }\n"),
	    0);
	cr_assert(drv_wait_state(&d, "burst:0", "EXITED", 60000));
	/* Oldest rotated file first, the live file last. */
	snprintf(cmd, sizeof(cmd),
		 "cd %s/var/log && ls burst:0.out* | wc -l && "
		 "{ for i in $(seq 20 -1 1); do [ -f burst:0.out.$i ] && cat burst:0.out.$i; done; "
		 "cat burst:0.out; } | sha256sum | cut -c1-64; sha256sum < %s/src.bin | cut -c1-64",
		 d.dir, d.dir);
	cr_assert_eq(drv_sh(cmd, &out), 0);
	{
		int files = atoi(out);
		char *l1 = strchr(out, '\n') + 1, *l2 = strchr(l1, '\n') + 1;

		cr_assert_geq(files, 13, "expected rotation into >= 13 files, got %d", files);
		cr_assert_eq(strncmp(l1, l2, 64), 0,
			     "captured output differs from what was written:\n%s", out);
	}
	free(out);
}

Test(lifecycle, sigterm_stops_everything_and_leaves_no_process, .fini = teardown, .timeout = 40)
{
	json_t *list;
	pid_t pids[16];
	size_t i, n = 0;
	int status;

	cr_assert_eq(drv_start(&d, "groups:\n"
				   "  web:\n"
				   "    command: \"sleep 987654 & sleep 987654 & wait\"\n"
				   "    instances: 3\n"
				   "    start_timeout: 0s\n"
				   "  worker:\n"
				   "    command: [sleep, '987654']\n"
				   "    instances: 2\n"
				   "    start_timeout: 0s\n"
				   "    depends_on: [web]\n"),
		     0);
	cr_assert(drv_wait_state(&d, "worker:1", "RUNNING", 5000));
	list = drv_get_json(&d, "/api/v1/processes");
	cr_assert_eq(json_array_size(list), 5);
	for (i = 0; i < json_array_size(list); i++)
		pids[n++] =
		    (pid_t)json_integer_value(json_object_get(json_array_get(list, i), "pid"));
	json_decref(list);
	status = drv_stop(&d, 15000);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit status %d", status);
	for (i = 0; i < n; i++)
		cr_assert_not(drv_alive(pids[i]), "pid %d survived droverd", pids[i]);
	/* Nor any grandchild. */
	cr_assert_neq(drv_sh("pgrep -f '^sleep 987654$' >/dev/null", NULL), 0,
		      "a 'sleep 987654' is still running");
}

Test(lifecycle, cwd_umask_limits_env_and_user_are_applied, .fini = teardown, .timeout = 30)
{
	char path[512], *text;

	cr_assert_eq(drv_start(&d, "groups:\n"
				   "  env:\n"
				   "    command: \"pwd; umask; ulimit -n; ulimit -c; echo "
				   "port=$PORT; id -un; exec sleep 3600\"\n"
				   "    cwd: /tmp\n"
				   "    umask: '027'\n"
				   "    limits: { nofile: 123, core: 0 }\n"
				   "    env: { PORT: '80${INSTANCE}0' }\n"
				   "    instances: 2\n"
				   "    start_timeout: 0s\n"
				   "  nobody:\n"
				   "    command: \"id -un; exec sleep 3600\"\n"
				   "    user: nobody\n"
				   "    start_timeout: 0s\n"),
		     0);
	cr_assert(drv_wait_state(&d, "env:1", "RUNNING", 5000));
	cr_assert(drv_wait_state(&d, "nobody:0", "RUNNING", 5000));
	drv_sleep_ms(300);
	snprintf(path, sizeof(path), "%s/var/log/env:1.out", d.dir);
	text = drv_slurp(path);
	cr_assert_str_eq(text, "/tmp\n0027\n123\n0\nport=8010\nroot\n");
	free(text);
	snprintf(path, sizeof(path), "%s/var/log/nobody:0.out", d.dir);
	text = drv_slurp(path);
	/* droverd runs as root in CI; as another user the switch is refused. */
	if (geteuid() == 0)
		cr_assert_str_eq(text, "nobody\n");
	free(text);
}

Test(lifecycle, output_can_be_merged_or_discarded, .fini = teardown, .timeout = 30)
{
	char path[512], *text;

	cr_assert_eq(
	    drv_start(
		&d, "groups:\n"
		    "  merged:\n"
		    "    command: \"echo to-out; echo to-err >&2; exec sleep 3600\"\n"
		    "    stderr: merge\n"
		    "    start_timeout: 0s\n"
		    "  quiet:\n"
		    "    command: \"echo nobody-reads-this; echo nor-this >&2; exec sleep 3600\"\n"
		    "    stdout: null\n"
		    "    stderr: null\n"
		    "    start_timeout: 0s\n"),
	    0);
	cr_assert(drv_wait_state(&d, "merged:0", "RUNNING", 5000));
	cr_assert(drv_wait_state(&d, "quiet:0", "RUNNING", 5000));
	snprintf(path, sizeof(path), "%s/var/log/merged:0.out", d.dir);
	for (int i = 0; i < 100; i++) {
		text = drv_slurp(path);
		bool both = strstr(text, "to-out") && strstr(text, "to-err");

		free(text);
		if (both)
			break;
		drv_sleep_ms(20);
	}
	text = drv_slurp(path);
	cr_assert(strstr(text, "to-out\n") && strstr(text, "to-err\n"), "merged file: %s", text);
	free(text);
	snprintf(path, sizeof(path), "%s/var/log/merged:0.err", d.dir);
	cr_assert_neq(access(path, F_OK), 0, "a merged stderr has its own file");
	snprintf(path, sizeof(path), "%s/var/log/quiet:0.out", d.dir);
	cr_assert_neq(access(path, F_OK), 0, "stdout: null wrote a file");
	snprintf(path, sizeof(path), "%s/var/log/quiet:0.err", d.dir);
	cr_assert_neq(access(path, F_OK), 0, "stderr: null wrote a file");
	cr_assert_eq(drv_http(&d, "GET", "/api/v1/processes/quiet:0/logs", NULL, false, NULL), 404);
}

/* A worker that has said nothing has no log file, not even after it
   exits; its first byte makes the file, and the logs call shows its lines. */
Test(lifecycle, a_silent_worker_makes_no_log_file, .fini = teardown, .timeout = 30)
{
	char out[512], err[512], *text;
	json_t *o;

	cr_assert_eq(drv_start(&d, "groups:\n"
				   "  silent:\n"
				   "    command: [sleep, '3600']\n"
				   "    start_timeout: 0s\n"
				   "  late:\n"
				   "    command: \"sleep 0.3; echo at-last; exec sleep 3600\"\n"
				   "    start_timeout: 0s\n"),
		     0);
	cr_assert(drv_wait_state(&d, "silent:0", "RUNNING", 5000));
	cr_assert_eq(drv_http(&d, "POST", "/api/v1/processes/silent:0/restart", NULL, true, NULL),
		     200);
	cr_assert(drv_wait_state(&d, "silent:0", "RUNNING", 5000));
	snprintf(out, sizeof(out), "%s/var/log/silent:0.out", d.dir);
	snprintf(err, sizeof(err), "%s/var/log/silent:0.err", d.dir);
	cr_assert_neq(access(out, F_OK), 0, "an exit with nothing said made %s", out);
	cr_assert_neq(access(err, F_OK), 0, "an exit with nothing said made %s", err);
	o = drv_get_json(&d, "/api/v1/processes/silent:0/logs");
	cr_assert_not_null(o);
	cr_assert_eq(json_array_size(json_object_get(o, "lines")), 0);
	json_decref(o);
	snprintf(out, sizeof(out), "%s/var/log/late:0.out", d.dir);
	for (int i = 0; i < 100 && access(out, F_OK) != 0; i++)
		drv_sleep_ms(20);
	drv_sleep_ms(50);
	text = drv_slurp(out);
	cr_assert_str_eq(text, "at-last\n");
	free(text);
}

/* Reads the hexadecimal mask of a field ("SigIgn:") of /proc/PID/status. */
static unsigned long long
status_mask(pid_t pid, const char *field)
{
	char path[64], *text, *at;
	unsigned long long mask = ~0ULL;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((text = drv_slurp(path)) == NULL)
		return mask;
	if ((at = strstr(text, field)) != NULL)
		mask = strtoull(at + strlen(field), NULL, 16);
	free(text);
	return mask;
}

/* A worker starts from a known state, not from droverd's: stdin /dev/null,
   no signal ignored or blocked (droverd ignores SIGPIPE, and inherited an
   ignored SIGUSR1 here), no descriptor beyond 0-2 (droverd inherited one
   without close-on-exec here), and null output on /dev/null. */
Test(lifecycle, workers_start_clean, .fini = teardown, .timeout = 30)
{
	char path[64], target[256];
	ssize_t n;
	int leak, count = 0;
	pid_t pid;
	DIR *dir;
	struct dirent *de;

	leak = open("/dev/zero", O_RDONLY); /* no O_CLOEXEC: droverd inherits it */
	cr_assert_geq(leak, 3);
	signal(SIGUSR1, SIG_IGN);
	cr_assert_eq(drv_start(&d, "groups:\n"
				   "  clean:\n"
				   "    command: [sleep, '1000']\n"
				   "    start_timeout: 0s\n"
				   "    stdout: null\n"
				   "    stderr: null\n"),
		     0);
	signal(SIGUSR1, SIG_DFL);
	close(leak);
	cr_assert(drv_wait_state(&d, "clean:0", "RUNNING", 5000));
	pid = drv_pid(&d, "clean:0");
	for (int fd = 0; fd < 3; fd++) {
		snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd);
		n = readlink(path, target, sizeof(target) - 1);
		cr_assert_gt(n, 0, "fd %d of the worker is not open", fd);
		target[n] = '\0';
		cr_assert_str_eq(target, "/dev/null", "fd %d of the worker is %s", fd, target);
	}
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	cr_assert_not_null(dir = opendir(path));
	while ((de = readdir(dir)) != NULL)
		if (de->d_name[0] != '.')
			count++;
	closedir(dir);
	cr_assert_eq(count, 3, "the worker has %d descriptors open, not 3", count);
	cr_assert_eq(status_mask(pid, "SigIgn:"), 0, "the worker ignores signals: %llx",
		     status_mask(pid, "SigIgn:"));
	cr_assert_eq(status_mask(pid, "SigBlk:"), 0, "the worker blocks signals");
}

/* A limit the kernel refuses is a failed start with the reason, never a
   worker running without it. */
Test(lifecycle, a_limit_that_cannot_be_set_fails_the_start, .fini = teardown, .timeout = 30)
{
	json_t *p;
	const char *err;

	cr_assert_eq(drv_start(&d, "groups:\n"
				   "  limited:\n"
				   "    command: [sleep, '1000']\n"
				   "    start_timeout: 0s\n"
				   "    limits: { nofile: 1000000000 }\n"),
		     0);
	cr_assert(drv_wait_state(&d, "limited:0", "FATAL", 5000));
	p = drv_proc(&d, "limited:0");
	cr_assert_not_null(p);
	err = json_string_value(json_object_get(p, "error"));
	cr_assert_not_null(err);
	cr_assert(strstr(err, "set limits") != NULL, "error: %s", err);
	json_decref(p);
}

static int copies_listed(const char *dir, const char *name, char *pids, size_t size);

/* Processes whose environment says DROVER_NAME=name and whose cwd is dir. */
static int
copies_of(const char *dir, const char *name)
{
	return copies_listed(dir, name, NULL, 0);
}

/* The same, with their pids listed in pids ("123, 456"). */
static int
copies_listed(const char *dir, const char *name, char *pids, size_t size)
{
	char path[300], want[300], cwd[300], *env;
	DIR *proc = opendir("/proc");
	struct dirent *de;
	int n = 0, fd;
	ssize_t len;

	snprintf(want, sizeof(want), "DROVER_NAME=%s", name);
	while (proc != NULL && (de = readdir(proc)) != NULL) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/cwd", de->d_name);
		if ((len = readlink(path, cwd, sizeof(cwd) - 1)) <= 0)
			continue;
		cwd[len] = '\0';
		if (strcmp(cwd, dir) != 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%s/environ", de->d_name);
		if ((fd = open(path, O_RDONLY)) < 0)
			continue;
		env = calloc(1, 65537);
		len = read(fd, env, 65536);
		close(fd);
		for (ssize_t i = 0; len > 0 && i < len; i += (ssize_t)strlen(env + i) + 1)
			if (strcmp(env + i, want) == 0 && drv_alive(atoi(de->d_name))) {
				n++;
				if (pids != NULL)
					snprintf(pids + strlen(pids), size - strlen(pids), "%s%s",
						 n > 1 ? ", " : "", de->d_name);
			}
		free(env);
	}
	if (proc != NULL)
		closedir(proc);
	return n;
}

/* The number of copies of name once its process has exec'ed: with
   start_timeout 0s an instance is RUNNING from its fork, and until the exec
   its environment is still droverd's (no DROVER_NAME), which a loaded
   machine stretches. Never two at any moment. */
static void
assert_one_copy(const char *dir, const char *name)
{
	char pids[256] = "";
	int n = 0, i;

	for (i = 0; i < 250 && (n = copies_listed(dir, name, pids, sizeof(pids))) == 0; i++)
		drv_sleep_ms(20);
	cr_assert_eq(n, 1, "%s: %d copies (pids %s); droverd says pid %d", name, n, pids,
		     (int)drv_pid(&d, name));
}

/* droverd killed with SIGKILL: its workers go on under PID 1; the next
   droverd on the same state directory stops them before it starts its own,
   so no instance ever runs twice. */
Test(lifecycle, after_a_kill_9_the_next_droverd_never_runs_two_copies, .fini = teardown,
     .timeout = 40)
{
	pid_t old0, old1;
	int status;

	cr_assert_eq(drv_start(&d, "groups:\n"
				   "  twice:\n"
				   "    command: [sleep, '1000']\n"
				   "    instances: 2\n"
				   "    start_timeout: 0s\n"),
		     0);
	cr_assert(drv_wait_state(&d, "twice:1", "RUNNING", 5000));
	old0 = drv_pid(&d, "twice:0");
	old1 = drv_pid(&d, "twice:1");
	drv_sleep_ms(200); /* the state file is written on the next loop pass */
	kill(d.pid, SIGKILL);
	waitpid(d.pid, &status, 0);
	d.pid = 0;
	cr_assert(drv_alive(old0) && drv_alive(old1), "the workers died with droverd");
	cr_assert_eq(drv_launch(&d), 0);
	cr_assert(drv_wait_state(&d, "twice:0", "RUNNING", 5000));
	cr_assert(drv_wait_state(&d, "twice:1", "RUNNING", 5000));
	cr_assert_not(drv_alive(old0), "the old twice:0 (pid %d) still runs", old0);
	cr_assert_not(drv_alive(old1), "the old twice:1 (pid %d) still runs", old1);
	cr_assert_neq(drv_pid(&d, "twice:0"), old0);
	assert_one_copy(d.dir, "twice:0");
	assert_one_copy(d.dir, "twice:1");
}

/* The state file is rewritten by swapping it with its previous copy: after
   several saves (restarts) the list read after a kill -9 is the latest one,
   so a worker started since the first save is stopped too. */
Test(lifecycle, after_restarts_and_a_kill_9_the_latest_workers_are_stopped, .fini = teardown,
     .timeout = 40)
{
	pid_t first, now0, now1;
	char path[400];
	int status, i;

	cr_assert_eq(drv_start(&d, "groups:\n"
				   "  twice:\n"
				   "    command: [sleep, '1000']\n"
				   "    instances: 2\n"
				   "    start_timeout: 0s\n"),
		     0);
	cr_assert(drv_wait_state(&d, "twice:1", "RUNNING", 5000));
	first = drv_pid(&d, "twice:0");
	for (i = 0; i < 3; i++) {
		pid_t before = drv_pid(&d, "twice:0");

		cr_assert_eq(
		    drv_http(&d, "POST", "/api/v1/processes/twice:0/restart", NULL, true, NULL),
		    200);
		for (int w = 0;
		     w < 100 && (drv_pid(&d, "twice:0") == before || drv_pid(&d, "twice:0") == 0);
		     w++)
			drv_sleep_ms(50);
		cr_assert(drv_wait_state(&d, "twice:0", "RUNNING", 5000));
		drv_sleep_ms(100); /* a save per loop pass */
	}
	now0 = drv_pid(&d, "twice:0");
	now1 = drv_pid(&d, "twice:1");
	cr_assert_neq(now0, first);
	snprintf(path, sizeof(path), "%s/var/workers.state.tmp", d.dir);
	cr_assert_eq(access(path, F_OK), 0, "the previous list is kept beside the state file");
	kill(d.pid, SIGKILL);
	waitpid(d.pid, &status, 0);
	d.pid = 0;
	cr_assert(drv_alive(now0) && drv_alive(now1), "the workers died with droverd");
	cr_assert_eq(drv_launch(&d), 0);
	cr_assert(drv_wait_state(&d, "twice:0", "RUNNING", 5000));
	cr_assert(drv_wait_state(&d, "twice:1", "RUNNING", 5000));
	cr_assert_not(drv_alive(now0), "the restarted twice:0 (pid %d) still runs", now0);
	cr_assert_not(drv_alive(now1), "the old twice:1 (pid %d) still runs", now1);
	assert_one_copy(d.dir, "twice:0");
	assert_one_copy(d.dir, "twice:1");
	cr_assert_eq(drv_stop(&d, 10000), 0);
	cr_assert_neq(access(path, F_OK), 0, "a clean stop removes both lists");
}

static char full_dir[300];

static void
teardown_full(void)
{
	char cmd[800];

	drv_stop(&d, 10000);
	if (full_dir[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "umount %s 2>/dev/null; rmdir %s 2>/dev/null", full_dir,
			 full_dir);
		drv_sh(cmd, NULL);
		full_dir[0] = '\0';
	}
	drv_cleanup(&d);
}

static long
file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* The log directory's file system full: the worker keeps running and is
   not blocked, droverd says so once, and capture resumes by itself when
   there is room again. (A small tmpfs: needs root, as CI has.) */
Test(lifecycle, a_full_disk_drops_output_without_blocking_and_capture_resumes,
     .fini = teardown_full, .timeout = 60)
{
	char cmd[1200], path[400], counter[400], filler[400], *log;
	long before, n1, n2;

	cr_assert_eq(
	    drv_prepare(&d, "groups:\n"
			    "  chatty:\n"
			    "    command: \"i=0; while :; do i=$((i+1)); echo line $i "
			    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
			    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; "
			    "printf . >> {DIR}/counter; sleep 0.005; done\"\n"
			    "    start_timeout: 0s\n"
			    "    stdout: { file: '{DIR}/full/chatty.out', max_size: 0 }\n"),
	    0);
	snprintf(full_dir, sizeof(full_dir), "%s/full", d.dir);
	snprintf(cmd, sizeof(cmd), "mkdir -p %s && mount -t tmpfs -o size=256k tmpfs %s", full_dir,
		 full_dir);
	cr_assert_eq(drv_sh(cmd, NULL), 0, "mounting a tmpfs needs root");
	cr_assert_eq(drv_launch(&d), 0);
	cr_assert(drv_wait_state(&d, "chatty:0", "RUNNING", 5000));
	snprintf(path, sizeof(path), "%s/chatty.out", full_dir);
	snprintf(counter, sizeof(counter), "%s/counter", d.dir);
	snprintf(filler, sizeof(filler), "%s/filler", full_dir);
	/* Fill what is left. */
	snprintf(cmd, sizeof(cmd), "dd if=/dev/zero of=%s bs=4k 2>/dev/null; sync", filler);
	drv_sh(cmd, NULL);
	for (int i = 0; i < 300; i++) {
		log = drv_slurp(d.log_path);
		bool said = log != NULL && strstr(log, "No space left on device") != NULL;

		free(log);
		if (said)
			break;
		drv_sleep_ms(50);
	}
	log = drv_slurp(d.log_path);
	cr_assert(strstr(log, "the worker's output is dropped") != NULL, "%s", log);
	free(log);
	/* The worker goes on, unblocked, while its output is dropped. */
	/* Its progress: one dot per line it wrote, outside the full disk. */
	n1 = file_size(counter);
	drv_sleep_ms(1000);
	n2 = file_size(counter);
	cr_assert_gt(n2, n1 + 20, "the worker is blocked (%ld then %ld)", n1, n2);
	log = drv_slurp(d.log_path);
	{
		char *first = strstr(log, "output is dropped");

		cr_assert(first != NULL && strstr(first + 1, "output is dropped") == NULL,
			  "said more than once:\n%s", log);
	}
	free(log);
	/* Room again: capture resumes by itself. */
	unlink(filler);
	before = file_size(path);
	for (int i = 0; i < 100 && file_size(path) <= before; i++)
		drv_sleep_ms(50);
	cr_assert_gt(file_size(path), before, "capture did not resume");
	for (int i = 0; i < 100; i++) {
		log = drv_slurp(d.log_path);
		bool again = strstr(log, "again;") != NULL;

		free(log);
		if (again)
			break;
		drv_sleep_ms(50);
	}
	log = drv_slurp(d.log_path);
	cr_assert(strstr(log, "again;") != NULL, "%s", log);
	free(log);
	cr_assert(drv_wait_state(&d, "chatty:0", "RUNNING", 100));
}

/* A worker that starts 1000 children and exits: its process group goes
   with it, nothing is left behind. */
Test(lifecycle, a_worker_that_leaves_1000_children_leaves_nothing_behind, .fini = teardown,
     .timeout = 60)
{
	int left = -1;

	cr_assert_eq(drv_start(&d, "groups:\n"
				   "  spawner:\n"
				   "    command: \"i=0; while [ $i -lt 1000 ]; do i=$((i+1)); "
				   "sleep 1000 & done; echo started; exit 0\"\n"
				   "    start_timeout: 0s\n"
				   "    restart: never\n"),
		     0);
	cr_assert(drv_wait_state(&d, "spawner:0", "EXITED", 30000));
	for (int i = 0; i < 100 && left != 0; i++) {
		left = copies_of(d.dir, "spawner:0");
		if (left != 0)
			drv_sleep_ms(50);
	}
	cr_assert_eq(left, 0, "%d processes of spawner:0 are left", left);
}

static void
teardown_bomb(void)
{
	drv_cleanup(&d);
	drv_sh("pkill -9 -u nobody -f drover-bomb 2>/dev/null", NULL);
}

/* A fork bomb held by limits.nproc (as a user who is not root: root is not
   held by it): stopping the group leaves nothing behind. */
Test(lifecycle, a_fork_bomb_under_nproc_is_stopped_whole, .fini = teardown_bomb, .timeout = 60)
{
	char *out = NULL;
	int left = -1;

	cr_assert_eq(drv_start(&d, "groups:\n"
				   "  bomb:\n"
				   "    command: [/bin/bash, -c, 'b() { b & b & wait; }; b', "
				   "drover-bomb]\n"
				   "    user: nobody\n"
				   "    cwd: /\n"
				   "    limits: { nproc: 40 }\n"
				   "    start_timeout: 0s\n"
				   "    stop: { signal: TERM, timeout: 2s }\n"),
		     0);
	cr_assert(drv_wait_state(&d, "bomb:0", "RUNNING", 5000));
	drv_sleep_ms(1000); /* it has hit its limit */
	drv_sh("pgrep -c -u nobody -f drover-bomb", &out);
	cr_assert_geq(atoi(out ? out : "0"), 10, "the bomb did not go off: %s", out);
	cr_assert_leq(atoi(out ? out : "0"), 40, "limits.nproc did not hold it: %s", out);
	free(out);
	cr_assert_eq(drv_http(&d, "POST", "/api/v1/groups/bomb/stop", NULL, true, NULL), 200);
	cr_assert(drv_wait_state(&d, "bomb:0", "STOPPED", 10000));
	for (int i = 0; i < 100 && left != 0; i++) {
		out = NULL;
		drv_sh("pgrep -c -u nobody -f drover-bomb", &out);
		left = atoi(out ? out : "0");
		free(out);
		if (left != 0)
			drv_sleep_ms(50);
	}
	cr_assert_eq(left, 0, "%d processes of the bomb are left", left);
}
