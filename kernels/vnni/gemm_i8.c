/*
 * gemm_i8.c - AVX-512 VNNI int8 GEMM (int8-tensor and int8-channel),
 * bit-exact with kernels/scalar/gemm_i8.c.
 *
 * vpdpbusd multiplies unsigned by signed bytes, so the weights are stored
 * as they are (the signed operand) and each 4-byte broadcast of
 * activations is flipped to a + 128 in [0, 255] (one vpxord per row and
 * step, the unsigned operand). The bias this adds is a column term, fixed
 * per layer:
 *   acc = sum w (a + 128)  +  bias - (a_zero + 128) * wsum
 * which equals the reference modulo 2^32 (both wrap), then the lane-wise
 * requantization of vnni.h (its faster form, qb_rqf, for the panels whose
 * multipliers allow it) or the raw int32 (out_i32). (The weights biased
 * instead, w + 128 as the unsigned operand, need each row's sum of
 * activations, - 128 * sum a: ~20 instructions a row, more than the K
 * steps of short rows; docs/kernels.md "No row sums".)
 *
 * Packed layout: panels of 16 output columns, each a header (panel_hdr)
 * and K2 = 2 ceil(K / 8) steps of 4 along K; per step 16 columns x 4
 * bytes (the vpdpbusd operand layout):
 *   byte HDR + s * 64 + 4 * c + t of panel p = w[16 p + c][4 s + t]
 * except the panels of the last N % 64 columns where pair_cols holds
 * (N % 64 in 1..8, or 17..24 from K = 192), laid out in pairs of steps
 * for micro_pair (w_off); columns past N and k past K are 0 (contribute
 * 0, whatever the activation byte: a row's tail read by qb_ld32_tail is
 * zero, flipped to 128, against a zero weight).
 * Register-blocked microkernel: up to 6 rows x 4 panels (64 columns) of
 * int32 accumulators (rows split into balanced blocks: 8 = 4 + 4); small
 * tiles (M = 1, 2) use two accumulator sets over
 * alternate K steps to hide the vpdpbusd latency. The accumulators start
 * at the column term, so the epilogue is the requantization alone. Rows
 * are taken in chunks of 96 to 512 (as many as keep 256 KiB of A rows in
 * L2: the per-panel requantization set-up runs once per chunk); within a
 * chunk each 64-column tile column of W (64 K bytes) is reused from L1 by
 * every row block.
 * With qb_gemm_args.a_taps (QB_KF_A_TAPS, a direct convolution) whose
 * segments are a multiple of 4 bytes (8 for a pack in pairs), the K steps run segment by segment,
 * each from its own offset into A (segment t's weights are steps
 * t * K/(4 nt) on of the same pack); other segment lengths are gathered
 * into a contiguous copy of
 * up to GATHER_BYTES first (rows of K beyond it: one exact scalar loop).
 * With qb_gemm_args.a_run (QB_KF_A_RUNS: rows in runs, a direct conv's
 * narrow output rows in one call) the row blocks are balanced within
 * each run, so a tile's rows stay lda apart.
 */
#include "kernels/vnni/vnni.h"

#define MR 6        /* rows per microkernel tile */
#define NP 4        /* 16-column panels per microkernel tile */
#define MC 512      /* most rows per row chunk */
#define MC_MIN 96   /* fewest rows per row chunk (K permitting: MC_A) */
#define MC_A (256 * 1024) /* A bytes per row chunk: it stays in L2 (1 MiB) beside W */
#define FAST_ROWS 32 /* rows of a chunk from which per-channel requantization takes qb_rqf */
#ifndef WIDE_K
#define WIDE_K 256 /* K up to which whole 64-column tiles narrow their rows together (epilogue-heavy) */
#endif
#define GATHER_BYTES (16 * 1024) /* taps of segments not a multiple of 4: rows gathered per pass (stack) */

/* The constants of a panel laid out at pack time from qb_weights.gq (a
 * model layer's fixed call parameters), the HDR bytes before its
 * weights; all zero (ok 0) when packed without them. A call whose
 * parameters match takes them as they are: no per-call set-up (the
 * scalar qb_rqf_set_z, the column terms), and the faster requantization
 * for calls of any number of rows. */
typedef struct panel_hdr {
    int32_t ok;          /* 1: filled */
    int32_t fast;        /* rf holds for the panel's multipliers (else the 64-bit form) */
    int32_t per_channel; /* rq holds the panel's 16 multipliers (else rq[0] is the tensor's) */
    int32_t a_zero;      /* the activation zero point colterm was made with */
    int32_t c_zero;      /* the output zero point rf was made for */
    int32_t pad[11];     /* to 64 bytes */
    int32_t colterm[16]; /* bias - (a_zero + 128) * wsum of each column (0 past N) */
    qb_rqf rf;           /* the faster requantization's constants, where fast */
    qb_requant rq[16];   /* the multipliers they were made from */
} panel_hdr;

#define HDR 512 /* bytes of panel_hdr before each panel's weights */
_Static_assert(sizeof(panel_hdr) == HDR, "panel_hdr is HDR bytes");

/* Bytes per panel: its header, then ceil(K / 4) steps of 64 bytes rounded
 * up to an even count (a pair panel's last pair; see pair_cols). */
static size_t panel_bytes(int k) { return HDR + ((size_t)k + 7) / 8 * 128; }

