/*
 * cle.c - cross-layer equalization and bias absorption (Nagel et al.,
 * "Data-Free Quantization Through Weight Equalization and Bias
 * Correction", ICCV 2019), on a graph whose BatchNormalization is folded.
 *
 * For a pair l1 -> (Relu | pools | Flatten ...) -> l2, output channel c
 * of l1 is divided by s_c and l2's input channel c multiplied by it; with
 * s_c = sqrt(r1_c / r2_c) (r = max |w| of the channel) both ranges become
 * sqrt(r1_c r2_c). Relu(x / s) = Relu(x) / s for s > 0, so the float
 * function is unchanged. A Clip(0, M) is not (the clip would have to be
 * M / s_c per channel): it becomes a Relu, as in AIMET and the DFQ paper's
 * MobileNetV2 experiments, and the report counts it.
 *
 * Absorption: where l1's output channel c is about N(beta, gamma^2) (its
 * folded BN), c0 = max(0, beta - 3 gamma) is taken out of l1's bias and
 * W2 c0 put into l2's; Relu(x - c0) + c0 = Relu(x) while x >= c0. Only
 * where l2 adds every input column at every position (a conv without
 * padding, a Gemm/MatMul): a padded conv would miss W2 c0 at the borders.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/quant/repairs.h"

/* Turn the Clip node at index i into a Relu (drops min and max). */
static int clip_to_relu(qb_graph *g, int i, qb_err *e)
{
    qb_node *n = &g->nodes[i];
    const qb_opdef *d = qb_op_find("Relu");
    char *op = strdup("Relu");
    if (!d || !op) {
        free(op);
        qb_errf(e, "%s: out of memory", g->file);
        return -1;
    }
    free(n->op);
    n->op = op;
    n->def = d;
    n->nin = 1;
    for (int j = 0; j < n->nattr; j++) /* opset < 11 min/max attributes: no longer read */
        if (!strcmp(n->attr[j].name, "max"))
            n->attr[j].f = INFINITY;
    return 0;
}

/* Absorb one pair: 1 if it qualifies (channels moved counted in *moved), 0 if not, -1 out of memory. */
static int absorb_pair(qb_graph *g, const qb_pair *p, qb_bn_stats *st, int *moved)
{
    qb_wview v1, v2;
    qb_bn_stat *s = qb_bn_stats_find(st, g->nodes[p->l1].name);
    if (!s || !p->relu || qb_wview_of(g, p->l1, &v1) || !v1.b || qb_wview_of(g, p->l2, &v2) || v2.padded ||
        s->c != v1.n)
        return 0;
    for (int j = 0; j < p->nmid; j++) /* LeakyRelu(x - c) + c is not LeakyRelu(x) below 0 */
        if (!strcmp(g->nodes[p->mid[j]].op, "LeakyRelu"))
            return 0;
    if (qb_wview_add_bias(g, p->l2, &v2))
        return -1;
    for (int c = 0; c < v1.n; c++) {
        float c0 = s->beta[c] - 3 * s->gamma[c];
        if (!(c0 > 0))
            continue;
        v1.b[c] -= c0;
        s->beta[c] -= c0;
        (*moved)++;
        if (v2.depthwise) {
            double acc = 0;
            for (int j = 0; j < v2.k; j++)
                acc += *qb_wv_at(&v2, c, j);
            v2.b[c] += (float)(acc * c0);
            continue;
        }
        int j0 = c * p->kmul * v2.taps, j1 = j0 + p->kmul * v2.taps;
        for (int o = 0; o < v2.n; o++) {
            double acc = 0;
            for (int j = j0; j < j1; j++)
                acc += *qb_wv_at(&v2, o, j);
            v2.b[o] += (float)(acc * c0);
        }
    }
    return 1;
}

/* The largest max/min ratio of the per-channel weight ranges of the
 * pairs' first layers. Dead channels (range below 1e-6 of the layer's
 * largest: pruned or never trained, e.g. in PP-OCRv4) are left out: any
 * scale rounds them to 0 and they carry nothing. */
static double spread(qb_graph *g, const qb_pair *P, int np)
{
    double worst = 1;
    for (int i = 0; i < np; i++) {
        qb_wview v;
        if (qb_wview_of(g, P[i].l1, &v))
            continue;
        float lo = INFINITY, hi = 0;
        for (int c = 0; c < v.n; c++) {
            float r = qb_pair_out_range(g, &P[i], c);
            hi = r > hi ? r : hi;
        }
        for (int c = 0; c < v.n; c++) {
            float r = qb_pair_out_range(g, &P[i], c);
            if (r >= 1e-6f * hi && r < lo)
                lo = r;
        }
        if (lo > 0 && hi / lo > worst)
            worst = hi / lo;
    }
    return worst;
}

int qb_cle(qb_graph *g, qb_bn_stats *st, int equalize, int absorb, qb_cle_report *rep, qb_err *e)
{
    memset(rep, 0, sizeof *rep);
    qb_pair *P;
    int np = qb_find_pairs(g, &P);
    if (!P) {
        qb_errf(e, "%s: out of memory", g->file);
        return -1;
    }
    rep->pairs = np;
    rep->spread_before = spread(g, P, np);
    for (int i = 0; i < np && equalize; i++)
        if (P[i].clip >= 0) {
            if (clip_to_relu(g, P[i].clip, e)) {
                free(P);
                return -1;
            }
            P[i].clip = -1;
            rep->clips_relu++;
        }
    /* a layer sits in two pairs (as l2, then as l1): sweep until the scales settle */
    for (rep->sweeps = 0; equalize && rep->sweeps < 100 && np > 0;) {
        rep->sweeps++;
        double moved = 0;
        for (int i = 0; i < np; i++) {
            qb_wview v1;
            if (qb_wview_of(g, P[i].l1, &v1))
                continue;
            for (int c = 0; c < v1.n; c++) {
                float r1 = qb_pair_out_range(g, &P[i], c), r2 = qb_pair_in_range(g, &P[i], c);
                if (!(r1 > 0) || !(r2 > 0) || !isfinite(r1) || !isfinite(r2))
                    continue;
                float s = sqrtf(r1 / r2);
                if (!(s > 1e-6f && s < 1e6f) || s == 1.0f)
                    continue;
                qb_pair_scale_out(g, &P[i], c, 1.0f / s, st);
                qb_pair_scale_in(g, &P[i], c, s);
                double d = fabs(log(s));
                moved = d > moved ? d : moved;
            }
        }
        if (moved < 1e-4)
            break;
    }
    rep->spread_after = spread(g, P, np);
    if (absorb && st)
        for (int i = 0; i < np; i++) {
            int a = absorb_pair(g, &P[i], st, &rep->absorbed_channels);
            if (a < 0) {
                qb_errf(e, "%s: out of memory", g->file);
                free(P);
                return -1;
            }
            rep->absorbed += a;
            rep->absorb_skipped += !a;
        }
    free(P);
    return 0;
}
