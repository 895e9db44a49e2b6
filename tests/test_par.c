/*
 * test_par.c - multi-threaded inference (harness/graph/par.c): the row
 * chunk helpers on every GEMM and depthwise kernel this CPU runs (odd M,
 * one row, strided operands, stride-2 and asymmetric padding), bit-
 * identical for 1, 2 and 3 threads, identical to one whole kernel call
 * for the integer precisions and depthwise, within rounding for float
 * GEMMs, never writing outside C; the column chunks of calls of few rows
 * (kernels whose pack slices over N), the same way; and whole models (conv chains with
 * depthwise, grouped and pointwise convs, pools, Gemm and MatMul, NHWC
 * links and NCHW-only) in fp32, fp16, int8-channel, int8-tensor, int4 and
 * binary, bit-identical for 1, 2 and 3 threads, with --profile's phased
 * path, and against unchunked runs; element-wise Mul/Add and a tiling
 * ConvTranspose in chunks against one piece. The thread team: thousands of loops
 * back to back at changing thread counts, loops inside a chunk, and two
 * callers at once, each index run exactly once; small loops on the
 * caller alone, longer ones on the team after their timed first runs.
 */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "harness/data/dataset.h"
#include "harness/graph/graph.h"
#include "harness/graph/par.h"
#include "tests/graph_build.h"
#include "harness/qmath/quant.h"

static int is_int(qb_precision p) { return !qb_precision_is_float(p); }

/* Uniform float in [lo, hi). */
static float urand(uint64_t *s, float lo, float hi) { return lo + (hi - lo) * qb_rng_uniform(s); }

/* Largest |a - b| / max(1, |b|) over n floats. */
static double max_rel(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]) / fmax(1.0, fabs((double)b[i]));
        m = d > m || d != d ? d : m;
    }
    return m;
}

/* ---- the helpers on the kernels ---- */

enum { KMAX = 500, NMAX = 37, MMAX = 301 };

/* Random weights for kernel k (N x K), packed. */
static void pack_random(const qb_kernel *k, int N, int K, uint64_t *s, qb_packed *p)
{
    float *f = malloc(sizeof(float) * N * K), *bf = malloc(sizeof(float) * N), *sc = malloc(sizeof(float) * N * K);
    int8_t *q = malloc((size_t)N * K);
    int32_t *bi = malloc(sizeof(int32_t) * N);
    for (int i = 0; i < N * K; i++) {
        f[i] = urand(s, -1, 1);
        q[i] = (int8_t)(k->prec == QB_PREC_INT4 ? qb_rng_below(s, 16) - 8 : qb_rng_below(s, 255) - 127);
        sc[i] = urand(s, 0.001f, 0.01f);
    }
    for (int i = 0; i < N; i++)
        bf[i] = urand(s, -1, 1), bi[i] = qb_rng_below(s, 2001) - 1000;
    qb_weights w = {.n = N, .k = K, .f32 = f, .bias_f32 = bf};
    if (k->op == QB_OP_GEMM && k->prec == QB_PREC_INT4)
        w.group = 32, w.i8 = q, w.scale = sc;
    else if (qb_precision_is_int8(k->prec))
        w.i8 = q, w.bias_i32 = bi, w.bias_f32 = NULL;
    else if (k->prec == QB_PREC_BINARY)
        w.scale = sc;
    char err[200];
    if (qb_pack(k, &w, p, err, sizeof err))
        fail_msg("%s: %s", k->name, err);
    free(f), free(bf), free(sc), free(q), free(bi);
}

/* C of one call: kernel once (whole) or through qb_gpar_gemm with threads. */
static void gemm_call(const qb_packed *p, const qb_gemm_args *a0, void *c, size_t cbytes, int threads)
{
    memset(c, 0x5a, cbytes); /* sentinel between rows (ldc > N) */
    qb_gemm_args a = *a0;
    a.c = c;
    if (!threads) {
        p->kernel->run.gemm(p, &a);
        return;
    }
    qb_gpar_set_threads(threads);
    qb_gpar_gemm(p, &a);
}