#define PAIR_MIN_K 192 /* K from which 17..24 columns take pairs (below it the tile's fixed costs lose) */

/* Whether the pack's last group of 64 columns (N % 64 of them: the same in
 * every QB_KF_COLUMNS slice that holds it) is packed in pairs of K steps:
 * where its last panel of 16 columns would be half empty or emptier, 1..8
 * columns (any K) or 17..24 (K >= PAIR_MIN_K). */
static int pair_cols(int n, int k)
{
    const int tw = n % 64;
    return (tw >= 1 && tw <= 8) || (tw >= 17 && tw <= 24 && k >= PAIR_MIN_K);
}

/* Byte of column c (0..15 within its panel) and k index l within the
 * panel's weights: steps of 16 columns x 4 bytes, or in a pair panel,
 * per pair of steps two vectors of 8 columns x 2 steps (lane 2j: column
 * 8v + j, step 2P; lane 2j + 1: the same column, step 2P + 1). */
static size_t w_off(int pair, int c, int l)
{
    const int s = l / 4, t = l % 4;
    if (!pair)
        return (size_t)s * 64 + 4 * (size_t)c + (size_t)t;
    return (size_t)(s / 2) * 128 + (size_t)(c / 8) * 64 + (size_t)(2 * (c % 8) + s % 2) * 4 + (size_t)t;
}

size_t QB_VNNI(qb_gemm_i8__vnni_size)(int n, int k, int group)
{
    (void)group;
    return (size_t)((n + 15) / 16) * panel_bytes(k);
}

void QB_VNNI(qb_gemm_i8__vnni_pack)(const qb_weights *w, void *dst)
{
    uint8_t *out = dst;
    const size_t pstride = panel_bytes(w->k);
    const int pn0 = pair_cols(w->n, w->k) ? w->n - w->n % 64 : w->n; /* first column of pair panels */
    for (int j = 0; j < w->n; j++) {
        uint8_t *panel = out + (size_t)(j / 16) * pstride + HDR;
        const int8_t *row = w->i8 + (size_t)j * w->k;
        for (int l = 0; l < w->k; l++)
            panel[w_off(j >= pn0, j % 16, l)] = (uint8_t)row[l];
    }
    const qb_gemm_fixed *f = w->gq;
    if (!f || !f->rq)
        return;
    /* as gemm_i8 sets up a call: qb_rqf for output zero points within QB_RQF_ZERO_MAX */
    const int zok = f->c_zero >= -QB_RQF_ZERO_MAX && f->c_zero <= QB_RQF_ZERO_MAX;
    const int32_t zmax = zok && f->c_zero > 0 ? f->c_zero : 0;
    for (int n0 = 0; n0 < w->n; n0 += 16) {
        panel_hdr *h = (panel_hdr *)(out + (size_t)(n0 / 16) * pstride);
        const int cnt = w->n - n0 < 16 ? w->n - n0 : 16;
        for (int c = 0; c < cnt; c++) {
            uint32_t ws = 0;
            for (int l = 0; l < w->k; l++)
                ws += (uint32_t)w->i8[(size_t)(n0 + c) * w->k + l];
            uint32_t b = w->bias_i32 ? (uint32_t)w->bias_i32[n0 + c] : 0;
            h->colterm[c] = (int32_t)(b - (uint32_t)(f->a_zero + 128) * ws);
        }
        const qb_requant *rq = f->per_channel ? f->rq + n0 : f->rq;
        for (int c = 0; c < (f->per_channel ? cnt : 1); c++)
            h->rq[c] = rq[c];
        h->fast = zok && (f->per_channel ? qb_rqf_set_z(&h->rf, rq, cnt, 1, zmax) : qb_rqf_set_z(&h->rf, rq, 16, 0, zmax));
        h->per_channel = f->per_channel != 0;
        h->a_zero = f->a_zero;
        h->c_zero = f->c_zero;
        h->ok = 1;
    }
}

/* The panel's packed requantization holds for this per-channel call: the
 * same output zero point and the same cnt multipliers (g->rq + n0 on). */
static int packed_rq(const panel_hdr *h, const qb_gemm_args *g, int n0, int cnt)
{
    if (!h->ok || !h->per_channel || h->c_zero != g->c_zero)
        return 0;
    const int c0 = cnt < 8 ? cnt : 8, c1 = cnt - c0; /* one qb_requant per 64-bit lane */
    const __mmask8 m0 = (__mmask8)((1u << c0) - 1), m1 = (__mmask8)((1u << c1) - 1);
    const __mmask8 e0 = _mm512_mask_cmpeq_epi64_mask(m0, _mm512_load_si512((const void *)h->rq),
                                                     _mm512_maskz_loadu_epi64(m0, g->rq + n0));
    const __mmask8 e1 = _mm512_mask_cmpeq_epi64_mask(m1, _mm512_load_si512((const void *)(h->rq + 8)),
                                                     _mm512_maskz_loadu_epi64(m1, g->rq + n0 + 8));
    return e0 == m0 && e1 == m1;
}

/* The accumulators' start: the column term ct[q] of each panel q (no adds
 * in the epilogue); acc2 (the second chain) zero. */
