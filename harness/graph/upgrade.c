/*
 * upgrade.c - models older than opset 13 rewritten at load into opset-13
 * form, so that the operators and the exporter know one form only:
 * attributes that became inputs (Squeeze/Unsqueeze axes, Clip min/max,
 * Slice starts/ends/axes, Reshape shape) become constant inputs, removed
 * attributes are dropped (Dropout ratio/is_test, Gemm broadcast,
 * BatchNormalization spatial/is_test, consumed_inputs), the opset-1-to-6
 * `broadcast`/`axis` of element-wise ops becomes numpy broadcasting, and Softmax (LogSoftmax, Hardmax)
 * over the flattened tail becomes Flatten -> Softmax(axis -1) ->
 * Reshape(Shape(x)).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/graph/graph.h"

/* A new constant tensor named "<node>_<what>" (made unique). */
static int new_const(qb_graph *g, const char *node, const char *what, qb_dtype dt, int ndim, int64_t n,
                     const void *data)
{
    char name[512];
    int k = 0;
    do
        snprintf(name, sizeof name, "%.400s_%s%s%.0d", node, what, k ? "_" : "", k);
    while (qb_graph_find(g, name) >= 0 && ++k);
    int t = qb_graph_tensor(g, name);
    qb_tensor *x = g->tensors[t];
    x->kind = QB_T_CONST;
    x->dtype = dt;
    x->ndim = ndim;
    x->dims[0] = n;
    x->has_shape = 1;
    size_t bytes = (size_t)(n ? n : 1) * qb_dtype_size(dt);
    x->data = calloc(1, bytes);
    memcpy(x->data, data, (size_t)n * qb_dtype_size(dt) + (ndim ? 0 : qb_dtype_size(dt)));
    return t;
}

static void drop_attr(qb_node *n, const char *name)
{
    for (int i = 0; i < n->nattr; i++)
        if (!strcmp(n->attr[i].name, name)) {
            qb_attr *a = &n->attr[i];
            qb_attr_free(a); /* whatever its type: a file may give any attribute any type */
            memmove(a, a + 1, (n->nattr - i - 1) * sizeof *a);
            n->nattr--;
            return;
        }
}

/* Set input i (growing the input list with omitted inputs as needed). */
static void set_input(qb_node *n, int i, int t)
{
    if (i >= n->nin) {
        n->in = realloc(n->in, (i + 1) * sizeof(int));
        for (int j = n->nin; j <= i; j++)
            n->in[j] = -1;
        n->nin = i + 1;
    }
    n->in[i] = t;
}

/* INTS attribute name -> int64 constant input i. */
static void ints_to_input(qb_graph *g, int ni, const char *name, int i)
{
    const int64_t *v;
    int k = qb_attr_ints(&g->nodes[ni], name, &v);
    if (k < 0)
        return;
    int t = new_const(g, g->nodes[ni].name, name, QB_DT_INT64, 1, k, v);
    set_input(&g->nodes[ni], i, t);
    drop_attr(&g->nodes[ni], name);
}

/* Operators that had the opset-1-to-6 `broadcast` / `axis` attributes. */
static int legacy_bcast_op(const char *op)
{
    static const char *const ops[] = {"Add", "Sub", "Mul", "Div", "Pow", "And", "Or", "Xor",
                                      "Equal", "Greater", "Less", "PRelu", NULL};
    for (int i = 0; ops[i]; i++)
        if (!strcmp(op, ops[i]))
            return 1;
    return 0;
}

/* Opsets 1 to 6: with broadcast = 1, B's shape is a contiguous run of A's
 * dims starting at `axis` (default: A's last dims, which is numpy's
 * broadcasting). With an axis, B gets trailing 1-dims (a reshaped copy of
 * a constant B, or an Unsqueeze node) so that numpy broadcasting gives the
 * same result; that needs A's rank, known for graph inputs and
 * initializers. */
static int legacy_broadcast(qb_graph *g, int ni, qb_err *e)
{
    qb_node *n = &g->nodes[ni];
    const qb_attr *ax = qb_node_attr(n, "axis");
    if (qb_attr_int(n, "broadcast", 0) && ax && n->nin >= 2 && n->in[0] >= 0 && n->in[1] >= 0) {
        const qb_tensor *a = g->tensors[n->in[0]], *b = g->tensors[n->in[1]];
        int64_t axis = ax->i < 0 && a->has_shape ? ax->i + a->ndim : ax->i;
        if (!a->has_shape || !b->has_shape || axis < 0 || axis + b->ndim > a->ndim) {
            qb_errf(e, "%s: node '%s' (%s): the legacy broadcast with axis %lld needs inputs of known rank with B "
                    "inside A (opset %d)", g->file, n->name, n->op, (long long)ax->i, g->opset);
            return -1;
        }
        int extra = (int)(a->ndim - axis - b->ndim);
        if (extra > 0) {
            int64_t axes[QB_MAX_DIMS];
            for (int k = 0; k < extra; k++)
                axes[k] = b->ndim + k;
            char nm[512];
            snprintf(nm, sizeof nm, "%.400s_bcast", n->name);
            int bt = n->in[1], at = new_const(g, n->name, "bcast_axes", QB_DT_INT64, 1, extra, axes);
            int out = qb_graph_tensor(g, nm);
            int ui = qb_graph_add_node(g, "Unsqueeze", NULL, 2, 1);
            snprintf(nm, sizeof nm, "%.400s_unsqueeze", g->nodes[ni].name);
            free(g->nodes[ui].name);
            g->nodes[ui].name = strdup(nm);
            g->nodes[ui].in[0] = bt;
            g->nodes[ui].in[1] = at;
            g->nodes[ui].out[0] = out;
            g->nodes[ni].in[1] = out;
        }
    }
    drop_attr(&g->nodes[ni], "broadcast");
    drop_attr(&g->nodes[ni], "axis");
    return 0;
}

