/*
 * ops_select.c - operators that pick elements along an axis by value:
 * ArgMax and ArgMin (keepdims, select_last_index; int64 indices) and TopK
 * (K a constant input, largest/smallest, values and int64 indices, equal
 * values in index order) and Unique (values or slices along an axis,
 * sorted or in order of appearance, with first indices, inverse indices
 * and counts; its input must be constant, the output length depends on
 * it). Every numeric element type: integers compared exactly, floats
 * through double (a NaN counts as the largest value).
 */
#include <stdlib.h>
#include <string.h>

#include "harness/graph/ops.h"

/* Prepared: the axis as [outer x len x inner] and the options. */
typedef struct select_state {
    int64_t outer, len, inner; /* the input around the axis */
    int last;                  /* ArgMax/ArgMin: select_last_index */
    int largest;               /* ArgMax, TopK largest = 1 */
    int64_t k;                 /* TopK: K */
} select_state;

/* a > b (a < b when !largest), integers exactly; NaN is the largest. */
static int beats(const qb_tensor *t, int64_t a, int64_t b, int largest)
{
    int c;
    if (t->dtype == QB_DT_UINT64) {
        uint64_t x = (uint64_t)qb_int_at(t, a), y = (uint64_t)qb_int_at(t, b);
        c = x > y ? 1 : x < y ? -1 : 0;
    } else if (qb_dtype_is_int(t->dtype)) {
        int64_t x = qb_int_at(t, a), y = qb_int_at(t, b);
        c = x > y ? 1 : x < y ? -1 : 0;
    } else {
        double x = qb_get_d(t, a), y = qb_get_d(t, b);
        c = x != x ? (y != y ? 0 : 1) : y != y ? -1 : x > y ? 1 : x < y ? -1 : 0;
    }
    return largest ? c > 0 : c < 0;
}

static select_state *axis_state(qb_graph *g, qb_node *n, const qb_tensor *x, int64_t axis, qb_err *e)
{
    int a = qb_axis(axis, x->ndim);
    if (a < 0 || x->ndim == 0) {
        QB_NODE_ERR(e, g, n, "axis %lld is out of range for rank %d", (long long)axis, x->ndim);
        return NULL;
    }
    if (x->dtype == QB_DT_BOOL) {
        QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_TYPE,
                            "element type bool is not supported (numeric types only)");
        return NULL;
    }
    select_state *s = calloc(1, sizeof *s);
    if (!s) {
        QB_NODE_ERR(e, g, n, "out of memory");
        return NULL;
    }
    n->state = s;
    qb_axis_split(x, a, &s->outer, &s->len, &s->inner);
    return s;
}

/* ---- ArgMax / ArgMin ---- */
static int arg_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *x = qb_need_in(g, n, 0, e);
    if (!x)
        return -1;
    int64_t axis = qb_attr_int(n, "axis", 0);
    select_state *s = axis_state(g, n, x, axis, e);
    if (!s)
        return -1;
    if (s->len == 0) {
        QB_NODE_ERR(e, g, n, "the axis is empty");
        return -1;
    }
    s->last = (int)qb_attr_int(n, "select_last_index", 0);
    s->largest = !strcmp(n->op, "ArgMax");
    int a = qb_axis(axis, x->ndim), r = 0;
    int64_t od[QB_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++)
        if (d != a)
            od[r++] = x->dims[d];
        else if (qb_attr_int(n, "keepdims", 1))
            od[r++] = 1;
    qb_set_out(g, n, 0, QB_DT_INT64, r, od);
    return 0;
}

static void arg_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const select_state *s = n->state;
    const qb_tensor *x = qb_in(g, n, 0);
    int64_t *y = qb_out(g, n, 0)->data;
    for (int64_t o = 0; o < s->outer; o++)
        for (int64_t i = 0; i < s->inner; i++) {
            int64_t base = o * s->len * s->inner + i, best = 0;
            for (int64_t j = 1; j < s->len; j++) {
                int64_t a = base + j * s->inner, b = base + best * s->inner;
                if (beats(x, a, b, s->largest) || (s->last && !beats(x, b, a, s->largest)))
                    best = j;
            }
            y[o * s->inner + i] = best;
        }
}

