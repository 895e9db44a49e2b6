/*
 * nhwc_ops.c - the operators between convolutions on NHWC tensors, so
 * that layouts (exec.c, choose_layouts) need not go back to NCHW at each
 * of them: MaxPool and AveragePool (2-D, float32), Concat along the
 * channels, GlobalAveragePool reading NHWC (its N x C x 1 x 1 output is
 * the same in both layouts), element-wise Add/Sub/Mul of two tensors
 * of one shape (layout-free: they keep their own run) and Add/Sub/Mul of
 * a map and one value per channel (N x C x 1 x 1: squeeze-excite). Each computes
 * exactly what the NCHW operator computes, in the same order per output
 * element (the window scanned in the same order, sums in the same
 * order), vectorised across channels instead of pixels, so the results
 * are bit-identical. A node switched to NHWC keeps its IR (export is
 * unchanged) and its own prepared state beside the NHWC one.
 *
 * Pools read NHWC and write NHWC or, where their readers want it, NCHW.
 *
 * int8 MaxPool: after a quantized conv whose output stays int8 (exec.c),
 * MaxPool takes the int8 maximum and maps it through a 256-entry table:
 * into the next conv's input grid when only int8 convs of one grid read
 * it (table[q] = QuantizeLinear(DequantizeLinear(q, producer grid),
 * consumer grid), the float path's arithmetic), else to floats
 * (DequantizeLinear). Both maps are non-decreasing, so max then table
 * equals dequantize, float max (, quantize): bit-identical to the float
 * path. The int8 maximum runs a row at a time with AVX-512 VBMI (the
 * table in registers over the row). int8 AveragePool: the window's values
 * dequantized on the fly and summed in the float path's order, then
 * divided, and quantized into the next convs' grid (QuantizeLinear, as
 * they would quantize it) or written as floats: bit-identical, the
 * dequantized tensor and the convs' quantizing pass gone. int8
 * GlobalAveragePool: the same producer's int8 output summed
 * per channel as floats, each value dequantized on the fly (the float
 * path's DequantizeLinear and additions, in its order): bit-identical,
 * without the dequantized tensor in between.
 *
 * Quantizing outputs: a Concat on the channels or an Add/Sub/Mul (of one
 * shape or per channel) whose output only int8 convs of one input grid read (exec.c)
 * writes that grid's int8 codes NHWC (QuantizeLinear of each float it
 * would have written, the arithmetic the convs use on their input), and
 * the convs read them as an int8 link: the float tensor, its NCHW read
 * and the convs' own quantizing pass are gone, with the same bits. Such
 * a Concat reading NCHW planes may read an input through a nearest integer
 * upsampling that is not materialised (qb_nhwc_read_upsampled, exec.c
 * fuse_upsampling): each value taken from the smaller source; so may an
 * Add/Sub/Mul from NCHW planes with AVX-512 or AVX2, which runs as one
 * pass (elem_q8_simd: operation, quantization and a byte transpose per 16
 * pixels x 16 channels, 8 x 8 with AVX2).
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define QB_NHWC_AVX512 1
#endif

#include "harness/graph/lut_i8.h"
#include "harness/graph/ops.h"
#include "harness/graph/par.h"
#include "harness/graph/q16_avx512.h"
#include "harness/graph/q8_avx2.h"
#include "harness/graph/qlayer.h"
#include "kernels/kernels.h"
#include "kernels/quantize.h"

#define NHWC_UP_MAX 8       /* inputs of a Concat that may be read upsampled */
#define NHWC_UP_BYTES 16384 /* int8 codes of a source row piece quantized at a time (Concat read upsampled) */

/* Prepared NHWC geometry of one node. */
typedef struct nhwc_state {
    int kind;                  /* NK_* */
    int64_t n, c, h, w;        /* input N, C, H, W (Concat: output C) */
    int64_t oh, ow;            /* output H, W */
    int64_t kh, kw, sh, sw;    /* window and strides */
    int64_t dh, dw;            /* dilations */
    int64_t pt, pl, pb, pr;    /* pads: top, left, bottom, right */
    int count_pad;             /* AveragePool count_include_pad */
    int out_nchw;              /* pools: NHWC input, NCHW output (the readers want NCHW) */
    int i8;                    /* MaxPool or GlobalAveragePool on int8 input (from a quantized conv): 1 int8
                                * output (MaxPool only), 2 float output; 3 (MaxPool after an int8 chain): int8
                                * output, the maximum as it is (no table) */
    float in_scale;            /* i8 == 2, GlobalAveragePool: the input grid's scale */
    int32_t in_zero;           /* ... and zero point */
    int gap_exact;             /* i8 == 2, GlobalAveragePool: every partial float sum of the dequantized values
                                * is exact in this grid (gap_sum_exact), so integer sums give the same bits */
    int8_t lut[256];           /* i8 == 1: output value of input q at lut[q + 128] */
    float lut_f[256];          /* i8 == 2: dequantized value of input q at lut_f[q + 128] */
    int q8;                    /* Concat, Add/Sub/Mul: writes int8 NHWC codes in the grid (q_scale, q_zero) of
                                * the convs reading it (qb_nhwc_quantize_out) */
    int q8_in_nhwc;            /* ... its inputs are NHWC (else NCHW planes) */
    float q_scale;             /* q8: the readers' input grid: scale */
    int32_t q_zero;            /* ... and zero point */
    char elem_op;              /* NK_ELEM, NK_BCAST: 'A'dd, 'S'ub or 'M'ul */
    int bc_in;                 /* NK_BCAST: the input (0 or 1) that is N x C x 1 x 1, one value per channel */
    int64_t up_rh[NHWC_UP_MAX];  /* q8 Concat or Add/Sub/Mul from NCHW: input k read upsampled (qb_nhwc_read_upsampled,
                                  * an Add/Sub/Mul only with AVX-512 or AVX2: elem_q8_simd): rows repeated
                                  * up_rh[k] times; 0: input k read as it is */
    int64_t up_rw[NHWC_UP_MAX];  /* ... columns repeated up_rw[k] times */
    int up_src[NHWC_UP_MAX];     /* ... from this tensor (the upsampling's input) */
    int rse;                   /* q8 Concat, Add/Sub/Mul from NCHW: 1 + the input k it computes itself as x + x * s from
                                * int8 NHWC codes x (qb_nhwc_rse_input: the Add and Mul fused into it); RSE_SELF:
                                * the Add x + Mul(x, s) writing its own float NCHW output so (qb_nhwc_rse_self); 0: none */
    int rse_x, rse_s;          /* ... the tensors x (int8 codes, NHWC) and s (N x C x 1 x 1 floats) */
    float rse_scale;           /* ... x's grid: scale */
    int32_t rse_zero;          /* ... and zero point */
    void *orig_state;          /* the operator's own prepared state */
    void (*orig_free)(void *); /* its free function, NULL for free() */
} nhwc_state;

#define RSE_SELF (NHWC_UP_MAX + 1) /* nhwc_state.rse: the node's own output is x + x * s (past any input's 1 + k) */

enum { NK_NONE, NK_MAXPOOL, NK_AVGPOOL, NK_GAP, NK_CONCAT, NK_ELEM, NK_BCAST };

static const qb_opdef nhwc_def;

static void nhwc_free(void *p)
{
    nhwc_state *s = p;
    if (!s)
        return;
    qb_node_state_free(s->orig_state, s->orig_free);
    free(s);
}

static int is_4d_float(const qb_tensor *t) { return t && t->ndim == 4 && t->dtype == QB_DT_FLOAT; }

/* Pool geometry from the attributes; 0 if this pool has no NHWC path. */
static int pool_geometry(const qb_graph *g, const qb_node *n, nhwc_state *s)
{
    const qb_tensor *x = qb_in(g, n, 0), *y = qb_out(g, n, 0);
    if (!is_4d_float(x) || !is_4d_float(y) || (n->nout > 1 && n->out[1] >= 0))
        return 0;
    const char *ap = qb_attr_str(n, "auto_pad", "NOTSET");
    if (strcmp(ap, "NOTSET"))
        return 0;
    const int64_t *k, *st, *pd, *dl;
    if (qb_attr_ints(n, "kernel_shape", &k) != 2)
        return 0;
    int ns = qb_attr_ints(n, "strides", &st), np = qb_attr_ints(n, "pads", &pd), nd = qb_attr_ints(n, "dilations", &dl);
    if ((ns >= 0 && ns != 2) || (np >= 0 && np != 4) || (nd >= 0 && nd != 2))
        return 0;
    s->n = x->dims[0], s->c = x->dims[1], s->h = x->dims[2], s->w = x->dims[3];
    s->oh = y->dims[2], s->ow = y->dims[3];
    s->kh = k[0], s->kw = k[1];
    s->sh = ns > 0 ? st[0] : 1, s->sw = ns > 0 ? st[1] : 1;
    s->dh = nd > 0 ? dl[0] : 1, s->dw = nd > 0 ? dl[1] : 1;
    s->pt = np > 0 ? pd[0] : 0, s->pl = np > 0 ? pd[1] : 0, s->pb = np > 0 ? pd[2] : 0, s->pr = np > 0 ? pd[3] : 0;
    s->count_pad = (int)qb_attr_int(n, "count_include_pad", 0);
    return 1;
}

/* What n is on NHWC tensors (NK_*), with its geometry in s if s. */
static int classify(const qb_graph *g, const qb_node *n, nhwc_state *s)
{
    nhwc_state tmp;
    if (!s)
        s = &tmp;
    memset(s, 0, sizeof *s);
    if (n->folded || n->fused_into >= 0 || n->domain || n->nout < 1 || n->out[0] < 0)
        return NK_NONE;
    const qb_tensor *y = qb_out(g, n, 0);
    if (!strcmp(n->op, "MaxPool") || !strcmp(n->op, "AveragePool"))
        return pool_geometry(g, n, s) ? (n->op[0] == 'M' ? NK_MAXPOOL : NK_AVGPOOL) : NK_NONE;
    if (!strcmp(n->op, "GlobalAveragePool")) {
        const qb_tensor *x = qb_in(g, n, 0);
        if (!is_4d_float(x))
            return NK_NONE;
        s->n = x->dims[0], s->c = x->dims[1], s->h = x->dims[2], s->w = x->dims[3];
        return NK_GAP;
    }
    if (!strcmp(n->op, "Concat")) {
        int64_t axis = qb_attr_int(n, "axis", 0);
        if (!is_4d_float(y) || (axis != 1 && axis != -3) || n->nin < 1)
            return NK_NONE;
        for (int i = 0; i < n->nin; i++) {
            const qb_tensor *t = qb_in(g, n, i);
            if (!is_4d_float(t) || t->kind == QB_T_CONST)
                return NK_NONE;
        }
        s->n = y->dims[0], s->c = y->dims[1], s->h = y->dims[2], s->w = y->dims[3];
        return NK_CONCAT;
    }
    if (!strcmp(n->op, "Add") || !strcmp(n->op, "Sub") || !strcmp(n->op, "Mul")) {
        const qb_tensor *a = qb_in(g, n, 0), *b = qb_in(g, n, 1);
        if (n->nin != 2 || !is_4d_float(a) || !is_4d_float(b) || !is_4d_float(y) || a->kind == QB_T_CONST ||
            b->kind == QB_T_CONST || (n->def != qb_op_find(n->op) && n->def != &nhwc_def))
            return NK_NONE;
        int same = 1;
        for (int i = 0; i < 4; i++)
            same &= a->dims[i] == y->dims[i] && b->dims[i] == y->dims[i];
        if (same)
            return n->def == qb_op_find(n->op) ? NK_ELEM : NK_NONE;
        /* a map times (plus, minus) one value per channel: the SE block's x * s */
        for (int k = 0; k < 2; k++) {
            const qb_tensor *m = k ? a : b, *v = k ? b : a;
            int ok = v->dims[0] == y->dims[0] && v->dims[1] == y->dims[1] && v->dims[2] == 1 && v->dims[3] == 1 &&
                     y->dims[2] * y->dims[3] > 1;
            for (int i = 0; i < 4; i++)
                ok &= m->dims[i] == y->dims[i];
            if (ok) {
                s->n = y->dims[0], s->c = y->dims[1], s->h = y->dims[2], s->w = y->dims[3];
                s->elem_op = n->op[0];
                s->bc_in = k;
                return NK_BCAST;
            }
        }
        return NK_NONE;
    }
    return NK_NONE;
}

int qb_nhwc_role(const qb_graph *g, const qb_node *n)
{
    int k = classify(g, n, NULL);
    return k == NK_NONE ? 0 : k == NK_GAP ? 2 : k == NK_MAXPOOL || k == NK_AVGPOOL ? 3 : 1;
}

/* ---- running ---- */

typedef struct nhwc_job {
    const nhwc_state *s; /* geometry */
    const qb_graph *g;   /* the graph (Concat's inputs) */
    const qb_node *n;    /* the node */
    const float *x;      /* input (NHWC) */
    float *y;            /* output */
} nhwc_job;

/* One output pixel's C floats v into the NCHW output y. */
static void scatter_nchw(float *y, const float *v, const nhwc_state *s, int64_t b, int64_t oy, int64_t ox)
{
    int64_t plane = s->oh * s->ow;
    float *d = y + b * s->c * plane + oy * s->ow + ox;
    for (int64_t c = 0; c < s->c; c++)
        d[c * plane] = v[c];
}

/* The taps of output pixel (oy, ox) inside the image, in the NCHW pool's
 * scan order (which keeps the first of equal values, e.g. -0 and +0):
 * their offsets in elements from the image's start. Returns how many. */
static int pool_taps(const nhwc_state *s, int64_t oy, int64_t ox, int64_t *tap)
{
    int n = 0;
    for (int64_t ky = 0; ky < s->kh; ky++) {
        int64_t iy = oy * s->sh - s->pt + ky * s->dh;
        if (iy < 0 || iy >= s->h)
            continue;
        for (int64_t kx = 0; kx < s->kw; kx++) {
            int64_t ix = ox * s->sw - s->pl + kx * s->dw;
            if (ix >= 0 && ix < s->w)
                tap[n++] = (iy * s->w + ix) * s->c;
        }
    }
    return n;
}

/* ---- MaxPool: the window's taps listed once per output pixel, then
 * every channel's maximum kept in a register over them ---- */

#ifdef QB_NHWC_AVX512
static int nhwc_avx512_off; /* qb_nhwc_avx512(0): the SSE2 and scalar loops only (tests) */
static int nhwc_avx2_only;  /* qb_nhwc_avx2_only(1): the AVX2 loops where they exist, no AVX-512 (tests) */

/* The CPU has every feature of need (kernels.h's QB_CPU_*) and the ISA
 * cap allows AVX-512 (QB_FORCE_ISA unset or vnni: an avx2 run measures
 * an AVX2 machine, the engine's loops as the kernels). */
static int nhwc_has(unsigned need) { return qb_avx512_allowed(need); }

/* AVX-512F/BW/DQ usable (checked once) and not turned off. DQ (every
 * AVX-512BW CPU has it) for vrangeps in the quantizations
 * (qb_quantize16_dq, qb_quantize16_fin). */
static int nhwc_avx512(void)
{
    static int ok = -1;
    if (ok < 0)
        ok = nhwc_has(QB_CPU_AVX512F | QB_CPU_AVX512BW) && __builtin_cpu_supports("avx512dq");
    return ok && !nhwc_avx512_off && !nhwc_avx2_only;
}

/* ... and AVX-512 VBMI (byte permutes: the int8 tables). */
static int nhwc_vbmi(void)
{
    static int ok = -1;
    if (ok < 0)
        ok = nhwc_has(QB_CPU_AVX512VBMI | QB_CPU_AVX512VL);
    return ok && nhwc_avx512();
}
#endif

#ifdef QB_NHWC_AVX512
/* AVX2 usable (checked once) under the ISA cap (QB_FORCE_ISA unset, avx2
 * or vnni) and not turned off with AVX-512 (qb_nhwc_avx512(0)): the int8
 * pools' loops where AVX-512 is not allowed. */
static int nhwc_avx2(void)
{
    static int ok = -1;
    if (ok < 0)
        ok = qb_avx2_allowed();
    return ok && !nhwc_avx512_off;
}
#endif

