/* realmono: preloaded just before libfaketime by the clock-jump test, so
   that the fake wall clock leaves the monotonic clock's timers alone, as a
   real jump does.

   libfaketime (0.9.10 in Debian 12, and still upstream) takes every absolute
   deadline given to timerfd_settime() and clock_nanosleep() as wall-clock
   time and moves it by the fake offset, even on a CLOCK_MONOTONIC timer with
   FAKETIME_DONT_FAKE_MONOTONIC=1 (its source says "only CLOCK_REALTIME is
   handled"). droverd's event loop arms one CLOCK_MONOTONIC timerfd at
   absolute deadlines, so with the wall clock an hour back every timer would
   fire an hour late: a flaw of the fake, not of droverd. Python's time.sleep
   (clock_nanosleep on CLOCK_MONOTONIC, absolute) would return at once.

   Here timerfd_create() notes each timerfd's clock, and timerfd_settime()
   on a monotonic one, like clock_nanosleep() on a monotonic clock, goes to
   libc itself; everything else goes on to libfaketime. Nothing else is
   changed: clock_gettime(CLOCK_REALTIME), time(), gettimeofday() stay fake. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* RTLD_NEXT */
#endif
#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <sys/timerfd.h>
#include <time.h>

#define MAX_FD 65536

static unsigned char s_monotonic[MAX_FD]; /* fd -> a monotonic timerfd */

static int
s_monotonic_clock(clockid_t id)
{
	return id == CLOCK_MONOTONIC || id == CLOCK_BOOTTIME;
}

/* The symbol as libc defines it, past every preloaded library. */
static void *
s_libc(const char *name)
{
	void *libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);

	return libc != NULL ? dlsym(libc, name) : NULL;
}

int
timerfd_create(clockid_t clockid, int flags)
{
	static int (*next)(clockid_t, int);
	int fd;

	if (next == NULL && (next = (int (*)(clockid_t, int))dlsym(RTLD_NEXT, "timerfd_create")) == NULL) {
		errno = ENOSYS;
		return -1;
	}
	fd = next(clockid, flags);
	if (fd >= 0 && fd < MAX_FD)
		s_monotonic[fd] = (unsigned char)s_monotonic_clock(clockid);
	return fd;
}

int
timerfd_settime(int fd, int flags, const struct itimerspec *new_value, struct itimerspec *old_value)
{
	static int (*libc)(int, int, const struct itimerspec *, struct itimerspec *);
	static int (*next)(int, int, const struct itimerspec *, struct itimerspec *);

	if (fd >= 0 && fd < MAX_FD && s_monotonic[fd]) {
		if (libc == NULL)
			libc = (int (*)(int, int, const struct itimerspec *, struct itimerspec *))s_libc("timerfd_settime");
		if (libc != NULL)
			return libc(fd, flags, new_value, old_value);
	}
	if (next == NULL)
		next = (int (*)(int, int, const struct itimerspec *, struct itimerspec *))dlsym(RTLD_NEXT, "timerfd_settime");
	if (next == NULL) {
		errno = ENOSYS;
		return -1;
	}
	return next(fd, flags, new_value, old_value);
}

int
clock_nanosleep(clockid_t clockid, int flags, const struct timespec *req, struct timespec *rem)
{
	static int (*libc)(clockid_t, int, const struct timespec *, struct timespec *);
	static int (*next)(clockid_t, int, const struct timespec *, struct timespec *);

	if (s_monotonic_clock(clockid)) {
		if (libc == NULL)
			libc = (int (*)(clockid_t, int, const struct timespec *, struct timespec *))s_libc("clock_nanosleep");
		if (libc != NULL)
			return libc(clockid, flags, req, rem);
	}
	if (next == NULL)
		next = (int (*)(clockid_t, int, const struct timespec *, struct timespec *))dlsym(RTLD_NEXT, "clock_nanosleep");
	if (next == NULL)
		return ENOSYS;
	return next(clockid, flags, req, rem);
}
