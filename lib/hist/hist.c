/* hist: fixed-size rings of samples, one per process and per queue, on one
   shared tick clock (hist.h says what is kept and why it is packed). Series
   are found by name with a binary search in a sorted array per kind; a
   process series is a single allocation: header, 22-bit packed ring, name. */
#include "hist.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define HIST_BITS 22
#define HIST_RING_BYTES ((HIST_CAPACITY * HIST_BITS + 7) / 8 + 4) /* +4: 32-bit window */
#define HIST_MALLOC_OVERHEAD 16 /* what glibc adds to each allocation */

typedef struct {
	uint64_t last_tick; /* the tick of the newest sample */
	uint64_t seen_tick; /* the tick of the last put */
	uint32_t count;	    /* samples held, gaps included; <= HIST_CAPACITY */
	int pid;
	double cpu_prev; /* CPU seconds at the previous sample; < 0: none */
	double t_prev;	 /* when that was, on the monotonic clock (s) */
	unsigned char ring[HIST_RING_BYTES];
	char name[]; /* the series' name, inline */
} s_proc_t;

typedef struct {
	float size, in_flight, put_rate, get_rate; /* NAN: no sample */
} s_qsample_t;

typedef struct {
	uint64_t last_tick, seen_tick;
	uint32_t count;
	int64_t put_prev, get_prev; /* < 0: none */
	double t_prev;		    /* when that was, on the monotonic clock (s) */
	s_qsample_t ring[HIST_CAPACITY];
	char name[];
} s_queue_t;

typedef struct {
	void **v; /* sorted by name */
	size_t n, cap;
} s_index_t;

struct hist {
	int64_t interval_ms;
	uint64_t tick; /* the current tick, from 1 */
	double now;    /* its Unix time, for the charts' time axis */
	double mono;   /* its CLOCK_MONOTONIC time (s): rates divide by this one */
	s_index_t procs, queues;
	size_t bytes; /* series allocations, overhead included */
};

unsigned
hist_encode(uint64_t v)
{
	unsigned s = 0;
	uint64_t q;

	if (v < 64)
		return (unsigned)v;
	while ((v >> s) >= 128)
		s++;
	/* v >> s is in [64, 128): round to the nearest mantissa. */
	q = s > 0 ? (v + ((uint64_t)1 << (s - 1))) >> s : v;
	if (q >= 128) {
		q >>= 1;
		s++;
	}
	if (s + 1 > 31 || (((s + 1) << 6) | (unsigned)(q - 64)) >= HIST_NONE)
		return HIST_NONE - 1;
	return ((s + 1) << 6) | (unsigned)(q - 64);
}

uint64_t
hist_decode(unsigned code)
{
	unsigned e = (code >> 6) & 31, m = code & 63;

	return e == 0 ? m : (uint64_t)(64 + m) << (e - 1);
}

static void
s_ring_set(unsigned char *ring, size_t slot, uint32_t val)
{
	size_t bit = slot * HIST_BITS, byte = bit >> 3;
	unsigned shift = bit & 7;
	uint32_t w, mask = ((1u << HIST_BITS) - 1) << shift;

	memcpy(&w, ring + byte, 4); /* little-endian hosts (x86, arm64) */
	w = (w & ~mask) | ((val << shift) & mask);
	memcpy(ring + byte, &w, 4);
}

static uint32_t
s_ring_get(const unsigned char *ring, size_t slot)
{
	size_t bit = slot * HIST_BITS, byte = bit >> 3;
	uint32_t w;

	memcpy(&w, ring + byte, 4);
	return (w >> (bit & 7)) & ((1u << HIST_BITS) - 1);
}

/* ---- the index ---- */

static const char *
s_name(const s_index_t *x, size_t i, bool procs)
{
	return procs ? ((s_proc_t *)x->v[i])->name : ((s_queue_t *)x->v[i])->name;
}

