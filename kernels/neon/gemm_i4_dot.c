/*
 * gemm_i4_dot.c - NEON int4-weight GEMM with the dot-product extension
 * (FEAT_DotProd: qb_gemm_i4__neondot), int8 activations, on the int4
 * engine of gemm_i4.h. Micro-tiles of up to 4 rows x 8 columns, 32 k per
 * step: each 16-byte weight vector holds two 4 k x 4 columns blocks in its
 * nibbles, sign-extended with shifts and summed with vdotq_laneq_s32
 * (sdot) against the matching 4 activations. Group sizes are multiples of
 * 32 (or one group of K), so each step lies in one group; at the end of a
 * group its exact integer sum isum - a_zero * wsum goes to float and
 * acc = fmaf(isum, scale, acc) (vfmaq_f32: one rounding, as fmaf), groups
 * in order; then C = fmaf(acc, a_scale, bias), clamp. Bit-exact with the
 * scalar reference.
 * Packed layout: panels of 8 output channels; panel p holds, for each
 * block b of 32 k (K rounded up to 32), for each quad g = 0, 1 of columns,
 * for v = 0..3, 16 bytes: byte 4c + i holds W[8p + 4g + c][32b + 4v + i] in
 * its low nibble and W[8p + 4g + c][32b + 16 + 4v + i] in its high nibble
 * (two's complement; zeros past N and K).
 */
#define NR 8   /* output channels per panel */
#define NACC 2 /* int32 accumulators per row: one per quad of columns */
#include "kernels/neon/gemm_i4.h"

QB_NEON_INLINE size_t qb_ni4_at(int j, int l, size_t nb)
{
    int i = l % KB, v = (i % 16) / 4, g = (j % NR) / 4;
    return ((((size_t)(j / NR) * nb + (size_t)l / KB) * 2 + g) * 4 + v) * 16 + (j % 4) * 4 + i % 4;
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
QB_NEON_INLINE void qb_ni4_step(int32x4_t acc[MR][NACC], const int8x16_t *a0, const int8x16_t *a1,
                                const int8_t *wb, const int mr)
{
    DOT_V(0)
    DOT_V(1)
    DOT_V(2)
    DOT_V(3)
}

QB_NEON_INLINE int32x4_t qb_ni4_quad(const int32x4_t *acc, const int q) { return acc[q]; }

size_t qb_gemm_i4__neondot_size(int n, int k, int group) { return qb_ni4_size(n, k, group); }

void qb_gemm_i4__neondot_pack(const qb_weights *w, void *dst) { qb_ni4_pack(w, dst); }

void qb_gemm_i4__neondot(const qb_packed *p, const qb_gemm_args *a) { qb_ni4_gemm(p, a); }
