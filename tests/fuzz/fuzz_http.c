/* fuzz_http: the HTTP API (api/), in process and whole: a real api_t on an
   ev loop, serving a view of four processes (two groups, one process on an
   agent) whose owner answers commands at once (local) or later (remote, as
   the hub does), with hooks for reload, queues, agents and metrics. The
   input is one request: a method, a target (a path under one of the API's
   prefixes, and a query), which headers to send (the token, a wrong one, an
   Origin) and a body. The harness hands MHD one end of a socket pair as a
   new connection (as if accepted from 127.0.0.1), sends the request on the
   other and runs the loop until the answer is complete; a /events stream
   gets one event and is then closed by the client.

   Every request must get an answer (within seconds: a request that gets
   none is a finding), a JSON answer must be JSON, no answer is a 500, and
   the connection must be released once the client has closed it. */
#include "fuzz.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api_internal.h"
#include "clock.h"
#include "ev.h"
#include "log.h"
#include "view.h"

#define TOKEN "fuzz-token"
#define MAX_LATER 16

static ev_t *s_ev;
static view_t *s_view;
static api_t *s_api;
static struct sockaddr_in s_addr;
static char s_log_path[64];
static int s_reloads;

/* ---- the owner: commands end at once (local) or on the next loop pass
   (remote) ---- */

typedef struct {
	ev_timer_t timer;
	bool used;
	view_done_fn done;
	view_logs_fn logs;
	void *arg;
	int rc;
	json_t *reply;
} s_later_t;

static s_later_t s_later[MAX_LATER];
static size_t s_n_later;

static void
s_on_later(ev_t *ev, ev_timer_t *t)
{
	s_later_t *l = t->arg;

	l->used = false;
	s_n_later--;
	if (l->logs != NULL)
		l->logs(l->arg, l->rc, l->reply, l->reply ? NULL : "agent node-1 lost");
	else
		l->done(l->arg, l->rc, l->rc ? "no answer from agent node-1" : NULL);
}

static void
s_answer_later(view_done_fn done, view_logs_fn logs, void *arg, int rc, json_t *reply)
{
	size_t i;

	for (i = 0; i < MAX_LATER && s_later[i].used; i++)
		;
	FUZZ_CHECK(i < MAX_LATER); /* one request at a time: never more than one */
	s_later[i] = (s_later_t){.used = true, .done = done, .logs = logs, .arg = arg, .rc = rc,
				 .reply = reply};
	s_n_later++;
	ev_timer_start(s_ev, &s_later[i].timer, clock_ms(), s_on_later, &s_later[i]);
}

static bool
s_remote(const view_proc_t *p)
{
	return p->host != NULL && strcmp(p->host, VIEW_HOST_LOCAL) != 0;
}

static void
s_proc_cmd(void *ctx, const view_proc_t *p, const char *cmd, int sig, view_done_fn done,
	   void *arg)
{
	int rc = 0;

	if (strcmp(cmd, "start") == 0 && p->state == PROC_RUNNING)
		rc = -EALREADY;
	else if (strcmp(cmd, "signal") == 0 && p->pid == 0)
		rc = -ESRCH;
	if (s_remote(p))
		s_answer_later(done, NULL, arg, sig == 9 ? -ETIMEDOUT : rc, NULL);
	else
		done(arg, rc, NULL);
}

static void
s_group_cmd(void *ctx, const char *group, const char *cmd, long n, view_done_fn done, void *arg)
{
	if (view_group(s_view, group) == NULL)
		done(arg, -ENOENT, NULL);
	else if (strcmp(group, "db") == 0) /* on an agent */
		s_answer_later(done, NULL, arg, n == 7 ? -ETIMEDOUT : 0, NULL);
	else if (strcmp(cmd, "scale") == 0 && n > 5000)
		done(arg, -EINVAL, "more than this fuzzer's group may have");
	else
		done(arg, 0, NULL);
}

static const char *
s_log_path_of(void *ctx, const view_proc_t *p, const char *stream)
{
	return !s_remote(p) && strcmp(stream, "stdout") == 0 ? s_log_path : NULL;
}

