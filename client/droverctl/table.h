/* table: the aligned text tables and the short human figures (uptime, CPU
   time, memory) that droverctl prints. No I/O besides table_print(), so the
   formatting is unit-tested on its own. */
#ifndef DROVERCTL_TABLE_H
#define DROVERCTL_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct table table_t;

/* A table with ncols columns named by headers (copied). NULL on OOM. */
table_t *table_new(const char *const *headers, size_t ncols);
void table_destroy(table_t **tp);
/* Right-aligns column col (figures). */
void table_align_right(table_t *t, size_t col);
/* Appends a row of ncols cells (copied; NULL prints as "-"). colours, when
   not NULL, gives an SGR code per cell ("32" green, NULL none), used only
   when the table is printed in colour. Control characters in a cell become
   spaces, so a cell can never break the alignment or drive the terminal.
   Returns 0 or -ENOMEM. */
int table_add(table_t *t, const char *const *cells, const char *const *colours);
size_t table_rows(const table_t *t);
/* Prints the header and the rows, columns two spaces apart, widths counted in
   characters (UTF-8), no trailing blanks. */
void table_print(const table_t *t, FILE *f, bool colour);

/* Display width of a UTF-8 string: its number of code points. */
size_t table_width(const char *s);

/* "42s", "5m03s", "3h12m", "2d03h"; "-" for a negative value. */
const char *fmt_duration(double seconds, char *buf, size_t len);
/* CPU time: "0.52s", "12.3s", then as fmt_duration; "-" when negative. */
const char *fmt_cpu(double seconds, char *buf, size_t len);
/* Bytes in powers of 1024: "812B", "512K", "9.8M", "10M", "1.2G"; "-" when negative. */
const char *fmt_bytes(int64_t bytes, char *buf, size_t len);

#endif
