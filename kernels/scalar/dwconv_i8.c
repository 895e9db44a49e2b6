/*
 * dwconv_i8.c - scalar int8 depthwise convolution (NHWC, any kernel size
 * kh x kw, stride, dilation and padding), the bit-exact reference for every
 * ISA: acc = bias[c] + sum over in-image taps of (x - x_zero) * w (padding
 * holds x_zero, i.e. real zero), in 32-bit wrap-around arithmetic,
 * requantized per channel with qb_requant_apply. Logical weights
 * C x (kh kw) in [-127, 127]; packed (kh kw) x C.
 */
#include "kernels/dw_geom.h"
#include "kernels/kernels.h"

size_t qb_dwconv_i8__scalar_size(int n, int k, int group)
{
    (void)group;
    return (size_t)n * k;
}

void qb_dwconv_i8__scalar_pack(const qb_weights *w, void *dst)
{
    int8_t *out = dst;
    for (int c = 0; c < w->n; c++)
        for (int t = 0; t < w->k; t++)
            out[(size_t)t * w->n + c] = w->i8[(size_t)c * w->k + t];
}

void qb_dwconv_i8__scalar(const qb_packed *p, const qb_dw_args *a)
{
    const int8_t *W = p->w, *x = a->x;
    int8_t *y = a->y;
    int C = a->c;
    for (int oy = 0; oy < a->out_h; oy++) {
        int ky0, ky1;
        qb_dw_taps(oy, a->stride_h, a->pad_t, a->dil_h, a->kh, a->h, &ky0, &ky1);
        for (int ox = 0; ox < a->out_w; ox++) {
            int kx0, kx1;
            qb_dw_taps(ox, a->stride_w, a->pad_l, a->dil_w, a->kw, a->w, &kx0, &kx1);
            for (int c = 0; c < C; c++) {
                uint32_t acc = (uint32_t)p->bias_i32[c];
                for (int ky = ky0; ky < ky1; ky++) {
                    int iy = oy * a->stride_h - a->pad_t + ky * a->dil_h;
                    for (int kx = kx0; kx < kx1; kx++) {
                        int ix = ox * a->stride_w - a->pad_l + kx * a->dil_w;
                        int32_t xv = x[((size_t)iy * a->w + ix) * C + c] - a->x_zero;
                        acc += (uint32_t)(xv * W[(size_t)(ky * a->kw + kx) * C + c]);
                    }
                }
                y[((size_t)oy * a->out_w + ox) * C + c] =
                    qb_requant_apply((int32_t)acc, a->rq[c], a->y_zero, a->y_min, a->y_max);
            }
        }
    }
}
