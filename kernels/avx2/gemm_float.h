/*
 * gemm_float.h - the AVX2/FMA float GEMM engine shared by gemm_f32.c and
 * gemm_f16.c (private to kernels/avx2, everything static).
 *
 * Packed weights: W (N x K) cut into panels of 16 output channels; panel p
 * holds K rows of 16 values, w[p][k][j] = W[16p + j][k] (fp32, or IEEE
 * binary16 for fp16), the last panel zero-padded past N. A is read in place
 * (one broadcast per row and k, never a vector load, so never past a row).
 *
 * Algorithm (BLIS-like, C = A . W^T):
 *  - M <= 3 (GEMV-like): rows x (up to 3) panels side by side over the
 *    whole K, so each broadcast feeds many FMAs and several weight streams
 *    are in flight; software prefetch ahead along every panel. The weights
 *    are streamed exactly once.
 *  - M 4..6: the 6x16 microkernel (below) over the whole K, panel by panel,
 *    with the same prefetch.
 *  - M > 6: K is cut into blocks of QB_F_KC, M into blocks of QB_F_MC rows;
 *    for each 16-column panel the mr x 16 register-blocked microkernel
 *    (mr <= 6: 12 accumulators, 2 weight vectors reused by 6 broadcasts per
 *    k) walks down the balanced row groups of the M block (M = 8 runs as
 *    4 + 4), so the panel's K block (24 KiB) stays in L1 while the A block
 *    stays in L2. Partial sums of earlier K blocks live in C (prefetched
 *    when the microkernel starts); the last K block adds the bias and
 *    clamps.
 * Kernels with few accumulators split the K sum over 2 accumulator sets
 * to hide the FMA latency; the count depends on the rows only, never on
 * how many panels a call groups, so a column's sum order (and its bits)
 * does not depend on the thread count. fp16 widens weights with vcvtph2ps: inline
 * when streaming (M <= 6), else once per (K block, panel) into a small fp32
 * buffer that every row group of the block reuses.
 * Bias and clamp as the scalar reference: sum, + bias, then max/min.
 * With qb_gemm_args.a_taps (QB_KF_A_TAPS, a direct convolution: K is
 * a_ntaps segments of K / a_ntaps elements, segment s of row i at
 * a + i * lda + a_taps[s]) the kernels walk each K block (or the whole K)
 * piece by piece, a piece being the part of the block in one segment; the
 * accumulators stay in registers across pieces, so a block's sums are
 * those of the same block of an im2col copy, in the same order. Without
 * taps the block is one piece: the loops and sums are what they were.
 */
#ifndef QB_AVX2_GEMM_FLOAT_H
#define QB_AVX2_GEMM_FLOAT_H

#include <immintrin.h>
#include <stdint.h>

#include "kernels/kernels.h"

#define QB_F_NR 16  /* output channels per panel */
#define QB_F_MR 6   /* most rows per microkernel call */
#define QB_F_KC 384 /* K block (a panel's block: 24 KiB of fp32 in L1) */
#define QB_F_MC 120 /* M block (rows whose K block of A stays in L2) */
#define QB_F_PF 2048 /* streaming paths: software prefetch distance along a panel, bytes */
#define QB_F_NP_MAX 3 /* most panels side by side in the M <= 3 kernel */

#define QB_F_INLINE static inline __attribute__((always_inline))

/* Bytes of the packed weights for n x k of elem-byte values. */
QB_F_INLINE size_t qb_f_packed_size(int n, int k, size_t elem)
{
    return (size_t)((n + QB_F_NR - 1) / QB_F_NR) * QB_F_NR * (size_t)k * elem;
}

/* Where a kernel call writes, and what it does with C around its sums. */
typedef struct qb_f_tile {
    float *c;           /* top-left of the tile of C */
    size_t ldc;         /* elements between rows of C */
    int ncols;          /* valid columns of the tile (1..16 per panel) */
    int load_c;         /* add the partial sums already in C */
    int finish;         /* add the bias and clamp (last K block) */
    const float *bias;  /* bias of the tile's first column */
    float f_min, f_max; /* clamp */
    long k0;            /* the K block's first k (a is a row's start: the block is read from k0 on) */
    const ptrdiff_t *taps; /* offsets of A's K segments from a row (elements); NULL: one segment */
    long kseg;          /* elements per segment (with taps) */
} qb_f_tile;

