/*
 * loop.h - the measurement loop of a sweep cell or kernel benchmark:
 * calibration of the clock (resolution and read overhead), calls per
 * sample so that one sample lasts at least 10x both, warm-up until the
 * running median settles, timed samples until a minimum count and a
 * minimum time, robust statistics (robust.h) and re-measurement while
 * the median's 95% confidence interval is wider than a threshold; CPU
 * pinning; the loop's own overhead. The clock can be injected (tests).
 */
#ifndef QB_LOOP_H
#define QB_LOOP_H

#include <stddef.h>

#include "harness/measure/robust.h"
#include "harness/measure/timer.h"

/* One inference. iter counts every call (warm-up included) so the
 * callee can rotate input buffers. Nonzero: failure (stops the loop). */
typedef int (*qb_measure_fn)(void *ctx, long iter);

/* A clock: seconds, monotonic. */
typedef double (*qb_clock_fn)(void *ctx);

/* How to measure. Zero fields take the defaults named. */
typedef struct qb_measure_cfg {
    int warmup;           /* at least this many untimed calls before each attempt */
    double warmup_max_s;  /* warm-up ends after this long even if the median still moves (0: 1 s) */
    int iterations;       /* at least this many timed samples ... */
    double min_time_s;    /* ... and at least this many seconds of them */
    int max_iterations;   /* never more timed samples than this per attempt */
    double ci_threshold;  /* re-measure while the median's CI half-width / median exceeds this (fraction);
                             0: use cv_threshold (stddev / mean) instead */
    double cv_threshold;  /* the older rule, used only when ci_threshold is 0 */
    int retries;          /* re-measurements allowed */
    double min_sample_s;  /* shortest sample: calls are grouped until one sample lasts this long;
                             0: 10x the larger of the clock's resolution and read overhead (measured);
                             < 0: one call per sample */
    int keep_samples;     /* return the kept attempt's samples in qb_measure_result.samples */
    qb_clock_fn clock;    /* the clock (NULL: qb_now, CLOCK_MONOTONIC) */
    void *clock_ctx;      /* its context */
} qb_measure_cfg;

/* What was measured (times in seconds, per call). */
typedef struct qb_measure_result {
    qb_stats st;          /* classic statistics of the kept attempt (mean, stddev, CV, ...) */
    qb_robust rob;        /* robust statistics of the kept attempt (median, CI, MAD, outliers, ...) */
    int attempts;         /* attempts made (1 + retries used) */
    int noisy;            /* the kept attempt still fails the rule (CI or CV) after every attempt */
    long calls;           /* calls of fn in all (warm-up included) */
    long calls_per_sample;/* calls timed together as one sample (sample = their total / this) */
    long warmup_calls;    /* untimed calls of the kept attempt's warm-up */
    double total_s;       /* wall time of the whole measurement */
    double clock_resolution_s; /* the clock's measured resolution (0 when not measured) */
    double clock_overhead_s;   /* one clock read (0 when not measured) */
    double *samples;      /* keep_samples: the kept attempt's samples in time order (free with
                             qb_measure_result_free), else NULL */
} qb_measure_result;

/* Measure fn. 0, or -1 when fn failed (its message is the caller's) or
 * memory ran out (message in err). */
int qb_measure(const qb_measure_cfg *cfg, qb_measure_fn fn, void *ctx, qb_measure_result *out, char *err,
               size_t errlen);
/* Free the samples of a result (safe on any result, twice too). */
void qb_measure_result_free(qb_measure_result *r);

/* What a sweep-level warm-up did (qb_measure_settle). */
typedef struct qb_settle_result {
    double spent_s;       /* seconds spent */
    int blocks;           /* blocks timed */
    int settled;          /* 1: the last two blocks' medians agreed; 0: the time bound ended it */
    double last_change;   /* relative change between the last two blocks' medians */
} qb_settle_result;

/* A warm-up of the whole machine before a sweep's first cell: fn (a
 * fixed amount of work per call) is timed in blocks of at least block_s
 * seconds until two consecutive blocks' medians differ by at most tol
 * (a fraction) and at least min_s seconds have passed, or max_s seconds
 * have. clock NULL: qb_now. 0, or -1 when fn failed. */
int qb_measure_settle(qb_measure_fn fn, void *ctx, qb_clock_fn clock, void *clock_ctx, double block_s, double tol,
                      double min_s, double max_s, qb_settle_result *out);

/* A fixed amount of integer work (a dependent multiply-add chain of
 * about 20,000 steps) for qb_measure_settle; ctx unused. Always 0. */
int qb_spin_work(void *ctx, long iter);

/* The resolution of a clock (smallest positive step seen between
 * consecutive reads) and the cost of one read (mean over a burst), as
 * Google Benchmark estimates them. clock NULL: qb_now. */
void qb_clock_calibrate(qb_clock_fn clock, void *ctx, double *resolution, double *overhead);

/* The loop's overhead, measured with an empty fn over n iterations:
 * *in_sample: seconds added to each timed sample (clock read and the
 * call); *per_iter: wall seconds per iteration including bookkeeping. */
void qb_measure_overhead(long n, double *in_sample, double *per_iter);

/* Pin the calling thread to one CPU (sched_setaffinity). 0, or -1 with
 * the reason in err. */
int qb_pin_cpu(int cpu, char *err, size_t errlen);

#endif
