/* api: libmicrohttpd in external epoll mode on droverd's ev loop. MHD's epoll
   fd sits in our epoll set; whenever it is readable, or MHD's own timeout
   comes, we call MHD_run(). Handlers read the fleet view directly: same
   thread, so no snapshot and no lock. Server-Sent Events subscribers are
   suspended connections with a byte buffer each: api_publish() appends to
   the buffers and resumes them, so nothing spins while no event comes.

   Connections are a resource a client could hold: each one is watched for
   its peer's hang-up (EPOLLRDHUP) and released at once, one that has not
   sent its request head within API_HEADER_TIMEOUT_S goes, and near
   API_CONN_LIMIT the oldest connection not being answered makes room for
   the new one, so that the last slots always go to whoever is asking. */
#include "api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api_internal.h"
#include "clock.h"
#include "log.h"
#include "logs.h"
#include "net.h"
#include "str.h"

struct api_sse {
	api_t *api;
	struct MHD_Connection *conn;
	api_conn_t *ac; /* its connection, NULL once that closed */
	char *buf;
	size_t len, off, cap;
	bool suspended;
	bool closed; /* end the stream once the buffer is drained */
	api_sse_t *prev, *next;
};

/* One TCP connection, from accept to close (MHD_OPTION_NOTIFY_CONNECTION).
   MHD 0.9.75 watches a socket edge-triggered and takes a short read as "no
   more to read": a FIN that came with the last bytes of a partial request
   is never seen, and the connection sits in CLOSE-WAIT until its timeout.
   Our own watch of the socket sees the hang-up. */
struct api_conn {
	api_t *api;
	int fd;
	ev_io_t io;	  /* EPOLLRDHUP: the peer closed */
	bool busy;	  /* a request is being answered */
	bool peer_closed; /* seen once */
	bool dropping;	  /* shut down: MHD closes it on its next run */
	api_sse_t *sse;	  /* when it is an event stream */
	api_conn_t *prev, *next;
};

static void s_kick(api_t *api);
static void s_conn_drop(api_conn_t *ac);
static void s_on_run_timer(ev_t *ev, ev_timer_t *t);
static void s_on_ping(ev_t *ev, ev_timer_t *t);

/* ---- replies ---- */

void
api_reply_json(api_reply_t *r, unsigned status, json_t *j)
{
	r->status = status;
	r->type = "application/json";
	r->body = j ? json_dumps(j, JSON_COMPACT) : NULL;
	if (r->body == NULL)
		r->body = strdup("null");
	r->len = r->body ? strlen(r->body) : 0;
	json_decref(j);
}

void
api_reply_error(api_reply_t *r, unsigned status, const char *code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* The message may quote the request (a name from %FF%FE, a cut
	   character at the end): JSON strings are UTF-8, so the bytes that are
	   not become U+FFFD, or jansson refuses the whole message. */
	api_reply_json(r, status,
		       json_pack("{s:{s:s, s:o}}", "error", "code", code, "message",
				 logs_json_text(msg, strlen(msg))));
}

/* ---- listening ---- */

/* ---- MHD on our loop ---- */

static void
s_arm(api_t *api)
{
	MHD_UNSIGNED_LONG_LONG t;

	if (api->mhd == NULL)
		return;
	if (MHD_get_timeout(api->mhd, &t) == MHD_YES)
		ev_timer_start(api->ev, &api->run_timer, clock_ms() + (int64_t)t, s_on_run_timer,
			       api);
	else
		ev_timer_stop(api->ev, &api->run_timer);
}

static void
s_run(api_t *api)
{
	MHD_run(api->mhd);
	s_arm(api);
}

static void
s_on_mhd_io(ev_t *ev, ev_io_t *io, uint32_t events)
{
	s_run(io->arg);
}

static void
s_on_run_timer(ev_t *ev, ev_timer_t *t)
{
	s_run(t->arg);
}

/* Runs MHD on the next loop pass (after a resume, outside any MHD callback). */
static void
s_kick(api_t *api)
{
	ev_timer_start(api->ev, &api->run_timer, clock_ms(), s_on_run_timer, api);
}

static void s_mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void
s_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];
	size_t n;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	log_warn("http: %s", buf);
}

/* ---- Server-Sent Events ---- */

static void
s_sse_wake(api_sse_t *c)
{
	if (c->suspended) {
		c->suspended = false;
		MHD_resume_connection(c->conn);
		s_kick(c->api);
	}
}

/* Ends a stream that is too far behind: its buffer goes at once, and so
   does its connection (a reader that does not read would hold it until the
   timeout). */
static void
s_sse_drop(api_sse_t *c, const char *why)
{
	if (c->closed && c->buf == NULL)
		return;
	log_warn("http: an event subscriber is too slow (%s); closing its stream", why);
	c->api->sse_bytes -= c->len - c->off;
	free(c->buf);
	c->buf = NULL;
	c->len = c->off = c->cap = 0;
	c->closed = true;
	if (c->ac != NULL)
		s_conn_drop(c->ac);
	s_sse_wake(c);
}

