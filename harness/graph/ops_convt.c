/*
 * ops_convt.c - ConvTranspose on float32, 1 to 3 spatial dims: strides,
 * dilations, groups, pads or auto_pad (SAME_UPPER/SAME_LOWER/VALID),
 * output_padding and output_shape. Per image and group it is one GEMM on
 * the fp32 kernel of the graph's ISA, columns [pixels x (Cout/g * kernel)]
 * = X^T [pixels x Cin/g] . W, then a scatter-add of the columns into the
 * output (col2im) plus the bias. Constant weights are packed once; weights
 * that are graph inputs are packed on each run.
 */
#include <stdlib.h>
#include <string.h>

#include "harness/graph/ops.h"
#include "harness/graph/par.h"

typedef struct convt_state {
    int nsp;                 /* spatial dims (1..3); geometry below is padded to 3 (leading 1s) */
    int64_t n, cin, cout;    /* batch, input and output channels */
    int64_t group;           /* groups */
    int64_t in[3], out[3];   /* input / output spatial sizes */
    int64_t k[3], s[3], d[3]; /* kernel, strides, dilations */
    int64_t pb[3];           /* pads at the beginning (output crop) */
    int64_t pix;             /* input pixels per image */
    int64_t cols;            /* GEMM columns per group: Cout/g * kernel size */
    int tiles;               /* windows tile the output exactly (kernel = stride, no dilation, no pads, output =
                              * input * stride): each output element gets one term, written once as bias + term */
    qb_packed *packs;        /* one per group when the weights are constant, else NULL */
} convt_state;

static void convt_free(void *p)
{
    convt_state *s = p;
    if (s && s->packs) {
        for (int64_t i = 0; i < s->group; i++)
            if (s->packs[i].block)
                qb_packed_free(&s->packs[i]);
        free(s->packs);
    }
    free(s);
}

/* Pack group gi of W [Cin, Cout/g, k...] as N = Cout/g*K rows of Cin/g. */
static int pack_group(qb_graph *g, qb_node *n, const convt_state *s, const float *W, int64_t gi, qb_packed *p,
                      qb_err *e)
{
    int64_t cg = s->cin / s->group, kn = s->cols;
    float *w = malloc((size_t)(kn * cg) * sizeof(float) + 1);
    if (!w) {
        if (e)
            QB_NODE_ERR(e, g, n, "out of memory");
        return -1;
    }
    for (int64_t ci = 0; ci < cg; ci++)
        for (int64_t j = 0; j < kn; j++)
            w[j * cg + ci] = W[(gi * cg + ci) * kn + j];
    qb_weights qw = {.n = (int)kn, .k = (int)cg, .f32 = w};
    char err[200] = "";
    int rc = qb_pack(g->gemm, &qw, p, err, sizeof err);
    free(w);
    if (rc && e)
        QB_NODE_ERR(e, g, n, "cannot pack the weights: %s", err);
    return rc;
}

