/*
 * q16_avx512.h - QuantizeLinear of 16 floats into int8 [-128, 127] in
 * one AVX-512 register: the steps of kernels/quantize.h's
 * qb_quantize_rne in its order (x / scale, NaN to 0, limit to [-256,
 * 256], round half to even, + zero, clamp), so the codes of
 * qb_quantize_i8. Shared by the int8-writing NHWC operators (nhwc_ops.c)
 * and the quantized image of the first layer (qlayer.c).
 */
#ifndef QB_Q16_AVX512_H
#define QB_Q16_AVX512_H

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
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
#endif

#endif
