/* clock: monotonic deadlines in milliseconds, wall time for display. */
#ifndef DROVER_CLOCK_H
#define DROVER_CLOCK_H

#include <stdint.h>

int64_t clock_ms(void);	 /* CLOCK_MONOTONIC, for deadlines */
double clock_wall(void); /* Unix time with fractions, for "since" fields */

#endif
