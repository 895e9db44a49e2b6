/*
 * fold_bn.c - BatchNormalization (inference) folded into the Conv or Gemm
 * that feeds it, at prepare time: with k = scale / sqrt(var + eps),
 * W'[c] = W[c] * k[c] and b'[c] = (b[c] - mean[c]) * k[c] + beta[c].
 * Only when every parameter is constant and the Conv/Gemm output feeds
 * nothing but the BatchNormalization. Also into a ConvTranspose (W is
 * [Cin, Cout/g, k...]: k[c] scales dim 1), directly or through an Add of
 * a per-channel constant between them (PP-OCR det's head: ConvTranspose,
 * Add of the bias, BatchNormalization): then b' = b * k in the
 * ConvTranspose and the Add's constant becomes (c - mean) * k + beta.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/graph/graph.h"
#include "harness/graph/qdq.h"

static int is_const_f(const qb_graph *g, int t)
{
    return t >= 0 && g->tensors[t]->kind == QB_T_CONST && g->tensors[t]->dtype == QB_DT_FLOAT;
}

/* A new constant float tensor named base+suffix with the given shape,
 * zero-filled (qb_qdq_tensor: a unique name). */
static int new_const(qb_graph *g, const char *base, const char *suffix, int ndim, const int64_t *dims)
{
    return qb_qdq_tensor(g, base, suffix, QB_DT_FLOAT, ndim, dims, 1);
}

static int uses(const qb_graph *g, int t)
{
    int c = 0;
    for (int i = 0; i < g->nnodes; i++)
        for (int j = 0; j < g->nodes[i].nin; j++)
            c += g->nodes[i].in[j] == t;
    for (int i = 0; i < g->noutputs; i++)
        c += g->outputs[i] == t;
    return c;
}

/* t is a constant float of C values laid out per channel of an output of
 * rank r: [C, 1, ...] (r - 1 dims) or [1, C, 1, ...] (r dims). */
static int per_channel_const(const qb_graph *g, int t, int r, int64_t C)
{
    if (!is_const_f(g, t))
        return 0;
    const qb_tensor *c = g->tensors[t];
    int at = c->ndim == r ? 1 : c->ndim == r - 1 ? 0 : -1;
    if (at < 0 || (at == 1 && c->dims[0] != 1) || c->dims[at] != C)
        return 0;
    for (int d = at + 1; d < c->ndim; d++)
        if (c->dims[d] != 1)
            return 0;
    return 1;
}

/* ConvTranspose p (constant W and bias) then, if add >= 0, the Add node
 * add of a per-channel constant, then BatchNormalization bn with per-
 * channel factors k and constant params: fold (see the top). 1 if done. */
