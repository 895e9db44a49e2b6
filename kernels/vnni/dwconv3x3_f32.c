/*
 * dwconv3x3_f32.c - AVX-512F fp32 depthwise 3x3 convolution (NHWC,
 * stride 1 or 2, zero padding), vectorised over 16 channels with masked
 * tails (within the float tolerance of the scalar reference: the taps are
 * FMAed, then the bias added and the clamp applied).
 *
 * Output pixels are visited in row order, all channels of a pixel (or of
 * a group) before the next, so input and output stream contiguously.
 * Runs of 4 horizontally adjacent pixels whose windows lie inside the
 * image load each shared input column once for all four (18 loads for
 * 36 FMAs at stride 1); other pixels take only their in-image taps.
 * Packed layout: 9 taps x Cp floats (Cp = C rounded up to 16, tap t =
 * 3 ky + kx, w[c][t] at t * Cp + c), then Cp biases; padding zero.
 */
#include "kernels/vnni/vnni.h"

#define DW_NX 4 /* inner pixels along x per step */

static size_t cpad(int c) { return ((size_t)c + 15) / 16 * 16; }

size_t QB_VNNI(qb_dwconv3x3_f32__vnni_size)(int n, int k, int group)
{
    (void)k;
    (void)group;
    return sizeof(float) * 10 * cpad(n);
}

void QB_VNNI(qb_dwconv3x3_f32__vnni_pack)(const qb_weights *w, void *dst)
{
    float *out = dst;
    size_t cp = cpad(w->n);
    for (int c = 0; c < w->n; c++) {
        for (int t = 0; t < 9; t++)
            out[(size_t)t * cp + c] = w->f32[(size_t)c * 9 + t];
        out[9 * cp + c] = w->bias_f32 ? w->bias_f32[c] : 0.0f;
    }
}

/* The outputs whose window is inside the input along one axis: [lo, hi)
 * within [0, out). */
static void inner_range(int size, int stride, int pad, int out, int *lo, int *hi)
{
    int l = (pad + stride - 1) / stride, h = size - 3 + pad >= 0 ? (size - 3 + pad) / stride + 1 : 0;
    *lo = l < out ? l : out;
    *hi = h < *lo ? *lo : h > out ? out : h;
}

/* DW_NX horizontally adjacent inner pixels (stride s_), all channels:
 * each input column of the window rows is loaded once for the pixels
 * that share it. xp, yp: first channel of the first pixel's window /
 * output; wb: packed weights. */
QB_MICRO void dw_run(int s_, const float *xp, float *yp, const float *wb, int C, size_t cp, size_t row,
                     __m512 lo, __m512 hi)
{
    for (int c0 = 0; c0 < C; c0 += 16) {
        const __mmask16 mk = qb_mask16(C - c0);
        __m512 acc[DW_NX];
QB_UNROLL(GCC unroll 4)
        for (int o = 0; o < DW_NX; o++)
            acc[o] = _mm512_setzero_ps();
QB_UNROLL(GCC unroll 3)
        for (int ky = 0; ky < 3; ky++) {
            const __m512 w0 = _mm512_load_ps(wb + (size_t)(3 * ky) * cp + c0);
            const __m512 w1 = _mm512_load_ps(wb + (size_t)(3 * ky + 1) * cp + c0);
            const __m512 w2 = _mm512_load_ps(wb + (size_t)(3 * ky + 2) * cp + c0);
QB_UNROLL(GCC unroll 9)
            for (int j = 0; j < s_ * (DW_NX - 1) + 3; j++) {
                __m512 xv = _mm512_maskz_loadu_ps(mk, xp + ky * row + (size_t)j * C + c0);
QB_UNROLL(GCC unroll 4)
                for (int o = 0; o < DW_NX; o++) {
                    int kx = j - s_ * o;
                    if (kx >= 0 && kx < 3)
                        acc[o] = _mm512_fmadd_ps(xv, kx == 0 ? w0 : kx == 1 ? w1 : w2, acc[o]);
                }
            }
        }
        const __m512 b = _mm512_load_ps(wb + 9 * cp + c0);
QB_UNROLL(GCC unroll 4)
        for (int o = 0; o < DW_NX; o++)
            _mm512_mask_storeu_ps(yp + (size_t)o * C + c0, mk, qb_clamp_ps(_mm512_add_ps(acc[o], b), lo, hi));
    }
}

void QB_VNNI(qb_dwconv3x3_f32__vnni)(const qb_packed *p, const qb_dw_args *a)
{
    const float *W = p->w, *x = a->x;
    float *y = a->y;
    const int C = a->c, S = a->stride;
    const size_t cp = cpad(C), row = (size_t)a->w * C; /* floats per input row */
    const __m512 lo = _mm512_set1_ps(a->f_min), hi = _mm512_set1_ps(a->f_max);
    int ylo, yhi, xlo, xhi;
    inner_range(a->h, S, a->pad_t, a->out_h, &ylo, &yhi);
    inner_range(a->w, S, a->pad_l, a->out_w, &xlo, &xhi);
    for (int oy = 0; oy < a->out_h; oy++) {
        int iy0 = oy * S - a->pad_t;
        int ky0 = iy0 < 0 ? -iy0 : 0, ky1 = a->h - iy0 < 3 ? a->h - iy0 : 3;
        int inner_y = oy >= ylo && oy < yhi;
        for (int ox = 0; ox < a->out_w;) {
            int ix0 = ox * S - a->pad_l;
            float *yp = y + ((size_t)oy * a->out_w + ox) * C;
            if (inner_y && ox >= xlo && ox + DW_NX <= xhi) {
                const float *xp = x + (size_t)iy0 * row + (size_t)ix0 * C;
                if (S == 1)
                    dw_run(1, xp, yp, W, C, cp, row, lo, hi);
                else
                    dw_run(2, xp, yp, W, C, cp, row, lo, hi);
                ox += DW_NX;
                continue;
            }
            int kx0 = ix0 < 0 ? -ix0 : 0, kx1 = a->w - ix0 < 3 ? a->w - ix0 : 3;
            for (int c0 = 0; c0 < C; c0 += 16) {
                const __mmask16 mk = qb_mask16(C - c0);
                __m512 acc = _mm512_setzero_ps();
                for (int ky = ky0; ky < ky1; ky++) /* the in-image taps */
                    for (int kx = kx0; kx < kx1; kx++) {
                        const float *xp = x + (size_t)(iy0 + ky) * row + (size_t)(ix0 + kx) * C + c0;
                        acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, xp),
                                              _mm512_load_ps(W + (size_t)(ky * 3 + kx) * cp + c0), acc);
                    }
                acc = qb_clamp_ps(_mm512_add_ps(acc, _mm512_load_ps(W + 9 * cp + c0)), lo, hi);
                _mm512_mask_storeu_ps(yp + c0, mk, acc);
            }
            ox++;
        }
    }
}
