/*
 * test_scalar.c - the scalar references and the shared arithmetic against
 * hand-computed cases: binary16 rounding (ties to even, subnormals,
 * overflow, NaN), requantization (ties away from zero, saturation at both
 * ends, zero points), each GEMM and depthwise family on a tiny worked
 * example, the registry and QB_FORCE_ISA.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kernels/kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

static float bits_f(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static void test_f16_cases(void **state)
{
    (void)state;
    assert_int_equal(qb_f32_to_f16(1.0f), 0x3c00);
    assert_int_equal(qb_f32_to_f16(-2.0f), 0xc000);
    assert_int_equal(qb_f32_to_f16(65504.0f), 0x7bff);     /* largest finite */
    assert_int_equal(qb_f32_to_f16(65519.0f), 0x7bff);     /* below the tie */
    assert_int_equal(qb_f32_to_f16(65520.0f), 0x7c00);     /* tie rounds to even: infinity */
    assert_int_equal(qb_f32_to_f16(1.0f + 0x1p-11f), 0x3c00);      /* tie, even stays */
    assert_int_equal(qb_f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3c02);  /* tie, odd rounds up */
    assert_int_equal(qb_f32_to_f16(0x1p-24f), 0x0001);     /* smallest subnormal */
    assert_int_equal(qb_f32_to_f16(0x1p-25f), 0x0000);     /* tie to even: zero */
    assert_int_equal(qb_f32_to_f16(3 * 0x1p-25f), 0x0002); /* 1.5 ulp: tie to even 2 */
    assert_int_equal(qb_f32_to_f16(0x1p-14f - 0x1p-25f), 0x0400); /* rounds up into normal */
    assert_int_equal(qb_f32_to_f16(-0.0f), 0x8000);
    assert_int_equal(qb_f32_to_f16(INFINITY), 0x7c00);
    assert_int_equal(qb_f32_to_f16(-INFINITY), 0xfc00);
    assert_int_equal(qb_f32_to_f16(1e-30f), 0x0000);
    uint16_t nan = qb_f32_to_f16(bits_f(0x7fc00000u));
    assert_true((nan & 0x7c00) == 0x7c00 && (nan & 0x3ff) != 0);
    nan = qb_f32_to_f16(bits_f(0x7f800001u)); /* signalling NaN, payload below half bits */
    assert_true((nan & 0x7c00) == 0x7c00 && (nan & 0x3ff) != 0);
    assert_true(qb_f16_to_f32(0x0001) == 0x1p-24f);
    assert_true(qb_f16_to_f32(0x03ff) == 0x3ffp-24f);
    assert_true(qb_f16_to_f32(0x7bff) == 65504.0f);
    assert_true(isinf(qb_f16_to_f32(0xfc00)) && qb_f16_to_f32(0xfc00) < 0);
    assert_true(isnan(qb_f16_to_f32(0x7e00)));
}

static void test_f16_roundtrip(void **state)
{
    (void)state;
    for (uint32_t h = 0; h < 0x10000u; h++) {
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff))
            continue; /* NaN: checked above */
        assert_int_equal(qb_f32_to_f16(qb_f16_to_f32((uint16_t)h)), h);
    }
}

#if defined(__x86_64__)
__attribute__((target("f16c"))) static uint16_t hw_f16(float f)
{
    return (uint16_t)_cvtss_sh(f, 0);
}

static void test_f16_matches_f16c(void **state)
{
    (void)state;
    if (!(qb_cpu_features() & QB_CPU_F16C))
        skip();
    uint64_t s = 88172645463325252ull;
    for (int i = 0; i < 2000000; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        float f = bits_f((uint32_t)s);
        if (isnan(f))
            continue;
        uint16_t a = qb_f32_to_f16(f), b = hw_f16(f);
        if (a != b)
            fail_msg("f32 0x%08x: ours 0x%04x, F16C 0x%04x", (unsigned)(uint32_t)s, a, b);
    }
}
#endif

