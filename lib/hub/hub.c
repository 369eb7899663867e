/* The hub: agents, their sessions, placement, commands and heartbeats. */
#include "hub.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zmq.h>

#include "agent_wire.h"
#include "auth.h"
#include "clock.h"
#include "conf_agent.h"
#include "log.h"
#include "mem.h"
#include "net.h"
#include "prom.h"
#include "secret.h"
#include "str.h"

#define HUB_MAX_RID 256
#define HUB_SERVER_NAME "droverd" /* droverd.cert in keys_dir is the hub's own */
#define HUB_PER_AGENT_HB_US 2000  /* the heartbeat stretches 2 ms per agent beyond 500 */
#define HUB_TRIM_SLACK (2u << 20) /* droverd's growth that a heartbeat gives back */

typedef enum { AG_CONNECTED, AG_LOST } s_ag_state_t;

typedef struct {
	char *name;
	bool session; /* rid names a live session */
	uint8_t rid[HUB_MAX_RID];
	size_t rid_len;
	char address[64];
	char *hostname, *version, *boot_id;
	json_t *labels;
	json_int_t cores, memory;
	s_ag_state_t state;
	double since, last_seen;
	int64_t last_rx_ms, last_tx_ms;
	double rtt_s; /* last heartbeat round trip; < 0: none yet */
	uint64_t generation;
	json_t *sent; /* the groups of the last STATE */
	json_int_t seq;
} s_agent_t;

/* A group placed on agents, with the hub's own copy of its settings. */
typedef struct {
	conf_group_t *cg;
	char **slots; /* labels placement: agent names in the order they matched */
	size_t n_slots;
} s_group_t;

typedef struct s_fan s_fan_t;

/* A command (or a log request) waiting for its acknowledgement. */
typedef struct s_cmd {
	uint64_t id;
	char *agent;
	int64_t deadline_ms;
	view_done_fn done;
	view_logs_fn logs_done;
	void *arg;
	s_fan_t *fan;
	struct s_cmd *next;
} s_cmd_t;

/* A group command sent to several agents: done once all have answered. */
struct s_fan {
	int pending;
	int rc;
	char msg[256];
	view_done_fn done;
	void *arg;
};

struct hub {
	ev_t *ev;
	view_t *view;
	void *ctx;
	void *router;
	int listen_fd; /* the listening socket, ours for the hub's life (ZeroMQ has a dup) */
	auth_zap_t *zap;
	ev_io_t zap_io;
	awire_sock_t *sock;
	void *mon; /* handshakes that fail before ZAP: a wrong server key */
	ev_io_t mon_io;
	int64_t mon_logged_ms;
	unsigned mon_quiet;
	bool mon_failed;	/* the next disconnect is the failed handshake's */
	int64_t mon_unknown_ms; /* a failed client's address was not known since */
	struct {
		int fd;
		char addr[64];
	} peers[64]; /* accepted connections' addresses, by descriptor */
	auth_certs_t *certs;
	char *listen, *keys_dir;
	char *queue_url;
	uint8_t *authkey;
	size_t authkey_len;
	int64_t hb_ms;
	unsigned lost_after;
	s_agent_t **agents;
	size_t n_agents;
	s_group_t *groups;
	size_t n_groups;
	s_cmd_t *cmds;
	uint64_t next_id;
	ev_timer_t tick;
	int64_t next_ping_ms; /* the next heartbeat pass */
	ev_timer_t cmd_timer;
	hub_agent_fn on_agent;
	void *on_agent_ctx;
	uint64_t refused_hello;
};

/* ---- small helpers ---- */

static int64_t
s_hb(const hub_t *h)
{
	int64_t extra =
	    h->n_agents > 500 ? (int64_t)(h->n_agents - 500) * HUB_PER_AGENT_HB_US / 1000 : 0;

	return h->hb_ms + extra;
}

static s_agent_t *
s_agent_find(hub_t *h, const char *name)
{
	size_t i;

	for (i = 0; i < h->n_agents; i++)
		if (strcmp(h->agents[i]->name, name) == 0)
			return h->agents[i];
	return NULL;
}

static s_agent_t *
s_agent_by_rid(hub_t *h, const void *rid, size_t len)
{
	size_t i;

	for (i = 0; i < h->n_agents; i++)
		if (h->agents[i]->session && h->agents[i]->rid_len == len &&
		    memcmp(h->agents[i]->rid, rid, len) == 0)
			return h->agents[i];
	return NULL;
}

static s_group_t *
s_group_find(hub_t *h, const char *name)
{
	size_t i;

	for (i = 0; i < h->n_groups; i++)
		if (strcmp(h->groups[i].cg->name, name) == 0)
			return &h->groups[i];
	return NULL;
}

static void
s_send(hub_t *h, s_agent_t *a, awire_type_t t, json_t *body)
{
	if (!a->session) {
		json_decref(body);
		return;
	}
	if (awire_send(h->sock, a->rid, a->rid_len, t, body) == 0)
		a->last_tx_ms = clock_ms();
}

static void
s_send_rid(hub_t *h, const awire_from_t *from, awire_type_t t, json_t *body)
{
	awire_send(h->sock, from->rid, from->rid_len, t, body);
}

/* ---- placement ---- */

/* Does agent a carry every label of g? */
static bool
s_labels_match(const conf_group_t *g, const s_agent_t *a)
{
	size_t i;
	const char *v;

	if (a->labels == NULL)
		return false;
	for (i = 0; i < g->n_host_labels; i++) {
		v = json_string_value(json_object_get(a->labels, g->host_labels[i].key));
		if (v == NULL || strcmp(v, g->host_labels[i].value) != 0)
			return false;
	}
	return true;
}

/* Where group g puts agent name: the first instance index and the count;
   false when not placed there. Labels placement gives the agent a slot the
   first time it matches, kept for the hub's life, so indices stay with
   their host. */
static bool
s_placed(hub_t *h, s_group_t *g, const char *name, const s_agent_t *a, unsigned *base,
	 unsigned *count)
{
	const conf_group_t *cg = g->cg;
	size_t i;
	char **slots;

	if (cg->n_host_labels > 0) {
		if (a == NULL || !s_labels_match(cg, a))
			return false;
		for (i = 0; i < g->n_slots; i++)
			if (strcmp(g->slots[i], name) == 0)
				break;
		if (i == g->n_slots) {
			if ((slots = realloc(g->slots, (i + 1) * sizeof(*slots))) == NULL)
				return false;
			g->slots = slots;
			if ((g->slots[i] = strdup(name)) == NULL)
				return false;
			g->n_slots++;
		}
		*base = (unsigned)i * cg->per_host;
		*count = cg->per_host;
		return true;
	}
	for (i = 0; i < cg->n_hosts; i++) {
		if (strcmp(cg->hosts[i], name) == 0) {
			*base = (unsigned)i * cg->instances;
			*count = cg->instances;
			return true;
		}
	}
	return false;
}

