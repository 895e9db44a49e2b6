/*
 * test_stats.c - the statistics of harness/measure/ against hand-computed
 * values: percentiles, IQR, MAD, robust CV, the median's order-statistic
 * confidence interval, Tukey counts, the binomial tail, McNemar's exact
 * test and the paired bootstrap (fixed seed); the measurement loop on an
 * injected fake clock (outliers, bimodal noise, calls per sample,
 * warm-up) and its rounds under injected drift (the interval from
 * the rounds' medians, Student t quantiles), a CPU slower than the
 * other, and a seeded simulation of the rounds' coverage; the rounds' CPUs in turn; the peak
 * resident set and its reset; the profile's clock against CLOCK_MONOTONIC; the two-CPU ping-pong gives a figure (any
 * figure) and says why not on one CPU. No real timing: nothing here is a
 * benchmark.
 */
#define _GNU_SOURCE
#include <math.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <malloc.h>

#include <cmocka.h>

#include <sys/mman.h>

#include "harness/data/dataset.h"
#include "harness/measure/blocks.h"
#include "harness/measure/loop.h"
#include "harness/measure/memory.h"
#include "harness/measure/paired.h"
#include "harness/measure/pingpong.h"
#include "harness/measure/placement.h"
#include "harness/measure/probe.h"
#include "harness/graph/prof_clock.h"
#include "harness/measure/robust.h"
#include "harness/measure/timer.h"

#define NEAR(a, b) assert_true(fabs((double)(a) - (double)(b)) < 1e-12 * (1 + fabs((double)(b))))

static void robust_one_to_ten(void **state)
{
    (void)state;
    double x[] = {7, 1, 10, 4, 2, 9, 3, 8, 6, 5};
    qb_robust r;
    assert_int_equal(qb_robust_of(x, 10, &r), 0);
    assert_true(x[0] == 7); /* not sorted in place */
    assert_int_equal(r.n, 10);
    NEAR(r.min, 1);
    NEAR(r.max, 10);
    NEAR(r.mean, 5.5);
    NEAR(r.median, 5.5);
    NEAR(r.p5, 1.45);  /* 0.05 * 9 = 0.45: 1 + 0.45 */
    NEAR(r.p95, 9.55); /* 8.55: 9 + 0.55 */
    NEAR(r.p99, 9.91);
    NEAR(r.q1, 3.25);  /* 2.25: 3 + 0.25 */
    NEAR(r.q3, 7.75);
    NEAR(r.iqr, 4.5);
    NEAR(r.mad, 2.5);  /* |x - 5.5| = .5 .5 1.5 1.5 2.5 2.5 3.5 3.5 4.5 4.5 */
    NEAR(r.robust_cv, 1.4826 * 2.5 / 5.5);
    /* P(B(10, 1/2) <= 1) = 11/1024 <= 0.025 < P(B <= 2) = 56/1024: l = 2, [x(2), x(9)] */
    NEAR(r.ci_low, 2);
    NEAR(r.ci_high, 9);
    NEAR(r.ci_level, 1 - 22.0 / 1024);
    NEAR(r.ci_rel, (9 - 2) / (2 * 5.5));
    assert_int_equal(r.outliers, 0);
}

static void robust_tukey(void **state)
{
    (void)state;
    /* sorted: -50 1 2 ... 9 100; q1 = 2.5, q3 = 7.5, fences -5 and 15 */
    double x[] = {100, 1, 2, 3, 4, 5, 6, 7, 8, 9, -50};
    qb_robust r;
    assert_int_equal(qb_robust_of(x, 11, &r), 0);
    NEAR(r.median, 5);
    NEAR(r.q1, 2.5);
    NEAR(r.q3, 7.5);
    assert_int_equal(r.outliers, 2);
    /* MAD: |x - 5| = 55 4 3 2 1 0 1 2 3 4 95 -> median 3 */
    NEAR(r.mad, 3);
    /* just inside a fence is not an outlier */
    double y[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 14.5, 2};
    assert_int_equal(qb_robust_of(y, 11, &r), 0); /* q1 2.5, q3 7.5, fence 15 */
    assert_int_equal(r.outliers, 0);
    double one = 3;
    assert_int_equal(qb_robust_of(&one, 1, &r), 0);
    assert_true(r.median == 3 && r.mad == 0 && r.iqr == 0 && r.ci_low == 3 && r.ci_high == 3 && r.stddev == 0);
    assert_int_equal(qb_robust_of(x, 0, &r), -1);
}

static void median_ci_ranks(void **state)
{
    (void)state;
    double level;
    /* n = 5: even [x(1), x(5)] covers only 1 - 2/32 */
    assert_int_equal(qb_median_ci_rank(5, 0.05, &level), 0);
    NEAR(level, 1 - 2.0 / 32);
    assert_int_equal(qb_median_ci_rank(6, 0.05, &level), 1);
    NEAR(level, 1 - 2.0 / 64);
    assert_int_equal(qb_median_ci_rank(10, 0.05, &level), 2);
    /* n = 100: the textbook pair x(40), x(61); P(B <= 39) = 0.0176 */
    assert_int_equal(qb_median_ci_rank(100, 0.05, &level), 40);
    assert_true(fabs(level - (1 - 2 * 0.0176001)) < 1e-6);
    /* large n: close to the normal approximation n/2 - 0.98 sqrt(n) */
    size_t l = qb_median_ci_rank(1000000, 0.05, &level);
    assert_true(labs((long)l - (long)(500000 - 980)) <= 2);
    assert_true(level >= 0.95 && level < 0.951);
    NEAR(qb_binom_half_cdf(10, 2), 56.0 / 1024);
    NEAR(qb_binom_half_cdf(10, 10), 1);
    NEAR(qb_binom_half_cdf(4, 0), 1.0 / 16);
}

static void mcnemar_exact(void **state)
{
    (void)state;
    NEAR(qb_mcnemar_p(5, 0), 1.0 / 32);
    NEAR(qb_mcnemar_p(8, 2), 56.0 / 1024); /* P(B(10) >= 8) = (45 + 10 + 1) / 1024 */
    NEAR(qb_mcnemar_p(2, 8), 1 - 11.0 / 1024);
    NEAR(qb_mcnemar_p(0, 0), 1);
    NEAR(qb_mcnemar_p(0, 7), 1);
    NEAR(qb_mcnemar_p(1, 1), 0.75);
}

static void paired_bootstrap(void **state)
{
    (void)state;
    enum { N = 1000 };
    static unsigned char ref[N], q[N], agree[N];
    for (int i = 0; i < N; i++) {
        ref[i] = 1;
        q[i] = i >= 50; /* wrong on the first 50: drop 5 pt */
        agree[i] = q[i];
    }
    q[999] = 0, ref[998] = 0, q[998] = 1; /* one discordant pair each way more: b = 51, c = 1 */
    qb_paired_ci a, b;
    assert_int_equal(qb_paired_stats(ref, q, agree, N, 1, 0, QB_BOOTSTRAP_SEED, &a), 0);
    assert_int_equal(a.b, 51);
    assert_int_equal(a.c, 1);
    NEAR(a.mcnemar_p, qb_binom_half_cdf(52, 1));
    assert_true(a.mcnemar_p < 1e-13);
    /* the point estimate 5.0 pt lies inside; the width is about
     * 2 x 1.96 x sqrt(p (1 - p) / n) of the discordance: ~2.8 pt */
    assert_true(a.drop_low < 5.0 && a.drop_high > 5.0);
    double w = a.drop_high - a.drop_low;
    assert_true(w > 2.2 && w < 3.4);
    assert_true(a.top1_low < 94.9 && a.top1_high > 94.9);
    assert_true(a.agree_low < 94.9 && a.agree_high > 94.9);
    /* the same seed gives the same interval; another seed a close one */
    assert_int_equal(qb_paired_stats(ref, q, agree, N, 1, 0, QB_BOOTSTRAP_SEED, &b), 0);
    assert_true(a.drop_low == b.drop_low && a.drop_high == b.drop_high && a.top1_low == b.top1_low);
    assert_int_equal(qb_paired_stats(ref, q, agree, N, 1, 0, 12345, &b), 0);
    assert_true(fabs(a.drop_low - b.drop_low) < 0.6 && fabs(a.drop_high - b.drop_high) < 0.6);
    /* identical answers: a zero-width drop interval, p = 1 */
    assert_int_equal(qb_paired_stats(ref, ref, NULL, N, 1, 500, 7, &a), 0);
    assert_true(a.drop_low == 0 && a.drop_high == 0 && a.mcnemar_p == 1 && isnan(a.agree_low));
    /* no labels: only agreement */
    assert_int_equal(qb_paired_stats(NULL, NULL, agree, N, 1, 500, 7, &a), 0);
    assert_true(isnan(a.drop_low) && isnan(a.top1_high) && isnan(a.mcnemar_p) && a.agree_high <= 100);
    assert_int_equal(qb_paired_stats(ref, q, agree, 0, 1, 0, 7, &a), -1);
}

