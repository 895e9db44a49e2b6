/*
 * eval.c - `qbench eval MODEL.onnx -d DATASET [-p PREC] [--method M]
 * [-i ISA] [--per-layer] [--csv] [--versus METHOD] ...`: the model at a
 * precision against its FP32 reference on the dataset's test images (or
 * seeded inputs with -d none): top-1 accuracy and drop, agreement, SQNR,
 * cosine, max abs error, KL. Calibration and validation samples come from
 * the training images only. --csv prints the results header of
 * docs/design.md and one row (two with --versus). --versus evaluates a
 * second method on the same samples and prints the paired difference
 * (docs/measurement.md, "Two methods on the same samples").
 * Input errors: exit code 2.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/io/atomic.h"
#include "harness/measure/paired.h"
#include "harness/quant/layer_sqnr.h"
#include "harness/quant/pipeline.h"
#include "harness/quant/plan_apply.h"
#include "harness/quant/plan_bisect.h"
#include "harness/verbs/pipeline_args.h"
#include "harness/report/metrics_row.h"
#include "harness/report/results.h"
#include "harness/report/status.h"
#include "harness/verbs/usage.h"
#include "harness/verbs/verbs.h"

/* A usage error: the message (NULL: already printed by the option
 * parser), then the synopsis from the verb table. */
static int usage(const char *msg, const char *arg)
{
    return msg ? qb_usage_error("eval", msg, arg) : qb_usage_line("eval");
}

/* What a file already quantized (QDQ, fp16, com.qbench) holds, when it is
 * evaluated as stored (-p fp32): its label ("int8-channel (4 of 4
 * layers)") into label, its precision for a results row and the bytes its
 * layers take in the file. 0 when it holds quantized layers, -1 when not
 * (a float model, or one that does not prepare). */
typedef struct stored_model {
    char label[256];      /* qb_model_precision's line */
    qb_precision prec;    /* qb_model_precision_kind */
    int64_t bytes;        /* parameter bytes in the file */
} stored_model;

static int stored_of(const qb_pipeline_opts *o, const qb_pipeline_data *d, stored_model *s)
{
    memset(s, 0, sizeof *s);
    if (o->prec != QB_PREC_FP32 || !d->model)
        return -1;
    qb_err e;
    qb_graph *g = qb_graph_clone(d->model, &e);
    qb_runner rr;
    if (!g || qb_runner_open_on(&rr, g, 1, -1, &d->eval, &e))
        return -1;
    qb_model_precision(rr.g, s->label, sizeof s->label);
    s->prec = qb_model_precision_kind(rr.g);
    for (int i = 0; i < rr.g->nnodes; i++) {
        int64_t b = 0;
        if (!rr.g->nodes[i].folded)
            qb_node_params(rr.g, &rr.g->nodes[i], &b);
        s->bytes += b;
    }
    qb_runner_close(&rr);
    return s->prec == QB_PREC_FP32 ? -1 : 0;
}

