/*
 * qlayer.c - quantized execution of one GEMM-shaped layer (see qlayer.h).
 *
 * Arithmetic, the same on every ISA:
 *   input   q_a = saturate(rne(x / in_scale) + in_zero)      (ONNX QuantizeLinear)
 *   int8-*  acc = sum (q_a - in_zero) * q_w + bias_q           (exact int32)
 *           q_y = clamp(out_zero + round(acc * m / 2^s))        (kernels.h requantization)
 *           y   = (float)(q_y - out_zero) * out_scale            (ONNX DequantizeLinear)
 *   int4    y   = the int4 kernel's float output (exact group sums, fmaf steps)
 *   binary  bit = (x - in_shift) < 0; y = fmaf(K - 2 popcount, alpha, bias)
 *   fp16    weights rounded to binary16, fp32 arithmetic (the fp16 kernel)
 * Depthwise layers run on the int8 depthwise kernel for every integer
 * precision (int4 and binary depthwise weights would save nothing at
 * K = kh * kw: they are quantized int8 per channel) and on the fp32 depthwise
 * kernel with binary16-rounded weights for fp16.
 * Threads (par.h): quantize, kernel and dequantize run per chunk of rows
 * (one parallel loop; with --profile one loop per phase so that the
 * kernel is timed alone); a depthwise call quantizes its whole input
 * first (output rows read neighbouring input rows).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "harness/graph/ops.h"
#include "harness/graph/par.h"
#include "harness/graph/q16_avx512.h"
#include "harness/graph/q8_avx2.h"
#include "harness/graph/qlayer.h"
#include "harness/qmath/quant.h"
#include "kernels/quantize.h"

qb_qspec *qb_qspec_new(qb_precision p)
{
    qb_qspec *q = calloc(1, sizeof *q);
    if (q) {
        q->prec = p;
        q->run_prec = p;
        q->in_scale = q->out_scale = 1.0f;
    }
    return q;
}

void qb_qspec_free(qb_qspec *q)
{
    if (!q)
        return;
    free(q->wq);
    free(q->wscale);
    free(q->bias_q);
    free(q->rq);
    free(q);
}


/* The kernel for (op, prec) on the graph's ISA (or the best one). */
static const qb_kernel *pick(qb_graph *g, qb_op op, qb_precision prec)
{
    if (g->isa >= 0) {
        const qb_kernel *k = qb_kernel_get(op, prec, (qb_isa)g->isa);
        return k && qb_kernel_available(k, NULL, 0) ? k : NULL;
    }
    return qb_kernel_select(op, prec);
}

/* Quantize the float weights as the qspec's precision says. */
static int quantize_weights(qb_graph *g, qb_node *n, qb_qspec *q, const float *w, int N, int K, const float *bias,
                            qb_err *e)
{
    char warn[256] = "";
    int rc = 0;
    qb_precision p = q->run_prec;
    if (p == QB_PREC_FP16) { /* binary16 holds |w| < 65520; beyond, a weight would become +-inf */
        long over = 0;
        float worst = 0;
        for (long i = 0; i < (long)N * K; i++)
            if (isfinite(w[i]) && fabsf(w[i]) >= 65520.0f) {
                over++;
                worst = fabsf(w[i]) > worst ? fabsf(w[i]) : worst;
            }
        if (over)
            fprintf(stderr, "qbench: warning: %s: node '%s' weights '%s': %ld of %ld values beyond the fp16 range "
                            "(|w| >= 65520, largest %g) become +-inf in fp16\n",
                    g->file, n->name, n->nin > 1 && n->in[1] >= 0 ? g->tensors[n->in[1]]->name : "?", over,
                    (long)N * K, worst);
        return 0;
    }
    if (p == QB_PREC_BINARY) {
        q->nwscale = N;
        q->wscale = malloc((size_t)N * sizeof(float));
        if (!q->wscale)
            goto oom;
        qb_quant_w_binary(w, N, K, q->wscale);
        return 0;
    }
    q->wq = malloc((size_t)N * K);
    if (p == QB_PREC_INT4) {
        q->nwscale = N * qb_int4_ngroups(K, q->group);
        q->wscale = malloc((size_t)q->nwscale * sizeof(float));
        if (!q->wq || !q->wscale)
            goto oom;
        rc = qb_quant_w_int4(w, N, K, q->group, q->wq, q->wscale, warn, sizeof warn);
    } else {
        int per_channel = p == QB_PREC_INT8_CHANNEL;
        q->nwscale = per_channel ? N : 1;
        q->wscale = malloc((size_t)q->nwscale * sizeof(float));
        q->bias_q = malloc((size_t)N * sizeof(int32_t));
        if (!q->wq || !q->wscale || !q->bias_q)
            goto oom;
        rc = qb_quant_w_int8(w, N, K, per_channel, q->wq, q->wscale, warn, sizeof warn);
        for (int i = 0; i < N; i++) {
            double s = (double)q->in_scale * q->wscale[per_channel ? i : 0];
            double v = bias ? nearbyint((double)bias[i] / s) : 0.0;
            if (!(v == v))
                v = 0;
            q->bias_q[i] = v > 2147483647.0 ? INT32_MAX : v < -2147483647.0 ? -INT32_MAX : (int32_t)v;
        }
    }
    if (rc)
        fprintf(stderr, "qbench: warning: %s: node '%s' weights: %s\n", g->file, n->name, warn);
    return 0;
oom:
    QB_NODE_ERR(e, g, n, "out of memory quantizing the weights");
    return -1;
}