/* The SQNR's bootstrap interval on crafted per-sample energies whose
 * resample distribution is known. */
static void sqnr_interval(void **state)
{
    (void)state;
    enum { N = 20 };
    double sig[N], err[N], lo, hi;
    for (int i = 0; i < N; i++)
        sig[i] = 1, err[i] = 0.01;
    /* every sample alike: every resample has the point's SQNR, 20 dB */
    assert_int_equal(qb_sqnr_interval(sig, err, N, 1, 0, QB_BOOTSTRAP_SEED, &lo, &hi), 0);
    NEAR(lo, 20.0);
    NEAR(hi, 20.0);
    /* one sample with 100x the error of the others (point SQNR
     * 10 log10(20 / 0.0119) = 32.25 dB): (19/20)^20 = 36% of the
     * resamples miss it (40 dB, the upper end); it is drawn 3 times at
     * the 97.5th percentile (P(k <= 2) = 0.925, P(k <= 3) = 0.984):
     * 10 log10(20 / (17e-4 + 3e-2)) = 28.00 dB, the lower end */
    for (int i = 0; i < N; i++)
        err[i] = i == 7 ? 1e-2 : 1e-4;
    assert_int_equal(qb_sqnr_interval(sig, err, N, 1, 0, QB_BOOTSTRAP_SEED, &lo, &hi), 0);
    NEAR(hi, 40.0);
    NEAR(lo, -10 * log10((17e-4 + 3e-2) / 20));
    /* two samples, one exact: a quarter of the resamples have no error */
    double s2[] = {1, 1}, e2[] = {0, 0.01};
    assert_int_equal(qb_sqnr_interval(s2, e2, 2, 1, 1000, 7, &lo, &hi), 0);
    NEAR(lo, 20.0);
    assert_true(isinf(hi) && hi > 0);
    /* no samples, or no signal: no interval */
    assert_int_equal(qb_sqnr_interval(sig, err, 0, 1, 0, 7, &lo, &hi), -1);
    assert_true(isnan(lo) && isnan(hi));
    double z[] = {0, 0};
    assert_int_equal(qb_sqnr_interval(z, e2, 2, 1, 100, 7, &lo, &hi), -1);
    assert_true(isnan(lo) && isnan(hi));
}

/* Two models on the same samples: A minus B, on crafted records whose
 * resample distribution is known. */
static void paired_diff(void **state)
{
    (void)state;
    enum { N = 20 };
    double ea[N], eb[N];
    unsigned char aok[N], bok[N], ag[N], bg[N];
    for (int i = 0; i < N; i++) {
        ea[i] = 0.01, eb[i] = 0.1;
        aok[i] = 1, bok[i] = i >= 5; /* B misses the first 5: +25 pt for A, 5 discordant pairs */
        ag[i] = bg[i] = 1;
    }
    qb_paired_diff p;
    /* B's error 10x A's on every sample: every resample is +10 dB */
    assert_int_equal(qb_paired_diff_stats(ea, eb, aok, bok, ag, bg, N, 1, 0, QB_BOOTSTRAP_SEED, &p), 0);
    NEAR(p.sqnr_db, 10.0);
    NEAR(p.sqnr_low, 10.0);
    NEAR(p.sqnr_high, 10.0);
    NEAR(p.top1_pt, 25.0);
    assert_true(p.top1_low > 0 && p.top1_low < 25 && p.top1_high > 25);
    assert_int_equal(p.a_only, 5);
    assert_int_equal(p.b_only, 0);
    NEAR(p.mcnemar_p, 2.0 / 32); /* two-sided: twice P(B(5) >= 5) */
    NEAR(p.agree_pt, 0);
    NEAR(p.agree_low, 0);
    NEAR(p.agree_high, 0);
    /* swapped: the same figures, negated */
    qb_paired_diff q;
    assert_int_equal(qb_paired_diff_stats(eb, ea, bok, aok, bg, ag, N, 1, 0, QB_BOOTSTRAP_SEED, &q), 0);
    NEAR(q.sqnr_db, -10.0);
    NEAR(q.top1_pt, -25.0);
    NEAR(q.top1_low, -p.top1_high);
    NEAR(q.top1_high, -p.top1_low);
    NEAR(q.mcnemar_p, p.mcnemar_p);
    /* A exact on one of two samples, B's errors equal: a quarter of the
     * resamples draw only the exact one (+inf), a quarter only the other
     * (0 dB); the rest 10 log10(2) */
    double a2[] = {0, 0.01}, b2[] = {0.01, 0.01};
    assert_int_equal(qb_paired_diff_stats(a2, b2, NULL, NULL, NULL, NULL, 2, 1, 1000, 7, &p), 0);
    NEAR(p.sqnr_db, 10 * log10(2.0));
    NEAR(p.sqnr_low, 0);
    assert_true(isinf(p.sqnr_high) && p.sqnr_high > 0);
    assert_true(isnan(p.top1_pt) && isnan(p.mcnemar_p) && isnan(p.agree_pt));
    /* both exact: no difference; identical errors: 0 dB */
    double z[] = {0, 0};
    assert_int_equal(qb_paired_diff_stats(z, z, NULL, NULL, NULL, NULL, 2, 1, 100, 7, &p), 0);
    NEAR(p.sqnr_db, 0);
    NEAR(p.sqnr_low, 0);
    NEAR(p.sqnr_high, 0);
    /* no samples, or a NaN error: nothing */
    assert_int_equal(qb_paired_diff_stats(ea, eb, NULL, NULL, NULL, NULL, 0, 1, 100, 7, &p), -1);
    assert_true(isnan(p.sqnr_db) && isnan(p.sqnr_low));
    double nan2[] = {NAN, 0.01};
    assert_int_equal(qb_paired_diff_stats(nan2, b2, NULL, NULL, NULL, NULL, 2, 1, 100, 7, &p), -1);
    /* records grouped by sample (the class vectors of a [batch, P, C]
     * output): whole samples are drawn. Two samples of two records whose
     * sums are equal, (0, 0.02) and (0.01, 0.01) against B's 0.04 per
     * sample: every resample is exactly 10 log10(2) dB; drawn record by
     * record the interval would not be a point */
    double ga[] = {0, 0.02, 0.01, 0.01}, gb[] = {0.02, 0.02, 0.02, 0.02};
    assert_int_equal(qb_paired_diff_stats(ga, gb, NULL, NULL, NULL, NULL, 4, 2, 500, 7, &p), 0);
    NEAR(p.sqnr_low, 10 * log10(2.0));
    NEAR(p.sqnr_high, 10 * log10(2.0));
    assert_int_equal(qb_paired_diff_stats(ga, gb, NULL, NULL, NULL, NULL, 4, 1, 500, 7, &p), 0);
    assert_true(p.sqnr_high > p.sqnr_low + 1);
    assert_int_equal(qb_paired_diff_stats(ga, gb, NULL, NULL, NULL, NULL, 4, 3, 500, 7, &p), -1);
    double sg[] = {1, 1, 1, 1}, lo, hi;
    assert_int_equal(qb_sqnr_interval(sg, ga, 4, 2, 500, 7, &lo, &hi), 0);
    NEAR(lo, 20.0); /* 10 log10(2 / 0.02) on every resample */
    NEAR(hi, 20.0);
    assert_int_equal(qb_sqnr_interval(sg, ga, 4, 1, 500, 7, &lo, &hi), 0);
    assert_true(hi > lo + 1); /* record by record the resamples differ */
    unsigned char half[] = {1, 0, 0, 1, 1, 0, 0, 1};
    qb_paired_ci ci;
    assert_int_equal(qb_paired_stats(NULL, NULL, half, 8, 2, 500, 7, &ci), 0);
    NEAR(ci.agree_low, 50.0);
    NEAR(ci.agree_high, 50.0);
    assert_int_equal(qb_paired_stats(NULL, NULL, half, 8, 3, 500, 7, &ci), -1);
    /* the two-sided McNemar test */
    NEAR(qb_mcnemar_two_sided(0, 0), 1);
    NEAR(qb_mcnemar_two_sided(3, 3), 1);
    NEAR(qb_mcnemar_two_sided(8, 2), 2 * 56.0 / 1024);
    NEAR(qb_mcnemar_two_sided(2, 8), 2 * 56.0 / 1024);
    NEAR(qb_mcnemar_two_sided(0, 10), 2.0 / 1024);
}

