/* Names of the process states. */
#include "pstate.h"

#include <string.h>

static const char *const s_names[PROC_N_STATES] = {"STOPPED",  "STARTING", "RUNNING", "BACKOFF",
						   "STOPPING", "EXITED",   "FATAL",   "UNKNOWN"};

const char *
proc_state_name(proc_state_t s)
{
	return (unsigned)s < PROC_N_STATES ? s_names[s] : "UNKNOWN";
}

int
proc_state_parse(const char *s)
{
	int i;

	for (i = 0; s != NULL && i < PROC_N_STATES; i++)
		if (strcmp(s, s_names[i]) == 0)
			return i;
	return -1;
}
