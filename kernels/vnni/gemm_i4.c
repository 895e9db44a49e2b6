/*
 * gemm_i4.c - AVX-512 VNNI int4-weight GEMM (int8 activations), bit-exact
 * with kernels/scalar/gemm_i4.c: per group g the exact integer
 *   isum = sum_k a w - a_zero * gsum
 * then acc = fmaf((float)isum, scale, acc) in group order and
 * C = clamp(fmaf(acc, a_scale, bias)).
 *
 * vpdpbusd takes the weights as the unsigned operand, stored biased as
 * w + 8 in [0, 15], and the raw signed activations as the signed operand;
 * the bias comes off per row and group: isum = sum (w + 8) a - 8 * sum a
 * - a_zero * gsum (the row sums per group are computed once per row
 * block). A 64-byte load holds 16 columns x 8 k: the low nibbles are
 * k 0..3, the high nibbles k 4..7, each in the vpdpbusd operand layout.
 *
 * Packed layout: panels of 16 columns; per panel, per group, SG =
 * ceil(G / 8) steps of 64 bytes, byte 4c + t of step s of group g:
 *   low nibble  = w[16p + c][gG + 8s + t] + 8
 *   high nibble = w[16p + c][gG + 8s + 4 + t] + 8     (0 past K or N)
 * then, after all panels, per (panel, group) 16 int32 group sums and 16
 * float scales. G = K when per channel.
 *
 * Microkernel: up to 4 rows x 4 panels (64 columns) of int32 group
 * accumulators and fp32 running sums (small tiles: low and high nibbles
 * in separate chains). Groups are taken in chunks of about 2048 k;
 * between chunks the running sums wait in C.
 */
#include "kernels/vnni/vnni.h"

#define MR 4          /* rows per tile */
#define NP 4          /* 16-column panels per tile */
#define SPLIT 4       /* tiles of at most this many vectors: lo / hi nibbles in two chains */
#define KCHUNK 2048   /* k per group chunk */
#define GCMAX (KCHUNK / 32) /* groups per chunk at most */

typedef struct i4_meta {
    int32_t gsum[16]; /* sum of the 16 columns' weights over the group */
    float scale[16];  /* the 16 columns' scales for the group */
} i4_meta;

static int i4_steps(int k, int group) { return ((group ? group : k) + 7) / 8; }
static int i4_groups(int k, int group) { return group ? (k + group - 1) / group : 1; }

size_t QB_VNNI(qb_gemm_i4__vnni_size)(int n, int k, int group)
{
    size_t pg = (size_t)((n + 15) / 16) * (size_t)i4_groups(k, group);
    return pg * (size_t)i4_steps(k, group) * 64 + pg * sizeof(i4_meta);
}

void QB_VNNI(qb_gemm_i4__vnni_pack)(const qb_weights *w, void *dst)
{
    int G = w->group ? w->group : w->k, ng = i4_groups(w->k, w->group), sg = i4_steps(w->k, w->group);
    int npanels = (w->n + 15) / 16;
    uint8_t *out = dst;
    i4_meta *meta = (i4_meta *)(out + (size_t)npanels * ng * sg * 64);
    for (int j = 0; j < w->n; j++) {
        int p = j / 16, c = j % 16;
        for (int l = 0; l < w->k; l++) {
            int g = l / G, off = l - g * G, s = off / 8, t = off % 8;
            int v = w->i8[(size_t)j * w->k + l];
            size_t at = (((size_t)p * ng + g) * sg + s) * 64 + 4 * c + t % 4;
            out[at] |= (uint8_t)((v + 8) << (t >= 4 ? 4 : 0));
            meta[(size_t)p * ng + g].gsum[c] += v;
        }
        for (int g = 0; g < ng; g++)
            meta[(size_t)p * ng + g].scale[c] = w->scale[(size_t)j * ng + g];
    }
}

/* What a tile needs besides its shape. */
typedef struct i4_job {
    const int8_t *a;      /* first row of the tile */
    size_t lda;           /* elements between rows of A */
    const uint8_t *w;     /* packed weights of the tile's first panel */
    const i4_meta *meta;  /* metadata of the tile's first panel */
    size_t pstride;       /* bytes between panels */
    int K, G, sg, ng;     /* shape: K, group size, steps and groups */
    int g0, g1;           /* groups of this chunk */
    int first, last;      /* first / last chunk (running sums from / to C) */
    const int32_t *rowterm; /* [MR][GCMAX]: 8 * sum of a over each group */
    __m512i azero;        /* a_zero in every lane */
    float *c;             /* C of the tile's first row and column */
    size_t ldc;           /* elements between rows of C */
    const float *bias;    /* bias of the tile's first column */
    int cnt_last;         /* valid columns of the last panel */
    __m512 ascale, lo, hi; /* a_scale, f_min, f_max */
} i4_job;

