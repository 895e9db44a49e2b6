/*
 * test_plan.c - layer plans (harness/quant/plan_file.h, plan_apply.h):
 * parsing (every rule kind, defaults, the hash), bad plans (FILE:LINE
 * messages for syntax, vocabulary, duplicates, unknown layer names and
 * patterns that match nothing), the precedence of rules (layer > first
 * matching pattern > DepthwiseConv > Conv op > default, precision and
 * calibrator each on their own), a written plan read back to the same
 * precisions (names that cannot be INI keys included), per-layer
 * calibrators on a small trained net (each layer gets the ranges of its
 * own calibrator), repairs (+cle, +biascorr, +adaround) composed with a
 * plan, QAT as a priced candidate of the cost-aware search (Pareto flags
 * with training time, the verdict).
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
#include "harness/quant/plan_apply.h"
#include "harness/quant/plan_bisect.h"
#include "harness/quant/plan_cost.h"
#include "harness/quant/plan_file.h"
#include "harness/quant/repairs.h"
#include "harness/sweep/scenario.h"
#include "harness/train/train.h"

/* Four layers as qb_find_layers reports them. */
static qb_layer_info fake_layers[4];

static void fake_setup(void)
{
    memset(fake_layers, 0, sizeof fake_layers);
    const char *names[4] = {"stem.conv", "block1.dw", "block1.pw", "head.fc"};
    const char *ops[4] = {"Conv", "Conv", "Conv", "Gemm"};
    for (int i = 0; i < 4; i++) {
        snprintf(fake_layers[i].name, sizeof fake_layers[i].name, "%s", names[i]);
        fake_layers[i].op = ops[i];
        fake_layers[i].n = fake_layers[i].k = 8;
        fake_layers[i].groups = 1;
        fake_layers[i].weights = 64;
    }
    fake_layers[1].depthwise = 1;
}

static void load(const char *text, qb_layer_plan *p)
{
    qb_err e;
    if (qb_layer_plan_load_string(text, "t.ini", p, &e))
        fail_msg("%s", e.msg);
}

static void test_parse(void **state)
{
    (void)state;
    qb_layer_plan p;
    load("; a plan\n[plan]\nname = mine\nprecision = int4\nmethod = ptq-mse\n\n[layers]\nstem.conv = fp32\n"
         "head.fc = int8-channel ptq-minmax ; inline comment\n[patterns]\nblock1.* = int8-tensor\n[ops]\n"
         "DepthwiseConv = ptq-kl\n",
         &p);
    assert_string_equal(p.name, "mine");
    assert_int_equal(p.prec, QB_PREC_INT4);
    assert_int_equal(p.method, QB_METHOD_PTQ_MSE);
    assert_int_equal(p.prec_line, 4);
    assert_int_equal(p.nrules, 4);
    assert_int_equal(p.rules[0].kind, QB_RULE_LAYER);
    assert_string_equal(p.rules[0].key, "stem.conv");
    assert_int_equal(p.rules[0].prec, QB_PREC_FP32);
    assert_int_equal(p.rules[0].method, -1);
    assert_int_equal(p.rules[0].line, 8);
    assert_int_equal(p.rules[1].prec, QB_PREC_INT8_CHANNEL);
    assert_int_equal(p.rules[1].method, QB_METHOD_PTQ_MINMAX);
    assert_int_equal(p.rules[2].kind, QB_RULE_PATTERN);
    assert_int_equal(p.rules[3].kind, QB_RULE_OP);
    assert_int_equal(p.rules[3].prec, -1);
    assert_int_equal(p.rules[3].method, QB_METHOD_PTQ_KL);
    uint64_t h = p.hash;
    qb_layer_plan_free(&p);
    load("[plan]\nprecision = int4\n", &p); /* the hash follows the bytes; the name the file */
    assert_true(p.hash != h);
    assert_string_equal(p.name, "t");
    assert_int_equal(p.nrules, 0);
    assert_int_equal(p.method, -1);
    qb_layer_plan_free(&p);
    load("", &p); /* empty: no rules, every default from the command */
    assert_int_equal(p.prec, -1);
    qb_layer_plan_free(&p);
}

