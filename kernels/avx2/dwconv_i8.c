/*
 * dwconv_i8.c - AVX2 int8 depthwise convolution (NHWC, any window,
 * stride, dilation, padding), bit-exact with kernels/scalar/dwconv_i8.c:
 * acc = bias[c] + sum over in-image taps of (x - x_zero) * w (int32,
 * wraps), requantized per channel (see requant_avx2.h: the faster exact
 * form for blocks whose multipliers allow it).
 *
 * Vectorised over channels, 16 at a time. Packed layout: blocks of 16
 * channels, 64 bytes per tap pair: the taps t = kw ky + kx paired as
 * (0,1) (2,3) ... (the last one with a zero when the count is odd), each
 * pair as two vectors of 16 int16 that vpmaddwd against the
 * vpunpcklwd / vpunpckhwd of the two taps' inputs (sign-extended to int16):
 * the "lo" vector holds [w_t1, w_t2] of channels 0-3 and 8-11, the "hi"
 * vector those of channels 4-7 and 12-15, which is the lane order that
 * vpackssdw(lo, hi) turns back into channels 0..15. Channels past C are
 * zero.
 *
 * Interior pixels (all taps in the image) multiply x as it is and start
 * from bias - x_zero * sum of the weights (the same sum modulo 2^32);
 * border pixels subtract x_zero in int16 and skip the taps in the padding
 * (x_zero beyond +-32640 takes a plain C loop: x - x_zero must fit int16).
 * A chunk of up to 512 channels has its biases and multipliers laid out
 * once; then, per output row, each full block of 16 channels sweeps the
 * row's interior pixels two at a time (the taps at fixed offsets from
 * the pixel, each weight vector loaded once for both); the row's border
 * pixels go two at a time through the full blocks too, each from a table
 * of tap pointers where a tap in the padding points into a row of x_zero
 * bytes (so they start from the interior's biasz; C <= PADROW, else one
 * at a time reading a 16-byte block of x_zero); the last partial block
 * goes one pixel at a time.
 *
 * 3x3 windows with dilation 1 and stride 1 or 2 along x (x_zero a byte,
 * C <= PADROW) take every pixel of a row, borders included, through the
 * column sweep instead (rows3x3 / row3x3): each input column of the three
 * window rows sign-extended once, rows 0 and 1 paired once and added to
 * every pixel that reads the column as it comes (step1 / step2: the
 * pixels' sums carried in registers), row 2 paired horizontally once per
 * column (each pair serves two pixels, against (0, t6) and (t7, t8)), a
 * pixel requantized once its last column is in; rows and columns in the
 * padding read the row of x_zero bytes, columns inside the image are read
 * with no bounds test. Its weights (k = 9) are packed a second time after
 * the block constants, in the pair order it uses. Its requantization is
 * chosen per block outside the pixel loop (round16m), y_zero folded into
 * the faster form's rounding constant where exact (sweep_fold).
 *
 * Requantization: the rounded r of 16 channels (the faster exact form when
 * every multiplier of the block allows it, its high halves merged by one
 * vshufps: lanes 0, 2, 1, 3 of each 4, the bytes swapped back by one
 * vpshufb per store) goes
 * through vpackssdw, + y_zero (saturating int16), vpacksswb, then the
 * clamp on bytes (none when y_min, y_max are -128, 127): exact while |y_zero| < 32640 (a saturated r stays past
 * the bounds), else the plain C loop.
 */
#include <immintrin.h>
#include <string.h>

#include "kernels/avx2/requant_avx2.h"
#include "kernels/dw_geom.h"
#include "kernels/kernels.h"

#define CB 16        /* channels per block */
#define CHUNK 32     /* blocks whose biases and multipliers are laid out at once */
#define PADROW 4096  /* most channels whose border pixels go in pairs (a row of x_zero bytes) */

/* Tap pairs of a window of k taps, and the bytes of one block's weights
 * (per pair 2 vectors of 16 int16). */
static inline int npairs(int k) { return (k + 1) / 2; }
static inline size_t blk_bytes(int k) { return (size_t)npairs(k) * 64; }

#define INLINE static inline __attribute__((always_inline))

/* Channel of lane i (0..7) of the lo (h = 0) or hi (h = 1) half of a block. */
static inline int lane_channel(int h, int i) { return (i / 4) * 8 + h * 4 + i % 4; }

static void pack_weights(const qb_weights *w, void *dst)
{
    int16_t *out = dst;
    const int k = w->k, np = npairs(k);
    for (int b = 0; b < (w->n + CB - 1) / CB; b++)
        for (int pr = 0; pr < np; pr++)
            for (int h = 0; h < 2; h++) {
                int16_t *v = out + (size_t)b * (blk_bytes(k) / 2) + (size_t)(2 * pr + h) * 16;
                for (int i = 0; i < 8; i++) {
                    int c = b * CB + lane_channel(h, i);
                    if (c >= w->n)
                        continue;
                    v[2 * i] = w->i8[(size_t)c * k + 2 * pr];
                    v[2 * i + 1] = 2 * pr + 1 < k ? w->i8[(size_t)c * k + 2 * pr + 1] : 0;
                }
            }
}

/* Per-block constants, in the lane order of the lo / hi halves. */
typedef struct blk {
    __m256i bias[2];   /* bias[c] (border pixels) */
    __m256i biasz[2];  /* bias[c] - x_zero * sum of the weights (interior pixels) */
    qb_avx2_rq8 rq[2]; /* multipliers, when not fast */
    qb_avx2_rqf8 rf[2]; /* their faster form, when fast */
    int fast;          /* 1: every channel of the block takes the faster form */
} blk;

/* Lanes of 16 channels from v[0..15] in the lo / hi order of a block. */
static inline void lohi(const int32_t *v, __m256i *lo, __m256i *hi)
{
    __m256i a = _mm256_loadu_si256((const __m256i *)v), b = _mm256_loadu_si256((const __m256i *)(v + 8));
    *lo = _mm256_permute2x128_si256(a, b, 0x20); /* channels 0-3, 8-11 */
    *hi = _mm256_permute2x128_si256(a, b, 0x31); /* channels 4-7, 12-15 */
}

/* The constants of the block at channel c0 of C, from the biases, weight
 * sums and multipliers of the C channels and the input zero point. */
