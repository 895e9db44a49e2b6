/*
 * test_fuse.c - graph-level fusions of the model engine against the
 * unfused graph: element-wise chains (harness/graph/fuse_elem.c) on
 * scalar and per-channel constants in either operand position, every
 * activation step (and a chain of the steps with an AVX-512 register
 * form only), the HardSwish / SiLU / x*hardsigmoid(x) patterns,
 * the affine / exported-HardSwish patterns' straight-line loop on special
 * values, chains cut at graph outputs and shared values, sizes that are not a
 * multiple of the block; outputs bit-identical to QB_NO_ELEM_FUSION's
 * (each step is the operator's own arithmetic) for 1, 2 and 3 threads,
 * and the number of nodes fused checked (so the pass cannot silently do
 * nothing); convolutions with chains between them kept NHWC (per-channel
 * steps on NHWC tensors) against the NCHW-only graph; the NHWC operators
 * (MaxPool, AveragePool with pads, residual Add, Concat, GlobalAveragePool
 * reading NHWC) between convolutions against the NCHW-only graph; int8
 * MaxPool between quantized convs in different grids (int8 links through
 * the pool's table) bit-identical to the float path between them, and
 * an int8 pool through a Flatten into an int8 Gemm (NHWC codes, the
 * Gemm's weight columns permuted) likewise;
 * quantized convs quantizing their float input once before an int8
 * im2col, GlobalAveragePool on int8, and element-wise chains between
 * int8 convs through per-channel tables, bit-identical likewise; MaxPools
 * of 70 channels (vector tails), pads and dilations, float and int8, with
 * and without their AVX-512 loops; Max/Min with constants in chains
 * (NaN and signed-zero rules bit for bit; openWakeWord's LeakyRelu + Max
 * block between int8 convs as tables); fp32 direct (tap) convolutions
 * against im2col, NCHW and NHWC, images of 1 and 3 channels included;
 * chains run in a conv's epilogue against the unfused graph (chains'
 * AVX-512 step loops on and off); nearest upsamplings read through by
 * the int8-writing Concat, bit-identical to QB_NO_UPSAMPLE_FUSION; a
 * bias row added before a Softmax run inside it, bit-identical to
 * QB_NO_SOFTMAX_BIAS_FUSION; a Softmax run in its int8 MatMul or Gemm,
 * bit-identical to QB_NO_GEMM_SOFTMAX_FUSION; the float
 * GlobalAveragePool's AVX-512 register sums against its SSE2 loop.
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

#include "harness/graph/graph.h"
#include "harness/graph/ops.h"
#include "harness/graph/par.h"
#include "harness/graph/q16_avx512.h"
#include "harness/graph/q8_avx2.h"
#include "harness/graph/qlayer.h"
#include "tests/graph_build.h"
#include "kernels/expf.h"
#include "kernels/kernels.h"
#include "kernels/quantize.h"

/* ---- building graphs in memory ---- */

static int add_t(qb_graph *g, const char *name, int ndim, const int64_t *dims, const float *data)
{
    return qb_test_tensor(g, name, QB_DT_FLOAT, ndim, dims, data);
}

/* A node of op with comma-separated input and output names. */
static qb_node *add_n(qb_graph *g, const char *op, const char *ins, const char *outs) { return qb_test_node(g, op, ins, outs); }

static void attr_i(qb_node *n, const char *name, int64_t v) { qb_test_attr(n, name, QB_ATTR_INT)->i = v; }

static void attr_ints4(qb_node *n, const char *name, int k, int64_t v)
{
    qb_attr *a = qb_test_attr(n, name, QB_ATTR_INTS);
    a->n = k;
    a->ints = calloc(k, sizeof(int64_t));
    for (int i = 0; i < k; i++)
        a->ints[i] = v;
}

static void attr_f(qb_node *n, const char *name, float v) { qb_test_attr(n, name, QB_ATTR_FLOAT)->f = v; }

static void set_output(qb_graph *g, const char *name) { qb_test_output(g, name); }

static const int64_t scalar_dims[1] = {1};
static void scalar(qb_graph *g, const char *name, float v) { add_t(g, name, 0, scalar_dims, &v); }

/* Per-channel constant of C values shaped like dims (ndim of them). */
static void per_channel(qb_graph *g, const char *name, int ndim, const int64_t *dims, int C, float base)
{
    float v[64];
    for (int c = 0; c < C; c++)
        v[c] = base + 0.25f * (float)c - 0.5f;
    add_t(g, name, ndim, dims, v);
}

/* Every step kind, in MobileNetV3 / PP-LCNet order: affine, HardSwish as
 * Add/Clip/Mul/Div, per-channel Mul and reversed Sub, SiLU, x*hardsigmoid,
 * Relu, LeakyRelu, Tanh, reversed Div, HardSwish and HardSigmoid nodes;
 * "h" (mid-chain) is also a graph output. */
static qb_graph *chain_graph(int64_t n, int64_t c, int64_t h, int64_t w, int fuse, int regs)
{
    qb_graph *g = qb_graph_new("fuse-test");
    g->opset = 13;
    g->no_elem_fusion = !fuse;
    add_t(g, "x", 4, (int64_t[]){n, c, h, w}, NULL);
    scalar(g, "k_scale", 1.25f);
    scalar(g, "k_bias", -0.125f);
    scalar(g, "three", 3.0f);
    scalar(g, "zero", 0.0f);
    scalar(g, "six", 6.0f);
    scalar(g, "one", 1.0f);
    per_channel(g, "pc3", 3, (int64_t[]){c, 1, 1}, (int)c, 0.75f);
    per_channel(g, "pc4", 4, (int64_t[]){1, c, 1, 1}, (int)c, -0.3f);
    add_n(g, "Mul", "k_scale,x", "a1");       /* constant first */
    add_n(g, "Add", "a1,k_bias", "a2");
    add_n(g, "Add", "a2,three", "hs1");       /* HardSwish as exported */
    add_n(g, "Clip", "hs1,zero,six", "hs2");
    add_n(g, "Mul", "a2,hs2", "hs3");
    add_n(g, "Div", "hs3,six", "h");
    add_n(g, "Mul", "h,pc3", "p1");
    add_n(g, "Sub", "pc4,p1", "p2");          /* k - v, per channel */
    add_n(g, regs ? "HardSigmoid" : "Sigmoid", "p2", "s1"); /* SiLU (regs: every step with a register form) */
    add_n(g, "Mul", "p2,s1", "s2");
    add_n(g, "HardSigmoid", "s2", "q1");      /* x * hardsigmoid(x), saved value second */
    add_n(g, "Mul", "q1,s2", "q2");
    add_n(g, "Relu", "q2", "r1");
    add_n(g, "Sub", "r1,k_bias", "r2");
    attr_f(add_n(g, "LeakyRelu", "r2", "l1"), "alpha", 0.1f);
    add_n(g, regs ? "Relu" : "Tanh", "l1", "t1");
    add_n(g, "Add", "t1,three", "t2");
    add_n(g, "Div", "one,t2", "d1");          /* k / v */
    add_n(g, "HardSwish", "d1", "d2");
    qb_node *hs = add_n(g, "HardSigmoid", "d2", "d3");
    attr_f(hs, "alpha", 0.3f);
    attr_f(hs, "beta", 0.4f);
    add_n(g, "Add", "d3,pc3", "y");
    set_output(g, "y");
    set_output(g, "h");
    return g;
}

/* Prepare and run g on x; the number of nodes fused into chains. */
static int run(qb_graph *g, const float *x)
{
    qb_err e = {0};
    if (qb_graph_sort(g, &e) || qb_graph_prepare(g, NULL, 0, -1, &e)) {
        print_error("%s\n", e.msg);
        fail();
    }
    qb_tensor in = *g->tensors[g->inputs[0]];
    in.data = (void *)x;
    assert_int_equal(qb_graph_run(g, &in, 1, &e), 0);
    int fused = 0;
    for (int i = 0; i < g->nnodes; i++)
        fused += g->nodes[i].fused_into >= 0;
    return fused;
}

static float *input(int64_t count)
{
    float *x = malloc((size_t)count * sizeof *x);
    for (int64_t i = 0; i < count; i++)
        x[i] = (float)((i * 37) % 101) / 9.0f - 5.5f;
    return x;
}

static void check_shape(int64_t n, int64_t c, int64_t h, int64_t w)
{
    int64_t count = n * c * h * w;
    float *x = input(count);
    for (int regs = 0; regs < 2; regs++) { /* regs: no Sigmoid or Tanh, the AVX-512 chain runs in registers */
        qb_graph *ref = chain_graph(n, c, h, w, 0, regs);
        assert_int_equal(run(ref, x), 0);
        for (int threads = 1; threads <= 3; threads++) {
            qb_gpar_set_threads(threads);
            qb_elem_chain_avx512(threads != 2); /* the plain step loops on two threads */
            qb_elem_chain_avx2_only(threads == 3); /* the AVX2 ones on three */
            qb_graph *opt = chain_graph(n, c, h, w, 1, regs);
            /* 21 nodes: the chain up to "h" (a graph output) is one, the rest another: 19 fused into 2 heads */
            assert_int_equal(run(opt, x), 19);
            for (int o = 0; o < ref->noutputs; o++)
                assert_memory_equal(opt->tensors[opt->outputs[o]]->data, ref->tensors[ref->outputs[o]]->data,
                                    (size_t)count * sizeof(float));
            qb_graph_free(opt);
        }
        qb_gpar_set_threads(1);
        qb_elem_chain_avx512(1);
        qb_elem_chain_avx2_only(0);
        qb_graph_free(ref);
    }
    free(x);
}

static void test_chain_small(void **st)
{
    (void)st;
    check_shape(1, 3, 5, 7);
}

static void test_chain_blocks(void **st)
{
    (void)st;
    check_shape(2, 5, 23, 29); /* planes of 667: one full block and a tail */
}

/* Without per-channel constants the input is cut into flat blocks (the
 * last one short). */
static void test_flat_blocks(void **st)
{
    (void)st;
    int64_t count = 3 * 1237;
    float *x = input(count);
    float *want = NULL;
    for (int fuse = 0; fuse < 2; fuse++) {
        qb_graph *g = qb_graph_new("flat");
        g->opset = 13;
        g->no_elem_fusion = !fuse;
        add_t(g, "x", 2, (int64_t[]){3, 1237}, NULL);
        scalar(g, "k", 0.5f);
        add_n(g, "Sigmoid", "x", "s");
        add_n(g, "Mul", "x,s", "m"); /* SiLU with the saved value first */
        add_n(g, "Div", "m,k", "y");
        set_output(g, "y");
        assert_int_equal(run(g, x), fuse ? 2 : 0);
        const float *y = g->tensors[g->outputs[0]]->data;
        if (!fuse) {
            want = malloc((size_t)count * sizeof *want);
            memcpy(want, y, (size_t)count * sizeof *want);
        } else {
            assert_memory_equal(y, want, (size_t)count * sizeof *want);
        }
        qb_graph_free(g);
    }
    free(want);
    free(x);
}

/* LeakyRelu (a select on the bits in ops_elem.c and in a chain): both
 * paths give y = x >= 0 ? x : alpha * x bit for bit on signed zeros,
 * infinities, NaNs of both signs, tiny and random values, at both alphas'
 * signs. */
static void test_leaky_bits(void **st)
{
    (void)st;
    enum { N = 1237 };
    float x[N];
    const float special[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, -NAN, 1e-40f, -1e-40f, 3.5f, -3.5f};
    uint32_t s = 12345;
    for (int i = 0; i < N; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = i < 10 ? special[i] : ((float)(s >> 8) / 16777216.0f - 0.5f) * 8.0f;
    }
    for (int neg = 0; neg < 2; neg++) {
        float alpha = neg ? -0.3f : 0.1f, want[N];
        for (int i = 0; i < N; i++)
            want[i] = x[i] >= 0 ? x[i] : alpha * x[i];
        for (int fuse = 0; fuse < 2; fuse++) {
            qb_graph *g = qb_graph_new("leaky");
            g->opset = 13;
            g->no_elem_fusion = !fuse;
            add_t(g, "x", 2, (int64_t[]){1, N}, NULL);
            attr_f(add_n(g, "LeakyRelu", "x", "y"), "alpha", alpha);
            set_output(g, "y");
            run(g, x);
            assert_memory_equal(g->tensors[g->outputs[0]]->data, want, sizeof want);
            qb_graph_free(g);
        }
    }
}

/* Chains of the affine / exported-HardSwish patterns (fuse_elem.c
 * fe_pattern: one straight-line AVX-512 loop) against the unfused graph
 * bit for bit: v * a + b, HardSwish as Add/Clip/Mul/Div with the saved
 * value first or second, t * c + e, each part alone or together, the
 * constants in either operand position; signed zeros, infinities, NaNs,
 * subnormals, the largest floats, values at the clip's bounds; 1237
 * values (a masked tail), AVX-512 on and off. */
static qb_graph *pattern_graph(int variant, int fuse, int n)
{
    qb_graph *g = qb_graph_new("pattern");
    g->opset = 13;
    g->no_elem_fusion = !fuse;
    add_t(g, "x", 2, (int64_t[]){1, n}, NULL);
    scalar(g, "ka", 1.75f);
    scalar(g, "kb", -0.3f);
    scalar(g, "three", 3.0f);
    scalar(g, "zero", 0.0f);
    scalar(g, "six", 6.0f);
    scalar(g, "kc", 0.4f);
    scalar(g, "ke", 1e-3f);
    const char *v = "x";
    if (variant != 2) { /* the affine before (variant 1: constants first; variant 4: nothing else) */
        add_n(g, "Mul", variant == 1 ? "ka,x" : "x,ka", "a1");
        add_n(g, "Add", variant == 1 ? "kb,a1" : "a1,kb", variant == 4 ? "y" : "a2");
        v = "a2";
    }
    char in[64];
    if (variant <= 2) { /* HardSwish as exported (variant 1: the saved value second) */
        snprintf(in, sizeof in, "%s,three", v);
        add_n(g, "Add", in, "h1");
        add_n(g, "Clip", "h1,zero,six", "h2");
        snprintf(in, sizeof in, variant == 1 ? "h2,%s" : "%s,h2", v);
        add_n(g, "Mul", in, "h3");
        add_n(g, "Div", "h3,six", "h4");
        v = "h4";
    }
    if (variant != 4) { /* the affine after */
        snprintf(in, sizeof in, "%s,kc", v);
        add_n(g, "Mul", in, "p1");
        add_n(g, "Add", "p1,ke", "y");
    }
    set_output(g, "y");
    return g;
}

static void test_pattern_chains(void **st)
{
    (void)st;
    enum { N = 1237 };
    float x[N];
    const float special[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, -NAN, 1e-40f, -1e-40f, 3.4e38f, -3.4e38f,
                             -3.0f, 3.0f, -1.885714f, 1.542857f, 1e-45f, -1e-45f};
    const int ns = (int)(sizeof special / sizeof special[0]);
    uint32_t s = 4242;
    for (int i = 0; i < N; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = i < ns ? special[i] : ((float)(s >> 8) / 16777216.0f - 0.5f) * 16.0f;
    }
    for (int variant = 0; variant < 5; variant++) {
        qb_graph *ref = pattern_graph(variant, 0, N);
        assert_int_equal(run(ref, x), 0);
        for (int avx = 0; avx < 3; avx++) {
            qb_elem_chain_avx512(avx > 0);
            qb_elem_chain_avx2_only(avx == 2); /* the AVX2 step loops */
            qb_graph *opt = pattern_graph(variant, 1, N);
            assert_true(run(opt, x) >= 1);
            assert_memory_equal(opt->tensors[opt->outputs[0]]->data, ref->tensors[ref->outputs[0]]->data, sizeof x);
            qb_graph_free(opt);
        }
        qb_elem_chain_avx512(1);
        qb_elem_chain_avx2_only(0);
        qb_graph_free(ref);
    }
}

/* What must not fuse: a value read twice outside a pattern, a non-constant
 * second operand, a broadcast that widens the input (single nodes still
 * run as one-step chains: the same outputs). */
static qb_graph *nofuse_graph(int fuse)
{
    qb_graph *g = qb_graph_new("nofuse");
    g->opset = 13;
    g->no_elem_fusion = !fuse;
    add_t(g, "x", 4, (int64_t[]){1, 2, 3, 4}, NULL);
    float wide[48];
    for (int i = 0; i < 48; i++)
        wide[i] = 0.125f * (float)i;
    add_t(g, "wide", 4, (int64_t[]){2, 2, 3, 4}, wide);
    add_n(g, "Relu", "x", "r");
    add_n(g, "Sigmoid", "r", "s1");
    add_n(g, "Tanh", "r", "s2");       /* r has two readers, not a pattern */
    add_n(g, "Add", "s1,s2", "a");     /* two runtime inputs */
    add_n(g, "Add", "a,wide", "y");    /* widens [1,..] to [2,..] */
    set_output(g, "y");
    return g;
}

static void test_not_fused(void **st)
{
    (void)st;
    float x[24];
    for (int i = 0; i < 24; i++)
        x[i] = (float)i - 11.5f;
    qb_graph *ref = nofuse_graph(0), *opt = nofuse_graph(1);
    assert_int_equal(run(ref, x), 0);
    assert_int_equal(run(opt, x), 0);
    assert_memory_equal(opt->tensors[opt->outputs[0]]->data, ref->tensors[ref->outputs[0]]->data, 48 * sizeof(float));
    qb_graph_free(ref);
    qb_graph_free(opt);
}

/* A conv of cout x (cin/group) x k x k with seeded weights and bias, pads k/2. */
static void conv(qb_graph *g, const char *in, const char *out, int cin, int cout, int k, int group, int tag)
{
    int cg = cin / group, nw = cout * cg * k * k;
    float *w = malloc((size_t)nw * sizeof *w), *b = malloc((size_t)cout * sizeof *b);
    for (int i = 0; i < nw; i++)
        w[i] = (float)(((i + tag) * 29) % 17) / 16.0f - 0.5f;
    for (int i = 0; i < cout; i++)
        b[i] = 0.05f * (float)i - 0.2f;
    char wn[16], bn[16], ins[64];
    snprintf(wn, sizeof wn, "w%d", tag);
    snprintf(bn, sizeof bn, "b%d", tag);
    add_t(g, wn, 4, (int64_t[]){cout, cg, k, k}, w);
    add_t(g, bn, 1, (int64_t[]){cout}, b);
    free(w);
    free(b);
    snprintf(ins, sizeof ins, "%s,%s,%s", in, wn, bn);
    qb_node *n = add_n(g, "Conv", ins, out);
    attr_ints4(n, "pads", 4, k / 2);
    attr_i(n, "group", group);
}

/* conv 3x3 -> affine + HardSwish chain (per-channel scale) -> depthwise
 * 3x3 -> SiLU chain with a per-channel bias -> grouped 3x3 -> chain ->
 * 1x1 conv -> output. */
