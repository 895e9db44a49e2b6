/*
 * ops_arith.c - arithmetic with numpy broadcasting beyond Add/Sub/Mul/
 * Div/Pow (ops_elem.c): Mod (fmod = 0: the sign of the divisor, as
 * Python; fmod = 1: the sign of the dividend, as C's fmod; integers exact,
 * a zero divisor gives 0), PRelu (slope broadcast to the input; a 1-D
 * slope of an opset-6 model is per channel), and the
 * variadic Sum and Mean (up to QB_BCAST_MAX inputs; float types summed in
 * double). Min and Max are in ops_minmax.c.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness/graph/ops.h"

/* Prepared: the broadcast of the inputs and the fmod flag. */
typedef struct arith_state {
    qb_bcast b; /* inputs broadcast to the output */
    int fmod;   /* Mod: C semantics */
} arith_state;

static arith_state *new_state(qb_graph *g, qb_node *n, qb_err *e)
{
    arith_state *s = calloc(1, sizeof *s);
    if (!s)
        QB_NODE_ERR(e, g, n, "out of memory");
    n->state = s;
    return s;
}

/* Inputs 0..k-1 all of one numeric type. */
static int same_numeric(qb_graph *g, qb_node *n, int k, int floats_only, qb_err *e)
{
    const qb_tensor *a = qb_in(g, n, 0);
    for (int i = 0; i < k; i++) {
        const qb_tensor *t = qb_in(g, n, i);
        if (t->dtype != a->dtype || t->dtype == QB_DT_BOOL || (floats_only && !qb_dtype_is_float(t->dtype))) {
            QB_NODE_ERR(e, g, n, "input '%s' is %s; the inputs must be of one %s type", t->name,
                        qb_dtype_name(t->dtype), floats_only ? "float" : "numeric");
            return -1;
        }
    }
    return 0;
}

/* ---- Mod ---- */
static int mod_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    arith_state *s = new_state(g, n, e);
    if (!s || qb_bcast_inputs(g, n, 2, &s->b, e) || same_numeric(g, n, 2, 0, e))
        return -1;
    s->fmod = (int)qb_attr_int(n, "fmod", 0);
    qb_set_out(g, n, 0, qb_in(g, n, 0)->dtype, s->b.rank, s->b.dims);
    return 0;
}

static void mod_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const arith_state *s = n->state;
    const qb_tensor *a = qb_in(g, n, 0), *b = qb_in(g, n, 1);
    qb_tensor *y = qb_out(g, n, 0);
    qb_bcast_pos p = {0};
    for (int64_t i = 0; i < s->b.count; i++, qb_bcast_next(&s->b, &p)) {
        if (y->dtype == QB_DT_UINT64) {
            uint64_t x = (uint64_t)qb_int_at(a, p.off[0]), d = (uint64_t)qb_int_at(b, p.off[1]);
            qb_set_i(y, i, (int64_t)(d ? x % d : 0));
        } else if (qb_dtype_is_int(y->dtype)) {
            int64_t x = qb_int_at(a, p.off[0]), d = qb_int_at(b, p.off[1]);
            int64_t r = d == 0 || d == -1 ? 0 : x % d;
            if (!s->fmod && r != 0 && ((r < 0) != (d < 0)))
                r += d;
            qb_set_i(y, i, r);
        } else {
            double x = qb_get_d(a, p.off[0]), d = qb_get_d(b, p.off[1]);
            double r = fmod(x, d);
            if (!s->fmod && r != 0 && ((r < 0) != (d < 0)))
                r += d;
            qb_set_d(y, i, r);
        }
    }
}

