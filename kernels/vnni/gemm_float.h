/*
 * gemm_float.h - the AVX-512 fp32-accumulating GEMM shared by gemm_f32.c
 * (fp32 weights) and gemm_f16.c (binary16 weights widened with vcvtph2ps):
 * C = clamp(A . W^T + b), fp32 FMAs (within the float tolerance of the
 * checks, not bit-exact with the scalar order).
 *
 * Packed layout (element = float or binary16): panels of 16 output
 * columns, within a panel K rows of 16 consecutive columns:
 *   elem (p * K + k) * 16 + c = w[16 p + c][k], columns past N zero.
 * Register-blocked microkernel: up to 6 rows x 4 panels (64 columns) of
 * fp32 accumulators, A broadcast one element at a time (never read past a
 * row); tiles of at most 8 accumulators (M = 1, 2) keep two sets over
 * alternate k to hide the FMA latency and prefetch ahead (they stream W
 * from memory). Panels are visited in chunks that stay in L2 while every
 * row block passes over them. With qb_gemm_args.a_taps (direct conv) the
 * k loop runs once per segment of K, each from its own offset into A, and
 * a row block's last tile prefetches the next block's segments.
 */
#ifndef QB_VNNI_GEMM_FLOAT_H
#define QB_VNNI_GEMM_FLOAT_H

#include "kernels/vnni/vnni.h"

#define GF_MR 6           /* rows per microkernel tile */
#define GF_NP 4           /* 16-column panels per microkernel tile */
#define GF_CHUNK_BYTES (768 * 1024) /* packed weights per row sweep (L2) */
#define GF_PF 1024          /* software prefetch distance along a panel (bytes), small tiles */
#define GF_PF_MIN (2 << 20) /* prefetch only weights this large (beyond L2: streamed from memory) */

/* 16 weights of one panel row as fp32 (half: binary16 storage). */
QB_INLINE __m512 gf_load(const void *w, size_t idx, int half)
{
    if (half)
        return _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)((const uint16_t *)w + idx)));
    return _mm512_load_ps((const float *)w + idx);
}

/* One tile's call: rows and panels are the tile shape. */
typedef struct gf_job {
    const float *a;       /* A at the tile's first row */
    size_t lda;           /* floats between rows of A */
    const void *w;        /* packed W at the tile's first panel */
    size_t pstride;       /* elements between panels */
    int kn;               /* k steps per segment of A (K without taps) */
    const ptrdiff_t *taps; /* offsets of A's K segments from a row (elements), NULL: one segment */
    int ntaps;            /* segments (1 without taps) */
    const float *bias;    /* bias of the tile's first column */
    float *c;             /* C at the tile's first row and column */
    size_t ldc;           /* floats between rows of C */
    int cnt_last;         /* valid columns of the last panel */
    int pf;               /* prefetch W ahead (small tiles, W from memory) */
    const float *pfa;     /* taps: the next row block's A, prefetched segment by segment; NULL: none */
    int pfa_rows;         /* rows of that block */
    __m512 lo, hi;        /* f_min, f_max */
} gf_job;

/* Prefetch segment t of the next row block's A (taps scatter A over rows
 * of the image: no stream for the hardware to follow). Out of line: one
 * copy, not one per microkernel shape. */
static __attribute__((noinline)) void gf_prefetch_a(const gf_job *j, int t)
{
    for (int r = 0; r < j->pfa_rows; r++) {
        const float *pa = j->pfa + r * j->lda + j->taps[t];
        for (int o = 0; o < j->kn; o += 16)
            __builtin_prefetch(pa + o);
        __builtin_prefetch(pa + j->kn - 1);
    }
}

/* Dot products of mr_ rows of A with np_ panels over all K, plus bias,
 * clamped and stored to C (cnt_last valid columns in the last panel). */