static int upgrade_node(qb_graph *g, int ni, qb_err *e)
{
    qb_node *n = &g->nodes[ni];
    const char *op = n->op;
    drop_attr(n, "consumed_inputs"); /* opsets 1 to 5: an in-place hint, no effect on values */
    if (g->opset < 7 && legacy_bcast_op(op) && qb_node_attr(n, "broadcast"))
        return legacy_broadcast(g, ni, e);
    if (!strcmp(op, "Squeeze") || !strcmp(op, "Unsqueeze")) {
        ints_to_input(g, ni, "axes", 1);
    } else if (!strcmp(op, "Reshape") && g->opset < 5) {
        ints_to_input(g, ni, "shape", 1);
    } else if (!strcmp(op, "Slice") && g->opset < 10) {
        const int64_t *v;
        if (qb_attr_ints(n, "starts", &v) < 0 || qb_attr_ints(n, "ends", &v) < 0) {
            qb_errf(e, "%s: node '%s' (Slice): starts and ends are required", g->file, n->name);
            return -1;
        }
        ints_to_input(g, ni, "starts", 1);
        ints_to_input(g, ni, "ends", 2);
        ints_to_input(g, ni, "axes", 3);
    } else if (!strcmp(op, "Clip") && g->opset < 11) {
        const qb_attr *lo = qb_node_attr(n, "min"), *hi = qb_node_attr(n, "max");
        if (lo) {
            int t = new_const(g, n->name, "min", QB_DT_FLOAT, 0, 0, &lo->f);
            set_input(&g->nodes[ni], 1, t);
        }
        n = &g->nodes[ni];
        if (hi) {
            int t = new_const(g, n->name, "max", QB_DT_FLOAT, 0, 0, &hi->f);
            set_input(&g->nodes[ni], 2, t);
        }
        drop_attr(&g->nodes[ni], "min");
        drop_attr(&g->nodes[ni], "max");
    } else if (!strcmp(op, "Dropout")) {
        if (qb_attr_int(n, "is_test", 1) == 0) {
            qb_errk(e, QB_ERR_UNSUPPORTED_ATTR,
                    "%s: node '%s' (Dropout): training mode (is_test = 0) is not supported", g->file, n->name);
            return -1;
        }
        if (g->opset < 12) {
            drop_attr(n, "ratio");
            drop_attr(n, "is_test");
        }
    } else if (!strcmp(op, "Gemm")) {
        drop_attr(n, "broadcast");
    } else if (!strcmp(op, "BatchNormalization")) {
        drop_attr(n, "spatial");
        drop_attr(n, "is_test");
    } else if ((!strcmp(op, "Softmax") || !strcmp(op, "LogSoftmax") || !strcmp(op, "Hardmax")) && n->nin >= 1 && n->in[0] >= 0 && n->nout >= 1 && n->out[0] >= 0) {
        /* y = Reshape(Softmax(Flatten(x, axis), axis=-1), Shape(x)) */
        int64_t axis = qb_attr_int(n, "axis", 1);
        char nm[512];
        int x = n->in[0], y = n->out[0];
        snprintf(nm, sizeof nm, "%.400s_flat", n->name);
        int flat = qb_graph_tensor(g, nm);
        snprintf(nm, sizeof nm, "%.400s_2d", n->name);
        int sm2 = qb_graph_tensor(g, nm);
        snprintf(nm, sizeof nm, "%.400s_shape", n->name);
        int shp = qb_graph_tensor(g, nm);
        n->in[0] = flat;
        n->out[0] = sm2;
        drop_attr(n, "axis");
        qb_attr *a;
        n->attr = realloc(n->attr, (n->nattr + 1) * sizeof *n->attr);
        a = &n->attr[n->nattr++];
        memset(a, 0, sizeof *a);
        a->name = strdup("axis");
        a->type = QB_ATTR_INT;
        a->i = -1;
        char base[400];
        snprintf(base, sizeof base, "%s", n->name);
        int fi = qb_graph_add_node(g, "Flatten", NULL, 1, 1);
        snprintf(nm, sizeof nm, "%.380s_flatten", base);
        free(g->nodes[fi].name);
        g->nodes[fi].name = strdup(nm);
        g->nodes[fi].in[0] = x;
        g->nodes[fi].out[0] = flat;
        g->nodes[fi].attr = calloc(1, sizeof(qb_attr));
        g->nodes[fi].nattr = 1;
        g->nodes[fi].attr[0] = (qb_attr){.name = strdup("axis"), .type = QB_ATTR_INT, .i = axis};
        int si = qb_graph_add_node(g, "Shape", NULL, 1, 1);
        snprintf(nm, sizeof nm, "%.380s_shapeof", base);
        free(g->nodes[si].name);
        g->nodes[si].name = strdup(nm);
        g->nodes[si].in[0] = x;
        g->nodes[si].out[0] = shp;
        int ri = qb_graph_add_node(g, "Reshape", NULL, 2, 1);
        snprintf(nm, sizeof nm, "%.380s_reshape", base);
        free(g->nodes[ri].name);
        g->nodes[ri].name = strdup(nm);
        g->nodes[ri].in[0] = sm2;
        g->nodes[ri].in[1] = shp;
        g->nodes[ri].out[0] = y;
    }
    return 0;
}

int qb_graph_upgrade(qb_graph *g, qb_err *e)
{
    if (g->opset >= 13)
        return 0;
    int nn = g->nnodes; /* nodes added by the rewrite are already opset 13 */
    for (int i = 0; i < nn; i++)
        if (upgrade_node(g, i, e))
            return -1;
    g->opset = 13;
    return 0;
}
