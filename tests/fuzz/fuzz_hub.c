/* fuzz_hub: droverd's handling of what agents send (lib/hub/hub.c, compiled
   into this harness for its static functions), from a decoded message to the
   view and the replies. The input is a script of steps, each one of:
     - a message from one of four sessions (ROUTER routing ids) under one of
       five ZAP User-Ids (node-1, node-2, node-3, local: names whose cert is
       in keys_dir; or none): a type and a JSON body, checked by
       awire_decode() and handed to s_on_msg() (or s_on_bad()) exactly as
       the socket's reader does;
     - time passing (up to 7.75 s): heartbeats, LOST agents, commands that
       time out;
     - what the API asks: a command for a remote process or group (scaling
       too), a log request;
     - a reload (hub_apply) with one of two configurations and one of two
       key directories (node-3's cert removed);
     - a read of the agents' objects and metrics.
   The hub is the real one on a real ev loop and a real view, built as
   hub_new() builds it but without keys, ZAP, monitor or bind: its ROUTER is
   bound on inproc, and four DEALERs whose routing ids are the sessions'
   read back every reply the hub sends. Time is virtual: clock_ms() is
   wrapped (-Wl,--wrap=clock_ms) to a clock the script moves forward and that
   stays behind the real one, so that the loop's timerfd fires for every
   deadline the virtual clock has passed.

   Checks beyond no crash and no leak, after every step:
     - every reply decodes with awire_decode() and is a type droverd sends; a
       STATE's groups decode with awire_group_decode() (the agent would take
       them), once each;
     - droverd's own process (host local) is never touched;
     - every remote process in the view is placed on its host (its group
       and index), and every instance placed on a host whose agent never
       came has its placeholder;
     - the processes of a LOST agent are UNKNOWN;
     - after an accepted HELLO, the agent's processes in the view are exactly
       those of its snapshot that are placed there, in their state;
     - no two agents hold one session;
     - every command ends exactly once, with 0 or -errno, and a log request
       with an HTTP status and a JSON object or with an error. */
#include "fuzz.h"

#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../lib/hub/hub.c"

#define N_RIDS 4
#define N_USERS 5
#define MAX_STEPS 64
#define MAX_CMDS 64
#define MAX_SCALE 7	 /* the API allows CONF_MAX_INSTANCES; placeholders cost */
#define STEP_MAX_MS 7751 /* the longest time step */
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* ---- a virtual monotonic clock (every clock_ms() of the build) ---- */

int64_t __real_clock_ms(void);
int64_t __wrap_clock_ms(void);

static int64_t s_now_ms;

int64_t
__wrap_clock_ms(void)
{
	return s_now_ms;
}

/* ---- what stays between inputs ---- */

static void *s_zctx, *s_router, *s_dealers[N_RIDS];
static const char *const s_rids[N_RIDS] = {"r0", "r1", "r2", "r3"};
static const char *const s_users[N_USERS] = {"node-1", "node-2", "node-3", "local", NULL};
static char s_dir[64], s_keys[2][96], s_authkey[96];
static conf_t *s_confs[2];
static auth_certs_t *s_certs[2];
static auth_zap_t *s_zap; /* answers nothing here: its refusal count is in the metrics */

/* Two configurations: by name on several hosts (local among them), by
   labels, and a group only droverd runs; the second moves things around. */
#define YAML_A                                                                                     \
	"supervisor:\n"                                                                            \
	"  agents: {listen: 'tcp://127.0.0.1:9171', keys_dir: %s, heartbeat: 1s, lost_after: 3}\n" \
	"groups:\n"                                                                                \
	"  web: {command: [web, '${PORT}'], instances: 2, hosts: [local, node-1, node-2],\n"       \
	"        env: {PORT: '80${INSTANCE}'}}\n"                                                  \
	"  db: {command: 'exec db', hosts: [node-2, node-4]}\n"                                    \
	"  work: {command: [w], hosts: {labels: {role: worker}, per_host: 2},\n"                   \
	"         ready: {tcp: '127.0.0.1:1'}, queue_access: true}\n"                              \
	"  loc: {command: [l]}\n"
