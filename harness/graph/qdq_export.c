/*
 * qdq_export.c - a prepared quantized graph as an ONNX model (layout in
 * qdq.h). The prepared graph is first written as a plain float model
 * (BatchNormalization folded, folded constants as initializers) and read
 * back; each layer that ran quantized is then rewritten around the
 * integers its qspec holds (weights, scales, zero points, int32 biases),
 * so that the fusion pass (qdq_import.c) gives the same qspecs back and a
 * reloaded model computes bit-identical outputs.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/graph/qdq.h"
#include "harness/qmath/quant.h"

enum { L_CONV, L_GEMM, L_MATMUL };

/* One layer being rewritten. */
typedef struct layer {
    int node;        /* its index in the reloaded graph */
    int kind;        /* L_CONV, L_GEMM, L_MATMUL */
    int trans_b;     /* Gemm transB */
    int64_t n, k;    /* weight matrix N x K */
    int w;           /* weight tensor */
    const qb_node *pn; /* the node in the prepared graph */
    const qb_graph *pg; /* the prepared graph */
} layer;

/* A QuantizeLinear -> DequantizeLinear pair already written on a tensor. */
typedef struct qdq_pair {
    int src, dq;     /* the float tensor quantized, the DequantizeLinear output */
    float s;         /* scale */
    int32_t z;       /* int8 zero point */
} qdq_pair;

typedef struct qdq_cache {
    qdq_pair *p;     /* pairs */
    int n, cap;      /* count, capacity */
} qdq_cache;

#define NODE(g, i) (&(g)->nodes[(i)])

/* The live node of the prepared graph named name with op op, or NULL. */
static const qb_node *prepared_node(const qb_graph *pg, const char *name, const char *op)
{
    for (int i = 0; i < pg->nnodes; i++)
        if (!pg->nodes[i].folded && !strcmp(pg->nodes[i].name, name) && !strcmp(pg->nodes[i].op, op))
            return &pg->nodes[i];
    return NULL;
}

static int scalar_f(const qb_graph *g, int t, float *v)
{
    if (t < 0 || g->tensors[t]->kind != QB_T_CONST || g->tensors[t]->dtype != QB_DT_FLOAT ||
        qb_tensor_count(g->tensors[t]) != 1)
        return -1;
    *v = *(const float *)g->tensors[t]->data;
    return 0;
}

static int scalar_i8(const qb_graph *g, int t, int32_t *v)
{
    if (t < 0 || g->tensors[t]->kind != QB_T_CONST || g->tensors[t]->dtype != QB_DT_INT8 ||
        qb_tensor_count(g->tensors[t]) != 1)
        return -1;
    *v = *(const int8_t *)g->tensors[t]->data;
    return 0;
}

/* x already holds DequantizeLinear(QuantizeLinear(.)) with (s, z) in int8. */
static int is_qdq_of(const qb_graph *g, int x, float s, int32_t z)
{
    int d = qb_qdq_producer(g, x, NULL);
    if (d < 0 || strcmp(NODE(g, d)->op, "DequantizeLinear") || NODE(g, d)->nin < 3)
        return 0;
    float ds;
    int32_t dz;
    if (scalar_f(g, NODE(g, d)->in[1], &ds) || scalar_i8(g, NODE(g, d)->in[2], &dz) || ds != s || dz != z)
        return 0;
    int q = qb_qdq_producer(g, NODE(g, d)->in[0], NULL);
    if (q < 0 || strcmp(NODE(g, q)->op, "QuantizeLinear") || NODE(g, q)->nin < 3)
        return 0;
    return !scalar_f(g, NODE(g, q)->in[1], &ds) && !scalar_i8(g, NODE(g, q)->in[2], &dz) && ds == s && dz == z;
}

