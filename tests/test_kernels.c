/*
 * test_kernels.c - every kernel in the registry (and every SIMDe-emulated
 * VNNI kernel) against the scalar reference of its family: awkward shapes
 * M, N, K from {1, 3, 7, 15, 16, 17, 31, 33, 64, 65, 127, 257}, every int4
 * group size, odd K, strided rows, fused clamps, raw int32 outputs and
 * values at the ends of every range. Integer paths bit-exact, float paths
 * within the tolerance of harness/eval/kernel_check.c. Kernels this CPU
 * cannot run are skipped with the reason. QB_TEST_FILTER=SUBSTRING limits
 * the run to tests whose name ("KERNEL" or "KERNEL (simde)") contains it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness/eval/kernel_check.h"
#include "tests/emulated.h"

static const int shapes[] = {1, 3, 7, 15, 16, 17, 31, 33, 64, 65, 127, 257};
#define NSHAPES ((int)(sizeof shapes / sizeof shapes[0]))


/* Set for the SIMDe copies: their failures name the test to rerun, as
 * the repro line's qbench runs the native kernel. */
static int emulated_now;

static void run_case(const qb_kernel *k, qb_check_case c)
{
    qb_check_result r;
    int rc = qb_check_kernel(k, &c, &r);
    if (rc != 0)
        fail_msg("%s%s%s%s", r.msg, emulated_now ? " (SIMDe copy: QB_TEST_FILTER='" : "",
                 emulated_now ? k->name : "", emulated_now ? " (simde)' build/tests/test_kernels)" : "");
}

static int is_int8(const qb_kernel *k)
{
    return qb_precision_is_int8(k->prec);
}

static void check_gemm(const qb_kernel *k)
{
    uint64_t seed = 1;
    /* every (M, N) pair, K cycling through the set: each K 12 times */
    for (int i = 0; i < NSHAPES; i++)
        for (int j = 0; j < NSHAPES; j++) {
            qb_check_case c = {.m = shapes[i], .n = shapes[j], .k = shapes[(i + j) % NSHAPES],
                               .seed = seed++};
            if (k->prec == QB_PREC_INT4)
                c.group = (int[]){0, 32, 64, 128}[(i + 2 * j) % 4];
            run_case(k, c);
        }
    /* every K with a few (M, N), in each variant */
    static const int mn[][2] = {{1, 1}, {1, 65}, {7, 17}, {16, 33}, {5, 64}};
    for (int l = 0; l < NSHAPES; l++)
        for (int s = 0; s < 5; s++) {
            qb_check_case c = {.m = mn[s][0], .n = mn[s][1], .k = shapes[l], .seed = seed++};
            c.relu = s & 1;
            c.lda_extra = (s % 3) * 5;
            c.ldc_extra = (s % 2) * 3;
            c.fill = (s + l) % 2 ? QB_FILL_EXTREME : QB_FILL_RANDOM;
            c.out_i32 = is_int8(k) && s == 2;
            if (k->prec == QB_PREC_INT4)
                c.group = (int[]){0, 32, 64, 128}[s % 4];
            run_case(k, c);
        }
    /* int4: every group size on K that is not a multiple of it */
    if (k->prec == QB_PREC_INT4)
        for (int g = 0; g < 4; g++)
            for (int kk = 1; kk <= 301; kk += 60) {
                qb_check_case c = {.m = 3, .n = 19, .k = kk, .group = (int[]){0, 32, 64, 128}[g],
                                   .seed = seed++, .fill = (kk & 1) ? QB_FILL_EXTREME : QB_FILL_RANDOM};
                run_case(k, c);
            }
    /* int8 with every multiplier in the faster form (as a model's): the
     * VNNI kernel's whole 64-column tiles narrowed row by row (N >= 64,
     * K <= 256), beside partial tiles and longer rows; clamps, strides */
    if (is_int8(k)) {
        static const int fn[] = {64, 65, 128, 200}, fk[] = {1, 9, 64, 255, 256, 257}, fm[] = {1, 5, 6, 7, 13, 40};
        for (int a = 0; a < 4; a++)
            for (int b = 0; b < 6; b++) {
                qb_check_case c = {.m = fm[(a + b) % 6], .n = fn[a], .k = fk[b], .seed = seed++, .rq_fast = 1};
                c.relu = (a + b) % 2;
                c.ldc_extra = b % 3 == 1 ? 7 : 0;
                c.lda_extra = a == 2 ? 3 : 0;
                c.fill = b % 2 ? QB_FILL_EXTREME : QB_FILL_RANDOM;
                run_case(k, c);
            }
    }
    /* int8 with N % 64 in 1..8 or 17..24 (the VNNI kernel's last tile column
     * in pairs of K steps, 17..24 from K 192): M not a multiple of the 8-row
     * tile, K % 8 = 0..7 (the row tails), K just below the pair bound,
     * pairs after whole 64-column tiles (N 72, 88, 200), strides, clamps,
     * both requantization forms, int32 out */
    if (is_int8(k)) {
        static const int pc[][3] = {{13, 24, 864}, {9, 17, 192}, {17, 20, 193}, {8, 23, 250}, {23, 8, 37},
                                    {1, 1, 5},     {7, 3, 1},     {41, 88, 197}, {5, 72, 7},   {3, 200, 300},
                                    {16, 24, 191}, {19, 24, 196}, {12, 22, 2049}, {25, 18, 198}, {2, 21, 199},
                                    {33, 6, 11}};
        for (int s = 0; s < 16; s++) {
            qb_check_case c = {.m = pc[s][0], .n = pc[s][1], .k = pc[s][2], .seed = seed++, .rq_fast = s % 3 != 2,
                               .relu = s % 2, .out_i32 = s == 4 || s == 10, .fill = s % 4 == 1 ? QB_FILL_EXTREME
                                                                                           : QB_FILL_RANDOM};
            c.lda_extra = s % 5 == 3 ? 9 : 0;
            c.ldc_extra = s % 4 == 2 ? 5 : 0;
            run_case(k, c);
        }
    }
    /* larger K: accumulators past 16 bits, several K blocks */
    qb_check_case big = {.m = 9, .n = 40, .k = 2049, .group = k->prec == QB_PREC_INT4 ? 128 : 0,
                         .seed = seed++, .fill = QB_FILL_EXTREME};
    run_case(k, big);
    /* more rows (the AVX2 int8 pair-sign expansion from 16 rows): several K
     * chunks and row blocks of a few dozen rows (K 2049), one chunk of
     * 32 quads, M % 4 = 1..3 (the last call's rows) */
    static const int mk[][2] = {{43, 2049}, {49, 128}, {18, 255}, {35, 64}};
    for (int s = 0; s < 4; s++) {
        qb_check_case c = {.m = mk[s][0], .n = 56, .k = mk[s][1], .group = k->prec == QB_PREC_INT4 ? 128 : 0,
                           .seed = seed++, .fill = s % 2 ? QB_FILL_RANDOM : QB_FILL_EXTREME, .relu = s == 1};
        run_case(k, c);
    }
    /* N a multiple of 32 and K <= 192 (the AVX2 int8 32-channel blocks): an
     * odd last row, K % 4 = 0..3, K at the one-chunk limit, several row
     * blocks (M 301), N = 32, K 40 (the blocks instead of gemm_s16), strides,
     * both requantization forms, int32 out */
    static const int nk[][3] = {{49, 128, 128}, {51, 64, 65}, {36, 96, 192}, {17, 256, 33}, {197, 128, 62},
                                {301, 64, 130}, {97, 32, 99}, {40, 160, 191}, {60, 64, 40}};
    for (int s = 0; s < 9; s++) {
        qb_check_case c = {.m = nk[s][0], .n = nk[s][1], .k = nk[s][2], .group = k->prec == QB_PREC_INT4 ? 128 : 0,
                           .seed = seed++, .fill = s % 3 ? QB_FILL_RANDOM : QB_FILL_EXTREME, .relu = s % 2 == 0,
                           .rq_fast = is_int8(k) && s % 4 != 1, .out_i32 = is_int8(k) && s == 2};
        c.lda_extra = s == 3 ? 5 : 0;
        c.ldc_extra = s == 3 || s == 7 ? 3 : 0;
        run_case(k, c);
    }
}

