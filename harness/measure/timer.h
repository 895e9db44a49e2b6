/*
 * timer.h - monotonic wall-clock time and order statistics of repeated
 * timings (min, median, mean, percentiles, standard deviation, CV).
 */
#ifndef QB_TIMER_H
#define QB_TIMER_H

#include <stddef.h>

/* Seconds from CLOCK_MONOTONIC. */
double qb_now(void);

typedef struct qb_stats {
    size_t n;       /* samples */
    double min;     /* smallest */
    double median;  /* middle (mean of the two middle ones for even n) */
    double mean;    /* arithmetic mean */
    double p95;     /* 95th percentile, linear interpolation */
    double p99;     /* 99th percentile */
    double stddev;  /* sample standard deviation (n - 1) */
    double cv;      /* stddev / mean */
} qb_stats;

/* Statistics of x[0..n-1]; sorts x in place. */
qb_stats qb_stats_of(double *x, size_t n);

#endif
