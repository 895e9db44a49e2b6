/*
 * plan_apply.c - the quantization pipeline for a layer plan (plan_apply.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/io/atomic.h"
#include "harness/quant/mixed_qat.h"
#include "harness/quant/plan_apply.h"

int qb_calibrate_choices(const qb_graph *model, const qb_samples *s, int batch, double percentile, int symmetric,
                         const qb_plan_choice *ch, qb_calibration *c, qb_err *e)
{
    int n = c->n, first = 1;
    double seconds = 0;
    for (int m = 0; m < QB_METHOD_COUNT; m++) {
        int used = 0;
        for (int i = 0; i < n; i++)
            used |= ch[i].method == m && !qb_precision_is_float(ch[i].prec);
        int kind = qb_method_traits_of(m)->calib;
        if (!used || kind < 0)
            continue;
        qb_calibration t;
        if (qb_calibrate(model, s, batch, (qb_calib)kind, percentile, symmetric, &t, e))
            return -1;
        seconds += t.seconds;
        if (t.n != n) {
            qb_errf(e, "%s: %d layers calibrated, %d planned", model->file, t.n, n);
            qb_calibration_free(&t);
            return -1;
        }
        if (first) { /* the layers, with the first calibrator's ranges and input means */
            qb_calibration_free(c);
            *c = t;
            first = 0;
            continue;
        }
        for (int i = 0; i < n; i++)
            if (ch[i].method == m) {
                c->layers[i].in_qp = t.layers[i].in_qp;
                c->layers[i].out_qp = t.layers[i].out_qp;
            }
        qb_calibration_free(&t);
    }
    c->seconds = seconds;
    return 0;
}

int qb_pipeline_mixed(const qb_pipeline_opts *o, qb_pipeline_data *d, qb_pipeline_result *r,
                      const qb_precision *fixed, qb_err *e)
{
    if (o->cost == QB_COST_NONE)
        return qb_mixed_search_fixed(r->model, &r->cal, &d->valid, o->batch, o->budget, &o->qo, fixed, r->plan,
                                     &r->mixed, o->verbose, e);
    qb_energy_table et;
    char err[600];
    if (o->cost == QB_COST_ENERGY && qb_energy_load(o->energy_model, &et, err, sizeof err)) {
        qb_errf(e, "%s", err);
        return -1;
    }
    free(r->layer_cost);
    r->layer_cost = malloc(((size_t)r->cal.n * QB_PREC_COUNT + 1) * sizeof *r->layer_cost);
    if (!r->layer_cost) {
        qb_errf(e, "out of memory");
        return -1;
    }
    if (o->verbose)
        fprintf(stderr, "mixed: %s costs of %d layers%s\n", qb_cost_name(o->cost), r->cal.n,
                o->cost == QB_COST_LATENCY ? " (profiling the model at fp32, fp16, int8-channel, int4)" : "");
    if (qb_layer_costs(o->cost, r->model, &r->cal, &o->qo, o->isa, &et, r->layer_cost, e))
        return -1;
    if (qb_mixed_cost_search(r->model, &r->cal, &d->valid, o->batch, o->budget, &o->qo, fixed, r->layer_cost, r->plan,
                             &r->mixed, &r->pareto, o->verbose, e))
        return -1;
    return o->with_qat ? qb_mixed_qat_candidate(o, d, r, e) : 0;
}

int qb_layer_plan_check(const qb_layer_plan *lp, const qb_graph *model, const char *model_name, qb_err *e)
{
    qb_calibration c;
    if (qb_pipeline_layers_only(model, NULL, &c, e))
        return -2;
    qb_plan_choice *ch = calloc((size_t)c.n + 1, sizeof *ch);
    qb_quant_opts qo = {.group = 0, .binary_ends_int8 = 1};
    int rc = !ch ? (qb_errf(e, "out of memory"), -2)
                 : qb_layer_plan_resolve(lp, c.layers, c.n, model_name, QB_PREC_INT8_CHANNEL, QB_METHOD_PTQ_MINMAX, &qo,
                                         ch, e);
    free(ch);
    qb_calibration_free(&c);
    return rc;
}

