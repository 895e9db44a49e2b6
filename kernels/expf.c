/*
 * expf.c - exp of float32 values and softmax of a row (see expf.h): the
 * scalar references and SSE2 loops doing the same float operations in
 * the same order, four lanes at a time (the build has no FMA
 * contraction: -ffp-contract=off).
 */
#include "kernels/expf.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define EXP_HI 88.72283935546875f /* above: +Inf (exp overflows) */
#define EXP_LO -87.33654f         /* below: 0 (exp is below FLT_MIN there: subnormal results, which are slow, are flushed) */
#define LOG2E 1.44269504088896341f
#define C1 0.693359375f           /* ln 2 in 9 bits: n * C1 is exact */
#define C2 -2.12194440e-4f        /* ln 2 - C1 */
#define MAGIC 12582912.0f         /* 1.5 * 2^23: adding and subtracting rounds to nearest even */
#define P0 1.9875691500e-4f
#define P1 1.3981999507e-3f
#define P2 8.3334519073e-3f
#define P3 4.1665795894e-2f
#define P4 1.6666665459e-1f
#define P5 5.0000001201e-1f

/* 2^e for e in [-126, 127], as a float. */
static inline float pow2i(int32_t e)
{
    uint32_t b = (uint32_t)(e + 127) << 23;
    float f;
    memcpy(&f, &b, 4);
    return f;
}

float qb_expf1(float x)
{
    if (x != x)
        return x;
    if (x > EXP_HI)
        return INFINITY;
    if (x < EXP_LO)
        return 0.0f;
    float t = x * LOG2E;
    float nf = (t + MAGIC) - MAGIC;
    int32_t n = (int32_t)nf;
    float r = x - nf * C1;
    r = r - nf * C2;
    float r2 = r * r;
    float p = P0 * r + P1;
    p = p * r + P2;
    p = p * r + P3;
    p = p * r + P4;
    p = p * r + P5;
    p = p * r2 + r;
    p = p + 1.0f;
    int32_t n1 = n >> 1; /* floor(n / 2): n1, n - n1 in [-75, 64] */
    return p * pow2i(n1) * pow2i(n - n1);
}

/* The reference of qb_softmax_row: lanes i % 4 of the first n - n % 4
 * values summed apart, combined as (s0 + s1) + (s2 + s3), then the rest
 * added in order. */
void qb_softmax_row__scalar(const float *x, float *y, size_t n)
{
    float mx = -INFINITY, s[4] = {0, 0, 0, 0};
    for (size_t i = 0; i < n; i++)
        mx = x[i] > mx ? x[i] : mx;
    size_t n4 = n - n % 4;
    for (size_t i = 0; i < n; i++)
        y[i] = qb_expf1(x[i] - mx);
    for (size_t i = 0; i < n4; i++)
        s[i % 4] += y[i];
    float sum = (s[0] + s[1]) + (s[2] + s[3]);
    for (size_t i = n4; i < n; i++)
        sum += y[i];
    for (size_t i = 0; i < n; i++)
        y[i] /= sum;
}

#if defined(__SSE2__)

