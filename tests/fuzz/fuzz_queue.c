/* fuzz_queue: the queue host's handling of requests (lib/queue), from the
   frames a client sends to the replies it gets. The input is a script of
   steps, each one of:
     - a request: a routing id (three clients, one of them connected and
       reading its replies), then up to 12 raw frames, exactly what the
       ROUTER would hand to s_dispatch();
     - time passing: leases and waiting requests run out (qh__expire);
     - a client going away: its leases go back, its waits end.
   After every step the pass ends as in the actor (settle, commit, replies),
   and every reply the connected client gets must be a well-formed reply.
   The host is the real one (queue_host.c is compiled into this harness for
   its static functions), with three queues, one durable in an in-memory
   SQLite store; a new host for every input, without CURVE and sockets but
   the ROUTER's. The three clients have sessions and say HELLO before the
   script; a request may be packed (revision 3). Lease ids the client received can be named in a frame by
   the bytes FF FF and an index, so that acks and completes find leases. */
#include "fuzz.h"

#include "queue_host.c"

#define MAX_FRAMES 12
#define MAX_STEPS 64
#define MAX_LEASES 64

static void *s_ctx, *s_router, *s_client;
static store_t *s_store;
static uint64_t s_leases[MAX_LEASES];
static size_t s_n_leases;

static const conf_queue_t s_conf_queues[] = {
    {.name = "tasks", .capacity = 8, .durable = true, .lease_ms = 1000, .max_message = 64},
    {.name = "results", .capacity = 100, .lease_ms = 30000, .max_message = 1024 * 1024},
    {.name = "one", .capacity = 1, .lease_ms = 10, .max_message = 0},
};
#define N_QUEUES (sizeof(s_conf_queues) / sizeof(s_conf_queues[0]))

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int one = 1, zero = 0;
	char *err = NULL, buf[8];

	log_set_level(DLOG_ERROR);
	FUZZ_CHECK((s_ctx = zmq_ctx_new()) != NULL);
	FUZZ_CHECK((s_router = zmq_socket(s_ctx, ZMQ_ROUTER)) != NULL);
	zmq_setsockopt(s_router, ZMQ_ROUTER_MANDATORY, &one, sizeof(one));
	zmq_setsockopt(s_router, ZMQ_LINGER, &zero, sizeof(zero));
	FUZZ_CHECK(zmq_bind(s_router, "inproc://fuzz-queue") == 0);
	FUZZ_CHECK((s_client = zmq_socket(s_ctx, ZMQ_DEALER)) != NULL);
	zmq_setsockopt(s_client, ZMQ_ROUTING_ID, "A", 1);
	zmq_setsockopt(s_client, ZMQ_LINGER, &zero, sizeof(zero));
	FUZZ_CHECK(zmq_connect(s_client, "inproc://fuzz-queue") == 0);
	/* Once the ROUTER has read from "A", it can route to it. */
	FUZZ_CHECK(zmq_send(s_client, "x", 1, 0) == 1);
	FUZZ_CHECK(zmq_recv(s_router, buf, sizeof(buf), 0) == 1);
	FUZZ_CHECK(zmq_recv(s_router, buf, sizeof(buf), 0) == 1);
	s_store = store_open(":memory:", &err);
	if (s_store == NULL)
		fprintf(stderr, "%s\n", err);
	FUZZ_CHECK(s_store != NULL);
	return 0;
}

static qh_t *
s_host(void)
{
	qh_t *h = calloc(1, sizeof(*h));
	char *err = NULL;
	size_t i;

	FUZZ_CHECK(h != NULL);
	h->timer_id = -1;
	h->listen_fd = -1; /* none: the harness has no listening socket */
	FUZZ_CHECK((h->loop = zloop_new()) != NULL); /* never run: for s_rearm() */
	h->router = s_router;
	h->max_frame = WIRE_MAX_IDS_FRAME + WIRE_FRAME_SLACK;
	h->store = s_store;
	h->next_id = store_max_id(s_store);
	FUZZ_CHECK((h->queues = calloc(N_QUEUES, sizeof(*h->queues))) != NULL);
	for (i = 0; i < N_QUEUES; i++) {
		FUZZ_CHECK((h->queues[i] = qh__queue_new(&s_conf_queues[i])) != NULL);
		h->n_queues++;
		if (h->queues[i]->durable)
			FUZZ_CHECK(store_queue_id(s_store, h->queues[i]->name,
						  &h->queues[i]->store_id, &err) == 0);
	}
	return h;
}

/* Frees the host as the actor does, leaving the shared sockets and store
   (emptied) for the next input. */
static void
s_host_free(qh_t *h)
{
	size_t i;

	for (i = 0; i < h->n_queues; i++)
		if (h->queues[i]->durable)
			store_delete_queue(s_store, h->queues[i]->store_id);
	store_commit(s_store);
	zloop_destroy(&h->loop);
	h->router = NULL;
	h->store = NULL;
	s_qh_free(h);
}

/* One frame after a reply's header: lease ids of GET replies are kept. */
static void
s_reply_part(const wire_rep_t *rep, int i, const uint8_t *data, size_t len)
{
	size_t n;

	if (rep->op == WIRE_GET && rep->status == WIRE_OK && i == 0) {
		FUZZ_CHECK(len == 8 * (size_t)rep->count);
		for (n = 0; n < rep->count && s_n_leases < MAX_LEASES; n++)
			s_leases[s_n_leases++] = wire_get_u64(data + 8 * n);
	}
}

