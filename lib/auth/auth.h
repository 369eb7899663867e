/* auth: CURVE key pairs derived from a queue authkey, and the ZAP handler
   that admits only clients holding the derived client key
   (docs/queue-protocol.md, "Keys from the authkey").

   The authkey is a secret: nothing here logs it or keeps it longer than
   needed; buffers that held it are wiped. */
#ifndef DROVER_AUTH_H
#define DROVER_AUTH_H

#include <stdbool.h>
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

/* ---- certificates (CZMQ's zcert files) ---- */

/* Reads a cert file: its public key, and its secret key when sk is not NULL
   (then path must be a *.cert_secret). 0 or -errno (-ENOKEY: no secret). */
int auth_cert_load(const char *path, uint8_t *pk, uint8_t *sk);

/* A new CURVE key pair written as dir/NAME.cert_secret (0600, both keys)
   and dir/NAME.cert (0644, the public key) in the zcert format; existing
   files are replaced only when replace (else -EEXIST). pk (and sk unless
   NULL) get the keys. 0 or -errno. */
int auth_cert_make(const char *dir, const char *name, bool replace, uint8_t *pk, uint8_t *sk);

/* The server's own pair dir/NAME.cert_secret, made with dir/NAME.cert (0600
   for the secret) when missing, as sshd makes its host keys. *created tells
   which. 0 or -errno. */
int auth_cert_server(const char *dir, const char *name, uint8_t *pk, uint8_t *sk, bool *created);

/* The admitted keys: dir/NAME.cert, NAME being the holder's name. Read again
   whenever the directory has changed, and by auth_certs_reload(). */
typedef struct auth_certs auth_certs_t;

auth_certs_t *auth_certs_new(const char *dir); /* NULL with errno */
void auth_certs_destroy(auth_certs_t **cp);
int auth_certs_reload(auth_certs_t *c);
/* The name whose cert holds pk, or NULL. */
const char *auth_certs_name(auth_certs_t *c, const uint8_t *pk);
/* Is there a NAME.cert (as last read)? */
bool auth_certs_known(auth_certs_t *c, const char *name);
/* Does NAME.cert (as last read) hold pk? */
bool auth_certs_holds(auth_certs_t *c, const char *name, const uint8_t *pk);

/* ---- ZAP handler ---- */

typedef struct auth_zap auth_zap_t;

/* Binds a ZAP handler (inproc://zeromq.zap.01) in the ZeroMQ context ctx,
   admitting CURVE clients whose public key is client_pk and refusing all
   others (each refusal is logged with the peer's address). Caller owns the
   result. NULL with errno set on failure (EADDRINUSE: the context already
   has a ZAP handler). */
auth_zap_t *auth_zap_new(void *ctx, const uint8_t *client_pk);

/* A check of one CURVE client: pk is its public key (32 bytes), addr its
   address. Admit: return true and set user (the ZAP User-Id the server reads
   from each message, e.g. the agent's name). Refuse: return false and set
   why (logged with the address; never a secret). */
typedef bool (*auth_zap_check_fn)(void *arg, const uint8_t *pk, const char *addr, char *user,
				  size_t user_len, char *why, size_t why_len);

/* A ZAP handler in ctx that admits what check admits; what names the
   server in the log ("agents"). NULL with errno set. */
auth_zap_t *auth_zap_new_check(void *ctx, const char *what, auth_zap_check_fn check, void *arg);

/* The REP socket to poll for ZMQ_POLLIN. */
void *auth_zap_socket(auth_zap_t *z);

/* Answers every pending ZAP request without blocking. Returns the number of
   refusals among them. */
int auth_zap_handle(auth_zap_t *z);

/* Requests refused so far. */
uint64_t auth_zap_refused(const auth_zap_t *z);

void auth_zap_destroy(auth_zap_t **zp);

#endif