static void check_dw(const qb_kernel *k)
{
    static const int hw[] = {1, 2, 3, 5, 8, 17};
    static const int ch[] = {1, 3, 7, 8, 16, 17, 31, 32, 33, 64, 65}; /* 32: two pixels a 64-lane block (VNNI) */
    uint64_t seed = 1000;
    int oh, ow;
    /* 3x3, dilation 1, stride 1 or 2, padding 0 or 1 (the fast paths) */
    for (int a = 0; a < 6; a++)
        for (int b = 0; b < (int)(sizeof ch / sizeof *ch); b++)
            for (int v = 0; v < 4; v++) {
                int pad = (v >> 1) & 1;
                qb_check_case c = {.n = ch[b], .h = hw[a], .w = hw[(a + b + v) % 6], .kh = 3, .kw = 3,
                                   .sh = 1 + (v & 1), .sw = 1 + (v & 1), .dh = 1, .dw = 1, .pad_t = pad,
                                   .pad_l = pad, .pad_b = pad, .pad_r = pad, .seed = seed++};
                c.relu = (a + b) & 1;
                c.fill = (a + v) % 3 == 0 ? QB_FILL_EXTREME : QB_FILL_RANDOM;
                if (qb_check_dw_out(&c, &oh, &ow))
                    continue;
                run_case(k, c);
            }
    /* other windows {kh, kw, sh, sw, dh, dw}: sizes 1..7, strides 1..3 (different per axis),
     * dilations, asymmetric padding (also wider than the window: pixels without a tap) */
    static const int win[][6] = {{5, 5, 1, 1, 1, 1}, {5, 5, 2, 2, 1, 1}, {7, 7, 1, 1, 1, 1}, {3, 3, 2, 1, 1, 1},
                                 {3, 3, 1, 1, 2, 2}, {1, 1, 1, 1, 1, 1}, {3, 1, 1, 1, 1, 1}, {1, 5, 1, 2, 1, 1},
                                 {2, 2, 2, 2, 1, 1}, {3, 3, 3, 3, 1, 1}, {5, 3, 1, 2, 2, 1}, {3, 3, 1, 1, 1, 1}};
    static const int ch2[] = {1, 7, 16, 17, 32, 33, 65};
    for (int i = 0; i < 12; i++)
        for (int b = 0; b < (int)(sizeof ch2 / sizeof *ch2); b++)
            for (int v = 0; v < 3; v++) {
                const int *wn = win[i];
                qb_check_case c = {.n = ch2[b], .h = (int[]){6, 11, 19}[v], .w = (int[]){13, 7, 22}[(b + v) % 3],
                                   .kh = wn[0], .kw = wn[1], .sh = wn[2], .sw = wn[3], .dh = wn[4], .dw = wn[5],
                                   .pad_t = (v + i) % 3, .pad_l = (v + 1) % 3, .pad_b = (b + i) % 2,
                                   .pad_r = (i + v) % 4, .seed = seed++};
                if (i == 11) { /* padding wider than the window */
                    c.pad_t = 4, c.pad_l = 3 + v, c.pad_b = 5, c.pad_r = 0;
                }
                c.relu = (b + v) & 1;
                c.fill = (i + b + v) % 3 == 0 ? QB_FILL_EXTREME : QB_FILL_RANDOM;
                if (qb_check_dw_out(&c, &oh, &ow))
                    continue;
                run_case(k, c);
            }
    /* wide rows: several runs of 8 pixels (VNNI fp32) with a shifted last run, windows 3/5/7 wide,
     * stride 1/2 along x with another vertical stride and dilation */
    static const int wide[][6] = {{3, 3, 1, 1, 1, 1}, {3, 3, 2, 2, 1, 1}, {5, 5, 1, 2, 1, 1}, {7, 7, 2, 1, 1, 1},
                                  {3, 5, 3, 1, 2, 1}, {1, 7, 1, 2, 1, 1}, {3, 3, 1, 2, 2, 1}};
    for (int i = 0; i < 7; i++)
        for (int v = 0; v < 3; v++) {
            const int *wn = wide[i];
            qb_check_case c = {.n = (int[]){16, 33, 5}[v], .h = 7 + v, .w = (int[]){40, 33, 64}[v], .kh = wn[0],
                               .kw = wn[1], .sh = wn[2], .sw = wn[3], .dh = wn[4], .dw = wn[5], .pad_t = v,
                               .pad_l = (i + v) % 4, .pad_b = 1, .pad_r = v + 1, .seed = seed++};
            c.relu = v & 1;
            c.fill = (i + v) % 3 == 0 ? QB_FILL_EXTREME : QB_FILL_RANDOM;
            if (qb_check_dw_out(&c, &oh, &ow))
                continue;
            run_case(k, c);
        }
    /* 5x5 (and 3x3 at C < 32) on the VNNI int8 kernel's rows of interleaved
     * taps in blocks of 16 channels (dwconv5_i8.c): C = 16..80 (partial
     * blocks of 64 and of 16), rows longer than a chunk (32 positions, 4
     * read past it), stride 1/2 along x and down, padding 0..4 (whole
     * window columns in the padding) */
    for (int v = 0; v < 20; v++) {
        const int k5 = v % 5 != 4;
        qb_check_case c = {.n = (int[]){16, 32, 48, 64, 80, 20, 24}[v % 7], .h = 3 + v % 6,
                           .w = (int[]){37, 70, 9, 33}[v % 4], .kh = k5 ? 5 : 3, .kw = k5 ? 5 : 3,
                           .sh = 1 + (v / 2) % 2, .sw = 1 + v % 2, .dh = 1, .dw = 1, .pad_t = v % 3,
                           .pad_l = (int[]){2, 0, 4, 1, 3}[v % 5], .pad_b = (v + 1) % 3, .pad_r = (v / 3) % 5,
                           .seed = seed++};
        if (!k5)
            c.n = 16 + v % 16;
        c.relu = (v / 4) & 1;
        c.fill = v % 3 == 2 ? QB_FILL_EXTREME : QB_FILL_RANDOM;
        if (qb_check_dw_out(&c, &oh, &ow))
            continue;
        run_case(k, c);
    }
    /* 3x3 with multipliers in the faster requantization's form (the
     * VNNI int8 kernel's bands of rows, y_zero folded into the rounding
     * constant; rq_fast 2: the fold refused), C = 32..128, images 2..28 */
    for (int v = 0; v < 24; v++) {
        const int sz = (int[]){7, 14, 28, 5, 2, 9}[v % 6];
        qb_check_case c = {.n = (int[]){32, 64, 96, 128}[v % 4], .h = sz, .w = sz + v % 3, .kh = 3, .kw = 3,
                           .sh = 1 + (v / 2) % 2, .sw = 1 + (v / 4) % 2, .dh = 1, .dw = 1, .pad_t = 1,
                           .pad_l = 1, .pad_b = 1, .pad_r = 1, .seed = seed++, .rq_fast = v % 8 == 7 ? 2 : 1};
        c.relu = v % 3 == 0;
        c.fill = v % 5 == 1 ? QB_FILL_EXTREME : QB_FILL_RANDOM;
        if (qb_check_dw_out(&c, &oh, &ow))
            continue;
        run_case(k, c);
    }
    /* 3x3 in the faster requantization's form at the column loops' edges
     * (the AVX2 int8 sweep: columns tested while left of the image, then
     * untested, then tested again): padding 0, 2, 3 on the left and 0..2
     * on the right, widths 1..10, stride 1/2 along x, odd pixel counts */
    for (int v = 0; v < 18; v++) {
        qb_check_case c = {.n = (int[]){48, 16, 80}[v % 3], .h = 2 + v % 4, .w = 1 + (v * 7) % 10, .kh = 3,
                           .kw = 3, .sh = 1 + (v / 3) % 2, .sw = 1 + (v / 2) % 2, .dh = 1, .dw = 1,
                           .pad_t = v % 3, .pad_l = (int[]){0, 2, 3}[v % 3], .pad_b = (v + 1) % 2,
                           .pad_r = v % 3, .seed = seed++, .rq_fast = 1};
        c.relu = v % 4 == 1;
        c.fill = v % 5 == 2 ? QB_FILL_EXTREME : QB_FILL_RANDOM;
        if (qb_check_dw_out(&c, &oh, &ow))
            continue;
        run_case(k, c);
    }
    /* 3x3 rows longer than a chunk of the VNNI int8 kernel's ring of
     * interleaved rows (32 positions: 32 pixels, 64 at C = 32), stride 1/2 */
    for (int v = 0; v < 6; v++) {
        qb_check_case c = {.n = (int[]){32, 64, 96}[v % 3], .h = 4 + v % 2, .w = (int[]){70, 131}[v / 3], .kh = 3,
                           .kw = 3, .sh = 1 + (v & 1), .sw = 1 + (v & 1), .dh = 1, .dw = 1, .pad_t = v % 2,
                           .pad_l = 1, .pad_b = 1, .pad_r = v % 3 == 0, .seed = seed++};
        c.relu = v & 1;
        c.fill = v % 3 == 1 ? QB_FILL_EXTREME : QB_FILL_RANDOM;
        if (qb_check_dw_out(&c, &oh, &ow))
            continue;
        run_case(k, c);
    }
}