static void test_requant(void **state)
{
    (void)state;
    qb_requant half, rq;
    assert_int_equal(qb_requant_from_real(0.5, &half), 0);
    assert_int_equal(half.multiplier, 1 << 30);
    assert_int_equal(half.rshift, 31);
    /* ties go away from zero */
    assert_int_equal(qb_requant_round(1, half), 1);
    assert_int_equal(qb_requant_round(-1, half), -1);
    assert_int_equal(qb_requant_round(3, half), 2);
    assert_int_equal(qb_requant_round(-3, half), -2);
    assert_int_equal(qb_requant_round(5, half), 3);
    assert_int_equal(qb_requant_round(-5, half), -3);
    assert_int_equal(qb_requant_round(4, half), 2);
    assert_int_equal(qb_requant_round(0, half), 0);
    assert_int_equal(qb_requant_round(INT32_MIN, half), -(1 << 30));
    assert_int_equal(qb_requant_round(INT32_MAX, half), 1 << 30);
    /* saturation at both ends, zero points, fused ReLU bounds */
    assert_int_equal(qb_requant_apply(1000, half, 0, -128, 127), 127);
    assert_int_equal(qb_requant_apply(-1000, half, 0, -128, 127), -128);
    assert_int_equal(qb_requant_apply(INT32_MIN, half, -128, -128, 127), -128);
    assert_int_equal(qb_requant_apply(INT32_MAX, half, 127, -128, 127), 127);
    assert_int_equal(qb_requant_apply(10, half, -5, -128, 127), 0);
    assert_int_equal(qb_requant_apply(-30, half, 7, 7, 127), 7);
    assert_int_equal(qb_requant_apply(253, half, 0, -128, 127), 127); /* 126.5 -> 127 */
    assert_int_equal(qb_requant_apply(251, half, 0, -128, 127), 126); /* 125.5 -> 126 */
    /* an arbitrary multiplier: 0.3 * 1000 = 300 exactly representable? close */
    assert_int_equal(qb_requant_from_real(0.3, &rq), 0);
    assert_int_equal(qb_requant_round(1000, rq), 300);
    assert_int_equal(qb_requant_round(-1005, rq), -302); /* -301.5 -> -302 */
    /* near 1: never overflows */
    assert_int_equal(qb_requant_from_real(0.9999999999, &rq), 0);
    assert_int_equal(qb_requant_apply(INT32_MIN, rq, -128, -128, 127), -128);
    /* tiny multipliers fold into rshift 62 */
    assert_int_equal(qb_requant_from_real(1e-15, &rq), 0);
    assert_int_equal(rq.rshift, 62);
    assert_true(rq.multiplier > 0);
    assert_int_equal(qb_requant_round(INT32_MAX, rq), 0);
    /* refused: not in (0, 1) */
    assert_int_equal(qb_requant_from_real(1.0, &rq), -1);
    assert_int_equal(qb_requant_from_real(0.0, &rq), -1);
    assert_int_equal(qb_requant_from_real(2.5, &rq), -1);
    assert_int_equal(qb_requant_from_real(NAN, &rq), -1);
}

static const qb_kernel *scalar(qb_op op, qb_precision p)
{
    const qb_kernel *k = qb_kernel_get(op, p, QB_ISA_SCALAR);
    assert_non_null(k);
    return k;
}

static void test_gemm_f32_f16(void **state)
{
    (void)state;
    float W[] = {1, 2, 3, -1, 0.5f, 0.25f}, A[] = {1, 1, 1, 2, 0, -4}, b[] = {0.5f, -1};
    qb_weights w = {.n = 2, .k = 3, .f32 = W, .bias_f32 = b};
    for (int f16 = 0; f16 < 2; f16++) {
        qb_packed p;
        char err[200];
        assert_int_equal(qb_pack(scalar(QB_OP_GEMM, f16 ? QB_PREC_FP16 : QB_PREC_FP32), &w, &p, err, sizeof err), 0);
        float C[4];
        qb_gemm_args a = {.m = 2, .a = A, .lda = 3, .c = C, .ldc = 2, .f_min = -INFINITY, .f_max = INFINITY};
        p.kernel->run.gemm(&p, &a);
        assert_true(C[0] == 6.5f && C[1] == -1.25f && C[2] == -9.5f && C[3] == -4.0f);
        a.f_min = 0.0f; /* fused ReLU */
        p.kernel->run.gemm(&p, &a);
        assert_true(C[0] == 6.5f && C[1] == 0.0f && C[2] == 0.0f);
        qb_packed_free(&p);
    }
}

static void test_gemm_i8(void **state)
{
    (void)state;
    int8_t W[] = {1, -1, 2, 127, -127, 0}, A[] = {1, 2, 3};
    int32_t b[] = {10, -5}, C32[2];
    int8_t C8[2];
    qb_weights w = {.n = 2, .k = 3, .i8 = W, .bias_i32 = b};
    qb_requant rq[2];
    qb_requant_from_real(0.5, &rq[0]);
    qb_requant_from_real(0.25, &rq[1]);
    for (int pc = 0; pc < 2; pc++) {
        qb_packed p;
        char err[200];
        assert_int_equal(qb_pack(scalar(QB_OP_GEMM, pc ? QB_PREC_INT8_CHANNEL : QB_PREC_INT8_TENSOR), &w, &p, err, sizeof err), 0);
        assert_int_equal(p.wsum[0], 2);
        assert_int_equal(p.wsum[1], 0);
        qb_gemm_args a = {.m = 1, .a = A, .lda = 3, .c = C32, .ldc = 2, .a_zero = 1, .rq = rq,
                          .c_zero = 3, .c_min = -128, .c_max = 127, .out_i32 = 1};
        p.kernel->run.gemm(&p, &a); /* 10 + (0*1 + 1*-1 + 2*2) = 13; -5 + (1*-127) = -132 */
        assert_int_equal(C32[0], 13);
        assert_int_equal(C32[1], -132);
        a.out_i32 = 0;
        a.c = C8;
        p.kernel->run.gemm(&p, &a); /* 6.5 -> 7 (+3); -66 or -33 (+3) */
        assert_int_equal(C8[0], 10);
        assert_int_equal(C8[1], pc ? -30 : -63);
        qb_packed_free(&p);
    }
    int8_t bad[] = {-128, 0, 0};
    qb_weights wb = {.n = 1, .k = 3, .i8 = bad};
    qb_packed p;
    char err[200];
    assert_int_equal(qb_pack(scalar(QB_OP_GEMM, QB_PREC_INT8_CHANNEL), &wb, &p, err, sizeof err), -1);
    assert_non_null(strstr(err, "-128"));
}