void qb_nhwc_avx512(int on)
{
#ifdef QB_NHWC_AVX512
    nhwc_avx512_off = !on;
#else
    (void)on;
#endif
}

void qb_nhwc_avx2_only(int on)
{
#ifdef QB_NHWC_AVX512
    nhwc_avx2_only = on;
#else
    (void)on;
#endif
}

/* Channels per pass of rse_px_q8_body: its block of transposed source
 * pixels holds 16 pixels x RSE_PX_CH floats (8 KiB). */
#define RSE_PX_CH 128
static int rse_px_ch = RSE_PX_CH; /* the channels a pass takes (qb_nhwc_rse_chunk: smaller in tests) */

void qb_nhwc_rse_chunk(int ch)
{
    rse_px_ch = ch <= 0 || ch >= RSE_PX_CH ? RSE_PX_CH : (ch + 15) / 16 * 16;
}

#ifdef QB_NHWC_AVX512

/* max_taps_f32 with AVX-512, 16 channels a step (the tail masked).
 * Returns the channels done (all). */
__attribute__((target("avx512f"))) static int64_t max_taps_f32_avx512(float *restrict y, const float *restrict x,
                                                                      const int64_t *tap, int ntap, int64_t C)
{
    for (int64_t c = 0; c < C; c += 16) {
        __mmask16 m = qb_lanes16(C - c);
        __m512 acc = _mm512_set1_ps(-INFINITY);
        for (int t = 0; t < ntap; t++)
            acc = _mm512_max_ps(_mm512_maskz_loadu_ps(m, x + tap[t] + c), acc);
        _mm512_mask_storeu_ps(y + c, m, acc);
    }
    return C;
}

/* avg_taps with AVX-512, 16 channels a step, each sum in a register (per
 * lane the plain loop's operations in its order). Returns the channels
 * done. */
__attribute__((target("avx512f"))) static int64_t avg_taps_avx512(float *restrict y, const float *xf,
                                                                  const int8_t *x8, const int64_t *tap, int ntap,
                                                                  int64_t C, float div, float scale, int32_t zero)
{
    const __m512 dv = _mm512_set1_ps(div), sc = _mm512_set1_ps(scale);
    const __m512i zp = _mm512_set1_epi32(zero);
    int64_t c = 0;
    for (; c + 16 <= C; c += 16) {
        __m512 acc = _mm512_setzero_ps();
        if (x8)
            for (int t = 0; t < ntap; t++) {
                __m512i v = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(x8 + tap[t] + c)));
                acc = _mm512_add_ps(acc, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(v, zp)), sc));
            }
        else
            for (int t = 0; t < ntap; t++)
                acc = _mm512_add_ps(acc, _mm512_loadu_ps(xf + tap[t] + c));
        _mm512_storeu_ps(y + c, _mm512_div_ps(acc, dv));
    }
    return c;
}

/* The maximum of the int8 x[tap[t] + c] over ntap >= 1 taps for the 64
 * channels from c (those under C), in a register. */
__attribute__((target("avx512f,avx512bw"))) static inline __m512i max64_i8(const int8_t *x, const int64_t *tap,
                                                                          int ntap, int64_t c, __mmask64 m)
{
    __m512i acc = _mm512_maskz_loadu_epi8(m, x + tap[0] + c);
    for (int t = 1; t < ntap; t++)
        acc = _mm512_max_epi8(acc, _mm512_maskz_loadu_epi8(m, x + tap[t] + c));
    return acc;
}

/* y[c] = lut[max + 128], the int8 maximum over ntap >= 1 taps mapped
 * through the table, 64 channels a step (VBMI byte permutes, lut_i8.h). */
__attribute__((target("avx512f,avx512bw,avx512vbmi"))) static void max_lut_i8_vbmi(int8_t *y, const int8_t *x,
                                                                                   const int64_t *tap, int ntap,
                                                                                   int64_t C, const int8_t *lut)
{
    __m512i t[4];
    qb_lut_i8_load(lut, t);
    for (int64_t c = 0; c < C; c += 64) {
        __mmask64 m = C - c >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << (C - c)) - 1;
        _mm512_mask_storeu_epi8(y + c, m, qb_lut_i8_vbmi(t, max64_i8(x, tap, ntap, c, m)));
    }
}

/* y[c] = the int8 maximum over ntap >= 1 taps dequantized, 64 channels
 * a step: per lane (float)(q - zero) * scale, qb_dequantize_i8's
 * arithmetic (the values of the float table). */
__attribute__((target("avx512f,avx512bw"))) static void max_dq_avx512(float *y, const int8_t *x, const int64_t *tap,
                                                                     int ntap, int64_t C, float scale, int32_t zero)
{
    const __m512 sc = _mm512_set1_ps(scale);
    const __m512i zp = _mm512_set1_epi32(zero);
    for (int64_t c = 0; c < C; c += 64) {
        __mmask64 m = C - c >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << (C - c)) - 1;
        __m512i q = max64_i8(x, tap, ntap, c, m);
        for (int k = 0; k < 4 && c + 16 * k < C; k++) {
            __m128i part = k == 0 ? _mm512_castsi512_si128(q) : k == 1 ? _mm512_extracti32x4_epi32(q, 1)
                           : k == 2                           ? _mm512_extracti32x4_epi32(q, 2)
                                                              : _mm512_extracti32x4_epi32(q, 3);
            __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_cvtepi8_epi32(part), zp)), sc);
            int64_t left = C - c - 16 * k;
            _mm512_mask_storeu_ps(y + c + 16 * k, qb_lanes16(left), f);
        }
    }
}

/* One output row oy of an int8 MaxPool over image x (int8 NHWC): each
 * pixel's int8 maximum over its taps (full: a whole window's offsets, for
 * pixels inside the image; else pool_taps into edge), 64 channels a step,
 * into y (the row's first output pixel, int8), through the table lut when
 * not NULL (it stays in registers over the row); or, when y is NULL,
 * dequantized (s->in_scale, s->in_zero) to the floats yf, pixel-major. A
 * window all padding gives -128, or -inf as floats (the float path). With
 * 32 channels and int8 output, two pixels side by side whose windows are
 * inside the image share one register (each tap two 32-byte loads), one
 * table lookup and one store (2x2 windows at stride 2: four 64-byte
 * loads, the two rows' maximum, then each pixel pair's by two 256-bit
 * lane shuffles). The values of max_taps_i8, max_lut and
 * max_dq_avx512 (the float path is max_dq_avx512 per pixel). */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vbmi"))) static void max_row_i8_vbmi(int8_t *y, float *yf,
                                                                                   const int8_t *x,
                                                                                   const nhwc_state *s, int64_t oy,
                                                                                   const int64_t *full,
                                                                                   int64_t *edge, const int8_t *lut)
{
    __m512i t[4];
    if (lut)
        qb_lut_i8_load(lut, t);
    const int64_t C = s->c, iy0 = oy * s->sh - s->pt;
    const int rows_in = iy0 >= 0 && iy0 + (s->kh - 1) * s->dh < s->h, nk = (int)(s->kh * s->kw);
    const __mmask64 tail = C % 64 ? ((__mmask64)1 << (C % 64)) - 1 : ~(__mmask64)0;
    const int k2s2 = s->kh == 2 && s->kw == 2 && s->sw == 2 && s->dw == 1; /* full: 0, C, row below, + C */
    for (int64_t ox = 0; ox < s->ow; ox++) {
        int64_t ix0 = ox * s->sw - s->pl;
        const int64_t *tap = full;
        const int8_t *xo = x;
        int ntap = nk;
        if (rows_in && ix0 >= 0 && ix0 + (s->kw - 1) * s->dw < s->w)
            xo = x + (iy0 * s->w + ix0) * C;
        else
            tap = edge, ntap = pool_taps(s, oy, ox, edge);
        if (!y) {
            float *fo = yf + ox * C;
            if (!ntap) {
                for (int64_t c = 0; c < C; c++)
                    fo[c] = -INFINITY;
                continue;
            }
            max_dq_avx512(fo, xo, tap, ntap, C, s->in_scale, s->in_zero); /* 64 channels' maximum, then floats */
            continue;
        }
        int8_t *yo = y + ox * C;
        if (!ntap) {
            memset(yo, 0x80, (size_t)C);
            continue;
        }
        if (C == 32 && tap == full && ox + 1 < s->ow && ix0 + s->sw + (s->kw - 1) * s->dw < s->w) {
            /* this pixel and the next, both inside: one register, 32 channels each */
            const int8_t *x1 = xo + s->sw * C;
            __m512i v = _mm512_setzero_si512();
            if (k2s2) {
                /* 2x2 windows at stride 2: the two pixels' window rows are 128
                 * contiguous bytes in each of two rows, four input pixels; the
                 * rows' maximum, then each pixel pair's (the same maximum over
                 * the same four taps) */
                const int8_t *r1 = xo + full[2];
                __m512i v0 = _mm512_max_epi8(_mm512_loadu_si512((const void *)xo), _mm512_loadu_si512((const void *)r1));
                __m512i v1 = _mm512_max_epi8(_mm512_loadu_si512((const void *)(xo + 64)),
                                             _mm512_loadu_si512((const void *)(r1 + 64)));
                v = _mm512_max_epi8(_mm512_shuffle_i64x2(v0, v1, 0x44), _mm512_shuffle_i64x2(v0, v1, 0xee));
            } else
                for (int k = 0; k < nk; k++) {
                    __m512i t2 = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(const void *)(xo + full[k]))),
                                                    _mm256_loadu_si256((const __m256i *)(const void *)(x1 + full[k])), 1);
                    v = k ? _mm512_max_epi8(v, t2) : t2;
                }
            if (lut)
                v = qb_lut_i8_vbmi(t, v);
            _mm512_storeu_si512(yo, v);
            ox++;
            continue;
        }
        for (int64_t c = 0; c < C; c += 64) {
            __mmask64 m = C - c >= 64 ? ~(__mmask64)0 : tail;
            __m512i v = max64_i8(xo, tap, ntap, c, m);
            if (lut)
                v = qb_lut_i8_vbmi(t, v);
            _mm512_mask_storeu_epi8(yo + c, m, v);
        }
    }
}

#endif

/* y[c] = the maximum of x[tap[t] + c] over the taps, as the NCHW
 * MaxPool: from -inf, acc = v > acc ? v : acc (so NaNs are skipped);
 * maxps(v, acc) is that comparison lane by lane. */
static void max_taps_f32(float *restrict y, const float *restrict x, const int64_t *tap, int ntap, int64_t C)
{
    int64_t c = 0;
#ifdef QB_NHWC_AVX512
    if (nhwc_avx512())
        c = max_taps_f32_avx512(y, x, tap, ntap, C);
#endif
#if defined(__SSE2__)
    for (; c + 4 <= C; c += 4) {
        __m128 acc = _mm_set1_ps(-INFINITY);
        for (int t = 0; t < ntap; t++)
            acc = _mm_max_ps(_mm_loadu_ps(x + tap[t] + c), acc);
        _mm_storeu_ps(y + c, acc);
    }
#endif
    for (; c < C; c++) {
        float acc = -INFINITY;
        for (int t = 0; t < ntap; t++) {
            float v = x[tap[t] + c];
            acc = v > acc ? v : acc;
        }
        y[c] = acc;
    }
}

/* y[c] = the maximum of the int8 x[tap[t] + c] over the taps (ntap >= 1).
 * SSE2 has no signed byte max: flip the sign bits, unsigned max, flip back. */
static void max_taps_i8(int8_t *restrict y, const int8_t *restrict x, const int64_t *tap, int ntap, int64_t C)
{
    int64_t c = 0;
#if defined(__SSE2__)
    const __m128i flip = _mm_set1_epi8((char)0x80);
    for (; c + 16 <= C; c += 16) {
        __m128i acc = _mm_setzero_si128(); /* -128 flipped */
        for (int t = 0; t < ntap; t++)
            acc = _mm_max_epu8(acc, _mm_xor_si128(_mm_loadu_si128((const __m128i *)(const void *)(x + tap[t] + c)), flip));
        _mm_storeu_si128((__m128i *)(void *)(y + c), _mm_xor_si128(acc, flip));
    }
#endif
    for (; c < C; c++) {
        int8_t acc = -128;
        for (int t = 0; t < ntap; t++)
            acc = x[tap[t] + c] > acc ? x[tap[t] + c] : acc;
        y[c] = acc;
    }
}

#ifdef QB_NHWC_AVX512
/* max_lut with AVX2 for the channels in whole blocks of 32: the int8
 * maximum by vpmaxsb, then through the table (qb_lut_i8_avx2) into y8, or
 * dequantized into yf as qb_dequantize_i8 does ((float)(q - zero) *
 * scale, the values of lut_f). Returns the channels done. */
__attribute__((target("avx2"))) static int64_t max_lut_avx2(int8_t *y8, float *yf, const int8_t *x, const int64_t *tap,
                                                            int ntap, int64_t C, const int8_t *lut, float scale,
                                                            int32_t zero)
{
    const __m256 sc = _mm256_set1_ps(scale);
    const __m256i zp = _mm256_set1_epi32(zero);
    int64_t c = 0;
    for (; c + 32 <= C; c += 32) {
        __m256i m = _mm256_loadu_si256((const __m256i *)(const void *)(x + tap[0] + c));
        for (int t = 1; t < ntap; t++)
            m = _mm256_max_epi8(m, _mm256_loadu_si256((const __m256i *)(const void *)(x + tap[t] + c)));
        if (y8) {
            _mm256_storeu_si256((__m256i *)(void *)(y8 + c), qb_lut_i8_avx2(lut, m));
            continue;
        }
        __m128i lo = _mm256_castsi256_si128(m), hi = _mm256_extracti128_si256(m, 1);
        __m128i part[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
        for (int k = 0; k < 4; k++) {
            __m256 f = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_cvtepi8_epi32(part[k]), zp));
            _mm256_storeu_ps(yf + c + 8 * k, _mm256_mul_ps(f, sc));
        }
    }
    return c;
}
#endif

/* The int8 maximum over ntap >= 1 taps mapped through a table: into an
 * int8 grid (lut) when y8, else to floats (lut_f, the dequantized codes
 * of grid s) at yf; q: C bytes of scratch. */
static void max_lut(int8_t *y8, float *yf, const int8_t *x, const int64_t *tap, int ntap, int64_t C,
                    const nhwc_state *s, int8_t *q)
{
    const int8_t *lut = s->lut;
    const float *lut_f = s->lut_f;
#ifdef QB_NHWC_AVX512
    if (y8 && nhwc_vbmi()) {
        max_lut_i8_vbmi(y8, x, tap, ntap, C, lut);
        return;
    }
    if (!y8 && nhwc_avx512()) {
        max_dq_avx512(yf, x, tap, ntap, C, s->in_scale, s->in_zero);
        return;
    }
    if (nhwc_avx2()) { /* whole blocks of 32 channels, the rest below */
        int64_t done = max_lut_avx2(y8, yf, x, tap, ntap, C, lut, s->in_scale, s->in_zero);
        x += done, C -= done;
        if (y8)
            y8 += done;
        else
            yf += done;
    }
#endif
    max_taps_i8(q, x, tap, ntap, C);
    for (int64_t c = 0; c < C; c++) {
        if (y8)
            y8[c] = lut[q[c] + 128];
        else
            yf[c] = lut_f[q[c] + 128];
    }
}

/* The average over ntap taps of an AveragePool window, C channels, into
 * y: per channel 0.0f + v[tap 0] + v[tap 1] + ... in the NCHW pool's scan
 * order, then / div, with v the float input or, for int8 input (x8), each
 * value dequantized first as DequantizeLinear does ((float)(q - zero) *
 * scale, qb_dequantize_i8). The same operations per channel on every
 * path (AVX-512 16 channels a step in registers, else the plain loop). */
