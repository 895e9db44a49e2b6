/*
 * ptq.c - quantizable layers, calibration of their activation ranges,
 * and the quantized graph for a precision plan (see ptq.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/graph/ops.h"
#include "harness/measure/timer.h"
#include "harness/quant/ptq.h"

int qb_find_layers(const qb_graph *g, qb_layer_info **out)
{
    int cnt = 0;
    qb_layer_info *L = calloc((size_t)g->nnodes + 1, sizeof *L);
    if (!L) {
        *out = NULL;
        return 0;
    }
    for (int i = 0; i < g->nnodes; i++) {
        const qb_node *n = &g->nodes[i];
        if (n->folded || n->fused_into >= 0 || n->nin < 2)
            continue;
        const qb_tensor *x = qb_in(g, n, 0), *W = qb_in(g, n, 1), *B = qb_in(g, n, 2);
        if (!W || W->kind != QB_T_CONST || W->dtype != QB_DT_FLOAT || (B && B->kind != QB_T_CONST))
            continue;
        qb_layer_info *l = &L[cnt];
        l->groups = 1;
        if (!strcmp(n->op, "Conv")) {
            l->op = "Conv";
            l->groups = (int)qb_attr_int(n, "group", 1);
            l->n = (int)(W->dims[0] / l->groups);
            l->k = (int)(qb_tensor_count(W) / W->dims[0]);
            l->depthwise = l->groups > 1 && l->groups == x->dims[1] && W->dims[0] == l->groups;
        } else if (!strcmp(n->op, "Gemm") && W->ndim == 2) {
            l->op = "Gemm";
            int tb = (int)qb_attr_int(n, "transB", 0);
            l->n = (int)(tb ? W->dims[0] : W->dims[1]);
            l->k = (int)(tb ? W->dims[1] : W->dims[0]);
            if (B && qb_tensor_count(B) != 1 && qb_tensor_count(B) != l->n)
                continue; /* C not per column: stays fp32 */
        } else if (!strcmp(n->op, "MatMul") && W->ndim == 2) {
            l->op = "MatMul";
            l->n = (int)W->dims[1];
            l->k = (int)W->dims[0];
        } else {
            continue;
        }
        l->node = i;
        snprintf(l->name, sizeof l->name, "%s", n->name);
        l->weights = qb_tensor_count(W);
        const qb_tensor *y = qb_out(g, n, 0);
        int64_t batch = y && y->ndim ? y->dims[0] : 1;
        l->macs = qb_node_macs(g, n) / (batch > 0 ? batch : 1);
        l->in_t = n->in[0];
        l->out_t = n->write_to >= 0 ? n->write_to : n->out[0];
        l->in_mean = 0;
        cnt++;
    }
    *out = L;
    return cnt;
}

/* Observation state while calibrating. */
typedef struct calib_ctx {
    qb_calibration *c;     /* layers being calibrated */
    qb_observer **obs;     /* one per tensor of the graph (NULL: not observed) */
    double *sum;           /* per tensor: sum of values (pass 1) */
    double *count;         /* per tensor: number of values (pass 1) */
    int *stamp;            /* per tensor: batch in which it was last observed */
    int *layer_of_node;    /* node index -> layer index or -1 */
    int batch_no;          /* current batch number */
    int pass;              /* 1 or 2 */
    int valid;             /* samples of the current batch that are real (rest is padding) */
    int batch;             /* batch size */
} calib_ctx;

/* Feed the first `valid` samples of tensor t (batch-major) to its observer once per batch. */
static void observe(calib_ctx *cx, qb_graph *g, int t)
{
    if (t < 0 || !cx->obs[t] || cx->stamp[t] == cx->batch_no)
        return;
    cx->stamp[t] = cx->batch_no;
    const qb_tensor *x = g->tensors[t];
    size_t per = (size_t)(qb_tensor_count(x) / cx->batch), n = per * (size_t)cx->valid;
    const float *v = x->data; /* batch-major in NCHW and NHWC alike */
    if (cx->pass == 1) {
        qb_observer_pass1(cx->obs[t], v, n);
        double s = 0;
        for (size_t i = 0; i < n; i++)
            if (isfinite(v[i]))
                s += v[i];
        cx->sum[t] += s;
        cx->count[t] += (double)n;
    } else {
        qb_observer_pass2(cx->obs[t], v, n);
    }
}