static void
s_sse_append(api_sse_t *c, const char *s, size_t n)
{
	if (c->closed)
		return;
	if (c->off > 0 && c->off == c->len)
		c->off = c->len = 0;
	if (c->len - c->off + n > API_SSE_MAX_BUFFER) {
		s_sse_drop(c, "its own buffer is full");
		return;
	}
	if (c->len + n > c->cap) {
		size_t cap = c->cap ? c->cap : 4096;
		char *nb;

		while (cap < c->len + n)
			cap *= 2;
		if ((nb = realloc(c->buf, cap)) == NULL) {
			s_sse_drop(c, "out of memory");
			return;
		}
		c->buf = nb;
		c->cap = cap;
	}
	memcpy(c->buf + c->len, s, n);
	c->len += n;
	c->api->sse_bytes += n;
}

/* Keeps what all streams hold together under API_SSE_MAX_TOTAL: the
   subscriber furthest behind goes first. */
static void
s_sse_bound(api_t *api)
{
	api_sse_t *c, *worst;

	while (api->sse_bytes > API_SSE_MAX_TOTAL) {
		worst = NULL;
		for (c = api->subscribers; c != NULL; c = c->next)
			if (!c->closed &&
			    (worst == NULL || c->len - c->off > worst->len - worst->off))
				worst = c;
		if (worst == NULL)
			break;
		s_sse_drop(worst, "all streams together hold too much");
	}
}

static void
s_on_ping(ev_t *ev, ev_timer_t *t)
{
	api_t *api = t->arg;
	api_sse_t *c;

	for (c = api->subscribers; c != NULL; c = c->next) {
		s_sse_append(c, ": ping\n\n", 8);
		s_sse_wake(c);
	}
	if (api->subscribers != NULL)
		ev_timer_start(ev, t, clock_ms() + API_SSE_PING_MS, s_on_ping, api);
}

static ssize_t
s_sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	api_sse_t *c = cls;
	size_t n;

	if (c->off < c->len) {
		n = c->len - c->off < max ? c->len - c->off : max;
		memcpy(buf, c->buf + c->off, n);
		c->off += n;
		c->api->sse_bytes -= n;
		return (ssize_t)n;
	}
	if (c->closed)
		return MHD_CONTENT_READER_END_OF_STREAM;
	/* Nothing to send: sleep until api_publish() or the ping wakes us. */
	c->suspended = true;
	MHD_suspend_connection(c->conn);
	return 0;
}

static void
s_sse_free(void *cls)
{
	api_sse_t *c = cls;
	api_t *api = c->api;

	if (c->prev)
		c->prev->next = c->next;
	else
		api->subscribers = c->next;
	if (c->next)
		c->next->prev = c->prev;
	api->n_subscribers--;
	api->sse_bytes -= c->len - c->off;
	if (c->ac != NULL)
		c->ac->sse = NULL;
	if (api->subscribers == NULL) {
		ev_timer_stop(api->ev, &api->ping_timer);
		api->record_until_ms = clock_ms() + API_SSE_REPLAY_MS;
	}
	free(c->buf);
	free(c);
}

static enum MHD_Result s_send(struct MHD_Connection *conn, api_reply_t *r);

static api_conn_t *
s_conn_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *info =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return info != NULL ? info->socket_context : NULL;
}

/* Keeps an event for subscribers that come back with Last-Event-ID: the
   last API_SSE_REPLAY of them within API_SSE_REPLAY_BYTES. Takes ev. */
static void
s_replay_keep(api_t *api, uint64_t id, char *ev, size_t len)
{
	size_t k;

	while (api->replay_n > 0 && (api->replay_n == API_SSE_REPLAY ||
				     api->replay_bytes + len > API_SSE_REPLAY_BYTES)) {
		k = api->replay_head;
		api->replay_bytes -= api->replay[k].len;
		free(api->replay[k].text);
		api->replay_head = (k + 1) % API_SSE_REPLAY;
		api->replay_n--;
	}
	k = (api->replay_head + api->replay_n) % API_SSE_REPLAY;
	api->replay[k].id = id;
	api->replay[k].text = ev;
	api->replay[k].len = len;
	api->replay_n++;
	api->replay_bytes += len;
}

/* A subscriber that says the last event it saw gets what came since, when
   that is still kept; else a "resync" event, so that it reads the lists
   again instead of trusting a picture with holes. */
