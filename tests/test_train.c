/*
 * test_train.c - the training engine: every backward pass (Dense, Conv
 * plain/grouped/depthwise/strided, BatchNormalization in training mode,
 * ReLU, ReLU6, MaxPool, AveragePool, GlobalAveragePool, Flatten, softmax
 * cross-entropy, and a chain of them) against central finite differences;
 * BatchNormalization running statistics; learning-rate schedules; SGD and
 * Adam training tiny models on the synthetic dataset to > 95% test
 * accuracy; same seed -> bit-identical weights; a trained network
 * exported to the model engine's graph (and through an ONNX file) gives
 * the outputs of the training engine's inference pass; 1 and 2 threads
 * (OpenMP) give bit-identical models; the model cache (keys, reuse,
 * retraining, metadata).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness/graph/graph.h"
#include "harness/model/norm_meta.h"
#include "harness/train/train.h"

/* One layer to append (a tiny description for the tests). */
typedef struct spec {
    qb_layer_kind kind; /* layer kind */
    int a, k, s, p, g;  /* out channels/units, kernel, stride, pad, groups */
} spec;

static void build(qb_net *net, int c, int h, int w, const spec *sp, int n, int batch)
{
    char err[256] = "";
    qb_net_init(net, c, h, w, 99);
    for (int i = 0; i < n; i++) {
        int rc;
        switch (sp[i].kind) {
        case QB_L_DENSE: rc = qb_net_dense(net, sp[i].a, err, sizeof err); break;
        case QB_L_CONV: rc = qb_net_conv(net, sp[i].a, sp[i].k, sp[i].s, sp[i].p, sp[i].g, err, sizeof err); break;
        case QB_L_BN: rc = qb_net_bn(net, err, sizeof err); break;
        case QB_L_MAXPOOL:
        case QB_L_AVGPOOL: rc = qb_net_pool(net, sp[i].kind, sp[i].k, sp[i].s, sp[i].p, err, sizeof err); break;
        default: rc = qb_net_act(net, sp[i].kind, err, sizeof err); break;
        }
        if (rc)
            fail_msg("build: %s", err);
    }
    if (qb_net_alloc(net, batch, err, sizeof err))
        fail_msg("alloc: %s", err);
}

/* Loss = sum(out * r) in double, after a training-mode forward. */
static double loss_of(qb_net *net, int batch, const float *r)
{
    net->training = 1;
    const float *y = qb_net_forward(net, batch);
    size_t n = qb_net_size(net, net->n) * (size_t)batch;
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)y[i] * r[i];
    return s;
}

/* Compare the analytic gradient g of value *v with a central difference. */
static int check_one(qb_net *net, int batch, const float *r, float *v, float g, float eps, const char *what,
                     size_t idx)
{
    float keep = *v;
    *v = keep + eps;
    double lp = loss_of(net, batch, r);
    *v = keep - eps;
    double lm = loss_of(net, batch, r);
    *v = keep;
    double num = (lp - lm) / (2.0 * eps);
    double tol = 2e-2 * (fabs(num) + fabs(g)) + 2e-3;
    if (fabs(num - g) > tol) {
        print_error("%s[%zu]: analytic %.6g, numeric %.6g\n", what, idx, (double)g, num);
        return 1;
    }
    return 0;
}

/* Random input (values by gen_mode), random r, backward, then finite
 * differences for up to 40 entries of the input and of every parameter. */