/* ---- column slices of a pack (QB_KF_COLUMNS, qb_packed_columns) ---- */

static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

/* The logical weights of a slice test: N x K of each kind a kernel takes. */
typedef struct slice_w {
    int n, k, group, ng;  /* shape, int4 group (0: per channel), groups per column */
    float *f32, *bf, *sc; /* float weights, float biases, scales (int4: N x ng; binary: N) */
    int8_t *i8;           /* int8 in [-127, 127] or int4 in [-8, 7] */
    int32_t *bi;          /* int32 biases */
} slice_w;

/* Packs columns [n0, n1) of sw for k (int8: with the fixed call
 * parameters gq, its multipliers offset to the slice's, when not NULL). */
static void pack_slice(const qb_kernel *k, const slice_w *sw, int n0, int n1, const qb_gemm_fixed *gq, qb_packed *p)
{
    qb_weights w = {.n = n1 - n0, .k = sw->k, .f32 = sw->f32 + (size_t)n0 * sw->k, .bias_f32 = sw->bf + n0};
    qb_gemm_fixed fx;
    if (gq && is_int8(k)) {
        fx = *gq;
        fx.rq += fx.per_channel ? n0 : 0;
        w.gq = &fx;
    }
    if (k->prec == QB_PREC_INT4)
        w.group = sw->group, w.i8 = sw->i8 + (size_t)n0 * sw->k, w.scale = sw->sc + (size_t)n0 * sw->ng;
    else if (is_int8(k))
        w.i8 = sw->i8 + (size_t)n0 * sw->k, w.bias_i32 = sw->bi + n0, w.bias_f32 = NULL;
    else if (k->prec == QB_PREC_BINARY)
        w.scale = sw->sc + n0;
    char err[200];
    if (qb_pack(k, &w, p, err, sizeof err))
        fail_msg("%s: %s", k->name, err);
}

/* A flagged kernel's pack, sliced at multiples of QB_PACK_COLS, is the
 * pack of the slice's columns (the same bytes), and the kernel on the
 * view (C and per-channel multipliers offset) writes exactly the
 * columns of a whole call: the same bits, so a kernel whose sum order
 * follows how many panels it groups (2 threads differing from 1) fails. */