static int convt_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *x = qb_need_in(g, n, 0, e), *W = x ? qb_need_in(g, n, 1, e) : NULL, *B = qb_in(g, n, 2);
    if (!W)
        return -1;
    if (x->dtype != QB_DT_FLOAT || W->dtype != QB_DT_FLOAT || (B && B->dtype != QB_DT_FLOAT)) {
        QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_TYPE,
                            "inputs must be float32 (element type %s)", qb_dtype_name(x->dtype));
        return -1;
    }
    int nsp = x->ndim - 2;
    if (nsp < 1 || nsp > 3 || W->ndim != x->ndim) {
        QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_SHAPE,
                            "input rank %d / weight rank %d is not supported (3 to 5, equal)", x->ndim, W->ndim);
        return -1;
    }
    int64_t group = qb_attr_int(n, "group", 1);
    if (group < 1 || x->dims[1] % group || W->dims[0] != x->dims[1]) {
        QB_NODE_ERR(e, g, n, "weight shape [%lld, ...] and group %lld do not match %lld input channels",
                    (long long)W->dims[0], (long long)group, (long long)x->dims[1]);
        return -1;
    }
    const int64_t *ks, *st, *dl, *pd, *op, *os;
    int nks = qb_attr_ints(n, "kernel_shape", &ks), nst = qb_attr_ints(n, "strides", &st),
        ndl = qb_attr_ints(n, "dilations", &dl), npd = qb_attr_ints(n, "pads", &pd),
        nop = qb_attr_ints(n, "output_padding", &op), nos = qb_attr_ints(n, "output_shape", &os);
    if ((nks >= 0 && nks != nsp) || (nst >= 0 && nst != nsp) || (ndl >= 0 && ndl != nsp) ||
        (npd >= 0 && npd != 2 * nsp) || (nop >= 0 && nop != nsp) || (nos >= 0 && nos != nsp && nos != nsp + 2)) {
        QB_NODE_ERR(e, g, n, "kernel_shape, strides, dilations, pads, output_padding or output_shape do not match %d "
                    "spatial dims", nsp);
        return -1;
    }
    const char *ap = qb_attr_str(n, "auto_pad", "NOTSET");
    int same_upper = !strcmp(ap, "SAME_UPPER"), same_lower = !strcmp(ap, "SAME_LOWER");
    if (!same_upper && !same_lower && strcmp(ap, "VALID") && strcmp(ap, "NOTSET")) {
        QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_ATTR, "auto_pad '%s' is not supported", ap);
        return -1;
    }
    convt_state *s = calloc(1, sizeof *s);
    n->state = s;
    n->free_state = convt_free;
    s->nsp = nsp;
    s->n = x->dims[0];
    s->cin = x->dims[1];
    s->group = group;
    s->cout = W->dims[1] * group;
    int off = 3 - nsp;
    int64_t dims[QB_MAX_DIMS] = {s->n, s->cout}, ksz = 1;
    for (int i = 0; i < 3; i++)
        s->in[i] = s->out[i] = s->k[i] = s->s[i] = s->d[i] = 1;
    for (int i = 0; i < nsp; i++) {
        int j = off + i;
        s->in[j] = x->dims[2 + i];
        s->k[j] = W->dims[2 + i];
        if (nks >= 0 && ks[i] != s->k[j]) {
            QB_NODE_ERR(e, g, n, "kernel_shape %lld differs from the weights' %lld", (long long)ks[i],
                        (long long)s->k[j]);
            return -1;
        }
        s->s[j] = nst >= 0 ? st[i] : 1;
        s->d[j] = ndl >= 0 ? dl[i] : 1;
        int64_t opad = nop >= 0 ? op[i] : 0, ek = (s->k[j] - 1) * s->d[j] + 1;
        if (s->s[j] < 1 || s->d[j] < 1 || s->s[j] > (1 << 24) || s->d[j] > (1 << 24) || opad < 0 ||
            (opad >= s->s[j] && opad >= s->d[j])) {
            QB_NODE_ERR(e, g, n, "strides, dilations or output_padding out of range");
            return -1;
        }
        int64_t full = s->s[j] * (s->in[j] - 1) + opad + ek, pb, pe;
        int64_t want = -1;
        if (nos >= 0 || same_upper || same_lower) { /* pad (or extend with the bias) to the wanted size */
            want = nos >= 0 ? os[nos - nsp + i] : s->in[j] * s->s[j];
            int64_t tot = full - want > 0 ? full - want : 0;
            pb = same_upper ? tot / 2 : tot - tot / 2;
            pe = tot - pb;
        } else if (!strcmp(ap, "VALID")) {
            pb = pe = 0;
        } else {
            pb = npd >= 0 ? pd[i] : 0;
            pe = npd >= 0 ? pd[nsp + i] : 0;
        }
        s->pb[j] = pb;
        s->out[j] = want >= 0 ? want : full - pb - pe;
        if (pb < 0 || pe < 0 || s->out[j] < 1) {
            QB_NODE_ERR(e, g, n, "pads %lld/%lld leave no output on spatial axis %d", (long long)pb, (long long)pe, i);
            return -1;
        }
        dims[2 + i] = s->out[j];
        ksz *= s->k[j];
    }
    if (B && qb_tensor_count(B) != s->cout) {
        QB_NODE_ERR(e, g, n, "bias has %lld values, %lld output channels", (long long)qb_tensor_count(B),
                    (long long)s->cout);
        return -1;
    }
    s->pix = s->in[0] * s->in[1] * s->in[2];
    s->cols = s->cout / group * ksz;
    s->tiles = 1;
    for (int j = 0; j < 3; j++)
        s->tiles &= s->k[j] == s->s[j] && s->d[j] == 1 && s->pb[j] == 0 && s->out[j] == s->in[j] * s->s[j];
    int64_t cg = s->cin / group;
    if (s->cols > (1 << 30) || cg > (1 << 30) || s->pix * s->cols > ((int64_t)1 << 31)) {
        QB_NODE_ERR(e, g, n, "too large");
        return -1;
    }
    /* scratch: X^T of one group [pix x cg], then the columns [pix x cols] */
    n->scratch = (size_t)(s->pix * cg + s->pix * s->cols) * sizeof(float);
    if (W->kind == QB_T_CONST) {
        s->packs = calloc((size_t)group, sizeof *s->packs);
        for (int64_t gi = 0; gi < group; gi++)
            if (pack_group(g, n, s, W->data, gi, &s->packs[gi], e))
                return -1;
    }
    qb_set_out(g, n, 0, QB_DT_FLOAT, x->ndim, dims);
    return 0;
}