static void gradcheck(qb_net *net, int batch, int gen_mode, float eps)
{
    uint64_t rng = 12345;
    size_t nin = qb_net_size(net, 0) * (size_t)batch, nout = qb_net_size(net, net->n) * (size_t)batch;
    float *x = net->act[0];
    for (size_t i = 0; i < nin; i++) {
        float u = qb_rng_uniform(&rng);
        if (gen_mode == 1) /* away from ReLU/ReLU6 kinks: |x| >= 0.1, |x-6| >= 0.1 */
            x[i] = (u < 0.5f ? -1 : 1) * (0.1f + 7.8f * qb_rng_uniform(&rng));
        else if (gen_mode == 2) /* distinct values 0.05 apart: no max ties */
            x[i] = 0;
        else
            x[i] = 2 * u - 1;
    }
    if (gen_mode == 2) {
        int *perm = malloc(sizeof(int) * nin);
        for (size_t i = 0; i < nin; i++)
            perm[i] = (int)i;
        qb_shuffle(perm, (int)nin, &rng);
        for (size_t i = 0; i < nin; i++)
            x[i] = 0.05f * (float)perm[i] - 1.0f;
        free(perm);
    }
    if (gen_mode == 1)
        for (size_t j = 0; j < nin; j++)
            if (fabsf(x[j] - 6) < 0.1f)
                x[j] = 6.5f;
    /* BN gamma/beta away from their defaults so their gradients matter */
    for (int i = 0; i < net->n; i++)
        if (net->layers[i].kind == QB_L_BN)
            for (size_t j = 0; j < net->layers[i].nw; j++) {
                net->layers[i].w[j] = 0.5f + qb_rng_uniform(&rng);
                net->layers[i].b[j] = qb_rng_uniform(&rng) - 0.5f;
            }
    float *r = malloc(sizeof(float) * nout), *x0 = malloc(sizeof(float) * nin);
    for (size_t i = 0; i < nout; i++)
        r[i] = 2 * qb_rng_uniform(&rng) - 1;
    memcpy(x0, x, sizeof(float) * nin);
    loss_of(net, batch, r);
    memcpy(net->grad[net->n], r, sizeof(float) * nout);
    qb_net_backward(net, batch, 1);
    /* keep the analytic input gradient (later forwards leave it, but be safe) */
    float *gx = malloc(sizeof(float) * nin);
    memcpy(gx, net->grad[0], sizeof(float) * nin);
    int bad = 0;
    size_t step = nin / 40 + 1;
    for (size_t i = 0; i < nin; i += step) {
        /* act[0] is the input: perturb the saved copy and load it */
        x0[i] += eps;
        memcpy(x, x0, sizeof(float) * nin);
        double lp = loss_of(net, batch, r);
        x0[i] -= 2 * eps;
        memcpy(x, x0, sizeof(float) * nin);
        double lm = loss_of(net, batch, r);
        x0[i] += eps;
        double num = (lp - lm) / (2.0 * eps);
        if (fabs(num - gx[i]) > 2e-2 * (fabs(num) + fabs(gx[i])) + 2e-3) {
            print_error("dx[%zu]: analytic %.6g, numeric %.6g\n", i, (double)gx[i], num);
            bad++;
        }
    }
    memcpy(x, x0, sizeof(float) * nin);
    for (int l = 0; l < net->n; l++) {
        qb_layer *L = &net->layers[l];
        for (int p = 0; p < 2; p++) {
            size_t n = p ? L->nb : L->nw;
            if (!n)
                continue;
            float *v = p ? L->b : L->w, *g = malloc(sizeof(float) * n);
            memcpy(g, p ? L->db : L->dw, sizeof(float) * n);
            size_t st = n / 40 + 1;
            char what[64];
            snprintf(what, sizeof what, "layer %d %s", l, p ? "b" : "w");
            for (size_t i = 0; i < n; i += st) {
                memcpy(x, x0, sizeof(float) * nin);
                bad += check_one(net, batch, r, v + i, g[i], eps, what, i);
            }
            free(g);
        }
    }
    free(gx);
    free(r);
    free(x0);
    assert_int_equal(bad, 0);
}

static void run_check(int c, int h, int w, const spec *sp, int n, int batch, int mode, float eps)
{
    qb_net net;
    build(&net, c, h, w, sp, n, batch);
    gradcheck(&net, batch, mode, eps);
    qb_net_free(&net);
}

static void test_grad_dense(void **state)
{
    (void)state;
    spec s[] = {{QB_L_DENSE, 5, 0, 0, 0, 0}};
    run_check(2, 3, 3, s, 1, 3, 0, 1e-2f);
    spec s2[] = {{QB_L_FLATTEN, 0, 0, 0, 0, 0}, {QB_L_DENSE, 7, 0, 0, 0, 0}, {QB_L_DENSE, 3, 0, 0, 0, 0}};
    run_check(3, 2, 2, s2, 3, 5, 0, 1e-2f);
    spec big[] = {{QB_L_DENSE, 70, 0, 0, 0, 0}};
    run_check(300, 1, 1, big, 1, 33, 0, 1e-2f);
}

static void test_grad_conv(void **state)
{
    (void)state;
    spec plain[] = {{QB_L_CONV, 6, 3, 1, 1, 1}};
    run_check(4, 6, 6, plain, 1, 2, 0, 1e-2f);
    spec strided[] = {{QB_L_CONV, 3, 3, 2, 0, 1}};
    run_check(2, 7, 5, strided, 1, 3, 0, 1e-2f);
    spec grouped[] = {{QB_L_CONV, 6, 3, 2, 1, 2}};
    run_check(4, 7, 7, grouped, 1, 2, 0, 1e-2f);
    spec depthwise[] = {{QB_L_CONV, 4, 3, 1, 1, 4}};
    run_check(4, 6, 6, depthwise, 1, 2, 0, 1e-2f);
    spec dw_mult[] = {{QB_L_CONV, 8, 3, 2, 1, 4}};
    run_check(4, 5, 5, dw_mult, 1, 2, 0, 1e-2f);
    spec pointwise[] = {{QB_L_CONV, 5, 1, 1, 0, 1}};
    run_check(3, 4, 4, pointwise, 1, 2, 0, 1e-2f);
    spec large[] = {{QB_L_CONV, 40, 3, 1, 1, 1}}; /* kernel blocking: M = 576, N = 40, K = 54 */
    run_check(6, 12, 12, large, 1, 4, 0, 1e-2f);
}

static void test_grad_bn(void **state)
{
    (void)state;
    spec s[] = {{QB_L_BN, 0, 0, 0, 0, 0}};
    run_check(3, 4, 4, s, 1, 4, 0, 1e-2f);
    spec fc[] = {{QB_L_DENSE, 6, 0, 0, 0, 0}, {QB_L_BN, 0, 0, 0, 0, 0}};
    run_check(5, 1, 1, fc, 2, 8, 0, 1e-2f);
}

