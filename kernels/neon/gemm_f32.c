/*
 * gemm_f32.c - NEON fp32 GEMM (qb_gemm_f32__neon). Register-blocked
 * micro-kernel of up to 8 rows x 8 columns (16 accumulators): per step of
 * 4 k, one vector of 4 activations per row and vfmaq_laneq_f32 against
 * the 8 weights of each k. Every output still sums k = 0..K-1 in order
 * (fused multiply-adds), then bias, then clamp.
 * Packed layout: panels of 8 output channels; panel p holds, for each k of
 * K rounded up to 4, the 8 weights W[8p + 0..7][k] (zeros past N and K).
 */
#include "kernels/neon/common.h"

#define NR 8 /* output channels per panel */
#define MR 8 /* rows of A per micro-tile */
#define KU 4 /* k per step */

static size_t kpad(int k) { return ((size_t)k + KU - 1) / KU * KU; }

size_t qb_gemm_f32__neon_size(int n, int k, int group)
{
    (void)group;
    return sizeof(float) * (((size_t)n + NR - 1) / NR) * NR * kpad(k);
}

void qb_gemm_f32__neon_pack(const qb_weights *w, void *dst)
{
    float *out = dst;
    size_t kp = kpad(w->k);
    for (int j = 0; j < w->n; j++)
        for (int l = 0; l < w->k; l++)
            out[((size_t)(j / NR) * kp + l) * NR + j % NR] = w->f32[(size_t)j * w->k + l];
}

/* One step of 4 k for mr rows: av[r] holds a[r][k..k+3], wp the 4 x 8
 * weights. */
#define FMA_K(q)                                                                                    \
    do {                                                                                            \
        float32x4_t w0 = vld1q_f32(wp + (q) * NR), w1 = vld1q_f32(wp + (q) * NR + 4);              \
        _Pragma("GCC unroll 8") for (int r = 0; r < mr; r++)                                        \
        {                                                                                           \
            acc[r][0] = vfmaq_laneq_f32(acc[r][0], w0, av[r], q);                                   \
            acc[r][1] = vfmaq_laneq_f32(acc[r][1], w1, av[r], q);                                   \
        }                                                                                           \
    } while (0)

/* Rows i0 .. i0+mr-1 of C for the panel of columns j0 .. j0+nc-1: sums
 * over K (zero-padded to 4), bias, clamp, store. */
QB_NEON_INLINE void tile(const qb_packed *p, const qb_gemm_args *a, int i0, int j0, const int mr)
{
    const int K = p->k;
    const float *wp = (const float *)p->w + (size_t)(j0 / NR) * NR * kpad(K);
    const float *ar[MR];
    float32x4_t acc[MR][2];
    #pragma GCC unroll 8
    for (int r = 0; r < mr; r++) {
        ar[r] = (const float *)a->a + (size_t)(i0 + r) * a->lda;
        acc[r][0] = acc[r][1] = vdupq_n_f32(0.0f);
    }
    int l = 0;
    for (; l + KU <= K; l += KU, wp += KU * NR) {
        float32x4_t av[MR];
        #pragma GCC unroll 8
        for (int r = 0; r < mr; r++) av[r] = vld1q_f32(ar[r] + l);
        FMA_K(0);
        FMA_K(1);
        FMA_K(2);
        FMA_K(3);
    }
    if (l < K) { /* the last 1..3 k: copies, never reading past a row */
        float32x4_t av[MR];
        #pragma GCC unroll 8
        for (int r = 0; r < mr; r++) av[r] = qb_neon_load_f32(ar[r] + l, K - l);
        FMA_K(0);
        FMA_K(1);
        FMA_K(2);
        FMA_K(3);
    }
    int nc = p->n - j0 < NR ? p->n - j0 : NR;
    float32x4_t lo = vdupq_n_f32(a->f_min), hi = vdupq_n_f32(a->f_max);
    float32x4_t b0 = qb_neon_load_f32(p->bias_f32 + j0, nc);
    float32x4_t b1 = nc > 4 ? qb_neon_load_f32(p->bias_f32 + j0 + 4, nc - 4) : vdupq_n_f32(0.0f);
    #pragma GCC unroll 8
    for (int r = 0; r < mr; r++) {
        float *cr = (float *)a->c + (size_t)(i0 + r) * a->ldc + j0;
        qb_neon_store_f32(cr, qb_neon_clampf(vaddq_f32(acc[r][0], b0), lo, hi), nc);
        if (nc > 4)
            qb_neon_store_f32(cr + 4, qb_neon_clampf(vaddq_f32(acc[r][1], b1), lo, hi), nc - 4);
    }
}

void qb_gemm_f32__neon(const qb_packed *p, const qb_gemm_args *a)
{
    int mc = qb_neon_slice_rows(sizeof(float) * (size_t)p->k, MR);
    for (int ic = 0; ic < a->m; ic += mc) {
        int ie = a->m - ic < mc ? a->m : ic + mc;
        for (int j0 = 0; j0 < p->n; j0 += NR)
            for (int i0 = ic; i0 < ie; i0 += MR)
                switch (ie - i0 < MR ? ie - i0 : MR) {
                case 8: tile(p, a, i0, j0, 8); break;
                case 7: tile(p, a, i0, j0, 7); break;
                case 6: tile(p, a, i0, j0, 6); break;
                case 5: tile(p, a, i0, j0, 5); break;
                case 4: tile(p, a, i0, j0, 4); break;
                case 3: tile(p, a, i0, j0, 3); break;
                case 2: tile(p, a, i0, j0, 2); break;
                default: tile(p, a, i0, j0, 1); break;
                }
    }
}
