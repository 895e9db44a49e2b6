/*
 * requant_avx2.h - the requantization of kernels.h (kernels/scalar/
 * requant.c) on 8 int32 lanes, shared by the AVX2 int8 kernels (private to
 * kernels/avx2, everything static inline):
 *   r = (|acc| * multiplier + 2^(rshift-1)) >> rshift   (unsigned 64-bit)
 *   r = acc < 0 ? -r : r;  out = clamp(r, lo - zero, hi - zero) + zero
 * |acc| by vpabsd (INT32_MIN gives 2^31, right as unsigned), the 64-bit
 * products by vpmuludq on the even and the odd lanes, per-lane shifts by
 * vpsrlvq, the sign back by vpsignd.
 */
#ifndef QB_AVX2_REQUANT_H
#define QB_AVX2_REQUANT_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "kernels/kernels.h"

/* Multipliers of 8 lanes, split into even and odd lanes. */
typedef struct qb_avx2_rq8 {
    __m256i me, mo; /* multipliers of lanes 0,2,4,6 / 1,3,5,7 in the low half of each 64-bit lane */
    __m256i re, ro; /* rounding terms 2^(rshift-1) of the even / odd lanes (64-bit) */
    __m256i se, so; /* right shifts of the even / odd lanes (64-bit) */
} qb_avx2_rq8;

/* The vectors from the multipliers m and right shifts s of lanes 0..7. */
static inline void qb_avx2_rq8_from(qb_avx2_rq8 *r, __m256i m, __m256i s)
{
    const __m256i one = _mm256_set1_epi64x(1);
    __m256i se = _mm256_and_si256(s, _mm256_set1_epi64x(0xffffffff)), so = _mm256_srli_epi64(s, 32);
    r->me = m;
    r->mo = _mm256_srli_epi64(m, 32);
    r->re = _mm256_sllv_epi64(one, _mm256_sub_epi64(se, one));
    r->ro = _mm256_sllv_epi64(one, _mm256_sub_epi64(so, one));
    r->se = se;
    r->so = so;
}

/* The vectors for lanes 0..7 from rq[idx[0..7]]. */
static inline void qb_avx2_rq8_set(qb_avx2_rq8 *r, const qb_requant *rq, const int *idx)
{
    int32_t m[8], s[8];
    for (int i = 0; i < 8; i++) {
        m[i] = rq[idx[i]].multiplier;
        s[i] = rq[idx[i]].rshift;
    }
    qb_avx2_rq8_from(r, _mm256_loadu_si256((const __m256i *)m), _mm256_loadu_si256((const __m256i *)s));
}

/* The vectors for lanes 0..7 from rq[0..7]. */
static inline void qb_avx2_rq8_load(qb_avx2_rq8 *r, const qb_requant *rq)
{
    /* {multiplier, rshift} pairs: split the even and odd dwords of 8 pairs */
    __m256 p0 = _mm256_loadu_ps((const float *)rq), p1 = _mm256_loadu_ps((const float *)(rq + 4));
    __m256i m = _mm256_castps_si256(_mm256_shuffle_ps(p0, p1, 0x88)); /* m0 m1 m4 m5 | m2 m3 m6 m7 */
    __m256i s = _mm256_castps_si256(_mm256_shuffle_ps(p0, p1, 0xdd));
    qb_avx2_rq8_from(r, _mm256_permute4x64_epi64(m, 0xd8), _mm256_permute4x64_epi64(s, 0xd8));
}

/* The rounded lanes r (qb_requant_round), before the zero point and the clamp. */
static inline __attribute__((always_inline)) __m256i qb_avx2_round8(const qb_avx2_rq8 *r, __m256i acc)
{
    __m256i mag = _mm256_abs_epi32(acc);
    __m256i pe = _mm256_mul_epu32(mag, r->me);
    __m256i po = _mm256_mul_epu32(_mm256_srli_epi64(mag, 32), r->mo);
    pe = _mm256_srlv_epi64(_mm256_add_epi64(pe, r->re), r->se);
    po = _mm256_srlv_epi64(_mm256_add_epi64(po, r->ro), r->so);
    __m256i v = _mm256_blend_epi32(pe, _mm256_slli_epi64(po, 32), 0xaa); /* r < 2^31: 32 bits each */
    return _mm256_sign_epi32(v, acc);
}