/* ---- the measurement loop on a fake clock ---- */

/* The fake clock: time moves only when the fake inference runs, in
 * units of 1/8192 s so that every sum is exact in binary (a normal call
 * lasts 8 units, 0.977 ms: MS below). */
#define UNIT (1.0 / 8192)
#define MS (8 * UNIT)

typedef struct fake {
    double now;       /* the clock, seconds */
    long calls;       /* calls so far */
    long slow_first;  /* a cold start: call c lasts max(0, slow_first - c) units more */
    int outlier_every;/* every n-th call lasts 50 MS more (0: never) */
    int bimodal;      /* calls last 1 or 1.5 MS at random */
    uint32_t rng;     /* its generator */
    long fail_at;     /* fail on this call (-1: never) */
    long clock_reads; /* reads of the clock */
    double scale;     /* drift: calls last this many times longer (0: 1) */
    int jitter;       /* calls vary by -0.5% ... +0.5% at random */
    double ramp;      /* a clock coming up to speed: a call starting at time t < ramp_s lasts
                         1 + ramp * (ramp_s - t) / ramp_s times longer */
    double ramp_s;    /* when that ends (seconds of the fake clock) */
} fake;

static double fake_clock(void *ctx)
{
    fake *f = ctx;
    f->clock_reads++;
    return f->now;
}

static int fake_fn(void *ctx, long iter)
{
    fake *f = ctx;
    (void)iter;
    if (f->calls == f->fail_at)
        return 1;
    double t = MS + (f->calls < f->slow_first ? (double)(f->slow_first - f->calls) * UNIT : 0);
    if (f->outlier_every && f->calls % f->outlier_every == f->outlier_every - 1)
        t += 50 * MS;
    if (f->bimodal) {
        f->rng = f->rng * 1664525u + 1013904223u;
        t = (f->rng >> 31) ? 1.5 * MS : MS;
    }
    if (f->scale > 0)
        t *= f->scale;
    if (f->ramp > 0 && f->now < f->ramp_s)
        t *= 1 + f->ramp * (f->ramp_s - f->now) / f->ramp_s;
    if (f->jitter) {
        f->rng = f->rng * 1664525u + 1013904223u;
        t *= 1 + ((int)(f->rng >> 24) % 11 - 5) * 1e-3;
    }
    f->now += t;
    f->calls++;
    return 0;
}

static void loop_outliers_are_not_noise(void **state)
{
    (void)state;
    fake f = {.outlier_every = 20, .fail_at = -1};
    qb_measure_cfg cfg = {.warmup = 0, .iterations = 200, .max_iterations = 200, .ci_threshold = 0.03,
                          .retries = 2, .min_sample_s = -1, .keep_samples = 1, .clock = fake_clock,
                          .clock_ctx = &f};
    qb_measure_result r;
    char err[100];
    assert_int_equal(qb_measure(&cfg, fake_fn, &f, &r, err, sizeof err), 0);
    assert_int_equal(r.attempts, 1);
    assert_false(r.noisy); /* 5% preemptions leave the median's interval at zero width */
    assert_true(r.rob.median == MS && r.rob.ci_low == MS && r.rob.ci_high == MS);
    assert_int_equal(r.rob.n, 200);
    assert_int_equal(r.rob.outliers, 10);
    assert_int_equal(r.calls_per_sample, 1);
    assert_non_null(r.samples);
    int slow = 0;
    for (int i = 0; i < 200; i++)
        slow += r.samples[i] > 10 * MS;
    assert_int_equal(slow, 10);
    assert_true(r.st.cv > 1.0); /* the mean-based rule would call it noisy */
    qb_measure_result_free(&r);
    assert_null(r.samples);
    /* the older CV rule on the same data: noisy after every retry */
    f = (fake){.outlier_every = 20, .fail_at = -1};
    cfg.ci_threshold = 0;
    cfg.cv_threshold = 0.05;
    cfg.keep_samples = 0;
    assert_int_equal(qb_measure(&cfg, fake_fn, &f, &r, err, sizeof err), 0);
    assert_true(r.noisy);
    assert_int_equal(r.attempts, 3);
    assert_null(r.samples);
}

static void loop_bimodal_is_noisy(void **state)
{
    (void)state;
    fake f = {.bimodal = 1, .rng = 1, .fail_at = -1};
    qb_measure_cfg cfg = {.warmup = 0, .iterations = 50, .max_iterations = 50, .ci_threshold = 0.03,
                          .retries = 2, .min_sample_s = -1, .clock = fake_clock, .clock_ctx = &f};
    qb_measure_result r;
    char err[100];
    assert_int_equal(qb_measure(&cfg, fake_fn, &f, &r, err, sizeof err), 0);
    assert_true(r.noisy);
    assert_int_equal(r.attempts, 3);
    assert_true(r.rob.ci_rel > 0.03);
    assert_true(r.rob.ci_low == MS && r.rob.ci_high == 1.5 * MS);
    /* a threshold above the interval's half-width accepts it */
    f = (fake){.bimodal = 1, .rng = 1, .fail_at = -1};
    cfg.ci_threshold = 0.5;
    assert_int_equal(qb_measure(&cfg, fake_fn, &f, &r, err, sizeof err), 0);
    assert_false(r.noisy);
    assert_int_equal(r.attempts, 1);
}

static void loop_calls_per_sample_and_warmup(void **state)
{
    (void)state;
    /* 0.98 ms calls, samples of at least 10 ms: 16 calls (doubling 1 2 4 8 16) */
    fake f = {.fail_at = -1};
    qb_measure_cfg cfg = {.warmup = 0, .iterations = 20, .max_iterations = 20, .ci_threshold = 0.03,
                          .min_sample_s = 10e-3, .clock = fake_clock, .clock_ctx = &f};
    qb_measure_result r;
    char err[100];
    assert_int_equal(qb_measure(&cfg, fake_fn, &f, &r, err, sizeof err), 0);
    assert_int_equal(r.calls_per_sample, 16);
    assert_true(r.rob.median == MS);
    assert_int_equal(r.rob.n, 20);
    /* choose: 3 samples of 1, 2, 4, 8, 16 calls; warm-up: two blocks of 3 samples of 16 */
    assert_int_equal(r.calls, 3 * 31 + 6 * 16 + 20 * 16);
    /* a cold start over 40 calls (4.9 ms down to 1): the warm-up runs until the median settles */
    f = (fake){.slow_first = 40, .fail_at = -1};
    cfg = (qb_measure_cfg){.warmup = 2, .iterations = 30, .max_iterations = 30, .ci_threshold = 0.03,
                           .min_sample_s = -1, .clock = fake_clock, .clock_ctx = &f};
    assert_int_equal(qb_measure(&cfg, fake_fn, &f, &r, err, sizeof err), 0);
    assert_true(r.warmup_calls >= 40);
    assert_true(r.rob.max == MS); /* no slow call among the timed ones */
    assert_false(r.noisy);
    /* the warm-up stops at its time bound even when nothing settles */
    f = (fake){.bimodal = 1, .rng = 3, .fail_at = -1};
    cfg.warmup_max_s = 0.05;
    cfg.warmup = 0;
    assert_int_equal(qb_measure(&cfg, fake_fn, &f, &r, err, sizeof err), 0);
    assert_true(r.warmup_calls < 60);
    /* the minimum time extends the count */
    f = (fake){.fail_at = -1};
    cfg = (qb_measure_cfg){.iterations = 10, .min_time_s = 0.5, .max_iterations = 100000, .ci_threshold = 0.03,
                           .min_sample_s = -1, .clock = fake_clock, .clock_ctx = &f};
    assert_int_equal(qb_measure(&cfg, fake_fn, &f, &r, err, sizeof err), 0);
    assert_int_equal(r.rob.n, 512); /* 0.5 s of 1/1024 s samples */
    /* a failing inference stops the loop */
    f = (fake){.fail_at = 25};
    assert_int_equal(qb_measure(&cfg, fake_fn, &f, &r, err, sizeof err), -1);
    assert_int_equal(f.calls, 25);
}