int qb_qlayer_prepare(qb_graph *g, qb_node *n, const float *w, int N, int K, const float *bias, int depthwise,
                      qb_err *e)
{
    qb_qspec *q = n->q;
    q->run_prec = qb_precision_runs_as(q->prec); /* a variant runs as its base */
    if (depthwise && (q->prec == QB_PREC_INT4 || q->prec == QB_PREC_BINARY))
        q->run_prec = QB_PREC_INT8_CHANNEL;
    if (q->wq || q->wscale) { /* given (QDQ import, or prepared before): check the sizes */
        int want = q->run_prec == QB_PREC_INT8_TENSOR ? 1 : q->run_prec == QB_PREC_INT4 ? N * qb_int4_ngroups(K, q->group) : N;
        if (q->nwscale != want || (q->run_prec != QB_PREC_BINARY && !q->wq)) {
            QB_NODE_ERR(e, g, n, "quantized weights do not match the layer (%d scales, %d expected)", q->nwscale, want);
            return -1;
        }
        if (qb_precision_is_int8(q->run_prec) && !q->bias_q && !(q->bias_q = calloc((size_t)N, sizeof(int32_t)))) {
            QB_NODE_ERR(e, g, n, "out of memory");
            return -1;
        }
    } else if (quantize_weights(g, n, q, w, N, K, bias, e)) {
        return -1;
    }
    if (q->run_prec == QB_PREC_FP16 && depthwise) {
        q->kernel = pick(g, QB_OP_DWCONV, QB_PREC_FP32);
    } else {
        /* one int8 depthwise kernel (per-channel multipliers) serves both int8 precisions */
        qb_precision kp = depthwise && qb_precision_is_int8(q->run_prec) ? QB_PREC_INT8_CHANNEL : q->run_prec;
        q->kernel = pick(g, depthwise ? QB_OP_DWCONV : QB_OP_GEMM, kp);
    }
    if (!q->kernel) {
        QB_NODE_ERR(e, g, n, "no %s %s kernel runs on this CPU%s", qb_precision_name(q->run_prec),
                    depthwise ? "depthwise" : "GEMM", g->isa >= 0 ? " with the ISA asked for" : "");
        return -1;
    }
    int needs_in = qb_precision_traits_of(q->run_prec)->act == QB_ACT_I8, needs_out = qb_precision_is_int8(q->run_prec);
    if ((needs_in && (!(q->in_scale > 0) || !isfinite(q->in_scale))) ||
        (needs_out && (!(q->out_scale > 0) || !isfinite(q->out_scale)))) {
        QB_NODE_ERR(e, g, n, "quantization scales must be positive and finite (input %g, output %g)",
                    (double)q->in_scale, (double)q->out_scale);
        return -1;
    }
    if (qb_precision_is_int8(q->run_prec)) {
        free(q->rq);
        q->rq = malloc((size_t)N * sizeof *q->rq);
        if (!q->rq) {
            QB_NODE_ERR(e, g, n, "out of memory");
            return -1;
        }
        /* the output scale must exceed every s_in*s_w: widen it if not */
        double smax = 0;
        for (int i = 0; i < q->nwscale; i++)
            smax = fmax(smax, (double)q->in_scale * q->wscale[i]);
        if (smax >= q->out_scale) {
            float wider = (float)(smax * 1.0001);
            fprintf(stderr, "qbench: warning: %s: node '%s': output scale %g widened to %g (requantization "
                    "multipliers must be below 1)\n", g->file, n->name, (double)q->out_scale, (double)wider);
            q->out_scale = wider;
        }
        for (int i = 0; i < N; i++) {
            double real = (double)q->in_scale * q->wscale[q->nwscale == 1 ? 0 : i] / q->out_scale;
            if (real <= 0x1p-32)
                real = 0x1p-32; /* a zero weight scale cannot happen (quantizers give 1); keep it representable */
            if (qb_requant_from_real(real, &q->rq[i])) {
                QB_NODE_ERR(e, g, n, "requantization multiplier %g out of range", real);
                return -1;
            }
        }
    }
    return 0;
}

int qb_qlayer_pack(qb_graph *g, qb_node *n, int r0, int nr, int K, const int64_t *perm, const float *w_f32,
                   const float *bias_f32, qb_packed *out, qb_err *e)
{
    return qb_qlayer_pack_k(g, n, r0, nr, K, K, perm, w_f32, bias_f32, out, e);
}

int qb_qlayer_pack_k(qb_graph *g, qb_node *n, int r0, int nr, int K, int ksrc, const int64_t *perm,
                     const float *w_f32, const float *bias_f32, qb_packed *out, qb_err *e)
{
    qb_qspec *q = n->q;
    qb_precision p = q->run_prec;
    int ng = p == QB_PREC_INT4 ? qb_int4_ngroups(K, q->group) : 1;
    qb_weights qw = {.n = nr, .k = K, .group = p == QB_PREC_INT4 ? q->group : 0};
    float *wf = NULL;
    int8_t *wi = NULL;
    int rc = -1;
    char err[200] = "out of memory";
    if (p == QB_PREC_FP16 || p == QB_PREC_BINARY) { /* float weights (binary: their signs) */
        wf = malloc((size_t)nr * K * sizeof(float) + 1);
        if (!wf)
            goto done;
        for (int r = 0; r < nr; r++)
            for (int j = 0; j < K; j++) {
                int64_t col = perm ? perm[j] : j;
                float v = col < 0 ? 0.0f : w_f32[(int64_t)(r0 + r) * ksrc + col];
                /* fp16 on the fp32 depthwise kernel: round the weights here */
                wf[(int64_t)r * K + j] = q->kernel->prec == QB_PREC_FP32 ? qb_f16_to_f32(qb_f32_to_f16(v)) : v;
            }
        qw.f32 = wf;
        if (p == QB_PREC_BINARY)
            qw.scale = q->wscale + r0;
    } else {
        wi = malloc((size_t)nr * K + 1);
        if (!wi)
            goto done;
        for (int r = 0; r < nr; r++)
            for (int j = 0; j < K; j++) {
                int64_t col = perm ? perm[j] : j;
                wi[(int64_t)r * K + j] = col < 0 ? 0 : q->wq[(int64_t)(r0 + r) * ksrc + col];
            }
        qw.i8 = wi;
        if (p == QB_PREC_INT4)
            qw.scale = q->wscale + (int64_t)r0 * ng;
        else
            qw.bias_i32 = q->bias_q + r0;
    }
    if (!qb_precision_is_int8(p) && bias_f32)
        qw.bias_f32 = bias_f32 + r0;
    qb_dw_fixed dwf; /* int8 depthwise: the kernel lays out its per-call constants once (kernels.h) */
    if (q->kernel->op == QB_OP_DWCONV && qb_precision_is_int8(p)) {
        const qb_tensor *W = qb_in(g, n, 1); /* C x 1 x [kh x] kw */
        dwf = (qb_dw_fixed){.kh = W && W->ndim >= 4 ? (int)W->dims[W->ndim - 2] : 1, .x_zero = q->in_zero,
                            .rq = q->rq + r0};
        qw.dw = &dwf;
    }
    qb_gemm_fixed gqf; /* int8 GEMM: the kernel lays out its per-call constants once (kernels.h) */
    if (q->kernel->op == QB_OP_GEMM && qb_precision_is_int8(p)) {
        gqf = (qb_gemm_fixed){.a_zero = q->in_zero, .rq = q->rq + (p == QB_PREC_INT8_CHANNEL ? r0 : 0),
                              .per_channel = p == QB_PREC_INT8_CHANNEL, .c_zero = q->out_zero};
        qw.gq = &gqf;
    }
    rc = qb_pack(q->kernel, &qw, out, err, sizeof err);
done:
    if (rc && e)
        QB_NODE_ERR(e, g, n, "cannot pack the quantized weights: %s", err);
    free(wf);
    free(wi);
    return rc;
}

size_t qb_qlayer_scratch(const qb_node *n, int64_t m, int64_t K, int64_t nr)
{
    switch (n->q->run_prec) {
    case QB_PREC_INT8_TENSOR:
    case QB_PREC_INT8_CHANNEL:
        return (size_t)(m * K + m * nr + 64);
    case QB_PREC_INT4:
        return (size_t)(m * K + 64);
    case QB_PREC_BINARY:
        return (size_t)m * qb_binary_words((int)K) * 8 + 64;
    default:
        return 0;
    }
}

/* ONNX QuantizeLinear of m rows of K floats (stride lda) into int8 rows
 * of K (kernels/quantize.h). */
