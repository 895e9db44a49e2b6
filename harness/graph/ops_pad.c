/*
 * ops_pad.c - Pad: modes constant, reflect and edge on any rank and element
 * type; pads from the attribute (opset < 11) or a constant input (opset
 * 11+, with optional constant_value and, from opset 18, axes). Negative
 * pads crop. Each output axis maps to a source index (or to the constant)
 * through a table built at prepare, so a run is a gather.
 */
#include <stdlib.h>
#include <string.h>

#include "harness/graph/ops.h"

typedef struct pad_state {
    int rank;                  /* rank of input and output */
    int64_t *map[QB_MAX_DIMS]; /* per axis: output index -> input index, -1 = constant */
    double value;              /* constant mode: the fill value */
} pad_state;

static void pad_free(void *p)
{
    pad_state *s = p;
    for (int i = 0; s && i < s->rank; i++)
        free(s->map[i]);
    free(s);
}

/* Source index of output position o on an axis of n input elements. */
static int64_t source(int mode, int64_t o, int64_t before, int64_t n)
{
    int64_t i = o - before;
    if (i >= 0 && i < n)
        return i;
    if (mode == 0)
        return -1;
    if (mode == 2 || n == 1) /* edge */
        return i < 0 ? 0 : n - 1;
    int64_t period = 2 * (n - 1); /* reflect: ... 2 1 | 0 1 2 .. n-1 | n-2 ... */
    i %= period;
    if (i < 0)
        i += period;
    return i < n ? i : period - i;
}

static int pad_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *x = qb_need_in(g, n, 0, e);
    if (!x)
        return -1;
    int r = x->ndim;
    const char *ms = qb_attr_str(n, "mode", "constant");
    int mode = !strcmp(ms, "constant") ? 0 : !strcmp(ms, "reflect") ? 1 : !strcmp(ms, "edge") ? 2 : -1;
    if (mode < 0) {
        QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_ATTR,
                            "mode '%s' is not supported (constant, reflect or edge)", ms);
        return -1;
    }
    int64_t pads[2 * QB_MAX_DIMS] = {0};
    double value = 0;
    if (g->opset < 11) {
        const int64_t *p;
        int np = qb_attr_ints(n, "pads", &p);
        if (np != 2 * r) {
            QB_NODE_ERR(e, g, n, "attribute pads has %d values, rank %d needs %d", np, r, 2 * r);
            return -1;
        }
        memcpy(pads, p, 2 * r * sizeof *p);
        value = qb_attr_float(n, "value", 0.0f);
    } else {
        qb_tensor *tp = qb_in(g, n, 1), *tv = qb_in(g, n, 2), *ta = qb_in(g, n, 3);
        if (!tp || tp->kind != QB_T_CONST || (tv && tv->kind != QB_T_CONST) || (ta && ta->kind != QB_T_CONST)) {
            QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_DYNAMIC,
                                "pads, constant_value and axes must be constant (computed from initializers only)");
            return -1;
        }
        int na = r;
        int axes[QB_MAX_DIMS];
        for (int i = 0; i < r; i++)
            axes[i] = i;
        if (ta) {
            na = (int)qb_tensor_count(ta);
            for (int i = 0; i < na && i < QB_MAX_DIMS; i++)
                if ((axes[i] = qb_axis(qb_int_at(ta, i), r)) < 0) {
                    QB_NODE_ERR(e, g, n, "axis %lld is out of range for rank %d", (long long)qb_int_at(ta, i), r);
                    return -1;
                }
        }
        if (!qb_dtype_is_int(tp->dtype) || qb_tensor_count(tp) != 2 * na || na > QB_MAX_DIMS) {
            QB_NODE_ERR(e, g, n, "pads has %lld values, %d axes need %d", (long long)qb_tensor_count(tp), na, 2 * na);
            return -1;
        }
        for (int i = 0; i < na; i++) {
            pads[axes[i]] = qb_int_at(tp, i);
            pads[r + axes[i]] = qb_int_at(tp, na + i);
        }
        if (tv && qb_tensor_count(tv) >= 1)
            value = qb_get_d(tv, 0);
    }
    int64_t dims[QB_MAX_DIMS];
    for (int i = 0; i < r; i++) {
        dims[i] = x->dims[i] + pads[i] + pads[r + i];
        if (dims[i] < 0 || (mode && x->dims[i] == 0 && dims[i] > 0)) {
            QB_NODE_ERR(e, g, n, "pads %lld/%lld do not fit axis %d of size %lld", (long long)pads[i],
                        (long long)pads[r + i], i, (long long)x->dims[i]);
            return -1;
        }
    }
    pad_state *s = calloc(1, sizeof *s);
    n->state = s;
    n->free_state = pad_free;
    s->rank = r;
    s->value = value;
    for (int i = 0; i < r; i++) {
        s->map[i] = malloc((size_t)(dims[i] + 1) * sizeof(int64_t));
        for (int64_t o = 0; o < dims[i]; o++)
            s->map[i][o] = source(mode, o, pads[i], x->dims[i]);
    }
    qb_set_out(g, n, 0, x->dtype, r, dims);
    return 0;
}

static void pad_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const pad_state *s = n->state;
    const qb_tensor *x = qb_in(g, n, 0);
    qb_tensor *y = qb_out(g, n, 0);
    int r = s->rank;
    size_t es = qb_dtype_size(x->dtype);
    int64_t total = qb_tensor_count(y);
    if (total <= 0)
        return;
    /* the fill value in the element type, once */
    qb_tensor fill = {.dtype = x->dtype, .ndim = 0};
    uint64_t fbuf = 0;
    fill.data = &fbuf;
    qb_set_d(&fill, 0, s->value);
    int64_t xs[QB_MAX_DIMS], idx[QB_MAX_DIMS] = {0};
    int64_t acc = 1;
    for (int i = r - 1; i >= 0; i--) {
        xs[i] = acc;
        acc *= x->dims[i];
    }
    const char *xd = x->data;
    char *yd = y->data;
    if (r == 0) {
        memcpy(yd, xd, es);
        return;
    }
    int64_t inner = y->dims[r - 1];
    const int64_t *mi = s->map[r - 1];
    for (int64_t o = 0; o < total; o += inner) {
        int64_t base = 0, outside = 0;
        for (int d = 0; d < r - 1; d++) {
            int64_t src = s->map[d][idx[d]];
            if (src < 0)
                outside = 1;
            base += src * xs[d];
        }
        for (int64_t j = 0; j < inner; j++, yd += es) {
            int64_t src = mi[j];
            if (outside || src < 0)
                memcpy(yd, &fbuf, es);
            else
                memcpy(yd, xd + (base + src) * (int64_t)es, es);
        }
        for (int d = r - 2; d >= 0; d--) {
            if (++idx[d] < y->dims[d])
                break;
            idx[d] = 0;
        }
    }
}

const qb_opdef qb_ops_pad[] = {
    {"Pad", pad_prepare, pad_run, NULL, QB_OPF_ANY_DTYPE, 1u << 1 | 1u << 2 | 1u << 3},
    {NULL, NULL, NULL, NULL, 0, 0},
};
