/*
 * ops_layout.c - operators that rearrange elements without arithmetic,
 * beyond the reshaping ops of ops_shape.c: Split (sizes from the attribute,
 * a constant input, num_outputs or equal parts), Tile and Expand (constant
 * repeats / shape), DepthToSpace (DCR and CRD) and SpaceToDepth,
 * Trilu (upper or lower triangle of the last two dims, constant k) and
 * ReverseSequence (per-batch lengths).
 * Element-type generic (elements are copied as bytes).
 */
#include <stdlib.h>
#include <string.h>

#include "harness/graph/ops.h"

/* Input i, if present, must be a constant integer tensor. */
static int const_ints(qb_graph *g, qb_node *n, int i, const char *what, qb_tensor **out, qb_err *e)
{
    qb_tensor *t = qb_in(g, n, i);
    *out = t;
    if (t && (t->kind != QB_T_CONST || !qb_dtype_is_int(t->dtype) || t->dtype == QB_DT_BOOL || t->ndim > 1)) {
        QB_NODE_ERR(e, g, n, "%s '%s' must be a constant 1-D integer tensor", what, t->name);
        return -1;
    }
    return 0;
}

/* ---- Split ---- */
typedef struct split_state {
    int axis;                 /* normalized axis */
    int64_t outer, inner;     /* elements before / after the axis */
} split_state;

static int split_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *x = qb_need_in(g, n, 0, e), *st;
    if (!x || const_ints(g, n, 1, "split", &st, e))
        return -1;
    int a = qb_axis(qb_attr_int(n, "axis", 0), x->ndim);
    if (a < 0 || x->ndim == 0) {
        QB_NODE_ERR(e, g, n, "axis %lld is out of range for rank %d", (long long)qb_attr_int(n, "axis", 0), x->ndim);
        return -1;
    }
    const int64_t *av = NULL;
    int na = qb_attr_ints(n, "split", &av), nout = n->nout;
    if (st)
        na = (int)qb_tensor_count(st);
    int64_t total = 0, d = x->dims[a];
    if (na >= 0 && na != nout) {
        QB_NODE_ERR(e, g, n, "%d split sizes for %d outputs", na, nout);
        return -1;
    }
    for (int i = 0; i < nout; i++) {
        int64_t sz;
        if (na >= 0)
            sz = st ? qb_int_at(st, i) : av[i];
        else /* equal parts; the last one smaller when the axis does not divide (num_outputs) */
            sz = i < nout - 1 ? (d + nout - 1) / nout : d - (d + nout - 1) / nout * (nout - 1);
        if (sz < 0) {
            QB_NODE_ERR(e, g, n, "split size %lld is negative or the axis of %lld does not split in %d", (long long)sz,
                        (long long)d, nout);
            return -1;
        }
        int64_t od[QB_MAX_DIMS];
        memcpy(od, x->dims, sizeof od);
        od[a] = sz;
        qb_set_out(g, n, i, x->dtype, x->ndim, od);
        total += sz;
    }
    if (total != d) {
        QB_NODE_ERR(e, g, n, "split sizes add up to %lld, the axis has %lld", (long long)total, (long long)d);
        return -1;
    }
    split_state *s = calloc(1, sizeof *s);
    if (!s) {
        QB_NODE_ERR(e, g, n, "out of memory");
        return -1;
    }
    n->state = s;
    s->axis = a;
    qb_axis_split(x, a, &s->outer, NULL, &s->inner);
    return 0;
}

static void split_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const split_state *s = n->state;
    const qb_tensor *x = qb_in(g, n, 0);
    size_t es = qb_dtype_size(x->dtype);
    size_t xrow = (size_t)(x->dims[s->axis] * s->inner) * es, off = 0;
    for (int i = 0; i < n->nout; i++) {
        qb_tensor *y = g->tensors[n->out[i] >= 0 ? n->out[i] : 0];
        /* the part's size along the axis, also for an omitted output */
        size_t row = 0;
        if (n->out[i] >= 0)
            row = (size_t)(y->dims[s->axis] * s->inner) * es;
        for (int64_t o = 0; o < s->outer && row; o++)
            memcpy((char *)y->data + o * row, (const char *)x->data + o * xrow + off, row);
        off += row;
    }
}

