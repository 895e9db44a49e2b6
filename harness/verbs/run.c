/*
 * run.c - `qbench run MODEL.onnx --input input_0.pb ... -o OUTDIR [-p PREC
 * [--method M] [-d DATASET] [--calib N]] [-i ISA] [--profile]`: one
 * inference on ONNX TensorProto inputs (or `--input-raw FILE --shape AxB`
 * for raw little-endian float32), outputs written to OUTDIR/output_N.pb.
 * A precision other than fp32 quantizes the model first (calibrated on
 * the dataset's training images, or on seeded inputs without -d).
 * --data DIR calibrates on the folder's first --calib inputs and, without
 * --input, runs the first input after them; --shape [NAME=]AxB (when not
 * right after --input-raw) fixes the model's symbolic input sizes.
 * --plan FILE quantizes it by a layer plan (its [plan] precision and
 * method unless -p / --method are given; layers no rule sets: -p, else fp32).
 * --profile runs it once more to warm up, then max(21, N of --repeat)
 * times and prints the median time per layer (with the precision each
 * layer ran in) and the medians of the split between kernels/ and the
 * rest. --repeat N warms up (3 runs and 50 ms at least), times N
 * more inferences one by one and prints their median, minimum and maximum and the process's peak resident
 * memory (scripts/bench-runtimes reads that line).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "harness/graph/ops.h"
#include "harness/graph/prof_clock.h"
#include "harness/measure/timer.h"
#include "harness/verbs/model_args.h"
#include "harness/quant/pipeline.h"
#include "harness/verbs/pipeline_args.h"
#include "harness/verbs/usage.h"
#include "harness/verbs/verbs.h"

#define PROFILE_RUNS 21 /* --profile runs at least (more with --repeat) */

/* A usage error: the message, then the synopsis from the verb table. */
static int usage(const char *msg, const char *arg)
{
    return qb_usage_error("run", msg, arg);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Peak resident memory of this process in MiB: VmHWM of /proc/self/status
 * (per address space: not inherited from the parent as getrusage's
 * maximum is across fork and exec), else getrusage. */
static double peak_rss_mib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6))
            kb = strtol(line + 6, NULL, 10);
    if (f)
        fclose(f);
    if (kb < 0) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        kb = ru.ru_maxrss;
    }
    return kb / 1024.0;
}

/* --repeat: time reps more inferences one by one; one "latency" line. */
static int print_latency(qb_graph *g, const qb_tensor *in, int nin, int reps, qb_err *e)
{
    double *t = malloc((size_t)reps * sizeof *t);
    if (!t)
        return -1;
    /* warm-up: at least 3 runs and 50 ms (caches, branch predictors, clock
     * ramp of a fresh process), at most 1000 runs */
    double w0 = qb_now() * 1e3; /* CLOCK_MONOTONIC, not the profile's clock */
    for (int r = 0; r < 1000 && (r < 3 || qb_now() * 1e3 - w0 < 50.0); r++)
        if (qb_graph_run(g, in, nin, e)) {
            free(t);
            return -1;
        }
    for (int r = 0; r < reps; r++) {
        double t0 = qb_now() * 1e3;
        if (qb_graph_run(g, in, nin, e)) {
            free(t);
            return -1;
        }
        t[r] = qb_now() * 1e3 - t0;
    }
    qsort(t, (size_t)reps, sizeof *t, cmp_double);
    double med = reps % 2 ? t[reps / 2] : 0.5 * (t[reps / 2 - 1] + t[reps / 2]);
    printf("latency: median %.4f ms min %.4f ms max %.4f ms runs %d peak_rss %.1f MiB arena %.2f MiB\n", med, t[0],
           t[reps - 1], reps, peak_rss_mib(), g->arena_bytes / 1048576.0);
    free(t);
    return 0;
}

