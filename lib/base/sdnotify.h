/* sdnotify: tells systemd how a Type=notify service is doing, by its
   notification protocol (sd_notify(3), without libsystemd): READY=1 once it
   serves, RELOADING=1 while it re-reads its file, STOPPING=1 with the time
   the stop may take, and the watchdog ping while the unit sets
   WatchdogSec. Outside systemd ($NOTIFY_SOCKET unset), or in a build with
   DROVER_SYSTEMD=OFF, each call does nothing. */
#ifndef DROVER_SDNOTIFY_H
#define DROVER_SDNOTIFY_H

#include <stdint.h>

#include "ev.h"

/* READY=1 with a STATUS= line (status may be NULL). */
void sdn_ready(const char *status);
/* RELOADING=1; sdn_ready() says when it is done. */
void sdn_reloading(void);
/* STOPPING=1, and asks for within_ms more than the unit's stop timeout
   (EXTEND_TIMEOUT_USEC) when within_ms > 0. */
void sdn_stopping(int64_t within_ms);
/* Pings the watchdog at half the unit's WatchdogSec from the loop ev, with
   the caller's timer t; returns the interval in ms, or 0 when there is no
   watchdog (t is then left alone). */
int64_t sdn_watchdog_start(ev_t *ev, ev_timer_t *t);

#endif