/* Calls of 1/8192 s (a 122 us inference): a warm-up block is no longer
 * 3 samples (366 us) but at least 1 ms of them (9 samples), so a slow
 * change over milliseconds is seen as unsettled. */
static void loop_warmup_blocks_last_a_millisecond(void **state)
{
    (void)state;
    fake f = {.fail_at = -1, .scale = 0.125};
    qb_measure_cfg cfg = {.warmup = 0, .iterations = 20, .max_iterations = 20, .ci_threshold = 0.03,
                          .min_sample_s = -1, .clock = fake_clock, .clock_ctx = &f};
    qb_measure_result r;
    char err[100];
    assert_int_equal(qb_measure(&cfg, fake_fn, &f, &r, err, sizeof err), 0);
    /* no cold start: two blocks of 9 samples (the 9th ends at 9/8192 s >= 1 ms) */
    assert_int_equal(r.warmup_calls, 18);
    assert_int_equal(r.calls, 18 + 20);
    /* a clock coming up to speed over 10 ms (30% slow at first): 3-sample
     * blocks (0.5 ms) changed by about 1% and the warm-up ended at once,
     * with the calls still 29% slow; blocks of 1 ms change by 3% and the
     * warm-up lasts until the ramp is over */
    f = (fake){.fail_at = -1, .scale = 0.125, .ramp = 0.3, .ramp_s = 0.01};
    assert_int_equal(qb_measure(&cfg, fake_fn, &f, &r, err, sizeof err), 0);
    assert_true(r.warmup_calls >= 50); /* (3-sample blocks: 6 calls) */
    assert_true(r.rob.max <= 1.01 * MS / 8); /* at most the ramp's last 1% among the timed calls */
    assert_false(r.noisy);
}

/* The sweep-level warm-up: fixed work timed in blocks until two blocks'
 * medians agree; a cold machine (the first 2,000 calls up to 3x slower)
 * keeps it going, a machine that never settles stops at the bound. */
static void settle_until_blocks_agree(void **state)
{
    (void)state;
    fake f = {.fail_at = -1};
    qb_settle_result s;
    /* settled from the start: 2 blocks of 10 ms (11 calls of 0.977 ms) once 20 ms have passed */
    assert_int_equal(qb_measure_settle(fake_fn, &f, fake_clock, &f, 0.01, 0.01, 0.02, 1.0, &s), 0);
    assert_true(s.settled);
    assert_int_equal(s.blocks, 2);
    assert_int_equal(f.calls, 22);
    assert_true(s.last_change == 0);
    /* the minimum time holds it longer */
    f = (fake){.fail_at = -1};
    assert_int_equal(qb_measure_settle(fake_fn, &f, fake_clock, &f, 0.01, 0.01, 0.2, 1.0, &s), 0);
    assert_true(s.settled && s.spent_s >= 0.2 && s.spent_s < 0.22);
    /* cold: calls 3x slower at first, up to speed after 0.3 s: 10 ms blocks
     * differ by more than 1% until then */
    f = (fake){.fail_at = -1, .ramp = 2, .ramp_s = 0.3};
    assert_int_equal(qb_measure_settle(fake_fn, &f, fake_clock, &f, 0.01, 0.01, 0.02, 100.0, &s), 0);
    assert_true(s.settled);
    assert_true(s.spent_s >= 0.3 && s.spent_s < 0.4);
    /* never settles (a ramp longer than the bound, tolerance 0): stops at the bound, says so */
    f = (fake){.fail_at = -1, .ramp = 1, .ramp_s = 100};
    assert_int_equal(qb_measure_settle(fake_fn, &f, fake_clock, &f, 0.002, 0, 0.0, 0.5, &s), 0);
    assert_false(s.settled);
    assert_true(s.spent_s >= 0.5 && s.spent_s < 0.52);
    assert_true(s.last_change > 0);
    /* a failing call */
    f = (fake){.fail_at = 3};
    assert_int_equal(qb_measure_settle(fake_fn, &f, fake_clock, &f, 0.01, 0.01, 0.02, 1.0, &s), -1);
    /* the spin work itself runs (real clock, tiny bounds) */
    assert_int_equal(qb_measure_settle(qb_spin_work, NULL, NULL, NULL, 1e-4, 0.5, 0, 0.05, &s), 0);
    assert_true(s.blocks >= 2 && s.spent_s > 0);
}

/* Adaptive rounds, decided once after the first rounds (Stein's two
 * stages): n = ceil(B (h / threshold)^2) per part of the interval, the
 * larger, at least rounds + retries, at most QB_MAX_ROUNDS; then rounds
 * up to n, beyond rounds + retries only while the budget allows. */
static void round_target_and_budget(void **state)
{
    (void)state;
    qb_robust rb = {.blocks = 5, .ci_rel = 0.0378, .ci_between_rel = 0.0378, .ci_within_rel = 0.002};
    assert_int_equal(qb_rounds_target(&rb, 0.03, 6), 8);          /* 5 * 1.26^2 = 7.94 */
    rb.ci_between_rel = rb.ci_rel = 0.03 * sqrt(1.6);
    assert_int_equal(qb_rounds_target(&rb, 0.03, 6), 8);          /* 5 * 1.6 = 8 exactly */
    rb.ci_between_rel = rb.ci_rel = 0.031;
    assert_int_equal(qb_rounds_target(&rb, 0.03, 7), 7);          /* 5.34 -> 6, but rounds + retries = 7 */
    rb = (qb_robust){.blocks = 5, .ci_rel = 0.06, .ci_between_rel = 0.01, .ci_within_rel = 0.06};
    assert_int_equal(qb_rounds_target(&rb, 0.03, 6), 20);         /* the pooled part: 5 * 2^2 */
    rb = (qb_robust){.blocks = 5, .ci_rel = 1.0, .ci_between_rel = 1.0};
    assert_int_equal(qb_rounds_target(&rb, 0.03, 6), QB_MAX_ROUNDS);
    rb = (qb_robust){.blocks = 5, .ci_rel = 0.02, .ci_between_rel = 0.02};
    assert_int_equal(qb_rounds_target(&rb, 0.03, 6), 5);          /* within +-3%: no more */
    rb.ci_rel = rb.ci_between_rel = 0.03;
    assert_int_equal(qb_rounds_target(&rb, 0.03, 6), 5);
    assert_false(qb_round_wanted(5, 5, 6, 0.05, 0.3));             /* the target reached */
    assert_true(qb_round_wanted(5, 8, 6, 1.0, 0.3));               /* under rounds + retries: the budget does not count */
    assert_true(qb_round_wanted(6, 8, 6, 0.05, 0.3));              /* 0.05 + 0.05/6 <= 0.3 */
    assert_true(qb_round_wanted(29, 30, 6, 29, 30));               /* 29 + 29/29 = 30: fits exactly */
    assert_false(qb_round_wanted(29, 30, 6, 30, 30));              /* spent */
    assert_false(qb_round_wanted(6, 8, 6, 0.28, 0.3));             /* long rounds: 0.28 + 0.047 > 0.3 */
    assert_false(qb_round_wanted(QB_MAX_ROUNDS, 200, 200, 0, 1e9));
}

