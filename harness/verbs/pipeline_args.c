/*
 * pipeline_args.c - the quantization options shared by eval, quantize
 * and run (see pipeline_args.h).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/verbs/pipeline_args.h"
#include "harness/verbs/usage.h"

static int bad(const char *verb, const char *msg, ...) __attribute__((format(printf, 2, 3)));
static int bad(const char *verb, const char *msg, ...)
{
    va_list ap;
    va_start(ap, msg);
    fprintf(stderr, "qbench %s: ", verb);
    vfprintf(stderr, msg, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return -1;
}

/* A positive integer below 2^30, or -1. */
static long posint(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    return *s && !*end && v > 0 && v < (1L << 30) ? v : -1;
}

/* --data DIR, --preprocess SPEC, --shape [NAME=]AxB (harness/data/inputs.h,
 * harness/graph/graph.h); 1 taken, 0 not one of them, -1 after a message. */
static int data_arg(qb_pipeline_opts *o, int argc, char **argv, int *i, const char *verb)
{
    static qb_preproc pp;          /* the --preprocess spec (one per process) */
    static qb_input_shapes shapes; /* the --shape options, applied to every model loaded */
    static qb_layer_plan plan; /* the --plan file (one per process) */
    const char *a = argv[*i];
    if (strcmp(a, "--data") && strcmp(a, "--preprocess") && strcmp(a, "--shape") && strcmp(a, "--plan") &&
        strcmp(a, "--cost") && strcmp(a, "--energy-model"))
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "qbench %s: missing value after %s\n", verb, a);
        return -1;
    }
    const char *v = argv[++*i];
    qb_err e;
    if (!strcmp(a, "--data")) {
        o->data = v;
    } else if (!strcmp(a, "--cost")) {
        if ((o->cost = qb_cost_parse(v)) < 0) {
            fprintf(stderr, "qbench %s: bad --cost '%s' (latency, bytes or energy)\n", verb, v);
            return -1;
        }
    } else if (!strcmp(a, "--energy-model")) {
        o->energy_model = v;
    } else if (!strcmp(a, "--plan")) {
        if (o->layer_plan) {
            fprintf(stderr, "qbench %s: --plan given twice\n", verb);
            return -1;
        }
        if (qb_layer_plan_load(v, &plan, &e)) {
            fprintf(stderr, "qbench %s: %s\n", verb, e.msg);
            return -1;
        }
        o->layer_plan = &plan;
    } else if (!strcmp(a, "--preprocess")) {
        if (!o->pp)
            qb_preproc_defaults(&pp);
        if (qb_preproc_parse(v, "--preprocess", &pp, &e)) {
            fprintf(stderr, "qbench %s: %s\n", verb, e.msg);
            return -1;
        }
        o->pp = &pp;
    } else {
        if (qb_input_shape_parse(v, &shapes, &e)) {
            fprintf(stderr, "qbench %s: %s\n", verb, e.msg);
            return -1;
        }
        qb_load_shapes = &shapes;
    }
    return 1;
}

int qb_pipeline_arg(qb_pipeline_opts *o, int argc, char **argv, int *i, const char *verb, int *method_set)
{
    int d = data_arg(o, argc, argv, i, verb);
    if (d)
        return d;
    const char *a = argv[*i];
    static const char *const flags[] = {"--symmetric", "--binary-all", "-v", "--retrain", "--with-qat"};
    for (size_t f = 0; f < sizeof flags / sizeof flags[0]; f++)
        if (!strcmp(a, flags[f])) {
            if (f == 0)
                o->symmetric = 1;
            else if (f == 1)
                o->qo.binary_ends_int8 = 0;
            else if (f == 2)
                o->verbose = 1;
            else if (f == 3)
                o->qat_force = 1;
            else
                o->with_qat = 1;
            return 1;
        }
    static const char *const valued[] = {"-d",      "--data-dir", "-p",     "--method",     "-i",
                                         "--calib", "--limit",    "--val",  "--batch",      "--seed",
                                         "--group", "--qat-epochs", "--budget", "--percentile", "--qat-lr"};
    int k = -1;
    for (size_t f = 0; f < sizeof valued / sizeof valued[0]; f++)
        if (!strcmp(a, valued[f]))
            k = (int)f;
    if (k < 0)
        return 0;
    if (*i + 1 >= argc)
        return bad(verb, "missing value after %s", a);
    const char *v = argv[++*i];
    if (k == 0) {
        o->dataset = v;
    } else if (k == 1) {
        o->data_dir = v;
    } else if (k == 2) {
        int p = qb_precision_parse(v);
        if (p < 0)
            return bad(verb, "unknown precision '%s' (%s)", v, qb_precision_list());
        o->prec = (qb_precision)p;
        o->prec_given = 1;
    } else if (k == 3) {
        unsigned rp;
        char why[256];
        if (qb_method_parse_repairs(v, &rp, why, sizeof why) < 0)
            return bad(verb, "%s (methods: %s; repairs +%s)", why, qb_method_list(), qb_repair_list());
        o->method = v;
        *method_set = 1;
    } else if (k == 4) {
        if ((o->isa = qb_isa_parse(v)) < 0)
            return bad(verb, "unknown ISA '%s'", v);
    } else if (k <= 11) {
        long x = posint(v);
        if (x < 0)
            return bad(verb, "bad value '%s' (a positive integer)", v);
        if (k == 5)
            o->calib = (int)x, o->calib_given = 1;
        else if (k == 6)
            o->limit = (int)x;
        else if (k == 7)
            o->val = (int)x;
        else if (k == 8)
            o->batch = (int)x;
        else if (k == 9)
            o->seed = (uint64_t)x;
        else if (k == 11)
            o->qat_epochs = (int)x;
        else if (x != 32 && x != 64 && x != 128)
            return bad(verb, "bad --group '%s' (32, 64 or 128; leave it out for per channel)", v);
        else
            o->qo.group = (int)x;
    } else {
        char *end;
        double d = strtod(v, &end);
        if (!*v || *end || !isfinite(d) || d < 0 || (k == 13 && (d <= 50 || d > 100)) || (k == 14 && d <= 0))
            return bad(verb, "bad value '%s'", v);
        if (k == 12)
            o->budget = d;
        else if (k == 13)
            o->percentile = d;
        else
            o->qat_lr = (float)d;
    }
    return 1;
}

