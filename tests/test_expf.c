/*
 * test_expf.c - exp of float32 (kernels/expf.c): the reference polynomial
 * against glibc's expf over the whole finite range (within QB_EXPF_ULP
 * ulps for normal results, within FLT_MIN where libm's is subnormal), the special
 * values, and the SIMD loops (AVX-512, AVX2 and SSE2 where the CPU has
 * them, each forced in turn; the reference on other builds)
 * bit-identical to the reference for every length 0..67 at offsets 0..3,
 * in place too, with poisoned output bytes past the end left untouched,
 * and over a sweep of float bit patterns (sigmoid arrays too);
 * softmax rows the same way (with a bias row added first too), and within
 * 1e-5 relative of a softmax in double; sigmoid arrays bit-identical to
 * qb_sigmoid1 (lengths across the 1024-value chunks, in place, poison
 * untouched) and qb_sigmoid1 within
 * QB_SIGMOID_ULP of libm's 1 / (1 + expf(-x)).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/expf.h"

static uint32_t bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* Distance in ulps between two positive finite floats. */
static int64_t ulps(float a, float b) { return llabs((int64_t)bits(a) - (int64_t)bits(b)); }

static void test_against_libm(void **state)
{
    (void)state;
    int64_t worst = 0;
    float worst_x = 0;
    double worst_sub = 0;
    /* every 2^-12 step over the range, then every float bit pattern in steps of 997 */
    for (int pass = 0; pass < 2; pass++) {
        const uint64_t step = 997;
        for (uint64_t k = 0;; k++) {
            float x;
            if (!pass) {
                x = -104.0f + (float)k / 4096.0f;
                if (x > 89.0f)
                    break;
            } else {
                uint64_t u = k * step;
                if (u > 0xffffffffu)
                    break;
                uint32_t u32 = (uint32_t)u;
                memcpy(&x, &u32, 4);
                if (!isfinite(x) || x > 89.0f || x < -104.0f)
                    continue;
            }
            float ref = expf(x), got = qb_expf1(x);
            if (ref >= FLT_MIN) {
                assert_true(isfinite(got) || isinf(ref));
                if (isinf(ref)) {
                    assert_true(isinf(got));
                    continue;
                }
                int64_t d = ulps(ref, got);
                if (d > worst)
                    worst = d, worst_x = x;
            } else {
                double d = fabs((double)ref - (double)got);
                if (d > worst_sub)
                    worst_sub = d;
            }
        }
    }
    printf("# expf: worst %lld ulps (x = %.9g), subnormal range worst %.3g\n", (long long)worst, (double)worst_x,
           worst_sub);
    assert_true(worst <= QB_EXPF_ULP);
    assert_true(worst_sub < FLT_MIN); /* flushed to zero there */
}

static void test_special(void **state)
{
    (void)state;
    assert_true(qb_expf1(0.0f) == 1.0f);
    assert_true(qb_expf1(-0.0f) == 1.0f);
    assert_true(isnan(qb_expf1(NAN)));
    assert_true(isinf(qb_expf1(INFINITY)) && qb_expf1(INFINITY) > 0);
    assert_true(qb_expf1(-INFINITY) == 0.0f);
    assert_true(isinf(qb_expf1(88.8f)));
    assert_true(isinf(qb_expf1(88.72283935546875f)) && isinf(expf(88.72283935546875f))); /* overflows in libm too */
    assert_true(qb_expf1(nextafterf(88.72283935546875f, 0)) == expf(nextafterf(88.72283935546875f, 0)));
    assert_true(qb_expf1(-104.0f) == 0.0f);
    assert_true(qb_expf1(-87.34f) == 0.0f);
    assert_true(qb_expf1(-87.33f) >= FLT_MIN);
    assert_true(qb_expf1(1.0f) == expf(1.0f) || ulps(qb_expf1(1.0f), expf(1.0f)) <= QB_EXPF_ULP);
}

/* The loops qb_expf_array, qb_softmax_row and qb_sigmoid_f32 take: mode
 * 2 AVX-512 where the CPU has it (else AVX2), 1 AVX2 where it has that
 * (AVX-512 off), 0 SSE2 (both off); EXPF_MODES of them, highest first.
 * Other builds have one path (the references): one mode, not three runs
 * of the same loops (under qemu the sweep is most of test-arm's time). */
