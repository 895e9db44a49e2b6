/*
 * expf.c - exp of float32 values, sigmoid and softmax of a row (see expf.h): the
 * scalar references and SSE2, AVX2 and AVX-512F loops doing the same
 * float operations in the same order, four, eight or sixteen lanes at a
 * time (the build has no FMA contraction: -ffp-contract=off, and the AVX2
 * loops use no FMA; the AVX2 and AVX-512 loops are chosen at run time,
 * under the ISA cap QB_FORCE_ISA).
 */
#include "kernels/expf.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define QB_EXPF_AVX512 1
#include "kernels/kernels.h"
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

/* The sixteen lane sums s[l] (l < 16) folded as the SIMD loops fold
 * their registers: halves added lane by lane, 16 -> 8 -> 4 -> 2 -> 1
 * (s[l] + s[l + w]). */
static float fold16(float *s)
{
    for (int w = 8; w >= 1; w /= 2)
        for (int l = 0; l < w; l++)
            s[l] = s[l] + s[l + w];
    return s[0];
}

/* The reference of qb_softmax_row: lanes i % 16 of the first n - n % 16
 * values summed apart, folded (fold16), then the rest added in order. */
void qb_softmax_row__scalar(const float *x, float *y, size_t n)
{
    float mx = -INFINITY, s[16] = {0};
    for (size_t i = 0; i < n; i++)
        mx = x[i] > mx ? x[i] : mx;
    size_t n16 = n - n % 16;
    for (size_t i = 0; i < n; i++)
        y[i] = qb_expf1(x[i] - mx);
    for (size_t i = 0; i < n16; i++)
        s[i % 16] += y[i];
    float sum = fold16(s);
    for (size_t i = n16; i < n; i++)
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

#ifdef QB_EXPF_AVX512
#define XU 4 /* vectors interleaved by the loops: 4 independent chains keep the FP pipes fed (one
              * vector's 24 dependent steps left them mostly waiting: 0.052 -> 0.040 ms for the exps
              * of PP-OCRv4 rec's 40 x 6625 softmax on Zen 5) */
#define X_INLINE static inline __attribute__((always_inline, target("avx512f")))

/* The core of expf16 on k (1 or XU) vectors of clamped lanes xc, step by
 * step across them: nf = rne(xc log2 e) (vrndscaleps gives the integer
 * that (t + MAGIC) - MAGIC gives, |t| <= 128) and the polynomial
 * p ~ e^r, r = xc - nf ln 2, so that e^xc = p 2^nf. */
X_INLINE void expf16_core(int k, const __m512 *xc, __m512 *nf, __m512 *p)
{
    __m512 r[XU], r2[XU];
#pragma GCC unroll 4
    for (int j = 0; j < k; j++)
        nf[j] = _mm512_roundscale_ps(_mm512_mul_ps(xc[j], _mm512_set1_ps(LOG2E)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
#pragma GCC unroll 4
    for (int j = 0; j < k; j++)
        r[j] = _mm512_sub_ps(xc[j], _mm512_mul_ps(nf[j], _mm512_set1_ps(C1)));
#pragma GCC unroll 4
    for (int j = 0; j < k; j++) {
        r[j] = _mm512_sub_ps(r[j], _mm512_mul_ps(nf[j], _mm512_set1_ps(C2)));
        r2[j] = _mm512_mul_ps(r[j], r[j]);
    }
#pragma GCC unroll 4
    for (int j = 0; j < k; j++)
        p[j] = _mm512_add_ps(_mm512_mul_ps(_mm512_set1_ps(P0), r[j]), _mm512_set1_ps(P1));
    const float horner[] = {P2, P3, P4, P5}; /* p = p r + c, one coefficient a step */
#pragma GCC unroll 4
    for (int t = 0; t < 4; t++)
#pragma GCC unroll 4
        for (int j = 0; j < k; j++)
            p[j] = _mm512_add_ps(_mm512_mul_ps(p[j], r[j]), _mm512_set1_ps(horner[t]));
#pragma GCC unroll 4
    for (int j = 0; j < k; j++)
        p[j] = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(p[j], r2[j]), r[j]), _mm512_set1_ps(1.0f));
}

/* expf4 on k vectors of sixteen lanes in place: the same operations,
 * masks for the special cases; p 2^n by one vscalefps, the correctly
 * rounded product as the reference's p * 2^n1 * 2^(n - n1) (its first
 * product is exact), also where it overflows (n = 128) or is subnormal. */
X_INLINE void expf16_k(int k, __m512 *v)
{
    const __m512 hi = _mm512_set1_ps(EXP_HI), lo = _mm512_set1_ps(EXP_LO);
    __mmask16 nan[XU], over[XU], under[XU];
    __m512 xc[XU], nf[XU], p[XU];
#pragma GCC unroll 4
    for (int j = 0; j < k; j++) {
        nan[j] = _mm512_cmp_ps_mask(v[j], v[j], _CMP_UNORD_Q);
        over[j] = _mm512_cmp_ps_mask(v[j], hi, _CMP_GT_OQ);
        under[j] = _mm512_cmp_ps_mask(v[j], lo, _CMP_LT_OQ);
        xc[j] = _mm512_min_ps(_mm512_max_ps(v[j], lo), hi);
    }
    expf16_core(k, xc, nf, p);
#pragma GCC unroll 4
    for (int j = 0; j < k; j++) {
        __m512 y = _mm512_maskz_scalef_ps((__mmask16)~under[j], p[j], nf[j]); /* 0 below EXP_LO */
        y = _mm512_mask_blend_ps(over[j], y, _mm512_set1_ps(INFINITY));
        v[j] = _mm512_mask_blend_ps(nan[j], y, v[j]);
    }
}

/* expf16_k on lanes that are no NaN and at most 0 (a softmax row's x -
 * max with the max finite and no NaN in the row): nothing overflows, so
 * the overflow and NaN blends go (the same values, 3 fewer operations). */
X_INLINE void expf16_neg_k(int k, __m512 *v)
{
    const __m512 lo = _mm512_set1_ps(EXP_LO);
    __mmask16 under[XU];
    __m512 xc[XU], nf[XU], p[XU];
#pragma GCC unroll 4
    for (int j = 0; j < k; j++) {
        under[j] = _mm512_cmp_ps_mask(v[j], lo, _CMP_LT_OQ);
        xc[j] = _mm512_max_ps(v[j], lo);
    }
    expf16_core(k, xc, nf, p);
#pragma GCC unroll 4
    for (int j = 0; j < k; j++)
        v[j] = _mm512_maskz_scalef_ps((__mmask16)~under[j], p[j], nf[j]);
}

/* One vector through expf16_k. */
X_INLINE __m512 expf16(__m512 x)
{
    expf16_k(1, &x);
    return x;
}

static int expf_avx512_off; /* qb_expf_avx512(0): the SSE2 loops only (tests) */

/* AVX-512F usable (checked once), allowed by the ISA cap (QB_FORCE_ISA
 * unset or vnni, as the kernels) and not turned off. */
static int expf_avx512(void)
{
    static int ok = -1;
    if (ok < 0)
        ok = qb_avx512_allowed(QB_CPU_AVX512F);
    return ok && !expf_avx512_off;
}

__attribute__((target("avx512f"))) static size_t expf_array_avx512(const float *x, float *y, size_t n)
{
    size_t i = 0;
    for (; i + 16 * XU <= n; i += 16 * XU) {
        __m512 v[XU];
#pragma GCC unroll 4
        for (int j = 0; j < XU; j++)
            v[j] = _mm512_loadu_ps(x + i + 16 * j);
        expf16_k(XU, v);
#pragma GCC unroll 4
        for (int j = 0; j < XU; j++)
            _mm512_storeu_ps(y + i + 16 * j, v[j]);
    }
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, expf16(_mm512_loadu_ps(x + i)));
    return i;
}

