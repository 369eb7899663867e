/* secret: the one reader of secret files (the API token, the queue
   authkey). A secret is the first line of a regular file, without the
   whitespace around it. Nothing here logs what it reads, and buffers that
   held it are wiped. */
#ifndef DROVER_SECRET_H
#define DROVER_SECRET_H

#include <stddef.h>

#define SECRET_MAX 4096 /* bytes read; a longer first line is refused */

/* Reads the secret at path. 0 and *out (malloc'd, *len bytes, which may
   hold any byte but CR and LF, followed by a NUL; wipe and free with secret_free), or -errno with
   *why, a short reason a person reads after "FILE: " ("a directory, not a file", "empty", "not a
   regular file", ..., or strerror). */
int secret_read(const char *path, char **out, size_t *len, const char **why);
void secret_free(char *s, size_t len);

/* Reads at most max bytes of the regular file at path into buf (which has
   room for max + 1: a NUL follows). 0 and *len, or -errno with *why as for
   secret_read(). For the small files secrets live in (keys, certs). */
int secret_file_read(const char *path, char *buf, size_t max, size_t *len, const char **why);
/* The reason for an error of secret_read(), for callers that kept only rc. */
const char *secret_strerror(int rc);

#endif
