/* proc core: applying groups by difference, each case a finding of
   fuzz_agent. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "proc.h"

static conf_t *
conf_of(const char *text)
{
	conf_t *c = NULL;
	char *errs = NULL;

	cr_assert_eq(conf_parse_string(text, strlen(text), "drover.yaml", "/tmp", &c, &errs), 0,
		     "%s", errs ? errs : "");
	return c;
}

/* A group of no instances has no list of processes: taking its new
   settings copied from a NULL list (memcpy(old, NULL, 0), undefined; the
   sanitizers' build of this test says so). */
Test(proc_core, a_changed_group_of_no_instances_takes_its_new_settings)
{
	conf_t *a = conf_of("groups: {db: {command: [/bin/true], instances: 0}}\n");
	conf_t *b =
	    conf_of("groups: {db: {command: [/bin/false], instances: 1, autostart: false}}\n");
	char log_dir[64];
	proc_run_t run = {.host = "test", .dir = "/tmp", .log_dir = log_dir};
	proc_core_t *core;
	ev_t *ev;
	int i;

	log_set_level(DLOG_ERROR);
	snprintf(log_dir, sizeof(log_dir), "/tmp/drover-test-proc-%d", (int)getpid());
	cr_assert_not_null(ev = ev_new());
	cr_assert_not_null(core = proc_core_new(ev, &run, NULL, NULL));
	cr_assert_eq(proc_core_apply(core, a->groups, a->n_groups), 0);
	cr_assert_eq(proc_core_count(core), 0);
	cr_assert_eq(proc_core_apply(core, b->groups, b->n_groups), 0);
	for (i = 0; i < 5; i++)
		ev_run_once(ev, 10);
	cr_assert_eq(proc_core_count(core), 1);
	cr_assert_str_eq(proc_core_group(core, "db")->argv[0], "/bin/false");
	proc_core_destroy(&core);
	ev_destroy(&ev);
	rmdir(log_dir);
	conf_free(&a);
	conf_free(&b);
}
