/*
 * dwconv3x3_f32.c - scalar fp32 depthwise 3x3 convolution (NHWC, dilation
 * 1, stride 1 or 2, zero padding), the reference for every ISA: for each
 * output pixel and channel, taps summed in order ky, kx over the taps that
 * fall inside the image, then the bias added, then the clamp.
 * Logical weights: C x 9 (w[c][3*ky+kx]). Packed layout: 9 x C.
 */
#include "kernels/kernels.h"

size_t qb_dwconv3x3_f32__scalar_size(int n, int k, int group)
{
    (void)group;
    return sizeof(float) * (size_t)n * k;
}

void qb_dwconv3x3_f32__scalar_pack(const qb_weights *w, void *dst)
{
    float *out = dst;
    for (int c = 0; c < w->n; c++)
        for (int t = 0; t < 9; t++)
            out[(size_t)t * w->n + c] = w->f32[(size_t)c * 9 + t];
}

void qb_dwconv3x3_f32__scalar(const qb_packed *p, const qb_dw_args *a)
{
    const float *W = p->w, *x = a->x;
    float *y = a->y;
    int C = a->c;
    for (int oy = 0; oy < a->out_h; oy++)
        for (int ox = 0; ox < a->out_w; ox++)
            for (int c = 0; c < C; c++) {
                float acc = 0.0f;
                for (int ky = 0; ky < 3; ky++) {
                    int iy = oy * a->stride - a->pad_t + ky;
                    if (iy < 0 || iy >= a->h)
                        continue;
                    for (int kx = 0; kx < 3; kx++) {
                        int ix = ox * a->stride - a->pad_l + kx;
                        if (ix < 0 || ix >= a->w)
                            continue;
                        acc += x[((size_t)iy * a->w + ix) * C + c] * W[(size_t)(ky * 3 + kx) * C + c];
                    }
                }
                acc += p->bias_f32[c];
                acc = acc < a->f_min ? a->f_min : acc;
                acc = acc > a->f_max ? a->f_max : acc;
                y[((size_t)oy * a->out_w + ox) * C + c] = acc;
            }
}
