/* conf: every broken configuration gets its exact "FILE:LINE:COL: key.path:
   message" line, all errors of a file come at once, the example is accepted,
   defaults and paths are what the header promises, templates expand, and
   conf_group_same ignores only instances and autostart. */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "conf_agent.h"

#define NAME "drover.yaml"
#define DIR "/etc/drover"
#define UNDEF "DROVER_TEST_SURELY_UNDEFINED"

static void
init(void)
{
	unsetenv(UNDEF);
	setenv("DROVER_TEST_DEFINED", "yes", 1);
}

/* Parses text as NAME in DIR; returns the errors (caller frees) or NULL. */
static char *
errors_of(const char *text)
{
	conf_t *c = NULL;
	char *errs = NULL;
	int rc = conf_parse_string(text, strlen(text), NAME, DIR, &c, &errs);

	if (rc == 0) {
		cr_assert_not_null(c);
		cr_assert_null(errs);
		conf_free(&c);
		return NULL;
	}
	cr_assert_eq(rc, -1);
	cr_assert_null(c);
	cr_assert_not_null(errs, "a failed parse must say why");
	return errs;
}

static conf_t *
parse_ok(const char *text)
{
	conf_t *c = NULL;
	char *errs = NULL;

	cr_assert_eq(conf_parse_string(text, strlen(text), NAME, DIR, &c, &errs), 0, "errors:\n%s",
		     errs ? errs : "");
	cr_assert_not_null(c);
	return c;
}

#define G "groups:\n  web:\n    command: [a]\n" /* lines 1-3; line 4 is free */