static qb_graph *conv_chain_graph(int nchw_only)
{
    qb_graph *g = qb_graph_new("fuse-nhwc");
    g->opset = 13;
    g->nchw_only = nchw_only;
    add_t(g, "x", 4, (int64_t[]){1, 3, 11, 9}, NULL);
    scalar(g, "three", 3.0f);
    scalar(g, "zero", 0.0f);
    scalar(g, "six", 6.0f);
    per_channel(g, "pc8", 3, (int64_t[]){8, 1, 1}, 8, 0.9f);
    per_channel(g, "pc8b", 4, (int64_t[]){1, 8, 1, 1}, 8, -0.1f);
    conv(g, "x", "c1", 3, 8, 3, 1, 1);
    add_n(g, "Mul", "c1,pc8", "a1");
    add_n(g, "Add", "a1,three", "h1");
    add_n(g, "Clip", "h1,zero,six", "h2");
    add_n(g, "Mul", "a1,h2", "h3");
    add_n(g, "Div", "h3,six", "h4");
    conv(g, "h4", "c2", 8, 8, 3, 8, 2);
    add_n(g, "Add", "c2,pc8b", "s0");
    add_n(g, "Sigmoid", "s0", "s1");
    add_n(g, "Mul", "s0,s1", "s2");
    conv(g, "s2", "c3", 8, 8, 3, 2, 3);
    add_n(g, "Relu", "c3", "r3"); /* fused into the conv */
    add_n(g, "Sub", "pc8,r3", "q1");
    conv(g, "q1", "y", 8, 4, 1, 1, 4);
    set_output(g, "y");
    return g;
}

/* y against want within 1e-5 relative (1e-5 absolute below 1): float
 * paths that sum in another order; the first element outside fails,
 * printed with what the reference is. */
static void expect_close(const float *y, const float *want, int64_t n, const char *ref)
{
    for (int64_t i = 0; i < n; i++)
        if (!(fabsf(y[i] - want[i]) <= 1e-5f * fmaxf(1.0f, fabsf(want[i])))) {
            print_error("element %lld: %.9g, %s %.9g\n", (long long)i, y[i], ref, want[i]);
            fail();
        }
}

static void test_nhwc_chains(void **st)
{
    (void)st;
    float x[3 * 11 * 9];
    for (int i = 0; i < 3 * 11 * 9; i++)
        x[i] = (float)((i * 13) % 31) / 15.0f - 1.0f;
    qb_graph *ref = conv_chain_graph(1);
    run(ref, x);
    const float *want = ref->tensors[ref->outputs[0]]->data;
    float first[4 * 11 * 9];
    for (int threads = 1; threads <= 3; threads++) {
        qb_gpar_set_threads(threads);
        qb_graph *g = conv_chain_graph(0);
        g->no_conv_epilogue = threads == 3; /* the chains as their own passes too */
        run(g, x);
        /* conv 1: out NHWC; 2 (depthwise), 3 (two groups): in and out; 4: in */
        int bits[4] = {2, 3, 3, 1}, k = 0;
        if (g->no_conv_epilogue) /* the first chain is the last reader of c1: it writes over it */
            assert_ptr_equal(g->tensors[qb_graph_find(g, "h4")]->data, g->tensors[qb_graph_find(g, "c1")]->data);
        else /* conv 1 runs it in its epilogue and writes h4 */
            for (int i = 0; i < g->nnodes; i++)
                if (g->nodes[i].out[0] == qb_graph_find(g, "c1"))
                    assert_int_equal(g->nodes[i].write_to, qb_graph_find(g, "h4"));
        for (int i = 0; i < g->nnodes; i++)
            if (!strcmp(g->nodes[i].op, "Conv"))
                assert_int_equal(g->nodes[i].nhwc, bits[k++]);
        const float *y = g->tensors[g->outputs[0]]->data;
        expect_close(y, want, 4 * 11 * 9, "NCHW-only");
        if (threads == 1)
            memcpy(first, y, sizeof first);
        else
            assert_memory_equal(y, first, sizeof first);
        qb_graph_free(g);
    }
    qb_gpar_set_threads(1);
    qb_graph_free(ref);
}

static void attr_ints(qb_node *n, const char *name, int k, const int64_t *v)
{
    attr_ints4(n, name, k, 0);
    for (int i = 0; i < k; i++)
        n->attr[n->nattr - 1].ints[i] = v[i];
}

/* conv -> MaxPool 2x2/2 -> conv 1x1 -> residual Add (with the pool's
 * output) -> AveragePool 3x3 pads 1 count_include_pad -> conv -> Concat
 * (with the average pool's output) -> conv 1x1 -> GlobalAveragePool, and
 * a MaxPool of that conv's NHWC output writing the NCHW graph output y2. */
static qb_graph *pool_graph(int nchw_only)
{
    qb_graph *g = qb_graph_new("nhwc-ops");
    g->opset = 13;
    g->nchw_only = nchw_only;
    add_t(g, "x", 4, (int64_t[]){2, 3, 13, 11}, NULL);
    conv(g, "x", "c1", 3, 8, 3, 1, 11);
    qb_node *mp = add_n(g, "MaxPool", "c1", "m1");
    attr_ints(mp, "kernel_shape", 2, (int64_t[]){2, 2});
    attr_ints(mp, "strides", 2, (int64_t[]){2, 2});
    conv(g, "m1", "c2", 8, 8, 1, 1, 12);
    add_n(g, "Add", "c2,m1", "res");
    qb_node *ap = add_n(g, "AveragePool", "res", "a1");
    attr_ints(ap, "kernel_shape", 2, (int64_t[]){3, 3});
    attr_ints(ap, "pads", 4, (int64_t[]){1, 1, 1, 1});
    attr_i(ap, "count_include_pad", 1);
    conv(g, "a1", "c3", 8, 6, 3, 1, 13);
    qb_node *cat = add_n(g, "Concat", "c3,a1", "cat");
    attr_i(cat, "axis", 1);
    conv(g, "cat", "c4", 14, 5, 1, 1, 14);
    add_n(g, "GlobalAveragePool", "c4", "y");
    qb_node *mp2 = add_n(g, "MaxPool", "c4", "y2"); /* NHWC in, NCHW out (a graph output) */
    attr_ints(mp2, "kernel_shape", 2, (int64_t[]){3, 2});
    attr_ints(mp2, "strides", 2, (int64_t[]){2, 1});
    set_output(g, "y");
    set_output(g, "y2");
    return g;
}

static void test_nhwc_ops(void **st)
{
    (void)st;
    float x[2 * 3 * 13 * 11];
    for (int i = 0; i < 2 * 3 * 13 * 11; i++)
        x[i] = (float)((i * 7) % 29) / 14.0f - 1.0f;
    qb_graph *ref = pool_graph(1);
    run(ref, x);
    float first[10];
    for (int threads = 1; threads <= 3; threads++) {
        qb_gpar_set_threads(threads);
        qb_graph *g = pool_graph(0);
        run(g, x);
        int bits[4] = {2, 3, 3, 3}, k = 0;
        for (int i = 0; i < g->nnodes; i++)
            if (!strcmp(g->nodes[i].op, "Conv"))
                assert_int_equal(g->nodes[i].nhwc, bits[k++]);
        for (int o = 0; o < 2; o++) {
            const qb_tensor *yt = g->tensors[g->outputs[o]];
            const float *y = yt->data, *w = ref->tensors[ref->outputs[o]]->data;
            int cnt = (int)qb_tensor_count(yt);
            for (int i = 0; i < cnt; i++)
                if (!(fabsf(y[i] - w[i]) <= 1e-5f * fmaxf(1.0f, fabsf(w[i])))) {
                    print_error("output %d element %d: %.9g, NCHW-only %.9g\n", o, i, y[i], w[i]);
                    fail();
                }
        }
        const float *y = g->tensors[g->outputs[0]]->data;
        if (threads == 1)
            memcpy(first, y, sizeof first);
        else
            assert_memory_equal(y, first, sizeof first);
        qb_graph_free(g);
    }
    qb_gpar_set_threads(1);
    qb_graph_free(ref);
}

/* Quantized convs (int8-channel) with Relu -> MaxPool 2x2 -> conv (another
 * input grid) -> MaxPool 3x3/2 pads 1 -> conv 1x1 -> output; the second
 * conv's output also through a MaxPool 2x2/1 to the float output y2. */
/* Give the Convs of g, in node order, int8 qspecs with the grids in_s/in_z -> out_s/out_z (Conv k: index
 * k); Conv tensor_k (or none: -1) per tensor, the others per channel. */
static void quantize_convs(qb_graph *g, const float *in_s, const int32_t *in_z, const float *out_s,
                           const int32_t *out_z, int tensor_k)
{
    for (int i = 0, k = 0; i < g->nnodes; i++)
        if (!strcmp(g->nodes[i].op, "Conv")) {
            qb_node *n = &g->nodes[i];
            n->q = qb_qspec_new(k == tensor_k ? QB_PREC_INT8_TENSOR : QB_PREC_INT8_CHANNEL);
            n->q->in_scale = in_s[k], n->q->in_zero = in_z[k], n->q->out_scale = out_s[k], n->q->out_zero = out_z[k];
            k++;
        }
}

static qb_graph *q_pool_graph(int no_links, int ch)
{
    qb_graph *g = qb_graph_new("int8-pool");
    g->opset = 13;
    g->no_int8_links = no_links;
    add_t(g, "x", 4, (int64_t[]){1, 3, 12, 10}, NULL);
    conv(g, "x", "c1", 3, ch, 3, 1, 21);
    add_n(g, "Relu", "c1", "r1");
    qb_node *mp = add_n(g, "MaxPool", "r1", "m1");
    attr_ints(mp, "kernel_shape", 2, (int64_t[]){2, 2});
    attr_ints(mp, "strides", 2, (int64_t[]){2, 2});
    conv(g, "m1", "c2", ch, ch, 3, 1, 22);
    qb_node *mp2 = add_n(g, "MaxPool", "c2", "m2");
    attr_ints(mp2, "kernel_shape", 2, (int64_t[]){3, 3});
    attr_ints(mp2, "strides", 2, (int64_t[]){2, 2});
    attr_ints(mp2, "pads", 4, (int64_t[]){1, 1, 1, 1});
    conv(g, "m2", "y", ch, 4, 1, 1, 23);
    qb_node *mp3 = add_n(g, "MaxPool", "c2", "y2"); /* int8 in, float NCHW out (a graph output) */
    attr_ints(mp3, "kernel_shape", 2, (int64_t[]){2, 2});
    set_output(g, "y");
    set_output(g, "y2");
    /* grids: conv 1 out 0.021/-128 (after Relu), conv 2 in 0.0234/-128: the pool maps between them */
    const float in_s[3] = {0.015f, 0.0234f, 0.05f}, out_s[3] = {0.021f, 0.043f, 0.06f};
    const int32_t in_z[3] = {3, -128, 11}, out_z[3] = {-128, 5, -2};
    quantize_convs(g, in_s, in_z, out_s, out_z, -1);
    return g;
}

/* With 8, 32 and 64 channels (32: the pool 2x2/2 pairs pixels, its output 5
 * wide leaves one pixel alone; conv 2's window rows of 96 and 192 bytes:
 * im2col's 32-byte copies, unrolled for 96; AVX-512 off on 3 threads). */
static void test_int8_maxpool(void **st)
{
    (void)st;
    float x[3 * 12 * 10];
    for (int i = 0; i < 3 * 12 * 10; i++)
        x[i] = (float)((i * 11) % 37) / 18.0f - 1.0f;
    for (int ch = 8; ch <= 64; ch = ch == 8 ? 32 : 2 * ch) {
        qb_graph *ref = q_pool_graph(1, ch);
        run(ref, x);
        for (int threads = 1; threads <= 3; threads++) {
            qb_gpar_set_threads(threads);
            qb_nhwc_avx512(threads != 3);
            qb_conv_im2col_avx512(threads != 2); /* conv 2's window rows of 24 and 96 bytes: AVX-512 copies */
            qb_graph *g = q_pool_graph(0, ch);
            run(g, x);
            /* conv 1: float input quantized once (16), int8 NHWC out (2|8); conv 2: int8 in and out (1|2|4|8);
             * conv 3: int8 NHWC in (1|4) */
            int bits[3] = {26, 15, 5}, k = 0;
            for (int i = 0; i < g->nnodes; i++)
                if (!strcmp(g->nodes[i].op, "Conv"))
                    assert_int_equal(g->nodes[i].nhwc, bits[k++]);
            assert_memory_equal(g->tensors[g->outputs[0]]->data, ref->tensors[ref->outputs[0]]->data,
                                4 * 3 * 3 * sizeof(float));
            assert_memory_equal(g->tensors[g->outputs[1]]->data, ref->tensors[ref->outputs[1]]->data,
                                (size_t)ch * 5 * 4 * sizeof(float));
            qb_graph_free(g);
        }
        qb_gpar_set_threads(1);
        qb_nhwc_avx512(1);
        qb_conv_im2col_avx512(1);
        qb_graph_free(ref);
    }
}

/* x 2x3x12x10 -> conv 3 -> ch (Relu) -> pool (MaxPool 2x2/2, or kind 1:
 * AveragePool 3x3/2 pads 1) -> Flatten -> Gemm (7 outputs, Relu) -> y;
 * kind 2: the MaxPool, with the Flatten's output a graph output too. The
 * conv and the Gemm int8 per channel, in grids the pool maps between. */
static qb_graph *q_flatten_graph(int no_links, int ch, int kind)
{
    qb_graph *g = qb_graph_new("int8-flatten");
    g->opset = 13;
    g->no_int8_links = no_links;
    add_t(g, "x", 4, (int64_t[]){2, 3, 12, 10}, NULL);
    conv(g, "x", "c1", 3, ch, 3, 1, 31);
    add_n(g, "Relu", "c1", "r1");
    qb_node *mp = add_n(g, kind == 1 ? "AveragePool" : "MaxPool", "r1", "m1");
    attr_ints(mp, "kernel_shape", 2, kind == 1 ? (int64_t[]){3, 3} : (int64_t[]){2, 2});
    attr_ints(mp, "strides", 2, (int64_t[]){2, 2});
    if (kind == 1)
        attr_ints(mp, "pads", 4, (int64_t[]){1, 1, 1, 1});
    add_n(g, "Flatten", "m1", "f1");
    int64_t k = (int64_t)ch * 6 * 5, nw = 7 * k;
    float *w = malloc((size_t)nw * sizeof *w), b[7];
    for (int64_t i = 0; i < nw; i++)
        w[i] = (float)((i * 13) % 23) / 22.0f - 0.5f;
    for (int i = 0; i < 7; i++)
        b[i] = 0.1f * (float)i - 0.3f;
    add_t(g, "gw", 2, (int64_t[]){7, k}, w);
    add_t(g, "gb", 1, (int64_t[]){7}, b);
    free(w);
    attr_i(add_n(g, "Gemm", "f1,gw,gb", "gm"), "transB", 1);
    add_n(g, "Relu", "gm", "y");
    set_output(g, "y");
    if (kind == 2)
        set_output(g, "f1");
    quantize_convs(g, (const float[]){0.016f}, (const int32_t[]){3}, (const float[]){0.021f},
                   (const int32_t[]){-128}, -1);
    for (int i = 0; i < g->nnodes; i++)
        if (!strcmp(g->nodes[i].op, "Gemm")) {
            qb_qspec *q = g->nodes[i].q = qb_qspec_new(QB_PREC_INT8_CHANNEL);
            q->in_scale = 0.0234f, q->in_zero = -120, q->out_scale = 0.09f, q->out_zero = -128;
        }
    return g;
}

/* An int8 pool into Flatten -> Gemm: the pool writes int8 NHWC in the
 * Gemm's grid and the Gemm reads it with its weights' columns permuted
 * (the Flatten not run), bit-identical to the float path between them;
 * 8 and 20 channels, 1-3 threads, AVX-512 on and off. */
static void test_int8_flatten_gemm(void **st)
{
    (void)st;
    float x[2 * 3 * 12 * 10];
    for (int i = 0; i < 2 * 3 * 12 * 10; i++)
        x[i] = (float)((i * 7) % 41) / 20.0f - 1.0f;
    for (int kind = 0; kind <= 2; kind++)
        for (int ch = 8; ch <= 20; ch += 12) {
            qb_graph *ref = q_flatten_graph(1, ch, kind);
            run(ref, x);
            for (int threads = 1; threads <= 3; threads++) {
                qb_gpar_set_threads(threads);
                qb_nhwc_avx512(threads != 3);
                qb_graph *g = q_flatten_graph(0, ch, kind);
                run(g, x);
                for (int i = 0; i < g->nnodes; i++)
                    if (!strcmp(g->nodes[i].op, "Flatten"))
                        assert_int_equal(g->nodes[i].fused_into >= 0, kind != 2);
                assert_memory_equal(g->tensors[g->outputs[0]]->data, ref->tensors[ref->outputs[0]]->data,
                                    2 * 7 * sizeof(float));
                if (kind == 2)
                    assert_memory_equal(g->tensors[g->outputs[1]]->data, ref->tensors[ref->outputs[1]]->data,
                                        (size_t)2 * ch * 30 * sizeof(float));
                qb_graph_free(g);
            }
            qb_gpar_set_threads(1);
            qb_nhwc_avx512(1);
            qb_graph_free(ref);
        }
}

/* The start of the pool graphs below: input x 2x3x11x9 -> conv 3 -> 70
 * channels (3x3, weights seeded with seed) -> Relu r1. int8 (quant)
 * against no_int8_links, else against nchw_only (ref). */
static qb_graph *pool_graph_begin(const char *name, int quant, int ref, int seed)
{
    qb_graph *g = qb_graph_new(name);
    g->opset = 13;
    if (quant)
        g->no_int8_links = ref;
    else
        g->nchw_only = ref;
    add_t(g, "x", 4, (int64_t[]){2, 3, 11, 9}, NULL);
    conv(g, "x", "c1", 3, 70, 3, 1, seed);
    add_n(g, "Relu", "c1", "r1");
    return g;
}

/* Their end: outputs y and y2, and for int8 the three convs quantized. */
static qb_graph *pool_graph_end(qb_graph *g, int quant)
{
    set_output(g, "y");
    set_output(g, "y2");
    if (quant) {
        const float in_s[3] = {0.016f, 0.019f, 0.05f}, out_s[3] = {0.021f, 0.043f, 0.06f};
        const int32_t in_z[3] = {2, -128, 7}, out_z[3] = {-128, 5, -2};
        quantize_convs(g, in_s, in_z, out_s, out_z, -1);
    }
    return g;
}

/* A pool graph (build(quant, ref)) on x, float and int8, AVX-512 on and
 * off, 1-3 threads, against its reference build(quant, 1): int8 outputs
 * bit-identical, fp32 within tolerance (the convs' sums run in another
 * order); count: the elements of outputs y and y2; int8_conv_bits (NULL:
 * not checked): the nhwc flags of the int8 graph's three Convs. */
