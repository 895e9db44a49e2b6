/*
 * vnni.h - what every AVX-512 VNNI kernel source shares: the intrinsics
 * (native <immintrin.h>, or SIMDe when compiled with -DQB_SIMDE for the
 * emulated test build, where every public symbol gets a _simde suffix via
 * QB_VNNI), exact fill-ins for the few AVX-512 intrinsics SIMDe 0.7.4 lacks
 * or emulates inexactly, masked tail loads/stores, and the lane-wise
 * requantization of kernels/scalar/requant.c.
 *
 * Under SIMDe the masked loads and stores touch only the active lanes
 * (never a byte outside the buffer), and _mm512_fmadd_ps is a true fused
 * multiply-add (fmaf per lane) as the hardware instruction is: SIMDe 0.7.4
 * rounds the product first, which would break the bit-exact int4 and
 * binary paths.
 */
#ifndef QB_VNNI_H
#define QB_VNNI_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/rqf.h"

#ifdef QB_SIMDE
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>
#define QB_VNNI(name) name##_simde
/* SIMDe 0.7.4 has no native aliases for the mask types */
#define __mmask8 simde__mmask8
#define __mmask16 simde__mmask16
#define __mmask32 simde__mmask32
#define __mmask64 simde__mmask64
#else
#include <immintrin.h>
#define QB_VNNI(name) name
#endif

#define QB_INLINE static inline __attribute__((always_inline))

/* Microkernels are specialised per tile shape (compile-time row and panel
 * counts, a switch picks one) natively; the SIMDe build compiles one
 * generic copy with run-time counts instead: same arithmetic, a fraction
 * of the compile time. */
#ifdef QB_SIMDE
#define QB_SPECIALIZE 0
#define QB_MICRO static __attribute__((noinline))
#define QB_UNROLL(n)
#else
#define QB_SPECIALIZE 1
#define QB_MICRO QB_INLINE
#define QB_UNROLL(n) _Pragma(#n)
#endif

#ifdef QB_SIMDE
/* ---- fill-ins for the SIMDe build (each guarded: a newer SIMDe that has
 * the intrinsic keeps its own, except fmadd, replaced on purpose) ---- */

QB_INLINE __m512 qb_sim_fmadd_ps(__m512 a, __m512 b, __m512 c)
{
    float x[16], y[16], z[16];
    _mm512_storeu_ps(x, a);
    _mm512_storeu_ps(y, b);
    _mm512_storeu_ps(z, c);
    for (int i = 0; i < 16; i++)
        z[i] = fmaf(x[i], y[i], z[i]);
    return _mm512_loadu_ps(z);
}
#undef _mm512_fmadd_ps
#define _mm512_fmadd_ps(a, b, c) qb_sim_fmadd_ps(a, b, c)

#ifndef _mm512_cvtepi32_ps
QB_INLINE __m512 qb_sim_cvtepi32_ps(__m512i a)
{
    int32_t x[16];
    float r[16];
    _mm512_storeu_si512(x, a);
    for (int i = 0; i < 16; i++)
        r[i] = (float)x[i]; /* round to nearest, as vcvtdq2ps */
    return _mm512_loadu_ps(r);
}
#define _mm512_cvtepi32_ps(a) qb_sim_cvtepi32_ps(a)
#endif

#ifndef _mm512_cvtepi8_epi32
QB_INLINE __m512i qb_sim_cvtepi8_epi32(__m128i a)
{
    int8_t x[16];
    int32_t r[16];
    _mm_storeu_si128((__m128i *)x, a);
    for (int i = 0; i < 16; i++)
        r[i] = x[i];
    return _mm512_loadu_si512(r);
}
#define _mm512_cvtepi8_epi32(a) qb_sim_cvtepi8_epi32(a)
#endif

#ifndef _mm512_cvtph_ps
QB_INLINE __m512 qb_sim_cvtph_ps(__m256i a)
{
    uint16_t x[16];
    float r[16];
    _mm256_storeu_si256((__m256i *)x, a);
    for (int i = 0; i < 16; i++)
        r[i] = qb_f16_to_f32(x[i]); /* exact, as vcvtph2ps */
    return _mm512_loadu_ps(r);
}
#define _mm512_cvtph_ps(a) qb_sim_cvtph_ps(a)
#endif

