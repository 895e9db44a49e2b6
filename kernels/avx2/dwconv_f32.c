/*
 * dwconv_f32.c - AVX2/FMA fp32 depthwise convolution, NHWC, any window,
 * stride, dilation and zero padding (out_h/out_w chosen by the caller),
 * with bias and clamp. Packed layout: taps x C (tap-major, w[t][c] =
 * W[c][t]), the same as the scalar reference, so one tap of 8 channels is
 * one vector load.
 *
 * 3x3 windows with dilation 1 and the same stride 1 or 2 on both axes take
 * the paths below; every other window lists the in-image taps of each
 * output pixel and sums them (dw_single), 8 channels per vector.
 *
 * Vectorised over channels, 8 per vector, the last C % 8 channels with
 * masked loads and stores. Output pixels whose 3x3 window lies inside the
 * image are computed two at a time (horizontal neighbours): per 8 channels
 * the nine weights are loaded once for both and the input columns they
 * share are loaded once (12 input loads for 18 FMAs at stride 1). Other
 * pixels (borders, padding) sum only the taps inside the image. Taps are
 * summed in order ky, kx with FMA, then the bias is added, then the clamp,
 * as in the scalar reference.
 */
#include <immintrin.h>

#include "kernels/dw_geom.h"
#include "kernels/kernels.h"

size_t qb_dwconv_f32__avx2_size(int n, int k, int group)
{
    (void)group;
    return sizeof(float) * (size_t)n * k;
}

void qb_dwconv_f32__avx2_pack(const qb_weights *w, void *dst)
{
    float *out = dst;
    for (int c = 0; c < w->n; c++)
        for (int t = 0; t < w->k; t++)
            out[(size_t)t * w->n + c] = w->f32[(size_t)c * w->k + t];
}

#define DW_INLINE static inline __attribute__((always_inline))

/* 8 floats at p: a plain load, or masked (tail). */
DW_INLINE __m256 dw_load(const float *p, int tail, __m256i m)
{
    return tail ? _mm256_maskload_ps(p, m) : _mm256_loadu_ps(p);
}

/* y = clamp(acc + bias): a plain store, or masked (tail). */
DW_INLINE void dw_store(float *y, __m256 acc, __m256 bias, __m256 vmin, __m256 vmax, int tail, __m256i m)
{
    /* max(min, v) keeps a NaN v, like the scalar compare */
    __m256 v = _mm256_min_ps(vmax, _mm256_max_ps(vmin, _mm256_add_ps(acc, bias)));
    if (tail)
        _mm256_maskstore_ps(y, m, v);
    else
        _mm256_storeu_ps(y, v);
}

