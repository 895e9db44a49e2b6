/*
 * test_qdq.c - export of quantized models (harness/graph/qdq_export.c),
 * the fusion pass at load (qdq_import.c) and the com.qbench operators
 * (ops_qbench.c): for every precision, a model quantized with the
 * pipeline API, exported, reloaded and run gives outputs bit-identical to
 * the in-memory quantized graph, its layers fused back onto the integer
 * kernels; int8 exports hold standard ONNX operators only; the custom
 * operators against hand-computed values; domain checks of the importer.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness/graph/qdq.h"
#include "harness/quant/pipeline.h"
#include "harness/train/train.h"

enum { B = 16 }; /* samples per run */

static char cnn_path[64], dscnn_path[64], mm_path[64];

static void tmp_path(char *p, size_t len, const char *tag)
{
    snprintf(p, len, "/tmp/qb_test_qdq_%s_XXXXXX", tag);
    int fd = mkstemp(p);
    assert_true(fd >= 0);
    close(fd);
}

/* A zoo model briefly trained on synthetic 28x28 data (BatchNorm statistics
 * and weights away from their initial values), written as ONNX. */
static void zoo_model(const char *model, char *path, size_t len)
{
    char err[256] = "";
    qb_dataset tr;
    assert_int_equal(qb_synthetic(200, 1, 28, 28, 10, 0.3f, 4, QB_SPLIT_TRAIN, &tr, err, sizeof err), 0);
    qb_net net;
    if (qb_zoo_build(model, 1, 28, 28, 10, 7, &net, err, sizeof err))
        fail_msg("zoo: %s", err);
    qb_train_cfg cfg;
    qb_train_cfg_default(&cfg);
    cfg.epochs = 1;
    cfg.batch = 40;
    cfg.lr = 0.02f;
    if (qb_train(&net, &tr, NULL, tr.n, NULL, &cfg, NULL, err, sizeof err))
        fail_msg("train: %s", err);
    qb_graph *g = qb_net_export(&net, model, err, sizeof err);
    if (!g)
        fail_msg("export: %s", err);
    tmp_path(path, len, model);
    qb_err e = {0};
    if (qb_onnx_save(g, path, &e))
        fail_msg("save: %s", e.msg);
    qb_graph_free(g);
    qb_net_free(&net);
    qb_dataset_free(&tr);
}

static uint32_t rnd_state = 12345;
static float rnd(void)
{
    rnd_state = rnd_state * 1664525u + 1013904223u;
    return (float)(rnd_state >> 8) / (float)(1 << 24) * 2.0f - 1.0f;
}

static int const_t(qb_graph *g, const char *name, int ndim, const int64_t *dims, float scale)
{
    int t = qb_graph_tensor(g, name);
    qb_tensor *x = g->tensors[t];
    x->kind = QB_T_CONST;
    x->dtype = QB_DT_FLOAT;
    x->ndim = ndim;
    memcpy(x->dims, dims, (size_t)ndim * sizeof *dims);
    x->has_shape = 1;
    x->data = malloc((size_t)qb_tensor_count(x) * sizeof(float));
    for (int64_t i = 0; i < qb_tensor_count(x); i++)
        ((float *)x->data)[i] = scale * rnd();
    return t;
}

static int node(qb_graph *g, const char *op, const char *name, const char *in0, const char *in1, const char *in2,
                const char *out)
{
    int nin = in2 ? 3 : in1 ? 2 : 1;
    int i = qb_graph_add_node(g, op, name, nin, 1);
    qb_node *n = &g->nodes[i];
    const char *ins[3] = {in0, in1, in2};
    for (int j = 0; j < nin; j++)
        n->in[j] = qb_graph_tensor(g, ins[j]);
    n->out[0] = qb_graph_tensor(g, out);
    return i;
}

static void set_attr_f(qb_graph *g, int ni, const char *name, float v) { qb_qdq_attr(&g->nodes[ni], name, QB_ATTR_FLOAT)->f = v; }
static void set_attr_i(qb_graph *g, int ni, const char *name, int64_t v) { qb_qdq_attr(&g->nodes[ni], name, QB_ATTR_INT)->i = v; }

/* x [N, 64] -> MatMul [64, 32] -> Add -> Relu -> Gemm(transB=0, alpha 0.5,
 * beta 2) [32, 16] -> Relu -> Gemm(transB=1) [10, 16] -> y [N, 10]. */
