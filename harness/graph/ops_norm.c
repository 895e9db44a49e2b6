/*
 * ops_norm.c - normalizations by statistics of the input itself:
 * InstanceNormalization (per sample and channel), LayerNormalization
 * (over the dims from axis on; optional Mean and InvStdDev outputs),
 * GroupNormalization (channel groups; scale and bias per group as in
 * opset 18, or per channel as in opset 21), MeanVarianceNormalization
 * (axes, default 0, 2, 3) and LRN (across channels). Float types; the
 * statistics in double (mean, then the variance of the deviations), the
 * output rounded once. BatchNormalization is in ops_reduce.c.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness/graph/ops.h"

/* Element i as double (float32 read directly). */
static inline double get(const qb_tensor *t, int64_t i)
{
    return t->dtype == QB_DT_FLOAT ? ((const float *)t->data)[i] : qb_get_d(t, i);
}

static inline void put(qb_tensor *t, int64_t i, double v)
{
    if (t->dtype == QB_DT_FLOAT)
        ((float *)t->data)[i] = (float)v;
    else
        qb_set_d(t, i, v);
}

/* Mean and population variance of the elements base + k*stride, k < cnt. */
static void stats(const qb_tensor *x, int64_t base, int64_t cnt, double *mean, double *var)
{
    double s = 0, q = 0;
    for (int64_t k = 0; k < cnt; k++)
        s += get(x, base + k);
    double m = cnt ? s / (double)cnt : 0;
    for (int64_t k = 0; k < cnt; k++) {
        double d = get(x, base + k) - m;
        q += d * d;
    }
    *mean = m;
    *var = cnt ? q / (double)cnt : 0;
}

static int need_float(qb_graph *g, qb_node *n, const qb_tensor *x, qb_err *e)
{
    if (!qb_dtype_is_float(x->dtype)) {
        QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_TYPE,
                            "element type %s is not supported (float32, float16 and double only)",
                            qb_dtype_name(x->dtype));
        return -1;
    }
    return 0;
}

/* Input i: a float tensor of `len` elements. */
static int need_vec(qb_graph *g, qb_node *n, int i, int64_t len, const char *what, qb_err *e)
{
    qb_tensor *t = qb_need_in(g, n, i, e);
    if (!t)
        return -1;
    if (!qb_dtype_is_float(t->dtype) || qb_tensor_count(t) != len) {
        QB_NODE_ERR(e, g, n, "%s '%s' must be a float tensor of %lld elements", what, t->name, (long long)len);
        return -1;
    }
    return 0;
}

/* ---- InstanceNormalization ---- */
static int inorm_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *x = qb_need_in(g, n, 0, e);
    if (!x || need_float(g, n, x, e))
        return -1;
    if (x->ndim < 3) {
        QB_NODE_ERR(e, g, n, "input must be N x C x D1 ... (rank 3 or more)");
        return -1;
    }
    if (need_vec(g, n, 1, x->dims[1], "scale", e) || need_vec(g, n, 2, x->dims[1], "B", e))
        return -1;
    qb_set_out(g, n, 0, x->dtype, x->ndim, x->dims);
    return 0;
}

static void inorm_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const qb_tensor *x = qb_in(g, n, 0), *sc = qb_in(g, n, 1), *b = qb_in(g, n, 2);
    qb_tensor *y = qb_out(g, n, 0);
    double eps = qb_attr_float(n, "epsilon", 1e-5f);
    int64_t N = x->dims[0], C = x->dims[1], inner = N > 0 && C > 0 ? qb_tensor_count(x) / (N * C) : 0;
    for (int64_t i = 0; i < N * C; i++) {
        double m, v;
        stats(x, i * inner, inner, &m, &v);
        double k = get(sc, i % C) / sqrt(v + eps), d = get(b, i % C);
        for (int64_t j = 0; j < inner; j++)
            put(y, i * inner + j, (get(x, i * inner + j) - m) * k + d);
    }
}

