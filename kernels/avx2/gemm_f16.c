/*
 * gemm_f16.c - AVX2/FMA/F16C GEMM with IEEE binary16 weights and fp32
 * activations: C = A . W^T + b, products and sums in fp32. Packed layout:
 * panels of 16 output channels, K rows of 16 binary16 values each
 * (w[p][k][j] = qb_f32_to_f16(W[16p + j][k]), zero past N), i.e. half the
 * bytes of the fp32 layout. Weights are widened with vcvtph2ps; the engine
 * is gemm_float.h, shared with gemm_f32.c.
 */
#include "kernels/avx2/gemm_float.h"

size_t qb_gemm_f16__avx2_size(int n, int k, int group)
{
    (void)group;
    return qb_f_packed_size(n, k, sizeof(uint16_t));
}

void qb_gemm_f16__avx2_pack(const qb_weights *w, void *dst)
{
    uint16_t *out = dst;
    const int n = w->n, k = w->k;
    for (int j0 = 0; j0 < n; j0 += QB_F_NR) {
        uint16_t *panel = out + (size_t)j0 * k;
        int nj = n - j0 < QB_F_NR ? n - j0 : QB_F_NR;
        for (int j = 0; j < nj; j++) {
            const float *row = w->f32 + (size_t)(j0 + j) * k;
            for (int l = 0; l < k; l++)
                panel[(size_t)l * QB_F_NR + j] = qb_f32_to_f16(row[l]);
        }
    }
}

void qb_gemm_f16__avx2(const qb_packed *p, const qb_gemm_args *a)
{
    /* one widened K block of a panel (24 KiB), used when M > 6 */
    float buf[QB_F_KC * QB_F_NR] __attribute__((aligned(32)));
    qb_f_gemm(p, a, 1, buf);
}