/* The position of name in x, or where it would go (*found false). */
static size_t
s_find(const s_index_t *x, const char *name, bool procs, bool *found)
{
	size_t lo = 0, hi = x->n, mid;
	int c;

	*found = false;
	while (lo < hi) {
		mid = (lo + hi) / 2;
		c = strcmp(s_name(x, mid, procs), name);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int
s_insert(hist_t *h, s_index_t *x, size_t at, void *series)
{
	if (x->n == x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 16;
		void **nv = realloc(x->v, cap * sizeof(*nv));

		if (nv == NULL)
			return -ENOMEM;
		h->bytes += (cap - x->cap) * sizeof(*nv) + (x->cap == 0 ? HIST_MALLOC_OVERHEAD : 0);
		x->v = nv;
		x->cap = cap;
	}
	memmove(x->v + at + 1, x->v + at, (x->n - at) * sizeof(*x->v));
	x->v[at] = series;
	x->n++;
	return 0;
}

/* ---- life ---- */

hist_t *
hist_new(int64_t interval_ms)
{
	hist_t *h;

	if (interval_ms <= 0) {
		errno = EINVAL;
		return NULL;
	}
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	h->interval_ms = interval_ms;
	return h;
}

void
hist_destroy(hist_t **hp)
{
	hist_t *h;
	size_t i;

	if (hp == NULL || (h = *hp) == NULL)
		return;
	for (i = 0; i < h->procs.n; i++)
		free(h->procs.v[i]);
	for (i = 0; i < h->queues.n; i++)
		free(h->queues.v[i]);
	free(h->procs.v);
	free(h->queues.v);
	free(h);
	*hp = NULL;
}

int64_t
hist_interval_ms(const hist_t *h)
{
	return h->interval_ms;
}

void
hist_tick_begin(hist_t *h, double now, int64_t mono_ms)
{
	h->tick++;
	h->now = now;
	h->mono = (double)mono_ms / 1000.0;
}

/* Moves a series' ring on to the current tick, leaving gaps for the ticks
   it missed; returns the slot of the current tick. */
static size_t
s_advance(uint64_t tick, uint64_t *last_tick, uint32_t *count, bool fresh,
	  void (*gap)(void *s, size_t slot), void *s)
{
	uint64_t k;

	if (fresh) {
		*count = 1;
	} else if (tick > *last_tick) {
		for (k = *last_tick + 1; k < tick && k + HIST_CAPACITY > tick; k++)
			gap(s, k % HIST_CAPACITY);
		*count = (uint32_t)(*count + (tick - *last_tick) < HIST_CAPACITY
					? *count + (tick - *last_tick)
					: HIST_CAPACITY);
	}
	*last_tick = tick;
	return tick % HIST_CAPACITY;
}

static void
s_proc_gap(void *s, size_t slot)
{
	s_ring_set(((s_proc_t *)s)->ring, slot, HIST_NONE | (HIST_NONE << 11));
}

int
hist_put_process(hist_t *h, const char *name, int pid, double cpu_seconds, int64_t rss_bytes)
{
	s_proc_t *p;
	bool found, fresh = false;
	size_t at = s_find(&h->procs, name, true, &found), len, slot;
	unsigned cpu = HIST_NONE, rss = HIST_NONE;
	double d, dt;

	if (found) {
		p = h->procs.v[at];
	} else {
		len = strlen(name) + 1;
		if ((p = calloc(1, sizeof(*p) + len)) == NULL)
			return -ENOMEM;
		memcpy(p->name, name, len);
		p->cpu_prev = -1;
		if (s_insert(h, &h->procs, at, p) != 0) {
			free(p);
			return -ENOMEM;
		}
		h->bytes += sizeof(*p) + len + HIST_MALLOC_OVERHEAD;
		fresh = true;
	}
	if (p->seen_tick == h->tick && !fresh)
		return 0; /* one sample per tick */
	p->seen_tick = h->tick;
	if (pid > 0 && cpu_seconds >= 0) {
		if (p->pid != pid) {
			/* A new process: its counter started at 0 within the interval. */
			d = cpu_seconds;
			dt = h->interval_ms / 1000.0;
		} else {
			d = cpu_seconds - p->cpu_prev;
			dt = h->mono - p->t_prev;
		}
		if (p->cpu_prev >= 0 || p->pid != pid) {
			if (d < 0)
				d = 0;
			if (dt > 0)
				cpu = hist_encode((uint64_t)llround(d / dt * 1000.0)); /* 0.1 % */
		}
		p->cpu_prev = cpu_seconds;
		p->t_prev = h->mono;
	} else {
		p->cpu_prev = -1;
	}
	p->pid = pid;
	if (pid > 0 && rss_bytes >= 0)
		rss = hist_encode((uint64_t)(rss_bytes + 512) / 1024);
	slot = s_advance(h->tick, &p->last_tick, &p->count, fresh, s_proc_gap, p);
	s_ring_set(p->ring, slot, cpu | (rss << 11));
	return 0;
}

static void
s_queue_gap(void *s, size_t slot)
{
	((s_queue_t *)s)->ring[slot] = (s_qsample_t){NAN, NAN, NAN, NAN};
}

int
hist_put_queue(hist_t *h, const char *name, int64_t size, int64_t in_flight, int64_t put_total,
	       int64_t get_total)
{
	s_queue_t *q;
	bool found, fresh = false;
	size_t at = s_find(&h->queues, name, false, &found), len, slot;
	s_qsample_t smp = {(float)size, (float)in_flight, NAN, NAN};
	double dt;

	if (found) {
		q = h->queues.v[at];
	} else {
		len = strlen(name) + 1;
		if ((q = calloc(1, sizeof(*q) + len)) == NULL)
			return -ENOMEM;
		memcpy(q->name, name, len);
		q->put_prev = q->get_prev = -1;
		if (s_insert(h, &h->queues, at, q) != 0) {
			free(q);
			return -ENOMEM;
		}
		h->bytes += sizeof(*q) + len + HIST_MALLOC_OVERHEAD;
		fresh = true;
	}
	if (q->seen_tick == h->tick && !fresh)
		return 0;
	q->seen_tick = h->tick;
	dt = h->mono - q->t_prev;
	if (q->put_prev >= 0 && dt > 0) {
		smp.put_rate =
		    put_total >= q->put_prev ? (float)((put_total - q->put_prev) / dt) : 0;
		smp.get_rate =
		    get_total >= q->get_prev ? (float)((get_total - q->get_prev) / dt) : 0;
	}
	q->put_prev = put_total;
	q->get_prev = get_total;
	q->t_prev = h->mono;
	slot = s_advance(h->tick, &q->last_tick, &q->count, fresh, s_queue_gap, q);
	q->ring[slot] = smp;
	return 0;
}

/* Drops the series of x not put during the current tick. */
static void
s_sweep(hist_t *h, s_index_t *x, bool procs)
{
	size_t i, o = 0;
	uint64_t seen;

	for (i = 0; i < x->n; i++) {
		seen = procs ? ((s_proc_t *)x->v[i])->seen_tick : ((s_queue_t *)x->v[i])->seen_tick;
		if (seen == h->tick) {
			x->v[o++] = x->v[i];
			continue;
		}
		h->bytes -= (procs ? sizeof(s_proc_t) : sizeof(s_queue_t)) +
			    strlen(s_name(x, i, procs)) + 1 + HIST_MALLOC_OVERHEAD;
		free(x->v[i]);
	}
	x->n = o;
}

void
hist_tick_end(hist_t *h)
{
	s_sweep(h, &h->procs, true);
	s_sweep(h, &h->queues, false);
}

/* ---- upgrade in place ---- */

static const char s_hex[] = "0123456789abcdef";

static json_t *
s_hexstr(const void *p, size_t n)
{
	const unsigned char *b = p;
	char *t = malloc(2 * n + 1);
	json_t *j;
	size_t i;

	if (t == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		t[2 * i] = s_hex[b[i] >> 4];
		t[2 * i + 1] = s_hex[b[i] & 15];
	}
	t[2 * n] = '\0';
	j = json_string(t);
	free(t);
	return j;
}

/* The bytes of a hex string (malloc'd, *n set), or NULL. */
static unsigned char *
s_unhex(const json_t *j, size_t *n)
{
	const char *t = json_string_value(j);
	size_t len = json_string_length(j), i;
	unsigned char *b;
	int hi, lo;

	if (t == NULL || len % 2 != 0 || (b = malloc(len / 2 + 1)) == NULL)
		return NULL;
	for (i = 0; i < len / 2; i++) {
		hi = t[2 * i] <= '9' ? t[2 * i] - '0' : t[2 * i] - 'a' + 10;
		lo = t[2 * i + 1] <= '9' ? t[2 * i + 1] - '0' : t[2 * i + 1] - 'a' + 10;
		if (hi < 0 || hi > 15 || lo < 0 || lo > 15) {
			free(b);
			return NULL;
		}
		b[i] = (unsigned char)(hi << 4 | lo);
	}
	*n = len / 2;
	return b;
}

static char *
s_layout(void)
{
	char *l = NULL;

	if (asprintf(&l, "procs %zu queues %zu capacity %d bits %d", sizeof(s_proc_t),
		     sizeof(s_queue_t), HIST_CAPACITY, HIST_BITS) < 0)
		return NULL;
	return l;
}

json_t *
hist_export(const hist_t *h)
{
	char *layout = s_layout();
	json_t *o, *procs, *queues;
	size_t i;

	if (layout == NULL)
		return NULL;
	o = json_pack("{s:s, s:I, s:I, s:f, s:[], s:[]}", "layout", layout, "interval_ms",
		      (json_int_t)h->interval_ms, "tick", (json_int_t)h->tick, "now", h->now,
		      "procs", "queues");
	free(layout);
	procs = json_object_get(o, "procs");
	queues = json_object_get(o, "queues");
	for (i = 0; o != NULL && i < h->procs.n; i++)
		if (json_array_append_new(procs, s_hexstr(h->procs.v[i],
							   sizeof(s_proc_t) +
							       strlen(s_name(&h->procs, i, true)) +
							       1)) != 0)
			goto nomem;
	for (i = 0; o != NULL && i < h->queues.n; i++)
		if (json_array_append_new(queues,
					  s_hexstr(h->queues.v[i],
						   sizeof(s_queue_t) +
						       strlen(s_name(&h->queues, i, false)) + 1)) != 0)
			goto nomem;
	return o;
nomem:
	json_decref(o);
	return NULL;
}

static int
s_import_list(hist_t *h, s_index_t *x, const json_t *list, bool procs)
{
	size_t head = procs ? sizeof(s_proc_t) : sizeof(s_queue_t), i, n, at;
	unsigned char *b;
	const char *name;
	bool found;
	json_t *e;

	json_array_foreach (list, i, e) {
		if ((b = s_unhex(e, &n)) == NULL || n <= head || b[n - 1] != '\0' ||
		    strlen((char *)b + head) != n - head - 1) {
			free(b);
			return -EINVAL;
		}
		name = (char *)b + head;
		at = s_find(x, name, procs, &found);
		if (found || s_insert(h, x, at, b) != 0) {
			free(b);
			return found ? -EINVAL : -ENOMEM;
		}
		h->bytes += n + HIST_MALLOC_OVERHEAD;
	}
	return 0;
}

hist_t *
hist_import(const json_t *state, int64_t interval_ms)
{
	char *layout = s_layout();
	hist_t *h = NULL;

	if (layout == NULL)
		return NULL;
	if (!json_is_string(json_object_get(state, "layout")) ||
	    strcmp(json_string_value(json_object_get(state, "layout")), layout) != 0 ||
	    json_integer_value(json_object_get(state, "interval_ms")) != interval_ms ||
	    (h = hist_new(interval_ms)) == NULL)
		goto bad;
	h->tick = (uint64_t)json_integer_value(json_object_get(state, "tick"));
	h->now = json_real_value(json_object_get(state, "now"));
	if (s_import_list(h, &h->procs, json_object_get(state, "procs"), true) != 0 ||
	    s_import_list(h, &h->queues, json_object_get(state, "queues"), false) != 0)
		goto bad;
	free(layout);
	return h;
bad:
	free(layout);
	hist_destroy(&h);
	errno = EINVAL;
	return NULL;
}

/* ---- reading ---- */

static json_t *
s_num(double v)
{
	return isnan(v) ? json_null() : json_real(v);
}

json_t *
hist_json(const hist_t *h, const char *kind, const char *name)
{
	bool procs = strcmp(kind, "process") == 0, found;
	const s_index_t *x = procs ? &h->procs : &h->queues;
	uint64_t last, first, k;
	uint32_t count;
	json_t *o, *t, *a, *b, *c = NULL, *d = NULL;
	size_t at;

	if (!procs && strcmp(kind, "queue") != 0)
		return NULL;
	at = s_find(x, name, procs, &found);
	if (!found)
		return NULL;
	if (procs) {
		last = ((s_proc_t *)x->v[at])->last_tick;
		count = ((s_proc_t *)x->v[at])->count;
	} else {
		last = ((s_queue_t *)x->v[at])->last_tick;
		count = ((s_queue_t *)x->v[at])->count;
	}
	first = last + 1 - count;
	t = json_array();
	a = json_array();
	b = json_array();
	if (!procs) {
		c = json_array();
		d = json_array();
	}
	for (k = first; k <= last; k++) {
		size_t slot = k % HIST_CAPACITY;

		json_array_append_new(
		    t, json_real(h->now - (double)(h->tick - k) * (double)h->interval_ms / 1000.0));
		if (procs) {
			uint32_t v = s_ring_get(((s_proc_t *)x->v[at])->ring, slot);
			unsigned cpu = v & 0x7ff, rss = (v >> 11) & 0x7ff;

			json_array_append_new(a, cpu == HIST_NONE
						     ? json_null()
						     : json_real((double)hist_decode(cpu) / 10.0));
			json_array_append_new(
			    b, rss == HIST_NONE
				   ? json_null()
				   : json_integer((json_int_t)hist_decode(rss) * 1024));
		} else {
			const s_qsample_t *s = &((s_queue_t *)x->v[at])->ring[slot];

			json_array_append_new(a, s_num(s->size));
			json_array_append_new(b, s_num(s->in_flight));
			json_array_append_new(c, s_num(s->put_rate));
			json_array_append_new(d, s_num(s->get_rate));
		}
	}
	o = json_pack("{s:s, s:f, s:i, s:o}", "name", name, "interval_s",
		      (double)h->interval_ms / 1000.0, "capacity", HIST_CAPACITY, "t", t);
	if (procs) {
		json_object_set_new(o, "cpu_percent", a);
		json_object_set_new(o, "rss_bytes", b);
	} else {
		json_object_set_new(o, "size", a);
		json_object_set_new(o, "in_flight", b);
		json_object_set_new(o, "put_rate", c);
		json_object_set_new(o, "get_rate", d);
	}
	return o;
}

size_t
hist_bytes(const hist_t *h)
{
	return sizeof(*h) + HIST_MALLOC_OVERHEAD + h->bytes;
}

size_t
hist_count(const hist_t *h, const char *kind)
{
	return strcmp(kind, "process") == 0 ? h->procs.n : h->queues.n;
}
