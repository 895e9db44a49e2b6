/*
 * gemm_f32.c - AVX-512F fp32 GEMM with bias and clamp: 512-bit FMA
 * microkernel of kernels/vnni/gemm_float.h (6 rows x 64 columns).
 * Packed layout: panels of 16 columns, K rows of 16 floats per panel
 * (float (p * K + k) * 16 + c = w[16 p + c][k]), columns past N zero.
 */
#include "kernels/vnni/gemm_float.h"

size_t QB_VNNI(qb_gemm_f32__vnni_size)(int n, int k, int group)
{
    (void)group;
    return sizeof(float) * (size_t)((n + 15) / 16) * 16 * (size_t)k;
}

void QB_VNNI(qb_gemm_f32__vnni_pack)(const qb_weights *w, void *dst)
{
    float *out = dst;
    for (int j = 0; j < w->n; j++)
        for (int l = 0; l < w->k; l++)
            out[((size_t)(j / 16) * w->k + l) * 16 + j % 16] = w->f32[(size_t)j * w->k + l];
}

void QB_VNNI(qb_gemm_f32__vnni)(const qb_packed *p, const qb_gemm_args *a) { gf_gemm(p, a, 0); }
