/*
 * ops_conv.c - Conv (groups, pads, auto_pad, strides, dilations; 1-D, 2-D
 * and 3-D) and the pools MaxPool, AveragePool, GlobalAveragePool, all on
 * NCHW tensors. Spatial dims are handled as 3-D with leading ones.
 *
 * Conv scheme: per image and group, im2col builds A = [pixels x Cin/g*k]
 * (row p, column (c, kz, ky, kx)), the fp32 GEMM kernel multiplies it by
 * the packed W = [Cout/g x K] with the bias fused, giving [pixels x
 * Cout/g], which is transposed into the NCHW output. fp32 convs of many
 * channels on a GEMM kernel that reads A by window taps (QB_KF_A_TAPS)
 * skip im2col: one zero-padded NHWC copy of the image, one kernel call
 * per output row (the direct path); int8 quantized convs the same on an
 * int8 GEMM kernel with the flag (qdirect: the copy padded with the input
 * zero point, quantized straight into it from a float image). Depthwise 1-D and
 * 2-D convs (any window, strides, dilations, pads) use the NHWC depthwise
 * kernel between two transposes instead.
 * An element-wise chain after a conv (fuse_elem.c) runs as its epilogue:
 * on each block of NHWC output pixels right after the kernel wrote it,
 * while in cache (run_epilogue; int8 quantized convs in qlayer.c, on the
 * dequantized floats or, for an int8 chain, on the int8 codes).
 * Threads (par.h): im2col and the transposes by pieces of output rows /
 * matrix sides, the kernels by row chunks, the pools by planes.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define QB_CONV_AVX512 1
#endif

#include "harness/graph/ops.h"
#include "harness/graph/par.h"
#include "harness/graph/qlayer.h"
#include "harness/graph/q16_avx512.h"

/* Geometry of a convolution or pool window, always 3 spatial dims. */
typedef struct win {
    int nsp;             /* spatial dims in the model (1..3) */
    int64_t n, c;        /* batch, input channels */
    int64_t in[3];       /* input spatial size */
    int64_t out[3];      /* output spatial size */
    int64_t k[3];        /* kernel size */
    int64_t s[3];        /* strides */
    int64_t d[3];        /* dilations */
    int64_t pb[3], pe[3]; /* pads at the beginning / end */
} win;

/* Fill w from x's shape and the node's attributes; ks = kernel spatial dims. */
static int win_setup(qb_graph *g, qb_node *n, const qb_tensor *x, const int64_t *ks, int ceil_mode, win *w, qb_err *e)
{
    memset(w, 0, sizeof *w);
    w->nsp = x->ndim - 2;
    if (w->nsp < 1 || w->nsp > 3) {
        QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_SHAPE, "input rank %d is not supported (3 to 5)", x->ndim);
        return -1;
    }
    w->n = x->dims[0];
    w->c = x->dims[1];
    const int64_t *st = NULL, *dl = NULL, *pd = NULL;
    int nst = qb_attr_ints(n, "strides", &st), ndl = qb_attr_ints(n, "dilations", &dl), npd = qb_attr_ints(n, "pads", &pd);
    if ((nst >= 0 && nst != w->nsp) || (ndl >= 0 && ndl != w->nsp) || (npd >= 0 && npd != 2 * w->nsp)) {
        QB_NODE_ERR(e, g, n, "strides, dilations or pads do not match %d spatial dims", w->nsp);
        return -1;
    }
    const char *ap = qb_attr_str(n, "auto_pad", "NOTSET");
    int off = 3 - w->nsp;
    for (int i = 0; i < 3; i++) {
        w->in[i] = w->k[i] = w->s[i] = w->d[i] = 1;
        w->out[i] = 1;
    }
    for (int i = 0; i < w->nsp; i++) {
        int j = off + i;
        w->in[j] = x->dims[2 + i];
        w->k[j] = ks[i];
        w->s[j] = nst >= 0 ? st[i] : 1;
        w->d[j] = ndl >= 0 ? dl[i] : 1;
        const int64_t lim = (int64_t)1 << 24;
        if (w->k[j] < 1 || w->s[j] < 1 || w->d[j] < 1 || w->k[j] > lim || w->s[j] > lim || w->d[j] > lim) {
            QB_NODE_ERR(e, g, n, "kernel, stride and dilation must be in 1..2^24");
            return -1;
        }
        if (npd >= 0 && (pd[i] > lim || pd[w->nsp + i] > lim)) {
            QB_NODE_ERR(e, g, n, "pads above 2^24");
            return -1;
        }
        int64_t ek = (w->k[j] - 1) * w->d[j] + 1;
        if (!strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER")) {
            int64_t o = (w->in[j] + w->s[j] - 1) / w->s[j];
            int64_t tot = (o - 1) * w->s[j] + ek - w->in[j];
            if (tot < 0)
                tot = 0;
            w->pb[j] = !strcmp(ap, "SAME_UPPER") ? tot / 2 : tot - tot / 2;
            w->pe[j] = tot - w->pb[j];
        } else if (!strcmp(ap, "VALID")) {
            w->pb[j] = w->pe[j] = 0;
        } else if (!strcmp(ap, "NOTSET")) {
            w->pb[j] = npd >= 0 ? pd[i] : 0;
            w->pe[j] = npd >= 0 ? pd[w->nsp + i] : 0;
            if (w->pb[j] < 0 || w->pe[j] < 0) {
                QB_NODE_ERR(e, g, n, "negative pads");
                return -1;
            }
        } else {
            QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_ATTR, "auto_pad '%s' is not supported", ap);
            return -1;
        }
        int64_t span = w->in[j] + w->pb[j] + w->pe[j] - ek;
        if (span < 0) {
            QB_NODE_ERR(e, g, n, "the kernel is larger than the padded input");
            return -1;
        }
        w->out[j] = (ceil_mode ? (span + w->s[j] - 1) / w->s[j] : span / w->s[j]) + 1;
        if (ceil_mode && (w->out[j] - 1) * w->s[j] >= w->in[j] + w->pb[j])
            w->out[j]--;
    }
    return 0;
}

static void out_dims(const win *w, int64_t cout, int64_t *dims)
{
    dims[0] = w->n;
    dims[1] = cout;
    for (int i = 0; i < w->nsp; i++)
        dims[2 + i] = w->out[3 - w->nsp + i];
}

/* ---- Conv ---- */
typedef struct conv_state {
    win w;               /* geometry */
    int64_t group;       /* groups */
    int64_t cout;        /* output channels */
    int64_t kk;          /* K = Cin/g * kd*kh*kw */
    int64_t pix;         /* output pixels per image */
    int dw;              /* depthwise NHWC kernel path */
    int pointwise;       /* 1x1 kernel, stride 1, no padding: im2col is a transpose */
    int in_nhwc;         /* input kept NHWC by the previous conv: K ordered (kz, ky, kx, c) */
    int out_nhwc;        /* output written NHWC for the next conv(s) */
    int in_i8;           /* quantized: the NHWC input is already int8 in this node's input grid */
    int out_i8;          /* quantized: the NHWC output stays int8 (every consumer reads it so) */
    int q_first;         /* quantized int8, float input: quantize the image once into an NHWC int8 copy,
                          * then im2col bytes (fewer values than quantizing A; e.g. first layers); a 1x1
                          * conv reads that copy as A (NCHW planes quantized straight, no float transpose) */
    size_t qimg_off;     /* q_first: where that copy starts in the scratch */
    int q_pad;           /* q_first on a 2-D image, window rows of at most 16 bytes (first layers): the copy
                          * is padded (zero point around it) and im2col_padded_i8 copies window rows
                          * without bounds checks */
    int q_wpad;          /* q_first 2-D conv of one group, no x-dilation, not q_pad, q_stack or qdirect (outputs
                          * narrower than QSTACK_MIN_W keep im2col): with the AVX-512 im2col, the image (int8
                          * link, or floats quantized into it) goes into a padded copy (qimg_off, hp x wp, the
                          * zero point around it) so every window lies inside and im2col copies whole window
                          * rows, a row of pixels a call (no per-tap copies for border pixels) */
    int64_t hp, wp;      /* q_pad, q_wpad: rows and columns of the padded copy */
    int q_pg;            /* q_pad: pixels per byte-permute group of im2col_padded_vbmi (0: not that path) */
    uint8_t q_pidx[192]; /* q_pad: the group's A bytes, as indices into its kh (<= 4) 32-byte source rows */
    int q_stack;         /* q_first 2-D conv of one group, no x-dilation, not q_pad: no im2col; per output row
                          * the kh input rows it reads are stacked, column by column (S[x][ky][c], the zero
                          * point outside the image), and the int8 GEMM reads output pixel ox's K = kw*kh*C
                          * bytes at S + ox*sw*kh*C (weights packed in (kx, ky, c) order) */
    int64_t sw_cols;     /* q_stack: columns of a stacked row ((out_w - 1) * s + kw) */
    size_t stack_off;    /* q_stack: where the per-chunk slots start in the scratch */
    size_t stack_slot;   /* q_stack: bytes per slot (a stacked row, then the int8 output row) */
    int f_first;         /* fp32, many channels, NCHW input: transpose the image to NHWC (fimg_off in the
                          * scratch) and im2col whole window rows; weights always packed in NHWC order */
    size_t fimg_off;     /* f_first: where the NHWC copy starts in the scratch */
    int direct;          /* f_first-like fp32 2-D conv of many channels (or an image of 1-3) on a GEMM kernel with QB_KF_A_TAPS: no
                          * im2col; the image is copied once, zero-padded, NHWC (dimg_off in the scratch) and
                          * the kernel reads each window tap of an output row straight from that copy */
    size_t dimg_off;     /* direct: where the padded copy starts in the scratch (the output rows come first) */
    int64_t dhp, dwp;    /* direct: rows and columns of the padded copy */
    ptrdiff_t *taps;     /* direct: per window row ky, its offset in floats from an output pixel's (0, 0) tap (the
                          * row's kw taps are kw * C consecutive floats: d[2] == 1); qdirect: the same in bytes */
    int qdirect;         /* int8 quantized 2-D (or 1-D) conv of one group on an int8 GEMM kernel with QB_KF_A_TAPS: no
                          * im2col; the image (int8 link, or floats quantized into it) copied once into a padded NHWC
                          * int8 copy (qimg_off, dhp x dwp, the input zero point around), one kernel call per
                          * output row reading kh segments of knp bytes (a window row, padded to 4 bytes with
                          * zero weights); the output rows through the slots of q_stack */
    int64_t knp;         /* qdirect: bytes per segment: kw * C rounded up to 4 */
    int qruns;           /* qdirect with output rows narrower than QSTACK_MIN_W, on an int8 kernel with
                          * QB_KF_A_RUNS: each chunk of output rows is one kernel call whose rows of A come
                          * in runs of out_w (one run per output row, s[1] padded rows apart), so no call
                          * of a few rows per output row and no im2col */
    int packed_ok;       /* packs valid (constant weights) */
    qb_packed *packs;    /* one per group (or one for dw) */
    int npacks;          /* number of packs */
    float *wbuf;         /* dw: C x taps logical weights for packing */
    size_t qscratch_off; /* quantized node: where its int8/bit buffers start in the scratch */
    const qb_node *epi;  /* the element-wise chain run on each block of output pixels in cache (its node;
                          * fuse_elem.c), or NULL; int8 quantized convs hand it to qlayer.c */
} conv_state;

static int pad_groups(const win *w, int64_t K, uint8_t idx[192]);

static void conv_free(void *p)
{
    conv_state *s = p;
    if (!s)
        return;
    for (int i = 0; i < s->npacks; i++)
        if (s->packs[i].block)
            qb_packed_free(&s->packs[i]);
    free(s->packs);
    free(s->wbuf);
    free(s->taps);
    free(s);
}

/* Quantized weights (n->q): quantized once (qlayer.c), then packed per
 * group, with the columns in NHWC im2col order when the input is NHWC. */
