/*
 * common.h - static inline helpers shared by the NEON kernels in this
 * directory: the int8 requantization of kernels.h on four int32 lanes
 * (bit-exact with kernels/scalar/requant.c: |acc| * multiplier plus
 * 2^(rshift-1) in unsigned 64-bit, logical shift right, sign restored,
 * clamp to [c_min - c_zero, c_max - c_zero], c_zero added), tail-safe
 * loads and stores, the float clamp and row store, the loop of every GEMM
 * driver (QB_NEON_GEMM_LOOP: slices of rows, panels, micro-tiles of each
 * height) and the tap list of the depthwise convolutions. Base ARMv8-A
 * Advanced SIMD only, so every file may include it whatever its -march.
 */
#ifndef QB_NEON_COMMON_H
#define QB_NEON_COMMON_H

#include <arm_neon.h>
#include <string.h>

#include "kernels/dw_geom.h"
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

/* Tail-safe loads and stores of one vector of L elements of type T, for
 * each (sfx, T, VT, L) below:
 *   VT qb_neon_load_sfx(const T *p, int n): n (clamped to 0..L) elements
 *     from p, the other lanes zero;
 *   void qb_neon_store_sfx(T *p, VT v, int n): the first n (0..L) lanes.
 * Short ones go through a small stack copy, so no memory past the n
 * elements is touched (the ends of rows, panels and channel vectors). */
#define QB_NEON_TAIL_IO(sfx, T, VT, L)                                                              \
    QB_NEON_INLINE VT qb_neon_load_##sfx(const T *p, int n)                                         \
    {                                                                                               \
        if (n >= (L))                                                                               \
            return vld1q_##sfx(p);                                                                  \
        T b[L] = {0, 0, 0, 0}; /* all zero; GCC 12 makes tighter code of this than of {0} */       \
        memcpy(b, p, sizeof(T) * (size_t)(n > 0 ? n : 0));                                          \
        return vld1q_##sfx(b);                                                                      \
    }                                                                                               \
    QB_NEON_INLINE void qb_neon_store_##sfx(T *p, VT v, int n)                                      \
    {                                                                                               \
        if (n >= (L)) {                                                                             \
            vst1q_##sfx(p, v);                                                                      \
            return;                                                                                 \
        }                                                                                           \
        T b[L];                                                                                     \
        vst1q_##sfx(b, v);                                                                          \
        memcpy(p, b, sizeof(T) * (size_t)(n > 0 ? n : 0));                                          \
    }
QB_NEON_TAIL_IO(f32, float, float32x4_t, 4)  /* qb_neon_load_f32, qb_neon_store_f32 */
QB_NEON_TAIL_IO(s32, int32_t, int32x4_t, 4)  /* qb_neon_load_s32, qb_neon_store_s32 */
QB_NEON_TAIL_IO(s8, int8_t, int8x16_t, 16)   /* qb_neon_load_s8, qb_neon_store_s8 */

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

/* Lane c = the sum of the 4 lanes of acc[c] (c 0..3): four pairwise
 * partial sums of a column each, reduced to one vector of 4 columns. */
QB_NEON_INLINE int32x4_t qb_neon_hsum4(const int32x4_t *acc)
{
    return vpaddq_s32(vpaddq_s32(acc[0], acc[1]), vpaddq_s32(acc[2], acc[3]));
}

