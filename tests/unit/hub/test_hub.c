/* hub: what droverd makes of its agents' messages, each a finding of
   fuzz_hub. The hub is built as hub_new() builds it, without keys, ZAP or
   monitor, its ROUTER on inproc with no peer (replies go nowhere); messages
   go to s_on_msg() as the socket's reader hands them over (hub.c is
   compiled in for its static functions). */
#include <criterion/criterion.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../../../lib/hub/hub.c"

static char dir[64];
static void *zctx;
static ev_t *ev;
static view_t *view;
static conf_t *confs[2];
static hub_t *hub;

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

/* drover.yaml: groups, after agents with keys in dir. */
static conf_t *
conf_of(const char *groups)
{
	char text[2048], *errs = NULL;
	conf_t *c = NULL;

	snprintf(text, sizeof(text), "supervisor: {agents: {keys_dir: %s}}\n%s", dir, groups);
	cr_assert_eq(conf_parse_string(text, strlen(text), "drover.yaml", dir, &c, &errs), 0, "%s",
		     errs ? errs : "");
	return c;
}

/* A hub under conf_text (groups), agents node-1, node-2 and local admitted. */
static void
hub_up(const char *conf_text)
{
	static const char *const names[] = {"node-1", "node-2", "local"};
	uint8_t pk[AUTH_KEY_LEN];
	size_t i;

	log_set_level(DLOG_ERROR);
	snprintf(dir, sizeof(dir), "/tmp/drover-test-hub-%d", (int)getpid());
	cr_assert_eq(mkdir(dir, 0700), 0);
	for (i = 0; i < 3; i++)
		cr_assert_eq(auth_cert_make(dir, names[i], true, pk, NULL), 0);
	confs[0] = conf_of(conf_text);
	cr_assert_not_null(ev = ev_new());
	cr_assert_not_null(view = view_new(NULL, NULL));
	cr_assert_not_null(hub = calloc(1, sizeof(*hub)));
	hub->ev = ev;
	hub->view = view;
	hub->hb_ms = confs[0]->agents_heartbeat_ms;
	hub->lost_after = confs[0]->agents_lost_after;
	hub->listen = strdup(confs[0]->agents_listen);
	hub->keys_dir = strdup(dir);
	cr_assert_not_null(hub->certs = auth_certs_new(dir));
	cr_assert_eq(s_take_groups(hub, confs[0]), 0);
	cr_assert_not_null(zctx = zmq_ctx_new());
	cr_assert_not_null(hub->router = zmq_socket(zctx, ZMQ_ROUTER));
	cr_assert_eq(zmq_bind(hub->router, "inproc://test-hub"), 0);
	cr_assert_not_null(hub->sock =
			       awire_sock_new(ev, hub->router, true, s_on_msg, s_on_bad, hub));
	s_each_named_host(hub, s_placeholders_if_away);
}