/* The groups placed on the agent named name, as STATE sends them. */
static json_t *
s_groups_for(hub_t *h, const char *name, const s_agent_t *a)
{
	json_t *list = json_array();
	conf_group_t copy;
	unsigned base, count;
	size_t i;

	for (i = 0; i < h->n_groups; i++) {
		if (!s_placed(h, &h->groups[i], name, a, &base, &count))
			continue;
		copy = *h->groups[i].cg;
		copy.instance_base = base;
		copy.instances = count;
		json_array_append_new(list, awire_group_encode(&copy));
	}
	return list;
}

/* Is the process named pname (group:index) one the agent may report? */
static bool
s_may_report(hub_t *h, s_agent_t *a, const view_proc_t *p)
{
	s_group_t *g = s_group_find(h, p->group);
	unsigned base, count;
	char want[512];

	if (g == NULL || !s_placed(h, g, a->name, a, &base, &count))
		return false;
	snprintf(want, sizeof(want), "%s:%u", p->group, p->instance);
	return strcmp(want, p->name) == 0 && p->instance >= base && p->instance < base + count;
}

/* Sends the agent its desired state when it differs from what it last got. */
static void
s_send_state(hub_t *h, s_agent_t *a, bool always)
{
	json_t *groups = s_groups_for(h, a->name, a), *body;

	if (!always && a->sent != NULL && json_equal(a->sent, groups)) {
		json_decref(groups);
		return;
	}
	json_decref(a->sent);
	a->sent = json_incref(groups);
	a->generation++;
	body = json_pack("{s:I, s:o, s:I, s:i}", "generation", (json_int_t)a->generation, "groups",
			 groups, "heartbeat_ms", (json_int_t)s_hb(h), "lost_after",
			 (int)h->lost_after);
	if (h->queue_url != NULL && h->authkey != NULL) {
		char *b64 = malloc(h->authkey_len * 2 + 8);

		if (b64 != NULL) {
			sodium_bin2base64(b64, h->authkey_len * 2 + 8, h->authkey, h->authkey_len,
					  sodium_base64_VARIANT_ORIGINAL);
			json_object_set_new(
			    body, "queues",
			    json_pack("{s:s, s:s}", "url", h->queue_url, "authkey", b64));
			sodium_memzero(b64, h->authkey_len * 2 + 8);
			free(b64);
		}
	}
	s_send(h, a, AWIRE_STATE, body);
}

/* The view entries of processes on host name. Caller frees the array (not
   the names, which are the view's until it changes). */
static char **
s_names_on(hub_t *h, const char *name, size_t *n)
{
	size_t i, count = view_count(h->view), k = 0;
	char **out = calloc(count + 1, sizeof(*out));
	const view_proc_t *p;

	for (i = 0; out != NULL && i < count; i++) {
		p = view_at(h->view, i);
		if (p->host != NULL && strcmp(p->host, name) == 0)
			out[k++] = strdup(p->name);
	}
	*n = k;
	return out;
}

static void
s_free_names(char **v, size_t n)
{
	size_t i;

	for (i = 0; v != NULL && i < n; i++)
		free(v[i]);
	free(v);
}

/* An instance placed on an agent that is not connected: UNKNOWN, waiting. */
static void
s_placeholders(hub_t *h, const char *name)
{
	unsigned base, count, k;
	char pname[512], err[300];
	view_proc_t p;
	size_t i;

	snprintf(err, sizeof(err), "waiting for agent %s", name);
	for (i = 0; i < h->n_groups; i++) {
		if (h->groups[i].cg->n_host_labels > 0 ||
		    !s_placed(h, &h->groups[i], name, NULL, &base, &count))
			continue;
		for (k = base; k < base + count; k++) {
			snprintf(pname, sizeof(pname), "%s:%u", h->groups[i].cg->name, k);
			if (view_find(h->view, pname) != NULL)
				continue;
			p = (view_proc_t){.name = pname,
					  .group = h->groups[i].cg->name,
					  .instance = k,
					  .host = name,
					  .state = PROC_UNKNOWN,
					  .since = clock_wall(),
					  .exit_code = -1,
					  .cpu_seconds = -1,
					  .rss_bytes = -1,
					  .error = err};
			view_put(h->view, &p);
		}
	}
}

/* Removes the view entries of host name that are no longer placed there. */
static void
s_prune(hub_t *h, s_agent_t *a, const char *name)
{
	size_t n, i;
	char **names = s_names_on(h, name, &n);
	const view_proc_t *p;

	for (i = 0; i < n; i++) {
		if (names[i] == NULL || (p = view_find(h->view, names[i])) == NULL)
			continue;
		if (a == NULL || !s_may_report(h, a, p)) {
			if (a == NULL) {
				s_group_t *g = s_group_find(h, p->group);
				unsigned base, count;

				if (g != NULL && g->cg->n_host_labels == 0 &&
				    s_placed(h, g, name, NULL, &base, &count) &&
				    p->instance >= base && p->instance < base + count)
					continue;
			}
			view_remove(h->view, names[i]);
		}
	}
	s_free_names(names, n);
}

/* Every host named in a placement. */
static void
s_each_named_host(hub_t *h, void (*fn)(hub_t *, const char *))
{
	size_t i, k;

	for (i = 0; i < h->n_groups; i++)
		for (k = 0; k < h->groups[i].cg->n_hosts; k++)
			if (strcmp(h->groups[i].cg->hosts[k], "local") != 0)
				fn(h, h->groups[i].cg->hosts[k]);
}

static void
s_placeholders_if_away(hub_t *h, const char *name)
{
	s_agent_t *a = s_agent_find(h, name);

	if (a == NULL)
		s_placeholders(h, name);
}

/* A host no agent has come from: only the placeholders placed there stay. */
static void
s_prune_if_away(hub_t *h, const char *name)
{
	if (s_agent_find(h, name) == NULL)
		s_prune(h, NULL, name);
}

/* ---- commands ---- */

static void s_arm_cmds(hub_t *h);

static void
s_fan_done(s_fan_t *f, int rc, const char *msg)
{
	if (rc != 0 && f->rc == 0) {
		f->rc = rc;
		snprintf(f->msg, sizeof(f->msg), "%s", msg ? msg : "");
	}
	if (--f->pending == 0) {
		f->done(f->arg, f->rc, f->msg[0] ? f->msg : NULL);
		free(f);
	}
}

/* Ends a command: its callback, then it is freed. */
static void
s_cmd_end(s_cmd_t *c, int rc, const char *msg, int status, json_t *reply)
{
	if (c->logs_done != NULL)
		c->logs_done(c->arg, rc == 0 ? status : 0, rc == 0 ? reply : NULL,
			     rc == 0 ? NULL : msg);
	else if (c->fan != NULL)
		s_fan_done(c->fan, rc, msg);
	else
		c->done(c->arg, rc, msg);
	if (rc != 0 || c->logs_done == NULL)
		json_decref(reply);
	free(c->agent);
	free(c);
}

