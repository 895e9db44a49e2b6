/*
 * gemm_f32.c - scalar fp32 GEMM with bias, the reference for every fp32
 * kernel: C = A . W^T + b, each dot product summed in order k = 0..K-1 in
 * float, then the bias added, then the clamp. Packed layout: W as given,
 * N rows of K floats.
 */
#include <string.h>

#include "kernels/kernels.h"

size_t qb_gemm_f32__scalar_size(int n, int k, int group)
{
    (void)group;
    return sizeof(float) * (size_t)n * k;
}

void qb_gemm_f32__scalar_pack(const qb_weights *w, void *dst)
{
    memcpy(dst, w->f32, sizeof(float) * (size_t)w->n * w->k);
}

void qb_gemm_f32__scalar(const qb_packed *p, const qb_gemm_args *a)
{
    const float *W = p->w;
    const float *A = a->a;
    float *C = a->c;
    const int nt = a->a_taps ? a->a_ntaps : 1, tk = p->k / nt; /* segments of A's K and their length */
    for (int i = 0; i < a->m; i++) {
        const float *ar = A + (size_t)i * a->lda;
        for (int j = 0; j < p->n; j++) {
            const float *wr = W + (size_t)j * p->k;
            float acc = 0.0f;
            for (int t = 0; t < nt; t++) {
                const float *as = ar + (a->a_taps ? a->a_taps[t] : 0), *ws = wr + (size_t)t * tk;
                for (int l = 0; l < tk; l++)
                    acc += as[l] * ws[l];
            }
            acc += p->bias_f32[j];
            acc = acc < a->f_min ? a->f_min : acc;
            acc = acc > a->f_max ? a->f_max : acc;
            C[(size_t)i * a->ldc + j] = acc;
        }
    }
}