static void blk_init(blk *k, const int32_t *bias, const int32_t *wsum, const qb_requant *rq, int32_t x_zero, int C,
                     int c0)
{
    int idx[2][8];
    for (int h = 0; h < 2; h++)
        for (int i = 0; i < 8; i++) {
            int c = c0 + lane_channel(h, i);
            idx[h][i] = c < C ? c : 0;
        }
    /* the rescaled multipliers of kernels/rqf.h are exact here: dw_main
     * runs only for |y_zero| < 32640 */
    k->fast = qb_avx2_rqf8_set(&k->rf[0], rq, idx[0], 1) && qb_avx2_rqf8_set(&k->rf[1], rq, idx[1], 1);
    for (int h = 0; h < 2 && k->fast; h++) { /* rnd, sh in qb_avx2_round8_fast_sh's order */
        k->rf[h].rnd = _mm256_shuffle_epi32(k->rf[h].rnd, 0xd8);
        k->rf[h].sh = _mm256_shuffle_epi32(k->rf[h].sh, 0xd8);
    }
    if (!k->fast)
        for (int h = 0; h < 2; h++)
            qb_avx2_rq8_set(&k->rq[h], rq, idx[h]);
    if (c0 + CB <= C) { /* a full block: biases and weight sums as vectors */
        const __m256i xz = _mm256_set1_epi32(x_zero);
        __m256i s[2];
        lohi(bias + c0, &k->bias[0], &k->bias[1]);
        lohi(wsum + c0, &s[0], &s[1]);
        for (int h = 0; h < 2; h++)
            k->biasz[h] = _mm256_sub_epi32(k->bias[h], _mm256_mullo_epi32(xz, s[h]));
        return;
    }
    for (int h = 0; h < 2; h++) {
        int32_t b[8], bz[8];
        for (int i = 0; i < 8; i++) {
            int c = c0 + lane_channel(h, i), ok = c < C;
            b[i] = ok ? bias[c] : 0;
            bz[i] = ok ? (int32_t)((uint32_t)b[i] - (uint32_t)x_zero * (uint32_t)wsum[c]) : 0;
        }
        k->bias[h] = _mm256_loadu_si256((const __m256i *)b);
        k->biasz[h] = _mm256_loadu_si256((const __m256i *)bz);
    }
}

/* The block constants of a layer laid out once at pack time
 * (qb_weights.dw), after the weight blocks: this header, the C
 * multipliers, biases and weight sums they were made from, then one blk
 * per block. */
typedef struct prep {
    int32_t ok;      /* 1: filled */
    int32_t x_zero;  /* the input zero point */
    int32_t c;       /* channels */
    int32_t pad[13]; /* to 64 bytes */
} prep;

static size_t r64(size_t x) { return (x + 63) / 64 * 64; }
/* Offsets from the packed weights: the header, then its arrays. */
static size_t prep_off(int n, int k) { return (size_t)((n + CB - 1) / CB) * blk_bytes(k); }
static size_t rq_off(void) { return sizeof(prep); }
static size_t bias_off(int n) { return rq_off() + r64((size_t)n * sizeof(qb_requant)); }
static size_t wsum_off(int n) { return bias_off(n) + r64((size_t)n * 4); }
static size_t blk_off(int n) { return wsum_off(n) + r64((size_t)n * 4); }

/* 3x3 windows (k = 9): per block the 10 vectors of the column sweep
 * (row3x3), after the block constants: the vertical pairs (t0, t3), (t1,
 * t4), (t2, t5) of window columns 0..2, then the horizontal pairs of row
 * 2 (0, t6) and (t7, t8); each as the lo and hi vector. */
#define V3_VECS 10
static size_t v3_off(int n, int k) { return prep_off(n, k) + r64(blk_off(n) + (size_t)((n + CB - 1) / CB) * sizeof(blk)); }

size_t qb_dwconv_i8__avx2_size(int n, int k, int group)
{
    (void)group;
    return v3_off(n, k) + (k == 9 ? (size_t)((n + CB - 1) / CB) * V3_VECS * 32 : 0);
}

/* The column sweep's weight vectors of every block (k = 9). */
static void pack_v3(const qb_weights *w, void *dst)
{
    int16_t *out = (int16_t *)((char *)dst + v3_off(w->n, 9));
    static const int pairs[5][2] = {{0, 3}, {1, 4}, {2, 5}, {-1, 6}, {7, 8}};
    for (int b = 0; b < (w->n + CB - 1) / CB; b++)
        for (int pr = 0; pr < 5; pr++)
            for (int h = 0; h < 2; h++) {
                int16_t *v = out + ((size_t)b * V3_VECS + 2 * pr + h) * 16;
                for (int i = 0; i < 8; i++) {
                    int c = b * CB + lane_channel(h, i);
                    if (c >= w->n)
                        continue;
                    v[2 * i] = pairs[pr][0] >= 0 ? w->i8[(size_t)c * 9 + pairs[pr][0]] : 0;
                    v[2 * i + 1] = w->i8[(size_t)c * 9 + pairs[pr][1]];
                }
            }
}

void qb_dwconv_i8__avx2_pack(const qb_weights *w, void *dst)
{
    pack_weights(w, dst);
    if (w->k == 9)
        pack_v3(w, dst);
    const qb_dw_fixed *f = w->dw;
    const int C = w->n;
    if (!f || !f->rq || f->x_zero < -32640 || f->x_zero > 32639)
        return;
    char *pa = (char *)dst + prep_off(C, w->k);
    qb_requant *rq = (qb_requant *)(pa + rq_off());
    int32_t *bias = (int32_t *)(pa + bias_off(C)), *wsum = (int32_t *)(pa + wsum_off(C));
    memcpy(rq, f->rq, (size_t)C * sizeof *rq);
    for (int c = 0; c < C; c++) {
        bias[c] = w->bias_i32 ? w->bias_i32[c] : 0;
        wsum[c] = 0;
        for (int t = 0; t < w->k; t++)
            wsum[c] += w->i8[(size_t)c * w->k + t];
    }
    blk *kb = (blk *)(pa + blk_off(C));
    for (int b = 0; b < (C + CB - 1) / CB; b++)
        blk_init(&kb[b], bias, wsum, rq, f->x_zero, C, b * CB);
    *(prep *)pa = (prep){.ok = 1, .x_zero = f->x_zero, .c = C};
}

/* The block constants packed for this call (one per block), or NULL when
 * its parameters differ. */
static const blk *prepared(const qb_packed *p, const qb_dw_args *a)
{
    const char *pa = (const char *)p->w + prep_off(p->n, p->k);
    const prep *pr = (const prep *)pa;
    if (!pr->ok || pr->c != a->c || p->n != a->c || pr->x_zero != a->x_zero ||
        memcmp(pa + rq_off(), a->rq, (size_t)a->c * sizeof *a->rq))
        return NULL;
    return (const blk *)(pa + blk_off(a->c));
}

/* 16 input channels of one tap, sign-extended to int16. */
INLINE __m256i load16(const int8_t *x) { return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x)); }

