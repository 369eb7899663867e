/* auth: reading and writing CZMQ's zcert files without CZMQ: a client (drover-agent) needs only its
   key pair and droverd's public key, and should not map CZMQ and its dependencies for that. The
   format is ZPL text; the keys are in the "curve" section as
       public-key = "<40 characters of Z85>"
       secret-key = "<40 characters of Z85>"   (in NAME.cert_secret only) */
#include "auth.h"

#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
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
	const char *why;
	size_t have = 0;
	int rc;

	rc = secret_file_read(path, buf, CERT_MAX, &have, &why);
	if (rc == 0 && (strlen(buf) != have || !s_key(buf, "public-key", pk)))
		rc = -EINVAL;
	if (rc == 0 && sk != NULL && !s_key(buf, "secret-key", sk))
		rc = -ENOKEY;
	if (rc == 0 && sk != NULL && sodium_is_zero(sk, AUTH_KEY_LEN))
		rc = -ENOKEY;
	sodium_memzero(buf, sizeof(buf));
	return rc;
}

/* Writes one zcert file, whole, then renames it into place. */
static int
s_write_cert(const char *path, mode_t mode, const char *name, const char *pub, const char *sec)
{
	char tmp[4200], when[64];
	time_t now = time(NULL);
	struct tm tm;
	FILE *f;
	int fd, rc = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime_r(&now, &tm));
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)) < 0)
		return -errno;
	if ((f = fdopen(fd, "w")) == NULL) {
		rc = -errno;
		close(fd);
		unlink(tmp);
		return rc;
	}
	fprintf(f,
		"#   ****  Generated on %s by drover  ****\n"
		"#   ZeroMQ CURVE %s Certificate\n"
		"#   %s\n\n"
		"metadata\n    name = \"%s\"\n"
		"curve\n    public-key = \"%s\"\n",
		when, sec ? "**Secret**" : "Public",
		sec ? "DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions."
		    : "Exchange securely, or use a secure mechanism to verify the contents",
		name, pub);
	if (sec != NULL)
		fprintf(f, "    secret-key = \"%s\"\n", sec);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		rc = -EIO;
	if (fclose(f) != 0 && rc == 0)
		rc = -EIO;
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -errno;
	if (rc != 0)
		unlink(tmp);
	return rc;
}

int
auth_cert_make(const char *dir, const char *name, bool replace, uint8_t *pk, uint8_t *sk)
{
	char pub_path[4096], sec_path[4096], pub[41], sec[41];
	int rc;

	snprintf(pub_path, sizeof(pub_path), "%s/%s.cert", dir, name);
	snprintf(sec_path, sizeof(sec_path), "%s/%s.cert_secret", dir, name);
	if (!replace && (access(pub_path, F_OK) == 0 || access(sec_path, F_OK) == 0))
		return -EEXIST;
	if (zmq_curve_keypair(pub, sec) != 0)
		return -errno;
	/* The secret file is made 0600 before anything is written to it. */
	if ((rc = s_write_cert(sec_path, 0600, name, pub, sec)) == 0)
		rc = s_write_cert(pub_path, 0644, name, pub, NULL);
	if (rc == 0 &&
	    (zmq_z85_decode(pk, pub) == NULL || (sk != NULL && zmq_z85_decode(sk, sec) == NULL)))
		rc = -EINVAL;
	sodium_memzero(sec, sizeof(sec));
	return rc;
}
