/*
 * dwconv5_i8.c - AVX-512 VNNI int8 depthwise convolution of 5x5 windows
 * (and of 3x3 windows at 16 <= C < 32) at dilation 1 and stride 1 or 2
 * along x (any vertical stride and padding), bit-exact with
 * kernels/scalar/dwconv_i8.c; dwconv_i8.c's kernel hands these layers here.
 *
 * dw3's rows of horizontally interleaved taps (dwconv_i8.c), with the
 * weights of 16 channels held in registers: each input row of a block of
 * 64 channels is interleaved once into a T row whose position p holds, per
 * channel, the 4 bytes x[ix .. ix + 3] of the columns ix = p SW - pad_l + 0..3
 * (made unsigned, x_zero outside the image); the channels of each column
 * are permuted first so that vector J of a position holds channels
 * 16 J .. 16 J + 15 in order. A 5-wide window row is then two vpdpbusd of
 * vector J: position p against (w0, w1, w2, w3) and position p + 4 / SW
 * (columns ix + 4 ..) against (w4, 0, 0, 0); a 3-wide one position p
 * against (w0, w1, w2, 0). At stride 1 the column ix + 4 of window rows
 * 0..3 sits in byte ky of position p + 4 - ky of T row ky: three byte
 * blends gather it into one vector (ecol), so a 5x5 pixel is 7 vpdpbusd
 * (5 + this + row 4's (w4, 0, 0, 0)) instead of 10. The 16 channels of
 * one J go through a whole chunk of a row before the next J, so its
 * weight vectors (10 at most), bias and
 * requantization constants stay in registers (a pixel of 64 channels would
 * need 40 weight vectors, more than the 32 registers); four pixels at a
 * time keep four accumulator chains going. A ring of KH T rows (slot
 * iy mod KH) serves the output rows; window rows in the vertical padding
 * read a T row of x_zero. Sums start from the block's bias
 * - (x_zero + 128) sum(w) (the packed constants of dwconv_i8.c, their
 * lanes gathered into channel order), then the same rounding, saturation
 * to int16, + y_zero (saturating), saturation to int8 and clamp as
 * dwconv_i8.c's pack64: the same bytes.
 */
#include "kernels/vnni/dwconv_i8.h"

#define NP5 32 /* positions per chunk of a row (the ring's width) */
#define XP 4   /* positions a chunk reads past its last (4 / SW) */
#define NO 4   /* output pixels in flight */

static size_t cpad5(int c) { return ((size_t)c + 63) / 64 * 64; }

/* Column ix of a row at xr (channel offset added), or the x_zero block outside [0, w). */
static inline const int8_t *col5(const int8_t *xr, int ix, int w, size_t C, const int8_t *pad)
{
    return ix >= 0 && ix < w ? xr + (size_t)ix * C : pad;
}

/* Dword 4 L + j of v taken from dword 4 j + L: after ilv4, vector J holds
 * channels 16 J + 4 L + i in 128-bit lane L, dword i (16 channels in order). */
QB_INLINE __m512i perm(__m512i v)
{
    const __m512i idx = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    return _mm512_permutexvar_epi32(idx, v);
}

/* 64 input bytes (mk lanes) made unsigned and permuted. */
QB_INLINE __m512i pcol(const int8_t *p, __mmask64 mk) { return perm(ldu(p, mk)); }

/* Positions [p0, p0 + n) of the T row of input row xr (channel offset
 * added) into t, 4 vectors a position (ONE: only vector 0, C <= 16 in the
 * block); a column shared with the next position is loaded once. */
