/*
 * ops_reduce.c - operators that normalize along axes: Softmax (opset < 13:
 * over the flattened tail from axis; 13+: along one axis; exp from
 * kernels/expf.h, within 1-2 ulps of libm's, vectorised) and
 * BatchNormalization in inference mode (when not folded into the
 * preceding Conv or Gemm at load). ReduceMean and the other accumulating
 * reductions are in ops_reduce_acc.c.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness/graph/ops.h"
#include "harness/graph/par.h"
#include "kernels/expf.h"

typedef struct axis_state {
    int64_t outer, len, inner; /* the tensor viewed as [outer x len x inner] */
    int x;                     /* Softmax: the tensor it reads (its input, or a fused bias Add's runtime input) */
    const float *bias;         /* Softmax: a fused Add's constant row of len values added first, or NULL */
} axis_state;

static int softmax_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *x = qb_need_in(g, n, 0, e);
    if (!x)
        return -1;
    if (x->dtype != QB_DT_FLOAT) {
        QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_TYPE, "input must be float32");
        return -1;
    }
    int a = qb_axis(qb_attr_int(n, "axis", g->opset < 13 ? 1 : -1), x->ndim);
    if (a < 0) {
        QB_NODE_ERR(e, g, n, "axis out of range for rank %d", x->ndim);
        return -1;
    }
    axis_state *s = calloc(1, sizeof *s);
    if (!s) {
        QB_NODE_ERR(e, g, n, "out of memory");
        return -1;
    }
    n->state = s;
    s->x = n->in[0];
    s->outer = s->len = s->inner = 1;
    for (int i = 0; i < x->ndim; i++) {
        if (i < a)
            s->outer *= x->dims[i];
        else if (i == a || g->opset < 13)
            s->len *= x->dims[i];
        else
            s->inner *= x->dims[i];
    }
    qb_set_out(g, n, 0, QB_DT_FLOAT, x->ndim, x->dims);
    return 0;
}

typedef struct softmax_job {
    const float *x;    /* input rows */
    const float *bias; /* a row added to each first (a fused Add), or NULL */
    float *y;          /* output rows */
    int64_t len;       /* row length */
} softmax_job;

static void softmax_rows(void *ctx, int64_t r0, int64_t r1)
{
    const softmax_job *j = ctx;
    for (int64_t o = r0; o < r1; o++)
        if (j->bias)
            qb_softmax_row_bias(j->x + o * j->len, j->bias, j->y + o * j->len, (size_t)j->len);
        else
            qb_softmax_row(j->x + o * j->len, j->y + o * j->len, (size_t)j->len);
}

int qb_softmax_fuse_bias(qb_graph *g, qb_node *n, int x, const float *bias, int64_t len)
{
    if (n->folded || n->def != qb_op_find("Softmax") || !n->state)
        return 0;
    axis_state *s = n->state;
    if (s->inner != 1 || s->len != len || s->bias || g->tensors[x]->dtype != QB_DT_FLOAT ||
        qb_tensor_count(g->tensors[x]) != s->outer * s->len)
        return 0;
    s->x = x;
    s->bias = bias;
    return 1;
}

int qb_softmax_rows_input(const qb_node *n, int64_t *rows, int64_t *len)
{
    const axis_state *s = n->state;
    if (n->folded || n->def != qb_op_find("Softmax") || !s || s->inner != 1)
        return -1;
    *rows = s->outer, *len = s->len;
    return s->x;
}

void qb_softmax_rows_inplace(const qb_node *n, float *y, int64_t r0, int64_t r1)
{
    const axis_state *s = n->state;
    softmax_job j = {y, s->bias, y, s->len}; /* x == y: each row read before it is written */
    softmax_rows(&j, r0, r1);
}

static void softmax_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const axis_state *s = n->state;
    const float *x = g->tensors[s->x]->data;
    float *y = qb_out(g, n, 0)->data;
    if (s->inner == 1) { /* along the last axis: vectorised rows, split across threads (each row the same bits) */
        softmax_job j = {x, s->bias, y, s->len};
        qb_gpar_for(s->outer, qb_gpar_chunk(s->outer, 8 * s->len, 1), softmax_rows, &j);
    }
    for (int64_t o = 0; o < s->outer && s->inner > 1; o++)
        for (int64_t i = 0; i < s->inner; i++) {
            const float *xp = x + o * s->len * s->inner + i;
            float *yp = y + o * s->len * s->inner + i;
            float mx = -INFINITY, sum = 0;
            for (int64_t j = 0; j < s->len; j++)
                mx = xp[j * s->inner] > mx ? xp[j * s->inner] : mx;
            for (int64_t j = 0; j < s->len; j++) {
                float v = qb_expf1(xp[j * s->inner] - mx);
                yp[j * s->inner] = v;
                sum += v;
            }
            for (int64_t j = 0; j < s->len; j++)
                yp[j * s->inner] /= sum;
        }
}

