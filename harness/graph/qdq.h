/*
 * qdq.h - quantized models as ONNX files: export of a prepared quantized
 * graph (qdq_export.c), the fusion pass that recognises quantized layers
 * in a loaded model (qdq_import.c), and qbench's custom operator domain
 * (ops_qbench.c).
 *
 * Export layout per quantized Conv / Gemm / MatMul (what runs, i.e. the
 * qspec's run_prec):
 *   int8-tensor, int8-channel  standard ONNX QDQ: X -> QuantizeLinear ->
 *       DequantizeLinear (scalar scale, int8 zero point) -> layer;
 *       weights int8 (original layout) -> DequantizeLinear (per-channel
 *       scale with axis 0 for Conv and Gemm transB=1, axis 1 for Gemm
 *       transB=0 and MatMul; a scalar for int8-tensor; int8 zero points 0);
 *       bias int32 -> DequantizeLinear(scale in_scale*w_scale, axis 0);
 *       the tensor the layer writes (after a fused Relu/Clip) ->
 *       QuantizeLinear -> DequantizeLinear, whose output keeps the original
 *       name. Gemm alpha and beta are folded (written as 1).
 *   fp16     weights as a float16 initializer -> Cast(to=FLOAT); bias float32.
 *   int4     input QDQ as int8; weights com.qbench.DequantizeInt4; float bias.
 *   binary   input com.qbench.BinarizeInput (with the Conv's pads, the Conv
 *            then unpadded); weights com.qbench.DequantizeBinary; float bias.
 *   Gemm int4/binary layers are written with transB=1.
 *
 * Domain "com.qbench", version 1 (all outputs float32):
 *   DequantizeInt4(packed: uint8 [N, ceil(K/2)], scale: float [N, G])
 *       attrs group (int, 0 = one group per row), shape (ints, N*K
 *       elements), transpose (int, default 0). Element k of row n is the
 *       nibble k%2 (0 = low) of byte k/2, a 4-bit two's complement q; the
 *       value is q * scale[n][k / group] (float32 product; G = ceil(K /
 *       group), 1 when group is 0). transpose=0: the output holds W[n][k]
 *       at n*K + k (shape[0] = N for Conv weights); transpose=1: a 2-D
 *       [K, N] output holding W^T (MatMul weights).
 *   DequantizeBinary(bits: uint8 [N, ceil(K/8)], alpha: float [N])
 *       attrs shape, transpose (as above). Bit k%8 (0 = least
 *       significant) of byte k/8 of row n set: -alpha[n], clear: +alpha[n].
 *   BinarizeInput(X: float [N, C, ...]) attrs threshold (float, default 0),
 *       pads (ints, optional: start and end of each spatial dimension, as
 *       Conv's pads). Pads X with zeros, then y = -1 where the sign bit of
 *       (x - threshold) (float32 subtraction) is set, else +1.
 */
#ifndef QB_QDQ_H
#define QB_QDQ_H

#include "harness/graph/graph.h"

#define QB_QDQ_DOMAIN "com.qbench" /* qbench's operator domain (opset version 1) */

/* Write a prepared graph with quantized layers (n->q) as an ONNX model
 * in the layout above; layers without q stay float. 0, or -1 with a
 * message. */
int qb_qdq_save(const qb_graph *prepared, const char *path, qb_err *e);

/* Recognise quantized layers in a loaded (sorted, unprepared) graph and
 * set their n->q from the integers in the file (patterns in
 * qdq_import.c); the Q/DQ nodes stay, but for the output pair of a fused
 * int8 layer (exact, see qdq_import.c). Returns how many layers it set,
 * or -1 with a message. qb_onnx_load calls it (qb_onnx_load_opts
 * with QB_LOAD_NO_FUSE does not). */
int qb_qdq_fuse(qb_graph *g, qb_err *e);

/* 1 if op is one of the com.qbench operators. */
int qb_qdq_custom_op(const char *op);

/* ---- qdq_util.c: graph editing shared by export and fusion ---- */
/* The attribute `name` of node n, created if absent and emptied (type set). */
qb_attr *qb_qdq_attr(qb_node *n, const char *name, int type);
/* A new tensor named base+suffix (made unique): a constant with zeroed
 * data of dtype and shape when is_const, else a run-time value. Its index. */
int qb_qdq_tensor(qb_graph *g, const char *base, const char *suffix, qb_dtype dt, int ndim, const int64_t *dims,
                  int is_const);
/* Append a node (domain NULL: the default one); its index. Node pointers
 * into g->nodes are invalid afterwards. */
int qb_qdq_node(qb_graph *g, const char *op, const char *domain, const char *name, int nin, int nout);
/* Index of the node that writes tensor t (scanning the nodes), or -1;
 * *slot (may be NULL) gets the output position. */
int qb_qdq_producer(const qb_graph *g, int t, int *slot);
/* Number of node inputs reading t, plus 1 if t is a graph output. */
int qb_qdq_uses(const qb_graph *g, int t);
/* Remove the nodes marked in kill[nnodes] (freed), keeping the order. */
void qb_qdq_remove(qb_graph *g, const char *kill);

#endif