#if defined(__x86_64__)
enum { EXPF_MODES = 3 };
#else
enum { EXPF_MODES = 1 };
#endif
static void expf_mode(int mode)
{
    qb_expf_avx512(mode == 2);
    qb_expf_avx2(mode >= 1);
}

static void test_array_bit_exact(void **state)
{
    (void)state;
    float x[80], y[80];
    for (int mode = EXPF_MODES - 1; mode >= 0; mode--) { /* AVX-512, AVX2, SSE2 */
    expf_mode(mode);
    const float specials[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 88.72283935546875f, 88.7229f, -103.97f,
                              -103.98f, -87.4f, 1e-30f, -1e-30f};
    uint32_t seed = 12345;
    for (int off = 0; off < 4; off++)
        for (size_t n = 0; n + off <= 67; n++) {
            for (int i = 0; i < 80; i++) {
                seed = seed * 1664525u + 1013904223u;
                x[i] = (i % 7 == 3) ? specials[(seed >> 8) % (sizeof specials / sizeof *specials)]
                                    : -110.0f + 200.0f * (float)(seed >> 8) / 16777216.0f;
            }
            memset(y, 0x7b, sizeof y);
            qb_expf_array(x + off, y + off, n);
            for (int i = 0; i < 80; i++) {
                if (i < off || i >= off + (int)n) {
                    assert_true(bits(y[i]) == 0x7b7b7b7bu); /* poison untouched */
                    continue;
                }
                float ref = qb_expf1(x[i]);
                assert_true(bits(y[i]) == bits(ref) || (isnan(y[i]) && isnan(ref)));
            }
            float z[80]; /* in place */
            memcpy(z, x, sizeof z);
            qb_expf_array(z + off, z + off, n);
            for (size_t i = 0; i < n; i++) {
                float ref = qb_expf1(x[off + i]);
                assert_true(bits(z[off + i]) == bits(ref) || (isnan(ref) && isnan(z[off + i])));
            }
        }
    }
    expf_mode(EXPF_MODES - 1);
}

/* qb_expf_array and qb_sigmoid_f32 (AVX-512 and AVX2 where the CPU has
 * them, and SSE2) bit-identical to the references over every 257th float bit
 * pattern (NaNs, infinities, subnormals, huge values included) and every
 * float within 4096 ulps of the limits EXP_LO and EXP_HI (and their
 * negations for the sigmoid) and of 0. */
static void test_array_sweep(void **state)
{
    (void)state;
    enum { B = 4096 };
    float *x = malloc(B * sizeof *x), *y = malloc(B * sizeof *y);
    assert_true(x && y);
    const float around[] = {-87.33654f, 88.72283935546875f, 87.33654f, -88.72283935546875f, 0.0f, -0.0f};
    for (int mode = EXPF_MODES - 1; mode >= 0; mode--) {
        expf_mode(mode);
        uint64_t u = 0;
        size_t extra = 0;
        for (int done = 0; !done;) {
            size_t n = 0;
            for (; n < B; n++) {
                uint32_t b;
                if (u <= 0xffffffffu) {
                    b = (uint32_t)u;
                    u += 257;
                } else if (extra < 6 * 2 * 4096) { /* walks up and down from each value in around[] */
                    uint32_t a = bits(around[extra / 8192]);
                    int64_t d = (int64_t)(extra % 8192) - 4096;
                    b = (uint32_t)((int64_t)a + d);
                    extra++;
                } else {
                    done = 1;
                    break;
                }
                memcpy(&x[n], &b, 4);
            }
            qb_expf_array(x, y, n);
            for (size_t i = 0; i < n; i++) {
                float ref = qb_expf1(x[i]);
                assert_true(bits(y[i]) == bits(ref) || (isnan(ref) && isnan(y[i])));
            }
            qb_sigmoid_f32(x, y, n);
            for (size_t i = 0; i < n; i++) {
                float ref = qb_sigmoid1(x[i]);
                assert_true(bits(y[i]) == bits(ref) || (isnan(ref) && isnan(y[i])));
            }
        }
    }
    expf_mode(EXPF_MODES - 1);
    free(x);
    free(y);
}

/* Softmax rows: the SIMD loops (AVX-512 and AVX2 where the CPU has them, and SSE2)
 * bit-identical to the reference (lengths 0..100 and a few long ones,
 * in place too, poison past the end untouched), and within 1e-5
 * relative of a softmax in double. */
