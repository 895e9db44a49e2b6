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
#include "kernels/rqf.h"

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
 * every nonzero acc since m' is odd); multipliers with many trailing zero
 * bits take the rescaled form of kernels/rqf.h where the caller allows. */
typedef struct qb_avx2_rqf8 {
    __m256i me, mo; /* m' of lanes 0,2,4,6 / 1,3,5,7 in the low half of each 64-bit lane */
    __m256i rnd;    /* 2^(s'-33) */
    __m256i sh;     /* s' - 32 */
} qb_avx2_rqf8;

/* The constants for lanes 0..7 from their multipliers m and right shifts
 * s: qb_rqf_reduce (kernels/rqf.h) on 8 lanes at once, bit for bit (the
 * lowest set bit's position from the exponent of its exact float). 0 (f
 * unset) when a lane does not qualify. rescaled: nonzero when the caller's
 * output zero point and bounds allow the rescaled form (|zero| <=
 * QB_RQF_ZERO_MAX, c_min >= -128). */
static inline int qb_avx2_rqf8_from(qb_avx2_rqf8 *f, __m256i m, __m256i s, int rescaled)
{
    const __m256i c32 = _mm256_set1_epi32(32), c33 = _mm256_set1_epi32(33);
    __m256i bad = _mm256_cmpgt_epi32(_mm256_set1_epi32(1), m); /* m == 0 or m >= 2^31 */
    __m256i low = _mm256_and_si256(m, _mm256_sub_epi32(_mm256_setzero_si256(), m)); /* 2^v */
    __m256i v = _mm256_sub_epi32(_mm256_srli_epi32(_mm256_castps_si256(_mm256_cvtepi32_ps(low)), 23),
                                 _mm256_set1_epi32(127));
    __m256i mo = _mm256_srlv_epi32(m, v), so = _mm256_sub_epi32(s, v); /* odd part m', s' */
    __m256i odd = _mm256_cmpgt_epi32(so, c32);                        /* s' >= 33 */
    __m256i rs = _mm256_and_si256(_mm256_and_si256(_mm256_cmpgt_epi32(s, c32), _mm256_cmpgt_epi32(_mm256_set1_epi32(63), s)),
                                  _mm256_cmpgt_epi32(mo, _mm256_set1_epi32(65535))); /* 33 <= s <= 62, m' >= 2^16 */
    rs = _mm256_andnot_si256(odd, rs);                                /* the rescaled form where the odd one fails */
    __m256i ok = _mm256_andnot_si256(bad, rescaled ? _mm256_or_si256(odd, rs) : odd);
    if (_mm256_movemask_epi8(ok) != -1)
        return 0;
    __m256i mm = _mm256_blendv_epi8(mo, _mm256_srlv_epi32(m, _mm256_sub_epi32(s, c33)), rs);
    __m256i ss = _mm256_blendv_epi8(so, c33, rs);
    f->me = mm; /* vpmuldq reads the low dword of each 64-bit lane: lanes 0,2,4,6 */
    f->mo = _mm256_srli_epi64(mm, 32);
    f->rnd = _mm256_sllv_epi32(_mm256_set1_epi32(1), _mm256_sub_epi32(ss, c33));
    f->sh = _mm256_sub_epi32(ss, c32);
    return 1;
}

/* qb_avx2_rqf8_from for lanes 0..7 from rq[idx[0..7]]. */
static inline int qb_avx2_rqf8_set(qb_avx2_rqf8 *f, const qb_requant *rq, const int *idx, int rescaled)
{
    int32_t m[8], s[8];
    for (int i = 0; i < 8; i++) {
        m[i] = rq[idx[i]].multiplier;
        s[i] = rq[idx[i]].rshift;
    }
    return qb_avx2_rqf8_from(f, _mm256_loadu_si256((const __m256i *)m), _mm256_loadu_si256((const __m256i *)s),
                             rescaled);
}

/* qb_avx2_rqf8_from for lanes 0..7 from rq[0..7]. */
static inline int qb_avx2_rqf8_load(qb_avx2_rqf8 *f, const qb_requant *rq, int rescaled)
{
    __m256 p0 = _mm256_loadu_ps((const float *)rq), p1 = _mm256_loadu_ps((const float *)(rq + 4));
    __m256i m = _mm256_castps_si256(_mm256_shuffle_ps(p0, p1, 0x88)); /* m0 m1 m4 m5 | m2 m3 m6 m7 */
    __m256i s = _mm256_castps_si256(_mm256_shuffle_ps(p0, p1, 0xdd));
    return qb_avx2_rqf8_from(f, _mm256_permute4x64_epi64(m, 0xd8), _mm256_permute4x64_epi64(s, 0xd8), rescaled);
}

/* qb_avx2_round8 through qb_avx2_rqf8 constants. */
static inline __attribute__((always_inline)) __m256i qb_avx2_round8_fast(const qb_avx2_rqf8 *f, __m256i acc)
{
    __m256i pe = _mm256_mul_epi32(acc, f->me);
    __m256i po = _mm256_mul_epi32(_mm256_srli_epi64(acc, 32), f->mo);
    __m256i h = _mm256_blend_epi32(_mm256_srli_epi64(pe, 32), po, 0xaa); /* high halves in lane order */
    return _mm256_srav_epi32(_mm256_add_epi32(h, f->rnd), f->sh);
}

/* qb_avx2_round8_fast with the two products' high halves merged by one
 * vshufps instead of a shift and a blend (6 instructions, not 7): lane i
 * of the result is the rounding of acc lane 0, 2, 1, 3 of each group of
 * 4, so f's rnd and sh must be in that order (or acc and f's me, mo in
 * the inverse one: the same swap of lanes 1 and 2, vpshufd 0xd8). */
static inline __attribute__((always_inline)) __m256i qb_avx2_round8_fast_sh(const qb_avx2_rqf8 *f, __m256i acc)
{
    __m256i pe = _mm256_mul_epi32(acc, f->me);
    __m256i po = _mm256_mul_epi32(_mm256_srli_epi64(acc, 32), f->mo);
    __m256i h = _mm256_castps_si256(_mm256_shuffle_ps(_mm256_castsi256_ps(pe), _mm256_castsi256_ps(po), 0xdd));
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
