/*
 * loop.c - clock calibration, calls per sample, warm-up until the median
 * settles, timed samples, retries while noisy (loop.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/measure/loop.h"

#define QB_WARMUP_BLOCK 3        /* samples per block of the warm-up's running median, at least ... */
#define QB_WARMUP_BLOCK_S 1e-3   /* ... and at least this long: a block of 3 samples of a 7 us cell
                                    (21 us) settled at once and saw nothing slower than 20 us */
#define QB_WARMUP_BLOCK_MAX 4096 /* samples per block at most */
#define QB_WARMUP_SETTLED 0.02   /* warm-up ends when two blocks' medians differ by at most this (fraction) */
#define QB_WARMUP_MAX_S 0.5      /* default bound of the warm-up */
#define QB_SAMPLE_VS_CLOCK 10.0  /* a sample lasts at least this many clock resolutions and read costs */
#define QB_MAX_CALLS_PER_SAMPLE (1L << 24)

static double real_clock(void *ctx)
{
    (void)ctx;
    return qb_now();
}

void qb_clock_calibrate(qb_clock_fn clock, void *ctx, double *resolution, double *overhead)
{
    if (!clock)
        clock = real_clock;
    double res = INFINITY;
    for (int k = 0; k < 50; k++) { /* the smallest step between two different readings */
        double a = clock(ctx), b = a;
        for (long spin = 0; spin < 1000000 && b == a; spin++)
            b = clock(ctx);
        if (b > a && b - a < res)
            res = b - a;
    }
    const int reads = 2000;
    double t0 = clock(ctx), t = t0;
    for (int i = 0; i < reads; i++)
        t = clock(ctx);
    *resolution = isfinite(res) ? res : 0;
    *overhead = (t - t0) / reads;
}

