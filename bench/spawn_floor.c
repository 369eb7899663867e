/* spawn_floor: what this machine allows at best, measured the way a
   supervisor would do the work, with nothing else around it. Prints one line
   of JSON for bench/run.py.

     spawn_floor spawn N [--pipes] -- CMD ARG...
	posix_spawn N copies of CMD, each in its own session (like a
	supervisor's workers), as fast as the loop goes. posix_spawn returns
	once the child has exec'd, so at the end all N are running. --pipes
	also gives each child a stdout and a stderr pipe whose read ends the
	parent keeps, like a supervisor capturing output. Then kills and
	reaps them all.
     spawn_floor restart K -- CMD ARG...
	K times: kill -9 a child, wait for it, posix_spawn a new one. Median
	and p99 of the kill-to-respawned time.
     spawn_floor capture FILE -- CMD ARG...
	CMD's stdout into a 1 MiB pipe, splice(2)d into FILE until end of
	file. Prints the CLOCK_MONOTONIC time when the last byte was in FILE
	(run.py takes the start from loggen's own time file). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double
s_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
s_die(const char *what, int err)
{
	fprintf(stderr, "spawn_floor: %s: %s\n", what, strerror(err));
	exit(1);
}

/* Spawns argv in its own session; with out_fd/err_fd >= 0 they become its
   stdout/stderr. Returns the pid. */
static pid_t
s_spawn(char **argv, int out_fd, int err_fd)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	pid_t pid;
	int rc;

	posix_spawnattr_init(&attr);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
	posix_spawn_file_actions_init(&fa);
	if (out_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO);
	if (err_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, err_fd, STDERR_FILENO);
	rc = posix_spawnp(&pid, argv[0], &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (rc != 0)
		s_die("posix_spawn", rc);
	return pid;
}

static void
s_reap(pid_t pid)
{
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

static int
s_spawn_loop(long n, int pipes, char **argv)
{
	pid_t *pids = calloc((size_t)n, sizeof(*pids));
	int *fds = calloc((size_t)n * 2, sizeof(*fds));
	int po[2], pe[2];
	double t0, t1;
	long i;

	if (pids == NULL || fds == NULL)
		s_die("calloc", ENOMEM);
	t0 = s_now();
	for (i = 0; i < n; i++) {
		if (pipes) {
			if (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0)
				s_die("pipe2", errno);
			pids[i] = s_spawn(argv, po[1], pe[1]);
			close(po[1]);
			close(pe[1]);
			fds[2 * i] = po[0];
			fds[2 * i + 1] = pe[0];
		} else {
			pids[i] = s_spawn(argv, -1, -1);
		}
	}
	t1 = s_now();
	printf("{\"mode\": \"spawn\", \"n\": %ld, \"pipes\": %s, \"seconds\": %.6f}\n", n,
	       pipes ? "true" : "false", t1 - t0);
	fflush(stdout);
	for (i = 0; i < n; i++)
		kill(pids[i], SIGKILL);
	for (i = 0; i < n; i++) {
		s_reap(pids[i]);
		if (pipes) {
			close(fds[2 * i]);
			close(fds[2 * i + 1]);
		}
	}
	free(pids);
	free(fds);
	return 0;
}

static int
s_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int
s_restart_loop(long k, char **argv)
{
	double *ms = calloc((size_t)k, sizeof(*ms));
	pid_t pid;
	double t0;
	long i, p99;

	if (ms == NULL)
		s_die("calloc", ENOMEM);
	pid = s_spawn(argv, -1, -1);
	for (i = 0; i < k; i++) {
		usleep(20000);
		t0 = s_now();
		kill(pid, SIGKILL);
		s_reap(pid);
		pid = s_spawn(argv, -1, -1);
		ms[i] = (s_now() - t0) * 1e3;
	}
	kill(pid, SIGKILL);
	s_reap(pid);
	qsort(ms, (size_t)k, sizeof(*ms), s_cmp);
	p99 = (long)((double)(k - 1) * 0.99 + 0.5);
	printf("{\"mode\": \"restart\", \"n\": %ld, \"median_ms\": %.4f, \"p99_ms\": %.4f}\n", k,
	       k % 2 ? ms[k / 2] : (ms[k / 2 - 1] + ms[k / 2]) / 2, ms[p99]);
	free(ms);
	return 0;
}

static int
s_capture(const char *path, char **argv)
{
	long long total = 0;
	int p[2], fd, status;
	loff_t off = 0;
	ssize_t n;
	pid_t pid;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640)) < 0)
		s_die(path, errno);
	if (pipe2(p, O_CLOEXEC) < 0)
		s_die("pipe2", errno);
	fcntl(p[0], F_SETPIPE_SZ, 1024 * 1024);
	pid = s_spawn(argv, p[1], -1);
	close(p[1]);
	for (;;) {
		n = splice(p[0], NULL, fd, &off, 1024 * 1024, SPLICE_F_MOVE);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			s_die("splice", errno);
		if (n == 0)
			break;
		total += n;
	}
	printf("{\"mode\": \"capture\", \"bytes\": %lld, \"end\": %.9f}\n", total, s_now());
	close(fd);
	close(p[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

static void
s_usage(void)
{
	fprintf(stderr, "usage: spawn_floor spawn N [--pipes] -- CMD ARG...\n"
			"       spawn_floor restart K -- CMD ARG...\n"
			"       spawn_floor capture FILE -- CMD ARG...\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	int i, pipes = 0;

	if (argc < 4)
		s_usage();
	for (i = 3; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--pipes") == 0)
			pipes = 1;
		else
			s_usage();
	if (i + 1 >= argc)
		s_usage();
	signal(SIGPIPE, SIG_IGN);
	if (strcmp(argv[1], "spawn") == 0)
		return s_spawn_loop(atol(argv[2]), pipes, argv + i + 1);
	if (strcmp(argv[1], "restart") == 0)
		return s_restart_loop(atol(argv[2]), argv + i + 1);
	if (strcmp(argv[1], "capture") == 0)
		return s_capture(argv[2], argv + i + 1);
	s_usage();
	return 2;
}