static void matmul_model(char *path, size_t len)
{
    qb_graph *g = qb_graph_new("matmul");
    g->opset = 13;
    int x = qb_graph_tensor(g, "x");
    qb_tensor *t = g->tensors[x];
    t->kind = QB_T_INPUT, t->ndim = 2, t->dims[0] = 1, t->dims[1] = 64, t->sym[0] = 1, t->has_shape = 1;
    g->inputs = malloc(sizeof(int));
    g->inputs[0] = x, g->ninputs = 1;
    const_t(g, "w1", 2, (int64_t[]){64, 32}, 0.2f);
    const_t(g, "b1", 1, (int64_t[]){32}, 0.1f);
    const_t(g, "w2", 2, (int64_t[]){32, 16}, 0.3f);
    const_t(g, "c2", 1, (int64_t[]){16}, 0.1f);
    const_t(g, "w3", 2, (int64_t[]){10, 16}, 0.3f);
    const_t(g, "c3", 1, (int64_t[]){10}, 0.1f);
    node(g, "MatMul", "mm1", "x", "w1", NULL, "h1");
    node(g, "Add", "add1", "h1", "b1", NULL, "h1b");
    node(g, "Relu", "relu1", "h1b", NULL, NULL, "a1");
    int g2 = node(g, "Gemm", "gemm2", "a1", "w2", "c2", "h2");
    set_attr_f(g, g2, "alpha", 0.5f);
    set_attr_f(g, g2, "beta", 2.0f);
    node(g, "Relu", "relu2", "h2", NULL, NULL, "a2");
    int g3 = node(g, "Gemm", "gemm3", "a2", "w3", "c3", "y");
    set_attr_i(g, g3, "transB", 1);
    g->outputs = malloc(sizeof(int));
    g->outputs[0] = qb_graph_find(g, "y"), g->noutputs = 1;
    qb_err e = {0};
    if (qb_graph_sort(g, &e))
        fail_msg("sort: %s", e.msg);
    tmp_path(path, len, "matmul");
    if (qb_onnx_save(g, path, &e))
        fail_msg("save: %s", e.msg);
    qb_graph_free(g);
}

static void scalar_t(qb_graph *g, const char *name, float v)
{
    qb_tensor *x = g->tensors[qb_graph_tensor(g, name)];
    x->kind = QB_T_CONST;
    x->dtype = QB_DT_FLOAT;
    x->ndim = 0;
    x->has_shape = 1;
    x->data = malloc(sizeof(float));
    *(float *)x->data = v;
}

/* x [N, 4, 8, 8] -> Conv 3x3 (8) -> HardSwish as exported (Add 3, Clip
 * 0..6, Mul, Div 6: an element-wise chain the int8 conv runs in its
 * epilogue, whose QDQ export must still quantize the conv's own output)
 * -> Conv 3x3 (8) -> Relu -> Conv 3x3 (6) -> y. */
static void conv_chain_model(char *path, size_t len)
{
    qb_graph *g = qb_graph_new("chain");
    g->opset = 13;
    int x = qb_graph_tensor(g, "x");
    qb_tensor *t = g->tensors[x];
    t->kind = QB_T_INPUT, t->ndim = 4, t->has_shape = 1, t->sym[0] = 1;
    t->dims[0] = 1, t->dims[1] = 4, t->dims[2] = 8, t->dims[3] = 8;
    g->inputs = malloc(sizeof(int));
    g->inputs[0] = x, g->ninputs = 1;
    const char *ins[3] = {"x", "a1", "a2"}, *outs[3] = {"c1", "c2", "y"};
    int64_t cin[3] = {4, 8, 8}, cout[3] = {8, 8, 6};
    for (int l = 0; l < 3; l++) {
        char w[8], b[8], nm[8];
        snprintf(w, sizeof w, "w%d", l), snprintf(b, sizeof b, "b%d", l), snprintf(nm, sizeof nm, "conv%d", l);
        const_t(g, w, 4, (int64_t[]){cout[l], cin[l], 3, 3}, 0.3f);
        const_t(g, b, 1, (int64_t[]){cout[l]}, 0.1f);
        int c = node(g, "Conv", nm, ins[l], w, b, outs[l]);
        qb_attr *a = qb_qdq_attr(&g->nodes[c], "pads", QB_ATTR_INTS);
        a->n = 4, a->ints = calloc(4, sizeof(int64_t));
        for (int i = 0; i < 4; i++)
            a->ints[i] = 1;
        if (l == 0) {
            scalar_t(g, "three", 3.0f), scalar_t(g, "zero", 0.0f), scalar_t(g, "six", 6.0f);
            node(g, "Add", "hs_add", outs[l], "three", NULL, "hs1");
            node(g, "Clip", "hs_clip", "hs1", "zero", "six", "hs2");
            node(g, "Mul", "hs_mul", outs[l], "hs2", NULL, "hs3");
            node(g, "Div", "hs_div", "hs3", "six", NULL, ins[l + 1]);
        } else if (l == 1) {
            node(g, "Relu", "relu1", outs[l], NULL, NULL, ins[l + 1]);
        }
    }
    g->outputs = malloc(sizeof(int));
    g->outputs[0] = qb_graph_find(g, "y"), g->noutputs = 1;
    qb_err e = {0};
    if (qb_graph_sort(g, &e))
        fail_msg("sort: %s", e.msg);
    tmp_path(path, len, "chain");
    if (qb_onnx_save(g, path, &e))
        fail_msg("save: %s", e.msg);
    qb_graph_free(g);
}