static void test_grad_act(void **state)
{
    (void)state;
    spec relu[] = {{QB_L_RELU, 0, 0, 0, 0, 0}};
    run_check(2, 3, 3, relu, 1, 2, 1, 1e-2f);
    spec relu6[] = {{QB_L_RELU6, 0, 0, 0, 0, 0}};
    run_check(2, 3, 3, relu6, 1, 2, 1, 1e-2f);
    spec flat[] = {{QB_L_FLATTEN, 0, 0, 0, 0, 0}};
    run_check(2, 3, 3, flat, 1, 2, 0, 1e-2f);
}

static void test_grad_pool(void **state)
{
    (void)state;
    spec mp[] = {{QB_L_MAXPOOL, 0, 2, 2, 0, 0}};
    run_check(2, 6, 6, mp, 1, 2, 2, 1e-2f);
    spec mp3[] = {{QB_L_MAXPOOL, 0, 3, 2, 1, 0}};
    run_check(2, 7, 6, mp3, 1, 2, 2, 1e-2f);
    spec ap[] = {{QB_L_AVGPOOL, 0, 3, 2, 1, 0}};
    run_check(2, 7, 6, ap, 1, 2, 0, 1e-2f);
    spec gap[] = {{QB_L_GAP, 0, 0, 0, 0, 0}};
    run_check(3, 5, 4, gap, 1, 2, 0, 1e-2f);
}

static void test_grad_chain(void **state)
{
    (void)state;
    spec s[] = {{QB_L_CONV, 4, 3, 1, 1, 1}, {QB_L_BN, 0, 0, 0, 0, 0},   {QB_L_RELU6, 0, 0, 0, 0, 0},
                {QB_L_CONV, 4, 3, 2, 1, 4}, {QB_L_BN, 0, 0, 0, 0, 0},   {QB_L_RELU, 0, 0, 0, 0, 0},
                {QB_L_MAXPOOL, 0, 2, 2, 0, 0}, {QB_L_FLATTEN, 0, 0, 0, 0, 0}, {QB_L_DENSE, 3, 0, 0, 0, 0}};
    run_check(2, 8, 8, s, 9, 3, 0, 1e-3f);
}

static void test_xent(void **state)
{
    (void)state;
    enum { B = 3, K = 5 };
    float z[B * K], d[B * K];
    int32_t lab[B] = {0, 4, 2};
    uint64_t rng = 5;
    for (int i = 0; i < B * K; i++)
        z[i] = 4 * qb_rng_uniform(&rng) - 2;
    int correct;
    double l = qb_softmax_xent(z, lab, B, K, d, &correct);
    assert_true(l > 0);
    for (int i = 0; i < B * K; i++) {
        float keep = z[i];
        z[i] = keep + 1e-3f;
        double lp = qb_softmax_xent(z, lab, B, K, NULL, NULL);
        z[i] = keep - 1e-3f;
        double lm = qb_softmax_xent(z, lab, B, K, NULL, NULL);
        z[i] = keep;
        assert_true(fabs((lp - lm) / 2e-3 - d[i]) < 1e-3);
    }
    /* a confident correct prediction: loss near 0, counted correct */
    float z2[2] = {20, -20};
    int32_t l2[1] = {0};
    assert_true(qb_softmax_xent(z2, l2, 1, 2, NULL, &correct) < 1e-6);
    assert_int_equal(correct, 1);
}

static void test_bn_running(void **state)
{
    (void)state;
    spec s[] = {{QB_L_BN, 0, 0, 0, 0, 0}};
    qb_net net;
    build(&net, 1, 1, 2, s, 1, 2);
    float x[4] = {1, 3, 5, 7}; /* mean 4, population variance 5 */
    memcpy(net.act[0], x, sizeof x);
    net.training = 1;
    const float *y = qb_net_forward(&net, 2);
    assert_float_equal(net.layers[0].run_mean[0], 0.4f, 1e-6);
    assert_float_equal(net.layers[0].run_var[0], 0.9f * 1 + 0.1f * 5, 1e-6);
    assert_float_equal(y[0], -3.0f / sqrtf(5 + 1e-5f), 1e-5);
    net.training = 0; /* inference: running statistics */
    y = qb_net_forward(&net, 2);
    assert_float_equal(y[0], (1 - 0.4f) / sqrtf(1.4f + 1e-5f), 1e-5);
    qb_net_free(&net);
}

static void test_schedules(void **state)
{
    (void)state;
    qb_train_cfg c;
    qb_train_cfg_default(&c);
    c.lr = 0.1f;
    c.sched = QB_SCHED_COSINE;
    assert_float_equal(qb_lr_at(&c, 0, 101, 10), 0.1f, 1e-7);
    assert_float_equal(qb_lr_at(&c, 50, 101, 10), 0.05f, 1e-6);
    assert_float_equal(qb_lr_at(&c, 100, 101, 10), 0.0f, 1e-7);
    c.sched = QB_SCHED_STEP;
    c.step_epochs = 2;
    c.step_gamma = 0.1f;
    assert_float_equal(qb_lr_at(&c, 19, 100, 10), 0.1f, 1e-7);
    assert_float_equal(qb_lr_at(&c, 20, 100, 10), 0.01f, 1e-7);
    assert_float_equal(qb_lr_at(&c, 45, 100, 10), 0.001f, 1e-8);
    c.sched = QB_SCHED_CONST;
    assert_float_equal(qb_lr_at(&c, 77, 100, 10), 0.1f, 0);
}