static void test_gemm_chunks(void **st)
{
    (void)st;
    int nk, tested = 0;
    const qb_kernel *ks = qb_kernels(&nk);
    uint64_t s = 11;
    static const int Ms[] = {1, 5, 47, 97, MMAX}, Ks[] = {70, KMAX};
    qb_requant rq[NMAX];
    for (int i = 0; i < NMAX; i++)
        assert_int_equal(qb_requant_from_real(0.002 + 0.0003 * i, &rq[i]), 0);
    for (int ki = 0; ki < nk; ki++) {
        const qb_kernel *k = &ks[ki];
        if (k->op != QB_OP_GEMM || !qb_kernel_available(k, NULL, 0))
            continue;
        int i8 = qb_precision_is_int8(k->prec);
        for (int kk = 0; kk < 2; kk++)
            for (int out32 = 0; out32 <= i8; out32++) {
                int N = NMAX, K = Ks[kk];
                qb_packed p;
                pack_random(k, N, K, &s, &p);
                size_t lda = k->prec == QB_PREC_BINARY ? qb_binary_words(K) + 1 : (size_t)K + 3, ldc = N + 5;
                size_t as = qb_gpar_a_size(k), abytes = MMAX * lda * as;
                void *A = malloc(abytes);
                float *xf = malloc(sizeof(float) * MMAX * K);
                for (int i = 0; i < MMAX * K; i++)
                    xf[i] = urand(&s, -1, 1);
                if (k->prec == QB_PREC_BINARY)
                    qb_binary_pack_rows(xf, MMAX, K, (size_t)K, A, lda);
                else if (as == 1)
                    for (size_t i = 0; i < abytes; i++)
                        ((int8_t *)A)[i] = (int8_t)(qb_rng_below(&s, 256) - 128);
                else
                    for (size_t i = 0; i < MMAX * lda; i++)
                        ((float *)A)[i] = urand(&s, -1, 1);
                qb_gemm_args a = {.a = A, .lda = lda, .ldc = ldc, .a_zero = -3, .a_scale = 0.02f, .rq = rq,
                                  .c_zero = 5, .c_min = -100, .c_max = 120, .out_i32 = out32,
                                  .f_min = -INFINITY, .f_max = INFINITY};
                size_t cs = qb_gpar_c_size(k, &a), cbytes = MMAX * ldc * cs;
                char *whole = malloc(cbytes), *par = malloc(cbytes), *par1 = malloc(cbytes);
                for (int mi = 0; mi < 5; mi++) {
                    a.m = Ms[mi];
                    size_t used = (size_t)a.m * ldc * cs;
                    gemm_call(&p, &a, whole, cbytes, 0);
                    for (int t = 1; t <= 3; t++) {
                        long before = qb_gpar_regions;
                        gemm_call(&p, &a, t == 1 ? par1 : par, cbytes, t);
                        int chunks = a.m > qb_gpar_chunk(a.m, (int64_t)N * K, QB_GPAR_ALIGN);
                        /* a region exactly when there are several chunks and threads */
                        assert_int_equal(qb_gpar_regions - before, t > 1 && chunks);
                        if (t > 1 && memcmp(par, par1, cbytes))
                            fail_msg("%s M=%d K=%d: %d threads differ from 1", k->name, a.m, K, t);
                    }
                    for (size_t i = used; i < cbytes; i++) /* nothing written past row m */
                        assert_int_equal((unsigned char)par1[i], 0x5a);
                    for (int r = 0; r < a.m; r++) /* nor between rows */
                        for (size_t b = (size_t)N * cs; b < ldc * cs; b++)
                            assert_int_equal((unsigned char)par1[r * ldc * cs + b], 0x5a);
                    if (is_int(k->prec)) {
                        if (memcmp(whole, par1, cbytes))
                            fail_msg("%s M=%d K=%d: chunks differ from one call", k->name, a.m, K);
                    } else {
                        for (int r = 0; r < a.m; r++) {
                            double d = max_rel((float *)par1 + r * ldc, (float *)whole + r * ldc, N);
                            if (d > 1e-5)
                                fail_msg("%s M=%d K=%d row %d: off by %g", k->name, a.m, K, r, d);
                        }
                    }
                }
                tested++;
                free(whole), free(par), free(par1), free(A), free(xf);
                qb_packed_free(&p);
            }
    }
    assert_true(tested >= 6); /* every precision at least on the scalar ISA, twice */
}

/* Few rows, many columns: kernels that can slice their pack (QB_KF_COLUMNS)
 * split N; the same bits for 1, 2 and 3 threads, and (integer
 * precisions) as one whole call; nothing written outside C. */
static void test_gemm_cols(void **st)
{
    (void)st;
    int nk, split = 0;
    const qb_kernel *ks = qb_kernels(&nk);
    uint64_t s = 13;
    enum { N = 600, K = 1000, M = 3 };
    qb_requant rq[N];
    for (int i = 0; i < N; i++)
        assert_int_equal(qb_requant_from_real(0.001 + 0.00001 * i, &rq[i]), 0);
    for (int ki = 0; ki < nk; ki++) {
        const qb_kernel *k = &ks[ki];
        if (k->op != QB_OP_GEMM || !qb_kernel_available(k, NULL, 0))
            continue;
        qb_packed p;
        pack_random(k, N, K, &s, &p);
        size_t lda = k->prec == QB_PREC_BINARY ? qb_binary_words(K) : (size_t)K + 1, ldc = N + 7;
        size_t as = qb_gpar_a_size(k), abytes = M * lda * as;
        void *A = calloc(1, abytes);
        if (k->prec == QB_PREC_BINARY) {
            float *xf = malloc(sizeof(float) * M * K);
            for (int i = 0; i < M * K; i++)
                xf[i] = urand(&s, -1, 1);
            qb_binary_pack_rows(xf, M, K, (size_t)K, A, lda);
            free(xf);
        } else if (as == 1) {
            for (size_t i = 0; i < abytes; i++)
                ((int8_t *)A)[i] = (int8_t)(qb_rng_below(&s, 256) - 128);
        } else {
            for (size_t i = 0; i < M * lda; i++)
                ((float *)A)[i] = urand(&s, -1, 1);
        }
        qb_gemm_args a = {.a = A, .lda = lda, .ldc = ldc, .a_zero = 4, .a_scale = 0.02f, .rq = rq, .c_zero = -2,
                          .c_min = -128, .c_max = 127, .f_min = -INFINITY, .f_max = INFINITY};
        size_t cs = qb_gpar_c_size(k, &a), cbytes = M * ldc * cs;
        char *whole = malloc(cbytes), *par = malloc(cbytes), *par1 = malloc(cbytes);
        for (int m = 1; m <= M; m += 2) {
            a.m = m;
            int64_t cols = qb_gpar_col_chunk(&p, m);
            assert_int_equal(cols > 0, (k->flags & QB_KF_COLUMNS) != 0);
            split += cols > 0;
            gemm_call(&p, &a, whole, cbytes, 0);
            for (int t = 1; t <= 3; t++) {
                long before = qb_gpar_regions;
                gemm_call(&p, &a, t == 1 ? par1 : par, cbytes, t);
                assert_int_equal(qb_gpar_regions - before, t > 1 && cols > 0);
                if (t > 1 && memcmp(par, par1, cbytes))
                    fail_msg("%s M=%d: %d threads differ from 1", k->name, m, t);
            }
            for (int r = 0; r < M; r++) /* nothing past column N, nor past row m */
                for (size_t b = r < m ? (size_t)N * cs : 0; b < ldc * cs; b++)
                    assert_int_equal((unsigned char)par1[r * ldc * cs + b], 0x5a);
            if (is_int(k->prec)) {
                if (memcmp(whole, par1, cbytes))
                    fail_msg("%s M=%d: column chunks differ from one call", k->name, m);
            } else {
                for (int r = 0; r < m; r++) {
                    double d = max_rel((float *)par1 + r * ldc, (float *)whole + r * ldc, N);
                    if (d > 1e-5)
                        fail_msg("%s M=%d row %d: off by %g", k->name, m, r, d);
                }
            }
        }
        free(whole), free(par), free(par1), free(A);
        qb_packed_free(&p);
    }
    assert_true(split >= 12); /* every precision's scalar kernel, at M = 1 and 3 */
}

