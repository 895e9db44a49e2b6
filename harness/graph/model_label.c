/*
 * model_label.c - what a loaded model is, as `inspect`, `eval` and
 * `run --profile` print it: the precision of each Conv/Gemm/MatMul (from
 * the quantized layers its file holds: QDQ int8, float16 initializers,
 * com.qbench int4 and binary, recognised at load by qdq_import.c), a
 * one-line summary for the model, and a layer's parameters and stored
 * bytes (weights reached through folded DequantizeLinear / Cast /
 * com.qbench nodes and Constant nodes count too). See graph.h.
 */
#include <stdio.h>
#include <string.h>

#include "harness/graph/graph.h"

qb_precision qb_node_precision(const qb_node *n)
{
    if (!n->q)
        return QB_PREC_FP32;
    return n->q->kernel ? n->q->run_prec : n->q->prec; /* what runs, once prepared */
}

static int is_layer(const qb_node *n)
{
    return !strcmp(n->op, "Conv") || !strcmp(n->op, "Gemm") || !strcmp(n->op, "MatMul");
}

void qb_model_precision(const qb_graph *g, char *buf, size_t len)
{
    int count[QB_PREC_COUNT + 1] = {0}, layers = 0;
    for (int i = 0; i < g->nnodes; i++)
        if (is_layer(&g->nodes[i])) {
            layers++;
            count[qb_node_precision(&g->nodes[i])]++;
        }
    int kinds = 0;
    qb_precision only = QB_PREC_FP32;
    for (int p = 0; p < QB_PREC_COUNT; p++)
        if (count[p])
            kinds++, only = (qb_precision)p;
    if (kinds <= 1) {
        snprintf(buf, len, "%s (%d of %d layers)", qb_precision_name(only), count[only], layers);
        return;
    }
    size_t at = (size_t)snprintf(buf, len, "mixed (");
    for (int p = 0; p < QB_PREC_COUNT && at < len; p++)
        if (count[p])
            at += (size_t)snprintf(buf + at, len - at, "%s%s %d", at > 7 ? ", " : "", qb_precision_name((qb_precision)p),
                                   count[p]);
    if (at < len)
        snprintf(buf + at, len - at, " of %d layers)", layers);
}

qb_precision qb_model_precision_kind(const qb_graph *g)
{
    qb_precision kind = QB_PREC_FP32;
    for (int i = 0; i < g->nnodes; i++) {
        qb_precision p = is_layer(&g->nodes[i]) ? qb_node_precision(&g->nodes[i]) : QB_PREC_FP32;
        if (p == QB_PREC_FP32 || p == kind)
            continue;
        if (kind != QB_PREC_FP32)
            return QB_PREC_MIXED;
        kind = p;
    }
    return kind;
}

/* Bytes of the initializers behind constant tensor ti (through folded
 * producers), each counted once per call (seen[]). */
static int64_t stored_bytes(const qb_graph *g, int ti, int *seen, int *nseen, int depth)
{
    const qb_tensor *t = g->tensors[ti];
    for (int i = 0; i < *nseen; i++)
        if (seen[i] == ti)
            return 0;
    if (*nseen < 64)
        seen[(*nseen)++] = ti;
    if (t->producer < 0 || depth > 8)
        return t->kind == QB_T_CONST ? qb_tensor_count(t) * (int64_t)qb_dtype_size(t->dtype) : 0;
    const qb_node *p = &g->nodes[t->producer];
    if (!p->folded)
        return 0;
    if (!strcmp(p->op, "Constant")) /* weights written as a Constant node: its value is the stored tensor */
        return qb_tensor_count(t) * (int64_t)qb_dtype_size(t->dtype);
    int64_t b = 0;
    for (int j = 0; j < p->nin; j++)
        if (p->in[j] >= 0)
            b += stored_bytes(g, p->in[j], seen, nseen, depth + 1);
    return b;
}

int64_t qb_node_params(const qb_graph *g, const qb_node *n, int64_t *bytes)
{
    int64_t p = 0, b = 0;
    int seen[64], nseen = 0;
    for (int j = 0; j < n->nin; j++) {
        const qb_tensor *t = qb_in(g, n, j);
        if (!t || t->kind != QB_T_CONST || t->dtype != QB_DT_FLOAT)
            continue;
        if (t->producer >= 0 && !g->nodes[t->producer].folded)
            continue;
        p += qb_tensor_count(t);
        if (j == 1 && n->q && n->q->prec == QB_PREC_FP16) /* float16 initializer, widened to float32 at load */
            b += qb_tensor_count(t) * 2;
        else
            b += stored_bytes(g, n->in[j], seen, &nseen, 0);
    }
    if (bytes)
        *bytes = b;
    return p;
}