/* Where the piece of a K block that starts at block step k lies in a row
 * of A (row start a): its first element, and its length (at most kc - k,
 * and with taps at most the rest of k's segment). */
QB_F_INLINE const float *qb_f_piece(const float *a, long k, int kc, const qb_f_tile *t, long *len)
{
    long kk = t->k0 + k;
    *len = kc - k;
    if (!t->taps)
        return a + kk;
    long s = kk / t->kseg, off = kk - s * t->kseg;
    if (*len > t->kseg - off)
        *len = t->kseg - off;
    return a + t->taps[s] + off;
}

/* Lanes j of a mask vector with base + j < ncols set. */
QB_F_INLINE __m256i qb_f_mask(int base, int ncols)
{
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(ncols - base), lanes);
}

/* Weight vector h (0: columns 0-7, 1: 8-15) of row k of a panel. */
QB_F_INLINE __m256 qb_f_loadw(const void *w, int f16, long k, int h)
{
    if (f16)
        return _mm256_cvtph_ps(_mm_load_si128((const __m128i *)((const uint16_t *)w + k * QB_F_NR + 8 * h)));
    return _mm256_load_ps((const float *)w + k * QB_F_NR + 8 * h);
}

/* Stores 8 sums v at column base of row c (masked at the end of the tile):
 * + C already there (load_c), + bias and clamp (finish). */
QB_F_INLINE void qb_f_store8(__m256 v, float *c, int base, const qb_f_tile *t, __m256 vmin, __m256 vmax)
{
    if (base >= t->ncols)
        return;
    if (base + 8 <= t->ncols) {
        if (t->load_c)
            v = _mm256_add_ps(_mm256_loadu_ps(c + base), v);
        if (t->finish) /* max(min, v) keeps a NaN v, like the scalar compare */
            v = _mm256_min_ps(vmax, _mm256_max_ps(vmin, _mm256_add_ps(v, _mm256_loadu_ps(t->bias + base))));
        _mm256_storeu_ps(c + base, v);
        return;
    }
    __m256i m = qb_f_mask(base, t->ncols);
    if (t->load_c)
        v = _mm256_add_ps(_mm256_maskload_ps(c + base, m), v);
    if (t->finish)
        v = _mm256_min_ps(vmax, _mm256_max_ps(vmin, _mm256_add_ps(v, _mm256_maskload_ps(t->bias + base, m))));
    _mm256_maskstore_ps(c + base, m, v);
}

/* The microkernel: an mr x 16 tile (mr <= 6) of one panel,
 * acc[i][h] (+)= sum over k < kc of A[i][t->k0 + k] * w[k][8h..8h+7]
 * (a: row 0's start; qb_f_piece), then the tile store. mr, f16, pf are compile-time constants after inlining; pf: the
 * panel streams from memory once (prefetch ahead), else it sits in L1. */
