/*
 * ops_index.c - operators that read elements at computed positions:
 * GatherElements (indices along one axis), GatherND (index tuples,
 * batch_dims), OneHot (constant depth), and the ones whose output length
 * depends on the values, which are therefore needed when preparing:
 * NonZero (its input) and Compress (its condition). Data of every element
 * type; indices int32 or int64, negative ones counted from the end. Constant
 * indices are range-checked when preparing (a message naming the node);
 * out-of-range indices computed at run time give zeros.
 */
#include <stdlib.h>
#include <string.h>

#include "harness/graph/ops.h"

static int need_indices(qb_graph *g, qb_node *n, int i, qb_tensor **out, qb_err *e)
{
    qb_tensor *t = qb_need_in(g, n, i, e);
    *out = t;
    if (!t)
        return -1;
    if (t->dtype != QB_DT_INT64 && t->dtype != QB_DT_INT32) {
        QB_NODE_ERR(e, g, n, "indices '%s' are %s (int32 or int64)", t->name, qb_dtype_name(t->dtype));
        return -1;
    }
    return 0;
}

/* Constant indices must lie in [-dim, dim). */
static int check_range(qb_graph *g, qb_node *n, const qb_tensor *ind, int64_t dim, qb_err *e)
{
    if (ind->kind != QB_T_CONST)
        return 0;
    for (int64_t i = 0, c = qb_tensor_count(ind); i < c; i++) {
        int64_t v = qb_int_at(ind, i);
        if (v < -dim || v >= dim) {
            QB_NODE_ERR(e, g, n, "index %lld of '%s' is out of range for a dimension of %lld", (long long)v,
                        ind->name, (long long)dim);
            return -1;
        }
    }
    return 0;
}

/* ---- GatherElements ---- */
static int gel_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *x = qb_need_in(g, n, 0, e), *ind;
    if (!x || need_indices(g, n, 1, &ind, e))
        return -1;
    int a = qb_axis(qb_attr_int(n, "axis", 0), x->ndim);
    if (a < 0 || ind->ndim != x->ndim) {
        QB_NODE_ERR(e, g, n, "indices must have the data's rank (%d) and the axis must be in range", x->ndim);
        return -1;
    }
    if (check_range(g, n, ind, x->dims[a], e))
        return -1;
    int *s = malloc(sizeof *s);
    if (!s) {
        QB_NODE_ERR(e, g, n, "out of memory");
        return -1;
    }
    *s = a;
    n->state = s;
    qb_set_out(g, n, 0, x->dtype, ind->ndim, ind->dims);
    return 0;
}

static void gel_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    int a = *(const int *)n->state;
    const qb_tensor *x = qb_in(g, n, 0), *ind = qb_in(g, n, 1);
    qb_tensor *y = qb_out(g, n, 0);
    size_t es = qb_dtype_size(x->dtype);
    int64_t str[QB_MAX_DIMS], acc = 1, idx[QB_MAX_DIMS] = {0};
    for (int d = x->ndim - 1; d >= 0; d--) {
        str[d] = acc;
        acc *= x->dims[d];
    }
    for (int64_t i = 0, c = qb_tensor_count(ind); i < c; i++) {
        int64_t v = qb_int_at(ind, i), off = 0;
        if (v < 0)
            v += x->dims[a];
        int ok = v >= 0 && v < x->dims[a];
        for (int d = 0; d < x->ndim; d++)
            off += (d == a ? v : idx[d]) * str[d];
        if (ok)
            memcpy((char *)y->data + i * es, (const char *)x->data + off * es, es);
        else
            memset((char *)y->data + i * es, 0, es);
        for (int d = ind->ndim - 1; d >= 0; d--) {
            if (++idx[d] < ind->dims[d])
                break;
            idx[d] = 0;
        }
    }
}

/* ---- GatherND ---- */
typedef struct gnd_state {
    int64_t batch;   /* prod(data.dims[:b]) */
    int64_t tuples;  /* index tuples per batch */
    int k;           /* tuple length */
    int64_t slice;   /* elements copied per tuple */
    int64_t bstride; /* data elements per batch */
    int64_t dstr[QB_MAX_DIMS]; /* data strides of the indexed dims b .. b+k */
    int64_t ddim[QB_MAX_DIMS]; /* and their sizes */
} gnd_state;

