/*
 * gemm_f16_fp16.c - NEON GEMM in half-precision arithmetic
 * (qb_gemm_f16__neonfp16, FEAT_FP16, flag QB_KF_HALF_ARITH): activations
 * rounded to binary16, products summed with vfmaq_laneq_f16 into fp16
 * accumulators over chunks of 16 k, and each chunk's sum added into an fp32
 * accumulator, which bounds the error by about (16 + 1) * 2^-11 of
 * sum |a * w| (the test allows 2 (K + 2) * 2^-11). fp16 covers only
 * |x| <= 65504: a chunk whose fp16 sum overflowed (Inf or NaN in any lane
 * of the tile) is summed again in fp32, so large inputs cost time, never
 * accuracy. Then bias, then clamp, in fp32.
 * Micro-tiles of up to 6 rows x 8 columns (6 fp16 + 12 fp32 accumulators);
 * packing, bias, clamp and store are those of the float engine in
 * gemm_float.h.
 * Packed layout: panels of 8 output channels; panel p holds, for each k of
 * K rounded up to 8, the 8 binary16 weights W[8p + 0..7][k] (rounded to
 * nearest even by qb_f32_to_f16; zeros past N and K).
 */
#include "kernels/neon/gemm_float.h"

#define NR QB_NF_NR /* output channels per panel */
#define MR 6        /* rows of A per micro-tile */
#define KU 8        /* k per step (one fp16 vector of activations) */
#define CHUNK 16    /* k summed in fp16 before going to fp32 */

size_t qb_gemm_f16__neonfp16_size(int n, int k, int group) { return qb_nf_size(n, k, group, KU, 1); }

void qb_gemm_f16__neonfp16_pack(const qb_weights *w, void *dst) { qb_nf_pack(w, dst, KU, 1); }

/* a[l .. l+n-1] (n 1..8) rounded to binary16; missing lanes zero. */
QB_NEON_INLINE float16x8_t load_a16(const float *a, int n)
{
    float32x4_t lo, hi;
    if (n >= KU) {
        lo = vld1q_f32(a);
        hi = vld1q_f32(a + 4);
    } else {
        lo = qb_neon_load_f32(a, n);
        hi = n > 4 ? qb_neon_load_f32(a + 4, n - 4) : vdupq_n_f32(0.0f);
    }
    return vcvt_high_f16_f32(vcvt_f16_f32(lo), hi);
}

#define FMA16(q)                                                                                    \
    do {                                                                                            \
        float16x8_t w = vreinterpretq_f16_u16(vld1q_u16(wk + (q) * NR));                           \
        _Pragma("GCC unroll 6") for (int r = 0; r < mr; r++) h[r] = vfmaq_laneq_f16(h[r], w, av[r], q); \
    } while (0)

/* Rows i0 .. i0+mr-1 of C for the panel of columns j0 .. j0+nc-1. */
QB_NEON_INLINE void tile(const qb_packed *p, const qb_gemm_args *a, int i0, int j0, const int mr)
{
    const int K = p->k;
    const uint16_t *wp = (const uint16_t *)p->w + (size_t)(j0 / NR) * NR * qb_neon_round_up(K, KU);
    const float *ar[MR];
    float32x4_t acc[MR][2];
    #pragma GCC unroll 6
    for (int r = 0; r < mr; r++) {
        ar[r] = (const float *)a->a + (size_t)(i0 + r) * a->lda;
        acc[r][0] = acc[r][1] = vdupq_n_f32(0.0f);
    }
    for (int l0 = 0; l0 < K; l0 += CHUNK) {
        int l1 = K - l0 < CHUNK ? K : l0 + CHUNK;
        float16x8_t h[MR];
        #pragma GCC unroll 6
        for (int r = 0; r < mr; r++) h[r] = vreinterpretq_f16_u16(vdupq_n_u16(0));
        for (int l = l0; l < l1; l += KU) {
            const uint16_t *wk = wp + (size_t)l * NR;
            float16x8_t av[MR];
            #pragma GCC unroll 6
            for (int r = 0; r < mr; r++) av[r] = load_a16(ar[r] + l, l1 - l);
            FMA16(0);
            FMA16(1);
            FMA16(2);
            FMA16(3);
            FMA16(4);
            FMA16(5);
            FMA16(6);
            FMA16(7);
        }
        /* finite iff the exponent bits are not all ones: |bits| < 0x7c00 */
        uint16x8_t mag = vdupq_n_u16(0);
        #pragma GCC unroll 6
        for (int r = 0; r < mr; r++)
            mag = vmaxq_u16(mag, vandq_u16(vreinterpretq_u16_f16(h[r]), vdupq_n_u16(0x7fff)));
        if (vmaxvq_u16(mag) < 0x7c00) {
            #pragma GCC unroll 6
            for (int r = 0; r < mr; r++) {
                acc[r][0] = vaddq_f32(acc[r][0], vcvt_f32_f16(vget_low_f16(h[r])));
                acc[r][1] = vaddq_f32(acc[r][1], vcvt_high_f32_f16(h[r]));
            }
        } else { /* out of fp16 range: this chunk again in fp32 */
            for (int l = l0; l < l1; l++) {
                float32x4_t w0, w1;
                qb_nf_loadw(wp + (size_t)l * NR, 1, &w0, &w1);
                for (int r = 0; r < mr; r++) {
                    acc[r][0] = vfmaq_n_f32(acc[r][0], w0, ar[r][l]);
                    acc[r][1] = vfmaq_n_f32(acc[r][1], w1, ar[r][l]);
                }
            }
        }
    }
    qb_nf_store(p, a, i0, j0, mr, acc);
}

void qb_gemm_f16__neonfp16(const qb_packed *p, const qb_gemm_args *a)
{
#define TILE(mr) tile(p, a, i0, j0, mr)
    QB_NEON_GEMM_LOOP(a->m, p->n, sizeof(float) * (size_t)p->k, NR, MR, TILE);
}
