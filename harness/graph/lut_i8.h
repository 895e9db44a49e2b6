/*
 * lut_i8.h - one 256-entry int8 table (entry q + 128 for code q) looked
 * up for 64 int8 codes at once with AVX-512 VBMI byte permutes (or 32
 * with AVX2 byte shuffles: qb_lut_i8_avx2): the
 * table sits in four 64-byte registers, a two-table permute looks up the
 * codes below and above 0 (index q + 128 = q ^ 0x80, whose top bit picks
 * the half). Shared by the int8 MaxPool (nhwc_ops.c) and the int8
 * element-wise chains (fuse_elem.c); each gives the table's own bytes,
 * as their scalar loops do.
 */
#ifndef QB_LUT_I8_H
#define QB_LUT_I8_H

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define QB_LUT_I8_VBMI 1

/* The table lut[0..255] into t[4]. */
__attribute__((target("avx512f,avx512bw,avx512vbmi"))) static inline void qb_lut_i8_load(const void *lut, __m512i *t)
{
    const char *b = lut;
    for (int k = 0; k < 4; k++)
        t[k] = _mm512_loadu_si512(b + 64 * k);
}

/* lut[q + 128] for each of the 64 int8 codes in q (t: qb_lut_i8_load). */
__attribute__((target("avx512f,avx512bw,avx512vbmi"))) static inline __m512i qb_lut_i8_vbmi(const __m512i *t, __m512i q)
{
    __m512i idx = _mm512_xor_si512(q, _mm512_set1_epi8((char)0x80));
    __m512i lo = _mm512_permutex2var_epi8(t[0], idx, t[1]), hi = _mm512_permutex2var_epi8(t[2], idx, t[3]);
    return _mm512_mask_blend_epi8(_mm512_movepi8_mask(idx), lo, hi);
}

/* lut[q + 128] for each of the 32 int8 codes in q with AVX2, by vpshufb
 * of the table's 16-byte rows: bits 0-3 of i = q + 128 pick the entry,
 * and vpshufb gives zero where bit 7 of its index is set, so row k (i <
 * 128) takes i & 0x8f and row k + 8 takes (i & 0x8f) ^ 0x80; their OR is
 * kept where bits 4-6 of i are k (8 steps, independent of each other). */
__attribute__((target("avx2"))) static inline __m256i qb_lut_i8_avx2(const void *lut, __m256i q)
{
    const __m256i i = _mm256_xor_si256(q, _mm256_set1_epi8((char)0x80));
    const __m256i lo = _mm256_and_si256(i, _mm256_set1_epi8((char)0x8f)), hi = _mm256_xor_si256(lo, _mm256_set1_epi8((char)0x80));
    const __m256i k3 = _mm256_and_si256(_mm256_srli_epi16(i, 4), _mm256_set1_epi8(7));
    const char *b = lut;
    __m256i r = _mm256_setzero_si256();
    for (int k = 0; k < 8; k++) {
        __m256i r0 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)(b + 16 * k)));
        __m256i r1 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)(b + 128 + 16 * k)));
        __m256i v = _mm256_or_si256(_mm256_shuffle_epi8(r0, lo), _mm256_shuffle_epi8(r1, hi));
        r = _mm256_or_si256(r, _mm256_and_si256(v, _mm256_cmpeq_epi8(k3, _mm256_set1_epi8((char)k))));
    }
    return r;
}
#endif

#endif
