/*
 * ops_minmax.c - Min and Max (variadic, numpy broadcasting), Round (half
 * to even) and ReduceMin / ReduceMax (axes as attribute or, from opset
 * 18, as a constant input; keepdims; noop_with_empty_axes), on every
 * numeric element type: integers compared exactly (uint64 unsigned),
 * floats through double with NaN propagating as numpy does (float32
 * inputs that are each whole-size or one element: a direct loop with the
 * same result, e.g. Max(x, constant) as a clamp). Added with
 * the quantized-model operators: ONNX expands DynamicQuantizeLinear into
 * ReduceMin, ReduceMax, Min, Max and Round.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness/graph/ops.h"

/* Element i of t compared with best: nonzero if it should replace it
 * (smaller for is_min, larger otherwise; a NaN always wins, and stays). */
static int better(const qb_tensor *t, int64_t i, const qb_tensor *y, int64_t o, int is_min)
{
    if (t->dtype == QB_DT_UINT64) {
        uint64_t a = (uint64_t)qb_int_at(t, i), b = (uint64_t)qb_int_at(y, o);
        return is_min ? a < b : a > b;
    }
    if (qb_dtype_is_int(t->dtype)) {
        int64_t a = qb_int_at(t, i), b = qb_int_at(y, o);
        return is_min ? a < b : a > b;
    }
    double a = qb_get_d(t, i), b = qb_get_d(y, o);
    if (b != b)
        return 0;
    return a != a || (is_min ? a < b : a > b);
}

/* y[o] = t[i] (same element type: exact). */
static void copy_elem(qb_tensor *y, int64_t o, const qb_tensor *t, int64_t i)
{
    size_t es = qb_dtype_size(t->dtype);
    memcpy((char *)y->data + o * es, (const char *)t->data + i * es, es);
}

/* ---- Min / Max ---- */

typedef struct mm_state {
    int rank;                  /* output rank (at least 1) */
    int64_t dims[QB_MAX_DIMS]; /* output shape */
} mm_state;

static int minmax_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *a = qb_need_in(g, n, 0, e);
    if (!a)
        return -1;
    mm_state *s = calloc(1, sizeof *s);
    n->state = s;
    s->rank = a->ndim;
    memcpy(s->dims, a->dims, sizeof s->dims);
    for (int i = 0; i < n->nin; i++) {
        qb_tensor *t = qb_need_in(g, n, i, e);
        if (!t)
            return -1;
        if (t->dtype != a->dtype || t->dtype == QB_DT_BOOL) {
            QB_NODE_ERR(e, g, n, "input '%s' is %s; the inputs must be of one numeric type (%s)", t->name,
                        qb_dtype_name(t->dtype), qb_dtype_name(a->dtype));
            return -1;
        }
        int64_t d[QB_MAX_DIMS];
        if (qb_broadcast(s->rank, s->dims, t->ndim, t->dims, &s->rank, d)) {
            QB_NODE_ERR(e, g, n, "input '%s' does not broadcast with the others", t->name);
            return -1;
        }
        memcpy(s->dims, d, sizeof d);
    }
    qb_set_out(g, n, 0, a->dtype, s->rank, s->dims);
    return 0;
}

/* Offset in t of the output element with coordinates idx (broadcast). */
static int64_t bcast_off(const qb_tensor *t, int rank, const int64_t *idx)
{
    int64_t off = 0;
    for (int d = 0; d < t->ndim; d++) {
        int64_t td = t->dims[d], c = idx[rank - t->ndim + d];
        off = off * td + (td == 1 ? 0 : c);
    }
    return off;
}

/* Min/Max of float32 inputs that each have the output's element count
 * or one element: 0, or -1 when some input is broadcast otherwise.
 * y = first input, then per input a: y = a where y is not NaN and (a is
 * NaN or a beats y), as better() decides. */
static int minmax_f32_flat(qb_graph *g, qb_node *n, int64_t cnt, int is_min)
{
    qb_tensor *yt = qb_out(g, n, 0);
    if (yt->dtype != QB_DT_FLOAT)
        return -1;
    for (int i = 0; i < n->nin; i++) {
        int64_t c = qb_tensor_count(qb_in(g, n, i));
        if (c != cnt && c != 1)
            return -1;
    }
    float *y = yt->data;
    for (int i = 0; i < n->nin; i++) {
        const qb_tensor *t = qb_in(g, n, i);
        const float *a = t->data;
        int whole = qb_tensor_count(t) == cnt;
        if (i == 0) {
            if (whole)
                memmove(y, a, (size_t)cnt * sizeof *y);
            else
                for (int64_t o = 0; o < cnt; o++)
                    y[o] = a[0];
            continue;
        }
        if (!whole) {
            float c = a[0];
            for (int64_t o = 0; o < cnt; o++)
                y[o] = qb_minmax_f32(y[o], c, is_min);
        } else {
            for (int64_t o = 0; o < cnt; o++)
                y[o] = qb_minmax_f32(y[o], a[o], is_min);
        }
    }
    return 0;
}