/* The exps of the whole vectors of a softmax row, src - m (neg: by
 * expf16_neg_k), stored to y and summed lanes i % 16 apart in index
 * order; the sum's register. */
X_INLINE __m512 softmax_exps(const float *src, float *y, size_t n16, __m512 vm, int neg)
{
    __m512 s = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 16 * XU <= n16; i += 16 * XU) {
        __m512 v[XU];
#pragma GCC unroll 4
        for (int j = 0; j < XU; j++)
            v[j] = _mm512_sub_ps(_mm512_loadu_ps(src + i + 16 * j), vm);
        if (neg)
            expf16_neg_k(XU, v);
        else
            expf16_k(XU, v);
#pragma GCC unroll 4
        for (int j = 0; j < XU; j++) {
            _mm512_storeu_ps(y + i + 16 * j, v[j]);
            s = _mm512_add_ps(s, v[j]);
        }
    }
    for (; i < n16; i += 16) {
        __m512 v = _mm512_sub_ps(_mm512_loadu_ps(src + i), vm);
        if (neg)
            expf16_neg_k(1, &v);
        else
            expf16_k(1, &v);
        _mm512_storeu_ps(y + i, v);
        s = _mm512_add_ps(s, v);
    }
    return s;
}

/* fold16 of the 16 lanes of s in registers: the same additions in the
 * same order (lane l + lane l + w, w = 8, 4, 2, 1). */
