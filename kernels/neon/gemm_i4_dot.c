/*
 * gemm_i4_dot.c - NEON int4-weight GEMM with the dot-product extension
 * (FEAT_DotProd: qb_gemm_i4__neondot), int8 activations. Micro-tiles of up
 * to 4 rows x 8 columns, 32 k per step: each 16-byte weight vector holds
 * two 4 k x 4 columns blocks in its nibbles, sign-extended with shifts and
 * summed with vdotq_laneq_s32 (sdot) against the matching 4 activations.
 * Group sizes are multiples of 32 (or one group of K), so each step lies
 * in one group; at the end of a group its exact integer sum
 * isum - a_zero * wsum goes to float and acc = fmaf(isum, scale, acc)
 * (vfmaq_f32: one rounding, as fmaf), groups in order; then
 * C = fmaf(acc, a_scale, bias), clamp. Bit-exact with the scalar reference.
 * Packed layout: panels of 8 output channels; panel p holds, for each
 * block b of 32 k (K rounded up to 32), for each quad g = 0, 1 of columns,
 * for v = 0..3, 16 bytes: byte 4c + i holds W[8p + 4g + c][32b + 4v + i] in
 * its low nibble and W[8p + 4g + c][32b + 16 + 4v + i] in its high nibble
 * (two's complement; zeros past N and K).
 */
#include "kernels/neon/common.h"

#define NR 8  /* output channels per panel */
#define MR 4  /* rows of A per micro-tile */
#define KB 32 /* k per step */

static size_t nblocks(int k) { return ((size_t)k + KB - 1) / KB; }

size_t qb_gemm_i4__neondot_size(int n, int k, int group)
{
    (void)group;
    return (((size_t)n + NR - 1) / NR) * NR * nblocks(k) * (KB / 2);
}

void qb_gemm_i4__neondot_pack(const qb_weights *w, void *dst)
{
    uint8_t *out = dst;
    size_t nb = nblocks(w->k);
    for (int j = 0; j < w->n; j++)
        for (int l = 0; l < w->k; l++) {
            uint8_t nib = (uint8_t)(w->i8[(size_t)j * w->k + l] & 0xf);
            int i = l % KB, v = (i % 16) / 4, g = (j % NR) / 4;
            size_t at = ((((size_t)(j / NR) * nb + (size_t)l / KB) * 2 + g) * 4 + v) * 16 + (j % 4) * 4 + i % 4;
            out[at] |= (uint8_t)(i < 16 ? nib : nib << 4);
        }
}

#define DOT_V(v)                                                                                    \
    _Pragma("GCC unroll 2") for (int g = 0; g < 2; g++)                                             \
    {                                                                                               \
        int8x16_t w = vld1q_s8(wb + (g * 4 + (v)) * 16);                                            \
        int8x16_t wlo = vshrq_n_s8(vshlq_n_s8(w, 4), 4), whi = vshrq_n_s8(w, 4);                   \
        _Pragma("GCC unroll 4") for (int r = 0; r < mr; r++)                                        \
        {                                                                                           \
            acc[r][g] = vdotq_laneq_s32(acc[r][g], wlo, a0[r], v);                                  \
            acc[r][g] = vdotq_laneq_s32(acc[r][g], whi, a1[r], v);                                  \
        }                                                                                           \
    }

/* acc[r][g] += the 32 products of one block for columns 4g .. 4g+3. */
QB_NEON_INLINE void step(int32x4_t acc[MR][2], const int8x16_t *a0, const int8x16_t *a1, const int8_t *wb,
                         const int mr)
{
    DOT_V(0)
    DOT_V(1)
    DOT_V(2)
    DOT_V(3)
}

/* Rows i0 .. i0+mr-1 of C for the panel of columns j0 .. j0+nc-1. */
QB_NEON_INLINE void tile(const qb_packed *p, const qb_gemm_args *a, int i0, int j0, const int mr)
{
    const int K = p->k, ng = p->ngroups;
    size_t nb = nblocks(K), nfull = (size_t)K / KB;
    const int8_t *wp = (const int8_t *)p->w + (size_t)(j0 / NR) * NR * nb * (KB / 2);
    int nc = p->n - j0 < NR ? p->n - j0 : NR;
    const int8_t *ar[MR];
    float32x4_t facc[MR][2];
    #pragma GCC unroll 4
    for (int r = 0; r < mr; r++) {
        ar[r] = (const int8_t *)a->a + (size_t)(i0 + r) * a->lda;
        facc[r][0] = facc[r][1] = vdupq_n_f32(0.0f);
    }
    for (int g = 0; g < ng; g++) {
        /* blocks of group g (group is a multiple of 32 when ng > 1) */
        size_t b0 = ng == 1 ? 0 : (size_t)g * p->group / KB;
        size_t b1 = ng == 1 ? nb : (size_t)(g + 1) * p->group / KB;
        b1 = b1 < nb ? b1 : nb;
        int32x4_t acc[MR][2];
        #pragma GCC unroll 4
        for (int r = 0; r < mr; r++) acc[r][0] = acc[r][1] = vdupq_n_s32(0);
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
        int32x4_t az = vdupq_n_s32(a->a_zero);
        int32x4_t zw0 = vmulq_s32(vld1q_s32(ws), az), zw1 = vmulq_s32(vld1q_s32(ws + 4), az);
        float32x4_t s0 = vld1q_f32(sc), s1 = vld1q_f32(sc + 4);
        #pragma GCC unroll 4
        for (int r = 0; r < mr; r++) {
            facc[r][0] = vfmaq_f32(facc[r][0], vcvtq_f32_s32(vsubq_s32(acc[r][0], zw0)), s0);
            facc[r][1] = vfmaq_f32(facc[r][1], vcvtq_f32_s32(vsubq_s32(acc[r][1], zw1)), s1);
        }
    }
    float32x4_t b0 = qb_neon_load_f32(p->bias_f32 + j0, nc);
    float32x4_t b1 = nc > 4 ? qb_neon_load_f32(p->bias_f32 + j0 + 4, nc - 4) : vdupq_n_f32(0.0f);
    float32x4_t as = vdupq_n_f32(a->a_scale), lo = vdupq_n_f32(a->f_min), hi = vdupq_n_f32(a->f_max);
    #pragma GCC unroll 4
    for (int r = 0; r < mr; r++) {
        float *cr = (float *)a->c + (size_t)(i0 + r) * a->ldc + j0;
        qb_neon_store_f32(cr, qb_neon_clampf(vfmaq_f32(b0, facc[r][0], as), lo, hi), nc);
        if (nc > 4)
            qb_neon_store_f32(cr + 4, qb_neon_clampf(vfmaq_f32(b1, facc[r][1], as), lo, hi), nc - 4);
    }
}

void qb_gemm_i4__neondot(const qb_packed *p, const qb_gemm_args *a)
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
