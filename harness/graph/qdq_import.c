/*
 * qdq_import.c - the fusion pass run when a model is loaded: Conv, Gemm
 * and MatMul layers written as quantized patterns get a qspec (n->q) whose
 * integers come straight from the file, so they run on the integer
 * kernels (harness/graph/qlayer.c). The Q/DQ nodes stay in the graph
 * (QuantizeLinear(DequantizeLinear(q)) == q, so they change no value),
 * except the QuantizeLinear -> DequantizeLinear pair right after a fused
 * int8 layer, which is dropped (the layer writes its output itself, on
 * the same grid): the graph then has the structure of the in-memory
 * quantized graph, so exec chooses the same NHWC/NCHW layouts between
 * convolutions and fp32 layers of mixed plans sum in the same order.
 *
 * Patterns (anything else stays float: correct, only not on the integer
 * kernels):
 *   int8   input 0 = DequantizeLinear(QuantizeLinear(X)) with equal scalar
 *          scale and zero point (int8, or uint8 mapped to int8 by -128);
 *          weights = DequantizeLinear(int8 constant in [-127, 127],
 *          constant scale: one, or one per output channel on the output
 *          axis; zero points 0); bias absent, DequantizeLinear(int32
 *          constant) (used as is when its scale is s_in*s_w, else
 *          requantized) or a float constant (rne(b / (s_in*s_w)));
 *          the output, or the output of its only consumer when that is a
 *          Relu or Clip, read by exactly one QuantizeLinear (scalar scale
 *          and zero point) -> the output scale and zero point. Gemm with
 *          alpha = beta = 1.
 *   fp16   weights = Cast(to=FLOAT) of a constant whose values are all
 *          binary16 numbers (a float16 initializer).
 *   int4   weights = com.qbench.DequantizeInt4 of constants; input 0 as
 *          for int8. Not for depthwise convs (they run int8 in qbench);
 *          groups only where K is the input channels (1x1 convs, Gemm).
 *   binary weights = com.qbench.DequantizeBinary of constants with
 *          alpha >= 0; input 0 = com.qbench.BinarizeInput(X): the layer
 *          reads X itself with in_shift = threshold, a Conv taking over
 *          BinarizeInput's pads (the Conv's own must be 0); the
 *          BinarizeInput node is removed when nothing else reads it.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness/graph/qdq.h"
#include "harness/qmath/quant.h"
#include "harness/graph/ops.h"


enum { L_CONV, L_GEMM, L_MATMUL };

#define NODE(g, i) (&(g)->nodes[(i)])

/* Tensor t when it is a constant with data, else NULL. */
static const qb_tensor *cst(const qb_graph *g, int t)
{
    return t >= 0 && g->tensors[t]->kind == QB_T_CONST && g->tensors[t]->data ? g->tensors[t] : NULL;
}

/* Node input i as a tensor index, or -1. */
static int in_of(const qb_node *n, int i) { return i < n->nin ? n->in[i] : -1; }

static int producer(const qb_graph *g, int t) { return t >= 0 ? g->tensors[t]->producer : -1; }

static int is_op(const qb_graph *g, int ni, const char *op)
{
    return ni >= 0 && !strcmp(NODE(g, ni)->op, op);
}

/* One scalar float constant. */
static int cst_scalar_f(const qb_graph *g, int t, float *v)
{
    const qb_tensor *c = cst(g, t);
    if (!c || c->dtype != QB_DT_FLOAT || qb_tensor_count(c) != 1)
        return -1;
    *v = *(const float *)c->data;
    return isfinite(*v) && *v > 0 ? 0 : -1;
}

/* The zero point of a Quantize/DequantizeLinear: input 2 (scalar int8 or
 * uint8) or, absent, 0 of type dflt. *dt gets the type. */
static int zero_point(const qb_graph *g, const qb_node *n, qb_dtype dflt, qb_dtype *dt, int32_t *z)
{
    int t = in_of(n, 2);
    if (t < 0) {
        *dt = dflt, *z = 0;
        return 0;
    }
    const qb_tensor *c = cst(g, t);
    if (!c || qb_tensor_count(c) != 1 || (c->dtype != QB_DT_INT8 && c->dtype != QB_DT_UINT8))
        return -1;
    *dt = c->dtype;
    *z = c->dtype == QB_DT_INT8 ? *(const int8_t *)c->data : *(const uint8_t *)c->data;
    return 0;
}