__attribute__((target("avx512f"))) static inline float fold16_avx512(__m512 s)
{
    __m256 a = _mm256_add_ps(_mm512_castps512_ps256(s), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(s), 1)));
    __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
    return _mm_cvtss_f32(_mm_add_ss(c, _mm_shuffle_ps(c, c, 1)));
}

/* qb_softmax_row with AVX-512 (of x + b where b is not NULL: the sums
 * x_i + b_i written to y in the maximum's pass, the later passes read
 * y): the maximum (the tail's lanes in the same register, -inf where
 * masked; vmaxps keeps its second operand for a NaN lane, as the scalar
 * > skips NaN; any order gives the same value), the exps of the whole
 * vectors (expf16_neg where the row has no NaN and a finite maximum)
 * summed lanes i % 16 apart and folded in registers, then the tail's
 * exps (expf16 on masked lanes) added in order, lane by lane from the
 * register, and divided there: the tail is never stored and read back
 * (a masked store does not forward to the loads after it, which waited
 * for it: most of a 40-value row's time). */
__attribute__((target("avx512f"))) static void softmax_row_avx512(const float *x, const float *b, float *y, size_t n)
{
    const size_t n16 = n - n % 16, t = n - n16;
    const __mmask16 tm = (__mmask16)((1u << t) - 1);
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    __m512 m = ninf;
    __mmask16 un = 0;
    if (b)
        for (size_t i = 0; i < n16; i += 16) {
            __m512 v = _mm512_add_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(b + i));
            _mm512_storeu_ps(y + i, v);
            m = _mm512_max_ps(v, m);
            un |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
        }
    else
        for (size_t i = 0; i < n16; i += 16) {
            __m512 v = _mm512_loadu_ps(x + i);
            m = _mm512_max_ps(v, m);
            un |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
        }
    __m512 xt = _mm512_maskz_loadu_ps(tm, x + n16); /* the tail, 0 beyond it */
    if (b)
        xt = _mm512_add_ps(xt, _mm512_maskz_loadu_ps(tm, b + n16));
    m = _mm512_mask_max_ps(m, tm, xt, m);
    un |= _mm512_mask_cmp_ps_mask(tm, xt, xt, _CMP_UNORD_Q);
    const float *src = b ? y : x;
    const float mx = _mm512_reduce_max_ps(m);
    const __m512 vm = _mm512_set1_ps(mx);
    const __m512 s = !un && isfinite(mx) ? softmax_exps(src, y, n16, vm, 1) /* every x - mx a number <= 0 */
                                         : softmax_exps(src, y, n16, vm, 0);
    float sum = fold16_avx512(s);
    __m512 et = _mm512_setzero_ps();
    if (t) {
        et = expf16(_mm512_sub_ps(xt, vm));
        for (size_t l = 0; l < t; l++) /* in order, as the scalar reference */
            sum += _mm_cvtss_f32(_mm512_castps512_ps128(_mm512_permutexvar_ps(_mm512_set1_epi32((int)l), et)));
    }
    const __m512 vs = _mm512_set1_ps(sum);
    for (size_t i = 0; i < n16; i += 16)
        _mm512_storeu_ps(y + i, _mm512_div_ps(_mm512_loadu_ps(y + i), vs));
    if (t)
        _mm512_mask_storeu_ps(y + n16, tm, _mm512_div_ps(et, vs));
}
#endif

