/* conf: the YAML configuration (SPEC 2) parsed with libyaml into an immutable
   conf_t. Every problem in a file is reported, each as
   "FILE:LINE:COL: key.path: message", not only the first.

   Relative paths (state_dir, log_dir, token_file, keys_dir, authkey_file, cwd,
   output files) are resolved against the directory of the config file, so a
   config means the same whatever directory droverd was started from. Strings
   that may hold ${VAR} references (command, env values, cwd, ready targets,
   output file names) are kept as templates and expanded per instance by
   conf_expand(). */
#ifndef DROVER_CONF_H
#define DROVER_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Instances of one group at most, in the file and when scaling: one limit. */
#define CONF_MAX_INSTANCES 10000
/* The longest duration of any setting (2147483647ms, about 24.8 days): a
   deadline of now plus any of them is far from overflow, and every group
   setting fits the agent protocol, which checks the same limits. */
#define CONF_MAX_DURATION_MS INT32_MAX
/* The largest backoff factor. */
#define CONF_MAX_BACKOFF_FACTOR 100

typedef enum {
	CONF_RESTART_ALWAYS,
	CONF_RESTART_ON_FAILURE,
	CONF_RESTART_NEVER
} conf_restart_t;

typedef enum {
	CONF_READY_NONE,	/* RUNNING once start_timeout has passed */
	CONF_READY_TCP,		/* connect() to target "host:port" succeeds */
	CONF_READY_HTTP,	/* GET target answers 2xx */
	CONF_READY_EXEC,	/* exec_argv exits 0 */
	CONF_READY_NOTIFY,	/* the worker sends READY=1 on $NOTIFY_SOCKET */
	CONF_READY_DELAY	/* delay_ms after the start */
} conf_ready_kind_t;

typedef enum {
	CONF_OUT_FILE,		/* to a file, rotated by size */
	CONF_OUT_NULL,		/* /dev/null */
	CONF_OUT_INHERIT,	/* droverd's own stdout/stderr */
	CONF_OUT_MERGE		/* stderr only: into the stdout capture */
} conf_out_mode_t;

typedef struct {
	char *key;
	char *value;
} conf_kv_t;

typedef struct {
	conf_out_mode_t mode;
	char *file;		/* CONF_OUT_FILE: absolute path template, NULL = auto:
				   <log_dir>/<name>.out (stdout) or .err (stderr) */
	int64_t max_size;	/* bytes before rotation; 0 = never rotate */
	unsigned keep;		/* rotated files kept: FILE.1 .. FILE.keep */
} conf_output_t;

typedef struct {
	conf_ready_kind_t kind;
	char *target;		/* TCP "host:port" or HTTP URL template */
	char **exec_argv;	/* EXEC: NULL-terminated templates */
	int64_t delay_ms;	/* DELAY */
	int64_t timeout_ms;	/* not ready within this: the start failed (default 60s) */
	int64_t interval_ms;	/* between tcp/http/exec probes (default 100ms) */
} conf_ready_t;

typedef struct {
	char *name;
	int line;			/* where the group's key is in the file */
	char **argv;			/* NULL-terminated templates */
	size_t argc;
	bool shell;			/* a string command: argv = {"/bin/sh", "-c", cmd} */
	unsigned instances;		/* default 1; 0 allowed (defined, none running) */
	conf_kv_t *env;			/* templates, in file order */
	size_t n_env;
	char *cwd;			/* absolute template; NULL = the config file's dir */
	char *user;			/* NULL = droverd's own user */
	int umask;			/* -1 = inherit; YAML "022" (octal string) */
	bool autostart;			/* default true */
	conf_restart_t restart;		/* default on-failure */
	int64_t backoff_initial_ms;	/* default 100ms */
	int64_t backoff_max_ms;		/* default 30s */
	double backoff_factor;		/* default 2, must be >= 1 */
	int64_t start_timeout_ms;	/* default 1s */
	unsigned max_restarts;		/* default 5 ... */
	int64_t max_restarts_within_ms;	/* ... within 60s */
	conf_ready_t ready;
	char **depends_on;		/* group names, validated to exist, no cycles */
	size_t n_depends_on;
	int stop_signal;		/* default SIGTERM */
	int64_t stop_timeout_ms;	/* default 10s, then SIGKILL to the process group */
	conf_output_t out;		/* default file auto, 50MB, keep 5 */
	conf_output_t err;		/* default file auto (.err), 50MB, keep 5 */
	int64_t limit_nofile;		/* -1 = unset, else RLIMIT_NOFILE */
	int64_t limit_core;		/* -1 = unset, bytes */
	int64_t limit_memory;		/* -1 = unset, bytes (RLIMIT_AS) */
	int64_t limit_nproc;		/* -1 = unset */
	char **hosts;			/* placement names; default {"local"} */
	size_t n_hosts;
	conf_kv_t *host_labels;		/* hosts: { labels: {...}, per_host: N } */
	size_t n_host_labels;
	unsigned per_host;		/* 0 unless labels placement */
	bool queue_access;		/* workers get DROVER_QUEUE_URL and DROVER_AUTHKEY_FILE */
	unsigned instance_base;		/* not in the file: the first instance index on a
					   host, set by placement (node-2 of [node-1, node-2]
					   runs web:N..2N-1) */
} conf_group_t;