/* Train a small CNN on synthetic 1x8x8 data with 4 classes. */
static double train_cnn(uint64_t seed, qb_opt_kind opt, float *w_out, size_t *nw_out)
{
    char err[256] = "";
    qb_dataset tr, te;
    assert_int_equal(qb_synthetic(512, 1, 8, 8, 4, 0.25f, 3, QB_SPLIT_TRAIN, &tr, err, sizeof err), 0);
    assert_int_equal(qb_synthetic(256, 1, 8, 8, 4, 0.25f, 3, QB_SPLIT_TEST, &te, err, sizeof err), 0);
    int *ti, *vi, nt, nv;
    assert_int_equal(qb_split_train_val(&tr, 64, seed, &ti, &nt, &vi, &nv, err, sizeof err), 0);
    qb_norm nm;
    assert_int_equal(qb_norm_compute(&tr, ti, nt, &nm, err, sizeof err), 0);
    qb_net net;
    qb_net_init(&net, 1, 8, 8, seed);
    assert_int_equal(qb_net_conv(&net, 8, 3, 1, 1, 1, err, sizeof err), 0);
    assert_int_equal(qb_net_bn(&net, err, sizeof err), 0);
    assert_int_equal(qb_net_act(&net, QB_L_RELU, err, sizeof err), 0);
    assert_int_equal(qb_net_pool(&net, QB_L_MAXPOOL, 2, 2, 0, err, sizeof err), 0);
    assert_int_equal(qb_net_act(&net, QB_L_FLATTEN, err, sizeof err), 0);
    assert_int_equal(qb_net_dense(&net, 4, err, sizeof err), 0);
    qb_train_cfg cfg;
    qb_train_cfg_default(&cfg);
    cfg.opt = opt;
    cfg.lr = opt == QB_OPT_ADAM ? 0.01f : 0.05f;
    cfg.weight_decay = 1e-4f;
    cfg.epochs = 4;
    cfg.batch = 32;
    cfg.seed = seed;
    double loss;
    assert_int_equal(qb_train(&net, &tr, ti, nt, &nm, &cfg, &loss, err, sizeof err), 0);
    double acc = qb_evaluate(&net, &te, NULL, te.n, &nm);
    double vacc = qb_evaluate(&net, &tr, vi, nv, &nm);
    print_message("  %s seed %llu: loss %.4f, validation %.1f%%, test %.1f%%\n", opt == QB_OPT_ADAM ? "adam" : "sgd",
                  (unsigned long long)seed, loss, vacc, acc);
    if (w_out) {
        size_t k = 0;
        for (int l = 0; l < net.n; l++) {
            const qb_layer *L = &net.layers[l];
            if (!L->nw)
                continue;
            memcpy(w_out + k, L->w, L->nw * sizeof(float));
            k += L->nw;
            memcpy(w_out + k, L->b, L->nb * sizeof(float));
            k += L->nb;
            if (L->kind == QB_L_BN) { /* running statistics too */
                memcpy(w_out + k, L->run_mean, L->nb * sizeof(float));
                k += L->nb;
                memcpy(w_out + k, L->run_var, L->nb * sizeof(float));
                k += L->nb;
            }
        }
        *nw_out = k;
    }
    qb_net_free(&net);
    free(ti);
    free(vi);
    qb_dataset_free(&tr);
    qb_dataset_free(&te);
    return acc;
}

static void test_train_synthetic(void **state)
{
    (void)state;
    static float w1[4096], w2[4096], w3[4096];
    size_t n1, n2, n3;
    assert_true(train_cnn(1, QB_OPT_SGD, w1, &n1) > 95.0);
    assert_true(train_cnn(1, QB_OPT_SGD, w2, &n2) > 95.0);
    assert_int_equal(n1, n2);
    assert_memory_equal(w1, w2, n1 * sizeof(float)); /* same seed: bit for bit */
    assert_true(train_cnn(2, QB_OPT_SGD, w3, &n3) > 95.0);
    assert_memory_not_equal(w1, w3, n1 * sizeof(float));
    assert_true(train_cnn(1, QB_OPT_ADAM, NULL, NULL) > 95.0);
}

