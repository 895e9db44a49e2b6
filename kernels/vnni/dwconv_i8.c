/*
 * dwconv_i8.c - AVX-512 int8 depthwise convolution (NHWC, any window,
 * stride, dilation, padding), bit-exact with kernels/scalar/dwconv_i8.c: 16 channels per
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
 * 3x3 windows with dilation 1 and the same stride 1 or 2 on both axes
 * load and widen each input column of a run once and multiply window rows
 * 0 and 1 as int16 pairs with vpdpwssd (2 taps per instruction), row 2
 * alone; other windows share the weights of a run (vpmulld).
 * Channels go in chunks of up to 512 whose requantization constants are
 * laid out once, then every output pixel is done for the chunk.
 * Packed layout, int32, Cp = C rounded up to 16: k taps x Cp weights (tap
 * t = kw ky + kx, w[c][t] at t * Cp + c), then Cp biases, then Cp weight
 * sums over the k taps; for k = 9 then 3 rows of the pairs (w[c][kx],
 * w[c][3 + kx]) as int16 halves and 3 rows of w[c][6 + kx] as a low int16
 * half (kx = 0, 1, 2); padding 0.
 */
#include "kernels/dw_geom.h"
#include "kernels/vnni/vnni.h"

#define DW_NX 4 /* inner pixels along x per step */

static size_t cpad(int c) { return ((size_t)c + 15) / 16 * 16; }

#define CHUNK 32 /* channel groups of 16 whose requantization constants are laid out at once */

size_t QB_VNNI(qb_dwconv_i8__vnni_size)(int n, int k, int group)
{
    (void)group;
    return sizeof(int32_t) * (size_t)(k + 2 + (k == 9 ? 6 : 0)) * cpad(n);
}

/* w as the low int16 half of a 32-bit lane, and hi as the high half. */
static int32_t pair16(int lo, int hi) { return (int32_t)((uint32_t)(uint16_t)lo | (uint32_t)(uint16_t)hi << 16); }

void QB_VNNI(qb_dwconv_i8__vnni_pack)(const qb_weights *w, void *dst)
{
    int32_t *out = dst;
    size_t cp = cpad(w->n);
    const size_t k = (size_t)w->k;
    for (int c = 0; c < w->n; c++) {
        const int8_t *wc = w->i8 + (size_t)c * k;
        for (size_t t = 0; t < k; t++) {
            out[t * cp + c] = wc[t];
            out[(k + 1) * cp + c] += wc[t];
        }
        out[k * cp + c] = w->bias_i32 ? w->bias_i32[c] : 0;
        if (k == 9)
            for (int kx = 0; kx < 3; kx++) {
                out[(11 + kx) * cp + c] = pair16(wc[kx], wc[3 + kx]);
                out[(14 + kx) * cp + c] = pair16(wc[6 + kx], 0);
            }
    }
}

/* 16 int8 at p (mk lanes) as int32. */
QB_INLINE __m512i ld_x(const int8_t *p, __mmask16 mk) { return _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(mk, p)); }

/* 16 packed int32 of row t at channel c0. */
QB_INLINE __m512i ld_w(const int32_t *wb, size_t cp, int t, int c0)
{
    return _mm512_load_si512((const void *)(wb + (size_t)t * cp + c0));
}

/* Channels [c0, c1) (a chunk of 16-channel groups), their requantization
 * constants rv[0 ..] (group g of the chunk at rv[g]). */
typedef struct chunk {
    int c0, c1;       /* channel range */
    const qb_rqv *rv; /* one per group of 16 */
} chunk;

/* DW_NX horizontally adjacent inner pixels of a 3x3 window (stride s_),
 * the chunk's channels: each input column of the three window rows loaded
 * and widened once for the four; rows 0 and 1 as one int16 pair per lane
 * (row 1 shifted into the high half), row 2 alone (its high half, the
 * sign bits, meets a zero weight). */