#define YAML_B                                                                                     \
	"supervisor:\n"                                                                            \
	"  agents: {listen: 'tcp://127.0.0.1:9171', keys_dir: %s, heartbeat: 200ms, lost_after: "  \
	"2}\n"                                                                                     \
	"  queues: {authkey_file: %s, advertise: 'tcp://10.0.0.1:9172'}\n"                         \
	"groups:\n"                                                                                \
	"  web: {command: [web], instances: 1, hosts: [local, node-2, node-1, node-3]}\n"          \
	"  work: {command: [w2], hosts: {labels: {role: worker, zone: a}, per_host: 1}}\n"         \
	"  gpu: {command: [g], hosts: {labels: {gpu: 'yes'}, per_host: 3}, autostart: false}\n"    \
	"  loc: {command: [l]}\n"

static void
s_write(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	FUZZ_CHECK(f != NULL);
	fputs(text, f);
	FUZZ_CHECK(fclose(f) == 0);
	FUZZ_CHECK(chmod(path, 0600) == 0);
}

static int
s_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

/* The key directories and files go when the fuzzer exits. */
static void
s_cleanup(void)
{
	nftw(s_dir, s_rm, 8, FTW_DEPTH | FTW_PHYS);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *const names[] = {"node-1", "node-2", "node-3", "local"};
	uint8_t pk[AUTH_KEY_LEN];
	char buf[4096], *errs = NULL, path[160];
	int zero = 0, i, k;

	log_set_level(DLOG_ERROR);
	/* Key directories: every agent's cert in the first, node-3's gone from
	   the second. "local" is a name droverctl keygen makes. */
	snprintf(s_dir, sizeof(s_dir), "/tmp/drover-fuzz-hub-%d", (int)getpid());
	FUZZ_CHECK(mkdir(s_dir, 0700) == 0 || errno == EEXIST);
	atexit(s_cleanup);
	for (k = 0; k < 2; k++) {
		snprintf(s_keys[k], sizeof(s_keys[k]), "%s/keys%d", s_dir, k);
		FUZZ_CHECK(mkdir(s_keys[k], 0700) == 0 || errno == EEXIST);
		for (i = 0; i < 4; i++)
			if (k == 0 || strcmp(names[i], "node-3") != 0)
				FUZZ_CHECK(auth_cert_make(s_keys[k], names[i], true, pk, NULL) ==
					   0);
		FUZZ_CHECK((s_certs[k] = auth_certs_new(s_keys[k])) != NULL);
	}
	snprintf(s_authkey, sizeof(s_authkey), "%s/queue.key", s_dir);
	s_write(s_authkey, "fuzz queue key\n");
	for (k = 0; k < 2; k++) {
		if (k == 0)
			snprintf(buf, sizeof(buf), YAML_A, s_keys[0]);
		else
			snprintf(buf, sizeof(buf), YAML_B, s_keys[0], s_authkey);
		snprintf(path, sizeof(path), "%s/drover%d.yaml", s_dir, k);
		if (conf_parse_string(buf, strlen(buf), path, s_dir, &s_confs[k], &errs) != 0)
			fprintf(stderr, "fuzz_hub: %s", errs);
		FUZZ_CHECK(s_confs[k] != NULL);
	}
	/* The hub's ROUTER and the four sessions that read its replies. */
	FUZZ_CHECK((s_zctx = zmq_ctx_new()) != NULL);
	FUZZ_CHECK((s_router = zmq_socket(s_zctx, ZMQ_ROUTER)) != NULL);
	zmq_setsockopt(s_router, ZMQ_LINGER, &zero, sizeof(zero));
	FUZZ_CHECK(zmq_bind(s_router, "inproc://fuzz-hub") == 0);
	FUZZ_CHECK((s_zap = auth_zap_new_check(s_zctx, "agents", s_zap_check, NULL)) != NULL);
	for (i = 0; i < N_RIDS; i++) {
		FUZZ_CHECK((s_dealers[i] = zmq_socket(s_zctx, ZMQ_DEALER)) != NULL);
		zmq_setsockopt(s_dealers[i], ZMQ_ROUTING_ID, s_rids[i], strlen(s_rids[i]));
		zmq_setsockopt(s_dealers[i], ZMQ_LINGER, &zero, sizeof(zero));
		FUZZ_CHECK(zmq_connect(s_dealers[i], "inproc://fuzz-hub") == 0);
		/* Once the ROUTER has read from a session, it can route to it. */
		FUZZ_CHECK(zmq_send(s_dealers[i], "x", 1, 0) == 1);
		FUZZ_CHECK(zmq_recv(s_router, buf, sizeof(buf), 0) == (int)strlen(s_rids[i]));
		FUZZ_CHECK(zmq_recv(s_router, buf, sizeof(buf), 0) == 1);
	}
	return 0;
}

