/*
 * test_quant.c - the quantization arithmetic (harness/quant) and the
 * accuracy metrics (harness/eval/metrics) against hand-computed cases:
 * quantize / dequantize with ties to even, saturation and zero points,
 * qparams for known, zero-width and non-finite ranges, fake quant and its
 * STE mask, int8 / int4 / binary weight quantization, the four calibrators
 * on known distributions (uniform, Gaussian with outliers, ReLU-like, a
 * hand-computed percentile histogram) and the metrics (identical, shifted
 * and hand-computed logits, missing labels).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness/eval/metrics.h"
#include "harness/qmath/quant.h"

/* |a - b| <= eps, with both values printed on failure */
#define assert_near(a, b, eps) assert_near_(__FILE__, __LINE__, #a, (double)(a), (double)(b), (double)(eps))
static void assert_near_(const char *file, int line, const char *what, double a, double b, double eps)
{
    if (!(fabs(a - b) <= eps)) {
        print_error("%s:%d: %s = %.9g, expected %.9g (+- %g)\n", file, line, what, a, b, eps);
        fail();
    }
}

/* warn buffers are appended to: start each call with an empty one */
static char *fresh(char *w)
{
    w[0] = 0;
    return w;
}

/* ---- seeded data ---- */

static uint64_t rng_state;
static double urand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) * (1.0 / 9007199254740992.0);
}
static double gauss(void)
{
    double u1 = urand(), u2 = urand();
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
}

/* Range of one calibrator on x (both passes). */
static int calib_range(qb_calib k, const float *x, size_t n, int sym, float *lo, float *hi, char *warn, size_t len)
{
    qb_observer *o = qb_observer_new(k, 0, 0);
    assert_non_null(o);
    qb_observer_pass1(o, x, n);
    if (qb_observer_needs_pass2(o))
        qb_observer_pass2(o, x, n);
    int r = qb_observer_range(o, sym, lo, hi, warn, len);
    qb_observer_free(o);
    return r;
}

/* Mean squared error of quantize-dequantize of x with the qparams of [lo, hi]. */
static double data_mse(const float *x, size_t n, float lo, float hi, int sym)
{
    qb_qparams qp;
    qb_qparams_from_range(lo, hi, sym, &qp, NULL, 0);
    double e = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)x[i] - qb_fake_quant(x[i], &qp);
        e += d * d;
    }
    return e / (double)n;
}

/* ---- names ---- */