/* Each bad plan fails with "t.ini:LINE:" and a fragment naming the fault. */
static void test_bad_syntax(void **state)
{
    (void)state;
    static const struct {
        const char *text; /* the plan */
        int line;         /* the line the message names */
        const char *frag; /* part of the message */
    } cases[] = {
        {"[layers]\na = int7\n", 2, "'int7' is neither a precision"},
        {"[layers]\na = int8-channel qat\n", 2, "fine-tunes the whole model"},
        {"[layers]\na = mixed\n", 2, "'mixed' is what the search chooses"},
        {"[layers]\na = fp16 ptq-mse\n", 2, "fp16 runs without a calibrator"},
        {"[layers]\na = int4 none\n", 2, "'none' is the method of fp32 and fp16 only"},
        {"[layers]\na = int4 int8-tensor\n", 2, "two precisions"},
        {"[layers]\na = ptq-mse ptq-kl\n", 2, "two calibrators"},
        {"[layers]\na =\n", 2, "empty value"},
        {"[layers]\na = int4\n\na = fp32\n", 4, "given twice (first on line 2)"},
        {"[layers]\nnovalue\n", 2, "cannot parse this line"},
        {"[plan]\n[plan]\n", 2, "section [plan] given twice"},
        {"[rules]\n", 1, "unknown section [rules]"},
        {"x = 1\n", 1, "outside a section"},
        {"[plan]\nprecision = ptq-mse\n", 2, "is not a precision"},
        {"[plan]\nmethod = int4\n", 2, "is not a calibrator"},
        {"[plan]\nprecision = int4\nprecision = int8-tensor\n", 3, "precision given twice"},
        {"[plan]\ncolour = red\n", 2, "unknown key 'colour'"},
        {"[plan]\nname = a,b\n", 2, "comma"},
        {"[ops]\nLSTM = int4\n", 2, "unknown op type 'LSTM'"},
        {"\n\n[layers]\n\n; c\nx = int4 bogus\n", 6, "'bogus'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        qb_layer_plan p;
        qb_err e;
        e.msg[0] = 0;
        int rc = qb_layer_plan_load_string(cases[i].text, "t.ini", &p, &e);
        char want[32];
        snprintf(want, sizeof want, "t.ini:%d: ", cases[i].line);
        if (rc != -1 || strncmp(e.msg, want, strlen(want)) || !strstr(e.msg, cases[i].frag))
            fail_msg("case %zu: rc %d, message '%s' (want '%s...%s')", i, rc, e.msg, want, cases[i].frag);
        assert_int_equal(p.nrules, 0); /* nothing left behind */
    }
    qb_layer_plan p;
    qb_err e;
    assert_int_equal(qb_layer_plan_load("/nonexistent/p.ini", &p, &e), -1);
    assert_non_null(strstr(e.msg, "/nonexistent/p.ini"));
}

static qb_quant_opts qopts(void) { return (qb_quant_opts){.group = 0, .binary_ends_int8 = 1}; }

/* Unknown layer names and patterns that match nothing: FILE:LINE, the model named. */
static void test_bad_names(void **state)
{
    (void)state;
    fake_setup();
    qb_quant_opts o = qopts();
    qb_plan_choice ch[4];
    const char *texts[2] = {"[layers]\nstem.conv = fp32\nstem.cnv = fp32\n", "[patterns]\n\nstem* = fp32\nbody* = int4\n"};
    const char *frags[2] = {"t.ini:3: [layers] 'stem.cnv' is not a layer of m.onnx", "t.ini:4: [patterns] 'body*' "
                                                                                       "matches no layer of m.onnx"};
    for (int i = 0; i < 2; i++) {
        qb_layer_plan p;
        load(texts[i], &p);
        qb_err e;
        assert_int_equal(qb_layer_plan_resolve(&p, fake_layers, 4, "m.onnx", QB_PREC_INT8_CHANNEL,
                                               QB_METHOD_PTQ_MINMAX, &o, ch, &e), -1);
        if (!strstr(e.msg, frags[i]) || !strstr(e.msg, "head.fc"))
            fail_msg("'%s' lacks '%s' or the layer list", e.msg, frags[i]);
        qb_layer_plan_free(&p);
    }
    qb_layer_plan p; /* an op type the model lacks is no error (a plan may serve several models) */
    load("[ops]\nMatMul = fp16\n", &p);
    qb_err e;
    assert_int_equal(qb_layer_plan_resolve(&p, fake_layers, 4, "m.onnx", QB_PREC_INT8_CHANNEL, QB_METHOD_PTQ_MINMAX,
                                           &o, ch, &e), 0);
    qb_layer_plan_free(&p);
}

/* Most specific rule wins, for precision and calibrator separately. */
static void test_precedence(void **state)
{
    (void)state;
    fake_setup();
    qb_quant_opts o = qopts();
    qb_layer_plan p;
    load("[ops]\nConv = int8-tensor ptq-mse\nDepthwiseConv = int8-channel\n"
         "[patterns]\nblock1.* = fp16\n*.pw = int4 ptq-kl\n*.conv = ptq-minmax\n"
         "[layers]\nblock1.pw = binary\n",
         &p);
    qb_plan_choice ch[4];
    qb_err e;
    if (qb_layer_plan_resolve(&p, fake_layers, 4, "m", QB_PREC_INT4, QB_METHOD_PTQ_PERCENTILE, &o, ch, &e))
        fail_msg("%s", e.msg);
    /* stem.conv: Conv op sets int8-tensor, the pattern *.conv its calibrator */
    assert_int_equal(ch[0].prec, QB_PREC_INT8_TENSOR);
    assert_int_equal(ch[0].method, QB_METHOD_PTQ_MINMAX);
    assert_int_equal(ch[0].rule_line, 2);
    assert_true(ch[0].pinned);
    /* block1.dw: the pattern block1.* (fp16) beats DepthwiseConv; float: no calibrator */
    assert_int_equal(ch[1].prec, QB_PREC_FP16);
    assert_int_equal(ch[1].method, QB_METHOD_NONE);
    assert_int_equal(ch[1].rule_line, 5);
    /* block1.pw: [layers] binary; calibrator from the first pattern that sets one (*.pw) */
    assert_int_equal(ch[2].prec, QB_PREC_BINARY);
    assert_int_equal(ch[2].method, QB_METHOD_PTQ_KL);
    assert_int_equal(ch[2].rule_line, 9);
    /* head.fc: nothing matches: the default precision and calibrator, not pinned */
    assert_int_equal(ch[3].prec, QB_PREC_INT4);
    assert_int_equal(ch[3].method, QB_METHOD_PTQ_PERCENTILE);
    assert_int_equal(ch[3].rule_line, 0);
    assert_false(ch[3].pinned);
    qb_layer_plan_free(&p);
    /* first matching pattern in file order among patterns; a default method none becomes ptq-percentile */
    load("[patterns]\nblock1.* = int8-channel\nblock1.p? = int4\n", &p);
    if (qb_layer_plan_resolve(&p, fake_layers, 4, "m", QB_PREC_FP32, QB_METHOD_NONE, &o, ch, &e))
        fail_msg("%s", e.msg);
    assert_int_equal(ch[2].prec, QB_PREC_INT8_CHANNEL);
    assert_int_equal(ch[2].method, QB_METHOD_PTQ_PERCENTILE);
    assert_int_equal(ch[0].prec, QB_PREC_FP32);
    assert_int_equal(ch[0].method, QB_METHOD_NONE);
    qb_layer_plan_free(&p);
    /* default binary keeps the ends int8-channel, unless a rule names them */
    load("[layers]\nhead.fc = binary\n", &p);
    if (qb_layer_plan_resolve(&p, fake_layers, 4, "m", QB_PREC_BINARY, QB_METHOD_PTQ_MINMAX, &o, ch, &e))
        fail_msg("%s", e.msg);
    assert_int_equal(ch[0].prec, QB_PREC_INT8_CHANNEL);
    assert_int_equal(ch[1].prec, QB_PREC_BINARY);
    assert_int_equal(ch[3].prec, QB_PREC_BINARY);
    qb_layer_plan_free(&p);
}

/* A written plan reads back to the same precisions and calibrators,
 * also for names holding characters INI keys cannot (= ; : [ spaces),
 * and where a layer holds the plan's precision but a layer without a
 * rule would get another (binary's ends: int8-channel; a plan that left
 * out such layers read them back as int8, found by fuzz_plan). */
static void test_write_roundtrip(void **state)
{
    (void)state;
    fake_setup();
    snprintf(fake_layers[1].name, sizeof fake_layers[1].name, "odd=name;x");
    snprintf(fake_layers[2].name, sizeof fake_layers[2].name, "ns:conv/1");
    static const struct {
        qb_precision dflt;           /* the plan's precision */
        int dflt_method;             /* and calibrator */
        qb_precision prec[4];        /* the layers' */
        int method[4];
    } cases[] = {
        {QB_PREC_INT4, QB_METHOD_PTQ_KL, {QB_PREC_FP32, QB_PREC_INT8_CHANNEL, QB_PREC_INT4, QB_PREC_FP16},
         {QB_METHOD_NONE, QB_METHOD_PTQ_MSE, QB_METHOD_PTQ_KL, QB_METHOD_NONE}},
        {QB_PREC_BINARY, QB_METHOD_PTQ_MINMAX, {QB_PREC_BINARY, QB_PREC_BINARY, QB_PREC_INT8_CHANNEL, QB_PREC_BINARY},
         {QB_METHOD_PTQ_MINMAX, QB_METHOD_PTQ_MINMAX, QB_METHOD_PTQ_MINMAX, QB_METHOD_PTQ_MINMAX}},
    };
    const char *comment[4] = {"sensitive", NULL, "", "last"};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        assert_int_equal(qb_layer_plan_write(f, "rt", "line one\nline two", fake_layers, 4, cases[c].prec,
                                             cases[c].method, cases[c].dflt, cases[c].dflt_method, comment),
                         0);
        fclose(f);
        qb_layer_plan p;
        load(buf, &p);
        assert_string_equal(p.name, "rt");
        qb_plan_choice ch[4];
        qb_quant_opts o = qopts();
        qb_err e;
        if (qb_layer_plan_resolve(&p, fake_layers, 4, "m", (qb_precision)p.prec, p.method, &o, ch, &e))
            fail_msg("%s\n%s", e.msg, buf);
        for (int i = 0; i < 4; i++)
            if (ch[i].prec != (int)cases[c].prec[i] || ch[i].method != cases[c].method[i])
                fail_msg("case %zu layer %d: written as %d/%d, read back as %d/%d\n%s", c, i, cases[c].prec[i],
                         cases[c].method[i], ch[i].prec, ch[i].method, buf);
        qb_layer_plan_free(&p);
        free(buf);
    }
}