static char chain_path[64];

static int setup(void **state)
{
    (void)state;
    conv_chain_model(chain_path, sizeof chain_path);
    zoo_model("cnn", cnn_path, sizeof cnn_path);
    zoo_model("dscnn", dscnn_path, sizeof dscnn_path);
    matmul_model(mm_path, sizeof mm_path);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(cnn_path);
    unlink(dscnn_path);
    unlink(mm_path);
    unlink(chain_path);
    return 0;
}

/* Operators of the standard ONNX domain an int8 export may hold. */
static int standard_op(const qb_node *n)
{
    static const char *const ok[] = {"QuantizeLinear", "DequantizeLinear", "Conv", "Gemm", "MatMul", "Relu", "Clip",
                                     "MaxPool", "AveragePool", "GlobalAveragePool", "Flatten", "Reshape", "Add",
                                     "Mul", "Div", "Softmax", NULL};
    if (n->domain)
        return 0;
    for (int i = 0; ok[i]; i++)
        if (!strcmp(n->op, ok[i]))
            return 1;
    return 0;
}

static const qb_node *by_name(const qb_graph *g, const char *name)
{
    for (int i = 0; i < g->nnodes; i++)
        if (!strcmp(g->nodes[i].name, name))
            return &g->nodes[i];
    return NULL;
}

/* Quantize model at p (or, cycle != NULL, layer i at cycle[i % ncycle]:
 * a mixed plan with fp32 layers among quantized ones), export, reload,
 * compare. */
