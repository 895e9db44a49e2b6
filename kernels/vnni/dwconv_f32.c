/*
 * dwconv_f32.c - AVX-512F fp32 depthwise convolution (NHWC, any window,
 * stride, dilation and zero padding), vectorised over 16 channels with
 * masked tails (within the float tolerance of the scalar reference: the
 * taps are FMAed, then the bias added and the clamp applied).
 *
 * Output pixels are visited in row order, all channels of a pixel (or of
 * a run of pixels) before the next, so input and output stream
 * contiguously. Windows 3, 5 or 7 wide with dilation 1 and stride 1 or 2
 * along x (any height, vertical stride and dilation) go by runs of 8
 * horizontally adjacent pixels, edges included (dw_row): each input
 * column loaded once for the pixels that share it, each weight once per
 * run, 8 independent accumulators (3x3 stride 1: 13 loads for 24 FMAs a
 * window row), the padding's rows skipped and its columns read as zero.
 * Other windows: runs of 4 inner pixels share each weight load, other
 * pixels take only their in-image taps.
 * Packed layout: k taps x Cp floats (Cp = C rounded up to 16, tap t =
 * kw ky + kx, w[c][t] at t * Cp + c), then Cp biases; padding zero.
 */
#include "kernels/dw_geom.h"
#include "kernels/vnni/vnni.h"

#define DW_NX 4 /* inner pixels along x per dw_run_any step */
#define DW_ROW 8 /* output pixels per dw_row run */
#define DW_KMAX 7 /* widest window dw_row serves */

static size_t cpad(int c) { return ((size_t)c + 15) / 16 * 16; }

size_t QB_VNNI(qb_dwconv_f32__vnni_size)(int n, int k, int group)
{
    (void)group;
    return sizeof(float) * (size_t)(k + 1) * cpad(n);
}

void QB_VNNI(qb_dwconv_f32__vnni_pack)(const qb_weights *w, void *dst)
{
    float *out = dst;
    size_t cp = cpad(w->n);
    for (int c = 0; c < w->n; c++) {
        for (int t = 0; t < w->k; t++)
            out[(size_t)t * cp + c] = w->f32[(size_t)c * w->k + t];
        out[(size_t)w->k * cp + c] = w->bias_f32 ? w->bias_f32[c] : 0.0f;
    }
}

/* DW_NX horizontally adjacent inner pixels of any window, all channels:
 * each weight loaded once for the four. xp: first channel of the first
 * pixel's window; step: floats between the pixels' windows; dy, dx: floats
 * between window rows / columns. */
static void dw_run_any(const qb_dw_args *a, const float *xp, float *yp, const float *wb, size_t cp, size_t step,
                       size_t dy, size_t dx, __m512 lo, __m512 hi)
{
    const int C = a->c, nt = a->kh * a->kw;
    for (int c0 = 0; c0 < C; c0 += 16) {
        const __mmask16 mk = qb_mask16(C - c0);
        __m512 acc[DW_NX];
        for (int o = 0; o < DW_NX; o++)
            acc[o] = _mm512_setzero_ps();
        for (int ky = 0; ky < a->kh; ky++)
            for (int kx = 0; kx < a->kw; kx++) {
                const __m512 wv = _mm512_load_ps(wb + (size_t)(ky * a->kw + kx) * cp + c0);
                const float *q = xp + ky * dy + kx * dx + c0;
                for (int o = 0; o < DW_NX; o++)
                    acc[o] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, q + o * step), wv, acc[o]);
            }
        const __m512 b = _mm512_load_ps(wb + (size_t)nt * cp + c0);
        for (int o = 0; o < DW_NX; o++)
            _mm512_mask_storeu_ps(yp + (size_t)o * C + c0, mk, qb_clamp_ps(_mm512_add_ps(acc[o], b), lo, hi));
    }
}

/* DW_ROW horizontally adjacent output pixels of one row, all channels,
 * for a window KW wide at dilation 1 along x and stride S along x (any
 * height, vertical stride and dilation): each input column of a window
 * row is loaded once for the pixels that share it, each weight once for
 * the DW_ROW pixels, whose DW_ROW independent accumulators keep both FMA
 * pipes busy. Only the nky in-image window rows are visited (those of the
 * padding are skipped). EDGE runs read the columns outside the image as
 * zero (bit j of cols: input column ix0 + j lies inside) and store the
 * first nout pixels only; EDGE 2 and 3 runs (all DW_ROW pixels) have only
 * their first (2) or last (3) column outside, whose taps they skip: the
 * image's left and right borders at padding 1, as fast as inner runs. xr: input row of the first in-image window row;
 * dy: floats between window rows; ix0: input column of the first pixel's
 * tap 0; wr: that window row's packed weights; bias: the packed biases. */