static const struct {
	const char *yaml;
	const char *want;
} broken[] = {
    /* the example of SPEC 2 */
    {G "    restart: sometimes\n",
     NAME ":4:14: groups.web.restart: expected always|on-failure|never, got \"sometimes\"\n"},
    /* unknown keys, at the key */
    {"grups:\n  web: {}\n", NAME ":1:1: grups: unknown key\n"},
    {G "    restrat: always\n", NAME ":4:5: groups.web.restrat: unknown key\n"},
    {"supervisor:\n  http:\n    port: 80\n", NAME ":3:5: supervisor.http.port: unknown key\n"},
    /* YAML syntax */
    {"groups:\n  web:\n    command: [a\n",
     NAME ":4:1: syntax error: did not find expected ',' or ']' (while parsing a flow sequence "
	  "at line 3)\n"},
    {"groups:\n  web:\n   command: a\n  restart: x\n y: 1\n",
     NAME ":5:2: syntax error: did not find expected key (while parsing a block mapping at line "
	  "1)\n"},
    {"a: \"\\x01\xff\"\n", NAME ":1:9: syntax error: invalid leading UTF-8 octet\n"},
    {"---\ngroups: {}\n---\nqueues: {}\n",
     NAME ":3:1: syntax error: only one YAML document is allowed\n"},
    /* wrong types */
    {"groups: [web]\n", NAME ":1:9: groups: expected a mapping, got a list\n"},
    {"supervisor:\n  name: [a]\n", NAME ":2:9: supervisor.name: expected a string, got a list\n"},
    {G "    instances: two\n",
     NAME ":4:16: groups.web.instances: expected an integer, got \"two\"\n"},
    {G "    autostart: maybe\n",
     NAME ":4:16: groups.web.autostart: expected a boolean (true or false), got \"maybe\"\n"},
    {G "    depends_on: {db: 1}\n",
     NAME ":4:17: groups.web.depends_on: expected a list of group names, got a mapping\n"},
    {"hello\n", NAME ":1:1: (top): expected a mapping, got \"hello\"\n"},
    /* durations, sizes, signals, counts */
    {G "    start_timeout: 10\n",
     NAME ":4:20: groups.web.start_timeout: expected a duration like 250ms, 10s, 5m or 1h, got "
	  "\"10\"\n"},
    {G "    stdout: { max_size: 50 MB }\n",
     NAME ":4:25: groups.web.stdout.max_size: expected a size like 512KB, 50MB or 1GB, got "
	  "\"50 MB\"\n"},
    {G "    stop: { signal: SIGFOO }\n",
     NAME ":4:21: groups.web.stop.signal: unknown signal \"SIGFOO\"\n"},
    {G "    instances: -1\n", NAME ":4:16: groups.web.instances: must not be negative, got -1\n"},
    {G "    instances: 100001\n",
     NAME ":4:16: groups.web.instances: must be at most 10000, got \"100001\"\n"},
    {G "    stdout: { keep: 2.5 }\n",
     NAME ":4:21: groups.web.stdout.keep: expected an integer, got \"2.5\"\n"},
    {G "    ready: { tcp: \"127.0.0.1:80\", interval: 0ms }\n",
     NAME ":4:45: groups.web.ready.interval: must be longer than 0\n"},
    /* dependencies */
    {G "    depends_on: [db]\n", NAME ":4:18: groups.web.depends_on[0]: unknown group \"db\"\n"},
    {G "    depends_on: [api]\n  api:\n    command: [b]\n    depends_on: [web]\n",
     NAME ":7:18: groups.api.depends_on[0]: dependency cycle: web -> api -> web\n"},
    {G "    depends_on: web\n",
     NAME ":4:17: groups.web.depends_on: dependency cycle: web -> web\n"},
    {G "  db:\n    command: [b]\n  api:\n    command: [c]\n    depends_on: [db, db]\n",
     NAME ":8:22: groups.api.depends_on[1]: \"db\" is listed twice\n"},
    /* duplicates */
    {G "    command: [b]\n", NAME ":4:5: groups.web.command: duplicate key (first at line 3)\n"},
    {G "  web:\n    command: [b]\n", NAME ":4:3: groups.web: duplicate group (first at line 2)\n"},
    {"queues:\n  q: {}\n  q: {}\n", NAME ":3:3: queues.q: duplicate queue (first at line 2)\n"},
    {"? [a]\n: 1\ngroups: {}\ngroups: {}\n",
     NAME ":1:3: (top): expected a string key, got a list\n" NAME
	  ":4:1: groups: duplicate key (first at line 3)\n"},
    /* commands */
    {"groups:\n  web:\n    command: []\n", NAME ":3:14: groups.web.command: empty command\n"},
    {"groups:\n  web:\n    command: \"  \"\n", NAME ":3:14: groups.web.command: empty command\n"},
    {"groups:\n  web:\n    restart: never\n", NAME ":2:3: groups.web: command is required\n"},
    {"groups:\n  web:\n", NAME ":2:7: groups.web: expected a mapping with a command, got null\n"},
    {"groups:\n  web:\n    command: [a, {b: c}]\n",
     NAME ":3:18: groups.web.command[1]: expected a string, got a mapping\n"},
    /* names */
    {"groups:\n  \"web:1\":\n    command: [a]\n",
     NAME ":2:3: groups.web:1: invalid group name: use 1 to 64 letters, digits, '_', '.' or '-'\n"},
    {"queues:\n  my queue: {}\n",
     NAME ":2:3: queues.my queue: invalid queue name: use 1 to 64 letters, digits, '_', '.' or "
	  "'-'\n"},
    {G "    env: { 1PORT: \"80\" }\n",
     NAME ":4:12: groups.web.env.1PORT: invalid variable name: use letters, digits and '_'\n"},
    /* ready */
    {G "    ready: { tcp: \"127.0.0.1:80\", http: \"http://127.0.0.1/\" }\n",
     NAME ":4:35: groups.web.ready.http: more than one ready check (tcp and http)\n"},
    {G "    ready: { http: \"127.0.0.1:80/\" }\n",
     NAME ":4:20: groups.web.ready.http: expected an http:// URL, got \"127.0.0.1:80/\"\n"},
    {G "    ready: { tcp: localhost }\n",
     NAME ":4:19: groups.web.ready.tcp: expected HOST:PORT, got \"localhost\"\n"},
    {G "    ready: { timeout: 5s }\n",
     NAME ":4:12: groups.web.ready: expected one of tcp, http, exec, notify or delay\n"},
    /* backoff */
    {G "    backoff: { factor: 0.5 }\n",
     NAME ":4:24: groups.web.backoff.factor: must be from 1 to 100, got 0.5\n"},
    /* Found by fuzz_conf: accepted here, refused by the agent protocol. */
    {G "    backoff: { factor: 1000 }\n",
     NAME ":4:24: groups.web.backoff.factor: must be from 1 to 100, got 1000\n"},
    {G "    ready: { tcp: \"127.0.0.1:80\", interval: 1001h }\n",
     NAME ":4:45: groups.web.ready.interval: duration out of range: \"1001h\" (at most "
	  "2147483647ms, about 24.8 days)\n"},
    {G "    max_restarts: { within: 25d }\n",
     NAME ":4:29: groups.web.max_restarts.within: duration out of range: \"25d\" (at most "
	  "2147483647ms, about 24.8 days)\n"},
    {G "    backoff: { initial: 1m, max: 30s }\n",
     NAME ":4:25: groups.web.backoff.initial: initial (1m) is longer than max (30s)\n"},
    /* listen addresses */
    {"supervisor:\n  http:\n    listen: localhost\n",
     NAME ":3:13: supervisor.http.listen: expected HOST:PORT, got \"localhost\"\n"},
    {"supervisor:\n  http:\n    listen: 127.0.0.1:70000\n",
     NAME ":3:13: supervisor.http.listen: expected HOST:PORT, got \"127.0.0.1:70000\"\n"},
    {"supervisor:\n  queues:\n    listen: udp://127.0.0.1:9172\n",
     NAME ":3:13: supervisor.queues.listen: expected tcp://HOST:PORT, got "
	  "\"udp://127.0.0.1:9172\"\n"},
    {"supervisor:\n  agents:\n    listen: tcp://300.1.1.1:9171\n",
     NAME ":3:13: supervisor.agents.listen: expected tcp://HOST:PORT, got "
	  "\"tcp://300.1.1.1:9171\"\n"},
    /* variables */
    {G "    env: { A: \"${" UNDEF "}\" }\n",
     NAME ":4:15: groups.web.env.A: undefined variable ${" UNDEF "}\n"},
    {G "    env: { A: \"${B}\", B: \"${A}\" }\n",
     NAME ":4:15: groups.web.env.A: variables refer to each other in a cycle: A -> B -> A\n"},
    {G "    env: { X: \"${Y}\", A: \"${C}\", B: \"${A}${B}\", C: \"${B}\", Y: \"${A}\" }\n",
     NAME ":4:26: groups.web.env.A: variables refer to each other in a cycle: A -> C -> B -> "
	  "A\n"},
    {"groups:\n  web:\n    command: \"echo ${i}\"\n",
     NAME ":3:14: groups.web.command: undefined variable ${i} (write $${i} to leave it to the "
	  "shell)\n"},
    {"groups:\n  web:\n    command: [echo, \"${PORT\"]\n",
     NAME ":3:21: groups.web.command[1]: unterminated ${ (write $$ for a literal $)\n"},
    /* output */
    {G "    stdout: merge\n", NAME ":4:13: groups.web.stdout: merge is only for stderr\n"},
    {G "    stderr: somewhere\n",
     NAME ":4:13: groups.web.stderr: expected {file, max_size, keep}, null, inherit or merge, "
	  "got \"somewhere\"\n"},
    /* the rest */
    {G "    umask: 999\n",
     NAME ":4:12: groups.web.umask: expected an octal mode like \"022\", got \"999\"\n"},
    {G "    hosts: []\n", NAME ":4:12: groups.web.hosts: empty host list\n"},
    {G "    hosts: { labels: { role: worker }, per_host: 0 }\n",
     NAME ":4:50: groups.web.hosts.per_host: must be at least 1\n"},
    {"queues:\n  q: { capacity: 0 }\n", NAME ":2:18: queues.q.capacity: must be at least 1\n"},
    {"a: &x 1\nb: *x\n", NAME ":1:1: a: unknown key\n" NAME ":2:1: b: unknown key\n"},
    /* anchors, aliases and merge keys: a value that came through an alias
       is reported at the alias, with its anchor and where it is written */
    {"x-d: &d\n  restart: sometimes\ngroups:\n  web:\n    command: [a]\n    <<: *d\n",
     NAME ":6:9: groups.web.restart: expected always|on-failure|never, got \"sometimes\" "
	  "(through *d: anchor &d at " NAME ":1:6, this value at " NAME ":2:12)\n"},
    {"x-s: &s { signal: XX }\ngroups:\n  web:\n    command: [a]\n    stop: *s\n",
     NAME ":5:11: groups.web.stop.signal: unknown signal \"XX\" (through *s: anchor &s at " NAME
	  ":1:6, this value at " NAME ":1:19)\n"},
    {G "    <<: 3\n", NAME ":4:9: groups.web.<<: merges a mapping or a list of mappings, got a "
			  "scalar\n"},
    {G "    <<: [{autostart: true}, [x]]\n",
     NAME ":4:29: groups.web.<<: merges a mapping or a list of mappings, got a list\n"},
    {G "    cwd: *nope\n", NAME ":4:10: groups.web.cwd: *nope: no anchor &nope before this "
			       "alias\n"},
    {G "    env: &e { A: *e }\n",
     NAME ":4:18: groups.web.env.A: *e is inside its own anchor &e (at line 4): a value cannot "
	  "contain itself\n"},
    {G "    x-note: 1\n", NAME ":4:5: groups.web.x-note: unknown key\n"},
};

