/*
 * repair_graph.c - what the repairs share (see repairs.h): the folded copy
 * of a model with its BatchNormalization statistics, weight views of the
 * Conv/Gemm/MatMul layers, and the pairs of layers joined only through
 * per-channel, positively homogeneous operators.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/quant/repairs.h"

static int is_const_f(const qb_graph *g, int t)
{
    return t >= 0 && g->tensors[t]->kind == QB_T_CONST && g->tensors[t]->dtype == QB_DT_FLOAT && g->tensors[t]->data;
}

/* Readers of tensor t (graph outputs count as one more). */
static int uses(const qb_graph *g, int t, int *only)
{
    int c = 0;
    for (int i = 0; i < g->nnodes; i++)
        for (int j = 0; j < g->nodes[i].nin; j++)
            if (g->nodes[i].in[j] == t) {
                c++;
                if (only)
                    *only = i;
            }
    for (int i = 0; i < g->noutputs; i++)
        c += g->outputs[i] == t;
    return c;
}

static int producer(const qb_graph *g, int t)
{
    for (int i = 0; i < g->nnodes; i++)
        for (int j = 0; j < g->nodes[i].nout; j++)
            if (g->nodes[i].out[j] == t)
                return i;
    return -1;
}

void qb_bn_stats_free(qb_bn_stats *st)
{
    if (!st)
        return;
    for (int i = 0; i < st->n; i++) {
        free(st->s[i].beta);
        free(st->s[i].gamma);
    }
    free(st->s);
    memset(st, 0, sizeof *st);
}

qb_bn_stat *qb_bn_stats_find(const qb_bn_stats *st, const char *name)
{
    for (int i = 0; st && i < st->n; i++)
        if (!strcmp(st->s[i].name, name))
            return &st->s[i];
    return NULL;
}

/* Record the statistics of every BatchNormalization that qb_fold_batchnorm will fold
 * (same conditions: constant parameters, a Conv/Gemm producer read only by it). */
static int collect_bn(const qb_graph *g, qb_bn_stats *st)
{
    for (int i = 0; i < g->nnodes; i++) {
        const qb_node *bn = &g->nodes[i];
        if (strcmp(bn->op, "BatchNormalization") || bn->nin < 5)
            continue;
        int ok = 1;
        for (int j = 1; j < 5; j++)
            ok &= is_const_f(g, bn->in[j]);
        int p = bn->in[0] >= 0 ? producer(g, bn->in[0]) : -1;
        if (!ok || p < 0 || (strcmp(g->nodes[p].op, "Conv") && strcmp(g->nodes[p].op, "Gemm")) ||
            uses(g, bn->in[0], NULL) != 1)
            continue;
        int64_t c = qb_tensor_count(g->tensors[bn->in[1]]);
        if (c <= 0 || qb_tensor_count(g->tensors[bn->in[2]]) != c)
            continue;
        qb_bn_stat *s = realloc(st->s, (size_t)(st->n + 1) * sizeof *s);
        if (!s)
            return -1;
        st->s = s;
        s = &st->s[st->n];
        memset(s, 0, sizeof *s);
        snprintf(s->name, sizeof s->name, "%s", g->nodes[p].name);
        s->c = (int)c;
        s->beta = malloc((size_t)c * sizeof *s->beta);
        s->gamma = malloc((size_t)c * sizeof *s->gamma);
        if (!s->beta || !s->gamma) {
            free(s->beta);
            free(s->gamma);
            return -1;
        }
        const float *gam = g->tensors[bn->in[1]]->data, *bet = g->tensors[bn->in[2]]->data;
        for (int64_t k = 0; k < c; k++) {
            s->beta[k] = bet[k];
            s->gamma[k] = fabsf(gam[k]);
        }
        st->n++;
    }
    return 0;
}

qb_graph *qb_repair_fold(const qb_graph *model, qb_bn_stats *st, qb_err *e)
{
    qb_graph *g = qb_graph_clone(model, e);
    if (!g)
        return NULL;
    if (st) {
        memset(st, 0, sizeof *st);
        if (collect_bn(g, st)) {
            qb_errf(e, "%s: out of memory", model->file);
            qb_bn_stats_free(st);
            qb_graph_free(g);
            return NULL;
        }
    }
    qb_fold_batchnorm(g);
    return g;
}

