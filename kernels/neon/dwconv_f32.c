/*
 * dwconv_f32.c - NEON fp32 depthwise convolution (any window, stride, dilation), NHWC
 * (qb_dwconv_f32__neon): for each output pixel the in-image taps are
 * listed once (qb_neon_dw_taps in common.h), then channels go 16 at a
 * time (4 vectors), then 4 at a time, then the last 1..3 through small
 * copies (never reading past the input or writing past the output).
 * Taps summed in order ky, kx with vfmaq_f32, then bias, then clamp
 * (within the fp32 tolerance of the reference, which multiplies and adds
 * separately).
 * Packed layout: taps x C floats, tap t = kw ky + kx of channel c at t * C + c.
 */
#include "kernels/neon/common.h"

size_t qb_dwconv_f32__neon_size(int n, int k, int group)
{
    (void)group;
    return sizeof(float) * (size_t)n * k;
}

void qb_dwconv_f32__neon_pack(const qb_weights *w, void *dst)
{
    float *out = dst;
    for (int c = 0; c < w->n; c++)
        for (int t = 0; t < w->k; t++)
            out[(size_t)t * w->n + c] = w->f32[(size_t)c * w->k + t];
}

/* Channels c .. c+4*nv-1 of one pixel from nt taps (x at xs[t], weights at
 * ws[t]), plus bias, clamped, stored at y. */
QB_NEON_INLINE void chans(const void *const *xs, const void *const *ws, int nt, size_t c, const float *bias,
                          float32x4_t lo, float32x4_t hi, float *y, const int nv)
{
    float32x4_t acc[4];
    #pragma GCC unroll 4
    for (int v = 0; v < nv; v++) acc[v] = vdupq_n_f32(0.0f);
    for (int t = 0; t < nt; t++) {
        const float *xt = xs[t], *wt = ws[t];
        #pragma GCC unroll 4
        for (int v = 0; v < nv; v++)
            acc[v] = vfmaq_f32(acc[v], vld1q_f32(xt + c + 4 * v), vld1q_f32(wt + c + 4 * v));
    }
    #pragma GCC unroll 4
    for (int v = 0; v < nv; v++)
        vst1q_f32(y + c + 4 * v, qb_neon_clampf(vaddq_f32(acc[v], vld1q_f32(bias + c + 4 * v)), lo, hi));
}

void qb_dwconv_f32__neon(const qb_packed *p, const qb_dw_args *a)
{
    const float *W = p->w, *x = a->x;
    float *y = a->y;
    size_t C = (size_t)a->c;
    float32x4_t lo = vdupq_n_f32(a->f_min), hi = vdupq_n_f32(a->f_max);
    for (int oy = 0; oy < a->out_h; oy++)
        for (int ox = 0; ox < a->out_w; ox++) {
            const void *xs[QB_DW_MAX_TAPS], *ws[QB_DW_MAX_TAPS];
            int nt = qb_neon_dw_taps(a, oy, ox, x, W, sizeof(float) * C, xs, ws);
            float *yp = y + ((size_t)oy * a->out_w + ox) * C;
            size_t c = 0;
            for (; c + 16 <= C; c += 16)
                chans(xs, ws, nt, c, p->bias_f32, lo, hi, yp, 4);
            for (; c + 4 <= C; c += 4)
                chans(xs, ws, nt, c, p->bias_f32, lo, hi, yp, 1);
            if (c < C) { /* the last 1..3 channels */
                int n = (int)(C - c);
                float32x4_t acc = vdupq_n_f32(0.0f);
                for (int t = 0; t < nt; t++) {
                    const float *xt = xs[t], *wt = ws[t];
                    acc = vfmaq_f32(acc, qb_neon_load_f32(xt + c, n), qb_neon_load_f32(wt + c, n));
                }
                acc = qb_neon_clampf(vaddq_f32(acc, qb_neon_load_f32(p->bias_f32 + c, n)), lo, hi);
                qb_neon_store_f32(yp + c, acc, n);
            }
        }
}