Test(conf, every_broken_config_gets_its_exact_message, .init = init)
{
	size_t i;

	cr_assert_geq(sizeof(broken) / sizeof(broken[0]), 30);
	for (i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
		char *errs = errors_of(broken[i].yaml);

		cr_expect_not_null(errs, "case %zu was accepted:\n%s", i, broken[i].yaml);
		if (errs != NULL)
			cr_expect_str_eq(errs, broken[i].want, "case %zu:\n%sgot:  %swant: %s", i,
					 broken[i].yaml, errs, broken[i].want);
		free(errs);
	}
}

Test(conf, all_errors_of_a_file_are_reported_at_once, .init = init)
{
	char *errs = errors_of("supervisor:\n"
			       "  name: x\n"
			       "  colour: blue\n"
			       "groups:\n"
			       "  web:\n"
			       "    command: [a]\n"
			       "    instances: -3\n"
			       "    restart: sometimes\n"
			       "    depends_on: [nothere]\n"
			       "  worker:\n"
			       "    command: []\n"
			       "    stop: { signal: NOPE, timeout: soon }\n"
			       "queues:\n"
			       "  jobs: { lease: forever }\n");

	cr_assert_not_null(errs);
	cr_assert_str_eq(errs, NAME
			 ":3:3: supervisor.colour: unknown key\n" NAME
			 ":7:16: groups.web.instances: must not be negative, got -3\n" NAME
			 ":8:14: groups.web.restart: expected always|on-failure|never, got "
			 "\"sometimes\"\n" NAME
			 ":9:18: groups.web.depends_on[0]: unknown group \"nothere\"\n" NAME
			 ":11:14: groups.worker.command: empty command\n" NAME
			 ":12:21: groups.worker.stop.signal: unknown signal \"NOPE\"\n" NAME
			 ":12:36: groups.worker.stop.timeout: expected a duration like 250ms, "
			 "10s, 5m or 1h, got \"soon\"\n" NAME
			 ":14:18: queues.jobs.lease: expected a duration like 250ms, 10s, 5m or "
			 "1h, got \"forever\"\n");
	free(errs);
}

Test(conf, the_example_config_is_accepted, .init = init)
{
	const char *path = DROVER_SOURCE_DIR "/examples/drover.yaml";
	const conf_group_t *db, *web, *worker, *hello;
	const conf_queue_t *tasks;
	char *errs = NULL, *dir = realpath(DROVER_SOURCE_DIR "/examples", NULL), want[PATH_MAX];
	conf_t *c = NULL;

	cr_assert_eq(conf_load(path, &c, &errs), 0, "%s", errs ? errs : "");
	cr_assert_not_null(dir);
	cr_assert_str_eq(c->dir, dir);
	snprintf(want, sizeof(want), "%s/var", dir);
	cr_assert_str_eq(c->state_dir, want);
	snprintf(want, sizeof(want), "%s/secrets/api.token", dir);
	cr_assert_str_eq(c->http_token_file, want);
	snprintf(want, sizeof(want), "%s/secrets/queue.key", dir);
	cr_assert_str_eq(c->queues_authkey_file, want);
	cr_assert_str_eq(c->http_listen, "127.0.0.1:9170");
	cr_assert_str_eq(c->agents_listen, "tcp://127.0.0.1:9171");
	cr_assert_str_eq(c->queues_listen, "tcp://127.0.0.1:9172");
	cr_assert_not_null(db = conf_group_find(c, "db"));
	cr_assert_not_null(web = conf_group_find(c, "web"));
	cr_assert_not_null(worker = conf_group_find(c, "worker"));
	cr_assert_not_null(hello = conf_group_find(c, "hello"));
	cr_assert_eq(db->ready.kind, CONF_READY_TCP);
	cr_assert_geq(web->instances, 2);
	cr_assert_leq(web->instances, 4);
	cr_assert_eq(web->n_depends_on, 1);
	cr_assert_str_eq(web->depends_on[0], "db");
	cr_assert(worker->shell);
	cr_assert_eq(hello->restart, CONF_RESTART_NEVER);
	cr_assert_not_null(tasks = conf_queue_find(c, "tasks"));
	cr_assert(tasks->durable);
	cr_assert_not_null(conf_queue_find(c, "results"));
	cr_assert_null(conf_queue_find(c, "nothere"));
	free(dir);
	conf_free(&c);
	cr_assert_null(c);
}

Test(conf, an_example_secret_file_exists_for_each_reference, .init = init)
{
	struct stat st;

	cr_assert_eq(stat(DROVER_SOURCE_DIR "/examples/secrets/api.token", &st), 0);
	cr_assert_gt(st.st_size, 0);
	cr_assert_eq(stat(DROVER_SOURCE_DIR "/examples/secrets/queue.key", &st), 0);
	cr_assert_gt(st.st_size, 0);
}

Test(conf, defaults_fill_every_unset_field, .init = init)
{
	conf_t *c = parse_ok("groups:\n  a:\n    command: [run]\n");
	const conf_group_t *g = &c->groups[0];
	char host[256] = "";

	gethostname(host, sizeof(host) - 1);
	cr_assert_str_eq(c->name, host);
	cr_assert_str_eq(c->path, DIR "/" NAME);
	cr_assert_str_eq(c->dir, DIR);
	cr_assert_str_eq(c->state_dir, DIR "/var");
	cr_assert_str_eq(c->log_dir, DIR "/var/log");
	cr_assert_str_eq(c->http_listen, "127.0.0.1:9170");
	cr_assert_str_eq(c->agents_listen, "tcp://127.0.0.1:9171");
	cr_assert_str_eq(c->queues_listen, "tcp://127.0.0.1:9172");
	cr_assert_null(c->http_token_file);
	cr_assert_null(c->agents_keys_dir);
	cr_assert_null(c->queues_authkey_file);
	cr_assert_eq(c->n_groups, 1);
	cr_assert_str_eq(g->name, "a");
	cr_assert_eq(g->line, 2);
	cr_assert_eq(g->argc, 1);
	cr_assert_str_eq(g->argv[0], "run");
	cr_assert_null(g->argv[1]);
	cr_assert_not(g->shell);
	cr_assert_eq(g->instances, 1);
	cr_assert_eq(g->n_env, 0);
	cr_assert_null(g->cwd);
	cr_assert_null(g->user);
	cr_assert_eq(g->umask, -1);
	cr_assert(g->autostart);
	cr_assert_eq(g->restart, CONF_RESTART_ON_FAILURE);
	cr_assert_eq(g->backoff_initial_ms, 100);
	cr_assert_eq(g->backoff_max_ms, 30000);
	cr_assert_float_eq(g->backoff_factor, 2.0, 1e-9);
	cr_assert_eq(g->start_timeout_ms, 1000);
	cr_assert_eq(g->max_restarts, 5);
	cr_assert_eq(g->max_restarts_within_ms, 60000);
	cr_assert_eq(g->ready.kind, CONF_READY_NONE);
	cr_assert_eq(g->ready.timeout_ms, 60000);
	cr_assert_eq(g->ready.interval_ms, 100);
	cr_assert_eq(g->n_depends_on, 0);
	cr_assert_eq(g->stop_signal, SIGTERM);
	cr_assert_eq(g->stop_timeout_ms, 10000);
	cr_assert_eq(g->out.mode, CONF_OUT_FILE);
	cr_assert_null(g->out.file);
	cr_assert_eq(g->out.max_size, 50LL * 1024 * 1024);
	cr_assert_eq(g->out.keep, 5);
	cr_assert_eq(g->err.mode, CONF_OUT_FILE);
	cr_assert_null(g->err.file);
	cr_assert_eq(g->err.max_size, 50LL * 1024 * 1024);
	cr_assert_eq(g->err.keep, 5);
	cr_assert_eq(g->limit_nofile, -1);
	cr_assert_eq(g->limit_core, -1);
	cr_assert_eq(g->limit_memory, -1);
	cr_assert_eq(g->limit_nproc, -1);
	cr_assert_eq(g->n_hosts, 1);
	cr_assert_str_eq(g->hosts[0], "local");
	cr_assert_eq(g->n_host_labels, 0);
	cr_assert_eq(g->per_host, 0);
	conf_free(&c);
}

