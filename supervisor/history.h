/* history: droverd's sampler for the dashboard's charts. Every interval
   (HIST_INTERVAL_MS, or $DROVER_HISTORY_INTERVAL_MS) it puts each process's
   CPU and RSS and each queue's numbers into a lib/hist store: one timer, no
   other wakeup. $DROVER_HISTORY_INTERVAL_MS (at least 10) is for tests;
   below 1000 the CPU figures come in lumps, as the process core reads /proc
   at most once a second. */
#ifndef DROVER_SUP_HISTORY_H
#define DROVER_SUP_HISTORY_H

#include <jansson.h>

#include "ev.h"
#include "view.h"

typedef struct sup_history sup_history_t;

/* Starts sampling the view's processes and, with a queues function (the API's
   queues hook: an array of {name,size,in_flight,put_total,get_total}), the
   queues. NULL with errno set on failure. Keeps the pointers. */
sup_history_t *sup_history_new(ev_t *ev, view_t *view, json_t *(*queues)(void *ctx), void *ctx);
/* Upgrade in place: the samples and the tick's phase, for the next droverd
   (NULL on allocation failure), and taking them over (a state this build
   cannot read is dropped with a warning: the charts start again). */
json_t *sup_history_export(sup_history_t *h);
void sup_history_inherit(sup_history_t *h, const json_t *state);
void sup_history_destroy(sup_history_t **hp);
/* The API's history hook: the JSON of one series (caller owns), or NULL. */
json_t *sup_history_json(sup_history_t *h, const char *kind, const char *name);

#endif