QB_MICRO void gf_micro(int mr_, int np_, int half, const gf_job *j)
{
    __m512 acc[GF_MR][GF_NP], acc2[GF_MR][GF_NP];
    const int dual = mr_ * np_ <= 8;
    const size_t lda = j->lda, pstride = j->pstride;
    const int K = j->kn;
    /* all of it (no lane is ever read unset), unrolled: the accumulators
     * stay in registers (a loop kept them on the stack, zeroed, copied and
     * reloaded each tile: ~120 cycles a tile, 25% of a K = 32 tile) */
QB_UNROLL(GCC unroll 6)
    for (int r = 0; r < GF_MR; r++)
QB_UNROLL(GCC unroll 4)
        for (int q = 0; q < GF_NP; q++)
            acc[r][q] = acc2[r][q] = _mm512_setzero_ps();
    for (int t = 0; t < j->ntaps; t++) {
        const float *a = j->a + (j->taps ? j->taps[t] : 0);
        /* the segment's weights: rows t * K .. t * K + K - 1 of every panel */
        const void *w = (const char *)j->w + (size_t)t * K * 16 * (half ? 2 : 4);
        if (j->pfa)
            gf_prefetch_a(j, t);
        int k = 0;
        if (dual) {
            for (; k + 2 <= K; k += 2) {
                __m512 wv[GF_NP] = {_mm512_setzero_ps()}, wv2[GF_NP] = {_mm512_setzero_ps()};
QB_UNROLL(GCC unroll 4)
                for (int q = 0; q < np_; q++) {
                    wv[q] = gf_load(w, q * pstride + (size_t)k * 16, half);
                    wv2[q] = gf_load(w, q * pstride + (size_t)k * 16 + 16, half);
                    const char *pf = (const char *)w + (q * pstride + (size_t)k * 16) * (half ? 2 : 4) + GF_PF;
                    if (j->pf) {
                        __builtin_prefetch(pf);
                        if (!half)
                            __builtin_prefetch(pf + 64);
                    }
                }
QB_UNROLL(GCC unroll 6)
                for (int r = 0; r < mr_; r++) {
                    __m512 av = _mm512_set1_ps(a[r * lda + k]);
                    __m512 av2 = _mm512_set1_ps(a[r * lda + k + 1]);
QB_UNROLL(GCC unroll 4)
                    for (int q = 0; q < np_; q++) {
                        acc[r][q] = _mm512_fmadd_ps(av, wv[q], acc[r][q]);
                        acc2[r][q] = _mm512_fmadd_ps(av2, wv2[q], acc2[r][q]);
                    }
                }
            }
        }
        for (; k < K; k++) {
            __m512 wv[GF_NP] = {_mm512_setzero_ps()};
QB_UNROLL(GCC unroll 4)
            for (int q = 0; q < np_; q++)
                wv[q] = gf_load(w, q * pstride + (size_t)k * 16, half);
QB_UNROLL(GCC unroll 6)
            for (int r = 0; r < mr_; r++) {
                __m512 av = _mm512_set1_ps(a[r * lda + k]);
QB_UNROLL(GCC unroll 4)
                for (int q = 0; q < np_; q++)
                    acc[r][q] = _mm512_fmadd_ps(av, wv[q], acc[r][q]);
            }
        }
    }
QB_UNROLL(GCC unroll 4)
    for (int q = 0; q < np_; q++) {
        int cnt = q == np_ - 1 ? j->cnt_last : 16;
        __mmask16 mk = qb_mask16(cnt);
        __m512 b = _mm512_maskz_loadu_ps(mk, j->bias + 16 * q);
QB_UNROLL(GCC unroll 6)
        for (int r = 0; r < mr_; r++) {
            __m512 v = dual ? _mm512_add_ps(acc[r][q], acc2[r][q]) : acc[r][q];
            v = qb_clamp_ps(_mm512_add_ps(v, b), j->lo, j->hi);
            float *c = j->c + r * j->ldc + 16 * q;
            if (cnt == 16)
                _mm512_storeu_ps(c, v);
            else
                _mm512_mask_storeu_ps(c, mk, v);
        }
    }
}

#define GF_CASE(m_, n_)                                                                            \
    case (m_) * 8 + (n_):                                                                          \
        gf_micro(m_, n_, half, &j);                                                                \
        break;
#define GF_ROW(m_) GF_CASE(m_, 1) GF_CASE(m_, 2) GF_CASE(m_, 3) GF_CASE(m_, 4)

/* The whole GEMM; half: the weights are binary16. Panels are taken in
 * chunks that stay in L2 while every row block passes over them (the row
 * block's A stays in L1). */
QB_INLINE void gf_gemm(const qb_packed *p, const qb_gemm_args *g, int half)
{
    const int N = p->n, K = p->k, M = g->m;
    const int npanels = (N + 15) / 16;
    const size_t esize = half ? 2 : 4;
    const int ntaps = g->a_taps ? g->a_ntaps : 1;
    gf_job j = {.lda = g->lda, .pstride = (size_t)K * 16, .kn = K / ntaps, .taps = g->a_taps, .ntaps = ntaps, .ldc = g->ldc,
                .lo = _mm512_set1_ps(g->f_min), .hi = _mm512_set1_ps(g->f_max)};
    j.pf = (size_t)npanels * j.pstride * esize >= GF_PF_MIN;
    int chunk = (int)(GF_CHUNK_BYTES / (j.pstride * esize));
    chunk = chunk < GF_NP ? GF_NP : chunk / GF_NP * GF_NP;
    for (int pc = 0; pc < npanels; pc += chunk) {
        int pend = pc + chunk < npanels ? pc + chunk : npanels;
        for (int m0 = 0; m0 < M; m0 += GF_MR) {
            int mr = M - m0 < GF_MR ? M - m0 : GF_MR;
            j.a = (const float *)g->a + (size_t)m0 * j.lda;
            for (int p0 = pc; p0 < pend; p0 += GF_NP) {
                int np = pend - p0 < GF_NP ? pend - p0 : GF_NP;
                int n0 = p0 * 16, last = N - (n0 + 16 * (np - 1));
                j.cnt_last = last > 16 ? 16 : last;
                j.w = (const char *)p->w + (size_t)p0 * j.pstride * esize;
                j.bias = p->bias_f32 + n0;
                j.c = (float *)g->c + (size_t)m0 * j.ldc + n0;
                /* the row block's last tile fetches the next block's A */
                j.pfa = g->a_taps && p0 + np >= pend && m0 + GF_MR < M ? j.a + GF_MR * j.lda : NULL;
                j.pfa_rows = M - m0 - GF_MR < GF_MR ? M - m0 - GF_MR : GF_MR;
#if QB_SPECIALIZE
                switch (mr * 8 + np) {
                    GF_ROW(1) GF_ROW(2) GF_ROW(3) GF_ROW(4) GF_ROW(5) GF_ROW(6)
                default:
                    break;
                }
#else
                gf_micro(mr, np, half, &j);
#endif
            }
        }
    }
}

#endif
