/* fuzz_conf: drover.yaml, bytes to a conf_t or errors (conf_parse_string).
   A configuration that parses is also expanded for an instance, copied and
   compared with its copy, and sent through the agent protocol's group
   encoding and back, which must give the same group. */
#include "fuzz.h"

#include <string.h>

#include "agent_wire.h"
#include "conf.h"
#include "log.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_set_level(DLOG_ERROR);
	setenv("DROVER_FUZZ_DEFINED", "yes", 1);
	return 0;
}

static void
s_expand(const conf_group_t *g)
{
	conf_kv_t env[64];
	conf_vars_t vars = {.group = g->name, .instance = 3, .name = "fuzz:3", .host = "fuzzhost"};
	char *s;
	size_t i;

	for (i = 0; i < g->n_env && i < 64; i++) {
		env[i].key = g->env[i].key;
		env[i].value = conf_expand(g->env[i].value, &vars);
		FUZZ_CHECK(env[i].value != NULL);
		vars.env = env;
		vars.n_env = i + 1;
	}
	for (i = 0; i < g->argc; i++) {
		FUZZ_CHECK((s = conf_expand(g->argv[i], &vars)) != NULL);
		free(s);
	}
	if (g->cwd != NULL) {
		FUZZ_CHECK((s = conf_expand(g->cwd, &vars)) != NULL);
		free(s);
	}
	if (g->ready.target != NULL) {
		FUZZ_CHECK((s = conf_expand(g->ready.target, &vars)) != NULL);
		free(s);
	}
	for (i = 0; i < vars.n_env; i++)
		free(env[i].value);
}

/* The agent protocol carries every setting but the placement. */
static void
s_roundtrip(const conf_group_t *g)
{
	char why[256] = "";
	json_t *j = awire_group_encode(g);
	conf_group_t *d, same;

	FUZZ_CHECK(j != NULL);
	d = awire_group_decode(j, why, sizeof(why));
	if (d == NULL) {
		fprintf(stderr, "group %s: %s\n", g->name, why);
		FUZZ_CHECK(d != NULL);
	}
	same = *g;
	same.hosts = d->hosts;
	same.n_hosts = d->n_hosts;
	same.host_labels = d->host_labels;
	same.n_host_labels = d->n_host_labels;
	same.per_host = d->per_host;
	FUZZ_CHECK(conf_group_same(&same, d));
	FUZZ_CHECK(d->instances == g->instances && d->autostart == g->autostart);
	conf_group_destroy(&d);
	json_decref(j);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	conf_t *c = NULL;
	char *errors = NULL;
	conf_group_t *dup;
	size_t i;
	int rc;

	rc = conf_parse_string((const char *)data, size, "drover.yaml", "/etc/drover", &c, &errors);
	if (rc != 0) {
		FUZZ_CHECK(c == NULL && errors != NULL && *errors != '\0');
		FUZZ_CHECK(errors[strlen(errors) - 1] == '\n');
		free(errors);
		return 0;
	}
	FUZZ_CHECK(c != NULL && errors == NULL);
	for (i = 0; i < c->n_groups; i++) {
		const conf_group_t *g = &c->groups[i];

		FUZZ_CHECK(conf_group_find(c, g->name) == g);
		FUZZ_CHECK(g->instances <= CONF_MAX_INSTANCES);
		s_expand(g);
		FUZZ_CHECK((dup = conf_group_dup(g)) != NULL);
		FUZZ_CHECK(conf_group_same(dup, g));
		conf_group_destroy(&dup);
		s_roundtrip(g);
	}
	for (i = 0; i < c->n_queues; i++)
		FUZZ_CHECK(conf_queue_find(c, c->queues[i].name) == &c->queues[i]);
	conf_free(&c);
	return 0;
}