void qb_expf_avx512(int on)
{
#ifdef QB_EXPF_AVX512
    expf_avx512_off = !on;
#else
    (void)on;
#endif
}

#ifdef QB_EXPF_AVX512
/* The AVX2 loops (8 lanes) for CPUs without AVX-512 or under
 * QB_FORCE_ISA=avx2, where the SSE2 ones ran: expf4's operations on twice
 * the lanes, XU vectors interleaved. */
#define Y_INLINE static inline __attribute__((always_inline, target("avx2")))

/* expf4 on k (1 or XU) vectors of eight lanes in place: the same
 * operations, step by step across the vectors. */
Y_INLINE void expf8_k(int k, __m256 *v)
{
    const __m256 hi = _mm256_set1_ps(EXP_HI), lo = _mm256_set1_ps(EXP_LO);
    const float horner[] = {P1, P2, P3, P4, P5}; /* p = p r + c, one coefficient a step */
    __m256 nan[XU], over[XU], under[XU], xc[XU], nf[XU], r[XU], r2[XU], p[XU];
    __m256i n[XU];
#pragma GCC unroll 4
    for (int j = 0; j < k; j++) {
        nan[j] = _mm256_cmp_ps(v[j], v[j], _CMP_UNORD_Q);
        over[j] = _mm256_cmp_ps(v[j], hi, _CMP_GT_OQ);
        under[j] = _mm256_cmp_ps(v[j], lo, _CMP_LT_OQ);
        xc[j] = _mm256_min_ps(_mm256_max_ps(v[j], lo), hi); /* NaN lanes: replaced below */
        __m256 t = _mm256_mul_ps(xc[j], _mm256_set1_ps(LOG2E));
        nf[j] = _mm256_sub_ps(_mm256_add_ps(t, _mm256_set1_ps(MAGIC)), _mm256_set1_ps(MAGIC));
        n[j] = _mm256_cvttps_epi32(nf[j]); /* nf is integral: exact */
    }
#pragma GCC unroll 4
    for (int j = 0; j < k; j++) {
        r[j] = _mm256_sub_ps(xc[j], _mm256_mul_ps(nf[j], _mm256_set1_ps(C1)));
        r[j] = _mm256_sub_ps(r[j], _mm256_mul_ps(nf[j], _mm256_set1_ps(C2)));
        r2[j] = _mm256_mul_ps(r[j], r[j]);
        p[j] = _mm256_mul_ps(_mm256_set1_ps(P0), r[j]);
    }
#pragma GCC unroll 5
    for (int t = 0; t < 5; t++)
#pragma GCC unroll 4
        for (int j = 0; j < k; j++)
            p[j] = t ? _mm256_add_ps(_mm256_mul_ps(p[j], r[j]), _mm256_set1_ps(horner[t]))
                     : _mm256_add_ps(p[j], _mm256_set1_ps(horner[0]));
#pragma GCC unroll 4
    for (int j = 0; j < k; j++) {
        __m256 q = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(p[j], r2[j]), r[j]), _mm256_set1_ps(1.0f));
        const __m256i bias = _mm256_set1_epi32(127);
        __m256i n1 = _mm256_srai_epi32(n[j], 1);
        __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
        __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(n[j], n1), bias), 23));
        __m256 y = _mm256_mul_ps(_mm256_mul_ps(q, s1), s2);
        y = _mm256_andnot_ps(under[j], y);                             /* 0 */
        y = _mm256_blendv_ps(y, _mm256_set1_ps(INFINITY), over[j]);    /* +Inf */
        v[j] = _mm256_blendv_ps(y, v[j], nan[j]);                      /* NaN */
    }
}

static int expf_avx2_off; /* qb_expf_avx2(0): not the AVX2 loops (tests) */

/* AVX2 usable and allowed by the ISA cap, AVX-512 not taken, not off. */
static int expf_avx2(void)
{
    static int ok = -1;
    if (ok < 0)
        ok = qb_avx2_allowed();
    return ok && !expf_avx2_off && !expf_avx512();
}