QB_INLINE void tile_start(int mr_, int np_, const __m512i *ct, __m512i acc[MR][NP], __m512i acc2[MR][NP])
{
    for (int r = 0; r < MR; r++) /* all of it: no lane is ever read unset */
        for (int q = 0; q < NP; q++)
            acc[r][q] = acc2[r][q] = _mm512_setzero_si512();
QB_UNROLL(GCC unroll 6)
    for (int r = 0; r < mr_; r++)
QB_UNROLL(GCC unroll 4)
        for (int q = 0; q < np_; q++)
            acc[r][q] = ct[q];
}

/* The 4 activation bytes x broadcast as vpdpbusd's unsigned operand:
 * each flipped to a + 128. */
QB_INLINE __m512i bcast_a(int32_t x)
{
    return _mm512_xor_si512(_mm512_set1_epi32(x), _mm512_set1_epi32((int32_t)0x80808080u));
}

/* kfull steps of 4 bytes of mr_ rows of A (row r at a + r * lda) against
 * np_ panels of weights (panel q at w + q * pstride), two independent
 * chains (acc, acc2: alternate steps) when dual. */
QB_INLINE void tile_steps(int mr_, int np_, int dual, const int8_t *a, size_t lda, const uint8_t *w, size_t pstride,
                          int kfull, __m512i acc[MR][NP], __m512i acc2[MR][NP])
{
    int s = 0;
    if (dual) {
        for (; s + 2 <= kfull; s += 2) {
            __m512i wv[NP] = {_mm512_setzero_si512()}, wv2[NP] = {_mm512_setzero_si512()};
QB_UNROLL(GCC unroll 4)
            for (int q = 0; q < np_; q++) {
                wv[q] = _mm512_load_si512((const void *)(w + q * pstride + (size_t)s * 64));
                wv2[q] = _mm512_load_si512((const void *)(w + q * pstride + (size_t)s * 64 + 64));
            }
QB_UNROLL(GCC unroll 6)
            for (int r = 0; r < mr_; r++) {
                __m512i av = bcast_a(qb_ld32(a + r * lda + 4 * (size_t)s));
                __m512i av2 = bcast_a(qb_ld32(a + r * lda + 4 * (size_t)s + 4));
QB_UNROLL(GCC unroll 4)
                for (int q = 0; q < np_; q++) {
                    acc[r][q] = _mm512_dpbusd_epi32(acc[r][q], av, wv[q]);
                    acc2[r][q] = _mm512_dpbusd_epi32(acc2[r][q], av2, wv2[q]);
                }
            }
        }
    }
    for (; s < kfull; s++) {
        __m512i wv[NP] = {_mm512_setzero_si512()};
QB_UNROLL(GCC unroll 4)
        for (int q = 0; q < np_; q++)
            wv[q] = _mm512_load_si512((const void *)(w + q * pstride + (size_t)s * 64));
QB_UNROLL(GCC unroll 6)
        for (int r = 0; r < mr_; r++) {
            __m512i av = bcast_a(qb_ld32(a + r * lda + 4 * (size_t)s));
QB_UNROLL(GCC unroll 4)
            for (int q = 0; q < np_; q++)
                acc[r][q] = _mm512_dpbusd_epi32(acc[r][q], av, wv[q]);
        }
    }
}

/* The tile's sums: tile[r * NP + q] = acc (+ acc2 when dual). */
QB_INLINE void tile_end(int mr_, int np_, int dual, __m512i acc[MR][NP], __m512i acc2[MR][NP], __m512i *tile)
{
QB_UNROLL(GCC unroll 6)
    for (int r = 0; r < mr_; r++)
QB_UNROLL(GCC unroll 4)
        for (int q = 0; q < np_; q++)
            tile[r * NP + q] = dual ? _mm512_add_epi32(acc[r][q], acc2[r][q]) : acc[r][q];
}

/* The int32 accumulators of mr_ rows of A with np_ panels: tile[r * NP + q]
 * = ct[q] + sum_k w (a + 128) over the K of the 16 columns of panel q (the
 * column term is the accumulators' start: no adds in the epilogue). */
QB_MICRO void micro(int mr_, int np_, const int8_t *a, size_t lda, const uint8_t *w, size_t pstride, int kfull,
                    int krem, const __m512i *ct, __m512i *tile)
{
    __m512i acc[MR][NP], acc2[MR][NP];
    const int dual = mr_ * np_ <= 8; /* independent chains for small tiles */
    tile_start(mr_, np_, ct, acc, acc2);
    tile_steps(mr_, np_, dual, a, lda, w, pstride, kfull, acc, acc2);
    if (krem) { /* the last 1..3 bytes of each row: no read past the row */
        __m512i wv[NP] = {_mm512_setzero_si512()};
QB_UNROLL(GCC unroll 4)
        for (int q = 0; q < np_; q++)
            wv[q] = _mm512_load_si512((const void *)(w + q * pstride + (size_t)kfull * 64));
QB_UNROLL(GCC unroll 6)
        for (int r = 0; r < mr_; r++) {
            __m512i av = bcast_a(qb_ld32_tail(a + r * lda + 4 * (size_t)kfull, krem));
QB_UNROLL(GCC unroll 4)
            for (int q = 0; q < np_; q++)
                acc[r][q] = _mm512_dpbusd_epi32(acc[r][q], av, wv[q]);
        }
    }
    tile_end(mr_, np_, dual, acc, acc2, tile);
}

