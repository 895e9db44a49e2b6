/*
 * dwconv_i8.c - AVX-512 VNNI int8 depthwise convolution (NHWC, any window,
 * stride, dilation, padding), bit-exact with kernels/scalar/dwconv_i8.c.
 *
 * The XNNPACK-style channel-tiled scheme, with vpdpbusd summing four window
 * rows per instruction: channels go in blocks of 64; the 64-byte rows of
 * four window rows (ky = 4g .. 4g+3, one column) are interleaved bytewise
 * (vpunpck{l,h}bw, then {l,h}wd) into four vectors whose 32-bit lanes hold
 * the four rows of one channel, each vector 16 channels in the order
 * 16 L + 4 j + i (vector j, 128-bit lane L, dword i). The weights are
 * interleaved the same way once per call, so one vpdpbusd adds four taps of
 * 16 channels. Input bytes are made unsigned (x ^ 0x80 = x + 128); the
 * accumulator starts from bias - (x_zero + 128) * sum(w) (modulo 2^32 the
 * same sum as the reference), and taps in the padding read x_zero, so every
 * pixel, border or not, is the same sum of (x - x_zero) * w. Rows past the
 * window meet zero weights.
 *
 * Runs of 4 horizontally adjacent output pixels whose columns all lie in
 * the image share each interleaved input column (specialised for the common
 * windows, a generic copy for the others; one call takes all the runs of
 * a row's interior, so the weights stay in registers); window rows in the vertical
 * padding read a 64-byte block of x_zero without advancing. Pixels at the
 * left and right border go in runs of 1..NX as well, each column of each
 * window row taken from a table (the x_zero block where it lies in the
 * padding); only windows too wide for the table list their taps one by
 * one per pixel. 3x3 windows at dilation 1, stride 1 or 2 along x, C >= 32
 * take dw3 instead (rows interleaved along x once, see there); 5x5 windows
 * at dilation 1, stride 1 or 2 along x, C >= 16 (and 3x3 at C = 16..31)
 * take dwconv5_i8.c's rows of interleaved taps in blocks of 16 channels.
 *
 * Requantization (exactly qb_requant_apply): a channel's multiplier m with
 * rshift s is reduced to an odd m' = m >> v, s' = s - v (same real value,
 * same rounding; vnni.h also rescales multipliers with many trailing zero
 * bits to s' = 33). When s' >= 33 for every channel, half away from zero is
 * r = (hi32(acc * m') + 2^(s'-33)) >> (s'-32) (signed multiply, arithmetic
 * shift): with m' odd the low 32 bits of a nonzero product are never zero,
 * so floor((acc m' + 2^(s'-1) - [acc < 0]) / 2^s') loses nothing by
 * dropping them. Otherwise the call takes |acc| * m in 64-bit lanes as
 * vnni.h does. r goes through vpackssdw, + y_zero (saturating int16),
 * vpacksswb, then the clamp as bytes (none for the range -128..127): the packs undo the interleave's
 * channel order, so 64 outputs are one store. dw3 adds y_zero in the
 * faster form's rounding constant instead when no int32 sum can wrap
 * (oband_t's FOLD).
 *
 * Packed layout: int8, k taps x Cp (Cp = C rounded up to 64), w[c][t] at
 * t * Cp + c, padding zero. x_zero outside [-128, 127], |y_zero| >= 32640
 * or windows wider than the weight buffer take a plain C loop.
 */
#include "kernels/dw_geom.h"
#include "kernels/vnni/dwconv_i8.h"

#define NX 4            /* output pixels per run */
#define WBUF 16384      /* bytes of interleaved weights per chunk of blocks */
#define MAXB 8          /* blocks of 64 channels per chunk */

static size_t cpad(int c) { return ((size_t)c + 63) / 64 * 64; }

/* Channel of vector j, dword i of a block. */
static inline int lane_ch(int j, int i) { return 16 * (i / 4) + 4 * j + i % 4; }

/* One row only (the others meet zero weights): byte 16 L + 4 j + i to dword i of vector j. */
QB_INLINE void ilv1(__m512i r0, __m512i *v)
{
    for (int j = 0; j < 4; j++) {
        const __m512i idx = _mm512_set1_epi32((int32_t)(0x80808000u | (uint32_t)(4 * j)));
        /* dword i of each 128-bit lane: byte 0 = 4 j + i, bytes 1-3 zero */
        const __m512i add = _mm512_set_epi32(3, 2, 1, 0, 3, 2, 1, 0, 3, 2, 1, 0, 3, 2, 1, 0);
        v[j] = _mm512_shuffle_epi8(r0, _mm512_add_epi32(idx, add));
    }
}

/* 64 input bytes made unsigned: hs == 0 as ldu; else two 32-byte halves,
 * the second hs bytes after the first (two pixels of 32 channels a
 * stride apart). */
QB_INLINE __m512i ld2(const int8_t *p, size_t hs, __mmask64 mk)
{
    if (!hs)
        return ldu(p, mk);
    __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)p)),
                                   _mm256_loadu_si256((const __m256i *)(p + hs)), 1);
    return _mm512_xor_si512(v, _mm512_set1_epi8((char)0x80));
}

/* Rows ky = 4g .. of one column: interleaved into v (n rows valid); hs as ld2. */
QB_INLINE void column(int n, const int8_t *const *q, size_t hs, __mmask64 mk, __m512i *v)
{
    if (n == 1) {
        ilv1(ld2(q[0], hs, mk), v);
        return;
    }
    __m512i r0 = ld2(q[0], hs, mk), r1 = ld2(q[1], hs, mk);
    __m512i r2 = n > 2 ? ld2(q[2], hs, mk) : r1, r3 = n > 3 ? ld2(q[3], hs, mk) : r2;
    ilv4(r0, r1, r2, r3, v);
}

/* The rounded r of a block's 4 vectors -> + y_zero (when ZADD; else r
 * holds it already), int8, clamp (when CLAMP), stored as its 64 channels
 * (mk lanes). With |y_zero| < 32640 (the caller's bound) sat16(r + y_zero)
 * and sat16(sat16(r) + y_zero) saturate to the same int8. */