/* x rounded up to a multiple of m: the padded N and K of packed layouts. */
static inline size_t qb_neon_round_up(int x, int m)
{
    return ((size_t)x + (size_t)m - 1) / (size_t)m * (size_t)m;
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

/* Switch cases calling T(mr) with mr a constant from max down to 1, so
 * each height is its own fully unrolled copy of the micro-tile. */
#define QB_NEON_TILES_4(T) case 4: T(4); break; case 3: T(3); break; case 2: T(2); break; default: T(1); break;
#define QB_NEON_TILES_6(T) case 6: T(6); break; case 5: T(5); break; QB_NEON_TILES_4(T)
#define QB_NEON_TILES_8(T) case 8: T(8); break; case 7: T(7); break; QB_NEON_TILES_6(T)
#define QB_NEON_CAT_(x, y) x##y
#define QB_NEON_CAT(x, y) QB_NEON_CAT_(x, y)

/* The loop of every GEMM driver: the m rows of C in slices of
 * qb_neon_slice_rows(row_bytes, mr_max) rows, each slice panel by panel
 * (columns j0 .. j0+nr-1), each panel in micro-tiles of mr_max rows from
 * i0 (the last one shorter). TILE(mr) computes one micro-tile: a
 * function-like macro of the caller that uses the loop's i0 and j0; mr is
 * a constant. mr_max is 4, 6 or 8 (a literal or a macro of one). */
#define QB_NEON_GEMM_LOOP(m, n, row_bytes, nr, mr_max, TILE)                                          \
    do {                                                                                            \
        const int qb_mc_ = qb_neon_slice_rows((row_bytes), (mr_max));                               \
        for (int qb_ic_ = 0; qb_ic_ < (m); qb_ic_ += qb_mc_) {                                      \
            const int qb_ie_ = (m) - qb_ic_ < qb_mc_ ? (m) : qb_ic_ + qb_mc_;                       \
            for (int j0 = 0; j0 < (n); j0 += (nr))                                                  \
                for (int i0 = qb_ic_; i0 < qb_ie_; i0 += (mr_max))                                  \
                    switch (qb_ie_ - i0 < (mr_max) ? qb_ie_ - i0 : (mr_max)) {                      \
                        QB_NEON_CAT(QB_NEON_TILES_, mr_max)(TILE)                                   \
                    }                                                                               \
        }                                                                                           \
    } while (0)

/* The scalar references' clamp: v < lo ? lo : v, then v > hi ? hi : v
 * (FMAX/FMIN keep a NaN, as the comparisons do). */
QB_NEON_INLINE float32x4_t qb_neon_clampf(float32x4_t v, float32x4_t lo, float32x4_t hi)
{
    return vminq_f32(vmaxq_f32(v, lo), hi);
}

/* Float GEMM output of one row, columns 0 .. nc-1 (nc 1..4 * nq) at c:
 * vector q = columns 4q .. 4q+3 of v, clamped to [lo, hi]. */
QB_NEON_INLINE void qb_neon_store_row_f32(float *c, const float32x4_t *v, int nc, float32x4_t lo, float32x4_t hi,
                                          const int nq)
{
    #pragma GCC unroll 4
    for (int q = 0; q < nq; q++)
        if (q == 0 || nc > 4 * q) /* nc >= 1 */
            qb_neon_store_f32(c + 4 * q, qb_neon_clampf(v[q], lo, hi), nc - 4 * q);
}

/* The in-image taps of output pixel (oy, ox) of a depthwise call (any
 * window, stride, dilation), in order ky, kx: input pixel xs[t] and weight
 * row ws[t] (tap-major packing, pixel_bytes per pixel and per tap row);
 * returns their count (arrays of QB_DW_MAX_TAPS). */
QB_NEON_INLINE int qb_neon_dw_taps(const qb_dw_args *a, int oy, int ox, const void *x, const void *w,
                                   size_t pixel_bytes, const void **xs, const void **ws)
{
    int nt = 0, ky0, ky1, kx0, kx1;
    qb_dw_taps(oy, a->stride_h, a->pad_t, a->dil_h, a->kh, a->h, &ky0, &ky1);
    qb_dw_taps(ox, a->stride_w, a->pad_l, a->dil_w, a->kw, a->w, &kx0, &kx1);
    for (int ky = ky0; ky < ky1; ky++) {
        int iy = oy * a->stride_h - a->pad_t + ky * a->dil_h;
        for (int kx = kx0; kx < kx1; kx++) {
            int ix = ox * a->stride_w - a->pad_l + kx * a->dil_w;
            xs[nt] = (const char *)x + ((size_t)iy * a->w + ix) * pixel_bytes;
            ws[nt++] = (const char *)w + (size_t)(ky * a->kw + kx) * pixel_bytes;
        }
    }
    return nt;
}

#endif
