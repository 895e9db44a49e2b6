/*
 * lut_i8.h - one 256-entry int8 table (entry q + 128 for code q) looked
 * up for 64 int8 codes at once with AVX-512 VBMI byte permutes: the
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
#endif

#endif