static void check_columns(const qb_kernel *k)
{
    static const int Ns[] = {200, 81, 128}, Ks[] = {37, 160, 5};
    uint32_t seed = 7;
    for (int t = 0; t < 3; t++) {
        slice_w sw = {.n = Ns[t], .k = Ks[t], .group = k->prec == QB_PREC_INT4 ? (int[]){32, 0, 64}[t] : 0};
        int N = sw.n, K = sw.k, M = (int[]){3, 1, 2}[t]; /* the GEMV-like rows too (M <= 3) */
        sw.ng = sw.group ? (K + sw.group - 1) / sw.group : 1;
        sw.f32 = malloc(sizeof(float) * N * K), sw.bf = malloc(sizeof(float) * N);
        sw.sc = malloc(sizeof(float) * N * sw.ng), sw.i8 = malloc((size_t)N * K), sw.bi = malloc(sizeof(int32_t) * N);
        for (int i = 0; i < N * K; i++) {
            sw.f32[i] = (float)((int)(lcg(&seed) % 2001) - 1000) / 1000.0f;
            sw.i8[i] = (int8_t)(k->prec == QB_PREC_INT4 ? (int)(lcg(&seed) % 16) - 8 : (int)(lcg(&seed) % 255) - 127);
        }
        for (int i = 0; i < N * sw.ng; i++)
            sw.sc[i] = 0.001f + (float)(lcg(&seed) % 1000) * 1e-5f;
        qb_requant *rq = malloc(sizeof *rq * N);
        for (int i = 0; i < N; i++) {
            sw.bf[i] = (float)((int)(lcg(&seed) % 2001) - 1000) / 500.0f;
            sw.bi[i] = (int)(lcg(&seed) % 4001) - 2000;
            assert_int_equal(qb_requant_from_real(0.001 + 0.0001 * (i % 37), &rq[i]), 0);
        }
        /* int8: every other shape packed with the call's fixed parameters (qb_weights.gq) */
        const qb_gemm_fixed fx = {.a_zero = -3, .rq = rq, .per_channel = k->prec == QB_PREC_INT8_CHANNEL, .c_zero = 5};
        const qb_gemm_fixed *gq = t % 2 ? NULL : &fx;
        qb_packed whole;
        pack_slice(k, &sw, 0, N, gq, &whole);
        /* A: M rows of int8, float or sign words */
        size_t lda = k->prec == QB_PREC_BINARY ? qb_binary_words(K) : (size_t)K;
        size_t abytes = (size_t)M * lda * (k->prec == QB_PREC_BINARY ? 8 : is_int8(k) || k->prec == QB_PREC_INT4 ? 1 : 4);
        unsigned char *A = malloc(abytes);
        if (k->prec == QB_PREC_FP32 || k->prec == QB_PREC_FP16)
            for (size_t i = 0; i < (size_t)M * K; i++)
                ((float *)A)[i] = (float)((int)(lcg(&seed) % 2001) - 1000) / 1000.0f;
        else
            for (size_t i = 0; i < abytes; i++)
                A[i] = (unsigned char)lcg(&seed);
        if (k->prec == QB_PREC_BINARY) /* pad bits zero */
            for (int r = 0; r < M; r++)
                if (K % 64)
                    ((uint64_t *)A)[(size_t)r * lda + lda - 1] &= ((uint64_t)1 << (K % 64)) - 1;
        size_t cs = is_int8(k) ? 1 : sizeof(float), cbytes = (size_t)M * N * cs;
        unsigned char *cw = malloc(cbytes), *cv = malloc(cbytes);
        qb_gemm_args a = {.m = M, .a = A, .lda = lda, .c = cw, .ldc = (size_t)N, .a_zero = -3, .a_scale = 0.02f,
                          .rq = rq, .c_zero = 5, .c_min = -128, .c_max = 127, .f_min = -1e30f, .f_max = 1e30f};
        memset(cw, 0x5a, cbytes);
        memset(cv, 0xa5, cbytes);
        k->run.gemm(&whole, &a);
        for (int n0 = 0; n0 < N; n0 += QB_PACK_COLS) {
            int n1 = n0 + QB_PACK_COLS < N ? n0 + QB_PACK_COLS : N;
            qb_packed part, view;
            pack_slice(k, &sw, n0, n1, gq, &part);
            assert_int_equal(qb_packed_columns(&whole, n0, n1, &view), 0);
            size_t bytes = k->packed_size(n1 - n0, K, sw.group);
            if (view.n != n1 - n0 || memcmp(view.w, part.w, bytes))
                fail_msg("%s N=%d K=%d: the pack of columns %d..%d is not the whole pack's bytes there", k->name, N,
                         K, n0, n1);
            qb_gemm_args av = a;
            av.c = cv + (size_t)n0 * cs;
            if (k->prec == QB_PREC_INT8_CHANNEL)
                av.rq = rq + n0;
            k->run.gemm(&view, &av);
            qb_packed_free(&part);
        }
        if (memcmp(cw, cv, cbytes))
            fail_msg("%s N=%d K=%d: the kernel on column views differs from one call", k->name, N, K);
        assert_int_equal(qb_packed_columns(&whole, 1, N, &(qb_packed){0}), -1); /* not a slice start */
        qb_packed_free(&whole);
        free(A), free(cw), free(cv), free(rq);
        free(sw.f32), free(sw.bf), free(sw.sc), free(sw.i8), free(sw.bi);
    }
}

/* Requantization at its edges, against the scalar kernel bit-exactly:
 * K = 1, w = 1, a_zero = 0, so acc = a_r + bias_n with bias_n a chosen
 * target and the rows adding offsets around it. The targets are the
 * rounding ties of each column's multiplier (|acc| * m = 2^(s-1) mod 2^s:
 * odd multiples of 2^(s_odd - 1), s_odd the shift of m's odd part), the
 * ends of the int32 range (+-127 offsets wrap, as in both kernels) and 0.
 * The multipliers cover each requantization form of vnni.h: small odd
 * parts (ties within int8 range), odd parts >= 2^16 with trailing zeros
 * (the reduced s' = 33 form, its ties only beyond 2^15), s' >= 33, and
 * qb_requant_from_real's. Output zero points around QB_RQF_ZERO_MAX
 * (32639: its ties land in range just beyond it), clamps full and ReLU;
 * M = 40 rows, past the per-channel fast form's row threshold, and M = 3. */
static void check_ties(const qb_kernel *k)
{
    static const qb_requant rqs[] = {
        {3 << 29, 33},        {3 << 29, 36},           {5 << 28, 40},      {1 << 30, 31},
        {65537 << 14, 40},    {65537 << 14, 45},       {65537 << 14, 33},  {131071 << 13, 47},
        {0x7fffffff, 62},     {0x7fffffff, 31},        {(1 << 30) + 1, 33}, {(1 << 30) + 1, 50},
        {1 << 30, 62},        {(65535 << 15) | 0, 46}, {1234567 << 8, 38}, {0x40000003, 34},
    };
    enum { NRQ = (int)(sizeof rqs / sizeof rqs[0]), NT = 12 };
    static const int offs[] = {0, 1, -1, 2, -2, 127, -128, 3, -3, 64};
    static const int32_t zeros[][3] = {{0, -128, 127}, {5, 5, 127}, {-7, -128, 127}, {32639, -128, 127},
                                       {32641, -128, 127}, {-32639, -128, 127}, {-32641, -128, 127},
                                       {32700, -128, 20}, {-32700, -100, 127}, {127, 127, 127}};
    const qb_kernel *ref = qb_kernel_get(QB_OP_GEMM, k->prec, QB_ISA_SCALAR);
    if (!ref)
        fail_msg("%s: no scalar kernel of its precision", k->name);
    const int per_ch = k->prec == QB_PREC_INT8_CHANNEL;
    const int N = per_ch ? NRQ * NT : NT; /* per tensor: one multiplier a pass */
    int8_t *w = malloc((size_t)N), A[40];
    int32_t *bias = malloc(sizeof(int32_t) * N);
    qb_requant *rq = malloc(sizeof *rq * N);
    int8_t *cr = malloc((size_t)40 * N), *ck = malloc((size_t)40 * N);
    for (int i = 0; i < 40; i++)
        A[i] = (int8_t)offs[i % 10];
    for (int j = 0; j < N; j++)
        w[j] = 1;
    for (int pass = 0; pass < (per_ch ? 1 : NRQ); pass++) {
        for (int j = 0; j < N; j++) {
            qb_requant q = rqs[per_ch ? j / NT : pass];
            rq[j] = q;
            int so = q.rshift - __builtin_ctz((uint32_t)q.multiplier), t = j % NT;
            int64_t tie = so - 1 <= 30 ? (int64_t)1 << (so - 1) : 0; /* no tie in int32 past that */
            int64_t odd = tie ? ((int64_t)0x7fffffff - tie) / (2 * tie) * 2 + 1 : 0; /* largest odd multiple */
            int64_t tg[NT] = {tie, -tie, 3 * tie, -3 * tie, odd * tie, -odd * tie, 5 * tie, -5 * tie,
                              INT32_MAX, INT32_MIN, 0, 2 * tie + 1};
            /* the SIMDe copies add and negate int32 in signed C (UBSan flags a
             * wrap there): the int32 ends, and the wraps near them, for native
             * kernels only */
            int64_t lim = emulated_now ? (int64_t)1 << 30 : INT32_MAX;
            bias[j] = (int32_t)(tg[t] > lim || tg[t] < (emulated_now ? -lim : INT32_MIN) ? 0 : tg[t]);
        }
        qb_weights qw = {.n = N, .k = 1, .i8 = w, .bias_i32 = bias};
        qb_packed pk, pr;
        char err[200];
        if (qb_pack(k, &qw, &pk, err, sizeof err) || qb_pack(ref, &qw, &pr, err, sizeof err))
            fail_msg("%s: %s", k->name, err);
        for (int z = 0; z < (int)(sizeof zeros / sizeof zeros[0]); z++)
            for (int mi = 0; mi < 2; mi++) {
                int M = mi ? 3 : 40;
                qb_gemm_args g = {.m = M, .a = A, .lda = 1, .ldc = (size_t)N, .rq = rq, .c_zero = zeros[z][0],
                                  .c_min = zeros[z][1], .c_max = zeros[z][2]};
                memset(cr, 0x5a, (size_t)M * N);
                memset(ck, 0xa5, (size_t)M * N);
                g.c = cr;
                ref->run.gemm(&pr, &g);
                /* packed without, then with the call's fixed parameters (qb_weights.gq: the
                 * requantization constants laid out at pack time, for any M) */
                const qb_gemm_fixed fx = {.a_zero = 0, .rq = rq, .per_channel = per_ch, .c_zero = g.c_zero};
                qb_weights qf = qw;
                qf.gq = &fx;
                qb_packed pf;
                if (qb_pack(k, &qf, &pf, err, sizeof err))
                    fail_msg("%s: %s", k->name, err);
                for (int fixed = 0; fixed < 2; fixed++) {
                    memset(ck, 0xa5, (size_t)M * N);
                    g.c = ck;
                    k->run.gemm(fixed ? &pf : &pk, &g);
                    for (int i = 0; i < M * N; i++)
                        if (cr[i] != ck[i]) {
                            int j = i % N;
                            fail_msg("%s%s: requant tie check%s: acc %d, multiplier %d >> %d, zero %d [%d, %d], M "
                                     "%d: %d, scalar %d",
                                     k->name, emulated_now ? " (simde)" : "", fixed ? " (packed parameters)" : "",
                                     (int32_t)((uint32_t)bias[j] + (uint32_t)A[i / N]), rq[j].multiplier,
                                     rq[j].rshift, g.c_zero, g.c_min, g.c_max, M, ck[i], cr[i]);
                        }
                }
                qb_packed_free(&pf);
            }
        qb_packed_free(&pk);
        qb_packed_free(&pr);
    }
    free(w), free(bias), free(rq), free(cr), free(ck);
}