/* col2im when the windows tile the output (s->tiles): output (oz, oy, ox)
 * = (iz, iy, ix) * k + (kz, ky, kx) gets bias + its one column term (the
 * general path's bias + term: the same bits), each output row written
 * once, left to right, for group channels [0, og) starting at y (c0: the
 * group's first channel, for the bias). */
static void convt_tiles(const convt_state *s, const float *cols, const float *bias, float *y, int64_t c0)
{
    const int64_t og = s->cout / s->group, ktaps = s->k[0] * s->k[1] * s->k[2], opix = s->out[0] * s->out[1] * s->out[2];
    const int64_t kx = s->k[2], iw = s->in[2], ncols = s->cols;
    for (int64_t iz = 0; iz < s->in[0]; iz++)
        for (int64_t iy = 0; iy < s->in[1]; iy++) {
            const float *crow = cols + (iz * s->in[1] + iy) * iw * ncols;
            for (int64_t co = 0; co < og; co++) {
                const float v = bias ? bias[c0 + co] : 0.0f;
                for (int64_t kz = 0; kz < s->k[0]; kz++)
                    for (int64_t ky = 0; ky < s->k[1]; ky++) {
                        float *row = y + co * opix + ((iz * s->k[0] + kz) * s->out[1] + iy * s->k[1] + ky) * s->out[2];
                        const float *cp = crow + co * ktaps + (kz * s->k[1] + ky) * kx;
                        if (kx == 2)
                            for (int64_t ix = 0; ix < iw; ix++, cp += ncols) {
                                row[2 * ix] = v + cp[0];
                                row[2 * ix + 1] = v + cp[1];
                            }
                        else
                            for (int64_t ix = 0; ix < iw; ix++, cp += ncols)
                                for (int64_t t = 0; t < kx; t++)
                                    row[ix * kx + t] = v + cp[t];
                    }
            }
        }
}