/* ---- BatchNormalization (inference) ---- */
static int bn_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *x = qb_need_in(g, n, 0, e);
    if (!x)
        return -1;
    int training = qb_attr_int(n, "training_mode", 0) != 0;
    if (!training && n->nout > 1 && n->out[1] >= 0) {
        QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_ATTR,
                            "training mode with the pre-opset-14 outputs (saved mean/variance) is not supported");
        return -1;
    }
    if (training && n->nout > 3 && n->out[3] >= 0) {
        QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_ATTR,
                            "outputs beyond running_mean and running_var are not supported");
        return -1;
    }
    if (x->ndim < 2 || x->dtype != QB_DT_FLOAT) {
        QB_NODE_UNSUPPORTED(e, g, n, x->dtype != QB_DT_FLOAT ? QB_ERR_UNSUPPORTED_TYPE : QB_ERR_INVALID,
                            "input must be float32 with a channel dimension");
        return -1;
    }
    for (int i = 1; i < 5; i++) {
        qb_tensor *t = qb_need_in(g, n, i, e);
        if (!t)
            return -1;
        if (t->dtype != QB_DT_FLOAT || qb_tensor_count(t) != x->dims[1]) {
            QB_NODE_UNSUPPORTED(e, g, n, t->dtype != QB_DT_FLOAT ? QB_ERR_UNSUPPORTED_TYPE : QB_ERR_INVALID,
                                "'%s' must be float32 with %lld elements", t->name, (long long)x->dims[1]);
            return -1;
        }
    }
    qb_set_out(g, n, 0, QB_DT_FLOAT, x->ndim, x->dims);
    for (int i = 1; training && i < 3 && i < n->nout; i++)
        qb_set_out(g, n, i, QB_DT_FLOAT, 1, &x->dims[1]);
    return 0;
}

/* Training mode (opset 14+): normalize with the batch's own statistics
 * (mean and population variance over every axis but the channel, in double)
 * and output running_mean = mean·momentum + batch_mean·(1 − momentum), the
 * same for the variance. Deterministic: the ONNX node tests check it. */
static void bn_train_run(qb_graph *g, qb_node *n)
{
    const qb_tensor *xt = qb_in(g, n, 0);
    const float *x = xt->data, *sc = qb_in(g, n, 1)->data, *b = qb_in(g, n, 2)->data, *m = qb_in(g, n, 3)->data,
                *v = qb_in(g, n, 4)->data;
    qb_tensor *rm = qb_out(g, n, 1), *rv = qb_out(g, n, 2);
    float *y = qb_out(g, n, 0)->data, eps = qb_attr_float(n, "epsilon", 1e-5f);
    double mom = qb_attr_float(n, "momentum", 0.9f);
    int64_t N = xt->dims[0], C = xt->dims[1], inner = N > 0 && C > 0 ? qb_tensor_count(xt) / (N * C) : 0;
    for (int64_t c = 0; c < C; c++) {
        double sum = 0, sq = 0, cnt = (double)(N * inner);
        for (int64_t o = 0; o < N; o++)
            for (int64_t i = 0; i < inner; i++)
                sum += x[(o * C + c) * inner + i];
        double mean = cnt ? sum / cnt : 0;
        for (int64_t o = 0; o < N; o++)
            for (int64_t i = 0; i < inner; i++) {
                double d = x[(o * C + c) * inner + i] - mean;
                sq += d * d;
            }
        double var = cnt ? sq / cnt : 0, k = sc[c] / sqrt(var + eps);
        for (int64_t o = 0; o < N; o++)
            for (int64_t i = 0; i < inner; i++) {
                int64_t at = (o * C + c) * inner + i;
                y[at] = (float)((x[at] - mean) * k + b[c]);
            }
        if (rm)
            ((float *)rm->data)[c] = (float)(m[c] * mom + mean * (1 - mom));
        if (rv)
            ((float *)rv->data)[c] = (float)(v[c] * mom + var * (1 - mom));
    }
}

static void bn_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const qb_tensor *xt = qb_in(g, n, 0);
    const float *x = xt->data, *sc = qb_in(g, n, 1)->data, *b = qb_in(g, n, 2)->data, *m = qb_in(g, n, 3)->data,
                *v = qb_in(g, n, 4)->data;
    if (qb_attr_int(n, "training_mode", 0)) {
        bn_train_run(g, n);
        return;
    }
    float *y = qb_out(g, n, 0)->data, eps = qb_attr_float(n, "epsilon", 1e-5f);
    int64_t C = xt->dims[1], inner = qb_tensor_count(xt) / (xt->dims[0] * C);
    for (int64_t o = 0; o < xt->dims[0]; o++)
        for (int64_t c = 0; c < C; c++) {
            float k = sc[c] / sqrtf(v[c] + eps), d = b[c] - m[c] * k;
            const float *xp = x + (o * C + c) * inner;
            float *yp = y + (o * C + c) * inner;
            for (int64_t i = 0; i < inner; i++)
                yp[i] = xp[i] * k + d;
        }
}

const qb_opdef qb_ops_reduce[] = {
    {"Softmax", softmax_prepare, softmax_run, NULL, 0, 0},
    {"BatchNormalization", bn_prepare, bn_run, NULL, 0, 0},
    {NULL, NULL, NULL, NULL, 0, 0},
};