/* micro with taps (a direct conv): K is nt segments of kfull steps of 4
 * bytes, segment t of row r at a0 + r * lda + taps[t], its weights steps
 * t * kfull on. A copy of its own: the segment loop in micro itself made
 * GCC spill the accumulators of every tile (small K 1.24x slower), and
 * built from tile_start/tile_steps/tile_end (the accumulator arrays
 * passed into the segment loop) it spilled 3.4x as many (objdump: 178 ->
 * 607 stack references over the 24 tile shapes), which micro alone does
 * not (0). */
QB_MICRO void micro_taps(int mr_, int np_, const int8_t *a0, size_t lda, const ptrdiff_t *taps, int nt,
                         const uint8_t *w0, size_t pstride, int kfull, const __m512i *ct, __m512i *tile)
{
    __m512i acc[MR][NP], acc2[MR][NP];
    const int dual = mr_ * np_ <= 8; /* independent chains for small tiles */
    for (int r = 0; r < MR; r++) /* all of it: no lane is ever read unset */
        for (int q = 0; q < NP; q++)
            acc[r][q] = acc2[r][q] = _mm512_setzero_si512();
QB_UNROLL(GCC unroll 6)
    for (int r = 0; r < mr_; r++)
QB_UNROLL(GCC unroll 4)
        for (int q = 0; q < np_; q++)
            acc[r][q] = ct[q];
    for (int t = 0; t < nt; t++) {
        const int8_t *a = a0 + taps[t]; /* the segment's bytes of the tile's first row */
        const uint8_t *w = w0 + (size_t)t * kfull * 64; /* ... and its weights */
        int s = 0;
        if (dual) {
            for (; s + 2 <= kfull; s += 2) {
                __m512i wv[NP] = {_mm512_setzero_si512()}, wv2[NP] = {_mm512_setzero_si512()};
QB_UNROLL(GCC unroll 4)
                for (int q = 0; q < np_; q++) {
                    wv[q] = _mm512_load_si512((const void *)(w + q * pstride + (size_t)s * 64));
                    wv2[q] = _mm512_load_si512((const void *)(w + q * pstride + (size_t)s * 64 + 64));
                }
QB_UNROLL(GCC unroll 6)
                for (int r = 0; r < mr_; r++) {
                    __m512i av = bcast_a(qb_ld32(a + r * lda + 4 * (size_t)s));
                    __m512i av2 = bcast_a(qb_ld32(a + r * lda + 4 * (size_t)s + 4));
QB_UNROLL(GCC unroll 4)
                    for (int q = 0; q < np_; q++) {
                        acc[r][q] = _mm512_dpbusd_epi32(acc[r][q], av, wv[q]);
                        acc2[r][q] = _mm512_dpbusd_epi32(acc2[r][q], av2, wv2[q]);
                    }
                }
            }
        }
        for (; s < kfull; s++) {
            __m512i wv[NP] = {_mm512_setzero_si512()};
QB_UNROLL(GCC unroll 4)
            for (int q = 0; q < np_; q++)
                wv[q] = _mm512_load_si512((const void *)(w + q * pstride + (size_t)s * 64));
QB_UNROLL(GCC unroll 6)
            for (int r = 0; r < mr_; r++) {
                __m512i av = bcast_a(qb_ld32(a + r * lda + 4 * (size_t)s));
QB_UNROLL(GCC unroll 4)
                for (int q = 0; q < np_; q++)
                    acc[r][q] = _mm512_dpbusd_epi32(acc[r][q], av, wv[q]);
            }
        }
    }
QB_UNROLL(GCC unroll 6)
    for (int r = 0; r < mr_; r++)
QB_UNROLL(GCC unroll 4)
        for (int q = 0; q < np_; q++)
            tile[r * NP + q] = dual ? _mm512_add_epi32(acc[r][q], acc2[r][q]) : acc[r][q];
}

#define MICRO_CASE(m_, n_)                                                                         \
    case (m_) * 8 + (n_):                                                                          \
        micro(m_, n_, a, lda, w, pstride, kfull, krem, ct, tile);                                  \
        break;
#define MICRO_ROW(m_) MICRO_CASE(m_, 1) MICRO_CASE(m_, 2) MICRO_CASE(m_, 3) MICRO_CASE(m_, 4)

static void micro_any(int mr, int np, const int8_t *a, size_t lda, const uint8_t *w, size_t pstride,
                      int kfull, int krem, const __m512i *ct, __m512i *tile)
{
#if QB_SPECIALIZE
    switch (mr * 8 + np) {
        MICRO_ROW(1) MICRO_ROW(2) MICRO_ROW(3) MICRO_ROW(4) MICRO_ROW(5) MICRO_ROW(6)
    default:
        break;
    }
#else
    micro(mr, np, a, lda, w, pstride, kfull, krem, ct, tile);
#endif
}

#define TAPS_CASE(m_, n_)                                                                          \
    case (m_) * 8 + (n_):                                                                          \
        micro_taps(m_, n_, a, lda, taps, nt, w, pstride, kfull, ct, tile);                         \
        break;
#define TAPS_ROW(m_) TAPS_CASE(m_, 1) TAPS_CASE(m_, 2) TAPS_CASE(m_, 3) TAPS_CASE(m_, 4)

/* micro_any for micro_taps (a function of its own: micro_any's code and
 * stack frame stay those of plain rows). */