static void test_calib_names(void **state)
{
    (void)state;
    /* the method table: every row named, names unique, parse and name round trip */
    for (int m = 0; m < QB_METHOD_COUNT; m++) {
        const qb_method_traits *t = qb_method_traits_of((qb_method)m);
        assert_non_null(t->name);
        assert_int_equal(qb_method_parse(t->name), m);
        assert_string_equal(qb_method_name((qb_method)m), t->name);
        assert_true(t->calib >= -1 && t->calib < QB_CALIB_COUNT);
        assert_true(!t->trains || t->calib >= 0); /* a trained method still calibrates its ranges */
        if (t->calib >= 0 && !t->trains) {        /* a PTQ method: its calibrator's name */
            assert_int_equal(qb_calib_parse(t->name), t->calib);
            assert_string_equal(qb_calib_name((qb_calib)t->calib), t->name);
        } else {
            assert_int_equal(qb_calib_parse(t->name), -1);
        }
    }
    /* every calibrator is reachable by a PTQ method */
    for (int c = 0; c < QB_CALIB_COUNT; c++)
        assert_int_equal(qb_calib_parse(qb_calib_name((qb_calib)c)), c);
    assert_string_equal(qb_method_name((qb_method)QB_METHOD_COUNT), "?");
    assert_string_equal(qb_calib_name((qb_calib)QB_CALIB_COUNT), "?");
    /* the names users rely on (docs/design.md, results CSVs) never change (new ones may be added) */
    const char *names[] = {"none", "ptq-minmax", "ptq-percentile", "ptq-mse", "ptq-kl", "qat"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        assert_string_equal(qb_method_name((qb_method)qb_method_parse(names[i])), names[i]);
    assert_int_equal(qb_method_parse("none"), QB_METHOD_NONE);
    assert_int_equal(qb_calib_parse("qat"), -1);
    assert_int_equal(qb_calib_parse("ptq-KL"), -1);
    assert_int_equal(qb_calib_parse(NULL), -1);
}

/* ---- quantize / dequantize ---- */

static void test_quantize_ties_saturation(void **state)
{
    (void)state;
    qb_qparams qp = {.scale = 1.0f, .zero = 0, .qmin = -128, .qmax = 127};
    assert_int_equal(qb_quantize1(0.5f, &qp), 0);
    assert_int_equal(qb_quantize1(1.5f, &qp), 2);
    assert_int_equal(qb_quantize1(2.5f, &qp), 2);
    assert_int_equal(qb_quantize1(-0.5f, &qp), 0);
    assert_int_equal(qb_quantize1(-1.5f, &qp), -2);
    assert_int_equal(qb_quantize1(-2.5f, &qp), -2);
    assert_int_equal(qb_quantize1(0.51f, &qp), 1);
    assert_int_equal(qb_quantize1(126.5f, &qp), 126);
    assert_int_equal(qb_quantize1(200.0f, &qp), 127);
    assert_int_equal(qb_quantize1(-200.0f, &qp), -128);
    assert_int_equal(qb_quantize1(INFINITY, &qp), 127);
    assert_int_equal(qb_quantize1(-INFINITY, &qp), -128);
    assert_int_equal(qb_quantize1(1e30f, &qp), 127);
    /* symmetric bounds never give -128 */
    qb_qparams sq = {.scale = 1.0f, .zero = 0, .qmin = -127, .qmax = 127};
    assert_int_equal(qb_quantize1(-200.0f, &sq), -127);
    assert_int_equal(qb_quantize1(-127.5f, &sq), -127);

    /* zero point 10, scale 0.5: q = rne(x / 0.5) + 10 */
    qb_qparams zp = {.scale = 0.5f, .zero = 10, .qmin = -128, .qmax = 127};
    assert_int_equal(qb_quantize1(1.0f, &zp), 12);
    assert_int_equal(qb_quantize1(0.25f, &zp), 10); /* rne(0.5) = 0 */
    assert_int_equal(qb_quantize1(0.75f, &zp), 12); /* rne(1.5) = 2 */
    assert_int_equal(qb_quantize1(-1.25f, &zp), 8); /* rne(-2.5) = -2 */
    assert_int_equal(qb_quantize1(58.5f, &zp), 127); /* 117 + 10 */
    assert_int_equal(qb_quantize1(-69.0f, &zp), -128);
    assert_int_equal(qb_quantize1(-70.0f, &zp), -128);
    assert_int_equal(qb_quantize1(NAN, &zp), 10);

    float x[5] = {1.0f, 0.25f, -1.25f, 100.0f, NAN};
    int8_t q[5];
    qb_quantize(x, 5, &zp, q);
    const int8_t want[5] = {12, 10, 8, 127, 10};
    assert_memory_equal(q, want, sizeof want);
    float back[5];
    qb_dequantize(q, 5, &zp, back);
    assert_true(back[0] == 1.0f);
    assert_true(back[1] == 0.0f);
    assert_true(back[2] == -1.0f);
    assert_true(back[3] == 58.5f);
    assert_true(back[4] == 0.0f);
    int8_t lo = -128;
    float v;
    qb_dequantize(&lo, 1, &zp, &v);
    assert_true(v == -69.0f);
}

static void test_qparams_known_ranges(void **state)
{
    (void)state;
    qb_qparams qp;
    char warn[256];
    /* [-1, 3]: scale 4/255, zero rne(-128 + 63.75) = -64 */
    assert_int_equal(qb_qparams_from_range(-1.0f, 3.0f, 0, &qp, fresh(warn), sizeof warn), 0);
    assert_string_equal(warn, "");
    assert_true(qp.scale == (float)(4.0 / 255.0));
    assert_int_equal(qp.zero, -64);
    assert_int_equal(qp.qmin, -128);
    assert_int_equal(qp.qmax, 127);
    assert_int_equal(qb_quantize1(0.0f, &qp), -64);
    assert_true(qb_fake_quant(0.0f, &qp) == 0.0f); /* 0 exactly representable */
    /* every code survives dequantize -> quantize */
    for (int c = -128; c <= 127; c++) {
        int8_t q = (int8_t)c, q2;
        float x;
        qb_dequantize(&q, 1, &qp, &x);
        qb_quantize(&x, 1, &qp, &q2);
        assert_int_equal(q2, c);
    }
    /* symmetric [-1, 3]: scale 3/127, zero 0, [-127, 127] */
    assert_int_equal(qb_qparams_from_range(-1.0f, 3.0f, 1, &qp, fresh(warn), sizeof warn), 0);
    assert_true(qp.scale == (float)(3.0 / 127.0));
    assert_int_equal(qp.zero, 0);
    assert_int_equal(qp.qmin, -127);
    assert_int_equal(qp.qmax, 127);
    assert_int_equal(qb_quantize1(3.0f, &qp), 127);
    assert_int_equal(qb_quantize1(-3.0f, &qp), -127);
    /* ranges not containing 0 are extended: [0.5, 2] -> [0, 2], [-2, -1] -> [-2, 0] */
    assert_int_equal(qb_qparams_from_range(0.5f, 2.0f, 0, &qp, fresh(warn), sizeof warn), 0);
    assert_true(qp.scale == (float)(2.0 / 255.0));
    assert_int_equal(qp.zero, -128);
    assert_int_equal(qb_qparams_from_range(-2.0f, -1.0f, 0, &qp, fresh(warn), sizeof warn), 0);
    assert_true(qp.scale == (float)(2.0 / 255.0));
    assert_int_equal(qp.zero, 127);
    /* [-2.55, 0] style check with exact numbers: [-51, 204] -> scale 1, zero -77 */
    assert_int_equal(qb_qparams_from_range(-51.0f, 204.0f, 0, &qp, fresh(warn), sizeof warn), 0);
    assert_true(qp.scale == 1.0f);
    assert_int_equal(qp.zero, -77);
    assert_int_equal(qb_quantize1(204.0f, &qp), 127);
    assert_int_equal(qb_quantize1(-51.0f, &qp), -128);
}

static void test_qparams_degenerate(void **state)
{
    (void)state;
    qb_qparams qp;
    char warn[256];
    for (int sym = 0; sym < 2; sym++) {
        assert_int_equal(qb_qparams_from_range(0.0f, 0.0f, sym, &qp, fresh(warn), sizeof warn), 1);
        assert_non_null(strstr(warn, "zero-width"));
        assert_true(qp.scale == 1.0f);
        assert_int_equal(qp.zero, 0);
        assert_int_equal(qb_quantize1(0.0f, &qp), 0);

        assert_int_equal(qb_qparams_from_range(NAN, 1.0f, sym, &qp, fresh(warn), sizeof warn), 1);
        assert_non_null(strstr(warn, "non-finite"));
        assert_true(isfinite(qp.scale) && qp.scale > 0);
        assert_true(qp.scale == (float)(sym ? 1.0 / 127.0 : 1.0 / 255.0));

        assert_int_equal(qb_qparams_from_range(-INFINITY, INFINITY, sym, &qp, fresh(warn), sizeof warn), 1);
        assert_non_null(strstr(warn, "non-finite"));
        assert_non_null(strstr(warn, "zero-width"));
        assert_true(qp.scale == 1.0f);

        assert_int_equal(qb_qparams_from_range(NAN, NAN, sym, &qp, fresh(warn), sizeof warn), 1);
        assert_true(qp.scale == 1.0f);

        /* a range so small that scale underflows to 0 */
        assert_int_equal(qb_qparams_from_range(0.0f, 1e-44f, sym, &qp, fresh(warn), sizeof warn), 1);
        assert_true(qp.scale == 1.0f);
        assert_false(isnan(qb_fake_quant(1.0f, &qp)));
    }
    /* warn may be NULL */
    assert_int_equal(qb_qparams_from_range(0.0f, 0.0f, 0, &qp, NULL, 0), 1);
    /* a short buffer is truncated, not overrun */
    char small[8];
    memset(small, 'x', sizeof small);
    small[0] = 0;
    assert_int_equal(qb_qparams_from_range(0.0f, 0.0f, 0, &qp, small, 5), 1);
    assert_int_equal(strlen(small), 4);
    assert_int_equal(small[5], 'x');
}

static void test_fake_quant_ste(void **state)
{
    (void)state;
    qb_qparams qp = {.scale = 0.5f, .zero = 0, .qmin = -127, .qmax = 127};
    assert_true(qb_fake_quant(0.3f, &qp) == 0.5f);
    assert_true(qb_fake_quant(0.25f, &qp) == 0.0f);  /* tie to even: 0 */
    assert_true(qb_fake_quant(0.75f, &qp) == 1.0f);  /* tie to even: 2 */
    assert_true(qb_fake_quant(100.0f, &qp) == 63.5f); /* saturated */
    assert_true(qb_fake_quant(-100.0f, &qp) == -63.5f);
    assert_true(qb_fake_quant(NAN, &qp) == 0.0f);
    /* mask: rne(x / 0.5) within [-127, 127] */
    assert_int_equal(qb_fake_quant_pass(0.0f, &qp), 1);
    assert_int_equal(qb_fake_quant_pass(63.5f, &qp), 1);  /* 127 */
    assert_int_equal(qb_fake_quant_pass(63.75f, &qp), 0); /* rne(127.5) = 128 (even): out */
    assert_int_equal(qb_fake_quant_pass(63.7f, &qp), 1);  /* rne(127.4) = 127 */
    assert_int_equal(qb_fake_quant_pass(63.8f, &qp), 0);  /* 128 */
    assert_int_equal(qb_fake_quant_pass(-63.7f, &qp), 1);
    assert_int_equal(qb_fake_quant_pass(-63.8f, &qp), 0);
    assert_int_equal(qb_fake_quant_pass(INFINITY, &qp), 0);
    assert_int_equal(qb_fake_quant_pass(NAN, &qp), 0);
    /* asymmetric with zero point: representable codes [-128, 127] around zero -100 */
    qb_qparams ap = {.scale = 1.0f, .zero = -100, .qmin = -128, .qmax = 127};
    assert_int_equal(qb_fake_quant_pass(-28.0f, &ap), 1);
    assert_int_equal(qb_fake_quant_pass(-29.0f, &ap), 0);
    assert_int_equal(qb_fake_quant_pass(227.0f, &ap), 1);
    assert_int_equal(qb_fake_quant_pass(228.0f, &ap), 0);
    assert_true(qb_fake_quant(-40.0f, &ap) == -28.0f);
    assert_true(qb_fake_quant(300.0f, &ap) == 227.0f);
}

/* ---- weights ---- */

static void test_weights_int8(void **state)
{
    (void)state;
    char warn[256];
    /* row 0: max 254 -> scale 2; 127 / 2 = 63.5 -> 64 (even); row 1 all zero */
    const float w[2 * 3] = {127.0f, -254.0f, 101.0f, 0.0f, 0.0f, -0.0f};
    int8_t q[6];
    float s[2];
    assert_int_equal(qb_quant_w_int8(w, 2, 3, 1, q, s, fresh(warn), sizeof warn), 1);
    assert_true(s[0] == 2.0f);
    assert_true(s[1] == 1.0f);
    const int8_t want[6] = {64, -127, 50, 0, 0, 0}; /* 101 / 2 = 50.5 -> 50 */
    assert_memory_equal(q, want, 6);
    assert_non_null(strstr(warn, "1 all-zero row"));
    /* per tensor: one scale 2 for all */
    assert_int_equal(qb_quant_w_int8(w, 2, 3, 0, q, s, fresh(warn), sizeof warn), 0);
    assert_string_equal(warn, "");
    assert_true(s[0] == 2.0f);
    assert_memory_equal(q, want, 6);
    /* NaN -> 0, Inf saturates, the scale comes from the finite weights */
    const float bad[4] = {NAN, 254.0f, -INFINITY, 3.0f};
    assert_int_equal(qb_quant_w_int8(bad, 1, 4, 1, q, s, fresh(warn), sizeof warn), 1);
    assert_true(s[0] == 2.0f);
    const int8_t want_bad[4] = {0, 127, -127, 2}; /* 1.5 -> 2 */
    assert_memory_equal(q, want_bad, 4);
    assert_non_null(strstr(warn, "1 NaN"));
    assert_non_null(strstr(warn, "1 Inf"));
    /* per tensor, a tensor of zeros */
    const float z[2] = {0, 0};
    assert_int_equal(qb_quant_w_int8(z, 1, 2, 0, q, s, fresh(warn), sizeof warn), 1);
    assert_true(s[0] == 1.0f);
    assert_int_equal(q[0], 0);
    /* every int8 weight stays in [-127, 127] and reconstructs within scale / 2 */
    rng_state = 7;
    float r[8 * 37];
    int8_t rq[8 * 37];
    float rs[8];
    for (int i = 0; i < 8 * 37; i++)
        r[i] = (float)(gauss() * (1 + i / 37));
    assert_int_equal(qb_quant_w_int8(r, 8, 37, 1, rq, rs, fresh(warn), sizeof warn), 0);
    for (int n = 0; n < 8; n++) {
        int seen_max = 0;
        for (int k = 0; k < 37; k++) {
            int v = rq[n * 37 + k];
            assert_true(v >= -127 && v <= 127);
            seen_max |= v == 127 || v == -127;
            assert_true(fabsf(r[n * 37 + k] - v * rs[n]) <= rs[n] * 0.5001f);
        }
        assert_true(seen_max); /* the largest |w| maps to +-127 */
    }
}

static void test_weights_int4(void **state)
{
    (void)state;
    char warn[256];
    assert_int_equal(qb_int4_ngroups(5, 2), 3);
    assert_int_equal(qb_int4_ngroups(4, 2), 2);
    assert_int_equal(qb_int4_ngroups(5, 0), 1);
    assert_int_equal(qb_int4_ngroups(5, 8), 1);
    assert_int_equal(qb_int4_ngroups(64, 32), 2);
    assert_int_equal(qb_int4_ngroups(65, 32), 3);
    /* K = 5, G = 2 (not dividing K): groups [14, -7] [0, 0] [21] */
    const float w[5] = {14.0f, -7.0f, 0.0f, 0.0f, 21.0f};
    int8_t q[16];
    float s[8];
    assert_int_equal(qb_quant_w_int4(w, 1, 5, 2, q, s, fresh(warn), sizeof warn), 1);
    assert_true(s[0] == 2.0f);
    assert_true(s[1] == 1.0f);
    assert_true(s[2] == 3.0f);
    const int8_t want[5] = {7, -4, 0, 0, 7}; /* -3.5 -> -4 (even) */
    assert_memory_equal(q, want, 5);
    assert_non_null(strstr(warn, "1 all-zero group"));
    /* never -8: max |w| = 8 comes from the negative side */
    const float neg[2 * 3] = {-8.0f, 7.0f, 2.0f, 1.0f, -1.0f, 0.25f};
    assert_int_equal(qb_quant_w_int4(neg, 2, 3, 0, q, s, fresh(warn), sizeof warn), 0);
    assert_true(s[0] == 8.0f / 7.0f);
    assert_int_equal(q[0], -7);
    assert_int_equal(q[1], 6);  /* 7 / (8/7) = 6.125 */
    assert_int_equal(q[2], 2);  /* 1.75 */
    assert_true(s[1] == 1.0f / 7.0f);
    assert_int_equal(q[3], 7);
    assert_int_equal(q[4], -7);
    assert_int_equal(q[5], 2); /* 0.25 / (1/7) = 1.75 */
    /* 2 rows x K = 7, G = 3: scale[n * 3 + g], last group of one element */
    float w2[14];
    for (int i = 0; i < 14; i++)
        w2[i] = (float)(i % 7 + 1) * (i < 7 ? 1.0f : -2.0f);
    /* row 0: {1,2,3} {4,5,6} {7}; row 1: {-2,-4,-6} {-8,-10,-12} {-14} */
    assert_int_equal(qb_quant_w_int4(w2, 2, 7, 3, q, s, fresh(warn), sizeof warn), 0);
    const float ws[6] = {3.0f / 7, 6.0f / 7, 1.0f, 6.0f / 7, 12.0f / 7, 2.0f};
    for (int i = 0; i < 6; i++)
        assert_true(s[i] == ws[i]);
    const int8_t wq[14] = {2, 5, 7, 5, 6, 7, 7, -2, -5, -7, -5, -6, -7, -7};
    assert_memory_equal(q, wq, 14);
    /* G >= K behaves as per channel */
    float s_pc[2], s_big[2];
    int8_t q_pc[14], q_big[14];
    qb_quant_w_int4(w2, 2, 7, 0, q_pc, s_pc, NULL, 0);
    qb_quant_w_int4(w2, 2, 7, 9, q_big, s_big, NULL, 0);
    assert_memory_equal(q_pc, q_big, 14);
    assert_memory_equal(s_pc, s_big, sizeof s_pc);
    assert_true(s_pc[1] == 2.0f);
    /* NaN weights */
    const float nw[3] = {NAN, 7.0f, INFINITY};
    assert_int_equal(qb_quant_w_int4(nw, 1, 3, 0, q, s, fresh(warn), sizeof warn), 1);
    assert_true(s[0] == 1.0f);
    assert_int_equal(q[0], 0);
    assert_int_equal(q[1], 7);
    assert_int_equal(q[2], 7);
    assert_non_null(strstr(warn, "1 NaN"));
}

static void test_weights_binary(void **state)
{
    (void)state;
    const float w[3 * 4] = {1, -2, 3, -4, 0, 0, 0, 0, NAN, 2, -INFINITY, 6};
    float a[3];
    qb_quant_w_binary(w, 3, 4, a);
    assert_true(a[0] == 2.5f);
    assert_true(a[1] == 0.0f);
    assert_true(a[2] == 2.0f); /* (2 + 6) / 4: non-finite weights count as 0 */
}

/* ---- observers ---- */

static void test_observer_percentile_hand(void **state)
{
    (void)state;
    /* 4 bins over [-2, 2] holding 10, 20, 30, 40 values. p = 95:
     * hi: rank 95 lies in bin 3 (60 before it): 1 + (95 - 60) / 40 = 1.875
     * lo: rank 5 lies in bin 0: -2 + 5 / 10 = -1.5 */
    float x[100];
    int n = 0;
    x[n++] = -2.0f;
    while (n < 10)
        x[n++] = -1.5f;
    while (n < 30)
        x[n++] = -0.5f;
    while (n < 60)
        x[n++] = 0.5f;
    while (n < 99)
        x[n++] = 1.5f;
    x[n++] = 2.0f;
    qb_observer *o = qb_observer_new(QB_CALIB_PERCENTILE, 95.0, 4);
    assert_non_null(o);
    qb_observer_pass1(o, x, 100);
    assert_true(qb_observer_needs_pass2(o));
    qb_observer_pass2(o, x, 50); /* in two pieces */
    qb_observer_pass2(o, x + 50, 50);
    float lo, hi;
    char warn[256];
    assert_int_equal(qb_observer_range(o, 0, &lo, &hi, fresh(warn), sizeof warn), 0);
    assert_near(lo, -1.5, 1e-6);
    assert_near(hi, 1.875, 1e-6);
    assert_int_equal(qb_observer_range(o, 1, &lo, &hi, fresh(warn), sizeof warn), 0);
    assert_near(lo, -1.875, 1e-6);
    assert_near(hi, 1.875, 1e-6);
    qb_observer_free(o);
    /* p = 100 gives the observed range */
    o = qb_observer_new(QB_CALIB_PERCENTILE, 100.0, 4);
    qb_observer_pass1(o, x, 100);
    qb_observer_pass2(o, x, 100);
    assert_int_equal(qb_observer_range(o, 0, &lo, &hi, fresh(warn), sizeof warn), 0);
    assert_near(lo, -2.0, 1e-6);
    assert_near(hi, 2.0, 1e-6);
    qb_observer_free(o);
}

static void test_observer_uniform(void **state)
{
    (void)state;
    /* U[-1, 3]: every calibrator finds (nearly) the true range; the MSE
     * optimum clips about width / (255 sqrt 3) per end (0.009 here) */
    const size_t n = 100000;
    float *x = malloc(n * sizeof *x);
    assert_non_null(x);
    rng_state = 12345;
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(-1 + 4 * urand());
    for (int k = 0; k < QB_CALIB_COUNT; k++) {
        float lo, hi;
        char warn[256];
        assert_int_equal(calib_range((qb_calib)k, x, n, 0, &lo, &hi, fresh(warn), sizeof warn), 0);
        assert_true(lo >= -1.0f && hi <= 3.0f);
        assert_near(lo, -1.0, 0.02);
        assert_near(hi, 3.0, 0.02);
        assert_int_equal(calib_range((qb_calib)k, x, n, 1, &lo, &hi, fresh(warn), sizeof warn), 0);
        assert_true(lo == -hi);
        assert_near(hi, 3.0, 0.02);
    }
    free(x);
}

/* Gaussian N(0, 1) with a few large outliers: ranges and their ordering.
 *   minmax      set by the outliers.
 *   percentile  99.99 drops the top and bottom 0.01% (tens of values):
 *               about 3.7 sigma, the outliers are far outside.
 *   kl          the outliers are a negligible part of the |x| distribution,
 *               so the threshold lands near the Gaussian's extent (4-5 sigma),
 *               just above the percentile's; with 10 outliers among 10^5
 *               clipping them costs more squared error than the whole
 *               unclipped range, so the clipping guard raises it until it
 *               does not (never worse than minmax in squared error).
 *   mse         balances rounding noise inside (N s^2 / 12, growing with the
 *               range squared) against the squared clipping error of the
 *               outliers. With 2 outliers among 10^6 values clipping them is
 *               cheap and the range shrinks to ~7 sigma (much smaller than
 *               minmax, larger than kl); with 10 outliers among 10^5 their
 *               clipping error dominates and mse keeps most of the range.
 * Either way the mse range gives the smallest real quantization error. */
static void test_observer_gauss_outliers(void **state)
{
    (void)state;
    const struct {
        size_t n;
        int nout;
        double mag;
    } cfg[2] = {{1000000, 2, 20.0}, {100000, 10, 50.0}};
    for (int c = 0; c < 2; c++) {
        size_t n = cfg[c].n + (size_t)cfg[c].nout;
        float *x = malloc(n * sizeof *x);
        assert_non_null(x);
        rng_state = 99 + (uint64_t)c;
        for (size_t i = 0; i < cfg[c].n; i++)
            x[i] = (float)gauss();
        for (int i = 0; i < cfg[c].nout; i++)
            x[cfg[c].n + (size_t)i] = (float)((i & 1 ? -1 : 1) * cfg[c].mag * (1 + 0.5 * urand()));
        for (int sym = 0; sym < 2; sym++) {
            float lo[QB_CALIB_COUNT], hi[QB_CALIB_COUNT];
            double width[QB_CALIB_COUNT], mse[QB_CALIB_COUNT];
            for (int k = 0; k < QB_CALIB_COUNT; k++) {
                assert_int_equal(calib_range((qb_calib)k, x, n, sym, &lo[k], &hi[k], NULL, 0), 0);
                width[k] = (double)hi[k] - lo[k];
                mse[k] = data_mse(x, n, lo[k], hi[k], sym);
            }
            double mm = width[QB_CALIB_MINMAX], pc = width[QB_CALIB_PERCENTILE];
            double ms = width[QB_CALIB_MSE], kl = width[QB_CALIB_KL];
            assert_true(mm >= 2 * cfg[c].mag);
            assert_true(pc > 2 * 3.0 && pc < 2 * 4.5);
            if (c == 0)
                assert_true(kl > pc && kl < 2 * 6.0);
            else
                /* (clipping the 10 outliers at 5 sigma would cost ~10x minmax's error; the guard's
                 * histogram model is a symmetric quantizer, the real range is asymmetric: +-25%) */
                assert_true(kl > 2 * 6.0 && mse[QB_CALIB_KL] <= 1.25 * mse[QB_CALIB_MINMAX]);
            assert_true(ms < mm);
            if (c == 0) {
                assert_true(ms > kl);
                assert_true(ms < mm / 2);
            } else {
                assert_true(ms > 0.6 * mm);
            }
            for (int k = 0; k < QB_CALIB_COUNT; k++)
                assert_true(mse[QB_CALIB_MSE] <= mse[k]);
        }
        free(x);
    }
}

/* Skewed data (lognormal minus 1: min near -1, a long right tail): the
 * mse range gives the smallest real quantization error of the four, and
 * the asymmetric ranges keep lo near -1 (the tail does not drag it). */
static void test_observer_skewed(void **state)
{
    (void)state;
    const size_t n = 100000;
    float *x = malloc(n * sizeof *x);
    assert_non_null(x);
    rng_state = 777;
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(exp(gauss()) - 1);
    for (int sym = 0; sym < 2; sym++) {
        float lo[QB_CALIB_COUNT], hi[QB_CALIB_COUNT];
        double mse[QB_CALIB_COUNT];
        for (int k = 0; k < QB_CALIB_COUNT; k++) {
            assert_int_equal(calib_range((qb_calib)k, x, n, sym, &lo[k], &hi[k], NULL, 0), 0);
            mse[k] = data_mse(x, n, lo[k], hi[k], sym);
            if (!sym)
                assert_true(lo[k] <= -0.9f && lo[k] >= -1.0f);
        }
        for (int k = 0; k < QB_CALIB_COUNT; k++)
            assert_true(mse[QB_CALIB_MSE] <= mse[k]);
        assert_true(hi[QB_CALIB_MSE] < hi[QB_CALIB_MINMAX]);
    }
    free(x);
}

/* KL on data that already lies on an int8 grid, with unequal counts
 * (value k appears k % 7 + 1 times). One-signed data on 256 equally spaced
 * values: with 256 levels (asymmetric quantizer) each level holds exactly
 * one value at the full range, so Q = P, KL = 0 and T = max; with 128
 * levels (symmetric quantizer) pairs of values are merged, KL > 0 and a
 * smaller threshold wins. Signed data on 128 magnitudes: T = max for both. */
static void test_observer_kl_grid(void **state)
{
    (void)state;
    float x[256 * 8];
    size_t n = 0;
    for (int k = 0; k < 256; k++)
        for (int r = 0; r <= k % 7; r++)
            x[n++] = (float)k * 0.01f;
    float lo, hi;
    qb_observer *o = qb_observer_new(QB_CALIB_KL, 0, 0);
    qb_observer_pass1(o, x, n);
    qb_observer_pass2(o, x, n);
    assert_int_equal(qb_observer_range(o, 0, &lo, &hi, NULL, 0), 0);
    assert_true(lo == 0.0f && hi == 255.0f * 0.01f);
    assert_int_equal(qb_observer_range(o, 1, &lo, &hi, NULL, 0), 0);
    assert_true(hi < 255.0f * 0.01f && hi > 2.4f && lo == -hi);
    qb_observer_free(o);
    n = 0;
    for (int k = 0; k < 128; k++)
        for (int r = 0; r <= k % 7; r++) {
            x[n++] = (float)k * 0.01f;
            x[n++] = -(float)k * 0.01f;
        }
    o = qb_observer_new(QB_CALIB_KL, 0, 0);
    qb_observer_pass1(o, x, n);
    qb_observer_pass2(o, x, n);
    for (int sym = 0; sym < 2; sym++) {
        assert_int_equal(qb_observer_range(o, sym, &lo, &hi, NULL, 0), 0);
        assert_true(lo == -127.0f * 0.01f && hi == 127.0f * 0.01f);
    }
    qb_observer_free(o);
}

/* Expected squared error of an int8 quantizer with `steps` steps over
 * [0, a] per side (rounding noise d^2/12, d = a/steps, over the values
 * inside) plus the clipping error of the tails beyond a, for N(0,1) and
 * Laplace(b) (both tails) and ReLU(N(0,1)) (one tail; zeros exact). */
static double norm_tail(double a) { return 0.5 * erfc(a / sqrt(2.0)); }
static double norm_pdf(double a) { return exp(-a * a / 2) / sqrt(2 * M_PI); }
static double err_gauss(double a, double steps)
{
    double d = a / steps;
    return 2 * ((1 + a * a) * norm_tail(a) - a * norm_pdf(a)) + d * d / 12;
}
static double err_laplace(double a, double b, double steps)
{
    double d = a / steps;
    return 2 * b * b * exp(-a / b) + d * d / 12;
}
static double err_relu(double a, double steps)
{
    double d = a / steps;
    return (1 + a * a) * norm_tail(a) - a * norm_pdf(a) + 0.5 * d * d / 12;
}
/* The minimum of a unimodal f(a, ...) on [lo, hi] (ternary search). */
static double argmin_gauss(double lo, double hi, double steps)
{
    for (int i = 0; i < 200; i++) {
        double m1 = lo + (hi - lo) / 3, m2 = hi - (hi - lo) / 3;
        if (err_gauss(m1, steps) < err_gauss(m2, steps))
            hi = m2;
        else
            lo = m1;
    }
    return (lo + hi) / 2;
}

/* Each calibrator against the known answer on synthetic distributions
 * (10^6 values each):
 *   percentile 99.99: the true quantiles, N(0,1) +-3.7190, Laplace with
 *     b = 1/sqrt 2 (variance 1) b ln 5000 = 6.0226, ReLU(N(0,1)) 3.7190
 *     (its upper 1e-4 tail is N(0,1)'s); sampling error ~0.03
 *   mse: the analytic optimum of rounding noise + clipping error,
 *     N(0,1) 3.921 (symmetric, 127 steps), Laplace 6.988, ReLU(N(0,1))
 *     4.215 (asymmetric, 255 steps over [0, a]); the chosen range must
 *     cost at most 2% more than the optimum in that model (the curve is
 *     flat near its minimum) and on the data itself no more than a
 *     brute-force scan of thresholds (also with 20 outliers at 20 sigma)
 *   kl: uniform data has nothing to clip (every level holds a flat
 *     density), so T = max; also with half of the values on one atom
 *     (the background pixel of normalised images), which before the atom
 *     rule clipped at the atom (T = 0.81 of 2.02) */
static void test_calibrators_known_optima(void **state)
{
    (void)state;
    const size_t n = 1000000;
    float *x = malloc(n * sizeof *x);
    assert_non_null(x);
    float lo, hi;
    /* N(0,1) */
    rng_state = 2024;
    for (size_t i = 0; i < n; i++)
        x[i] = (float)gauss();
    assert_int_equal(calib_range(QB_CALIB_PERCENTILE, x, n, 0, &lo, &hi, NULL, 0), 0);
    assert_near(lo, -3.7190, 0.1);
    assert_near(hi, 3.7190, 0.1);
    assert_int_equal(calib_range(QB_CALIB_MSE, x, n, 1, &lo, &hi, NULL, 0), 0);
    double a_opt = argmin_gauss(1, 8, 127);
    assert_near(a_opt, 3.9206, 1e-3);
    assert_true(err_gauss(hi, 127) <= 1.02 * err_gauss(a_opt, 127));
    assert_near(hi, a_opt, 0.15);
    /* Laplace, variance 1 */
    const double b = 1 / sqrt(2.0);
    for (size_t i = 0; i < n; i++) {
        double u = urand(), v = urand();
        x[i] = (float)((u < 0.5 ? 1 : -1) * -b * log(v + 1e-300));
    }
    assert_int_equal(calib_range(QB_CALIB_PERCENTILE, x, n, 0, &lo, &hi, NULL, 0), 0);
    assert_near(lo, -6.0226, 0.2);
    assert_near(hi, 6.0226, 0.2);
    assert_int_equal(calib_range(QB_CALIB_MSE, x, n, 1, &lo, &hi, NULL, 0), 0);
    assert_true(err_laplace(hi, b, 127) <= 1.02 * err_laplace(6.988, b, 127));
    assert_near(hi, 6.988, 0.3);
    /* ReLU(N(0,1)), then with 20 outliers at 20 sigma */
    for (size_t i = 0; i < n; i++) {
        double g = gauss();
        x[i] = g > 0 ? (float)g : 0.0f;
    }
    assert_int_equal(calib_range(QB_CALIB_PERCENTILE, x, n, 0, &lo, &hi, NULL, 0), 0);
    assert_true(lo == 0);
    assert_near(hi, 3.7190, 0.1);
    assert_int_equal(calib_range(QB_CALIB_MSE, x, n, 0, &lo, &hi, NULL, 0), 0);
    assert_true(lo == 0);
    assert_true(err_relu(hi, 255) <= 1.02 * err_relu(4.2147, 255));
    for (int i = 0; i < 20; i++)
        x[i * 50000] = 20.0f;
    /* percentile with the outliers: 100 values lie above rank 0.9999 N, 20
     * of them the outliers, so hi is N(0,1)'s quantile of tail 80 / 10^6
     * (3.775), not the outliers */
    assert_int_equal(calib_range(QB_CALIB_PERCENTILE, x, n, 0, &lo, &hi, NULL, 0), 0);
    double z_lo = 3, z_hi = 5;
    for (int it = 0; it < 100; it++) {
        double z = (z_lo + z_hi) / 2;
        if (norm_tail(z) > 80e-6)
            z_lo = z;
        else
            z_hi = z;
    }
    assert_true(lo == 0);
    assert_near(hi, z_lo, 0.1);
    assert_int_equal(calib_range(QB_CALIB_MSE, x, n, 0, &lo, &hi, NULL, 0), 0);
    double e_mse = data_mse(x, n, lo, hi, 0), e_best = INFINITY;
    for (double a = 2.0; a <= 20.0; a += 0.05)
        e_best = fmin(e_best, data_mse(x, n, 0, (float)a, 0));
    assert_true(e_mse <= 1.01 * e_best);
    /* kl: uniform, then uniform plus an atom holding half of the values */
    for (size_t i = 0; i < n; i++)
        x[i] = (float)urand();
    assert_int_equal(calib_range(QB_CALIB_KL, x, n, 0, &lo, &hi, NULL, 0), 0);
    assert_true(lo == 0 && hi >= 0.98f);
    const float bg = -0.8102f, top = 2.0227f;
    for (size_t i = 0; i < n; i++)
        x[i] = urand() < 0.5 ? bg : (float)(bg + urand() * (top - bg));
    assert_int_equal(calib_range(QB_CALIB_KL, x, n, 0, &lo, &hi, NULL, 0), 0);
    assert_true(lo == bg);
    assert_true(hi >= 0.98f * top);
    /* the zoo cnn's first convolution: ReLU outputs (half zeros, a
     * half-normal bulk) plus one constant per channel on the image
     * background: 12 atoms of 1% each, a few times the bulk's density
     * around them. The threshold must be what the bulk alone gives, not
     * the hard clip the atoms caused (3.3 of 8.5 on the cnn; here 1.4
     * against 4.3) */
    float t_bulk;
    rng_state = 99;
    for (size_t i = 0; i < n; i++) {
        double g = gauss();
        x[i] = g > 0 ? (float)g : 0.0f;
    }
    assert_int_equal(calib_range(QB_CALIB_KL, x, n, 0, &lo, &t_bulk, NULL, 0), 0);
    for (size_t i = 0; i < n; i++)
        if (i % 100 < 12)
            x[i] = 0.15f * (float)(i % 100 + 1);
    assert_int_equal(calib_range(QB_CALIB_KL, x, n, 0, &lo, &hi, NULL, 0), 0);
    assert_true(hi >= 0.9f * t_bulk && hi <= 1.1f * t_bulk);
    /* an atom beyond the threshold still counts as clipped: a few values
     * far out (2% on one atom at 10x the bulk's extent) are kept in range */
    for (size_t i = 0; i < n; i++)
        x[i] = i % 50 == 0 ? 10.0f : (float)urand();
    assert_int_equal(calib_range(QB_CALIB_KL, x, n, 0, &lo, &hi, NULL, 0), 0);
    assert_true(hi >= 9.8f);
    free(x);
}

/* ptq-kl on mixed-sign data under the asymmetric quantizer. A HardSwish
 * output (here N(0,1) with the negative side scaled by 0.02, range about
 * [-0.1, 4.9]) gets 256 codes over [lo, T], about 250 of them on
 * [0, T]: nearly the quantizer of the one-signed data |x| (same |x|
 * histogram, 256 codes on [0, T]), so KL must choose nearly the same T
 * for both (3.70 and 3.72). Modelled with 128 levels (the signed case),
 * as before, it chose 3.35 (PP-OCRv4 rec's HardSwish outputs: 0.35-0.9 of
 * their range). A range symmetric about 0 keeps 128 levels: N(0,1) gets the
 * same T under either quantizer, within the one-level difference. */
static void test_observer_kl_mixed_sign(void **state)
{
    (void)state;
    const size_t n = 1000000;
    float *x = malloc(n * sizeof *x), *ax = malloc(n * sizeof *ax);
    assert_non_null(x);
    assert_non_null(ax);
    rng_state = 77;
    for (size_t i = 0; i < n; i++) {
        double g = gauss();
        x[i] = (float)(g > 0 ? g : 0.02 * g);
        ax[i] = fabsf(x[i]);
    }
    float lo, hi, lo_f, t_fold;
    assert_int_equal(calib_range(QB_CALIB_KL, ax, n, 0, &lo_f, &t_fold, NULL, 0), 0);
    assert_int_equal(calib_range(QB_CALIB_KL, x, n, 0, &lo, &hi, NULL, 0), 0);
    float mn = 0;
    for (size_t i = 0; i < n; i++)
        mn = fminf(mn, x[i]);
    assert_true(lo_f == 0 && lo == mn);
    assert_true(hi >= 0.97f * t_fold && hi <= 1.03f * t_fold);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)gauss();
    float lo_s, hi_s;
    assert_int_equal(calib_range(QB_CALIB_KL, x, n, 1, &lo_s, &hi_s, NULL, 0), 0);
    assert_int_equal(calib_range(QB_CALIB_KL, x, n, 0, &lo, &hi, NULL, 0), 0);
    assert_true(hi >= 0.98f * hi_s && hi <= 1.02f * hi_s);
    free(x);
    free(ax);
}

