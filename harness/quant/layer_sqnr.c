/*
 * layer_sqnr.c - per-layer SQNR of a quantized model against its FP32
 * reference (layer_sqnr.h): one FP32 pass records every layer's input
 * and output, a quantized pass compares (errors propagated), a second
 * quantized copy is fed the FP32 inputs layer by layer (isolated).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness/quant/layer_sqnr.h"

/* Per-layer state: the FP32 copies of one batch and the error sums. */
typedef struct layer_ctx {
    const qb_calibration *c; /* layers */
    int *layer_of_node;      /* node -> layer or -1 */
    float **ref_in, **ref_out; /* per layer: FP32 input and output of the batch */
    size_t *in_n, *out_n;    /* their float counts */
    double *sig, *err;       /* per layer: sum ref^2 and sum (ref - q)^2 */
    int recording;           /* 1: FP32 pass (copy), 0: quantized pass (compare) */
    int isolate;             /* quantized pass: feed each layer the FP32 input */
} layer_ctx;

static void before_layer(qb_graph *g, int node, void *ctx);

static void after_node(qb_graph *g, int node, void *ctx)
{
    layer_ctx *lc = ctx;
    int li = node < g->nnodes ? lc->layer_of_node[node] : -1;
    if (li >= 0) {
        const qb_layer_info *l = &lc->c->layers[li];
        const float *x = g->tensors[l->in_t]->data, *y = g->tensors[l->out_t]->data;
        if (lc->recording) {
            memcpy(lc->ref_in[li], x, lc->in_n[li] * sizeof(float));
            memcpy(lc->ref_out[li], y, lc->out_n[li] * sizeof(float));
        } else {
            for (size_t i = 0; i < lc->out_n[li]; i++) {
                double r = lc->ref_out[li][i], d = r - y[i];
                lc->sig[li] += r * r;
                lc->err[li] += d * d;
            }
        }
    }
    /* then feed the next layer its FP32 input before it runs (isolated mode) */
    if (!lc->recording && lc->isolate)
        before_layer(g, node + 1, ctx);
}

/* Isolated mode: overwrite the input of the layer at `node` (if any)
 * with its FP32 value. Called after node-1 ran, i.e. before node runs. */
static void before_layer(qb_graph *g, int node, void *ctx)
{
    layer_ctx *lc = ctx;
    for (; node < g->nnodes && (g->nodes[node].folded || g->nodes[node].fused_into >= 0); node++)
        ;
    int li = node < g->nnodes ? lc->layer_of_node[node] : -1;
    if (li < 0)
        return;
    memcpy(g->tensors[lc->c->layers[li].in_t]->data, lc->ref_in[li], lc->in_n[li] * sizeof(float));
}

