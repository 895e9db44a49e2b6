/*
 * blocks.c - the median's interval from blocks spread over time (blocks.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness/measure/blocks.h"

/* Continued fraction of the incomplete beta function (modified Lentz). */
static double beta_cf(double a, double b, double x)
{
    const double tiny = 1e-300;
    double c = 1, d = 1 - (a + b) * x / (a + 1);
    if (fabs(d) < tiny)
        d = tiny;
    d = 1 / d;
    double h = d;
    for (int m = 1; m <= 500; m++) {
        double m2 = 2.0 * m;
        double num = m * (b - m) * x / ((a + m2 - 1) * (a + m2));
        d = 1 + num * d;
        d = fabs(d) < tiny ? tiny : d;
        c = 1 + num / c;
        c = fabs(c) < tiny ? tiny : c;
        d = 1 / d;
        h *= d * c;
        num = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1));
        d = 1 + num * d;
        d = fabs(d) < tiny ? tiny : d;
        c = 1 + num / c;
        c = fabs(c) < tiny ? tiny : c;
        d = 1 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < 1e-15)
            break;
    }
    return h;
}

/* The regularized incomplete beta function I_x(a, b). */
static double beta_inc(double a, double b, double x)
{
    if (x <= 0)
        return 0;
    if (x >= 1)
        return 1;
    double lf = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x);
    if (x < (a + 1) / (a + b + 2))
        return exp(lf) * beta_cf(a, b, x) / a;
    return 1 - exp(lf) * beta_cf(b, a, 1 - x) / b;
}

/* P(T <= t), T ~ Student t with df degrees of freedom. */
static double t_cdf(double t, double df)
{
    double tail = 0.5 * beta_inc(df / 2, 0.5, df / (df + t * t));
    return t >= 0 ? 1 - tail : tail;
}

