/*
 * gemm_i8.c - AVX-512 VNNI int8 GEMM (int8-tensor and int8-channel),
 * bit-exact with kernels/scalar/gemm_i8.c.
 *
 * vpdpbusd multiplies unsigned by signed bytes, so the weights are stored
 * biased, w + 128 in [1, 255] as the unsigned operand, and the raw signed
 * activations are the signed operand (one 4-byte broadcast per row and
 * step, no per-step fix-up). The bias is removed per row once:
 *   acc = sum (w + 128) a  +  bias - a_zero * wsum  -  128 * sum a
 * which equals the reference modulo 2^32 (both wrap), then the lane-wise
 * requantization of vnni.h (its faster form, qb_rqf, for the panels whose
 * multipliers allow it) or the raw int32 (out_i32).
 *
 * Packed layout: panels of 16 output columns; within a panel, for each
 * step of 4 along K, 16 columns x 4 bytes (the vpdpbusd operand layout):
 *   byte (p * K4 + s) * 64 + 4 * c + t = w[16 p + c][4 s + t] + 128
 * K4 = ceil(K / 4); columns past N and k past K are 0 (contribute 0).
 * Register-blocked microkernel: up to 6 rows x 4 panels (64 columns) of
 * int32 accumulators (rows split into balanced blocks: 8 = 4 + 4); small
 * tiles (M = 1, 2) use two accumulator sets over
 * alternate K steps to hide the vpdpbusd latency. The accumulators start
 * at the tile's compensation (bias - a_zero * wsum - 128 * sum a), so the
 * epilogue is the requantization alone. Rows are taken in chunks of 96 to
 * 512 (their sums on the stack; as many as keep 256 KiB of A rows in L2:
 * the per-panel requantization set-up runs once per chunk); within a
 * chunk each 64-column tile column of W (64 K bytes) is reused from L1 by
 * every row block.
 */
#include "kernels/vnni/vnni.h"

#define MR 6        /* rows per microkernel tile */
#define NP 4        /* 16-column panels per microkernel tile */
#define MC 512      /* most rows per row chunk (row sums on the stack) */
#define MC_MIN 96   /* fewest rows per row chunk (K permitting: MC_A) */
#define MC_A (256 * 1024) /* A bytes per row chunk: it stays in L2 (1 MiB) beside W */
#define FAST_ROWS 32 /* rows of a chunk from which per-channel requantization takes qb_rqf */

size_t QB_VNNI(qb_gemm_i8__vnni_size)(int n, int k, int group)
{
    (void)group;
    return (size_t)((n + 15) / 16) * (size_t)((k + 3) / 4) * 64;
}

void QB_VNNI(qb_gemm_i8__vnni_pack)(const qb_weights *w, void *dst)
{
    uint8_t *out = dst;
    size_t k4 = ((size_t)w->k + 3) / 4;
    for (int j = 0; j < w->n; j++) {
        uint8_t *panel = out + (size_t)(j / 16) * k4 * 64 + 4 * (size_t)(j % 16);
        const int8_t *row = w->i8 + (size_t)j * w->k;
        for (int l = 0; l < w->k; l++)
            panel[(size_t)(l / 4) * 64 + l % 4] = (uint8_t)(row[l] + 128);
    }
}

/* The int32 accumulators of mr_ rows of A with np_ panels: tile[r * NP + q]
 * = ct[q] - rt[r] + sum_k (w + 128) a over the K of the 16 columns of panel
 * q (the compensation is the accumulators' start: no adds in the epilogue). */
