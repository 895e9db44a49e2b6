/*
 * nhwc_ops.c - the operators between convolutions on NHWC tensors, so
 * that layouts (exec.c, choose_layouts) need not go back to NCHW at each
 * of them: MaxPool and AveragePool (2-D, float32), Concat along the
 * channels, GlobalAveragePool reading NHWC (its N x C x 1 x 1 output is
 * the same in both layouts), and element-wise Add/Sub/Mul of two tensors
 * of one shape (layout-free: they keep their own run). Each computes
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
 * path. int8 GlobalAveragePool: the same producer's int8 output summed
 * per channel as floats, each value dequantized on the fly (the float
 * path's DequantizeLinear and additions, in its order): bit-identical,
 * without the dequantized tensor in between.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define QB_GAP_AVX512 1
#endif

#include "harness/graph/ops.h"
#include "harness/graph/par.h"
#include "kernels/kernels.h"
#include "kernels/quantize.h"

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
                                * output (MaxPool only), 2 float output */
    float in_scale;            /* i8 == 2, GlobalAveragePool: the input grid's scale */
    int32_t in_zero;           /* ... and zero point */
    int8_t lut[256];           /* i8 == 1: output value of input q at lut[q + 128] */
    float lut_f[256];          /* i8 == 2: dequantized value of input q at lut_f[q + 128] */
    void *orig_state;          /* the operator's own prepared state */
    void (*orig_free)(void *); /* its free function, NULL for free() */
} nhwc_state;

enum { NK_NONE, NK_MAXPOOL, NK_AVGPOOL, NK_GAP, NK_CONCAT, NK_ELEM };

static void nhwc_free(void *p)
{
    nhwc_state *s = p;
    if (!s)
        return;
    if (s->orig_free)
        s->orig_free(s->orig_state);
    else
        free(s->orig_state);
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
            b->kind == QB_T_CONST || n->def != qb_op_find(n->op))
            return NK_NONE;
        for (int i = 0; i < 4; i++)
            if (a->dims[i] != y->dims[i] || b->dims[i] != y->dims[i])
                return NK_NONE;
        return NK_ELEM;
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

/* Output rows [r0, r1) (over N*OH) of a pool; every channel at once. */
static void pool_rows(void *ctx, int64_t r0, int64_t r1)
{
    const nhwc_job *j = ctx;
    const nhwc_state *s = j->s;
    const int is_max = s->kind == NK_MAXPOOL;
    const int64_t C = s->c;
    float *acc = malloc((size_t)C * 2 * sizeof *acc); /* sums, then the NCHW output pixel */
    if (!acc)
        return;
    for (int64_t r = r0; r < r1; r++) {
        int64_t b = r / s->oh, oy = r % s->oh;
        const float *xb = j->x + b * s->h * s->w * C;
        for (int64_t ox = 0; ox < s->ow; ox++) {
            float *y = s->out_nchw ? acc + C : j->y + ((b * s->oh + oy) * s->ow + ox) * C;
            for (int64_t c = 0; c < C; c++)
                acc[c] = is_max ? -INFINITY : 0.0f;
            int64_t cnt = 0;
            for (int64_t ky = 0; ky < s->kh; ky++) {
                int64_t iy = oy * s->sh - s->pt + ky * s->dh;
                if (iy < 0 || iy >= s->h)
                    continue;
                for (int64_t kx = 0; kx < s->kw; kx++) {
                    int64_t ix = ox * s->sw - s->pl + kx * s->dw;
                    if (ix < 0 || ix >= s->w)
                        continue;
                    const float *xp = xb + (iy * s->w + ix) * C;
                    if (is_max)
                        for (int64_t c = 0; c < C; c++)
                            acc[c] = xp[c] > acc[c] ? xp[c] : acc[c];
                    else
                        for (int64_t c = 0; c < C; c++)
                            acc[c] += xp[c];
                    cnt++;
                }
            }
            if (is_max) {
                memcpy(y, acc, (size_t)C * sizeof *y);
                if (s->out_nchw)
                    scatter_nchw(j->y, y, s, b, oy, ox);
                continue;
            }
            int64_t padcnt = 1, o[2] = {oy, ox}, st[2] = {s->sh, s->sw}, pb[2] = {s->pt, s->pl};
            int64_t k[2] = {s->kh, s->kw}, in[2] = {s->h, s->w}, pe[2] = {s->pb, s->pr};
            for (int d = 0; d < 2; d++) { /* window inside the padded input (as the NCHW pool) */
                int64_t lo = o[d] * st[d] - pb[d], hi = lo + (k[d] - 1) * 1 + 1;
                if (hi > in[d] + pe[d])
                    hi = in[d] + pe[d];
                padcnt *= hi - lo;
            }
            float div = (float)(s->count_pad ? padcnt : cnt ? cnt : 1);
            for (int64_t c = 0; c < C; c++)
                y[c] = acc[c] / div;
            if (s->out_nchw)
                scatter_nchw(j->y, y, s, b, oy, ox);
        }
    }
    free(acc);
}

