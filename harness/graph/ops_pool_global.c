/*
 * ops_pool_global.c - global pools beyond GlobalAveragePool (ops_conv.c):
 * GlobalMaxPool and GlobalLpPool (p, default 2) over every spatial dim of
 * an N x C x D1 ... input, output N x C x 1 ... Float types; Lp in double.
 * And the means of NCHW planes that GlobalAveragePool computes
 * (qb_plane_means_f32): eight planes at a time, so the additions of
 * eight sums overlap, each sum still in raster order; with AVX-512
 * sixteen planes at a time, one per lane (blocks of 16 x 16 values
 * transposed), each lane's sum still in raster order.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness/graph/ops.h"
#include "harness/graph/q16_avx512.h"
#include "kernels/kernels.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define QB_GPOOL_AVX512 1
#endif

static int gpool_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *x = qb_need_in(g, n, 0, e);
    if (!x)
        return -1;
    if (!qb_dtype_is_float(x->dtype) || x->ndim < 3) {
        QB_NODE_ERR(e, g, n, "needs a float input N x C x D1 ... (got %s of rank %d)", qb_dtype_name(x->dtype),
                    x->ndim);
        return -1;
    }
    int64_t od[QB_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++)
        od[d] = d < 2 ? x->dims[d] : 1;
    qb_set_out(g, n, 0, x->dtype, x->ndim, od);
    return 0;
}

static void gpool_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const qb_tensor *x = qb_in(g, n, 0);
    qb_tensor *y = qb_out(g, n, 0);
    int lp = !strcmp(n->op, "GlobalLpPool");
    double p = (double)qb_attr_int(n, "p", 2);
    int64_t nc = x->dims[0] * x->dims[1], inner = nc > 0 ? qb_tensor_count(x) / nc : 0;
    for (int64_t i = 0; i < nc; i++) {
        double acc = lp ? 0 : -INFINITY;
        for (int64_t j = 0; j < inner; j++) {
            double v = qb_get_d(x, i * inner + j);
            if (lp)
                acc += pow(fabs(v), p);
            else if (v > acc || v != v)
                acc = v;
        }
        qb_set_d(y, i, lp ? pow(acc, 1 / p) : acc);
    }
}

/* The sum of plane x[0, vol), in order. */
static float plane_sum(const float *x, int64_t vol)
{
    float acc = 0.0f;
    for (int64_t i = 0; i < vol; i++)
        acc += x[i];
    return acc;
}

static int means_plain; /* qb_plane_means_avx512(0): the plain loops only (tests) */

void qb_plane_means_avx512(int on) { means_plain = !on; }

#ifdef QB_GPOOL_AVX512
/* The means of 16 planes, one per lane: blocks of 16 values of each plane
 * transposed so that a vector holds value i of every plane, added to the
 * lane sums in order i = 0, 1, ... (each lane 0.0f + x[0] + x[1] + ...,
 * the serial loop's additions), then divided by (float)vol: the same bits. */
__attribute__((target("avx512f"))) static void means16_avx512(const float *x, float *y, int64_t vol)
{
    __m512 acc = _mm512_setzero_ps(), r[16];
    int64_t i = 0;
    for (; i + 16 <= vol; i += 16) {
        for (int c = 0; c < 16; c++)
            r[c] = _mm512_loadu_ps(x + c * vol + i);
        qb_transpose16_f32(r);
        for (int k = 0; k < 16; k++)
            acc = _mm512_add_ps(acc, r[k]);
    }
    if (i < vol) {
        int left = (int)(vol - i);
        __mmask16 m = (__mmask16)((1u << left) - 1);
        for (int c = 0; c < 16; c++)
            r[c] = _mm512_maskz_loadu_ps(m, x + c * vol + i);
        qb_transpose16_f32(r);
        for (int k = 0; k < left; k++)
            acc = _mm512_add_ps(acc, r[k]);
    }
    _mm512_storeu_ps(y, _mm512_div_ps(acc, _mm512_set1_ps((float)vol)));
}
#endif

void qb_plane_means_f32(const float *x, float *y, int64_t planes, int64_t vol)
{
    int64_t p = 0;
#ifdef QB_GPOOL_AVX512
    static int ok = -1;
    if (ok < 0)
        ok = qb_avx512_allowed(QB_CPU_AVX512F);
    if (ok && !means_plain)
        for (; p + 16 <= planes; p += 16)
            means16_avx512(x + p * vol, y + p, vol);
#endif
    for (; p + 8 <= planes; p += 8) { /* eight independent chains: the adds overlap instead of waiting on one */
        const float *x0 = x + p * vol;
        float a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
        for (int64_t i = 0; i < vol; i++) {
            a0 += x0[i];
            a1 += x0[vol + i];
            a2 += x0[2 * vol + i];
            a3 += x0[3 * vol + i];
            a4 += x0[4 * vol + i];
            a5 += x0[5 * vol + i];
            a6 += x0[6 * vol + i];
            a7 += x0[7 * vol + i];
        }
        const float sums[8] = {a0, a1, a2, a3, a4, a5, a6, a7};
        for (int k = 0; k < 8; k++)
            y[p + k] = sums[k] / (float)vol;
    }
    for (; p < planes; p++)
        y[p] = plane_sum(x + p * vol, vol) / (float)vol;
}

const qb_opdef qb_ops_pool_global[] = {
    {"GlobalMaxPool", gpool_prepare, gpool_run, NULL, QB_OPF_ANY_DTYPE, 0},
    {"GlobalLpPool", gpool_prepare, gpool_run, NULL, QB_OPF_ANY_DTYPE, 0},
    {NULL, NULL, NULL, NULL, 0, 0},
};
