/*
 * test_graph.c - the model engine against hand-computed cases: each
 * operator on a small graph built in memory, constant folding of the
 * Shape/Gather/Concat chain in front of Reshape, BatchNormalization
 * folding (same outputs as the unfolded graph), ONNX export and re-import
 * (bit-identical outputs), element types other than float32, zero-sized
 * tensors, training-mode BatchNormalization and Dropout, the operators
 * the ONNX node tests do not cover (Gelu, Mish, GroupNormalization) and the
 * accuracy of ReduceMean/ReduceSum, and bad graphs
 * (cycle, missing input, truncated file) failing with a message; graph
 * inputs read in place from the caller's buffer or copied (same outputs,
 * never written).
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

#include "harness/graph/graph.h"
#include "harness/graph/ops.h" /* qb_conv_is_depthwise */
#include "harness/graph/par.h"   /* qb_gpar_conv_block */
#include "tests/graph_build.h"

/* ---- building graphs ---- */

static int add_t(qb_graph *g, const char *name, qb_dtype dt, int ndim, const int64_t *dims, const void *data)
{
    return qb_test_tensor(g, name, dt, ndim, dims, data);
}

static qb_node *add_n(qb_graph *g, const char *op, const char *ins, const char *outs) { return qb_test_node(g, op, ins, outs); }

static qb_attr *new_attr(qb_node *n, const char *name, int type) { return qb_test_attr(n, name, type); }

static void attr_i(qb_node *n, const char *name, int64_t v) { new_attr(n, name, QB_ATTR_INT)->i = v; }
static void attr_f(qb_node *n, const char *name, float v) { new_attr(n, name, QB_ATTR_FLOAT)->f = v; }
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

static void set_outputs(qb_graph *g, const char *name) { qb_test_output(g, name); }

static qb_graph *new_graph(void)
{
    qb_graph *g = qb_graph_new("test");
    g->opset = 13;
    return g;
}

/* Prepare and run with one float input; returns output 0. */
static const qb_tensor *run1(qb_graph *g, const float *x)
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
    assert_int_equal(qb_graph_run(g, in, g->ninputs, &e), 0);
    return g->tensors[g->outputs[0]];
}

static void expect(const qb_tensor *y, const char *shape, const float *want, int n, float tol)
{
    char sh[128];
    qb_shape_str(y->ndim, y->dims, sh, sizeof sh);
    assert_string_equal(sh, shape);
    assert_int_equal(qb_tensor_count(y), n);
    const float *d = y->data;
    for (int i = 0; i < n; i++)
        if (!(d[i] == want[i] || fabsf(d[i] - want[i]) <= tol)) {
            print_error("element %d: %.9g, want %.9g\n", i, d[i], want[i]);
            fail();
        }
}

static const float x9[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};

/* ---- operators ---- */

static void test_conv_pad(void **st)
{
    (void)st;
    qb_graph *g = new_graph();
    float w[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1}, b = 0.5f;
    add_t(g, "x", QB_DT_FLOAT, 4, (int64_t[]){1, 1, 3, 3}, NULL);
    add_t(g, "w", QB_DT_FLOAT, 4, (int64_t[]){1, 1, 3, 3}, w);
    add_t(g, "b", QB_DT_FLOAT, 1, (int64_t[]){1}, &b);
    qb_node *n = add_n(g, "Conv", "x,w,b", "y");
    attr_ints(n, "pads", 4, 1, 1, 1, 1);
    set_outputs(g, "y");
    const float want[9] = {12.5f, 21.5f, 16.5f, 27.5f, 45.5f, 33.5f, 24.5f, 39.5f, 28.5f};
    expect(run1(g, x9), "1x1x3x3", want, 9, 1e-5f);
    qb_graph_free(g);
}

static void test_conv_strided_grouped(void **st)
{
    (void)st;
    /* 2 channels, group 2 (depthwise 3x3 path), stride 2, pad 1; channel 1 weights doubled */
    qb_graph *g = new_graph();
    float w[18], x[18];
    for (int i = 0; i < 9; i++)
        w[i] = 1, w[9 + i] = 2, x[i] = x9[i], x[9 + i] = x9[i];
    add_t(g, "x", QB_DT_FLOAT, 4, (int64_t[]){1, 2, 3, 3}, NULL);
    add_t(g, "w", QB_DT_FLOAT, 4, (int64_t[]){2, 1, 3, 3}, w);
    qb_node *n = add_n(g, "Conv", "x,w", "y");
    attr_i(n, "group", 2);
    attr_ints(n, "pads", 4, 1, 1, 1, 1);
    attr_ints(n, "strides", 2, 2, 2);
    set_outputs(g, "y");
    const float want[8] = {12, 16, 24, 28, 24, 32, 48, 56};
    expect(run1(g, x), "1x2x2x2", want, 8, 1e-5f);
    qb_graph_free(g);
}

/* Depthwise convs of any window on the depthwise kernels: 5x5 stride 2x1
 * dilation 1x2 with asymmetric pads, 7x1, and a 1-D 3-tap conv, against a
 * direct loop over the ONNX definition. */
static void test_conv_depthwise_any(void **st)
{
    (void)st;
    static const struct {
        int c, h, w, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, onedim;
    } cases[] = {{5, 9, 11, 5, 5, 2, 1, 1, 2, 2, 1, 0, 3, 0}, {17, 8, 6, 7, 1, 1, 1, 1, 1, 3, 0, 3, 0, 0},
                 {9, 1, 13, 1, 3, 1, 2, 1, 3, 0, 2, 0, 1, 1}};
    for (int ci = 0; ci < 3; ci++) {
        int C = cases[ci].c, H = cases[ci].h, W = cases[ci].w, KH = cases[ci].kh, KW = cases[ci].kw;
        int SH = cases[ci].sh, SW = cases[ci].sw, DH = cases[ci].dh, DW = cases[ci].dw;
        int PT = cases[ci].pt, PL = cases[ci].pl, PB = cases[ci].pb, PR = cases[ci].pr, one = cases[ci].onedim;
        int OH = (H + PT + PB - (KH - 1) * DH - 1) / SH + 1, OW = (W + PL + PR - (KW - 1) * DW - 1) / SW + 1;
        float *x = malloc(sizeof(float) * C * H * W), *w = malloc(sizeof(float) * C * KH * KW);
        float *want = calloc((size_t)C * OH * OW, sizeof(float)), b[32];
        for (int i = 0; i < C * H * W; i++)
            x[i] = (float)((i * 29) % 31) / 15.0f - 1.0f;
        for (int i = 0; i < C * KH * KW; i++)
            w[i] = (float)((i * 13) % 17) / 8.0f - 1.0f;
        for (int c = 0; c < C; c++)
            b[c] = 0.25f * (float)c - 1.0f;
        for (int c = 0; c < C; c++)
            for (int oy = 0; oy < OH; oy++)
                for (int ox = 0; ox < OW; ox++) {
                    double acc = b[c];
                    for (int ky = 0; ky < KH; ky++)
                        for (int kx = 0; kx < KW; kx++) {
                            int iy = oy * SH - PT + ky * DH, ix = ox * SW - PL + kx * DW;
                            if (iy >= 0 && iy < H && ix >= 0 && ix < W)
                                acc += (double)x[(c * H + iy) * W + ix] * w[(c * KH + ky) * KW + kx];
                        }
                    want[(c * OH + oy) * OW + ox] = (float)acc;
                }
        qb_graph *g = new_graph();
        if (one) { /* N x C x W, 1-D attributes */
            add_t(g, "x", QB_DT_FLOAT, 3, (int64_t[]){1, C, W}, NULL);
            add_t(g, "w", QB_DT_FLOAT, 3, (int64_t[]){C, 1, KW}, w);
        } else {
            add_t(g, "x", QB_DT_FLOAT, 4, (int64_t[]){1, C, H, W}, NULL);
            add_t(g, "w", QB_DT_FLOAT, 4, (int64_t[]){C, 1, KH, KW}, w);
        }
        add_t(g, "b", QB_DT_FLOAT, 1, (int64_t[]){C}, b);
        qb_node *n = add_n(g, "Conv", "x,w,b", "y");
        attr_i(n, "group", C);
        if (one) {
            attr_ints(n, "pads", 2, PL, PR);
            attr_ints(n, "strides", 1, SW);
            attr_ints(n, "dilations", 1, DW);
        } else {
            attr_ints(n, "pads", 4, PT, PL, PB, PR);
            attr_ints(n, "strides", 2, SH, SW);
            attr_ints(n, "dilations", 2, DH, DW);
        }
        set_outputs(g, "y");
        char shape[64];
        if (one)
            snprintf(shape, sizeof shape, "1x%dx%d", C, OW);
        else
            snprintf(shape, sizeof shape, "1x%dx%dx%d", C, OH, OW);
        const qb_tensor *y = run1(g, x);
        expect(y, shape, want, C * OH * OW, 1e-4f);
        int on_dw = 0; /* the node ran on the depthwise kernel, not im2col */
        for (int i = 0; i < g->nnodes; i++)
            on_dw |= !strcmp(g->nodes[i].op, "Conv") && qb_conv_is_depthwise(&g->nodes[i]);
        assert_true(on_dw);
        qb_graph_free(g);
        free(x), free(w), free(want);
    }
}

static void test_conv_dilated_same(void **st)
{
    (void)st;
    /* 2x2 kernel of ones, dilation 2, auto_pad SAME_UPPER on 3x3 */
    qb_graph *g = new_graph();
    float w[4] = {1, 1, 1, 1};
    add_t(g, "x", QB_DT_FLOAT, 4, (int64_t[]){1, 1, 3, 3}, NULL);
    add_t(g, "w", QB_DT_FLOAT, 4, (int64_t[]){1, 1, 2, 2}, w);
    qb_node *n = add_n(g, "Conv", "x,w", "y");
    attr_ints(n, "dilations", 2, 2, 2);
    new_attr(n, "auto_pad", QB_ATTR_STRING)->s = strdup("SAME_UPPER");
    set_outputs(g, "y");
    /* effective kernel 3, total pad 2: begin 1, end 1; taps at offsets -1 and +1 */
    const float want[9] = {5, 10, 5, 10, 20, 10, 5, 10, 5};
    expect(run1(g, x9), "1x1x3x3", want, 9, 1e-5f);
    qb_graph_free(g);
}

/* ConvTranspose whose windows tile the output (kernel = stride: 2x2/2
 * with 2 groups and a bias, 3x1/(3,1) without bias, the det head's case)
 * and, for the general scatter-add, 2x2/2 with output_padding 1 (the last
 * row and column only the bias), against the ONNX definition summed in
 * double (2x2 on rows of 19 pixels: the GEMM path's col2im by 8
 * pixels with AVX-512, by pairs of pixels in the plain loop, and the last
 * ones alone; the same bits). Few columns per group (2x2 with 2
 * groups of 3 channels, det's 24 -> 1 on rows of 70 pixels: a block of 64
 * and a tail) take the direct path: the same bits with its plain loops
 * and on 1-3 threads. */