/* One more round of 50 samples at level lvl (fake clock, +-0.5% jitter)
 * appended to x; returns the timed seconds. */
static double one_round(fake *f, double lvl, double *x, size_t *bn, size_t *nr)
{
    enum { per = 50 };
    f->scale = lvl;
    qb_measure_cfg cfg = {.warmup = 0, .iterations = per, .max_iterations = per, .ci_threshold = 0.03,
                          .min_sample_s = -1, .keep_samples = 1, .clock = fake_clock, .clock_ctx = f};
    qb_measure_result r;
    char err[100];
    assert_int_equal(qb_measure(&cfg, fake_fn, f, &r, err, sizeof err), 0);
    memcpy(x + per * *nr, r.samples, per * sizeof *x);
    double t = 0;
    for (int i = 0; i < per; i++)
        t += r.samples[i];
    bn[(*nr)++] = per;
    qb_measure_result_free(&r);
    return t;
}

/* Rounds added as a sweep adds them: round medians of 1.00 1.08 1.02
 * 1.06 1.04 (sd 3.2%) give +-3.8% after 5 rounds (noisy); the first 5
 * rounds ask for ceil(5 (3.8 / 3)^2) = 9, and with the pattern repeated
 * the interval after 9 rounds, t(8) sd / sqrt 9, is within +-3%. A
 * spread no number of rounds brings within +-3% (0.8 and 1.2) asks for
 * the most rounds; the budget ends it first, and the cell stays noisy. */
static void rounds_added_until_within(void **state)
{
    (void)state;
    const double lvl[5] = {1.00, 1.08, 1.02, 1.06, 1.04}, wide[2] = {0.8, 1.2};
    double x[QB_MAX_ROUNDS * 50];
    size_t bn[QB_MAX_ROUNDS];
    fake f = {.fail_at = -1, .jitter = 1, .rng = 7};
    size_t nr = 0;
    double timed = 0;
    qb_robust rb;
    while (nr < 5)
        timed += one_round(&f, lvl[nr % 5], x, bn, &nr);
    assert_int_equal(qb_robust_blocks(x, bn, nr, &rb), 0);
    assert_true(rb.ci_rel > 0.03 && rb.ci_rel < 0.04); /* 3.80% (the jitter adds to 3.78) */
    size_t target = qb_rounds_target(&rb, 0.03, 6);
    assert_int_equal(target, (size_t)ceil(5 * (rb.ci_rel / 0.03) * (rb.ci_rel / 0.03)));
    assert_true(target == 8 || target == 9);
    while (qb_round_wanted(nr, target, 6, timed, 30 * 50 * MS * 1.1))
        timed += one_round(&f, lvl[nr % 5], x, bn, &nr);
    assert_int_equal(nr, target);
    assert_int_equal(qb_robust_blocks(x, bn, nr, &rb), 0);
    assert_true(rb.ci_rel <= 0.03);
    /* the wide spread */
    nr = 0;
    timed = 0;
    while (nr < 5)
        timed += one_round(&f, wide[nr % 2], x, bn, &nr);
    assert_int_equal(qb_robust_blocks(x, bn, nr, &rb), 0);
    target = qb_rounds_target(&rb, 0.03, 6);
    assert_int_equal(target, QB_MAX_ROUNDS);
    while (qb_round_wanted(nr, target, 6, timed, 20 * 50 * MS))
        timed += one_round(&f, wide[nr % 2], x, bn, &nr);
    assert_true(nr >= 18 && nr <= 20); /* 20 rounds of 50 calls of about 1 ms */
    assert_int_equal(qb_robust_blocks(x, bn, nr, &rb), 0);
    assert_true(rb.ci_rel > 0.03);
}

/* A cell timed in 5 rounds (as a sweep with rounds = 5 does) while the
 * machine drifts between rounds: the pooled order-statistic interval is
 * far too narrow, the interval from the rounds covers the median of a
 * second run under the same drift. */
static double timed_in_rounds(const double *scales, int nr, qb_robust *out, double *within_low,
                              double *within_high)
{
    double x[5 * 100];
    size_t bn[5];
    fake f = {.fail_at = -1, .jitter = 1, .rng = 11};
    for (int i = 0; i < nr; i++) {
        f.scale = scales[i];
        qb_measure_cfg cfg = {.warmup = 0, .iterations = 100, .max_iterations = 100, .ci_threshold = 0.03,
                              .min_sample_s = -1, .keep_samples = 1, .clock = fake_clock, .clock_ctx = &f};
        qb_measure_result r;
        char err[100];
        assert_int_equal(qb_measure(&cfg, fake_fn, &f, &r, err, sizeof err), 0);
        assert_false(r.noisy); /* each round alone looks settled (+-0.5% jitter) */
        assert_int_equal(r.rob.n, 100);
        memcpy(x + 100 * i, r.samples, 100 * sizeof *x);
        bn[i] = 100;
        qb_measure_result_free(&r);
    }
    qb_robust pooled;
    assert_int_equal(qb_robust_of(x, 100 * (size_t)nr, &pooled), 0);
    *within_low = pooled.ci_low;
    *within_high = pooled.ci_high;
    assert_int_equal(qb_robust_blocks(x, bn, (size_t)nr, out), 0);
    return out->median;
}

static void rounds_cover_drift(void **state)
{
    (void)state;
    /* Student t quantiles (tables: 12.706, 4.303, 2.776, 2.042; z 1.960) */
    assert_true(fabs(qb_t_quantile(1, 0.975) - 12.7062047) < 1e-6);
    assert_true(fabs(qb_t_quantile(2, 0.025) + 4.3026527) < 1e-6);
    assert_true(fabs(qb_t_quantile(4, 0.975) - 2.7764451) < 1e-6);
    assert_true(fabs(qb_t_quantile(30, 0.975) - 2.0422725) < 1e-6);
    assert_true(fabs(qb_t_quantile(1e7, 0.975) - 1.959964) < 1e-5);
    assert_true(isnan(qb_t_quantile(0.5, 0.975)) && isnan(qb_t_quantile(3, 1)));

    /* run 1: a co-runner slows the rounds by 0, 8, 2, 6 and 4% */
    const double run1[5] = {1.00, 1.08, 1.02, 1.06, 1.04}, run2[5] = {1.03, 1.07, 1.01, 1.05, 1.06};
    qb_robust a, b;
    double wl, wh, wl2, wh2;
    double m1 = timed_in_rounds(run1, 5, &a, &wl, &wh);
    double m2 = timed_in_rounds(run2, 5, &b, &wl2, &wh2);
    assert_int_equal(a.blocks, 5);
    assert_true(fabs(m1 / MS - 1.04) < 0.006); /* the middle round's level */
    assert_true(fabs(m2 / MS - 1.05) < 0.006);
    /* the pooled interval (the middle ranks all lie in one round) misses run 2's median ... */
    assert_true(wh - wl < 0.01 * MS);
    assert_false(m2 >= wl && m2 <= wh);
    /* ... the rounds' interval holds it: t(4) sd(1.00 .. 1.08) / sqrt 5 = +-3.9% */
    assert_true(a.ci_low <= m2 && m2 <= a.ci_high);
    assert_true(fabs(a.ci_between_rel - 2.7764451 * sqrt(0.001) / sqrt(5) / 1.04) < 0.004);
    assert_true(a.ci_between_rel > 10 * a.ci_within_rel);
    assert_true(a.ci_rel > 0.03); /* so the cell is noisy at the default +-3% */
    assert_true(b.ci_low <= m1 && m1 <= b.ci_high);
    /* no drift: the rounds add next to nothing to the pooled interval */
    const double flat[5] = {1, 1, 1, 1, 1};
    timed_in_rounds(flat, 5, &a, &wl, &wh);
    assert_true(a.ci_rel < 0.005);
    /* one block: the pooled interval as is; empty blocks are skipped */
    double y[4] = {1, 2, 3, 4};
    size_t one[1] = {4}, gaps[3] = {2, 0, 2};
    assert_int_equal(qb_robust_blocks(y, one, 1, &a), 0);
    assert_true(a.blocks == 1 && a.ci_low == 1 && a.ci_high == 4 && a.ci_between_rel == 0);
    assert_int_equal(qb_robust_blocks(y, gaps, 3, &a), 0);
    assert_int_equal(a.blocks, 2); /* medians 1.5 and 3.5: +-12.706 * sqrt 2 / sqrt 2: clipped to [1, 4] */
    assert_true(a.ci_low == 1 && a.ci_high == 4);
    assert_int_equal(qb_robust_blocks(y, gaps, 0, &a), -1);
}

