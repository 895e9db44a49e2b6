/*
 * loop.h - the measurement loop of a sweep cell: warm-up, timed
 * iterations on the monotonic clock until a minimum count and a minimum
 * time, statistics (qb_stats_of from timer.h), re-measurement while the
 * coefficient of variation exceeds a threshold; CPU pinning; the loop's
 * own overhead.
 */
#ifndef QB_LOOP_H
#define QB_LOOP_H

#include <stddef.h>

#include "harness/measure/timer.h"

/* One inference. iter counts every call (warm-up included) so the
 * callee can rotate input buffers. Nonzero: failure (stops the loop). */
typedef int (*qb_measure_fn)(void *ctx, long iter);

/* How to measure. */
typedef struct qb_measure_cfg {
    int warmup;          /* untimed calls before each attempt */
    int iterations;      /* at least this many timed calls ... */
    double min_time_s;   /* ... and at least this many seconds of them */
    int max_iterations;  /* never more timed calls than this per attempt */
    double cv_threshold; /* re-measure while stddev/mean exceeds this (fraction) */
    int retries;         /* re-measurements allowed */
} qb_measure_cfg;

/* What was measured (times in seconds). */
typedef struct qb_measure_result {
    qb_stats st;         /* statistics of the kept attempt (the lowest CV) */
    int attempts;        /* attempts made (1 + retries used) */
    int noisy;           /* CV still above the threshold after every attempt */
    long calls;          /* calls of fn in all (warm-up included) */
    double total_s;      /* wall time of the whole measurement */
} qb_measure_result;

/* Measure fn. 0, or -1 when fn failed (its message is the caller's) or
 * memory ran out (message in err). */
int qb_measure(const qb_measure_cfg *cfg, qb_measure_fn fn, void *ctx, qb_measure_result *out, char *err,
               size_t errlen);

/* The loop's overhead, measured with an empty fn over n iterations:
 * *in_sample: seconds added to each timed sample (clock read and the
 * call); *per_iter: wall seconds per iteration including bookkeeping. */
void qb_measure_overhead(long n, double *in_sample, double *per_iter);

/* Pin the calling thread to one CPU (sched_setaffinity). 0, or -1 with
 * the reason in err. */
int qb_pin_cpu(int cpu, char *err, size_t errlen);

#endif