/* acc = max(acc, x) over n int8 (SSE2 has no signed byte max: flip the
 * sign bits, unsigned max, flip back). */
static void max_i8(int8_t *restrict acc, const int8_t *restrict x, int64_t n)
{
    int64_t c = 0;
#if defined(__SSE2__)
    const __m128i flip = _mm_set1_epi8((char)0x80);
    for (; c + 16 <= n; c += 16) {
        __m128i a = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(acc + c)), flip);
        __m128i v = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(x + c)), flip);
        _mm_storeu_si128((__m128i *)(acc + c), _mm_xor_si128(_mm_max_epu8(a, v), flip));
    }
#endif
    for (; c < n; c++)
        acc[c] = x[c] > acc[c] ? x[c] : acc[c];
}

/* int8 MaxPool: output rows [r0, r1) over N*OH, every channel at once;
 * int8 output (table into the next conv's grid) or float (dequantized),
 * NHWC or NCHW. */
static void pool_rows_i8(void *ctx, int64_t r0, int64_t r1)
{
    const nhwc_job *j = ctx;
    const nhwc_state *s = j->s;
    const int64_t C = s->c;
    const int8_t *x = (const void *)j->x;
    int8_t acc_stack[1024];
    float px_stack[256];
    /* locals, not s->...: int8 stores may alias anything, so fields read
     * through s would be reloaded after every store */
    const int8_t *lut = s->lut;
    const float *lut_f = s->lut_f;
    const int i8_out = s->i8 == 1, out_nchw = s->out_nchw;
    int8_t *acc = C <= 1024 ? acc_stack : malloc((size_t)C);
    float *px = !out_nchw ? NULL : C <= 256 ? px_stack : malloc((size_t)C * sizeof *px);
    if (!acc || (out_nchw && !px)) {
        if (acc != acc_stack)
            free(acc);
        if (px != px_stack)
            free(px);
        return;
    }
    for (int64_t r = r0; r < r1; r++) {
        int64_t b = r / s->oh, oy = r % s->oh;
        const int8_t *xb = x + b * s->h * s->w * C;
        for (int64_t ox = 0; ox < s->ow; ox++) {
            int64_t at = ((b * s->oh + oy) * s->ow + ox) * C;
            memset(acc, 0x80, (size_t)C); /* -128 */
            int64_t cnt = 0;
            for (int64_t ky = 0; ky < s->kh; ky++) {
                int64_t iy = oy * s->sh - s->pt + ky * s->dh;
                if (iy < 0 || iy >= s->h)
                    continue;
                for (int64_t kx = 0; kx < s->kw; kx++) {
                    int64_t ix = ox * s->sw - s->pl + kx * s->dw;
                    if (ix < 0 || ix >= s->w)
                        continue;
                    max_i8(acc, xb + (iy * s->w + ix) * C, C);
                    cnt++;
                }
            }
            if (i8_out) { /* a window all padding is -inf on the float path: -128 */
                int8_t *restrict y = (int8_t *)(void *)j->y + at;
                if (!cnt)
                    memset(y, 0x80, (size_t)C);
                else
                    for (int64_t c = 0; c < C; c++)
                        y[c] = lut[acc[c] + 128];
                continue;
            }
            float *restrict y = out_nchw ? px : j->y + at;
            for (int64_t c = 0; c < C; c++)
                y[c] = cnt ? lut_f[acc[c] + 128] : -INFINITY;
            if (out_nchw)
                scatter_nchw(j->y, y, s, b, oy, ox);
        }
    }
    if (acc != acc_stack)
        free(acc);
    if (px && px != px_stack)
        free(px);
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

/* acc[c] += (float)(x[c] - zero) * scale for n int8 channels: the
 * DequantizeLinear of qlayer.c, then the float sum's own addition. */
static void add_dq_i8(float *restrict acc, const int8_t *restrict x, int64_t n, float scale, int32_t zero)
{
    int64_t c = 0;
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

#ifdef QB_GAP_AVX512
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

/* AVX-512F/BW usable (checked once). */
static int gap_avx512(void)
{
    static int ok = -1;
    if (ok < 0)
        ok = (qb_cpu_features() & (QB_CPU_AVX512F | QB_CPU_AVX512BW)) == (QB_CPU_AVX512F | QB_CPU_AVX512BW);
    return ok;
}
#endif

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
            if (s->i8) {
                const int8_t *x = (const int8_t *)(const void *)j->x + b * hw * C + c0;
                const float scale = s->in_scale;
                const int32_t zero = s->in_zero;
#ifdef QB_GAP_AVX512
                if (nc >= 16 && gap_avx512()) {
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
                for (int64_t p = 0; p < hw; p++)
                    add_f32(acc, x + p * C, nc);
            }
#ifdef QB_GAP_AVX512
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

static void nhwc_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const nhwc_state *s = n->state;
    nhwc_job j = {s, g, n, qb_in(g, n, 0)->data, qb_out(g, n, 0)->data};
    if (s->kind == NK_GAP) {
        qb_gpar_for(s->n, qb_gpar_chunk(s->n, s->h * s->w * s->c, 1), gap_images, &j);
    } else if (s->kind == NK_CONCAT) {
        int64_t pix = s->n * s->h * s->w;
        qb_gpar_for(pix, qb_gpar_chunk(pix, s->c, 1), concat_pixels, &j);
    } else {
        int64_t rows = s->n * s->oh;
        qb_gpar_for(rows, qb_gpar_chunk(rows, s->ow * s->kh * s->kw * s->c, 1), s->i8 ? pool_rows_i8 : pool_rows, &j);
    }
}

static const qb_opdef nhwc_def = {.name = "(NHWC)", .run = nhwc_run};

int qb_nhwc_switch(qb_graph *g, qb_node *n, int out_nchw, qb_err *e)
{
    nhwc_state tmp;
    int kind = classify(g, n, &tmp);
    if (kind == NK_NONE || kind == NK_ELEM)
        return 0; /* element-wise of one shape: its own run is layout-free */
    nhwc_state *s = malloc(sizeof *s);
    if (!s) {
        QB_NODE_ERR(e, g, n, "out of memory");
        return -1;
    }
    *s = tmp;
    s->kind = kind;
    s->out_nchw = out_nchw && (kind == NK_MAXPOOL || kind == NK_AVGPOOL);
    s->orig_state = n->state;
    s->orig_free = n->free_state;
    n->state = s;
    n->free_state = nhwc_free;
    n->def = &nhwc_def;
    return 0;
}

int qb_nhwc_pool_int8(qb_graph *g, qb_node *n, float in_scale, int32_t in_zero, int int8_out, float out_scale,
                      int32_t out_zero, qb_err *e)
{
    nhwc_state *s = n->def == &nhwc_def ? n->state : NULL;
    if (!s || (s->kind != NK_MAXPOOL && s->kind != NK_GAP) || (int8_out && (s->out_nchw || s->kind == NK_GAP))) {
        QB_NODE_ERR(e, g, n, "int8 pooling needs the NHWC MaxPool or GlobalAveragePool (internal error)");
        return -1;
    }
    s->i8 = int8_out ? 1 : 2;
    s->in_scale = in_scale, s->in_zero = in_zero;
    int8_t codes[256];
    for (int q = -128; q < 128; q++)
        codes[q + 128] = (int8_t)q;
    /* DequantizeLinear, then QuantizeLinear into the next grid, as qlayer.c (kernels/quantize.h) */
    qb_dequantize_i8(codes, 256, in_scale, in_zero, s->lut_f);
    qb_quantize_i8(s->lut_f, 256, out_scale, out_zero, -128, 127, s->lut);
    return 0;
}
