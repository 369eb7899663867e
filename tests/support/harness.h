/* harness: starts a real droverd on a fixture config in a fresh temporary
   directory and talks to it over its real HTTP API. For integration tests. */
#ifndef DROVER_TEST_HARNESS_H
#define DROVER_TEST_HARNESS_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#define DRV_TOKEN "test-token-0123456789"
/* The queue authkey the harness writes to authkey_path (without the newline). */
#define DRV_AUTHKEY "test-authkey-0123456789"

typedef struct {
	char dir[256]; /* temporary directory: drover.yaml, var/, secrets */
	char conf_path[320];
	char token_path[320];
	char authkey_path[320]; /* {DIR}/queue.key, holding DRV_AUTHKEY */
	char log_path[320];	/* droverd's own stderr */
	int port;		/* HTTP port */
	int qport;		/* queue port */
	char base[64];		/* "http://127.0.0.1:PORT" */
	pid_t pid;		/* droverd, 0 when not running */
} drv_t;

/* Writes the config into a new temporary directory and starts droverd on it,
   then waits until /api/v1/status answers. In yaml, "{PORT}", "{QPORT}" and
   "{DIR}" are replaced; unless yaml has its own "supervisor:" section, one is
   prepended with the HTTP listener on {PORT}, queues on {QPORT}, the token
   file and state_dir {DIR}/var, and, when yaml declares "queues:", the
   authkey file {DIR}/queue.key (DRV_AUTHKEY). Returns 0, or -1 (and droverd's log is
   printed) when droverd did not come up within 10 s. */
int drv_start(drv_t *d, const char *yaml);
/* Only creates the directory and writes the config (for --check tests). */
int drv_prepare(drv_t *d, const char *yaml);
/* Starts droverd on an already prepared directory. */
int drv_launch(drv_t *d);
/* Rewrites the config file (same substitutions as drv_start). */
int drv_rewrite(drv_t *d, const char *yaml);
/* SIGTERM, waits up to timeout_ms; returns the exit status (waitpid form), or
   -1 if it had to be killed. Removes nothing. */
int drv_stop(drv_t *d, int timeout_ms);
/* drv_stop if running, then removes the directory. */
void drv_cleanup(drv_t *d);

/* One HTTP request; returns the status (or -1 when no answer) and, if body_out
   is not NULL, the body (caller frees). auth adds the bearer token. */
int drv_http(drv_t *d, const char *method, const char *path, const char *body, bool auth,
	     char **body_out);
/* GET path and parse the JSON body; NULL on failure. Caller owns. */
json_t *drv_get_json(drv_t *d, const char *path);
/* The process object of name, or NULL. Caller owns. */
json_t *drv_proc(drv_t *d, const char *name);
/* The state string of name ("" when unknown) into buf. */
const char *drv_state(drv_t *d, const char *name, char *buf, size_t len);
/* Polls until name is in state, up to timeout_ms. Returns true if it got there. */
bool drv_wait_state(drv_t *d, const char *name, const char *state, int timeout_ms);
/* The pid of name (0 if none). */
pid_t drv_pid(drv_t *d, const char *name);

/* Runs a shell command line, returns its exit status (0..255, or -1) and its
   stdout in *out (caller frees) if out is not NULL. */
int drv_sh(const char *cmd, char **out);
/* The whole file at path, NUL-terminated (caller frees); "" when it cannot
   be read. */
char *drv_slurp(const char *path);
/* Path of a built program: drv_bin("droverd") -> ".../build/supervisor/droverd". */
const char *drv_bin(const char *name);
/* Sleeps ms milliseconds. */
void drv_sleep_ms(int ms);
/* A free TCP port on 127.0.0.1. */
int drv_free_port(void);
/* True when pid exists (and is not a zombie). */
bool drv_alive(pid_t pid);

#endif
