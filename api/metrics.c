/* api metrics: /metrics in the Prometheus text exposition format 0.0.4, built
   in one pass into one buffer. Names follow Prometheus conventions (base
   units, counters end in _total) so that `promtool check metrics` is quiet.
   Every state of drover_process_state is written (0 or 1), so a process that
   leaves a state does not leave a stale series behind. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api_internal.h"
#include "clock.h"
#include "prom.h"

static void
s_proc_labels(FILE *f, const char *metric, const view_proc_t *p)
{
	fprintf(f, "%s{name=\"", metric);
	prom_label(f, p->name);
	fputs("\",group=\"", f);
	prom_label(f, p->group);
	fputs("\",host=\"", f);
	prom_label(f, p->host ? p->host : VIEW_HOST_LOCAL);
	fputs("\"", f);
}

char *
api_metrics_text(api_t *api, size_t *len)
{
	size_t i, s, n;
	size_t counts[PROC_N_STATES] = {0};
	char *buf = NULL, *extra;
	const view_proc_t *p;
	json_t *agents;
	FILE *f;

	if ((f = open_memstream(&buf, len)) == NULL)
		return NULL;
	view_refresh(api->view);
	n = view_count(api->view);
	for (i = 0; i < n; i++)
		counts[view_at(api->view, i)->state]++;

	prom_head(f, "drover_info", "gauge", "Version and name of this droverd.");
	fputs("drover_info{version=\"" DROVER_VERSION "\",name=\"", f);
	prom_label(f, api->name);
	fputs("\"} 1\n", f);
	prom_head(f, "drover_start_time_seconds", "gauge", "Unix time droverd started.");
	fprintf(f, "drover_start_time_seconds %.3f\n", api->started);

	prom_head(f, "drover_processes", "gauge", "Processes in each state.");
	for (s = 0; s < PROC_N_STATES; s++)
		fprintf(f, "drover_processes{state=\"%s\"} %zu\n", proc_state_name((proc_state_t)s),
			counts[s]);

	prom_head(f, "drover_process_state", "gauge",
		  "1 for the state the process is in, 0 for the others.");
	for (i = 0; i < n; i++) {
		p = view_at(api->view, i);
		for (s = 0; s < PROC_N_STATES; s++) {
			s_proc_labels(f, "drover_process_state", p);
			fprintf(f, ",state=\"%s\"} %d\n", proc_state_name((proc_state_t)s),
				p->state == s);
		}
	}
	prom_head(f, "drover_process_restarts_total", "counter",
		  "Restarts of the process since droverd started it.");
	for (i = 0; i < n; i++) {
		p = view_at(api->view, i);
		s_proc_labels(f, "drover_process_restarts_total", p);
		fprintf(f, "} %u\n", p->restarts);
	}
	prom_head(f, "drover_process_start_time_seconds", "gauge",
		  "Unix time of the process's last state change.");
	for (i = 0; i < n; i++) {
		p = view_at(api->view, i);
		s_proc_labels(f, "drover_process_start_time_seconds", p);
		fprintf(f, "} %.3f\n", p->since);
	}
	prom_head(f, "drover_process_cpu_seconds_total", "counter",
		  "User and system CPU time of the running process.");
	for (i = 0; i < n; i++) {
		p = view_at(api->view, i);
		if (p->cpu_seconds < 0 || p->pid <= 0)
			continue;
		s_proc_labels(f, "drover_process_cpu_seconds_total", p);
		fprintf(f, "} %.2f\n", p->cpu_seconds);
	}
	prom_head(f, "drover_process_resident_memory_bytes", "gauge",
		  "Resident memory of the running process.");
	for (i = 0; i < n; i++) {
		p = view_at(api->view, i);
		if (p->rss_bytes < 0 || p->pid <= 0)
			continue;
		s_proc_labels(f, "drover_process_resident_memory_bytes", p);
		fprintf(f, "} %lld\n", (long long)p->rss_bytes);
	}

	agents = api->hooks.agents ? api->hooks.agents(api->ctx) : NULL;
	prom_head(f, "drover_agent_up", "gauge", "1 while the agent is connected.");
	for (i = 0; json_is_array(agents) && i < json_array_size(agents); i++) {
		json_t *a = json_array_get(agents, i);
		const char *name = json_string_value(json_object_get(a, "name"));
		const char *state = json_string_value(json_object_get(a, "state"));

		if (name == NULL)
			continue;
		fputs("drover_agent_up{agent=\"", f);
		prom_label(f, name);
		fprintf(f, "\"} %d\n", state != NULL && strcmp(state, "CONNECTED") == 0);
	}
	json_decref(agents);

	if (api->hooks.metrics != NULL && (extra = api->hooks.metrics(api->ctx)) != NULL) {
		fputs(extra, f);
		free(extra);
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}
