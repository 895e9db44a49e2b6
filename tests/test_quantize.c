/*
 * test_quantize.c - ONNX QuantizeLinear / DequantizeLinear of
 * kernels/quantize.c: the scalar reference on hand-computed cases (round
 * half to even, saturation, NaN, infinities, narrow ranges, uint8) and
 * against libm's nearbyintf on many values; the SIMD loops (SSE2 on
 * x86-64, NEON on AArch64 under `make test-arm`) bit-exact against the
 * reference for every length 0..80 at offsets 0..3, with poisoned output
 * buffers whose bytes outside the written range must stay untouched.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "kernels/quantize.h"

/* Hand-computed: scale 0.5, zero 3: x / 0.5 = 2x, ties to even. */
static void quantize_reference_cases(void **state)
{
    (void)state;
    const float x[] = {0.0f, 0.25f, 0.75f, 1.25f, -0.25f, -0.75f, 100.0f, -100.0f, NAN, INFINITY, -INFINITY, 1e30f};
    /* 0.25/0.5 = 0.5 -> 0; 0.75 -> 1.5 -> 2; 1.25 -> 2.5 -> 2; -0.25 -> -0.5 -> 0; -0.75 -> -1.5 -> -2 */
    const int8_t want[] = {3, 3, 5, 5, 3, 1, 127, -128, 3, 127, -128, 127};
    int8_t q[12];
    qb_quantize_i8__scalar(x, 12, 0.5f, 3, -128, 127, q);
    assert_memory_equal(q, want, sizeof want);
    assert_int_equal(qb_quantize1_i8(2.5f, 1.0f, 0, -128, 127), 2);
    assert_int_equal(qb_quantize1_i8(-3.5f, 1.0f, 0, -128, 127), -4);
    /* a symmetric range [-127, 127] and a narrow one */
    const float y[] = {-1000.0f, 1000.0f, 2.0f};
    int8_t r[3];
    qb_quantize_i8__scalar(y, 3, 1.0f, 0, -127, 127, r);
    assert_int_equal(r[0], -127);
    assert_int_equal(r[1], 127);
    qb_quantize_i8__scalar(y, 3, 1.0f, 0, -4, 1, r);
    assert_int_equal(r[0], -4);
    assert_int_equal(r[2], 1);
    /* uint8: zero 128, scale 2: 3 -> 1.5 -> 2 + 128; -1 -> -0.5 -> 0 + 128; 1000 -> 255; -1000 -> 0; NaN -> 128 */
    const float u[] = {3.0f, -1.0f, 1000.0f, -1000.0f, NAN, 5.0f};
    const uint8_t uwant[] = {130, 128, 255, 0, 128, 130};
    uint8_t uq[6];
    qb_quantize_u8__scalar(u, 6, 2.0f, 128, uq);
    assert_memory_equal(uq, uwant, sizeof uwant);
    /* scale 0: x / 0 is +-Inf (saturates) or NaN (the zero point) */
    const float z[] = {1.0f, -1.0f, 0.0f};
    qb_quantize_i8__scalar(z, 3, 0.0f, 7, -128, 127, r);
    assert_true(r[0] == 127 && r[1] == -128 && r[2] == 7);
    const int8_t c[] = {-128, 0, 3, 127};
    float d[4];
    qb_dequantize_i8__scalar(c, 4, 0.5f, 3, d);
    assert_true(d[0] == -65.5f && d[1] == -1.5f && d[2] == 0.0f && d[3] == 62.0f);
    const uint8_t cu[] = {0, 128, 255};
    qb_dequantize_u8__scalar(cu, 3, 0.25f, 128, d);
    assert_true(d[0] == -32.0f && d[1] == 0.0f && d[2] == 31.75f);
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t next32(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

/* A value around the rounding ties and the range ends, sometimes NaN,
 * an infinity or an arbitrary large one. */
static float pick(void)
{
    uint32_t r = next32();
    if (r % 97 == 0)
        return NAN;
    if (r % 89 == 0)
        return (r & 1) ? INFINITY : -INFINITY;
    if (r % 7 == 0)
        return (float)(int32_t)next32() * 1e-3f;
    if (r % 5 == 0) {
        float f;
        uint32_t bits = next32() << 8 ^ next32();
        memcpy(&f, &bits, sizeof f);
        return f;
    }
    return ((int)(r % 1200) - 600) * 0.5f; /* halves: ties */
}

/* The reference against an independent oracle: libm's nearbyintf (round
 * half to even in the default rounding mode), computed in double after the
 * float division, saturated. */
static void reference_matches_nearbyintf(void **state)
{
    (void)state;
    const float scales[] = {1.0f, 0.5f, 0.0123f, 3.7f, 1e-20f, 1e20f};
    for (int i = 0; i < 200000; i++) {
        float x = pick(), s = scales[i % 6];
        int32_t zero = (int32_t)(next32() % 256) - 128, lo = -128, hi = 127;
        if (i % 3 == 0)
            lo = -127;
        if (i % 5 == 0)
            lo = zero - 3, hi = zero + 9 > 127 ? 127 : zero + 9, lo = lo < -128 ? -128 : lo;
        float v = x / s;
        double r = (v != v ? 0.0 : (double)nearbyintf(v)) + zero; /* NaN: the zero point */
        int32_t want = r < lo ? lo : r > hi ? hi : (int32_t)r;
        int8_t got;
        qb_quantize_i8__scalar(&x, 1, s, zero, lo, hi, &got);
        if (got != want)
            fail_msg("quantize_i8(%.9g, scale %g, zero %d, [%d, %d]) = %d, nearbyintf gives %d", x, s, zero, lo, hi,
                     got, want);
        int32_t uz = zero + 128;
        double ru = (v != v ? 0.0 : (double)nearbyintf(v)) + uz;
        int32_t uwant = ru < 0 ? 0 : ru > 255 ? 255 : (int32_t)ru;
        uint8_t ugot;
        qb_quantize_u8__scalar(&x, 1, s, uz, &ugot);
        if (ugot != uwant)
            fail_msg("quantize_u8(%.9g, scale %g, zero %d) = %d, nearbyintf gives %d", x, s, uz, ugot, uwant);
    }
}

/* Bytes outside [off, off + len) of buf (size total) still hold poison. */
static void assert_tails(const void *buf, size_t total, size_t off, size_t len, unsigned char poison, const char *what,
                         size_t n)
{
    const unsigned char *b = buf;
    for (size_t i = 0; i < total; i++)
        if ((i < off || i >= off + len) && b[i] != poison)
            fail_msg("%s, n = %zu, offset %zu: byte %zu outside the output was written", what, n, off, i);
}

/* The SIMD entry points against the reference: every length 0..80 at
 * offsets 0..3 (blocks of 16 and 8 plus every remainder), several scales,
 * zero points and ranges; output buffers poisoned, their tails checked. */
static void simd_matches_reference(void **state)
{
    (void)state;
    enum { N = 80, PAD = 4, TOT = N + 2 * PAD };
    float x[TOT], y0[TOT], y1[TOT];
    int8_t q0[TOT], q1[TOT];
    uint8_t u0[TOT], u1[TOT];
    const float scales[] = {1.0f, 0.5f, 0.0123f, 3.7f};
    const int32_t ranges[][3] = {{0, -128, 127}, {-20, -128, 127}, {0, -127, 127}, {5, -3, 100}, {127, -128, 127}, {-128, -128, 0}};
    for (int trial = 0; trial < 48; trial++) {
        for (int i = 0; i < TOT; i++)
            x[i] = pick();
        float s = scales[trial % 4];
        const int32_t *rg = ranges[(trial / 4) % 6];
        int32_t uz = rg[0] + 128;
        for (size_t off = 0; off < PAD; off++)
            for (size_t n = 0; n + off <= N; n++) {
                memset(q0, 0x55, sizeof q0), memset(q1, 0x55, sizeof q1);
                qb_quantize_i8__scalar(x + off, n, s, rg[0], rg[1], rg[2], q0 + off);
                qb_quantize_i8(x + off, n, s, rg[0], rg[1], rg[2], q1 + off);
                assert_tails(q1, sizeof q1, off, n, 0x55, "quantize_i8", n);
                if (memcmp(q0, q1, sizeof q0))
                    fail_msg("quantize_i8: SIMD differs from the reference, n = %zu, offset %zu, scale %g, zero %d",
                             n, off, s, rg[0]);
                memset(u0, 0xA7, sizeof u0), memset(u1, 0xA7, sizeof u1);
                qb_quantize_u8__scalar(x + off, n, s, uz, u0 + off);
                qb_quantize_u8(x + off, n, s, uz, u1 + off);
                assert_tails(u1, sizeof u1, off, n, 0xA7, "quantize_u8", n);
                if (memcmp(u0, u1, sizeof u0))
                    fail_msg("quantize_u8: SIMD differs from the reference, n = %zu, offset %zu, scale %g, zero %d",
                             n, off, s, uz);
                /* dequantize every code of the quantized row, and arbitrary bytes */
                const int8_t *codes = (trial & 1) ? q0 : (const int8_t *)x;
                memset(y0, 0xFF, sizeof y0), memset(y1, 0xFF, sizeof y1); /* NaN */
                qb_dequantize_i8__scalar(codes + off, n, s, rg[0], y0 + off);
                qb_dequantize_i8(codes + off, n, s, rg[0], y1 + off);
                assert_tails(y1, sizeof y1, off * sizeof(float), n * sizeof(float), 0xFF, "dequantize_i8", n);
                if (memcmp(y0, y1, sizeof y0))
                    fail_msg("dequantize_i8: SIMD differs from the reference, n = %zu, offset %zu", n, off);
                const uint8_t *ucodes = (trial & 1) ? u0 : (const uint8_t *)x;
                memset(y0, 0xFF, sizeof y0), memset(y1, 0xFF, sizeof y1);
                qb_dequantize_u8__scalar(ucodes + off, n, s, uz, y0 + off);
                qb_dequantize_u8(ucodes + off, n, s, uz, y1 + off);
                assert_tails(y1, sizeof y1, off * sizeof(float), n * sizeof(float), 0xFF, "dequantize_u8", n);
                if (memcmp(y0, y1, sizeof y0))
                    fail_msg("dequantize_u8: SIMD differs from the reference, n = %zu, offset %zu", n, off);
            }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(quantize_reference_cases),
        cmocka_unit_test(reference_matches_nearbyintf),
        cmocka_unit_test(simd_matches_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