static void test_gemm_i4(void **state)
{
    (void)state;
    int8_t W[] = {-8, 7, 3};
    int8_t A[] = {2, 1, -1};
    float s[] = {0.5f}, b[] = {1.0f}, C[1];
    qb_weights w = {.n = 1, .k = 3, .i8 = W, .scale = s, .bias_f32 = b};
    qb_packed p;
    char err[200];
    assert_int_equal(qb_pack(scalar(QB_OP_GEMM, QB_PREC_INT4), &w, &p, err, sizeof err), 0);
    const uint8_t *bytes = p.w;
    assert_int_equal(bytes[0], 0x78); /* -8 low nibble, 7 high nibble */
    assert_int_equal(bytes[1], 0x03); /* odd K: zero pad nibble */
    qb_gemm_args a = {.m = 1, .a = A, .lda = 3, .c = C, .ldc = 1, .a_scale = 0.1f,
                      .f_min = -INFINITY, .f_max = INFINITY};
    p.kernel->run.gemm(&p, &a); /* isum = -16 + 7 - 3 = -12; acc = -6; -6 * 0.1 + 1 */
    assert_true(C[0] == fmaf(-6.0f, 0.1f, 1.0f));
    a.a_zero = 1; /* isum = sum (a - 1) w = -8 + 0 - 6 = -14 */
    p.kernel->run.gemm(&p, &a);
    assert_true(C[0] == fmaf(-7.0f, 0.1f, 1.0f));
    qb_packed_free(&p);
    int8_t bad[] = {8};
    qb_weights wb = {.n = 1, .k = 1, .i8 = bad, .scale = s};
    assert_int_equal(qb_pack(scalar(QB_OP_GEMM, QB_PREC_INT4), &wb, &p, err, sizeof err), -1);
    wb.i8 = W;
    wb.group = 48;
    assert_int_equal(qb_pack(scalar(QB_OP_GEMM, QB_PREC_INT4), &wb, &p, err, sizeof err), -1);
}

static void test_gemm_b1(void **state)
{
    (void)state;
    float W[] = {1, 1, -1}, X[] = {2, -3, 0.5f}, alpha[] = {2}, b[] = {0.5f}, C[1];
    uint64_t A[1];
    qb_binary_pack_rows(X, 1, 3, 3, A, 1);
    assert_true(A[0] == 2u);
    qb_weights w = {.n = 1, .k = 3, .f32 = W, .scale = alpha, .bias_f32 = b};
    qb_packed p;
    char err[200];
    assert_int_equal(qb_pack(scalar(QB_OP_GEMM, QB_PREC_BINARY), &w, &p, err, sizeof err), 0);
    qb_gemm_args a = {.m = 1, .a = A, .lda = 1, .c = C, .ldc = 1, .f_min = -INFINITY, .f_max = INFINITY};
    p.kernel->run.gemm(&p, &a); /* (+,-,+).(+,+,-) = 1 - 1 - 1 = -1 -> -1 * 2 + 0.5 */
    assert_true(C[0] == -1.5f);
    qb_packed_free(&p);
}

