/*
 * repairs.h - the repairs of the PTQ methods (the `+cle`, `+absorb`,
 * `+smooth`, `+adaround`, `+biascorr`, `+biascorr-bn` options of the
 * method vocabulary, harness/qmath/method.h): transforms of an FP32
 * graph, BatchNormalization already folded, that make it quantize better.
 *
 *   repair_graph.c  the folded copy with the BatchNormalization statistics
 *                   kept, the (layer, activation, layer) pairs, weight
 *                   rows and columns of a Conv/Gemm/MatMul
 *   cle.c           cross-layer equalization and bias absorption
 *                   (Nagel et al., "Data-Free Quantization", ICCV 2019)
 *   smooth.c        activation-range smoothing (SmoothQuant-style scale
 *                   migration, through the same pairs) and the per-channel
 *                   activation ranges that decide where it is needed
 *   adaround.c      learned rounding of each layer's weights (Nagel et
 *                   al., "Up or Down? Adaptive Rounding", ICML 2020)
 *   biascorr.c      empirical and analytical bias correction
 *
 * All of them work on an unprepared graph (no shapes of activations
 * needed) whose weights and biases they rewrite in place.
 */
#ifndef QB_REPAIRS_H
#define QB_REPAIRS_H

#include <stdio.h>

#include "harness/eval/runner.h"
#include "harness/quant/ptq.h"

/* BatchNormalization statistics of one layer's output, kept when the
 * BN is folded: the output channel c is about N(beta[c], gamma[c]^2). */
typedef struct qb_bn_stat {
    char name[QB_LAYER_NAME]; /* the Conv/Gemm node the BN was folded into */
    int c;                    /* channels */
    float *beta, *gamma;      /* per channel mean and standard deviation (gamma >= 0) */
} qb_bn_stat;

/* The statistics of every folded BatchNormalization. */
typedef struct qb_bn_stats {
    int n;          /* entries */
    qb_bn_stat *s;  /* by layer */
} qb_bn_stats;

/* A copy of model (unprepared) with BatchNormalization folded into its
 * Conv/Gemm, the statistics kept in *st (may be NULL). NULL with a message. */
qb_graph *qb_repair_fold(const qb_graph *model, qb_bn_stats *st, qb_err *e);
void qb_bn_stats_free(qb_bn_stats *st);
/* The statistics of node `name`, or NULL. */
qb_bn_stat *qb_bn_stats_find(const qb_bn_stats *st, const char *name);

/* ---- weights of a Conv (groups 1 or depthwise), Gemm or MatMul node ---- */

/* Where a node's weights lie: output channel o, input column k. */
typedef struct qb_wview {
    float *w;       /* the weights (a constant private to the node) */
    float *b;       /* the bias (N), or NULL */
    int n, k;       /* output channels, input columns (Conv: Cin * kh * kw for groups 1, kh * kw depthwise) */
    int cin;        /* input channels (Conv), K (Gemm/MatMul) */
    int taps;       /* Conv kh * kw, else 1 */
    int depthwise;  /* Conv with groups == Cin == Cout */
    int row_major;  /* 1: w[o * k + j] (Conv, Gemm transB=1); 0: w[j * n + o] */
    int padded;     /* Conv with nonzero pads */
} qb_wview;

/* The view of node i (Conv with groups 1 or depthwise, Gemm, MatMul; const
 * float weights used by this node only). 0, or -1 when it has none. */
int qb_wview_of(qb_graph *g, int node, qb_wview *v);
/* The weight of output o, input column j. */
static inline float *qb_wv_at(const qb_wview *v, int o, int j)
{
    return v->row_major ? &v->w[(size_t)o * v->k + j] : &v->w[(size_t)j * v->n + o];
}
/* Give node i a bias of zeros if it has none (Conv, Gemm); 0 or -1. */
int qb_wview_add_bias(qb_graph *g, int node, qb_wview *v);

/* The weights as n x k row-major (out[o * k + j]). */
int qb_wview_rows(const qb_wview *v, float *out);
/* Node index of a layer in g by name and op, or -1. */
int qb_layer_node(const qb_graph *g, const qb_layer_info *l);