QB_MICRO void dw_row(int EDGE, int S, int KW, const float *xr, size_t dy, int nky, int ix0, unsigned cols,
                     int nout, float *yp, const float *wr, const float *bias, int C, size_t cp, __m512 lo,
                     __m512 hi)
{
    const int ncol = S * (DW_ROW - 1) + KW;
    for (int c0 = 0; c0 < C; c0 += 16) {
        const __mmask16 mk = qb_mask16(C - c0);
        __m512 acc[DW_ROW];
QB_UNROLL(GCC unroll 8)
        for (int o = 0; o < DW_ROW; o++)
            acc[o] = _mm512_setzero_ps();
        for (int r = 0; r < nky; r++) {
            const float *xq = xr + (size_t)r * dy + c0, *wq = wr + (size_t)r * KW * cp + c0;
            __m512 wk[DW_KMAX];
QB_UNROLL(GCC unroll 7)
            for (int kx = 0; kx < KW; kx++)
                wk[kx] = _mm512_load_ps(wq + (size_t)kx * cp);
QB_UNROLL(GCC unroll 21)
            for (int j = 0; j < ncol; j++) {
                __m512 xv;
                if ((EDGE == 2 && j == 0) || (EDGE == 3 && j == ncol - 1))
                    continue; /* the one column outside the image: no tap */
                if (EDGE == 1) { /* a column outside the image: mask 0, an address inside */
                    const int in = (cols >> j) & 1;
                    xv = _mm512_maskz_loadu_ps(in ? mk : 0, xq + (ptrdiff_t)(in ? ix0 + j : 0) * C);
                } else {
                    xv = _mm512_maskz_loadu_ps(mk, xq + (ptrdiff_t)(ix0 + j) * C);
                }
QB_UNROLL(GCC unroll 8)
                for (int o = 0; o < DW_ROW; o++) {
                    const int kx = j - S * o;
                    if (kx >= 0 && kx < KW)
                        acc[o] = _mm512_fmadd_ps(xv, wk[kx], acc[o]);
                }
            }
        }
        const __m512 b = _mm512_load_ps(bias + c0);
QB_UNROLL(GCC unroll 8)
        for (int o = 0; o < DW_ROW; o++)
            if (EDGE != 1 || o < nout)
                _mm512_mask_storeu_ps(yp + (size_t)o * C + c0, mk, qb_clamp_ps(_mm512_add_ps(acc[o], b), lo, hi));
    }
}

/* One output row in runs of DW_ROW pixels (a row at least DW_ROW wide ends
 * with a run shifted left onto pixels already written, which it writes
 * again with the same values; a narrower one is one EDGE run), for the
 * shapes dw_row serves (rows_ok). ky0, ky1: the row's in-image window
 * rows; xlo, xhi: the pixels whose window lies inside the image along x. */
static void dw_row_all(const qb_dw_args *a, const float *W, size_t cp, int oy, int ky0, int ky1, int xlo, int xhi,
                       __m512 lo, __m512 hi)
{
    const int C = a->c, S = a->stride_w, KW = a->kw, nky = ky1 - ky0;
    const size_t row = (size_t)a->w * C, dy = (size_t)a->dil_h * row;
    const float *xr = a->x;
    if (nky > 0) /* (no row is read otherwise) */
        xr += (size_t)(oy * a->stride_h - a->pad_t + ky0 * a->dil_h) * row;
    const float *wr = W + (size_t)ky0 * KW * cp, *bias = W + (size_t)a->kh * KW * cp;
    const int ncol = S * (DW_ROW - 1) + KW;
    for (int ox = 0; ox < a->out_w; ox += DW_ROW) {
        int nout = a->out_w - ox;
        if (nout < DW_ROW && ox > 0) /* the last run, shifted left */
            ox = a->out_w - DW_ROW, nout = DW_ROW;
        const int ix0 = ox * S - a->pad_l;
        float *yp = (float *)a->y + ((size_t)oy * a->out_w + ox) * C;
        if (nout >= DW_ROW && ox >= xlo && ox + DW_ROW <= xhi) {
            if (S == 1 && KW == 3)
                dw_row(0, 1, 3, xr, dy, nky, ix0, 0, DW_ROW, yp, wr, bias, C, cp, lo, hi);
            else if (S == 1 && KW == 5)
                dw_row(0, 1, 5, xr, dy, nky, ix0, 0, DW_ROW, yp, wr, bias, C, cp, lo, hi);
            else if (S == 1)
                dw_row(0, 1, 7, xr, dy, nky, ix0, 0, DW_ROW, yp, wr, bias, C, cp, lo, hi);
            else if (KW == 3)
                dw_row(0, 2, 3, xr, dy, nky, ix0, 0, DW_ROW, yp, wr, bias, C, cp, lo, hi);
            else if (KW == 5)
                dw_row(0, 2, 5, xr, dy, nky, ix0, 0, DW_ROW, yp, wr, bias, C, cp, lo, hi);
            else
                dw_row(0, 2, 7, xr, dy, nky, ix0, 0, DW_ROW, yp, wr, bias, C, cp, lo, hi);
            continue;
        }
        unsigned cols = 0; /* the run's columns inside the image */
        for (int j = 0; j < ncol; j++)
            if (ix0 + j >= 0 && ix0 + j < a->w)
                cols |= 1u << j;
        const unsigned all = (1u << ncol) - 1;
        if (KW == 3 && nout >= DW_ROW && (cols == (all & ~1u) || cols == all >> 1)) {
            if (S == 1 && cols & 1)
                dw_row(3, 1, 3, xr, dy, nky, ix0, 0, DW_ROW, yp, wr, bias, C, cp, lo, hi);
            else if (S == 1)
                dw_row(2, 1, 3, xr, dy, nky, ix0, 0, DW_ROW, yp, wr, bias, C, cp, lo, hi);
            else if (cols & 1)
                dw_row(3, 2, 3, xr, dy, nky, ix0, 0, DW_ROW, yp, wr, bias, C, cp, lo, hi);
            else
                dw_row(2, 2, 3, xr, dy, nky, ix0, 0, DW_ROW, yp, wr, bias, C, cp, lo, hi);
        } else if (S == 1 && KW == 3)
            dw_row(1, 1, 3, xr, dy, nky, ix0, cols, nout, yp, wr, bias, C, cp, lo, hi);
        else if (S == 1 && KW == 5)
            dw_row(1, 1, 5, xr, dy, nky, ix0, cols, nout, yp, wr, bias, C, cp, lo, hi);
        else if (S == 1)
            dw_row(1, 1, 7, xr, dy, nky, ix0, cols, nout, yp, wr, bias, C, cp, lo, hi);
        else if (KW == 3)
            dw_row(1, 2, 3, xr, dy, nky, ix0, cols, nout, yp, wr, bias, C, cp, lo, hi);
        else if (KW == 5)
            dw_row(1, 2, 5, xr, dy, nky, ix0, cols, nout, yp, wr, bias, C, cp, lo, hi);
        else
            dw_row(1, 2, 7, xr, dy, nky, ix0, cols, nout, yp, wr, bias, C, cp, lo, hi);
    }
}