/* ReLU-like one-sided data (half exact zeros): lo = 0 for every calibrator
 * (asymmetric), hi within the data. */
static void test_observer_relu(void **state)
{
    (void)state;
    const size_t n = 100000;
    float *x = malloc(n * sizeof *x);
    assert_non_null(x);
    rng_state = 4242;
    float mx = 0;
    for (size_t i = 0; i < n; i++) {
        double g = gauss();
        x[i] = g > 0 ? (float)g : 0.0f;
        if (x[i] > mx)
            mx = x[i];
    }
    for (int k = 0; k < QB_CALIB_COUNT; k++) {
        float lo, hi;
        assert_int_equal(calib_range((qb_calib)k, x, n, 0, &lo, &hi, NULL, 0), 0);
        assert_true(lo == 0.0f);
        assert_true(hi > 1.0f && hi <= mx);
        if (k == QB_CALIB_MINMAX)
            assert_true(hi == mx);
        assert_int_equal(calib_range((qb_calib)k, x, n, 1, &lo, &hi, NULL, 0), 0);
        assert_true(lo == -hi && hi > 1.0f);
    }
    free(x);
}

static void test_observer_edge_cases(void **state)
{
    (void)state;
    float lo, hi;
    char warn[256];
    for (int k = 0; k < QB_CALIB_COUNT; k++) {
        /* nothing seen */
        qb_observer *o = qb_observer_new((qb_calib)k, 0, 0);
        assert_non_null(o);
        assert_int_equal(qb_observer_needs_pass2(o), k != QB_CALIB_MINMAX);
        assert_int_equal(qb_observer_range(o, 0, &lo, &hi, fresh(warn), sizeof warn), 1);
        assert_true(lo == 0 && hi == 0);
        assert_non_null(strstr(warn, "no finite values"));
        /* only NaN / Inf */
        const float bad[3] = {NAN, INFINITY, NAN};
        qb_observer_pass1(o, bad, 3);
        qb_observer_pass2(o, bad, 3);
        assert_int_equal(qb_observer_range(o, 0, &lo, &hi, fresh(warn), sizeof warn), 1);
        assert_non_null(strstr(warn, "2 NaN and 1 Inf"));
        assert_non_null(strstr(warn, "no finite values"));
        qb_observer_free(o);

        /* all zeros */
        o = qb_observer_new((qb_calib)k, 0, 0);
        const float z[4] = {0, 0, -0.0f, 0};
        qb_observer_pass1(o, z, 4);
        qb_observer_pass2(o, z, 4);
        assert_int_equal(qb_observer_range(o, 1, &lo, &hi, fresh(warn), sizeof warn), 1);
        assert_non_null(strstr(warn, "zero range"));
        qb_qparams qp;
        assert_int_equal(qb_qparams_from_range(lo, hi, 1, &qp, NULL, 0), 1);
        assert_true(qp.scale == 1.0f);
        qb_observer_free(o);

        /* a constant: [0, 5] whatever the calibrator; NaN counted and skipped */
        o = qb_observer_new((qb_calib)k, 0, 0);
        const float c[4] = {5, 5, NAN, 5};
        qb_observer_pass1(o, c, 4);
        qb_observer_pass2(o, c, 4);
        assert_int_equal(qb_observer_range(o, 0, &lo, &hi, fresh(warn), sizeof warn), 1);
        assert_true(lo == 0 && hi == 5);
        assert_non_null(strstr(warn, "1 NaN and 0 Inf"));
        float mn, mx;
        uint64_t fin, nonfin;
        qb_observer_stats(o, &mn, &mx, &fin, &nonfin);
        assert_true(mn == 5 && mx == 5);
        assert_int_equal(fin, 3);
        assert_int_equal(nonfin, 1);
        qb_observer_free(o);
    }
    /* pass 2 forgotten: minmax range, with a warning */
    const float d[5] = {-1, 0.5f, 2, 3, -0.25f};
    qb_observer *o = qb_observer_new(QB_CALIB_MSE, 0, 0);
    qb_observer_pass1(o, d, 5);
    assert_int_equal(qb_observer_range(o, 0, &lo, &hi, fresh(warn), sizeof warn), 1);
    assert_true(lo == -1 && hi == 3);
    assert_non_null(strstr(warn, "pass 2"));
    /* values outside the pass-1 range in pass 2 are counted */
    const float out[2] = {10, -10};
    qb_observer_pass2(o, d, 5);
    qb_observer_pass2(o, out, 2);
    assert_int_equal(qb_observer_range(o, 0, &lo, &hi, fresh(warn), sizeof warn), 1);
    assert_non_null(strstr(warn, "2 pass-2 values outside"));
    qb_observer_free(o);
    /* unknown kind */
    assert_null(qb_observer_new((qb_calib)7, 0, 0));
}

