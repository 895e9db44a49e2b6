/*
 * requant.c - the one requantization arithmetic of every int8 kernel:
 * a 31-bit fixed-point multiplier with a rounding right shift, rounding
 * half away from zero, computed exactly in unsigned 64-bit arithmetic
 * (see kernels.h). SIMD kernels implement the same steps lane-wise.
 */
#include <math.h>

#include "kernels/kernels.h"

int qb_requant_from_real(double real, qb_requant *rq)
{
    if (!(real > 0.0) || !(real < 1.0) || !isfinite(real))
        return -1;
    int e;
    double m = frexp(real, &e); /* real = m * 2^e, m in [0.5, 1), e <= 0 */
    long long q = llround(m * 2147483648.0); /* m * 2^31 in [2^30, 2^31] */
    if (q == 2147483648LL) {                 /* m rounded up to 1.0 */
        q /= 2;
        e++;
    }
    if (e > 0) { /* real just below 1 rounded to 1: keep the largest multiplier below 1 */
        q = 2147483647LL;
        e = 0;
    }
    int rshift = 31 - e;
    while (rshift > 62) { /* tiny multipliers: give up mantissa bits */
        q = (q + 1) >> 1;
        rshift--;
    }
    rq->multiplier = (int32_t)q;
    rq->rshift = rshift;
    return 0;
}

int32_t qb_requant_round(int32_t acc, qb_requant rq)
{
    uint64_t mag = acc < 0 ? (uint64_t)0 - (uint64_t)(int64_t)acc : (uint64_t)acc;
    uint64_t r = (mag * (uint64_t)rq.multiplier + (1ull << (rq.rshift - 1))) >> rq.rshift;
    return acc < 0 ? -(int32_t)r : (int32_t)r;
}

int8_t qb_requant_apply(int32_t acc, qb_requant rq, int32_t zero, int32_t lo, int32_t hi)
{
    /* clamp(r + zero, lo, hi) == clamp(r, lo - zero, hi - zero) + zero; the
     * second form (what SIMD kernels do) cannot overflow, nor can int64 */
    int64_t v = (int64_t)qb_requant_round(acc, rq) + zero;
    v = v < lo ? lo : v;
    v = v > hi ? hi : v;
    return (int8_t)v;
}