/* QuantizeLinear node qi's scale and zero point mapped to int8. */
static int quant_params(const qb_graph *g, int qi, float *s, int32_t *z, qb_dtype *dt)
{
    const qb_node *q = NODE(g, qi);
    int64_t od = qb_attr_int(q, "output_dtype", 0);
    if (cst_scalar_f(g, in_of(q, 1), s) || zero_point(g, q, od == QB_DT_INT8 ? QB_DT_INT8 : QB_DT_UINT8, dt, z))
        return -1;
    if (od && od != (int64_t)*dt)
        return -1;
    return 0;
}

static int32_t to_int8_zero(qb_dtype dt, int32_t z) { return dt == QB_DT_UINT8 ? z - 128 : z; }

/* x = DequantizeLinear(QuantizeLinear(X)) with the same scalar parameters. */
static int act_qdq(const qb_graph *g, int x, float *s, int32_t *z)
{
    int di = producer(g, x);
    if (!is_op(g, di, "DequantizeLinear"))
        return -1;
    int qi = producer(g, in_of(NODE(g, di), 0));
    if (!is_op(g, qi, "QuantizeLinear"))
        return -1;
    float qs, ds;
    int32_t qz, dz;
    qb_dtype qt, dt;
    if (quant_params(g, qi, &qs, &qz, &qt) || cst_scalar_f(g, in_of(NODE(g, di), 1), &ds) ||
        zero_point(g, NODE(g, di), qt, &dt, &dz) || dt != qt || dz != qz || ds != qs)
        return -1;
    *s = qs;
    *z = to_int8_zero(qt, qz);
    return 0;
}

/* Consumers of t: count, and the first one's node index. */
static int consumers(const qb_graph *g, int t, int *first)
{
    int c = 0;
    *first = -1;
    for (int i = 0; i < g->nnodes; i++)
        for (int j = 0; j < g->nodes[i].nin; j++)
            if (g->nodes[i].in[j] == t) {
                if (*first < 0)
                    *first = i;
                c++;
            }
    for (int i = 0; i < g->noutputs; i++)
        if (g->outputs[i] == t)
            return c + 100; /* a graph output: never "only one consumer" */
    return c;
}

/* The output parameters: out (or its only Relu/Clip consumer's output)
 * read only by a QuantizeLinear. */
static int out_q(const qb_graph *g, const qb_node *n, float *s, int32_t *z)
{
    int t = n->out[0], c;
    if (t < 0 || consumers(g, t, &c) != 1)
        return -1;
    if (is_op(g, c, "Relu") || is_op(g, c, "Clip")) {
        const qb_node *a = NODE(g, c);
        for (int j = 1; j < a->nin; j++)
            if (a->in[j] >= 0 && !cst(g, a->in[j]))
                return -1;
        t = a->out[0];
        if (t < 0 || consumers(g, t, &c) != 1)
            return -1;
    }
    qb_dtype dt;
    if (!is_op(g, c, "QuantizeLinear") || in_of(NODE(g, c), 0) != t || quant_params(g, c, s, z, &dt))
        return -1;
    *z = to_int8_zero(dt, *z);
    return 0;
}

/* Layer geometry from the weight shape: N x K, whether the file's
 * matrix is [K, N] (transposed against the node's [N x K] order). */
typedef struct geom {
    int kind;          /* L_CONV, L_GEMM, L_MATMUL */
    int64_t n, k;      /* N x K */
    int transposed;    /* the weights are stored [K, N] */
    int out_axis;      /* axis of the output channels in the stored weights */
    int depthwise;     /* Conv with one input channel per group and groups > 1 */
    int taps;          /* Conv: K is more than the input channels (spatial taps) */
} geom;