QB_INLINE void pack64z(__m512i r0, __m512i r1, __m512i r2, __m512i r3, int ZADD, __m512i z16, __m512i lo8,
                       __m512i hi8, int clamp, int8_t *y, __mmask64 mk)
{
    __m512i p01 = _mm512_packs_epi32(r0, r1), p23 = _mm512_packs_epi32(r2, r3);
    if (ZADD)
        p01 = _mm512_adds_epi16(p01, z16), p23 = _mm512_adds_epi16(p23, z16);
    __m512i b = _mm512_packs_epi16(p01, p23);
    if (clamp)
        b = _mm512_min_epi8(_mm512_max_epi8(b, lo8), hi8);
    if (mk == ~(__mmask64)0)
        _mm512_storeu_si512((void *)y, b);
    else
        _mm512_mask_storeu_epi8(y, mk, b);
}

/* pack64z adding y_zero. */
QB_INLINE void pack64(__m512i r0, __m512i r1, __m512i r2, __m512i r3, __m512i z16, __m512i lo8, __m512i hi8,
                      int clamp, int8_t *y, __mmask64 mk)
{
    pack64z(r0, r1, r2, r3, 1, z16, lo8, hi8, clamp, y, mk);
}

/* Requantize the 4 accumulators of a block and store its 64 channels. */
QB_INLINE void out64(const __m512i *acc, const blkc *bc, const outc *oc, int8_t *y, __mmask64 mk)
{
    __m512i r0 = rq_round(acc[0], bc->v[0], oc->exact), r1 = rq_round(acc[1], bc->v[1], oc->exact);
    __m512i r2 = rq_round(acc[2], bc->v[2], oc->exact), r3 = rq_round(acc[3], bc->v[3], oc->exact);
    pack64(r0, r1, r2, r3, oc->z16, oc->lo8, oc->hi8, oc->clamp, y, mk);
}

/* R runs of N (<= NX) adjacent output pixels of one block, one after the
 * other along the row (R = 1 when T): window row ky of the first pixel at
 * column 0 is rp[ky], columns rs[ky] bytes apart (0: padding),
 * or, when T, column col of row ky is tab[col * KH + ky]
 * (the x_zero block where it lies in the padding: border pixels);
 * the pixels SW columns apart, window columns DW apart, their outputs
 * ystep bytes apart. wb: the block's interleaved weights [g][kx][4]. */
QB_MICRO void run(int KH, int KW, int SW, int DW, int N, int T, size_t hs, const int8_t *const *rp, const size_t *rs,
                  const int8_t *const *tab, const __m512i *wb, const blkc *bc, const outc *oc, __mmask64 mk,
                  int8_t *yp, size_t ystep, int R)
{
    for (int it = 0; it < R; it++, yp += (size_t)N * ystep) {
    const size_t c0 = (size_t)it * N * SW; /* the run's first column */
    __m512i acc[NX][4];
QB_UNROLL(GCC unroll 4)
    for (int o = 0; o < N; o++)
QB_UNROLL(GCC unroll 4)
        for (int j = 0; j < 4; j++)
            acc[o][j] = _mm512_load_si512((const void *)bc->bias[j]);
    const int G = (KH + 3) / 4, span = (N - 1) * SW + (KW - 1) * DW + 1;
QB_UNROLL(GCC unroll 32)
    for (int col = 0; col < span; col++)
QB_UNROLL(GCC unroll 4)
        for (int g = 0; g < G; g++) {
            const int n = KH - 4 * g < 4 ? KH - 4 * g : 4;
            const int8_t *q[4] = {0};
QB_UNROLL(GCC unroll 4)
            for (int r = 0; r < n; r++)
                q[r] = T ? tab[col * KH + 4 * g + r] : rp[4 * g + r] + (c0 + (size_t)col) * rs[4 * g + r];
            __m512i v[4];
            column(n, q, hs, mk, v);
QB_UNROLL(GCC unroll 4)
            for (int o = 0; o < N; o++) {
                const int d = col - o * SW;
                if (d < 0 || d % DW || d / DW >= KW)
                    continue;
                const __m512i *w = wb + (size_t)(g * KW + d / DW) * 4;
QB_UNROLL(GCC unroll 4)
                for (int j = 0; j < 4; j++)
                    acc[o][j] = _mm512_dpbusd_epi32(acc[o][j], v[j], _mm512_load_si512((const void *)(w + j)));
            }
        }
QB_UNROLL(GCC unroll 4)
    for (int o = 0; o < N; o++)
        out64(acc[o], bc, oc, yp + (size_t)o * ystep, mk);
    }
}

/* One output pixel of one block, any taps: tap (ky, kx) at tp[ky * kw + kx]
 * (the x_zero block in the padding). */
static void pixel(const qb_dw_args *a, const int8_t *const *tp, const __m512i *wb, const blkc *bc, const outc *oc,
                  __mmask64 mk, int8_t *yp)
{
    __m512i acc[4];
    for (int j = 0; j < 4; j++)
        acc[j] = _mm512_load_si512((const void *)bc->bias[j]);
    const int G = (a->kh + 3) / 4;
    for (int g = 0; g < G; g++) {
        const int n = a->kh - 4 * g < 4 ? a->kh - 4 * g : 4;
        for (int kx = 0; kx < a->kw; kx++) {
            const int8_t *q[4] = {0};
            for (int r = 0; r < n; r++)
                q[r] = tp[(4 * g + r) * a->kw + kx];
            __m512i v[4];
            column(n, q, 0, mk, v);
            const __m512i *w = wb + (size_t)(g * a->kw + kx) * 4;
            for (int j = 0; j < 4; j++)
                acc[j] = _mm512_dpbusd_epi32(acc[j], v[j], _mm512_load_si512((const void *)(w + j)));
        }
    }
    out64(acc, bc, oc, yp, mk);
}

/* The reference arithmetic on the packed layout (cases the vector path
 * does not take). */