static int conv_pack_quantized(qb_graph *g, qb_node *n, conv_state *s, qb_err *e)
{
    const qb_tensor *W = qb_in(g, n, 1), *B = qb_in(g, n, 2);
    const float *wd = W->data, *bd = B ? B->data : NULL;
    if (qb_qlayer_prepare(g, n, wd, (int)s->cout, (int)s->kk, bd, s->dw, e))
        return -1;
    if (s->dw)
        return qb_qlayer_pack(g, n, 0, (int)s->cout, (int)s->kk, NULL, wd, bd, &s->packs[0], e);
    int64_t cog = s->cout / s->group, *perm = NULL;
    if (s->qdirect && (!(n->q->kernel->flags & QB_KF_A_TAPS) || (s->qruns && !(n->q->kernel->flags & QB_KF_A_RUNS))))
        s->qdirect = s->qruns = 0; /* the kernel (known now) reads A only as plain rows, or not in runs */
    if (s->qdirect) { /* window rows (ky), each (kx, c) then zeros up to knp bytes */
        int64_t cg = W->dims[1], kh = s->w.k[1], kw = s->w.k[2], kn = kw * cg;
        s->knp = (kn + 3) / 4 * 4;
        int64_t kp = kh * s->knp;
        if (kp > INT32_MAX / 2) {
            QB_NODE_ERR(e, g, n, "too large");
            return -1;
        }
        perm = malloc((size_t)kp * sizeof *perm);
        if (!perm) {
            QB_NODE_ERR(e, g, n, "out of memory");
            return -1;
        }
        for (int64_t ky = 0; ky < kh; ky++)
            for (int64_t x = 0; x < s->knp; x++)
                perm[ky * s->knp + x] = x < kn ? (x % cg * kh + ky) * kw + x / cg : -1;
        int rc = qb_qlayer_pack_k(g, n, 0, (int)s->cout, (int)kp, (int)s->kk, perm, wd, bd, &s->packs[0], e);
        free(perm);
        return rc;
    }
    if (s->q_stack) { /* stacked rows: (kx, ky, c) */
        int64_t cg = W->dims[1], kh = s->w.k[1], kw = s->w.k[2];
        perm = malloc((size_t)s->kk * sizeof *perm);
        if (!perm) {
            QB_NODE_ERR(e, g, n, "out of memory");
            return -1;
        }
        for (int64_t kx = 0; kx < kw; kx++)
            for (int64_t ky = 0; ky < kh; ky++)
                for (int64_t c = 0; c < cg; c++)
                    perm[(kx * kh + ky) * cg + c] = (c * kh + ky) * kw + kx;
    } else if ((s->in_nhwc || s->q_first) && !s->pointwise) { /* NHWC im2col order: (kz, ky, kx, c) */
        int64_t cg = W->dims[1], taps = s->kk / cg;
        perm = malloc((size_t)s->kk * sizeof *perm);
        if (!perm) {
            QB_NODE_ERR(e, g, n, "out of memory");
            return -1;
        }
        for (int64_t c = 0; c < cg; c++)
            for (int64_t t = 0; t < taps; t++)
                perm[t * cg + c] = c * taps + t;
    }
    int rc = 0;
    for (int i = 0; i < s->group && !rc; i++)
        rc = qb_qlayer_pack(g, n, (int)(i * cog), (int)cog, (int)s->kk, perm, wd, bd, &s->packs[i], e);
    free(perm);
    return rc;
}

static int conv_pack(qb_graph *g, qb_node *n, conv_state *s, qb_err *e)
{
    const qb_tensor *W = qb_in(g, n, 1), *B = qb_in(g, n, 2);
    const float *wd = W->data, *bd = B ? B->data : NULL;
    char err[200] = "";
    for (int i = 0; i < s->npacks; i++)
        if (s->packs[i].block)
            qb_packed_free(&s->packs[i]);
    if (n->q)
        return conv_pack_quantized(g, n, s, e);
    if (s->dw) {
        qb_weights qw = {.n = (int)s->cout, .k = (int)s->kk, .f32 = wd, .bias_f32 = bd};
        if (qb_pack(g->dw, &qw, &s->packs[0], err, sizeof err))
            goto fail;
        return 0;
    }
    int64_t cog = s->cout / s->group;
    float *perm = NULL;
    if ((s->in_nhwc || s->f_first || s->direct) && !s->pointwise) { /* NHWC im2col order: (kz, ky, kx, c) */
        int64_t cg = W->dims[1], taps = s->kk / cg;
        perm = malloc((size_t)(s->cout * s->kk) * sizeof(float));
        if (!perm) {
            snprintf(err, sizeof err, "out of memory");
            goto fail;
        }
        for (int64_t co = 0; co < s->cout; co++)
            for (int64_t c = 0; c < cg; c++)
                for (int64_t t = 0; t < taps; t++)
                    perm[co * s->kk + t * cg + c] = wd[co * s->kk + c * taps + t];
        wd = perm;
    }
    for (int i = 0; i < s->group; i++) {
        qb_weights qw = {.n = (int)cog, .k = (int)s->kk, .f32 = wd + i * cog * s->kk, .bias_f32 = bd ? bd + i * cog : NULL};
        if (qb_pack(g->gemm, &qw, &s->packs[i], err, sizeof err)) {
            free(perm);
            goto fail;
        }
    }
    free(perm);
    return 0;
fail:
    if (e)
        QB_NODE_ERR(e, g, n, "cannot pack the weights: %s", err);
    return -1;
}

#define QB_DIRECT_MIN_C 8   /* fewest input channels (floats per tap) for the direct path ... */
#define QB_DIRECT_IMAGE_C 3 /* ... but for images of at most this many (first layers) */

/* The direct (tap) path may be used: the GEMM kernel reads A by taps and
 * neither g->no_direct_conv nor QB_NO_DIRECT_CONV turns it off. */
static int conv_direct_allowed(const qb_graph *g)
{
    const char *env = getenv("QB_NO_DIRECT_CONV");
    return g->gemm && (g->gemm->flags & QB_KF_A_TAPS) && !g->no_direct_conv && !(env && *env && strcmp(env, "0"));
}

#define QDIRECT_MIN_ROW 16 /* qdirect: most bytes per window row (kw * C) that keep im2col: first layers' rows
                            * of 1-3 channels are 16-byte copies into A (q_pad), and K read as kh segments of
                            * 3-9 bytes padded to 4-12 cost the kernel more than the copy (det's Conv.0, 3x3/2
                            * of 3 channels: 0.19 -> 0.30 ms). Outputs narrower than QSTACK_MIN_W are direct
                            * only on a kernel that reads rows in runs (qruns): a call per output row of few
                            * rows cost more than im2col (zoo cnn's 14-wide Conv_4: 0.0100 -> 0.0109 ms, its
                            * kernel 0.0083 -> 0.0100) */

/* The padded copy of direct and qdirect (d[2] == 1): dhp x dwp pixels,
 * the image at (pb[1], pb[2]), enough rows and columns for every window;
 * and per window row ky its offset in elements (floats or int8 bytes)
 * from an output pixel's (0, 0) tap: its kw taps (kx, c) lie consecutive
 * in the copy, in the order of A's K. */
static int direct_geometry(qb_graph *g, qb_node *n, conv_state *s, qb_err *e)
{
    const win *w = &s->w;
    int64_t rows = (w->out[1] - 1) * w->s[1] + (w->k[1] - 1) * w->d[1] + 1;
    int64_t cols = (w->out[2] - 1) * w->s[2] + w->k[2];
    s->dhp = rows > w->pb[1] + w->in[1] ? rows : w->pb[1] + w->in[1];
    s->dwp = cols > w->pb[2] + w->in[2] ? cols : w->pb[2] + w->in[2];
    s->taps = malloc((size_t)w->k[1] * sizeof *s->taps);
    if (!s->taps) {
        QB_NODE_ERR(e, g, n, "out of memory");
        return -1;
    }
    for (int64_t ky = 0; ky < w->k[1]; ky++)
        s->taps[ky] = (ptrdiff_t)(ky * w->d[1] * s->dwp * w->c);
    return 0;
}

/* The same for int8 quantized convs (whose kernel, QB_KF_A_TAPS or not,
 * is known once the weights are quantized: conv_pack_quantized). */
static int qconv_direct_allowed(const qb_graph *g)
{
    const char *env = getenv("QB_NO_DIRECT_CONV");
    return !g->no_direct_conv && !(env && *env && strcmp(env, "0"));
}

#define QSTACK_SLOTS 16 /* q_stack: most chunks of output rows (scratch slots) */
#define QSTACK_MIN_W 32 /* q_stack: fewest output columns (one kernel call per output row: narrower rows
                         * under-fill the int8 kernel's row tiles; det's 10- and 20-wide head convs, the
                         * zoo cnn's 14-wide conv were no faster or slower than with im2col) */

/* QB_NO_Q_PLANES=1: int8 convs with NCHW float output dequantize into
 * rows and transpose them (the reference for tests of the planes path). */
static int q_planes_off(void)
{
    const char *env = getenv("QB_NO_Q_PLANES");
    return env && *env && strcmp(env, "0");
}

#define QRUNS_MIN_ROW 128 /* qruns: fewest bytes per window row (kw * C): det's 20- and 10-wide 3x3 convs of 96
                           * channels (rows of 288 bytes) are faster direct (Conv.52 0.039 -> 0.031 ms), the zoo
                           * cnn's 14-wide Conv_4 of 32 (rows of 96) 3% slower end to end than with im2col (its
                           * kernel slower than im2col's copies) */

/* QB_NO_Q_RUNS=1: int8 convs with outputs narrower than QSTACK_MIN_W
 * keep im2col (the reference for tests of qruns). */
static int q_runs_off(void)
{
    const char *env = getenv("QB_NO_Q_RUNS");
    return env && *env && strcmp(env, "0");
}

/* QB_NO_Q_STACK=1: int8 convs keep im2col (the reference for tests of
 * the stacked rows). */
static int q_stack_off(void)
{
    const char *env = getenv("QB_NO_Q_STACK");
    return env && *env && strcmp(env, "0");
}

