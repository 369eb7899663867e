/* The process states of SPEC 3, shared by the process engine, the fleet
   view and the wire: one vocabulary for local and remote processes. */
#ifndef DROVER_PSTATE_H
#define DROVER_PSTATE_H

typedef enum {
	PROC_STOPPED,
	PROC_STARTING,
	PROC_RUNNING,
	PROC_BACKOFF,
	PROC_STOPPING,
	PROC_EXITED,
	PROC_FATAL,
	PROC_UNKNOWN
} proc_state_t;

#define PROC_N_STATES (PROC_UNKNOWN + 1)

/* "RUNNING"; "UNKNOWN" for anything out of range. */
const char *proc_state_name(proc_state_t s);
/* The state named s, or -1. */
int proc_state_parse(const char *s);

#endif