/* Geometry of a Conv node of a prepared graph (NCHW shapes known). */
typedef struct qb_conv_geo {
    int cin, h, w;     /* input channels and size */
    int oh, ow;        /* output size */
    int kh, kw;        /* kernel */
    int sh, sw;        /* strides */
    int ph, pw;        /* padding at the top and left */
    int dh, dw;        /* dilations */
} qb_conv_geo;
int qb_conv_geo_of(const qb_graph *g, const qb_node *n, qb_conv_geo *c);
/* The input patch of output (oy, ox) for channels c0 .. c0 + nc of one
 * NCHW sample x: nc * kh * kw values (0 at padding), the weights' column order. */
void qb_conv_patch(const qb_conv_geo *c, const float *x, int c0, int nc, int oy, int ox, float *out);

/* Called for every input row of a layer: layer = index into the caller's
 * node list; a = the row (a conv's patch in weight column order; a
 * depthwise conv's taps of channel grp; a Gemm/MatMul input row), len values. */
typedef void (*qb_patch_fn)(void *ctx, int layer, int grp, const float *a, int len);
/* Run the samples through a copy of g in fp32 (NCHW) and hand every input
 * row of the layers nodes[0..n) to fn. 0, or -1 with a message. */
int qb_layer_inputs(const qb_graph *g, const int *nodes, int n, const qb_samples *s, int batch, qb_patch_fn fn,
                    void *ctx, qb_err *e);

/* ---- pairs: layer, then only per-channel positively homogeneous ops, then layer ---- */

/* What lies between the two layers of a pair. */
typedef struct qb_pair {
    int l1, l2;        /* node indices: the producer and the consumer layer */
    int mid[8];        /* the nodes in between (Relu, Clip, LeakyRelu, pools, Flatten, Identity) */
    int nmid;          /* their count */
    int relu;          /* one of them is a Relu (or a Clip with min 0): absorption may shift below it */
    int clip;          /* node index of a Clip with an upper bound in between, or -1 */
    int kmul;          /* input columns of l2 per channel of l1 (Flatten of C x H x W: H*W) */
    int tensor;        /* the tensor l2 reads (the activations between the layers) */
} qb_pair;

/* The pairs of g in node order; *out malloc'd. Returns the count. */
int qb_find_pairs(qb_graph *g, qb_pair **out);
/* Channel c of l1 in l2's input columns: first column j and, for a
 * conv, every tap (callback per (o, column)). Scales l2's input
 * channel c by f. */
void qb_pair_scale_in(qb_graph *g, const qb_pair *p, int c, float f);
/* max |w| of l2's input channel c. */
float qb_pair_in_range(qb_graph *g, const qb_pair *p, int c);
/* Scale l1's output channel c (weights and bias) by f; its BN statistics too. */
void qb_pair_scale_out(qb_graph *g, const qb_pair *p, int c, float f, qb_bn_stats *st);
/* max |w| of l1's output channel c. */
float qb_pair_out_range(qb_graph *g, const qb_pair *p, int c);

/* ---- cle.c ---- */

/* What equalization did. */
typedef struct qb_cle_report {
    int pairs;         /* pairs equalized */
    int sweeps;        /* passes over the pairs until the scales settled */
    int clips_relu;    /* Clip(0, 6) between equalized layers turned into Relu (the float model changes above 6) */
    int absorbed;      /* pairs that qualified for absorption */
    int absorbed_channels; /* channels whose c0 = beta - 3 gamma was > 0 and moved */
    int absorb_skipped;/* pairs left out of absorption (padded conv, no statistics, no Relu) */
    double spread_before; /* largest max/min ratio of one layer's per-channel weight ranges (pairs' first layers), before */
    double spread_after;  /* the same after equalization */
} qb_cle_report;

/* equalize: equalize every pair's per-channel weight ranges (s = sqrt(r1 / r2),
 * repeated until no scale moves by more than 1e-4, at most 100 passes).
 * A Clip(0, M) in between becomes a Relu (a per-channel clip is not an
 * ONNX Clip; AIMET and the DFQ paper's MobileNetV2 do the same). absorb:
 * then bias absorption c = max(0, beta - 3 gamma) from st (pairs whose
 * l2 is an unpadded conv or a Gemm/MatMul, with a Relu in between). st
 * may be NULL (no absorption). 0, or -1 with a message. */
int qb_cle(qb_graph *g, qb_bn_stats *st, int equalize, int absorb, qb_cle_report *rep, qb_err *e);

/* ---- smooth.c ---- */

/* Per-channel ranges of every pair's activations on the samples. */
typedef struct qb_chan_ranges {
    int npairs;        /* pairs */
    qb_pair *pairs;    /* the pairs (owned) */
    int *c;            /* channels of pair i */
    float **absmax;    /* pair i: max |x| per channel */
} qb_chan_ranges;