/* Requantized lanes: lo and hi are the bounds minus the zero point. */
static inline __attribute__((always_inline)) __m256i qb_avx2_requant8(const qb_avx2_rq8 *r, __m256i acc, __m256i lo,
                                                                     __m256i hi, __m256i zero)
{
    __m256i v = _mm256_min_epi32(_mm256_max_epi32(qb_avx2_round8(r, acc), lo), hi);
    return _mm256_add_epi32(v, zero);
}

/* The faster form for multipliers that allow it (see kernels/vnni/vnni.h,
 * qb_rqf): m reduced to an odd m' = m >> v, s' = s - v; when s' >= 33,
 * r = (hi32(acc * m') + 2^(s'-33)) >> (s'-32), signed, is exactly the
 * rounding half away from zero (the low half of acc * m' is nonzero for
 * every nonzero acc since m' is odd). */
typedef struct qb_avx2_rqf8 {
    __m256i me, mo; /* m' of lanes 0,2,4,6 / 1,3,5,7 in the low half of each 64-bit lane */
    __m256i rnd;    /* 2^(s'-33) */
    __m256i sh;     /* s' - 32 */
} qb_avx2_rqf8;

/* The constants for lanes 0..7 from rq[idx[0..7]]; 0 (f unset) when a lane does not qualify. */
static inline int qb_avx2_rqf8_set(qb_avx2_rqf8 *f, const qb_requant *rq, const int *idx)
{
    int32_t me[8] = {0}, mo[8] = {0}, rnd[8], sh[8];
    for (int i = 0; i < 8; i++) {
        uint32_t m = (uint32_t)rq[idx[i]].multiplier;
        if (m == 0 || m >= 0x80000000u)
            return 0;
        int v = __builtin_ctz(m), s = rq[idx[i]].rshift - v;
        if (s < 33)
            return 0;
        if (i & 1)
            mo[i - 1] = (int32_t)(m >> v);
        else
            me[i] = (int32_t)(m >> v);
        rnd[i] = 1 << (s - 33);
        sh[i] = s - 32;
    }
    f->me = _mm256_loadu_si256((const __m256i *)me);
    f->mo = _mm256_loadu_si256((const __m256i *)mo);
    f->rnd = _mm256_loadu_si256((const __m256i *)rnd);
    f->sh = _mm256_loadu_si256((const __m256i *)sh);
    return 1;
}

/* qb_avx2_round8 through qb_avx2_rqf8 constants. */
static inline __attribute__((always_inline)) __m256i qb_avx2_round8_fast(const qb_avx2_rqf8 *f, __m256i acc)
{
    __m256i pe = _mm256_mul_epi32(acc, f->me);
    __m256i po = _mm256_mul_epi32(_mm256_srli_epi64(acc, 32), f->mo);
    __m256i h = _mm256_blend_epi32(_mm256_srli_epi64(pe, 32), po, 0xaa); /* high halves in lane order */
    return _mm256_srav_epi32(_mm256_add_epi32(h, f->rnd), f->sh);
}

/* qb_avx2_requant8 through qb_avx2_rqf8 constants. */
static inline __attribute__((always_inline)) __m256i qb_avx2_requant8_fast(const qb_avx2_rqf8 *f, __m256i acc,
                                                                          __m256i lo, __m256i hi, __m256i zero)
{
    __m256i v = _mm256_min_epi32(_mm256_max_epi32(qb_avx2_round8_fast(f, acc), lo), hi);
    return _mm256_add_epi32(v, zero);
}

/* The first n (0..16) bytes of v to c, by a 16-, 8-, 4-, 2- and 1-byte
 * store as n needs: no copy through a stack buffer (a memcpy of a
 * variable length after a vector store stalls store forwarding). */
static inline __attribute__((always_inline)) void qb_avx2_store_bytes(int8_t *c, __m128i v, int n)
{
    if (n == 16) {
        _mm_storeu_si128((__m128i *)c, v);
        return;
    }
    if (n & 8) {
        _mm_storel_epi64((__m128i *)c, v);
        v = _mm_srli_si128(v, 8);
        c += 8;
    }
    if (n & 4) {
        int32_t x = _mm_cvtsi128_si32(v);
        memcpy(c, &x, 4);
        v = _mm_srli_si128(v, 4);
        c += 4;
    }
    if (n & 2) {
        int16_t x = (int16_t)_mm_cvtsi128_si32(v);
        memcpy(c, &x, 2);
        v = _mm_srli_si128(v, 2);
        c += 2;
    }
    if (n & 1)
        *c = (int8_t)_mm_cvtsi128_si32(v);
}

#endif
