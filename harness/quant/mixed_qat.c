/*
 * mixed_qat.c - the QAT candidate of the cost-aware mixed search (see
 * mixed_qat.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/quant/mixed_qat.h"
#include "harness/quant/qat.h"

int qb_mixed_qat_candidate(const qb_pipeline_opts *o, qb_pipeline_data *d, qb_pipeline_result *r, qb_err *e)
{
    qb_pareto *f = &r->pareto;
    int n = r->cal.n;
    if (f->n < 1 || !r->layer_cost) {
        qb_errf(e, "%s: --with-qat: no cost-aware search path to add QAT to", o->model);
        return -1;
    }
    qb_pipeline_opts q = *o;
    q.prec = QB_PREC_INT4;
    q.method = "qat";
    qb_qat_opts qo;
    qb_qat_defaults(&qo);
    qo.epochs = o->qat_epochs;
    qo.lr = o->qat_lr;
    qo.force = o->qat_force;
    char path[1024];
    double secs = 0;
    if (o->verbose)
        fprintf(stderr, "mixed: QAT candidate: fine-tuning %s at int4 (or reusing it)\n", o->model);
    if (qb_qat_model(&q, &qo, d, path, sizeof path, &secs, e))
        return -1;
    double train_s = secs > 0 ? secs : qb_qat_recorded_seconds(path);
    qb_graph *qm = qb_onnx_load(path, e);
    if (!qm)
        return -1;
    qb_calibration c;
    int rc = -1;
    float *ref = NULL;
    int64_t outs = 0;
    memset(&c, 0, sizeof c);
    /* as the qat method quantizes: input ranges from the observers, output ranges calibrated on the fine-tuned model */
    if (qb_calibrate(qm, &d->calib, o->batch, (qb_calib)qb_method_traits_of(QB_METHOD_QAT)->calib, o->percentile,
                     qb_pipeline_symmetric(o), &c, e) ||
        qb_qat_apply_ranges(path, &c, e))
        goto out;
    if (c.n != n) {
        qb_errf(e, "%s: the QAT model has %d layers, the searched one %d", path, c.n, n);
        goto out;
    }
    const qb_precision *plan = f->p[0].plan; /* the search's starting plan */
    qb_metrics m;
    if (qb_reference_outputs(d->model, &d->valid, o->batch, -1, &ref, &outs, e))
        goto out;
    qb_graph *g = qb_quantize_graph(qm, &c, plan, &o->qo, e);
    if (!g || qb_compare_graph(g, &d->valid, o->batch, -1, ref, outs, &m, e))
        goto out;
    qb_pareto_point *np = realloc(f->p, ((size_t)f->n + 1) * sizeof *np);
    qb_precision *cp = malloc(((size_t)n + 1) * sizeof *cp);
    if (!np || !cp) {
        free(cp);
        if (np)
            f->p = np;
        qb_errf(e, "out of memory");
        goto out;
    }
    f->p = np;
    memcpy(cp, plan, (size_t)n * sizeof *cp);
    f->p[f->n++] = (qb_pareto_point){.plan = cp, .cost = f->p[0].cost, .bytes = f->p[0].bytes, .drop = m.drop_pt,
                                     .drop_ci_low = m.drop_ci_low,
                                     .drop_ci_high = isnan(m.drop_ci_high) ? m.drop_pt : m.drop_ci_high,
                                     .sqnr_db = m.sqnr_db, .qat = 1, .train_s = train_s};
    r->mixed.evaluations++;
    qb_pareto_mark(f, o->budget);
    if (o->verbose)
        fprintf(stderr, "mixed: QAT candidate (%s, %.1f s of training%s): drop %+.2f pt (95%% interval %+.2f .. %+.2f)\n",
                path, train_s, secs > 0 ? "" : ", recorded", m.drop_pt, m.drop_ci_low, m.drop_ci_high);
    rc = 0;
out:
    free(ref);
    qb_calibration_free(&c);
    qb_graph_free(qm);
    return rc;
}
