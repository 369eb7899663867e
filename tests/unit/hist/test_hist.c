/* hist: the codes, the rings, gaps, drops, the JSON and the memory bound. */
#include <criterion/criterion.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>

#include "hist.h"

Test(hist, codes_keep_small_values_exact_and_large_ones_within_two_percent)
{
	uint64_t v;

	for (v = 0; v < 64; v++)
		cr_assert_eq(hist_decode(hist_encode(v)), v);
	for (v = 64; v < ((uint64_t)1 << 36); v = v * 3 / 2 + 7) {
		double got = (double)hist_decode(hist_encode(v));

		cr_assert(fabs(got - (double)v) / (double)v <= 0.016, "%llu -> %.0f",
			  (unsigned long long)v, got);
		cr_assert_neq(hist_encode(v), HIST_NONE);
	}
}

/* Ticks n times, putting one process with cpu seconds growing by 0.5 per
   5 s tick (10 %) and rss 100 MiB. */
static void
tick_process(hist_t *h, int n, double *t, double *cpu)
{
	for (int i = 0; i < n; i++) {
		*t += 5;
		*cpu += 0.5;
		hist_tick_begin(h, *t, (int64_t)(*t * 1000));
		hist_put_process(h, "web:0", 42, *cpu, 100 << 20);
		hist_tick_end(h);
	}
}

Test(hist, a_process_series_gives_cpu_percent_and_rss_per_tick)
{
	hist_t *h = hist_new(5000);
	double t = 1000, cpu = 0;
	json_t *j, *c, *r, *ts;

	tick_process(h, 3, &t, &cpu);
	cr_assert_not_null(j = hist_json(h, "process", "web:0"));
	c = json_object_get(j, "cpu_percent");
	r = json_object_get(j, "rss_bytes");
	ts = json_object_get(j, "t");
	cr_assert_eq(json_array_size(ts), 3);
	cr_assert_eq(json_array_size(c), 3);
	cr_assert_float_eq(json_real_value(json_array_get(ts, 2)), 1015.0, 1e-9);
	cr_assert_float_eq(json_real_value(json_array_get(ts, 0)), 1005.0, 1e-9);
	/* A new pid: the first sample counts from 0 over the interval. */
	cr_assert_float_eq(json_real_value(json_array_get(c, 0)), 10.0, 0.2);
	cr_assert_float_eq(json_real_value(json_array_get(c, 2)), 10.0, 0.2);
	cr_assert_eq(json_integer_value(json_array_get(r, 1)), 100 << 20);
	cr_assert_float_eq(json_real_value(json_object_get(j, "interval_s")), 5.0, 1e-9);
	json_decref(j);
	cr_assert_null(hist_json(h, "process", "web:1"));
	cr_assert_null(hist_json(h, "queue", "web:0"));
	hist_destroy(&h);
	cr_assert_null(h);
}

Test(hist, the_ring_keeps_the_last_hour_only)
{
	hist_t *h = hist_new(5000);
	double t = 0, cpu = 0;
	json_t *j;

	tick_process(h, HIST_CAPACITY + 100, &t, &cpu);
	j = hist_json(h, "process", "web:0");
	cr_assert_eq(json_array_size(json_object_get(j, "t")), HIST_CAPACITY);
	cr_assert_float_eq(json_real_value(json_array_get(json_object_get(j, "t"), 0)),
			   t - 5.0 * (HIST_CAPACITY - 1), 1e-6);
	json_decref(j);
	hist_destroy(&h);
}

Test(hist, a_stopped_process_leaves_gaps_and_a_removed_one_is_dropped)
{
	hist_t *h = hist_new(1000);
	json_t *j;

	hist_tick_begin(h, 1, 1000);
	hist_put_process(h, "a:0", 10, 0.1, 4096);
	hist_put_process(h, "b:0", 11, 0.1, 4096);
	hist_tick_end(h);
	hist_tick_begin(h, 2, 2000);
	hist_put_process(h, "a:0", 0, -1, -1); /* stopped */
	hist_tick_end(h);		       /* b:0 removed */
	cr_assert_eq(hist_count(h, "process"), 1);
	cr_assert_null(hist_json(h, "process", "b:0"));
	j = hist_json(h, "process", "a:0");
	cr_assert(json_is_null(json_array_get(json_object_get(j, "rss_bytes"), 1)));
	cr_assert(json_is_null(json_array_get(json_object_get(j, "cpu_percent"), 1)));
	cr_assert_eq(json_integer_value(json_array_get(json_object_get(j, "rss_bytes"), 0)), 4096);
	json_decref(j);
	hist_destroy(&h);
}