/* ---- TopK ---- */
static int topk_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *x = qb_need_in(g, n, 0, e), *kt = x ? qb_need_in(g, n, 1, e) : NULL;
    if (!kt)
        return -1;
    if (kt->kind != QB_T_CONST || !qb_dtype_is_int(kt->dtype) || qb_tensor_count(kt) != 1) {
        QB_NODE_ERR(e, g, n, "K '%s' must be a constant integer with one element", kt->name);
        return -1;
    }
    int64_t axis = qb_attr_int(n, "axis", -1);
    select_state *s = axis_state(g, n, x, axis, e);
    if (!s)
        return -1;
    s->k = qb_int_at(kt, 0);
    if (s->k < 0 || s->k > s->len) {
        QB_NODE_ERR(e, g, n, "K = %lld is out of range for an axis of %lld", (long long)s->k, (long long)s->len);
        return -1;
    }
    s->largest = (int)qb_attr_int(n, "largest", 1);
    int64_t od[QB_MAX_DIMS];
    memcpy(od, x->dims, sizeof od);
    od[qb_axis(axis, x->ndim)] = s->k;
    qb_set_out(g, n, 0, x->dtype, x->ndim, od);
    qb_set_out(g, n, 1, QB_DT_INT64, x->ndim, od);
    n->scratch = (size_t)s->len * sizeof(int64_t);
    return 0;
}

static void topk_run(qb_graph *g, qb_node *n, void *scratch)
{
    const select_state *s = n->state;
    const qb_tensor *x = qb_in(g, n, 0);
    qb_tensor *v = qb_out(g, n, 0), *ix = qb_out(g, n, 1);
    int64_t *ord = scratch;
    size_t es = qb_dtype_size(x->dtype);
    for (int64_t o = 0; o < s->outer; o++)
        for (int64_t i = 0; i < s->inner; i++) {
            int64_t base = o * s->len * s->inner + i;
            /* selection of the k best, stable (earlier index first among equals) */
            for (int64_t j = 0; j < s->len; j++)
                ord[j] = j;
            for (int64_t r = 0; r < s->k; r++) {
                int64_t best = r;
                for (int64_t j = r + 1; j < s->len; j++)
                    if (beats(x, base + ord[j] * s->inner, base + ord[best] * s->inner, s->largest) ||
                        (!beats(x, base + ord[best] * s->inner, base + ord[j] * s->inner, s->largest) &&
                         ord[j] < ord[best]))
                        best = j;
                int64_t t = ord[r];
                ord[r] = ord[best];
                ord[best] = t;
                int64_t out = (o * s->k + r) * s->inner + i;
                memcpy((char *)v->data + out * es, (const char *)x->data + (base + ord[r] * s->inner) * es, es);
                if (ix)
                    ((int64_t *)ix->data)[out] = ord[r];
            }
        }
}

/* ---- Unique ---- */
typedef struct unique_state {
    int64_t outer, len, inner; /* the input around the axis (flattened: 1 x count x 1) */
    int64_t nu;                /* unique slices */
    int64_t *first;            /* per unique slice, in output order: its first index */
    int64_t *inverse;          /* per input slice: its unique's position */
    int64_t *counts;           /* per unique slice: occurrences */
} unique_state;

static void unique_free(void *p)
{
    unique_state *s = p;
    if (s) {
        free(s->first);
        free(s->inverse);
        free(s->counts);
        free(s);
    }
}

/* Slices i and j along the axis compared element by element: -1, 0, 1. */
static int slice_cmp(const qb_tensor *x, const unique_state *s, int64_t i, int64_t j)
{
    for (int64_t o = 0; o < s->outer; o++)
        for (int64_t k = 0; k < s->inner; k++) {
            int64_t a = (o * s->len + i) * s->inner + k, b = (o * s->len + j) * s->inner + k;
            if (beats(x, a, b, 0))
                return -1;
            if (beats(x, b, a, 0))
                return 1;
        }
    return 0;
}