/* ---- Tile / Expand: the output read through broadcast-style strides ---- */
typedef struct rep_state {
    int rank;                 /* output rank */
    int64_t dims[QB_MAX_DIMS]; /* output shape */
    int64_t in[QB_MAX_DIMS];   /* input dims aligned to the output (1 where absent) */
    int64_t str[QB_MAX_DIMS];  /* input strides aligned to the output */
} rep_state;

static rep_state *rep_new(qb_graph *g, qb_node *n, const qb_tensor *x, int rank, qb_err *e)
{
    rep_state *s = calloc(1, sizeof *s);
    if (!s) {
        QB_NODE_ERR(e, g, n, "out of memory");
        return NULL;
    }
    n->state = s;
    s->rank = rank;
    int64_t acc = 1;
    for (int i = rank - 1; i >= 0; i--) {
        int xi = i - (rank - x->ndim);
        s->in[i] = xi >= 0 ? x->dims[xi] : 1;
        s->str[i] = acc;
        acc *= s->in[i];
    }
    return s;
}

static int tile_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *x = qb_need_in(g, n, 0, e), *rt;
    if (!x || const_ints(g, n, 1, "repeats", &rt, e))
        return -1;
    if (!rt || qb_tensor_count(rt) != x->ndim) {
        QB_NODE_ERR(e, g, n, "repeats must be given, one per input dimension (%d)", x->ndim);
        return -1;
    }
    rep_state *s = rep_new(g, n, x, x->ndim, e);
    if (!s)
        return -1;
    for (int i = 0; i < x->ndim; i++) {
        int64_t r = qb_int_at(rt, i);
        if (r < 0) {
            QB_NODE_ERR(e, g, n, "repeat %lld is negative", (long long)r);
            return -1;
        }
        s->dims[i] = x->dims[i] * r;
    }
    qb_set_out(g, n, 0, x->dtype, s->rank, s->dims);
    return 0;
}

static int expand_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *x = qb_need_in(g, n, 0, e), *st;
    if (!x || const_ints(g, n, 1, "shape", &st, e))
        return -1;
    if (!st || qb_tensor_count(st) > QB_MAX_DIMS) {
        QB_NODE_ERR(e, g, n, "needs a shape of at most %d dims", QB_MAX_DIMS);
        return -1;
    }
    int64_t sh[QB_MAX_DIMS], od[QB_MAX_DIMS];
    int ns = (int)qb_tensor_count(st), r;
    for (int i = 0; i < ns; i++)
        sh[i] = qb_int_at(st, i);
    if (qb_broadcast(x->ndim, x->dims, ns, sh, &r, od)) {
        char a[128], b[128];
        qb_shape_str(x->ndim, x->dims, a, sizeof a);
        qb_shape_str(ns, sh, b, sizeof b);
        QB_NODE_ERR(e, g, n, "input shape %s does not broadcast to %s", a, b);
        return -1;
    }
    rep_state *s = rep_new(g, n, x, r, e);
    if (!s)
        return -1;
    memcpy(s->dims, od, sizeof od);
    qb_set_out(g, n, 0, x->dtype, r, od);
    return 0;
}

/* Output element at coordinates idx reads input element (idx mod in). */
static void rep_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const rep_state *s = n->state;
    const qb_tensor *x = qb_in(g, n, 0);
    qb_tensor *y = qb_out(g, n, 0);
    size_t es = qb_dtype_size(x->dtype);
    int64_t cnt = qb_tensor_count(y), idx[QB_MAX_DIMS] = {0};
    char *yp = y->data;
    for (int64_t o = 0; o < cnt; o++) {
        int64_t off = 0;
        for (int d = 0; d < s->rank; d++)
            off += (idx[d] % s->in[d]) * s->str[d];
        memcpy(yp + o * es, (const char *)x->data + off * es, es);
        for (int d = s->rank - 1; d >= 0; d--) {
            if (++idx[d] < s->dims[d])
                break;
            idx[d] = 0;
        }
    }
}

