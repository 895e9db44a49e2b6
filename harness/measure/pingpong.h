/*
 * pingpong.h - how far apart the host put two CPUs: the median round
 * trip of a cache line between two threads pinned to the first two CPUs
 * of the calling thread's affinity mask. On the development VM the two
 * vCPUs are either "close" (85-120 ns) or "far" (315-420 ns), switching
 * within minutes, and two-thread speed-ups follow it (docs/engine.md,
 * "Two threads and the cores' caches"); `qbench info` prints it and the
 * bench scripts record it per round, so that a two-thread figure says in
 * which state it was taken (docs/measurement.md, "Where the two vCPUs
 * are"). It changes no result.
 */
#ifndef QB_PINGPONG_H
#define QB_PINGPONG_H

#include <stddef.h>

/* Round trips timed by default (a few thousand: milliseconds). */
#define QB_PINGPONG_TRIPS 4000

/* Round trips per timed batch: one clock reading per batch, so the
 * clock's own cost (tens of ns) is spread over the batch. */
#define QB_PINGPONG_BATCH 40

/* Give up when the other thread has not answered for this long (seconds;
 * a machine so busy that the partner is not scheduled). */
#define QB_PINGPONG_PATIENCE_S 2.0

/* The whole measurement's time budget (seconds, warm-up included). Where
 * a round trip costs a scheduler switch (valgrind runs one thread at a
 * time, an emulator, a single busy CPU) 4000 trips take minutes: the
 * timed batches stop at the budget, and the figure is the median of
 * those done if there are at least QB_PINGPONG_MIN_BATCHES, else no
 * figure (a sentence says why). */
#define QB_PINGPONG_BUDGET_S 1.0
#define QB_PINGPONG_MIN_BATCHES 10

/* One measurement. */
typedef struct qb_pingpong {
    int cpu_a;        /* the CPU of the thread that starts each trip */
    int cpu_b;        /* the CPU of the thread that answers */
    size_t trips;     /* round trips timed (warm-up excluded) */
    size_t batches;   /* timed batches (trips / QB_PINGPONG_BATCH) */
    double median_ns; /* median over the batches of a batch's mean round trip, ns */
    double q1_ns;     /* 25th percentile of the batches' round trips, ns */
    double q3_ns;     /* 75th percentile, ns */
} qb_pingpong;

/* Time `trips` round trips (0: QB_PINGPONG_TRIPS) of one cache line
 * between two threads, each pinned to one of the first two CPUs of the
 * calling thread's affinity mask (the caller's own mask is not changed):
 * one thread writes the line, the other sees it and writes it back.
 * The robust median over batches of QB_PINGPONG_BATCH trips drops the
 * batches in which a thread was descheduled. 0, or -1 with why (a
 * sentence) when it cannot measure: fewer than two CPUs in the mask, a
 * thread that could not be created or pinned, a partner that did not
 * answer within QB_PINGPONG_PATIENCE_S, fewer than
 * QB_PINGPONG_MIN_BATCHES batches within QB_PINGPONG_BUDGET_S. */
int qb_pingpong_measure(size_t trips, qb_pingpong *out, char *why, size_t whylen);

#endif