/* acc (lo, hi) += the products of tap pair pr with inputs x1, x2 (int16). */
INLINE void tap_pair(const __m256i *wv, int pr, __m256i x1, __m256i x2, __m256i *lo, __m256i *hi)
{
    *lo = _mm256_add_epi32(*lo, _mm256_madd_epi16(_mm256_unpacklo_epi16(x1, x2), _mm256_load_si256(wv + 2 * pr)));
    *hi = _mm256_add_epi32(*hi, _mm256_madd_epi16(_mm256_unpackhi_epi16(x1, x2), _mm256_load_si256(wv + 2 * pr + 1)));
}

/* Output constants: y_zero as int16, the bounds as int8. */
typedef struct outc {
    __m256i z16;      /* y_zero, 16 int16 */
    __m256i lo8, hi8; /* y_min, y_max, 32 int8 */
    int clamp;        /* 0: y_min, y_max are -128, 127 (the packs' saturation is the clamp) */
} outc;

/* The bytes of round16's output back in channel order (fast blocks,
 * qb_avx2_round8_fast_sh's lane order): bytes 1 and 2 of every 4 swapped. */
INLINE __m256i unswap(const blk *k, __m256i b)
{
    if (!k->fast)
        return b;
    const __m256i sel = _mm256_setr_epi8(0, 2, 1, 3, 4, 6, 5, 7, 8, 10, 9, 11, 12, 14, 13, 15, 0, 2, 1, 3, 4, 6, 5, 7,
                                         8, 10, 9, 11, 12, 14, 13, 15);
    return _mm256_shuffle_epi8(b, sel);
}

/* The rounded r of 16 channels (lo, hi) as 16 int16 + y_zero (saturating);
 * fast blocks in qb_avx2_round8_fast_sh's order (unswap after the byte
 * pack: one vpshufb per two pixels for four vpsrlq + vpblendd pairs). */
INLINE __m256i round16(const blk *k, __m256i lo, __m256i hi, const outc *oc)
{
    if (k->fast) {
        lo = qb_avx2_round8_fast_sh(&k->rf[0], lo);
        hi = qb_avx2_round8_fast_sh(&k->rf[1], hi);
    } else {
        lo = qb_avx2_round8(&k->rq[0], lo);
        hi = qb_avx2_round8(&k->rq[1], hi);
    }
    return _mm256_adds_epi16(_mm256_packs_epi32(lo, hi), oc->z16);
}

/* Requantize and store 16 channels of two pixels (y0, y1): one byte pack,
 * clamp and permute for both. */
INLINE void store16x2(const blk *k, __m256i lo0, __m256i hi0, __m256i lo1, __m256i hi1, const outc *oc, int8_t *y0,
                      int8_t *y1)
{
    __m256i s0 = round16(k, lo0, hi0, oc), s1 = round16(k, lo1, hi1, oc);
    __m256i b = unswap(k, _mm256_packs_epi16(s0, s1));
    if (oc->clamp)
        b = _mm256_min_epi8(_mm256_max_epi8(b, oc->lo8), oc->hi8);
    b = _mm256_permute4x64_epi64(b, 0xd8); /* pixel 0's 16 bytes, then pixel 1's */
    _mm_storeu_si128((__m128i *)y0, _mm256_castsi256_si128(b));
    _mm_storeu_si128((__m128i *)y1, _mm256_extracti128_si256(b, 1));
}

/* Requantize and store 16 channels (nc valid). */
INLINE void store16(const blk *k, __m256i lo, __m256i hi, const outc *oc, int8_t *y, int nc)
{
    __m256i s = round16(k, lo, hi, oc); /* channels 0..15 as int16 */
    __m256i b = unswap(k, _mm256_packs_epi16(s, s));
    if (oc->clamp)
        b = _mm256_min_epi8(_mm256_max_epi8(b, oc->lo8), oc->hi8);
    b = _mm256_permute4x64_epi64(b, 0x08);
    qb_avx2_store_bytes(y, _mm256_castsi256_si128(b), nc);
}

/* NP (1 or 2) interior pixels of one full block: all nt taps at x + off[t]
 * (x of the second pixel xs bytes further), x as it is (x_zero is in
 * biasz); outputs at y and y + ys. */
INLINE void px_inside(int NP, const blk *k, const __m256i *wv, int nt, const int8_t *x, const ptrdiff_t *off,
                      size_t xs, const outc *oc, int8_t *y, size_t ys)
{
    /* the two pixels' sums in named variables, not an array indexed by
     * pixel: gcc kept such an array on the stack (a load and a store per
     * tap pair: docs/kernels.md) */
    __m256i lo0 = k->biasz[0], hi0 = k->biasz[1], lo1 = lo0, hi1 = hi0;
    const int8_t *x1p = x + xs;
#pragma GCC unroll 16
    for (int t = 0; t < nt; t += 2) {
        const __m256i wl = _mm256_load_si256(wv + t), wh = _mm256_load_si256(wv + t + 1);
        __m256i a1 = load16(x + off[t]);
        __m256i a2 = t + 1 < nt ? load16(x + off[t + 1]) : _mm256_setzero_si256();
        lo0 = _mm256_add_epi32(lo0, _mm256_madd_epi16(_mm256_unpacklo_epi16(a1, a2), wl));
        hi0 = _mm256_add_epi32(hi0, _mm256_madd_epi16(_mm256_unpackhi_epi16(a1, a2), wh));
        if (NP > 1) {
            __m256i b1 = load16(x1p + off[t]);
            __m256i b2 = t + 1 < nt ? load16(x1p + off[t + 1]) : _mm256_setzero_si256();
            lo1 = _mm256_add_epi32(lo1, _mm256_madd_epi16(_mm256_unpacklo_epi16(b1, b2), wl));
            hi1 = _mm256_add_epi32(hi1, _mm256_madd_epi16(_mm256_unpackhi_epi16(b1, b2), wh));
        }
    }
    if (NP > 1)
        store16x2(k, lo0, hi0, lo1, hi1, oc, y, y + ys);
    else
        store16(k, lo0, hi0, oc, y, CB);
}

/* The n interior pixels of one output row, full blocks [b0, b1) (block
 * b's constants kb[b - b0]), two pixels at a time through every block:
 * the first pixel's taps at x + off[t], the pixels xs bytes apart,
 * outputs C bytes apart from y. */
INLINE void row_inside(const blk *kb, const qb_packed *p, int b0, int b1, int nt, const int8_t *x,
                       const ptrdiff_t *off, size_t xs, int n, const outc *oc, int8_t *y, size_t C)
{
    ptrdiff_t o[16]; /* a local copy for small windows: the int8 stores could alias off[] */
    if (nt <= 16) {
        memcpy(o, off, (size_t)nt * sizeof *o);
        off = o;
    }
    const size_t bb = blk_bytes(p->k);
    int i = 0;
    for (; i + 1 < n; i += 2, x += 2 * xs, y += 2 * C)
        for (int b = b0; b < b1; b++)
            px_inside(2, &kb[b - b0], (const __m256i *)((const int8_t *)p->w + (size_t)b * bb), nt, x + b * CB, off,
                      xs, oc, y + b * CB, C);
    for (; i < n; i++, x += xs, y += C)
        for (int b = b0; b < b1; b++)
            px_inside(1, &kb[b - b0], (const __m256i *)((const int8_t *)p->w + (size_t)b * bb), nt, x + b * CB, off,
                      xs, oc, y + b * CB, C);
}

