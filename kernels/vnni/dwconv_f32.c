/*
 * dwconv_f32.c - AVX-512F fp32 depthwise convolution (NHWC, any window,
 * stride, dilation and zero padding), vectorised over 16 channels with
 * masked tails (within the float tolerance of the scalar reference: the
 * taps are FMAed, then the bias added and the clamp applied).
 *
 * Output pixels are visited in row order, all channels of a pixel (or of
 * a group) before the next, so input and output stream contiguously.
 * Runs of 4 horizontally adjacent pixels whose windows lie inside the
 * image share each weight load; for 3x3 windows with dilation 1 and the
 * same stride 1 or 2 on both axes they also load each shared input column
 * once for all four (18 loads for 36 FMAs at stride 1). Other pixels take
 * only their in-image taps.
 * Packed layout: k taps x Cp floats (Cp = C rounded up to 16, tap t =
 * kw ky + kx, w[c][t] at t * Cp + c), then Cp biases; padding zero.
 */
#include "kernels/dw_geom.h"
#include "kernels/vnni/vnni.h"

#define DW_NX 4 /* inner pixels along x per step */

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

void QB_VNNI(qb_dwconv_f32__vnni)(const qb_packed *p, const qb_dw_args *a)
{
    const float *W = p->w, *x = a->x;
    float *y = a->y;
    const int C = a->c, SH = a->stride_h, SW = a->stride_w, nt = a->kh * a->kw;
    const int fast = qb_dw_is3x3(a);
    const size_t cp = cpad(C), row = (size_t)a->w * C; /* floats per input row */
    const __m512 lo = _mm512_set1_ps(a->f_min), hi = _mm512_set1_ps(a->f_max);
    int ylo, yhi, xlo, xhi;
    qb_dw_inner(a->h, SH, a->pad_t, a->dil_h, a->kh, a->out_h, &ylo, &yhi);
    qb_dw_inner(a->w, SW, a->pad_l, a->dil_w, a->kw, a->out_w, &xlo, &xhi);
    for (int oy = 0; oy < a->out_h; oy++) {
        int iy0 = oy * SH - a->pad_t, ky0, ky1;
        qb_dw_taps(oy, SH, a->pad_t, a->dil_h, a->kh, a->h, &ky0, &ky1);
        int inner_y = oy >= ylo && oy < yhi;
        for (int ox = 0; ox < a->out_w;) {
            int ix0 = ox * SW - a->pad_l;
            float *yp = y + ((size_t)oy * a->out_w + ox) * C;
            if (inner_y && ox >= xlo && ox + DW_NX <= xhi) {
                const float *xp = x + (size_t)iy0 * row + (size_t)ix0 * C;
                if (fast && SW == 1)
                    dw_run(1, xp, yp, W, C, cp, row, lo, hi);
                else if (fast)
                    dw_run(2, xp, yp, W, C, cp, row, lo, hi);
                else
                    dw_run_any(a, xp, yp, W, cp, (size_t)SW * C, (size_t)a->dil_h * row, (size_t)a->dil_w * C, lo,
                               hi);
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