/* Same data, same result, bit for bit (histogram calibrators included). */
static void test_observer_deterministic(void **state)
{
    (void)state;
    const size_t n = 20000;
    float *x = malloc(n * sizeof *x);
    assert_non_null(x);
    rng_state = 5;
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(gauss() * 2 + 0.5);
    for (int k = 0; k < QB_CALIB_COUNT; k++) {
        float l1, h1, l2, h2;
        calib_range((qb_calib)k, x, n, 0, &l1, &h1, NULL, 0);
        calib_range((qb_calib)k, x, n, 0, &l2, &h2, NULL, 0);
        assert_memory_equal(&l1, &l2, sizeof l1);
        assert_memory_equal(&h1, &h2, sizeof h1);
        assert_true(l1 < 0 && h1 > 0);
    }
    free(x);
}

/* ---- metrics ---- */

static void test_metrics_identical(void **state)
{
    (void)state;
    const float r[2 * 3] = {1, 2, 3, 5, -1, 0};
    const int32_t labels[2] = {2, 1};
    qb_metrics_acc a;
    qb_metrics m;
    qb_metrics_init(&a);
    qb_metrics_add(&a, r, r, labels, 2, 3);
    qb_metrics_finish(&a, &m);
    assert_int_equal(m.samples, 2);
    assert_true(isinf(m.sqnr_db) && m.sqnr_db > 0);
    assert_near(m.agreement, 100.0, 0);
    assert_near(m.kl_div, 0.0, 0);
    assert_near(m.cosine, 1.0, 1e-12);
    assert_near(m.max_abs_err, 0.0, 0);
    assert_near(m.top1, 50.0, 0);
    assert_near(m.ref_top1, 50.0, 0);
    assert_near(m.drop_pt, 0.0, 0);
    assert_true(isinf(qb_sqnr_db(r, r, 6)));
}