__attribute__((target("avx2"))) static size_t expf_array_avx2(const float *x, float *y, size_t n)
{
    size_t i = 0;
    for (; i + 8 * XU <= n; i += 8 * XU) {
        __m256 v[XU];
#pragma GCC unroll 4
        for (int j = 0; j < XU; j++)
            v[j] = _mm256_loadu_ps(x + i + 8 * j);
        expf8_k(XU, v);
#pragma GCC unroll 4
        for (int j = 0; j < XU; j++)
            _mm256_storeu_ps(y + i + 8 * j, v[j]);
    }
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        expf8_k(1, &v);
        _mm256_storeu_ps(y + i, v);
    }
    return i;
}

/* qb_softmax_row with AVX2 (of x + b where b is not NULL, the sums
 * written to y first): the maximum, then the exps of the whole 16-value
 * blocks, lanes i % 16 summed apart in two registers (lanes 0-7, 8-15)
 * and folded as fold16 does, then the rest (masked vectors) added in
 * order; the division in place. */
__attribute__((target("avx2"))) static void softmax_row_avx2(const float *x, const float *b, float *y, size_t n)
{
    const size_t n16 = n - n % 16;
    size_t i = 0;
    if (b) {
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(b + i)));
        for (; i < n; i++)
            y[i] = x[i] + b[i];
        x = y;
    }
    float mx = -INFINITY;
    __m256 m8 = _mm256_set1_ps(-INFINITY);
    for (i = 0; i < n16; i += 8) /* any order gives the same maximum; vmaxps keeps m8 for a NaN, as > skips it */
        m8 = _mm256_max_ps(_mm256_loadu_ps(x + i), m8);
    float ml[8];
    _mm256_storeu_ps(ml, m8);
    for (int l = 0; l < 8; l++)
        mx = ml[l] > mx ? ml[l] : mx;
    for (i = n16; i < n; i++)
        mx = x[i] > mx ? x[i] : mx;
    const __m256 vm = _mm256_set1_ps(mx);
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(); /* lanes 0-7 and 8-15 of the 16 sums */
    i = 0;
    for (; i + 32 <= n16; i += 32) {
        __m256 v[XU];
#pragma GCC unroll 4
        for (int j = 0; j < XU; j++)
            v[j] = _mm256_sub_ps(_mm256_loadu_ps(x + i + 8 * j), vm);
        expf8_k(XU, v);
#pragma GCC unroll 4
        for (int j = 0; j < XU; j++)
            _mm256_storeu_ps(y + i + 8 * j, v[j]);
        s0 = _mm256_add_ps(s0, v[0]);
        s1 = _mm256_add_ps(s1, v[1]);
        s0 = _mm256_add_ps(s0, v[2]);
        s1 = _mm256_add_ps(s1, v[3]);
    }
    for (; i < n16; i += 16) {
        __m256 v[2] = {_mm256_sub_ps(_mm256_loadu_ps(x + i), vm), _mm256_sub_ps(_mm256_loadu_ps(x + i + 8), vm)};
        expf8_k(2, v);
        _mm256_storeu_ps(y + i, v[0]);
        _mm256_storeu_ps(y + i + 8, v[1]);
        s0 = _mm256_add_ps(s0, v[0]);
        s1 = _mm256_add_ps(s1, v[1]);
    }
    /* fold16: lane l + lane l + 8 (s0 + s1), then 4, 2, 1 */
    __m256 a = _mm256_add_ps(s0, s1);
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    __m128 c = _mm_add_ps(h, _mm_movehl_ps(h, h));
    float sum = _mm_cvtss_f32(_mm_add_ss(c, _mm_shuffle_ps(c, c, 1)));
    for (i = n16; i < n; i += 8) { /* the last n % 16: eight lanes at a time (masked), added in order */
        const int t = n - i < 8 ? (int)(n - i) : 8;
        const __m256i mk = _mm256_cmpgt_epi32(_mm256_set1_epi32(t), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        __m256 v = _mm256_sub_ps(_mm256_maskload_ps(x + i, mk), vm);
        expf8_k(1, &v);
        float e[8];
        _mm256_storeu_ps(e, v);
        for (int l = 0; l < t; l++)
            sum += e[l];
        _mm256_maskstore_ps(y + i, mk, v);
    }
    const __m256 vs = _mm256_set1_ps(sum);
    for (i = 0; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_div_ps(_mm256_loadu_ps(y + i), vs));
    for (; i < n; i++)
        y[i] /= sum;
}