/* ---- DepthToSpace / SpaceToDepth ---- */
typedef struct d2s_state {
    int64_t b;  /* blocksize */
    int crd;    /* DepthToSpace mode CRD (else DCR) */
    int to_depth; /* SpaceToDepth */
} d2s_state;

static int d2s_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *x = qb_need_in(g, n, 0, e);
    if (!x)
        return -1;
    int64_t b = qb_attr_int(n, "blocksize", 0);
    int to_depth = !strcmp(n->op, "SpaceToDepth");
    const char *mode = qb_attr_str(n, "mode", "DCR");
    if (x->ndim != 4 || b < 1 || (!to_depth && x->dims[1] % (b * b)) ||
        (to_depth && (x->dims[2] % b || x->dims[3] % b)) || (strcmp(mode, "DCR") && strcmp(mode, "CRD"))) {
        QB_NODE_ERR(e, g, n, "needs a 4-D input whose %s divide by blocksize %lld (mode DCR or CRD)",
                    to_depth ? "height and width" : "channels divide by blocksize^2; got", (long long)b);
        return -1;
    }
    d2s_state *s = calloc(1, sizeof *s);
    if (!s) {
        QB_NODE_ERR(e, g, n, "out of memory");
        return -1;
    }
    n->state = s;
    s->b = b;
    s->crd = !strcmp(mode, "CRD");
    s->to_depth = to_depth;
    int64_t od[4] = {x->dims[0], 0, 0, 0};
    if (to_depth) {
        od[1] = x->dims[1] * b * b, od[2] = x->dims[2] / b, od[3] = x->dims[3] / b;
    } else {
        od[1] = x->dims[1] / (b * b), od[2] = x->dims[2] * b, od[3] = x->dims[3] * b;
    }
    qb_set_out(g, n, 0, x->dtype, 4, od);
    return 0;
}

static void d2s_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const d2s_state *s = n->state;
    const qb_tensor *x = qb_in(g, n, 0);
    qb_tensor *y = qb_out(g, n, 0);
    size_t es = qb_dtype_size(x->dtype);
    int64_t b = s->b;
    /* the space side [N, C, H*b, W*b] and the depth side [N, C*b*b, H, W] */
    const qb_tensor *sp = s->to_depth ? x : y;
    int64_t N = sp->dims[0], C = sp->dims[1], H = sp->dims[2] / b, W = sp->dims[3] / b;
    for (int64_t nn = 0; nn < N; nn++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t h = 0; h < H * b; h++)
                for (int64_t w = 0; w < W * b; w++) {
                    int64_t i = h % b, j = w % b;
                    int64_t dc = s->to_depth || !s->crd ? (i * b + j) * C + c : (c * b + i) * b + j;
                    int64_t so = ((nn * C + c) * H * b + h) * W * b + w;
                    int64_t doff = ((nn * C * b * b + dc) * H + h / b) * W + w / b;
                    if (s->to_depth)
                        memcpy((char *)y->data + doff * es, (const char *)x->data + so * es, es);
                    else
                        memcpy((char *)y->data + so * es, (const char *)x->data + doff * es, es);
                }
}

/* ---- Trilu ---- */
static int trilu_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *x = qb_need_in(g, n, 0, e), *kt = qb_in(g, n, 1);
    if (!x)
        return -1;
    if (x->ndim < 2) {
        QB_NODE_ERR(e, g, n, "input must have rank 2 or more");
        return -1;
    }
    if (kt && (kt->kind != QB_T_CONST || !qb_dtype_is_int(kt->dtype) || qb_tensor_count(kt) != 1)) {
        QB_NODE_ERR(e, g, n, "k '%s' must be a constant integer scalar", kt->name);
        return -1;
    }
    qb_set_out(g, n, 0, x->dtype, x->ndim, x->dims);
    return 0;
}