static void print_csv(const qb_pipeline_opts *o, const qb_pipeline_data *d, const qb_pipeline_result *r,
                      const char *isa, int header)
{
    qb_result_row row;
    qb_row_init(&row);
    stored_model st;
    int stored = !stored_of(o, d, &st);
    snprintf(row.model, sizeof row.model, "%s", o->model);
    snprintf(row.dataset, sizeof row.dataset, "%s", o->dataset);
    snprintf(row.precision, sizeof row.precision, "%s", qb_precision_name(stored ? st.prec : o->prec));
    snprintf(row.method, sizeof row.method, "%s", o->method);
    snprintf(row.isa, sizeof row.isa, "%s", isa);
    snprintf(row.status, sizeof row.status, "%s", qb_status_name(QB_STATUS_OK));
    if (o->prec == QB_PREC_MIXED || o->layer_plan)
        qb_plan_str(r, row.note, sizeof row.note);
    if (o->layer_plan) {
        snprintf(row.plan, sizeof row.plan, "%s", o->layer_plan->name);
        snprintf(row.plan_hash, sizeof row.plan_hash, "%016llx", (unsigned long long)o->layer_plan->hash);
    }
    if (stored) /* the file's own quantization, evaluated as stored (method none: qbench calibrated nothing) */
        snprintf(row.note, sizeof row.note, "as stored: %s", st.label);
    row.threads = 1;
    row.batch = o->batch;
    row.macs = (double)r->macs;
    row.weight_bytes = (double)(stored ? st.bytes : r->weight_bytes);
    qb_row_set_metrics(&row, &r->m);
    if (header)
        qb_results_print(stdout, qb_result_columns);
    char buf[QB_NCOLS][1100];
    const char *f[QB_NCOLS];
    for (int i = 0; i < QB_NCOLS; i++) {
        qb_row_field(&row, i, buf[i], sizeof buf[i]);
        f[i] = buf[i];
    }
    qb_results_print(stdout, f);
}

static void print_text(const qb_pipeline_opts *o, const qb_pipeline_data *d, const qb_pipeline_result *r,
                       const char *isa)
{
    const qb_metrics *m = &r->m;
    /* a file already quantized (QDQ, fp16, com.qbench) evaluated as stored is labelled by what it holds */
    stored_model st;
    char stored[300] = "";
    int64_t stored_bytes = -1;
    if (!stored_of(o, d, &st)) {
        snprintf(stored, sizeof stored, "as stored: %s", st.label);
        stored_bytes = st.bytes;
    }
    if (stored[0])
        printf("%s: %s on %s, %ld %s samples\n", o->model, stored, isa, m->samples,
               d->eval.d ? d->eval.d->name : d->eval.x ? "data-folder" : "seeded");
    else
        printf("%s: %s %s on %s, %ld %s samples\n", o->model, qb_precision_name(o->prec), o->method, isa, m->samples,
               d->eval.d ? d->eval.d->name : d->eval.x ? "data-folder" : "seeded");
    qb_data_source_print(stdout, o, d, r->cal.samples > 0 || r->calib_seconds > 0);
    if (d->eval.d || d->eval.labels)
        printf("  top-1 %.2f%% [%.2f, %.2f] (fp32 %.2f%%, drop %.2f pt [%.2f, %.2f], McNemar p %.3g)\n", m->top1,
               m->top1_ci_low, m->top1_ci_high, m->ref_top1, m->drop_pt, m->drop_ci_low, m->drop_ci_high,
               m->mcnemar_p);
    if (isnan(m->agreement)) /* maps, single scores, embeddings: no class axis */
        printf("  SQNR %.2f dB [%.2f, %.2f], cosine %.6f, max abs err %.4g (output 0 has no class axis: no agreement, "
               "no KL)\n",
               m->sqnr_db, m->sqnr_ci_low, m->sqnr_ci_high, m->cosine, m->max_abs_err);
    else
        printf("  agreement with fp32 %.2f%% [%.2f, %.2f], SQNR %.2f dB [%.2f, %.2f], cosine %.6f, max abs err %.4g, "
               "KL mean %.3g p99 %.3g max %.3g\n",
               m->agreement, m->agree_ci_low, m->agree_ci_high, m->sqnr_db, m->sqnr_ci_low, m->sqnr_ci_high, m->cosine,
               m->max_abs_err, m->kl_div, m->kl_p99, m->kl_max);
    printf("  [ ]: 95%% paired-bootstrap intervals over the samples\n");
    printf("  %d layers, weights %lld bytes%s, %lld MACs per sample", r->cal.n,
           (long long)(stored_bytes >= 0 ? stored_bytes : r->weight_bytes), stored_bytes >= 0 ? " in the file" : "",
           (long long)r->macs);
    if (r->calib_seconds > 0)
        printf(", calibration %.2f s on %d samples", r->calib_seconds, r->cal.samples);
    if (qb_method_traits_of(qb_method_parse(o->method))->trains)
        printf(", QAT %s (%s)", r->qat_seconds > 0 ? "fine-tuned" : "reused", r->model_used);
    if (r->qat_seconds > 0)
        printf(" in %.1f s", r->qat_seconds);
    printf("\n");
    if (r->choices) {
        const qb_layer_plan *lp = o->layer_plan;
        printf("  plan %s (%s, hash %016llx): layers no rule sets take %s%s%s\n", lp->name, lp->file,
               (unsigned long long)lp->hash, qb_precision_name(o->prec),
               qb_precision_is_float(o->prec) ? "" : " ", qb_precision_is_float(o->prec) ? "" : o->method);
        printf("    %-28s %-13s %-13s %-15s %s\n", "layer", "op", "precision", "calibrator", "set by");
        for (int i = 0; i < r->cal.n; i++) {
            const qb_plan_choice *c = &r->choices[i];
            char by[600];
            if (c->rule_line)
                snprintf(by, sizeof by, "%s:%d", lp->file, c->rule_line);
            else
                snprintf(by, sizeof by, "%s", o->prec == QB_PREC_MIXED ? "the search" : "the default");
            printf("    %-28s %-13s %-13s %-15s %s\n", r->cal.layers[i].name,
                   r->cal.layers[i].depthwise ? "DepthwiseConv" : r->cal.layers[i].op, qb_precision_name(r->plan[i]),
                   qb_method_name(qb_precision_is_float(r->plan[i]) ? QB_METHOD_NONE : c->method), by);
        }
    }
    if (o->prec == QB_PREC_MIXED) {
        printf("  mixed plan (budget %.2f pt on the upper end of the 95%% interval: validation drop %.2f pt, "
               "upper end %.2f pt%s, %d plans evaluated):\n",
               o->budget, r->mixed.drop, r->mixed.drop_ci_high, r->mixed.met ? "" : ", budget NOT met",
               r->mixed.evaluations);
        printf("    %-28s %-13s %12s %10s\n", "layer", "precision", "sens. drop", "sens. SQNR");
        for (int i = 0; i < r->cal.n; i++)
            if (isnan(r->mixed.sens_drop[i]))
                printf("    %-28s %-13s %22s\n", r->cal.layers[i].name, qb_precision_name(r->plan[i]),
                       "(set by the plan)");
            else
                printf("    %-28s %-13s %+11.2f %9.1f\n", r->cal.layers[i].name, qb_precision_name(r->plan[i]),
                       r->mixed.sens_drop[i], r->mixed.sens_sqnr[i]);
    }
}