static double median_of(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* --profile: one warm-up run, then runs timed node by node; each node's
 * time (and kernel time) is the median over the runs, the total line the
 * medians of the per-run totals. -1 when out of memory or a run fails. */
static int print_profile(qb_graph *g, const qb_tensor *in, int nin, int runs, qb_err *e)
{
    int nn = g->nnodes;
    double *tm = malloc(sizeof(double) * (size_t)(nn + 3) * 2 * (size_t)runs), *col = malloc(sizeof(double) * (size_t)runs);
    if (!tm || !col) {
        free(tm);
        free(col);
        return -1;
    }
    qb_prof_clock_init(); /* calibrated before the runs, not inside the first node */
    g->profile = 1;
    for (int r = -1; r < runs; r++) {
        for (int i = 0; i < nn; i++)
            g->nodes[i].time_ms = g->nodes[i].kernel_ms = 0;
        if (qb_graph_run(g, in, nin, e)) {
            free(tm);
            free(col);
            return -1;
        }
        if (r < 0)
            continue; /* warm-up */
        double total = 0, kern = 0;
        for (int i = 0; i < nn; i++) {
            tm[((size_t)i * 2) * runs + r] = g->nodes[i].time_ms;
            tm[((size_t)i * 2 + 1) * runs + r] = g->nodes[i].kernel_ms;
            if (!g->nodes[i].folded)
                total += g->nodes[i].time_ms, kern += g->nodes[i].kernel_ms;
        }
        tm[((size_t)nn * 2) * runs + r] = total;
        tm[((size_t)nn * 2 + 1) * runs + r] = kern;
        tm[((size_t)nn * 2 + 2) * runs + r] = total - kern;
    }
    double med[3]; /* total, kernels, outside: medians of the per-run sums */
    for (int k = 0; k < 3; k++) {
        memcpy(col, tm + ((size_t)nn * 2 + k) * runs, sizeof(double) * (size_t)runs);
        med[k] = median_of(col, runs);
    }
    printf("profile (median of %d runs, ms per inference, %s clock):\n  %-28s %-20s %10s %10s %7s  %s\n", runs,
           qb_prof_clock_name(), "layer", "op",
           "total", "kernel", "share", "precision");
    for (int i = 0; i < nn; i++) {
        const qb_node *n = &g->nodes[i];
        if (n->folded)
            continue;
        if (n->fused_into >= 0) {
            printf("  %-28.28s %-20s %10s (fused into %s)\n", n->name, n->op, "-", g->nodes[n->fused_into].name);
            continue;
        }
        memcpy(col, tm + ((size_t)i * 2) * runs, sizeof(double) * (size_t)runs);
        double t = median_of(col, runs);
        memcpy(col, tm + ((size_t)i * 2 + 1) * runs, sizeof(double) * (size_t)runs);
        double k = median_of(col, runs);
        int layer = !strcmp(n->op, "Conv") || !strcmp(n->op, "Gemm") || !strcmp(n->op, "MatMul");
        printf("  %-28.28s %-20s %10.4f %10.4f %6.1f%%  %s%s%s\n", n->name, n->op, t, k,
               med[0] > 0 ? 100 * t / med[0] : 0, layer ? qb_precision_name(qb_node_precision(n)) : "",
               n->q && n->q->kernel ? " " : "", n->q && n->q->kernel ? n->q->kernel->name : "");
    }
    printf("total %.4f ms: kernels %.4f ms (%.1f%%), outside kernels %.4f ms (%.1f%%)\n", med[0], med[1],
           med[0] > 0 ? 100 * med[1] / med[0] : 0, med[2], med[0] > 0 ? 100 * med[2] / med[0] : 0);
    free(tm);
    free(col);
    return 0;
}

/* The model quantized as po says (calibration on po->dataset's training
 * images, the first inputs of --data DIR, or seeded inputs with "none")
 * with the data d (opened by the caller); NULL with a message. */
static qb_graph *quantized(const qb_pipeline_opts *po, qb_pipeline_data *d, qb_err *e)
{
    qb_pipeline_result r;
    qb_graph *g = NULL;
    if (!qb_pipeline_plan(po, d, &r, e)) {
        g = qb_pipeline_graph(po, &r, e);
        qb_pipeline_result_free(&r);
    }
    return g;
}

/* What `qbench run` was asked to do: its options and the inputs read so far. */
typedef struct {
    const char *model;           /* MODEL.onnx, the one positional argument */
    const char *outdir;          /* -o OUTDIR: where output_N.pb go */
    const char *raw_pending;     /* --input-raw FILE still waiting for its --shape */
    qb_tensor in[QB_MAX_INPUTS]; /* the inputs, nin of them (unused ones zeroed) */
    int nin;                     /* number of inputs read */
    int isa;                     /* -i ISA, -1 = the best the CPU runs */
    int profile;                 /* --profile: time per layer, medians over max(PROFILE_RUNS, repeat) runs */
    int repeat;                  /* --repeat N: time N more inferences, 0 = no */
    int method_set;              /* --method given (else the precision's default) */
    qb_pipeline_opts po;         /* precision, method, calibration data */
} run_args;

enum { NOT_MINE = -1 }; /* a parse step that did not recognise the option */

/* An error with a message in e: print it; the exit code. */
static int fail(const qb_err *e)
{
    fprintf(stderr, "qbench run: %s\n", e->msg);
    return 2;
}

/* --data DIR, --preprocess SPEC and --shape [NAME=]AxB when not right
 * after --input-raw (the model's input sizes), given their value v:
 * 0, 2 on an error, or NOT_MINE. */
static int parse_data_option(run_args *ra, const char *a, const char *v, qb_err *e)
{
    static qb_input_shapes shapes; /* outlives the call: qb_load_shapes points at it */
    static qb_preproc pp;          /* ra->po.pp points at it */
    if (!strcmp(a, "--data")) {
        ra->po.data = v;
    } else if (!strcmp(a, "--preprocess")) {
        qb_preproc_defaults(&pp);
        if (qb_preproc_parse(v, "--preprocess", &pp, e))
            return fail(e);
        ra->po.pp = &pp;
    } else if (!strcmp(a, "--shape") && !ra->raw_pending) {
        if (qb_input_shape_parse(v, &shapes, e))
            return fail(e);
        qb_load_shapes = &shapes;
    } else if (!strcmp(a, "--plan")) { /* a layer plan (harness/quant/plan_file.h) */
        static qb_layer_plan plan;     /* ra->po.layer_plan points at it */
        if (ra->po.layer_plan)
            return usage("%s", "--plan given twice");
        if (qb_layer_plan_load(v, &plan, e))
            return fail(e);
        ra->po.layer_plan = &plan;
    } else {
        return NOT_MINE;
    }
    return 0;
}

/* Whether option a takes a value (the options parse_data_option handles
 * are tried before this). */
static int takes_value(const char *a)
{
    static const char *const valued[] = {"--input", "--input-raw", "--shape", "-o",      "-p",      "-i",
                                         "--method", "-d",         "--data-dir", "--calib", "--repeat", "--plan"};
    for (size_t k = 0; k < sizeof valued / sizeof *valued; k++)
        if (!strcmp(a, valued[k]))
            return 1;
    return 0;
}

/* --input FILE.pb, --input-raw FILE and the --shape AxB after it, given
 * their value v: 0, 2 on an error, or NOT_MINE. */
static int parse_input_option(run_args *ra, const char *a, const char *v, qb_err *e)
{
    if (!strcmp(a, "--input")) {
        if (ra->nin == QB_MAX_INPUTS)
            return usage("more than %s inputs", "16");
        if (qb_tensor_load_pb(v, &ra->in[ra->nin], e))
            return fail(e);
        ra->nin++;
    } else if (!strcmp(a, "--input-raw")) {
        if (ra->raw_pending)
            return usage("--input-raw %s has no --shape", ra->raw_pending);
        ra->raw_pending = v;
    } else if (!strcmp(a, "--shape")) {
        if (ra->nin == QB_MAX_INPUTS || qb_parse_shape(v, &ra->in[ra->nin]))
            return usage("bad shape '%s' (want e.g. 1x3x32x32)", v);
        if (qb_load_raw(ra->raw_pending, &ra->in[ra->nin], e))
            return fail(e);
        ra->nin++;
        ra->raw_pending = NULL;
    } else {
        return NOT_MINE;
    }
    return 0;
}

/* A positive integer of at most max, or -1. */
static long positive(const char *v, long max)
{
    char *end;
    long n = strtol(v, &end, 10);
    return *end || n <= 0 || n > max ? -1 : n;
}

/* -o, -p, -i, --repeat, --method, -d, --data-dir, --calib, given their
 * value v: 0 or 2 on an error. */
static int parse_setting(run_args *ra, const char *a, const char *v)
{
    qb_pipeline_opts *po = &ra->po;
    if (!strcmp(a, "-o")) {
        ra->outdir = v;
    } else if (!strcmp(a, "-p")) {
        int prec = qb_precision_parse(v);
        if (prec < 0)
            return usage("unknown precision '%s'", v);
        po->prec = (qb_precision)prec;
        po->prec_given = 1;
    } else if (!strcmp(a, "-i")) {
        ra->isa = qb_isa_parse(v);
        if (ra->isa < 0)
            return usage("unknown isa '%s'", v);
    } else if (!strcmp(a, "--repeat")) {
        long n = positive(v, 1000000);
        if (n < 0)
            return usage("bad --repeat '%s' (a positive integer)", v);
        ra->repeat = (int)n;
    } else if (!strcmp(a, "--method")) {
        po->method = v;
        ra->method_set = 1;
    } else if (!strcmp(a, "-d")) {
        po->dataset = v;
    } else if (!strcmp(a, "--data-dir")) {
        po->data_dir = v;
    } else { /* --calib */
        long n = positive(v, 100000);
        if (n < 0)
            return usage("bad --calib '%s'", v);
        po->calib = (int)n;
        po->calib_given = 1;
    }
    return 0;
}

/* The command line into ra: 0, or the exit code after a message. */
static int parse_args(int argc, char **argv, run_args *ra, qb_err *e)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int rc = i + 1 < argc ? parse_data_option(ra, a, argv[i + 1], e) : NOT_MINE;
        if (rc != NOT_MINE) {
            if (rc)
                return rc;
            i++;
        } else if (takes_value(a)) {
            if (i + 1 >= argc)
                return usage("missing value after %s", a);
            const char *v = argv[++i];
            rc = parse_input_option(ra, a, v, e);
            if (rc == NOT_MINE)
                rc = parse_setting(ra, a, v);
            if (rc)
                return rc;
        } else if (!strcmp(a, "--profile")) {
            ra->profile = 1;
        } else if (a[0] == '-') {
            return usage("unknown option %s", a);
        } else if (ra->model) {
            return usage("more than one model: %s", a);
        } else {
            ra->model = a;
        }
    }
    if (ra->raw_pending)
        return usage("--input-raw %s has no --shape", ra->raw_pending);
    if (!ra->model)
        return usage("%s", "missing MODEL.onnx");
    if (!ra->outdir)
        return usage("%s", "missing -o OUTDIR");
    return 0;
}