static int conv_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *x = qb_need_in(g, n, 0, e), *W = x ? qb_need_in(g, n, 1, e) : NULL, *B = qb_in(g, n, 2);
    if (!W)
        return -1;
    if (x->dtype != QB_DT_FLOAT || W->dtype != QB_DT_FLOAT || (B && B->dtype != QB_DT_FLOAT)) {
        QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_TYPE,
                            "inputs must be float32 (Conv runs on the float32 kernels only; got %s)", qb_dtype_name(x->dtype != QB_DT_FLOAT ? x->dtype : W->dtype != QB_DT_FLOAT ? W->dtype : B->dtype));
        return -1;
    }
    conv_state *s = calloc(1, sizeof *s);
    n->state = s;
    n->free_state = conv_free;
    s->group = qb_attr_int(n, "group", 1);
    const int64_t *ksa;
    int nk = qb_attr_ints(n, "kernel_shape", &ksa);
    if (W->ndim != x->ndim || s->group < 1 || x->dims[1] % s->group || W->dims[0] % s->group ||
        W->dims[1] * s->group != x->dims[1] || (nk >= 0 && nk != W->ndim - 2)) {
        char a[128], b[128];
        qb_shape_str(x->ndim, x->dims, a, sizeof a);
        qb_shape_str(W->ndim, W->dims, b, sizeof b);
        QB_NODE_ERR(e, g, n, "input %s, weights %s and group %lld do not match", a, b, (long long)s->group);
        return -1;
    }
    for (int i = 0; nk >= 0 && i < nk; i++)
        if (ksa[i] != W->dims[2 + i]) {
            QB_NODE_ERR(e, g, n, "kernel_shape does not match the weights");
            return -1;
        }
    if (win_setup(g, n, x, W->dims + 2, 0, &s->w, e))
        return -1;
    s->cout = W->dims[0];
    if (B && (B->ndim != 1 || B->dims[0] != s->cout)) {
        QB_NODE_ERR(e, g, n, "bias '%s' must have %lld elements", B->name, (long long)s->cout);
        return -1;
    }
    s->kk = W->dims[1];
    for (int i = 0; i < 3; i++)
        s->kk *= s->w.k[i];
    s->pix = s->w.out[0] * s->w.out[1] * s->w.out[2];
    if (s->kk > INT32_MAX / 2 || s->pix > INT32_MAX / 2) {
        QB_NODE_ERR(e, g, n, "too large");
        return -1;
    }
    const win *w = &s->w;
    s->dw = g->dw && w->nsp <= 2 && s->group == x->dims[1] && s->cout == s->group && s->kk <= QB_DW_MAX_TAPS &&
            w->pb[1] >= 0 && w->pb[2] >= 0;
    s->pointwise = 1;
    for (int i = 0; i < 3; i++)
        s->pointwise &= w->k[i] == 1 && w->s[i] == 1 && w->pb[i] == 0 && w->pe[i] == 0;
    s->npacks = s->dw ? 1 : (int)s->group;
    s->packs = calloc(s->npacks, sizeof *s->packs);
    int64_t dims[QB_MAX_DIMS];
    out_dims(w, s->cout, dims);
    qb_set_out(g, n, 0, QB_DT_FLOAT, x->ndim, dims);
    if (s->dw)
        n->scratch = (size_t)(w->in[1] * w->in[2] + s->pix) * s->cout * sizeof(float);
    else
        n->scratch = (size_t)s->pix * (s->kk + s->cout / s->group) * sizeof(float);
    n->can_clamp = 1;
    /* an int8 layer reading floats: quantize the image once (C x pixels
     * values) rather than A (pixels x K) when that is fewer */
    s->q_first = n->q && qb_precision_is_int8(n->q->prec) && !s->dw && qb_graph_int8_links(g) &&
                 w->c * w->in[0] * w->in[1] * w->in[2] <= s->pix * s->kk * s->group;
    n->nhwc = s->q_first << 4;
    /* an fp32 conv reading NCHW planes of many channels: the NCHW im2col
     * gathers one value per column; transposed once to NHWC, a window row
     * is one copy of kw * C floats */
    int one_group = !n->q && !s->dw && !s->pointwise && s->group == 1 && w->d[2] == 1;
    s->f_first = one_group && w->c >= 4;
    /* and with enough channels per tap, or an image of 1-3 channels (whose
     * NCHW im2col gathered one value per column: 60% of det's first conv),
     * on a kernel that reads A by taps: no im2col at all (the padded copy
     * is 1/taps of A) */
    s->direct = one_group && conv_direct_allowed(g) && (w->c >= QB_DIRECT_MIN_C || w->c <= QB_DIRECT_IMAGE_C) &&
                w->in[0] == 1 && w->k[0] == 1 && w->pb[1] >= 0 && w->pb[2] >= 0;
    if (s->direct) {
        if (direct_geometry(g, n, s, e))
            return -1;
        s->dimg_off = ((size_t)s->pix * s->cout * sizeof(float) + 63) / 64 * 64;
        n->scratch = s->dimg_off + (size_t)(s->dhp * s->dwp * w->c) * sizeof(float);
    } else if (s->f_first) {
        s->fimg_off = (n->scratch + 63) / 64 * 64;
        n->scratch = s->fimg_off + (size_t)(w->c * w->in[0] * w->in[1] * w->in[2]) * sizeof(float);
    }
    s->qdirect = n->q && qb_precision_is_int8(qb_precision_runs_as(n->q->prec)) && !s->dw && !s->pointwise &&
                 s->group == 1 && w->in[0] == 1 && w->k[0] == 1 && w->d[2] == 1 && w->pb[1] >= 0 && w->pb[2] >= 0 &&
                 w->k[2] * w->c > QDIRECT_MIN_ROW &&
                 (w->out[2] >= QSTACK_MIN_W || (w->k[2] * w->c >= QRUNS_MIN_ROW && !q_runs_off())) &&
                 qconv_direct_allowed(g);
    s->qruns = s->qdirect && w->out[2] < QSTACK_MIN_W; /* (the kernel must read rows in runs: conv_pack_quantized) */
    if (s->q_first && !s->pointwise && s->group == 1 && w->in[0] == 1 && w->k[0] == 1 && w->d[2] == 1 &&
        w->pb[1] >= 0 && w->pb[2] >= 0 && w->k[1] <= 64 && !(w->k[2] * w->c <= 16) && w->out[2] >= QSTACK_MIN_W &&
        !q_stack_off()) {
        s->q_stack = 1; /* (q_pad's first layers, kw * C <= 16, keep their padded im2col) */
        s->sw_cols = (w->out[2] - 1) * w->s[2] + w->k[2];
    }
    if (W->kind == QB_T_CONST && (!B || B->kind == QB_T_CONST)) {
        if (conv_pack(g, n, s, e))
            return -1;
        s->packed_ok = 1;
    } else if (n->q) {
        QB_NODE_ERR(e, g, n, "a quantized Conv needs constant weights and bias");
        return -1;
    }
    if (s->qdirect) { /* (the kernel has the flag: conv_pack_quantized) */
        if (direct_geometry(g, n, s, e))
            return -1;
        s->q_stack = s->q_pad = 0;
        n->nhwc |= 1 << 4; /* a float input quantized once (into the padded copy) */
        /* the float NHWC rows of an NCHW output transposed after (epilogue), the padded copy (a segment's
         * last knp - kw * C bytes read past a window row: 64 more), then the slots (int8 output rows) */
        s->qimg_off = ((size_t)s->pix * s->cout * sizeof(float) + 63) / 64 * 64;
        s->stack_slot = ((size_t)(w->out[2] * s->cout) + 64 + 63) / 64 * 64;
        s->stack_off = (s->qimg_off + (size_t)(s->dhp * s->dwp * w->c) + 64 + 63) / 64 * 64;
        n->scratch = s->stack_off + (s->qruns ? (size_t)(s->pix * s->cout) + 128 * (QSTACK_SLOTS + 1) /* a chunk's
                                                                         * rows at its first row's place, 128 apart */
                                              : (size_t)QSTACK_SLOTS * s->stack_slot);
    } else if (n->q) { /* the quantized copies of the activations follow the float buffers */
        s->qscratch_off = (n->scratch + 63) / 64 * 64;
        n->scratch = s->qscratch_off + (s->dw ? qb_qlayer_dw_scratch(w->in[1] * w->in[2], s->pix, s->cout)
                                               : qb_qlayer_scratch(n, s->pix, s->kk, s->cout / s->group));
        if (s->q_first) {
            size_t img = (size_t)(w->c * w->in[0] * w->in[1] * w->in[2]);
            s->q_pad = !s->pointwise && s->group == 1 && w->in[0] == 1 && w->k[0] == 1 && w->d[2] == 1 && w->pb[1] >= 0 &&
                       w->pb[2] >= 0 && w->k[2] * w->c <= 16;
            s->q_wpad = !s->q_pad && !s->q_stack && !s->pointwise && s->group == 1 && w->in[0] == 1 && w->k[0] == 1 &&
                        w->d[2] == 1 && w->pb[1] >= 0 && w->pb[2] >= 0 && w->k[1] <= 64;
            if (s->q_pad || s->q_wpad) { /* every row and column a window reads */
                int64_t rows = (w->out[1] - 1) * w->s[1] + (w->k[1] - 1) * w->d[1] + 1;
                int64_t cols = (w->out[2] - 1) * w->s[2] + w->k[2];
                s->hp = rows > w->pb[1] + w->in[1] ? rows : w->pb[1] + w->in[1];
                s->wp = cols > w->pb[2] + w->in[2] ? cols : w->pb[2] + w->in[2];
                img = (size_t)(s->hp * s->wp * w->c) + 32; /* 32: the last window row's 16-byte (im2col_padded_i8)
                                                            * or 32-byte (im2col_padded_vbmi) load */
                if (s->q_pad)
                    s->q_pg = pad_groups(w, s->kk, s->q_pidx);
            }
            s->qimg_off = (n->scratch + 63) / 64 * 64;
            n->scratch = s->qimg_off + img + 64;
        }
        if (s->q_stack) { /* one slot per chunk of output rows: a stacked row, then an int8 output row */
            size_t row = (size_t)(s->sw_cols * w->k[1] * w->c) + 64;
            s->stack_slot = (row + (size_t)(w->out[2] * s->cout) + 64 + 63) / 64 * 64;
            s->stack_off = (n->scratch + 63) / 64 * 64;
            n->scratch = s->stack_off + (size_t)QSTACK_SLOTS * s->stack_slot;
        }
    }
    return 0;
}

#define PBLK 64 /* pixels per block: the rows of A being written stay in L1 */

/* A[p][(c, kz, ky, kx)] for the output pixels of output rows [r0, r1)
 * (row r = oz * out_h + oy) of one image and group, filled one block of
 * output columns at a time so that reads of x run along rows and the
 * written rows of A stay in cache. */
static void im2col(const float *x, const win *w, int64_t c0, int64_t cg, float *A, int64_t K, int64_t r0, int64_t r1,
                   int64_t pbase)
{
    int64_t ihw = w->in[1] * w->in[2], ivol = w->in[0] * ihw;
    int64_t p = r0 * w->out[2] - pbase;
    for (int64_t r = r0; r < r1; r++) {
        int64_t oz = r / w->out[1], oy = r % w->out[1];
        for (int64_t ox0 = 0; ox0 < w->out[2]; ox0 += PBLK) {
            int64_t nb = w->out[2] - ox0 < PBLK ? w->out[2] - ox0 : PBLK;
            float *blk = A + p * K;
            int64_t col = 0;
            for (int64_t c = 0; c < cg; c++) {
                const float *xc = x + (c0 + c) * ivol;
                for (int64_t kz = 0; kz < w->k[0]; kz++) {
                    int64_t iz = oz * w->s[0] - w->pb[0] + kz * w->d[0];
                    for (int64_t ky = 0; ky < w->k[1]; ky++) {
                        int64_t iy = oy * w->s[1] - w->pb[1] + ky * w->d[1];
                        int inside = iz >= 0 && iz < w->in[0] && iy >= 0 && iy < w->in[1];
                        const float *xr = xc + iz * ihw + iy * w->in[2];
                        for (int64_t kx = 0; kx < w->k[2]; kx++, col++) {
                            int64_t ix = ox0 * w->s[2] - w->pb[2] + kx * w->d[2], sx = w->s[2];
                            float *dst = blk + col;
                            if (!inside) {
                                for (int64_t j = 0; j < nb; j++)
                                    dst[j * K] = 0.0f;
                                continue;
                            }
                            for (int64_t j = 0; j < nb; j++, ix += sx)
                                dst[j * K] = ix >= 0 && ix < w->in[2] ? xr[ix] : 0.0f;
                        }
                    }
                }
            }
            p += nb;
        }
    }
}

#if defined(__SSE2__)
/* One 4x4 block: dst[c][r] = src[r][c]. */
static inline void tr4x4(float *dst, size_t ldd, const float *src, size_t lds)
{
    __m128 r0 = _mm_loadu_ps(src), r1 = _mm_loadu_ps(src + lds), r2 = _mm_loadu_ps(src + 2 * lds),
           r3 = _mm_loadu_ps(src + 3 * lds);
    _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
    _mm_storeu_ps(dst, r0);
    _mm_storeu_ps(dst + ldd, r1);
    _mm_storeu_ps(dst + 2 * ldd, r2);
    _mm_storeu_ps(dst + 3 * ldd, r3);
}
#endif

/* Rows [r0, r1) and columns [c0, c1) of qb_transpose_f32 (4x4 SSE
 * blocks inside where available). */
static void transpose_block(float *dst, size_t ldd, const float *src, size_t lds, int64_t r0, int64_t r1, int64_t c0,
                            int64_t c1)
{
    int64_t cv = c0;
#if defined(__SSE2__)
    int64_t rv = r0 + (r1 - r0) / 4 * 4;
    cv = c0 + (c1 - c0) / 4 * 4;
    for (int64_t c = c0; c < cv; c += 4)
        for (int64_t r = r0; r < rv; r += 4)
            tr4x4(dst + c * ldd + r, ldd, src + r * lds + c, lds);
    for (int64_t c = c0; c < cv; c++) /* rows left over */
        for (int64_t r = rv; r < r1; r++)
            dst[c * ldd + r] = src[r * lds + c];
#endif
    for (int64_t c = cv; c < c1; c++) /* columns left over (all of them without SSE) */
        for (int64_t r = r0; r < r1; r++)
            dst[c * ldd + r] = src[r * lds + c];
}

static int transpose_avx512_off; /* qb_transpose_avx512(0): the SSE blocks only (tests) */

void qb_transpose_avx512(int on) { transpose_avx512_off = !on; }

#ifdef QB_CONV_AVX512

/* One 16x16 block, dst[c][r] = src[r][c] (qb_transpose16_f32,
 * q16_avx512.h: copies only). */
__attribute__((target("avx512f"))) static inline void tr16x16(float *dst, size_t ldd, const float *src, size_t lds)
{
    __m512 r[16];
    _Pragma("GCC unroll 16") for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_ps(src + (size_t)i * lds);
    qb_transpose16_f32(r);
    _Pragma("GCC unroll 16") for (int i = 0; i < 16; i++) _mm512_storeu_ps(dst + (size_t)i * ldd, r[i]);
}

/* qb_transpose_f32 by 16x16 blocks, the edges by transpose_block. */
__attribute__((target("avx512f"))) static void transpose_f32_avx512(float *dst, size_t ldd, const float *src,
                                                                   size_t lds, int64_t rows, int64_t cols)
{
    for (int64_t r0 = 0; r0 < rows; r0 += PBLK)
        for (int64_t c0 = 0; c0 < cols; c0 += PBLK) {
            int64_t r1 = r0 + PBLK < rows ? r0 + PBLK : rows, c1 = c0 + PBLK < cols ? c0 + PBLK : cols;
            int64_t rv = r0 + (r1 - r0) / 16 * 16, cv = c0 + (c1 - c0) / 16 * 16;
            for (int64_t c = c0; c < cv; c += 16)
                for (int64_t r = r0; r < rv; r += 16)
                    tr16x16(dst + c * ldd + r, ldd, src + r * lds + c, lds);
            if (rv < r1)
                transpose_block(dst, ldd, src, lds, rv, r1, c0, cv);
            if (cv < c1)
                transpose_block(dst, ldd, src, lds, r0, r1, cv, c1);
        }
}
#endif

/* dst[c][r] = src[r][c] for a [rows x cols] matrix src with leading
 * dimension lds, into dst with leading dimension ldd, in cache blocks of
 * PBLK x PBLK: 16x16 AVX-512 blocks inside where AVX-512F runs and the
 * ISA cap allows it (QB_FORCE_ISA unset or vnni), else 4x4 SSE blocks
 * (copies either way: the same values). */
void qb_transpose_f32(float *dst, size_t ldd, const float *src, size_t lds, int64_t rows, int64_t cols)
{
#ifdef QB_CONV_AVX512
    static int ok = -1;
    if (ok < 0)
        ok = qb_avx512_allowed(QB_CPU_AVX512F);
    if (ok && !transpose_avx512_off && rows >= 16 && cols >= 16) {
        transpose_f32_avx512(dst, ldd, src, lds, rows, cols);
        return;
    }
#endif
    for (int64_t r0 = 0; r0 < rows; r0 += PBLK)
        for (int64_t c0 = 0; c0 < cols; c0 += PBLK)
            transpose_block(dst, ldd, src, lds, r0, r0 + PBLK < rows ? r0 + PBLK : rows, c0,
                            c0 + PBLK < cols ? c0 + PBLK : cols);
}

