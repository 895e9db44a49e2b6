/*
 * gemm_i8.c - AVX2 int8 GEMM for int8-tensor (qb_gemm_i8t__avx2) and
 * int8-channel (qb_gemm_i8c__avx2), bit-exact with kernels/scalar/gemm_i8.c:
 *   acc = bias[n] - a_zero * wsum[n] + sum_k a[k] * w[n][k]   (int32, wraps)
 * then raw int32 (out_i32) or the requantization of kernels.h (unsigned
 * 64-bit |acc| * multiplier + 2^(rshift-1) >> rshift, rounding half away
 * from zero, sign restored, clamped to [c_min, c_max] around c_zero; see
 * requant_avx2.h).
 *
 * Packed layout: W cut into panels of 24 output channels; a panel holds
 * ceil(K/4) quads of 96 bytes, quad q = three 32-byte vectors of 8 channels
 * x 4 consecutive k (w[24p + 8v + c][4q + j] at byte 32v + 4c + j), zero
 * padded past N and past K.
 *
 * vpmaddubsw multiplies u8 by s8 and saturates the pair sums to int16, so
 * it is exact only with |u| <= 128 and |s| <= 127: the u8 operand is |a|
 * and the s8 operand is w with the sign of a applied (pair sums at most
 * 2 * 128 * 127 = 32512), then vpmaddwd widens to int32 (adding two
 * vpmaddubsw results in int16 first would overflow: not done). Two ways
 * to apply the sign of a:
 *  - vpsignb(w, a) per row and weight vector, rows in blocks of 1..3
 *    against one panel, |a| precomputed for up to 32 KiB of rows. Used
 *    for row blocks of fewer than 16 rows (MB_MIN: M < 16, or K past 4096
 *    where the row pack holds fewer rows), for N <= 24 (one panel: the
 *    row pack, about 3 vector ops per row and quad, would serve it alone;
 *    1024x24x864 0.229 -> 0.211 ms) and while rows x (panels - 1) < 96
 *    (MB_PROWS: 2 panels from 96 rows, 3 from 48, 7 from 16).
 *  - the pair-sign expansion: for a quad (a0..a3) with signs s0..s3,
 *    a0 w0 + a1 w1 = s0 (|a0| w0 + |a1| (s0 s1 w1)), so each (panel, K
 *    chunk of up to 64 quads) is expanded once into 4 versions (w1 and w3
 *    negated or not: 4 x 96 bytes a quad, 24 KiB a chunk, stays in L1)
 *    and the vpmaddwd that widens the pair sums multiplies them by the
 *    row's (s0, s2) instead of ones. The row pack holds per quad |a|, the
 *    +-1 pair signs and the byte offset of the version (s0 ^ s1, s2 ^ s3)
 *    selects, the 4 rows of a microkernel call interleaved. The 4 x 24
 *    microkernel then needs only vpmaddubsw (weights straight from
 *    memory, base + offset addressing), vpmaddwd and vpaddd per 32 MACs:
 *    2 uops on the two multiply pipes per 32 MACs against 2 FMAs per 16
 *    for fp32, which bounds it at twice the fp32 rate (1.95x at
 *    196x96x1024; the vpsignb way, one more vector op per 32 MACs, about
 *    1.45x). The 16 versions of whole quads' sign patterns (before issue
 *    11's avx2gemm) cost 4 times the expansion, so that it paid only
 *    from 96 rows on; now from 16.
 * Both ways skip the weight vectors of the last panel that lie wholly past
 * N (N % 24 in 1..8 or 9..16: 1 or 2 vectors instead of 3). Where N is a
 * multiple of 32 and K <= 192, the expansion goes in blocks of 32 channels
 * instead (gemm_many32: 2 x 32 microkernel, no narrow last panel, each
 * row's 32 outputs finished together; see there).
 * At small K (K <= 48, M >= 8: first convolutions, narrow pointwise ones)
 * a third way, gemm_s16, beats both: int16 pairs by vpmaddwd, no sign
 * handling, channels in blocks of 32 (see there).
 * With K in one chunk (K <= 256) each call of 1..4 rows is finished from
 * registers; otherwise partial sums over K chunks live in an int32 tile.
 * Stack: 208 KiB on the many-rows path (row pack 160 KiB: AQ sets it),
 * 32 KiB on the few-rows one, 40 KiB on gemm_s16.
 * Tried and dropped: larger expanded chunks than 24 KiB (slower: the
 * chunk no longer stays in L1 with the rest), unrolling the quad loop
 * (slower), vpblendvb(w, -w, a) instead of vpsignb (slower: several uops
 * on this CPU), row blocks of 512 rows (only +1% for 192 KiB more stack).
 */
#include <immintrin.h>
#include <string.h>

#include "kernels/avx2/requant_avx2.h"
#include "kernels/kernels.h"

#define NR 24          /* output channels per weight panel */
#define EV 4           /* most vectors of 8 channels an epilogue holds (gemm_s16's blocks of 32) */
#define PQ (NR * 4)    /* bytes of one quad (4 k) of a panel */
#define KQ 64          /* quads per K chunk of the sign-expanded panel */
#define XQ (4 * PQ)    /* bytes of the 4 sign versions of one quad */
#define AQ 16384       /* row-quads the row pack holds (64 KiB |a| + 64 KiB pair signs + 32 KiB offsets) */
#define MB_MAX 256     /* most rows per row block of the expanded path */
#define MB_MIN 16      /* fewest rows per row block for which expanding pays */
#define MB_PROWS 96    /* ... and fewest rows times panels past the first (the row pack serves every panel) */
#define PF 1024        /* software prefetch distance in the weight stream (bytes) */
#define UBUF 32768     /* bytes of |a| the few-rows path precomputes */
#define FAST_ROWS 16   /* rows per panel from which the faster requantization's set-up pays */
#define KS 48          /* largest K of the int16-pair path (gemm_s16) */
#define MS 128         /* rows gemm_s16 widens at a time */
#define WS 16384       /* bytes of int16 weights gemm_s16 holds (else another path) */
#define S16_MMIN 8     /* fewest rows for gemm_s16: below, widening W per call costs more than it saves */

#define INLINE static inline __attribute__((always_inline))

_Static_assert(KQ % 8 == 0, "the row pack computes offsets 8 quads at a time");
_Static_assert((KQ - 1) * XQ + 3 * PQ <= 65535, "offsets in the expanded chunk fit uint16");

static inline int quads(int k) { return (k + 3) / 4; }
static inline int panels(int n) { return (n + NR - 1) / NR; }

size_t qb_gemm_i8__avx2_size(int n, int k, int group)
{
    (void)group;
    return (size_t)panels(n) * (size_t)quads(k) * PQ;
}

void qb_gemm_i8__avx2_pack(const qb_weights *w, void *dst)
{
    int8_t *out = dst;
    size_t kq = (size_t)quads(w->k);
    for (int j = 0; j < w->n; j++) {
        int8_t *col = out + (size_t)(j / NR) * kq * PQ + (size_t)(j % NR / 8) * 32 + (size_t)(j % 8) * 4;
        const int8_t *src = w->i8 + (size_t)j * w->k;
        for (int l = 0; l < w->k; l++)
            col[(size_t)(l / 4) * PQ + l % 4] = src[l];
    }
}

/* ---- epilogue: column offsets, requantization, stores ---- */

typedef struct epi {
    __m256i cb[EV];       /* bias - a_zero * wsum of the panel's channels (24, or 32: gemm_s16) */
    qb_avx2_rq8 rq[EV];   /* multipliers of the panel's channels */
    qb_avx2_rqf8 rf[EV];  /* their faster form (requant_avx2.h), valid where fast */
    int fast;             /* 1: every channel of the panel allows the faster form */
    int narrow;           /* 1: clamp after the packs (c_zero fits: see finish_row) */
    int zfold;            /* 1 (fast, narrow): c_zero is in the rounding constants rf[].rnd (epi_rq) */
    int32_t c_zero;       /* the output zero point */
    __m256i lo, hi, zero; /* clamp bounds minus the zero point, and the zero point */
    __m256i z16;          /* c_zero, 16 int16 (narrow) */
    __m256i lo8, hi8;     /* c_min, c_max, 32 int8 (narrow) */
} epi;

/* Requantization vectors for nc <= 32 channels: rq[j * stride], the first one
 * past nc (vectors wholly past nc are not set); with fast, also the faster form where every channel allows it
 * (its scalar set-up pays off only over enough rows: FAST_ROWS). */
static void epi_rq(epi *e, const qb_requant *rq, int stride, int nc, int fast)
{
    int V = (nc + 7) / 8, idx[EV][8];
    for (int v = 0; v < V; v++)
        for (int i = 0; i < 8; i++)
            idx[v][i] = 8 * v + i < nc ? (8 * v + i) * stride : 0;
    const int whole = stride == 1 && nc % 8 == 0; /* consecutive multipliers: vector loads */
    e->fast = e->zfold = 0;
    /* the faster form first (narrow: the zero point allows its rescaled
     * multipliers); the 64-bit form's vectors only when it fails */
    int ok = fast;
    for (int v = 0; v < V && ok; v++)
        ok = whole ? qb_avx2_rqf8_load(&e->rf[v], rq + 8 * v, e->narrow)
                   : qb_avx2_rqf8_set(&e->rf[v], rq, idx[v], e->narrow);
    if (!ok) {
        for (int v = 0; v < V; v++)
            if (whole)
                qb_avx2_rq8_load(&e->rq[v], rq + 8 * v);
            else
                qb_avx2_rq8_set(&e->rq[v], rq, idx[v]);
        return;
    }
    e->fast = 1;
    /* c_zero into the rounding: (h + 2^(sh-1) + c_zero 2^sh) >> sh is r + c_zero
     * exactly while the sum fits int32: |h| <= 2^30 (hi32 of acc * m', m' <
     * 2^31), so for |c_zero| <= 128 and sh <= 22; a saturated r + c_zero
     * stays past the bounds as sat(r) + c_zero did */
    if (!e->narrow || e->c_zero < -128 || e->c_zero > 128)
        return;
    const __m256i sh_max = _mm256_set1_epi32(22);
    for (int v = 0; v < V; v++)
        if (!_mm256_testz_si256(_mm256_cmpgt_epi32(e->rf[v].sh, sh_max), _mm256_cmpgt_epi32(e->rf[v].sh, sh_max)))
            return;
    for (int v = 0; v < V; v++)
        e->rf[v].rnd = _mm256_add_epi32(e->rf[v].rnd, _mm256_sllv_epi32(_mm256_set1_epi32(e->c_zero), e->rf[v].sh));
    e->zfold = 1;
}

