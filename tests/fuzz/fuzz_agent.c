/* fuzz_agent: drover-agent's handling of what droverd sends (agent/main.c,
   compiled into this harness with its main() renamed, for its static
   functions), from a decoded message to the process engine and the answers.
   The input is a script of steps, each one of:
     - a message from droverd: a type and a JSON body, checked by
       awire_decode() and handed to s_on_msg() (or s_on_bad()) exactly as
       the socket's reader does: STATE with groups, CMD, LOGREQ, PING, PONG,
       REGISTER, REFUSED, and the types an agent does not take;
     - time passing (up to 7.75 s): heartbeats, droverd's silence and the
       HELLOs after it, samples, and the engine's own timers (start
       timeouts, backoff, stop timeouts);
     - a new handshake (the monitor's HANDSHAKE_SUCCEEDED: a HELLO);
     - SIGCHLD: workers that have exited (waiting up to 2 ms for one);
     - SIGTERM: the agent stops everything (once).
   The agent is main()'s, on a real ev loop with a real process engine
   (lib/proc) that forks real workers; its DEALER is connected over inproc
   to a ROUTER from which the harness reads every message the agent sends.
   Time is virtual, as in fuzz_hub (-Wl,--wrap=clock_ms).

   What runs: the harness rewrites each group of a STATE before the agent
   sees it, in ways that keep it as valid or invalid as it was: argv[0] (and
   a readiness exec's) becomes /bin/true when it holds "true", /bin/sleep
   when it holds "sleep", and otherwise /nonexistent/drover-fuzz-worker (a
   failed exec: no process); ready targets point at 127.0.0.1:1, output
   files into this harness's directory, inherited output to /dev/null, core
   dumps are off and LD_ variables dropped. At most 3 instances a group
   (an instance count in range becomes count % 4), 4 groups a STATE and 8
   group names an input: never more than 24 workers and their probes, all
   killed and reaped when the input ends. The directories are under
   /dev/shm when there is one (fsync of the state file and the queue key).

   Checks beyond no crash and no leak:
     - every message the agent sends decodes with awire_decode() and is one
       an agent sends; EVENTs number their changes without a gap from the
       HELLO before them; every CMD gets one ACK (0 or -errno), after the
       EVENT of what it changed; every LOGREQ one LOGS (an HTTP status and
       an object), every PING a PONG with its t;
     - a group the agent accepts has a name droverd could send, safe as the
       file name its output goes to (checked before the agent sees it);
     - the agent never runs a group droverd did not place: every worker it
       starts, and every process starting, running or in backoff after each
       step, is an instance of the last state it accepted; none starts once
       it is stopping;
     - no worker survives the agent. */
#include "fuzz.h"

#include <dirent.h>
#include <ftw.h>
#include <sys/wait.h>

#define main agent_main
int agent_main(int argc, char **argv);
#include "../../agent/main.c"
#undef main

#include "proc_internal.h" /* the engine's pid table: who must be gone */

#define MAX_STEPS 64
#define MAX_GROUPS 4	/* a STATE's, as the agent sees it */
#define MAX_NAMES 8	/* group names of one input */
#define MAX_INSTANCES 3 /* of a group */
#define MAX_CHILDREN (MAX_NAMES * MAX_INSTANCES * 2)

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

static char s_dir[96], s_state_dir[128], s_log_dir[128], s_out_dir[128], s_state_file[160];
static conf_agent_t s_cfg;
static proc_host_t s_limits;
static void *s_zctx, *s_hub, *s_dealer;

static int
s_rm_inner(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return ftw->level > 1 ? remove(path) : 0;
}