static void dw_plain(const qb_packed *p, const qb_dw_args *a)
{
    const int8_t *W = p->w, *x = a->x;
    int8_t *y = a->y;
    const int C = a->c;
    const size_t cp = cpad(C);
    for (int oy = 0; oy < a->out_h; oy++) {
        int ky0, ky1;
        qb_dw_taps(oy, a->stride_h, a->pad_t, a->dil_h, a->kh, a->h, &ky0, &ky1);
        for (int ox = 0; ox < a->out_w; ox++) {
            int kx0, kx1;
            qb_dw_taps(ox, a->stride_w, a->pad_l, a->dil_w, a->kw, a->w, &kx0, &kx1);
            for (int c = 0; c < C; c++) {
                uint32_t acc = (uint32_t)p->bias_i32[c];
                for (int ky = ky0; ky < ky1; ky++)
                    for (int kx = kx0; kx < kx1; kx++) {
                        int iy = oy * a->stride_h - a->pad_t + ky * a->dil_h;
                        int ix = ox * a->stride_w - a->pad_l + kx * a->dil_w;
                        int64_t xv = (int64_t)x[((size_t)iy * a->w + ix) * C + c] - a->x_zero;
                        acc += (uint32_t)(xv * W[(size_t)(ky * a->kw + kx) * cp + c]);
                    }
                y[((size_t)oy * a->out_w + ox) * C + c] =
                    qb_requant_apply((int32_t)acc, a->rq[c], a->y_zero, a->y_min, a->y_max);
            }
        }
    }
}

/* Channel of lane l of block b of C channels; with P > 1 pixels per block
 * (C <= 32), lane l is channel l % C of pixel l / C. -1: no channel. */
static inline int blk_ch(int C, int b, int P, int l)
{
    if (P > 1)
        return l < P * C ? l % C : -1;
    return 64 * b + l < C ? 64 * b + l : -1;
}

/* Pixels per block of a layer of C channels when they share one (C <= 32
 * at stride 1 along x, or C = 32 at stride 2), else 1. */
static inline int shared_px(int C) { return C <= 32 ? (64 / C < 4 ? 64 / C : 4) : 1; }

/* Interleave the weights of block b (P pixels a block: see blk_ch) into wb
 * [g][kx][4]: W is the packed layout (taps x cp), C channels, window kh x kw. */
static void weights(const int8_t *W, int C, int kh, int kw, int b, int P, __m512i *wb)
{
    const size_t cp = cpad(C);
    const int G = (kh + 3) / 4;
    for (int g = 0; g < G; g++)
        for (int kx = 0; kx < kw; kx++) {
            __m512i r[4];
            for (int i = 0; i < 4; i++) {
                int ky = 4 * g + i;
                const int8_t *src = W + (size_t)(ky * kw + kx) * cp;
                if (ky >= kh) {
                    r[i] = _mm512_setzero_si512();
                } else if (P == 1) {
                    r[i] = _mm512_loadu_si512((const void *)(src + 64 * (size_t)b));
                } else { /* lanes [q C, q C + C) hold channels 0..C-1 (blk_ch) */
                    _Alignas(64) int8_t t[64] = {0};
                    for (int q = 0; q < P; q++)
                        memcpy(t + q * C, src, (size_t)C);
                    r[i] = _mm512_load_si512((const void *)t);
                }
            }
            ilv4(r[0], r[1], r[2], r[3], wb + (size_t)(g * kw + kx) * 4);
        }
}

/* What the block constants are made from: per call the packed biases and
 * weight sums; at pack time the logical weights (sums taken here). */
typedef struct csrc {
    const int32_t *bias;  /* C biases, or NULL (zero) */
    const int32_t *wsum;  /* C weight sums, or NULL: summed from w8 */
    const int8_t *w8;     /* logical weights C x k (when wsum is NULL) */
    int k;                /* taps */
    const qb_requant *rq; /* C multipliers */
    int32_t x_zero;       /* input zero point */
    int c;                /* channels */
} csrc;

/* Weight sum of channel c. */
static int32_t csum(const csrc *cs, int c)
{
    if (cs->wsum)
        return cs->wsum[c];
    int32_t s = 0;
    for (int t = 0; t < cs->k; t++)
        s += cs->w8[(size_t)c * cs->k + t];
    return s;
}

/* The constants of block b (per call, or once at pack time). */
static void consts(const csrc *cs, int b, int P, int exact, blkc *bc)
{
    const uint32_t off = (uint32_t)cs->x_zero + 128u;
    memset(bc, 0, sizeof *bc);
    for (int j = 0; j < 4; j++)
        for (int i = 0; i < 16; i++) {
            int c = blk_ch(cs->c, b, P, lane_ch(j, i));
            if (c < 0)
                continue;
            bc->bias[j][i] = (int32_t)((cs->bias ? (uint32_t)cs->bias[c] : 0u) - off * (uint32_t)csum(cs, c));
            uint32_t m = (uint32_t)cs->rq[c].multiplier;
            int s = cs->rq[c].rshift;
            int32_t(*v)[16] = bc->v[j];
            if (!exact) {
                qb_rqf_reduce(cs->rq[c], &m, &s);
                /* m' in the low dword of the 64-bit lane that holds lane i: v[0] even, v[1] odd lanes */
                v[i & 1][i & ~1] = (int32_t)m;
                v[2][i] = 1 << (s - 33);
                v[3][i] = s - 32;
            } else {
                /* 64-bit lanes: even lanes from v[.][2q], odd lanes from v[.][2q] of the odd set */
                int e = i & 1, q = i / 2;
                v[e][2 * q] = (int32_t)m;
                uint64_t rnd = 1ull << (s - 1);
                memcpy(&v[2 + e][2 * q], &rnd, 8);
                uint64_t sv = (uint64_t)s;
                memcpy(&v[4 + e][2 * q], &sv, 8);
            }
        }
}

void QB_VNNI(qb_dwi8_block_consts)(const qb_packed *pk, const qb_dw_args *a, int b, int exact, blkc *bc)
{
    const csrc cs = {.bias = pk->bias_i32, .wsum = pk->wsum, .rq = a->rq, .x_zero = a->x_zero, .c = a->c};
    consts(&cs, b, 1, exact, bc);
}

/* Nonzero when every one of C multipliers reduces to s' >= 33 (vnni.h). */
static int all_fast(const qb_requant *rq, int C)
{
    for (int c = 0; c < C; c++) {
        uint32_t m;
        int s;
        if (!qb_rqf_reduce(rq[c], &m, &s))
            return 0;
    }
    return 1;
}

/* The constants of a layer laid out once at pack time (qb_weights.dw),
 * after the taps x cp weights: this header, the C multipliers they were
 * made from, nb + 1 blkc (block b, then the shared-pixel block when
 * P > 1) and nb + 1 interleaved weight blocks of wblk bytes. */
