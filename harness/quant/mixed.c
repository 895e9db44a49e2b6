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

void qb_pareto_free(qb_pareto *f)
{
    for (int i = 0; i < f->n; i++)
        free(f->p[i].plan);
    free(f->p);
    memset(f, 0, sizeof *f);
}

/* Training time as a cost: 0 for PTQ; an unknown time (NAN) counts as
 * dearer than any known one. */
static double train_cost(const qb_pareto_point *p)
{
    return !p->qat ? 0 : isnan(p->train_s) ? INFINITY : p->train_s;
}

int qb_pareto_mark(qb_pareto *f, double budget)
{
    f->chosen = -1;
    int last_ptq = -1;
    for (int a = 0; a < f->n; a++) {
        qb_pareto_point *pa = &f->p[a];
        double ta = train_cost(pa);
        pa->pareto = 1;
        for (int b = 0; b < f->n && pa->pareto; b++) {
            const qb_pareto_point *pb = &f->p[b];
            double tb = train_cost(pb);
            if (b != a && pb->cost <= pa->cost && tb <= ta && pb->drop <= pa->drop &&
                (pb->cost < pa->cost || tb < ta || pb->drop < pa->drop))
                pa->pareto = 0;
        }
        if (pa->qat)
            continue;
        last_ptq = a;
        if (pa->drop_ci_high <= budget && (f->chosen < 0 || pa->cost < f->p[f->chosen].cost))
            f->chosen = a;
    }
    int met = f->chosen >= 0;
    if (f->chosen < 0)
        f->chosen = last_ptq;
    return met;
}

void qb_pareto_qat_verdict(const qb_pareto *f, double budget, qb_qat_verdict *v)
{
    *v = (qb_qat_verdict){.qat = -1, .ptq_budget = -1, .ptq_match = -1};
    for (int k = 0; k < f->n; k++)
        if (f->p[k].qat)
            v->qat = k;
    if (v->qat < 0)
        return;
    const qb_pareto_point *q = &f->p[v->qat];
    v->meets = q->drop_ci_high <= budget;
    for (int k = 0; k < f->n; k++) {
        const qb_pareto_point *p = &f->p[k];
        if (p->qat)
            continue;
        if (p->drop_ci_high <= budget && (v->ptq_budget < 0 || p->cost < f->p[v->ptq_budget].cost))
            v->ptq_budget = k;
        if (p->drop <= q->drop && (v->ptq_match < 0 || p->cost < f->p[v->ptq_match].cost))
            v->ptq_match = k;
    }
    v->beats = v->meets && (v->ptq_budget < 0 || q->cost < f->p[v->ptq_budget].cost);
}

/* Logit noise power relative to the signal, from an SQNR in dB. */
static double noise_power(double sqnr_db)
{
    return isnan(sqnr_db) ? 0 : isinf(sqnr_db) ? 0 : pow(10.0, -sqnr_db / 10.0);
}

static double plan_cost(const double *cost, const qb_precision *plan, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += cost[i * QB_PREC_COUNT + plan[i]];
    return s;
}

/* Evaluate plan and append it to the path. */
static int add_point(const qb_graph *model, const qb_calibration *c, const qb_precision *plan, const qb_quant_opts *o,
                     const qb_samples *val, int batch, const float *ref, int64_t outs, const double *cost,
                     qb_pareto *f, qb_err *e)
{
    qb_metrics m;
    if (eval_plan(model, c, plan, o, val, batch, ref, outs, &m, e))
        return -1;
    qb_pareto_point *np = realloc(f->p, ((size_t)f->n + 1) * sizeof *np);
    qb_precision *cp = malloc(((size_t)c->n + 1) * sizeof *cp);
    if (!np || !cp) {
        free(cp);
        if (np)
            f->p = np;
        qb_errf(e, "out of memory");
        return -1;
    }
    f->p = np;
    memcpy(cp, plan, (size_t)c->n * sizeof *cp);
    f->p[f->n++] = (qb_pareto_point){.plan = cp, .cost = plan_cost(cost, plan, c->n),
                                     .bytes = qb_plan_weight_bytes(c, plan, o), .drop = m.drop_pt,
                                     .drop_ci_low = m.drop_ci_low,
                                     .drop_ci_high = isnan(m.drop_ci_high) ? m.drop_pt : m.drop_ci_high,
                                     .sqnr_db = m.sqnr_db};
    return 0;
}