static void minmax_run(qb_graph *g, qb_node *n, int is_min)
{
    const mm_state *s = n->state;
    qb_tensor *y = qb_out(g, n, 0);
    int64_t cnt = qb_tensor_count(y), idx[QB_MAX_DIMS] = {0};
    if (!minmax_f32_flat(g, n, cnt, is_min))
        return;
    for (int64_t o = 0; o < cnt; o++) {
        for (int i = 0; i < n->nin; i++) {
            const qb_tensor *t = qb_in(g, n, i);
            int64_t off = bcast_off(t, s->rank, idx);
            if (i == 0 || better(t, off, y, o, is_min))
                copy_elem(y, o, t, off);
        }
        for (int d = s->rank - 1; d >= 0; d--) {
            if (++idx[d] < s->dims[d])
                break;
            idx[d] = 0;
        }
    }
}

static void min_run(qb_graph *g, qb_node *n, void *scratch) { (void)scratch; minmax_run(g, n, 1); }
static void max_run(qb_graph *g, qb_node *n, void *scratch) { (void)scratch; minmax_run(g, n, 0); }

/* ---- Round ---- */

static int round_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *x = qb_need_in(g, n, 0, e);
    if (!x)
        return -1;
    if (qb_dtype_is_int(x->dtype)) {
        QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_TYPE,
                            "input '%s' is %s; the element type must be float32, float16 or double", x->name,
                            qb_dtype_name(x->dtype));
        return -1;
    }
    qb_set_out(g, n, 0, x->dtype, x->ndim, x->dims);
    return 0;
}

/* Half to even (nearbyint in the default rounding mode); exact in every
 * float type since the result is an integer of the input's magnitude. */
static void round_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const qb_tensor *x = qb_in(g, n, 0);
    qb_tensor *y = qb_out(g, n, 0);
    for (int64_t i = 0, c = qb_tensor_count(x); i < c; i++)
        qb_set_d(y, i, nearbyint(qb_get_d(x, i)));
}

/* ---- ReduceMin / ReduceMax ---- */

typedef struct red_state {
    int rank;                  /* input rank */
    int reduce[QB_MAX_DIMS];   /* nonzero for a reduced axis */
    int noop;                  /* noop_with_empty_axes with no axes: a copy */
} red_state;

static int reduce_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    red_state *s = calloc(1, sizeof *s);
    n->state = s;
    const qb_tensor *x = qb_reduce_input(g, n, s->reduce, &s->noop, e);
    if (!x)
        return -1;
    s->rank = x->ndim;
    int keep = (int)qb_attr_int(n, "keepdims", 1), r = 0;
    int64_t od[QB_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++)
        if (!s->reduce[d])
            od[r++] = x->dims[d];
        else if (keep)
            od[r++] = 1;
    qb_set_out(g, n, 0, x->dtype, r, od);
    return 0;
}

static void reduce_run(qb_graph *g, qb_node *n, int is_min)
{
    const red_state *s = n->state;
    const qb_tensor *x = qb_in(g, n, 0);
    qb_tensor *y = qb_out(g, n, 0);
    int64_t cnt = qb_tensor_count(x), idx[QB_MAX_DIMS] = {0};
    if (s->noop) {
        memcpy(y->data, x->data, (size_t)cnt * qb_dtype_size(x->dtype));
        return;
    }
    /* the output index of each input element: its kept coordinates; the
     * first element of each reduction is the one whose reduced coordinates are all 0 */
    for (int64_t i = 0; i < cnt; i++) {
        int64_t o = 0;
        int first = 1;
        for (int d = 0; d < s->rank; d++) {
            if (s->reduce[d])
                first &= idx[d] == 0;
            else
                o = o * x->dims[d] + idx[d];
        }
        if (first || better(x, i, y, o, is_min))
            copy_elem(y, o, x, i);
        for (int d = s->rank - 1; d >= 0; d--) {
            if (++idx[d] < x->dims[d])
                break;
            idx[d] = 0;
        }
    }
}

static void rmin_run(qb_graph *g, qb_node *n, void *scratch) { (void)scratch; reduce_run(g, n, 1); }
static void rmax_run(qb_graph *g, qb_node *n, void *scratch) { (void)scratch; reduce_run(g, n, 0); }

const qb_opdef qb_ops_minmax[] = {
    {"Min", minmax_prepare, min_run, NULL, 0, 0},
    {"Max", minmax_prepare, max_run, NULL, 0, 0},
    {"Round", round_prepare, round_run, NULL, 0, 0},
    {"ReduceMin", reduce_prepare, rmin_run, NULL, 0, 0},
    {"ReduceMax", reduce_prepare, rmax_run, NULL, 0, 0},
    {NULL, NULL, NULL, NULL, 0, 0},
};