static int geometry(const qb_node *n, int ndim, const int64_t *dims, geom *gm)
{
    memset(gm, 0, sizeof *gm);
    gm->kind = !strcmp(n->op, "Conv") ? L_CONV : !strcmp(n->op, "Gemm") ? L_GEMM : L_MATMUL;
    int64_t cnt = qb_shape_count(ndim, dims);
    if (cnt <= 0 || ndim < 2 || (gm->kind != L_CONV && ndim != 2) || (gm->kind == L_CONV && ndim < 3))
        return -1;
    if (gm->kind == L_CONV) {
        gm->n = dims[0], gm->k = cnt / dims[0];
        gm->depthwise = qb_attr_int(n, "group", 1) > 1 && dims[1] == 1;
        gm->taps = gm->k != dims[1];
    } else if (gm->kind == L_GEMM && qb_attr_int(n, "transB", 0)) {
        gm->n = dims[0], gm->k = dims[1];
    } else {
        gm->n = dims[1], gm->k = dims[0], gm->transposed = 1, gm->out_axis = 1;
    }
    return gm->n > 0 && gm->k > 0 && gm->n < (1 << 28) && gm->k < (1 << 28) ? 0 : -1;
}

/* Element (r, c) of the node's [N x K] order in the stored weights. */
static int64_t w_at(const geom *gm, int64_t r, int64_t c) { return gm->transposed ? c * gm->n + r : r * gm->k + c; }

/* Gemm's alpha (and beta when the bias is replaced) must be 1. */
static int unit_scales(const qb_node *n, int beta_too)
{
    return strcmp(n->op, "Gemm") ||
           (qb_attr_float(n, "alpha", 1.0f) == 1.0f && (!beta_too || qb_attr_float(n, "beta", 1.0f) == 1.0f));
}

/* The bias input (Conv, Gemm C) is what a quantized layer can take: absent,
 * or a constant (or DequantizeLinear of constants) holding one value per
 * output column (qlayer.c refuses the rest at prepare). */
static int bias_ok(const qb_graph *g, const qb_node *n, int64_t N)
{
    int t = strcmp(n->op, "MatMul") ? in_of(n, 2) : -1;
    if (t < 0)
        return 1;
    const qb_tensor *c = cst(g, t);
    if (!c) {
        int p = producer(g, t);
        if (!is_op(g, p, "DequantizeLinear"))
            return 0;
        for (int j = 0; j < NODE(g, p)->nin; j++)
            if (NODE(g, p)->in[j] >= 0 && !cst(g, NODE(g, p)->in[j]))
                return 0;
        c = cst(g, in_of(NODE(g, p), 0));
    }
    int64_t cnt = qb_tensor_count(c);
    if (!strcmp(n->op, "Conv"))
        return c->ndim == 1 && cnt == N;
    return (cnt == N || cnt == 1) && (c->ndim <= 1 || (c->ndim == 2 && c->dims[0] == 1));
}

/* ---- int8 ---- */

/* After fusing int8 layer ni: its written tensor's QuantizeLinear ->
 * DequantizeLinear pair changes no value (the layer's output already lies
 * on that grid, unless prepare widens the output scale), so it is dropped
 * and the layer writes the DequantizeLinear's output itself: the graph
 * then has the in-memory quantized graph's structure, and exec keeps the
 * same layouts between convolutions (fp32 neighbours of mixed plans
 * compute in the same order). Marked in kill; the producer rewired by
 * qb_qdq_fuse once every layer is fused. */
typedef struct drop_pair {
    int written;  /* the tensor the layer (or its Relu/Clip) writes */
    int dq_out;   /* the DequantizeLinear output that replaces it */
} drop_pair;

static void mark_output_pair(qb_graph *g, int ni, char *kill, drop_pair *dp, int *ndp)
{
    const qb_node *n = NODE(g, ni);
    const qb_qspec *q = n->q;
    double smax = 0;
    for (int i = 0; i < q->nwscale; i++)
        smax = fmax(smax, (double)q->in_scale * q->wscale[i]);
    if (smax >= q->out_scale)
        return; /* prepare widens the output scale: the pair requantizes */
    int t = n->out[0], c;
    consumers(g, t, &c);
    if (is_op(g, c, "Relu") || is_op(g, c, "Clip"))
        t = NODE(g, c)->out[0];
    int qi, di;
    if (consumers(g, t, &qi) != 1 || !is_op(g, qi, "QuantizeLinear") || NODE(g, qi)->out[0] < 0 ||
        consumers(g, NODE(g, qi)->out[0], &di) != 1 || !is_op(g, di, "DequantizeLinear") || NODE(g, di)->nout < 1 ||
        NODE(g, di)->out[0] < 0 || in_of(NODE(g, di), 0) != NODE(g, qi)->out[0])
        return;
    float s;
    int32_t z;
    if (act_qdq(g, NODE(g, di)->out[0], &s, &z) || s != q->out_scale || z != q->out_zero)
        return;
    for (int j = 1; j < NODE(g, qi)->nout; j++)
        if (NODE(g, qi)->out[j] >= 0)
            return;
    kill[qi] = kill[di] = 1;
    dp[*ndp].written = t;
    dp[*ndp].dq_out = NODE(g, di)->out[0];
    (*ndp)++;
}