int qb_per_layer_sqnr(const qb_graph *model, qb_graph *gq, const qb_calibration *c, const qb_samples *s, int batch,
                      int isa, double *prop, double *iso, qb_err *e)
{
    qb_runner rr, rq[2];
    memset(rq, 0, sizeof rq);
    const char *model_path = model->file;
    qb_graph *gr = qb_graph_clone(model, e), *gq2 = NULL;
    if (!gr) {
        qb_graph_free(gq);
        return -1;
    }
    gr->no_conv_epilogue = 1; /* every layer's own output is written (and read here) */
    /* a second copy of the quantized graph for the isolated pass */
    gq2 = qb_graph_clone(gq, e); /* gq is not prepared yet: its qspecs are copied, nothing derived */
    if (!gq2 || qb_runner_open_on(&rr, gr, batch, isa, s, e)) {
        qb_graph_free(gq);
        qb_graph_free(gq2);
        return -1;
    }
    gq->no_int8_links = gq2->no_int8_links = 1; /* every layer output is read as floats */
    gq->no_conv_epilogue = gq2->no_conv_epilogue = 1; /* ... and written by its layer */
    if (qb_runner_open_on(&rq[0], gq, batch, isa, s, e)) { /* frees gq */
        qb_runner_close(&rr);
        qb_graph_free(gq2);
        return -1;
    }
    if (qb_runner_open_on(&rq[1], gq2, batch, isa, s, e)) { /* frees gq2 */
        qb_runner_close(&rr);
        qb_runner_close(&rq[0]);
        return -1;
    }
    int n = c->n, rc = -1;
    layer_ctx lc[2];
    memset(lc, 0, sizeof lc);
    for (int m = 0; m < 2; m++) {
        lc[m].c = c;
        lc[m].isolate = m;
        lc[m].layer_of_node = malloc((size_t)gr->nnodes * sizeof(int));
        lc[m].sig = calloc((size_t)n, sizeof(double));
        lc[m].err = calloc((size_t)n, sizeof(double));
    }
    float **ref_in = calloc((size_t)n, sizeof *ref_in), **ref_out = calloc((size_t)n, sizeof *ref_out);
    size_t *in_n = calloc((size_t)n, sizeof *in_n), *out_n = calloc((size_t)n, sizeof *out_n);
    if (!ref_in || !ref_out || !in_n || !out_n || !lc[0].layer_of_node || !lc[1].layer_of_node || !lc[0].sig ||
        !lc[0].err || !lc[1].sig || !lc[1].err)
        goto oom;
    for (int i = 0; i < gr->nnodes; i++)
        lc[0].layer_of_node[i] = lc[1].layer_of_node[i] = -1;
    for (int i = 0; i < n; i++) {
        const qb_layer_info *l = &c->layers[i];
        lc[0].layer_of_node[l->node] = lc[1].layer_of_node[l->node] = i;
        in_n[i] = (size_t)qb_tensor_count(gr->tensors[l->in_t]);
        out_n[i] = (size_t)qb_tensor_count(gr->tensors[l->out_t]);
        ref_in[i] = malloc(in_n[i] * sizeof(float));
        ref_out[i] = malloc(out_n[i] * sizeof(float));
        if (!ref_in[i] || !ref_out[i])
            goto oom;
    }
    for (int m = 0; m < 2; m++) {
        lc[m].ref_in = ref_in, lc[m].ref_out = ref_out, lc[m].in_n = in_n, lc[m].out_n = out_n;
    }
    layer_ctx rec = lc[0];
    rec.recording = 1;
    gr->on_node = after_node, gr->on_node_ctx = &rec;
    gq->on_node = after_node, gq->on_node_ctx = &lc[0];
    gq2->on_node = after_node, gq2->on_node_ctx = &lc[1];
    for (int from = 0; from < s->n; from += rr.batch) {
        int count = s->n - from < rr.batch ? s->n - from : rr.batch;
        if (qb_runner_fill(&rr, s, from, count, e) || qb_runner_fill(&rq[0], s, from, count, e) ||
            qb_runner_fill(&rq[1], s, from, count, e) || qb_runner_run(&rr, e) || qb_runner_run(&rq[0], e))
            goto out;
        before_layer(gq2, 0, &lc[1]);
        if (qb_runner_run(&rq[1], e))
            goto out;
    }
    for (int i = 0; i < n; i++) {
        prop[i] = lc[0].err[i] > 0 ? 10 * log10(lc[0].sig[i] / lc[0].err[i]) : INFINITY;
        iso[i] = lc[1].err[i] > 0 ? 10 * log10(lc[1].sig[i] / lc[1].err[i]) : INFINITY;
    }
    rc = 0;
    goto out;
oom:
    qb_errf(e, "%s: out of memory", model_path);
out:
    for (int i = 0; i < n; i++) {
        if (ref_in)
            free(ref_in[i]);
        if (ref_out)
            free(ref_out[i]);
    }
    free(ref_in), free(ref_out), free(in_n), free(out_n);
    for (int m = 0; m < 2; m++)
        free(lc[m].layer_of_node), free(lc[m].sig), free(lc[m].err);
    qb_runner_close(&rr);
    qb_runner_close(&rq[0]);
    qb_runner_close(&rq[1]);
    return rc;
}