static void avg_taps(float *restrict y, const float *xf, const int8_t *x8, const int64_t *tap, int ntap, int64_t C,
                     float div, float scale, int32_t zero)
{
    int64_t c = 0;
#ifdef QB_NHWC_AVX512
    if (nhwc_avx512())
        c = avg_taps_avx512(y, xf, x8, tap, ntap, C, div, scale, zero);
#endif
    for (; c < C; c++) {
        float acc = 0.0f;
        if (x8)
            for (int t = 0; t < ntap; t++)
                acc += (float)((int32_t)x8[tap[t] + c] - zero) * scale;
        else
            for (int t = 0; t < ntap; t++)
                acc += xf[tap[t] + c];
        y[c] = acc / div;
    }
}

#define POOL_STACK_C 512 /* channels whose floats an AveragePool keeps on the stack */

/* Output rows [r0, r1) (over N*OH) of an AveragePool; every channel at
 * once. Float or int8 input (s->i8: 2 float output, 1 int8 output in the
 * next convs' grid, QuantizeLinear of the float average as those convs
 * would quantize it); NHWC output, or NCHW one pixel at a time. */
static void pool_rows(void *ctx, int64_t r0, int64_t r1)
{
    const nhwc_job *j = ctx;
    const nhwc_state *s = j->s;
    const int64_t C = s->c, nk = s->kh * s->kw;
    const int via = s->out_nchw || s->i8 == 1; /* the averages go through buf */
    float stackf[POOL_STACK_C];
    int64_t stackt[64];
    float *buf = !via || C <= POOL_STACK_C ? stackf : malloc((size_t)C * sizeof *buf); /* one output pixel */
    int64_t *tap = nk <= 64 ? stackt : malloc((size_t)nk * sizeof *tap); /* the window's taps inside the image */
    if (!buf || !tap)
        goto done;
    for (int64_t r = r0; r < r1; r++) {
        int64_t b = r / s->oh, oy = r % s->oh;
        const float *xf = s->i8 ? NULL : j->x + b * s->h * s->w * C;
        const int8_t *x8 = s->i8 ? (const int8_t *)(const void *)j->x + b * s->h * s->w * C : NULL;
        for (int64_t ox = 0; ox < s->ow; ox++) {
            int64_t at = ((b * s->oh + oy) * s->ow + ox) * C;
            float *y = via ? buf : j->y + at;
            int ntap = pool_taps(s, oy, ox, tap);
            int64_t padcnt = 1, o[2] = {oy, ox}, st[2] = {s->sh, s->sw}, pb[2] = {s->pt, s->pl};
            int64_t k[2] = {s->kh, s->kw}, in[2] = {s->h, s->w}, pe[2] = {s->pb, s->pr};
            for (int d = 0; d < 2; d++) { /* window inside the padded input (as the NCHW pool) */
                int64_t lo = o[d] * st[d] - pb[d], hi = lo + (k[d] - 1) * 1 + 1;
                if (hi > in[d] + pe[d])
                    hi = in[d] + pe[d];
                padcnt *= hi - lo;
            }
            float div = (float)(s->count_pad ? padcnt : ntap ? ntap : 1);
            avg_taps(y, xf, x8, tap, ntap, C, div, s->in_scale, s->in_zero);
            if (s->i8 == 1)
                qb_quantize_i8(y, (size_t)C, s->q_scale, s->q_zero, -128, 127, (int8_t *)(void *)j->y + at);
            else if (s->out_nchw)
                scatter_nchw(j->y, y, s, b, oy, ox);
        }
    }
done:
    if (buf != stackf)
        free(buf);
    if (tap != stackt)
        free(tap);
}

/* np output pixels (C values each, pixel-major) into the NCHW output y
 * at image b, from pixel p0 of its planes: 4x4 blocks (four channels of
 * four pixels) by SSE, the rest one value at a time. */
static void pixels_to_nchw(float *restrict y, const float *restrict px, const nhwc_state *s, int64_t b, int64_t p0,
                           int64_t np)
{
    const int64_t C = s->c, plane = s->oh * s->ow;
    qb_transpose_f32(y + b * C * plane + p0, (size_t)plane, px, (size_t)C, np, C);
}

#define POOL_NCHW_FLOATS 8192 /* NCHW pool output: floats of whole rows gathered before their transpose */

/* MaxPool output rows [r0, r1) over N*OH, every channel at once. Float
 * input; or int8 input (from a quantized conv) with int8 output (table
 * into the next conv's grid; a window all padding, -inf on the float
 * path, is -128) or float output (dequantized). NHWC output, or NCHW
 * through rows of pixels gathered (about POOL_NCHW_FLOATS, rows of one
 * image) and transposed. A window inside the image uses the taps of a
 * whole window, listed once (offsets from its top left pixel). */
static void maxpool_rows(void *ctx, int64_t r0, int64_t r1)
{
    const nhwc_job *j = ctx;
    const nhwc_state *s = j->s;
    const int64_t C = s->c, ow = s->ow, nk = s->kh * s->kw;
    const int i8_in = s->i8 != 0, i8_out = s->i8 == 1 || s->i8 == 3, out_nchw = s->out_nchw;
    int64_t stack[128];
    int64_t *full = nk <= 64 ? stack : malloc((size_t)nk * 2 * sizeof *full); /* a whole window's taps */
    int64_t *edge = full ? full + nk : NULL;                                    /* a clipped window's taps */
    const int64_t gr = ow * C >= POOL_NCHW_FLOATS ? 1 : POOL_NCHW_FLOATS / (ow * C); /* NCHW: rows gathered */
    float *rows = out_nchw ? malloc((size_t)(gr * ow * C) * sizeof *rows) : NULL;     /* ... their pixels */
    int64_t g0 = r0;                                                                   /* ... the first of them */
    int8_t stackq[512];
    int8_t *mq = !i8_in ? NULL : C <= 512 ? stackq : malloc((size_t)C);         /* int8: the maxima */
    if (!full || (out_nchw && !rows) || (i8_in && !mq))
        goto done;
    for (int64_t ky = 0, t = 0; ky < s->kh; ky++)
        for (int64_t kx = 0; kx < s->kw; kx++)
            full[t++] = (ky * s->dh * s->w + kx * s->dw) * C;
    for (int64_t r = r0; r < r1; r++) {
        int64_t b = r / s->oh, oy = r % s->oh, iy0 = oy * s->sh - s->pt;
        float *row = out_nchw ? rows + (r - g0) * ow * C : NULL; /* NCHW: this row's pixels */
#ifdef QB_NHWC_AVX512
        if (i8_in && nhwc_vbmi()) { /* the row at once, the table in registers */
            max_row_i8_vbmi(i8_out ? (int8_t *)(void *)j->y + (b * s->oh + oy) * ow * C : NULL,
                            out_nchw ? row : j->y + (b * s->oh + oy) * ow * C,
                            (const int8_t *)(const void *)j->x + b * s->h * s->w * C, s, oy, full, edge,
                            s->i8 == 3 ? NULL : s->lut);
            goto row_done;
        }
#endif
        int rows_in = iy0 >= 0 && iy0 + (s->kh - 1) * s->dh < s->h;
        const float *xf = j->x + b * s->h * s->w * C;
        const int8_t *x8 = (const int8_t *)(const void *)j->x + b * s->h * s->w * C;
        for (int64_t ox = 0; ox < ow; ox++) {
            int64_t at = ((b * s->oh + oy) * ow + ox) * C, ix0 = ox * s->sw - s->pl;
            const int64_t *tap = full;
            int64_t from = 0; /* the taps' origin */
            int ntap = (int)nk;
            if (rows_in && ix0 >= 0 && ix0 + (s->kw - 1) * s->dw < s->w)
                from = (iy0 * s->w + ix0) * C;
            else
                tap = edge, ntap = pool_taps(s, oy, ox, edge);
            float *yf = out_nchw ? row + ox * C : j->y + at;
            if (!i8_in) {
                max_taps_f32(yf, xf + from, tap, ntap, C);
            } else if (!ntap) { /* all padding: -inf on the float path */
                if (i8_out)
                    memset((int8_t *)(void *)j->y + at, 0x80, (size_t)C);
                else
                    for (int64_t c = 0; c < C; c++)
                        yf[c] = -INFINITY;
            } else if (s->i8 == 3) {
                max_taps_i8((int8_t *)(void *)j->y + at, x8 + from, tap, ntap, C);
            } else {
                max_lut(i8_out ? (int8_t *)(void *)j->y + at : NULL, yf, x8 + from, tap, ntap, C, s, mq);
            }
        }
#ifdef QB_NHWC_AVX512
    row_done:
#endif
        if (out_nchw && (r + 1 == r1 || r + 1 - g0 == gr || oy + 1 == s->oh)) { /* the gathered rows out */
            pixels_to_nchw(j->y, rows, s, b, (g0 % s->oh) * ow, (r + 1 - g0) * ow);
            g0 = r + 1;
        }
    }
done:
    if (full != stack)
        free(full);
    free(rows);
    if (mq != stackq)
        free(mq);
}

/* acc[c] += x[c] for n channels (each lane its own channel: the
 * per-channel order of the additions is unchanged). */
static void add_f32(float *restrict acc, const float *restrict x, int64_t n)
{
    int64_t c = 0;
#if defined(__SSE2__)
    for (; c + 8 <= n; c += 8) {
        _mm_storeu_ps(acc + c, _mm_add_ps(_mm_loadu_ps(acc + c), _mm_loadu_ps(x + c)));
        _mm_storeu_ps(acc + c + 4, _mm_add_ps(_mm_loadu_ps(acc + c + 4), _mm_loadu_ps(x + c + 4)));
    }
#endif
    for (; c < n; c++)
        acc[c] += x[c];
}

#ifdef QB_NHWC_AVX512
/* add_dq_i8 with AVX2, 8 channels a step: per lane the same conversion,
 * multiply and addition. Returns the channels done. */
__attribute__((target("avx2"))) static int64_t add_dq_i8_avx2(float *restrict acc, const int8_t *restrict x, int64_t n,
                                                              float scale, int32_t zero)
{
    const __m256 sc = _mm256_set1_ps(scale);
    const __m256i zp = _mm256_set1_epi32(zero);
    int64_t c = 0;
    for (; c + 8 <= n; c += 8) {
        __m256i v = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(x + c)));
        __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(v, zp)), sc);
        _mm256_storeu_ps(acc + c, _mm256_add_ps(_mm256_loadu_ps(acc + c), f));
    }
    return c;
}
#endif

/* acc[c] += (float)(x[c] - zero) * scale for n int8 channels: the
 * DequantizeLinear of qlayer.c, then the float sum's own addition. */
static void add_dq_i8(float *restrict acc, const int8_t *restrict x, int64_t n, float scale, int32_t zero)
{
    int64_t c = 0;
#ifdef QB_NHWC_AVX512
    if (nhwc_avx2())
        c = add_dq_i8_avx2(acc, x, n, scale, zero);
#endif
#if defined(__SSE2__)
    const __m128 sc = _mm_set1_ps(scale);
    const __m128i zp = _mm_set1_epi32(zero);
    for (; c + 8 <= n; c += 8) {
        __m128i b = _mm_loadl_epi64((const __m128i *)(x + c));
        __m128i h = _mm_srai_epi16(_mm_unpacklo_epi8(b, b), 8); /* sign-extend to 16 bits */
        __m128i lo = _mm_srai_epi32(_mm_unpacklo_epi16(h, h), 16), hi = _mm_srai_epi32(_mm_unpackhi_epi16(h, h), 16);
        __m128 flo = _mm_mul_ps(_mm_cvtepi32_ps(_mm_sub_epi32(lo, zp)), sc);
        __m128 fhi = _mm_mul_ps(_mm_cvtepi32_ps(_mm_sub_epi32(hi, zp)), sc);
        _mm_storeu_ps(acc + c, _mm_add_ps(_mm_loadu_ps(acc + c), flo));
        _mm_storeu_ps(acc + c + 4, _mm_add_ps(_mm_loadu_ps(acc + c + 4), fhi));
    }
#endif
    for (; c < n; c++)
        acc[c] += (float)(x[c] - zero) * scale;
}

#ifdef QB_NHWC_AVX512
/* add_dq_i8 with AVX-512 (16 channels a step, two pixels' worth of
 * independent lanes in flight): per lane the same conversion, multiply
 * and addition, so the same bits. Returns the channels done. */
__attribute__((target("avx512f,avx512bw"))) static int64_t add_dq_i8_avx512(float *restrict acc,
                                                                           const int8_t *restrict x, int64_t n,
                                                                           float scale, int32_t zero)
{
    const __m512 sc = _mm512_set1_ps(scale);
    const __m512i zp = _mm512_set1_epi32(zero);
    int64_t c = 0;
    for (; c + 16 <= n; c += 16) {
        __m512i v = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(x + c)));
        __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(v, zp)), sc);
        _mm512_storeu_ps(acc + c, _mm512_add_ps(_mm512_loadu_ps(acc + c), f));
    }
    return c;
}

/* The masks of the eight 16-channel groups of nc <= 128 channels (0 for
 * a group past nc), for the two register GAPs below. */
__attribute__((target("avx512f"), always_inline)) static inline void gap_masks(__mmask16 m[8], int64_t nc)
{
#pragma GCC unroll 8
    for (int g = 0; g < 8; g++) {
        int64_t left = nc - 16 * g;
        m[g] = qb_lanes16(left);
    }
}

/* gap_dq_regs_avx512 for NG groups of 16 channels (a constant). */
__attribute__((target("avx512f,avx512bw,avx512vl"), always_inline)) static inline void
gap_dq_regs_ng(float *restrict acc, const int8_t *restrict x, int64_t hw, int64_t C, int64_t nc, float scale,
               int32_t zero, const int NG)
{
    const __m512 sc = _mm512_set1_ps(scale);
    const __m512i zp = _mm512_set1_epi32(zero);
    __m512 a[8];
    __mmask16 m[8];
    gap_masks(m, nc);
#pragma GCC unroll 8
    for (int g = 0; g < NG; g++)
        a[g] = _mm512_setzero_ps();
    for (int64_t p = 0; p < hw; p++) {
        const int8_t *xp = x + p * C;
#pragma GCC unroll 8
        for (int g = 0; g < NG; g++) {
            __m512i v = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m[g], xp + 16 * g));
            a[g] = _mm512_add_ps(a[g], _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(v, zp)), sc));
        }
    }
#pragma GCC unroll 8
    for (int g = 0; g < NG; g++)
        _mm512_mask_storeu_ps(acc + 16 * g, m[g], a[g]);
}

/* The group count NG = ceil(nc / 16) as a constant of each copy: no
 * test per group and pixel (det's 24 channels: two groups, six tests
 * skipped every pixel). */
#define GAP_NG_SWITCH(call)                                                                                            \
    switch ((nc + 15) / 16) {                                                                                          \
    case 1: call(1); break;                                                                                            \
    case 2: call(2); break;                                                                                            \
    case 3: call(3); break;                                                                                            \
    case 4: call(4); break;                                                                                            \
    case 5: call(5); break;                                                                                            \
    case 6: call(6); break;                                                                                            \
    case 7: call(7); break;                                                                                            \
    default: call(8); break;                                                                                           \
    }

/* The int8 GlobalAveragePool's sums of one image with AVX-512: for nc <=
 * 128 channels from x (a pixel every C codes) over hw pixels, acc[c] =
 * 0.0f + dq(x0) + dq(x1) + ... (add_dq_i8's conversion, multiply and
 * addition per lane, pixels in order: the same bits), the sums kept in
 * eight registers over all pixels (the unrolled loops keep them there)
 * instead of loaded and stored for every pixel. */
__attribute__((target("avx512f,avx512bw,avx512vl"))) static void gap_dq_regs_avx512(float *restrict acc,
                                                                          const int8_t *restrict x, int64_t hw,
                                                                          int64_t C, int64_t nc, float scale,
                                                                          int32_t zero)
{
#define GAP_DQ(ng) gap_dq_regs_ng(acc, x, hw, C, nc, scale, zero, ng)
    GAP_NG_SWITCH(GAP_DQ)
#undef GAP_DQ
}

/* The float GlobalAveragePool's sums of one image with AVX-512, as
 * gap_dq_regs_avx512 without the dequantization: acc[c] = 0.0f + x0 + x1
 * + ... per lane, pixels in order (add_f32's additions: the same bits),
 * eight registers of sums over all pixels instead of loading and storing
 * them for every pixel (rec's SE blocks: 480 pixels x 480 channels). */