/* Column offsets bias - a_zero * wsum (wrap-around) of channels j0..j0+nc-1
 * (nc <= 32), zero past nc. */
static void epi_cb(epi *e, const qb_packed *p, int32_t a_zero, int j0, int nc)
{
    if (nc % 8 == 0) {
        const __m256i az = _mm256_set1_epi32(a_zero);
        for (int v = 0; v < EV; v++)
            e->cb[v] = 8 * v < nc ? _mm256_sub_epi32(_mm256_loadu_si256((const __m256i *)(p->bias_i32 + j0 + 8 * v)),
                                                     _mm256_mullo_epi32(az, _mm256_loadu_si256((const __m256i *)(p->wsum + j0 + 8 * v))))
                                  : _mm256_setzero_si256();
        return;
    }
    int32_t cb[8 * EV];
    for (int j = 0; j < 8 * EV; j++)
        cb[j] = j < nc ? (int32_t)((uint32_t)p->bias_i32[j0 + j] - (uint32_t)a_zero * (uint32_t)p->wsum[j0 + j]) : 0;
    for (int v = 0; v < EV; v++)
        e->cb[v] = _mm256_loadu_si256((const __m256i *)(cb + 8 * v));
}

/* Finish one row of a panel: d = sums of a * w for its 24 channels, to
 * which the column offsets are added (the accumulators start from them
 * instead where finish_row_acc is called). */
INLINE void finish_row_acc(const epi *e, const qb_gemm_args *a, size_t row, int j0, int nc, __m256i d0, __m256i d1,
                           __m256i d2)
{
    if (a->out_i32) {
        int32_t *c = (int32_t *)a->c + row * a->ldc + j0;
        if (nc == NR) {
            _mm256_storeu_si256((__m256i *)c, d0);
            _mm256_storeu_si256((__m256i *)(c + 8), d1);
            _mm256_storeu_si256((__m256i *)(c + 16), d2);
        } else { /* the partial vector by a masked store */
            const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
            __m256i d[3] = {d0, d1, d2};
            for (int v = 0; v < 3 && 8 * v < nc; v++) {
                __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(nc - 8 * v), lane);
                _mm256_maskstore_epi32((int *)(c + 8 * v), m, d[v]);
            }
        }
        return;
    }
    /* vectors wholly past N (nc <= 8 or 16) are not requantized: zero */
    __m256i r0, r1 = _mm256_setzero_si256(), r2 = r1, b;
    if (e->narrow) {
        /* rounded r, packed to int16 (saturating), + c_zero (saturating),
         * packed to int8 (saturating), clamped on bytes: a saturated value
         * stays past the bounds since |c_zero| < 32640, so this is
         * clamp(r, lo - z, hi - z) + z in 5 instructions instead of 9 */
        if (e->fast) {
            r0 = qb_avx2_round8_fast(&e->rf[0], d0);
            if (nc > 8)
                r1 = qb_avx2_round8_fast(&e->rf[1], d1);
            if (nc > 16)
                r2 = qb_avx2_round8_fast(&e->rf[2], d2);
        } else {
            r0 = qb_avx2_round8(&e->rq[0], d0);
            if (nc > 8)
                r1 = qb_avx2_round8(&e->rq[1], d1);
            if (nc > 16)
                r2 = qb_avx2_round8(&e->rq[2], d2);
        }
        __m256i s01 = _mm256_packs_epi32(r0, r1), s22 = _mm256_packs_epi32(r2, r2);
        if (!e->zfold) {
            s01 = _mm256_adds_epi16(s01, e->z16);
            s22 = _mm256_adds_epi16(s22, e->z16);
        }
        b = _mm256_min_epi8(_mm256_max_epi8(_mm256_packs_epi16(s01, s22), e->lo8), e->hi8);
    } else {
        if (e->fast) {
            r0 = qb_avx2_requant8_fast(&e->rf[0], d0, e->lo, e->hi, e->zero);
            if (nc > 8)
                r1 = qb_avx2_requant8_fast(&e->rf[1], d1, e->lo, e->hi, e->zero);
            if (nc > 16)
                r2 = qb_avx2_requant8_fast(&e->rf[2], d2, e->lo, e->hi, e->zero);
        } else {
            r0 = qb_avx2_requant8(&e->rq[0], d0, e->lo, e->hi, e->zero);
            if (nc > 8)
                r1 = qb_avx2_requant8(&e->rq[1], d1, e->lo, e->hi, e->zero);
            if (nc > 16)
                r2 = qb_avx2_requant8(&e->rq[2], d2, e->lo, e->hi, e->zero);
        }
        __m256i s01 = _mm256_packs_epi32(r0, r1), s22 = _mm256_packs_epi32(r2, r2);
        b = _mm256_packs_epi16(s01, s22);
    }
    /* dwords of b: r0 0-3, r1 0-3, r2 0-3, -, r0 4-7, r1 4-7, r2 4-7, - */
    b = _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    int8_t *c = (int8_t *)a->c + row * a->ldc + j0;
    if (nc == NR) {
        _mm_storeu_si128((__m128i *)c, _mm256_castsi256_si128(b));
        _mm_storel_epi64((__m128i *)(c + 16), _mm256_extracti128_si256(b, 1));
    } else if (nc > 16) {
        _mm_storeu_si128((__m128i *)c, _mm256_castsi256_si128(b));
        qb_avx2_store_bytes(c + 16, _mm256_extracti128_si256(b, 1), nc - 16);
    } else {
        qb_avx2_store_bytes(c, _mm256_castsi256_si128(b), nc);
    }
}

/* finish_row_acc of the 4 rows of a microkernel call (nr of them exist)
 * for a panel of at most 8 channels (V = 1), narrow int8 output: the 4
 * rows' rounded lanes share the packs, the clamp and one permute (one
 * row's bytes per 8-byte quarter), then 8-byte stores. */
INLINE void finish4_v1(const epi *e, const qb_gemm_args *a, size_t row, int nr, int j0, int nc, __m256i d0,
                       __m256i d1, __m256i d2, __m256i d3)
{
    __m256i r0, r1, r2, r3;
    if (e->fast) {
        r0 = qb_avx2_round8_fast(&e->rf[0], d0), r1 = qb_avx2_round8_fast(&e->rf[0], d1);
        r2 = qb_avx2_round8_fast(&e->rf[0], d2), r3 = qb_avx2_round8_fast(&e->rf[0], d3);
    } else {
        r0 = qb_avx2_round8(&e->rq[0], d0), r1 = qb_avx2_round8(&e->rq[0], d1);
        r2 = qb_avx2_round8(&e->rq[0], d2), r3 = qb_avx2_round8(&e->rq[0], d3);
    }
    __m256i s01 = _mm256_packs_epi32(r0, r1), s23 = _mm256_packs_epi32(r2, r3);
    if (!e->zfold) {
        s01 = _mm256_adds_epi16(s01, e->z16);
        s23 = _mm256_adds_epi16(s23, e->z16);
    }
    __m256i b = _mm256_min_epi8(_mm256_max_epi8(_mm256_packs_epi16(s01, s23), e->lo8), e->hi8);
    /* dwords of b: rows 0-3 channels 0-3, then rows 0-3 channels 4-7 */
    b = _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    __m128i q01 = _mm256_castsi256_si128(b), q23 = _mm256_extracti128_si256(b, 1);
    __m128i q[4] = {q01, _mm_unpackhi_epi64(q01, q01), q23, _mm_unpackhi_epi64(q23, q23)};
    int8_t *c = (int8_t *)a->c + row * a->ldc + j0;
    for (int r = 0; r < nr; r++, c += a->ldc)
        if (nc == 8)
            _mm_storel_epi64((__m128i *)c, q[r]);
        else
            qb_avx2_store_bytes(c, q[r], nc);
}

INLINE void finish_row(const epi *e, const qb_gemm_args *a, size_t row, int j0, int nc, __m256i d0, __m256i d1,
                       __m256i d2)
{
    finish_row_acc(e, a, row, j0, nc, _mm256_add_epi32(d0, e->cb[0]), _mm256_add_epi32(d1, e->cb[1]),
                   _mm256_add_epi32(d2, e->cb[2]));
}

