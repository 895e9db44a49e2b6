/*
 * gemm_b1.c - AVX-512 binary GEMM (XNOR-popcount with VPOPCNTDQ),
 * bit-exact with kernels/scalar/gemm_b1.c: per output, pop = popcount of
 * a ^ w over the K bits, dot = K - 2 pop (exact), C = clamp(fmaf(dot,
 * alpha[n], bias[n])).
 *
 * Packed layout: panels of 16 columns; per panel, for each 64-bit word
 * index i of the K bits, the 16 columns' words (two zmm of 8):
 *   uint64 (p * words + i) * 16 + c = bits of w[16 p + c] word i
 * columns past N zero. Each A word is broadcast and XORed against 8
 * columns at once, popcounts accumulated in 64-bit lanes (no horizontal
 * sums). Microkernel: up to 4 rows x 2 panels (32 columns).
 */
#include "kernels/vnni/vnni.h"

#define MR 4    /* rows per tile */
#define NP 2    /* 16-column panels per tile */

size_t QB_VNNI(qb_gemm_b1__vnni_size)(int n, int k, int group)
{
    (void)group;
    return sizeof(uint64_t) * (size_t)((n + 15) / 16) * 16 * qb_binary_words(k);
}

void QB_VNNI(qb_gemm_b1__vnni_pack)(const qb_weights *w, void *dst)
{
    uint64_t *out = dst;
    size_t words = qb_binary_words(w->k);
    for (int j = 0; j < w->n; j++) {
        uint64_t row[64]; /* one 4096-bit slice of the row at a time */
        for (size_t i0 = 0; i0 < words; i0 += 64) {
            int kb = (int)(i0 * 64), kl = w->k - kb < 4096 ? w->k - kb : 4096;
            size_t nw = qb_binary_words(kl);
            qb_binary_pack_rows(w->f32 + (size_t)j * w->k + kb, 1, kl, (size_t)kl, row, nw);
            for (size_t i = 0; i < nw; i++)
                out[((size_t)(j / 16) * words + i0 + i) * 16 + j % 16] = row[i];
        }
    }
}

QB_MICRO void b1_micro(int mr_, int np_, const uint64_t *a, size_t lda, const uint64_t *w, size_t pstride,
                       size_t words, int K, const float *alpha, const float *bias, float *c, size_t ldc,
                       int cnt_last, __m512 lo, __m512 hi)
{
    __m512i acc[MR][2 * NP];
    for (int r = 0; r < MR; r++) /* all of it: no lane is ever read unset */
        for (int h = 0; h < 2 * NP; h++)
            acc[r][h] = _mm512_setzero_si512();
    for (size_t i = 0; i < words; i++) {
        __m512i wv[2 * NP] = {_mm512_setzero_si512()};
QB_UNROLL(GCC unroll 4)
        for (int q = 0; q < np_; q++) {
            wv[2 * q] = _mm512_load_si512((const void *)(w + q * pstride + i * 16));
            wv[2 * q + 1] = _mm512_load_si512((const void *)(w + q * pstride + i * 16 + 8));
        }
QB_UNROLL(GCC unroll 4)
        for (int r = 0; r < mr_; r++) {
            __m512i av = _mm512_set1_epi64((long long)a[r * lda + i]);
QB_UNROLL(GCC unroll 4)
            for (int h = 0; h < 2 * np_; h++)
                acc[r][h] = _mm512_add_epi64(acc[r][h], _mm512_popcnt_epi64(_mm512_xor_si512(av, wv[h])));
        }
    }
    const __m512i kv = _mm512_set1_epi32(K);
QB_UNROLL(GCC unroll 4)
    for (int q = 0; q < np_; q++) {
        int cnt = q == np_ - 1 ? cnt_last : 16;
        __mmask16 mk = qb_mask16(cnt);
        __m512 al = _mm512_maskz_loadu_ps(mk, alpha + 16 * q), b = _mm512_maskz_loadu_ps(mk, bias + 16 * q);
QB_UNROLL(GCC unroll 4)
        for (int r = 0; r < mr_; r++) {
            __m512i pop = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi64_epi32(acc[r][2 * q])),
                                             _mm512_cvtepi64_epi32(acc[r][2 * q + 1]), 1);
            __m512i dot = _mm512_sub_epi32(kv, _mm512_add_epi32(pop, pop));
            __m512 v = qb_clamp_ps(_mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), al, b), lo, hi);
            float *cr = c + r * ldc + 16 * q;
            if (cnt == 16)
                _mm512_storeu_ps(cr, v);
            else
                _mm512_mask_storeu_ps(cr, mk, v);
        }
    }
}

#define B1_CASE(m_, n_)                                                                            \
    case (m_) * 8 + (n_):                                                                          \
        b1_micro(m_, n_, a, lda, w, pstride, words, K, alpha, bias, c, ldc, cnt_last, lo, hi);     \
        break;
#define B1_ROW(m_) B1_CASE(m_, 1) B1_CASE(m_, 2)

void QB_VNNI(qb_gemm_b1__vnni)(const qb_packed *p, const qb_gemm_args *g)
{
    const int N = p->n, K = p->k, M = g->m, npanels = (N + 15) / 16;
    const size_t words = qb_binary_words(K), pstride = words * 16, lda = g->lda, ldc = g->ldc;
    const __m512 lo = _mm512_set1_ps(g->f_min), hi = _mm512_set1_ps(g->f_max);
    for (int m0 = 0; m0 < M; m0 += MR) {
        int mr = M - m0 < MR ? M - m0 : MR;
        const uint64_t *a = (const uint64_t *)g->a + (size_t)m0 * lda;
        for (int p0 = 0; p0 < npanels; p0 += NP) {
            int np = npanels - p0 < NP ? npanels - p0 : NP;
            int n0 = p0 * 16, cnt_last = N - (n0 + 16 * (np - 1));
            cnt_last = cnt_last > 16 ? 16 : cnt_last;
            const uint64_t *w = (const uint64_t *)p->w + (size_t)p0 * pstride;
            const float *alpha = p->scale + n0, *bias = p->bias_f32 + n0;
            float *c = (float *)g->c + (size_t)m0 * ldc + n0;
#if QB_SPECIALIZE
            switch (mr * 8 + np) {
                B1_ROW(1) B1_ROW(2) B1_ROW(3) B1_ROW(4)
            default:
                break;
            }
#else
            b1_micro(mr, np, a, lda, w, pstride, words, K, alpha, bias, c, ldc, cnt_last, lo, hi);
#endif
        }
    }
}