typedef struct prep {
    int32_t ok;     /* 1: filled */
    int32_t kh, kw; /* the window */
    int32_t x_zero; /* the input zero point */
    int32_t exact;  /* outc.exact */
    int32_t c;      /* channels */
    int32_t P;      /* shared_px(c) */
    int32_t pad[9]; /* to 64 bytes */
} prep;

/* Interleaved bytes per block of a window kh x kw. */
static size_t wblk_of(int kh, int kw) { return (size_t)((kh + 3) / 4) * kw * 4 * 64; }

/* Bytes of interleaved weights reserved per block: kh is not known to the
 * size function; (kh + 3) / 4 * 4 * kw <= 4 k, and past WBUF nothing is laid out. */
static size_t wres(int k) { return 4 * (size_t)k * 64 < WBUF ? 4 * (size_t)k * 64 : WBUF; }

static size_t prep_off(int n, int k) { return ((size_t)k * cpad(n) + 63) / 64 * 64; }
static size_t rq_bytes(int n) { return ((size_t)n * sizeof(qb_requant) + 63) / 64 * 64; }

size_t QB_VNNI(qb_dwconv_i8__vnni_size)(int n, int k, int group)
{
    (void)group;
    size_t nb1 = (size_t)(n + 63) / 64 + 1;
    return prep_off(n, k) + sizeof(prep) + rq_bytes(n) + nb1 * (sizeof(blkc) + wres(k));
}

void QB_VNNI(qb_dwconv_i8__vnni_pack)(const qb_weights *w, void *dst)
{
    int8_t *out = dst;
    const int C = w->n, k = w->k;
    size_t cp = cpad(C);
    for (int c = 0; c < C; c++)
        for (int t = 0; t < k; t++)
            out[(size_t)t * cp + c] = w->i8[(size_t)c * k + t];
    const qb_dw_fixed *f = w->dw;
    if (!f || !f->rq || f->kh < 1 || k % f->kh || f->x_zero < -128 || f->x_zero > 127)
        return;
    const int kh = f->kh, kw = k / kh, nb = (C + 63) / 64;
    const size_t wblk = wblk_of(kh, kw);
    if (wblk > wres(k))
        return;
    prep *pr = (prep *)(out + prep_off(C, k));
    qb_requant *rq = (qb_requant *)(pr + 1);
    blkc *bc = (blkc *)((char *)rq + rq_bytes(C));
    __m512i *wb = (__m512i *)(bc + nb + 1);
    memcpy(rq, f->rq, (size_t)C * sizeof *rq);
    const int exact = !all_fast(rq, C), P = shared_px(C);
    const csrc cs = {.bias = w->bias_i32, .w8 = w->i8, .k = k, .rq = rq, .x_zero = f->x_zero, .c = C};
    for (int b = 0; b < nb; b++) {
        weights(out, C, kh, kw, b, 1, wb + (size_t)b * (wblk / 64));
        consts(&cs, b, 1, exact, &bc[b]);
    }
    if (P > 1) {
        weights(out, C, kh, kw, 0, P, wb + (size_t)nb * (wblk / 64));
        consts(&cs, 0, P, exact, &bc[nb]);
    }
    *pr = (prep){.ok = 1, .kh = kh, .kw = kw, .x_zero = f->x_zero, .exact = exact, .c = C, .P = P};
}

/* The constants packed for this call, or NULL when its parameters differ. */
static const prep *prepared(const qb_packed *p, const qb_dw_args *a)
{
    const prep *pr = (const prep *)((const int8_t *)p->w + prep_off(p->n, p->k));
    if (!pr->ok || pr->c != a->c || pr->kh != a->kh || pr->kw != a->kw || pr->x_zero != a->x_zero)
        return NULL;
    return memcmp(pr + 1, a->rq, (size_t)a->c * sizeof *a->rq) ? NULL : pr;
}

/* A run of NX outputs (or NX groups of P pixels) of one block: the
 * specialised copies for the common windows, the generic one otherwise;
 * N pixels (or groups); hs: ld2's split (0: none); T: columns from tab (run). */
QB_INLINE void run_sel(const qb_dw_args *a, int N, int T, int SW, size_t hs, const int8_t *const *rp, const size_t *rs,
                       const int8_t *const *tab, const __m512i *wb, const blkc *bc, const outc *oc, __mmask64 mk,
                       int8_t *yp, size_t ystep, int R)
{
    const int KH = a->kh, KW = a->kw, DW = a->dil_w;
    if (hs && KH == 3 && KW == 3 && DW == 1 && SW == 4) /* C = 32 at stride 2, two pixels a block */
        run(3, 3, 4, 1, N, T, hs, rp, rs, tab, wb, bc, oc, mk, yp, ystep, R);
    else if (hs)
        run(KH, KW, SW, DW, N, T, hs, rp, rs, tab, wb, bc, oc, mk, yp, ystep, R);
    else if (KH == 3 && KW == 3 && DW == 1 && SW == 1)
        run(3, 3, 1, 1, N, T, 0, rp, rs, tab, wb, bc, oc, mk, yp, ystep, R);
    else if (KH == 3 && KW == 3 && DW == 1 && SW == 2)
        run(3, 3, 2, 1, N, T, 0, rp, rs, tab, wb, bc, oc, mk, yp, ystep, R);
    else if (KH == 3 && KW == 3 && DW == 1 && SW == 4) /* C <= 16, four pixels a block */
        run(3, 3, 4, 1, N, T, 0, rp, rs, tab, wb, bc, oc, mk, yp, ystep, R);
    else if (KH == 5 && KW == 5 && DW == 1 && SW == 1)
        run(5, 5, 1, 1, N, T, 0, rp, rs, tab, wb, bc, oc, mk, yp, ystep, R);
    else if (KH == 5 && KW == 5 && DW == 1 && SW == 2)
        run(5, 5, 2, 1, N, T, 0, rp, rs, tab, wb, bc, oc, mk, yp, ystep, R);
    else
        run(KH, KW, SW, DW, N, T, 0, rp, rs, tab, wb, bc, oc, mk, yp, ystep, R);
}

/* run_sel over rows (interior pixels): R runs of NX. */
static void run_any(const qb_dw_args *a, int SW, size_t hs, const int8_t *const *rp, const size_t *rs,
                    const __m512i *wb, const blkc *bc, const outc *oc, __mmask64 mk, int8_t *yp, size_t ystep,
                    int R)
{
    run_sel(a, NX, 0, SW, hs, rp, rs, NULL, wb, bc, oc, mk, yp, ystep, R);
}