int qb_wview_of(qb_graph *g, int node, qb_wview *v)
{
    memset(v, 0, sizeof *v);
    qb_node *n = &g->nodes[node];
    if (n->nin < 2 || n->q || !is_const_f(g, n->in[1]) || uses(g, n->in[1], NULL) != 1)
        return -1;
    qb_tensor *W = g->tensors[n->in[1]];
    qb_tensor *B = n->nin > 2 && n->in[2] >= 0 ? g->tensors[n->in[2]] : NULL;
    if (B && (!is_const_f(g, n->in[2]) || uses(g, n->in[2], NULL) != 1))
        return -1;
    v->w = W->data;
    v->taps = 1;
    if (!strcmp(n->op, "Conv") && W->ndim >= 3) {
        int groups = (int)qb_attr_int(n, "group", 1);
        v->n = (int)W->dims[0];
        v->taps = (int)(qb_tensor_count(W) / (W->dims[0] * W->dims[1]));
        v->row_major = 1;
        if (groups == 1) {
            v->cin = (int)W->dims[1];
        } else if (groups == v->n && W->dims[1] == 1) {
            v->cin = v->n;
            v->depthwise = 1;
        } else {
            return -1;
        }
        v->k = (int)W->dims[1] * v->taps;
        const int64_t *pads;
        int np = qb_attr_ints(n, "pads", &pads);
        for (int i = 0; i < np; i++)
            v->padded |= pads[i] != 0;
        const char *ap = qb_attr_str(n, "auto_pad", "NOTSET");
        if (strcmp(ap, "NOTSET") && strcmp(ap, "VALID"))
            v->padded = 1;
    } else if ((!strcmp(n->op, "Gemm") || !strcmp(n->op, "MatMul")) && W->ndim == 2) {
        int tb = !strcmp(n->op, "Gemm") && qb_attr_int(n, "transB", 0);
        if (!strcmp(n->op, "Gemm") && qb_attr_int(n, "transA", 0))
            return -1;
        v->row_major = tb;
        v->n = (int)(tb ? W->dims[0] : W->dims[1]);
        v->k = v->cin = (int)(tb ? W->dims[1] : W->dims[0]);
    } else {
        return -1;
    }
    if (B) {
        if (qb_tensor_count(B) != v->n)
            return -1;
        v->b = B->data;
    }
    return 0;
}

int qb_wview_add_bias(qb_graph *g, int node, qb_wview *v)
{
    if (v->b)
        return 0;
    qb_node *n = &g->nodes[node];
    if (strcmp(n->op, "Conv") && strcmp(n->op, "Gemm"))
        return -1;
    char name[512];
    int k = 0;
    do
        snprintf(name, sizeof name, "%.400s_repair_bias%.0d", n->name, k);
    while (qb_graph_find(g, name) >= 0 && ++k);
    int t = qb_graph_tensor(g, name);
    qb_tensor *x = g->tensors[t];
    x->kind = QB_T_CONST;
    x->dtype = QB_DT_FLOAT;
    x->ndim = 1;
    x->dims[0] = v->n;
    x->has_shape = 1;
    x->data = calloc((size_t)v->n + 1, sizeof(float));
    if (!x->data)
        return -1;
    n = &g->nodes[node];
    if (n->nin < 3) {
        int *in = realloc(n->in, 3 * sizeof *in);
        if (!in)
            return -1;
        n->in = in;
        n->in[2] = -1;
        n->nin = 3;
    }
    n->in[2] = t;
    v->b = x->data;
    return 0;
}

/* Scalar value of constant input i of n, or def when absent. */
static float const_scalar(const qb_graph *g, const qb_node *n, int i, float def)
{
    if (i >= n->nin || n->in[i] < 0 || !is_const_f(g, n->in[i]) || qb_tensor_count(g->tensors[n->in[i]]) != 1)
        return def;
    return ((const float *)g->tensors[n->in[i]]->data)[0];
}

