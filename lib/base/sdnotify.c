/* sdnotify: systemd's notification protocol, by libsystemd (sd_notify,
   sd_watchdog_enabled), so that the socket's forms (path, abstract, vsock)
   and the credentials are systemd's own business. The environment is left
   as it is: the process engine does not pass NOTIFY_SOCKET on to workers,
   and WATCHDOG_PID names this process, not theirs. */
#include "sdnotify.h"

#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "log.h"

#ifdef DROVER_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>

static int64_t s_watchdog_ms;

static void
s_notify(const char *what)
{
	int rc = sd_notify(0, what);

	if (rc < 0)
		log_warn("systemd notification %s: %s", what, strerror(-rc));
}

static void
s_on_watchdog(ev_t *ev, ev_timer_t *t)
{
	sd_notify(0, "WATCHDOG=1");
	ev_timer_start(ev, t, clock_ms() + s_watchdog_ms, s_on_watchdog, NULL);
}

void
sdn_ready(const char *status)
{
	char buf[512];

	snprintf(buf, sizeof(buf), "READY=1\nSTATUS=%s", status ? status : "running");
	s_notify(buf);
}

void
sdn_reloading(void)
{
	s_notify("RELOADING=1\nSTATUS=reloading");
}

void
sdn_stopping(int64_t within_ms)
{
	char buf[128];

	if (within_ms > 0)
		snprintf(buf, sizeof(buf), "STOPPING=1\nSTATUS=stopping\nEXTEND_TIMEOUT_USEC=%lld",
			 (long long)within_ms * 1000);
	else
		snprintf(buf, sizeof(buf), "STOPPING=1\nSTATUS=stopping");
	s_notify(buf);
}

int64_t
sdn_watchdog_start(ev_t *ev, ev_timer_t *t)
{
	uint64_t usec = 0;

	if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
		return 0;
	s_watchdog_ms = (int64_t)(usec / 2000);
	if (s_watchdog_ms < 1)
		s_watchdog_ms = 1;
	sd_notify(0, "WATCHDOG=1");
	ev_timer_start(ev, t, clock_ms() + s_watchdog_ms, s_on_watchdog, NULL);
	return s_watchdog_ms;
}

#else /* a build without libsystemd: not a systemd service */

void
sdn_ready(const char *status)
{
	(void)status;
}

void
sdn_reloading(void)
{
}

void
sdn_stopping(int64_t within_ms)
{
	(void)within_ms;
}

int64_t
sdn_watchdog_start(ev_t *ev, ev_timer_t *t)
{
	(void)ev;
	(void)t;
	return 0;
}
#endif
