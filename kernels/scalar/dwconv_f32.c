/*
 * dwconv_f32.c - scalar fp32 depthwise convolution (NHWC, any kernel
 * size kh x kw, stride, dilation and zero padding), the reference for every
 * ISA: for each output pixel and channel, the taps that fall inside the
 * image summed in order ky, kx, then the bias added, then the clamp.
 * Logical weights: C x (kh kw) (w[c][kw*ky+kx]). Packed layout: (kh kw) x C.
 */
#include "kernels/dw_geom.h"
#include "kernels/kernels.h"

size_t qb_dwconv_f32__scalar_size(int n, int k, int group)
{
    (void)group;
    return sizeof(float) * (size_t)n * k;
}

void qb_dwconv_f32__scalar_pack(const qb_weights *w, void *dst)
{
    float *out = dst;
    for (int c = 0; c < w->n; c++)
        for (int t = 0; t < w->k; t++)
            out[(size_t)t * w->n + c] = w->f32[(size_t)c * w->k + t];
}

void qb_dwconv_f32__scalar(const qb_packed *p, const qb_dw_args *a)
{
    const float *W = p->w, *x = a->x;
    float *y = a->y;
    int C = a->c;
    for (int oy = 0; oy < a->out_h; oy++) {
        int ky0, ky1;
        qb_dw_taps(oy, a->stride_h, a->pad_t, a->dil_h, a->kh, a->h, &ky0, &ky1);
        for (int ox = 0; ox < a->out_w; ox++) {
            int kx0, kx1;
            qb_dw_taps(ox, a->stride_w, a->pad_l, a->dil_w, a->kw, a->w, &kx0, &kx1);
            for (int c = 0; c < C; c++) {
                float acc = 0.0f;
                for (int ky = ky0; ky < ky1; ky++) {
                    int iy = oy * a->stride_h - a->pad_t + ky * a->dil_h;
                    for (int kx = kx0; kx < kx1; kx++) {
                        int ix = ox * a->stride_w - a->pad_l + kx * a->dil_w;
                        acc += x[((size_t)iy * a->w + ix) * C + c] * W[(size_t)(ky * a->kw + kx) * C + c];
                    }
                }
                acc += p->bias_f32[c];
                acc = acc < a->f_min ? a->f_min : acc;
                acc = acc > a->f_max ? a->f_max : acc;
                y[((size_t)oy * a->out_w + ox) * C + c] = acc;
            }
        }
    }
}
