/*
 * gemm_b1.c - AVX2 binary GEMM (XNOR-popcount), bit-exact with
 * kernels/scalar/gemm_b1.c: dot = K - 2 * popcount(a ^ w) over the packed
 * sign words, C = fmaf((float)dot, alpha[n], bias[n]) clamped like the
 * scalar compares (vfmadd: the same single rounding).
 *
 * Packed layout: panels of 16 output channels; a panel holds ceil(K/64)
 * words of 128 bytes, word i = four 32-byte vectors of 4 channels' word i:
 * vector 2h + e holds channels 8h + e, 8h + 2 + e, 8h + 4 + e, 8h + 6 + e
 * (so that the even and odd vectors' 64-bit counts interleave into channel
 * order with one blend). Channels past N are zero.
 *
 * Popcount: vpshufb nibble table (Mula), byte counts accumulated for up to
 * 31 words (8 per word at most), then vpsadbw into 64-bit lanes. Each word
 * of a row of A is broadcast (vpbroadcastq) against the 4 vectors of a
 * panel, so the lanes are channels and no horizontal sums are needed; 2
 * rows x 16 channels per microkernel call (8 byte accumulators), weights as
 * memory operands of the xor.
 */
#include <immintrin.h>
#include <string.h>

#include "kernels/kernels.h"

#define NP 16          /* output channels per panel */
#define WB (NP * 8)    /* bytes of one word of a panel */
#define RUN 31         /* words per byte-count run (31 * 8 < 256) */

#define INLINE static inline __attribute__((always_inline))

size_t qb_gemm_b1__avx2_size(int n, int k, int group)
{
    (void)group;
    return (size_t)((n + NP - 1) / NP) * qb_binary_words(k) * WB;
}

void qb_gemm_b1__avx2_pack(const qb_weights *w, void *dst)
{
    size_t words = qb_binary_words(w->k);
    uint64_t row[64]; /* one channel's words, a chunk at a time */
    uint64_t *out = dst;
    for (int j = 0; j < w->n; j++) {
        int c = j % NP, h = c / 8, e = c % 2, lane = c % 8 / 2;
        uint64_t *col = out + (size_t)(j / NP) * words * (WB / 8) + (size_t)(2 * h + e) * 4 + lane;
        for (size_t w0 = 0; w0 < words; w0 += 64) {
            size_t nw = words - w0 < 64 ? words - w0 : 64;
            int k0 = (int)(w0 * 64), kn = w->k - k0 < 64 * 64 ? w->k - k0 : 64 * 64;
            qb_binary_pack_rows(w->f32 + (size_t)j * w->k + k0, 1, kn, (size_t)w->k, row, nw);
            for (size_t i = 0; i < nw; i++)
                col[(w0 + i) * (WB / 8)] = row[i];
        }
    }
}

/* Byte counts of popcount(x) added to acc (nibble table). */
INLINE __m256i popadd(__m256i acc, __m256i x, __m256i lut, __m256i m4)
{
    acc = _mm256_add_epi8(acc, _mm256_shuffle_epi8(lut, _mm256_and_si256(x, m4)));
    return _mm256_add_epi8(acc, _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(x, 4), m4)));
}

/* Finish one row's 16 channels from the 64-bit popcounts q[0..3]. */
INLINE void finish(__m256i *q, const float *alpha, const float *bias, const qb_gemm_args *a, int K, float *c,
                   int nc)
{
    const __m256i kv = _mm256_set1_epi32(K);
    const __m256 fmin = _mm256_set1_ps(a->f_min), fmax = _mm256_set1_ps(a->f_max);
    __m256 v[2];
    for (int h = 0; h < 2; h++) {
        __m256i pop = _mm256_blend_epi32(q[2 * h], _mm256_slli_epi64(q[2 * h + 1], 32), 0xaa);
        __m256i dot = _mm256_sub_epi32(kv, _mm256_add_epi32(pop, pop));
        __m256 f = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_loadu_ps(alpha + 8 * h), _mm256_loadu_ps(bias + 8 * h));
        v[h] = _mm256_min_ps(fmax, _mm256_max_ps(fmin, f));
    }
    if (nc == NP) {
        _mm256_storeu_ps(c, v[0]);
        _mm256_storeu_ps(c + 8, v[1]);
    } else {
        float t[NP];
        _mm256_storeu_ps(t, v[0]);
        _mm256_storeu_ps(t + 8, v[1]);
        memcpy(c, t, sizeof(float) * (size_t)nc);
    }
}

