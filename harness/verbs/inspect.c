/*
 * inspect.c - `qbench inspect MODEL.onnx [--shape AxB...]`: the model's
 * inputs and outputs with shapes, one row per layer (op, output shape,
 * parameters, MACs, precision) and the totals: parameters, the bytes
 * they take in the file, and the model's precision (a QDQ, fp16 or
 * com.qbench file is labelled by what it holds). Shapes are for batch 1
 * unless --shape NAME=AxB (or AxB by position) says otherwise.
 */
#include <stdio.h>
#include <string.h>

#include "harness/verbs/model_args.h"
#include "harness/verbs/usage.h"
#include "harness/verbs/verbs.h"

/* A usage error: the message, then the synopsis from the verb table. */
static int usage(const char *msg, const char *arg)
{
    return qb_usage_error("inspect", msg, arg);
}

static void print_value(const qb_tensor *t)
{
    char sh[160];
    qb_shape_str(t->ndim, t->dims, sh, sizeof sh);
    printf("  %-24s %-8s %s%s\n", t->name, qb_dtype_name(t->dtype), sh, t->sym[0] ? " (batch dimension symbolic)" : "");
}

int qb_verb_inspect(int argc, char **argv)
{
    const char *model = NULL;
    static qb_input_shapes shapes; /* --shape [NAME=]AxB, applied when the model loads */
    qb_err e = {0};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--shape")) {
            if (i + 1 >= argc)
                return usage("missing value after %s", argv[i]);
            if (qb_input_shape_parse(argv[++i], &shapes, &e))
                return usage("%s", e.msg);
            qb_load_shapes = &shapes;
        } else if (argv[i][0] == '-') {
            return usage("unknown option %s", argv[i]);
        } else if (model) {
            return usage("more than one model: %s", argv[i]);
        } else {
            model = argv[i];
        }
    }
    if (!model)
        return usage("%s", "missing MODEL.onnx");
    qb_graph *g = qb_onnx_load(model, &e);
    if (!g) {
        fprintf(stderr, "qbench inspect: %s\n", e.msg);
        return 2;
    }
    int ninputs = g->ninputs, sym[QB_MAX_INPUTS] = {0};
    for (int i = 0; i < ninputs && i < QB_MAX_INPUTS; i++)
        sym[i] = g->tensors[g->inputs[i]]->sym[0];
    if (qb_graph_prepare(g, NULL, 0, -1, &e)) {
        fprintf(stderr, "qbench inspect: %s\n", e.msg);
        qb_graph_free(g);
        return 2;
    }
    printf("model: %s (opset %d, %d nodes)\ninputs:\n", model, g->opset, g->nnodes);
    for (int i = 0; i < g->ninputs; i++) {
        qb_tensor *t = g->tensors[g->inputs[i]];
        t->sym[0] = i < QB_MAX_INPUTS ? sym[i] : 0;
        print_value(t);
    }
    printf("outputs:\n");
    for (int i = 0; i < g->noutputs; i++)
        print_value(g->tensors[g->outputs[i]]);
    printf("layers:\n  %-4s %-28s %-20s %-18s %12s %14s  %s\n", "#", "name", "op", "output", "params", "MACs",
           "precision");
    int64_t tp = 0, tm = 0, tb = 0;
    int row = 0;
    for (int i = 0; i < g->nnodes; i++) {
        const qb_node *n = &g->nodes[i];
        if (n->folded)
            continue;
        const qb_tensor *y = qb_out(g, n, 0);
        char sh[160] = "-";
        if (y)
            qb_shape_str(y->ndim, y->dims, sh, sizeof sh);
        int64_t b = 0, p = qb_node_params(g, n, &b), m = qb_node_macs(g, n);
        tp += p, tm += m, tb += b;
        int layer = !strcmp(n->op, "Conv") || !strcmp(n->op, "Gemm") || !strcmp(n->op, "MatMul");
        printf("  %-4d %-28.28s %-20s %-18s %12lld %14lld  %s\n", row++, n->name, n->op, sh, (long long)p, (long long)m,
               layer ? qb_precision_name(qb_node_precision(n)) : "");
    }
    int folded = 0;
    for (int i = 0; i < g->nnodes; i++)
        folded += g->nodes[i].folded;
    char prec[256];
    qb_model_precision(g, prec, sizeof prec);
    printf("total: %d layers (%d constant nodes folded), %lld parameters (%.2f MB stored, %.2f MB as fp32), %lld MACs, "
           "activation arena %.2f MB\nprecision: %s\n", row, folded, (long long)tp, tb / 1e6, tp * 4 / 1e6, (long long)tm,
           g->arena_bytes / 1e6, prec);
    qb_graph_free(g);
    return 0;
}