/* Scenario files name a plan per model: its syntax checked at load. */
static void test_scenario_plan(void **state)
{
    (void)state;
    char good[] = "/tmp/qb-plan-good-XXXXXX", bad[] = "/tmp/qb-plan-bad-XXXXXX";
    int fg = mkstemp(good), fb = mkstemp(bad);
    assert_true(fg >= 0 && fb >= 0);
    assert_true(write(fg, "[layers]\nGemm_1 = fp32\n", 24) == 24);
    assert_true(write(fb, "[layers]\nGemm_1 = fp33\n", 24) == 24);
    close(fg);
    close(fb);
    char text[1024], err[800];
    qb_scenario sc;
    snprintf(text, sizeof text, "[axes]\nmodels = m\nprecisions = int8-channel\n[model m]\nzoo = mlp\nplan = %s\n", good);
    if (qb_scenario_load_string(text, "s.ini", &sc, err, sizeof err))
        fail_msg("%s", err);
    assert_string_equal(sc.models[0].plan, good);
    snprintf(text, sizeof text, "[axes]\nmodels = m\nprecisions = int8-channel\n[model m]\nzoo = mlp\nplan = %s\n", bad);
    assert_int_equal(qb_scenario_load_string(text, "s.ini", &sc, err, sizeof err), -1);
    char want[200];
    snprintf(want, sizeof want, "s.ini:6: [model m] plan: %s:2: [layers] Gemm_1: 'fp33'", bad);
    if (!strstr(err, want))
        fail_msg("'%s' lacks '%s'", err, want);
    snprintf(text, sizeof text, "[axes]\nmodels = g\nprecisions = fp32\n[model g]\ngemm = 8x8x8\nplan = %s\n", good);
    assert_int_equal(qb_scenario_load_string(text, "s.ini", &sc, err, sizeof err), -1);
    assert_non_null(strstr(err, "a plan applies to models"));
    unlink(good);
    unlink(bad);
}

