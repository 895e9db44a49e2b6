/*
 * test_qmodel.c - quantized models on the model engine: a quantized Gemm
 * against the arithmetic written out by hand (quantize, integer dot,
 * requantize, dequantize); every integer precision bit-identical across
 * the ISAs this CPU runs; the pipeline's precisions ordered by error
 * (fp16 far above int8 above binary) on a small trained net; calibration
 * consistency of chained layers; ptq-kl keeping the graph output's
 * and the graph input's min/max range and that of a normalisation's
 * statistics; per-layer SQNR; the mixed-precision
 * search meeting its budget below int8's weight bytes; ONNX -> qb_net
 * import round trip; the fake-quantization hooks of QAT (weights on the
 * grid during a step and restored after, straight-through gradient
 * masked outside the range) and a short QAT run on synthetic data.
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

#include "harness/eval/compare.h"
#include "harness/graph/graph.h"
#include "harness/quant/layer_sqnr.h"
#include "harness/quant/mixed.h"
#include "harness/quant/ptq.h"
#include "harness/qmath/quant.h"
#include "harness/train/fakequant.h"
#include "harness/train/train.h"

static char model_path[64]; /* a small trained conv net (ONNX) shared by the tests */
static qb_graph *model;     /* that file, parsed once (the engine clones it for every use) */
static qb_dataset train_set, test_set;

/* conv 8 + BN + ReLU + maxpool, depthwise 3x3 + BN + ReLU6, pointwise 16
 * + ReLU, GAP, dense 4: every layer kind the zoo uses. */
static int build_net(qb_net *net, uint64_t seed)
{
    char err[256];
    qb_net_init(net, 1, 8, 8, seed);
    return qb_net_conv(net, 8, 3, 1, 1, 1, err, sizeof err) || qb_net_bn(net, err, sizeof err) ||
           qb_net_act(net, QB_L_RELU, err, sizeof err) || qb_net_pool(net, QB_L_MAXPOOL, 2, 2, 0, err, sizeof err) ||
           qb_net_conv(net, 8, 3, 1, 1, 8, err, sizeof err) || qb_net_bn(net, err, sizeof err) ||
           qb_net_act(net, QB_L_RELU6, err, sizeof err) || qb_net_conv(net, 16, 1, 1, 0, 1, err, sizeof err) ||
           qb_net_act(net, QB_L_RELU, err, sizeof err) || qb_net_act(net, QB_L_GAP, err, sizeof err) ||
           qb_net_dense(net, 4, err, sizeof err);
}

static int setup(void **state)
{
    (void)state;
    char err[256];
    if (qb_synthetic(800, 1, 8, 8, 4, 0.3f, 5, QB_SPLIT_TRAIN, &train_set, err, sizeof err) ||
        qb_synthetic(400, 1, 8, 8, 4, 0.3f, 5, QB_SPLIT_TEST, &test_set, err, sizeof err))
        return -1;
    qb_net net;
    if (build_net(&net, 7) || qb_net_alloc(&net, 32, err, sizeof err))
        return -1;
    qb_train_cfg cfg;
    qb_train_cfg_default(&cfg);
    cfg.epochs = 6;
    cfg.batch = 32;
    cfg.lr = 0.05f;
    if (qb_train(&net, &train_set, NULL, train_set.n, NULL, &cfg, NULL, err, sizeof err))
        return -1;
    qb_graph *g = qb_net_export(&net, "tiny", err, sizeof err);
    qb_net_free(&net);
    snprintf(model_path, sizeof model_path, "/tmp/qb-qmodel-XXXXXX");
    int fd = mkstemp(model_path);
    if (fd < 0 || !g)
        return -1;
    close(fd);
    qb_err e;
    int rc = qb_onnx_save(g, model_path, &e);
    qb_graph_free(g);
    if (!rc && !(model = qb_onnx_load(model_path, &e)))
        rc = -1;
    return rc;
}

static int teardown(void **state)
{
    (void)state;
    unlink(model_path);
    qb_graph_free(model);
    qb_dataset_free(&train_set);
    qb_dataset_free(&test_set);
    return 0;
}

static qb_samples calib_samples(void) { return (qb_samples){.d = &train_set, .n = 256}; }
static qb_samples eval_samples(void) { return (qb_samples){.d = &test_set, .n = test_set.n}; }

/* Calibrate the shared model with min/max. */
static void calibrate(qb_calibration *c)
{
    qb_err e;
    qb_samples s = calib_samples();
    if (qb_calibrate(model, &s, 50, QB_CALIB_MINMAX, 99.99, 0, c, &e))
        fail_msg("calibrate: %s", e.msg);
    assert_int_equal(c->n, 4);
}