static int
s_rm_all(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

/* Empties the state, log and output directories (what the agent and the
   workers wrote). */
static void
s_empty(void)
{
	nftw(s_dir, s_rm_inner, 8, FTW_DEPTH | FTW_PHYS);
}

static void
s_cleanup(void)
{
	nftw(s_dir, s_rm_all, 8, FTW_DEPTH | FTW_PHYS);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int zero = 0;
	char buf[16];
	struct stat st;

	/* Silent: a failed exec is logged at error level, and most are. */
	log_set_level(getenv("FUZZ_AGENT_LOG") ? DLOG_DEBUG : (log_level_t)(DLOG_ERROR + 1));
	snprintf(s_dir, sizeof(s_dir), "%s/drover-fuzz-agent-%d",
		 stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp",
		 (int)getpid());
	snprintf(s_state_dir, sizeof(s_state_dir), "%s/state", s_dir);
	snprintf(s_log_dir, sizeof(s_log_dir), "%s/log", s_dir);
	snprintf(s_out_dir, sizeof(s_out_dir), "%s/out", s_dir);
	snprintf(s_state_file, sizeof(s_state_file), "%s/workers.state", s_state_dir);
	FUZZ_CHECK(mkdir(s_dir, 0700) == 0 || errno == EEXIST);
	atexit(s_cleanup);
	FUZZ_CHECK(str_mkdirs(s_state_dir) == 0 && str_mkdirs(s_log_dir) == 0 &&
		   str_mkdirs(s_out_dir) == 0);
	s_cfg = (conf_agent_t){.connect = "tcp://127.0.0.1:9171",
			       .name = "node-1",
			       .key = "/nonexistent/node-1.cert_secret",
			       .server_key = "/nonexistent/droverd.cert",
			       .state_dir = s_state_dir,
			       .log_dir = s_log_dir};
	FUZZ_CHECK(proc_host_setup(&s_limits) == 0);
	FUZZ_CHECK((s_zctx = zmq_ctx_new()) != NULL);
	FUZZ_CHECK((s_hub = zmq_socket(s_zctx, ZMQ_ROUTER)) != NULL);
	zmq_setsockopt(s_hub, ZMQ_LINGER, &zero, sizeof(zero));
	FUZZ_CHECK(zmq_bind(s_hub, "inproc://fuzz-agent") == 0);
	FUZZ_CHECK((s_dealer = zmq_socket(s_zctx, ZMQ_DEALER)) != NULL);
	zmq_setsockopt(s_dealer, ZMQ_ROUTING_ID, "node-1", 6);
	zmq_setsockopt(s_dealer, ZMQ_LINGER, &zero, sizeof(zero));
	FUZZ_CHECK(zmq_connect(s_dealer, "inproc://fuzz-agent") == 0);
	FUZZ_CHECK(zmq_send(s_dealer, "x", 1, 0) == 1);
	FUZZ_CHECK(zmq_recv(s_hub, buf, sizeof(buf), 0) == 6);
	FUZZ_CHECK(zmq_recv(s_hub, buf, sizeof(buf), 0) == 1);
	return 0;
}

/* ---- what this input expects ---- */

static agent_t s_a;

static struct {
	json_t *placed;	     /* group name -> [base, count] of the last accepted STATE */
	json_t *names;	     /* group names this input has let through */
	json_t *acks, *logs; /* CMD / LOGREQ id (as text) -> answers still owed */
	json_t *pongs;	     /* PING t (as text) -> PONGs still owed */
	json_int_t next_seq; /* the next EVENT's seq; -1: no HELLO yet */
} s_want;

static bool
s_name_ok(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= 64 &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

/* Is p an instance of the state the agent last accepted? */
static bool
s_placed(const proc_t *p)
{
	json_t *r = json_object_get(s_want.placed, proc_group(p));
	json_int_t base = json_integer_value(json_array_get(r, 0));
	json_int_t count = json_integer_value(json_array_get(r, 1));

	return r != NULL && (json_int_t)proc_instance(p) >= base &&
	       (json_int_t)proc_instance(p) < base + count;
}

static void
s_on_change_checked(void *ctx, const proc_t *p)
{
	/* A worker started: droverd placed it, and the agent is not stopping. */
	if (proc_state(p) == PROC_STARTING && proc_pid(p) > 0) {
		FUZZ_CHECK(s_placed(p));
		FUZZ_CHECK(!s_a.stopping);
	}
	s_on_change(ctx, p);
}

/* Counts an answer owed under key (an id or a t). */
static void
s_owe(json_t *book, json_int_t key)
{
	char k[32];

	snprintf(k, sizeof(k), "%lld", (long long)key);
	json_object_set_new(book, k,
			    json_integer(json_integer_value(json_object_get(book, k)) + 1));
}

static void
s_paid(json_t *book, json_int_t key)
{
	char k[32];
	json_int_t n;

	snprintf(k, sizeof(k), "%lld", (long long)key);
	n = json_integer_value(json_object_get(book, k));
	FUZZ_CHECK(n > 0); /* an answer to something droverd asked */
	if (n == 1)
		json_object_del(book, k);
	else
		json_object_set_new(book, k, json_integer(n - 1));
}

/* ---- what runs: a STATE's groups made harmless (see the top) ---- */

static void
s_tame_argv(json_t *argv)
{
	const char *a0 = json_string_value(json_array_get(argv, 0));

	if (a0 == NULL)
		return;
	json_array_set_new(argv, 0,
			   json_string(strstr(a0, "true")    ? "/bin/true"
				       : strstr(a0, "sleep") ? "/bin/sleep"
							     : "/nonexistent/drover-fuzz-worker"));
}

static bool
s_is(const json_t *j, const char *s)
{
	return json_is_string(j) && strcmp(json_string_value(j), s) == 0;
}

static void
s_tame_output(json_t *o, unsigned k)
{
	char path[200];

	if (json_is_string(json_object_get(o, "file"))) {
		snprintf(path, sizeof(path), "%s/f%u", s_out_dir, k);
		json_object_set_new(o, "file", json_string(path));
	}
	if (s_is(json_object_get(o, "mode"), "inherit"))
		json_object_set_new(o, "mode", json_string("null"));
}

static void
s_tame(json_t *groups)
{
	json_t *g, *v, *env, *e;
	const char *name, *key;
	size_t i, k;
	json_int_t n;

	while (json_array_size(groups) > MAX_GROUPS)
		json_array_remove(groups, MAX_GROUPS);
	for (i = 0; i < json_array_size(groups); i++) {
		g = json_array_get(groups, i);
		if ((name = json_string_value(json_object_get(g, "name"))) != NULL &&
		    json_object_get(s_want.names, name) == NULL) {
			if (json_object_size(s_want.names) >= MAX_NAMES) {
				json_array_remove(groups, i--);
				continue;
			}
			json_object_set_new(s_want.names, name, json_true());
		}
		if (!json_is_object(g))
			continue;
		s_tame_argv(json_object_get(g, "argv"));
		v = json_object_get(g, "ready");
		s_tame_argv(json_object_get(v, "exec"));
		if (json_is_string(json_object_get(v, "target")))
			json_object_set_new(v, "target",
					    json_string(s_is(json_object_get(v, "kind"), "http")
							    ? "http://127.0.0.1:1/"
							    : "127.0.0.1:1"));
		s_tame_output(json_object_get(g, "stdout"), 2 * (unsigned)i);
		s_tame_output(json_object_get(g, "stderr"), 2 * (unsigned)i + 1);
		v = json_object_get(g, "limits");
		if (json_is_integer(json_object_get(v, "core")))
			json_object_set_new(v, "core", json_integer(0));
		v = json_object_get(g, "instances");
		if (json_is_integer(v) && (n = json_integer_value(v)) >= 0 &&
		    n <= CONF_MAX_INSTANCES)
			json_object_set_new(g, "instances", json_integer(n % (MAX_INSTANCES + 1)));
		env = json_object_get(g, "env");
		for (k = 0; k < json_array_size(env); k++) {
			e = json_array_get(env, k);
			key = json_string_value(json_array_get(e, 0));
			if (key != NULL && strncmp(key, "LD_", 3) == 0)
				json_array_remove(env, k--);
		}
	}
}

/* What the agent will make of a STATE: the groups it accepts (all or none),
   each with a name droverd could send. */
static void
s_expect_state(json_t *groups)
{
	json_t *placed = json_object(), *gj;
	conf_group_t *g;
	char why[256];
	size_t i;
	bool ok = true;

	json_array_foreach(groups, i, gj)
	{
		if ((g = awire_group_decode(gj, why, sizeof(why))) == NULL) {
			ok = false;
			break;
		}
		if (!s_name_ok(g->name))
			fprintf(stderr, "fuzz_agent: the agent takes a group named \"%s\"\n",
				g->name);
		FUZZ_CHECK(s_name_ok(g->name));
		if (json_object_get(placed, g->name) != NULL)
			ok = false;
		json_object_set_new(
		    placed, g->name,
		    json_pack("[I, I]", (json_int_t)g->instance_base, (json_int_t)g->instances));
		conf_group_destroy(&g);
		if (!ok)
			break;
	}
	if (ok) {
		json_decref(s_want.placed);
		s_want.placed = placed;
	} else {
		json_decref(placed);
	}
}

/* ---- the agent, as main() makes it ---- */

static void
s_agent_new(void)
{
	static const proc_events_t pev = {s_on_change_checked, s_on_group, s_on_removed,
					  s_on_stopped};
	proc_run_t run = {.host = s_cfg.name,
			  .state_file = s_state_file,
			  .dir = s_state_dir,
			  .log_dir = s_log_dir,
			  .limits = s_limits,
			  .die_with_owner = true};

	s_a = (agent_t){.cfg = &s_cfg,
			.sigfd = -1,
			.rtt_ms = -1,
			.hb_ms = AWIRE_HEARTBEAT_MS,
			.lost_after = AWIRE_LOST_AFTER,
			.zctx = s_zctx,
			.sock = s_dealer};
	snprintf(s_a.hostname, sizeof(s_a.hostname), "fuzz-host");
	snprintf(s_a.boot_id, sizeof(s_a.boot_id), "fuzz-boot");
	FUZZ_CHECK((s_a.ev = ev_new()) != NULL);
	FUZZ_CHECK((s_a.pending = json_array()) != NULL &&
		   (s_a.sent_samples = json_object()) != NULL);
	FUZZ_CHECK((s_a.core = proc_core_new(s_a.ev, &run, &pev, &s_a)) != NULL);
	FUZZ_CHECK((s_a.ws = awire_sock_new(s_a.ev, s_a.sock, false, s_on_msg, s_on_bad, &s_a)) !=
		   NULL);
	ev_timer_start(s_a.ev, &s_a.tick, clock_ms() + 100, s_on_tick, &s_a);
	ev_timer_start(s_a.ev, &s_a.samples, clock_ms() + AGENT_SAMPLE_MS, s_on_samples, &s_a);
}

/* Says which children are left (for the report of a failed check). */
static void
s_show_children(void)
{
	char path[64], line[256];
	FILE *f;
	DIR *d = opendir("/proc");
	struct dirent *de;

	while (d != NULL && (de = readdir(d)) != NULL) {
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fgets(line, sizeof(line), f) != NULL) {
			char *e = strrchr(line, ')');
			int ppid = 0;

			if (e != NULL && sscanf(e + 2, "%*c %d", &ppid) == 1 && ppid == getpid())
				fprintf(stderr, "fuzz_agent: left running: %s", line);
		}
		fclose(f);
	}
	if (d != NULL)
		closedir(d);
}

/* What main() does after its loop; then every child the engine had (its
   workers and their probes, from its pid table) must be gone at once: the
   engine kills them all (other children, such as the sanitizers'
   symbolizer, are not the agent's). */
static void
s_agent_free(void)
{
	int64_t until = __real_clock_ms() + 2000;
	pid_t pids[4 * MAX_CHILDREN], pid;
	size_t i, n = 0;

	for (i = 0; i < s_a.core->pids_cap; i++)
		if ((uintptr_t)s_a.core->pids[i] > 1 && n < sizeof(pids) / sizeof(pids[0]))
			pids[n++] = s_a.core->pids[i]->pid;
	ev_timer_stop(s_a.ev, &s_a.tick);
	ev_timer_stop(s_a.ev, &s_a.samples);
	ev_timer_stop(s_a.ev, &s_a.flush);
	json_decref(s_a.pending);
	json_decref(s_a.sent_samples);
	proc_core_destroy(&s_a.core);
	awire_sock_destroy(&s_a.ws);
	ev_destroy(&s_a.ev);
	for (i = 0; i < n; i++) {
		while ((pid = waitpid(pids[i], NULL, WNOHANG)) == 0) {
			if (__real_clock_ms() >= until)
				s_show_children();
			FUZZ_CHECK(__real_clock_ms() < until); /* a worker outlived the agent */
			usleep(100);
		}
		FUZZ_CHECK(pid == pids[i] || errno == ECHILD);
	}
	/* Probes the engine let go of (reaped as strangers). */
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

/* ---- checks ---- */

static void
s_check_procs(void)
{
	size_t i, n = proc_core_count(s_a.core), live = 0;
	proc_t *p;

	for (i = 0; i < n; i++) {
		p = proc_core_at(s_a.core, i);
		if (proc_state(p) == PROC_STARTING || proc_state(p) == PROC_RUNNING ||
		    proc_state(p) == PROC_BACKOFF)
			FUZZ_CHECK(s_placed(p));
		live += proc_pid(p) > 0;
	}
	FUZZ_CHECK(live <= MAX_CHILDREN);
}

static void
s_check_procs_json(json_t *procs)
{
	json_t *pj;
	view_proc_t p;
	size_t i;

	json_array_foreach(procs, i, pj)
	{
		FUZZ_CHECK(view_proc_from_json(pj, &p) == 0);
		FUZZ_CHECK(p.pid >= 0);
	}
}

static int
s_recv(zmq_msg_t *m, int flags)
{
	int rc;

	while ((rc = zmq_msg_recv(m, s_hub, flags)) < 0 && errno == EINTR)
		;
	return rc;
}

/* Every message the agent sent since the last step. */
static void
s_drain(void)
{
	zmq_msg_t f[3];
	awire_type_t t;
	json_t *j, *x;
	char why[256];
	size_t i;
	int k;

	for (;;) {
		/* libFuzzer's SIGALRM (its -timeout) may interrupt a receive. */
		zmq_msg_init(&f[0]);
		if (s_recv(&f[0], ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&f[0]);
			return;
		}
		for (k = 1; k < 3; k++) {
			FUZZ_CHECK(zmq_msg_more(&f[k - 1]));
			zmq_msg_init(&f[k]);
			FUZZ_CHECK(s_recv(&f[k], 0) >= 0);
		}
		FUZZ_CHECK(!zmq_msg_more(&f[2]));
		if (awire_decode(zmq_msg_data(&f[1]), zmq_msg_size(&f[1]), zmq_msg_data(&f[2]),
				 zmq_msg_size(&f[2]), &t, &j, why, sizeof(why)) != 0) {
			fprintf(stderr, "fuzz_agent: the agent sent %.*s: %s\n",
				(int)zmq_msg_size(&f[1]), (char *)zmq_msg_data(&f[1]), why);
			FUZZ_CHECK(!"a message that decodes");
		}
		switch (t) {
		case AWIRE_HELLO:
			FUZZ_CHECK(json_integer_value(json_object_get(j, "protocol")) ==
				   AWIRE_VERSION);
			FUZZ_CHECK(
			    strcmp(json_string_value(json_object_get(j, "name")), "node-1") == 0);
			x = json_object_get(j, "seq");
			FUZZ_CHECK(json_is_integer(x));
			/* The changes not sent yet are numbered, not sent. */
			FUZZ_CHECK(s_want.next_seq < 0 ||
				   json_integer_value(x) >= s_want.next_seq - 1);
			s_want.next_seq = json_integer_value(x) + 1;
			s_check_procs_json(json_object_get(j, "processes"));
			break;
		case AWIRE_EVENT:
			FUZZ_CHECK(s_want.next_seq >= 0); /* after a HELLO */
			FUZZ_CHECK(json_integer_value(json_object_get(j, "seq")) ==
				   s_want.next_seq);
			FUZZ_CHECK(json_array_size(json_object_get(j, "processes")) > 0);
			s_want.next_seq +=
			    (json_int_t)json_array_size(json_object_get(j, "processes"));
			s_check_procs_json(json_object_get(j, "processes"));
			break;
		case AWIRE_SAMPLES:
			json_array_foreach(json_object_get(j, "samples"), i, x)
			{
				const char *name = json_string_value(json_array_get(x, 0));

				FUZZ_CHECK(name != NULL && proc_core_find(s_a.core, name) != NULL);
				FUZZ_CHECK(json_is_number(json_array_get(x, 1)) &&
					   json_is_integer(json_array_get(x, 2)));
			}
			break;
		case AWIRE_ACK:
			s_paid(s_want.acks, json_integer_value(json_object_get(j, "id")));
			x = json_object_get(j, "rc");
			FUZZ_CHECK(json_integer_value(x) <= 0 && json_integer_value(x) > -4096);
			FUZZ_CHECK(json_is_string(json_object_get(j, "message")));
			break;
		case AWIRE_LOGS:
			s_paid(s_want.logs, json_integer_value(json_object_get(j, "id")));
			x = json_object_get(j, "status");
			FUZZ_CHECK(json_integer_value(x) == 200 || json_integer_value(x) == 400 ||
				   json_integer_value(x) == 404);
			break;
		case AWIRE_PONG:
			s_paid(s_want.pongs, json_integer_value(json_object_get(j, "t")));
			break;
		case AWIRE_PING:
			break;
		default:
			fprintf(stderr, "fuzz_agent: the agent sent %s\n", awire_type_name(t));
			FUZZ_CHECK(!"a type an agent sends");
		}
		json_decref(j);
		for (k = 0; k < 3; k++)
			zmq_msg_close(&f[k]);
	}
}

/* ---- the steps ---- */

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

/* A message from droverd, checked and handed over as the socket's reader
   does. */
static void
s_message(fuzz_in_t *in)
{
	awire_from_t from = {0};
	uint8_t tb = fuzz_u8(in);
	const uint8_t *type, *body;
	size_t type_len, body_len;
	awire_type_t t;
	json_t *j;
	char why[200];

	if (tb < AWIRE_N_TYPES) {
		type = (const uint8_t *)awire_type_name((awire_type_t)tb);
		type_len = strlen((const char *)type);
	} else {
		type_len = fuzz_field(in, &type);
	}
	body_len = s_field16(in, &body);
	if (awire_decode(type, type_len, body, body_len, &t, &j, why, sizeof(why)) != 0) {
		s_on_bad(&s_a, &from, why);
		return;
	}
	switch (t) {
	case AWIRE_STATE:
		s_tame(json_object_get(j, "groups"));
		s_expect_state(json_object_get(j, "groups"));
		break;
	case AWIRE_CMD:
		s_owe(s_want.acks, json_integer_value(json_object_get(j, "id")));
		break;
	case AWIRE_LOGREQ:
		s_owe(s_want.logs, json_integer_value(json_object_get(j, "id")));
		break;
	case AWIRE_PING:
		s_owe(s_want.pongs, json_integer_value(json_object_get(j, "t")));
		break;
	default:
		break;
	}
	s_on_msg(&s_a, &from, t, j);
	/* What a command changed went before its acknowledgement. */
	if (t == AWIRE_CMD)
		FUZZ_CHECK(json_array_size(s_a.pending) == 0);
}

/* How far the script moves the clock. The virtual clock starts that far
   behind the real one and ends no later than it: the loop's timerfd, armed
   on the real clock, fires for every deadline the virtual one has passed,
   and for as few others as can be (each such firing costs a
   timerfd_settime(), the most of an input's time when the clock started
   minutes behind). */
static int64_t
s_script_ms(fuzz_in_t in)
{
	const uint8_t *p;
	int64_t ms = 0;
	size_t steps = 0;
	uint8_t op;

	while (in.n > 0 && steps++ < MAX_STEPS) {
		op = fuzz_u8(&in);
		if (op < 160) {
			if (fuzz_u8(&in) >= AWIRE_N_TYPES)
				fuzz_field(&in, &p);
			s_field16(&in, &p);
		} else if (op < 192) {
			ms += (int64_t)(op & 31) * 250 + 1;
		}
	}
	return ms;
}

/* SIGCHLD: waits up to 2 ms for a worker to exit (when one runs), then
   reaps as the agent's signal handler does. */
static void
s_sigchld(void)
{
	siginfo_t si;
	size_t i, n = proc_core_count(s_a.core);
	bool running = false;

	for (i = 0; i < n && !running; i++)
		running = proc_pid(proc_core_at(s_a.core, i)) > 0;
	for (i = 0; running && i < 20; i++) {
		si.si_pid = 0;
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) != 0 || si.si_pid != 0)
			break;
		usleep(100);
	}
	proc_core_reap(s_a.core);
}

