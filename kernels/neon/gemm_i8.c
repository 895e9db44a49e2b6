/*
 * gemm_i8.c - NEON int8 GEMM without the dot-product extension
 * (qb_gemm_i8t__neon, qb_gemm_i8c__neon; layout qb_gemm_i8__neon), on the
 * int8 engine of gemm_i8.h. Micro-tiles of up to 4 rows x 4 columns, 16 k
 * per step: for each (row, column) vmull_s8 + vmlal_high_s8 form 8 sums of
 * two products in int16 (|2 * 128 * 127| = 32512 fits), and vpadalq_s16
 * adds them pairwise into 4 int32 lanes; a final pairwise reduction gives
 * the 4 column sums of a row. Then acc = bias - a_zero * wsum + sum a * w
 * (wrap-around int32) and the requantization of kernels.h, bit-exact with
 * the scalar reference.
 * Packed layout: panels of 4 output channels; panel p holds, for each block
 * of 16 k (K rounded up to 16), the 16 weights of column 4p + 0, then of
 * 4p + 1, 4p + 2, 4p + 3 (zeros past N and K).
 */
#define NR 4 /* output channels per panel */
#include "kernels/neon/gemm_i8.h"

QB_NEON_INLINE size_t qb_ni8_at(int j, int l, size_t nb)
{
    return (((size_t)(j / NR) * nb + l / KB) * NR + j % NR) * KB + l % KB;
}

/* acc[r][c] += 16 products of a row and column c, pairwise in int32. */
QB_NEON_INLINE void qb_ni8_step(int32x4_t acc[MR][4], const int8x16_t *av, const int8_t *wb, const int mr)
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

QB_NEON_INLINE int32x4_t qb_ni8_quad(const int32x4_t *acc, const int q)
{
    (void)q; /* one quad */
    return qb_neon_hsum4(acc);
}

size_t qb_gemm_i8__neon_size(int n, int k, int group) { return qb_ni8_size(n, k, group); }

void qb_gemm_i8__neon_pack(const qb_weights *w, void *dst) { qb_ni8_pack(w, dst); }

void qb_gemm_i8t__neon(const qb_packed *p, const qb_gemm_args *a) { qb_ni8_gemm(p, a, 0); }

void qb_gemm_i8c__neon(const qb_packed *p, const qb_gemm_args *a) { qb_ni8_gemm(p, a, 1); }
