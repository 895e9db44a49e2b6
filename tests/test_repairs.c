/*
 * test_repairs.c - the repairs of the PTQ methods (harness/quant/cle.c,
 * smooth.c, biascorr.c, adaround.c) on tiny networks with known answers:
 * cross-layer equalization leaves the float function unchanged (to 1e-5)
 * and equalizes the per-channel weight ranges of every pair; bias
 * absorption leaves it unchanged where the pre-activations stay above the
 * absorbed amount; ReLU6 becomes ReLU; smoothing divides an outlier
 * channel's activations; empirical and analytical bias correction remove
 * a planted output shift; AdaRound lowers the layer output MSE below
 * nearest rounding on a fixed seed; the method+repair vocabulary.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness/quant/repairs.h"
#include "harness/sweep/plan.h"
#include "harness/sweep/scenario.h"
#include "harness/train/train.h"

/* xorshift uniform in [0, 1) */
static double urand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return (double)(*s >> 11) / 9007199254740992.0;
}

static double nrand(uint64_t *s)
{
    double u = urand(s) + 1e-12, v = urand(s);
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

/* A depthwise-separable net on 1 x 8 x 8 inputs: conv3x3 8 + BN + act, dw3x3 + BN + act,
 * pw1x1 16 + BN + act, GAP, dense 4; BN parameters spread over 3 decades so the folded
 * per-channel ranges differ widely. bn_shift: BN running variance huge and beta
 * large, so every pre-activation stays near beta (absorption exact). */
static qb_graph *tiny_net(qb_layer_kind act, int bn_shift)
{
    qb_net n;
    char err[256];
    qb_net_init(&n, 1, 8, 8, 7);
    n.init = QB_INIT_TORCH;
    int rc = qb_net_conv(&n, 8, 3, 1, 1, 1, err, sizeof err) || qb_net_bn(&n, err, sizeof err) ||
             qb_net_act(&n, act, err, sizeof err) || qb_net_conv(&n, 8, 3, 1, 1, 8, err, sizeof err) ||
             qb_net_bn(&n, err, sizeof err) || qb_net_act(&n, act, err, sizeof err) ||
             qb_net_conv(&n, 16, 1, 1, 0, 1, err, sizeof err) || qb_net_bn(&n, err, sizeof err) ||
             qb_net_act(&n, act, err, sizeof err) || qb_net_act(&n, QB_L_GAP, err, sizeof err) ||
             qb_net_act(&n, QB_L_FLATTEN, err, sizeof err) || qb_net_dense(&n, 4, err, sizeof err);
    assert_int_equal(rc, 0);
    uint64_t s = 99;
    for (int i = 0; i < n.n; i++) {
        qb_layer *L = &n.layers[i];
        if (L->kind != QB_L_BN)
            continue;
        for (int c = 0; c < L->in_c; c++) {
            L->w[c] = (float)pow(10, 2 * urand(&s) - 1.5); /* gamma 0.03 .. 3 */
            L->b[c] = (float)(urand(&s) - 0.3);
            L->run_mean[c] = (float)(0.2 * nrand(&s));
            L->run_var[c] = (float)(0.5 + urand(&s));
            if (bn_shift) {
                L->b[c] = (float)(1 + urand(&s));
                L->w[c] = (float)(0.05 * urand(&s) + 0.01);
                L->run_var[c] = 1e4f;
            }
        }
    }
    qb_graph *g = qb_net_export(&n, "tiny", err, sizeof err);
    assert_non_null(g);
    qb_net_free(&n);
    return g;
}

/* Outputs of g (a clone is run) on `b` seeded inputs into y (b x 4). */
static void run(const qb_graph *g, int b, float *y)
{
    qb_err e;
    qb_graph *c = qb_graph_clone(g, &e);
    assert_non_null(c);
    qb_runner r;
    assert_int_equal(qb_runner_open(&r, c, b, -1, &e), 0);
    uint64_t s = 5;
    for (size_t i = 0; i < (size_t)b * r.sample; i++)
        r.x[i] = (float)nrand(&s);
    assert_int_equal(qb_runner_run(&r, &e), 0);
    memcpy(y, r.y, (size_t)b * r.outs * sizeof *y);
    qb_runner_close(&r);
}

/* The Conv/Gemm layers of an unprepared graph, by node (name, op, node only). */
static void layers_of(const qb_graph *g, qb_calibration *cal)
{
    memset(cal, 0, sizeof *cal);
    cal->layers = calloc((size_t)g->nnodes, sizeof *cal->layers);
    for (int i = 0; i < g->nnodes; i++)
        if (!strcmp(g->nodes[i].op, "Conv") || !strcmp(g->nodes[i].op, "Gemm")) {
            qb_layer_info *l = &cal->layers[cal->n++];
            l->node = i;
            l->op = !strcmp(g->nodes[i].op, "Conv") ? "Conv" : "Gemm";
            snprintf(l->name, sizeof l->name, "%s", g->nodes[i].name);
        }
}

static double max_rel_diff(const float *a, const float *b, int n)
{
    double m = 0, d = 0;
    for (int i = 0; i < n; i++) {
        m = fmax(m, fabs(a[i]));
        d = fmax(d, fabs(a[i] - b[i]));
    }
    return d / (m > 0 ? m : 1);
}

static int count_op(const qb_graph *g, const char *op)
{
    int c = 0;
    for (int i = 0; i < g->nnodes; i++)
        c += !strcmp(g->nodes[i].op, op);
    return c;
}

static void test_cle_keeps_function_and_equalizes(void **state)
{
    (void)state;
    qb_err e;
    qb_graph *g0 = tiny_net(QB_L_RELU, 0);
    qb_bn_stats st;
    qb_graph *g = qb_repair_fold(g0, &st, &e);
    assert_non_null(g);
    assert_int_equal(st.n, 3);
    float y0[16 * 4], y1[16 * 4];
    run(g0, 16, y0);
    /* before: the folded ranges of the dw layer's channels differ widely */
    qb_pair *P;
    int np = qb_find_pairs(g, &P);
    assert_int_equal(np, 3); /* conv->dw, dw->pw, pw->(GAP, Flatten)->dense */
    double spread0 = 0;
    for (int c = 0; c < 8; c++)
        for (int d = 0; d < 8; d++)
            spread0 = fmax(spread0, qb_pair_out_range(g, &P[1], c) / qb_pair_out_range(g, &P[1], d));
    assert_true(spread0 > 10);
    qb_cle_report rep;
    assert_int_equal(qb_cle(g, &st, 1, 0, &rep, &e), 0);
    assert_int_equal(rep.pairs, 3);
    assert_int_equal(rep.clips_relu, 0);
    run(g, 16, y1);
    assert_true(max_rel_diff(y0, y1, 64) < 1e-5);
    for (int i = 0; i < np; i++) /* every pair: r1_c == r2_c */
        for (int c = 0; c < (i == 2 ? 16 : 8); c++) {
            double r1 = qb_pair_out_range(g, &P[i], c), r2 = qb_pair_in_range(g, &P[i], c);
            assert_true(fabs(r1 - r2) <= 2e-3 * fmax(r1, r2));
        }
    free(P);
    qb_bn_stats_free(&st);
    qb_graph_free(g);
    qb_graph_free(g0);
}

static void test_cle_relu6_becomes_relu(void **state)
{
    (void)state;
    qb_err e;
    qb_graph *g0 = tiny_net(QB_L_RELU6, 0);
    qb_graph *g = qb_repair_fold(g0, NULL, &e);
    int clips = count_op(g, "Clip");
    assert_int_equal(clips, 3);
    qb_cle_report rep;
    assert_int_equal(qb_cle(g, NULL, 1, 0, &rep, &e), 0);
    assert_int_equal(rep.clips_relu, 3);
    assert_int_equal(count_op(g, "Clip"), 0);
    float y[8 * 4];
    run(g, 8, y); /* still runs */
    qb_graph_free(g);
    qb_graph_free(g0);
}

static void test_absorption_exact_above_threshold(void **state)
{
    (void)state;
    qb_err e;
    qb_graph *g0 = tiny_net(QB_L_RELU, 1);
    qb_bn_stats st;
    qb_graph *g = qb_repair_fold(g0, &st, &e);
    float y0[16 * 4], y1[16 * 4];
    run(g0, 16, y0);
    qb_cle_report rep;
    assert_int_equal(qb_cle(g, &st, 1, 1, &rep, &e), 0);
    /* dw -> pw (unpadded) and pw -> dense absorb; conv -> dw (padded) does not */
    assert_int_equal(rep.absorbed, 2);
    assert_int_equal(rep.absorb_skipped, 1);
    assert_int_equal(rep.absorbed_channels, 16 + 8); /* beta 1..2 > 3 gamma (< 0.18) everywhere */
    run(g, 16, y1);
    assert_true(max_rel_diff(y0, y1, 64) < 1e-5);
    qb_bn_stats_free(&st);
    qb_graph_free(g);
    qb_graph_free(g0);
}

/* One Gemm layer y = x W^T + b on K inputs as a graph (transB = 1). */
static qb_graph *gemm_graph(int n, int k, const float *w, const float *b)
{
    qb_graph *g = qb_graph_new("gemm");
    int x = qb_graph_tensor(g, "x"), W = qb_graph_tensor(g, "W"), B = qb_graph_tensor(g, "B"), y = qb_graph_tensor(g, "y");
    qb_tensor *t = g->tensors[x];
    t->kind = QB_T_INPUT, t->dtype = QB_DT_FLOAT, t->ndim = 2, t->dims[0] = 1, t->dims[1] = k, t->has_shape = 1;
    t->sym[0] = 1;
    t = g->tensors[W];
    t->kind = QB_T_CONST, t->dtype = QB_DT_FLOAT, t->ndim = 2, t->dims[0] = n, t->dims[1] = k, t->has_shape = 1;
    t->data = malloc((size_t)n * k * sizeof(float));
    memcpy(t->data, w, (size_t)n * k * sizeof(float));
    t = g->tensors[B];
    t->kind = QB_T_CONST, t->dtype = QB_DT_FLOAT, t->ndim = 1, t->dims[0] = n, t->has_shape = 1;
    t->data = malloc((size_t)n * sizeof(float));
    memcpy(t->data, b, (size_t)n * sizeof(float));
    int i = qb_graph_add_node(g, "Gemm", "fc", 3, 1);
    qb_node *nd = &g->nodes[i];
    nd->in[0] = x, nd->in[1] = W, nd->in[2] = B, nd->out[0] = y;
    nd->attr = calloc(1, sizeof *nd->attr);
    nd->attr[0].name = strdup("transB");
    nd->attr[0].type = QB_ATTR_INT;
    nd->attr[0].i = 1;
    nd->nattr = 1;
    g->ninputs = 1, g->inputs = malloc(sizeof(int)), g->inputs[0] = x;
    g->noutputs = 1, g->outputs = malloc(sizeof(int)), g->outputs[0] = y;
    qb_err e;
    assert_int_equal(qb_graph_sort(g, &e), 0);
    return g;
}

static void test_biascorr_removes_planted_shift(void **state)
{
    (void)state;
    enum { N = 4, K = 16, S = 200 };
    /* every row: one weight at 7 steps (it sets the int4 scale), the others 0.4 step above a
     * grid point, so nearest rounding takes 0.4 step off each: a planted shift of -0.4 s sum E[x] */
    float w[N * K], b[N] = {0.5f, -1, 2, 0}, s[N];
    for (int o = 0; o < N; o++) {
        s[o] = 0.01f * (o + 1);
        for (int j = 0; j < K; j++)
            w[o * K + j] = j == 0 ? 7 * s[o] : (float)((j % 5 - 2) + 0.4) * s[o];
    }
    float *x = malloc((size_t)S * K * sizeof *x);
    uint64_t r = 3;
    for (int i = 0; i < S * K; i++)
        x[i] = (float)(5 + nrand(&r)); /* mean 5: the shift shows */
    qb_samples smp = {.x = x, .n = S, .sample = K};
    qb_graph *g = gemm_graph(N, K, w, b);
    qb_calibration cal;
    layers_of(g, &cal);
    assert_int_equal(cal.n, 1);
    qb_precision plan[1] = {QB_PREC_INT4};
    qb_quant_opts qo = {.group = 0, .binary_ends_int8 = 1};
    qb_err e;
    /* the mean output of the quantized weights before, against FP32 */
    qb_wview v;
    assert_int_equal(qb_wview_of(g, 0, &v), 0);
    float wq[N * K];
    assert_int_equal(qb_layer_weights_as_run(&v, QB_PREC_INT4, 0, wq), 0);
    double mx[K] = {0};
    for (int i = 0; i < S; i++)
        for (int j = 0; j < K; j++)
            mx[j] += x[i * K + j] / S;
    double before = 0;
    for (int o = 0; o < N; o++) {
        double d = 0;
        for (int j = 0; j < K; j++)
            d += (wq[o * K + j] - w[o * K + j]) * mx[j];
        before = fmax(before, fabs(d));
        assert_true(d < -0.4 * s[o] * 5 * (K - 1) * 0.9); /* the planted shift is there */
    }
    assert_int_equal(qb_biascorr_empirical(g, &cal, plan, &qo, &smp, 50, &e), 1);
    assert_int_equal(qb_wview_of(g, 0, &v), 0);
    for (int o = 0; o < N; o++) { /* E[W_q x + b'] == E[W x + b] */
        double yq = v.b[o], yf = b[o];
        for (int j = 0; j < K; j++)
            yq += wq[o * K + j] * mx[j], yf += w[o * K + j] * mx[j];
        assert_true(fabs(yq - yf) < 1e-4 * before);
    }
    qb_calibration_free(&cal);
    qb_graph_free(g);
    free(x);
}

static void test_biascorr_analytic_matches_sampled_mean(void **state)
{
    (void)state;
    qb_err e;
    qb_graph *g0 = tiny_net(QB_L_RELU, 0);
    qb_bn_stats st;
    qb_graph *g = qb_repair_fold(g0, &st, &e);
    qb_calibration cal;
    layers_of(g, &cal);
    assert_int_equal(cal.n, 4);
    qb_precision plan[4] = {QB_PREC_FP32, QB_PREC_FP32, QB_PREC_FP32, QB_PREC_INT4};
    qb_quant_opts qo = {.group = 0, .binary_ends_int8 = 1};
    int dense = qb_layer_node(g, &cal.layers[3]);
    qb_wview v;
    assert_int_equal(qb_wview_of(g, dense, &v), 0);
    float b0[4], wq[4 * 16], w[4 * 16];
    memcpy(b0, v.b, sizeof b0);
    qb_wview_rows(&v, w);
    assert_int_equal(qb_layer_weights_as_run(&v, QB_PREC_INT4, 0, wq), 0);
    assert_int_equal(qb_biascorr_analytic(g, &st, &cal, plan, &qo, &e), 1);
    /* E[relu(z)], z ~ N(beta, gamma^2) of the pw layer's channels, by sampling */
    qb_bn_stat *s = qb_bn_stats_find(&st, cal.layers[2].name);
    assert_non_null(s);
    uint64_t r = 11;
    double m[16];
    for (int c = 0; c < 16; c++) {
        double acc = 0;
        for (int i = 0; i < 200000; i++)
            acc += fmax(0, s->beta[c] + s->gamma[c] * nrand(&r));
        m[c] = acc / 200000;
    }
    assert_int_equal(qb_wview_of(g, dense, &v), 0);
    for (int o = 0; o < 4; o++) {
        double d = 0, scale = 0;
        for (int j = 0; j < 16; j++)
            d += (wq[o * 16 + j] - w[o * 16 + j]) * m[j], scale += fabs(wq[o * 16 + j] - w[o * 16 + j]) * m[j];
        assert_true(fabs((b0[o] - v.b[o]) - d) <= 0.02 * scale + 1e-7);
    }
    qb_calibration_free(&cal);
    qb_bn_stats_free(&st);
    qb_graph_free(g);
    qb_graph_free(g0);
}

static void test_adaround_beats_nearest(void **state)
{
    (void)state;
    enum { N = 8, K = 24, M = 512 };
    uint64_t r = 2020;
    float w[N * K], A[M * K], scale[N];
    for (int i = 0; i < N * K; i++)
        w[i] = (float)(0.1 * nrand(&r));
    for (int m = 0; m < M; m++) { /* correlated inputs: rounding errors interact */
        double common = nrand(&r);
        for (int j = 0; j < K; j++)
            A[m * K + j] = (float)(0.7 * common + 0.5 * nrand(&r) + 0.3);
    }
    for (int o = 0; o < N; o++) {
        float mx = 0;
        for (int j = 0; j < K; j++)
            mx = fmaxf(mx, fabsf(w[o * K + j]));
        scale[o] = mx / 7;
    }
    double *G = calloc((size_t)K * K, sizeof *G);
    for (int m = 0; m < M; m++)
        for (int i = 0; i < K; i++)
            for (int j = 0; j < K; j++)
                G[i * K + j] += (double)A[m * K + i] * A[m * K + j];
    int8_t q[N * K];
    double e0, e1;
    qb_adaround_layer(w, N, K, scale, 0, 7, G, NULL, M, 500, 1, q, &e0, &e1);
    assert_true(e1 < 0.8 * e0);
    for (int i = 0; i < N * K; i++) { /* up or down, never further */
        double x = w[i] / scale[i / K];
        assert_true(q[i] >= floor(x) - 1e-9 && q[i] <= ceil(x) + 1e-9 && q[i] >= -7 && q[i] <= 7);
    }
    /* the same through the rows A (mini-batches) */
    double f0, f1;
    qb_adaround_layer(w, N, K, scale, 0, 7, NULL, A, M, 500, 1, q, &f0, &f1);
    assert_true(fabs(f0 - e0) <= 1e-6 * e0);
    fprintf(stderr, "adaround gram %g -> %g, rows %g -> %g\n", e0, e1, f0, f1);
    assert_true(f1 < 0.9 * f0);
    free(G);
}

static void test_smooth_shrinks_outlier_channel(void **state)
{
    (void)state;
    qb_err e;
    qb_graph *g0 = tiny_net(QB_L_RELU, 0);
    qb_graph *g = qb_repair_fold(g0, NULL, &e);
    qb_samples smp = {.n = 64, .sample = 64, .seed = 4};
    qb_chan_ranges r0;
    assert_int_equal(qb_chan_ranges_measure(g, &smp, 32, &r0, &e), 0);
    assert_int_equal(r0.npairs, 3);
    double ratio0 = qb_chan_outlier_ratio(&r0, 1);
    float y0[16 * 4], y1[16 * 4];
    run(g, 16, y0);
    int done = qb_smooth(g, &smp, 32, 0.5, 1.0, NULL, &e); /* every pair */
    assert_int_equal(done, 3);
    run(g, 16, y1);
    assert_true(max_rel_diff(y0, y1, 64) < 1e-5);
    qb_chan_ranges r1;
    assert_int_equal(qb_chan_ranges_measure(g, &smp, 32, &r1, &e), 0);
    assert_true(qb_chan_outlier_ratio(&r1, 1) < ratio0);
    qb_chan_ranges_free(&r0);
    qb_chan_ranges_free(&r1);
    qb_graph_free(g);
    qb_graph_free(g0);
}

static void test_method_repairs_vocabulary(void **state)
{
    (void)state;
    unsigned rp;
    char err[256], buf[96];
    assert_int_equal(qb_method_parse_repairs("ptq-minmax", &rp, err, sizeof err), QB_METHOD_PTQ_MINMAX);
    assert_int_equal(rp, 0);
    assert_int_equal(qb_method_parse_repairs("ptq-mse+cle+absorb+biascorr", &rp, err, sizeof err), QB_METHOD_PTQ_MSE);
    assert_int_equal(rp, 1u << QB_REPAIR_CLE | 1u << QB_REPAIR_ABSORB | 1u << QB_REPAIR_BIASCORR);
    assert_string_equal(qb_method_str(QB_METHOD_PTQ_MSE, rp, buf, sizeof buf), "ptq-mse+cle+absorb+biascorr");
    for (int i = 0; i < QB_REPAIR_COUNT; i++) { /* every row parses back */
        snprintf(buf, sizeof buf, "ptq-kl+%s", qb_repair_traits_of(i)->name);
        assert_int_equal(qb_method_parse_repairs(buf, &rp, err, sizeof err), QB_METHOD_PTQ_KL);
        assert_int_equal(rp, 1u << i);
    }
    assert_int_equal(qb_method_parse_repairs("qat+cle", &rp, err, sizeof err), -1);
    assert_non_null(strstr(err, "ptq-*"));
    assert_int_equal(qb_method_parse_repairs("none+cle", &rp, err, sizeof err), -1);
    assert_int_equal(qb_method_parse_repairs("ptq-minmax+absorb+cle", &rp, err, sizeof err), -1);
    assert_non_null(strstr(err, "out of order"));
    assert_int_equal(qb_method_parse_repairs("ptq-minmax+cle+cle", &rp, err, sizeof err), -1);
    assert_int_equal(qb_method_parse_repairs("ptq-minmax+magic", &rp, err, sizeof err), -1);
    assert_non_null(strstr(err, "unknown repair 'magic'"));
    assert_int_equal(qb_method_parse_repairs("ptq-minmax+", &rp, err, sizeof err), -1);
}

static void test_scenario_methods_with_repairs(void **state)
{
    (void)state;
    const char *text = "[axes]\nmodels = mlp\nprecisions = int8-tensor\nmethods = ptq-minmax ptq-minmax+cle "
                       "ptq-mse+adaround+biascorr\nisas = scalar\n";
    qb_scenario sc;
    char err[512];
    assert_int_equal(qb_scenario_load_string(text, "t.ini", &sc, err, sizeof err), 0);
    assert_int_equal(sc.nmethods, 3);
    assert_int_equal(sc.methods[1], QB_METHOD_PTQ_MINMAX);
    assert_int_equal(sc.method_repairs[1], 1u << QB_REPAIR_CLE);
    qb_plan p;
    assert_int_equal(qb_plan_build(&sc, &p), 0);
    assert_int_equal(p.n, 3);
    assert_string_equal(p.cells[2].id, "mlp/int8-tensor/ptq-mse+adaround+biascorr/scalar/t1/b1");
    qb_plan_free(&p);
    const char *dup = "[axes]\nmodels = mlp\nprecisions = int8-tensor\nmethods = ptq-minmax+cle ptq-minmax+cle\n";
    assert_int_equal(qb_scenario_load_string(dup, "t.ini", &sc, err, sizeof err), -1);
    assert_non_null(strstr(err, "listed twice"));
    const char *bad = "[axes]\nmodels = mlp\nprecisions = int8-tensor\nmethods = qat+cle\n";
    assert_int_equal(qb_scenario_load_string(bad, "t.ini", &sc, err, sizeof err), -1);
    assert_non_null(strstr(err, "t.ini:4"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cle_keeps_function_and_equalizes),
        cmocka_unit_test(test_cle_relu6_becomes_relu),
        cmocka_unit_test(test_absorption_exact_above_threshold),
        cmocka_unit_test(test_biascorr_removes_planted_shift),
        cmocka_unit_test(test_biascorr_analytic_matches_sampled_mean),
        cmocka_unit_test(test_adaround_beats_nearest),
        cmocka_unit_test(test_smooth_shrinks_outlier_channel),
        cmocka_unit_test(test_method_repairs_vocabulary),
        cmocka_unit_test(test_scenario_methods_with_repairs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