static void
s_replay_to(api_t *api, api_sse_t *c, const char *last)
{
	static const char resync[] = "event: resync\ndata: {\"missed\":true}\n\n";
	unsigned long long seen;
	char *end;
	size_t i, k;

	if (last == NULL || *last == '\0')
		return;
	errno = 0;
	seen = strtoull(last, &end, 10);
	if (errno != 0 || *end != '\0' || seen > api->event_id) {
		s_sse_append(c, resync, sizeof(resync) - 1);
		return;
	}
	if (seen == api->event_id)
		return;
	if (api->replay_n == 0 || api->replay[api->replay_head].id > seen + 1) {
		s_sse_append(c, resync, sizeof(resync) - 1);
		return;
	}
	for (i = 0; i < api->replay_n; i++) {
		k = (api->replay_head + i) % API_SSE_REPLAY;
		if (api->replay[k].id > seen)
			s_sse_append(c, api->replay[k].text, api->replay[k].len);
	}
}

static enum MHD_Result
s_sse_open(api_t *api, struct MHD_Connection *conn)
{
	struct MHD_Response *resp;
	api_sse_t *c;
	enum MHD_Result ret;
	static const char hello[] = "retry: 2000\n: connected\n\n";

	if (api->n_subscribers >= API_SSE_MAX_SUBSCRIBERS) {
		api_reply_t r = {0};

		api_reply_error(&r, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
				"already %d event streams; try again later",
				API_SSE_MAX_SUBSCRIBERS);
		return s_send(conn, &r);
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return MHD_NO;
	c->api = api;
	c->conn = conn;
	if ((c->ac = s_conn_of(conn)) != NULL)
		c->ac->sse = c;
	s_sse_append(c, hello, sizeof(hello) - 1);
	s_replay_to(api, c, MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Last-Event-ID"));
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, s_sse_read, c,
						 s_sse_free);
	if (resp == NULL) {
		if (c->ac != NULL)
			c->ac->sse = NULL;
		api->sse_bytes -= c->len - c->off;
		free(c->buf);
		free(c);
		return MHD_NO;
	}
	c->next = api->subscribers;
	if (c->next)
		c->next->prev = c;
	api->subscribers = c;
	api->n_subscribers++;
	if (api->hooks.subscribed != NULL)
		api->hooks.subscribed(api->ctx);
	if (!ev_timer_active(&api->ping_timer))
		ev_timer_start(api->ev, &api->ping_timer, clock_ms() + API_SSE_PING_MS, s_on_ping,
			       api);
	MHD_add_response_header(resp, "Content-Type", "text/event-stream");
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	MHD_add_response_header(resp, "X-Accel-Buffering", "no");
	ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

void
api_publish(api_t *api, const char *type, json_t *data)
{
	char head[96], *text, *ev;
	api_sse_t *c;
	size_t n, tlen;

	if (api == NULL || data == NULL || api_subscribers(api) == 0) {
		json_decref(data);
		return;
	}
	text = json_dumps(data, JSON_COMPACT);
	json_decref(data);
	if (text == NULL)
		return;
	n = (size_t)snprintf(head, sizeof(head),
			     "id: %llu\nevent: %s\ndata: ", (unsigned long long)++api->event_id,
			     type);
	tlen = strlen(text);
	if ((ev = malloc(n + tlen + 2)) == NULL) {
		free(text);
		return;
	}
	memcpy(ev, head, n);
	memcpy(ev + n, text, tlen);
	memcpy(ev + n + tlen, "\n\n", 2);
	free(text);
	n += tlen + 2;
	for (c = api->subscribers; c != NULL; c = c->next) {
		s_sse_append(c, ev, n);
		s_sse_wake(c);
	}
	s_replay_keep(api, api->event_id, ev, n); /* takes ev */
	s_sse_bound(api);
}

size_t
api_subscribers(const api_t *api)
{
	if (api == NULL)
		return 0;
	/* A while after the last subscriber left, events are still built and
	   kept: one that comes back with Last-Event-ID misses nothing. */
	if (api->n_subscribers == 0 && api->record_until_ms > clock_ms())
		return 1;
	return api->n_subscribers;
}

/* ---- requests ---- */

/* Compares lengths and bytes, not C strings: a header value that holds
   the token and more (after a NUL, say) is not the token. libmicrohttpd
   0.9.75 itself ends a header line at a NUL before we see it. */
static bool
s_token_ok(api_t *api, struct MHD_Connection *conn)
{
	const char *h = NULL;
	size_t a = 0, b, i;
	unsigned char diff = 0;

	if (api->token == NULL)
		return true;
	if (MHD_lookup_connection_value_n(conn, MHD_HEADER_KIND, "Authorization", 13, &h, &a) !=
		MHD_YES ||
	    h == NULL || a < 7 || strncasecmp(h, "Bearer ", 7) != 0)
		return false;
	h += 7;
	a -= 7;
	while (a > 0 && *h == ' ')
		h++, a--;
	b = strlen(api->token);
	/* Constant time in the token's length. */
	for (i = 0; i < b; i++)
		diff |= (unsigned char)(api->token[i] ^ (i < a ? h[i] : 0));
	return diff == 0 && a == b;
}

/* ---- bad tokens, by address ----

   A client that sends bad tokens is guessing: after API_AUTH_FAILS of them
   within API_AUTH_WINDOW_MS, every change from its address is answered 429
   (with Retry-After) for API_AUTH_BLOCK_MS, before its token is looked at,
   so that a guess gets no answer either way; other addresses, and GETs,
   are not touched. A request without any Authorization header guesses
   nothing and is not counted. Nothing waits: the answer is at once. */

/* The address that conn's bad tokens count against: IPv4 as
   ::ffff:a.b.c.d, IPv6 by its /64 (one host can hold a whole /64). */
static void
s_peer_key(struct MHD_Connection *conn, uint8_t *key)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci != NULL ? ci->client_addr : NULL;
	const struct in6_addr *a6;

	memset(key, 0, 16);
	if (sa != NULL && sa->sa_family == AF_INET) {
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa != NULL && sa->sa_family == AF_INET6) {
		a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		memcpy(key, a6->s6_addr, IN6_IS_ADDR_V4MAPPED(a6) ? 16 : 8);
	}
}

static bool
s_authfail_live(const api_authfail_t *f, int64_t now)
{
	return f->until_ms > now || (f->first_ms != 0 && now - f->first_ms < API_AUTH_WINDOW_MS);
}

/* The entry of key, or NULL; with make, a new one when there is none: a
   free entry, else the one idle longest among those not refusing, else the
   one whose refusal ends first. */
static api_authfail_t *
s_authfail(api_t *api, const uint8_t *key, int64_t now, bool make)
{
	api_authfail_t *f, *pick = NULL;
	int64_t score, best = INT64_MAX;
	size_t i;

	for (i = 0; i < API_AUTH_SLOTS; i++) {
		f = &api->authfails[i];
		if (!s_authfail_live(f, now))
			score = INT64_MIN;
		else if (memcmp(f->addr, key, 16) == 0)
			return f;
		else
			score = f->until_ms > now ? INT64_MAX / 2 + f->until_ms : f->last_ms;
		if (score < best) {
			best = score;
			pick = f;
		}
	}
	if (!make || pick == NULL)
		return NULL;
	memset(pick, 0, sizeof(*pick));
	memcpy(pick->addr, key, 16);
	return pick;
}

/* Seconds until conn's address may change anything again; 0: now. */
static unsigned
s_auth_refused_s(api_t *api, struct MHD_Connection *conn)
{
	uint8_t key[16];
	int64_t now = clock_ms();
	api_authfail_t *f;

	s_peer_key(conn, key);
	if ((f = s_authfail(api, key, now, false)) == NULL || f->until_ms <= now)
		return 0;
	return (unsigned)((f->until_ms - now + 999) / 1000);
}

/* Counts a bad token from conn's address; the API_AUTH_FAILS-th within the
   window starts its refusal, said once in the log. */
static void
s_auth_failed(api_t *api, struct MHD_Connection *conn)
{
	static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	uint8_t key[16];
	char addr[INET6_ADDRSTRLEN + 4] = "?";
	int64_t now = clock_ms();
	api_authfail_t *f;

	s_peer_key(conn, key);
	if ((f = s_authfail(api, key, now, true)) == NULL)
		return;
	if (f->first_ms == 0 || now - f->first_ms >= API_AUTH_WINDOW_MS) {
		f->first_ms = now;
		f->fails = 0;
	}
	f->last_ms = now;
	if (++f->fails < API_AUTH_FAILS)
		return;
	f->until_ms = now + API_AUTH_BLOCK_MS;
	f->first_ms = 0;
	f->fails = 0;
	if (memcmp(key, v4mapped, sizeof(v4mapped)) == 0)
		inet_ntop(AF_INET, key + 12, addr, sizeof(addr));
	else if (inet_ntop(AF_INET6, key, addr, INET6_ADDRSTRLEN) != NULL)
		strcat(addr, "/64");
	log_warn("http: %d bad tokens from %s within %d s: its changes are refused for %d s",
		 API_AUTH_FAILS, addr, API_AUTH_WINDOW_MS / 1000, API_AUTH_BLOCK_MS / 1000);
}

/* A good token: the bad ones of its address before are forgotten. */
static void
s_auth_passed(api_t *api, struct MHD_Connection *conn)
{
	uint8_t key[16];
	api_authfail_t *f;

	s_peer_key(conn, key);
	if ((f = s_authfail(api, key, clock_ms(), false)) != NULL)
		memset(f, 0, sizeof(*f));
}

/* A browser page from another origin must not drive droverd (CSRF): a
   mutating request that carries an Origin must come from the API's own host. */
static bool
s_origin_ok(struct MHD_Connection *conn)
{
	const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
	const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host");
	const char *p;

	if (origin == NULL)
		return true;
	if (host == NULL || (p = strstr(origin, "://")) == NULL)
		return false;
	return strcmp(p + 3, host) == 0;
}

static enum MHD_Result
s_send(struct MHD_Connection *conn, api_reply_t *r)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(r->len, r->body, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(r->body);
		return MHD_NO;
	}
	r->body = NULL;
	MHD_add_response_header(resp, "Content-Type", r->type ? r->type : "application/json");
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (r->allow)
		MHD_add_response_header(resp, "Allow", r->allow);
	if (r->status == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(resp, "WWW-Authenticate", "Bearer realm=\"droverd\"");
	if (r->retry_after_s > 0) {
		char s[16];

		snprintf(s, sizeof(s), "%u", r->retry_after_s);
		MHD_add_response_header(resp, "Retry-After", s);
	}
	ret = MHD_queue_response(conn, r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result
s_dispatch(api_t *api, struct MHD_Connection *conn, const char *url, const char *method,
	   api_req_t *req)
{
	api_reply_t r = {0};
	bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	enum MHD_Result ret;

	if (req->uri_too_long) {
		api_reply_error(&r, 414, "uri_too_long", "request target longer than %d bytes",
				API_MAX_URI);
		return s_send(conn, &r);
	}
	if (req->too_many_args) {
		api_reply_error(&r, 400, "bad_request", "more than %d query arguments",
				API_MAX_ARGS);
		return s_send(conn, &r);
	}
	if (req->bad_path) {
		api_reply_error(&r, 400, "bad_request",
				"a name cannot hold a NUL or a '/' (%%00, %%2F)");
		return s_send(conn, &r);
	}
	if (req->too_big) {
		api_reply_error(&r, 413, "too_large", "request body larger than %d bytes",
				API_MAX_BODY);
		return s_send(conn, &r);
	}
	if (api_web_serve(api, conn, url, method, &ret))
		return ret; /* the dashboard (web.c) */
	if (strcmp(url, "/metrics") == 0) {
		if (!get) {
			r.allow = "GET, HEAD";
			api_reply_error(&r, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed",
					"%s is not allowed on /metrics", method);
		} else {
			r.status = MHD_HTTP_OK;
			r.body = api_metrics_text(api, &r.len);
			r.type = "text/plain; version=0.0.4; charset=utf-8";
			if (r.body == NULL)
				api_reply_error(&r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
						"out of memory");
		}
		return s_send(conn, &r);
	}
	if (strncmp(url, "/api/v1/", 8) != 0 && strcmp(url, "/api/v1") != 0) {
		api_reply_error(&r, MHD_HTTP_NOT_FOUND, "not_found", "no such path: %s", url);
		return s_send(conn, &r);
	}
	url += 7;
	if (strcmp(url, "/events") == 0) {
		if (!get) {
			r.allow = "GET";
			api_reply_error(&r, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed",
					"%s is not allowed on /api/v1/events", method);
			return s_send(conn, &r);
		}
		return s_sse_open(api, conn);
	}
	if (api_route_mutates(method)) {
		if (!s_origin_ok(conn)) {
			api_reply_error(&r, MHD_HTTP_FORBIDDEN, "forbidden",
					"cross-origin requests may not change anything");
			return s_send(conn, &r);
		}
		if ((r.retry_after_s = s_auth_refused_s(api, conn)) > 0) {
			api_reply_error(&r, MHD_HTTP_TOO_MANY_REQUESTS, "too_many_requests",
					"too many bad tokens from this address: try again in %u s",
					r.retry_after_s);
			return s_send(conn, &r);
		}
		if (!s_token_ok(api, conn)) {
			if (MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization") !=
			    NULL)
				s_auth_failed(api, conn);
			api_reply_error(&r, MHD_HTTP_UNAUTHORIZED, "unauthorized",
					"this call needs \"Authorization: Bearer <token>\" "
					"with droverd's token");
			return s_send(conn, &r);
		}
		if (api->token != NULL)
			s_auth_passed(api, conn);
	}
	if (!api_history_route(api, method, url, &r))
		api_route(api, conn, method, url, req, &r);
	if (r.status == 0) { /* answered later, by api_req_answer() */
		req->suspended = true;
		req->wprev = NULL;
		req->wnext = api->waiting;
		if (req->wnext != NULL)
			req->wnext->wprev = req;
		api->waiting = req;
		MHD_suspend_connection(conn);
		return MHD_YES;
	}
	return s_send(conn, &r);
}

static void
s_unwait(api_t *api, api_req_t *req)
{
	if (!req->suspended)
		return;
	if (req->wprev != NULL)
		req->wprev->wnext = req->wnext;
	else
		api->waiting = req->wnext;
	if (req->wnext != NULL)
		req->wnext->wprev = req->wprev;
	req->suspended = false;
}

void
api_req_answer(api_t *api, api_req_t *req, api_reply_t *r)
{
	s_unwait(api, req);
	req->reply = *r;
	req->answered = true;
	MHD_resume_connection(req->conn);
	s_kick(api);
}

/* MHD_OPTION_URI_LOG_CALLBACK: the request target as it came, before MHD
   decodes it and parses its query. Returns the request's state (con_cls).
   MHD 0.9.75 never answers a request whose query arguments outgrow the
   connection's memory pool (it hangs until the timeout), so a query over
   API_MAX_ARGS or API_MAX_URI is cut off here, before MHD parses it, and
   the request refused. A %00 (anywhere) or %2F (in the path) would decode to
   a byte that ends or splits a name: refused as well. */
static void *
s_on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	api_req_t *req = calloc(1, sizeof(*req));
	size_t len = strlen(uri), path_len = strcspn(uri, "?"), args = 0, i;
	char *q;

	if (req == NULL)
		return NULL;
	req->conn = conn;
	for (i = 0; i + 2 < len; i++) {
		if (uri[i] != '%')
			continue;
		if ((uri[i + 1] == '0' && uri[i + 2] == '0') ||
		    (i < path_len && uri[i + 1] == '2' && (uri[i + 2] == 'f' || uri[i + 2] == 'F')))
			req->bad_path = true;
	}
	for (i = path_len; i < len; i++)
		args += uri[i] == '&' || uri[i] == '?';
	req->uri_too_long = len > API_MAX_URI;
	req->too_many_args = args > API_MAX_ARGS;
	if ((req->uri_too_long || req->too_many_args) && (q = memchr(uri, '?', len)) != NULL)
		q[1] = '\0'; /* the query MHD is about to parse: none */
	return req;
}

static enum MHD_Result
s_on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
	     const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	api_t *api = cls;
	api_req_t *req = *con_cls;
	api_conn_t *ac;

	if (req == NULL) {
		if ((req = calloc(1, sizeof(*req))) == NULL)
			return MHD_NO;
		req->conn = conn;
		*con_cls = req;
	}
	if (!req->started) {
		req->started = true;
		return MHD_YES;
	}
	if (req->answered) { /* resumed with the answer of a remote command */
		req->answered = false;
		return s_send(conn, &req->reply);
	}
	if (*upload_data_size > 0) {
		if (!req->too_big && req->len + *upload_data_size <= API_MAX_BODY) {
			char *nb = realloc(req->body, req->len + *upload_data_size + 1);

			if (nb == NULL)
				return MHD_NO;
			req->body = nb;
			memcpy(req->body + req->len, upload_data, *upload_data_size);
			req->len += *upload_data_size;
			req->body[req->len] = '\0';
		} else {
			req->too_big = true; /* read and drop the rest */
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	/* The whole request is in: it is being answered now, and may take
	   longer than a request head may. */
	if ((ac = s_conn_of(conn)) != NULL)
		ac->busy = true;
	MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT,
				  (unsigned)API_IDLE_TIMEOUT_S);
	return s_dispatch(api, conn, url, method, req);
}

static void
s_on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
	       enum MHD_RequestTerminationCode toe)
{
	api_req_t *req = *con_cls;
	api_conn_t *ac = s_conn_of(conn);

	if (req != NULL) {
		if (req->suspended && req->api_owner != NULL)
			s_unwait(req->api_owner, req);
		api_wait_forget(req); /* a command still in flight answers no one */
		free(req->body);
		if (req->answered)
			free(req->reply.body);
		free(req);
		*con_cls = NULL;
	}
	if (ac != NULL) {
		ac->busy = false;
		if (ac->peer_closed)
			s_conn_drop(ac); /* it hung up while we answered */
	}
}

/* ---- connections ---- */

/* Ends a connection from outside MHD: shutting its socket down wakes MHD's
   epoll with a hang-up, and MHD closes it on its next run. */
static void
s_conn_drop(api_conn_t *ac)
{
	if (ac->dropping)
		return;
	ac->dropping = true;
	ac->api->n_conns--;
	shutdown(ac->fd, SHUT_RDWR);
	if (ac->sse != NULL) {
		ac->sse->closed = true;
		s_sse_wake(ac->sse);
	}
	s_kick(ac->api);
}

static void
s_on_hangup(ev_t *ev, ev_io_t *io, uint32_t events)
{
	api_conn_t *ac = io->arg;

	if (ac->peer_closed)
		return;
	ac->peer_closed = true;
	/* A request being answered keeps its connection until the answer is
	   out (s_on_completed); an event stream has no one left to read it. */
	if (!ac->busy || ac->sse != NULL)
		s_conn_drop(ac);
}

/* Near the limit, the oldest connection that is not being answered (an
   idle keep-alive, or a request head still coming) makes room: whoever holds
   many connections open cannot take the last ones. */
static void
s_conn_evict(api_t *api)
{
	api_conn_t *ac;

	for (ac = api->conns; ac != NULL; ac = ac->next)
		if (!ac->busy && !ac->dropping) {
			s_conn_drop(ac);
			return;
		}
}

static void
s_on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
		enum MHD_ConnectionNotificationCode code)
{
	api_t *api = cls;
	api_conn_t *ac = *socket_context;
	const union MHD_ConnectionInfo *info;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (info == NULL || (ac = calloc(1, sizeof(*ac))) == NULL)
			return;
		ac->api = api;
		ac->fd = info->connect_fd;
		if (ev_io_start(api->ev, &ac->io, ac->fd, EPOLLRDHUP | EPOLLET, s_on_hangup, ac) !=
		    0) {
			free(ac);
			return;
		}
		ac->prev = api->conns_tail;
		if (ac->prev != NULL)
			ac->prev->next = ac;
		else
			api->conns = ac;
		api->conns_tail = ac;
		*socket_context = ac;
		if (++api->n_conns > api->conn_limit - api->conn_reserve)
			s_conn_evict(api);
		return;
	}
	/* MHD_CONNECTION_NOTIFY_CLOSED: MHD closes the socket right after. */
	if (ac == NULL)
		return;
	ev_io_stop(api->ev, &ac->io);
	if (ac->prev != NULL)
		ac->prev->next = ac->next;
	else
		api->conns = ac->next;
	if (ac->next != NULL)
		ac->next->prev = ac->prev;
	else
		api->conns_tail = ac->prev;
	if (!ac->dropping)
		api->n_conns--;
	if (ac->sse != NULL)
		ac->sse->ac = NULL;
	*socket_context = NULL;
	ev_free_later(api->ev, ac, free);
}