static void check_pool_graph(qb_graph *(*build)(int quant, int ref), const float *x, const int64_t count[2],
                             const int *int8_conv_bits)
{
    for (int quant = 0; quant <= 1; quant++) {
        qb_graph *ref = build(quant, 1);
        run(ref, x);
        for (int avx512 = 0; avx512 <= 1; avx512++) {
            qb_nhwc_avx512(avx512);
            for (int threads = 1; threads <= 3; threads++) {
                qb_gpar_set_threads(threads);
                qb_graph *g = build(quant, 0);
                run(g, x);
                if (quant && int8_conv_bits)
                    for (int i = 0, k = 0; i < g->nnodes; i++)
                        if (!strcmp(g->nodes[i].op, "Conv"))
                            assert_int_equal(g->nodes[i].nhwc, int8_conv_bits[k++]);
                for (int o = 0; o < 2; o++) {
                    const float *y = g->tensors[g->outputs[o]]->data, *w = ref->tensors[ref->outputs[o]]->data;
                    for (int64_t i = 0; i < count[o]; i++)
                        if (quant ? memcmp(&y[i], &w[i], sizeof *y)
                                  : !(fabsf(y[i] - w[i]) <= 1e-5f * fmaxf(1.0f, fabsf(w[i])))) {
                            print_error("int8 %d avx512 %d threads %d output %d element %d: %.9g, reference %.9g\n",
                                        quant, avx512, threads, o, (int)i, y[i], w[i]);
                            fail();
                        }
                }
                qb_graph_free(g);
            }
        }
        qb_graph_free(ref);
    }
    qb_nhwc_avx512(1);
    qb_gpar_set_threads(1);
}

/* conv 3 -> 70 channels (Relu) -> MaxPool 3x3/2 pads 1 -> conv 1x1 ->
 * MaxPool 2x2 dilations 2 pads (0, 1, 1, 0) -> conv 1x1 -> output y; the
 * first conv's output also through a MaxPool 3x2/(1, 2) to the float NCHW
 * output y2. 70 channels: whole vectors and a tail at every width. int8
 * (quant) against no_int8_links, else against nchw_only. */
static qb_graph *wide_pool_graph(int quant, int ref)
{
    qb_graph *g = pool_graph_begin("wide-pools", quant, ref, 31);
    qb_node *mp = add_n(g, "MaxPool", "r1", "m1");
    attr_ints(mp, "kernel_shape", 2, (int64_t[]){3, 3});
    attr_ints(mp, "strides", 2, (int64_t[]){2, 2});
    attr_ints(mp, "pads", 4, (int64_t[]){1, 1, 1, 1});
    conv(g, "m1", "c2", 70, 70, 1, 1, 32);
    qb_node *mp2 = add_n(g, "MaxPool", "c2", "m2");
    attr_ints(mp2, "kernel_shape", 2, (int64_t[]){2, 2});
    attr_ints(mp2, "dilations", 2, (int64_t[]){2, 2});
    attr_ints(mp2, "pads", 4, (int64_t[]){0, 1, 1, 0});
    conv(g, "m2", "y", 70, 5, 1, 1, 33);
    qb_node *mp3 = add_n(g, "MaxPool", "r1", "y2"); /* NHWC (int8) in, float NCHW out (a graph output) */
    attr_ints(mp3, "kernel_shape", 2, (int64_t[]){3, 2});
    attr_ints(mp3, "strides", 2, (int64_t[]){1, 2});
    return pool_graph_end(g, quant);
}

static void test_maxpool_wide(void **st)
{
    (void)st;
    float x[2 * 3 * 11 * 9];
    for (int i = 0; i < 2 * 3 * 11 * 9; i++)
        x[i] = (float)((i * 17) % 41) / 20.0f - 1.0f;
    const int64_t count[2] = {2 * 5 * 3 * 3, 2 * 70 * 9 * 4};
    check_pool_graph(wide_pool_graph, x, count, NULL);
}

/* conv 3 -> 70 channels (Relu) -> AveragePool 3x3/2 pads 1 -> conv 1x1 ->
 * AveragePool 3x2/(3, 2) (PP-OCR rec's) -> conv 1x1 -> output y; the first
 * conv's output also through an AveragePool 2x2 pads (0, 1, 1, 0)
 * count_include_pad to the float NCHW output y2. int8 (quant): the pools
 * read int8 and write int8 (into the next conv's grid) or floats, against
 * no_int8_links; fp32 against nchw_only. */
static qb_graph *avg_pool_graph(int quant, int ref)
{
    qb_graph *g = pool_graph_begin("avg-pools", quant, ref, 41);
    qb_node *ap = add_n(g, "AveragePool", "r1", "a1");
    attr_ints(ap, "kernel_shape", 2, (int64_t[]){3, 3});
    attr_ints(ap, "strides", 2, (int64_t[]){2, 2});
    attr_ints(ap, "pads", 4, (int64_t[]){1, 1, 1, 1});
    conv(g, "a1", "c2", 70, 70, 1, 1, 42);
    qb_node *ap2 = add_n(g, "AveragePool", "c2", "a2");
    attr_ints(ap2, "kernel_shape", 2, (int64_t[]){3, 2});
    attr_ints(ap2, "strides", 2, (int64_t[]){3, 2});
    conv(g, "a2", "y", 70, 5, 1, 1, 43);
    qb_node *ap3 = add_n(g, "AveragePool", "r1", "y2"); /* NHWC (int8) in, float NCHW out (a graph output) */
    attr_ints(ap3, "kernel_shape", 2, (int64_t[]){2, 2});
    attr_ints(ap3, "pads", 4, (int64_t[]){0, 1, 1, 0});
    attr_i(ap3, "count_include_pad", 1);
    return pool_graph_end(g, quant);
}

/* The AveragePools above on NHWC tensors, float and int8 (int8 links
 * through them: convs 2 and 3 read int8, conv 1's output stays int8),
 * AVX-512 on and off, 1-3 threads: int8 bit-identical to dequantize,
 * float average, quantize; fp32 within tolerance of NCHW-only (the convs'
 * sums run in another order). */
static void test_avgpool_int8(void **st)
{
    (void)st;
    float x[2 * 3 * 11 * 9];
    for (int i = 0; i < 2 * 3 * 11 * 9; i++)
        x[i] = (float)((i * 13) % 43) / 21.0f - 1.0f;
    const int64_t count[2] = {2 * 5 * 2 * 2, 2 * 70 * 11 * 9};
    /* conv 1: int8 NHWC out; conv 2: int8 link in, out; conv 3: int8 link in */
    const int bits[3] = {26, 15, 5};
    check_pool_graph(avg_pool_graph, x, count, bits);
}

/* Max and Min with a constant in a chain, either operand first (the NaN
 * and signed-zero rules differ: the first input's NaN stays, a later NaN
 * wins; of equal values the first stays): x -> Max(-0, .) -> Min(k, .)
 * (per channel, one channel NaN) -> Max(., -0) -> Min(., k2) (per
 * channel) on signed zeros, infinities and NaNs, bit-identical to the
 * unfused nodes (ops_minmax.c). */
static void test_minmax_bits(void **st)
{
    (void)st;
    const float specials[8] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, -NAN, 0.25f, -3.5f};
    float x[2 * 3 * 40];
    for (int i = 0; i < 2 * 3 * 40; i++)
        x[i] = i % 3 ? specials[i % 8] : (float)((i * 7) % 23) / 5.0f - 2.0f;
    float want[2 * 3 * 40];
    for (int fuse = 0; fuse < 2; fuse++) {
        qb_graph *g = qb_graph_new("minmax");
        g->opset = 13;
        g->no_elem_fusion = !fuse;
        add_t(g, "x", 3, (int64_t[]){2, 3, 40}, NULL);
        scalar(g, "z", -0.0f);
        add_t(g, "k", 2, (int64_t[]){3, 1}, (const float[]){1.5f, NAN, -0.0f});
        add_t(g, "k2", 2, (int64_t[]){3, 1}, (const float[]){2.0f, NAN, 0.0f});
        add_n(g, "Max", "z,x", "a");
        add_n(g, "Min", "k,a", "b");
        add_n(g, "Max", "b,z", "c");
        add_n(g, "Min", "c,k2", "y");
        set_output(g, "y");
        assert_int_equal(run(g, x), fuse ? 3 : 0);
        if (!fuse)
            memcpy(want, g->tensors[g->outputs[0]]->data, sizeof want);
        else
            assert_memory_equal(g->tensors[g->outputs[0]]->data, want, sizeof want);
        qb_graph_free(g);
    }
}

/* openWakeWord's block, conv -> LeakyRelu -> Max(., k) -> conv, with a
 * per-channel Min(k, .) and a MaxPool on the way: conv 3 -> 8 ->
 * LeakyRelu -> Max(., 0.1) -> conv 8 -> 8 -> Min(k, .) -> Max(., -0.2) ->
 * MaxPool 3x3/2 pads 1 -> conv 1x1 -> output. fp32: fused against unfused
 * (the layouts follow: within tolerance); int8 (quant): the chains as
 * tables (the second into the last conv's grid, the pool taking the int8
 * maximum as it is) against no_int8_links, bit-identical. */
static qb_graph *minmax_graph(int quant, int ref)
{
    qb_graph *g = qb_graph_new("minmax-convs");
    g->opset = 13;
    if (quant)
        g->no_int8_links = ref;
    else
        g->no_elem_fusion = ref;
    add_t(g, "x", 4, (int64_t[]){1, 3, 13, 9}, NULL);
    conv(g, "x", "c1", 3, 8, 3, 1, 41);
    qb_node *lr = add_n(g, "LeakyRelu", "c1", "l1");
    attr_f(lr, "alpha", 0.2f);
    scalar(g, "k1", 0.1f);
    add_n(g, "Max", "l1,k1", "m1");
    conv(g, "m1", "c2", 8, 8, 3, 1, 42);
    per_channel(g, "k2", 3, (int64_t[]){8, 1, 1}, 8, 0.3f);
    add_n(g, "Min", "k2,c2", "n2");
    scalar(g, "k3", -0.2f);
    add_n(g, "Max", "n2,k3", "m2");
    qb_node *mp = add_n(g, "MaxPool", "m2", "p2");
    attr_ints(mp, "kernel_shape", 2, (int64_t[]){3, 3});
    attr_ints(mp, "strides", 2, (int64_t[]){2, 2});
    attr_ints(mp, "pads", 4, (int64_t[]){1, 1, 1, 1});
    conv(g, "p2", "y", 8, 5, 1, 1, 43);
    set_output(g, "y");
    if (quant) {
        const float in_s[3] = {0.016f, 0.011f, 0.009f}, out_s[3] = {0.03f, 0.027f, 0.05f};
        const int32_t in_z[3] = {2, -100, -90}, out_z[3] = {-3, 6, -2};
        quantize_convs(g, in_s, in_z, out_s, out_z, -1);
    }
    return g;
}

static void test_minmax_chains(void **st)
{
    (void)st;
    float x[3 * 13 * 9];
    for (int i = 0; i < 3 * 13 * 9; i++)
        x[i] = (float)((i * 19) % 43) / 21.0f - 1.0f;
    const int64_t count = 5 * 7 * 5;
    for (int quant = 0; quant <= 1; quant++) {
        qb_graph *ref = minmax_graph(quant, 1);
        int ref_fused = run(ref, x);
        const float *w = ref->tensors[ref->outputs[0]]->data;
        float first[5 * 7 * 5];
        for (int r = 0; r < 5; r++) { /* 1-3 threads, then the AVX2 loops (int8: lut1_avx2's tables) on 2 and 3 */
            const int threads = r < 3 ? r + 1 : r - 1;
            qb_gpar_set_threads(threads);
            qb_elem_chain_avx2_only(r >= 3);
            qb_graph *g = minmax_graph(quant, 0);
            /* Max into LeakyRelu, Max into Min; both chains also into their convs (epilogues; int8: their
             * tables on the codes each conv wrote) */
            assert_int_equal(run(g, x), 4);
            if (!quant)
                assert_int_equal(ref_fused, 0);
            const float *y = g->tensors[g->outputs[0]]->data;
            for (int64_t i = 0; i < count; i++)
                if (quant ? memcmp(&y[i], &w[i], sizeof *y) : !(fabsf(y[i] - w[i]) <= 1e-5f * fmaxf(1.0f, fabsf(w[i])))) {
                    print_error("int8 %d threads %d avx2 %d element %d: %.9g, reference %.9g\n", quant, threads, r >= 3,
                                (int)i, y[i], w[i]);
                    fail();
                }
            if (r == 0)
                memcpy(first, y, sizeof first);
            else
                assert_memory_equal(y, first, sizeof first);
            if (quant) { /* the chains run on int8: conv 1 int8 NHWC out (2|8); conv 2 int8 in and out (1|2|4|8);
                          * conv 3 reads the MaxPool's int8 (1|4) */
                int want[3] = {10, 15, 5}, k = 0;
                for (int i = 0; i < g->nnodes; i++)
                    if (!strcmp(g->nodes[i].op, "Conv")) {
                        assert_int_equal(g->nodes[i].nhwc & want[k], want[k]);
                        k++;
                    }
            }
            qb_graph_free(g);
        }
        qb_elem_chain_avx2_only(0);
        qb_graph_free(ref);
    }
    qb_gpar_set_threads(1);
}

/* Quantized convs reading floats: a first layer on a 3-channel image
 * (stride 2, batch 2), a sigmoid chain (also read by a MaxPool to a float
 * output), a grouped dilated conv reading that NHWC float tensor (both
 * quantize the image once, then im2col bytes), a conv linked in int8, and a GlobalAveragePool reading its int8
 * output; against the graph without int8 links (each conv quantizes its
 * im2col copy, dequantized tensors between layers): bit-identical. */
static qb_graph *q_first_graph(int no_links)
{
    qb_graph *g = qb_graph_new("int8-first");
    g->opset = 13;
    g->no_int8_links = no_links;
    add_t(g, "x", 4, (int64_t[]){2, 3, 13, 11}, NULL);
    conv(g, "x", "c1", 3, 8, 3, 1, 31);
    attr_ints(&g->nodes[g->nnodes - 1], "strides", 2, (int64_t[]){2, 2});
    add_n(g, "Sigmoid", "c1", "s1");
    conv(g, "s1", "c2", 8, 8, 3, 2, 32);
    attr_ints(&g->nodes[g->nnodes - 1], "dilations", 2, (int64_t[]){2, 1});
    add_n(g, "Relu", "c2", "r2");
    conv(g, "r2", "c3", 8, 6, 3, 1, 33);
    add_n(g, "Relu", "c3", "r3");
    add_n(g, "GlobalAveragePool", "r3", "y");
    qb_node *mp = add_n(g, "MaxPool", "s1", "y2"); /* a float reader of the chain: conv 2 reads its floats */
    attr_ints(mp, "kernel_shape", 2, (int64_t[]){2, 2});
    set_output(g, "y");
    set_output(g, "y2");
    const float in_s[3] = {0.0078f, 0.0041f, 0.017f}, out_s[3] = {0.023f, 0.017f, 0.031f};
    const int32_t in_z[3] = {-3, -128, -128}, out_z[3] = {7, -128, -128};
    quantize_convs(g, in_s, in_z, out_s, out_z, 1);
    return g;
}

static void test_int8_first(void **st)
{
    (void)st;
    float x[2 * 3 * 13 * 11];
    for (int i = 0; i < 2 * 3 * 13 * 11; i++)
        x[i] = (float)((i * 11) % 41) / 20.0f - 1.0f;
    qb_graph *ref = q_first_graph(1);
    run(ref, x);
    for (int threads = 1; threads <= 3; threads++) {
        qb_gpar_set_threads(threads);
        qb_conv_im2col_avx512(threads != 2); /* the byte-permute im2col of the padded copy, and without */
        qb_graph *g = q_first_graph(0);
        run(g, x);
        /* conv 1: quantized once (16), NHWC float out (2); conv 2: NHWC float in quantized once, int8 out
         * (1|2|8|16); conv 3: int8 in, int8 out to the pool (1|2|4|8) */
        int bits[3] = {18, 27, 15}, k = 0;
        for (int i = 0; i < g->nnodes; i++)
            if (!strcmp(g->nodes[i].op, "Conv"))
                assert_int_equal(g->nodes[i].nhwc, bits[k++]);
        assert_memory_equal(g->tensors[g->outputs[0]]->data, ref->tensors[ref->outputs[0]]->data,
                            2 * 6 * sizeof(float));
        qb_graph_free(g);
    }
    qb_gpar_set_threads(1);
    qb_conv_im2col_avx512(1);
    qb_graph_free(ref);
}

/* First layers on a one-channel image (the padded int8 copy and 16-byte
 * window-row copies of ops_conv.c): a 3x3 conv with pads 1 (20 output
 * channels: the int8 GlobalAveragePool's 16-channel AVX-512 steps and a
 * tail) and a 1x5 conv, stride (1, 2), pads (0, 2) (window rows of 5
 * bytes in rows of 5: a 16-byte store reaches rows ahead); against the
 * graph without int8 links: bit-identical. */
static qb_graph *q_first1_graph_at(int no_links, float gap_scale)
{
    qb_graph *g = qb_graph_new("int8-first1");
    g->opset = 13;
    g->no_int8_links = no_links;
    add_t(g, "x", 4, (int64_t[]){2, 1, 9, 13}, NULL);
    conv(g, "x", "c1", 1, 20, 3, 1, 41);
    add_n(g, "Relu", "c1", "r1");
    add_n(g, "GlobalAveragePool", "r1", "y");
    float w[4 * 5], b[4] = {0.1f, -0.2f, 0.05f, 0.0f};
    for (int i = 0; i < 4 * 5; i++)
        w[i] = (float)((i * 7) % 11) / 10.0f - 0.5f;
    add_t(g, "w42", 4, (int64_t[]){4, 1, 1, 5}, w);
    add_t(g, "b42", 1, (int64_t[]){4}, b);
    qb_node *n = add_n(g, "Conv", "x,w42,b42", "y2");
    attr_ints(n, "pads", 4, (int64_t[]){0, 2, 0, 2});
    attr_ints(n, "strides", 2, (int64_t[]){1, 2});
    set_output(g, "y");
    set_output(g, "y2");
    const float in_s[2] = {0.0081f, 0.0093f}, out_s[2] = {gap_scale, 0.027f};
    const int32_t in_z[2] = {2, -5}, out_z[2] = {-128, 3};
    quantize_convs(g, in_s, in_z, out_s, out_z, -1);
    return g;
}

static qb_graph *q_first1_graph(int no_links) { return q_first1_graph_at(no_links, 0.019f); }

/* The int8 GlobalAveragePool in a grid whose float sums are exact (scale
 * 3 * 2^-6: integer sums, one multiply) and in one just off it: against
 * the graph without int8 links, bit-identical, AVX-512 on and off, 1-3
 * threads. */