static void
hub_down(void)
{
	hub_destroy(&hub);
	zmq_ctx_term(zctx);
	view_destroy(&view);
	ev_destroy(&ev);
	conf_free(&confs[0]);
	conf_free(&confs[1]);
	nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* A message from agent user on session rid, as the socket's reader gives
   it: checked by awire_decode(). */
static void
msg(const char *rid, const char *user, const char *type, const char *body)
{
	awire_from_t from = {.rid = rid, .rid_len = strlen(rid), .user = user, .peer = "10.0.0.9"};
	awire_type_t t;
	json_t *j;
	char why[200];

	cr_assert_eq(awire_decode(type, strlen(type), body, strlen(body), &t, &j, why, sizeof(why)),
		     0, "%s", why);
	s_on_msg(hub, &from, t, j);
}

#define HELLO(name, seq, procs)                                                                    \
	"{\"protocol\": 1, \"name\": \"" name "\", \"version\": \"0\", \"hostname\": \"h\", "      \
	"\"labels\": {}, \"seq\": " #seq ", \"processes\": [" procs "]}"
#define PROC(name, group, instance, state)                                                         \
	"{\"name\": \"" name "\", \"group\": \"" group "\", \"instance\": " #instance              \
	", \"state\": \"" state "\", \"pid\": 77}"

static const char *
host_of(const char *name)
{
	const view_proc_t *p = view_find(view, name);

	return p ? p->host : NULL;
}

Test(hub, a_hello_snapshot_replaces_what_the_view_had_of_that_host, .fini = hub_down)
{
	hub_up("groups: {web: {command: [w], instances: 2, hosts: [node-1]}}\n");
	cr_assert_eq(view_find(view, "web:1")->state, PROC_UNKNOWN); /* waiting for it */
	msg("r0", "node-1", "HELLO", HELLO("node-1", 0, PROC("web:0", "web", 0, "RUNNING")));
	cr_assert_eq(view_find(view, "web:0")->state, PROC_RUNNING);
	cr_assert_null(view_find(view, "web:1"), "a placeholder the agent did not report stays");
	/* A new session (the agent restarted): what it does not run is gone. */
	msg("r1", "node-1", "HELLO", HELLO("node-1", 0, ));
	cr_assert_null(view_find(view, "web:0"), "a process the agent does not run stays");
}

Test(hub, an_agent_named_local_is_refused_and_droverds_own_processes_stay, .fini = hub_down)
{
	view_proc_t local = {.name = "web:0",
			     .group = "web",
			     .host = VIEW_HOST_LOCAL,
			     .state = PROC_RUNNING,
			     .pid = 4242,
			     .exit_code = -1,
			     .cpu_seconds = -1,
			     .rss_bytes = -1};
	const view_proc_t *p;

	hub_up("groups: {web: {command: [w], hosts: [local, node-1]}}\n");
	cr_assert_eq(view_put(view, &local), 1); /* droverd's own */
	msg("r0", "local", "HELLO", HELLO("local", 0, PROC("web:0", "web", 0, "STOPPED")));
	p = view_find(view, "web:0");
	cr_assert_str_eq(p->host, VIEW_HOST_LOCAL);
	cr_assert_eq(p->state, PROC_RUNNING);
	cr_assert_eq(p->pid, 4242);
	cr_assert_eq(hub->n_agents, 0);
	cr_assert_eq(hub->refused_hello, 1);
}

static int last_rc = 1, n_done, n_logs;
static const char *last_err;
static int last_status = -1;

static void
on_done(void *arg, int rc, const char *msg)
{
	last_rc = rc;
	n_done++;
}

static void
on_logs(void *arg, int status, json_t *reply, const char *err)
{
	last_status = status;
	last_err = err ? "error" : NULL;
	json_decref(reply);
	n_logs++;
}

Test(hub, scaling_moves_the_placeholders_of_hosts_no_agent_came_from, .fini = hub_down)
{
	hub_up("groups: {web: {command: [w], instances: 2, hosts: [node-1, node-2]}}\n");
	cr_assert_str_eq(host_of("web:2"), "node-2");
	hub_group_cmd(hub, "web", "scale", 1, on_done, NULL);
	cr_assert_eq(last_rc, 0);
	cr_assert_str_eq(host_of("web:0"), "node-1");
	cr_assert_str_eq(host_of("web:1"), "node-2", "web:1 is node-2's now");
	cr_assert_null(view_find(view, "web:2"));
	cr_assert_null(view_find(view, "web:3"));
}

Test(hub, a_reload_gives_a_placeholder_the_name_a_host_no_longer_named_held, .fini = hub_down)
{
	hub_up("groups: {web: {command: [w], instances: 2, hosts: [node-1, node-2]}}\n");
	cr_assert_str_eq(host_of("web:2"), "node-2");
	confs[1] =
	    conf_of("groups: {web: {command: [w], instances: 2, hosts: [node-1, node-3]}}\n");
	cr_assert_eq(hub_apply(hub, confs[1]), 0);
	cr_assert_not_null(host_of("web:2"), "node-3's web:2 has no placeholder");
	cr_assert_str_eq(host_of("web:2"), "node-3");
}

Test(hub, an_ack_whose_rc_is_not_an_errno_ends_the_command_with_eproto, .fini = hub_down)
{
	hub_up("groups: {web: {command: [w], hosts: [node-1]}}\n");
	msg("r0", "node-1", "HELLO", HELLO("node-1", 0, PROC("web:0", "web", 0, "RUNNING")));
	hub_proc_cmd(hub, view_find(view, "web:0"), "stop", 0, on_done, NULL);
	msg("r0", "node-1", "ACK", "{\"id\": 1, \"rc\": -2147483648}");
	cr_assert_eq(last_rc, -EPROTO); /* the API says strerror(-rc) */
	hub_proc_cmd(hub, view_find(view, "web:0"), "stop", 0, on_done, NULL);
	msg("r0", "node-1", "ACK", "{\"id\": 2, \"rc\": 5}");
	cr_assert_eq(last_rc, -EPROTO);
	hub_proc_cmd(hub, view_find(view, "web:0"), "stop", 0, on_done, NULL);
	msg("r0", "node-1", "ACK", "{\"id\": 3, \"rc\": -3}");
	cr_assert_eq(last_rc, -ESRCH);
}

Test(hub, a_logs_answer_without_an_http_status_is_an_error, .fini = hub_down)
{
	hub_up("groups: {web: {command: [w], hosts: [node-1]}}\n");
	msg("r0", "node-1", "HELLO", HELLO("node-1", 0, PROC("web:0", "web", 0, "RUNNING")));
	hub_logs(hub, view_find(view, "web:0"), json_object(), on_logs, NULL);
	msg("r0", "node-1", "LOGS", "{\"id\": 1, \"status\": 0, \"reply\": {}}");
	cr_assert_not_null(last_err);
	hub_logs(hub, view_find(view, "web:0"), json_object(), on_logs, NULL);
	msg("r0", "node-1", "LOGS", "{\"id\": 2, \"status\": 404, \"reply\": {}}");
	cr_assert_null(last_err);
	cr_assert_eq(last_status, 404);
}

/* fuzz_hub's long run: an ACK under a log request's id ended it with no
   status, no body and no error. */
Test(hub, an_ack_answers_only_a_command_and_a_logs_only_a_log_request, .fini = hub_down)
{
	hub_up("groups: {web: {command: [w], hosts: [node-1]}}\n");
	msg("r0", "node-1", "HELLO", HELLO("node-1", 0, PROC("web:0", "web", 0, "RUNNING")));
	hub_logs(hub, view_find(view, "web:0"), json_object(), on_logs, NULL);
	msg("r0", "node-1", "ACK", "{\"id\": 1, \"rc\": -3}");
	cr_assert_eq(n_logs, 0, "an ACK ended a log request");
	hub_proc_cmd(hub, view_find(view, "web:0"), "stop", 0, on_done, NULL);
	msg("r0", "node-1", "LOGS", "{\"id\": 2, \"status\": 200, \"reply\": {}}");
	cr_assert_eq(n_done, 0, "a LOGS ended a command");
	msg("r0", "node-1", "LOGS", "{\"id\": 1, \"status\": 200, \"reply\": {}}");
	cr_assert_eq(n_logs, 1);
	cr_assert_eq(last_status, 200);
	msg("r0", "node-1", "ACK", "{\"id\": 2, \"rc\": 0}");
	cr_assert_eq(n_done, 1);
	cr_assert_eq(last_rc, 0);
}

Test(hub, an_event_numbered_past_the_largest_integer_asks_for_a_snapshot, .fini = hub_down)
{
	hub_up("groups: {web: {command: [w], hosts: [node-1]}}\n");
	msg("r0", "node-1", "HELLO", HELLO("node-1", 9223372036854775806, ));
	msg("r0", "node-1", "EVENT",
	    "{\"seq\": 9223372036854775807, \"processes\": [" PROC(
		"web:0", "web", 0, "RUNNING") ", " PROC("web:0", "web", 0, "FATAL") "]}");
	cr_assert_null(view_find(view, "web:0"), "an event past the largest number was taken");
	msg("r1", "node-2", "HELLO", HELLO("node-2", 9223372036854775807, ));
	msg("r1", "node-2", "EVENT", "{\"seq\": 1, \"processes\": []}");
	cr_assert_eq(s_agent_find(hub, "node-2")->seq, 9223372036854775807);
}

Test(hub, a_pong_whose_time_is_not_past_leaves_the_round_trip_alone, .fini = hub_down)
{
	char body[64];
	double rtt;

	hub_up("groups: {web: {command: [w], hosts: [node-1]}}\n");
	msg("r0", "node-1", "HELLO", HELLO("node-1", 0, ));
	snprintf(body, sizeof(body), "{\"t\": %lld}", (long long)clock_ms() - 5);
	msg("r0", "node-1", "PONG", body);
	rtt = s_agent_find(hub, "node-1")->rtt_s;
	cr_assert_geq(rtt, 0.005);
	msg("r0", "node-1", "PONG", "{\"t\": -9223372036854775808}");
	cr_assert_eq(s_agent_find(hub, "node-1")->rtt_s, rtt);
	snprintf(body, sizeof(body), "{\"t\": %lld}", (long long)clock_ms() + 60000);
	msg("r0", "node-1", "PONG", body);
	cr_assert_eq(s_agent_find(hub, "node-1")->rtt_s, rtt);
}