__attribute__((target("avx512f"), always_inline)) static inline void
gap_f32_regs_ng(float *restrict acc, const float *restrict x, int64_t hw, int64_t C, int64_t nc, const int NG)
{
    __m512 a[8];
    __mmask16 m[8];
    gap_masks(m, nc);
#pragma GCC unroll 8
    for (int g = 0; g < NG; g++)
        a[g] = _mm512_setzero_ps();
    for (int64_t p = 0; p < hw; p++) {
        const float *xp = x + p * C;
#pragma GCC unroll 8
        for (int g = 0; g < NG; g++)
            a[g] = _mm512_add_ps(a[g], _mm512_maskz_loadu_ps(m[g], xp + 16 * g));
    }
#pragma GCC unroll 8
    for (int g = 0; g < NG; g++)
        _mm512_mask_storeu_ps(acc + 16 * g, m[g], a[g]);
}

__attribute__((target("avx512f"))) static void gap_f32_regs_avx512(float *restrict acc, const float *restrict x,
                                                                   int64_t hw, int64_t C, int64_t nc)
{
#define GAP_F32(ng) gap_f32_regs_ng(acc, x, hw, C, nc, ng)
    GAP_NG_SWITCH(GAP_F32)
#undef GAP_F32
}

/* add_i8 with AVX-512: 16 channels a step. Returns the channels done. */
__attribute__((target("avx512f"))) static int64_t add_i8_avx512(int32_t *restrict sums, const int8_t *restrict x,
                                                                int64_t n)
{
    int64_t c = 0;
    for (; c + 16 <= n; c += 16) {
        __m512i v = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(x + c)));
        _mm512_storeu_si512(sums + c, _mm512_add_epi32(_mm512_loadu_si512(sums + c), v));
    }
    return c;
}
#endif

/* int32 sums[c] += x[c] for n int8 channels. */
static void add_i8(int32_t *restrict sums, const int8_t *restrict x, int64_t n)
{
    int64_t c = 0;
#ifdef QB_NHWC_AVX512
    if (nhwc_avx512())
        c = add_i8_avx512(sums, x, n);
#endif
    for (; c < n; c++)
        sums[c] += x[c];
}

/* The float path's sum of hw dequantized values, 0.0f + (q - zero) *
 * scale + ..., is exact at every step when scale = M * 2^E (M odd) has
 * 255 * hw * M < 2^24: each term and partial sum is an integer times 2^E
 * below 2^24 times it. Then it equals (float)S * scale with S the
 * integer sum of q - zero: same bits (a zero sum is +0 both ways). */
static int gap_sum_exact(float scale, int64_t hw)
{
    if (!(scale > 0.0f) || !isnormal(scale) || hw <= 0 || hw > (1 << 24))
        return 0;
    int e;
    double m = frexp((double)scale, &e); /* scale = m * 2^e, m in [0.5, 1) */
    int64_t M = (int64_t)ldexp(m, 24);   /* 24 bits: exact for a float */
    e -= 24;
    while (!(M & 1))
        M >>= 1, e++;
    return e >= -149 && 255.0 * (double)hw * (double)M < 16777216.0;
}

#define GAP_CB 512 /* channels summed per pass: the sums stay in L1 */

/* GlobalAveragePool of images [b0, b1): per channel, the pixels summed in
 * raster order (the NCHW order), then divided; blocks of GAP_CB channels,
 * vectorised across channels. int8 input (s->i8 == 2, from a quantized
 * conv): each value dequantized on the fly as DequantizeLinear would. */
static void gap_images(void *ctx, int64_t b0, int64_t b1)
{
    const nhwc_job *j = ctx;
    const nhwc_state *s = j->s;
    const int64_t C = s->c, hw = s->h * s->w;
    float acc[GAP_CB];
    for (int64_t b = b0; b < b1; b++) {
        for (int64_t c0 = 0; c0 < C; c0 += GAP_CB) {
            int64_t nc = C - c0 < GAP_CB ? C - c0 : GAP_CB;
            for (int64_t c = 0; c < nc; c++)
                acc[c] = 0.0f;
            if (s->gap_exact) { /* integer sums, one multiply per channel: the same bits (gap_sum_exact) */
                const int8_t *x = (const int8_t *)(const void *)j->x + b * hw * C + c0;
                int32_t sums[GAP_CB];
                for (int64_t c = 0; c < nc; c++)
                    sums[c] = 0;
                for (int64_t p = 0; p < hw; p++)
                    add_i8(sums, x + p * C, nc);
                for (int64_t c = 0; c < nc; c++)
                    acc[c] = (float)(sums[c] - (int32_t)hw * s->in_zero) * s->in_scale;
            } else if (s->i8) {
                const int8_t *x = (const int8_t *)(const void *)j->x + b * hw * C + c0;
                const float scale = s->in_scale;
                const int32_t zero = s->in_zero;
#ifdef QB_NHWC_AVX512
                if (nhwc_avx512()) { /* sums in registers, 128 channels at a time */
                    for (int64_t c = 0; c < nc; c += 128)
                        gap_dq_regs_avx512(acc + c, x + c, hw, C, nc - c < 128 ? nc - c : 128, scale, zero);
                    goto divide;
                }
                if (nc >= 16 && nhwc_avx512()) {
                    for (int64_t p = 0; p < hw; p++) {
                        int64_t done = add_dq_i8_avx512(acc, x + p * C, nc, scale, zero);
                        add_dq_i8(acc + done, x + p * C + done, nc - done, scale, zero);
                    }
                    goto divide;
                }
#endif
                for (int64_t p = 0; p < hw; p++)
                    add_dq_i8(acc, x + p * C, nc, scale, zero);
            } else {
                const float *x = j->x + b * hw * C + c0;
#ifdef QB_NHWC_AVX512
                if (nhwc_avx512()) { /* sums in registers, 128 channels at a time */
                    for (int64_t c = 0; c < nc; c += 128)
                        gap_f32_regs_avx512(acc + c, x + c, hw, C, nc - c < 128 ? nc - c : 128);
                    goto divide;
                }
#endif
                for (int64_t p = 0; p < hw; p++)
                    add_f32(acc, x + p * C, nc);
            }
#ifdef QB_NHWC_AVX512
        divide:;
#endif
            float *y = j->y + b * C + c0;
            for (int64_t c = 0; c < nc; c++)
                y[c] = acc[c] / (float)hw;
        }
    }
}

/* Concat along the channels: pixels [p0, p1) over N*H*W. */
static void concat_pixels(void *ctx, int64_t p0, int64_t p1)
{
    const nhwc_job *j = ctx;
    for (int64_t p = p0; p < p1; p++) {
        float *y = j->y + p * j->s->c;
        for (int i = 0; i < j->n->nin; i++) {
            const qb_tensor *t = qb_in(j->g, j->n, i);
            int64_t ci = t->dims[1];
            memcpy(y, (const float *)t->data + p * ci, (size_t)ci * sizeof *y);
            y += ci;
        }
    }
}

/* n int8 codes from s to d (apart): pieces of 8 to 32 bytes as two
 * fixed-size copies that may overlap inside [0, n) (inlined: a libc
 * memcpy call per pixel cost more than its bytes); the same bytes. */
static inline void copy_codes(int8_t *restrict d, const int8_t *restrict s, int64_t n)
{
    if (n >= 16 && n <= 32) {
        memcpy(d, s, 16);
        memcpy(d + n - 16, s + n - 16, 16);
    } else if (n >= 8 && n < 16) {
        memcpy(d, s, 8);
        memcpy(d + n - 8, s + n - 8, 8);
    } else {
        memcpy(d, s, (size_t)n);
    }
}

/* One input of a q8 Concat read upsampled: output pixels [q0, q1) of
 * image b's H x W plane, from the NCHW source x of ci channels, each of
 * its values repeated rh x rw times. Each row's source pixels are
 * quantized once (QuantizeLinear per value, as the materialised input
 * would be) and each code copied to its rw output pixels; o: the image's
 * first output pixel at this input's channel offset. */
static void concat_q8_upsampled(const nhwc_state *s, const float *x, int64_t ci, int64_t rh, int64_t rw, int64_t b,
                                int64_t q0, int64_t q1, int8_t *o)
{
    int8_t tmp[NHWC_UP_BYTES];
    const int64_t W = s->w, iw = W / rw, ihw = (s->h / rh) * iw, step = NHWC_UP_BYTES / ci;
    const float *xb = x + b * ci * ihw;
    for (int64_t y = q0 / W; y * W < q1; y++) {
        int64_t xa = y * W < q0 ? q0 - y * W : 0, xe = q1 - y * W < W ? q1 - y * W : W;
        const float *row = xb + (y / rh) * iw;
        if (y % rh && (y - 1) * W >= q0) { /* the row above has the same source row, written here: its codes */
            for (int64_t xx = xa; xx < xe; xx++)
                copy_codes(o + (y * W + xx) * s->c, o + ((y - 1) * W + xx) * s->c, ci);
            continue;
        }
        for (int64_t s0 = xa / rw, s1 = (xe - 1) / rw + 1; s0 < s1; s0 += step) {
            int64_t ns = s1 - s0 < step ? s1 - s0 : step;
            qb_qlayer_quantize_planes(row + s0, ci, (size_t)ihw, ns, s->q_scale, s->q_zero, tmp, ci);
            for (int64_t sx = s0; sx < s0 + ns; sx++) /* each code to its rw pixels inside [xa, xe) */
                for (int64_t xx = sx * rw > xa ? sx * rw : xa, xz = sx * rw + rw < xe ? sx * rw + rw : xe; xx < xz; xx++)
                    copy_codes(o + (y * W + xx) * s->c, tmp + (sx - s0) * ci, ci);
        }
    }
}

#define Q8_BLK 64 /* pixels per block of an element-wise node writing int8 */

/* tmp[i] = a[i] op b[i], n floats: the element-wise operator's float
 * arithmetic (four at a time with SSE2: the same IEEE operation per
 * element; GCC's -O2 left these loops scalar). */
#ifdef QB_NHWC_AVX512
/* elem_f32 with AVX-512, 16 floats a step, the tail masked (the same IEEE
 * operation per element). */
__attribute__((target("avx512f"))) static void elem_f32_avx512(float *restrict tmp, const float *a, const float *b,
                                                              int64_t n, char op)
{
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 k = qb_lanes16(n - i);
        __m512 x = _mm512_maskz_loadu_ps(k, a + i), w = _mm512_maskz_loadu_ps(k, b + i);
        __m512 r = op == 'A' ? _mm512_add_ps(x, w) : op == 'S' ? _mm512_sub_ps(x, w) : _mm512_mul_ps(x, w);
        _mm512_mask_storeu_ps(tmp + i, k, r);
    }
}
#endif

static void elem_f32(float *restrict tmp, const float *a, const float *b, int64_t n, char op)
{
#ifdef QB_NHWC_AVX512
    if (nhwc_avx512()) {
        elem_f32_avx512(tmp, a, b, n, op);
        return;
    }
#endif
#if defined(__SSE2__)
    int64_t i = 0;
    if (op == 'A')
        for (; i + 4 <= n; i += 4)
            _mm_storeu_ps(tmp + i, _mm_add_ps(_mm_loadu_ps(a + i), _mm_loadu_ps(b + i)));
    else if (op == 'S')
        for (; i + 4 <= n; i += 4)
            _mm_storeu_ps(tmp + i, _mm_sub_ps(_mm_loadu_ps(a + i), _mm_loadu_ps(b + i)));
    else
        for (; i + 4 <= n; i += 4)
            _mm_storeu_ps(tmp + i, _mm_mul_ps(_mm_loadu_ps(a + i), _mm_loadu_ps(b + i)));
    tmp += i, a += i, b += i, n -= i;
#endif
    if (op == 'A')
        for (int64_t i = 0; i < n; i++)
            tmp[i] = a[i] + b[i];
    else if (op == 'S')
        for (int64_t i = 0; i < n; i++)
            tmp[i] = a[i] - b[i];
    else
        for (int64_t i = 0; i < n; i++)
            tmp[i] = a[i] * b[i];
}


/* Add/Sub/Mul writing int8 from NCHW planes: input k's plane ch of
 * image b, or NULL when it is read upsampled (upsampled_in). */
static const float *elem_plane(const nhwc_job *j, int k, int64_t b, int64_t ch)
{
    const nhwc_state *s = j->s;
    if (s->up_rh[k])
        return NULL;
    return (const float *)qb_in(j->g, j->n, k)->data + (b * s->c + ch) * s->h * s->w;
}

/* The nb values x + x * s (s->rse) for pixels [q, q + nb) of channel ch
 * of image b: x each int8 code dequantized (DequantizeLinear: (float)(q -
 * zero) * scale), then the Mul and the Add fused into the node. */
static void rse_in(const nhwc_job *j, int64_t b, int64_t ch, int64_t q, int64_t nb, float *v)
{
    const nhwc_state *s = j->s;
    const int64_t C = s->c;
    const int8_t *x = (const int8_t *)j->g->tensors[s->rse_x]->data + (b * s->h * s->w + q) * C + ch;
    const float sv = ((const float *)j->g->tensors[s->rse_s]->data)[b * C + ch];
    for (int64_t i = 0; i < nb; i++) {
        float xf = (float)(x[i * C] - s->rse_zero) * s->rse_scale;
        v[i] = xf + xf * sv;
    }
}

/* The nb values of input k (read upsampled) for pixels [q, q + nb) of
 * channel ch of image b: each taken from the source pixel (y / rh, x / rw). */
static void upsampled_in(const nhwc_job *j, int k, int64_t b, int64_t ch, int64_t q, int64_t nb, float *v)
{
    const nhwc_state *s = j->s;
    const int64_t rh = s->up_rh[k], rw = s->up_rw[k], iw = s->w / rw, ih = s->h / rh;
    const float *x = (const float *)j->g->tensors[s->up_src[k]]->data + (b * s->c + ch) * ih * iw;
    for (int64_t i = 0; i < nb; i++)
        v[i] = x[((q + i) / s->w / rh) * iw + (q + i) % s->w / rw];
}

#ifdef QB_NHWC_AVX512
#define Q8_STEPS 16 /* planes_q8_avx512: steps of 16 pixels per block (each plane read 1 KiB at a time) */

/* What planes_q8_avx512 writes: int8 NHWC codes of c channels of one
 * image from NCHW planes, the values of one input (Concat) or an
 * operation of two (Add/Sub/Mul), each input maybe read upsampled. */
typedef struct q8_planes {
    int nin;              /* inputs: 1 (the value) or 2 (op of the two) */
    char op;              /* nin 2: 'A'dd, 'S'ub or 'M'ul */
    const float *src[2];  /* input k's plane of the first channel written */
    int64_t plane[2];     /* its plane size */
    int64_t iw[2];        /* its row width */
    int64_t rh[2], rw[2]; /* read upsampled: rows and columns repeated; rh 0: read as it is */
    int64_t c;            /* channels written */
    int8_t *y;            /* the image's first output pixel, at the first channel written */
    int64_t ldo;          /* output pixel stride (the output's channels) */
} q8_planes;

/* One input of planes_q8_avx512 for a step of 16 pixels: where its values
 * start in the first channel's plane, which lanes to load, and (read
 * upsampled) the permute that spreads them. */
typedef struct q8_step {
    int64_t off;  /* offset in the plane of the first value loaded */
    __mmask16 lm; /* lanes loaded */
    __m512i idx;  /* read upsampled: lane i takes loaded value idx[i] */
} q8_step;

/* Step e's 16 values of one channel plane p (spread when read upsampled). */
__attribute__((target("avx512f"), always_inline)) static inline __m512 q8_step_load(const q8_step *e, const float *p,
                                                                                      int up)
{
    __m512 v = _mm512_maskz_loadu_ps(e->lm, p + e->off);
    return up ? _mm512_permutexvar_ps(e->idx, v) : v;
}

/* 16 pixels x nc <= 16 channels from channel c0 (step e[k] of input k):
 * each lane the input's value or op(a, b), quantized, transposed and
 * stored as n pixels of nc codes at o. */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"), always_inline)) static inline void