static int gnd_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *x = qb_need_in(g, n, 0, e), *ind;
    if (!x || need_indices(g, n, 1, &ind, e))
        return -1;
    int b = (int)qb_attr_int(n, "batch_dims", 0), q = ind->ndim, r = x->ndim;
    int k = q ? (int)ind->dims[q - 1] : -1;
    if (q < 1 || b < 0 || b >= q || b >= r || k < 1 || k > r - b) {
        QB_NODE_ERR(e, g, n, "indices of shape rank %d with last dim %d do not fit data of rank %d (batch_dims %d)", q,
                    k, r, b);
        return -1;
    }
    for (int d = 0; d < b; d++)
        if (ind->dims[d] != x->dims[d]) {
            QB_NODE_ERR(e, g, n, "the first batch_dims dims of data and indices differ");
            return -1;
        }
    gnd_state *s = calloc(1, sizeof *s);
    if (!s) {
        QB_NODE_ERR(e, g, n, "out of memory");
        return -1;
    }
    n->state = s;
    s->k = k;
    s->batch = s->tuples = s->slice = 1;
    int64_t od[QB_MAX_DIMS], acc = 1;
    int orank = 0;
    for (int d = 0; d < b; d++)
        s->batch *= x->dims[d];
    for (int d = 0; d < q - 1; d++) {
        od[orank++] = ind->dims[d];
        if (d >= b)
            s->tuples *= ind->dims[d];
    }
    for (int d = b + k; d < r; d++) {
        od[orank++] = x->dims[d];
        s->slice *= x->dims[d];
    }
    if (orank > QB_MAX_DIMS) {
        QB_NODE_ERR(e, g, n, "output rank %d is above %d", orank, QB_MAX_DIMS);
        return -1;
    }
    for (int d = r - 1; d >= b; d--) {
        if (d < b + k) {
            s->dstr[d - b] = acc;
            s->ddim[d - b] = x->dims[d];
        }
        acc *= x->dims[d];
    }
    s->bstride = acc;
    if (ind->kind == QB_T_CONST)
        for (int64_t t = 0; t < qb_tensor_count(ind); t++) {
            int64_t v = qb_int_at(ind, t), dim = s->ddim[t % k];
            if (v < -dim || v >= dim) {
                QB_NODE_ERR(e, g, n, "index %lld is out of range for a dimension of %lld", (long long)v, (long long)dim);
                return -1;
            }
        }
    qb_set_out(g, n, 0, x->dtype, orank, od);
    return 0;
}

static void gnd_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const gnd_state *s = n->state;
    const qb_tensor *x = qb_in(g, n, 0), *ind = qb_in(g, n, 1);
    qb_tensor *y = qb_out(g, n, 0);
    size_t es = qb_dtype_size(x->dtype), sb = (size_t)s->slice * es;
    for (int64_t bt = 0; bt < s->batch; bt++)
        for (int64_t t = 0; t < s->tuples; t++) {
            int64_t it = (bt * s->tuples + t) * s->k, off = bt * s->bstride;
            int ok = 1;
            for (int j = 0; j < s->k; j++) {
                int64_t v = qb_int_at(ind, it + j);
                if (v < 0)
                    v += s->ddim[j];
                ok &= v >= 0 && v < s->ddim[j];
                off += v * s->dstr[j];
            }
            char *dst = (char *)y->data + (bt * s->tuples + t) * sb;
            if (ok)
                memcpy(dst, (const char *)x->data + off * es, sb);
            else
                memset(dst, 0, sb);
        }
}

/* ---- NonZero ---- */
static int nonzero_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *x = qb_need_in(g, n, 0, e);
    if (!x)
        return -1;
    if (x->kind != QB_T_CONST) {
        QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_DYNAMIC,
                            "input '%s' must be constant: the output's length depends on its values", x->name);
        return -1;
    }
    int64_t nz = 0;
    for (int64_t i = 0, c = qb_tensor_count(x); i < c; i++)
        nz += qb_get_d(x, i) != 0;
    int64_t od[2] = {x->ndim ? x->ndim : 1, nz};
    qb_set_out(g, n, 0, QB_DT_INT64, 2, od);
    return 0;
}

static void nonzero_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const qb_tensor *x = qb_in(g, n, 0);
    qb_tensor *y = qb_out(g, n, 0);
    int64_t nz = y->dims[1], k = 0, idx[QB_MAX_DIMS] = {0};
    for (int64_t i = 0, c = qb_tensor_count(x); i < c; i++) {
        if (qb_get_d(x, i) != 0) {
            for (int d = 0; d < (x->ndim ? x->ndim : 1); d++)
                ((int64_t *)y->data)[d * nz + k] = x->ndim ? idx[d] : 0;
            k++;
        }
        for (int d = x->ndim - 1; d >= 0; d--) {
            if (++idx[d] < x->dims[d])
                break;
            idx[d] = 0;
        }
    }
}

/* ---- Compress ---- */
static int compress_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *x = qb_need_in(g, n, 0, e), *c = x ? qb_need_in(g, n, 1, e) : NULL;
    if (!c)
        return -1;
    if (c->kind != QB_T_CONST || c->dtype != QB_DT_BOOL || c->ndim != 1) {
        QB_NODE_ERR(e, g, n, "condition '%s' must be a constant 1-D bool tensor", c->name);
        return -1;
    }
    const qb_attr *aa = qb_node_attr(n, "axis");
    int a = aa ? qb_axis(aa->i, x->ndim) : -1;
    int64_t len = aa ? (a >= 0 ? x->dims[a] : 0) : qb_tensor_count(x), kept = 0;
    if ((aa && a < 0) || c->dims[0] > len) {
        QB_NODE_ERR(e, g, n, "axis out of range or condition longer than the axis");
        return -1;
    }
    for (int64_t i = 0; i < c->dims[0]; i++)
        kept += qb_int_at(c, i) != 0;
    if (!aa) {
        qb_set_out(g, n, 0, x->dtype, 1, &kept);
    } else {
        int64_t od[QB_MAX_DIMS];
        memcpy(od, x->dims, sizeof od);
        od[a] = kept;
        qb_set_out(g, n, 0, x->dtype, x->ndim, od);
    }
    return 0;
}

