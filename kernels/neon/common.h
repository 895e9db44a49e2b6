/*
 * common.h - static inline helpers shared by the NEON kernels in this
 * directory: the int8 requantization of kernels.h on four int32 lanes
 * (bit-exact with kernels/scalar/requant.c: |acc| * multiplier plus
 * 2^(rshift-1) in unsigned 64-bit, logical shift right, sign restored,
 * clamp to [c_min - c_zero, c_max - c_zero], c_zero added), tail-safe
 * loads and stores, and the float clamp. Base ARMv8-A Advanced SIMD only,
 * so every file may include it whatever its -march.
 */
#ifndef QB_NEON_COMMON_H
#define QB_NEON_COMMON_H

#include <arm_neon.h>
#include <string.h>

#include "kernels/kernels.h"

#define QB_NEON_INLINE static inline __attribute__((always_inline))

/* Requantization parameters of four output channels. */
typedef struct qb_neon_rq {
    uint32x4_t mult;   /* fixed-point multipliers of lanes 0..3 */
    uint64x2_t rnd_lo; /* 2^(rshift-1) of lanes 0, 1 */
    uint64x2_t rnd_hi; /* 2^(rshift-1) of lanes 2, 3 */
    int64x2_t sh_lo;   /* -rshift of lanes 0, 1 (vshlq_u64 shifts right) */
    int64x2_t sh_hi;   /* -rshift of lanes 2, 3 */
} qb_neon_rq;

/* Output saturation and zero point, pre-subtracted as the SIMD form of
 * qb_requant_apply does. */
typedef struct qb_neon_clamp {
    int32x4_t lo;   /* c_min - c_zero */
    int32x4_t hi;   /* c_max - c_zero */
    int32x4_t zero; /* c_zero */
} qb_neon_clamp;

QB_NEON_INLINE qb_neon_rq qb_neon_rq_from(int32x4_t mult, int32x4_t shift)
{
    qb_neon_rq q;
    int64x2_t s_lo = vmovl_s32(vget_low_s32(shift)), s_hi = vmovl_high_s32(shift);
    uint64x2_t one = vdupq_n_u64(1);
    int64x2_t m1 = vdupq_n_s64(-1);
    q.mult = vreinterpretq_u32_s32(mult);
    q.rnd_lo = vshlq_u64(one, vaddq_s64(s_lo, m1));
    q.rnd_hi = vshlq_u64(one, vaddq_s64(s_hi, m1));
    q.sh_lo = vnegq_s64(s_lo);
    q.sh_hi = vnegq_s64(s_hi);
    return q;
}

/* Parameters of channels rq[0 .. count-1] (count 1..4; missing lanes
 * repeat rq[0] and are never stored). */
QB_NEON_INLINE qb_neon_rq qb_neon_rq_load(const qb_requant *rq, int count)
{
    qb_requant buf[4];
    const qb_requant *src = rq;
    if (count < 4) {
        for (int i = 0; i < 4; i++)
            buf[i] = rq[i < count ? i : 0];
        src = buf;
    }
    int32x4x2_t v = vld2q_s32((const int32_t *)src); /* val[0] multipliers, val[1] shifts */
    return qb_neon_rq_from(v.val[0], v.val[1]);
}

/* One multiplier for all four lanes (int8-tensor). */
QB_NEON_INLINE qb_neon_rq qb_neon_rq_dup(qb_requant rq)
{
    return qb_neon_rq_from(vdupq_n_s32(rq.multiplier), vdupq_n_s32(rq.rshift));
}

static inline int32_t qb_neon_sat32(int64_t v)
{
    return v < INT32_MIN ? INT32_MIN : v > INT32_MAX ? INT32_MAX : (int32_t)v;
}

QB_NEON_INLINE qb_neon_clamp qb_neon_clamp_make(int32_t zero, int32_t lo, int32_t hi)
{
    qb_neon_clamp c;
    c.lo = vdupq_n_s32(qb_neon_sat32((int64_t)lo - zero));
    c.hi = vdupq_n_s32(qb_neon_sat32((int64_t)hi - zero));
    c.zero = vdupq_n_s32(zero);
    return c;
}

/* qb_requant_apply on four lanes; the result is within [c_min, c_max]. */
QB_NEON_INLINE int32x4_t qb_neon_requant(int32x4_t acc, const qb_neon_rq *q, const qb_neon_clamp *c)
{
    uint32x4_t mag = vreinterpretq_u32_s32(vabsq_s32(acc)); /* |INT32_MIN| = 2^31 as u32 */
    uint64x2_t p0 = vmull_u32(vget_low_u32(mag), vget_low_u32(q->mult));
    uint64x2_t p1 = vmull_high_u32(mag, q->mult);
    p0 = vshlq_u64(vaddq_u64(p0, q->rnd_lo), q->sh_lo);
    p1 = vshlq_u64(vaddq_u64(p1, q->rnd_hi), q->sh_hi);
    int32x4_t r = vreinterpretq_s32_u32(vuzp1q_u32(vreinterpretq_u32_u64(p0), vreinterpretq_u32_u64(p1)));
    int32x4_t s = vshrq_n_s32(acc, 31); /* -1 where acc < 0 */
    r = vsubq_s32(veorq_s32(r, s), s);
    r = vminq_s32(vmaxq_s32(r, c->lo), c->hi);
    return vaddq_s32(r, c->zero);
}