static void test_convt_tiles(void **st)
{
    (void)st;
    static const int cfg[][8] = {/* kh, kw, groups, bias, output_padding, cin, cout, iw */ {2, 2, 2, 1, 0, 4, 6, 8},
                                 {3, 1, 1, 0, 0, 5, 6, 8},
                                 {2, 2, 1, 1, 1, 3, 6, 8},
                                 {2, 2, 1, 0, 0, 9, 6, 8},
                                 {2, 2, 1, 1, 0, 24, 1, 70},
                                 {2, 2, 1, 1, 0, 9, 6, 19}, /* odd: two 8-pixel steps and 3 alone */
                                 /* the direct path's blocks of 80 pixels: 80 + 50 (five vectors, then four with
                                  * the last masked), 80 + 17 (then two), 5 (one) */
                                 {2, 2, 1, 0, 0, 12, 1, 130},
                                 {2, 2, 1, 1, 0, 8, 2, 97},
                                 {2, 2, 1, 1, 0, 5, 1, 5}};
    enum { IH = 14, IWM = 70 }; /* blocks of 6 input rows (48 pixels) when qb_gpar_conv_block is tiny */
    for (int c = 0; c < (int)(sizeof cfg / sizeof cfg[0]); c++) {
        int kh = cfg[c][0], kw = cfg[c][1], grp = cfg[c][2], has_b = cfg[c][3], op = cfg[c][4], cin = cfg[c][5];
        int cout = cfg[c][6], cog = cout / grp, cig = cin / grp, ih = IH, iw = cfg[c][7];
        int oh = ih * kh + op, ow = iw * kw + op, direct = !op && cog * kh * kw <= 16;
        static float x[24 * IH * IWM], w[9 * 6 * 2 * 2], b[6], want[6 * 42 * 140], first[6 * 42 * 140];
        for (int i = 0; i < cin * ih * iw; i++)
            x[i] = (float)((i * 37) % 23) / 7.0f - 1.5f;
        for (int i = 0; i < cin * cog * kh * kw; i++)
            w[i] = (float)((i * 11) % 13) / 5.0f - 1.2f;
        for (int i = 0; i < cout; i++)
            b[i] = 0.25f * (float)i - 0.6f;
        for (int co = 0; co < cout; co++)
            for (int y = 0; y < oh; y++)
                for (int xo = 0; xo < ow; xo++) {
                    double acc = has_b ? b[co] : 0.0;
                    int iy = y / kh, ix = xo / kw, gi = co / cog;
                    if (iy < ih && ix < iw)
                        for (int ci = gi * cig; ci < (gi + 1) * cig; ci++)
                            acc += (double)x[(ci * ih + iy) * iw + ix] *
                                   w[((ci * cog + co % cog) * kh + y % kh) * kw + xo % kw];
                    want[(co * oh + y) * ow + xo] = (float)acc;
                }
        /* one GEMM and col2im over all pixels, then by blocks of input rows, then with the plain 2x2
         * tiles, then with the AVX2 ones on 2 threads: the same bits; the direct path: its AVX-512
         * loops, then the plain ones on 1, 2 and 3 threads, then the AVX2 ones, the same bits */
        int64_t blk = qb_gpar_conv_block;
        for (int run = 0; run < (direct ? 5 : 4); run++) {
            qb_gpar_conv_block = !direct && run ? 1 : blk;
            qb_convt_avx512(direct ? run == 0 || run == 4 : run < 2 || run == 3);
            qb_convt_avx2_only(run == (direct ? 4 : 3)); /* the AVX2 sums or 2x2 tiles, 2 threads */
            qb_gpar_set_threads(direct && run ? (run == 4 ? 2 : run) : run == 3 ? 2 : 1);
            qb_graph *g = new_graph();
            add_t(g, "x", QB_DT_FLOAT, 4, (int64_t[]){1, cin, ih, iw}, NULL);
            add_t(g, "w", QB_DT_FLOAT, 4, (int64_t[]){cin, cog, kh, kw}, w);
            add_t(g, "b", QB_DT_FLOAT, 1, (int64_t[]){cout}, b);
            qb_node *n = add_n(g, "ConvTranspose", has_b ? "x,w,b" : "x,w", "y");
            attr_ints(n, "strides", 2, kh, kw);
            attr_i(n, "group", grp);
            if (op)
                attr_ints(n, "output_padding", 2, op, op);
            set_outputs(g, "y");
            char shape[64];
            snprintf(shape, sizeof shape, "1x%dx%dx%d", cout, oh, ow);
            const qb_tensor *y = run1(g, x);
            qb_gpar_conv_block = blk;
            qb_convt_avx512(1);
            qb_convt_avx2_only(0);
            qb_gpar_set_threads(1);
            assert_int_equal(qb_convt_nhwc_input_ok(&g->nodes[0]), !direct); /* the direct path reads NCHW only */
            expect(y, shape, want, cout * oh * ow, cig > 9 ? 1e-4f : 1e-5f);
            if (run)
                assert_memory_equal(y->data, first, (size_t)(cout * oh * ow) * sizeof(float));
            else
                memcpy(first, y->data, (size_t)(cout * oh * ow) * sizeof(float));
            qb_graph_free(g);
        }
    }
}

/* A ConvTranspose reading a conv's NHWC output as its GEMM's A (no
 * transpose on either side): 2x2/2 with two groups of 6 output channels
 * (24 columns: not the direct path) after a conv + Relu,
 * 3x3/2 padded straight after a conv; against NCHW everywhere. */
static qb_graph *conv_convt_net(int nchw_only, int tiles)
{
    qb_graph *g = new_graph();
    g->nchw_only = nchw_only;
    float w[10 * 3 * 3 * 3], wt[10 * 6 * 3 * 3], b[12];
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++)
        w[i] = (float)((i * 7) % 11) / 9.0f - 0.5f;
    for (size_t i = 0; i < sizeof wt / sizeof wt[0]; i++)
        wt[i] = (float)((i * 5) % 13) / 11.0f - 0.6f;
    for (int i = 0; i < 12; i++)
        b[i] = 0.1f * (float)i - 0.3f;
    add_t(g, "x", QB_DT_FLOAT, 4, (int64_t[]){1, 3, 5, 7}, NULL);
    add_t(g, "w", QB_DT_FLOAT, 4, (int64_t[]){10, 3, 3, 3}, w);
    add_t(g, "wt", QB_DT_FLOAT, 4, (int64_t[]){10, 6, tiles ? 2 : 3, tiles ? 2 : 3}, wt);
    add_t(g, "b", QB_DT_FLOAT, 1, (int64_t[]){12}, b);
    qb_node *n = add_n(g, "Conv", "x,w", "c");
    attr_ints(n, "pads", 4, 1, 1, 1, 1);
    add_n(g, "Relu", "c", "r");
    n = add_n(g, "ConvTranspose", tiles ? "r,wt,b" : "r,wt", "y");
    attr_ints(n, "strides", 2, 2, 2);
    if (tiles)
        attr_i(n, "group", 2);
    else
        attr_ints(n, "pads", 4, 1, 1, 1, 1);
    set_outputs(g, "y");
    return g;
}

static void test_convt_nhwc_input(void **st)
{
    (void)st;
    float x[3 * 5 * 7];
    for (int i = 0; i < 3 * 5 * 7; i++)
        x[i] = (float)((i * 13) % 19) / 8.0f - 1.1f;
    for (int tiles = 1; tiles >= 0; tiles--) {
        qb_graph *ref = conv_convt_net(1, tiles), *g = conv_convt_net(0, tiles);
        const qb_tensor *yr = run1(ref, x), *y = run1(g, x);
        assert_true(g->nodes[0].nhwc & 2); /* the conv writes NHWC for the ConvTranspose */
        char sh[64];
        qb_shape_str(yr->ndim, yr->dims, sh, sizeof sh);
        expect(y, sh, yr->data, (int)qb_tensor_count(yr), 1e-5f);
        qb_graph_free(ref);
        qb_graph_free(g);
    }
}

/* A ConvTranspose 2x2/2 (9 -> 6 channels, rows of 19 pixels, with bias)
 * followed by Add(per-channel [6,1,1] constant, or k first and a scalar)
 * and Relu: the chain runs in the col2im's stores (fused into the
 * ConvTranspose), bit-identical to the chain as its own pass
 * (no_conv_epilogue), with the AVX-512 and the plain loops, 1-3 threads. */
static qb_graph *convt_add_relu_net(int no_epi, int k_first)
{
    enum { CI = 9, CO = 6, IH = 5, IW = 19 };
    static float w[CI * CO * 4], b[CO], k[CO];
    for (int i = 0; i < CI * CO * 4; i++)
        w[i] = (float)((i * 11) % 13) / 5.0f - 1.2f;
    for (int i = 0; i < CO; i++)
        b[i] = 0.25f * (float)i - 0.6f, k[i] = 0.3f - 0.17f * (float)i;
    qb_graph *g = new_graph();
    g->no_conv_epilogue = no_epi;
    add_t(g, "x", QB_DT_FLOAT, 4, (int64_t[]){1, CI, IH, IW}, NULL);
    add_t(g, "w", QB_DT_FLOAT, 4, (int64_t[]){CI, CO, 2, 2}, w);
    add_t(g, "b", QB_DT_FLOAT, 1, (int64_t[]){CO}, b);
    if (k_first)
        add_t(g, "k", QB_DT_FLOAT, 1, (int64_t[]){1}, k);
    else
        add_t(g, "k", QB_DT_FLOAT, 3, (int64_t[]){CO, 1, 1}, k);
    attr_ints(add_n(g, "ConvTranspose", "x,w,b", "t"), "strides", 2, 2, 2);
    add_n(g, "Add", k_first ? "k,t" : "t,k", "a");
    add_n(g, "Relu", "a", "y");
    set_outputs(g, "y");
    return g;
}

static void test_convt_add_relu(void **st)
{
    (void)st;
    static float x[9 * 5 * 19];
    for (int i = 0; i < 9 * 5 * 19; i++)
        x[i] = (float)((i * 37) % 23) / 7.0f - 1.5f;
    for (int kf = 0; kf < 2; kf++) {
        qb_graph *ref = convt_add_relu_net(1, kf);
        const qb_tensor *yr = run1(ref, x);
        assert_true(ref->nodes[1].fused_into < 0);
        int n = (int)qb_tensor_count(yr), neg = 0;
        for (int i = 0; i < n; i++)
            neg += ((const float *)yr->data)[i] == 0.0f;
        assert_true(neg > 0 && neg < n); /* the Relu cuts some values */
        for (int run = 0; run < 4; run++) {
            qb_convt_avx512(run == 0 || run == 3);
            qb_convt_avx2_only(run == 3); /* the AVX2 sums, 3 threads */
            qb_gpar_set_threads(run ? run : 1);
            qb_graph *g = convt_add_relu_net(0, kf);
            const qb_tensor *y = run1(g, x);
            qb_convt_avx2_only(0);
            qb_convt_avx512(1);
            qb_gpar_set_threads(1);
            assert_int_equal(g->nodes[1].fused_into, 0); /* the Add's chain runs in the ConvTranspose */
            assert_memory_equal(y->data, yr->data, (size_t)n * sizeof(float));
            qb_graph_free(g);
        }
        qb_graph_free(ref);
    }
}

/* A direct-path ConvTranspose 2x2/2 (few columns: 24 -> 1 on rows of 70
 * pixels, det's last head conv; 6 -> 6 in 2 groups, 12 columns each)
 * followed by Add (a scalar; per channel [6,1,1] with the constant
 * first) and Sigmoid: the chain runs on each input row's output rows once
 * written (fused into the ConvTranspose), bit-identical to the chain as
 * its own pass (no_conv_epilogue), with the AVX-512 and the plain loops
 * (both of the ConvTranspose and of the chain), on 1-3 threads. */
static qb_graph *convt_direct_chain_net(int no_epi, int grouped)
{
    enum { IH = 6, IW = 70 };
    const int ci = grouped ? 6 : 24, co = grouped ? 6 : 1, cg = grouped ? 3 : 1, iw = grouped ? 19 : IW;
    static float w[24 * 4 * 4], b[6], k[6];
    for (int i = 0; i < ci * cg * 4; i++)
        w[i] = (float)((i * 11) % 13) / 25.0f - 0.24f;
    for (int i = 0; i < co; i++)
        b[i] = 0.25f * (float)i - 0.6f, k[i] = 0.3f - 0.17f * (float)i;
    qb_graph *g = new_graph();
    g->no_conv_epilogue = no_epi;
    add_t(g, "x", QB_DT_FLOAT, 4, (int64_t[]){1, ci, IH, iw}, NULL);
    add_t(g, "w", QB_DT_FLOAT, 4, (int64_t[]){ci, cg, 2, 2}, w);
    add_t(g, "b", QB_DT_FLOAT, 1, (int64_t[]){co}, b);
    if (grouped)
        add_t(g, "k", QB_DT_FLOAT, 3, (int64_t[]){co, 1, 1}, k);
    else
        add_t(g, "k", QB_DT_FLOAT, 1, (int64_t[]){1}, k);
    qb_node *n = add_n(g, "ConvTranspose", "x,w,b", "t");
    attr_ints(n, "strides", 2, 2, 2);
    attr_i(n, "group", grouped ? 2 : 1);
    add_n(g, "Add", grouped ? "k,t" : "t,k", "a");
    add_n(g, "Sigmoid", "a", "y");
    set_outputs(g, "y");
    return g;
}

static void test_convt_direct_chain(void **st)
{
    (void)st;
    static float x[24 * 6 * 70];
    for (int i = 0; i < 24 * 6 * 70; i++)
        x[i] = (float)((i * 37) % 23) / 7.0f - 1.5f;
    for (int grouped = 0; grouped < 2; grouped++) {
        qb_graph *ref = convt_direct_chain_net(1, grouped);
        const qb_tensor *yr = run1(ref, x);
        assert_true(ref->nodes[1].fused_into < 0);
        assert_int_equal(qb_convt_nhwc_input_ok(&ref->nodes[0]), 0); /* the direct path */
        int n = (int)qb_tensor_count(yr), mid = 0;
        for (int i = 0; i < n; i++) {
            float v = ((const float *)yr->data)[i];
            mid += v > 0.05f && v < 0.95f;
        }
        assert_true(mid > n / 4); /* the sigmoid is not saturated everywhere */
        for (int run = 0; run < 5; run++) {
            qb_convt_avx512(run != 1);
            qb_convt_avx2_only(run == 3); /* the AVX2 sums, 2 threads */
            qb_elem_chain_avx512(run != 2);
            qb_gpar_set_threads(run > 2 ? run - 1 : 1);
            qb_graph *g = convt_direct_chain_net(0, grouped);
            const qb_tensor *y = run1(g, x);
            qb_convt_avx2_only(0);
            qb_convt_avx512(1);
            qb_elem_chain_avx512(1);
            qb_gpar_set_threads(1);
            assert_int_equal(g->nodes[1].fused_into, 0); /* the Add's chain runs in the ConvTranspose */
            assert_memory_equal(y->data, yr->data, (size_t)n * sizeof(float));
            qb_graph_free(g);
        }
        qb_graph_free(ref);
    }
}

/* det's head: ConvTranspose 2x2/2 (7 -> 6 channels, bias, then Add of a
 * per-channel constant and Relu, fused into it) whose output only a
 * direct-path ConvTranspose 2x2/2 (6 -> 1, then Add and Sigmoid) reads:
 * the second runs on each block of the first's output rows (fused into
 * the first; with AVX-512 both in registers, convt_pair_avx512, else from
 * a row buffer), bit-identical to the two as their own nodes
 * (QB_NO_CONVT_PAIR=1), with the AVX-512, AVX2 and plain loops, on 1-3
 * threads, with blocks of a few rows (the last one short) and over an
 * output poisoned with NaN. Geometry 1: 5 -> 9 -> 1 channels (two groups
 * of four and one more), rows of 30 pixels (three of eight, six left),
 * no Add + Relu between. Geometry 2: 6 -> 8 -> 1, rows of 16, the Add's
 * constant its first operand. The first's output also a graph output: no
 * pair. */
