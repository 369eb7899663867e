/* agent_sock: a signal caught while a message is sent or received loses
   nothing. zmq_send() and zmq_msg_recv() fail with EINTR when a signal
   handler ran in them, even without waiting (ZMQ_DONTWAIT), and a message
   whose first parts were queued before the EINTR was completed by the parts
   of the next one. The agent and droverd block their signals, but
   fuzz_agent, under libFuzzer's SIGALRM, saw an EVENT vanish from the
   agent's numbering (tests/fuzz/agent/regressions/event-seq-gap-2033a5a8). */
#include <criterion/criterion.h>
#include <signal.h>
#include <string.h>
#include <sys/time.h>
#include <zmq.h>

#include "agent_wire.h"
#include "ev.h"

#define N_MESSAGES 100000
#define BATCH 500

static volatile sig_atomic_t s_signals;

static void
s_on_alarm(int sig)
{
	(void)sig;
	s_signals++;
}

typedef struct {
	long got, bad, out_of_order;
} inbox_t;

static void
s_on_msg(void *arg, const awire_from_t *from, awire_type_t t, json_t *body)
{
	inbox_t *in = arg;

	if (t != AWIRE_PING || json_integer_value(json_object_get(body, "t")) != in->got)
		in->out_of_order++;
	in->got++;
	json_decref(body);
}

static void
s_on_bad(void *arg, const awire_from_t *from, const char *why)
{
	((inbox_t *)arg)->bad++;
}

Test(agent_sock, a_signal_storm_loses_and_garbles_no_message, .timeout = 120)
{
	struct sigaction sa = {0};
	struct itimerval storm = {{0, 50}, {0, 50}}, off = {{0, 0}, {0, 0}};
	void *zctx = zmq_ctx_new(), *hub, *agent;
	awire_sock_t *hs, *as;
	inbox_t in = {0};
	long sent = 0, failed = 0;
	int zero = 0, i;
	ev_t *ev = ev_new();

	cr_assert_not_null(ev);
	hub = zmq_socket(zctx, ZMQ_ROUTER);
	agent = zmq_socket(zctx, ZMQ_DEALER);
	zmq_setsockopt(hub, ZMQ_LINGER, &zero, sizeof(zero));
	zmq_setsockopt(agent, ZMQ_LINGER, &zero, sizeof(zero));
	zmq_setsockopt(agent, ZMQ_ROUTING_ID, "node1", 5);
	cr_assert_eq(zmq_bind(hub, "inproc://agent-sock"), 0);
	cr_assert_eq(zmq_connect(agent, "inproc://agent-sock"), 0);
	hs = awire_sock_new(ev, hub, true, s_on_msg, s_on_bad, &in);
	as = awire_sock_new(ev, agent, false, s_on_msg, s_on_bad, NULL);
	cr_assert(hs != NULL && as != NULL);

	/* No SA_RESTART: the handler interrupts whatever ZeroMQ does in this
	   thread (its own threads block every signal). */
	sa.sa_handler = s_on_alarm;
	cr_assert_eq(sigaction(SIGALRM, &sa, NULL), 0);
	cr_assert_eq(setitimer(ITIMER_REAL, &storm, NULL), 0);
	while (sent < N_MESSAGES) {
		for (i = 0; i < BATCH; i++, sent++)
			if (awire_send(as, NULL, 0, AWIRE_PING,
				       json_pack("{s:I, s:I}", "t", (json_int_t)sent, "rtt_ms",
						 (json_int_t)-1)) != 0)
				failed++;
		/* The hub's side reads what came, as droverd's loop does (not
		   waiting: the storm would interrupt every wait). */
		for (i = 0; i < 100000 && in.got + in.bad < sent - failed; i++)
			cr_assert_eq(ev_run_once(ev, 0), 0);
	}
	setitimer(ITIMER_REAL, &off, NULL);
	signal(SIGALRM, SIG_DFL);

	cr_assert_gt(s_signals, 1000, "the storm: %d signals", (int)s_signals);
	cr_expect_eq(failed, 0, "%ld of %ld sends failed", failed, sent);
	cr_expect_eq(in.bad, 0, "%ld messages arrived garbled", in.bad);
	cr_expect_eq(in.out_of_order, 0, "%ld messages out of order or missing", in.out_of_order);
	cr_expect_eq(in.got, sent, "%ld of %ld messages arrived", in.got, sent);

	awire_sock_destroy(&as);
	awire_sock_destroy(&hs);
	zmq_close(agent);
	zmq_close(hub);
	zmq_ctx_term(zctx);
	ev_destroy(&ev);
}