Test(conf, an_empty_file_or_no_groups_is_a_valid_empty_config, .init = init)
{
	static const char *empty[] = {"",
				      "\n",
				      "# nothing\n",
				      "---\n",
				      "groups:\n",
				      "queues: {}\n",
				      "supervisor:\n  name: x\n"};
	size_t i;

	for (i = 0; i < sizeof(empty) / sizeof(empty[0]); i++) {
		conf_t *c = parse_ok(empty[i]);

		cr_assert_eq(c->n_groups, 0);
		cr_assert_eq(c->n_queues, 0);
		cr_assert_str_eq(c->state_dir, DIR "/var");
		conf_free(&c);
	}
}

Test(conf, every_key_of_spec_2_is_read, .init = init)
{
	conf_t *c =
	    parse_ok("supervisor:\n"
		     "  name: master-1\n"
		     "  state_dir: /srv/drover\n"
		     "  log_dir: logs\n"
		     "  http: { listen: '[::1]:8000', token_file: /run/api.token }\n"
		     "  agents: { listen: '*:9171', keys_dir: keys }\n"
		     "  queues: { listen: 'tcp://0.0.0.0:9172', authkey_file: q.key }\n"
		     "groups:\n"
		     "  db:\n"
		     "    command: server --port 5432\n"
		     "  web:\n"
		     "    command: [python3, -m, http.server, '${PORT}']\n"
		     "    instances: 4\n"
		     "    env: { PORT: '80${INSTANCE}0', EMPTY: }\n"
		     "    cwd: /srv/app\n"
		     "    user: www-data\n"
		     "    umask: '027'\n"
		     "    autostart: no\n"
		     "    restart: always\n"
		     "    backoff: { initial: 250ms, max: 1m, factor: 1.5 }\n"
		     "    start_timeout: 2s\n"
		     "    max_restarts: { count: 3, within: 1h }\n"
		     "    ready: { exec: [check, '${PORT}'], timeout: 5s, interval: 1s }\n"
		     "    depends_on: [db]\n"
		     "    stop: { signal: SIGINT, timeout: 0s }\n"
		     "    stdout: { file: 'out/${NAME}.log', max_size: 1GB, keep: 0 }\n"
		     "    stderr: inherit\n"
		     "    limits: { nofile: 4096, core: 0, memory: 512MB, nproc: 64 }\n"
		     "    hosts: { labels: { role: worker, zone: a }, per_host: 2 }\n"
		     "  quiet:\n"
		     "    command: [x]\n"
		     "    stdout: ~\n"
		     "    stderr: merge\n"
		     "    ready: { notify: true }\n"
		     "    hosts: [local, agent-1]\n"
		     "  later:\n"
		     "    command: [x]\n"
		     "    ready: { delay: 2s }\n"
		     "queues:\n"
		     "  tasks: { capacity: 100000, durable: true, lease: 30s, max_message: 1MB }\n"
		     "  results:\n");
	const conf_group_t *db = conf_group_find(c, "db"), *w = conf_group_find(c, "web");
	const conf_group_t *q = conf_group_find(c, "quiet"), *l = conf_group_find(c, "later");

	cr_assert_str_eq(c->name, "master-1");
	cr_assert_str_eq(c->state_dir, "/srv/drover");
	cr_assert_str_eq(c->log_dir, DIR "/logs");
	cr_assert_str_eq(c->http_listen, "[::1]:8000");
	cr_assert_str_eq(c->http_token_file, "/run/api.token");
	cr_assert_str_eq(c->agents_listen, "tcp://*:9171");
	cr_assert_str_eq(c->agents_keys_dir, DIR "/keys");
	cr_assert_str_eq(c->queues_listen, "tcp://0.0.0.0:9172");
	cr_assert_str_eq(c->queues_authkey_file, DIR "/q.key");
	cr_assert(db->shell);
	cr_assert_eq(db->argc, 3);
	cr_assert_str_eq(db->argv[0], "/bin/sh");
	cr_assert_str_eq(db->argv[1], "-c");
	cr_assert_str_eq(db->argv[2], "server --port 5432");
	cr_assert_null(db->argv[3]);
	cr_assert_eq(w->argc, 4);
	cr_assert_str_eq(w->argv[3], "${PORT}");
	cr_assert_eq(w->instances, 4);
	cr_assert_eq(w->n_env, 2);
	cr_assert_str_eq(w->env[0].key, "PORT");
	cr_assert_str_eq(w->env[0].value, "80${INSTANCE}0");
	cr_assert_str_eq(w->env[1].key, "EMPTY");
	cr_assert_str_eq(w->env[1].value, "");
	cr_assert_str_eq(w->cwd, "/srv/app");
	cr_assert_str_eq(w->user, "www-data");
	cr_assert_eq(w->umask, 027);
	cr_assert_not(w->autostart);
	cr_assert_eq(w->restart, CONF_RESTART_ALWAYS);
	cr_assert_eq(w->backoff_initial_ms, 250);
	cr_assert_eq(w->backoff_max_ms, 60000);
	cr_assert_float_eq(w->backoff_factor, 1.5, 1e-9);
	cr_assert_eq(w->start_timeout_ms, 2000);
	cr_assert_eq(w->max_restarts, 3);
	cr_assert_eq(w->max_restarts_within_ms, 3600000);
	cr_assert_eq(w->ready.kind, CONF_READY_EXEC);
	cr_assert_str_eq(w->ready.exec_argv[0], "check");
	cr_assert_str_eq(w->ready.exec_argv[1], "${PORT}");
	cr_assert_null(w->ready.exec_argv[2]);
	cr_assert_eq(w->ready.timeout_ms, 5000);
	cr_assert_eq(w->ready.interval_ms, 1000);
	cr_assert_str_eq(w->depends_on[0], "db");
	cr_assert_eq(w->stop_signal, SIGINT);
	cr_assert_eq(w->stop_timeout_ms, 0);
	cr_assert_eq(w->out.mode, CONF_OUT_FILE);
	cr_assert_str_eq(w->out.file, DIR "/out/${NAME}.log");
	cr_assert_eq(w->out.max_size, 1LL << 30);
	cr_assert_eq(w->out.keep, 0);
	cr_assert_eq(w->err.mode, CONF_OUT_INHERIT);
	cr_assert_eq(w->limit_nofile, 4096);
	cr_assert_eq(w->limit_core, 0);
	cr_assert_eq(w->limit_memory, 512LL << 20);
	cr_assert_eq(w->limit_nproc, 64);
	cr_assert_eq(w->n_hosts, 0);
	cr_assert_eq(w->n_host_labels, 2);
	cr_assert_str_eq(w->host_labels[0].key, "role");
	cr_assert_str_eq(w->host_labels[0].value, "worker");
	cr_assert_str_eq(w->host_labels[1].key, "zone");
	cr_assert_eq(w->per_host, 2);
	cr_assert_eq(q->out.mode, CONF_OUT_NULL);
	cr_assert_eq(q->err.mode, CONF_OUT_MERGE);
	cr_assert_eq(q->ready.kind, CONF_READY_NOTIFY);
	cr_assert_eq(q->n_hosts, 2);
	cr_assert_str_eq(q->hosts[1], "agent-1");
	cr_assert_eq(l->ready.kind, CONF_READY_DELAY);
	cr_assert_eq(l->ready.delay_ms, 2000);
	cr_assert_eq(c->n_queues, 2);
	cr_assert_eq(c->queues[0].capacity, 100000);
	cr_assert(c->queues[0].durable);
	cr_assert_eq(c->queues[0].lease_ms, 30000);
	cr_assert_eq(c->queues[0].max_message, 1 << 20);
	cr_assert_str_eq(c->queues[1].name, "results");
	cr_assert_eq(c->queues[1].line, 41);
	cr_assert_eq(c->queues[1].capacity, 100000);
	cr_assert_not(c->queues[1].durable);
	cr_assert_eq(c->queues[1].lease_ms, 30000);
	cr_assert_eq(c->queues[1].max_message, 1 << 20);
	conf_free(&c);
}