planes_q8_step(const q8_planes *P, const int nin, int64_t c0, const q8_step *e0, const q8_step *e1, int nc, int n,
               __m512 sc, __m512i zp, int8_t *o)
{
    const float *pa = P->src[0] + c0 * P->plane[0], *pb = P->src[1] + c0 * P->plane[1];
    const int64_t sa = P->plane[0], sb = P->plane[1], ldo = P->ldo;
    const int up0 = P->rh[0] != 0, up1 = nin == 2 && P->rh[1] != 0, two = nin == 2;
    const char op = P->op;
    __m128i r[16];
#pragma GCC unroll 16
    for (int c = 0; c < 16; c++) {
        if (c >= nc) {
            r[c] = _mm_setzero_si128();
            continue;
        }
        __m512 f = q8_step_load(e0, pa + c * sa, up0);
        if (two) {
            __m512 vb = q8_step_load(e1, pb + c * sb, up1);
            f = op == 'A' ? _mm512_add_ps(f, vb) : op == 'S' ? _mm512_sub_ps(f, vb) : _mm512_mul_ps(f, vb);
        }
        r[c] = qb_quantize16_dq(f, sc, zp);
    }
    qb_transpose16_i8(r);
    const __mmask16 om = qb_lanes16(nc);
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++) /* (unrolled: r stays in registers) */
        if (i < n)
            _mm_mask_storeu_epi8(o + i * ldo, om, r[i]);
}

/* Pixels [q0, q1) of P (nin: P->nin) with AVX-512 (s: the image's H, W
 * and the output grid): blocks of up to Q8_STEPS x 16 pixels of one row (the whole image
 * is one row when no input is read upsampled), each block 16 channels at
 * a time, a step (planes_q8_step) 16 pixels x 16 channels: each lane the
 * value or op(a, b) (elem_f32's operation), quantized (qb_quantize16_avx512),
 * the 16 x 16 codes transposed into the NHWC output. An input read
 * upsampled takes a step's values from a piece of its source row by a
 * permute (lane i: source column (x + i) / rw). The codes of the plain
 * loops. */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"), always_inline)) static inline void
planes_q8_body(const nhwc_state *s, const q8_planes *P, const int nin, int64_t q0, int64_t q1)
{
    const __m512 sc = _mm512_set1_ps(s->q_scale);
    const __m512i zp = _mm512_set1_epi32(s->q_zero);
    const int64_t W = P->rh[0] || (nin == 2 && P->rh[1]) ? s->w : s->h * s->w;
    for (int64_t p = q0; p < q1;) {
        q8_step st[2][Q8_STEPS];
        int ns = 0, nn[Q8_STEPS];
        int64_t at[Q8_STEPS];
        for (; p < q1 && ns < Q8_STEPS; ns++) { /* the block's steps: 16 pixels or up to the row's end */
            int64_t row = p / W, x = p % W;
            int n = (int)(W - x < 16 ? W - x : 16);
            if (n > q1 - p)
                n = (int)(q1 - p);
            nn[ns] = n, at[ns] = p;
            p += n;
            for (int k = 0; k < nin; k++) {
                q8_step *e = &st[k][ns];
                if (!P->rh[k]) {
                    e->lm = qb_lanes16(n), e->off = row * W + x;
                    e->idx = _mm512_setzero_si512();
                    continue;
                }
                int64_t rw = P->rw[k], ph = x % rw;
                int32_t lane[16], cnt = 0;
                for (int i = 0; i < 16; i++) { /* (x + i) / rw - x / rw, counted */
                    lane[i] = i < n ? cnt : 0;
                    if (++ph == rw)
                        ph = 0, cnt++;
                }
                e->idx = _mm512_loadu_si512(lane);
                e->lm = (__mmask16)((1u << (lane[n - 1] + 1)) - 1);
                e->off = (row / P->rh[k]) * P->iw[k] + x / rw;
            }
        }
        for (int64_t c0 = 0; c0 < P->c; c0 += 16) {
            int nc = P->c - c0 < 16 ? (int)(P->c - c0) : 16;
            for (int t = 0; t < ns; t++)
                planes_q8_step(P, nin, c0, &st[0][t], &st[1][t], nc, nn[t], sc, zp, P->y + at[t] * P->ldo + c0);
        }
    }
}

/* planes_q8_body compiled for one input and for two. */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) static void planes_q8_avx512(const nhwc_state *s,
                                                                                  const q8_planes *P, int64_t q0,
                                                                                  int64_t q1)
{
    if (P->nin == 2)
        planes_q8_body(s, P, 2, q0, q1);
    else
        planes_q8_body(s, P, 1, q0, q1);
}

/* What rse_px_q8_avx512 reads and writes for one image. */
typedef struct rse_px_q8 {
    const float *src; /* the other input's NCHW planes (its upsampling's source when read upsampled) */
    int64_t plane;    /* their plane size */
    int64_t iw;       /* their row width */
    int64_t rh, rw;   /* output rows and columns per source row and column (1, 1: read as it is) */
    const int8_t *x8; /* x's int8 NHWC codes (the output's channels a pixel) */
    const float *sv;  /* s, one value per channel */
    int8_t *y;        /* the output's int8 NHWC codes */
} rse_px_q8;

/* One output pixel's nc channels from channel c0 (its 16-channel groups
 * from the block row o): each lane rse_in's operations on x's code, the
 * node's operation, quantized (fin: by qb_quantize16_fin, no quotient
 * being NaN; else qb_quantize16_dq); whole groups by plain 16-byte loads
 * and stores, the last part group masked. */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"), always_inline)) static inline void
rse_px_q8_pixel(const int8_t *xq, int8_t *yq, const float *o, const float *sv, int64_t nc, const int rk, const char op,
                const int fin, const int g16, __m512 xs, __m512i xz, __m512 sc, __m512i zp)
{
    for (int64_t c = 0; c < nc; c += 16) {
        const int whole = g16 || nc - c >= 16; /* g16: nc is a multiple of 16 */
        const __mmask16 cm = qb_lanes16(nc - c);
        const __m128i q8 = whole ? _mm_loadu_si128((const __m128i *)(const void *)(xq + c)) : _mm_maskz_loadu_epi8(cm, xq + c);
        const __m512 ov = _mm512_load_ps(o + c), s16 = _mm512_load_ps(sv + c);
        __m512 xf = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_cvtepi8_epi32(q8), xz)), xs);
        __m512 xv = _mm512_add_ps(xf, _mm512_mul_ps(xf, s16)), a = rk == 0 ? xv : ov, b = rk == 0 ? ov : xv;
        __m512 f = op == 'A' ? _mm512_add_ps(a, b) : op == 'S' ? _mm512_sub_ps(a, b) : _mm512_mul_ps(a, b);
        const __m128i r = fin ? qb_quantize16_fin(f, sc, zp) : qb_quantize16_dq(f, sc, zp);
        if (whole)
            _mm_storeu_si128((__m128i *)(void *)(yq + c), r);
        else
            _mm_mask_storeu_epi8(yq + c, cm, r);
    }
}

/* The output pixels [oa, ob) of rows row .. row + nr - 1 from one block
 * (rse_px_q8_body; fin: rse_px_q8_pixel's). */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"), always_inline)) static inline void
rse_px_q8_block(const int8_t *x8, int8_t *yo, const float (*blk)[RSE_PX_CH], const float *svb, int64_t C, int64_t W,
                int64_t rw, int64_t row, int64_t nr, int64_t s0, int64_t oa, int64_t ob, int64_t ck, int64_t nk,
                const int rk, const char op, const int fin, __m512 xs, __m512i xz, __m512 sc, __m512i zp)
{
    for (int64_t rr = 0; rr < nr; rr++) {
        int64_t i = oa / rw - s0, ph = oa % rw; /* source pixel of ox in the block, ox's column in it */
        for (int64_t ox = oa; ox < ob; ox++) {
            const int64_t q = ((row + rr) * W + ox) * C + ck;
            if (nk % 16 == 0)
                rse_px_q8_pixel(x8 + q, yo + q, blk[i], svb, nk, rk, op, fin, 1, xs, xz, sc, zp);
            else
                rse_px_q8_pixel(x8 + q, yo + q, blk[i], svb, nk, rk, op, fin, 0, xs, xz, sc, zp);
            if (++ph == rw)
                ph = 0, i++;
        }
    }
}

/* Pixels [q0, q1) of R (channels: s->c) for rse_px_q8_avx512, op and rk
 * constants. Two whole output rows with one source row (rh > 1) run
 * together: each transposed block serves both rows' pixels. Per block of
 * 16 source pixels, up to RSE_PX_CH (rse_px_ch) channels are transposed at once and
 * each output pixel then runs through them in memory order (x's codes
 * and the output as they lie, whole 16-byte groups unmasked).
 * No quantized quotient is NaN, so the block runs with qb_quantize16_fin,
 * when the operation is an Add or a Sub, the block's values of the other
 * input and its s are finite (vfpclassps on their loads), the scale of x
 * is at most FLT_MAX / 256 and the output's scale is finite and nonzero:
 * then xf = (q - zero) * scale is finite (|q - zero| <= 255), xf * s
 * finite or infinite (both finite), xf + xf * s not NaN (xf finite),
 * its sum or difference with a finite value not NaN, and its quotient by
 * a finite nonzero scale not NaN. A Mul (an infinite sum times 0), any
 * other block or scale: qb_quantize16_dq. */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"), always_inline)) static inline void
rse_px_q8_body(const nhwc_state *s, const rse_px_q8 *R, const int rk, const char op, int64_t q0, int64_t q1)
{
    const int64_t C = s->c, W = s->w, rw = R->rw;
    const int fin_ok = op != 'M' && isfinite(s->q_scale) && s->q_scale != 0.0f &&
                       fabsf(s->rse_scale) <= FLT_MAX / 256.0f;
    const __m512 sc = _mm512_set1_ps(s->q_scale), xs = _mm512_set1_ps(s->rse_scale);
    const __m512i zp = _mm512_set1_epi32(s->q_zero), xz = _mm512_set1_epi32(s->rse_zero);
    const int8_t *x8 = R->x8; /* in locals: the int8 stores may alias R */
    int8_t *yo = R->y;
    float blk[16][RSE_PX_CH] __attribute__((aligned(64))); /* 16 source pixels x up to RSE_PX_CH channels */
    float svb[RSE_PX_CH] __attribute__((aligned(64)));     /* s of those channels (0 past C) */
    for (int64_t p = q0; p < q1;) {
        const int64_t row = p / W, xa = p % W, xb = W - xa < q1 - p ? W : xa + (q1 - p);
        /* rows this pass: two when this one and the next are whole, in [q0, q1) and of one source row */
        const int64_t nr = xa == 0 && p + 2 * W <= q1 && (row + 1) / R->rh == row / R->rh ? 2 : 1;
        const float *srow = R->src + row / R->rh * R->iw;
        for (int64_t s0 = xa / rw; s0 * rw < xb; s0 += 16) { /* 16 source pixels, their output pixels [oa, ob) */
            const int64_t oa = s0 * rw > xa ? s0 * rw : xa, ob = (s0 + 16) * rw < xb ? (s0 + 16) * rw : xb;
            const int64_t ns = (ob - 1) / rw - s0 + 1;
            const __mmask16 lm = qb_lanes16(ns);
            for (int64_t ck = 0; ck < C; ck += rse_px_ch) { /* channels [ck, ck + nk) */
                const int64_t nk = C - ck < rse_px_ch ? C - ck : rse_px_ch;
                __mmask16 nonfin = 0; /* lanes of a load that were NaN or infinite */
                for (int64_t c0 = 0; c0 < nk; c0 += 16) {
                    const int nc = nk - c0 < 16 ? (int)(nk - c0) : 16;
                    __m512 r[16];
#pragma GCC unroll 16
                    for (int c = 0; c < 16; c++) {
                        r[c] = c < nc ? _mm512_maskz_loadu_ps(lm, srow + (ck + c0 + c) * R->plane + s0)
                                      : _mm512_setzero_ps();
                        if (fin_ok && c < nc)
                            nonfin |= _mm512_fpclass_ps_mask(r[c], 0x99); /* QNaN, +inf, -inf, SNaN */
                    }
                    qb_transpose16_f32(r);
#pragma GCC unroll 16
                    for (int i = 0; i < 16; i++)
                        _mm512_store_ps(blk[i] + c0, r[i]);
                    const __m512 sv16 = _mm512_maskz_loadu_ps(qb_lanes16(nc), R->sv + ck + c0);
                    if (fin_ok)
                        nonfin |= _mm512_fpclass_ps_mask(sv16, 0x99);
                    _mm512_store_ps(svb + c0, sv16);
                }
                if (fin_ok && !nonfin)
                    rse_px_q8_block(x8, yo, blk, svb, C, W, rw, row, nr, s0, oa, ob, ck, nk, rk, op, 1, xs, xz, sc, zp);
                else
                    rse_px_q8_block(x8, yo, blk, svb, C, W, rw, row, nr, s0, oa, ob, ck, nk, rk, op, 0, xs, xz, sc, zp);
            }
        }
        p += (xb - xa) * nr;
    }
}

/* An Add/Sub/Mul writing int8 whose input rk is x + x * s (nhwc_state.rse)
 * and whose other input comes from NCHW planes, maybe read upsampled:
 * pixels [q0, q1) of one image (R) with AVX-512, pixel by pixel, as x's
 * codes and the output lie (NHWC). A step is 16 source pixels of a row x
 * 16 channels of the other input, loaded from its planes and transposed
 * (qb_transpose16_f32) into a block of pixels, then each of its output
 * pixels (rw per source pixel): 16 x codes loaded as they lie, each lane
 * rse_in's operations (dequantized, xf + xf * s), the node's operation
 * in its operand order, quantized (qb_quantize16_fin or _dq) and 16 codes
 * stored: the lanes' operations of planes_q8_body without its two byte
 * transposes. */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) static void rse_px_q8_avx512(const nhwc_state *s,
                                                                                  const rse_px_q8 *R, int rk, char op,
                                                                                  int64_t q0, int64_t q1)
{
    if (op == 'A')
        rk == 0 ? rse_px_q8_body(s, R, 0, 'A', q0, q1) : rse_px_q8_body(s, R, 1, 'A', q0, q1);
    else if (op == 'S')
        rk == 0 ? rse_px_q8_body(s, R, 0, 'S', q0, q1) : rse_px_q8_body(s, R, 1, 'S', q0, q1);
    else
        rk == 0 ? rse_px_q8_body(s, R, 0, 'M', q0, q1) : rse_px_q8_body(s, R, 1, 'M', q0, q1);
}

/* ---- the same passes with AVX2, where AVX-512 is not allowed ---- */

/* One input of planes_q8_avx2 for a step of 8 pixels (q8_step, 8 lanes). */
typedef struct q8_step8 {
    int64_t off; /* offset in the plane of the first value loaded */
    __m256i lm;  /* lanes loaded (all ones) */
    __m256i idx; /* read upsampled: lane i takes loaded value idx[i] */
} q8_step8;

/* 8 pixels x nc <= 8 channels from channel c0 (step e[k] of input k):
 * planes_q8_step's lanes 8 wide (each lane the input's value or op(a,
 * b), quantized by qb_quantize8_avx2), the 8 x 8 codes transposed and
 * stored as n pixels of nc codes at o. */
__attribute__((target("avx2"), always_inline)) static inline void planes_q8_step8(const q8_planes *P, const int nin,
                                                                                    int64_t c0, const q8_step8 *e0,
                                                                                    const q8_step8 *e1, int nc, int n,
                                                                                    __m256 sc, __m256i zp, int8_t *o)
{
    const float *pa = P->src[0] + c0 * P->plane[0], *pb = P->src[1] + c0 * P->plane[1];
    const int64_t sa = P->plane[0], sb = P->plane[1], ldo = P->ldo;
    const int up0 = P->rh[0] != 0, up1 = nin == 2 && P->rh[1] != 0, two = nin == 2;
    const char op = P->op;
    __m128i r[8], t[4];
#pragma GCC unroll 8
    for (int c = 0; c < 8; c++) {
        if (c >= nc) {
            r[c] = _mm_setzero_si128();
            continue;
        }
        __m256 f = _mm256_maskload_ps(pa + c * sa + e0->off, e0->lm);
        if (up0)
            f = _mm256_permutevar8x32_ps(f, e0->idx);
        if (two) {
            __m256 vb = _mm256_maskload_ps(pb + c * sb + e1->off, e1->lm);
            if (up1)
                vb = _mm256_permutevar8x32_ps(vb, e1->idx);
            f = op == 'A' ? _mm256_add_ps(f, vb) : op == 'S' ? _mm256_sub_ps(f, vb) : _mm256_mul_ps(f, vb);
        }
        r[c] = qb_quantize8_avx2(f, sc, zp);
    }
    qb_transpose8_i8(r, t);
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++)
        if (i < n)
            qb_store8_i8(o + i * ldo, i & 1 ? _mm_srli_si128(t[i / 2], 8) : t[i / 2], nc);
}