static void roundtrip_plan(const char *model, const char *dataset, qb_precision p, int group,
                           const qb_precision *cycle, int ncycle)
{
    qb_pipeline_opts o;
    qb_pipeline_defaults(&o);
    o.model = model;
    o.dataset = dataset;
    o.prec = p;
    o.method = p == QB_PREC_FP16 ? "none" : "ptq-percentile";
    o.calib = 64;
    o.batch = B;
    o.limit = B;
    o.qo.group = group;
    qb_err e = {0};
    qb_pipeline_data d;
    qb_pipeline_result r;
    if (qb_pipeline_data_open(&o, &d, &e) || qb_pipeline_plan(&o, &d, &r, &e))
        fail_msg("%s %s: %s", model, qb_precision_name(p), e.msg);
    for (int i = 0; cycle && i < r.cal.n; i++)
        r.plan[i] = cycle[i % ncycle];
    qb_graph *g = qb_pipeline_graph(&o, &r, &e);
    qb_runner a, b;
    if (!g || qb_runner_open(&a, g, B, -1, &e))
        fail_msg("quantized graph: %s", e.msg);
    qb_samples_fill(&d.eval, 0, B, B, a.x);
    if (qb_runner_run(&a, &e))
        fail_msg("run: %s", e.msg);
    size_t n = (size_t)B * (size_t)a.outs;
    float *want = malloc(n * sizeof(float));
    memcpy(want, a.y, n * sizeof(float));
    char path[64];
    tmp_path(path, sizeof path, "out");
    if (qb_qdq_save(a.g, path, &e))
        fail_msg("save %s: %s", qb_precision_name(p), e.msg);

    /* reload: layers fused back, outputs bit-identical */
    qb_graph *g2 = qb_onnx_load(path, &e);
    if (!g2)
        fail_msg("reload %s: %s", qb_precision_name(p), e.msg);
    int nq = 0, std_only = 1, nquant = 0;
    /* the file's own operators (fusion drops the Q/DQ pairs it makes redundant) */
    qb_graph *raw = qb_onnx_load_opts(path, QB_LOAD_NO_FUSE, &e);
    if (!raw)
        fail_msg("reload %s unfused: %s", qb_precision_name(p), e.msg);
    for (int i = 0; i < raw->nnodes; i++) {
        std_only &= standard_op(&raw->nodes[i]);
        nquant += !strcmp(raw->nodes[i].op, "QuantizeLinear");
    }
    qb_graph_free(raw);
    if (!cycle && qb_precision_is_int8(p)) {
        assert_true(std_only);
        assert_true(nquant > 0);
    }
    if (qb_runner_open(&b, g2, B, -1, &e))
        fail_msg("reloaded %s: %s", qb_precision_name(p), e.msg);
    for (int i = 0; i < a.g->nnodes; i++) {
        const qb_node *an = &a.g->nodes[i];
        if (!an->q)
            continue;
        nq++;
        const qb_node *bn = by_name(b.g, an->name);
        if (!bn || !bn->q)
            fail_msg("%s %s: layer %s not fused after reload", model, qb_precision_name(p), an->name);
        assert_int_equal(bn->q->run_prec, an->q->run_prec);
    }
    assert_true(nq > 0);
    qb_samples_fill(&d.eval, 0, B, B, b.x);
    if (qb_runner_run(&b, &e))
        fail_msg("run reloaded: %s", e.msg);
    assert_int_equal(b.outs, a.outs);
    for (size_t i = 0; i < n; i++)
        if (memcmp(&b.y[i], &want[i], sizeof(float)))
            fail_msg("%s %s: output %zu: reloaded %.9g, in memory %.9g", model, qb_precision_name(p), i,
                     (double)b.y[i], (double)want[i]);
    /* the reloaded model exported again: the same file structure, the same outputs */
    char path2[64];
    tmp_path(path2, sizeof path2, "again");
    if (qb_qdq_save(b.g, path2, &e))
        fail_msg("save again %s: %s", qb_precision_name(p), e.msg);
    qb_runner_close(&b);
    qb_graph *u1 = qb_onnx_load_opts(path, QB_LOAD_NO_FUSE, &e), *u2 = qb_onnx_load_opts(path2, QB_LOAD_NO_FUSE, &e);
    assert_non_null(u1);
    assert_non_null(u2);
    assert_int_equal(u1->nnodes, u2->nnodes);
    qb_graph_free(u1);
    qb_graph_free(u2);
    qb_graph *g4 = qb_onnx_load(path2, &e);
    unlink(path2);
    if (!g4 || qb_runner_open(&b, g4, B, -1, &e))
        fail_msg("re-exported %s: %s", qb_precision_name(p), e.msg);
    qb_samples_fill(&d.eval, 0, B, B, b.x);
    if (qb_runner_run(&b, &e))
        fail_msg("run re-exported: %s", e.msg);
    assert_memory_equal(b.y, want, n * sizeof(float));
    qb_runner_close(&b);

    /* unfused: the float semantics of the file are close to the quantized outputs */
    qb_graph *g3 = qb_onnx_load_opts(path, QB_LOAD_NO_FUSE, &e);
    if (!g3)
        fail_msg("reload unfused: %s", e.msg);
    for (int i = 0; i < g3->nnodes; i++)
        assert_null(g3->nodes[i].q);
    if (qb_runner_open(&b, g3, B, -1, &e))
        fail_msg("unfused %s: %s", qb_precision_name(p), e.msg);
    qb_samples_fill(&d.eval, 0, B, B, b.x);
    if (qb_runner_run(&b, &e))
        fail_msg("run unfused: %s", e.msg);
    double maxref = 0, maxdiff = 0;
    for (size_t i = 0; i < n; i++) {
        maxref = fmax(maxref, fabs(want[i]));
        maxdiff = fmax(maxdiff, fabs((double)b.y[i] - want[i]));
    }
    if (!(maxdiff <= 0.02 * maxref + 1e-6))
        fail_msg("%s %s: unfused model differs by %g (outputs up to %g)", model, qb_precision_name(p), maxdiff, maxref);
    qb_runner_close(&b);
    qb_runner_close(&a);
    unlink(path);
    free(want);
    qb_pipeline_result_free(&r);
    qb_pipeline_data_close(&d);
}

static void roundtrip(const char *model, const char *dataset, qb_precision p, int group)
{
    roundtrip_plan(model, dataset, p, group, NULL, 0);
}

static const qb_precision precs[] = {QB_PREC_INT8_TENSOR, QB_PREC_INT8_CHANNEL, QB_PREC_FP16, QB_PREC_INT4,
                                     QB_PREC_BINARY};

static void test_cnn(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof precs / sizeof precs[0]; i++)
        roundtrip(cnn_path, "synthetic", precs[i], 0);
}

static void test_dscnn(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof precs / sizeof precs[0]; i++)
        roundtrip(dscnn_path, "synthetic", precs[i], 0);
}