double qb_t_quantile(double df, double p)
{
    if (!(df >= 1) || !(p > 0 && p < 1))
        return NAN;
    if (p == 0.5)
        return 0;
    if (p < 0.5)
        return -qb_t_quantile(df, 1 - p);
    double lo = 0, hi = 1;
    while (t_cdf(hi, df) < p && hi < 1e12)
        hi *= 2;
    for (int i = 0; i < 200 && hi - lo > 1e-12 * (1 + hi); i++) {
        double mid = 0.5 * (lo + hi);
        if (t_cdf(mid, df) < p)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}

int qb_robust_blocks(const double *x, const size_t *block_n, size_t nblocks, qb_robust *out)
{
    size_t n = 0;
    for (size_t b = 0; b < nblocks; b++)
        n += block_n[b];
    if (qb_robust_of(x, n, out))
        return -1;
    double *med = malloc((nblocks ? nblocks : 1) * sizeof *med);
    if (!med)
        return -1;
    size_t nb = 0, at = 0;
    for (size_t b = 0; b < nblocks; at += block_n[b], b++) {
        if (!block_n[b])
            continue;
        qb_robust r;
        if (qb_robust_of(x + at, block_n[b], &r)) {
            free(med);
            return -1;
        }
        med[nb++] = r.median;
    }
    out->blocks = nb;
    if (nb >= 2) {
        double mean = 0, ss = 0;
        for (size_t i = 0; i < nb; i++)
            mean += med[i];
        mean /= (double)nb;
        for (size_t i = 0; i < nb; i++)
            ss += (med[i] - mean) * (med[i] - mean);
        double half = qb_t_quantile((double)(nb - 1), 0.975) * sqrt(ss / (double)(nb - 1)) / sqrt((double)nb);
        out->ci_between_rel = out->median > 0 ? half / out->median : 0;
        /* never beyond the samples: a t interval of skewed block medians
         * can reach below zero */
        out->ci_low = fmax(out->min, fmin(out->ci_low, out->median - half));
        out->ci_high = fmin(out->max, fmax(out->ci_high, out->median + half));
        out->ci_rel = out->median > 0 ? (out->ci_high - out->ci_low) / (2 * out->median) : 0;
    }
    free(med);
    return 0;
}

/* The median and order-statistic half-width of the samples of the blocks
 * b with b % ns == c (tmp: room for all samples); the block medians into
 * med[b]. 0, or -1 (no samples, or out of memory). */
static int stratum(const double *x, const size_t *block_n, size_t nblocks, size_t ns, size_t c, double *tmp,
                   double *med, double *median, double *half, size_t *nb)
{
    size_t m = 0, at = 0;
    *nb = 0;
    for (size_t b = 0; b < nblocks; at += block_n[b], b++) {
        if (b % ns != c || !block_n[b])
            continue;
        qb_robust r;
        if (qb_robust_of(x + at, block_n[b], &r))
            return -1;
        med[b] = r.median;
        memcpy(tmp + m, x + at, block_n[b] * sizeof *tmp);
        m += block_n[b];
        (*nb)++;
    }
    qb_robust r;
    if (!m || qb_robust_of(tmp, m, &r))
        return -1;
    *median = r.median;
    *half = (r.ci_high - r.ci_low) / 2;
    return 0;
}

int qb_robust_strata(const double *x, const size_t *block_n, size_t nblocks, size_t nstrata, qb_robust *out)
{
    size_t n = 0;
    for (size_t b = 0; b < nblocks; b++)
        n += block_n[b];
    if (nstrata <= 1 || nblocks < nstrata)
        return qb_robust_blocks(x, block_n, nblocks, out);
    double *tmp = malloc((n ? n : 1) * sizeof *tmp), *med = malloc(nblocks * sizeof *med);
    double est = 0, h2 = 0, ss = 0, inv = 0;
    size_t nb_all = 0;
    int ok = tmp && med;
    for (size_t c = 0; ok && c < nstrata; c++) {
        double m, h, mean = 0;
        size_t nb;
        ok = !stratum(x, block_n, nblocks, nstrata, c, tmp, med, &m, &h, &nb);
        if (!ok)
            break;
        est += m / (double)nstrata;
        h2 += h * h;
        for (size_t b = c; b < nblocks; b += nstrata)
            mean += block_n[b] ? med[b] / (double)nb : 0;
        for (size_t b = c; b < nblocks; b += nstrata)
            ss += block_n[b] ? (med[b] - mean) * (med[b] - mean) : 0;
        inv += 1 / (double)nb;
        nb_all += nb;
    }
    free(tmp);
    free(med);
    if (!ok || nb_all <= nstrata)
        return qb_robust_blocks(x, block_n, nblocks, out);
    if (qb_robust_of(x, n, out))
        return -1;
    double df = (double)(nb_all - nstrata), S = (double)nstrata;
    double between = qb_t_quantile(df, 0.975) * sqrt(ss / df * inv) / S, within = sqrt(h2) / S;
    double half = fmax(between, within);
    out->median = est;
    out->blocks = nb_all;
    out->strata = nstrata;
    out->ci_low = fmax(out->min, est - half);
    out->ci_high = fmin(out->max, est + half);
    out->ci_rel = est > 0 ? (out->ci_high - out->ci_low) / (2 * est) : 0;
    out->ci_between_rel = est > 0 ? between / est : 0;
    out->ci_within_rel = est > 0 ? within / est : 0;
    return 0;
}

size_t qb_rounds_target(const qb_robust *rb, double ci_threshold, size_t min_rounds)
{
    size_t b = rb->blocks ? rb->blocks : 1;
    if (!(rb->ci_rel > ci_threshold) || !(ci_threshold > 0))
        return b;
    double want = (double)min_rounds;
    double parts[2] = {rb->ci_between_rel, rb->ci_within_rel};
    for (int i = 0; i < 2; i++) {
        double n = ceil((double)b * (parts[i] / ci_threshold) * (parts[i] / ci_threshold) - 1e-9);
        if (n > want)
            want = n;
    }
    if (!(want < QB_MAX_ROUNDS)) /* (NaN too) */
        return QB_MAX_ROUNDS;
    return want > (double)b ? (size_t)want : b;
}

int qb_round_wanted(size_t rounds_done, size_t target, size_t min_rounds, double timed_s, double budget_s)
{
    if (rounds_done >= target || rounds_done >= QB_MAX_ROUNDS)
        return 0;
    if (rounds_done < min_rounds)
        return 1;
    return rounds_done > 0 && timed_s + timed_s / (double)rounds_done <= budget_s;
}