QB_MICRO void i4_micro(int mr_, int np_, const i4_job *j)
{
    const __m512i nib = _mm512_set1_epi8(0x0f);
    const int split = mr_ * np_ <= SPLIT; /* lo / hi nibbles in separate chains */
    __m512 facc[MR][NP];
    for (int r = 0; r < MR; r++)
        for (int q = 0; q < NP; q++)
            facc[r][q] = _mm512_setzero_ps();
QB_UNROLL(GCC unroll 4)
    for (int q = 0; q < np_; q++) {
        int cnt = q == np_ - 1 ? j->cnt_last : 16;
        __mmask16 mk = qb_mask16(cnt);
QB_UNROLL(GCC unroll 4)
        for (int r = 0; r < mr_; r++)
            facc[r][q] = j->first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(mk, j->c + r * j->ldc + 16 * q);
    }
    for (int g = j->g0; g < j->g1; g++) {
        __m512i acc[MR][NP], acc2[MR][NP];
        for (int r = 0; r < MR; r++) /* all of it: no lane is ever read unset */
            for (int q = 0; q < NP; q++)
                acc[r][q] = acc2[r][q] = _mm512_setzero_si512();
        int kb = g * j->G, ke = kb + j->G < j->K ? kb + j->G : j->K;
        int steps = (ke - kb + 7) / 8, full = (ke - kb) / 8;
        const uint8_t *wg = j->w + (size_t)g * j->sg * 64;
        for (int s = 0; s < steps; s++) {
            __m512i wl[NP] = {_mm512_setzero_si512()}, wh[NP] = {_mm512_setzero_si512()};
QB_UNROLL(GCC unroll 4)
            for (int q = 0; q < np_; q++) {
                __m512i v = _mm512_load_si512((const void *)(wg + q * j->pstride + (size_t)s * 64));
                wl[q] = _mm512_and_si512(v, nib);
                wh[q] = _mm512_and_si512(_mm512_srli_epi16(v, 4), nib);
            }
            const int8_t *ar = j->a + kb + 8 * s;
            int8_t t[MR][8]; /* the rows' last 1..7 values: no read past a row */
            size_t lda = j->lda;
            if (s == full) {
                memset(t, 0, sizeof t);
                for (int r = 0; r < mr_; r++)
                    memcpy(t[r], ar + r * j->lda, (size_t)(ke - kb - 8 * s));
                ar = &t[0][0];
                lda = 8;
            }
QB_UNROLL(GCC unroll 8)
            for (int r = 0; r < mr_; r++) {
                __m512i a0 = _mm512_set1_epi32(qb_ld32(ar + r * lda));
                __m512i a1 = _mm512_set1_epi32(qb_ld32(ar + r * lda + 4));
QB_UNROLL(GCC unroll 4)
                for (int q = 0; q < np_; q++) {
                    if (split) {
                        acc[r][q] = _mm512_dpbusd_epi32(acc[r][q], wl[q], a0);
                        acc2[r][q] = _mm512_dpbusd_epi32(acc2[r][q], wh[q], a1);
                    } else {
                        acc[r][q] = _mm512_dpbusd_epi32(acc[r][q], wl[q], a0);
                        acc[r][q] = _mm512_dpbusd_epi32(acc[r][q], wh[q], a1);
                    }
                }
            }
        }
QB_UNROLL(GCC unroll 4)
        for (int q = 0; q < np_; q++) {
            const i4_meta *m = j->meta + (size_t)q * j->ng + g;
            __m512i colterm = _mm512_mullo_epi32(j->azero, _mm512_load_si512((const void *)m->gsum));
            __m512 scale = _mm512_load_ps(m->scale);
QB_UNROLL(GCC unroll 4)
            for (int r = 0; r < mr_; r++) {
                __m512i isum = split ? _mm512_add_epi32(acc[r][q], acc2[r][q]) : acc[r][q];
                isum = _mm512_sub_epi32(isum, _mm512_set1_epi32(j->rowterm[r * GCMAX + g - j->g0]));
                isum = _mm512_sub_epi32(isum, colterm);
                facc[r][q] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), scale, facc[r][q]);
            }
        }
    }