/* Popcounts of R (1 or 2) rows against one panel into q[r][0..3]. */
INLINE void rows_panel(int R, const uint64_t *a0, const uint64_t *a1, size_t words, const uint8_t *wp, __m256i q[2][4])
{
    const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2,
                                         2, 3, 2, 3, 3, 4);
    const __m256i m4 = _mm256_set1_epi8(0x0f), z = _mm256_setzero_si256();
    for (int r = 0; r < 2; r++)
        for (int v = 0; v < 4; v++)
            q[r][v] = z;
    for (size_t w0 = 0; w0 < words; w0 += RUN) {
        size_t we = words - w0 < RUN ? words : w0 + RUN;
        __m256i b00 = z, b01 = z, b02 = z, b03 = z, b10 = z, b11 = z, b12 = z, b13 = z;
        for (size_t i = w0; i < we; i++) {
            const __m256i *wv = (const __m256i *)(wp + i * WB);
            __m256i x = _mm256_set1_epi64x((long long)a0[i]);
            b00 = popadd(b00, _mm256_xor_si256(x, _mm256_load_si256(wv)), lut, m4);
            b01 = popadd(b01, _mm256_xor_si256(x, _mm256_load_si256(wv + 1)), lut, m4);
            b02 = popadd(b02, _mm256_xor_si256(x, _mm256_load_si256(wv + 2)), lut, m4);
            b03 = popadd(b03, _mm256_xor_si256(x, _mm256_load_si256(wv + 3)), lut, m4);
            if (R > 1) {
                __m256i y = _mm256_set1_epi64x((long long)a1[i]);
                b10 = popadd(b10, _mm256_xor_si256(y, _mm256_load_si256(wv)), lut, m4);
                b11 = popadd(b11, _mm256_xor_si256(y, _mm256_load_si256(wv + 1)), lut, m4);
                b12 = popadd(b12, _mm256_xor_si256(y, _mm256_load_si256(wv + 2)), lut, m4);
                b13 = popadd(b13, _mm256_xor_si256(y, _mm256_load_si256(wv + 3)), lut, m4);
            }
        }
        q[0][0] = _mm256_add_epi64(q[0][0], _mm256_sad_epu8(b00, z));
        q[0][1] = _mm256_add_epi64(q[0][1], _mm256_sad_epu8(b01, z));
        q[0][2] = _mm256_add_epi64(q[0][2], _mm256_sad_epu8(b02, z));
        q[0][3] = _mm256_add_epi64(q[0][3], _mm256_sad_epu8(b03, z));
        if (R > 1) {
            q[1][0] = _mm256_add_epi64(q[1][0], _mm256_sad_epu8(b10, z));
            q[1][1] = _mm256_add_epi64(q[1][1], _mm256_sad_epu8(b11, z));
            q[1][2] = _mm256_add_epi64(q[1][2], _mm256_sad_epu8(b12, z));
            q[1][3] = _mm256_add_epi64(q[1][3], _mm256_sad_epu8(b13, z));
        }
    }
}

static void rows1(const uint64_t *a0, size_t words, const uint8_t *wp, __m256i q[2][4])
{
    rows_panel(1, a0, a0, words, wp, q);
}

static void rows2(const uint64_t *a0, const uint64_t *a1, size_t words, const uint8_t *wp, __m256i q[2][4])
{
    rows_panel(2, a0, a1, words, wp, q);
}

void qb_gemm_b1__avx2(const qb_packed *p, const qb_gemm_args *a)
{
    const uint64_t *A = a->a;
    float *C = a->c;
    size_t words = qb_binary_words(p->k);
    for (int pn = 0; pn < (p->n + NP - 1) / NP; pn++) {
        int j0 = pn * NP, nc = p->n - j0 < NP ? p->n - j0 : NP;
        const uint8_t *wp = (const uint8_t *)p->w + (size_t)pn * words * WB;
        float alpha[NP] = {0}, bias[NP] = {0};
        memcpy(alpha, p->scale + j0, sizeof(float) * (size_t)nc);
        memcpy(bias, p->bias_f32 + j0, sizeof(float) * (size_t)nc);
        for (int i = 0; i < a->m; i += 2) {
            __m256i q[2][4];
            const uint64_t *a0 = A + (size_t)i * a->lda;
            if (i + 1 < a->m)
                rows2(a0, a0 + a->lda, words, wp, q);
            else
                rows1(a0, words, wp, q);
            finish(q[0], alpha, bias, a, p->k, C + (size_t)i * a->ldc + j0, nc);
            if (i + 1 < a->m)
                finish(q[1], alpha, bias, a, p->k, C + (size_t)(i + 1) * a->ldc + j0, nc);
        }
    }
}
