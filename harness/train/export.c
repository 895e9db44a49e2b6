/*
 * export.c - a trained qb_net as a graph of the model engine
 * (harness/graph IR), ready for qb_graph_prepare or qb_onnx_save: input
 * "input" [N x C x H x W] with a symbolic batch, output "logits" [N x
 * classes]. Dense -> Gemm (transB=1, a Flatten in front when the input is
 * not 2-D), Conv -> Conv, BN -> BatchNormalization (running statistics),
 * ReLU -> Relu, ReLU6 -> Clip(0, 6), pools -> MaxPool / AveragePool /
 * GlobalAveragePool, Flatten -> Flatten(axis 1).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/graph/graph.h"
#include "harness/train/train.h"

/* A float constant named name with the given shape, copied from data. */
static int add_const(qb_graph *g, const char *name, int ndim, const int64_t *dims, const float *data)
{
    int i = qb_graph_tensor(g, name);
    qb_tensor *t = g->tensors[i];
    t->dtype = QB_DT_FLOAT;
    t->ndim = ndim;
    if (ndim)
        memcpy(t->dims, dims, sizeof(int64_t) * (size_t)ndim);
    t->has_shape = 1;
    size_t n = (size_t)qb_shape_count(ndim, dims);
    t->data = malloc(sizeof(float) * n + 1);
    if (t->data)
        memcpy(t->data, data, sizeof(float) * n);
    t->kind = QB_T_CONST;
    return i;
}

/* A node op(in...) -> out; returns it. */
static qb_node *add_node(qb_graph *g, const char *op, const char *name, int nin, const int *in, int out)
{
    int ni = qb_graph_add_node(g, op, name, nin, 1);
    qb_node *n = &g->nodes[ni];
    for (int i = 0; i < nin; i++)
        n->in[i] = in[i];
    n->out[0] = out;
    return n;
}

static qb_attr *attr(qb_node *n, const char *name, int type)
{
    n->attr = realloc(n->attr, sizeof *n->attr * (size_t)(n->nattr + 1));
    qb_attr *a = &n->attr[n->nattr++];
    memset(a, 0, sizeof *a);
    a->name = strdup(name);
    a->type = type;
    return a;
}

static void attr_int(qb_node *n, const char *name, int64_t v) { attr(n, name, QB_ATTR_INT)->i = v; }
static void attr_float(qb_node *n, const char *name, float v) { attr(n, name, QB_ATTR_FLOAT)->f = v; }
static void attr_ints(qb_node *n, const char *name, int k, int64_t v)
{
    qb_attr *a = attr(n, name, QB_ATTR_INTS);
    a->n = k;
    a->ints = malloc(sizeof(int64_t) * (size_t)k);
    for (int i = 0; i < k; i++)
        a->ints[i] = v;
}