/* Outputs of the model quantized by plan on isa for the first 64 test images. */
static float *run_plan(const qb_calibration *c, const qb_precision *plan, int isa, int64_t *outs)
{
    qb_quant_opts o = {.group = 0, .binary_ends_int8 = 1};
    qb_err e;
    qb_graph *g = qb_quantize_graph(model, c, plan, &o, &e);
    if (!g)
        fail_msg("quantize: %s", e.msg);
    qb_runner r;
    if (qb_runner_open(&r, g, 64, isa, &e))
        fail_msg("prepare: %s", e.msg);
    qb_samples s = eval_samples();
    qb_samples_fill(&s, 0, 64, 64, r.x);
    if (qb_runner_run(&r, &e))
        fail_msg("run: %s", e.msg);
    *outs = r.outs;
    float *y = malloc(sizeof(float) * 64 * (size_t)r.outs);
    memcpy(y, r.y, sizeof(float) * 64 * (size_t)r.outs);
    qb_runner_close(&r);
    return y;
}

/* A quantized Gemm against the arithmetic written out by hand. */
static void test_gemm_by_hand(void **state)
{
    (void)state;
    enum { M = 5, K = 37, N = 11 };
    qb_graph *g = qb_graph_new("hand.onnx");
    int x = qb_graph_tensor(g, "x"), w = qb_graph_tensor(g, "w"), b = qb_graph_tensor(g, "b"), y = qb_graph_tensor(g, "y");
    qb_tensor *tx = g->tensors[x], *tw = g->tensors[w], *tb = g->tensors[b];
    tx->kind = QB_T_INPUT, tx->dtype = QB_DT_FLOAT, tx->ndim = 2, tx->dims[0] = M, tx->dims[1] = K, tx->has_shape = 1;
    tw->kind = QB_T_CONST, tw->dtype = QB_DT_FLOAT, tw->ndim = 2, tw->dims[0] = N, tw->dims[1] = K, tw->has_shape = 1;
    tb->kind = QB_T_CONST, tb->dtype = QB_DT_FLOAT, tb->ndim = 1, tb->dims[0] = N, tb->has_shape = 1;
    float *W = malloc(sizeof(float) * N * K), *B = malloc(sizeof(float) * N), X[M * K];
    uint64_t s = 42;
    for (int i = 0; i < N * K; i++)
        W[i] = (float)((int)(qb_rng_next(&s) % 2001) - 1000) / 700.0f;
    for (int i = 0; i < N; i++)
        B[i] = (float)((int)(qb_rng_next(&s) % 201) - 100) / 50.0f;
    for (int i = 0; i < M * K; i++)
        X[i] = (float)((int)(qb_rng_next(&s) % 1001) - 300) / 250.0f;
    tw->data = W, tb->data = B;
    int ni = qb_graph_add_node(g, "Gemm", "fc", 3, 1);
    qb_node *n = &g->nodes[ni];
    n->in[0] = x, n->in[1] = w, n->in[2] = b, n->out[0] = y;
    n->attr = calloc(1, sizeof *n->attr);
    n->nattr = 1;
    n->attr[0].name = strdup("transB"), n->attr[0].type = QB_ATTR_INT, n->attr[0].i = 1;
    g->inputs = malloc(sizeof(int)), g->outputs = malloc(sizeof(int));
    g->inputs[0] = x, g->outputs[0] = y, g->ninputs = g->noutputs = 1;
    n->q = qb_qspec_new(QB_PREC_INT8_CHANNEL);
    n->q->in_scale = 0.013f, n->q->in_zero = -21, n->q->out_scale = 0.11f, n->q->out_zero = 7;
    qb_err e;
    qb_tensor in = *tx;
    in.data = X;
    if (qb_graph_prepare(g, &in, 1, -1, &e) || qb_graph_run(g, &in, 1, &e))
        fail_msg("%s", e.msg);
    const float *got = g->tensors[y]->data;
    /* by hand */
    qb_qparams qa = {.scale = 0.013f, .zero = -21, .qmin = -128, .qmax = 127};
    int8_t wq[N * K];
    float ws[N];
    qb_quant_w_int8(W, N, K, 1, wq, ws, NULL, 0);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            int32_t acc = (int32_t)nearbyint((double)B[j] / ((double)0.013f * ws[j]));
            for (int k = 0; k < K; k++)
                acc += (qb_quantize1(X[i * K + k], &qa) - qa.zero) * wq[j * K + k];
            qb_requant rq;
            assert_int_equal(qb_requant_from_real((double)0.013f * ws[j] / 0.11f, &rq), 0);
            int8_t q = qb_requant_apply(acc, rq, 7, -128, 127);
            float want = (float)(q - 7) * 0.11f;
            if (got[i * N + j] != want)
                fail_msg("y[%d][%d] = %.9g, by hand %.9g", i, j, (double)got[i * N + j], (double)want);
        }
    qb_graph_free(g);
}