static void test_softmax_row(void **state)
{
    (void)state;
    enum { CAP = 7000 };
    float *x = malloc(CAP * sizeof *x), *y = malloc(CAP * sizeof *y), *r = malloc(CAP * sizeof *r),
          *z = malloc(CAP * sizeof *z);
    assert_true(x && y && r && z);
    const size_t longs[] = {255, 256, 257, 1000, 6625};
    uint32_t seed = 777;
    for (size_t step = 0; step < EXPF_MODES * (101 + sizeof longs / sizeof *longs); step++) {
        size_t k = step / EXPF_MODES, n = k <= 100 ? k : longs[k - 101];
        expf_mode((int)(step % EXPF_MODES)); /* each length through every path */
        for (int i = 0; i < CAP; i++) {
            seed = seed * 1664525u + 1013904223u;
            x[i] = -30.0f + 40.0f * (float)(seed >> 8) / 16777216.0f;
        }
        memset(y, 0x7b, CAP * sizeof *y);
        qb_softmax_row(x, y, n);
        qb_softmax_row__scalar(x, r, n);
        double mx = -INFINITY, sum = 0;
        for (size_t i = 0; i < n; i++)
            mx = x[i] > mx ? x[i] : mx;
        for (size_t i = 0; i < n; i++)
            sum += exp((double)x[i] - mx);
        for (size_t i = 0; i < n + 20 && i < CAP; i++) {
            if (i >= n) {
                assert_true(bits(y[i]) == 0x7b7b7b7bu);
                continue;
            }
            assert_true(bits(y[i]) == bits(r[i]));
            double want = exp((double)x[i] - mx) / sum;
            assert_true(fabs(y[i] - want) <= 1e-5 * want + 1e-30);
        }
        memcpy(z, x, CAP * sizeof *z);
        qb_softmax_row(z, z, n);
        for (size_t i = 0; i < n; i++)
            assert_true(bits(z[i]) == bits(r[i]));
        /* with a bias row: the adds, then the reference (b: x shifted by 7 values, so rows differ) */
        for (size_t i = 0; i < n; i++)
            z[i] = x[i] + x[(i + 7) % CAP];
        qb_softmax_row__scalar(z, r, n);
        memset(y, 0x7b, CAP * sizeof *y);
        qb_softmax_row_bias(x, x + 7, y, n);
        for (size_t i = 0; i < n + 20 && i < CAP; i++)
            assert_true(i >= n ? bits(y[i]) == 0x7b7b7b7bu : bits(y[i]) == bits(r[i]));
        memcpy(z, x, CAP * sizeof *z);
        qb_softmax_row_bias(z, x + 7, z, n); /* in place */
        for (size_t i = 0; i < n; i++)
            assert_true(bits(z[i]) == bits(r[i]));
    }
    /* rows reaching down to exp's lower limit and past it (x - max from -95 to 0, the values around
     * -87.33654 included), -inf values, a +inf value (the max infinite: every x - max NaN or -inf) */
    for (int v = 0; v < 8; v++) {
        const size_t n = v < 4 ? 6625 : 37 + (size_t)v;
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1664525u + 1013904223u;
            x[i] = 3.5f - 95.0f * (float)(seed >> 8) / 16777216.0f;
        }
        x[n / 2] = 3.5f;
        for (int k = 0; k < 8; k++) /* just above and below the limit */
            x[(size_t)(k * 7 + 1) % n] = 3.5f - 87.33654f + (float)(k - 4) * 4e-6f;
        if (v & 1)
            x[n / 3] = -INFINITY;
        if (v == 6)
            x[n / 5] = INFINITY;
        for (int w = 0; w < EXPF_MODES; w++) {
            expf_mode(w);
            qb_softmax_row(x, y, n);
            qb_softmax_row__scalar(x, r, n);
            for (size_t i = 0; i < n; i++)
                assert_true(bits(y[i]) == bits(r[i]) || (isnan(y[i]) && isnan(r[i])));
            for (size_t i = 0; i < n; i++) /* a bias row of -1, 0, 1 */
                z[i] = (float)((int)(i % 3) - 1);
            qb_softmax_row_bias(x, z, y, n);
            for (size_t i = 0; i < n; i++)
                z[i] = x[i] + (float)((int)(i % 3) - 1);
            qb_softmax_row__scalar(z, r, n);
            for (size_t i = 0; i < n; i++)
                assert_true(bits(y[i]) == bits(r[i]) || (isnan(y[i]) && isnan(r[i])));
        }
    }
    for (int v = 0; v < 4 * EXPF_MODES; v++) { /* a NaN anywhere (in the tail, in a whole vector): every output NaN, every path */
        expf_mode(v % EXPF_MODES);
        const int len = v / EXPF_MODES == 0 ? 5 : v / EXPF_MODES == 1 ? 40 : 20, at = v / EXPF_MODES < 3 ? len - 3 : 2;
        for (int i = 0; i < len; i++)
            x[i] = (float)i;
        x[at] = NAN;
        qb_softmax_row(x, y, (size_t)len);
        qb_softmax_row__scalar(x, r, (size_t)len);
        for (int i = 0; i < len; i++)
            assert_true(isnan(y[i]) && isnan(r[i]));
    }
    expf_mode(EXPF_MODES - 1);
    free(x);
    free(y);
    free(r);
    free(z);
}

