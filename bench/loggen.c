/* loggen: writes BYTES of deterministic text to stdout, for the log capture
   benchmark. Every 64 KiB block starts with its own offset ("#%015llx\n"),
   the rest is a slice of a fixed pseudo-random text (printable, a newline
   every 128 bytes), so a lost, repeated or reordered block changes the
   sha256 of the capture. The output is the same on every run: run.py hashes
   `loggen BYTES` once and compares every captured copy with it.

   With TIMEFILE, writes "START END\n" there at the end: CLOCK_MONOTONIC
   seconds before the first write and after the last one returned (the same
   clock as Python's time.monotonic()). Cheap by design: writev of a stamp and
   a slice, no copy, so the reader is what is measured. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define BLOCK (64 * 1024)
#define STAMP 17		/* "#" + 15 hex digits + "\n" */
#define PATTERN (4 * 1024 * 1024)

static char s_pattern[PATTERN + BLOCK];

static double
s_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
s_fill(void)
{
	static const char alphabet[] =
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .";
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	size_t i;

	for (i = 0; i < sizeof(s_pattern); i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		s_pattern[i] = (i % 128 == 127) ? '\n' : alphabet[x & 63];
	}
}

/* Writes all of iov (two entries), resuming after short writes. */
static int
s_writev_all(struct iovec *iov, int cnt)
{
	ssize_t n;

	while (cnt > 0) {
		n = writev(STDOUT_FILENO, iov, cnt);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		while (cnt > 0 && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt > 0) {
			iov->iov_base = (char *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

int
main(int argc, char **argv)
{
	unsigned long long total, off;
	char stamp[32];
	struct iovec iov[2];
	double t0, t1;
	size_t len, at;
	FILE *f;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: loggen BYTES [TIMEFILE]\n");
		return 2;
	}
	total = strtoull(argv[1], NULL, 10);
	s_fill();
	t0 = s_now();
	for (off = 0; off < total; off += len) {
		len = total - off < BLOCK ? (size_t)(total - off) : BLOCK;
		snprintf(stamp, sizeof(stamp), "#%015llx\n", off & 0xfffffffffffffffULL);
		at = (size_t)((off / BLOCK * 7919 * 64) % PATTERN);
		iov[0].iov_base = stamp;
		iov[0].iov_len = len < STAMP ? len : STAMP;
		iov[1].iov_base = s_pattern + at;
		iov[1].iov_len = len - iov[0].iov_len;
		if (s_writev_all(iov, iov[1].iov_len ? 2 : 1) != 0) {
			fprintf(stderr, "loggen: write: %s\n", strerror(errno));
			return 1;
		}
	}
	t1 = s_now();
	if (argc == 3) {
		if ((f = fopen(argv[2], "w")) == NULL) {
			fprintf(stderr, "loggen: %s: %s\n", argv[2], strerror(errno));
			return 1;
		}
		fprintf(f, "%.9f %.9f\n", t0, t1);
		fclose(f);
	}
	return 0;
}