static void trilu_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const qb_tensor *x = qb_in(g, n, 0), *kt = qb_in(g, n, 1);
    qb_tensor *y = qb_out(g, n, 0);
    int64_t k = kt ? qb_int_at(kt, 0) : 0, R = x->dims[x->ndim - 2], C = x->dims[x->ndim - 1];
    int upper = (int)qb_attr_int(n, "upper", 1);
    size_t es = qb_dtype_size(x->dtype);
    int64_t mats = R > 0 && C > 0 ? qb_tensor_count(x) / (R * C) : 0;
    for (int64_t m = 0; m < mats; m++)
        for (int64_t i = 0; i < R; i++)
            for (int64_t j = 0; j < C; j++) {
                int64_t at = (m * R + i) * C + j;
                int keep = upper ? j - i >= k : j - i <= k;
                if (keep)
                    memcpy((char *)y->data + at * es, (const char *)x->data + at * es, es);
                else
                    memset((char *)y->data + at * es, 0, es);
            }
}

/* ---- ReverseSequence ---- */
static int revseq_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *x = qb_need_in(g, n, 0, e), *lt = x ? qb_need_in(g, n, 1, e) : NULL;
    if (!lt)
        return -1;
    int ba = (int)qb_attr_int(n, "batch_axis", 1), ta = (int)qb_attr_int(n, "time_axis", 0);
    if (x->ndim < 2 || (ba != 0 && ba != 1) || (ta != 0 && ta != 1) || ba == ta || lt->ndim != 1 ||
        lt->dims[0] != x->dims[ba] || !qb_dtype_is_int(lt->dtype) || lt->dtype == QB_DT_BOOL) {
        QB_NODE_ERR(e, g, n, "needs rank >= 2, batch_axis and time_axis 0 and 1, and one integer length per batch");
        return -1;
    }
    qb_set_out(g, n, 0, x->dtype, x->ndim, x->dims);
    return 0;
}

static void revseq_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const qb_tensor *x = qb_in(g, n, 0), *lt = qb_in(g, n, 1);
    qb_tensor *y = qb_out(g, n, 0);
    int ba = (int)qb_attr_int(n, "batch_axis", 1);
    size_t es = qb_dtype_size(x->dtype);
    int64_t inner = x->dims[0] > 0 && x->dims[1] > 0 ? qb_tensor_count(x) / (x->dims[0] * x->dims[1]) : 0;
    int64_t T = x->dims[1 - ba], B = x->dims[ba];
    for (int64_t b = 0; b < B; b++) {
        int64_t len = qb_int_at(lt, b);
        len = len < 0 ? 0 : len > T ? T : len;
        for (int64_t t = 0; t < T; t++) {
            int64_t src = t < len ? len - 1 - t : t;
            int64_t yo = (ba ? t * B + b : b * T + t) * inner, xo = (ba ? src * B + b : b * T + src) * inner;
            memcpy((char *)y->data + yo * es, (const char *)x->data + xo * es, inner * es);
        }
    }
}

#define T QB_OPF_ANY_DTYPE | QB_OPF_ZERO_SIZE
const qb_opdef qb_ops_layout[] = {
    {"Split", split_prepare, split_run, NULL, T, 0},
    {"Tile", tile_prepare, rep_run, NULL, T, 0},
    {"Expand", expand_prepare, rep_run, NULL, T, 0},
    {"DepthToSpace", d2s_prepare, d2s_run, NULL, QB_OPF_ANY_DTYPE, 0},
    {"SpaceToDepth", d2s_prepare, d2s_run, NULL, QB_OPF_ANY_DTYPE, 0},
    {"Trilu", trilu_prepare, trilu_run, NULL, T, 0},
    {"ReverseSequence", revseq_prepare, revseq_run, NULL, QB_OPF_ANY_DTYPE, 0},
    {NULL, NULL, NULL, NULL, 0, 0},
};
