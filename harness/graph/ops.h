/*
 * ops.h - what the operator files share: the table each ops_*.c file
 * exports, and helpers for attributes, shapes and broadcasting.
 */
#ifndef QB_OPS_H
#define QB_OPS_H

#include <stdint.h>
#include <string.h>

#include "harness/graph/graph.h"

/* Each ops_*.c file exports a NULL-name-terminated table. */
extern const qb_opdef qb_ops_elem[];
extern const qb_opdef qb_ops_shape[];
extern const qb_opdef qb_ops_conv[];
extern const qb_opdef qb_ops_gemm[];
extern const qb_opdef qb_ops_reduce[];
/* public edge models: Pad, Resize/Upsample, ConvTranspose, If, LSTM/GRU/RNN */
extern const qb_opdef qb_ops_pad[];
extern const qb_opdef qb_ops_resize[];
extern const qb_opdef qb_ops_convt[];
extern const qb_opdef qb_ops_control[];
extern const qb_opdef qb_ops_rnn[];
/* qops: quantized-model operators (ops_quant.c, ops_qlinear.c, ops_minmax.c) */
extern const qb_opdef qb_ops_quant[];
extern const qb_opdef qb_ops_qlinear[];
/* qdq: qbench's custom domain com.qbench (ops_qbench.c) */
extern const qb_opdef qb_ops_qbench[];
extern const qb_opdef qb_ops_minmax[]; /* Min Max Round ReduceMin ReduceMax (expanded DynamicQuantizeLinear) */
extern const qb_opdef qb_ops_unary[];  /* element-wise functions of one input (ops_unary.c) */
extern const qb_opdef qb_ops_logic[];  /* comparisons, logic, Where, BitShift (ops_logic.c) */
extern const qb_opdef qb_ops_arith[];  /* Mod, PRelu, Sum, Mean (ops_arith.c) */
extern const qb_opdef qb_ops_reduce_acc[]; /* ReduceSum, ReduceMean ..., CumSum (ops_reduce_acc.c) */
extern const qb_opdef qb_ops_select[]; /* ArgMax, ArgMin, TopK (ops_select.c) */
extern const qb_opdef qb_ops_softmax[]; /* LogSoftmax, Hardmax (ops_softmax.c) */
extern const qb_opdef qb_ops_layout[]; /* Split, Tile, Expand, DepthToSpace, SpaceToDepth, Trilu (ops_layout.c) */
extern const qb_opdef qb_ops_gen[];    /* ConstantOfShape, Size, Range, EyeLike (ops_gen.c) */
extern const qb_opdef qb_ops_norm[];   /* Instance/Layer/Group/MeanVariance normalization, LRN (ops_norm.c) */
extern const qb_opdef qb_ops_index[];  /* GatherElements, GatherND, NonZero, Compress, OneHot (ops_index.c) */
extern const qb_opdef qb_ops_scatter[]; /* ScatterND, ScatterElements, Scatter (ops_scatter.c) */
extern const qb_opdef qb_ops_loss[];   /* NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss (ops_loss.c) */
extern const qb_opdef qb_ops_einsum[]; /* Einsum (ops_einsum.c) */
extern const qb_opdef qb_ops_pool_global[]; /* GlobalMaxPool, GlobalLpPool (ops_pool_global.c) */
extern const qb_opdef qb_ops_det[];    /* Det (ops_det.c) */

/* ---- ops_bcast.c: numpy broadcasting of several inputs (Where, the
 * comparisons, the logical ops, Mod, PRelu, variadic Sum/Mean) ---- */