static __attribute__((noinline)) void micro_taps_any(int mr, int np, const int8_t *a, size_t lda,
                                                   const ptrdiff_t *taps, int nt, const uint8_t *w, size_t pstride,
                                                   int kfull, const __m512i *ct, __m512i *tile)
{
#if QB_SPECIALIZE
    switch (mr * 8 + np) {
        TAPS_ROW(1) TAPS_ROW(2) TAPS_ROW(3) TAPS_ROW(4) TAPS_ROW(5) TAPS_ROW(6)
    default:
        break;
    }
#else
    micro_taps(mr, np, a, lda, taps, nt, w, pstride, kfull, ct, tile);
#endif
}

/* Narrow outputs (the last N % 64 columns where pair_cols: a panel of 16
 * columns half empty or emptier) in pairs of K steps: each vector of the
 * pack holds 8 columns x 2 steps (w_off), each row broadcasts 8 bytes
 * (steps s, s + 1) flipped once, so every lane does a product: N = 24
 * takes 3 vpdpbusd per row and pair of steps instead of 4, and a row's
 * broadcast and flip are paid once per two steps. The two lanes of a
 * column are added at the end (two vpermt2d and an add per 16 columns). */
#define MRP 8 /* rows per pair tile */
_Static_assert(MRP * 2 <= MR * NP, "8 rows of 2 panels fit the tile");
#define NVP 3 /* most vectors of 8 columns per pair tile (N % 64 <= 24) */

/* The 8 bytes x (steps s, s + 1 of a row) broadcast, each flipped to a + 128. */
QB_INLINE __m512i bcast_a8(int64_t x)
{
    return _mm512_xor_si512(_mm512_set1_epi64(x), _mm512_set1_epi32((int32_t)0x80808080u));
}

/* The tile's sums of mr_ rows against nv vectors of 8 columns:
 * tile[r * 2 + q] = ct[q] + sum_k w (a + 128) over panel q's 16 columns
 * (rows of 2 panels: 8 rows fit the MR x NP tile).
 * K is nt segments of kseg bytes (plain rows: one, K bytes at offset 0,
 * its last 1..7 bytes read without passing the row; taps: kseg a multiple
 * of 8, segment t at taps[t], its weights pairs t * kseg / 8 on). The
 * accumulators are an array GCC keeps in memory outside the K loop and in
 * registers inside it (initialised only where used, or as a flat array of
 * 24, it spilled inside the loop: 6400x24x864 1.5-2.4x slower). */
QB_MICRO void micro_pair(int mr_, int nv, const int8_t *a0, size_t lda, const ptrdiff_t *taps, int nt,
                         const uint8_t *w, size_t pstride, int kseg, const __m512i *ct, __m512i *tile)
{
    __m512i acc[MRP][NVP]; /* row r, vector v */
    for (int r = 0; r < MRP; r++) /* all of it: no lane is ever read unset */
        for (int v = 0; v < NVP; v++)
            acc[r][v] = _mm512_setzero_si512();
    const int npair = kseg / 8, rb = kseg % 8; /* whole pairs, bytes left (plain rows) */
    for (int t = 0; t < nt; t++) {
        const int8_t *a = a0 + (taps ? taps[t] : 0);
        const uint8_t *wt = w + (size_t)t * (size_t)npair * 128; /* the segment's first pair */
        for (int p = 0; p < npair; p++) {
            __m512i wv[NVP];
QB_UNROLL(GCC unroll 3)
            for (int v = 0; v < nv; v++) /* vector v: panel v / 2, its half v % 2 */
                wv[v] = _mm512_load_si512((const void *)(wt + (size_t)(v / 2) * pstride + (size_t)p * 128 +
                                                         (v % 2) * 64));
QB_UNROLL(GCC unroll 8)
            for (int r = 0; r < mr_; r++) {
                const __m512i av = bcast_a8(qb_ld64(a + r * lda + 8 * (size_t)p));
QB_UNROLL(GCC unroll 3)
                for (int v = 0; v < nv; v++)
                    acc[r][v] = _mm512_dpbusd_epi32(acc[r][v], av, wv[v]);
            }
        }
        if (rb) { /* plain rows: the last 1..7 bytes of each row, no read past the row */
            __m512i wv[NVP];
QB_UNROLL(GCC unroll 3)
            for (int v = 0; v < nv; v++)
                wv[v] = _mm512_load_si512((const void *)(wt + (size_t)(v / 2) * pstride + (size_t)npair * 128 +
                                                         (v % 2) * 64));
QB_UNROLL(GCC unroll 8)
            for (int r = 0; r < mr_; r++) {
                const __m512i av = bcast_a8(qb_ld64_tail(a + r * lda + 8 * (size_t)npair, rb));
QB_UNROLL(GCC unroll 3)
                for (int v = 0; v < nv; v++)
                    acc[r][v] = _mm512_dpbusd_epi32(acc[r][v], av, wv[v]);
            }
        }
    }
    const __m512i iev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i iod = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
QB_UNROLL(GCC unroll 8)
    for (int r = 0; r < mr_; r++)
QB_UNROLL(GCC unroll 2)
        for (int q = 0; q < (nv + 1) / 2; q++) {
            const __m512i lo = acc[r][2 * q];
            const __m512i hi = 2 * q + 1 < nv ? acc[r][2 * q + 1] : _mm512_setzero_si512();
            tile[r * 2 + q] = _mm512_add_epi32(_mm512_add_epi32(ct[q], _mm512_permutex2var_epi32(lo, iev, hi)),
                                                _mm512_permutex2var_epi32(lo, iod, hi));
        }
}