static void test_dw_chunks(void **st)
{
    (void)st;
    enum { H = 45, W = 19, C = 40 };
    static const int pads[][4] = {{0, 0, 0, 0}, {1, 1, 1, 1}, {0, 1, 1, 0}, {1, 0, 0, 1}}; /* t, b, l, r */
    int nk, tested = 0;
    const qb_kernel *ks = qb_kernels(&nk);
    uint64_t s = 5;
    qb_requant rq[C];
    for (int i = 0; i < C; i++)
        assert_int_equal(qb_requant_from_real(0.01 + 0.001 * i, &rq[i]), 0);
    for (int ki = 0; ki < nk; ki++) {
        const qb_kernel *k = &ks[ki];
        if (k->op != QB_OP_DWCONV || !qb_kernel_available(k, NULL, 0))
            continue;
        qb_packed p;
        pack_random(k, C, 9, &s, &p);
        size_t es = qb_gpar_dw_size(k);
        char *x = malloc(H * W * C * es);
        for (int i = 0; i < H * W * C; i++) {
            if (es == 1)
                x[i] = (char)(qb_rng_below(&s, 256) - 128);
            else
                ((float *)x)[i] = urand(&s, -1, 1);
        }
        size_t ybytes = H * W * C * es;
        char *whole = malloc(ybytes), *par = malloc(ybytes), *par1 = malloc(ybytes);
        for (int stride = 1; stride <= 2; stride++)
            for (int pi = 0; pi < 4; pi++) {
                const int *pd = pads[pi];
                qb_dw_args a = {.h = H, .w = W, .c = C, .kh = 3, .kw = 3, .stride_h = stride, .stride_w = stride, .dil_h = 1,
                                .dil_w = 1, .pad_t = pd[0], .pad_l = pd[2],
                                .out_h = (H + pd[0] + pd[1] - 3) / stride + 1,
                                .out_w = (W + pd[2] + pd[3] - 3) / stride + 1, .x = x, .x_zero = 7, .rq = rq,
                                .y_zero = -4, .y_min = -120, .y_max = 110, .f_min = -INFINITY, .f_max = INFINITY};
                int64_t chunk = qb_gpar_chunk(a.out_h, (int64_t)a.out_w * C * 9, 1);
                assert_true(chunk < a.out_h); /* several chunks */
                memset(whole, 0x5a, ybytes);
                a.y = whole;
                k->run.dw(&p, &a);
                for (int t = 1; t <= 3; t++) {
                    char *y = t == 1 ? par1 : par;
                    memset(y, 0x5a, ybytes);
                    a.y = y;
                    qb_gpar_set_threads(t);
                    long before = qb_gpar_regions;
                    qb_gpar_dw(&p, &a);
                    assert_int_equal(qb_gpar_regions - before, t > 1);
                    /* depthwise is per pixel: the chunks compute exactly the whole call */
                    if (memcmp(y, whole, ybytes))
                        fail_msg("%s stride %d pads %d%d%d%d, %d threads: differs from one call", k->name, stride,
                                 pd[0], pd[1], pd[2], pd[3], t);
                }
            }
        tested++;
        free(x), free(whole), free(par), free(par1);
        qb_packed_free(&p);
    }
    assert_true(tested >= 2);
}

static int hits[1000]; /* test_chunk_rule: how often each index was visited */

/* test_chunk_rule's loop body: count each index of the piece. */
static void count_body(void *ctx, int64_t i0, int64_t i1)
{
    (void)ctx;
    assert_true(i1 - i0 <= 48 && i0 % 48 == 0);
    for (int64_t i = i0; i < i1; i++)
        __atomic_fetch_add(&hits[i], 1, __ATOMIC_RELAXED);
}

static void test_chunk_rule(void **st)
{
    (void)st;
    /* multiples of the alignment, at least the minimum work, at most the chunk count */
    assert_int_equal(qb_gpar_chunk(1, 10, 48), 1);
    assert_int_equal(qb_gpar_chunk(1000, 1000000, 48), 48);
    assert_int_equal(qb_gpar_chunk(1000, 1000, 48), 96); /* 66 rows of work, rounded up */
    assert_int_equal(qb_gpar_chunk(100000, 1000000, 48), 1584); /* 64 chunks at most */
    assert_int_equal(qb_gpar_chunk(40, 10, 1), 40);
    /* the thread count asked for is the one regions get */
    qb_gpar_set_threads(3);
    assert_int_equal(qb_gpar_threads(), 3);
    qb_gpar_set_threads(1);
    assert_int_equal(qb_gpar_threads(), 1);
    /* the pieces of qb_gpar_for cover [0, n) once, for any thread count */
    for (int t = 1; t <= 3; t++) {
        qb_gpar_set_threads(t);
        memset(hits, 0, sizeof hits);
        long before = qb_gpar_regions;
        qb_gpar_for(1000, 48, count_body, NULL);
        assert_int_equal(qb_gpar_regions - before, t > 1);
        for (int i = 0; i < 1000; i++)
            assert_int_equal(hits[i], 1);
    }
}

/* test_team's loop bodies: count each index of the piece (any chunk size;
 * ctx: the counters), and the same with a loop started inside the piece
 * (it must run alone, on this thread, and still count each index once). */
static void count_any(void *ctx, int64_t i0, int64_t i1)
{
    for (int64_t i = i0; i < i1; i++)
        __atomic_fetch_add(&((int *)ctx)[i], 1, __ATOMIC_RELAXED);
}

