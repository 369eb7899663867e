#include "units.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct unit {
	const char *suffix;
	int64_t mult;
};

/* Parses "<digits><suffix>" with the suffix taken from table; an empty suffix
   is accepted only when bare_ok. */
static int
s_parse(const char *s, const struct unit *table, int bare_ok, int64_t *out)
{
	const char *p = s;
	int64_t v = 0;
	size_t i;

	if (s == NULL || !isdigit((unsigned char)*p))
		return -EINVAL;
	while (isdigit((unsigned char)*p)) {
		if (v > (INT64_MAX - 9) / 10)
			return -ERANGE;
		v = v * 10 + (*p++ - '0');
	}
	if (*p == '\0') {
		if (!bare_ok && v != 0)
			return -EINVAL;
		*out = v;
		return 0;
	}
	for (i = 0; table[i].suffix != NULL; i++) {
		if (strcasecmp(p, table[i].suffix) == 0) {
			if (v > INT64_MAX / table[i].mult)
				return -ERANGE;
			*out = v * table[i].mult;
			return 0;
		}
	}
	return -EINVAL;
}

int
units_duration_ms(const char *s, int64_t *out_ms)
{
	static const struct unit t[] = {{"ms", 1},	{"s", 1000},	 {"m", 60000},
					{"h", 3600000}, {"d", 86400000}, {NULL, 0}};

	return s_parse(s, t, 0, out_ms);
}

int
units_size_bytes(const char *s, int64_t *out_bytes)
{
	static const struct unit t[] = {{"B", 1},
					{"KB", 1024},
					{"K", 1024},
					{"MB", 1024 * 1024},
					{"M", 1024 * 1024},
					{"GB", 1024LL * 1024 * 1024},
					{"G", 1024LL * 1024 * 1024},
					{"TB", 1024LL * 1024 * 1024 * 1024},
					{NULL, 0}};

	return s_parse(s, t, 1, out_bytes);
}

static const struct {
	const char *name;
	int sig;
} s_signals[] = {{"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"KILL", SIGKILL},
		 {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"TERM", SIGTERM}, {"ALRM", SIGALRM},
		 {"CONT", SIGCONT}, {"STOP", SIGSTOP}, {"TSTP", SIGTSTP}, {"WINCH", SIGWINCH},
		 {"PWR", SIGPWR},   {"ABRT", SIGABRT}, {NULL, 0}};

int
units_signal(const char *s)
{
	char *end;
	long n;
	int i;

	if (s == NULL || *s == '\0')
		return 0;
	if (isdigit((unsigned char)*s)) {
		n = strtol(s, &end, 10);
		return (*end == '\0' && n > 0 && n < NSIG) ? (int)n : 0;
	}
	if (strncasecmp(s, "SIG", 3) == 0)
		s += 3;
	for (i = 0; s_signals[i].name != NULL; i++)
		if (strcasecmp(s, s_signals[i].name) == 0)
			return s_signals[i].sig;
	return 0;
}

const char *
units_signal_name(int sig)
{
	int i;

	for (i = 0; s_signals[i].name != NULL; i++)
		if (s_signals[i].sig == sig)
			return s_signals[i].name;
	return NULL;
}