static void quantize_rows(const void *av, int m, int K, size_t lda, float scale, int32_t zero, int8_t *q)
{
    const float *a = av;
    for (int i = 0; i < m; i++)
        qb_quantize_i8(a + (size_t)i * lda, (size_t)K, scale, zero, -128, 127, q + (size_t)i * K);
}

/* Quantizing an image into NHWC int8 (qb_qlayer_quantize_image). */
typedef struct qimage_job {
    const qb_qspec *q; /* the input grid */
    const float *x;    /* the image */
    int x_nhwc;        /* x is NHWC (else NCHW planes) */
    int64_t c, hw;     /* channels, pixels */
    int8_t *out;       /* hw x c int8 (padded: rows of wp x c) */
    int64_t h, w;      /* padded: image rows and columns */
    int64_t pt, pl;    /* padded: zero-point rows above, columns left of the image */
    int64_t wp;        /* padded: columns of out */
} qimage_job;

#define QIMG_BLK 64 /* pixels per block of the NCHW -> NHWC transpose */

/* Pixels [p0, p1) of the image quantized into o (contiguous, NHWC). */
static void qimage_span(const qimage_job *j, int64_t p0, int64_t p1, int8_t *o)
{
    const qb_qspec *q = j->q;
    if (j->x_nhwc) {
        quantize_rows(j->x + p0 * j->c, 1, (int)((p1 - p0) * j->c), 0, q->in_scale, q->in_zero, o);
        return;
    }
    if (j->c == 1) { /* one plane: NCHW is NHWC */
        quantize_rows(j->x + p0, 1, (int)(p1 - p0), 0, q->in_scale, q->in_zero, o);
        return;
    }
    qb_qlayer_quantize_planes(j->x + p0, j->c, (size_t)j->hw, p1 - p0, q->in_scale, q->in_zero, o, j->c);
}

#ifdef QB_Q16_AVX512
/* Three planes (an RGB image) into contiguous pixels of 3 codes with
 * AVX-512 VBMI, 16 pixels a step: each plane's 16 values quantized
 * (qb_quantize16_avx512: qb_quantize_i8's codes), the 48 codes
 * interleaved by one byte permute and stored at once (before: the floats
 * interleaved into a block, then quantized). */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vbmi"))) static void
quantize_rgb_vbmi(const float *x, size_t ldx, int64_t np, float scale, int32_t zero, int8_t *o)
{
    /* output byte j < 48: pixel j / 3 of plane j % 3, at (j % 3) * 16 + j / 3 (a constant: built here per
     * call, a loop and a 64-byte reload of four 16-byte stores, it cost about as much as 5 of a row's steps) */
    static const uint8_t ix[64] __attribute__((aligned(64))) = {
        0,  16, 32, 1,  17, 33, 2,  18, 34, 3,  19, 35, 4,  20, 36, 5,  21, 37, 6,  22, 38, 7,  23, 39,
        8,  24, 40, 9,  25, 41, 10, 26, 42, 11, 27, 43, 12, 28, 44, 13, 29, 45, 14, 30, 46, 15, 31, 47};
    const __m512 sc = _mm512_set1_ps(scale);
    const __m512i zp = _mm512_set1_epi32(zero);
    const __m512i idx = _mm512_load_si512(ix);
    for (int64_t p = 0; p < np; p += 16) {
        int n = np - p < 16 ? (int)(np - p) : 16;
        __mmask16 m = (__mmask16)((1u << n) - 1);
        __m512 f0, f1, f2;
        if (n == 16) { /* whole steps: plain loads (a masked one costs about two here) */
            f0 = _mm512_loadu_ps(x + p), f1 = _mm512_loadu_ps(x + ldx + p), f2 = _mm512_loadu_ps(x + 2 * ldx + p);
        } else {
            f0 = _mm512_maskz_loadu_ps(m, x + p), f1 = _mm512_maskz_loadu_ps(m, x + ldx + p);
            f2 = _mm512_maskz_loadu_ps(m, x + 2 * ldx + p);
        }
        __m512i v = _mm512_castsi128_si512(qb_quantize16_avx512(f0, sc, zp));
        v = _mm512_inserti32x4(v, qb_quantize16_avx512(f1, sc, zp), 1);
        v = _mm512_inserti32x4(v, qb_quantize16_avx512(f2, sc, zp), 2);
        _mm512_mask_storeu_epi8(o + 3 * p, (__mmask64)((1ULL << (3 * n)) - 1), _mm512_permutexvar_epi8(idx, v));
    }
}
#endif

#ifdef QB_Q16_AVX512
/* qb_qlayer_quantize_planes with AVX-512: 16 pixels x 16 channels a step,
 * each channel's 16 values quantized in a register (qb_quantize16_avx512:
 * qb_quantize_i8's codes), the 16 x 16 codes transposed
 * (qb_transpose16_i8) and stored as 16 pixels' codes (before: the floats
 * transposed into a block, quantized, and the codes copied a pixel at a
 * time). */
__attribute__((target("avx512f,avx512bw,avx512vl"))) static void
quantize_planes_avx512(const float *x, int64_t c, size_t ldx, int64_t np, float scale, int32_t zero, int8_t *o,
                       int64_t ldo)
{
    const __m512 sc = _mm512_set1_ps(scale);
    const __m512i zp = _mm512_set1_epi32(zero);
    for (int64_t p = 0; p < np; p += 16) {
        const int n = np - p < 16 ? (int)(np - p) : 16;
        const __mmask16 lm = qb_lanes16(n);
        for (int64_t c0 = 0; c0 < c; c0 += 16) {
            const int nc = c - c0 < 16 ? (int)(c - c0) : 16;
            const __mmask16 cm = qb_lanes16(nc);
            __m128i r[16];
#pragma GCC unroll 16
            for (int i = 0; i < 16; i++)
                r[i] = i < nc ? qb_quantize16_avx512(_mm512_maskz_loadu_ps(lm, x + (size_t)(c0 + i) * ldx + p), sc, zp)
                              : _mm_setzero_si128();
            qb_transpose16_i8(r);
#pragma GCC unroll 16
            for (int i = 0; i < 16; i++) /* (unrolled: r stays in registers) */
                if (i < n)
                    _mm_mask_storeu_epi8(o + (p + i) * ldo + c0, cm, r[i]);
        }
    }
}
#endif

#ifdef QB_Q8_AVX2
/* quantize_rgb_vbmi with AVX2: three planes into contiguous pixels of 3
 * codes, 8 pixels a step: each plane's 8 values quantized
 * (qb_quantize8_avx2), the 24 codes interleaved by two byte shuffles and
 * stored as 16 + 8 bytes (the last step through a buffer). */