static void test_int8_gap_exact(void **st)
{
    (void)st;
    float x[2 * 9 * 13];
    for (int i = 0; i < 2 * 9 * 13; i++)
        x[i] = (float)((i * 29) % 53) / 13.0f - 1.5f;
    const float scales[2] = {0.046875f, 0.046876f};
    for (int k = 0; k < 2; k++) {
        qb_graph *ref = q_first1_graph_at(1, scales[k]);
        run(ref, x);
        for (int avx512 = 0; avx512 <= 1; avx512++) {
            qb_nhwc_avx512(avx512);
            for (int threads = 1; threads <= 3; threads++) {
                qb_gpar_set_threads(threads);
                qb_graph *g = q_first1_graph_at(0, scales[k]);
                run(g, x);
                assert_memory_equal(g->tensors[g->outputs[0]]->data, ref->tensors[ref->outputs[0]]->data,
                                    2 * 20 * sizeof(float));
                qb_graph_free(g);
            }
        }
        qb_graph_free(ref);
    }
    qb_nhwc_avx512(1);
    qb_gpar_set_threads(1);
}

static void test_int8_first_one_channel(void **st)
{
    (void)st;
    float x[2 * 9 * 13];
    for (int i = 0; i < 2 * 9 * 13; i++)
        x[i] = (float)((i * 13) % 43) / 21.0f - 1.0f;
    qb_graph *ref = q_first1_graph(1);
    run(ref, x);
    for (int threads = 1; threads <= 3; threads++) {
        qb_gpar_set_threads(threads);
        qb_conv_im2col_avx512(threads != 2);
        qb_graph *g = q_first1_graph(0);
        run(g, x);
        for (int i = 0; i < g->nnodes; i++) /* both quantize the image once */
            if (!strcmp(g->nodes[i].op, "Conv"))
                assert_true(g->nodes[i].nhwc & 16);
        assert_memory_equal(g->tensors[g->outputs[0]]->data, ref->tensors[ref->outputs[0]]->data,
                            2 * 20 * sizeof(float));
        assert_memory_equal(g->tensors[g->outputs[1]]->data, ref->tensors[ref->outputs[1]]->data,
                            2 * 4 * 9 * 7 * sizeof(float));
        qb_graph_free(g);
    }
    qb_gpar_set_threads(1);
    qb_conv_im2col_avx512(1);
    qb_graph_free(ref);
}

/* Convs whose A is cut into blocks (qb_gpar_conv_block): fp32 (an NCHW
 * input of 5 channels, transposed once to NHWC) and int8-channel (the
 * first conv quantizes the image, the second reads it in int8), each on
 * a 24x8 image (blocks of 6 rows = 48 pixels); blocks of one row tile
 * against one block, 1-3 threads: the same bits. */
static qb_graph *block_graph(int quant)
{
    qb_graph *g = qb_graph_new("conv-blocks");
    g->opset = 13;
    add_t(g, "x", 4, (int64_t[]){1, 5, 24, 8}, NULL);
    conv(g, "x", "c1", 5, 8, 3, 1, 51);
    add_n(g, "Relu", "c1", "r1");
    conv(g, "r1", "y", 8, 6, 3, 1, 52);
    set_output(g, "y");
    const float in_s[2] = {0.0089f, 0.021f}, out_s[2] = {0.021f, 0.033f};
    const int32_t in_z[2] = {1, -128}, out_z[2] = {-128, 4};
    if (quant)
        quantize_convs(g, in_s, in_z, out_s, out_z, -1);
    return g;
}

static void test_conv_blocks(void **st)
{
    (void)st;
    float x[5 * 24 * 8];
    for (int i = 0; i < 5 * 24 * 8; i++)
        x[i] = (float)((i * 17) % 47) / 23.0f - 1.0f;
    const int64_t saved = qb_gpar_conv_block;
    for (int quant = 0; quant < 2; quant++) {
        qb_gpar_conv_block = 0;
        qb_graph *ref = block_graph(quant);
        run(ref, x);
        for (int threads = 1; threads <= 3; threads++) {
            qb_gpar_set_threads(threads);
            qb_gpar_conv_block = 1; /* the smallest block: 48 pixels */
            qb_graph *g = block_graph(quant);
            run(g, x);
            assert_memory_equal(g->tensors[g->outputs[0]]->data, ref->tensors[ref->outputs[0]]->data,
                                6 * 24 * 8 * sizeof(float));
            qb_graph_free(g);
        }
        qb_gpar_set_threads(1);
        qb_graph_free(ref);
    }
    qb_gpar_conv_block = saved;
}

/* A conv of cin -> cout channels, kh x kw window, strides s, dilations
 * d and pads {top, left, bottom, right}. */
static void conv_geom(qb_graph *g, const char *in, const char *out, int cin, int cout, int kh, int kw,
                      const int64_t *s, const int64_t *d, const int64_t *pads, int tag)
{
    int nw = cout * cin * kh * kw;
    float *w = malloc((size_t)nw * sizeof *w), b[64];
    for (int i = 0; i < nw; i++)
        w[i] = (float)(((i + tag) * 29) % 17) / 16.0f - 0.5f;
    for (int i = 0; i < cout; i++)
        b[i] = 0.05f * (float)i - 0.2f;
    char wn[16], bn[16], ins[64];
    snprintf(wn, sizeof wn, "w%d", tag);
    snprintf(bn, sizeof bn, "b%d", tag);
    add_t(g, wn, 4, (int64_t[]){cout, cin, kh, kw}, w);
    add_t(g, bn, 1, (int64_t[]){cout}, b);
    free(w);
    snprintf(ins, sizeof ins, "%s,%s,%s", in, wn, bn);
    qb_node *n = add_n(g, "Conv", ins, out);
    attr_ints(n, "strides", 2, s);
    attr_ints(n, "dilations", 2, d);
    attr_ints(n, "pads", 4, pads);
}

/* Convs of >= 8 channels on the direct (tap) path: 3x3 pads 1 from the
 * NCHW graph input, Relu fused; 3x3 stride 2 with asymmetric pads; 5x3
 * dilated (2, 1) with strides (1, 2); 2x2 pads 0 to the NCHW output; the
 * middle convs NHWC unless nchw_only. */
static qb_graph *direct_graph(int nchw_only, int no_direct)
{
    qb_graph *g = qb_graph_new("conv-direct");
    g->opset = 13;
    g->nchw_only = nchw_only;
    g->no_direct_conv = no_direct;
    add_t(g, "x", 4, (int64_t[]){1, 9, 13, 11}, NULL);
    const int64_t one[2] = {1, 1}, two[2] = {2, 2};
    conv_geom(g, "x", "c1", 9, 10, 3, 3, one, one, (int64_t[]){1, 1, 1, 1}, 61);
    add_n(g, "Relu", "c1", "r1");
    conv_geom(g, "r1", "c2", 10, 17, 3, 3, two, one, (int64_t[]){1, 0, 2, 1}, 62);
    conv_geom(g, "c2", "c3", 17, 33, 5, 3, (int64_t[]){1, 2}, (int64_t[]){2, 1}, (int64_t[]){4, 1, 3, 2}, 63);
    conv_geom(g, "c3", "y", 33, 8, 2, 2, one, one, (int64_t[]){0, 0, 0, 0}, 64);
    set_output(g, "y");
    return g;
}

/* First layers on the direct path: an image of cin (1 or 3) channels,
 * 33x29 (a width that is no multiple of the 4-pixel steps of the
 * 3-plane interleave), 3x3 stride 2 pads 1 to 3 channels, then a 1x1
 * conv to one NCHW channel (its buffers smaller than the first's A). */
static qb_graph *image_graph(int cin, int no_direct)
{
    qb_graph *g = qb_graph_new("conv-image");
    g->opset = 13;
    g->no_direct_conv = no_direct;
    add_t(g, "x", 4, (int64_t[]){1, cin, 33, 29}, NULL);
    const int64_t one[2] = {1, 1}, two[2] = {2, 2};
    conv_geom(g, "x", "c1", cin, 3, 3, 3, two, one, (int64_t[]){1, 1, 1, 1}, 65 + cin);
    conv_geom(g, "c1", "y", 3, 1, 1, 1, one, one, (int64_t[]){0, 0, 0, 0}, 67);
    set_output(g, "y");
    return g;
}

/* The direct path needs no A buffer, so its arena is the smaller one;
 * only where the selected fp32 GEMM reads taps (QB_KF_A_TAPS: scalar and
 * VNNI; under QB_FORCE_ISA=avx2 every conv goes through im2col). */
static void expect_direct_arena(const qb_graph *g, const qb_graph *ref)
{
    const qb_kernel *k = qb_kernel_select(QB_OP_GEMM, QB_PREC_FP32);
    if (k->flags & QB_KF_A_TAPS)
        assert_true(g->arena_bytes < ref->arena_bytes);
    else
        assert_true(g->arena_bytes == ref->arena_bytes);
}

/* The direct conv against im2col (no_direct_conv), both layouts: within
 * float tolerance (other tiles, the same K order), the same bits on 1-3
 * threads, and a smaller arena where the path was taken. */
static void test_direct_conv(void **st)
{
    (void)st;
    float x[9 * 13 * 11 + 3 * 33 * 29];
    for (int i = 0; i < 9 * 13 * 11 + 3 * 33 * 29; i++)
        x[i] = (float)((i * 13) % 31) / 15.0f - 1.0f;
    for (int nchw_only = 0; nchw_only < 2; nchw_only++) {
        qb_graph *ref = direct_graph(nchw_only, 1);
        run(ref, x);
        const qb_tensor *yt = ref->tensors[ref->outputs[0]];
        int64_t count = qb_tensor_count(yt);
        assert_int_equal(count, 8 * 5 * 2); /* 13x11 -> 13x11 -> 7x5 -> 6x3 -> 5x2 */
        const float *want = yt->data;
        float first[8 * 5 * 2];
        for (int threads = 1; threads <= 3; threads++) {
            qb_gpar_set_threads(threads);
            qb_graph *g = direct_graph(nchw_only, 0);
            run(g, x);
            expect_direct_arena(g, ref);
            const float *y = g->tensors[g->outputs[0]]->data;
            expect_close(y, want, count, "im2col");
            if (threads == 1)
                memcpy(first, y, sizeof first);
            else
                assert_memory_equal(y, first, sizeof first);
            qb_graph_free(g);
        }
        qb_gpar_set_threads(1);
        qb_graph_free(ref);
    }
    for (int cin = 1; cin <= 3; cin += 2) { /* images of 1 and 3 channels (first layers) */
        qb_graph *ref = image_graph(cin, 1);
        run(ref, x);
        const float *want = ref->tensors[ref->outputs[0]]->data;
        float first[17 * 15];
        assert_int_equal(qb_tensor_count(ref->tensors[ref->outputs[0]]), 17 * 15);
        for (int threads = 1; threads <= 3; threads++) {
            qb_gpar_set_threads(threads);
            qb_graph *g = image_graph(cin, 0);
            run(g, x);
            expect_direct_arena(g, ref);
            const float *y = g->tensors[g->outputs[0]]->data;
            char ref_name[48];
            snprintf(ref_name, sizeof ref_name, "im2col (%d input channels)", cin);
            expect_close(y, want, 17 * 15, ref_name);
            if (threads == 1)
                memcpy(first, y, sizeof first);
            else
                assert_memory_equal(y, first, sizeof first);
            qb_graph_free(g);
        }
        qb_gpar_set_threads(1);
        qb_graph_free(ref);
    }
}

/* A per-channel constant of C values, shaped [C, 1, 1] (any C). */
static void per_channel_n(qb_graph *g, const char *name, int C, float base)
{
    float *v = malloc((size_t)C * sizeof *v);
    for (int c = 0; c < C; c++)
        v[c] = base + 0.0625f * (float)(c % 23) - 0.5f;
    add_t(g, name, 3, (int64_t[]){C, 1, 1}, v);
    free(v);
}

/* Element-wise chains right after fp32 convs of every path, at odd
 * channel counts on a 40x23 map (not a multiple of any block): c1 (5
 * channels: im2col) -> affine + HardSwish as Add/Clip/Mul/Div; c2
 * (depthwise) -> SiLU with a per-channel bias; c3 (1x1 pointwise, Relu
 * fused) -> k - v per channel, Mul; c4 (13 channels, stride 2: the direct
 * path) -> Mul, Tanh to the NCHW graph output y1; c5 (grouped: keeps its
 * chain as a pass) -> Add to y2; c6 (1x1 from the NCHW input, 600
 * channels: more than a block of the chain) -> per-channel Mul, Relu to
 * y3. scalar_sub: c3's k - v with one k (a chain of scalars only). */
static qb_graph *epi_graph(int nchw_only, int no_fusion, int no_epi, int scalar_sub)
{
    qb_graph *g = qb_graph_new("conv-epilogue");
    g->opset = 13;
    g->nchw_only = nchw_only;
    g->no_elem_fusion = no_fusion;
    g->no_conv_epilogue = no_epi;
    add_t(g, "x", 4, (int64_t[]){1, 5, 40, 23}, NULL);
    scalar(g, "three", 3.0f);
    scalar(g, "zero", 0.0f);
    scalar(g, "six", 6.0f);
    scalar(g, "k_scale", 1.25f);
    per_channel_n(g, "pc37", 37, 0.3f);
    per_channel_n(g, "pc37b", 37, -0.2f);
    per_channel_n(g, "pc13", 13, 0.1f);
    per_channel_n(g, "pc600", 600, 0.7f);
    const int64_t one[2] = {1, 1}, two[2] = {2, 2};
    conv_geom(g, "x", "c1", 5, 37, 3, 3, one, one, (int64_t[]){1, 1, 1, 1}, 71);
    add_n(g, "Mul", "c1,k_scale", "a1");
    add_n(g, "Add", "pc37,a1", "a2");
    add_n(g, "Add", "a2,three", "h1");
    add_n(g, "Clip", "h1,zero,six", "h2");
    add_n(g, "Mul", "a2,h2", "h3");
    add_n(g, "Div", "h3,six", "h4");
    conv(g, "h4", "c2", 37, 37, 3, 37, 72);
    add_n(g, "Add", "c2,pc37b", "s0");
    add_n(g, "Sigmoid", "s0", "s1");
    add_n(g, "Mul", "s0,s1", "s2");
    conv(g, "s2", "c3", 37, 13, 1, 1, 73);
    add_n(g, "Relu", "c3", "r3"); /* the conv's clamp */
    add_n(g, "Sub", scalar_sub ? "k_scale,r3" : "pc13,r3", "q1");
    add_n(g, "Mul", "q1,k_scale", "q2");
    conv_geom(g, "q2", "c4", 13, 21, 3, 3, two, one, (int64_t[]){1, 0, 1, 1}, 74);
    add_n(g, "Mul", "c4,k_scale", "t1");
    add_n(g, "Tanh", "t1", "y1");
    conv(g, "y1", "c5", 21, 9, 3, 3, 75);
    add_n(g, "Add", "c5,three", "y2");
    conv(g, "x", "c6", 5, 600, 1, 1, 76);
    add_n(g, "Mul", "c6,pc600", "m1");
    add_n(g, "Relu", "m1", "y3");
    set_output(g, "y1");
    set_output(g, "y2");
    set_output(g, "y3");
    return g;
}

/* Prepare g for isa and run it on x (epi_graph's input). */
static void run_isa(qb_graph *g, const float *x, int isa)
{
    qb_err e = {0};
    if (qb_graph_sort(g, &e) || qb_graph_prepare(g, NULL, 0, isa, &e)) {
        print_error("%s\n", e.msg);
        fail();
    }
    qb_tensor in = *g->tensors[g->inputs[0]];
    in.data = (void *)x;
    assert_int_equal(qb_graph_run(g, &in, 1, &e), 0);
}

/* epi_graph's input, 5 x 40 x 23 values in [-2, 2.3] (caller frees). */
static float *epi_input(void)
{
    const int64_t count = 5 * 40 * 23;
    float *x = malloc((size_t)count * sizeof *x);
    assert_non_null(x);
    for (int64_t i = 0; i < count; i++)
        x[i] = (float)((i * 13) % 31) / 7.0f - 2.0f;
    return x;
}

/* Chains run in the conv's epilogue (qb_fuse_conv_epilogues) against the
 * unfused graph and against the chains as their own pass: bit-identical
 * (the same steps on the same values; the kernel calls split at
 * QB_GPAR_ALIGN rows), NHWC and NCHW-only, on every fp32 GEMM kernel
 * that runs here (the direct path on the scalar and AVX-512 ones, im2col
 * on AVX2), 1-3 threads; five chains taken, the grouped conv's not. */
static void test_conv_epilogue(void **st)
{
    (void)st;
    float *x = epi_input();
    const int isas[3] = {QB_ISA_SCALAR, QB_ISA_AVX2, QB_ISA_VNNI};
    for (int ii = 0; ii < 3; ii++) {
        const qb_kernel *k = qb_kernel_get(QB_OP_GEMM, QB_PREC_FP32, isas[ii]);
        if (!k || !qb_kernel_available(k, NULL, 0))
            continue;
        for (int nchw_only = 0; nchw_only < 2; nchw_only++) {
            qb_graph *ref = epi_graph(nchw_only, 1, 1, 0), *pass = epi_graph(nchw_only, 0, 1, 0);
            run_isa(ref, x, isas[ii]);
            run_isa(pass, x, isas[ii]);
            for (int threads = 1; threads <= 3; threads++) {
                qb_gpar_set_threads(threads);
                qb_elem_chain_avx512(threads != 2); /* the chain's plain step loops on two threads */
                qb_graph *g = epi_graph(nchw_only, 0, 0, 0);
                run_isa(g, x, isas[ii]);
                int in_conv = 0;
                for (int i = 0; i < g->nnodes; i++) {
                    const qb_node *n = &g->nodes[i];
                    if (n->fused_into >= 0 && !strcmp(g->nodes[n->fused_into].op, "Conv") && strcmp(n->op, "Relu"))
                        in_conv++;
                    if (n->out[0] == qb_graph_find(g, "y2")) /* c5 (grouped) keeps its chain */
                        assert_int_equal(n->fused_into, -1);
                }
                assert_int_equal(in_conv, 5);
                for (int o = 0; o < 3; o++) {
                    const qb_tensor *yt = g->tensors[g->outputs[o]];
                    size_t bytes = (size_t)qb_tensor_count(yt) * sizeof(float);
                    assert_memory_equal(yt->data, ref->tensors[ref->outputs[o]]->data, bytes);
                    assert_memory_equal(yt->data, pass->tensors[pass->outputs[o]]->data, bytes);
                }
                qb_graph_free(g);
            }
            qb_gpar_set_threads(1);
            qb_elem_chain_avx512(1);
            qb_graph_free(ref);
            qb_graph_free(pass);
        }
    }
    free(x);
}