/* ---- the hub, as hub_new() makes it, on this input's loop and view ---- */

static void
s_on_agent(void *ctx, json_t *agent)
{
	const char *state = json_string_value(json_object_get(agent, "state"));

	FUZZ_CHECK(json_is_string(json_object_get(agent, "name")));
	FUZZ_CHECK(state != NULL &&
		   (strcmp(state, "CONNECTED") == 0 || strcmp(state, "LOST") == 0));
	json_decref(agent);
}

static hub_t *
s_hub(ev_t *ev, view_t *view)
{
	hub_t *h = calloc(1, sizeof(*h));
	const conf_t *conf = s_confs[0];

	FUZZ_CHECK(h != NULL);
	h->ev = ev;
	h->view = view;
	h->on_agent = s_on_agent;
	h->hb_ms = conf->agents_heartbeat_ms;
	h->lost_after = conf->agents_lost_after;
	FUZZ_CHECK((h->listen = strdup(conf->agents_listen)) != NULL);
	FUZZ_CHECK((h->keys_dir = strdup(conf->agents_keys_dir)) != NULL);
	h->certs = s_certs[0];
	FUZZ_CHECK(s_take_groups(h, conf) == 0 && s_take_queue(h, conf) == 0);
	h->router = s_router;
	h->zap = s_zap;
	FUZZ_CHECK((h->sock = awire_sock_new(ev, h->router, true, s_on_msg, s_on_bad, h)) != NULL);
	ev_timer_start(ev, &h->tick, clock_ms() + h->hb_ms / 2, s_on_tick, h);
	s_each_named_host(h, s_placeholders_if_away);
	return h;
}

/* hub_destroy() without what this harness keeps: the sockets, the ZAP
   handler and the certs. */
static void
s_hub_free(hub_t **hp)
{
	(*hp)->router = NULL;
	(*hp)->zap = NULL;
	(*hp)->certs = NULL;
	hub_destroy(hp);
}

/* ---- commands from the API, and how they end ---- */

typedef struct {
	bool used, ended, logs;
} s_call_t;

static s_call_t s_calls[MAX_CMDS];
static size_t s_n_calls;

static s_call_t *
s_call(bool logs)
{
	s_call_t *c;

	if (s_n_calls == MAX_CMDS)
		return NULL;
	c = &s_calls[s_n_calls++];
	*c = (s_call_t){.used = true, .logs = logs};
	return c;
}

static void
s_done(void *arg, int rc, const char *msg)
{
	s_call_t *c = arg;

	FUZZ_CHECK(c->used && !c->logs && !c->ended);
	c->ended = true;
	FUZZ_CHECK(rc <= 0 && rc > -4096); /* view.h: 0 or -errno */
}