/* The repro line of a failed check names every field of the case that
 * qbench can replay (tests/cli.sh runs these very commands). */
static void test_repro_line(void **state)
{
    (void)state;
    char buf[256];
    const qb_kernel *g = qb_kernel_get(QB_OP_GEMM, QB_PREC_INT8_CHANNEL, QB_ISA_VNNI);
    qb_check_case c = {.m = 7, .n = 17, .k = 33, .out_i32 = 1, .lda_extra = 5, .ldc_extra = 3, .relu = 1,
                       .fill = QB_FILL_EXTREME, .seed = 77};
    qb_check_repro(g, &c, buf, sizeof buf);
    assert_string_equal(buf, "qbench gemm -p int8-channel -i vnni -s 7x17x33 --out-i32 --lda-extra 5 --ldc-extra 3 "
                             "--relu --fill extreme --seed 77 --check");
    const qb_kernel *i4 = qb_kernel_get(QB_OP_GEMM, QB_PREC_INT4, QB_ISA_SCALAR);
    qb_check_case c4 = {.m = 3, .n = 19, .k = 61, .group = 32, .seed = 5};
    qb_check_repro(i4, &c4, buf, sizeof buf);
    assert_string_equal(buf, "qbench gemm -p int4 -i scalar -s 3x19x61 -g 32 --seed 5 --check");
    const qb_kernel *d = qb_kernel_get(QB_OP_DWCONV, QB_PREC_FP32, QB_ISA_AVX2);
    qb_check_case cd = {.h = 9, .w = 8, .n = 17, .kh = 5, .kw = 3, .sh = 2, .sw = 1, .dh = 1, .dw = 2, .pad_t = 2,
                        .pad_l = 0, .pad_b = 1, .pad_r = 3, .relu = 1, .fill = QB_FILL_EXTREME, .seed = 1234};
    qb_check_repro(d, &cd, buf, sizeof buf);
    assert_string_equal(buf, "qbench dwconv -p fp32 -i avx2 -s 9x8x17 -k 5x3 --stride 2x1 --dilation 1x2 "
                             "--pad 2,0,1,3 --relu --fill extreme --seed 1234 --check");
}

/* fp32 GEMM kernels with QB_KF_A_TAPS (direct conv: A's K read as
 * segments, each at its own offset from the row) against the scalar
 * kernel on the same A copied out explicitly (im2col): within the float
 * tolerance of K sums in another order; the scalar kernel with taps is
 * the same sum in the same order, so bit-exact. C is poisoned around the
 * rows (ldc past N) and must stay so. Every kernel of the registry and
 * every SIMDe copy that has the flag. */