__attribute__((target("avx2"))) static void quantize_rgb_avx2(const float *x, size_t ldx, int64_t np, float scale,
                                                              int32_t zero, int8_t *o)
{
    const __m256 sc = _mm256_set1_ps(scale);
    const __m256i zp = _mm256_set1_epi32(zero);
    int8_t ab[32], cc[32]; /* output byte j < 24: pixel j / 3 of plane j % 3, from a|b (a: 0-7, b: 8-15) or c */
    for (int j = 0; j < 32; j++) {
        const int px = j / 3, pl = j % 3;
        ab[j] = (int8_t)(j < 24 && pl < 2 ? pl * 8 + px : -128);
        cc[j] = (int8_t)(j < 24 && pl == 2 ? px : -128);
    }
    const __m128i ab0 = _mm_loadu_si128((const __m128i *)(const void *)ab),
                  ab1 = _mm_loadu_si128((const __m128i *)(const void *)(ab + 16)),
                  cc0 = _mm_loadu_si128((const __m128i *)(const void *)cc),
                  cc1 = _mm_loadu_si128((const __m128i *)(const void *)(cc + 16));
    for (int64_t p = 0; p < np; p += 8) {
        const int n = np - p < 8 ? (int)(np - p) : 8;
        const __m256i lm = qb_lanes8(n);
        const __m128i a = qb_quantize8_avx2(_mm256_maskload_ps(x + p, lm), sc, zp);
        const __m128i b = qb_quantize8_avx2(_mm256_maskload_ps(x + ldx + p, lm), sc, zp);
        const __m128i c = qb_quantize8_avx2(_mm256_maskload_ps(x + 2 * ldx + p, lm), sc, zp);
        const __m128i v = _mm_unpacklo_epi64(a, b);
        const __m128i lo = _mm_or_si128(_mm_shuffle_epi8(v, ab0), _mm_shuffle_epi8(c, cc0));
        const __m128i hi = _mm_or_si128(_mm_shuffle_epi8(v, ab1), _mm_shuffle_epi8(c, cc1));
        int8_t *d = o + 3 * p;
        if (n == 8) {
            _mm_storeu_si128((__m128i *)(void *)d, lo);
            _mm_storel_epi64((__m128i *)(void *)(d + 16), hi);
        } else {
            int8_t t[32];
            _mm_storeu_si128((__m128i *)(void *)t, lo);
            _mm_storeu_si128((__m128i *)(void *)(t + 16), hi);
            memcpy(d, t, (size_t)(3 * n));
        }
    }
}

/* qb_qlayer_quantize_planes with AVX2 (where AVX-512 is not allowed): 8
 * pixels x 8 channels a step, each channel's 8 values quantized in a
 * register (qb_quantize8_avx2: qb_quantize_i8's codes), the 8 x 8 codes
 * transposed (qb_transpose8_i8) and stored as 8 pixels' codes. */
__attribute__((target("avx2"))) static void quantize_planes_avx2(const float *x, int64_t c, size_t ldx, int64_t np,
                                                                 float scale, int32_t zero, int8_t *o, int64_t ldo)
{
    const __m256 sc = _mm256_set1_ps(scale);
    const __m256i zp = _mm256_set1_epi32(zero);
    for (int64_t p = 0; p < np; p += 8) {
        const int n = np - p < 8 ? (int)(np - p) : 8;
        const __m256i lm = qb_lanes8(n);
        for (int64_t c0 = 0; c0 < c; c0 += 8) {
            const int nc = c - c0 < 8 ? (int)(c - c0) : 8;
            __m128i r[8], t[4];
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++)
                r[i] = i < nc ? qb_quantize8_avx2(_mm256_maskload_ps(x + (size_t)(c0 + i) * ldx + p, lm), sc, zp)
                              : _mm_setzero_si128();
            qb_transpose8_i8(r, t);
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++)
                if (i < n)
                    qb_store8_i8(o + (p + i) * ldo + c0, i & 1 ? _mm_srli_si128(t[i / 2], 8) : t[i / 2], nc);
        }
    }
}
#endif

static int qplanes_avx2_only; /* qb_qlayer_quantize_planes_avx2_only(1): the AVX2 loop, not AVX-512 (tests) */

void qb_qlayer_quantize_planes_avx2_only(int on) { qplanes_avx2_only = on; }

void qb_qlayer_quantize_planes(const float *x, int64_t c, size_t ldx, int64_t np, float scale, int32_t zero,
                               int8_t *o, int64_t ldo)
{
#ifdef QB_Q16_AVX512
    static int vbmi = -1, avx512 = -1;
    if (vbmi < 0)
        vbmi = qb_avx512_allowed(QB_CPU_AVX512F | QB_CPU_AVX512BW | QB_CPU_AVX512VL | QB_CPU_AVX512VBMI);
    if (avx512 < 0)
        avx512 = qb_avx512_allowed(QB_CPU_AVX512F | QB_CPU_AVX512BW | QB_CPU_AVX512VL);
    if (c == 3 && ldo == 3 && vbmi && !qplanes_avx2_only) {
        quantize_rgb_vbmi(x, ldx, np, scale, zero, o);
        return;
    }
    if (c > 1 && avx512 && !qplanes_avx2_only) {
        quantize_planes_avx512(x, c, ldx, np, scale, zero, o, ldo);
        return;
    }
#endif
#ifdef QB_Q8_AVX2
    static int avx2 = -1;
    if (avx2 < 0)
        avx2 = qb_avx2_allowed();
    if (c == 3 && ldo == 3 && avx2) {
        quantize_rgb_avx2(x, ldx, np, scale, zero, o);
        return;
    }
    if (c > 1 && avx2) {
        quantize_planes_avx2(x, c, ldx, np, scale, zero, o, ldo);
        return;
    }
#endif
    float tf[QIMG_BLK * 16];  /* a block transposed: pixel-major floats */
    int8_t tq[QIMG_BLK * 16]; /* ... quantized */
    int64_t cb = 16;          /* channels per pass */
    for (int64_t p = 0; p < np; p += QIMG_BLK) {
        int nb = (int)(np - p < QIMG_BLK ? np - p : QIMG_BLK);
        for (int64_t c0 = 0; c0 < c; c0 += cb) {
            int nc = (int)(c - c0 < cb ? c - c0 : cb);
            qb_planes_to_pixels(tf, x + c0 * (int64_t)ldx + p, ldx, nc, nb); /* pixel-major floats */
            int8_t *op = o + p * ldo + c0;
            if (ldo == nc) { /* the block is contiguous in o */
                quantize_rows(tf, 1, nb * nc, 0, scale, zero, op);
                continue;
            }
            quantize_rows(tf, 1, nb * nc, 0, scale, zero, tq);
            if (nc == 16)
                for (int i = 0; i < nb; i++)
                    memcpy(op + i * ldo, tq + i * 16, 16);
            else
                for (int i = 0; i < nb; i++)
                    memcpy(op + i * ldo, tq + i * nc, (size_t)nc);
        }
    }
}

static void qimage_pixels(void *ctx, int64_t p0, int64_t p1)
{
    const qimage_job *j = ctx;
    qimage_span(j, p0, p1, j->out + p0 * j->c);
}