static void test_metrics_shifted(void **state)
{
    (void)state;
    /* q = ref + 0.5 on every logit: sum ref^2 = 30, sum err^2 = 4 * 0.25 = 1
     * -> SQNR = 10 log10(30) = 14.771 dB; softmax is shift invariant -> KL 0;
     * cosine = (30 + 0.5 * 10) / sqrt(30 * 41) = 35 / sqrt(1230) = 0.997965 */
    const float r[4] = {1, 2, 3, 4}, q[4] = {1.5f, 2.5f, 3.5f, 4.5f};
    qb_metrics_acc a;
    qb_metrics m;
    qb_sample_records kept = {0};
    qb_metrics_init(&a);
    a.keep = &kept; /* the records handed over: this sample's squared error and its bits */
    qb_metrics_add(&a, r, q, NULL, 1, 4);
    qb_metrics_finish(&a, &m);
    assert_int_equal(kept.n, 1);
    assert_near(kept.err2[0], 1.0, 0);
    assert_int_equal(kept.bits[0], 1 << 2); /* agrees, no label */
    assert_null(a.rec);
    qb_sample_records_free(&kept);
    qb_sample_records_free(&kept);
    assert_near(m.sqnr_db, 10 * log10(30.0), 1e-9);
    assert_near(m.sqnr_db, 14.771213, 1e-6);
    assert_near(m.kl_div, 0.0, 1e-12);
    assert_near(m.cosine, 35.0 / sqrt(30.0 * 41.0), 1e-12);
    assert_near(m.cosine, 0.9979654, 1e-7);
    assert_near(m.max_abs_err, 0.5, 0);
    assert_near(m.agreement, 100.0, 0);
    /* labels NULL: no accuracy */
    assert_true(isnan(m.top1));
    assert_true(isnan(m.ref_top1));
    assert_true(isnan(m.drop_pt));
    assert_near(qb_sqnr_db(r, q, 4), 14.771213, 1e-6);
    const float r2[2] = {3, 4}, z[2] = {0, 0}, t[2] = {3, 3};
    assert_near(qb_sqnr_db(r2, z, 2), 0.0, 1e-12);          /* 25 / 25 */
    assert_near(qb_sqnr_db(r2, t, 2), 10 * log10(25.0), 1e-12); /* 25 / 1 */
}

