/*
 * paired.c - paired bootstrap, McNemar's exact test and the SQNR's
 * bootstrap interval (paired.h).
 */
#include <math.h>
#include <stdlib.h>

#include "harness/measure/paired.h"
#include "harness/measure/robust.h"

double qb_mcnemar_p(size_t b, size_t c)
{
    size_t n = b + c;
    if (n == 0 || b == 0)
        return 1.0;
    /* P(B >= b) = 1 - P(B <= b - 1) = P(B <= n - b) by symmetry */
    return qb_binom_half_cdf(n, n - b);
}

/* splitmix64: a small, well-mixed, seedable generator. */
static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The 2.5% and 97.5% percentiles of v[0..m-1] (sorts v). */
static void interval(double *v, size_t m, double *lo, double *hi)
{
    qsort(v, m, sizeof *v, cmp_double);
    *lo = qb_percentile_sorted(v, m, 0.025);
    *hi = qb_percentile_sorted(v, m, 0.975);
}

/* A uniform index in [0, n). */
static size_t draw(uint64_t *s, size_t n)
{
    return (size_t)(((unsigned __int128)next_u64(s) * n) >> 64);
}

int qb_paired_stats(const unsigned char *ref_ok, const unsigned char *q_ok, const unsigned char *agree, size_t n,
                    int resamples, uint64_t seed, qb_paired_ci *out)
{
    *out = (qb_paired_ci){NAN, NAN, NAN, NAN, NAN, NAN, 0, 0, NAN};
    if (n == 0)
        return -1;
    int labels = ref_ok && q_ok;
    if (labels) {
        for (size_t i = 0; i < n; i++) {
            out->b += ref_ok[i] && !q_ok[i];
            out->c += !ref_ok[i] && q_ok[i];
        }
        out->mcnemar_p = qb_mcnemar_p(out->b, out->c);
    }
    size_t m = resamples > 0 ? (size_t)resamples : QB_BOOTSTRAP_RESAMPLES;
    double *top1 = malloc(m * sizeof *top1), *drop = malloc(m * sizeof *drop), *agr = malloc(m * sizeof *agr);
    if (!top1 || !drop || !agr) {
        free(top1);
        free(drop);
        free(agr);
        return -1;
    }
    uint64_t s = seed;
    for (size_t r = 0; r < m; r++) {
        size_t nr = 0, nq = 0, na = 0;
        for (size_t k = 0; k < n; k++) {
            size_t i = draw(&s, n);
            if (labels) {
                nr += ref_ok[i];
                nq += q_ok[i];
            }
            if (agree)
                na += agree[i];
        }
        top1[r] = 100.0 * (double)nq / (double)n;
        drop[r] = 100.0 * ((double)nr - (double)nq) / (double)n;
        agr[r] = 100.0 * (double)na / (double)n;
    }
    if (labels) {
        interval(top1, m, &out->top1_low, &out->top1_high);
        interval(drop, m, &out->drop_low, &out->drop_high);
    }
    if (agree)
        interval(agr, m, &out->agree_low, &out->agree_high);
    free(top1);
    free(drop);
    free(agr);
    return 0;
}

int qb_sqnr_interval(const double *sig2, const double *err2, size_t n, int resamples, uint64_t seed, double *lo,
                     double *hi)
{
    *lo = *hi = NAN;
    if (n == 0)
        return -1;
    size_t m = resamples > 0 ? (size_t)resamples : QB_BOOTSTRAP_RESAMPLES;
    double *nsr = malloc(m * sizeof *nsr); /* noise to signal of each resample */
    if (!nsr)
        return -1;
    uint64_t s = seed;
    for (size_t r = 0; r < m; r++) {
        double sig = 0, err = 0;
        for (size_t k = 0; k < n; k++) {
            size_t i = draw(&s, n);
            sig += sig2[i];
            err += err2[i];
        }
        nsr[r] = err / sig;
        if (!(sig > 0) || isnan(nsr[r])) { /* a resample without signal (or a NaN error): no interval */
            free(nsr);
            return -1;
        }
    }
    double a, b;
    interval(nsr, m, &a, &b);
    *lo = -10.0 * log10(b); /* the most noise: the lowest SQNR */
    *hi = a > 0 ? -10.0 * log10(a) : INFINITY;
    free(nsr);
    return 0;
}