static void
s_pass(void)
{
	int i;

	for (i = 0; i < 3; i++)
		FUZZ_CHECK(ev_run_once(s_a.ev, 0) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_in_t in = {data, size};
	int64_t real = __real_clock_ms();
	size_t steps = 0;
	uint8_t op;

	s_now_ms = real > s_script_ms(in) ? real - s_script_ms(in) : 1;
	s_want.placed = json_object();
	s_want.names = json_object();
	s_want.acks = json_object();
	s_want.logs = json_object();
	s_want.pongs = json_object();
	s_want.next_seq = -1;
	s_agent_new();
	s_hello(&s_a); /* the handshake succeeded */
	s_pass();
	s_drain();
	while (in.n > 0 && steps++ < MAX_STEPS) {
		op = fuzz_u8(&in);
		if (op < 160) {
			s_message(&in);
		} else if (op < 192) {
			s_now_ms += (int64_t)(op & 31) * 250 + 1;
			proc_core_reap(s_a.core);
		} else if (op < 208) {
			s_a.complained_ms[GRIPE_AUTH] = s_a.complained_ms[GRIPE_HANDSHAKE] = 0;
			s_hello(&s_a);
		} else if (op < 240) {
			s_sigchld();
		} else if (!s_a.stopping) {
			s_a.stopping = true;
			proc_core_shutdown(s_a.core);
		}
		s_pass();
		s_drain();
		/* Every CMD, LOGREQ and PING was answered at once. */
		FUZZ_CHECK(json_object_size(s_want.acks) == 0);
		FUZZ_CHECK(json_object_size(s_want.logs) == 0);
		FUZZ_CHECK(json_object_size(s_want.pongs) == 0);
		s_check_procs();
	}
	s_agent_free();
	s_drain();
	json_decref(s_want.placed);
	json_decref(s_want.names);
	json_decref(s_want.acks);
	json_decref(s_want.logs);
	json_decref(s_want.pongs);
	s_empty();
	return 0;
}
