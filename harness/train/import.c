/*
 * import.c - an ONNX model back into a trainable qb_net (the reverse of
 * export.c), so quantization-aware training can fine-tune a checkpoint:
 * a chain of Conv (square kernel, equal strides, symmetric pads),
 * BatchNormalization, Relu, Clip(0, 6), MaxPool, AveragePool,
 * GlobalAveragePool, Flatten and Gemm (transB 0 or 1) nodes, each reading
 * the previous one's output, with constant weights. Anything else is
 * refused with the node named.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/graph/graph.h"
#include "harness/train/train.h"

/* A constant float input i of n, or NULL. */
static const float *cdata(const qb_graph *g, const qb_node *n, int i, int64_t want)
{
    const qb_tensor *t = qb_in(g, n, i);
    if (!t || t->kind != QB_T_CONST || t->dtype != QB_DT_FLOAT || (want >= 0 && qb_tensor_count(t) != want))
        return NULL;
    return t->data;
}

/* Square kernel, equal strides, one pad on every side: 0, else -1. */
static int square(const qb_node *n, int *k, int *stride, int *pad, const int64_t *wdims)
{
    const int64_t *v;
    int c = qb_attr_ints(n, "kernel_shape", &v);
    if (c == 2 && v[0] == v[1])
        *k = (int)v[0];
    else if (c < 0 && wdims && wdims[2] == wdims[3])
        *k = (int)wdims[2];
    else
        return -1;
    c = qb_attr_ints(n, "strides", &v);
    *stride = c < 0 ? 1 : (c == 2 && v[0] == v[1]) ? (int)v[0] : -1;
    c = qb_attr_ints(n, "pads", &v);
    *pad = c < 0 ? 0 : (c == 4 && v[0] == v[1] && v[1] == v[2] && v[2] == v[3]) ? (int)v[0] : -1;
    const char *ap = qb_attr_str(n, "auto_pad", "NOTSET");
    const int64_t *d;
    int nd = qb_attr_ints(n, "dilations", &d);
    if (nd >= 0 && (nd != 2 || d[0] != 1 || d[1] != 1))
        return -1;
    return *stride > 0 && *pad >= 0 && !strcmp(ap, "NOTSET") ? 0 : -1;
}

