/* fuzz_conf_agent: agent.yaml, bytes to a conf_agent_t or errors
   (conf_agent_parse_string, what conf_agent_load does once it has read the
   file). */
#include "fuzz.h"

#include <string.h>

#include "conf_agent.h"
#include "log.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_set_level(DLOG_ERROR);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	conf_agent_t *a = NULL;
	char *errors = NULL;
	size_t i;

	if (conf_agent_parse_string((const char *)data, size, "agent.yaml", "/etc/drover", &a,
				    &errors) != 0) {
		FUZZ_CHECK(a == NULL && errors != NULL && *errors != '\0');
		FUZZ_CHECK(errors[strlen(errors) - 1] == '\n');
		free(errors);
		return 0;
	}
	FUZZ_CHECK(a != NULL && errors == NULL);
	FUZZ_CHECK(a->connect != NULL && a->name != NULL && conf_agent_name_ok(a->name));
	FUZZ_CHECK(a->key != NULL && a->server_key != NULL);
	FUZZ_CHECK(a->state_dir != NULL && a->state_dir[0] == '/');
	FUZZ_CHECK(a->log_dir != NULL && a->log_dir[0] == '/');
	for (i = 0; i < a->n_labels; i++)
		FUZZ_CHECK(a->labels[i].key != NULL && a->labels[i].value != NULL);
	/* A label set again replaces the old one. */
	if (a->n_labels > 0) {
		size_t n = a->n_labels;

		FUZZ_CHECK(conf_agent_add_label(a, a->labels[0].key, "again") == 0);
		FUZZ_CHECK(a->n_labels == n && strcmp(a->labels[0].value, "again") == 0);
	}
	conf_agent_free(&a);
	return 0;
}