static void epi_init(epi *e, const qb_gemm_args *a)
{
    e->lo = _mm256_set1_epi32(a->c_min - a->c_zero);
    e->hi = _mm256_set1_epi32(a->c_max - a->c_zero);
    e->zero = _mm256_set1_epi32(a->c_zero);
    e->z16 = _mm256_set1_epi16((int16_t)a->c_zero);
    e->lo8 = _mm256_set1_epi8((char)a->c_min);
    e->hi8 = _mm256_set1_epi8((char)a->c_max);
    e->narrow = a->c_zero > -32640 && a->c_zero < 32640 && a->c_min >= -128 && a->c_max <= 127;
    e->c_zero = a->c_zero;
    e->fast = e->zfold = 0;
    if (!a->out_i32)
        epi_rq(e, a->rq, 0, 8 * EV, a->m >= FAST_ROWS); /* per tensor; per channel is redone per panel */
}

/* ---- few rows: vpsignb per row and weight vector ---- */

static inline uint32_t load4(const int8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* One quad step of one row: 4 bytes of a (any sign) against 3 weight
 * vectors; |a| from the precomputed row (pre) or by vpabsb. */
#define SIGN_STEP(r, av, up)                                                                               \
    do {                                                                                                   \
        __m256i x_ = _mm256_set1_epi32((int)(av));                                                         \
        __m256i u_ = pre ? _mm256_set1_epi32((int)load4(up)) : _mm256_abs_epi8(x_);                        \
        c##r##0 = _mm256_add_epi32(c##r##0, _mm256_madd_epi16(_mm256_maddubs_epi16(u_, _mm256_sign_epi8(w0, x_)), one)); \
        if (V > 1)                                                                                         \
            c##r##1 = _mm256_add_epi32(c##r##1, _mm256_madd_epi16(_mm256_maddubs_epi16(u_, _mm256_sign_epi8(w1, x_)), one)); \
        if (V > 2)                                                                                         \
            c##r##2 = _mm256_add_epi32(c##r##2, _mm256_madd_epi16(_mm256_maddubs_epi16(u_, _mm256_sign_epi8(w2, x_)), one)); \
        __asm__("" : "+x"(c##r##0), "+x"(c##r##1), "+x"(c##r##2));                                         \
    } while (0)

/* Rows of one call of sign_rows. */
typedef struct rows3 {
    const int8_t *a[3];   /* the rows of A */
    const int8_t *u[3];   /* |a| of the rows, kq quads (pre only) */
    uint32_t tail[3];     /* the partial last quad of each row, zero padded */
} rows3;

/* Sums of R (1..3) rows against the first V (1..3) weight vectors of one
 * panel: kf whole quads, then the partial quad if kt (d[r][v] for v >= V
 * are left zero). */
INLINE void sign_rows(int R, int V, int pre, const rows3 *rw, int kf, int kt, const int8_t *wp, __m256i d[3][3])
{
    const __m256i one = _mm256_set1_epi16(1);
    const int8_t *a0 = rw->a[0], *a1 = rw->a[R > 1], *a2 = rw->a[R > 2 ? 2 : 0];
    const int8_t *u0 = rw->u[0], *u1 = rw->u[R > 1], *u2 = rw->u[R > 2 ? 2 : 0];
    __m256i c00 = _mm256_setzero_si256(), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00, c20 = c00,
            c21 = c00, c22 = c00;
    for (int q = 0; q < kf; q++) {
        const __m256i *wq = (const __m256i *)(wp + (size_t)q * PQ);
        _mm_prefetch((const char *)wq + PF, _MM_HINT_T0); /* GEMV streams W: help the prefetcher */
        _mm_prefetch((const char *)wq + PF + 64, _MM_HINT_T0);
        __m256i w0 = _mm256_load_si256(wq), w1 = V > 1 ? _mm256_load_si256(wq + 1) : w0,
                w2 = V > 2 ? _mm256_load_si256(wq + 2) : w0;
        SIGN_STEP(0, load4(a0 + 4 * q), u0 + 4 * q);
        if (R > 1)
            SIGN_STEP(1, load4(a1 + 4 * q), u1 + 4 * q);
        if (R > 2)
            SIGN_STEP(2, load4(a2 + 4 * q), u2 + 4 * q);
    }
    if (kt) {
        const __m256i *wq = (const __m256i *)(wp + (size_t)kf * PQ);
        __m256i w0 = _mm256_load_si256(wq), w1 = V > 1 ? _mm256_load_si256(wq + 1) : w0,
                w2 = V > 2 ? _mm256_load_si256(wq + 2) : w0;
        SIGN_STEP(0, rw->tail[0], u0 + 4 * kf);
        if (R > 1)
            SIGN_STEP(1, rw->tail[1], u1 + 4 * kf);
        if (R > 2)
            SIGN_STEP(2, rw->tail[2], u2 + 4 * kf);
    }
    d[0][0] = c00, d[0][1] = c01, d[0][2] = c02;
    d[1][0] = c10, d[1][1] = c11, d[1][2] = c12;
    d[2][0] = c20, d[2][1] = c21, d[2][2] = c22;
}

typedef void sign_fn(const rows3 *, int, int, const int8_t *, __m256i[3][3]);
#define SIGN_FN(R, V, pre)                                                                                      \
    static void sign_rows_##R##_##V##_##pre(const rows3 *rw, int kf, int kt, const int8_t *wp, __m256i d[3][3]) \
    {                                                                                                           \
        sign_rows(R, V, pre, rw, kf, kt, wp, d);                                                                \
    }
#define SIGN_FNS(R, pre) SIGN_FN(R, 1, pre) SIGN_FN(R, 2, pre) SIGN_FN(R, 3, pre)
SIGN_FNS(1, 0)
SIGN_FNS(2, 0)
SIGN_FNS(3, 0)
SIGN_FNS(1, 1)
SIGN_FNS(2, 1)
SIGN_FNS(3, 1)

/* |a| of rows i0..i0+n-1 into u (kq quads a row, zero past K). */
static void abs_rows(const int8_t *A, size_t lda, int i0, int n, int K, int kq, int8_t *u)
{
    for (int i = 0; i < n; i++, u += (size_t)kq * 4) { /* vpabsb: |-128| = 128 as u8 */
        const int8_t *ar = A + (size_t)(i0 + i) * lda;
        int l = 0;
        for (; l + 32 <= K; l += 32)
            _mm256_storeu_si256((__m256i *)(u + l), _mm256_abs_epi8(_mm256_loadu_si256((const __m256i *)(ar + l))));
        for (; l < 4 * kq; l++)
            u[l] = (int8_t)(l >= K ? 0 : ar[l] < 0 ? -ar[l] : ar[l]);
    }
}

static void gemm_few(const qb_packed *p, const qb_gemm_args *a, int per_channel, epi *e)
{
#define SIGN_ROW(R, pre) {sign_rows_##R##_1_##pre, sign_rows_##R##_2_##pre, sign_rows_##R##_3_##pre}
    static sign_fn *const fns[2][3][3] = {{SIGN_ROW(1, 0), SIGN_ROW(2, 0), SIGN_ROW(3, 0)},
                                          {SIGN_ROW(1, 1), SIGN_ROW(2, 1), SIGN_ROW(3, 1)}};
#undef SIGN_ROW
    _Alignas(32) int8_t ubuf[UBUF]; /* |a| of a block of rows */
    const int8_t *A = a->a;
    int K = p->k, kq = quads(K), kf = K / 4, kt = K % 4;
    int ms = UBUF / (kq * 4); /* rows whose |a| fit: blocks of rows share it */
    int pre = ms >= 3 || ms >= a->m;
    if (!pre || ms > a->m)
        ms = a->m;
    for (int m0 = 0; m0 < a->m; m0 += ms) {
        int mn = a->m - m0 < ms ? a->m - m0 : ms;
        if (pre)
            abs_rows(A, a->lda, m0, mn, K, kq, ubuf);
        for (int pn = 0; pn < panels(p->n); pn++) {
            int j0 = pn * NR, nc = p->n - j0 < NR ? p->n - j0 : NR;
            const int8_t *wp = (const int8_t *)p->w + (size_t)pn * kq * PQ;
            epi_cb(e, p, a->a_zero, j0, nc);
            if (per_channel && !a->out_i32)
                epi_rq(e, a->rq + j0, 1, nc, mn >= FAST_ROWS);
            for (int i = 0; i < mn;) {
                int left = mn - i, R = left == 4 ? 2 : left < 3 ? left : 3; /* 4 rows run as 2 + 2 */
                rows3 rw = {{NULL}, {NULL}, {0, 0, 0}};
                for (int r = 0; r < R; r++) {
                    rw.a[r] = A + (size_t)(m0 + i + r) * a->lda;
                    rw.u[r] = pre ? ubuf + (size_t)(i + r) * kq * 4 : NULL;
                    if (kt)
                        memcpy(&rw.tail[r], rw.a[r] + 4 * kf, (size_t)kt);
                }
                __m256i d[3][3];
                fns[pre][R - 1][(nc + 7) / 8 - 1](&rw, kf, kt, wp, d); /* vectors past N skipped */
                for (int r = 0; r < R; r++)
                    finish_row(e, a, (size_t)(m0 + i + r), j0, nc, d[r][0], d[r][1], d[r][2]);
                i += R;
            }
        }
    }
}

/* ---- many rows: sign-expanded panels ---- */

/* The 4 sign versions of quads q0..q0+nq-1 of a panel: version v of a
 * quad negates the weights of k = 1 where bit 0 of v is set and of k = 3
 * where bit 1 is (the second of each pair relative to the first). */
static void expand(const int8_t *wp, int nq, int V, int8_t *buf)
{
    __m256i sv[4];
    for (int v = 0; v < 4; v++)
        sv[v] = _mm256_set1_epi32((int)(0x00010001u | ((v & 1) ? 0xff00u : 0x0100u) | ((v & 2) ? 0xff000000u : 0x01000000u)));
    for (int q = 0; q < nq; q++) {
        const __m256i *wq = (const __m256i *)(wp + (size_t)q * PQ);
        __m256i w0 = _mm256_load_si256(wq), w1 = _mm256_load_si256(wq + 1), w2 = _mm256_load_si256(wq + 2);
        __m256i *o = (__m256i *)(buf + (size_t)q * XQ);
        for (int v = 0; v < 4; v++) {
            _mm256_store_si256(o + 3 * v, _mm256_sign_epi8(w0, sv[v]));
            if (V > 1)
                _mm256_store_si256(o + 3 * v + 1, _mm256_sign_epi8(w1, sv[v]));
            if (V > 2)
                _mm256_store_si256(o + 3 * v + 2, _mm256_sign_epi8(w2, sv[v]));
        }
    }
}

/* 4 x 8 transpose of dwords: quads 8t..8t+7 of rows 0..3 to o (4 rows per quad). */
static inline void tr4x8(const __m256i x[4], uint32_t *o)
{
    __m256i t0 = _mm256_unpacklo_epi32(x[0], x[1]), t1 = _mm256_unpackhi_epi32(x[0], x[1]);
    __m256i t2 = _mm256_unpacklo_epi32(x[2], x[3]), t3 = _mm256_unpackhi_epi32(x[2], x[3]);
    __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2); /* quads 0 | 4, 1 | 5 */
    __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3); /* quads 2 | 6, 3 | 7 */
    __m256i *ao = (__m256i *)o;
    _mm256_storeu_si256(ao, _mm256_permute2x128_si256(u0, u1, 0x20));
    _mm256_storeu_si256(ao + 1, _mm256_permute2x128_si256(u2, u3, 0x20));
    _mm256_storeu_si256(ao + 2, _mm256_permute2x128_si256(u0, u1, 0x31));
    _mm256_storeu_si256(ao + 3, _mm256_permute2x128_si256(u2, u3, 0x31));
}

/* Row pack of 4 rows (ar[r] for r < nr, zero rows past nr), per quad
 * (a0, a1, a2, a3) with signs s0..s3: |a| (4 bytes), the pair signs (s0,
 * s2 as two int16 of +-1: the vpmaddwd that widens the pair sums applies
 * them) and the offset in the expanded chunk of the version that holds
 * w1 * s0 s1 and w3 * s2 s3 (so that s0 (|a0| w0 + |a1| s0 s1 w1) = a0 w0 +
 * a1 w1, each pair sum at most 2 * 128 * 127 in magnitude); kqs quads
 * (zero past K), the 4 rows interleaved (quad q of row r at index 4q + r),
 * as one microkernel call reads them. */
static void pack_rows4(const int8_t *const *ar, int nr, int K, int kqs, const int8_t *aend, uint32_t *abs_out,
                       uint32_t *sg_out, uint16_t *off_out)
{
    const __m256i iota = _mm256_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
                                          21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31);
    const __m256i ones16 = _mm256_set1_epi16(1), pqv = _mm256_set1_epi32(PQ | 2 * PQ << 16);
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int t = 0; t < kqs / 8; t++) {
        int at = 32 * t, valid = K - at;
        __m256i ab[4], sg[4];
        __m128i of[4];
        __m256i qin = _mm256_mullo_epi32(_mm256_add_epi32(lane, _mm256_set1_epi32((8 * t) % KQ)), _mm256_set1_epi32(XQ));
        for (int r = 0; r < 4; r++) {
            __m256i x = _mm256_setzero_si256();
            if (r < nr) {
                if (valid >= 32) {
                    x = _mm256_loadu_si256((const __m256i *)(ar[r] + at));
                } else if (valid > 0 && ar[r] + at + 32 <= aend) {
                    /* the row's last bytes with whatever follows them in A (a later row),
                     * masked: no byte copy through memory (a store-forwarding stall) */
                    x = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(ar[r] + at)),
                                         _mm256_cmpgt_epi8(_mm256_set1_epi8((char)valid), iota));
                } else {
                    int8_t tmp[32] = {0};
                    if (valid > 0)
                        memcpy(tmp, ar[r] + at, (size_t)valid);
                    x = _mm256_loadu_si256((const __m256i *)tmp);
                }
            }
            ab[r] = _mm256_abs_epi8(x);
            /* per int16 (k0, k1) / (k2, k3): the first byte's sign as -1 or +1, and
             * whether the two signs differ (version bit 0 / 1: PQ / 2 PQ bytes) */
            __m256i x8 = _mm256_slli_epi16(x, 8);
            sg[r] = _mm256_or_si256(_mm256_srai_epi16(x8, 15), ones16);
            __m256i dif = _mm256_srai_epi16(_mm256_xor_si256(x, x8), 15);
            __m256i off = _mm256_add_epi32(_mm256_madd_epi16(_mm256_and_si256(dif, pqv), ones16), qin);
            of[r] = _mm256_castsi256_si128(_mm256_permute4x64_epi64(_mm256_packus_epi32(off, off), 0x08));
        }
        /* 4 x 8 transposes: quads 8t.. of rows 0..3 -> 4 rows per quad */
        tr4x8(ab, abs_out + 32 * t);
        tr4x8(sg, sg_out + 32 * t);
        __m128i a0 = _mm_unpacklo_epi16(of[0], of[1]), b0 = _mm_unpackhi_epi16(of[0], of[1]);
        __m128i c0 = _mm_unpacklo_epi16(of[2], of[3]), d0 = _mm_unpackhi_epi16(of[2], of[3]);
        __m128i *oo = (__m128i *)(off_out + 32 * t);
        _mm_storeu_si128(oo, _mm_unpacklo_epi32(a0, c0));
        _mm_storeu_si128(oo + 1, _mm_unpackhi_epi32(a0, c0));
        _mm_storeu_si128(oo + 2, _mm_unpacklo_epi32(b0, d0));
        _mm_storeu_si128(oo + 3, _mm_unpackhi_epi32(b0, d0));
    }
}

