/*
 * inspect.c - `qbench inspect MODEL.onnx [--shape AxB...]`: the model's
 * inputs and outputs with shapes, one row per layer (op, output shape,
 * parameters, MACs) and the totals. Shapes are for batch 1 unless --shape
 * says otherwise (one --shape per graph input, in order).
 */
#include <stdio.h>
#include <string.h>

#include "harness/verbs/model_args.h"
#include "harness/verbs/verbs.h"

static int usage(const char *msg, const char *arg)
{
    fprintf(stderr, "qbench inspect: ");
    fprintf(stderr, msg, arg);
    fprintf(stderr, "\nusage: qbench inspect MODEL.onnx [--shape AxBxC ...]\n");
    return 2;
}

static int64_t node_params(const qb_graph *g, const qb_node *n)
{
    int64_t p = 0;
    for (int j = 0; j < n->nin; j++) {
        const qb_tensor *t = qb_in(g, n, j);
        if (t && t->kind == QB_T_CONST && t->dtype == QB_DT_FLOAT && t->producer < 0)
            p += qb_tensor_count(t);
    }
    return p;
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
    qb_tensor shapes[QB_MAX_INPUTS];
    int nshapes = 0;
    memset(shapes, 0, sizeof shapes);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--shape")) {
            if (i + 1 >= argc)
                return usage("missing value after %s", argv[i]);
            if (nshapes == QB_MAX_INPUTS || qb_parse_shape(argv[++i], &shapes[nshapes]))
                return usage("bad shape '%s' (want e.g. 1x3x224x224)", argv[i]);
            nshapes++;
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
    qb_err e = {""};
    qb_graph *g = qb_onnx_load(model, &e);
    if (!g) {
        fprintf(stderr, "qbench inspect: %s\n", e.msg);
        return 2;
    }
    if (nshapes && nshapes != g->ninputs) {
        fprintf(stderr, "qbench inspect: %s: the model has %d inputs, %d --shape given\n", model, g->ninputs, nshapes);
        qb_graph_free(g);
        return 2;
    }
    int ninputs = g->ninputs, sym[QB_MAX_INPUTS] = {0};
    for (int i = 0; i < ninputs && i < QB_MAX_INPUTS; i++)
        sym[i] = g->tensors[g->inputs[i]]->sym[0];
    if (qb_graph_prepare(g, nshapes ? shapes : NULL, nshapes, -1, &e)) {
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
    printf("layers:\n  %-4s %-28s %-20s %-18s %12s %14s\n", "#", "name", "op", "output", "params", "MACs");
    int64_t tp = 0, tm = 0;
    int row = 0;
    for (int i = 0; i < g->nnodes; i++) {
        const qb_node *n = &g->nodes[i];
        if (n->folded)
            continue;
        const qb_tensor *y = qb_out(g, n, 0);
        char sh[160] = "-";
        if (y)
            qb_shape_str(y->ndim, y->dims, sh, sizeof sh);
        int64_t p = node_params(g, n), m = qb_node_macs(g, n);
        tp += p, tm += m;
        printf("  %-4d %-28.28s %-20s %-18s %12lld %14lld\n", row++, n->name, n->op, sh, (long long)p, (long long)m);
    }
    int folded = 0;
    for (int i = 0; i < g->nnodes; i++)
        folded += g->nodes[i].folded;
    printf("total: %d layers (%d constant nodes folded), %lld parameters (%.2f MB fp32), %lld MACs, "
           "activation arena %.2f MB\n", row, folded, (long long)tp, tp * 4 / 1e6, (long long)tm, g->arena_bytes / 1e6);
    qb_graph_free(g);
    return 0;
}
