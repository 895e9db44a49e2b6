/*
 * ops_scatter.c - operators that write updates into a copy of the data at
 * computed positions: ScatterND (index tuples) and ScatterElements (and
 * its opset-9 name Scatter; indices along one axis), with reduction none,
 * add, mul, max or min; duplicate indices apply in order. Data of every
 * element type (add/mul/max/min on numeric types, floats through double);
 * indices int32 or int64, negative counted from the end; constant
 * indices are range-checked when preparing, out-of-range indices computed
 * at run time are ignored.
 */
#include <stdlib.h>
#include <string.h>

#include "harness/graph/ops.h"

enum { RED_NONE, RED_ADD, RED_MUL, RED_MAX, RED_MIN };

/* Prepared: the reduction and the axis. */
typedef struct scatter_state {
    int red;  /* RED_* */
    int axis; /* ScatterElements */
} scatter_state;

static scatter_state *common(qb_graph *g, qb_node *n, qb_tensor **x, qb_tensor **ind, qb_tensor **up, qb_err *e)
{
    if (!(*x = qb_need_in(g, n, 0, e)) || !(*ind = qb_need_in(g, n, 1, e)) || !(*up = qb_need_in(g, n, 2, e)))
        return NULL;
    if ((*ind)->dtype != QB_DT_INT64 && (*ind)->dtype != QB_DT_INT32) {
        QB_NODE_ERR(e, g, n, "indices '%s' are %s (int32 or int64)", (*ind)->name, qb_dtype_name((*ind)->dtype));
        return NULL;
    }
    if ((*up)->dtype != (*x)->dtype) {
        QB_NODE_ERR(e, g, n, "updates are %s, data %s", qb_dtype_name((*up)->dtype), qb_dtype_name((*x)->dtype));
        return NULL;
    }
    static const char *const names[] = {"none", "add", "mul", "max", "min"};
    const char *r = qb_attr_str(n, "reduction", "none");
    int red = -1;
    for (int i = 0; i < 5; i++)
        if (!strcmp(r, names[i]))
            red = i;
    if (red < 0 || (red != RED_NONE && (*x)->dtype == QB_DT_BOOL)) {
        QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_ATTR,
                            "reduction '%s' is not supported here (none, add, mul, max, min on numeric types)", r);
        return NULL;
    }
    scatter_state *s = calloc(1, sizeof *s);
    if (!s) {
        QB_NODE_ERR(e, g, n, "out of memory");
        return NULL;
    }
    n->state = s;
    s->red = red;
    qb_set_out(g, n, 0, (*x)->dtype, (*x)->ndim, (*x)->dims);
    return s;
}

/* y[o] = reduce(y[o], u[i]). */
static void apply(int red, qb_tensor *y, int64_t o, const qb_tensor *u, int64_t i)
{
    size_t es = qb_dtype_size(y->dtype);
    if (red == RED_NONE) {
        memcpy((char *)y->data + o * es, (const char *)u->data + i * es, es);
    } else if (qb_dtype_is_int(y->dtype)) {
        int64_t a = qb_int_at(y, o), b = qb_int_at(u, i);
        int64_t v = red == RED_ADD ? (int64_t)((uint64_t)a + (uint64_t)b) : red == RED_MUL ? (int64_t)((uint64_t)a * (uint64_t)b)
                  : red == RED_MAX ? (a > b ? a : b) : (a < b ? a : b);
        qb_set_i(y, o, v);
    } else {
        double a = qb_get_d(y, o), b = qb_get_d(u, i);
        double v = red == RED_ADD ? a + b : red == RED_MUL ? a * b : red == RED_MAX ? (a > b ? a : b) : (a < b ? a : b);
        qb_set_d(y, o, v);
    }
}

static void copy_data(const qb_tensor *x, qb_tensor *y)
{
    if (x->data != y->data)
        memcpy(y->data, x->data, (size_t)qb_tensor_count(x) * qb_dtype_size(x->dtype));
}

