/* agent_wire: the frames of the agent protocol, version 1
   (docs/agent-protocol.md), between droverd's hub and drover-agent.

   A message is two ZeroMQ frames: the type (a short ASCII word) and a body
   that is one JSON object. Every received message goes through
   awire_decode(), which checks the sizes, the type, the JSON and the
   fields the type requires before anyone reads it; a bad message is
   rejected with a reason, never guessed at. */
#ifndef DROVER_AGENT_WIRE_H
#define DROVER_AGENT_WIRE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "conf.h"
#include "timing.h"

#define AWIRE_VERSION 1
#define AWIRE_MAX_BODY (4 * 1024 * 1024) /* a STATE of thousands of groups fits */
#define AWIRE_MAX_TYPE 16
#define AWIRE_HEARTBEAT_MS TIMING_AGENT_HEARTBEAT_MS /* default interval, both ways */
#define AWIRE_LOST_AFTER TIMING_AGENT_LOST_AFTER     /* heartbeats of silence */
#define AWIRE_RECONNECT_MAX_MS TIMING_AGENT_RECONNECT_MAX_MS
#define AWIRE_CMD_TIMEOUT_MS TIMING_AGENT_CMD_TIMEOUT_MS

/* The message types. Agent to hub: HELLO, EVENT, SAMPLES, ACK, LOGS, PING,
   PONG. Hub to agent: STATE, CMD, LOGREQ, REGISTER, REFUSED, PING, PONG. */
typedef enum {
	AWIRE_HELLO,
	AWIRE_STATE,
	AWIRE_EVENT,
	AWIRE_SAMPLES,
	AWIRE_CMD,
	AWIRE_ACK,
	AWIRE_LOGREQ,
	AWIRE_LOGS,
	AWIRE_PING,
	AWIRE_PONG,
	AWIRE_REGISTER,
	AWIRE_REFUSED,
	AWIRE_N_TYPES
} awire_type_t;

const char *awire_type_name(awire_type_t t);

/* Checks one received message: type[0..type_len) and body[0..len). On
   success returns 0 with *t and *out (the parsed object; caller owns).
   Otherwise -EPROTO and why (a sentence for the log). */
int awire_decode(const void *type, size_t type_len, const void *body, size_t len, awire_type_t *t,
		 json_t **out, char *why, size_t why_len);

/* The body of t as one compact string (caller frees); takes body. */
char *awire_encode(json_t *body, size_t *len);

/* A group's settings, whole, as the hub sends them in STATE (caller owns). */
json_t *awire_group_encode(const conf_group_t *g);
/* The settings back, each field checked; NULL with why on a bad one.
   Caller owns (conf_group_destroy). */
conf_group_t *awire_group_decode(const json_t *j, char *why, size_t why_len);

/* ---- a ZeroMQ socket on an ev loop ---- */

#include "ev.h"

/* Where a message came from. */
typedef struct {
	const void *rid; /* ROUTER: the peer's routing id; NULL on a DEALER */
	size_t rid_len;
	const char *user; /* the ZAP User-Id the server gave the peer, or NULL */
	const char *peer; /* the peer's address, or NULL */
} awire_from_t;

/* A checked message (takes body) / a message that failed its check. */
typedef void(awire_msg_fn)(void *arg, const awire_from_t *from, awire_type_t t, json_t *body);
typedef void(awire_bad_fn)(void *arg, const awire_from_t *from, const char *why);

typedef struct awire_sock awire_sock_t;

/* Watches zsock (a ROUTER or DEALER, owned by the caller, who closes it
   after awire_sock_destroy()) on ev: every message is received, checked by
   awire_decode() and handed to fn, or to bad with the reason. NULL with
   errno. */
awire_sock_t *awire_sock_new(ev_t *ev, void *zsock, bool router, awire_msg_fn *fn,
			     awire_bad_fn *bad, void *arg);
void awire_sock_destroy(awire_sock_t **sp);
/* Lets the kernel, not ZeroMQ's heartbeats, close zsock's TCP connections
   whose peer vanished (its host gone, the link cut): TCP_USER_TIMEOUT
   (ZMQ_TCP_MAXRT) for data left unacknowledged dead_ms, keepalive probes
   for a connection idle half of it. Set before bind or connect. ZeroMQ's
   heartbeats would cost each side's I/O thread two wakeups and two CURVE
   messages per connection per interval; the protocol's own heartbeats
   already say who is alive, and keep data flowing for the timeout to act
   on. */
void awire_tcp_liveness(void *zsock, int64_t dead_ms);

/* Sends t with body (taken) to rid (ROUTER) without waiting: 0, or -errno
   (-EAGAIN: no peer to take it now). */
int awire_send(awire_sock_t *s, const void *rid, size_t rid_len, awire_type_t t, json_t *body);

#endif
