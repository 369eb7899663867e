/* str: small string helpers. */
#ifndef DROVER_STR_H
#define DROVER_STR_H

/* A new string formatted like printf (caller frees), or NULL when out of
   memory: for error messages handed to a caller. */
char *str_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
