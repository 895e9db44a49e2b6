/*
 * timer.c - monotonic clock and order statistics (see timer.h).
 */
#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "harness/measure/timer.h"

double qb_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double percentile(const double *s, size_t n, double p)
{
    double pos = p * (double)(n - 1);
    size_t lo = (size_t)pos;
    if (lo + 1 >= n)
        return s[n - 1];
    return s[lo] + (pos - (double)lo) * (s[lo + 1] - s[lo]);
}

qb_stats qb_stats_of(double *x, size_t n)
{
    qb_stats st = {0};
    if (n == 0)
        return st;
    qsort(x, n, sizeof *x, cmp_double);
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += x[i];
    st.n = n;
    st.min = x[0];
    st.mean = sum / (double)n;
    st.median = percentile(x, n, 0.5);
    st.p95 = percentile(x, n, 0.95);
    st.p99 = percentile(x, n, 0.99);
    double ss = 0;
    for (size_t i = 0; i < n; i++)
        ss += (x[i] - st.mean) * (x[i] - st.mean);
    st.stddev = n > 1 ? sqrt(ss / (double)(n - 1)) : 0.0;
    st.cv = st.mean > 0 ? st.stddev / st.mean : 0.0;
    return st;
}