static void on_node(qb_graph *g, int node, void *ctx)
{
    calib_ctx *cx = ctx;
    int li = cx->layer_of_node[node];
    if (li < 0)
        return;
    observe(cx, g, cx->c->layers[li].in_t);
    observe(cx, g, cx->c->layers[li].out_t);
}

static int count_batch(void *ctx, int from, int count, const float *y)
{
    (void)from, (void)y;
    ((calib_ctx *)ctx)->batch_no++;
    (void)count;
    return 0;
}

/* Diagnostics, from the environment (docs/quantization.md "How much a
 * calibrator comparison can say"):
 *   QB_CALIB_JITTER=EPS[:SEED]  every calibrated range [lo, hi] becomes
 *     [lo, hi] * (1 + EPS u), u in [-1, 1] drawn per tensor from SEED
 *     (default 1): how far the end-to-end metrics move when the ranges
 *     move by a fraction no calibrator comparison could call a difference.
 *   QB_CALIB_TRACE=1  one stderr line per calibrated tensor: layer, in/out,
 *     name, observed min and max, chosen range, values seen.
 *   QB_CALIB_MINMAX=NAME[,NAME...]  the named tensors (NAME* : every name
 *     that starts with NAME) get their min/max range (widened to 0) whatever
 *     the method: a one-tensor ablation of a calibrator, also for the models
 *     of several inputs that `eval --plan` cannot feed.
 *   QB_CALIB_CLIP_OUTPUTS=1  ptq-kl's own range also on the output-side
 *     tensors (the behaviour before they kept min/max): the ablation of
 *     that rule.
 *   QB_CALIB_CLIP_INPUTS=1  the same for the input-side tensors
 *     (mark_input_side): the ablation of that rule.
 *   QB_CALIB_CLIP_STATS=1  the same for the tensors a normalisation takes
 *     its statistics from (mark_stats_side).
 * All off (unset) in normal runs. */

/* Whether name is one of the comma-separated items of list; an item that
 * ends in '*' matches every name that starts with the rest. */
static int name_listed(const char *name, const char *list)
{
    while (*list) {
        size_t k = strcspn(list, ",");
        if (k && list[k - 1] == '*' ? strncmp(name, list, k - 1) == 0
                                    : k && strlen(name) == k && strncmp(name, list, k) == 0)
            return 1;
        list += k;
        if (*list == ',')
            list++;
    }
    return 0;
}

/* The observed [min, max] of o widened to include 0. */
static void observed_range(const qb_observer *o, float *lo, float *hi)
{
    float mn, mx;
    qb_observer_stats(o, &mn, &mx, NULL, NULL);
    *lo = mn < 0 ? mn : 0;
    *hi = mx > 0 ? mx : 0;
}

/* side[t] |= 1 for the tensors of g from which a graph output is reached
 * through no layer: the graph outputs, then backwards every input of a
 * node that is not a layer (layer_of_node[i] < 0) and has a marked output
 * (a subgraph's values from this graph are inputs of its node, so an If
 * passes them on). A layer's input is not marked through the layer. */
static void mark_output_side(const qb_graph *g, const int *layer_of_node, unsigned char *side)
{
    for (int i = 0; i < g->noutputs; i++)
        if (g->outputs[i] >= 0)
            side[g->outputs[i]] |= 1;
    for (int changed = 1; changed;) { /* nodes are sorted: one pass, a second to confirm */
        changed = 0;
        for (int i = g->nnodes - 1; i >= 0; i--) {
            const qb_node *n = &g->nodes[i];
            if (n->folded || layer_of_node[i] >= 0)
                continue;
            int live = n->write_to >= 0 && (side[n->write_to] & 1);
            for (int k = 0; k < n->nout && !live; k++)
                live = n->out[k] >= 0 && (side[n->out[k]] & 1);
            for (int k = 0; live && k < n->nin; k++)
                if (n->in[k] >= 0 && !(side[n->in[k]] & 1))
                    side[n->in[k]] |= 1, changed = 1;
        }
    }
}