static void nested_body(void *ctx, int64_t i0, int64_t i1)
{
    int *inner = (int *)ctx + 1000;
    assert_int_equal(qb_gpar_threads(), 1);
    for (int64_t i = i0; i < i1; i++)
        qb_gpar_for(10, 3, count_any, inner + i * 10);
    count_any(ctx, i0, i1);
}

/* A second caller: many loops while the main thread runs its own (the
 * team takes one caller at a time, the other runs alone). */
static void *other_caller(void *arg)
{
    int *c = arg;
    for (int r = 0; r < 200; r++)
        qb_gpar_for(500, 7, count_any, c);
    return NULL;
}

static void test_team(void **st)
{
    (void)st;
    static int c[1000 + 1000 * 10], c2[500];
    /* many loops back to back, of changing sizes and thread counts: each index once per loop */
    for (int r = 0; r < 3000; r++) {
        int t = 1 + r % 3, n = 1 + (r * 37) % 1000;
        qb_gpar_set_threads(t);
        memset(c, 0, sizeof(int) * n);
        qb_gpar_for(n, 1 + r % 17, count_any, c);
        for (int i = 0; i < n; i++)
            assert_int_equal(c[i], 1);
    }
    /* a loop inside a chunk runs alone and is not a region of its own */
    qb_gpar_set_threads(2);
    memset(c, 0, sizeof c);
    long before = qb_gpar_regions;
    qb_gpar_for(1000, 10, nested_body, c);
    assert_int_equal(qb_gpar_regions - before, 1);
    for (int i = 0; i < 1000 + 1000 * 10; i++)
        assert_int_equal(c[i], 1);
    /* two callers at once */
    memset(c, 0, sizeof c);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, other_caller, c2), 0);
    for (int r = 0; r < 200; r++)
        qb_gpar_for(1000, 9, count_any, c);
    assert_int_equal(pthread_join(th, NULL), 0);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(c[i], 200);
    for (int i = 0; i < 500; i++)
        assert_int_equal(c2[i], 200);
    qb_gpar_set_threads(1);
}

/* test_small_loops' slow loop: each chunk sleeps 60 us first (far over
 * the threshold the test sets), then counts its indices. */
static void slow_body(void *ctx, int64_t i0, int64_t i1)
{
    struct timespec ts = {0, 60000};
    nanosleep(&ts, NULL);
    count_any(ctx, i0, i1);
}

/* Loops under qb_gpar_min_ns run on the caller alone (no region), each
 * index once; a loop whose chunks take longer is timed one after another
 * QB_GPAR_PROBES times, then runs on the team. Lower bounds only (a
 * sleep), no timing compared. */
static void test_small_loops(void **st)
{
    (void)st;
    static int c[1000];
    qb_gpar_set_threads(2);
    qb_gpar_min_ns = INT64_MAX / 2; /* every loop is small */
    long before = qb_gpar_regions;
    for (int r = 0; r < 10; r++) {
        memset(c, 0, sizeof c);
        qb_gpar_for(1000, 48, count_any, c);
        for (int i = 0; i < 1000; i++)
            assert_int_equal(c[i], 1);
    }
    assert_int_equal(qb_gpar_regions - before, 0);
    qb_gpar_min_ns = 1000; /* 1 us: 8 chunks of 60 us are not small */
    before = qb_gpar_regions;
    for (int r = 0; r < QB_GPAR_PROBES + 4; r++) {
        memset(c, 0, sizeof c);
        qb_gpar_for(8, 1, slow_body, c);
        for (int i = 0; i < 8; i++)
            assert_int_equal(c[i], 1);
        assert_int_equal(qb_gpar_regions - before, r < QB_GPAR_PROBES ? 0 : r - QB_GPAR_PROBES + 1);
    }
    qb_gpar_min_ns = 0;
    qb_gpar_set_threads(1);
}

/* test_many_loops' body: does nothing (the loops are only remembered). */
static void idle_body(void *ctx, int64_t i0, int64_t i1)
{
    (void)ctx, (void)i0, (void)i1;
}

/* Many loops (a big model, or a sweep's several models in one process)
 * are each remembered and decided: after their probes every one of 3000
 * loops, run in turns, is known to run alone. A table where a new loop
 * took an older loop's slot failed this (the two re-probed for ever, and
 * which loops met depended on the build). */
static void test_many_loops(void **st)
{
    (void)st;
    qb_gpar_set_threads(2);
    qb_gpar_min_ns = INT64_MAX / 2; /* every loop is small */
    enum { LOOPS = 3000 };
    for (int r = 0; r < QB_GPAR_PROBES; r++)
        for (int64_t n = 2; n < 2 + LOOPS; n++)
            qb_gpar_for(n, n / 2, idle_body, NULL);
    int alone = 0;
    for (int64_t n = 2; n < 2 + LOOPS; n++)
        alone += qb_gpar_alone(n, n / 2, idle_body);
    qb_gpar_min_ns = 0; /* as the other tests expect it, before a failure ends this one */
    qb_gpar_set_threads(1);
    assert_int_equal(alone, LOOPS);
}

/* ---- whole models ---- */

static int add_t(qb_graph *g, const char *name, int ndim, const int64_t *dims, const float *data)
{
    return qb_test_tensor(g, name, QB_DT_FLOAT, ndim, dims, data);
}

/* A random constant of the given shape. */
static void add_rand(qb_graph *g, const char *name, int ndim, const int64_t *dims, float amp, uint64_t *s)
{
    int64_t n = qb_shape_count(ndim, dims);
    float *v = malloc(sizeof(float) * n);
    for (int64_t i = 0; i < n; i++)
        v[i] = urand(s, -amp, amp);
    add_t(g, name, ndim, dims, v);
    free(v);
}

static qb_attr *new_attr(qb_node *n, const char *name, int type) { return qb_test_attr(n, name, type); }

static void attr_i(qb_node *n, const char *name, int64_t v) { new_attr(n, name, QB_ATTR_INT)->i = v; }
static void attr_ints(qb_node *n, const char *name, int k, const int64_t *v) { qb_test_attr_ints(n, name, k, v); }

