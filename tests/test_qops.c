/*
 * test_qops.c - the quantized-model operators (ops_quant.c,
 * ops_qlinear.c) against hand-computed values: rounding half to even and
 * saturation, QuantizeLinear / DequantizeLinear per tensor and per axis
 * (negative zero points, uint8 and int8, int32 input),
 * DynamicQuantizeLinear (range widened to 0, zero range, NaN),
 * MatMulInteger / QLinearMatMul (per-row and per-column zero points and
 * scales, batch broadcast, 1-D promotion, int8/uint8 mixes),
 * ConvInteger / QLinearConv (groups, pads counted as the zero point,
 * strides, dilations, auto_pad, per-channel weights, bias), the same
 * operators at run time inside a model (not folded), Min / Max / Round /
 * ReduceMin / ReduceMax (ops_minmax.c: what ONNX expands
 * DynamicQuantizeLinear into), and bad inputs refused at prepare time
 * with a message naming the node.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness/graph/ops.h"
#include "tests/graph_build.h"

/* ---- building graphs ---- */

/* A tensor: constant when data is given, else a graph input. */
static void add_t(qb_graph *g, const char *name, qb_dtype dt, int ndim, const int64_t *dims, const void *data)
{
    qb_test_tensor(g, name, dt, ndim, dims, data);
}

/* Scalar constants (rank 0). */
static void add_f(qb_graph *g, const char *name, float v) { add_t(g, name, QB_DT_FLOAT, 0, NULL, &v); }
static void add_u8(qb_graph *g, const char *name, uint8_t v) { add_t(g, name, QB_DT_UINT8, 0, NULL, &v); }
static void add_i8(qb_graph *g, const char *name, int8_t v) { add_t(g, name, QB_DT_INT8, 0, NULL, &v); }

/* A node: inputs and outputs as comma-separated names ("-" = omitted). */
static qb_node *add_n(qb_graph *g, const char *op, const char *ins, const char *outs) { return qb_test_node(g, op, ins, outs); }

static qb_attr *new_attr(qb_node *n, const char *name, int type) { return qb_test_attr(n, name, type); }

static void attr_i(qb_node *n, const char *name, int64_t v) { new_attr(n, name, QB_ATTR_INT)->i = v; }
static void attr_s(qb_node *n, const char *name, const char *v) { new_attr(n, name, QB_ATTR_STRING)->s = strdup(v); }
static void attr_ints(qb_node *n, const char *name, int k, ...)
{
    qb_attr *a = new_attr(n, name, QB_ATTR_INTS);
    a->n = k;
    a->ints = calloc(k + 1, sizeof(int64_t));
    va_list ap;
    va_start(ap, k);
    for (int i = 0; i < k; i++)
        a->ints[i] = va_arg(ap, int);
    va_end(ap);
}

static void add_output(qb_graph *g, const char *name) { qb_test_output(g, name); }

static qb_graph *new_graph(void)
{
    qb_graph *g = qb_graph_new("test");
    g->opset = 13;
    return g;
}

/* Sort, prepare and run; the graph's inputs (if any) are float32 and all
 * get the data x. */
static void run(qb_graph *g, const float *x)
{
    qb_err e = {0};
    if (qb_graph_sort(g, &e) || qb_graph_prepare(g, NULL, 0, -1, &e)) {
        print_error("%s\n", e.msg);
        fail();
    }
    qb_tensor in[4];
    memset(in, 0, sizeof in);
    for (int i = 0; i < g->ninputs; i++) {
        in[i] = *g->tensors[g->inputs[i]];
        in[i].data = (void *)x;
    }
    if (qb_graph_run(g, in, g->ninputs, &e)) {
        print_error("%s\n", e.msg);
        fail();
    }
}

/* The prepare error of g (which must fail). */
static const char *prepare_error(qb_graph *g, qb_err *e)
{
    assert_int_equal(qb_graph_sort(g, e), 0);
    assert_int_not_equal(qb_graph_prepare(g, NULL, 0, -1, e), 0);
    return e->msg;
}

static const qb_tensor *out(qb_graph *g, int i) { return g->tensors[g->outputs[i]]; }

/* Output i has type dt, shape sh and the integer values want. */
static void expect_int(qb_graph *g, int i, qb_dtype dt, const char *sh, const int32_t *want, int n)
{
    const qb_tensor *y = out(g, i);
    char s[128];
    qb_shape_str(y->ndim, y->dims, s, sizeof s);
    assert_string_equal(s, sh);
    assert_int_equal(y->dtype, dt);
    assert_int_equal(qb_tensor_count(y), n);
    for (int k = 0; k < n; k++)
        if (qb_int_at(y, k) != want[k]) {
            print_error("output %d element %d: %lld, want %d\n", i, k, (long long)qb_int_at(y, k), want[k]);
            fail();
        }
}

/* Output i is float32 with exactly the values want. */
static void expect_f(qb_graph *g, int i, const float *want, int n)
{
    const qb_tensor *y = out(g, i);
    assert_int_equal(y->dtype, QB_DT_FLOAT);
    assert_int_equal(qb_tensor_count(y), n);
    for (int k = 0; k < n; k++)
        if (((const float *)y->data)[k] != want[k]) {
            print_error("output %d element %d: %.9g, want %.9g\n", i, k, ((const float *)y->data)[k], want[k]);
            fail();
        }
}

/* No node was folded: everything ran at run time. */
static void expect_not_folded(const qb_graph *g)
{
    for (int i = 0; i < g->nnodes; i++)
        if (g->nodes[i].folded) {
            print_error("node %s was folded\n", g->nodes[i].name);
            fail();
        }
}

/* ---- rounding ---- */

