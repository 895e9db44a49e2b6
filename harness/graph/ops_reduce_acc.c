/*
 * ops_reduce_acc.c - reductions that accumulate: ReduceSum, ReduceMean,
 * ReduceProd, ReduceL1, ReduceL2, ReduceLogSum, ReduceLogSumExp,
 * ReduceSumSquare (axes as an attribute or, ReduceSum from opset 13, as
 * a constant input; keepdims; noop_with_empty_axes), and CumSum (axis,
 * exclusive, reverse). Float types accumulate in double and round once,
 * so a long sum is as accurate as onnxruntime's pairwise float sums;
 * integer types accumulate exactly in int64 (wrapping), ReduceMean on
 * integers divides truncating. ReduceMin/ReduceMax are in ops_minmax.c.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness/graph/ops.h"

enum { R_SUM, R_MEAN, R_PROD, R_L1, R_L2, R_LOGSUM, R_LOGSUMEXP, R_SUMSQ };

/* Prepared: which axes are reduced and how to walk them. */
typedef struct racc_state {
    int kind;                     /* R_* */
    int noop;                     /* noop_with_empty_axes with no axes: a copy */
    int nkeep, nred;              /* kept / reduced input dims */
    int64_t kdim[QB_MAX_DIMS];    /* kept dims' sizes */
    int64_t kstr[QB_MAX_DIMS];    /* and their input strides */
    int64_t rdim[QB_MAX_DIMS];    /* reduced dims' sizes */
    int64_t rstr[QB_MAX_DIMS];    /* and their input strides */
    int64_t rcount;               /* elements per output */
} racc_state;

static int kind_of(const char *op)
{
    static const char *const names[] = {"ReduceSum", "ReduceMean", "ReduceProd", "ReduceL1", "ReduceL2",
                                        "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"};
    for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
        if (!strcmp(op, names[i]))
            return i;
    return -1;
}

const qb_tensor *qb_reduce_input(qb_graph *g, qb_node *n, int *red, int *noop, qb_err *e)
{
    const qb_tensor *x = qb_need_in(g, n, 0, e), *at = qb_in(g, n, 1);
    if (!x)
        return NULL;
    if (x->dtype == QB_DT_BOOL) {
        QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_TYPE,
                            "element type bool is not supported (numeric types only)");
        return NULL;
    }
    const int64_t *av = NULL;
    int na = qb_attr_ints(n, "axes", &av);
    if (at) {
        if (at->kind != QB_T_CONST || (at->dtype != QB_DT_INT64 && at->dtype != QB_DT_INT32) || at->ndim > 1) {
            QB_NODE_ERR(e, g, n, "axes '%s' must be a constant 1-D int64 tensor", at->name);
            return NULL;
        }
        na = (int)qb_tensor_count(at);
    }
    if (na > x->ndim) {
        QB_NODE_ERR(e, g, n, "%d axes for an input of rank %d", na, x->ndim);
        return NULL;
    }
    for (int i = 0; i < na; i++) {
        int64_t v = at ? qb_int_at(at, i) : av[i];
        int a = qb_axis(v, x->ndim);
        if (a < 0 || x->ndim == 0 || red[a]) {
            QB_NODE_ERR(e, g, n, "axis %lld is out of range or repeated for rank %d", (long long)v, x->ndim);
            return NULL;
        }
        red[a] = 1;
    }
    if (na <= 0) {
        if (qb_attr_int(n, "noop_with_empty_axes", 0))
            *noop = 1;
        else
            for (int d = 0; d < x->ndim; d++)
                red[d] = 1;
    }
    return x;
}

static int racc_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    int red[QB_MAX_DIMS] = {0}, noop = 0;
    const qb_tensor *x = qb_reduce_input(g, n, red, &noop, e);
    if (!x)
        return -1;
    racc_state *s = calloc(1, sizeof *s);
    if (!s) {
        QB_NODE_ERR(e, g, n, "out of memory");
        return -1;
    }
    n->state = s;
    s->kind = kind_of(n->op);
    s->noop = noop;
    int keep = (int)qb_attr_int(n, "keepdims", 1), r = 0;
    int64_t od[QB_MAX_DIMS], str[QB_MAX_DIMS], acc = 1;
    for (int d = x->ndim - 1; d >= 0; d--) {
        str[d] = acc;
        acc *= x->dims[d];
    }
    s->rcount = 1;
    for (int d = 0; d < x->ndim; d++) {
        if (!red[d] || s->noop) {
            od[r++] = x->dims[d];
            s->kdim[s->nkeep] = x->dims[d];
            s->kstr[s->nkeep++] = str[d];
        } else {
            if (keep)
                od[r++] = 1;
            s->rdim[s->nred] = x->dims[d];
            s->rstr[s->nred++] = str[d];
            s->rcount *= x->dims[d];
        }
    }
    qb_set_out(g, n, 0, x->dtype, r, od);
    return 0;
}