static void check_taps(const qb_kernel *k)
{
    const qb_kernel *ref = qb_kernel_get(QB_OP_GEMM, QB_PREC_FP32, QB_ISA_SCALAR);
    /* 401: segments longer than the AVX2 kernel's K block (QB_F_KC 384), cut by it; 1, 3, 10, 17: every
     * remainder of the 4-wide NEON steps */
    static const int tks[] = {1, 3, 10, 17, 96, 401}, nts[] = {1, 2, 9}, ms[] = {1, 5, 6, 7, 13, 80};
    static const int ns[] = {1, 7, 16, 24, 33, 65};
    uint64_t seed = 88172645463325252ull;
    for (int a = 0; a < 6; a++)
        for (int b = 0; b < 3; b++)
            for (int v = 0; v < 6; v++) {
                int tk = tks[a], nt = nts[b], m = ms[(a + v) % 6], n = ns[(b + v) % 6], K = tk * nt;
                int stride = 1 + (v & 1); /* rows of A: pixels of an image row, stride apart */
                size_t lda = (size_t)stride * tk, ld_img = (size_t)(stride * m + 3) * tk, ldc = (size_t)n + 3;
                size_t img_len = ld_img * 3 + 16;
                float *img = malloc(img_len * sizeof(float)), *A = malloc((size_t)m * K * sizeof(float));
                float *W = malloc((size_t)n * K * sizeof(float)), *bias = malloc((size_t)n * sizeof(float));
                float *c_ref = malloc((size_t)m * ldc * sizeof(float)), *c_out = malloc((size_t)m * ldc * sizeof(float));
                float *c_sc = malloc((size_t)m * ldc * sizeof(float));
                ptrdiff_t taps[9];
                assert_non_null(img && A && W && bias && c_ref && c_out && c_sc);
                for (size_t i = 0; i < img_len; i++) {
                    seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
                    img[i] = (float)((int64_t)(seed >> 40) - (1 << 23)) * 0x1p-20f;
                }
                for (int i = 0; i < n * K; i++)
                    W[i] = img[(size_t)(i * 7 + 3) % img_len] * 0.5f;
                for (int i = 0; i < n; i++)
                    bias[i] = img[(size_t)(i * 11 + 1) % img_len];
                for (int t = 0; t < nt; t++) /* taps of a 3x3 window, row-major */
                    taps[t] = (ptrdiff_t)((size_t)(t / 3) * ld_img + (size_t)(t % 3) * tk);
                for (int i = 0; i < m; i++)
                    for (int t = 0; t < nt; t++)
                        memcpy(A + (size_t)i * K + (size_t)t * tk, img + i * lda + taps[t], (size_t)tk * sizeof(float));
                qb_weights w = {.n = n, .k = K, .f32 = W, .bias_f32 = bias};
                qb_packed pk, pr;
                char err[200];
                assert_int_equal(qb_pack(k, &w, &pk, err, sizeof err), 0);
                assert_int_equal(qb_pack(ref, &w, &pr, err, sizeof err), 0);
                float lo = v % 3 == 2 ? -1.0f : -INFINITY, hi = v % 3 == 2 ? 1.0f : INFINITY;
                qb_gemm_args gr = {.m = m, .a = A, .lda = (size_t)K, .c = c_ref, .ldc = ldc, .f_min = lo, .f_max = hi};
                qb_gemm_args gt = {.m = m, .a = img, .lda = lda, .c = c_out, .ldc = ldc, .f_min = lo, .f_max = hi,
                                   .a_taps = taps, .a_ntaps = nt};
                memset(c_ref, 0x7f, (size_t)m * ldc * sizeof(float));
                memset(c_out, 0x7f, (size_t)m * ldc * sizeof(float));
                memset(c_sc, 0x7f, (size_t)m * ldc * sizeof(float));
                ref->run.gemm(&pr, &gr);
                k->run.gemm(&pk, &gt);
                gt.c = c_sc;
                ref->run.gemm(&pr, &gt);
                double tol = qb_check_tolerance(k, K);
                for (int i = 0; i < m; i++)
                    for (size_t j = 0; j < ldc; j++) {
                        size_t at = (size_t)i * ldc + j;
                        if (j >= (size_t)n) { /* past N: untouched */
                            uint32_t u, p;
                            memcpy(&u, c_out + at, 4);
                            memset(&p, 0x7f, 4);
                            if (u != p)
                                fail_msg("%s taps: wrote C[%d][%zu] past N = %d", k->name, i, j, n);
                            continue;
                        }
                        double mag = fabs(bias[j]);
                        for (int l = 0; l < K; l++)
                            mag += fabs((double)A[(size_t)i * K + l] * W[(size_t)j * K + l]);
                        if (memcmp(c_sc + at, c_ref + at, 4))
                            fail_msg("scalar taps differ from the scalar im2col at [%d][%zu] (m %d n %d tk %d taps %d)", i,
                                     j, m, n, tk, nt);
                        if (!(fabs((double)c_out[at] - c_ref[at]) <= tol * mag))
                            fail_msg("%s taps: C[%d][%zu] = %g, reference %g (m %d n %d tk %d taps %d stride %d)",
                                     k->name, i, j, c_out[at], c_ref[at], m, n, tk, nt, stride);
                    }
                qb_packed_free(&pk);
                qb_packed_free(&pr);
                free(img), free(A), free(W), free(bias), free(c_ref), free(c_out), free(c_sc);
            }
}

/* int8 GEMM kernels with QB_KF_A_TAPS: the same against the scalar
 * kernel (of the kernel's precision) on the explicit im2col, bit-exact,
 * as is the scalar kernel with taps; segments of a multiple of 4 bytes
 * (the VNNI kernel's steps), others (gathered first) and one row longer
 * than the VNNI kernel's gather buffer; requantized (tensor or channel
 * multipliers, zero points, narrowed bounds) and raw int32 outputs, C
 * poisoned past N. */
