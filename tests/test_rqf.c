/*
 * test_rqf.c - the faster exact requantization of kernels/rqf.h against
 * the reference kernels/scalar/requant.c (qb_requant_apply): multipliers
 * with 0..24 trailing zero bits (the odd form and the rescaled form of
 * qb_rqf_reduce), random accumulators and the negative ties where the
 * rescaled form rounds the other way, output zero points up to
 * QB_RQF_ZERO_MAX, through the int8 narrowing every AVX2 kernel uses
 * (r saturated to int16, + zero saturating, saturated to int8, clamped):
 * the same byte every time. On a CPU with AVX2, requant_avx2.h's 8-lane
 * set-up (qb_avx2_rqf8_set / _load) and qb_avx2_round8_fast give the same
 * r as the scalar formula, and accept the same multipliers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdio.h>

#include "kernels/kernels.h"
#include "kernels/rqf.h"

#if defined(__x86_64__)
#pragma GCC push_options
#pragma GCC target("avx2")
#include "kernels/avx2/requant_avx2.h"
#pragma GCC pop_options
#endif

static uint64_t g_state = 0x9e3779b97f4a7c15ull;
static uint64_t next(void) /* xorshift64* */
{
    g_state ^= g_state >> 12;
    g_state ^= g_state << 25;
    g_state ^= g_state >> 27;
    return g_state * 0x2545f4914f6cdd1dull;
}

/* r of the faster form: (hi32(acc * m) + 2^(s-33)) >> (s-32), signed. */
static int32_t rqf_round(int32_t acc, uint32_t m, int s)
{
    int32_t h = (int32_t)(((int64_t)acc * (int64_t)m) >> 32);
    return (int32_t)(((int64_t)h + (1ll << (s - 33))) >> (s - 32));
}

static int32_t sat(int64_t v, int32_t lo, int32_t hi) { return v < lo ? lo : v > hi ? hi : (int32_t)v; }

/* The AVX2 kernels' narrowing of r: int16 saturation, + zero saturating,
 * int8 saturation, clamp. */
static int8_t narrow(int32_t r, int32_t zero, int32_t lo, int32_t hi)
{
    int32_t v = sat((int64_t)sat(r, -32768, 32767) + zero, -32768, 32767);
    return (int8_t)sat(sat(v, -128, 127), lo, hi);
}

/* A multiplier of a random real scale below 1/4 (rshift >= 33), with tz
 * low bits cleared. */
static qb_requant rand_rq(int tz)
{
    qb_requant rq;
    double real = (double)(next() % 1000000 + 1) / 1000000.0 * 0.25 / (double)(1u << (next() % 12));
    assert_int_equal(qb_requant_from_real(real, &rq), 0);
    rq.multiplier &= (int32_t)(~0u << tz);
    return rq;
}

static int32_t rand_acc(void)
{
    switch (next() % 4) {
    case 0: return (int32_t)(next() % 65536) - 32768;
    case 1: return (int32_t)(next() % (1u << 24)) - (1 << 23);
    default: return (int32_t)(uint32_t)next();
    }
}

static void test_scalar_form(void **state)
{
    (void)state;
    long checked[3] = {0}, ties = 0;
    const int32_t zeros[] = {0, -128, 127, 5, -77, QB_RQF_ZERO_MAX, -QB_RQF_ZERO_MAX, 300};
    for (int it = 0; it < 40000; it++) {
        qb_requant rq = rand_rq((int)(next() % 25));
        uint32_t m = 1;
        int s = 33, k = qb_rqf_reduce(rq, &m, &s);
        checked[k]++;
        if (!k)
            continue;
        assert_true(s >= 33 && m < 0x80000000u);
        int32_t accs[40];
        int na = 0;
        for (; na < 32; na++)
            accs[na] = rand_acc();
        /* negative ties of the rescaled form: acc * m = 2^32 (mod 2^33) */
        int v = __builtin_ctz(m);
        if (k == 2 && v >= 2)
            for (int t = 0; t < 8; t++, na++, ties++) {
                int64_t a = -((int64_t)1 << (32 - v)) * (int64_t)(2 * (next() % 64) + 1);
                accs[na] = a < INT32_MIN ? -(int32_t)(1u << (32 - v)) : (int32_t)a;
            }
        for (int i = 0; i < na; i++) {
            int32_t z = zeros[next() % 8], lo = -128 + (int32_t)(next() % 3) * 20, hi = 127 - (int32_t)(next() % 3) * 20;
            int8_t ref = qb_requant_apply(accs[i], rq, z, lo, hi);
            int8_t got = narrow(rqf_round(accs[i], m, s), z, lo, hi);
            if (got != ref)
                fail_msg("multiplier %d rshift %d (form %d) acc %d zero %d: %d, reference %d", rq.multiplier,
                         rq.rshift, k, accs[i], z, got, ref);
            if (k == 1) /* the odd form is the exact rounding itself */
                assert_int_equal(rqf_round(accs[i], m, s), qb_requant_round(accs[i], rq));
        }
    }
    printf("multipliers: %ld neither, %ld odd form, %ld rescaled; %ld negative ties\n", checked[0], checked[1],
           checked[2], ties);
    assert_true(checked[1] > 1000 && checked[2] > 1000 && ties > 1000);
}