/* One row of the expanded microkernel: |a| of the quad broadcast, the
 * selected sign version of 24 channels read from the chunk at buf +
 * offset, the pair sums widened by vpmaddwd with the row's pair signs
 * (broadcast too). Written as one asm block so that the weights stay
 * memory operands (base + index addressing: no scalar add per row,
 * measured ~2% faster than adding the offset first) and no register is
 * spilled. EXP_STEP2 / EXP_STEP1: the same for the first 16 / 8 channels
 * only (the last panel when N % 24 is 1..16). */
#define EXP_STEP3(r)                                                                                    \
    do {                                                                                                \
        size_t o_ = of[(r) + 4 * q];                                                                    \
        __m256i u_, t0_, t1_, s_;                                                                       \
        __asm__("vpbroadcastd %[ab], %[u]\n\t"                                                          \
                "vpbroadcastd %[sg], %[s]\n\t"                                                          \
                "vpmaddubsw (%[b],%[o]), %[u], %[t0]\n\t"                                               \
                "vpmaddubsw 32(%[b],%[o]), %[u], %[t1]\n\t"                                             \
                "vpmaddubsw 64(%[b],%[o]), %[u], %[u]\n\t"                                              \
                "vpmaddwd %[s], %[t0], %[t0]\n\t"                                                       \
                "vpmaddwd %[s], %[t1], %[t1]\n\t"                                                       \
                "vpmaddwd %[s], %[u], %[u]\n\t"                                                         \
                "vpaddd %[t0], %[c0], %[c0]\n\t"                                                        \
                "vpaddd %[t1], %[c1], %[c1]\n\t"                                                        \
                "vpaddd %[u], %[c2], %[c2]"                                                             \
                : [c0] "+x"(c##r##0), [c1] "+x"(c##r##1), [c2] "+x"(c##r##2), [t0] "=&x"(t0_),          \
                  [t1] "=&x"(t1_), [u] "=&x"(u_), [s] "=&x"(s_)                                         \
                : [ab] "m"(ab[(r) + 4 * q]), [sg] "m"(sg[(r) + 4 * q]), [b] "r"(buf), [o] "r"(o_),      \
                  "m"(*(const char(*)[96])(buf + o_)));                                                 \
    } while (0)
#define EXP_STEP2(r)                                                                                    \
    do {                                                                                                \
        size_t o_ = of[(r) + 4 * q];                                                                    \
        __m256i u_, t0_, s_;                                                                            \
        __asm__("vpbroadcastd %[ab], %[u]\n\t"                                                          \
                "vpbroadcastd %[sg], %[s]\n\t"                                                          \
                "vpmaddubsw (%[b],%[o]), %[u], %[t0]\n\t"                                               \
                "vpmaddubsw 32(%[b],%[o]), %[u], %[u]\n\t"                                              \
                "vpmaddwd %[s], %[t0], %[t0]\n\t"                                                       \
                "vpmaddwd %[s], %[u], %[u]\n\t"                                                         \
                "vpaddd %[t0], %[c0], %[c0]\n\t"                                                        \
                "vpaddd %[u], %[c1], %[c1]"                                                             \
                : [c0] "+x"(c##r##0), [c1] "+x"(c##r##1), [t0] "=&x"(t0_), [u] "=&x"(u_), [s] "=&x"(s_) \
                : [ab] "m"(ab[(r) + 4 * q]), [sg] "m"(sg[(r) + 4 * q]), [b] "r"(buf), [o] "r"(o_),      \
                  "m"(*(const char(*)[64])(buf + o_)));                                                 \
    } while (0)
#define EXP_STEP1(r)                                                                                    \
    do {                                                                                                \
        size_t o_ = of[(r) + 4 * q];                                                                    \
        __m256i u_, s_;                                                                                 \
        __asm__("vpbroadcastd %[ab], %[u]\n\t"                                                          \
                "vpbroadcastd %[sg], %[s]\n\t"                                                          \
                "vpmaddubsw (%[b],%[o]), %[u], %[u]\n\t"                                                \
                "vpmaddwd %[s], %[u], %[u]\n\t"                                                         \
                "vpaddd %[u], %[c0], %[c0]"                                                             \
                : [c0] "+x"(c##r##0), [u] "=&x"(u_), [s] "=&x"(s_)                                      \
                : [ab] "m"(ab[(r) + 4 * q]), [sg] "m"(sg[(r) + 4 * q]), [b] "r"(buf), [o] "r"(o_),      \
                  "m"(*(const char(*)[32])(buf + o_)));                                                 \
    } while (0)

/* Where exp_4xv's sums go when the chunk is the whole of K (fin): the
 * epilogue of rows row..row+nr-1 (nr 1..4) of channels j0..j0+nc-1. */
typedef struct fin4 {
    const epi *e;          /* the panel's epilogue constants */
    const qb_gemm_args *a; /* the call */
    size_t row;            /* the first of the 4 rows */
    int nr;                /* rows of the 4 that exist */
    int j0, nc;            /* the panel's first channel and channel count */
} fin4;

/* 4 rows x 8V channels (V = 1..3 vectors) over nq quads of one chunk;
 * partial sums in t (4 rows of 24 int32), started from zero when first;
 * with fin (first and the only chunk) the sums go straight from
 * registers to the epilogue instead (no round trip through t). */
INLINE void exp_4xv(int R, int V, const uint32_t *ab, const uint32_t *sg, const uint16_t *of, int nq,
                    const int8_t *buf, int32_t *t, int first, const fin4 *fin)
{
    __m256i c00, c01, c02, c10, c11, c12, c20, c21, c22, c30, c31, c32;
    if (fin) { /* from the column offsets: finish_row_acc */
        c00 = c10 = c20 = c30 = fin->e->cb[0];
        c01 = c11 = c21 = c31 = fin->e->cb[1];
        c02 = c12 = c22 = c32 = fin->e->cb[2];
    } else if (first) {
        c00 = c01 = c02 = c10 = c11 = c12 = c20 = c21 = c22 = c30 = c31 = c32 = _mm256_setzero_si256();
    } else {
        const __m256i *s = (const __m256i *)t;
        c00 = _mm256_load_si256(s), c01 = _mm256_load_si256(s + 1), c02 = _mm256_load_si256(s + 2);
        c10 = _mm256_load_si256(s + 3), c11 = _mm256_load_si256(s + 4), c12 = _mm256_load_si256(s + 5);
        c20 = _mm256_load_si256(s + 6), c21 = _mm256_load_si256(s + 7), c22 = _mm256_load_si256(s + 8);
        c30 = _mm256_load_si256(s + 9), c31 = _mm256_load_si256(s + 10), c32 = _mm256_load_si256(s + 11);
    }
    for (int q = 0; q < nq; q++) {
        if (V == 3) {
            EXP_STEP3(0);
            if (R > 1)
                EXP_STEP3(1);
            if (R > 2)
                EXP_STEP3(2);
            if (R > 3)
                EXP_STEP3(3);
        } else if (V == 2) {
            EXP_STEP2(0);
            if (R > 1)
                EXP_STEP2(1);
            if (R > 2)
                EXP_STEP2(2);
            if (R > 3)
                EXP_STEP2(3);
        } else {
            EXP_STEP1(0);
            if (R > 1)
                EXP_STEP1(1);
            if (R > 2)
                EXP_STEP1(2);
            if (R > 3)
                EXP_STEP1(3);
        }
    }
    if (fin && V == 1 && fin->e->narrow && !fin->a->out_i32) {
        finish4_v1(fin->e, fin->a, fin->row, fin->nr, fin->j0, fin->nc, c00, c10, c20, c30);
        return;
    }
    if (fin) {
        finish_row_acc(fin->e, fin->a, fin->row, fin->j0, fin->nc, c00, c01, c02);
        if (fin->nr > 1)
            finish_row_acc(fin->e, fin->a, fin->row + 1, fin->j0, fin->nc, c10, c11, c12);
        if (fin->nr > 2)
            finish_row_acc(fin->e, fin->a, fin->row + 2, fin->j0, fin->nc, c20, c21, c22);
        if (fin->nr > 3)
            finish_row_acc(fin->e, fin->a, fin->row + 3, fin->j0, fin->nc, c30, c31, c32);
        return;
    }
    __m256i *s = (__m256i *)t;
    _mm256_store_si256(s, c00), _mm256_store_si256(s + 1, c01), _mm256_store_si256(s + 2, c02);
    _mm256_store_si256(s + 3, c10), _mm256_store_si256(s + 4, c11), _mm256_store_si256(s + 5, c12);
    _mm256_store_si256(s + 6, c20), _mm256_store_si256(s + 7, c21), _mm256_store_si256(s + 8, c22);
    _mm256_store_si256(s + 9, c30), _mm256_store_si256(s + 10, c31), _mm256_store_si256(s + 11, c32);
}

#define EXP_FN(V)                                                                                              \
    static void exp_4x##V(const uint32_t *ab, const uint32_t *sg, const uint16_t *of, int nq, const int8_t *buf, \
                          int32_t *t, int first)                                                               \
    {                                                                                                          \
        exp_4xv(4, V, ab, sg, of, nq, buf, t, first, NULL);                                                    \
    }
EXP_FN(1)
EXP_FN(2)
EXP_FN(3)

/* The one-chunk calls: R rows (1..4, the last call of a row block holds
 * M % 4 of them) x V vectors, finished from registers. */
typedef void exp_fin_fn(const uint32_t *, const uint32_t *, const uint16_t *, int, const int8_t *, const fin4 *);
#define EXP_FIN(R, V)                                                                                          \
    static void exp_fin_##R##x##V(const uint32_t *ab, const uint32_t *sg, const uint16_t *of, int nq,          \
                                  const int8_t *buf, const fin4 *fin)                                          \
    {                                                                                                          \
        exp_4xv(R, V, ab, sg, of, nq, buf, NULL, 1, fin);                                                      \
    }
#define EXP_FINS(R) EXP_FIN(R, 1) EXP_FIN(R, 2) EXP_FIN(R, 3)
EXP_FINS(1)
EXP_FINS(2)
EXP_FINS(3)
EXP_FINS(4)

static void gemm_many(const qb_packed *p, const qb_gemm_args *a, int per_channel, epi *e, int kqs, int mb_even)
{
#define FIN_ROW(R) {exp_fin_##R##x1, exp_fin_##R##x2, exp_fin_##R##x3}
    static exp_fin_fn *const fin_fns[4][3] = {FIN_ROW(1), FIN_ROW(2), FIN_ROW(3), FIN_ROW(4)};
#undef FIN_ROW
    _Alignas(32) int8_t buf[KQ * XQ];
    _Alignas(32) int32_t tile[MB_MAX * NR];
    _Alignas(32) uint32_t abs_pk[AQ];
    _Alignas(32) uint32_t sg_pk[AQ];
    _Alignas(32) uint16_t off_pk[AQ];
    const int8_t *A = a->a;
    int K = p->k, kq = quads(K), M = a->m;
    const int8_t *aend = A + (size_t)(M - 1) * a->lda + K; /* one past the last byte of A */
    for (int m0 = 0; m0 < M; m0 += mb_even) {
        int mb = M - m0 < mb_even ? M - m0 : mb_even, mbp = (mb + 3) & ~3;
        for (int r = 0; r < mbp; r += 4) {
            const int8_t *ar[4];
            for (int i = 0; i < 4; i++)
                ar[i] = A + (size_t)(m0 + r + (r + i < mb ? i : 0)) * a->lda;
            pack_rows4(ar, mb - r < 4 ? mb - r : 4, K, kqs, aend, abs_pk + (size_t)r * kqs, sg_pk + (size_t)r * kqs,
                       off_pk + (size_t)r * kqs);
        }
        for (int pn = 0; pn < panels(p->n); pn++) {
            int j0 = pn * NR, nc = p->n - j0 < NR ? p->n - j0 : NR;
            const int8_t *wp = (const int8_t *)p->w + (size_t)pn * kq * PQ;
            int V = (nc + 7) / 8; /* vectors past N skipped */
            if (kq <= KQ) { /* one chunk: each 4 rows finished from registers */
                epi_cb(e, p, a->a_zero, j0, nc);
                if (per_channel && !a->out_i32)
                    epi_rq(e, a->rq + j0, 1, nc, mb >= FAST_ROWS);
                expand(wp, kq, V, buf);
                for (int r = 0; r < mb; r += 4) {
                    int R = mb - r < 4 ? mb - r : 4;
                    const fin4 fin = {e, a, (size_t)(m0 + r), R, j0, nc};
                    const uint32_t *ab = abs_pk + (size_t)r * kqs, *sg = sg_pk + (size_t)r * kqs;
                    fin_fns[R - 1][V - 1](ab, sg, off_pk + (size_t)r * kqs, kq, buf, &fin);
                }
                continue;
            }
            for (int q0 = 0; q0 < kq; q0 += KQ) {
                int nq = kq - q0 < KQ ? kq - q0 : KQ;
                expand(wp + (size_t)q0 * PQ, nq, V, buf);
                for (int r = 0; r < mbp; r += 4) {
                    const uint32_t *ab = abs_pk + (size_t)r * kqs + 4 * q0, *sg = sg_pk + (size_t)r * kqs + 4 * q0;
                    const uint16_t *of = off_pk + (size_t)r * kqs + 4 * q0;
                    if (V == 3)
                        exp_4x3(ab, sg, of, nq, buf, tile + r * NR, q0 == 0);
                    else if (V == 2)
                        exp_4x2(ab, sg, of, nq, buf, tile + r * NR, q0 == 0);
                    else
                        exp_4x1(ab, sg, of, nq, buf, tile + r * NR, q0 == 0);
                }
            }
            epi_cb(e, p, a->a_zero, j0, nc);
            if (per_channel && !a->out_i32)
                epi_rq(e, a->rq + j0, 1, nc, mb >= FAST_ROWS);
            for (int r = 0; r < mb; r++) {
                const __m256i *s = (const __m256i *)(tile + r * NR);
                finish_row(e, a, (size_t)(m0 + r), j0, nc, _mm256_load_si256(s), _mm256_load_si256(s + 1),
                           _mm256_load_si256(s + 2));
            }
        }
    }
}

/* ---- small K: int16 pairs, blocks of 32 channels (gemm_s16) ---- */

/* At K <= KS neither the sign expansion nor vpsignb pays: the expanded
 * path's row pack, per-panel expansion and 24-channel panels (a last
 * panel of 8 for N = 32) cost more per row than the dot products. Here
 * each row is sign-extended to int16 once, the weights are widened to
 * int16 pairs once per call (w16), and vpmaddwd takes a broadcast pair of
 * a against 8 channels' pairs: one multiply per 16 MACs, as the expanded
 * path's vpmaddubsw + vpmaddwd per 32, with no sign handling. Channels
 * go in blocks of 32 (4 vectors: one row's 32 outputs are one 32-byte
 * store); bytes of a past K (the next row's) meet zero weights. */

/* The int16 pairs of the weights: channel block b (32 channels), pair pr,
 * vector v at w16 + ((b * np + pr) * EV + v) * 16, lane c = (w[32b + 8v +
 * l(c)][2pr], w[...][2pr + 1]) with l(c) the s16 lane order (channels
 * 0, 2, 1, 3 of each 4); zero past N. The accumulators hold channels in
 * that order, which qb_avx2_round8_fast_sh (one vshufps for a vpsrlq and
 * a vpblendd) turns back into channel order; the column offsets and the
 * multipliers' me, mo are swapped to match (s16_epi), the 64-bit form and
 * int32 outputs swap the sums back (s16_unswap). From the packed quads:
 * one 32-byte vector (8 channels x 4 k) gives the pairs 2q and 2q + 1. */
static void widen_w(const qb_packed *p, int np, int nb, int16_t *w16)
{
    /* channels of each 4 in the s16 lane order 0, 2, 1, 3 */
    const __m256i sel = _mm256_setr_epi8(0, 1, 8, 9, 4, 5, 12, 13, 2, 3, 10, 11, 6, 7, 14, 15, 0, 1, 8, 9, 4, 5, 12,
                                         13, 2, 3, 10, 11, 6, 7, 14, 15);
    int kq = quads(p->k), nvp = 3 * panels(p->n); /* vectors the pack holds (padding included) */
    for (int g = 0; g < EV * nb; g++) {
        int16_t *o = w16 + ((size_t)(g / EV) * np * EV + g % EV) * 16;
        const int8_t *src = (const int8_t *)p->w + (size_t)(g / 3) * kq * PQ + (size_t)(g % 3) * 32;
        for (int q = 0; 2 * q < np; q++) {
            __m256i x = g < nvp ? _mm256_load_si256((const __m256i *)(src + (size_t)q * PQ)) : _mm256_setzero_si256();
            /* per 128-bit lane: pair 2q of 4 channels, pair 2q + 1 of them; then
             * pair 2q of the 8 channels in the low half, 2q + 1 in the high */
            x = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(x, sel), 0xd8);
            _mm256_store_si256((__m256i *)(o + (size_t)2 * q * EV * 16), _mm256_cvtepi8_epi16(_mm256_castsi256_si128(x)));
            if (2 * q + 1 < np)
                _mm256_store_si256((__m256i *)(o + (size_t)(2 * q + 1) * EV * 16),
                                   _mm256_cvtepi8_epi16(_mm256_extracti128_si256(x, 1)));
        }
    }
}