/* ---- life ---- */

/* A process changed in the view: a "process" event, built only when
   someone listens. */
static void
s_on_view(void *ctx, const view_proc_t *p, bool removed, uint64_t seq)
{
	api_t *api = ctx;
	json_t *o;

	(void)seq;
	if (api_subscribers(api) == 0)
		return;
	o = view_proc_json(p);
	if (removed)
		json_object_set_new(o, "removed", json_true());
	api_publish(api, "process", o);
}

/* ---- upgrade in place ---- */

/* What the previous droverd handed over (api_export()): its listening
   socket and its events, so that a subscriber that comes back with
   Last-Event-ID misses nothing. */
static void
s_inherit(api_t *api, json_t *in)
{
	json_t *replay = json_object_get(in, "replay"), *e;
	json_int_t fd = json_integer_value(json_object_get(in, "listen_fd"));
	const char *text;
	char *copy;
	size_t i;

	api->listen_fd = (int)fd;
	fcntl(api->listen_fd, F_SETFD, FD_CLOEXEC);
	api->event_id = (uint64_t)json_integer_value(json_object_get(in, "event_id"));
	api->started = json_real_value(json_object_get(in, "started"));
	api->started_ms = json_integer_value(json_object_get(in, "started_ms"));
	api->upgrades = (unsigned)json_integer_value(json_object_get(in, "upgrades")) + 1;
	api->record_until_ms = clock_ms() + API_SSE_REPLAY_MS;
	json_array_foreach (replay, i, e) {
		text = json_string_value(json_array_get(e, 1));
		if (text == NULL || (copy = strdup(text)) == NULL)
			continue;
		s_replay_keep(api, (uint64_t)json_integer_value(json_array_get(e, 0)), copy,
			      strlen(copy));
	}
}