/* A node op(ins) -> out; nin names, "" for an omitted input. */
static qb_node *add_n(qb_graph *g, const char *op, int nin, const char *const *ins, const char *out)
{
    char name[64];
    snprintf(name, sizeof name, "%s_%d", op, g->nnodes);
    int ni = qb_graph_add_node(g, op, name, nin, 1);
    qb_node *n = &g->nodes[ni];
    for (int i = 0; i < nin; i++)
        n->in[i] = ins[i][0] ? qb_graph_tensor(g, ins[i]) : -1;
    n->out[0] = qb_graph_tensor(g, out);
    return n;
}

/* Quantized execution of n in precision p (same grid in and out, so
 * NHWC convs hand int8 on between them). */
static void quantize_node(qb_node *n, qb_precision p)
{
    if (p == QB_PREC_FP32)
        return;
    n->q = qb_qspec_new(p);
    n->q->in_scale = n->q->out_scale = 0.04f;
    n->q->in_zero = n->q->out_zero = -20;
    n->q->group = 32;
}

/* Conv x -> y (+ Relu when relu): cout, kernel k, stride, pads t l b r, group. */
/* Returns the Conv node without relu (valid until the next node is added), else NULL. */
static qb_node *conv(qb_graph *g, const char *x, const char *y, int cin, int cout, int k, int stride,
                     const int64_t *pads, int group, int relu, qb_precision p, uint64_t *s)
{
    char w[64], b[64], c[64];
    snprintf(w, sizeof w, "%s_w", y), snprintf(b, sizeof b, "%s_b", y), snprintf(c, sizeof c, "%s_c", y);
    add_rand(g, w, 4, (int64_t[]){cout, cin / group, k, k}, 1.5f / sqrtf((float)(cin / group * k * k)), s);
    add_rand(g, b, 1, (int64_t[]){cout}, 0.2f, s);
    qb_node *n = add_n(g, "Conv", 3, (const char *[]){x, w, b}, relu ? c : y);
    attr_ints(n, "pads", 4, pads);
    attr_ints(n, "strides", 2, (int64_t[]){stride, stride});
    attr_i(n, "group", group);
    quantize_node(n, p);
    if (relu)
        add_n(g, "Relu", 1, (const char *[]){c}, y);
    return relu ? NULL : n;
}

static void set_output(qb_graph *g, const char *name)
{
    g->outputs = realloc(g->outputs, (g->noutputs + 1) * sizeof(int));
    g->outputs[g->noutputs++] = qb_graph_tensor(g, name);
}

/* Batch 2 of 8x61x45: 3x3 conv to 32, depthwise stride 2 pad 1, 1x1 to
 * 136 (over 128 channels: nchw-only, its int8 output is dequantized into
 * the planes in two tiles of channels), grouped 3x3 without padding, 1x1
 * to 5 (output, NCHW); MaxPool and GlobalAveragePool of it, Flatten,
 * Gemm. */
static qb_graph *conv_net(qb_precision p, int nchw_only)
{
    qb_graph *g = qb_graph_new("par-conv");
    g->opset = 13;
    g->nchw_only = nchw_only;
    uint64_t s = 99;
    static const int64_t p1[4] = {1, 1, 1, 1}, p0[4] = {0, 0, 0, 0};
    add_t(g, "x", 4, (int64_t[]){2, 8, 61, 45}, NULL);
    conv(g, "x", "a", 8, 32, 3, 1, p1, 1, 1, p, &s);
    conv(g, "a", "b", 32, 32, 3, 2, p1, 32, 1, p, &s);
    conv(g, "b", "c", 32, 136, 1, 1, p0, 1, 1, p, &s);
    conv(g, "c", "d", 136, 20, 3, 1, p0, 2, 1, p, &s);
    conv(g, "d", "e", 20, 5, 1, 1, p0, 1, 0, p, &s);
    qb_node *mp = add_n(g, "MaxPool", 1, (const char *[]){"e"}, "m");
    attr_ints(mp, "kernel_shape", 2, (int64_t[]){2, 2});
    attr_ints(mp, "strides", 2, (int64_t[]){2, 2});
    add_n(g, "GlobalAveragePool", 1, (const char *[]){"e"}, "gap");
    add_n(g, "Flatten", 1, (const char *[]){"gap"}, "f");
    add_rand(g, "fw", 2, (int64_t[]){3, 5}, 0.5f, &s);
    add_rand(g, "fb", 1, (int64_t[]){3}, 0.5f, &s);
    qb_node *fc = add_n(g, "Gemm", 3, (const char *[]){"f", "fw", "fb"}, "y");
    attr_i(fc, "transB", 1);
    quantize_node(fc, p);
    set_output(g, "e");
    set_output(g, "m");
    set_output(g, "y");
    return g;
}

/* 1x24x40x33 through depthwise stride 2 with pads (t, l, b, r) = (0, 1,
 * 1, 0), then depthwise stride 1 pad 1 (NCHW in and out). */
static qb_graph *dw_net(qb_precision p, int nchw_only)
{
    qb_graph *g = qb_graph_new("par-dw");
    g->opset = 13;
    g->nchw_only = nchw_only;
    uint64_t s = 3;
    add_t(g, "x", 4, (int64_t[]){1, 24, 40, 33}, NULL);
    conv(g, "x", "a", 24, 24, 3, 2, (int64_t[]){0, 1, 1, 0}, 24, 1, p, &s);
    conv(g, "a", "y", 24, 24, 3, 1, (int64_t[]){1, 1, 1, 1}, 24, 0, p, &s);
    set_output(g, "y");
    return g;
}

/* x [301 x 200] Gemm (transB) to 150, Relu, MatMul by [150 x 37]; and a
 * batched MatMul of x viewed as [7 x 43 x 200] by a non-constant input
 * (the plain loop). */