static void test_train_mlp(void **state)
{
    (void)state;
    char err[256] = "";
    qb_dataset tr, te;
    assert_int_equal(qb_synthetic(600, 3, 4, 4, 6, 0.2f, 9, QB_SPLIT_TRAIN, &tr, err, sizeof err), 0);
    assert_int_equal(qb_synthetic(300, 3, 4, 4, 6, 0.2f, 9, QB_SPLIT_TEST, &te, err, sizeof err), 0);
    qb_net net;
    qb_net_init(&net, 3, 4, 4, 5);
    assert_int_equal(qb_net_act(&net, QB_L_FLATTEN, err, sizeof err), 0);
    assert_int_equal(qb_net_dense(&net, 32, err, sizeof err), 0);
    assert_int_equal(qb_net_act(&net, QB_L_RELU, err, sizeof err), 0);
    assert_int_equal(qb_net_dense(&net, 6, err, sizeof err), 0);
    qb_train_cfg cfg;
    qb_train_cfg_default(&cfg);
    cfg.opt = QB_OPT_ADAM;
    cfg.lr = 0.01f;
    cfg.sched = QB_SCHED_STEP;
    cfg.epochs = 4;
    cfg.batch = 50;
    assert_int_equal(qb_train(&net, &tr, NULL, tr.n, NULL, &cfg, NULL, err, sizeof err), 0);
    double acc = qb_evaluate(&net, &te, NULL, te.n, NULL);
    print_message("  mlp adam: test %.1f%%\n", acc);
    assert_true(acc > 95.0);
    /* a dataset that does not fit the network is refused */
    qb_dataset other;
    assert_int_equal(qb_synthetic(10, 1, 4, 4, 6, 0.2f, 9, QB_SPLIT_TRAIN, &other, err, sizeof err), 0);
    assert_int_equal(qb_train(&net, &other, NULL, other.n, NULL, &cfg, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "do not fit"));
    qb_dataset_free(&other);
    qb_net_free(&net);
    qb_dataset_free(&tr);
    qb_dataset_free(&te);
}

/* Run graph g on batch B of x; returns the output tensor. */
static const qb_tensor *graph_run(qb_graph *g, const float *x, int B)
{
    qb_err e = {0};
    qb_tensor in = *g->tensors[g->inputs[0]];
    in.dims[0] = B;
    in.data = (void *)x;
    if (qb_graph_prepare(g, &in, 1, -1, &e) || qb_graph_run(g, &in, 1, &e))
        fail_msg("graph: %s", e.msg);
    return g->tensors[g->outputs[0]];
}

static void export_check(qb_net *net, const qb_dataset *d, int classes)
{
    enum { B = 5 };
    char err[256] = "";
    qb_train_cfg cfg;
    qb_train_cfg_default(&cfg);
    cfg.epochs = 1;
    cfg.batch = 16;
    cfg.lr = 0.02f;
    assert_int_equal(qb_train(net, d, NULL, d->n, NULL, &cfg, NULL, err, sizeof err), 0);
    net->training = 0;
    for (int k = 0; k < B; k++)
        qb_dataset_get(d, k, NULL, net->act[0] + k * qb_dataset_sample_size(d));
    float x[B * 64], want[B * 8];
    memcpy(x, net->act[0], sizeof(float) * B * qb_dataset_sample_size(d));
    memcpy(want, qb_net_forward(net, B), sizeof(float) * B * classes);
    qb_graph *g = qb_net_export(net, "test", err, sizeof err);
    if (!g)
        fail_msg("export: %s", err);
    const qb_tensor *y = graph_run(g, x, B);
    assert_int_equal(y->ndim, 2);
    assert_int_equal(y->dims[0], B);
    assert_int_equal(y->dims[1], classes);
    const float *got = y->data;
    for (int i = 0; i < B * classes; i++)
        if (fabsf(got[i] - want[i]) > 1e-4f * (1 + fabsf(want[i])))
            fail_msg("logit %d: graph %.7g, training engine %.7g", i, (double)got[i], (double)want[i]);
    /* through an ONNX file: bit-identical to the in-memory graph */
    char path[] = "/tmp/qb_test_train_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    qb_err e = {0};
    if (qb_onnx_save(g, path, &e))
        fail_msg("save: %s", e.msg);
    float first[B * 8];
    memcpy(first, got, sizeof(float) * B * classes);
    qb_graph_free(g);
    g = qb_onnx_load(path, &e);
    unlink(path);
    if (!g)
        fail_msg("load: %s", e.msg);
    y = graph_run(g, x, B);
    assert_memory_equal(y->data, first, sizeof(float) * B * classes);
    qb_graph_free(g);
}

static void test_export(void **state)
{
    (void)state;
    char err[256] = "";
    qb_dataset d;
    assert_int_equal(qb_synthetic(96, 1, 8, 8, 4, 0.2f, 4, QB_SPLIT_TRAIN, &d, err, sizeof err), 0);
    qb_net net;
    qb_net_init(&net, 1, 8, 8, 3);
    assert_int_equal(qb_net_conv(&net, 6, 3, 1, 1, 1, err, sizeof err), 0);
    assert_int_equal(qb_net_bn(&net, err, sizeof err), 0);
    assert_int_equal(qb_net_act(&net, QB_L_RELU6, err, sizeof err), 0);
    assert_int_equal(qb_net_pool(&net, QB_L_MAXPOOL, 2, 2, 0, err, sizeof err), 0);
    assert_int_equal(qb_net_conv(&net, 6, 3, 1, 1, 6, err, sizeof err), 0);
    assert_int_equal(qb_net_bn(&net, err, sizeof err), 0);
    assert_int_equal(qb_net_act(&net, QB_L_RELU, err, sizeof err), 0);
    assert_int_equal(qb_net_pool(&net, QB_L_AVGPOOL, 3, 2, 1, err, sizeof err), 0);
    assert_int_equal(qb_net_conv(&net, 8, 1, 1, 0, 1, err, sizeof err), 0);
    assert_int_equal(qb_net_dense(&net, 4, err, sizeof err), 0); /* Flatten inserted */
    export_check(&net, &d, 4);
    qb_net_free(&net);
    /* ends in GlobalAveragePool: logits flattened to [N x classes] */
    qb_net_init(&net, 1, 8, 8, 3);
    assert_int_equal(qb_net_conv(&net, 4, 3, 2, 1, 1, err, sizeof err), 0);
    assert_int_equal(qb_net_act(&net, QB_L_RELU, err, sizeof err), 0);
    assert_int_equal(qb_net_act(&net, QB_L_GAP, err, sizeof err), 0);
    export_check(&net, &d, 4);
    qb_net_free(&net);
    /* MLP with BatchNormalization on [N x C] */
    qb_net_init(&net, 1, 8, 8, 3);
    assert_int_equal(qb_net_act(&net, QB_L_FLATTEN, err, sizeof err), 0);
    assert_int_equal(qb_net_dense(&net, 16, err, sizeof err), 0);
    assert_int_equal(qb_net_bn(&net, err, sizeof err), 0);
    assert_int_equal(qb_net_act(&net, QB_L_RELU, err, sizeof err), 0);
    assert_int_equal(qb_net_dense(&net, 4, err, sizeof err), 0);
    export_check(&net, &d, 4);
    qb_net_free(&net);
    qb_dataset_free(&d);
}

