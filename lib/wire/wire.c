/* wire: queue protocol frames (docs/queue-protocol.md). */
#include "wire.h"

#include <errno.h>
#include <string.h>

void
wire_req_encode(uint8_t *out, const wire_req_t *r)
{
	out[0] = WIRE_VERSION;
	out[1] = r->op;
	out[2] = (uint8_t)(r->flags >> 8);
	out[3] = (uint8_t)r->flags;
	wire_put_u32(out + 4, r->req_id);
	wire_put_u32(out + 8, (uint32_t)r->timeout_ms);
	wire_put_u32(out + 12, r->count);
}

int
wire_req_decode(const void *buf, size_t len, wire_req_t *r)
{
	const uint8_t *p = buf;

	memset(r, 0, sizeof(*r));
	if (len >= 8)
		r->req_id = wire_get_u32(p + 4);
	if (len >= 2)
		r->op = p[1];
	if (len < WIRE_HDR_LEN || p[0] != WIRE_VERSION)
		return -EPROTO;
	r->flags = (uint16_t)(p[2] << 8 | p[3]);
	/* only a packed request has more than its header in frame 0 */
	if (len != WIRE_HDR_LEN && !(r->flags & WIRE_F_PACKED))
		return -EPROTO;
	r->timeout_ms = (int32_t)wire_get_u32(p + 8);
	r->count = wire_get_u32(p + 12);
	if (r->op < WIRE_HELLO || r->op > WIRE_OP_MAX || r->timeout_ms < -1 ||
	    (r->flags & ~WIRE_F_ALL) != 0)
		return -EINVAL;
	return 0;
}

void
wire_rep_encode(uint8_t *out, const wire_rep_t *r)
{
	out[0] = WIRE_VERSION;
	out[1] = r->op;
	out[2] = (uint8_t)((uint16_t)r->status >> 8);
	out[3] = (uint8_t)(uint16_t)r->status;
	wire_put_u32(out + 4, r->req_id);
	wire_put_u32(out + 8, r->count);
	wire_put_u32(out + 12, r->credit);
}

int
wire_rep_decode(const void *buf, size_t len, wire_rep_t *r)
{
	const uint8_t *p = buf;

	memset(r, 0, sizeof(*r));
	if (len != WIRE_HDR_LEN || p[0] != WIRE_VERSION)
		return -EPROTO;
	r->op = p[1];
	r->status = (int16_t)(uint16_t)(p[2] << 8 | p[3]);
	r->req_id = wire_get_u32(p + 4);
	r->count = wire_get_u32(p + 8);
	r->credit = wire_get_u32(p + 12);
	return 0;
}

bool
wire_queue_name_ok(const void *p, size_t len)
{
	return len >= 1 && len <= WIRE_MAX_QUEUE_NAME && memchr(p, '\0', len) == NULL;
}

int
wire_req_frames(const wire_req_t *r)
{
	switch (r->op) {
	case WIRE_HELLO:
		return 0;
	case WIRE_PUT:
		return r->count >= 1 && r->count <= WIRE_MAX_COUNT ? 1 + (int)r->count : -1;
	case WIRE_ACK:
	case WIRE_NACK:
		return r->count >= 1 && r->count <= WIRE_MAX_COUNT ? 2 : -1;
	case WIRE_GET:
		return r->count >= 1 && r->count <= WIRE_MAX_COUNT ? 1 : -1;
	case WIRE_STATS:
		return 1;
	case WIRE_COMPLETE:
		return r->count == 1 ? 2 : -1;
	case WIRE_CREDIT:
	case WIRE_RETURN:
		return r->count >= 1 && r->count <= WIRE_MAX_COUNT ? 1 : -1;
	default:
		return -1;
	}
}

int
wire_parts_next(wire_parts_t *it, const uint8_t **data, size_t *len)
{
	uint32_t n;

	if (it->left == 0)
		return 0;
	if (it->left < WIRE_PART_LEN)
		return -1;
	n = wire_get_u32(it->p);
	if (n > it->left - WIRE_PART_LEN)
		return -1;
	*data = it->p + WIRE_PART_LEN;
	*len = n;
	it->p += WIRE_PART_LEN + n;
	it->left -= WIRE_PART_LEN + n;
	return 1;
}

uint8_t *
wire_part_put(uint8_t *out, const void *data, size_t len)
{
	wire_put_u32(out, (uint32_t)len);
	if (len)
		memcpy(out + WIRE_PART_LEN, data, len);
	return out + WIRE_PART_LEN + len;
}

void
wire_stats_encode(uint8_t *out, const wire_stats_t *s)
{
	wire_put_u64(out, s->size);
	wire_put_u64(out + 8, s->capacity);
	wire_put_u64(out + 16, s->in_flight);
	wire_put_u64(out + 24, s->consumers);
	wire_put_u64(out + 32, s->put_total);
	wire_put_u64(out + 40, s->get_total);
	wire_put_u64(out + 48, s->durable);
}

int
wire_stats_decode(const void *buf, size_t len, wire_stats_t *s)
{
	const uint8_t *p = buf;

	if (len != WIRE_STATS_LEN)
		return -EPROTO;
	s->size = wire_get_u64(p);
	s->capacity = wire_get_u64(p + 8);
	s->in_flight = wire_get_u64(p + 16);
	s->consumers = wire_get_u64(p + 24);
	s->put_total = wire_get_u64(p + 32);
	s->get_total = wire_get_u64(p + 40);
	s->durable = wire_get_u64(p + 48);
	return 0;
}

const char *
wire_op_name(int op)
{
	static const char *const names[] = {"?",     "HELLO", "PUT",	"GET",	  "ACK",
					    "NACK",  "STATS", "COMPLETE", "CREDIT", "RETURN"};

	return op >= WIRE_HELLO && op <= WIRE_OP_MAX ? names[op] : "?";
}