/* MatMul, Gemm transB=0 with alpha and beta, seeded inputs; int4 per group too. */
static void test_matmul(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof precs / sizeof precs[0]; i++)
        roundtrip(mm_path, "none", precs[i], 0);
    roundtrip(mm_path, "none", QB_PREC_INT4, 32);
}

/* Mixed plans: every precision next to every other, fp32 layers between. */
static void test_mixed(void **state)
{
    (void)state;
    static const qb_precision c1[] = {QB_PREC_INT8_CHANNEL, QB_PREC_FP32, QB_PREC_INT4, QB_PREC_BINARY,
                                      QB_PREC_FP16, QB_PREC_INT8_TENSOR};
    static const qb_precision c2[] = {QB_PREC_FP32, QB_PREC_INT8_CHANNEL, QB_PREC_FP16, QB_PREC_INT4};
    static const qb_precision c3[] = {QB_PREC_BINARY, QB_PREC_INT8_TENSOR};
    roundtrip_plan(dscnn_path, "synthetic", QB_PREC_INT8_CHANNEL, 0, c1, 6);
    roundtrip_plan(dscnn_path, "synthetic", QB_PREC_INT8_CHANNEL, 0, c2, 4);
    roundtrip_plan(cnn_path, "synthetic", QB_PREC_INT8_CHANNEL, 0, c2, 4);
    roundtrip_plan(cnn_path, "synthetic", QB_PREC_INT8_CHANNEL, 0, c3, 2);
    roundtrip_plan(mm_path, "none", QB_PREC_INT8_CHANNEL, 0, c2, 4);
    roundtrip_plan(mm_path, "none", QB_PREC_INT8_CHANNEL, 0, c3, 2);
    /* convolutions with taps feeding each other directly */
    for (size_t i = 0; i < sizeof precs / sizeof precs[0]; i++)
        roundtrip(chain_path, "none", precs[i], 0);
    static const qb_precision c4[] = {QB_PREC_INT8_CHANNEL, QB_PREC_FP32, QB_PREC_FP16};
    roundtrip_plan(chain_path, "none", QB_PREC_INT8_CHANNEL, 0, c4, 3);
    static const qb_precision c5[] = {QB_PREC_FP32, QB_PREC_INT4, QB_PREC_FP32};
    roundtrip_plan(chain_path, "none", QB_PREC_INT8_CHANNEL, 0, c5, 3);
}

/* Run g (one input of dims) on x; output i's data. */
static const float *run1(qb_graph *g, int ndim, const int64_t *dims, float *x, int out)
{
    qb_err e = {0};
    qb_tensor in = *g->tensors[g->inputs[0]];
    in.ndim = ndim;
    memcpy(in.dims, dims, (size_t)ndim * sizeof *dims);
    in.data = x;
    if (qb_graph_prepare(g, &in, 1, -1, &e) || qb_graph_run(g, &in, 1, &e))
        fail_msg("run: %s", e.msg);
    return g->tensors[g->outputs[out]]->data;
}