/* Train a net that takes every parallel path (conv im2col chunks,
 * pointwise, grouped and depthwise convs, BN with fused ReLU/ReLU6,
 * pooling, dense) for one epoch on `threads` threads; its parameters and
 * BN running statistics into w. Returns the number of floats. */
static size_t train_par(int threads, int no_fuse, int adapt, float *w)
{
    static const spec sp[] = {
        {QB_L_CONV, 16, 3, 1, 1, 1}, {QB_L_BN, 0, 0, 0, 0, 0},      {QB_L_RELU, 0, 0, 0, 0, 0},
        {QB_L_MAXPOOL, 0, 2, 2, 0, 0}, {QB_L_CONV, 16, 3, 1, 1, 16}, {QB_L_BN, 0, 0, 0, 0, 0},
        {QB_L_RELU6, 0, 0, 0, 0, 0},  {QB_L_CONV, 32, 1, 1, 0, 1},  {QB_L_BN, 0, 0, 0, 0, 0},
        {QB_L_RELU, 0, 0, 0, 0, 0},   {QB_L_AVGPOOL, 0, 2, 2, 0, 0}, {QB_L_CONV, 16, 3, 2, 1, 2},
        {QB_L_FLATTEN, 0, 0, 0, 0, 0}, {QB_L_DENSE, 64, 0, 0, 0, 0}, {QB_L_RELU, 0, 0, 0, 0, 0},
        {QB_L_DENSE, 10, 0, 0, 0, 0},
    };
    char err[256] = "";
    qb_dataset tr;
    assert_int_equal(qb_synthetic(200, 1, 28, 28, 10, 0.3f, 4, QB_SPLIT_TRAIN, &tr, err, sizeof err), 0);
    qb_net net;
    build(&net, 1, 28, 28, sp, (int)(sizeof sp / sizeof sp[0]), 40);
    net.no_fuse = no_fuse;
    qb_train_cfg cfg;
    qb_train_cfg_default(&cfg);
    cfg.epochs = 1;
    cfg.batch = 40;
    cfg.lr = 0.02f;
    cfg.weight_decay = 1e-4f;
    cfg.no_adapt = !adapt; /* else really on `threads` threads */
    cfg.threads = threads;
    int before = qb_train_threads();
    assert_int_equal(qb_train(&net, &tr, NULL, tr.n, NULL, &cfg, NULL, err, sizeof err), 0);
    assert_int_equal(qb_train_threads(), before); /* the recipe's count held for the call only */
    size_t k = 0;
    for (int l = 0; l < net.n; l++) {
        const qb_layer *L = &net.layers[l];
        if (!L->nw)
            continue;
        memcpy(w + k, L->w, L->nw * sizeof(float));
        k += L->nw;
        memcpy(w + k, L->b, L->nb * sizeof(float));
        k += L->nb;
        if (L->kind == QB_L_BN) {
            memcpy(w + k, L->run_mean, L->nb * sizeof(float));
            k += L->nb;
            memcpy(w + k, L->run_var, L->nb * sizeof(float));
            k += L->nb;
        }
    }
    qb_net_free(&net);
    qb_dataset_free(&tr);
    return k;
}

/* The thread count changes nothing, bit for bit; nor does BN + ReLU
 * fusion. The products on the kernel agree with plain loops. */
