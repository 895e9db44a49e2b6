/*
 * eval.c - `qbench eval MODEL.onnx -d DATASET [--data-dir DIR] [-i ISA]
 * [--csv]`: top-1 accuracy of an fp32 model on the dataset's test part,
 * normalised as for training (harness/data/named.c). Prints one line, or
 * with --csv the results header of DESIGN.md and one row (top1_accuracy
 * in percent; unmeasured fields empty). Batches of EVAL_BATCH images
 * (or the model's fixed batch size). Input errors: exit code 2.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/data/dataset.h"
#include "harness/graph/graph.h"
#include "harness/verbs/verbs.h"

#define EVAL_BATCH 100 /* images per prepared run */

static const char *const columns[] = {
    "run_id", "timestamp", "host", "cpu", "isa_flags", "compiler", "git_sha", "scenario", "model", "dataset",
    "precision", "method", "isa", "threads", "batch", "status", "note", "iterations", "latency_ms_min",
    "latency_ms_median", "latency_ms_mean", "latency_ms_p95", "latency_ms_p99", "latency_ms_stddev",
    "latency_cv", "throughput_ips", "counters_source", "cycles", "instructions", "l1d_misses", "l2_misses",
    "llc_misses", "energy_source", "energy_mj_model", "energy_mj_measured", "macs", "weight_bytes",
    "model_bytes", "peak_rss_kb", "eval_samples", "top1_accuracy", "fp32_top1_accuracy", "accuracy_drop_pt",
    "top1_agreement", "sqnr_db", "cosine", "max_abs_err", "kl_div"};

static int usage(const char *msg, const char *arg)
{
    fprintf(stderr, "qbench eval: ");
    fprintf(stderr, msg, arg);
    fprintf(stderr, "\nusage: qbench eval MODEL.onnx -d fashion-mnist|synthetic|NAME [--data-dir DIR] [-i ISA] [--csv]\n");
    return 2;
}

/* CSV field: quoted when it holds a comma or quote. */
static void field(const char *s, int last)
{
    if (strpbrk(s, ",\"\n")) {
        putchar('"');
        for (; *s; s++) {
            if (*s == '"')
                putchar('"');
            putchar(*s);
        }
        putchar('"');
    } else {
        fputs(s, stdout);
    }
    putchar(last ? '\n' : ',');
}