/* side[t] |= 2 for the tensors of g that hold a graph input's values as
 * they are: the float graph inputs, then forwards every output of a node
 * that is not a layer and only copies its data input's values into
 * another shape (its run is qb_op_copy_run: Reshape, Flatten, Squeeze,
 * Unsqueeze, Identity, Dropout) when that input is marked. Nothing is
 * marked through an operator that computes (Pad, Transpose, Slice, Mul,
 * Conv...). */
static void mark_input_side(const qb_graph *g, const int *layer_of_node, unsigned char *side)
{
    for (int i = 0; i < g->ninputs; i++) {
        int t = g->inputs[i];
        if (t >= 0 && g->tensors[t]->kind == QB_T_INPUT && g->tensors[t]->dtype == QB_DT_FLOAT)
            side[t] |= 2;
    }
    for (int i = 0; i < g->nnodes; i++) { /* nodes are sorted: producers first */
        const qb_node *n = &g->nodes[i];
        if (n->folded || layer_of_node[i] >= 0 || !n->def || n->def->run != qb_op_copy_run || n->nin < 1 ||
            n->in[0] < 0 || !(side[n->in[0]] & 2))
            continue;
        if (n->nout >= 1 && n->out[0] >= 0)
            side[n->out[0]] |= 2;
    }
}

/* Whether node n computes statistics of its data input over the features
 * to normalise with them: a ReduceMean (how a LayerNorm written out in
 * ONNX operators starts: ReduceMean, Sub, Pow, ReduceMean, Sqrt, Div) or
 * a LayerNormalization, GroupNormalization or InstanceNormalization. */
static int takes_stats(const qb_node *n)
{
    return !strcmp(n->op, "ReduceMean") || !strcmp(n->op, "LayerNormalization") ||
           !strcmp(n->op, "GroupNormalization") || !strcmp(n->op, "InstanceNormalization");
}

/* side[t] |= 4 for the tensors of g a normalisation takes its statistics
 * from (takes_stats), directly or through nodes that only copy their data
 * input into another shape (qb_op_copy_run). Clipping such a tensor's
 * largest values changes the mean and variance that every value of the
 * sample is normalised with, an error KL's histogram (and the guard's
 * squared error) does not see. */
static void mark_stats_side(const qb_graph *g, const int *layer_of_node, unsigned char *side)
{
    for (int i = g->nnodes - 1; i >= 0; i--) { /* nodes are sorted: consumers last, walked first */
        const qb_node *n = &g->nodes[i];
        if (n->folded || layer_of_node[i] >= 0 || n->nin < 1 || n->in[0] < 0)
            continue;
        int copy = n->def && n->def->run == qb_op_copy_run && n->nout >= 1 && n->out[0] >= 0 &&
                   (side[n->out[0]] & 4);
        if (takes_stats(n) || copy)
            side[n->in[0]] |= 4;
    }
}

