/* drover-agent: runs the groups droverd places on this host with the same
   process engine as droverd (lib/proc), and reports to droverd's hub over
   a CURVE link where both ends are authenticated by key (SPEC 7,
   docs/agent-protocol.md). It keeps everything running while droverd is out
   of reach and reconnects by itself; on reconnect its snapshot replaces
   what the hub missed, and nothing that is fine restarts. Its workers die
   with it (PR_SET_PDEATHSIG): none is ever left running unsupervised. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>
#include <zmq.h>

#include "agent_wire.h"
#include "auth.h"
#include "clock.h"
#include "conf_agent.h"
#include "ev.h"
#include "log.h"
#include "logs.h"
#include "proc.h"
#include "sdnotify.h"
#include "secret.h"
#include "str.h"
#include "view.h"

#define AGENT_SAMPLE_MS 5000	/* CPU and memory samples to the hub */
#define AGENT_COMPLAIN_MS 30000 /* the same connection problem logged once in this time */
#define AGENT_MON_ENDPOINT "inproc://drover-agent-monitor"

typedef struct {
	conf_agent_t *cfg;
	ev_t *ev;
	proc_core_t *core;
	proc_host_t limits;
	void *zctx, *sock, *mon;
	awire_sock_t *ws;
	ev_io_t mon_io;
	int sigfd;
	ev_io_t sig_io;
	ev_timer_t tick, samples;
	ev_timer_t watchdog; /* systemd's, when the unit sets WatchdogSec */
	int64_t hb_ms;
	unsigned lost_after;
	int64_t last_rx_ms, last_tx_ms;
	int64_t next_hello_ms, hello_backoff_ms;
	int64_t rtt_ms; /* of the last PING answered; -1: none yet */
	bool linked;	/* the hub has answered since the last silence */
	bool stopping;
	json_int_t seq;
	json_t *pending;      /* changes not sent yet: one EVENT per loop pass */
	json_t *sent_samples; /* name -> the last samples sent */
	ev_timer_t flush;
	json_int_t generation;
	int64_t complained_ms[4]; /* per kind of connection problem */
	char hostname[256];
	char boot_id[64];
	char authkey_path[PATH_MAX];
} agent_t;

enum { GRIPE_AUTH, GRIPE_HANDSHAKE, GRIPE_REFUSED, GRIPE_SILENT };

static void
s_usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: drover-agent --connect tcp://HUB:9171 --name NAME --key NAME.cert_secret\n"
	    "                    --server-key droverd.cert [--label k=v]... [--state-dir DIR]\n"
	    "                    [--log-dir DIR] [-v]\n"
	    "       drover-agent -c agent.yaml [--check] [-v]\n"
	    "  -c, --config FILE     settings as YAML: agent: {connect, name, key, server_key,\n"
	    "                        labels: {k: v}, state_dir, log_dir}\n"
	    "      --connect URL     droverd's agent endpoint\n"
	    "      --name NAME       this agent's name (its cert's name in droverd's keys_dir)\n"
	    "      --key FILE        this agent's key pair (NAME.cert_secret, droverctl keygen)\n"
	    "      --server-key FILE droverd's public key (droverd.cert from its keys_dir)\n"
	    "      --label K=V       a label for placement by labels (repeatable)\n"
	    "      --state-dir DIR   state and the queue key (default ./var)\n"
	    "      --log-dir DIR     captured worker output (default STATE_DIR/log)\n"
	    "  -n, --check           check the settings and keys, then exit 0 or 1\n"
	    "  -v, --verbose         log state changes too\n"
	    "  -V, --version         print the version\n");
}

/* Logs a connection problem at most once per AGENT_COMPLAIN_MS. */
static void s_gripe(agent_t *a, int kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
s_gripe(agent_t *a, int kind, const char *fmt, ...)
{
	int64_t now = clock_ms();
	char msg[512];
	va_list ap;

	if (a->complained_ms[kind] != 0 && now - a->complained_ms[kind] < AGENT_COMPLAIN_MS)
		return;
	a->complained_ms[kind] = now;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_error("%s", msg);
}

static void
s_send(agent_t *a, awire_type_t t, json_t *body)
{
	if (awire_send(a->ws, NULL, 0, t, body) == 0)
		a->last_tx_ms = clock_ms();
}

/* ---- what the agent tells the hub ---- */

static json_t *
s_proc_json(const proc_t *p)
{
	view_proc_t v;

	proc_snapshot(p, &v);
	return view_proc_json(&v);
}

static void
s_hello(agent_t *a)
{
	json_t *procs = json_array(), *labels = json_object();
	size_t i, n = proc_core_count(a->core);
	long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);

	/* A new session: the hub gets every sample again. */
	json_object_clear(a->sent_samples);
	/* The snapshot holds every pending change: they are numbered, not sent. */
	a->seq += (json_int_t)json_array_size(a->pending);
	json_array_clear(a->pending);
	ev_timer_stop(a->ev, &a->flush);
	for (i = 0; i < n; i++)
		json_array_append_new(procs, s_proc_json(proc_core_at(a->core, i)));
	for (i = 0; i < a->cfg->n_labels; i++)
		json_object_set_new(labels, a->cfg->labels[i].key,
				    json_string(a->cfg->labels[i].value));
	s_send(a, AWIRE_HELLO,
	       json_pack("{s:i, s:s, s:s, s:s, s:o, s:i, s:I, s:s, s:I, s:o}", "protocol",
			 AWIRE_VERSION, "name", a->cfg->name, "version", DROVER_VERSION, "hostname",
			 a->hostname, "labels", labels, "cores", (int)sysconf(_SC_NPROCESSORS_ONLN),
			 "memory_bytes", (json_int_t)pages * psize, "boot_id", a->boot_id, "seq",
			 (json_int_t)a->seq, "processes", procs));
}

