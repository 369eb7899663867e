/* fuzz_secret: the secret and key file readers: secret_read() (the API
   token, the queue authkey), auth_read_keyfile() and auth_cert_load()
   (zcert files, with and without the secret key). The input is the file. */
#include "fuzz.h"

#include <errno.h>
#include <string.h>

#include "auth.h"
#include "fuzz_file.h"
#include "secret.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_file(data, size), *why = NULL;
	uint8_t pk[AUTH_KEY_LEN], sk[AUTH_KEY_LEN], *key = NULL;
	char *s = NULL;
	size_t len = 0, klen = 0;
	int rc;

	rc = secret_read(path, &s, &len, &why);
	if (rc == 0) {
		FUZZ_CHECK(s != NULL && len > 0 && len <= SECRET_MAX && s[len] == '\0');
		FUZZ_CHECK(memchr(s, '\n', len) == NULL && memchr(s, '\r', len) == NULL);
		FUZZ_CHECK(s[0] != ' ' && s[0] != '\t' && s[len - 1] != ' ' && s[len - 1] != '\t');
		FUZZ_CHECK(memmem(data, size, s, len) != NULL);
	} else {
		FUZZ_CHECK(s == NULL && why != NULL && *why != '\0');
		FUZZ_CHECK(strcmp(secret_strerror(rc), why) == 0);
	}
	FUZZ_CHECK(auth_read_keyfile(path, &key, &klen) == rc);
	FUZZ_CHECK(klen == len && (len == 0 || memcmp(key, s, len) == 0));
	auth_key_free(key, klen);
	secret_free(s, len);

	rc = auth_cert_load(path, pk, NULL);
	FUZZ_CHECK(rc == 0 || rc == -EINVAL);
	rc = auth_cert_load(path, pk, sk);
	FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ENOKEY);
	return 0;
}