static void test_round_saturate(void **st)
{
    (void)st;
    /* ties to even */
    assert_int_equal(qb_qround(0.5, 0, 0, 255), 0);
    assert_int_equal(qb_qround(1.5, 0, 0, 255), 2);
    assert_int_equal(qb_qround(2.5, 0, 0, 255), 2);
    assert_int_equal(qb_qround(3.5, 0, 0, 255), 4);
    assert_int_equal(qb_qround(-0.5, 0, -128, 127), 0);
    assert_int_equal(qb_qround(-1.5, 0, -128, 127), -2);
    assert_int_equal(qb_qround(-2.5, 0, -128, 127), -2);
    assert_int_equal(qb_qround(2.4999999, 0, 0, 255), 2);
    assert_int_equal(qb_qround(2.5000001, 0, 0, 255), 3);
    /* the zero point is added after rounding: rint(2.5) + 1 = 3, not rint(3.5) = 4 */
    assert_int_equal(qb_qround(2.5, 1, 0, 255), 3);
    assert_int_equal(qb_qround(-2.5, -3, -128, 127), -5);
    /* saturation */
    assert_int_equal(qb_qround(254.5, 1, 0, 255), 255);
    assert_int_equal(qb_qround(255.5, 0, 0, 255), 255);
    assert_int_equal(qb_qround(-0.6, 0, 0, 255), 0);
    assert_int_equal(qb_qround(127.5, 0, -128, 127), 127);
    assert_int_equal(qb_qround(-128.5, 0, -128, 127), -128);
    assert_int_equal(qb_qround(-129.5, 0, -128, 127), -128);
    assert_int_equal(qb_qround(1e300, 0, 0, 255), 255);
    assert_int_equal(qb_qround(INFINITY, 0, 0, 255), 255);
    assert_int_equal(qb_qround(-INFINITY, 0, -128, 127), -128);
    /* NaN gives the zero point */
    assert_int_equal(qb_qround(NAN, 5, 0, 255), 5);
    int32_t lo, hi;
    assert_int_equal(qb_qrange(QB_DT_INT8, &lo, &hi), 0);
    assert_true(lo == -128 && hi == 127);
    assert_int_equal(qb_qrange(QB_DT_UINT8, &lo, &hi), 0);
    assert_true(lo == 0 && hi == 255);
    assert_int_equal(qb_qrange(QB_DT_INT32, &lo, &hi), -1);
}

/* ---- QuantizeLinear / DequantizeLinear ---- */

static const float xq[8] = {0, 1, 3, 5, -3, 1000, -1000, 7};

static void test_quantize_per_tensor(void **st)
{
    (void)st;
    int64_t d8 = 8, d3 = 3;
    /* uint8, zero point 128: x / 2 = 0, 0.5, 1.5, 2.5, -1.5, 500, -500, 3.5 */
    qb_graph *g = new_graph();
    add_t(g, "x", QB_DT_FLOAT, 1, &d8, NULL);
    add_f(g, "s", 2.0f);
    add_u8(g, "z", 128);
    add_n(g, "QuantizeLinear", "x,s,z", "y");
    add_output(g, "y");
    run(g, xq);
    expect_not_folded(g);
    expect_int(g, 0, QB_DT_UINT8, "8", (const int32_t[]){128, 128, 130, 130, 126, 255, 0, 132}, 8);
    qb_graph_free(g);
    /* int8, negative zero point -3 */
    g = new_graph();
    add_t(g, "x", QB_DT_FLOAT, 1, &d8, NULL);
    add_f(g, "s", 2.0f);
    add_i8(g, "z", -3);
    add_n(g, "QuantizeLinear", "x,s,z", "y");
    add_output(g, "y");
    run(g, xq);
    expect_int(g, 0, QB_DT_INT8, "8", (const int32_t[]){-3, -3, -1, -1, -5, 127, -128, 1}, 8);
    qb_graph_free(g);
    /* no zero point: uint8 with zero point 0 */
    g = new_graph();
    add_t(g, "x", QB_DT_FLOAT, 1, &d3, NULL);
    add_f(g, "s", 2.0f);
    add_n(g, "QuantizeLinear", "x,s", "y");
    add_output(g, "y");
    run(g, (const float[]){-1, 1, 3});
    expect_int(g, 0, QB_DT_UINT8, "3", (const int32_t[]){0, 0, 2}, 3);
    qb_graph_free(g);
    /* int32 input (folded): 7 / 2 = 3.5 -> 4, -5 / 2 = -2.5 -> -2 */
    g = new_graph();
    add_t(g, "x", QB_DT_INT32, 1, &d3, (const int32_t[]){7, -5, 100000});
    add_f(g, "s", 2.0f);
    add_i8(g, "z", 1);
    add_n(g, "QuantizeLinear", "x,s,z", "y");
    add_output(g, "y");
    run(g, NULL);
    expect_int(g, 0, QB_DT_INT8, "3", (const int32_t[]){5, -1, 127}, 3);
    qb_graph_free(g);
}

static void test_quantize_per_axis(void **st)
{
    (void)st;
    int64_t d23[2] = {2, 3}, d3 = 3, d2 = 2;
    const float x[6] = {1, 2, 3, 4, 5, 6};
    /* axis 1 (default): columns scaled by 1, 2, 4 with zero points 0, 10, -10 */
    qb_graph *g = new_graph();
    add_t(g, "x", QB_DT_FLOAT, 2, d23, NULL);
    add_t(g, "s", QB_DT_FLOAT, 1, &d3, (const float[]){1, 2, 4});
    add_t(g, "z", QB_DT_INT8, 1, &d3, (const int8_t[]){0, 10, -10});
    add_n(g, "QuantizeLinear", "x,s,z", "y");
    add_output(g, "y");
    run(g, x);
    /* 1, 4 | 1 -> 11, 2.5 -> 2 -> 12 | 0.75 -> 1 -> -9, 1.5 -> 2 -> -8 */
    expect_int(g, 0, QB_DT_INT8, "2x3", (const int32_t[]){1, 11, -9, 4, 12, -8}, 6);
    qb_graph_free(g);
    /* axis -2 = rows, uint8: row 1 scaled by 0.5 with zero point 100 */
    g = new_graph();
    add_t(g, "x", QB_DT_FLOAT, 2, d23, NULL);
    add_t(g, "s", QB_DT_FLOAT, 1, &d2, (const float[]){1, 0.5f});
    add_t(g, "z", QB_DT_UINT8, 1, &d2, (const uint8_t[]){0, 100});
    attr_i(add_n(g, "QuantizeLinear", "x,s,z", "y"), "axis", -2);
    add_output(g, "y");
    run(g, x);
    expect_int(g, 0, QB_DT_UINT8, "2x3", (const int32_t[]){1, 2, 3, 108, 110, 112}, 6);
    qb_graph_free(g);
}