int qb_net_import(const qb_graph *g, uint64_t seed, qb_net *net, char *err, size_t errlen)
{
    if (g->ninputs != 1 || g->noutputs != 1) {
        snprintf(err, errlen, "%s: want one input and one output", g->file);
        return -1;
    }
    const qb_tensor *in = g->tensors[g->inputs[0]];
    if (in->ndim != 4 || in->dtype != QB_DT_FLOAT) {
        snprintf(err, errlen, "%s: input '%s' is not an N x C x H x W float tensor", g->file, in->name);
        return -1;
    }
    qb_net_init(net, (int)in->dims[1], (int)in->dims[2], (int)in->dims[3], seed);
    int cur = g->inputs[0];
    for (int i = 0; i < g->nnodes; i++) {
        const qb_node *n = &g->nodes[i];
        if (n->nin < 1 || n->in[0] != cur) {
            snprintf(err, errlen, "%s: node '%s' (%s) does not read the previous layer's output: only chains are "
                     "trainable", g->file, n->name, n->op);
            goto fail;
        }
        int rc = 0;
        char sub[256] = "";
        qb_layer *L = &net->layers[net->n];
        if (!strcmp(n->op, "Conv")) {
            const qb_tensor *W = qb_in(g, n, 1);
            int k, s, p;
            const float *w = cdata(g, n, 1, -1);
            if (!w || W->ndim != 4 || square(n, &k, &s, &p, W->dims)) {
                rc = -1;
                snprintf(sub, sizeof sub, "needs constant 4-D weights, a square kernel, equal strides and pads");
            } else if (!(rc = qb_net_conv(net, (int)W->dims[0], k, s, p, (int)qb_attr_int(n, "group", 1), sub,
                                           sizeof sub))) {
                memcpy(L->w, w, L->nw * sizeof(float));
                const float *b = n->nin > 2 && n->in[2] >= 0 ? cdata(g, n, 2, (int64_t)L->nb) : NULL;
                if (n->nin > 2 && n->in[2] >= 0 && !b) {
                    rc = -1;
                    snprintf(sub, sizeof sub, "bias must be a constant of %zu floats", L->nb);
                } else if (b) {
                    memcpy(L->b, b, L->nb * sizeof(float));
                } else {
                    memset(L->b, 0, L->nb * sizeof(float));
                }
            }
        } else if (!strcmp(n->op, "BatchNormalization")) {
            if (!(rc = qb_net_bn(net, sub, sizeof sub))) {
                int64_t c = (int64_t)L->nw;
                const float *sc = cdata(g, n, 1, c), *bb = cdata(g, n, 2, c), *mu = cdata(g, n, 3, c),
                            *var = cdata(g, n, 4, c);
                if (!sc || !bb || !mu || !var) {
                    rc = -1;
                    snprintf(sub, sizeof sub, "scale, bias, mean and var must be constants of %lld floats",
                             (long long)c);
                } else {
                    memcpy(L->w, sc, c * sizeof(float));
                    memcpy(L->b, bb, c * sizeof(float));
                    memcpy(L->run_mean, mu, c * sizeof(float));
                    memcpy(L->run_var, var, c * sizeof(float));
                    L->eps = qb_attr_float(n, "epsilon", 1e-5f);
                    L->momentum = qb_attr_float(n, "momentum", 0.9f);
                }
            }
        } else if (!strcmp(n->op, "Relu")) {
            rc = qb_net_act(net, QB_L_RELU, sub, sizeof sub);
        } else if (!strcmp(n->op, "Clip")) {
            const float *lo = cdata(g, n, 1, 1), *hi = cdata(g, n, 2, 1);
            if (!lo || !hi || *lo != 0.0f || *hi != 6.0f) {
                rc = -1;
                snprintf(sub, sizeof sub, "only Clip(0, 6) (ReLU6) is trainable");
            } else {
                rc = qb_net_act(net, QB_L_RELU6, sub, sizeof sub);
            }
        } else if (!strcmp(n->op, "MaxPool") || !strcmp(n->op, "AveragePool")) {
            int k, s, p;
            if (square(n, &k, &s, &p, NULL) || qb_attr_int(n, "ceil_mode", 0) ||
                (n->op[0] == 'A' && qb_attr_int(n, "count_include_pad", 0)) || n->nout > 1) {
                rc = -1;
                snprintf(sub, sizeof sub, "needs a square window, equal strides and pads, floor mode");
            } else {
                rc = qb_net_pool(net, n->op[0] == 'M' ? QB_L_MAXPOOL : QB_L_AVGPOOL, k, s, p, sub, sizeof sub);
            }
        } else if (!strcmp(n->op, "GlobalAveragePool")) {
            rc = qb_net_act(net, QB_L_GAP, sub, sizeof sub);
        } else if (!strcmp(n->op, "Flatten")) {
            if (qb_attr_int(n, "axis", 1) != 1) {
                rc = -1;
                snprintf(sub, sizeof sub, "only axis 1");
            } else {
                rc = qb_net_act(net, QB_L_FLATTEN, sub, sizeof sub);
            }
        } else if (!strcmp(n->op, "Gemm")) {
            const qb_tensor *W = qb_in(g, n, 1);
            const float *w = cdata(g, n, 1, -1);
            int tb = (int)qb_attr_int(n, "transB", 0);
            if (!w || W->ndim != 2 || qb_attr_int(n, "transA", 0) || qb_attr_float(n, "alpha", 1) != 1.0f ||
                qb_attr_float(n, "beta", 1) != 1.0f) {
                rc = -1;
                snprintf(sub, sizeof sub, "needs constant 2-D B, transA 0, alpha and beta 1");
            } else if (!(rc = qb_net_dense(net, (int)(tb ? W->dims[0] : W->dims[1]), sub, sizeof sub))) {
                int64_t no = (int64_t)L->nb, ni = (int64_t)(L->nw / L->nb);
                if ((tb ? W->dims[1] : W->dims[0]) != ni) {
                    rc = -1;
                    snprintf(sub, sizeof sub, "B has %lld inputs, the layer gets %lld",
                             (long long)(tb ? W->dims[1] : W->dims[0]), (long long)ni);
                } else {
                    for (int64_t o = 0; o < no; o++)
                        for (int64_t j = 0; j < ni; j++)
                            L->w[o * ni + j] = tb ? w[o * ni + j] : w[j * no + o];
                    const float *b = n->nin > 2 && n->in[2] >= 0 ? cdata(g, n, 2, no) : NULL;
                    if (n->nin > 2 && n->in[2] >= 0 && !b) {
                        rc = -1;
                        snprintf(sub, sizeof sub, "C must be a constant of %lld floats", (long long)no);
                    } else {
                        for (int64_t o = 0; o < no; o++)
                            L->b[o] = b ? b[o] : 0.0f;
                    }
                }
            }
        } else {
            rc = -1;
            snprintf(sub, sizeof sub, "operator not trainable here");
        }
        if (rc) {
            snprintf(err, errlen, "%s: node '%s' (%s): %s", g->file, n->name, n->op, sub);
            goto fail;
        }
        cur = n->out[0];
    }
    if (cur != g->outputs[0]) {
        snprintf(err, errlen, "%s: the chain does not end in the graph output", g->file);
        goto fail;
    }
    return 0;
fail:
    qb_net_free(net);
    return -1;
}
