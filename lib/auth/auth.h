/* auth: CURVE key pairs derived from a queue authkey, and the ZAP handler
   that admits only clients holding the derived client key
   (docs/queue-protocol.md, "Keys from the authkey").

   The authkey is a secret: nothing here logs it or keeps it longer than
   needed; buffers that held it are wiped. */
#ifndef DROVER_AUTH_H
#define DROVER_AUTH_H

#include <stddef.h>
#include <stdint.h>

#define AUTH_KEY_LEN 32
#define AUTH_LABEL_SERVER "drover-queue-server-v1"
#define AUTH_LABEL_CLIENT "drover-queue-client-v1"

typedef enum { AUTH_SERVER, AUTH_CLIENT } auth_role_t;

typedef struct {
	uint8_t public_key[AUTH_KEY_LEN];
	uint8_t secret_key[AUTH_KEY_LEN];
} auth_keypair_t;

/* Derives the key pair of role from authkey (len >= 1): secret = keyed
   BLAKE2b-256 of the authkey with the role's label as the key, public =
   X25519(secret, base point). Returns 0, or -EINVAL for an empty key, -EIO
   if libsodium cannot start. */
int auth_derive(const void *authkey, size_t len, auth_role_t role, auth_keypair_t *kp);

/* Reads an authkey file: its first line with leading and trailing spaces,
   tabs, CRs and LFs removed. Returns 0 and sets *key (malloc'd, caller wipes
   with auth_key_free) and *len; or -errno (-ENODATA when the key is empty)
   and *key = NULL. */
int auth_read_keyfile(const char *path, uint8_t **key, size_t *len);

/* Wipes and frees a key from auth_read_keyfile. */
void auth_key_free(uint8_t *key, size_t len);

/* Z85 text of a 32-byte key into out[41]. */
void auth_z85(const uint8_t *key, char *out);

/* ---- ZAP handler ---- */

typedef struct auth_zap auth_zap_t;

/* Binds a ZAP handler (inproc://zeromq.zap.01) in the ZeroMQ context ctx,
   admitting CURVE clients whose public key is client_pk and refusing all
   others (each refusal is logged with the peer's address). Caller owns the
   result. NULL with errno set on failure (EADDRINUSE: the context already
   has a ZAP handler). */
auth_zap_t *auth_zap_new(void *ctx, const uint8_t *client_pk);

/* The REP socket to poll for ZMQ_POLLIN. */
void *auth_zap_socket(auth_zap_t *z);

/* Answers every pending ZAP request without blocking. Returns the number of
   refusals among them. */
int auth_zap_handle(auth_zap_t *z);

/* Requests refused so far. */
uint64_t auth_zap_refused(const auth_zap_t *z);

void auth_zap_destroy(auth_zap_t **zp);

#endif
