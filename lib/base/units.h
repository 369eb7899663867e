/* units: durations ("250ms 10s 5m 1h") and sizes ("512KB 50MB 1GB", powers of 1024). */
#ifndef DROVER_UNITS_H
#define DROVER_UNITS_H

#include <stdint.h>

/* Parses a duration; "0" alone is allowed. Returns 0, or -EINVAL / -ERANGE. */
int units_duration_ms(const char *s, int64_t *out_ms);
/* Parses a size: a plain integer is bytes; B KB MB GB TB suffixes. Returns 0 or -EINVAL/-ERANGE. */
int units_size_bytes(const char *s, int64_t *out_bytes);
/* Signal by name ("TERM", "SIGTERM", "term") or number; 0 if unknown. */
int units_signal(const char *s);
/* "TERM" for SIGTERM; NULL if unknown. */
const char *units_signal_name(int sig);

#endif