typedef struct pair_geom {
    int ci, cm, ih, iw; /* input channels, the first's output channels, input rows and pixels per row */
    int relu;           /* an Add + Relu between the two (2: Add(k, t), the constant first) */
    int blk_rows;       /* input rows of a short block (a QB_GPAR_ALIGN multiple of pixels) */
} pair_geom;

static const pair_geom pair_geoms[] = {{7, 6, 11, 24, 1, 2}, {5, 9, 17, 30, 0, 8}, {6, 8, 5, 16, 2, 3}};

static qb_graph *convt_pair_net(int also_out, const pair_geom *pg)
{
    const int CI = pg->ci, CM = pg->cm;
    static float w1[16 * 16 * 4], b1[16], k1[16], w2[16 * 4], b2[1] = {0.1f}, k2[1] = {-0.2f};
    for (int i = 0; i < CI * CM * 4; i++)
        w1[i] = (float)((i * 11) % 13) / 10.0f - 0.6f;
    for (int i = 0; i < CM * 4; i++)
        w2[i] = (float)((i * 7) % 9) / 12.0f - 0.3f;
    for (int i = 0; i < CM; i++)
        b1[i] = 0.25f * (float)i - 0.6f, k1[i] = 0.3f - 0.07f * (float)i;
    qb_graph *g = new_graph();
    add_t(g, "x", QB_DT_FLOAT, 4, (int64_t[]){1, CI, pg->ih, pg->iw}, NULL);
    add_t(g, "w1", QB_DT_FLOAT, 4, (int64_t[]){CI, CM, 2, 2}, w1);
    add_t(g, "b1", QB_DT_FLOAT, 1, (int64_t[]){CM}, b1);
    add_t(g, "k1", QB_DT_FLOAT, 3, (int64_t[]){CM, 1, 1}, k1);
    add_t(g, "w2", QB_DT_FLOAT, 4, (int64_t[]){CM, 1, 2, 2}, w2);
    add_t(g, "b2", QB_DT_FLOAT, 1, (int64_t[]){1}, b2);
    add_t(g, "k2", QB_DT_FLOAT, 1, (int64_t[]){1}, k2);
    attr_ints(add_n(g, "ConvTranspose", "x,w1,b1", "t1"), "strides", 2, 2, 2);
    if (pg->relu) {
        add_n(g, "Add", pg->relu == 2 ? "k1,t1" : "t1,k1", "a1");
        add_n(g, "Relu", "a1", "r1");
    }
    attr_ints(add_n(g, "ConvTranspose", pg->relu ? "r1,w2,b2" : "t1,w2,b2", "t2"), "strides", 2, 2, 2);
    add_n(g, "Add", "t2,k2", "a2");
    add_n(g, "Sigmoid", "a2", "y");
    set_outputs(g, "y");
    if (also_out)
        set_outputs(g, pg->relu ? "r1" : "t1");
    return g;
}

static void test_convt_pair(void **st)
{
    (void)st;
    static float x[7 * 17 * 30];
    for (int gi = 0; gi < (int)(sizeof pair_geoms / sizeof pair_geoms[0]); gi++) {
        const pair_geom *pg = &pair_geoms[gi];
        const int second = pg->relu ? 3 : 1; /* the second ConvTranspose's node */
        for (int i = 0; i < pg->ci * pg->ih * pg->iw; i++)
            x[i] = (float)((i * 37) % 23) / 7.0f - 1.5f;
        setenv("QB_NO_CONVT_PAIR", "1", 1);
        qb_graph *ref = convt_pair_net(0, pg);
        const qb_tensor *yr = run1(ref, x);
        unsetenv("QB_NO_CONVT_PAIR");
        assert_true(ref->nodes[second].fused_into < 0);
        const int n = (int)qb_tensor_count(yr);
        assert_int_equal(n, 4 * pg->ih * 4 * pg->iw);
        int64_t blk = qb_gpar_conv_block;
        for (int run = 0; run < 7; run++) {
            qb_convt_avx512(run != 1);
            qb_convt_avx2_only(run == 4 || run == 6); /* the AVX2 loops, 2 and 3 threads */
            qb_gpar_set_threads(run == 6 ? 3 : run > 2 ? run - 2 : 1);
            /* blocks of blk_rows input rows, the last one short */
            qb_gpar_conv_block = run == 2 || run == 5 ? (int64_t)pg->blk_rows * pg->iw * pg->cm * 4 * 4 : blk;
            qb_graph *g = convt_pair_net(0, pg);
            const qb_tensor *y = run1(g, x);
            assert_int_equal(g->nodes[second].fused_into, 0); /* the second ConvTranspose runs in the first */
            assert_memory_equal(y->data, yr->data, (size_t)n * sizeof(float));
            memset(y->data, 0xff, (size_t)n * sizeof(float)); /* NaN: every value written again */
            qb_tensor in = *g->tensors[g->inputs[0]];
            in.data = x;
            qb_err e = {0};
            assert_int_equal(qb_graph_run(g, &in, 1, &e), 0);
            assert_memory_equal(y->data, yr->data, (size_t)n * sizeof(float));
            qb_convt_avx512(1);
            qb_convt_avx2_only(0);
            qb_gpar_set_threads(1);
            qb_gpar_conv_block = blk;
            qb_graph_free(g);
        }
        qb_graph *g = convt_pair_net(1, pg);
        const qb_tensor *y = run1(g, x);
        assert_true(g->nodes[second].fused_into < 0); /* its input is a graph output too */
        assert_memory_equal(y->data, yr->data, (size_t)n * sizeof(float));
        qb_graph_free(g);
        qb_graph_free(ref);
    }
}

/* qb_transpose_f32 (ops_conv.c) with its 16x16 AVX-512 blocks and with
 * the 4x4 SSE blocks only, against a plain loop: shapes below, at and
 * past one block of 16 and of the 64 cache block (edges of every kind),
 * leading dimensions larger than the shape, the space around the
 * destination untouched. */
static void test_transpose_f32(void **st)
{
    (void)st;
    static const int shp[][2] = {{1, 1}, {3, 17}, {16, 16}, {17, 16}, {16, 33}, {96, 80}, {70, 131}, {64, 64}, {5, 200}};
    enum { PAD = 3 };
    for (int k = 0; k < (int)(sizeof shp / sizeof shp[0]); k++) {
        const int rows = shp[k][0], cols = shp[k][1], lds = cols + 5, ldd = rows + PAD;
        float *src = malloc(sizeof(float) * (size_t)(rows * lds)), *want = malloc(sizeof(float) * (size_t)(cols * ldd));
        float *got = malloc(sizeof(float) * (size_t)(cols * ldd));
        for (int i = 0; i < rows * lds; i++)
            src[i] = (float)i * 0.5f - 7.0f;
        for (int i = 0; i < cols * ldd; i++)
            want[i] = -1.0f;
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                want[c * ldd + r] = src[r * lds + c];
        for (int avx512 = 0; avx512 < 2; avx512++) {
            for (int i = 0; i < cols * ldd; i++)
                got[i] = -1.0f;
            qb_transpose_avx512(avx512);
            qb_transpose_f32(got, (size_t)ldd, src, (size_t)lds, rows, cols);
            qb_transpose_avx512(1);
            assert_memory_equal(got, want, sizeof(float) * (size_t)(cols * ldd));
        }
        free(src), free(want), free(got);
    }
}

static void test_gemm_attrs(void **st)
{
    (void)st;
    qb_graph *g = new_graph();
    float b[4] = {1, 0, 0, 1}, c[2] = {1, 1};
    add_t(g, "a", QB_DT_FLOAT, 2, (int64_t[]){2, 2}, NULL);
    add_t(g, "b", QB_DT_FLOAT, 2, (int64_t[]){2, 2}, b);
    add_t(g, "c", QB_DT_FLOAT, 1, (int64_t[]){2}, c);
    qb_node *n = add_n(g, "Gemm", "a,b,c", "y");
    attr_i(n, "transA", 1);
    attr_f(n, "alpha", 2.0f);
    attr_f(n, "beta", 3.0f);
    set_outputs(g, "y");
    const float a[4] = {1, 2, 3, 4}; /* A^T = [[1,3],[2,4]] */
    const float want[4] = {5, 9, 7, 11};
    expect(run1(g, a), "2x2", want, 4, 1e-5f);
    qb_graph_free(g);
}

static void test_matmul_batched(void **st)
{
    (void)st;
    qb_graph *g = new_graph();
    float b[6] = {1, 2, 3, 4, 5, 6}; /* 3x2 */
    add_t(g, "a", QB_DT_FLOAT, 3, (int64_t[]){1, 2, 3}, NULL);
    add_t(g, "b", QB_DT_FLOAT, 2, (int64_t[]){3, 2}, b);
    add_n(g, "MatMul", "a,b", "y");
    set_outputs(g, "y");
    const float want[4] = {22, 28, 49, 64};
    expect(run1(g, x9), "1x2x2", want, 4, 1e-5f);
    qb_graph_free(g);
}

/* Batched MatMul with broadcast batch dims ([2,3,5,7] x [3,7,4]: B's
 * matrices packed per run for the fp32 GEMM kernel, ops_gemm.c), against
 * a double-precision reference. */
static void test_matmul_batched_bcast(void **st)
{
    (void)st;
    qb_graph *g = new_graph();
    float a[210], b[84], want[120];
    for (int i = 0; i < 210; i++)
        a[i] = (float)((i * 37 % 101) - 50) / 25.0f;
    for (int i = 0; i < 84; i++)
        b[i] = (float)((i * 53 % 89) - 44) / 30.0f;
    for (int n = 0; n < 2; n++)
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < 5; i++)
                for (int j = 0; j < 4; j++) {
                    double acc = 0;
                    for (int k = 0; k < 7; k++)
                        acc += (double)a[((n * 3 + c) * 5 + i) * 7 + k] * b[(c * 7 + k) * 4 + j];
                    want[((n * 3 + c) * 5 + i) * 4 + j] = (float)acc;
                }
    add_t(g, "a", QB_DT_FLOAT, 4, (int64_t[]){2, 3, 5, 7}, NULL);
    add_t(g, "b", QB_DT_FLOAT, 3, (int64_t[]){3, 7, 4}, b);
    add_n(g, "MatMul", "a,b", "y");
    set_outputs(g, "y");
    expect(run1(g, a), "2x3x5x4", want, 120, 1e-5f);
    qb_graph_free(g);
}

static void test_broadcast_arith(void **st)
{
    (void)st;
    qb_graph *g = new_graph();
    float r[3] = {10, 20, 30}, two = 2, c1[1] = {1};
    add_t(g, "x", QB_DT_FLOAT, 2, (int64_t[]){2, 3}, NULL);
    add_t(g, "r", QB_DT_FLOAT, 1, (int64_t[]){3}, r);
    add_t(g, "two", QB_DT_FLOAT, 0, NULL, &two);
    add_t(g, "one", QB_DT_FLOAT, 2, (int64_t[]){1, 1}, c1);
    add_n(g, "Add", "x,r", "s");      /* 11 22 33 / 14 25 36 */
    add_n(g, "Mul", "s,two", "m");    /* 22 44 66 / 28 50 72 */
    add_n(g, "Sub", "m,one", "d");    /* 21 43 65 / 27 49 71 */
    add_n(g, "Div", "d,two", "q");    /* 10.5 21.5 32.5 / 13.5 24.5 35.5 */
    add_n(g, "Pow", "two,q", "p");    /* broadcast scalar base: 2^q */
    add_n(g, "Sqrt", "q", "y");
    set_outputs(g, "y");
    set_outputs(g, "p"); /* an output, so the arena does not reuse its buffer */
    const float want[6] = {sqrtf(10.5f), sqrtf(21.5f), sqrtf(32.5f), sqrtf(13.5f), sqrtf(24.5f), sqrtf(35.5f)};
    expect(run1(g, x9), "2x3", want, 6, 1e-6f);
    const qb_tensor *p = g->tensors[g->outputs[1]];
    assert_float_equal(((float *)p->data)[0], powf(2, 10.5f), 1e-2);
    qb_graph_free(g);
}

/* float Add/Sub/Mul/Div runs (ops_elem.c): per-channel and scalar-like
 * broadcasts on either side, one shape, a last-axis operand and a general
 * broadcast, spans with AVX-512 tails; bit for bit against a plain loop
 * over the numpy broadcast, AVX-512 on and off; the Mul and the Add write
 * over their dead input. */