/* The real clock's figures, measured once per process. */
static void real_clock_figures(double *res, double *ovh)
{
    static double r = -1, o = -1;
    if (r < 0)
        qb_clock_calibrate(real_clock, NULL, &r, &o);
    *res = r;
    *ovh = o;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median_of(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return qb_percentile_sorted(v, (size_t)n, 0.5);
}

/* The state of one measurement. */
typedef struct run {
    const qb_measure_cfg *cfg; /* settings */
    qb_clock_fn clock;         /* the clock */
    void *cctx;                /* its context */
    qb_measure_fn fn;          /* the inference */
    void *ctx;                 /* its context */
    long iter;                 /* calls so far */
    long k;                    /* calls per sample */
} run;

/* One sample: k calls timed together, seconds per call in *t. */
static int sample(run *r, double *t)
{
    double t0 = r->clock(r->cctx);
    for (long j = 0; j < r->k; j++)
        if (r->fn(r->ctx, r->iter++))
            return -1;
    *t = (r->clock(r->cctx) - t0) / (double)r->k;
    return 0;
}

/* Blocks of samples (at least QB_WARMUP_BLOCK samples and block_s
 * seconds each, QB_WARMUP_BLOCK_MAX at most) until two consecutive
 * blocks' medians differ by at most tol (a fraction) once min_s seconds
 * have passed since t0, or until max_s have: the one settling rule of a
 * cell's warm-up and of the sweep's (qb_measure_settle). 0, or -1 when
 * fn failed. */
static int settle_blocks(run *r, double t0, double block_s, double tol, double min_s, double max_s,
                         qb_settle_result *out)
{
    memset(out, 0, sizeof *out);
    out->last_change = NAN;
    double prev = NAN, blk[QB_WARMUP_BLOCK_MAX];
    for (;;) {
        int nb = 0;
        double b0 = r->clock(r->cctx), now = b0;
        while (nb < QB_WARMUP_BLOCK_MAX && (nb < QB_WARMUP_BLOCK || now - b0 < block_s)) {
            if (sample(r, &blk[nb++]))
                return -1;
            now = r->clock(r->cctx);
        }
        double m = median_of(blk, nb);
        out->blocks++;
        out->spent_s = now - t0;
        if (!isnan(prev)) {
            out->last_change = prev > 0 ? fabs(m - prev) / prev : 0;
            if (out->last_change <= tol && out->spent_s >= min_s) {
                out->settled = 1;
                return 0;
            }
        }
        if (out->spent_s >= max_s)
            return 0;
        prev = m;
    }
}

/* Warm-up: the minimum calls, then blocks of samples until they settle
 * (settle_blocks: blocks of at least QB_WARMUP_BLOCK_S seconds, within
 * QB_WARMUP_SETTLED, or the time bound). */
static int warm_up(run *r, long *calls)
{
    const qb_measure_cfg *c = r->cfg;
    long first = r->iter;
    double t0 = r->clock(r->cctx), bound = c->warmup_max_s > 0 ? c->warmup_max_s : QB_WARMUP_MAX_S;
    for (int w = 0; w < c->warmup; w++)
        if (r->fn(r->ctx, r->iter++))
            return -1;
    qb_settle_result res;
    if (settle_blocks(r, t0, QB_WARMUP_BLOCK_S, QB_WARMUP_SETTLED, 0, bound, &res))
        return -1;
    *calls = r->iter - first;
    return 0;
}

/* Calls per sample: doubled until k calls last min_sample, judged by the
 * fastest of 3 samples so that one cold or preempted sample does not
 * decide (those calls are warm-up too). */
static int choose_k(run *r, double min_sample)
{
    r->k = 1;
    if (!(min_sample > 0))
        return 0;
    for (;;) {
        double best = INFINITY;
        for (int i = 0; i < 3; i++) {
            double t;
            if (sample(r, &t))
                return -1;
            best = fmin(best, t);
        }
        if (best * (double)r->k >= min_sample || r->k >= QB_MAX_CALLS_PER_SAMPLE)
            return 0;
        r->k *= 2;
    }
}

int qb_measure(const qb_measure_cfg *cfg, qb_measure_fn fn, void *ctx, qb_measure_result *out, char *err,
               size_t errlen)
{
    memset(out, 0, sizeof *out);
    run r = {.cfg = cfg, .clock = cfg->clock ? cfg->clock : real_clock, .cctx = cfg->clock_ctx, .fn = fn,
             .ctx = ctx};
    double min_sample = cfg->min_sample_s > 0 ? cfg->min_sample_s : 0;
    if (cfg->min_sample_s == 0 && !cfg->clock) {
        real_clock_figures(&out->clock_resolution_s, &out->clock_overhead_s);
        min_sample = QB_SAMPLE_VS_CLOCK * fmax(out->clock_resolution_s, out->clock_overhead_s);
    }
    size_t cap = 1024;
    double *x = malloc(cap * sizeof *x), *best = malloc(cap * sizeof *best);
    size_t best_n = 0, best_cap = cap;
    double best_score = INFINITY;
    if (!x || !best) {
        free(x);
        free(best);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    double start = r.clock(r.cctx);
    int rc = 0;
    if (choose_k(&r, min_sample)) {
        rc = -1;
        goto done;
    }
    out->calls_per_sample = r.k;
    const int ci_rule = cfg->ci_threshold > 0;
    for (int attempt = 0; attempt <= cfg->retries; attempt++) {
        long wcalls;
        if (warm_up(&r, &wcalls)) {
            rc = -1;
            goto done;
        }
        size_t n = 0;
        double t_start = r.clock(r.cctx), now = t_start;
        while (n < (size_t)cfg->max_iterations && (n < (size_t)cfg->iterations || now - t_start < cfg->min_time_s)) {
            if (n == cap) {
                double *p = realloc(x, 2 * cap * sizeof *x);
                if (!p) {
                    snprintf(err, errlen, "out of memory");
                    rc = -1;
                    goto done;
                }
                x = p;
                cap *= 2;
            }
            if (sample(&r, &x[n++])) {
                rc = -1;
                goto done;
            }
            now = r.clock(r.cctx);
        }
        qb_robust rob;
        if (qb_robust_of(x, n, &rob)) {
            snprintf(err, errlen, n ? "out of memory" : "no timed sample (max_iterations is 0)");
            rc = -1;
            goto done;
        }
        double score = ci_rule ? rob.ci_rel : (rob.mean > 0 ? rob.stddev / rob.mean : 0);
        out->attempts = attempt + 1;
        if (score < best_score || best_n == 0) {
            if (n > best_cap) {
                double *p = realloc(best, n * sizeof *best);
                if (!p) {
                    snprintf(err, errlen, "out of memory");
                    rc = -1;
                    goto done;
                }
                best = p;
                best_cap = n;
            }
            memcpy(best, x, n * sizeof *x);
            best_n = n;
            best_score = score;
            out->rob = rob;
            out->warmup_calls = wcalls;
        }
        if (score <= (ci_rule ? cfg->ci_threshold : cfg->cv_threshold))
            break;
    }
    out->noisy = best_score > (ci_rule ? cfg->ci_threshold : cfg->cv_threshold);
    /* the classic statistics of the kept samples (qb_stats_of sorts: a copy) */
    memcpy(x, best, best_n * sizeof *x);
    out->st = qb_stats_of(x, best_n);
    if (cfg->keep_samples) {
        out->samples = best;
        best = NULL;
    }
done:
    out->calls = r.iter;
    out->total_s = r.clock(r.cctx) - start;
    free(x);
    free(best);
    return rc;
}

int qb_measure_settle(qb_measure_fn fn, void *ctx, qb_clock_fn clock, void *clock_ctx, double block_s, double tol,
                      double min_s, double max_s, qb_settle_result *out)
{
    run r = {.clock = clock ? clock : real_clock, .cctx = clock_ctx, .fn = fn, .ctx = ctx, .k = 1};
    return settle_blocks(&r, r.clock(r.cctx), block_s, tol, min_s, max_s, out);
}

int qb_spin_work(void *ctx, long iter)
{
    (void)ctx;
    volatile uint64_t sink;
    uint64_t x = (uint64_t)iter | 1;
    for (int i = 0; i < 20000; i++)
        x = x * 6364136223846793005ull + 1442695040888963407ull;
    sink = x;
    (void)sink;
    return 0;
}

void qb_measure_result_free(qb_measure_result *r)
{
    free(r->samples);
    r->samples = NULL;
}

/* An empty inference, called through the pointer like a real one. */
static int empty_fn(void *ctx, long iter)
{
    (void)iter;
    __asm__ volatile("" ::"r"(ctx) : "memory");
    return 0;
}

void qb_measure_overhead(long n, double *in_sample, double *per_iter)
{
    qb_measure_cfg cfg = {.warmup = 100, .iterations = (int)n, .min_time_s = 0, .max_iterations = (int)n,
                          .cv_threshold = 1e9, .retries = 0, .min_sample_s = -1};
    qb_measure_result r;
    char err[64];
    volatile qb_measure_fn fn = empty_fn;
    if (qb_measure(&cfg, fn, NULL, &r, err, sizeof err)) {
        *in_sample = *per_iter = -1;
        return;
    }
    *in_sample = r.st.mean;
    *per_iter = r.total_s / (double)r.calls;
}

int qb_pin_cpu(int cpu, char *err, size_t errlen)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (cpu < 0 || cpu >= CPU_SETSIZE) {
        snprintf(err, errlen, "CPU %d out of range", cpu);
        return -1;
    }
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set)) {
        snprintf(err, errlen, "cannot pin to CPU %d: %s", cpu, strerror(errno));
        return -1;
    }
    return 0;
}
