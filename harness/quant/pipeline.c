/*
 * pipeline.c - data, calibration, plan, quantized graph and metrics of
 * one model and (precision, method) (see pipeline.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/measure/timer.h"
#include "harness/model/norm_meta.h"
#include "harness/quant/pipeline.h"
#include "harness/quant/plan_apply.h"
#include "harness/quant/qat.h"
#include "harness/quant/repairs.h"

void qb_pipeline_defaults(qb_pipeline_opts *o)
{
    memset(o, 0, sizeof *o);
    o->dataset = "fashion-mnist";
    o->prec = QB_PREC_FP32;
    o->method = "none";
    o->isa = -1;
    o->calib = 512;
    o->val = 5000; /* the whole validation split of qbench train: +-0.3 pt of noise on drops, not +-0.5 */
    o->batch = 100;
    o->percentile = 99.99;
    o->budget = 1.0;
    o->seed = 1;
    o->qo.group = 0;
    o->qo.binary_ends_int8 = 1;
    o->cost = QB_COST_NONE;
    o->energy_model = "datasets/energy/horowitz-45nm.csv";
}

void qb_pipeline_data_close(qb_pipeline_data *d)
{
    qb_graph_free(d->model);
    qb_inputs_free(&d->inputs);
    qb_dataset_free(&d->train);
    qb_dataset_free(&d->test);
    free(d->train_idx);
    free(d->val_idx);
    free(d->calib_idx);
    memset(d, 0, sizeof *d);
}

/* --data DIR: the folder's inputs, the first N to calibrate, the rest to
 * evaluate. A model with several inputs takes every input of a sample
 * (a folder per sample or an .npz); input 0 must be float32 (its floats
 * are the samples' x), the others may be of any type. */
static int folder_open(const qb_pipeline_opts *o, qb_pipeline_data *d, qb_err *e)
{
    const qb_graph *m = d->model = qb_onnx_load(o->model, e);
    if (!m)
        return -1;
    if (m->ninputs < 1 || m->ninputs > QB_INPUTS_MAX || m->tensors[m->inputs[0]]->dtype != QB_DT_FLOAT) {
        qb_errf(e, "%s: --data: the model has %d inputs%s; calibration and evaluation take 1 to %d inputs, the first "
                   "float32", o->model, m->ninputs, m->ninputs >= 1 ? (m->tensors[m->inputs[0]]->dtype != QB_DT_FLOAT ?
                   " (the first not float32)" : "") : "", QB_INPUTS_MAX);
        return -1;
    }
    if (qb_input_symbolic(m, e))
        return -1;
    qb_tensor want[QB_INPUTS_MAX];
    for (int k = 0; k < m->ninputs; k++) {
        want[k] = *m->tensors[m->inputs[k]];
        if (want[k].ndim && want[k].sym[0])
            want[k].dims[0] = 1; /* one sample */
    }
    int nclasses = 0; /* the output's class axis, for label checks */
    if (m->ninputs == 1) {
        qb_graph *g = qb_graph_clone(m, e);
        qb_runner r;
        if (!g || qb_runner_open(&r, g, 1, -1, e))
            return -1;
        nclasses = r.positions == 1 ? (int)r.classes : 0;
        qb_runner_close(&r);
    }
    if (qb_inputs_load(o->data, want, m->ninputs, o->pp, nclasses, &d->inputs, e))
        return -1;
    d->sample = (size_t)qb_tensor_count(&d->inputs.in[0]);
    int n = d->inputs.n;
    int ncal = o->calib_given ? o->calib : (n / 2 < o->calib ? n / 2 : o->calib); /* default: half, at most 512 */
    if (n < 2 || ncal >= n || ncal < 1) {
        qb_errf(e, "%s: %d input%s: --calib %d leaves %s (calibration takes the first inputs, evaluation the others, "
                   "never the same)", o->data, n, n == 1 ? "" : "s", ncal, n < 2 ? "nothing to split" : "no evaluation inputs");
        return -1;
    }
    int ne = n - ncal;
    if (o->limit > 0 && o->limit < ne)
        ne = o->limit;
    const float *x = d->inputs.in[0].data;
    const int32_t *lab = d->inputs.labels;
    const qb_inputs *all = m->ninputs > 1 ? &d->inputs : NULL;
    d->calib = (qb_samples){.x = x, .inputs = all, .labels = lab, .n = ncal, .sample = d->sample};
    d->eval = (qb_samples){.x = x + (size_t)ncal * d->sample, .inputs = all, .first = ncal,
                           .labels = lab ? lab + ncal : NULL, .n = ne, .sample = d->sample};
    d->valid = (qb_samples){.x = x, .inputs = all, .labels = lab, .n = lab ? ncal : 0, .sample = d->sample};
    /* the model runs on these inputs (and, with several inputs, inputs that prepare the graph agree) */
    qb_graph *g = qb_graph_clone(m, e);
    qb_runner r;
    if (!g || qb_runner_open_on(&r, g, 1, -1, &d->calib, e))
        return -1;
    int bad = (size_t)r.sample != d->sample;
    if (bad)
        qb_errf(e, "%s: a sample of the data is %zu floats, the model takes %zu", o->data, d->sample, r.sample);
    for (int i = 0; !bad && m->ninputs > 1 && i < n; i++) {
        qb_samples one = {.x = x, .inputs = all, .n = n, .sample = d->sample};
        bad = qb_runner_fill(&r, &one, i, 1, e) != 0;
    }
    qb_runner_close(&r);
    return bad ? -1 : 0;
}

