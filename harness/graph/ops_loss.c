/*
 * ops_loss.c - the training losses that exported models and the ONNX
 * node tests use: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss
 * (optional class weights, ignore_index, reduction none / sum / mean;
 * SoftmaxCrossEntropyLoss also outputs the log-probabilities). Inputs
 * [N, C] or [N, C, d1, ...]; targets int32/int64 [N] or [N, d1, ...];
 * float types, computed in double. A target outside [0, C) that is not
 * ignore_index contributes nothing.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness/graph/ops.h"

enum { RED_NONE, RED_SUM, RED_MEAN };

/* Prepared: sizes and options. */
typedef struct loss_state {
    int64_t N, C, D; /* batch, classes, positions per sample (prod d1...) */
    int red;         /* RED_* */
    int softmax;     /* SoftmaxCrossEntropyLoss (log-softmax first) */
} loss_state;

static int loss_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *x = qb_need_in(g, n, 0, e), *t = x ? qb_need_in(g, n, 1, e) : NULL, *w = qb_in(g, n, 2);
    if (!t)
        return -1;
    if (!qb_dtype_is_float(x->dtype) || x->ndim < 2 || (t->dtype != QB_DT_INT64 && t->dtype != QB_DT_INT32) ||
        t->ndim != x->ndim - 1) {
        QB_NODE_ERR(e, g, n, "needs float scores [N, C, ...] and int32/int64 targets [N, ...]");
        return -1;
    }
    for (int d = 0; d < t->ndim; d++)
        if (t->dims[d] != x->dims[d ? d + 1 : 0]) {
            QB_NODE_ERR(e, g, n, "targets' shape does not match the scores' shape without the class dim");
            return -1;
        }
    if (w && (w->dtype != x->dtype || qb_tensor_count(w) != x->dims[1])) {
        QB_NODE_ERR(e, g, n, "weights '%s' must hold C (%lld) values of the scores' type", w->name,
                    (long long)x->dims[1]);
        return -1;
    }
    const char *r = qb_attr_str(n, "reduction", "mean");
    int red = !strcmp(r, "none") ? RED_NONE : !strcmp(r, "sum") ? RED_SUM : !strcmp(r, "mean") ? RED_MEAN : -1;
    if (red < 0) {
        QB_NODE_ERR(e, g, n, "reduction '%s' is not none, sum or mean", r);
        return -1;
    }
    loss_state *s = calloc(1, sizeof *s);
    if (!s) {
        QB_NODE_ERR(e, g, n, "out of memory");
        return -1;
    }
    n->state = s;
    s->red = red;
    s->softmax = !strcmp(n->op, "SoftmaxCrossEntropyLoss");
    s->N = x->dims[0];
    s->C = x->dims[1];
    s->D = s->N > 0 && s->C > 0 ? qb_tensor_count(x) / (s->N * s->C) : 0;
    if (red == RED_NONE)
        qb_set_out(g, n, 0, x->dtype, t->ndim, t->dims);
    else
        qb_set_out(g, n, 0, x->dtype, 0, NULL);
    if (s->softmax && n->nout > 1)
        qb_set_out(g, n, 1, x->dtype, x->ndim, x->dims);
    n->scratch = s->softmax ? (size_t)qb_tensor_count(x) * sizeof(double) : 0;
    return 0;
}

static void loss_run(qb_graph *g, qb_node *n, void *scratch)
{
    const loss_state *s = n->state;
    const qb_tensor *x = qb_in(g, n, 0), *t = qb_in(g, n, 1), *w = qb_in(g, n, 2);
    qb_tensor *y = qb_out(g, n, 0), *lp = s->softmax ? qb_out(g, n, 1) : NULL;
    const qb_attr *ia = qb_node_attr(n, "ignore_index");
    double *logp = scratch;
    int64_t C = s->C, D = s->D;
    if (s->softmax) /* log-softmax over the class dim */
        for (int64_t b = 0; b < s->N; b++)
            for (int64_t d = 0; d < D; d++) {
                double mx = -INFINITY, sum = 0;
                for (int64_t c = 0; c < C; c++) {
                    double v = qb_get_d(x, (b * C + c) * D + d);
                    mx = v > mx ? v : mx;
                }
                for (int64_t c = 0; c < C; c++)
                    sum += exp(qb_get_d(x, (b * C + c) * D + d) - mx);
                for (int64_t c = 0; c < C; c++) {
                    int64_t at = (b * C + c) * D + d;
                    logp[at] = qb_get_d(x, at) - mx - log(sum);
                    if (lp)
                        qb_set_d(lp, at, logp[at]);
                }
            }
    double total = 0, wsum = 0;
    for (int64_t b = 0; b < s->N; b++)
        for (int64_t d = 0; d < D; d++) {
            int64_t k = qb_int_at(t, b * D + d);
            double l = 0, wt = 0;
            if (!(ia && k == ia->i) && k >= 0 && k < C) {
                wt = w ? qb_get_d(w, k) : 1;
                int64_t at = (b * C + k) * D + d;
                l = -(s->softmax ? logp[at] : qb_get_d(x, at)) * wt;
            }
            if (s->red == RED_NONE)
                qb_set_d(y, b * D + d, l);
            total += l;
            wsum += wt;
        }
    if (s->red == RED_SUM)
        qb_set_d(y, 0, total);
    else if (s->red == RED_MEAN)
        qb_set_d(y, 0, total / wsum);
}

const qb_opdef qb_ops_loss[] = {
    {"NegativeLogLikelihoodLoss", loss_prepare, loss_run, NULL, QB_OPF_ANY_DTYPE, 0},
    {"SoftmaxCrossEntropyLoss", loss_prepare, loss_run, NULL, QB_OPF_ANY_DTYPE, 0},
    {NULL, NULL, NULL, NULL, 0, 0},
};