/* n bytes from src to dst (not overlapping): short copies as two
 * overlapping loads and stores, no library call (im2col copies a few
 * channels per tap on first layers). */
static inline void copy_bytes(char *dst, const char *src, size_t n)
{
    if (n > 64) {
        memcpy(dst, src, n);
    } else if (n > 16) { /* 16-byte pieces, the last one overlapping: no call for short rows */
        size_t i = 0;
        for (; i + 16 < n; i += 16) {
            uint64_t a, b;
            memcpy(&a, src + i, 8), memcpy(&b, src + i + 8, 8);
            memcpy(dst + i, &a, 8), memcpy(dst + i + 8, &b, 8);
        }
        uint64_t a, b;
        memcpy(&a, src + n - 16, 8), memcpy(&b, src + n - 8, 8);
        memcpy(dst + n - 16, &a, 8), memcpy(dst + n - 8, &b, 8);
    } else if (n >= 8) {
        uint64_t a, b;
        memcpy(&a, src, 8), memcpy(&b, src + n - 8, 8);
        memcpy(dst, &a, 8), memcpy(dst + n - 8, &b, 8);
    } else if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, src, 4), memcpy(&b, src + n - 4, 4);
        memcpy(dst, &a, 4), memcpy(dst + n - 4, &b, 4);
    } else {
        for (size_t i = 0; i < n; i++)
            dst[i] = src[i];
    }
}

/* im2col from an NHWC image, output rows [r0, r1) (row r = oz * out_h +
 * oy) as in im2col: row p, columns (kz, ky, kx, c) with the
 * group's channels contiguous, so each tap is one copy of cg elements of
 * es bytes (float, or int8 for a quantized int8 link); padding is the
 * byte pad repeated (0 for float zeros, the zero point for int8). With
 * all channels (no groups) and no dilation along x, a window row inside
 * the image is one copy of kw * C elements. */
#define IM2COL_ROWS 64 /* window rows (kz, ky) whose source rows im2col_nhwc looks up once per output row */

#ifdef QB_CONV_AVX512
static int im2col_avx512_off; /* qb_conv_im2col_avx512(0): the plain copies only (tests) */

/* AVX-512F/BW usable (checked once; QB_FORCE_ISA avx2/scalar: no) and not turned off. */
static int im2col_avx512(void)
{
    static int ok = -1;
    if (ok < 0)
        ok = qb_avx512_allowed(QB_CPU_AVX512F | QB_CPU_AVX512BW);
    return ok && !im2col_avx512_off;
}

/* The low n (< 64) bits set. */
static inline __mmask64 qb_conv_mask64(size_t n) { return (__mmask64)((1ull << n) - 1); }

/* win_rows_avx512's pixels whose window rows all lie inside the image,
 * rows of n32 * 32 bytes: n32 32-byte copies each (inlined with n32 a
 * constant: the copies unrolled). */
__attribute__((target("avx512f,avx512bw"), always_inline)) static inline void
win_rows_32(char *row, size_t lda, const char *const *src, int64_t nrows, size_t off, size_t step, int64_t npx,
            size_t n32)
{
    for (int64_t i = 0; i < npx; i++, row += lda, off += step) {
        char *d = row;
        for (int64_t t = 0; t < nrows; t++) {
            const char *s = src[t] + off;
            for (size_t b = 0; b < n32; b++, d += 32)
                _mm256_storeu_si256((__m256i *)d, _mm256_loadu_si256((const __m256i *)(s + 32 * b)));
        }
    }
}

/* npx pixels of im2col_nhwc whose windows lie inside the image along x:
 * pixel i's window rows, wb bytes each, from src[t] + off + i * step (pad
 * bytes where src[t] is NULL) to row + i * lda + t * wb, 64 bytes a step
 * and a tail (rows of 64+ bytes: the row's last 64 bytes, overlapping;
 * shorter ones masked): the bytes of copy_bytes without a call per row. */
__attribute__((target("avx512f,avx512bw"))) static void win_rows_avx512(char *row, size_t lda, const char *const *src,
                                                                       int64_t nrows, size_t off, size_t step,
                                                                       int64_t npx, size_t wb, int pad)
{
    const __mmask64 tail = wb % 64 ? (__mmask64)((1ull << (wb % 64)) - 1) : 0;
    const size_t full = wb / 64 * 64;
    const __m512i pv = _mm512_set1_epi8((char)pad);
    int inside = 1; /* every window row inside the image (no pad rows) */
    for (int64_t t = 0; t < nrows; t++)
        inside &= src[t] != NULL;
    if (inside && wb % 32 == 0 && ((uintptr_t)row | lda) % 32 == 0) {
        /* 32-byte copies to 32-byte aligned rows: no store crosses a cache line (a 64-byte
         * store at a 32-byte offset writes two), no test per row (zoo cnn's Conv_4, rows of
         * 96 bytes: 3 stores instead of 2 line-crossing ones) */
        if (wb == 96) /* (a constant: the three copies unrolled) */
            win_rows_32(row, lda, src, nrows, off, step, npx, 3);
        else
            win_rows_32(row, lda, src, nrows, off, step, npx, wb / 32);
        return;
    }
    for (int64_t i = 0; i < npx; i++, row += lda, off += step) {
        char *d = row;
        for (int64_t t = 0; t < nrows; t++, d += wb) {
            const char *s = src[t] ? src[t] + off : NULL;
            for (size_t b = 0; b < full; b += 64)
                _mm512_storeu_si512((void *)(d + b), s ? _mm512_loadu_si512((const void *)(s + b)) : pv);
            if (tail && full) /* the last 64 bytes again, overlapping: no masked store */
                _mm512_storeu_si512((void *)(d + wb - 64), s ? _mm512_loadu_si512((const void *)(s + wb - 64)) : pv);
            else if (tail)
                _mm512_mask_storeu_epi8(d + full, tail, s ? _mm512_maskz_loadu_epi8(tail, s + full) : pv);
        }
    }
}
#endif

#ifdef QB_CONV_AVX512
/* q_wpad: the int8 NHWC image x (h x w pixels of C bytes) into the
 * padded copy P (hp x wp pixels, the image at (pt, pl), zp elsewhere),
 * 64 bytes a step: each row filled with zp, then its image pixels copied
 * over it (no library call per row). */
__attribute__((target("avx512f,avx512bw"))) static void pad_image_avx512(int8_t *P, const int8_t *x, int64_t C,
                                                                        int64_t h, int64_t w, int64_t pt,
                                                                        int64_t pl, int64_t hp, int64_t wp,
                                                                        int8_t zp)
{
    const __m512i pv = _mm512_set1_epi8((char)zp);
    const size_t rb = (size_t)(wp * C), ib = (size_t)(w * C);
    for (int64_t r = 0; r < hp; r++) {
        int8_t *d = P + (size_t)r * rb;
        size_t b = 0;
        for (; b + 64 <= rb; b += 64)
            _mm512_storeu_si512((void *)(d + b), pv);
        if (b < rb)
            _mm512_mask_storeu_epi8(d + b, qb_conv_mask64(rb - b), pv);
        int64_t iy = r - pt;
        if (iy < 0 || iy >= h)
            continue;
        const int8_t *src = x + (size_t)iy * ib;
        d += pl * C;
        for (b = 0; b + 64 <= ib; b += 64)
            _mm512_storeu_si512((void *)(d + b), _mm512_loadu_si512((const void *)(src + b)));
        if (b < ib) {
            __mmask64 m = qb_conv_mask64(ib - b);
            _mm512_mask_storeu_epi8(d + b, m, _mm512_maskz_loadu_epi8(m, src + b));
        }
    }
}
#endif

/* q_wpad applies now: the AVX-512 im2col (whose whole-row copies it
 * feeds) is allowed and on. */
static int q_wpad_on(const conv_state *s)
{
#ifdef QB_CONV_AVX512
    return s->q_wpad && im2col_avx512();
#else
    (void)s;
    return 0;
#endif
}

void qb_conv_im2col_avx512(int on)
{
#ifdef QB_CONV_AVX512
    im2col_avx512_off = !on;
#else
    (void)on;
#endif
}

static void im2col_nhwc(const void *xv, const win *w, int64_t c0, int64_t cg, void *Av, int64_t K, size_t es,
                        int pad, int64_t r0, int64_t r1, int64_t pbase)
{
    const char *x = xv;
    char *A = Av;
    int64_t C = w->c, p = r0 * w->out[2] - pbase, nrows = w->k[0] * w->k[1];
    size_t row_bytes = (size_t)cg * es, pix_bytes = (size_t)C * es, win_bytes = row_bytes * (size_t)w->k[2];
    int whole = cg == C && w->d[2] == 1; /* the kw taps of a window row are contiguous in x */
    const char *src[IM2COL_ROWS];        /* per window row: its image row (at channel c0), NULL if outside */
    for (int64_t r = r0; r < r1; r++) {
        int64_t oz = r / w->out[1], oy = r % w->out[1];
        for (int64_t kz = 0, t = 0; kz < w->k[0] && nrows <= IM2COL_ROWS; kz++) { /* t = kz * kh + ky */
            int64_t iz = oz * w->s[0] - w->pb[0] + kz * w->d[0];
            for (int64_t ky = 0; ky < w->k[1]; ky++, t++) {
                int64_t iy = oy * w->s[1] - w->pb[1] + ky * w->d[1];
                src[t] = iz >= 0 && iz < w->in[0] && iy >= 0 && iy < w->in[1]
                             ? x + (size_t)((iz * w->in[1] + iy) * w->in[2] * C + c0) * es
                             : NULL;
            }
        }
        for (int64_t ox = 0; ox < w->out[2]; ox++, p++) {
            char *row = A + (size_t)(p * K) * es;
            int64_t ix0 = ox * w->s[2] - w->pb[2];
#ifdef QB_CONV_AVX512
            if (nrows <= IM2COL_ROWS && whole && ix0 >= 0 && ix0 + w->k[2] <= w->in[2] && im2col_avx512()) {
                /* this pixel and the next ones inside the image along x: the largest n with
                 * ix0 + (n - 1) * s + kw <= in (a count, not a loop over them) */
                int64_t n = (w->in[2] - w->k[2] - ix0) / w->s[2] + 1;
                n = n < w->out[2] - ox ? n : w->out[2] - ox;
                win_rows_avx512(row, (size_t)K * es, src, nrows, (size_t)ix0 * pix_bytes,
                                (size_t)w->s[2] * pix_bytes, n, win_bytes, pad);
                ox += n - 1, p += n - 1;
                continue;
            }
#endif
            if (nrows <= IM2COL_ROWS && whole && ix0 >= 0 && ix0 + w->k[2] <= w->in[2]) {
                for (int64_t t = 0; t < nrows; t++, row += win_bytes)
                    if (src[t])
                        copy_bytes(row, src[t] + (size_t)ix0 * pix_bytes, win_bytes);
                    else
                        memset(row, pad, win_bytes);
                continue;
            }
            for (int64_t kz = 0; kz < w->k[0]; kz++) {
                int64_t iz = oz * w->s[0] - w->pb[0] + kz * w->d[0];
                for (int64_t ky = 0; ky < w->k[1]; ky++) {
                    int64_t iy = oy * w->s[1] - w->pb[1] + ky * w->d[1];
                    int yz_inside = iz >= 0 && iz < w->in[0] && iy >= 0 && iy < w->in[1];
                    for (int64_t kx = 0; kx < w->k[2]; kx++, row += row_bytes) {
                        int64_t ix = ix0 + kx * w->d[2];
                        if (!yz_inside || ix < 0 || ix >= w->in[2])
                            memset(row, pad, row_bytes);
                        else
                            copy_bytes(row, x + (size_t)(((iz * w->in[1] + iy) * w->in[2] + ix) * C + c0) * es,
                                       row_bytes);
                    }
                }
            }
        }
    }
}

/* im2col of output rows [r0, r1) of a 2-D conv from the padded int8
 * image of im2col_padded_job (q_pad): row p, columns (ky, kx, c), each
 * window row kw * C <= 16 contiguous bytes of the padded image. A window
 * row is one 16-byte load and store; the bytes past it are overwritten
 * by the next stores (the same row of A, or the following rows, which
 * later pixels write whole). Pixels whose last store would reach past
 * the range's rows copy exactly, so nothing outside [r0, r1)'s rows of A
 * is written (threads write disjoint rows). */
static void im2col_padded_i8(const int8_t *P, int64_t wp, const win *w, int8_t *A, int64_t K, int64_t r0, int64_t r1,
                             int64_t pbase)
{
    const int64_t C = w->c, kh = w->k[1], ow = w->out[2];
    const size_t wb = (size_t)(w->k[2] * C), step = (size_t)(w->s[2] * C), dy = (size_t)(w->d[1] * wp * C);
    /* a pixel stores 16 bytes past its last window row's start: it may
     * do so while that stays inside the range's rows of A */
    const int8_t *end = A + (size_t)((r1 * ow - pbase) * K);
    for (int64_t oy = r0; oy < r1; oy++) {
        const int8_t *src = P + (size_t)(oy * w->s[1] * wp * C);
        int8_t *row = A + (size_t)((oy * ow - pbase) * K);
        for (int64_t ox = 0; ox < ow; ox++, src += step, row += K) {
            const int8_t *s = src;
            int8_t *d = row;
            if (row + (kh - 1) * wb + 16 > end) {
                for (int64_t ky = 0; ky < kh; ky++, s += dy, d += wb)
                    copy_bytes((char *)d, (const char *)s, wb);
                continue;
            }
            for (int64_t ky = 0; ky < kh; ky++, s += dy, d += wb) {
#if defined(__SSE2__)
                _mm_storeu_si128((__m128i *)(void *)d, _mm_loadu_si128((const __m128i *)(const void *)s));
#else
                memcpy(d, s, 16);
#endif
            }
        }
    }
}