/* The command (or log request, when logs) waiting under id, taken off the
   list: an answer of the other kind ends nothing. */
static s_cmd_t *
s_cmd_take(hub_t *h, uint64_t id, bool logs)
{
	s_cmd_t **pp, *c;

	for (pp = &h->cmds; (c = *pp) != NULL; pp = &c->next) {
		if (c->id == id && (c->logs_done != NULL) == logs) {
			*pp = c->next;
			return c;
		}
	}
	return NULL;
}

/* Fails every command waiting on agent a (NULL: all). */
static void
s_fail_cmds(hub_t *h, const char *agent, int rc, const char *msg)
{
	s_cmd_t **pp = &h->cmds, *c;

	while ((c = *pp) != NULL) {
		if (agent == NULL || strcmp(c->agent, agent) == 0) {
			*pp = c->next;
			s_cmd_end(c, rc, msg, 0, NULL);
		} else {
			pp = &c->next;
		}
	}
}

static void
s_on_cmd_timer(ev_t *ev, ev_timer_t *t)
{
	hub_t *h = t->arg;
	int64_t now = clock_ms();
	s_cmd_t **pp = &h->cmds, *c;
	char msg[300];

	while ((c = *pp) != NULL) {
		if (c->deadline_ms <= now) {
			*pp = c->next;
			snprintf(msg, sizeof(msg), "agent %s did not answer within %d ms", c->agent,
				 AWIRE_CMD_TIMEOUT_MS);
			s_cmd_end(c, -ETIMEDOUT, msg, 0, NULL);
		} else {
			pp = &c->next;
		}
	}
	s_arm_cmds(h);
}

static void
s_arm_cmds(hub_t *h)
{
	int64_t at = INT64_MAX;
	s_cmd_t *c;

	for (c = h->cmds; c != NULL; c = c->next)
		if (c->deadline_ms < at)
			at = c->deadline_ms;
	if (at == INT64_MAX)
		ev_timer_stop(h->ev, &h->cmd_timer);
	else
		ev_timer_start(h->ev, &h->cmd_timer, at, s_on_cmd_timer, h);
}

/* Sends body (a CMD or LOGREQ without its id) to agent a and waits. On
   failure the callback runs at once. */
static void
s_cmd_send(hub_t *h, s_agent_t *a, awire_type_t t, json_t *body, s_cmd_t *c)
{
	char msg[300];

	if (a == NULL || !a->session || a->state != AG_CONNECTED) {
		snprintf(msg, sizeof(msg), "agent %s is %s", c->agent,
			 a == NULL ? "not connected" : "lost");
		json_decref(body);
		s_cmd_end(c, -EHOSTUNREACH, msg, 0, NULL);
		return;
	}
	c->id = ++h->next_id;
	c->deadline_ms = clock_ms() + AWIRE_CMD_TIMEOUT_MS;
	json_object_set_new(body, "id", json_integer((json_int_t)c->id));
	c->next = h->cmds;
	h->cmds = c;
	s_send(h, a, t, body);
	s_arm_cmds(h);
}

static s_cmd_t *
s_cmd_new(const char *agent, view_done_fn done, view_logs_fn logs_done, void *arg, s_fan_t *fan)
{
	s_cmd_t *c = calloc(1, sizeof(*c));

	if (c == NULL || (c->agent = strdup(agent)) == NULL) {
		free(c);
		return NULL;
	}
	c->done = done;
	c->logs_done = logs_done;
	c->arg = arg;
	c->fan = fan;
	return c;
}

void
hub_proc_cmd(hub_t *h, const view_proc_t *p, const char *cmd, int sig, view_done_fn done, void *arg)
{
	s_cmd_t *c = s_cmd_new(p->host, done, NULL, arg, NULL);

	if (c == NULL) {
		done(arg, -ENOMEM, NULL);
		return;
	}
	s_cmd_send(h, s_agent_find(h, p->host), AWIRE_CMD,
		   json_pack("{s:s, s:s, s:i}", "cmd", cmd, "name", p->name, "signal", sig), c);
}

void
hub_group_cmd(hub_t *h, const char *group, const char *cmd, long n, view_done_fn done, void *arg)
{
	s_group_t *g = s_group_find(h, group);
	s_fan_t *f;
	s_cmd_t *c;
	unsigned base, count;
	size_t i;
	char msg[300];

	if (g == NULL) {
		done(arg, 0, NULL); /* not on any agent: nothing to do here */
		return;
	}
	if (strcmp(cmd, "scale") == 0) {
		/* The count per host changes; each agent gets its new state. */
		if (g->cg->n_host_labels > 0)
			g->cg->per_host = (unsigned)n;
		else
			g->cg->instances = (unsigned)n;
		for (i = 0; i < h->n_agents; i++)
			if (h->agents[i]->session)
				s_send_state(h, h->agents[i], false);
		for (i = 0; i < h->n_agents; i++)
			s_prune(h, h->agents[i], h->agents[i]->name);
		s_each_named_host(h, s_prune_if_away);
		s_each_named_host(h, s_placeholders_if_away);
		done(arg, 0, NULL);
		return;
	}
	if ((f = calloc(1, sizeof(*f))) == NULL) {
		done(arg, -ENOMEM, NULL);
		return;
	}
	f->done = done;
	f->arg = arg;
	f->pending = 1; /* released below, after every send */
	for (i = 0; i < h->n_agents; i++) {
		if (!s_placed(h, g, h->agents[i]->name, h->agents[i], &base, &count))
			continue;
		if ((c = s_cmd_new(h->agents[i]->name, NULL, NULL, NULL, f)) == NULL) {
			s_fan_done(f, -ENOMEM, NULL);
			continue;
		}
		f->pending++;
		s_cmd_send(
		    h, h->agents[i], AWIRE_CMD,
		    json_pack("{s:s, s:s, s:I}", "cmd", cmd, "group", group, "n", (json_int_t)n),
		    c);
	}
	/* A named host no agent has come from: its instances (placeholders)
	   get nothing, which the answer says, as for one of them. */
	for (i = 0; g->cg->n_host_labels == 0 && g->cg->instances > 0 && i < g->cg->n_hosts; i++) {
		if (strcmp(g->cg->hosts[i], "local") != 0 &&
		    s_agent_find(h, g->cg->hosts[i]) == NULL) {
			snprintf(msg, sizeof(msg), "agent %s is not connected", g->cg->hosts[i]);
			f->pending++;
			s_fan_done(f, -EHOSTUNREACH, msg);
		}
	}
	s_fan_done(f, 0, NULL);
}

