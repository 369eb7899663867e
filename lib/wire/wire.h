/* wire: the frames of the queue protocol, version 1 (docs/queue-protocol.md).
   Pure functions over byte buffers: no sockets, no allocation. Every decoder
   checks sizes and values before it reads, and rejects rather than guesses. */
#ifndef DROVER_WIRE_H
#define DROVER_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WIRE_VERSION 1
#define WIRE_HDR_LEN 16	     /* request and reply headers */
#define WIRE_MAX_COUNT 65536 /* messages or lease ids per request */
#define WIRE_MAX_QUEUE_NAME 255
#define WIRE_STATS_LEN 56 /* seven u64 */
/* The largest frame of lease ids (ACK, NACK): the server's frame limit,
   which HELLO reports, is never below this plus WIRE_FRAME_SLACK. */
#define WIRE_MAX_IDS_FRAME (8 * WIRE_MAX_COUNT)
#define WIRE_FRAME_SLACK 65536

/* Request flags (header bytes 2..3). */
#define WIRE_F_CREDITED 0x0001 /* PUT, COMPLETE: uses the client's credit, one place a message */
#define WIRE_F_REFILL 0x0002   /* PUT, COMPLETE: grant credit in the reply */
#define WIRE_F_STANDING 0x0004 /* GET with timeout -1: stays until count messages came */
#define WIRE_F_KNOWN (WIRE_F_CREDITED | WIRE_F_REFILL | WIRE_F_STANDING)
/* Revision 3: the request is packed (see wire_parts_next), and so are its
   replies. Not one of WIRE_F_KNOWN: it says how the request is framed, not
   what it asks. */
#define WIRE_F_PACKED 0x0008
#define WIRE_F_ALL (WIRE_F_KNOWN | WIRE_F_PACKED)
#define WIRE_PART_LEN 4 /* the length before each part of a packed frame */

typedef enum {
	WIRE_HELLO = 1,
	WIRE_PUT = 2,
	WIRE_GET = 3,
	WIRE_ACK = 4,
	WIRE_NACK = 5,
	WIRE_STATS = 6,
	WIRE_COMPLETE = 7, /* put a result and ack a task, whole or not at all */
	WIRE_CREDIT = 8,   /* wait for room, then grant credit */
	WIRE_RETURN = 9	   /* give unused credit back, no reply */
} wire_op_t;
#define WIRE_OP_MAX WIRE_RETURN

/* Status codes; the same values as drover.h's DROVER_E*. */
enum {
	WIRE_OK = 0,
	WIRE_EEMPTY = -1,
	WIRE_EFULL = -2,
	WIRE_EAUTH = -3,
	WIRE_ECONN = -4,
	WIRE_ETOOBIG = -5,
	WIRE_ENOQUEUE = -6,
	WIRE_EINVAL = -7,
	WIRE_ETIMEOUT = -8
};

typedef struct {
	uint8_t op;
	uint16_t flags;
	uint32_t req_id;
	int32_t timeout_ms;
	uint32_t count;
} wire_req_t;

typedef struct {
	uint8_t op;
	int16_t status;
	uint32_t req_id;
	uint32_t count;
	uint32_t credit; /* places of the request's queue granted by this reply */
} wire_rep_t;

typedef struct {
	uint64_t size, capacity, in_flight, consumers, put_total, get_total, durable;
} wire_stats_t;

static inline void
wire_put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline uint32_t
wire_get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void
wire_put_u64(uint8_t *p, uint64_t v)
{
	wire_put_u32(p, (uint32_t)(v >> 32));
	wire_put_u32(p + 4, (uint32_t)v);
}

static inline uint64_t
wire_get_u64(const uint8_t *p)
{
	return (uint64_t)wire_get_u32(p) << 32 | wire_get_u32(p + 4);
}

/* Writes a request header into out[WIRE_HDR_LEN]. */
void wire_req_encode(uint8_t *out, const wire_req_t *r);

/* Reads a request header. Returns 0, or -EPROTO when buf is not a version 1
   header of the right length (16 bytes; more only with WIRE_F_PACKED, the
   parts following), -EINVAL when a field is out of range (unknown
   op, timeout below -1). *r is filled as far as the bytes allow, so that even
   a refused request's id can be answered; r->req_id is 0 if buf is shorter
   than 8 bytes. */
int wire_req_decode(const void *buf, size_t len, wire_req_t *r);

/* Writes a reply header into out[WIRE_HDR_LEN]. */
void wire_rep_encode(uint8_t *out, const wire_rep_t *r);

/* Reads a reply header: 0 or -EPROTO. */
int wire_rep_decode(const void *buf, size_t len, wire_rep_t *r);

/* True when [p, p+len) is an acceptable queue name: 1..255 bytes, no NUL. */
bool wire_queue_name_ok(const void *p, size_t len);

/* The number of frames a request of this op must have after the header
   (queue name included) given its count, or -1 for an unknown op or a
   count out of range. A PUT has 1 + count, ACK/NACK 2, GET/STATS/CREDIT/
   RETURN 1, COMPLETE 2 (results queue; lease id, task queue, result), HELLO 0. */
int wire_req_frames(const wire_req_t *r);

void wire_stats_encode(uint8_t *out, const wire_stats_t *s);
/* 0 or -EPROTO when len != WIRE_STATS_LEN. */
int wire_stats_decode(const void *buf, size_t len, wire_stats_t *s);

/* A packed request or reply (revision 3) is one ZeroMQ frame: the 16-byte
   header, then each of the frames that would follow it as a u32 length and
   that many bytes, filling the frame exactly. With CURVE every frame is a
   box of its own, so a request of three frames costs three; packed, one. */
typedef struct {
	const uint8_t *p;
	size_t left;
} wire_parts_t;

/* Starts reading the parts of a packed frame of len bytes (len >
   WIRE_HDR_LEN: the parts begin after the header). */
static inline void
wire_parts_init(wire_parts_t *it, const void *frame, size_t len)
{
	it->p = (const uint8_t *)frame + WIRE_HDR_LEN;
	it->left = len > WIRE_HDR_LEN ? len - WIRE_HDR_LEN : 0;
}

/* The next part: 1 (*data, *len set), 0 when there are no more, -1 when the
   rest of the frame is not a whole part. */
int wire_parts_next(wire_parts_t *it, const uint8_t **data, size_t *len);

/* Writes one part (its length, then its bytes) at out; returns the byte
   after it. */
uint8_t *wire_part_put(uint8_t *out, const void *data, size_t len);

/* A short name of an op for messages ("PUT"), "?" if unknown. */
const char *wire_op_name(int op);

#endif