static void
s_logs_done(void *arg, int status, json_t *reply, const char *err)
{
	s_call_t *c = arg;

	FUZZ_CHECK(c->used && c->logs && !c->ended);
	c->ended = true;
	if (err == NULL) {
		/* The answer the API gives as it is: an HTTP status and a body. */
		FUZZ_CHECK(json_is_object(reply));
		FUZZ_CHECK(status >= 100 && status <= 599);
	} else {
		FUZZ_CHECK(reply == NULL);
	}
	json_decref(reply);
}

/* ---- checks ---- */

/* Is p placed on its host now? Like s_may_report(), without giving a
   labels slot (a check must not change what it checks). */
static bool
s_placed_now(hub_t *h, const view_proc_t *p)
{
	s_group_t *g = s_group_find(h, p->group);
	s_agent_t *a = s_agent_find(h, p->host);
	unsigned base = 0, count = 0;
	char want[512];
	size_t i;
	bool found = false;

	if (g == NULL)
		return false;
	snprintf(want, sizeof(want), "%s:%u", p->group, p->instance);
	if (strcmp(want, p->name) != 0)
		return false;
	if (g->cg->n_host_labels > 0) {
		if (a == NULL || !s_labels_match(g->cg, a))
			return false;
		for (i = 0; !found && i < g->n_slots; i++)
			if (strcmp(g->slots[i], p->host) == 0) {
				base = (unsigned)i * g->cg->per_host;
				count = g->cg->per_host;
				found = true;
			}
	} else {
		for (i = 0; !found && i < g->cg->n_hosts; i++)
			if (strcmp(g->cg->hosts[i], p->host) == 0) {
				base = (unsigned)i * g->cg->instances;
				count = g->cg->instances;
				found = true;
			}
	}
	return found && p->instance >= base && p->instance - base < count;
}

static void
s_check_view(hub_t *h)
{
	size_t i, k, n = view_count(h->view);
	const view_proc_t *p, *q;
	unsigned j;
	char pname[512];

	/* droverd's own process: as it was put. */
	p = view_find(h->view, "web:0");
	FUZZ_CHECK(p != NULL && p->host != NULL && strcmp(p->host, VIEW_HOST_LOCAL) == 0);
	FUZZ_CHECK(p->state == PROC_RUNNING && p->pid == 4242);
	for (i = 0; i < n; i++) {
		p = view_at(h->view, i);
		FUZZ_CHECK(p->host != NULL);
		if (strcmp(p->host, VIEW_HOST_LOCAL) == 0)
			continue;
		if (!s_placed_now(h, p))
			fprintf(stderr, "fuzz_hub: %s on %s is not placed there\n", p->name,
				p->host);
		FUZZ_CHECK(s_placed_now(h, p));
	}
	for (k = 0; k < h->n_agents; k++) {
		s_agent_t *a = h->agents[k];

		if (a->state == AG_LOST)
			for (i = 0; i < n; i++) {
				p = view_at(h->view, i);
				if (strcmp(p->host, a->name) == 0)
					FUZZ_CHECK(p->state == PROC_UNKNOWN);
			}
		for (i = k + 1; i < h->n_agents; i++) {
			FUZZ_CHECK(strcmp(a->name, h->agents[i]->name) != 0);
			if (a->session && h->agents[i]->session)
				FUZZ_CHECK(a->rid_len != h->agents[i]->rid_len ||
					   memcmp(a->rid, h->agents[i]->rid, a->rid_len) != 0);
		}
	}
	/* Instances on a host named in a placement whose agent never came. */
	for (i = 0; i < h->n_groups; i++) {
		const conf_group_t *cg = h->groups[i].cg;

		for (k = 0; k < cg->n_hosts; k++) {
			if (strcmp(cg->hosts[k], VIEW_HOST_LOCAL) == 0 ||
			    s_agent_find(h, cg->hosts[k]) != NULL)
				continue;
			for (j = 0; j < cg->instances; j++) {
				snprintf(pname, sizeof(pname), "%s:%u", cg->name,
					 (unsigned)k * cg->instances + j);
				q = view_find(h->view, pname);
				if (q == NULL || strcmp(q->host, cg->hosts[k]) != 0)
					fprintf(stderr, "fuzz_hub: %s of %s: no placeholder\n",
						pname, cg->hosts[k]);
				FUZZ_CHECK(q != NULL && strcmp(q->host, cg->hosts[k]) == 0);
			}
		}
	}
}