/* The steps of qb_expf1 on four lanes; the special cases by masks. */
static inline __m128 expf4(__m128 x)
{
    const __m128 hi = _mm_set1_ps(EXP_HI), lo = _mm_set1_ps(EXP_LO);
    __m128 nan = _mm_cmpunord_ps(x, x), over = _mm_cmpgt_ps(x, hi), under = _mm_cmplt_ps(x, lo);
    __m128 xc = _mm_min_ps(_mm_max_ps(x, lo), hi); /* NaN lanes: replaced below */
    __m128 t = _mm_mul_ps(xc, _mm_set1_ps(LOG2E));
    __m128 nf = _mm_sub_ps(_mm_add_ps(t, _mm_set1_ps(MAGIC)), _mm_set1_ps(MAGIC));
    __m128i n = _mm_cvttps_epi32(nf); /* nf is integral: exact */
    __m128 r = _mm_sub_ps(xc, _mm_mul_ps(nf, _mm_set1_ps(C1)));
    r = _mm_sub_ps(r, _mm_mul_ps(nf, _mm_set1_ps(C2)));
    __m128 r2 = _mm_mul_ps(r, r);
    __m128 p = _mm_add_ps(_mm_mul_ps(_mm_set1_ps(P0), r), _mm_set1_ps(P1));
    p = _mm_add_ps(_mm_mul_ps(p, r), _mm_set1_ps(P2));
    p = _mm_add_ps(_mm_mul_ps(p, r), _mm_set1_ps(P3));
    p = _mm_add_ps(_mm_mul_ps(p, r), _mm_set1_ps(P4));
    p = _mm_add_ps(_mm_mul_ps(p, r), _mm_set1_ps(P5));
    p = _mm_add_ps(_mm_mul_ps(p, r2), r);
    p = _mm_add_ps(p, _mm_set1_ps(1.0f));
    __m128i n1 = _mm_srai_epi32(n, 1), bias = _mm_set1_epi32(127);
    __m128 s1 = _mm_castsi128_ps(_mm_slli_epi32(_mm_add_epi32(n1, bias), 23));
    __m128 s2 = _mm_castsi128_ps(_mm_slli_epi32(_mm_add_epi32(_mm_sub_epi32(n, n1), bias), 23));
    __m128 y = _mm_mul_ps(_mm_mul_ps(p, s1), s2);
    y = _mm_andnot_ps(under, y);                                                 /* 0 */
    y = _mm_or_ps(_mm_andnot_ps(over, y), _mm_and_ps(over, _mm_set1_ps(INFINITY))); /* +Inf */
    return _mm_or_ps(_mm_andnot_ps(nan, y), _mm_and_ps(nan, x));                    /* NaN */
}

void qb_expf_array(const float *x, float *y, size_t n)
{
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        _mm_storeu_ps(y + i, expf4(_mm_loadu_ps(x + i)));
    for (; i < n; i++)
        y[i] = qb_expf1(x[i]);
}

void qb_softmax_row(const float *x, float *y, size_t n)
{
    size_t n4 = n - n % 4, i;
    float mx = -INFINITY;
    __m128 m4 = _mm_set1_ps(-INFINITY);
    for (i = 0; i < n4; i += 4) /* max in any order is the same value; NaN is skipped (max_ps returns m4) as by the scalar > */
        m4 = _mm_max_ps(_mm_loadu_ps(x + i), m4);
    float ml[4];
    _mm_storeu_ps(ml, m4);
    for (int l = 0; l < 4; l++)
        mx = ml[l] > mx ? ml[l] : mx;
    for (; i < n; i++)
        mx = x[i] > mx ? x[i] : mx;
    const __m128 vm = _mm_set1_ps(mx);
    __m128 s4 = _mm_setzero_ps();
    for (i = 0; i < n4; i += 4) {
        __m128 e = expf4(_mm_sub_ps(_mm_loadu_ps(x + i), vm));
        _mm_storeu_ps(y + i, e);
        s4 = _mm_add_ps(s4, e);
    }
    float sl[4];
    _mm_storeu_ps(sl, s4);
    float sum = (sl[0] + sl[1]) + (sl[2] + sl[3]);
    for (; i < n; i++) {
        y[i] = qb_expf1(x[i] - mx);
        sum += y[i];
    }
    const __m128 vs = _mm_set1_ps(sum);
    for (i = 0; i < n4; i += 4)
        _mm_storeu_ps(y + i, _mm_div_ps(_mm_loadu_ps(y + i), vs));
    for (; i < n; i++)
        y[i] /= sum;
}

#else

void qb_softmax_row(const float *x, float *y, size_t n) { qb_softmax_row__scalar(x, y, n); }

void qb_expf_array(const float *x, float *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = qb_expf1(x[i]);
}

#endif
