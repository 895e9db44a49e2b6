/*
 * memory.h - per-cell peak memory of this process: the kernel's
 * resident-set high-water mark (VmHWM) is reset before a cell through
 * /proc/self/clear_refs ("5") and read after it, so each cell reports its
 * own peak instead of the largest cell's so far (docs/measurement.md).
 */
#ifndef QB_MEMORY_H
#define QB_MEMORY_H

#include <stddef.h>

/* Reset the resident-set high-water mark to the current resident set.
 * 0, or -1 with the reason in err (no /proc, or a kernel without the
 * reset: then the peak is the process's lifetime peak). */
int qb_mem_reset_peak(char *err, size_t errlen);

/* The resident-set high-water mark in KiB (VmHWM of /proc/self/status),
 * or -1 when it cannot be read. */
long qb_mem_peak_kb(void);

/* The current resident set in KiB (VmRSS), or -1. */
long qb_mem_rss_kb(void);

#endif
