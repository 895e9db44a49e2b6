/*
 * conv.c - 2-D convolution with groups (depthwise when groups equal the
 * channels), square kernel, stride and zero padding, and its backward
 * pass, on all threads with results independent of the thread count.
 *
 * Per sample and group, im2col gives the input patches channel-major,
 * cols [Kc x P] (Kc = Cin/g*k*k rows, P output pixels; a 1x1 stride-1
 * conv uses the input itself), transposed to pixel-major [P x Kc] for the
 * forward product Y = cols . W^T + b on the fp32 GEMM kernel (W packed
 * once per call). Backward: dW^T [Kc x Cout/g] = cols . dY^T over chunks
 * of a fixed number of samples (partial sums added in chunk order), and
 * per sample dcols = dY . W, transposed and scattered back by col2im.
 * Depthwise convs with one output per channel use direct loops on a
 * zero-padded copy of each plane.
 */
#include <stdlib.h>
#include <string.h>

#include "harness/train/layers.h"
#include "harness/train/par.h"

/* Sizes of one group's products. */
typedef struct conv_dims {
    int cig, cog;  /* input and output channels per group */
    int kc;        /* Cin/g * k * k */
    int p;         /* output pixels per image */
    int hw;        /* input pixels per image */
    int s;         /* samples per weight-gradient chunk */
    int hp, wp;    /* depthwise: padded plane height and width */
} conv_dims;

static int is_depthwise(const qb_layer *L)
{
    return L->groups == L->in_c && L->groups == L->out_c && L->groups > 1;
}

/* 1x1, stride 1, no padding: the input is its own im2col. */
static int is_pointwise(const qb_layer *L) { return L->k == 1 && L->stride == 1 && L->pad == 0; }

static conv_dims dims(const qb_layer *L)
{
    conv_dims d;
    d.cig = L->in_c / L->groups;
    d.cog = L->out_c / L->groups;
    d.kc = d.cig * L->k * L->k;
    d.p = L->out_h * L->out_w;
    d.hw = L->in_h * L->in_w;
    /* about 1024 columns per chunk (4096 for thin patches): its operands stay in L2 */
    d.s = (d.kc >= 64 ? 1024 : 4096) / d.p;
    d.s = d.s < 1 ? 1 : d.s > 16 ? 16 : d.s;
    d.hp = L->in_h + 2 * L->pad;
    d.wp = L->in_w + 2 * L->pad;
    return d;
}

/* Floats of per-thread scratch. */
static size_t per_thread(const qb_layer *L)
{
    conv_dims d = dims(L);
    if (is_depthwise(L))
        return 2 * (size_t)d.hp * d.wp + (size_t)L->out_w;
    size_t fwd = 2 * (size_t)d.kc * d.p + (size_t)d.p * d.cog;
    size_t bwd = (size_t)(d.kc + d.cog) * d.s * d.p + (size_t)d.p * d.cog + 2 * (size_t)d.p * d.kc;
    return fwd > bwd ? fwd : bwd;
}

/* Floats of shared scratch for batch B: weight-gradient partial sums per
 * chunk, and W^T per group. */
static size_t shared(const qb_layer *L, int B)
{
    conv_dims d = dims(L);
    if (is_depthwise(L))
        return 0;
    size_t nch = ((size_t)B + d.s - 1) / d.s;
    return (nch + 1) * (size_t)L->groups * d.kc * d.cog;
}

size_t qb_conv_scratch(const qb_layer *L, int B, int threads)
{
    return shared(L, B) + (size_t)threads * per_thread(L);
}

/* Threads to use now: as many as OpenMP offers, the scratch grown to fit
 * them (qb_net_alloc sized it for the threads of that moment); fewer
 * when memory runs out (the results do not depend on it). */
