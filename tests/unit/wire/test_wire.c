/* wire: request and reply headers, frame counts, queue names, statistics. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "wire.h"

Test(wire, request_header_round_trips)
{
	uint8_t b[WIRE_HDR_LEN];
	wire_req_t in = {.op = WIRE_GET, .req_id = 0xdeadbeef, .timeout_ms = -1, .count = 65536},
		   out;

	wire_req_encode(b, &in);
	cr_assert_eq(b[0], WIRE_VERSION);
	cr_assert_eq(wire_req_decode(b, sizeof(b), &out), 0);
	cr_assert_eq(out.op, WIRE_GET);
	cr_assert_eq(out.req_id, 0xdeadbeef);
	cr_assert_eq(out.timeout_ms, -1);
	cr_assert_eq(out.count, 65536);
}

Test(wire, request_header_is_big_endian_as_documented)
{
	uint8_t b[WIRE_HDR_LEN];
	const uint8_t want[WIRE_HDR_LEN] = {1, 2, 0, 0, 0, 0, 0, 7, 0, 0, 0x03, 0xe8, 0, 0, 0, 2};
	wire_req_t in = {.op = WIRE_PUT, .req_id = 7, .timeout_ms = 1000, .count = 2};

	wire_req_encode(b, &in);
	cr_assert_arr_eq(b, want, sizeof(want));
}

Test(wire, reply_header_round_trips_negative_status)
{
	uint8_t b[WIRE_HDR_LEN];
	wire_rep_t in = {.op = WIRE_PUT, .status = WIRE_ETIMEOUT, .req_id = 9, .count = 3}, out;

	wire_rep_encode(b, &in);
	cr_assert_eq(b[2], 0xff);
	cr_assert_eq(b[3], 0xf8);
	cr_assert_eq(wire_rep_decode(b, sizeof(b), &out), 0);
	cr_assert_eq(out.status, WIRE_ETIMEOUT);
	cr_assert_eq(out.req_id, 9);
	cr_assert_eq(out.count, 3);
}

Test(wire, short_long_and_foreign_headers_are_refused)
{
	uint8_t b[WIRE_HDR_LEN + 1] = {0};
	wire_req_t in = {.op = WIRE_STATS, .req_id = 42}, out;
	wire_rep_t rep;

	wire_req_encode(b, &in);
	cr_assert_eq(wire_req_decode(b, 0, &out), -EPROTO);
	cr_assert_eq(wire_req_decode(b, 1, &out), -EPROTO);
	cr_assert_eq(wire_req_decode(b, 7, &out), -EPROTO);
	cr_assert_eq(out.req_id, 0);
	cr_assert_eq(wire_req_decode(b, 8, &out), -EPROTO);
	cr_assert_eq(out.req_id, 42, "the request id of a refused header can be answered");
	cr_assert_eq(wire_req_decode(b, sizeof(b), &out), -EPROTO);
	b[0] = 2;
	cr_assert_eq(wire_req_decode(b, WIRE_HDR_LEN, &out), -EPROTO);
	cr_assert_eq(wire_rep_decode(b, WIRE_HDR_LEN, &rep), -EPROTO);
	cr_assert_eq(wire_rep_decode(b, 3, &rep), -EPROTO);
}

Test(wire, unknown_ops_and_bad_timeouts_are_invalid)
{
	uint8_t b[WIRE_HDR_LEN];
	wire_req_t in = {.op = 0}, out;

	wire_req_encode(b, &in);
	cr_assert_eq(wire_req_decode(b, sizeof(b), &out), -EINVAL);
	in.op = 10;
	wire_req_encode(b, &in);
	cr_assert_eq(wire_req_decode(b, sizeof(b), &out), -EINVAL);
	in.op = WIRE_GET;
	in.timeout_ms = -2;
	wire_req_encode(b, &in);
	cr_assert_eq(wire_req_decode(b, sizeof(b), &out), -EINVAL);
}

Test(wire, frame_counts_follow_op_and_count)
{
	wire_req_t r = {.op = WIRE_PUT, .count = 3};

	cr_assert_eq(wire_req_frames(&r), 4);
	r.count = 0;
	cr_assert_eq(wire_req_frames(&r), -1);
	r.count = WIRE_MAX_COUNT + 1;
	cr_assert_eq(wire_req_frames(&r), -1);
	r.op = WIRE_GET;
	r.count = 10;
	cr_assert_eq(wire_req_frames(&r), 1);
	r.op = WIRE_ACK;
	cr_assert_eq(wire_req_frames(&r), 2);
	r.op = WIRE_HELLO;
	cr_assert_eq(wire_req_frames(&r), 0);
	r.op = WIRE_STATS;
	cr_assert_eq(wire_req_frames(&r), 1);
	r.op = 99;
	cr_assert_eq(wire_req_frames(&r), -1);
}

Test(wire, queue_names_are_1_to_255_bytes_without_nul)
{
	char big[300];

	memset(big, 'a', sizeof(big));
	cr_assert(wire_queue_name_ok("tasks", 5));
	cr_assert_not(wire_queue_name_ok("", 0));
	cr_assert_not(wire_queue_name_ok("a\0b", 3));
	cr_assert(wire_queue_name_ok(big, 255));
	cr_assert_not(wire_queue_name_ok(big, 256));
}

Test(wire, stats_round_trip_and_length_is_checked)
{
	uint8_t b[WIRE_STATS_LEN];
	wire_stats_t in = {1, 2, 3, 4, 5, 6, 1}, out;

	wire_stats_encode(b, &in);
	cr_assert_eq(wire_stats_decode(b, sizeof(b), &out), 0);
	cr_assert_eq(memcmp(&in, &out, sizeof(in)), 0);
	cr_assert_eq(wire_stats_decode(b, sizeof(b) - 1, &out), -EPROTO);
	cr_assert_str_eq(wire_op_name(WIRE_NACK), "NACK");
	cr_assert_str_eq(wire_op_name(42), "?");
}

Test(wire, credit_ops_flags_and_the_reply_credit_field)
{
	uint8_t b[WIRE_HDR_LEN];
	wire_req_t in = {.op = WIRE_PUT, .flags = WIRE_F_CREDITED | WIRE_F_REFILL, .count = 1}, out;
	wire_rep_t rep = {.op = WIRE_CREDIT, .req_id = 5, .count = 3, .credit = 1024}, rout;

	wire_req_encode(b, &in);
	cr_assert_eq(b[3], 3);
	cr_assert_eq(wire_req_decode(b, sizeof(b), &out), 0);
	cr_assert_eq(out.flags, WIRE_F_CREDITED | WIRE_F_REFILL);
	in.flags = 0x10; /* unknown bit */
	wire_req_encode(b, &in);
	cr_assert_eq(wire_req_decode(b, sizeof(b), &out), -EINVAL);
	wire_rep_encode(b, &rep);
	cr_assert_eq(wire_rep_decode(b, sizeof(b), &rout), 0);
	cr_assert_eq(rout.credit, 1024);
	cr_assert_eq(b[14], 4, "credit in bytes 12..15, big-endian");
	in = (wire_req_t){.op = WIRE_COMPLETE, .count = 1};
	cr_assert_eq(wire_req_frames(&in), 2, "results queue; task and result");
	in.count = 2;
	cr_assert_eq(wire_req_frames(&in), -1);
	in = (wire_req_t){.op = WIRE_CREDIT, .count = 1024};
	cr_assert_eq(wire_req_frames(&in), 1);
	in = (wire_req_t){.op = WIRE_RETURN, .count = 0};
	cr_assert_eq(wire_req_frames(&in), -1);
	cr_assert_str_eq(wire_op_name(WIRE_COMPLETE), "COMPLETE");
	cr_assert_str_eq(wire_op_name(10), "?");
}