/* qb_rqf_reduce_z: small odd parts (16..24 trailing zero bits cleared) in
 * the rescaled form for zero points up to their bound m_odd / 2 - 129, with
 * their negative ties, through the VNNI narrowing (r + zero, clamp, int8). */
static void test_zero_bound(void **state)
{
    (void)state;
    long taken = 0, ties = 0;
    for (int it = 0; it < 40000; it++) {
        qb_requant rq = rand_rq(16 + (int)(next() % 9));
        uint32_t m0 = 1;
        int s0 = 33;
        if (qb_rqf_reduce(rq, &m0, &s0)) /* the usual bound: test_scalar_form */
            continue;
        uint32_t mu = (uint32_t)rq.multiplier, modd = mu >> __builtin_ctz(mu);
        int32_t bound = (int32_t)(modd / 2) - 129;
        int32_t zmax = bound < 0 ? (int32_t)(next() % 200) : (int32_t)(next() % ((uint32_t)bound + 1));
        uint32_t m = 1;
        int s = 33, k = qb_rqf_reduce_z(rq, zmax, &m, &s);
        assert_int_equal(k == 2, rq.rshift >= 33 && rq.rshift <= 62 && modd >= 2u * (129u + (uint32_t)zmax));
        if (!k)
            continue;
        taken++;
        int v = __builtin_ctz(m);
        for (int i = 0; i < 40; i++) {
            int32_t acc = rand_acc();
            if (i >= 32) { /* negative ties: acc * m = 2^32 (mod 2^33) */
                int64_t a = -((int64_t)1 << (32 - v)) * (int64_t)(2 * (next() % 64) + 1);
                acc = (int32_t)(a < INT32_MIN ? -((int64_t)1 << (32 - v)) : a); /* v >= 1: rescaled */
                ties++;
            }
            int32_t z = i % 3 == 0 ? zmax : i % 3 == 1 ? -zmax : (int32_t)(next() % ((uint32_t)zmax + 1));
            int32_t lo = -128 + (int32_t)(next() % 3) * 20, hi = 127 - (int32_t)(next() % 3) * 20;
            int8_t ref = qb_requant_apply(acc, rq, z, lo, hi);
            int8_t got = (int8_t)sat((int64_t)rqf_round(acc, m, s) + z, lo, hi);
            if (got != ref)
                fail_msg("multiplier %d rshift %d zmax %d acc %d zero %d: %d, reference %d", rq.multiplier,
                         rq.rshift, zmax, acc, z, got, ref);
        }
    }
    printf("zero-bound rescaled multipliers: %ld, %ld negative ties\n", taken, ties);
    assert_true(taken > 1000 && ties > 1000);
}

#if defined(__x86_64__)
__attribute__((target("avx2"))) static void avx2_lanes(const qb_requant *rq, const int32_t *acc, int32_t *out,
                                                       int *ok)
{
    const int idx[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    qb_avx2_rqf8 f, g;
    *ok = qb_avx2_rqf8_set(&f, rq, idx, 1);
    int ok2 = qb_avx2_rqf8_load(&g, rq, 1); /* the same from 8 consecutive multipliers */
    if (ok2 != *ok)
        *ok = -1;
    else if (*ok) {
        __m256i a = _mm256_loadu_si256((const __m256i *)acc);
        __m256i r = qb_avx2_round8_fast(&f, a), r2 = qb_avx2_round8_fast(&g, a);
        if (_mm256_movemask_epi8(_mm256_cmpeq_epi32(r, r2)) != -1)
            *ok = -1;
        _mm256_storeu_si256((__m256i *)out, r);
    }
}
#endif

static void test_avx2_lanes(void **state)
{
    (void)state;
#if defined(__x86_64__)
    if (!__builtin_cpu_supports("avx2"))
        skip();
    long sets = 0;
    for (int it = 0; it < 20000; it++) {
        qb_requant rq[8];
        int32_t acc[8], out[8];
        for (int i = 0; i < 8; i++) {
            rq[i] = rand_rq(next() % 2 ? 14 : (int)(next() % 25));
            acc[i] = rand_acc();
        }
        int ok;
        avx2_lanes(rq, acc, out, &ok);
        assert_int_not_equal(ok, -1); /* qb_avx2_rqf8_set and qb_avx2_rqf8_load agree */
        int all = 1;
        for (int i = 0; i < 8; i++) {
            uint32_t m = 1;
            int s = 33, k = qb_rqf_reduce(rq[i], &m, &s);
            all &= k != 0;
            if (ok && k)
                assert_int_equal(out[i], rqf_round(acc[i], m, s));
        }
        assert_int_equal(ok, all); /* accepted exactly when every lane qualifies */
        sets += ok;
    }
    assert_true(sets > 100);
#else
    skip();
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalar_form),
        cmocka_unit_test(test_zero_bound),
        cmocka_unit_test(test_avx2_lanes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
