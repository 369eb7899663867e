/* The settings summary of a group, as GET /api/v1/groups shows it. */
#include "view.h"

#include "conf.h"

static const char *const s_restart_names[] = {"always", "on-failure", "never"};
static const char *const s_ready_names[] = {"none", "tcp", "http", "exec", "notify", "delay"};

static json_t *
s_strings(char *const *v, size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

json_t *
view_group_summary(const conf_group_t *g)
{
	json_t *o = json_object(), *hosts;
	size_t i;

	json_object_set_new(o, "name", json_string(g->name));
	json_object_set_new(o, "configured_instances", json_integer(g->instances));
	json_object_set_new(o, "command", s_strings(g->argv, g->argc));
	json_object_set_new(o, "shell", json_boolean(g->shell));
	json_object_set_new(o, "autostart", json_boolean(g->autostart));
	json_object_set_new(o, "restart", json_string(s_restart_names[g->restart]));
	json_object_set_new(o, "ready", json_string(s_ready_names[g->ready.kind]));
	json_object_set_new(o, "depends_on", s_strings(g->depends_on, g->n_depends_on));
	if (g->n_host_labels > 0) {
		json_t *labels = json_object();

		for (i = 0; i < g->n_host_labels; i++)
			json_object_set_new(labels, g->host_labels[i].key,
					    json_string(g->host_labels[i].value));
		hosts = json_pack("{s:o, s:i}", "labels", labels, "per_host", (int)g->per_host);
	} else {
		hosts = s_strings(g->hosts, g->n_hosts);
	}
	json_object_set_new(o, "hosts", hosts);
	return o;
}
