/*
 * placement.c - a random heap offset and a CPU in turn per round
 * (placement.h).
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
 *
 * The pads did not reach the largest between-run effect, though: the mlp
 * fp32 cells ran 35-45% slower on one vCPU of the development VM than on
 * the other, whatever the pages (a stream over fresh pages, over 2 MB
 * huge pages, pinned to either vCPU: docs/measurement.md, "The CPU, not
 * the pages"), and a one-thread process stays on the CPU it started on.
 * So the rounds of a one-thread cell also start on the CPUs in turn:
 * every process samples both CPUs, and the spread between its rounds
 * (blocks.h, qb_robust_rounds) holds what the CPU does to the time. The
 * thread is moved, not held there: pinned rounds under load (other
 * processes on both CPUs) were noisier and their intervals held less
 * often than free ones, as the scheduler could no longer take them to
 * the less busy CPU; moved and free, a round stays where it was put on a
 * quiet machine, and under load is as free as before.
 */
#define _GNU_SOURCE
#include <sched.h>
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

/* The calling thread's affinity mask at the first call, and its CPUs in order. */
static struct {
    int known;       /* 1 once read (or tried) */
    cpu_set_t mask;  /* the mask then */
    int n;           /* CPUs in it (0: could not read) */
    int cpu[64];     /* the first 64 of them, in order */
} first;

static void read_first(void)
{
    if (first.known)
        return;
    first.known = 1;
    if (sched_getaffinity(0, sizeof first.mask, &first.mask))
        return;
    for (int c = 0; c < CPU_SETSIZE && first.n < 64; c++)
        if (CPU_ISSET(c, &first.mask))
            first.cpu[first.n++] = c;
}

int qb_place_cpus(int most)
{
    read_first();
    int n = first.n < most ? first.n : most;
    return n > 1 ? n : 1;
}

int qb_place_on_cpu(int round, int n, int hold)
{
    read_first();
    if (n > first.n)
        n = first.n;
    if (n < 1 || round < 0)
        return -1;
    cpu_set_t one;
    CPU_ZERO(&one);
    int c = first.cpu[round % n];
    CPU_SET(c, &one);
    if (sched_setaffinity(0, sizeof one, &one)) /* (the move happens here, before it returns) */
        return -1;
    if (!hold)
        qb_place_cpu_end();
    return c;
}

void qb_place_cpu_end(void)
{
    if (first.n > 0)
        sched_setaffinity(0, sizeof first.mask, &first.mask);
}
