/* Reload by difference: unchanged groups keep their processes, changed ones
   restart, added ones start, removed ones stop, scaled ones only gain or lose
   the instances that differ; an invalid file changes nothing. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static drv_t d;

static void
teardown(void)
{
	drv_cleanup(&d);
}

#define BASE_GROUPS                                                                                \
	"  keep:\n    command: [sleep, '1001']\n    start_timeout: 0s\n"                           \
	"  scale:\n    command: [sleep, '1002']\n    instances: 2\n    start_timeout: 0s\n"

static const char *v1 =
    "groups:\n" BASE_GROUPS "  change:\n    command: [sleep, '1003']\n    start_timeout: 0s\n"
    "  gone:\n    command: [sleep, '1004']\n    start_timeout: 0s\n";

static const char *v2 =
    "groups:\n"
    "  keep:\n    command: [sleep, '1001']\n    start_timeout: 0s\n"
    "  scale:\n    command: [sleep, '1002']\n    instances: 4\n    start_timeout: 0s\n"
    "  change:\n    command: [sleep, '2003']\n    start_timeout: 0s\n"
    "  added:\n    command: [sleep, '1005']\n    start_timeout: 0s\n";

static bool
wait_gone(const char *name, int timeout_ms)
{
	char path[128];

	snprintf(path, sizeof(path), "/api/v1/processes/%s", name);
	for (int i = 0; i < timeout_ms / 20; i++) {
		if (drv_http(&d, "GET", path, NULL, false, NULL) == 404)
			return true;
		drv_sleep_ms(20);
	}
	return false;
}

static void
start_v1(pid_t *keep, pid_t *s0, pid_t *s1, pid_t *change, pid_t *gone)
{
	cr_assert_eq(drv_start(&d, v1), 0);
	cr_assert(drv_wait_state(&d, "gone:0", "RUNNING", 5000));
	cr_assert(drv_wait_state(&d, "scale:1", "RUNNING", 5000));
	cr_assert(drv_wait_state(&d, "change:0", "RUNNING", 5000));
	*keep = drv_pid(&d, "keep:0");
	*s0 = drv_pid(&d, "scale:0");
	*s1 = drv_pid(&d, "scale:1");
	*change = drv_pid(&d, "change:0");
	*gone = drv_pid(&d, "gone:0");
	cr_assert(*keep > 0 && *s0 > 0 && *s1 > 0 && *change > 0 && *gone > 0);
}

Test(reload, sighup_applies_only_the_difference, .fini = teardown, .timeout = 40)
{
	pid_t keep, s0, s1, change, gone;

	start_v1(&keep, &s0, &s1, &change, &gone);
	cr_assert_eq(drv_rewrite(&d, v2), 0);
	kill(d.pid, SIGHUP);
	cr_assert(drv_wait_state(&d, "added:0", "RUNNING", 5000));
	cr_assert(drv_wait_state(&d, "scale:3", "RUNNING", 5000));
	cr_assert(wait_gone("gone:0", 5000), "removed group still listed");
	cr_assert(drv_wait_state(&d, "change:0", "RUNNING", 5000));
	cr_assert_neq(drv_pid(&d, "change:0"), change, "changed group was not restarted");
	cr_assert_eq(drv_pid(&d, "keep:0"), keep, "unchanged group was restarted");
	cr_assert_eq(drv_pid(&d, "scale:0"), s0, "scaling up touched an existing instance");
	cr_assert_eq(drv_pid(&d, "scale:1"), s1, "scaling up touched an existing instance");
	cr_assert(drv_wait_state(&d, "scale:2", "RUNNING", 100));
	cr_assert_not(drv_alive(gone), "process of the removed group still runs");
	cr_assert_not(drv_alive(change), "old process of the changed group still runs");
}

Test(reload, scaling_down_removes_only_the_surplus, .fini = teardown, .timeout = 40)
{
	pid_t keep, s0, s1, change, gone;

	start_v1(&keep, &s0, &s1, &change, &gone);
	cr_assert_eq(
	    drv_rewrite(
		&d,
		"groups:\n"
		"  keep:\n    command: [sleep, '1001']\n    start_timeout: 0s\n"
		"  scale:\n    command: [sleep, '1002']\n    instances: 1\n    start_timeout: 0s\n"
		"  change:\n    command: [sleep, '1003']\n    start_timeout: 0s\n"
		"  gone:\n    command: [sleep, '1004']\n    start_timeout: 0s\n"),
	    0);
	cr_assert_eq(drv_http(&d, "POST", "/api/v1/reload", NULL, true, NULL), 200);
	cr_assert(wait_gone("scale:1", 5000));
	cr_assert_not(drv_alive(s1));
	cr_assert_eq(drv_pid(&d, "scale:0"), s0);
	cr_assert_eq(drv_pid(&d, "change:0"), change);
	cr_assert_eq(drv_pid(&d, "gone:0"), gone);
	cr_assert_eq(drv_pid(&d, "keep:0"), keep);
}

Test(reload, invalid_file_changes_nothing, .fini = teardown, .timeout = 40)
{
	pid_t keep, s0, s1, change, gone;
	char *body = NULL;
	json_t *list;

	start_v1(&keep, &s0, &s1, &change, &gone);
	cr_assert_eq(drv_rewrite(&d,
				 "groups:\n"
				 "  keep:\n    command: [sleep, '1001']\n    restart: sometimes\n"
				 "  change:\n    command: [sleep, '3003']\n"),
		     0);
	kill(d.pid, SIGHUP);
	cr_assert_eq(drv_http(&d, "POST", "/api/v1/reload", NULL, true, &body), 422);
	cr_assert(strstr(body, "groups.keep.restart") != NULL, "%s", body);
	free(body);
	drv_sleep_ms(300);
	list = drv_get_json(&d, "/api/v1/processes");
	cr_assert_eq(json_array_size(list), 5);
	json_decref(list);
	cr_assert_eq(drv_pid(&d, "keep:0"), keep);
	cr_assert_eq(drv_pid(&d, "scale:0"), s0);
	cr_assert_eq(drv_pid(&d, "scale:1"), s1);
	cr_assert_eq(drv_pid(&d, "change:0"), change);
	cr_assert_eq(drv_pid(&d, "gone:0"), gone);
	cr_assert(drv_alive(keep) && drv_alive(change));
}

/* A file that parses but that droverd could not start with (droverd
   --check says the same) is refused as a whole: here a group placed on an
   agent while no agent can connect (agents.keys_dir unset). */