/* The com.qbench operators against hand-computed values, through a file. */
static void test_custom_ops(void **state)
{
    (void)state;
    qb_graph *g = qb_graph_new("custom");
    g->opset = 13;
    int x = qb_graph_tensor(g, "x");
    qb_tensor *t = g->tensors[x];
    t->kind = QB_T_INPUT, t->ndim = 4, t->has_shape = 1;
    t->dims[0] = 1, t->dims[1] = 1, t->dims[2] = 2, t->dims[3] = 3;
    g->inputs = malloc(sizeof(int));
    g->inputs[0] = x, g->ninputs = 1;
    /* int4: rows [1, -8, 7] and [-1, 2, -3], groups of 2 */
    int tp = qb_qdq_tensor(g, "p4", "", QB_DT_UINT8, 2, (int64_t[]){2, 2}, 1);
    uint8_t *pk = g->tensors[tp]->data;
    pk[0] = 0x81, pk[1] = 0x07, pk[2] = 0x2F, pk[3] = 0x0D;
    int ts = qb_qdq_tensor(g, "s4", "", QB_DT_FLOAT, 2, (int64_t[]){2, 2}, 1);
    memcpy(g->tensors[ts]->data, (float[]){0.5f, 2.0f, 1.0f, 0.25f}, 4 * sizeof(float));
    int n4 = node(g, "DequantizeInt4", "dq4", "p4", "s4", NULL, "w4");
    g->nodes[n4].domain = strdup(QB_QDQ_DOMAIN);
    set_attr_i(g, n4, "group", 2);
    qb_attr *a = qb_qdq_attr(&g->nodes[n4], "shape", QB_ATTR_INTS);
    a->n = 2, a->ints = calloc(2, sizeof(int64_t)), a->ints[0] = 2, a->ints[1] = 3;
    /* binary: rows 0b101 and 0b010, alpha 0.5 and 2; and the same transposed */
    int tb = qb_qdq_tensor(g, "bits", "", QB_DT_UINT8, 2, (int64_t[]){2, 1}, 1);
    ((uint8_t *)g->tensors[tb]->data)[0] = 5, ((uint8_t *)g->tensors[tb]->data)[1] = 2;
    int ta = qb_qdq_tensor(g, "alpha", "", QB_DT_FLOAT, 1, (int64_t[]){2}, 1);
    memcpy(g->tensors[ta]->data, (float[]){0.5f, 2.0f}, 2 * sizeof(float));
    for (int tr = 0; tr < 2; tr++) {
        int nb = node(g, "DequantizeBinary", tr ? "dqbT" : "dqb", "bits", "alpha", NULL, tr ? "wbT" : "wb");
        g->nodes[nb].domain = strdup(QB_QDQ_DOMAIN);
        a = qb_qdq_attr(&g->nodes[nb], "shape", QB_ATTR_INTS);
        a->n = 2, a->ints = calloc(2, sizeof(int64_t)), a->ints[0] = tr ? 3 : 2, a->ints[1] = tr ? 2 : 3;
        if (tr)
            set_attr_i(g, nb, "transpose", 1);
    }
    /* BinarizeInput: threshold 0.5, one row of padding on top and one column on the right */
    int nbi = node(g, "BinarizeInput", "bin", "x", NULL, NULL, "xb");
    g->nodes[nbi].domain = strdup(QB_QDQ_DOMAIN);
    set_attr_f(g, nbi, "threshold", 0.5f);
    a = qb_qdq_attr(&g->nodes[nbi], "pads", QB_ATTR_INTS);
    a->n = 4, a->ints = calloc(4, sizeof(int64_t)), a->ints[0] = 1, a->ints[3] = 1;
    const char *outs[4] = {"w4", "wb", "wbT", "xb"};
    g->outputs = malloc(4 * sizeof(int));
    for (int i = 0; i < 4; i++)
        g->outputs[i] = qb_graph_find(g, outs[i]);
    g->noutputs = 4;
    qb_err e = {0};
    assert_int_equal(qb_graph_sort(g, &e), 0);
    char path[64];
    tmp_path(path, sizeof path, "custom");
    if (qb_onnx_save(g, path, &e))
        fail_msg("save: %s", e.msg);
    qb_graph_free(g);
    g = qb_onnx_load(path, &e);
    unlink(path);
    if (!g)
        fail_msg("load: %s", e.msg);
    float xin[6] = {0.5f, 0.25f, 1.0f, -3.0f, 0.75f, 0.4999f};
    const float *w4 = run1(g, 4, (int64_t[]){1, 1, 2, 3}, xin, 0);
    const float want4[6] = {0.5f, -4.0f, 14.0f, -1.0f, 2.0f, -0.75f};
    assert_memory_equal(w4, want4, sizeof want4);
    const float wantb[6] = {-0.5f, 0.5f, -0.5f, 2.0f, -2.0f, 2.0f};
    assert_memory_equal(g->tensors[g->outputs[1]]->data, wantb, sizeof wantb);
    const float wantbT[6] = {-0.5f, 2.0f, 0.5f, -2.0f, -0.5f, 2.0f};
    assert_memory_equal(g->tensors[g->outputs[2]]->data, wantbT, sizeof wantbT);
    /* padding is x = 0: 0 - 0.5 < 0 -> -1; x - 0.5 = +0 -> +1 */
    const float wantx[12] = {-1, -1, -1, -1, /* top pad row */ 1, -1, 1, -1, /* 0.5 0.25 1.0 pad */
                             -1, 1, -1, -1 /* -3 0.75 0.4999 pad */};
    assert_memory_equal(g->tensors[g->outputs[3]]->data, wantx, sizeof wantx);
    qb_graph_free(g);
}

/* A QDQ Conv as other tools write it (uint8 activations, per-channel int8
 * weights, int32 bias): fused onto the int8 kernel, within one output step
 * of the float semantics. */