static int fold_convt(qb_graph *g, qb_node *p, int add, qb_node *bn, const float *k)
{
    const qb_tensor *W = g->tensors[p->in[1]], *B = p->nin > 2 && p->in[2] >= 0 ? g->tensors[p->in[2]] : NULL;
    int64_t group = qb_attr_int(p, "group", 1), cin = W->dims[0];
    if (W->ndim < 3 || group < 1 || cin % group)
        return 0;
    int64_t og = W->dims[1], C = og * group, per = qb_tensor_count(W) / (cin * og);
    if ((B && qb_tensor_count(B) != C) || qb_tensor_count(g->tensors[bn->in[1]]) != C)
        return 0;
    qb_node *a = add >= 0 ? &g->nodes[add] : NULL;
    int ac = a ? (a->in[0] == p->out[0] ? 1 : 0) : -1; /* the Add's constant input */
    if (a && (a->nin != 2 || a->in[1 - ac] != p->out[0] || !per_channel_const(g, a->in[ac], W->ndim, C)))
        return 0;
    for (int i = 1; i < 5; i++)
        if (qb_tensor_count(g->tensors[bn->in[i]]) != C)
            return 0;
    const float *bb = g->tensors[bn->in[2]]->data, *mean = g->tensors[bn->in[3]]->data;
    int nw = new_const(g, W->name, "_bnfold", W->ndim, W->dims);
    W = g->tensors[p->in[1]];
    int64_t one = C;
    int nb = new_const(g, B ? B->name : W->name, B ? "_bnfold" : "_bnbias", 1, &one);
    int nc = a ? new_const(g, g->tensors[a->in[ac]]->name, "_bnfold", g->tensors[a->in[ac]]->ndim,
                           g->tensors[a->in[ac]]->dims)
               : -1;
    float *w2 = g->tensors[nw]->data, *b2 = g->tensors[nb]->data, *c2 = a ? g->tensors[nc]->data : NULL;
    const float *w = W->data, *b = B ? B->data : NULL, *c = a ? g->tensors[a->in[ac]]->data : NULL;
    for (int64_t ci = 0; ci < cin; ci++)
        for (int64_t j = 0; j < og; j++) {
            float kc = k[ci / (cin / group) * og + j];
            for (int64_t t = 0; t < per; t++)
                w2[(ci * og + j) * per + t] = w[(ci * og + j) * per + t] * kc;
        }
    for (int64_t co = 0; co < C; co++) {
        float bc = b ? b[co] : 0.0f;
        if (a) {
            b2[co] = bc * k[co];
            c2[co] = (c[co] - mean[co]) * k[co] + bb[co];
        } else {
            b2[co] = (bc - mean[co]) * k[co] + bb[co];
        }
    }
    if (p->nin < 3) {
        p->in = realloc(p->in, 3 * sizeof(int));
        p->nin = 3;
    }
    p->in[1] = nw;
    p->in[2] = nb;
    if (a) {
        a->in[ac] = nc;
        a->out[0] = bn->out[0];
    } else {
        p->out[0] = bn->out[0];
    }
    return 1;
}