/* planes_q8_body with AVX2: blocks of up to Q8_STEPS x 8 pixels of one
 * row, each block 8 channels at a time, a step (planes_q8_step8) 8
 * pixels x 8 channels; an input read upsampled takes a step's values
 * from a piece of its source row by a permute (lane i: source column (x
 * + i) / rw). The same lanes' operations: the codes of the plain loops. */
__attribute__((target("avx2"), always_inline)) static inline void planes_q8_body8(const nhwc_state *s,
                                                                                    const q8_planes *P, const int nin,
                                                                                    int64_t q0, int64_t q1)
{
    const __m256 sc = _mm256_set1_ps(s->q_scale);
    const __m256i zp = _mm256_set1_epi32(s->q_zero);
    const int64_t W = P->rh[0] || (nin == 2 && P->rh[1]) ? s->w : s->h * s->w;
    for (int64_t p = q0; p < q1;) {
        q8_step8 st[2][Q8_STEPS];
        int ns = 0, nn[Q8_STEPS];
        int64_t at[Q8_STEPS];
        for (; p < q1 && ns < Q8_STEPS; ns++) { /* the block's steps: 8 pixels or up to the row's end */
            int64_t row = p / W, x = p % W;
            int n = (int)(W - x < 8 ? W - x : 8);
            if (n > q1 - p)
                n = (int)(q1 - p);
            nn[ns] = n, at[ns] = p;
            p += n;
            for (int k = 0; k < nin; k++) {
                q8_step8 *e = &st[k][ns];
                if (!P->rh[k]) {
                    e->lm = qb_lanes8(n), e->off = row * W + x;
                    e->idx = _mm256_setzero_si256();
                    continue;
                }
                int64_t rw = P->rw[k], ph = x % rw;
                int32_t lane[8], cnt = 0;
                for (int i = 0; i < 8; i++) { /* (x + i) / rw - x / rw, counted */
                    lane[i] = i < n ? cnt : 0;
                    if (++ph == rw)
                        ph = 0, cnt++;
                }
                e->idx = _mm256_loadu_si256((const __m256i *)(const void *)lane);
                e->lm = qb_lanes8(lane[n - 1] + 1);
                e->off = (row / P->rh[k]) * P->iw[k] + x / rw;
            }
        }
        for (int64_t c0 = 0; c0 < P->c; c0 += 8) {
            int nc = P->c - c0 < 8 ? (int)(P->c - c0) : 8;
            for (int t = 0; t < ns; t++)
                planes_q8_step8(P, nin, c0, &st[0][t], &st[1][t], nc, nn[t], sc, zp, P->y + at[t] * P->ldo + c0);
        }
    }
}

/* planes_q8_body8 compiled for one input and for two. */
__attribute__((target("avx2"))) static void planes_q8_avx2(const nhwc_state *s, const q8_planes *P, int64_t q0,
                                                           int64_t q1)
{
    if (P->nin == 2)
        planes_q8_body8(s, P, 2, q0, q1);
    else
        planes_q8_body8(s, P, 1, q0, q1);
}

/* The output pixels [oa, ob) of rows row .. row + nr - 1 for the 8
 * channels from c0 of one block (rse_px_q8_body8; fin: quantized by
 * qb_quantize8_fin_avx2, no quotient being NaN). */
__attribute__((target("avx2"), always_inline)) static inline void
rse_px_q8_block8(const int8_t *x8, int8_t *yo, const float (*blk)[8], __m256 sv, int64_t C, int64_t W, int64_t rw,
                 int64_t row, int64_t nr, int64_t s0, int64_t oa, int64_t ob, int64_t c0, int nc, const int rk,
                 const char op, const int fin, __m256 xs, __m256i xz, __m256 sc, __m256i zp)
{
    for (int64_t rr = 0; rr < nr; rr++) {
        int64_t i = oa / rw - s0, ph = oa % rw; /* source pixel of ox in the block, ox's column in it */
        for (int64_t ox = oa; ox < ob; ox++) {
            const int64_t q = ((row + rr) * W + ox) * C + c0;
            const __m256 o = _mm256_load_ps(blk[i]);
            if (++ph == rw)
                ph = 0, i++;
            __m256 xf = _mm256_mul_ps(
                _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_cvtepi8_epi32(qb_load8_i8(x8 + q, nc)), xz)), xs);
            __m256 xv = _mm256_add_ps(xf, _mm256_mul_ps(xf, sv)), a = rk == 0 ? xv : o, b = rk == 0 ? o : xv;
            __m256 f = op == 'A' ? _mm256_add_ps(a, b) : op == 'S' ? _mm256_sub_ps(a, b) : _mm256_mul_ps(a, b);
            qb_store8_i8(yo + q, fin ? qb_quantize8_fin_avx2(f, sc, zp) : qb_quantize8_avx2(f, sc, zp), nc);
        }
    }
}

/* rse_px_q8_body with AVX2: 8 source pixels x 8 channels a step,
 * transposed (qb_transpose8_f32), each output pixel's 8 codes of x
 * dequantized, xf + xf * s, the node's operation in its operand order,
 * quantized (qb_quantize8_avx2; qb_quantize8_fin_avx2 where no quotient
 * can be NaN: an Add or a Sub, the block's values and s finite, the
 * scales as rse_px_q8_body's): the same lanes' operations. */
__attribute__((target("avx2"), always_inline)) static inline void
rse_px_q8_body8(const nhwc_state *s, const rse_px_q8 *R, const int rk, const char op, int64_t q0, int64_t q1)
{
    const int64_t C = s->c, W = s->w, rw = R->rw;
    const int fin_ok = op != 'M' && isfinite(s->q_scale) && s->q_scale != 0.0f &&
                       fabsf(s->rse_scale) <= FLT_MAX / 256.0f;
    const __m256 sc = _mm256_set1_ps(s->q_scale), xs = _mm256_set1_ps(s->rse_scale);
    const __m256i zp = _mm256_set1_epi32(s->q_zero), xz = _mm256_set1_epi32(s->rse_zero);
    const int8_t *x8 = R->x8; /* in locals: the int8 stores may alias R */
    int8_t *yo = R->y;
    float blk[8][8] __attribute__((aligned(32))); /* 8 source pixels x 8 channels */
    for (int64_t p = q0; p < q1;) {
        const int64_t row = p / W, xa = p % W, xb = W - xa < q1 - p ? W : xa + (q1 - p);
        /* rows this pass: two when this one and the next are whole, in [q0, q1) and of one source row */
        const int64_t nr = xa == 0 && p + 2 * W <= q1 && (row + 1) / R->rh == row / R->rh ? 2 : 1;
        const float *srow = R->src + row / R->rh * R->iw;
        for (int64_t s0 = xa / rw; s0 * rw < xb; s0 += 8) { /* 8 source pixels, their output pixels [oa, ob) */
            const int64_t oa = s0 * rw > xa ? s0 * rw : xa, ob = (s0 + 8) * rw < xb ? (s0 + 8) * rw : xb;
            const int64_t ns = (ob - 1) / rw - s0 + 1;
            const __m256i lm = qb_lanes8(ns);
            for (int64_t c0 = 0; c0 < C; c0 += 8) {
                const int nc = C - c0 < 8 ? (int)(C - c0) : 8;
                __m256 r[8];
                const __m256 sv = _mm256_maskload_ps(R->sv + c0, qb_lanes8(nc));
                __m256 nf = _mm256_sub_ps(sv, sv); /* NaN in a lane where a value loaded was infinite or NaN */
#pragma GCC unroll 8
                for (int c = 0; c < 8; c++) {
                    r[c] = c < nc ? _mm256_maskload_ps(srow + (c0 + c) * R->plane + s0, lm) : _mm256_setzero_ps();
                    if (fin_ok && c < nc)
                        nf = _mm256_add_ps(nf, _mm256_sub_ps(r[c], r[c]));
                }
                qb_transpose8_f32(r);
#pragma GCC unroll 8
                for (int i = 0; i < 8; i++)
                    _mm256_store_ps(blk[i], r[i]);
                if (fin_ok && !qb_nonfinite8(nf))
                    rse_px_q8_block8(x8, yo, (const float(*)[8])blk, sv, C, W, rw, row, nr, s0, oa, ob, c0, nc, rk,
                                     op, 1, xs, xz, sc, zp);
                else
                    rse_px_q8_block8(x8, yo, (const float(*)[8])blk, sv, C, W, rw, row, nr, s0, oa, ob, c0, nc, rk,
                                     op, 0, xs, xz, sc, zp);
            }
        }
        p += (xb - xa) * nr;
    }
}

/* rse_px_q8_body8 for the node's operation and rk (constants). */
__attribute__((target("avx2"))) static void rse_px_q8_avx2(const nhwc_state *s, const rse_px_q8 *R, int rk, char op,
                                                           int64_t q0, int64_t q1)
{
    if (op == 'A')
        rk == 0 ? rse_px_q8_body8(s, R, 0, 'A', q0, q1) : rse_px_q8_body8(s, R, 1, 'A', q0, q1);
    else if (op == 'S')
        rk == 0 ? rse_px_q8_body8(s, R, 0, 'S', q0, q1) : rse_px_q8_body8(s, R, 1, 'S', q0, q1);
    else
        rk == 0 ? rse_px_q8_body8(s, R, 0, 'M', q0, q1) : rse_px_q8_body8(s, R, 1, 'M', q0, q1);
}

/* Input k of node n (image b, ci channels from channel cfirst of its
 * tensor) into P: its planes, or its upsampling's source (s->up_*). */
static void q8_planes_in(const nhwc_job *j, q8_planes *P, int k, int ks, int64_t b, int64_t ci)
{
    const nhwc_state *s = j->s;
    if (ks < NHWC_UP_MAX && s->up_rh[ks]) {
        P->rh[k] = s->up_rh[ks], P->rw[k] = s->up_rw[ks];
        P->iw[k] = s->w / P->rw[k], P->plane[k] = (s->h / P->rh[k]) * P->iw[k];
        P->src[k] = (const float *)j->g->tensors[s->up_src[ks]]->data + b * ci * P->plane[k];
    } else {
        P->rh[k] = P->rw[k] = 0;
        P->iw[k] = s->w, P->plane[k] = s->h * s->w;
        P->src[k] = (const float *)qb_in(j->g, j->n, ks)->data + b * ci * P->plane[k];
    }
}

/* elem_q8_pixels from NCHW planes with AVX-512 (avx2: with the AVX2
 * copies): pixels [q0, q1) of image b. */
static void elem_q8_simd(const nhwc_job *j, int64_t b, int64_t q0, int64_t q1, int avx2)
{
    const nhwc_state *s = j->s;
    q8_planes P = {.nin = 2, .op = s->elem_op, .c = s->c, .ldo = s->c};
    const int rk = s->rse - 1;
    for (int k = 0; k < 2; k++)
        if (k != rk)
            q8_planes_in(j, &P, k, k, b, s->c);
    P.y = (int8_t *)j->y + b * s->h * s->w * s->c;
    if (rk >= 0) { /* x + x * s from x's NHWC codes, pixel by pixel */
        const int k = 1 - rk;
        rse_px_q8 R = {.src = P.src[k], .plane = P.plane[k], .iw = P.iw[k], .rh = P.rh[k] ? P.rh[k] : 1,
                       .rw = P.rw[k] ? P.rw[k] : 1, .x8 = (const int8_t *)j->g->tensors[s->rse_x]->data +
                                                              b * s->h * s->w * s->c,
                       .sv = (const float *)j->g->tensors[s->rse_s]->data + b * s->c, .y = P.y};
        if (avx2)
            rse_px_q8_avx2(s, &R, rk, s->elem_op, q0, q1);
        else
            rse_px_q8_avx512(s, &R, rk, s->elem_op, q0, q1);
        return;
    }
    if (avx2)
        planes_q8_avx2(s, &P, q0, q1);
    else
        planes_q8_avx512(s, &P, q0, q1);
}
#endif

#ifdef QB_NHWC_AVX512
/* rse_q8_pixels with AVX-512: 16 channels of a pixel a step, the tail
 * masked (the same per-lane operations, qb_quantize16_dq's codes; fin:
 * qb_quantize16_fin, no quotient being NaN, see rse_q8_avx512). */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"), always_inline)) static inline void
rse_q8_body(const nhwc_state *s, const int8_t *x, const float *sv, int64_t ci, int64_t np, int8_t *o, const int fin)
{
    const __m512 sc = _mm512_set1_ps(s->q_scale), xs = _mm512_set1_ps(s->rse_scale);
    const __m512i zp = _mm512_set1_epi32(s->q_zero), xz = _mm512_set1_epi32(s->rse_zero);
    if (ci % 16 == 8 && ci > 16 && ci <= 248) { /* ci = 16m + 8: two pixels are 2m + 1 whole steps of 16 codes
                                                  * (det's 24: three), step m holding the first pixel's last 8
                                                  * and the second's first 8; each lane its channel's s (sp[k])
                                                  * and the same operations; plain 16- and 8-byte stores */
        const int m = (int)(ci / 16);
        __m512 sp[32];
        for (int k = 0; k < 2 * m + 1; k++) {
            float t[16];
            for (int l = 0; l < 16; l++)
                t[l] = sv[(16 * k + l) % ci];
            sp[k] = _mm512_loadu_ps(t);
        }
        int64_t p = 0;
        for (; p + 2 <= np; p += 2) {
            const int8_t *xp = x + p * ci;
            int8_t *o0 = o + p * s->c, *o1 = o0 + s->c;
            for (int k = 0; k < 2 * m + 1; k++) {
                __m512i v = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(xp + 16 * k)));
                __m512 xf = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(v, xz)), xs);
                __m512 a = _mm512_add_ps(xf, _mm512_mul_ps(xf, sp[k]));
                __m128i q = fin ? qb_quantize16_fin(a, sc, zp) : qb_quantize16_dq(a, sc, zp);
                if (k < m)
                    _mm_storeu_si128((__m128i *)(void *)(o0 + 16 * k), q);
                else if (k == m) {
                    _mm_storel_epi64((__m128i *)(void *)(o0 + 16 * k), q);
                    _mm_storeh_pi((__m64 *)(void *)o1, _mm_castsi128_ps(q));
                } else
                    _mm_storeu_si128((__m128i *)(void *)(o1 + 16 * k - ci), q);
            }
        }
        x += p * ci, o += p * s->c, np -= p; /* an odd last pixel: the loop at the end */
    } else if (ci > 16 && ci % 16 && ci <= 240) { /* x's codes as one stream (NHWC: pixels of ci codes back to back), 16
                                            * a step: a step holds the codes of at most two pixels (channels
                                            * [c, c + L) of pixel p, then [0, 16 - L) of pixel p + 1), each lane
                                            * its channel's s and the same operations, its codes stored to the two
                                            * pixels (det's 24 channels: three steps per two pixels, not four) */
        float svt[256]; /* s, then its first 16 values again: lane l of a step at channel c takes svt[c + l] */
        memcpy(svt, sv, (size_t)ci * sizeof(float));
        memcpy(svt + ci, sv, 16 * sizeof(float));
        const int64_t n = np * ci;
        for (int64_t k = 0; k < n; k += 16) {
            const int64_t p = k / ci, c = k % ci, L = ci - c < 16 ? ci - c : 16;
            const __mmask16 m = qb_lanes16(n - k), m0 = qb_lanes16(L), m1 = (__mmask16)(m & ~m0);
            __m512i v = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, x + k));
            __m512 xf = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(v, xz)), xs);
            __m512 a = _mm512_add_ps(xf, _mm512_mul_ps(xf, _mm512_loadu_ps(svt + c)));
            __m128i q = fin ? qb_quantize16_fin(a, sc, zp) : qb_quantize16_dq(a, sc, zp);
            _mm_mask_storeu_epi8(o + p * s->c + c, (__mmask16)(m & m0), q);
            if (m1)
                _mm_mask_storeu_epi8(o + (p + 1) * s->c - L, m1, q);
        }
        return;
    }
    for (int64_t p = 0; p < np; p++)
        for (int64_t c = 0; c < ci; c += 16) {
            __mmask16 m = qb_lanes16(ci - c);
            __m512i v = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, x + p * ci + c));
            __m512 xf = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(v, xz)), xs);
            __m512 a = _mm512_add_ps(xf, _mm512_mul_ps(xf, _mm512_maskz_loadu_ps(m, sv + c)));
            _mm_mask_storeu_epi8(o + p * s->c + c, m, fin ? qb_quantize16_fin(a, sc, zp) : qb_quantize16_dq(a, sc, zp));
        }
}