static qb_graph *gemm_net(qb_precision p, int nchw_only)
{
    (void)nchw_only;
    qb_graph *g = qb_graph_new("par-gemm");
    g->opset = 13;
    uint64_t s = 17;
    add_t(g, "x", 2, (int64_t[]){301, 200}, NULL);
    add_t(g, "x3", 3, (int64_t[]){7, 43, 200}, NULL);
    add_t(g, "b3", 3, (int64_t[]){7, 200, 30}, NULL);
    add_rand(g, "w1", 2, (int64_t[]){150, 200}, 0.12f, &s);
    add_rand(g, "b1", 1, (int64_t[]){150}, 0.2f, &s);
    add_rand(g, "w2", 2, (int64_t[]){150, 37}, 0.15f, &s);
    qb_node *n = add_n(g, "Gemm", 3, (const char *[]){"x", "w1", "b1"}, "h");
    attr_i(n, "transB", 1);
    quantize_node(n, p);
    add_n(g, "Relu", 1, (const char *[]){"h"}, "r");
    quantize_node(add_n(g, "MatMul", 2, (const char *[]){"r", "w2"}, "y"), p);
    add_n(g, "MatMul", 2, (const char *[]){"x3", "b3"}, "z");
    set_output(g, "y");
    set_output(g, "z");
    return g;
}

/* A Gemm of one row (M = 1: a single chunk). */
static qb_graph *row_net(qb_precision p, int nchw_only)
{
    (void)nchw_only;
    qb_graph *g = qb_graph_new("par-row");
    g->opset = 13;
    uint64_t s = 23;
    add_t(g, "x", 2, (int64_t[]){1, 300}, NULL);
    add_rand(g, "w", 2, (int64_t[]){70, 300}, 0.1f, &s);
    add_rand(g, "b", 1, (int64_t[]){70}, 0.2f, &s);
    qb_node *n = add_n(g, "Gemm", 3, (const char *[]){"x", "w", "b"}, "y");
    attr_i(n, "transB", 1);
    quantize_node(n, p);
    set_output(g, "y");
    return g;
}

/* Batch 1 with many columns: x [1 x 1000] Gemm (transB) to 600, MatMul by
 * [600 x 1000]: each one row chunk, split over N where the kernel's pack
 * slices (QB_KF_COLUMNS). */
static qb_graph *col_net(qb_precision p, int nchw_only)
{
    (void)nchw_only;
    qb_graph *g = qb_graph_new("par-col");
    g->opset = 13;
    uint64_t s = 29;
    add_t(g, "x", 2, (int64_t[]){1, 1000}, NULL);
    add_rand(g, "w", 2, (int64_t[]){600, 1000}, 0.05f, &s);
    add_rand(g, "b", 1, (int64_t[]){600}, 0.2f, &s);
    add_rand(g, "w2", 2, (int64_t[]){600, 1000}, 0.06f, &s);
    qb_node *n = add_n(g, "Gemm", 3, (const char *[]){"x", "w", "b"}, "h");
    attr_i(n, "transB", 1);
    quantize_node(n, p);
    quantize_node(add_n(g, "MatMul", 2, (const char *[]){"h", "w2"}, "y"), p);
    set_output(g, "y");
    return g;
}

/* Element-wise and ConvTranspose outputs in chunks (fp32 only):
 * x [1 x 8 x 150 x 120] times a per-channel [8 x 1 x 1] constant, plus
 * x (one shape), and a 2x2 stride-2 ConvTranspose of x to 16 channels
 * (its windows tile the output: blocks of rows in chunks, a column slot
 * each). */
static qb_graph *elem_net(qb_precision p, int nchw_only)
{
    (void)p, (void)nchw_only;
    qb_graph *g = qb_graph_new("par-elem");
    g->opset = 13;
    uint64_t s = 31;
    add_t(g, "x", 4, (int64_t[]){1, 8, 150, 120}, NULL);
    add_rand(g, "k", 3, (int64_t[]){8, 1, 1}, 1.5f, &s);
    add_n(g, "Mul", 2, (const char *[]){"x", "k"}, "m");
    add_n(g, "Add", 2, (const char *[]){"m", "x"}, "y");
    add_rand(g, "tw", 4, (int64_t[]){8, 16, 2, 2}, 0.3f, &s);
    add_rand(g, "tb", 1, (int64_t[]){16}, 0.2f, &s);
    qb_node *t = add_n(g, "ConvTranspose", 3, (const char *[]){"x", "tw", "tb"}, "z");
    attr_ints(t, "kernel_shape", 2, (int64_t[]){2, 2});
    attr_ints(t, "strides", 2, (int64_t[]){2, 2});
    set_output(g, "y");
    set_output(g, "z");
    return g;
}

typedef qb_graph *(*net_fn)(qb_precision p, int nchw_only);

/* Every output of net (precision p) run on threads threads (whole: no
 * chunks; profile: --profile's phased path), concatenated; count in *n. */
static float *run_net(net_fn net, qb_precision p, int nchw_only, int threads, int whole, int profile, size_t *n)
{
    qb_graph *g = net(p, nchw_only);
    qb_err e = {0};
    if (qb_graph_sort(g, &e) || qb_graph_prepare(g, NULL, 0, -1, &e))
        fail_msg("%s: %s", g->file, e.msg);
    g->profile = profile;
    qb_tensor in[4];
    float *bufs[4];
    uint64_t s = 1234;
    for (int i = 0; i < g->ninputs; i++) {
        in[i] = *g->tensors[g->inputs[i]];
        int64_t c = qb_tensor_count(&in[i]);
        bufs[i] = malloc(sizeof(float) * c);
        for (int64_t j = 0; j < c; j++)
            bufs[i][j] = urand(&s, -1.5f, 2.0f);
        in[i].data = bufs[i];
    }
    qb_gpar_set_threads(threads);
    qb_gpar_whole = whole;
    int rc = qb_graph_run(g, in, g->ninputs, &e);
    qb_gpar_whole = 0;
    if (rc)
        fail_msg("%s: %s", g->file, e.msg);
    size_t total = 0;
    for (int o = 0; o < g->noutputs; o++)
        total += (size_t)qb_tensor_count(g->tensors[g->outputs[o]]);
    float *y = malloc(sizeof(float) * total);
    *n = 0;
    for (int o = 0; o < g->noutputs; o++) {
        const qb_tensor *t = g->tensors[g->outputs[o]];
        memcpy(y + *n, t->data, sizeof(float) * qb_tensor_count(t));
        *n += (size_t)qb_tensor_count(t);
    }
    for (int i = 0; i < g->ninputs; i++)
        free(bufs[i]);
    qb_graph_free(g);
    return y;
}

