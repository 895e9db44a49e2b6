/*
 * robust.h - robust statistics of repeated timings: median, percentiles,
 * IQR, MAD, a robust coefficient of variation, the distribution-free 95%
 * confidence interval of the median (order statistics) and the Tukey
 * outlier count. Pure functions, no clock, no I/O (docs/measurement.md).
 */
#ifndef QB_ROBUST_H
#define QB_ROBUST_H

#include <stddef.h>

/* Robust summary of n samples. Percentiles use linear interpolation
 * between order statistics (x(1) .. x(n), position p * (n - 1)), the same
 * rule as qb_stats_of, R's type 7 and numpy's default. */
typedef struct qb_robust {
    size_t n;          /* samples */
    double min;        /* smallest */
    double max;        /* largest */
    double mean;       /* arithmetic mean */
    double stddev;     /* sample standard deviation (n - 1); 0 for n = 1 */
    double median;     /* 50th percentile */
    double p5;         /* 5th percentile */
    double p95;        /* 95th percentile */
    double p99;        /* 99th percentile */
    double q1, q3;     /* 25th and 75th percentiles */
    double iqr;        /* q3 - q1 */
    double mad;        /* median absolute deviation from the median (unscaled) */
    double robust_cv;  /* 1.4826 * mad / median: the CV a normal distribution with this MAD would have */
    double ci_low;     /* 95% confidence interval of the median: order statistic x(l) ... */
    double ci_high;    /* ... x(n + 1 - l), l the largest with P(Binomial(n, 1/2) < l) <= 0.025 */
    double ci_level;   /* exact coverage of [ci_low, ci_high] (>= 0.95; less when n < 6: then [min, max]) */
    double ci_rel;     /* (ci_high - ci_low) / (2 * median): the interval's half-width relative to the median */
    size_t outliers;   /* samples outside Tukey's fences [q1 - 1.5 iqr, q3 + 1.5 iqr] */
    size_t blocks;     /* blocks (rounds) the samples came in: 1 here; qb_robust_blocks (blocks.h) sets more */
    double ci_within_rel;  /* half-width / median of the pooled order-statistic interval alone */
    double ci_between_rel; /* half-width / median from the spread of the blocks' medians (0: one block) */
    size_t batch_rounds; /* rounds per batch of the batch-means term (qb_robust_rounds); 0: not used */
} qb_robust;

/* Scale that makes the MAD of a normal distribution its standard deviation. */
#define QB_MAD_TO_SIGMA 1.4826

/* The summary of x[0..n-1] (x is not modified). 0, or -1 when n is 0 or
 * memory ran out (then *out is all zero). */
int qb_robust_of(const double *x, size_t n, qb_robust *out);

/* The 1-based rank l of the lower end of the order-statistic confidence
 * interval of the median at level 1 - alpha (upper end: n + 1 - l), and
 * its exact coverage in *level. 0 when no l >= 1 reaches the level
 * (n too small); then *level is the coverage of [x(1), x(n)]. */
size_t qb_median_ci_rank(size_t n, double alpha, double *level);

/* P(Binomial(n, 1/2) <= k), summed in log space (exact up to rounding
 * for any n). */
double qb_binom_half_cdf(size_t n, size_t k);

/* Linear-interpolation percentile (p in [0, 1]) of sorted s[0..n-1]. */
double qb_percentile_sorted(const double *s, size_t n, double p);

#endif