QB_UNROLL(GCC unroll 4)
    for (int q = 0; q < np_; q++) {
        int cnt = q == np_ - 1 ? j->cnt_last : 16;
        __mmask16 mk = qb_mask16(cnt);
        __m512 b = _mm512_maskz_loadu_ps(mk, j->bias + 16 * q);
QB_UNROLL(GCC unroll 4)
        for (int r = 0; r < mr_; r++) {
            __m512 v = facc[r][q];
            if (j->last)
                v = qb_clamp_ps(_mm512_fmadd_ps(v, j->ascale, b), j->lo, j->hi);
            float *c = j->c + r * j->ldc + 16 * q;
            if (cnt == 16)
                _mm512_storeu_ps(c, v);
            else
                _mm512_mask_storeu_ps(c, mk, v);
        }
    }
}

#define I4_CASE(m_, n_)                                                                            \
    case (m_) * 8 + (n_):                                                                          \
        i4_micro(m_, n_, j);                                                                       \
        break;

static void i4_tile(int mr, int np, const i4_job *j)
{
#if QB_SPECIALIZE
    switch (mr * 8 + np) {
        I4_CASE(1, 1) I4_CASE(1, 2) I4_CASE(1, 3) I4_CASE(1, 4)
        I4_CASE(2, 1) I4_CASE(2, 2) I4_CASE(2, 3) I4_CASE(2, 4)
        I4_CASE(3, 1) I4_CASE(3, 2) I4_CASE(3, 3) I4_CASE(3, 4)
        I4_CASE(4, 1) I4_CASE(4, 2) I4_CASE(4, 3) I4_CASE(4, 4)
    default:
        break;
    }
#else
    i4_micro(mr, np, j);
#endif
}

void QB_VNNI(qb_gemm_i4__vnni)(const qb_packed *p, const qb_gemm_args *g)
{
    const int N = p->n, K = p->k, M = g->m, G = p->group, ng = p->ngroups;
    const int sg = (G + 7) / 8, npanels = (N + 15) / 16;
    const size_t pstride = (size_t)ng * sg * 64;
    const int gc = KCHUNK / G > 1 ? KCHUNK / G : 1; /* groups per chunk, <= GCMAX */
    int32_t rowterm[MR * GCMAX];
    i4_job j = {.lda = g->lda, .pstride = pstride, .K = K, .G = G, .sg = sg, .ng = ng, .rowterm = rowterm,
                .azero = _mm512_set1_epi32(g->a_zero), .ldc = g->ldc, .ascale = _mm512_set1_ps(g->a_scale),
                .lo = _mm512_set1_ps(g->f_min), .hi = _mm512_set1_ps(g->f_max)};
    const i4_meta *meta = (const i4_meta *)((const uint8_t *)p->w + (size_t)npanels * pstride);
    for (int m0 = 0; m0 < M; m0 += MR) {
        int mr = M - m0 < MR ? M - m0 : MR;
        j.a = (const int8_t *)g->a + (size_t)m0 * g->lda;
        for (int g0 = 0; g0 < ng; g0 += gc) {
            j.g0 = g0;
            j.g1 = g0 + gc < ng ? g0 + gc : ng;
            j.first = g0 == 0;
            j.last = j.g1 == ng;
            for (int r = 0; r < mr; r++)
                for (int gg = j.g0; gg < j.g1; gg++) {
                    int kb = gg * G, len = kb + G < K ? G : K - kb;
                    int32_t s = qb_vnni_sum_s8(j.a + (size_t)r * g->lda + kb, len);
                    rowterm[r * GCMAX + gg - g0] = (int32_t)((uint32_t)s << 3);
                }
            for (int p0 = 0; p0 < npanels; p0 += NP) {
                int np = npanels - p0 < NP ? npanels - p0 : NP;
                int n0 = p0 * 16;
                int last = N - (n0 + 16 * (np - 1));
                j.cnt_last = last > 16 ? 16 : last;
                j.w = (const uint8_t *)p->w + (size_t)p0 * pstride;
                j.meta = meta + (size_t)p0 * ng;
                j.c = (float *)g->c + (size_t)m0 * g->ldc + n0;
                j.bias = p->bias_f32 + n0;
                i4_tile(mr, np, &j);
            }
        }
    }
}