static void test_dw(void **state)
{
    (void)state;
    float x[9], W[9], b[1] = {0}, y[9];
    int8_t xi[9], Wi[9], yi[9];
    int32_t bi[1] = {8};
    for (int i = 0; i < 9; i++) {
        x[i] = 1.0f;
        W[i] = (float)(i + 1);
        xi[i] = -3;
        Wi[i] = (int8_t)(i + 1);
    }
    qb_weights w = {.n = 1, .k = 9, .f32 = W, .bias_f32 = b};
    qb_packed p;
    char err[200];
    assert_int_equal(qb_pack(scalar(QB_OP_DWCONV, QB_PREC_FP32), &w, &p, err, sizeof err), 0);
    qb_dw_args a = {.h = 3, .w = 3, .c = 1, .kh = 3, .kw = 3, .stride_h = 1, .stride_w = 1, .dil_h = 1, .dil_w = 1, .pad_t = 1, .pad_l = 1, .out_h = 3, .out_w = 3,
                    .x = x, .y = y, .f_min = -INFINITY, .f_max = INFINITY};
    p.kernel->run.dw(&p, &a);
    assert_true(y[4] == 45.0f);           /* every tap */
    assert_true(y[0] == 5 + 6 + 8 + 9.0f); /* top-left: taps (1,1) (1,2) (2,1) (2,2) */
    assert_true(y[8] == 1 + 2 + 4 + 5.0f);
    a.stride_h = a.stride_w = 2;
    a.out_h = a.out_w = 2;
    p.kernel->run.dw(&p, &a);
    assert_true(y[0] == 28.0f && y[3] == 12.0f);
    qb_packed_free(&p);

    /* int8: input equal to its zero point contributes nothing */
    qb_weights wi = {.n = 1, .k = 9, .i8 = Wi, .bias_i32 = bi};
    assert_int_equal(qb_pack(scalar(QB_OP_DWCONV, QB_PREC_INT8_CHANNEL), &wi, &p, err, sizeof err), 0);
    qb_requant rq;
    qb_requant_from_real(0.25, &rq);
    qb_dw_args ai = {.h = 3, .w = 3, .c = 1, .kh = 3, .kw = 3, .stride_h = 1, .stride_w = 1, .dil_h = 1, .dil_w = 1, .pad_t = 1, .pad_l = 1, .out_h = 3, .out_w = 3,
                     .x = xi, .y = yi, .x_zero = -3, .rq = &rq, .y_zero = 1, .y_min = -128, .y_max = 127};
    p.kernel->run.dw(&p, &ai);
    for (int i = 0; i < 9; i++)
        assert_int_equal(yi[i], 3); /* 8 * 0.25 + 1 */
    ai.x_zero = -4;                 /* now every in-image tap adds w: centre 8 + 45 */
    p.kernel->run.dw(&p, &ai);
    assert_int_equal(yi[4], 14); /* 53 * 0.25 = 13.25 -> 13, + 1 */
    assert_int_equal(yi[0], 1 + 9); /* 8 + 28 = 36 -> 9, + 1 */
    qb_packed_free(&p);
}

static void test_registry(void **state)
{
    (void)state;
    int n;
    const qb_kernel *all = qb_kernels(&n);
    assert_true(n > 0);
    for (int i = 0; i < n; i++) {
        assert_non_null(strstr(all[i].name, qb_isa_name(all[i].isa)));
        assert_ptr_equal(qb_kernel_find(all[i].name), &all[i]);
        assert_non_null(qb_kernel_get(all[i].op, all[i].prec, QB_ISA_SCALAR));
        for (int j = 0; j < i; j++)
            assert_string_not_equal(all[i].name, all[j].name);
    }
    for (int p = 0; p < QB_PREC_MIXED; p++)
        for (int isa = 0; isa < QB_ISA_COUNT; isa++)
            if (!qb_kernel_get(QB_OP_GEMM, p, isa))
                fail_msg("no GEMM kernel for %s on %s", qb_precision_name(p), qb_isa_name(isa));
    assert_int_equal(qb_precision_parse("int8-channel"), QB_PREC_INT8_CHANNEL);
    assert_int_equal(qb_precision_parse("int9"), -1);
    assert_int_equal(qb_isa_parse("vnni"), QB_ISA_VNNI);
    setenv("QB_FORCE_ISA", "scalar", 1);
    for (int p = 0; p < QB_PREC_MIXED; p++)
        assert_int_equal(qb_kernel_select(QB_OP_GEMM, p)->isa, QB_ISA_SCALAR);
    setenv("QB_FORCE_ISA", "bogus", 1);
    assert_int_equal(qb_forced_isa(), -2);
    unsetenv("QB_FORCE_ISA");
    const qb_kernel *best = qb_kernel_select(QB_OP_GEMM, QB_PREC_INT8_CHANNEL);
    assert_non_null(best);
    assert_true(qb_kernel_available(best, NULL, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f16_cases),
        cmocka_unit_test(test_f16_roundtrip),
#if defined(__x86_64__)
        cmocka_unit_test(test_f16_matches_f16c),
#endif
        cmocka_unit_test(test_requant),
        cmocka_unit_test(test_gemm_f32_f16),
        cmocka_unit_test(test_gemm_i8),
        cmocka_unit_test(test_gemm_i4),
        cmocka_unit_test(test_gemm_b1),
        cmocka_unit_test(test_dw),
        cmocka_unit_test(test_registry),
    };
    return cmocka_run_group_tests_name("scalar references", tests, NULL, NULL);
}
