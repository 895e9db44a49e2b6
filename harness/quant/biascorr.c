/*
 * biascorr.c - bias correction (Nagel et al., "Data-Free Quantization",
 * ICCV 2019, section 4.2): quantizing the weights W to W_q shifts the
 * expected output of a layer by (W_q - W) E[x]; subtracting that from the
 * bias removes the shift.
 *   empirical   E[x] = the mean of the layer's input patches (a conv's
 *               columns, padding included as 0) over the calibration
 *               samples, the FP32 model's inputs
 *   analytical  E[x] per input channel from the BatchNormalization
 *               statistics of the layer that produced it: x = act(z),
 *               z ~ N(beta, gamma^2), act a Relu or Clip (the mean of a
 *               clipped normal); padding is ignored (every column of a
 *               channel gets the channel mean)
 * W_q is what the layer runs with at its planned precision (harness/graph/
 * qlayer.c: int8 per tensor or channel, int4 per channel or group,
 * binary alpha * sign, fp16 rounding; depthwise int4/binary run int8 per
 * channel). Layers with a Gemm alpha other than 1 are left alone.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/quant/repairs.h"
#include "kernels/kernels.h"

/* The int4 group a layer runs with (ptq.c's rule: groups along K only
 * where K's order does not depend on the layout). */
static int run_group(const qb_wview *v, int group)
{
    return v->taps == 1 ? group : 0;
}

int qb_layer_weights_as_run(const qb_wview *v, qb_precision p, int group, float *wq)
{
    int n = v->n, k = v->k;
    size_t nk = (size_t)n * k;
    qb_wview_rows(v, wq);
    p = qb_precision_runs_as(p);
    if (v->depthwise && (p == QB_PREC_INT4 || p == QB_PREC_BINARY))
        p = QB_PREC_INT8_CHANNEL;
    if (p == QB_PREC_FP32 || p == QB_PREC_MIXED || p >= QB_PREC_COUNT)
        return -1;
    if (p == QB_PREC_FP16) {
        for (size_t i = 0; i < nk; i++)
            wq[i] = qb_f16_to_f32(qb_f32_to_f16(wq[i]));
        return 0;
    }
    if (p == QB_PREC_BINARY) {
        float *alpha = malloc(((size_t)n + 1) * sizeof *alpha);
        if (!alpha)
            return -1;
        qb_quant_w_binary(wq, n, k, alpha);
        for (int o = 0; o < n; o++)
            for (int j = 0; j < k; j++)
                wq[(size_t)o * k + j] = signbit(wq[(size_t)o * k + j]) ? -alpha[o] : alpha[o];
        free(alpha);
        return 0;
    }
    int g = p == QB_PREC_INT4 ? run_group(v, group) : 0;
    int ng = p == QB_PREC_INT4 ? qb_int4_ngroups(k, g) : 1;
    int8_t *q = malloc(nk + 1);
    float *sc = malloc(((size_t)n * ng + 1) * sizeof *sc);
    if (!q || !sc) {
        free(q), free(sc);
        return -1;
    }
    if (p == QB_PREC_INT4)
        qb_quant_w_int4(wq, n, k, g, q, sc, NULL, 0);
    else
        qb_quant_w_int8(wq, n, k, p == QB_PREC_INT8_CHANNEL, q, sc, NULL, 0);
    int glen = g > 0 && g < k ? g : k;
    for (int o = 0; o < n; o++)
        for (int j = 0; j < k; j++) {
            float s = p == QB_PREC_INT8_TENSOR ? sc[0] : p == QB_PREC_INT8_CHANNEL ? sc[o] : sc[(size_t)o * ng + j / glen];
            wq[(size_t)o * k + j] = (float)q[(size_t)o * k + j] * s;
        }
    free(q), free(sc);
    return 0;
}

/* Subtract (W_q - W) m from the bias of node `node`: m has k entries
 * (depthwise: cin * taps, channel c's taps at c * taps). 1 if corrected. */
