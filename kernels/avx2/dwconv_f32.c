/*
 * dwconv_f32.c - AVX2/FMA fp32 depthwise convolution, NHWC, any window,
 * stride, dilation and zero padding (out_h/out_w chosen by the caller),
 * with bias and clamp. Packed layout: taps x C (tap-major, w[t][c] =
 * W[c][t]), the same as the scalar reference, so one tap of 8 channels is
 * one vector load.
 *
 * Windows 3 or 5 wide with dilation 1 and stride 1 or 2 along x (any
 * height, vertical stride and dilation) go row by row in runs of 8 (3
 * wide) or 6 (5 wide; stride 2: 4) horizontally adjacent output pixels, borders
 * included (dw_row, dw_run8): per 8 channels each weight is loaded once
 * for the run and each input column once for the pixels that share it
 * (3x3 stride 1: 3 weight and 10 column loads for 24 FMAs a window row),
 * one accumulator a pixel so that both FMA pipes stay busy; the padding's
 * window rows are skipped and its columns read as zero. Every other
 * window lists the in-image taps of each output pixel and sums them
 * (dw_single).
 *
 * Vectorised over channels, 8 per vector, the last C % 8 channels with
 * masked loads and stores. Taps are summed in order ky, kx with FMA, then
 * the bias is added, then the clamp, as in the scalar reference.
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
#define DW_NX_MAX 8 /* most pixels of a run */
#define DW_KW_MAX 5 /* widest window of a run */

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

/* Channels [c, c + 8) (tail: the first C - c, masked) of NX horizontally
 * adjacent output pixels of one row, for a window KW wide at dilation 1
 * and stride S along x (any height, vertical stride and dilation): each
 * input column of a window row loaded once for the pixels sharing it,
 * each weight once for the NX pixels, NX independent accumulators. Only
 * the nky in-image window rows are visited. EDGE runs read the columns
 * outside the image as zero (bit j of cols: input column ix0 + j lies
 * inside) and store the first nout pixels only; EDGE 2 and 3 runs (all NX
 * pixels) have only their first (2) or last (3) column outside, whose
 * taps they skip (the borders at padding 1). xr: channel c of input
 * column 0 in the first in-image window row; dy: floats between window
 * rows; ix0: input column of the first pixel's tap 0; wr: channel c of
 * that window row's weights; y: channel c of the first output pixel. */
DW_INLINE void dw_run8(int NX, int S, int KW, int EDGE, int tail, __m256i m, const float *xr, size_t dy, int nky,
                       int ix0, unsigned cols, int nout, size_t C, const float *wr, const float *bias, float *y,
                       __m256 vmin, __m256 vmax)
{
    const int ncol = S * (NX - 1) + KW;
    __m256 acc[DW_NX_MAX];
#pragma GCC unroll 8
    for (int o = 0; o < NX; o++)
        acc[o] = _mm256_setzero_ps();
    for (int r = 0; r < nky; r++) {
        const float *xq = xr + (size_t)r * dy, *wq = wr + (size_t)r * KW * C;
        __m256 wk[DW_KW_MAX];
#pragma GCC unroll 5
        for (int kx = 0; kx < KW; kx++)
            wk[kx] = dw_load(wq + (size_t)kx * C, tail, m);
#pragma GCC unroll 17
        for (int j = 0; j < ncol; j++) {
            if ((EDGE == 2 && j == 0) || (EDGE == 3 && j == ncol - 1))
                continue; /* the one column outside the image: no tap */
            __m256 xv = _mm256_setzero_ps(); /* a column in the padding */
            if (EDGE != 1 || ((cols >> j) & 1))
                xv = dw_load(xq + (ptrdiff_t)(ix0 + j) * (ptrdiff_t)C, tail, m);
#pragma GCC unroll 8
            for (int o = 0; o < NX; o++) {
                const int kx = j - S * o;
                if (kx >= 0 && kx < KW)
                    acc[o] = _mm256_fmadd_ps(xv, wk[kx], acc[o]);
            }
        }
    }
    const __m256 b = dw_load(bias, tail, m);
#pragma GCC unroll 8
    for (int o = 0; o < NX; o++)
        if (EDGE != 1 || o < nout)
            dw_store(y + (size_t)o * C, acc[o], b, vmin, vmax, tail, m);
}