static void test_threads(void **state)
{
    (void)state;
    enum { MAXW = 60000 };
    float *w1 = malloc(sizeof(float) * MAXW), *w2 = malloc(sizeof(float) * MAXW);
    float *w3 = malloc(sizeof(float) * MAXW);
    size_t n1 = train_par(1, 0, 0, w1), n2 = train_par(2, 0, 0, w2), n3 = train_par(2, 1, 0, w3);
    assert_true(n1 < MAXW);
    assert_int_equal(n1, n2);
    assert_int_equal(n1, n3);
    assert_memory_equal(w1, w2, n1 * sizeof(float));
    assert_memory_equal(w1, w3, n1 * sizeof(float));
    /* adaptive (steps on 1 or 2 threads as the probes decide): the same */
    assert_int_equal(train_par(2, 0, 1, w2), n1);
    assert_memory_equal(w1, w2, n1 * sizeof(float));
    /* qb_mm_nt: row blocks (many rows) and column blocks (few rows) */
    static const int shapes[2][3] = {{250, 70, 300}, {40, 700, 200}};
    for (int s = 0; s < 2; s++) {
        int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
        float *a = malloc(sizeof(float) * m * k), *b = malloc(sizeof(float) * n * k), *bias = malloc(sizeof(float) * n);
        float *c1 = malloc(sizeof(float) * m * n), *c2 = malloc(sizeof(float) * m * n);
        uint64_t rng = 5;
        for (int i = 0; i < m * k; i++)
            a[i] = qb_rng_uniform(&rng) - 0.5f;
        for (int i = 0; i < n * k; i++)
            b[i] = qb_rng_uniform(&rng) - 0.5f;
        for (int i = 0; i < n; i++)
            bias[i] = qb_rng_uniform(&rng);
        qb_train_set_threads(1);
        qb_mm_nt(m, n, k, a, b, bias, c1);
        qb_train_set_threads(2);
        qb_mm_nt(m, n, k, a, b, bias, c2);
        qb_train_set_threads(0);
        assert_memory_equal(c1, c2, sizeof(float) * m * n);
        for (int i = 0; i < m; i += 7)
            for (int j = 0; j < n; j += 3) {
                double r = bias[j];
                for (int p = 0; p < k; p++)
                    r += (double)a[i * k + p] * b[j * k + p];
                assert_true(fabs(c1[i * n + j] - r) < 1e-4 * (1 + fabs(r)));
            }
        free(a);
        free(b);
        free(bias);
        free(c1);
        free(c2);
    }
    free(w1);
    free(w2);
    free(w3);
}

/* Every field of a recipe changes the cache key (file name); the same
 * recipe gives the same one. */
static void test_cache_key(void **state)
{
    (void)state;
    qb_zoo_job base, j;
    char p0[1024], p1[1024], line[1024];
    assert_int_equal(qb_zoo_job_init(&base, "cnn", "fashion-mnist", NULL, NULL), 0);
    assert_int_equal(qb_zoo_job_init(&j, "resnet", "fashion-mnist", NULL, NULL), -1);
    qb_zoo_cache_path(&base, p0, sizeof p0);
    qb_zoo_recipe_line(&base, line, sizeof line);
    assert_non_null(strstr(line, "qbench-zoo/"));
    assert_non_null(strstr(p0, "/cnn-fashion-mnist-"));
    assert_non_null(strstr(p0, ".onnx"));
    j = base;
    qb_zoo_cache_path(&j, p1, sizeof p1);
    assert_string_equal(p0, p1);
    j.cfg.verbose = 1; /* not part of the recipe */
    j.profile = 1;
    qb_zoo_cache_path(&j, p1, sizeof p1);
    assert_string_equal(p0, p1);
    for (int change = 0; change < 17; change++) {
        j = base;
        switch (change) {
        case 0: j.model = "mlp"; break;
        case 1: j.dataset = "synthetic"; break;
        case 2: j.data_dir = "/tmp"; break;
        case 3: j.cfg.epochs++; break;
        case 4: j.cfg.batch++; break;
        case 5: j.cfg.lr *= 1.001f; break;
        case 6: j.cfg.seed++; break;
        case 7: j.cfg.opt = j.cfg.opt == QB_OPT_ADAM ? QB_OPT_SGD : QB_OPT_ADAM; break;
        case 8: j.cfg.weight_decay += 1e-6f; break;
        case 9: j.cfg.sched = QB_SCHED_STEP; break;
        case 10: j.cfg.momentum = 0.8f; break;
        case 11: j.val = 100; break;
        case 12: j.limit = 1000; break;
        case 13: j.cfg.step_epochs++; break;
        case 14: j.cfg.step_gamma = 0.1f; break;
        case 15: j.cfg.beta2 = 0.99f; break;
        case 16: j.cfg.adam_eps = 1e-7f; break;
        }
        qb_zoo_cache_path(&j, p1, sizeof p1);
        if (!strcmp(p0, p1))
            fail_msg("recipe change %d keeps the cache file %s", change, p1);
    }
}

/* Identity of a file (inode and modification time). */
static void file_id(const char *path, struct stat *st)
{
    if (stat(path, st))
        fail_msg("%s: missing", path);
}

/* The cache trains once, reuses the file, retrains when the recipe
 * changes or the file is damaged; the model carries its recipe and
 * normalisation. */
