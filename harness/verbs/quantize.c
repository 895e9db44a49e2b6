/*
 * quantize.c - `qbench quantize MODEL.onnx -p PREC [--method M] -d DATASET
 * -o OUT.onnx`: calibrate on training samples (as qbench eval), build the
 * quantized graph for the precision (or the mixed plan), prepare it and
 * write it as ONNX: int8 as standard QDQ, fp16 as float16 initializers,
 * int4 and binary in the com.qbench domain (harness/graph/qdq.h).
 * Reloading the file into qbench reproduces the quantized outputs.
 * Input errors: exit code 2.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness/graph/qdq.h"
#include "harness/quant/pipeline.h"
#include "harness/verbs/verbs.h"

static int usage(const char *msg, const char *arg)
{
    fprintf(stderr, "qbench quantize: ");
    fprintf(stderr, msg, arg);
    fprintf(stderr, "\nusage: qbench quantize MODEL.onnx -p fp16|int8-tensor|int8-channel|int4|binary|mixed [--method M] "
                    "[-d fashion-mnist|synthetic|none|NAME]\n"
                    "       [--data-dir DIR] -o OUT.onnx [-i ISA] [--calib N] [--batch B] [--symmetric] "
                    "[--percentile P] [--group G]\n"
                    "       [--binary-all] [--budget PT] [--val N] [--seed S] [-v]\n");
    return 2;
}

/* A positive integer option value, or -1. */
static long num(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    return *s && !*end && v > 0 && v < (1L << 30) ? v : -1;
}

/* How a layer of precision p is written. */
static const char *format_of(qb_precision p)
{
    switch (p) {
    case QB_PREC_FP16: return "float16 initializer + Cast";
    case QB_PREC_INT8_TENSOR: return "QDQ, per-tensor weights";
    case QB_PREC_INT8_CHANNEL: return "QDQ, per-channel weights";
    case QB_PREC_INT4: return "com.qbench.DequantizeInt4, QDQ input";
    case QB_PREC_BINARY: return "com.qbench.DequantizeBinary + BinarizeInput";
    default: return "float";
    }
}