static int correct(qb_graph *g, int node, qb_precision p, int group, const double *m)
{
    qb_wview v;
    if (node < 0 || qb_wview_of(g, node, &v) || qb_attr_float(&g->nodes[node], "alpha", 1.0f) != 1.0f)
        return 0;
    size_t nk = (size_t)v.n * v.k;
    float *w = malloc(nk * sizeof *w + 1), *wq = malloc(nk * sizeof *wq + 1);
    int ok = w && wq && !qb_layer_weights_as_run(&v, p, group, wq) && !qb_wview_add_bias(g, node, &v);
    if (ok) {
        qb_wview_rows(&v, w);
        for (int o = 0; o < v.n; o++) {
            const double *mo = v.depthwise ? m + (size_t)o * v.k : m;
            double d = 0;
            for (int j = 0; j < v.k; j++)
                d += ((double)wq[(size_t)o * v.k + j] - w[(size_t)o * v.k + j]) * mo[j];
            v.b[o] -= (float)d;
        }
    }
    free(w), free(wq);
    return ok;
}

/* Patch means per layer. */
typedef struct mean_ctx {
    double **sum;  /* layer -> column sums (depthwise: cin * taps) */
    double *rows;  /* layer -> rows seen (depthwise: per channel, so rows / cin) */
    int *dw_taps;  /* layer -> taps of a depthwise layer, 0 otherwise */
} mean_ctx;

static void add_mean(void *vctx, int layer, int grp, const float *a, int len)
{
    mean_ctx *cx = vctx;
    double *s = cx->sum[layer] + (size_t)grp * len;
    for (int j = 0; j < len; j++)
        s[j] += a[j];
    if (grp == 0)
        cx->rows[layer] += 1;
}

int qb_biascorr_empirical(qb_graph *g, const qb_calibration *cal, const qb_precision *plan, const qb_quant_opts *o,
                          const qb_samples *s, int batch, qb_err *e)
{
    int n = cal->n, done = 0, rc = -1;
    int *nodes = calloc((size_t)n + 1, sizeof *nodes);
    mean_ctx cx = {.sum = calloc((size_t)n + 1, sizeof *cx.sum), .rows = calloc((size_t)n + 1, sizeof *cx.rows)};
    if (!nodes || !cx.sum || !cx.rows)
        goto oom;
    for (int i = 0; i < n; i++) {
        qb_wview v;
        nodes[i] = plan[i] == QB_PREC_FP32 ? -1 : qb_layer_node(g, &cal->layers[i]);
        if (nodes[i] >= 0 && qb_wview_of(g, nodes[i], &v))
            nodes[i] = -1;
        if (nodes[i] >= 0 && !(cx.sum[i] = calloc((size_t)v.cin * v.taps + 1, sizeof **cx.sum)))
            goto oom;
    }
    if (qb_layer_inputs(g, nodes, n, s, batch, add_mean, &cx, e))
        goto out;
    for (int i = 0; i < n; i++) {
        qb_wview v;
        if (nodes[i] < 0 || cx.rows[i] <= 0 || qb_wview_of(g, nodes[i], &v))
            continue;
        size_t len = (size_t)v.cin * v.taps;
        for (size_t j = 0; j < len; j++)
            cx.sum[i][j] /= cx.rows[i];
        done += correct(g, nodes[i], plan[i], o->group, cx.sum[i]);
    }
    rc = done;
    goto out;
oom:
    qb_errf(e, "%s: out of memory", g->file);
out:
    for (int i = 0; cx.sum && i < n; i++)
        free(cx.sum[i]);
    free(cx.sum), free(cx.rows), free(nodes);
    return rc;
}

static double phi(double x) { return exp(-0.5 * x * x) / sqrt(2 * M_PI); }
static double Phi(double x) { return 0.5 * erfc(-x / sqrt(2)); }