/* Scalar scale and int8 zero-point constants named after base. */
static void qparam_consts(qb_graph *g, const char *base, float s, int32_t z, int *ts, int *tz)
{
    *ts = qb_qdq_tensor(g, base, "_scale", QB_DT_FLOAT, 0, NULL, 1);
    *(float *)g->tensors[*ts]->data = s;
    *tz = qb_qdq_tensor(g, base, "_zero_point", QB_DT_INT8, 0, NULL, 1);
    *(int8_t *)g->tensors[*tz]->data = (int8_t)z;
}

/* QuantizeLinear(src) -> DequantizeLinear -> dst (dst < 0: a new tensor). Returns dst. */
static int add_qdq(qb_graph *g, int src, int dst, float s, int32_t z, const char *base)
{
    char nm[600];
    int ts, tz;
    qparam_consts(g, base, s, z, &ts, &tz);
    int tq = qb_qdq_tensor(g, base, "_quantized", QB_DT_INT8, 0, NULL, 0);
    if (dst < 0)
        dst = qb_qdq_tensor(g, base, "_dequantized", QB_DT_FLOAT, 0, NULL, 0);
    snprintf(nm, sizeof nm, "%.500s_QuantizeLinear", base);
    int qi = qb_qdq_node(g, "QuantizeLinear", NULL, nm, 3, 1);
    qb_node *q = NODE(g, qi);
    q->in[0] = src, q->in[1] = ts, q->in[2] = tz, q->out[0] = tq;
    snprintf(nm, sizeof nm, "%.500s_DequantizeLinear", base);
    int di = qb_qdq_node(g, "DequantizeLinear", NULL, nm, 3, 1);
    qb_node *d = NODE(g, di);
    d->in[0] = tq, d->in[1] = ts, d->in[2] = tz, d->out[0] = dst;
    return dst;
}

/* The layer's input 0 as DequantizeLinear(QuantizeLinear(x)) with (s, z). */
static void input_qdq(qb_graph *g, const layer *L, float s, int32_t z, qdq_cache *c)
{
    int x = NODE(g, L->node)->in[0];
    if (is_qdq_of(g, x, s, z))
        return;
    for (int i = 0; i < c->n; i++)
        if (c->p[i].src == x && c->p[i].s == s && c->p[i].z == z) {
            NODE(g, L->node)->in[0] = c->p[i].dq;
            return;
        }
    char base[600];
    snprintf(base, sizeof base, "%.500s", g->tensors[x]->name);
    int dq = add_qdq(g, x, -1, s, z, base);
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 16;
        c->p = qb_xrealloc(c->p, (size_t)c->cap * sizeof *c->p);
    }
    c->p[c->n++] = (qdq_pair){.src = x, .dq = dq, .s = s, .z = z};
    NODE(g, L->node)->in[0] = dq;
}

/* The tensor the layer writes (after a fused activation, before an
 * element-wise chain run in its epilogue: that chain's input) gets its
 * float value from a new tensor through QuantizeLinear -> DequantizeLinear. */
static int output_qdq(qb_graph *g, const layer *L, float s, int32_t z, qb_err *e)
{
    const qb_node *pn = L->pn;
    int own = pn->epi_in >= 0 ? pn->epi_in : pn->write_to >= 0 ? pn->write_to : pn->out[0];
    const char *name = L->pg->tensors[own]->name;
    int t = qb_graph_find(g, name), slot = 0;
    int p = t >= 0 ? qb_qdq_producer(g, t, &slot) : -1;
    if (p < 0) {
        qb_errf(e, "%s: layer '%s': its output '%s' is missing in the re-read model", g->file, pn->name, name);
        return -1;
    }
    /* already followed by the same QuantizeLinear alone (a re-exported QDQ model): nothing to add */
    int readers = 0, qi = -1;
    for (int i = 0; i < g->nnodes; i++)
        for (int j = 0; j < g->nodes[i].nin; j++)
            if (g->nodes[i].in[j] == t)
                readers++, qi = i;
    float qs;
    int32_t qz;
    if (readers == 1 && !qb_node_attr(NODE(g, qi), "axis") && !strcmp(NODE(g, qi)->op, "QuantizeLinear") &&
        NODE(g, qi)->nin >= 3 && NODE(g, qi)->in[0] == t && !scalar_f(g, NODE(g, qi)->in[1], &qs) &&
        !scalar_i8(g, NODE(g, qi)->in[2], &qz) && qs == s && qz == z && qb_qdq_uses(g, t) == 1)
        return 0;
    int tf = qb_qdq_tensor(g, name, "_float", QB_DT_FLOAT, 0, NULL, 0);
    NODE(g, p)->out[slot] = tf;
    add_qdq(g, tf, t, s, z, name);
    return 0;
}