static qb_graph *elem_spans_net(void)
{
    qb_graph *g = new_graph();
    add_t(g, "x", QB_DT_FLOAT, 4, (int64_t[]){2, 5, 3, 17}, NULL);
    add_t(g, "s", QB_DT_FLOAT, 4, (int64_t[]){2, 5, 1, 1}, NULL);
    add_t(g, "r", QB_DT_FLOAT, 1, (int64_t[]){17}, NULL);
    add_t(g, "q", QB_DT_FLOAT, 4, (int64_t[]){1, 5, 3, 1}, NULL);
    add_n(g, "Relu", "x", "a");
    add_n(g, "Mul", "a,s", "b"); /* per channel, over a */
    add_n(g, "Add", "b,x", "c"); /* one shape, over b */
    add_n(g, "Sub", "s,c", "d"); /* the broadcast operand first */
    add_n(g, "Div", "d,r", "e"); /* last axis */
    add_n(g, "Mul", "e,q", "f"); /* general */
    set_outputs(g, "f");
    return g;
}

static void test_elem_spans(void **st)
{
    (void)st;
    enum { N = 2 * 5 * 3 * 17 };
    float x[N], want[N];
    for (int i = 0; i < N; i++)
        x[i] = (float)((i * 37) % 29) / 7.0f - 1.9f + (i % 3 == 0 ? 1e-3f : 0.0f);
    for (int i = 0; i < N; i++) { /* every input reads x from its start (run1) */
        int n = i / 255, c = i / 51 % 5, h = i / 17 % 3, w = i % 17;
        float a = x[i] > 0 ? x[i] : 0.0f, sv = x[n * 5 + c];
        float b = a * sv, cc = b + x[i], d = sv - cc, e = d / x[w];
        want[i] = e * x[c * 3 + h];
    }
    for (int avx = 2; avx >= 0; avx--) { /* 2: the AVX2 loops (span_f32_avx2), 1: the CPU's best, 0: plain */
        qb_elem_avx512(avx != 0);
        qb_elem_avx2_only(avx == 2);
        qb_graph *g = elem_spans_net();
        const qb_tensor *y = run1(g, x);
        assert_int_equal(qb_tensor_count(y), N);
        assert_memory_equal(y->data, want, sizeof want);
        int ta = qb_graph_find(g, "a"), tb = qb_graph_find(g, "b"), tc = qb_graph_find(g, "c");
        assert_true(g->tensors[tb]->arena_off == g->tensors[ta]->arena_off);
        assert_true(g->tensors[tc]->arena_off == g->tensors[tb]->arena_off);
        qb_graph_free(g);
    }
    qb_elem_avx2_only(0);
    qb_elem_avx512(1);
}

/* BatchNormalization folded into a ConvTranspose (fold_bn.c): 2x2/2 with
 * two groups and a bias through an Add of a per-channel constant (PP-OCR
 * det's head), and a 3x3/2 padded one without bias straight into the BN;
 * against the unfolded graph. */
static qb_graph *convt_bn_net(int with_add)
{
    qb_graph *g = new_graph();
    int cin = 4, cout = 6, k = with_add ? 2 : 3, grp = with_add ? 2 : 1;
    float w[4 * 6 * 3 * 3], b[6], c[6], sc[6], bi[6], mu[6], va[6];
    unsigned sd = 99;
#define RNDF() ((float)((sd = sd * 1103515245u + 12345u) >> 8 & 0xffff) / 65536.0f - 0.5f)
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++)
        w[i] = RNDF();
    for (int i = 0; i < cout; i++)
        b[i] = RNDF(), c[i] = RNDF(), sc[i] = 1 + RNDF(), bi[i] = RNDF(), mu[i] = RNDF(), va[i] = 0.5f + RNDF();
#undef RNDF
    add_t(g, "x", QB_DT_FLOAT, 4, (int64_t[]){1, cin, 5, 7}, NULL);
    add_t(g, "w", QB_DT_FLOAT, 4, (int64_t[]){cin, cout / grp, k, k}, w);
    add_t(g, "b", QB_DT_FLOAT, 1, (int64_t[]){cout}, b);
    add_t(g, "c", QB_DT_FLOAT, 3, (int64_t[]){cout, 1, 1}, c);
    add_t(g, "sc", QB_DT_FLOAT, 1, (int64_t[]){cout}, sc);
    add_t(g, "bi", QB_DT_FLOAT, 1, (int64_t[]){cout}, bi);
    add_t(g, "mu", QB_DT_FLOAT, 1, (int64_t[]){cout}, mu);
    add_t(g, "va", QB_DT_FLOAT, 1, (int64_t[]){cout}, va);
    qb_node *n = add_n(g, "ConvTranspose", with_add ? "x,w,b" : "x,w", "t");
    attr_ints(n, "strides", 2, 2, 2);
    attr_i(n, "group", grp);
    if (!with_add)
        attr_ints(n, "pads", 4, 1, 1, 1, 1);
    if (with_add)
        add_n(g, "Add", "c,t", "u");
    add_n(g, "BatchNormalization", with_add ? "u,sc,bi,mu,va" : "t,sc,bi,mu,va", "bn");
    add_n(g, "Relu", "bn", "y");
    set_outputs(g, "y");
    return g;
}

static void test_bn_folding_convt(void **st)
{
    (void)st;
    float x[4 * 5 * 7];
    for (int i = 0; i < 4 * 5 * 7; i++)
        x[i] = (float)((i * 23) % 17) / 6.0f - 1.3f;
    for (int with_add = 1; with_add >= 0; with_add--) {
        qb_graph *ref = convt_bn_net(with_add), *fold = convt_bn_net(with_add);
        ref->no_fold_bn = 1;
        const qb_tensor *yr = run1(ref, x), *yf = run1(fold, x);
        for (int i = 0; i < fold->nnodes; i++)
            assert_string_not_equal(fold->nodes[i].op, "BatchNormalization");
        char sh[64];
        qb_shape_str(yr->ndim, yr->dims, sh, sizeof sh);
        assert_string_equal(sh, with_add ? "1x6x10x14" : "1x6x9x13");
        expect(yf, sh, yr->data, (int)qb_tensor_count(yr), 1e-5f);
        qb_graph_free(ref);
        qb_graph_free(fold);
    }
}