/* Does the op commute with a positive per-channel scale (NCHW channel axis 1)? */
static int homogeneous(const qb_graph *g, const qb_node *n, qb_pair *p, int at)
{
    static const char *const ok[] = {"Relu", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool",
                                     "Identity", "Dropout", "Flatten"};
    if (!strcmp(n->op, "Flatten") && qb_attr_int(n, "axis", 1) != 1)
        return 0;
    if (!strcmp(n->op, "LeakyRelu"))
        return 1;
    if (!strcmp(n->op, "Clip")) {
        float lo = const_scalar(g, n, 1, -INFINITY), hi = const_scalar(g, n, 2, INFINITY);
        if (n->nin == 1) { /* opset < 11: attributes (upgraded graphs have inputs) */
            lo = qb_attr_float(n, "min", -INFINITY);
            hi = qb_attr_float(n, "max", INFINITY);
        }
        if (lo != 0.0f)
            return 0;
        p->relu = 1;
        if (isfinite(hi))
            p->clip = at;
        return 1;
    }
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (!strcmp(n->op, ok[i])) {
            if (!strcmp(n->op, "Relu"))
                p->relu = 1;
            return 1;
        }
    return 0;
}

int qb_find_pairs(qb_graph *g, qb_pair **out)
{
    int cnt = 0;
    qb_pair *P = calloc((size_t)g->nnodes + 1, sizeof *P);
    *out = P;
    if (!P)
        return 0;
    for (int i = 0; i < g->nnodes; i++) {
        qb_wview v1, v2;
        if (qb_wview_of(g, i, &v1) || g->nodes[i].nout < 1)
            continue;
        qb_pair p = {.l1 = i, .l2 = -1, .clip = -1};
        int t = g->nodes[i].out[0], flatten = 0;
        for (;;) {
            int next = -1;
            if (t < 0 || uses(g, t, &next) != 1 || next < 0)
                break;
            qb_node *n = &g->nodes[next];
            if (n->in[0] != t)
                break;
            if (!qb_wview_of(g, next, &v2)) {
                p.l2 = next;
                p.tensor = t;
                break;
            }
            if (p.nmid == 8 || !homogeneous(g, n, &p, next))
                break;
            flatten |= !strcmp(n->op, "Flatten");
            p.mid[p.nmid++] = next;
            t = n->nout > 0 ? n->out[0] : -1;
        }
        if (p.l2 < 0)
            continue;
        if (strcmp(g->nodes[p.l2].op, "Conv")) { /* Gemm/MatMul: C (x H x W) flattened */
            if (v2.cin % v1.n || (v2.cin != v1.n && !flatten))
                continue;
            p.kmul = v2.cin / v1.n;
        } else {
            if (v2.cin != v1.n)
                continue;
            p.kmul = 1;
        }
        P[cnt++] = p;
    }
    return cnt;
}

void qb_pair_scale_out(qb_graph *g, const qb_pair *p, int c, float f, qb_bn_stats *st)
{
    qb_wview v;
    if (qb_wview_of(g, p->l1, &v))
        return;
    for (int j = 0; j < v.k; j++)
        *qb_wv_at(&v, c, j) *= f;
    if (v.b)
        v.b[c] *= f;
    qb_bn_stat *s = qb_bn_stats_find(st, g->nodes[p->l1].name);
    if (s && c < s->c) {
        s->beta[c] *= f;
        s->gamma[c] *= f;
    }
}

float qb_pair_out_range(qb_graph *g, const qb_pair *p, int c)
{
    qb_wview v;
    float m = 0;
    if (qb_wview_of(g, p->l1, &v))
        return 0;
    for (int j = 0; j < v.k; j++) {
        float a = fabsf(*qb_wv_at(&v, c, j));
        m = a > m ? a : m;
    }
    return m;
}

/* Apply fn to every weight of l2 reading channel c of l1; returns the max |w| seen. */
static float each_in(qb_graph *g, const qb_pair *p, int c, float f)
{
    qb_wview v;
    float m = 0;
    if (qb_wview_of(g, p->l2, &v))
        return 0;
    if (v.depthwise) { /* channel c is output row c's own input */
        for (int j = 0; j < v.k; j++) {
            float *w = qb_wv_at(&v, c, j);
            *w *= f;
            m = fabsf(*w) > m ? fabsf(*w) : m;
        }
        return m;
    }
    int j0 = c * p->kmul * v.taps, j1 = j0 + p->kmul * v.taps;
    for (int o = 0; o < v.n; o++)
        for (int j = j0; j < j1; j++) {
            float *w = qb_wv_at(&v, o, j);
            *w *= f;
            m = fabsf(*w) > m ? fabsf(*w) : m;
        }
    return m;
}