static int fold_one(qb_graph *g, int bi)
{
    qb_node *bn = &g->nodes[bi];
    if (strcmp(bn->op, "BatchNormalization") || bn->nin < 5 || (bn->nout > 1 && bn->out[1] >= 0) ||
        qb_attr_int(bn, "training_mode", 0))
        return 0;
    for (int i = 1; i < 5; i++)
        if (!is_const_f(g, bn->in[i]))
            return 0;
    int x = bn->in[0], pi = x >= 0 ? g->tensors[x]->producer : -1;
    if (pi < 0 || uses(g, x) != 1)
        return 0;
    qb_node *p = &g->nodes[pi];
    int add = -1;
    if (!strcmp(p->op, "Add") && p->nin == 2 && p->nout == 1) { /* ConvTranspose, Add of a constant, BN */
        int r = p->in[0] >= 0 && g->tensors[p->in[0]]->kind != QB_T_CONST ? p->in[0] : p->in[1];
        int ri = r >= 0 ? g->tensors[r]->producer : -1;
        if (ri < 0 || uses(g, r) != 1 || strcmp(g->nodes[ri].op, "ConvTranspose"))
            return 0;
        add = pi;
        p = &g->nodes[ri];
    }
    if (!strcmp(p->op, "ConvTranspose")) {
        if (p->nin < 2 || !is_const_f(g, p->in[1]) || (p->nin > 2 && p->in[2] >= 0 && !is_const_f(g, p->in[2])) ||
            p->nout != 1)
            return 0;
        int64_t C = qb_tensor_count(g->tensors[bn->in[1]]);
        float *k = malloc((size_t)C * sizeof(float) + 1);
        if (!k)
            return 0;
        const float *sc = g->tensors[bn->in[1]]->data, *var = g->tensors[bn->in[4]]->data;
        float eps = qb_attr_float(bn, "epsilon", 1e-5f);
        for (int64_t c = 0; c < C && qb_tensor_count(g->tensors[bn->in[4]]) == C; c++)
            k[c] = sc[c] / sqrtf(var[c] + eps);
        int rc = qb_tensor_count(g->tensors[bn->in[4]]) == C && fold_convt(g, p, add, bn, k);
        free(k);
        return rc;
    }
    if (add >= 0)
        return 0;
    int conv = !strcmp(p->op, "Conv"), gemm = !strcmp(p->op, "Gemm");
    if ((!conv && !gemm) || p->nin < 2 || !is_const_f(g, p->in[1]) || (p->nin > 2 && p->in[2] >= 0 && !is_const_f(g, p->in[2])))
        return 0;
    const qb_tensor *W = g->tensors[p->in[1]], *B = p->nin > 2 && p->in[2] >= 0 ? g->tensors[p->in[2]] : NULL;
    int trans_b = gemm ? (int)qb_attr_int(p, "transB", 0) : 0;
    int64_t C = conv ? W->dims[0] : (W->ndim == 2 ? W->dims[trans_b ? 0 : 1] : -1);
    if (W->ndim < 2 || (gemm && (qb_attr_float(p, "beta", 1.0f) != 1.0f || W->ndim != 2)))
        return 0;
    if (B && qb_tensor_count(B) != C)
        return 0;
    for (int i = 1; i < 5; i++)
        if (qb_tensor_count(g->tensors[bn->in[i]]) != C)
            return 0;
    const float *sc = g->tensors[bn->in[1]]->data, *bb = g->tensors[bn->in[2]]->data,
                *mean = g->tensors[bn->in[3]]->data, *var = g->tensors[bn->in[4]]->data;
    float eps = qb_attr_float(bn, "epsilon", 1e-5f);
    int nw = new_const(g, W->name, "_bnfold", W->ndim, W->dims);
    W = g->tensors[p->in[1]];
    int64_t one = C;
    int nb = new_const(g, B ? B->name : W->name, B ? "_bnfold" : "_bnbias", 1, &one);
    float *w2 = g->tensors[nw]->data, *b2 = g->tensors[nb]->data;
    const float *w = W->data, *b = B ? B->data : NULL;
    int64_t nwc = qb_tensor_count(W);
    for (int64_t c = 0; c < C; c++) {
        float k = sc[c] / sqrtf(var[c] + eps);
        b2[c] = ((b ? b[c] : 0.0f) - mean[c]) * k + bb[c];
        if (conv || trans_b) {
            int64_t per = nwc / C;
            for (int64_t j = 0; j < per; j++)
                w2[c * per + j] = w[c * per + j] * k;
        } else {
            for (int64_t r = 0; r < W->dims[0]; r++)
                w2[r * C + c] = w[r * C + c] * k;
        }
    }
    if (p->nin < 3) {
        p->in = realloc(p->in, 3 * sizeof(int));
        p->nin = 3;
    }
    p->in[1] = nw;
    p->in[2] = nb;
    p->out[0] = bn->out[0];
    return 1;
}

int qb_fold_batchnorm(qb_graph *g)
{
    int folded = 0;
    for (int i = 0; i < g->nnodes; i++) {
        if (!fold_one(g, i))
            continue;
        /* drop the BatchNormalization node */
        qb_node *bn = &g->nodes[i];
        free(bn->name), free(bn->op), free(bn->in), free(bn->out);
        for (int j = 0; j < bn->nattr; j++) {
            free(bn->attr[j].name), free(bn->attr[j].s), free(bn->attr[j].ints), free(bn->attr[j].floats);
            if (bn->attr[j].t) {
                qb_tensor_clear(bn->attr[j].t);
                free(bn->attr[j].t);
            }
        }
        free(bn->attr);
        memmove(bn, bn + 1, (g->nnodes - i - 1) * sizeof *bn);
        g->nnodes--;
        for (int t = 0; t < g->ntensors; t++)
            g->tensors[t]->producer = -1;
        for (int n = 0; n < g->nnodes; n++)
            for (int j = 0; j < g->nodes[n].nout; j++)
                if (g->nodes[n].out[j] >= 0)
                    g->tensors[g->nodes[n].out[j]]->producer = n;
        folded++;
        i--;
    }
    return folded;
}
