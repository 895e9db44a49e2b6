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
 * --profile runs it 10 more times and prints the time per layer (with
 * the precision each layer ran in) and the split between kernels/ and
 * the rest. --repeat N warms up (3 runs and 50 ms at least), times N
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
#include "harness/verbs/model_args.h"
#include "harness/quant/pipeline.h"
#include "harness/verbs/pipeline_args.h"
#include "harness/verbs/usage.h"
#include "harness/verbs/verbs.h"

#define PROFILE_RUNS 10

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
    double w0 = qb_now_ms();
    for (int r = 0; r < 1000 && (r < 3 || qb_now_ms() - w0 < 50.0); r++)
        if (qb_graph_run(g, in, nin, e)) {
            free(t);
            return -1;
        }
    for (int r = 0; r < reps; r++) {
        double t0 = qb_now_ms();
        if (qb_graph_run(g, in, nin, e)) {
            free(t);
            return -1;
        }
        t[r] = qb_now_ms() - t0;
    }
    qsort(t, (size_t)reps, sizeof *t, cmp_double);
    double med = reps % 2 ? t[reps / 2] : 0.5 * (t[reps / 2 - 1] + t[reps / 2]);
    printf("latency: median %.4f ms min %.4f ms max %.4f ms runs %d peak_rss %.1f MiB arena %.2f MiB\n", med, t[0],
           t[reps - 1], reps, peak_rss_mib(), g->arena_bytes / 1048576.0);
    free(t);
    return 0;
}

