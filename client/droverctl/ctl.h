/* droverctl internals: the options of one invocation, the HTTP calls to
   droverd's API, and the commands. Every command returns the process exit
   status: CTL_OK, CTL_FAILED (the action failed; one line said why on
   stderr) or CTL_USAGE. */
#ifndef DROVERCTL_CTL_H
#define DROVERCTL_CTL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

enum { CTL_OK = 0, CTL_FAILED = 1, CTL_USAGE = 2 };

typedef struct ctl ctl_t;

struct ctl {
	/* global */
	char *server;			/* base URL, no trailing slash (malloc'd) */
	const char *token_file;
	char *token;			/* loaded on first mutating call; never printed */
	bool json;
	bool colour;			/* stdout is a terminal and NO_COLOR is unset */
	bool tty;			/* stdout is a terminal: escape what workers wrote */
	const char *queue_endpoint;
	const char *authkey_file;
	/* command options */
	bool follow;			/* logs -f */
	long tail;			/* logs -n */
	bool stderr_stream;		/* logs --stderr */
	bool rolling;			/* restart --rolling */
	bool no_wait;			/* start/stop/restart: do not wait for the states */
	bool no_ack;			/* get --no-ack */
	double timeout_s;		/* --timeout; < 0 when not given */
	const char *name;		/* keygen --name */
	bool force;			/* keygen --force */
	/* the HTTP connection, reused across calls (a CURL *) */
	void *curl;
};

/* ---- http.c ---- */

/* One answer of the API: HTTP status and body (NUL-terminated, caller frees
   with ctl_resp_free). */
typedef struct {
	long status;
	char *body;
	size_t len;
} ctl_resp_t;

void ctl_resp_free(ctl_resp_t *r);
/* Sends one request to the API (path starts with "/"); body is JSON text or
   NULL. Mutating methods carry the bearer token when one is configured.
   Returns 0 and fills r whatever
   the status; on a transport failure (refused, timeout, bad URL) prints one
   line on stderr and returns -1. */
int ctl_http(ctl_t *c, const char *method, const char *path, const char *body, ctl_resp_t *r);
/* ctl_http, then: a 2xx answer is parsed into *out (caller owns; JSON null
   when the body is empty) and 0 returned; any other status prints the API's
   error message as one line (prefixed with what, e.g. the name acted on,
   unless the message names it already) and returns -1. out may be NULL. raw, when not NULL, receives the body text
   (caller frees). */
int ctl_call(ctl_t *c, const char *method, const char *path, json_t *body, const char *what,
	     json_t **out, char **raw);
/* Prints the one line for a non-2xx answer r of a request about what. */
void ctl_http_error(ctl_t *c, const ctl_resp_t *r, const char *what);
/* Percent-encodes a name for a path segment (":" stays); caller frees. */
char *ctl_escape(const char *s);
/* Reads a secret from path as droverd does: the first line, without the
   whitespace around it.
   Returns NULL and prints one line on failure. Caller frees (and should
   wipe). */
char *ctl_read_secret(const char *path, const char *what, size_t *len);
void ctl_http_close(ctl_t *c);

/* ---- output helpers (main.c) ---- */

/* Prints "droverctl: " and the message on stderr, one line. */
void ctl_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints j as JSON on stdout (indented), with a newline. */
void ctl_print_json(const json_t *j);

/* ---- commands ---- */

int cmd_status(ctl_t *c, int argc, char **argv);
int cmd_action(ctl_t *c, const char *action, int argc, char **argv);	/* start stop restart */
int cmd_signal(ctl_t *c, int argc, char **argv);
int cmd_reload(ctl_t *c, int argc, char **argv);
int cmd_upgrade(ctl_t *c, int argc, char **argv);
int cmd_scale(ctl_t *c, int argc, char **argv);
int cmd_logs(ctl_t *c, int argc, char **argv);
int cmd_agents(ctl_t *c, int argc, char **argv);
int cmd_queues(ctl_t *c, int argc, char **argv);
int cmd_keygen(ctl_t *c, int argc, char **argv);
int cmd_put(ctl_t *c, int argc, char **argv);
int cmd_get(ctl_t *c, int argc, char **argv);

/* Prints the usage line for cmd (or the general one) on stderr, returns CTL_USAGE. */
int ctl_usage(const char *cmd);

#endif
