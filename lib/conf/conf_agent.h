/* conf_agent: drover-agent's settings (SPEC 7), from agent.yaml or flags. */
#ifndef DROVER_CONF_AGENT_H
#define DROVER_CONF_AGENT_H

#include <stdbool.h>
#include <stddef.h>

#include "conf.h"

typedef struct {
	char *connect;	  /* tcp://HUB:9171 */
	char *name;	  /* the agent's name: its cert's name in droverd's keys_dir */
	char *key;	  /* path of NAME.cert_secret */
	char *server_key; /* path of droverd.cert */
	conf_kv_t *labels;
	size_t n_labels;
	char *state_dir; /* absolute; default <the file's dir>/var */
	char *log_dir;	 /* absolute; default <state_dir>/log */
} conf_agent_t;

/* Reads and checks agent.yaml. 0 and *out (caller owns), or -1 and *errors
   (malloc'd, one "FILE:LINE:COL: path: message" per line). */
int conf_agent_load(const char *path, conf_agent_t **out, char **errors);
/* The same from a string: name is used in messages and dir (absolute) to
   resolve relative paths. */
int conf_agent_parse_string(const char *text, size_t len, const char *name, const char *dir,
			    conf_agent_t **out, char **errors);
void conf_agent_free(conf_agent_t **ap);
/* Sets label key=value (replacing one of the same key). 0 or -ENOMEM. */
int conf_agent_add_label(conf_agent_t *a, const char *key, const char *value);
/* 1-64 of [A-Za-z0-9._-], not starting with '.' or '-', not "local". */
bool conf_agent_name_ok(const char *s);

#endif