int qb_pipeline_data_open(const qb_pipeline_opts *o, qb_pipeline_data *d, qb_err *e)
{
    memset(d, 0, sizeof *d);
    char err[1024];
    if (o->data) {
        if (folder_open(o, d, e)) {
            qb_pipeline_data_close(d);
            return -1;
        }
        return 0;
    }
    if (!strcmp(o->dataset, "none")) { /* seeded inputs of the model's shape, no labels */
        d->model = qb_onnx_load(o->model, e);
        qb_graph *g = d->model ? qb_graph_clone(d->model, e) : NULL;
        qb_runner r;
        if (!g || qb_runner_open(&r, g, 1, -1, e)) {
            qb_pipeline_data_close(d);
            return -1;
        }
        d->sample = r.sample;
        qb_runner_close(&r);
        int n = o->limit > 0 ? o->limit : 256;
        d->eval = (qb_samples){.n = n, .sample = d->sample, .seed = 1000 + o->seed};
        d->calib = (qb_samples){.n = o->calib, .sample = d->sample, .seed = 2000 + o->seed};
        d->valid = (qb_samples){.n = 0, .sample = d->sample, .seed = 3000 + o->seed};
        return 0;
    }
    if (qb_dataset_open(o->dataset, o->data_dir, QB_SPLIT_TRAIN, &d->train, err, sizeof err) ||
        qb_dataset_open(o->dataset, o->data_dir, QB_SPLIT_TEST, &d->test, err, sizeof err) ||
        qb_dataset_norm(o->dataset, o->data_dir, &d->norm, err, sizeof err)) {
        qb_errf(e, "%s", err);
        qb_pipeline_data_close(d);
        return -1;
    }
    /* the validation split of qbench train (same seed, same size) */
    int nval = d->train.n / 12 < 5000 ? d->train.n / 12 : 5000;
    int ncal = o->calib;
    if (qb_split_train_val(&d->train, nval, o->seed, &d->train_idx, &d->n_train, &d->val_idx, &d->n_val, err,
                           sizeof err) ||
        (ncal > d->n_train ? (ncal = d->n_train, 0) : 0) ||
        qb_calib_subset(&d->train, d->train_idx, d->n_train, ncal, o->seed + 17, &d->calib_idx, err, sizeof err)) {
        qb_errf(e, "%s", err);
        qb_pipeline_data_close(d);
        return -1;
    }
    d->sample = qb_dataset_sample_size(&d->test);
    { /* the model's input must take the dataset's images */
        const qb_graph *g = d->model = qb_onnx_load(o->model, e);
        if (!g) {
            qb_pipeline_data_close(d);
            return -1;
        }
        const qb_tensor *in = g->ninputs == 1 ? g->tensors[g->inputs[0]] : NULL;
        int ok = in && in->ndim == 4 && in->dims[1] == d->test.c && in->dims[2] == d->test.h && in->dims[3] == d->test.w;
        if (!ok) {
            char sh[160] = "?";
            if (in)
                qb_shape_str(in->ndim, in->dims, sh, sizeof sh);
            qb_errf(e, "%s: input %s %s does not take %s images of %dx%dx%d", o->model, in ? in->name : "", sh,
                    d->test.name, d->test.c, d->test.h, d->test.w);
        }
        /* the normalisation the model was trained with, when its metadata records it */
        qb_norm mn;
        if (ok && !qb_norm_from_graph(g, &mn)) {
            if (mn.channels != d->test.c) {
                qb_errf(e, "%s: its metadata normalises %d channels, %s images have %d", o->model, mn.channels,
                        d->test.name, d->test.c);
                ok = 0;
            } else {
                d->norm = mn;
            }
        }
        if (!ok) {
            qb_pipeline_data_close(d);
            return -1;
        }
    }
    int ne = o->limit > 0 && o->limit < d->test.n ? o->limit : d->test.n;
    d->eval = (qb_samples){.d = &d->test, .norm = &d->norm, .n = ne};
    d->calib = (qb_samples){.d = &d->train, .norm = &d->norm, .idx = d->calib_idx, .n = ncal};
    int nv = o->val < d->n_val ? o->val : d->n_val;
    d->valid = (qb_samples){.d = &d->train, .norm = &d->norm, .idx = d->val_idx, .n = nv};
    return 0;
}