/* ---- LayerNormalization ---- */
typedef struct lnorm_state {
    int64_t outer, len;  /* the input as [outer x len], len = prod(dims[axis:]) */
    int64_t *soff;       /* scale offset per normalized element (broadcast) */
    int64_t *boff;       /* bias offset, or NULL without a bias */
} lnorm_state;

static void lnorm_free(void *p)
{
    lnorm_state *s = p;
    if (s) {
        free(s->soff);
        free(s->boff);
        free(s);
    }
}

/* Offsets of t broadcast (unidirectionally) to the shape dims[0..r): NULL
 * with a message if it does not broadcast or memory runs out. */
static int64_t *bcast_offsets(qb_graph *g, qb_node *n, const qb_tensor *t, int r, const int64_t *dims, qb_err *e)
{
    qb_tensor v = {0};
    v.ndim = r;
    memcpy(v.dims, dims, r * sizeof(int64_t));
    const qb_tensor *ts[2] = {&v, t};
    qb_bcast b;
    if (qb_bcast_init(&b, 2, ts) || b.rank != r || memcmp(b.dims, dims, r * sizeof(int64_t))) {
        QB_NODE_ERR(e, g, n, "'%s' does not broadcast to the normalized shape", t->name);
        return NULL;
    }
    int64_t *off = malloc((size_t)(b.count ? b.count : 1) * sizeof *off);
    if (!off) {
        QB_NODE_ERR(e, g, n, "out of memory");
        return NULL;
    }
    qb_bcast_pos p = {0};
    for (int64_t i = 0; i < b.count; i++, qb_bcast_next(&b, &p))
        off[i] = p.off[1];
    return off;
}

static int lnorm_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *x = qb_need_in(g, n, 0, e), *sc = x ? qb_need_in(g, n, 1, e) : NULL, *b = qb_in(g, n, 2);
    if (!sc || need_float(g, n, x, e) || need_float(g, n, sc, e) || (b && need_float(g, n, b, e)))
        return -1;
    int a = qb_axis(qb_attr_int(n, "axis", -1), x->ndim);
    if (a < 0) {
        QB_NODE_ERR(e, g, n, "axis %lld is out of range for rank %d", (long long)qb_attr_int(n, "axis", -1), x->ndim);
        return -1;
    }
    lnorm_state *s = calloc(1, sizeof *s);
    if (!s) {
        QB_NODE_ERR(e, g, n, "out of memory");
        return -1;
    }
    n->state = s;
    n->free_state = lnorm_free;
    s->outer = s->len = 1;
    for (int d = 0; d < x->ndim; d++)
        if (d < a)
            s->outer *= x->dims[d];
        else
            s->len *= x->dims[d];
    if (!(s->soff = bcast_offsets(g, n, sc, x->ndim - a, x->dims + a, e)))
        return -1;
    if (b && !(s->boff = bcast_offsets(g, n, b, x->ndim - a, x->dims + a, e)))
        return -1;
    qb_set_out(g, n, 0, x->dtype, x->ndim, x->dims);
    int64_t sd[QB_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++)
        sd[d] = d < a ? x->dims[d] : 1;
    int st = (int)qb_attr_int(n, "stash_type", QB_DT_FLOAT);
    if (st != QB_DT_FLOAT && st != QB_DT_DOUBLE && st != QB_DT_FLOAT16) {
        QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_ATTR, "stash_type %d is not supported (a float type)", st);
        return -1;
    }
    for (int i = 1; i < 3 && i < n->nout; i++)
        qb_set_out(g, n, i, st, x->ndim, sd);
    return 0;
}