/* --bisect: the fewest layers to keep fp32 for the budget, on the
 * validation samples; the found plan on the test set; written with
 * --save-plan. 0, or -1 with a message. */
static int bisect(const qb_pipeline_opts *o, qb_pipeline_data *d, qb_pipeline_result *r, const char *save_plan,
                  qb_err *e)
{
    qb_bisect b;
    if (qb_bisect_fp32(r->model, &r->cal, r->plan, &d->valid, o->batch, o->budget, &o->qo, &b, o->verbose, e))
        return -1;
    int n = r->cal.n, rc = -1;
    printf("  bisection (budget %.2f pt on the upper end of the 95%% interval, %d validation samples): "
           "as given %.2f pt (upper end %.2f)\n", o->budget, d->valid.n, b.start_drop, b.start_ci_high);
    if (b.met && b.nkeep == 0)
        printf("    met as given: nothing to keep in fp32\n");
    printf("    %d layer%s kept fp32:", b.nkeep, b.nkeep == 1 ? "" : "s");
    for (int i = 0; i < n; i++)
        if (b.keep[i])
            printf(" %s (isolated %.1f dB)", r->cal.layers[i].name, b.iso_sqnr[i]);
    printf("%s\n    validation drop %.2f pt [%.2f, %.2f]%s, %d plans evaluated\n", b.nkeep ? "" : " none",
           b.drop, b.drop_ci_low, b.drop_ci_high, b.met ? "" : ": budget NOT met even with every layer fp32",
           b.evaluations);
    qb_precision *was = malloc(((size_t)n + 1) * sizeof *was);
    if (!was) {
        qb_errf(e, "out of memory");
        goto out;
    }
    memcpy(was, r->plan, (size_t)n * sizeof *was);
    for (int i = 0; i < n; i++)
        if (b.keep[i])
            r->plan[i] = QB_PREC_FP32;
    float *ref = NULL;
    int64_t outs = 0;
    qb_metrics m;
    qb_graph *g = NULL;
    if (qb_reference_outputs(d->model, &d->eval, o->batch, o->isa, &ref, &outs, e) ||
        !(g = qb_pipeline_graph(o, r, e)) || qb_compare_graph(g, &d->eval, o->batch, o->isa, ref, outs, &m, e)) {
        free(ref);
        goto out;
    }
    free(ref);
    printf("    on the %ld test samples: top-1 %.2f%%, drop %.2f pt [%.2f, %.2f] (as given %.2f pt)\n", m.samples,
           m.top1, m.drop_pt, m.drop_ci_low, m.drop_ci_high, r->m.drop_pt);
    if (save_plan) {
        char head[1400];
        snprintf(head, sizeof head, "qbench layer plan of %.500s (%s %s), written by qbench eval --bisect\n"
                 "%d layer(s) kept fp32 for a budget of %.2f pt; validation drop %.2f pt [%.2f, %.2f]; "
                 "test drop %.2f pt [%.2f, %.2f]\nreuse it with --plan FILE (docs/quantization.md, \"Layer plans\")",
                 o->model, qb_precision_name(o->prec), o->method, b.nkeep, o->budget, b.drop, b.drop_ci_low,
                 b.drop_ci_high, m.drop_pt, m.drop_ci_low, m.drop_ci_high);
        if (qb_pipeline_save_plan(o, r, save_plan, NULL, head, NULL, e))
            goto out;
        printf("  wrote the plan to %s\n", save_plan);
    }
    rc = 0;
out:
    if (was)
        memcpy(r->plan, was, (size_t)n * sizeof *was);
    free(was);
    qb_bisect_free(&b);
    return rc;
}