/* ---- on a small trained net ---- */

static qb_graph *model;
static qb_dataset train_set;

/* conv 8 3x3 + ReLU, conv 8 3x3 + ReLU, GAP, dense 4 (no BatchNormalization). */
static int setup_model(void **state)
{
    (void)state;
    char err[256];
    if (qb_synthetic(600, 1, 8, 8, 4, 0.3f, 5, QB_SPLIT_TRAIN, &train_set, err, sizeof err))
        return -1;
    qb_net net;
    qb_net_init(&net, 1, 8, 8, 11);
    if (qb_net_conv(&net, 8, 3, 1, 1, 1, err, sizeof err) || qb_net_act(&net, QB_L_RELU, err, sizeof err) ||
        qb_net_conv(&net, 8, 3, 1, 1, 1, err, sizeof err) || qb_net_act(&net, QB_L_RELU, err, sizeof err) ||
        qb_net_act(&net, QB_L_GAP, err, sizeof err) || qb_net_dense(&net, 4, err, sizeof err) ||
        qb_net_alloc(&net, 32, err, sizeof err))
        return -1;
    qb_train_cfg cfg;
    qb_train_cfg_default(&cfg);
    cfg.epochs = 4;
    cfg.batch = 32;
    cfg.lr = 0.05f;
    if (qb_train(&net, &train_set, NULL, train_set.n, NULL, &cfg, NULL, err, sizeof err))
        return -1;
    model = qb_net_export(&net, "tiny", err, sizeof err);
    qb_net_free(&net);
    return model ? 0 : -1;
}

static int teardown_model(void **state)
{
    (void)state;
    qb_graph_free(model);
    qb_dataset_free(&train_set);
    return 0;
}

/* Each layer gets the ranges of its own calibrator. */
static void test_per_layer_calibrators(void **state)
{
    (void)state;
    qb_samples s = {.d = &train_set, .n = 200};
    qb_calibration mm, kl, mixed;
    qb_err e;
    if (qb_calibrate(model, &s, 50, QB_CALIB_MINMAX, 99.99, 0, &mm, &e) ||
        qb_calibrate(model, &s, 50, QB_CALIB_KL, 99.99, 0, &kl, &e))
        fail_msg("%s", e.msg);
    assert_int_equal(mm.n, 3);
    qb_plan_choice ch[3] = {{.prec = QB_PREC_INT8_CHANNEL, .method = QB_METHOD_PTQ_KL},
                            {.prec = QB_PREC_FP32, .method = QB_METHOD_NONE},
                            {.prec = QB_PREC_INT8_TENSOR, .method = QB_METHOD_PTQ_MINMAX}};
    mixed = (qb_calibration){.n = 3};
    mixed.layers = calloc(3, sizeof *mixed.layers);
    if (qb_calibrate_choices(model, &s, 50, 99.99, 0, ch, &mixed, &e))
        fail_msg("%s", e.msg);
    assert_int_equal(mixed.n, 3);
    assert_true(mixed.layers[0].out_qp.scale == kl.layers[0].out_qp.scale);
    assert_true(mixed.layers[0].in_qp.scale == kl.layers[0].in_qp.scale);
    assert_true(mixed.layers[2].out_qp.scale == mm.layers[2].out_qp.scale);
    assert_true(mixed.layers[2].in_qp.zero == mm.layers[2].in_qp.zero);
    /* the calibrators differ on this net, so the test can tell them apart */
    assert_true(kl.layers[0].out_qp.scale != mm.layers[0].out_qp.scale);
    qb_calibration_free(&mm);
    qb_calibration_free(&kl);
    qb_calibration_free(&mixed);
}