/* ---- ScatterND ---- */
static int snd_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *x, *ind, *up;
    if (!common(g, n, &x, &ind, &up, e))
        return -1;
    int q = ind->ndim, r = x->ndim, k = q ? (int)ind->dims[q - 1] : -1;
    int ok = q >= 1 && k >= 1 && k <= r && up->ndim == q - 1 + r - k;
    for (int d = 0; ok && d < q - 1; d++)
        ok = up->dims[d] == ind->dims[d];
    for (int d = k; ok && d < r; d++)
        ok = up->dims[q - 1 + d - k] == x->dims[d];
    if (!ok) {
        QB_NODE_ERR(e, g, n, "shapes of data, indices and updates do not fit ScatterND");
        return -1;
    }
    if (ind->kind == QB_T_CONST)
        for (int64_t t = 0, c = qb_tensor_count(ind); t < c; t++) {
            int64_t v = qb_int_at(ind, t), dim = x->dims[t % k];
            if (v < -dim || v >= dim) {
                QB_NODE_ERR(e, g, n, "index %lld is out of range for a dimension of %lld", (long long)v, (long long)dim);
                return -1;
            }
        }
    return 0;
}

static void snd_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const scatter_state *s = n->state;
    const qb_tensor *x = qb_in(g, n, 0), *ind = qb_in(g, n, 1), *up = qb_in(g, n, 2);
    qb_tensor *y = qb_out(g, n, 0);
    copy_data(x, y);
    int k = (int)ind->dims[ind->ndim - 1];
    int64_t slice = 1, str[QB_MAX_DIMS], acc = 1;
    for (int d = x->ndim - 1; d >= 0; d--) {
        str[d] = acc;
        acc *= x->dims[d];
        if (d >= k)
            slice *= x->dims[d];
    }
    int64_t tuples = qb_tensor_count(ind) / k;
    for (int64_t t = 0; t < tuples; t++) {
        int64_t off = 0;
        int ok = 1;
        for (int j = 0; j < k; j++) {
            int64_t v = qb_int_at(ind, t * k + j);
            if (v < 0)
                v += x->dims[j];
            ok &= v >= 0 && v < x->dims[j];
            off += v * str[j];
        }
        for (int64_t i = 0; ok && i < slice; i++)
            apply(s->red, y, off + i, up, t * slice + i);
    }
}

/* ---- ScatterElements / Scatter ---- */
static int sel_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *x, *ind, *up;
    scatter_state *s = common(g, n, &x, &ind, &up, e);
    if (!s)
        return -1;
    int a = qb_axis(qb_attr_int(n, "axis", 0), x->ndim);
    int ok = a >= 0 && ind->ndim == x->ndim && up->ndim == x->ndim;
    for (int d = 0; ok && d < x->ndim; d++)
        ok = up->dims[d] == ind->dims[d] && (d == a || ind->dims[d] <= x->dims[d]);
    if (!ok) {
        QB_NODE_ERR(e, g, n, "shapes of data, indices and updates or the axis do not fit");
        return -1;
    }
    s->axis = a;
    if (ind->kind == QB_T_CONST)
        for (int64_t t = 0, c = qb_tensor_count(ind); t < c; t++) {
            int64_t v = qb_int_at(ind, t);
            if (v < -x->dims[a] || v >= x->dims[a]) {
                QB_NODE_ERR(e, g, n, "index %lld is out of range for a dimension of %lld", (long long)v,
                            (long long)x->dims[a]);
                return -1;
            }
        }
    return 0;
}

static void sel_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const scatter_state *s = n->state;
    const qb_tensor *x = qb_in(g, n, 0), *ind = qb_in(g, n, 1), *up = qb_in(g, n, 2);
    qb_tensor *y = qb_out(g, n, 0);
    copy_data(x, y);
    int64_t str[QB_MAX_DIMS], acc = 1, idx[QB_MAX_DIMS] = {0};
    for (int d = x->ndim - 1; d >= 0; d--) {
        str[d] = acc;
        acc *= x->dims[d];
    }
    for (int64_t i = 0, c = qb_tensor_count(ind); i < c; i++) {
        int64_t v = qb_int_at(ind, i), off = 0;
        if (v < 0)
            v += x->dims[s->axis];
        for (int d = 0; d < x->ndim; d++)
            off += (d == s->axis ? v : idx[d]) * str[d];
        if (v >= 0 && v < x->dims[s->axis])
            apply(s->red, y, off, up, i);
        for (int d = ind->ndim - 1; d >= 0; d--) {
            if (++idx[d] < ind->dims[d])
                break;
            idx[d] = 0;
        }
    }
}

const qb_opdef qb_ops_scatter[] = {
    {"ScatterND", snd_prepare, snd_run, NULL, QB_OPF_ANY_DTYPE, 0},
    {"ScatterElements", sel_prepare, sel_run, NULL, QB_OPF_ANY_DTYPE, 0},
    {"Scatter", sel_prepare, sel_run, NULL, QB_OPF_ANY_DTYPE, 0},
    {NULL, NULL, NULL, NULL, 0, 0},
};