int qb_mixed_cost_search(const qb_graph *model, const qb_calibration *c, const qb_samples *val, int batch,
                         double budget, const qb_quant_opts *o, const qb_precision *fixed, const double *cost,
                         qb_precision *plan, qb_mixed *out, qb_pareto *front, int verbose, qb_err *e)
{
    memset(out, 0, sizeof *out);
    memset(front, 0, sizeof *front);
    if (!val->d && !val->labels) {
        qb_errf(e, "%s: mixed precision needs labelled validation data", model->file);
        return -1;
    }
    int n = c->n, rc = -1;
    float *ref = NULL;
    int64_t outs = 0;
    qb_precision *trial = malloc(((size_t)n + 1) * sizeof *trial);
    double *n4 = malloc(((size_t)n + 1) * sizeof *n4), *n8 = malloc(((size_t)n + 1) * sizeof *n8);
    out->sens_drop = malloc(((size_t)n + 1) * sizeof(double));
    out->sens_sqnr = malloc(((size_t)n + 1) * sizeof(double));
    if (!trial || !n4 || !n8 || !out->sens_drop || !out->sens_sqnr) {
        qb_errf(e, "out of memory");
        goto out;
    }
    if (qb_reference_outputs(model, val, batch, -1, &ref, &outs, e))
        goto out;
    qb_metrics m;
    for (int i = 0; i < n; i++) { /* noise of each layer alone at int4 and at int8-channel */
        out->sens_drop[i] = out->sens_sqnr[i] = NAN;
        n4[i] = n8[i] = 0;
        if (fixed && fixed[i] != QB_PREC_COUNT)
            continue;
        for (int lv = 0; lv < 2; lv++) {
            if (lv == 0 && c->layers[i].depthwise)
                continue; /* int4 runs int8 here */
            for (int j = 0; j < n; j++)
                trial[j] = QB_PREC_FP32;
            trial[i] = lv ? QB_PREC_INT8_CHANNEL : QB_PREC_INT4;
            if (eval_plan(model, c, trial, o, val, batch, ref, outs, &m, e))
                goto out;
            out->evaluations++;
            *(lv ? &n8[i] : &n4[i]) = noise_power(m.sqnr_db);
            if (lv == 0)
                out->sens_drop[i] = m.drop_pt, out->sens_sqnr[i] = m.sqnr_db;
        }
        if (c->layers[i].depthwise)
            n4[i] = n8[i];
        if (verbose)
            fprintf(stderr, "mixed: %-24s noise alone: int4 %.3g, int8 %.3g; cost int4 %.4g, int8 %.4g, fp16 %.4g\n",
                    c->layers[i].name, n4[i], n8[i], cost[i * QB_PREC_COUNT + QB_PREC_INT4],
                    cost[i * QB_PREC_COUNT + QB_PREC_INT8_CHANNEL], cost[i * QB_PREC_COUNT + QB_PREC_FP16]);
    }
    for (int i = 0; i < n; i++)
        plan[i] = fixed && fixed[i] != QB_PREC_COUNT ? fixed[i]
                  : c->layers[i].depthwise           ? QB_PREC_INT8_CHANNEL
                                                     : QB_PREC_INT4;
    for (;;) {
        if (add_point(model, c, plan, o, val, batch, ref, outs, cost, front, e))
            goto out;
        out->evaluations++;
        const qb_pareto_point *pt = &front->p[front->n - 1];
        if (verbose)
            fprintf(stderr, "mixed: plan %d: cost %.4g, drop %+.2f pt (95%% interval %+.2f .. %+.2f)\n", front->n - 1,
                    pt->cost, pt->drop, pt->drop_ci_low, pt->drop_ci_high);
        int met = pt->drop_ci_high <= budget;
        /* the next raise: int4 layers first; fp16 only while the budget is not met */
        int best = -1;
        double best_score = 0, best_gain = 0;
        for (int level = 0; level < 2 && best < 0; level++) {
            qb_precision from = level ? QB_PREC_INT8_CHANNEL : QB_PREC_INT4, to = raise(from);
            if (level == 1 && met)
                break;
            for (int i = 0; i < n; i++) {
                if (plan[i] != from || (fixed && fixed[i] != QB_PREC_COUNT))
                    continue;
                double gain = level ? n8[i] : n4[i] - n8[i];
                double dc = cost[i * QB_PREC_COUNT + to] - cost[i * QB_PREC_COUNT + from];
                if (gain < 0)
                    gain = 0;
                double score = dc > 0 ? gain / dc : INFINITY; /* a raise that costs nothing goes first */
                if (best < 0 || score > best_score || (score == best_score && gain > best_gain))
                    best = i, best_score = score, best_gain = gain;
            }
        }
        if (best < 0)
            break;
        plan[best] = raise(plan[best]);
        if (verbose)
            fprintf(stderr, "mixed: raise %s to %s (gain per cost %.3g)\n", c->layers[best].name,
                    qb_precision_name(plan[best]), best_score);
    }
    out->met = qb_pareto_mark(front, budget);
    const qb_pareto_point *ch = &front->p[front->chosen];
    memcpy(plan, ch->plan, (size_t)n * sizeof *plan);
    out->drop = ch->drop;
    out->drop_ci_high = ch->drop_ci_high;
    out->bytes = ch->bytes;
    rc = 0;
out:
    free(ref);
    free(trial);
    free(n4);
    free(n8);
    if (rc) {
        qb_mixed_free(out);
        qb_pareto_free(front);
    }
    return rc;
}
