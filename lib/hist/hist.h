/* hist: the sampled history droverd keeps for the dashboard's charts. Every
   tick (default every 5 s) the owner puts one sample per process (CPU
   seconds and RSS) and per queue (depth and the put/get totals); the store
   keeps the last HIST_CAPACITY of each in a fixed-size ring allocated once
   per series, so memory is bounded by the number of series, never by time.

   A process sample is packed into 22 bits (two 11-bit floating codes: CPU in
   tenths of a percent of one core, RSS in KiB, both within 1.6%), so an hour
   at 5 s costs 1980 bytes per process: 1000 processes stay under 2 MiB.
   Time is not stored per sample: every series shares the store's tick
   clock. A series that misses a tick gets a gap (null) there; one that is
   not put during a whole tick (a process removed) is dropped at the end of
   that tick. Not thread-safe: one owner. */
#ifndef DROVER_HIST_H
#define DROVER_HIST_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define HIST_CAPACITY 720     /* samples per series: one hour at 5 s */
#define HIST_INTERVAL_MS 5000 /* the default tick */

typedef struct hist hist_t;

/* A store sampled every interval_ms. NULL with errno set on failure. */
hist_t *hist_new(int64_t interval_ms);
void hist_destroy(hist_t **hp);
int64_t hist_interval_ms(const hist_t *h);

/* Starts a tick at Unix time now (seconds), which only labels the samples,
   and at mono_ms on CLOCK_MONOTONIC, which the CPU and put/get rates are
   worked out from: a jump of the wall clock changes no rate. Every put
   until hist_tick_end() belongs to the tick. */
void hist_tick_begin(hist_t *h, double now, int64_t mono_ms);
/* One process's sample: its cumulative CPU seconds (< 0: unknown) and RSS
   in bytes (< 0: unknown); pid tells a restart (the CPU counter starts
   over). Returns 0 or -ENOMEM. */
int hist_put_process(hist_t *h, const char *name, int pid, double cpu_seconds, int64_t rss_bytes);
/* One queue's sample: its depth and put/get totals (rates are worked out
   from the previous tick). Returns 0 or -ENOMEM. */
int hist_put_queue(hist_t *h, const char *name, int64_t size, int64_t in_flight, int64_t put_total,
		   int64_t get_total);
/* Ends the tick: series that got no sample in it are dropped. */
void hist_tick_end(hist_t *h);

/* The history of a process ("process") or queue ("queue") as JSON (caller
   owns): {name, interval_s, capacity, t: [unix seconds...], and per kind
   cpu_percent/rss_bytes or size/in_flight/put_rate/get_rate: arrays of the
   same length, null where there was no sample}. NULL when unknown. */
json_t *hist_json(const hist_t *h, const char *kind, const char *name);
/* Bytes the store holds (series, rings, index), heap overhead included. */
size_t hist_bytes(const hist_t *h);
/* Number of process and queue series. */
size_t hist_count(const hist_t *h, const char *kind);

/* Upgrade in place: the whole store as JSON, for the next droverd (its
   layout is named, so that a build that stores it differently starts
   afresh rather than misreading it). NULL on allocation failure. */
json_t *hist_export(const hist_t *h);
/* A store from hist_export(), or NULL (errno EINVAL) when state is not one
   this build can read or was sampled at another interval. */
hist_t *hist_import(const json_t *state, int64_t interval_ms);

/* The 11-bit floating codes (exported for the tests): 0x7ff is "none". */
#define HIST_NONE 0x7ff
unsigned hist_encode(uint64_t v);
uint64_t hist_decode(unsigned code);

#endif
