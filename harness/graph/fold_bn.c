/*
 * fold_bn.c - BatchNormalization (inference) folded into the Conv or Gemm
 * that feeds it, at prepare time: with k = scale / sqrt(var + eps),
 * W'[c] = W[c] * k[c] and b'[c] = (b[c] - mean[c]) * k[c] + beta[c].
 * Only when every parameter is constant and the Conv/Gemm output feeds
 * nothing but the BatchNormalization.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/graph/graph.h"

static int is_const_f(const qb_graph *g, int t)
{
    return t >= 0 && g->tensors[t]->kind == QB_T_CONST && g->tensors[t]->dtype == QB_DT_FLOAT;
}

/* A new constant float tensor named base+suffix with the given shape. */
static int new_const(qb_graph *g, const char *base, const char *suffix, int ndim, const int64_t *dims)
{
    char name[512];
    int k = 0;
    do
        snprintf(name, sizeof name, "%.400s%s%s%.0d", base, suffix, k ? "_" : "", k);
    while (qb_graph_find(g, name) >= 0 && ++k);
    int t = qb_graph_tensor(g, name);
    qb_tensor *x = g->tensors[t];
    x->kind = QB_T_CONST;
    x->dtype = QB_DT_FLOAT;
    x->ndim = ndim;
    memcpy(x->dims, dims, ndim * sizeof *dims);
    x->has_shape = 1;
    x->data = calloc((size_t)qb_tensor_count(x) + 1, sizeof(float));
    return t;
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