#define QB_BCAST_MAX 8
typedef struct qb_bcast {
    int rank;                               /* output rank */
    int64_t dims[QB_MAX_DIMS];              /* output shape */
    int64_t count;                          /* output elements */
    int n;                                  /* inputs */
    int64_t str[QB_BCAST_MAX][QB_MAX_DIMS]; /* input k's element stride per output dim (0 where broadcast) */
} qb_bcast;
/* Where an odometer over the output stands. */
typedef struct qb_bcast_pos {
    int64_t idx[QB_MAX_DIMS]; /* output coordinates */
    int64_t off[QB_BCAST_MAX]; /* each input's element offset */
} qb_bcast_pos;
/* Broadcast ts[0..n-1] (n <= QB_BCAST_MAX) into b; -1 if they do not broadcast. */
int qb_bcast_init(qb_bcast *b, int n, const qb_tensor *const *ts);
/* Step p to the next output element (row-major). */
void qb_bcast_next(const qb_bcast *b, qb_bcast_pos *p);
/* Prepare helper: broadcast inputs 0..n-1 of node n into b, with a message
 * naming the shapes when they do not. 0 or -1. */
int qb_bcast_inputs(qb_graph *g, qb_node *nd, int n, qb_bcast *b, qb_err *e);
/* Float types: float32, float16, double. */
int qb_dtype_is_float(qb_dtype t);