static void check_taps_i8(const qb_kernel *k)
{
    const qb_kernel *ref = qb_kernel_get(QB_OP_GEMM, k->prec, QB_ISA_SCALAR);
    static const int tks[] = {1, 3, 4, 17, 96, 2049}, nts[] = {1, 2, 9}, ms[] = {1, 5, 6, 7, 13, 80};
    static const int ns[] = {1, 7, 16, 24, 33, 65};
    const int per_channel = k->prec == QB_PREC_INT8_CHANNEL;
    uint64_t seed = 88172645463325252ull;
    for (int a = 0; a < 6; a++)
        for (int b = 0; b < 3; b++)
            for (int v = 0; v < 6; v++) {
                int tk = tks[a], nt = nts[b], m = ms[(a + v) % 6], n = ns[(b + v) % 6], K = tk * nt;
                /* the long rows: three cases of K = 18441 (v 3: int32 out, N 65, whose last
                 * panel the VNNI kernel packs in pairs of steps, read by its exact scalar loop) */
                if (tk > 1000 && ((v > 1 && v != 3) || nt < 9))
                    continue;
                int stride = 1 + (v & 1), out_i32 = v == 3;
                size_t lda = (size_t)stride * tk, ld_img = (size_t)(stride * m + 3) * tk, ldc = (size_t)n + 3;
                size_t img_len = ld_img * 3 + 16, es = out_i32 ? 4 : 1;
                int8_t *img = malloc(img_len), *A = malloc((size_t)m * K), *W = malloc((size_t)n * K);
                int32_t *bias = malloc((size_t)n * sizeof(int32_t));
                qb_requant *rq = malloc((size_t)n * sizeof *rq);
                char *c_ref = malloc((size_t)m * ldc * es), *c_out = malloc((size_t)m * ldc * es);
                char *c_sc = malloc((size_t)m * ldc * es);
                ptrdiff_t taps[9];
                assert_non_null(img && A && W && bias && rq && c_ref && c_out && c_sc);
                for (size_t i = 0; i < img_len; i++) {
                    seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
                    img[i] = (int8_t)(v == 4 ? (seed & 1 ? 127 : -128) : (int)(seed >> 56) - 128);
                }
                for (int i = 0; i < n * K; i++) {
                    int x = img[(size_t)(i * 7 + 3) % img_len];
                    W[i] = (int8_t)(v == 4 ? (x < 0 ? -127 : 127) : x < -127 ? -127 : x);
                }
                for (int i = 0; i < n; i++) {
                    bias[i] = (int32_t)(img[(size_t)(i * 11 + 1) % img_len] * 1000);
                    double real = 0x1p-14 * (1 + (per_channel ? i % 5 : 0)) / (1 + K / 64);
                    assert_int_equal(qb_requant_from_real(real, &rq[i]), 0);
                }
                for (int t = 0; t < nt; t++) /* taps of a 3x3 window, row-major */
                    taps[t] = (ptrdiff_t)((size_t)(t / 3) * ld_img + (size_t)(t % 3) * tk);
                for (int i = 0; i < m; i++)
                    for (int t = 0; t < nt; t++)
                        memcpy(A + (size_t)i * K + (size_t)t * tk, img + i * lda + taps[t], (size_t)tk);
                qb_weights w = {.n = n, .k = K, .i8 = W, .bias_i32 = bias};
                qb_packed pk, pr;
                char err[200];
                assert_int_equal(qb_pack(k, &w, &pk, err, sizeof err), 0);
                assert_int_equal(qb_pack(ref, &w, &pr, err, sizeof err), 0);
                qb_gemm_args gr = {.m = m, .a = A, .lda = (size_t)K, .c = c_ref, .ldc = ldc, .a_zero = v % 3 - 1 + (v == 5) * 90,
                                   .rq = rq, .c_zero = v == 2 ? 5 : v == 5 ? -100 : 0, .c_min = v == 2 ? -20 : -128,
                                   .c_max = v == 2 ? 90 : 127, .out_i32 = out_i32};
                qb_gemm_args gt = gr;
                gt.a = img, gt.lda = lda, gt.c = c_out, gt.a_taps = taps, gt.a_ntaps = nt;
                memset(c_ref, 0x7f, (size_t)m * ldc * es);
                memset(c_out, 0x7f, (size_t)m * ldc * es);
                memset(c_sc, 0x7f, (size_t)m * ldc * es);
                ref->run.gemm(&pr, &gr);
                k->run.gemm(&pk, &gt);
                gt.c = c_sc;
                ref->run.gemm(&pr, &gt);
                if (memcmp(c_sc, c_ref, (size_t)m * ldc * es))
                    fail_msg("scalar int8 taps differ from the scalar im2col (m %d n %d tk %d taps %d)", m, n, tk, nt);
                gt.c = c_out;
                /* packed with the call's fixed parameters (qb_weights.gq, as the engine packs a
                 * layer), then with other ones (a_zero, c_zero or the last multiplier changed:
                 * the kernel must notice and set up per call): taps and plain rows, the same bytes */
                qb_requant *rq2 = malloc((size_t)n * sizeof *rq2);
                assert_non_null(rq2);
                memcpy(rq2, rq, (size_t)n * sizeof *rq2);
                rq2[per_channel ? n - 1 : 0].multiplier ^= 1 << 27; /* stays in [2^30, 2^31) */
                const qb_gemm_fixed fx[4] = {
                    {.a_zero = gr.a_zero, .rq = rq, .per_channel = per_channel, .c_zero = gr.c_zero},
                    {.a_zero = gr.a_zero + 1, .rq = rq, .per_channel = per_channel, .c_zero = gr.c_zero},
                    {.a_zero = gr.a_zero, .rq = rq, .per_channel = per_channel, .c_zero = gr.c_zero + 1},
                    {.a_zero = gr.a_zero, .rq = rq2, .per_channel = per_channel, .c_zero = gr.c_zero}};
                for (int f = 0; f < 4; f++) {
                    qb_weights wf = w;
                    wf.gq = &fx[f];
                    qb_packed pf;
                    assert_int_equal(qb_pack(k, &wf, &pf, err, sizeof err), 0);
                    for (int plain = 0; plain < 2; plain++) {
                        memset(c_out, 0x7f, (size_t)m * ldc * es);
                        k->run.gemm(&pf, plain ? &(qb_gemm_args){.m = gr.m, .a = A, .lda = (size_t)K, .c = c_out,
                                                                 .ldc = ldc, .a_zero = gr.a_zero, .rq = rq,
                                                                 .c_zero = gr.c_zero, .c_min = gr.c_min,
                                                                 .c_max = gr.c_max, .out_i32 = out_i32}
                                               : &gt);
                        if (memcmp(c_out, c_ref, (size_t)m * ldc * es))
                            fail_msg("%s%s %s, packed with %s fixed parameters: differs from the scalar im2col (m %d "
                                     "n %d tk %d taps %d v %d)",
                                     k->name, emulated_now ? " (simde)" : "", plain ? "plain rows" : "taps",
                                     f ? "other" : "the call's", m, n, tk, nt, v);
                    }
                    qb_packed_free(&pf);
                }
                free(rq2);
                memset(c_out, 0x7f, (size_t)m * ldc * es);
                k->run.gemm(&pk, &gt);
                for (int i = 0; i < m; i++)
                    for (size_t j = 0; j < ldc; j++) {
                        size_t at = ((size_t)i * ldc + j) * es;
                        if (memcmp(c_out + at, c_ref + at, es))
                            fail_msg("%s%s taps: C[%d][%zu] differs from the scalar im2col%s (m %d n %d tk %d taps %d "
                                     "stride %d v %d)",
                                     k->name, emulated_now ? " (simde)" : "", i, j, j >= (size_t)n ? " (past N)" : "", m,
                                     n, tk, nt, stride, v);
                    }
                qb_packed_free(&pk);
                qb_packed_free(&pr);
                free(img), free(A), free(W), free(bias), free(rq), free(c_ref), free(c_out), free(c_sc);
            }
}

/* int8 GEMM kernels with QB_KF_A_RUNS: rows of A in runs
 * (qb_gemm_args.a_run, a direct conv's narrow output rows in one call),
 * read through taps and as plain rows, against the scalar kernel on the
 * same rows gathered into a contiguous A, bit-exact, C poisoned past N
 * (and the scalar kernel with runs too): runs of one row, of fewer rows
 * than a tile, not dividing m, longer than m, row chunks (m 700, K 864
 * and 288) that end inside a run, pair panels (N 7, 24), gathered
 * segments (3 and 17 bytes), int32 output. */