/* A copy of the model with a planted bad layer: output channel 0 of the
 * second conv gets 100x its weights and a bias of -1e5, so it never
 * fires (ReLU keeps it at 0: the float function of the other channels
 * is unchanged), but its weights stretch the layer's one int8-tensor
 * weight scale until the other channels' weights round to 0 or +-1. */
static qb_graph *planted(void)
{
    qb_err e;
    qb_graph *g = qb_graph_clone(model, &e);
    assert_non_null(g);
    int convs = 0;
    for (int i = 0; i < g->nnodes; i++) {
        qb_node *n = &g->nodes[i];
        if (strcmp(n->op, "Conv") || ++convs != 2)
            continue;
        qb_tensor *W = (qb_tensor *)qb_in(g, n, 1), *B = (qb_tensor *)qb_in(g, n, 2);
        assert_non_null(W);
        assert_non_null(B);
        float *w = W->data, *b = B->data;
        int64_t per = qb_tensor_count(W) / W->dims[0];
        for (int64_t k = 0; k < per; k++)
            w[k] *= 100.0f;
        b[0] = -1e5f;
    }
    assert_int_equal(convs, 2);
    return g;
}

/* The bisection finds the planted layer, alone, and writes it as a plan. */
static void test_bisect_planted(void **state)
{
    (void)state;
    qb_graph *g = planted();
    qb_samples cal = {.d = &train_set, .n = 200}, all = {.d = &train_set, .n = 600};
    qb_err e;
    /* labels: the planted FP32 model's own top-1 (its drop is then its disagreement with FP32) */
    static float x[600 * 64];
    static int32_t labels[600];
    qb_samples_fill(&all, 0, 600, 600, x);
    float *ref = NULL;
    int64_t outs = 0;
    if (qb_reference_outputs(g, &all, 100, -1, &ref, &outs, &e))
        fail_msg("%s", e.msg);
    for (int i = 0; i < 600; i++) {
        labels[i] = 0;
        for (int k = 1; k < outs; k++)
            if (ref[i * outs + k] > ref[i * outs + labels[i]])
                labels[i] = k;
    }
    free(ref);
    qb_samples val = {.x = x, .labels = labels, .n = 600, .sample = 64};
    qb_calibration c;
    if (qb_calibrate(g, &cal, 50, QB_CALIB_MINMAX, 99.99, 0, &c, &e))
        fail_msg("%s", e.msg);
    assert_int_equal(c.n, 3);
    qb_quant_opts o = qopts();
    qb_precision plan[3];
    qb_plan_uniform(&c, QB_PREC_INT8_TENSOR, &o, plan);
    qb_bisect b;
    if (qb_bisect_fp32(g, &c, plan, &val, 100, 3.0, &o, &b, 0, &e))
        fail_msg("%s", e.msg);
    print_message("bisect: drop %.2f pt (upper %.2f) -> %.2f pt (upper %.2f) keeping %d layer(s), %d evaluations\n",
                  b.start_drop, b.start_ci_high, b.drop, b.drop_ci_high, b.nkeep, b.evaluations);
    assert_true(b.start_ci_high > 3.0); /* the planted layer breaks the model */
    assert_true(b.met);
    assert_int_equal(b.nkeep, 1);
    assert_int_equal(b.keep[1], 1);
    assert_true(b.iso_sqnr[1] < b.iso_sqnr[0] && b.iso_sqnr[1] < b.iso_sqnr[2]);
    /* written as a plan, read back: the same precisions */
    qb_precision found[3];
    for (int i = 0; i < 3; i++)
        found[i] = b.keep[i] ? QB_PREC_FP32 : plan[i];
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(qb_layer_plan_write(f, "bisect", NULL, c.layers, 3, found, NULL, QB_PREC_INT8_TENSOR,
                                         QB_METHOD_PTQ_MINMAX, NULL), 0);
    fclose(f);
    assert_non_null(strstr(buf, "= fp32"));
    qb_layer_plan lp;
    load(buf, &lp);
    assert_int_equal(lp.nrules, 3); /* every layer written */
    qb_plan_choice ch[3];
    if (qb_layer_plan_resolve(&lp, c.layers, 3, "planted", (qb_precision)lp.prec, lp.method, &o, ch, &e))
        fail_msg("%s", e.msg);
    for (int i = 0; i < 3; i++)
        assert_int_equal(ch[i].prec, found[i]);
    qb_layer_plan_free(&lp);
    free(buf);
    /* the unplanted model meets the budget as it is: nothing kept */
    qb_calibration c0;
    if (qb_calibrate(model, &cal, 50, QB_CALIB_MINMAX, 99.99, 0, &c0, &e))
        fail_msg("%s", e.msg);
    qb_bisect b0;
    if (qb_bisect_fp32(model, &c0, plan, &val, 100, 3.0, &o, &b0, 0, &e))
        fail_msg("%s", e.msg);
    assert_true(b0.met);
    assert_int_equal(b0.nkeep, 0);
    assert_int_equal(b0.evaluations, 1);
    qb_bisect_free(&b0);
    qb_calibration_free(&c0);
    qb_bisect_free(&b);
    qb_calibration_free(&c);
    qb_graph_free(g);
}