void qb_pipeline_result_free(qb_pipeline_result *r)
{
    qb_graph_free(r->qat_model);
    qb_graph_free(r->repaired);
    if (r->bn_stats)
        qb_bn_stats_free(r->bn_stats);
    free(r->bn_stats);
    qb_calibration_free(&r->cal);
    free(r->plan);
    free(r->choices);
    free(r->layer_cost);
    qb_pareto_free(&r->pareto);
    qb_mixed_free(&r->mixed);
    qb_sample_records_free(&r->records);
    memset(r, 0, sizeof *r);
}

void qb_plan_str(const qb_pipeline_result *r, char *buf, size_t len)
{
    size_t at = 0;
    buf[0] = 0;
    for (int i = 0; i < r->cal.n && at + 1 < len; i++) {
        int m = r->choices && !qb_precision_is_float(r->plan[i]) ? r->choices[i].method : QB_METHOD_NONE;
        int w = snprintf(buf + at, len - at, "%s%s=%s%s%s", i ? "," : "", r->cal.layers[i].name,
                         qb_precision_name(r->plan[i]), m > QB_METHOD_NONE ? "/" : "",
                         m > QB_METHOD_NONE ? qb_method_name(m) : "");
        if (w < 0)
            break;
        at += (size_t)w;
    }
}

int qb_pipeline_layers_only(const qb_graph *model, const qb_samples *s, qb_calibration *c, qb_err *e)
{
    memset(c, 0, sizeof *c);
    qb_graph *g = qb_graph_clone(model, e);
    qb_runner r;
    if (!g || qb_runner_open_on(&r, g, 1, -1, s, e))
        return -1;
    c->n = qb_find_layers(r.g, &c->layers);
    qb_runner_close(&r);
    return 0;
}

/* The methods a quantized precision takes: "ptq-minmax, ..., ptq-kl or qat". */
static const char *quantizing_methods(void)
{
    _Thread_local static char list[256];
    if (!list[0]) {
        int n = 0, last = -1;
        for (int m = 0; m < QB_METHOD_COUNT; m++)
            if (qb_method_traits_of(m)->calib >= 0)
                last = m;
        for (int m = 0; m < QB_METHOD_COUNT; m++)
            if (qb_method_traits_of(m)->calib >= 0) {
                strcat(list, n++ == 0 ? "" : m == last ? " or " : ", ");
                strcat(list, qb_method_name(m));
            }
    }
    return list;
}