QB_MICRO void micro(int mr_, int np_, const int8_t *a, size_t lda, const uint8_t *w, size_t pstride, int kfull,
                    int krem, const __m512i *ct, const int32_t *rt, __m512i *tile)
{
    __m512i acc[MR][NP], acc2[MR][NP];
    const int dual = mr_ * np_ <= 8; /* independent chains for small tiles */
    for (int r = 0; r < MR; r++) /* all of it: no lane is ever read unset */
        for (int q = 0; q < NP; q++)
            acc[r][q] = acc2[r][q] = _mm512_setzero_si512();
QB_UNROLL(GCC unroll 6)
    for (int r = 0; r < mr_; r++) {
        const __m512i rv = _mm512_set1_epi32(rt[r]);
QB_UNROLL(GCC unroll 4)
        for (int q = 0; q < np_; q++)
            acc[r][q] = _mm512_sub_epi32(ct[q], rv);
    }
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
                __m512i av = _mm512_set1_epi32(qb_ld32(a + r * lda + 4 * (size_t)s));
                __m512i av2 = _mm512_set1_epi32(qb_ld32(a + r * lda + 4 * (size_t)s + 4));
QB_UNROLL(GCC unroll 4)
                for (int q = 0; q < np_; q++) {
                    acc[r][q] = _mm512_dpbusd_epi32(acc[r][q], wv[q], av);
                    acc2[r][q] = _mm512_dpbusd_epi32(acc2[r][q], wv2[q], av2);
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
            __m512i av = _mm512_set1_epi32(qb_ld32(a + r * lda + 4 * (size_t)s));
QB_UNROLL(GCC unroll 4)
            for (int q = 0; q < np_; q++)
                acc[r][q] = _mm512_dpbusd_epi32(acc[r][q], wv[q], av);
        }
    }
    if (krem) { /* the last 1..3 bytes of each row: no read past the row */
        __m512i wv[NP] = {_mm512_setzero_si512()};
QB_UNROLL(GCC unroll 4)
        for (int q = 0; q < np_; q++)
            wv[q] = _mm512_load_si512((const void *)(w + q * pstride + (size_t)s * 64));
QB_UNROLL(GCC unroll 6)
        for (int r = 0; r < mr_; r++) {
            __m512i av = _mm512_set1_epi32(qb_ld32_tail(a + r * lda + 4 * (size_t)s, krem));
QB_UNROLL(GCC unroll 4)
            for (int q = 0; q < np_; q++)
                acc[r][q] = _mm512_dpbusd_epi32(acc[r][q], wv[q], av);
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
        micro(m_, n_, a, lda, w, pstride, kfull, krem, ct, rt, tile);                              \
        break;
#define MICRO_ROW(m_) MICRO_CASE(m_, 1) MICRO_CASE(m_, 2) MICRO_CASE(m_, 3) MICRO_CASE(m_, 4)

static void micro_any(int mr, int np, const int8_t *a, size_t lda, const uint8_t *w, size_t pstride,
                      int kfull, int krem, const __m512i *ct, const int32_t *rt, __m512i *tile)
{
#if QB_SPECIALIZE
    switch (mr * 8 + np) {
        MICRO_ROW(1) MICRO_ROW(2) MICRO_ROW(3) MICRO_ROW(4) MICRO_ROW(5) MICRO_ROW(6)
    default:
        break;
    }
#else
    micro(mr, np, a, lda, w, pstride, kfull, krem, ct, rt, tile);
#endif
}

static void gemm_i8(const qb_packed *p, const qb_gemm_args *g, int per_channel)
{
    const int N = p->n, K = p->k, M = g->m;
    const int npanels = (N + 15) / 16, kfull = K / 4, krem = K % 4;
    const size_t pstride = (size_t)((K + 3) / 4) * 64; /* bytes per panel */
    const int requant = !g->out_i32;
    const uint8_t *W = p->w;
    const int8_t *A = g->a;
    const __m512i azero = _mm512_set1_epi32(g->a_zero);
    int32_t rowterm[MC]; /* 128 * sum of each row of the row chunk */
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
    for (int mc = 0; mc < M; mc += mcr) {
        int mce = mc + mcr < M ? mc + mcr : M;
        for (int i = mc; i < mce; i++)
            rowterm[i - mc] = (int32_t)((uint32_t)qb_vnni_sum_s8(A + (size_t)i * g->lda, K) << 7);
        /* each tile column of W is reused from L1 by every row block */
        for (int p0 = 0; p0 < npanels; p0 += NP) {
            int np = npanels - p0 < NP ? npanels - p0 : NP;
            for (int q = 0; q < np; q++) {
                int n0 = (p0 + q) * 16, cnt = N - n0 < 16 ? N - n0 : 16;
                __mmask16 mk = qb_mask16(cnt);
                __m512i bias = _mm512_maskz_loadu_epi32(mk, p->bias_i32 + n0);
                __m512i wsum = _mm512_maskz_loadu_epi32(mk, p->wsum + n0);
                colterm[q] = _mm512_sub_epi32(bias, _mm512_mullo_epi32(azero, wsum));
                if (requant && per_channel) {
                    qb_rqv_load_channels(&rv[q], g->rq + n0, cnt);
                    /* its scalar set-up pays off only over enough rows */
                    fast[q] = zok && mce - mc >= FAST_ROWS && qb_rqf_set_z(&rf[q], g->rq + n0, cnt, 1, zmax);
                }
            }
            /* row blocks of at most MR rows, balanced (8 rows: 4 + 4, not 6 + 2: a
             * thin tile reloads the same W for few vpdpbusd) */
            const int nblk = (mce - mc + MR - 1) / MR, base = (mce - mc) / nblk, extra = (mce - mc) % nblk;
            for (int m0 = mc, bi = 0; m0 < mce; bi++) {
                int mr = base + (bi < extra);
                const int8_t *a = A + (size_t)m0 * g->lda;
                __m512i tile[MR * NP];
                micro_any(mr, np, a, g->lda, W + (size_t)p0 * pstride, pstride, kfull, krem, colterm,
                          rowterm + (m0 - mc), tile);
                for (int q = 0; q < np; q++) {
                    int n0 = (p0 + q) * 16, cnt = N - n0 < 16 ? N - n0 : 16;
                    /* the panel's constants in locals: int8 stores may alias anything, so
                     * through rf/rv they would be reloaded for every row */
                    if (!requant) {
                        for (int r = 0; r < mr; r++) {
                            __m512i acc = tile[r * NP + q];
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
                            __m512i v = qb_rqf_round(tile[r * NP + q], f.m_e, f.m_o, f.rnd, f.sh);
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
                            qb_store_i8x16(c, qb_requant16(tile[r * NP + q], &v), cnt);
                        }
                    }
                }
                m0 += mr;
            }
        }
    }
}

void QB_VNNI(qb_gemm_i8t__vnni)(const qb_packed *p, const qb_gemm_args *a) { gemm_i8(p, a, 0); }

void QB_VNNI(qb_gemm_i8c__vnni)(const qb_packed *p, const qb_gemm_args *a) { gemm_i8(p, a, 1); }