static void convt_run(qb_graph *g, qb_node *n, void *scratch)
{
    const convt_state *s = n->state;
    const qb_tensor *x = qb_in(g, n, 0), *W = qb_in(g, n, 1), *B = qb_in(g, n, 2);
    qb_tensor *y = qb_out(g, n, 0);
    int64_t cg = s->cin / s->group, og = s->cout / s->group, opix = s->out[0] * s->out[1] * s->out[2];
    float *xt = scratch, *cols = xt + s->pix * cg, *yd = y->data;
    const float *xd = x->data, *bias = B ? B->data : NULL;
    for (int64_t b = 0; b < s->n; b++) {
        for (int64_t c = 0; c < s->cout && !s->tiles; c++) {
            float v = bias ? bias[c] : 0.0f;
            float *yc = yd + (b * s->cout + c) * opix;
            for (int64_t i = 0; i < opix; i++)
                yc[i] = v;
        }
        for (int64_t gi = 0; gi < s->group; gi++) {
            const float *xg = xd + (b * s->cin + gi * cg) * s->pix;
            for (int64_t p0 = 0; p0 < s->pix; p0 += 64) { /* X^T in tiles of 64 pixels (the rows written stay in L1) */
                int64_t p1 = p0 + 64 < s->pix ? p0 + 64 : s->pix;
                for (int64_t ci = 0; ci < cg; ci++)
                    for (int64_t p = p0; p < p1; p++)
                        xt[p * cg + ci] = xg[ci * s->pix + p];
            }
            qb_packed tmp = {0};
            const qb_packed *pk = s->packs ? &s->packs[gi] : &tmp;
            if (!s->packs && pack_group(g, n, s, W->data, gi, &tmp, NULL))
                continue; /* cannot happen after a successful prepare but for memory */
            qb_gemm_args ga = {.m = (int)s->pix, .a = xt, .lda = (size_t)cg, .c = cols, .ldc = (size_t)s->cols,
                               .f_min = -__builtin_inff(), .f_max = __builtin_inff()};
            double t0 = g->profile ? qb_now_ms() : 0;
            qb_gpar_gemm(pk, &ga);
            if (g->profile)
                g->kernel_ms_acc += qb_now_ms() - t0;
            if (tmp.block)
                qb_packed_free(&tmp);
            /* col2im: input pixel (iz, iy, ix), kernel tap (kz, ky, kx) -> output (oz, oy, ox); one input
             * row (iz, iy) at a time (its columns stay in cache), then per output channel and tap row one
             * output row written left to right. Each output element still receives its terms in input
             * pixel order, as a pixel-by-pixel scatter would add them: the same sums. */
            int64_t ktaps = s->k[0] * s->k[1] * s->k[2];
            if (s->tiles) {
                convt_tiles(s, cols, bias, yd + (b * s->cout + gi * og) * opix, gi * og);
                continue;
            }
            for (int64_t iz = 0; iz < s->in[0]; iz++)
                for (int64_t iy = 0; iy < s->in[1]; iy++) {
                    const float *crow = cols + (iz * s->in[1] + iy) * s->in[2] * s->cols;
                    for (int64_t co = 0; co < og; co++) {
                        float *yc = yd + (b * s->cout + gi * og + co) * opix;
                        for (int64_t kz = 0; kz < s->k[0]; kz++) {
                            int64_t oz = iz * s->s[0] - s->pb[0] + kz * s->d[0];
                            if (oz < 0 || oz >= s->out[0])
                                continue;
                            for (int64_t ky = 0; ky < s->k[1]; ky++) {
                                int64_t oy = iy * s->s[1] - s->pb[1] + ky * s->d[1];
                                if (oy < 0 || oy >= s->out[1])
                                    continue;
                                float *row = yc + (oz * s->out[1] + oy) * s->out[2];
                                const float *cp = crow + co * ktaps + (kz * s->k[1] + ky) * s->k[2];
                                for (int64_t ix = 0; ix < s->in[2]; ix++, cp += s->cols)
                                    for (int64_t kx = 0; kx < s->k[2]; kx++) {
                                        int64_t ox = ix * s->s[2] - s->pb[2] + kx * s->d[2];
                                        if (ox >= 0 && ox < s->out[2])
                                            row[ox] += cp[kx];
                                    }
                            }
                        }
                    }
                }
        }
    }
}

static int64_t convt_macs(const qb_graph *g, const qb_node *n)
{
    (void)g;
    const convt_state *s = n->state;
    return s ? s->n * s->pix * (s->cin / s->group) * s->cols * s->group : 0;
}

const qb_opdef qb_ops_convt[] = {
    {"ConvTranspose", convt_prepare, convt_run, convt_macs, 0, 0},
    {NULL, NULL, NULL, NULL, 0, 0},
};
