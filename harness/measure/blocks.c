/*
 * blocks.c - the median's interval from blocks spread over time (blocks.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness/data/dataset.h"
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

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The rounds of a cell for its bootstrap: each round's samples sorted
 * (round r: srt[at[r] .. at[r] + len[r] - 1]), all of them sorted (all),
 * and a resample's count of each round (cnt). */
typedef struct boot_rounds {
    size_t nb;     /* rounds (non-empty blocks) */
    size_t n;      /* samples in all */
    size_t *at;    /* round r's first sample in srt */
    size_t *len;   /* round r's samples */
    size_t *cnt;   /* times round r is in the current resample */
    double *srt;   /* the samples, sorted within each round */
    double *all;   /* the samples, all sorted */
} boot_rounds;

/* Samples of the current resample at or below v. */
static size_t count_le(const boot_rounds *br, double v)
{
    size_t c = 0;
    for (size_t r = 0; r < br->nb; r++) {
        if (!br->cnt[r])
            continue;
        const double *s = br->srt + br->at[r];
        size_t lo = 0, hi = br->len[r]; /* the first sample above v */
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (s[mid] <= v)
                lo = mid + 1;
            else
                hi = mid;
        }
        c += br->cnt[r] * lo;
    }
    return c;
}

/* The k-th smallest (0-based) sample of the current resample: the
 * smallest sample value with more than k of the resample at or below it. */
static double resample_kth(const boot_rounds *br, size_t k)
{
    size_t lo = 0, hi = br->n - 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (count_le(br, br->all[mid]) > k)
            hi = mid;
        else
            lo = mid + 1;
    }
    return br->all[lo];
}

/* The cluster bootstrap of the pooled median: QB_BOOT_RESAMPLES times, k
 * units drawn with replacement (unit u: rounds u g ... u g + g - 1, the
 * last unit also the rounds beyond k g), the median (type 7, as
 * qb_percentile_sorted) of their samples pooled; the standard deviation
 * of those medians. */
static double boot_se(boot_rounds *br, size_t g, size_t k, uint64_t seed)
{
    double mean = 0, m2 = 0;
    for (int rep = 0; rep < QB_BOOT_RESAMPLES; rep++) {
        memset(br->cnt, 0, br->nb * sizeof *br->cnt);
        size_t m = 0;
        for (size_t i = 0; i < k; i++) {
            size_t u = (size_t)(qb_rng_next(&seed) % k), r0 = u * g, r1 = u + 1 == k ? br->nb : r0 + g;
            for (size_t r = r0; r < r1; r++) {
                br->cnt[r]++;
                m += br->len[r];
            }
        }
        double med = resample_kth(br, (m - 1) / 2);
        if (m % 2 == 0)
            med = 0.5 * (med + resample_kth(br, m / 2));
        double d = med - mean;
        mean += d / (rep + 1);
        m2 += d * (med - mean);
    }
    return sqrt(m2 / (QB_BOOT_RESAMPLES - 1));
}

int qb_robust_rounds(const double *x, const size_t *block_n, size_t nblocks, size_t period, qb_robust *out)
{
    if (qb_robust_blocks(x, block_n, nblocks, out))
        return -1;
    size_t nb = out->blocks, p = period ? period : 1;
    out->batch_rounds = 0;
    if (nb < 2 || !(out->median > 0))
        return 0;
    boot_rounds br = {.nb = nb, .n = out->n};
    br.at = malloc(3 * nb * sizeof *br.at);
    br.srt = malloc(2 * out->n * sizeof *br.srt);
    if (!br.at || !br.srt) {
        free(br.at);
        free(br.srt);
        return -1;
    }
    br.len = br.at + nb;
    br.cnt = br.at + 2 * nb;
    br.all = br.srt + out->n;
    size_t r = 0, pos = 0;
    for (size_t b = 0; b < nblocks; pos += block_n[b], b++) {
        if (!block_n[b])
            continue;
        br.at[r] = pos;
        br.len[r++] = block_n[b];
    }
    memcpy(br.srt, x, out->n * sizeof *x);
    memcpy(br.all, x, out->n * sizeof *x);
    for (r = 0; r < nb; r++)
        qsort(br.srt + br.at[r], br.len[r], sizeof *br.srt, cmp_d);
    qsort(br.all, out->n, sizeof *br.all, cmp_d);
    uint64_t seed = 0x51ed2701u ^ (uint64_t)out->n * 0x9E3779B97F4A7C15ull ^ nb;
    /* single rounds as the units; then batches of g consecutive rounds */
    double half = qb_t_quantile((double)(nb - 1), 0.975) * sqrt((double)nb / (double)(nb - 1)) *
                  boot_se(&br, 1, nb, seed);
    size_t g = nb / QB_MIN_BATCHES / p * p;
    if (g >= 2) {
        size_t k = nb / g;
        half = fmax(half, qb_t_quantile((double)(k - 1), 0.975) * sqrt((double)k / (double)(k - 1)) *
                              boot_se(&br, g, k, seed + 1));
        out->batch_rounds = g;
    }
    /* the pooled order-statistic interval is the floor (as qb_robust_of) */
    size_t l = qb_median_ci_rank(out->n, 0.05, NULL);
    double lo = l ? br.all[l - 1] : br.all[0], hi = l ? br.all[out->n - l] : br.all[out->n - 1];
    free(br.at);
    free(br.srt);
    out->ci_between_rel = half / out->median;
    out->ci_low = fmax(out->min, fmin(lo, out->median - half));
    out->ci_high = fmin(out->max, fmax(hi, out->median + half));
    out->ci_rel = (out->ci_high - out->ci_low) / (2 * out->median);
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