/* epi_graph with its six convs quantized (int8-channel, the grouped one
 * int8-tensor), each in its own grids: with int8 links (NHWC) the chains
 * after c1 (im2col), c2 (depthwise) and c3 (pointwise, Relu fused) map
 * int8 codes through tables in the int8 conv's epilogue (qlayer.c); c4's
 * and c6's (float outputs, one 600 channels) run on the dequantized
 * floats in theirs; NCHW-only every chain after a one-group conv runs on
 * dequantized floats before the transpose; c3's chain per channel or
 * (scalar_sub) of scalars only (one table). Against the same graph with
 * the chains as their own passes (no_conv_epilogue): bit-identical on
 * every int8 GEMM kernel that runs here, 1-3 threads, the tables looked
 * up by the scalar loops (the reference) and the AVX-512 ones. */
static qb_graph *q_epi_graph(int nchw_only, int no_epi, int scalar_sub)
{
    qb_graph *g = epi_graph(nchw_only, 0, no_epi, scalar_sub);
    const float in_s[6] = {0.031f, 0.027f, 0.019f, 0.023f, 0.0313f, 0.0157f},
                out_s[6] = {0.043f, 0.029f, 0.037f, 0.021f, 0.05f, 0.033f};
    const int32_t in_z[6] = {3, -128, 11, -7, 0, 5}, out_z[6] = {-5, 9, -128, 2, 17, -31};
    quantize_convs(g, in_s, in_z, out_s, out_z, 4);
    return g;
}

static void test_int8_epilogue(void **st)
{
    (void)st;
    float *x = epi_input();
    const int isas[3] = {QB_ISA_SCALAR, QB_ISA_AVX2, QB_ISA_VNNI};
    for (int ii = 0; ii < 3; ii++) {
        const qb_kernel *k = qb_kernel_get(QB_OP_GEMM, QB_PREC_INT8_CHANNEL, isas[ii]);
        if (!k || !qb_kernel_available(k, NULL, 0))
            continue;
        for (int v = 0; v < 4; v++) {
            int nchw_only = v & 1, scalar_sub = v >> 1;
            qb_elem_chain_avx512(0); /* the reference's tables looked up by the scalar loops */
            qb_graph *ref = q_epi_graph(nchw_only, 1, scalar_sub);
            run_isa(ref, x, isas[ii]);
            for (int threads = 1; threads <= 3; threads++) {
                qb_gpar_set_threads(threads);
                qb_elem_chain_avx512(threads != 2); /* AVX-512 byte permutes and gathers where they run */
                qb_graph *g = q_epi_graph(nchw_only, 0, scalar_sub);
                run_isa(g, x, isas[ii]);
                int in_conv = 0, i8_out = 0;
                for (int i = 0; i < g->nnodes; i++) {
                    const qb_node *n = &g->nodes[i];
                    if (n->fused_into >= 0 && !strcmp(g->nodes[n->fused_into].op, "Conv") && strcmp(n->op, "Relu"))
                        in_conv++;
                    if (!strcmp(n->op, "Conv") && (n->nhwc & 8))
                        i8_out++;
                }
                assert_int_equal(in_conv, 5);
                assert_int_equal(i8_out, nchw_only ? 0 : 3); /* c1-c3 hand int8 codes on */
                for (int o = 0; o < 3; o++) {
                    const qb_tensor *yt = g->tensors[g->outputs[o]];
                    assert_memory_equal(yt->data, ref->tensors[ref->outputs[o]]->data,
                                        (size_t)qb_tensor_count(yt) * sizeof(float));
                }
                qb_graph_free(g);
            }
            qb_gpar_set_threads(1);
            qb_elem_chain_avx512(1);
            qb_graph_free(ref);
        }
    }
    free(x);
}

/* conv_chain_graph with every conv quantized (int8-channel, the grouped
 * one int8-tensor), each in its own grids: the HardSwish-with-affine,
 * SiLU-with-bias and k - relu chains between them run on int8 through
 * per-channel tables; against the graph without int8 links (dequantize,
 * float chain, quantize): bit-identical. */
static qb_graph *q_chain_graph(int no_links)
{
    qb_graph *g = conv_chain_graph(0);
    g->no_int8_links = no_links;
    const float in_s[4] = {0.0079f, 0.021f, 0.0123f, 0.0311f}, out_s[4] = {0.027f, 0.019f, 0.041f, 0.05f};
    const int32_t in_z[4] = {0, -21, 17, -128}, out_z[4] = {-9, 4, -128, 3};
    quantize_convs(g, in_s, in_z, out_s, out_z, 2);
    return g;
}

static void test_int8_chains(void **st)
{
    (void)st;
    float x[3 * 11 * 9];
    for (int i = 0; i < 3 * 11 * 9; i++)
        x[i] = (float)((i * 13) % 31) / 15.0f - 1.0f;
    qb_graph *ref = q_chain_graph(1);
    run(ref, x);
    for (int threads = 1; threads <= 3; threads++) {
        qb_gpar_set_threads(threads);
        qb_graph *g = q_chain_graph(0);
        run(g, x);
        /* conv 1: quantized once (16), int8 NHWC out (2|8); 2 (depthwise) and 3: int8 in and out (1|2|4|8);
         * 4: int8 NHWC in (1|4), float NCHW out */
        int bits[4] = {26, 15, 15, 5}, k = 0;
        for (int i = 0; i < g->nnodes; i++)
            if (!strcmp(g->nodes[i].op, "Conv"))
                assert_int_equal(g->nodes[i].nhwc, bits[k++]);
        assert_memory_equal(g->tensors[g->outputs[0]]->data, ref->tensors[ref->outputs[0]]->data,
                            4 * 11 * 9 * sizeof(float));
        qb_graph_free(g);
    }
    qb_gpar_set_threads(1);
    qb_graph_free(ref);
}

/* Concat and Add/Sub/Mul writing the int8 codes of the convs that read
 * them (nhwc_ops.c q8): a Concat of NCHW floats (a chain on conv 1's
 * output, Tanh of the image, the chain again: 43 channels, 2 x 13 x 11
 * pixels, so blocks of 64 pixels cross images) read by a 3x3 conv; Add,
 * Sub, Mul of two chains on conv 2's output read by a 1x1 conv, a 3x3
 * conv, and two convs of one grid; a Concat and an Add of NHWC conv
 * outputs read by convs; Mul(a, a), a graph output also read by a conv,
 * stays float. */
static qb_graph *q8_out_graph(int no_links)
{
    qb_graph *g = qb_graph_new("int8-concat-add");
    g->opset = 13;
    g->no_int8_links = no_links;
    add_t(g, "x", 4, (int64_t[]){2, 3, 13, 11}, NULL);
    conv(g, "x", "c1", 3, 20, 3, 1, 41);
    add_n(g, "Sigmoid", "c1", "s1");
    add_n(g, "Tanh", "x", "t");
    qb_node *cat = add_n(g, "Concat", "s1,t,s1", "cat");
    attr_i(cat, "axis", 1);
    conv(g, "cat", "c2", 43, 6, 3, 1, 42);
    add_n(g, "Sigmoid", "c2", "a");
    add_n(g, "Tanh", "c2", "b");
    add_n(g, "Add", "a,b", "sum");
    conv(g, "sum", "c3", 6, 5, 1, 1, 43);
    add_n(g, "Sub", "a,b", "dif");
    conv(g, "dif", "c4", 6, 5, 3, 1, 44);
    add_n(g, "Mul", "a,b", "prd");
    conv(g, "prd", "y5", 6, 4, 3, 1, 45);
    conv(g, "prd", "y6", 6, 3, 1, 1, 46);
    qb_node *cat2 = add_n(g, "Concat", "c3,c4", "cat2");
    attr_i(cat2, "axis", 1);
    conv(g, "cat2", "y", 10, 4, 3, 1, 47);
    add_n(g, "Add", "c3,c4", "sum2");
    conv(g, "sum2", "y2", 5, 4, 1, 1, 48);
    add_n(g, "Mul", "a,a", "m");
    conv(g, "m", "y10", 6, 2, 1, 1, 49);
    const char *outs[] = {"y", "y2", "y5", "y6", "y10", "m"};
    for (int i = 0; i < 6; i++)
        set_output(g, outs[i]);
    const float in_s[9] = {0.0081f, 0.0079f, 0.0153f, 0.0117f, 0.0042f, 0.0042f, 0.031f, 0.027f, 0.0039f};
    const float out_s[9] = {0.033f, 0.021f, 0.019f, 0.024f, 0.011f, 0.012f, 0.05f, 0.04f, 0.013f};
    const int32_t in_z[9] = {2, -7, 0, 5, -40, -40, -3, 9, -128};
    const int32_t out_z[9] = {-5, 3, 1, -2, 0, 4, -1, 2, 6};
    quantize_convs(g, in_s, in_z, out_s, out_z, 3);
    return g;
}

static void test_int8_concat_add(void **st)
{
    (void)st;
    const int nx = 2 * 3 * 13 * 11, ho = 2 * 13 * 11;
    float x[2 * 3 * 13 * 11];
    for (int i = 0; i < nx; i++)
        x[i] = (float)((i * 17) % 43) / 21.0f - 1.0f;
    qb_graph *ref = q8_out_graph(1);
    run(ref, x);
    for (int threads = 1; threads <= 3; threads++) {
        qb_gpar_set_threads(threads);
        qb_graph *g = q8_out_graph(0);
        run(g, x);
        /* every conv but the first reads int8 NHWC codes (1|4) written by the Concat/Add/Sub/Mul before it; the
         * one reading m (a graph output) reads floats */
        for (int i = 0; i < g->nnodes; i++)
            if (!strcmp(g->nodes[i].op, "Conv") && strcmp(g->tensors[g->nodes[i].out[0]]->name, "c1"))
                assert_int_equal(g->nodes[i].nhwc & 5, strcmp(g->tensors[g->nodes[i].out[0]]->name, "y10") ? 5 : 0);
        const int chans[6] = {4, 4, 4, 3, 2, 6};
        for (int o = 0; o < 6; o++)
            assert_memory_equal(g->tensors[g->outputs[o]]->data, ref->tensors[ref->outputs[o]]->data,
                                (size_t)(chans[o] * ho) * sizeof(float));
        qb_graph_free(g);
    }
    qb_gpar_set_threads(1);
    qb_graph_free(ref);
}

/* Squeeze-excite: a map times (plus, minus) one value per channel
 * (nhwc_ops.c NK_BCAST). x 2x3x9x7 -> conv -> depthwise conv -> Sigmoid
 * = a (20 channels; quantized, the Sigmoid runs in the depthwise conv's
 * epilogue through its float table, qb_elem_chain_set_dq);
 * GlobalAveragePool, 1x1 conv, Relu, 1x1 conv, HardSigmoid = s (2x20x1x1);
 * Mul(a, s) and Mul(s, a) (the operand orders) each read by a conv,
 * Add(a, s) by a conv too, Sub(s, a) read by two
 * convs (of two grids when quantized: float NHWC out). quant: every conv
 * int8-channel; no_links / nchw_only: the references. */
static qb_graph *se_graph(int quant, int no_links, int nchw_only)
{
    qb_graph *g = qb_graph_new("se-mul");
    g->opset = 13;
    g->no_int8_links = no_links;
    g->nchw_only = nchw_only;
    add_t(g, "x", 4, (int64_t[]){2, 3, 9, 7}, NULL);
    conv(g, "x", "c0", 3, 20, 3, 1, 60);
    conv(g, "c0", "c1", 20, 20, 3, 20, 61);
    add_n(g, "Sigmoid", "c1", "a");
    add_n(g, "GlobalAveragePool", "a", "p");
    conv(g, "p", "q", 20, 6, 1, 1, 62);
    add_n(g, "Relu", "q", "qr");
    conv(g, "qr", "r", 6, 20, 1, 1, 63);
    add_n(g, "HardSigmoid", "r", "s");
    add_n(g, "Mul", "a,s", "m1");
    conv(g, "m1", "y1", 20, 4, 3, 1, 64);
    add_n(g, "Mul", "s,a", "m2");
    conv(g, "m2", "y2", 20, 5, 1, 1, 65);
    add_n(g, "Add", "a,s", "m3");
    conv(g, "m3", "y3", 20, 3, 1, 1, 68);
    add_n(g, "Sub", "s,a", "m4");
    conv(g, "m4", "y4", 20, 3, 3, 1, 66);
    conv(g, "m4", "y5", 20, 2, 1, 1, 67);
    const char *outs[] = {"y1", "y2", "y3", "y4", "y5"};
    for (int i = 0; i < 5; i++)
        set_output(g, outs[i]);
    if (quant) {
        /* convs in node order: c0 c1 q r y1 y2 y3 y4 y5 */
        /* y4 and y5 in one input grid: the Sub writes their int8 codes (the operand order of its q8 loops) */
        const float in_s[9] = {0.0081f, 0.021f, 0.0042f, 0.011f, 0.0043f, 0.0051f, 0.0062f, 0.0093f, 0.0093f};
        const float out_s[9] = {0.021f, 0.033f, 0.011f, 0.019f, 0.024f, 0.011f, 0.017f, 0.05f, 0.04f};
        const int32_t in_z[9] = {2, 3, -128, -128, -3, 5, 7, 9, 9}, out_z[9] = {3, -5, -128, 1, -2, 0, 3, 4, -1};
        quantize_convs(g, in_s, in_z, out_s, out_z, -1);
    }
    return g;
}

static void test_se_mul(void **st)
{
    (void)st;
    const int nx = 2 * 3 * 9 * 7, hw = 9 * 7;
    float x[2 * 3 * 9 * 7];
    for (int i = 0; i < nx; i++)
        x[i] = (float)((i * 23) % 41) / 20.0f - 1.0f;
    const int64_t count[5] = {2 * 4 * hw, 2 * 5 * hw, 2 * 3 * hw, 2 * 3 * hw, 2 * 2 * hw};
    for (int quant = 0; quant < 2; quant++) {
        qb_elem_chain_avx512(0); /* the reference: dequantize, then the chain's steps */
        qb_graph *ref = se_graph(quant, 1, !quant);
        run(ref, x);
        for (int v = 0; v < 5; v++) { /* 1-3 threads, then the AVX2 loops (bcast_q8_nhwc_avx2) on 2 and 3 */
            const int threads = v < 3 ? v + 1 : v - 1;
            qb_gpar_set_threads(threads);
            qb_elem_chain_avx512(threads != 2 || v > 2); /* the float table where AVX-512 VBMI runs */
            qb_nhwc_avx512(v != 2);                       /* the per-channel Mul/Add/Sub without SIMD (plain loops) */
            qb_nhwc_avx2_only(v > 2);
            qb_graph *g = se_graph(quant, 0, 0);
            run(g, x);
            int nhwc = 0, link = 0;
            for (int i = 0; i < g->nnodes; i++) {
                const qb_node *n = &g->nodes[i];
                nhwc += n->def && !strcmp(n->def->name, "(NHWC)") && n->op[1] != 'l'; /* not the pool */
                link += !strcmp(n->op, "Conv") && (n->nhwc & 5) == 5;
            }
            assert_int_equal(nhwc, 4);              /* m1 to m4 */
            assert_int_equal(link, quant ? 7 : 0); /* y1 to y5 read int8 codes, c1 c0's, r q's */
            for (int o = 0; o < 5; o++)
                assert_memory_equal(g->tensors[g->outputs[o]]->data, ref->tensors[ref->outputs[o]]->data,
                                    (size_t)count[o] * sizeof(float));
            qb_graph_free(g);
        }
        qb_gpar_set_threads(1);
        qb_elem_chain_avx512(1);
        qb_nhwc_avx2_only(0);
        qb_nhwc_avx512(1);
        qb_graph_free(ref);
    }
}

/* x + x * s on NCHW planes (qb_fuse_mul_add): x 2x5x7x9, s = Sigmoid(GAP)
 * (a runtime 2x5x1x1); the four operand orders Mul(x, s) / Mul(s, x)
 * and Add(x, t) / Add(t, x), each Add a graph output; a Mul whose output
 * is also a graph output, and one read by an Add with another tensor,
 * stay as they are. Values of mixed magnitudes (so a contraction or
 * another order would round differently) and infinities among them;
 * bit-identical to QB_NO_MULADD_FUSION=1 on 1-3 threads. (A NaN in both
 * operands of a product comes out with either one's sign, as the
 * compiler orders the commutative operation: not compared.) */
static qb_graph *mul_add_graph(void)
{
    qb_graph *g = qb_graph_new("mul-add");
    g->opset = 13;
    add_t(g, "x", 4, (int64_t[]){2, 5, 7, 9}, NULL);
    add_n(g, "GlobalAveragePool", "x", "gap");
    add_n(g, "Sigmoid", "gap", "s");
    add_n(g, "Mul", "x,s", "t1");
    add_n(g, "Add", "x,t1", "y1");
    add_n(g, "Mul", "s,x", "t2");
    add_n(g, "Add", "t2,x", "y2");
    add_n(g, "Mul", "x,s", "t3");
    add_n(g, "Add", "t3,x", "y3");
    add_n(g, "Mul", "s,x", "t4");
    add_n(g, "Add", "x,t4", "y4");
    add_n(g, "Mul", "x,s", "t5"); /* also a graph output: not fused */
    add_n(g, "Add", "x,t5", "y5");
    add_n(g, "Mul", "x,s", "t6"); /* added to another tensor: not fused */
    add_n(g, "Add", "y1,t6", "y6");
    const char *outs[] = {"y1", "y2", "y3", "y4", "y5", "t5", "y6"};
    for (int i = 0; i < 7; i++)
        set_output(g, outs[i]);
    return g;
}

static void test_mul_add(void **st)
{
    (void)st;
    enum { NX = 2 * 5 * 7 * 9 };
    static float x[NX];
    for (int i = 0; i < NX; i++)
        x[i] = ((float)((i * 37) % 53) / 17.0f - 1.4f) * (i % 7 == 0 ? 3e3f : i % 5 == 0 ? 1e-3f : 1.0f);
    x[100] = INFINITY, x[200] = -INFINITY; /* planes 1 and 3: s = 1 and s = 0 (-inf * 0: NaN) */
    setenv("QB_NO_MULADD_FUSION", "1", 1);
    qb_graph *ref = mul_add_graph();
    run(ref, x);
    unsetenv("QB_NO_MULADD_FUSION");
    for (int threads = 1; threads <= 3; threads++) {
        qb_gpar_set_threads(threads);
        qb_elem_chain_avx512(threads != 2); /* the plain loops too */
        qb_graph *g = mul_add_graph();
        run(g, x);
        int fused = 0;
        for (int i = 0; i < g->nnodes; i++)
            fused += !strcmp(g->nodes[i].op, "Mul") && g->nodes[i].fused_into >= 0;
        assert_int_equal(fused, 4);
        for (int o = 0; o < 7; o++)
            assert_memory_equal(g->tensors[g->outputs[o]]->data, ref->tensors[ref->outputs[o]]->data,
                                (size_t)NX * sizeof(float));
        qb_graph_free(g);
    }
    qb_gpar_set_threads(1);
    qb_elem_chain_avx512(1);
    qb_graph_free(ref);
}