/* Integer precisions give the same bits on every ISA this CPU runs. */
static void test_cross_isa_bit_exact(void **state)
{
    (void)state;
    qb_calibration c;
    calibrate(&c);
    const qb_precision precs[] = {QB_PREC_INT8_TENSOR, QB_PREC_INT8_CHANNEL, QB_PREC_INT4, QB_PREC_BINARY};
    for (size_t p = 0; p < sizeof precs / sizeof precs[0]; p++) {
        qb_precision plan[4];
        qb_quant_opts o = {.binary_ends_int8 = 1};
        qb_plan_uniform(&c, precs[p], &o, plan);
        int64_t outs;
        float *ref = run_plan(&c, plan, QB_ISA_SCALAR, &outs);
        int compared = 0;
        for (int isa = QB_ISA_AVX2; isa < QB_ISA_COUNT; isa++) {
            const qb_kernel *k = qb_kernel_get(QB_OP_GEMM, precs[p], (qb_isa)isa);
            const qb_kernel *f = qb_kernel_get(QB_OP_GEMM, QB_PREC_FP32, (qb_isa)isa);
            if (!k || !f || !qb_kernel_available(k, NULL, 0) || !qb_kernel_available(f, NULL, 0))
                continue;
            int64_t o2;
            float *y = run_plan(&c, plan, isa, &o2);
            assert_int_equal(o2, outs);
            if (memcmp(ref, y, sizeof(float) * 64 * (size_t)outs))
                fail_msg("%s: %s differs from scalar", qb_precision_name(precs[p]), qb_isa_name(isa));
            free(y);
            compared++;
        }
        print_message("%s: bit-identical on scalar and %d other ISA(s)\n", qb_precision_name(precs[p]), compared);
        free(ref);
    }
    qb_calibration_free(&c);
}

/* Chained convs share one tensor: the consumer's input parameters are the producer's output ones. */
static void test_calibration_chain(void **state)
{
    (void)state;
    qb_calibration c;
    calibrate(&c);
    for (int i = 0; i + 1 < c.n; i++)
        if (c.layers[i].out_t == c.layers[i + 1].in_t) {
            assert_true(c.layers[i].out_qp.scale == c.layers[i + 1].in_qp.scale);
            assert_int_equal(c.layers[i].out_qp.zero, c.layers[i + 1].in_qp.zero);
        }
    /* the depthwise conv reads a max-pooled ReLU: its range starts at 0, zero point -128 */
    assert_true(c.layers[1].depthwise);
    assert_int_equal(c.layers[1].in_qp.zero, -128);
    assert_true(c.samples == 256 && c.seconds > 0);
    qb_calibration_free(&c);
}

/* ptq-kl on the tensor that is the graph output (the dense layer's 4
 * logits, read by no further layer): KL's own range clips it (seen with
 * QB_CALIB_CLIP_OUTPUTS=1, the rule switched off), the rule gives it the
 * min/max range (the qparams ptq-minmax derives) and records it; every
 * other tensor keeps KL's range. */
static void test_kl_output_keeps_minmax(void **state)
{
    (void)state;
    qb_calibration mm, kl, clip;
    qb_err e;
    qb_samples s = calib_samples();
    calibrate(&mm);
    if (qb_calibrate(model, &s, 50, QB_CALIB_KL, 99.99, 0, &kl, &e))
        fail_msg("calibrate kl: %s", e.msg);
    setenv("QB_CALIB_CLIP_OUTPUTS", "1", 1);
    int rc = qb_calibrate(model, &s, 50, QB_CALIB_KL, 99.99, 0, &clip, &e);
    unsetenv("QB_CALIB_CLIP_OUTPUTS");
    if (rc)
        fail_msg("calibrate kl, outputs clipped: %s", e.msg);
    int last = kl.n - 1;
    assert_int_equal(kl.n, 4);
    /* KL alone clips the logits: its lowest code lies more than a step
     * above the smallest logit seen (min/max's lowest code) */
    const qb_qparams *cq = &clip.layers[last].out_qp, *mq = &mm.layers[last].out_qp;
    assert_int_equal(clip.layers[last].kept_minmax, 0);
    assert_true(cq->scale * (float)(cq->qmin - cq->zero) > mq->scale * (float)(mq->qmin - mq->zero) + cq->scale);
    /* the rule: min/max's qparams exactly, marked as kept on the output only */
    assert_int_equal(kl.layers[last].kept_minmax, 2);
    assert_true(kl.layers[last].out_qp.scale == mm.layers[last].out_qp.scale);
    assert_int_equal(kl.layers[last].out_qp.zero, mm.layers[last].out_qp.zero);
    for (int i = 0; i < kl.n; i++) {
        assert_true(kl.layers[i].in_qp.scale == clip.layers[i].in_qp.scale);
        if (i == last)
            continue;
        assert_int_equal(kl.layers[i].kept_minmax & 2u, 0); /* bit 0: the input-side rule */
        assert_true(kl.layers[i].out_qp.scale == clip.layers[i].out_qp.scale);
    }
    qb_calibration_free(&mm);
    qb_calibration_free(&kl);
    qb_calibration_free(&clip);
}