/* After an accepted HELLO: the agent's processes in the view are those of
   its snapshot that are placed on it (the last of a name wins). */
static void
s_check_snapshot(hub_t *h, const char *name, json_t *procs)
{
	json_t *want = json_object(), *pj;
	view_proc_t p;
	const view_proc_t *q;
	size_t i, n = view_count(h->view), found = 0;

	json_array_foreach(procs, i, pj)
	{
		if (view_proc_from_json(pj, &p) != 0)
			continue;
		p.host = name;
		if (s_placed_now(h, &p))
			json_object_set_new(want, p.name, json_integer(p.state));
	}
	for (i = 0; i < n; i++) {
		q = view_at(h->view, i);
		if (strcmp(q->host, name) != 0)
			continue;
		found++;
		FUZZ_CHECK(json_is_integer(json_object_get(want, q->name)));
		FUZZ_CHECK(json_integer_value(json_object_get(want, q->name)) == q->state);
	}
	FUZZ_CHECK(found == json_object_size(want));
	json_decref(want);
}

/* Reads every reply the sessions got: each must be a message droverd sends
   that decodes; a STATE's groups must be what an agent takes. */
static void
s_drain(hub_t *h)
{
	zmq_msg_t type, body;
	awire_type_t t;
	json_t *j, *g, *names;
	char why[256];
	conf_group_t *cg;
	size_t i, k;

	for (i = 0; i < N_RIDS; i++) {
		for (;;) {
			zmq_msg_init(&type);
			if (zmq_msg_recv(&type, s_dealers[i], ZMQ_DONTWAIT) < 0) {
				zmq_msg_close(&type);
				break;
			}
			FUZZ_CHECK(zmq_msg_more(&type));
			zmq_msg_init(&body);
			FUZZ_CHECK(zmq_msg_recv(&body, s_dealers[i], 0) >= 0);
			FUZZ_CHECK(!zmq_msg_more(&body));
			if (awire_decode(zmq_msg_data(&type), zmq_msg_size(&type),
					 zmq_msg_data(&body), zmq_msg_size(&body), &t, &j, why,
					 sizeof(why)) != 0) {
				fprintf(stderr, "fuzz_hub: droverd sent %.*s: %s\n",
					(int)zmq_msg_size(&type), (char *)zmq_msg_data(&type), why);
				FUZZ_CHECK(!"a reply that decodes");
			}
			FUZZ_CHECK(t == AWIRE_STATE || t == AWIRE_CMD || t == AWIRE_LOGREQ ||
				   t == AWIRE_PING || t == AWIRE_PONG || t == AWIRE_REGISTER ||
				   t == AWIRE_REFUSED);
			if (t == AWIRE_STATE) {
				names = json_object();
				json_array_foreach(json_object_get(j, "groups"), k, g)
				{
					cg = awire_group_decode(g, why, sizeof(why));
					if (cg == NULL)
						fprintf(stderr, "fuzz_hub: STATE: %s\n", why);
					FUZZ_CHECK(cg != NULL);
					FUZZ_CHECK(json_object_get(names, cg->name) == NULL);
					FUZZ_CHECK(h == NULL || s_group_find(h, cg->name) != NULL);
					json_object_set_new(names, cg->name, json_true());
					conf_group_destroy(&cg);
				}
				json_decref(names);
			}
			json_decref(j);
			zmq_msg_close(&type);
			zmq_msg_close(&body);
		}
	}
}