static void test_metrics_kl_accuracy(void **state)
{
    (void)state;
    /* KL((1/2, 1/2) || (3/4, 1/4)) = 0.5 ln(4/3) = 0.1438410 nats */
    const float r[2] = {0, 0}, q[2] = {(float)log(3.0), 0};
    qb_metrics_acc a;
    qb_metrics m;
    qb_metrics_init(&a);
    qb_metrics_add(&a, r, q, NULL, 1, 2);
    qb_metrics_finish(&a, &m);
    assert_near(m.kl_div, 0.5 * log(4.0 / 3.0), 1e-7);
    /* ref argmax ties -> first (0); q argmax 0: agreement */
    assert_near(m.agreement, 100.0, 0);

    /* 4 samples, 3 classes, over two batches:
     *   ref argmax 0, 1, 2, 0   labels 0, 1, 2, 2 -> ref correct 3 (75%)
     *   q   argmax 0, 2, 2, 1                     -> q correct 2 (50%)
     *   agreement: samples 0 and 2 -> 50% */
    const float ref[4 * 3] = {3, 1, 0, 0, 2, 1, 0, 0, 1, 5, 5, 0};
    const float qq[4 * 3] = {2, 1, 0, 0, 1, 2, 0, 0, 1, 4, 5, 0};
    const int32_t lab[4] = {0, 1, 2, 2};
    qb_metrics_init(&a);
    qb_metrics_add(&a, ref, qq, lab, 3, 3);
    qb_metrics_add(&a, ref + 9, qq + 9, lab + 3, 1, 3);
    qb_metrics_finish(&a, &m);
    assert_int_equal(m.samples, 4);
    assert_near(m.ref_top1, 75.0, 0);
    assert_near(m.top1, 50.0, 0);
    assert_near(m.drop_pt, 25.0, 0);
    assert_near(m.agreement, 50.0, 0);
    assert_near(m.max_abs_err, 1.0, 0);
    /* sum ref^2 = 10 + 5 + 1 + 50 = 66; err^2 = 1 + 1 + 1 + 0 + 0 + 0 + 1 = 4 */
    assert_near(m.sqnr_db, 10 * log10(66.0 / 4.0), 1e-9);
    assert_true(m.kl_div > 0);
    assert_int_equal(qb_argmax(ref + 9, 3), 0);
    /* one discordant pair: sample 1 (ref right, q wrong); sample 3 is
     * wrong for both: b = 1, c = 0 -> McNemar p = P(B(1, 1/2) >= 1) = 1/2 */
    assert_near(m.mcnemar_p, 0.5, 1e-12);
    assert_true(m.drop_ci_low <= 25.0 && m.drop_ci_high >= 25.0 && m.drop_ci_high <= 100.0);
    assert_true(m.top1_ci_low <= 50.0 && m.top1_ci_high >= 50.0);
    assert_true(m.agree_ci_low <= 50.0 && m.agree_ci_high >= 50.0);
    assert_true(m.kl_max >= m.kl_p99 && m.kl_max >= m.kl_div);
    assert_null(a.rec); /* finish released the records */

    /* crafted vectors, 1000 samples of 2 classes, labels 0: ref always
     * right; q wrong on 30 samples (b = 30, c = 0): p = 2^-30; the drop's
     * interval holds 3.0 and is about 2 x 1.96 x sqrt(0.03 x 0.97 / 1000)
     * = 2.1 pt wide; KL: 0 on 970 samples, ln(2)/2 - ... on the 30 */
    {
        enum { N = 1000 };
        static float rr[N * 2], qv[N * 2];
        static int32_t ll[N];
        for (int i = 0; i < N; i++) {
            rr[2 * i] = 1, rr[2 * i + 1] = 0;
            qv[2 * i] = i % 33 == 0 && i < 33 * 30 ? 0 : 1;
            qv[2 * i + 1] = i % 33 == 0 && i < 33 * 30 ? 1 : 0;
            ll[i] = 0;
        }
        qb_metrics_init(&a);
        qb_metrics_add(&a, rr, qv, ll, N, 2);
        qb_metrics_finish(&a, &m);
        assert_near(m.drop_pt, 3.0, 1e-12);
        assert_near(m.mcnemar_p, ldexp(1.0, -30), 1e-22);
        assert_true(m.drop_ci_low < 3.0 && m.drop_ci_high > 3.0);
        assert_true(m.drop_ci_high - m.drop_ci_low > 1.6 && m.drop_ci_high - m.drop_ci_low < 2.6);
        assert_true(m.drop_ci_low > 0); /* significantly worse, as McNemar says */
        /* KL of (e/(1+e), 1/(1+e)) against the swapped pair: (p - q) ln(p/q) with p = e/(1+e) */
        double p = exp(1.0) / (1 + exp(1.0)), klw = (2 * p - 1) * log(p / (1 - p));
        assert_near(m.kl_max, klw, 1e-9);
        assert_near(m.kl_p99, klw, 1e-9);   /* 3% of the samples lie above the 99th percentile's rank */
        assert_near(m.kl_div, 0.03 * klw, 1e-9);
    }

    /* nothing added: NaN everywhere */
    qb_metrics_init(&a);
    qb_metrics_finish(&a, &m);
    assert_int_equal(m.samples, 0);
    assert_true(isnan(m.agreement) && isnan(m.sqnr_db) && isnan(m.top1) && isnan(m.kl_div));
}