static void range_diagnostics(const qb_graph *g, const qb_observer *o, int layer, int out, int t, float *lo,
                              float *hi)
{
    const char *jit = getenv("QB_CALIB_JITTER");
    if (jit && *jit) {
        char *end;
        double eps = strtod(jit, &end);
        unsigned seed = *end == ':' ? (unsigned)strtoul(end + 1, NULL, 10) : 1u;
        uint32_t h = seed * 2654435761u ^ (uint32_t)t * 40503u; /* a fixed integer hash of (seed, tensor) */
        h ^= h >> 13;
        h *= 2246822519u;
        h ^= h >> 16;
        double u = (double)(h % 20001u) / 10000.0 - 1.0;
        if (isfinite(eps)) {
            *lo = (float)(*lo * (1 + eps * u));
            *hi = (float)(*hi * (1 + eps * u));
        }
    }
    const char *keep = getenv("QB_CALIB_MINMAX");
    if (keep && *keep && name_listed(g->tensors[t]->name, keep))
        observed_range(o, lo, hi);
    const char *tr = getenv("QB_CALIB_TRACE");
    if (tr && *tr && strcmp(tr, "0")) {
        float mn, mx;
        uint64_t n;
        qb_observer_stats(o, &mn, &mx, &n, NULL);
        fprintf(stderr, "qbench: calib-trace: layer %d %s '%s' min %.6g max %.6g range [%.6g, %.6g] values %llu\n",
                layer, out ? "out" : "in", g->tensors[t]->name, mn, mx, *lo, *hi, (unsigned long long)n);
    }
}

void qb_calibration_free(qb_calibration *c)
{
    free(c->layers);
    memset(c, 0, sizeof *c);
}

