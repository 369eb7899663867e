/* hub_module: the agent hub lives in a module, droverd-hub.so, that droverd
   loads only when agents.keys_dir is set, as the queue host does: a droverd
   without agents maps none of libzmq and CZMQ. The module exports one
   table, drover_hub_module, with the hub's functions. */
#ifndef DROVER_HUB_MODULE_H
#define DROVER_HUB_MODULE_H

#include "hub.h"
#include "log.h"

#define DROVER_HUB_MODULE_ABI 2
#define DROVER_HUB_MODULE_FILE "droverd-hub.so"
#define DROVER_HUB_MODULE_SYMBOL "drover_hub_module"

typedef struct {
	int abi;	     /* DROVER_HUB_MODULE_ABI */
	const char *version; /* DROVER_VERSION it was built with */
	void (*set_log)(log_level_t level, const char *ident);
	hub_t *(*hub_new)(ev_t *ev, view_t *view, const conf_t *conf, int listen_fd,
			  hub_agent_fn on_agent, void *ctx, char **err);
	int (*hub_listen_fd)(hub_t *h);
	int (*hub_apply)(hub_t *h, const conf_t *conf);
	void (*hub_destroy)(hub_t **hp);
	void (*proc_cmd)(hub_t *h, const view_proc_t *p, const char *cmd, int sig,
			 view_done_fn done, void *arg);
	void (*group_cmd)(hub_t *h, const char *group, const char *cmd, long n, view_done_fn done,
			  void *arg);
	void (*logs)(hub_t *h, const view_proc_t *p, json_t *query, view_logs_fn done, void *arg);
	json_t *(*agents)(hub_t *h);
	json_t *(*agent)(hub_t *h, const char *name);
	char *(*metrics)(hub_t *h);
} drover_hub_module_t;

#endif