static void test_cache(void **state)
{
    (void)state;
    char dir[] = "/tmp/qb_test_cache_XXXXXX", err[512] = "", p1[1024], p2[1024], p3[1024], line[1024];
    assert_non_null(mkdtemp(dir));
    char sub[1100];
    snprintf(sub, sizeof sub, "%s/a/models", dir); /* created on demand */
    setenv("QB_MODEL_CACHE", sub, 1);
    assert_string_equal(qb_zoo_cache_dir(), sub);
    qb_train_cfg cfg;
    assert_int_equal(qb_zoo_recipe("mlp", &cfg), 0);
    cfg.epochs = 1;
    if (qb_zoo_cached("mlp", "synthetic", NULL, &cfg, p1, sizeof p1, 0, err, sizeof err))
        fail_msg("cache: %s", err);
    assert_ptr_equal(strstr(p1, sub), p1);
    struct stat s1, s2;
    file_id(p1, &s1);
    /* again: the same file, not rewritten */
    assert_int_equal(qb_zoo_cached("mlp", "synthetic", NULL, &cfg, p2, sizeof p2, 0, err, sizeof err), 0);
    assert_string_equal(p1, p2);
    file_id(p2, &s2);
    assert_true(s1.st_ino == s2.st_ino && s1.st_mtim.tv_sec == s2.st_mtim.tv_sec &&
                s1.st_mtim.tv_nsec == s2.st_mtim.tv_nsec);
    /* its metadata: recipe line, dataset, normalisation */
    qb_zoo_job job;
    assert_int_equal(qb_zoo_job_init(&job, "mlp", "synthetic", NULL, &cfg), 0);
    qb_zoo_recipe_line(&job, line, sizeof line);
    qb_err e = {0};
    qb_graph *g = qb_onnx_load(p1, &e);
    if (!g)
        fail_msg("load: %s", e.msg);
    assert_string_equal(qb_graph_get_meta(g, "qbench.recipe"), line);
    assert_string_equal(qb_graph_get_meta(g, "qbench.dataset"), "synthetic");
    assert_string_equal(qb_graph_get_meta(g, "qbench.model"), "mlp");
    assert_non_null(qb_graph_get_meta(g, "qbench.val_top1"));
    qb_norm want, got;
    assert_int_equal(qb_dataset_norm("synthetic", NULL, &want, err, sizeof err), 0);
    assert_int_equal(qb_norm_from_graph(g, &got), 0);
    assert_int_equal(got.channels, want.channels);
    assert_memory_equal(got.mean, want.mean, sizeof(float) * want.channels);
    assert_memory_equal(got.std, want.std, sizeof(float) * want.channels);
    qb_graph_free(g);
    /* another recipe: another file */
    cfg.lr *= 0.5f;
    assert_int_equal(qb_zoo_cached("mlp", "synthetic", NULL, &cfg, p3, sizeof p3, 0, err, sizeof err), 0);
    assert_string_not_equal(p1, p3);
    cfg.lr *= 2.0f;
    /* a damaged file (cut short): trained again */
    assert_int_equal(truncate(p1, 100), 0);
    assert_int_equal(qb_zoo_cached("mlp", "synthetic", NULL, &cfg, p2, sizeof p2, 0, err, sizeof err), 0);
    assert_string_equal(p1, p2);
    g = qb_onnx_load(p1, &e);
    assert_non_null(g);
    qb_graph_free(g);
    /* a cache directory that cannot be created */
    setenv("QB_MODEL_CACHE", "/proc/qb_no_such/models", 1);
    assert_int_equal(qb_zoo_cached("mlp", "synthetic", NULL, &cfg, p2, sizeof p2, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "/proc/qb_no_such"));
    /* without it: the checkout's datasets/models (a binary inside one) or the user's cache directory */
    unsetenv("QB_MODEL_CACHE");
    setenv("XDG_CACHE_HOME", "/tmp/qb_xdg", 1);
    const char *def = qb_zoo_cache_dir();
    assert_true(!strcmp(def, "/tmp/qb_xdg/qbench") ||
                (def[0] == '/' && strstr(def, "/datasets/models") && strlen(strstr(def, "/datasets/models")) == 16));
    unsetenv("XDG_CACHE_HOME");
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_bad_layers(void **state)
{
    (void)state;
    char err[256];
    qb_net net;
    qb_net_init(&net, 3, 5, 5, 1);
    assert_int_equal(qb_net_conv(&net, 4, 3, 1, 1, 2, err, sizeof err), -1); /* 3 % 2 */
    assert_int_equal(qb_net_conv(&net, 4, 7, 1, 0, 1, err, sizeof err), -1); /* kernel > input */
    assert_int_equal(qb_net_pool(&net, QB_L_MAXPOOL, 2, 0, 0, err, sizeof err), -1);
    assert_int_equal(qb_net_dense(&net, 0, err, sizeof err), -1);
    assert_int_equal(qb_net_act(&net, QB_L_CONV, err, sizeof err), -1);
    assert_int_equal(net.n, 0);
    qb_net_free(&net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grad_dense),  cmocka_unit_test(test_grad_conv),
        cmocka_unit_test(test_grad_bn),     cmocka_unit_test(test_grad_act),
        cmocka_unit_test(test_grad_pool),   cmocka_unit_test(test_grad_chain),
        cmocka_unit_test(test_xent),        cmocka_unit_test(test_bn_running),
        cmocka_unit_test(test_schedules),   cmocka_unit_test(test_train_synthetic),
        cmocka_unit_test(test_train_mlp),   cmocka_unit_test(test_export),
        cmocka_unit_test(test_bad_layers),  cmocka_unit_test(test_threads),
        cmocka_unit_test(test_cache_key),   cmocka_unit_test(test_cache),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