#ifndef _mm512_maskz_loadu_ps
QB_INLINE __m512 qb_sim_maskz_loadu_ps(__mmask16 k, const void *p)
{
    float r[16] = {0};
    for (int i = 0; i < 16; i++)
        if ((k >> i) & 1)
            memcpy(&r[i], (const char *)p + 4 * i, 4);
    return _mm512_loadu_ps(r);
}
#define _mm512_maskz_loadu_ps(k, p) qb_sim_maskz_loadu_ps(k, p)
#endif

#ifndef _mm512_maskz_loadu_epi32
QB_INLINE __m512i qb_sim_maskz_loadu_epi32(__mmask16 k, const void *p)
{
    int32_t r[16] = {0};
    for (int i = 0; i < 16; i++)
        if ((k >> i) & 1)
            memcpy(&r[i], (const char *)p + 4 * i, 4);
    return _mm512_loadu_si512(r);
}
#define _mm512_maskz_loadu_epi32(k, p) qb_sim_maskz_loadu_epi32(k, p)
#endif

#ifndef _mm512_maskz_loadu_epi64
QB_INLINE __m512i qb_sim_maskz_loadu_epi64(__mmask8 k, const void *p)
{
    int64_t r[8] = {0};
    for (int i = 0; i < 8; i++)
        if ((k >> i) & 1)
            memcpy(&r[i], (const char *)p + 8 * i, 8);
    return _mm512_loadu_si512(r);
}
#define _mm512_maskz_loadu_epi64(k, p) qb_sim_maskz_loadu_epi64(k, p)
#endif

#ifndef _mm512_maskz_loadu_epi8
QB_INLINE __m512i qb_sim_maskz_loadu_epi8(__mmask64 k, const void *p)
{
    int8_t r[64] = {0};
    for (int i = 0; i < 64; i++)
        if ((k >> i) & 1)
            r[i] = ((const int8_t *)p)[i];
    return _mm512_loadu_si512(r);
}
#define _mm512_maskz_loadu_epi8(k, p) qb_sim_maskz_loadu_epi8(k, p)
#endif

#ifndef _mm_maskz_loadu_epi8
QB_INLINE __m128i qb_sim_mm_maskz_loadu_epi8(__mmask16 k, const void *p)
{
    int8_t r[16] = {0};
    for (int i = 0; i < 16; i++)
        if ((k >> i) & 1)
            r[i] = ((const int8_t *)p)[i];
    return _mm_loadu_si128((const __m128i *)r);
}
#define _mm_maskz_loadu_epi8(k, p) qb_sim_mm_maskz_loadu_epi8(k, p)
#endif

#ifndef _mm512_mask_storeu_ps
QB_INLINE void qb_sim_mask_storeu_ps(void *p, __mmask16 k, __m512 v)
{
    float x[16];
    _mm512_storeu_ps(x, v);
    for (int i = 0; i < 16; i++)
        if ((k >> i) & 1)
            memcpy((char *)p + 4 * i, &x[i], 4);
}
#define _mm512_mask_storeu_ps(p, k, v) qb_sim_mask_storeu_ps(p, k, v)
#endif

#ifndef _mm512_mask_storeu_epi32
QB_INLINE void qb_sim_mask_storeu_epi32(void *p, __mmask16 k, __m512i v)
{
    int32_t x[16];
    _mm512_storeu_si512(x, v);
    for (int i = 0; i < 16; i++)
        if ((k >> i) & 1)
            memcpy((char *)p + 4 * i, &x[i], 4);
}
#define _mm512_mask_storeu_epi32(p, k, v) qb_sim_mask_storeu_epi32(p, k, v)
#endif

#ifndef _mm_mask_storeu_epi8
QB_INLINE void qb_sim_mm_mask_storeu_epi8(void *p, __mmask16 k, __m128i v)
{
    int8_t x[16];
    _mm_storeu_si128((__m128i *)x, v);
    for (int i = 0; i < 16; i++)
        if ((k >> i) & 1)
            ((int8_t *)p)[i] = x[i];
}
#define _mm_mask_storeu_epi8(p, k, v) qb_sim_mm_mask_storeu_epi8(p, k, v)
#endif
#ifndef _mm512_mask_storeu_epi8
QB_INLINE void qb_sim_mask_storeu_epi8(void *p, __mmask64 k, __m512i v)
{
    int8_t x[64];
    _mm512_storeu_si512(x, v);
    for (int i = 0; i < 64; i++)
        if ((k >> i) & 1)
            ((int8_t *)p)[i] = x[i];
}
#define _mm512_mask_storeu_epi8(p, k, v) qb_sim_mask_storeu_epi8(p, k, v)
#endif

