/*
 * loop.c - warm-up, timed iterations, retries while noisy (loop.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/measure/loop.h"

int qb_measure(const qb_measure_cfg *cfg, qb_measure_fn fn, void *ctx, qb_measure_result *out, char *err,
               size_t errlen)
{
    memset(out, 0, sizeof *out);
    size_t cap = 1024;
    double *x = malloc(cap * sizeof *x), *best = NULL;
    if (!x) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    double start = qb_now();
    long iter = 0;
    int rc = 0;
    for (int attempt = 0; attempt <= cfg->retries; attempt++) {
        for (int w = 0; w < cfg->warmup; w++)
            if (fn(ctx, iter++)) {
                rc = -1;
                goto done;
            }
        size_t n = 0;
        double t_start = qb_now(), now = t_start;
        while (n < (size_t)cfg->max_iterations &&
               (n < (size_t)cfg->iterations || now - t_start < cfg->min_time_s)) {
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
            double t0 = qb_now();
            if (fn(ctx, iter++)) {
                rc = -1;
                goto done;
            }
            now = qb_now();
            x[n++] = now - t0;
        }
        qb_stats st = qb_stats_of(x, n);
        out->attempts = attempt + 1;
        if (!best || st.cv < out->st.cv) {
            out->st = st;
            best = x;
        }
        if (st.cv <= cfg->cv_threshold)
            break;
    }
    out->noisy = out->st.cv > cfg->cv_threshold;
done:
    out->calls = iter;
    out->total_s = qb_now() - start;
    free(x);
    return rc;
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
                          .cv_threshold = 1e9, .retries = 0};
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