void qb_qlayer_quantize_image(const qb_node *n, const float *x, int x_nhwc, int64_t c, int64_t hw, int8_t *out)
{
    qimage_job j = {n->q, x, x_nhwc, c, hw, out, 0, 0, 0, 0, 0};
    qb_gpar_for(hw, qb_gpar_chunk(hw, c, QIMG_BLK), qimage_pixels, &j);
}

/* n bytes of zp at o: up to 16 by two fixed-size stores that may overlap
 * (a row's pads of 1-3 pixels of an image: a libc memset call each cost
 * more than its bytes), longer ones by memset; the same bytes. */
static inline void fill_zp(int8_t *o, int8_t zp, int64_t n)
{
    const uint64_t pat = 0x0101010101010101ull * (uint8_t)zp;
    if (n > 16) {
        memset(o, zp, (size_t)n);
    } else if (n >= 8) {
        memcpy(o, &pat, 8);
        memcpy(o + n - 8, &pat, 8);
    } else if (n >= 4) {
        memcpy(o, &pat, 4);
        memcpy(o + n - 4, &pat, 4);
    } else if (n >= 2) {
        memcpy(o, &pat, 2);
        memcpy(o + n - 2, &pat, 2);
    } else if (n == 1) {
        o[0] = zp;
    }
}

#ifdef QB_Q16_AVX512
/* qimage_padded_rows for an image whose rows are contiguous floats (NHWC,
 * or one channel) with AVX-512: each padded row filled with the zero
 * point 64 bytes a step, then its image row quantized 16 values a step
 * (qb_quantize16_avx512: qb_quantize_i8's codes) straight into place,
 * with no call per row (the zoo cnn's 28 rows of 28 values were a
 * qb_quantize_i8 call and two memset calls each). */
__attribute__((target("avx512f,avx512bw,avx512vl"))) static void qimage_padded_rows_avx512(const qimage_job *j,
                                                                                          int64_t y0, int64_t y1)
{
    const int64_t c = j->c, row = j->wp * c, n = j->w * c;
    const __m512i pv = _mm512_set1_epi8((char)j->q->in_zero), zp = _mm512_set1_epi32(j->q->in_zero);
    const __m512 sc = _mm512_set1_ps(j->q->in_scale);
    for (int64_t y = y0; y < y1; y++) { /* y: a row of the padded buffer */
        int8_t *o = j->out + y * row;
        for (int64_t b = 0; b < row; b += 64)
            _mm512_mask_storeu_epi8(o + b, row - b >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << (row - b)) - 1, pv);
        int64_t iy = y - j->pt;
        if (iy < 0 || iy >= j->h)
            continue;
        const float *x = j->x + iy * n;
        o += j->pl * c;
        for (int64_t p = 0; p < n; p += 16) {
            __mmask16 m = qb_lanes16(n - p);
            _mm_mask_storeu_epi8(o + p, m, qb_quantize16_avx512(_mm512_maskz_loadu_ps(m, x + p), sc, zp));
        }
    }
}
#endif

/* Rows [y0, y1) of the padded image: each image row quantized into its
 * place, the padding columns (and rows, by the first and last chunk) set
 * to the zero point. */
static void qimage_padded_rows(void *ctx, int64_t y0, int64_t y1)
{
    const qimage_job *j = ctx;
    const int64_t c = j->c, row = j->wp * c;
    int8_t zp = (int8_t)j->q->in_zero;
#ifdef QB_Q16_AVX512
    static int avx512 = -1;
    if (avx512 < 0)
        avx512 = qb_avx512_allowed(QB_CPU_AVX512F | QB_CPU_AVX512BW | QB_CPU_AVX512VL);
    if (avx512 && (j->x_nhwc || c == 1)) {
        qimage_padded_rows_avx512(j, y0, y1);
        return;
    }
#endif
    for (int64_t y = y0; y < y1; y++) { /* y: a row of the padded buffer */
        int8_t *o = j->out + y * row;
        int64_t iy = y - j->pt;
        if (iy < 0 || iy >= j->h) {
            memset(o, zp, (size_t)row);
            continue;
        }
        int64_t w = j->w;
        fill_zp(o, zp, j->pl * c);
        qimage_span(j, iy * w, iy * w + w, o + j->pl * c);
        fill_zp(o + (j->pl + w) * c, zp, (j->wp - j->pl - w) * c);
    }
}

void qb_qlayer_quantize_image_padded(const qb_node *n, const float *x, int x_nhwc, int64_t c, int64_t h, int64_t w,
                                     int64_t pt, int64_t pl, int64_t hp, int64_t wp, int8_t *out)
{
    qimage_job j = {n->q, x, x_nhwc, c, h * w, out, h, w, pt, pl, wp};
    qb_gpar_for(hp, qb_gpar_chunk(hp, wp * c, 1), qimage_padded_rows, &j);
}

/* The int8 grid bound of a float clamp value (fused Relu/Clip). */
static int32_t grid_bound(float f, const qb_qspec *q, int32_t dflt)
{
    if (isinf(f))
        return dflt;
    return qb_quantize1_i8(f, q->out_scale, q->out_zero, -128, 127);
}

static void out_bounds(const qb_node *n, const qb_qspec *q, int32_t *lo, int32_t *hi)
{
    *lo = grid_bound(n->f_min, q, -128);
    *hi = grid_bound(n->f_max, q, 127);
    if (*hi < *lo)
        *hi = *lo;
}

/* ONNX DequantizeLinear: y = (float)(c - zero) * scale, m rows of nr (kernels/quantize.h). */
static void dequantize_rows(const int8_t *c, int m, int nr, float scale, int32_t zero, float *y, size_t ldy)
{
    if (ldy == (size_t)nr) { /* contiguous rows: one call */
        qb_dequantize_i8(c, (size_t)m * nr, scale, zero, y);
        return;
    }
    for (int i = 0; i < m; i++)
        qb_dequantize_i8(c + (size_t)i * nr, (size_t)nr, scale, zero, y + (size_t)i * ldy);
}

#define DQ_KC 128 /* dequantize_planes: most channels per tile */

/* The same into NCHW planes: row i, channel k of c (m rows of nr) to
 * y[k * ldp + i]. Blocks of QIMG_BLK pixels x up to DQ_KC channels
 * dequantized into a tile (one call for the whole block when it has all
 * nr channels: per-row calls of 16 values cost more than the values),
 * then written plane by plane (4 x 4 SSE blocks): the values of
 * dequantize_rows (DequantizeLinear is per element), no separate
 * transpose pass. */
static void dequantize_planes(const int8_t *c, int m, int nr, float scale, int32_t zero, float *y, size_t ldp)
{
    float t[QIMG_BLK * DQ_KC]; /* a block dequantized: pixel-major, rows of kc */
    for (int i0 = 0; i0 < m; i0 += QIMG_BLK) {
        int nb = m - i0 < QIMG_BLK ? m - i0 : QIMG_BLK;
        for (int kc0 = 0; kc0 < nr; kc0 += DQ_KC) {
            int kc = nr - kc0 < DQ_KC ? nr - kc0 : DQ_KC;
            if (kc == nr)
                qb_dequantize_i8(c + (size_t)i0 * nr, (size_t)nb * nr, scale, zero, t);
            else
                for (int i = 0; i < nb; i++)
                    qb_dequantize_i8(c + (size_t)(i0 + i) * nr + kc0, (size_t)kc, scale, zero, t + i * kc);
            qb_transpose_f32(y + (size_t)kc0 * ldp + i0, ldp, t, (size_t)kc, nb, kc);
        }
    }
}