Test(conf, relative_paths_resolve_against_the_config_directory, .init = init)
{
	conf_t *c = parse_ok("supervisor:\n"
			     "  state_dir: ./state/../run/.\n"
			     "  http: { token_file: ../secrets//api.token }\n"
			     "  queues: { authkey_file: /abs/q.key }\n"
			     "groups:\n"
			     "  a:\n"
			     "    command: [x]\n"
			     "    cwd: ./app\n"
			     "    stdout: { file: 'logs/${NAME}.out' }\n"
			     "    stderr: { file: '${DROVER_TEST_DEFINED}/a.err' }\n"
			     "  b:\n"
			     "    command: [x]\n"
			     "    cwd: ../../../..\n");

	cr_assert_str_eq(c->state_dir, DIR "/run");
	cr_assert_str_eq(c->log_dir, DIR "/run/log");
	cr_assert_str_eq(c->http_token_file, "/etc/secrets/api.token");
	cr_assert_str_eq(c->queues_authkey_file, "/abs/q.key");
	cr_assert_str_eq(c->groups[0].cwd, DIR "/app");
	cr_assert_str_eq(c->groups[0].out.file, DIR "/logs/${NAME}.out");
	cr_assert_str_eq(c->groups[0].err.file, "${DROVER_TEST_DEFINED}/a.err",
			 "a template that starts with a variable is kept as written");
	cr_assert_str_eq(c->groups[1].cwd, "/");
	conf_free(&c);
}

Test(conf, conf_load_names_the_file_as_given_and_records_where_it_is, .init = init)
{
	char tmpl[] = "/tmp/drover-conf-XXXXXX", *errs = NULL, want[PATH_MAX];
	conf_t *c = NULL;
	FILE *f;

	cr_assert_not_null(mkdtemp(tmpl));
	cr_assert_eq(chdir(tmpl), 0);
	cr_assert_eq(mkdir("sub", 0755), 0);
	cr_assert_not_null(f = fopen("sub/bad.yaml", "w"));
	fputs("groups:\n  web:\n    command: [a]\n    restart: sometimes\n", f);
	fclose(f);
	cr_assert_eq(conf_load("./sub/bad.yaml", &c, &errs), -1);
	cr_assert_str_eq(errs, "./sub/bad.yaml:4:14: groups.web.restart: expected "
			       "always|on-failure|never, got \"sometimes\"\n");
	free(errs);
	cr_assert_not_null(f = fopen("sub/good.yaml", "w"));
	fputs("supervisor:\n  state_dir: st\n", f);
	fclose(f);
	cr_assert_eq(conf_load("sub/good.yaml", &c, &errs), 0);
	snprintf(want, sizeof(want), "%s/sub/good.yaml", tmpl);
	cr_assert_str_eq(c->path, want);
	snprintf(want, sizeof(want), "%s/sub", tmpl);
	cr_assert_str_eq(c->dir, want);
	snprintf(want, sizeof(want), "%s/sub/st", tmpl);
	cr_assert_str_eq(c->state_dir, want);
	conf_free(&c);
	cr_assert_eq(conf_load("sub/missing.yaml", &c, &errs), -1);
	cr_assert_str_eq(errs, "sub/missing.yaml: cannot read: No such file or directory\n");
	cr_assert_null(c);
	free(errs);
	cr_assert_eq(conf_load("sub", &c, &errs), -1);
	cr_assert_str_eq(errs, "sub: cannot read: Is a directory\n");
	free(errs);
	unlink("sub/bad.yaml");
	unlink("sub/good.yaml");
	rmdir("sub");
	rmdir(tmpl);
}

Test(conf, variables_are_checked_against_builtins_env_and_environment, .init = init)
{
	conf_t *c = parse_ok(
	    "groups:\n"
	    "  a:\n"
	    "    command: [x, '${INSTANCE}', '${GROUP}', '${NAME}', '${HOST}', '${PORT}',\n"
	    "              '${DROVER_TEST_DEFINED}', '$${NOT_A_REF}', '$PLAIN', 'a$']\n"
	    "    env: { PORT: '9${INSTANCE}' }\n"
	    "    ready: { tcp: '127.0.0.1:${PORT}' }\n");

	cr_assert_str_eq(c->groups[0].ready.target, "127.0.0.1:${PORT}");
	conf_free(&c);
}