/* One step of an odometer over n dims (sizes dim, strides str): the
 * next index in idx, the offset *off moved with it. */
static inline void odometer_step(int n, const int64_t *dim, const int64_t *str, int64_t *idx, int64_t *off)
{
    for (int d = n - 1; d >= 0; d--) {
        *off += str[d];
        if (++idx[d] < dim[d])
            return;
        *off -= str[d] * idx[d];
        idx[d] = 0;
    }
}

static double finish_d(int kind, double acc, int64_t count)
{
    switch (kind) {
    case R_MEAN: return acc / (double)count;
    case R_L2: return sqrt(acc);
    case R_LOGSUM: return log(acc);
    default: return acc;
    }
}

/* float32 ReduceSum/Mean/SumSquare/L1/L2 over one run of contiguous
 * elements per output (a LayerNorm's mean over the last axis): the
 * general loop's double sums in its order, without its odometer. */
static void racc_rows_f32(const racc_state *s, const float *x, float *y, int64_t ny)
{
    int64_t kidx[QB_MAX_DIMS] = {0}, base = 0;
    for (int64_t o = 0; o < ny; o++) {
        const float *xr = x + base;
        double acc = 0;
        if (s->kind == R_SUMSQ || s->kind == R_L2)
            for (int64_t j = 0; j < s->rcount; j++)
                acc += (double)xr[j] * (double)xr[j];
        else if (s->kind == R_L1)
            for (int64_t j = 0; j < s->rcount; j++)
                acc += fabs((double)xr[j]);
        else
            for (int64_t j = 0; j < s->rcount; j++)
                acc += (double)xr[j];
        y[o] = (float)finish_d(s->kind, acc, s->rcount);
        odometer_step(s->nkeep, s->kdim, s->kstr, kidx, &base);
    }
}

static void racc_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const racc_state *s = n->state;
    const qb_tensor *x = qb_in(g, n, 0);
    qb_tensor *y = qb_out(g, n, 0);
    int64_t ny = qb_tensor_count(y), kidx[QB_MAX_DIMS] = {0}, base = 0;
    int isint = qb_dtype_is_int(x->dtype) && s->kind != R_L2 && s->kind != R_LOGSUM && s->kind != R_LOGSUMEXP;
    const float *xf = x->dtype == QB_DT_FLOAT ? x->data : NULL;
    if (xf && y->dtype == QB_DT_FLOAT && s->nred == 1 && s->rstr[0] == 1 &&
        (s->kind == R_SUM || s->kind == R_MEAN || s->kind == R_SUMSQ || s->kind == R_L1 || s->kind == R_L2)) {
        racc_rows_f32(s, xf, y->data, ny);
        return;
    }
    for (int64_t o = 0; o < ny; o++) {
        /* pass 1 (LogSumExp): the maximum, subtracted so exp cannot overflow */
        double mx = 0;
        if (s->kind == R_LOGSUMEXP && s->rcount > 0) {
            int64_t ridx[QB_MAX_DIMS] = {0}, off = base;
            mx = -INFINITY;
            for (int64_t j = 0; j < s->rcount; j++) {
                double v = xf ? xf[off] : qb_get_d(x, off);
                mx = v > mx ? v : mx;
                odometer_step(s->nred, s->rdim, s->rstr, ridx, &off);
            }
            if (!isfinite(mx))
                mx = 0;
        }
        double acc = s->kind == R_PROD ? 1 : 0;
        uint64_t iacc = s->kind == R_PROD ? 1 : 0;
        int64_t ridx[QB_MAX_DIMS] = {0}, off = base;
        for (int64_t j = 0; j < s->rcount; j++) {
            if (isint) {
                uint64_t v = (uint64_t)qb_int_at(x, off);
                switch (s->kind) {
                case R_PROD: iacc *= v; break;
                case R_L1: iacc += (int64_t)v < 0 ? 0 - v : v; break;
                case R_SUMSQ: iacc += v * v; break;
                default: iacc += v; break;
                }
            } else {
                double v = xf ? xf[off] : qb_get_d(x, off);
                switch (s->kind) {
                case R_PROD: acc *= v; break;
                case R_L1: acc += fabs(v); break;
                case R_L2: case R_SUMSQ: acc += v * v; break;
                case R_LOGSUMEXP: acc += exp(v - mx); break;
                default: acc += v; break;
                }
            }
            odometer_step(s->nred, s->rdim, s->rstr, ridx, &off);
        }
        if (isint) {
            int64_t v = (int64_t)iacc;
            qb_set_i(y, o, s->kind == R_MEAN ? (s->rcount ? v / s->rcount : 0) : v);
        } else if (s->kind == R_LOGSUMEXP) {
            qb_set_d(y, o, log(acc) + mx);
        } else {
            qb_set_d(y, o, finish_d(s->kind, acc, s->rcount));
        }
        odometer_step(s->nkeep, s->kdim, s->kstr, kidx, &base);
    }
}