int qb_calibrate(const qb_graph *model, const qb_samples *s, int batch, qb_calib method, double p, int symmetric,
                 qb_calibration *c, qb_err *e)
{
    memset(c, 0, sizeof *c);
    double t0 = qb_now();
    qb_graph *g = qb_graph_clone(model, e);
    if (!g)
        return -1;
    g->no_conv_epilogue = 1; /* every layer's own output tensor is observed */
    qb_runner r;
    if (qb_runner_open_on(&r, g, batch, -1, s, e))
        return -1;
    c->method = method;
    c->symmetric = symmetric;
    c->samples = s->n;
    c->n = qb_find_layers(g, &c->layers);
    calib_ctx cx = {.c = c, .batch = r.batch};
    int nt = g->ntensors, rc = -1;
    cx.obs = calloc((size_t)nt, sizeof *cx.obs);
    cx.sum = calloc((size_t)nt, sizeof *cx.sum);
    cx.count = calloc((size_t)nt, sizeof *cx.count);
    cx.stamp = malloc((size_t)nt * sizeof *cx.stamp);
    cx.layer_of_node = malloc((size_t)g->nnodes * sizeof *cx.layer_of_node);
    unsigned char *side = calloc((size_t)nt + 1, 1); /* bit 0: output side, 1: input side, 2: statistics (mark_*) */
    if (!cx.obs || !cx.sum || !cx.count || !cx.stamp || !cx.layer_of_node || !side) {
        qb_errf(e, "%s: out of memory", model->file);
        goto out;
    }
    if (c->n == 0) {
        qb_errf(e, "%s: no quantizable layer (Conv, Gemm or MatMul with constant weights)", model->file);
        goto out;
    }
    for (int i = 0; i < nt; i++)
        cx.stamp[i] = -1;
    for (int i = 0; i < g->nnodes; i++)
        cx.layer_of_node[i] = -1;
    for (int i = 0; i < c->n; i++) {
        cx.layer_of_node[c->layers[i].node] = i;
        int ts[2] = {c->layers[i].in_t, c->layers[i].out_t};
        for (int j = 0; j < 2; j++)
            if (!cx.obs[ts[j]] && !(cx.obs[ts[j]] = qb_observer_new(method, p, 0))) {
                qb_errf(e, "%s: out of memory", model->file);
                goto out;
            }
    }
    g->on_node = on_node;
    g->on_node_ctx = &cx;
    int need2 = qb_observer_needs_pass2(cx.obs[c->layers[0].in_t]);
    for (cx.pass = 1; cx.pass <= (need2 ? 2 : 1); cx.pass++) {
        /* batches are run one by one so the callback knows how many samples are real */
        for (int from = 0; from < s->n; from += r.batch) {
            cx.valid = s->n - from < r.batch ? s->n - from : r.batch;
            if (qb_runner_fill(&r, s, from, cx.valid, e) || qb_runner_run(&r, e))
                goto out;
            count_batch(&cx, from, cx.valid, r.y);
        }
    }
    /* ptq-kl: output-side tensors keep min/max (KL weighs what a distribution
     * fed to further layers loses; there the values are the answer), and so
     * do input-side ones (the raw input: every later layer depends on all
     * of it, no earlier layer has condensed it, and its tail is signal)
     * and what a normalisation takes its statistics from */
    const char *clip_outputs = getenv("QB_CALIB_CLIP_OUTPUTS"), *clip_inputs = getenv("QB_CALIB_CLIP_INPUTS");
    if (method == QB_CALIB_KL && !(clip_outputs && *clip_outputs && strcmp(clip_outputs, "0")))
        mark_output_side(g, cx.layer_of_node, side);
    if (method == QB_CALIB_KL && !(clip_inputs && *clip_inputs && strcmp(clip_inputs, "0")))
        mark_input_side(g, cx.layer_of_node, side);
    const char *clip_stats = getenv("QB_CALIB_CLIP_STATS");
    if (method == QB_CALIB_KL && !(clip_stats && *clip_stats && strcmp(clip_stats, "0")))
        mark_stats_side(g, cx.layer_of_node, side);
    for (int i = 0; i < c->n; i++) {
        qb_layer_info *l = &c->layers[i];
        char warn[300] = "";
        int ts[2] = {l->in_t, l->out_t};
        qb_qparams *qp[2] = {&l->in_qp, &l->out_qp};
        for (int j = 0; j < 2; j++) {
            float lo, hi;
            warn[0] = 0;
            int w1 = qb_observer_range(cx.obs[ts[j]], symmetric, &lo, &hi, warn, sizeof warn);
            if (side[ts[j]] && !w1) {
                float klo = lo, khi = hi;
                observed_range(cx.obs[ts[j]], &lo, &hi);
                l->kept_minmax |= 1u << j;
                fprintf(stderr,
                        "qbench: note: %s: tensor '%s' (%s of layer '%s') %s: ptq-kl keeps its min/max range "
                        "[%.6g, %.6g] (KL's: [%.6g, %.6g])\n",
                        model->file, g->tensors[ts[j]]->name, j ? "output" : "input", l->name,
                        side[ts[j]] & 1   ? "feeds a graph output through no other layer"
                        : side[ts[j]] & 2 ? "holds a graph input's values as they are"
                                          : "gives a normalisation its statistics",
                        lo, hi, klo, khi);
            }
            range_diagnostics(g, cx.obs[ts[j]], i, j, ts[j], &lo, &hi);
            int w2 = qb_qparams_from_range(lo, hi, symmetric, qp[j], warn, sizeof warn);
            if (w1 || w2)
                fprintf(stderr, "qbench: warning: %s: tensor '%s' (%s of layer '%s'): %s\n", model->file,
                        g->tensors[ts[j]]->name, j ? "output" : "input", l->name, warn);
        }
        l->in_mean = cx.count[l->in_t] > 0 ? (float)(cx.sum[l->in_t] / cx.count[l->in_t]) : 0.0f;
    }
    rc = 0;
out:
    for (int i = 0; cx.obs && i < nt; i++)
        qb_observer_free(cx.obs[i]);
    free(cx.obs);
    free(cx.sum);
    free(cx.count);
    free(cx.stamp);
    free(cx.layer_of_node);
    free(side);
    qb_runner_close(&r);
    c->seconds = qb_now() - t0;
    if (rc)
        qb_calibration_free(c);
    return rc;
}

void qb_plan_uniform(const qb_calibration *c, qb_precision p, const qb_quant_opts *o, qb_precision *plan)
{
    for (int i = 0; i < c->n; i++)
        plan[i] = p;
    if (p == QB_PREC_BINARY && o->binary_ends_int8 && c->n > 0) {
        plan[0] = QB_PREC_INT8_CHANNEL;
        plan[c->n - 1] = QB_PREC_INT8_CHANNEL;
    }
}