/* --cost: the search's path, Pareto set and choice; --pareto FILE.csv
 * writes it. 0, or -1 with a message. */
static int print_pareto(const qb_pipeline_opts *o, const qb_pipeline_result *r, const char *csv_path, qb_err *e)
{
    const qb_pareto *f = &r->pareto;
    const char *unit = qb_cost_unit((qb_cost_kind)o->cost);
    printf("  cost-aware search (--cost %s, %s; drops on the validation split, 95%% intervals; * Pareto set, > chosen):\n",
           qb_cost_name((qb_cost_kind)o->cost), unit);
    printf("    %3s %14s %12s %9s %18s %8s  %s\n", "#", "cost", "weight B", "drop pt", "95% interval", "SQNR dB",
           "int4 / int8-channel / fp16 layers");
    for (int k = 0; k < f->n; k++) {
        const qb_pareto_point *p = &f->p[k];
        int cnt[QB_PREC_COUNT] = {0};
        for (int i = 0; i < r->cal.n; i++)
            cnt[p->plan[i]]++;
        printf("   %c%c%2d %14.6g %12lld %9.2f   [%6.2f, %6.2f] %8.2f  %d / %d / %d", k == f->chosen ? '>' : ' ',
               p->pareto ? '*' : ' ', k, p->cost, (long long)p->bytes, p->drop, p->drop_ci_low, p->drop_ci_high,
               p->sqnr_db, cnt[QB_PREC_INT4], cnt[QB_PREC_INT8_CHANNEL], cnt[QB_PREC_FP16]);
        if (p->qat)
            printf("  QAT, %.1f s of training%s", p->train_s, isnan(p->train_s) ? " (not recorded)" : "");
        printf("\n");
    }
    qb_qat_verdict v;
    qb_pareto_qat_verdict(f, o->budget, &v);
    if (v.qat >= 0) { /* does QAT beat keeping layers at higher precision? */
        const qb_pareto_point *q = &f->p[v.qat];
        if (v.beats && v.ptq_budget >= 0)
            printf("  QAT beats raising layers: it meets the budget at cost %.6g, the cheapest PTQ plan that does "
                   "costs %.6g (point %d); price: %.1f s of training\n",
                   q->cost, f->p[v.ptq_budget].cost, v.ptq_budget, q->train_s);
        else if (v.beats)
            printf("  QAT beats raising layers: it meets the budget, no PTQ plan on the path does; price: %.1f s of "
                   "training\n", q->train_s);
        else if (v.meets)
            printf("  QAT meets the budget but saves nothing: PTQ point %d meets it at cost %.6g (QAT %.6g) without "
                   "training\n", v.ptq_budget, f->p[v.ptq_budget].cost, q->cost);
        else
            printf("  QAT does not meet the budget (drop %.2f pt, upper end %.2f): keeping layers at higher precision "
                   "wins\n", q->drop, q->drop_ci_high);
        if (v.ptq_match >= 0)
            printf("  at QAT's point drop (%.2f pt) PTQ needs point %d, cost %.6g (QAT: %.6g, %+.1f%%)\n", q->drop,
                   v.ptq_match, f->p[v.ptq_match].cost, q->cost,
                   100.0 * (q->cost - f->p[v.ptq_match].cost) / f->p[v.ptq_match].cost);
        else
            printf("  no PTQ plan on the path is as accurate as QAT (%.2f pt)\n", q->drop);
    }
    if (!csv_path)
        return 0;
    qb_atomic a;
    char err[600];
    if (qb_atomic_open(&a, csv_path, err, sizeof err)) {
        qb_errf(e, "%s", err);
        return -1;
    }
    fprintf(a.f, "model,cost_kind,cost_unit,point,cost,weight_bytes,drop_pt,drop_ci_low,drop_ci_high,sqnr_db,pareto,chosen,"
                 "candidate,train_s,plan\n");
    for (int k = 0; k < f->n; k++) {
        const qb_pareto_point *p = &f->p[k];
        fprintf(a.f, "\"%s\",%s,%s,%d,%.6g,%lld,%.4f,%.4f,%.4f,%.3f,%d,%d,%s,", o->model,
                qb_cost_name((qb_cost_kind)o->cost), unit, k, p->cost, (long long)p->bytes, p->drop, p->drop_ci_low,
                p->drop_ci_high, p->sqnr_db, p->pareto, k == f->chosen, p->qat ? "qat" : "ptq");
        if (!isnan(p->train_s))
            fprintf(a.f, "%.1f", p->train_s);
        fprintf(a.f, ",\"");
        for (int i = 0; i < r->cal.n; i++)
            fprintf(a.f, "%s%s=%s", i ? ";" : "", r->cal.layers[i].name, qb_precision_name(p->plan[i]));
        fprintf(a.f, "\"\n");
    }
    if (qb_atomic_commit(&a, err, sizeof err)) {
        qb_errf(e, "%s", err);
        return -1;
    }
    printf("  wrote the path to %s\n", csv_path);
    return 0;
}