/* run_sel over a column table: n (1..NX) pixels of one block at the border. */
static void run_tab(const qb_dw_args *a, int n, const int8_t *const *tab, const __m512i *wb, const blkc *bc,
                    const outc *oc, __mmask64 mk, int8_t *yp, size_t ystep)
{
    const int SW = a->stride_w;
    if (n >= 4)
        run_sel(a, 4, 1, SW, 0, NULL, NULL, tab, wb, bc, oc, mk, yp, ystep, 1);
    else if (n == 3)
        run_sel(a, 3, 1, SW, 0, NULL, NULL, tab, wb, bc, oc, mk, yp, ystep, 1);
    else if (n == 2)
        run_sel(a, 2, 1, SW, 0, NULL, NULL, tab, wb, bc, oc, mk, yp, ystep, 1);
    else
        run_sel(a, 1, 1, SW, 0, NULL, NULL, tab, wb, bc, oc, mk, yp, ystep, 1);
}

/* ---- 3x3 windows at stride 1 or 2 along x, C >= 32: rows of
 * horizontally interleaved taps (issue 11, `dwvnni`) ----
 *
 * Each input row of a block is interleaved once into T rows: position p
 * (output pixel p, or pixels 2p, 2p + 1 when C = 32) holds, per channel,
 * the 4 bytes (x[ix], x[ix + 1], x[ix + 2], x[ix + 2]) of its window's
 * columns ix = p SW - pad_l + 0..2 (made unsigned; x_zero outside the
 * image), in ilv4's lane order. An output pixel is then 3 window rows x 4
 * vpdpbusd on T rows read straight from memory against weights
 * (w[ky][0], w[ky][1], w[ky][2], 0) kept in registers: no shuffles and no
 * border cases in the loop over pixels (window rows in the vertical
 * padding read a T row of x_zero). A ring of K = max(3, RB / np) T
 * rows serves the output rows (each input row is interleaved once per
 * chunk of np <= NP positions, used by every output row that reads it),
 * in bands of as many output rows as the ring holds the inputs of, one
 * call a band. */
#define NP 32 /* positions per chunk of a row (the ring's width) */

/* Column ix of a row at xr (channel offset added), or the x_zero block outside [0, w). */
static inline const int8_t *colp(const int8_t *xr, int ix, int w, size_t C, const int8_t *pad)
{
    return ix >= 0 && ix < w ? xr + (size_t)ix * C : pad;
}

/* 64 bytes of the P pixels of a position made unsigned: P = 1 column ix
 * (mk lanes); P = 2 the 32 bytes of columns ix and ix + SW (one load when
 * adjacent and both inside). */
QB_INLINE __m512i tcol(int P, int SW, const int8_t *xr, int ix, int w, size_t C, const int8_t *pad, __mmask64 mk)
{
    if (P == 1)
        return ldu(colp(xr, ix, w, C, pad), mk);
    if (SW == 1 && ix >= 0 && ix + 1 < w)
        return ldu(xr + (size_t)ix * C, ~(__mmask64)0);
    __m512i v = _mm512_inserti64x4(
        _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)colp(xr, ix, w, C, pad))),
        _mm256_loadu_si256((const __m256i *)colp(xr, ix + SW, w, C, pad)), 1);
    return _mm512_xor_si512(v, _mm512_set1_epi8((char)0x80));
}

/* Positions [p0, p0 + np) of the T row of input row xr (P pixels of 64 / P
 * channels a position, SW the stride along x) into t (4 vectors a
 * position); a column shared with the next position is loaded once. */
QB_INLINE void trow_t(int P, int SW, const int8_t *xr, int w, size_t C, int pad_l, int p0, int np,
                      const int8_t *pad, __mmask64 mk, __m512i *t)
{
    const int step = P * SW; /* columns from one position to the next */
    int ix = p0 * step - pad_l;
    if (P == 2 && SW == 2) { /* halves: columns ix + k and ix + 2 + k, from 64-byte pairs of columns */
        __m512i A = tcol(2, 1, xr, ix, w, C, pad, mk); /* columns ix, ix + 1 */
        for (int p = 0; p < np; p++, ix += 4) {
            const __m512i B = tcol(2, 1, xr, ix + 2, w, C, pad, mk), D = tcol(2, 1, xr, ix + 4, w, C, pad, mk);
            const __m512i r0 = _mm512_shuffle_i32x4(A, B, _MM_SHUFFLE(1, 0, 1, 0)); /* ix | ix + 2 */
            const __m512i r1 = _mm512_shuffle_i32x4(A, B, _MM_SHUFFLE(3, 2, 3, 2)); /* ix + 1 | ix + 3 */
            const __m512i r2 = _mm512_shuffle_i32x4(B, D, _MM_SHUFFLE(1, 0, 1, 0)); /* ix + 2 | ix + 4 */
            ilv4(r0, r1, r2, r2, t + 4 * (size_t)p);
            A = D;
        }
        return;
    }
    __m512i c0 = tcol(P, SW, xr, ix, w, C, pad, mk), c1 = tcol(P, SW, xr, ix + 1, w, C, pad, mk);
    for (int p = 0; p < np; p++, ix += step) {
        const __m512i c2 = tcol(P, SW, xr, ix + 2, w, C, pad, mk);
        ilv4(c0, c1, c2, c2, t + 4 * (size_t)p);
        if (step == 1) { /* columns ix + 1, ix + 2 are the next position's first two */
            c0 = c1, c1 = c2;
        } else if (step == 2) { /* column ix + 2 is the next one's first */
            c0 = c2, c1 = tcol(P, SW, xr, ix + 3, w, C, pad, mk);
        } else {
            c0 = tcol(P, SW, xr, ix + step, w, C, pad, mk), c1 = tcol(P, SW, xr, ix + step + 1, w, C, pad, mk);
        }
    }
}

/* trow_t with P and SW (1 or 2) made compile-time. */
static void trow(int P, int SW, const int8_t *xr, int w, size_t C, int pad_l, int p0, int np, const int8_t *pad,
                 __mmask64 mk, __m512i *t)
{
    if (P == 1 && SW == 1)
        trow_t(1, 1, xr, w, C, pad_l, p0, np, pad, mk, t);
    else if (P == 1)
        trow_t(1, 2, xr, w, C, pad_l, p0, np, pad, mk, t);
    else if (SW == 1)
        trow_t(2, 1, xr, w, C, pad_l, p0, np, pad, mk, t);
    else
        trow_t(2, 2, xr, w, C, pad_l, p0, np, pad, mk, t);
}