static int threads_for(qb_layer *L, int B)
{
    int t = qb_par_threads();
    size_t pt = per_thread(L), sh = shared(L, B);
    if (L->scratch_len < sh + (size_t)t * pt) {
        float *p = realloc(L->scratch, sizeof(float) * (sh + (size_t)t * pt));
        if (p) {
            L->scratch = p;
            L->scratch_len = sh + (size_t)t * pt;
        }
    }
    int cap = L->scratch_len > sh ? (int)((L->scratch_len - sh) / pt) : 0;
    return t < cap ? t : cap < 1 ? 1 : cap;
}

/* Channel-major patches of group g of one sample x [Cin x H x W] into
 * cols [Kc x P], rows ld floats apart. */
static void im2col(const qb_layer *L, const float *x, int g, const conv_dims *d, float *cols, size_t ld)
{
    int k = L->k, s = L->stride, pad = L->pad, H = L->in_h, W = L->in_w, OH = L->out_h, OW = L->out_w;
    const float pv = L->pad_value; /* 0, or the binary QAT padding value */
    for (int ci = 0; ci < d->cig; ci++) {
        const float *xc = x + (size_t)(g * d->cig + ci) * d->hw;
        for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++) {
                float *row = cols + (size_t)((ci * k + ky) * k + kx) * ld;
                /* output columns whose input column is inside: ox in [xa, xb) */
                int xa = pad - kx > 0 ? (pad - kx + s - 1) / s : 0;
                int xb = W - 1 + pad - kx >= 0 ? (W - 1 + pad - kx) / s + 1 : 0;
                xb = xb > OW ? OW : xb;
                xa = xa > xb ? xb : xa;
                for (int oy = 0; oy < OH; oy++, row += OW) {
                    int iy = oy * s - pad + ky;
                    if (iy < 0 || iy >= H) {
                        for (int ox = 0; ox < OW; ox++)
                            row[ox] = pv;
                        continue;
                    }
                    const float *src = xc + (size_t)iy * W - pad + kx;
                    for (int ox = 0; ox < xa; ox++)
                        row[ox] = pv;
                    if (s == 1)
                        memcpy(row + xa, src + xa, sizeof(float) * (size_t)(xb - xa));
                    else
                        for (int ox = xa; ox < xb; ox++)
                            row[ox] = src[ox * s];
                    for (int ox = xb; ox < OW; ox++)
                        row[ox] = pv;
                }
            }
    }
}

/* The reverse: add channel-major dcols [Kc x P] into group g of dx. */
static void col2im_add(const qb_layer *L, const float *cols, int g, const conv_dims *d, float *dx)
{
    int k = L->k, s = L->stride, pad = L->pad, H = L->in_h, W = L->in_w, OH = L->out_h, OW = L->out_w;
    for (int ci = 0; ci < d->cig; ci++) {
        float *xc = dx + (size_t)(g * d->cig + ci) * d->hw;
        for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++) {
                const float *row = cols + (size_t)((ci * k + ky) * k + kx) * d->p;
                int xa = pad - kx > 0 ? (pad - kx + s - 1) / s : 0;
                int xb = W - 1 + pad - kx >= 0 ? (W - 1 + pad - kx) / s + 1 : 0;
                xb = xb > OW ? OW : xb;
                xa = xa > xb ? xb : xa;
                for (int oy = 0; oy < OH; oy++, row += OW) {
                    int iy = oy * s - pad + ky;
                    if (iy < 0 || iy >= H)
                        continue;
                    float *dst = xc + (size_t)iy * W - pad + kx;
                    if (s == 1)
                        for (int ox = xa; ox < xb; ox++)
                            dst[ox] += row[ox];
                    else
                        for (int ox = xa; ox < xb; ox++)
                            dst[ox * s] += row[ox];
                }
            }
    }
}

/* Zero-padded copy of one plane (H x W) into xp (hp x wp). */
static void pad_plane(const qb_layer *L, const conv_dims *d, const float *x, float *xp)
{
    memset(xp, 0, sizeof(float) * (size_t)d->hp * d->wp);
    for (int y = 0; y < L->in_h; y++)
        memcpy(xp + (size_t)(y + L->pad) * d->wp + L->pad, x + (size_t)y * L->in_w, sizeof(float) * L->in_w);
}