Test(reload, a_file_droverd_could_not_start_with_changes_nothing, .fini = teardown, .timeout = 40)
{
	pid_t keep, s0, s1, change, gone;
	char *body = NULL;

	start_v1(&keep, &s0, &s1, &change, &gone);
	cr_assert_eq(drv_rewrite(&d, "groups:\n" BASE_GROUPS
				     "  change:\n    command: [sleep, '3003']\n    hosts: [node1]\n"),
		     0);
	cr_assert_eq(drv_http(&d, "POST", "/api/v1/reload", NULL, true, &body), 422);
	cr_assert(strstr(body, "groups.change.hosts: node1 is an agent, but "
			       "supervisor.agents.keys_dir is not set") != NULL,
		  "%s", body);
	free(body);
	drv_sleep_ms(300);
	cr_assert_eq(drv_pid(&d, "change:0"), change);
	cr_assert_eq(drv_pid(&d, "gone:0"), gone);
	cr_assert(drv_alive(change) && drv_alive(gone));
}

static bool
maps_have(pid_t pid, const char *what)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "grep -q '%s' /proc/%d/maps", what, (int)pid);
	return drv_sh(cmd, NULL) == 0;
}

Test(reload, adding_queues_loads_the_queue_host, .fini = teardown, .timeout = 40)
{
	json_t *list = NULL;
	pid_t keep;
	int i;

	cr_assert_eq(
	    drv_start(&d,
		      "groups:\n  keep:\n    command: [sleep, '1001']\n    start_timeout: 0s\n"),
	    0);
	cr_assert(drv_wait_state(&d, "keep:0", "RUNNING", 5000));
	keep = drv_pid(&d, "keep:0");
	/* Without queues, droverd maps none of the queue stack. */
	cr_assert_not(maps_have(d.pid, "libzmq"));
	cr_assert_not(maps_have(d.pid, "droverd-queues"));
	cr_assert_eq(
	    drv_rewrite(&d,
			"groups:\n  keep:\n    command: [sleep, '1001']\n    start_timeout: 0s\n"
			"queues:\n  jobs: { capacity: 10 }\n"),
	    0);
	kill(d.pid, SIGHUP);
	for (i = 0; i < 100; i++) {
		json_decref(list);
		list = drv_get_json(&d, "/api/v1/queues");
		if (json_array_size(list) == 1)
			break;
		drv_sleep_ms(50);
	}
	cr_assert_eq(json_array_size(list), 1);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(list, 0), "name")),
			 "jobs");
	cr_assert_eq(json_integer_value(json_object_get(json_array_get(list, 0), "capacity")), 10);
	json_decref(list);
	cr_assert(maps_have(d.pid, "droverd-queues"));
	cr_assert_eq(drv_pid(&d, "keep:0"), keep);
}

