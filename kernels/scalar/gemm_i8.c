/*
 * gemm_i8.c - scalar int8 GEMM, the bit-exact reference for int8-tensor and
 * int8-channel on every ISA:
 *   acc = bias[n] + sum_k a[k] * w[n][k] - a_zero * sum_k w[n][k]
 * in 32-bit two's complement (wrap-around, as SIMD adds do), then either
 * stored raw (out_i32) or requantized with qb_requant_apply (rounding half
 * away from zero, saturating). Packed layout: W as given, N rows of K.
 * With qb_gemm_args.a_taps (QB_KF_A_TAPS, a direct convolution) row i's K
 * is read as a_ntaps segments of K / a_ntaps bytes, segment t at
 * a + i * lda + a_taps[t]; the sum is the same (exact integers). With
 * qb_gemm_args.a_run (QB_KF_A_RUNS) row i starts at qb_gemm_a_row.
 */
#include <string.h>

#include "kernels/kernels.h"

size_t qb_gemm_i8__scalar_size(int n, int k, int group)
{
    (void)group;
    return (size_t)n * k;
}

void qb_gemm_i8__scalar_pack(const qb_weights *w, void *dst)
{
    memcpy(dst, w->i8, (size_t)w->n * w->k);
}

static void gemm_i8(const qb_packed *p, const qb_gemm_args *a, int per_channel)
{
    const int8_t *W = p->w;
    const int8_t *A = a->a;
    const int nt = a->a_taps ? a->a_ntaps : 1, tk = p->k / nt; /* segments of A's K and their length */
    for (int i = 0; i < a->m; i++) {
        const int8_t *ar = A + qb_gemm_a_row(a, i);
        for (int j = 0; j < p->n; j++) {
            const int8_t *wr = W + (size_t)j * p->k;
            uint32_t acc = (uint32_t)p->bias_i32[j] - (uint32_t)a->a_zero * (uint32_t)p->wsum[j];
            for (int t = 0; t < nt; t++) {
                const int8_t *as = ar + (a->a_taps ? a->a_taps[t] : 0), *ws = wr + (size_t)t * tk;
                for (int l = 0; l < tk; l++)
                    acc += (uint32_t)((int32_t)as[l] * ws[l]);
            }
            size_t at = (size_t)i * a->ldc + j;
            if (a->out_i32)
                ((int32_t *)a->c)[at] = (int32_t)acc;
            else
                ((int8_t *)a->c)[at] = qb_requant_apply((int32_t)acc, a->rq[per_channel ? j : 0], a->c_zero,
                                                        a->c_min, a->c_max);
        }
    }
}

void qb_gemm_i8t__scalar(const qb_packed *p, const qb_gemm_args *a) { gemm_i8(p, a, 0); }

void qb_gemm_i8c__scalar(const qb_packed *p, const qb_gemm_args *a) { gemm_i8(p, a, 1); }
