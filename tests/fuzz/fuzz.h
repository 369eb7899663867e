/* fuzz: what the libFuzzer harnesses share. Each harness is one decoder of
   outside input; libFuzzer calls LLVMFuzzerTestOneInput() with every input,
   and a crash, a sanitizer report, a leak or a failed FUZZ_CHECK is a
   finding. */
#ifndef DROVER_FUZZ_H
#define DROVER_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* An invariant of the code under test; unlike assert(), never compiled out. */
#define FUZZ_CHECK(cond)                                                                   \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, __LINE__, \
				#cond);                                                    \
			abort();                                                           \
		}                                                                          \
	} while (0)

/* Input split into fields: the harnesses that need several values take them
   from the front of the input, and the rest is the payload. */
typedef struct {
	const uint8_t *p;
	size_t n;
} fuzz_in_t;

static inline uint8_t
fuzz_u8(fuzz_in_t *in)
{
	uint8_t v = 0;

	if (in->n > 0) {
		v = *in->p++;
		in->n--;
	}
	return v;
}

static inline uint32_t
fuzz_u32(fuzz_in_t *in)
{
	uint32_t v = 0;
	int i;

	for (i = 0; i < 4; i++)
		v = v << 8 | fuzz_u8(in);
	return v;
}

/* The next field: a length byte, then that many bytes (fewer at the end). */
static inline size_t
fuzz_field(fuzz_in_t *in, const uint8_t **p)
{
	size_t n = fuzz_u8(in);

	if (n > in->n)
		n = in->n;
	*p = in->p;
	in->p += n;
	in->n -= n;
	return n;
}

#endif
