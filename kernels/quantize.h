/*
 * quantize.h - ONNX QuantizeLinear / DequantizeLinear between float32 and
 * 8-bit integers (kernels/quantize.c): the one implementation behind the
 * activations of quantized layers (harness/graph/qlayer.c), the int8
 * MaxPool table (harness/graph/nhwc_ops.c), the QuantizeLinear,
 * DequantizeLinear and DynamicQuantizeLinear operators
 * (harness/graph/ops_quant.c) and the quantization arithmetic of
 * harness/qmath/ (activation qparams, fake quantization, weight
 * quantizers).
 *
 *   quantize:    q = clamp(rne(x / scale) + zero, lo, hi)
 *                x / scale in float32, rne = round half to even, NaN -> 0
 *                (so NaN gives the zero point), +-Inf saturate
 *   dequantize:  y = (float)(q - zero) * scale, in float32
 *
 * The __scalar functions are the reference; the others (SSE2 on x86-64,
 * NEON on AArch64, the reference elsewhere) are bit-identical to them
 * (tests/test_quantize.c). int8: -128 <= lo <= hi <= 127; uint8: the range
 * is [0, 255] and zero is in it. scale > 0 and finite is what callers
 * pass; any other scale still gives a defined result (x / 0 = +-Inf
 * saturates, 0 / 0 = NaN gives the zero point).
 */
#ifndef QB_QUANTIZE_H
#define QB_QUANTIZE_H

#include <stddef.h>
#include <stdint.h>

/* Round half to even of |v| <= 2^22 in the default rounding mode: adding
 * and subtracting 1.5 * 2^23 leaves the integer nearest v, ties to even
 * (needs float arithmetic without reassociation: no -ffast-math). */
#define QB_RNE_MAGIC 12582912.0f

/* rne(x / scale) with x / scale first limited to [-256, 256] (NaN -> 0):
 * the limit keeps the magic-number rounding exact and changes nothing
 * after saturation to 8 bits (|zero| <= 255). */
static inline int32_t qb_quantize_rne(float x, float scale)
{
    float v = x / scale;
    if (v != v)
        v = 0.0f;
    v = v < -256.0f ? -256.0f : v > 256.0f ? 256.0f : v;
    return (int32_t)((v + QB_RNE_MAGIC) - QB_RNE_MAGIC);
}

/* One value to int8 in [lo, hi]. Inline: per-value callers (fake
 * quantization in training) stay fast. */
static inline int8_t qb_quantize1_i8(float x, float scale, int32_t zero, int32_t lo, int32_t hi)
{
    int32_t r = qb_quantize_rne(x, scale) + zero;
    return (int8_t)(r > hi ? hi : r < lo ? lo : r);
}

/* n floats to int8 in [lo, hi]. */
void qb_quantize_i8__scalar(const float *x, size_t n, float scale, int32_t zero, int32_t lo, int32_t hi, int8_t *q);
void qb_quantize_i8(const float *x, size_t n, float scale, int32_t zero, int32_t lo, int32_t hi, int8_t *q);
/* n floats to uint8 in [0, 255], zero in [0, 255]. */
void qb_quantize_u8__scalar(const float *x, size_t n, float scale, int32_t zero, uint8_t *q);
void qb_quantize_u8(const float *x, size_t n, float scale, int32_t zero, uint8_t *q);
/* n int8 / uint8 codes to floats. */
void qb_dequantize_i8__scalar(const int8_t *q, size_t n, float scale, int32_t zero, float *y);
void qb_dequantize_i8(const int8_t *q, size_t n, float scale, int32_t zero, float *y);
void qb_dequantize_u8__scalar(const uint8_t *q, size_t n, float scale, int32_t zero, float *y);
void qb_dequantize_u8(const uint8_t *q, size_t n, float scale, int32_t zero, float *y);

#endif