/* im2col_padded_vbmi's groups for a conv (q_pad, A rows of K bytes):
 * pixels per group (0 if the path does not apply: more than 4 window
 * rows, or fewer than 2 pixels fit) and idx[o], for byte o of the
 * group's G rows of A, the byte of the window rows loaded side by side
 * (row ky at 32 * ky) it copies. */
static int pad_groups(const win *w, int64_t K, uint8_t idx[192])
{
    const int64_t wb = w->k[2] * w->c, step = w->s[2] * w->c, kh = w->k[1];
    if (kh > 4 || wb > 32 || step < 1 || K != kh * wb)
        return 0;
    int64_t G = (32 - wb) / step + 1;
    G = G > 16 ? 16 : G;
    while (G * K > 192)
        G--;
    if (G < 2)
        return 0;
    memset(idx, 0, 192);
    for (int64_t o = 0; o < G * K; o++) {
        int64_t i = o / K, r = o % K;
        idx[o] = (uint8_t)(r / wb * 32 + i * step + r % wb);
    }
    return (int)G;
}

#ifdef QB_CONV_AVX512
/* VBMI usable (with AVX-512BW/VL; checked once) and im2col's AVX-512 on. */
static int im2col_vbmi(void)
{
    static int ok = -1;
    if (ok < 0)
        ok = qb_avx512_allowed(QB_CPU_AVX512F | QB_CPU_AVX512BW | QB_CPU_AVX512VL | QB_CPU_AVX512VBMI);
    return ok && im2col_avx512();
}

/* im2col_padded_i8's bytes, G pixels (pad_groups) a step: their kh
 * window rows' spans loaded into two registers, 32 bytes a row (whole
 * loads: the copy has 32 bytes to spare after it), and A's rows for the G pixels
 * (G * K <= 192 bytes) made by byte permutes (vpermt2b through idx) and
 * stored, the last piece masked: nothing outside the rows of [r0, r1). */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vbmi"))) static void
im2col_padded_vbmi(const int8_t *P, int64_t wp, const win *w, int8_t *A, int64_t K, int64_t r0, int64_t r1,
                   int64_t pbase, const uint8_t *idx, int G)
{
    const int64_t C = w->c, kh = w->k[1], ow = w->out[2], step = w->s[2] * C;
    const size_t dy = (size_t)(w->d[1] * wp * C);
    const __m512i i0 = _mm512_loadu_si512((const void *)idx), i1 = _mm512_loadu_si512((const void *)(idx + 64)),
                  i2 = _mm512_loadu_si512((const void *)(idx + 128));
    for (int64_t oy = r0; oy < r1; oy++) {
        const int8_t *src = P + (size_t)(oy * w->s[1] * wp * C);
        int8_t *row = A + (size_t)((oy * ow - pbase) * K);
        for (int64_t ox = 0; ox < ow; ox += G) {
            int64_t n = ow - ox < G ? ow - ox : G;
            const int8_t *s = src + ox * step;
            __m256i r[4];
            /* whole 32-byte loads (a masked one costs about two here): the bytes past the group's span are
             * never picked for a stored row of A, and stay inside the copy (32 bytes after it, q_pad) */
#pragma GCC unroll 4
            for (int ky = 0; ky < 4; ky++) /* unrolled: r stays in registers (a loop kept it on the stack) */
                r[ky] = ky < kh ? _mm256_loadu_si256((const __m256i *)(const void *)(s + ky * dy))
                                : _mm256_setzero_si256();
            __m512i lo = _mm512_inserti64x4(_mm512_castsi256_si512(r[0]), r[1], 1);
            __m512i hi = _mm512_inserti64x4(_mm512_castsi256_si512(r[2]), r[3], 1);
            int8_t *d = row + ox * K;
            int64_t nb = n * K;
            for (int64_t c = 0; c < nb; c += 64) {
                __m512i v = _mm512_permutex2var_epi8(lo, c == 0 ? i0 : c == 64 ? i1 : i2, hi);
                if (nb - c >= 64)
                    _mm512_storeu_si512((void *)(d + c), v);
                else
                    _mm512_mask_storeu_epi8(d + c, (__mmask64)((1ull << (nb - c)) - 1), v);
            }
        }
    }
}
#endif

/* ---- the same in parallel: disjoint pieces of the output ---- */

typedef struct im2col_padded_job {
    const int8_t *P; /* padded int8 image */
    int64_t wp;      /* its columns */
    const win *w;    /* geometry */
    int8_t *A;       /* [pixels x K] */
    int64_t K;       /* columns of A */
    int64_t pbase;   /* the output pixel of A's first row */
    const uint8_t *idx; /* im2col_padded_vbmi's indices (pad_groups) */
    int G;           /* its pixels per group, 0: im2col_padded_i8 */
} im2col_padded_job;


typedef struct im2col_job {
    const void *x;  /* image (NCHW float, or NHWC float/int8) */
    const win *w;   /* geometry */
    int64_t c0, cg; /* the group's first channel and channel count */
    void *A;        /* [pixels x K] */
    int64_t K;      /* columns of A */
    size_t es;      /* NHWC: element bytes */
    int pad;        /* NHWC: padding byte */
    int nhwc;       /* x is NHWC */
    int64_t pbase;  /* the output pixel of A's first row */
} im2col_job;

static void im2col_body(void *ctx, int64_t r0, int64_t r1)
{
    const im2col_job *j = ctx;
    if (j->nhwc)
        im2col_nhwc(j->x, j->w, j->c0, j->cg, j->A, j->K, j->es, j->pad, r0, r1, j->pbase);
    else
        im2col(j->x, j->w, j->c0, j->cg, j->A, j->K, r0, r1, j->pbase);
}

/* im2col_body on rows counted from the job's first row. */
static void im2col_rows_from(void *ctx, int64_t i0, int64_t i1)
{
    const im2col_job *j = ctx;
    int64_t r0 = j->pbase / j->w->out[2];
    im2col_body(ctx, r0 + i0, r0 + i1);
}

/* im2col (nhwc = 0) or im2col_nhwc of output rows [r0, r1) into A (its
 * first row: that of output row r0), split over output rows. */
static void im2col_par(const void *x, const win *w, int64_t c0, int64_t cg, void *A, int64_t K, size_t es, int pad,
                       int nhwc, int64_t r0, int64_t r1)
{
    im2col_job j = {x, w, c0, cg, A, K, es, pad, nhwc, r0 * w->out[2]};
    int64_t rows = r1 - r0;
    qb_gpar_for(rows, qb_gpar_chunk(rows, w->out[2] * K, 1), im2col_rows_from, &j);
}

typedef struct transpose_job {
    float *dst;          /* destination */
    size_t ldd;          /* its leading dimension */
    const float *src;    /* source [rows x cols] */
    size_t lds;          /* its leading dimension */
    int64_t rows, cols;  /* source shape */
    int by_cols;         /* pieces are column ranges of src (else row ranges) */
} transpose_job;

static void transpose_body(void *ctx, int64_t i0, int64_t i1)
{
    const transpose_job *j = ctx;
    if (j->by_cols)
        qb_transpose_f32(j->dst + i0 * j->ldd, j->ldd, j->src + i0, j->lds, j->rows, i1 - i0);
    else
        qb_transpose_f32(j->dst + i0, j->ldd, j->src + i0 * j->lds, j->lds, i1 - i0, j->cols);
}

/* transpose split over the longer side of src (pieces of 16 floats: whole
 * cache lines of the destination's rows when splitting src rows). */
static void transpose_par(float *dst, size_t ldd, const float *src, size_t lds, int64_t rows, int64_t cols)
{
    transpose_job j = {dst, ldd, src, lds, rows, cols, cols >= rows};
    int64_t n = j.by_cols ? cols : rows, other = j.by_cols ? rows : cols;
    qb_gpar_for(n, qb_gpar_chunk(n, other, 16), transpose_body, &j);
}

int qb_conv_nhwc_input_fast(const qb_node *n)
{
    const conv_state *s = n->state;
    return s->dw || s->w.c / s->group > 1;
}

int qb_conv_is_depthwise(const qb_node *n)
{
    const conv_state *s = n->state;
    return s && s->dw;
}

int qb_conv_set_layout(qb_graph *g, qb_node *n, int nhwc, qb_err *e)
{
    conv_state *s = n->state;
    int in = nhwc & 1;
    s->out_nhwc = (nhwc >> 1) & 1;
    s->in_i8 = (nhwc >> 2) & 1;
    s->out_i8 = (nhwc >> 3) & 1;
    n->nhwc = nhwc | ((s->q_first || s->qdirect) && !s->in_i8) << 4;
    if (in != s->in_nhwc) { /* the weights' column order follows the im2col order */
        int repack = !s->q_first && !s->f_first && !s->direct && !s->qdirect && s->packed_ok && !s->dw && !s->pointwise;
        s->in_nhwc = in;
        if (repack)
            return conv_pack(g, n, s, e);
    }
    return 0;
}

int qb_conv_set_epilogue(qb_graph *g, qb_node *n, int chain, int chain_nhwc, int chain_i8, qb_err *e)
{
    (void)e;
    conv_state *s = n->state;
    /* fp32 convs, and int8 quantized ones (qlayer.c runs the chain on the
     * floats it dequantized or, for an int8 chain, on the int8 codes the
     * kernel wrote); one group or the depthwise kernel: every path then
     * has whole NHWC pixels of all channels in a buffer before its output
     * is written or transposed */
    if (!s || (s->group != 1 && !s->dw) || chain_nhwc != s->out_nhwc)
        return 0;
    if (n->q ? !qb_precision_is_int8(n->q->run_prec) || chain_i8 != s->out_i8
             : s->in_i8 || s->out_i8 || chain_i8)
        return 0;
    s->epi = &g->nodes[chain];
    return 1;
}

/* Profile: time spent in epilogues of the node being run, in ns (summed
 * over threads), taken out of its kernel time. */
static int64_t epi_ns;

/* The conv's epilogue chain (if any) in place on pixels x Cout floats. */
static void run_epilogue(const qb_graph *g, const conv_state *s, float *y, int64_t pixels)
{
    if (!s->epi)
        return;
    double t0 = g->profile ? qb_now_ms() : 0;
    qb_elem_chain_apply_nhwc(s->epi, y, pixels);
    if (g->profile)
        __atomic_fetch_add(&epi_ns, (int64_t)((qb_now_ms() - t0) * 1e6), __ATOMIC_RELAXED);
}

/* Kernel time of a region that ran epilogues: the region less them. */
static void add_kernel_time(qb_graph *g, double t0)
{
    if (!g->profile)
        return;
    double k = qb_now_ms() - t0 - (double)__atomic_exchange_n(&epi_ns, 0, __ATOMIC_RELAXED) * 1e-6;
    g->kernel_ms_acc += k > 0 ? k : 0;
}


typedef struct gemm_epi_job {
    const qb_graph *g;     /* profile flag */
    const conv_state *s;   /* its epilogue */
    const qb_packed *p;    /* the pack */
    const qb_gemm_args *a; /* the whole call (ldc = Cout: rows are whole pixels) */
    int64_t sub;           /* rows per kernel call (a multiple of QB_GPAR_ALIGN) */
} gemm_epi_job;

/* Rows [i0, i1): kernel calls of sub rows, each followed by the epilogue. */
static void gemm_epi_rows(void *ctx, int64_t i0, int64_t i1)
{
    const gemm_epi_job *j = ctx;
    for (int64_t r = i0; r < i1; r += j->sub) {
        int64_t r1 = r + j->sub < i1 ? r + j->sub : i1;
        qb_gemm_args b;
        qb_gpar_gemm_rows(j->p, j->a, r, r1, &b);
        j->p->kernel->run.gemm(j->p, &b);
        run_epilogue(j->g, j->s, b.c, r1 - r);
    }
}

/* The GEMM of a block of output pixels, then its epilogue: calls of
 * QB_GPAR_ALIGN-multiple rows (the row tiles of one call over all rows:
 * the same bits) of about QB_EPI_BYTES of output each, so the chain reads
 * what the kernel just wrote from cache. Kernel time to the profile. */