/* ptq-kl on the graph-input side (mark_input_side): layer 0 of the
 * shared conv net reads the graph input itself; layer 0 of an MLP reads
 * it through a Flatten (qb_net_export's), which holds the same values.
 * KL's own range clips both (QB_CALIB_CLIP_INPUTS=1, the rule switched
 * off: its top code lies more than a step below the largest input seen);
 * the rule gives them min/max's qparams exactly and records them as kept
 * on the input; the first layer's output keeps KL's range. */
static void check_kl_input(const qb_graph *m, const qb_samples *s, int nlayers)
{
    qb_calibration mm, kl, clip;
    qb_err e;
    if (qb_calibrate(m, s, 50, QB_CALIB_MINMAX, 99.99, 0, &mm, &e) ||
        qb_calibrate(m, s, 50, QB_CALIB_KL, 99.99, 0, &kl, &e))
        fail_msg("calibrate: %s", e.msg);
    setenv("QB_CALIB_CLIP_INPUTS", "1", 1);
    int rc = qb_calibrate(m, s, 50, QB_CALIB_KL, 99.99, 0, &clip, &e);
    unsetenv("QB_CALIB_CLIP_INPUTS");
    if (rc)
        fail_msg("calibrate kl, inputs clipped: %s", e.msg);
    assert_int_equal(kl.n, nlayers);
    const qb_qparams *cq = &clip.layers[0].in_qp, *mq = &mm.layers[0].in_qp, *kq = &kl.layers[0].in_qp;
    assert_int_equal(clip.layers[0].kept_minmax & 1u, 0);
    print_message("input max: minmax %g, kl %g (step %g)\n", mq->scale * (float)(mq->qmax - mq->zero),
                  cq->scale * (float)(cq->qmax - cq->zero), cq->scale);
    assert_true(cq->scale * (float)(cq->qmax - cq->zero) < mq->scale * (float)(mq->qmax - mq->zero) - cq->scale);
    assert_int_equal(kl.layers[0].kept_minmax, 1);
    assert_true(kq->scale == mq->scale);
    assert_int_equal(kq->zero, mq->zero);
    assert_true(kl.layers[0].out_qp.scale == clip.layers[0].out_qp.scale);
    for (int i = 1; i < kl.n; i++)
        assert_true(kl.layers[i].in_qp.scale == clip.layers[i].in_qp.scale);
    qb_calibration_free(&mm);
    qb_calibration_free(&kl);
    qb_calibration_free(&clip);
}