static void test_uint8_qdq(void **state)
{
    (void)state;
    qb_graph *g = qb_graph_new("u8");
    g->opset = 13;
    int x = qb_graph_tensor(g, "x");
    qb_tensor *t = g->tensors[x];
    t->kind = QB_T_INPUT, t->ndim = 4, t->has_shape = 1, t->sym[0] = 1;
    t->dims[0] = 1, t->dims[1] = 2, t->dims[2] = 5, t->dims[3] = 5;
    g->inputs = malloc(sizeof(int));
    g->inputs[0] = x, g->ninputs = 1;
    int sx = qb_qdq_tensor(g, "sx", "", QB_DT_FLOAT, 0, NULL, 1), zx = qb_qdq_tensor(g, "zx", "", QB_DT_UINT8, 0, NULL, 1);
    *(float *)g->tensors[sx]->data = 0.05f, *(uint8_t *)g->tensors[zx]->data = 128;
    int sy = qb_qdq_tensor(g, "sy", "", QB_DT_FLOAT, 0, NULL, 1);
    qb_qdq_tensor(g, "zy", "", QB_DT_UINT8, 0, NULL, 1); /* zero point 0 */
    *(float *)g->tensors[sy]->data = 0.1f;
    int tw = qb_qdq_tensor(g, "wq", "", QB_DT_INT8, 4, (int64_t[]){3, 2, 3, 3}, 1);
    for (int i = 0; i < 54; i++)
        ((int8_t *)g->tensors[tw]->data)[i] = (int8_t)(127 * rnd());
    int ts = qb_qdq_tensor(g, "sw", "", QB_DT_FLOAT, 1, (int64_t[]){3}, 1);
    qb_qdq_tensor(g, "zw", "", QB_DT_INT8, 1, (int64_t[]){3}, 1);
    int tb = qb_qdq_tensor(g, "bq", "", QB_DT_INT32, 1, (int64_t[]){3}, 1);
    int tbs = qb_qdq_tensor(g, "sb", "", QB_DT_FLOAT, 1, (int64_t[]){3}, 1);
    for (int i = 0; i < 3; i++) {
        ((float *)g->tensors[ts]->data)[i] = 0.002f * (float)(i + 1);
        ((float *)g->tensors[tbs]->data)[i] = 0.05f * (0.002f * (float)(i + 1));
        ((int32_t *)g->tensors[tb]->data)[i] = 300 * (i - 1);
    }
    node(g, "QuantizeLinear", "qx", "x", "sx", "zx", "xq");
    node(g, "DequantizeLinear", "dqx", "xq", "sx", "zx", "xd");
    set_attr_i(g, node(g, "DequantizeLinear", "dqw", "wq", "sw", "zw", "wd"), "axis", 0);
    set_attr_i(g, node(g, "DequantizeLinear", "dqb", "bq", "sb", NULL, "bd"), "axis", 0);
    int c = node(g, "Conv", "conv", "xd", "wd", "bd", "c");
    qb_attr *a = qb_qdq_attr(&g->nodes[c], "pads", QB_ATTR_INTS);
    a->n = 4, a->ints = calloc(4, sizeof(int64_t));
    for (int i = 0; i < 4; i++)
        a->ints[i] = 1;
    node(g, "Relu", "relu", "c", NULL, NULL, "r");
    node(g, "QuantizeLinear", "qy", "r", "sy", "zy", "yq");
    node(g, "DequantizeLinear", "dqy", "yq", "sy", "zy", "y");
    g->outputs = malloc(sizeof(int));
    g->outputs[0] = qb_graph_find(g, "y"), g->noutputs = 1;
    qb_err e = {0};
    assert_int_equal(qb_graph_sort(g, &e), 0);
    char path[64];
    tmp_path(path, sizeof path, "u8");
    assert_int_equal(qb_onnx_save(g, path, &e), 0);
    qb_graph_free(g);
    float xin[50], fused[3 * 25];
    for (int i = 0; i < 50; i++)
        xin[i] = 4.0f * rnd();
    for (int pass = 0; pass < 2; pass++) {
        g = qb_onnx_load_opts(path, pass ? QB_LOAD_NO_FUSE : 0, &e);
        if (!g)
            fail_msg("load: %s", e.msg);
        const qb_node *cv = by_name(g, "conv");
        if (!pass) {
            assert_non_null(cv->q);
            assert_int_equal(cv->q->prec, QB_PREC_INT8_CHANNEL);
            assert_int_equal(cv->q->in_zero, 0);
            assert_int_equal(cv->q->out_zero, -128);
            assert_true(cv->q->in_scale == 0.05f && cv->q->out_scale == 0.1f);
            assert_int_equal(cv->q->bias_q[0], -300);
            assert_int_equal(cv->q->bias_q[2], 300);
        } else {
            assert_null(cv->q);
        }
        const float *y = run1(g, 4, (int64_t[]){1, 2, 5, 5}, xin, 0);
        int same = 0;
        for (int i = 0; i < 75; i++) {
            if (!pass)
                fused[i] = y[i];
            else if (fabsf(y[i] - fused[i]) > 0.1001f)
                fail_msg("output %d: fused %g, float QDQ %g", i, (double)fused[i], (double)y[i]);
            else
                same += y[i] == fused[i];
        }
        if (pass)
            assert_true(same >= 70);
        else {
            int nonzero = 0;
            for (int i = 0; i < 75; i++)
                nonzero += fused[i] != 0;
            assert_true(nonzero > 10);
        }
        qb_graph_free(g);
    }
    unlink(path);
}