int qb_qlayer_int8_link(const qb_node *p, const qb_node *c)
{
    return p->q && c->q && qb_precision_is_int8(p->q->run_prec) && qb_precision_is_int8(c->q->run_prec) &&
           p->q->out_scale == c->q->in_scale && p->q->out_zero == c->q->in_zero;
}

/* The phases of a quantized call, per chunk of rows. */
enum { PH_IN = 1, PH_KERNEL = 2, PH_OUT = 4, PH_ALL = 7 };

/* One quantized GEMM call: convert the float input rows (quantize, or
 * binary sign bits), run the kernel, dequantize the int8 output rows. */
typedef struct qgemm_job {
    const qb_qspec *q;    /* the node's parameters */
    const qb_packed *p;   /* packed weights and kernel */
    qb_gemm_args ga;      /* the kernel call on all m rows */
    const float *src;     /* float input to convert into ga.a, or NULL (ga.a is the input) */
    size_t lda;           /* src row stride */
    int8_t *c8;           /* int8 kernel output to dequantize, or NULL */
    float *y;             /* dequantized output */
    size_t ldy;           /* its row stride */
    size_t ldp;           /* nonzero: y is NCHW planes ldp floats apart (row i, channel k at y[k * ldp + i]) */
    int phases;           /* PH_* bits this pass does */
    const qb_node *epi;   /* element-wise chain run on each block of output rows (after PH_OUT), or NULL */
    int64_t sub;          /* epi: rows per block of PH_ALL (QB_GPAR_ALIGN multiple, about QB_EPI_BYTES) */
    const qb_node *sm;    /* a Softmax along the rows run on each block of dequantized rows in place (y its
                           * output: qb_qlayer_gemm_softmax), or NULL */
} qgemm_job;

/* The conv epilogue epi on pixels [i0, i1) of an NHWC output: int8 codes
 * through the chain's tables (y8) or dequantized floats (yf), rows of
 * ld elements (whole pixels). */
static void run_epilogue(const qb_node *epi, int8_t *y8, float *yf, size_t ld, int64_t i0, int64_t i1)
{
    if (y8)
        qb_elem_chain_apply_i8(epi, y8 + (size_t)i0 * ld, i1 - i0);
    else
        qb_elem_chain_apply_nhwc(epi, yf + (size_t)i0 * ld, i1 - i0);
}

static void qgemm_block(const qgemm_job *j, int64_t i0, int64_t i1, int phases)
{
    const qb_qspec *q = j->q;
    int m = (int)(i1 - i0), K = j->p->k, nr = j->p->n;
    if ((phases & PH_IN) && j->src) {
        const float *a = j->src + (size_t)i0 * j->lda;
        if (q->run_prec == QB_PREC_BINARY) {
            size_t words = qb_binary_words(K);
            uint64_t *bits = (uint64_t *)j->ga.a + (size_t)i0 * words;
            memset(bits, 0, (size_t)m * words * 8);
            for (int i = 0; i < m; i++) {
                const float *r = a + (size_t)i * j->lda;
                uint64_t *b = bits + (size_t)i * words;
                for (int k = 0; k < K; k++)
                    b[k >> 6] |= (uint64_t)(signbit(r[k] - q->in_shift) != 0) << (k & 63);
            }
        } else {
            quantize_rows(a, m, K, j->lda, q->in_scale, q->in_zero, (int8_t *)j->ga.a + (size_t)i0 * K);
        }
    }
    if (phases & PH_KERNEL) {
        qb_gemm_args ga;
        qb_gpar_gemm_rows(j->p, &j->ga, i0, i1, &ga);
        j->p->kernel->run.gemm(j->p, &ga);
    }
    int done = 0; /* the epilogue ran with the dequantization (its float table) */
    if ((phases & PH_OUT) && j->c8 && j->ldp)
        dequantize_planes(j->c8 + (size_t)i0 * nr, m, nr, q->out_scale, q->out_zero, j->y + i0, j->ldp);
    else if ((phases & PH_OUT) && j->c8 &&
             !(done = j->epi && j->ldy == (size_t)nr &&
                      qb_elem_chain_apply_dq(j->epi, j->c8 + (size_t)i0 * nr, j->y + (size_t)i0 * nr, (int64_t)m * nr)))
        dequantize_rows(j->c8 + (size_t)i0 * nr, m, nr, q->out_scale, q->out_zero, j->y + (size_t)i0 * j->ldy,
                        j->ldy);
    if ((phases & PH_OUT) && j->epi && !done)
        run_epilogue(j->epi, j->c8 ? NULL : (int8_t *)j->ga.c, j->y, j->c8 ? j->ldy : j->ga.ldc, i0, i1);
    if ((phases & PH_OUT) && j->sm)
        qb_softmax_rows_inplace(j->sm, j->y, i0, i1);
}

/* Rows [i0, i1): the phases asked for; with an epilogue and every phase,
 * in blocks of j->sub rows (each converted, multiplied and run through
 * the chain while in cache; the int8 kernel's rows are exact, so the
 * same bits as one block). */
static void qgemm_rows(void *ctx, int64_t i0, int64_t i1)
{
    const qgemm_job *j = ctx;
    if (!j->epi || j->phases != PH_ALL || j->sub <= 0) {
        qgemm_block(j, i0, i1, j->phases);
        return;
    }
    for (int64_t r = i0; r < i1; r += j->sub)
        qgemm_block(j, r, r + j->sub < i1 ? r + j->sub : i1, PH_ALL);
}

void qb_qlayer_gemm(qb_graph *g, qb_node *n, const qb_packed *p, int m, const void *a, size_t lda, int a_i8, void *y,
                    size_t ldy, int y_i8, int r0, void *scratch)
{
    qb_qlayer_gemm_epi(g, n, p, m, a, lda, a_i8, y, ldy, y_i8, r0, NULL, scratch);
}

static void qgemm_call(qb_graph *g, qb_node *n, const qb_packed *p, int m, const void *a, size_t lda, int a_i8,
                       void *y, size_t ldy, int y_i8, int r0, const qb_node *epi, size_t ldp, const qb_node *sm,
                       void *scratch);

void qb_qlayer_gemm_epi(qb_graph *g, qb_node *n, const qb_packed *p, int m, const void *a, size_t lda, int a_i8,
                        void *y, size_t ldy, int y_i8, int r0, const qb_node *epi, void *scratch)
{
    qgemm_call(g, n, p, m, a, lda, a_i8, y, ldy, y_i8, r0, epi, 0, NULL, scratch);
}