/* Four requantized vectors (16 lanes in [-128, 127]) narrowed to int8. */
QB_NEON_INLINE int8x16_t qb_neon_narrow16(int32x4_t v0, int32x4_t v1, int32x4_t v2, int32x4_t v3)
{
    int16x8_t lo = vcombine_s16(vmovn_s32(v0), vmovn_s32(v1));
    int16x8_t hi = vcombine_s16(vmovn_s32(v2), vmovn_s32(v3));
    return vcombine_s8(vmovn_s16(lo), vmovn_s16(hi));
}

/* n (0..4) int32 values from p; the other lanes are zero. */
QB_NEON_INLINE int32x4_t qb_neon_load_s32(const int32_t *p, int n)
{
    if (n >= 4)
        return vld1q_s32(p);
    int32_t b[4] = {0, 0, 0, 0};
    memcpy(b, p, sizeof(int32_t) * (size_t)(n > 0 ? n : 0));
    return vld1q_s32(b);
}

/* n (0..4) floats from p; the other lanes are zero. */
QB_NEON_INLINE float32x4_t qb_neon_load_f32(const float *p, int n)
{
    if (n >= 4)
        return vld1q_f32(p);
    float b[4] = {0, 0, 0, 0};
    memcpy(b, p, sizeof(float) * (size_t)(n > 0 ? n : 0));
    return vld1q_f32(b);
}

/* Stores the first n (0..4) lanes. */
QB_NEON_INLINE void qb_neon_store_f32(float *p, float32x4_t v, int n)
{
    if (n >= 4) {
        vst1q_f32(p, v);
        return;
    }
    float b[4];
    vst1q_f32(b, v);
    memcpy(p, b, sizeof(float) * (size_t)(n > 0 ? n : 0));
}

QB_NEON_INLINE void qb_neon_store_s32(int32_t *p, int32x4_t v, int n)
{
    if (n >= 4) {
        vst1q_s32(p, v);
        return;
    }
    int32_t b[4];
    vst1q_s32(b, v);
    memcpy(p, b, sizeof(int32_t) * (size_t)(n > 0 ? n : 0));
}

/* Stores the first n (0..16) bytes. */
QB_NEON_INLINE void qb_neon_store_s8(int8_t *p, int8x16_t v, int n)
{
    if (n >= 16) {
        vst1q_s8(p, v);
        return;
    }
    int8_t b[16];
    vst1q_s8(b, v);
    memcpy(p, b, (size_t)(n > 0 ? n : 0));
}

/* The int8 GEMM bias term of columns j .. j+n-1 (n 1..4):
 * bias_i32 - a_zero * wsum in wrap-around int32, as the reference. */
QB_NEON_INLINE int32x4_t qb_neon_i8_base(const qb_packed *p, int j, int n, int32_t a_zero)
{
    int32x4_t b = qb_neon_load_s32(p->bias_i32 + j, n);
    return vmlsq_s32(b, qb_neon_load_s32(p->wsum + j, n), vdupq_n_s32(a_zero));
}

/* Stores the first n (0..4) lanes (each in [-128, 127]) as int8. */
QB_NEON_INLINE void qb_neon_store_s8x4(int8_t *p, int32x4_t v, int n)
{
    int16x4_t h = vmovn_s32(v);
    int8x8_t b = vmovn_s16(vcombine_s16(h, h));
    if (n >= 4) {
        uint32_t u = vget_lane_u32(vreinterpret_u32_s8(b), 0);
        memcpy(p, &u, 4);
        return;
    }
    int8_t t[8];
    vst1_s8(t, b);
    memcpy(p, t, (size_t)(n > 0 ? n : 0));
}

/* int8 GEMM output of one row, columns j .. j+n-1 (n 1..4): acc (already
 * bias - a_zero * wsum + sum a * w) raw as int32 (out_i32) or requantized
 * to int8. */
QB_NEON_INLINE void qb_neon_i8_out(const qb_gemm_args *a, size_t at, int32x4_t acc, int n, const qb_neon_rq *rq,
                                   const qb_neon_clamp *cl)
{
    if (a->out_i32)
        qb_neon_store_s32((int32_t *)a->c + at, acc, n);
    else
        qb_neon_store_s8x4((int8_t *)a->c + at, qb_neon_requant(acc, rq, cl), n);
}

/* Rows of A per slice in the GEMM drivers: a slice of about 128 KiB stays
 * in L2 while every weight panel passes over it (one panel in L1), so the
 * weights are streamed once per slice instead of once per micro-tile. A
 * multiple of mr, at least mr. */
static inline int qb_neon_slice_rows(size_t row_bytes, int mr)
{
    size_t rows = ((size_t)128 << 10) / (row_bytes ? row_bytes : 1);
    rows = rows / (size_t)mr * (size_t)mr;
    if (rows < (size_t)mr)
        rows = (size_t)mr;
    return rows > (1u << 20) ? (1 << 20) : (int)rows;
}

/* The scalar references' clamp: v < lo ? lo : v, then v > hi ? hi : v
 * (FMAX/FMIN keep a NaN, as the comparisons do). */
QB_NEON_INLINE float32x4_t qb_neon_clampf(float32x4_t v, float32x4_t lo, float32x4_t hi)
{
    return vminq_f32(vmaxq_f32(v, lo), hi);
}

#endif
