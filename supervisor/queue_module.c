/* queue_module: the table droverd finds by dlsym() in droverd-queues.so. */
#include "queue_module.h"

#include <czmq.h>

static void
s_set_log(log_level_t level, const char *ident)
{
	log_set_level(level);
	log_set_ident(ident);
}

/* Our signals are fds in droverd's loop, not CZMQ's handlers: say so before
   CZMQ starts its first actor. */
static queue_host_t *
s_host_new(const conf_t *conf, int listen_fd, int import_fd, char **err)
{
	zsys_handler_set(NULL);
	return queue_host_new(conf, listen_fd, import_fd, err);
}

__attribute__((visibility("default"))) const drover_queue_module_t drover_queue_module = {
    .abi = DROVER_QUEUE_MODULE_ABI,
    .version = DROVER_VERSION,
    .set_log = s_set_log,
    .host_new = s_host_new,
    .host_listen_fd = queue_host_listen_fd,
    .host_export = queue_host_export,
    .host_apply = queue_host_apply,
    .host_stats = queue_host_stats,
    .host_metrics = queue_host_metrics,
    .host_destroy = queue_host_destroy,
};
