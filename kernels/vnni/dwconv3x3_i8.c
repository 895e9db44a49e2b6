/*
 * dwconv3x3_i8.c - AVX-512 int8 depthwise 3x3 convolution (NHWC, stride
 * 1 or 2), bit-exact with kernels/scalar/dwconv3x3_i8.c: 16 channels per
 * vector (masked tails), acc = bias + sum over in-image taps of
 * (x - x_zero) * w in 32-bit wrap-around arithmetic (padding is x_zero,
 * i.e. contributes 0), then the per-channel requantization of vnni.h.
 *
 * Output pixels are visited in row order, all channels of a pixel (or of
 * a group) before the next. Runs of 4 horizontally adjacent pixels whose
 * windows lie inside the image start from bias - x_zero * sum(w) (packed)
 * and add x * w, each shared input column loaded and widened once for
 * the four: the same sum modulo 2^32. Other pixels take their in-image
 * taps of (x - x_zero) * w.
 * Packed layout, int32, Cp = C rounded up to 16: 9 taps x Cp weights (tap
 * t = 3 ky + kx, w[c][t] at t * Cp + c), then Cp biases, then Cp weight
 * sums over the 9 taps; padding 0.
 */
#include "kernels/vnni/vnni.h"

#define DW_NX 4 /* inner pixels along x per step */

static size_t cpad(int c) { return ((size_t)c + 15) / 16 * 16; }

size_t QB_VNNI(qb_dwconv3x3_i8__vnni_size)(int n, int k, int group)
{
    (void)k;
    (void)group;
    return sizeof(int32_t) * 11 * cpad(n);
}

void QB_VNNI(qb_dwconv3x3_i8__vnni_pack)(const qb_weights *w, void *dst)
{
    int32_t *out = dst;
    size_t cp = cpad(w->n);
    for (int c = 0; c < w->n; c++) {
        for (int t = 0; t < 9; t++) {
            out[(size_t)t * cp + c] = w->i8[(size_t)c * 9 + t];
            out[10 * cp + c] += w->i8[(size_t)c * 9 + t];
        }
        out[9 * cp + c] = w->bias_i32 ? w->bias_i32[c] : 0;
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

/* 16 int8 at p (mk lanes) as int32. */
QB_INLINE __m512i ld_x(const int8_t *p, __mmask16 mk) { return _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(mk, p)); }

/* 16 packed int32 of row t at channel c0. */
QB_INLINE __m512i ld_w(const int32_t *wb, size_t cp, int t, int c0)
{
    return _mm512_load_si512((const void *)(wb + (size_t)t * cp + c0));
}

/* DW_NX horizontally adjacent inner pixels (stride s_), all channels. */
QB_MICRO void dw_run(int s_, const int8_t *xp, int8_t *yp, const int32_t *wb, const qb_dw_args *a, size_t cp,
                     size_t row)
{
    const int C = a->c;
    const __m512i xz = _mm512_set1_epi32(a->x_zero);
    qb_rqv rv;
    qb_rqv_set_range(&rv, a->y_zero, a->y_min, a->y_max);
    for (int c0 = 0; c0 < C; c0 += 16) {
        const int cnt = C - c0 < 16 ? C - c0 : 16;
        const __mmask16 mk = qb_mask16(cnt);
        __m512i acc[DW_NX];
        const __m512i bz = _mm512_sub_epi32(ld_w(wb, cp, 9, c0), _mm512_mullo_epi32(xz, ld_w(wb, cp, 10, c0)));
QB_UNROLL(GCC unroll 4)
        for (int o = 0; o < DW_NX; o++)
            acc[o] = bz;
QB_UNROLL(GCC unroll 3)
        for (int ky = 0; ky < 3; ky++) {
            const __m512i w0 = ld_w(wb, cp, 3 * ky, c0), w1 = ld_w(wb, cp, 3 * ky + 1, c0);
            const __m512i w2 = ld_w(wb, cp, 3 * ky + 2, c0);
QB_UNROLL(GCC unroll 9)
            for (int j = 0; j < s_ * (DW_NX - 1) + 3; j++) {
                __m512i xv = ld_x(xp + ky * row + (size_t)j * C + c0, mk);
QB_UNROLL(GCC unroll 4)
                for (int o = 0; o < DW_NX; o++) {
                    int kx = j - s_ * o;
                    if (kx >= 0 && kx < 3)
                        acc[o] = _mm512_add_epi32(acc[o], _mm512_mullo_epi32(xv, kx == 0 ? w0 : kx == 1 ? w1 : w2));
                }
            }
        }
        qb_rqv_load_channels(&rv, a->rq + c0, cnt);
QB_UNROLL(GCC unroll 4)
        for (int o = 0; o < DW_NX; o++)
            qb_store_i8x16(yp + (size_t)o * C + c0, qb_requant16(acc[o], &rv), cnt);
    }
}

void QB_VNNI(qb_dwconv3x3_i8__vnni)(const qb_packed *p, const qb_dw_args *a)
{
    const int32_t *W = p->w;
    const int8_t *x = a->x;
    int8_t *y = a->y;
    const int C = a->c, S = a->stride;
    const size_t cp = cpad(C), row = (size_t)a->w * C; /* bytes per input row */
    const __m512i xz = _mm512_set1_epi32(a->x_zero);
    int ylo, yhi, xlo, xhi;
    inner_range(a->h, S, a->pad_t, a->out_h, &ylo, &yhi);
    inner_range(a->w, S, a->pad_l, a->out_w, &xlo, &xhi);
    qb_rqv rv;
    qb_rqv_set_range(&rv, a->y_zero, a->y_min, a->y_max);
    for (int oy = 0; oy < a->out_h; oy++) {
        int iy0 = oy * S - a->pad_t;
        int ky0 = iy0 < 0 ? -iy0 : 0, ky1 = a->h - iy0 < 3 ? a->h - iy0 : 3;
        int inner_y = oy >= ylo && oy < yhi;
        for (int ox = 0; ox < a->out_w;) {
            int ix0 = ox * S - a->pad_l;
            int8_t *yp = y + ((size_t)oy * a->out_w + ox) * C;
            if (inner_y && ox >= xlo && ox + DW_NX <= xhi) {
                const int8_t *xp = x + (size_t)iy0 * row + (size_t)ix0 * C;
                if (S == 1)
                    dw_run(1, xp, yp, W, a, cp, row);
                else
                    dw_run(2, xp, yp, W, a, cp, row);
                ox += DW_NX;
                continue;
            }
            int kx0 = ix0 < 0 ? -ix0 : 0, kx1 = a->w - ix0 < 3 ? a->w - ix0 : 3;
            for (int c0 = 0; c0 < C; c0 += 16) {
                const int cnt = C - c0 < 16 ? C - c0 : 16;
                const __mmask16 mk = qb_mask16(cnt);
                __m512i acc = ld_w(W, cp, 9, c0);
                for (int ky = ky0; ky < ky1; ky++) /* the in-image taps */
                    for (int kx = kx0; kx < kx1; kx++) {
                        const int8_t *xp = x + (size_t)(iy0 + ky) * row + (size_t)(ix0 + kx) * C + c0;
                        __m512i xv = _mm512_sub_epi32(ld_x(xp, mk), xz);
                        acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(xv, ld_w(W, cp, ky * 3 + kx, c0)));
                    }
                qb_rqv_load_channels(&rv, a->rq + c0, cnt);
                qb_store_i8x16(yp + c0, qb_requant16(acc, &rv), cnt);
            }
            ox++;
        }
    }
}