qb_graph *qb_net_export(const qb_net *net, const char *name, char *err, size_t errlen)
{
    if (net->n == 0) {
        snprintf(err, errlen, "export: empty network");
        return NULL;
    }
    qb_graph *g = qb_graph_new(name);
    g->opset = 13;
    int cur = qb_graph_tensor(g, "input");
    qb_tensor *in = g->tensors[cur];
    in->kind = QB_T_INPUT;
    in->ndim = 4;
    in->dims[0] = 1;
    in->sym[0] = 1;
    in->dims[1] = net->in_c;
    in->dims[2] = net->in_h;
    in->dims[3] = net->in_w;
    in->has_shape = 1;
    g->inputs = malloc(sizeof(int));
    g->inputs[g->ninputs++] = cur;
    int rank = 4;
    char nm[96], tn[128];
    for (int i = 0; i < net->n; i++) {
        const qb_layer *L = &net->layers[i];
        int last = i == net->n - 1;
        int ins[5];
        qb_node *n;
        if (L->kind == QB_L_DENSE && rank != 2) { /* Gemm wants [N x features] */
            snprintf(nm, sizeof nm, "flatten_%d", i);
            int o = qb_graph_tensor(g, nm);
            attr_int(add_node(g, "Flatten", nm, 1, &cur, o), "axis", 1);
            cur = o;
            rank = 2;
        }
        if ((L->kind == QB_L_CONV || L->kind == QB_L_MAXPOOL || L->kind == QB_L_AVGPOOL ||
             L->kind == QB_L_GAP) && rank != 4) {
            qb_graph_free(g);
            snprintf(err, errlen, "export: layer %d needs an image input after a flattening layer", i);
            return NULL;
        }
        static const char *ops[] = {"Gemm", "Conv", "BatchNormalization", "Relu", "Clip",
                                    "MaxPool", "AveragePool", "GlobalAveragePool", "Flatten"};
        const char *op = ops[L->kind];
        snprintf(nm, sizeof nm, "%s_%d", op, i);
        int rank_after = L->kind == QB_L_DENSE || L->kind == QB_L_FLATTEN ? 2 : rank;
        int out = qb_graph_tensor(g, last && rank_after == 2 ? "logits" : nm);
        ins[0] = cur;
        switch (L->kind) {
        case QB_L_DENSE: {
            int in_f = L->in_c * L->in_h * L->in_w;
            int64_t wd[2] = {L->out_c, in_f}, bd[1] = {L->out_c};
            snprintf(tn, sizeof tn, "%.80s.weight", nm);
            ins[1] = add_const(g, tn, 2, wd, L->w);
            snprintf(tn, sizeof tn, "%.80s.bias", nm);
            ins[2] = add_const(g, tn, 1, bd, L->b);
            n = add_node(g, op, nm, 3, ins, out);
            attr_int(n, "transB", 1);
            break;
        }
        case QB_L_CONV: {
            int64_t wd[4] = {L->out_c, L->in_c / L->groups, L->k, L->k}, bd[1] = {L->out_c};
            snprintf(tn, sizeof tn, "%.80s.weight", nm);
            ins[1] = add_const(g, tn, 4, wd, L->w);
            snprintf(tn, sizeof tn, "%.80s.bias", nm);
            ins[2] = add_const(g, tn, 1, bd, L->b);
            n = add_node(g, op, nm, 3, ins, out);
            attr_ints(n, "kernel_shape", 2, L->k);
            attr_ints(n, "strides", 2, L->stride);
            attr_ints(n, "pads", 4, L->pad);
            attr_int(n, "group", L->groups);
            break;
        }
        case QB_L_BN: {
            int64_t d[1] = {L->in_c};
            const float *src[4] = {L->w, L->b, L->run_mean, L->run_var};
            static const char *what[4] = {"scale", "bias", "mean", "var"};
            for (int k = 0; k < 4; k++) {
                snprintf(tn, sizeof tn, "%.80s.%.8s", nm, what[k]);
                ins[1 + k] = add_const(g, tn, 1, d, src[k]);
            }
            n = add_node(g, op, nm, 5, ins, out);
            attr_float(n, "epsilon", L->eps);
            attr_float(n, "momentum", L->momentum);
            break;
        }
        case QB_L_RELU6: {
            float lo = 0, hi = 6;
            snprintf(tn, sizeof tn, "%.80s.min", nm);
            ins[1] = add_const(g, tn, 0, NULL, &lo);
            snprintf(tn, sizeof tn, "%.80s.max", nm);
            ins[2] = add_const(g, tn, 0, NULL, &hi);
            add_node(g, op, nm, 3, ins, out);
            break;
        }
        case QB_L_MAXPOOL:
        case QB_L_AVGPOOL:
            n = add_node(g, op, nm, 1, ins, out);
            attr_ints(n, "kernel_shape", 2, L->k);
            attr_ints(n, "strides", 2, L->stride);
            attr_ints(n, "pads", 4, L->pad);
            break;
        case QB_L_FLATTEN:
            attr_int(add_node(g, op, nm, 1, ins, out), "axis", 1);
            rank = 2;
            break;
        default: /* Relu, GlobalAveragePool */
            add_node(g, op, nm, 1, ins, out);
            break;
        }
        cur = out;
    }
    if (rank != 2) { /* logits as [N x classes] */
        int o = qb_graph_tensor(g, "logits");
        attr_int(add_node(g, "Flatten", "flatten_out", 1, &cur, o), "axis", 1);
        cur = o;
    }
    g->outputs = malloc(sizeof(int));
    g->outputs[g->noutputs++] = cur;
    qb_err e;
    if (qb_graph_sort(g, &e)) {
        snprintf(err, errlen, "export: %s", e.msg);
        qb_graph_free(g);
        return NULL;
    }
    return g;
}
