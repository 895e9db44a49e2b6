/*
 * placement.c - a random heap offset per round (placement.h).
 *
 * A cell's later rounds reload its model and re-allocate its buffers, but
 * malloc hands back the blocks the previous round freed: every round of
 * one process ran on the same addresses and the same physical pages, so
 * the spread between rounds could not see what the placement does to
 * the time (cache-set and page conflicts), while between two runs of the
 * sweep it differs (ASLR, the allocation history). On a quiet machine the
 * medians of repeated sweeps moved 1.8x as much as the rounds' interval
 * said (docs/measurement.md). A pad of random size taken first moves the
 * round's model, arena and input buffers to other offsets and pages. The
 * idea is Stabilizer's (Curtsinger and Berger, "STABILIZER: statistically
 * sound performance evaluation", ASPLOS 2013), which re-randomizes the
 * layout while the program runs so that timings become independent
 * draws over layouts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness/measure/placement.h"

void *qb_place_begin(void)
{
    static uint64_t state;
    if (!state) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        state = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 40);
    }
    state += 0x9e3779b97f4a7c15ull; /* splitmix64 */
    uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    /* below glibc's first mmap threshold (128 KiB): from the heap itself */
    size_t bytes = (size_t)(z % 32) * 4096 + (size_t)((z >> 8) % 64 + 1) * 64;
    char *p = malloc(bytes);
    if (p)
        memset(p, 0, bytes); /* resident: what follows takes other pages */
    return p;
}

void qb_place_end(void *pad) { free(pad); }
