/*
 * dwconv_i8.h - what the VNNI int8 depthwise sources share: the per-block
 * constants (biases with the input offset folded in, requantization) in
 * the interleaved lane order of dwconv_i8.c, the output stage's constants,
 * the unsigned input load, the bytewise interleave of four rows and the
 * requantization of 16 int32 sums; dwconv_i8.c makes the constants and
 * takes every layer, dwconv5_i8.c the 5x5 windows (and 3x3 at C < 32).
 */
#ifndef QB_VNNI_DWCONV_I8_H
#define QB_VNNI_DWCONV_I8_H

#include "kernels/vnni/vnni.h"

/* Per block of 64 channels, in the interleaved lane order (vector j). */
typedef struct blkc {
    int32_t bias[4][16]; /* bias - (x_zero + 128) * sum(w) */
    int32_t v[4][6][16]; /* requantization: fast {m', m' of odd lanes, 2^(s'-33), s'-32};
                            exact {m even, m odd, rnd even, rnd odd, s even, s odd} (64-bit) */
} blkc;

/* What the output stage needs. */
typedef struct outc {
    __m512i z16;      /* y_zero as int16 */
    __m512i z32;      /* y_zero as int32 */
    int zsh;          /* the largest sh with |y_zero| 2^sh + 2^(sh-1) < 2^30 (dwconv_i8.c's fold) */
    __m512i lo8, hi8; /* y_min, y_max as int8 */
    int exact;        /* 1: the 64-bit requantization */
    int clamp;        /* 0: y_min, y_max are -128, 127 (the packs' saturation is the clamp) */
} outc;

/* Four rows of 64 bytes -> four vectors of 16 channels x 4 rows. */
QB_INLINE void ilv4(__m512i r0, __m512i r1, __m512i r2, __m512i r3, __m512i *v)
{
    __m512i a = _mm512_unpacklo_epi8(r0, r1), b = _mm512_unpackhi_epi8(r0, r1);
    __m512i c = _mm512_unpacklo_epi8(r2, r3), d = _mm512_unpackhi_epi8(r2, r3);
    v[0] = _mm512_unpacklo_epi16(a, c);
    v[1] = _mm512_unpackhi_epi16(a, c);
    v[2] = _mm512_unpacklo_epi16(b, d);
    v[3] = _mm512_unpackhi_epi16(b, d);
}

/* 64 input bytes (mk lanes) made unsigned. */
QB_INLINE __m512i ldu(const int8_t *p, __mmask64 mk)
{
    return _mm512_xor_si512(_mm512_maskz_loadu_epi8(mk, p), _mm512_set1_epi8((char)0x80));
}

/* int32 accumulators of 16 channels -> rounded r (before zero point and clamp). */
QB_INLINE __m512i rq_round(__m512i acc, const int32_t (*v)[16], int exact)
{
    if (!exact)
        return qb_rqf_round(acc, _mm512_load_si512((const void *)v[0]), _mm512_load_si512((const void *)v[1]),
                            _mm512_load_si512((const void *)v[2]), _mm512_load_si512((const void *)v[3]));
    const __m512i zero = _mm512_setzero_si512();
    __mmask16 neg = _mm512_cmpgt_epi32_mask(zero, acc);
    __m512i mag = _mm512_abs_epi32(acc);
    __m512i pe = _mm512_mul_epu32(mag, _mm512_load_si512((const void *)v[0]));
    __m512i po = _mm512_mul_epu32(_mm512_srli_epi64(mag, 32), _mm512_load_si512((const void *)v[1]));
    pe = _mm512_srlv_epi64(_mm512_add_epi64(pe, _mm512_load_si512((const void *)v[2])),
                           _mm512_load_si512((const void *)v[4]));
    po = _mm512_srlv_epi64(_mm512_add_epi64(po, _mm512_load_si512((const void *)v[3])),
                           _mm512_load_si512((const void *)v[5]));
    __m512i r = _mm512_or_si512(pe, _mm512_slli_epi64(po, 32));
    return _mm512_mask_sub_epi32(r, neg, zero, r);
}

/* The constants of block b of 64 channels (P = 1) for this call (dwconv_i8.c). */
void QB_VNNI(qb_dwi8_block_consts)(const qb_packed *pk, const qb_dw_args *a, int b, int exact, blkc *bc);

/* The 5x5 layer (dilation 1, stride 1 or 2 along x, C >= 16) or the 3x3
 * layer at 16 <= C < 32 (dwconv5_i8.c): pbc the packed block constants
 * (NULL: made per call), pad 64 bytes of x_zero. */
void QB_VNNI(qb_dw5_i8)(const qb_packed *pk, const qb_dw_args *a, const blkc *pbc, const outc *oc,
                        const int8_t *pad);

#endif