static void gemm_with_epilogue(qb_graph *g, const conv_state *s, const qb_packed *p, const qb_gemm_args *a)
{
    double t0 = g->profile ? qb_now_ms() : 0;
    int64_t row_bytes = (int64_t)a->ldc * (int64_t)sizeof(float);
    int64_t sub = QB_EPI_BYTES / row_bytes / QB_GPAR_ALIGN * QB_GPAR_ALIGN;
    if (sub < QB_GPAR_ALIGN)
        sub = QB_GPAR_ALIGN;
    if (!s->epi || a->m <= sub) { /* one call (or the column split of a few rows), then the chain */
        qb_gpar_gemm(p, a);
        run_epilogue(g, s, a->c, a->m);
    } else {
        gemm_epi_job j = {g, s, p, a, sub};
        int64_t chunk = qb_gpar_chunk(a->m, (int64_t)p->n * p->k, QB_GPAR_ALIGN);
        qb_gpar_for(a->m, chunk, gemm_epi_rows, &j);
    }
    add_kernel_time(g, t0);
}

typedef struct dw_epi_job {
    const qb_graph *g;   /* profile flag */
    const conv_state *s; /* its epilogue */
    const qb_packed *p;  /* the pack */
    const qb_dw_args *a; /* the whole call */
    int64_t sub;         /* output rows per kernel call */
} dw_epi_job;

static void dw_epi_rows(void *ctx, int64_t oy0, int64_t oy1)
{
    const dw_epi_job *j = ctx;
    for (int64_t r = oy0; r < oy1; r += j->sub) {
        int64_t r1 = r + j->sub < oy1 ? r + j->sub : oy1;
        qb_dw_args b;
        qb_gpar_dw_rows(j->a, (int)r, (int)r1, sizeof(float), sizeof(float), &b);
        j->p->kernel->run.dw(j->p, &b);
        run_epilogue(j->g, j->s, b.y, (r1 - r) * j->a->out_w);
    }
}

/* The depthwise kernel in calls of about QB_EPI_BYTES of output rows, each
 * followed by the epilogue (every output pixel is computed alone: the
 * same bits as one call). */
static void dw_with_epilogue(qb_graph *g, const conv_state *s, const qb_packed *p, const qb_dw_args *a)
{
    double t0 = g->profile ? qb_now_ms() : 0;
    int64_t row_bytes = (int64_t)a->out_w * a->c * (int64_t)sizeof(float);
    int64_t sub = QB_EPI_BYTES / row_bytes;
    dw_epi_job j = {g, s, p, a, sub < 1 ? 1 : sub};
    int64_t chunk = qb_gpar_chunk(a->out_h, (int64_t)a->out_w * a->c * a->kh * a->kw, 1);
    if (qb_gpar_alone(a->out_h, chunk, dw_epi_rows))
        chunk = a->out_h;
    qb_gpar_for(a->out_h, chunk, dw_epi_rows, &j);
    add_kernel_time(g, t0);
}

/* im2col_padded_i8 of a job's rows, counted from its first row. */
static void im2col_padded_from(void *ctx, int64_t i0, int64_t i1)
{
    const im2col_padded_job *j = ctx;
    int64_t r0 = j->pbase / j->w->out[2];
#ifdef QB_CONV_AVX512
    if (j->G && im2col_vbmi()) {
        im2col_padded_vbmi(j->P, j->wp, j->w, j->A, j->K, r0 + i0, r0 + i1, j->pbase, j->idx, j->G);
        return;
    }
#endif
    im2col_padded_i8(j->P, j->wp, j->w, j->A, j->K, r0 + i0, r0 + i1, j->pbase);
}

/* ---- direct convolution: the GEMM reads window taps from a padded copy ---- */

typedef struct direct_job {
    const conv_state *s; /* geometry, padded size, taps, pack */
    const float *x;      /* the image: NCHW planes or NHWC */
    int x_nhwc;          /* x is NHWC */
    float *P;            /* the padded NHWC copy, dhp x dwp x C */
    float *y;            /* output rows: out_h x out_w x ldc */
    size_t ldc;          /* floats between output pixels */
    float f_min, f_max;  /* clamp */
    const qb_graph *g;   /* profile flag (epilogue time) */
} direct_job;

/* Three planes lds floats apart (RGB images, first layers) to n pixels:
 * dst[3x + c] = src[c * lds + x], by SSE shuffles four pixels a step. */
static void planes3_to_pixels(float *restrict dst, const float *src, size_t lds, int64_t n)
{
    const float *pa = src, *pb = src + lds, *pc = src + 2 * lds;
    int64_t x = 0;
#if defined(__SSE2__)
    for (; x + 4 <= n; x += 4) {
        __m128 a = _mm_loadu_ps(pa + x), b = _mm_loadu_ps(pb + x), c = _mm_loadu_ps(pc + x);
        __m128 ab_lo = _mm_unpacklo_ps(a, b), ab_hi = _mm_unpackhi_ps(a, b); /* a0 b0 a1 b1, a2 b2 a3 b3 */
        __m128 c0a1 = _mm_shuffle_ps(c, ab_lo, _MM_SHUFFLE(2, 2, 0, 0));    /* c0 c0 a1 a1 */
        __m128 b1c1 = _mm_shuffle_ps(ab_lo, c, _MM_SHUFFLE(1, 1, 3, 3));    /* b1 b1 c1 c1 */
        __m128 c2a3 = _mm_shuffle_ps(c, ab_hi, _MM_SHUFFLE(2, 2, 2, 2));    /* c2 c2 a3 a3 */
        __m128 b3c3 = _mm_shuffle_ps(ab_hi, c, _MM_SHUFFLE(3, 3, 3, 3));    /* b3 b3 c3 c3 */
        float *d = dst + 3 * x;
        _mm_storeu_ps(d, _mm_shuffle_ps(ab_lo, c0a1, _MM_SHUFFLE(2, 0, 1, 0)));     /* a0 b0 c0 a1 */
        _mm_storeu_ps(d + 4, _mm_shuffle_ps(b1c1, ab_hi, _MM_SHUFFLE(1, 0, 2, 0))); /* b1 c1 a2 b2 */
        _mm_storeu_ps(d + 8, _mm_shuffle_ps(c2a3, b3c3, _MM_SHUFFLE(2, 0, 2, 0)));  /* c2 a3 b3 c3 */
    }
#endif
    for (; x < n; x++)
        dst[3 * x] = pa[x], dst[3 * x + 1] = pb[x], dst[3 * x + 2] = pc[x];
}

/* n pixels of C channels from C planes lds floats apart (ops.h): one
 * plane is a copy, three go by planes3_to_pixels, others through
 * qb_transpose_f32. */
void qb_planes_to_pixels(float *restrict dst, const float *src, size_t lds, int64_t C, int64_t n)
{
    if (C == 1) {
        memcpy(dst, src, (size_t)n * sizeof *dst);
        return;
    }
    if (C == 3) {
        planes3_to_pixels(dst, src, lds, n);
        return;
    }
    qb_transpose_f32(dst, (size_t)C, src, lds, C, n);
}

/* Rows [r0, r1) of the padded copy: zeros around the image, the image at
 * (pb[1], pb[2]) (NCHW planes transposed one image row at a time). */
static void direct_pad_rows(void *ctx, int64_t r0, int64_t r1)
{
    const direct_job *j = ctx;
    const win *w = &j->s->w;
    const int64_t C = w->c, wp = j->s->dwp, pt = w->pb[1], pl = w->pb[2], ih = w->in[1], iw = w->in[2];
    for (int64_t r = r0; r < r1; r++) {
        float *dst = j->P + r * wp * C;
        int64_t iy = r - pt;
        if (iy < 0 || iy >= ih) {
            memset(dst, 0, (size_t)(wp * C) * sizeof(float));
            continue;
        }
        memset(dst, 0, (size_t)(pl * C) * sizeof(float));
        if (j->x_nhwc)
            memcpy(dst + pl * C, j->x + iy * iw * C, (size_t)(iw * C) * sizeof(float));
        else
            qb_planes_to_pixels(dst + pl * C, j->x + iy * iw, (size_t)(ih * iw), C, iw);
        memset(dst + (pl + iw) * C, 0, (size_t)((wp - pl - iw) * C) * sizeof(float));
    }
}

/* Output rows [oy0, oy1): one kernel call per row, its pixels the rows of
 * A (stride s[2] pixels of the copy apart), each window row's kw * C
 * floats read as one segment at its offset. */
static void direct_out_rows(void *ctx, int64_t oy0, int64_t oy1)
{
    const direct_job *j = ctx;
    const conv_state *s = j->s;
    const win *w = &s->w;
    const int64_t C = w->c, ow = w->out[2];
    for (int64_t oy = oy0; oy < oy1; oy++) {
        qb_gemm_args a = {.m = (int)ow, .a = j->P + oy * w->s[1] * s->dwp * C, .lda = (size_t)(w->s[2] * C),
                          .c = j->y + oy * ow * (int64_t)j->ldc, .ldc = j->ldc, .f_min = j->f_min, .f_max = j->f_max,
                          .a_taps = s->taps, .a_ntaps = (int)w->k[1]};
        s->packs[0].kernel->run.gemm(&s->packs[0], &a);
        run_epilogue(j->g, s, a.c, ow);
    }
}

/* The direct conv of one image: pad, then the output rows in parallel
 * (each row one call whatever the split: the same bits on any thread
 * count). y: NHWC output (ldc = Cout), NCHW through the scratch. */
static void direct_conv(qb_graph *g, qb_node *n, const float *x, int x_nhwc, float *y, void *scratch)
{
    const conv_state *s = n->state;
    const win *w = &s->w;
    float *rows = s->out_nhwc ? y : scratch;
    direct_job j = {s, x, x_nhwc, (float *)(void *)((char *)scratch + s->dimg_off), rows, (size_t)s->cout, n->f_min,
                    n->f_max, g};
    qb_gpar_for(s->dhp, qb_gpar_chunk(s->dhp, s->dwp * w->c, 1), direct_pad_rows, &j);
    double t0 = g->profile ? qb_now_ms() : 0;
    qb_gpar_for(w->out[1], qb_gpar_chunk(w->out[1], w->out[2] * s->cout * s->kk, 1), direct_out_rows, &j);
    add_kernel_time(g, t0);
    if (!s->out_nhwc)
        transpose_par(y, (size_t)s->pix, rows, (size_t)s->cout, s->pix, s->cout);
}

/* Output rows per block of A (row_bytes: one pixel's row of A) for rows
 * output rows of ow pixels: about qb_gpar_conv_block bytes (par.h), each block a
 * multiple of QB_GPAR_ALIGN pixels (the GEMM's row tiles fall where one
 * call over all pixels puts them: the same bits), all rows when A is
 * small. */
static int64_t conv_block_rows(int64_t ow, int64_t row_bytes, int64_t rows)
{
    const int64_t blk = qb_gpar_conv_block;
    if (ow < 1 || blk <= 0 || rows * ow * row_bytes <= 2 * blk)
        return rows;
    int64_t a = ow, b = QB_GPAR_ALIGN;
    while (b) {
        int64_t t = a % b;
        a = b, b = t;
    }
    int64_t unit = QB_GPAR_ALIGN / a; /* rows per QB_GPAR_ALIGN-pixel multiple */
    int64_t rb = blk / (ow * row_bytes) / unit * unit;
    if (rb < unit)
        rb = unit;
    return rb < rows ? rb : rows;
}

/* ---- int8 convs on stacked rows (q_stack) ---- */

typedef struct stack_job {
    qb_graph *g;          /* profile */
    qb_node *n;           /* the conv */
    const conv_state *s;  /* geometry, pack, slots */
    const int8_t *x;      /* NHWC int8 image in the node's input grid (unpadded; qdirect: the padded copy) */
    char *y;              /* output: NHWC rows (ldy elements per pixel) or NCHW planes (ldp) */
    size_t ldy, ldp;      /* as qb_qlayer_gemm_at */
    int y_i8;             /* y is int8 */
    const qb_node *epi;   /* epilogue chain or NULL */
    char *slots;          /* scratch slots */
    int64_t chunk;        /* output rows per chunk: chunk i uses slot i */
    int64_t kernel_ns;    /* --profile: kernel time summed over threads */
} stack_job;

/* Output rows [oy0, oy1): per row, the kh input rows it reads stacked
 * column by column into the slot, then one int8 GEMM call of out_w rows. */
