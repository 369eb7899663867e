/* proc core: applying groups by difference, each case a finding of
   fuzz_agent. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "proc.h"

static conf_t *
conf_of(const char *text)
{
	conf_t *c = NULL;
	char *errs = NULL;

	cr_assert_eq(conf_parse_string(text, strlen(text), "drover.yaml", "/tmp", &c, &errs), 0,
		     "%s", errs ? errs : "");
	return c;
}

/* A group of no instances has no list of processes: taking its new
   settings copied from a NULL list (memcpy(old, NULL, 0), undefined; the
   sanitizers' build of this test says so). */
Test(proc_core, a_changed_group_of_no_instances_takes_its_new_settings)
{
	conf_t *a = conf_of("groups: {db: {command: [/bin/true], instances: 0}}\n");
	conf_t *b =
	    conf_of("groups: {db: {command: [/bin/false], instances: 1, autostart: false}}\n");
	char log_dir[64];
	proc_run_t run = {.host = "test", .dir = "/tmp", .log_dir = log_dir};
	proc_core_t *core;
	ev_t *ev;
	int i;

	log_set_level(DLOG_ERROR);
	snprintf(log_dir, sizeof(log_dir), "/tmp/drover-test-proc-%d", (int)getpid());
	cr_assert_not_null(ev = ev_new());
	cr_assert_not_null(core = proc_core_new(ev, &run, NULL, NULL));
	cr_assert_eq(proc_core_apply(core, a->groups, a->n_groups), 0);
	cr_assert_eq(proc_core_count(core), 0);
	cr_assert_eq(proc_core_apply(core, b->groups, b->n_groups), 0);
	for (i = 0; i < 5; i++)
		ev_run_once(ev, 10);
	cr_assert_eq(proc_core_count(core), 1);
	cr_assert_str_eq(proc_core_group(core, "db")->argv[0], "/bin/false");
	proc_core_destroy(&core);
	ev_destroy(&ev);
	rmdir(log_dir);
	conf_free(&a);
	conf_free(&b);
}

/* The start time (field 22) and state (field 3) of pid from /proc. */
static unsigned long long
stat_of(pid_t pid, char *state)
{
	char path[64], buf[1024], *s;
	unsigned long long t = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	cr_assert_not_null(f = fopen(path, "r"));
	cr_assert_not_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	cr_assert_not_null(s = strrchr(buf, ')'));
	cr_assert_eq(sscanf(s + 2,
			    "%c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d "
			    "%*d %*d %llu",
			    state, &t),
		     2);
	return t;
}

/* A worker of the last run that has exited but is not reaped yet (its new
   parent, PID 1 or a subreaper, reaps late or never) is not running: the
   next start does not count it as a leftover or wait out the timeout for it
   to end (it showed as "still runs", then "ignored TERM"); what it left in
   its process group still gets TERM. */
Test(proc_core, a_zombie_of_the_last_run_is_not_a_leftover_to_wait_for, .timeout = 30)
{
	char path[128], state = '?';
	unsigned long long start;
	pid_t pid, left = 0;
	FILE *f;
	int i, status, fds[2];

	log_set_level(DLOG_ERROR);
	/* What the worker leaves comes back to this process when it exits. */
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	cr_assert_eq(pipe(fds), 0);
	cr_assert_geq(pid = fork(), 0);
	if (pid == 0) {
		setpgid(0, 0);
		if ((left = fork()) == 0) {
			for (;;)
				pause();
		}
		(void)!write(fds[1], &left, sizeof(left));
		_exit(0);
	}
	cr_assert_eq(read(fds[0], &left, sizeof(left)), (ssize_t)sizeof(left));
	cr_assert_gt(left, 0);
	for (i = 0; i < 500 && (start = stat_of(pid, &state), state != 'Z'); i++)
		usleep(10000);
	cr_assert_eq(state, 'Z', "pid %d did not become a zombie", (int)pid);
	snprintf(path, sizeof(path), "/tmp/drover-test-leftover-%d.state", (int)getpid());
	cr_assert_not_null(f = fopen(path, "w"));
	fprintf(f, "drover-workers 1\n%d %llu gone:0\n", (int)pid, start);
	cr_assert_eq(fclose(f), 0);
	cr_assert_eq(proc_leftovers_stop(path, 2000), 0, "the zombie was taken for a running worker");
	unlink(path);
	for (i = 0; i < 500 && waitpid(left, &status, WNOHANG) == 0; i++)
		usleep(10000);
	if (i == 500)
		kill(left, SIGKILL);
	cr_assert(i < 500 && WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM,
		  "what the worker left in its process group did not get TERM");
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	close(fds[0]);
	close(fds[1]);
}