int qb_pipeline_model_arg(qb_pipeline_opts *o, const char *a, const char *verb)
{
    if (a[0] == '-' && a[1]) {
        qb_usage_error(verb, "unknown option %s", a);
        return -1;
    }
    if (o->model) {
        qb_usage_error(verb, "more than one model: %s", a);
        return -1;
    }
    o->model = a;
    return 0;
}

int qb_pipeline_args_done(qb_pipeline_opts *o, const char *verb, int method_set)
{
    if (!o->model) {
        qb_usage_error(verb, "missing MODEL.onnx");
        return -1;
    }
    if (o->data && strcmp(o->dataset, "fashion-mnist") && strcmp(o->dataset, "none")) {
        fprintf(stderr, "qbench %s: give --data DIR or -d %s, not both\n", verb, o->dataset);
        return -1;
    }
    if (o->data)
        o->dataset = o->data; /* the results' dataset column names the folder */
    const qb_layer_plan *lp = o->layer_plan; /* its defaults, unless the command line gave them */
    if (lp && !o->prec_given && lp->prec >= 0)
        o->prec = (qb_precision)lp->prec;
    if (lp && !method_set && lp->method >= 0) {
        o->method = qb_method_name((qb_method)lp->method);
        method_set = 1;
    }
    if (!method_set && o->prec != QB_PREC_COUNT && !qb_precision_is_float(o->prec))
        o->method = "ptq-percentile";
    if (o->cost != QB_COST_NONE && o->prec != QB_PREC_MIXED) {
        fprintf(stderr, "qbench %s: --cost %s applies to -p mixed\n", verb, qb_cost_name(o->cost));
        return -1;
    }
    if (o->with_qat && (o->cost == QB_COST_NONE || lp)) {
        fprintf(stderr, "qbench %s: --with-qat applies to -p mixed --cost latency|bytes|energy%s\n", verb,
                lp ? ", without --plan (QAT fine-tunes every layer)" : "");
        return -1;
    }
    if (o->isa >= 0) {
        const qb_kernel *k = qb_kernel_get(QB_OP_GEMM, QB_PREC_FP32, (qb_isa)o->isa);
        char why[200] = "";
        if (!k || !qb_kernel_available(k, why, sizeof why)) {
            fprintf(stderr, "qbench %s: ISA %s cannot run on this CPU: %s\n", verb, qb_isa_name(o->isa), why);
            return -1;
        }
    }
    return 0;
}

void qb_data_source_print(FILE *f, const qb_pipeline_opts *o, const qb_pipeline_data *d, int calibrated)
{
    if (d->eval.x) {
        const qb_inputs *in = &d->inputs;
        int nc = d->calib.n, ne = d->eval.n;
        fprintf(f, "  data: %d inputs from %s (%s)%s; ", in->n, o->data, in->kinds,
                in->labels ? ", labelled" : ", no labels");
        if (calibrated)
            fprintf(f, "calibration on the first %d (%s .. %s), ", nc, in->source[0], in->source[nc - 1]);
        else
            fprintf(f, "the first %d (%s .. %s) kept for calibration, ", nc, in->source[0], in->source[nc - 1]);
        fprintf(f, "evaluation on %d others (%s .. %s): never the same inputs\n", ne, in->source[nc],
                in->source[nc + ne - 1]);
    } else if (!d->eval.d) {
        if (calibrated)
            fprintf(f, "  data: SYNTHETIC - calibration on %d and evaluation on %d seeded N(0,1) inputs, not real data "
                       "(give --data DIR for the model's own inputs)\n", d->calib.n, d->eval.n);
        else
            fprintf(f, "  data: SYNTHETIC - evaluation on %d seeded N(0,1) inputs, not real data (give --data DIR)\n",
                    d->eval.n);
    } else {
        if (calibrated)
            fprintf(f, "  data: %s: calibration on %d training images, evaluation on %d test images\n",
                    d->eval.d->name, d->calib.n, d->eval.n);
        else
            fprintf(f, "  data: %s: evaluation on %d test images\n", d->eval.d->name, d->eval.n);
    }
}