/* One input column of a 3x3 window's rows (16 channels): rows 0 and 1
 * sign-extended and interleaved for vpmaddwd (lo, hi), row 2 sign-extended. */
typedef struct col3 {
    __m256i lo, hi; /* (x0, x1) int16 pairs of channels 0-3, 8-11 / 4-7, 12-15 */
    __m256i x2;     /* row 2, 16 int16 */
} col3;

INLINE col3 col3_load(const int8_t *r0, const int8_t *r1, const int8_t *r2)
{
    __m256i a = load16(r0), b = load16(r1);
    return (col3){_mm256_unpacklo_epi16(a, b), _mm256_unpackhi_epi16(a, b), load16(r2)};
}

/* The window rows of one block for the column sweep: row k's bytes of
 * input column j at r[k] + j * cs[k]; a row in the padding has cs 0 and r
 * in a row of x_zero bytes. */
typedef struct rows3 {
    const int8_t *r[3]; /* column 0 of each window row (channel c0) */
    ptrdiff_t cs[3];    /* bytes between columns: C, or 0 in the padding */
    int w;              /* input width: columns outside [0, w) are padding */
} rows3;

/* Window column j of rows3 g, or pad (x_zero) outside the image. */
INLINE col3 col3_at(const rows3 *g, int j, col3 pad)
{
    if ((unsigned)j >= (unsigned)g->w)
        return pad;
    return col3_load(g->r[0] + j * g->cs[0], g->r[1] + j * g->cs[1], g->r[2] + j * g->cs[2]);
}

/* The sums of 16 channels of one pixel (lo, hi halves). */
typedef struct acc16 {
    __m256i lo, hi; /* int32 sums of channels 0-3, 8-11 / 4-7, 12-15 (the lane order of the block's weights) */
} acc16;

/* The window column 2 of a pixel added to its open sums a: column c's
 * rows 0-1 (against w[4], w[5]) and row 2's pairs hl, hh (against w[8],
 * w[9]); the pixel's finished sums (step1 and step2). */
INLINE acc16 finish_pixel(const __m256i *w, const acc16 *a, col3 c, __m256i hl, __m256i hh)
{
    acc16 d;
    d.lo = _mm256_add_epi32(a->lo, _mm256_add_epi32(_mm256_madd_epi16(c.lo, _mm256_load_si256(w + 4)),
                                                    _mm256_madd_epi16(hl, _mm256_load_si256(w + 8))));
    d.hi = _mm256_add_epi32(a->hi, _mm256_add_epi32(_mm256_madd_epi16(c.hi, _mm256_load_si256(w + 5)),
                                                    _mm256_madd_epi16(hh, _mm256_load_si256(w + 9))));
    return d;
}

/* One column step of the stride-1 sweep: column j (c) is window column 2
 * of pixel j - 2 (a2, which it finishes: returned), column 1 of pixel j - 1
 * (a1, which becomes the next a2) and column 0 of pixel j (the next a1,
 * from bz). Row 2 goes in horizontal pairs H_j = (x2 of column j - 1, x2
 * of column j) (*x2p: the previous column's x2), each made once: pixel q
 * takes H_q against (0, t6) and H_(q+2) against (t7, t8). w: the block's
 * V3_VECS vectors. */
INLINE acc16 step1(const __m256i *w, const acc16 *bz, col3 c, __m256i *x2p, acc16 *a1, acc16 *a2)
{
    const __m256i hl = _mm256_unpacklo_epi16(*x2p, c.x2), hh = _mm256_unpackhi_epi16(*x2p, c.x2);
    const acc16 d = finish_pixel(w, a2, c, hl, hh);
    a2->lo = _mm256_add_epi32(a1->lo, _mm256_madd_epi16(c.lo, _mm256_load_si256(w + 2)));
    a2->hi = _mm256_add_epi32(a1->hi, _mm256_madd_epi16(c.hi, _mm256_load_si256(w + 3)));
    a1->lo = _mm256_add_epi32(_mm256_add_epi32(bz->lo, _mm256_madd_epi16(c.lo, _mm256_load_si256(w + 0))),
                              _mm256_madd_epi16(hl, _mm256_load_si256(w + 6)));
    a1->hi = _mm256_add_epi32(_mm256_add_epi32(bz->hi, _mm256_madd_epi16(c.hi, _mm256_load_si256(w + 1))),
                              _mm256_madd_epi16(hh, _mm256_load_si256(w + 7)));
    *x2p = c.x2;
    return d;
}

/* One pixel step of the stride-2 sweep: column e (window column 2 of the
 * pixel before, a, which it finishes: returned; column 0 of the next
 * pixel) and column o = e + 1 (window column 1 of the next pixel, the new
 * a, from bz). Row 2 as in step1: H_e = (x2 of column e - 1, x2 of e),
 * against (t7, t8) for the pixel finished and (0, t6) for the next. */
INLINE acc16 step2(const __m256i *w, const acc16 *bz, col3 e, col3 o, __m256i *x2p, acc16 *a)
{
    const __m256i hl = _mm256_unpacklo_epi16(*x2p, e.x2), hh = _mm256_unpackhi_epi16(*x2p, e.x2);
    const acc16 d = finish_pixel(w, a, e, hl, hh);
    a->lo = _mm256_add_epi32(_mm256_add_epi32(bz->lo, _mm256_madd_epi16(e.lo, _mm256_load_si256(w + 0))),
                             _mm256_add_epi32(_mm256_madd_epi16(hl, _mm256_load_si256(w + 6)),
                                              _mm256_madd_epi16(o.lo, _mm256_load_si256(w + 2))));
    a->hi = _mm256_add_epi32(_mm256_add_epi32(bz->hi, _mm256_madd_epi16(e.hi, _mm256_load_si256(w + 1))),
                             _mm256_add_epi32(_mm256_madd_epi16(hh, _mm256_load_si256(w + 7)),
                                              _mm256_madd_epi16(o.hi, _mm256_load_si256(w + 3))));
    *x2p = o.x2;
    return d;
}

/* The requantization of one block in the sweep: M 0 the exact form
 * (qb_avx2_round8), 1 the faster one (+ y_zero saturating in int16), 2 the
 * faster one with y_zero folded into its rounding constant (rnd: see
 * sweep_fold; the packs' saturation then gives the same bytes). */