/* Answers what waits and ends the streams, as api_destroy() does, but
   keeps serving. */
static void
s_finish_all(api_t *api, const char *why)
{
	api_sse_t *c;
	int i;

	while (api->waiting != NULL) {
		api_req_t *req = api->waiting;
		api_reply_t r = {0};

		api_wait_forget(req);
		api_reply_error(&r, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "%s", why);
		api_req_answer(api, req, &r);
	}
	for (c = api->subscribers; c != NULL; c = c->next) {
		c->closed = true;
		s_sse_wake(c);
	}
	for (i = 0; i < 20 && (api->subscribers != NULL || i == 0); i++) {
		MHD_run(api->mhd);
		for (c = api->subscribers; c != NULL; c = c->next)
			s_sse_wake(c);
	}
}

json_t *
api_export(api_t *api, void (*keep)(void *ctx, int fd), void *ctx)
{
	const union MHD_DaemonInfo *info =
	    MHD_get_daemon_info(api->mhd, MHD_DAEMON_INFO_LISTEN_FD);
	json_t *o, *replay = json_array();
	size_t i, k;

	if (info == NULL || replay == NULL) {
		json_decref(replay);
		return NULL;
	}
	s_finish_all(api, "droverd is upgrading; ask again in a moment");
	for (i = 0; i < api->replay_n; i++) {
		k = (api->replay_head + i) % API_SSE_REPLAY;
		json_array_append_new(replay,
				      json_pack("[I, s%]", (json_int_t)api->replay[k].id,
						api->replay[k].text, api->replay[k].len));
	}
	o = json_pack("{s:I, s:I, s:f, s:I, s:I, s:o}", "listen_fd", (json_int_t)info->listen_fd,
		      "event_id", (json_int_t)api->event_id, "started", api->started, "started_ms",
		      (json_int_t)api->started_ms, "upgrades", (json_int_t)api->upgrades, "replay",
		      replay);
	if (o != NULL)
		keep(ctx, info->listen_fd);
	return o;
}