int qb_pipeline_repair_graph(const qb_pipeline_opts *o, qb_pipeline_data *d, qb_pipeline_result *r, unsigned rp, qb_err *e)
{
    double t0 = qb_now();
    qb_bn_stats st;
    if (!(r->repaired = qb_repair_fold(d->model, &st, e)))
        return -1;
    r->model = r->repaired;
    size_t at = 0;
    int rc = 0;
    if (rp & (1u << QB_REPAIR_CLE | 1u << QB_REPAIR_ABSORB)) {
        qb_cle_report c;
        rc = qb_cle(r->repaired, &st, !!(rp & 1u << QB_REPAIR_CLE), !!(rp & 1u << QB_REPAIR_ABSORB), &c, e);
        at += (size_t)snprintf(r->repair_note + at, sizeof r->repair_note - at,
                               "%s%d pairs, %d sweeps (channel range spread %.0f -> %.1f), %d Clip->Relu, "
                               "absorption in %d pairs (%d channels with beta - 3 gamma > 0)",
                               at ? "; " : "", c.pairs, c.sweeps, c.spread_before, c.spread_after, c.clips_relu,
                               c.absorbed, c.absorbed_channels);
    }
    if (!rc && rp & 1u << QB_REPAIR_SMOOTH) {
        int n = qb_smooth(r->repaired, &d->calib, o->batch, 0.5, 8.0, o->verbose ? stderr : NULL, e);
        rc = n < 0;
        if (!rc && at < sizeof r->repair_note)
            at += (size_t)snprintf(r->repair_note + at, sizeof r->repair_note - at, "%s%d pairs smoothed",
                                   at ? "; " : "", n);
    }
    /* the statistics feed the analytical bias correction after the plan */
    if (!rc && rp & 1u << QB_REPAIR_BIASCORR_BN)
        r->bn_stats = malloc(sizeof st);
    if (r->bn_stats)
        *(qb_bn_stats *)r->bn_stats = st;
    else
        qb_bn_stats_free(&st);
    r->repair_seconds += qb_now() - t0;
    if (!rc && o->verbose && r->repair_note[0])
        fprintf(stderr, "repairs: %s\n", r->repair_note);
    return rc ? -1 : 0;
}

int qb_pipeline_repair_weights(const qb_pipeline_opts *o, qb_pipeline_data *d, qb_pipeline_result *r, unsigned rp,
                          qb_err *e)
{
    double t0 = qb_now();
    size_t at = strlen(r->repair_note);
    if (rp & 1u << QB_REPAIR_ADAROUND) {
        qb_adaround_report a;
        if (qb_adaround(r->repaired, &r->cal, r->plan, &o->qo, &d->calib, o->batch, 1000, &a, e))
            return -1;
        at += (size_t)snprintf(r->repair_note + at, sizeof r->repair_note - at,
                               "%sadaround %d layers, %ld weights flipped, layer MSE %.4g -> %.4g, %.1f s",
                               at ? "; " : "", a.layers, a.flipped, a.mse_nearest, a.mse_ada, a.seconds);
    }
    if (rp & 1u << QB_REPAIR_BIASCORR) {
        int n = qb_biascorr_empirical(r->repaired, &r->cal, r->plan, &o->qo, &d->calib, o->batch, e);
        if (n < 0)
            return -1;
        if (at < sizeof r->repair_note)
            at += (size_t)snprintf(r->repair_note + at, sizeof r->repair_note - at, "%s%d biases corrected",
                                   at ? "; " : "", n);
    }
    if (rp & 1u << QB_REPAIR_BIASCORR_BN) {
        int n = qb_biascorr_analytic(r->repaired, r->bn_stats, &r->cal, r->plan, &o->qo, e);
        if (n < 0)
            return -1;
        if (at < sizeof r->repair_note)
            at += (size_t)snprintf(r->repair_note + at, sizeof r->repair_note - at,
                                   "%s%d biases corrected from BN statistics", at ? "; " : "", n);
    }
    r->repair_seconds += qb_now() - t0;
    if (o->verbose && r->repair_note[0])
        fprintf(stderr, "repairs: %s (%.1f s)\n", r->repair_note, r->repair_seconds);
    return 0;
}

