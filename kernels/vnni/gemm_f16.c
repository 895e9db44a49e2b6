/*
 * gemm_f16.c - AVX-512F GEMM with IEEE binary16 weights and fp32
 * activations: 16 weights widened exactly with vcvtph2ps, then the fp32
 * FMA microkernel of kernels/vnni/gemm_float.h (6 rows x 64 columns).
 * Packed layout: panels of 16 columns, K rows of 16 binary16 per panel
 * (half (p * K + k) * 16 + c = f16(w[16 p + c][k]), round to nearest
 * even), columns past N zero.
 */
#include "kernels/vnni/gemm_float.h"

size_t QB_VNNI(qb_gemm_f16__vnni_size)(int n, int k, int group)
{
    (void)group;
    return sizeof(uint16_t) * (size_t)((n + 15) / 16) * 16 * (size_t)k;
}

void QB_VNNI(qb_gemm_f16__vnni_pack)(const qb_weights *w, void *dst)
{
    uint16_t *out = dst;
    for (int j = 0; j < w->n; j++)
        for (int l = 0; l < w->k; l++)
            out[((size_t)(j / 16) * w->k + l) * 16 + j % 16] = qb_f32_to_f16(w->f32[(size_t)j * w->k + l]);
}

void QB_VNNI(qb_gemm_f16__vnni)(const qb_packed *p, const qb_gemm_args *a) { gf_gemm(p, a, 1); }