void
hub_logs(hub_t *h, const view_proc_t *p, json_t *query, view_logs_fn done, void *arg)
{
	s_cmd_t *c = s_cmd_new(p->host, NULL, done, arg, NULL);

	if (c == NULL) {
		json_decref(query);
		done(arg, 0, NULL, "out of memory");
		return;
	}
	json_object_set_new(query, "name", json_string(p->name));
	s_cmd_send(h, s_agent_find(h, p->host), AWIRE_LOGREQ, query, c);
}

/* ---- sessions ---- */

static json_t *s_agent_json(hub_t *h, s_agent_t *a);

static void
s_set_state(hub_t *h, s_agent_t *a, s_ag_state_t st)
{
	if (a->state == st)
		return;
	a->state = st;
	a->since = clock_wall();
	if (h->on_agent != NULL)
		h->on_agent(h->on_agent_ctx, s_agent_json(h, a));
}

/* The agent went silent: LOST, its processes UNKNOWN with their last pid. */
static void
s_lose(hub_t *h, s_agent_t *a, const char *why)
{
	size_t n, i;
	char **names = s_names_on(h, a->name, &n), err[300];
	const view_proc_t *p;
	view_proc_t q;

	log_warn("agent %s at %s: %s", a->name, a->address, why);
	s_set_state(h, a, AG_LOST);
	a->session = false;
	snprintf(err, sizeof(err), "agent %s lost", a->name);
	for (i = 0; i < n; i++) {
		if (names[i] == NULL || (p = view_find(h->view, names[i])) == NULL)
			continue;
		q = *p;
		q.state = PROC_UNKNOWN;
		q.error = err;
		view_put(h->view, &q);
	}
	s_free_names(names, n);
	s_fail_cmds(h, a->name, -EHOSTUNREACH, err);
}

static s_agent_t *
s_agent_new(hub_t *h, const char *name)
{
	s_agent_t *a = calloc(1, sizeof(*a)), **list;

	if (a == NULL || (a->name = strdup(name)) == NULL ||
	    (list = realloc(h->agents, (h->n_agents + 1) * sizeof(*list))) == NULL) {
		if (a)
			free(a->name);
		free(a);
		return NULL;
	}
	h->agents = list;
	h->agents[h->n_agents++] = a;
	a->state = AG_LOST;
	a->rtt_s = -1;
	return a;
}

