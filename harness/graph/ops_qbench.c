/*
 * ops_qbench.c - the operators of qbench's custom ONNX domain
 * "com.qbench" (opset version 1), which `qbench quantize` writes for the
 * int4 and binary layers (see qdq.h for the exact semantics):
 *   DequantizeInt4(packed, scale; group, shape, transpose)  -> float weights
 *   DequantizeBinary(bits, alpha; shape, transpose)          -> +-alpha weights
 *   BinarizeInput(X; threshold, pads)                        -> +-1 activations
 * They run as ordinary operators (folded at prepare when their inputs are
 * constant), so a model whose layers the importer does not fuse onto the
 * integer kernels (harness/graph/qdq_import.c) still computes the float
 * semantics written in the file.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness/graph/ops.h"
#include "harness/graph/qdq.h"

/* Geometry of a weight decoder: rows N, columns K, output written
 * transposed ([K, N]) or in (n, k) order. */
typedef struct wdec_state {
    int64_t n, k;   /* the [N x K] matrix */
    int64_t ngroups; /* int4: scale columns */
    int64_t group;   /* int4: group size along K (K when per row) */
    int transpose;   /* output is [K, N] */
} wdec_state;

/* Shared checks of DequantizeInt4 / DequantizeBinary: input 0 uint8 [N, ceil(K/per_byte)],
 * input 1 float, attr shape (product N*K), transpose. */
static int wdec_prepare(qb_graph *g, qb_node *n, int per_byte, qb_err *e)
{
    qb_tensor *p = qb_need_in(g, n, 0, e), *s = p ? qb_need_in(g, n, 1, e) : NULL;
    if (!s)
        return -1;
    if (p->dtype != QB_DT_UINT8 || p->ndim != 2 || s->dtype != QB_DT_FLOAT) {
        QB_NODE_ERR(e, g, n, "expects a 2-D uint8 input 0 and a float32 input 1 (got %s rank %d and %s)",
                    qb_dtype_name(p->dtype), p->ndim, qb_dtype_name(s->dtype));
        return -1;
    }
    const int64_t *shape;
    int nd = qb_attr_ints(n, "shape", &shape);
    if (nd < 1 || nd > QB_MAX_DIMS) {
        QB_NODE_ERR(e, g, n, "attribute 'shape' (1 to %d dimensions) is required", QB_MAX_DIMS);
        return -1;
    }
    int64_t dims[QB_MAX_DIMS];
    memcpy(dims, shape, (size_t)nd * sizeof *dims);
    int64_t total = qb_shape_count(nd, dims);
    wdec_state *st = calloc(1, sizeof *st);
    if (!st) {
        QB_NODE_ERR(e, g, n, "out of memory");
        return -1;
    }
    n->state = st;
    st->transpose = qb_attr_int(n, "transpose", 0) != 0;
    st->n = p->dims[0];
    if (total <= 0 || st->n <= 0 || total % st->n || (st->transpose && nd != 2) ||
        (st->transpose && dims[1] != st->n)) {
        QB_NODE_ERR(e, g, n, "shape attribute does not hold %lld rows%s", (long long)st->n,
                    st->transpose ? " as its last dimension (transpose=1 needs a 2-D [K, N] shape)" : "");
        return -1;
    }
    st->k = total / st->n;
    if (p->dims[1] != (st->k + per_byte - 1) / per_byte) {
        QB_NODE_ERR(e, g, n, "input 0 has %lld bytes per row; %lld values need %lld", (long long)p->dims[1],
                    (long long)st->k, (long long)((st->k + per_byte - 1) / per_byte));
        return -1;
    }
    qb_set_out(g, n, 0, QB_DT_FLOAT, nd, dims);
    return 0;
}

static int int4_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    if (wdec_prepare(g, n, 2, e))
        return -1;
    wdec_state *st = n->state;
    int64_t grp = qb_attr_int(n, "group", 0);
    if (grp < 0) {
        QB_NODE_ERR(e, g, n, "group %lld must be >= 0", (long long)grp);
        return -1;
    }
    st->group = grp > 0 && grp < st->k ? grp : st->k;
    st->ngroups = (st->k + st->group - 1) / st->group;
    const qb_tensor *s = qb_in(g, n, 1);
    if (s->ndim != 2 || s->dims[0] != st->n || s->dims[1] != st->ngroups) {
        char sh[128];
        qb_shape_str(s->ndim, s->dims, sh, sizeof sh);
        QB_NODE_ERR(e, g, n, "scale '%s' is %s, expected %lldx%lld (rows x groups)", s->name, sh, (long long)st->n,
                    (long long)st->ngroups);
        return -1;
    }
    return 0;
}

/* Where element (r, c) of the [N x K] matrix goes in the output. */
static int64_t wdec_at(const wdec_state *st, int64_t r, int64_t c)
{
    return st->transpose ? c * st->n + r : r * st->k + c;
}

static void int4_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const wdec_state *st = n->state;
    const qb_tensor *p = qb_in(g, n, 0);
    const uint8_t *pk = p->data;
    const float *sc = qb_in(g, n, 1)->data;
    float *y = qb_out(g, n, 0)->data;
    for (int64_t r = 0; r < st->n; r++)
        for (int64_t c = 0; c < st->k; c++) {
            uint8_t b = pk[r * p->dims[1] + c / 2];
            int v = (c & 1 ? b >> 4 : b) & 15;
            v = v >= 8 ? v - 16 : v; /* two's complement nibble */
            y[wdec_at(st, r, c)] = (float)v * sc[r * st->ngroups + c / st->group];
        }
}