static int fuse_int8(qb_graph *g, int ni, int di)
{
    const qb_node *n = NODE(g, ni), *d = NODE(g, di);
    const qb_tensor *W = cst(g, in_of(d, 0)), *S = cst(g, in_of(d, 1)), *Z = in_of(d, 2) >= 0 ? cst(g, in_of(d, 2)) : NULL;
    geom gm;
    if (!W || !S || W->dtype != QB_DT_INT8 || S->dtype != QB_DT_FLOAT || (in_of(d, 2) >= 0 && !Z) ||
        geometry(n, W->ndim, W->dims, &gm) || !unit_scales(n, 1) || !bias_ok(g, n, gm.n))
        return 0;
    int64_t ns = qb_tensor_count(S);
    if (ns != 1) {
        int axis = qb_axis(qb_attr_int(d, "axis", 1), W->ndim);
        if (ns != gm.n || S->ndim != 1 || axis != gm.out_axis)
            return 0;
    }
    if (Z && (Z->dtype != QB_DT_INT8 || qb_tensor_count(Z) != ns))
        return 0;
    for (int64_t i = 0; Z && i < ns; i++)
        if (((const int8_t *)Z->data)[i])
            return 0;
    const float *sc = S->data;
    for (int64_t i = 0; i < ns; i++)
        if (!(sc[i] > 0) || !isfinite(sc[i]))
            return 0;
    const int8_t *wv = W->data;
    for (int64_t i = 0; i < gm.n * gm.k; i++)
        if (wv[i] == -128)
            return 0;
    float s_in, s_out;
    int32_t z_in, z_out;
    if (act_qdq(g, in_of(n, 0), &s_in, &z_in) || out_q(g, n, &s_out, &z_out))
        return 0;
    /* the bias in accumulator units */
    int32_t *bq = calloc((size_t)gm.n, sizeof *bq);
    if (!bq)
        return 0;
    int bt = gm.kind == L_MATMUL ? -1 : in_of(n, 2), ok = 1;
    if (bt >= 0) {
        int bp = producer(g, bt);
        const qb_tensor *B = NULL, *BS = NULL;
        if (is_op(g, bp, "DequantizeLinear")) {
            const qb_node *bd = NODE(g, bp);
            B = cst(g, in_of(bd, 0)), BS = cst(g, in_of(bd, 1));
            const qb_tensor *BZ = in_of(bd, 2) >= 0 ? cst(g, in_of(bd, 2)) : NULL;
            ok = B && BS && B->dtype == QB_DT_INT32 && BS->dtype == QB_DT_FLOAT && qb_tensor_count(B) == gm.n &&
                 (qb_tensor_count(BS) == 1 || qb_tensor_count(BS) == gm.n) && (in_of(bd, 2) < 0 || BZ);
            for (int64_t i = 0; ok && BZ && i < qb_tensor_count(BZ); i++)
                ok = BZ->dtype == QB_DT_INT32 && ((const int32_t *)BZ->data)[i] == 0;
        } else {
            B = cst(g, bt);
            ok = B && B->dtype == QB_DT_FLOAT && (qb_tensor_count(B) == gm.n || qb_tensor_count(B) == 1);
        }
        for (int64_t i = 0; ok && i < gm.n; i++) {
            float sw = sc[ns == 1 ? 0 : i], acc = s_in * sw;
            if (BS) {
                int32_t v = ((const int32_t *)B->data)[i];
                float bs = ((const float *)BS->data)[qb_tensor_count(BS) == 1 ? 0 : i];
                if (bs == acc) {
                    bq[i] = v;
                    continue;
                }
                double r = nearbyint((double)((float)v * bs) / ((double)s_in * sw));
                ok = fabs(r) <= 2147483647.0;
                bq[i] = ok ? (int32_t)r : 0;
            } else {
                float b = ((const float *)B->data)[qb_tensor_count(B) == 1 ? 0 : i];
                double r = nearbyint((double)b / ((double)s_in * sw));
                ok = isfinite(b) && fabs(r) <= 2147483647.0;
                bq[i] = ok ? (int32_t)r : 0;
            }
        }
    }
    qb_qspec *q = ok ? qb_qspec_new(ns == 1 ? QB_PREC_INT8_TENSOR : QB_PREC_INT8_CHANNEL) : NULL;
    if (q) {
        q->wq = malloc((size_t)(gm.n * gm.k));
        q->wscale = malloc((size_t)ns * sizeof(float));
    }
    if (!q || !q->wq || !q->wscale) {
        qb_qspec_free(q);
        free(bq);
        return 0;
    }
    for (int64_t r = 0; r < gm.n; r++)
        for (int64_t c = 0; c < gm.k; c++)
            q->wq[r * gm.k + c] = wv[w_at(&gm, r, c)];
    memcpy(q->wscale, sc, (size_t)ns * sizeof(float));
    q->nwscale = (int)ns;
    q->nwq = gm.n * gm.k;
    q->bias_q = bq;
    q->nbias_q = bq ? (int)gm.n : 0;
    q->in_scale = s_in, q->in_zero = z_in, q->out_scale = s_out, q->out_zero = z_out;
    NODE(g, ni)->q = q;
    return 1;
}

