/*
 * gemm_float.h - the NEON float GEMM engine shared by gemm_f32.c (fp32
 * weights), gemm_f16.c (binary16 weights widened exactly with
 * vcvt_f32_f16) and, for the packing, bias, clamp and store,
 * gemm_f16_fp16.c (private to kernels/neon, everything static). Base
 * ARMv8-A Advanced SIMD only, so every file may include it whatever its
 * -march.
 *
 * Packed weights: panels of 8 output channels; panel p holds, for each k of
 * K rounded up to ku (4 here, 8 for gemm_f16_fp16.c), the 8 weights
 * W[8p + 0..7][k] as fp32, or as binary16 rounded to nearest even by
 * qb_f32_to_f16 as the reference does (zeros past N and K).
 *
 * fp32-arithmetic tile: register-blocked micro-kernel of up to 8 rows x 8
 * columns (16 accumulators): per step of 4 k, one vector of 4 activations
 * per row and vfmaq_laneq_f32 against the 8 weights of each k (the last
 * 1..3 k through a copy, never reading past a row). Every output sums
 * k = 0..K-1 in order (fused multiply-adds), then bias, then clamp. The
 * f16 flag is a compile-time constant after inlining. A may come as taps
 * (qb_gemm_args.a_taps, a direct convolution; qb_nf_tile).
 */
#ifndef QB_NEON_GEMM_FLOAT_H
#define QB_NEON_GEMM_FLOAT_H

#include "kernels/neon/common.h"

#define QB_NF_NR 8 /* output channels per panel */
#define QB_NF_MR 8 /* rows of A per fp32 micro-tile */
#define QB_NF_KU 4 /* k per fp32 step (one vector of activations) */

/* Bytes of the packed weights: n x k, K rounded up to ku, binary16 (f16)
 * or fp32 (group: unused). */
static inline size_t qb_nf_size(int n, int k, int group, int ku, int f16)
{
    (void)group;
    return (f16 ? sizeof(uint16_t) : sizeof(float)) * qb_neon_round_up(n, QB_NF_NR) * qb_neon_round_up(k, ku);
}

/* Packs w->f32 into the layout above (dst zeroed: padding stays zero). */
static inline void qb_nf_pack(const qb_weights *w, void *dst, int ku, int f16)
{
    size_t kp = qb_neon_round_up(w->k, ku);
    for (int j = 0; j < w->n; j++)
        for (int l = 0; l < w->k; l++) {
            size_t at = ((size_t)(j / QB_NF_NR) * kp + l) * QB_NF_NR + j % QB_NF_NR;
            float v = w->f32[(size_t)j * w->k + l];
            if (f16)
                ((uint16_t *)dst)[at] = qb_f32_to_f16(v);
            else
                ((float *)dst)[at] = v;
        }
}

/* The 8 packed weights of one k at w, as fp32 (binary16 widened exactly):
 * columns 0..3 in *w0, 4..7 in *w1. */
QB_NEON_INLINE void qb_nf_loadw(const void *w, int f16, float32x4_t *w0, float32x4_t *w1)
{
    if (f16) {
        float16x8_t h = vreinterpretq_f16_u16(vld1q_u16(w));
        *w0 = vcvt_f32_f16(vget_low_f16(h));
        *w1 = vcvt_high_f32_f16(h);
    } else {
        *w0 = vld1q_f32(w);
        *w1 = vld1q_f32((const float *)w + 4);
    }
}

/* Rows i0 .. i0+mr-1 of C for the panel of columns j0 .. j0+nc-1 from the
 * sums acc[r][0] (columns 0..3), acc[r][1] (4..7): + bias, clamp, store. */
QB_NEON_INLINE void qb_nf_store(const qb_packed *p, const qb_gemm_args *a, int i0, int j0, const int mr,
                                float32x4_t acc[][2])
{
    int nc = p->n - j0 < QB_NF_NR ? p->n - j0 : QB_NF_NR;
    float32x4_t lo = vdupq_n_f32(a->f_min), hi = vdupq_n_f32(a->f_max);
    float32x4_t b0 = qb_neon_load_f32(p->bias_f32 + j0, nc);
    float32x4_t b1 = nc > 4 ? qb_neon_load_f32(p->bias_f32 + j0 + 4, nc - 4) : vdupq_n_f32(0.0f);
    #pragma GCC unroll 8
    for (int r = 0; r < mr; r++) {
        float *cr = (float *)a->c + (size_t)(i0 + r) * a->ldc + j0;
        qb_neon_store_f32(cr, qb_neon_clampf(vaddq_f32(acc[r][0], b0), lo, hi), nc);
        if (nc > 4)
            qb_neon_store_f32(cr + 4, qb_neon_clampf(vaddq_f32(acc[r][1], b1), lo, hi), nc - 4);
    }
}