static void lnorm_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const lnorm_state *s = n->state;
    const qb_tensor *x = qb_in(g, n, 0), *sc = qb_in(g, n, 1), *b = qb_in(g, n, 2);
    qb_tensor *y = qb_out(g, n, 0), *mo = qb_out(g, n, 1), *io = qb_out(g, n, 2);
    double eps = qb_attr_float(n, "epsilon", 1e-5f);
    for (int64_t o = 0; o < s->outer; o++) {
        double m, v;
        int64_t base = o * s->len;
        stats(x, base, s->len, &m, &v);
        double inv = 1 / sqrt(v + eps);
        for (int64_t j = 0; j < s->len; j++) {
            double r = (get(x, base + j) - m) * inv * get(sc, s->soff[j]);
            put(y, base + j, b ? r + get(b, s->boff[j]) : r);
        }
        if (mo)
            qb_set_d(mo, o, m);
        if (io)
            qb_set_d(io, o, inv);
    }
}

/* ---- GroupNormalization ---- */
static int gnorm_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *x = qb_need_in(g, n, 0, e), *sc = x ? qb_need_in(g, n, 1, e) : NULL,
              *b = sc ? qb_need_in(g, n, 2, e) : NULL;
    if (!b || need_float(g, n, x, e))
        return -1;
    int64_t G = qb_attr_int(n, "num_groups", 0);
    if (x->ndim < 2 || G < 1 || x->dims[1] % G) {
        QB_NODE_ERR(e, g, n, "needs N x C x ... with C (%lld) divisible by num_groups (%lld)",
                    (long long)(x->ndim >= 2 ? x->dims[1] : 0), (long long)G);
        return -1;
    }
    int64_t len = qb_tensor_count(sc);
    if (len != G && len != x->dims[1]) {
        QB_NODE_ERR(e, g, n, "scale and bias need num_groups (%lld) or C (%lld) elements", (long long)G,
                    (long long)x->dims[1]);
        return -1;
    }
    if (need_vec(g, n, 1, len, "scale", e) || need_vec(g, n, 2, len, "bias", e))
        return -1;
    qb_set_out(g, n, 0, x->dtype, x->ndim, x->dims);
    return 0;
}

static void gnorm_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const qb_tensor *x = qb_in(g, n, 0), *sc = qb_in(g, n, 1), *b = qb_in(g, n, 2);
    qb_tensor *y = qb_out(g, n, 0);
    double eps = qb_attr_float(n, "epsilon", 1e-5f);
    int64_t N = x->dims[0], C = x->dims[1], G = qb_attr_int(n, "num_groups", 1);
    int64_t inner = N > 0 && C > 0 ? qb_tensor_count(x) / (N * C) : 0, cg = C / G, per_group = qb_tensor_count(sc) == G;
    for (int64_t i = 0; i < N * G; i++) {
        double m, v;
        int64_t base = i * cg * inner;
        stats(x, base, cg * inner, &m, &v);
        double inv = 1 / sqrt(v + eps);
        for (int64_t c = 0; c < cg; c++) {
            int64_t p = per_group ? i % G : (i % G) * cg + c;
            double k = get(sc, p), d = get(b, p);
            for (int64_t j = 0; j < inner; j++) {
                int64_t at = base + c * inner + j;
                put(y, at, (get(x, at) - m) * inv * k + d);
            }
        }
    }
}

/* ---- MeanVarianceNormalization ---- */
typedef struct mvn_state {
    int red[QB_MAX_DIMS]; /* reduced axes */
} mvn_state;

static int mvn_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *x = qb_need_in(g, n, 0, e);
    if (!x || need_float(g, n, x, e))
        return -1;
    mvn_state *s = calloc(1, sizeof *s);
    if (!s) {
        QB_NODE_ERR(e, g, n, "out of memory");
        return -1;
    }
    n->state = s;
    const int64_t *av;
    static const int64_t def[] = {0, 2, 3};
    int na = qb_attr_ints(n, "axes", &av);
    if (na < 0) {
        av = def;
        na = 3;
    }
    for (int i = 0; i < na; i++) {
        int a = qb_axis(av[i], x->ndim);
        if (a < 0) {
            QB_NODE_ERR(e, g, n, "axis %lld is out of range for rank %d", (long long)av[i], x->ndim);
            return -1;
        }
        s->red[a] = 1;
    }
    qb_set_out(g, n, 0, x->dtype, x->ndim, x->dims);
    n->scratch = (size_t)qb_tensor_count(x) * 2 * sizeof(double);
    return 0;
}