/* Depthwise forward of one plane: y = b + sum w[ky][kx] * xp[...]. */
static void dw_fwd_plane(const qb_layer *L, const conv_dims *d, const float *xp, const float *w, float bias,
                         float *y)
{
    int k = L->k, s = L->stride, OH = L->out_h, OW = L->out_w;
    for (int oy = 0; oy < OH; oy++) {
        float *yr = y + (size_t)oy * OW;
        for (int ox = 0; ox < OW; ox++)
            yr[ox] = 0;
        for (int ky = 0; ky < k; ky++) {
            const float *xr = xp + (size_t)(oy * s + ky) * d->wp;
            for (int kx = 0; kx < k; kx++) {
                float wv = w[ky * k + kx];
                if (s == 1)
                    for (int ox = 0; ox < OW; ox++)
                        yr[ox] += wv * xr[ox + kx];
                else
                    for (int ox = 0; ox < OW; ox++)
                        yr[ox] += wv * xr[ox * s + kx];
            }
        }
        for (int ox = 0; ox < OW; ox++)
            yr[ox] += bias;
    }
}

static void depthwise_fwd(qb_layer *L, const float *x, float *y, int B)
{
    conv_dims d = dims(L);
    int C = L->in_c, nt = threads_for(L, B);
    size_t pt = per_thread(L);
    (void)nt;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (long bc = 0; bc < (long)B * C; bc++) {
        float *xp = L->scratch + (size_t)qb_par_tid() * pt;
        int c = (int)(bc % C);
        pad_plane(L, &d, x + (size_t)bc * d.hw, xp);
        dw_fwd_plane(L, &d, xp, L->w + (size_t)c * L->k * L->k, L->b[c], y + (size_t)bc * d.p);
    }
}

/* Depthwise backward: one channel per iteration (its dw, db and every
 * sample's dx plane), samples in order. */
static void depthwise_bwd(qb_layer *L, const float *x, const float *dy, float *dx, int B)
{
    conv_dims d = dims(L);
    int C = L->in_c, k = L->k, s = L->stride, OH = L->out_h, OW = L->out_w, nt = threads_for(L, B);
    size_t pt = per_thread(L);
    (void)nt;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (int c = 0; c < C; c++) {
        float *xp = L->scratch + (size_t)qb_par_tid() * pt, *dxp = xp + (size_t)d.hp * d.wp;
        float *tmp = dxp + (size_t)d.hp * d.wp;
        const float *w = L->w + (size_t)c * k * k;
        double dwacc[64] = {0}, db = 0; /* k*k <= 64 checked below */
        float *dwc = L->dw + (size_t)c * k * k;
        int small = k * k <= 64;
        if (!small)
            memset(dwc, 0, sizeof(float) * (size_t)k * k);
        for (int b = 0; b < B; b++) {
            size_t bc = (size_t)b * C + c;
            const float *g = dy + bc * d.p;
            db += qb_sum8(g, (size_t)d.p);
            pad_plane(L, &d, x + bc * d.hw, xp);
            if (dx)
                memset(dxp, 0, sizeof(float) * (size_t)d.hp * d.wp);
            for (int ky = 0; ky < k; ky++)
                for (int kx = 0; kx < k; kx++) {
                    double acc = 0;
                    float wv = w[ky * k + kx];
                    for (int oy = 0; oy < OH; oy++) {
                        const float *gr = g + (size_t)oy * OW;
                        const float *xr = xp + (size_t)(oy * s + ky) * d.wp + kx;
                        float *dr = dxp + (size_t)(oy * s + ky) * d.wp + kx;
                        if (s == 1) {
                            acc += qb_dot8(gr, xr, (size_t)OW);
                            if (dx)
                                for (int ox = 0; ox < OW; ox++)
                                    dr[ox] += wv * gr[ox];
                        } else {
                            for (int ox = 0; ox < OW; ox++)
                                tmp[ox] = xr[ox * s];
                            acc += qb_dot8(gr, tmp, (size_t)OW);
                            if (dx)
                                for (int ox = 0; ox < OW; ox++)
                                    dr[ox * s] += wv * gr[ox];
                        }
                    }
                    if (small)
                        dwacc[ky * k + kx] += acc;
                    else
                        dwc[ky * k + kx] += (float)acc;
                }
            if (dx)
                for (int y = 0; y < L->in_h; y++)
                    memcpy(dx + bc * d.hw + (size_t)y * L->in_w, dxp + (size_t)(y + L->pad) * d.wp + L->pad,
                           sizeof(float) * L->in_w);
        }
        if (small)
            for (int j = 0; j < k * k; j++)
                dwc[j] = (float)dwacc[j];
        L->db[c] = (float)db;
    }
}