/* Nonzero for the windows dw_row serves: 3, 5 or 7 wide, dilation 1 and
 * stride 1 or 2 along x. */
static int rows_ok(const qb_dw_args *a)
{
    return (a->kw == 3 || a->kw == 5 || a->kw == 7) && a->dil_w == 1 && (a->stride_w == 1 || a->stride_w == 2);
}

void QB_VNNI(qb_dwconv_f32__vnni)(const qb_packed *p, const qb_dw_args *a)
{
    const float *W = p->w, *x = a->x;
    float *y = a->y;
    const int C = a->c, SH = a->stride_h, SW = a->stride_w, nt = a->kh * a->kw;
    const int by_rows = rows_ok(a);
    const size_t cp = cpad(C), row = (size_t)a->w * C; /* floats per input row */
    const __m512 lo = _mm512_set1_ps(a->f_min), hi = _mm512_set1_ps(a->f_max);
    int ylo, yhi, xlo, xhi;
    qb_dw_inner(a->h, SH, a->pad_t, a->dil_h, a->kh, a->out_h, &ylo, &yhi);
    qb_dw_inner(a->w, SW, a->pad_l, a->dil_w, a->kw, a->out_w, &xlo, &xhi);
    for (int oy = 0; oy < a->out_h; oy++) {
        int iy0 = oy * SH - a->pad_t, ky0, ky1;
        qb_dw_taps(oy, SH, a->pad_t, a->dil_h, a->kh, a->h, &ky0, &ky1);
        if (by_rows) {
            dw_row_all(a, W, cp, oy, ky0, ky1, xlo, xhi, lo, hi);
            continue;
        }
        int inner_y = oy >= ylo && oy < yhi;
        for (int ox = 0; ox < a->out_w;) {
            int ix0 = ox * SW - a->pad_l;
            float *yp = y + ((size_t)oy * a->out_w + ox) * C;
            if (inner_y && ox >= xlo && ox + DW_NX <= xhi) {
                const float *xp = x + (size_t)iy0 * row + (size_t)ix0 * C;
                dw_run_any(a, xp, yp, W, cp, (size_t)SW * C, (size_t)a->dil_h * row, (size_t)a->dil_w * C, lo, hi);
                ox += DW_NX;
                continue;
            }
            int kx0, kx1;
            qb_dw_taps(ox, SW, a->pad_l, a->dil_w, a->kw, a->w, &kx0, &kx1);
            for (int c0 = 0; c0 < C; c0 += 16) {
                const __mmask16 mk = qb_mask16(C - c0);
                __m512 acc = _mm512_setzero_ps();
                for (int ky = ky0; ky < ky1; ky++) /* the in-image taps */
                    for (int kx = kx0; kx < kx1; kx++) {
                        const float *xp = x + (size_t)(iy0 + ky * a->dil_h) * row + (size_t)(ix0 + kx * a->dil_w) * C + c0;
                        acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, xp),
                                              _mm512_load_ps(W + (size_t)(ky * a->kw + kx) * cp + c0), acc);
                    }
                acc = qb_clamp_ps(_mm512_add_ps(acc, _mm512_load_ps(W + (size_t)nt * cp + c0)), lo, hi);
                _mm512_mask_storeu_ps(yp + c0, mk, acc);
            }
            ox++;
        }
    }
}