/* Rows i0..i0+n-1 of A sign-extended to int16, 2 * KS a row (past K up
 * to a multiple of 16: whatever follows in A, or zero where A ends). */
static void widen_a(const qb_gemm_args *a, int K, int i0, int n, const int8_t *aend, int16_t *a16)
{
    int kw = (K + 15) & ~15; /* bytes read a row */
    for (int i = 0; i < n; i++, a16 += 2 * KS) {
        const int8_t *ar = (const int8_t *)a->a + (size_t)(i0 + i) * a->lda;
        int8_t tmp[KS] = {0};
        if (ar + kw > aend) { /* the last rows: a copy */
            memcpy(tmp, ar, (size_t)K);
            ar = tmp;
        }
        for (int l = 0; l < kw; l += 16)
            _mm256_store_si256((__m256i *)(a16 + l), _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(ar + l))));
    }
}

/* The lanes 0, 2, 1, 3 of each 4 (the s16 lane order, its own inverse). */
INLINE __m256i s16_unswap(__m256i d) { return _mm256_shuffle_epi32(d, 0xd8); }

/* One vector of finish32: the rounded (narrow) or requantized lanes of
 * vector v (sums d in the s16 lane order) in channel order, zero when wholly
 * past nc. */
INLINE __m256i fin32_vec(const epi *e, int v, int nc, __m256i d)
{
    if (8 * v >= nc)
        return _mm256_setzero_si256();
    if (e->fast) {
        __m256i r = qb_avx2_round8_fast_sh(&e->rf[v], d);
        return e->narrow ? r : _mm256_add_epi32(_mm256_min_epi32(_mm256_max_epi32(r, e->lo), e->hi), e->zero);
    }
    d = s16_unswap(d);
    return e->narrow ? qb_avx2_round8(&e->rq[v], d) : qb_avx2_requant8(&e->rq[v], d, e->lo, e->hi, e->zero);
}