void qb_conv_fwd(qb_layer *L, const float *x, float *y, int B)
{
    if (is_depthwise(L)) {
        depthwise_fwd(L, x, y, B);
        return;
    }
    conv_dims d = dims(L);
    int G = L->groups, nt = threads_for(L, B), pw = is_pointwise(L);
    size_t pt = per_thread(L);
    qb_mm_w *w = malloc(sizeof *w * (size_t)G);
    qb_mm_w one;
    if (!w) {
        w = &one; /* out of memory: one group at a time */
        G = 1;
    }
    for (int g0 = 0; g0 < L->groups; g0 += G) {
        for (int g = 0; g < G; g++)
            qb_mm_prepare(&w[g], d.cog, d.kc, L->w + (size_t)(g0 + g) * d.cog * d.kc, L->b + (size_t)(g0 + g) * d.cog);
        (void)nt;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
        for (int b = 0; b < B; b++) {
            float *cm = L->scratch + shared(L, B) + (size_t)qb_par_tid() * pt;
            float *pm = cm + (size_t)d.kc * d.p, *ypm = pm + (size_t)d.kc * d.p;
            const float *xs = x + (size_t)b * L->in_c * d.hw;
            for (int g = 0; g < G; g++) {
                const float *src = xs + (size_t)(g0 + g) * d.cig * d.hw;
                if (!pw) {
                    im2col(L, xs, g0 + g, &d, cm, (size_t)d.p);
                    src = cm;
                }
                qb_transpose(src, d.kc, d.p, pm);
                qb_mm_apply(&w[g], d.p, pm, (size_t)d.kc, ypm, (size_t)d.cog);
                qb_transpose(ypm, d.p, d.cog, y + ((size_t)b * L->out_c + (size_t)(g0 + g) * d.cog) * d.p);
            }
        }
        for (int g = 0; g < G; g++)
            qb_mm_release(&w[g]);
    }
    if (w != &one)
        free(w);
}

