/*
 * pingpong.c - the round trip of a cache line between two pinned threads
 * (pingpong.h).
 *
 * Thread A writes an odd number into one cache line; thread B, spinning
 * on it, writes back the next even number; A, spinning, sees it and
 * starts the next trip. Each trip moves the line to B's core and back,
 * so its time is two transfers between the cores' caches: what a thread
 * pays for every line another core wrote last (docs/engine.md, "Two
 * threads and the cores' caches"). Both spin without a pause instruction
 * (which on recent x86 cores alone costs tens of ns) and without
 * sleeping; A reads the clock once per batch of QB_PINGPONG_BATCH trips,
 * after QB_PINGPONG_WARMUP untimed trips. On a loaded machine a batch in
 * which the other thread lost its CPU takes a time slice (milliseconds),
 * so the figure is the median over batches, not the mean of all trips.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/measure/pingpong.h"
#include "harness/measure/robust.h"
#include "harness/measure/timer.h"

/* Untimed trips first (both threads running, the line in play). */
#define QB_PINGPONG_WARMUP 200

/* What the two threads share. The line they bounce has a cache line to
 * itself, so that nothing else moves with it. */
typedef struct pp_shared {
    _Alignas(64) atomic_uint ball; /* odd: A's turn is over, B answers; even: B answered */
    _Alignas(64) atomic_int ready; /* threads pinned and waiting to start */
    atomic_int quit;               /* 1: stop (done, or one side failed) */
    int cpu[2];                    /* the CPUs of A and B */
    size_t batches;                /* batches A times (fewer when the budget ran out: those done) */
    double *ns;                    /* A's round trip per batch, ns (batches of them) */
    int failed;                    /* 1: A or B could not go on (why says) */
    char why[200];                 /* the reason (written by the side that failed first) */
    atomic_flag why_taken;         /* set by the side that writes why */
} pp_shared;

/* One side's argument. */
typedef struct pp_side {
    pp_shared *s; /* the shared state */
    int who;      /* 0: A, 1: B */
} pp_side;

/* Stop both sides; the first to fail says why. */
static void fail(pp_shared *s, const char *why)
{
    if (!atomic_flag_test_and_set(&s->why_taken)) {
        snprintf(s->why, sizeof s->why, "%s", why);
        s->failed = 1;
    }
    atomic_store(&s->quit, 1);
}

/* Pin the calling thread to s->cpu[who] and wait for the other side
 * (0), or -1 when the pin failed or the other side quit. */
static int pin_and_meet(pp_shared *s, int who)
{
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(s->cpu[who], &one);
    int err = pthread_setaffinity_np(pthread_self(), sizeof one, &one);
    if (err) {
        char why[100];
        snprintf(why, sizeof why, "could not pin a thread to CPU %d (%s)", s->cpu[who], strerror(err));
        fail(s, why);
        return -1;
    }
    atomic_fetch_add(&s->ready, 1);
    while (atomic_load(&s->ready) < 2)
        if (atomic_load(&s->quit))
            return -1;
    return 0;
}

/* Wait until the ball holds `want`; -1 when the other side quit or did
 * not answer within QB_PINGPONG_PATIENCE_S. */
static int wait_for(pp_shared *s, unsigned want)
{
    unsigned long spins = 0;
    double since = 0;
    while (atomic_load_explicit(&s->ball, memory_order_acquire) != want) {
        if (++spins % 65536)
            continue;
        if (atomic_load(&s->quit))
            return -1;
        double now = qb_now();
        if (since == 0)
            since = now;
        else if (now - since > QB_PINGPONG_PATIENCE_S) {
            char why[100];
            snprintf(why, sizeof why, "the thread on CPU %d did not answer within %.0f s (a busy machine)", s->cpu[1],
                     QB_PINGPONG_PATIENCE_S);
            fail(s, why);
            return -1;
        }
    }
    return 0;
}

/* Stop for the budget: too few batches (done of them) for a figure. */
static void out_of_time(pp_shared *s, size_t done)
{
    char why[160];
    snprintf(why, sizeof why,
             "%zu batches of %d round trips in %.0f s, fewer than %d (a round trip costs a thread switch here: "
             "valgrind, an emulator or a busy machine)",
             done, QB_PINGPONG_BATCH, QB_PINGPONG_BUDGET_S, QB_PINGPONG_MIN_BATCHES);
    fail(s, why);
}