/* Gemm: alpha and beta are folded into what is written. */
static void gemm_unit_scales(qb_graph *g, int node)
{
    if (strcmp(NODE(g, node)->op, "Gemm"))
        return;
    qb_qdq_attr(NODE(g, node), "alpha", QB_ATTR_FLOAT)->f = 1.0f;
    qb_qdq_attr(NODE(g, node), "beta", QB_ATTR_FLOAT)->f = 1.0f;
}

/* The float weights as the layer packs them (Gemm: alpha * B), element (r, c) of N x K. */
static float weight_at(const qb_graph *g, const layer *L, int64_t r, int64_t c)
{
    const float *w = g->tensors[L->w]->data;
    float v = L->kind == L_CONV || (L->kind == L_GEMM && L->trans_b) ? w[r * L->k + c] : w[c * L->n + r];
    float alpha = L->kind == L_GEMM ? qb_attr_float(NODE(g, L->node), "alpha", 1.0f) : 1.0f;
    return alpha == 1.0f ? v : alpha * v;
}

/* Gemm float bias with beta folded (int4, binary, fp16): C' = beta * C. */
static void fold_beta(qb_graph *g, int node)
{
    qb_node *n = NODE(g, node);
    if (strcmp(n->op, "Gemm"))
        return;
    float beta = qb_attr_float(n, "beta", 1.0f);
    if (beta != 1.0f && n->nin > 2 && n->in[2] >= 0) {
        const qb_tensor *C = g->tensors[n->in[2]];
        int nc = qb_qdq_tensor(g, C->name, "_beta", QB_DT_FLOAT, C->ndim, C->dims, 1);
        C = g->tensors[NODE(g, node)->in[2]];
        float *d = g->tensors[nc]->data;
        for (int64_t i = 0; i < qb_tensor_count(C); i++)
            d[i] = beta * ((const float *)C->data)[i];
        NODE(g, node)->in[2] = nc;
    }
}

/* Weights of the original layout through a new node (op, domain) whose
 * output replaces input 1. */
static int weight_node(qb_graph *g, const layer *L, const char *op, const char *domain, int nin, const int *ins,
                       const char *suffix)
{
    char nm[600];
    snprintf(nm, sizeof nm, "%.500s_%s", NODE(g, L->node)->name, op);
    int wo = qb_qdq_tensor(g, g->tensors[L->w]->name, suffix, QB_DT_FLOAT, 0, NULL, 0);
    int di = qb_qdq_node(g, op, domain, nm, nin, 1);
    for (int i = 0; i < nin; i++)
        NODE(g, di)->in[i] = ins[i];
    NODE(g, di)->out[0] = wo;
    NODE(g, L->node)->in[1] = wo;
    return di;
}

static int export_fp16(qb_graph *g, const layer *L)
{
    const qb_tensor *W = g->tensors[L->w];
    int th = qb_qdq_tensor(g, W->name, "_f16", QB_DT_FLOAT16, W->ndim, W->dims, 1);
    uint16_t *h = g->tensors[th]->data;
    for (int64_t r = 0; r < L->n; r++)
        for (int64_t c = 0; c < L->k; c++) {
            int64_t at = L->kind == L_CONV || (L->kind == L_GEMM && L->trans_b) ? r * L->k + c : c * L->n + r;
            h[at] = qb_f32_to_f16(weight_at(g, L, r, c));
        }
    int ins[1] = {th};
    int ci = weight_node(g, L, "Cast", NULL, 1, ins, "_f32");
    qb_qdq_attr(NODE(g, ci), "to", QB_ATTR_INT)->i = QB_DT_FLOAT;
    fold_beta(g, L->node);
    gemm_unit_scales(g, L->node);
    return 0;
}