/* Y = (X - mean) / (sqrt(E[X^2] - mean^2) + 1e-9), the statistics over the axes. */
static void mvn_run(qb_graph *g, qb_node *n, void *scratch)
{
    const mvn_state *s = n->state;
    const qb_tensor *x = qb_in(g, n, 0);
    qb_tensor *y = qb_out(g, n, 0);
    int64_t cnt = qb_tensor_count(x), group = 1, idx[QB_MAX_DIMS] = {0};
    double *sum = scratch, *sq = sum + cnt;
    memset(scratch, 0, (size_t)cnt * 2 * sizeof(double));
    for (int d = 0; d < x->ndim; d++)
        if (s->red[d])
            group *= x->dims[d];
    /* statistics indexed by the kept coordinates */
    for (int pass = 0; pass < 2; pass++) {
        memset(idx, 0, sizeof idx);
        for (int64_t i = 0; i < cnt; i++) {
            int64_t o = 0;
            for (int d = 0; d < x->ndim; d++)
                if (!s->red[d])
                    o = o * x->dims[d] + idx[d];
            double v = get(x, i);
            if (!pass) {
                sum[o] += v;
                sq[o] += v * v;
            } else {
                double m = sum[o] / group, var = sq[o] / group - m * m;
                put(y, i, (v - m) / (sqrt(var > 0 ? var : 0) + 1e-9));
            }
            for (int d = x->ndim - 1; d >= 0; d--) {
                if (++idx[d] < x->dims[d])
                    break;
                idx[d] = 0;
            }
        }
    }
}

/* ---- LRN ---- */
static int lrn_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *x = qb_need_in(g, n, 0, e);
    if (!x || need_float(g, n, x, e))
        return -1;
    if (x->ndim < 3 || qb_attr_int(n, "size", 0) < 1) {
        QB_NODE_ERR(e, g, n, "needs N x C x D1 ... and a size of 1 or more");
        return -1;
    }
    qb_set_out(g, n, 0, x->dtype, x->ndim, x->dims);
    return 0;
}

static void lrn_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const qb_tensor *x = qb_in(g, n, 0);
    qb_tensor *y = qb_out(g, n, 0);
    int64_t size = qb_attr_int(n, "size", 1), N = x->dims[0], C = x->dims[1];
    double alpha = qb_attr_float(n, "alpha", 1e-4f), beta = qb_attr_float(n, "beta", 0.75f),
           bias = qb_attr_float(n, "bias", 1.0f);
    int64_t inner = N > 0 && C > 0 ? qb_tensor_count(x) / (N * C) : 0, lo = (size - 1) / 2, hi = size - 1 - lo;
    for (int64_t b = 0; b < N; b++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t j = 0; j < inner; j++) {
                double sq = 0;
                for (int64_t k = c - lo; k <= c + hi; k++)
                    if (k >= 0 && k < C) {
                        double v = get(x, (b * C + k) * inner + j);
                        sq += v * v;
                    }
                int64_t at = (b * C + c) * inner + j;
                put(y, at, get(x, at) / pow(bias + alpha / size * sq, beta));
            }
}

const qb_opdef qb_ops_norm[] = {
    {"InstanceNormalization", inorm_prepare, inorm_run, NULL, QB_OPF_ANY_DTYPE, 0},
    {"LayerNormalization", lnorm_prepare, lnorm_run, NULL, QB_OPF_ANY_DTYPE, 0},
    {"GroupNormalization", gnorm_prepare, gnorm_run, NULL, QB_OPF_ANY_DTYPE, 0},
    {"MeanVarianceNormalization", mvn_prepare, mvn_run, NULL, QB_OPF_ANY_DTYPE, 0},
    {"LRN", lrn_prepare, lrn_run, NULL, QB_OPF_ANY_DTYPE, 0},
    {NULL, NULL, NULL, NULL, 0, 0},
};