/* ---- fp16 ---- */
static int fuse_fp16(qb_graph *g, int ni, int ci)
{
    const qb_node *c = NODE(g, ci);
    const qb_tensor *W = cst(g, in_of(c, 0));
    if (qb_attr_int(c, "to", 0) != QB_DT_FLOAT || !W || W->dtype != QB_DT_FLOAT || !unit_scales(NODE(g, ni), 0))
        return 0;
    const float *w = W->data;
    for (int64_t i = 0; i < qb_tensor_count(W); i++)
        if (qb_f16_to_f32(qb_f32_to_f16(w[i])) != w[i])
            return 0;
    geom gm;
    if (geometry(NODE(g, ni), W->ndim, W->dims, &gm) || !bias_ok(g, NODE(g, ni), gm.n))
        return 0;
    NODE(g, ni)->q = qb_qspec_new(QB_PREC_FP16);
    return NODE(g, ni)->q != NULL;
}

/* Shared checks of the com.qbench weight decoders against the layer:
 * rows N = input 0's rows, the shape attribute the weights' layout. */
static int decoder_geom(const qb_graph *g, const qb_node *n, const qb_node *d, int per_byte, geom *gm)
{
    const qb_tensor *P = cst(g, in_of(d, 0));
    const int64_t *shape;
    int nd = qb_attr_ints(d, "shape", &shape);
    if (!P || P->dtype != QB_DT_UINT8 || P->ndim != 2 || nd < 2 || nd > QB_MAX_DIMS || geometry(n, nd, shape, gm))
        return -1;
    int tr = qb_attr_int(d, "transpose", 0) != 0;
    if (tr != gm->transposed || P->dims[0] != gm->n || P->dims[1] != (gm->k + per_byte - 1) / per_byte)
        return -1;
    return gm->depthwise || !unit_scales(n, 0) || !bias_ok(g, n, gm->n) ? -1 : 0;
}