static void
s_logs(void *ctx, const view_proc_t *p, json_t *query, view_logs_fn done, void *arg)
{
	json_t *reply = json_integer_value(json_object_get(query, "tail")) == 3
			    ? NULL
			    : json_pack("{s:s, s:[s]}", "name", p->name, "lines", "remote line");

	json_decref(query);
	s_answer_later(NULL, done, arg, reply ? 200 : 0, reply);
}

/* ---- droverd's hooks ---- */

static int
s_reload(void *ctx, char **errors)
{
	if (++s_reloads % 2)
		return 0;
	*errors = strdup("drover.yaml:3:5: groups.web.restart: expected always|on-failure|never\n"
			 "drover.yaml:9:1: groups.db: no command\n");
	return -1;
}

static json_t *
s_queues(void *ctx)
{
	return json_pack("[{s:s, s:i, s:i, s:i, s:b, s:i, s:i, s:i}]", "name", "tasks", "size", 3,
			 "capacity", 100, "in_flight", 1, "durable", 1, "put_total", 9,
			 "get_total", 6, "consumers", 2);
}

static json_t *
s_agents(void *ctx)
{
	return json_pack("[{s:s, s:s}]", "name", "node-1", "state", "CONNECTED");
}

static json_t *
s_agent(void *ctx, const char *name)
{
	return strcmp(name, "node-1") == 0 ? json_pack("{s:s}", "name", name) : NULL;
}

static char *
s_metrics(void *ctx)
{
	return strdup("# HELP drover_queue_depth Messages ready.\n"
		      "# TYPE drover_queue_depth gauge\ndrover_queue_depth{queue=\"tasks\"} 3\n");
}

static void
s_put(const char *name, const char *group, unsigned instance, const char *host,
      proc_state_t state, int pid)
{
	view_proc_t p = {.name = name,
			 .group = group,
			 .instance = instance,
			 .host = host,
			 .state = state,
			 .pid = pid,
			 .since = 1732390000.25,
			 .exit_code = -1,
			 .cpu_seconds = 0.5,
			 .rss_bytes = 1 << 20};

	FUZZ_CHECK(view_put(s_view, &p) >= 0);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const view_owner_t owner = {.proc_cmd = s_proc_cmd,
					   .group_cmd = s_group_cmd,
					   .log_path = s_log_path_of,
					   .logs = s_logs};
	static const api_hooks_t hooks = {.reload = s_reload,
					  .queues = s_queues,
					  .agents = s_agents,
					  .agent = s_agent,
					  .metrics = s_metrics};
	api_config_t cfg = {.listen = "127.0.0.1:0",
			    .token = TOKEN,
			    .config_file = "/etc/drover/drover.yaml",
			    .name = "fuzz"};
	const union MHD_DaemonInfo *info;
	socklen_t len = sizeof(s_addr);
	char *err = NULL, rotated[80];
	FILE *f;
	int i;

	log_set_level(DLOG_ERROR);
	/* A captured stdout with a rotated file before it, for the logs call. */
	snprintf(s_log_path, sizeof(s_log_path), "/tmp/drover-fuzz-http-%d.out", (int)getpid());
	snprintf(rotated, sizeof(rotated), "%s.1", s_log_path);
	FUZZ_CHECK((f = fopen(rotated, "w")) != NULL);
	fputs("old line 1\nold line 2\n", f);
	fclose(f);
	FUZZ_CHECK((f = fopen(s_log_path, "w")) != NULL);
	for (i = 0; i < 50; i++)
		fprintf(f, "line %d \x1b[31mred\x1b[0m \xff\xfe\n", i);
	fputs("a partial line", f);
	fclose(f);

	FUZZ_CHECK((s_ev = ev_new()) != NULL);
	FUZZ_CHECK((s_view = view_new(&owner, NULL)) != NULL);
	view_set_groups(s_view, json_pack("[{s:s, s:i}, {s:s, s:i}]", "name", "web", "instances",
					  2, "name", "db", "instances", 2));
	s_put("web:0", "web", 0, VIEW_HOST_LOCAL, PROC_RUNNING, 4242);
	s_put("web:1", "web", 1, VIEW_HOST_LOCAL, PROC_STOPPED, 0);
	s_put("db:0", "db", 0, "node-1", PROC_RUNNING, 77);
	s_put("db:1", "db", 1, "node-1", PROC_UNKNOWN, 0);
	s_api = api_new(s_ev, s_view, &cfg, &hooks, NULL, &err);
	if (s_api == NULL)
		fprintf(stderr, "fuzz_http: %s\n", err);
	FUZZ_CHECK(s_api != NULL);
	info = MHD_get_daemon_info(s_api->mhd, MHD_DAEMON_INFO_LISTEN_FD);
	FUZZ_CHECK(info != NULL);
	FUZZ_CHECK(getsockname(info->listen_fd, (struct sockaddr *)&s_addr, &len) == 0);
	return 0;
}

