/* history: the sampling tick. It reads every process from the fleet view
   (local ones sampled by droverd, remote ones as their agents report them)
   and the queue numbers through the same function the API lists queues
   with, so it needs nothing of its own from either. */
#include "history.h"

#include <errno.h>
#include <stdlib.h>

#include "clock.h"
#include "hist.h"
#include "log.h"

struct sup_history {
	ev_t *ev;
	view_t *view;
	json_t *(*queues)(void *ctx);
	void *ctx;
	hist_t *hist;
	ev_timer_t tick;
};

static int64_t
s_json_int(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_number(v) ? (int64_t)json_number_value(v) : 0;
}

static void
s_on_tick(ev_t *ev, ev_timer_t *t)
{
	sup_history_t *h = t->arg;
	size_t i, n;
	json_t *list, *q;

	hist_tick_begin(h->hist, clock_wall(), clock_ms());
	view_refresh(h->view); /* fresh CPU and memory of the local processes */
	n = view_count(h->view);
	for (i = 0; i < n; i++) {
		const view_proc_t *p = view_at(h->view, i);

		if (hist_put_process(h->hist, p->name, p->pid, p->pid > 0 ? p->cpu_seconds : -1,
				     p->pid > 0 ? p->rss_bytes : -1) != 0)
			log_warn("history: out of memory for %s", p->name);
	}
	list = h->queues ? h->queues(h->ctx) : NULL;
	for (i = 0; json_is_array(list) && i < json_array_size(list); i++) {
		q = json_array_get(list, i);
		if (!json_is_string(json_object_get(q, "name")))
			continue;
		hist_put_queue(h->hist, json_string_value(json_object_get(q, "name")),
			       s_json_int(q, "size"), s_json_int(q, "in_flight"),
			       s_json_int(q, "put_total"), s_json_int(q, "get_total"));
	}
	json_decref(list);
	hist_tick_end(h->hist);
	ev_timer_start(ev, t, t->at_ms + hist_interval_ms(h->hist), s_on_tick, h);
}

sup_history_t *
sup_history_new(ev_t *ev, view_t *view, json_t *(*queues)(void *ctx), void *ctx)
{
	const char *env = getenv("DROVER_HISTORY_INTERVAL_MS");
	int64_t interval_ms = HIST_INTERVAL_MS;
	sup_history_t *h;

	if (env != NULL && atoll(env) >= 10)
		interval_ms = atoll(env);
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	if ((h->hist = hist_new(interval_ms)) == NULL) {
		free(h);
		return NULL;
	}
	h->ev = ev;
	h->view = view;
	h->queues = queues;
	h->ctx = ctx;
	ev_timer_start(ev, &h->tick, clock_ms() + interval_ms, s_on_tick, h);
	return h;
}

json_t *
sup_history_export(sup_history_t *h)
{
	json_t *o = hist_export(h->hist);

	if (o != NULL)
		json_object_set_new(o, "next_tick_ms", json_integer(h->tick.at_ms));
	return o;
}

void
sup_history_inherit(sup_history_t *h, const json_t *state)
{
	hist_t *next;
	int64_t at = json_integer_value(json_object_get(state, "next_tick_ms"));

	if (state == NULL)
		return;
	if ((next = hist_import(state, hist_interval_ms(h->hist))) == NULL) {
		log_warn("history: the previous droverd's samples cannot be read here; the charts "
			 "start again");
		return;
	}
	hist_destroy(&h->hist);
	h->hist = next;
	if (at > 0 && at < clock_ms() + hist_interval_ms(h->hist))
		ev_timer_start(h->ev, &h->tick, at, s_on_tick, h); /* the same phase */
}

void
sup_history_destroy(sup_history_t **hp)
{
	sup_history_t *h;

	if (hp == NULL || (h = *hp) == NULL)
		return;
	ev_timer_stop(h->ev, &h->tick);
	hist_destroy(&h->hist);
	free(h);
	*hp = NULL;
}

json_t *
sup_history_json(sup_history_t *h, const char *kind, const char *name)
{
	json_t *j;

	if (h == NULL || (j = hist_json(h->hist, kind, name)) == NULL)
		return NULL;
	json_object_set_new(j, "store_bytes", json_integer((json_int_t)hist_bytes(h->hist)));
	return j;
}