/* ---- int4 ---- */
static int fuse_int4(qb_graph *g, int ni, int di)
{
    const qb_node *n = NODE(g, ni), *d = NODE(g, di);
    geom gm;
    if (decoder_geom(g, n, d, 2, &gm))
        return 0;
    const qb_tensor *P = cst(g, in_of(d, 0)), *S = cst(g, in_of(d, 1));
    int64_t grp = qb_attr_int(d, "group", 0);
    if (grp < 0 || grp >= gm.k)
        grp = 0;
    if (grp && grp < gm.k && gm.kind == L_CONV && gm.taps)
        return 0; /* groups along a K that NHWC reorders: not what qlayer computes */
    int ng = qb_int4_ngroups((int)gm.k, (int)grp);
    if (!S || S->dtype != QB_DT_FLOAT || S->ndim != 2 || S->dims[0] != gm.n || S->dims[1] != ng)
        return 0;
    float s_in;
    int32_t z_in;
    if (act_qdq(g, in_of(n, 0), &s_in, &z_in))
        return 0;
    qb_qspec *q = qb_qspec_new(QB_PREC_INT4);
    if (q) {
        q->wq = malloc((size_t)(gm.n * gm.k));
        q->wscale = malloc((size_t)(gm.n * ng) * sizeof(float));
    }
    if (!q || !q->wq || !q->wscale) {
        qb_qspec_free(q);
        return 0;
    }
    const uint8_t *pk = P->data;
    for (int64_t r = 0; r < gm.n; r++)
        for (int64_t c = 0; c < gm.k; c++) {
            int v = (c & 1 ? pk[r * P->dims[1] + c / 2] >> 4 : pk[r * P->dims[1] + c / 2]) & 15;
            q->wq[r * gm.k + c] = (int8_t)(v >= 8 ? v - 16 : v);
        }
    memcpy(q->wscale, S->data, (size_t)(gm.n * ng) * sizeof(float));
    q->nwscale = (int)(gm.n * ng);
    q->nwq = gm.n * gm.k;
    q->group = (int)grp;
    q->in_scale = s_in, q->in_zero = z_in;
    NODE(g, ni)->q = q;
    return 1;
}

/* ---- binary ---- */
static int fuse_binary(qb_graph *g, int ni, int di, char *kill)
{
    const qb_node *n = NODE(g, ni), *d = NODE(g, di);
    geom gm;
    if (decoder_geom(g, n, d, 8, &gm))
        return 0;
    const qb_tensor *A = cst(g, in_of(d, 1));
    if (!A || A->dtype != QB_DT_FLOAT || A->ndim != 1 || A->dims[0] != gm.n)
        return 0;
    const float *alpha = A->data;
    for (int64_t i = 0; i < gm.n; i++)
        if (!(alpha[i] >= 0) || !isfinite(alpha[i]))
            return 0;
    int bi = producer(g, in_of(n, 0));
    if (!is_op(g, bi, "BinarizeInput") || !NODE(g, bi)->domain || in_of(NODE(g, bi), 0) < 0)
        return 0;
    const qb_node *b = NODE(g, bi);
    const int64_t *bp, *cp;
    int nbp = qb_attr_ints(b, "pads", &bp), ncp = qb_attr_ints(n, "pads", &cp);
    for (int i = 0; i < ncp; i++)
        if (cp[i])
            return 0;
    const char *ap = qb_attr_str(n, "auto_pad", "NOTSET");
    if (gm.kind == L_CONV && strcmp(ap, "NOTSET") && strcmp(ap, "VALID"))
        return 0;
    int any_pad = 0;
    for (int i = 0; i < nbp; i++)
        any_pad |= bp[i] != 0;
    const int64_t *shape;
    int nd = qb_attr_ints(d, "shape", &shape);
    if (any_pad && (gm.kind != L_CONV || nbp != 2 * (nd - 2)))
        return 0;
    qb_qspec *q = qb_qspec_new(QB_PREC_BINARY);
    if (q)
        q->wscale = malloc((size_t)gm.n * sizeof(float));
    if (!q || !q->wscale) {
        qb_qspec_free(q);
        return 0;
    }
    memcpy(q->wscale, alpha, (size_t)gm.n * sizeof(float));
    q->nwscale = (int)gm.n;
    q->in_shift = qb_attr_float(b, "threshold", 0.0f);
    int x = in_of(b, 0), bout = b->out[0];
    int64_t pads[2 * QB_MAX_DIMS];
    int np = nbp > 0 && nbp <= 2 * QB_MAX_DIMS ? nbp : 0;
    memcpy(pads, bp, (size_t)np * sizeof *pads);
    qb_node *nn = NODE(g, ni);
    nn->q = q;
    nn->in[0] = x;
    if (any_pad) {
        qb_attr *a = qb_qdq_attr(nn, "pads", QB_ATTR_INTS);
        a->n = np;
        a->ints = calloc((size_t)np + 1, sizeof(int64_t));
        if (a->ints)
            memcpy(a->ints, pads, (size_t)np * sizeof *pads);
        else
            a->n = 0;
        if (qb_node_attr(nn, "auto_pad"))
            qb_qdq_attr(nn, "auto_pad", QB_ATTR_STRING)->s = strdup("NOTSET");
    }
    int first;
    if (consumers(g, bout, &first) == 0)
        kill[bi] = 1;
    return 1;
}

