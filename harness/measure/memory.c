/*
 * memory.c - reset and read the resident-set high-water mark (memory.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/measure/memory.h"

int qb_mem_reset_peak(char *err, size_t errlen)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) {
        snprintf(err, errlen, "cannot open /proc/self/clear_refs: %s", strerror(errno));
        return -1;
    }
    int bad = fputs("5", f) < 0;
    if (fclose(f) || bad) {
        snprintf(err, errlen, "cannot reset the peak resident set (/proc/self/clear_refs 5): %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* The value of "KEY:  N kB" in /proc/self/status, or -1. */
static long status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    size_t k = strlen(key);
    long v = -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, k) && line[k] == ':') {
            char *end;
            v = strtol(line + k + 1, &end, 10);
            if (end == line + k + 1)
                v = -1;
            break;
        }
    fclose(f);
    return v;
}

long qb_mem_peak_kb(void) { return status_kb("VmHWM"); }

long qb_mem_rss_kb(void) { return status_kb("VmRSS"); }
