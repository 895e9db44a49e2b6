/*
 * gemm_i4.c - NEON int4-weight GEMM without the dot-product extension
 * (qb_gemm_i4__neon), int8 activations. Micro-tiles of up to 4 rows x 4
 * columns, 32 k per step: the packed nibbles are sign-extended to int8
 * with shifts, vmull_s8 / vmlal_s8 sum 4 products per int16 lane
 * (|4 * 128 * 8| = 4096 fits) and vpadalq_s16 adds them pairwise into
 * int32. Group sizes are multiples of 32 (or one group of K), so each
 * step lies in one group; at the end of a group its exact integer sum
 * isum - a_zero * wsum goes to float and acc = fmaf(isum, scale, acc)
 * (vfmaq_f32: one rounding, as fmaf), groups in order; then
 * C = fmaf(acc, a_scale, bias), clamp. Bit-exact with the scalar reference.
 * Packed layout: panels of 4 output channels; panel p holds, for each
 * block of 32 k (K rounded up to 32), 16 bytes per column 4p + c, byte i
 * holding k = 32b + i in its low nibble and k = 32b + 16 + i in its high
 * nibble (two's complement; zeros past N and K).
 */
#include "kernels/neon/common.h"

#define NR 4  /* output channels per panel */
#define MR 4  /* rows of A per micro-tile */
#define KB 32 /* k per step */

static size_t nblocks(int k) { return ((size_t)k + KB - 1) / KB; }

size_t qb_gemm_i4__neon_size(int n, int k, int group)
{
    (void)group;
    return (((size_t)n + NR - 1) / NR) * NR * nblocks(k) * (KB / 2);
}

void qb_gemm_i4__neon_pack(const qb_weights *w, void *dst)
{
    uint8_t *out = dst;
    size_t nb = nblocks(w->k);
    for (int j = 0; j < w->n; j++)
        for (int l = 0; l < w->k; l++) {
            uint8_t nib = (uint8_t)(w->i8[(size_t)j * w->k + l] & 0xf);
            int i = l % KB;
            size_t at = (((size_t)(j / NR) * nb + (size_t)l / KB) * NR + j % NR) * (KB / 2) + i % 16;
            out[at] |= (uint8_t)(i < 16 ? nib : nib << 4);
        }
}

/* acc[r][c] += the 32 products of one block, pairwise in int32. */
QB_NEON_INLINE void step(int32x4_t acc[MR][NR], const int8x16_t *a0, const int8x16_t *a1, const int8_t *wb,
                         const int mr)
{
    #pragma GCC unroll 4
    for (int c = 0; c < NR; c++) {
        int8x16_t w = vld1q_s8(wb + c * (KB / 2));
        int8x16_t wlo = vshrq_n_s8(vshlq_n_s8(w, 4), 4), whi = vshrq_n_s8(w, 4);
        #pragma GCC unroll 4
        for (int r = 0; r < mr; r++) {
            int16x8_t pr = vmull_s8(vget_low_s8(a0[r]), vget_low_s8(wlo));
            pr = vmlal_high_s8(pr, a0[r], wlo);
            pr = vmlal_s8(pr, vget_low_s8(a1[r]), vget_low_s8(whi));
            pr = vmlal_high_s8(pr, a1[r], whi);
            acc[r][c] = vpadalq_s16(acc[r][c], pr);
        }
    }
}