int qb_pipeline_plan(const qb_pipeline_opts *o, qb_pipeline_data *d, qb_pipeline_result *r, qb_err *e)
{
    if (o->layer_plan)
        return qb_pipeline_plan_layers(o, d, r, e);
    memset(r, 0, sizeof *r);
    snprintf(r->model_used, sizeof r->model_used, "%s", o->model);
    r->model = d->model;
    unsigned repairs = 0;
    int method = qb_method_parse_repairs(o->method, &repairs, NULL, 0);
    const qb_method_traits *mt = qb_method_traits_of(method);
    if (qb_precision_is_float(o->prec)) {
        if (method != QB_METHOD_NONE) {
            qb_errf(e, "precision %s takes method none, not %s", qb_precision_name(o->prec), o->method);
            return -1;
        }
        if (qb_pipeline_layers_only(d->model, &d->eval, &r->cal, e))
            return -1;
    } else if (mt->trains) {
        if (o->prec == QB_PREC_MIXED) {
            qb_errf(e, "precision mixed is searched with a PTQ calibrator, not qat");
            return -1;
        }
        qb_qat_opts q;
        qb_qat_defaults(&q);
        q.epochs = o->qat_epochs;
        q.lr = o->qat_lr;
        q.force = o->qat_force;
        if (qb_qat_model(o, &q, d, r->model_used, sizeof r->model_used, &r->qat_seconds, e))
            return -1;
        /* output ranges by min/max on the fine-tuned model, input ranges from its observers */
        if (!(r->qat_model = qb_onnx_load(r->model_used, e)))
            return -1;
        r->model = r->qat_model;
        if (qb_calibrate(r->model, &d->calib, o->batch, (qb_calib)mt->calib, o->percentile, qb_pipeline_symmetric(o),
                         &r->cal, e) ||
            qb_qat_apply_ranges(r->model_used, &r->cal, e)) {
            qb_calibration_free(&r->cal);
            qb_graph_free(r->qat_model);
            r->qat_model = NULL;
            return -1;
        }
        r->calib_seconds = r->cal.seconds;
    } else {
        int kind = mt->calib;
        if (kind < 0) {
            qb_errf(e, "precision %s needs a method %s, not '%s'", qb_precision_name(o->prec), quantizing_methods(),
                    o->method);
            return -1;
        }
        if (repairs && qb_pipeline_repair_graph(o, d, r, repairs, e))
            return -1;
        if (o->verbose)
            fprintf(stderr, "calibrating %s with %s on %d training samples\n", o->model, o->method, d->calib.n);
        if (qb_calibrate(r->model, &d->calib, o->batch, (qb_calib)kind, o->percentile, qb_pipeline_symmetric(o), &r->cal, e))
            return -1;
        r->calib_seconds = r->cal.seconds;
    }
    r->plan = malloc(((size_t)r->cal.n + 1) * sizeof *r->plan);
    if (!r->plan) {
        qb_errf(e, "out of memory");
        qb_pipeline_result_free(r);
        return -1;
    }
    if (o->prec == QB_PREC_MIXED) {
        if (qb_pipeline_mixed(o, d, r, NULL, e)) {
            qb_pipeline_result_free(r);
            return -1;
        }
    } else {
        qb_plan_uniform(&r->cal, o->prec, &o->qo, r->plan);
    }
    if (repairs && qb_pipeline_repair_weights(o, d, r, repairs, e)) {
        qb_pipeline_result_free(r);
        return -1;
    }
    r->weight_bytes = qb_plan_weight_bytes(&r->cal, r->plan, &o->qo);
    for (int i = 0; i < r->cal.n; i++)
        r->macs += r->cal.layers[i].macs;
    return 0;
}

qb_graph *qb_pipeline_graph(const qb_pipeline_opts *o, const qb_pipeline_result *r, qb_err *e)
{
    return qb_quantize_graph(r->model, &r->cal, r->plan, &o->qo, e);
}

int qb_pipeline_evaluate(const qb_pipeline_opts *o, qb_pipeline_data *d, qb_pipeline_result *r, qb_err *e)
{
    if (qb_pipeline_plan(o, d, r, e))
        return -1;
    float *ref = NULL;
    int64_t outs = 0;
    if (qb_reference_outputs(d->model, &d->eval, o->batch, o->isa, &ref, &outs, e)) {
        qb_pipeline_result_free(r);
        return -1;
    }
    int rc;
    if (o->prec == QB_PREC_FP32) { /* the reference itself */
        qb_metrics_acc acc;
        qb_metrics_init(&acc);
        acc.keep = &r->records;
        int32_t *lab = malloc((size_t)d->eval.n * sizeof *lab + 1);
        for (int i = 0; lab && i < d->eval.n; i++)
            lab[i] = qb_samples_label(&d->eval, i);
        qb_metrics_add(&acc, ref, ref, d->eval.d || d->eval.labels ? lab : NULL, d->eval.n, (int)outs);
        qb_metrics_finish(&acc, &r->m);
        free(lab);
        rc = lab ? 0 : -1;
    } else {
        qb_graph *g = qb_pipeline_graph(o, r, e);
        rc = g ? qb_compare_graph_records(g, &d->eval, o->batch, o->isa, ref, outs, &r->m, &r->records, e) : -1;
    }
    free(ref);
    if (rc)
        qb_pipeline_result_free(r);
    return rc;
}
