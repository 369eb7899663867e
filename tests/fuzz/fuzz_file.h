/* fuzz_file: the readers that take a path get the input as a file: one
   memfd per process, rewritten for every input and opened by its
   /proc/self/fd path, so nothing touches the disk. */
#ifndef DROVER_FUZZ_FILE_H
#define DROVER_FUZZ_FILE_H

#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"

/* Makes the file hold data; returns its path (static storage). */
static inline const char *
fuzz_file(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	size_t off = 0;
	ssize_t n;

	if (fd < 0) {
		FUZZ_CHECK((fd = memfd_create("fuzz-input", MFD_CLOEXEC)) >= 0);
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	FUZZ_CHECK(ftruncate(fd, 0) == 0);
	while (off < size) {
		FUZZ_CHECK((n = pwrite(fd, data + off, size - off, (off_t)off)) > 0);
		off += (size_t)n;
	}
	return path;
}

#endif