static int unique_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *x = qb_need_in(g, n, 0, e);
    if (!x)
        return -1;
    if (x->kind != QB_T_CONST || x->dtype == QB_DT_BOOL) {
        QB_NODE_ERR(e, g, n, "input '%s' must be a constant numeric tensor: the output's length depends on its "
                    "values", x->name);
        return -1;
    }
    unique_state *s = calloc(1, sizeof *s);
    if (!s) {
        QB_NODE_ERR(e, g, n, "out of memory");
        return -1;
    }
    n->state = s;
    n->free_state = unique_free;
    const qb_attr *aa = qb_node_attr(n, "axis");
    int a = aa ? qb_axis(aa->i, x->ndim) : -1;
    if (aa && a < 0) {
        QB_NODE_ERR(e, g, n, "axis %lld is out of range for rank %d", (long long)aa->i, x->ndim);
        return -1;
    }
    if (aa)
        qb_axis_split(x, a, &s->outer, &s->len, &s->inner);
    else
        s->outer = s->inner = 1, s->len = qb_tensor_count(x);
    size_t b = (size_t)(s->len ? s->len : 1) * sizeof(int64_t);
    s->first = malloc(b), s->inverse = malloc(b), s->counts = calloc(1, b);
    if (!s->first || !s->inverse || !s->counts) {
        QB_NODE_ERR(e, g, n, "out of memory");
        return -1;
    }
    for (int64_t i = 0; i < s->len; i++) { /* distinct slices in order of first occurrence */
        int64_t u = 0;
        while (u < s->nu && slice_cmp(x, s, s->first[u], i))
            u++;
        if (u == s->nu)
            s->first[s->nu++] = i;
    }
    if (qb_attr_int(n, "sorted", 1)) /* stable insertion sort of the unique slices */
        for (int64_t u = 1; u < s->nu; u++) {
            int64_t v = s->first[u], w = u;
            for (; w > 0 && slice_cmp(x, s, s->first[w - 1], v) > 0; w--)
                s->first[w] = s->first[w - 1];
            s->first[w] = v;
        }
    for (int64_t i = 0; i < s->len; i++)
        for (int64_t u = 0; u < s->nu; u++)
            if (!slice_cmp(x, s, s->first[u], i)) {
                s->inverse[i] = u;
                s->counts[u]++;
                break;
            }
    int64_t od[QB_MAX_DIMS];
    memcpy(od, x->dims, sizeof od);
    if (aa)
        od[a] = s->nu;
    qb_set_out(g, n, 0, x->dtype, aa ? x->ndim : 1, aa ? od : &s->nu);
    qb_set_out(g, n, 1, QB_DT_INT64, 1, &s->nu);
    qb_set_out(g, n, 2, QB_DT_INT64, 1, &s->len);
    qb_set_out(g, n, 3, QB_DT_INT64, 1, &s->nu);
    return 0;
}

static void unique_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const unique_state *s = n->state;
    const qb_tensor *x = qb_in(g, n, 0);
    qb_tensor *y = qb_out(g, n, 0), *ix = qb_out(g, n, 1), *inv = qb_out(g, n, 2), *cnt = qb_out(g, n, 3);
    size_t es = qb_dtype_size(x->dtype), row = (size_t)s->inner * es;
    for (int64_t o = 0; o < s->outer; o++)
        for (int64_t u = 0; u < s->nu; u++)
            memcpy((char *)y->data + (o * s->nu + u) * row, (const char *)x->data + (o * s->len + s->first[u]) * row,
                   row);
    if (ix)
        memcpy(ix->data, s->first, (size_t)s->nu * sizeof(int64_t));
    if (inv)
        memcpy(inv->data, s->inverse, (size_t)s->len * sizeof(int64_t));
    if (cnt)
        memcpy(cnt->data, s->counts, (size_t)s->nu * sizeof(int64_t));
}

#define T QB_OPF_ANY_DTYPE
const qb_opdef qb_ops_select[] = {
    {"ArgMax", arg_prepare, arg_run, NULL, T, 0},
    {"ArgMin", arg_prepare, arg_run, NULL, T, 0},
    {"TopK", topk_prepare, topk_run, NULL, T, 0},
    {"Unique", unique_prepare, unique_run, NULL, T, 1u << 0},
    {NULL, NULL, NULL, NULL, 0, 0},
};