static void compress_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const qb_tensor *x = qb_in(g, n, 0), *c = qb_in(g, n, 1);
    qb_tensor *y = qb_out(g, n, 0);
    const qb_attr *aa = qb_node_attr(n, "axis");
    size_t es = qb_dtype_size(x->dtype);
    int64_t outer = 1, inner = 1, len = qb_tensor_count(x);
    if (aa) {
        int a = qb_axis(aa->i, x->ndim);
        len = x->dims[a];
        for (int d = 0; d < x->ndim; d++)
            if (d < a)
                outer *= x->dims[d];
            else if (d > a)
                inner *= x->dims[d];
    }
    char *dst = y->data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < len && j < c->dims[0]; j++)
            if (qb_int_at(c, j)) {
                memcpy(dst, (const char *)x->data + (o * len + j) * inner * es, inner * es);
                dst += inner * es;
            }
}

/* ---- OneHot ---- */
typedef struct onehot_state {
    int axis;       /* where the depth dim is inserted in the output */
    int64_t depth;  /* classes */
} onehot_state;

static int onehot_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *ind = qb_need_in(g, n, 0, e), *dt = ind ? qb_need_in(g, n, 1, e) : NULL,
              *vt = dt ? qb_need_in(g, n, 2, e) : NULL;
    if (!vt)
        return -1;
    if (dt->kind != QB_T_CONST || qb_tensor_count(dt) != 1 || dt->dtype == QB_DT_BOOL) {
        QB_NODE_ERR(e, g, n, "depth '%s' must be a constant numeric scalar", dt->name);
        return -1;
    }
    if (qb_tensor_count(vt) != 2 || ind->dtype == QB_DT_BOOL || ind->ndim + 1 > QB_MAX_DIMS) {
        QB_NODE_ERR(e, g, n, "values must hold [off, on] and indices must be numeric");
        return -1;
    }
    onehot_state *s = calloc(1, sizeof *s);
    if (!s) {
        QB_NODE_ERR(e, g, n, "out of memory");
        return -1;
    }
    n->state = s;
    s->depth = (int64_t)qb_get_d(dt, 0);
    int a = qb_axis(qb_attr_int(n, "axis", -1), ind->ndim + 1);
    if (a < 0 || s->depth < 1) {
        QB_NODE_ERR(e, g, n, "axis out of range or depth below 1");
        return -1;
    }
    s->axis = a;
    int64_t od[QB_MAX_DIMS];
    for (int d = 0, k = 0; d <= ind->ndim; d++)
        od[d] = d == a ? s->depth : ind->dims[k++];
    qb_set_out(g, n, 0, vt->dtype, ind->ndim + 1, od);
    return 0;
}

static void onehot_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const onehot_state *s = n->state;
    const qb_tensor *ind = qb_in(g, n, 0), *vt = qb_in(g, n, 2);
    qb_tensor *y = qb_out(g, n, 0);
    size_t es = qb_dtype_size(y->dtype);
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < ind->ndim; d++)
        if (d < s->axis)
            outer *= ind->dims[d];
        else
            inner *= ind->dims[d];
    for (int64_t o = 0; o < outer; o++)
        for (int64_t k = 0; k < s->depth; k++)
            for (int64_t i = 0; i < inner; i++) {
                int64_t v = (int64_t)qb_get_d(ind, o * inner + i);
                if (v < 0)
                    v += s->depth;
                memcpy((char *)y->data + ((o * s->depth + k) * inner + i) * es,
                       (const char *)vt->data + (v == k ? es : 0), es);
            }
}

const qb_opdef qb_ops_index[] = {
    {"GatherElements", gel_prepare, gel_run, NULL, QB_OPF_ANY_DTYPE | QB_OPF_ZERO_SIZE, 0},
    {"GatherND", gnd_prepare, gnd_run, NULL, QB_OPF_ANY_DTYPE, 0},
    {"NonZero", nonzero_prepare, nonzero_run, NULL, QB_OPF_ANY_DTYPE | QB_OPF_ZERO_SIZE, 1u << 0},
    {"Compress", compress_prepare, compress_run, NULL, QB_OPF_ANY_DTYPE, 1u << 1},
    {"OneHot", onehot_prepare, onehot_run, NULL, QB_OPF_ANY_DTYPE, 1u << 1},
    {NULL, NULL, NULL, NULL, 0, 0},
};
