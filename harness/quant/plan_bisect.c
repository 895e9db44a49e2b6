/*
 * plan_bisect.c - the smallest set of layers to keep in fp32 (plan_bisect.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/eval/compare.h"
#include "harness/quant/layer_sqnr.h"
#include "harness/quant/plan_bisect.h"

void qb_bisect_free(qb_bisect *b)
{
    free(b->keep);
    free(b->iso_sqnr);
    memset(b, 0, sizeof *b);
}

/* Bisection state shared by the evaluations. */
typedef struct bisect_ctx {
    const qb_graph *model;    /* FP32 model */
    const qb_calibration *c;  /* layers and ranges */
    const qb_precision *plan; /* the plan as given */
    const qb_samples *val;    /* validation samples */
    int batch;                /* samples per run */
    const qb_quant_opts *o;   /* quantization options */
    const float *ref;         /* FP32 outputs on val */
    int64_t outs;             /* floats per output */
    qb_precision *trial;      /* scratch plan */
    double budget;            /* points */
    qb_bisect *out;           /* counts evaluations */
} bisect_ctx;

/* Does the plan with the layers in keep[] at fp32 meet the budget? -1 on error. */
static int meets(bisect_ctx *x, const int *keep, qb_metrics *m, qb_err *e)
{
    for (int i = 0; i < x->c->n; i++)
        x->trial[i] = keep[i] ? QB_PREC_FP32 : x->plan[i];
    qb_graph *g = qb_quantize_graph(x->model, x->c, x->trial, x->o, e);
    if (!g || qb_compare_graph(g, x->val, x->batch, -1, x->ref, x->outs, m, e))
        return -1;
    x->out->evaluations++;
    double hi = isnan(m->drop_ci_high) ? m->drop_pt : m->drop_ci_high;
    return hi <= x->budget;
}

int qb_bisect_fp32(const qb_graph *model, const qb_calibration *c, const qb_precision *plan, const qb_samples *val,
                   int batch, double budget, const qb_quant_opts *o, qb_bisect *out, int verbose, qb_err *e)
{
    memset(out, 0, sizeof *out);
    if (!val->d && !val->labels) {
        qb_errf(e, "%s: the bisection needs labelled validation data", model->file);
        return -1;
    }
    int n = c->n, rc = -1, m_ranked = 0;
    bisect_ctx x = {.model = model, .c = c, .plan = plan, .val = val, .batch = batch, .o = o, .budget = budget,
                    .out = out};
    float *ref = NULL;
    double *prop = malloc(((size_t)n + 1) * sizeof *prop);
    int *rank = malloc(((size_t)n + 1) * sizeof *rank), *keep = calloc((size_t)n + 1, sizeof *keep);
    out->keep = calloc((size_t)n + 1, sizeof *out->keep);
    out->iso_sqnr = malloc(((size_t)n + 1) * sizeof *out->iso_sqnr);
    x.trial = malloc(((size_t)n + 1) * sizeof *x.trial);
    if (!prop || !rank || !keep || !out->keep || !out->iso_sqnr || !x.trial) {
        qb_errf(e, "out of memory");
        goto out;
    }
    if (qb_reference_outputs(model, val, batch, -1, &ref, &x.outs, e))
        goto out;
    x.ref = ref;
    qb_metrics m;
    int r = meets(&x, keep, &m, e);
    if (r < 0)
        goto out;
    out->start_drop = out->drop = m.drop_pt;
    out->start_ci_high = out->drop_ci_high = isnan(m.drop_ci_high) ? m.drop_pt : m.drop_ci_high;
    out->drop_ci_low = m.drop_ci_low;
    if (verbose)
        fprintf(stderr, "bisect: the plan as given: drop %+.2f pt (upper end %+.2f)\n", m.drop_pt, out->start_ci_high);
    if (r) {
        out->met = 1;
        rc = 0;
        goto out;
    }
    /* rank the quantized layers by isolated SQNR, worst first */
    qb_graph *gq = qb_quantize_graph(model, c, plan, o, e);
    qb_samples s = *val;
    if (s.n > 1000)
        s.n = 1000;
    if (!gq || qb_per_layer_sqnr(model, gq, c, &s, batch, -1, prop, out->iso_sqnr, e))
        goto out;
    for (int i = 0; i < n; i++)
        if (plan[i] != QB_PREC_FP32)
            rank[m_ranked++] = i;
    for (int a = 1; a < m_ranked; a++) /* insertion sort: stable, n is small */
        for (int b = a; b > 0 && out->iso_sqnr[rank[b]] < out->iso_sqnr[rank[b - 1]]; b--) {
            int t = rank[b];
            rank[b] = rank[b - 1];
            rank[b - 1] = t;
        }
    /* the shortest prefix of the ranking that meets the budget: lo fails, hi meets */
    int lo = 0, hi = m_ranked;
    for (int i = 0; i < m_ranked; i++)
        keep[rank[i]] = 1;
    if ((r = meets(&x, keep, &m, e)) < 0)
        goto out;
    if (!r) { /* not even everything fp32 (a budget below the noise) */
        out->drop = m.drop_pt, out->drop_ci_low = m.drop_ci_low, out->drop_ci_high = m.drop_ci_high;
        memcpy(out->keep, keep, (size_t)n * sizeof *keep);
        out->nkeep = m_ranked;
        rc = 0;
        goto out;
    }
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        memset(keep, 0, (size_t)n * sizeof *keep);
        for (int i = 0; i < mid; i++)
            keep[rank[i]] = 1;
        if ((r = meets(&x, keep, &m, e)) < 0)
            goto out;
        if (verbose)
            fprintf(stderr, "bisect: the %d worst layers fp32: drop %+.2f pt (upper end %+.2f)%s\n", mid, m.drop_pt,
                    m.drop_ci_high, r ? ", meets the budget" : "");
        if (r)
            hi = mid;
        else
            lo = mid;
    }
    memset(keep, 0, (size_t)n * sizeof *keep);
    for (int i = 0; i < hi; i++)
        keep[rank[i]] = 1;
    /* 1-minimal: try each kept layer back at its precision, the least bad first */
    for (int i = hi - 1; i >= 0 && hi > 1; i--) {
        keep[rank[i]] = 0;
        if ((r = meets(&x, keep, &m, e)) < 0)
            goto out;
        if (verbose)
            fprintf(stderr, "bisect: %s back at %s: %s\n", c->layers[rank[i]].name, qb_precision_name(plan[rank[i]]),
                    r ? "still meets the budget (left quantized)" : "fails (kept fp32)");
        if (!r)
            keep[rank[i]] = 1;
    }
    if ((r = meets(&x, keep, &m, e)) < 0) /* the final set's numbers */
        goto out;
    out->met = r;
    out->drop = m.drop_pt, out->drop_ci_low = m.drop_ci_low;
    out->drop_ci_high = isnan(m.drop_ci_high) ? m.drop_pt : m.drop_ci_high;
    memcpy(out->keep, keep, (size_t)n * sizeof *keep);
    for (int i = 0; i < n; i++)
        out->nkeep += keep[i];
    rc = 0;
out:
    free(ref);
    free(prop);
    free(rank);
    free(keep);
    free(x.trial);
    if (rc)
        qb_bisect_free(out);
    return rc;
}
