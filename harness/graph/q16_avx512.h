/*
 * q16_avx512.h - QuantizeLinear of 16 floats into int8 [-128, 127] in
 * one AVX-512 register: the steps of kernels/quantize.h's
 * qb_quantize_rne in its order (x / scale, NaN to 0, limit to [-256,
 * 256], round half to even, + zero, clamp), so the codes of
 * qb_quantize_i8; and the 16 x 16 transposes of such registers, bytes
 * (16 registers of one channel's 16 pixels each into 16 pixels' codes)
 * and floats. Shared by the NHWC operators (nhwc_ops.c), the quantized
 * images of int8 layers (qlayer.c) and the means of planes
 * (ops_pool_global.c).
 */
#ifndef QB_Q16_AVX512_H
#define QB_Q16_AVX512_H

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#include <stdint.h>
#define QB_Q16_AVX512 1

/* The rounding is the conversion's own (vcvtps2dq in the default
 * round-to-nearest-even mode, which the magic-number rounding of the
 * reference assumes too: the same integer for |f| <= 256) and the clamp
 * the signed saturation of vpmovsdb. */
__attribute__((target("avx512f,avx512bw,avx512vl"))) static inline __m128i qb_quantize16_avx512(__m512 x, __m512 sc,
                                                                                              __m512i zp)
{
    __m512 f = _mm512_div_ps(x, sc);
    __mmask16 ok = _mm512_cmp_ps_mask(f, f, _CMP_ORD_Q);
    f = _mm512_maskz_mov_ps(ok, _mm512_min_ps(_mm512_max_ps(f, _mm512_set1_ps(-256.0f)), _mm512_set1_ps(256.0f)));
    return _mm512_cvtsepi32_epi8(_mm512_add_epi32(_mm512_cvtps_epi32(f), zp));
}

/* qb_quantize16_avx512 with AVX-512DQ: the limit to [-256, 256] as one
 * vrangeps (imm 0x02: the smaller magnitude of f and 256 with f's sign;
 * infinities to +-256), NaN lanes zeroed by the ordered
 * mask as before: one instruction fewer. The same codes: checked against
 * qb_quantize16_avx512 for all 2^32 quotients f and seven zero points
 * (2026-12-04), and test_quantize16_dq (tests/test_fuse.c) against
 * qb_quantize_i8. */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"), always_inline)) static inline __m128i
qb_quantize16_dq(__m512 x, __m512 sc, __m512i zp)
{
    __m512 f = _mm512_div_ps(x, sc);
    f = _mm512_maskz_range_ps(_mm512_cmp_ps_mask(f, f, _CMP_ORD_Q), f, _mm512_set1_ps(256.0f), 0x02);
    return _mm512_cvtsepi32_epi8(_mm512_add_epi32(_mm512_cvtps_epi32(f), zp));
}

/* qb_quantize16_dq for a caller that knows no quotient x / scale is NaN
 * (finite operands, a finite nonzero scale: see rse_px_q8_body): without
 * the ordered compare and its mask (on a NaN lane the code would be -128,
 * not the zero point). On this CPU the compare and the masked range cost
 * about as much as three other operations of the loop. */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"), always_inline)) static inline __m128i
qb_quantize16_fin(__m512 x, __m512 sc, __m512i zp)
{
    const __m512 f = _mm512_range_ps(_mm512_div_ps(x, sc), _mm512_set1_ps(256.0f), 0x02);
    return _mm512_cvtsepi32_epi8(_mm512_add_epi32(_mm512_cvtps_epi32(f), zp));
}

/* The mask of the first min(left, 16) of 16 lanes (0 when left <= 0). */
static inline __mmask16 qb_lanes16(int64_t left)
{
    return left >= 16 ? (__mmask16)0xffff : left > 0 ? (__mmask16)((1u << left) - 1) : 0;
}

/* r[i] (16 bytes each) transposed in place: byte k of row i to byte i of
 * row k (four rounds of unpacks). */
__attribute__((target("avx512f,avx512bw,avx512vl"), always_inline)) static inline void qb_transpose16_i8(__m128i r[16])
{
    __m128i a[16], b[16];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) { /* a[h + i], h = 0, 8: rows 2i, 2i + 1 of columns h..h+7, as 16-bit pairs */
        a[i] = _mm_unpacklo_epi8(r[2 * i], r[2 * i + 1]);
        a[i + 8] = _mm_unpackhi_epi8(r[2 * i], r[2 * i + 1]);
    }
#pragma GCC unroll 2
    for (int h = 0; h < 16; h += 8) /* b[4q + j]: rows 4j..4j+3 of columns 4q..4q+3, as 32-bit quads */
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            b[h + j] = _mm_unpacklo_epi16(a[h + 2 * j], a[h + 2 * j + 1]);
            b[h + 4 + j] = _mm_unpackhi_epi16(a[h + 2 * j], a[h + 2 * j + 1]);
        }
#pragma GCC unroll 4
    for (int q = 0; q < 4; q++) { /* rows 0-7 and 8-15 of two columns as 64-bit halves, then one column each */
        __m128i lo0 = _mm_unpacklo_epi32(b[4 * q], b[4 * q + 1]), hi0 = _mm_unpackhi_epi32(b[4 * q], b[4 * q + 1]);
        __m128i lo1 = _mm_unpacklo_epi32(b[4 * q + 2], b[4 * q + 3]);
        __m128i hi1 = _mm_unpackhi_epi32(b[4 * q + 2], b[4 * q + 3]);
        r[4 * q] = _mm_unpacklo_epi64(lo0, lo1);
        r[4 * q + 1] = _mm_unpackhi_epi64(lo0, lo1);
        r[4 * q + 2] = _mm_unpacklo_epi64(hi0, hi1);
        r[4 * q + 3] = _mm_unpackhi_epi64(hi0, hi1);
    }
}

/* 16 x 16 floats transposed in place: value k of r[i] to value i of r[k]
 * (unpacks, then shuffles of pairs and of 128-bit lanes). */
__attribute__((target("avx512f"), always_inline)) static inline void qb_transpose16_f32(__m512 r[16])
{
    __m512 t[16];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) { /* t[2i], t[2i + 1]: rows 2i, 2i + 1 interleaved, low and high pairs of each lane */
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) { /* r[4i + j]: rows 4i..4i + 3, column j of each 128-bit lane */
        r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xee);
        r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xee);
    }
#pragma GCC unroll 2
    for (int h = 0; h < 16; h += 8) /* t: rows h..h + 7, lanes 0 and 2 (0x88) or 1 and 3 (0xdd) */
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            t[h + j] = _mm512_shuffle_f32x4(r[h + j], r[h + 4 + j], 0x88);
            t[h + 4 + j] = _mm512_shuffle_f32x4(r[h + j], r[h + 4 + j], 0xdd);
        }
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++) { /* all 16 rows: columns j and 8 + j */
        r[j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0x88);
        r[8 + j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0xdd);
    }
}
#endif

#endif
