/*
 * prof_clock.c - the profile's clock (see prof_clock.h): rdtsc scaled by
 * one calibration against CLOCK_MONOTONIC, or CLOCK_MONOTONIC.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness/graph/prof_clock.h"

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#include <cpuid.h>
#include <x86intrin.h>
#define QB_HAVE_TSC 1
#else
#define QB_HAVE_TSC 0
#endif

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int ready;           /* 1 after the calibration (read with acquire) */
static double ms_per_tick;  /* > 0: the TSC is the clock */
static uint64_t tsc_origin; /* counter value at calibration */
static double mono_origin;  /* CLOCK_MONOTONIC ms at calibration (both clocks count from it) */

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

#if QB_HAVE_TSC
/* CPUID 0x80000007 EDX bit 8: the counter ticks at a constant rate in
 * every P- and C-state (Linux's constant_tsc/nonstop_tsc). */
static int tsc_invariant(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(0x80000000u, &a, &b, &c, &d) || a < 0x80000007u)
        return 0;
    __get_cpuid(0x80000007u, &a, &b, &c, &d);
    return (d >> 8) & 1;
}

/* One CLOCK_MONOTONIC reading and the counter at that moment: the mean of
 * the counter read just before and just after it, the tightest such
 * bracket of 9 tries (a preempted try has a wide one). */
static void pair(double *ms, uint64_t *tick)
{
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 9; i++) {
        uint64_t c0 = __rdtsc();
        double m = mono_ms();
        uint64_t c1 = __rdtsc();
        if (c1 > c0 && c1 - c0 < best)
            best = c1 - c0, *ms = m, *tick = c0 + (c1 - c0) / 2;
    }
}
#endif

static void calibrate(void)
{
    mono_origin = mono_ms();
#if QB_HAVE_TSC
    const char *env = getenv("QB_PROFILE_CLOCK");
    if ((!env || strcmp(env, "monotonic")) && tsc_invariant()) {
        double m0 = 0, m1 = 0;
        uint64_t t0 = 0, t1 = 0;
        pair(&m0, &t0);
        while (mono_ms() - m0 < 10.0) /* 10 ms: a read's ~40 ns error is 4e-6 of it */
            ;
        pair(&m1, &t1);
        if (t1 > t0 && m1 > m0) {
            ms_per_tick = (m1 - m0) / (double)(t1 - t0);
            tsc_origin = t0, mono_origin = m0;
        }
    }
#endif
    __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
}

double qb_prof_clock_init(void)
{
    if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE))
        pthread_once(&once, calibrate);
    return ms_per_tick > 0 ? 1e-6 / ms_per_tick : 0;
}

double qb_prof_ms(void)
{
    if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE))
        pthread_once(&once, calibrate);
#if QB_HAVE_TSC
    if (ms_per_tick > 0)
        return (double)(int64_t)(__rdtsc() - tsc_origin) * ms_per_tick;
#endif
    return mono_ms() - mono_origin;
}

const char *qb_prof_clock_name(void) { return qb_prof_clock_init() > 0 ? "tsc" : "monotonic"; }