static void test_activations(void **st)
{
    (void)st;
    const float x[6] = {-4, -1, 0, 0.5f, 2, 7};
    struct {
        const char *op;
        float want[6];
    } cases[] = {
        {"Relu", {0, 0, 0, 0.5f, 2, 7}},
        {"LeakyRelu", {-0.04f, -0.01f, 0, 0.5f, 2, 7}},
        {"HardSigmoid", {0, 0.3f, 0.5f, 0.6f, 0.9f, 1}},
        {"HardSwish", {0, -1.0f / 3, 0, 0.5f * 7 / 12, 2 * 5.0f / 6, 7}},
        {"Sigmoid", {1 / (1 + expf(4)), 1 / (1 + expf(1)), 0.5f, 1 / (1 + expf(-0.5f)), 1 / (1 + expf(-2)), 1 / (1 + expf(-7))}},
        {"Tanh", {tanhf(-4), tanhf(-1), 0, tanhf(0.5f), tanhf(2), tanhf(7)}},
        {"Identity", {-4, -1, 0, 0.5f, 2, 7}},
        {"Dropout", {-4, -1, 0, 0.5f, 2, 7}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        qb_graph *g = new_graph();
        add_t(g, "x", QB_DT_FLOAT, 2, (int64_t[]){2, 3}, NULL);
        add_n(g, cases[c].op, "x", "y");
        set_outputs(g, "y");
        expect(run1(g, x), "2x3", cases[c].want, 6, 1e-6f);
        qb_graph_free(g);
    }
    /* Clip with min/max inputs (opset 11+) */
    qb_graph *g = new_graph();
    float lo = -1.5f, hi = 1.0f;
    add_t(g, "x", QB_DT_FLOAT, 2, (int64_t[]){2, 3}, NULL);
    add_t(g, "lo", QB_DT_FLOAT, 0, NULL, &lo);
    add_t(g, "hi", QB_DT_FLOAT, 0, NULL, &hi);
    add_n(g, "Clip", "x,lo,hi", "y");
    set_outputs(g, "y");
    const float want[6] = {-1.5f, -1, 0, 0.5f, 1, 1};
    expect(run1(g, x), "2x3", want, 6, 0);
    qb_graph_free(g);
}

static void test_pools(void **st)
{
    (void)st;
    float x[16];
    for (int i = 0; i < 16; i++)
        x[i] = (float)(i + 1);
    qb_graph *g = new_graph();
    add_t(g, "x", QB_DT_FLOAT, 4, (int64_t[]){1, 1, 4, 4}, NULL);
    qb_node *n = add_n(g, "MaxPool", "x", "m");
    attr_ints(n, "kernel_shape", 2, 2, 2);
    attr_ints(n, "strides", 2, 2, 2);
    n = add_n(g, "AveragePool", "x", "a");
    attr_ints(n, "kernel_shape", 2, 3, 3);
    attr_ints(n, "pads", 4, 1, 1, 1, 1);
    attr_ints(n, "strides", 2, 2, 2);
    add_n(g, "GlobalAveragePool", "x", "y");
    set_outputs(g, "y");
    set_outputs(g, "m");
    set_outputs(g, "a");
    const float want_y[1] = {8.5f};
    expect(run1(g, x), "1x1x1x1", want_y, 1, 1e-6f);
    const float want_m[4] = {6, 8, 14, 16};
    expect(g->tensors[g->outputs[1]], "1x1x2x2", want_m, 4, 0);
    /* windows without the padding: (1+2+5+6)/4, (2+3+4+6+7+8)/6, ... */
    const float want_a[4] = {3.5f, 5, 9.5f, 11};
    expect(g->tensors[g->outputs[2]], "1x1x2x2", want_a, 4, 1e-6f);
    qb_graph_free(g);
}

/* qb_plane_means_f32 (GlobalAveragePool's NCHW loop, eight planes at a
 * time, or sixteen with AVX-512, and the plain loops alone): the bits of
 * the serial loop per plane, for plane counts around the blocks of 8 and
 * 16 and odd plane sizes (whole and partial blocks of 16 values), values of mixed magnitudes (so
 * another summation order would round differently); poison past the end
 * untouched. */
static void test_plane_means(void **st)
{
    (void)st;
    enum { MAXP = 35, MAXV = 67 };
    static float x[MAXP * MAXV], y[MAXP + 4];
    uint32_t seed = 99;
    for (int i = 0; i < MAXP * MAXV; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = ((float)(seed >> 8) / 16777216.0f - 0.4f) * (i % 5 == 0 ? 1e4f : i % 3 == 0 ? 1e-3f : 1.0f);
    }
    const int64_t vols[] = {1, 3, 15, 16, 17, 64, 67};
    for (int avx512 = 1; avx512 >= 0; avx512--)
    for (int64_t planes = 1; planes <= MAXP; planes++)
        for (size_t v = 0; v < sizeof vols / sizeof *vols; v++) {
            int64_t vol = vols[v];
            memset(y, 0x7b, sizeof y);
            qb_plane_means_avx512(avx512);
            qb_plane_means_f32(x, y, planes, vol);
            qb_plane_means_avx512(1);
            for (int64_t p = 0; p < planes; p++) {
                float acc = 0.0f;
                for (int64_t i = 0; i < vol; i++)
                    acc += x[p * vol + i];
                acc /= (float)vol;
                assert_memory_equal(&y[p], &acc, sizeof acc);
            }
            uint32_t poison;
            memcpy(&poison, &y[planes], 4);
            assert_true(poison == 0x7b7b7b7bu);
        }
}

/* ReduceSum/Mean/SumSquare/L1/L2 over the last axis (the contiguous
 * fast path) and over the middle axis (the general loop) of 3x5x7: the
 * bits of double sums in order, rounded once. */
static void test_reduce_rows(void **st)
{
    (void)st;
    enum { A = 3, B = 5, C = 7 };
    float x[A * B * C];
    for (int i = 0; i < A * B * C; i++)
        x[i] = ((float)((i * 41) % 23) - 11.7f) * (i % 3 == 0 ? 1e3f : 1e-3f);
    const char *ops[] = {"ReduceSum", "ReduceMean", "ReduceSumSquare", "ReduceL1", "ReduceL2"};
    for (int k = 0; k < 5; k++)
        for (int axis = 1; axis <= 2; axis++) {
            qb_graph *g = new_graph();
            add_t(g, "x", QB_DT_FLOAT, 3, (int64_t[]){A, B, C}, NULL);
            qb_node *n = add_n(g, ops[k], "x", "y");
            attr_ints(n, "axes", 1, axis == 2 ? -1 : 1);
            attr_i(n, "keepdims", 0);
            set_outputs(g, "y");
            const qb_tensor *y = run1(g, x);
            int len = axis == 2 ? C : B, nout = A * (axis == 2 ? B : C);
            assert_int_equal(qb_tensor_count(y), nout);
            for (int o = 0; o < nout; o++) {
                double acc = 0;
                for (int j = 0; j < len; j++) {
                    double v = axis == 2 ? x[o * C + j] : x[(o / C) * B * C + j * C + o % C];
                    acc += k == 2 || k == 4 ? v * v : k == 3 ? fabs(v) : v;
                }
                float want = (float)(k == 1 ? acc / len : k == 4 ? sqrt(acc) : acc);
                assert_memory_equal((const float *)y->data + o, &want, sizeof want);
            }
            qb_graph_free(g);
        }
}

/* Resize nearest by 2 over H and W (the FPN upsampling, copy_hw with
 * the doubled rows): widths 9 and 4 (SSE2 blocks of four and a tail, or
 * none), each output the input at (oy / 2, ox / 2). */
static void test_resize_nearest2(void **st)
{
    (void)st;
    for (int wcase = 0; wcase < 2; wcase++) {
        const int C = 3, H = wcase ? 2 : 5, W = wcase ? 4 : 9, n = C * H * W;
        float x[3 * 5 * 9], sc[4] = {1, 1, 2, 2};
        for (int i = 0; i < n; i++)
            x[i] = (float)i * 0.25f - 7.0f;
        qb_graph *g = new_graph();
        add_t(g, "x", QB_DT_FLOAT, 4, (int64_t[]){1, C, H, W}, NULL);
        add_t(g, "roi", QB_DT_FLOAT, 1, (int64_t[]){0}, NULL);
        add_t(g, "sc", QB_DT_FLOAT, 1, (int64_t[]){4}, sc);
        g->tensors[qb_graph_find(g, "roi")]->kind = QB_T_CONST;
        qb_node *r = add_n(g, "Resize", "x,roi,sc", "y");
        new_attr(r, "mode", QB_ATTR_STRING)->s = strdup("nearest");
        set_outputs(g, "y");
        const qb_tensor *y = run1(g, x);
        assert_int_equal(qb_tensor_count(y), 4 * n);
        const float *yf = y->data;
        for (int c = 0; c < C; c++)
            for (int oy = 0; oy < 2 * H; oy++)
                for (int ox = 0; ox < 2 * W; ox++)
                    assert_true(yf[(c * 2 * H + oy) * 2 * W + ox] == x[(c * H + oy / 2) * W + ox / 2]);
        qb_graph_free(g);
    }
}

/* Pow by a constant 2 (a LayerNorm's square): x * x exactly, within an
 * ulp of powf; by 3: powf's bits (the general loop). 37 values. */
static void test_pow_square(void **st)
{
    (void)st;
    enum { N = 37 };
    float x[N];
    for (int i = 0; i < N; i++)
        x[i] = ((float)((i * 53) % 31) - 15.3f) * (i % 4 == 0 ? 1e3f : 1e-2f) * (1.0f + (float)i / 4096.0f);
    for (int k = 2; k <= 3; k++) {
        qb_graph *g = new_graph();
        float e = (float)k;
        add_t(g, "x", QB_DT_FLOAT, 2, (int64_t[]){1, N}, NULL);
        add_t(g, "e", QB_DT_FLOAT, 0, NULL, &e);
        add_n(g, "Pow", "x,e", "y");
        set_outputs(g, "y");
        const float *y = run1(g, x)->data;
        for (int i = 0; i < N; i++) {
            float want = k == 2 ? x[i] * x[i] : powf(x[i], e), lib = powf(x[i], e);
            assert_memory_equal(&y[i], &want, sizeof want);
            assert_true(fabsf(y[i] - lib) <= fabsf(lib) * 1.2e-7f);
        }
        qb_graph_free(g);
    }
}

/* Reshape, Flatten, Squeeze, Unsqueeze and Identity of a value they read
 * last are views (the output planned on the input's bytes: no copy) and
 * still give the input's values; a value read again later is copied. */
static void test_reshape_views(void **st)
{
    (void)st;
    float x[12];
    for (int i = 0; i < 12; i++)
        x[i] = (float)i - 3.5f;
    qb_graph *g = new_graph();
    add_t(g, "x", QB_DT_FLOAT, 3, (int64_t[]){1, 3, 4}, NULL);
    int64_t shp[2] = {4, 3}, ax[1] = {0};
    add_t(g, "shp", QB_DT_INT64, 1, (int64_t[]){2}, shp);
    add_t(g, "ax", QB_DT_INT64, 1, (int64_t[]){1}, ax);
    add_n(g, "Relu", "x", "a");
    add_n(g, "Reshape", "a,shp", "b");
    qb_node *n = add_n(g, "Flatten", "b", "c");
    attr_i(n, "axis", 0);
    add_n(g, "Unsqueeze", "c,ax", "d");
    add_n(g, "Squeeze", "d,ax", "e");
    add_n(g, "Identity", "e", "f");
    add_n(g, "Neg", "f", "y");
    add_n(g, "Reshape", "y,shp", "z"); /* y is read again below: a copy */
    add_n(g, "Abs", "y", "w");
    set_outputs(g, "z");
    set_outputs(g, "w");
    const qb_tensor *z = run1(g, x);
    float want[12];
    for (int i = 0; i < 12; i++)
        want[i] = -(x[i] > 0 ? x[i] : 0.0f);
    expect(z, "4x3", want, 12, 0);
    const char *views[] = {"b", "c", "d", "e", "f"};
    int ta = qb_graph_find(g, "a");
    for (int k = 0; k < 5; k++)
        assert_true(g->tensors[qb_graph_find(g, views[k])]->arena_off == g->tensors[ta]->arena_off);
    assert_true(g->tensors[qb_graph_find(g, "z")]->arena_off != g->tensors[qb_graph_find(g, "y")]->arena_off);
    qb_graph_free(g);
}

static void test_softmax_reducemean_bn(void **st)
{
    (void)st;
    qb_graph *g = new_graph();
    float sc[3] = {1, 2, 1}, bi[3] = {0, 1, 0}, mu[3] = {1, 0, 0}, va[3] = {3, 0, 1};
    add_t(g, "x", QB_DT_FLOAT, 2, (int64_t[]){3, 3}, NULL);
    add_t(g, "sc", QB_DT_FLOAT, 1, (int64_t[]){3}, sc);
    add_t(g, "bi", QB_DT_FLOAT, 1, (int64_t[]){3}, bi);
    add_t(g, "mu", QB_DT_FLOAT, 1, (int64_t[]){3}, mu);
    add_t(g, "va", QB_DT_FLOAT, 1, (int64_t[]){3}, va);
    add_n(g, "Softmax", "x", "s");
    qb_node *n = add_n(g, "ReduceMean", "x", "r");
    attr_ints(n, "axes", 1, 1);
    attr_i(n, "keepdims", 0);
    n = add_n(g, "BatchNormalization", "x,sc,bi,mu,va", "b");
    attr_f(n, "epsilon", 1.0f);
    set_outputs(g, "s");
    set_outputs(g, "r");
    set_outputs(g, "b");
    float e1 = expf(1), e2 = expf(2), z = 1 + e1 + e2;
    const float want_s[9] = {1 / z, e1 / z, e2 / z, 1 / z, e1 / z, e2 / z, 1 / z, e1 / z, e2 / z};
    expect(run1(g, x9), "3x3", want_s, 9, 1e-6f);
    const float want_r[3] = {2, 5, 8};
    expect(g->tensors[g->outputs[1]], "3", want_r, 3, 1e-6f);
    /* channel = dim 1: y = (x - mu) * sc / sqrt(va + 1) + bi */
    const float want_b[9] = {0, 5, 3 / sqrtf(2), 1.5f, 11, 6 / sqrtf(2), 3, 17, 9 / sqrtf(2)};
    expect(g->tensors[g->outputs[2]], "3x3", want_b, 9, 1e-5f);
    qb_graph_free(g);
}

/* Operators without an ONNX 1.12 node test (Gelu, Mish, GroupNormalization
 * are newer), and the accuracy of the accumulating reductions. */
static void test_newer_ops_and_sums(void **st)
{
    (void)st;
    const float x4[4] = {-1, 0, 1, 2};
    qb_graph *g = new_graph();
    add_t(g, "x", QB_DT_FLOAT, 1, (int64_t[]){4}, NULL);
    add_n(g, "Gelu", "x", "y");
    qb_node *n = add_n(g, "Gelu", "x", "t");
    new_attr(n, "approximate", QB_ATTR_STRING)->s = strdup("tanh");
    add_n(g, "Mish", "x", "m");
    set_outputs(g, "y");
    set_outputs(g, "t");
    set_outputs(g, "m");
    /* 0.5 x (1 + erf(x / sqrt 2)); 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))); x tanh(ln(1 + e^x)) */
    const float gelu[4] = {-0.15865525393145707f, 0, 0.8413447460685429f, 1.9544997361036416f};
    const float gelu_t[4] = {-0.15880800939172324f, 0, 0.8411919906082768f, 1.954597694087775f};
    const float mish[4] = {-0.30340146137410895f, 0, 0.8650983882673103f, 1.9439589595339946f};
    expect(run1(g, x4), "4", gelu, 4, 1e-7f);
    expect(g->tensors[g->outputs[1]], "4", gelu_t, 4, 1e-7f);
    expect(g->tensors[g->outputs[2]], "4", mish, 4, 1e-7f);
    qb_graph_free(g);

    /* GroupNormalization, 2 groups of 2 channels, scale/bias per group:
     * group 0 = {1, 2, 3, 4} (mean 2.5, variance 1.25), group 1 = {5 .. 8} */
    g = new_graph();
    float sc[2] = {2, 1}, bi[2] = {0, 1};
    const float x8[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    add_t(g, "x", QB_DT_FLOAT, 3, (int64_t[]){1, 4, 2}, NULL);
    add_t(g, "sc", QB_DT_FLOAT, 1, (int64_t[]){2}, sc);
    add_t(g, "bi", QB_DT_FLOAT, 1, (int64_t[]){2}, bi);
    n = add_n(g, "GroupNormalization", "x,sc,bi", "y");
    attr_i(n, "num_groups", 2);
    attr_f(n, "epsilon", 0);
    set_outputs(g, "y");
    const float r5 = 1 / sqrtf(1.25f);
    const float want_g[8] = {-1.5f * r5 * 2, -0.5f * r5 * 2, 0.5f * r5 * 2, 1.5f * r5 * 2,
                             -1.5f * r5 + 1, -0.5f * r5 + 1, 0.5f * r5 + 1, 1.5f * r5 + 1};
    expect(run1(g, x8), "1x4x2", want_g, 8, 1e-6f);
    qb_graph_free(g);

    /* ReduceMean of {1e8, 1, -1e8, 1}: 0.5 exactly; summed in float it would be 0.25 */
    g = new_graph();
    const float big[4] = {1e8f, 1, -1e8f, 1};
    add_t(g, "x", QB_DT_FLOAT, 1, (int64_t[]){4}, NULL);
    add_n(g, "ReduceMean", "x", "y");
    add_n(g, "ReduceSum", "x", "s");
    set_outputs(g, "y");
    set_outputs(g, "s");
    const float half = 0.5f, two = 2;
    expect(run1(g, big), "1", &half, 1, 0);
    expect(g->tensors[g->outputs[1]], "1", &two, 1, 0);
    qb_graph_free(g);
}

static void test_shape_ops_folded(void **st)
{
    (void)st;
    /* y = Reshape(x, Concat(Gather(Shape(x), 0), [-1])) : the exporter's flatten */
    qb_graph *g = new_graph();
    int64_t zero = 0, m1[1] = {-1}, ax0[1] = {0};
    add_t(g, "x", QB_DT_FLOAT, 4, (int64_t[]){1, 1, 3, 3}, NULL);
    add_t(g, "zero", QB_DT_INT64, 0, NULL, &zero);
    add_t(g, "m1", QB_DT_INT64, 1, (int64_t[]){1}, m1);
    add_t(g, "ax0", QB_DT_INT64, 1, (int64_t[]){1}, ax0);
    add_n(g, "Shape", "x", "shp");
    add_n(g, "Gather", "shp,zero", "n");
    add_n(g, "Unsqueeze", "n,ax0", "n1");
    qb_node *c = add_n(g, "Concat", "n1,m1", "tgt");
    attr_i(c, "axis", 0);
    add_n(g, "Reshape", "x,tgt", "flat");
    qb_node *t = add_n(g, "Transpose", "flat", "tr");
    attr_ints(t, "perm", 2, 1, 0);
    add_n(g, "Squeeze", "tr", "sq"); /* 9x1 -> 9 */
    int64_t st0[1] = {1}, en0[1] = {8}, sp[1] = {3};
    add_t(g, "st", QB_DT_INT64, 1, (int64_t[]){1}, st0);
    add_t(g, "en", QB_DT_INT64, 1, (int64_t[]){1}, en0);
    add_t(g, "ax", QB_DT_INT64, 1, (int64_t[]){1}, ax0);
    add_t(g, "sp", QB_DT_INT64, 1, (int64_t[]){1}, sp);
    add_n(g, "Slice", "sq,st,en,ax,sp", "y");
    set_outputs(g, "y");
    const float want[3] = {2, 5, 8};
    expect(run1(g, x9), "3", want, 3, 0);
    for (int i = 0; i < 4; i++) /* Shape, Gather, Unsqueeze, Concat */
        assert_true(g->nodes[i].folded);
    qb_graph_free(g);
}

static void test_flatten_cast_constant(void **st)
{
    (void)st;
    qb_graph *g = new_graph();
    add_t(g, "x", QB_DT_FLOAT, 4, (int64_t[]){1, 1, 3, 3}, NULL);
    qb_node *c = add_n(g, "Constant", "", "k");
    qb_attr *a = new_attr(c, "value_ints", QB_ATTR_INTS);
    a->n = 1;
    a->ints = calloc(2, sizeof(int64_t));
    a->ints[0] = 3;
    qb_node *ca = add_n(g, "Cast", "k", "kf");
    attr_i(ca, "to", QB_DT_FLOAT);
    qb_node *f = add_n(g, "Flatten", "x", "f");
    attr_i(f, "axis", 2);
    add_n(g, "Mul", "f,kf", "y");
    set_outputs(g, "y");
    const float want[9] = {3, 6, 9, 12, 15, 18, 21, 24, 27};
    expect(run1(g, x9), "1x9", want, 9, 0);
    qb_graph_free(g);
}

/* ---- element types other than float32, zero-sized tensors, training modes ---- */

static const void *out_data(const qb_graph *g, const char *name)
{
    return g->tensors[qb_graph_find(g, name)]->data;
}

/* uint8 Add/Sub/Mul wrap around, Div truncates; int8 Clip; an int32 Pow
 * whose float exponent is a run-time input (int32 tensor at run time). */
static void test_integer_types(void **st)
{
    (void)st;
    qb_graph *g = new_graph();
    uint8_t a[4] = {200, 7, 255, 10}, b[4] = {100, 2, 3, 3};
    int8_t c[5] = {-128, -5, 0, 100, 127}, lo = -10, hi = 50;
    int32_t base[3] = {1, 2, 3};
    add_t(g, "x", QB_DT_FLOAT, 1, (int64_t[]){3}, NULL);
    add_t(g, "a", QB_DT_UINT8, 1, (int64_t[]){4}, a);
    add_t(g, "b", QB_DT_UINT8, 1, (int64_t[]){4}, b);
    add_t(g, "c", QB_DT_INT8, 1, (int64_t[]){5}, c);
    add_t(g, "lo", QB_DT_INT8, 0, NULL, &lo);
    add_t(g, "hi", QB_DT_INT8, 0, NULL, &hi);
    add_t(g, "base", QB_DT_INT32, 1, (int64_t[]){3}, base);
    add_n(g, "Add", "a,b", "add");
    add_n(g, "Sub", "a,b", "sub");
    add_n(g, "Mul", "a,b", "mul");
    add_n(g, "Div", "a,b", "div");
    add_n(g, "Clip", "c,lo,hi", "clip");
    add_n(g, "Clip", "c", "clip0");
    add_n(g, "Pow", "base,x", "pow");
    set_outputs(g, "pow");
    const float ex[3] = {4, 5, 6};
    const qb_tensor *y = run1(g, ex);
    assert_int_equal(y->dtype, QB_DT_INT32);
    assert_int_not_equal(y->kind, QB_T_CONST); /* computed at run time, not folded */
    const int32_t want_pow[3] = {1, 32, 729};
    assert_memory_equal(y->data, want_pow, sizeof want_pow);
    const uint8_t want_add[4] = {44, 9, 2, 13}, want_sub[4] = {100, 5, 252, 7}, want_mul[4] = {32, 14, 253, 30},
                  want_div[4] = {2, 3, 85, 3};
    assert_memory_equal(out_data(g, "add"), want_add, 4);
    assert_memory_equal(out_data(g, "sub"), want_sub, 4);
    assert_memory_equal(out_data(g, "mul"), want_mul, 4);
    assert_memory_equal(out_data(g, "div"), want_div, 4);
    const int8_t want_clip[5] = {-10, -5, 0, 50, 50};
    assert_memory_equal(out_data(g, "clip"), want_clip, 5);
    assert_memory_equal(out_data(g, "clip0"), c, 5);
    qb_graph_free(g);
    /* Conv stays float32-only, with a message */
    g = new_graph();
    int8_t w[1] = {1};
    add_t(g, "c", QB_DT_INT8, 4, (int64_t[]){1, 1, 1, 1}, w);
    add_t(g, "w", QB_DT_INT8, 4, (int64_t[]){1, 1, 1, 1}, w);
    add_n(g, "Conv", "c,w", "y");
    set_outputs(g, "y");
    qb_err e = {0};
    assert_int_equal(qb_graph_sort(g, &e), 0);
    assert_int_equal(qb_graph_prepare(g, NULL, 0, -1, &e), -1);
    assert_non_null(strstr(e.msg, "float32"));
    assert_non_null(strstr(e.msg, "Conv"));
    assert_int_equal(e.kind, QB_ERR_UNSUPPORTED_TYPE); /* the conformance runner skips by kind */
    qb_graph_free(g);
}

/* Cast float32 -> float16 (round to nearest even, overflow to inf,
 * underflow to 0) -> float32, and float32 -> double. */
static void test_float16_cast(void **st)
{
    (void)st;
    qb_graph *g = new_graph();
    const float x[7] = {1, 0.1f, 65504, 1e-8f, 70000, 2049, 2051};
    add_t(g, "x", QB_DT_FLOAT, 1, (int64_t[]){7}, NULL);
    attr_i(add_n(g, "Cast", "x", "h"), "to", QB_DT_FLOAT16);
    attr_i(add_n(g, "Cast", "h", "f"), "to", QB_DT_FLOAT);
    attr_i(add_n(g, "Cast", "x", "d"), "to", QB_DT_DOUBLE);
    set_outputs(g, "f");
    set_outputs(g, "h");
    set_outputs(g, "d");
    const float want[7] = {1, 0.0999755859375f, 65504, 0, INFINITY, 2048, 2052};
    expect(run1(g, x), "7", want, 7, 0);
    const qb_tensor *h = g->tensors[g->outputs[1]];
    assert_int_equal(h->dtype, QB_DT_FLOAT16);
    const uint16_t want_h[7] = {0x3C00, 0x2E66, 0x7BFF, 0x0000, 0x7C00, 0x6800, 0x6802};
    assert_memory_equal(h->data, want_h, sizeof want_h);
    const double *d = g->tensors[g->outputs[2]]->data;
    for (int i = 0; i < 7; i++)
        assert_true(d[i] == (double)x[i]);
    qb_graph_free(g);
    /* double -> float16 rounds once: 1 + 2^-11 + 2^-40 is above the tie (a
     * float in between would round to the tie, then to even 1.0) */
    g = new_graph();
    const double dd[3] = {1 + 0x1p-11 + 0x1p-40, 1 + 0x1p-11, 1 + 0x1p-10 + 0x1p-11};
    add_t(g, "x", QB_DT_FLOAT, 1, (int64_t[]){1}, NULL);
    add_t(g, "dd", QB_DT_DOUBLE, 1, (int64_t[]){3}, dd);
    attr_i(add_n(g, "Cast", "dd", "h"), "to", QB_DT_FLOAT16);
    attr_i(add_n(g, "Cast", "h", "back"), "to", QB_DT_DOUBLE);
    add_n(g, "Relu", "x", "y");
    set_outputs(g, "y");
    set_outputs(g, "h");
    set_outputs(g, "back");
    run1(g, x);
    const uint16_t want_dh[3] = {0x3C01, 0x3C00, 0x3C02};
    assert_memory_equal(g->tensors[g->outputs[1]]->data, want_dh, sizeof want_dh);
    const double want_back[3] = {1 + 0x1p-10, 1, 1 + 0x1p-9};
    assert_memory_equal(g->tensors[g->outputs[2]]->data, want_back, sizeof want_back);
    qb_graph_free(g);
}

/* MaxPool's Indices (flattened, row- or column-major) and a uint8 MaxPool. */
static void test_maxpool_indices(void **st)
{
    (void)st;
    float x[32];
    uint8_t u[16];
    for (int i = 0; i < 32; i++)
        x[i] = (float)((i * 7) % 32); /* 2 channels of 4x4, distinct values */
    for (int i = 0; i < 16; i++)
        u[i] = (uint8_t)(250 - i * 3);
    qb_graph *g = new_graph();
    add_t(g, "x", QB_DT_FLOAT, 4, (int64_t[]){1, 2, 4, 4}, NULL);
    add_t(g, "u", QB_DT_UINT8, 4, (int64_t[]){1, 1, 4, 4}, u);
    qb_node *n = add_n(g, "MaxPool", "x", "m,i");
    attr_ints(n, "kernel_shape", 2, 2, 2);
    attr_ints(n, "strides", 2, 2, 2);
    n = add_n(g, "MaxPool", "x", "m2,ic");
    attr_ints(n, "kernel_shape", 2, 2, 2);
    attr_ints(n, "strides", 2, 2, 2);
    attr_i(n, "storage_order", 1);
    n = add_n(g, "MaxPool", "u", "mu");
    attr_ints(n, "kernel_shape", 2, 2, 2);
    attr_ints(n, "strides", 2, 2, 2);
    set_outputs(g, "m");
    set_outputs(g, "i");
    set_outputs(g, "ic");
    set_outputs(g, "mu");
    /* x = 7i mod 32: channel 0 rows {0 7 14 21} {28 3 10 17} {24 31 6 13} {20 27 2 9}
     * channel 1 rows {16 23 30 5} {12 19 26 1} {8 15 22 29} {4 11 18 25} */
    const float want_m[8] = {28, 21, 31, 13, 23, 30, 15, 29};
    expect(run1(g, x), "1x2x2x2", want_m, 8, 0);
    const int64_t want_i[8] = {4, 3, 9, 11, 17, 18, 25, 27};
    assert_memory_equal(g->tensors[g->outputs[1]]->data, want_i, sizeof want_i);
    /* column-major: (row r, col c) of a channel -> c*4 + r */
    const int64_t want_ic[8] = {1, 12, 6, 14, 20, 24, 22, 30};
    assert_memory_equal(g->tensors[g->outputs[2]]->data, want_ic, sizeof want_ic);
    const uint8_t want_u[4] = {250, 244, 226, 220};
    assert_memory_equal(g->tensors[g->outputs[3]]->data, want_u, 4);
    qb_graph_free(g);
}

/* A zero-sized input through Relu and Reshape(allowzero); Conv refuses it. */
static void test_zero_sized(void **st)
{
    (void)st;
    qb_graph *g = new_graph();
    int64_t shape[2] = {3, 0};
    add_t(g, "x", QB_DT_FLOAT, 2, (int64_t[]){0, 3}, NULL);
    add_t(g, "s", QB_DT_INT64, 1, (int64_t[]){2}, shape);
    add_n(g, "Relu", "x", "r");
    attr_i(add_n(g, "Reshape", "r,s", "y"), "allowzero", 1);
    set_outputs(g, "y");
    expect(run1(g, x9), "3x0", NULL, 0, 0);
    qb_graph_free(g);
    g = new_graph();
    float w[1] = {1};
    add_t(g, "x", QB_DT_FLOAT, 4, (int64_t[]){1, 0, 2, 2}, NULL);
    add_t(g, "w", QB_DT_FLOAT, 4, (int64_t[]){1, 1, 1, 1}, w);
    add_n(g, "Conv", "x,w", "y");
    set_outputs(g, "y");
    qb_err e = {0};
    assert_int_equal(qb_graph_sort(g, &e), 0);
    assert_int_equal(qb_graph_prepare(g, NULL, 0, -1, &e), -1);
    assert_non_null(strstr(e.msg, "'x' is zero-sized"));
    assert_int_equal(e.kind, QB_ERR_UNSUPPORTED_SHAPE);
    qb_graph_free(g);
}

/* A node whose output 0 is omitted (an empty name) while a later output is
 * named: only LSTM/GRU/RNN may do that; Size used to write through the
 * missing output (found by make fuzz-onnx). */
static void test_missing_output0(void **st)
{
    (void)st;
    qb_graph *g = new_graph();
    add_t(g, "x", QB_DT_FLOAT, 2, (int64_t[]){2, 3}, NULL);
    add_n(g, "Size", "x", "-,y");
    set_outputs(g, "y");
    qb_err e = {0};
    assert_int_equal(qb_graph_sort(g, &e), 0);
    assert_int_equal(qb_graph_prepare(g, NULL, 0, -1, &e), -1);
    assert_non_null(strstr(e.msg, "output 0 is missing"));
    assert_non_null(strstr(e.msg, "Size"));
    qb_graph_free(g);
}

/* BatchNormalization training_mode=1 (batch statistics, running mean/var
 * with momentum) and Dropout in training mode with ratio 0. */
static void test_training_modes(void **st)
{
    (void)st;
    qb_graph *g = new_graph();
    float sc[2] = {1, 2}, bi[2] = {0, 1}, mu[2] = {0, 0}, va[2] = {1, 1}, zero = 0, half = 0.5f;
    uint8_t yes = 1;
    add_t(g, "x", QB_DT_FLOAT, 4, (int64_t[]){1, 2, 1, 2}, NULL);
    add_t(g, "sc", QB_DT_FLOAT, 1, (int64_t[]){2}, sc);
    add_t(g, "bi", QB_DT_FLOAT, 1, (int64_t[]){2}, bi);
    add_t(g, "mu", QB_DT_FLOAT, 1, (int64_t[]){2}, mu);
    add_t(g, "va", QB_DT_FLOAT, 1, (int64_t[]){2}, va);
    add_t(g, "zero", QB_DT_FLOAT, 0, NULL, &zero);
    add_t(g, "yes", QB_DT_BOOL, 0, NULL, &yes);
    qb_node *n = add_n(g, "BatchNormalization", "x,sc,bi,mu,va", "y,rm,rv");
    attr_i(n, "training_mode", 1);
    attr_f(n, "epsilon", 0);
    add_n(g, "Dropout", "y,zero,yes", "d,mask");
    set_outputs(g, "d");
    set_outputs(g, "rm");
    set_outputs(g, "rv");
    set_outputs(g, "mask");
    /* channel 0 {1, 3}: mean 2, var 1 -> {-1, 1}; channel 1 {2, 6}: mean 4, var 4 -> 2*{-1, 1} + 1 */
    const float x[4] = {1, 3, 2, 6};
    const float want_y[4] = {-1, 1, -1, 3};
    expect(run1(g, x), "1x2x1x2", want_y, 4, 1e-6f);
    const float want_rm[2] = {0.2f, 0.4f}, want_rv[2] = {1.0f, 1.3f}; /* 0.9 old + 0.1 batch */
    expect(g->tensors[g->outputs[1]], "2", want_rm, 2, 1e-6f);
    expect(g->tensors[g->outputs[2]], "2", want_rv, 2, 1e-6f);
    const uint8_t ones[4] = {1, 1, 1, 1};
    assert_memory_equal(g->tensors[g->outputs[3]]->data, ones, 4);
    qb_graph_free(g);
    /* a nonzero ratio in training mode draws a random mask: refused */
    g = new_graph();
    add_t(g, "x", QB_DT_FLOAT, 1, (int64_t[]){4}, NULL);
    add_t(g, "half", QB_DT_FLOAT, 0, NULL, &half);
    add_t(g, "yes", QB_DT_BOOL, 0, NULL, &yes);
    add_n(g, "Dropout", "x,half,yes", "d");
    set_outputs(g, "d");
    qb_err e = {0};
    assert_int_equal(qb_graph_sort(g, &e), 0);
    assert_int_equal(qb_graph_prepare(g, NULL, 0, -1, &e), -1);
    assert_non_null(strstr(e.msg, "random"));
    assert_int_equal(e.kind, QB_ERR_UNSUPPORTED_ATTR);
    qb_graph_free(g);
}

/* ---- BN folding and export round trip on one small conv net ---- */

static qb_graph *conv_bn_net(void)
{
    qb_graph *g = new_graph();
    float w[4 * 2 * 3 * 3], b[4], sc[4], bi[4], mu[4], va[4], fw[3 * 4 * 9], fb[3];
    unsigned s = 12345;
#define RND() ((float)((s = s * 1103515245u + 12345u) >> 8 & 0xffff) / 65536.0f - 0.5f)
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++)
        w[i] = RND();
    for (int i = 0; i < 4; i++)
        b[i] = RND(), sc[i] = 1 + RND(), bi[i] = RND(), mu[i] = RND(), va[i] = 0.5f + RND();
    for (size_t i = 0; i < sizeof fw / sizeof fw[0]; i++)
        fw[i] = RND();
    for (int i = 0; i < 3; i++)
        fb[i] = RND();
    add_t(g, "x", QB_DT_FLOAT, 4, (int64_t[]){1, 2, 3, 3}, NULL);
    g->tensors[g->inputs[0]]->sym[0] = 1;
    add_t(g, "w", QB_DT_FLOAT, 4, (int64_t[]){4, 2, 3, 3}, w);
    add_t(g, "b", QB_DT_FLOAT, 1, (int64_t[]){4}, b);
    add_t(g, "sc", QB_DT_FLOAT, 1, (int64_t[]){4}, sc);
    add_t(g, "bi", QB_DT_FLOAT, 1, (int64_t[]){4}, bi);
    add_t(g, "mu", QB_DT_FLOAT, 1, (int64_t[]){4}, mu);
    add_t(g, "va", QB_DT_FLOAT, 1, (int64_t[]){4}, va);
    add_t(g, "fw", QB_DT_FLOAT, 2, (int64_t[]){3, 36}, fw);
    add_t(g, "fb", QB_DT_FLOAT, 1, (int64_t[]){3}, fb);
    qb_node *n = add_n(g, "Conv", "x,w,b", "c");
    attr_ints(n, "pads", 4, 1, 1, 1, 1);
    add_n(g, "BatchNormalization", "c,sc,bi,mu,va", "bn");
    add_n(g, "Relu", "bn", "r");
    add_n(g, "Flatten", "r", "f");
    n = add_n(g, "Gemm", "f,fw,fb", "y");
    attr_i(n, "transB", 1);
    set_outputs(g, "y");
    return g;
}

static const float net_x[18] = {1, -2, 3, 0.5f, 0, -1, 2, 2, -3, 0.25f, 1, -1, 4, 0, 1, -2, 1, 0.5f};

static void test_bn_folding(void **st)
{
    (void)st;
    qb_graph *ref = conv_bn_net(), *fold = conv_bn_net();
    ref->no_fold_bn = 1;
    const qb_tensor *yr = run1(ref, net_x), *yf = run1(fold, net_x);
    int bns = 0;
    for (int i = 0; i < fold->nnodes; i++)
        bns += !strcmp(fold->nodes[i].op, "BatchNormalization");
    assert_int_equal(bns, 0);
    float want[3];
    memcpy(want, yr->data, sizeof want);
    for (int i = 0; i < 3; i++)
        want[i] = ((float *)yr->data)[i];
    expect(yf, "1x3", want, 3, 1e-4f);
    qb_graph_free(ref);
    qb_graph_free(fold);
}

/* Gemm (transB = 0) followed by BatchNormalization over its N columns */
static qb_graph *gemm_bn_net(void)
{
    qb_graph *g = new_graph();
    float w[3 * 4] = {0.5f, -1, 2, 0.25f, 1, 1, -0.5f, 3, 2, 0, 1, -1}, c[4] = {0.1f, 0.2f, -0.3f, 0.4f};
    float sc[4] = {1.5f, 0.5f, 2, 1}, bi[4] = {0, 1, -1, 0.5f}, mu[4] = {0.1f, -0.2f, 0.3f, 0}, va[4] = {1, 2, 0.5f, 4};
    add_t(g, "x", QB_DT_FLOAT, 2, (int64_t[]){2, 3}, NULL);
    add_t(g, "w", QB_DT_FLOAT, 2, (int64_t[]){3, 4}, w);
    add_t(g, "c", QB_DT_FLOAT, 1, (int64_t[]){4}, c);
    add_t(g, "sc", QB_DT_FLOAT, 1, (int64_t[]){4}, sc);
    add_t(g, "bi", QB_DT_FLOAT, 1, (int64_t[]){4}, bi);
    add_t(g, "mu", QB_DT_FLOAT, 1, (int64_t[]){4}, mu);
    add_t(g, "va", QB_DT_FLOAT, 1, (int64_t[]){4}, va);
    add_n(g, "Gemm", "x,w,c", "m");
    add_n(g, "BatchNormalization", "m,sc,bi,mu,va", "y");
    set_outputs(g, "y");
    return g;
}

static void test_bn_folding_gemm(void **st)
{
    (void)st;
    qb_graph *ref = gemm_bn_net(), *fold = gemm_bn_net();
    ref->no_fold_bn = 1;
    const float x[6] = {1, 2, 3, -1, 0.5f, 2};
    const qb_tensor *yr = run1(ref, x), *yf = run1(fold, x);
    assert_int_equal(fold->nnodes, 1);
    expect(yf, "2x4", yr->data, 8, 1e-5f);
    qb_graph_free(ref);
    qb_graph_free(fold);
}

/* A chain of convolutions (3x3, depthwise strided, 1x1, grouped dilated
 * 3x3, 1x1 with batch 2) kept NHWC between the convs: the same outputs as
 * with NCHW everywhere. */
static qb_graph *conv_chain(int nchw_only)
{
    qb_graph *g = new_graph();
    g->nchw_only = nchw_only;
    unsigned s = 777;
    struct {
        int cout, cin_g, k, stride, group, dil, pad;
    } L[] = {{8, 3, 3, 1, 1, 1, 1}, {8, 1, 3, 2, 8, 1, 1}, {12, 8, 1, 1, 1, 1, 0}, {12, 6, 3, 1, 2, 2, 2}, {5, 12, 1, 1, 1, 1, 0}};
    add_t(g, "x", QB_DT_FLOAT, 4, (int64_t[]){2, 3, 9, 7}, NULL);
    char in[32] = "x";
    for (int l = 0; l < 5; l++) {
        int nw = L[l].cout * L[l].cin_g * L[l].k * L[l].k;
        float *w = malloc(nw * sizeof(float)), b[16];
        for (int i = 0; i < nw; i++)
            w[i] = (float)((s = s * 1103515245u + 12345u) >> 8 & 0xffff) / 65536.0f - 0.5f;
        for (int i = 0; i < L[l].cout; i++)
            b[i] = 0.1f * (float)i - 0.3f;
        char wn[16], bn[16], cn[16], rn[16];
        snprintf(wn, sizeof wn, "w%d", l), snprintf(bn, sizeof bn, "b%d", l);
        snprintf(cn, sizeof cn, "c%d", l), snprintf(rn, sizeof rn, "r%d", l);
        add_t(g, wn, QB_DT_FLOAT, 4, (int64_t[]){L[l].cout, L[l].cin_g, L[l].k, L[l].k}, w);
        add_t(g, bn, QB_DT_FLOAT, 1, (int64_t[]){L[l].cout}, b);
        free(w);
        char ins[64];
        snprintf(ins, sizeof ins, "%s,%s,%s", in, wn, bn);
        qb_node *n = add_n(g, "Conv", ins, cn);
        attr_ints(n, "pads", 4, L[l].pad, L[l].pad, L[l].pad, L[l].pad);
        attr_ints(n, "strides", 2, L[l].stride, L[l].stride);
        attr_ints(n, "dilations", 2, L[l].dil, L[l].dil);
        attr_i(n, "group", L[l].group);
        add_n(g, l ? "Relu" : "Sigmoid", cn, rn); /* Relu fuses, Sigmoid does not */
        snprintf(in, sizeof in, "%s", l ? rn : cn);
        if (!l) /* Sigmoid is a side output: the first conv's output also feeds a non-conv */
            set_outputs(g, rn);
    }
    set_outputs(g, in);
    return g;
}

static void test_nhwc_chain(void **st)
{
    (void)st;
    float x[2 * 3 * 9 * 7];
    for (int i = 0; i < 2 * 3 * 9 * 7; i++)
        x[i] = (float)((i * 37) % 23) / 11.0f - 1.0f;
    qb_graph *ref = conv_chain(1), *opt = conv_chain(0);
    run1(ref, x);
    run1(opt, x);
    /* conv 0 (its output also feeds Sigmoid) NCHW; 1: out; 2, 3: in and out; 4 (graph output): in */
    int want[5] = {0, 2, 3, 3, 1}, k = 0;
    for (int i = 0; i < opt->nnodes; i++)
        if (!strcmp(opt->nodes[i].op, "Conv"))
            assert_int_equal(opt->nodes[i].nhwc, want[k++]);
    for (int o = 0; o < ref->noutputs; o++) {
        const qb_tensor *a = ref->tensors[ref->outputs[o]], *b = opt->tensors[opt->outputs[o]];
        char sh[128];
        qb_shape_str(a->ndim, a->dims, sh, sizeof sh);
        expect(b, sh, a->data, (int)qb_tensor_count(a), 1e-5f);
    }
    qb_graph_free(ref);
    qb_graph_free(opt);
}

/* Graph inputs are read from the caller's buffer in place when it is
 * aligned (qb_data_alloc) and the input is not also an output, copied into
 * the arena otherwise: the outputs are the same either way, the caller's
 * values are never written, a changed buffer is seen by the next run. */
static void run_twice_compare(qb_graph *g, float *x, size_t n, int want_in_place)
{
    qb_err e = {0};
    qb_tensor in = *g->tensors[g->inputs[0]];
    in.data = x;
    float *keep = malloc(n * sizeof(float));
    memcpy(keep, x, n * sizeof(float));
    assert_int_equal(qb_graph_run(g, &in, 1, &e), 0);
    assert_memory_equal(x, keep, n * sizeof(float)); /* never written */
    assert_int_equal(g->tensors[g->inputs[0]]->data == (void *)x, want_in_place);
    free(keep);
}

static void test_inputs_in_place(void **st)
{
    (void)st;
    enum { N = 2 * 3 * 9 * 7 };
    float *a = qb_data_alloc((N + 16) * sizeof(float)), *b = qb_data_alloc((N + 16) * sizeof(float));
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal((uintptr_t)a % QB_DATA_ALIGN, 0);
    float *odd = b + 1; /* 4 bytes past an aligned start: copied */
    for (int i = 0; i < N; i++)
        a[i] = odd[i] = (float)((i * 37) % 23) / 11.0f - 1.0f;
    qb_graph *g1 = conv_chain(0), *g2 = conv_chain(0), *g3 = conv_chain(0);
    g3->copy_inputs = 1;
    qb_err e = {0};
    qb_graph *gs[3] = {g1, g2, g3};
    for (int k = 0; k < 3; k++)
        assert_int_equal(qb_graph_sort(gs[k], &e) || qb_graph_prepare(gs[k], NULL, 0, -1, &e), 0);
    run_twice_compare(g1, a, N, 1);
    run_twice_compare(g2, odd, N, 0);
    run_twice_compare(g3, a, N, 0);
    for (int o = 0; o < g1->noutputs; o++) {
        const qb_tensor *y1 = g1->tensors[g1->outputs[o]], *y2 = g2->tensors[g2->outputs[o]],
                        *y3 = g3->tensors[g3->outputs[o]];
        size_t bytes = (size_t)qb_tensor_count(y1) * sizeof(float);
        assert_memory_equal(y1->data, y2->data, bytes);
        assert_memory_equal(y1->data, y3->data, bytes);
    }
    /* new values in the same buffer: the next run reads them */
    for (int i = 0; i < N; i++)
        a[i] = odd[i] = -a[i];
    run_twice_compare(g1, a, N, 1);
    run_twice_compare(g2, odd, N, 0);
    const qb_tensor *y1 = g1->tensors[g1->outputs[1]], *y2 = g2->tensors[g2->outputs[1]];
    assert_memory_equal(y1->data, y2->data, (size_t)qb_tensor_count(y1) * sizeof(float));
    /* the same graph from an aligned buffer to an odd one: copied again */
    for (int i = 0; i < N; i++)
        odd[i] = a[i] * 0.5f;
    run_twice_compare(g2, odd, N, 0);
    float *y2copy = malloc((size_t)qb_tensor_count(y2) * sizeof(float));
    memcpy(y2copy, y2->data, (size_t)qb_tensor_count(y2) * sizeof(float));
    run_twice_compare(g1, odd, N, 0);
    assert_memory_equal(y1->data, y2copy, (size_t)qb_tensor_count(y1) * sizeof(float));
    free(y2copy);
    qb_graph_free(g1);
    qb_graph_free(g2);
    qb_graph_free(g3);

    /* an input that is also an output is copied; element-wise ops over
     * the input (candidates for writing in place) leave it alone */
    qb_graph *g = new_graph();
    add_t(g, "x", QB_DT_FLOAT, 2, (int64_t[]){4, 8}, NULL);
    add_n(g, "Relu", "x", "r");
    add_n(g, "Add", "x,r", "s");
    add_n(g, "Neg", "x", "m");
    set_outputs(g, "x");
    set_outputs(g, "s");
    set_outputs(g, "m");
    assert_int_equal(qb_graph_sort(g, &e) || qb_graph_prepare(g, NULL, 0, -1, &e), 0);
    run_twice_compare(g, a, 32, 0);
    for (int i = 0; i < 32; i++) {
        assert_true(((const float *)g->tensors[g->outputs[0]]->data)[i] == a[i]);
        assert_true(((const float *)g->tensors[g->outputs[2]]->data)[i] == -a[i]);
    }
    qb_graph_free(g);
    g = new_graph();
    add_t(g, "x", QB_DT_FLOAT, 2, (int64_t[]){4, 8}, NULL);
    add_n(g, "Relu", "x", "r");
    add_n(g, "Mul", "x,r", "s");
    add_n(g, "Sigmoid", "x", "t");
    add_n(g, "Add", "s,t", "u");
    set_outputs(g, "u");
    assert_int_equal(qb_graph_sort(g, &e) || qb_graph_prepare(g, NULL, 0, -1, &e), 0);
    run_twice_compare(g, a, 32, 1);
    const float *u = g->tensors[g->outputs[0]]->data;
    for (int i = 0; i < 32; i++) {
        float r = a[i] > 0 ? a[i] : 0, want = a[i] * r + 1.0f / (1.0f + expf(-a[i]));
        assert_true(fabsf(u[i] - want) <= 1e-5f);
    }
    qb_graph_free(g);
    free(a);
    free(b);
}

static void test_export_roundtrip(void **st)
{
    (void)st;
    char path[] = "/tmp/qbench_rtXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    qb_graph *g = conv_bn_net();
    const qb_tensor *y = run1(g, net_x);
    float first[3];
    memcpy(first, y->data, sizeof first);
    qb_err e = {0};
    assert_int_equal(qb_onnx_save(g, path, &e), 0);
    qb_graph_free(g);
    g = qb_onnx_load(path, &e);
    if (!g)
        print_error("%s\n", e.msg);
    assert_non_null(g);
    assert_int_equal(g->opset, 13);
    assert_true(g->tensors[g->inputs[0]]->sym[0]); /* the batch stays symbolic */
    qb_tensor in = *g->tensors[g->inputs[0]];
    in.data = (void *)net_x;
    assert_int_equal(qb_graph_prepare(g, NULL, 0, -1, &e), 0);
    assert_int_equal(qb_graph_run(g, &in, 1, &e), 0);
    assert_memory_equal(g->tensors[g->outputs[0]]->data, first, sizeof first);
    /* a truncated copy fails with a message naming the file */
    FILE *f = fopen(path, "rb");
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    f = fopen(path, "wb");
    fwrite(buf, 1, n / 2, f);
    fclose(f);
    qb_graph_free(g);
    g = qb_onnx_load(path, &e);
    assert_null(g);
    assert_non_null(strstr(e.msg, path));
    unlink(path);
}

/* An opset-9 graph (axes, starts/ends, min/max as attributes; Softmax over
 * the flattened tail) rewritten to opset 13 form gives the same results. */
static void test_upgrade_opset9(void **st)
{
    (void)st;
    qb_graph *g = new_graph();
    g->opset = 9;
    add_t(g, "x", QB_DT_FLOAT, 2, (int64_t[]){2, 3}, NULL);
    qb_node *n = add_n(g, "Unsqueeze", "x", "u");
    attr_ints(n, "axes", 1, 0);
    n = add_n(g, "Slice", "u", "s");
    attr_ints(n, "starts", 1, 1);
    attr_ints(n, "ends", 1, 3);
    attr_ints(n, "axes", 1, 2);
    n = add_n(g, "Squeeze", "s", "q");
    attr_ints(n, "axes", 1, 0);
    n = add_n(g, "Clip", "q", "c");
    attr_f(n, "min", 2.0f);
    attr_f(n, "max", 5.0f);
    n = add_n(g, "Softmax", "c", "y");
    attr_i(n, "axis", 1);
    set_outputs(g, "y");
    qb_err e = {0};
    assert_int_equal(qb_graph_upgrade(g, &e), 0);
    assert_int_equal(g->opset, 13);
    const float x[6] = {1, 2, 3, 4, 5, 6};
    float a = 1 / (1 + expf(1)), b = 1 - a;
    const float want[4] = {a, b, 0.5f, 0.5f};
    expect(run1(g, x), "2x2", want, 4, 1e-6f);
    qb_graph_free(g);
}

/* Old-opset models from libonnx-testdata (upgraded to opset 13 at load):
 * run, export, re-import, run again: bit-identical, and the file is at 13. */
static void test_export_old_models(void **st)
{
    (void)st;
    static const char *cases[] = {"pytorch-converted/test_Softmax", "pytorch-converted/test_log_softmax_dim3",
                                  "pytorch-operator/test_operator_view", "pytorch-converted/test_Conv2d_depthwise",
                                  "pytorch-operator/test_operator_clip", "node/test_squeeze",
                                  "node/test_unsqueeze_axis_1", "node/test_clip_default_inbounds"};
    int tried = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char model[512], input[512], path[] = "/tmp/qbench_oldXXXXXX";
        snprintf(model, sizeof model, "/usr/share/libonnx-testdata/data/%s/model.onnx", cases[c]);
        snprintf(input, sizeof input, "/usr/share/libonnx-testdata/data/%s/test_data_set_0/input_0.pb", cases[c]);
        qb_err e = {0};
        qb_graph *g = qb_onnx_load(model, &e);
        if (!g)
            continue; /* test data not installed, or an unsupported op (log_softmax) */
        qb_tensor in;
        if (g->ninputs != 1 || qb_tensor_load_pb(input, &in, &e)) {
            qb_graph_free(g);
            continue;
        }
        tried++;
        assert_int_equal(g->opset, 13);
        assert_int_equal(qb_graph_prepare(g, &in, 1, -1, &e), 0);
        assert_int_equal(qb_graph_run(g, &in, 1, &e), 0);
        const qb_tensor *y = g->tensors[g->outputs[0]];
        size_t bytes = (size_t)qb_tensor_count(y) * qb_dtype_size(y->dtype);
        void *first = malloc(bytes);
        memcpy(first, y->data, bytes);
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        close(fd);
        assert_int_equal(qb_onnx_save(g, path, &e), 0);
        qb_graph_free(g);
        g = qb_onnx_load(path, &e);
        if (!g)
            print_error("%s: %s\n", cases[c], e.msg);
        assert_non_null(g);
        assert_int_equal(qb_graph_prepare(g, &in, 1, -1, &e), 0);
        assert_int_equal(qb_graph_run(g, &in, 1, &e), 0);
        assert_memory_equal(g->tensors[g->outputs[0]]->data, first, bytes);
        free(first);
        free(in.name);
        free(in.data);
        qb_graph_free(g);
        unlink(path);
    }
    if (!tried)
        skip();
}