/* A bias row added before a Softmax (qb_fuse_bias_softmax): x 2x5xL
 * plus a constant row b of L values (dims [L] and [1, L], the second
 * through the Flatten an opset < 13 Softmax gets) into a Softmax along
 * the last axis: fused; not fused: the Add's output also a graph output,
 * read by another node too, Add(b, x), a Softmax along axis 1. Rows of
 * 37 (a 5-value tail), 150 (interleaved and single vectors and a tail)
 * and 6625 (PP-OCRv4 rec's) values, rows reaching below exp's lower
 * limit, -inf, +inf and NaN values; bit-identical to
 * QB_NO_SOFTMAX_BIAS_FUSION=1 on 1-3 threads, the exp's AVX-512 loops on
 * and off. */
static qb_graph *bias_softmax_graph(int64_t L, const float *b)
{
    qb_graph *g = qb_graph_new("bias-softmax");
    g->opset = 13;
    add_t(g, "x", 3, (int64_t[]){2, 5, L}, NULL);
    add_t(g, "b", 1, (int64_t[]){L}, b);
    add_t(g, "b2", 2, (int64_t[]){1, L}, b);
    add_n(g, "Add", "x,b", "a1");
    attr_i(add_n(g, "Softmax", "a1", "y1"), "axis", -1);
    add_n(g, "Add", "x,b2", "a2");
    attr_i(add_n(g, "Flatten", "a2", "f2"), "axis", 2);
    attr_i(add_n(g, "Softmax", "f2", "y2"), "axis", -1);
    add_n(g, "Add", "x,b", "a3"); /* also a graph output */
    attr_i(add_n(g, "Softmax", "a3", "y3"), "axis", -1);
    add_n(g, "Add", "b,x", "a4"); /* the constant first */
    attr_i(add_n(g, "Softmax", "a4", "y4"), "axis", -1);
    add_n(g, "Add", "x,b", "a5"); /* not along the last axis */
    attr_i(add_n(g, "Softmax", "a5", "y5"), "axis", 1);
    add_n(g, "Add", "x,b", "a6"); /* read twice */
    attr_i(add_n(g, "Softmax", "a6", "y6"), "axis", -1);
    add_n(g, "Relu", "a6", "y7");
    const char *outs[] = {"y1", "y2", "y3", "a3", "y4", "y5", "y6", "y7"};
    for (int i = 0; i < 8; i++)
        set_output(g, outs[i]);
    return g;
}

static void test_bias_softmax(void **st)
{
    (void)st;
    const int64_t lens[] = {37, 150, 6625};
    for (int l = 0; l < 3; l++) {
        const int64_t L = lens[l], NX = 10 * L;
        float *x = malloc((size_t)NX * sizeof *x), *b = malloc((size_t)L * sizeof *b);
        assert_non_null(x);
        assert_non_null(b);
        for (int64_t i = 0; i < L; i++)
            b[i] = (float)((i * 29) % 41) / 7.0f - 3.0f;
        for (int64_t i = 0; i < NX; i++) /* row r spans about 10 r: rows 9 and 10 reach below exp's limit */
            x[i] = ((float)((i * 37) % 53) / 53.0f - 0.5f) * (float)(10 * (i / L + 1));
        x[L + 3] = -INFINITY;      /* row 1 */
        x[2 * L + L / 2] = INFINITY; /* row 2: every x - max NaN or -inf */
        x[3 * L + L - 2] = NAN;      /* row 3: NaN in the tail */
        setenv("QB_NO_SOFTMAX_BIAS_FUSION", "1", 1);
        qb_graph *ref = bias_softmax_graph(L, b);
        run(ref, x);
        unsetenv("QB_NO_SOFTMAX_BIAS_FUSION");
        for (int threads = 1; threads <= 3; threads++) {
            qb_gpar_set_threads(threads);
            qb_expf_avx512(threads != 2); /* the SSE2 loops too */
            qb_graph *g = bias_softmax_graph(L, b);
            run(g, x);
            int fused = 0;
            for (int i = 0; i < g->nnodes; i++)
                fused += g->nodes[i].fused_into >= 0 && (!strcmp(g->nodes[i].op, "Add") || !strcmp(g->nodes[i].op, "Flatten"));
            assert_int_equal(fused, 3); /* a1, a2 and the Flatten */
            for (int o = 0; o < 8; o++)
                assert_memory_equal(g->tensors[g->outputs[o]]->data, ref->tensors[ref->outputs[o]]->data,
                                    (size_t)NX * sizeof(float));
            qb_graph_free(g);
        }
        qb_gpar_set_threads(1);
        qb_expf_avx512(1);
        qb_graph_free(ref);
        free(x);
        free(b);
    }
}

/* A Softmax along the rows of an int8 MatMul's or Gemm's float output
 * (ops_gemm.c qb_gemm_fuse_softmax: run in the layer on its dequantized
 * rows in place) against QB_NO_GEMM_SOFTMAX_FUSION=1: x [rows x 24] ->
 * MatMul (int8-channel) -> Add of a bias row -> Softmax (y1); -> MatMul
 * (int8-tensor) -> Softmax without bias (y2); -> Gemm transB -> Softmax
 * (y3); a MatMul whose output is also a graph output (y4, not fused) and
 * one read twice (y5, not fused); rows of 37 and 300 values, 5 and 37
 * rows (the few-rows column split and row chunks), 1-3 threads. */
static qb_graph *gemm_softmax_graph(int64_t R, int64_t L)
{
    qb_graph *g = qb_graph_new("gemm-softmax");
    g->opset = 13;
    const int64_t K = 24;
    add_t(g, "x", 3, (int64_t[]){1, R, K}, NULL); /* 3-D: the bias row is no per-channel chain step */
    float *w = malloc((size_t)(K * L) * sizeof *w), *b = malloc((size_t)L * sizeof *b);
    for (int64_t i = 0; i < K * L; i++)
        w[i] = (float)((i * 13) % 29) / 14.0f - 1.0f;
    for (int64_t i = 0; i < L; i++)
        b[i] = (float)((i * 7) % 11) / 5.0f - 1.0f;
    add_t(g, "w", 2, (int64_t[]){K, L}, w);
    add_t(g, "wt", 2, (int64_t[]){L, K}, w);
    add_t(g, "b", 1, (int64_t[]){L}, b);
    free(w);
    free(b);
    add_n(g, "MatMul", "x,w", "m1");
    add_n(g, "Add", "m1,b", "a1");
    attr_i(add_n(g, "Softmax", "a1", "y1"), "axis", -1);
    add_n(g, "MatMul", "x,w", "m2");
    attr_i(add_n(g, "Softmax", "m2", "y2"), "axis", -1);
    attr_i(add_n(g, "Flatten", "x", "x2"), "axis", 2);
    attr_i(add_n(g, "Gemm", "x2,wt", "m3"), "transB", 1);
    attr_i(add_n(g, "Softmax", "m3", "y3"), "axis", -1);
    add_n(g, "MatMul", "x,w", "m4"); /* also a graph output */
    attr_i(add_n(g, "Softmax", "m4", "y4"), "axis", -1);
    add_n(g, "MatMul", "x,w", "m5"); /* read twice */
    attr_i(add_n(g, "Softmax", "m5", "y5"), "axis", -1);
    add_n(g, "Relu", "m5", "y6");
    const char *outs[] = {"y1", "y2", "y3", "y4", "m4", "y5", "y6"};
    for (int i = 0; i < 7; i++)
        set_output(g, outs[i]);
    for (int i = 0, k = 0; i < g->nnodes; i++)
        if (!strcmp(g->nodes[i].op, "MatMul") || !strcmp(g->nodes[i].op, "Gemm")) {
            qb_qspec *q = g->nodes[i].q = qb_qspec_new(k == 1 ? QB_PREC_INT8_TENSOR : QB_PREC_INT8_CHANNEL);
            q->in_scale = 0.021f, q->in_zero = 3 - k, q->out_scale = 0.13f + 0.01f * (float)k, q->out_zero = 5 * k - 9;
            k++;
        }
    return g;
}

static void test_gemm_softmax(void **st)
{
    (void)st;
    const int64_t lens[] = {37, 300}, rows[] = {5, 37};
    for (int l = 0; l < 2; l++)
        for (int r = 0; r < 2; r++) {
            const int64_t L = lens[l], R = rows[r];
            float *x = malloc((size_t)(R * 24) * sizeof *x);
            for (int64_t i = 0; i < R * 24; i++)
                x[i] = ((float)((i * 37) % 53) / 53.0f - 0.5f) * 4.0f;
            setenv("QB_NO_GEMM_SOFTMAX_FUSION", "1", 1);
            qb_graph *ref = gemm_softmax_graph(R, L);
            run(ref, x);
            unsetenv("QB_NO_GEMM_SOFTMAX_FUSION");
            for (int threads = 1; threads <= 3; threads++) {
                qb_gpar_set_threads(threads);
                qb_graph *g = gemm_softmax_graph(R, L);
                run(g, x);
                int fused = 0;
                for (int i = 0; i < g->nnodes; i++)
                    if (!strcmp(g->nodes[i].op, "Softmax") && g->nodes[i].fused_into >= 0)
                        fused++, assert_true(strcmp(g->nodes[g->nodes[i].fused_into].op, "Softmax"));
                assert_int_equal(fused, 3); /* y1, y2, y3 */
                for (int o = 0; o < 7; o++)
                    assert_memory_equal(g->tensors[g->outputs[o]]->data, ref->tensors[ref->outputs[o]]->data,
                                        (size_t)(R * L) * sizeof(float));
                qb_graph_free(g);
            }
            qb_gpar_set_threads(1);
            qb_graph_free(ref);
            free(x);
        }
}

/* The float GlobalAveragePool on NHWC (nhwc_ops.c gap_f32_regs_avx512:
 * sums in registers, 128 channels at a time) bit-identical to its SSE2
 * loop (qb_nhwc_avx512(0)): conv 1x1 to 150 and to 20 channels (a masked
 * register, a second 128-channel pass), the map also read by a conv so
 * that it stays NHWC, two images, 1-3 threads. */
static qb_graph *gap_f32_graph(int ch)
{
    qb_graph *g = qb_graph_new("gap-f32");
    g->opset = 13;
    add_t(g, "x", 4, (int64_t[]){2, 3, 9, 7}, NULL);
    conv(g, "x", "c1", 3, ch, 1, 1, 61);
    add_n(g, "GlobalAveragePool", "c1", "y");
    conv(g, "c1", "c2", ch, 4, 1, 1, 62);
    set_output(g, "y");
    set_output(g, "c2");
    return g;
}

static void test_gap_f32_regs(void **st)
{
    (void)st;
    float x[2 * 3 * 9 * 7];
    for (int i = 0; i < 2 * 3 * 9 * 7; i++)
        x[i] = (float)((i * 11) % 37) / 9.0f - 2.0f;
    for (int ch = 20; ch <= 150; ch += 130) {
        qb_nhwc_avx512(0);
        qb_graph *ref = gap_f32_graph(ch);
        run(ref, x);
        qb_nhwc_avx512(1);
        for (int threads = 1; threads <= 3; threads++) {
            qb_gpar_set_threads(threads);
            qb_graph *g = gap_f32_graph(ch);
            run(g, x);
            for (int i = 0; i < g->nnodes; i++)
                if (!strcmp(g->nodes[i].op, "Conv") && g->nodes[i].out[0] == qb_graph_tensor(g, "c1"))
                    assert_true(g->nodes[i].nhwc & 2); /* c1 NHWC: the pool reads NHWC */
            assert_memory_equal(g->tensors[g->outputs[0]]->data, ref->tensors[ref->outputs[0]]->data,
                                (size_t)(2 * ch) * sizeof(float));
            qb_graph_free(g);
        }
        qb_gpar_set_threads(1);
        qb_graph_free(ref);
    }
}

/* The GlobalAveragePools' register sums for every count of 16-channel
 * groups (nhwc_ops.c gap_dq_regs_ng / gap_f32_regs_ng: a copy per count
 * 1-8) and a second 128-channel pass: fp32 (gap_f32_graph) and int8 (the
 * conv's int8 NHWC codes read by the pool, out grid 0.021 / -7) against
 * the SSE2 loops and against no int8 links, 1-3 threads, bit-identical. */
static qb_graph *gap_i8_graph(int ch, int no_links)
{
    qb_graph *g = gap_f32_graph(ch);
    g->no_int8_links = no_links;
    const float in_s[2] = {0.0173f, 0.021f}, out_s[2] = {0.021f, 0.033f}; /* c2 reads c1 in its grid: an int8 link */
    const int32_t in_z[2] = {3, -7}, out_z[2] = {-7, 5};
    quantize_convs(g, in_s, in_z, out_s, out_z, -1);
    return g;
}

static void test_gap_groups(void **st)
{
    (void)st;
    float x[2 * 3 * 9 * 7];
    for (int i = 0; i < 2 * 3 * 9 * 7; i++)
        x[i] = (float)((i * 13) % 41) / 11.0f - 1.7f;
    static const int chs[] = {5, 24, 40, 57, 64, 75, 96, 113, 128, 150};
    for (int k = 0; k < (int)(sizeof chs / sizeof chs[0]); k++)
        for (int i8 = 0; i8 <= 1; i8++) {
            int ch = chs[k];
            qb_nhwc_avx512(0);
            qb_graph *ref = i8 ? gap_i8_graph(ch, 1) : gap_f32_graph(ch);
            run(ref, x);
            for (int avx512 = 0; avx512 <= 1; avx512++) {
                qb_nhwc_avx512(avx512);
                for (int threads = 1; threads <= 3; threads++) {
                    qb_gpar_set_threads(threads);
                    qb_graph *g = i8 ? gap_i8_graph(ch, 0) : gap_f32_graph(ch);
                    run(g, x);
                    assert_memory_equal(g->tensors[g->outputs[0]]->data, ref->tensors[ref->outputs[0]]->data,
                                        (size_t)(2 * ch) * sizeof(float));
                    qb_graph_free(g);
                }
            }
            qb_gpar_set_threads(1);
            qb_graph_free(ref);
        }
    qb_nhwc_avx512(1);
}

/* Nearest integer upsamplings (Resize) read through by the Concat and Add
 * that write int8 codes (exec.c fuse_upsampling): x 2x3x12x12; conv
 * outputs at 6x6 (after MaxPool 2x2/2) and 6x4 (MaxPool 2x3/2x3) resized
 * by 2x2 (half_pixel, round_prefer_floor) and 2x3 (asymmetric, floor);
 * Concat(u1, Tanh(x), u2) -> conv; u3 (2x3) read through by an
 * int8-writing Add with AVX-512 (else materialised); materialised: u5
 * (also a graph output), u6 (read twice). */
static qb_graph *q_up_graph(void)
{
    qb_graph *g = qb_graph_new("int8-upsampled");
    g->opset = 13;
    add_t(g, "x", 4, (int64_t[]){2, 3, 12, 12}, NULL);
    add_t(g, "roi", 1, (int64_t[]){8}, (const float[]){0, 0, 0, 0, 1, 1, 1, 1}); /* unused (no crop) */
    add_t(g, "sc22", 1, (int64_t[]){4}, (const float[]){1, 1, 2, 2});
    add_t(g, "sc23", 1, (int64_t[]){4}, (const float[]){1, 1, 2, 3});
    qb_node *m1 = add_n(g, "MaxPool", "x", "m1");
    attr_ints(m1, "kernel_shape", 2, (int64_t[]){2, 2});
    attr_ints(m1, "strides", 2, (int64_t[]){2, 2});
    qb_node *m2 = add_n(g, "MaxPool", "x", "m2");
    attr_ints(m2, "kernel_shape", 2, (int64_t[]){2, 3});
    attr_ints(m2, "strides", 2, (int64_t[]){2, 3});
    conv(g, "m1", "c1", 3, 8, 3, 1, 51);
    conv(g, "m2", "c2", 3, 5, 3, 1, 52);
    add_n(g, "Resize", "c1,roi,sc22", "u1");
    add_n(g, "Resize", "c2,roi,sc23", "u2");
    add_n(g, "Tanh", "x", "t");
    qb_node *cat = add_n(g, "Concat", "u1,t,u2", "cat");
    attr_i(cat, "axis", 1);
    conv(g, "cat", "y1", 16, 6, 3, 1, 53);
    conv(g, "x", "c4", 3, 5, 1, 1, 54);
    add_n(g, "Sigmoid", "c4", "s4");
    add_n(g, "Resize", "c2,roi,sc23", "u3");
    add_n(g, "Add", "s4,u3", "sum");
    conv(g, "sum", "y2", 5, 4, 3, 1, 55);
    add_n(g, "Resize", "c2,roi,sc23", "u5");
    qb_node *cat2 = add_n(g, "Concat", "t,u5", "cat2");
    attr_i(cat2, "axis", 1);
    conv(g, "cat2", "y3", 8, 3, 3, 1, 56);
    add_n(g, "Resize", "c1,roi,sc22", "u6");
    add_n(g, "Mul", "u6,u6", "sq");
    conv(g, "sq", "y4", 8, 2, 1, 1, 57);
    const char *outs[] = {"y1", "y2", "y3", "y4", "u5"};
    for (int i = 0; i < 5; i++)
        set_output(g, outs[i]);
    const float in_s[7] = {0.0081f, 0.0079f, 0.0153f, 0.0117f, 0.0042f, 0.031f, 0.027f};
    const float out_s[7] = {0.033f, 0.021f, 0.019f, 0.024f, 0.011f, 0.05f, 0.04f};
    const int32_t in_z[7] = {2, -7, 0, 5, -40, -3, 9};
    const int32_t out_z[7] = {-5, 3, 1, -2, 0, -1, 2};
    quantize_convs(g, in_s, in_z, out_s, out_z, 2);
    return g;
}

static void set_attr_str(qb_node *n, const char *name, const char *v) { qb_test_attr(n, name, QB_ATTR_STRING)->s = strdup(v); }

static qb_graph *q_up_graph_full(void)
{
    qb_graph *g = q_up_graph();
    for (int i = 0; i < g->nnodes; i++) /* the 2x3 Resizes: asymmetric, floor */
        if (!strcmp(g->nodes[i].op, "Resize") && g->nodes[i].in[2] == qb_graph_tensor(g, "sc23")) {
            set_attr_str(&g->nodes[i], "coordinate_transformation_mode", "asymmetric");
            set_attr_str(&g->nodes[i], "nearest_mode", "floor");
        }
    return g;
}

