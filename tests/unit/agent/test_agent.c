/* drover-agent: what it makes of droverd's messages, each a finding of
   fuzz_agent (agent/main.c is compiled in, its main() renamed, for its
   static functions). */
#include <criterion/criterion.h>

#define main agent_main
int agent_main(int argc, char **argv);
#include "../../../agent/main.c"
#undef main

/* A PONG, as the socket's reader hands it to the agent. */
static void
pong(agent_t *a, const char *body)
{
	awire_from_t from = {0};
	awire_type_t t;
	json_t *j;
	char why[200];

	cr_assert_eq(awire_decode("PONG", 4, body, strlen(body), &t, &j, why, sizeof(why)), 0, "%s",
		     why);
	s_on_msg(a, &from, t, j);
}

Test(agent, a_pong_whose_time_is_not_past_leaves_the_round_trip_alone)
{
	conf_agent_t cfg = {.connect = "tcp://127.0.0.1:9171", .name = "node-1"};
	agent_t a = {.cfg = &cfg, .rtt_ms = -1, .linked = true};
	char body[64];
	int64_t rtt;

	snprintf(body, sizeof(body), "{\"t\": %lld}", (long long)clock_ms() - 5);
	pong(&a, body);
	rtt = a.rtt_ms;
	cr_assert_geq(rtt, 5);
	pong(&a, "{\"t\": -9223372036854775808}");
	cr_assert_eq(a.rtt_ms, rtt);
	snprintf(body, sizeof(body), "{\"t\": %lld}", (long long)clock_ms() + 60000);
	pong(&a, body);
	cr_assert_eq(a.rtt_ms, rtt);
}