/* ---- CumSum ---- */
typedef struct cumsum_state {
    int64_t outer, len, inner; /* the tensor as [outer x len x inner] around the axis */
    int exclusive, reverse;    /* attributes */
} cumsum_state;

static int cumsum_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *x = qb_need_in(g, n, 0, e), *at = x ? qb_need_in(g, n, 1, e) : NULL;
    if (!at)
        return -1;
    if (x->dtype == QB_DT_BOOL || x->ndim == 0) {
        QB_NODE_ERR(e, g, n, "input must be a numeric tensor of rank 1 or more");
        return -1;
    }
    if (at->kind != QB_T_CONST || !qb_dtype_is_int(at->dtype) || qb_tensor_count(at) != 1) {
        QB_NODE_ERR(e, g, n, "axis '%s' must be a constant integer scalar", at->name);
        return -1;
    }
    int a = qb_axis(qb_int_at(at, 0), x->ndim);
    if (a < 0) {
        QB_NODE_ERR(e, g, n, "axis %lld is out of range for rank %d", (long long)qb_int_at(at, 0), x->ndim);
        return -1;
    }
    cumsum_state *s = calloc(1, sizeof *s);
    if (!s) {
        QB_NODE_ERR(e, g, n, "out of memory");
        return -1;
    }
    n->state = s;
    qb_axis_split(x, a, &s->outer, &s->len, &s->inner);
    s->exclusive = (int)qb_attr_int(n, "exclusive", 0);
    s->reverse = (int)qb_attr_int(n, "reverse", 0);
    qb_set_out(g, n, 0, x->dtype, x->ndim, x->dims);
    return 0;
}

static void cumsum_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const cumsum_state *s = n->state;
    const qb_tensor *x = qb_in(g, n, 0);
    qb_tensor *y = qb_out(g, n, 0);
    int isint = qb_dtype_is_int(x->dtype);
    for (int64_t o = 0; o < s->outer; o++)
        for (int64_t i = 0; i < s->inner; i++) {
            double acc = 0;
            uint64_t iacc = 0;
            for (int64_t j = 0; j < s->len; j++) {
                int64_t k = s->reverse ? s->len - 1 - j : j, at = (o * s->len + k) * s->inner + i;
                if (isint) {
                    uint64_t v = (uint64_t)qb_int_at(x, at);
                    if (!s->exclusive)
                        iacc += v;
                    qb_set_i(y, at, (int64_t)iacc);
                    if (s->exclusive)
                        iacc += v;
                } else {
                    double v = qb_get_d(x, at);
                    if (!s->exclusive)
                        acc += v;
                    qb_set_d(y, at, acc);
                    if (s->exclusive)
                        acc += v;
                }
            }
        }
}

#define T QB_OPF_ANY_DTYPE | QB_OPF_ZERO_SIZE
const qb_opdef qb_ops_reduce_acc[] = {
    {"ReduceSum", racc_prepare, racc_run, NULL, T, 0},
    {"ReduceMean", racc_prepare, racc_run, NULL, T, 0},
    {"ReduceProd", racc_prepare, racc_run, NULL, T, 0},
    {"ReduceL1", racc_prepare, racc_run, NULL, T, 0},
    {"ReduceL2", racc_prepare, racc_run, NULL, T, 0},
    {"ReduceLogSum", racc_prepare, racc_run, NULL, T, 0},
    {"ReduceLogSumExp", racc_prepare, racc_run, NULL, T, 0},
    {"ReduceSumSquare", racc_prepare, racc_run, NULL, T, 0},
    {"CumSum", cumsum_prepare, cumsum_run, NULL, T, 0},
    {NULL, NULL, NULL, NULL, 0, 0},
};