QB_INLINE void trow5_t(int SW, int ONE, const int8_t *xr, int w, size_t C, int pad_l, int p0, int n,
                       const int8_t *pad, __mmask64 mk, __m512i *t)
{
    int ix = p0 * SW - pad_l;
    __m512i c0 = pcol(col5(xr, ix, w, C, pad), mk), c1 = pcol(col5(xr, ix + 1, w, C, pad), mk);
    __m512i c2 = pcol(col5(xr, ix + 2, w, C, pad), mk);
    for (int p = 0; p < n; p++, ix += SW) {
        const __m512i c3 = pcol(col5(xr, ix + 3, w, C, pad), mk);
        if (ONE)
            t[4 * (size_t)p] = _mm512_unpacklo_epi16(_mm512_unpacklo_epi8(c0, c1), _mm512_unpacklo_epi8(c2, c3));
        else
            ilv4(c0, c1, c2, c3, t + 4 * (size_t)p);
        if (SW == 1) {
            c0 = c1, c1 = c2, c2 = c3;
        } else { /* columns ix + 2, ix + 3 are the next position's first two */
            c0 = c2, c1 = c3, c2 = pcol(col5(xr, ix + 4, w, C, pad), mk);
        }
    }
}

/* trow5_t with SW and ONE made compile-time. */
static void trow5(int SW, int ONE, const int8_t *xr, int w, size_t C, int pad_l, int p0, int n, const int8_t *pad,
                  __mmask64 mk, __m512i *t)
{
    if (SW == 1 && ONE)
        trow5_t(1, 1, xr, w, C, pad_l, p0, n, pad, mk, t);
    else if (SW == 1)
        trow5_t(1, 0, xr, w, C, pad_l, p0, n, pad, mk, t);
    else if (ONE)
        trow5_t(2, 1, xr, w, C, pad_l, p0, n, pad, mk, t);
    else
        trow5_t(2, 0, xr, w, C, pad_l, p0, n, pad, mk, t);
}

/* Lanes 4 J .. 4 J + 3 of four rows of 16 int32, rows `stride` int32 apart,
 * as 128-bit lanes 0..3: vector J of a block's constants in channel order. */
QB_INLINE __m512i gat(const int32_t *v, size_t stride, int J)
{
    __m512i r = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(v + 4 * J)));
    r = _mm512_inserti32x4(r, _mm_loadu_si128((const __m128i *)(v + stride + 4 * J)), 1);
    r = _mm512_inserti32x4(r, _mm_loadu_si128((const __m128i *)(v + 2 * stride + 4 * J)), 2);
    return _mm512_inserti32x4(r, _mm_loadu_si128((const __m128i *)(v + 3 * stride + 4 * J)), 3);
}

/* The rounded r of 16 channels -> + y_zero, int8, clamp (when CLAMP),
 * stored as 16 bytes (m lanes). */
QB_INLINE void out16(int CLAMP, __m512i r, __m256i z16, __m128i lo8, __m128i hi8, int8_t *y, __mmask16 m)
{
    __m128i b = _mm256_cvtsepi16_epi8(_mm256_adds_epi16(_mm512_cvtsepi32_epi16(r), z16));
    if (CLAMP)
        b = _mm_min_epi8(_mm_max_epi8(b, lo8), hi8);
    if (m == (__mmask16)0xFFFF)
        _mm_storeu_si128((__m128i *)y, b);
    else
        _mm_mask_storeu_epi8(y, m, b);
}

/* The rounded r of 16 channels of 4 pixels -> + y_zero, int8, clamp (when
 * CLAMP), stored as 16 bytes a pixel (m lanes), ystep bytes apart: the
 * packs leave pixel o's channels 4 L .. 4 L + 3 in dword o of lane L, a
 * dword transpose makes lane o pixel o's 16 bytes. */
