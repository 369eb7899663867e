/* auth: the ZAP handler (RFC 27) of droverd's CURVE servers, one per
   ZeroMQ context, run by the thread that owns the server socket. What it
   admits is a check: for the queues, exactly the client key derived from the
   authkey; for the agent hub, the keys of keys_dir (certs.c). Refusals are
   logged with the peer's address, at most once per address every few
   seconds, so a client retrying a wrong key cannot flood the log. */
#include "auth.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "clock.h"
#include "log.h"

#define ZAP_FRAMES 7 /* version, id, domain, address, identity, mechanism, credentials */

#define ZAP_LOG_SLOTS 64       /* addresses whose refusals are being rate-limited */
#define ZAP_LOG_EVERY_MS 10000 /* one line per address in this time */

struct auth_zap {
	void *sock; /* REP bound at inproc://zeromq.zap.01 */
	uint8_t client_pk[AUTH_KEY_LEN];
	auth_zap_check_fn check;
	void *check_arg;
	const char *what; /* "queues", "agents": the log's prefix */
	uint64_t refused;
	struct {
		char addr[64];
		int64_t logged_ms;
		unsigned quiet; /* refusals not logged since */
	} recent[ZAP_LOG_SLOTS];
};

/* The queues' check: exactly the client key of the authkey. */
static bool
s_check_one_key(void *arg, const uint8_t *pk, const char *addr, char *user, size_t user_len,
		char *why, size_t why_len)
{
	auth_zap_t *z = arg;

	if (memcmp(pk, z->client_pk, AUTH_KEY_LEN) != 0) {
		snprintf(why, why_len, "not the client key of the authkey");
		return false;
	}
	snprintf(user, user_len, "queue-client");
	return true;
}

auth_zap_t *
auth_zap_new(void *ctx, const uint8_t *client_pk)
{
	auth_zap_t *z = auth_zap_new_check(ctx, "queues", s_check_one_key, NULL);

	if (z != NULL) {
		memcpy(z->client_pk, client_pk, AUTH_KEY_LEN);
		z->check_arg = z;
	}
	return z;
}

auth_zap_t *
auth_zap_new_check(void *ctx, const char *what, auth_zap_check_fn check, void *arg)
{
	auth_zap_t *z = calloc(1, sizeof(*z));
	int linger = 0, err;

	if (z == NULL)
		return NULL;
	z->check = check;
	z->check_arg = arg;
	z->what = what;
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

/* Logs a refusal unless this address was logged within ZAP_LOG_EVERY_MS. */
static void
s_log_refusal(auth_zap_t *z, const char *addr, const char *why)
{
	int64_t now = clock_ms();
	size_t i, slot = 0;

	for (i = 0; i < ZAP_LOG_SLOTS; i++) {
		if (strcmp(z->recent[i].addr, addr) == 0) {
			slot = i;
			break;
		}
		if (z->recent[i].logged_ms < z->recent[slot].logged_ms)
			slot = i; /* the oldest, to reuse */
	}
	if (i < ZAP_LOG_SLOTS && now - z->recent[slot].logged_ms < ZAP_LOG_EVERY_MS) {
		z->recent[slot].quiet++;
		return;
	}
	if (i < ZAP_LOG_SLOTS && z->recent[slot].quiet > 0)
		log_warn("%s: refused %s: %s (and %u more times)", z->what, addr, why,
			 z->recent[slot].quiet);
	else
		log_warn("%s: refused %s: %s", z->what, addr, why);
	snprintf(z->recent[slot].addr, sizeof(z->recent[slot].addr), "%s", addr);
	z->recent[slot].logged_ms = now;
	z->recent[slot].quiet = 0;
}

int
auth_zap_handle(auth_zap_t *z)
{
	zmq_msg_t f[ZAP_FRAMES];
	char addr[64], user[128], why[160];
	int n, i, refused = 0;
	bool ok;

	while ((n = s_recv(z->sock, f)) > 0) {
		snprintf(addr, sizeof(addr), "%.*s",
			 n > 3 ? (int)(zmq_msg_size(&f[3]) < 63 ? zmq_msg_size(&f[3]) : 63) : 0,
			 n > 3 ? (const char *)zmq_msg_data(&f[3]) : "");
		user[0] = '\0';
		snprintf(why, sizeof(why), "not a CURVE client");
		ok = n == ZAP_FRAMES && s_frame_is(&f[0], "1.0") && s_frame_is(&f[5], "CURVE") &&
		     zmq_msg_size(&f[6]) == AUTH_KEY_LEN &&
		     z->check(z->check_arg, zmq_msg_data(&f[6]), addr, user, sizeof(user), why,
			      sizeof(why));
		if (!ok) {
			z->refused++;
			refused++;
			s_log_refusal(z, addr[0] ? addr : "a client", why);
		}
		s_send(z->sock, "1.0", 3, true);
		if (n > 1)
			s_send(z->sock, zmq_msg_data(&f[1]), zmq_msg_size(&f[1]), true);
		else
			s_send(z->sock, "", 0, true);
		s_send(z->sock, ok ? "200" : "400", 3, true);
		s_send(z->sock, ok ? "OK" : why, strlen(ok ? "OK" : why), true);
		s_send(z->sock, ok ? user : "", ok ? strlen(user) : 0, true);
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