/* A clock that ticks 1 us on every read. */
static double ticking_clock(void *ctx)
{
    double *t = ctx;
    *t += 1e-6;
    return *t;
}

/* One process's cell in 10 rounds on the fake clock: round r at level
 * lvl[r] (its CPU's speed times a drift of +-1%). */
static void ten_rounds(const double *lvl, uint32_t seed, double *x, size_t *bn)
{
    fake f = {.fail_at = -1, .jitter = 1, .rng = seed};
    size_t nr = 0;
    while (nr < 10)
        one_round(&f, lvl[nr], x, bn, &nr);
}

/* A VM whose second CPU is 35% slower (measured: the mlp fp32 cells,
 * docs/measurement.md "The CPU, not the pages"). A process that stays
 * on the CPU it started on gets a narrow interval around that CPU's
 * time, which misses a process that started on the other. Rounds on the
 * CPUs in turn see both: the spread of their medians is the CPUs'
 * difference, so the interval is wide (noisy at +-3%, as it should be
 * while the CPU decides the time) and holds the other process's median. */
static void rounds_hold_a_slow_cpu(void **state)
{
    (void)state;
    const double drift_a[10] = {1.00, 1.01, 0.995, 1.005, 1.0, 0.99, 1.01, 1.0, 1.005, 0.995};
    const double drift_b[10] = {1.005, 0.99, 1.0, 1.01, 0.995, 1.0, 1.005, 0.99, 1.01, 1.0};
    double x[10 * 50], y[10 * 50], la[10], lb[10];
    size_t bn[10];
    qb_robust a, b;
    /* a process on CPU 0 for every round, another on CPU 1 */
    for (int r = 0; r < 10; r++) {
        la[r] = drift_a[r];
        lb[r] = 1.35 * drift_b[r];
    }
    ten_rounds(la, 3, x, bn);
    ten_rounds(lb, 5, y, bn);
    assert_int_equal(qb_robust_rounds(x, bn, 10, 1, &a), 0);
    assert_int_equal(qb_robust_rounds(y, bn, 10, 1, &b), 0);
    assert_true(a.ci_rel < 0.03 && b.ci_rel < 0.03); /* both look settled ... */
    assert_false(a.ci_low <= b.median && b.median <= a.ci_high); /* ... and disagree by 35% */
    /* round r on CPU r % 2 in both processes */
    for (int r = 0; r < 10; r++) {
        la[r] = (r % 2 ? 1.35 : 1.0) * drift_a[r];
        lb[r] = (r % 2 ? 1.35 : 1.0) * drift_b[r];
    }
    ten_rounds(la, 3, x, bn);
    ten_rounds(lb, 5, y, bn);
    assert_int_equal(qb_robust_rounds(x, bn, 10, 2, &a), 0);
    assert_int_equal(qb_robust_rounds(y, bn, 10, 2, &b), 0);
    assert_true(a.ci_rel > 0.05 && b.ci_rel > 0.05); /* noisy: the CPU decides */
    assert_true(a.ci_low <= b.median && b.median <= a.ci_high);
    assert_true(b.ci_low <= a.median && a.median <= b.ci_high);
    assert_true(a.min < MS && a.max > 1.3 * MS && a.n == 500);
    assert_int_equal(a.batch_rounds, 2); /* 10 rounds: 5 batches of one turn each */
    assert_int_equal(qb_robust_rounds(x, bn, 0, 2, &a), -1);
}

/* A seeded standard normal for the simulations below (Box-Muller). */
static double sim_normal(uint64_t *s)
{
    double u = ((double)(qb_rng_next(s) >> 11) + 0.5) / 9007199254740992.0;
    double v = ((double)(qb_rng_next(s) >> 11) + 0.5) / 9007199254740992.0;
    return sqrt(-2 * log(u)) * cos(2 * 3.14159265358979323846 * v);
}

/* Coverage of the true median (1) over reps simulated cells of nr rounds
 * of 50 samples: round r at level 1 + d_r, d an AR(1) drift with
 * stationary sd sd_between and lag-one correlation rho (rounds close in
 * time share the machine's state), samples 1 + d_r + 1% noise. Per cell
 * qb_robust_rounds (period 2) and qb_robust_blocks; *cover_* the share
 * of intervals holding 1, *half_* their mean relative half-width. */
enum { SIM_PER_ROUND = 20, SIM_MAX_ROUNDS = 60 };

/* One simulated cell of nr rounds of SIM_PER_ROUND samples into x, bn:
 * round r at level + d_r, d an AR(1) drift with stationary sd sd_between
 * and lag-one correlation rho, each sample with 1% noise. */
static void sim_rounds(double *x, size_t *bn, int nr, double level, double sd_between, double rho, uint64_t *seed)
{
    double d = sd_between * sim_normal(seed);
    for (int r = 0; r < nr; r++) {
        if (r)
            d = rho * d + sqrt(1 - rho * rho) * sd_between * sim_normal(seed);
        for (int k = 0; k < SIM_PER_ROUND; k++)
            x[r * SIM_PER_ROUND + k] = level + d + 0.01 * sim_normal(seed);
        bn[r] = SIM_PER_ROUND;
    }
}

static void simulate(int reps, int nr, double sd_between, double rho, uint64_t seed, double *cover_rounds,
                     double *cover_blocks, double *half_rounds, double *half_blocks)
{
    double x[SIM_MAX_ROUNDS * SIM_PER_ROUND];
    size_t bn[SIM_MAX_ROUNDS];
    int in_r = 0, in_b = 0;
    double hr = 0, hb = 0;
    assert_true(nr <= SIM_MAX_ROUNDS);
    for (int i = 0; i < reps; i++) {
        sim_rounds(x, bn, nr, 1, sd_between, rho, &seed);
        qb_robust a, b;
        assert_int_equal(qb_robust_rounds(x, bn, (size_t)nr, 2, &a), 0);
        assert_int_equal(qb_robust_blocks(x, bn, (size_t)nr, &b), 0);
        in_r += a.ci_low <= 1 && 1 <= a.ci_high;
        in_b += b.ci_low <= 1 && 1 <= b.ci_high;
        hr += a.ci_rel / reps;
        hb += b.ci_rel / reps;
    }
    *cover_rounds = (double)in_r / reps;
    *cover_blocks = (double)in_b / reps;
    *half_rounds = hr;
    *half_blocks = hb;
}

/* The rounds' interval covers the true median at about its nominal 95%
 * when the rounds drift, independently or correlated in time, and costs
 * little width when they do not (deterministic: a fixed seed). */
static void rounds_cover_at_the_nominal_rate(void **state)
{
    (void)state;
    double cr, cb, hr, hb;
    /* independent rounds, 3% apart: both about 95% */
    simulate(500, 30, 0.03, 0, 1, &cr, &cb, &hr, &hb);
    print_message("independent: rounds %.3f (+-%.2f%%), blocks %.3f (+-%.2f%%)\n", cr, hr * 100, cb, hb * 100);
    assert_true(cr >= 0.93 && cr <= 0.99);
    assert_true(cb >= 0.90 && cb <= 0.97); /* (a t interval of the mean around the pooled median: a little short) */
    /* a drift correlated over rounds: the single-round spread understates
     * it, the batches of consecutive rounds do not */
    simulate(500, 30, 0.03, 0.5, 2, &cr, &cb, &hr, &hb);
    print_message("drift rho 0.5: rounds %.3f (+-%.2f%%), blocks %.3f (+-%.2f%%)\n", cr, hr * 100, cb, hb * 100);
    assert_true(cr >= 0.90);
    assert_true(cb < 0.80);
    /* few rounds (no batches): the t interval over rounds alone */
    simulate(500, 5, 0.03, 0, 3, &cr, &cb, &hr, &hb);
    print_message("5 rounds: rounds %.3f (+-%.2f%%), blocks %.3f (+-%.2f%%)\n", cr, hr * 100, cb, hb * 100);
    assert_true(cr >= 0.93 && cr <= 0.99);
    /* no drift: hardly wider than without batches or without rounds */
    simulate(500, 30, 0, 0, 4, &cr, &cb, &hr, &hb);
    print_message("no drift: rounds %.3f (+-%.3f%%), blocks %.3f (+-%.3f%%)\n", cr, hr * 100, cb, hb * 100);
    assert_true(cr >= 0.93);
    assert_true(hr < 1.6 * hb);
}

