#include <criterion/criterion.h>
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "ev.h"
#include "mem.h"
#include "units.h"

Test(units, durations_in_every_unit)
{
	int64_t ms;

	cr_assert_eq(units_duration_ms("250ms", &ms), 0);
	cr_assert_eq(ms, 250);
	cr_assert_eq(units_duration_ms("10s", &ms), 0);
	cr_assert_eq(ms, 10000);
	cr_assert_eq(units_duration_ms("5m", &ms), 0);
	cr_assert_eq(ms, 300000);
	cr_assert_eq(units_duration_ms("1h", &ms), 0);
	cr_assert_eq(ms, 3600000);
	cr_assert_eq(units_duration_ms("0", &ms), 0);
	cr_assert_eq(ms, 0);
}

Test(units, bad_durations_are_refused)
{
	int64_t ms;

	cr_assert_eq(units_duration_ms("10", &ms), -EINVAL);
	cr_assert_eq(units_duration_ms("ten seconds", &ms), -EINVAL);
	cr_assert_eq(units_duration_ms("-5s", &ms), -EINVAL);
	cr_assert_eq(units_duration_ms("5parsecs", &ms), -EINVAL);
	cr_assert_eq(units_duration_ms("", &ms), -EINVAL);
	cr_assert_eq(units_duration_ms("99999999999999999999h", &ms), -ERANGE);
}

Test(units, sizes_are_powers_of_1024)
{
	int64_t b;

	cr_assert_eq(units_size_bytes("512KB", &b), 0);
	cr_assert_eq(b, 512 * 1024);
	cr_assert_eq(units_size_bytes("50MB", &b), 0);
	cr_assert_eq(b, 50 * 1024 * 1024);
	cr_assert_eq(units_size_bytes("1GB", &b), 0);
	cr_assert_eq(b, 1024LL * 1024 * 1024);
	cr_assert_eq(units_size_bytes("4096", &b), 0);
	cr_assert_eq(b, 4096);
	cr_assert_eq(units_size_bytes("1XB", &b), -EINVAL);
}

Test(units, signals_by_name_and_number)
{
	cr_assert_eq(units_signal("TERM"), SIGTERM);
	cr_assert_eq(units_signal("SIGHUP"), SIGHUP);
	cr_assert_eq(units_signal("kill"), SIGKILL);
	cr_assert_eq(units_signal("9"), 9);
	cr_assert_eq(units_signal("BOGUS"), 0);
	cr_assert_str_eq(units_signal_name(SIGUSR1), "USR1");
}

static int order[8], n_order;

static void
on_timer(ev_t *ev, ev_timer_t *t)
{
	order[n_order++] = (int)(intptr_t)t->arg;
	if (n_order == 4)
		ev_break(ev);
}

Test(ev, timers_fire_in_deadline_order_and_stopped_ones_never, .timeout = 5)
{
	ev_t *ev = ev_new();
	ev_timer_t t[5] = {0};
	int64_t now = clock_ms();

	cr_assert_not_null(ev);
	ev_timer_start(ev, &t[0], now + 40, on_timer, (void *)(intptr_t)3);
	ev_timer_start(ev, &t[1], now + 10, on_timer, (void *)(intptr_t)1);
	ev_timer_start(ev, &t[2], now + 30, on_timer, (void *)(intptr_t)99);
	ev_timer_start(ev, &t[3], now + 20, on_timer, (void *)(intptr_t)2);
	ev_timer_start(ev, &t[4], now + 50, on_timer, (void *)(intptr_t)4);
	ev_timer_stop(ev, &t[2]);
	cr_assert_not(ev_timer_active(&t[2]));
	cr_assert_eq(ev_run(ev), 0);
	cr_assert_eq(n_order, 4);
	cr_assert_eq(order[0], 1);
	cr_assert_eq(order[1], 2);
	cr_assert_eq(order[2], 3);
	cr_assert_eq(order[3], 4);
	cr_assert_geq(clock_ms() - now, 50);
	ev_destroy(&ev);
}

Test(ev, idle_loop_makes_no_wakeups, .timeout = 5)
{
	ev_t *ev = ev_new();

	cr_assert_eq(ev_run_once(ev, 300), 0); /* nothing armed: sleeps the whole time */
	cr_assert_eq(ev_wakeups(ev), 1);
	ev_destroy(&ev);
}

/* Memory freed in the middle of the heap stays resident until trimmed; the
   trim gives it back once the process grew by more than the slack. */
Test(mem, what_a_burst_left_free_goes_back_when_the_process_grew)
{
	enum { N = 200, SIZE = 64 * 1024 };
	static char *blocks[N];
	size_t before, freed;
	char *pin;
	int i;

#if defined(__SANITIZE_ADDRESS__)
	cr_skip_test("AddressSanitizer's allocator is not glibc's: nothing for malloc_trim");
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
	cr_skip_test("AddressSanitizer's allocator is not glibc's: nothing for malloc_trim");
#endif
#endif
	mallopt(M_MMAP_THRESHOLD, 1 << 20); /* the blocks from the heap, not mmap */
	mem_trim_if_grown(1 << 20);	    /* the baseline */
	before = mem_rss_bytes();
	cr_assert_gt(before, 0);
	for (i = 0; i < N; i++) {
		blocks[i] = malloc(SIZE);
		cr_assert_not_null(blocks[i]);
		memset(blocks[i], 1, SIZE);
	}
	cr_assert_eq(mem_trim_if_grown(64u << 20), 0, "grown less than the slack: no trim");
	pin = blocks[N - 1]; /* the last block keeps the others off the top of the heap */
	for (i = 0; i < N - 1; i++)
		free(blocks[i]);
	freed = mem_trim_if_grown(1 << 20);
	cr_assert_gt(freed, (size_t)N * SIZE / 2, "gave back %zu bytes", freed);
	cr_assert_lt(mem_rss_bytes(), before + (size_t)N * SIZE / 2);
	free(pin);
}