api_t *
api_new(ev_t *ev, view_t *view, const api_config_t *cfg, const api_hooks_t *hooks, void *ctx,
	char **err)
{
	api_t *api;
	const union MHD_DaemonInfo *info;

	*err = NULL;
	if ((api = calloc(1, sizeof(*api))) == NULL) {
		*err = strdup("out of memory");
		return NULL;
	}
	api->ev = ev;
	{
		/* The API may take a quarter of the descriptors at most: however
		   many clients come, the workers' pipes and files still open. */
		struct rlimit rl;
		rlim_t quarter = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? rl.rlim_cur / 4 : 256;

		api->conn_limit = quarter < API_CONN_LIMIT ? (unsigned)quarter : API_CONN_LIMIT;
		if (api->conn_limit < 16)
			api->conn_limit = 16;
		api->conn_reserve = api->conn_limit / 10 < API_CONN_RESERVE ? api->conn_limit / 10
									    : API_CONN_RESERVE;
		if (api->conn_reserve == 0)
			api->conn_reserve = 1;
	}
	api->view = view;
	api->ctx = ctx;
	api->listen_fd = -1;
	if (hooks != NULL)
		api->hooks = *hooks;
	api->listen = strdup(cfg->listen ? cfg->listen : "127.0.0.1:9170");
	api->token = cfg->token && *cfg->token ? strdup(cfg->token) : NULL;
	api->config_file = strdup(cfg->config_file ? cfg->config_file : "");
	api->name = strdup(cfg->name ? cfg->name : "");
	api->web_root = cfg->web_root ? strdup(cfg->web_root) : NULL;
	api->started = clock_wall();
	api->started_ms = clock_ms();
	if (cfg->inherit != NULL) {
		s_inherit(api, cfg->inherit);
	} else if ((api->listen_fd = net_listen(api->listen, "http.listen", api->token == NULL,
						API_NO_TOKEN_WHY, err)) < 0) {
		goto fail;
	}
	api->mhd = MHD_start_daemon(
	    MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0, NULL, NULL,
	    s_on_request, api, MHD_OPTION_EXTERNAL_LOGGER, s_mhd_log, api, MHD_OPTION_LISTEN_SOCKET,
	    api->listen_fd, MHD_OPTION_CONNECTION_LIMIT, api->conn_limit,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)API_HEADER_TIMEOUT_S,
	    MHD_OPTION_URI_LOG_CALLBACK, s_on_uri, api, MHD_OPTION_NOTIFY_CONNECTION,
	    s_on_connection, api, MHD_OPTION_NOTIFY_COMPLETED, s_on_completed, api, MHD_OPTION_END);
	if (api->mhd == NULL) {
		*err = str_printf("http.listen %s: the HTTP server did not start", api->listen);
		goto fail;
	}
	api->listen_fd = -1; /* MHD closes it when it stops */
	info = MHD_get_daemon_info(api->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (info == NULL ||
	    ev_io_start(ev, &api->mhd_io, info->epoll_fd, EPOLLIN, s_on_mhd_io, api) != 0) {
		*err = strdup("http: cannot watch the HTTP server's epoll fd");
		goto fail;
	}
	if (view_listen(view, s_on_view, api) != 0) {
		*err = strdup("http: cannot follow the process view");
		goto fail;
	}
	s_arm(api);
	return api;
fail:
	api_destroy(&api);
	return NULL;
}

void
api_destroy(api_t **apip)
{
	api_t *api;

	if (apip == NULL || (api = *apip) == NULL)
		return;
	if (api->mhd != NULL) {
		/* MHD must not be stopped with suspended connections: answer every
		   request that waits for another host, end every stream, let MHD
		   finish them, then stop. */
		s_finish_all(api, "droverd is stopping");
		if (api->subscribers != NULL) {
			MHD_socket fd = MHD_quiesce_daemon(api->mhd);

			if (fd != MHD_INVALID_SOCKET)
				close(fd);
		}
		ev_io_stop(api->ev, &api->mhd_io);
		MHD_stop_daemon(api->mhd);
	}
	ev_timer_stop(api->ev, &api->run_timer);
	ev_timer_stop(api->ev, &api->ping_timer);
	if (api->listen_fd >= 0)
		close(api->listen_fd);
	if (api->token != NULL) {
		explicit_bzero(api->token, strlen(api->token));
		free(api->token);
	}
	free(api->listen);
	free(api->config_file);
	free(api->name);
	free(api->web_root);
	for (size_t k = 0; k < api->replay_n; k++)
		free(api->replay[(api->replay_head + k) % API_SSE_REPLAY].text);
	free(api);
	*apip = NULL;
}
