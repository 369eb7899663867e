/* What a crash leaves behind. The engine keeps a state file of the workers
   it runs (pid, the kernel's start time of that pid, name), rewritten at most
   once per loop pass when something changed. After a kill -9 of its
   program the workers go on under PID 1; the next program on the same
   state directory stops them (TERM to each process group, KILL after the
   timeout) before it starts anything, so no instance ever runs twice.

   Stop, not adopt: the workers' output pipes died with the old program, so
   an adopted worker would write into a closed pipe, and an exit status
   cannot be collected from a process that is not our child. */
#include "proc_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

#define LEFTOVER_HEADER "drover-workers 1\n"

/* The start time of pid in clock ticks since boot (field 22 of
   /proc/PID/stat), or 0 when pid does not exist. */
unsigned long long
proc__starttime(pid_t pid)
{
	char path[64], buf[1024], *s;
	unsigned long long t = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	if ((s = strrchr(buf, ')')) == NULL ||
	    sscanf(s + 2,
		   "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d "
		   "%*d %*d %llu",
		   &t) != 1)
		return 0;
	return t;
}

static void s_save(ev_t *ev, ev_timer_t *t);

void
proc__state_dirty(proc_core_t *core)
{
	if (core->state_file != NULL && !ev_timer_active(&core->save_timer))
		ev_timer_start(core->ev, &core->save_timer, clock_ms(), s_save, core);
}

/* Writes the state file whole into STATE.tmp, then swaps the two names
   (RENAME_EXCHANGE): readers see the old list or the new one, never a part,
   and the two files trade places from one save to the next. A save makes
   and frees no inode: a rename over the old file would free one and the next
   save would make one, once per loop pass in which a worker starts or
   exits, and on ext4 without a journal each new inode then scans past every
   inode freed in the last minutes (find_inode_bit, recently_deleted), which
   cost an agent milliseconds per save during a group restart. */
static void
s_save(ev_t *ev, ev_timer_t *t)
{
	proc_core_t *core = t->arg;
	char tmp[4200];
	size_t i;
	proc_t *p;
	FILE *f;
	int fd, ok;

	snprintf(tmp, sizeof(tmp), "%s.tmp", core->state_file);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_CLOEXEC, 0666)) < 0 ||
	    (f = fdopen(fd, "w")) == NULL) {
		log_warn("state file %s: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	fputs(LEFTOVER_HEADER, f);
	for (i = 0; i < core->n_all; i++) {
		p = core->all[i];
		if (p->child.pid > 0 && p->starttime != 0)
			fprintf(f, "%d %llu %s\n", (int)p->child.pid, p->starttime, p->name);
	}
	/* Cut what a longer list left at the end; the blocks stay allocated. */
	ok = fflush(f) == 0 && ftruncate(fd, ftello(f)) == 0;
	ok = fclose(f) == 0 && ok;
	if (ok && renameat2(AT_FDCWD, tmp, AT_FDCWD, core->state_file, RENAME_EXCHANGE) == 0)
		return;
	/* The first save (no state file yet), or a file system without
	   RENAME_EXCHANGE. */
	if (!ok || rename(tmp, core->state_file) != 0) {
		log_warn("state file %s: %s", core->state_file, strerror(errno));
		unlink(tmp);
	}
}

/* Has pid exited without being reaped yet (a zombie: its stat is still
   there, with its start time)? A leftover's parent is PID 1 or a subreaper
   now, which may reap late or, in a container, never. */
static bool
s_zombie(pid_t pid)
{
	char path[64], buf[1024], *s;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return (s = strrchr(buf, ')')) != NULL && s[1] == ' ' && (s[2] == 'Z' || s[2] == 'X');
}

/* Is pid still the process that started at starttime, and not a zombie
   (which no signal moves: waiting for it to end would only wait out the
   timeout)? */
static bool
s_same(pid_t pid, unsigned long long starttime)
{
	return proc__starttime(pid) == starttime && !s_zombie(pid);
}

/* A listed worker that exited but is not reaped yet: what it left in its
   process group gets TERM, and nothing is waited for. */
static bool
s_exited(pid_t pid, unsigned long long starttime, const char *name)
{
	if (proc__starttime(pid) != starttime || !s_zombie(pid))
		return false;
	log_info("%s: pid %d of a previous run has exited (not reaped yet): stopping what is "
		 "left of its process group",
		 name, pid);
	kill(-pid, SIGTERM);
	return true;
}

int
proc_leftovers_stop(const char *state_file, int64_t timeout_ms)
{
	struct {
		pid_t pid;
		unsigned long long start;
	} *list = NULL, *nl;
	char line[600], name[512];
	size_t n = 0, i, alive;
	unsigned long long start;
	int64_t deadline;
	FILE *f;
	int pid;

	if ((f = fopen(state_file, "re")) == NULL)
		return errno == ENOENT ? 0 : -errno;
	if (fgets(line, sizeof(line), f) == NULL || strcmp(line, LEFTOVER_HEADER) != 0) {
		fclose(f);
		log_warn("state file %s: not a list of workers: ignored", state_file);
		return 0;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%d %llu %511s", &pid, &start, name) != 3 || pid <= 1 ||
		    s_exited(pid, start, name) || !s_same(pid, start))
			continue;
		log_warn("%s: pid %d of a previous run still runs: stopping it before starting",
			 name, pid);
		if ((nl = realloc(list, (n + 1) * sizeof(*list))) == NULL)
			break;
		list = nl;
		list[n].pid = pid;
		list[n].start = start;
		n++;
		kill(-pid, SIGTERM);
		kill(pid, SIGTERM);
	}
	fclose(f);
	deadline = clock_ms() + timeout_ms;
	do {
		for (i = 0, alive = 0; i < n; i++)
			alive += s_same(list[i].pid, list[i].start);
		if (alive == 0)
			break;
		usleep(20000);
	} while (clock_ms() < deadline);
	for (i = 0; i < n; i++) {
		if (s_same(list[i].pid, list[i].start)) {
			log_warn("pid %d of a previous run ignored TERM: SIGKILL",
				 (int)list[i].pid);
			kill(-list[i].pid, SIGKILL);
			kill(list[i].pid, SIGKILL);
		}
	}
	free(list);
	return (int)n;
}