#define PAIR_CASE(m_, v_)                                                                          \
    case (m_) * 8 + (v_):                                                                          \
        micro_pair(m_, v_, a, lda, taps, nt, w, pstride, kseg, ct, tile);                          \
        break;
#define PAIR_ROW(m_) PAIR_CASE(m_, 1) PAIR_CASE(m_, 2) PAIR_CASE(m_, 3)

/* micro_pair for taps (nt segments), a function of its own. */
static __attribute__((noinline)) void micro_pair_taps_any(int mr, int nv, const int8_t *a, size_t lda,
                                                        const ptrdiff_t *taps, int nt, const uint8_t *w,
                                                        size_t pstride, int kseg, const __m512i *ct, __m512i *tile)
{
#if QB_SPECIALIZE
    switch (mr * 8 + nv) {
        PAIR_ROW(1) PAIR_ROW(2) PAIR_ROW(3) PAIR_ROW(4) PAIR_ROW(5) PAIR_ROW(6) PAIR_ROW(7) PAIR_ROW(8)
    default:
        break;
    }
#else
    micro_pair(mr, nv, a, lda, taps, nt, w, pstride, kseg, ct, tile);
#endif
}

/* micro_pair for plain rows (one segment of K bytes at offset 0: no
 * segment loop, the accumulators in registers throughout). */
static __attribute__((noinline)) void micro_pair_any(int mr, int nv, const int8_t *a, size_t lda,
                                                   const uint8_t *w, size_t pstride, int kseg, const __m512i *ct,
                                                   __m512i *tile)
{
    const ptrdiff_t *taps = NULL;
    const int nt = 1;
#if QB_SPECIALIZE
    switch (mr * 8 + nv) {
        PAIR_ROW(1) PAIR_ROW(2) PAIR_ROW(3) PAIR_ROW(4) PAIR_ROW(5) PAIR_ROW(6) PAIR_ROW(7) PAIR_ROW(8)
    default:
        break;
    }
#else
    micro_pair(mr, nv, a, lda, taps, nt, w, pstride, kseg, ct, tile);
#endif
}