/* Reads every reply the connected client got: each must be a reply header
   and its frames, or a packed reply whose parts fill its frame exactly. */
static void
s_drain(void)
{
	zmq_msg_t m;
	wire_rep_t rep;
	wire_parts_t it;
	const uint8_t *data;
	size_t len;
	int more, i, rc;

	for (;;) {
		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, s_client, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&m);
			return;
		}
		len = zmq_msg_size(&m);
		FUZZ_CHECK(len >= WIRE_HDR_LEN &&
			   wire_rep_decode(zmq_msg_data(&m), WIRE_HDR_LEN, &rep) == 0);
		FUZZ_CHECK(rep.status <= 0 && rep.status >= WIRE_ETIMEOUT);
		more = zmq_msg_more(&m);
		if (len > WIRE_HDR_LEN) {
			FUZZ_CHECK(!more);
			wire_parts_init(&it, zmq_msg_data(&m), len);
			for (i = 0; (rc = wire_parts_next(&it, &data, &len)) == 1; i++)
				s_reply_part(&rep, i, data, len);
			FUZZ_CHECK(rc == 0);
		}
		zmq_msg_close(&m);
		for (i = 0; more; i++) {
			zmq_msg_init(&m);
			FUZZ_CHECK(zmq_msg_recv(&m, s_client, 0) >= 0);
			more = zmq_msg_more(&m);
			s_reply_part(&rep, i, zmq_msg_data(&m), zmq_msg_size(&m));
			zmq_msg_close(&m);
		}
	}
}

/* One request: frames from the input into h->fr, then s_dispatch() as
   s_read_requests() calls it. */
static void
s_request(qh_t *h, fuzz_in_t *in, uint8_t step)
{
	static const uint8_t rids[3][1] = {{'A'}, {'B'}, {'C'}};
	size_t n = 1 + (size_t)(fuzz_u8(in) % MAX_FRAMES), k, len;
	const uint8_t *p;
	const char *bad_parts;
	bool overflow = false;
	uint8_t *d;

	if (h->fr_cap < MAX_FRAMES + 1) {
		FUZZ_CHECK((h->fr = realloc(h->fr, (MAX_FRAMES + 1) * sizeof(*h->fr))) != NULL);
		h->fr_cap = MAX_FRAMES + 1;
	}
	zmq_msg_init_size(&h->fr[0], 1);
	memcpy(zmq_msg_data(&h->fr[0]), rids[step % 3], 1);
	for (k = 1; k <= n; k++) {
		len = fuzz_field(in, &p);
		zmq_msg_init_size(&h->fr[k], len);
		memcpy(zmq_msg_data(&h->fr[k]), p, len);
	}
	/* a packed request's parts become frames here, as in the actor */
	n = s_unpack(h, n + 1, &overflow, &bad_parts) - 1;
	for (k = 2; k <= n; k++) {
		/* FF FF i: the i-th lease id the client was given. */
		d = zmq_msg_data(&h->fr[k]);
		if (zmq_msg_size(&h->fr[k]) >= 8 && d[0] == 0xff && d[1] == 0xff &&
		    s_n_leases > 0)
			wire_put_u64(d, s_leases[d[2] % s_n_leases]);
	}
	s_dispatch(h, n + 1, overflow, bad_parts);
	for (k = 0; k <= n; k++)
		zmq_msg_close(&h->fr[k]);
	h->pack = false;
	qh__settle(h);
}

/* Client rid says HELLO, as clients do first (the requests of a session
   before its HELLO are dropped unread). */
static void
s_hello(qh_t *h, uint8_t rid)
{
	uint8_t hdr[WIRE_HDR_LEN];

	wire_req_encode(hdr, &(wire_req_t){.op = WIRE_HELLO, .req_id = 1});
	zmq_msg_init_size(&h->fr[0], 1);
	memcpy(zmq_msg_data(&h->fr[0]), &rid, 1);
	zmq_msg_init_size(&h->fr[1], sizeof(hdr));
	memcpy(zmq_msg_data(&h->fr[1]), hdr, sizeof(hdr));
	s_dispatch(h, 2, false, NULL);
	zmq_msg_close(&h->fr[0]);
	zmq_msg_close(&h->fr[1]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_in_t in = {data, size};
	qh_t *h = s_host();
	int64_t now = zclock_mono();
	size_t steps = 0;
	uint8_t step;
	peer_t *p;

	s_n_leases = 0;
	if (h->fr_cap < MAX_FRAMES + 1) {
		FUZZ_CHECK((h->fr = realloc(h->fr, (MAX_FRAMES + 1) * sizeof(*h->fr))) != NULL);
		h->fr_cap = MAX_FRAMES + 1;
	}
	s_hello(h, 'A');
	s_hello(h, 'B');
	s_hello(h, 'C');
	s_drain();
	while (in.n > 0 && steps++ < MAX_STEPS) {
		step = fuzz_u8(&in);
		switch (step >> 5) {
		case 6: /* time passes: up to 2.5 s */
			now += (int64_t)(step & 31) * 80 + 1;
			qh__expire(h, now);
			break;
		case 7: /* a client goes away */
			if ((p = qh__peer_find(h, (const uint8_t[]){"ABC"[step % 3]}, 1)) != NULL)
				qh__peer_kill(h, p);
			break;
		default:
			s_request(h, &in, step);
			break;
		}
		s_end_pass(h);
		s_drain();
	}
	s_host_free(h);
	s_drain();
	return 0;
}