#ifndef _mm512_srav_epi32
QB_INLINE __m512i qb_sim_srav_epi32(__m512i a, __m512i n)
{
    int32_t x[16], s[16];
    _mm512_storeu_si512(x, a);
    _mm512_storeu_si512(s, n);
    for (int i = 0; i < 16; i++) /* counts here are 0..31; the instruction gives sign bits past 31 */
        x[i] = (uint32_t)s[i] > 31 ? (x[i] < 0 ? -1 : 0) : (int32_t)(x[i] >> s[i]);
    return _mm512_loadu_si512(x);
}
#define _mm512_srav_epi32(a, n) qb_sim_srav_epi32(a, n)
#endif

/* vpshufd with a merge mask, for the one order the kernels use (swap the
 * dwords of each 64-bit lane, _MM_PERM_CDAB). */
QB_INLINE __m512i qb_sim_mask_swap_epi32(__m512i src, __mmask16 k, __m512i a)
{
    int32_t x[16], r[16];
    _mm512_storeu_si512(x, a);
    _mm512_storeu_si512(r, src);
    for (int i = 0; i < 16; i++)
        if ((k >> i) & 1)
            r[i] = x[i ^ 1];
    return _mm512_loadu_si512(r);
}
#define QB_MASK_SWAP_EPI32(src, k, a) qb_sim_mask_swap_epi32(src, k, a)
#endif /* QB_SIMDE */

#ifndef QB_MASK_SWAP_EPI32
/* Lanes of k take the other dword of their 64-bit lane in a, the rest src. */
#define QB_MASK_SWAP_EPI32(src, k, a) _mm512_mask_shuffle_epi32(src, k, a, _MM_PERM_CDAB)
#endif

/* ---- shared helpers ---- */

/* Lanes 0..n-1 of 16 (n >= 16: all). */
QB_INLINE __mmask16 qb_mask16(int n) { return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1); }

/* Bytes 0..n-1 of 64 (n >= 64: all). */
QB_INLINE __mmask64 qb_mask64(int n) { return n >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << n) - 1); }

/* Sum of n int8 values (wrap-around int32), without reading past them. */
QB_INLINE int32_t qb_vnni_sum_s8(const int8_t *a, int n)
{
    const __m512i ones = _mm512_set1_epi8(1);
    __m512i s = _mm512_setzero_si512();
    int l = 0;
    for (; l + 64 <= n; l += 64)
        s = _mm512_dpbusd_epi32(s, ones, _mm512_loadu_si512((const void *)(a + l)));
    if (l < n)
        s = _mm512_dpbusd_epi32(s, ones, _mm512_maskz_loadu_epi8(qb_mask64(n - l), a + l));
    int32_t lanes[16];
    _mm512_storeu_si512(lanes, s);
    uint32_t t = 0;
    for (int i = 0; i < 16; i++)
        t += (uint32_t)lanes[i];
    return (int32_t)t;
}