static void gemm_i8(const qb_packed *p, const qb_gemm_args *g, int per_channel)
{
    const int N = p->n, K = p->k, M = g->m;
    const ptrdiff_t *taps = g->a_taps; /* segments of 4k bytes (gemm_i8_taps gathers others) */
    const int nt = taps ? g->a_ntaps : 1, kseg = K / nt;
    const int npanels = (N + 15) / 16, kfull = kseg / 4, krem = taps ? 0 : K % 4;
    const int run = g->a_run > 0 && g->a_run < M ? g->a_run : 0; /* rows per run of A (0: one run) */
    const size_t pstride = panel_bytes(K); /* bytes per panel (header, weights) */
    const int requant = !g->out_i32;
    const uint8_t *W = p->w;
    const int8_t *A = g->a;
    const __m512i azero = _mm512_set1_epi32(g->a_zero + 128); /* + 128: the flipped activations */
    qb_rqv rv[NP];       /* requantization of each panel of the tile */
    qb_rqf rf[NP];       /* its faster form, where fast[q] */
    int fast[NP] = {0};
    /* qb_rqf holds only for output zero points within QB_RQF_ZERO_MAX (vnni.h) */
    const int zok = g->c_zero >= -QB_RQF_ZERO_MAX && g->c_zero <= QB_RQF_ZERO_MAX;
    /* the largest zero point the rescaled multipliers must allow: this one */
    const int32_t zmax = zok && g->c_zero > 0 ? g->c_zero : 0;
    __m512i colterm[NP]; /* bias - a_zero * wsum of each panel */
    /* the output range where it is narrower than int8 (else the saturating store clamps) */
    const int clamp_lo = g->c_min > -128, clamp_hi = g->c_max < 127;
    const __m512i cmin = _mm512_set1_epi32(g->c_min), cmax = _mm512_set1_epi32(g->c_max);

    for (int q = 0; q < NP; q++) {
        qb_rqv_set_range(&rv[q], g->c_zero, g->c_min, g->c_max);
        if (requant && !per_channel) {
            qb_rqv_set_tensor(&rv[q], g->rq[0]);
            fast[q] = zok && qb_rqf_set_z(&rf[q], g->rq, 16, 0, zmax);
        }
    }
    /* rows per chunk: the per-panel set-up (qb_rqf_set_z) runs once per chunk,
     * so as many as keep the chunk's A rows in L2 */
    const int fit = MC_A / (K > 0 ? K : 1), mcr = fit > MC ? MC : fit < MC_MIN ? MC_MIN : fit;
    /* the last tile column (N % 64 columns) in pairs of steps, where packed so */
    const int pcols = pair_cols(N, K), nv = (N % 64 + 7) / 8;
    for (int mc = 0; mc < M; mc += mcr) {
        int mce = mc + mcr < M ? mc + mcr : M;
        /* each tile column of W is reused from L1 by every row block */
        for (int p0 = 0; p0 < npanels; p0 += NP) {
            int np = npanels - p0 < NP ? npanels - p0 : NP;
            const int pairs = pcols && p0 + NP >= npanels, mrmax = pairs ? MRP : MR;
            const int ts = pairs ? 2 : NP; /* the tile's row stride (pairs: up to 8 rows of 2 panels) */
            for (int q = 0; q < np; q++) {
                int n0 = (p0 + q) * 16, cnt = N - n0 < 16 ? N - n0 : 16;
                const panel_hdr *h = (const panel_hdr *)(W + (size_t)(p0 + q) * pstride);
                if (h->ok && h->a_zero == g->a_zero) { /* packed for this layer (qb_weights.gq) */
                    colterm[q] = _mm512_load_si512((const void *)h->colterm);
                } else {
                    __mmask16 mk = qb_mask16(cnt);
                    __m512i bias = _mm512_maskz_loadu_epi32(mk, p->bias_i32 + n0);
                    __m512i wsum = _mm512_maskz_loadu_epi32(mk, p->wsum + n0);
                    colterm[q] = _mm512_sub_epi32(bias, _mm512_mullo_epi32(azero, wsum));
                }
                if (requant && per_channel) {
                    if (packed_rq(h, g, n0, cnt)) {
                        if ((fast[q] = h->fast))
                            rf[q] = h->rf;
                    } else {
                        /* its scalar set-up pays off only over enough rows */
                        fast[q] = zok && mce - mc >= FAST_ROWS && qb_rqf_set_z(&rf[q], g->rq + n0, cnt, 1, zmax);
                    }
                    if (!fast[q])
                        qb_rqv_load_channels(&rv[q], g->rq + n0, cnt);
                }
            }
            /* row blocks of at most MR rows, balanced (8 rows: 4 + 4, not 6 + 2: a
             * thin tile reloads the same W for few vpdpbusd); with runs (a_run),
             * each run's rows in the chunk on their own (no tile spans two runs) */
            for (int m0 = mc; m0 < mce;) {
                const int pe = run && (m0 / run + 1) * run < mce ? (m0 / run + 1) * run : mce; /* the piece's end */
                const int nblk = (pe - m0 + mrmax - 1) / mrmax, base = (pe - m0) / nblk, extra = (pe - m0) % nblk;
                for (int bi = 0; m0 < pe; bi++) {
                    int mr = base + (bi < extra);
                    const int8_t *a = A + (run ? (size_t)(m0 / run) * g->a_run_ld + (size_t)(m0 % run) * g->lda
                                               : (size_t)m0 * g->lda);
                    __m512i tile[MR * NP]; /* row r, panel q at r * ts + q */
                    const uint8_t *wt = W + (size_t)p0 * pstride + HDR; /* the tile's first panel's weights */
                    if (pairs && taps)
                        micro_pair_taps_any(mr, nv, a, g->lda, taps, nt, wt, pstride, kseg, colterm, tile);
                    else if (pairs)
                        micro_pair_any(mr, nv, a, g->lda, wt, pstride, kseg, colterm, tile);
                    else if (taps)
                        micro_taps_any(mr, np, a, g->lda, taps, nt, wt, pstride, kfull, colterm, tile);
                    else
                        micro_any(mr, np, a, g->lda, wt, pstride, kfull, krem, colterm, tile);
                    if (requant && np == NP && (p0 + NP) * 16 <= N && fast[0] && fast[1] && fast[2] && fast[3] &&
                        K <= WIDE_K) {
                        /* four whole panels in the faster form: each row's 64 outputs narrowed
                         * together (two packs, one dword permute, the clamp once as bytes, one
                         * store; the same bytes as four vpmovsdb: saturating to int16 then int8
                         * is saturating to int8, and clamping after it is the same when c_min
                         * and c_max lie in int8) */
                        const __m512i zp = rv[0].zero, perm = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10,
                                                                                   14, 3, 7, 11, 15);
                        const __m512i lo8 = _mm512_set1_epi8((char)g->c_min), hi8 = _mm512_set1_epi8((char)g->c_max);
                        int8_t *c = (int8_t *)g->c + (size_t)m0 * g->ldc + p0 * 16;
                        for (int r = 0; r < mr; r++, c += g->ldc) {
                            __m512i v[NP];
QB_UNROLL(GCC unroll 4)
                            for (int q = 0; q < NP; q++)
                                v[q] = _mm512_add_epi32(qb_rqf_round(tile[r * NP + q], rf[q].m_e, rf[q].m_o, rf[q].rnd,
                                                                     rf[q].sh),
                                                        zp);
                            __m512i b = _mm512_packs_epi16(_mm512_packs_epi32(v[0], v[1]), _mm512_packs_epi32(v[2], v[3]));
                            b = _mm512_permutexvar_epi32(perm, b);
                            if (clamp_lo)
                                b = _mm512_max_epi8(b, lo8);
                            if (clamp_hi)
                                b = _mm512_min_epi8(b, hi8);
                            _mm512_storeu_si512((void *)c, b);
                        }
                        m0 += mr;
                        continue;
                    }
                    for (int q = 0; q < np; q++) {
                        int n0 = (p0 + q) * 16, cnt = N - n0 < 16 ? N - n0 : 16;
                        /* the panel's constants in locals: int8 stores may alias anything, so
                         * through rf/rv they would be reloaded for every row */
                        if (!requant) {
                            for (int r = 0; r < mr; r++) {
                                __m512i acc = tile[r * ts + q];
                                int32_t *c = (int32_t *)g->c + (size_t)(m0 + r) * g->ldc + n0;
                                if (cnt == 16)
                                    _mm512_storeu_si512((void *)c, acc);
                                else
                                    _mm512_mask_storeu_epi32(c, qb_mask16(cnt), acc);
                            }
                        } else if (fast[q]) {
                            /* r + zero (|r| < 2^30: no overflow), then clamped to c_min, c_max
                             * where they are narrower than int8 (the store saturates to it) */
                            const qb_rqf f = rf[q];
                            const __m512i zp = rv[q].zero;
                            int8_t *c = (int8_t *)g->c + (size_t)m0 * g->ldc + n0;
                            for (int r = 0; r < mr; r++, c += g->ldc) {
                                __m512i v = qb_rqf_round(tile[r * ts + q], f.m_e, f.m_o, f.rnd, f.sh);
                                v = _mm512_add_epi32(v, zp);
                                if (clamp_lo)
                                    v = _mm512_max_epi32(v, cmin);
                                if (clamp_hi)
                                    v = _mm512_min_epi32(v, cmax);
                                qb_store_i8x16(c, v, cnt);
                            }
                        } else {
                            const qb_rqv v = rv[q];
                            int8_t *c = (int8_t *)g->c + (size_t)m0 * g->ldc + n0;
                            for (int r = 0; r < mr; r++, c += g->ldc) {
                                qb_store_i8x16(c, qb_requant16(tile[r * ts + q], &v), cnt);
                            }
                        }
                    }
                    m0 += mr;
                }
            }
        }
    }
}