static void stack_rows(void *ctx, int64_t oy0, int64_t oy1)
{
    stack_job *j = ctx;
    const conv_state *s = j->s;
    const win *w = &s->w;
    const int64_t C = w->c, kh = w->k[1], ow = w->out[2], W = w->in[2];
    const size_t cb = (size_t)C, colb = (size_t)(kh * C);
    int8_t *S = (int8_t *)(j->slots + (size_t)(oy0 / j->chunk) * s->stack_slot);
    const int8_t zp = (int8_t)j->n->q->in_zero;
    const int8_t *src[64];
    if (s->qruns) { /* the chunk's output rows in one call: rows of A in runs of ow, one per output row */
        S = (int8_t *)(j->slots + (size_t)(oy0 * ow * s->cout) + 128 * (size_t)(oy0 / j->chunk));
        char *yr = j->ldp ? j->y + (size_t)(oy0 * ow) * sizeof(float)
                          : j->y + (size_t)(oy0 * ow) * j->ldy * (j->y_i8 ? 1 : sizeof(float));
        qb_qlayer_gemm_at(j->g, j->n, &s->packs[0], (int)((oy1 - oy0) * ow), j->x + oy0 * w->s[1] * s->dwp * C,
                          (size_t)(w->s[2] * C), s->taps, (int)kh, (int)ow, (size_t)(w->s[1] * s->dwp * C), yr, j->ldy,
                          j->y_i8, j->ldp, 0, j->epi, S, &j->kernel_ns);
        return;
    }
    if (s->qdirect) { /* the rows of A are output pixels in the padded copy, K its kh window rows */
        for (int64_t oy = oy0; oy < oy1; oy++) {
            char *yr = j->ldp ? j->y + (size_t)(oy * ow) * sizeof(float)
                              : j->y + (size_t)(oy * ow) * j->ldy * (j->y_i8 ? 1 : sizeof(float));
            qb_qlayer_gemm_at(j->g, j->n, &s->packs[0], (int)ow, j->x + oy * w->s[1] * s->dwp * C,
                              (size_t)(w->s[2] * C), s->taps, (int)kh, 0, 0, yr, j->ldy, j->y_i8, j->ldp, 0, j->epi,
                              S, &j->kernel_ns);
        }
        return;
    }
    int8_t *c8 = S + (((size_t)s->sw_cols * colb + 64 + 63) / 64 * 64);
    for (int64_t oy = oy0; oy < oy1; oy++) {
        for (int64_t ky = 0; ky < kh && ky < 64; ky++) {
            int64_t iy = oy * w->s[1] - w->pb[1] + ky * w->d[1];
            src[ky] = iy >= 0 && iy < w->in[1] ? j->x + (size_t)(iy * W * C) : NULL;
        }
        for (int64_t xx = 0; xx < s->sw_cols; xx++) {
            int64_t ix = xx - w->pb[2];
            int8_t *d = S + (size_t)xx * colb;
            int in = ix >= 0 && ix < W;
            for (int64_t ky = 0; ky < kh; ky++, d += cb)
                if (in && src[ky])
                    copy_bytes((char *)d, (const char *)(src[ky] + ix * C), cb);
                else
                    memset(d, zp, cb);
        }
        char *yr = j->ldp ? j->y + (size_t)(oy * ow) * sizeof(float)
                          : j->y + (size_t)(oy * ow) * j->ldy * (j->y_i8 ? 1 : sizeof(float));
        qb_qlayer_gemm_at(j->g, j->n, &s->packs[0], (int)ow, S, (size_t)w->s[2] * colb, NULL, 0, 0, 0, yr, j->ldy,
                          j->y_i8, j->ldp, 0, j->epi, c8, &j->kernel_ns);
    }
}

/* qdirect: the int8 NHWC image (an int8 link) into the padded copy. */
typedef struct qpad_job {
    const conv_state *s; /* geometry, padded size */
    const int8_t *x;     /* the image, NHWC int8 */
    int8_t *P;           /* the padded copy, dhp x dwp x C */
    int8_t zp;           /* the input zero point (the value of padding) */
} qpad_job;

/* Rows [r0, r1) of the padded copy: the zero point around the image, the
 * image at (pb[1], pb[2]). */
static void qpad_rows(void *ctx, int64_t r0, int64_t r1)
{
    const qpad_job *j = ctx;
    const win *w = &j->s->w;
    const int64_t C = w->c, wp = j->s->dwp, pt = w->pb[1], pl = w->pb[2], ih = w->in[1], iw = w->in[2];
    for (int64_t r = r0; r < r1; r++) {
        int8_t *dst = j->P + r * wp * C;
        int64_t iy = r - pt;
        if (iy < 0 || iy >= ih) {
            memset(dst, j->zp, (size_t)(wp * C));
            continue;
        }
        memset(dst, j->zp, (size_t)(pl * C));
        memcpy(dst + pl * C, j->x + iy * iw * C, (size_t)(iw * C));
        memset(dst + (pl + iw) * C, j->zp, (size_t)((wp - pl - iw) * C));
    }
}

/* The stacked-row int8 conv of one image: the float image quantized once
 * (NHWC int8) unless it is an int8 link, then the output rows in chunks
 * on the threads, each row one kernel call (the same bits whatever the
 * split). NCHW float output: dequantized into the planes, or with an
 * epilogue into NHWC rows transposed after. qdirect the same on the
 * padded copy (the float image quantized into it, or an int8 link's
 * copied), each row's kernel call reading its window rows from there. */
static void stack_conv(qb_graph *g, qb_node *n, const char *xb, char *yb, void *scratch)
{
    conv_state *s = n->state;
    const win *w = &s->w;
    int64_t ivol = w->in[1] * w->in[2];
    const int8_t *x = (const int8_t *)xb;
    if (s->qdirect) {
        int8_t *img = (int8_t *)scratch + s->qimg_off;
        int8_t zp = (int8_t)n->q->in_zero;
        if (s->in_i8) {
            qpad_job jp = {s, x, img, zp};
            qb_gpar_for(s->dhp, qb_gpar_chunk(s->dhp, s->dwp * w->c, 1), qpad_rows, &jp);
        } else {
            qb_qlayer_quantize_image_padded(n, (const float *)(const void *)xb, s->in_nhwc, w->c, w->in[1], w->in[2],
                                            w->pb[1], w->pb[2], s->dhp, s->dwp, img);
        }
        memset(img + s->dhp * s->dwp * w->c, zp, 64); /* what the last segments read past the copy */
        x = img;
    } else if (!s->in_i8) {
        int8_t *img = (int8_t *)scratch + s->qimg_off;
        qb_qlayer_quantize_image(n, (const float *)(const void *)xb, s->in_nhwc, w->c, ivol, img);
        x = img;
    }
    /* NHWC rows to transpose (NCHW output with an epilogue) */
    float *C = s->qdirect ? (float *)scratch : (float *)scratch + s->pix * s->kk;
    stack_job j = {.g = g, .n = n, .s = s, .x = x, .y = yb, .ldy = (size_t)s->cout, .y_i8 = s->out_i8,
                   .epi = s->epi, .slots = (char *)scratch + s->stack_off};
    int planes = !s->out_nhwc && !s->epi && !q_planes_off();
    if (planes)
        j.ldp = (size_t)s->pix;
    else if (!s->out_nhwc)
        j.y = (char *)C;
    int64_t oh = w->out[1];
    j.chunk = qb_gpar_chunk(oh, w->out[2] * s->cout * s->kk, 1);
    if (j.chunk * QSTACK_SLOTS < oh)
        j.chunk = (oh + QSTACK_SLOTS - 1) / QSTACK_SLOTS;
    double t0 = g->profile ? qb_now_ms() : 0;
    qb_gpar_for(oh, j.chunk, stack_rows, &j);
    if (g->profile) /* the kernel calls' time (summed over threads: at 2+ threads an upper bound of the kernel's share) */
        g->kernel_ms_acc += fmin((double)j.kernel_ns * 1e-6, qb_now_ms() - t0);
    if (!s->out_nhwc && !planes)
        transpose_par((float *)(void *)yb, (size_t)s->pix, C, (size_t)s->cout, s->pix, s->cout);
}

static void conv_run(qb_graph *g, qb_node *n, void *scratch)
{
    conv_state *s = n->state;
    const qb_tensor *x = qb_in(g, n, 0);
    qb_tensor *y = n->write_to >= 0 ? g->tensors[n->write_to] : qb_out(g, n, 0);
    if (!s->packed_ok && conv_pack(g, n, s, NULL))
        return; /* shapes were checked at prepare: packing cannot fail */
    const win *w = &s->w;
    int64_t ivol = w->in[0] * w->in[1] * w->in[2];
    size_t xes = s->in_i8 ? 1 : sizeof(float), yes = s->out_i8 ? 1 : sizeof(float); /* element bytes */
    float *sc = scratch;
    void *qsc = (char *)scratch + s->qscratch_off;
    for (int64_t b = 0; b < w->n; b++) {
        const char *xb = (const char *)x->data + (size_t)(b * w->c * ivol) * xes;
        char *yb = (char *)y->data + (size_t)(b * s->cout * s->pix) * yes;
        if (s->dw) {
            int64_t C = s->cout, hw = ivol;
            void *xn = s->in_nhwc ? (void *)xb : sc, *yn = s->out_nhwc ? (void *)yb : sc + hw * C;
            if (!s->in_nhwc)
                transpose_par(xn, (size_t)C, (const float *)xb, (size_t)hw, C, hw);
            qb_dw_args a = {.h = (int)w->in[1], .w = (int)w->in[2], .c = (int)C, .kh = (int)w->k[1], .kw = (int)w->k[2],
                            .stride_h = (int)w->s[1], .stride_w = (int)w->s[2], .dil_h = (int)w->d[1],
                            .dil_w = (int)w->d[2], .pad_t = (int)w->pb[1], .pad_l = (int)w->pb[2], .out_h = (int)w->out[1],
                            .out_w = (int)w->out[2], .x = xn, .y = yn, .f_min = n->f_min, .f_max = n->f_max};
            if (n->q) {
                qb_qlayer_dw(g, n, &s->packs[0], &a, s->in_i8, s->out_i8, s->epi, qsc);
            } else if (s->epi) {
                dw_with_epilogue(g, s, &s->packs[0], &a);
            } else {
                double t0 = g->profile ? qb_now_ms() : 0;
                qb_gpar_dw(&s->packs[0], &a);
                if (g->profile)
                    g->kernel_ms_acc += qb_now_ms() - t0;
            }
            if (!s->out_nhwc)
                transpose_par((float *)yb, (size_t)s->pix, yn, (size_t)C, s->pix, C);
            continue;
        }
        if (s->direct) {
            direct_conv(g, n, (const float *)(const void *)xb, s->in_nhwc, (float *)(void *)yb, scratch);
            continue;
        }
        if (s->q_stack || s->qdirect) {
            stack_conv(g, n, xb, yb, scratch);
            continue;
        }
        int64_t cg = w->c / s->group, cog = s->cout / s->group;
        float *A = sc, *C = sc + s->pix * s->kk;
        int in_i8 = s->in_i8, in_nhwc = s->in_nhwc;
        size_t aes = xes; /* element bytes of the image im2col reads */
        int padded = s->q_pad && !in_i8 && s->group == 1; /* first layers: im2col without bounds checks */
        win wpw;                                          /* q_wpad: the window over the padded copy */
        const win *wi = w;                                /* the window im2col reads the image by */
        if (q_wpad_on(s) && (in_i8 || s->q_first)) {      /* every window inside: whole window rows */
            int8_t *img = (int8_t *)scratch + s->qimg_off;
#ifdef QB_CONV_AVX512
            if (in_i8)
                pad_image_avx512(img, (const int8_t *)(const void *)xb, w->c, w->in[1], w->in[2], w->pb[1], w->pb[2],
                                 s->hp, s->wp, (int8_t)n->q->in_zero);
            else
#endif
                qb_qlayer_quantize_image_padded(n, (const float *)(const void *)xb, in_nhwc, w->c, w->in[1],
                                                w->in[2], w->pb[1], w->pb[2], s->hp, s->wp, img);
            xb = (const char *)img, aes = 1, in_i8 = 1, in_nhwc = 1;
            wpw = *w;
            wpw.in[1] = s->hp, wpw.in[2] = s->wp, wpw.pb[1] = wpw.pb[2] = wpw.pe[1] = wpw.pe[2] = 0;
            wi = &wpw;
        } else if (padded) {
            int8_t *img = (int8_t *)scratch + s->qimg_off;
            qb_qlayer_quantize_image_padded(n, (const float *)xb, in_nhwc, w->c, w->in[1], w->in[2], w->pb[1],
                                            w->pb[2], s->hp, s->wp, img);
            xb = (const char *)img, aes = 1, in_i8 = 1, in_nhwc = 1;
        } else if (s->q_first && !in_i8) { /* the image quantized once, NHWC int8 */
            int8_t *img = (int8_t *)scratch + s->qimg_off;
            qb_qlayer_quantize_image(n, (const float *)xb, in_nhwc, w->c, ivol, img);
            xb = (const char *)img, aes = 1, in_i8 = 1, in_nhwc = 1;
        } else if (s->f_first && !in_nhwc) { /* fp32: the image transposed once to NHWC */
            float *img = (float *)(void *)((char *)scratch + s->fimg_off);
            transpose_par(img, (size_t)w->c, (const float *)xb, (size_t)ivol, w->c, ivol);
            xb = (const char *)img, in_nhwc = 1;
        }
        /* A in blocks of output rows that stay in cache between im2col and the GEMM */
        int64_t rows = w->out[0] * w->out[1], ow = w->out[2];
        int64_t rb = s->pointwise ? rows : conv_block_rows(ow, s->kk * (int64_t)(in_i8 ? 1 : sizeof(float)), rows);
        /* int8 quantized, NCHW float output, no epilogue: dequantized into the planes (no transpose) */
        int q_planes = n->q && qb_precision_is_int8(n->q->run_prec) && !s->out_nhwc && !s->epi && !q_planes_off();
        for (int64_t gi = 0; gi < s->group; gi++) {
            size_t ldc = (size_t)(s->out_nhwc ? s->cout : cog);
            for (int64_t r0 = 0; r0 < rows; r0 += rb) {
                int64_t r1 = r0 + rb < rows ? r0 + rb : rows, p0 = r0 * ow, m = (r1 - r0) * ow;
                const void *a_ptr = A;
                size_t lda = (size_t)s->kk;
                if (in_nhwc && s->pointwise) { /* the NHWC input is A itself */
                    a_ptr = xb + (size_t)(gi * cg) * aes;
                    lda = (size_t)w->c;
                } else if (padded) {
                    im2col_padded_job jp = {(const int8_t *)(const void *)xb, s->wp, w, (int8_t *)(void *)A, s->kk,
                                            p0, s->q_pidx, s->q_pg};
                    qb_gpar_for(r1 - r0, qb_gpar_chunk(r1 - r0, ow * s->kk, 1), im2col_padded_from, &jp);
                } else if (in_nhwc) {
                    im2col_par(xb, wi, gi * cg, cg, A, s->kk, aes, in_i8 ? (int8_t)n->q->in_zero : 0, 1, r0, r1);
                } else if (s->pointwise) { /* 1x1, stride 1, no pad: A is the transposed input */
                    transpose_par(A, (size_t)s->kk, (const float *)xb + gi * cg * ivol, (size_t)ivol, cg, ivol);
                } else {
                    im2col_par(xb, w, gi * cg, cg, A, s->kk, sizeof(float), 0, 0, r0, r1);
                }
                void *c_ptr = s->out_nhwc ? (void *)(yb + (size_t)(gi * cog + p0 * (int64_t)ldc) * yes)
                                          : (void *)(C + p0 * (int64_t)ldc);
                if (q_planes) { /* int8 output dequantized straight into the NCHW planes */
                    qb_qlayer_gemm_planes(g, n, &s->packs[gi], (int)m, a_ptr, lda, in_i8,
                                          (float *)(void *)yb + gi * cog * s->pix + p0, (size_t)s->pix,
                                          (int)(gi * cog), qsc);
                } else if (n->q) {
                    qb_qlayer_gemm_epi(g, n, &s->packs[gi], (int)m, a_ptr, lda, in_i8, c_ptr, ldc, s->out_i8,
                                       (int)(gi * cog), s->epi, qsc);
                } else {
                    qb_gemm_args a = {.m = (int)m, .a = a_ptr, .lda = lda, .c = c_ptr, .ldc = ldc,
                                      .f_min = n->f_min, .f_max = n->f_max};
                    gemm_with_epilogue(g, s, &s->packs[gi], &a);
                }
            }
            if (!s->out_nhwc && !q_planes)
                transpose_par((float *)yb + gi * cog * s->pix, (size_t)s->pix, C, (size_t)cog, s->pix, cog);
        }
    }
    if (!s->packed_ok)
        for (int i = 0; i < s->npacks; i++)
            if (s->packs[i].block) {
                qb_packed_free(&s->packs[i]);
                s->packs[i].block = NULL;
            }
}

