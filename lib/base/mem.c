/* mem: see mem.h. */
#include "mem.h"

#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <unistd.h>

static size_t s_baseline; /* the resident set after the last trim */

size_t
mem_rss_bytes(void)
{
	char buf[128];
	unsigned long size = 0, resident = 0;
	ssize_t n;
	int fd;

	if ((fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	if (sscanf(buf, "%lu %lu", &size, &resident) != 2)
		return 0;
	return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

size_t
mem_trim_if_grown(size_t slack_bytes)
{
	size_t rss = mem_rss_bytes(), after;

	if (rss == 0)
		return 0;
	if (s_baseline == 0) {
		s_baseline = rss;
		return 0;
	}
	if (rss <= s_baseline + slack_bytes) {
		if (rss < s_baseline)
			s_baseline = rss;
		return 0;
	}
	malloc_trim(0);
	after = mem_rss_bytes();
	s_baseline = after != 0 ? after : rss;
	return after != 0 && after < rss ? rss - after : 0;
}