/* The importer keeps the custom operators in their domain. */
static void test_domains(void **state)
{
    (void)state;
    for (int c = 0; c < 2; c++) {
        qb_graph *g = qb_graph_new("dom");
        g->opset = 13;
        int x = qb_graph_tensor(g, "x");
        qb_tensor *t = g->tensors[x];
        t->kind = QB_T_INPUT, t->ndim = 2, t->dims[0] = 1, t->dims[1] = 4, t->has_shape = 1;
        g->inputs = malloc(sizeof(int));
        g->inputs[0] = x, g->ninputs = 1;
        int ni = node(g, c ? "Relu" : "BinarizeInput", "n", "x", NULL, NULL, "y");
        if (c)
            g->nodes[ni].domain = strdup(QB_QDQ_DOMAIN);
        g->outputs = malloc(sizeof(int));
        g->outputs[0] = qb_graph_find(g, "y"), g->noutputs = 1;
        qb_err e = {0};
        assert_int_equal(qb_graph_sort(g, &e), 0);
        char path[64];
        tmp_path(path, sizeof path, "dom");
        assert_int_equal(qb_onnx_save(g, path, &e), 0);
        qb_graph_free(g);
        g = qb_onnx_load(path, &e);
        unlink(path);
        assert_null(g);
        assert_non_null(strstr(e.msg, c ? "operator domain 'com.qbench' is not supported" : "belongs to domain com.qbench"));
    }
}

/* An empty constant (Resize's roi, as paddle2onnx writes it) whose copy
 * holds no buffer is still written: the PP-OCRv4 detector's QDQ export
 * lost it and could not be read back. */
static void test_empty_constant_kept(void **state)
{
    (void)state;
    qb_graph *g = qb_graph_new("resize");
    g->opset = 13;
    int xi = qb_graph_tensor(g, "x"), ri = qb_graph_tensor(g, "roi"), si = qb_graph_tensor(g, "scales");
    qb_tensor *x = g->tensors[xi], *roi = g->tensors[ri], *sc = g->tensors[si];
    x->dtype = roi->dtype = sc->dtype = QB_DT_FLOAT;
    x->ndim = 4, x->dims[0] = 1, x->dims[1] = 1, x->dims[2] = 2, x->dims[3] = 2, x->has_shape = 1;
    x->kind = QB_T_INPUT;
    roi->ndim = 1, roi->dims[0] = 0, roi->has_shape = 1, roi->kind = QB_T_CONST; /* no data: an empty copy */
    sc->ndim = 1, sc->dims[0] = 4, sc->has_shape = 1, sc->kind = QB_T_CONST;
    sc->data = malloc(4 * sizeof(float));
    float s4[4] = {1, 1, 2, 2};
    memcpy(sc->data, s4, sizeof s4);
    g->inputs = malloc(sizeof(int));
    g->inputs[g->ninputs++] = xi;
    int n = qb_graph_add_node(g, "Resize", "up", 3, 1);
    g->nodes[n].in[0] = xi, g->nodes[n].in[1] = ri, g->nodes[n].in[2] = si;
    g->nodes[n].out[0] = qb_graph_tensor(g, "y");
    g->outputs = malloc(sizeof(int));
    g->outputs[g->noutputs++] = g->nodes[n].out[0];
    char path[64];
    tmp_path(path, sizeof path, "empty");
    qb_err e;
    if (qb_graph_sort(g, &e) || qb_onnx_save(g, path, &e))
        fail_msg("%s", e.msg);
    qb_graph_free(g);
    qb_graph *back = qb_onnx_load(path, &e);
    unlink(path);
    if (!back)
        fail_msg("%s", e.msg);
    int t = qb_graph_find(back, "roi");
    assert_true(t >= 0 && back->tensors[t]->kind == QB_T_CONST && qb_tensor_count(back->tensors[t]) == 0);
    qb_graph_free(back);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_custom_ops), cmocka_unit_test(test_domains), cmocka_unit_test(test_uint8_qdq), cmocka_unit_test(test_matmul),
        cmocka_unit_test(test_cnn),        cmocka_unit_test(test_dscnn),   cmocka_unit_test(test_mixed),
        cmocka_unit_test(test_empty_constant_kept),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
