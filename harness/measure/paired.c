/*
 * paired.c - paired bootstrap, McNemar's exact test, the SQNR's
 * bootstrap interval, and two quantized models against each other on the
 * same samples (paired.h).
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

double qb_mcnemar_two_sided(size_t b, size_t c)
{
    double lo = qb_mcnemar_p(c, b), hi = qb_mcnemar_p(b, c); /* P(X <= b) = P(X >= c), and P(X >= b) */
    double p = 2 * (lo < hi ? lo : hi);
    return p < 1 ? p : 1;
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

/* Records per sample: 0 means 1; -1 when n is not a whole number of samples. */
static long group_of(size_t n, size_t group)
{
    group = group ? group : 1;
    return n % group ? -1 : (long)group;
}

/* Three arrays of m resample figures in one block (the second at +m,
 * the third at +2m), or NULL. */
static double *alloc3(size_t m)
{
    return malloc(3 * m * sizeof(double));
}

int qb_paired_stats(const unsigned char *ref_ok, const unsigned char *q_ok, const unsigned char *agree, size_t n,
                    size_t group, int resamples, uint64_t seed, qb_paired_ci *out)
{
    *out = (qb_paired_ci){NAN, NAN, NAN, NAN, NAN, NAN, 0, 0, NAN};
    long gl = group_of(n, group);
    if (n == 0 || gl < 0)
        return -1;
    group = (size_t)gl;
    int labels = ref_ok && q_ok;
    if (labels) {
        for (size_t i = 0; i < n; i++) {
            out->b += ref_ok[i] && !q_ok[i];
            out->c += !ref_ok[i] && q_ok[i];
        }
        out->mcnemar_p = qb_mcnemar_p(out->b, out->c);
    }
    size_t m = resamples > 0 ? (size_t)resamples : QB_BOOTSTRAP_RESAMPLES;
    double *top1 = alloc3(m), *drop = top1 + m, *agr = top1 + 2 * m;
    if (!top1)
        return -1;
    uint64_t s = seed;
    for (size_t r = 0; r < m; r++) {
        size_t nr = 0, nq = 0, na = 0;
        for (size_t k = 0; k < n; k += group) {
            size_t g0 = draw(&s, n / group) * group; /* a whole sample: its records together */
            for (size_t i = g0; i < g0 + group; i++) {
                if (labels) {
                    nr += ref_ok[i];
                    nq += q_ok[i];
                }
                if (agree)
                    na += agree[i];
            }
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
    return 0;
}

int qb_sqnr_interval(const double *sig2, const double *err2, size_t n, size_t group, int resamples, uint64_t seed,
                     double *lo, double *hi)
{
    *lo = *hi = NAN;
    long gl = group_of(n, group);
    if (n == 0 || gl < 0)
        return -1;
    group = (size_t)gl;
    size_t m = resamples > 0 ? (size_t)resamples : QB_BOOTSTRAP_RESAMPLES;
    double *nsr = malloc(m * sizeof *nsr); /* noise to signal of each resample */
    if (!nsr)
        return -1;
    uint64_t s = seed;
    for (size_t r = 0; r < m; r++) {
        double sig = 0, err = 0;
        for (size_t k = 0; k < n; k += group) {
            size_t g0 = draw(&s, n / group) * group;
            for (size_t i = g0; i < g0 + group; i++) {
                sig += sig2[i];
                err += err2[i];
            }
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

/* 10 log10(eb / ea): A's SQNR minus B's over the same samples. */
static double sqnr_gap(double ea, double eb)
{
    if (ea == 0 && eb == 0)
        return 0;
    if (ea == 0)
        return INFINITY;
    if (eb == 0)
        return -INFINITY;
    return 10.0 * log10(eb / ea);
}

/* The 2.5% and 97.5% order statistics of v[0..m-1], sorted here; where
 * an end falls between an infinite and another value, the infinite one
 * (no interpolation across infinity). */
static void interval_inf(double *v, size_t m, double *lo, double *hi)
{
    qsort(v, m, sizeof *v, cmp_double);
    double ends[2] = {0.025, 0.975}, *out[2] = {lo, hi};
    for (int e = 0; e < 2; e++) {
        double pos = ends[e] * (double)(m - 1);
        size_t k = (size_t)pos;
        if (k + 1 >= m || isinf(v[k]) || isinf(v[k + 1]))
            *out[e] = isinf(v[k]) || k + 1 >= m ? v[k] : v[k + 1];
        else
            *out[e] = v[k] + (pos - (double)k) * (v[k + 1] - v[k]);
    }
}

int qb_paired_diff_stats(const double *err2_a, const double *err2_b, const unsigned char *a_ok,
                         const unsigned char *b_ok, const unsigned char *a_agree, const unsigned char *b_agree,
                         size_t n, size_t group, int resamples, uint64_t seed, qb_paired_diff *out)
{
    *out = (qb_paired_diff){NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN, 0, 0, NAN};
    int sq = err2_a && err2_b, lab = a_ok && b_ok, agr = a_agree && b_agree;
    long gl = group_of(n, group);
    if (n == 0 || gl < 0)
        return -1;
    group = (size_t)gl;
    double ea = 0, eb = 0;
    long na = 0, nb = 0, ga = 0, gb = 0;
    for (size_t i = 0; i < n; i++) {
        if (sq) {
            if (isnan(err2_a[i]) || isnan(err2_b[i]))
                return -1;
            ea += err2_a[i];
            eb += err2_b[i];
        }
        if (lab) {
            na += a_ok[i];
            nb += b_ok[i];
            out->a_only += a_ok[i] && !b_ok[i];
            out->b_only += b_ok[i] && !a_ok[i];
        }
        if (agr) {
            ga += a_agree[i];
            gb += b_agree[i];
        }
    }
    size_t m = resamples > 0 ? (size_t)resamples : QB_BOOTSTRAP_RESAMPLES;
    double *dsq = alloc3(m), *dtop = dsq + m, *dagr = dsq + 2 * m;
    if (!dsq)
        return -1;
    uint64_t s = seed;
    for (size_t r = 0; r < m; r++) {
        double ra = 0, rb = 0;
        long top = 0, ag = 0; /* A minus B, in samples */
        for (size_t k = 0; k < n; k += group) {
            size_t g0 = draw(&s, n / group) * group;
            for (size_t i = g0; i < g0 + group; i++) {
                if (sq) {
                    ra += err2_a[i];
                    rb += err2_b[i];
                }
                if (lab)
                    top += (long)a_ok[i] - (long)b_ok[i];
                if (agr)
                    ag += (long)a_agree[i] - (long)b_agree[i];
            }
        }
        dsq[r] = sqnr_gap(ra, rb);
        dtop[r] = 100.0 * (double)top / (double)n;
        dagr[r] = 100.0 * (double)ag / (double)n;
    }
    if (sq) {
        out->sqnr_db = sqnr_gap(ea, eb);
        interval_inf(dsq, m, &out->sqnr_low, &out->sqnr_high);
    }
    if (lab) {
        out->top1_pt = 100.0 * (double)(na - nb) / (double)n;
        interval(dtop, m, &out->top1_low, &out->top1_high);
        out->mcnemar_p = qb_mcnemar_two_sided(out->a_only, out->b_only);
    }
    if (agr) {
        out->agree_pt = 100.0 * (double)(ga - gb) / (double)n;
        interval(dagr, m, &out->agree_low, &out->agree_high);
    }
    free(dsq);
    return 0;
}