/* Without inputs on the command line: the first evaluation sample of the
 * --data folder (never a calibration one), every input of it. 0, or 2
 * after a message. */
static int take_folder_sample(run_args *ra, const qb_pipeline_data *d)
{
    for (int k = 0; k < d->inputs.ninputs; k++) {
        qb_tensor *t = &ra->in[k];
        const qb_tensor *w = &d->inputs.in[k];
        t->name = strdup(w->name);
        t->dtype = w->dtype;
        t->ndim = w->ndim;
        memcpy(t->dims, w->dims, sizeof t->dims);
        t->has_shape = 1;
        size_t bytes = (size_t)qb_tensor_count(w) * qb_dtype_size(w->dtype);
        t->data = qb_data_alloc(bytes); /* aligned: the graph reads it in place */
        if (!t->name || !t->data) {
            fprintf(stderr, "qbench run: out of memory\n");
            free(t->name);
            t->name = NULL;
            return 2;
        }
        memcpy(t->data, qb_inputs_at(&d->inputs, k, d->calib.n), bytes);
        if (k + 1 == d->inputs.ninputs) {
            ra->nin = d->inputs.ninputs;
            fprintf(stderr, "qbench run: input %s of %s\n", d->inputs.source[d->calib.n], ra->po.data);
        }
    }
    return 0;
}