void qb_conv_bwd(qb_layer *L, const float *x, const float *dy, float *dx, int B)
{
    if (is_depthwise(L)) {
        depthwise_bwd(L, x, dy, dx, B);
        return;
    }
    conv_dims d = dims(L);
    int G = L->groups, nt = threads_for(L, B), pw = is_pointwise(L);
    int nch = (B + d.s - 1) / d.s;
    size_t pt = per_thread(L), gw = (size_t)d.kc * d.cog; /* one group's weights */
    float *part = L->scratch;                            /* nch x G x [Kc x cog] */
    float *wt = part + (size_t)nch * G * gw;             /* G x [Kc x cog]: W^T */
    if (dx)
        memset(dx, 0, sizeof(float) * (size_t)B * L->in_c * d.hw);
    /* bias gradient: per output channel, samples in order */
    for (int o = 0; o < L->out_c; o++) {
        double s = 0;
        for (int b = 0; b < B; b++)
            s += qb_sum8(dy + ((size_t)b * L->out_c + o) * d.p, (size_t)d.p);
        L->db[o] = (float)s;
    }
    qb_mm_w *w = dx ? malloc(sizeof *w * (size_t)G) : NULL;
    int have_w = w != NULL;
    if (dx && w)
        for (int g = 0; g < G; g++) {
            qb_transpose(L->w + (size_t)g * gw, d.cog, d.kc, wt + (size_t)g * gw);
            qb_mm_prepare(&w[g], d.kc, d.cog, wt + (size_t)g * gw, NULL);
        }
    (void)nt;
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt) if (nt > 1)
    for (int ch = 0; ch < nch; ch++) {
        int b0 = ch * d.s, ns = B - b0 < d.s ? B - b0 : d.s;
        size_t sp = (size_t)ns * d.p;
        float *cols = L->scratch + shared(L, B) + (size_t)qb_par_tid() * pt; /* [Kc x sp] */
        float *dyg = cols + (size_t)d.kc * d.s * d.p;                        /* [cog x sp] */
        float *dypm = dyg + (size_t)d.cog * d.s * d.p;                       /* [P x cog] */
        float *dpm = dypm + (size_t)d.p * d.cog, *dcm = dpm + (size_t)d.p * d.kc; /* [P x Kc], [Kc x P] */
        for (int g = 0; g < L->groups; g++) {
            for (int j = 0; j < ns; j++) {
                const float *xs = x + (size_t)(b0 + j) * L->in_c * d.hw;
                const float *dys = dy + ((size_t)(b0 + j) * L->out_c + (size_t)g * d.cog) * d.p;
                if (pw)
                    for (int c = 0; c < d.cig; c++)
                        memcpy(cols + (size_t)c * sp + (size_t)j * d.p, xs + (size_t)(g * d.cig + c) * d.hw,
                               sizeof(float) * d.p);
                else
                    im2col(L, xs, g, &d, cols + (size_t)j * d.p, sp);
                for (int o = 0; o < d.cog; o++)
                    memcpy(dyg + (size_t)o * sp + (size_t)j * d.p, dys + (size_t)o * d.p, sizeof(float) * d.p);
            }
            /* partial dW^T [Kc x cog] = cols . dyg^T */
            qb_mm_w dw;
            qb_mm_prepare(&dw, d.cog, (int)sp, dyg, NULL);
            qb_mm_apply(&dw, d.kc, cols, sp, part + ((size_t)ch * G + g) * gw, (size_t)d.cog);
            qb_mm_release(&dw);
            if (!dx)
                continue;
            /* per sample: dcols [P x Kc] = dY^T [P x cog] . W [cog x Kc], then col2im */
            for (int j = 0; j < ns; j++) {
                const float *dys = dy + ((size_t)(b0 + j) * L->out_c + (size_t)g * d.cog) * d.p;
                qb_transpose(dys, d.cog, d.p, dypm);
                if (have_w) {
                    qb_mm_apply(&w[g], d.p, dypm, (size_t)d.cog, dpm, (size_t)d.kc);
                } else { /* no memory for the packed W^T: plain loops */
                    const float *wgt = L->w + (size_t)g * gw; /* [cog x Kc] */
                    for (int q = 0; q < d.p; q++)
                        for (int r = 0; r < d.kc; r++) {
                            float a = 0;
                            for (int o = 0; o < d.cog; o++)
                                a += dypm[(size_t)q * d.cog + o] * wgt[(size_t)o * d.kc + r];
                            dpm[(size_t)q * d.kc + r] = a;
                        }
                }
                qb_transpose(dpm, d.p, d.kc, dcm);
                col2im_add(L, dcm, g, &d, dx + (size_t)(b0 + j) * L->in_c * d.hw);
            }
        }
    }
    /* dW[g][o][r] = sum over chunks, in chunk order */
    size_t tot = (size_t)G * gw;
    (void)tot;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1 && tot >= 4096)
    for (size_t e = 0; e < tot; e++) {
        size_t g = e / gw, o = e % gw / d.kc, r = e % d.kc;
        float s = 0;
        for (int ch = 0; ch < nch; ch++)
            s += part[((size_t)ch * G + g) * gw + r * d.cog + o];
        L->dw[e] = s;
    }
    if (have_w) {
        for (int g = 0; g < G; g++)
            qb_mm_release(&w[g]);
        free(w);
    }
}