static int binw_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    if (wdec_prepare(g, n, 8, e))
        return -1;
    const wdec_state *st = n->state;
    const qb_tensor *a = qb_in(g, n, 1);
    if (qb_tensor_count(a) != st->n || a->ndim != 1) {
        QB_NODE_ERR(e, g, n, "alpha '%s' must be 1-D with %lld values (one per row)", a->name, (long long)st->n);
        return -1;
    }
    return 0;
}

static void binw_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const wdec_state *st = n->state;
    const qb_tensor *p = qb_in(g, n, 0);
    const uint8_t *bits = p->data;
    const float *alpha = qb_in(g, n, 1)->data;
    float *y = qb_out(g, n, 0)->data;
    for (int64_t r = 0; r < st->n; r++)
        for (int64_t c = 0; c < st->k; c++) {
            int neg = bits[r * p->dims[1] + c / 8] >> (c & 7) & 1;
            y[wdec_at(st, r, c)] = neg ? -alpha[r] : alpha[r];
        }
}

/* ---- BinarizeInput ---- */
typedef struct bin_state {
    int nsp;                     /* padded (spatial) dims: rank - 2, or 0 without pads */
    int64_t pb[QB_MAX_DIMS];     /* pads at the start of spatial dim i */
    int64_t in[QB_MAX_DIMS];     /* input dims */
    int64_t out[QB_MAX_DIMS];    /* output dims */
    int rank;                    /* rank */
} bin_state;

static int bin_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *x = qb_need_in(g, n, 0, e);
    if (!x)
        return -1;
    if (x->dtype != QB_DT_FLOAT) {
        QB_NODE_ERR(e, g, n, "input '%s' is %s; it must be float32", x->name, qb_dtype_name(x->dtype));
        return -1;
    }
    bin_state *st = calloc(1, sizeof *st);
    if (!st) {
        QB_NODE_ERR(e, g, n, "out of memory");
        return -1;
    }
    n->state = st;
    st->rank = x->ndim;
    memcpy(st->in, x->dims, (size_t)x->ndim * sizeof *st->in);
    memcpy(st->out, x->dims, (size_t)x->ndim * sizeof *st->out);
    const int64_t *pads;
    int np = qb_attr_ints(n, "pads", &pads);
    if (np >= 0) {
        st->nsp = x->ndim - 2;
        if (st->nsp < 1 || np != 2 * st->nsp) {
            QB_NODE_ERR(e, g, n, "pads has %d values; an input of rank %d needs %d (start and end of each spatial "
                        "dimension)", np, x->ndim, 2 * (x->ndim - 2));
            return -1;
        }
        for (int i = 0; i < st->nsp; i++) {
            if (pads[i] < 0 || pads[st->nsp + i] < 0 || pads[i] > (1 << 24) || pads[st->nsp + i] > (1 << 24)) {
                QB_NODE_ERR(e, g, n, "pads must be in 0..2^24");
                return -1;
            }
            st->pb[i] = pads[i];
            st->out[2 + i] += pads[i] + pads[st->nsp + i];
        }
    }
    if (qb_shape_count(st->rank, st->out) < 0) {
        QB_NODE_ERR(e, g, n, "padded output too large");
        return -1;
    }
    qb_set_out(g, n, 0, QB_DT_FLOAT, st->rank, st->out);
    return 0;
}

static void bin_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const bin_state *st = n->state;
    const float *x = qb_in(g, n, 0)->data;
    float *y = qb_out(g, n, 0)->data;
    float thr = qb_attr_float(n, "threshold", 0.0f);
    float pad = signbit(0.0f - thr) ? -1.0f : 1.0f;
    int64_t total = qb_shape_count(st->rank, st->out);
    if (!st->nsp) {
        for (int64_t i = 0; i < total; i++)
            y[i] = signbit(x[i] - thr) ? -1.0f : 1.0f;
        return;
    }
    int64_t idx[QB_MAX_DIMS] = {0};
    for (int64_t i = 0; i < total; i++) {
        /* source index of output element i, or -1 in the padding */
        int64_t src = 0, inside = 1;
        for (int d = 0; d < st->rank; d++) {
            int64_t v = d >= 2 ? idx[d] - st->pb[d - 2] : idx[d];
            if (v < 0 || v >= st->in[d])
                inside = 0;
            src = src * st->in[d] + v;
        }
        y[i] = inside ? (signbit(x[src] - thr) ? -1.0f : 1.0f) : pad;
        for (int d = st->rank - 1; d >= 0; d--) {
            if (++idx[d] < st->out[d])
                break;
            idx[d] = 0;
        }
    }
}

const qb_opdef qb_ops_qbench[] = {
    {"DequantizeInt4", int4_prepare, int4_run, NULL, 0, 0},
    {"DequantizeBinary", binw_prepare, binw_run, NULL, 0, 0},
    {"BinarizeInput", bin_prepare, bin_run, NULL, 0, 0},
    {NULL, NULL, NULL, NULL, 0, 0},
};
