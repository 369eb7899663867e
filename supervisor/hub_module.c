/* hub_module: the table droverd finds by dlsym() in droverd-hub.so. */
#include "hub_module.h"

static void
s_set_log(log_level_t level, const char *ident)
{
	log_set_level(level);
	log_set_ident(ident);
}

__attribute__((visibility("default"))) const drover_hub_module_t drover_hub_module = {
    .abi = DROVER_HUB_MODULE_ABI,
    .version = DROVER_VERSION,
    .set_log = s_set_log,
    .hub_new = hub_new,
    .hub_listen_fd = hub_listen_fd,
    .hub_apply = hub_apply,
    .hub_destroy = hub_destroy,
    .proc_cmd = hub_proc_cmd,
    .group_cmd = hub_group_cmd,
    .logs = hub_logs,
    .agents = hub_agents,
    .agent = hub_agent,
    .metrics = hub_metrics,
};