/* --per-layer: SQNR of every layer's output, propagated and isolated. */
static int per_layer(const qb_pipeline_opts *o, qb_pipeline_data *d, qb_pipeline_result *r, double threshold, qb_err *e)
{
    int n = r->cal.n;
    double *prop = malloc((size_t)(n + 1) * sizeof(double)), *iso = malloc((size_t)(n + 1) * sizeof(double));
    qb_graph *g = qb_pipeline_graph(o, r, e);
    int rc = -1;
    if (prop && iso && g) {
        qb_samples s = d->eval;
        if (s.n > 1000)
            s.n = 1000; /* enough for a stable SQNR; keeps the three passes quick */
        rc = qb_per_layer_sqnr(d->model, g, &r->cal, &s, o->batch, o->isa, prop, iso, e);
        g = NULL;
    }
    qb_graph_free(g);
    if (!rc) {
        FILE *f = stdout;
        fprintf(f, "  per-layer SQNR of the outputs against fp32 (%d samples):\n", d->eval.n < 1000 ? d->eval.n : 1000);
        fprintf(f, "    %-28s %-13s %14s %14s\n", "layer", "precision", "propagated dB", "isolated dB");
        int first = -1;
        for (int i = 0; i < n; i++) {
            fprintf(f, "    %-28s %-13s %14.2f %14.2f\n", r->cal.layers[i].name, qb_precision_name(r->plan[i]),
                    prop[i], iso[i]);
            if (first < 0 && prop[i] < threshold)
                first = i;
        }
        if (first >= 0)
            fprintf(f, "  first layer below %.1f dB: %s (%.2f dB propagated, %.2f dB isolated)\n", threshold,
                    r->cal.layers[first].name, prop[first], iso[first]);
        else
            fprintf(f, "  no layer below %.1f dB\n", threshold);
    }
    free(prop);
    free(iso);
    return rc;
}