/* ---- PRelu ---- */
static int prelu_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    arith_state *s = new_state(g, n, e);
    const qb_tensor *x = qb_need_in(g, n, 0, e), *sl = x ? qb_need_in(g, n, 1, e) : NULL;
    if (!s || !sl)
        return -1;
    if (sl->ndim == 1 && x->ndim > 2 && sl->dims[0] == x->dims[1] && sl->dims[0] != x->dims[x->ndim - 1]) {
        /* opset 6 and older: a 1-D slope is per channel (dim 1); read it as [C, 1, ..., 1] */
        qb_tensor v = *sl;
        v.ndim = x->ndim - 1;
        for (int d = 1; d < v.ndim; d++)
            v.dims[d] = 1;
        const qb_tensor *ts[2] = {x, &v};
        if (qb_bcast_init(&s->b, 2, ts))
            return -1;
    } else if (qb_bcast_inputs(g, n, 2, &s->b, e)) {
        return -1;
    }
    if (same_numeric(g, n, 2, 0, e))
        return -1;
    if (s->b.rank != x->ndim || memcmp(s->b.dims, x->dims, x->ndim * sizeof(int64_t))) {
        QB_NODE_ERR(e, g, n, "slope '%s' does not broadcast to the input's shape", qb_in(g, n, 1)->name);
        return -1;
    }
    qb_set_out(g, n, 0, x->dtype, x->ndim, x->dims);
    return 0;
}

static void prelu_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const arith_state *s = n->state;
    const qb_tensor *x = qb_in(g, n, 0), *sl = qb_in(g, n, 1);
    qb_tensor *y = qb_out(g, n, 0);
    qb_bcast_pos p = {0};
    if (x->dtype == QB_DT_FLOAT) {
        const float *xp = x->data, *sp = sl->data;
        float *yp = y->data;
        for (int64_t i = 0; i < s->b.count; i++, qb_bcast_next(&s->b, &p))
            yp[i] = xp[i] < 0 ? xp[i] * sp[p.off[1]] : xp[i];
        return;
    }
    for (int64_t i = 0; i < s->b.count; i++, qb_bcast_next(&s->b, &p)) {
        if (qb_dtype_is_int(x->dtype)) {
            int64_t v = qb_int_at(x, i);
            qb_set_i(y, i, v < 0 ? v * qb_int_at(sl, p.off[1]) : v);
        } else {
            double v = qb_get_d(x, i);
            qb_set_d(y, i, v < 0 ? v * qb_get_d(sl, p.off[1]) : v);
        }
    }
}

/* ---- Sum / Mean ---- */
static int sum_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    if (n->nin < 1 || n->nin > QB_BCAST_MAX) {
        QB_NODE_ERR(e, g, n, "%d inputs; 1 to %d are supported", n->nin, QB_BCAST_MAX);
        return -1;
    }
    arith_state *s = new_state(g, n, e);
    int mean = !strcmp(n->op, "Mean");
    if (!s || qb_bcast_inputs(g, n, n->nin, &s->b, e) || same_numeric(g, n, n->nin, mean, e))
        return -1;
    qb_set_out(g, n, 0, qb_in(g, n, 0)->dtype, s->b.rank, s->b.dims);
    return 0;
}

static void sum_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const arith_state *s = n->state;
    qb_tensor *y = qb_out(g, n, 0);
    int mean = !strcmp(n->op, "Mean"), isint = qb_dtype_is_int(y->dtype);
    qb_bcast_pos p = {0};
    for (int64_t i = 0; i < s->b.count; i++, qb_bcast_next(&s->b, &p)) {
        if (isint) {
            uint64_t acc = 0; /* wraps like the element arithmetic */
            for (int k = 0; k < n->nin; k++)
                acc += (uint64_t)qb_int_at(qb_in(g, n, k), p.off[k]);
            qb_set_i(y, i, (int64_t)acc);
        } else {
            double acc = 0;
            for (int k = 0; k < n->nin; k++)
                acc += qb_get_d(qb_in(g, n, k), p.off[k]);
            qb_set_d(y, i, mean ? acc / n->nin : acc);
        }
    }
}

#define T QB_OPF_ANY_DTYPE | QB_OPF_ZERO_SIZE
const qb_opdef qb_ops_arith[] = {
    {"Mod", mod_prepare, mod_run, NULL, T, 0},
    {"PRelu", prelu_prepare, prelu_run, NULL, T, 0},
    {"Sum", sum_prepare, sum_run, NULL, T, 0},
    {"Mean", sum_prepare, sum_run, NULL, T, 0},
    {NULL, NULL, NULL, NULL, 0, 0},
};