/* The output hash: the outputs bit for bit in sample order, whatever the
 * batch split; one flipped bit (or -0 for 0) changes it; FNV-1a's known
 * digest of the four bytes of 1.0f (00 00 80 3f). */
static void test_metrics_output_hash(void **state)
{
    (void)state;
    float ref[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, q[12];
    memcpy(q, ref, sizeof q);
    qb_metrics_acc a;
    qb_metrics m1, m2, m3;
    qb_metrics_init(&a);
    qb_metrics_add(&a, ref, q, NULL, 4, 3);
    qb_metrics_finish(&a, &m1);
    qb_metrics_init(&a);
    qb_metrics_add(&a, ref, q, NULL, 1, 3);
    qb_metrics_add(&a, ref + 3, q + 3, NULL, 3, 3);
    qb_metrics_finish(&a, &m2);
    assert_true(m1.hashed && m2.hashed);
    assert_true(m1.output_hash == m2.output_hash);
    uint32_t u;
    memcpy(&u, &q[7], sizeof u);
    u ^= 1; /* the lowest mantissa bit */
    memcpy(&q[7], &u, sizeof u);
    qb_metrics_init(&a);
    qb_metrics_add(&a, ref, q, NULL, 4, 3);
    qb_metrics_finish(&a, &m3);
    assert_true(m3.output_hash != m1.output_hash);
    float z[2] = {0.0f, 1.0f}, nz[2] = {-0.0f, 1.0f};
    qb_metrics_init(&a);
    qb_metrics_add(&a, z, z, NULL, 1, 2);
    qb_metrics_finish(&a, &m1);
    qb_metrics_init(&a);
    qb_metrics_add(&a, z, nz, NULL, 1, 2);
    qb_metrics_finish(&a, &m2);
    assert_true(m1.output_hash != m2.output_hash);
    /* FNV-1a 64 of the bytes 00 00 80 3f, computed by hand from the definition */
    uint64_t h = 0xcbf29ce484222325ull;
    const unsigned char one[4] = {0x00, 0x00, 0x80, 0x3f};
    for (int i = 0; i < 4; i++)
        h = (h ^ one[i]) * 0x100000001b3ull;
    float f1 = 1.0f;
    qb_metrics_init(&a);
    qb_metrics_add(&a, &f1, &f1, NULL, 1, 1);
    qb_metrics_finish(&a, &m1);
    assert_true(m1.output_hash == h);
    /* nothing added: no hash */
    qb_metrics_init(&a);
    qb_metrics_finish(&a, &m1);
    assert_false(m1.hashed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_calib_names),
        cmocka_unit_test(test_quantize_ties_saturation),
        cmocka_unit_test(test_qparams_known_ranges),
        cmocka_unit_test(test_qparams_degenerate),
        cmocka_unit_test(test_fake_quant_ste),
        cmocka_unit_test(test_weights_int8),
        cmocka_unit_test(test_weights_int4),
        cmocka_unit_test(test_weights_binary),
        cmocka_unit_test(test_observer_percentile_hand),
        cmocka_unit_test(test_observer_uniform),
        cmocka_unit_test(test_observer_gauss_outliers),
        cmocka_unit_test(test_observer_skewed),
        cmocka_unit_test(test_observer_kl_grid),
        cmocka_unit_test(test_calibrators_known_optima),
        cmocka_unit_test(test_observer_kl_mixed_sign),
        cmocka_unit_test(test_observer_relu),
        cmocka_unit_test(test_observer_edge_cases),
        cmocka_unit_test(test_observer_deterministic),
        cmocka_unit_test(test_metrics_identical),
        cmocka_unit_test(test_metrics_shifted),
        cmocka_unit_test(test_metrics_kl_accuracy),
        cmocka_unit_test(test_metrics_output_hash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
