/* fleet: droverd's side of the view. It owns the view, turns the local
   engine's changes into view updates, builds the groups' summaries from the
   configuration, and routes the view's commands to the engine that runs the
   process (droverd's own, or an agent's through the hub). */
#ifndef DROVER_FLEET_H
#define DROVER_FLEET_H

#include "conf.h"
#include "proc.h"
#include "view.h"

typedef struct fleet fleet_t;

/* Routes commands for processes that are not local; set by the hub. */
typedef struct {
	void (*proc_cmd)(void *ctx, const view_proc_t *p, const char *cmd, int sig,
			 view_done_fn done, void *arg);
	/* A group command for the agents that run some of the group. */
	void (*group_cmd)(void *ctx, const char *group, const char *cmd, long n, view_done_fn done,
			  void *arg);
	void (*logs)(void *ctx, const view_proc_t *p, json_t *query, view_logs_fn done, void *arg);
} fleet_remote_t;

fleet_t *fleet_new(void);
void fleet_destroy(fleet_t **fp);
view_t *fleet_view(fleet_t *f);
/* The local engine, once made (its events go to fleet_proc_events()). */
void fleet_set_core(fleet_t *f, proc_core_t *core);
void fleet_set_remote(fleet_t *f, const fleet_remote_t *remote, void *ctx);
/* The groups of conf, for the view's group list and for routing. */
void fleet_set_conf(fleet_t *f, const conf_t *conf);
/* Is g placed (also) on droverd's own host? */
bool fleet_is_local(const conf_group_t *g);

/* The engine's events, to forward from droverd's own proc_events_t. */
void fleet_on_change(fleet_t *f, const proc_t *p);
void fleet_on_removed(fleet_t *f, const proc_t *p);

#endif
