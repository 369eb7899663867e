/* auth: key derivation (the test vectors of docs/queue-protocol.md) and
   reading the authkey file. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"

static void
hex(const uint8_t *k, char *out)
{
	for (int i = 0; i < AUTH_KEY_LEN; i++)
		sprintf(out + 2 * i, "%02x", k[i]);
}

Test(auth, derivation_matches_the_documented_vectors)
{
	auth_keypair_t s, c;
	char h[65], z[41];

	cr_assert_eq(auth_derive("abc", 3, AUTH_SERVER, &s), 0);
	cr_assert_eq(auth_derive("abc", 3, AUTH_CLIENT, &c), 0);
	hex(s.secret_key, h);
	cr_assert_str_eq(h, "98bfa307a5557f07090ed77ea500b11d73cc9f735f8e4cb2fdaf7a97779e413a");
	hex(s.public_key, h);
	cr_assert_str_eq(h, "2f2b48ad9e82a06e93ff17ae89617ecaca7557abe240f08f73b1a7e0d054ae36");
	hex(c.secret_key, h);
	cr_assert_str_eq(h, "28af31c2d0fdd2f2364a62de9fe6acf479e06b98516c0c0df4e6126f902052a6");
	hex(c.public_key, h);
	cr_assert_str_eq(h, "bc01bf3a0ec68bb32cebba404db75ec970d6d3dd8fd2739a8618ecfff514a226");
	auth_z85(s.public_key, z);
	cr_assert_str_eq(z, "fdPO}O}rRMLM8D4Id7>Q+5{^^&Z00]BfRU3=@vea");
	auth_z85(c.secret_key, z);
	cr_assert_str_eq(z, "d6Cwx^ezz-hCdDnPxrlEDeJF9qeuTI]Yu^8KrvC#");
}

Test(auth, different_keys_and_roles_give_different_pairs)
{
	auth_keypair_t a, b, c;

	auth_derive("abc", 3, AUTH_CLIENT, &a);
	auth_derive("abd", 3, AUTH_CLIENT, &b);
	auth_derive("abc", 3, AUTH_SERVER, &c);
	cr_assert_neq(memcmp(a.public_key, b.public_key, AUTH_KEY_LEN), 0);
	cr_assert_neq(memcmp(a.public_key, c.public_key, AUTH_KEY_LEN), 0);
	cr_assert_eq(auth_derive("", 0, AUTH_CLIENT, &a), -EINVAL);
	cr_assert_eq(auth_derive(NULL, 3, AUTH_CLIENT, &a), -EINVAL);
}

static char *
keyfile(const char *content, size_t len)
{
	static char path[64];
	int fd;

	snprintf(path, sizeof(path), "/tmp/drover-authkey-XXXXXX");
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, content, len), (ssize_t)len);
	close(fd);
	return path;
}

Test(auth, keyfile_is_the_first_line_trimmed)
{
	uint8_t *k;
	size_t n;
	char *p = keyfile("  \n\t s3cret key \r\nsecond line\n", 30);

	cr_assert_eq(auth_read_keyfile(p, &k, &n), 0);
	cr_assert_eq(n, 10);
	cr_assert_eq(memcmp(k, "s3cret key", 10), 0);
	auth_key_free(k, n);
	unlink(p);
}

Test(auth, keyfile_without_newline_and_with_binary_bytes)
{
	uint8_t *k;
	size_t n;
	char *p = keyfile("a\0b\xff", 4);

	cr_assert_eq(auth_read_keyfile(p, &k, &n), 0);
	cr_assert_eq(n, 4);
	cr_assert_eq(memcmp(k, "a\0b\xff", 4), 0);
	auth_key_free(k, n);
	unlink(p);
}

Test(auth, empty_or_missing_keyfile_is_an_error)
{
	uint8_t *k;
	size_t n;
	char *p = keyfile(" \n\n", 3);

	cr_assert_eq(auth_read_keyfile(p, &k, &n), -ENODATA);
	cr_assert_null(k);
	unlink(p);
	cr_assert_eq(auth_read_keyfile("/nonexistent/queue.key", &k, &n), -ENOENT);
	cr_assert_null(k);
}