void qb_pair_scale_in(qb_graph *g, const qb_pair *p, int c, float f)
{
    each_in(g, p, c, f);
}

float qb_pair_in_range(qb_graph *g, const qb_pair *p, int c)
{
    return each_in(g, p, c, 1.0f);
}

int qb_conv_geo_of(const qb_graph *g, const qb_node *n, qb_conv_geo *c)
{
    memset(c, 0, sizeof *c);
    const qb_tensor *x = qb_in(g, n, 0), *W = qb_in(g, n, 1), *y = qb_out(g, n, 0);
    if (!x || !W || !y || x->ndim != 4 || W->ndim != 4 || y->ndim != 4)
        return -1;
    c->cin = (int)x->dims[1], c->h = (int)x->dims[2], c->w = (int)x->dims[3];
    c->oh = (int)y->dims[2], c->ow = (int)y->dims[3];
    c->kh = (int)W->dims[2], c->kw = (int)W->dims[3];
    const int64_t *v;
    c->sh = c->sw = c->dh = c->dw = 1;
    if (qb_attr_ints(n, "strides", &v) == 2)
        c->sh = (int)v[0], c->sw = (int)v[1];
    if (qb_attr_ints(n, "dilations", &v) == 2)
        c->dh = (int)v[0], c->dw = (int)v[1];
    if (qb_attr_ints(n, "pads", &v) == 4) {
        c->ph = (int)v[0], c->pw = (int)v[1];
    } else if (strcmp(qb_attr_str(n, "auto_pad", "NOTSET"), "NOTSET") &&
               strcmp(qb_attr_str(n, "auto_pad", "NOTSET"), "VALID")) {
        int th = ((c->oh - 1) * c->sh + (c->kh - 1) * c->dh + 1 - c->h), tw = ((c->ow - 1) * c->sw + (c->kw - 1) * c->dw + 1 - c->w);
        th = th > 0 ? th : 0, tw = tw > 0 ? tw : 0;
        int upper = !strcmp(qb_attr_str(n, "auto_pad", ""), "SAME_UPPER");
        c->ph = upper ? th / 2 : th - th / 2;
        c->pw = upper ? tw / 2 : tw - tw / 2;
    }
    return 0;
}

void qb_conv_patch(const qb_conv_geo *c, const float *x, int c0, int nc, int oy, int ox, float *out)
{
    for (int ci = 0; ci < nc; ci++) {
        const float *xc = x + (size_t)(c0 + ci) * c->h * c->w;
        for (int ky = 0; ky < c->kh; ky++) {
            int iy = oy * c->sh + ky * c->dh - c->ph;
            for (int kx = 0; kx < c->kw; kx++) {
                int ix = ox * c->sw + kx * c->dw - c->pw;
                *out++ = iy >= 0 && iy < c->h && ix >= 0 && ix < c->w ? xc[(size_t)iy * c->w + ix] : 0.0f;
            }
        }
    }
}

int qb_layer_node(const qb_graph *g, const qb_layer_info *l)
{
    for (int j = 0; j < g->nnodes; j++)
        if (!strcmp(g->nodes[j].name, l->name) && !strcmp(g->nodes[j].op, l->op))
            return j;
    return -1;
}

int qb_wview_rows(const qb_wview *v, float *out)
{
    for (int o = 0; o < v->n; o++)
        for (int j = 0; j < v->k; j++)
            out[(size_t)o * v->k + j] = *qb_wv_at(v, o, j);
    return 0;
}

/* State of qb_layer_inputs. */
typedef struct inputs_ctx {
    int *layer_of_node;  /* node -> index into the caller's list, or -1 */
    qb_patch_fn fn;      /* the caller's callback */
    void *ctx;           /* its context */
    int valid;           /* real samples in the current batch */
    float *patch;        /* one patch */
} inputs_ctx;

