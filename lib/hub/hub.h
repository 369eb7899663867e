/* hub: droverd's side of the agent links (SPEC 7). A CURVE ROUTER on
   agents.listen, on droverd's own loop, that admits the agents whose keys
   are in keys_dir, registers them, places the groups on them (by name and by
   labels, numbering instances across hosts), sends each its desired state
   with a generation, routes commands and waits for their acknowledgements,
   turns their events into view updates, and watches their heartbeats (an
   agent silent for lost_after heartbeats is LOST and its processes
   UNKNOWN). docs/agent-protocol.md is the protocol. */
#ifndef DROVER_HUB_H
#define DROVER_HUB_H

#include <jansson.h>

#include "conf.h"
#include "ev.h"
#include "view.h"

typedef struct hub hub_t;

/* An agent connected, was lost or changed: its object (as hub_agent()
   gives it; the callee takes it). */
typedef void (*hub_agent_fn)(void *ctx, json_t *agent);

/* Listens on agents.listen with droverd's key pair from keys_dir (made
   there when missing). listen_fd is -1 (the hub binds agents.listen itself)
   or a listening TCP socket that the hub takes, also when it fails (an
   inherited one, after an upgrade in place: agents reconnect to it and are
   asked to register again). The hub updates view (which must outlive it)
   and tells on_agent (may be NULL). NULL with *err (malloc'd) on failure. */
hub_t *hub_new(ev_t *ev, view_t *view, const conf_t *conf, int listen_fd, hub_agent_fn on_agent,
	       void *ctx, char **err);
/* The listening socket, open for the hub's life and closed by
   hub_destroy() (close-on-exec: droverd clears that flag to hand it to
   the next droverd). ZeroMQ listens on a dup of it of its own. */
int hub_listen_fd(hub_t *h);
/* A reload: the placements change by difference (each agent gets a new
   generation only when its groups changed), the key directory is read
   again and an agent whose cert is gone is disconnected. 0 or -errno. */
int hub_apply(hub_t *h, const conf_t *conf);
void hub_destroy(hub_t **hp);

/* Commands for remote processes and groups (see view.h); done is called
   once, with -EHOSTUNREACH when the agent is not connected and -ETIMEDOUT
   when it did not answer in time. */
void hub_proc_cmd(hub_t *h, const view_proc_t *p, const char *cmd, int sig, view_done_fn done,
		  void *arg);
void hub_group_cmd(hub_t *h, const char *group, const char *cmd, long n, view_done_fn done,
		   void *arg);

/* A log request for a remote process: query is the API's query object
   ({stream, tail, offset, inode}); done gets the agent's answer (an HTTP
   status and the JSON reply, which it takes) or an error. */
void hub_logs(hub_t *h, const view_proc_t *p, json_t *query, view_logs_fn done, void *arg);

/* The agents as GET /api/v1/agents shows them, and one of them (NULL:
   unknown). Caller owns. */
json_t *hub_agents(hub_t *h);
json_t *hub_agent(hub_t *h, const char *name);
/* Prometheus text of the agents (caller frees). */
char *hub_metrics(hub_t *h);

#endif
