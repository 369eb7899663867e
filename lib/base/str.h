/* str: small string helpers. */
#ifndef DROVER_STR_H
#define DROVER_STR_H

#include <stdbool.h>

/* A new string formatted like printf (caller frees), or NULL when out of
   memory: for error messages handed to a caller. */
char *str_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A name for an agent, a host or a key pair: 1-64 of [A-Za-z0-9._-], not
   starting with '.' or '-' (safe as a file name). */
bool str_name_ok(const char *s);

/* Makes the directory path and its missing parents (0755). 0 or -errno. */
int str_mkdirs(const char *path);

#endif