void qb_qlayer_gemm_softmax(qb_graph *g, qb_node *n, const qb_packed *p, int m, const void *a, size_t lda, int a_i8,
                            float *y, const qb_node *sm, void *scratch)
{
    qgemm_call(g, n, p, m, a, lda, a_i8, y, (size_t)p->n, 0, 0, NULL, 0, sm, scratch);
}

int qb_qlayer_gemm_planes(qb_graph *g, qb_node *n, const qb_packed *p, int m, const void *a, size_t lda, int a_i8,
                          float *y, size_t ldp, int r0, void *scratch)
{
    if (!qb_precision_is_int8(n->q->run_prec))
        return -1;
    qgemm_call(g, n, p, m, a, lda, a_i8, y, 0, 0, r0, NULL, ldp, NULL, scratch);
    return 0;
}

static void qgemm_call(qb_graph *g, qb_node *n, const qb_packed *p, int m, const void *a, size_t lda, int a_i8,
                       void *y, size_t ldy, int y_i8, int r0, const qb_node *epi, size_t ldp, const qb_node *sm,
                       void *scratch)
{
    qb_qspec *q = n->q;
    int K = p->k, nr = p->n;
    qgemm_job j = {.q = q, .p = p, .ga = {.m = m, .f_min = n->f_min, .f_max = n->f_max}, .sm = sm};
    if (epi && qb_precision_is_int8(q->run_prec)) {
        j.epi = epi;
        j.y = y_i8 ? NULL : y, j.ldy = ldy; /* (the dequantized output; y_i8: ga.c) */
        j.sub = QB_EPI_BYTES / ((int64_t)nr * (y_i8 ? 1 : (int64_t)sizeof(float))) / QB_GPAR_ALIGN * QB_GPAR_ALIGN;
        if (j.sub < QB_GPAR_ALIGN)
            j.sub = QB_GPAR_ALIGN;
    }
    qb_gemm_args *ga = &j.ga;
    switch (q->run_prec) {
    case QB_PREC_FP16:
        ga->a = a, ga->lda = lda, ga->c = y, ga->ldc = ldy;
        break;
    case QB_PREC_BINARY:
        j.src = a, j.lda = lda;
        ga->a = scratch, ga->lda = qb_binary_words(K), ga->c = y, ga->ldc = ldy;
        break;
    default: { /* int8-*, int4: quantized activations */
        int8_t *a8 = scratch;
        if (a_i8) {
            ga->a = a, ga->lda = lda;
        } else {
            j.src = a, j.lda = lda;
            ga->a = a8, ga->lda = (size_t)K;
        }
        ga->a_zero = q->in_zero, ga->a_scale = q->in_scale;
        if (q->run_prec == QB_PREC_INT4) {
            ga->c = y, ga->ldc = ldy;
        } else {
            ga->rq = q->rq + (q->run_prec == QB_PREC_INT8_CHANNEL ? r0 : 0);
            ga->c_zero = q->out_zero;
            out_bounds(n, q, &ga->c_min, &ga->c_max);
            if (y_i8) {
                ga->c = y, ga->ldc = ldy;
            } else {
                j.c8 = a8 + (size_t)m * K, j.y = y, j.ldy = ldy, j.ldp = ldp;
                ga->c = j.c8, ga->ldc = (size_t)nr;
            }
        }
    }
    }
    if (qb_gpar_col_chunk(p, m) > 0) { /* few rows: the kernel split over N, the conversions whole */
        j.phases = PH_IN;
        qgemm_rows(&j, 0, m);
        double t0 = g->profile ? qb_now_ms() : 0;
        qb_gpar_gemm(p, &j.ga);
        if (g->profile)
            g->kernel_ms_acc += qb_now_ms() - t0;
        j.phases = PH_OUT;
        if (sm) /* the Softmax's rows split across threads as its own run splits them */
            qb_gpar_for(m, qb_gpar_chunk(m, 8 * (int64_t)nr, 1), qgemm_rows, &j);
        else
            qgemm_rows(&j, 0, m);
        return;
    }
    int64_t chunk = qb_gpar_chunk(m, (int64_t)K * nr, QB_GPAR_ALIGN);
    if (!j.src && !j.c8) { /* int8 in and out, nothing converted: one kernel call per thread, whose
                            * row blocks the kernel chooses (AVX2 int8: 96+ rows take its faster path) */
        int64_t t = qb_gpar_threads(), per = (m + t - 1) / t;
        per = (per + QB_GPAR_ALIGN - 1) / QB_GPAR_ALIGN * QB_GPAR_ALIGN;
        chunk = per > chunk ? per : chunk;
        if (qb_gpar_alone(m, chunk, qgemm_rows))
            chunk = m; /* a loop found small: its chunks would run one after another, so one call, as on
                        * one thread (dscnn int8 at 2 threads was 3% slower than at 1 with two calls) */
    }
    if (!g->profile) { /* convert, multiply and dequantize each chunk while it is in cache */
        j.phases = PH_ALL;
        qb_gpar_for(m, chunk, qgemm_rows, &j);
        return;
    }
    /* --profile: the same chunks, one phase at a time, the kernel's timed alone */
    j.phases = PH_IN;
    qb_gpar_for(m, chunk, qgemm_rows, &j);
    j.phases = PH_KERNEL;
    double t0 = qb_now_ms();
    qb_gpar_for(m, chunk, qgemm_rows, &j);
    g->kernel_ms_acc += qb_now_ms() - t0;
    j.phases = PH_OUT;
    qb_gpar_for(m, chunk, qgemm_rows, &j);
}

void qb_qlayer_gemm_at(qb_graph *g, qb_node *n, const qb_packed *p, int m, const int8_t *a, size_t lda,
                       const ptrdiff_t *taps, int ntaps, int run, size_t run_ld, void *y, size_t ldy, int y_i8,
                       size_t ldp, int r0, const qb_node *epi, void *scratch, int64_t *kernel_ns)
{
    qb_qspec *q = n->q;
    int nr = p->n;
    qgemm_job j = {.q = q, .p = p, .ga = {.m = m, .a = a, .lda = lda, .f_min = n->f_min, .f_max = n->f_max,
                                          .a_taps = taps, .a_ntaps = ntaps, .a_run = run, .a_run_ld = run_ld}};
    j.ga.a_zero = q->in_zero, j.ga.a_scale = q->in_scale;
    j.ga.rq = q->rq + (q->run_prec == QB_PREC_INT8_CHANNEL ? r0 : 0);
    j.ga.c_zero = q->out_zero;
    out_bounds(n, q, &j.ga.c_min, &j.ga.c_max);
    if (y_i8) {
        j.ga.c = y, j.ga.ldc = ldy;
    } else {
        j.c8 = scratch, j.y = y, j.ldy = ldy, j.ldp = ldp;
        j.ga.c = j.c8, j.ga.ldc = (size_t)nr;
    }
    if (epi) {
        j.epi = epi;
        if (y_i8)
            j.y = NULL, j.ldy = ldy;
    }
    double t0 = g->profile ? qb_now_ms() : 0;
    qgemm_block(&j, 0, m, PH_KERNEL);
    if (g->profile)
        __atomic_fetch_add(kernel_ns, (int64_t)((qb_now_ms() - t0) * 1e6), __ATOMIC_RELAXED);
    qgemm_block(&j, 0, m, PH_OUT);
}