/* The agents' objects and metrics, as the API reads them. */
static void
s_read(hub_t *h, uint8_t which)
{
	json_t *list = hub_agents(h), *a;
	char *m;
	size_t i;

	FUZZ_CHECK(json_array_size(list) == h->n_agents);
	json_array_foreach(list, i, a)
	{
		FUZZ_CHECK(json_is_string(json_object_get(a, "name")));
		FUZZ_CHECK(json_is_string(json_object_get(a, "state")));
	}
	json_decref(list);
	if ((a = hub_agent(h, s_users[which % 4])) != NULL)
		FUZZ_CHECK(
		    strcmp(json_string_value(json_object_get(a, "name")), s_users[which % 4]) == 0);
	json_decref(a);
	FUZZ_CHECK((m = hub_metrics(h)) != NULL);
	free(m);
}

/* ---- the steps ---- */

/* A field with a two-byte length (bodies may be longer than 255). */
static size_t
s_field16(fuzz_in_t *in, const uint8_t **p)
{
	size_t n = (size_t)fuzz_u8(in) << 8;

	n |= fuzz_u8(in);
	if (n > in->n)
		n = in->n;
	*p = in->p;
	in->p += n;
	in->n -= n;
	return n;
}

/* A message from a session, checked and handed over as the socket's
   reader does. */
static void
s_message(hub_t *h, fuzz_in_t *in, uint8_t op)
{
	unsigned rid = op % N_RIDS, user = (op / N_RIDS) % N_USERS;
	awire_from_t from = {.rid = s_rids[rid],
			     .rid_len = strlen(s_rids[rid]),
			     .user = s_users[user],
			     .peer = "10.0.0.9"};
	uint8_t tb = fuzz_u8(in);
	const uint8_t *type, *body;
	size_t type_len, body_len;
	awire_type_t t;
	json_t *j, *procs = NULL;
	const char *name = NULL;
	s_agent_t *a;
	uint64_t gen = 0;
	char why[200];

	if (tb < AWIRE_N_TYPES) {
		type = (const uint8_t *)awire_type_name((awire_type_t)tb);
		type_len = strlen((const char *)type);
	} else {
		type_len = fuzz_field(in, &type);
	}
	body_len = s_field16(in, &body);
	if (awire_decode(type, type_len, body, body_len, &t, &j, why, sizeof(why)) != 0) {
		s_on_bad(h, &from, why);
		return;
	}
	if (t == AWIRE_HELLO) {
		name = json_string_value(json_object_get(j, "name"));
		procs = json_incref(json_object_get(j, "processes"));
		if ((a = s_agent_find(h, name)) != NULL)
			gen = a->generation;
		json_incref(j); /* name is j's */
	}
	s_on_msg(h, &from, t, j);
	if (t == AWIRE_HELLO) {
		/* Accepted: a session on this routing id and a new state. */
		a = s_agent_find(h, name);
		if (a != NULL && a->generation > gen && a->session && a->rid_len == from.rid_len &&
		    memcmp(a->rid, from.rid, a->rid_len) == 0)
			s_check_snapshot(h, name, procs);
		json_decref(procs);
		json_decref(j);
	}
}

/* A command for the remote process at view index i (droverd's owner sends
   only those to the hub). */
static void
s_proc_cmd(hub_t *h, fuzz_in_t *in)
{
	static const char *const cmds[] = {"start", "stop", "restart", "signal"};
	uint8_t i = fuzz_u8(in), c = fuzz_u8(in);
	size_t n = view_count(h->view);
	const view_proc_t *p;
	s_call_t *call;

	if (n == 0 || (p = view_at(h->view, i % n)) == NULL ||
	    strcmp(p->host, VIEW_HOST_LOCAL) == 0 || (call = s_call(false)) == NULL)
		return;
	hub_proc_cmd(h, p, cmds[c % 4], 1 + c / 4 % 64, s_done, call);
}

