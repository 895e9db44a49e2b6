/*
 * gemm_i4.c - scalar int4-weight GEMM (int8 activations), the bit-exact
 * reference for every int4 kernel. Per group g of G along K:
 *   isum = sum_{k in g} a[k] * w[n][k] - a_zero * sum_{k in g} w[n][k]
 *   acc  = fmaf((float)isum, scale[n][g], acc)        (groups in order)
 * then C = clamp(fmaf(acc, a_scale, bias[n])). Packed layout: N rows of
 * ceil(K/2) bytes, element 2i in the low nibble, 2i+1 in the high nibble
 * (two's complement), a zero nibble pads odd K.
 */
#include <math.h>

#include "kernels/kernels.h"

size_t qb_gemm_i4__scalar_size(int n, int k, int group)
{
    (void)group;
    return (size_t)n * (((size_t)k + 1) / 2);
}

void qb_gemm_i4__scalar_pack(const qb_weights *w, void *dst)
{
    uint8_t *out = dst;
    size_t row = ((size_t)w->k + 1) / 2;
    for (int j = 0; j < w->n; j++)
        for (int l = 0; l < w->k; l++) {
            uint8_t nib = (uint8_t)(w->i8[(size_t)j * w->k + l] & 0xf);
            out[(size_t)j * row + l / 2] |= (uint8_t)(l & 1 ? nib << 4 : nib);
        }
}

static inline int nibble(const uint8_t *row, int l)
{
    int v = (row[l / 2] >> ((l & 1) * 4)) & 0xf;
    return v >= 8 ? v - 16 : v;
}

void qb_gemm_i4__scalar(const qb_packed *p, const qb_gemm_args *a)
{
    const uint8_t *W = p->w;
    const int8_t *A = a->a;
    float *C = a->c;
    size_t row = ((size_t)p->k + 1) / 2;
    for (int i = 0; i < a->m; i++) {
        const int8_t *ar = A + (size_t)i * a->lda;
        for (int j = 0; j < p->n; j++) {
            const uint8_t *wr = W + (size_t)j * row;
            float acc = 0.0f;
            for (int g = 0; g < p->ngroups; g++) {
                int lo = g * p->group, hi = lo + p->group < p->k ? lo + p->group : p->k;
                int32_t isum = -a->a_zero * p->wsum[(size_t)j * p->ngroups + g];
                for (int l = lo; l < hi; l++)
                    isum += ar[l] * nibble(wr, l);
                acc = fmaf((float)isum, p->scale[(size_t)j * p->ngroups + g], acc);
            }
            float v = fmaf(acc, a->a_scale, p->bias_f32[j]);
            v = v < a->f_min ? a->f_min : v;
            v = v > a->f_max ? a->f_max : v;
            C[(size_t)i * a->ldc + j] = v;
        }
    }
}