/* What scripts/bench-stability's "calibrated" checks, simulated: pairs of
 * processes timing the same cell (10 rounds each, drift 2% with lag-one
 * correlation 0.3); per pair whether the second median lies inside the
 * first interval ("inside") and whether the move is within the 95%
 * interval of a difference, sqrt(h1^2 + h2^2), h the half-widths on the
 * side of the move ("calibrated"). shift: the sd of a level each process
 * gets for all its rounds (the machine's state for a whole sweep). */
static void simulate_pairs(int reps, double shift, uint64_t seed, double *inside, double *calibrated)
{
    double x[10 * SIM_PER_ROUND], y[10 * SIM_PER_ROUND];
    size_t bn[10];
    int in = 0, cal = 0;
    for (int i = 0; i < reps; i++) {
        qb_robust a, b;
        sim_rounds(x, bn, 10, 1 + shift * sim_normal(&seed), 0.02, 0.3, &seed);
        assert_int_equal(qb_robust_rounds(x, bn, 10, 2, &a), 0);
        sim_rounds(y, bn, 10, 1 + shift * sim_normal(&seed), 0.02, 0.3, &seed);
        assert_int_equal(qb_robust_rounds(y, bn, 10, 2, &b), 0);
        double h1 = b.median >= a.median ? a.ci_high - a.median : a.median - a.ci_low;
        double h2 = b.median >= a.median ? b.median - b.ci_low : b.ci_high - b.median;
        in += a.ci_low <= b.median && b.median <= a.ci_high;
        cal += fabs(b.median - a.median) <= sqrt(h1 * h1 + h2 * h2);
    }
    *inside = (double)in / reps;
    *calibrated = (double)cal / reps;
}

/* Another run's median has its own error: with right intervals it lies
 * inside this run's 95% interval of the median well under 95% of the time
 * (about 83% for equal normal widths: P(|Z| < 1.96 / sqrt 2)), and the
 * move is within the interval of a difference about 95% of the time (at
 * least: the union with the pooled interval and Student's t only widen).
 * A shift of the whole process (3% sd here) is invisible to one process's
 * rounds: then the check fails, as on the VM when a whole sweep moves. */
static void calibration_is_a_difference_interval(void **state)
{
    (void)state;
    double in, cal;
    simulate_pairs(400, 0, 11, &in, &cal);
    print_message("no shift between processes: inside %.3f, calibrated %.3f\n", in, cal);
    assert_true(cal >= 0.93);
    assert_true(in <= cal - 0.04 && in >= 0.75);
    simulate_pairs(400, 0.03, 12, &in, &cal);
    print_message("processes shifted by 3%% sd: inside %.3f, calibrated %.3f\n", in, cal);
    assert_true(cal < 0.80);
}

/* The rounds take the CPUs of the thread's mask in turn (placement.h):
 * round r and round r + n on the same CPU, the thread running there while
 * held, the mask given back afterwards, at once when not held. */
static void rounds_take_cpus_in_turn(void **state)
{
    (void)state;
    cpu_set_t before, after;
    assert_int_equal(sched_getaffinity(0, sizeof before, &before), 0);
    int n = qb_place_cpus(8);
    assert_true(n >= 1 && n <= 8 && n <= CPU_COUNT(&before));
    assert_int_equal(qb_place_cpus(1), 1);
    int seen[8], nseen = 0;
    for (int r = 0; r < 2 * n; r++) {
        int c = qb_place_on_cpu(r, n, 1);
        assert_true(c >= 0 && CPU_ISSET(c, &before));
        assert_int_equal(sched_getcpu(), c);
        if (r < n) {
            for (int i = 0; i < nseen; i++)
                assert_true(seen[i] != c); /* n different CPUs first ... */
            seen[nseen++] = c;
        } else {
            assert_int_equal(c, seen[r - n]); /* ... then the same again */
        }
        qb_place_cpu_end();
    }
    assert_int_equal(sched_getaffinity(0, sizeof after, &after), 0);
    assert_true(CPU_EQUAL(&before, &after));
    assert_int_equal(qb_place_on_cpu(-1, n, 1), -1);
    assert_int_equal(qb_place_on_cpu(1, n, 0), seen[1 % n]);
    assert_int_equal(sched_getaffinity(0, sizeof after, &after), 0);
    assert_true(CPU_EQUAL(&before, &after)); /* free again */
}

static void clock_calibration(void **state)
{
    (void)state;
    double t = 0, res, ovh;
    qb_clock_calibrate(ticking_clock, &t, &res, &ovh);
    assert_true(fabs(res - 1e-6) < 1e-9);
    assert_true(fabs(ovh - 1e-6) < 1e-9);
    /* the real clock: some positive resolution and cost */
    qb_measure_result r;
    char err[100];
    fake f = {.fail_at = -1};
    qb_measure_cfg cfg = {.iterations = 5, .max_iterations = 5, .ci_threshold = 0.5};
    assert_int_equal(qb_measure(&cfg, fake_fn, &f, &r, err, sizeof err), 0);
    assert_true(r.clock_resolution_s > 0 && r.clock_resolution_s < 1e-3);
    assert_true(r.clock_overhead_s > 0 && r.clock_overhead_s < 1e-3);
}

/* One reading of the profile's clock and of CLOCK_MONOTONIC (ms) taken
 * together: the middle of the tightest of 5 brackets of monotonic reads
 * around it (a preempted try has a wide one); *width: that bracket. */
static void prof_and_mono(double *prof, double *mono, double *width)
{
    *width = 1e30;
    for (int i = 0; i < 5; i++) {
        double a = qb_now() * 1e3, p = qb_prof_ms(), b = qb_now() * 1e3;
        if (b - a < *width)
            *width = b - a, *prof = p, *mono = 0.5 * (a + b);
    }
}

/* The profile's clock (prof_clock.c): the calibrated TSC where it is
 * invariant (x86), else CLOCK_MONOTONIC; its rate is a CPU's, it follows
 * CLOCK_MONOTONIC over a 30 ms spin within 1% (the calibration's error is
 * ~1e-5; the clocks are compared, nothing is benchmarked), and it never
 * steps back on one CPU. */
static void prof_clock_follows_monotonic(void **state)
{
    (void)state;
    double ghz = qb_prof_clock_init();
    if (ghz > 0) {
        assert_string_equal(qb_prof_clock_name(), "tsc");
        assert_true(ghz > 0.1 && ghz < 20);
    } else {
        assert_string_equal(qb_prof_clock_name(), "monotonic");
    }
    double p0, m0, w0, p1, m1, w1;
    prof_and_mono(&p0, &m0, &w0);
    while (qb_now() * 1e3 - m0 < 30.0)
        ;
    prof_and_mono(&p1, &m1, &w1);
    assert_true(fabs((p1 - p0) - (m1 - m0)) <= 0.01 * (m1 - m0) + w0 + w1);
    cpu_set_t before, one;
    assert_int_equal(sched_getaffinity(0, sizeof before, &before), 0);
    CPU_ZERO(&one);
    CPU_SET(sched_getcpu(), &one);
    assert_int_equal(sched_setaffinity(0, sizeof one, &one), 0);
    double last = qb_prof_ms();
    for (int i = 0; i < 100000; i++) {
        double t = qb_prof_ms();
        assert_true(t >= last);
        last = t;
    }
    assert_int_equal(sched_setaffinity(0, sizeof before, &before), 0);
}