static void check_net(net_fn net, const char *what)
{
    static const qb_precision precs[] = {QB_PREC_FP32, QB_PREC_FP16, QB_PREC_INT8_CHANNEL, QB_PREC_INT8_TENSOR,
                                         QB_PREC_INT4, QB_PREC_BINARY};
    for (size_t pi = 0; pi < sizeof precs / sizeof precs[0]; pi++)
        for (int nchw = 0; nchw <= 1; nchw++) {
            qb_precision p = precs[pi];
            size_t n, n2;
            float *ref = run_net(net, p, nchw, 1, 0, 0, &n);
            double spread = 0;
            for (size_t i = 0; i < n; i++)
                spread = fmax(spread, fabs((double)ref[i]));
            assert_true(spread > 0.1); /* not all zero or saturated at zero */
            for (int t = 2; t <= 3; t++) {
                long before = qb_gpar_regions;
                float *y = run_net(net, p, nchw, t, 0, 0, &n2);
                assert_int_equal(n, n2);
                if (memcmp(ref, y, n * sizeof *y))
                    fail_msg("%s %s%s: %d threads differ from 1 (max rel %g)", what, qb_precision_name(p),
                             nchw ? " nchw-only" : "", t, max_rel(y, ref, n));
                /* a region wherever a layer has several chunks (col_net: if the kernel slices N) */
                const qb_kernel *kn = qb_kernel_select(QB_OP_GEMM, qb_precision_runs_as(p));
                if (net != row_net && (net != col_net || (kn->flags & QB_KF_COLUMNS)))
                    assert_true(qb_gpar_regions > before);
                free(y);
            }
            float *y = run_net(net, p, nchw, 2, 0, 1, &n2); /* --profile: phases one at a time */
            if (memcmp(ref, y, n * sizeof *y))
                fail_msg("%s %s%s: profiled run differs", what, qb_precision_name(p), nchw ? " nchw-only" : "");
            free(y);
            /* every loop found small (after its probes): its chunks on the caller, an int8 GEMM's
             * in one call as on one thread (qlayer.c); the bits of one thread, no region */
            qb_gpar_min_ns = INT64_MAX / 2;
            long before = qb_gpar_regions;
            for (int r = 0; r <= QB_GPAR_PROBES; r++) {
                y = run_net(net, p, nchw, 2, 0, r & 1, &n2);
                if (memcmp(ref, y, n * sizeof *y))
                    fail_msg("%s %s%s: 2 threads, loops run alone (run %d) differ from 1 thread", what,
                             qb_precision_name(p), nchw ? " nchw-only" : "", r);
                free(y);
            }
            assert_int_equal(qb_gpar_regions - before, 0);
            qb_gpar_min_ns = 0;
            y = run_net(net, p, nchw, 1, 1, 0, &n2); /* no chunks at all */
            double d = max_rel(y, ref, n);
            if (is_int(p) ? d != 0 : d > 1e-4)
                fail_msg("%s %s%s: unchunked run differs by %g", what, qb_precision_name(p), nchw ? " nchw-only" : "",
                         d);
            free(y);
            free(ref);
        }
}

/* elem_net on 1-3 threads: the bits of one piece, on the team. */
static void test_elem_net(void **st)
{
    (void)st;
    size_t n, n2;
    float *ref = run_net(elem_net, QB_PREC_FP32, 0, 1, 1, 0, &n);
    for (int t = 1; t <= 3; t++) {
        long before = qb_gpar_regions;
        float *y = run_net(elem_net, QB_PREC_FP32, 0, t, 0, 0, &n2);
        assert_int_equal(n, n2);
        if (memcmp(ref, y, n * sizeof *y))
            fail_msg("elem_net: %d threads differ from one piece (max rel %g)", t, max_rel(y, ref, n));
        if (t > 1)
            assert_true(qb_gpar_regions - before >= 3); /* Mul, Add, the ConvTranspose blocks */
        free(y);
    }
    free(ref);
    qb_gpar_set_threads(1);
}

static void test_conv_net(void **st)
{
    (void)st;
    check_net(conv_net, "conv net");
}

static void test_dw_net(void **st)
{
    (void)st;
    check_net(dw_net, "depthwise net");
}

static void test_gemm_net(void **st)
{
    (void)st;
    check_net(gemm_net, "gemm net");
    check_net(row_net, "one-row gemm");
    check_net(col_net, "one-row gemm split over N");
}

/* int8 convs between NCHW float tensors (nchw-only): the output
 * dequantized straight into NCHW planes and 1x1 convs quantizing their
 * NCHW input once (ops_conv.c), bit-identical on 1, 2 and 3 threads to
 * rows dequantized and transposed, inputs transposed and quantized as
 * rows (QB_NO_Q_PLANES=1 and QB_NO_INT8_LINKS=1: without links, no conv
 * quantizes its image first). */
static void test_conv_planes(void **st)
{
    (void)st;
    static const qb_precision precs[] = {QB_PREC_INT8_CHANNEL, QB_PREC_INT8_TENSOR};
    for (size_t pi = 0; pi < 2; pi++)
        for (int t = 1; t <= 3; t++) {
            size_t n, n2;
            setenv("QB_NO_Q_PLANES", "1", 1);
            setenv("QB_NO_INT8_LINKS", "1", 1);
            float *ref = run_net(conv_net, precs[pi], 1, t, 0, 0, &n);
            unsetenv("QB_NO_Q_PLANES");
            unsetenv("QB_NO_INT8_LINKS");
            for (int profile = 0; profile <= 1; profile++) {
                float *y = run_net(conv_net, precs[pi], 1, t, 0, profile, &n2);
                assert_int_equal(n, n2);
                if (memcmp(ref, y, n * sizeof *y))
                    fail_msg("conv net %s nchw-only, %d threads%s: planes path differs (max rel %g)",
                             qb_precision_name(precs[pi]), t, profile ? ", profiled" : "", max_rel(y, ref, n));
                free(y);
            }
            free(ref);
        }
}

