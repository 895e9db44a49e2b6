/*
 * ops_gen.c - operators that make a tensor from a shape or from scalars:
 * ConstantOfShape (constant shape; value attribute, default float 0),
 * Size (element count, known when preparing like Shape), Range (constant
 * start, limit, delta; the output's length depends on their values, so a
 * float graph input feeding them is bound as a constant) and EyeLike.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness/graph/ops.h"

/* ---- ConstantOfShape ---- */
static int cos_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *st = qb_need_in(g, n, 0, e);
    if (!st)
        return -1;
    if (st->kind != QB_T_CONST || !qb_dtype_is_int(st->dtype) || st->ndim != 1 || st->dims[0] > QB_MAX_DIMS) {
        QB_NODE_ERR(e, g, n, "shape '%s' must be a constant 1-D integer tensor of at most %d elements", st->name,
                    QB_MAX_DIMS);
        return -1;
    }
    const qb_attr *v = qb_node_attr(n, "value");
    if (v && (!v->t || qb_tensor_count(v->t) != 1 || !qb_dtype_size(v->t->dtype))) {
        QB_NODE_ERR(e, g, n, "value must be a tensor of one element");
        return -1;
    }
    int64_t od[QB_MAX_DIMS];
    for (int i = 0; i < st->dims[0]; i++) {
        od[i] = qb_int_at(st, i);
        if (od[i] < 0) {
            QB_NODE_ERR(e, g, n, "dimension %lld is negative", (long long)od[i]);
            return -1;
        }
    }
    qb_set_out(g, n, 0, v ? v->t->dtype : QB_DT_FLOAT, (int)st->dims[0], od);
    return 0;
}

static void cos_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const qb_attr *v = qb_node_attr(n, "value");
    qb_tensor *y = qb_out(g, n, 0);
    size_t es = qb_dtype_size(y->dtype);
    for (int64_t i = 0, c = qb_tensor_count(y); i < c; i++) {
        if (v)
            memcpy((char *)y->data + i * es, v->t->data, es);
        else
            ((float *)y->data)[i] = 0;
    }
}

/* ---- Size ---- */
static int size_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *x = qb_need_in(g, n, 0, e);
    if (!x)
        return -1;
    qb_set_out(g, n, 0, QB_DT_INT64, 0, NULL);
    /* known now: the node is a constant whatever its input */
    qb_tensor *y = qb_out(g, n, 0);
    y->data = calloc(1, sizeof(int64_t));
    if (!y->data) {
        QB_NODE_ERR(e, g, n, "out of memory");
        return -1;
    }
    y->kind = QB_T_CONST;
    *(int64_t *)y->data = qb_tensor_count(x);
    n->folded = 1;
    return 0;
}

static void size_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    *(int64_t *)qb_out(g, n, 0)->data = qb_tensor_count(qb_in(g, n, 0));
}

/* ---- Range ---- */
static int range_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *t[3];
    for (int i = 0; i < 3; i++) {
        if (!(t[i] = qb_need_in(g, n, i, e)))
            return -1;
        if (t[i]->kind != QB_T_CONST || qb_tensor_count(t[i]) != 1 || t[i]->dtype != t[0]->dtype ||
            t[i]->dtype == QB_DT_BOOL) {
            QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_DYNAMIC,
                                "start, limit and delta must be constant scalars of one numeric type");
            return -1;
        }
    }
    int64_t len;
    if (qb_dtype_is_int(t[0]->dtype)) {
        int64_t a = qb_int_at(t[0], 0), b = qb_int_at(t[1], 0), d = qb_int_at(t[2], 0);
        if (d == 0) {
            QB_NODE_ERR(e, g, n, "delta is 0");
            return -1;
        }
        len = d > 0 ? (b > a ? (b - a + d - 1) / d : 0) : (a > b ? (a - b - d - 1) / -d : 0);
    } else {
        double a = qb_get_d(t[0], 0), b = qb_get_d(t[1], 0), d = qb_get_d(t[2], 0), c = ceil((b - a) / d);
        if (!(c == c) || isinf(c) || c > 1e9) {
            QB_NODE_ERR(e, g, n, "start %g, limit %g and delta %g give no finite length", a, b, d);
            return -1;
        }
        len = c > 0 ? (int64_t)c : 0;
    }
    qb_set_out(g, n, 0, t[0]->dtype, 1, &len);
    return 0;
}

static void range_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const qb_tensor *st = qb_in(g, n, 0), *dt = qb_in(g, n, 2);
    qb_tensor *y = qb_out(g, n, 0);
    for (int64_t i = 0; i < y->dims[0]; i++) {
        if (qb_dtype_is_int(y->dtype))
            qb_set_i(y, i, qb_int_at(st, 0) + i * qb_int_at(dt, 0));
        else /* start + i*delta, in the element type as onnxruntime computes it */
            qb_set_d(y, i, qb_get_d(st, 0) + (double)i * qb_get_d(dt, 0));
    }
}

/* ---- EyeLike ---- */
static int eye_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *x = qb_need_in(g, n, 0, e);
    if (!x)
        return -1;
    int dt = (int)qb_attr_int(n, "dtype", x->dtype);
    if (x->ndim != 2 || !qb_dtype_size(dt)) {
        QB_NODE_ERR(e, g, n, "needs a 2-D input and a supported dtype (got rank %d, dtype %d)", x->ndim, dt);
        return -1;
    }
    qb_set_out(g, n, 0, dt, 2, x->dims);
    return 0;
}

static void eye_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    qb_tensor *y = qb_out(g, n, 0);
    int64_t k = qb_attr_int(n, "k", 0), R = y->dims[0], C = y->dims[1];
    for (int64_t i = 0; i < R; i++)
        for (int64_t j = 0; j < C; j++)
            qb_set_i(y, i * C + j, j - i == k);
}

#define T QB_OPF_ANY_DTYPE | QB_OPF_ZERO_SIZE
const qb_opdef qb_ops_gen[] = {
    {"ConstantOfShape", cos_prepare, cos_run, NULL, T, 1u << 0},
    {"Size", size_prepare, size_run, NULL, T, 0},
    {"Range", range_prepare, range_run, NULL, T, 1u << 0 | 1u << 1 | 1u << 2},
    {"EyeLike", eye_prepare, eye_run, NULL, T, 0},
    {NULL, NULL, NULL, NULL, 0, 0},
};
