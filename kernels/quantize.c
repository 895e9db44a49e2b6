/*
 * quantize.c - ONNX QuantizeLinear / DequantizeLinear between float32 and
 * int8 / uint8 (kernels/quantize.h): the scalar reference, and loops of
 * 16 (quantize) or 8 (dequantize) values in SSE2 on x86-64 and NEON on
 * AArch64, bit-identical to it (tests/test_quantize.c; the NEON loops run
 * under qemu in `make test-arm`). Both instruction sets are part of their
 * architecture's baseline; int8 quantization and dequantization go
 * through AVX-512 (kernels/vnni/quantize_i8.c: blocks of 16, the last one
 * masked; the same bits) where the CPU has AVX-512F/BW. Every caller in qbench quantizes and
 * dequantizes through these functions.
 */
#include "kernels/quantize.h"
#include "kernels/kernels.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#elif defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>
#endif

/* ---- the reference ---- */

void qb_quantize_i8__scalar(const float *x, size_t n, float scale, int32_t zero, int32_t lo, int32_t hi, int8_t *q)
{
    for (size_t i = 0; i < n; i++)
        q[i] = qb_quantize1_i8(x[i], scale, zero, lo, hi);
}

void qb_quantize_u8__scalar(const float *x, size_t n, float scale, int32_t zero, uint8_t *q)
{
    for (size_t i = 0; i < n; i++) {
        int32_t r = qb_quantize_rne(x[i], scale) + zero;
        q[i] = (uint8_t)(r > 255 ? 255 : r < 0 ? 0 : r);
    }
}

void qb_dequantize_i8__scalar(const int8_t *q, size_t n, float scale, int32_t zero, float *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = (float)((int32_t)q[i] - zero) * scale;
}

void qb_dequantize_u8__scalar(const uint8_t *q, size_t n, float scale, int32_t zero, float *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = (float)((int32_t)q[i] - zero) * scale;
}

/* ---- x86-64: SSE2 ---- */
#if defined(__SSE2__)

/* rne(x / scale) + zero of 16 values as two vectors of 8 int16 (the sums
 * lie in [-256 + zero, 256 + zero], well inside int16): the steps of
 * qb_quantize_rne, four lanes at a time. */
static inline void rne16(const float *x, __m128 sc, __m128i zp, __m128i *a, __m128i *b)
{
    const __m128 lim_lo = _mm_set1_ps(-256.0f), lim_hi = _mm_set1_ps(256.0f), mg = _mm_set1_ps(QB_RNE_MAGIC);
    __m128i v[4];
    for (int t = 0; t < 4; t++) {
        __m128 f = _mm_div_ps(_mm_loadu_ps(x + 4 * t), sc);
        __m128 ok = _mm_cmpord_ps(f, f); /* NaN -> 0 */
        f = _mm_and_ps(_mm_min_ps(_mm_max_ps(f, lim_lo), lim_hi), ok);
        f = _mm_sub_ps(_mm_add_ps(f, mg), mg);
        v[t] = _mm_add_epi32(_mm_cvttps_epi32(f), zp); /* f is integral: truncation is exact */
    }
    *a = _mm_packs_epi32(v[0], v[1]);
    *b = _mm_packs_epi32(v[2], v[3]);
}

/* kernels/vnni/quantize_i8.c: every value (the last block masked), returns how many it did */
size_t qb_quantize_i8__avx512(const float *x, size_t n, float scale, int32_t zero, int32_t lo, int32_t hi, int8_t *q);

void qb_quantize_i8(const float *x, size_t n, float scale, int32_t zero, int32_t lo, int32_t hi, int8_t *q)
{
    static int avx512 = -1; /* AVX-512F/BW usable under the ISA cap (QB_FORCE_ISA): 4 times the lanes of SSE2, same bits */
    if (avx512 < 0)
        avx512 = qb_avx512_allowed(QB_CPU_AVX512F | QB_CPU_AVX512BW);
    if (avx512 && n > 0) {
        size_t done = qb_quantize_i8__avx512(x, n, scale, zero, lo, hi, q);
        x += done, q += done, n -= done;
    }
    const __m128 sc = _mm_set1_ps(scale);
    const __m128i zp = _mm_set1_epi32(zero), vlo = _mm_set1_epi16((int16_t)lo), vhi = _mm_set1_epi16((int16_t)hi);
    size_t j = 0;
    for (; j + 16 <= n; j += 16) {
        __m128i a, b;
        rne16(x + j, sc, zp, &a, &b);
        a = _mm_min_epi16(_mm_max_epi16(a, vlo), vhi);
        b = _mm_min_epi16(_mm_max_epi16(b, vlo), vhi);
        _mm_storeu_si128((__m128i *)(q + j), _mm_packs_epi16(a, b));
    }
    qb_quantize_i8__scalar(x + j, n - j, scale, zero, lo, hi, q + j);
}

