/* auth: key derivation from an authkey, and reading it from its file. */
#include "auth.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
auth_derive(const void *authkey, size_t len, auth_role_t role, auth_keypair_t *kp)
{
	const char *label = role == AUTH_SERVER ? AUTH_LABEL_SERVER : AUTH_LABEL_CLIENT;

	if (authkey == NULL || len == 0)
		return -EINVAL;
	if (sodium_init() < 0)
		return -EIO;
	if (crypto_generichash(kp->secret_key, AUTH_KEY_LEN, authkey, len,
			       (const unsigned char *)label, strlen(label)) != 0 ||
	    crypto_scalarmult_base(kp->public_key, kp->secret_key) != 0)
		return -EIO;
	return 0;
}

static bool
s_space(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int
auth_read_keyfile(const char *path, uint8_t **key, size_t *len)
{
	uint8_t buf[4096], *s, *e;
	ssize_t n;
	size_t have = 0;
	int fd, rc = 0;

	*key = NULL;
	*len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	while (have < sizeof(buf) && (n = read(fd, buf + have, sizeof(buf) - have)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		have += (size_t)n;
	}
	close(fd);
	if (rc == 0) {
		for (s = buf; s < buf + have && s_space(*s); s++)
			;
		for (e = s; e < buf + have && *e != '\n' && *e != '\r'; e++)
			;
		while (e > s && s_space(e[-1]))
			e--;
		if (e == s)
			rc = -ENODATA;
		else if ((*key = malloc((size_t)(e - s))) == NULL)
			rc = -ENOMEM;
		else {
			memcpy(*key, s, (size_t)(e - s));
			*len = (size_t)(e - s);
		}
	}
	sodium_memzero(buf, sizeof(buf));
	return rc;
}

void
auth_key_free(uint8_t *key, size_t len)
{
	if (key == NULL)
		return;
	sodium_memzero(key, len);
	free(key);
}

void
auth_z85(const uint8_t *key, char *out)
{
	static const char enc[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  ".-:+=^!/*?&<>()[]{}@%$#";
	size_t i, o = 0;
	uint32_t v;
	int k;

	for (i = 0; i < AUTH_KEY_LEN; i += 4) {
		v = (uint32_t)key[i] << 24 | (uint32_t)key[i + 1] << 16 |
		    (uint32_t)key[i + 2] << 8 | key[i + 3];
		for (k = 4; k >= 0; k--) {
			out[o + (size_t)k] = enc[v % 85];
			v /= 85;
		}
		o += 5;
	}
	out[o] = '\0';
}