static int export_int8(qb_graph *g, const layer *L, qdq_cache *c, qb_err *e)
{
    const qb_qspec *q = L->pn->q;
    if (!q->wq || !q->wscale || !q->bias_q || (q->nwscale != 1 && q->nwscale != L->n)) {
        qb_errf(e, "%s: layer '%s': no int8 weights to export (prepare the graph first)", g->file, L->pn->name);
        return -1;
    }
    const qb_tensor *W = g->tensors[L->w];
    int64_t sd[1] = {L->n};
    int per_ch = q->nwscale != 1, natural = L->kind == L_CONV || (L->kind == L_GEMM && L->trans_b);
    int tw = qb_qdq_tensor(g, W->name, "_quantized", QB_DT_INT8, W->ndim, W->dims, 1);
    int8_t *wd = g->tensors[tw]->data;
    for (int64_t r = 0; r < L->n; r++)
        for (int64_t k = 0; k < L->k; k++)
            wd[natural ? r * L->k + k : k * L->n + r] = q->wq[r * L->k + k];
    int ts = qb_qdq_tensor(g, W->name, "_scale", QB_DT_FLOAT, per_ch, sd, 1);
    int tz = qb_qdq_tensor(g, W->name, "_zero_point", QB_DT_INT8, per_ch, sd, 1);
    memcpy(g->tensors[ts]->data, q->wscale, (size_t)q->nwscale * sizeof(float));
    int ins[3] = {tw, ts, tz};
    int di = weight_node(g, L, "DequantizeLinear", NULL, 3, ins, "_dequantized");
    if (per_ch)
        qb_qdq_attr(NODE(g, di), "axis", QB_ATTR_INT)->i = natural ? 0 : 1;
    /* bias: int32 in accumulator units */
    int any = 0;
    for (int64_t i = 0; i < L->n; i++)
        any |= q->bias_q[i] != 0;
    qb_node *n = NODE(g, L->node);
    int has_slot = n->nin > 2 && n->in[2] >= 0;
    if (any || has_slot) {
        if (L->kind == L_MATMUL) {
            qb_errf(e, "%s: layer '%s': a MatMul has no bias input for its nonzero int32 bias", g->file, L->pn->name);
            return -1;
        }
        char base[600];
        snprintf(base, sizeof base, "%.500s_bias", n->name);
        int tb = qb_qdq_tensor(g, base, "_quantized", QB_DT_INT32, 1, sd, 1);
        memcpy(g->tensors[tb]->data, q->bias_q, (size_t)L->n * sizeof(int32_t));
        int tbs = qb_qdq_tensor(g, base, "_scale", QB_DT_FLOAT, per_ch, sd, 1);
        float *bs = g->tensors[tbs]->data;
        for (int i = 0; i < q->nwscale; i++)
            bs[i] = q->in_scale * q->wscale[i];
        int tbo = qb_qdq_tensor(g, base, "_dequantized", QB_DT_FLOAT, 0, NULL, 0);
        char nm[620];
        snprintf(nm, sizeof nm, "%s_DequantizeLinear", base);
        int bi = qb_qdq_node(g, "DequantizeLinear", NULL, nm, 2, 1);
        NODE(g, bi)->in[0] = tb, NODE(g, bi)->in[1] = tbs, NODE(g, bi)->out[0] = tbo;
        if (per_ch)
            qb_qdq_attr(NODE(g, bi), "axis", QB_ATTR_INT)->i = 0;
        n = NODE(g, L->node);
        if (n->nin < 3) {
            n->in = qb_xrealloc(n->in, 3 * sizeof *n->in);
            n->in[2] = -1;
            n->nin = 3;
        }
        n->in[2] = tbo;
    }
    gemm_unit_scales(g, L->node);
    input_qdq(g, L, q->in_scale, q->in_zero, c);
    return output_qdq(g, L, q->out_scale, q->out_zero, e);
}