typedef struct rqs {
    const blk *k;   /* the block's constants */
    __m256i rnd[2]; /* M 2: k's rounding constants + y_zero << sh (lo, hi) */
} rqs;

/* The rounded r (+ y_zero) of 16 channels as 16 int16, in
 * qb_avx2_round8_fast_sh's lane order for M 1, 2. */
INLINE __m256i round16m(int M, const rqs *q, acc16 s, const outc *oc)
{
    if (M == 0)
        return round16(q->k, s.lo, s.hi, oc);
    if (M == 1)
        return _mm256_adds_epi16(_mm256_packs_epi32(qb_avx2_round8_fast_sh(&q->k->rf[0], s.lo),
                                                    qb_avx2_round8_fast_sh(&q->k->rf[1], s.hi)),
                                 oc->z16);
    __m256i r[2];
    for (int h = 0; h < 2; h++) {
        const qb_avx2_rqf8 *f = &q->k->rf[h];
        __m256i acc = h ? s.hi : s.lo;
        __m256i pe = _mm256_mul_epi32(acc, f->me);
        __m256i po = _mm256_mul_epi32(_mm256_srli_epi64(acc, 32), f->mo);
        __m256i hv = _mm256_castps_si256(_mm256_shuffle_ps(_mm256_castsi256_ps(pe), _mm256_castsi256_ps(po), 0xdd));
        r[h] = _mm256_srav_epi32(_mm256_add_epi32(hv, q->rnd[h]), f->sh);
    }
    return _mm256_packs_epi32(r[0], r[1]);
}

/* The bytes of two pixels' int16 values s0, s1 to y0, y1. */
INLINE void put16x2(int M, __m256i s0, __m256i s1, const outc *oc, int8_t *y0, int8_t *y1)
{
    __m256i b = _mm256_packs_epi16(s0, s1);
    if (M) { /* bytes 1 and 2 of every 4 back in place (unswap) */
        const __m256i sel = _mm256_setr_epi8(0, 2, 1, 3, 4, 6, 5, 7, 8, 10, 9, 11, 12, 14, 13, 15, 0, 2, 1, 3, 4, 6,
                                             5, 7, 8, 10, 9, 11, 12, 14, 13, 15);
        b = _mm256_shuffle_epi8(b, sel);
    }
    if (oc->clamp)
        b = _mm256_min_epi8(_mm256_max_epi8(b, oc->lo8), oc->hi8);
    b = _mm256_permute4x64_epi64(b, 0xd8); /* pixel 0's 16 bytes, then pixel 1's */
    _mm_storeu_si128((__m128i *)y0, _mm256_castsi256_si128(b));
    _mm_storeu_si128((__m128i *)y1, _mm256_extracti128_si256(b, 1));
}

/* Column j of g, inside the image (no bounds test). */
INLINE col3 col3_in(const rows3 *g, int j)
{
    return col3_load(g->r[0] + j * g->cs[0], g->r[1] + j * g->cs[1], g->r[2] + j * g->cs[2]);
}

/* The n pixels of one output row for one full block, 3x3 window, dilation
 * 1 and stride SW (1 or 2) along x, pixel i's window at columns j0 + SW i
 * + {0, 1, 2} of g (padding columns and rows read x_zero, so every pixel
 * starts from biasz). A column sweep: each input column loaded,
 * sign-extended and paired once, added to every pixel that reads it as it
 * comes (step1, step2), a pixel requantized once its last column is in;
 * pixels in pairs for the requantization (M: round16m); outputs C bytes
 * apart from y. Columns inside the image are read with no bounds test
 * (col3_in) between the loops that test them. */
INLINE void row3x3(int SW, int M, const rqs *q, const __m256i *w, const rows3 *g, int j0, col3 pad, size_t C, int n,
                   const outc *oc, int8_t *y)
{
    const acc16 bz = {q->k->biasz[0], q->k->biasz[1]};
    const int W = g->w;
    acc16 a1 = bz, a2 = bz, d0, d1;
    __m256i x2p = pad.x2;
    int j = j0, i = 0;
    if (SW == 1) {
        (void)step1(w, &bz, col3_at(g, j, pad), &x2p, &a1, &a2);
        (void)step1(w, &bz, col3_at(g, j + 1, pad), &x2p, &a1, &a2);
        j += 2; /* pixel i finishes with column j */
        for (; i + 1 < n && j < 0; i += 2, j += 2, y += 2 * C) {
            d0 = step1(w, &bz, col3_at(g, j, pad), &x2p, &a1, &a2);
            d1 = step1(w, &bz, col3_at(g, j + 1, pad), &x2p, &a1, &a2);
            put16x2(M, round16m(M, q, d0, oc), round16m(M, q, d1, oc), oc, y, y + C);
        }
        for (; i + 1 < n && j + 1 < W; i += 2, j += 2, y += 2 * C) {
            d0 = step1(w, &bz, col3_in(g, j), &x2p, &a1, &a2);
            d1 = step1(w, &bz, col3_in(g, j + 1), &x2p, &a1, &a2);
            put16x2(M, round16m(M, q, d0, oc), round16m(M, q, d1, oc), oc, y, y + C);
        }
        for (; i + 1 < n; i += 2, j += 2, y += 2 * C) {
            d0 = step1(w, &bz, col3_at(g, j, pad), &x2p, &a1, &a2);
            d1 = step1(w, &bz, col3_at(g, j + 1, pad), &x2p, &a1, &a2);
            put16x2(M, round16m(M, q, d0, oc), round16m(M, q, d1, oc), oc, y, y + C);
        }
        if (i < n)
            d0 = step1(w, &bz, col3_at(g, j, pad), &x2p, &a1, &a2);
    } else {
        (void)step2(w, &bz, col3_at(g, j, pad), col3_at(g, j + 1, pad), &x2p, &a1);
        j += 2; /* pixel i finishes with column j (then j + 1 starts pixel i + 1) */
        for (; i + 1 < n && j < 0; i += 2, j += 4, y += 2 * C) {
            d0 = step2(w, &bz, col3_at(g, j, pad), col3_at(g, j + 1, pad), &x2p, &a1);
            d1 = step2(w, &bz, col3_at(g, j + 2, pad), col3_at(g, j + 3, pad), &x2p, &a1);
            put16x2(M, round16m(M, q, d0, oc), round16m(M, q, d1, oc), oc, y, y + C);
        }
        for (; i + 1 < n && j + 3 < W; i += 2, j += 4, y += 2 * C) {
            d0 = step2(w, &bz, col3_in(g, j), col3_in(g, j + 1), &x2p, &a1);
            d1 = step2(w, &bz, col3_in(g, j + 2), col3_in(g, j + 3), &x2p, &a1);
            put16x2(M, round16m(M, q, d0, oc), round16m(M, q, d1, oc), oc, y, y + C);
        }
        for (; i + 1 < n; i += 2, j += 4, y += 2 * C) {
            d0 = step2(w, &bz, col3_at(g, j, pad), col3_at(g, j + 1, pad), &x2p, &a1);
            d1 = step2(w, &bz, col3_at(g, j + 2, pad), col3_at(g, j + 3, pad), &x2p, &a1);
            put16x2(M, round16m(M, q, d0, oc), round16m(M, q, d1, oc), oc, y, y + C);
        }
        if (i < n)
            d0 = step2(w, &bz, col3_at(g, j, pad), col3_at(g, j + 1, pad), &x2p, &a1);
    }
    if (i < n) { /* the last pixel alone */
        __m256i s = round16m(M, q, d0, oc);
        __m256i b = _mm256_packs_epi16(s, s);
        if (M)
            b = unswap(q->k, b);
        if (oc->clamp)
            b = _mm256_min_epi8(_mm256_max_epi8(b, oc->lo8), oc->hi8);
        b = _mm256_permute4x64_epi64(b, 0x08);
        _mm_storeu_si128((__m128i *)y, _mm256_castsi256_si128(b));
    }
}

