/*
 * dwconv_i8.c - NEON int8 depthwise convolution (any window, stride, dilation), NHWC
 * (qb_dwconv_i8__neon): for each output pixel the in-image taps are
 * listed once (qb_neon_dw_taps in common.h), then channels go 16 at a
 * time (the last 1..15 through small copies, never reading past the input
 * or writing past the output).
 * Per channel acc = bias + sum x * w - x_zero * sum w over the in-image
 * taps, which equals the reference's bias + sum (x - x_zero) * w in
 * wrap-around int32 for any x_zero: products of two taps are summed in
 * int16 (|2 * 128 * 127| = 32512 fits, weights are in [-127, 127]) and
 * widened into int32 (the weight sums every 256 taps). Then the per-channel requantization of kernels.h,
 * bit-exact with the scalar reference.
 * Packed layout: taps x C int8, tap t = kw ky + kx of channel c at t * C + c.
 */
#include "kernels/neon/common.h"

size_t qb_dwconv_i8__neon_size(int n, int k, int group)
{
    (void)group;
    return (size_t)n * k;
}

void qb_dwconv_i8__neon_pack(const qb_weights *w, void *dst)
{
    int8_t *out = dst;
    for (int c = 0; c < w->n; c++)
        for (int t = 0; t < w->k; t++)
            out[(size_t)t * w->n + c] = w->i8[(size_t)c * w->k + t];
}

/* Channels c .. c+n-1 (n 1..16) of one pixel from nt taps (x at xs[t],
 * weights at ws[t]), requantized and stored at y + c. */
QB_NEON_INLINE void chans(const qb_packed *p, const qb_dw_args *a, const void *const *xs, const void *const *ws,
                          int nt, size_t c, int n, const qb_neon_clamp *cl, int8_t *y)
{
    int32x4_t acc[4];
    for (int v = 0; v < 4; v++)
        acc[v] = n > 4 * v ? qb_neon_load_s32(p->bias_i32 + c + 4 * v, n - 4 * v) : vdupq_n_s32(0);
    int16x8_t wsum_lo = vdupq_n_s16(0), wsum_hi = vdupq_n_s16(0); /* weights of up to 256 taps */
    const int32x4_t xz = vdupq_n_s32(a->x_zero);
    int t = 0;
    for (; t < nt; t += 2) {
        const int8_t *x0p = xs[t], *w0p = ws[t];
        int8x16_t x0 = qb_neon_load_s8(x0p + c, n), w0 = qb_neon_load_s8(w0p + c, n);
        int16x8_t plo = vmull_s8(vget_low_s8(x0), vget_low_s8(w0)), phi = vmull_high_s8(x0, w0);
        wsum_lo = vaddw_s8(wsum_lo, vget_low_s8(w0));
        wsum_hi = vaddw_high_s8(wsum_hi, w0);
        if (t + 1 < nt) { /* a second tap in the same int16 sums */
            const int8_t *x1p = xs[t + 1], *w1p = ws[t + 1];
            int8x16_t x1 = qb_neon_load_s8(x1p + c, n), w1 = qb_neon_load_s8(w1p + c, n);
            plo = vmlal_s8(plo, vget_low_s8(x1), vget_low_s8(w1));
            phi = vmlal_high_s8(phi, x1, w1);
            wsum_lo = vaddw_s8(wsum_lo, vget_low_s8(w1));
            wsum_hi = vaddw_high_s8(wsum_hi, w1);
        }
        acc[0] = vaddw_s16(acc[0], vget_low_s16(plo));
        acc[1] = vaddw_high_s16(acc[1], plo);
        acc[2] = vaddw_s16(acc[2], vget_low_s16(phi));
        acc[3] = vaddw_high_s16(acc[3], phi);
        if ((t & 255) == 254 || t + 2 >= nt) { /* every 256 taps: |sum w| < 2^15 */
            acc[0] = vmlsq_s32(acc[0], vmovl_s16(vget_low_s16(wsum_lo)), xz);
            acc[1] = vmlsq_s32(acc[1], vmovl_high_s16(wsum_lo), xz);
            acc[2] = vmlsq_s32(acc[2], vmovl_s16(vget_low_s16(wsum_hi)), xz);
            acc[3] = vmlsq_s32(acc[3], vmovl_high_s16(wsum_hi), xz);
            wsum_lo = wsum_hi = vdupq_n_s16(0);
        }
    }
    for (int v = 0; v < 4; v++) {
        int m = n - 4 * v; /* lanes of this vector that are stored */
        qb_neon_rq rq = m > 0 ? qb_neon_rq_load(a->rq + c + 4 * v, m) : qb_neon_rq_load(a->rq + c, 1);
        acc[v] = qb_neon_requant(acc[v], &rq, cl);
    }
    qb_neon_store_s8(y + c, qb_neon_narrow16(acc[0], acc[1], acc[2], acc[3]), n);
}

void qb_dwconv_i8__neon(const qb_packed *p, const qb_dw_args *a)
{
    const int8_t *W = p->w, *x = a->x;
    int8_t *y = a->y;
    size_t C = (size_t)a->c;
    qb_neon_clamp cl = qb_neon_clamp_make(a->y_zero, a->y_min, a->y_max);
    for (int oy = 0; oy < a->out_h; oy++)
        for (int ox = 0; ox < a->out_w; ox++) {
            const void *xs[QB_DW_MAX_TAPS], *ws[QB_DW_MAX_TAPS];
            int nt = qb_neon_dw_taps(a, oy, ox, x, W, C, xs, ws);
            int8_t *yp = y + ((size_t)oy * a->out_w + ox) * C;
            size_t c = 0;
            for (; c + 16 <= C; c += 16)
                chans(p, a, xs, ws, nt, c, 16, &cl, yp);
            if (c < C)
                chans(p, a, xs, ws, nt, c, (int)(C - c), &cl, yp);
        }
}