/* Shape attribute of the custom weight decoders: the weights' own shape,
 * and Gemm turned to transB=1 ([N, K]); MatMul keeps [K, N] transposed. */
static void decoder_shape(qb_graph *g, const layer *L, int di)
{
    const qb_tensor *W = g->tensors[L->w];
    qb_attr *a = qb_qdq_attr(NODE(g, di), "shape", QB_ATTR_INTS);
    a->n = W->ndim;
    a->ints = calloc((size_t)W->ndim + 1, sizeof(int64_t));
    for (int i = 0; i < W->ndim; i++)
        a->ints[i] = W->dims[i];
    if (L->kind == L_GEMM) {
        a->ints[0] = L->n, a->ints[1] = L->k;
        qb_qdq_attr(NODE(g, L->node), "transB", QB_ATTR_INT)->i = 1;
    }
    if (L->kind == L_MATMUL)
        qb_qdq_attr(NODE(g, di), "transpose", QB_ATTR_INT)->i = 1;
}

static int export_int4(qb_graph *g, const layer *L, qdq_cache *c, qb_err *e)
{
    const qb_qspec *q = L->pn->q;
    int ng = qb_int4_ngroups((int)L->k, q->group);
    if (!q->wq || !q->wscale || q->nwscale != L->n * ng) {
        qb_errf(e, "%s: layer '%s': no int4 weights to export (prepare the graph first)", g->file, L->pn->name);
        return -1;
    }
    const char *wname = g->tensors[L->w]->name;
    int64_t pd[2] = {L->n, (L->k + 1) / 2}, sd[2] = {L->n, ng};
    int tp = qb_qdq_tensor(g, wname, "_int4", QB_DT_UINT8, 2, pd, 1);
    uint8_t *p = g->tensors[tp]->data;
    for (int64_t r = 0; r < L->n; r++)
        for (int64_t k = 0; k < L->k; k++)
            p[r * pd[1] + k / 2] |= (uint8_t)((q->wq[r * L->k + k] & 15) << (k & 1 ? 4 : 0));
    int ts = qb_qdq_tensor(g, wname, "_scale", QB_DT_FLOAT, 2, sd, 1);
    memcpy(g->tensors[ts]->data, q->wscale, (size_t)q->nwscale * sizeof(float));
    int ins[2] = {tp, ts};
    int di = weight_node(g, L, "DequantizeInt4", QB_QDQ_DOMAIN, 2, ins, "_dequantized");
    qb_qdq_attr(NODE(g, di), "group", QB_ATTR_INT)->i = q->group > 0 && q->group < L->k ? q->group : 0;
    decoder_shape(g, L, di);
    fold_beta(g, L->node);
    gemm_unit_scales(g, L->node);
    input_qdq(g, L, q->in_scale, q->in_zero, c);
    (void)e;
    return 0;
}

/* Conv padding (start, end per spatial dim) as the Conv computes it. */
static int conv_pads(const qb_graph *g, const layer *L, const qb_tensor *x, int64_t *pads, int *nsp, qb_err *e)
{
    const qb_node *n = NODE(g, L->node);
    const qb_tensor *W = g->tensors[L->w];
    *nsp = W->ndim - 2;
    const int64_t *pd, *st, *dl;
    int npd = qb_attr_ints(n, "pads", &pd), nst = qb_attr_ints(n, "strides", &st),
        ndl = qb_attr_ints(n, "dilations", &dl);
    const char *ap = qb_attr_str(n, "auto_pad", "NOTSET");
    if (x->ndim != W->ndim) {
        qb_errf(e, "%s: layer '%s': input rank %d does not match the weights", g->file, L->pn->name, x->ndim);
        return -1;
    }
    for (int i = 0; i < *nsp; i++) {
        int64_t s = nst > i ? st[i] : 1, d = ndl > i ? dl[i] : 1, ek = (W->dims[2 + i] - 1) * d + 1, in = x->dims[2 + i];
        if (!strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER")) {
            int64_t o = (in + s - 1) / s, tot = (o - 1) * s + ek - in;
            tot = tot < 0 ? 0 : tot;
            pads[i] = !strcmp(ap, "SAME_UPPER") ? tot / 2 : tot - tot / 2;
            pads[*nsp + i] = tot - pads[i];
        } else if (!strcmp(ap, "VALID")) {
            pads[i] = pads[*nsp + i] = 0;
        } else {
            pads[i] = npd == 2 * *nsp ? pd[i] : 0;
            pads[*nsp + i] = npd == 2 * *nsp ? pd[*nsp + i] : 0;
        }
    }
    return 0;
}

