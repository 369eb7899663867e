/* fuzz_wire: the queue protocol's frames (lib/wire/wire.c). Whatever the
   bytes, a decoder reads no further than it was given, and what decodes
   encodes back to the same bytes. */
#include "fuzz.h"

#include <errno.h>
#include <string.h>

#include "wire.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t out[WIRE_HDR_LEN > WIRE_STATS_LEN ? WIRE_HDR_LEN : WIRE_STATS_LEN];
	wire_req_t req;
	wire_rep_t rep;
	wire_stats_t st;
	int rc, frames;

	/* Exact-size copies, so that ASan sees any read past the end. */
	uint8_t *buf = malloc(size ? size : 1);

	memcpy(buf, data, size);
	rc = wire_req_decode(buf, size, &req);
	FUZZ_CHECK(rc == 0 || rc == -EPROTO || rc == -EINVAL);
	if (rc == 0) {
		FUZZ_CHECK(req.op >= WIRE_HELLO && req.op <= WIRE_OP_MAX);
		FUZZ_CHECK(req.timeout_ms >= -1 && (req.flags & ~WIRE_F_ALL) == 0);
		wire_req_encode(out, &req);
		FUZZ_CHECK(memcmp(out, buf, WIRE_HDR_LEN) == 0);
		frames = wire_req_frames(&req);
		FUZZ_CHECK(frames >= -1 && frames <= WIRE_MAX_COUNT + 1);
		FUZZ_CHECK(strcmp(wire_op_name(req.op), "?") != 0);
	} else {
		(void)wire_op_name(req.op);
		(void)wire_req_frames(&req);
	}
	if (wire_rep_decode(buf, size, &rep) == 0) {
		wire_rep_encode(out, &rep);
		FUZZ_CHECK(memcmp(out, buf, WIRE_HDR_LEN) == 0);
	}
	if (wire_stats_decode(buf, size, &st) == 0) {
		wire_stats_encode(out, &st);
		FUZZ_CHECK(memcmp(out, buf, WIRE_STATS_LEN) == 0);
	}
	if (wire_queue_name_ok(buf, size))
		FUZZ_CHECK(size >= 1 && size <= WIRE_MAX_QUEUE_NAME && memchr(buf, 0, size) == NULL);
	free(buf);
	return 0;
}
