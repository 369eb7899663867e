/* realmono: preloaded just before libfaketime by the clock-jump test, so
   that the fake wall clock leaves the monotonic clock's timers alone, as a
   real jump does.

   libfaketime (0.9.10 in Debian 12, and still upstream) takes every absolute
   deadline given to timerfd_settime() and clock_nanosleep() as wall-clock
   time and moves it by the fake offset, even on a CLOCK_MONOTONIC timer with
   FAKETIME_DONT_FAKE_MONOTONIC=1 (its source says "only CLOCK_REALTIME is
   handled"). droverd's event loop arms one CLOCK_MONOTONIC timerfd at
   absolute deadlines, so with the wall clock an hour back every timer would
   fire an hour late: a flaw of the fake, not of droverd. An absolute
   clock_nanosleep() on CLOCK_MONOTONIC, Python's time.sleep(), fails with
   EINVAL (the deadline moved by the distance between the two clocks).

   Here timerfd_create() notes each timerfd's clock, and timerfd_settime()
   on a monotonic one, like clock_nanosleep() on a monotonic clock, goes to
   libc itself; everything else goes on to libfaketime. clock_gettime() of a
   monotonic clock goes to the kernel: libfaketime would give the real time
   too (FAKETIME_DONT_FAKE_MONOTONIC=1), but AddressSanitizer's allocator
   reads CLOCK_MONOTONIC from inside malloc(), and libfaketime's first call
   looks up symbols, which allocates: droverd built with ASan deadlocked at
   its start. Nothing else is changed: clock_gettime(CLOCK_REALTIME), time()
   and gettimeofday() stay fake. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* RTLD_NEXT */
#endif
#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_FD 65536

typedef int gettime_fn(clockid_t, struct timespec *);
typedef int create_fn(clockid_t, int);
typedef int settime_fn(int, int, const struct itimerspec *, struct itimerspec *);
typedef int sleep_fn(clockid_t, int, const struct timespec *, struct timespec *);

static unsigned char s_monotonic[MAX_FD]; /* fd -> a monotonic timerfd */

static int
s_monotonic_clock(clockid_t id)
{
	return id == CLOCK_MONOTONIC || id == CLOCK_BOOTTIME;
}

static int
s_monotonic_read(clockid_t id)
{
	return s_monotonic_clock(id) || id == CLOCK_MONOTONIC_RAW || id == CLOCK_MONOTONIC_COARSE;
}

/* The symbol as libc defines it, past every preloaded library. */
static void *
s_libc(const char *name)
{
	void *libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);

	return libc != NULL ? dlsym(libc, name) : NULL;
}

int
clock_gettime(clockid_t clockid, struct timespec *tp)
{
	static gettime_fn *next;

	if (s_monotonic_read(clockid))
		return (int)syscall(SYS_clock_gettime, clockid, tp);
	if (next == NULL && (next = (gettime_fn *)dlsym(RTLD_NEXT, "clock_gettime")) == NULL) {
		errno = ENOSYS;
		return -1;
	}
	return next(clockid, tp);
}

int
timerfd_create(clockid_t clockid, int flags)
{
	static create_fn *next;
	int fd;

	if (next == NULL && (next = (create_fn *)dlsym(RTLD_NEXT, "timerfd_create")) == NULL) {
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
	static settime_fn *libc, *next;

	if (fd >= 0 && fd < MAX_FD && s_monotonic[fd]) {
		if (libc == NULL)
			libc = (settime_fn *)s_libc("timerfd_settime");
		if (libc != NULL)
			return libc(fd, flags, new_value, old_value);
	}
	if (next == NULL && (next = (settime_fn *)dlsym(RTLD_NEXT, "timerfd_settime")) == NULL) {
		errno = ENOSYS;
		return -1;
	}
	return next(fd, flags, new_value, old_value);
}

int
clock_nanosleep(clockid_t clockid, int flags, const struct timespec *req, struct timespec *rem)
{
	static sleep_fn *libc, *next;

	if (s_monotonic_clock(clockid)) {
		if (libc == NULL)
			libc = (sleep_fn *)s_libc("clock_nanosleep");
		if (libc != NULL)
			return libc(clockid, flags, req, rem);
	}
	if (next == NULL && (next = (sleep_fn *)dlsym(RTLD_NEXT, "clock_nanosleep")) == NULL)
		return ENOSYS;
	return next(clockid, flags, req, rem);
}
