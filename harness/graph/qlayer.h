/*
 * qlayer.h - quantized execution of the GEMM-shaped layers of the model
 * engine (Conv per group, Gemm, MatMul with constant weights, depthwise
 * 3x3 Conv): what ops_conv.c and ops_gemm.c call when a node carries a
 * qb_qspec. Weight quantization happens once at prepare, activations are
 * quantized per call, the integer kernel runs, and its int8 output is
 * dequantized into the float output tensor.
 */
#ifndef QB_QLAYER_H
#define QB_QLAYER_H

#include "harness/graph/graph.h"

/* Quantize the node's weights if the qspec has none yet (w: [N x K]
 * float after BatchNormalization folding and Gemm's alpha; bias: N floats
 * or NULL), choose what runs (run_prec) and compute the requantization
 * multipliers. depthwise: the node runs on the depthwise 3x3 kernel.
 * 0, or -1 with a message naming the node. */
int qb_qlayer_prepare(qb_graph *g, qb_node *n, const float *w, int N, int K, const float *bias, int depthwise,
                      qb_err *e);

/* Pack output rows [r0, r0 + nr) of the quantized weights for the node's
 * kernel. perm (may be NULL): column j of the packed matrix is column
 * perm[j] of the node's weights (NHWC im2col order). w_f32: the float
 * weights [N x K] (fp16 and binary pack from them); bias_f32: N float
 * biases or NULL (fp16, int4, binary). 0, or -1 with a message. */
int qb_qlayer_pack(qb_graph *g, qb_node *n, int r0, int nr, int K, const int64_t *perm, const float *w_f32,
                   const float *bias_f32, qb_packed *out, qb_err *e);
/* The same with a packed K of its own: the node's weight rows are ksrc
 * long, packed column j is their column perm[j], or a zero weight where
 * perm[j] < 0 (a direct conv's window rows padded to 4-byte segments). */
int qb_qlayer_pack_k(qb_graph *g, qb_node *n, int r0, int nr, int K, int ksrc, const int64_t *perm,
                     const float *w_f32, const float *bias_f32, qb_packed *out, qb_err *e);

/* Scratch bytes qb_qlayer_gemm needs for m rows of K inputs and nr outputs. */
size_t qb_qlayer_scratch(const qb_node *n, int64_t m, int64_t K, int64_t nr);

/* y[m x nr] (row stride ldy) = the quantized layer applied to a[m x K]
 * (row stride lda), output rows r0.. of the node (per-channel parameters);
 * the node's fused clamp applies. a_i8: a is already int8 in the node's
 * input grid (an int8 link from the previous conv); y_i8: y receives the
 * int8 output itself (int8-* only), not its dequantized floats. */
void qb_qlayer_gemm(qb_graph *g, qb_node *n, const qb_packed *p, int m, const void *a, size_t lda, int a_i8, void *y,
                    size_t ldy, int y_i8, int r0, void *scratch);

/* Output bytes per kernel call followed by a conv epilogue (an
 * element-wise chain, fuse_elem.c): the chain reads what the kernel just
 * wrote from cache. */
#define QB_EPI_BYTES (64 * 1024)

/* qb_qlayer_gemm, then (int8-* only; epi not NULL) the element-wise chain
 * node epi on each block of output rows right after the kernel wrote
 * it, while in cache: on the dequantized floats, or (y_i8, an int8
 * chain) on the int8 codes through its tables. Rows must be whole NHWC
 * pixels (ldy = nr = the conv's output channels). The same bits as the
 * chain run as its own pass over y. */
void qb_qlayer_gemm_epi(qb_graph *g, qb_node *n, const qb_packed *p, int m, const void *a, size_t lda, int a_i8,
                        void *y, size_t ldy, int y_i8, int r0, const qb_node *epi, void *scratch);

/* qb_qlayer_gemm (int8-* with float output: the int8 codes dequantized)
 * of y[m x nr] rows, then Softmax node sm (qb_softmax_rows_inplace: along
 * rows of nr, its fused bias row added first) on each block of rows in
 * place while in cache: y is the Softmax's output, the layer's own float
 * output is never written (qb_gemm_fuse_softmax). The same bits as the
 * two nodes run one after the other. */
void qb_qlayer_gemm_softmax(qb_graph *g, qb_node *n, const qb_packed *p, int m, const void *a, size_t lda, int a_i8,
                            float *y, const qb_node *sm, void *scratch);