static void *side_a(void *arg)
{
    pp_shared *s = ((pp_side *)arg)->s;
    if (pin_and_meet(s, 0))
        return NULL;
    const double start = qb_now();
    unsigned v = 1;
    for (int i = 0; i < QB_PINGPONG_WARMUP; i++, v += 2) {
        atomic_store_explicit(&s->ball, v, memory_order_release);
        if (wait_for(s, v + 1))
            return NULL;
        if (i % 16 == 15 && qb_now() - start > QB_PINGPONG_BUDGET_S) {
            out_of_time(s, 0);
            return NULL;
        }
    }
    for (size_t b = 0; b < s->batches; b++) {
        double t0 = qb_now();
        for (int i = 0; i < QB_PINGPONG_BATCH; i++, v += 2) {
            atomic_store_explicit(&s->ball, v, memory_order_release);
            if (wait_for(s, v + 1))
                return NULL;
        }
        double t1 = qb_now();
        s->ns[b] = (t1 - t0) * 1e9 / QB_PINGPONG_BATCH;
        if (b + 1 < s->batches && t1 - start > QB_PINGPONG_BUDGET_S) {
            if (b + 1 < QB_PINGPONG_MIN_BATCHES) {
                out_of_time(s, b + 1);
                return NULL;
            }
            s->batches = b + 1; /* the median of those done */
            break;
        }
    }
    atomic_store(&s->quit, 1);
    return NULL;
}

static void *side_b(void *arg)
{
    pp_shared *s = ((pp_side *)arg)->s;
    if (pin_and_meet(s, 1))
        return NULL;
    for (unsigned long spins = 0;; spins++) {
        unsigned v = atomic_load_explicit(&s->ball, memory_order_acquire);
        if (v & 1)
            atomic_store_explicit(&s->ball, v + 1, memory_order_release);
        else if (spins % 64 == 0 && atomic_load_explicit(&s->quit, memory_order_relaxed))
            return NULL;
    }
}

int qb_pingpong_measure(size_t trips, qb_pingpong *out, char *why, size_t whylen)
{
    memset(out, 0, sizeof *out);
    cpu_set_t mask;
    if (sched_getaffinity(0, sizeof mask, &mask)) {
        snprintf(why, whylen, "cannot read this thread's CPU affinity (%s)", strerror(errno));
        return -1;
    }
    int cpu[2], n = 0;
    for (int c = 0; c < CPU_SETSIZE && n < 2; c++)
        if (CPU_ISSET(c, &mask))
            cpu[n++] = c;
    if (n < 2) {
        snprintf(why, whylen, "only one CPU (%d) in this process's affinity mask: no pair to time", n ? cpu[0] : -1);
        return -1;
    }
    if (trips == 0)
        trips = QB_PINGPONG_TRIPS;
    pp_shared *s = aligned_alloc(64, (sizeof(pp_shared) + 63) / 64 * 64);
    size_t batches = (trips + QB_PINGPONG_BATCH - 1) / QB_PINGPONG_BATCH;
    double *ns = malloc(batches * sizeof *ns);
    if (!s || !ns) {
        free(s);
        free(ns);
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    memset(s, 0, sizeof *s);
    atomic_init(&s->ball, 0);
    atomic_init(&s->ready, 0);
    atomic_init(&s->quit, 0);
    atomic_flag_clear(&s->why_taken);
    s->cpu[0] = cpu[0];
    s->cpu[1] = cpu[1];
    s->batches = batches;
    s->ns = ns;
    pp_side side[2] = {{s, 0}, {s, 1}};
    pthread_t th[2];
    int made = 0;
    for (; made < 2; made++) {
        int err = pthread_create(&th[made], NULL, made ? side_b : side_a, &side[made]);
        if (err) {
            char msg[100];
            snprintf(msg, sizeof msg, "could not start a thread for CPU %d (%s)", cpu[made], strerror(err));
            fail(s, msg);
            break;
        }
    }
    for (int i = 0; i < made; i++)
        pthread_join(th[i], NULL);
    int rc = -1;
    qb_robust r;
    batches = s->batches; /* fewer when the budget ran out */
    if (s->failed)
        snprintf(why, whylen, "%s", s->why);
    else if (qb_robust_of(ns, batches, &r))
        snprintf(why, whylen, "out of memory");
    else {
        out->cpu_a = cpu[0];
        out->cpu_b = cpu[1];
        out->trips = batches * QB_PINGPONG_BATCH;
        out->batches = batches;
        out->median_ns = r.median;
        out->q1_ns = r.q1;
        out->q3_ns = r.q3;
        rc = 0;
    }
    free(ns);
    free(s);
    return rc;
}