Test(hist, a_queue_series_gives_depth_and_rates)
{
	hist_t *h = hist_new(1000);
	json_t *j;

	hist_tick_begin(h, 10, 10000);
	hist_put_queue(h, "tasks", 5, 1, 100, 90);
	hist_tick_end(h);
	hist_tick_begin(h, 12, 12000);
	hist_put_queue(h, "tasks", 7, 2, 140, 100);
	hist_tick_end(h);
	j = hist_json(h, "queue", "tasks");
	cr_assert_not_null(j);
	cr_assert(json_is_null(json_array_get(json_object_get(j, "put_rate"), 0)));
	cr_assert_float_eq(json_real_value(json_array_get(json_object_get(j, "put_rate"), 1)), 20.0,
			   1e-6);
	cr_assert_float_eq(json_real_value(json_array_get(json_object_get(j, "get_rate"), 1)), 5.0,
			   1e-6);
	cr_assert_float_eq(json_real_value(json_array_get(json_object_get(j, "size"), 1)), 7.0,
			   1e-6);
	json_decref(j);
	hist_destroy(&h);
}

/* The wall clock set back an hour, then forward two, between ticks 5 s apart
   on the monotonic clock: every CPU figure and rate keeps its value, none
   is missing; only the time axis follows the wall clock. */
Test(hist, a_jump_of_the_wall_clock_changes_no_rate)
{
	hist_t *h = hist_new(5000);
	double wall[] = {1000, 1005, 1010 - 3600, 1015 - 3600, 1020 + 3600, 1025 + 3600};
	json_t *p, *q;
	size_t k;

	for (k = 0; k < 6; k++) {
		hist_tick_begin(h, wall[k], 5000 * (int64_t)(k + 1));
		hist_put_process(h, "web:0", 42, 0.5 * (double)(k + 1), 100 << 20);
		hist_put_queue(h, "tasks", 0, 0, 100 * (int64_t)k, 50 * (int64_t)k);
		hist_tick_end(h);
	}
	p = hist_json(h, "process", "web:0");
	q = hist_json(h, "queue", "tasks");
	for (k = 1; k < 6; k++) {
		json_t *c = json_array_get(json_object_get(p, "cpu_percent"), k);
		json_t *put = json_array_get(json_object_get(q, "put_rate"), k);
		json_t *get = json_array_get(json_object_get(q, "get_rate"), k);

		cr_assert(json_is_real(c) && json_is_real(put) && json_is_real(get),
			  "sample %zu missing", k);
		cr_assert_float_eq(json_real_value(c), 10.0, 0.2, "sample %zu", k);
		cr_assert_float_eq(json_real_value(put), 20.0, 1e-6, "sample %zu", k);
		cr_assert_float_eq(json_real_value(get), 10.0, 1e-6, "sample %zu", k);
	}
	cr_assert_float_eq(json_real_value(json_array_get(json_object_get(q, "t"), 5)),
			   1025.0 + 3600, 1e-6);
	json_decref(p);
	json_decref(q);
	hist_destroy(&h);
}

/* The bound: 1000 processes with a full hour add at most 2 MiB,
   by the store's own count and, where malloc can tell (not under ASan), by
   the heap's. */
Test(hist, a_thousand_processes_for_an_hour_stay_under_two_mebibytes)
{
	struct mallinfo2 before = mallinfo2(), after;
	hist_t *h = hist_new(5000);
	char name[32];
	int i, k;

	for (k = 0; k < HIST_CAPACITY + 5; k++) {
		hist_tick_begin(h, 5.0 * k, 5000 * k);
		for (i = 0; i < 1000; i++) {
			snprintf(name, sizeof(name), "worker-group:%d", i);
			cr_assert_eq(hist_put_process(h, name, 100 + i, k * 0.01, 50 << 20), 0);
		}
		hist_tick_end(h);
	}
	after = mallinfo2();
	cr_assert_eq(hist_count(h, "process"), 1000);
	cr_assert_leq(hist_bytes(h), 2u << 20, "%zu bytes", hist_bytes(h));
	if (after.uordblks > before.uordblks)
		cr_assert_leq(after.uordblks - before.uordblks, 2u << 20, "heap grew %zu bytes",
			      after.uordblks - before.uordblks);
	printf("hist: 1000 processes x %d samples: %zu bytes\n", HIST_CAPACITY, hist_bytes(h));
	hist_destroy(&h);
}