/* np positions of each of n output rows (a band): window row ky of row r
 * at tr[r][ky] + 4 p (a T row, or the row of x_zero: one index for the
 * three, so the loop keeps its pointers in registers), weights
 * wv[ky][j]; a row's outputs ystep bytes apart, the last one stored
 * through mlast, rows yrow bytes apart; oc's exact and clamp are EXACT and
 * CLAMP, and FOLD (faster form only) adds y_zero in the rounding constant:
 * (hi + rnd + y_zero 2^sh) >> sh = ((hi + rnd) >> sh) + y_zero exactly
 * when nothing wraps (zfold), so the packs take r + y_zero (pack64z);
 * all compile-time in each copy. The constants are loaded once a band: on
 * small images (the zoo dscnn's 7 to 14 positions a row) loading them once
 * a row cost a fifth of the layer. */
QB_INLINE void oband_t(int EXACT, int CLAMP, int FOLD, const __m512i *const (*tr)[3], int n,
                       const __m512i *wv, const blkc *bc, const outc *oc, int np, int8_t *yp, size_t yrow,
                       size_t ystep, __mmask64 mk, __mmask64 mlast)
{
    /* every constant in a local: the int8 stores may alias anything, so
     * what is read through a pointer would be read again after each */
    __m512i w[12], bias[4], q[4][4];
QB_UNROLL(GCC unroll 12)
    for (int i = 0; i < 12; i++)
        w[i] = wv[i];
QB_UNROLL(GCC unroll 4)
    for (int j = 0; j < 4; j++) {
        bias[j] = _mm512_load_si512((const void *)bc->bias[j]);
QB_UNROLL(GCC unroll 4)
        for (int i = 0; i < 4; i++)
            q[j][i] = _mm512_load_si512((const void *)bc->v[j][i]);
        if (FOLD) /* rnd + y_zero 2^sh */
            q[j][2] = _mm512_add_epi32(q[j][2], _mm512_sllv_epi32(oc->z32, q[j][3]));
    }
    const __m512i z16 = oc->z16, lo8 = oc->lo8, hi8 = oc->hi8;
    for (int r = 0; r < n; r++, yp += yrow) {
        const __m512i *t0 = tr[r][0], *t1 = tr[r][1], *t2 = tr[r][2];
        int8_t *y = yp;
        for (int p = 0; p < np; p++, t0 += 4, t1 += 4, t2 += 4, y += ystep) {
            __m512i acc[4], rr[4];
QB_UNROLL(GCC unroll 4)
            for (int j = 0; j < 4; j++) {
                acc[j] = _mm512_dpbusd_epi32(bias[j], _mm512_load_si512((const void *)(t0 + j)), w[j]);
                acc[j] = _mm512_dpbusd_epi32(acc[j], _mm512_load_si512((const void *)(t1 + j)), w[4 + j]);
                acc[j] = _mm512_dpbusd_epi32(acc[j], _mm512_load_si512((const void *)(t2 + j)), w[8 + j]);
                rr[j] = EXACT ? rq_round(acc[j], bc->v[j], 1)
                              : qb_rqf_round(acc[j], q[j][0], q[j][1], q[j][2], q[j][3]);
            }
            pack64z(rr[0], rr[1], rr[2], rr[3], !FOLD, z16, lo8, hi8, CLAMP, y, p == np - 1 ? mlast : mk);
        }
    }
}

/* Nonzero when the faster form's rounding constants of block bc may take
 * y_zero (oband_t's FOLD): |y_zero| 2^sh + 2^(sh-1) < 2^30 in every lane
 * (sh <= oc->zsh), so with |hi| <= 2^30 the int32 sum never wraps. */
static int zfold(const blkc *bc, const outc *oc)
{
    __mmask16 bad = 0;
    for (int j = 0; j < 4; j++)
        bad |= _mm512_cmpgt_epi32_mask(_mm512_load_si512((const void *)bc->v[j][3]), _mm512_set1_epi32(oc->zsh));
    return !bad;
}

/* oband_t with oc's exact and clamp, and the fold, made compile-time
 * (without the fold the clamp is always on: a rare case). */
static void oband(const __m512i *const (*tr)[3], int n, const __m512i *wv, const blkc *bc,
                  const outc *oc, int np, int8_t *yp, size_t yrow, size_t ystep, __mmask64 mk, __mmask64 mlast)
{
    if (oc->exact)
        oband_t(1, 1, 0, tr, n, wv, bc, oc, np, yp, yrow, ystep, mk, mlast);
    else if (!zfold(bc, oc))
        oband_t(0, 1, 0, tr, n, wv, bc, oc, np, yp, yrow, ystep, mk, mlast);
    else if (oc->clamp)
        oband_t(0, 1, 1, tr, n, wv, bc, oc, np, yp, yrow, ystep, mk, mlast);
    else
        oband_t(0, 0, 1, tr, n, wv, bc, oc, np, yp, yrow, ystep, mk, mlast);
}

/* Positions x T rows the ring holds (24 KiB), and of them what a chunk
 * of np positions uses: K = max(3, RB / np) slots (16 KiB unless three
 * rows need more: in L1 with the layer's input; the whole of a small
 * image's T rows, up to 50 KiB, made 14x14 layers 3-5% slower). */
#define RING (3 * NP)
#define RB (2 * NP)

/* The 3x3 layer (stride 1 or 2 along x, dilation 1, C >= 32): pr the
 * packed constants or NULL, pad 64 bytes of x_zero. */
