/*
 * gemm_i4.c - AVX2 int4-weight GEMM (int8 activations), bit-exact with
 * kernels/scalar/gemm_i4.c: per group g of G along K the exact integer
 *   isum = sum a * w - a_zero * wsum[n][g]
 * then acc = fmaf((float)isum, scale[n][g], acc) in group order (one
 * vfmadd per 8 channels: the same single rounding), C = fmaf(acc,
 * a_scale, bias[n]) clamped like the scalar compares.
 *
 * Packed layout: panels of 16 output channels. A panel holds its groups in
 * order; a group holds ceil(quads / 2) quad pairs of 64 bytes (two 32-byte
 * vectors, channels 0-7 and 8-15; byte 4c + j of a vector packs w[c][k] of
 * quad 2i in its low nibble and of quad 2i+1 in its high nibble, k = 4q + j,
 * two's complement, zero past K), then the group's 16 scales (float).
 * Channels past N are zero. No weight sums are stored: they cost as many
 * bytes as the scales in this memory-bound format and are cheaper to redo.
 *
 * Integer dot products: a + 128 (u8, a ^ 0x80) times w (s8 in [-8, 7],
 * nibbles sign-extended with a vpshufb table) with vpmaddubsw: pair sums at
 * most 2 * 255 * 8 = 4080, so up to 8 of them add exactly in int16 before
 * vpmaddwd widens to int32. The zero-point term comes from the same
 * nibbles: isum = sum (a + 128) w - (128 + a_zero) sum w, the weights of a
 * run of 4 quad pairs summed as bytes (|sum| <= 64) and multiplied once by
 * the byte 128 + a_zero (in [0, 255]; vpmaddubsw pair sums at most
 * 2 * 255 * 64 = 32640). Rows run one at a time against a panel (the panel
 * stays in L1 across rows); one row is the memory-bound GEMV case.
 */
#include <immintrin.h>
#include <string.h>

#include "kernels/kernels.h"

#define NP 16          /* output channels per panel */
#define PAIR 64        /* bytes of one quad pair of a panel */
#define GEXTRA 64      /* bytes of a group's scales */
#define PF 2048        /* software prefetch distance in the weight stream (bytes) */

#define INLINE static inline __attribute__((always_inline))

/* Group geometry shared by pack and run. */
typedef struct geo {
    int k, group, ngroups; /* K, group size (K when per channel), groups */
    int pairs_full;        /* quad pairs of a whole group */
    int pairs_last;        /* quad pairs of the last group */
    size_t gbytes;         /* bytes of a whole group */
    size_t pbytes;         /* bytes of a panel */
} geo;

static geo geometry(int k, int group)
{
    geo g;
    g.k = k;
    g.group = group ? group : k;
    g.ngroups = (k + g.group - 1) / g.group;
    g.pairs_full = (g.group + 7) / 8;
    g.pairs_last = (k - (g.ngroups - 1) * g.group + 7) / 8;
    g.gbytes = (size_t)g.pairs_full * PAIR + GEXTRA;
    g.pbytes = (size_t)(g.ngroups - 1) * g.gbytes + (size_t)g.pairs_last * PAIR + GEXTRA;
    return g;
}

size_t qb_gemm_i4__avx2_size(int n, int k, int group)
{
    geo g = geometry(k, group);
    return (size_t)((n + NP - 1) / NP) * g.pbytes;
}

void qb_gemm_i4__avx2_pack(const qb_weights *w, void *dst)
{
    geo g = geometry(w->k, w->group);
    uint8_t *out = dst;
    for (int j = 0; j < w->n; j++) {
        uint8_t *panel = out + (size_t)(j / NP) * g.pbytes;
        int c = j % NP;
        const int8_t *src = w->i8 + (size_t)j * w->k;
        for (int gi = 0; gi < g.ngroups; gi++) {
            uint8_t *grp = panel + (size_t)gi * g.gbytes;
            int lo = gi * g.group, hi = lo + g.group < w->k ? lo + g.group : w->k;
            int pairs = gi == g.ngroups - 1 ? g.pairs_last : g.pairs_full;
            for (int l = lo; l < hi; l++) {
                int r = l - lo, q = r / 4;
                uint8_t nib = (uint8_t)(src[l] & 0xf);
                grp[(size_t)(q / 2) * PAIR + (size_t)(c / 8) * 32 + (size_t)(c % 8) * 4 + r % 4] |=
                    (uint8_t)(q & 1 ? nib << 4 : nib);
            }
            memcpy(grp + (size_t)pairs * PAIR + 4 * c, &w->scale[(size_t)j * g.ngroups + gi], 4);
        }
    }
}

/* Constants of the integer steps. */
typedef struct i4c {
    __m256i lut;  /* nibble -> signed byte */
    __m256i m4;   /* 0x0f bytes */
    __m256i flip; /* 0x80 bytes: a ^ 0x80 = a + 128 as u8 */
    __m256i zb;   /* the byte 128 + a_zero (zero when handled by zfix) */
    __m256i one;  /* int16 ones */
    __m256i mone; /* int16 minus ones */
} i4c;