/* qb_sigmoid1 against libm's 1 / (1 + expf(-x)) every 2^-10 over
 * [-100, 100]; qb_sigmoid_f32 (both exp paths) bit-identical to it. */
static void test_sigmoid_array(void **state)
{
    (void)state;
    int64_t worst = 0;
    double worst_sub = 0;
    for (int k = 0; k <= 200 * 1024; k++) {
        float x = -100.0f + (float)k / 1024.0f;
        float ref = 1.0f / (1.0f + expf(-x)), got = qb_sigmoid1(x);
        if (ref >= FLT_MIN) {
            int64_t d = ulps(ref, got);
            worst = d > worst ? d : worst;
        } else {
            double d = fabs((double)ref - (double)got);
            worst_sub = d > worst_sub ? d : worst_sub;
        }
    }
    printf("# sigmoid: worst %lld ulps, subnormal range worst %.3g\n", (long long)worst, worst_sub);
    assert_true(worst <= QB_SIGMOID_ULP);
    assert_true(worst_sub < FLT_MIN);
    assert_true(qb_sigmoid1(0.0f) == 0.5f && qb_sigmoid1(100.0f) == 1.0f && qb_sigmoid1(-100.0f) == 0.0f);
    assert_true(qb_sigmoid1(INFINITY) == 1.0f && qb_sigmoid1(-INFINITY) == 0.0f && isnan(qb_sigmoid1(NAN)));

    enum { CAP = 2200 };
    float *x = malloc(CAP * sizeof *x), *y = malloc(CAP * sizeof *y);
    assert_true(x && y);
    const size_t lens[] = {0, 1, 3, 15, 16, 17, 67, 1023, 1024, 1025, 2049};
    uint32_t seed = 4242;
    for (int mode = EXPF_MODES - 1; mode >= 0; mode--) {
        expf_mode(mode);
        for (size_t l = 0; l < sizeof lens / sizeof *lens; l++)
            for (int off = 0; off < 3; off++) {
                size_t n = lens[l];
                for (int i = 0; i < CAP; i++) {
                    seed = seed * 1664525u + 1013904223u;
                    x[i] = (i % 11 == 5) ? (i % 3 ? NAN : -INFINITY) : -100.0f + 200.0f * (float)(seed >> 8) / 16777216.0f;
                }
                memset(y, 0x7b, CAP * sizeof *y);
                qb_sigmoid_f32(x + off, y + off, n);
                for (int i = 0; i < CAP; i++) {
                    if (i < off || i >= off + (int)n) {
                        assert_true(bits(y[i]) == 0x7b7b7b7bu);
                        continue;
                    }
                    float ref = qb_sigmoid1(x[i]);
                    assert_true(bits(y[i]) == bits(ref) || (isnan(ref) && isnan(y[i])));
                }
                qb_sigmoid_f32(x + off, x + off, n); /* in place */
                for (size_t i = 0; i < n; i++)
                    assert_true(bits(x[off + i]) == bits(y[off + i]) || (isnan(x[off + i]) && isnan(y[off + i])));
            }
    }
    expf_mode(EXPF_MODES - 1);
    free(x);
    free(y);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_libm),
        cmocka_unit_test(test_special),
        cmocka_unit_test(test_array_bit_exact),
        cmocka_unit_test(test_array_sweep),
        cmocka_unit_test(test_softmax_row),
        cmocka_unit_test(test_sigmoid_array),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