static void test_kl_input_keeps_minmax(void **state)
{
    (void)state;
    /* the training images with exponential values of mean 0.1 (a long
     * tail, as audio or features have; the images' [0, 1] pixels are not
     * clipped by KL) */
    qb_dataset tail = train_set;
    size_t nv = (size_t)tail.n * qb_dataset_sample_size(&tail);
    tail.u8 = NULL;
    tail.f32 = malloc(nv * sizeof *tail.f32);
    assert_non_null(tail.f32);
    uint64_t r = 12345;
    for (size_t i = 0; i < nv; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        tail.f32[i] = -0.1f * logf(((float)(r >> 40) + 0.5f) / 16777216.0f);
    }
    qb_samples s = {.d = &tail, .n = 256};
    check_kl_input(model, &s, 4);
    /* an untrained MLP: input -> Flatten -> Gemm 16 -> ReLU -> Gemm 4 */
    char err[256], path[64];
    qb_net net;
    qb_net_init(&net, 1, 8, 8, 3);
    if (qb_net_dense(&net, 16, err, sizeof err) || qb_net_act(&net, QB_L_RELU, err, sizeof err) ||
        qb_net_dense(&net, 4, err, sizeof err) || qb_net_alloc(&net, 32, err, sizeof err))
        fail_msg("mlp: %s", err);
    qb_graph *g = qb_net_export(&net, "mlp", err, sizeof err);
    qb_net_free(&net);
    assert_non_null(g);
    snprintf(path, sizeof path, "/tmp/qb-qmlp-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    qb_err e;
    int rc = qb_onnx_save(g, path, &e);
    qb_graph_free(g);
    qb_graph *mlp = rc ? NULL : qb_onnx_load(path, &e);
    unlink(path);
    if (!mlp)
        fail_msg("mlp: %s", e.msg);
    check_kl_input(mlp, &s, 2);
    qb_graph_free(mlp);
    free(tail.f32);
}

/* A tensor of the hand-made graph g: name, kind, 2-D shape, data (owned by g). */
static int hand_tensor(qb_graph *g, const char *name, int kind, int rows, int cols, float *data)
{
    int t = qb_graph_tensor(g, name);
    qb_tensor *x = g->tensors[t];
    x->kind = kind, x->dtype = QB_DT_FLOAT, x->ndim = 2, x->dims[0] = rows, x->dims[1] = cols, x->has_shape = 1;
    x->data = data;
    return t;
}

/* Node op of g reading in[0..nin) and writing out, with one integer (list) attribute when aname is set. */
static void hand_node(qb_graph *g, const char *op, const int *in, int nin, int out, const char *aname, int ints)
{
    int ni = qb_graph_add_node(g, op, op, nin, 1);
    qb_node *n = &g->nodes[ni];
    for (int k = 0; k < nin; k++)
        n->in[k] = in[k];
    n->out[0] = out;
    if (aname) {
        n->attr = calloc(1, sizeof *n->attr);
        n->nattr = 1;
        n->attr[0].name = strdup(aname);
        if (ints) {
            n->attr[0].type = QB_ATTR_INTS, n->attr[0].n = 1;
            n->attr[0].ints = malloc(sizeof(int64_t));
            n->attr[0].ints[0] = 1;
        } else {
            n->attr[0].type = QB_ATTR_INT, n->attr[0].i = 1;
        }
    }
}

/* ptq-kl on a tensor a normalisation takes its statistics from
 * (mark_stats_side): x[16] -> Gemm 32 -> h -> ReduceMean over the
 * features -> Sub -> Relu -> Gemm 4, inputs with an exponential tail that
 * the first Gemm copies into h (each h_j one input). h is
 * read by the ReduceMean: KL alone clips it (QB_CALIB_CLIP_STATS=1), the
 * rule gives it min/max's qparams and records it as kept on the output of
 * layer 0 (and the input of no layer: the second Gemm reads the Relu). */
static void test_kl_stats_keep_minmax(void **state)
{
    (void)state;
    enum { K = 16, H = 32, O = 4, S = 256 };
    qb_graph *g = qb_graph_new("norm.onnx");
    float *W1 = malloc(sizeof(float) * H * K), *W2 = malloc(sizeof(float) * O * H), *X = malloc(sizeof(float) * S * K);
    assert_true(W1 && W2 && X);
    uint64_t r = 7;
    for (int i = 0; i < H * K; i++) /* h_j = x_(j mod K) (h keeps the inputs' tail) */
        W1[i] = i / K % K == i % K ? 1.0f : 0.0f;
    for (int i = 0; i < O * H; i++)
        W2[i] = (float)((int)(qb_rng_next(&r) % 2001) - 1000) / 1000.0f;
    for (int i = 0; i < S * K; i++)
        X[i] = -logf(((float)(qb_rng_next(&r) >> 40) + 0.5f) / 16777216.0f);
    int x = hand_tensor(g, "x", QB_T_INPUT, 1, K, NULL), w1 = hand_tensor(g, "w1", QB_T_CONST, H, K, W1);
    int w2 = hand_tensor(g, "w2", QB_T_CONST, O, H, W2), h = qb_graph_tensor(g, "h"), m = qb_graph_tensor(g, "m");
    int d = qb_graph_tensor(g, "d"), a = qb_graph_tensor(g, "a"), y = qb_graph_tensor(g, "y");
    hand_node(g, "Gemm", (int[]){x, w1}, 2, h, "transB", 0);
    hand_node(g, "ReduceMean", (int[]){h}, 1, m, "axes", 1);
    hand_node(g, "Sub", (int[]){h, m}, 2, d, NULL, 0);
    hand_node(g, "Relu", (int[]){d}, 1, a, NULL, 0);
    hand_node(g, "Gemm", (int[]){a, w2}, 2, y, "transB", 0);
    g->inputs = malloc(sizeof(int)), g->outputs = malloc(sizeof(int));
    g->inputs[0] = x, g->outputs[0] = y, g->ninputs = g->noutputs = 1;
    qb_samples s = {.x = X, .n = S, .sample = K};
    qb_calibration mm, kl, clip;
    qb_err e;
    if (qb_calibrate(g, &s, 32, QB_CALIB_MINMAX, 99.99, 0, &mm, &e) ||
        qb_calibrate(g, &s, 32, QB_CALIB_KL, 99.99, 0, &kl, &e))
        fail_msg("calibrate: %s", e.msg);
    setenv("QB_CALIB_CLIP_STATS", "1", 1);
    int rc = qb_calibrate(g, &s, 32, QB_CALIB_KL, 99.99, 0, &clip, &e);
    unsetenv("QB_CALIB_CLIP_STATS");
    if (rc)
        fail_msg("calibrate kl, statistics clipped: %s", e.msg);
    assert_int_equal(kl.n, 2);
    const qb_qparams *cq = &clip.layers[0].out_qp, *mq = &mm.layers[0].out_qp, *kq = &kl.layers[0].out_qp;
    print_message("h max: minmax %g, kl %g (step %g)\n", mq->scale * (float)(mq->qmax - mq->zero),
                  cq->scale * (float)(cq->qmax - cq->zero), cq->scale);
    assert_int_equal(clip.layers[0].kept_minmax & 2u, 0);
    assert_true(cq->scale * (float)(cq->qmax - cq->zero) < mq->scale * (float)(mq->qmax - mq->zero) - cq->scale);
    assert_int_equal(kl.layers[0].kept_minmax & 2u, 2);
    assert_true(kq->scale == mq->scale);
    assert_int_equal(kq->zero, mq->zero);
    assert_int_equal(kl.layers[1].kept_minmax & 1u, 0);
    assert_true(kl.layers[1].in_qp.scale == clip.layers[1].in_qp.scale);
    qb_calibration_free(&mm);
    qb_calibration_free(&kl);
    qb_calibration_free(&clip);
    free(X);
    qb_graph_free(g);
}

/* fp16 error far below int8's, int8's below binary's; accuracy near fp32 for int8. */
static void test_precision_order(void **state)
{
    (void)state;
    qb_calibration c;
    calibrate(&c);
    qb_err e;
    qb_samples s = eval_samples();
    float *ref;
    int64_t outs;
    if (qb_reference_outputs(model, &s, 100, -1, &ref, &outs, &e))
        fail_msg("%s", e.msg);
    const qb_precision precs[] = {QB_PREC_FP16, QB_PREC_INT8_CHANNEL, QB_PREC_INT4, QB_PREC_BINARY};
    double sqnr[4];
    for (int p = 0; p < 4; p++) {
        qb_precision plan[4];
        qb_quant_opts o = {.binary_ends_int8 = 1};
        qb_plan_uniform(&c, precs[p], &o, plan);
        qb_graph *g = qb_quantize_graph(model, &c, plan, &o, &e);
        qb_metrics m;
        if (!g || qb_compare_graph(g, &s, 100, -1, ref, outs, &m, &e))
            fail_msg("%s", e.msg);
        sqnr[p] = m.sqnr_db;
        print_message("%-13s top-1 %.2f%% (fp32 %.2f%%) agreement %.2f%% SQNR %.1f dB\n",
                      qb_precision_name(precs[p]), m.top1, m.ref_top1, m.agreement, m.sqnr_db);
        assert_int_equal(m.samples, s.n);
        if (precs[p] == QB_PREC_FP16)
            assert_true(m.sqnr_db > 55 && m.agreement == 100.0);
        if (precs[p] == QB_PREC_INT8_CHANNEL)
            assert_true(m.sqnr_db > 25 && m.agreement > 97 && fabs(m.drop_pt) < 3);
    }
    assert_true(sqnr[0] > sqnr[1] + 15);
    assert_true(sqnr[1] > sqnr[2]);
    assert_true(sqnr[2] > sqnr[3]);
    free(ref);
    qb_calibration_free(&c);
}

/* Per-layer SQNR: finite for int8, isolated never much below propagated. */
static void test_per_layer(void **state)
{
    (void)state;
    qb_calibration c;
    calibrate(&c);
    qb_precision plan[4];
    qb_quant_opts o = {.binary_ends_int8 = 1};
    qb_plan_uniform(&c, QB_PREC_INT8_CHANNEL, &o, plan);
    qb_err e;
    qb_graph *g = qb_quantize_graph(model, &c, plan, &o, &e);
    double prop[4], iso[4];
    qb_samples s = eval_samples();
    s.n = 100;
    if (!g || qb_per_layer_sqnr(model, g, &c, &s, 50, -1, prop, iso, &e))
        fail_msg("%s", e.msg);
    for (int i = 0; i < 4; i++) {
        print_message("layer %d %-10s propagated %.1f dB isolated %.1f dB\n", i, c.layers[i].name, prop[i], iso[i]);
        assert_true(prop[i] > 15 && isfinite(prop[i]));
        assert_true(iso[i] > prop[i] - 1.0);
    }
    /* the first layer sees the same input either way */
    assert_true(fabs(prop[0] - iso[0]) < 1e-9);
    qb_calibration_free(&c);
}

/* The mixed search meets its budget with fewer weight bytes than int8. */
static void test_mixed(void **state)
{
    (void)state;
    qb_calibration c;
    calibrate(&c);
    qb_precision plan[4], int8[4];
    qb_quant_opts o = {.binary_ends_int8 = 1};
    qb_samples val = {.d = &train_set, .n = 400};
    qb_mixed m;
    qb_err e;
    if (qb_mixed_search(model, &c, &val, 100, 1.0, &o, plan, &m, 0, &e))
        fail_msg("%s", e.msg);
    qb_plan_uniform(&c, QB_PREC_INT8_CHANNEL, &o, int8);
    print_message("mixed: drop %.2f pt, %lld bytes (int8 %lld), %d plans\n", m.drop, (long long)m.bytes,
                  (long long)qb_plan_weight_bytes(&c, int8, &o), m.evaluations);
    assert_true(m.met && m.drop <= 1.0);
    assert_true(m.evaluations >= 5);
    if (m.bytes >= qb_plan_weight_bytes(&c, int8, &o)) /* only when no layer could stay int4 */
        for (int i = 0; i < 4; i++)
            assert_true(plan[i] != QB_PREC_INT4);
    qb_mixed_free(&m);
    qb_calibration_free(&c);
}

/* qb_graph_clone: a copy of the parsed model runs bit-identically to the
 * file parsed again, in fp32 and quantized (int8 per channel), and
 * survives the original; a prepared graph is refused. */
static void test_clone(void **state)
{
    (void)state;
    qb_err e;
    qb_samples s = eval_samples();
    s.n = 20;
    for (int quant = 0; quant < 2; quant++) {
        qb_graph *fresh = qb_onnx_load(model_path, &e), *copy = qb_graph_clone(model, &e);
        assert_non_null(fresh);
        assert_non_null(copy);
        qb_graph *g[2] = {fresh, copy};
        float *out[2];
        int64_t outs[2];
        for (int k = 0; k < 2; k++) {
            if (quant) { /* the same qspecs on both, then cloned once more (qspecs copied) */
                qb_calibration c;
                qb_samples cs = calib_samples();
                assert_int_equal(qb_calibrate(g[k], &cs, 50, QB_CALIB_MINMAX, 99.99, 0, &c, &e), 0);
                qb_precision plan[16];
                assert_true(c.n <= 16);
                qb_quant_opts o = {.group = 0, .binary_ends_int8 = 1};
                qb_plan_uniform(&c, QB_PREC_INT8_CHANNEL, &o, plan);
                qb_graph *q = qb_quantize_graph(g[k], &c, plan, &o, &e);
                assert_non_null(q);
                qb_graph_free(g[k]);
                g[k] = k ? qb_graph_clone(q, &e) : q;
                if (k)
                    qb_graph_free(q);
                assert_non_null(g[k]);
                qb_calibration_free(&c);
            }
            if (qb_reference_outputs(g[k], &s, 10, -1, &out[k], &outs[k], &e))
                fail_msg("%s", e.msg);
        }
        assert_int_equal(outs[0], outs[1]);
        assert_memory_equal(out[0], out[1], (size_t)(s.n * outs[0]) * sizeof(float));
        free(out[0]), free(out[1]);
        qb_graph_free(g[0]);
        qb_graph_free(g[1]);
    }
    /* a prepared graph is refused */
    qb_graph *g = qb_graph_clone(model, &e);
    qb_runner r;
    assert_int_equal(qb_runner_open(&r, g, 1, -1, &e), 0);
    assert_null(qb_graph_clone(r.g, &e));
    assert_non_null(strstr(e.msg, "prepared"));
    qb_runner_close(&r);
}

/* ONNX -> qb_net -> same outputs as the model engine. */
static void test_import_roundtrip(void **state)
{
    (void)state;
    qb_err e;
    char err[512];
    qb_graph *g = qb_onnx_load(model_path, &e);
    assert_non_null(g);
    qb_net net;
    assert_int_equal(qb_net_import(g, 1, &net, err, sizeof err), 0);
    qb_graph_free(g);
    assert_int_equal(qb_net_alloc(&net, 8, err, sizeof err), 0);
    qb_samples s = eval_samples();
    qb_samples_fill(&s, 0, 8, 8, net.act[0]);
    net.training = 0;
    const float *z = qb_net_forward(&net, 8);
    float *ref;
    int64_t outs;
    s.n = 8;
    if (qb_reference_outputs(model, &s, 8, -1, &ref, &outs, &e))
        fail_msg("%s", e.msg);
    for (int i = 0; i < 8 * outs; i++)
        assert_true(fabsf(z[i] - ref[i]) <= 1e-4f * (1 + fabsf(ref[i])));
    free(ref);
    qb_net_free(&net);
}

/* Fake quantization: weights on the int8 grid during a step, restored
 * after; the input gradient zeroed where the input was clipped. */
static void test_fake_quant_hooks(void **state)
{
    (void)state;
    qb_net net;
    char err[256];
    qb_net_init(&net, 1, 1, 6, 3);
    assert_int_equal(qb_net_act(&net, QB_L_FLATTEN, err, sizeof err), 0);
    assert_int_equal(qb_net_dense(&net, 3, err, sizeof err), 0);
    assert_int_equal(qb_net_dense(&net, 2, err, sizeof err), 0);
    assert_int_equal(qb_net_alloc(&net, 2, err, sizeof err), 0);
    qb_precision plan[2] = {QB_PREC_INT8_CHANNEL, QB_PREC_INT8_CHANNEL};
    qb_fq f;
    assert_int_equal(qb_fq_init(&f, &net, plan, 0, err, sizeof err), 0);
    qb_train_cfg cfg;
    qb_train_cfg_default(&cfg);
    qb_fq_attach(&f, &net, &cfg);
    float master[18];
    memcpy(master, net.layers[1].w, sizeof master);
    qb_fq_step(&net, QB_STEP_BEGIN, 0, &f);
    /* on the grid: w = q * scale with |q| <= 127 */
    float mx = 0;
    for (int i = 0; i < 6; i++)
        mx = fmaxf(mx, fabsf(master[i]));
    for (int i = 0; i < 6; i++) {
        float q = net.layers[1].w[i] / (mx / 127.0f);
        assert_true(fabsf(q - nearbyintf(q)) < 1e-3f);
    }
    /* forward twice in training mode: the range is observed on the first batch */
    net.training = 1;
    float x[12] = {0, 1, 2, 3, 4, 5, 0.5f, 1.5f, 2.5f, 3.5f, 4.5f, 5.5f};
    memcpy(net.act[0], x, sizeof x);
    qb_net_forward(&net, 2);
    assert_true(f.seen[0] == 1 && f.lo[0] == 0 && f.hi[0] == 5.5f);
    /* a narrower range from now on: values above it are clipped */
    f.observe = 0;
    f.hi[0] = 3.0f;
    memcpy(net.act[0], x, sizeof x);
    qb_net_forward(&net, 2);
    for (int i = 0; i < 12; i++)
        assert_true(net.act[1][i] <= 3.0f + 1e-6f);
    for (int i = 0; i < 4; i++)
        net.grad[3][i] = 1.0f;
    qb_net_backward(&net, 2, 0);
    /* layer 1's input gradient (grad[1]) is masked where its input was clipped (x > 3) */
    for (int i = 0; i < 12; i++)
        if (x[i] > 3.0f + 0.01f)
            assert_true(net.grad[1][i] == 0.0f);
    int nonzero = 0;
    for (int i = 0; i < 12; i++)
        nonzero += x[i] < 2.9f && net.grad[1][i] != 0.0f;
    assert_true(nonzero > 0);
    /* the previous layer's output is restored for its own backward */
    for (int i = 0; i < 12; i++)
        assert_true(net.act[1][i] == x[i]);
    qb_fq_step(&net, QB_STEP_GRADS, 0, &f);
    assert_memory_equal(net.layers[1].w, master, sizeof master);
    qb_fq_free(&f);
    qb_net_free(&net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemm_by_hand),     cmocka_unit_test(test_cross_isa_bit_exact),
        cmocka_unit_test(test_calibration_chain), cmocka_unit_test(test_precision_order),
        cmocka_unit_test(test_per_layer),        cmocka_unit_test(test_mixed),
        cmocka_unit_test(test_import_roundtrip), cmocka_unit_test(test_fake_quant_hooks),
        cmocka_unit_test(test_clone),            cmocka_unit_test(test_kl_output_keeps_minmax),
        cmocka_unit_test(test_kl_input_keeps_minmax),    cmocka_unit_test(test_kl_stats_keep_minmax),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
