/*
 * quantize_i8.c - QuantizeLinear of floats to int8 with AVX-512 (16 values
 * per step), for kernels/quantize.c's qb_quantize_i8 on CPUs with
 * AVX-512F/BW: the steps of qb_quantize_rne in the same order (x / scale,
 * NaN to 0, limit to [-256, 256], round half to even by the magic number,
 * + zero, clamp to [lo, hi]), so bit-identical to the scalar reference
 * (tests/test_quantize.c); and DequantizeLinear of int8 codes for
 * qb_dequantize_i8, (float)(q - zero) * scale per lane as the reference.
 * Blocks of 16, the last one on masked lanes (rows of a few dozen values,
 * e.g. a 28-pixel image row, no longer end in the scalar loop). Not part of the SIMDe test build (SIMDe 0.7.4 lacks
 * _mm512_cvttps_epi32 and _mm512_cvtepi32_epi8): its test is
 * tests/test_quantize.c on the machine's own AVX-512.
 */
#include "kernels/vnni/vnni.h"

#ifndef QB_SIMDE

size_t QB_VNNI(qb_quantize_i8__avx512)(const float *x, size_t n, float scale, int32_t zero, int32_t lo, int32_t hi,
                                       int8_t *q)
{
    const __m512 sc = _mm512_set1_ps(scale), lim_lo = _mm512_set1_ps(-256.0f), lim_hi = _mm512_set1_ps(256.0f);
    const __m512 mg = _mm512_set1_ps(12582912.0f); /* QB_RNE_MAGIC */
    const __m512i zp = _mm512_set1_epi32(zero), vlo = _mm512_set1_epi32(lo), vhi = _mm512_set1_epi32(hi);
    size_t j = 0;
    for (; j + 16 <= n; j += 16) {
        __m512 f = _mm512_div_ps(_mm512_loadu_ps(x + j), sc);
        __mmask16 ok = _mm512_cmp_ps_mask(f, f, _CMP_ORD_Q); /* NaN -> 0 */
        f = _mm512_maskz_mov_ps(ok, _mm512_min_ps(_mm512_max_ps(f, lim_lo), lim_hi));
        f = _mm512_sub_ps(_mm512_add_ps(f, mg), mg);
        __m512i v = _mm512_add_epi32(_mm512_cvttps_epi32(f), zp); /* f is integral: truncation is exact */
        v = _mm512_min_epi32(_mm512_max_epi32(v, vlo), vhi);
        _mm_storeu_si128((__m128i *)(q + j), _mm512_cvtepi32_epi8(v)); /* in [-128, 127]: exact */
    }
    if (j < n) { /* the last n - j < 16 values: the same steps on masked lanes */
        __mmask16 m = (__mmask16)((1u << (n - j)) - 1);
        __m512 f = _mm512_div_ps(_mm512_maskz_loadu_ps(m, x + j), sc);
        __mmask16 ok = _mm512_cmp_ps_mask(f, f, _CMP_ORD_Q);
        f = _mm512_maskz_mov_ps(ok, _mm512_min_ps(_mm512_max_ps(f, lim_lo), lim_hi));
        f = _mm512_sub_ps(_mm512_add_ps(f, mg), mg);
        __m512i v = _mm512_add_epi32(_mm512_cvttps_epi32(f), zp);
        v = _mm512_min_epi32(_mm512_max_epi32(v, vlo), vhi);
        _mm512_mask_cvtepi32_storeu_epi8(q + j, m, v);
        j = n;
    }
    return j;
}

size_t QB_VNNI(qb_dequantize_i8__avx512)(const int8_t *q, size_t n, float scale, int32_t zero, float *y)
{
    const __m512 sc = _mm512_set1_ps(scale);
    const __m512i zp = _mm512_set1_epi32(zero);
    size_t j = 0;
    for (; j + 16 <= n; j += 16) {
        __m512i v = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(q + j))); /* sign-extended */
        _mm512_storeu_ps(y + j, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(v, zp)), sc));
    }
    if (j < n) { /* the last n - j < 16 codes on masked lanes */
        __mmask16 m = (__mmask16)((1u << (n - j)) - 1);
        __m512i v = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, q + j));
        _mm512_mask_storeu_ps(y + j, m, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(v, zp)), sc));
        j = n;
    }
    return j;
}
#endif