/* Run the samples through a copy of g (fp32, NCHW) and record max |x| per
 * channel of every pair's activations. 0, or -1 with a message. */
int qb_chan_ranges_measure(const qb_graph *g, const qb_samples *s, int batch, qb_chan_ranges *r, qb_err *e);
void qb_chan_ranges_free(qb_chan_ranges *r);
/* Outlier ratio of pair i: max over channels of max|x| divided by the median. */
double qb_chan_outlier_ratio(const qb_chan_ranges *r, int i);

/* Smoothing of the pairs whose outlier ratio is at least min_ratio:
 * s_c = max|x_c|^alpha / max|w2_c|^(1 - alpha), l1's channel c divided,
 * l2's multiplied (alpha 0.5, SmoothQuant's default). log (may be NULL):
 * one line per pair with its ratio. Returns the pairs smoothed, or -1
 * with a message. */
int qb_smooth(qb_graph *g, const qb_samples *s, int batch, double alpha, double min_ratio, FILE *log, qb_err *e);

/* ---- adaround.c ---- */

/* What AdaRound did. */
typedef struct qb_adaround_report {
    int layers;           /* layers rounded */
    int iters;            /* iterations per layer */
    double seconds;       /* wall time, input statistics included */
    double mse_nearest;   /* sum over layers of the output MSE with nearest rounding */
    double mse_ada;       /* the same with the learned rounding */
    long flipped;         /* weights rounded the other way than nearest */
} qb_adaround_report;

/* The int grid of a layer at precision p (what qlayer.c quantizes to):
 * scales per row/group and the grid bound. Dequantized weights of the
 * nearest rounding into wq (n x k, row-major o * k + j). 0, or -1 when the
 * precision has no such grid (fp32, fp16, binary). */
int qb_layer_grid(const qb_wview *v, qb_precision p, int group, float *scale, int *ngroups, int *qmax);

/* Learn the rounding of every layer planned int4 / int8-* (the layer output
 * MSE on the calibration samples, FP32 inputs, before the activation; rectified
 * sigmoid, regularizer weight 0.01 with beta annealed 20 -> 2 after a
 * 20% warm-up, Adam lr 0.01) and write the rounded weights (grid value
 * times scale) into g, so the quantizer reproduces them. cal/plan give
 * the layers and their precisions. 0, or -1 with a message. */
int qb_adaround(qb_graph *g, const qb_calibration *cal, const qb_precision *plan, const qb_quant_opts *o,
                const qb_samples *s, int batch, int iters, qb_adaround_report *rep, qb_err *e);

/* Learn the rounding of one layer: w (n x k row-major), its grid (scale
 * per row and group of `group` columns, bound qmax), G = sum of a a^T over
 * m input vectors (k x k) or the inputs A (m x k) themselves when G is
 * NULL. Writes the rounded grid values into q. Returns the MSE before
 * (nearest) and after in *mse0 / *mse1 (may be NULL). */
void qb_adaround_layer(const float *w, int n, int k, const float *scale, int group, int qmax, const double *G,
                       const float *A, long m, int iters, uint64_t seed, int8_t *q, double *mse0, double *mse1);

/* ---- biascorr.c ---- */

/* Empirical bias correction: for every quantized layer, subtract
 * (W_q - W) E[x] from its bias, E[x] the mean of its input patches on the
 * samples (FP32 model) and W_q the weights as the plan's precision
 * quantizes them. Returns the layers corrected, or -1 with a message. */
int qb_biascorr_empirical(qb_graph *g, const qb_calibration *cal, const qb_precision *plan, const qb_quant_opts *o,
                          const qb_samples *s, int batch, qb_err *e);
/* Analytical: E[x] per input channel from the BatchNormalization statistics
 * of the producing layer through its Relu / Clip (the mean of a clipped
 * normal); layers whose input has none are left alone. Returns the
 * layers corrected, or -1 with a message. */
int qb_biascorr_analytic(qb_graph *g, const qb_bn_stats *st, const qb_calibration *cal, const qb_precision *plan,
                         const qb_quant_opts *o, qb_err *e);
/* The weights layer v runs with at precision p (dequantized), into wq (n x k row-major). 0 or -1 (fp32). */
int qb_layer_weights_as_run(const qb_wview *v, qb_precision p, int group, float *wq);

#endif
