/*
 * q8_avx2.h - q16_avx512.h's register helpers for CPUs without AVX-512
 * (and QB_FORCE_ISA=avx2), 8 lanes wide: QuantizeLinear of 8 floats into
 * int8 [-128, 127] (the steps of kernels/quantize.h's qb_quantize_rne in
 * its order, so the codes of qb_quantize_i8 and of qb_quantize16_avx512),
 * the 8 x 8 float transpose and the 8 x 8 byte transpose. Shared by the
 * NHWC operators' AVX2 loops (nhwc_ops.c).
 */
#ifndef QB_Q8_AVX2_H
#define QB_Q8_AVX2_H

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#include <stdint.h>
#include <string.h>
#define QB_Q8_AVX2 1

/* 8 codes in the low 8 bytes: x / scale, NaN to 0 (max gives its second
 * operand for a NaN, the AND then zeroes it), limited to [-256, 256],
 * rounded by the conversion (round to nearest even, as the reference's
 * magic number), + zero, then the signed saturations 32 -> 16 -> 8 bits
 * (together the one clamp of vpmovsdb). */
__attribute__((target("avx2"), always_inline)) static inline __m128i qb_quantize8_avx2(__m256 x, __m256 sc, __m256i zp)
{
    __m256 f = _mm256_div_ps(x, sc);
    const __m256 ok = _mm256_cmp_ps(f, f, _CMP_ORD_Q);
    f = _mm256_and_ps(ok, _mm256_min_ps(_mm256_max_ps(f, _mm256_set1_ps(-256.0f)), _mm256_set1_ps(256.0f)));
    const __m256i v = _mm256_add_epi32(_mm256_cvtps_epi32(f), zp);
    const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    return _mm_packs_epi16(w, w);
}

/* qb_quantize8_avx2 for a caller that knows no quotient x / scale is NaN
 * (rse_px_q8_body8, rse_q8_avx2): without the ordered compare and the AND
 * (all ones on such lanes), the same codes. */
__attribute__((target("avx2"), always_inline)) static inline __m128i qb_quantize8_fin_avx2(__m256 x, __m256 sc,
                                                                                          __m256i zp)
{
    const __m256 f = _mm256_min_ps(_mm256_max_ps(_mm256_div_ps(x, sc), _mm256_set1_ps(-256.0f)), _mm256_set1_ps(256.0f));
    const __m256i v = _mm256_add_epi32(_mm256_cvtps_epi32(f), zp);
    const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    return _mm_packs_epi16(w, w);
}

/* Nonzero when a lane of acc is NaN: acc the sum of v - v over vectors v
 * (0 for finite lanes, NaN for infinite or NaN ones, and a NaN stays). */
__attribute__((target("avx2"), always_inline)) static inline int qb_nonfinite8(__m256 acc)
{
    return _mm256_movemask_ps(_mm256_cmp_ps(acc, acc, _CMP_UNORD_Q)) != 0;
}

/* The mask vector (all ones per lane) of the first min(left, 8) of 8
 * lanes, for maskload / maskstore (none when left <= 0). */
__attribute__((target("avx2"), always_inline)) static inline __m256i qb_lanes8(int64_t left)
{
    const int n = left >= 8 ? 8 : left > 0 ? (int)left : 0;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* n <= 8 int8 codes at p into the low bytes (the rest zero). */
__attribute__((target("avx2"), always_inline)) static inline __m128i qb_load8_i8(const int8_t *p, int n)
{
    if (n == 8)
        return _mm_loadl_epi64((const __m128i *)(const void *)p);
    int64_t v = 0;
    memcpy(&v, p, (size_t)(n & 7)); /* (n < 8 here; the mask tells the compiler) */
    return _mm_cvtsi64_si128(v);
}

/* The low n <= 8 bytes of v to p. */
__attribute__((target("avx2"), always_inline)) static inline void qb_store8_i8(int8_t *p, __m128i v, int n)
{
    if (n == 8) {
        _mm_storel_epi64((__m128i *)(void *)p, v);
        return;
    }
    int64_t b = _mm_cvtsi128_si64(v);
    memcpy(p, &b, (size_t)(n & 7));
}

/* 8 x 8 floats transposed in place: value k of r[i] to value i of r[k]. */
__attribute__((target("avx2"), always_inline)) static inline void qb_transpose8_f32(__m256 r[8])
{
    __m256 t[8], u[8];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
#pragma GCC unroll 2
    for (int i = 0; i < 2; i++) { /* rows 4i..4i + 3, column j of each 128-bit lane */
        u[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xee);
        u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xee);
    }
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
        r[j] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x20);
        r[4 + j] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x31);
    }
}

/* 8 x 8 bytes (the low 8 bytes of r[i], row i) transposed: o[k] holds
 * column 2k in its low and column 2k + 1 in its high 8 bytes. */
__attribute__((target("avx2"), always_inline)) static inline void qb_transpose8_i8(const __m128i r[8], __m128i o[4])
{
    const __m128i a0 = _mm_unpacklo_epi8(r[0], r[1]), a1 = _mm_unpacklo_epi8(r[2], r[3]);
    const __m128i a2 = _mm_unpacklo_epi8(r[4], r[5]), a3 = _mm_unpacklo_epi8(r[6], r[7]);
    const __m128i b0 = _mm_unpacklo_epi16(a0, a1), b1 = _mm_unpackhi_epi16(a0, a1); /* rows 0-3: columns 0-3, 4-7 */
    const __m128i b2 = _mm_unpacklo_epi16(a2, a3), b3 = _mm_unpackhi_epi16(a2, a3); /* rows 4-7 */
    o[0] = _mm_unpacklo_epi32(b0, b2), o[1] = _mm_unpackhi_epi32(b0, b2);
    o[2] = _mm_unpacklo_epi32(b1, b3), o[3] = _mm_unpackhi_epi32(b1, b3);
}
#endif

#endif