QB_INLINE void out4(int CLAMP, const __m512i *r, __m512i z16, __m512i lo8, __m512i hi8, int8_t *y, size_t ystep,
                    __mmask16 m)
{
    const __m512i idx = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    __m512i p01 = _mm512_adds_epi16(_mm512_packs_epi32(r[0], r[1]), z16);
    __m512i p23 = _mm512_adds_epi16(_mm512_packs_epi32(r[2], r[3]), z16);
    __m512i b = _mm512_packs_epi16(p01, p23);
    if (CLAMP)
        b = _mm512_min_epi8(_mm512_max_epi8(b, lo8), hi8);
    b = _mm512_permutexvar_epi32(idx, b);
    if (m == (__mmask16)0xFFFF) {
        _mm_storeu_si128((__m128i *)y, _mm512_castsi512_si128(b));
        _mm_storeu_si128((__m128i *)(y + ystep), _mm512_extracti32x4_epi32(b, 1));
        _mm_storeu_si128((__m128i *)(y + 2 * ystep), _mm512_extracti32x4_epi32(b, 2));
        _mm_storeu_si128((__m128i *)(y + 3 * ystep), _mm512_extracti32x4_epi32(b, 3));
    } else {
        _mm_mask_storeu_epi8(y, m, _mm512_castsi512_si128(b));
        _mm_mask_storeu_epi8(y + ystep, m, _mm512_extracti32x4_epi32(b, 1));
        _mm_mask_storeu_epi8(y + 2 * ystep, m, _mm512_extracti32x4_epi32(b, 2));
        _mm_mask_storeu_epi8(y + 3 * ystep, m, _mm512_extracti32x4_epi32(b, 3));
    }
}

/* Window column 4 of window rows 0..3 of position p at stride 1 along x,
 * row ky's byte in byte ky of each channel's dword: position p + 4 - ky
 * of T row ky holds that column in its byte ky (columns ix + 4 - ky ..). */
QB_INLINE __m512i ecol(const __m512i *const *t, int p)
{
    __m512i e = _mm512_load_si512((const void *)(t[0] + 4 * (size_t)(p + 4)));
    e = _mm512_mask_blend_epi8((__mmask64)0x2222222222222222ull, e,
                               _mm512_load_si512((const void *)(t[1] + 4 * (size_t)(p + 3))));
    e = _mm512_mask_blend_epi8((__mmask64)0x4444444444444444ull, e,
                               _mm512_load_si512((const void *)(t[2] + 4 * (size_t)(p + 2))));
    return _mm512_mask_blend_epi8((__mmask64)0x8888888888888888ull, e,
                                  _mm512_load_si512((const void *)(t[3] + 4 * (size_t)(p + 1))));
}

/* np positions of one output row, channels 16 J .. of the block: window
 * row ky at tr[ky] + 4 p (J added), its second group EXT positions on;
 * weights wv[ky][g]; outputs ystep bytes apart (m lanes); EXACT and CLAMP
 * as oc's exact and clamp. */