/* Rows i0 .. i0+mr-1 of C for the panel of columns j0 .. j0+nc-1. */
QB_NEON_INLINE void tile(const qb_packed *p, const qb_gemm_args *a, int i0, int j0, const int mr)
{
    const int K = p->k, ng = p->ngroups;
    size_t nb = nblocks(K), nfull = (size_t)K / KB;
    const int8_t *wp = (const int8_t *)p->w + (size_t)(j0 / NR) * NR * nb * (KB / 2);
    int nc = p->n - j0 < NR ? p->n - j0 : NR;
    const int8_t *ar[MR];
    float32x4_t facc[MR];
    #pragma GCC unroll 4
    for (int r = 0; r < mr; r++) {
        ar[r] = (const int8_t *)a->a + (size_t)(i0 + r) * a->lda;
        facc[r] = vdupq_n_f32(0.0f);
    }
    for (int g = 0; g < ng; g++) {
        /* blocks of group g (group is a multiple of 32 when ng > 1) */
        size_t b0 = ng == 1 ? 0 : (size_t)g * p->group / KB;
        size_t b1 = ng == 1 ? nb : (size_t)(g + 1) * p->group / KB;
        b1 = b1 < nb ? b1 : nb;
        int32x4_t acc[MR][NR];
        #pragma GCC unroll 4
        for (int r = 0; r < mr; r++) {
            #pragma GCC unroll 4
            for (int c = 0; c < NR; c++) acc[r][c] = vdupq_n_s32(0);
        }
        size_t bf = b1 < nfull ? b1 : nfull;
        for (size_t b = b0; b < bf; b++) {
            int8x16_t a0[MR], a1[MR];
            #pragma GCC unroll 4
            for (int r = 0; r < mr; r++) {
                a0[r] = vld1q_s8(ar[r] + b * KB);
                a1[r] = vld1q_s8(ar[r] + b * KB + 16);
            }
            step(acc, a0, a1, wp + b * NR * (KB / 2), mr);
        }
        if (b1 > nfull) { /* the last K % 32 k: copies, never reading past a row */
            int8x16_t a0[MR], a1[MR];
            #pragma GCC unroll 4
            for (int r = 0; r < mr; r++) {
                int8_t t[KB] = {0};
                memcpy(t, ar[r] + nfull * KB, (size_t)K - nfull * KB);
                a0[r] = vld1q_s8(t);
                a1[r] = vld1q_s8(t + 16);
            }
            step(acc, a0, a1, wp + nfull * NR * (KB / 2), mr);
        }
        int32_t ws[NR] = {0};
        float sc[NR] = {0};
        for (int c = 0; c < nc; c++) {
            ws[c] = p->wsum[(size_t)(j0 + c) * ng + g];
            sc[c] = p->scale[(size_t)(j0 + c) * ng + g];
        }
        int32x4_t zw = vmulq_s32(vld1q_s32(ws), vdupq_n_s32(a->a_zero));
        float32x4_t scale = vld1q_f32(sc);
        #pragma GCC unroll 4
        for (int r = 0; r < mr; r++) {
            int32x4_t s = vpaddq_s32(vpaddq_s32(acc[r][0], acc[r][1]), vpaddq_s32(acc[r][2], acc[r][3]));
            facc[r] = vfmaq_f32(facc[r], vcvtq_f32_s32(vsubq_s32(s, zw)), scale);
        }
    }
    float32x4_t bias = qb_neon_load_f32(p->bias_f32 + j0, nc), as = vdupq_n_f32(a->a_scale);
    float32x4_t lo = vdupq_n_f32(a->f_min), hi = vdupq_n_f32(a->f_max);
    #pragma GCC unroll 4
    for (int r = 0; r < mr; r++) {
        float32x4_t v = qb_neon_clampf(vfmaq_f32(bias, facc[r], as), lo, hi);
        qb_neon_store_f32((float *)a->c + (size_t)(i0 + r) * a->ldc + j0, v, nc);
    }
}

void qb_gemm_i4__neon(const qb_packed *p, const qb_gemm_args *a)
{
    int mc = qb_neon_slice_rows((size_t)p->k, MR);
    for (int ic = 0; ic < a->m; ic += mc) {
        int ie = a->m - ic < mc ? a->m : ic + mc;
        for (int j0 = 0; j0 < p->n; j0 += NR)
            for (int i0 = ic; i0 < ie; i0 += MR)
                switch (ie - i0 < MR ? ie - i0 : MR) {
                case 4: tile(p, a, i0, j0, 4); break;
                case 3: tile(p, a, i0, j0, 3); break;
                case 2: tile(p, a, i0, j0, 2); break;
                default: tile(p, a, i0, j0, 1); break;
                }
    }
}