/* An env entry may refer to one written after it: the entries are ordered
   so that expanding them one after the other, each seeing those before it
   (as a worker's environment is built), gives every reference its value. */
Test(conf, env_entries_come_after_those_they_refer_to, .init = init)
{
	conf_t *c = parse_ok("groups:\n"
			     "  a:\n"
			     "    command: [x]\n"
			     "    env: { A: 'a${B}', B: '${C}b${PATH}', C: 'c${INSTANCE}', PATH: "
			     "'/opt:${PATH}', D: d }\n");
	const conf_group_t *g = &c->groups[0];
	conf_kv_t kv[5];
	conf_vars_t v = {"a", 7, "a:7", "box", kv, 0};
	const char *path = getenv("PATH");
	char want[4096];
	size_t i;

	cr_assert_eq(g->n_env, 5);
	for (i = 0; i < g->n_env; i++) {
		v.n_env = i;
		kv[i].key = g->env[i].key;
		kv[i].value = conf_expand(g->env[i].value, &v);
	}
	for (i = 0; i < g->n_env; i++) {
		if (strcmp(kv[i].key, "A") == 0) {
			snprintf(want, sizeof(want), "ac7b/opt:%s", path ? path : "");
			cr_assert_str_eq(kv[i].value, want);
		} else if (strcmp(kv[i].key, "PATH") == 0) {
			snprintf(want, sizeof(want), "/opt:%s", path ? path : "");
			cr_assert_str_eq(kv[i].value, want, "a self-reference is droverd's own");
		} else if (strcmp(kv[i].key, "D") == 0) {
			cr_assert_str_eq(kv[i].value, "d");
		}
		free(kv[i].value);
	}
	conf_free(&c);
}

Test(conf, expand_fills_builtins_then_env_then_the_environment, .init = init)
{
	conf_kv_t env[] = {{"PORT", "8042"}, {"GROUP", "shadowed"}};
	conf_vars_t v = {"web", 3, "web:3", "box", env, 2};
	char *s;

	s = conf_expand("${GROUP}/${INSTANCE}/${NAME}@${HOST}:${PORT}", &v);
	cr_assert_str_eq(s, "web/3/web:3@box:8042");
	free(s);
	s = conf_expand("${DROVER_TEST_DEFINED}-${" UNDEF "}-", &v);
	cr_assert_str_eq(s, "yes--");
	free(s);
	s = conf_expand("cost: $$5 ${ unterminated $x $", &v);
	cr_assert_str_eq(s, "cost: $5 ${ unterminated $x $");
	free(s);
	s = conf_expand("", &v);
	cr_assert_str_eq(s, "");
	free(s);
	s = conf_expand("${DROVER_TEST_DEFINED}", NULL);
	cr_assert_str_eq(s, "yes");
	free(s);
}

Test(conf, expand_gives_the_argv_of_an_instance, .init = init)
{
	conf_t *c = parse_ok("groups:\n  web:\n    command: [srv, --port, '80${INSTANCE}0']\n");
	conf_vars_t v = {"web", 2, "web:2", "h", NULL, 0};
	char *s = conf_expand(c->groups[0].argv[2], &v);

	cr_assert_str_eq(s, "8020");
	free(s);
	conf_free(&c);
}

/* Parses two versions of a one-group file and compares the group. */
static bool
same(const char *a, const char *b)
{
	conf_t *ca = parse_ok(a), *cb = parse_ok(b);
	bool r;

	cr_assert_eq(ca->n_groups, 1);
	cr_assert_eq(cb->n_groups, 1);
	r = conf_group_same(&ca->groups[0], &cb->groups[0]);
	cr_assert_eq(r, conf_group_same(&cb->groups[0], &ca->groups[0]), "symmetric");
	conf_free(&ca);
	conf_free(&cb);
	return r;
}

#define W "groups:\n  web:\n    command: [srv, '${PORT}']\n    env: { PORT: '80' }\n"

Test(conf, group_same_ignores_only_instances_and_autostart, .init = init)
{
	cr_assert(same(W, W));
	cr_assert(same(W, W "    instances: 7\n"));
	cr_assert(same(W, W "    autostart: false\n"));
	cr_assert(same(W, "# moved down\n\n" W), "the position in the file is not configuration");
	cr_assert(same(W "    restart: on-failure\n", W), "a default written out is the same");
	cr_assert_not(
	    same(W, "groups:\n  web:\n    command: [srv, '81']\n    env: { PORT: '80' }\n"));
	cr_assert_not(
	    same(W, "groups:\n  web:\n    command: \"srv ${PORT}\"\n    env: { PORT: '80' }\n"));
	cr_assert_not(
	    same(W, "groups:\n  web:\n    command: [srv, '${PORT}']\n    env: { PORT: '81' }\n"));
	cr_assert_not(same(W, W "    cwd: /tmp\n"));
	cr_assert_not(same(W, W "    user: nobody\n"));
	cr_assert_not(same(W, W "    umask: '077'\n"));
	cr_assert_not(same(W, W "    restart: always\n"));
	cr_assert_not(same(W, W "    backoff: { initial: 1s }\n"));
	cr_assert_not(same(W, W "    backoff: { max: 1m }\n"));
	cr_assert_not(same(W, W "    backoff: { factor: 3 }\n"));
	cr_assert_not(same(W, W "    start_timeout: 5s\n"));
	cr_assert_not(same(W, W "    max_restarts: { count: 9 }\n"));
	cr_assert_not(same(W, W "    max_restarts: { within: 5m }\n"));
	cr_assert_not(same(W, W "    ready: { tcp: '127.0.0.1:80' }\n"));
	cr_assert_not(same(W "    ready: { exec: [a, b] }\n", W "    ready: { exec: [a, c] }\n"));
	cr_assert_not(same(W "    ready: { delay: 1s }\n", W "    ready: { delay: 2s }\n"));
	cr_assert_not(same(W, W "    ready: { notify: true, timeout: 1s }\n"));
	cr_assert_not(same(W, W "    stop: { signal: INT }\n"));
	cr_assert_not(same(W, W "    stop: { timeout: 1s }\n"));
	cr_assert_not(same(W, W "    stdout: inherit\n"));
	cr_assert_not(same(W, W "    stdout: { keep: 1 }\n"));
	cr_assert_not(same(W, W "    stderr: { max_size: 1MB }\n"));
	cr_assert_not(same(W, W "    stderr: { file: /tmp/x }\n"));
	cr_assert_not(same(W, W "    limits: { nofile: 10 }\n"));
	cr_assert_not(same(W, W "    limits: { core: 1MB }\n"));
	cr_assert_not(same(W, W "    limits: { memory: 1GB }\n"));
	cr_assert_not(same(W, W "    limits: { nproc: 10 }\n"));
	cr_assert_not(same(W, W "    hosts: [agent-1]\n"));
	cr_assert_not(same(W, W "    hosts: { labels: { a: b } }\n"));
	cr_assert_not(
	    same(W "    hosts: { labels: { a: b } }\n", W "    hosts: { labels: { a: c } }\n"));
	cr_assert_not(same(W "    hosts: { labels: { a: b } }\n",
			   W "    hosts: { labels: { a: b }, per_host: 3 }\n"));
}