QB_F_INLINE void qb_f_ukr(int mr, int f16, int pf, int kc, const float *a, size_t lda, const void *w,
                          const qb_f_tile *t)
{
    enum { KS_MAX = 2 };
    const int ks = mr <= 3 ? 2 : 1; /* accumulator sets */
    __m256 acc[KS_MAX][QB_F_MR][2];
#pragma GCC unroll 2
    for (int s = 0; s < KS_MAX; s++)
#pragma GCC unroll 6
        for (int i = 0; i < QB_F_MR; i++)
            acc[s][i][0] = acc[s][i][1] = _mm256_setzero_ps();
    if (t->load_c) /* partial sums in C: on their way while the sums run */
#pragma GCC unroll 6
        for (int i = 0; i < QB_F_MR; i++) {
            if (i >= mr)
                break;
            _mm_prefetch((const char *)(t->c + (size_t)i * t->ldc), _MM_HINT_T0);
            _mm_prefetch((const char *)(t->c + (size_t)i * t->ldc + 15), _MM_HINT_T0);
        }
    /* k steps per iteration: even for fp16, whose 64-byte line holds two
     * rows, so that the prefetch of every other row is static */
    const int ku = f16 && ks == 1 ? 2 : ks;
    for (long k0 = 0, len; k0 < kc; k0 += len) { /* the block's pieces (one without taps) */
        const float *pa = qb_f_piece(a, k0, kc, t, &len), *ar[QB_F_MR];
#pragma GCC unroll 6
        for (int i = 0; i < QB_F_MR; i++)
            ar[i] = pa + (size_t)(i < mr ? i : 0) * lda; /* rows past mr: never read */
        const void *wk = (const char *)w + k0 * QB_F_NR * (f16 ? 2 : 4); /* the piece's weights */
        long k = 0;
        for (; k + ku <= len; k += ku) {
#pragma GCC unroll 2
            for (int u = 0; u < 2; u++) {
                if (u >= ku)
                    break;
                const int s = u % ks;
                if (pf && (!f16 || !(u & 1))) /* one prefetch per 64-byte line */
                    _mm_prefetch((const char *)wk + (k + u) * QB_F_NR * (f16 ? 2 : 4) + QB_F_PF, _MM_HINT_T0);
                __m256 w0 = qb_f_loadw(wk, f16, k + u, 0), w1 = qb_f_loadw(wk, f16, k + u, 1);
#pragma GCC unroll 6
                for (int i = 0; i < QB_F_MR; i++) {
                    if (i >= mr)
                        break;
                    __m256 b = _mm256_broadcast_ss(ar[i] + k + u);
                    acc[s][i][0] = _mm256_fmadd_ps(b, w0, acc[s][i][0]);
                    acc[s][i][1] = _mm256_fmadd_ps(b, w1, acc[s][i][1]);
                }
            }
        }
        for (; k < len; k++) {
            __m256 w0 = qb_f_loadw(wk, f16, k, 0), w1 = qb_f_loadw(wk, f16, k, 1);
#pragma GCC unroll 6
            for (int i = 0; i < QB_F_MR; i++) {
                if (i >= mr)
                    break;
                __m256 b = _mm256_broadcast_ss(ar[i] + k);
                acc[0][i][0] = _mm256_fmadd_ps(b, w0, acc[0][i][0]);
                acc[0][i][1] = _mm256_fmadd_ps(b, w1, acc[0][i][1]);
            }
        }
    }
    const __m256 vmin = _mm256_set1_ps(t->f_min), vmax = _mm256_set1_ps(t->f_max);
#pragma GCC unroll 6
    for (int i = 0; i < QB_F_MR; i++) {
        if (i >= mr)
            break;
        float *c = t->c + (size_t)i * t->ldc;
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            __m256 v = acc[0][i][h];
            if (ks == 2)
                v = _mm256_add_ps(v, acc[1][i][h]);
            qb_f_store8(v, c, 8 * h, t, vmin, vmax);
        }
    }
}

/* Accumulator sets of the M <= 3 kernel for mr rows. It depends on mr
 * only: np (how many panels one call groups) follows from the width of a
 * thread's column slice, and a set count that followed np would change
 * each column's order of summation, so 1 and 2 threads would differ. */
QB_F_INLINE int qb_f_gemv_ks(int mr) { return mr == 1 ? 2 : 1; }

/* M <= 3: mr rows x np panels (16 columns each, panel_elems apart) at
 * once over the whole K (a: row 0's start, K piece by piece: qb_f_piece), so one broadcast feeds 2*np FMAs and np weight
 * streams run side by side, each prefetched ahead. Bias and clamp. */
