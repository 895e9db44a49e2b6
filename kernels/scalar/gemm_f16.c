/*
 * gemm_f16.c - scalar GEMM with IEEE binary16 weights and fp32 activations,
 * products and sums in fp32 (the reference for every fp16 kernel). Packed
 * layout: N rows of K binary16 values, rounded to nearest even.
 */
#include "kernels/kernels.h"

size_t qb_gemm_f16__scalar_size(int n, int k, int group)
{
    (void)group;
    return sizeof(uint16_t) * (size_t)n * k;
}

void qb_gemm_f16__scalar_pack(const qb_weights *w, void *dst)
{
    uint16_t *h = dst;
    for (size_t i = 0; i < (size_t)w->n * w->k; i++)
        h[i] = qb_f32_to_f16(w->f32[i]);
}

void qb_gemm_f16__scalar(const qb_packed *p, const qb_gemm_args *a)
{
    const uint16_t *W = p->w;
    const float *A = a->a;
    float *C = a->c;
    for (int i = 0; i < a->m; i++) {
        const float *ar = A + (size_t)i * a->lda;
        for (int j = 0; j < p->n; j++) {
            const uint16_t *wr = W + (size_t)j * p->k;
            float acc = 0.0f;
            for (int l = 0; l < p->k; l++)
                acc += ar[l] * qb_f16_to_f32(wr[l]);
            acc += p->bias_f32[j];
            acc = acc < a->f_min ? a->f_min : acc;
            acc = acc > a->f_max ? a->f_max : acc;
            C[(size_t)i * a->ldc + j] = acc;
        }
    }
}