QB_INLINE void orow5_t(int KH, int G, int EXT, int EB, int EXACT, int CLAMP, const __m512i *const *tr,
                       const __m512i *wv, const blkc *bc, int J, const outc *oc, int np, int8_t *yp, size_t ystep,
                       __mmask16 m)
{
    /* every constant in a local: the int8 stores may alias anything */
    __m512i w[11], q[4];
QB_UNROLL(GCC unroll 11)
    for (int i = 0; i < KH * G + EB; i++)
        w[i] = wv[i];
    const __m512i bias = gat(bc->bias[0], 16, J);
    _Alignas(64) int32_t ve[6][16]; /* the exact form's constants of J */
    if (EXACT) {
        for (int k = 0; k < 6; k++)
            _mm512_store_si512((void *)ve[k], gat(bc->v[0][k], 6 * 16, J));
    } else {
QB_UNROLL(GCC unroll 4)
        for (int k = 0; k < 4; k++)
            q[k] = gat(bc->v[0][k], 6 * 16, J);
    }
    const __m512i z16w = oc->z16, lo8w = oc->lo8, hi8w = oc->hi8;
    const __m256i z16 = _mm512_castsi512_si256(oc->z16);
    const __m128i lo8 = _mm512_castsi512_si128(oc->lo8), hi8 = _mm512_castsi512_si128(oc->hi8);
    const __m512i *t[5];
QB_UNROLL(GCC unroll 5)
    for (int ky = 0; ky < KH; ky++)
        t[ky] = tr[ky];
    int p = 0;
    for (; p + NO <= np; p += NO, yp += NO * ystep) {
        __m512i acc[NO];
QB_UNROLL(GCC unroll 4)
        for (int o = 0; o < NO; o++)
            acc[o] = bias;
QB_UNROLL(GCC unroll 5)
        for (int ky = 0; ky < KH; ky++)
QB_UNROLL(GCC unroll 4)
            for (int o = 0; o < NO; o++) {
                const __m512i *r = t[ky] + 4 * (size_t)(p + o);
                acc[o] = _mm512_dpbusd_epi32(acc[o], _mm512_load_si512((const void *)r), w[ky * G]);
                if (G == 2 && (!EB || ky == 4))
                    acc[o] = _mm512_dpbusd_epi32(acc[o], _mm512_load_si512((const void *)(r + 4 * EXT)),
                                                 w[ky * G + 1]);
            }
        if (EB)
QB_UNROLL(GCC unroll 4)
            for (int o = 0; o < NO; o++)
                acc[o] = _mm512_dpbusd_epi32(acc[o], ecol(t, p + o), w[10]);
        __m512i r[NO];
QB_UNROLL(GCC unroll 4)
        for (int o = 0; o < NO; o++)
            r[o] = EXACT ? rq_round(acc[o], (const int32_t(*)[16])ve, 1) : qb_rqf_round(acc[o], q[0], q[1], q[2], q[3]);
        out4(CLAMP, r, z16w, lo8w, hi8w, yp, ystep, m);
    }
    for (; p < np; p++, yp += ystep) {
        __m512i acc = bias;
QB_UNROLL(GCC unroll 5)
        for (int ky = 0; ky < KH; ky++) {
            const __m512i *r = t[ky] + 4 * (size_t)p;
            acc = _mm512_dpbusd_epi32(acc, _mm512_load_si512((const void *)r), w[ky * G]);
            if (G == 2 && (!EB || ky == 4))
                acc = _mm512_dpbusd_epi32(acc, _mm512_load_si512((const void *)(r + 4 * EXT)), w[ky * G + 1]);
        }
        if (EB)
            acc = _mm512_dpbusd_epi32(acc, ecol(t, p), w[10]);
        const __m512i r = EXACT ? rq_round(acc, (const int32_t(*)[16])ve, 1) : qb_rqf_round(acc, q[0], q[1], q[2], q[3]);
        out16(CLAMP, r, z16, lo8, hi8, yp, m);
    }
}

/* orow5_t with the window, stride and oc's exact and clamp made compile-time. */
static void orow5(int KH, int SW, const __m512i *const *tr, const __m512i *wv, const blkc *bc,
                  int J, const outc *oc, int np, int8_t *yp, size_t ystep, __mmask16 m)
{
#define QB_OROW5(KH_, G_, EXT_, EB_)                                                                           \
    do {                                                                                                       \
        if (oc->exact)                                                                                         \
            orow5_t(KH_, G_, EXT_, EB_, 1, 1, tr, wv, bc, J, oc, np, yp, ystep, m);                            \
        else if (oc->clamp)                                                                                    \
            orow5_t(KH_, G_, EXT_, EB_, 0, 1, tr, wv, bc, J, oc, np, yp, ystep, m);                            \
        else                                                                                                   \
            orow5_t(KH_, G_, EXT_, EB_, 0, 0, tr, wv, bc, J, oc, np, yp, ystep, m);                            \
    } while (0)
    if (KH == 3)
        QB_OROW5(3, 1, 0, 0);
    else if (SW == 1)
        QB_OROW5(5, 2, 4, 1);
    else
        QB_OROW5(5, 2, 2, 0);
#undef QB_OROW5
}

