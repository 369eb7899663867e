/* api internals: the request object, the response helpers and the route
   handlers shared by api.c (server, dispatch, events), routes.c (JSON
   endpoints), metrics.c, web.c and history.c. */
#ifndef DROVER_API_INTERNAL_H
#define DROVER_API_INTERNAL_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"

#define API_MAX_BODY (64 * 1024) /* request bodies are small JSON objects */
#define API_MAX_URI 8192	 /* request target, query included (414 beyond) */
#define API_MAX_ARGS 100	 /* query arguments (400 beyond) */
#define API_CONN_LIMIT                                                                             \
	1000				     /* open connections, at most a quarter of the         \
						descriptors: the rest are the workers' */
#define API_CONN_RESERVE 100		     /* the last ones go to whoever is asking */
#define API_HEADER_TIMEOUT_S 10		     /* to send a whole request head */
#define API_IDLE_TIMEOUT_S 60		     /* once a request has arrived */
#define API_SSE_MAX_BUFFER (4 * 1024 * 1024) /* a slower subscriber is dropped */
#define API_SSE_MAX_TOTAL (64 * 1024 * 1024) /* all subscribers: the slowest go first */
#define API_SSE_MAX_SUBSCRIBERS 500
#define API_SSE_PING_MS 15000		       /* only while someone is subscribed */
#define API_SSE_REPLAY 4096		       /* events kept for Last-Event-ID ... */
#define API_SSE_REPLAY_BYTES (4 * 1024 * 1024) /* ... within this many bytes ... */
#define API_SSE_REPLAY_MS 60000		       /* ... and this long after the last one left */

#define API_AUTH_FAILS 10	 /* bad tokens from one address within... */
#define API_AUTH_WINDOW_MS 60000 /* ...this time, and its changes get 429... */
#define API_AUTH_BLOCK_MS 30000	 /* ...for this long */
#define API_AUTH_SLOTS 1024	 /* addresses followed at once (the table never grows) */

typedef struct api_sse api_sse_t;
typedef struct api_conn api_conn_t;

/* The bad tokens of one address (IPv4, or an IPv6 /64). */
typedef struct {
	uint8_t addr[16]; /* IPv4 as ::ffff:a.b.c.d */
	int64_t first_ms; /* the first bad token counted; 0: free */
	int64_t last_ms;
	int64_t until_ms; /* its changes are refused until then */
	unsigned fails;
} api_authfail_t;

struct api {
	ev_t *ev;
	unsigned conn_limit;   /* API_CONN_LIMIT, or less when descriptors are few */
	unsigned conn_reserve; /* the last ones go to whoever is asking */
	view_t *view;
	api_hooks_t hooks;
	void *ctx;
	char *listen;
	char *token;
	char *config_file;
	char *name;
	char *web_root;	    /* http.web_root, or NULL: the embedded dashboard */
	double started;	    /* Unix time */
	int64_t started_ms; /* monotonic: uptime keeps counting through clock changes */
	unsigned upgrades;  /* upgrades in place since started */
	struct MHD_Daemon *mhd;
	int listen_fd;
	ev_io_t mhd_io;	       /* MHD's own epoll fd, in our loop */
	ev_timer_t run_timer;  /* MHD's next timeout, or "run now" after a resume */
	ev_timer_t ping_timer; /* SSE keep-alive, armed only with subscribers */
	api_sse_t *subscribers;
	size_t n_subscribers;
	size_t sse_bytes;		/* buffered for every subscriber together */
	api_conn_t *conns, *conns_tail; /* open connections, oldest first */
	size_t n_conns;			/* of them not yet being dropped */
	uint64_t event_id;
	struct {
		uint64_t id;
		char *text; /* the whole event, "id: ...\n\n" */
		size_t len;
	} replay[API_SSE_REPLAY]; /* the last events, oldest at replay_head */
	size_t replay_head, replay_n, replay_bytes;
	int64_t record_until_ms;   /* events are still built and kept until then */
	struct api_req_s *waiting; /* suspended requests, answered at the latest on stop */
	bool stopping;
	api_authfail_t authfails[API_AUTH_SLOTS];
};

typedef struct api_wait api_wait_t;
typedef struct api_req_s api_req_t;

/* What a handler produced: a status and a malloc'd body with its type.
   status 0: the answer comes later (a command went to another host); the
   request is suspended until api_req_answer(). */
typedef struct {
	unsigned status;
	char *body;
	size_t len;
	const char *type;  /* Content-Type */
	const char *allow; /* for 405 */
	unsigned retry_after_s; /* for 429 */
} api_reply_t;

/* One HTTP request, from its first byte to its completion. */
struct api_req_s {
	char *body;
	size_t len;
	bool started;	    /* the handler has seen the request head */
	bool too_big;	    /* the body is over API_MAX_BODY */
	bool bad_path;	    /* %00 in the target or %2F in its path: never a name */
	bool uri_too_long;  /* over API_MAX_URI: the query was not parsed */
	bool too_many_args; /* over API_MAX_ARGS: the query was not parsed */
	struct MHD_Connection *conn;
	api_t *api_owner;
	api_wait_t *wait; /* a command in flight for this request */
	bool answered;	  /* reply holds the answer of a suspended request */
	bool suspended;	  /* waiting in api->waiting for a remote answer */
	struct api_req_s *wprev, *wnext;
	api_reply_t reply;
};

/* The request is going away: a command in flight for it answers no one. */
void api_wait_forget(api_req_t *req);

/* The answer to a request that was suspended (status 0): resumes it with r
   (taken). */
void api_req_answer(api_t *api, api_req_t *req, api_reply_t *r);

/* Sets r to a JSON reply; takes ownership of j. */
void api_reply_json(api_reply_t *r, unsigned status, json_t *j);
/* Sets r to {"error": {"code": code, "message": fmt...}}. */
void api_reply_error(api_reply_t *r, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The JSON endpoints. path is what follows "/api/v1"; query args come from
   conn. Each sets *r. */
void api_route(api_t *api, struct MHD_Connection *conn, const char *method, const char *path,
	       api_req_t *req, api_reply_t *r);
/* True when the request may mutate (the route exists and its method is not GET). */
bool api_route_mutates(const char *method);

/* The Prometheus text exposition of /metrics (malloc'd, *len set). */
char *api_metrics_text(api_t *api, size_t *len);
/* The dashboard's files (web.c): false when url is not one of them. Else
   the reply is queued and *ret is MHD's verdict. */
bool api_web_serve(api_t *api, struct MHD_Connection *conn, const char *url, const char *method,
		   enum MHD_Result *ret);
/* GET /processes/{name}/history and /queues/{name}/history (history.c):
   false when path is not one of them. */
bool api_history_route(api_t *api, const char *method, const char *path, api_reply_t *r);

#endif
