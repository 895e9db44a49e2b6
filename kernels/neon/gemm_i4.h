/*
 * gemm_i4.h - the NEON int4-weight GEMM engine shared by gemm_i4.c (base
 * ARMv8-A) and gemm_i4_dot.c (FEAT_DotProd), private to kernels/neon,
 * everything static. The including file defines NR (output channels per
 * panel: 4 or 8) and NACC (int32x4 accumulators per row) before including
 * it, and after it the three pieces declared below: the packed layout
 * (qb_ni4_at), the ISA's step over one block of 32 k (qb_ni4_step) and the
 * reduction of a row's accumulators to column sums (qb_ni4_quad). This
 * header itself is base ARMv8-A only.
 *
 * int8 activations; micro-tiles of up to 4 rows x NR columns; per block of
 * 32 k, two vectors of 16 activations per row (the last K % 32 k through a
 * copy, never reading past a row). Group sizes are multiples of 32 (or one
 * group of K), so each block lies in one group; at the end of a group its
 * exact integer sum isum - a_zero * wsum goes to float and
 * acc = fmaf(isum, scale, acc) (vfmaq_f32: one rounding, as fmaf), groups
 * in order; then C = fmaf(acc, a_scale, bias), clamp. Bit-exact with the
 * scalar reference.
 * Packed layout: panels of NR output channels; panel p holds, for each
 * block of 32 k (K rounded up to 32), NR x 16 bytes in the including
 * file's order, each byte two k 16 apart: the lower k in the low nibble
 * (two's complement; zeros past N and K).
 */
#ifndef QB_NEON_GEMM_I4_H
#define QB_NEON_GEMM_I4_H

#include "kernels/neon/common.h"

#if !defined(NR) || (NR != 4 && NR != 8) || !defined(NACC)
#error "define NR (4 or 8) and NACC before including gemm_i4.h"
#endif

#define MR 4        /* rows of A per micro-tile */
#define KB 32       /* k per block */
#define NQ (NR / 4) /* quads of 4 output channels per panel */

/* Byte of the packed weights that holds W[j][l] (nb: blocks per panel). */
QB_NEON_INLINE size_t qb_ni4_at(int j, int l, size_t nb);
/* acc[r][*] (r < mr) += the products of the block's activations (a0[r]:
 * k 0..15 of row r, a1[r]: k 16..31) and its NR x 16 packed bytes at wb. */
QB_NEON_INLINE void qb_ni4_step(int32x4_t acc[MR][NACC], const int8x16_t *a0, const int8x16_t *a1,
                                const int8_t *wb, const int mr);
/* The sums of columns 4q .. 4q+3 (q < NQ) from the accumulators of a row. */
QB_NEON_INLINE int32x4_t qb_ni4_quad(const int32x4_t *acc, const int q);

/* Bytes of the packed weights (group: the layout does not depend on it). */
static size_t qb_ni4_size(int n, int k, int group)
{
    (void)group;
    return qb_neon_round_up(n, NR) * qb_neon_round_up(k, KB) / 2;
}

/* Packs w->i8 (int4 values) as nibbles at the bytes of qb_ni4_at (dst
 * zeroed: padding stays zero). */
static void qb_ni4_pack(const qb_weights *w, void *dst)
{
    uint8_t *out = dst;
    size_t nb = qb_neon_round_up(w->k, KB) / KB;
    for (int j = 0; j < w->n; j++)
        for (int l = 0; l < w->k; l++) {
            uint8_t nib = (uint8_t)(w->i8[(size_t)j * w->k + l] & 0xf);
            out[qb_ni4_at(j, l, nb)] |= (uint8_t)(l % KB < 16 ? nib : nib << 4);
        }
}