/* Finish one row of a block of 32 channels (nc of them): d0..d3 = the
 * sums with the column offsets. As finish_row_acc, one vector more: the
 * four vectors' bytes share the packs, the clamp and one permute. */
INLINE void finish32(const epi *e, const qb_gemm_args *a, size_t row, int j0, int nc, __m256i d0, __m256i d1,
                     __m256i d2, __m256i d3)
{
    if (a->out_i32) {
        int32_t *c = (int32_t *)a->c + row * a->ldc + j0;
        const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        d0 = s16_unswap(d0);
        d1 = s16_unswap(d1);
        d2 = s16_unswap(d2);
        d3 = s16_unswap(d3);
        if (nc == 32) {
            _mm256_storeu_si256((__m256i *)c, d0);
            _mm256_storeu_si256((__m256i *)(c + 8), d1);
            _mm256_storeu_si256((__m256i *)(c + 16), d2);
            _mm256_storeu_si256((__m256i *)(c + 24), d3);
            return;
        }
        __m256i d[EV] = {d0, d1, d2, d3};
        for (int v = 0; v < EV && 8 * v < nc; v++)
            _mm256_maskstore_epi32((int *)(c + 8 * v), _mm256_cmpgt_epi32(_mm256_set1_epi32(nc - 8 * v), lane), d[v]);
        return;
    }
    __m256i r0 = fin32_vec(e, 0, nc, d0), r1 = fin32_vec(e, 1, nc, d1), r2 = fin32_vec(e, 2, nc, d2),
            r3 = fin32_vec(e, 3, nc, d3), b;
    __m256i s01 = _mm256_packs_epi32(r0, r1), s23 = _mm256_packs_epi32(r2, r3);
    if (e->narrow) { /* as finish_row_acc: the clamp after the packs */
        if (!e->zfold) {
            s01 = _mm256_adds_epi16(s01, e->z16);
            s23 = _mm256_adds_epi16(s23, e->z16);
        }
        b = _mm256_min_epi8(_mm256_max_epi8(_mm256_packs_epi16(s01, s23), e->lo8), e->hi8);
    } else {
        b = _mm256_packs_epi16(s01, s23);
    }
    /* dwords of b: r0 0-3, r1 0-3, r2 0-3, r3 0-3, r0 4-7, r1 4-7, r2 4-7, r3 4-7 */
    b = _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    int8_t *c = (int8_t *)a->c + row * a->ldc + j0;
    if (nc == 32) {
        _mm256_storeu_si256((__m256i *)c, b);
    } else if (nc > 16) {
        _mm_storeu_si128((__m128i *)c, _mm256_castsi256_si128(b));
        qb_avx2_store_bytes(c + 16, _mm256_extracti128_si256(b, 1), nc - 16);
    } else {
        qb_avx2_store_bytes(c, _mm256_castsi256_si128(b), nc);
    }
}

/* One pair step of row r: the broadcast pair of a against vectors 0..V-1. */
#define S16_STEP(r)                                                                                    \
    do {                                                                                               \
        int32_t x_;                                                                                    \
        memcpy(&x_, a16 + (r) * 2 * KS + 2 * pr, 4);                                                   \
        __m256i b_ = _mm256_set1_epi32(x_);                                                            \
        c##r##0 = _mm256_add_epi32(c##r##0, _mm256_madd_epi16(b_, w0));                                \
        if (V > 1)                                                                                     \
            c##r##1 = _mm256_add_epi32(c##r##1, _mm256_madd_epi16(b_, w1));                            \
        if (V > 2)                                                                                     \
            c##r##2 = _mm256_add_epi32(c##r##2, _mm256_madd_epi16(b_, w2));                            \
        if (V > 3)                                                                                     \
            c##r##3 = _mm256_add_epi32(c##r##3, _mm256_madd_epi16(b_, w3));                            \
    } while (0)