/* qb_sigmoid_f32 with AVX2: 1 / (1 + exp(-x)) in registers, one pass,
 * the same operations as qb_sigmoid1; the last n % 8 values by it. */
__attribute__((target("avx2"))) static void sigmoid_avx2(const float *x, float *y, size_t n)
{
    const __m256 one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
    size_t i = 0;
    for (; i + 8 * XU <= n; i += 8 * XU) {
        __m256 v[XU];
#pragma GCC unroll 4
        for (int j = 0; j < XU; j++)
            v[j] = _mm256_xor_ps(_mm256_loadu_ps(x + i + 8 * j), sign);
        expf8_k(XU, v);
#pragma GCC unroll 4
        for (int j = 0; j < XU; j++)
            _mm256_storeu_ps(y + i + 8 * j, _mm256_div_ps(one, _mm256_add_ps(one, v[j])));
    }
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_xor_ps(_mm256_loadu_ps(x + i), sign);
        expf8_k(1, &v);
        _mm256_storeu_ps(y + i, _mm256_div_ps(one, _mm256_add_ps(one, v)));
    }
    for (; i < n; i++)
        y[i] = qb_sigmoid1(x[i]);
}
#endif

void qb_expf_avx2(int on)
{
#ifdef QB_EXPF_AVX512
    expf_avx2_off = !on;
#else
    (void)on;
#endif
}


void qb_expf_array(const float *x, float *y, size_t n)
{
    size_t i = 0;
#ifdef QB_EXPF_AVX512
    if (expf_avx512())
        i = expf_array_avx512(x, y, n);
    else if (expf_avx2())
        i = expf_array_avx2(x, y, n);
#endif
    for (; i + 4 <= n; i += 4)
        _mm_storeu_ps(y + i, expf4(_mm_loadu_ps(x + i)));
    for (; i < n; i++)
        y[i] = qb_expf1(x[i]);
}

void qb_softmax_row(const float *x, float *y, size_t n)
{
    size_t n16 = n - n % 16, i;
    float mx = -INFINITY, sum;
#ifdef QB_EXPF_AVX512
    if (expf_avx512()) {
        softmax_row_avx512(x, NULL, y, n);
        return;
    }
    if (expf_avx2()) {
        softmax_row_avx2(x, NULL, y, n);
        return;
    }
#endif
    {
        __m128 m4 = _mm_set1_ps(-INFINITY);
        for (i = 0; i < n16; i += 4) /* max in any order is the same value; NaN is skipped (max_ps returns m4) as by the scalar > */
            m4 = _mm_max_ps(_mm_loadu_ps(x + i), m4);
        float ml[4];
        _mm_storeu_ps(ml, m4);
        for (int l = 0; l < 4; l++)
            mx = ml[l] > mx ? ml[l] : mx;
    }
    for (i = n16; i < n; i++)
        mx = x[i] > mx ? x[i] : mx;
    {
        const __m128 vm = _mm_set1_ps(mx);
        __m128 s[4] = {_mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps()}; /* lanes 0-3, 4-7, 8-11, 12-15 */
        for (i = 0; i < n16; i += 16)
            for (int k = 0; k < 4; k++) {
                __m128 e = expf4(_mm_sub_ps(_mm_loadu_ps(x + i + 4 * k), vm));
                _mm_storeu_ps(y + i + 4 * k, e);
                s[k] = _mm_add_ps(s[k], e);
            }
        float sl[16];
        for (int k = 0; k < 4; k++)
            _mm_storeu_ps(sl + 4 * k, s[k]);
        sum = fold16(sl);
    }
    for (i = n16; i < n; i++) {
        y[i] = qb_expf1(x[i] - mx);
        sum += y[i];
    }
    {
        const __m128 vs = _mm_set1_ps(sum);
        for (i = 0; i < n16; i += 4)
            _mm_storeu_ps(y + i, _mm_div_ps(_mm_loadu_ps(y + i), vs));
    }
    for (i = n16; i < n; i++)
        y[i] /= sum;
}

