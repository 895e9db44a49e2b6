/*
 * ptq.h - model-level quantization: find a model's quantizable layers,
 * calibrate their activation ranges on representative samples (PTQ),
 * and build the quantized graph for a per-layer precision plan.
 *
 * Layers are the Conv, Gemm and MatMul nodes with constant weights, in
 * topological order. A layer's input range is observed on its input
 * tensor, its output range on the tensor it writes (after a fused Relu
 * or Clip). Ranges are observed once per model and method; every
 * precision plan reuses them.
 *
 * Output-side tensors: a tensor from which a graph output is reached
 * through no other layer (the last layer's output, through Sigmoid,
 * Softmax, Reshape, an If ...) is read by no further quantized layer but
 * by the user. ptq-kl gives such tensors their min/max range, not KL's
 * threshold (docs/quantization.md "Graph outputs keep their min/max
 * range under ptq-kl"), says so on stderr and records it in kept_minmax.
 * Input-side tensors likewise: a graph input, or what value-copying
 * nodes (Reshape, Flatten, ...) make of it ("Graph inputs keep their
 * min/max range under ptq-kl").
 */
#ifndef QB_PTQ_H
#define QB_PTQ_H

#include "harness/eval/runner.h"
#include "harness/qmath/quant.h"

#define QB_LAYER_NAME 128 /* bytes of a layer name */

/* One quantizable layer. */
typedef struct qb_layer_info {
    int node;                  /* node index in the graph */
    char name[QB_LAYER_NAME];  /* node name */
    const char *op;            /* "Conv", "Gemm" or "MatMul" (static string) */
    int depthwise;             /* Conv with groups == channels (runs on the depthwise kernel) */
    int n, k;                  /* weight matrix: N outputs x K inputs (per group for Conv) */
    int groups;                /* Conv groups (1 otherwise) */
    int64_t weights;           /* weight elements */
    int64_t macs;              /* multiply-accumulates per sample */
    int in_t, out_t;           /* observed tensors: input 0, the written output */
    qb_qparams in_qp, out_qp;  /* calibrated int8 parameters of input and output */
    float in_mean;             /* mean of the input over the calibration samples (binary threshold) */
    unsigned kept_minmax;      /* bit 0 input, bit 1 output: range kept at the observed min/max instead of the
                                * calibrator's because the tensor feeds a graph output through no other layer
                                * or holds a graph input's values (ptq-kl; qb_calibrate) */
} qb_layer_info;

/* What calibration found. */
typedef struct qb_calibration {
    int n;                    /* number of layers */
    qb_layer_info *layers;    /* the layers in order */
    qb_calib method;          /* observer used */
    int symmetric;            /* activations symmetric (zero point 0) */
    int samples;              /* calibration samples */
    double seconds;           /* wall time of calibration (both passes) */
} qb_calibration;

/* Layers of a prepared graph (fills node, name, op, shapes, weights,
 * macs, tensors). *out malloc'd. Returns the count (0 if none). */
int qb_find_layers(const qb_graph *g, qb_layer_info **out);

/* Run the samples through a copy of model (unprepared) in fp32 (batch `batch`,
 * isa -1 = best) and observe every layer's input and output with the
 * method's observer (percentile: p). 0, or -1 with a message. */
int qb_calibrate(const qb_graph *model, const qb_samples *s, int batch, qb_calib method, double p, int symmetric,
                 qb_calibration *c, qb_err *e);
void qb_calibration_free(qb_calibration *c);

/* Options of the quantized graph. */
typedef struct qb_quant_opts {
    int group;            /* int4 weight group along K (0: per channel); convs with taps use per channel */
    int binary_ends_int8; /* binary: first and last layers stay int8-channel (default 1) */
} qb_quant_opts;

/* Every layer at p (fp32 or fp16 included); binary keeps the ends
 * int8-channel when o says so. plan has c->n entries. */
void qb_plan_uniform(const qb_calibration *c, qb_precision p, const qb_quant_opts *o, qb_precision *plan);
/* Weight bytes of the layers under a plan (fp32 4, fp16 2, int8 1, int4
 * 0.5, binary 1/8 per weight, plus scales). */
int64_t qb_plan_weight_bytes(const qb_calibration *c, const qb_precision *plan, const qb_quant_opts *o);
/* A copy of model (unprepared) with a qspec attached to layer i for plan[i]
 * (fp32: none). Not prepared. NULL with a message. */
qb_graph *qb_quantize_graph(const qb_graph *model, const qb_calibration *c, const qb_precision *plan,
                            const qb_quant_opts *o, qb_err *e);

#endif