/* R (1..3) rows of a16 against V (1..4) vectors of one block's w16 over np
 * pairs, accumulators started from the column offsets, then finished. */
INLINE void s16_rows(int R, int V, const int16_t *a16, const int16_t *w16, int np, const epi *e,
                     const qb_gemm_args *a, size_t row, int j0, int nc)
{
    __m256i c00 = e->cb[0], c01 = e->cb[1], c02 = e->cb[2], c03 = e->cb[3];
    __m256i c10 = c00, c11 = c01, c12 = c02, c13 = c03, c20 = c00, c21 = c01, c22 = c02, c23 = c03;
    for (int pr = 0; pr < np; pr++) {
        const __m256i *wv = (const __m256i *)(w16 + (size_t)pr * EV * 16);
        __m256i w0 = _mm256_load_si256(wv), w1 = V > 1 ? _mm256_load_si256(wv + 1) : w0,
                w2 = V > 2 ? _mm256_load_si256(wv + 2) : w0, w3 = V > 3 ? _mm256_load_si256(wv + 3) : w0;
        S16_STEP(0);
        if (R > 1)
            S16_STEP(1);
        if (R > 2)
            S16_STEP(2);
    }
    finish32(e, a, row, j0, nc, c00, c01, c02, c03);
    if (R > 1)
        finish32(e, a, row + 1, j0, nc, c10, c11, c12, c13);
    if (R > 2)
        finish32(e, a, row + 2, j0, nc, c20, c21, c22, c23);
}

typedef void s16_fn(const int16_t *, const int16_t *, int, const epi *, const qb_gemm_args *, size_t, int, int);
#define S16_FN(R, V)                                                                                          \
    static void s16_rows_##R##_##V(const int16_t *a16, const int16_t *w16, int np, const epi *e,              \
                                   const qb_gemm_args *a, size_t row, int j0, int nc)                         \
    {                                                                                                         \
        s16_rows(R, V, a16, w16, np, e, a, row, j0, nc);                                                      \
    }
#define S16_FNS(R) S16_FN(R, 1) S16_FN(R, 2) S16_FN(R, 3) S16_FN(R, 4)
S16_FNS(1)
S16_FNS(2)
S16_FNS(3)

/* The column offsets, and the fast form's me, mo of the nc channels'
 * vectors, in the s16 lane order (rnd and sh stay in channel order:
 * qb_avx2_round8_fast_sh); rq: the block's multipliers were set (per
 * channel, int8 output; a per-tensor multiplier is the same in every lane). */
static void s16_epi(epi *e, int nc, int rq)
{
    for (int v = 0; v < EV; v++) {
        e->cb[v] = s16_unswap(e->cb[v]);
        if (rq && e->fast && 8 * v < nc) {
            e->rf[v].me = s16_unswap(e->rf[v].me);
            e->rf[v].mo = _mm256_srli_epi64(e->rf[v].me, 32);
        }
    }
}

static void gemm_s16(const qb_packed *p, const qb_gemm_args *a, int per_channel, epi *e)
{
#define S16_ROW(R) {s16_rows_##R##_1, s16_rows_##R##_2, s16_rows_##R##_3, s16_rows_##R##_4}
    static s16_fn *const fns[3][EV] = {S16_ROW(1), S16_ROW(2), S16_ROW(3)};
#undef S16_ROW
    _Alignas(32) int16_t w16[WS / 2];
    _Alignas(32) int16_t a16[MS * 2 * KS];
    int K = p->k, np = (K + 1) / 2, nb = (p->n + 8 * EV - 1) / (8 * EV), M = a->m;
    const int8_t *aend = (const int8_t *)a->a + (size_t)(M - 1) * a->lda + K; /* one past the last byte of A */
    widen_w(p, np, nb, w16);
    for (int bk = 0; bk < nb; bk++) {
        int j0 = 8 * EV * bk, nc = p->n - j0 < 8 * EV ? p->n - j0 : 8 * EV, V = (nc + 7) / 8;
        const int16_t *wb = w16 + (size_t)bk * np * EV * 16;
        epi_cb(e, p, a->a_zero, j0, nc);
        if (per_channel && !a->out_i32)
            epi_rq(e, a->rq + j0, 1, nc, M >= FAST_ROWS);
        s16_epi(e, nc, per_channel && !a->out_i32);
        for (int m0 = 0; m0 < M; m0 += MS) {
            int mn = M - m0 < MS ? M - m0 : MS;
            widen_a(a, K, m0, mn, aend, a16);
            for (int i = 0; i < mn; i += 3) {
                int R = mn - i < 3 ? mn - i : 3;
                fns[R - 1][V - 1](a16 + (size_t)i * 2 * KS, wb, np, e, a, (size_t)(m0 + i), j0, nc);
            }
        }
    }
}

/* ---- many rows, N a multiple of 32: sign-expanded blocks of 32 channels (gemm_many32) ---- */

/* As gemm_many (the same row pack: |a|, pair signs, version offsets), but
 * channels in blocks of 32 (4 vectors) instead of panels of 24, 2 rows a
 * microkernel step instead of 4 (8 accumulators), K in one chunk (K <=
 * 4 KQ32). Where N is a multiple of 32 (dscnn's pointwise layers: 64,
 * 128, 256) no last panel of 8 or 16 channels is left, and each row of a
 * block is finished by finish32 (the 4 vectors share the packs, the clamp,
 * the permute and one 32-byte store; the faster requantization's high
 * halves by one vshufps: the expanded weights are laid out in the s16 lane
 * order, as gemm_s16's). The expanded chunk: quad q, version v (bit 0: w1
 * negated, bit 1: w3), vector g at q * XQ32 + v * PQ32 + 32 g. */
#define PQ32 128            /* bytes of one quad of a block of 32 channels */
#define XQ32 (4 * PQ32)     /* bytes of its 4 sign versions */
#define KQ32 48             /* most quads (one chunk, 24 KiB expanded) */
#define B32_KMIN 32         /* fewest K for which the blocks beat gemm_s16 (N >= 64) */

_Static_assert((KQ32 - 1) * XQ32 + 3 * PQ32 <= 65535, "offsets in the 32-channel chunk fit uint16");

/* The 4 sign versions of quads 0..kq-1 of channel block b (channels 32b..32b+31,
 * vectors 4b..4b+3 of the packed panels), each vector in the s16 lane order. */
static void expand32(const qb_packed *p, int b, int kq, int8_t *buf)
{
    /* version 0 is w itself; 1, 2, 3 by vpsignb */
    const __m256i s1 = _mm256_set1_epi32((int)0x0101ff01u), s2 = _mm256_set1_epi32((int)0xff010101u),
                  s3 = _mm256_set1_epi32((int)0xff01ff01u);
    const int8_t *src[4];
    for (int g = 0; g < 4; g++)
        src[g] = (const int8_t *)p->w + (size_t)((4 * b + g) / 3) * kq * PQ + (size_t)((4 * b + g) % 3) * 32;
    const int8_t *s0p = src[0], *s1p = src[1], *s2p = src[2], *s3p = src[3];
    for (int q = 0; q < kq; q++) {
        __m256i *o = (__m256i *)(buf + (size_t)q * XQ32);
        /* channels 0, 2, 1, 3 of each 4: dwords 1 and 2 swapped */
        __m256i w0 = _mm256_shuffle_epi32(_mm256_load_si256((const __m256i *)(s0p + (size_t)q * PQ)), 0xd8);
        __m256i w1 = _mm256_shuffle_epi32(_mm256_load_si256((const __m256i *)(s1p + (size_t)q * PQ)), 0xd8);
        __m256i w2 = _mm256_shuffle_epi32(_mm256_load_si256((const __m256i *)(s2p + (size_t)q * PQ)), 0xd8);
        __m256i w3 = _mm256_shuffle_epi32(_mm256_load_si256((const __m256i *)(s3p + (size_t)q * PQ)), 0xd8);
        _mm256_store_si256(o, w0), _mm256_store_si256(o + 1, w1);
        _mm256_store_si256(o + 2, w2), _mm256_store_si256(o + 3, w3);
        _mm256_store_si256(o + 4, _mm256_sign_epi8(w0, s1)), _mm256_store_si256(o + 5, _mm256_sign_epi8(w1, s1));
        _mm256_store_si256(o + 6, _mm256_sign_epi8(w2, s1)), _mm256_store_si256(o + 7, _mm256_sign_epi8(w3, s1));
        _mm256_store_si256(o + 8, _mm256_sign_epi8(w0, s2)), _mm256_store_si256(o + 9, _mm256_sign_epi8(w1, s2));
        _mm256_store_si256(o + 10, _mm256_sign_epi8(w2, s2)), _mm256_store_si256(o + 11, _mm256_sign_epi8(w3, s2));
        _mm256_store_si256(o + 12, _mm256_sign_epi8(w0, s3)), _mm256_store_si256(o + 13, _mm256_sign_epi8(w1, s3));
        _mm256_store_si256(o + 14, _mm256_sign_epi8(w2, s3)), _mm256_store_si256(o + 15, _mm256_sign_epi8(w3, s3));
    }
}

/* Row pack of one row for gemm_many32: per quad |a|, the pair signs and
 * the offset of the sign version in the 32-channel chunk, as pack_rows4
 * makes them, but in the row's own arrays (kqs quads, zero past K): the
 * 2-row microkernel reads its rows by two pointers, so no transposes. */