/* y_zero folded into the faster rounding of block k (rnd, in
 * qb_avx2_round8_fast_sh's order): (h + rnd + y_zero 2^sh) >> sh is the
 * rounded r + y_zero exactly while no int32 sum wraps, which |h| <= 2^30,
 * |y_zero| <= 128 and sh <= 22 guarantee; r + y_zero saturated by the packs
 * gives the bytes sat(sat(r) + y_zero) gave. 0 where it does not apply
 * (then M 1). */
static int sweep_fold(const blk *k, int32_t y_zero, __m256i rnd[2])
{
    if (!k->fast || y_zero < -128 || y_zero > 128)
        return 0;
    const __m256i c22 = _mm256_set1_epi32(22), yz = _mm256_set1_epi32(y_zero);
    for (int h = 0; h < 2; h++) {
        if (_mm256_movemask_epi8(_mm256_cmpgt_epi32(k->rf[h].sh, c22)))
            return 0;
        rnd[h] = _mm256_add_epi32(k->rf[h].rnd, _mm256_sllv_epi32(yz, k->rf[h].sh));
    }
    return 1;
}

/* Every pixel of output row oy, full blocks [b0, bf) (block b's constants
 * kb[b - b0], its requantization q[b - b0] and mode qm[b - b0]: M of
 * round16m), through row3x3: 3x3 window, dilation 1 and stride 1 or 2
 * along x, x_zero a byte and padrow C bytes of it. */
static void rows3x3(const qb_dw_args *a, const rqs *q, const unsigned char *qm, const qb_packed *p, int b0, int bf,
                    int oy, const int8_t *padrow, const outc *oc)
{
    const __m256i *w3 = (const __m256i *)((const char *)p->w + v3_off(p->n, 9));
    const size_t C = (size_t)a->c;
    const int8_t *x = a->x;
    rows3 g0 = {.w = a->w}; /* at channel 0 */
    for (int ky = 0; ky < 3; ky++) {
        int iy = oy * a->stride_h - a->pad_t + ky * a->dil_h;
        int in = iy >= 0 && iy < a->h;
        g0.r[ky] = in ? x + (size_t)iy * a->w * C : padrow;
        g0.cs[ky] = in ? (ptrdiff_t)C : 0;
    }
    const col3 pad = col3_load(padrow, padrow, padrow);
    int8_t *y = (int8_t *)a->y + (size_t)oy * a->out_w * C;
    for (int b = b0; b < bf; b++) {
        rows3 g = g0;
        for (int ky = 0; ky < 3; ky++)
            g.r[ky] += (size_t)b * CB;
        const rqs *qb = &q[b - b0];
        const __m256i *w = w3 + (size_t)b * V3_VECS;
        int8_t *yb = y + (size_t)b * CB;
        const int n = a->out_w, j0 = -a->pad_l;
        switch (qm[b - b0] + 3 * (a->stride_w == 2)) {
        case 0: row3x3(1, 0, qb, w, &g, j0, pad, C, n, oc, yb); break;
        case 1: row3x3(1, 1, qb, w, &g, j0, pad, C, n, oc, yb); break;
        case 2: row3x3(1, 2, qb, w, &g, j0, pad, C, n, oc, yb); break;
        case 3: row3x3(2, 0, qb, w, &g, j0, pad, C, n, oc, yb); break;
        case 4: row3x3(2, 1, qb, w, &g, j0, pad, C, n, oc, yb); break;
        default: row3x3(2, 2, qb, w, &g, j0, pad, C, n, oc, yb); break;
        }
    }
}

/* NP (1 or 2) pixels of one full block, any position: tap t of the first
 * pixel at ta[t] + c0, of the second at tb[t] + c0, a tap in the padding
 * pointing into a row of x_zero bytes (so the sum is the interior one,
 * from biasz); outputs at ya and yb. */
INLINE void px_ptr(int NP, const blk *k, const __m256i *wv, int nt, const int8_t *const *ta,
                   const int8_t *const *tb, int c0, const outc *oc, int8_t *ya, int8_t *yb)
{
    __m256i lo0 = k->biasz[0], hi0 = k->biasz[1], lo1 = lo0, hi1 = hi0;
#pragma GCC unroll 16
    for (int t = 0; t < nt; t += 2) {
        const __m256i wl = _mm256_load_si256(wv + t), wh = _mm256_load_si256(wv + t + 1);
        __m256i a1 = load16(ta[t] + c0);
        __m256i a2 = t + 1 < nt ? load16(ta[t + 1] + c0) : _mm256_setzero_si256();
        lo0 = _mm256_add_epi32(lo0, _mm256_madd_epi16(_mm256_unpacklo_epi16(a1, a2), wl));
        hi0 = _mm256_add_epi32(hi0, _mm256_madd_epi16(_mm256_unpackhi_epi16(a1, a2), wh));
        if (NP > 1) {
            __m256i b1 = load16(tb[t] + c0);
            __m256i b2 = t + 1 < nt ? load16(tb[t + 1] + c0) : _mm256_setzero_si256();
            lo1 = _mm256_add_epi32(lo1, _mm256_madd_epi16(_mm256_unpacklo_epi16(b1, b2), wl));
            hi1 = _mm256_add_epi32(hi1, _mm256_madd_epi16(_mm256_unpackhi_epi16(b1, b2), wh));
        }
    }
    if (NP > 1)
        store16x2(k, lo0, hi0, lo1, hi1, oc, ya, yb);
    else
        store16(k, lo0, hi0, oc, ya, CB);
}

