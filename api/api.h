/* api: droverd's HTTP status/control API (SPEC 4), the Prometheus metrics,
   the Server-Sent Events stream and the dashboard page, served by
   libmicrohttpd in external-loop mode on the owner's ev_t loop. The API
   reads the fleet view (lib/view) in the same thread, so there is no
   snapshot to copy and no lock, and it cannot tell a local process from a
   remote one. Requests never block the loop. */
#ifndef DROVER_API_H
#define DROVER_API_H

#include <jansson.h>
#include <stdbool.h>

#include "conf.h"
#include "ev.h"
#include "view.h"

typedef struct api api_t;

/* How a reload failed. */
enum {
	API_RELOAD_INVALID = -1,     /* the file is invalid, or droverd could not start
					with it: nothing changed (422) */
	API_RELOAD_NOT_APPLIED = -2, /* valid, but applying it failed: the running
					configuration is kept (500) */
	API_RELOAD_PARTIAL = -3,     /* the new configuration runs, except what the
					errors say (500) */
};

/* What droverd provides beyond the view. Every hook is optional;
   a missing list hook means an empty list. Returned json_t are owned by the
   caller (the API). */
typedef struct {
	/* Re-reads the config file. 0 on success; else one of API_RELOAD_* and
	   *errors set to a malloc'd text, one problem per line (the API frees
	   it). */
	int (*reload)(void *ctx, char **errors);
	/* Array of queue objects {name,size,capacity,in_flight,durable,put_total,
	   get_total,consumers}. */
	json_t *(*queues)(void *ctx);
	/* Array of agent objects {name,address,labels,state,last_seen,processes}. */
	json_t *(*agents)(void *ctx);
	/* One agent object, or NULL when there is no such agent. */
	json_t *(*agent)(void *ctx, const char *name);
	/* Extra Prometheus text appended to /metrics (e.g. queue metrics);
	   malloc'd, the API frees it. */
	char *(*metrics)(void *ctx);
	/* An /api/v1/events stream opened (api_subscribers() counts them): the
	   owner may start sending events it only sends while someone listens. */
	void (*subscribed)(void *ctx);
	/* The sampled history of one process (kind "process") or queue (kind
	   "queue") for GET /api/v1/{processes,queues}/{name}/history: a JSON
	   object, or NULL when there is no such name (404). */
	json_t *(*history)(void *ctx, const char *kind, const char *name);
	/* POST /api/v1/upgrade: droverd checks the binary it will execute and
	   schedules the upgrade in place. Returns the 202 reply's object, or
	   NULL with *err (malloc'd) saying why it is refused (409). */
	json_t *(*upgrade)(void *ctx, char **err);
} api_hooks_t;

typedef struct {
	const char *listen;	 /* "HOST:PORT"; IPv4, IPv6 "[::1]:9170" or "localhost:9170" */
	const char *token;	 /* bearer token for mutating calls; NULL = none (loopback only) */
	const char *config_file; /* shown in /status */
	const char *name;	 /* supervisor name */
	const char *web_root;	 /* serve the dashboard from this directory; NULL = embedded */
	/* Upgrade in place: api_export() of the previous droverd (its listening
	   socket, event ids, replay buffer, start time); NULL: a fresh start. */
	json_t *inherit;
} api_config_t;

/* Why a listen address other than loopback is refused without a token. */
#define API_NO_TOKEN_WHY "without a token: set supervisor.http.token_file, or listen on 127.0.0.1"

/* Binds and starts serving on ev. Refuses a non-loopback listen address
   without a token (API_NO_TOKEN_WHY). Returns NULL and sets *err (malloc'd, caller frees) on
   failure. The API keeps pointers to view and hooks ctx (both must outlive
   it) and publishes the view's changes as "process" events; cfg strings are
   copied. */
api_t *api_new(ev_t *ev, view_t *view, const api_config_t *cfg, const api_hooks_t *hooks, void *ctx,
	       char **err);
void api_destroy(api_t **apip);

/* Upgrade in place: answers every request that waits for another host (503
   "droverd is upgrading"), ends every event stream (subscribers come back
   with Last-Event-ID), and returns what the next droverd takes over: the
   listening socket (given to keep), the event counter, the replay buffer,
   the start time and the upgrade count. The API goes on serving; NULL on
   allocation failure. */
json_t *api_export(api_t *api, void (*keep)(void *ctx, int fd), void *ctx);

/* Sends an event to every /api/v1/events subscriber: type is "process",
   "group", "agent", "queue" or "config"; takes ownership of data. */
void api_publish(api_t *api, const char *type, json_t *data);
/* How many /api/v1/events streams are open (skip building events when 0). */
size_t api_subscribers(const api_t *api);

#endif