static void pack_row32(const int8_t *ar, int K, int kqs, const int8_t *aend, uint32_t *abs_out, uint32_t *sg_out,
                       uint16_t *off_out)
{
    const __m256i iota = _mm256_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
                                          21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31);
    const __m256i ones16 = _mm256_set1_epi16(1), pqv = _mm256_set1_epi32(PQ32 | 2 * PQ32 << 16);
    __m256i qin = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(XQ32));
    for (int t = 0; t < kqs / 8; t++, qin = _mm256_add_epi32(qin, _mm256_set1_epi32(8 * XQ32))) {
        int at = 32 * t, valid = K - at;
        __m256i x;
        if (valid >= 32) {
            x = _mm256_loadu_si256((const __m256i *)(ar + at));
        } else if (valid > 0 && ar + at + 32 <= aend) { /* masked, as pack_rows4 */
            x = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(ar + at)),
                                 _mm256_cmpgt_epi8(_mm256_set1_epi8((char)valid), iota));
        } else {
            int8_t tmp[32] = {0};
            if (valid > 0)
                memcpy(tmp, ar + at, (size_t)valid);
            x = _mm256_loadu_si256((const __m256i *)tmp);
        }
        _mm256_store_si256((__m256i *)(abs_out + 8 * t), _mm256_abs_epi8(x));
        __m256i x8 = _mm256_slli_epi16(x, 8);
        _mm256_store_si256((__m256i *)(sg_out + 8 * t), _mm256_or_si256(_mm256_srai_epi16(x8, 15), ones16));
        __m256i dif = _mm256_srai_epi16(_mm256_xor_si256(x, x8), 15);
        __m256i off = _mm256_add_epi32(_mm256_madd_epi16(_mm256_and_si256(dif, pqv), ones16), qin);
        _mm_store_si128((__m128i *)(off_out + 8 * t),
                        _mm256_castsi256_si128(_mm256_permute4x64_epi64(_mm256_packus_epi32(off, off), 0x08)));
    }
}

/* One row of the 32-channel microkernel (EXP_STEP3 with a fourth vector),
 * row r's pack at ab##r, sg##r, of##r. */
#define EXP_STEP4(r)                                                                                    \
    do {                                                                                                \
        size_t o_ = of##r[q];                                                                           \
        __m256i u_, t0_, t1_, s_;                                                                       \
        __asm__("vpbroadcastd %[ab], %[u]\n\t"                                                          \
                "vpbroadcastd %[sg], %[s]\n\t"                                                          \
                "vpmaddubsw (%[b],%[o]), %[u], %[t0]\n\t"                                               \
                "vpmaddubsw 32(%[b],%[o]), %[u], %[t1]\n\t"                                             \
                "vpmaddwd %[s], %[t0], %[t0]\n\t"                                                       \
                "vpmaddwd %[s], %[t1], %[t1]\n\t"                                                       \
                "vpaddd %[t0], %[c0], %[c0]\n\t"                                                        \
                "vpaddd %[t1], %[c1], %[c1]\n\t"                                                        \
                "vpmaddubsw 64(%[b],%[o]), %[u], %[t0]\n\t"                                             \
                "vpmaddubsw 96(%[b],%[o]), %[u], %[u]\n\t"                                              \
                "vpmaddwd %[s], %[t0], %[t0]\n\t"                                                       \
                "vpmaddwd %[s], %[u], %[u]\n\t"                                                         \
                "vpaddd %[t0], %[c2], %[c2]\n\t"                                                        \
                "vpaddd %[u], %[c3], %[c3]"                                                             \
                : [c0] "+x"(c##r##0), [c1] "+x"(c##r##1), [c2] "+x"(c##r##2), [c3] "+x"(c##r##3),       \
                  [t0] "=&x"(t0_), [t1] "=&x"(t1_), [u] "=&x"(u_), [s] "=&x"(s_)                        \
                : [ab] "m"(ab##r[q]), [sg] "m"(sg##r[q]), [b] "r"(buf), [o] "r"(o_),                    \
                  "m"(*(const char(*)[128])(buf + o_)));                                                \
    } while (0)

/* R (1, 2) rows of the row pack (ab, sg, of: the first row's quad 0, the
 * second row kqs quads on) x 32 channels over kq quads, from the column
 * offsets, then finished. */
INLINE void exp32_rows(int R, const uint32_t *ab0, const uint32_t *sg0, const uint16_t *of0, int kqs, int kq,
                       const int8_t *buf, const epi *e, const qb_gemm_args *a, size_t row, int j0)
{
    const uint32_t *ab1 = ab0 + kqs, *sg1 = sg0 + kqs;
    const uint16_t *of1 = of0 + kqs;
    __m256i c00 = e->cb[0], c01 = e->cb[1], c02 = e->cb[2], c03 = e->cb[3];
    __m256i c10 = c00, c11 = c01, c12 = c02, c13 = c03;
    for (int q = 0; q < kq; q++) {
        EXP_STEP4(0);
        if (R > 1)
            EXP_STEP4(1);
    }
    finish32(e, a, row, j0, 32, c00, c01, c02, c03);
    if (R > 1)
        finish32(e, a, row + 1, j0, 32, c10, c11, c12, c13);
}

/* Rows 0..mb-1 of the row pack (row m0 of A first) against one expanded block. */
static void exp32_block(const uint32_t *abs_pk, const uint32_t *sg_pk, const uint16_t *off_pk, int kqs, int kq,
                        int mb, const int8_t *buf, const epi *e, const qb_gemm_args *a, size_t m0, int j0)
{
    int r = 0;
    for (; r + 2 <= mb; r += 2) {
        size_t x = (size_t)r * kqs;
        exp32_rows(2, abs_pk + x, sg_pk + x, off_pk + x, kqs, kq, buf, e, a, m0 + r, j0);
    }
    if (r < mb) {
        size_t x = (size_t)r * kqs;
        exp32_rows(1, abs_pk + x, sg_pk + x, off_pk + x, kqs, kq, buf, e, a, m0 + r, j0);
    }
}

static void gemm_many32(const qb_packed *p, const qb_gemm_args *a, int per_channel, epi *e, int kqs, int mb_even)
{
    _Alignas(32) int8_t buf[KQ32 * XQ32];
    _Alignas(32) uint32_t abs_pk[AQ];
    _Alignas(32) uint32_t sg_pk[AQ];
    _Alignas(32) uint16_t off_pk[AQ];
    const int8_t *A = a->a;
    int K = p->k, kq = quads(K), M = a->m;
    const int8_t *aend = A + (size_t)(M - 1) * a->lda + K; /* one past the last byte of A */
    for (int m0 = 0; m0 < M; m0 += mb_even) {
        int mb = M - m0 < mb_even ? M - m0 : mb_even;
        for (int r = 0; r < mb; r++)
            pack_row32(A + (size_t)(m0 + r) * a->lda, K, kqs, aend, abs_pk + (size_t)r * kqs, sg_pk + (size_t)r * kqs,
                       off_pk + (size_t)r * kqs);
        for (int b = 0; b < p->n / 32; b++) {
            int j0 = 32 * b;
            epi_cb(e, p, a->a_zero, j0, 32);
            if (per_channel && !a->out_i32)
                epi_rq(e, a->rq + j0, 1, 32, mb >= FAST_ROWS);
            s16_epi(e, 32, per_channel && !a->out_i32);
            expand32(p, b, kq, buf);
            exp32_block(abs_pk, sg_pk, off_pk, kqs, kq, mb, buf, e, a, (size_t)m0, j0);
        }
    }
}

static void gemm_i8(const qb_packed *p, const qb_gemm_args *a, int per_channel)
{
    epi e;
    epi_init(&e, a);
    /* row blocks of the expanded path: as many rows as the row pack holds
     * (at most MB_MAX), balanced */
    int kqs = (quads(p->k) + 7) / 8 * 8; /* row-pack stride: whole 8-quad steps of pack_rows4 */
    int mbcap = AQ / kqs;
    mbcap = (mbcap > MB_MAX ? MB_MAX : mbcap) & ~3;
    int nblk = mbcap ? (a->m + mbcap - 1) / mbcap : 0;
    int mb_even = nblk ? ((a->m + nblk - 1) / nblk + 3) & ~3 : 0;
    int np = (p->k + 1) / 2, nb = (p->n + 8 * EV - 1) / (8 * EV);
    int many = panels(p->n) > 1 && mb_even >= MB_MIN && mb_even * (panels(p->n) - 1) >= MB_PROWS;
    int b32 = many && p->n % 32 == 0 && quads(p->k) <= KQ32; /* blocks of 32 channels */
    /* gemm_s16 at small K, except where the 32-channel blocks beat it (K >= 32
     * and N >= 64: 196x64x32 0.00558 -> 0.00525 ms, 196x128x32 0.0111 -> 0.0099;
     * at N = 32 or K = 16 they lose: 784x32x32 0.0108 -> 0.0116) */
    if (p->k <= KS && (size_t)nb * np * EV * 32 <= WS && a->m >= S16_MMIN && !(b32 && p->k >= B32_KMIN && p->n >= 64))
        gemm_s16(p, a, per_channel, &e);
    else if (b32)
        gemm_many32(p, a, per_channel, &e, kqs, mb_even);
    else if (many)
        gemm_many(p, a, per_channel, &e, kqs, mb_even);
    else
        gemm_few(p, a, per_channel, &e);
}

void qb_gemm_i8t__avx2(const qb_packed *p, const qb_gemm_args *a) { gemm_i8(p, a, 0); }

void qb_gemm_i8c__avx2(const qb_packed *p, const qb_gemm_args *a) { gemm_i8(p, a, 1); }