/* The model (quantized unless fp32), prepared and run once on ra's
 * inputs; NULL after a message. */
static qb_graph *load_and_run(const run_args *ra, qb_pipeline_data *d, qb_err *e)
{
    qb_graph *g = ra->po.prec == QB_PREC_FP32 && !ra->po.layer_plan ? qb_onnx_load(ra->model, e)
                                                                      : quantized(&ra->po, d, e);
    if (!g) {
        fail(e);
        return NULL;
    }
    if (ra->nin != g->ninputs) {
        fprintf(stderr, "qbench run: %s: the model has %d inputs, %d given\n", ra->model, g->ninputs, ra->nin);
        qb_graph_free(g);
        return NULL;
    }
    if (qb_graph_prepare(g, ra->in, ra->nin, ra->isa, e) || qb_graph_run(g, ra->in, ra->nin, e)) {
        fail(e);
        qb_graph_free(g);
        return NULL;
    }
    return g;
}

/* Every output of g as outdir/output_N.pb (the directory made if
 * missing): 0, or 2 after a message. */
static int write_outputs(const qb_graph *g, const char *outdir, qb_err *e)
{
    if (mkdir(outdir, 0777) && errno != EEXIST) {
        fprintf(stderr, "qbench run: %s: cannot create the directory\n", outdir);
        return 2;
    }
    for (int i = 0; i < g->noutputs; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/output_%d.pb", outdir, i);
        if (qb_tensor_save_pb(path, g->tensors[g->outputs[i]], e))
            return fail(e);
    }
    return 0;
}