typedef struct {
	char *name;
	int line;
	int64_t capacity;	/* messages; default 100000 */
	bool durable;		/* default false */
	int64_t lease_ms;	/* default 30s */
	int64_t max_message;	/* bytes; default 1MB */
} conf_queue_t;

typedef struct {
	char *path;		/* absolute path of the file read */
	char *dir;		/* its directory */
	char *text;		/* the file as read (conf_load only): an upgrade in
				   place hands it to the next droverd */
	size_t text_len;
	char *name;		/* supervisor.name; default: hostname */
	char *state_dir;	/* absolute; default <dir>/var */
	char *log_dir;		/* absolute; default <state_dir>/log */
	char *http_listen;	/* "HOST:PORT"; default "127.0.0.1:9170" */
	char *http_token_file;	/* absolute or NULL (no token: mutating calls open) */
	char *http_web_root;	/* absolute or NULL: the dashboard from disk, not the embedded one */
	char *agents_listen;	/* default "tcp://127.0.0.1:9171" */
	char *agents_keys_dir;	/* absolute or NULL */
	int64_t agents_heartbeat_ms;	/* default 1s */
	unsigned agents_lost_after;	/* heartbeats of silence before LOST; default 3 */
	char *queues_listen;	/* default "tcp://127.0.0.1:9172" */
	char *queues_authkey_file;	/* absolute or NULL */
	char *queues_advertise;	/* the queue endpoint as agents' workers reach it;
				   NULL = queues_listen */
	conf_group_t *groups;	/* in file order */
	size_t n_groups;
	conf_queue_t *queues;	/* in file order */
	size_t n_queues;
} conf_t;

/* Reads and validates the file at path. Returns 0 and sets *out (caller owns,
   conf_free()); otherwise returns -1 and sets *errors to a malloc'd text with
   one line per problem, each ending in '\n' (caller frees). An unreadable
   file is one such line too ("FILE: cannot read: No such file or directory"). */
int conf_load(const char *path, conf_t **out, char **errors);

/* The same from a string; name is used in messages and dir to resolve
   relative paths. */
int conf_parse_string(const char *text, size_t len, const char *name, const char *dir,
		      conf_t **out, char **errors);

void conf_free(conf_t **cp);

const conf_group_t *conf_group_find(const conf_t *c, const char *name);
const conf_queue_t *conf_queue_find(const conf_t *c, const char *name);

/* A group, queue or host name: 1 to 64 letters, digits, '_', '.' or '-' (safe
   in a file name, as a group's captured output is). */
bool conf_name_ok(const char *s);

/* True when a and b are configured alike in everything but their instance
   count (and autostart): a reload leaves such a group's processes alone. */
bool conf_group_same(const conf_group_t *a, const conf_group_t *b);

/* A deep copy of g that lives on its own (caller owns, conf_group_destroy());
   NULL with errno ENOMEM. */
conf_group_t *conf_group_dup(const conf_group_t *g);
void conf_group_destroy(conf_group_t **gp);
/* Frees what g holds (not g itself) and zeroes it. */
void conf_group_clear(conf_group_t *g);

/* The variables of one instance, for conf_expand(). */
typedef struct {
	const char *group;	/* ${GROUP} */
	unsigned instance;	/* ${INSTANCE} */
	const char *name;	/* ${NAME}, "group:instance" */
	const char *host;	/* ${HOST}, the supervisor's or agent's hostname */
	const conf_kv_t *env;	/* already expanded env of the instance, looked up next */
	size_t n_env;
} conf_vars_t;

/* Expands ${X} in tmpl: the built-ins, then vars->env, then the process
   environment; an undefined name expands to "". "$$" is a literal '$'.
   Returns a malloc'd string (caller frees) or NULL on out of memory. */
char *conf_expand(const char *tmpl, const conf_vars_t *vars);

#endif
