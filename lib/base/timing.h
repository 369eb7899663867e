/* timing: the protocols' timing constants, one copy for every side that
   uses them (droverd's queue host and hub, libdrover, drover-agent). The
   Python client carries the same queue values (client/python/drover). */
#ifndef DROVER_TIMING_H
#define DROVER_TIMING_H

/* The queue protocol: ZeroMQ heartbeats on every connection, so that a
   client that vanished (its host gone) is noticed and its leases go back. */
#define TIMING_QUEUE_HEARTBEAT_MS 5000
#define TIMING_QUEUE_HEARTBEAT_TIMEOUT_MS 15000

/* The agent protocol (docs/agent-protocol.md): the defaults of
   agents.heartbeat and agents.lost_after, the agents' reconnect backoff cap,
   and how long the hub waits for a command's acknowledgement. */
#define TIMING_AGENT_HEARTBEAT_MS 1000
#define TIMING_AGENT_LOST_AFTER 3
#define TIMING_AGENT_RECONNECT_MAX_MS 5000
#define TIMING_AGENT_CMD_TIMEOUT_MS 5000

#endif