void QB_VNNI(qb_dw5_i8)(const qb_packed *pk, const qb_dw_args *a, const blkc *pbc, const outc *oc,
                        const int8_t *pad)
{
    const int C = a->c, K = a->kh, SW = a->stride_w, SH = a->stride_h, nb = (C + 63) / 64;
    const int G = K == 5 ? 2 : 1, ext = G == 2 ? 4 / SW : 0;
    const size_t cp = cpad5(C), row = (size_t)a->w * C;
    _Alignas(64) __m512i ring[5][(NP5 + XP) * 4]; /* T rows, slot iy % K */
    _Alignas(64) __m512i tz[(NP5 + XP) * 4];      /* the T row of x_zero */
    _Alignas(64) blkc lbc;                        /* a block's constants when not packed */
    _Alignas(64) __m512i wv[4][11]; /* [J][ky * G + g], then [10] (w[0][4], w[1][4], w[2][4], w[3][4]) */
    for (int j = 0; j < (NP5 + XP) * 4; j++)
        tz[j] = _mm512_set1_epi8((char)(a->x_zero ^ 0x80));
    for (int b = 0; b < nb; b++) {
        const int c0 = 64 * b, nj = (C - c0 + 15) / 16 < 4 ? (C - c0 + 15) / 16 : 4;
        const __mmask64 mk = qb_mask64(C - c0);
        const blkc *bc = pbc ? &pbc[b] : &lbc;
        if (!pbc)
            QB_VNNI(qb_dwi8_block_consts)(pk, a, b, oc->exact, &lbc);
        /* weights: (w[ky][0..3]) and (w[ky][4], 0, 0, 0), or (w[ky][0..2], 0), per J */
        for (int ky = 0; ky < K; ky++) {
            __m512i r[5], v[4];
            for (int k = 0; k < K; k++)
                r[k] = perm(_mm512_loadu_si512((const void *)((const int8_t *)pk->w + (size_t)(K * ky + k) * cp + c0)));
            const __m512i zero = _mm512_setzero_si512();
            ilv4(r[0], r[1], r[2], K == 5 ? r[3] : zero, v);
            for (int j = 0; j < 4; j++)
                wv[j][ky * G] = v[j];
            if (G == 2) {
                ilv4(r[4], zero, zero, zero, v);
                for (int j = 0; j < 4; j++)
                    wv[j][ky * G + 1] = v[j];
            }
        }
        if (K == 5) { /* window column 4 of rows 0..3, for ecol */
            __m512i r[4], v[4];
            for (int ky = 0; ky < 4; ky++)
                r[ky] = perm(_mm512_loadu_si512((const void *)((const int8_t *)pk->w + (size_t)(5 * ky + 4) * cp + c0)));
            ilv4(r[0], r[1], r[2], r[3], v);
            for (int j = 0; j < 4; j++)
                wv[j][10] = v[j];
        }
        for (int p0 = 0; p0 < a->out_w; p0 += NP5) {
            const int np = a->out_w - p0 < NP5 ? a->out_w - p0 : NP5;
            int tag[5] = {-1, -1, -1, -1, -1}; /* input row in each ring slot */
            for (int oy = 0; oy < a->out_h; oy++) {
                const int iy0 = oy * SH - a->pad_t;
                const __m512i *tr[5];
                for (int ky = 0; ky < K; ky++) {
                    const int iy = iy0 + ky;
                    if (iy < 0 || iy >= a->h) {
                        tr[ky] = tz;
                        continue;
                    }
                    __m512i *t = ring[iy % K];
                    if (tag[iy % K] != iy) {
                        const int8_t *xr = (const int8_t *)a->x + (size_t)iy * row + c0;
                        trow5(SW, nj == 1, xr, a->w, (size_t)C, a->pad_l, p0, np + ext, pad, mk, t);
                        tag[iy % K] = iy;
                    }
                    tr[ky] = t;
                }
                int8_t *yp = (int8_t *)a->y + (size_t)oy * a->out_w * C + (size_t)p0 * C + c0;
                for (int j = 0; j < nj; j++) {
                    const __m512i *trj[5];
                    for (int ky = 0; ky < K; ky++)
                        trj[ky] = tr[ky] + j;
                    const int left = C - c0 - 16 * j;
                    orow5(K, SW, trj, wv[j], bc, j, oc, np, yp + 16 * j, (size_t)C,
                          left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1));
                }
            }
        }
    }
}
