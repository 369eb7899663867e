/* auth: key derivation from an authkey, and reading it from its file. */
#include "auth.h"

#include "secret.h"

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

int
auth_read_keyfile(const char *path, uint8_t **key, size_t *len)
{
	const char *why = NULL;
	char *s = NULL;
	int rc;

	*key = NULL;
	*len = 0;
	if ((rc = secret_read(path, &s, len, &why)) != 0)
		return rc;
	*key = (uint8_t *)s; /* auth_key_free() wipes and frees it */
	return 0;
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