/* Costs: bytes and energy from their formulas, latency measured (finite);
 * the cost-aware search on known (injected) costs: a free raise first, a
 * dear one last, costs rising along the path, Pareto flags by their
 * definition, the cheapest plan within the budget chosen. */
static void test_cost_search(void **state)
{
    (void)state;
    qb_samples cal = {.d = &train_set, .n = 200}, val = {.d = &train_set, .n = 600};
    qb_calibration c;
    qb_err e;
    if (qb_calibrate(model, &cal, 50, QB_CALIB_MINMAX, 99.99, 0, &c, &e))
        fail_msg("%s", e.msg);
    int n = c.n;
    assert_int_equal(n, 3);
    qb_quant_opts o = qopts();
    double bytes[3 * QB_PREC_COUNT], energy[3 * QB_PREC_COUNT], lat[3 * QB_PREC_COUNT];
    qb_energy_table et;
    char err[600];
    if (qb_energy_load("datasets/energy/horowitz-45nm.csv", &et, err, sizeof err))
        fail_msg("%s", err);
    if (qb_layer_costs(QB_COST_BYTES, model, &c, &o, -1, NULL, bytes, &e) ||
        qb_layer_costs(QB_COST_ENERGY, model, &c, &o, -1, &et, energy, &e) ||
        qb_layer_costs(QB_COST_LATENCY, model, &c, &o, -1, NULL, lat, &e))
        fail_msg("%s", e.msg);
    qb_precision plan[3];
    for (int i = 0; i < n; i++) {
        const qb_layer_info *l = &c.layers[i];
        double rows = (double)l->n * l->groups;
        assert_true(bytes[i * QB_PREC_COUNT + QB_PREC_FP32] == 4.0 * (double)l->weights);
        assert_true(bytes[i * QB_PREC_COUNT + QB_PREC_INT8_CHANNEL] == (double)l->weights + 4 * rows);
        double e8 = (double)l->macs * (et.int8_mult + et.int32_add) + bytes[i * QB_PREC_COUNT + QB_PREC_INT8_CHANNEL] /
                                                                          8.0 * et.dram;
        assert_true(fabs(energy[i * QB_PREC_COUNT + QB_PREC_INT8_CHANNEL] - e8 * 1e-6) < 1e-9 * (1 + e8 * 1e-6));
        for (int p = 0; p < QB_PREC_COUNT; p++)
            if (p == QB_PREC_FP32 || p == QB_PREC_FP16 || p == QB_PREC_INT8_CHANNEL || p == QB_PREC_INT4)
                assert_true(isfinite(lat[i * QB_PREC_COUNT + p]) && lat[i * QB_PREC_COUNT + p] >= 0);
        plan[i] = i == 1 ? QB_PREC_INT8_CHANNEL : QB_PREC_INT4;
    }
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += bytes[i * QB_PREC_COUNT + plan[i]];
    assert_true(sum == (double)qb_plan_weight_bytes(&c, plan, &o));
    /* known costs: raising layer 2 is free, layer 0 dear, layer 1 in between */
    double cost[3 * QB_PREC_COUNT];
    for (int i = 0; i < 3 * QB_PREC_COUNT; i++)
        cost[i] = 0;
    const double up[3] = {1000, 10, 0};
    for (int i = 0; i < n; i++) {
        cost[i * QB_PREC_COUNT + QB_PREC_INT4] = 1;
        cost[i * QB_PREC_COUNT + QB_PREC_INT8_CHANNEL] = 1 + up[i];
        cost[i * QB_PREC_COUNT + QB_PREC_FP16] = 2 + 2 * up[i];
    }
    qb_mixed mx;
    qb_pareto f;
    if (qb_mixed_cost_search(model, &c, &val, 100, 1e9, &o, NULL, cost, plan, &mx, &f, 0, &e))
        fail_msg("%s", e.msg);
    assert_int_equal(f.n, 4); /* all-int4, then one raise per layer to int8-channel (the budget never binds) */
    assert_int_equal(f.p[1].plan[2], QB_PREC_INT8_CHANNEL); /* the free raise first */
    assert_int_equal(f.p[2].plan[0], QB_PREC_INT4);         /* the dear one last */
    for (int i = 0; i < n; i++)
        assert_int_equal(f.p[3].plan[i], QB_PREC_INT8_CHANNEL);
    for (int k = 1; k < f.n; k++)
        assert_true(f.p[k].cost >= f.p[k - 1].cost);
    assert_true(f.p[0].cost == 3 && f.p[3].cost == 3 + 1010);
    for (int a = 0; a < f.n; a++) {
        int dominated = 0;
        for (int b = 0; b < f.n; b++)
            dominated |= b != a && f.p[b].cost <= f.p[a].cost && f.p[b].drop <= f.p[a].drop &&
                         (f.p[b].cost < f.p[a].cost || f.p[b].drop < f.p[a].drop);
        assert_int_equal(f.p[a].pareto, !dominated);
    }
    assert_int_equal(f.chosen, 0); /* any drop meets a budget of 1e9: the cheapest plan */
    assert_true(mx.met);
    qb_pareto_free(&f);
    qb_mixed_free(&mx);
    /* a budget of -1e9 is met by nothing: the path goes on to fp16, the last plan is reported */
    if (qb_mixed_cost_search(model, &c, &val, 100, -1e9, &o, NULL, cost, plan, &mx, &f, 0, &e))
        fail_msg("%s", e.msg);
    assert_false(mx.met);
    assert_int_equal(f.n, 7);
    assert_int_equal(f.chosen, 6);
    for (int i = 0; i < n; i++)
        assert_int_equal(plan[i], QB_PREC_FP16);
    qb_pareto_free(&f);
    qb_mixed_free(&mx);
    qb_calibration_free(&c);
}