/* Four bytes at p as one int32 (unaligned). */
QB_INLINE int32_t qb_ld32(const void *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* The first n (< 4) bytes at p, zero-filled to an int32: a row tail read
 * without touching memory past the row. */
QB_INLINE int32_t qb_ld32_tail(const void *p, int n)
{
    const uint8_t *b = p; /* byte loads, not a memcpy call of variable length */
    uint32_t v = b[0];
    if (n > 1)
        v |= (uint32_t)b[1] << 8;
    if (n > 2)
        v |= (uint32_t)b[2] << 16;
    return (int32_t)v;
}

/* Eight bytes at p as one int64 (unaligned). */
QB_INLINE int64_t qb_ld64(const void *p)
{
    int64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* The first n (1..7) bytes at p, zero-filled to an int64: a row tail read
 * without touching memory past the row. */
QB_INLINE int64_t qb_ld64_tail(const void *p, int n)
{
    const uint8_t *b = p;
    if (n < 4)
        return (int64_t)(uint32_t)qb_ld32_tail(b, n);
    uint64_t v = (uint32_t)qb_ld32(b);
    if (n > 4)
        v |= (uint64_t)(uint32_t)qb_ld32_tail(b + 4, n - 4) << 32;
    return (int64_t)v;
}

/* Float clamp with the scalar reference's semantics (NaN passes through):
 * v < lo ? lo : v, then v > hi ? hi : v. */
QB_INLINE __m512 qb_clamp_ps(__m512 v, __m512 lo, __m512 hi)
{
    v = _mm512_max_ps(lo, v); /* lo > v ? lo : v */
    return _mm512_min_ps(hi, v); /* hi < v ? hi : v */
}

/* Requantization constants, lane-wise (see kernels.h), prepared once per
 * 16 channels: the even channels 0, 2, .., 14 in the 64-bit lanes of the
 * *_e fields, the odd ones in *_o (how vpmuludq pairs 32-bit lanes). */
typedef struct qb_rqv {
    __m512i mul_e, mul_o; /* multiplier in the low half of each 64-bit lane */
    __m512i sh_e, sh_o;   /* rshift */
    __m512i rnd_e, rnd_o; /* 2^(rshift - 1) */
    __m512i lo, hi;       /* c_min - c_zero, c_max - c_zero (int32 lanes) */
    __m512i zero;         /* c_zero (int32 lanes) */
} qb_rqv;

/* Shifts and rounding terms from the multipliers (rshift in the high half
 * of each 64-bit lane of mul_e / mul_o). */
QB_INLINE void qb_rqv_finish(qb_rqv *v)
{
    const __m512i one = _mm512_set1_epi64(1);
    v->sh_e = _mm512_srli_epi64(v->mul_e, 32);
    v->sh_o = _mm512_srli_epi64(v->mul_o, 32);
    v->rnd_e = _mm512_sllv_epi64(one, _mm512_sub_epi64(v->sh_e, one));
    v->rnd_o = _mm512_sllv_epi64(one, _mm512_sub_epi64(v->sh_o, one));
}

/* The 16 qb_requant of channels n0..n0+15 (count valid, the rest zero). */
QB_INLINE void qb_rqv_load_channels(qb_rqv *v, const qb_requant *rq, int count)
{
    __m512i r0, r1; /* channels 0..7 and 8..15, one qb_requant per 64-bit lane */
    if (count >= 16) {
        r0 = _mm512_loadu_si512((const void *)rq);
        r1 = _mm512_loadu_si512((const void *)(rq + 8));
    } else {
        int c0 = count < 8 ? count : 8, c1 = count - c0;
        r0 = _mm512_maskz_loadu_epi64((__mmask8)((1u << c0) - 1), rq);
        r1 = _mm512_maskz_loadu_epi64((__mmask8)((1u << c1) - 1), rq + 8);
    }
    v->mul_e = _mm512_permutex2var_epi64(r0, _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14), r1);
    v->mul_o = _mm512_permutex2var_epi64(r0, _mm512_setr_epi64(1, 3, 5, 7, 9, 11, 13, 15), r1);
    qb_rqv_finish(v);
}

/* One qb_requant for every lane (per-tensor). */
QB_INLINE void qb_rqv_set_tensor(qb_rqv *v, qb_requant rq)
{
    uint64_t x = (uint32_t)rq.multiplier | (uint64_t)(uint32_t)rq.rshift << 32;
    v->mul_e = v->mul_o = _mm512_set1_epi64((long long)x);
    qb_rqv_finish(v);
}

/* Zero point and saturation bounds; the multipliers start out zero. */
QB_INLINE void qb_rqv_set_range(qb_rqv *v, int32_t zero, int32_t lo, int32_t hi)
{
    v->mul_e = v->mul_o = _mm512_setzero_si512();
    qb_rqv_finish(v);
    v->zero = _mm512_set1_epi32(zero);
    v->lo = _mm512_set1_epi32((int32_t)((uint32_t)lo - (uint32_t)zero));
    v->hi = _mm512_set1_epi32((int32_t)((uint32_t)hi - (uint32_t)zero));
}

/* int32 accumulators -> requantized int32 in [c_min, c_max], exactly as
 * qb_requant_apply: r = (|acc| * multiplier + 2^(rshift-1)) >> rshift in
 * unsigned 64-bit lanes (even and odd channels apart), sign restored,
 * clamp(r, lo - zero, hi - zero) + zero. */
QB_INLINE __m512i qb_requant16(__m512i acc, const qb_rqv *v)
{
    const __m512i zero = _mm512_setzero_si512();
    __mmask16 neg = _mm512_cmpgt_epi32_mask(zero, acc);
    __m512i mag = _mm512_mask_sub_epi32(acc, neg, zero, acc); /* |acc|, 2^31 as unsigned */
    __m512i pe = _mm512_mul_epu32(mag, v->mul_e);
    __m512i po = _mm512_mul_epu32(_mm512_srli_epi64(mag, 32), v->mul_o);
    pe = _mm512_srlv_epi64(_mm512_add_epi64(pe, v->rnd_e), v->sh_e); /* < 2^31: high half zero */
    po = _mm512_srlv_epi64(_mm512_add_epi64(po, v->rnd_o), v->sh_o);
    __m512i r = _mm512_or_si512(pe, _mm512_slli_epi64(po, 32));
    r = _mm512_mask_sub_epi32(r, neg, zero, r);
    r = _mm512_max_epi32(r, v->lo);
    r = _mm512_min_epi32(r, v->hi);
    return _mm512_add_epi32(r, v->zero);
}

/* The same requantization, cheaper, for multipliers that allow it. A
 * multiplier m with rshift s is reduced to an odd m' = m >> v, s' = s - v
 * (the same real value, so the same rounding). When s' >= 33, rounding
 * half away from zero is
 *   r = (hi32(acc * m') + 2^(s'-33)) >> (s' - 32)   (signed, arithmetic)
 * because that is floor((acc m' + 2^(s'-1) - [acc < 0]) / 2^s') as long as
 * the low 32 bits of acc * m' are not all zero for a negative acc, and
 * with m' odd they are zero only for acc = 0. */
typedef struct qb_rqf {
    __m512i m_e, m_o; /* m' of the even / odd lanes, in the low dword of each 64-bit lane */
    __m512i rnd;      /* 2^(s'-33) (int32 lanes) */
    __m512i sh;       /* s' - 32 */
} qb_rqf;

/* The reduced multiplier (qb_rqf_reduce, QB_RQF_ZERO_MAX): kernels/rqf.h,
 * shared with the AVX2 kernels; nonzero when s' >= 33. */

/* Constants of lanes 0..15 from rq[0], rq[step], .. (n valid; step 0:
 * per tensor) for output zero points up to zmax (qb_rqf_reduce_z). Returns
 * 1 when every valid lane qualifies, else 0 (f unset). */
QB_INLINE int qb_rqf_set_z(qb_rqf *f, const qb_requant *rq, int n, int step, int32_t zmax)
{
    int32_t me[16] = {0}, mo[16] = {0}, rnd[16], sh[16];
    for (int i = 0; i < 16; i++) {
        uint32_t m = 1;
        int s = 33;
        if (i < n && !qb_rqf_reduce_z(rq[i * step], zmax, &m, &s))
            return 0;
        if (i & 1)
            mo[i - 1] = (int32_t)m;
        else
            me[i] = (int32_t)m;
        rnd[i] = 1 << (s - 33);
        sh[i] = s - 32;
    }
    f->m_e = _mm512_loadu_si512((const void *)me);
    f->m_o = _mm512_loadu_si512((const void *)mo);
    f->rnd = _mm512_loadu_si512((const void *)rnd);
    f->sh = _mm512_loadu_si512((const void *)sh);
    return 1;
}

/* qb_rqf_set_z for any zero point within QB_RQF_ZERO_MAX. */
QB_INLINE int qb_rqf_set(qb_rqf *f, const qb_requant *rq, int n, int step)
{
    return qb_rqf_set_z(f, rq, n, step, QB_RQF_ZERO_MAX);
}

/* The rounded r of each lane (before zero point and clamp). */
QB_INLINE __m512i qb_rqf_round(__m512i acc, __m512i m_e, __m512i m_o, __m512i rnd, __m512i sh)
{
    __m512i pe = _mm512_mul_epi32(acc, m_e);
    __m512i po = _mm512_mul_epi32(_mm512_srli_epi64(acc, 32), m_o);
    __m512i hi = QB_MASK_SWAP_EPI32(po, (__mmask16)0x5555, pe); /* the high halves, in lane order */
    return _mm512_srav_epi32(_mm512_add_epi32(hi, rnd), sh);
}

/* qb_requant16 through the constants of qb_rqf_set: clamp(r, lo - zero,
 * hi - zero) + zero with lo, hi, zero from v. */
QB_INLINE __m512i qb_requant16_fast(__m512i acc, const qb_rqf *f, const qb_rqv *v)
{
    __m512i r = qb_rqf_round(acc, f->m_e, f->m_o, f->rnd, f->sh);
    r = _mm512_max_epi32(r, v->lo);
    r = _mm512_min_epi32(r, v->hi);
    return _mm512_add_epi32(r, v->zero);
}

/* Requantized int32 (already in int8 range) stored as n int8. */
QB_INLINE void qb_store_i8x16(int8_t *dst, __m512i r, int n)
{
    __m128i b = _mm512_cvtsepi32_epi8(r);
    if (n >= 16)
        _mm_storeu_si128((__m128i *)dst, b);
    else
        _mm_mask_storeu_epi8(dst, qb_mask16(n), b);
}

#endif
