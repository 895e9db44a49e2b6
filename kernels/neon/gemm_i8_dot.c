/*
 * gemm_i8_dot.c - NEON int8 GEMM with the dot-product extension
 * (FEAT_DotProd: qb_gemm_i8t__neondot, qb_gemm_i8c__neondot; layout
 * qb_gemm_i8__neondot). Micro-tiles of up to 4 rows x 16 columns (16
 * int32 accumulators, each 4 columns): per step of 16 k, one vector of 16
 * activations per row, and vdotq_laneq_s32 (sdot, s8 x s8 summed in
 * int32, no saturation) of each 4 k x 4 columns weight vector against the
 * matching 4 activations. Then acc = bias - a_zero * wsum + sum a * w
 * (wrap-around int32) and the requantization of kernels.h, bit-exact with
 * the scalar reference.
 * Packed layout: panels of 16 output channels; panel p holds, for each
 * block of 16 k (K rounded up to 16), for each quad q = 0..3 of k, for
 * each quad g = 0..3 of columns, 16 bytes: W[16p + 4g + c][16b + 4q + i]
 * at byte 4c + i (zeros past N and K).
 */
#include "kernels/neon/common.h"

#define NR 16 /* output channels per panel */
#define MR 4  /* rows of A per micro-tile */
#define KB 16 /* k per step */

static size_t nblocks(int k) { return ((size_t)k + KB - 1) / KB; }

size_t qb_gemm_i8__neondot_size(int n, int k, int group)
{
    (void)group;
    return (((size_t)n + NR - 1) / NR) * NR * nblocks(k) * KB;
}

void qb_gemm_i8__neondot_pack(const qb_weights *w, void *dst)
{
    int8_t *out = dst;
    size_t nb = nblocks(w->k);
    for (int j = 0; j < w->n; j++)
        for (int l = 0; l < w->k; l++) {
            size_t b = (size_t)l / KB, q = (size_t)(l % KB) / 4, g = (size_t)(j % NR) / 4;
            size_t at = ((((size_t)(j / NR) * nb + b) * 4 + q) * 4 + g) * 16 + (size_t)(j % 4) * 4 + l % 4;
            out[at] = w->i8[(size_t)j * w->k + l];
        }
}

#define DOT_Q(q)                                                                                    \
    _Pragma("GCC unroll 4") for (int g = 0; g < 4; g++)                                             \
    {                                                                                               \
        int8x16_t w = vld1q_s8(wb + ((q) * 4 + g) * 16);                                            \
        _Pragma("GCC unroll 4") for (int r = 0; r < mr; r++) acc[r][g] = vdotq_laneq_s32(acc[r][g], w, av[r], q); \
    }

/* acc[r][g] += the 16 k of this block for columns 4g .. 4g+3. */
QB_NEON_INLINE void step(int32x4_t acc[MR][4], const int8x16_t *av, const int8_t *wb, const int mr)
{
    DOT_Q(0)
    DOT_Q(1)
    DOT_Q(2)
    DOT_Q(3)
}

/* Rows i0 .. i0+mr-1 of C for the panel of columns j0 .. j0+nc-1. */
QB_NEON_INLINE void tile(const qb_packed *p, const qb_gemm_args *a, int i0, int j0, const qb_neon_rq *rq_t,
                         const qb_neon_clamp *cl, int per_channel, const int mr)
{
    const int K = p->k;
    size_t nb = nblocks(K), nfull = (size_t)K / KB;
    const int8_t *wp = (const int8_t *)p->w + (size_t)(j0 / NR) * NR * nb * KB;
    const int8_t *ar[MR];
    int32x4_t acc[MR][4];
    #pragma GCC unroll 4
    for (int r = 0; r < mr; r++) {
        ar[r] = (const int8_t *)a->a + (size_t)(i0 + r) * a->lda;
        #pragma GCC unroll 4
        for (int g = 0; g < 4; g++) acc[r][g] = vdupq_n_s32(0);
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
    int32x4_t base[4];
    qb_neon_rq rq[4];
    #pragma GCC unroll 4
    for (int g = 0; g < 4; g++) {
        int n = nc - 4 * g;
        base[g] = n > 0 ? qb_neon_i8_base(p, j0 + 4 * g, n, a->a_zero) : vdupq_n_s32(0);
        rq[g] = n > 0 && per_channel && !a->out_i32 ? qb_neon_rq_load(a->rq + j0 + 4 * g, n) : *rq_t;
    }
    #pragma GCC unroll 4
    for (int r = 0; r < mr; r++) {
        size_t at = (size_t)(i0 + r) * a->ldc + j0;
        int32x4_t v[4];
        #pragma GCC unroll 4
        for (int g = 0; g < 4; g++) v[g] = vaddq_s32(base[g], acc[r][g]);
        if (a->out_i32) {
            #pragma GCC unroll 4
            for (int g = 0; g < 4; g++) if (nc > 4 * g)
                qb_neon_store_s32((int32_t *)a->c + at + 4 * g, v[g], nc - 4 * g);
        } else {
            #pragma GCC unroll 4
            for (int g = 0; g < 4; g++) v[g] = qb_neon_requant(v[g], &rq[g], cl);
            qb_neon_store_s8((int8_t *)a->c + at, qb_neon_narrow16(v[0], v[1], v[2], v[3]), nc);
        }
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

void qb_gemm_i8t__neondot(const qb_packed *p, const qb_gemm_args *a) { gemm_i8(p, a, 0); }

void qb_gemm_i8c__neondot(const qb_packed *p, const qb_gemm_args *a) { gemm_i8(p, a, 1); }