/* --versus: A (o's method) minus B (ob's) on the same samples, paired. 0,
 * or -1 with a message (the two runs' records do not line up). */
static int print_versus(const qb_pipeline_opts *o, const qb_pipeline_opts *ob, const qb_pipeline_result *ra,
                        const qb_pipeline_result *rb, qb_err *e)
{
    const qb_sample_records *a = &ra->records, *b = &rb->records;
    size_t n = a->n;
    if (!n || n != b->n || a->group != b->group) {
        qb_errf(e, "--versus: %zu and %zu per-sample records (out of memory?): no paired comparison", a->n, b->n);
        return -1;
    }
    unsigned char *ok = malloc(4 * n);
    if (!ok) {
        qb_errf(e, "out of memory");
        return -1;
    }
    int labelled = 1;
    for (size_t i = 0; i < n; i++) {
        ok[i] = (a->bits[i] >> 1) & 1;
        ok[n + i] = (b->bits[i] >> 1) & 1;
        ok[2 * n + i] = (a->bits[i] >> 2) & 1;
        ok[3 * n + i] = (b->bits[i] >> 2) & 1;
        labelled &= (a->bits[i] >> 3) & (b->bits[i] >> 3) & 1;
    }
    int agree = !isnan(ra->m.agreement) && !isnan(rb->m.agreement);
    qb_paired_diff p;
    int rc = qb_paired_diff_stats(a->err2, b->err2, labelled ? ok : NULL, labelled ? ok + n : NULL,
                                  agree ? ok + 2 * n : NULL, agree ? ok + 3 * n : NULL, n, a->group, 0,
                                  QB_BOOTSTRAP_SEED, &p);
    free(ok);
    if (rc) {
        qb_errf(e, "--versus: no paired comparison (a NaN error in the outputs)");
        return -1;
    }
    if (a->group > 1)
        printf("%s minus %s on the same %zu samples of %zu output vectors each (paired bootstrap over the samples, "
               "95%%):\n", o->method, ob->method, n / a->group, a->group);
    else
        printf("%s minus %s on the same %zu samples (paired bootstrap, 95%%):\n", o->method, ob->method, n);
    printf("  SQNR %+.2f dB [%+.2f, %+.2f] (%.2f against %.2f dB)\n", p.sqnr_db, p.sqnr_low, p.sqnr_high,
           ra->m.sqnr_db, rb->m.sqnr_db);
    if (labelled)
        printf("  top-1 %+.2f pt [%+.2f, %+.2f]; right only with %s %zu, only with %s %zu: McNemar two-sided "
               "p %.3g\n",
               p.top1_pt, p.top1_low, p.top1_high, o->method, p.a_only, ob->method, p.b_only, p.mcnemar_p);
    if (agree)
        printf("  agreement with fp32 %+.2f pt [%+.2f, %+.2f]\n", p.agree_pt, p.agree_low, p.agree_high);
    int sq_sure = p.sqnr_low > 0 || p.sqnr_high < 0;
    printf("  %s: %s\n", sq_sure ? "the SQNR differs" : "no SQNR difference shown",
           sq_sure ? (p.sqnr_low > 0 ? "the interval lies above 0" : "the interval lies below 0")
                   : "the interval contains 0 (more samples would tell)");
    return 0;
}

