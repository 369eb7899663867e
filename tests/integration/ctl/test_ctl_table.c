/* droverctl's tables and figures: aligned columns whatever the content,
   no trailing blanks, colour codes that do not shift the columns. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "table.h"

/* The table printed into a string (caller frees). */
static char *
render(table_t *t, bool colour)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	table_print(t, f, colour);
	fclose(f);
	return buf;
}

Test(table, columns_line_up_and_figures_align_right)
{
	const char *h[] = {"NAME", "STATE", "PID"};
	const char *r1[] = {"web:0", "RUNNING", "4242"};
	const char *r2[] = {"worker:10", "FATAL", "7"};
	table_t *t = table_new(h, 3);
	char *out;

	table_align_right(t, 2);
	table_add(t, r1, NULL);
	table_add(t, r2, NULL);
	cr_assert_eq(table_rows(t), 2);
	out = render(t, false);
	cr_assert_str_eq(out, "NAME       STATE     PID\n"
			      "web:0      RUNNING  4242\n"
			      "worker:10  FATAL       7\n");
	free(out);
	table_destroy(&t);
	cr_assert_null(t);
}

Test(table, empty_cells_at_the_end_leave_no_trailing_blanks)
{
	const char *h[] = {"NAME", "INFO"};
	const char *r1[] = {"a:0", ""};
	const char *r2[] = {"bb:0", "exit 1"};
	table_t *t = table_new(h, 2);
	char *out;

	table_add(t, r1, NULL);
	table_add(t, r2, NULL);
	out = render(t, false);
	cr_assert_str_eq(out, "NAME  INFO\na:0\nbb:0  exit 1\n");
	free(out);
	table_destroy(&t);
}

Test(table, colour_wraps_the_cell_without_moving_the_next_column)
{
	const char *h[] = {"STATE", "PID"};
	const char *r[] = {"RUNNING", "1"};
	const char *c[] = {"32", NULL};
	table_t *t = table_new(h, 2);
	char *out;

	table_add(t, r, c);
	out = render(t, true);
	cr_assert_str_eq(out, "\033[1mSTATE\033[0m    \033[1mPID\033[0m\n"
			      "\033[32mRUNNING\033[0m  1\n");
	free(out);
	out = render(t, false);
	cr_assert_str_eq(out, "STATE    PID\nRUNNING  1\n");
	free(out);
	table_destroy(&t);
}

Test(table, control_characters_and_null_cells_cannot_break_a_row)
{
	const char *h[] = {"A", "B"};
	const char *r[] = {"x\ny\033[2J", NULL};
	table_t *t = table_new(h, 2);
	char *out;

	table_add(t, r, NULL);
	out = render(t, false);
	cr_assert_str_eq(out, "A        B\nx y [2J  -\n");
	free(out);
	table_destroy(&t);
}

Test(table, width_counts_characters_not_bytes)
{
	cr_assert_eq(table_width("héllo"), 5);
	cr_assert_eq(table_width(""), 0);
	cr_assert_eq(table_width("日本"), 2);
}

Test(fmt, durations_read_like_uptime)
{
	char b[32];

	cr_assert_str_eq(fmt_duration(0, b, sizeof(b)), "0s");
	cr_assert_str_eq(fmt_duration(42.9, b, sizeof(b)), "42s");
	cr_assert_str_eq(fmt_duration(303, b, sizeof(b)), "5m03s");
	cr_assert_str_eq(fmt_duration(3 * 3600 + 12 * 60 + 5, b, sizeof(b)), "3h12m");
	cr_assert_str_eq(fmt_duration(2 * 86400 + 3 * 3600, b, sizeof(b)), "2d03h");
	cr_assert_str_eq(fmt_duration(-1, b, sizeof(b)), "-");
}

Test(fmt, cpu_time_keeps_hundredths_while_small)
{
	char b[32];

	cr_assert_str_eq(fmt_cpu(0.52, b, sizeof(b)), "0.52s");
	cr_assert_str_eq(fmt_cpu(12.34, b, sizeof(b)), "12.3s");
	cr_assert_str_eq(fmt_cpu(125, b, sizeof(b)), "2m05s");
	cr_assert_str_eq(fmt_cpu(-1, b, sizeof(b)), "-");
}

Test(fmt, memory_in_powers_of_1024)
{
	char b[32];

	cr_assert_str_eq(fmt_bytes(812, b, sizeof(b)), "812B");
	cr_assert_str_eq(fmt_bytes(512 * 1024, b, sizeof(b)), "512K");
	cr_assert_str_eq(fmt_bytes(10 * 1024 * 1024, b, sizeof(b)), "10M");
	cr_assert_str_eq(fmt_bytes(1677722, b, sizeof(b)), "1.6M");
	cr_assert_str_eq(fmt_bytes(1288490189, b, sizeof(b)), "1.2G");
	cr_assert_str_eq(fmt_bytes(1024 * 1024 - 1, b, sizeof(b)), "1.0M");
	cr_assert_str_eq(fmt_bytes(-1, b, sizeof(b)), "-");
}