/* Sends the changes gathered in this loop pass as one EVENT. Numbered even
   when it cannot be sent now: the hub sees the gap after a reconnect and
   asks for a snapshot. */
static void
s_flush(agent_t *a)
{
	size_t n = json_array_size(a->pending);

	ev_timer_stop(a->ev, &a->flush);
	if (n == 0)
		return;
	s_send(a, AWIRE_EVENT,
	       json_pack("{s:I, s:O}", "seq", (json_int_t)(a->seq + 1), "processes", a->pending));
	a->seq += (json_int_t)n;
	json_array_clear(a->pending);
}

static void
s_on_flush(ev_t *ev, ev_timer_t *t)
{
	s_flush(t->arg);
}

static void
s_event(agent_t *a, const proc_t *p, bool removed)
{
	json_t *pj = s_proc_json(p);

	if (removed)
		json_object_set_new(pj, "removed", json_true());
	json_array_append_new(a->pending, pj);
	if (!ev_timer_active(&a->flush))
		ev_timer_start(a->ev, &a->flush, clock_ms(), s_on_flush, a);
}

static void
s_on_change(void *ctx, const proc_t *p)
{
	s_event(ctx, p, false);
}

static void
s_on_removed(void *ctx, const proc_t *p)
{
	s_event(ctx, p, true);
}

static void
s_on_group(void *ctx, const char *group, const char *what)
{
	log_info("group %s: %s", group, what);
}

static void
s_on_stopped(void *ctx)
{
	agent_t *a = ctx;

	if (a->stopping) {
		log_info("all processes stopped");
		ev_break(a->ev);
	}
}

static void
s_on_samples(ev_t *ev, ev_timer_t *t)
{
	agent_t *a = t->arg;
	json_t *list = json_array();
	size_t i, n = proc_core_count(a->core);
	double cpu;
	int64_t rss;
	proc_t *p;

	for (i = 0; a->linked && i < n; i++) {
		json_t *was, *now;

		p = proc_core_at(a->core, i);
		proc_usage(p, &cpu, &rss);
		if (cpu < 0 || rss < 0)
			continue;
		/* Only what changed since the last samples: an idle worker costs
		   no message at all. */
		now = json_pack("[s,f,I]", proc_name(p), cpu, (json_int_t)rss);
		was = json_object_get(a->sent_samples, proc_name(p));
		if (was != NULL && json_equal(was, now)) {
			json_decref(now);
			continue;
		}
		json_object_set(a->sent_samples, proc_name(p), now);
		json_array_append_new(list, now);
	}
	if (json_array_size(list) > 0)
		s_send(a, AWIRE_SAMPLES, json_pack("{s:o}", "samples", list));
	else
		json_decref(list);
	ev_timer_start(ev, t, clock_ms() + AGENT_SAMPLE_MS, s_on_samples, a);
}

/* ---- what the hub tells the agent ---- */

/* Writes the queue authkey for workers with queue_access: state_dir/queue.key,
   0600, written whole then renamed. */