/* The peak resident set follows a 64 MiB touch, and the reset brings it
 * back down once the memory is gone. */
static void memory_peak_reset(void **state)
{
    (void)state;
    char err[200];
    long base = qb_mem_peak_kb();
    assert_true(base > 0);
    size_t n = 64u << 20;
    char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(p != MAP_FAILED);
    memset(p, 1, n);
    long big = qb_mem_peak_kb();
    assert_true(big >= base + 60 * 1024);
    assert_true(qb_mem_rss_kb() >= 60 * 1024);
    munmap(p, n);
    assert_true(qb_mem_peak_kb() >= big - 1024); /* a high-water mark stays (RSS counters are approximate) ... */
    assert_int_equal(qb_mem_reset_peak(err, sizeof err), 0);
    long after = qb_mem_peak_kb(); /* ... until reset */
    assert_true(after < big - 60 * 1024);
}

/* Each round's pad moves what the round allocates next: over 16 rounds
 * the pads take several sizes (random pages and cache lines, all below
 * glibc's mmap threshold, so from the heap itself), and a block of the
 * same size allocated after each pad lands on several addresses (without
 * pads, malloc would hand back the same block every time). */
static void placement_moves_rounds(void **state)
{
    (void)state;
    size_t sizes[16];
    uintptr_t where[16];
    int nsize = 0, nwhere = 0;
    for (int r = 0; r < 16; r++) {
        void *pad = qb_place_begin();
        assert_non_null(pad);
        size_t us = malloc_usable_size(pad);
        assert_true(us >= 64 && us < 128 * 1024 + 64);
        void *block = malloc(20000);
        assert_non_null(block);
        uintptr_t at = (uintptr_t)block;
        free(block);
        qb_place_end(pad);
        int seen = 0;
        for (int i = 0; i < nsize; i++)
            seen |= sizes[i] == us;
        if (!seen)
            sizes[nsize++] = us;
        seen = 0;
        for (int i = 0; i < nwhere; i++)
            seen |= where[i] == at;
        if (!seen)
            where[nwhere++] = at;
    }
    assert_true(nsize >= 4);
    assert_true(nwhere >= 4);
}

/* The probe's chase is one cycle over every line of its buffer (so a
 * pass touches all of it, in an order the prefetcher cannot guess); a
 * probe times both workloads; the log gets its header once, appends, and
 * refuses a file that is not a probes file. */
static void probe_chase_and_log(void **state)
{
    (void)state;
    char err[300], path[] = "/tmp/qb-test-probe-XXXXXX";
    qb_prober p;
    assert_int_equal(qb_prober_open(&p, NULL, err, sizeof err), 0);
    assert_int_equal(p.lines, QB_PROBE_CHASE_BYTES / (QB_PROBE_LINE_WORDS * sizeof *p.next));
    unsigned char *seen = calloc(p.lines, 1);
    assert_non_null(seen);
    size_t i = 0, steps = 0;
    do {
        assert_false(seen[i]);
        seen[i] = 1;
        i = p.next[i * QB_PROBE_LINE_WORDS];
        steps++;
    } while (i != 0 && steps <= p.lines);
    assert_int_equal(steps, p.lines); /* back at line 0 after exactly all lines */
    assert_int_equal(qb_probe_chase(&p, p.lines), 0);
    assert_true(qb_probe_chase(&p, p.lines / 2) != 0);
    free(seen);
    qb_probe pr;
    qb_probe_time(&p, &pr);
    assert_true(pr.alu_s > 0 && pr.chase_s > 0 && pr.cpu >= -1);
    assert_int_equal(qb_prober_close(&p, err, sizeof err), 0);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    for (int k = 0; k < 2; k++) {
        assert_int_equal(qb_prober_open(&p, path, err, sizeof err), 0);
        assert_int_equal(qb_probe_log(&p, "run", "cell/a", k, &pr, err, sizeof err), 0);
        assert_int_equal(qb_prober_close(&p, err, sizeof err), 0);
    }
    FILE *f = fopen(path, "r");
    char line[200];
    int lines = 0, headers = 0;
    while (fgets(line, sizeof line, f)) {
        lines++;
        headers += !strcmp(line, "run_id,cell,round,cpu,alu_ns,chase_ns\n");
    }
    fclose(f);
    assert_int_equal(lines, 3);
    assert_int_equal(headers, 1);
    f = fopen(path, "w");
    fputs("run_id,cell,sample\n", f);
    fclose(f);
    assert_int_equal(qb_prober_open(&p, path, err, sizeof err), -1);
    assert_non_null(strstr(err, "not a probes file"));
    unlink(path);
}

/* The ping-pong between the first two CPUs of the mask gives a positive,
 * finite round trip and leaves the caller's mask as it was (no figure is
 * checked: it is the host's placement that it measures). */
static void pingpong_measures_a_pair(void **state)
{
    (void)state;
    cpu_set_t before, after;
    assert_int_equal(sched_getaffinity(0, sizeof before, &before), 0);
    if (CPU_COUNT(&before) < 2) {
        print_message("one CPU in the mask: nothing to time\n");
        skip();
    }
    qb_pingpong pp;
    char why[200] = "";
    int rc = qb_pingpong_measure(400, &pp, why, sizeof why);
    if (rc)
        print_message("not measured: %s\n", why);
    assert_int_equal(rc, 0);
    assert_true(isfinite(pp.median_ns) && pp.median_ns > 0);
    assert_true(pp.q1_ns <= pp.median_ns && pp.median_ns <= pp.q3_ns);
    assert_true(pp.cpu_a != pp.cpu_b && CPU_ISSET(pp.cpu_a, &before) && CPU_ISSET(pp.cpu_b, &before));
    assert_int_equal(pp.trips, 400);
    assert_int_equal(pp.batches, 400 / QB_PINGPONG_BATCH);
    assert_int_equal(sched_getaffinity(0, sizeof after, &after), 0);
    assert_true(CPU_EQUAL(&before, &after));
}

/* With one CPU in the mask there is no pair: -1 and a sentence that says so. */
static void pingpong_skips_one_cpu(void **state)
{
    (void)state;
    cpu_set_t before, one;
    assert_int_equal(sched_getaffinity(0, sizeof before, &before), 0);
    CPU_ZERO(&one);
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &before)) {
            CPU_SET(c, &one);
            break;
        }
    assert_int_equal(sched_setaffinity(0, sizeof one, &one), 0);
    qb_pingpong pp;
    char why[200] = "";
    int rc = qb_pingpong_measure(0, &pp, why, sizeof why);
    assert_int_equal(sched_setaffinity(0, sizeof before, &before), 0);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(why, "only one CPU"));
    assert_true(pp.median_ns == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(robust_one_to_ten),
        cmocka_unit_test(robust_tukey),
        cmocka_unit_test(median_ci_ranks),
        cmocka_unit_test(mcnemar_exact),
        cmocka_unit_test(paired_bootstrap),
        cmocka_unit_test(sqnr_interval),
        cmocka_unit_test(paired_diff),
        cmocka_unit_test(loop_outliers_are_not_noise),
        cmocka_unit_test(loop_bimodal_is_noisy),
        cmocka_unit_test(loop_calls_per_sample_and_warmup),
        cmocka_unit_test(rounds_cover_drift),
        cmocka_unit_test(loop_warmup_blocks_last_a_millisecond),
        cmocka_unit_test(settle_until_blocks_agree),
        cmocka_unit_test(round_target_and_budget),
        cmocka_unit_test(rounds_added_until_within),
        cmocka_unit_test(clock_calibration),
        cmocka_unit_test(prof_clock_follows_monotonic),
        cmocka_unit_test(memory_peak_reset),
        cmocka_unit_test(placement_moves_rounds),
        cmocka_unit_test(rounds_hold_a_slow_cpu),
        cmocka_unit_test(rounds_cover_at_the_nominal_rate),
        cmocka_unit_test(calibration_is_a_difference_interval),
        cmocka_unit_test(probe_chase_and_log),
        cmocka_unit_test(rounds_take_cpus_in_turn),
        cmocka_unit_test(pingpong_measures_a_pair),
        cmocka_unit_test(pingpong_skips_one_cpu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