int qb_verb_eval(int argc, char **argv)
{
    qb_pipeline_opts o;
    qb_pipeline_defaults(&o);
    int csv = 0, per = 0, method_set = 0, bis = 0;
    const char *save_plan = NULL, *pareto_csv = NULL, *versus = NULL;
    double threshold = 20.0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int k = qb_pipeline_arg(&o, argc, argv, &i, "eval", &method_set);
        if (k < 0)
            return usage(NULL, NULL); /* the message is printed */
        if (k)
            continue;
        if (!strcmp(a, "--csv")) {
            csv = 1;
        } else if (!strcmp(a, "--per-layer")) {
            per = 1;
        } else if (!strcmp(a, "--bisect")) {
            bis = per = 1;
        } else if (!strcmp(a, "--pareto")) {
            if (i + 1 >= argc)
                return usage("missing value after %s", a);
            pareto_csv = argv[++i];
        } else if (!strcmp(a, "--versus")) {
            unsigned rp;
            char why[256];
            if (i + 1 >= argc)
                return usage("missing value after %s", a);
            versus = argv[++i];
            if (qb_method_parse_repairs(versus, &rp, why, sizeof why) < 0)
                return usage("--versus: %s", why);
        } else if (!strcmp(a, "--save-plan")) {
            if (i + 1 >= argc)
                return usage("missing value after %s", a);
            save_plan = argv[++i];
        } else if (!strcmp(a, "--sqnr-threshold")) {
            char *end;
            if (i + 1 >= argc || !*argv[i + 1] || (threshold = strtod(argv[i + 1], &end), *end) || !isfinite(threshold))
                return usage("bad or missing value after %s", a);
            i++;
        } else if (qb_pipeline_model_arg(&o, a, "eval")) {
            return 2;
        }
    }
    if (qb_pipeline_args_done(&o, "eval", method_set))
        return 2;
    if (pareto_csv && o.cost == QB_COST_NONE)
        return usage("--pareto FILE.csv needs -p mixed --cost latency|bytes|energy%s", "");
    if (versus && (per || save_plan || pareto_csv))
        return usage("--versus compares two methods' metrics; run --per-layer, --bisect, --save-plan or --pareto "
                     "without it%s", "");
    if (versus && qb_precision_is_float(o.prec))
        return usage("--versus: precision %s takes no method; give a quantized -p", qb_precision_name(o.prec));
    if (versus && !strcmp(versus, o.method))
        return usage("--versus %s: the same method as --method", versus);
    qb_err e;
    qb_pipeline_data d;
    qb_pipeline_result r;
    if (qb_pipeline_data_open(&o, &d, &e)) {
        fprintf(stderr, "qbench eval: %s\n", e.msg);
        return 2;
    }
    int rc = 2;
    if (qb_pipeline_evaluate(&o, &d, &r, &e)) {
        fprintf(stderr, "qbench eval: %s\n", e.msg);
        goto out;
    }
    const qb_kernel *k = o.isa >= 0 ? qb_kernel_get(QB_OP_GEMM, QB_PREC_FP32, (qb_isa)o.isa)
                                    : qb_kernel_select(QB_OP_GEMM, QB_PREC_FP32);
    const char *isa = k ? qb_isa_name(k->isa) : "";
    if (csv)
        print_csv(&o, &d, &r, isa, 1);
    else
        print_text(&o, &d, &r, isa);
    rc = 0;
    if (versus) {
        qb_pipeline_opts ob = o;
        qb_pipeline_result rb;
        ob.method = versus;
        if (qb_pipeline_evaluate(&ob, &d, &rb, &e)) {
            fprintf(stderr, "qbench eval: --versus %s: %s\n", versus, e.msg);
            rc = 2;
        } else {
            if (csv)
                print_csv(&ob, &d, &rb, isa, 0);
            else
                print_text(&ob, &d, &rb, isa);
            if (!csv && print_versus(&o, &ob, &r, &rb, &e)) {
                fprintf(stderr, "qbench eval: %s\n", e.msg);
                rc = 2;
            }
            qb_pipeline_result_free(&rb);
        }
    }
    if (o.cost != QB_COST_NONE && r.pareto.n && print_pareto(&o, &r, pareto_csv, &e)) {
        fprintf(stderr, "qbench eval: %s\n", e.msg);
        rc = 2;
    }
    if (rc) {
    } else if (save_plan && o.prec == QB_PREC_FP32 && !o.layer_plan) {
        fprintf(stderr, "qbench eval: --save-plan: nothing planned at fp32 (give -p PREC or --plan FILE)\n");
        rc = 2;
    } else if (bis && (o.prec == QB_PREC_FP32 || o.prec == QB_PREC_MIXED || csv)) {
        fprintf(stderr, "qbench eval: --bisect: give a quantized -p other than mixed (or a --plan), without --csv\n");
        rc = 2;
    } else if (save_plan && !bis) {
        int n = r.cal.n;
        char **cm = calloc((size_t)n + 1, sizeof *cm), head[1400];
        for (int i = 0; cm && i < n && o.prec == QB_PREC_MIXED; i++)
            if (!isnan(r.mixed.sens_drop[i]) && (cm[i] = malloc(96)))
                snprintf(cm[i], 96, "int4 alone: drop %+.2f pt, SQNR %.1f dB", r.mixed.sens_drop[i],
                         r.mixed.sens_sqnr[i]);
        snprintf(head, sizeof head, "qbench layer plan of %.500s (%s %s), written by qbench eval\n%s"
                 "test set: drop %.2f pt [%.2f, %.2f]\nreuse it with --plan FILE (docs/quantization.md, "
                 "\"Layer plans\")", o.model, qb_precision_name(o.prec), o.method,
                 o.prec == QB_PREC_MIXED ? (r.mixed.met ? "mixed search: budget met on the validation split\n"
                                                        : "mixed search: budget NOT met\n") : "",
                 r.m.drop_pt, r.m.drop_ci_low, r.m.drop_ci_high);
        if (qb_pipeline_save_plan(&o, &r, save_plan, NULL, head, (const char *const *)cm, &e)) {
            fprintf(stderr, "qbench eval: %s\n", e.msg);
            rc = 2;
        } else if (!csv) {
            printf("  wrote the plan to %s\n", save_plan);
        }
        for (int i = 0; cm && i < n; i++)
            free(cm[i]);
        free(cm);
    }
    if (!rc && per && per_layer(&o, &d, &r, threshold, &e)) {
        fprintf(stderr, "qbench eval: %s\n", e.msg);
        rc = 2;
    }
    if (!rc && bis && bisect(&o, &d, &r, save_plan, &e)) {
        fprintf(stderr, "qbench eval: %s\n", e.msg);
        rc = 2;
    }
    qb_pipeline_result_free(&r);
out:
    qb_pipeline_data_close(&d);
    return rc;
}
