/*
 * gemm_i4.c - NEON int4-weight GEMM without the dot-product extension
 * (qb_gemm_i4__neon), int8 activations, on the int4 engine of gemm_i4.h.
 * Micro-tiles of up to 4 rows x 4 columns, 32 k per step: the packed
 * nibbles are sign-extended to int8 with shifts, vmull_s8 / vmlal_s8 sum 4
 * products per int16 lane (|4 * 128 * 8| = 4096 fits) and vpadalq_s16
 * adds them pairwise into int32. Group sizes are multiples of 32 (or one
 * group of K), so each step lies in one group; at the end of a group its
 * exact integer sum isum - a_zero * wsum goes to float and
 * acc = fmaf(isum, scale, acc) (vfmaq_f32: one rounding, as fmaf), groups
 * in order; then C = fmaf(acc, a_scale, bias), clamp. Bit-exact with the
 * scalar reference.
 * Packed layout: panels of 4 output channels; panel p holds, for each
 * block of 32 k (K rounded up to 32), 16 bytes per column 4p + c, byte i
 * holding k = 32b + i in its low nibble and k = 32b + 16 + i in its high
 * nibble (two's complement; zeros past N and K).
 */
#define NR 4   /* output channels per panel */
#define NACC 4 /* int32 accumulators per row: one per column */
#include "kernels/neon/gemm_i4.h"

QB_NEON_INLINE size_t qb_ni4_at(int j, int l, size_t nb)
{
    return (((size_t)(j / NR) * nb + (size_t)l / KB) * NR + j % NR) * (KB / 2) + l % 16;
}

/* acc[r][c] += the 32 products of one block and column c, pairwise in int32. */
QB_NEON_INLINE void qb_ni4_step(int32x4_t acc[MR][NACC], const int8x16_t *a0, const int8x16_t *a1,
                                const int8_t *wb, const int mr)
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

QB_NEON_INLINE int32x4_t qb_ni4_quad(const int32x4_t *acc, const int q)
{
    (void)q; /* one quad */
    return qb_neon_hsum4(acc);
}

size_t qb_gemm_i4__neon_size(int n, int k, int group) { return qb_ni4_size(n, k, group); }

void qb_gemm_i4__neon_pack(const qb_weights *w, void *dst) { qb_ni4_pack(w, dst); }

void qb_gemm_i4__neon(const qb_packed *p, const qb_gemm_args *a) { qb_ni4_gemm(p, a); }
