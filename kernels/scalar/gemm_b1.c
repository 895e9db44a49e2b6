/*
 * gemm_b1.c - scalar binary GEMM (XNOR-popcount), the bit-exact reference
 * for every binary kernel: with sign bits (1 = negative) packed 64 per
 * word, dot = K - 2 * popcount(a ^ w) and C = clamp(fmaf(dot, alpha[n],
 * bias[n])). Packed layout: N rows of ceil(K/64) words, pad bits zero.
 */
#include <math.h>

#include "kernels/kernels.h"

size_t qb_gemm_b1__scalar_size(int n, int k, int group)
{
    (void)group;
    return sizeof(uint64_t) * (size_t)n * qb_binary_words(k);
}

void qb_gemm_b1__scalar_pack(const qb_weights *w, void *dst)
{
    qb_binary_pack_rows(w->f32, w->n, w->k, (size_t)w->k, dst, qb_binary_words(w->k));
}

static inline int popcount64(uint64_t x)
{
    /* portable SWAR popcount: no popcnt instruction assumed */
    x = x - ((x >> 1) & 0x5555555555555555ull);
    x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
    return (int)((x * 0x0101010101010101ull) >> 56);
}

void qb_gemm_b1__scalar(const qb_packed *p, const qb_gemm_args *a)
{
    const uint64_t *W = p->w;
    const uint64_t *A = a->a;
    float *C = a->c;
    size_t words = qb_binary_words(p->k);
    for (int i = 0; i < a->m; i++) {
        const uint64_t *ar = A + (size_t)i * a->lda;
        for (int j = 0; j < p->n; j++) {
            const uint64_t *wr = W + (size_t)j * words;
            int pop = 0;
            for (size_t l = 0; l < words; l++)
                pop += popcount64(ar[l] ^ wr[l]);
            float v = fmaf((float)(p->k - 2 * pop), p->scale[j], p->bias_f32[j]);
            v = v < a->f_min ? a->f_min : v;
            v = v > a->f_max ? a->f_max : v;
            C[(size_t)i * a->ldc + j] = v;
        }
    }
}