static void dw3(const qb_packed *pk, const qb_dw_args *a, const prep *pr, const outc *oc, const int8_t *pad)
{
    const int C = a->c, P = C == 32 ? 2 : 1, SW = a->stride_w, SH = a->stride_h, nb = (C + 63) / 64;
    const size_t cp = cpad(C), row = (size_t)a->w * C;
    const int npos = (a->out_w + P - 1) / P;
    const blkc *pbc = pr ? (const blkc *)((const char *)(pr + 1) + rq_bytes(C)) : NULL;
    const csrc cs = {.bias = pk->bias_i32, .wsum = pk->wsum, .rq = a->rq, .x_zero = a->x_zero, .c = C};
    _Alignas(64) __m512i ring[RING * 4]; /* K slots of np positions: T row iy in slot iy % K */
    _Alignas(64) __m512i tz[NP * 4];     /* the T row of x_zero (tzn positions filled) */
    _Alignas(64) blkc lbc;               /* a block's constants when not packed */
    const __m512i *tr[RING][3];          /* a band's window rows: row r, ky */
    int tag[RING];                       /* input row in each slot */
    int tzn = 0;
    const __m512i xz = _mm512_set1_epi8((char)(a->x_zero ^ 0x80));
    for (int b = 0; b < nb; b++) {
        const int c0 = P == 1 ? 64 * b : 0;
        const __mmask64 mk = P == 1 ? qb_mask64(C - c0) : ~(__mmask64)0;
        const blkc *bc = pbc ? &pbc[P == 1 ? b : nb] : &lbc;
        if (!pbc)
            consts(&cs, P == 1 ? b : 0, P, oc->exact, &lbc);
        __m512i wv[12]; /* [ky][j]: (w[ky][0], w[ky][1], w[ky][2], 0) */
        for (int ky = 0; ky < 3; ky++) {
            __m512i r[3];
            for (int k = 0; k < 3; k++) {
                const int8_t *src = (const int8_t *)pk->w + (size_t)(3 * ky + k) * cp + c0;
                r[k] = P == 1 ? _mm512_loadu_si512((const void *)src)
                              : _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)src));
            }
            ilv4(r[0], r[1], r[2], _mm512_setzero_si512(), wv + 4 * ky);
        }
        for (int p0 = 0; p0 < npos; p0 += NP) {
            const int np = npos - p0 < NP ? npos - p0 : NP;
            /* the last position of a row of odd width (C = 32) holds one pixel */
            const __mmask64 mlast = P == 2 && 2 * (p0 + np) > a->out_w ? qb_mask64(32) : mk;
            /* K >= 3 slots; a band of nr output rows reads (nr - 1) SH + 3 <= K
             * consecutive input rows, so distinct slots */
            const int K = RB / np > 3 ? RB / np : 3, nr = (K - 3) / SH + 1;
            for (int s = 0; s < K; s++)
                tag[s] = -1;
            for (int oa = 0; oa < a->out_h; oa += nr) {
                const int n = a->out_h - oa < nr ? a->out_h - oa : nr;
                for (int r = 0; r < n; r++) {
                    const int iy0 = (oa + r) * SH - a->pad_t;
                    for (int ky = 0; ky < 3; ky++) {
                        const int iy = iy0 + ky;
                        if (iy < 0 || iy >= a->h) {
                            for (; tzn < np; tzn++)
                                for (int j = 0; j < 4; j++)
                                    tz[4 * tzn + j] = xz;
                            tr[r][ky] = tz;
                            continue;
                        }
                        __m512i *t = ring + (size_t)(iy % K) * np * 4;
                        if (tag[iy % K] != iy) {
                            const int8_t *xr = (const int8_t *)a->x + (size_t)iy * row + c0;
                            trow(P, SW, xr, a->w, (size_t)C, a->pad_l, p0, np, pad, mk, t);
                            tag[iy % K] = iy;
                        }
                        tr[r][ky] = t;
                    }
                }
                int8_t *yp = a->y + ((size_t)oa * a->out_w + (size_t)p0 * P) * C + c0;
                oband((const __m512i *const(*)[3])tr, n, wv, bc, oc, np, yp,
                      (size_t)a->out_w * C, (size_t)P * C, mk, mlast);
            }
        }
    }
}