/* One quad pair of one row against 16 channels: t0/t1 gather the int16
 * sums of (a + 128) w of channels 0-7 / 8-15 (at most 8 pair sums of 4080
 * each), z0/z1 the weights of the pair's two quads as bytes (at most 4
 * pairs: |sum| <= 64). */
INLINE void pair_step(const i4c *k, const uint8_t *wq, const int8_t *src, __m256i *t0, __m256i *t1, __m256i *z0,
                      __m256i *z1)
{
    int32_t a0, a1;
    memcpy(&a0, src, 4);
    memcpy(&a1, src + 4, 4);
    __m256i u0 = _mm256_xor_si256(_mm256_set1_epi32(a0), k->flip);
    __m256i u1 = _mm256_xor_si256(_mm256_set1_epi32(a1), k->flip);
    __m256i x0 = _mm256_load_si256((const __m256i *)wq), x1 = _mm256_load_si256((const __m256i *)(wq + 32));
    __m256i l0 = _mm256_shuffle_epi8(k->lut, _mm256_and_si256(x0, k->m4));
    __m256i h0 = _mm256_shuffle_epi8(k->lut, _mm256_and_si256(_mm256_srli_epi16(x0, 4), k->m4));
    __m256i l1 = _mm256_shuffle_epi8(k->lut, _mm256_and_si256(x1, k->m4));
    __m256i h1 = _mm256_shuffle_epi8(k->lut, _mm256_and_si256(_mm256_srli_epi16(x1, 4), k->m4));
    *t0 = _mm256_add_epi16(*t0, _mm256_add_epi16(_mm256_maddubs_epi16(u0, l0), _mm256_maddubs_epi16(u1, h0)));
    *t1 = _mm256_add_epi16(*t1, _mm256_add_epi16(_mm256_maddubs_epi16(u0, l1), _mm256_maddubs_epi16(u1, h1)));
    *z0 = _mm256_add_epi8(*z0, _mm256_add_epi8(l0, h0));
    *z1 = _mm256_add_epi8(*z1, _mm256_add_epi8(l1, h1));
    /* keep GCC from hoisting every pair's products ahead of the sums (spills) */
    __asm__("" : "+x"(*t0), "+x"(*t1), "+x"(*z0), "+x"(*z1));
}

/* Close a run of up to 4 pairs into the int32 sums s0/s1:
 * t - (128 + a_zero) * (weights summed in z). */
INLINE void run_end(const i4c *k, __m256i t0, __m256i t1, __m256i z0, __m256i z1, __m256i *s0, __m256i *s1)
{
    /* z bytes in [-64, 56], zb <= 255: pair sums within 2 * 255 * 64 = 32640 */
    __m256i c0 = _mm256_madd_epi16(_mm256_maddubs_epi16(k->zb, z0), k->mone);
    __m256i c1 = _mm256_madd_epi16(_mm256_maddubs_epi16(k->zb, z1), k->mone);
    *s0 = _mm256_add_epi32(*s0, _mm256_add_epi32(_mm256_madd_epi16(t0, k->one), c0));
    *s1 = _mm256_add_epi32(*s1, _mm256_add_epi32(_mm256_madd_epi16(t1, k->one), c1));
}

/* The zero-point term from qb_packed's weight sums, for a_zero outside
 * [-128, 127] (no int8 zero point, but the arithmetic is defined). */
typedef struct zfix {
    const int32_t *wsum; /* wsum of the panel's first channel (N x ngroups) */
    int ngroups;         /* groups per channel */
    int nc;              /* valid channels of the panel */
    uint32_t c;          /* 128 + a_zero */
} zfix;

/* One row against one panel: the float accumulators of the panel's 16
 * channels (before a_scale and bias). tail: the row's last k % 8 bytes,
 * zero padded to a whole pair. */
