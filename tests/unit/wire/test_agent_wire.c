/* agent_wire: a group droverd accepts is a group the agent accepts. The
   limits are one set (conf.h): what the configuration allows at its
   extremes crosses the agent protocol unchanged (fuzz_conf found a ready
   interval of 1001h that droverd took and every agent refused). */
#include <criterion/criterion.h>
#include <string.h>

#include "agent_wire.h"
#include "conf.h"

static void
roundtrip(const char *text)
{
	conf_t *c = NULL;
	conf_group_t *d, same;
	char *errs = NULL, why[256] = "";
	json_t *j;

	cr_assert_eq(conf_parse_string(text, strlen(text), "drover.yaml", "/etc/drover", &c,
				       &errs),
		     0, "%s", errs ? errs : "");
	j = awire_group_encode(&c->groups[0]);
	d = awire_group_decode(j, why, sizeof(why));
	cr_assert_not_null(d, "the agent refuses: %s", why);
	/* Everything but the placement, which stays with the hub. */
	same = c->groups[0];
	same.hosts = d->hosts;
	same.n_hosts = d->n_hosts;
	same.host_labels = d->host_labels;
	same.n_host_labels = d->n_host_labels;
	same.per_host = d->per_host;
	cr_assert(conf_group_same(d, &same));
	cr_assert_eq(d->ready.interval_ms, c->groups[0].ready.interval_ms);
	cr_assert_eq(d->max_restarts_within_ms, c->groups[0].max_restarts_within_ms);
	conf_group_destroy(&d);
	json_decref(j);
	conf_free(&c);
}

Test(agent_wire, the_longest_durations_and_largest_factor_cross_the_protocol)
{
	roundtrip("groups:\n  g:\n    command: [a]\n"
		  "    backoff: { initial: 2147483647ms, max: 2147483647ms, factor: 100 }\n"
		  "    start_timeout: 2147483647ms\n"
		  "    max_restarts: { count: 10000, within: 2147483647ms }\n"
		  "    ready: { tcp: \"127.0.0.1:1\", timeout: 2147483647ms, "
		  "interval: 2147483647ms }\n"
		  "    stop: { timeout: 2147483647ms }\n");
	roundtrip("groups:\n  g:\n    command: [a]\n"
		  "    ready: { delay: 2147483647ms }\n");
}

/* A group's name becomes its processes' names and their output files'
   (log_dir/NAME:N.out): the agent takes only what drover.yaml allows
   (fuzz_agent's check: a STATE's group "../../x" was taken, and its
   output would have gone to log_dir/../../x:0.out). */
Test(agent_wire, a_group_named_otherwise_than_drover_yaml_allows_is_refused)
{
	static const char *const bad[] = {
	    "../../x",
	    "a/b",
	    "web:1",
	    "a b",
	    "\xc3\xa9",
	    "x1234567890123456789012345678901234567890123456789012345678901234"};
	conf_t *c = NULL;
	conf_group_t *d;
	char *errs = NULL, why[256] = "";
	const char *text = "groups:\n  web-1.x_y: {command: [a]}\n";
	json_t *j;
	size_t i;

	cr_assert_eq(conf_parse_string(text, strlen(text), "drover.yaml", "/etc/drover", &c, &errs),
		     0, "%s", errs ? errs : "");
	j = awire_group_encode(&c->groups[0]);
	d = awire_group_decode(j, why, sizeof(why));
	cr_assert_not_null(d, "%s", why);
	conf_group_destroy(&d);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_object_set_new(j, "name", json_string(bad[i]));
		d = awire_group_decode(j, why, sizeof(why));
		cr_assert_null(d, "group \"%s\" taken", bad[i]);
		cr_assert_not_null(strstr(why, "\"name\""), "%s", why);
	}
	json_decref(j);
	conf_free(&c);
}