int qb_pipeline_plan_layers(const qb_pipeline_opts *o, qb_pipeline_data *d, qb_pipeline_result *r, qb_err *e)
{
    memset(r, 0, sizeof *r);
    snprintf(r->model_used, sizeof r->model_used, "%s", o->model);
    r->model = d->model;
    const qb_layer_plan *lp = o->layer_plan;
    unsigned repairs = 0; /* +cle ... of the command's method: applied to the whole model, around the plan */
    int method = qb_method_parse_repairs(o->method, &repairs, NULL, 0);
    if (method >= 0 && qb_method_traits_of(method)->trains) {
        qb_errf(e, "%s: a layer plan with --method %s: not supported (QAT fine-tunes the whole model at one "
                   "precision; give the plan a PTQ calibrator)", lp->file, o->method);
        return -1;
    }
    if (qb_pipeline_layers_only(d->model, &d->calib, &r->cal, e))
        return -1;
    int n = r->cal.n;
    r->choices = calloc((size_t)n + 1, sizeof *r->choices);
    r->plan = malloc(((size_t)n + 1) * sizeof *r->plan);
    qb_precision *fixed = malloc(((size_t)n + 1) * sizeof *fixed);
    if (!r->choices || !r->plan || !fixed) {
        free(fixed);
        qb_errf(e, "out of memory");
        qb_pipeline_result_free(r);
        return -1;
    }
    int rc = -1;
    if (qb_layer_plan_resolve(lp, r->cal.layers, n, o->model, o->prec, method, &o->qo, r->choices, e))
        goto out;
    int quantized = 0;
    for (int i = 0; i < n; i++)
        quantized |= !qb_precision_is_float(r->choices[i].prec);
    if (!quantized)
        repairs = 0; /* nothing to repair: the FP32 model runs unchanged */
    if (repairs && qb_pipeline_repair_graph(o, d, r, repairs, e))
        goto out;
    if (quantized) {
        if (o->verbose)
            fprintf(stderr, "calibrating %s for plan %s on %d training samples\n", o->model, lp->name, d->calib.n);
        if (qb_calibrate_choices(r->model, &d->calib, o->batch, o->percentile, qb_pipeline_symmetric(o), r->choices,
                                 &r->cal, e))
            goto out;
        r->calib_seconds = r->cal.seconds;
    }
    for (int i = 0; i < n; i++) {
        r->plan[i] = (qb_precision)r->choices[i].prec;
        fixed[i] = r->choices[i].pinned ? r->plan[i] : QB_PREC_COUNT;
    }
    if (o->prec == QB_PREC_MIXED) {
        if (qb_pipeline_mixed(o, d, r, fixed, e))
            goto out;
        for (int i = 0; i < n; i++)
            if (!r->choices[i].pinned)
                r->choices[i].prec = r->plan[i];
    }
    if (repairs && qb_pipeline_repair_weights(o, d, r, repairs, e))
        goto out;
    r->weight_bytes = qb_plan_weight_bytes(&r->cal, r->plan, &o->qo);
    for (int i = 0; i < n; i++)
        r->macs += r->cal.layers[i].macs;
    rc = 0;
out:
    free(fixed);
    if (rc)
        qb_pipeline_result_free(r);
    return rc;
}

int qb_pipeline_save_plan(const qb_pipeline_opts *o, const qb_pipeline_result *r, const char *path, const char *name,
                          const char *header, const char *const *comment, qb_err *e)
{
    unsigned repairs = 0; /* a plan file holds calibrators; the repairs stay on the command line */
    int n = r->cal.n, dm = qb_method_parse_repairs(o->method, &repairs, NULL, 0);
    int *method = malloc(((size_t)n + 1) * sizeof *method);
    if (!method) {
        qb_errf(e, "out of memory");
        return -1;
    }
    for (int i = 0; i < n; i++)
        method[i] = r->choices ? r->choices[i].method : dm;
    /* the default: the most frequent precision of the plan */
    int count[QB_PREC_COUNT] = {0}, dflt = QB_PREC_FP32;
    for (int i = 0; i < n; i++)
        count[r->plan[i]]++;
    for (int p = 0; p < QB_PREC_COUNT; p++)
        if (count[p] > count[dflt])
            dflt = p;
    int mcount[QB_METHOD_COUNT] = {0}; /* the default calibrator: the most frequent among quantized layers */
    for (int i = 0; i < n; i++)
        if (!qb_precision_is_float(r->plan[i]) && method[i] >= 0 && method[i] < QB_METHOD_COUNT)
            mcount[method[i]]++;
    for (int m = 0; m < QB_METHOD_COUNT; m++)
        if (mcount[m] > (dm >= 0 && dm < QB_METHOD_COUNT ? mcount[dm] : 0))
            dm = m;
    if (dm < 0 || qb_method_traits_of(dm)->calib < 0)
        dm = QB_METHOD_NONE;
    char nm[64];
    if (!name) { /* the file name without directory and extension */
        const char *b = strrchr(path, '/');
        b = b ? b + 1 : path;
        const char *dot = strrchr(b, '.');
        int l = dot && dot > b ? (int)(dot - b) : (int)strlen(b);
        snprintf(nm, sizeof nm, "%.*s", l < 63 ? l : 63, b);
        for (char *c = nm; *c; c++)
            if (*c == ',' || *c == '"' || (unsigned char)*c < 0x20)
                *c = '_';
        name = nm[0] ? nm : "plan";
    }
    qb_atomic a;
    char err[600];
    int rc = -1;
    if (qb_atomic_open(&a, path, err, sizeof err)) {
        qb_errf(e, "%s", err);
    } else if (qb_layer_plan_write(a.f, name, header, r->cal.layers, n, r->plan, method, (qb_precision)dflt, dm,
                                   comment)) {
        qb_errf(e, "%s: cannot write the plan", path);
        qb_atomic_abort(&a);
    } else if (qb_atomic_commit(&a, err, sizeof err)) {
        qb_errf(e, "%s", err);
    } else {
        rc = 0;
    }
    free(method);
    return rc;
}