static int export_binary(qb_graph *g, const layer *L, qb_err *e)
{
    const qb_qspec *q = L->pn->q;
    if (!q->wscale || q->nwscale != L->n) {
        qb_errf(e, "%s: layer '%s': no binary scales to export (prepare the graph first)", g->file, L->pn->name);
        return -1;
    }
    const char *wname = g->tensors[L->w]->name;
    int64_t bd[2] = {L->n, (L->k + 7) / 8}, ad[1] = {L->n};
    int tb = qb_qdq_tensor(g, wname, "_bits", QB_DT_UINT8, 2, bd, 1);
    uint8_t *b = g->tensors[tb]->data;
    for (int64_t r = 0; r < L->n; r++)
        for (int64_t k = 0; k < L->k; k++)
            b[r * bd[1] + k / 8] |= (uint8_t)((signbit(weight_at(g, L, r, k)) != 0) << (k & 7));
    int ta = qb_qdq_tensor(g, wname, "_alpha", QB_DT_FLOAT, 1, ad, 1);
    memcpy(g->tensors[ta]->data, q->wscale, (size_t)L->n * sizeof(float));
    int ins[2] = {tb, ta};
    int di = weight_node(g, L, "DequantizeBinary", QB_QDQ_DOMAIN, 2, ins, "_dequantized");
    decoder_shape(g, L, di);
    fold_beta(g, L->node);
    gemm_unit_scales(g, L->node);
    /* the input: binarized, with the Conv's padding */
    int x = NODE(g, L->node)->in[0];
    int64_t pads[2 * QB_MAX_DIMS];
    int nsp = 0;
    if (L->kind == L_CONV) {
        int px = qb_graph_find(L->pg, g->tensors[x]->name);
        if (px < 0 || !L->pg->tensors[px]->has_shape) {
            qb_errf(e, "%s: layer '%s': the shape of its input is unknown", g->file, L->pn->name);
            return -1;
        }
        if (conv_pads(g, L, L->pg->tensors[px], pads, &nsp, e))
            return -1;
    }
    char nm[600];
    snprintf(nm, sizeof nm, "%.500s_BinarizeInput", NODE(g, L->node)->name);
    int xo = qb_qdq_tensor(g, g->tensors[x]->name, "_binarized", QB_DT_FLOAT, 0, NULL, 0);
    int bi = qb_qdq_node(g, "BinarizeInput", QB_QDQ_DOMAIN, nm, 1, 1);
    NODE(g, bi)->in[0] = x, NODE(g, bi)->out[0] = xo;
    qb_qdq_attr(NODE(g, bi), "threshold", QB_ATTR_FLOAT)->f = q->in_shift;
    if (nsp > 0) {
        qb_attr *a = qb_qdq_attr(NODE(g, bi), "pads", QB_ATTR_INTS);
        a->n = 2 * nsp;
        a->ints = calloc((size_t)a->n, sizeof(int64_t));
        memcpy(a->ints, pads, (size_t)a->n * sizeof(int64_t));
        qb_attr *cp = qb_qdq_attr(NODE(g, L->node), "pads", QB_ATTR_INTS);
        cp->n = 2 * nsp;
        cp->ints = calloc((size_t)cp->n, sizeof(int64_t));
        if (qb_node_attr(NODE(g, L->node), "auto_pad"))
            qb_qdq_attr(NODE(g, L->node), "auto_pad", QB_ATTR_STRING)->s = strdup("NOTSET");
    }
    NODE(g, L->node)->in[0] = xo;
    return 0;
}