/* Rows i0 .. i0+mr-1 of C for the panel of columns j0 .. j0+nc-1. */
QB_NEON_INLINE void qb_ni4_tile(const qb_packed *p, const qb_gemm_args *a, int i0, int j0, const int mr)
{
    const int K = p->k, ng = p->ngroups;
    size_t nb = qb_neon_round_up(K, KB) / KB, nfull = (size_t)K / KB;
    const int8_t *wp = (const int8_t *)p->w + (size_t)(j0 / NR) * NR * nb * (KB / 2);
    int nc = p->n - j0 < NR ? p->n - j0 : NR;
    const int8_t *ar[MR];
    float32x4_t facc[MR][NQ];
    #pragma GCC unroll 4
    for (int r = 0; r < mr; r++) {
        ar[r] = (const int8_t *)a->a + (size_t)(i0 + r) * a->lda;
        #pragma GCC unroll 2
        for (int q = 0; q < NQ; q++) facc[r][q] = vdupq_n_f32(0.0f);
    }
    for (int g = 0; g < ng; g++) {
        /* blocks of group g (group is a multiple of 32 when ng > 1) */
        size_t b0 = ng == 1 ? 0 : (size_t)g * p->group / KB;
        size_t b1 = ng == 1 ? nb : (size_t)(g + 1) * p->group / KB;
        b1 = b1 < nb ? b1 : nb;
        int32x4_t acc[MR][NACC];
        #pragma GCC unroll 4
        for (int r = 0; r < mr; r++) {
            #pragma GCC unroll 4
            for (int c = 0; c < NACC; c++) acc[r][c] = vdupq_n_s32(0);
        }
        size_t bf = b1 < nfull ? b1 : nfull;
        for (size_t b = b0; b < bf; b++) {
            int8x16_t a0[MR], a1[MR];
            #pragma GCC unroll 4
            for (int r = 0; r < mr; r++) {
                a0[r] = vld1q_s8(ar[r] + b * KB);
                a1[r] = vld1q_s8(ar[r] + b * KB + 16);
            }
            qb_ni4_step(acc, a0, a1, wp + b * NR * (KB / 2), mr);
        }
        if (b1 > nfull) { /* the last K % 32 k: copies, never reading past a row */
            int8x16_t a0[MR], a1[MR];
            #pragma GCC unroll 4
            for (int r = 0; r < mr; r++) {
                int8_t t[KB] = {0};
                memcpy(t, ar[r] + nfull * KB, (size_t)K - nfull * KB);
                a0[r] = vld1q_s8(t);
                a1[r] = vld1q_s8(t + 16);
            }
            qb_ni4_step(acc, a0, a1, wp + nfull * NR * (KB / 2), mr);
        }
        int32_t ws[NR] = {0};
        float sc[NR] = {0};
        for (int c = 0; c < nc; c++) {
            ws[c] = p->wsum[(size_t)(j0 + c) * ng + g];
            sc[c] = p->scale[(size_t)(j0 + c) * ng + g];
        }
        int32x4_t az = vdupq_n_s32(a->a_zero), zw[NQ];
        float32x4_t scale[NQ];
        #pragma GCC unroll 2
        for (int q = 0; q < NQ; q++) {
            zw[q] = vmulq_s32(vld1q_s32(ws + 4 * q), az);
            scale[q] = vld1q_f32(sc + 4 * q);
        }
        #pragma GCC unroll 4
        for (int r = 0; r < mr; r++) {
            #pragma GCC unroll 2
            for (int q = 0; q < NQ; q++) {
                float32x4_t isum = vcvtq_f32_s32(vsubq_s32(qb_ni4_quad(acc[r], q), zw[q]));
                facc[r][q] = vfmaq_f32(facc[r][q], isum, scale[q]);
            }
        }
    }
    float32x4_t bias[NQ];
    #pragma GCC unroll 2
    for (int q = 0; q < NQ; q++) /* nc >= 1: quad 0 always has columns */
        bias[q] = q == 0 || nc > 4 * q ? qb_neon_load_f32(p->bias_f32 + j0 + 4 * q, nc - 4 * q)
                                       : vdupq_n_f32(0.0f);
    float32x4_t as = vdupq_n_f32(a->a_scale), lo = vdupq_n_f32(a->f_min), hi = vdupq_n_f32(a->f_max);
    #pragma GCC unroll 4
    for (int r = 0; r < mr; r++) {
        float32x4_t v[NQ];
        #pragma GCC unroll 2
        for (int q = 0; q < NQ; q++) v[q] = vfmaq_f32(bias[q], facc[r][q], as);
        qb_neon_store_row_f32((float *)a->c + (size_t)(i0 + r) * a->ldc + j0, v, nc, lo, hi, NQ);
    }
}

/* The whole GEMM. */
QB_NEON_INLINE void qb_ni4_gemm(const qb_packed *p, const qb_gemm_args *a)
{
#define QB_NI4_TILE(mr) qb_ni4_tile(p, a, i0, j0, mr)
    QB_NEON_GEMM_LOOP(a->m, p->n, (size_t)p->k, NR, MR, QB_NI4_TILE);
#undef QB_NI4_TILE
}

#endif