/* After the outputs are written: the summary line, --repeat's latency,
 * the data source, the precision per layer, --profile's table. 0, or 2
 * after a message. */
static int print_report(const run_args *ra, qb_graph *g, const qb_pipeline_data *d, int need_data, qb_err *e)
{
    const qb_pipeline_opts *po = &ra->po;
    printf("%s: %d outputs written to %s (%s %s, fp32 gemm kernel %s)\n", ra->model, g->noutputs, ra->outdir,
           qb_precision_name(po->prec), po->method, g->gemm->name);
    if (ra->repeat && print_latency(g, ra->in, ra->nin, ra->repeat, e))
        return fail(e);
    if (need_data)
        qb_data_source_print(stdout, po, d, po->prec != QB_PREC_FP32 || po->layer_plan);
    if (po->layer_plan)
        printf("  plan %s (%s, hash %016llx)\n", po->layer_plan->name, po->layer_plan->file,
               (unsigned long long)po->layer_plan->hash);
    char prec[256];
    qb_model_precision(g, prec, sizeof prec);
    printf("  layers: %s\n", prec);
    if (ra->profile && print_profile(g, ra->in, ra->nin, ra->repeat > PROFILE_RUNS ? ra->repeat : PROFILE_RUNS, e)) {
        if (!e->msg[0])
            snprintf(e->msg, sizeof e->msg, "--profile: out of memory");
        return fail(e);
    }
    return 0;
}

/* Everything after the command line: data, model, one run, outputs,
 * report. 0, or 2 after a message. */
static int run_model(run_args *ra, qb_pipeline_data *d, qb_err *e)
{
    qb_pipeline_opts *po = &ra->po;
    po->model = ra->model;
    const qb_layer_plan *lp = po->layer_plan; /* its defaults, unless the command line gave them */
    if (lp && !po->prec_given && lp->prec >= 0)
        po->prec = (qb_precision)lp->prec;
    if (lp && !ra->method_set && lp->method >= 0) {
        po->method = qb_method_name((qb_method)lp->method);
        ra->method_set = 1;
    }
    if (!ra->method_set && !qb_precision_is_float(po->prec))
        po->method = "ptq-percentile";
    if (po->data)
        po->dataset = po->data;
    int need_data = po->prec != QB_PREC_FP32 || lp || (po->data && !ra->nin);
    if (need_data && qb_pipeline_data_open(po, d, e))
        return fail(e);
    if (!ra->nin && po->data && take_folder_sample(ra, d))
        return 2;
    qb_graph *g = load_and_run(ra, d, e);
    if (!g)
        return 2;
    int rc = write_outputs(g, ra->outdir, e);
    if (!rc)
        rc = print_report(ra, g, d, need_data, e);
    qb_graph_free(g);
    return rc;
}

int qb_verb_run(int argc, char **argv)
{
    run_args ra;
    memset(&ra, 0, sizeof ra);
    ra.isa = -1;
    qb_pipeline_defaults(&ra.po);
    ra.po.dataset = "none"; /* calibration on seeded inputs unless -d names a dataset */
    qb_pipeline_data d;
    memset(&d, 0, sizeof d);
    qb_err e = {0};
    int rc = parse_args(argc, argv, &ra, &e);
    if (!rc)
        rc = run_model(&ra, &d, &e);
    qb_pipeline_data_close(&d);
    for (int i = 0; i < QB_MAX_INPUTS; i++) { /* zeroed at the start: unused ones are NULL */
        free(ra.in[i].name);
        free(ra.in[i].data);
    }
    return rc;
}
