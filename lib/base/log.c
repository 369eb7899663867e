#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static log_level_t s_level = DLOG_INFO;
static const char *s_ident = "drover";

void
log_set_level(log_level_t level)
{
	s_level = level;
}

void
log_set_ident(const char *ident)
{
	s_ident = ident;
}

/* Formats the whole line first and writes it with one write(2), so lines from
   several processes sharing stderr do not interleave. */
void
log_vmsg(log_level_t level, const char *fmt, va_list ap)
{
	static const char *names[] = {"debug", "info", "warn", "error"};
	char line[2048];
	struct timespec ts;
	struct tm tm;
	int n, m;

	if (level < s_level || level > DLOG_ERROR)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line),
		     "%04d-%02d-%02d %02d:%02d:%02d.%03ld %s[%d] %s: ", tm.tm_year + 1900,
		     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		     ts.tv_nsec / 1000000, s_ident, (int)getpid(), names[level]);
	if (n < 0)
		return;
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	if (m < 0)
		m = 0;
	n += m;
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}

void
log_msg(log_level_t level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

void
die(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(DLOG_ERROR, fmt, ap);
	va_end(ap);
	exit(code);
}