/* ---- the request ---- */

typedef struct {
	char *p;
	size_t len, cap;
} s_buf_t;

static void
s_add(s_buf_t *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		FUZZ_CHECK((b->p = realloc(b->p, b->cap)) != NULL);
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
s_adds(s_buf_t *b, const char *s)
{
	s_add(b, s, strlen(s));
}

/* Bytes into a request target: what may stand there as it is does, the
   rest is percent-encoded (so "%00" and "%2F" come only as the fuzzer
   writes them, and a raw byte never breaks the request line). */
static void
s_add_target(s_buf_t *b, const uint8_t *p, size_t n, bool query)
{
	static const char keep[] = "-._~!$'()*+,;:@%/=";
	char enc[4];
	size_t i;

	for (i = 0; i < n; i++) {
		if ((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') ||
		    (p[i] >= '0' && p[i] <= '9') || (p[i] != 0 && strchr(keep, p[i]) != NULL) ||
		    (query && (p[i] == '&' || p[i] == '?'))) {
			s_add(b, &p[i], 1);
		} else {
			snprintf(enc, sizeof(enc), "%%%02X", p[i]);
			s_add(b, enc, 3);
		}
	}
}

static const char *const s_methods[] = {"GET", "POST", "PUT", "HEAD", "DELETE", "OPTIONS",
					"PATCH", "get"};
static const char *const s_prefixes[] = {"/api/v1/processes/", "/api/v1/groups/", "/api/v1/",
					 "/api/v1/processes/web:0/", "/api/v1/groups/web/",
					 "/api/v1/processes/db:0/", "/api/v1/groups/db/",
					 "/api/v1/agents/", "/", "/metrics", "/api/v1/events",
					 "/api/v1/processes/web:0/logs", "/api/v1/reload",
					 "/api/v1/status", "/api/v1/queues", "/api/v1"};
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static void
s_build(s_buf_t *req, fuzz_in_t *in, bool *head)
{
	uint8_t m = fuzz_u8(in), pre = fuzz_u8(in), hdrs = fuzz_u8(in);
	const uint8_t *path, *query;
	size_t path_len = fuzz_field(in, &path), query_len = fuzz_field(in, &query);
	const char *method = s_methods[m % N_OF(s_methods)];
	char line[128];

	*head = strcmp(method, "HEAD") == 0;
	s_adds(req, method);
	s_adds(req, " ");
	s_adds(req, s_prefixes[pre % N_OF(s_prefixes)]);
	s_add_target(req, path, path_len, false);
	if (query_len > 0 || (hdrs & 0x10)) {
		s_adds(req, "?");
		s_add_target(req, query, query_len, true);
	}
	s_adds(req, " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
	switch (hdrs & 3) {
	case 1:
		s_adds(req, "Authorization: Bearer " TOKEN "\r\n");
		break;
	case 2:
		s_adds(req, "Authorization: Bearer " TOKEN "x\r\n");
		break;
	case 3:
		s_adds(req, "Authorization: bearer   " TOKEN "\r\n");
		break;
	}
	if (hdrs & 4)
		s_adds(req, (hdrs & 8) ? "Origin: http://127.0.0.1\r\n" : "Origin: http://evil\r\n");
	if (hdrs & 0x20)
		s_adds(req, "Content-Type: application/json\r\n");
	if (hdrs & 0x40)
		s_adds(req, "Last-Event-ID: 3\r\n");
	snprintf(line, sizeof(line), "Content-Length: %zu\r\n\r\n", in->n);
	s_adds(req, line);
	s_add(req, in->p, in->n);
}

/* Runs the loop until fn(arg) or the deadline; false when the deadline came. */
static bool
s_pump_until(bool (*fn)(void *), void *arg, int64_t within_ms)
{
	int64_t end = clock_ms() + within_ms;

	while (!fn(arg)) {
		if (clock_ms() > end)
			return false;
		ev_run_once(s_ev, 5);
	}
	return true;
}

typedef struct {
	int fd;
	s_buf_t got;
	bool eof;
	bool sse;
	bool published;
} s_client_t;

static bool
s_read_done(void *arg)
{
	s_client_t *c = arg;
	char buf[65536];
	ssize_t n;

	while ((n = read(c->fd, buf, sizeof(buf))) > 0)
		s_add(&c->got, buf, (size_t)n);
	if (n == 0)
		c->eof = true;
	if (!c->sse && c->got.len > 0 && strstr(c->got.p, "\r\n\r\n") != NULL &&
	    strstr(c->got.p, "text/event-stream") != NULL)
		c->sse = true;
	if (c->sse && !c->published) {
		api_publish(s_api, "config", json_pack("{s:s}", "file", "drover.yaml"));
		c->published = true;
	}
	return c->eof || (c->sse && strstr(c->got.p, "event: config") != NULL);
}

static bool
s_released(void *arg)
{
	return s_api->conns == NULL && s_n_later == 0;
}

/* What came back: one HTTP/1.1 answer; its JSON body, if any, parses. */
static void
s_check(const s_client_t *c, bool head)
{
	const char *body;
	unsigned status;
	json_t *j;

	FUZZ_CHECK(c->got.len > 0);
	if (sscanf(c->got.p, "HTTP/1.1 %u ", &status) != 1 &&
	    sscanf(c->got.p, "HTTP/1.0 %u ", &status) != 1) {
		fprintf(stderr, "not an HTTP answer: %.200s\n", c->got.p);
		FUZZ_CHECK(0);
	}
	if (status >= 500 && status != 501 && status != 504 && status != 505) {
		fprintf(stderr, "answer: %.2000s\n", c->got.p);
		FUZZ_CHECK(status < 500);
	}
	body = strstr(c->got.p, "\r\n\r\n");
	FUZZ_CHECK(body != NULL);
	body += 4;
	if (!head && !c->sse && strstr(c->got.p, "Content-Type: application/json") != NULL) {
		j = json_loadb(body, c->got.len - (size_t)(body - c->got.p), 0, NULL);
		if (j == NULL)
			fprintf(stderr, "not JSON: %.2000s\n", c->got.p);
		FUZZ_CHECK(j != NULL);
		json_decref(j);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_in_t in = {data, size};
	s_buf_t req = {0};
	s_client_t c = {.fd = -1};
	size_t off = 0;
	ssize_t n;
	bool head;
	int sv[2];

	s_build(&req, &in, &head);
	/* A socket pair handed to MHD as an accepted connection: what a TCP
	   client on loopback is, without using up ephemeral ports. */
	FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	c.fd = sv[0];
	FUZZ_CHECK(fcntl(c.fd, F_SETFL, O_NONBLOCK) == 0);
	FUZZ_CHECK(MHD_add_connection(s_api->mhd, sv[1], (struct sockaddr *)&s_addr,
				      sizeof(s_addr)) == MHD_YES);
	while (off < req.len) {
		n = write(c.fd, req.p + off, req.len - off);
		if (n > 0)
			off += (size_t)n;
		else if (n < 0 && errno == EAGAIN)
			ev_run_once(s_ev, 5);
		else
			break; /* answered and closed before all of it was read */
	}
	if (!s_pump_until(s_read_done, &c, 10000)) {
		fprintf(stderr, "no answer within 10 s to:\n%.2000s\ngot:\n%.2000s\n", req.p,
			c.got.p ? c.got.p : "");
		FUZZ_CHECK(0);
	}
	s_check(&c, head);
	close(c.fd);
	if (!s_pump_until(s_released, NULL, 5000)) {
		fprintf(stderr, "connection still held 5 s after the client closed it\n");
		FUZZ_CHECK(0);
	}
	free(req.p);
	free(c.got.p);
	return 0;
}
