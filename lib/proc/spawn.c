/* Spawning: vfork + exec, with the per-process setup posix_spawn cannot
   express (rlimits, umask, user switch). The child only makes system calls
   before exec; the parent learns of a failed step through memory shared by
   vfork, so "no such file" is known at once. */
#include "proc_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

enum { ST_NONE, ST_STDIO, ST_RLIMIT, ST_CHDIR, ST_USER, ST_EXEC };

struct child_result {
	int err;
	int stage;
};

/* 0, or -1 with errno when the limit could not be set. */
static int
s_set_limit(int resource, int64_t v)
{
	struct rlimit rl;

	if (v < 0)
		return 0;
	rl.rlim_cur = rl.rlim_max = (rlim_t)v;
	return setrlimit(resource, &rl);
}

/* Closes every descriptor from 3 up. */
static void
s_close_from_3(void)
{
	int fd;

	if (syscall(SYS_close_range, 3U, ~0U, 0U) == 0)
		return;
	for (fd = 3; fd < 65536; fd++) /* a kernel before 5.9 */
		(void)close(fd);
}

/* Runs in the vfork child: system calls only, no allocation, no locks. The
   child starts from a known state, not from ours: every signal blocked while
   the dispositions go back to default (no handler of the parent may run in
   this shared memory), a new session, stdin /dev/null, every descriptor
   beyond 0-2 closed, then limits, umask, directory and user; the mask is
   emptied just before exec. A step that fails is a failed start. */
static __attribute__((noinline, noreturn)) void
s_child(proc_core_t *core, const proc__spawn_spec_t *s, volatile struct child_result *res)
{
	sigset_t all, none;
	int i, fds[3] = {s->fd_in, s->fd_out, s->fd_err};

	sigfillset(&all);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &all, NULL);
	for (i = 1; i < NSIG; i++)
		if (i != SIGKILL && i != SIGSTOP)
			(void)signal(i, SIG_DFL); /* glibc's reserved ones say EINVAL */
	setsid();
	if (core->die_with_owner)
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	res->stage = ST_STDIO;
	for (i = 0; i < 3; i++) {
		if (fds[i] == -2)
			continue;
		if (dup2(fds[i] == -1 ? core->devnull_fd : fds[i], i) == -1)
			goto fail;
	}
	s_close_from_3();
	res->stage = ST_RLIMIT;
	if (s->limit_nofile >= 0) {
		if (s_set_limit(RLIMIT_NOFILE, s->limit_nofile) == -1)
			goto fail;
	} else if (setrlimit(RLIMIT_NOFILE, &s->nofile) == -1) {
		goto fail;
	}
	if (s_set_limit(RLIMIT_CORE, s->limit_core) == -1 ||
	    s_set_limit(RLIMIT_AS, s->limit_memory) == -1 ||
	    s_set_limit(RLIMIT_NPROC, s->limit_nproc) == -1)
		goto fail;
	if (s->umask >= 0)
		umask((mode_t)s->umask);
	res->stage = ST_CHDIR;
	if (s->cwd != NULL && chdir(s->cwd) == -1)
		goto fail;
	res->stage = ST_USER;
	if (s->switch_user) {
		/* Raw system calls: glibc's setuid() would try to change every
		   thread of the parent, whose memory a vfork child shares. */
		if (syscall(SYS_setgroups, (size_t)s->n_groups, s->groups) == -1 ||
		    syscall(SYS_setgid, s->gid) == -1 || syscall(SYS_setuid, s->uid) == -1)
			goto fail;
	}
	res->stage = ST_EXEC;
	sigprocmask(SIG_SETMASK, &none, NULL);
	execve(s->path, s->argv, s->envp);
fail:
	res->err = errno;
	_exit(127);
}

pid_t
proc__exec(proc_core_t *core, const proc__spawn_spec_t *spec, const char **stage)
{
	static const char *names[] = {"spawn", "redirect output", "set limits",
				      "chdir", "switch user",	  "exec"};
	volatile struct child_result res = {0, ST_NONE};
	pid_t pid;

	pid = vfork();
	if (pid == 0)
		s_child(core, spec, &res);
	if (pid < 0) {
		*stage = names[ST_NONE];
		return -errno;
	}
	if (res.err != 0) {
		/* The child has already exited: reap it here, SIGCHLD finds nothing. */
		while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
			;
		*stage = names[res.stage];
		return -res.err;
	}
	return pid;
}

char *
proc__which(const char *argv0, char *const *envp)
{
	const char *path = NULL, *p, *end;
	char buf[PATH_MAX];
	int saved = ENOENT;
	size_t i, len;

	if (strchr(argv0, '/') != NULL)
		return strdup(argv0);
	for (i = 0; envp != NULL && envp[i] != NULL; i++)
		if (strncmp(envp[i], "PATH=", 5) == 0)
			path = envp[i] + 5;
	if (path == NULL)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (p = path; *p != '\0'; p = *end ? end + 1 : end) {
		end = strchr(p, ':');
		if (end == NULL)
			end = p + strlen(p);
		len = (size_t)(end - p);
		if (len == 0 || len + 1 + strlen(argv0) + 1 > sizeof(buf))
			continue;
		memcpy(buf, p, len);
		buf[len] = '/';
		strcpy(buf + len + 1, argv0);
		if (access(buf, X_OK) == 0)
			return strdup(buf);
		if (errno == EACCES)
			saved = EACCES;
	}
	errno = saved;
	return NULL;
}
