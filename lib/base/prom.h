/* prom: the one writer of the Prometheus text exposition format 0.0.4. */
#ifndef DROVER_PROM_H
#define DROVER_PROM_H

#include <stdio.h>

/* "# HELP name help" and "# TYPE name type". */
void prom_head(FILE *f, const char *name, const char *type, const char *help);
/* s as a label value: backslash, double quote and newline escaped. */
void prom_label(FILE *f, const char *s);

#endif