QB_MICRO void dw_run(int s_, const int8_t *xp, int8_t *yp, const int32_t *wb, const qb_dw_args *a, size_t cp,
                     size_t row, const chunk *ch)
{
    const int C = a->c;
    const __m512i xz = _mm512_set1_epi32(a->x_zero);
    for (int c0 = ch->c0, g = 0; c0 < ch->c1; c0 += 16, g++) {
        const int cnt = C - c0 < 16 ? C - c0 : 16;
        const __mmask16 mk = qb_mask16(cnt);
        __m512i acc[DW_NX], w01[3], w2[3];
        const __m512i bz = _mm512_sub_epi32(ld_w(wb, cp, 9, c0), _mm512_mullo_epi32(xz, ld_w(wb, cp, 10, c0)));
QB_UNROLL(GCC unroll 3)
        for (int kx = 0; kx < 3; kx++) {
            w01[kx] = ld_w(wb, cp, 11 + kx, c0);
            w2[kx] = ld_w(wb, cp, 14 + kx, c0);
        }
QB_UNROLL(GCC unroll 4)
        for (int o = 0; o < DW_NX; o++)
            acc[o] = bz;
QB_UNROLL(GCC unroll 9)
        for (int j = 0; j < s_ * (DW_NX - 1) + 3; j++) {
            const int8_t *q = xp + (size_t)j * C + c0;
            __m512i x1 = _mm512_slli_epi32(ld_x(q + row, mk), 16);
            __m512i p01 = _mm512_mask_blend_epi16((__mmask32)0xAAAAAAAAu, ld_x(q, mk), x1);
            __m512i x2 = ld_x(q + 2 * row, mk);
QB_UNROLL(GCC unroll 4)
            for (int o = 0; o < DW_NX; o++) {
                int kx = j - s_ * o;
                if (kx >= 0 && kx < 3) {
                    acc[o] = _mm512_dpwssd_epi32(acc[o], p01, w01[kx]);
                    acc[o] = _mm512_dpwssd_epi32(acc[o], x2, w2[kx]);
                }
            }
        }
QB_UNROLL(GCC unroll 4)
        for (int o = 0; o < DW_NX; o++)
            qb_store_i8x16(yp + (size_t)o * C + c0, qb_requant16(acc[o], &ch->rv[g]), cnt);
    }
}

/* DW_NX horizontally adjacent inner pixels of any window, the chunk's
 * channels: each weight loaded once for the four (step, dy, dx as in
 * dwconv_f32.c, in bytes). */
static void dw_run_any(const int8_t *xp, int8_t *yp, const int32_t *wb, const qb_dw_args *a, size_t cp, size_t step,
                       size_t dy, size_t dx, const chunk *ch)
{
    const int C = a->c, nt = a->kh * a->kw;
    const __m512i xz = _mm512_set1_epi32(a->x_zero);
    for (int c0 = ch->c0, g = 0; c0 < ch->c1; c0 += 16, g++) {
        const int cnt = C - c0 < 16 ? C - c0 : 16;
        const __mmask16 mk = qb_mask16(cnt);
        __m512i acc[DW_NX];
        const __m512i bz = _mm512_sub_epi32(ld_w(wb, cp, nt, c0), _mm512_mullo_epi32(xz, ld_w(wb, cp, nt + 1, c0)));
        for (int o = 0; o < DW_NX; o++)
            acc[o] = bz;
        for (int ky = 0; ky < a->kh; ky++)
            for (int kx = 0; kx < a->kw; kx++) {
                const __m512i wv = ld_w(wb, cp, ky * a->kw + kx, c0);
                const int8_t *q = xp + ky * dy + kx * dx + c0;
                for (int o = 0; o < DW_NX; o++)
                    acc[o] = _mm512_add_epi32(acc[o], _mm512_mullo_epi32(ld_x(q + o * step, mk), wv));
            }
        for (int o = 0; o < DW_NX; o++)
            qb_store_i8x16(yp + (size_t)o * C + c0, qb_requant16(acc[o], &ch->rv[g]), cnt);
    }
}