/* The full blocks [b0, b1) of NP (1 or 2) pixels given by their tap
 * tables ta, tb (px_ptr), outputs at ya, yb. */
INLINE void px_ptr_blocks(int NP, const blk *kb, const qb_packed *p, int b0, int b1, int nt, const int8_t *const *ta,
                          const int8_t *const *tb, const outc *oc, int8_t *ya, int8_t *yb)
{
    const size_t bb = blk_bytes(p->k);
    for (int b = b0; b < b1; b++)
        px_ptr(NP, &kb[b - b0], (const __m256i *)((const int8_t *)p->w + (size_t)b * bb), nt, ta, tb, b * CB, oc,
               ya + b * CB, yb + b * CB);
}

/* One full block of a border pixel with x_zero in int8: taps in the
 * padding (tp NULL) read pad (16 bytes of x_zero), so the sum is the
 * interior one (from biasz). */
INLINE void block_border(const blk *k, const __m256i *wv, int nt, const int8_t *const *tp, int c0,
                         const int8_t *pad, const outc *oc, int8_t *y)
{
    __m256i lo = k->biasz[0], hi = k->biasz[1];
    for (int t = 0; t < nt; t += 2) {
        __m256i x1 = load16(tp[t] ? tp[t] + c0 : pad);
        __m256i x2 = t + 1 < nt ? load16(tp[t + 1] ? tp[t + 1] + c0 : pad) : _mm256_setzero_si256();
        tap_pair(wv, t / 2, x1, x2, &lo, &hi);
    }
    store16(k, lo, hi, oc, y, CB);
}

/* Any block of any pixel: taps in the padding (tp NULL) skipped, x - x_zero
 * in int16, the channels past C (nc < 16) through a zero-padded copy. */
INLINE void block_any(const blk *k, const __m256i *wv, int nt, const int8_t *const *tp, int c0, int nc, __m256i xz,
                      const outc *oc, int8_t *y)
{
    __m256i lo = k->bias[0], hi = k->bias[1];
    for (int t = 0; t < nt; t += 2) {
        __m256i xv[2];
        for (int u = 0; u < 2; u++) {
            const int8_t *q = t + u < nt ? tp[t + u] : NULL;
            if (!q) {
                xv[u] = _mm256_setzero_si256();
            } else if (nc == CB) {
                xv[u] = _mm256_sub_epi16(load16(q + c0), xz);
            } else {
                int8_t tmp[CB] = {0};
                memcpy(tmp, q + c0, (size_t)nc);
                xv[u] = _mm256_sub_epi16(load16(tmp), xz);
            }
        }
        tap_pair(wv, t / 2, xv[0], xv[1], &lo, &hi);
    }
    store16(k, lo, hi, oc, y, nc);
}

/* The reference arithmetic, for x_zero beyond what int16 lanes hold. */
static void dw_plain(const qb_packed *p, const qb_dw_args *a)
{
    const int16_t *wp = p->w;
    const int8_t *x = a->x;
    int8_t *y = a->y;
    int C = a->c;
    for (int oy = 0; oy < a->out_h; oy++) {
        int ky0, ky1;
        qb_dw_taps(oy, a->stride_h, a->pad_t, a->dil_h, a->kh, a->h, &ky0, &ky1);
        for (int ox = 0; ox < a->out_w; ox++) {
            int kx0, kx1;
            qb_dw_taps(ox, a->stride_w, a->pad_l, a->dil_w, a->kw, a->w, &kx0, &kx1);
            for (int c = 0; c < C; c++) {
                const int16_t *wb = wp + (size_t)(c / CB) * (blk_bytes(p->k) / 2);
                int h = c % 8 / 4, i = c % CB / 8 * 4 + c % 4;
                uint32_t acc = (uint32_t)p->bias_i32[c];
                for (int ky = ky0; ky < ky1; ky++)
                    for (int kx = kx0; kx < kx1; kx++) {
                        int t = ky * a->kw + kx;
                        int iy = oy * a->stride_h - a->pad_t + ky * a->dil_h;
                        int ix = ox * a->stride_w - a->pad_l + kx * a->dil_w;
                        int32_t wv = wb[(2 * (t / 2) + h) * 16 + 2 * i + t % 2];
                        acc += (uint32_t)((int64_t)(x[((size_t)iy * a->w + ix) * C + c] - (int64_t)a->x_zero) * wv);
                    }
                y[((size_t)oy * a->out_w + ox) * C + c] =
                    qb_requant_apply((int32_t)acc, a->rq[c], a->y_zero, a->y_min, a->y_max);
            }
        }
    }
}

/* The tap pointer table of output pixel (ox, oy), whose window rows
 * [ky0, ky1) lie in the image (qb_dw_taps, once per output row): out[t] =
 * channel 0 of tap t's input pixel, or pad_value for a tap in the padding
 * (a row of x_zero bytes for px_ptr_blocks, NULL for block_border /
 * block_any). */
static void border_taps(const qb_dw_args *a, int ox, int oy, int ky0, int ky1, const int8_t *pad_value,
                        const int8_t **out)
{
    int kx0, kx1;
    qb_dw_taps(ox, a->stride_w, a->pad_l, a->dil_w, a->kw, a->w, &kx0, &kx1);
    const size_t C = (size_t)a->c;
    const int8_t *x = a->x;
    for (int ky = 0, t = 0; ky < a->kh; ky++, t += a->kw) {
        int kx = 0;
        if (ky >= ky0 && ky < ky1) {
            const int iy = oy * a->stride_h - a->pad_t + ky * a->dil_h;
            for (; kx < kx0; kx++)
                out[t + kx] = pad_value;
            const int8_t *row = x + (size_t)iy * a->w * C;
            const int ix0 = ox * a->stride_w - a->pad_l; /* input column of tap 0 (in the image from kx0 on) */
            for (; kx < kx1; kx++)
                out[t + kx] = row + (size_t)(ix0 + kx * a->dil_w) * C;
        }
        for (; kx < a->kw; kx++)
            out[t + kx] = pad_value;
    }
}