void qb_softmax_row_bias(const float *x, const float *b, float *y, size_t n)
{
#ifdef QB_EXPF_AVX512
    if (expf_avx512()) {
        softmax_row_avx512(x, b, y, n);
        return;
    }
    if (expf_avx2()) {
        softmax_row_avx2(x, b, y, n);
        return;
    }
#endif
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        _mm_storeu_ps(y + i, _mm_add_ps(_mm_loadu_ps(x + i), _mm_loadu_ps(b + i)));
    for (; i < n; i++)
        y[i] = x[i] + b[i];
    qb_softmax_row(y, y, n);
}

#else

void qb_expf_avx512(int on) { (void)on; }

void qb_expf_avx2(int on) { (void)on; }

void qb_softmax_row_bias(const float *x, const float *b, float *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] + b[i];
    qb_softmax_row(y, y, n);
}

void qb_softmax_row(const float *x, float *y, size_t n) { qb_softmax_row__scalar(x, y, n); }

void qb_expf_array(const float *x, float *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = qb_expf1(x[i]);
}

#endif

float qb_sigmoid1(float x) { return 1.0f / (1.0f + qb_expf1(-x)); }

#ifdef QB_EXPF_AVX512
/* qb_sigmoid_f32 with AVX-512: 1 / (1 + expf16(-x)) in registers, one
 * pass (the tail on masked lanes); the same operations as qb_sigmoid1. */
__attribute__((target("avx512f"))) static void sigmoid_avx512(const float *x, float *y, size_t n)
{
    const __m512 one = _mm512_set1_ps(1.0f), sign = _mm512_set1_ps(-0.0f);
    size_t i = 0;
    for (; i + 16 * XU <= n; i += 16 * XU) {
        __m512 v[XU];
#pragma GCC unroll 4
        for (int j = 0; j < XU; j++)
            v[j] = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(_mm512_loadu_ps(x + i + 16 * j)),
                                                        _mm512_castps_si512(sign)));
        expf16_k(XU, v);
#pragma GCC unroll 4
        for (int j = 0; j < XU; j++)
            _mm512_storeu_ps(y + i + 16 * j, _mm512_div_ps(one, _mm512_add_ps(one, v[j])));
    }
    for (; i + 16 <= n; i += 16) {
        __m512 e = expf16(_mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(_mm512_loadu_ps(x + i)),
                                                                _mm512_castps_si512(sign))));
        _mm512_storeu_ps(y + i, _mm512_div_ps(one, _mm512_add_ps(one, e)));
    }
    if (i < n) {
        const __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        __m512 e = expf16(_mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(_mm512_maskz_loadu_ps(m, x + i)),
                                                                _mm512_castps_si512(sign))));
        _mm512_mask_storeu_ps(y + i, m, _mm512_div_ps(one, _mm512_add_ps(one, e)));
    }
}
#endif

void qb_sigmoid_f32(const float *x, float *y, size_t n)
{
#ifdef QB_EXPF_AVX512
    if (expf_avx512()) {
        sigmoid_avx512(x, y, n);
        return;
    }
    if (expf_avx2()) {
        sigmoid_avx2(x, y, n);
        return;
    }
#endif
    enum { CHUNK = 1024 }; /* 4 KiB of y: negated, exp'd and divided while in L1 */
    for (size_t s = 0; s < n; s += CHUNK) {
        size_t m = n - s < CHUNK ? n - s : CHUNK;
        const float *xs = x + s;
        float *ys = y + s;
        size_t i = 0;
#if defined(__SSE2__) /* four lanes at a time (GCC -O2 left both loops scalar: a divss per value) */
        const __m128 sign = _mm_set1_ps(-0.0f), one = _mm_set1_ps(1.0f);
        for (; i + 4 <= m; i += 4)
            _mm_storeu_ps(ys + i, _mm_xor_ps(_mm_loadu_ps(xs + i), sign));
#endif
        for (; i < m; i++)
            ys[i] = -xs[i];
        qb_expf_array(ys, ys, m);
        i = 0;
#if defined(__SSE2__) /* the same IEEE add and division per lane */
        for (; i + 4 <= m; i += 4)
            _mm_storeu_ps(ys + i, _mm_div_ps(one, _mm_add_ps(one, _mm_loadu_ps(ys + i))));
#endif
        for (; i < m; i++)
            ys[i] = 1.0f / (1.0f + ys[i]);
    }
}
