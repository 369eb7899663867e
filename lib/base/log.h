/* log: one line per event on stderr, with time and level. Never give it a secret. */
#ifndef DROVER_LOG_H
#define DROVER_LOG_H

#include <stdarg.h>

/* DLOG_, not LOG_: <syslog.h> (pulled in by CZMQ) defines LOG_INFO and friends. */
typedef enum { DLOG_DEBUG, DLOG_INFO, DLOG_WARN, DLOG_ERROR } log_level_t;

void log_set_level(log_level_t level);
void log_set_ident(const char *ident); /* e.g. "droverd"; not copied */
void log_msg(log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(log_level_t level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#define log_debug(...) log_msg(DLOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(DLOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(DLOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(DLOG_ERROR, __VA_ARGS__)

/* Logs the message and exits with code; only before the event loop runs. */
void die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

#endif