/* The vector path. */
static void dw_main(const qb_packed *p, const qb_dw_args *a)
{
    const int8_t *x = a->x;
    int8_t *y = a->y;
    const int C = a->c, nb = (C + CB - 1) / CB, nfull = C / CB, nt = a->kh * a->kw;
    const size_t bb = blk_bytes(p->k);
    const __m256i xz = _mm256_set1_epi16((int16_t)a->x_zero);
    const outc oc = {.z16 = _mm256_set1_epi16((int16_t)a->y_zero), .lo8 = _mm256_set1_epi8((char)a->y_min),
                     .hi8 = _mm256_set1_epi8((char)a->y_max), .clamp = a->y_min > -128 || a->y_max < 127};
    int xlo, xhi, ylo, yhi;
    qb_dw_inner(a->w, a->stride_w, a->pad_l, a->dil_w, a->kw, a->out_w, &xlo, &xhi);
    qb_dw_inner(a->h, a->stride_h, a->pad_t, a->dil_h, a->kh, a->out_h, &ylo, &yhi);
    ptrdiff_t off[QB_DW_MAX_TAPS]; /* interior pixels: tap t at x + off[t] from its window's corner */
    for (int ky = 0, t = 0; ky < a->kh; ky++)
        for (int kx = 0; kx < a->kw; kx++, t++)
            off[t] = ((ptrdiff_t)ky * a->dil_h * a->w + (ptrdiff_t)kx * a->dil_w) * C;
    const size_t xs = (size_t)a->stride_w * C; /* bytes between horizontally adjacent interior pixels */
    blk kbuf[CHUNK];
    const blk *pk = prepared(p, a); /* the constants packed once, or NULL: laid out here per chunk */
    const int8_t *tp[QB_DW_MAX_TAPS]; /* tap pixels of channel 0, NULL in the padding */
    const int xz8 = a->x_zero >= -128 && a->x_zero <= 127; /* the padding as int8 bytes (block_border) */
    int8_t pad[CB];
    memset(pad, (int)(int8_t)a->x_zero, sizeof pad);
    /* border pixels of full blocks in pairs (px_ptr) when the padding fits
     * a row of x_zero bytes (padrow + c0 for any full block) */
    const int pairs = xz8 && C <= PADROW;
    _Alignas(32) int8_t padrow[PADROW];
    if (pairs)
        memset(padrow, (int)(int8_t)a->x_zero, (size_t)C);
    const int8_t *tpp[2][QB_DW_MAX_TAPS]; /* tap tables of a pair of border pixels */
    /* 3x3, dilation 1 and stride 1 or 2 along x: whole rows by the column
     * sweep (rows3x3), the padding read from padrow */
    const int sweep3 = pairs && a->kh == 3 && a->kw == 3 && a->dil_w == 1 && (a->stride_w == 1 || a->stride_w == 2);
    rqs q3[CHUNK];               /* the sweep's requantization of the chunk's full blocks */
    unsigned char qm3[CHUNK];    /* and its mode (round16m's M) */
    for (int b0 = 0; b0 < nb; b0 += CHUNK) {
        int b1 = nb - b0 < CHUNK ? nb : b0 + CHUNK;
        const blk *kb = pk ? pk + b0 : kbuf; /* block b's constants at kb[b - b0] */
        for (int b = b0; b < b1 && !pk; b++)
            blk_init(&kbuf[b - b0], p->bias_i32, p->wsum, a->rq, a->x_zero, C, b * CB);
        const int bf = b1 < nfull ? b1 : nfull; /* blocks [b0, bf) are full */
        for (int b = b0; b < bf && sweep3; b++) { /* the sweep's requantization per block */
            q3[b - b0].k = &kb[b - b0];
            qm3[b - b0] = !kb[b - b0].fast ? 0 : sweep_fold(&kb[b - b0], a->y_zero, q3[b - b0].rnd) ? 2 : 1;
        }
        for (int oy = 0; oy < a->out_h; oy++) {
            int8_t *yr = y + (size_t)oy * a->out_w * C;
            const int vin = oy >= ylo && oy < yhi && xlo < xhi;
            int ky0, ky1; /* the window rows of this output row inside the image */
            qb_dw_taps(oy, a->stride_h, a->pad_t, a->dil_h, a->kh, a->h, &ky0, &ky1);
            if (sweep3) { /* every pixel of the row, full blocks */
                if (bf > b0)
                    rows3x3(a, q3, qm3, p, b0, bf, oy, padrow, &oc);
            } else if (vin) {
                const int8_t *xr = x + ((size_t)(oy * a->stride_h - a->pad_t) * a->w +
                                        (size_t)(xlo * a->stride_w - a->pad_l)) * C;
                if (nt == 9) /* 3x3: unrolled */
                    row_inside(kb, p, b0, bf, 9, xr, off, xs, xhi - xlo, &oc, yr + (size_t)xlo * C, (size_t)C);
                else
                    row_inside(kb, p, b0, bf, nt, xr, off, xs, xhi - xlo, &oc, yr + (size_t)xlo * C, (size_t)C);
            }
            if (pairs && !sweep3 && bf > b0) { /* the row's border pixels, full blocks, two at a time */
                int np = 0;
                int8_t *yp[2];
                for (int ox = 0; ox < a->out_w; ox++) {
                    if (vin && ox == xlo)
                        ox = xhi; /* skip the interior */
                    if (ox >= a->out_w)
                        break;
                    border_taps(a, ox, oy, ky0, ky1, padrow, tpp[np]);
                    yp[np++] = yr + (size_t)ox * C;
                    if (np == 2) {
                        if (nt == 9)
                            px_ptr_blocks(2, kb, p, b0, bf, 9, tpp[0], tpp[1], &oc, yp[0], yp[1]);
                        else
                            px_ptr_blocks(2, kb, p, b0, bf, nt, tpp[0], tpp[1], &oc, yp[0], yp[1]);
                        np = 0;
                    }
                }
                if (np)
                    px_ptr_blocks(1, kb, p, b0, bf, nt, tpp[0], tpp[0], &oc, yp[0], yp[0]);
            }
            for (int ox = 0; ox < a->out_w; ox++) {
                const int inside = vin && ox >= xlo && ox < xhi;
                if ((inside || pairs) && bf == b1)
                    continue; /* done above */
                border_taps(a, ox, oy, ky0, ky1, NULL, tp);
                int8_t *yp = yr + (size_t)ox * C;
                for (int b = inside || pairs ? bf : b0; b < b1; b++) {
                    int c0 = b * CB, nc = C - c0 < CB ? C - c0 : CB;
                    const __m256i *wv = (const __m256i *)((const int8_t *)p->w + (size_t)b * bb);
                    if (nc == CB && xz8 && nt == 9)
                        block_border(&kb[b - b0], wv, 9, tp, c0, pad, &oc, yp + c0);
                    else if (nc == CB && xz8)
                        block_border(&kb[b - b0], wv, nt, tp, c0, pad, &oc, yp + c0);
                    else
                        block_any(&kb[b - b0], wv, nt, tp, c0, nc, xz, &oc, yp + c0);
                }
            }
        }
    }
}

void qb_dwconv_i8__avx2(const qb_packed *p, const qb_dw_args *a)
{
    if (a->x_zero < -32640 || a->x_zero > 32639 || a->y_zero <= -32640 || a->y_zero >= 32640)
        dw_plain(p, a);
    else
        dw_main(p, a);
}