void qb_quantize_u8(const float *x, size_t n, float scale, int32_t zero, uint8_t *q)
{
    const __m128 sc = _mm_set1_ps(scale);
    const __m128i zp = _mm_set1_epi32(zero);
    size_t j = 0;
    for (; j + 16 <= n; j += 16) {
        __m128i a, b;
        rne16(x + j, sc, zp, &a, &b);
        _mm_storeu_si128((__m128i *)(q + j), _mm_packus_epi16(a, b)); /* saturates to [0, 255] */
    }
    qb_quantize_u8__scalar(x + j, n - j, scale, zero, q + j);
}

/* (float)(c - zero) * scale of 8 codes already widened to int16. */
static inline void dequant8(__m128i h, __m128 sc, __m128i zp, float *y)
{
    __m128i lo = _mm_srai_epi32(_mm_unpacklo_epi16(h, h), 16), hi = _mm_srai_epi32(_mm_unpackhi_epi16(h, h), 16);
    _mm_storeu_ps(y, _mm_mul_ps(_mm_cvtepi32_ps(_mm_sub_epi32(lo, zp)), sc));
    _mm_storeu_ps(y + 4, _mm_mul_ps(_mm_cvtepi32_ps(_mm_sub_epi32(hi, zp)), sc));
}

/* kernels/vnni/quantize_i8.c: every value (the last block masked), returns how many it did */
size_t qb_dequantize_i8__avx512(const int8_t *q, size_t n, float scale, int32_t zero, float *y);

void qb_dequantize_i8(const int8_t *q, size_t n, float scale, int32_t zero, float *y)
{
    static int avx512 = -1; /* AVX-512F/BW usable under the ISA cap (QB_FORCE_ISA): twice the lanes of the SSE2 loop, same bits */
    if (avx512 < 0)
        avx512 = qb_avx512_allowed(QB_CPU_AVX512F | QB_CPU_AVX512BW);
    if (avx512 && n > 0) {
        size_t done = qb_dequantize_i8__avx512(q, n, scale, zero, y);
        q += done, y += done, n -= done;
    }
    const __m128 sc = _mm_set1_ps(scale);
    const __m128i zp = _mm_set1_epi32(zero);
    size_t j = 0;
    for (; j + 8 <= n; j += 8) {
        __m128i b = _mm_loadl_epi64((const __m128i *)(q + j));
        dequant8(_mm_srai_epi16(_mm_unpacklo_epi8(b, b), 8), sc, zp, y + j); /* sign-extended */
    }
    qb_dequantize_i8__scalar(q + j, n - j, scale, zero, y + j);
}

void qb_dequantize_u8(const uint8_t *q, size_t n, float scale, int32_t zero, float *y)
{
    const __m128 sc = _mm_set1_ps(scale);
    const __m128i zp = _mm_set1_epi32(zero);
    size_t j = 0;
    for (; j + 8 <= n; j += 8) {
        __m128i b = _mm_loadl_epi64((const __m128i *)(q + j));
        dequant8(_mm_unpacklo_epi8(b, _mm_setzero_si128()), sc, zp, y + j); /* zero-extended */
    }
    qb_dequantize_u8__scalar(q + j, n - j, scale, zero, y + j);
}

/* ---- AArch64: NEON ---- */
#elif defined(__aarch64__) && defined(__ARM_NEON)

/* rne(x / scale) + zero of 16 values as two vectors of 8 int16: the steps
 * of qb_quantize_rne (vcvtnq rounds half to even itself). */
static inline void rne16(const float *x, float32x4_t sc, int32x4_t zp, int16x8_t *a, int16x8_t *b)
{
    const float32x4_t lim_lo = vdupq_n_f32(-256.0f), lim_hi = vdupq_n_f32(256.0f);
    int32x4_t v[4];
    for (int t = 0; t < 4; t++) {
        float32x4_t f = vdivq_f32(vld1q_f32(x + 4 * t), sc);
        uint32x4_t ok = vceqq_f32(f, f); /* NaN -> 0 */
        f = vminq_f32(vmaxq_f32(f, lim_lo), lim_hi);
        f = vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(f), ok));
        v[t] = vaddq_s32(vcvtnq_s32_f32(f), zp);
    }
    *a = vcombine_s16(vqmovn_s32(v[0]), vqmovn_s32(v[1]));
    *b = vcombine_s16(vqmovn_s32(v[2]), vqmovn_s32(v[3]));
}

