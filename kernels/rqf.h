/*
 * rqf.h - the reduced multiplier of the faster exact requantization
 * (plain C, static inline, for any ISA's kernels): a multiplier m with
 * rshift s becomes its odd part m' = m >> v, s' = s - v, and when s' >= 33
 *   r = (hi32(acc * m') + 2^(s'-33)) >> (s'-32)     (signed, arithmetic)
 * is exactly the rounding half away from zero of kernels/scalar/requant.c
 * (m' odd: the dropped low half is never zero at a negative tie). See
 * docs/kernels.md, "The faster exact requantization".
 *
 * A multiplier made from a float scale often has many trailing zero bits,
 * so that s' < 33 for a few channels of a layer. Then, when s >= 33 and
 * m' >= 2^16, m is taken as m >> (s - 33) at s' = 33 instead (the same
 * real value, not odd): the formula is then floor((acc m + 2^32) / 2^33),
 * exact except at a negative tie, where it gives r + 1 instead of r. A tie
 * needs |acc| >= 2^(s_odd - 1) for the odd part's shift s_odd, so |r| >=
 * m_odd / 2 >= 2^15: r and r + 1 both saturate to the same c_min >= -128
 * when the output zero point is at most QB_RQF_ZERO_MAX. Callers check
 * that bound before taking a rescaled multiplier.
 */
#ifndef QB_RQF_H
#define QB_RQF_H

#include <stdint.h>

#include "kernels/kernels.h"

#define QB_RQF_ZERO_MAX 32639

/* The reduced multiplier of rq into *m, *s for output zero points z <=
 * zmax (0 <= zmax <= QB_RQF_ZERO_MAX): 1 when its odd part has s' >= 33
 * (exact), 2 when it is the rescaled form at s' = 33 (exact for c_min >=
 * -128 when m_odd / 2 >= 129 + zmax: a negative tie's r <= -m_odd / 2 and
 * its r + 1 then both saturate; m_odd >= 2^16 at zmax = QB_RQF_ZERO_MAX),
 * 0 when neither. */
static inline int qb_rqf_reduce_z(qb_requant rq, int32_t zmax, uint32_t *m, int *s)
{
    uint32_t mu = (uint32_t)rq.multiplier;
    if (mu == 0 || mu >= 0x80000000u)
        return 0;
    int v = __builtin_ctz(mu);
    *m = mu >> v;
    *s = rq.rshift - v;
    if (*s >= 33)
        return 1;
    if (rq.rshift < 33 || rq.rshift > 62 || *m < 2u * (129u + (uint32_t)zmax))
        return 0;
    *m = mu >> (rq.rshift - 33);
    *s = 33;
    return 2;
}

/* qb_rqf_reduce_z for any zero point within QB_RQF_ZERO_MAX (m_odd >= 2^16). */
static inline int qb_rqf_reduce(qb_requant rq, uint32_t *m, int *s)
{
    return qb_rqf_reduce_z(rq, QB_RQF_ZERO_MAX, m, s);
}

#endif