static void test_int8_upsampled(void **st)
{
    (void)st;
    const int nx = 2 * 3 * 12 * 12;
    float x[2 * 3 * 12 * 12];
    for (int i = 0; i < nx; i++)
        x[i] = (float)((i * 13) % 47) / 23.0f - 1.0f;
    setenv("QB_NO_UPSAMPLE_FUSION", "1", 1);
    qb_graph *ref = q_up_graph_full();
    run(ref, x);
    unsetenv("QB_NO_UPSAMPLE_FUSION");
    const int avx2 = qb_avx2_allowed(), avx = qb_avx512_allowed(QB_CPU_AVX512F | QB_CPU_AVX512BW) || avx2;
    for (int v = 0; v < 6; v++) { /* 1-3 threads, the plain loops (no AVX-512), the AVX2 ones on 2 and 3 threads */
        int threads = v < 3 ? v + 1 : v == 3 ? 1 : v - 2;
        int up = v < 3 ? avx : v > 3 && avx2; /* the Add reads u3 through with AVX-512 or AVX2 */
        qb_gpar_set_threads(threads);
        qb_nhwc_avx512(v != 3);
        qb_nhwc_avx2_only(v > 3);
        qb_qlayer_quantize_planes_avx2_only(v > 3);
        qb_graph *g = q_up_graph_full();
        run(g, x);
        int fused = 0;
        for (int i = 0; i < g->nnodes; i++)
            if (!strcmp(g->nodes[i].op, "Resize")) {
                const char *u = g->tensors[g->nodes[i].out[0]]->name;
                assert_int_equal(g->nodes[i].fused_into >= 0,
                                 !strcmp(u, "u1") || !strcmp(u, "u2") || (!strcmp(u, "u3") && up));
                fused += g->nodes[i].fused_into >= 0;
            } else if (!strcmp(g->nodes[i].op, "Conv") && g->nodes[i].in[0] == qb_graph_tensor(g, "cat")) {
                assert_int_equal(g->nodes[i].nhwc & 5, 5); /* reads the Concat's int8 codes */
            }
        assert_int_equal(fused, 2 + up);
        for (int o = 0; o < g->noutputs; o++)
            assert_memory_equal(g->tensors[g->outputs[o]]->data, ref->tensors[ref->outputs[o]]->data,
                                (size_t)qb_tensor_count(g->tensors[g->outputs[o]]) * sizeof(float));
        qb_graph_free(g);
    }
    qb_nhwc_avx2_only(0);
    qb_qlayer_quantize_planes_avx2_only(0);
    qb_nhwc_avx512(1);
    qb_gpar_set_threads(1);
    qb_graph_free(ref);
}

/* Add and Sub writing int8 codes with an input read upsampled
 * (elem_q8_simd in nhwc_ops.c, AVX-512 and AVX2) on ch channels (40: two full groups of 16
 * and 8; 44: AVX2's five groups of 8 and 4) at 48x42, 2 images: a = conv(x); u1 = Resize 2x3 (asymmetric,
 * floor) of a conv at 24x14, u2 = Resize 2x2 of a conv at 24x21;
 * Add(a, u1) and Sub(u2, a) (the upsampled input first), and Mul(a, a2)
 * of two same-shape planes, each read by a conv. 2016 pixels an image: the row chunks (1664 pixels at 40
 * channels) start mid-row. */
static qb_graph *q_add_up_graph(int ch)
{
    qb_graph *g = qb_graph_new("int8-add-upsampled");
    g->opset = 13;
    add_t(g, "x", 4, (int64_t[]){2, 3, 48, 42}, NULL);
    add_t(g, "roi", 1, (int64_t[]){8}, (const float[]){0, 0, 0, 0, 1, 1, 1, 1});
    add_t(g, "sc22", 1, (int64_t[]){4}, (const float[]){1, 1, 2, 2});
    add_t(g, "sc23", 1, (int64_t[]){4}, (const float[]){1, 1, 2, 3});
    qb_node *m1 = add_n(g, "MaxPool", "x", "m1");
    attr_ints(m1, "kernel_shape", 2, (int64_t[]){2, 3});
    attr_ints(m1, "strides", 2, (int64_t[]){2, 3});
    qb_node *m2 = add_n(g, "MaxPool", "x", "m2");
    attr_ints(m2, "kernel_shape", 2, (int64_t[]){2, 2});
    attr_ints(m2, "strides", 2, (int64_t[]){2, 2});
    conv(g, "x", "a", 3, ch, 3, 1, 61);
    conv(g, "m1", "c1", 3, ch, 3, 1, 62);
    conv(g, "m2", "c2", 3, ch, 1, 1, 63);
    qb_node *r1 = add_n(g, "Resize", "c1,roi,sc23", "u1");
    set_attr_str(r1, "coordinate_transformation_mode", "asymmetric");
    set_attr_str(r1, "nearest_mode", "floor");
    add_n(g, "Resize", "c2,roi,sc22", "u2");
    add_n(g, "Add", "a,u1", "sum");
    add_n(g, "Sub", "u2,a", "dif");
    conv(g, "sum", "y1", ch, 5, 3, 1, 64);
    conv(g, "dif", "y2", ch, 3, 1, 1, 65);
    conv(g, "x", "a2", 3, ch, 1, 1, 66);
    add_n(g, "Mul", "a,a2", "prd");
    conv(g, "prd", "y3", ch, 2, 1, 1, 67);
    set_output(g, "y1");
    set_output(g, "y2");
    set_output(g, "y3");
    const float in_s[8] = {0.0081f, 0.0079f, 0.0153f, 0.061f, 0.047f, 0.0042f, 0.0093f, 0.012f};
    const float out_s[8] = {0.033f, 0.021f, 0.019f, 0.024f, 0.011f, 0.05f, 0.027f, 0.04f};
    const int32_t in_z[8] = {2, -7, 0, 5, -40, -3, 7, -1};
    const int32_t out_z[8] = {-5, 3, 1, -2, 0, 4, -3, 2};
    quantize_convs(g, in_s, in_z, out_s, out_z, 1);
    return g;
}

static void test_int8_add_upsampled(void **st)
{
    (void)st;
    enum { NX = 2 * 3 * 48 * 42 };
    float *x = malloc(NX * sizeof *x);
    for (int i = 0; i < NX; i++)
        x[i] = (float)((i * 13) % 47) / 23.0f - 1.0f;
    /* read through only with AVX-512 or AVX2 */
    const int avx2 = qb_avx2_allowed(), up = qb_avx512_allowed(QB_CPU_AVX512F | QB_CPU_AVX512BW) || avx2;
    for (int ch = 40; ch <= 44; ch += 4) {
        setenv("QB_NO_UPSAMPLE_FUSION", "1", 1);
        qb_graph *ref = q_add_up_graph(ch);
        run(ref, x);
        unsetenv("QB_NO_UPSAMPLE_FUSION");
        for (int simd = 0; simd <= 2; simd++) /* plain loops, the CPU's best, the AVX2 ones (elem_q8_simd) */
            for (int threads = 1; threads <= 3; threads++) {
                const int avx512 = simd != 0;
                qb_nhwc_avx512(avx512);
                qb_nhwc_avx2_only(simd == 2);
                qb_gpar_set_threads(threads);
                qb_graph *g = q_add_up_graph(ch);
                assert_int_equal(run(g, x), 2 * (simd == 1 ? up : simd == 2 && avx2));
                for (int again = 0; again <= avx512; again++) { /* read through, without AVX-512 (upsampled_in) */
                    if (again) {
                        qb_nhwc_avx512(0);
                        qb_tensor in = *g->tensors[g->inputs[0]];
                        in.data = x;
                        qb_err e = {0};
                        assert_int_equal(qb_graph_run(g, &in, 1, &e), 0);
                    }
                    for (int o = 0; o < g->noutputs; o++)
                        assert_memory_equal(g->tensors[g->outputs[o]]->data, ref->tensors[ref->outputs[o]]->data,
                                            (size_t)qb_tensor_count(g->tensors[g->outputs[o]]) * sizeof(float));
                }
                qb_graph_free(g);
            }
        qb_graph_free(ref);
    }
    qb_nhwc_avx2_only(0);
    qb_nhwc_avx512(1);
    qb_gpar_set_threads(1);
    free(x);
}

/* qb_qlayer_quantize_planes (NCHW planes into NHWC int8 codes; with
 * AVX-512 16 pixels x 16 channels a step, with VBMI three planes by a
 * byte permute, with AVX2 8 x 8) against qb_quantize_i8 value by value: 1-40 channels,
 * 1-37 pixels, planes and pixels further apart than they are long, NaN,
 * infinities, values past the grid and halves of the scale; the bytes
 * between the pixels' codes left alone. */
static void test_quantize_planes(void **st)
{
    (void)st;
    const int64_t chans[] = {1, 2, 3, 5, 16, 17, 24, 40}, pix[] = {1, 7, 15, 16, 17, 37};
    const float scale = 0.0173f;
    const int32_t zero = -3;
    for (int avx2 = 0; avx2 <= 1; avx2++) /* the CPU's best, then the AVX2 loop (quantize_planes_avx2) */
    for (size_t a = 0; a < sizeof chans / sizeof *chans; a++)
        for (size_t b = 0; b < sizeof pix / sizeof *pix; b++) {
            const int64_t c = chans[a], np = pix[b], ldx = np + 5, ldo = c + (b % 2 ? 3 : 0); /* contiguous pixels too (RGB) */
            float *x = malloc((size_t)(c * ldx) * sizeof *x);
            int8_t *o = malloc((size_t)(np * ldo)), *ref = malloc((size_t)(np * ldo));
            for (int64_t i = 0; i < c * ldx; i++) {
                int k = (int)((i * 29 + c * 7 + np) % 53);
                x[i] = k == 0 ? NAN : k == 1 ? INFINITY : k == 2 ? -INFINITY : k == 3 ? 9.0f : k == 4 ? -7.5f
                       : k < 20 ? ((float)(k - 12) + 0.5f) * scale /* halves of the grid */
                                : (float)((i * 37) % 101) / 40.0f - 1.2f;
            }
            memset(o, 0x5a, (size_t)(np * ldo));
            memset(ref, 0x5a, (size_t)(np * ldo));
            for (int64_t p = 0; p < np; p++)
                for (int64_t ch = 0; ch < c; ch++)
                    qb_quantize_i8(x + ch * ldx + p, 1, scale, zero, -128, 127, ref + p * ldo + ch);
            qb_qlayer_quantize_planes_avx2_only(avx2);
            qb_qlayer_quantize_planes(x, c, (size_t)ldx, np, scale, zero, o, ldo);
            qb_qlayer_quantize_planes_avx2_only(0);
            assert_memory_equal(o, ref, (size_t)(np * ldo));
            free(x);
            free(o);
            free(ref);
        }
}

#ifdef QB_Q8_AVX2
/* n (a multiple of 8) floats to codes by qb_quantize8_avx2. */
__attribute__((target("avx2"))) static void quantize8_avx2_all(const float *x, int n, float scale, int32_t zero,
                                                                int8_t *o)
{
    const __m256 sc = _mm256_set1_ps(scale);
    const __m256i zp = _mm256_set1_epi32(zero);
    for (int i = 0; i < n; i += 8)
        qb_store8_i8(o + i, qb_quantize8_avx2(_mm256_loadu_ps(x + i), sc, zp), 8);
}
#endif

/* qb_quantize8_avx2 (q8_avx2.h, the NHWC operators' AVX2 loops) against
 * qb_quantize_i8 value by value: NaN, infinities, signed zeros, values
 * past the grid and at +-256 steps, halves of the scale (ties to even),
 * subnormals, zero points -128, -3, 0, 127. */
static void test_quantize8_avx2(void **st)
{
    (void)st;
#ifdef QB_Q8_AVX2
    if (!qb_avx2_allowed())
        skip();
    enum { N = 512 };
    float x[N];
    int8_t o[N], ref[N];
    const float scale = 0.0173f;
    for (int i = 0; i < N; i++) {
        int k = (i * 29) % 61;
        x[i] = k == 0 ? NAN : k == 1 ? INFINITY : k == 2 ? -INFINITY : k == 3 ? -0.0f : k == 4 ? 1e-40f
               : k == 5 ? 256.5f * scale : k == 6 ? -300.0f * scale : k == 7 ? 3e38f
               : k < 40 ? ((float)(k - 24) + 0.5f) * scale /* halves of the grid */
                        : (float)((i * 37) % 1001) / 200.0f - 2.5f;
    }
    const int32_t zeros[4] = {-128, -3, 0, 127};
    for (int z = 0; z < 4; z++) {
        qb_quantize_i8(x, N, scale, zeros[z], -128, 127, ref);
        quantize8_avx2_all(x, N, scale, zeros[z], o);
        assert_memory_equal(o, ref, N);
    }
#else
    skip();
#endif
}

/* float Add/Sub/Mul/Div reading a nearest upsampling through
 * (ops_elem.c qb_elem_read_upsampled): x 2 x 5 x 12 x 36; 2x2 (half_pixel)
 * upsamplings of a 2x2 MaxPool added second and subtracted from first, a
 * 2x3 (asymmetric) one multiplied (rw 3: the row on the stack) and a 3x4
 * one divided into x (rows of 9 source values, a masked tail). */
static qb_graph *f_up_graph(void)
{
    qb_graph *g = qb_graph_new("float-up");
    g->opset = 13;
    add_t(g, "x", 4, (int64_t[]){2, 5, 12, 36}, NULL);
    add_t(g, "roi", 1, (int64_t[]){8}, (const float[]){0, 0, 0, 0, 1, 1, 1, 1});
    add_t(g, "sc22", 1, (int64_t[]){4}, (const float[]){1, 1, 2, 2});
    add_t(g, "sc23", 1, (int64_t[]){4}, (const float[]){1, 1, 2, 3});
    add_t(g, "sc34", 1, (int64_t[]){4}, (const float[]){1, 1, 3, 4});
    const int64_t win[3][2] = {{2, 2}, {2, 3}, {3, 4}};
    const char *const pool[3] = {"p22", "p23", "p34"};
    for (int i = 0; i < 3; i++) {
        qb_node *mp = add_n(g, "MaxPool", "x", pool[i]);
        attr_ints(mp, "kernel_shape", 2, win[i]);
        attr_ints(mp, "strides", 2, win[i]);
    }
    add_n(g, "Resize", "p22,roi,sc22", "u1");
    add_n(g, "Add", "x,u1", "s1");
    add_n(g, "Resize", "p22,roi,sc22", "u2");
    add_n(g, "Sub", "u2,x", "s2");
    qb_node *r = add_n(g, "Resize", "p23,roi,sc23", "u3");
    set_attr_str(r, "coordinate_transformation_mode", "asymmetric");
    set_attr_str(r, "nearest_mode", "floor");
    add_n(g, "Mul", "u3,x", "s3");
    r = add_n(g, "Resize", "p34,roi,sc34", "u4"); /* (a node pointer is good until the next node is added) */
    set_attr_str(r, "coordinate_transformation_mode", "asymmetric");
    set_attr_str(r, "nearest_mode", "floor");
    add_n(g, "Div", "x,u4", "s4");
    add_n(g, "Resize", "p22,roi,sc22", "u5"); /* also a graph output: runs */
    add_n(g, "Add", "x,u5", "s5");
    set_output(g, "s1");
    set_output(g, "s2");
    set_output(g, "s3");
    set_output(g, "s4");
    set_output(g, "s5");
    set_output(g, "u5");
    return g;
}

static void test_float_add_upsampled(void **st)
{
    (void)st;
    enum { NX = 2 * 5 * 12 * 36 };
    float *x = input(NX);
    setenv("QB_NO_UPSAMPLE_FUSION", "1", 1);
    qb_graph *ref = f_up_graph();
    assert_int_equal(run(ref, x), 0);
    unsetenv("QB_NO_UPSAMPLE_FUSION");
    for (int simd = 0; simd <= 2; simd++) /* plain loops, the CPU's best, the AVX2 ones (up_rows_avx2, span_f32_avx2) */
        for (int threads = 1; threads <= 3; threads++) {
            qb_elem_avx512(simd != 0);
            qb_elem_avx2_only(simd == 2);
            qb_gpar_set_threads(threads);
            qb_graph *g = f_up_graph();
            assert_int_equal(run(g, x), 4); /* u1-u4 read through; u5 is a graph output */
            for (int o = 0; o < g->noutputs; o++)
                assert_memory_equal(g->tensors[g->outputs[o]]->data, ref->tensors[ref->outputs[o]]->data,
                                    (size_t)qb_tensor_count(g->tensors[g->outputs[o]]) * sizeof(float));
            qb_graph_free(g);
        }
    qb_elem_avx2_only(0);
    qb_elem_avx512(1);
    qb_gpar_set_threads(1);
    qb_graph_free(ref);
    free(x);
}

/* det's RSE block ahead of an FPN sum (exec.c rse_input, nhwc_ops.c
 * qb_nhwc_rse_input): a = int8 conv(x), 44 channels (AVX-512: 16 + 16 +
 * 12, AVX2: 5 x 8 + 4) at 20x18, 2 images;
 * s = HardSigmoid(conv(Relu(conv(GAP(a))))); t = Add(a, Mul(a, s));
 * Add(t, u) with u a 2x2 upsampling (read through with AVX-512) into an
 * int8 conv: the Mul and the Add run inside that Add, which takes a's int8
 * codes. Again with the other operand orders (Mul(s, b), Add(m, b)), no
 * GAP on b, and a Sub whose other input (an int8 conv's Sigmoid, NCHW
 * planes) comes first; e + e * s as the middle input of a Concat (the
 * others a 2x2 upsampling read through with AVX-512 and that Sigmoid)
 * into an int8 conv; and d + d * s whose Add is a graph output: that Add
 * takes the Mul and writes its floats from d's int8 codes
 * (qb_nhwc_rse_self). Bit-identical to no_int8_links (the float path), 1-3
 * threads, AVX-512 on and off, the AVX2 loops. */
