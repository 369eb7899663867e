/* put and get: the queue protocol through libdrover, not the HTTP API. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"

#ifdef DROVER_HAVE_LIBDROVER
#include "drover.h"

#define CTL_QUEUE_CONNECT_MS 5000
#define CTL_PUT_DEFAULT_S 10.0

/* Seconds as libdrover milliseconds; fallback when not given, -1 forever. */
static int
s_ms(double seconds, double fallback)
{
	double s = seconds >= 0 ? seconds : fallback;

	if (s < 0 || s * 1000.0 > 2147483647.0)
		return -1;
	return (int)(s * 1000.0 + 0.5);
}

/* One line for a libdrover error about queue (NULL: the connection). */
static void
s_qerr(ctl_t *c, int rc, const char *op, const char *queue, double seconds)
{
	switch (rc) {
	case DROVER_EAUTH:
		ctl_err("the queue server at %s refused the authkey (authentication failed)",
			c->queue_endpoint);
		break;
	case DROVER_ECONN:
		ctl_err("cannot reach the queue server at %s", c->queue_endpoint);
		break;
	case DROVER_ENOQUEUE:
		ctl_err("no such queue: %s", queue);
		break;
	case DROVER_EFULL:
		ctl_err("%s: queue %s is still full after %gs", op, queue, seconds);
		break;
	case DROVER_EEMPTY:
		ctl_err("%s: nothing arrived in queue %s within %gs", op, queue, seconds);
		break;
	case DROVER_ETOOBIG:
		ctl_err("%s: the message is larger than queue %s accepts (max_message)", op, queue);
		break;
	default:
		ctl_err("%s %s: %s", op, queue ? queue : "", drover_strerror(rc));
	}
}

static drover_client *
s_connect(ctl_t *c)
{
	drover_client *q = NULL;
	char *key = NULL;
	size_t len = 0;
	int rc = DROVER_EINVAL;

	if (c->authkey_file == NULL) {
		ctl_err("the queue commands need the authkey: give --authkey-file or set "
			"DROVER_AUTHKEY_FILE");
		return NULL;
	}
	if ((key = ctl_read_secret(c->authkey_file, "authkey", &len)) == NULL)
		return NULL;
	q = drover_connect(c->queue_endpoint, key, len, CTL_QUEUE_CONNECT_MS, &rc);
	explicit_bzero(key, len);
	free(key);
	if (q == NULL)
		s_qerr(c, rc, "connect", NULL, 0);
	return q;
}

/* All of stdin; NULL when unreadable. Caller frees. */
static char *
s_read_stdin(size_t *len)
{
	char *buf = NULL;
	size_t n = 0, cap = 0;
	size_t got;

	for (;;) {
		if (cap - n < 65536) {
			char *nb = realloc(buf, cap = cap ? cap * 2 : 65536);

			if (nb == NULL) {
				free(buf);
				return NULL;
			}
			buf = nb;
		}
		got = fread(buf + n, 1, cap - n, stdin);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(stdin)) {
		free(buf);
		return NULL;
	}
	*len = n;
	return buf;
}

int
cmd_put(ctl_t *c, int argc, char **argv)
{
	drover_client *q;
	char *data = NULL;
	size_t len;
	int rc, ms;

	if (argc != 2)
		return ctl_usage("put");
	if (strcmp(argv[1], "-") == 0) {
		if ((data = s_read_stdin(&len)) == NULL) {
			ctl_err("put: cannot read the message from stdin");
			return CTL_FAILED;
		}
	} else {
		len = strlen(argv[1]);
	}
	if ((q = s_connect(c)) == NULL) {
		free(data);
		return CTL_FAILED;
	}
	ms = s_ms(c->timeout_s, CTL_PUT_DEFAULT_S);
	rc = drover_put(q, argv[0], data != NULL ? data : argv[1], len, ms);
	/* confirmed (for a durable queue: committed) before we say so */
	if (rc == DROVER_OK)
		rc = drover_flush(q, ms < 0 ? -1 : ms + CTL_QUEUE_CONNECT_MS);
	if (rc != DROVER_OK)
		s_qerr(c, rc, "put", argv[0], ms / 1000.0);
	else if (c->json) {
		json_t *j = json_pack("{s:s, s:I}", "queue", argv[0], "size", (json_int_t)len);

		ctl_print_json(j);
		json_decref(j);
	}
	drover_close(q);
	free(data);
	return rc == DROVER_OK ? CTL_OK : CTL_FAILED;
}

int
cmd_get(ctl_t *c, int argc, char **argv)
{
	drover_client *q;
	drover_msg *m;
	const char *data;
	size_t size;
	int rc = DROVER_OK, ms;

	if (argc != 1)
		return ctl_usage("get");
	if ((q = s_connect(c)) == NULL)
		return CTL_FAILED;
	drover_set_prefetch(q, 1); /* one message, not a window of them */
	ms = s_ms(c->timeout_s, -1);
	if ((m = drover_get(q, argv[0], ms, &rc)) == NULL) {
		s_qerr(c, rc, "get", argv[0], ms / 1000.0);
		drover_close(q);
		return CTL_FAILED;
	}
	data = drover_msg_data(m);
	size = drover_msg_size(m);
	/* The body exactly as it was put; on a terminal, end the line. */
	if (fwrite(data, 1, size, stdout) != size || fflush(stdout) != 0) {
		ctl_err("get: cannot write the message: it goes back to the queue");
		drover_nack(q, m);
		drover_close(q);
		return CTL_FAILED;
	}
	if (isatty(STDOUT_FILENO) && (size == 0 || data[size - 1] != '\n'))
		putchar('\n');
	/* --no-ack: give it back at once rather than hold the lease. */
	rc = c->no_ack ? drover_nack(q, m) : drover_ack(q, m);
	if (rc != DROVER_OK)
		s_qerr(c, rc, c->no_ack ? "nack" : "ack", argv[0], 0);
	drover_close(q);
	return rc == DROVER_OK ? CTL_OK : CTL_FAILED;
}

#else /* no libdrover in this build */

static int
s_missing(ctl_t *c, const char *cmd)
{
	(void)c;
	ctl_err("%s: this droverctl was built without libdrover, so it cannot speak the queue "
		"protocol",
		cmd);
	return CTL_FAILED;
}

int
cmd_put(ctl_t *c, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return s_missing(c, "put");
}

int
cmd_get(ctl_t *c, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return s_missing(c, "get");
}

#endif