/* rse_q8_body, with qb_quantize16_fin when s is finite, the scale of x at
 * most FLT_MAX / 256 and the output's scale finite and nonzero: then xf
 * is finite, xf * s finite or infinite, xf + xf * s not NaN and its
 * quotient by the scale not NaN (rse_px_q8_body's argument, without the
 * other operand). */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) static void rse_q8_avx512(const nhwc_state *s,
                                                                                      const int8_t *x,
                                                                                      const float *sv, int64_t ci,
                                                                                      int64_t np, int8_t *o)
{
    int fin = isfinite(s->q_scale) && s->q_scale != 0.0f && fabsf(s->rse_scale) <= FLT_MAX / 256.0f;
    for (int64_t c = 0; c < ci && fin; c++)
        fin = isfinite(sv[c]);
    if (fin)
        rse_q8_body(s, x, sv, ci, np, o, 1);
    else
        rse_q8_body(s, x, sv, ci, np, o, 0);
}

/* rse_q8_avx512 with AVX2: 8 channels of a pixel a step, the tail by
 * qb_load8_i8 / qb_store8_i8 (the same per-lane operations,
 * qb_quantize8_avx2's codes; qb_quantize8_fin_avx2 when no quotient can
 * be NaN, rse_q8_avx512's condition). */
__attribute__((target("avx2"))) static void rse_q8_avx2(const nhwc_state *s, const int8_t *x, const float *sv,
                                                        int64_t ci, int64_t np, int8_t *o)
{
    const __m256 sc = _mm256_set1_ps(s->q_scale), xs = _mm256_set1_ps(s->rse_scale);
    const __m256i zp = _mm256_set1_epi32(s->q_zero), xz = _mm256_set1_epi32(s->rse_zero);
    int fin = isfinite(s->q_scale) && s->q_scale != 0.0f && fabsf(s->rse_scale) <= FLT_MAX / 256.0f;
    for (int64_t c = 0; c < ci && fin; c++)
        fin = isfinite(sv[c]);
    for (int64_t p = 0; p < np; p++)
        for (int64_t c = 0; c < ci; c += 8) {
            const int nc = ci - c < 8 ? (int)(ci - c) : 8;
            __m256i v = _mm256_cvtepi8_epi32(qb_load8_i8(x + p * ci + c, nc));
            __m256 xf = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(v, xz)), xs);
            __m256 a = _mm256_add_ps(xf, _mm256_mul_ps(xf, _mm256_maskload_ps(sv + c, qb_lanes8(nc))));
            qb_store8_i8(o + p * s->c + c, fin ? qb_quantize8_fin_avx2(a, sc, zp) : qb_quantize8_avx2(a, sc, zp), nc);
        }
}
#endif

/* The Concat's input computed as x + x * s (s->rse): np pixels of image
 * b from pixel q, ci channels each, from x's int8 NHWC codes (rse_in's
 * operations per value) quantized into the output pixels at o (s->c
 * codes apart). */
static void rse_q8_pixels(const nhwc_job *j, int64_t b, int64_t q, int64_t np, int64_t ci, int8_t *o)
{
    const nhwc_state *s = j->s;
    const int8_t *x = (const int8_t *)j->g->tensors[s->rse_x]->data + (b * s->h * s->w + q) * ci;
    const float *sv = (const float *)j->g->tensors[s->rse_s]->data + b * ci;
#ifdef QB_NHWC_AVX512
    if (nhwc_avx512()) {
        rse_q8_avx512(s, x, sv, ci, np, o);
        return;
    }
    if (nhwc_avx2()) {
        rse_q8_avx2(s, x, sv, ci, np, o);
        return;
    }
#endif
    float tmp[256];
    for (int64_t p = 0; p < np; p++)
        for (int64_t c0 = 0; c0 < ci; c0 += 256) {
            int64_t nc = ci - c0 < 256 ? ci - c0 : 256;
            for (int64_t c = 0; c < nc; c++) {
                float xf = (float)(x[p * ci + c0 + c] - s->rse_zero) * s->rse_scale;
                tmp[c] = xf + xf * sv[c0 + c];
            }
            qb_quantize_i8(tmp, (size_t)nc, s->q_scale, s->q_zero, -128, 127, o + p * s->c + c0);
        }
}

/* Concat writing int8 codes (q8): pixels [p0, p1) over N*H*W, each
 * input's channels quantized into their place of the output pixels; from
 * NCHW planes with AVX-512, each input not read upsampled by
 * planes_q8_avx512, else by qb_qlayer_quantize_planes (one read
 * upsampled: concat_q8_upsampled quantizes each source value once, fewer
 * than planes_q8_avx512 would). */
static void concat_q8_pixels(void *ctx, int64_t p0, int64_t p1)
{
    const nhwc_job *j = ctx;
    const nhwc_state *s = j->s;
    const int64_t hw = s->h * s->w;
#ifdef QB_NHWC_AVX512
    const int planes_avx512 = !s->q8_in_nhwc && nhwc_avx512();
#endif
    for (int64_t p = p0; p < p1;) {
        int64_t b = p / hw, q0 = p % hw, q1 = b * hw + hw < p1 ? hw : p1 - b * hw; /* this image's share */
        int8_t *yb = (int8_t *)j->y + b * hw * s->c;                               /* its output pixels */
        int64_t coff = 0;
        for (int i = 0; i < j->n->nin; i++) {
            const qb_tensor *t = qb_in(j->g, j->n, i);
            int64_t ci = t->dims[1];
            const float *x = t->data;
            int8_t *o = yb + q0 * s->c + coff;
            if (s->rse == i + 1) /* x + x * s from int8 codes */
                rse_q8_pixels(j, b, q0, q1 - q0, ci, o);
            else if (i < NHWC_UP_MAX && s->up_rh[i]) /* each source value quantized once, its code copied */
                concat_q8_upsampled(s, j->g->tensors[s->up_src[i]]->data, ci, s->up_rh[i], s->up_rw[i], b, q0, q1,
                                    yb + coff);
            else if (s->q8_in_nhwc)
                for (int64_t k = q0; k < q1; k++)
                    qb_quantize_i8(x + (b * hw + k) * ci, (size_t)ci, s->q_scale, s->q_zero, -128, 127,
                                   o + (k - q0) * s->c);
#ifdef QB_NHWC_AVX512
            else if (planes_avx512) {
                q8_planes P = {.nin = 1, .c = ci, .ldo = s->c, .y = yb + coff};
                q8_planes_in(j, &P, 0, i, b, ci);
                planes_q8_avx512(s, &P, q0, q1);
            }
#endif
            else
                qb_qlayer_quantize_planes(x + b * ci * hw + q0, ci, (size_t)hw, q1 - q0, s->q_scale, s->q_zero, o,
                                          s->c);
            coff += ci;
        }
        p = b * hw + q1;
    }
}

/* Add/Sub/Mul writing int8 codes (q8): pixels [p0, p1) over N*H*W in
 * blocks of Q8_BLK, each block's results (16 channels at a time from NCHW
 * planes, an input read upsampled gathered by upsampled_in) quantized
 * into the NHWC output; from NCHW with AVX-512 or AVX2, elem_q8_simd. */
static void elem_q8_pixels(void *ctx, int64_t p0, int64_t p1)
{
    const nhwc_job *j = ctx;
    const nhwc_state *s = j->s;
    const int64_t hw = s->h * s->w, C = s->c;
#ifdef QB_NHWC_AVX512
    if (!s->q8_in_nhwc && (nhwc_avx512() || nhwc_avx2())) {
        const int avx2 = !nhwc_avx512();
        for (int64_t p = p0; p < p1;) {
            int64_t b = p / hw, q1 = b * hw + hw < p1 ? hw : p1 - b * hw; /* this image's share */
            elem_q8_simd(j, b, p % hw, q1, avx2);
            p = b * hw + q1;
        }
        return;
    }
#endif
    const float *a = qb_in(j->g, j->n, 0)->data, *bb = qb_in(j->g, j->n, 1)->data;
    int8_t *y = (int8_t *)j->y;
    float tmp[Q8_BLK * 16], up[2][Q8_BLK];
    for (int64_t p = p0; p < p1;) {
        int64_t b = p / hw, q = p % hw, nb = hw - q;
        if (nb > Q8_BLK)
            nb = Q8_BLK;
        if (nb > p1 - p)
            nb = p1 - p;
        if (s->q8_in_nhwc) {
            for (int64_t k = 0; k < nb * C; k += Q8_BLK * 16) {
                int64_t m = nb * C - k < Q8_BLK * 16 ? nb * C - k : Q8_BLK * 16;
                elem_f32(tmp, a + p * C + k, bb + p * C + k, m, s->elem_op);
                qb_quantize_i8(tmp, (size_t)m, s->q_scale, s->q_zero, -128, 127, y + p * C + k);
            }
        } else {
            for (int64_t c0 = 0; c0 < C; c0 += 16) {
                int64_t nc = C - c0 < 16 ? C - c0 : 16;
                for (int64_t c = 0; c < nc; c++) {
                    const float *pl[2];
                    for (int k = 0; k < 2; k++) {
                        if (s->rse == k + 1) {
                            rse_in(j, b, c0 + c, q, nb, up[k]), pl[k] = up[k];
                            continue;
                        }
                        pl[k] = elem_plane(j, k, b, c0 + c);
                        if (pl[k])
                            pl[k] += q;
                        else
                            upsampled_in(j, k, b, c0 + c, q, nb, up[k]), pl[k] = up[k];
                    }
                    elem_f32(tmp + c * nb, pl[0], pl[1], nb, s->elem_op);
                }
                qb_qlayer_quantize_planes(tmp, nc, (size_t)nb, nb, s->q_scale, s->q_zero, y + p * C + c0, C);
            }
        }
        p += nb;
    }
}

/* The two operands of a per-channel Add/Sub/Mul (NK_BCAST) in the
 * operator's order: m, the map's span, and v, the values (one per element
 * of the span). */
static void bcast_f32(float *restrict tmp, const float *m, const float *v, int64_t n, const nhwc_state *s)
{
    if (s->bc_in)
        elem_f32(tmp, m, v, n, s->elem_op);
    else
        elem_f32(tmp, v, m, n, s->elem_op);
}

/* Per-channel Add/Sub/Mul (NK_BCAST), NHWC in and out: pixels [p0, p1)
 * over N*H*W, each pixel's C values against the C values of its image. */
static void bcast_pixels(void *ctx, int64_t p0, int64_t p1)
{
    const nhwc_job *j = ctx;
    const nhwc_state *s = j->s;
    const float *m = qb_in(j->g, j->n, 1 - s->bc_in)->data, *v = qb_in(j->g, j->n, s->bc_in)->data;
    const int64_t hw = s->h * s->w, C = s->c;
    for (int64_t p = p0; p < p1; p++)
        bcast_f32(j->y + p * C, m + p * C, v + p / hw * C, C, s);
}

#ifdef QB_NHWC_AVX512
/* bcast_q8_pixels from NHWC input with AVX-512 in one pass: per pixel
 * its C values against its image's C values (bcast_f32's operation and
 * operand order), quantized at once (qb_quantize16_avx512, the codes of
 * qb_quantize_i8), 16 channels a step, the tail masked: no float block in
 * between. */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) static void bcast_q8_nhwc_avx512(int8_t *y, const float *m,
                                                                                    const float *v, int64_t p0,
                                                                                    int64_t p1, const nhwc_state *s)
{
    const __m512 sc = _mm512_set1_ps(s->q_scale);
    const __m512i zp = _mm512_set1_epi32(s->q_zero);
    const int64_t hw = s->h * s->w, C = s->c;
    const char op = s->elem_op;
    for (int64_t p = p0; p < p1; p++) {
        const float *mp = m + p * C, *vp = v + p / hw * C;
        const float *a = s->bc_in ? mp : vp, *b = s->bc_in ? vp : mp; /* the operator's order */
        int8_t *yp = y + p * C;
        for (int64_t c = 0; c < C; c += 16) {
            __mmask16 k = qb_lanes16(C - c);
            __m512 x = _mm512_maskz_loadu_ps(k, a + c), w = _mm512_maskz_loadu_ps(k, b + c);
            __m512 r = op == 'A' ? _mm512_add_ps(x, w) : op == 'S' ? _mm512_sub_ps(x, w) : _mm512_mul_ps(x, w);
            _mm_mask_storeu_epi8(yp + c, k, qb_quantize16_dq(r, sc, zp));
        }
    }
}
#endif

#ifdef QB_NHWC_AVX512
/* bcast_q8_nhwc_avx512 with AVX2: 8 channels a step, the tail masked
 * (the same operation per lane, qb_quantize8_avx2's codes). */
__attribute__((target("avx2"))) static void bcast_q8_nhwc_avx2(int8_t *y, const float *m, const float *v, int64_t p0,
                                                               int64_t p1, const nhwc_state *s)
{
    const __m256 sc = _mm256_set1_ps(s->q_scale);
    const __m256i zp = _mm256_set1_epi32(s->q_zero);
    const int64_t hw = s->h * s->w, C = s->c;
    const char op = s->elem_op;
    for (int64_t p = p0; p < p1; p++) {
        const float *mp = m + p * C, *vp = v + p / hw * C;
        const float *a = s->bc_in ? mp : vp, *b = s->bc_in ? vp : mp; /* the operator's order */
        int8_t *yp = y + p * C;
        for (int64_t c = 0; c < C; c += 8) {
            const int nc = C - c < 8 ? (int)(C - c) : 8;
            const __m256i k = qb_lanes8(nc);
            __m256 x = _mm256_maskload_ps(a + c, k), w = _mm256_maskload_ps(b + c, k);
            __m256 r = op == 'A' ? _mm256_add_ps(x, w) : op == 'S' ? _mm256_sub_ps(x, w) : _mm256_mul_ps(x, w);
            qb_store8_i8(yp + c, qb_quantize8_avx2(r, sc, zp), nc);
        }
    }
}
#endif

/* Per-channel Add/Sub/Mul writing int8 codes (q8): pixels [p0, p1) over
 * N*H*W, from NHWC input by pixels (as many as fit the block), from NCHW
 * planes 16 channels at a time as elem_q8_pixels. */