/* A group changed twice while its old instance is still STOPPING (it ignores
   TERM): the engine owns its settings, so the second reload cannot leave it
   reading the first one's freed configuration; the instance comes back once,
   with the last command. */
Test(reload, second_reload_while_stopping_is_safe, .fini = teardown, .timeout = 40)
{
#define SLOW_FMT                                                                                   \
	"groups:\n"                                                                                \
	"  slow:\n"                                                                                \
	"    command: \"trap '' TERM; echo v%d; exec sleep %d\"\n"                                 \
	"    start_timeout: 0s\n"                                                                  \
	"    stop: { signal: TERM, timeout: 3s }\n"
	char yaml[512];
	pid_t first;
	json_t *p;

	snprintf(yaml, sizeof(yaml), SLOW_FMT, 1, 3001);
	cr_assert_eq(drv_start(&d, yaml), 0);
	cr_assert(drv_wait_state(&d, "slow:0", "RUNNING", 5000));
	first = drv_pid(&d, "slow:0");
	drv_sleep_ms(200); /* its shell has set the trap */
	snprintf(yaml, sizeof(yaml), SLOW_FMT, 2, 3002);
	cr_assert_eq(drv_rewrite(&d, yaml), 0);
	cr_assert_eq(drv_http(&d, "POST", "/api/v1/reload", NULL, true, NULL), 200);
	cr_assert(drv_wait_state(&d, "slow:0", "STOPPING", 2000));
	/* Again, with yet another command, and once more unchanged. */
	snprintf(yaml, sizeof(yaml), SLOW_FMT, 3, 3003);
	cr_assert_eq(drv_rewrite(&d, yaml), 0);
	kill(d.pid, SIGHUP);
	drv_sleep_ms(100);
	cr_assert_eq(drv_http(&d, "POST", "/api/v1/reload", NULL, true, NULL), 200);
	cr_assert(drv_wait_state(&d, "slow:0", "RUNNING", 10000));
	cr_assert(drv_alive(d.pid), "droverd died");
	cr_assert_neq(drv_pid(&d, "slow:0"), first);
	p = drv_get_json(&d, "/api/v1/groups/slow");
	cr_assert_not_null(p);
	cr_assert_str_eq(json_string_value(json_array_get(json_object_get(p, "command"), 2)),
			 "trap '' TERM; echo v3; exec sleep 3003");
	json_decref(p);
	cr_assert_not(drv_alive(first), "the first instance still runs");
}