int qb_verb_eval(int argc, char **argv)
{
    const char *model = NULL, *data = "fashion-mnist", *dir = NULL;
    int csv = 0, isa = -1;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "--csv")) {
            csv = 1;
        } else if (!strcmp(o, "-d") || !strcmp(o, "--data-dir") || !strcmp(o, "-i")) {
            if (i + 1 >= argc)
                return usage("missing value after %s", o);
            const char *v = argv[++i];
            if (!strcmp(o, "-d"))
                data = v;
            else if (!strcmp(o, "--data-dir"))
                dir = v;
            else if ((isa = qb_isa_parse(v)) < 0)
                return usage("unknown ISA '%s'", v);
        } else if (o[0] == '-') {
            return usage("unknown option %s", o);
        } else if (model) {
            return usage("more than one model: %s", o);
        } else {
            model = o;
        }
    }
    if (!model)
        return usage("missing MODEL.onnx%s", "");
    char err[1024];
    qb_err e;
    qb_graph *g = qb_onnx_load(model, &e);
    if (!g) {
        fprintf(stderr, "qbench eval: %s\n", e.msg);
        return 2;
    }
    qb_dataset te;
    qb_norm norm;
    memset(&te, 0, sizeof te);
    int rc = 2;
    float *x = NULL;
    if (qb_dataset_open(data, dir, QB_SPLIT_TEST, &te, err, sizeof err) ||
        qb_dataset_norm(data, dir, &norm, err, sizeof err)) {
        fprintf(stderr, "qbench eval: %s\n", err);
        goto out;
    }
    if (g->ninputs != 1 || g->noutputs < 1) {
        fprintf(stderr, "qbench eval: %s: want one image input, has %d inputs\n", model, g->ninputs);
        goto out;
    }
    qb_tensor in = *g->tensors[g->inputs[0]];
    if (in.ndim != 4 || in.dims[1] != te.c || in.dims[2] != te.h || in.dims[3] != te.w) {
        char sh[160];
        qb_shape_str(in.ndim, in.dims, sh, sizeof sh);
        fprintf(stderr, "qbench eval: %s: input %s %s does not take %s images of %dx%dx%d\n", model, in.name, sh,
                te.name, te.c, te.h, te.w);
        goto out;
    }
    size_t ss = qb_dataset_sample_size(&te);
    /* a fixed batch dimension is kept; a symbolic one runs EVAL_BATCH images */
    int nb = in.sym[0] || in.dims[0] <= 0 || in.dims[0] > 4096 ? EVAL_BATCH : (int)in.dims[0];
    x = calloc(ss * (size_t)nb, sizeof(float));
    in.dims[0] = nb;
    in.data = x;
    if (!x || qb_graph_prepare(g, &in, 1, isa, &e)) {
        fprintf(stderr, "qbench eval: %s\n", x ? e.msg : "out of memory");
        goto out;
    }
    const qb_tensor *y = g->tensors[g->outputs[0]];
    int64_t classes = y->ndim == 2 && y->dims[0] == nb ? y->dims[1] : -1;
    if (classes < te.classes || y->dtype != QB_DT_FLOAT) {
        fprintf(stderr, "qbench eval: %s: output %s is not [N x %d] float scores\n", model, y->name, te.classes);
        goto out;
    }
    long correct = 0;
    for (int from = 0; from < te.n; from += nb) {
        int b = te.n - from < nb ? te.n - from : nb;
        memset(x, 0, sizeof(float) * ss * (size_t)nb);
        for (int k = 0; k < b; k++)
            qb_dataset_get(&te, from + k, &norm, x + (size_t)k * ss);
        if (qb_graph_run(g, &in, 1, &e)) {
            fprintf(stderr, "qbench eval: %s\n", e.msg);
            goto out;
        }
        const float *z = y->data;
        for (int k = 0; k < b; k++) {
            int arg = 0;
            for (int j = 1; j < classes; j++)
                if (z[k * classes + j] > z[k * classes + arg])
                    arg = j;
            correct += arg == te.labels[from + k];
        }
    }
    double acc = 100.0 * (double)correct / te.n;
    if (csv) {
        size_t nc = sizeof columns / sizeof columns[0];
        for (size_t i = 0; i < nc; i++)
            field(columns[i], i + 1 == nc);
        char n_s[32], acc_s[32], b_s[32];
        snprintf(n_s, sizeof n_s, "%d", te.n);
        snprintf(b_s, sizeof b_s, "%d", nb);
        snprintf(acc_s, sizeof acc_s, "%.2f", acc);
        for (size_t i = 0; i < nc; i++) {
            const char *c = columns[i], *v = "";
            if (!strcmp(c, "model"))
                v = model;
            else if (!strcmp(c, "dataset"))
                v = te.name;
            else if (!strcmp(c, "precision"))
                v = "fp32";
            else if (!strcmp(c, "method"))
                v = "none";
            else if (!strcmp(c, "isa"))
                v = g->gemm ? qb_isa_name(g->gemm->isa) : "";
            else if (!strcmp(c, "threads"))
                v = "1";
            else if (!strcmp(c, "batch"))
                v = b_s;
            else if (!strcmp(c, "status"))
                v = "ok";
            else if (!strcmp(c, "eval_samples"))
                v = n_s;
            else if (!strcmp(c, "top1_accuracy") || !strcmp(c, "fp32_top1_accuracy"))
                v = acc_s;
            field(v, i + 1 == nc);
        }
    } else {
        printf("%s on %s test set: %d images, top-1 accuracy %.2f%%\n", model, te.name, te.n, acc);
    }
    rc = 0;
out:
    free(x);
    qb_dataset_free(&te);
    qb_graph_free(g);
    return rc;
}