/* One step of 4 k for mr rows: av[r] holds a[r][k..k+3], wp the 4 x 8
 * weights (esize bytes each). */
#define QB_NF_FMA_K(q)                                                                              \
    do {                                                                                            \
        float32x4_t w0, w1;                                                                         \
        qb_nf_loadw(wp + (q) * QB_NF_NR * esize, f16, &w0, &w1);                                    \
        _Pragma("GCC unroll 8") for (int r = 0; r < mr; r++)                                        \
        {                                                                                           \
            acc[r][0] = vfmaq_laneq_f32(acc[r][0], w0, av[r], q);                                   \
            acc[r][1] = vfmaq_laneq_f32(acc[r][1], w1, av[r], q);                                   \
        }                                                                                           \
    } while (0)

/* The fp32-arithmetic micro-tile: rows i0 .. i0+mr-1 of C for the panel of
 * columns j0 .. j0+7, summed over K (zero-padded to 4), then stored. With
 * a->a_taps (QB_KF_A_TAPS, a direct convolution: K is a_ntaps segments of
 * K / a_ntaps elements, segment t of row i at a + i * lda + a_taps[t])
 * each segment is walked as a row of its own, its last 1..3 k through a
 * copy and only their lanes multiplied (the weights after them are the
 * next segment's): the sums run over k = 0..K-1 in the same order as over
 * an im2col copy. Without taps one segment, the loop as it was. */
QB_NEON_INLINE void qb_nf_tile(const qb_packed *p, const qb_gemm_args *a, int i0, int j0, const int mr,
                               const int f16)
{
    const int K = p->k;
    const size_t esize = f16 ? sizeof(uint16_t) : sizeof(float);
    const char *w0p = p->w; /* the panel's weights at k = 0 */
    w0p += (size_t)(j0 / QB_NF_NR) * QB_NF_NR * qb_neon_round_up(K, QB_NF_KU) * esize;
    const int nt = a->a_taps ? a->a_ntaps : 1, kseg = K / nt; /* segments of A's K and their length */
    const float *ar[QB_NF_MR];
    float32x4_t acc[QB_NF_MR][2];
    #pragma GCC unroll 8
    for (int r = 0; r < mr; r++) {
        ar[r] = (const float *)a->a + (size_t)(i0 + r) * a->lda;
        acc[r][0] = acc[r][1] = vdupq_n_f32(0.0f);
    }
    for (int t = 0; t < nt; t++) {
        const ptrdiff_t off = a->a_taps ? a->a_taps[t] : 0;
        const char *wp = w0p + (size_t)t * kseg * QB_NF_NR * esize; /* the weights at k = l of the segment */
        int l = 0;
        for (; l + QB_NF_KU <= kseg; l += QB_NF_KU, wp += QB_NF_KU * QB_NF_NR * esize) {
            float32x4_t av[QB_NF_MR];
            #pragma GCC unroll 8
            for (int r = 0; r < mr; r++) av[r] = vld1q_f32(ar[r] + off + l);
            QB_NF_FMA_K(0);
            QB_NF_FMA_K(1);
            QB_NF_FMA_K(2);
            QB_NF_FMA_K(3);
        }
        if (l < kseg) { /* the last 1..3 k: copies, never reading past a row or segment */
            float32x4_t av[QB_NF_MR];
            #pragma GCC unroll 8
            for (int r = 0; r < mr; r++) av[r] = qb_neon_load_f32(ar[r] + off + l, kseg - l);
            QB_NF_FMA_K(0);
            if (!a->a_taps || kseg - l > 1) /* without taps the padding weights are zero: all four, as before */
                QB_NF_FMA_K(1);
            if (!a->a_taps || kseg - l > 2)
                QB_NF_FMA_K(2);
            if (!a->a_taps)
                QB_NF_FMA_K(3);
        }
    }
    qb_nf_store(p, a, i0, j0, mr, acc);
}

/* The whole fp32-arithmetic GEMM (qb_gemm_f32__neon, qb_gemm_f16__neon). */
QB_NEON_INLINE void qb_nf_gemm(const qb_packed *p, const qb_gemm_args *a, const int f16)
{
#define QB_NF_TILE(mr) qb_nf_tile(p, a, i0, j0, mr, f16)
    QB_NEON_GEMM_LOOP(a->m, p->n, sizeof(float) * (size_t)p->k, QB_NF_NR, QB_NF_MR, QB_NF_TILE);
#undef QB_NF_TILE
}

#endif
