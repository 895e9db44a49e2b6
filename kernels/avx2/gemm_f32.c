/*
 * gemm_f32.c - AVX2/FMA fp32 GEMM with bias and clamp: C = A . W^T + b.
 * Packed layout: panels of 16 output channels, K rows of 16 floats each
 * (w[p][k][j] = W[16p + j][k], zero past N). The engine (register-blocked
 * 6x16 microkernel with K and M blocking, balanced row groups, GEMV-like
 * multi-panel streaming with prefetch for M <= 6) is in gemm_float.h,
 * shared with gemm_f16.c.
 */
#include "kernels/avx2/gemm_float.h"

size_t qb_gemm_f32__avx2_size(int n, int k, int group)
{
    (void)group;
    return qb_f_packed_size(n, k, sizeof(float));
}

void qb_gemm_f32__avx2_pack(const qb_weights *w, void *dst)
{
    float *out = dst;
    const int n = w->n, k = w->k;
    for (int j0 = 0; j0 < n; j0 += QB_F_NR) {
        float *panel = out + (size_t)j0 * k;
        int nj = n - j0 < QB_F_NR ? n - j0 : QB_F_NR;
        for (int j = 0; j < nj; j++) {
            const float *row = w->f32 + (size_t)(j0 + j) * k;
            for (int l = 0; l < k; l++)
                panel[(size_t)l * QB_F_NR + j] = row[l];
        }
    }
}

void qb_gemm_f32__avx2(const qb_packed *p, const qb_gemm_args *a)
{
    qb_f_gemm(p, a, 0, NULL);
}