static void test_dynamic_batch(void **st)
{
    (void)st;
    qb_graph *g = conv_bn_net();
    qb_err e = {0};
    assert_int_equal(qb_graph_sort(g, &e), 0);
    qb_tensor in = *g->tensors[g->inputs[0]];
    in.dims[0] = 2;
    float x2[36];
    memcpy(x2, net_x, sizeof net_x);
    memcpy(x2 + 18, net_x, sizeof net_x);
    in.data = x2;
    assert_int_equal(qb_graph_prepare(g, &in, 1, -1, &e), 0);
    assert_int_equal(qb_graph_run(g, &in, 1, &e), 0);
    const qb_tensor *y = g->tensors[g->outputs[0]];
    assert_int_equal(y->dims[0], 2);
    assert_memory_equal((float *)y->data, (float *)y->data + 3, 3 * sizeof(float));
    qb_graph_free(g);
}

static void test_bad_graphs(void **st)
{
    (void)st;
    qb_err e = {0};
    /* cycle */
    qb_graph *g = new_graph();
    add_t(g, "x", QB_DT_FLOAT, 1, (int64_t[]){3}, NULL);
    add_n(g, "Add", "x,b", "a");
    add_n(g, "Relu", "a", "b");
    set_outputs(g, "b");
    assert_int_equal(qb_graph_sort(g, &e), -1);
    assert_non_null(strstr(e.msg, "cycle"));
    assert_int_equal(e.kind, QB_ERR_INVALID); /* a broken model: a failure, never a skip */
    qb_graph_free(g);
    /* missing input */
    g = new_graph();
    add_t(g, "x", QB_DT_FLOAT, 1, (int64_t[]){3}, NULL);
    add_n(g, "Add", "x,nowhere", "y");
    set_outputs(g, "y");
    assert_int_equal(qb_graph_sort(g, &e), -1);
    assert_non_null(strstr(e.msg, "nowhere"));
    qb_graph_free(g);
    /* shapes that do not broadcast */
    g = new_graph();
    float r[2] = {1, 2};
    add_t(g, "x", QB_DT_FLOAT, 1, (int64_t[]){3}, NULL);
    add_t(g, "r", QB_DT_FLOAT, 1, (int64_t[]){2}, r);
    add_n(g, "Add", "x,r", "y");
    set_outputs(g, "y");
    assert_int_equal(qb_graph_sort(g, &e), 0);
    assert_int_equal(qb_graph_prepare(g, NULL, 0, -1, &e), -1);
    assert_non_null(strstr(e.msg, "broadcast"));
    assert_int_equal(e.kind, QB_ERR_INVALID);
    qb_graph_free(g);
    /* missing file */
    assert_null(qb_onnx_load("/nonexistent/model.onnx", &e));
    assert_non_null(strstr(e.msg, "/nonexistent/model.onnx"));
    assert_int_equal(e.kind, QB_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_pad),
        cmocka_unit_test(test_conv_strided_grouped),
        cmocka_unit_test(test_conv_depthwise_any),
        cmocka_unit_test(test_conv_dilated_same),
        cmocka_unit_test(test_convt_tiles),
        cmocka_unit_test(test_convt_nhwc_input),
        cmocka_unit_test(test_convt_add_relu),
        cmocka_unit_test(test_convt_direct_chain),
        cmocka_unit_test(test_convt_pair),
        cmocka_unit_test(test_transpose_f32),
        cmocka_unit_test(test_gemm_attrs),
        cmocka_unit_test(test_matmul_batched),
        cmocka_unit_test(test_matmul_batched_bcast),
        cmocka_unit_test(test_broadcast_arith),
        cmocka_unit_test(test_elem_spans),
        cmocka_unit_test(test_activations),
        cmocka_unit_test(test_pools),
        cmocka_unit_test(test_softmax_reducemean_bn),
        cmocka_unit_test(test_newer_ops_and_sums),
        cmocka_unit_test(test_shape_ops_folded),
        cmocka_unit_test(test_flatten_cast_constant),
        cmocka_unit_test(test_integer_types),
        cmocka_unit_test(test_float16_cast),
        cmocka_unit_test(test_maxpool_indices),
        cmocka_unit_test(test_zero_sized),
        cmocka_unit_test(test_missing_output0),
        cmocka_unit_test(test_training_modes),
        cmocka_unit_test(test_bn_folding),
        cmocka_unit_test(test_bn_folding_gemm),
        cmocka_unit_test(test_bn_folding_convt),
        cmocka_unit_test(test_nhwc_chain),
        cmocka_unit_test(test_inputs_in_place),
        cmocka_unit_test(test_export_roundtrip),
        cmocka_unit_test(test_upgrade_opset9),
        cmocka_unit_test(test_export_old_models),
        cmocka_unit_test(test_dynamic_batch),
        cmocka_unit_test(test_bad_graphs),
        cmocka_unit_test(test_plane_means),
        cmocka_unit_test(test_reshape_views),
        cmocka_unit_test(test_pow_square),
        cmocka_unit_test(test_reduce_rows),
        cmocka_unit_test(test_resize_nearest2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