/* The plan and data of one pipeline run on the tiny net. */
static int plan_run(const char *method, qb_precision prec, const qb_layer_plan *lp, qb_pipeline_data *d,
                    qb_pipeline_result *r, qb_err *e)
{
    qb_pipeline_opts o;
    qb_pipeline_defaults(&o);
    o.model = "tiny";
    o.prec = prec;
    o.method = method;
    o.batch = 50;
    o.layer_plan = lp;
    o.prec_given = 1;
    return qb_pipeline_plan(&o, d, r, e);
}

/* Logit metrics of a pipeline result's quantized graph against ref. */
static qb_metrics plan_metrics(const qb_pipeline_result *r, const qb_samples *s, const float *ref, int64_t outs)
{
    qb_err e;
    qb_metrics m;
    qb_quant_opts o = qopts();
    qb_graph *g = qb_quantize_graph(r->model, &r->cal, r->plan, &o, &e);
    if (!g || qb_compare_graph(g, s, 50, -1, ref, outs, &m, &e))
        fail_msg("%s", e.msg);
    return m;
}

/* Repairs compose with a layer plan: a plan that sets every layer to
 * int8-tensor with +cle+biascorr quantizes exactly as -p int8-tensor
 * with the same repairs (same outputs, bit for bit); a layer the plan
 * keeps fp32 is left out of AdaRound and bias correction (its weights
 * and bias stay the FP32 model's). */
static void test_plan_with_repairs(void **state)
{
    (void)state;
    qb_samples cal = {.d = &train_set, .n = 200}, val = {.d = &train_set, .first = 0, .n = 300};
    qb_pipeline_data d = {.model = model, .calib = cal, .valid = val, .eval = val};
    qb_layer_plan uni, keep;
    load("[plan]\nprecision = int8-tensor\n", &uni);
    qb_pipeline_result a, b, k;
    qb_err e;
    if (plan_run("ptq-minmax+cle+biascorr", QB_PREC_INT8_TENSOR, &uni, &d, &a, &e) ||
        plan_run("ptq-minmax+cle+biascorr", QB_PREC_INT8_TENSOR, NULL, &d, &b, &e))
        fail_msg("%s", e.msg);
    assert_non_null(a.repaired);
    assert_ptr_equal(a.model, a.repaired);
    assert_non_null(strstr(a.repair_note, "pairs"));
    assert_non_null(strstr(a.repair_note, "3 biases corrected"));
    float *ref = NULL;
    int64_t outs = 0;
    if (qb_reference_outputs(model, &val, 50, -1, &ref, &outs, &e))
        fail_msg("%s", e.msg);
    qb_metrics ma = plan_metrics(&a, &val, ref, outs), mb = plan_metrics(&b, &val, ref, outs);
    assert_true(ma.sqnr_db == mb.sqnr_db && ma.max_abs_err == mb.max_abs_err && ma.agreement == mb.agreement);
    /* the repairs changed something (else the comparison proves little) */
    qb_pipeline_result plain;
    if (plan_run("ptq-minmax", QB_PREC_INT8_TENSOR, &uni, &d, &plain, &e))
        fail_msg("%s", e.msg);
    assert_null(plain.repaired);
    assert_true(plan_metrics(&plain, &val, ref, outs).sqnr_db != ma.sqnr_db);
    /* the first layer kept fp32: AdaRound rounds the other two, bias correction leaves it alone */
    char text[256];
    snprintf(text, sizeof text, "[plan]\nprecision = int4\n[layers]\n%s = fp32\n", a.cal.layers[0].name);
    load(text, &keep);
    if (plan_run("ptq-minmax+adaround+biascorr", QB_PREC_INT4, &keep, &d, &k, &e))
        fail_msg("%s", e.msg);
    assert_int_equal(k.plan[0], QB_PREC_FP32);
    assert_int_equal(k.plan[1], QB_PREC_INT4);
    assert_non_null(strstr(k.repair_note, "adaround 2 layers"));
    assert_non_null(strstr(k.repair_note, "2 biases corrected"));
    int n0 = qb_layer_node(model, &k.cal.layers[0]), r0 = qb_layer_node(k.repaired, &k.cal.layers[0]);
    assert_true(n0 >= 0 && r0 >= 0);
    qb_wview v0, w0;
    assert_int_equal(qb_wview_of((qb_graph *)model, n0, &v0), 0);
    assert_int_equal(qb_wview_of(k.repaired, r0, &w0), 0);
    assert_memory_equal(v0.w, w0.w, (size_t)v0.n * v0.k * sizeof(float));
    assert_memory_equal(v0.b, w0.b, (size_t)v0.n * sizeof(float));
    free(ref);
    qb_pipeline_result_free(&a);
    qb_pipeline_result_free(&b);
    qb_pipeline_result_free(&k);
    qb_pipeline_result_free(&plain);
    qb_layer_plan_free(&uni);
    qb_layer_plan_free(&keep);
}