size_t qb_qlayer_dw_scratch(int64_t hw, int64_t ohw, int64_t c) { return (size_t)((hw + ohw) * c + 64); }

/* One quantized depthwise call: the input quantized by pixel chunks
 * first (output rows read neighbouring input rows), then the kernel and
 * the dequantization by chunks of output rows. */
typedef struct qdw_job {
    const qb_qspec *q;   /* the node's parameters */
    const qb_packed *p;  /* packed weights and kernel */
    qb_dw_args d;        /* the kernel call (int8 x and y) */
    const float *xf;     /* float input to quantize into d.x, or NULL */
    float *yf;           /* float output to dequantize d.y into, or NULL */
    int phases;          /* PH_KERNEL and/or PH_OUT: what qdw_rows does */
    const qb_node *epi;  /* element-wise chain run on each block of output rows (after PH_OUT), or NULL */
    int64_t sub;         /* epi or yf: output rows per block (about QB_EPI_BYTES), else 0 */
} qdw_job;

/* Input pixels [i0, i1): quantize. */
static void qdw_pixels(void *ctx, int64_t i0, int64_t i1)
{
    const qdw_job *j = ctx;
    int c = j->d.c;
    quantize_rows(j->xf + (size_t)i0 * c, (int)(i1 - i0), c, (size_t)c, j->q->in_scale, j->q->in_zero,
                  (int8_t *)j->d.x + (size_t)i0 * c);
}

/* Output rows [oy0, oy1): the kernel. */
static void qdw_kernel(const qdw_job *j, int64_t oy0, int64_t oy1)
{
    qb_dw_args d;
    qb_gpar_dw_rows(&j->d, (int)oy0, (int)oy1, 1, 1, &d);
    j->p->kernel->run.dw(j->p, &d);
}

/* Output rows [oy0, oy1): dequantize, epilogue. */
static void qdw_block(const qdw_job *j, int64_t oy0, int64_t oy1)
{
    int done = 0; /* the epilogue ran with the dequantization (its float table) */
    if ((j->phases & PH_OUT) && j->yf) {
        size_t at = (size_t)oy0 * j->d.out_w * j->d.c;
        const int8_t *y8 = (const int8_t *)j->d.y + at;
        if (!(done = j->epi && qb_elem_chain_apply_dq(j->epi, y8, j->yf + at, (oy1 - oy0) * j->d.out_w * j->d.c)))
            dequantize_rows(y8, (int)((oy1 - oy0) * j->d.out_w), j->d.c, j->q->out_scale, j->q->out_zero,
                            j->yf + at, (size_t)j->d.c);
    }
    if ((j->phases & PH_OUT) && j->epi && !done)
        run_epilogue(j->epi, j->yf ? NULL : (int8_t *)j->d.y, j->yf, (size_t)j->d.c, oy0 * j->d.out_w,
                     oy1 * j->d.out_w);
}

/* Output rows [oy0, oy1), the output stage in blocks of j->sub rows (with
 * an epilogue or a float output), the kernel in blocks of whole sub blocks and at least 4
 * window heights (the VNNI kernels interleave a call's input rows once: a
 * block of a few rows would redo the rows it shares with the next);
 * every output pixel is computed alone: the same bits as one block. */
static void qdw_rows(void *ctx, int64_t oy0, int64_t oy1)
{
    const qdw_job *j = ctx;
    int64_t sub = j->sub > 0 ? j->sub : oy1 - oy0;
    int64_t kb = sub * ((4 * (int64_t)j->d.kh + sub - 1) / sub);
    for (int64_t r = oy0; r < oy1; r += kb) {
        int64_t e = r + kb < oy1 ? r + kb : oy1;
        if (j->phases & PH_KERNEL)
            qdw_kernel(j, r, e);
        if (j->phases & PH_OUT)
            for (int64_t b = r; b < e; b += sub)
                qdw_block(j, b, b + sub < e ? b + sub : e);
    }
}

void qb_qlayer_dw(qb_graph *g, qb_node *n, const qb_packed *p, const qb_dw_args *a, int x_i8, int y_i8,
                  const qb_node *epi, void *scratch)
{
    qb_qspec *q = n->q;
    double t0;
    if (q->kernel->prec == QB_PREC_FP32) { /* fp16: rounded weights on the fp32 kernel */
        t0 = g->profile ? qb_now_ms() : 0;
        qb_gpar_dw(p, a);
        if (g->profile)
            g->kernel_ms_acc += qb_now_ms() - t0;
        return;
    }
    int64_t hw = (int64_t)a->h * a->w;
    qdw_job j = {.q = q, .p = p, .d = *a};
    qb_dw_args *d = &j.d;
    int8_t *x8 = x_i8 ? (int8_t *)a->x : scratch, *y8 = y_i8 ? (int8_t *)a->y : (int8_t *)scratch + hw * a->c;
    j.xf = x_i8 ? NULL : a->x;
    j.yf = y_i8 ? NULL : a->y;
    d->x = x8, d->y = y8, d->x_zero = q->in_zero, d->y_zero = q->out_zero;
    d->rq = q->rq; /* N entries even per tensor (all equal) */
    j.epi = epi;
    if (epi || j.yf) {
        j.sub = QB_EPI_BYTES / ((int64_t)a->out_w * a->c * (y_i8 ? 1 : (int64_t)sizeof(float)));
        j.sub = j.sub < 1 ? 1 : j.sub;
    }
    out_bounds(n, q, &d->y_min, &d->y_max);
    if (j.xf)
        qb_gpar_for(hw, qb_gpar_chunk(hw, a->c, 16), qdw_pixels, &j);
    int64_t chunk = qb_gpar_chunk(a->out_h, (int64_t)a->out_w * a->c * a->kh * a->kw, 1);
    if (qb_gpar_threads() < 2 || (!j.yf && qb_gpar_alone(a->out_h, chunk, qdw_rows)))
        chunk = a->out_h; /* chunks one after another: one call (qdw_rows converts by blocks of sub rows while
                           * in cache), one set-up of the kernel's weights; a float output at 2+ threads
                           * keeps its chunks (deciding those alone made rec's 5x5 layers 1.8x slower) */
    if (!g->profile) {
        j.phases = PH_KERNEL | PH_OUT;
        qb_gpar_for(a->out_h, chunk, qdw_rows, &j);
        return;
    }
    j.phases = PH_KERNEL;
    t0 = qb_now_ms();
    qb_gpar_for(a->out_h, chunk, qdw_rows, &j);
    g->kernel_ms_acc += qb_now_ms() - t0;
    j.phases = PH_OUT;
    qb_gpar_for(a->out_h, chunk, qdw_rows, &j);
}