int qb_verb_quantize(int argc, char **argv)
{
    qb_pipeline_opts o;
    qb_pipeline_defaults(&o);
    const char *out = NULL;
    int method_set = 0, prec_set = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--symmetric")) {
            o.symmetric = 1;
        } else if (!strcmp(a, "--binary-all")) {
            o.qo.binary_ends_int8 = 0;
        } else if (!strcmp(a, "-v")) {
            o.verbose = 1;
        } else if (a[0] == '-' && a[1]) {
            if (i + 1 >= argc)
                return usage("missing value after %s", a);
            const char *v = argv[++i];
            long x;
            if (!strcmp(a, "-d")) {
                o.dataset = v;
            } else if (!strcmp(a, "--data-dir")) {
                o.data_dir = v;
            } else if (!strcmp(a, "-o")) {
                out = v;
            } else if (!strcmp(a, "-p")) {
                int p = qb_precision_parse(v);
                if (p < 0 || p == QB_PREC_FP32)
                    return usage("bad precision '%s' (fp16 int8-tensor int8-channel int4 binary mixed)", v);
                o.prec = (qb_precision)p;
                prec_set = 1;
            } else if (!strcmp(a, "--method")) {
                o.method = v;
                method_set = 1;
                if (strcmp(v, "none") && strcmp(v, "qat") && qb_calib_parse(v) < 0)
                    return usage("unknown method '%s' (none ptq-minmax ptq-percentile ptq-mse ptq-kl qat)", v);
            } else if (!strcmp(a, "-i")) {
                if ((o.isa = qb_isa_parse(v)) < 0)
                    return usage("unknown ISA '%s'", v);
            } else if (!strcmp(a, "--calib") || !strcmp(a, "--val") || !strcmp(a, "--batch") ||
                       !strcmp(a, "--seed") || !strcmp(a, "--group")) {
                if ((x = num(v)) < 0)
                    return usage("bad value '%s' (a positive integer)", v);
                if (!strcmp(a, "--calib"))
                    o.calib = (int)x;
                else if (!strcmp(a, "--val"))
                    o.val = (int)x;
                else if (!strcmp(a, "--batch"))
                    o.batch = (int)x;
                else if (!strcmp(a, "--seed"))
                    o.seed = (uint64_t)x;
                else if (x != 32 && x != 64 && x != 128)
                    return usage("bad --group '%s' (32, 64 or 128; leave it out for per channel)", v);
                else
                    o.qo.group = (int)x;
            } else if (!strcmp(a, "--budget") || !strcmp(a, "--percentile")) {
                char *end;
                double dv = strtod(v, &end);
                if (!*v || *end || !isfinite(dv) || dv < 0 || (!strcmp(a, "--percentile") && (dv <= 50 || dv > 100)))
                    return usage("bad value '%s'", v);
                if (!strcmp(a, "--budget"))
                    o.budget = dv;
                else
                    o.percentile = dv;
            } else {
                return usage("unknown option %s", a);
            }
        } else if (o.model) {
            return usage("more than one model: %s", a);
        } else {
            o.model = a;
        }
    }
    if (!o.model)
        return usage("missing MODEL.onnx%s", "");
    if (!prec_set)
        return usage("missing -p PREC%s", "");
    if (!out)
        return usage("missing -o OUT.onnx%s", "");
    if (!method_set && o.prec != QB_PREC_FP16)
        o.method = "ptq-percentile";
    if (!strcmp(o.method, "qat")) {
        fprintf(stderr, "qbench quantize: method qat: not implemented yet (quantization-aware training is the open "
                        "part of issue 5)\n");
        return 2;
    }
    if (o.isa >= 0) {
        const qb_kernel *k = qb_kernel_get(QB_OP_GEMM, QB_PREC_FP32, (qb_isa)o.isa);
        char why[200] = "";
        if (!k || !qb_kernel_available(k, why, sizeof why)) {
            fprintf(stderr, "qbench quantize: ISA %s cannot run on this CPU: %s\n", qb_isa_name(o.isa), why);
            return 2;
        }
    }
    qb_err e;
    qb_pipeline_data d;
    qb_pipeline_result r;
    if (qb_pipeline_data_open(&o, &d, &e)) {
        fprintf(stderr, "qbench quantize: %s\n", e.msg);
        return 2;
    }
    int rc = 2;
    if (qb_pipeline_plan(&o, &d, &r, &e)) {
        fprintf(stderr, "qbench quantize: %s\n", e.msg);
        qb_pipeline_data_close(&d);
        return 2;
    }
    qb_runner run;
    qb_graph *g = qb_pipeline_graph(&o, &r, &e);
    if (!g || qb_runner_open(&run, g, 1, o.isa, &e)) {
        fprintf(stderr, "qbench quantize: %s\n", e.msg);
        goto out;
    }
    if (qb_qdq_save(run.g, out, &e)) {
        fprintf(stderr, "qbench quantize: %s\n", e.msg);
        qb_runner_close(&run);
        goto out;
    }
    struct stat st;
    long long bytes = stat(out, &st) == 0 ? (long long)st.st_size : -1;
    int nq = 0;
    for (int i = 0; i < run.g->nnodes; i++)
        nq += run.g->nodes[i].q != NULL;
    printf("%s: %s %s, %d of %d layers quantized, layer weights %lld bytes", o.model, qb_precision_name(o.prec),
           o.method, nq, r.cal.n, (long long)r.weight_bytes);
    if (r.calib_seconds > 0)
        printf(", calibration %.2f s on %d samples", r.calib_seconds, r.cal.samples);
    printf("\nwrote %s (%lld bytes)\n", out, bytes);
    printf("  %-28s %-7s %-13s %s\n", "layer", "op", "precision", "written as");
    for (int i = 0; i < run.g->nnodes; i++) {
        const qb_node *n = &run.g->nodes[i];
        if (strcmp(n->op, "Conv") && strcmp(n->op, "Gemm") && strcmp(n->op, "MatMul"))
            continue;
        qb_precision p = n->q ? n->q->run_prec : QB_PREC_FP32;
        printf("  %-28s %-7s %-13s %s", n->name, n->op, qb_precision_name(p), format_of(p));
        if (n->q && n->q->prec != p)
            printf(" (%s depthwise layer runs %s)", qb_precision_name(n->q->prec), qb_precision_name(p));
        printf("\n");
    }
    qb_runner_close(&run);
    rc = 0;
out:
    qb_pipeline_result_free(&r);
    qb_pipeline_data_close(&d);
    return rc;
}