/* Lanes below n set. */
DW_INLINE __m256i dw_mask(int n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* Channels [c, c + 8) of two horizontally adjacent interior output pixels
 * (stride s): x0/x1/x2 point at channel c of the left pixel's window
 * column 0 in input rows 0-2, pixels C floats apart; y at channel c of
 * the left output pixel. */
DW_INLINE void dw_pair8(int s, int tail, __m256i m, const float *const *xr, size_t C, const float *w,
                        const float *bias, float *y, __m256 vmin, __m256 vmax)
{
    enum { NCOL = 5 };
    const int ncol = s == 1 ? 4 : 5; /* input columns the two windows span */
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
#pragma GCC unroll 3
    for (int ky = 0; ky < 3; ky++) {
        __m256 xv[NCOL];
#pragma GCC unroll 5
        for (int j = 0; j < NCOL; j++)
            if (j < ncol)
                xv[j] = dw_load(xr[ky] + j * C, tail, m);
#pragma GCC unroll 3
        for (int kx = 0; kx < 3; kx++) {
            __m256 wv = dw_load(w + (size_t)(3 * ky + kx) * C, tail, m);
            __asm__("" : "+x"(wv)); /* one load for both pixels */
            acc0 = _mm256_fmadd_ps(xv[kx], wv, acc0);
            acc1 = _mm256_fmadd_ps(xv[kx + s], wv, acc1);
        }
    }
    __m256 b = dw_load(bias, tail, m);
    dw_store(y, acc0, b, vmin, vmax, tail, m);
    dw_store(y + C, acc1, b, vmin, vmax, tail, m);
}

/* Two interior output pixels, all channels. */
DW_INLINE void dw_pair(int s, const float *const *xr, size_t C, const float *w, const float *bias, float *y,
                       __m256 vmin, __m256 vmax)
{
    const float *x[3] = {xr[0], xr[1], xr[2]};
    const __m256i all = _mm256_set1_epi32(-1);
    size_t c = 0;
    for (; c + 8 <= C; c += 8) {
        dw_pair8(s, 0, all, x, C, w + c, bias + c, y + c, vmin, vmax);
        x[0] += 8;
        x[1] += 8;
        x[2] += 8;
    }
    if (c < C)
        dw_pair8(s, 1, dw_mask((int)(C - c)), x, C, w + c, bias + c, y + c, vmin, vmax);
}

/* One output pixel of any window: n taps, tap i at input pixel
 * xt[i] (channel 0) with weights wt[i]. */
static void dw_single(int n, const float *const *xt, const float *const *wt, size_t C, const float *bias,
                      float *y, __m256 vmin, __m256 vmax)
{
    const __m256i all = _mm256_set1_epi32(-1);
    size_t c = 0;
    for (; c + 8 <= C; c += 8) {
        __m256 acc = _mm256_setzero_ps();
        for (int i = 0; i < n; i++)
            acc = _mm256_fmadd_ps(_mm256_loadu_ps(xt[i] + c), _mm256_loadu_ps(wt[i] + c), acc);
        dw_store(y + c, acc, _mm256_loadu_ps(bias + c), vmin, vmax, 0, all);
    }
    if (c < C) {
        const __m256i m = dw_mask((int)(C - c));
        __m256 acc = _mm256_setzero_ps();
        for (int i = 0; i < n; i++)
            acc = _mm256_fmadd_ps(_mm256_maskload_ps(xt[i] + c, m), _mm256_maskload_ps(wt[i] + c, m), acc);
        dw_store(y + c, acc, _mm256_maskload_ps(bias + c, m), vmin, vmax, 1, m);
    }
}

/* One output row; s is the stride (1 or 2, constant after inlining).
 * row[ky]: input row oy*s - pad_t + ky, or NULL outside the image. */
DW_INLINE void dw_row(int s, const qb_packed *p, const qb_dw_args *a, const float *const *row, float *y,
                      __m256 vmin, __m256 vmax)
{
    const size_t C = (size_t)a->c;
    const float *W = p->w;
    const int all_rows = row[0] && row[1] && row[2];
    int ox = 0;
    while (ox < a->out_w) {
        const int ix0 = ox * s - a->pad_l;
        if (all_rows && ox + 1 < a->out_w && ix0 >= 0 && ix0 + s + 2 < a->w) {
            const float *xr[3];
            for (int ky = 0; ky < 3; ky++)
                xr[ky] = row[ky] + (size_t)ix0 * C;
            dw_pair(s, xr, C, W, p->bias_f32, y + (size_t)ox * C, vmin, vmax);
            ox += 2;
            continue;
        }
        const float *xt[9], *wt[9];
        int n = 0;
        for (int ky = 0; ky < 3; ky++) {
            if (!row[ky])
                continue;
            for (int kx = 0; kx < 3; kx++) {
                int ix = ix0 + kx;
                if (ix < 0 || ix >= a->w)
                    continue;
                xt[n] = row[ky] + (size_t)ix * C;
                wt[n] = W + (size_t)(3 * ky + kx) * C;
                n++;
            }
        }
        dw_single(n, xt, wt, C, p->bias_f32, y + (size_t)ox * C, vmin, vmax);
        ox++;
    }
}

/* Any window: the in-image taps of each output pixel, listed, summed. */
static void dw_any(const qb_packed *p, const qb_dw_args *a, __m256 vmin, __m256 vmax)
{
    const float *x = a->x, *W = p->w;
    float *y = a->y;
    const size_t C = (size_t)a->c;
    const float *xt[QB_DW_MAX_TAPS], *wt[QB_DW_MAX_TAPS];
    for (int oy = 0; oy < a->out_h; oy++) {
        int ky0, ky1;
        qb_dw_taps(oy, a->stride_h, a->pad_t, a->dil_h, a->kh, a->h, &ky0, &ky1);
        for (int ox = 0; ox < a->out_w; ox++) {
            int kx0, kx1, n = 0;
            qb_dw_taps(ox, a->stride_w, a->pad_l, a->dil_w, a->kw, a->w, &kx0, &kx1);
            for (int ky = ky0; ky < ky1; ky++) {
                const float *r = x + (size_t)(oy * a->stride_h - a->pad_t + ky * a->dil_h) * a->w * C;
                for (int kx = kx0; kx < kx1; kx++, n++) {
                    xt[n] = r + (size_t)(ox * a->stride_w - a->pad_l + kx * a->dil_w) * C;
                    wt[n] = W + (size_t)(ky * a->kw + kx) * C;
                }
            }
            dw_single(n, xt, wt, C, p->bias_f32, y + ((size_t)oy * a->out_w + ox) * C, vmin, vmax);
        }
    }
}

void qb_dwconv_f32__avx2(const qb_packed *p, const qb_dw_args *a)
{
    const float *x = a->x;
    float *y = a->y;
    const size_t C = (size_t)a->c;
    const __m256 vmin = _mm256_set1_ps(a->f_min), vmax = _mm256_set1_ps(a->f_max);
    if (!qb_dw_is3x3(a)) {
        dw_any(p, a, vmin, vmax);
        return;
    }
    for (int oy = 0; oy < a->out_h; oy++) {
        const float *row[3];
        for (int ky = 0; ky < 3; ky++) {
            int iy = oy * a->stride_h - a->pad_t + ky;
            row[ky] = iy >= 0 && iy < a->h ? x + (size_t)iy * a->w * C : NULL;
        }
        float *yr = y + (size_t)oy * a->out_w * C;
        if (a->stride_h == 1)
            dw_row(1, p, a, row, yr, vmin, vmax);
        else
            dw_row(2, p, a, row, yr, vmin, vmax);
    }
}