void qb_quantize_i8(const float *x, size_t n, float scale, int32_t zero, int32_t lo, int32_t hi, int8_t *q)
{
    const float32x4_t sc = vdupq_n_f32(scale);
    const int32x4_t zp = vdupq_n_s32(zero);
    const int16x8_t vlo = vdupq_n_s16((int16_t)lo), vhi = vdupq_n_s16((int16_t)hi);
    size_t j = 0;
    for (; j + 16 <= n; j += 16) {
        int16x8_t a, b;
        rne16(x + j, sc, zp, &a, &b);
        a = vminq_s16(vmaxq_s16(a, vlo), vhi);
        b = vminq_s16(vmaxq_s16(b, vlo), vhi);
        vst1q_s8(q + j, vcombine_s8(vqmovn_s16(a), vqmovn_s16(b)));
    }
    qb_quantize_i8__scalar(x + j, n - j, scale, zero, lo, hi, q + j);
}

void qb_quantize_u8(const float *x, size_t n, float scale, int32_t zero, uint8_t *q)
{
    const float32x4_t sc = vdupq_n_f32(scale);
    const int32x4_t zp = vdupq_n_s32(zero);
    size_t j = 0;
    for (; j + 16 <= n; j += 16) {
        int16x8_t a, b;
        rne16(x + j, sc, zp, &a, &b);
        vst1q_u8(q + j, vcombine_u8(vqmovun_s16(a), vqmovun_s16(b))); /* saturates to [0, 255] */
    }
    qb_quantize_u8__scalar(x + j, n - j, scale, zero, q + j);
}

/* (float)(c - zero) * scale of 8 codes already widened to int16. */
static inline void dequant8(int16x8_t h, float32x4_t sc, int32x4_t zp, float *y)
{
    int32x4_t lo = vsubq_s32(vmovl_s16(vget_low_s16(h)), zp), hi = vsubq_s32(vmovl_s16(vget_high_s16(h)), zp);
    vst1q_f32(y, vmulq_f32(vcvtq_f32_s32(lo), sc));
    vst1q_f32(y + 4, vmulq_f32(vcvtq_f32_s32(hi), sc));
}

void qb_dequantize_i8(const int8_t *q, size_t n, float scale, int32_t zero, float *y)
{
    const float32x4_t sc = vdupq_n_f32(scale);
    const int32x4_t zp = vdupq_n_s32(zero);
    size_t j = 0;
    for (; j + 8 <= n; j += 8)
        dequant8(vmovl_s8(vld1_s8(q + j)), sc, zp, y + j);
    qb_dequantize_i8__scalar(q + j, n - j, scale, zero, y + j);
}

void qb_dequantize_u8(const uint8_t *q, size_t n, float scale, int32_t zero, float *y)
{
    const float32x4_t sc = vdupq_n_f32(scale);
    const int32x4_t zp = vdupq_n_s32(zero);
    size_t j = 0;
    for (; j + 8 <= n; j += 8)
        dequant8(vreinterpretq_s16_u16(vmovl_u8(vld1_u8(q + j))), sc, zp, y + j);
    qb_dequantize_u8__scalar(q + j, n - j, scale, zero, y + j);
}

/* ---- elsewhere: the reference ---- */
#else

void qb_quantize_i8(const float *x, size_t n, float scale, int32_t zero, int32_t lo, int32_t hi, int8_t *q)
{
    qb_quantize_i8__scalar(x, n, scale, zero, lo, hi, q);
}

void qb_quantize_u8(const float *x, size_t n, float scale, int32_t zero, uint8_t *q)
{
    qb_quantize_u8__scalar(x, n, scale, zero, q);
}

void qb_dequantize_i8(const int8_t *q, size_t n, float scale, int32_t zero, float *y)
{
    qb_dequantize_i8__scalar(q, n, scale, zero, y);
}

void qb_dequantize_u8(const uint8_t *q, size_t n, float scale, int32_t zero, float *y)
{
    qb_dequantize_u8__scalar(q, n, scale, zero, y);
}

#endif
