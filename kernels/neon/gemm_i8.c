/*
 * gemm_i8.c - NEON int8 GEMM without the dot-product extension
 * (qb_gemm_i8t__neon, qb_gemm_i8c__neon; layout qb_gemm_i8__neon).
 * Micro-tiles of up to 4 rows x 4 columns, 16 k per step: for each (row,
 * column) vmull_s8 + vmlal_high_s8 form 8 sums of two products in int16
 * (|2 * 128 * 127| = 32512 fits), and vpadalq_s16 adds them pairwise into 4
 * int32 lanes; a final pairwise reduction gives the 4 column sums of a row.
 * Then acc = bias - a_zero * wsum + sum a * w (wrap-around int32) and the
 * requantization of kernels.h, bit-exact with the scalar reference.
 * Packed layout: panels of 4 output channels; panel p holds, for each block
 * of 16 k (K rounded up to 16), the 16 weights of column 4p + 0, then of
 * 4p + 1, 4p + 2, 4p + 3 (zeros past N and K).
 */
#include "kernels/neon/common.h"

#define NR 4  /* output channels per panel */
#define MR 4  /* rows of A per micro-tile */
#define KB 16 /* k per step */

static size_t nblocks(int k) { return ((size_t)k + KB - 1) / KB; }

size_t qb_gemm_i8__neon_size(int n, int k, int group)
{
    (void)group;
    return (((size_t)n + NR - 1) / NR) * NR * nblocks(k) * KB;
}

void qb_gemm_i8__neon_pack(const qb_weights *w, void *dst)
{
    int8_t *out = dst;
    size_t nb = nblocks(w->k);
    for (int j = 0; j < w->n; j++)
        for (int l = 0; l < w->k; l++)
            out[(((size_t)(j / NR) * nb + l / KB) * NR + j % NR) * KB + l % KB] = w->i8[(size_t)j * w->k + l];
}

/* acc[r][c] += 16 products of a row and a column, pairwise in int32. */
QB_NEON_INLINE void step(int32x4_t acc[MR][NR], const int8x16_t *av, const int8_t *wb, const int mr)
{
    #pragma GCC unroll 4
    for (int c = 0; c < NR; c++) {
        int8x16_t w = vld1q_s8(wb + c * KB);
        #pragma GCC unroll 4
        for (int r = 0; r < mr; r++) {
            int16x8_t pr = vmull_s8(vget_low_s8(av[r]), vget_low_s8(w));
            pr = vmlal_high_s8(pr, av[r], w);
            acc[r][c] = vpadalq_s16(acc[r][c], pr);
        }
    }
}

/* Rows i0 .. i0+mr-1 of C for the panel of columns j0 .. j0+nc-1. */
QB_NEON_INLINE void tile(const qb_packed *p, const qb_gemm_args *a, int i0, int j0, const qb_neon_rq *rq_t,
                         const qb_neon_clamp *cl, int per_channel, const int mr)
{
    const int K = p->k;
    size_t nb = nblocks(K), nfull = (size_t)K / KB;
    const int8_t *wp = (const int8_t *)p->w + (size_t)(j0 / NR) * NR * nb * KB;
    const int8_t *ar[MR];
    int32x4_t acc[MR][NR];
    #pragma GCC unroll 4
    for (int r = 0; r < mr; r++) {
        ar[r] = (const int8_t *)a->a + (size_t)(i0 + r) * a->lda;
        #pragma GCC unroll 4
        for (int c = 0; c < NR; c++) acc[r][c] = vdupq_n_s32(0);
    }
    for (size_t b = 0; b < nfull; b++) {
        int8x16_t av[MR];
        #pragma GCC unroll 4
        for (int r = 0; r < mr; r++) av[r] = vld1q_s8(ar[r] + b * KB);
        step(acc, av, wp + b * NR * KB, mr);
    }
    if (nfull < nb) { /* the last K % 16 k: copies, never reading past a row */
        int8x16_t av[MR];
        #pragma GCC unroll 4
        for (int r = 0; r < mr; r++) {
            int8_t t[KB] = {0};
            memcpy(t, ar[r] + nfull * KB, (size_t)K - nfull * KB);
            av[r] = vld1q_s8(t);
        }
        step(acc, av, wp + nfull * NR * KB, mr);
    }
    int nc = p->n - j0 < NR ? p->n - j0 : NR;
    int32x4_t base = qb_neon_i8_base(p, j0, nc, a->a_zero);
    qb_neon_rq rq = per_channel && !a->out_i32 ? qb_neon_rq_load(a->rq + j0, nc) : *rq_t;
    #pragma GCC unroll 4
    for (int r = 0; r < mr; r++) {
        int32x4_t s = vpaddq_s32(vpaddq_s32(acc[r][0], acc[r][1]), vpaddq_s32(acc[r][2], acc[r][3]));
        qb_neon_i8_out(a, (size_t)(i0 + r) * a->ldc + j0, vaddq_s32(base, s), nc, &rq, cl);
    }
}

static void gemm_i8(const qb_packed *p, const qb_gemm_args *a, int per_channel)
{
    qb_neon_rq rq_t = qb_neon_rq_dup(a->out_i32 ? (qb_requant){1 << 30, 31} : a->rq[0]);
    qb_neon_clamp cl = qb_neon_clamp_make(a->c_zero, a->c_min, a->c_max);
    int mc = qb_neon_slice_rows((size_t)p->k, MR);
    for (int ic = 0; ic < a->m; ic += mc) {
        int ie = a->m - ic < mc ? a->m : ic + mc;
        for (int j0 = 0; j0 < p->n; j0 += NR)
            for (int i0 = ic; i0 < ie; i0 += MR)
                switch (ie - i0 < MR ? ie - i0 : MR) {
                case 4: tile(p, a, i0, j0, &rq_t, &cl, per_channel, 4); break;
                case 3: tile(p, a, i0, j0, &rq_t, &cl, per_channel, 3); break;
                case 2: tile(p, a, i0, j0, &rq_t, &cl, per_channel, 2); break;
                default: tile(p, a, i0, j0, &rq_t, &cl, per_channel, 1); break;
                }
    }
}

void qb_gemm_i8t__neon(const qb_packed *p, const qb_gemm_args *a) { gemm_i8(p, a, 0); }

void qb_gemm_i8c__neon(const qb_packed *p, const qb_gemm_args *a) { gemm_i8(p, a, 1); }