/* Taps whose segments are not a multiple of 4 bytes (a step of the pack
 * would straddle two segments): rows gathered into a contiguous copy,
 * GATHER_BYTES at a time, and multiplied as plain rows; rows longer than
 * that (never a conv's window in practice) by an exact scalar loop over
 * the pack (w = byte - 128), the reference's arithmetic. */
static void gemm_i8_taps(const qb_packed *p, const qb_gemm_args *g, int per_channel)
{
    const int K = p->k, nt = g->a_ntaps, kseg = K / nt, rows = GATHER_BYTES / (K > 0 ? K : 1);
    const size_t es = g->out_i32 ? 4 : 1, pstride = panel_bytes(K);
    const int pn0 = pair_cols(p->n, K) ? p->n - p->n % 64 : p->n; /* first column of pair panels */
    const int8_t *A = g->a;
    if (rows >= 1) {
        int8_t buf[GATHER_BYTES];
        for (int i0 = 0; i0 < g->m; i0 += rows) {
            int r = g->m - i0 < rows ? g->m - i0 : rows;
            for (int i = 0; i < r; i++)
                for (int t = 0; t < nt; t++)
                    memcpy(buf + (size_t)i * K + (size_t)t * kseg, A + qb_gemm_a_row(g, i0 + i) + g->a_taps[t],
                           (size_t)kseg);
            qb_gemm_args h = *g;
            h.m = r, h.a = buf, h.lda = (size_t)K, h.a_taps = NULL, h.a_ntaps = 0, h.a_run = 0;
            h.c = (char *)g->c + (size_t)i0 * g->ldc * es;
            gemm_i8(p, &h, per_channel);
        }
        return;
    }
    const uint8_t *W = p->w;
    for (int i = 0; i < g->m; i++)
        for (int j = 0; j < p->n; j++) {
            uint32_t acc = (uint32_t)p->bias_i32[j] - (uint32_t)g->a_zero * (uint32_t)p->wsum[j];
            const uint8_t *panel = W + (size_t)(j / 16) * pstride + HDR;
            for (int l = 0; l < K; l++) {
                int32_t a = A[qb_gemm_a_row(g, i) + g->a_taps[l / kseg] + l % kseg];
                acc += (uint32_t)(a * (int32_t)(int8_t)panel[w_off(j >= pn0, j % 16, l)]);
            }
            size_t at = (size_t)i * g->ldc + j;
            if (g->out_i32)
                ((int32_t *)g->c)[at] = (int32_t)acc;
            else
                ((int8_t *)g->c)[at] = qb_requant_apply((int32_t)acc, g->rq[per_channel ? j : 0], g->c_zero,
                                                        g->c_min, g->c_max);
        }
}

/* gemm_i8, or gemm_i8_taps for taps of segments not a multiple of 4 bytes
 * (8 where the pack's last columns are in pairs: a pair would straddle two
 * segments). */
QB_INLINE void gemm_i8_any(const qb_packed *p, const qb_gemm_args *g, int per_channel)
{
    if (g->a_taps && (p->k / g->a_ntaps) % (pair_cols(p->n, p->k) ? 8 : 4))
        gemm_i8_taps(p, g, per_channel);
    else
        gemm_i8(p, g, per_channel);
}

void QB_VNNI(qb_gemm_i8t__vnni)(const qb_packed *p, const qb_gemm_args *a) { gemm_i8_any(p, a, 0); }

void QB_VNNI(qb_gemm_i8c__vnni)(const qb_packed *p, const qb_gemm_args *a) { gemm_i8_any(p, a, 1); }