/* QAT as a priced candidate (crafted points): training time is a third
 * cost in the Pareto flags, the chosen plan stays a PTQ plan, and the
 * verdict says when QAT meets the budget more cheaply than raising layers. */
static void test_pareto_qat(void **state)
{
    (void)state;
    qb_precision plan[1] = {QB_PREC_INT4};
    qb_pareto_point pts[4] = {
        {.plan = plan, .cost = 10, .drop = 2.0, .drop_ci_high = 2.5},
        {.plan = plan, .cost = 12, .drop = 0.8, .drop_ci_high = 1.2},
        {.plan = plan, .cost = 20, .drop = 0.3, .drop_ci_high = 0.6},
        {.plan = plan, .cost = 10, .drop = 0.4, .drop_ci_high = 0.9, .qat = 1, .train_s = 100},
    };
    qb_pareto f = {.n = 4, .p = pts};
    assert_int_equal(qb_pareto_mark(&f, 1.0), 1);
    assert_int_equal(f.chosen, 2); /* the only PTQ plan within 1 pt */
    for (int k = 0; k < 4; k++)    /* p1 is not dominated by QAT: QAT costs training time */
        assert_int_equal(pts[k].pareto, 1);
    qb_qat_verdict v;
    qb_pareto_qat_verdict(&f, 1.0, &v);
    assert_int_equal(v.qat, 3);
    assert_true(v.meets && v.beats);
    assert_int_equal(v.ptq_budget, 2);
    assert_int_equal(v.ptq_match, 2); /* the cheapest PTQ plan as accurate as QAT (0.3 <= 0.4) */
    /* a looser budget: the cheapest PTQ plan meets it, QAT at the same cost saves nothing; never chosen */
    assert_int_equal(qb_pareto_mark(&f, 3.0), 1);
    assert_int_equal(f.chosen, 0);
    qb_pareto_qat_verdict(&f, 3.0, &v);
    assert_true(v.meets && !v.beats);
    /* QAT that misses the budget does not beat anything */
    pts[3].drop = 1.5, pts[3].drop_ci_high = 2.0;
    qb_pareto_qat_verdict(&f, 1.0, &v);
    assert_true(!v.meets && !v.beats);
    assert_int_equal(v.ptq_match, 1);
    /* as costly as PTQ point 0, less accurate and trained: dominated; an unrecorded time counts as dear */
    pts[3].drop = 2.5, pts[3].drop_ci_high = 3.0;
    qb_pareto_mark(&f, 1.0);
    assert_int_equal(pts[3].pareto, 0);
    pts[3].drop = 0.4, pts[3].train_s = NAN;
    qb_pareto_mark(&f, 1.0);
    assert_int_equal(pts[3].pareto, 1);
    assert_int_equal(pts[1].pareto, 1);
    /* no PTQ plan meets the budget: QAT that does beats them all; the last PTQ plan is reported */
    assert_int_equal(qb_pareto_mark(&f, 0.1), 0);
    assert_int_equal(f.chosen, 2);
    pts[3].drop_ci_high = 0.05;
    qb_pareto_qat_verdict(&f, 0.1, &v);
    assert_true(v.beats && v.ptq_budget < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),       cmocka_unit_test(test_bad_syntax),
        cmocka_unit_test(test_bad_names),   cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_write_roundtrip), cmocka_unit_test(test_scenario_plan),
        cmocka_unit_test(test_per_layer_calibrators), cmocka_unit_test(test_bisect_planted),
        cmocka_unit_test(test_cost_search), cmocka_unit_test(test_plan_with_repairs),
        cmocka_unit_test(test_pareto_qat),
    };
    return cmocka_run_group_tests(tests, setup_model, teardown_model);
}
