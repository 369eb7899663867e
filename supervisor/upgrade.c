/* upgrade: the mechanics of an upgrade in place (upgrade.h). */
#include "upgrade.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "str.h"

void
upgrade_keep(void *ctx, int fd)
{
	upgrade_keep_t *k = ctx;
	int *fds;

	if (fd < 0)
		return;
	if (k->n == k->cap) {
		if ((fds = realloc(k->fds, (k->cap ? k->cap * 2 : 64) * sizeof(*fds))) == NULL) {
			k->failed = true;
			return;
		}
		k->fds = fds;
		k->cap = k->cap ? k->cap * 2 : 64;
	}
	k->fds[k->n++] = fd;
}

void
upgrade_keep_free(upgrade_keep_t *k)
{
	free(k->fds);
	memset(k, 0, sizeof(*k));
}

int
upgrade_memfd(const char *name)
{
	return memfd_create(name, MFD_CLOEXEC);
}

char *
upgrade_check_binary(const char *exe, char **err)
{
	int p[2], status = 0;
	char out[256];
	size_t n = 0;
	ssize_t r;
	int64_t until = clock_ms() + 3000;
	struct pollfd pfd;
	pid_t pid;

	if (access(exe, X_OK) != 0) {
		*err = str_printf("%s: %s", exe, strerror(errno));
		return NULL;
	}
	if (pipe2(p, O_CLOEXEC) != 0) {
		*err = str_printf("pipe: %s", strerror(errno));
		return NULL;
	}
	if ((pid = fork()) < 0) {
		*err = str_printf("fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		return NULL;
	}
	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		dup2(p[1], 1);
		execl(exe, exe, "--version", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	pfd = (struct pollfd){.fd = p[0], .events = POLLIN};
	while (n < sizeof(out) - 1 && clock_ms() < until) {
		if (poll(&pfd, 1, (int)(until - clock_ms())) <= 0)
			break;
		if ((r = read(p[0], out + n, sizeof(out) - 1 - n)) <= 0)
			break;
		n += (size_t)r;
	}
	close(p[0]);
	out[n] = '\0';
	/* Its output ended: it exits now (a few milliseconds at most). */
	while (waitpid(pid, &status, WNOHANG) == 0 && clock_ms() < until)
		usleep(1000);
	if (clock_ms() >= until && kill(pid, 0) == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		*err = str_printf("%s --version did not answer within 3 s", exe);
		return NULL;
	}
	out[strcspn(out, "\n")] = '\0';
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || strncmp(out, "droverd ", 8) != 0) {
		*err = str_printf("%s is not a working droverd (\"%s --version\" %s)", exe, exe,
				  WIFEXITED(status) && WEXITSTATUS(status) == 127
				      ? "could not be executed"
				      : "did not print its version");
		return NULL;
	}
	return strdup(out);
}

static void
s_cloexec(const upgrade_keep_t *k, bool on)
{
	size_t i;
	int fl;

	for (i = 0; i < k->n; i++)
		if ((fl = fcntl(k->fds[i], F_GETFD)) >= 0)
			fcntl(k->fds[i], F_SETFD, on ? fl | FD_CLOEXEC : fl & ~FD_CLOEXEC);
}

static int
s_write_all(int fd, const char *buf, size_t len)
{
	ssize_t w;

	while (len > 0) {
		if ((w = write(fd, buf, len)) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

int
upgrade_exec(const char *exe, char *const argv[], json_t *state, upgrade_keep_t *keep,
	     int *state_fd, char **err)
{
	char *text = json_dumps(state, JSON_COMPACT), num[16];
	int fd = -1, rc;

	*state_fd = -1;
	if (text == NULL || keep->failed) {
		free(text);
		*err = strdup("out of memory writing the state");
		return -ENOMEM;
	}
	if ((fd = memfd_create("drover-upgrade", MFD_CLOEXEC)) < 0 ||
	    (rc = s_write_all(fd, text, strlen(text))) != 0 || lseek(fd, 0, SEEK_SET) != 0) {
		rc = -errno;
		free(text);
		*err = str_printf("writing the state: %s", strerror(-rc));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	free(text);
	snprintf(num, sizeof(num), "%d", fd);
	upgrade_keep(keep, fd);
	s_cloexec(keep, false);
	setenv(UPGRADE_ENV, num, 1);
	log_info("upgrading in place: executing %s", exe);
	execv(exe, argv);
	rc = -errno;
	/* Still here: the old droverd goes on as it was. */
	unsetenv(UPGRADE_ENV);
	s_cloexec(keep, true);
	keep->n--; /* the memfd */
	*state_fd = fd;
	*err = str_printf("exec %s: %s", exe, strerror(-rc));
	return rc;
}

json_t *
upgrade_inherit(char **err)
{
	const char *v = getenv(UPGRADE_ENV);
	json_error_t jerr;
	json_t *st;
	char *end;
	long fd;
	FILE *f;

	if (v == NULL)
		return NULL;
	errno = 0;
	fd = strtol(v, &end, 10);
	unsetenv(UPGRADE_ENV);
	if (errno != 0 || *end != '\0' || fd < 3 || fd > 1 << 20 || (f = fdopen((int)fd, "r")) == NULL) {
		*err = str_printf("%s=%s does not name the previous droverd's state", UPGRADE_ENV, v);
		return NULL;
	}
	st = json_loadf(f, 0, &jerr);
	fclose(f);
	if (st == NULL ||
	    json_integer_value(json_object_get(st, "version")) != UPGRADE_VERSION) {
		*err = str_printf("the previous droverd's state is not readable (%s)",
				  st == NULL ? jerr.text : "another version of the format");
		json_decref(st);
		return NULL;
	}
	return st;
}