void QB_VNNI(qb_dwconv_i8__vnni)(const qb_packed *p, const qb_dw_args *a)
{
    const int C = a->c, KH = a->kh, KW = a->kw;
    const size_t wblk = wblk_of(KH, KW); /* interleaved bytes per block */
    if (a->x_zero < -128 || a->x_zero > 127 || a->y_zero <= -32640 || a->y_zero >= 32640 || wblk > WBUF) {
        dw_plain(p, a);
        return;
    }
    _Alignas(64) __m512i wbuf[WBUF / 64];
    _Alignas(64) blkc bcs[MAXB];
    _Alignas(64) int8_t pad[128]; /* x_zero: a window row in the padding (ld2 reads up to 64 bytes past 64) */
    memset(pad, (int)(int8_t)a->x_zero, sizeof pad);
    const prep *pr = p->n == C && p->k == KH * KW ? prepared(p, a) : NULL;
    /* the largest sh with |y_zero| 2^sh + 2^(sh-1) < 2^30: 30 - bits(|y_zero|), 30 for 0 (checked
     * against the plain search for every |y_zero| < 32640) */
    const uint32_t zabs = (uint32_t)(a->y_zero < 0 ? -a->y_zero : a->y_zero);
    const int zsh = zabs ? __builtin_clz(zabs) - 2 : 30;
    outc oc = {.z16 = _mm512_set1_epi16((int16_t)a->y_zero), .z32 = _mm512_set1_epi32(a->y_zero), .zsh = zsh,
               .lo8 = _mm512_set1_epi8((char)a->y_min),
               .hi8 = _mm512_set1_epi8((char)a->y_max), .exact = pr ? pr->exact : !all_fast(a->rq, C),
               .clamp = a->y_min > -128 || a->y_max < 127};
    const int SH = a->stride_h, SW = a->stride_w, DH = a->dil_h, DW = a->dil_w;
    if (KH == 3 && KW == 3 && DH == 1 && DW == 1 && (SW == 1 || SW == 2) && C >= 32) {
        dw3(p, a, pr, &oc, pad);
        return;
    }
    if (DH == 1 && DW == 1 && (SW == 1 || SW == 2) && C >= 16 &&
        ((KH == 5 && KW == 5) || (KH == 3 && KW == 3 && C < 32))) {
        QB_VNNI(qb_dw5_i8)(p, a, pr ? (const blkc *)((const char *)(pr + 1) + rq_bytes(C)) : NULL, &oc, pad);
        return;
    }
    const int8_t *x = a->x;
    int8_t *y = a->y;
    const size_t row = (size_t)a->w * C;
    const int nb = (C + 63) / 64;
    int per = (int)(WBUF / wblk);
    per = per < MAXB ? per : MAXB;
    /* C <= 32 at stride 1 along x: P horizontally adjacent pixels share a
     * block (their channels are contiguous in the input and the output),
     * runs step P columns; the block's weights and constants follow at
     * wbuf + wblk, bcs[1] */
    /* C = 32 at stride 2 along x: two pixels a block too, the second
     * one's input hs = 2 C bytes after the first's (ld2) */
    const int P = C <= 32 && SW == 1 && per >= 2 ? shared_px(C) : C == 32 && SW == 2 && per >= 2 ? 2 : 1;
    const size_t hs = SW == 1 ? 0 : (size_t)SW * C;
    /* the constants: packed once (pr), or laid out here per chunk of blocks */
    const blkc *pbc = pr ? (const blkc *)((const char *)(pr + 1) + rq_bytes(C)) : NULL;
    const __m512i *pwb = pr ? (const __m512i *)(pbc + nb + 1) : NULL;
    const __m512i *wbP = pr ? pwb + (size_t)nb * (wblk / 64) : wbuf + wblk / 64;
    const blkc *bcP = pr ? &pbc[nb] : &bcs[1];
    const csrc cs = {.bias = p->bias_i32, .wsum = p->wsum, .rq = a->rq, .x_zero = a->x_zero, .c = C};
    int xlo, xhi;
    qb_dw_inner(a->w, SW, a->pad_l, DW, KW, a->out_w, &xlo, &xhi);
    /* a border run's columns: span of them, KH rows each (run's tab) */
    const int span = (NX - 1) * SW + (KW - 1) * DW + 1, tabok = span * KH <= QB_DW_MAX_TAPS;
    ptrdiff_t toff[QB_DW_MAX_TAPS];   /* their offsets in x, -1 in the padding */
    const int8_t *tq[QB_DW_MAX_TAPS]; /* a border pixel's taps, or a border run's columns */
    const int8_t *rp[WBUF / 256];     /* window rows of a run (KH <= 4 * G <= WBUF / 256 here) */
    size_t rs[WBUF / 256];
    for (int b0 = 0; b0 < nb; b0 += per) {
        const int b1 = nb - b0 < per ? nb : b0 + per;
        const __m512i *wch = pr ? pwb + (size_t)b0 * (wblk / 64) : wbuf; /* block b0's weights, constants */
        const blkc *bch = pr ? pbc + b0 : bcs;
        for (int b = b0; b < b1 && !pr; b++) {
            weights(p->w, C, KH, KW, b, 1, wbuf + (size_t)(b - b0) * (wblk / 64));
            consts(&cs, b, 1, oc.exact, &bcs[b - b0]);
        }
        if (P > 1 && !pr) {
            weights(p->w, C, KH, KW, 0, P, wbuf + wblk / 64);
            consts(&cs, 0, P, oc.exact, &bcs[1]);
        }
        for (int oy = 0; oy < a->out_h; oy++) {
            const int iy0 = oy * SH - a->pad_t;
            for (int ox = 0; ox < a->out_w;) {
                const int inner = ox >= xlo && ox + NX <= xhi;
                const int packed = P > 1 && ox >= xlo && ox + NX * P <= xhi;
                /* a border run of bn pixels: on the left NX (into the
                 * interior), or only up to xlo when packed runs follow;
                 * on the right up to NX of what is left */
                int bn = ox < xlo && P > 1 ? xlo - ox : NX;
                bn = bn < a->out_w - ox ? bn : a->out_w - ox;
                bn = bn < NX ? bn : NX;
                const int border = !inner && tabok;
                /* interior runs in a row from here: one call does them all */
                const int R = packed ? (xhi - ox) / (NX * P) : inner ? (xhi - ox) / NX : 1;
                const int ix0 = ox * SW - a->pad_l;
                int8_t *yp = y + ((size_t)oy * a->out_w + ox) * C;
                if (border) /* column col of window row ky: its offset in x, or -1 in the padding */
                    for (int col = 0; col < (bn - 1) * SW + (KW - 1) * DW + 1; col++) {
                        const int ix = ix0 + col;
                        for (int ky = 0; ky < KH; ky++) {
                            const int iy = iy0 + ky * DH;
                            toff[col * KH + ky] = iy >= 0 && iy < a->h && ix >= 0 && ix < a->w
                                                      ? (ptrdiff_t)((size_t)iy * row + (size_t)ix * C)
                                                      : -1;
                        }
                    }
                for (int b = b0; b < b1; b++) {
                    const int c0 = 64 * b;
                    const __mmask64 mk = qb_mask64(C - c0);
                    const __m512i *wb = wch + (size_t)(b - b0) * (wblk / 64);
                    const blkc *bc = &bch[b - b0];
                    if (border) {
                        for (int t = 0; t < ((bn - 1) * SW + (KW - 1) * DW + 1) * KH; t++)
                            tq[t] = toff[t] >= 0 ? x + toff[t] + c0 : pad;
                        run_tab(a, bn, tq, wb, bc, &oc, mk, yp + c0, (size_t)C);
                        continue;
                    }
                    if (!inner) {
                        for (int ky = 0; ky < KH; ky++) {
                            int iy = iy0 + ky * DH;
                            for (int kx = 0; kx < KW; kx++) {
                                int ix = ix0 + kx * DW;
                                tq[ky * KW + kx] = iy >= 0 && iy < a->h && ix >= 0 && ix < a->w
                                                       ? x + (size_t)iy * row + (size_t)ix * C + c0
                                                       : pad;
                            }
                        }
                        pixel(a, tq, wb, bc, &oc, mk, yp + c0);
                        continue;
                    }
                    for (int ky = 0; ky < KH; ky++) {
                        int iy = iy0 + ky * DH;
                        int in = iy >= 0 && iy < a->h;
                        rp[ky] = in ? x + (size_t)iy * row + (size_t)ix0 * C + c0 : pad;
                        rs[ky] = in ? (size_t)C : 0;
                    }
                    if (packed)
                        run_any(a, P * SW, hs, rp, rs, wbP, bcP, &oc, qb_mask64(P * C), yp, (size_t)P * C, R);
                    else
                        run_any(a, SW, 0, rp, rs, wb, bc, &oc, mk, yp + c0, (size_t)C, R);
                }
                ox += packed ? R * NX * P : inner ? R * NX : border ? bn : 1;
            }
        }
    }
}