Test(conf, group_same_sees_a_changed_dependency, .init = init)
{
	conf_t *a = parse_ok("groups:\n  x:\n    command: [a]\n  y:\n    command: [b]\n"),
	       *b = parse_ok("groups:\n  x:\n    command: [a]\n    depends_on: [y]\n  y:\n"
			     "    command: [b]\n");

	cr_assert_not(conf_group_same(conf_group_find(a, "x"), conf_group_find(b, "x")));
	cr_assert(conf_group_same(conf_group_find(a, "y"), conf_group_find(b, "y")));
	conf_free(&a);
	conf_free(&b);
}

Test(conf, user_is_accepted_when_not_root, .init = init)
{
	conf_t *c = parse_ok(G "    user: nobody-at-all\n");

	cr_assert_str_eq(c->groups[0].user, "nobody-at-all");
	conf_free(&c);
}

Test(conf, a_bare_zmq_listen_address_means_tcp, .init = init)
{
	conf_t *c = parse_ok("supervisor:\n  queues: { listen: '127.0.0.1:9999' }\n");

	cr_assert_str_eq(c->queues_listen, "tcp://127.0.0.1:9999");
	conf_free(&c);
}

Test(conf, a_long_cycle_is_named_by_its_ends, .init = init)
{
	char yaml[4096] = "groups:\n", *errs;
	int i, n = 12;

	for (i = 0; i < n; i++)
		snprintf(yaml + strlen(yaml), sizeof(yaml) - strlen(yaml),
			 "  g%d:\n    command: [x]\n    depends_on: [g%d]\n", i, (i + 1) % n);
	errs = errors_of(yaml);
	cr_assert_str_eq(errs,
			 NAME ":37:18: groups.g11.depends_on[0]: dependency cycle: g0 -> g1 -> "
			      "g2 -> ... -> g9 -> g10 -> g11 -> g0 (12 groups)\n");
	free(errs);
}

/* ---- inputs that must not crash, hang or leak ---- */

Test(conf, garbage_is_refused_without_a_crash, .init = init, .timeout = 60)
{
	unsigned seed = 12345;
	char buf[2048], *errs;
	conf_t *c;
	int i, k;

	for (i = 0; i < 500; i++) {
		int n = (int)(rand_r(&seed) % sizeof(buf));

		for (k = 0; k < n; k++)
			buf[k] = (char)(rand_r(&seed) & 0xff);
		c = NULL;
		errs = NULL;
		if (conf_parse_string(buf, (size_t)n, NAME, DIR, &c, &errs) == 0)
			conf_free(&c);
		free(errs);
	}
}

Test(conf, mutated_configs_never_crash, .init = init, .timeout = 60)
{
	static const char *base = G "    instances: 2\n    env: { A: '${INSTANCE}' }\n"
				    "    ready: { tcp: '127.0.0.1:80' }\n    depends_on: [db]\n"
				    "  db:\n    command: x\nqueues:\n  q: { capacity: 5 }\n";
	static const char alphabet[] = "[]{}:-,&*!|>'\"#?$ \n\t~0a";
	size_t len = strlen(base);
	unsigned seed = 777;
	char buf[512], *errs;
	conf_t *c;
	int i, m;

	for (i = 0; i < 3000; i++) {
		memcpy(buf, base, len + 1);
		for (m = 0; m < 1 + (int)(rand_r(&seed) % 4); m++)
			buf[rand_r(&seed) % len] = alphabet[rand_r(&seed) % (sizeof(alphabet) - 1)];
		c = NULL;
		errs = NULL;
		if (conf_parse_string(buf, len, NAME, DIR, &c, &errs) == 0)
			conf_free(&c);
		else
			cr_assert_not_null(errs);
		free(errs);
	}
}

Test(conf, deep_nesting_is_refused, .init = init)
{
	size_t n = 100000, i;
	char *deep = malloc(2 * n + 1), *errs;

	for (i = 0; i < n; i++) {
		deep[i] = '[';
		deep[n + i] = ']';
	}
	deep[2 * n] = '\0';
	errs = errors_of(deep);
	cr_assert_str_eq(errs, NAME ":1:65: syntax error: nested deeper than 64 levels\n");
	free(errs);
	free(deep);
}

Test(conf, a_huge_scalar_is_kept_whole, .init = init)
{
	size_t n = 4 << 20;
	const char *pre = "groups:\n  big:\n    command: \"", *post = "\"\n";
	char *yaml = malloc(strlen(pre) + n + strlen(post) + 1);
	conf_t *c;

	strcpy(yaml, pre);
	memset(yaml + strlen(pre), 'x', n);
	strcpy(yaml + strlen(pre) + n, post);
	c = parse_ok(yaml);
	cr_assert_eq(strlen(c->groups[0].argv[2]), n);
	conf_free(&c);
	free(yaml);
}

/* Each alias is a copy, counted against the file's budget: nine levels of
   ten aliases (10^9 nodes) are refused at the alias that goes over, with one
   error, in milliseconds. */
Test(conf, a_billion_laughs_is_refused_at_once, .init = init)
{
	static const char *yaml = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
				  "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
				  "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
				  "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
				  "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
				  "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
				  "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
				  "h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
				  "i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]\n";
	struct timespec t0, t1;
	char *errs;
	double ms;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	errs = errors_of(yaml);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
	cr_assert_str_eq(errs, NAME ":5:36: syntax error: *d: aliases expand this file beyond "
				   "100000 nodes; refused (an alias bomb?)\n");
	/* a few ms; the bound leaves room for sanitizers and a busy machine */
	cr_assert_lt(ms, 1000.0, "took %.1f ms", ms);
	free(errs);
}

/* docker-compose's way: defaults under an x- key, merged with <<; the
   mapping's own keys win over merged ones, and in a list of merged mappings
   the earlier wins; an alias stands for a whole value anywhere. */
