/* queue_module: the queue host lives in a module, droverd-queues.so, that
   droverd loads only when the configuration declares queues. A droverd
   without queues then maps none of libzmq, CZMQ, SQLite and libsodium (and
   their own dependencies): less memory, a faster start. The module exports
   one table, drover_queue_module, with the queue host's functions. */
#ifndef DROVER_QUEUE_MODULE_H
#define DROVER_QUEUE_MODULE_H

#include <jansson.h>

#include "conf.h"
#include "log.h"
#include "queue_host.h"

#define DROVER_QUEUE_MODULE_ABI 2
#define DROVER_QUEUE_MODULE_FILE "droverd-queues.so"
#define DROVER_QUEUE_MODULE_SYMBOL "drover_queue_module"

typedef struct {
	int abi;	     /* DROVER_QUEUE_MODULE_ABI */
	const char *version; /* DROVER_VERSION it was built with */
	/* The module has its own copy of the log settings: droverd passes its own. */
	void (*set_log)(log_level_t level, const char *ident);
	/* queue_host.h: listen_fd and import_fd -1, or an upgrade's (ABI 2) */
	queue_host_t *(*host_new)(const conf_t *conf, int listen_fd, int import_fd, char **err);
	int (*host_listen_fd)(queue_host_t *h);
	int (*host_export)(queue_host_t *h, int fd, char **err);
	int (*host_apply)(queue_host_t *h, const conf_t *next, char **err);
	json_t *(*host_stats)(queue_host_t *h);
	char *(*host_metrics)(queue_host_t *h);
	void (*host_destroy)(queue_host_t **hp);
} drover_queue_module_t;

#endif
