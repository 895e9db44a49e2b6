/*
 * smooth.c - activation-range smoothing (Xiao et al., "SmoothQuant",
 * ICML 2023), carried to CNN pairs: where a layer's input has outlier
 * channels, channel c of the activations is divided by
 *   s_c = max|x_c|^alpha / max|w2_c|^(1 - alpha)
 * and the next layer's weights of that channel multiplied by it, so the
 * activation range shrinks and the weights take the difference. In an
 * LLM the division goes into the preceding LayerNorm; here it goes into
 * the producing layer l1 of a pair (repairs.h: only Relu, pools,
 * Flatten in between, which commute with a positive per-channel scale),
 * exactly as cross-layer equalization does with weight-derived scales.
 * A Clip(0, M) in between becomes a Relu (see cle.c).
 * The per-channel ranges are measured first (qb_chan_ranges_measure);
 * only pairs whose max / median channel range reaches min_ratio are
 * smoothed.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/quant/repairs.h"

typedef struct range_ctx {
    qb_chan_ranges *r;  /* being filled */
    int *taps;          /* layer -> taps per channel of its rows (conv), kmul (Gemm) */
} range_ctx;

static void add_range(void *vctx, int layer, int grp, const float *a, int len)
{
    range_ctx *cx = vctx;
    float *m = cx->r->absmax[layer];
    int per = cx->taps[layer];
    for (int j = 0; j < len; j++) {
        int c = per ? j / per : grp; /* depthwise (per 0): all of a is channel grp */
        if (fabsf(a[j]) > m[c])
            m[c] = fabsf(a[j]);
    }
}

void qb_chan_ranges_free(qb_chan_ranges *r)
{
    for (int i = 0; i < r->npairs; i++)
        free(r->absmax ? r->absmax[i] : NULL);
    free(r->absmax), free(r->c), free(r->pairs);
    memset(r, 0, sizeof *r);
}

int qb_chan_ranges_measure(const qb_graph *g0, const qb_samples *s, int batch, qb_chan_ranges *r, qb_err *e)
{
    memset(r, 0, sizeof *r);
    qb_graph *g = qb_graph_clone(g0, e); /* qb_find_pairs needs a mutable graph; nothing is changed */
    if (!g)
        return -1;
    int np = qb_find_pairs(g, &r->pairs), rc = -1;
    r->npairs = np;
    r->c = calloc((size_t)np + 1, sizeof *r->c);
    r->absmax = calloc((size_t)np + 1, sizeof *r->absmax);
    int *nodes = calloc((size_t)np + 1, sizeof *nodes);
    range_ctx cx = {.r = r, .taps = calloc((size_t)np + 1, sizeof *cx.taps)};
    if (!r->pairs || !r->c || !r->absmax || !nodes || !cx.taps)
        goto oom;
    for (int i = 0; i < np; i++) {
        qb_wview v1, v2;
        qb_wview_of(g, r->pairs[i].l1, &v1);
        qb_wview_of(g, r->pairs[i].l2, &v2);
        r->c[i] = v1.n;
        nodes[i] = r->pairs[i].l2;
        cx.taps[i] = v2.depthwise ? 0 : v2.taps * r->pairs[i].kmul;
        if (!(r->absmax[i] = calloc((size_t)v1.n + 1, sizeof **r->absmax)))
            goto oom;
    }
    rc = qb_layer_inputs(g, nodes, np, s, batch, add_range, &cx, e);
    goto out;
oom:
    qb_errf(e, "%s: out of memory", g0->file);
out:
    free(nodes), free(cx.taps);
    qb_graph_free(g);
    if (rc)
        qb_chan_ranges_free(r);
    return rc;
}

static int cmp_f(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

double qb_chan_outlier_ratio(const qb_chan_ranges *r, int i)
{
    int c = r->c[i];
    if (c < 2)
        return 1;
    float *v = malloc((size_t)c * sizeof *v);
    if (!v)
        return NAN;
    memcpy(v, r->absmax[i], (size_t)c * sizeof *v);
    qsort(v, (size_t)c, sizeof *v, cmp_f);
    double med = c % 2 ? v[c / 2] : 0.5 * (v[c / 2 - 1] + v[c / 2]);
    double ratio = med > 0 ? v[c - 1] / med : (v[c - 1] > 0 ? INFINITY : 1);
    free(v);
    return ratio;
}

int qb_smooth(qb_graph *g, const qb_samples *s, int batch, double alpha, double min_ratio, FILE *log, qb_err *e)
{
    qb_chan_ranges r;
    if (qb_chan_ranges_measure(g, s, batch, &r, e))
        return -1;
    int done = 0;
    for (int i = 0; i < r.npairs; i++) {
        double ratio = qb_chan_outlier_ratio(&r, i);
        if (log)
            fprintf(log, "smooth: %s -> %s: %d channels, max/median range %.1f%s\n", g->nodes[r.pairs[i].l1].name,
                    g->nodes[r.pairs[i].l2].name, r.c[i], ratio, ratio >= min_ratio ? " (smoothed)" : "");
        if (ratio < min_ratio)
            continue;
        const qb_pair *p = &r.pairs[i];
        if (p->clip >= 0) { /* a per-channel clip is not an ONNX Clip (see cle.c) */
            qb_node *n = &g->nodes[p->clip];
            const qb_opdef *d = qb_op_find("Relu");
            char *op = strdup("Relu");
            if (!d || !op) {
                free(op);
                qb_errf(e, "%s: out of memory", g->file);
                qb_chan_ranges_free(&r);
                return -1;
            }
            free(n->op);
            n->op = op, n->def = d, n->nin = 1;
        }
        for (int c = 0; c < r.c[i]; c++) {
            double xa = r.absmax[i][c], wa = qb_pair_in_range(g, p, c);
            if (!(xa > 0) || !(wa > 0))
                continue;
            double sc = pow(xa, alpha) / pow(wa, 1 - alpha);
            if (!(sc > 1e-6 && sc < 1e6))
                continue;
            qb_pair_scale_out(g, p, c, (float)(1 / sc), NULL);
            qb_pair_scale_in(g, p, c, (float)sc);
        }
        done++;
    }
    qb_chan_ranges_free(&r);
    return done;
}
