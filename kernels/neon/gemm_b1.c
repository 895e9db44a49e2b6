/*
 * gemm_b1.c - NEON binary GEMM, XNOR-popcount (qb_gemm_b1__neon).
 * Micro-tiles of up to 4 rows x 4 columns, 128 bits (2 words) per step:
 * veorq_u8 of activation and weight bits, vcntq_u8 per byte, byte counts
 * summed in uint8 over at most 31 steps (31 * 8 = 248 fits) and then
 * widened with pairwise adds into one uint32 count per (row, column).
 * dot = K - 2 * popcount (exact), C = fmaf(dot, alpha, bias) (vfmaq_f32,
 * one rounding), clamp: bit-exact with the scalar reference.
 * Packed layout: panels of 4 output channels; panel p holds, for each pair
 * of 64-bit words (ceil(K/64) words rounded up to even), the 2 words of
 * column 4p + 0, then 4p + 1, 4p + 2, 4p + 3 (sign bits, bit j of word i
 * = element 64i + j; zeros past N and K).
 */
#include "kernels/neon/common.h"

#define NR 4      /* output channels per panel */
#define MR 4      /* rows of A per micro-tile */
#define RUN 31    /* steps summed in uint8 before widening */

static size_t nsteps(int k) { return (qb_binary_words(k) + 1) / 2; }

size_t qb_gemm_b1__neon_size(int n, int k, int group)
{
    (void)group;
    return sizeof(uint64_t) * qb_neon_round_up(n, NR) * nsteps(k) * 2;
}

void qb_gemm_b1__neon_pack(const qb_weights *w, void *dst)
{
    uint64_t *out = dst;
    size_t words = qb_binary_words(w->k), ns = nsteps(w->k);
    for (int j = 0; j < w->n; j++)
        for (size_t wd = 0; wd < words; wd++) {
            int lim = w->k - (int)wd * 64 < 64 ? w->k - (int)wd * 64 : 64;
            size_t at = (((size_t)(j / NR) * ns + wd / 2) * NR + j % NR) * 2 + wd % 2;
            qb_binary_pack_rows(w->f32 + (size_t)j * w->k + wd * 64, 1, lim, (size_t)lim, out + at, 1);
        }
}

/* cnt[r][c] += bit counts of (row r ^ column c) over one step of 128 bits. */
QB_NEON_INLINE void step(uint8x16_t cnt[MR][NR], const uint8x16_t *av, const uint64_t *ws, const int mr)
{
    #pragma GCC unroll 4
    for (int c = 0; c < NR; c++) {
        uint8x16_t w = vreinterpretq_u8_u64(vld1q_u64(ws + 2 * c));
        #pragma GCC unroll 4
        for (int r = 0; r < mr; r++)
            cnt[r][c] = vaddq_u8(cnt[r][c], vcntq_u8(veorq_u8(av[r], w)));
    }
}

/* Rows i0 .. i0+mr-1 of C for the panel of columns j0 .. j0+nc-1. */
QB_NEON_INLINE void tile(const qb_packed *p, const qb_gemm_args *a, int i0, int j0, const int mr)
{
    size_t words = qb_binary_words(p->k), ns = nsteps(p->k), sfull = words / 2;
    const uint64_t *wp = (const uint64_t *)p->w + (size_t)(j0 / NR) * NR * ns * 2;
    const uint64_t *ar[MR];
    uint32x4_t pop[MR];
    #pragma GCC unroll 4
    for (int r = 0; r < mr; r++) {
        ar[r] = (const uint64_t *)a->a + (size_t)(i0 + r) * a->lda;
        pop[r] = vdupq_n_u32(0);
    }
    for (size_t s0 = 0; s0 < ns; s0 += RUN) {
        size_t s1 = ns - s0 < RUN ? ns : s0 + RUN;
        uint8x16_t cnt[MR][NR];
        #pragma GCC unroll 4
        for (int r = 0; r < mr; r++) {
            #pragma GCC unroll 4
            for (int c = 0; c < NR; c++) cnt[r][c] = vdupq_n_u8(0);
        }
        size_t sf = s1 < sfull ? s1 : sfull;
        for (size_t s = s0; s < sf; s++) {
            uint8x16_t av[MR];
            #pragma GCC unroll 4
            for (int r = 0; r < mr; r++) av[r] = vreinterpretq_u8_u64(vld1q_u64(ar[r] + 2 * s));
            step(cnt, av, wp + s * NR * 2, mr);
        }
        if (s1 > sfull) { /* odd word count: the last word alone, never reading past a row */
            uint8x16_t av[MR];
            #pragma GCC unroll 4
            for (int r = 0; r < mr; r++)
                av[r] = vreinterpretq_u8_u64(vcombine_u64(vld1_u64(ar[r] + 2 * sfull), vdup_n_u64(0)));
            step(cnt, av, wp + sfull * NR * 2, mr);
        }
        #pragma GCC unroll 4
        for (int r = 0; r < mr; r++) {
            uint16x8_t x01 = vpaddq_u16(vpaddlq_u8(cnt[r][0]), vpaddlq_u8(cnt[r][1]));
            uint16x8_t x23 = vpaddq_u16(vpaddlq_u8(cnt[r][2]), vpaddlq_u8(cnt[r][3]));
            pop[r] = vaddq_u32(pop[r], vpaddlq_u16(vpaddq_u16(x01, x23)));
        }
    }
    int nc = p->n - j0 < NR ? p->n - j0 : NR;
    float32x4_t bias = qb_neon_load_f32(p->bias_f32 + j0, nc), alpha = qb_neon_load_f32(p->scale + j0, nc);
    float32x4_t lo = vdupq_n_f32(a->f_min), hi = vdupq_n_f32(a->f_max);
    int32x4_t kv = vdupq_n_s32(p->k);
    #pragma GCC unroll 4
    for (int r = 0; r < mr; r++) {
        int32x4_t dot = vsubq_s32(kv, vreinterpretq_s32_u32(vshlq_n_u32(pop[r], 1)));
        float32x4_t v = qb_neon_clampf(vfmaq_f32(bias, vcvtq_f32_s32(dot), alpha), lo, hi);
        qb_neon_store_f32((float *)a->c + (size_t)(i0 + r) * a->ldc + j0, v, nc);
    }
}

void qb_gemm_b1__neon(const qb_packed *p, const qb_gemm_args *a)
{
#define TILE(mr) tile(p, a, i0, j0, mr)
    QB_NEON_GEMM_LOOP(a->m, p->n, sizeof(uint64_t) * qb_binary_words(p->k), NR, MR, TILE);
}