static void s_refuse(hub_t *h, const awire_from_t *from, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
s_refuse(hub_t *h, const awire_from_t *from, const char *fmt, ...)
{
	char why[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	h->refused_hello++;
	log_warn("agents: refused %s: %s", from->peer ? from->peer : "an agent", why);
	s_send_rid(h, from, AWIRE_REFUSED, json_pack("{s:s}", "reason", why));
}

static void
s_on_hello(hub_t *h, const awire_from_t *from, json_t *b)
{
	const char *name = json_string_value(json_object_get(b, "name"));
	json_int_t proto = json_integer_value(json_object_get(b, "protocol"));
	json_t *procs = json_object_get(b, "processes"), *pj, *seen;
	s_agent_t *a, *old;
	view_proc_t p;
	size_t i, n;
	char **names;
	bool was_lost;

	if (proto != AWIRE_VERSION) {
		s_refuse(h, from, "agent %s speaks protocol version %lld; this droverd speaks %d",
			 name, (long long)proto, AWIRE_VERSION);
		return;
	}
	/* "local" is droverd's own host: an agent of that name would take its
	   processes (keygen makes any name's pair). */
	if (!conf_agent_name_ok(name)) {
		s_refuse(h, from,
			 "\"%s\" cannot be an agent's name (1-64 letters, digits, '-', "
			 "'_' or '.', not \"local\")",
			 name);
		return;
	}
	if (from->user == NULL || strcmp(from->user, name) != 0) {
		s_refuse(h, from, "name %s does not match its key (the key of %s)", name,
			 from->user ? from->user : "no agent");
		return;
	}
	if (!auth_certs_known(h->certs, name)) {
		s_refuse(h, from, "%s.cert is no longer in keys_dir", name);
		return;
	}
	if (from->rid_len > HUB_MAX_RID)
		return;
	if ((old = s_agent_by_rid(h, from->rid, from->rid_len)) != NULL &&
	    strcmp(old->name, name) != 0)
		old->session = false;
	if ((a = s_agent_find(h, name)) == NULL && (a = s_agent_new(h, name)) == NULL)
		return;
	was_lost = a->state != AG_CONNECTED || !a->session;
	if (a->session &&
	    (a->rid_len != from->rid_len || memcmp(a->rid, from->rid, a->rid_len) != 0))
		log_info("agent %s: a new session replaces the old one", name);
	memcpy(a->rid, from->rid, from->rid_len);
	a->rid_len = from->rid_len;
	a->session = true;
	snprintf(a->address, sizeof(a->address), "%s", from->peer ? from->peer : "");
	free(a->hostname);
	free(a->version);
	free(a->boot_id);
	a->hostname = strdup(json_string_value(json_object_get(b, "hostname")));
	a->version = strdup(json_string_value(json_object_get(b, "version")));
	a->boot_id = json_is_string(json_object_get(b, "boot_id"))
			 ? strdup(json_string_value(json_object_get(b, "boot_id")))
			 : NULL;
	json_decref(a->labels);
	a->labels = json_incref(json_object_get(b, "labels"));
	a->cores = json_integer_value(json_object_get(b, "cores"));
	a->memory = json_integer_value(json_object_get(b, "memory_bytes"));
	a->seq = json_integer_value(json_object_get(b, "seq"));
	a->last_rx_ms = clock_ms();
	a->last_seen = clock_wall();
	s_set_state(h, a, AG_CONNECTED);
	if (was_lost)
		log_info("agent %s connected from %s (%s, drover-agent %s)", name, a->address,
			 a->hostname ? a->hostname : "?", a->version ? a->version : "?");
	if ((seen = json_object()) == NULL)
		return;
	/* The snapshot replaces whatever was missed (the Clone pattern): what it
	   does not hold does not run there, placeholders included. */
	json_array_foreach(procs, i, pj)
	{
		if (view_proc_from_json(pj, &p) != 0)
			continue;
		p.host = name;
		if (!s_may_report(h, a, &p)) /* it will stop it once it has its state */
			continue;
		view_put(h->view, &p);
		json_object_set_new(seen, p.name, json_true());
	}
	names = s_names_on(h, name, &n);
	for (i = 0; i < n; i++)
		if (names[i] != NULL && json_object_get(seen, names[i]) == NULL)
			view_remove(h->view, names[i]);
	s_free_names(names, n);
	json_decref(seen);
	s_send_state(h, a, true);
}

/* EVENT: the changes of one loop pass of the agent, numbered from seq. */
static void
s_on_event(hub_t *h, s_agent_t *a, json_t *b)
{
	json_int_t seq = json_integer_value(json_object_get(b, "seq"));
	json_t *list = json_object_get(b, "processes"), *pj;
	view_proc_t p;
	size_t i;

	if (a->seq == LLONG_MAX || seq != a->seq + 1 ||
	    seq > LLONG_MAX - (json_int_t)json_array_size(list)) {
		/* Something was missed: a fresh snapshot replaces it all. */
		log_info("agent %s: event %lld after %lld: asking for a snapshot", a->name,
			 (long long)seq, (long long)a->seq);
		s_send(h, a, AWIRE_REGISTER, json_object());
		return;
	}
	a->seq = seq + (json_int_t)json_array_size(list) - 1;
	json_array_foreach(list, i, pj)
	{
		if (view_proc_from_json(pj, &p) != 0)
			continue;
		p.host = a->name;
		if (!s_may_report(h, a, &p))
			continue;
		if (json_is_true(json_object_get(pj, "removed")))
			view_remove(h->view, p.name);
		else
			view_put(h->view, &p);
	}
}

static void
s_on_samples(hub_t *h, s_agent_t *a, json_t *b)
{
	json_t *list = json_object_get(b, "samples"), *s;
	const view_proc_t *p;
	const char *name;
	size_t i;

	json_array_foreach(list, i, s)
	{
		name = json_string_value(json_array_get(s, 0));
		if (name == NULL || !json_is_number(json_array_get(s, 1)) ||
		    !json_is_integer(json_array_get(s, 2)) ||
		    (p = view_find(h->view, name)) == NULL || p->host == NULL ||
		    strcmp(p->host, a->name) != 0)
			continue;
		view_sample(h->view, name, json_number_value(json_array_get(s, 1)),
			    json_integer_value(json_array_get(s, 2)));
	}
}

static void
s_on_msg(void *arg, const awire_from_t *from, awire_type_t t, json_t *b)
{
	hub_t *h = arg;
	s_agent_t *a;
	s_cmd_t *c;
	json_int_t n;

	if (t == AWIRE_HELLO) {
		s_on_hello(h, from, b);
		json_decref(b);
		return;
	}
	if ((a = s_agent_by_rid(h, from->rid, from->rid_len)) == NULL) {
		/* A session we do not know (we restarted, or it was dropped):
		   register again (Majordomo's DISCONNECT). */
		s_send_rid(h, from, AWIRE_REGISTER, json_object());
		json_decref(b);
		return;
	}
	a->last_rx_ms = clock_ms();
	a->last_seen = clock_wall();
	if (a->state != AG_CONNECTED) {
		log_info("agent %s is back", a->name);
		s_set_state(h, a, AG_CONNECTED);
		s_send(h, a, AWIRE_REGISTER, json_object()); /* a snapshot of all */
	}
	switch (t) {
	case AWIRE_EVENT:
		s_on_event(h, a, b);
		break;
	case AWIRE_SAMPLES:
		s_on_samples(h, a, b);
		break;
	case AWIRE_ACK:
		if ((c = s_cmd_take(h, (uint64_t)json_integer_value(json_object_get(b, "id")),
				    false)) != NULL) {
			n = json_integer_value(json_object_get(b, "rc"));
			/* The API takes 0 or -errno, nothing else. */
			s_cmd_end(c, n <= 0 && n > -4096 ? (int)n : -EPROTO,
				  json_string_value(json_object_get(b, "message")), 0, NULL);
			s_arm_cmds(h);
		}
		break;
	case AWIRE_LOGS:
		if ((c = s_cmd_take(h, (uint64_t)json_integer_value(json_object_get(b, "id")),
				    true)) != NULL) {
			n = json_integer_value(json_object_get(b, "status"));
			if (n < 100 || n > 599)
				s_cmd_end(c, -EPROTO, "the agent's answer has no HTTP status", 0,
					  NULL);
			else
				s_cmd_end(c, 0, NULL, (int)n,
					  json_incref(json_object_get(b, "reply")));
			s_arm_cmds(h);
		}
		break;
	case AWIRE_PING:
		s_send(h, a, AWIRE_PONG, json_pack("{s:O}", "t", json_object_get(b, "t")));
		/* The agent measures the round trip of its own pings. */
		if (json_is_integer(json_object_get(b, "rtt_ms")) &&
		    json_integer_value(json_object_get(b, "rtt_ms")) >= 0)
			a->rtt_s =
			    (double)json_integer_value(json_object_get(b, "rtt_ms")) / 1000.0;
		break;
	case AWIRE_PONG:
		/* t is the hub's own clock echoed: no later than now. */
		n = json_integer_value(json_object_get(b, "t"));
		if (n >= 0 && n <= clock_ms())
			a->rtt_s = (double)(clock_ms() - n) / 1000.0;
		break;
	default:
		log_warn("agent %s: unexpected %s: dropped", a->name, awire_type_name(t));
		break;
	}
	json_decref(b);
}

static void
s_on_bad(void *arg, const awire_from_t *from, const char *why)
{
	log_warn("agents: bad message from %s: %s: dropped", from->peer ? from->peer : "an agent",
		 why);
}

/* ---- heartbeats ---- */

/* Once a heartbeat the hub pings every connected agent in one pass, and
   each answers at once: the hub's threads wake for one burst a heartbeat
   rather than once per agent at times of the agents' choosing (100 agents
   pinging on their own clocks woke both of droverd's threads some 200
   times a second). The same pass marks LOST an agent silent for lost_after
   heartbeats; between passes the timer is also armed at the earliest such
   deadline, so LOST is on time. */
static void
s_on_tick(ev_t *ev, ev_timer_t *t)
{
	hub_t *h = t->arg;
	int64_t now = clock_ms(), hb = s_hb(h), lost_ms = hb * (int64_t)h->lost_after, next;
	bool ping = now >= h->next_ping_ms;
	s_agent_t *a;
	size_t i;

	if (ping)
		h->next_ping_ms = now + hb;
	next = h->next_ping_ms;
	for (i = 0; i < h->n_agents; i++) {
		a = h->agents[i];
		if (!a->session || a->state != AG_CONNECTED)
			continue;
		if (now - a->last_rx_ms > lost_ms) {
			s_lose(h, a, "silent: lost");
			continue;
		}
		if (ping)
			s_send(h, a, AWIRE_PING, json_pack("{s:I}", "t", (json_int_t)now));
		if (a->last_rx_ms + lost_ms + 1 < next)
			next = a->last_rx_ms + lost_ms + 1;
	}
	/* What a burst (a group command's events from every agent) left free
	   in droverd's heap and in ZeroMQ's I/O thread's arena goes back to
	   the kernel once the heartbeat after it finds the process grown. */
	if (ping && h->n_agents > 0) {
		size_t freed = mem_trim_if_grown(HUB_TRIM_SLACK);

		if (freed > 0)
			log_debug("agents: %zu KiB of memory freed after a burst given back",
				  freed / 1024);
	}
	ev_timer_start(ev, t, next, s_on_tick, h);
}

/* ---- ZAP: admit the keys of keys_dir ---- */

static bool
s_zap_check(void *arg, const uint8_t *pk, const char *addr, char *user, size_t user_len, char *why,
	    size_t why_len)
{
	hub_t *h = arg;
	const char *name = auth_certs_name(h->certs, pk);

	if (name == NULL || strcmp(name, HUB_SERVER_NAME) == 0) {
		snprintf(why, why_len, "unknown key (no NAME.cert in keys_dir holds it)");
		return false;
	}
	snprintf(user, user_len, "%s", name);
	return true;
}

static void
s_on_zap(ev_t *ev, ev_io_t *io, uint32_t events)
{
	hub_t *h = io->arg;
	uint32_t e = 0;
	size_t el = sizeof(e);

	while (zmq_getsockopt(auth_zap_socket(h->zap), ZMQ_EVENTS, &e, &el) == 0 &&
	       (e & ZMQ_POLLIN))
		auth_zap_handle(h->zap);
}

/* A client whose handshake failed before any ZAP request: it holds another
   server key (or does not speak CURVE). ZeroMQ says which descriptor it
   accepted and, right after a failed handshake, which it closes: the
   address comes from the first (read as soon as the event is seen; a
   connection already gone by then is "a client"). Logged at most once every
   10 s, with a count of the others. */
static void
s_mon_event(hub_t *h, uint16_t event, uint32_t value)
{
	struct sockaddr_storage sa;
	socklen_t sl = sizeof(sa);
	char host[64] = "a client", port[16];
	int64_t now;
	size_t slot = value % 64;

	switch (event) {
	case ZMQ_EVENT_ACCEPTED:
		h->peers[slot].fd = (int)value;
		h->peers[slot].addr[0] = '\0';
		if (getpeername((int)value, (struct sockaddr *)&sa, &sl) == 0 &&
		    getnameinfo((struct sockaddr *)&sa, sl, host, sizeof(host), port, sizeof(port),
				NI_NUMERICHOST | NI_NUMERICSERV) == 0)
			snprintf(h->peers[slot].addr, sizeof(h->peers[slot].addr), "%s", host);
		break;
	case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
	case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
		h->mon_failed = true;
		break;
	case ZMQ_EVENT_DISCONNECTED:
		if (!h->mon_failed)
			break;
		h->mon_failed = false;
		now = clock_ms();
		if (h->peers[slot].fd == (int)value && h->peers[slot].addr[0] != '\0') {
			snprintf(host, sizeof(host), "%s", h->peers[slot].addr);
		} else if (h->mon_unknown_ms == 0 || now - h->mon_unknown_ms < 5000) {
			/* Gone before its address was read: such a client retries,
			   so wait a little for an attempt whose address is known. */
			if (h->mon_unknown_ms == 0)
				h->mon_unknown_ms = now;
			break;
		}
		h->mon_unknown_ms = 0;
		if (now - h->mon_logged_ms < 10000) {
			h->mon_quiet++;
			break;
		}
		log_warn("agents: refused %s: no secure handshake (it has another server key than "
			 "droverd.cert, or is not an agent)%s",
			 host, h->mon_quiet ? " (and others since)" : "");
		h->mon_logged_ms = now;
		h->mon_quiet = 0;
		break;
	default:
		break;
	}
}

static void
s_on_mon(ev_t *ev, ev_io_t *io, uint32_t events)
{
	hub_t *h = io->arg;
	zmq_msg_t m1, m2;
	uint16_t event;
	uint32_t value, e = 0;
	size_t el = sizeof(e);

	while (zmq_getsockopt(h->mon, ZMQ_EVENTS, &e, &el) == 0 && (e & ZMQ_POLLIN)) {
		zmq_msg_init(&m1);
		zmq_msg_init(&m2);
		if (zmq_msg_recv(&m1, h->mon, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&m1);
			zmq_msg_close(&m2);
			break;
		}
		zmq_msg_recv(&m2, h->mon, ZMQ_DONTWAIT);
		if (zmq_msg_size(&m1) >= 6) {
			memcpy(&event, zmq_msg_data(&m1), 2);
			memcpy(&value, (char *)zmq_msg_data(&m1) + 2, 4);
			s_mon_event(h, event, value);
		}
		zmq_msg_close(&m1);
		zmq_msg_close(&m2);
	}
}

/* ---- life ---- */

static void
s_groups_free(hub_t *h)
{
	size_t i, k;

	for (i = 0; i < h->n_groups; i++) {
		conf_group_destroy(&h->groups[i].cg);
		for (k = 0; k < h->groups[i].n_slots; k++)
			free(h->groups[i].slots[k]);
		free(h->groups[i].slots);
	}
	free(h->groups);
	h->groups = NULL;
	h->n_groups = 0;
}

/* Copies the groups of conf placed on agents, keeping the label slots of
   groups that stay. 0 or -ENOMEM (nothing changed). */
static int
s_take_groups(hub_t *h, const conf_t *conf)
{
	s_group_t *list = calloc(conf->n_groups + 1, sizeof(*list)), *old;
	size_t i, k, n = 0;
	bool remote;

	if (list == NULL)
		return -ENOMEM;
	for (i = 0; i < conf->n_groups; i++) {
		const conf_group_t *cg = &conf->groups[i];

		remote = cg->n_host_labels > 0;
		for (k = 0; k < cg->n_hosts; k++)
			remote = remote || strcmp(cg->hosts[k], "local") != 0;
		if (!remote)
			continue;
		if ((list[n].cg = conf_group_dup(cg)) == NULL) {
			while (n > 0)
				conf_group_destroy(&list[--n].cg);
			free(list);
			return -ENOMEM;
		}
		if ((old = s_group_find(h, cg->name)) != NULL && cg->n_host_labels > 0) {
			list[n].slots = old->slots; /* indices stay with their host */
			list[n].n_slots = old->n_slots;
			old->slots = NULL;
			old->n_slots = 0;
		}
		n++;
	}
	s_groups_free(h);
	h->groups = list;
	h->n_groups = n;
	return 0;
}

static int
s_take_queue(hub_t *h, const conf_t *conf)
{
	uint8_t *key = NULL;
	size_t len = 0;
	int rc;

	if (h->authkey != NULL)
		auth_key_free(h->authkey, h->authkey_len);
	h->authkey = NULL;
	free(h->queue_url);
	h->queue_url = NULL;
	if (conf->queues_authkey_file == NULL)
		return 0;
	if ((rc = auth_read_keyfile(conf->queues_authkey_file, &key, &len)) != 0)
		return rc;
	h->authkey = key;
	h->authkey_len = len;
	h->queue_url =
	    strdup(conf->queues_advertise ? conf->queues_advertise : conf->queues_listen);
	return 0;
}

/* The listening socket: listen_fd when given (an inherited one, checked),
   else one bound to h->listen. 0 or -1 with *err. */
static int
s_take_listener(hub_t *h, int listen_fd, char **err)
{
	if (listen_fd < 0) {
		if (h->listen == NULL) {
			*err = strdup("out of memory");
			return -1;
		}
		h->listen_fd = net_listen_zmq(h->listen, "agents.listen", err);
		return h->listen_fd < 0 ? -1 : 0;
	}
	h->listen_fd = listen_fd;
	if (!net_is_listener(listen_fd)) {
		*err = str_printf("agents: descriptor %d is not a listening socket", listen_fd);
		return -1;
	}
	if (fcntl(listen_fd, F_SETFD, FD_CLOEXEC) != 0 ||
	    fcntl(listen_fd, F_SETFL, fcntl(listen_fd, F_GETFL) | O_NONBLOCK) != 0) {
		*err = str_printf("agents: descriptor %d: %s", listen_fd, strerror(errno));
		return -1;
	}
	return 0;
}

/* Gives ZeroMQ a close-on-exec dup of the listening socket (it closes its
   copy with the ROUTER) and binds the ROUTER on it. 0 or -1 with *err. */
static int
s_bind(hub_t *h, char **err)
{
	int zfd = fcntl(h->listen_fd, F_DUPFD_CLOEXEC, 3);

	if (zfd < 0) {
		*err = str_printf("agents: %s: %s", h->listen, strerror(errno));
		return -1;
	}
	if (zmq_setsockopt(h->router, ZMQ_USE_FD, &zfd, sizeof(zfd)) != 0 ||
	    zmq_bind(h->router, h->listen) != 0) {
		*err =
		    str_printf("agents: cannot listen on %s: %s", h->listen, zmq_strerror(errno));
		close(zfd);
		return -1;
	}
	return 0;
}

hub_t *
hub_new(ev_t *ev, view_t *view, const conf_t *conf, int listen_fd, hub_agent_fn on_agent, void *ctx,
	char **err)
{
	hub_t *h = calloc(1, sizeof(*h));
	uint8_t pk[AUTH_KEY_LEN], sk[AUTH_KEY_LEN];
	char z85[41];
	int one = 1, zero = 0, rc, fd;
	size_t fl = sizeof(fd);
	bool created;

	*err = NULL;
	if (h == NULL) {
		if (listen_fd >= 0)
			close(listen_fd);
		*err = strdup("out of memory");
		return NULL;
	}
	h->listen_fd = -1;
	h->ev = ev;
	h->view = view;
	h->on_agent = on_agent;
	h->on_agent_ctx = ctx;
	h->hb_ms = conf->agents_heartbeat_ms;
	h->lost_after = conf->agents_lost_after;
	h->listen = strdup(conf->agents_listen);
	h->keys_dir = strdup(conf->agents_keys_dir);
	if (s_take_listener(h, listen_fd, err) != 0)
		goto fail;
	if ((rc = auth_cert_server(h->keys_dir, HUB_SERVER_NAME, pk, sk, &created)) != 0) {
		*err = str_printf("keys_dir %s: droverd's key pair %s.cert_secret: %s", h->keys_dir,
				  HUB_SERVER_NAME, strerror(-rc));
		goto fail;
	}
	{
		char path[4096], msg[4096 + 256];

		snprintf(path, sizeof(path), "%s/%s.cert_secret", h->keys_dir, HUB_SERVER_NAME);
		if (secret_check_private(path, msg, sizeof(msg)) != 0) {
			*err = str_printf("keys_dir %s: droverd's key pair %s: %s", h->keys_dir,
					  path, msg);
			goto fail;
		}
	}
	auth_z85(pk, z85);
	if (created)
		log_info("agents: made droverd's key pair in %s, public key %s", h->keys_dir, z85);
	if ((h->certs = auth_certs_new(h->keys_dir)) == NULL) {
		*err = str_printf("keys_dir %s: %s", h->keys_dir, strerror(errno));
		goto fail;
	}
	if ((rc = s_take_groups(h, conf)) != 0 || (rc = s_take_queue(h, conf)) != 0) {
		*err = str_printf("agents: %s", strerror(-rc));
		goto fail;
	}
	if ((h->ctx = zmq_ctx_new()) == NULL ||
	    (h->zap = auth_zap_new_check(h->ctx, "agents", s_zap_check, h)) == NULL ||
	    (h->router = zmq_socket(h->ctx, ZMQ_ROUTER)) == NULL) {
		*err = str_printf("agents: %s", zmq_strerror(errno));
		goto fail;
	}
	{
		/* A dead TCP connection is closed by the kernel (the agent
		   reconnects); the protocol's heartbeats say who is alive. */
		int hbt = (int)(2 * h->hb_ms * h->lost_after);
		int64_t max = AWIRE_MAX_BODY + 4096;

		zmq_setsockopt(h->router, ZMQ_CURVE_SERVER, &one, sizeof(one));
		zmq_setsockopt(h->router, ZMQ_CURVE_SECRETKEY, sk, AUTH_KEY_LEN);
		zmq_setsockopt(h->router, ZMQ_ZAP_DOMAIN, "agents", 6);
		zmq_setsockopt(h->router, ZMQ_LINGER, &zero, sizeof(zero));
		zmq_setsockopt(h->router, ZMQ_MAXMSGSIZE, &max, sizeof(max));
		zmq_setsockopt(h->router, ZMQ_HANDSHAKE_IVL, &hbt, sizeof(hbt));
		awire_tcp_liveness(h->router, hbt);
	}
	sodium_memzero(sk, sizeof(sk));
	if (s_bind(h, err) != 0)
		goto fail;
	{
		char mon_ep[64];

		snprintf(mon_ep, sizeof(mon_ep), "inproc://drover-hub-monitor-%p", (void *)h);
		if (zmq_socket_monitor(h->router, mon_ep,
				       ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED |
					   ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
					   ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) != 0 ||
		    (h->mon = zmq_socket(h->ctx, ZMQ_PAIR)) == NULL ||
		    zmq_connect(h->mon, mon_ep) != 0 ||
		    zmq_getsockopt(h->mon, ZMQ_FD, &fd, &fl) != 0 ||
		    ev_io_start(ev, &h->mon_io, fd, EPOLLIN, s_on_mon, h) != 0) {
			*err = strdup("agents: cannot watch the handshakes");
			goto fail;
		}
		s_on_mon(ev, &h->mon_io, 0);
	}
	fl = sizeof(fd);
	if ((h->sock = awire_sock_new(ev, h->router, true, s_on_msg, s_on_bad, h)) == NULL ||
	    zmq_getsockopt(auth_zap_socket(h->zap), ZMQ_FD, &fd, &fl) != 0 ||
	    ev_io_start(ev, &h->zap_io, fd, EPOLLIN, s_on_zap, h) != 0) {
		*err = strdup("agents: cannot watch the sockets");
		goto fail;
	}
	h->next_ping_ms = clock_ms() + h->hb_ms;
	ev_timer_start(ev, &h->tick, h->next_ping_ms, s_on_tick, h);
	s_on_zap(ev, &h->zap_io, 0);
	s_each_named_host(h, s_placeholders_if_away);
	log_info("agents: listening on %s%s (%zu groups placed on agents)", h->listen,
		 listen_fd >= 0 ? " (a socket droverd kept)" : "", h->n_groups);
	return h;
fail:
	sodium_memzero(sk, sizeof(sk));
	hub_destroy(&h);
	return NULL;
}

int
hub_apply(hub_t *h, const conf_t *conf)
{
	size_t i;
	int rc;
	s_agent_t *a;

	auth_certs_reload(h->certs);
	if ((rc = s_take_groups(h, conf)) != 0)
		return rc;
	if ((rc = s_take_queue(h, conf)) != 0)
		log_error("agents: authkey_file %s: %s", conf->queues_authkey_file,
			  secret_strerror(rc));
	h->hb_ms = conf->agents_heartbeat_ms;
	h->lost_after = conf->agents_lost_after;
	for (i = 0; i < h->n_agents; i++) {
		a = h->agents[i];
		if (a->session && !auth_certs_known(h->certs, a->name)) {
			s_send(h, a, AWIRE_REFUSED,
			       json_pack("{s:s}", "reason",
					 "this agent's key was removed from "
					 "droverd's keys_dir"));
			s_lose(h, a, "key removed from keys_dir: disconnected");
			continue;
		}
		if (a->session)
			s_send_state(h, a, false);
		s_prune(h, a->session ? a : NULL, a->name);
	}
	/* Placeholders of hosts no longer named anywhere. */
	{
		size_t n = view_count(h->view), k;
		char **gone = calloc(n + 1, sizeof(*gone));
		size_t ng = 0;

		for (k = 0; gone != NULL && k < n; k++) {
			const view_proc_t *p = view_at(h->view, k);

			if (p->host != NULL && strcmp(p->host, VIEW_HOST_LOCAL) != 0 &&
			    s_agent_find(h, p->host) == NULL) {
				s_group_t *g = s_group_find(h, p->group);
				unsigned base, count;

				if (g == NULL || !s_placed(h, g, p->host, NULL, &base, &count) ||
				    p->instance < base || p->instance >= base + count)
					gone[ng++] = strdup(p->name);
			}
		}
		for (k = 0; k < ng; k++) {
			if (gone[k] != NULL)
				view_remove(h->view, gone[k]);
			free(gone[k]);
		}
		free(gone);
	}
	/* Then the new ones, which may take a name the old ones held. */
	s_each_named_host(h, s_placeholders_if_away);
	return 0;
}

void
hub_destroy(hub_t **hp)
{
	hub_t *h;
	size_t i;

	if (hp == NULL || *hp == NULL)
		return;
	h = *hp;
	s_fail_cmds(h, NULL, -ESHUTDOWN, "droverd is stopping");
	ev_timer_stop(h->ev, &h->tick);
	ev_timer_stop(h->ev, &h->cmd_timer);
	if (ev_io_active(&h->zap_io))
		ev_io_stop(h->ev, &h->zap_io);
	awire_sock_destroy(&h->sock);
	if (ev_io_active(&h->mon_io))
		ev_io_stop(h->ev, &h->mon_io);
	if (h->mon != NULL)
		zmq_close(h->mon);
	if (h->router != NULL) {
		zmq_socket_monitor(h->router, NULL, 0);
		zmq_close(h->router);
	}
	auth_zap_destroy(&h->zap);
	if (h->ctx != NULL)
		zmq_ctx_term(h->ctx);
	auth_certs_destroy(&h->certs);
	if (h->listen_fd >= 0)
		close(h->listen_fd);
	for (i = 0; i < h->n_agents; i++) {
		free(h->agents[i]->name);
		free(h->agents[i]->hostname);
		free(h->agents[i]->version);
		free(h->agents[i]->boot_id);
		json_decref(h->agents[i]->labels);
		json_decref(h->agents[i]->sent);
		free(h->agents[i]);
	}
	free(h->agents);
	s_groups_free(h);
	if (h->authkey != NULL)
		auth_key_free(h->authkey, h->authkey_len);
	free(h->queue_url);
	free(h->listen);
	free(h->keys_dir);
	free(h);
	*hp = NULL;
}

int
hub_listen_fd(hub_t *h)
{
	return h->listen_fd;
}

/* ---- reading ---- */

static json_t *
s_agent_json(hub_t *h, s_agent_t *a)
{
	size_t n, i, count = view_count(h->view);

	for (i = 0, n = 0; i < count; i++) {
		const view_proc_t *p = view_at(h->view, i);

		n += p->host != NULL && strcmp(p->host, a->name) == 0;
	}
	return json_pack(
	    "{s:s, s:s, s:o, s:o, s:s, s:f, s:f, s:o, s:I, s:I, s:I, s:o}", "name", a->name,
	    "address", a->address, "hostname", a->hostname ? json_string(a->hostname) : json_null(),
	    "labels", a->labels ? json_incref(a->labels) : json_object(), "state",
	    a->state == AG_CONNECTED ? "CONNECTED" : "LOST", "since", a->since, "last_seen",
	    a->last_seen, "version", a->version ? json_string(a->version) : json_null(), "cores",
	    (json_int_t)a->cores, "memory_bytes", (json_int_t)a->memory, "processes", (json_int_t)n,
	    "heartbeat_rtt_seconds", a->rtt_s >= 0 ? json_real(a->rtt_s) : json_null());
}

json_t *
hub_agents(hub_t *h)
{
	json_t *list = json_array();
	size_t i;

	for (i = 0; i < h->n_agents; i++)
		json_array_append_new(list, s_agent_json(h, h->agents[i]));
	return list;
}

json_t *
hub_agent(hub_t *h, const char *name)
{
	s_agent_t *a = s_agent_find(h, name);

	return a ? s_agent_json(h, a) : NULL;
}

char *
hub_metrics(hub_t *h)
{
	char *buf = NULL;
	size_t len, i;
	FILE *f = open_memstream(&buf, &len);

	if (f == NULL)
		return NULL;
	fputs("# HELP drover_agent_heartbeat_rtt_seconds Last heartbeat round trip to the agent.\n"
	      "# TYPE drover_agent_heartbeat_rtt_seconds gauge\n",
	      f);
	for (i = 0; i < h->n_agents; i++) {
		if (h->agents[i]->rtt_s < 0)
			continue;
		fputs("drover_agent_heartbeat_rtt_seconds{agent=\"", f);
		prom_label(f, h->agents[i]->name);
		fprintf(f, "\"} %.6f\n", h->agents[i]->rtt_s);
	}
	fprintf(f,
		"# HELP drover_agent_refused_total Agent registrations refused.\n"
		"# TYPE drover_agent_refused_total counter\n"
		"drover_agent_refused_total %llu\n",
		(unsigned long long)(h->refused_hello + auth_zap_refused(h->zap)));
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}
