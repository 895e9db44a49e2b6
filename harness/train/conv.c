/*
 * conv.c - 2-D convolution with groups (depthwise when groups equal the
 * channels), square kernel, stride and zero padding, and its backward
 * pass. Per group, im2col over the whole batch gives cols [B*P x Kc]
 * (P output pixels, Kc = Cin/g*k*k); the fp32 GEMM kernel computes
 * Y = cols . W^T + b, dW = dY^T . cols and dcols = dY . W, and col2im
 * scatters dcols back into dX. Depthwise convs with one output per
 * channel use direct loops instead.
 */
#include <string.h>

#include "harness/train/layers.h"

/* Sizes of one group's products. */
typedef struct conv_dims {
    int cig, cog;  /* input and output channels per group */
    int kc;        /* Cin/g * k * k */
    int p;         /* output pixels per image */
    size_t bp;     /* B * p */
} conv_dims;

static conv_dims dims(const qb_layer *L, int B)
{
    conv_dims d;
    d.cig = L->in_c / L->groups;
    d.cog = L->out_c / L->groups;
    d.kc = d.cig * L->k * L->k;
    d.p = L->out_h * L->out_w;
    d.bp = (size_t)B * d.p;
    return d;
}

size_t qb_conv_scratch(const qb_layer *L, int B)
{
    conv_dims d = dims(L, B);
    /* cols, colsT/dcols, Yg/dYg, dYgT, WgT */
    return 2 * d.bp * d.kc + 2 * d.bp * d.cog + (size_t)d.kc * d.cog;
}

static void im2col(const qb_layer *L, const float *x, int B, int g, const conv_dims *d, float *cols)
{
    int k = L->k, s = L->stride, pad = L->pad, H = L->in_h, W = L->in_w;
    for (int b = 0; b < B; b++)
        for (int oy = 0; oy < L->out_h; oy++)
            for (int ox = 0; ox < L->out_w; ox++) {
                float *row = cols + ((size_t)b * d->p + (size_t)oy * L->out_w + ox) * d->kc;
                int ix0 = ox * s - pad, inside = ix0 >= 0 && ix0 + k <= W;
                for (int ci = 0; ci < d->cig; ci++) {
                    const float *xc = x + ((size_t)b * L->in_c + (size_t)g * d->cig + ci) * H * W;
                    for (int ky = 0; ky < k; ky++, row += k) {
                        int iy = oy * s - pad + ky;
                        if (iy < 0 || iy >= H) {
                            memset(row, 0, sizeof(float) * k);
                            continue;
                        }
                        const float *src = xc + (size_t)iy * W + ix0;
                        if (inside) {
                            for (int kx = 0; kx < k; kx++)
                                row[kx] = src[kx];
                        } else {
                            for (int kx = 0; kx < k; kx++)
                                row[kx] = ix0 + kx >= 0 && ix0 + kx < W ? src[kx] : 0.0f;
                        }
                    }
                }
            }
}

static void col2im_add(const qb_layer *L, const float *cols, int B, int g, const conv_dims *d, float *dx)
{
    int k = L->k, s = L->stride, pad = L->pad, H = L->in_h, W = L->in_w;
    for (int b = 0; b < B; b++)
        for (int oy = 0; oy < L->out_h; oy++)
            for (int ox = 0; ox < L->out_w; ox++) {
                const float *row = cols + ((size_t)b * d->p + (size_t)oy * L->out_w + ox) * d->kc;
                for (int ci = 0; ci < d->cig; ci++) {
                    float *xc = dx + ((size_t)b * L->in_c + (size_t)g * d->cig + ci) * H * W;
                    for (int ky = 0; ky < k; ky++) {
                        int iy = oy * s - pad + ky;
                        for (int kx = 0; kx < k; kx++, row++) {
                            int ix = ox * s - pad + kx;
                            if (iy >= 0 && iy < H && ix >= 0 && ix < W)
                                xc[iy * W + ix] += *row;
                        }
                    }
                }
            }
}

/* Depthwise with one output per channel (groups = in = out channels):
 * direct loops, no im2col. Forward (dy NULL) or backward. */
