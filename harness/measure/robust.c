/*
 * robust.c - robust statistics of repeated timings (robust.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness/measure/robust.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double qb_percentile_sorted(const double *s, size_t n, double p)
{
    if (n == 0)
        return NAN;
    double pos = p * (double)(n - 1);
    size_t lo = (size_t)pos;
    if (lo + 1 >= n)
        return s[n - 1];
    return s[lo] + (pos - (double)lo) * (s[lo + 1] - s[lo]);
}

double qb_binom_half_cdf(size_t n, size_t k)
{
    if (k >= n)
        return 1.0;
    /* log pmf(0) = -n log 2; pmf(j + 1) = pmf(j) (n - j) / (j + 1) */
    double lp = -(double)n * log(2.0), cdf = 0;
    for (size_t j = 0; j <= k; j++) {
        cdf += exp(lp);
        lp += log((double)(n - j)) - log((double)(j + 1));
    }
    return cdf > 1 ? 1 : cdf;
}

size_t qb_median_ci_rank(size_t n, double alpha, double *level)
{
    /* [x(l), x(n+1-l)] misses the median when at most l - 1 samples lie
     * below it or at most l - 1 above: probability 2 P(B <= l - 1). */
    double lp = -(double)n * log(2.0), cdf = 0;
    size_t l = 0;
    for (size_t j = 0; 2 * (j + 1) <= n + 1; j++) {
        double next = cdf + exp(lp);
        if (next > alpha / 2)
            break;
        cdf = next;
        l = j + 1;
        lp += log((double)(n - j)) - log((double)(j + 1));
    }
    if (level)
        *level = l ? 1 - 2 * cdf : (n ? 1 - 2 * exp(-(double)n * log(2.0)) : 0);
    return l;
}

int qb_robust_of(const double *x, size_t n, qb_robust *out)
{
    memset(out, 0, sizeof *out);
    if (n == 0)
        return -1;
    double *s = malloc(n * sizeof *s);
    if (!s)
        return -1;
    memcpy(s, x, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_double);
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += s[i];
    out->n = n;
    out->min = s[0];
    out->max = s[n - 1];
    out->mean = sum / (double)n;
    double ss = 0;
    for (size_t i = 0; i < n; i++)
        ss += (s[i] - out->mean) * (s[i] - out->mean);
    out->stddev = n > 1 ? sqrt(ss / (double)(n - 1)) : 0;
    out->median = qb_percentile_sorted(s, n, 0.5);
    out->p5 = qb_percentile_sorted(s, n, 0.05);
    out->p95 = qb_percentile_sorted(s, n, 0.95);
    out->p99 = qb_percentile_sorted(s, n, 0.99);
    out->q1 = qb_percentile_sorted(s, n, 0.25);
    out->q3 = qb_percentile_sorted(s, n, 0.75);
    out->iqr = out->q3 - out->q1;
    double lo_fence = out->q1 - 1.5 * out->iqr, hi_fence = out->q3 + 1.5 * out->iqr;
    for (size_t i = 0; i < n; i++)
        out->outliers += s[i] < lo_fence || s[i] > hi_fence;
    size_t l = qb_median_ci_rank(n, 0.05, &out->ci_level);
    out->ci_low = l ? s[l - 1] : s[0];
    out->ci_high = l ? s[n - l] : s[n - 1];
    out->ci_rel = out->median > 0 ? (out->ci_high - out->ci_low) / (2 * out->median) : 0;
    out->ci_within_rel = out->ci_rel;
    out->blocks = 1;
    /* MAD: median of |x - median| (reuse s) */
    for (size_t i = 0; i < n; i++)
        s[i] = fabs(s[i] - out->median);
    qsort(s, n, sizeof *s, cmp_double);
    out->mad = qb_percentile_sorted(s, n, 0.5);
    out->robust_cv = out->median > 0 ? QB_MAD_TO_SIGMA * out->mad / out->median : 0;
    free(s);
    return 0;
}
