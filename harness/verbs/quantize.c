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
#include "harness/quant/plan_apply.h"
#include "harness/verbs/pipeline_args.h"
#include "harness/verbs/usage.h"
#include "harness/verbs/verbs.h"

/* A usage error: the message (NULL: already printed by the option
 * parser), then the synopsis from the verb table. */
static int usage(const char *msg, const char *arg)
{
    return msg ? qb_usage_error("quantize", msg, arg) : qb_usage_line("quantize");
}

/* How a layer of precision p is written. */
static const char *format_of(qb_precision p)
{
    switch (qb_precision_runs_as(p)) {
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
    const char *out = NULL, *save_plan = NULL;
    int method_set = 0;
    o.prec = QB_PREC_COUNT; /* required */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int k = qb_pipeline_arg(&o, argc, argv, &i, "quantize", &method_set);
        if (k < 0)
            return usage(NULL, NULL); /* the message is printed */
        if (k)
            continue;
        if (!strcmp(a, "-o")) {
            if (i + 1 >= argc)
                return usage("missing value after %s", a);
            out = argv[++i];
        } else if (!strcmp(a, "--save-plan")) {
            if (i + 1 >= argc)
                return usage("missing value after %s", a);
            save_plan = argv[++i];
        } else if (qb_pipeline_model_arg(&o, a, "quantize")) {
            return 2;
        }
    }
    if (qb_pipeline_args_done(&o, "quantize", method_set))
        return 2;
    if (o.prec == QB_PREC_COUNT)
        return usage("missing -p PREC%s", o.layer_plan ? " (or precision = PREC in the plan's [plan] section)" : "");
    if (o.prec == QB_PREC_FP32 && !o.layer_plan)
        return usage("bad precision 'fp32': quantize writes a quantized model (-p one of %s, other than fp32)",
                     qb_precision_list());
    if (!out)
        return usage("missing -o OUT.onnx%s", "");
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
    if (save_plan) {
        char head[1200];
        snprintf(head, sizeof head, "qbench layer plan of %.500s (%s %s), written by qbench quantize\n"
                 "reuse it with --plan FILE (docs/quantization.md, \"Layer plans\")", o.model,
                 qb_precision_name(o.prec), o.method);
        if (qb_pipeline_save_plan(&o, &r, save_plan, NULL,
                                  head, NULL, &e)) {
            fprintf(stderr, "qbench quantize: %s\n", e.msg);
            goto out;
        }
    }
    qb_runner run;
    qb_graph *g = qb_pipeline_graph(&o, &r, &e);
    if (!g || qb_runner_open_on(&run, g, 1, o.isa, &d.calib, &e)) {
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
    if (o.layer_plan)
        printf("%s: plan %s (%s, %016llx)\n", o.model, o.layer_plan->name, o.layer_plan->file,
               (unsigned long long)o.layer_plan->hash);
    if (save_plan)
        printf("wrote the plan to %s\n", save_plan);
    printf("%s: %s %s, %d of %d layers quantized, layer weights %lld bytes", o.model, qb_precision_name(o.prec),
           o.method, nq, r.cal.n, (long long)r.weight_bytes);
    if (r.calib_seconds > 0)
        printf(", calibration %.2f s on %d samples", r.calib_seconds, r.cal.samples);
    if (r.qat_seconds > 0)
        printf(", QAT fine-tuning %.1f s", r.qat_seconds);
    printf("\nwrote %s (%lld bytes)\n", out, bytes);
    qb_data_source_print(stdout, &o, &d, 1);
    printf("  %-28s %-7s %-13s %s\n", "layer", "op", "precision", "written as");
    for (int i = 0; i < run.g->nnodes; i++) {
        const qb_node *n = &run.g->nodes[i];
        if (strcmp(n->op, "Conv") && strcmp(n->op, "Gemm") && strcmp(n->op, "MatMul"))
            continue;
        qb_precision p = n->q ? n->q->run_prec : QB_PREC_FP32;
        printf("  %-28s %-7s %-13s %s", n->name, n->op, qb_precision_name(p), format_of(p));
        if (n->q && qb_precision_runs_as(n->q->prec) != p)
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
