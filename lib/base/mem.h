/* mem: giving back to the kernel what a burst left. glibc keeps the memory
   freed after a burst for later (in droverd: the agents' events of a group
   restart, parsed and applied, and ZeroMQ's buffers and queue chunks in its
   I/O thread's arena, some 6 MiB with 100 agents); malloc_trim(0) returns
   the free pages of every arena. */
#ifndef DROVER_MEM_H
#define DROVER_MEM_H

#include <stddef.h>

/* The resident set of this process in bytes (/proc/self/statm), or 0. */
size_t mem_rss_bytes(void);

/* Calls malloc_trim(0) when the resident set has grown by more than
   slack_bytes since the last trim (or since the first call); otherwise it
   costs one read of /proc/self/statm. Returns the bytes given back (0 when
   it did not trim). For a periodic tick of a long-lived loop. */
size_t mem_trim_if_grown(size_t slack_bytes);

#endif
