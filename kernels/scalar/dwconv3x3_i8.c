/*
 * dwconv3x3_i8.c - scalar int8 depthwise 3x3 convolution (NHWC), the
 * bit-exact reference for every ISA: acc = bias[c] + sum over in-image
 * taps of (x - x_zero) * w (padding holds x_zero, i.e. real zero), in
 * 32-bit wrap-around arithmetic, requantized per channel with
 * qb_requant_apply. Logical weights C x 9 in [-127, 127]; packed 9 x C.
 */
#include "kernels/kernels.h"

size_t qb_dwconv3x3_i8__scalar_size(int n, int k, int group)
{
    (void)group;
    return (size_t)n * k;
}

void qb_dwconv3x3_i8__scalar_pack(const qb_weights *w, void *dst)
{
    int8_t *out = dst;
    for (int c = 0; c < w->n; c++)
        for (int t = 0; t < 9; t++)
            out[(size_t)t * w->n + c] = w->i8[(size_t)c * 9 + t];
}

void qb_dwconv3x3_i8__scalar(const qb_packed *p, const qb_dw_args *a)
{
    const int8_t *W = p->w, *x = a->x;
    int8_t *y = a->y;
    int C = a->c;
    for (int oy = 0; oy < a->out_h; oy++)
        for (int ox = 0; ox < a->out_w; ox++)
            for (int c = 0; c < C; c++) {
                uint32_t acc = (uint32_t)p->bias_i32[c];
                for (int ky = 0; ky < 3; ky++) {
                    int iy = oy * a->stride - a->pad_t + ky;
                    if (iy < 0 || iy >= a->h)
                        continue;
                    for (int kx = 0; kx < 3; kx++) {
                        int ix = ox * a->stride - a->pad_l + kx;
                        if (ix < 0 || ix >= a->w)
                            continue;
                        int32_t xv = x[((size_t)iy * a->w + ix) * C + c] - a->x_zero;
                        acc += (uint32_t)(xv * W[(size_t)(ky * 3 + kx) * C + c]);
                    }
                }
                y[((size_t)oy * a->out_w + ox) * C + c] =
                    qb_requant_apply((int32_t)acc, a->rq[c], a->y_zero, a->y_min, a->y_max);
            }
}