/* E[clip(z, lo, hi)] for z ~ N(mu, sd^2). */
static double clipped_mean(double mu, double sd, double lo, double hi)
{
    if (!(sd > 0))
        return mu < lo ? lo : mu > hi ? hi : mu;
    double m = 0, a = isfinite(lo) ? (lo - mu) / sd : -INFINITY, b = isfinite(hi) ? (hi - mu) / sd : INFINITY;
    double Pa = isfinite(a) ? Phi(a) : 0, Pb = isfinite(b) ? Phi(b) : 1;
    if (isfinite(lo))
        m += lo * Pa;
    if (isfinite(hi))
        m += hi * (1 - Pb);
    m += mu * (Pb - Pa) + sd * ((isfinite(a) ? phi(a) : 0) - (isfinite(b) ? phi(b) : 0));
    return m;
}

static float in_scalar(const qb_graph *g, const qb_node *n, int i, float def)
{
    if (i >= n->nin || n->in[i] < 0)
        return def;
    const qb_tensor *t = g->tensors[n->in[i]];
    return t->kind == QB_T_CONST && t->dtype == QB_DT_FLOAT && qb_tensor_count(t) == 1 ? ((float *)t->data)[0] : def;
}

/* Mean per channel of node's input from the statistics of its producer
 * layer (through Relu, Clip, GlobalAveragePool, Flatten, Identity,
 * Dropout). Fills mean[c] for the producer's channels; returns that count, or 0. */
static int input_means(const qb_graph *g, int node, const qb_bn_stats *st, double *mean, int cap)
{
    double lo = -INFINITY, hi = INFINITY;
    int t = g->nodes[node].in[0];
    for (int hops = 0; hops < 8 && t >= 0; hops++) {
        int p = -1;
        for (int i = 0; i < g->nnodes && p < 0; i++)
            for (int j = 0; j < g->nodes[i].nout; j++)
                if (g->nodes[i].out[j] == t)
                    p = i;
        if (p < 0)
            return 0;
        const qb_node *n = &g->nodes[p];
        const qb_bn_stat *s = qb_bn_stats_find(st, n->name);
        if (s) {
            if (s->c > cap)
                return 0;
            for (int c = 0; c < s->c; c++)
                mean[c] = clipped_mean(s->beta[c], s->gamma[c], lo, hi);
            return s->c;
        }
        if (!strcmp(n->op, "Relu")) {
            lo = lo > 0 ? lo : 0;
        } else if (!strcmp(n->op, "Clip")) {
            float a = in_scalar(g, n, 1, -INFINITY), b = in_scalar(g, n, 2, INFINITY);
            lo = a > lo ? a : lo;
            hi = b < hi ? b : hi;
        } else if (strcmp(n->op, "GlobalAveragePool") && strcmp(n->op, "Flatten") && strcmp(n->op, "Identity") &&
                   strcmp(n->op, "Dropout")) {
            return 0;
        }
        t = n->in[0];
    }
    return 0;
}

int qb_biascorr_analytic(qb_graph *g, const qb_bn_stats *st, const qb_calibration *cal, const qb_precision *plan,
                         const qb_quant_opts *o, qb_err *e)
{
    int done = 0;
    for (int i = 0; i < cal->n; i++) {
        qb_wview v;
        int node = plan[i] == QB_PREC_FP32 ? -1 : qb_layer_node(g, &cal->layers[i]);
        if (node < 0 || qb_wview_of(g, node, &v))
            continue;
        size_t len = (size_t)v.cin * v.taps;
        double *cm = calloc((size_t)v.cin + 1, sizeof *cm), *m = calloc(len + 1, sizeof *m);
        if (!cm || !m) {
            free(cm), free(m);
            qb_errf(e, "%s: out of memory", g->file);
            return -1;
        }
        int c = input_means(g, node, st, cm, v.cin);
        if (c > 0 && v.cin % c == 0) {
            int per = v.cin / c; /* a Flatten of C x H x W: H*W columns per channel */
            for (size_t j = 0; j < len; j++)
                m[j] = cm[(j / v.taps) / per];
            done += correct(g, node, plan[i], o->group, m);
        }
        free(cm), free(m);
    }
    return done;
}