static void test_dequantize(void **st)
{
    (void)st;
    int64_t d22[2] = {2, 2}, d2 = 2, d3 = 3;
    /* int8 per axis 1 with zero points -128 and 1 (folded: constant input) */
    qb_graph *g = new_graph();
    add_t(g, "q", QB_DT_INT8, 2, d22, (const int8_t[]){-128, 127, 0, -1});
    add_t(g, "s", QB_DT_FLOAT, 1, &d2, (const float[]){0.5f, 2});
    add_t(g, "z", QB_DT_INT8, 1, &d2, (const int8_t[]){-128, 1});
    add_n(g, "DequantizeLinear", "q,s,z", "y");
    add_output(g, "y");
    run(g, NULL);
    expect_f(g, 0, (const float[]){0, 252, 64, -4}, 4);
    qb_graph_free(g);
    /* int32 without zero point: float(x) * scale (16777217 rounds to 2^24 in float32) */
    g = new_graph();
    add_t(g, "q", QB_DT_INT32, 1, &d3, (const int32_t[]){-1000000, 7, 16777217});
    add_f(g, "s", 0.5f);
    add_n(g, "DequantizeLinear", "q,s", "y");
    add_output(g, "y");
    run(g, NULL);
    expect_f(g, 0, (const float[]){-500000, 3.5f, 8388608}, 3);
    qb_graph_free(g);
    /* uint8 per tensor */
    g = new_graph();
    add_t(g, "q", QB_DT_UINT8, 1, &d3, (const uint8_t[]){0, 10, 255});
    add_f(g, "s", 0.25f);
    add_u8(g, "z", 10);
    add_n(g, "DequantizeLinear", "q,s,z", "y");
    add_output(g, "y");
    run(g, NULL);
    expect_f(g, 0, (const float[]){-2.5f, 0, 61.25f}, 3);
    qb_graph_free(g);
}

/* QuantizeLinear of a float activation, then DequantizeLinear, at run time. */
static void test_qdq_runtime(void **st)
{
    (void)st;
    int64_t d4 = 4;
    qb_graph *g = new_graph();
    add_t(g, "x", QB_DT_FLOAT, 1, &d4, NULL);
    add_f(g, "s", 0.5f);
    add_u8(g, "z", 10);
    add_n(g, "Relu", "x", "r");
    add_n(g, "QuantizeLinear", "r,s,z", "q");
    add_n(g, "DequantizeLinear", "q,s,z", "y");
    add_output(g, "y");
    add_output(g, "q");
    run(g, (const float[]){-1.0f, 0.26f, 0.74f, 100});
    expect_not_folded(g);
    /* relu: 0, 0.26, 0.74, 100; / 0.5: 0, 0.52, 1.48, 200 -> 10, 11, 11, 210 */
    expect_int(g, 1, QB_DT_UINT8, "4", (const int32_t[]){10, 11, 11, 210}, 4);
    expect_f(g, 0, (const float[]){0, 0.5f, 0.5f, 100}, 4);
    qb_graph_free(g);
}

/* A QDQ model as exporters write it: activations quantized and
 * dequantized at run time, int8 weights (per output channel, axis 0)
 * dequantized into the float Conv's weights when the graph is prepared. */
