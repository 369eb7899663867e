/* The process states of SPEC 3, shared by the process engine, the fleet
   view and the wire: one vocabulary for local and remote processes. */
#ifndef DROVER_PSTATE_H
#define DROVER_PSTATE_H

#include <stdbool.h>
#include <stdint.h>

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

/* One process as everything outside its engine sees it: the fleet view's
   entry, the API's process object, the agent protocol's. Strings are
   borrowed from whoever filled it. */
typedef struct {
	const char *name;  /* "web:2" */
	const char *group; /* "web" */
	unsigned instance;
	const char *host; /* "local" or the agent's name; NULL: not said */
	proc_state_t state;
	int pid; /* 0: none */
	double since;
	unsigned restarts;
	int exit_code;	 /* -1: none */
	int exit_signal; /* 0: none */
	bool ready;
	double cpu_seconds; /* < 0: unknown */
	int64_t rss_bytes;  /* < 0: unknown */
	const char *error;  /* NULL: none */
} proc_snapshot_t;

/* "RUNNING"; "UNKNOWN" for anything out of range. */
const char *proc_state_name(proc_state_t s);
/* The state named s, or -1. */
int proc_state_parse(const char *s);

#endif
