/* auth: reading CZMQ's zcert files (droverctl keygen writes them) without
   CZMQ: a client (drover-agent) needs only its key pair and droverd's
   public key, and should not map CZMQ and its dependencies for that. The
   format is ZPL text; the keys are in the "curve" section as
       public-key = "<40 characters of Z85>"
       secret-key = "<40 characters of Z85>"   (in NAME.cert_secret only) */
#include "auth.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#define CERT_MAX (64 * 1024)

/* Finds `name = "VALUE"` at the start of a line (after indentation) and
   decodes VALUE as a 32-byte Z85 key. true when found and valid. */
static bool
s_key(const char *text, const char *name, uint8_t *out)
{
	const char *p = text, *q;
	size_t n = strlen(name);
	char z85[41];

	while ((p = strstr(p, name)) != NULL) {
		for (q = p; q > text && (q[-1] == ' ' || q[-1] == '\t'); q--)
			;
		if (q != text && q[-1] != '\n') {
			p += n;
			continue;
		}
		q = p + n;
		q += strspn(q, " \t");
		if (*q++ != '=')
			return false;
		q += strspn(q, " \t");
		if (*q++ != '"' || strlen(q) < 41 || q[40] != '"')
			return false;
		memcpy(z85, q, 40);
		z85[40] = '\0';
		return zmq_z85_decode(out, z85) != NULL;
	}
	return false;
}

int
auth_cert_load(const char *path, uint8_t *pk, uint8_t *sk)
{
	char buf[CERT_MAX + 1];
	ssize_t n;
	size_t have = 0;
	int fd, rc = 0;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	while (have < CERT_MAX && (n = read(fd, buf + have, CERT_MAX - have)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		have += (size_t)n;
	}
	close(fd);
	buf[have] = '\0';
	if (rc == 0 && (strlen(buf) != have || !s_key(buf, "public-key", pk)))
		rc = -EINVAL;
	if (rc == 0 && sk != NULL && !s_key(buf, "secret-key", sk))
		rc = -ENOKEY;
	if (rc == 0 && sk != NULL && sodium_is_zero(sk, AUTH_KEY_LEN))
		rc = -ENOKEY;
	sodium_memzero(buf, sizeof(buf));
	return rc;
}