static void
s_group_cmd(hub_t *h, fuzz_in_t *in)
{
	static const char *const groups[] = {"web", "db", "work", "gpu", "loc", "nope"};
	static const char *const cmds[] = {"start", "stop", "restart", "scale"};
	uint8_t g = fuzz_u8(in), c = fuzz_u8(in);
	s_call_t *call = s_call(false);

	if (call == NULL)
		return;
	hub_group_cmd(h, groups[g % N_OF(groups)], cmds[c % 4],
		      c % 4 == 3 ? (long)(c / 4 % (MAX_SCALE + 1)) : (long)(c / 4 % 2), s_done,
		      call);
}

static void
s_logs(hub_t *h, fuzz_in_t *in)
{
	uint8_t i = fuzz_u8(in), q = fuzz_u8(in);
	size_t n = view_count(h->view);
	const view_proc_t *p;
	s_call_t *call;

	if (n == 0 || (p = view_at(h->view, i % n)) == NULL ||
	    strcmp(p->host, VIEW_HOST_LOCAL) == 0 || (call = s_call(true)) == NULL)
		return;
	hub_logs(h, p,
		 json_pack("{s:s, s:I, s:I, s:I}", "stream", q & 1 ? "stderr" : "stdout", "tail",
			   (json_int_t)(q >> 1 & 7) * 50, "offset",
			   (json_int_t)(q & 0x10 ? 100 : -1), "inode",
			   (json_int_t)(q & 0x20 ? 7 : -1)),
		 s_logs_done, call);
}

static void
s_pass(ev_t *ev)
{
	int i;

	for (i = 0; i < 3; i++)
		FUZZ_CHECK(ev_run_once(ev, 0) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_in_t in = {data, size};
	view_proc_t local = {.name = "web:0",
			     .group = "web",
			     .instance = 0,
			     .host = VIEW_HOST_LOCAL,
			     .state = PROC_RUNNING,
			     .pid = 4242,
			     .since = 1732390000.25,
			     .exit_code = -1,
			     .cpu_seconds = -1,
			     .rss_bytes = -1};
	int64_t real = __real_clock_ms();
	size_t steps = 0, i;
	ev_t *ev;
	view_t *view;
	hub_t *h;
	uint8_t op;

	/* Behind the real clock by more than this input can move it. */
	s_now_ms =
	    real > MAX_STEPS * STEP_MAX_MS + 1000 ? real - MAX_STEPS * STEP_MAX_MS - 1000 : 1;
	s_n_calls = 0;
	FUZZ_CHECK((ev = ev_new()) != NULL);
	FUZZ_CHECK((view = view_new(NULL, NULL)) != NULL);
	FUZZ_CHECK(view_put(view, &local) == 1);
	h = s_hub(ev, view);
	s_pass(ev);
	s_check_view(h);
	while (in.n > 0 && steps++ < MAX_STEPS) {
		op = fuzz_u8(&in);
		if (op < 160) {
			s_message(h, &in, op);
		} else if (op < 192) {
			s_now_ms += (int64_t)(op & 31) * 250 + 1;
			/* The loop: what came due. Nothing else waits on it (no
			   deadline of the hub is "now", and its ROUTER receives
			   nothing), and a pass costs a timerfd_settime() here,
			   every deadline being in the real clock's past. */
			s_pass(ev);
		} else if (op < 208) {
			s_proc_cmd(h, &in);
		} else if (op < 216) {
			s_group_cmd(h, &in);
		} else if (op < 224) {
			s_logs(h, &in);
		} else if (op < 232) {
			h->certs = s_certs[op >> 1 & 1];
			FUZZ_CHECK(hub_apply(h, s_confs[op & 1]) == 0);
		} else {
			s_read(h, op);
		}
		s_drain(h);
		s_check_view(h);
	}
	s_hub_free(&h);
	for (i = 0; i < s_n_calls; i++)
		FUZZ_CHECK(s_calls[i].ended);
	view_destroy(&view);
	ev_destroy(&ev);
	s_drain(NULL);
	return 0;
}