/* After fusion: a QuantizeLinear -> DequantizeLinear pair in front of
 * fused layers only, all quantizing their input with the pair's own
 * parameters, changes no value either (each layer quantizes X itself,
 * and Q(DQ(Q(X))) = Q(X)): the layers read X and the pair goes. */
static void drop_input_pairs(qb_graph *g, char *kill)
{
    for (int di = 0; di < g->nnodes; di++) {
        if (kill[di] || !is_op(g, di, "DequantizeLinear") || g->nodes[di].nout < 1 || g->nodes[di].out[0] < 0)
            continue;
        int y = g->nodes[di].out[0], qi = producer(g, in_of(&g->nodes[di], 0)), first;
        float s;
        int32_t z;
        if (qi < 0 || kill[qi] || act_qdq(g, y, &s, &z) || consumers(g, g->nodes[qi].out[0], &first) != 1)
            continue;
        int ok = 1, users = 0;
        for (int i = 0; i < g->nnodes && ok; i++)
            for (int j = 0; j < g->nodes[i].nin; j++)
                if (g->nodes[i].in[j] == y) {
                    const qb_qspec *q = g->nodes[i].q;
                    ok &= j == 0 && q && qb_precision_traits_of(q->prec)->act == QB_ACT_I8 &&
                          q->in_scale == s && q->in_zero == z;
                    users++;
                }
        for (int i = 0; i < g->noutputs; i++)
            ok &= g->outputs[i] != y;
        if (!ok || !users || g->nodes[qi].nout > 1)
            continue;
        int x = in_of(&g->nodes[qi], 0);
        for (int i = 0; i < g->nnodes; i++)
            if (g->nodes[i].nin > 0 && g->nodes[i].in[0] == y)
                g->nodes[i].in[0] = x;
        kill[qi] = kill[di] = 1;
    }
}

int qb_qdq_fuse(qb_graph *g, qb_err *e)
{
    char *kill = calloc((size_t)g->nnodes + 1, 1);
    if (!kill) {
        qb_errf(e, "%s: out of memory", g->file);
        return -1;
    }
    int fused = 0, ndp = 0;
    drop_pair *dp = calloc((size_t)g->nnodes + 1, sizeof *dp);
    if (!dp) {
        free(kill);
        qb_errf(e, "%s: out of memory", g->file);
        return -1;
    }
    for (int i = 0; i < g->nnodes; i++) {
        qb_node *n = &g->nodes[i];
        if (n->q || n->nin < 2 || n->nout < 1 || n->out[0] < 0 ||
            (strcmp(n->op, "Conv") && strcmp(n->op, "Gemm") && strcmp(n->op, "MatMul")))
            continue;
        int p = producer(g, n->in[1]);
        if (p < 0)
            continue;
        const qb_node *d = NODE(g, p);
        if (!strcmp(d->op, "DequantizeLinear")) {
            if (fuse_int8(g, i, p)) {
                fused++;
                mark_output_pair(g, i, kill, dp, &ndp);
            }
        } else if (!strcmp(d->op, "Cast")) {
            fused += fuse_fp16(g, i, p);
        } else if (!strcmp(d->op, "DequantizeInt4") && d->domain) {
            fused += fuse_int4(g, i, p);
        } else if (!strcmp(d->op, "DequantizeBinary") && d->domain) {
            fused += fuse_binary(g, i, p, kill);
        }
    }
    for (int k = 0; k < ndp; k++) { /* the layer writes the dropped pair's output */
        int slot = 0, p = qb_qdq_producer(g, dp[k].written, &slot);
        if (p >= 0)
            g->nodes[p].out[slot] = dp[k].dq_out;
    }
    free(dp);
    drop_input_pairs(g, kill);
    int nk = 0;
    for (int i = 0; i < g->nnodes; i++)
        nk += kill[i];
    if (nk) {
        qb_qdq_remove(g, kill);
        free(kill);
        return qb_graph_sort(g, e) ? -1 : fused;
    }
    free(kill);
    return fused;
}
