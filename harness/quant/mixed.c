/*
 * mixed.c - sensitivity analysis and the greedy mixed-precision search
 * (see mixed.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/eval/compare.h"
#include "harness/quant/mixed.h"

/* Metrics of one plan on the validation samples. */
static int eval_plan(const qb_graph *model, const qb_calibration *c, const qb_precision *plan, const qb_quant_opts *o,
                     const qb_samples *val, int batch, const float *ref, int64_t outs, qb_metrics *m, qb_err *e)
{
    qb_graph *g = qb_quantize_graph(model, c, plan, o, e);
    return g ? qb_compare_graph(g, val, batch, -1, ref, outs, m, e) : -1;
}

static qb_precision raise(qb_precision p)
{
    return p == QB_PREC_INT4 ? QB_PREC_INT8_CHANNEL : p == QB_PREC_INT8_CHANNEL ? QB_PREC_FP16 : p;
}

void qb_mixed_free(qb_mixed *m)
{
    free(m->sens_drop);
    free(m->sens_sqnr);
    memset(m, 0, sizeof *m);
}

int qb_mixed_search(const qb_graph *model, const qb_calibration *c, const qb_samples *val, int batch, double budget,
                    const qb_quant_opts *o, qb_precision *plan, qb_mixed *out, int verbose, qb_err *e)
{
    return qb_mixed_search_fixed(model, c, val, batch, budget, o, NULL, plan, out, verbose, e);
}

int qb_mixed_search_fixed(const qb_graph *model, const qb_calibration *c, const qb_samples *val, int batch,
                          double budget, const qb_quant_opts *o, const qb_precision *fixed, qb_precision *plan,
                          qb_mixed *out, int verbose, qb_err *e)
{
    memset(out, 0, sizeof *out);
    const char *model_path = model->file;
    if (!val->d && !val->labels) {
        qb_errf(e, "%s: mixed precision needs labelled validation data", model_path);
        return -1;
    }
    float *ref = NULL;
    int64_t outs = 0;
    int n = c->n, rc = -1;
    qb_precision *trial = malloc((size_t)n * sizeof *trial);
    out->sens_drop = malloc((size_t)n * sizeof(double));
    out->sens_sqnr = malloc((size_t)n * sizeof(double));
    if (!trial || !out->sens_drop || !out->sens_sqnr) {
        qb_errf(e, "%s: out of memory", model_path);
        goto out;
    }
    if (qb_reference_outputs(model, val, batch, -1, &ref, &outs, e))
        goto out;
    qb_metrics m;
    for (int i = 0; i < n; i++) { /* sensitivity: one layer at int4 */
        if (fixed && fixed[i] != QB_PREC_COUNT) {
            out->sens_drop[i] = out->sens_sqnr[i] = NAN; /* not searched */
            continue;
        }
        for (int j = 0; j < n; j++)
            trial[j] = QB_PREC_FP32;
        trial[i] = QB_PREC_INT4;
        if (eval_plan(model, c, trial, o, val, batch, ref, outs, &m, e))
            goto out;
        out->evaluations++;
        out->sens_drop[i] = m.drop_pt;
        out->sens_sqnr[i] = m.sqnr_db;
        if (verbose)
            fprintf(stderr, "mixed: sensitivity of %-24s int4 alone: drop %+.2f pt, SQNR %.1f dB\n",
                    c->layers[i].name, m.drop_pt, m.sqnr_db);
    }
    for (int i = 0; i < n; i++) /* depthwise int4 runs as int8: say so in the plan */
        plan[i] = fixed && fixed[i] != QB_PREC_COUNT ? fixed[i]
                  : c->layers[i].depthwise           ? QB_PREC_INT8_CHANNEL
                                                     : QB_PREC_INT4;
    for (;;) {
        if (eval_plan(model, c, plan, o, val, batch, ref, outs, &m, e))
            goto out;
        out->evaluations++;
        out->drop = m.drop_pt;
        /* the budget rule: the upper end of the drop's 95% paired-bootstrap
         * interval must be within the budget (the point drop when no
         * interval could be computed) */
        out->drop_ci_high = isnan(m.drop_ci_high) ? m.drop_pt : m.drop_ci_high;
        if (verbose)
            fprintf(stderr, "mixed: plan with %lld weight bytes: drop %+.2f pt (95%% interval %+.2f .. %+.2f)\n",
                    (long long)qb_plan_weight_bytes(c, plan, o), m.drop_pt, m.drop_ci_low, m.drop_ci_high);
        if (out->drop_ci_high <= budget) {
            out->met = 1;
            break;
        }
        /* the most sensitive layer among those at the lowest precision still raisable */
        int best = -1;
        for (int level = 0; level < 2 && best < 0; level++) {
            qb_precision at = level == 0 ? QB_PREC_INT4 : QB_PREC_INT8_CHANNEL;
            for (int i = 0; i < n; i++)
                if (plan[i] == at && !(fixed && fixed[i] != QB_PREC_COUNT) && (best < 0 || out->sens_drop[i] > out->sens_drop[best] ||
                                      (out->sens_drop[i] == out->sens_drop[best] &&
                                       out->sens_sqnr[i] < out->sens_sqnr[best])))
                    best = i;
        }
        if (best < 0)
            break; /* everything is fp16 and the budget is still not met */
        plan[best] = raise(plan[best]);
        if (verbose)
            fprintf(stderr, "mixed: raise %s to %s\n", c->layers[best].name, qb_precision_name(plan[best]));
    }
    out->bytes = qb_plan_weight_bytes(c, plan, o);
    rc = 0;
out:
    free(ref);
    free(trial);
    if (rc)
        qb_mixed_free(out);
    return rc;
}