/* One run (dw_run8), all channels. */
DW_INLINE void dw_run(int NX, int S, int KW, int EDGE, const float *xr, size_t dy, int nky, int ix0, unsigned cols,
                      int nout, size_t C, const float *wr, const float *bias, float *y, __m256 vmin, __m256 vmax)
{
    const __m256i all = _mm256_set1_epi32(-1);
    size_t c = 0;
    for (; c + 8 <= C; c += 8)
        dw_run8(NX, S, KW, EDGE, 0, all, xr + c, dy, nky, ix0, cols, nout, C, wr + c, bias + c, y + c, vmin, vmax);
    if (c < C)
        dw_run8(NX, S, KW, EDGE, 1, dw_mask((int)(C - c)), xr + c, dy, nky, ix0, cols, nout, C, wr + c, bias + c,
                y + c, vmin, vmax);
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

/* Pixels per run at stride 1: 8 for 3-wide windows (8 accumulators, 3
 * weights, a column: 12 of the 16 registers), 6 for 5-wide ones; 4 at
 * stride 2 (measured on the synthetic net's stride-2 layers: 8 was slower
 * there, 4 about as fast as the old pixel pairs). */
#define DW_NX3 8
#define DW_NX5 6
#define DW_NX(S, KW) ((S) == 2 ? 4 : (KW) == 3 ? DW_NX3 : DW_NX5)

/* One run of S, KW (compile-time after inlining) in its interior or EDGE
 * form. */
#define DW_RUN(EDGE, S, KW)                                                                                          \
    dw_run(DW_NX(S, KW), S, KW, EDGE, xr, dy, nky, ix0, cols, nout, C, wr, p->bias_f32, yp, vmin, vmax)

/* One output row in runs of nx pixels (a row at least nx wide ends with a
 * run shifted left onto pixels already written, which it writes again
 * with the same values; a narrower one is one EDGE run), for the windows
 * rows_ok admits. ky0, ky1: the row's in-image window rows; xlo, xhi: the
 * pixels whose window lies inside the image along x. */
static void dw_row(const qb_packed *p, const qb_dw_args *a, int oy, int ky0, int ky1, int xlo, int xhi,
                   __m256 vmin, __m256 vmax)
{
    const size_t C = (size_t)a->c, row = (size_t)a->w * C, dy = (size_t)a->dil_h * row;
    const int S = a->stride_w, KW = a->kw, nky = ky1 - ky0, nx = DW_NX(S, KW);
    const int ncol = S * (nx - 1) + KW;
    const float *xr = a->x, *wr = (const float *)p->w + (size_t)ky0 * KW * C;
    if (nky > 0) /* (no row is read otherwise) */
        xr += (size_t)(oy * a->stride_h - a->pad_t + ky0 * a->dil_h) * row;
    for (int ox = 0; ox < a->out_w; ox += nx) {
        int nout = a->out_w - ox;
        if (nout < nx && ox > 0) /* the last run, shifted left */
            ox = a->out_w - nx, nout = nx;
        const int ix0 = ox * S - a->pad_l;
        float *yp = (float *)a->y + ((size_t)oy * a->out_w + ox) * C;
        unsigned cols = 0;
        if (nout >= nx && ox >= xlo && ox + nx <= xhi) {
            if (S == 1 && KW == 3)
                DW_RUN(0, 1, 3);
            else if (S == 1)
                DW_RUN(0, 1, 5);
            else if (KW == 3)
                DW_RUN(0, 2, 3);
            else
                DW_RUN(0, 2, 5);
            continue;
        }
        for (int j = 0; j < ncol; j++) /* the run's columns inside the image */
            if (ix0 + j >= 0 && ix0 + j < a->w)
                cols |= 1u << j;
        const unsigned all = (1u << ncol) - 1;
        if (KW == 3 && nout >= nx && (cols == (all & ~1u) || cols == all >> 1)) {
            if (S == 1 && cols & 1)
                DW_RUN(3, 1, 3);
            else if (S == 1)
                DW_RUN(2, 1, 3);
            else if (cols & 1)
                DW_RUN(3, 2, 3);
            else
                DW_RUN(2, 2, 3);
        } else if (S == 1 && KW == 3)
            DW_RUN(1, 1, 3);
        else if (S == 1)
            DW_RUN(1, 1, 5);
        else if (KW == 3)
            DW_RUN(1, 2, 3);
        else
            DW_RUN(1, 2, 5);
    }
}

/* Nonzero for the windows dw_row serves: 3 or 5 wide, dilation 1 and
 * stride 1 or 2 along x. */
static int rows_ok(const qb_dw_args *a)
{
    return (a->kw == 3 || a->kw == 5) && a->dil_w == 1 && (a->stride_w == 1 || a->stride_w == 2);
}

void qb_dwconv_f32__avx2(const qb_packed *p, const qb_dw_args *a)
{
    const __m256 vmin = _mm256_set1_ps(a->f_min), vmax = _mm256_set1_ps(a->f_max);
    if (!rows_ok(a)) {
        dw_any(p, a, vmin, vmax);
        return;
    }
    int xlo, xhi;
    qb_dw_inner(a->w, a->stride_w, a->pad_l, a->dil_w, a->kw, a->out_w, &xlo, &xhi);
    for (int oy = 0; oy < a->out_h; oy++) {
        int ky0, ky1;
        qb_dw_taps(oy, a->stride_h, a->pad_t, a->dil_h, a->kh, a->h, &ky0, &ky1);
        dw_row(p, a, oy, ky0, ky1, xlo, xhi, vmin, vmax);
    }
}