/* Batch 2 of 8x23x71: 3x3 convs on stacked rows (ops_conv.c q_stack) or
 * direct (qdirect, on a QB_KF_A_TAPS kernel): float input quantized
 * once, pad 1, to 16; an int8 link in, stride 2, pads (t, l, b, r) =
 * (0, 1, 1, 0), to 12; 5x5 pad 2 to 10, NCHW float output (dequantized
 * into the planes); a 1x1 to 6; from the 10, 3x3 dilated (2, 1) with
 * pads (2, 1, 3, 1) to 7 (a window row of 30 bytes: segments padded to
 * 32 with zero weights). Rows of 71 and 35 output columns (q_stack and
 * qdirect need QSTACK_MIN_W). */
static qb_graph *stack_net(qb_precision p, int nchw_only)
{
    qb_graph *g = qb_graph_new("par-stack");
    g->opset = 13;
    g->nchw_only = nchw_only;
    uint64_t s = 7;
    static const int64_t p1[4] = {1, 1, 1, 1}, pa[4] = {0, 1, 1, 0}, p2[4] = {2, 2, 2, 2}, p0[4] = {0, 0, 0, 0};
    add_t(g, "x", 4, (int64_t[]){2, 8, 23, 71}, NULL);
    conv(g, "x", "a", 8, 16, 3, 1, p1, 1, 1, p, &s);
    conv(g, "a", "b", 16, 12, 3, 2, pa, 1, 1, p, &s);
    conv(g, "b", "c", 12, 10, 5, 1, p2, 1, 0, p, &s);
    conv(g, "c", "y", 10, 6, 1, 1, p0, 1, 0, p, &s);
    qb_node *d = conv(g, "c", "d", 10, 7, 3, 1, (const int64_t[]){2, 1, 3, 1}, 1, 0, p, &s); /* (no Relu: d stays valid) */
    attr_ints(d, "dilations", 2, (int64_t[]){2, 1});
    /* outputs narrower than QSTACK_MIN_W, window rows of 144 bytes (direct in runs of output rows where
     * the kernel reads them, qruns): 4 x 12 from an int8 link, 2 x 6 at stride 2 from a float map */
    conv(g, "b", "e", 12, 48, 3, 3, p1, 1, 1, p, &s);
    conv(g, "e", "f", 48, 11, 3, 1, p1, 1, 0, p, &s);
    conv(g, "b", "k", 12, 48, 3, 3, p1, 1, 0, p, &s);
    conv(g, "k", "h", 48, 5, 3, 2, pa, 1, 0, p, &s);
    set_output(g, "c");
    set_output(g, "y");
    set_output(g, "d");
    set_output(g, "f");
    set_output(g, "k");
    set_output(g, "h");
    return g;
}

/* The stacked-row and direct int8 convs, bit-identical on 1, 2 and 3
 * threads (with and without --profile, NHWC int8 links and nchw-only) to
 * im2col (QB_NO_Q_STACK=1 QB_NO_DIRECT_CONV=1): stacked rows with
 * QB_NO_DIRECT_CONV=1, direct where the int8 kernel reads taps (narrow
 * outputs in runs where it reads rows in runs). */
static void test_conv_stack(void **st)
{
    (void)st;
    static const qb_precision precs[] = {QB_PREC_INT8_CHANNEL, QB_PREC_INT8_TENSOR};
    for (size_t pi = 0; pi < 2; pi++)
        for (int nchw = 0; nchw <= 1; nchw++)
            for (int t = 1; t <= 3; t++) {
                size_t n, n2;
                setenv("QB_NO_Q_STACK", "1", 1);
                setenv("QB_NO_DIRECT_CONV", "1", 1);
                float *ref = run_net(stack_net, precs[pi], nchw, t, 0, 0, &n);
                unsetenv("QB_NO_Q_STACK");
                double spread = 0;
                for (size_t i = 0; i < n; i++)
                    spread = fmax(spread, fabs((double)ref[i]));
                assert_true(spread > 0.1);
                for (int direct = 0; direct <= 1; direct++)
                    for (int profile = 0; profile <= 1; profile++) {
                        if (direct)
                            unsetenv("QB_NO_DIRECT_CONV");
                        float *y = run_net(stack_net, precs[pi], nchw, t, 0, profile, &n2);
                        setenv("QB_NO_DIRECT_CONV", "1", 1);
                        assert_int_equal(n, n2);
                        if (memcmp(ref, y, n * sizeof *y))
                            fail_msg("stack net %s%s, %d threads%s: %s differ from im2col (max rel %g)",
                                     qb_precision_name(precs[pi]), nchw ? " nchw-only" : "", t,
                                     profile ? ", profiled" : "", direct ? "direct convs" : "stacked rows",
                                     max_rel(y, ref, n));
                        free(y);
                    }
                unsetenv("QB_NO_DIRECT_CONV");
                free(ref);
            }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chunk_rule), cmocka_unit_test(test_team), cmocka_unit_test(test_small_loops), cmocka_unit_test(test_many_loops),       cmocka_unit_test(test_gemm_chunks), cmocka_unit_test(test_gemm_cols), cmocka_unit_test(test_dw_chunks),
        cmocka_unit_test(test_conv_net),   cmocka_unit_test(test_dw_net),      cmocka_unit_test(test_gemm_net),
        cmocka_unit_test(test_conv_planes), cmocka_unit_test(test_conv_stack), cmocka_unit_test(test_elem_net),
    };
    qb_gpar_min_ns = 0; /* every loop of several chunks on the team (test_small_loops sets its own) */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