static void bcast_q8_pixels(void *ctx, int64_t p0, int64_t p1)
{
    const nhwc_job *j = ctx;
    const nhwc_state *s = j->s;
    const float *m = qb_in(j->g, j->n, 1 - s->bc_in)->data, *v = qb_in(j->g, j->n, s->bc_in)->data;
    int8_t *y = (int8_t *)j->y;
    const int64_t hw = s->h * s->w, C = s->c;
    float tmp[Q8_BLK * 16], kv[Q8_BLK];
#ifdef QB_NHWC_AVX512
    if (s->q8_in_nhwc && nhwc_avx512()) {
        bcast_q8_nhwc_avx512(y, m, v, p0, p1, s);
        return;
    }
    if (s->q8_in_nhwc && nhwc_avx2()) {
        bcast_q8_nhwc_avx2(y, m, v, p0, p1, s);
        return;
    }
#endif
    if (s->q8_in_nhwc) {
        const int64_t per = C < Q8_BLK * 16 ? Q8_BLK * 16 / C : 1; /* whole pixels a block */
        for (int64_t p = p0; p < p1;) {
            int64_t np = p1 - p < per ? p1 - p : per;
            if (C > Q8_BLK * 16) { /* one pixel in pieces */
                for (int64_t k = 0; k < C; k += Q8_BLK * 16) {
                    int64_t len = C - k < Q8_BLK * 16 ? C - k : Q8_BLK * 16;
                    bcast_f32(tmp, m + p * C + k, v + p / hw * C + k, len, s);
                    qb_quantize_i8(tmp, (size_t)len, s->q_scale, s->q_zero, -128, 127, y + p * C + k);
                }
                p++;
                continue;
            }
            for (int64_t i = 0; i < np; i++)
                bcast_f32(tmp + i * C, m + (p + i) * C, v + (p + i) / hw * C, C, s);
            qb_quantize_i8(tmp, (size_t)(np * C), s->q_scale, s->q_zero, -128, 127, y + p * C);
            p += np;
        }
        return;
    }
    for (int64_t p = p0; p < p1;) {
        int64_t b = p / hw, q = p % hw, nb = hw - q;
        if (nb > Q8_BLK)
            nb = Q8_BLK;
        if (nb > p1 - p)
            nb = p1 - p;
        for (int64_t c0 = 0; c0 < C; c0 += 16) {
            int64_t nc = C - c0 < 16 ? C - c0 : 16;
            for (int64_t c = 0; c < nc; c++) {
                for (int64_t i = 0; i < nb; i++)
                    kv[i] = v[b * C + c0 + c];
                bcast_f32(tmp + c * nb, m + (b * C + c0 + c) * hw + q, kv, nb, s);
            }
            qb_qlayer_quantize_planes(tmp, nc, (size_t)nb, nb, s->q_scale, s->q_zero, y + p * C + c0, C);
        }
        p += nb;
    }
}

#ifdef QB_NHWC_AVX512
/* rse_planes with AVX-512: pixels [q, q + np) of image b, 16 pixels x 16
 * channels a step: the codes transposed to one channel a register, each
 * lane rse_in's operations, 16 floats stored to the channel's plane. */
__attribute__((target("avx512f,avx512bw,avx512vl"))) static void rse_planes_avx512(const nhwc_job *j, int64_t b,
                                                                                 int64_t q, int64_t np)
{
    const nhwc_state *s = j->s;
    const int64_t C = s->c, hw = s->h * s->w;
    const int8_t *x = (const int8_t *)j->g->tensors[s->rse_x]->data + b * hw * C;
    const float *sv = (const float *)j->g->tensors[s->rse_s]->data + b * C;
    float *y = j->y + b * C * hw;
    const __m512 xs = _mm512_set1_ps(s->rse_scale);
    const __m512i xz = _mm512_set1_epi32(s->rse_zero);
    for (int64_t p = q; p < q + np; p += 16) {
        const int n = q + np - p < 16 ? (int)(q + np - p) : 16;
        const __mmask16 pm = (__mmask16)((1u << n) - 1);
        for (int64_t c0 = 0; c0 < C; c0 += 16) {
            const int nc = C - c0 < 16 ? (int)(C - c0) : 16;
            const __mmask16 cm = (__mmask16)((1u << nc) - 1);
            __m128i r[16];
#pragma GCC unroll 16
            for (int i = 0; i < 16; i++)
                r[i] = i < n ? _mm_maskz_loadu_epi8(cm, x + (p + i) * C + c0) : _mm_setzero_si128();
            qb_transpose16_i8(r);
#pragma GCC unroll 16
            for (int c = 0; c < 16; c++)
                if (c < nc) {
                    __m512 xf = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_cvtepi8_epi32(r[c]), xz)), xs);
                    xf = _mm512_add_ps(xf, _mm512_mul_ps(xf, _mm512_set1_ps(sv[c0 + c])));
                    _mm512_mask_storeu_ps(y + (c0 + c) * hw + p, pm, xf);
                }
        }
    }
}
/* rse_planes_avx512 with AVX2: 8 pixels x 8 channels a step, the codes
 * transposed to one channel a register (qb_transpose8_i8), each lane
 * rse_in's operations, 8 floats stored to the channel's plane. */
__attribute__((target("avx2"))) static void rse_planes_avx2(const nhwc_job *j, int64_t b, int64_t q, int64_t np)
{
    const nhwc_state *s = j->s;
    const int64_t C = s->c, hw = s->h * s->w;
    const int8_t *x = (const int8_t *)j->g->tensors[s->rse_x]->data + b * hw * C;
    const float *sv = (const float *)j->g->tensors[s->rse_s]->data + b * C;
    float *y = j->y + b * C * hw;
    const __m256 xs = _mm256_set1_ps(s->rse_scale);
    const __m256i xz = _mm256_set1_epi32(s->rse_zero);
    for (int64_t p = q; p < q + np; p += 8) {
        const int n = q + np - p < 8 ? (int)(q + np - p) : 8;
        const __m256i pm = qb_lanes8(n);
        for (int64_t c0 = 0; c0 < C; c0 += 8) {
            const int nc = C - c0 < 8 ? (int)(C - c0) : 8;
            __m128i r[8], t[4];
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++)
                r[i] = i < n ? qb_load8_i8(x + (p + i) * C + c0, nc) : _mm_setzero_si128();
            qb_transpose8_i8(r, t);
#pragma GCC unroll 8
            for (int c = 0; c < 8; c++)
                if (c < nc) {
                    const __m128i k = c & 1 ? _mm_srli_si128(t[c / 2], 8) : t[c / 2];
                    __m256 xf = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_cvtepi8_epi32(k), xz)), xs);
                    xf = _mm256_add_ps(xf, _mm256_mul_ps(xf, _mm256_set1_ps(sv[c0 + c])));
                    _mm256_maskstore_ps(y + (c0 + c) * hw + p, pm, xf);
                }
        }
    }
}

#endif

/* The Add x + Mul(x, s) writing its float NCHW output from x's int8 NHWC
 * codes (RSE_SELF): pixels [p0, p1) over N*H*W, by channel planes in
 * blocks of Q8_BLK pixels (rse_in), or with AVX-512 or AVX2. */
static void rse_planes(void *ctx, int64_t p0, int64_t p1)
{
    const nhwc_job *j = ctx;
    const nhwc_state *s = j->s;
    const int64_t hw = s->h * s->w, C = s->c;
    for (int64_t p = p0; p < p1;) {
        int64_t b = p / hw, q = p % hw, nb = hw - q < p1 - p ? hw - q : p1 - p; /* this image's share */
#ifdef QB_NHWC_AVX512
        if (nhwc_avx512()) {
            rse_planes_avx512(j, b, q, nb);
            p += nb;
            continue;
        }
        if (nhwc_avx2()) {
            rse_planes_avx2(j, b, q, nb);
            p += nb;
            continue;
        }
#endif
        for (int64_t q0 = q; q0 < q + nb; q0 += Q8_BLK) {
            int64_t n = q + nb - q0 < Q8_BLK ? q + nb - q0 : Q8_BLK;
            for (int64_t c = 0; c < C; c++)
                rse_in(j, b, c, q0, n, j->y + (b * C + c) * hw + q0);
        }
        p += nb;
    }
}

static void nhwc_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const nhwc_state *s = n->state;
    nhwc_job j = {s, g, n, qb_in(g, n, 0)->data, qb_out(g, n, 0)->data};
    if (s->rse == RSE_SELF) {
        int64_t pix = s->n * s->h * s->w;
        qb_gpar_for(pix, qb_gpar_chunk(pix, s->c, Q8_BLK), rse_planes, &j);
    } else if (s->q8) {
        int64_t pix = s->n * s->h * s->w;
        qb_gpar_for(pix, qb_gpar_chunk(pix, s->c, Q8_BLK),
                    s->kind == NK_CONCAT ? concat_q8_pixels : s->kind == NK_BCAST ? bcast_q8_pixels : elem_q8_pixels,
                    &j);
    } else if (s->kind == NK_BCAST) {
        int64_t pix = s->n * s->h * s->w;
        qb_gpar_for(pix, qb_gpar_chunk(pix, s->c, 16), bcast_pixels, &j);
    } else if (s->kind == NK_GAP) {
        qb_gpar_for(s->n, qb_gpar_chunk(s->n, s->h * s->w * s->c, 1), gap_images, &j);
    } else if (s->kind == NK_CONCAT) {
        int64_t pix = s->n * s->h * s->w;
        qb_gpar_for(pix, qb_gpar_chunk(pix, s->c, 1), concat_pixels, &j);
    } else {
        int64_t rows = s->n * s->oh;
        qb_gpar_for(rows, qb_gpar_chunk(rows, s->ow * s->kh * s->kw * s->c, 1), s->kind == NK_MAXPOOL ? maxpool_rows : pool_rows, &j);
    }
}

static const qb_opdef nhwc_def = {.name = "(NHWC)", .run = nhwc_run};

/* n switched to the NHWC run (the classified kind, its own state kept beside). */
static int switch_to(qb_graph *g, qb_node *n, int kind, const nhwc_state *tmp, int out_nchw, qb_err *e)
{
    nhwc_state *s = malloc(sizeof *s);
    if (!s) {
        QB_NODE_ERR(e, g, n, "out of memory");
        return -1;
    }
    *s = *tmp;
    s->kind = kind;
    s->out_nchw = out_nchw && (kind == NK_MAXPOOL || kind == NK_AVGPOOL);
    s->orig_state = n->state;
    s->orig_free = n->free_state;
    n->state = s;
    n->free_state = nhwc_free;
    n->def = &nhwc_def;
    return 0;
}

int qb_nhwc_switch(qb_graph *g, qb_node *n, int out_nchw, qb_err *e)
{
    nhwc_state tmp;
    int kind = classify(g, n, &tmp);
    if (kind == NK_NONE || kind == NK_ELEM)
        return 0; /* element-wise of one shape: its own run is layout-free */
    return switch_to(g, n, kind, &tmp, out_nchw, e);
}

int qb_nhwc_quantize_out(qb_graph *g, qb_node *n, int in_nhwc, float scale, int32_t zero, qb_err *e)
{
    nhwc_state tmp;
    int kind = classify(g, n, &tmp);
    if (kind != NK_CONCAT && kind != NK_ELEM && kind != NK_BCAST) {
        QB_NODE_ERR(e, g, n, "int8 output needs a Concat or an Add/Sub/Mul (internal error)");
        return -1;
    }
    if (n->def != &nhwc_def && switch_to(g, n, kind, &tmp, 0, e))
        return -1;
    nhwc_state *s = n->state;
    if (kind == NK_ELEM) { /* classify leaves the geometry to the NHWC kinds */
        const qb_tensor *y = qb_out(g, n, 0);
        s->n = y->dims[0], s->c = y->dims[1], s->h = y->dims[2], s->w = y->dims[3];
        s->elem_op = n->op[0];
    }
    s->q8 = 1;
    s->q8_in_nhwc = in_nhwc;
    s->q_scale = scale, s->q_zero = zero;
    return 0;
}

int qb_nhwc_rse_input(qb_graph *g, qb_node *n, int k, int x, int sv, float scale, int32_t zero, qb_err *e)
{
    nhwc_state *s = n->def == &nhwc_def ? n->state : NULL;
    if (!s || (s->kind != NK_ELEM && s->kind != NK_CONCAT) || !s->q8 || s->q8_in_nhwc || k < 0 || k >= n->nin ||
        k >= NHWC_UP_MAX || s->up_rh[k]) {
        QB_NODE_ERR(e, g, n, "x + x * s from int8 needs a Concat or Add/Sub/Mul writing int8 from NCHW (internal error)");
        return -1;
    }
    s->rse = 1 + k;
    s->rse_x = x, s->rse_s = sv;
    s->rse_scale = scale, s->rse_zero = zero;
    return 0;
}

int qb_nhwc_rse_self(qb_graph *g, qb_node *n, int x, int sv, float scale, int32_t zero, qb_err *e)
{
    nhwc_state tmp;
    if (classify(g, n, &tmp) != NK_ELEM || n->def == &nhwc_def || strcmp(n->op, "Add")) {
        QB_NODE_ERR(e, g, n, "x + x * s from int8 needs an Add of one shape (internal error)");
        return -1;
    }
    if (switch_to(g, n, NK_ELEM, &tmp, 0, e))
        return -1;
    nhwc_state *s = n->state;
    const qb_tensor *y = qb_out(g, n, 0);
    s->n = y->dims[0], s->c = y->dims[1], s->h = y->dims[2], s->w = y->dims[3];
    s->elem_op = 'A';
    s->rse = RSE_SELF;
    s->rse_x = x, s->rse_s = sv;
    s->rse_scale = scale, s->rse_zero = zero;
    return 0;
}

/* An Add/Sub/Mul writing int8 reads an input upsampled faster than the
 * Resize and its own read of the materialised input: with AVX-512 or
 * AVX2 (elem_q8_simd); the gather of the plain loop costs more. */
static int elem_up_fast(void)
{
#ifdef QB_NHWC_AVX512
    return nhwc_avx512() || nhwc_avx2();
#else
    return 0;
#endif
}

int qb_nhwc_read_upsampled(qb_graph *g, qb_node *n, int k, int src, int64_t rh, int64_t rw)
{
    nhwc_state *s = n->def == &nhwc_def ? n->state : NULL;
    const qb_tensor *x = g->tensors[src], *t = qb_in(g, n, k);
    if (s && s->kind == NK_ELEM && !elem_up_fast())
        return 0; /* without AVX-512 or AVX2 the gather per element costs more than the materialised Resize */
    if (!s || !s->q8 || s->q8_in_nhwc || (s->kind != NK_CONCAT && s->kind != NK_ELEM) || k < 0 || k >= NHWC_UP_MAX ||
        s->rse == k + 1 ||
        rh < 1 || rw < 1 || !t || !is_4d_float(x) || x->dims[0] != t->dims[0] || x->dims[1] != t->dims[1] ||
        x->dims[2] * rh != t->dims[2] || x->dims[3] * rw != t->dims[3] || t->dims[1] > NHWC_UP_BYTES)
        return 0;
    s->up_rh[k] = rh, s->up_rw[k] = rw, s->up_src[k] = src;
    return 1;
}

int qb_nhwc_pool_int8(qb_graph *g, qb_node *n, float in_scale, int32_t in_zero, int int8_out, float out_scale,
                      int32_t out_zero, qb_err *e)
{
    nhwc_state *s = n->def == &nhwc_def ? n->state : NULL;
    if (!s || s->kind == NK_CONCAT || s->kind == NK_ELEM || s->kind == NK_BCAST || (int8_out && (s->out_nchw || s->kind == NK_GAP))) {
        QB_NODE_ERR(e, g, n, "int8 pooling needs an NHWC MaxPool, AveragePool or GlobalAveragePool (internal error)");
        return -1;
    }
    s->i8 = int8_out ? 1 : 2;
    s->in_scale = in_scale, s->in_zero = in_zero;
    s->q_scale = out_scale, s->q_zero = out_zero; /* AveragePool, int8 output: QuantizeLinear into this grid */
    s->gap_exact = s->kind == NK_GAP && gap_sum_exact(in_scale, s->h * s->w);
    int8_t codes[256];
    for (int q = -128; q < 128; q++)
        codes[q + 128] = (int8_t)q;
    /* DequantizeLinear, then QuantizeLinear into the next grid, as qlayer.c (kernels/quantize.h) */
    qb_dequantize_i8(codes, 256, in_scale, in_zero, s->lut_f);
    qb_quantize_i8(s->lut_f, 256, out_scale, out_zero, -128, 127, s->lut);
    return 0;
}

int qb_nhwc_pool_int8_max(qb_graph *g, qb_node *n, qb_err *e)
{
    nhwc_state *s = n->def == &nhwc_def ? n->state : NULL;
    if (!s || s->kind != NK_MAXPOOL || s->out_nchw) {
        QB_NODE_ERR(e, g, n, "an int8 MaxPool after a chain needs the NHWC MaxPool with NHWC output (internal error)");
        return -1;
    }
    s->i8 = 3;
    return 0;
}