static void test_qdq_conv_model(void **st)
{
    (void)st;
    int64_t dx[4] = {1, 1, 3, 3}, dw[4] = {2, 1, 1, 1}, d2 = 2;
    qb_graph *g = new_graph();
    add_t(g, "x", QB_DT_FLOAT, 4, dx, NULL);
    add_f(g, "xs", 0.5f);
    add_u8(g, "xz", 0);
    add_t(g, "wq", QB_DT_INT8, 4, dw, (const int8_t[]){2, -4});
    add_t(g, "ws", QB_DT_FLOAT, 1, &d2, (const float[]){0.5f, 0.25f});
    add_t(g, "wz", QB_DT_INT8, 1, &d2, (const int8_t[]){0, 0});
    add_n(g, "QuantizeLinear", "x,xs,xz", "xq");
    add_n(g, "DequantizeLinear", "xq,xs,xz", "xd");
    attr_i(add_n(g, "DequantizeLinear", "wq,ws,wz", "w"), "axis", 0);
    add_n(g, "Conv", "xd,w", "c");
    add_n(g, "Relu", "c", "y");
    add_output(g, "y");
    /* on the 0.5 grid: 4.2 / 0.5 = 8.4 -> 8 (4.0), 9.3 / 0.5 = 18.6 -> 19 (9.5) */
    run(g, (const float[]){1, 2, 3, 4.2f, 5, 6, 7, 8, 9.3f});
    for (int i = 0; i < g->nnodes; i++) /* only the weights' DequantizeLinear is folded */
        assert_int_equal(g->nodes[i].folded, !strcmp(g->nodes[i].name, "DequantizeLinear_2"));
    /* w = [1, -1]: channel 0 = x, channel 1 = -x, then Relu */
    expect_f(g, 0, (const float[]){1, 2, 3, 4, 5, 6, 7, 8, 9.5f, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 18);
    qb_graph_free(g);
}

/* ---- DynamicQuantizeLinear ---- */

static void dynq(const float *x, int64_t n, const int32_t *want_y, float want_scale, int want_zp)
{
    qb_graph *g = new_graph();
    add_t(g, "x", QB_DT_FLOAT, 1, &n, NULL);
    add_n(g, "DynamicQuantizeLinear", "x", "y,ys,yz");
    add_output(g, "y");
    add_output(g, "ys");
    add_output(g, "yz");
    run(g, x);
    expect_not_folded(g);
    char sh[16];
    snprintf(sh, sizeof sh, "%lld", (long long)n);
    expect_int(g, 0, QB_DT_UINT8, sh, want_y, (int)n);
    expect_f(g, 1, &want_scale, 1);
    expect_int(g, 2, QB_DT_UINT8, "scalar", (const int32_t[]){want_zp}, 1);
    qb_graph_free(g);
}

static void test_dynamic_quantize(void **st)
{
    (void)st;
    /* range [0, 2.55] (0 included): zero point 0 */
    dynq((const float[]){1.0f, 2.55f, 0.5f}, 3, (const int32_t[]){100, 255, 50}, 2.55f / 255.0f, 0);
    /* only negative values: range [-2.55, 0], zero point 255 */
    dynq((const float[]){-2.55f, -1.0f}, 2, (const int32_t[]){0, 155}, 2.55f / 255.0f, 255);
    /* [-1, 2]: scale 3/255, zero point 1 / scale = 85 */
    dynq((const float[]){-1.0f, 2.0f}, 2, (const int32_t[]){0, 255}, 3.0f / 255.0f, 85);
    /* NaN is left out of the range and quantizes to the zero point */
    dynq((const float[]){NAN, -1.0f, 2.0f}, 3, (const int32_t[]){85, 0, 255}, 3.0f / 255.0f, 85);
    /* all zero: scale 1, zero point 0 (no division by zero) */
    dynq((const float[]){0, 0, 0}, 3, (const int32_t[]){0, 0, 0}, 1.0f, 0);
}

/* ---- MatMulInteger / QLinearMatMul ---- */

static void test_matmul_integer(void **st)
{
    (void)st;
    int64_t d23[2] = {2, 3}, d32[2] = {3, 2}, d2 = 2, d3 = 3, d232[3] = {2, 3, 2}, d222[3] = {2, 2, 2},
            d221[3] = {2, 2, 1}, d22[2] = {2, 2};
    /* uint8 A per-row zero points [1, 2], int8 B per-column zero points [-1, 0]:
     * A - za = [2 3 4; 0 0 8], B - zb = [2 -2; 1 3; 0 4] */
    qb_graph *g = new_graph();
    add_t(g, "A", QB_DT_UINT8, 2, d23, (const uint8_t[]){3, 4, 5, 2, 2, 10});
    add_t(g, "B", QB_DT_INT8, 2, d32, (const int8_t[]){1, -2, 0, 3, -1, 4});
    add_t(g, "za", QB_DT_UINT8, 1, &d2, (const uint8_t[]){1, 2});
    add_t(g, "zb", QB_DT_INT8, 1, &d2, (const int8_t[]){-1, 0});
    add_n(g, "MatMulInteger", "A,B,za,zb", "y");
    add_output(g, "y");
    run(g, NULL);
    expect_int(g, 0, QB_DT_INT32, "2x2", (const int32_t[]){7, 21, 0, 32}, 4);
    qb_graph_free(g);
    /* 1-D A (int8, no zero point) times a batch of uint8 B with zero point 1 */
    g = new_graph();
    add_t(g, "A", QB_DT_INT8, 1, &d3, (const int8_t[]){1, 2, 3});
    add_t(g, "B", QB_DT_UINT8, 3, d232, (const uint8_t[]){1, 2, 3, 4, 5, 6, 2, 2, 2, 2, 2, 2});
    add_u8(g, "zb", 1);
    add_n(g, "MatMulInteger", "A,B,-,zb", "y");
    add_output(g, "y");
    run(g, NULL);
    expect_int(g, 0, QB_DT_INT32, "2x2", (const int32_t[]){16, 22, 6, 6}, 4);
    qb_graph_free(g);
    /* batched A with zero points of shape [2, M, 1], 2-D B broadcast over the batch */
    g = new_graph();
    add_t(g, "A", QB_DT_UINT8, 3, d222, (const uint8_t[]){1, 2, 3, 4, 5, 6, 7, 8});
    add_t(g, "B", QB_DT_UINT8, 2, d22, (const uint8_t[]){1, 2, 3, 4});
    add_t(g, "za", QB_DT_UINT8, 3, d221, (const uint8_t[]){1, 3, 5, 7});
    add_n(g, "MatMulInteger", "A,B,za", "y");
    add_output(g, "y");
    run(g, NULL);
    expect_int(g, 0, QB_DT_INT32, "2x2x2", (const int32_t[]){3, 4, 3, 4, 3, 4, 3, 4}, 8);
    qb_graph_free(g);
    /* the int32 accumulator wraps: 40000 * 255 * 255 = 2601000000 = -1693967296 mod 2^32 */
    int64_t k = 40000, d1k[2] = {1, 40000}, dk1[2] = {40000, 1};
    uint8_t *ones = malloc((size_t)k);
    memset(ones, 255, (size_t)k);
    g = new_graph();
    add_t(g, "A", QB_DT_UINT8, 2, d1k, ones);
    add_t(g, "B", QB_DT_UINT8, 2, dk1, ones);
    add_n(g, "MatMulInteger", "A,B", "y");
    add_output(g, "y");
    run(g, NULL);
    expect_int(g, 0, QB_DT_INT32, "1x1", (const int32_t[]){-1693967296}, 1);
    qb_graph_free(g);
    free(ones);
}

static void test_qlinear_matmul(void **st)
{
    (void)st;
    int64_t d22[2] = {2, 2}, d2 = 2;
    const uint8_t a[4] = {3, 5, 5, 0}, b[4] = {1, 1, 0, 1}; /* accumulators [3 8; 5 5] */
    /* multiplier 1 * 1 / 2 = 0.5: 1.5 -> 2, 4, 2.5 -> 2, 2.5 -> 2; + 10 */
    qb_graph *g = new_graph();
    add_t(g, "a", QB_DT_UINT8, 2, d22, a);
    add_f(g, "as", 1);
    add_u8(g, "az", 0);
    add_t(g, "b", QB_DT_UINT8, 2, d22, b);
    add_f(g, "bs", 1);
    add_u8(g, "bz", 0);
    add_f(g, "ys", 2);
    add_u8(g, "yz", 10);
    add_n(g, "QLinearMatMul", "a,as,az,b,bs,bz,ys,yz", "y");
    add_output(g, "y");
    run(g, NULL);
    expect_int(g, 0, QB_DT_UINT8, "2x2", (const int32_t[]){12, 14, 12, 12}, 4);
    qb_graph_free(g);
    /* int8 output with zero point 120, multiplier 1: 8 + 120 saturates at 127 */
    g = new_graph();
    add_t(g, "a", QB_DT_UINT8, 2, d22, a);
    add_f(g, "as", 1);
    add_u8(g, "az", 0);
    add_t(g, "b", QB_DT_UINT8, 2, d22, b);
    add_f(g, "bs", 1);
    add_u8(g, "bz", 0);
    add_f(g, "ys", 1);
    add_i8(g, "yz", 120);
    add_n(g, "QLinearMatMul", "a,as,az,b,bs,bz,ys,yz", "y");
    add_output(g, "y");
    run(g, NULL);
    expect_int(g, 0, QB_DT_INT8, "2x2", (const int32_t[]){123, 127, 125, 125}, 4);
    qb_graph_free(g);
    /* per-column scales of b [1, 0.5]: column 1 = 4, 2.5 -> 2 */
    g = new_graph();
    add_t(g, "a", QB_DT_UINT8, 2, d22, a);
    add_f(g, "as", 1);
    add_u8(g, "az", 0);
    add_t(g, "b", QB_DT_UINT8, 2, d22, b);
    add_t(g, "bs", QB_DT_FLOAT, 1, &d2, (const float[]){1, 0.5f});
    add_t(g, "bz", QB_DT_UINT8, 1, &d2, (const uint8_t[]){0, 0});
    add_f(g, "ys", 1);
    add_u8(g, "yz", 0);
    add_n(g, "QLinearMatMul", "a,as,az,b,bs,bz,ys,yz", "y");
    add_output(g, "y");
    run(g, NULL);
    expect_int(g, 0, QB_DT_UINT8, "2x2", (const int32_t[]){3, 4, 5, 2}, 4);
    qb_graph_free(g);
    /* at run time: a = QuantizeLinear(x, 1, 0), y dequantized with (2, 10) */
    g = new_graph();
    add_t(g, "x", QB_DT_FLOAT, 2, d22, NULL);
    add_f(g, "as", 1);
    add_u8(g, "az", 0);
    add_t(g, "b", QB_DT_UINT8, 2, d22, b);
    add_f(g, "bs", 1);
    add_u8(g, "bz", 0);
    add_f(g, "ys", 2);
    add_u8(g, "yz", 10);
    add_n(g, "QuantizeLinear", "x,as,az", "a");
    add_n(g, "QLinearMatMul", "a,as,az,b,bs,bz,ys,yz", "y");
    add_n(g, "DequantizeLinear", "y,ys,yz", "f");
    add_output(g, "f");
    add_output(g, "y");
    run(g, (const float[]){3, 5, 5, 0});
    expect_not_folded(g);
    expect_int(g, 1, QB_DT_UINT8, "2x2", (const int32_t[]){12, 14, 12, 12}, 4);
    expect_f(g, 0, (const float[]){4, 8, 4, 4}, 4);
    qb_graph_free(g);
}

/* ---- ConvInteger / QLinearConv ---- */

static void test_conv_integer(void **st)
{
    (void)st;
    int64_t dx[4] = {1, 2, 3, 3}, dw[4] = {2, 1, 2, 2}, d2 = 2, dx1[3] = {1, 1, 5}, dw1[3] = {1, 1, 2};
    /* 2 groups, stride 2, pads 1, x zero point 2, per-channel w zero points [1, -1]:
     * x - 2 = [0..8] and [0 1 2; 3 4 5; 6 7 10]; w - zp = [1 0; 0 1] and [0 0; 0 1];
     * padded taps count as the zero point (0 after subtraction) */
    qb_graph *g = new_graph();
    add_t(g, "x", QB_DT_UINT8, 4, dx, (const uint8_t[]){2, 3, 4, 5, 6, 7, 8, 9, 10, 2, 3, 4, 5, 6, 7, 8, 9, 12});
    add_t(g, "w", QB_DT_INT8, 4, dw, (const int8_t[]){2, 1, 1, 2, -1, -1, -1, 0});
    add_u8(g, "xz", 2);
    add_t(g, "wz", QB_DT_INT8, 1, &d2, (const int8_t[]){1, -1});
    qb_node *n = add_n(g, "ConvInteger", "x,w,xz,wz", "y");
    attr_i(n, "group", 2);
    attr_ints(n, "strides", 2, 2, 2);
    attr_ints(n, "pads", 4, 1, 1, 1, 1);
    add_output(g, "y");
    run(g, NULL);
    expect_int(g, 0, QB_DT_INT32, "1x2x2x2", (const int32_t[]){0, 2, 6, 12, 0, 2, 6, 10}, 8);
    qb_graph_free(g);
    /* 1-D, auto_pad with an odd total pad: SAME_UPPER pads the end, SAME_LOWER the start */
    const char *modes[2] = {"SAME_UPPER", "SAME_LOWER"};
    const int32_t want[2][5] = {{-1, -1, -1, -1, 5}, {-1, -1, -1, -1, -1}};
    for (int m = 0; m < 3; m++) {
        g = new_graph();
        add_t(g, "x", QB_DT_INT8, 3, dx1, (const int8_t[]){1, 2, 3, 4, 5});
        add_t(g, "w", QB_DT_INT8, 3, dw1, (const int8_t[]){1, -1});
        n = add_n(g, "ConvInteger", "x,w", "y");
        attr_s(n, "auto_pad", modes[m & 1]);
        if (m == 2) /* dilation 2: y[o] = x[o-1] - x[o+1] */
            attr_ints(n, "dilations", 1, 2);
        add_output(g, "y");
        run(g, NULL);
        expect_int(g, 0, QB_DT_INT32, "1x1x5", m == 2 ? (const int32_t[]){-2, -2, -2, -2, 4} : want[m], 5);
        qb_graph_free(g);
    }
}

/* QLinearConv, 1x1 kernel, per-channel weight scales [1, 2] and zero points
 * [0, -1], bias [2, 5], int8 output with zero point -1:
 * x - 10 = [0 4 8 12]; acc channel 0 = x' + 2, channel 1 = -x' + 5;
 * multipliers 0.5 * 1 / 2 = 0.25 and 0.5 * 2 / 2 = 0.5, every result a tie. */
static void qconv_graph(qb_graph *g, int runtime)
{
    int64_t dx[4] = {1, 1, 2, 2}, dw[4] = {2, 1, 1, 1}, d2 = 2;
    if (runtime) {
        add_t(g, "xf", QB_DT_FLOAT, 4, dx, NULL);
        add_n(g, "QuantizeLinear", "xf,xs,xz", "x");
    } else {
        add_t(g, "x", QB_DT_UINT8, 4, dx, (const uint8_t[]){10, 14, 18, 22});
    }
    add_f(g, "xs", 0.5f);
    add_u8(g, "xz", 10);
    add_t(g, "w", QB_DT_INT8, 4, dw, (const int8_t[]){1, -2});
    add_t(g, "ws", QB_DT_FLOAT, 1, &d2, (const float[]){1, 2});
    add_t(g, "wz", QB_DT_INT8, 1, &d2, (const int8_t[]){0, -1});
    add_f(g, "ys", 2);
    add_i8(g, "yz", -1);
    add_t(g, "B", QB_DT_INT32, 1, &d2, (const int32_t[]){2, 5});
    add_n(g, "QLinearConv", "x,xs,xz,w,ws,wz,ys,yz,B", "y");
    add_output(g, "y");
}

static void test_qlinear_conv(void **st)
{
    (void)st;
    /* channel 0: 0.5, 1.5, 2.5, 3.5 -> 0, 2, 2, 4; channel 1: 2.5, 0.5, -1.5, -3.5 -> 2, 0, -2, -4 */
    const int32_t want[8] = {-1, 1, 1, 3, 1, -1, -3, -5};
    qb_graph *g = new_graph();
    qconv_graph(g, 0);
    run(g, NULL);
    expect_int(g, 0, QB_DT_INT8, "1x2x2x2", want, 8);
    qb_graph_free(g);
    /* at run time: x = QuantizeLinear([0 2 4 6], 0.5, 10), then dequantized with (2, -1) */
    g = new_graph();
    qconv_graph(g, 1);
    add_n(g, "DequantizeLinear", "y,ys,yz", "f");
    add_output(g, "f");
    run(g, (const float[]){0, 2, 4, 6});
    expect_not_folded(g);
    expect_int(g, 0, QB_DT_INT8, "1x2x2x2", want, 8);
    expect_f(g, 1, (const float[]){0, 4, 4, 8, 4, 0, -4, -8}, 8);
    qb_graph_free(g);
}

/* ---- Min, Max, Round, ReduceMin, ReduceMax (expanded DynamicQuantizeLinear) ---- */

static void test_min_max_round(void **st)
{
    (void)st;
    int64_t d21[2] = {2, 1}, d13[2] = {1, 3}, d2 = 2, d1 = 1, d8 = 8;
    /* three inputs broadcast to 2x3, at run time */
    for (int is_min = 0; is_min < 2; is_min++) {
        qb_graph *g = new_graph();
        add_t(g, "a", QB_DT_FLOAT, 2, d21, NULL);
        add_t(g, "b", QB_DT_FLOAT, 2, d13, (const float[]){0, 3, 6});
        add_f(g, "c", 2);
        add_n(g, is_min ? "Min" : "Max", "a,b,c", "y");
        add_output(g, "y");
        run(g, (const float[]){1, 5});
        expect_not_folded(g);
        expect_f(g, 0, is_min ? (const float[]){0, 1, 1, 0, 2, 2} : (const float[]){2, 3, 6, 5, 5, 6}, 6);
        qb_graph_free(g);
    }
    /* NaN propagates (numpy) */
    qb_graph *g = new_graph();
    add_t(g, "a", QB_DT_FLOAT, 1, &d2, NULL);
    add_t(g, "b", QB_DT_FLOAT, 1, &d2, (const float[]){0, NAN});
    add_n(g, "Min", "a,b", "y");
    add_output(g, "y");
    run(g, (const float[]){NAN, 1});
    assert_true(isnan(((const float *)out(g, 0)->data)[0]) && isnan(((const float *)out(g, 0)->data)[1]));
    qb_graph_free(g);
    /* float32 inputs each whole or one element (the direct loop): Max(x, -0.5) clamps, a NaN in x stays,
     * -0 stays when it is first; Min with the one-element input first; a NaN constant wins everywhere */
    int64_t d5 = 5;
    const float xs[5] = {-1, 0.25f, NAN, -0.0f, 3};
    for (int k = 0; k < 3; k++) {
        g = new_graph();
        add_t(g, "a", QB_DT_FLOAT, 1, &d5, NULL);
        add_t(g, "k", QB_DT_FLOAT, 1, &d1, (const float[]){k == 2 ? NAN : -0.5f});
        add_n(g, k == 1 ? "Min" : "Max", k == 1 ? "k,a" : "a,k", "y");
        add_output(g, "y");
        run(g, xs);
        const float *y = out(g, 0)->data;
        if (k == 2) {
            for (int i = 0; i < 5; i++)
                assert_true(isnan(y[i]));
        } else {
            const float want[2][5] = {{-0.5f, 0.25f, NAN, -0.0f, 3}, {-1, -0.5f, NAN, -0.5f, -0.5f}};
            for (int i = 0; i < 5; i++)
                assert_true(i == 2 ? isnan(y[i]) : y[i] == want[k][i] && signbit(y[i]) == signbit(want[k][i]));
        }
        qb_graph_free(g);
    }
    /* integers exactly: uint64 above 2^63 compared unsigned, negative int8 */
    g = new_graph();
    add_t(g, "a", QB_DT_UINT64, 1, &d1, (const uint64_t[]){((uint64_t)1 << 63) + 1});
    add_t(g, "b", QB_DT_UINT64, 1, &d1, (const uint64_t[]){1});
    add_n(g, "Max", "a,b", "y");
    add_output(g, "y");
    run(g, NULL);
    assert_true(((const uint64_t *)out(g, 0)->data)[0] == ((uint64_t)1 << 63) + 1);
    qb_graph_free(g);
    g = new_graph();
    add_t(g, "a", QB_DT_INT8, 1, &d2, (const int8_t[]){-128, 5});
    add_t(g, "b", QB_DT_INT8, 1, &d2, (const int8_t[]){0, -1});
    add_n(g, "Min", "a,b", "y");
    add_output(g, "y");
    run(g, NULL);
    expect_int(g, 0, QB_DT_INT8, "2", (const int32_t[]){-128, -1}, 2);
    qb_graph_free(g);
    /* Round: half to even */
    g = new_graph();
    add_t(g, "x", QB_DT_FLOAT, 1, &d8, NULL);
    add_n(g, "Round", "x", "y");
    add_output(g, "y");
    run(g, (const float[]){0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 2.4f, 2.6f});
    expect_f(g, 0, (const float[]){0, 2, 2, 0, -2, -2, 2, 3}, 8);
    qb_graph_free(g);
}

static void test_reduce_min_max(void **st)
{
    (void)st;
    int64_t d23[2] = {2, 3}, d1 = 1;
    const float x[6] = {3, 1, 2, 6, 5, 4};
    struct {
        const char *op;      /* operator */
        int axis;            /* reduced axis, or 9 for none given */
        int keep;            /* keepdims */
        int noop;            /* noop_with_empty_axes */
        int as_input;        /* axes as an input (opset 18) */
        const char *shape;   /* expected shape */
        float want[6];       /* expected values */
        int n;               /* their count */
    } c[] = {
        {"ReduceMin", 1, 0, 0, 0, "2", {1, 4}, 2},
        {"ReduceMax", -2, 1, 0, 0, "1x3", {6, 5, 4}, 3},
        {"ReduceMin", 9, 1, 0, 0, "1x1", {1}, 1},
        {"ReduceMax", 9, 0, 0, 0, "scalar", {6}, 1},
        {"ReduceMax", 9, 1, 1, 0, "2x3", {3, 1, 2, 6, 5, 4}, 6},
        {"ReduceMax", 0, 0, 0, 1, "3", {6, 5, 4}, 3},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        qb_graph *g = new_graph();
        add_t(g, "x", QB_DT_FLOAT, 2, d23, NULL);
        qb_node *n;
        if (c[i].as_input) {
            g->opset = 18;
            add_t(g, "axes", QB_DT_INT64, 1, &d1, (const int64_t[]){c[i].axis});
            n = add_n(g, c[i].op, "x,axes", "y");
        } else {
            n = add_n(g, c[i].op, "x", "y");
            if (c[i].axis != 9)
                attr_ints(n, "axes", 1, c[i].axis);
        }
        attr_i(n, "keepdims", c[i].keep);
        if (c[i].noop)
            attr_i(n, "noop_with_empty_axes", 1);
        add_output(g, "y");
        run(g, x);
        expect_not_folded(g);
        char sh[32];
        qb_shape_str(out(g, 0)->ndim, out(g, 0)->dims, sh, sizeof sh);
        assert_string_equal(sh, c[i].shape);
        expect_f(g, 0, c[i].want, c[i].n);
        qb_graph_free(g);
    }
    /* a repeated axis is refused */
    qb_graph *g = new_graph();
    add_t(g, "x", QB_DT_FLOAT, 2, d23, NULL);
    attr_ints(add_n(g, "ReduceMin", "x", "y"), "axes", 2, 1, -1);
    add_output(g, "y");
    qb_err e = {0};
    assert_non_null(strstr(prepare_error(g, &e), "ReduceMin_0"));
    assert_non_null(strstr(e.msg, "axis -1 is out of range or repeated"));
    qb_graph_free(g);
}

/* ---- bad inputs ---- */

static void expect_refused(qb_graph *g, const char *node, const char *phrase)
{
    qb_err e = {0};
    const char *msg = prepare_error(g, &e);
    if (!strstr(msg, node) || !strstr(msg, phrase)) {
        print_error("message '%s' lacks '%s' or '%s'\n", msg, node, phrase);
        fail();
    }
    qb_graph_free(g);
}

static void test_bad_inputs(void **st)
{
    (void)st;
    int64_t d3 = 3, d2 = 2, d23[2] = {2, 3}, d22[2] = {2, 2}, dx[4] = {1, 1, 2, 2}, dw[4] = {2, 1, 1, 1};
    /* float zero point */
    qb_graph *g = new_graph();
    add_t(g, "x", QB_DT_FLOAT, 1, &d3, NULL);
    add_f(g, "s", 1);
    add_f(g, "z", 0);
    add_n(g, "QuantizeLinear", "x,s,z", "y");
    add_output(g, "y");
    expect_refused(g, "QuantizeLinear_0", "zero point 'z' is float32; the element type must be uint8 or int8");
    /* per-axis scale of the wrong length */
    g = new_graph();
    add_t(g, "x", QB_DT_FLOAT, 2, d23, NULL);
    add_t(g, "s", QB_DT_FLOAT, 1, &d2, (const float[]){1, 2});
    add_n(g, "QuantizeLinear", "x,s", "y");
    add_output(g, "y");
    expect_refused(g, "QuantizeLinear_0", "'s' has shape 2: expected one value or a 1-D tensor of 3");
    /* a zero scale divides */
    g = new_graph();
    add_t(g, "x", QB_DT_FLOAT, 1, &d3, NULL);
    add_f(g, "s", 0);
    add_n(g, "QuantizeLinear", "x,s", "y");
    add_output(g, "y");
    expect_refused(g, "QuantizeLinear_0", "scale 's' element 0 is 0");
    /* DequantizeLinear of a float tensor */
    g = new_graph();
    add_t(g, "x", QB_DT_FLOAT, 1, &d3, NULL);
    add_f(g, "s", 1);
    add_n(g, "DequantizeLinear", "x,s", "y");
    add_output(g, "y");
    expect_refused(g, "DequantizeLinear_0", "must be int8, uint8 or int32");
    /* DequantizeLinear: zero point of another type than x */
    g = new_graph();
    add_t(g, "x", QB_DT_UINT8, 1, &d3, (const uint8_t[]){1, 2, 3});
    add_f(g, "s", 1);
    add_i8(g, "z", 0);
    add_n(g, "DequantizeLinear", "x,s,z", "y");
    add_output(g, "y");
    expect_refused(g, "DequantizeLinear_0", "zero point 'z' is int8 but the input is uint8");
    /* MatMulInteger: zero point type differs from A's */
    g = new_graph();
    add_t(g, "A", QB_DT_UINT8, 2, d22, (const uint8_t[]){1, 2, 3, 4});
    add_t(g, "B", QB_DT_UINT8, 2, d22, (const uint8_t[]){1, 2, 3, 4});
    add_i8(g, "za", 0);
    add_n(g, "MatMulInteger", "A,B,za", "y");
    add_output(g, "y");
    expect_refused(g, "MatMulInteger_0", "input 2 'za' is int8, expected uint8");
    /* MatMulInteger: float operand */
    g = new_graph();
    add_t(g, "A", QB_DT_FLOAT, 2, d22, NULL);
    add_t(g, "B", QB_DT_UINT8, 2, d22, (const uint8_t[]){1, 2, 3, 4});
    add_n(g, "MatMulInteger", "A,B", "y");
    add_output(g, "y");
    expect_refused(g, "MatMulInteger_0", "it must be int8 or uint8");
    /* QLinearMatMul: per-row scale of the wrong length */
    g = new_graph();
    add_t(g, "a", QB_DT_UINT8, 2, d22, (const uint8_t[]){1, 2, 3, 4});
    add_t(g, "as", QB_DT_FLOAT, 1, &d3, (const float[]){1, 1, 1});
    add_u8(g, "az", 0);
    add_t(g, "b", QB_DT_UINT8, 2, d22, (const uint8_t[]){1, 2, 3, 4});
    add_f(g, "bs", 1);
    add_u8(g, "bz", 0);
    add_f(g, "ys", 1);
    add_u8(g, "yz", 0);
    add_n(g, "QLinearMatMul", "a,as,az,b,bs,bz,ys,yz", "y");
    add_output(g, "y");
    expect_refused(g, "QLinearMatMul_0", "input 1 'as' has shape 3: expected one value, 2 values");
    /* QLinearConv: float bias */
    g = new_graph();
    add_t(g, "x", QB_DT_UINT8, 4, dx, (const uint8_t[]){1, 2, 3, 4});
    add_f(g, "xs", 1);
    add_u8(g, "xz", 0);
    add_t(g, "w", QB_DT_INT8, 4, dw, (const int8_t[]){1, 2});
    add_f(g, "ws", 1);
    add_i8(g, "wz", 0);
    add_f(g, "ys", 1);
    add_u8(g, "yz", 0);
    add_t(g, "B", QB_DT_FLOAT, 1, &d2, (const float[]){1, 2});
    add_n(g, "QLinearConv", "x,xs,xz,w,ws,wz,ys,yz,B", "y");
    add_output(g, "y");
    expect_refused(g, "QLinearConv_0", "bias 'B' is float32 of shape 2; it must be int32 with 2 elements");
    /* ConvInteger: weights that do not match the input's channels */
    g = new_graph();
    int64_t dw2[4] = {1, 2, 1, 1};
    add_t(g, "x", QB_DT_UINT8, 4, dx, (const uint8_t[]){1, 2, 3, 4});
    add_t(g, "w", QB_DT_UINT8, 4, dw2, (const uint8_t[]){1, 2});
    add_n(g, "ConvInteger", "x,w", "y");
    add_output(g, "y");
    expect_refused(g, "ConvInteger_0", "input 1x1x2x2, weights 1x2x1x1 and group 1 do not match");
}

int main(void)
{
    const char *ops[] = {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "MatMulInteger",
                         "QLinearMatMul", "ConvInteger", "QLinearConv", "Min", "Max", "Round", "ReduceMin",
                         "ReduceMax"};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (!qb_op_find(ops[i])) {
            fprintf(stderr, "test_qops: operator %s is not registered (the operator tables in "
                    "harness/graph/exec.c must name qb_ops_quant, qb_ops_qlinear, qb_ops_minmax)\n", ops[i]);
            return 1;
        }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_saturate),
        cmocka_unit_test(test_quantize_per_tensor),
        cmocka_unit_test(test_quantize_per_axis),
        cmocka_unit_test(test_dequantize),
        cmocka_unit_test(test_qdq_runtime),
        cmocka_unit_test(test_qdq_conv_model),
        cmocka_unit_test(test_dynamic_quantize),
        cmocka_unit_test(test_matmul_integer),
        cmocka_unit_test(test_qlinear_matmul),
        cmocka_unit_test(test_conv_integer),
        cmocka_unit_test(test_qlinear_conv),
        cmocka_unit_test(test_min_max_round),
        cmocka_unit_test(test_reduce_min_max),
        cmocka_unit_test(test_bad_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