/* Set output i's dtype and shape. */
void qb_set_out(qb_graph *g, qb_node *n, int i, qb_dtype dt, int ndim, const int64_t *dims);
/* Fail unless input i exists; returns it. */
qb_tensor *qb_need_in(qb_graph *g, qb_node *n, int i, qb_err *e);
/* Message prefix helper: "file: node 'x' (Op): ..." */
#define QB_NODE_ERR(e, g, n, fmt, ...) \
    qb_errf(e, "%s: node '%s' (%s): " fmt, (g)->file, (n)->name, (n)->op, ##__VA_ARGS__)
/* The same for what qbench does not implement (kind: a QB_ERR_UNSUPPORTED_*). */
#define QB_NODE_UNSUPPORTED(e, g, n, kind, fmt, ...) \
    qb_errk(e, kind, "%s: node '%s' (%s): " fmt, (g)->file, (n)->name, (n)->op, ##__VA_ARGS__)
/* Normalize axis a for rank r: -1 if out of range. */
int qb_axis(int64_t a, int r);
/* x as [outer x len x inner] around its axis a (0 <= a < rank, or 0 for
 * a scalar): outer the product of the dims before a, len dims[a] (1 for
 * a scalar), inner the product of the dims after a; len may be NULL. */
void qb_axis_split(const qb_tensor *x, int a, int64_t *outer, int64_t *len, int64_t *inner);
/* The input x of a Reduce* node (ops_reduce_acc.c; bool refused) and the
 * axes it reduces: the "axes" attribute, or the constant input 1 (opset
 * 18) when there is one, each marked red[axis] = 1 (red: QB_MAX_DIMS
 * zeroed entries); none given: every axis, or *noop = 1 with
 * noop_with_empty_axes. x, or NULL with e (axes not constant, out of
 * range, repeated, too many). */
const qb_tensor *qb_reduce_input(qb_graph *g, qb_node *n, int *red, int *noop, qb_err *e);
/* Integer value of element i of a constant int32/int64 tensor. */
int64_t qb_int_at(const qb_tensor *t, int64_t i);
/* Element i of any tensor as double / as int64 (floats truncated, NaN 0). */
double qb_get_d(const qb_tensor *t, int64_t i);
/* Store v into element i: float types round (float16 to nearest even),
 * integer types truncate toward zero, saturate to int64 and then wrap to
 * the element width (NaN gives 0). */
void qb_set_d(qb_tensor *t, int64_t i, double v);
/* Store an integer into element i (wraps to the element width). */
void qb_set_i(qb_tensor *t, int64_t i, int64_t v);
/* Integer types (not float, float16, double). */
int qb_dtype_is_int(qb_dtype t);
/* Run function shared by Identity, Dropout (inference) and the reshaping
 * ops: copy input 0 to output 0, set an optional mask output to true. */
void qb_op_copy_run(qb_graph *g, qb_node *n, void *scratch);
/* Numpy broadcast of two shapes into out (rank = max); -1 if incompatible. */
int qb_broadcast(int na, const int64_t *a, int nb, const int64_t *b, int *nout, int64_t *out);
/* Conv only: keep its input (bit 0) and/or output (bit 1) in NHWC, for
 * chains of convolutions; repacks weights if needed. 0 or -1. */
int qb_conv_set_layout(qb_graph *g, qb_node *n, int nhwc, qb_err *e);
/* A quantized int8 Gemm (no transA, constant weights) whose A is the
 * NCHW Flatten of an N x c x h x w tensor reads that tensor's data
 * instead (tensor x: int8 NHWC pixels, hw = h * w, in its input grid):
 * its weights are repacked with their columns in NHWC order, so the
 * int32 sums are the same. 0, or -1 with a message. */
int qb_gemm_set_int8_nhwc_input(qb_graph *g, qb_node *n, int x, int64_t c, int64_t hw, qb_err *e);
/* ops_conv.c: im2col's AVX-512 copies of whole window rows on (1, the
 * default where the CPU and QB_FORCE_ISA allow) or off (tests). */
void qb_conv_im2col_avx512(int on);
/* exec.c: quantized layers may hand on int8 and quantize their input
 * ahead of im2col (not g->no_int8_links, not QB_NO_INT8_LINKS=1). */
int qb_graph_int8_links(const qb_graph *g);
/* Nonzero when a prepared Conv node runs on the depthwise kernels. */
int qb_conv_is_depthwise(const qb_node *n);
/* Conv only: reading NHWC input costs no more than NCHW (not so for a
 * depthwise conv off the depthwise kernel: its NHWC im2col gathers one
 * float per tap). */
int qb_conv_nhwc_input_fast(const qb_node *n);
/* ops_conv.c: three planes lds floats apart (RGB images) to n pixels,
 * dst[3x + c] = src[c * lds + x] (SSE shuffles; also qlayer.c). */
/* ops_conv.c: dst[c][r] = src[r][c] for a rows x cols matrix src of
 * leading dimension lds into dst of leading dimension ldd (cache blocks,
 * 16x16 AVX-512 blocks inside where AVX-512F runs and the ISA cap allows
 * it, else 4x4 SSE blocks; copies only). qb_transpose_avx512(0) keeps the
 * SSE blocks (tests). */
void qb_transpose_f32(float *dst, size_t ldd, const float *src, size_t lds, int64_t rows, int64_t cols);
void qb_transpose_avx512(int on);
/* ops_conv.c: n pixels of C channels from C planes lds floats apart,
 * dst[x * C + c] = src[c * lds + x] (copies only; the NCHW -> NHWC step
 * of the fp32 direct conv's padded copy and of qlayer.c's quantized
 * images). */
void qb_planes_to_pixels(float *restrict dst, const float *src, size_t lds, int64_t C, int64_t n);
/* fuse_elem.c: the input tensor of an element-wise chain's first node,
 * or -1 if n is not one; make the chain run on NHWC tensors (between
 * convolutions), 0 or -1 with a message. */
int qb_elem_chain_input(const qb_graph *g, const qb_node *n);
int qb_elem_chain_set_nhwc(qb_graph *g, qb_node *n, qb_err *e);
/* Chain n as relu(v + k) on NCHW planes, one Add of a constant (per_c
 * one per channel, else the scalar k; k_first: Add(k, v)) then a Relu:
 * 1 and its operands, else 0. */
int qb_elem_chain_add_relu(const qb_node *n, const float **per_c, float *k, int *k_first);
/* Chain n runs on NCHW float planes (not NHWC, no int8 tables): 1, else
 * 0; then qb_elem_chain_apply_plane runs its steps in place on count
 * floats of channel ch (per-channel operands: channel ch's), in the
 * chain pass's blocks (the same bits as the pass). */
int qb_elem_chain_planes_ok(const qb_node *n);
void qb_elem_chain_apply_plane(const qb_node *n, int64_t ch, float *y, int64_t count);
/* ops_convt.c: make ConvTranspose n run chain node `chain` (an Add and a
 * Relu, qb_elem_chain_add_relu) on each value it stores, where its
 * windows tile the output 2x2, or, on its direct path (few columns), any
 * float chain on NCHW planes (qb_elem_chain_planes_ok) on each input
 * row's output rows once written: 1, else 0 (the chain stays a pass). */
int qb_convt_set_epilogue(qb_graph *g, qb_node *n, int chain);
/* ops_convt.c, after the conv epilogues: a ConvTranspose whose windows
 * tile the output 2x2 (one image, one group, constant weights) whose
 * output only a direct-path ConvTranspose reads (det's head: 24 -> 24,
 * then 24 -> 1) runs that one on each block of its output rows, written
 * to a per-slot buffer of its scratch instead of a tensor, while they are
 * in cache: the second is fused into the first, which writes its output
 * (the same values: the same bits). Off with g->no_conv_epilogue,
 * QB_NO_CONV_EPILOGUE=1 or QB_NO_CONVT_PAIR=1. Returns how many. */
int qb_convt_fuse_pairs(qb_graph *g);
/* Chain n (run in a conv's epilogue) in place on pixels x C floats of
 * NHWC pixels, y at a pixel's first channel. */
void qb_elem_chain_apply_nhwc(const qb_node *n, float *y, int64_t pixels);
/* fuse_elem.c, after the layouts: a float Mul of a 4-D NCHW map x and a
 * runtime N x C x 1 x 1 s whose output only an Add of it and x reads
 * runs in that Add as one pass, x + x * s (operand orders kept: the same
 * bits); the Mul is fused into the Add. Off with g->no_elem_fusion or
 * QB_NO_MULADD_FUSION=1. Returns how many. */
int qb_fuse_mul_add(qb_graph *g);
/* fuse_elem.c, after the layouts: a float Add of a runtime x and a
 * constant row b (x's last dim) read only by a Softmax along rows of that
 * length (through copies such as Flatten) runs in the Softmax (the same
 * bits); the Add and the copies are fused into it. Off with
 * g->no_elem_fusion or QB_NO_SOFTMAX_BIAS_FUSION=1. Returns how many. */
int qb_fuse_bias_softmax(qb_graph *g);
/* ops_reduce.c: make Softmax n read x (len-value rows) and add bias
 * (len values) to each row first; 1, or 0 if n is no Softmax along
 * contiguous rows of len values of x's size. */
int qb_softmax_fuse_bias(qb_graph *g, qb_node *n, int x, const float *bias, int64_t len);
/* ops_reduce.c: the tensor Softmax n reads along contiguous rows
 * (*rows of *len values; a fused bias Add's input), or -1 if n is no
 * prepared Softmax along the last axis; rows [r0, r1) of its output y
 * computed in place from their input values (its bias added first: the
 * bits of its own run). */
int qb_softmax_rows_input(const qb_node *n, int64_t *rows, int64_t *len);
void qb_softmax_rows_inplace(const qb_node *n, float *y, int64_t r0, int64_t r1);
/* ops_gemm.c, after qb_fuse_bias_softmax: a Softmax along rows whose
 * input is the float output of an int8 quantized MatMul or Gemm (its
 * rows) read by nothing else runs in that layer, on each block of its
 * dequantized rows in place (qb_qlayer_gemm_softmax): the layer writes
 * the Softmax's output, the float map between them is gone (PP-OCRv4
 * rec's 40 x 6625 classifier). The same bits. Off with
 * g->no_elem_fusion or QB_NO_GEMM_SOFTMAX_FUSION=1. Returns how many. */
int qb_gemm_fuse_softmax(qb_graph *g);
/* Int8 chain n (qb_elem_chain_set_int8; run in an int8 conv's epilogue)
 * in place on pixels x C int8 codes of NHWC pixels through its tables,
 * y at a pixel's first channel. */
void qb_elem_chain_apply_i8(const qb_node *n, int8_t *y, int64_t pixels);
/* Float chain n without per-channel steps, run after an int8 conv whose
 * codes dequantize with (scale, zero): its 256 results
 * steps(DequantizeLinear(q)) laid out once (1; 0 with per-channel steps,
 * -1 with a message). qb_elem_chain_apply_dq: count codes x to the
 * chain's floats y (the dequantization and the chain at once, the same
 * bits) where AVX-512 VBMI runs: 1, else 0 (nothing done: dequantize
 * and run the chain). */
int qb_elem_chain_set_dq(qb_graph *g, qb_node *n, float scale, int32_t zero, qb_err *e);
int qb_elem_chain_apply_dq(const qb_node *n, const int8_t *x, float *y, int64_t count);
/* on = 0: chains run their plain (SSE2) step loops, not the AVX-512
 * copy, whatever the CPU (tests: the same bits); 1: the default. */
void qb_elem_chain_avx512(int on);
/* Tests: qb_elem_chain_avx2_only(1) runs the chains' AVX2 step loops
 * instead of the AVX-512 ones (the same bits); 0: the CPU's best. */
void qb_elem_chain_avx2_only(int on);
/* ops_conv.c: let Conv n run the chain node (index chain, NHWC tiles if
 * chain_nhwc) on each block of its output pixels: fp32 convs and int8
 * quantized ones with float output (the chain on the dequantized block),
 * or int8 output for an int8 chain (chain_i8: its tables on the codes).
 * 1 if it will, 0 if it cannot (other precisions, grouped, layouts or
 * output types differ). */
int qb_conv_set_epilogue(qb_graph *g, qb_node *n, int chain, int chain_nhwc, int chain_i8, qb_err *e);
/* Make the chain run on int8 NHWC tensors: input in the grid (in_scale,
 * in_zero), output in (out_scale, out_zero), through per-channel tables
 * computed with the chain's float steps. 0, or -1 with a message. */
int qb_elem_chain_set_int8(qb_graph *g, qb_node *n, float in_scale, int32_t in_zero, float out_scale,
                           int32_t out_zero, qb_err *e);
/* nhwc_ops.c: 1 if n (Concat on channels, Add/Sub/Mul of one shape or per channel) can
 * run with its inputs and output NHWC, 2 if it can read NHWC and write a
 * layout-free output (GlobalAveragePool), 3 if it reads NHWC and writes
 * either layout (MaxPool/AveragePool 2-D), else 0; switch it to NHWC
 * input (out_nchw: a pool writes NCHW). 0, or -1 with a message. */
int qb_nhwc_role(const qb_graph *g, const qb_node *n);
int qb_nhwc_switch(qb_graph *g, qb_node *n, int out_nchw, qb_err *e);
/* A MaxPool, AveragePool or GlobalAveragePool switched to NHWC reads int8
 * in the grid (in_scale, in_zero) and writes int8 in (out_scale, out_zero)
 * (int8_out, Max/AveragePool with NHWC output) or floats, as the float path
 * of dequantize, max or mean (, quantize) computes it. 0, or -1 with a
 * message. */
int qb_nhwc_pool_int8(qb_graph *g, qb_node *n, float in_scale, int32_t in_zero, int int8_out, float out_scale,
                      int32_t out_zero, qb_err *e);
/* A MaxPool switched to NHWC reads int8 and writes the int8 maximum as it
 * is (after an int8 element-wise chain that maps into the grid of the
 * convs reading the pool). 0, or -1 with a message. */
int qb_nhwc_pool_int8_max(qb_graph *g, qb_node *n, qb_err *e);
/* A Concat on the channels or an Add/Sub/Mul (of one shape, or of a map
 * and one value per channel; qb_nhwc_role 1) writes int8 codes NHWC in the grid (scale, zero) of the int8 convs
 * that alone read its output: QuantizeLinear of the float values it
 * computes; in_nhwc: its inputs are NHWC. 0, or -1 with a message. */
int qb_nhwc_quantize_out(qb_graph *g, qb_node *n, int in_nhwc, float scale, int32_t zero, qb_err *e);
/* The Add/Sub/Mul n writing int8 from NCHW inputs (qb_nhwc_quantize_out)
 * computes its input k itself as x + x * s (the Add and the Mul that wrote
 * it are fused into n), per element from x's int8 NHWC codes in the grid
 * (scale, zero) (the dequantized value of each, DequantizeLinear) and s,
 * N x C x 1 x 1 (tensor indices x and s): the float operations of the
 * three nodes in turn, so the same codes. 0, or -1 with a message. */
int qb_nhwc_rse_input(qb_graph *g, qb_node *n, int k, int x, int s, float scale, int32_t zero, qb_err *e);
/* The Add n = x + Mul(x, s) (the Mul fused into it) writes its float
 * NCHW output from x's int8 NHWC codes in the grid (scale, zero) and s,
 * as qb_nhwc_rse_input computes its input. 0, or -1 with a message. */
int qb_nhwc_rse_self(qb_graph *g, qb_node *n, int x, int s, float scale, int32_t zero, qb_err *e);
/* The Concat n writing int8 (qb_nhwc_quantize_out) from NCHW inputs
 * reads its input k from tensor src, N x C x (H / rh) x (W / rw), each
 * value repeated rh x rw times (a nearest integer upsampling that is not
 * materialised: exec.c fuse_upsampling): 1; 0 if n is no such node or src
 * no such tensor (nothing changes). */
int qb_nhwc_read_upsampled(qb_graph *g, qb_node *n, int k, int src, int64_t rh, int64_t rw);
/* ops_resize.c: 1 if n is a prepared Resize/Upsample of a 4-D float
 * tensor that is a nearest integer upsampling of H and W only (output y,
 * x is input y / rh, x / rw; rh, rw >= 1), else 0. */
int qb_resize_upsampling(const qb_graph *g, const qb_node *n, int64_t *rh, int64_t *rw);
/* on = 0: the NHWC pools use their SSE2 and scalar loops, not AVX-512,
 * whatever the CPU (tests: both give the same bits); 1: the default. */
void qb_nhwc_avx512(int on);
/* ch > 0: det's int8 x + x * s sum with AVX-512 (nhwc_ops.c
 * rse_px_q8_body) takes ch channels a pass (rounded up to 16; tests: the
 * same bits); 0: the default, 128. */
void qb_nhwc_rse_chunk(int ch);
/* Tests: qb_nhwc_avx2_only(1) runs the NHWC operators' AVX2 loops where
 * AVX-512 ones would run (the same bits; set before a graph is prepared:
 * what is read upsampled depends on it); 0: the CPU's best. */
void qb_nhwc_avx2_only(int on);
/* ops_pool_global.c: y[p] = the mean of plane p of x (planes of vol
 * floats each, summed in order from 0.0f, divided by (float)vol: the
 * bits of the plain serial loop), for p < planes. */
void qb_plane_means_f32(const float *x, float *y, int64_t planes, int64_t vol);
/* on = 0: qb_plane_means_f32 uses its plain loops, not AVX-512 (tests:
 * the same bits); 1: the default. */
void qb_plane_means_avx512(int on);
/* ops_elem.c: the input tensor a float32 Add/Sub/Mul/Div may write its
 * output over (an input of the output's shape), or a copying operator
 * (qb_op_copy_run) place its output on (a view), or -1; on = 0: its runs
 * use the plain loops, not AVX-512 (tests: the same bits); 1: default. */
int qb_elem_inplace_input(const qb_graph *g, const qb_node *n);
void qb_elem_avx512(int on);
/* Tests: qb_elem_avx2_only(1) runs the float Add/Sub/Mul/Div's AVX2
 * loops where AVX-512 ones would run (the same bits); 0: the CPU's best. */
void qb_elem_avx2_only(int on);
/* A float32 Add/Sub/Mul/Div of two 4-D tensors of its output's shape
 * reads its input k through a nearest integer upsampling of tensor src
 * (rh rows, rw columns a source value; exec.c fuse_upsampling): 1 when
 * it takes it (the upsampling then need not run), else 0. */
int qb_elem_read_upsampled(qb_graph *g, qb_node *n, int k, int src, int64_t rh, int64_t rw);
/* ops_convt.c: the prepared ConvTranspose reads its input NHWC (the
 * GEMM's A as it is, no transpose); exec.c's layout choice. */
void qb_convt_set_nhwc_input(qb_node *n);
/* Nonzero when the prepared ConvTranspose n can read its data input NHWC
 * (its GEMM's A); the direct path (few columns, ops_convt.c) reads NCHW
 * planes only. */
int qb_convt_nhwc_input_ok(const qb_node *n);
/* Tests: qb_convt_avx512(0) runs the plain loops only (the direct path's
 * sums and the 2x2 tiles' col2im; the same bits as the AVX-512 ones). */
void qb_convt_avx512(int on);
/* Tests: qb_convt_avx2_only(1) runs the direct path's AVX2 sums instead
 * of the AVX-512 ones (the same bits); 0: the CPU's best again. */
void qb_convt_avx2_only(int on);
/* Milliseconds from the profile's clock (harness/graph/prof_clock.h:
 * the calibrated TSC, else CLOCK_MONOTONIC): the node and kernel timers of
 * --profile. End-to-end latencies use qb_now (CLOCK_MONOTONIC). */
double qb_now_ms(void);

/* ---- qops: quantization helpers (ops_quant.c) ---- */
/* Range of a quantized type: 0 and lo/hi for uint8 and int8, else -1. */
int qb_qrange(qb_dtype t, int32_t *lo, int32_t *hi);
/* ONNX rounding: saturate(rint(v) + zp) into [lo, hi], half to even;
 * NaN gives zp, infinities saturate. */
int32_t qb_qround(double v, int32_t zp, int32_t lo, int32_t hi);
/* Check input i (if present) is of type want with one element, or 1-D of
 * per_len elements (per_len > 0); divisor: a constant scale must be
 * finite and nonzero. 0, or -1 with a message naming the node. */
int qb_qparam_check(qb_graph *g, qb_node *n, int i, qb_dtype want, int64_t per_len, int divisor, qb_err *e);

/* Max (is_min 0) or Min of two float32 values as ops_minmax.c combines
 * its inputs: y the value so far, a the next input; a when y is not NaN
 * and a is NaN or beats y (a NaN input wins, an earlier NaN stays). */
static inline float qb_minmax_f32(float y, float a, int is_min)
{
    return y == y && (a != a || (is_min ? a < y : a > y)) ? a : y;
}
/* LeakyRelu of one value: v >= 0 ? v : alpha * v as a select on the bits (v >= 0: +0 to +Inf, or -0; NaN
 * takes alpha * v), so that loops over it vectorize instead of branching on the sign. The one definition
 * of ops_elem.c's LeakyRelu and of the element-wise chains (fuse_elem.c): both give the same bits. */
static inline float qb_leaky_relu(float v, float alpha)
{
    float m = alpha * v;
    uint32_t vb, mb;
    memcpy(&vb, &v, 4);
    memcpy(&mb, &m, 4);
    uint32_t keep = (uint32_t)0 - (uint32_t)((vb <= 0x7f800000u) | (vb == 0x80000000u));
    uint32_t yb = (vb & keep) | (mb & ~keep);
    memcpy(&v, &yb, 4);
    return v;
}

#endif