Test(wire, a_frame_of_the_most_lease_ids_fits_the_frame_limit)
{
	cr_assert_eq(WIRE_MAX_IDS_FRAME, 8 * WIRE_MAX_COUNT);
	cr_assert_geq(WIRE_FRAME_SLACK, WIRE_HDR_LEN + WIRE_MAX_QUEUE_NAME);
}

Test(wire, packed_requests_and_their_parts)
{
	uint8_t f[WIRE_HDR_LEN + 4 + 5 + 4 + 3 + 4], *o;
	wire_req_t in = {.op = WIRE_PUT, .flags = WIRE_F_CREDITED | WIRE_F_PACKED, .count = 1}, out;
	wire_parts_t it;
	const uint8_t *d;
	size_t len;

	/* [header][5 "tasks"][3 "abc"][0 ""] */
	wire_req_encode(f, &in);
	o = wire_part_put(f + WIRE_HDR_LEN, "tasks", 5);
	o = wire_part_put(o, "abc", 3);
	o = wire_part_put(o, NULL, 0);
	cr_assert_eq(o, f + sizeof(f));
	cr_assert_eq(wire_req_decode(f, sizeof(f), &out), 0);
	cr_assert_eq(out.flags, WIRE_F_CREDITED | WIRE_F_PACKED);
	wire_parts_init(&it, f, sizeof(f));
	cr_assert_eq(wire_parts_next(&it, &d, &len), 1);
	cr_assert(len == 5 && memcmp(d, "tasks", 5) == 0);
	cr_assert_eq(wire_parts_next(&it, &d, &len), 1);
	cr_assert(len == 3 && memcmp(d, "abc", 3) == 0);
	cr_assert_eq(wire_parts_next(&it, &d, &len), 1);
	cr_assert_eq(len, 0);
	cr_assert_eq(wire_parts_next(&it, &d, &len), 0, "no more");

	/* a part longer than what is left, or a length cut short */
	wire_parts_init(&it, f, sizeof(f) - 1);
	cr_assert_eq(wire_parts_next(&it, &d, &len), 1);
	cr_assert_eq(wire_parts_next(&it, &d, &len), 1);
	cr_assert_eq(wire_parts_next(&it, &d, &len), -1);
	wire_put_u32(f + WIRE_HDR_LEN, 0xffffffffu);
	wire_parts_init(&it, f, sizeof(f));
	cr_assert_eq(wire_parts_next(&it, &d, &len), -1);

	/* more than a header without the flag is not a request header */
	in.flags = WIRE_F_CREDITED;
	wire_req_encode(f, &in);
	cr_assert_eq(wire_req_decode(f, sizeof(f), &out), -EPROTO);
	cr_assert_eq(wire_req_decode(f, WIRE_HDR_LEN, &out), 0);
}