static void on_layer(qb_graph *g, int node, void *vctx)
{
    inputs_ctx *cx = vctx;
    int li = cx->layer_of_node[node];
    if (li < 0)
        return;
    const qb_node *n = &g->nodes[node];
    const qb_tensor *x = qb_in(g, n, 0);
    if (!strcmp(n->op, "Conv")) {
        qb_conv_geo c;
        if (qb_conv_geo_of(g, n, &c))
            return;
        int groups = (int)qb_attr_int(n, "group", 1), dw = groups > 1;
        int taps = c.kh * c.kw;
        for (int b = 0; b < cx->valid; b++) {
            const float *xs = (const float *)x->data + (size_t)b * c.cin * c.h * c.w;
            for (int oy = 0; oy < c.oh; oy++)
                for (int ox = 0; ox < c.ow; ox++) {
                    if (dw) {
                        for (int ch = 0; ch < c.cin; ch++) {
                            qb_conv_patch(&c, xs, ch, 1, oy, ox, cx->patch);
                            cx->fn(cx->ctx, li, ch, cx->patch, taps);
                        }
                    } else {
                        qb_conv_patch(&c, xs, 0, c.cin, oy, ox, cx->patch);
                        cx->fn(cx->ctx, li, 0, cx->patch, c.cin * taps);
                    }
                }
        }
        return;
    }
    int64_t k = x->ndim ? x->dims[x->ndim - 1] : 1;
    int64_t rows = k > 0 ? qb_tensor_count(x) / k : 0;
    int64_t per = x->ndim && x->dims[0] > 0 ? rows / x->dims[0] : rows; /* rows per sample */
    for (int64_t r = 0; r < per * cx->valid; r++)
        cx->fn(cx->ctx, li, 0, (const float *)x->data + r * k, (int)k);
}

int qb_layer_inputs(const qb_graph *g0, const int *nodes, int n, const qb_samples *s, int batch, qb_patch_fn fn,
                    void *ctx, qb_err *e)
{
    qb_graph *g = qb_graph_clone(g0, e);
    if (!g)
        return -1;
    g->nchw_only = 1;
    g->no_int8_links = 1;
    qb_runner r;
    if (qb_runner_open(&r, g, batch, -1, e))
        return -1;
    inputs_ctx cx = {.fn = fn, .ctx = ctx};
    cx.layer_of_node = malloc(((size_t)r.g->nnodes + 1) * sizeof *cx.layer_of_node);
    size_t maxk = 1;
    for (int i = 0; i < r.g->nnodes; i++) {
        const qb_tensor *x = qb_in(r.g, &r.g->nodes[i], 0), *W = qb_in(r.g, &r.g->nodes[i], 1);
        if (x && W && (size_t)qb_tensor_count(W) > maxk)
            maxk = (size_t)qb_tensor_count(W);
        if (x && x->ndim && (size_t)x->dims[x->ndim - 1] > maxk)
            maxk = (size_t)x->dims[x->ndim - 1];
    }
    cx.patch = malloc(maxk * sizeof *cx.patch);
    int rc = -1;
    if (!cx.layer_of_node || !cx.patch) {
        qb_errf(e, "%s: out of memory", g0->file);
        goto out;
    }
    for (int i = 0; i < r.g->nnodes; i++) {
        cx.layer_of_node[i] = -1;
        for (int j = 0; j < n; j++)
            if (nodes[j] >= 0 && !strcmp(r.g->nodes[i].name, g0->nodes[nodes[j]].name) &&
                !strcmp(r.g->nodes[i].op, g0->nodes[nodes[j]].op))
                cx.layer_of_node[i] = j;
    }
    r.g->on_node = on_layer;
    r.g->on_node_ctx = &cx;
    for (int from = 0; from < s->n; from += r.batch) {
        cx.valid = s->n - from < r.batch ? s->n - from : r.batch;
        qb_samples_fill(s, from, cx.valid, r.batch, r.x);
        if (qb_runner_run(&r, e))
            goto out;
    }
    rc = 0;
out:
    free(cx.layer_of_node);
    free(cx.patch);
    qb_runner_close(&r);
    return rc;
}