QB_F_INLINE void qb_f_gemv(int mr, int np, int f16, int kc, const float *a, size_t lda, const void *w,
                           size_t panel_elems, const qb_f_tile *t)
{
    enum { MR3 = 3, KS_MAX = 2 };
    const int ks = qb_f_gemv_ks(mr); /* accumulator sets: never a function of np */
    __m256 acc[KS_MAX][MR3][QB_F_NP_MAX][2];
    const char *wp0[QB_F_NP_MAX];
    const size_t esz = f16 ? 2 : 4;
#pragma GCC unroll 3
    for (int q = 0; q < QB_F_NP_MAX; q++)
        wp0[q] = (const char *)w + (q < np ? q : 0) * panel_elems * esz;
#pragma GCC unroll 2
    for (int s = 0; s < KS_MAX; s++)
#pragma GCC unroll 3
        for (int i = 0; i < MR3; i++)
#pragma GCC unroll 3
            for (int q = 0; q < QB_F_NP_MAX; q++)
                acc[s][i][q][0] = acc[s][i][q][1] = _mm256_setzero_ps();
    const int ku = ks == 1 ? 2 : ks; /* k steps per iteration (even: fp16 lines hold 2 rows) */
    for (long k0 = 0, len; k0 < kc; k0 += len) { /* the pieces of K (one without taps) */
    const float *pa = qb_f_piece(a, k0, kc, t, &len), *ar[MR3];
    const char *wp[QB_F_NP_MAX];
#pragma GCC unroll 3
    for (int i = 0; i < MR3; i++)
        ar[i] = pa + (size_t)(i < mr ? i : 0) * lda; /* rows past mr: never read */
#pragma GCC unroll 3
    for (int q = 0; q < QB_F_NP_MAX; q++)
        wp[q] = wp0[q] + k0 * QB_F_NR * esz; /* the piece's weights */
    long k = 0;
    for (; k + ku <= len; k += ku) {
#pragma GCC unroll 4
        for (int u = 0; u < KS_MAX; u++) {
            if (u >= ku)
                break;
            const int s = u % ks;
            __m256 b[MR3];
#pragma GCC unroll 3
            for (int i = 0; i < MR3; i++)
                if (i < mr)
                    b[i] = _mm256_broadcast_ss(ar[i] + k + u);
#pragma GCC unroll 3
            for (int q = 0; q < QB_F_NP_MAX; q++) {
                if (q >= np)
                    break;
                if (!f16 || !(u & 1)) /* one prefetch per 64-byte line */
                    _mm_prefetch(wp[q] + (k + u) * QB_F_NR * esz + QB_F_PF, _MM_HINT_T0);
#pragma GCC unroll 2
                for (int h = 0; h < 2; h++) {
                    __m256 wv = qb_f_loadw(wp[q], f16, k + u, h);
                    if (mr > 1) /* one load for all rows: keep it in a register */
                        __asm__("" : "+x"(wv));
#pragma GCC unroll 3
                    for (int i = 0; i < MR3; i++)
                        if (i < mr)
                            acc[s][i][q][h] = _mm256_fmadd_ps(b[i], wv, acc[s][i][q][h]);
                }
            }
        }
    }
    for (; k < len; k++) {
#pragma GCC unroll 3
        for (int i = 0; i < MR3; i++) {
            if (i >= mr)
                break;
            __m256 b = _mm256_broadcast_ss(ar[i] + k);
#pragma GCC unroll 3
            for (int q = 0; q < QB_F_NP_MAX; q++) {
                if (q >= np)
                    break;
                acc[0][i][q][0] = _mm256_fmadd_ps(b, qb_f_loadw(wp[q], f16, k, 0), acc[0][i][q][0]);
                acc[0][i][q][1] = _mm256_fmadd_ps(b, qb_f_loadw(wp[q], f16, k, 1), acc[0][i][q][1]);
            }
        }
    }
    }
    const __m256 vmin = _mm256_set1_ps(t->f_min), vmax = _mm256_set1_ps(t->f_max);
#pragma GCC unroll 3
    for (int i = 0; i < MR3; i++) {
        if (i >= mr)
            break;
        float *c = t->c + (size_t)i * t->ldc;
#pragma GCC unroll 3
        for (int q = 0; q < QB_F_NP_MAX; q++) {
            if (q >= np)
                break;
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++) {
                __m256 v = acc[0][i][q][h];
                if (ks == 2)
                    v = _mm256_add_ps(v, acc[1][i][q][h]);
                qb_f_store8(v, c, q * QB_F_NR + 8 * h, t, vmin, vmax);
            }
        }
    }
}

/* Each kernel variant is its own (not inlined) function, so that its
 * 12-15 live vector registers do not compete with values the caller keeps
 * (inlined into the driver, the 6-row kernel spilled accumulators). */
typedef void (*qb_f_ukr_fn)(int kc, const float *a, size_t lda, const void *w, const qb_f_tile *t);
typedef void (*qb_f_gemv_fn)(int kc, const float *a, size_t lda, const void *w, size_t pe,
                             const qb_f_tile *t);

#define QB_F_UKR_FN(MR, F16, PF)                                                                   \
    static __attribute__((noinline)) void qb_f_ukr_##MR##_##F16##_##PF(                           \
        int kc, const float *a, size_t lda, const void *w, const qb_f_tile *t)                     \
    {                                                                                              \
        qb_f_ukr(MR, F16, PF, kc, a, lda, w, t);                                                   \
    }