Test(conf, anchors_aliases_and_merge_keys_as_compose_writes_them, .init = init)
{
	conf_t *c = parse_ok("x-defaults: &d\n"
			     "  restart: always\n"
			     "  stop: { signal: INT, timeout: 3s }\n"
			     "  env: &env { A: \"1\" }\n"
			     "x-cmd: &cmd [sleep, \"100\"]\n"
			     "groups:\n"
			     "  web:\n"
			     "    <<: *d\n"
			     "    command: *cmd\n"
			     "    restart: never\n"
			     "  db:\n"
			     "    <<: [{autostart: false, restart: never}, *d]\n"
			     "    command: [b]\n"
			     "    env: { <<: *env, B: \"2\" }\n"
			     "  q:\n"
			     "    <<: &inline {command: [c], restart: never}\n"
			     "    restart: always\n"
			     "  r:\n"
			     "    <<: *inline\n");

	cr_assert_eq(c->n_groups, 4);
	cr_assert_str_eq(c->groups[0].name, "web");
	cr_assert_eq(c->groups[0].restart, CONF_RESTART_NEVER);
	cr_assert_eq(c->groups[0].stop_signal, SIGINT);
	cr_assert_eq(c->groups[0].stop_timeout_ms, 3000);
	cr_assert_str_eq(c->groups[0].argv[0], "sleep");
	cr_assert_str_eq(c->groups[0].argv[1], "100");
	cr_assert_eq(c->groups[0].n_env, 1);
	cr_assert_str_eq(c->groups[1].name, "db");
	cr_assert_eq(c->groups[1].restart, CONF_RESTART_NEVER);
	cr_assert_eq(c->groups[1].autostart, false);
	cr_assert_eq(c->groups[1].stop_signal, SIGINT);
	cr_assert_eq(c->groups[1].n_env, 2);
	cr_assert_str_eq(c->groups[2].name, "q");
	cr_assert_eq(c->groups[2].restart, CONF_RESTART_ALWAYS);
	cr_assert_str_eq(c->groups[2].argv[0], "c");
	cr_assert_str_eq(c->groups[3].name, "r");
	cr_assert_eq(c->groups[3].restart, CONF_RESTART_NEVER);
	cr_assert_str_eq(c->groups[3].argv[0], "c");
	conf_free(&c);
}

/* Extension fields are dropped only at the top level, whatever they hold. */
Test(conf, top_level_x_keys_are_left_alone, .init = init)
{
	conf_t *c = parse_ok("x-anything: { not: [a, config], restart: sometimes }\n"
			     "x-: 1\n" G);

	cr_assert_eq(c->n_groups, 1);
	conf_free(&c);
}

/* libyaml takes a plain key over 1024 characters for a value ("mapping
   values are not allowed in this context"): a group or queue name that long
   gets the name rule, any other key says what YAML allows. */
Test(conf, a_key_too_long_for_yaml_gets_the_name_rule, .init = init)
{
	static const char *before[] = {"groups:\n  ", "groups:\n  a:\n    command: [x]\n  ",
				       "queues:\n  ", "supervisor:\n  ",
				       "# caf\xc3\xa9 \xe2\x82\xac\ngroups:\n  "};
	static const char *after[] = {":\n    command: [x]\n", ":\n    command: [y]\n", ": {}\n",
				      ": 1\n", ":\n    command: [x]\n"};
	static const char *want[] = {
	    NAME ":2:3: groups.gggggggggg",
	    NAME ":4:3: groups.gggggggggg",
	    NAME ":2:3: queues.gggggggggg",
	    NAME ":2:3: syntax error: a key of 2000 characters; YAML allows at most 1024\n",
	    NAME ":3:3: groups.gggggggggg", /* after characters of several bytes */
	};
	static const char *rule[] = {
	    "...: invalid group name: use 1 to 64 letters, digits, '_', '.' or '-'\n",
	    "...: invalid group name: use 1 to 64 letters, digits, '_', '.' or '-'\n",
	    "...: invalid queue name: use 1 to 64 letters, digits, '_', '.' or '-'\n",
	    "",
	    "...: invalid group name: use 1 to 64 letters, digits, '_', '.' or '-'\n",
	};
	char name[2001], text[4096], *errs;
	size_t i, n;

	memset(name, 'g', 2000);
	name[2000] = '\0';
	for (i = 0; i < sizeof(before) / sizeof(before[0]); i++) {
		snprintf(text, sizeof(text), "%s%s%s", before[i], name, after[i]);
		errs = errors_of(text);
		cr_assert_not_null(errs, "case %zu accepted", i);
		n = strlen(want[i]);
		cr_expect_eq(strncmp(errs, want[i], n), 0, "case %zu: %s", i, errs);
		cr_expect(strlen(errs) >= strlen(rule[i]) &&
			      strcmp(errs + strlen(errs) - strlen(rule[i]), rule[i]) == 0,
			  "case %zu: %s", i, errs);
		free(errs);
	}
}

Test(conf, control_characters_in_names_do_not_reach_the_terminal, .init = init)
{
	char *errs = errors_of("groups:\n  \"we\\nb\\e[31m\":\n    command: [a]\n");

	cr_assert_str_eq(errs, NAME ":2:3: groups.we?b?[31m: invalid group name: use 1 to 64 "
				    "letters, digits, '_', '.' or '-'\n");
	free(errs);
}

Test(conf, free_is_safe_on_null_and_nulls_the_handle)
{
	conf_t *c = NULL;

	conf_free(NULL);
	conf_free(&c);
	cr_assert_null(c);
	cr_assert_null(conf_group_find(NULL, "x"));
	cr_assert(conf_group_same(NULL, NULL));
}

Test(conf, web_root_is_a_path_relative_to_the_file, .init = init)
{
	conf_t *c = parse_ok("supervisor:\n"
			     "  http: { web_root: web/dist }\n"
			     "groups:\n"
			     "  a: { command: 'true' }\n");

	cr_assert_str_eq(c->http_web_root, DIR "/web/dist");
	conf_free(&c);
}

/* agent.yaml goes through the same YAML reader: anchors under x- keys work,
   and a key that an alias makes a mapping is an error, not a crash. */
Test(conf, an_agent_file_takes_anchors_and_refuses_a_mapping_as_key, .init = init)
{
	static const char *yaml = "x-hub: &hub tcp://127.0.0.1:9171\n"
				  "x-k: &k {a: 1}\n"
				  "agent:\n"
				  "  connect: *hub\n"
				  "  name: n1\n"
				  "  key: n1.cert_secret\n"
				  "  server_key: droverd.cert\n"
				  "  labels: { *k : x }\n"
				  "  *k : 1\n";
	char path[] = "/tmp/drover-test-agent-XXXXXX";
	conf_agent_t *a = NULL;
	char *errs = NULL;
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
	close(fd);
	cr_assert_neq(conf_agent_load(path, &a, &errs), 0);
	unlink(path);
	cr_assert_null(a);
	cr_assert_not_null(errs);
	cr_assert(strstr(errs, ":8:13: agent.labels: expected a string key, got a mapping (through *k: anchor &k at ") !=
		      NULL,
		  "%s", errs);
	cr_assert(strstr(errs, ":9:3: agent: expected a string key, got a mapping (through *k") !=
		      NULL,
		  "%s", errs);
	cr_assert(strstr(errs, "connect") == NULL, "%s", errs);
	free(errs);
}