static void depthwise(qb_layer *L, const float *x, float *y, const float *dy, float *dx, int B)
{
    int k = L->k, s = L->stride, pad = L->pad, H = L->in_h, W = L->in_w, OH = L->out_h, OW = L->out_w;
    int C = L->in_c;
    if (dy) {
        memset(L->dw, 0, sizeof(float) * L->nw);
        memset(L->db, 0, sizeof(float) * L->nb);
    }
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++) {
            const float *xc = x + ((size_t)b * C + c) * H * W, *wc = L->w + (size_t)c * k * k;
            float *dwc = L->dw + (size_t)c * k * k;
            size_t ob = ((size_t)b * C + c) * OH * OW;
            float *dxc = dx ? dx + ((size_t)b * C + c) * H * W : NULL;
            for (int oy = 0; oy < OH; oy++)
                for (int ox = 0; ox < OW; ox++) {
                    float acc = 0, g = dy ? dy[ob + (size_t)oy * OW + ox] : 0;
                    if (dy)
                        L->db[c] += g;
                    for (int ky = 0; ky < k; ky++) {
                        int iy = oy * s - pad + ky;
                        if (iy < 0 || iy >= H)
                            continue;
                        for (int kx = 0; kx < k; kx++) {
                            int ix = ox * s - pad + kx;
                            if (ix < 0 || ix >= W)
                                continue;
                            if (!dy) {
                                acc += xc[iy * W + ix] * wc[ky * k + kx];
                            } else {
                                dwc[ky * k + kx] += g * xc[iy * W + ix];
                                if (dxc)
                                    dxc[iy * W + ix] += g * wc[ky * k + kx];
                            }
                        }
                    }
                    if (!dy)
                        y[ob + (size_t)oy * OW + ox] = acc + L->b[c];
                }
        }
}

void qb_conv_fwd(qb_layer *L, const float *x, float *y, int B)
{
    if (L->groups == L->in_c && L->groups == L->out_c && L->groups > 1) {
        depthwise(L, x, y, NULL, NULL, B);
        return;
    }
    conv_dims d = dims(L, B);
    float *cols = L->scratch, *yg = cols + 2 * d.bp * d.kc;
    for (int g = 0; g < L->groups; g++) {
        im2col(L, x, B, g, &d, cols);
        qb_mm_nt((int)d.bp, d.cog, d.kc, cols, L->w + (size_t)g * d.cog * d.kc, L->b + (size_t)g * d.cog, yg);
        for (int b = 0; b < B; b++)
            for (int o = 0; o < d.cog; o++) {
                float *yo = y + ((size_t)b * L->out_c + (size_t)g * d.cog + o) * d.p;
                const float *src = yg + (size_t)b * d.p * d.cog + o;
                for (int p = 0; p < d.p; p++)
                    yo[p] = src[(size_t)p * d.cog];
            }
    }
}

void qb_conv_bwd(qb_layer *L, const float *x, const float *dy, float *dx, int B)
{
    conv_dims d = dims(L, B);
    float *cols = L->scratch, *colsT = cols + d.bp * d.kc, *dyg = colsT + d.bp * d.kc;
    float *dygT = dyg + d.bp * d.cog, *wgT = dygT + d.bp * d.cog;
    float *dcols = colsT; /* reused once dW is done */
    if (dx)
        memset(dx, 0, sizeof(float) * (size_t)B * L->in_c * L->in_h * L->in_w);
    if (L->groups == L->in_c && L->groups == L->out_c && L->groups > 1) {
        depthwise(L, x, NULL, dy, dx, B);
        return;
    }
    for (int g = 0; g < L->groups; g++) {
        /* dYg^T [cog x B*P] straight from NCHW, and the bias gradient */
        for (int o = 0; o < d.cog; o++) {
            float *dst = dygT + (size_t)o * d.bp;
            float s = 0;
            for (int b = 0; b < B; b++) {
                const float *src = dy + ((size_t)b * L->out_c + (size_t)g * d.cog + o) * d.p;
                memcpy(dst + (size_t)b * d.p, src, sizeof(float) * d.p);
                for (int p = 0; p < d.p; p++)
                    s += src[p];
            }
            L->db[(size_t)g * d.cog + o] = s;
        }
        im2col(L, x, B, g, &d, cols);
        qb_transpose(cols, (int)d.bp, d.kc, colsT);
        qb_mm_nt(d.cog, d.kc, (int)d.bp, dygT, colsT, NULL, L->dw + (size_t)g * d.cog * d.kc);
        if (!dx)
            continue;
        qb_transpose(dygT, d.cog, (int)d.bp, dyg);
        qb_transpose(L->w + (size_t)g * d.cog * d.kc, d.cog, d.kc, wgT);
        qb_mm_nt((int)d.bp, d.kc, d.cog, dyg, wgT, NULL, dcols);
        col2im_add(L, dcols, B, g, &d, dx);
    }
}