#define QB_F_UKR_FNS(F16, PF)                                                                      \
    QB_F_UKR_FN(1, F16, PF) QB_F_UKR_FN(2, F16, PF) QB_F_UKR_FN(3, F16, PF)                       \
    QB_F_UKR_FN(4, F16, PF) QB_F_UKR_FN(5, F16, PF) QB_F_UKR_FN(6, F16, PF)
QB_F_UKR_FNS(0, 0) /* blocked path (fp32 weights or widened fp16) */
QB_F_UKR_FNS(0, 1) /* streaming fp32 */
QB_F_UKR_FNS(1, 1) /* streaming fp16 */

#define QB_F_GEMV_FN(MR, NP, F16)                                                                  \
    static __attribute__((noinline)) void qb_f_gemv_##MR##_##NP##_##F16(                          \
        int kc, const float *a, size_t lda, const void *w, size_t pe, const qb_f_tile *t)          \
    {                                                                                              \
        qb_f_gemv(MR, NP, F16, kc, a, lda, w, pe, t);                                              \
    }
#define QB_F_GEMV_FNS(F16)                                                                         \
    QB_F_GEMV_FN(1, 1, F16) QB_F_GEMV_FN(1, 2, F16) QB_F_GEMV_FN(1, 3, F16)                       \
    QB_F_GEMV_FN(2, 1, F16) QB_F_GEMV_FN(2, 2, F16) QB_F_GEMV_FN(2, 3, F16)                       \
    QB_F_GEMV_FN(3, 1, F16) QB_F_GEMV_FN(3, 2, F16)
QB_F_GEMV_FNS(0)
QB_F_GEMV_FNS(1)

/* Most panels side by side for mr rows (12 accumulators at most). */
QB_F_INLINE int qb_f_gemv_np(int mr) { return mr == 3 ? 2 : 3; }

/* The microkernel for mr rows (1..6). Separate tables for fp32 and fp16:
 * each file keeps only the variants it calls. */
QB_F_INLINE qb_f_ukr_fn qb_f_ukr_pick(int mr, int f16, int pf)
{
    if (f16) {
        static const qb_f_ukr_fn t16[6] = {qb_f_ukr_1_1_1, qb_f_ukr_2_1_1, qb_f_ukr_3_1_1,
                                           qb_f_ukr_4_1_1, qb_f_ukr_5_1_1, qb_f_ukr_6_1_1};
        return t16[mr - 1];
    }
    static const qb_f_ukr_fn t32[2][6] = {
        {qb_f_ukr_1_0_0, qb_f_ukr_2_0_0, qb_f_ukr_3_0_0, qb_f_ukr_4_0_0, qb_f_ukr_5_0_0, qb_f_ukr_6_0_0},
        {qb_f_ukr_1_0_1, qb_f_ukr_2_0_1, qb_f_ukr_3_0_1, qb_f_ukr_4_0_1, qb_f_ukr_5_0_1, qb_f_ukr_6_0_1},
    };
    return t32[pf ? 1 : 0][mr - 1];
}