static int
s_write_authkey(agent_t *a, const char *b64)
{
	unsigned char key[4096];
	size_t len = 0;
	char tmp[PATH_MAX + 8];
	int fd, rc = 0;

	if (sodium_base642bin(key, sizeof(key) - 1, b64, strlen(b64), NULL, &len, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    len == 0)
		return -EINVAL;
	key[len++] = '\n';
	snprintf(a->authkey_path, sizeof(a->authkey_path), "%s/queue.key", a->cfg->state_dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", a->authkey_path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		rc = -errno;
	else if (write(fd, key, len) != (ssize_t)len || fsync(fd) != 0)
		rc = -EIO;
	if (fd >= 0)
		close(fd);
	if (rc == 0 && rename(tmp, a->authkey_path) != 0)
		rc = -errno;
	sodium_memzero(key, sizeof(key));
	return rc;
}

static void
s_on_state(agent_t *a, json_t *b)
{
	json_t *groups = json_object_get(b, "groups"), *gj, *q;
	conf_group_t *list;
	conf_group_t *g;
	size_t i, n = json_array_size(groups);
	char why[256];
	int rc;

	if ((list = calloc(n + 1, sizeof(*list))) == NULL)
		return;
	json_array_foreach(groups, i, gj)
	{
		if ((g = awire_group_decode(gj, why, sizeof(why))) == NULL) {
			log_error("droverd sent a group this agent cannot run: %s; the state is "
				  "not applied",
				  why);
			while (i > 0)
				conf_group_clear(&list[--i]);
			free(list);
			return;
		}
		for (size_t k = 0; k < i; k++) {
			if (strcmp(list[k].name, g->name) == 0) {
				log_error("droverd sent group %s twice; the state is not applied",
					  g->name);
				conf_group_destroy(&g);
				while (i > 0)
					conf_group_clear(&list[--i]);
				free(list);
				return;
			}
		}
		list[i] = *g;
		free(g);
	}
	a->hb_ms = json_integer_value(json_object_get(b, "heartbeat_ms"));
	if (a->hb_ms < 50 || a->hb_ms > 600000)
		a->hb_ms = AWIRE_HEARTBEAT_MS;
	if (json_integer_value(json_object_get(b, "lost_after")) >= 2 &&
	    json_integer_value(json_object_get(b, "lost_after")) <= 100)
		a->lost_after = (unsigned)json_integer_value(json_object_get(b, "lost_after"));
	q = json_object_get(b, "queues");
	if (json_is_string(json_object_get(q, "url")) &&
	    json_is_string(json_object_get(q, "authkey"))) {
		if ((rc = s_write_authkey(a, json_string_value(json_object_get(q, "authkey")))) !=
		    0)
			log_error("queue key %s: %s", a->authkey_path, strerror(-rc));
		else
			proc_core_set_queue_access(
			    a->core, json_string_value(json_object_get(q, "url")), a->authkey_path);
	}
	if ((rc = proc_core_apply(a->core, list, n)) != 0)
		log_error("applying droverd's state: %s (nothing changed)", strerror(-rc));
	else if (a->generation != json_integer_value(json_object_get(b, "generation")))
		log_info("state %lld from droverd: %zu groups",
			 (long long)json_integer_value(json_object_get(b, "generation")), n);
	a->generation = json_integer_value(json_object_get(b, "generation"));
	for (i = 0; i < n; i++)
		conf_group_clear(&list[i]);
	free(list);
}

static void
s_on_cmd(agent_t *a, json_t *b)
{
	const char *cmd = json_string_value(json_object_get(b, "cmd"));
	const char *name = json_string_value(json_object_get(b, "name"));
	const char *group = json_string_value(json_object_get(b, "group"));
	json_int_t n = json_integer_value(json_object_get(b, "n"));
	int sig = (int)json_integer_value(json_object_get(b, "signal"));
	proc_t *p = NULL;
	int rc = -EINVAL;

	if (name != NULL && (p = proc_core_find(a->core, name)) == NULL) {
		rc = -ESRCH;
	} else if (p != NULL) {
		if (strcmp(cmd, "start") == 0)
			rc = proc_start(a->core, p);
		else if (strcmp(cmd, "stop") == 0)
			rc = proc_stop(a->core, p);
		else if (strcmp(cmd, "restart") == 0)
			rc = proc_restart(a->core, p);
		else if (strcmp(cmd, "signal") == 0 && sig > 0 && sig < 65)
			rc = proc_signal(a->core, p, sig);
	} else if (group != NULL) {
		if (strcmp(cmd, "start") == 0)
			rc = proc_group_start(a->core, group);
		else if (strcmp(cmd, "stop") == 0)
			rc = proc_group_stop(a->core, group);
		else if (strcmp(cmd, "restart") == 0)
			rc = proc_group_restart(a->core, group, n != 0);
	}
	s_flush(a); /* the changes it made before its acknowledgement */
	s_send(a, AWIRE_ACK,
	       json_pack("{s:O, s:i, s:s}", "id", json_object_get(b, "id"), "rc", rc, "message",
			 rc == 0 ? "" : strerror(-rc)));
}

static json_t *s_error(const char *code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static json_t *
s_error(const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", msg);
}

/* The logs call of one of this host's processes: read here, answered as
   droverd answers it for its own (lib/logs), so both are byte for byte
   the same. */
static void
s_on_logreq(agent_t *a, json_t *b)
{
	const char *name = json_string_value(json_object_get(b, "name"));
	const char *stream = json_string_value(json_object_get(b, "stream"));
	json_t *tj = json_object_get(b, "tail"), *oj = json_object_get(b, "offset"),
	       *ij = json_object_get(b, "inode"), *reply;
	long long tail = json_is_integer(tj) ? json_integer_value(tj) : -1;
	long long offset = json_is_integer(oj) ? json_integer_value(oj) : -1;
	long long inode = json_is_integer(ij) ? json_integer_value(ij) : -1;
	const char *path;
	proc_t *p;
	int status = 200;

	if (stream == NULL)
		stream = "stdout";
	if ((p = proc_core_find(a->core, name)) == NULL) {
		status = 404;
		reply = s_error("not_found", "no process named %s on this host", name);
	} else if (strcmp(stream, "stdout") != 0 && strcmp(stream, "stderr") != 0) {
		status = 400;
		reply =
		    s_error("bad_request", "stream must be stdout or stderr, got \"%s\"", stream);
	} else if ((path = proc_log_path(p, stream)) == NULL) {
		status = 404;
		reply =
		    s_error("not_captured", "the %s of %s is not captured to a file", stream, name);
	} else {
		reply = logs_read(path, name, stream, tail, offset, inode);
	}
	s_send(a, AWIRE_LOGS,
	       json_pack("{s:O, s:i, s:o}", "id", json_object_get(b, "id"), "status", status,
			 "reply", reply));
}

static void
s_on_msg(void *arg, const awire_from_t *from, awire_type_t t, json_t *b)
{
	agent_t *a = arg;

	a->last_rx_ms = clock_ms();
	if (!a->linked && t != AWIRE_REFUSED) {
		log_info("linked to droverd at %s", a->cfg->connect);
		a->linked = true;
		a->hello_backoff_ms = 0;
	}
	switch (t) {
	case AWIRE_STATE:
		s_on_state(a, b);
		break;
	case AWIRE_CMD:
		s_on_cmd(a, b);
		break;
	case AWIRE_LOGREQ:
		s_on_logreq(a, b);
		break;
	case AWIRE_PING:
		s_send(a, AWIRE_PONG, json_pack("{s:O}", "t", json_object_get(b, "t")));
		break;
	case AWIRE_PONG:
		/* The round trip, told to droverd with the next PING: t is this
		   agent's clock echoed, no later than now. */
		if (json_integer_value(json_object_get(b, "t")) >= 0 &&
		    json_integer_value(json_object_get(b, "t")) <= clock_ms())
			a->rtt_ms = clock_ms() - json_integer_value(json_object_get(b, "t"));
		break;
	case AWIRE_REGISTER:
		s_hello(a);
		break;
	case AWIRE_REFUSED:
		a->linked = false;
		a->next_hello_ms = clock_ms() + AWIRE_RECONNECT_MAX_MS;
		s_gripe(a, GRIPE_REFUSED, "droverd at %s refused this agent: %s", a->cfg->connect,
			json_string_value(json_object_get(b, "reason")));
		break;
	default:
		log_warn("droverd sent %s, which an agent does not take: dropped",
			 awire_type_name(t));
		break;
	}
	json_decref(b);
}

static void
s_on_bad(void *arg, const awire_from_t *from, const char *why)
{
	log_warn("bad message from droverd: %s: dropped", why);
}

/* ---- the link ---- */

/* The monitor tells how the handshakes go: a refused key or a wrong server
   key is said clearly here, not only in droverd's log. */
static void
s_on_monitor(ev_t *ev, ev_io_t *io, uint32_t events)
{
	agent_t *a = io->arg;
	zmq_msg_t m1, m2;
	uint16_t event;
	uint32_t value, e = 0;
	size_t el = sizeof(e);

	while (zmq_getsockopt(a->mon, ZMQ_EVENTS, &e, &el) == 0 && (e & ZMQ_POLLIN)) {
		zmq_msg_init(&m1);
		zmq_msg_init(&m2);
		if (zmq_msg_recv(&m1, a->mon, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&m1);
			zmq_msg_close(&m2);
			break;
		}
		zmq_msg_recv(&m2, a->mon, ZMQ_DONTWAIT); /* the endpoint */
		if (zmq_msg_size(&m1) >= 6) {
			memcpy(&event, zmq_msg_data(&m1), 2);
			memcpy(&value, (char *)zmq_msg_data(&m1) + 2, 4);
			switch (event) {
			case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
				a->complained_ms[GRIPE_AUTH] = a->complained_ms[GRIPE_HANDSHAKE] =
				    0;
				s_hello(a);
				break;
			case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
				s_gripe(
				    a, GRIPE_AUTH,
				    "droverd at %s refused this agent's key (status %u): its "
				    "keys_dir needs %s.cert, made by droverctl keygen with this "
				    "key pair",
				    a->cfg->connect, value, a->cfg->name);
				break;
			case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
			case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
				s_gripe(
				    a, GRIPE_HANDSHAKE,
				    "no secure handshake with %s: is --server-key droverd's own "
				    "droverd.cert, and is this droverd's agent port?",
				    a->cfg->connect);
				break;
			default:
				break;
			}
		}
		zmq_msg_close(&m1);
		zmq_msg_close(&m2);
	}
}

/* Heartbeats both ways; the hub's silence means keep running and keep
   trying, with a HELLO now and then (capped backoff with jitter). */
static void
s_on_tick(ev_t *ev, ev_timer_t *t)
{
	agent_t *a = t->arg;
	int64_t now = clock_ms();

	if (a->linked && now - a->last_rx_ms > a->hb_ms * (int64_t)a->lost_after) {
		a->linked = false;
		s_gripe(a, GRIPE_SILENT,
			"droverd at %s is silent: every process keeps running; reconnecting",
			a->cfg->connect);
		a->next_hello_ms = now;
	}
	if (!a->linked && now >= a->next_hello_ms) {
		s_hello(a);
		a->hello_backoff_ms = a->hello_backoff_ms ? a->hello_backoff_ms * 2 : 100;
		if (a->hello_backoff_ms > AWIRE_RECONNECT_MAX_MS)
			a->hello_backoff_ms = AWIRE_RECONNECT_MAX_MS;
		a->next_hello_ms =
		    now + a->hello_backoff_ms / 2 +
		    (int64_t)randombytes_uniform((uint32_t)a->hello_backoff_ms / 2 + 1);
	} else if (a->linked && now - a->last_rx_ms >= a->hb_ms + a->hb_ms / 2 &&
		   now - a->last_tx_ms >= a->hb_ms) {
		/* The hub pings every agent once a heartbeat and the agent
		   answers; it pings by itself only when the hub has been quiet
		   for a heartbeat and a half (an older hub, or a slow one). */
		s_send(
		    a, AWIRE_PING,
		    json_pack("{s:I, s:I}", "t", (json_int_t)now, "rtt_ms", (json_int_t)a->rtt_ms));
	}
	ev_timer_start(ev, t, now + (a->linked ? a->hb_ms / 2 : 100), s_on_tick, a);
}

static int
s_link(agent_t *a, const uint8_t *pk, const uint8_t *sk, const uint8_t *server_pk)
{
	int zero = 0, one = 1, ivl = 100, ivl_max = AWIRE_RECONNECT_MAX_MS, fd;
	/* The kernel closes a TCP connection that died silently, so that the
	   agent reconnects; the protocol's heartbeats say who is alive. */
	int hbt = 2 * AWIRE_HEARTBEAT_MS * AWIRE_LOST_AFTER;
	int64_t max = AWIRE_MAX_BODY + 4096;
	size_t fl = sizeof(fd);

	if ((a->zctx = zmq_ctx_new()) == NULL ||
	    (a->sock = zmq_socket(a->zctx, ZMQ_DEALER)) == NULL)
		return -errno;
	zmq_setsockopt(a->sock, ZMQ_CURVE_SERVERKEY, server_pk, AUTH_KEY_LEN);
	zmq_setsockopt(a->sock, ZMQ_CURVE_PUBLICKEY, pk, AUTH_KEY_LEN);
	zmq_setsockopt(a->sock, ZMQ_CURVE_SECRETKEY, sk, AUTH_KEY_LEN);
	zmq_setsockopt(a->sock, ZMQ_LINGER, &zero, sizeof(zero));
	zmq_setsockopt(a->sock, ZMQ_IMMEDIATE, &one, sizeof(one));
	zmq_setsockopt(a->sock, ZMQ_RECONNECT_IVL, &ivl, sizeof(ivl));
	zmq_setsockopt(a->sock, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof(ivl_max));
	zmq_setsockopt(a->sock, ZMQ_HANDSHAKE_IVL, &hbt, sizeof(hbt));
	awire_tcp_liveness(a->sock, hbt);
	zmq_setsockopt(a->sock, ZMQ_MAXMSGSIZE, &max, sizeof(max));
	/* droverd at an IPv6 address (tcp://[fd00::1]:9171) needs ZeroMQ's IPv6
	   on; only then, so that a host name still resolves to IPv4 as before. */
	if (strncmp(a->cfg->connect, "tcp://[", 7) == 0)
		zmq_setsockopt(a->sock, ZMQ_IPV6, &one, sizeof(one));
	if (zmq_socket_monitor(a->sock, AGENT_MON_ENDPOINT,
			       ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
				   ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
				   ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) != 0 ||
	    (a->mon = zmq_socket(a->zctx, ZMQ_PAIR)) == NULL ||
	    zmq_connect(a->mon, AGENT_MON_ENDPOINT) != 0 ||
	    zmq_getsockopt(a->mon, ZMQ_FD, &fd, &fl) != 0 ||
	    ev_io_start(a->ev, &a->mon_io, fd, EPOLLIN, s_on_monitor, a) != 0)
		return -EIO;
	s_on_monitor(a->ev, &a->mon_io, 0); /* the fd only signals edges */
	if ((a->ws = awire_sock_new(a->ev, a->sock, false, s_on_msg, s_on_bad, a)) == NULL)
		return -EIO;
	if (zmq_connect(a->sock, a->cfg->connect) != 0)
		return -errno;
	return 0;
}

/* ---- signals ---- */

static void
s_on_signal(ev_t *ev, ev_io_t *io, uint32_t events)
{
	agent_t *a = io->arg;
	struct signalfd_siginfo si;

	while (read(a->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			proc_core_reap(a->core);
			break;
		case SIGTERM:
		case SIGINT:
			if (a->stopping) {
				log_warn("second stop signal: killing every process now");
				ev_break(ev);
				break;
			}
			log_info("received SIG%s: stopping all processes",
				 si.ssi_signo == SIGTERM ? "TERM" : "INT");
			a->stopping = true;
			sdn_stopping(0);
			proc_core_shutdown(a->core);
			break;
		default:
			break;
		}
	}
}

/* ---- start ---- */

static void
s_read_boot_id(agent_t *a)
{
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");

	if (f == NULL || fgets(a->boot_id, sizeof(a->boot_id), f) == NULL)
		a->boot_id[0] = '\0';
	a->boot_id[strcspn(a->boot_id, "\n")] = '\0';
	if (f != NULL)
		fclose(f);
}

/* Sets *dst to a copy of s; exits on no memory (before the loop). */
static void
s_set(char **dst, const char *s)
{
	free(*dst);
	if ((*dst = strdup(s)) == NULL)
		die(EX_OSERR, "out of memory");
}

/* A relative path from the command line, made absolute. */
static void
s_set_path(char **dst, const char *s)
{
	char cwd[PATH_MAX], *out = NULL;

	if (s[0] == '/' || getcwd(cwd, sizeof(cwd)) == NULL) {
		s_set(dst, s);
		return;
	}
	if (asprintf(&out, "%s/%s", cwd, s) < 0)
		die(EX_OSERR, "out of memory");
	free(*dst);
	*dst = out;
}

/* What the command line set, merged into the settings. */
static void
s_flags_free(conf_agent_t *f)
{
	size_t i;

	free(f->connect);
	free(f->name);
	free(f->key);
	free(f->server_key);
	free(f->state_dir);
	free(f->log_dir);
	for (i = 0; i < f->n_labels; i++) {
		free(f->labels[i].key);
		free(f->labels[i].value);
	}
	free(f->labels);
	memset(f, 0, sizeof(*f));
}

int
main(int argc, char **argv)
{
	enum { O_CONNECT = 256, O_NAME, O_KEY, O_SERVER_KEY, O_LABEL, O_STATE_DIR, O_LOG_DIR };
	static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
					     {"check", no_argument, NULL, 'n'},
					     {"verbose", no_argument, NULL, 'v'},
					     {"version", no_argument, NULL, 'V'},
					     {"help", no_argument, NULL, 'h'},
					     {"connect", required_argument, NULL, O_CONNECT},
					     {"name", required_argument, NULL, O_NAME},
					     {"key", required_argument, NULL, O_KEY},
					     {"server-key", required_argument, NULL, O_SERVER_KEY},
					     {"label", required_argument, NULL, O_LABEL},
					     {"state-dir", required_argument, NULL, O_STATE_DIR},
					     {"log-dir", required_argument, NULL, O_LOG_DIR},
					     {NULL, 0, NULL, 0}};
	agent_t a = {
	    .sigfd = -1,
	    .rtt_ms = -1,
	    .hb_ms = AWIRE_HEARTBEAT_MS,
	    .lost_after = AWIRE_LOST_AFTER,
	};
	proc_events_t pev = {s_on_change, s_on_group, s_on_removed, s_on_stopped};
	const char *conf_path = NULL;
	conf_agent_t flags = {0};
	uint8_t pk[AUTH_KEY_LEN], sk[AUTH_KEY_LEN], server_pk[AUTH_KEY_LEN];
	char *errs = NULL, *eq;
	bool check = false;
	proc_run_t run;
	char state_file[PATH_MAX];
	sigset_t mask;
	int c, rc;
	size_t i;

	/* Every return before the loop frees what the flags and the file made. */
#define EXIT(code)                                                                                 \
	do {                                                                                       \
		s_flags_free(&flags);                                                              \
		conf_agent_free(&a.cfg);                                                           \
		return (code);                                                                     \
	} while (0)

	log_set_ident("drover-agent");
	while ((c = getopt_long(argc, argv, "c:nvVh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			conf_path = optarg;
			break;
		case 'n':
			check = true;
			break;
		case 'v':
			log_set_level(DLOG_DEBUG);
			break;
		case 'V':
			printf("drover-agent %s\n", DROVER_VERSION);
			EXIT(0);
		case 'h':
			s_usage(stdout);
			EXIT(0);
		case O_CONNECT:
			if (strncmp(optarg, "tcp://", 6) != 0 || strchr(optarg + 6, ':') == NULL) {
				fprintf(stderr,
					"drover-agent: --connect: expected tcp://HOST:PORT, got "
					"\"%s\"\n",
					optarg);
				EXIT(2);
			}
			s_set(&flags.connect, optarg);
			break;
		case O_NAME:
			if (!conf_agent_name_ok(optarg)) {
				fprintf(stderr,
					"drover-agent: --name: \"%s\" is not a valid agent name "
					"(1-64 letters, digits, '-', '_' or '.', not \"local\")\n",
					optarg);
				EXIT(2);
			}
			s_set(&flags.name, optarg);
			break;
		case O_KEY:
			s_set_path(&flags.key, optarg);
			break;
		case O_SERVER_KEY:
			s_set_path(&flags.server_key, optarg);
			break;
		case O_STATE_DIR:
			s_set_path(&flags.state_dir, optarg);
			break;
		case O_LOG_DIR:
			s_set_path(&flags.log_dir, optarg);
			break;
		case O_LABEL:
			if ((eq = strchr(optarg, '=')) == NULL || eq == optarg) {
				fprintf(stderr,
					"drover-agent: --label: expected KEY=VALUE, got \"%s\"\n",
					optarg);
				EXIT(2);
			}
			*eq = '\0';
			if (conf_agent_add_label(&flags, optarg, eq + 1) != 0)
				die(EX_OSERR, "out of memory");
			break;
		default:
			s_usage(stderr);
			EXIT(2);
		}
	}
	if (optind != argc) {
		fprintf(stderr, "drover-agent: unexpected argument \"%s\"\n", argv[optind]);
		EXIT(2);
	}
	if (conf_path != NULL) {
		if (conf_agent_load(conf_path, &a.cfg, &errs) != 0) {
			fputs(errs ? errs : "invalid settings\n", stderr);
			free(errs);
			EXIT(1);
		}
	} else if ((a.cfg = calloc(1, sizeof(*a.cfg))) == NULL) {
		die(EX_OSERR, "out of memory");
	}
	/* Flags override the file. */
	if (flags.connect)
		s_set(&a.cfg->connect, flags.connect);
	if (flags.name)
		s_set(&a.cfg->name, flags.name);
	if (flags.key)
		s_set(&a.cfg->key, flags.key);
	if (flags.server_key)
		s_set(&a.cfg->server_key, flags.server_key);
	if (flags.state_dir)
		s_set(&a.cfg->state_dir, flags.state_dir);
	if (flags.log_dir)
		s_set(&a.cfg->log_dir, flags.log_dir);
	for (i = 0; i < flags.n_labels; i++)
		if (conf_agent_add_label(a.cfg, flags.labels[i].key, flags.labels[i].value) != 0)
			die(EX_OSERR, "out of memory");
	{
		const char *missing = !a.cfg->connect	   ? "--connect"
				      : !a.cfg->name	   ? "--name"
				      : !a.cfg->key	   ? "--key"
				      : !a.cfg->server_key ? "--server-key"
							   : NULL;

		if (missing != NULL) {
			fprintf(stderr, "drover-agent: %s is missing (or -c agent.yaml)\n",
				missing);
			EXIT(2);
		}
	}
	if (a.cfg->state_dir == NULL)
		s_set_path(&a.cfg->state_dir, "var");
	if (a.cfg->log_dir == NULL && asprintf(&a.cfg->log_dir, "%s/log", a.cfg->state_dir) < 0)
		die(EX_OSERR, "out of memory");
	if (sodium_init() < 0)
		die(EX_OSERR, "libsodium cannot start");
	if ((rc = auth_cert_load(a.cfg->key, pk, sk)) != 0) {
		fprintf(stderr, "drover-agent: key %s: %s\n", a.cfg->key,
			rc == -ENOKEY ? "holds no secret key (use NAME.cert_secret, not NAME.cert)"
			: rc == -EINVAL ? "not a key pair made by droverctl keygen"
					: strerror(-rc));
		EXIT(1);
	}
	{
		char msg[4096 + 256];

		if (secret_check_private(a.cfg->key, msg, sizeof(msg)) != 0) {
			sodium_memzero(sk, sizeof(sk));
			fprintf(stderr, "drover-agent: key %s: %s\n", a.cfg->key, msg);
			EXIT(1);
		}
	}
	if ((rc = auth_cert_load(a.cfg->server_key, server_pk, NULL)) != 0) {
		fprintf(stderr, "drover-agent: server key %s: %s\n", a.cfg->server_key,
			rc == -EINVAL ? "not a certificate (droverd.cert from droverd's keys_dir)"
				      : strerror(-rc));
		EXIT(1);
	}
	if (check) {
		printf("%s: OK (agent %s, droverd at %s, %zu labels)\n",
		       conf_path ? conf_path : "flags", a.cfg->name, a.cfg->connect,
		       a.cfg->n_labels);
		sodium_memzero(sk, sizeof(sk));
		conf_agent_free(&a.cfg);
		EXIT(0);
	}

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	if ((rc = str_mkdirs(a.cfg->state_dir)) != 0)
		die(EX_CANTCREAT, "state_dir %s: %s", a.cfg->state_dir, strerror(-rc));
	if ((rc = str_mkdirs(a.cfg->log_dir)) != 0)
		die(EX_CANTCREAT, "log_dir %s: %s", a.cfg->log_dir, strerror(-rc));
	if (gethostname(a.hostname, sizeof(a.hostname) - 1) != 0)
		strcpy(a.hostname, "localhost");
	s_read_boot_id(&a);
	if ((rc = proc_host_setup(&a.limits)) != 0)
		die(EX_OSERR, "process setup: %s", strerror(-rc));
	if ((a.ev = ev_new()) == NULL || (a.pending = json_array()) == NULL ||
	    (a.sent_samples = json_object()) == NULL)
		die(EX_OSERR, "event loop: %s", strerror(errno));
	snprintf(state_file, sizeof(state_file), "%s/workers.state", a.cfg->state_dir);
	if ((rc = proc_leftovers_stop(state_file, 10000)) > 0)
		log_warn("stopped %d workers that a previous drover-agent left running", rc);
	run = (proc_run_t){.host = a.cfg->name,
			   .state_file = state_file,
			   .dir = a.cfg->state_dir,
			   .log_dir = a.cfg->log_dir,
			   .limits = a.limits,
			   .die_with_owner = true};
	if ((a.core = proc_core_new(a.ev, &run, &pev, &a)) == NULL)
		die(EX_OSERR, "process engine: %s", strerror(errno));
	if ((a.sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)) < 0 ||
	    ev_io_start(a.ev, &a.sig_io, a.sigfd, EPOLLIN, s_on_signal, &a) != 0)
		die(EX_OSERR, "signalfd: %s", strerror(errno));
	if ((rc = s_link(&a, pk, sk, server_pk)) != 0)
		die(EX_OSERR, "link to %s: %s", a.cfg->connect, zmq_strerror(-rc));
	sodium_memzero(sk, sizeof(sk));
	log_info("drover-agent %s: %s, connecting to %s", DROVER_VERSION, a.cfg->name,
		 a.cfg->connect);
	ev_timer_start(a.ev, &a.tick, clock_ms() + 100, s_on_tick, &a);
	ev_timer_start(a.ev, &a.samples, clock_ms() + AGENT_SAMPLE_MS, s_on_samples, &a);
	/* Up: the workers the last run left are dealt with and the link is
	   being made (an agent runs, and keeps its workers, while droverd is
	   out of reach). */
	sdn_watchdog_start(a.ev, &a.watchdog);
	sdn_ready("running");

	rc = ev_run(a.ev);
	ev_timer_stop(a.ev, &a.watchdog);

	ev_timer_stop(a.ev, &a.tick);
	ev_timer_stop(a.ev, &a.samples);
	ev_timer_stop(a.ev, &a.flush);
	json_decref(a.pending);
	json_decref(a.sent_samples);
	proc_core_destroy(&a.core);
	awire_sock_destroy(&a.ws);
	ev_io_stop(a.ev, &a.mon_io);
	zmq_close(a.mon);
	zmq_close(a.sock);
	zmq_ctx_term(a.zctx);
	ev_io_stop(a.ev, &a.sig_io);
	close(a.sigfd);
	ev_destroy(&a.ev);
	conf_agent_free(&a.cfg);
	s_flags_free(&flags);
	log_info("exit");
	return rc == 0 ? 0 : 1;
}