/* Every output pixel, the chunk's channels. */
static void dw_chunk(const qb_packed *p, const qb_dw_args *a, const chunk *ch)
{
    const int32_t *W = p->w;
    const int8_t *x = a->x;
    int8_t *y = a->y;
    const int C = a->c, SH = a->stride_h, SW = a->stride_w, nt = a->kh * a->kw;
    const int fast = qb_dw_is3x3(a);
    const size_t cp = cpad(C), row = (size_t)a->w * C; /* bytes per input row */
    const __m512i xz = _mm512_set1_epi32(a->x_zero);
    int ylo, yhi, xlo, xhi;
    qb_dw_inner(a->h, SH, a->pad_t, a->dil_h, a->kh, a->out_h, &ylo, &yhi);
    qb_dw_inner(a->w, SW, a->pad_l, a->dil_w, a->kw, a->out_w, &xlo, &xhi);
    for (int oy = 0; oy < a->out_h; oy++) {
        int iy0 = oy * SH - a->pad_t, ky0, ky1;
        qb_dw_taps(oy, SH, a->pad_t, a->dil_h, a->kh, a->h, &ky0, &ky1);
        int inner_y = oy >= ylo && oy < yhi;
        for (int ox = 0; ox < a->out_w;) {
            int ix0 = ox * SW - a->pad_l;
            int8_t *yp = y + ((size_t)oy * a->out_w + ox) * C;
            if (inner_y && ox >= xlo && ox + DW_NX <= xhi) {
                const int8_t *xp = x + (size_t)iy0 * row + (size_t)ix0 * C;
                if (fast && SW == 1)
                    dw_run(1, xp, yp, W, a, cp, row, ch);
                else if (fast)
                    dw_run(2, xp, yp, W, a, cp, row, ch);
                else
                    dw_run_any(xp, yp, W, a, cp, (size_t)SW * C, (size_t)a->dil_h * row, (size_t)a->dil_w * C, ch);
                ox += DW_NX;
                continue;
            }
            int kx0, kx1;
            qb_dw_taps(ox, SW, a->pad_l, a->dil_w, a->kw, a->w, &kx0, &kx1);
            for (int c0 = ch->c0, g = 0; c0 < ch->c1; c0 += 16, g++) {
                const int cnt = C - c0 < 16 ? C - c0 : 16;
                const __mmask16 mk = qb_mask16(cnt);
                __m512i acc = ld_w(W, cp, nt, c0);
                for (int ky = ky0; ky < ky1; ky++) /* the in-image taps */
                    for (int kx = kx0; kx < kx1; kx++) {
                        const int8_t *xp = x + (size_t)(iy0 + ky * a->dil_h) * row + (size_t)(ix0 + kx * a->dil_w) * C + c0;
                        __m512i xv = _mm512_sub_epi32(ld_x(xp, mk), xz);
                        acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(xv, ld_w(W, cp, ky * a->kw + kx, c0)));
                    }
                qb_store_i8x16(yp + c0, qb_requant16(acc, &ch->rv[g]), cnt);
            }
            ox++;
        }
    }
}

void QB_VNNI(qb_dwconv_i8__vnni)(const qb_packed *p, const qb_dw_args *a)
{
    qb_rqv rv[CHUNK];
    for (int c0 = 0; c0 < a->c; c0 += 16 * CHUNK) {
        chunk ch = {c0, a->c - c0 < 16 * CHUNK ? a->c : c0 + 16 * CHUNK, rv};
        for (int c = c0, g = 0; c < ch.c1; c += 16, g++) {
            qb_rqv_set_range(&rv[g], a->y_zero, a->y_min, a->y_max);
            qb_rqv_load_channels(&rv[g], a->rq + c, ch.c1 - c < 16 ? ch.c1 - c : 16);
        }
        dw_chunk(p, a, &ch);
    }
}