/* The M <= 3 kernel for mr rows (1..3) and np panels (1..qb_f_gemv_np). */
QB_F_INLINE qb_f_gemv_fn qb_f_gemv_pick(int mr, int np, int f16)
{
#define QB_F_GEMV_TAB(F16)                                                                         \
    {                                                                                              \
        {qb_f_gemv_1_1_##F16, qb_f_gemv_1_2_##F16, qb_f_gemv_1_3_##F16},                           \
            {qb_f_gemv_2_1_##F16, qb_f_gemv_2_2_##F16, qb_f_gemv_2_3_##F16},                       \
            {qb_f_gemv_3_1_##F16, qb_f_gemv_3_2_##F16, NULL},                                      \
    }
    if (f16) {
        static const qb_f_gemv_fn t16[3][QB_F_NP_MAX] = QB_F_GEMV_TAB(1);
        return t16[mr - 1][np - 1];
    }
    static const qb_f_gemv_fn t32[3][QB_F_NP_MAX] = QB_F_GEMV_TAB(0);
    return t32[mr - 1][np - 1];
#undef QB_F_GEMV_TAB
}

/* Rows of group g when m rows are split into ng balanced groups. */
QB_F_INLINE int qb_f_group_rows(int m, int ng, int g) { return m / ng + (g < m % ng); }
QB_F_INLINE int qb_f_group_start(int m, int ng, int g)
{
    return g * (m / ng) + (g < m % ng ? g : m % ng);
}

/* Convert kc rows of a binary16 panel to fp32 (buf: kc x 16, 32-aligned). */
QB_F_INLINE void qb_f_widen(const uint16_t *w, int kc, float *buf)
{
    for (long k = 0; k < kc; k++) {
        _mm256_store_ps(buf + k * QB_F_NR,
                        _mm256_cvtph_ps(_mm_load_si128((const __m128i *)(w + k * QB_F_NR))));
        _mm256_store_ps(buf + k * QB_F_NR + 8,
                        _mm256_cvtph_ps(_mm_load_si128((const __m128i *)(w + k * QB_F_NR + 8))));
    }
}

/* The whole GEMM; f16 selects binary16 weights, then buf (QB_F_KC x 16
 * floats, 32-byte aligned) holds widened weights. */
QB_F_INLINE void qb_f_gemm(const qb_packed *p, const qb_gemm_args *args, int f16, float *buf)
{
    const int M = args->m, N = p->n, K = p->k;
    const size_t esz = f16 ? 2 : 4;
    const size_t panel_elems = (size_t)K * QB_F_NR, panel_bytes = panel_elems * esz;
    const unsigned char *W = p->w;
    const float *A = args->a;
    float *C = args->c;
    const size_t lda = args->lda, ldc = args->ldc;
    const int npanels = (N + QB_F_NR - 1) / QB_F_NR;
    qb_f_tile t = {.ldc = ldc, .load_c = 0, .finish = 1, .f_min = args->f_min, .f_max = args->f_max,
                   .taps = args->a_taps, .kseg = args->a_taps ? K / args->a_ntaps : K};

    if (M <= 3) { /* GEMV-like: balanced groups of panels side by side, whole K */
        int ng = (npanels + qb_f_gemv_np(M) - 1) / qb_f_gemv_np(M);
        for (int g = 0; g < ng; g++) {
            int jp = qb_f_group_start(npanels, ng, g), np = qb_f_group_rows(npanels, ng, g);
            int j = jp * QB_F_NR;
            t.c = C + j;
            t.ncols = N - j;
            t.bias = p->bias_f32 + j;
            qb_f_gemv_pick(M, np, f16)(K, A, lda, W + jp * panel_bytes, panel_elems, &t);
        }
        return;
    }
    if (M <= QB_F_MR) { /* one row group: stream each panel once, whole K */
        for (int jp = 0; jp < npanels; jp++) {
            int j = jp * QB_F_NR;
            t.c = C + j;
            t.ncols = N - j < QB_F_NR ? N - j : QB_F_NR;
            t.bias = p->bias_f32 + j;
            qb_f_ukr_pick(M, f16, 1)(K, A, lda, W + jp * panel_bytes, &t);
        }
        return;
    }

    for (int k0 = 0; k0 < K; k0 += QB_F_KC) {
        int kc = K - k0 < QB_F_KC ? K - k0 : QB_F_KC;
        t.load_c = k0 > 0;
        t.finish = k0 + kc == K;
        t.k0 = k0;
        const int nb = (M + QB_F_MC - 1) / QB_F_MC; /* balanced M blocks */
        for (int b = 0; b < nb; b++) {
            int i0 = qb_f_group_start(M, nb, b), mc = qb_f_group_rows(M, nb, b);
            int ng = (mc + QB_F_MR - 1) / QB_F_MR;
            for (int jp = 0; jp < npanels; jp++) {
                int j = jp * QB_F_NR;
                const unsigned char *wp = W + jp * panel_bytes + (size_t)k0 * QB_F_NR * esz;
                if (f16) {
                    qb_f_widen((const uint16_t *)wp, kc, buf);
                    wp = (const unsigned char *)buf;
                }
                t.ncols = N - j < QB_F_NR ? N - j : QB_F_NR;
                t.bias = p->bias_f32 + j;
                for (int g = 0; g < ng; g++) {
                    int i = i0 + qb_f_group_start(mc, ng, g);
                    t.c = C + (size_t)i * ldc + j;
                    qb_f_ukr_fn ukr = qb_f_ukr_pick(qb_f_group_rows(mc, ng, g), 0, 0);
                    ukr(kc, A + (size_t)i * lda, lda, wp, &t);
                }
            }
        }
    }
}

#endif
