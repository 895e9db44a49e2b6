/*
 * gemm_i8_dot.c - NEON int8 GEMM with the dot-product extension
 * (FEAT_DotProd: qb_gemm_i8t__neondot, qb_gemm_i8c__neondot; layout
 * qb_gemm_i8__neondot), on the int8 engine of gemm_i8.h. Micro-tiles of up
 * to 4 rows x 16 columns (16 int32 accumulators, each 4 columns): per step
 * of 16 k, one vector of 16 activations per row, and vdotq_laneq_s32
 * (sdot, s8 x s8 summed in int32, no saturation) of each 4 k x 4 columns
 * weight vector against the matching 4 activations. Then
 * acc = bias - a_zero * wsum + sum a * w (wrap-around int32) and the
 * requantization of kernels.h, bit-exact with the scalar reference.
 * Packed layout: panels of 16 output channels; panel p holds, for each
 * block of 16 k (K rounded up to 16), for each quad q = 0..3 of k, for
 * each quad g = 0..3 of columns, 16 bytes: W[16p + 4g + c][16b + 4q + i]
 * at byte 4c + i (zeros past N and K).
 */
#define NR 16 /* output channels per panel */
#include "kernels/neon/gemm_i8.h"

QB_NEON_INLINE size_t qb_ni8_at(int j, int l, size_t nb)
{
    size_t b = (size_t)l / KB, q = (size_t)(l % KB) / 4, g = (size_t)(j % NR) / 4;
    return ((((size_t)(j / NR) * nb + b) * 4 + q) * 4 + g) * 16 + (size_t)(j % 4) * 4 + l % 4;
}

#define DOT_Q(q)                                                                                    \
    _Pragma("GCC unroll 4") for (int g = 0; g < 4; g++)                                             \
    {                                                                                               \
        int8x16_t w = vld1q_s8(wb + ((q) * 4 + g) * 16);                                            \
        _Pragma("GCC unroll 4") for (int r = 0; r < mr; r++) acc[r][g] = vdotq_laneq_s32(acc[r][g], w, av[r], q); \
    }

/* acc[r][g] += the 16 k of this block for columns 4g .. 4g+3. */
QB_NEON_INLINE void qb_ni8_step(int32x4_t acc[MR][4], const int8x16_t *av, const int8_t *wb, const int mr)
{
    DOT_Q(0)
    DOT_Q(1)
    DOT_Q(2)
    DOT_Q(3)
}

QB_NEON_INLINE int32x4_t qb_ni8_quad(const int32x4_t *acc, const int q) { return acc[q]; }

size_t qb_gemm_i8__neondot_size(int n, int k, int group) { return qb_ni8_size(n, k, group); }

void qb_gemm_i8__neondot_pack(const qb_weights *w, void *dst) { qb_ni8_pack(w, dst); }

void qb_gemm_i8t__neondot(const qb_packed *p, const qb_gemm_args *a) { qb_ni8_gemm(p, a, 0); }

void qb_gemm_i8c__neondot(const qb_packed *p, const qb_gemm_args *a) { qb_ni8_gemm(p, a, 1); }
