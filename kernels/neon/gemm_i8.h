/*
 * gemm_i8.h - the NEON int8 GEMM engine shared by gemm_i8.c (base
 * ARMv8-A) and gemm_i8_dot.c (FEAT_DotProd), private to kernels/neon,
 * everything static. The including file defines NR (output channels per
 * panel: 4 or 16) before including it, and after it the three pieces
 * declared below: the packed layout (qb_ni8_at), the ISA's step over one
 * block of 16 k (qb_ni8_step) and the reduction of a row's accumulators to
 * column sums (qb_ni8_quad). This header itself is base ARMv8-A only.
 *
 * Micro-tiles of up to 4 rows x NR columns with 4 int32x4 accumulators per
 * row; per block of 16 k, one vector of 16 activations per row (the last
 * K % 16 k through a copy, never reading past a row). Then, per quad of 4
 * columns, acc = bias - a_zero * wsum + sum a * w (wrap-around int32),
 * stored raw as int32 (out_i32) or with the requantization of kernels.h
 * (bit-exact with the scalar reference) as int8.
 * Packed layout: panels of NR output channels; panel p holds, for each
 * block of 16 k (K rounded up to 16), NR x 16 bytes in the including
 * file's order (zeros past N and K).
 */
#ifndef QB_NEON_GEMM_I8_H
#define QB_NEON_GEMM_I8_H

#include "kernels/neon/common.h"

#if !defined(NR) || (NR != 4 && NR != 16)
#error "define NR (4 or 16) before including gemm_i8.h"
#endif

#define MR 4        /* rows of A per micro-tile */
#define KB 16       /* k per block */
#define NQ (NR / 4) /* quads of 4 output channels per panel */

/* Byte of the packed weights that holds W[j][l] (nb: blocks per panel). */
QB_NEON_INLINE size_t qb_ni8_at(int j, int l, size_t nb);
/* acc[r][*] (r < mr) += the products of the block's activations av[r]
 * (16 k of row r) and its NR x 16 packed weights at wb. */
QB_NEON_INLINE void qb_ni8_step(int32x4_t acc[MR][4], const int8x16_t *av, const int8_t *wb, const int mr);
/* The sums of columns 4q .. 4q+3 (q < NQ) from the accumulators of a row. */
QB_NEON_INLINE int32x4_t qb_ni8_quad(const int32x4_t *acc, const int q);

/* Bytes of the packed weights (group: unused). */
static size_t qb_ni8_size(int n, int k, int group)
{
    (void)group;
    return qb_neon_round_up(n, NR) * qb_neon_round_up(k, KB);
}

/* Packs w->i8 into the layout of qb_ni8_at (dst zeroed: padding stays zero). */
static void qb_ni8_pack(const qb_weights *w, void *dst)
{
    int8_t *out = dst;
    size_t nb = qb_neon_round_up(w->k, KB) / KB;
    for (int j = 0; j < w->n; j++)
        for (int l = 0; l < w->k; l++)
            out[qb_ni8_at(j, l, nb)] = w->i8[(size_t)j * w->k + l];
}

/* Rows i0 .. i0+mr-1 of C for the panel of columns j0 .. j0+nc-1. */
QB_NEON_INLINE void qb_ni8_tile(const qb_packed *p, const qb_gemm_args *a, int i0, int j0, const qb_neon_rq *rq_t,
                                const qb_neon_clamp *cl, int per_channel, const int mr)
{
    const int K = p->k;
    size_t nb = qb_neon_round_up(K, KB) / KB, nfull = (size_t)K / KB;
    const int8_t *wp = (const int8_t *)p->w + (size_t)(j0 / NR) * NR * nb * KB;
    const int8_t *ar[MR];
    int32x4_t acc[MR][4];
    #pragma GCC unroll 4
    for (int r = 0; r < mr; r++) {
        ar[r] = (const int8_t *)a->a + (size_t)(i0 + r) * a->lda;
        #pragma GCC unroll 4
        for (int c = 0; c < 4; c++) acc[r][c] = vdupq_n_s32(0);
    }
    for (size_t b = 0; b < nfull; b++) {
        int8x16_t av[MR];
        #pragma GCC unroll 4
        for (int r = 0; r < mr; r++) av[r] = vld1q_s8(ar[r] + b * KB);
        qb_ni8_step(acc, av, wp + b * NR * KB, mr);
    }
    if (nfull < nb) { /* the last K % 16 k: copies, never reading past a row */
        int8x16_t av[MR];
        #pragma GCC unroll 4
        for (int r = 0; r < mr; r++) {
            int8_t t[KB] = {0};
            memcpy(t, ar[r] + nfull * KB, (size_t)K - nfull * KB);
            av[r] = vld1q_s8(t);
        }
        qb_ni8_step(acc, av, wp + nfull * NR * KB, mr);
    }
    int nc = p->n - j0 < NR ? p->n - j0 : NR;
    int32x4_t base[NQ];
    qb_neon_rq rq[NQ];
    #pragma GCC unroll 4
    for (int q = 0; q < NQ; q++) {
        int n = nc - 4 * q, live = NQ == 1 || n > 0; /* columns in this quad (nc >= 1) */
        base[q] = live ? qb_neon_i8_base(p, j0 + 4 * q, n, a->a_zero) : vdupq_n_s32(0);
        rq[q] = live && per_channel && !a->out_i32 ? qb_neon_rq_load(a->rq + j0 + 4 * q, n) : *rq_t;
    }
    #pragma GCC unroll 4
    for (int r = 0; r < mr; r++) {
        size_t at = (size_t)(i0 + r) * a->ldc + j0;
        int32x4_t v[NQ];
        #pragma GCC unroll 4
        for (int q = 0; q < NQ; q++) v[q] = vaddq_s32(base[q], qb_ni8_quad(acc[r], q));
        if (a->out_i32) {
            #pragma GCC unroll 4
            for (int q = 0; q < NQ; q++) if (NQ == 1 || nc > 4 * q)
                qb_neon_store_s32((int32_t *)a->c + at + 4 * q, v[q], nc - 4 * q);
        } else {
            #pragma GCC unroll 4
            for (int q = 0; q < NQ; q++) v[q] = qb_neon_requant(v[q], &rq[q], cl);
#if NQ == 4
            qb_neon_store_s8((int8_t *)a->c + at, qb_neon_narrow16(v[0], v[1], v[2], v[3]), nc);
#else
            qb_neon_store_s8x4((int8_t *)a->c + at, v[0], nc);
#endif
        }
    }
}

/* The whole GEMM; per_channel: one multiplier per output channel. */
static void qb_ni8_gemm(const qb_packed *p, const qb_gemm_args *a, int per_channel)
{
    qb_neon_rq rq_t = qb_neon_rq_dup(a->out_i32 ? (qb_requant){1 << 30, 31} : a->rq[0]);
    qb_neon_clamp cl = qb_neon_clamp_make(a->c_zero, a->c_min, a->c_max);
#define QB_NI8_TILE(mr) qb_ni8_tile(p, a, i0, j0, &rq_t, &cl, per_channel, mr)
    QB_NEON_GEMM_LOOP(a->m, p->n, (size_t)p->k, NR, MR, QB_NI8_TILE);
#undef QB_NI8_TILE
}

#endif