static void print_profile(const qb_graph *g)
{
    double total = 0, kern = 0;
    for (int i = 0; i < g->nnodes; i++)
        if (!g->nodes[i].folded)
            total += g->nodes[i].time_ms, kern += g->nodes[i].kernel_ms;
    printf("profile (mean of %d runs, ms per inference):\n  %-28s %-20s %10s %10s %7s  %s\n", PROFILE_RUNS, "layer",
           "op", "total", "kernel", "share", "precision");
    for (int i = 0; i < g->nnodes; i++) {
        const qb_node *n = &g->nodes[i];
        if (n->folded)
            continue;
        if (n->fused_into >= 0) {
            printf("  %-28.28s %-20s %10s (fused into %s)\n", n->name, n->op, "-", g->nodes[n->fused_into].name);
            continue;
        }
        int layer = !strcmp(n->op, "Conv") || !strcmp(n->op, "Gemm") || !strcmp(n->op, "MatMul");
        printf("  %-28.28s %-20s %10.4f %10.4f %6.1f%%  %s%s%s\n", n->name, n->op, n->time_ms / PROFILE_RUNS,
               n->kernel_ms / PROFILE_RUNS, total > 0 ? 100 * n->time_ms / total : 0,
               layer ? qb_precision_name(qb_node_precision(n)) : "", n->q && n->q->kernel ? " " : "",
               n->q && n->q->kernel ? n->q->kernel->name : "");
    }
    printf("total %.4f ms: kernels %.4f ms (%.1f%%), outside kernels %.4f ms (%.1f%%)\n", total / PROFILE_RUNS,
           kern / PROFILE_RUNS, total > 0 ? 100 * kern / total : 0, (total - kern) / PROFILE_RUNS,
           total > 0 ? 100 * (total - kern) / total : 0);
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

int qb_verb_run(int argc, char **argv)
{
    const char *model = NULL, *outdir = NULL, *raw_pending = NULL;
    qb_tensor in[QB_MAX_INPUTS];
    int nin = 0, isa = -1, profile = 0, repeat = 0, rc = 2;
    memset(in, 0, sizeof in);
    qb_err e = {0};
    qb_pipeline_opts po;
    qb_pipeline_defaults(&po);
    po.dataset = "none"; /* calibration on seeded inputs unless -d names a dataset */
    int method_set = 0;
    qb_pipeline_data d;
    memset(&d, 0, sizeof d);
    static qb_input_shapes shapes; /* --shape [NAME=]AxB not after --input-raw: the model's input sizes */
    static qb_preproc pp;          /* --preprocess */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if ((!strcmp(a, "--data") || !strcmp(a, "--preprocess")) && i + 1 < argc) {
            if (!strcmp(a, "--data")) {
                po.data = argv[++i];
            } else {
                qb_preproc_defaults(&pp);
                if (qb_preproc_parse(argv[++i], "--preprocess", &pp, &e)) {
                    fprintf(stderr, "qbench run: %s\n", e.msg);
                    goto out;
                }
                po.pp = &pp;
            }
            continue;
        }
        if (!strcmp(a, "--shape") && !raw_pending && i + 1 < argc) {
            if (qb_input_shape_parse(argv[++i], &shapes, &e)) {
                fprintf(stderr, "qbench run: %s\n", e.msg);
                goto out;
            }
            qb_load_shapes = &shapes;
            continue;
        }
        int takes = !strcmp(a, "--input") || !strcmp(a, "--input-raw") || !strcmp(a, "--shape") || !strcmp(a, "-o") ||
                    !strcmp(a, "-p") || !strcmp(a, "-i") || !strcmp(a, "--method") || !strcmp(a, "-d") ||
                    !strcmp(a, "--data-dir") || !strcmp(a, "--calib") || !strcmp(a, "--repeat");
        if (takes && i + 1 >= argc) {
            rc = usage("missing value after %s", a);
            goto out;
        }
        if (!strcmp(a, "--input")) {
            if (nin == QB_MAX_INPUTS) {
                rc = usage("more than %s inputs", "16");
                goto out;
            }
            if (qb_tensor_load_pb(argv[++i], &in[nin], &e)) {
                fprintf(stderr, "qbench run: %s\n", e.msg);
                goto out;
            }
            nin++;
        } else if (!strcmp(a, "--input-raw")) {
            if (raw_pending) {
                rc = usage("--input-raw %s has no --shape", raw_pending);
                goto out;
            }
            raw_pending = argv[++i];
        } else if (!strcmp(a, "--shape")) {
            const char *s = argv[++i];
            if (nin == QB_MAX_INPUTS || qb_parse_shape(s, &in[nin])) {
                rc = usage("bad shape '%s' (want e.g. 1x3x32x32)", s);
                goto out;
            }
            if (qb_load_raw(raw_pending, &in[nin], &e)) {
                fprintf(stderr, "qbench run: %s\n", e.msg);
                goto out;
            }
            nin++;
            raw_pending = NULL;
        } else if (!strcmp(a, "-o")) {
            outdir = argv[++i];
        } else if (!strcmp(a, "-p")) {
            const char *p = argv[++i];
            int prec = qb_precision_parse(p);
            if (prec < 0) {
                rc = usage("unknown precision '%s'", p);
                goto out;
            }
            po.prec = (qb_precision)prec;
        } else if (!strcmp(a, "-i")) {
            isa = qb_isa_parse(argv[++i]);
            if (isa < 0) {
                rc = usage("unknown isa '%s'", argv[i]);
                goto out;
            }
        } else if (!strcmp(a, "--profile")) {
            profile = 1;
        } else if (!strcmp(a, "--repeat")) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v <= 0 || v > 1000000) {
                rc = usage("bad --repeat '%s' (a positive integer)", argv[i]);
                goto out;
            }
            repeat = (int)v;
        } else if (!strcmp(a, "--method")) {
            po.method = argv[++i];
            method_set = 1;
        } else if (!strcmp(a, "-d")) {
            po.dataset = argv[++i];
        } else if (!strcmp(a, "--data-dir")) {
            po.data_dir = argv[++i];
        } else if (!strcmp(a, "--calib")) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v <= 0 || v > 100000) {
                rc = usage("bad --calib '%s'", argv[i]);
                goto out;
            }
            po.calib = (int)v;
            po.calib_given = 1;
        } else if (a[0] == '-') {
            rc = usage("unknown option %s", a);
            goto out;
        } else if (model) {
            rc = usage("more than one model: %s", a);
            goto out;
        } else {
            model = a;
        }
    }
    if (raw_pending) {
        rc = usage("--input-raw %s has no --shape", raw_pending);
        goto out;
    }
    if (!model) {
        rc = usage("%s", "missing MODEL.onnx");
        goto out;
    }
    if (!outdir) {
        rc = usage("%s", "missing -o OUTDIR");
        goto out;
    }
    po.model = model;
    if (!method_set && !qb_precision_is_float(po.prec))
        po.method = "ptq-percentile";
    if (po.data)
        po.dataset = po.data;
    int need_data = po.prec != QB_PREC_FP32 || (po.data && !nin);
    if (need_data && qb_pipeline_data_open(&po, &d, &e)) {
        fprintf(stderr, "qbench run: %s\n", e.msg);
        goto out;
    }
    /* the first evaluation sample of the folder (never a calibration one), every input of it */
    for (int k = 0; !nin && po.data && k < d.inputs.ninputs; k++) {
        qb_tensor *t = &in[k];
        const qb_tensor *w = &d.inputs.in[k];
        t->name = strdup(w->name);
        t->dtype = w->dtype;
        t->ndim = w->ndim;
        memcpy(t->dims, w->dims, sizeof t->dims);
        t->has_shape = 1;
        size_t bytes = (size_t)qb_tensor_count(w) * qb_dtype_size(w->dtype);
        t->data = malloc(bytes + 1);
        if (!t->name || !t->data) {
            fprintf(stderr, "qbench run: out of memory\n");
            free(t->name);
            t->name = NULL;
            goto out;
        }
        memcpy(t->data, qb_inputs_at(&d.inputs, k, d.calib.n), bytes);
        if (k + 1 == d.inputs.ninputs) {
            nin = d.inputs.ninputs;
            fprintf(stderr, "qbench run: input %s of %s\n", d.inputs.source[d.calib.n], po.data);
        }
    }
    qb_graph *g = po.prec == QB_PREC_FP32 ? qb_onnx_load(model, &e) : quantized(&po, &d, &e);
    if (!g) {
        fprintf(stderr, "qbench run: %s\n", e.msg);
        goto out;
    }
    if (nin != g->ninputs) {
        fprintf(stderr, "qbench run: %s: the model has %d inputs, %d given\n", model, g->ninputs, nin);
        qb_graph_free(g);
        goto out;
    }
    if (qb_graph_prepare(g, in, nin, isa, &e) || qb_graph_run(g, in, nin, &e)) {
        fprintf(stderr, "qbench run: %s\n", e.msg);
        qb_graph_free(g);
        goto out;
    }
    if (mkdir(outdir, 0777) && errno != EEXIST) {
        fprintf(stderr, "qbench run: %s: cannot create the directory\n", outdir);
        qb_graph_free(g);
        goto out;
    }
    rc = 0;
    for (int i = 0; i < g->noutputs && !rc; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/output_%d.pb", outdir, i);
        if (qb_tensor_save_pb(path, g->tensors[g->outputs[i]], &e)) {
            fprintf(stderr, "qbench run: %s\n", e.msg);
            rc = 2;
        }
    }
    if (!rc)
        printf("%s: %d outputs written to %s (%s %s, fp32 gemm kernel %s)\n", model, g->noutputs, outdir,
               qb_precision_name(po.prec), po.method, g->gemm->name);
    if (!rc && repeat && print_latency(g, in, nin, repeat, &e)) {
        fprintf(stderr, "qbench run: %s\n", e.msg);
        rc = 2;
    }
    if (!rc && need_data)
        qb_data_source_print(stdout, &po, &d, po.prec != QB_PREC_FP32);
    if (!rc) {
        char prec[256];
        qb_model_precision(g, prec, sizeof prec);
        printf("  layers: %s\n", prec);
    }
    if (!rc && profile) {
        g->profile = 1;
        for (int r = 0; r < PROFILE_RUNS; r++)
            qb_graph_run(g, in, nin, &e);
        print_profile(g);
    }
    qb_graph_free(g);
out:
    qb_pipeline_data_close(&d);
    for (int i = 0; i < QB_MAX_INPUTS; i++) { /* zeroed at the start: unused ones are NULL */
        free(in[i].name);
        free(in[i].data);
    }
    return rc;
}