static void check_runs_i8(const qb_kernel *k)
{
    const qb_kernel *ref = qb_kernel_get(QB_OP_GEMM, k->prec, QB_ISA_SCALAR);
    static const struct {
        int m, n, tk, nt, run;
    } cs[] = {{13, 24, 96, 3, 1},  {13, 64, 96, 3, 5},   {196, 64, 96, 3, 14}, {80, 16, 3, 9, 7},
              {45, 33, 4, 9, 6},   {700, 64, 96, 9, 14}, {700, 65, 32, 9, 29}, {30, 7, 17, 2, 100},
              {50, 24, 8, 3, 12},  {98, 128, 96, 3, 7}};
    const int per_channel = k->prec == QB_PREC_INT8_CHANNEL;
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    for (size_t ci = 0; ci < sizeof cs / sizeof cs[0]; ci++)
        for (int plain = 0; plain < 2; plain++) {
            const int m = cs[ci].m, n = cs[ci].n, tk = cs[ci].tk, nt = cs[ci].nt, run = cs[ci].run, K = tk * nt;
            const int out_i32 = ci == 4, stride = 1 + (int)(ci % 2);
            /* rows lda apart within a run, runs run_ld apart (a gap between them) */
            const size_t lda = plain ? (size_t)K : (size_t)(stride * tk), gap = (size_t)(5 * tk + 3);
            const size_t run_ld = (size_t)(run < m ? run : m) * lda + gap;
            const size_t span = (size_t)((m - 1) / run) * run_ld + (size_t)((m - 1) % run) * lda + 1;
            const size_t trow = span + (size_t)(3 * tk); /* taps: window rows this far apart */
            ptrdiff_t taps[9];
            for (int t = 0; t < nt; t++)
                taps[t] = (ptrdiff_t)((size_t)(t / 3) * trow + (size_t)(t % 3) * tk);
            const size_t img_len = plain ? span + (size_t)K + 16 : (size_t)taps[nt - 1] + span + (size_t)tk + 16;
            const size_t ldc = (size_t)n + 3, es = out_i32 ? 4 : 1;
            int8_t *img = malloc(img_len), *A = malloc((size_t)m * K), *W = malloc((size_t)n * K);
            int32_t *bias = malloc((size_t)n * sizeof(int32_t));
            qb_requant *rq = malloc((size_t)n * sizeof *rq);
            char *c_ref = malloc((size_t)m * ldc * es), *c_out = malloc((size_t)m * ldc * es);
            assert_non_null(img && A && W && bias && rq && c_ref && c_out);
            for (size_t i = 0; i < img_len; i++) {
                seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
                img[i] = (int8_t)((int)(seed >> 56) - 128);
            }
            for (int i = 0; i < n * K; i++) {
                int x = img[(size_t)(i * 7 + 3) % img_len];
                W[i] = (int8_t)(x < -127 ? -127 : x);
            }
            for (int i = 0; i < n; i++) {
                bias[i] = (int32_t)(img[(size_t)(i * 11 + 1) % img_len] * 1000);
                double real = 0x1p-14 * (1 + (per_channel ? i % 5 : 0)) / (1 + K / 64);
                assert_int_equal(qb_requant_from_real(real, &rq[i]), 0);
            }
            for (int i = 0; i < m; i++) { /* the rows gathered: the reference's A */
                size_t at = (size_t)(i / run) * run_ld + (size_t)(i % run) * lda;
                for (int t = 0; t < nt; t++)
                    memcpy(A + (size_t)i * K + (size_t)t * tk, img + at + (plain ? (size_t)t * tk : (size_t)taps[t]),
                           (size_t)tk);
            }
            qb_weights w = {.n = n, .k = K, .i8 = W, .bias_i32 = bias};
            qb_packed pk, pr;
            char err[200];
            assert_int_equal(qb_pack(k, &w, &pk, err, sizeof err), 0);
            assert_int_equal(qb_pack(ref, &w, &pr, err, sizeof err), 0);
            qb_gemm_args gr = {.m = m, .a = A, .lda = (size_t)K, .c = c_ref, .ldc = ldc, .a_zero = 3, .rq = rq,
                               .c_zero = -2, .c_min = -128, .c_max = 127, .out_i32 = out_i32};
            qb_gemm_args gt = gr;
            gt.a = img, gt.lda = lda, gt.c = c_out, gt.a_run = run, gt.a_run_ld = run_ld;
            if (!plain)
                gt.a_taps = taps, gt.a_ntaps = nt;
            memset(c_ref, 0x7f, (size_t)m * ldc * es);
            ref->run.gemm(&pr, &gr);
            for (int kk = 0; kk < 2; kk++) { /* the kernel, then the scalar one with runs */
                memset(c_out, 0x7f, (size_t)m * ldc * es);
                if (kk)
                    ref->run.gemm(&pr, &gt);
                else
                    k->run.gemm(&pk, &gt);
                if (memcmp(c_out, c_ref, (size_t)m * ldc * es))
                    fail_msg("%s%s runs (%s): differs from the scalar kernel on the gathered rows (m %d n %d tk %d "
                             "taps %d run %d)",
                             kk ? ref->name : k->name, emulated_now && !kk ? " (simde)" : "",
                             plain ? "plain rows" : "taps", m, n, tk, nt, run);
            }
            qb_packed_free(&pk);
            qb_packed_free(&pr);
            free(img), free(A), free(W), free(bias), free(rq), free(c_ref), free(c_out);
        }
}

static void test_taps(void **state)
{
    (void)state;
    int n, ne, ran = 0, runs = 0;
    const qb_kernel *all = qb_kernels(&n);
    const qb_kernel *emu = qb_emulated_kernels(&ne);
    for (int i = 0; i < n + ne; i++) {
        const qb_kernel *k = i < n ? &all[i] : &emu[i - n];
        if (!(k->flags & QB_KF_A_TAPS) || !k->run.gemm || (i < n && !qb_kernel_available(k, NULL, 0)))
            continue;
        emulated_now = i >= n;
        if (is_int8(k))
            check_taps_i8(k);
        else
            check_taps(k);
        if (k->flags & QB_KF_A_RUNS)
            check_runs_i8(k), runs++;
        ran++;
    }
    assert_true(ran >= 3);  /* the scalar kernels at least */
    assert_true(runs >= 2); /* the scalar int8 kernels at least */
}

typedef struct entry {
    const qb_kernel *k; /* kernel under test */
    int emulated;       /* runs through SIMDe */
    int columns_only;   /* a scalar reference: only its column slices (check_columns) */
} entry;

static void test_one(void **state)
{
    const entry *e = *state;
    char why[200];
    if (!e->emulated && !qb_kernel_available(e->k, why, sizeof why)) {
        print_message("[  SKIP    ] %s: %s\n", e->k->name, why);
        skip();
        return;
    }
    emulated_now = e->emulated;
    if (e->columns_only) {
        check_columns(e->k);
        return;
    }
    if (e->k->op == QB_OP_GEMM) {
        check_gemm(e->k);
        if (is_int8(e->k))
            check_ties(e->k);
        if (e->k->flags & QB_KF_COLUMNS)
            check_columns(e->k);
    }
    else
        check_dw(e->k);
}

int main(void)
{
    int n, ne;
    const qb_kernel *all = qb_kernels(&n);
    const qb_kernel *emu = qb_emulated_kernels(&ne);
    struct CMUnitTest *tests = calloc((size_t)(n + ne + 2), sizeof *tests);
    entry *entries = calloc((size_t)(n + ne + 2), sizeof *entries);
    char (*names)[96] = calloc((size_t)(n + ne + 2), sizeof *names);
    int t = 0;
    tests[t++] = (struct CMUnitTest){"repro line", test_repro_line, NULL, NULL, NULL};
    tests[t++] = (struct CMUnitTest){"a_taps (direct conv)", test_taps, NULL, NULL, NULL};
    for (int i = 0; i < n + ne; i++) {
        const qb_kernel *k = i < n ? &all[i] : &emu[i - n];
        /* the references themselves are tested in tests/test_scalar.c, here only their column slices */
        int columns_only = k->isa == QB_ISA_SCALAR;
        if (columns_only && !(k->flags & QB_KF_COLUMNS))
            continue;
        if (!k->run.gemm)
            continue; /* another architecture's kernel: not in this binary */
        snprintf(names[t], sizeof names[t], "%s%s", k->name, i >= n ? " (simde)" : columns_only ? " (columns)" : "");
        const char *only = getenv("QB_TEST_FILTER"); /* substring of test names to run */
        if (only && *only && !strstr(names[t], only))
            continue;
        entries[t] = (entry){k, i >= n, columns_only};
        tests[t] = (struct CMUnitTest){names[t], test_one, NULL, NULL, &entries[t]};
        t++;
    }
    int failed = _cmocka_run_group_tests("kernels vs scalar reference", tests, (size_t)t, NULL, NULL);
    free(tests);
    free(entries);
    free(names);
    return failed ? 1 : 0;
}