/* The layer's weight geometry in the reloaded graph. */
static int layer_of(qb_graph *g, int i, const qb_graph *pg, const qb_node *pn, layer *L, qb_err *e)
{
    qb_node *n = NODE(g, i);
    memset(L, 0, sizeof *L);
    L->node = i, L->pn = pn, L->pg = pg;
    L->kind = !strcmp(n->op, "Conv") ? L_CONV : !strcmp(n->op, "Gemm") ? L_GEMM : L_MATMUL;
    L->w = n->nin > 1 ? n->in[1] : -1;
    const qb_tensor *W = L->w >= 0 ? g->tensors[L->w] : NULL;
    if (!W || W->kind != QB_T_CONST || W->dtype != QB_DT_FLOAT || W->ndim < 2 || (L->kind != L_CONV && W->ndim != 2)) {
        qb_errf(e, "%s: layer '%s' (%s): its weights are not a constant float tensor in the re-read model", g->file,
                n->name, n->op);
        return -1;
    }
    L->trans_b = L->kind == L_GEMM && qb_attr_int(n, "transB", 0);
    if (L->kind == L_CONV || L->trans_b) {
        L->n = W->dims[0];
        L->k = qb_tensor_count(W) / W->dims[0];
    } else {
        L->n = W->dims[1];
        L->k = W->dims[0];
    }
    return 0;
}

int qb_qdq_save(const qb_graph *pg, const char *path, qb_err *e)
{
    if (!pg->prepared) {
        qb_errf(e, "%s: the quantized graph must be prepared before export (its weights are quantized then)", pg->file);
        return -1;
    }
    /* the prepared graph written out and read back in memory: its float
     * form, unfused (the layers are rewritten below), with the verb's
     * --shape options applied as on any load */
    uint8_t *buf;
    size_t len;
    if (qb_onnx_serialize(pg, pg->file, &buf, &len, e))
        return -1;
    qb_graph *g = qb_onnx_load_mem_opts(buf, len, pg->file, QB_LOAD_NO_FUSE, e);
    free(buf);
    if (g && qb_input_shapes_apply(qb_load_shapes, g, e)) {
        qb_graph_free(g);
        g = NULL;
    }
    if (!g)
        return -1;
    for (int i = 0; i < g->noutputs; i++) { /* output types as prepared; no shape (its batch was the runner's) */
        qb_tensor *t = g->tensors[g->outputs[i]];
        int pt = qb_graph_find(pg, t->name);
        t->dtype = pt >= 0 ? pg->tensors[pt]->dtype : QB_DT_FLOAT;
        t->has_shape = 0;
    }
    qdq_cache cache = {0};
    int rc = 0, n0 = g->nnodes;
    for (int i = 0; i < n0 && !rc; i++) {
        const qb_node *pn = prepared_node(pg, g->nodes[i].name, g->nodes[i].op);
        if (!pn || !pn->q || (strcmp(pn->op, "Conv") && strcmp(pn->op, "Gemm") && strcmp(pn->op, "MatMul")))
            continue;
        layer L;
        if ((rc = layer_of(g, i, pg, pn, &L, e)))
            break;
        switch (pn->q->run_prec) {
        case QB_PREC_FP16: rc = export_fp16(g, &L); break;
        case QB_PREC_INT8_TENSOR:
        case QB_PREC_INT8_CHANNEL: rc = export_int8(g, &L, &cache, e); break;
        case QB_PREC_INT4: rc = export_int4(g, &L, &cache, e); break;
        case QB_PREC_BINARY: rc = export_binary(g, &L, e); break;
        default: break;
        }
    }
    free(cache.p);
    if (!rc)
        rc = qb_graph_sort(g, e);
    if (!rc)
        rc = qb_onnx_save(g, path, e);
    qb_graph_free(g);
    return rc;
}