static int64_t conv_macs(const qb_graph *g, const qb_node *n)
{
    (void)g;
    const conv_state *s = n->state;
    return s ? s->w.n * s->pix * s->cout * s->kk : 0;
}

/* ---- pools ---- */
typedef struct pool_state {
    win w;             /* geometry */
    int count_pad;     /* AveragePool count_include_pad */
} pool_state;

static int pool_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *x = qb_need_in(g, n, 0, e);
    if (!x)
        return -1;
    int is_max = !strcmp(n->op, "MaxPool");
    if (x->dtype != QB_DT_FLOAT && !(is_max && x->dtype != QB_DT_BOOL)) {
        QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_TYPE, "input must be float32 (MaxPool: any numeric type)");
        return -1;
    }
    if (is_max && qb_attr_int(n, "storage_order", 0) & ~1) {
        QB_NODE_ERR(e, g, n, "storage_order must be 0 or 1");
        return -1;
    }
    pool_state *s = calloc(1, sizeof *s);
    n->state = s;
    int64_t ks[3] = {1, 1, 1};
    int global = !strcmp(n->op, "GlobalAveragePool");
    if (global) {
        for (int i = 2; i < x->ndim && i < 5; i++)
            ks[i - 2] = x->dims[i];
        if (win_setup(g, n, x, ks, 0, &s->w, e))
            return -1;
    } else {
        const int64_t *k;
        int nk = qb_attr_ints(n, "kernel_shape", &k);
        if (nk != x->ndim - 2) {
            QB_NODE_ERR(e, g, n, "kernel_shape must have %d entries", x->ndim - 2);
            return -1;
        }
        if (!strcmp(n->op, "AveragePool") && qb_node_attr(n, "dilations")) {
            QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_ATTR, "dilations are not supported for AveragePool");
            return -1;
        }
        if (win_setup(g, n, x, k, (int)qb_attr_int(n, "ceil_mode", 0), &s->w, e))
            return -1;
    }
    s->count_pad = (int)qb_attr_int(n, "count_include_pad", 0);
    int64_t dims[QB_MAX_DIMS];
    out_dims(&s->w, x->dims[1], dims);
    qb_set_out(g, n, 0, x->dtype, x->ndim, dims);
    if (is_max && n->nout > 1 && n->out[1] >= 0)
        qb_set_out(g, n, 1, QB_DT_INT64, x->ndim, dims);
    return 0;
}

typedef struct pool_job {
    const pool_state *s; /* geometry, count_include_pad */
    const float *x;      /* input, NCHW */
    float *y;            /* output, NCHW */
    int is_max;          /* MaxPool (else AveragePool) */
} pool_job;

/* Planes (image, channel) [nc0, nc1) of a float MaxPool or AveragePool. */
static void pool_planes(void *ctx, int64_t nc0, int64_t nc1)
{
    const pool_job *j = ctx;
    const pool_state *s = j->s;
    const win *w = &s->w;
    const int is_max = j->is_max;
    int64_t ivol = w->in[0] * w->in[1] * w->in[2], ovol = w->out[0] * w->out[1] * w->out[2];
    float *y = j->y + nc0 * ovol;
    for (int64_t nc = nc0; nc < nc1; nc++) {
        const float *xc = j->x + nc * ivol;
        for (int64_t oz = 0; oz < w->out[0]; oz++)
            for (int64_t oy = 0; oy < w->out[1]; oy++)
                for (int64_t ox = 0; ox < w->out[2]; ox++) {
                    float acc = is_max ? -INFINITY : 0.0f;
                    int64_t cnt = 0, padcnt = 1;
                    int64_t o[3] = {oz, oy, ox};
                    for (int d = 0; d < 3 && !is_max; d++) { /* window inside the padded input */
                        int64_t lo = o[d] * w->s[d] - w->pb[d], hi = lo + (w->k[d] - 1) * w->d[d] + 1;
                        int64_t lim = w->in[d] + w->pe[d];
                        if (hi > lim)
                            hi = lim;
                        padcnt *= hi - lo;
                    }
                    for (int64_t kz = 0; kz < w->k[0]; kz++) {
                        int64_t iz = oz * w->s[0] - w->pb[0] + kz * w->d[0];
                        if (iz < 0 || iz >= w->in[0])
                            continue;
                        for (int64_t ky = 0; ky < w->k[1]; ky++) {
                            int64_t iy = oy * w->s[1] - w->pb[1] + ky * w->d[1];
                            if (iy < 0 || iy >= w->in[1])
                                continue;
                            for (int64_t kx = 0; kx < w->k[2]; kx++) {
                                int64_t ix = ox * w->s[2] - w->pb[2] + kx * w->d[2];
                                if (ix < 0 || ix >= w->in[2])
                                    continue;
                                float v = xc[(iz * w->in[1] + iy) * w->in[2] + ix];
                                if (is_max)
                                    acc = v > acc ? v : acc;
                                else
                                    acc += v;
                                cnt++;
                            }
                        }
                    }
                    if (!is_max)
                        acc = acc / (float)(s->count_pad ? padcnt : cnt ? cnt : 1);
                    *y++ = acc;
                }
    }
}

/* Float MaxPool / AveragePool, in parallel over the planes. */
static void pool_run_kind(qb_graph *g, qb_node *n, int is_max)
{
    const pool_state *s = n->state;
    const win *w = &s->w;
    pool_job j = {s, qb_in(g, n, 0)->data, qb_out(g, n, 0)->data, is_max};
    int64_t planes = w->n * w->c, work = w->out[0] * w->out[1] * w->out[2] * w->k[0] * w->k[1] * w->k[2];
    qb_gpar_for(planes, qb_gpar_chunk(planes, work, 1), pool_planes, &j);
}

/* MaxPool on any element type and/or with the Indices output: the index
 * of each maximum (the first one on ties) in the flattened input, padding
 * not counted; storage_order 1 numbers the spatial dims column-major. */
static void maxpool_typed(qb_graph *g, qb_node *n)
{
    const pool_state *s = n->state;
    const win *w = &s->w;
    const qb_tensor *xt = qb_in(g, n, 0);
    qb_tensor *yt = qb_out(g, n, 0), *it = qb_out(g, n, 1);
    int colmajor = (int)qb_attr_int(n, "storage_order", 0);
    int off = 3 - w->nsp;
    int64_t ivol = w->in[0] * w->in[1] * w->in[2], o = 0;
    for (int64_t nc = 0; nc < w->n * w->c; nc++)
        for (int64_t oz = 0; oz < w->out[0]; oz++)
            for (int64_t oy = 0; oy < w->out[1]; oy++)
                for (int64_t ox = 0; ox < w->out[2]; ox++, o++) {
                    double best = 0;
                    int64_t bi = -1;
                    for (int64_t kz = 0; kz < w->k[0]; kz++) {
                        int64_t iz = oz * w->s[0] - w->pb[0] + kz * w->d[0];
                        if (iz < 0 || iz >= w->in[0])
                            continue;
                        for (int64_t ky = 0; ky < w->k[1]; ky++) {
                            int64_t iy = oy * w->s[1] - w->pb[1] + ky * w->d[1];
                            if (iy < 0 || iy >= w->in[1])
                                continue;
                            for (int64_t kx = 0; kx < w->k[2]; kx++) {
                                int64_t ix = ox * w->s[2] - w->pb[2] + kx * w->d[2];
                                if (ix < 0 || ix >= w->in[2])
                                    continue;
                                int64_t at = nc * ivol + (iz * w->in[1] + iy) * w->in[2] + ix;
                                double v = qb_get_d(xt, at);
                                if (bi < 0 || v > best) {
                                    best = v;
                                    bi = at;
                                }
                            }
                        }
                    }
                    if (bi < 0) { /* window entirely in the padding (not reachable with valid pads) */
                        qb_set_d(yt, o, 0);
                    } else if (qb_dtype_is_int(xt->dtype)) {
                        qb_set_i(yt, o, qb_int_at(xt, bi));
                    } else {
                        qb_set_d(yt, o, best);
                    }
                    if (it) {
                        int64_t idx = bi < 0 ? 0 : bi;
                        if (colmajor && bi >= 0) { /* spatial coordinates re-numbered column-major */
                            int64_t r = bi % ivol, c[3], acc = 0, mul = 1;
                            c[2] = r % w->in[2];
                            c[1] = r / w->in[2] % w->in[1];
                            c[0] = r / (w->in[2] * w->in[1]);
                            for (int d = off; d < 3; d++) {
                                acc += c[d] * mul;
                                mul *= w->in[d];
                            }
                            idx = bi - r + acc;
                        }
                        ((int64_t *)it->data)[o] = idx;
                    }
                }
}

static void maxpool_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    if (qb_in(g, n, 0)->dtype != QB_DT_FLOAT || qb_out(g, n, 1))
        maxpool_typed(g, n);
    else
        pool_run_kind(g, n, 1);
}
static void avgpool_run(qb_graph *g, qb_node *n, void *scratch) { (void)scratch; pool_run_kind(g, n, 0); }

typedef struct gap_job {
    const float *x; /* input, NCHW */
    float *y;       /* one mean per plane */
    int64_t vol;    /* elements per plane */
} gap_job;

static void gap_planes(void *ctx, int64_t nc0, int64_t nc1)
{
    const gap_job *j = ctx;
    qb_plane_means_f32(j->x + nc0 * j->vol, j->y + nc0, nc1 - nc0, j->vol);
}

static void gap_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const pool_state *s = n->state;
    gap_job j = {qb_in(g, n, 0)->data, qb_out(g, n, 0)->data, s->w.in[0] * s->w.in[1] * s->w.in[2]};
    int64_t planes = s->w.n * s->w.c;
    /* chunks of whole 16s of planes (qb_plane_means_f32's AVX-512 blocks; the bits do not depend on them) */
    qb_gpar_for(planes, qb_gpar_chunk(planes, j.vol, planes >= 16 ? 16 : 1), gap_planes, &j);
}

const qb_opdef qb_ops_conv[] = {
    {"Conv", conv_prepare, conv_run, conv_macs, 0, 0},
    {"MaxPool", pool_prepare, maxpool_run, NULL, QB_OPF_ANY_DTYPE, 0},
    {"AveragePool", pool_prepare, avgpool_run, NULL, 0, 0},
    {"GlobalAveragePool", pool_prepare, gap_run, NULL, 0, 0},
    {NULL, NULL, NULL, NULL, 0, 0},
};