/* qb_qlayer_gemm (int8-* only, float output, no epilogue) with the
 * output dequantized straight into NCHW planes: channel k of row i at
 * y[k * ldp + i] (a conv's NCHW output, y at the first row's pixel of
 * its first channel): the same values as dequantizing rows and
 * transposing them. -1 (nothing done) for other precisions. */
int qb_qlayer_gemm_planes(qb_graph *g, qb_node *n, const qb_packed *p, int m, const void *a, size_t lda, int a_i8,
                          float *y, size_t ldp, int r0, void *scratch);

/* One int8-* call of m rows in the calling thread (no parallel loop;
 * a caller splitting its own work, e.g. a conv by output rows): a is
 * int8 in the node's input grid, rows lda bytes apart (they may
 * overlap: rows of a stacked image), K read as ntaps segments at taps
 * (a direct conv on a QB_KF_A_TAPS kernel; taps NULL: one run of K
 * bytes); run > 0 (a QB_KF_A_RUNS kernel): rows in runs of run rows,
 * run_ld bytes between runs (qb_gemm_args.a_run). y_i8: the kernel writes y (rows ldy
 * apart); else scratch (m x nr bytes) takes the int8 rows, dequantized
 * into y rows of ldy floats, or (ldp nonzero) into NCHW planes ldp floats
 * apart. epi: an element-wise chain on the m rows (whole pixels, ldy =
 * nr), as qb_qlayer_gemm_epi. --profile: the kernel's time added to
 * *kernel_ns (atomically). The bits of qb_qlayer_gemm on these rows. */
void qb_qlayer_gemm_at(qb_graph *g, qb_node *n, const qb_packed *p, int m, const int8_t *a, size_t lda,
                       const ptrdiff_t *taps, int ntaps, int run, size_t run_ld, void *y, size_t ldy, int y_i8,
                       size_t ldp, int r0, const qb_node *epi, void *scratch, int64_t *kernel_ns);

/* Scratch bytes of qb_qlayer_dw for an NHWC image of hw pixels in, ohw out, c channels. */
size_t qb_qlayer_dw_scratch(int64_t hw, int64_t ohw, int64_t c);

/* Depthwise 3x3 on the int8 kernel: a->x and a->y are NHWC, float or
 * (x_i8, y_i8) int8 links; quantized copies of float ones live in scratch.
 * epi (int8 only, or NULL): an element-wise chain run on each block of
 * output rows in cache, as qb_qlayer_gemm_epi. */
void qb_qlayer_dw(qb_graph *g, qb_node *n, const qb_packed *p, const qb_dw_args *a, int x_i8, int y_i8,
                  const qb_node *epi, void *scratch);

/* ONNX QuantizeLinear of one image into the node's input grid, written
 * NHWC int8: x is c planes of hw floats (NCHW), or hw pixels of c floats
 * (x_nhwc). Split over threads by pixels. The same values as quantizing
 * an im2col copy of x (padding 0.0 quantizes to the zero point). */
void qb_qlayer_quantize_image(const qb_node *n, const float *x, int x_nhwc, int64_t c, int64_t hw, int8_t *out);

/* ONNX QuantizeLinear (scale, zero) of np pixels of c NCHW planes (x: the
 * first pixel of plane 0, planes ldx floats apart) written NHWC: pixel
 * i's c codes at o + i * ldo (ldo >= c; a Concat's output writes its
 * inputs' channels at their offset). The arithmetic of every other
 * quantization here (kernels/quantize.h), so the same codes. */
void qb_qlayer_quantize_planes(const float *x, int64_t c, size_t ldx, int64_t np, float scale, int32_t zero,
                               int8_t *o, int64_t ldo);
/* Tests: 1 makes qb_qlayer_quantize_planes take its AVX2 loop where an
 * AVX-512 one would run (the same codes); 0: the CPU's best. */
void qb_qlayer_quantize_planes_avx2_only(int on);

/* The same into a padded NHWC buffer of hp x wp pixels: the h x w image
 * at row pt, column pl, every other pixel the zero point (the value of
 * padding 0.0): a first layer's im2col then needs no bounds checks. */
void qb_qlayer_quantize_image_padded(const qb_node *n, const float *x, int x_nhwc, int64_t c, int64_t h, int64_t w,
                                     int64_t pt, int64_t pl, int64_t hp, int64_t wp, int8_t *out);

/* Can the tensor between producer p and consumer c stay int8 (p's output
 * grid is c's input grid, both int8 layers)? */
int qb_qlayer_int8_link(const qb_node *p, const qb_node *c);

#endif