static qb_graph *q_rse_graph(int no_links)
{
    qb_graph *g = qb_graph_new("int8-rse");
    g->opset = 13;
    g->no_int8_links = no_links;
    add_t(g, "x", 4, (int64_t[]){2, 3, 20, 18}, NULL);
    add_t(g, "roi", 1, (int64_t[]){8}, (const float[]){0, 0, 0, 0, 1, 1, 1, 1});
    add_t(g, "sc22", 1, (int64_t[]){4}, (const float[]){1, 1, 2, 2});
    conv(g, "x", "a", 3, 44, 3, 1, 71);
    add_n(g, "GlobalAveragePool", "a", "p");
    conv(g, "p", "q", 44, 10, 1, 1, 72);
    add_n(g, "Relu", "q", "qr");
    conv(g, "qr", "r", 10, 44, 1, 1, 73);
    add_n(g, "HardSigmoid", "r", "s");
    add_n(g, "Mul", "a,s", "m");
    add_n(g, "Add", "a,m", "t");
    qb_node *m2 = add_n(g, "MaxPool", "x", "mp");
    attr_ints(m2, "kernel_shape", 2, (int64_t[]){2, 2});
    attr_ints(m2, "strides", 2, (int64_t[]){2, 2});
    conv(g, "mp", "c2", 3, 44, 3, 1, 74);
    add_n(g, "Resize", "c2,roi,sc22", "u");
    add_n(g, "Add", "t,u", "sum");
    conv(g, "sum", "y1", 44, 5, 3, 1, 75);
    conv(g, "x", "b", 3, 44, 1, 1, 76);
    add_n(g, "Mul", "s,b", "mb");
    add_n(g, "Add", "mb,b", "tb");
    conv(g, "x", "c3", 3, 44, 3, 1, 77);
    add_n(g, "Sigmoid", "c3", "u3");
    add_n(g, "Sub", "u3,tb", "dif");
    conv(g, "dif", "y2", 44, 3, 1, 1, 78);
    conv(g, "x", "d", 3, 44, 1, 1, 79);
    add_n(g, "Mul", "d,s", "md");
    add_n(g, "Add", "d,md", "td");
    conv(g, "x", "e", 3, 44, 3, 1, 80);
    add_n(g, "Mul", "e,s", "me");
    add_n(g, "Add", "e,me", "te");
    add_n(g, "Resize", "c2,roi,sc22", "u2");
    qb_node *cat = add_n(g, "Concat", "u2,te,u3", "cat");
    attr_i(cat, "axis", 1);
    conv(g, "cat", "y3", 132, 4, 1, 1, 81);
    /* u4 - (f + s * f), u4 a 2x3 (asymmetric) upsampling of a 10 x 6 map: the x + x * s second, read by rows of 6 */
    add_t(g, "sc23", 1, (int64_t[]){4}, (const float[]){1, 1, 2, 3});
    qb_node *ap = add_n(g, "AveragePool", "x", "ap");
    attr_ints(ap, "kernel_shape", 2, (int64_t[]){2, 3});
    attr_ints(ap, "strides", 2, (int64_t[]){2, 3});
    conv(g, "ap", "c4", 3, 44, 1, 1, 82);
    qb_node *u4 = add_n(g, "Resize", "c4,roi,sc23", "u4");
    set_attr_str(u4, "coordinate_transformation_mode", "asymmetric");
    set_attr_str(u4, "nearest_mode", "floor");
    conv(g, "x", "f", 3, 44, 1, 1, 83);
    add_n(g, "Mul", "s,f", "mf");
    add_n(g, "Add", "mf,f", "tf");
    add_n(g, "Sub", "u4,tf", "dif2");
    conv(g, "dif2", "y4", 44, 3, 1, 1, 84);
    set_output(g, "y1");
    set_output(g, "y2");
    set_output(g, "td");
    set_output(g, "y3");
    set_output(g, "y4");
    /* convs in node order: a q r c2 y1 b c3 y2 d e y3 c4 f y4 */
    const float in_s[14] = {0.0081f, 0.0042f, 0.011f, 0.0153f, 0.061f, 0.0079f, 0.0093f,
                            0.047f,  0.0081f, 0.0081f, 0.052f, 0.0081f, 0.0081f, 0.049f};
    const float out_s[14] = {0.033f, 0.011f, 0.019f, 0.024f, 0.05f, 0.027f, 0.021f,
                             0.04f,  0.029f, 0.031f, 0.06f, 0.026f, 0.028f, 0.05f};
    const int32_t in_z[14] = {2, -128, -128, 5, -3, -7, 0, 9, 2, 2, -6, 2, 2, 4};
    const int32_t out_z[14] = {-5, -128, 1, -2, 4, 3, 0, 2, -1, 3, 1, -3, 2, 0};
    quantize_convs(g, in_s, in_z, out_s, out_z, 5);
    return g;
}

static void test_int8_rse(void **st)
{
    (void)st;
    enum { NX = 2 * 3 * 20 * 18 };
    float x[NX];
    for (int i = 0; i < NX; i++)
        x[i] = (float)((i * 13) % 47) / 23.0f - 1.0f;
    qb_graph *ref = q_rse_graph(1);
    run(ref, x);
    for (int simd = 0; simd <= 3; simd++) /* plain loops, the CPU's best, AVX-512 with the 44 channels in passes of
                                           * 16 (rse_px_q8_body), the AVX2 ones (rse_px_q8_avx2) */
        for (int threads = 1; threads <= 3; threads++) {
            const int avx512 = simd == 1 || simd == 2;
            qb_nhwc_avx512(simd != 0);
            qb_nhwc_rse_chunk(simd == 2 ? 16 : 0);
            qb_nhwc_avx2_only(simd == 3);
            qb_qlayer_quantize_planes_avx2_only(simd == 3); /* the Concat's other inputs too */
            qb_gpar_set_threads(threads);
            qb_graph *g = q_rse_graph(0);
            run(g, x);
            int in_rse = 0;
            for (int i = 0; i < g->nnodes; i++) {
                const qb_node *n = &g->nodes[i];
                const char *o = g->tensors[n->out[0]]->name;
                if (!strcmp(n->op, "Mul") || (!strcmp(n->op, "Add") && o[0] == 't')) {
                    int host = n->fused_into >= 0 ? n->fused_into : -1;
                    const char *h = host >= 0 ? g->tensors[g->nodes[host].out[0]]->name : "";
                    in_rse += !strcmp(h, "sum") || !strcmp(h, "dif") || !strcmp(h, "cat") || !strcmp(h, "dif2");
                    if (!strcmp(o, "md"))
                        assert_string_equal(h, "td");
                }
                if (!strcmp(n->op, "Conv") &&
                    (!strcmp(o, "a") || !strcmp(o, "b") || !strcmp(o, "e") || !strcmp(o, "d") || !strcmp(o, "f")))
                    assert_int_equal(n->nhwc & 10, 10); /* hands on int8 codes NHWC */
            }
            if ((avx512 && qb_avx512_allowed(QB_CPU_AVX512F | QB_CPU_AVX512BW)) || (simd && qb_avx2_allowed()))
                /* u4 read through by dif2 */
                for (int i = 0; i < g->nnodes; i++)
                    if (!strcmp(g->tensors[g->nodes[i].out[0]]->name, "u4"))
                        assert_int_equal(g->nodes[i].fused_into, g->tensors[qb_graph_tensor(g, "dif2")]->producer);
            assert_int_equal(in_rse, 8); /* m, t, mb, tb, me, te, mf, tf (md: into td, a graph output) */
            for (int o = 0; o < g->noutputs; o++)
                assert_memory_equal(g->tensors[g->outputs[o]]->data, ref->tensors[ref->outputs[o]]->data,
                                    (size_t)qb_tensor_count(g->tensors[g->outputs[o]]) * sizeof(float));
            qb_graph_free(g);
        }
    qb_nhwc_avx2_only(0);
    qb_qlayer_quantize_planes_avx2_only(0);
    qb_nhwc_avx512(1);
    qb_nhwc_rse_chunk(0);
    qb_gpar_set_threads(1);
    qb_graph_free(ref);
}

/* x + x * s added to (or subtracted from) a Resize of a float map where
 * some values are not finite (nonfin 1: the map divided by a per-channel
 * constant with zeros, so +-inf and NaN in some of its channels; 2: s so,
 * the HardSigmoid divided by it), into an int8 conv: rse_px_q8_body then
 * runs blocks with the compare (qb_quantize16_dq) and, where a block's
 * values are finite (nonfin 1: the channels past the first pass of 16 in
 * passes of 16), without it (qb_quantize16_fin); and a Concat of the
 * Resize and e + e * s (rse_q8_avx512: s checked; 40 = 16 * 2 + 8
 * channels, pixels in pairs, an odd one alone). 40 channels, 9 x 15, the
 * map upsampled 3 x 3. */
static qb_graph *q_rse_nonfin_graph(int no_links, int nonfin, const char *op)
{
    qb_graph *g = qb_graph_new("int8-rse-nonfin");
    g->opset = 13;
    g->no_int8_links = no_links;
    add_t(g, "x", 4, (int64_t[]){2, 3, 9, 15}, NULL); /* 135 pixels an image: an odd pixel at the end */
    add_t(g, "roi", 1, (int64_t[]){8}, (const float[]){0, 0, 0, 0, 1, 1, 1, 1});
    add_t(g, "sc33", 1, (int64_t[]){4}, (const float[]){1, 1, 3, 3});
    float dz[40];
    for (int c = 0; c < 40; c++)
        dz[c] = c == 3 || c == 7 || c == 12 ? 0.0f : 0.5f + 0.125f * (float)(c % 5);
    add_t(g, "dz", 4, (int64_t[]){1, 40, 1, 1}, dz);
    conv(g, "x", "a", 3, 40, 3, 1, 91);
    add_n(g, "GlobalAveragePool", "a", "p");
    conv(g, "p", "q", 40, 10, 1, 1, 92);
    add_n(g, "Relu", "q", "qr");
    conv(g, "qr", "r", 10, 40, 1, 1, 93);
    add_n(g, "HardSigmoid", "r", nonfin == 2 ? "s0" : "s");
    if (nonfin == 2)
        add_n(g, "Div", "s0,dz", "s");
    add_n(g, "Mul", "a,s", "m");
    add_n(g, "Add", "a,m", "t");
    qb_node *m2 = add_n(g, "MaxPool", "x", "mp");
    attr_ints(m2, "kernel_shape", 2, (int64_t[]){3, 3});
    attr_ints(m2, "strides", 2, (int64_t[]){3, 3});
    conv(g, "mp", nonfin == 1 ? "c0" : "c2", 3, 40, 3, 1, 94);
    if (nonfin == 1)
        add_n(g, "Div", "c0,dz", "c2");
    add_n(g, "Resize", "c2,roi,sc33", "u");
    add_n(g, op, op[0] == 'S' ? "u,t" : "t,u", "sum");
    conv(g, "sum", "y1", 40, 5, 3, 1, 95);
    conv(g, "x", "e", 3, 40, 1, 1, 96); /* a Concat's input x + x * s (rse_q8_pixels) */
    add_n(g, "Mul", "e,s", "me");
    add_n(g, "Add", "e,me", "te");
    add_n(g, "Resize", "c2,roi,sc33", "u2");
    qb_node *cat = add_n(g, "Concat", "u2,te", "cat");
    attr_i(cat, "axis", 1);
    conv(g, "cat", "y2", 80, 4, 1, 1, 97);
    set_output(g, "y1");
    set_output(g, "y2");
    /* convs in node order: a q r c2 y1 e y2 */
    const float in_s[7] = {0.0081f, 0.0042f, 0.011f, 0.0153f, 0.061f, 0.0081f, 0.052f};
    const float out_s[7] = {0.033f, 0.011f, 0.019f, 0.024f, 0.05f, 0.027f, 0.06f};
    const int32_t in_z[7] = {2, -128, -128, 5, -3, 2, -6};
    const int32_t out_z[7] = {-5, -128, 1, -2, 4, 3, 1};
    quantize_convs(g, in_s, in_z, out_s, out_z, 4);
    return g;
}

static void test_int8_rse_nonfin(void **st)
{
    (void)st;
    enum { NX = 2 * 3 * 9 * 15 };
    float x[NX];
    for (int i = 0; i < NX; i++)
        x[i] = (float)((i * 13) % 47) / 23.0f - 1.0f;
    for (int nonfin = 0; nonfin <= 2; nonfin++)
        for (int o = 0; o < 2; o++) {
            const char *op = o ? "Sub" : "Add";
            qb_graph *ref = q_rse_nonfin_graph(1, nonfin, op);
            run(ref, x);
            for (int simd = 0; simd <= 3; simd++) /* plain, the CPU's best, AVX-512 in passes of 16, AVX2 */
                for (int threads = 1; threads <= 3; threads += 2) {
                    qb_nhwc_avx512(simd != 0);
                    qb_nhwc_rse_chunk(simd == 2 ? 16 : 0);
                    qb_nhwc_avx2_only(simd == 3);
                    qb_gpar_set_threads(threads);
                    qb_graph *g = q_rse_nonfin_graph(0, nonfin, op);
                    run(g, x);
                    int fused = 0;
                    for (int i = 0; i < g->nnodes; i++)
                        if (g->nodes[i].fused_into >= 0) {
                            const char *h = g->tensors[g->nodes[g->nodes[i].fused_into].out[0]]->name;
                            fused += (!strcmp(h, "sum") || !strcmp(h, "cat")) &&
                                     (!strcmp(g->nodes[i].op, "Mul") || !strcmp(g->nodes[i].op, "Add"));
                        }
                    assert_int_equal(fused, 4); /* m, t inside sum and me, te inside cat, from int8 codes */
                    for (int k = 0; k < 2; k++)
                        assert_memory_equal(g->tensors[g->outputs[k]]->data, ref->tensors[ref->outputs[k]]->data,
                                            (size_t)qb_tensor_count(g->tensors[g->outputs[k]]) * sizeof(float));
                    qb_graph_free(g);
                }
            qb_graph_free(ref);
        }
    qb_nhwc_avx2_only(0);
    qb_nhwc_avx512(1);
    qb_nhwc_rse_chunk(0);
    qb_gpar_set_threads(1);
}

#ifdef QB_Q16_AVX512
/* n (a multiple of 16) floats to codes by qb_quantize16_dq, or (fin) by
 * qb_quantize16_fin. */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) static void quantize16_dq_all(const float *x, int n,
                                                                                          float scale, int32_t zero,
                                                                                          int fin, int8_t *o)
{
    const __m512 sc = _mm512_set1_ps(scale);
    const __m512i zp = _mm512_set1_epi32(zero);
    for (int i = 0; i < n; i += 16) {
        __m512 v = _mm512_loadu_ps(x + i);
        _mm_storeu_si128((__m128i *)(void *)(o + i), fin ? qb_quantize16_fin(v, sc, zp) : qb_quantize16_dq(v, sc, zp));
    }
}

/* The number of the 2^32 float bit patterns f whose code by
 * qb_quantize16_dq (and, f not NaN, by qb_quantize16_fin) differs from
 * qb_quantize16_avx512's, scale 1 (the quotient is f), zero point zero. */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) static long quantize16_dq_all_floats(int32_t zero)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    const __m512i zp = _mm512_set1_epi32(zero), step = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
                                                                          13, 14, 15);
    long bad = 0;
    for (uint64_t b = 0; b < (1ull << 32); b += 16) {
        const __m512 f = _mm512_castsi512_ps(_mm512_add_epi32(_mm512_set1_epi32((int32_t)(uint32_t)b), step));
        const __m128i r = qb_quantize16_avx512(f, one, zp);
        const __mmask16 num = _mm512_cmp_ps_mask(f, f, _CMP_ORD_Q);
        bad += _mm_cmpneq_epi8_mask(r, qb_quantize16_dq(f, one, zp)) != 0;
        bad += (_mm_cmpneq_epi8_mask(r, qb_quantize16_fin(f, one, zp)) & num) != 0;
    }
    return bad;
}
#endif

/* qb_quantize16_dq and qb_quantize16_fin (q16_avx512.h: the limit by
 * vrangeps) against qb_quantize_i8 value by value (NaN, infinities,
 * signed zeros, values past the grid and at +-256 steps, halves of the
 * scale, subnormals; qb_quantize16_fin on the values that are not NaN),
 * zero points -128, -3, 0, 127; then against qb_quantize16_avx512 over
 * every float bit pattern (zero point -3). */
static void test_quantize16_dq(void **st)
{
    (void)st;
#ifdef QB_Q16_AVX512
    if (!qb_avx512_allowed(QB_CPU_AVX512F | QB_CPU_AVX512BW) || !__builtin_cpu_supports("avx512dq"))
        skip();
    enum { N = 512 };
    float x[N], xf[N];
    int8_t o[N], ref[N];
    const float scale = 0.0173f;
    for (int i = 0; i < N; i++) {
        int k = (i * 29) % 61;
        x[i] = k == 0 ? NAN : k == 1 ? INFINITY : k == 2 ? -INFINITY : k == 3 ? -0.0f : k == 4 ? 1e-40f
               : k == 5 ? 256.5f * scale : k == 6 ? -300.0f * scale : k == 7 ? 3e38f : k == 8 ? -257.5f * scale
               : k < 40 ? ((float)(k - 24) + 0.5f) * scale /* halves of the grid */
                        : (float)((i * 37) % 1001) / 200.0f - 2.5f;
        xf[i] = k == 0 ? 1.5f * scale : x[i];
    }
    const int32_t zeros[4] = {-128, -3, 0, 127};
    for (int z = 0; z < 4; z++)
        for (int fin = 0; fin <= 1; fin++) {
            const float *v = fin ? xf : x;
            qb_quantize_i8(v, N, scale, zeros[z], -128, 127, ref);
            memset(o, 0x5a, N);
            quantize16_dq_all(v, N, scale, zeros[z], fin, o);
            assert_memory_equal(o, ref, N);
        }
    assert_int_equal(quantize16_dq_all_floats(-3), 0);
#else
    skip();
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chain_small),
        cmocka_unit_test(test_chain_blocks),
        cmocka_unit_test(test_flat_blocks),
        cmocka_unit_test(test_leaky_bits),
        cmocka_unit_test(test_pattern_chains),
        cmocka_unit_test(test_not_fused),
        cmocka_unit_test(test_nhwc_chains),
        cmocka_unit_test(test_nhwc_ops),
        cmocka_unit_test(test_int8_maxpool),
        cmocka_unit_test(test_int8_flatten_gemm),
        cmocka_unit_test(test_maxpool_wide),
        cmocka_unit_test(test_avgpool_int8),
        cmocka_unit_test(test_minmax_bits),
        cmocka_unit_test(test_minmax_chains),
        cmocka_unit_test(test_int8_first),
        cmocka_unit_test(test_int8_first_one_channel),
        cmocka_unit_test(test_int8_gap_exact),
        cmocka_unit_test(test_conv_blocks),
        cmocka_unit_test(test_int8_chains),
        cmocka_unit_test(test_int8_concat_add),
        cmocka_unit_test(test_se_mul),
        cmocka_unit_test(test_mul_add),
        cmocka_unit_test(test_bias_softmax),
        cmocka_unit_test(test_gemm_softmax),
        cmocka_unit_test(test_gap_f32_regs),
        cmocka_unit_test(test_gap_groups),
        cmocka_unit_test(test_int8_upsampled),
        cmocka_unit_test(test_int8_add_upsampled),
        cmocka_unit_test(test_float_add_upsampled),
        cmocka_unit_test(test_quantize_planes),
        cmocka_unit_test(test_int8_rse),
        cmocka_unit_test(test_int8_rse_nonfin),
        cmocka_unit_test(test_quantize16_dq),
        cmocka_unit_test(test_quantize8_avx2),
        cmocka_unit_test(test_direct_conv),
        cmocka_unit_test(test_conv_epilogue),
        cmocka_unit_test(test_int8_epilogue),
    };
    qb_gpar_min_ns = 0; /* small loops on the team too: the 1-3 thread checks split them */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