int64_t qb_plan_weight_bytes(const qb_calibration *c, const qb_precision *plan, const qb_quant_opts *o)
{
    int64_t bytes = 0;
    for (int i = 0; i < c->n; i++) {
        const qb_layer_info *l = &c->layers[i];
        qb_precision p = qb_precision_runs_as(plan[i]);
        int64_t rows = (int64_t)l->n * l->groups;
        if (l->depthwise && (p == QB_PREC_INT4 || p == QB_PREC_BINARY))
            p = QB_PREC_INT8_CHANNEL; /* what runs (qlayer.c) */
        switch (p) {
        case QB_PREC_FP32:
            bytes += 4 * l->weights;
            break;
        case QB_PREC_FP16:
            bytes += 2 * l->weights;
            break;
        case QB_PREC_INT8_TENSOR:
            bytes += l->weights + 4;
            break;
        case QB_PREC_INT8_CHANNEL:
            bytes += l->weights + 4 * rows;
            break;
        case QB_PREC_INT4: {
            int g = !strcmp(l->op, "Conv") && l->k > 0 && !(l->weights / rows == l->k && l->k == l->n) ? 0 : o->group;
            bytes += (l->weights + 1) / 2 + 4 * rows * qb_int4_ngroups(l->k, g);
            break;
        }
        case QB_PREC_BINARY:
            bytes += (l->weights + 7) / 8 + 4 * rows;
            break;
        default:
            break;
        }
    }
    return bytes;
}

/* int4 groups apply where the K order does not depend on the layout
 * (Gemm, MatMul, 1x1 convs); convs with spatial taps use per channel. */
static int int4_group(const qb_graph *g, const qb_node *n, int group)
{
    if (strcmp(n->op, "Conv"))
        return group;
    const qb_tensor *W = qb_in(g, n, 1);
    return qb_tensor_count(W) / W->dims[0] == W->dims[1] ? group : 0;
}

qb_graph *qb_quantize_graph(const qb_graph *model, const qb_calibration *c, const qb_precision *plan,
                            const qb_quant_opts *o, qb_err *e)
{
    const char *model_path = model->file;
    qb_graph *g = qb_graph_clone(model, e);
    if (!g)
        return NULL;
    for (int i = 0; i < c->n; i++) {
        const qb_layer_info *l = &c->layers[i];
        if (plan[i] == QB_PREC_FP32)
            continue;
        /* prepare folds nodes away and splices constant If branches in, so
         * layers are found by name in the fresh graph and its If branches; a name
         * several layers share (ONNX does not require unique node names): its k-th
         * node of the graph for the k-th such layer, not the first one each time */
        qb_graph *owner = g;
        qb_node *n = NULL;
        int k = 0;
        for (int j = 0; j < i; j++)
            k += !strcmp(c->layers[j].name, l->name) && !strcmp(c->layers[j].op, l->op);
        for (int j = 0; j < g->nnodes && !n; j++)
            if (!strcmp(g->nodes[j].name, l->name) && !strcmp(g->nodes[j].op, l->op) && k-- == 0)
                n = &g->nodes[j];
        if (!n)
            n = qb_graph_node_named(g, l->name, l->op, &owner);
        if (!n) {
            qb_errf(e, "%s: layer '%s' (%s) not found", model_path, l->name, l->op);
            qb_graph_free(g);
            return NULL;
        }
        qb_qspec *q = qb_qspec_new(plan[i]);
        if (!q) {
            qb_errf(e, "%s: out of memory", model_path);
            qb_graph_free(g);
            return NULL;
        }
        q->in_scale = l->in_qp.scale;
        q->in_zero = l->in_qp.zero;
        q->out_scale = l->out_qp.scale;
        q->out_zero = l->out_qp.zero;
        q->in_shift = l->in_mean;
        q->group = plan[i] == QB_PREC_INT4 ? int4_group(owner, n, o->group) : 0;
        qb_qspec_free(n->q); /* a QDQ model's own quantization is replaced */
        n->q = q;
    }
    return g;
}
