/* auth: a ZAP handler (RFC 27) for the queue host's CURVE server. It runs in
   the queue host's thread and admits exactly one client public key, the one
   derived from the authkey. */
#include "auth.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "log.h"

#define ZAP_FRAMES 7 /* version, id, domain, address, identity, mechanism, credentials */

struct auth_zap {
	void *sock; /* REP bound at inproc://zeromq.zap.01 */
	uint8_t client_pk[AUTH_KEY_LEN];
	uint64_t refused;
};

auth_zap_t *
auth_zap_new(void *ctx, const uint8_t *client_pk)
{
	auth_zap_t *z = calloc(1, sizeof(*z));
	int linger = 0, err;

	if (z == NULL)
		return NULL;
	memcpy(z->client_pk, client_pk, AUTH_KEY_LEN);
	if ((z->sock = zmq_socket(ctx, ZMQ_REP)) == NULL)
		goto fail;
	zmq_setsockopt(z->sock, ZMQ_LINGER, &linger, sizeof(linger));
	if (zmq_bind(z->sock, "inproc://zeromq.zap.01") != 0)
		goto fail;
	return z;
fail:
	err = errno;
	if (z->sock != NULL)
		zmq_close(z->sock);
	free(z);
	errno = err;
	return NULL;
}

void *
auth_zap_socket(auth_zap_t *z)
{
	return z->sock;
}

uint64_t
auth_zap_refused(const auth_zap_t *z)
{
	return z->refused;
}

static void
s_send(void *sock, const void *p, size_t len, bool more)
{
	zmq_send(sock, p, len, more ? ZMQ_SNDMORE : 0);
}

/* Receives one whole request into f[] (up to ZAP_FRAMES parts, the rest
   discarded). Returns the number of parts, 0 when none is pending, -1 on
   error. */
static int
s_recv(void *sock, zmq_msg_t *f)
{
	int n = 0, more = 1;
	size_t ml = sizeof(more);
	zmq_msg_t junk;

	while (more) {
		zmq_msg_t *m = n < ZAP_FRAMES ? &f[n] : &junk;

		zmq_msg_init(m);
		if (zmq_msg_recv(m, sock, n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
			zmq_msg_close(m);
			while (n > 0)
				zmq_msg_close(&f[--n]);
			return errno == EAGAIN ? 0 : -1;
		}
		zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &ml);
		if (m == &junk)
			zmq_msg_close(m);
		else
			n++;
	}
	return n;
}

static bool
s_frame_is(zmq_msg_t *m, const char *s)
{
	return zmq_msg_size(m) == strlen(s) && memcmp(zmq_msg_data(m), s, strlen(s)) == 0;
}

int
auth_zap_handle(auth_zap_t *z)
{
	zmq_msg_t f[ZAP_FRAMES];
	char addr[64];
	int n, i, refused = 0;
	bool ok;

	while ((n = s_recv(z->sock, f)) > 0) {
		ok = n == ZAP_FRAMES && s_frame_is(&f[0], "1.0") && s_frame_is(&f[5], "CURVE") &&
		     zmq_msg_size(&f[6]) == AUTH_KEY_LEN &&
		     memcmp(zmq_msg_data(&f[6]), z->client_pk, AUTH_KEY_LEN) == 0;
		if (!ok) {
			z->refused++;
			refused++;
			snprintf(addr, sizeof(addr), "%.*s",
				 n > 3 ? (int)(zmq_msg_size(&f[3]) < 63 ? zmq_msg_size(&f[3]) : 63)
				       : 0,
				 n > 3 ? (const char *)zmq_msg_data(&f[3]) : "");
			log_warn("queues: refused %s: not the client key of the authkey",
				 addr[0] ? addr : "a client");
		}
		s_send(z->sock, "1.0", 3, true);
		if (n > 1)
			s_send(z->sock, zmq_msg_data(&f[1]), zmq_msg_size(&f[1]), true);
		else
			s_send(z->sock, "", 0, true);
		s_send(z->sock, ok ? "200" : "400", 3, true);
		s_send(z->sock, ok ? "OK" : "Unknown client key", ok ? 2 : 18, true);
		s_send(z->sock, ok ? "queue-client" : "", ok ? 12 : 0, true);
		s_send(z->sock, "", 0, false);
		for (i = 0; i < n; i++)
			zmq_msg_close(&f[i]);
	}
	return refused;
}

void
auth_zap_destroy(auth_zap_t **zp)
{
	if (zp == NULL || *zp == NULL)
		return;
	zmq_close((*zp)->sock);
	free(*zp);
	*zp = NULL;
}