static void row_panel(const geo *g, const i4c *k, const uint8_t *panel, const int8_t *ar, const int8_t *tail,
                      const zfix *zf, __m256 *f0, __m256 *f1)
{
    const __m256i z = _mm256_setzero_si256();
    int full_pairs = g->k / 8; /* pairs whose 8 bytes of a lie inside the row */
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    for (int gi = 0; gi < g->ngroups; gi++) {
        const uint8_t *grp = panel + (size_t)gi * g->gbytes;
        int pairs = gi == g->ngroups - 1 ? g->pairs_last : g->pairs_full;
        int p0 = gi * g->pairs_full; /* first pair of the group along the row */
        int inside = full_pairs - p0 < pairs ? full_pairs - p0 : pairs;
        const int8_t *src = ar + (size_t)p0 * 8;
        __m256i s0 = z, s1 = z;
        int b = 0;
        for (; b + 4 <= inside; b += 4) { /* whole runs of 4 pairs inside the row */
            __m256i t0 = z, t1 = z, z0 = z, z1 = z;
            const uint8_t *wq = grp + (size_t)b * PAIR;
            for (int l = 0; l < 4; l++) /* the hardware prefetcher alone leaves GEMV short of bandwidth */
                _mm_prefetch((const char *)wq + PF + 64 * l, _MM_HINT_T0);
            pair_step(k, wq, src + 8 * b, &t0, &t1, &z0, &z1);
            pair_step(k, wq + PAIR, src + 8 * b + 8, &t0, &t1, &z0, &z1);
            pair_step(k, wq + 2 * PAIR, src + 8 * b + 16, &t0, &t1, &z0, &z1);
            pair_step(k, wq + 3 * PAIR, src + 8 * b + 24, &t0, &t1, &z0, &z1);
            run_end(k, t0, t1, z0, z1, &s0, &s1);
        }
        if (b < pairs) { /* the group's last pairs, the partial one from tail */
            __m256i t0 = z, t1 = z, z0 = z, z1 = z;
            for (; b < pairs; b++)
                pair_step(k, grp + (size_t)b * PAIR, b < inside ? src + 8 * b : tail, &t0, &t1, &z0, &z1);
            run_end(k, t0, t1, z0, z1, &s0, &s1);
        }
        if (zf) {
            int32_t cr[NP] = {0};
            for (int c = 0; c < zf->nc; c++)
                cr[c] = (int32_t)(zf->c * (uint32_t)zf->wsum[(size_t)c * zf->ngroups + gi]);
            s0 = _mm256_sub_epi32(s0, _mm256_loadu_si256((const __m256i *)cr));
            s1 = _mm256_sub_epi32(s1, _mm256_loadu_si256((const __m256i *)(cr + 8)));
        }
        const float *sc = (const float *)(grp + (size_t)pairs * PAIR);
        acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s0), _mm256_load_ps(sc), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s1), _mm256_load_ps(sc + 8), acc1);
    }
    *f0 = acc0;
    *f1 = acc1;
}

void qb_gemm_i4__avx2(const qb_packed *p, const qb_gemm_args *a)
{
    geo g = geometry(p->k, p->group);
    const int8_t *A = a->a;
    float *C = a->c;
    int zin = a->a_zero >= -128 && a->a_zero <= 127; /* 128 + a_zero fits a byte */
    i4c k;
    k.lut = _mm256_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, -8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7, -8, -7, -6,
                             -5, -4, -3, -2, -1);
    k.m4 = _mm256_set1_epi8(0x0f);
    k.flip = _mm256_set1_epi8((char)0x80);
    k.zb = _mm256_set1_epi8(zin ? (char)(uint8_t)(128 + a->a_zero) : 0);
    k.one = _mm256_set1_epi16(1);
    k.mone = _mm256_set1_epi16(-1);
    const __m256 as = _mm256_set1_ps(a->a_scale), fmin = _mm256_set1_ps(a->f_min), fmax = _mm256_set1_ps(a->f_max);
    int npanels = (p->n + NP - 1) / NP;
    for (int pn = 0; pn < npanels; pn++) {
        const uint8_t *panel = (const uint8_t *)p->w + (size_t)pn * g.pbytes;
        int j0 = pn * NP, nc = p->n - j0 < NP ? p->n - j0 : NP;
        float bias[NP] = {0};
        memcpy(bias, p->bias_f32 + j0, sizeof(float) * (size_t)nc);
        __m256 b0 = _mm256_loadu_ps(bias), b1 = _mm256_loadu_ps(bias + 8);
        zfix zf = {p->wsum + (size_t)j0 * p->ngroups, p->ngroups, nc, 128u + (uint32_t)a->a_zero};
        for (int i = 0; i < a->m; i++) {
            const int8_t *ar = A + (size_t)i * a->lda;
            int8_t tail[8] = {0};
            if (g.k % 8)
                memcpy(tail, ar + g.k / 8 * 8, (size_t)(g.k % 8));
            __m256 f0, f1;
            row_panel(&g, &k, panel, ar, tail, zin ? NULL : &zf, &f0, &f1);
            __m256 v0 = _mm256_min_ps(fmax, _mm256_max_ps(fmin, _mm256_fmadd_ps(f0, as, b0)));
            __m256 v1 = _mm256_min_ps(fmax, _mm256_max_ps(fmin, _mm256_fmadd_ps(f1, as, b1)));
            float *c = C + (size_t)i * a->ldc + j0;
            if (nc == NP) {
                _mm256_storeu_ps(c, v0);
                _mm256_storeu_ps(c + 8, v1);
            } else {
                float t[NP];
                _mm256_storeu_ps(t, v0);
                _mm256_storeu_ps(t + 8, v1);
                memcpy(c, t, sizeof(float) * (size_t)nc);
            }
        }
    }
}
