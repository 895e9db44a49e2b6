/*
 * layers.h - forward and backward passes of the training layers (internal
 * to harness/train/). x is the layer's input, y its output, dy/dx their
 * loss gradients, B the batch; all NCHW, batch first. A backward pass
 * overwrites dw/db with this batch's gradients and, when dx is not NULL,
 * writes the input gradient.
 */
#ifndef QB_TRAIN_LAYERS_H
#define QB_TRAIN_LAYERS_H

#include "harness/train/train.h"
#include "kernels/kernels.h"

/* B packed once for several products C = A . B^T + bias (mm.c). */
typedef struct qb_mm_w {
    const qb_kernel *kern; /* fp32 GEMM kernel, NULL: plain loops (packing failed) */
    qb_packed p;           /* B in the kernel's layout */
    int n, k;              /* B is n x k */
    const float *b;        /* B itself (plain-loop fallback) */
    const float *bias;     /* n biases or NULL */
} qb_mm_w;

/* Pack B [n x k] (and bias, may be NULL). 0, or -1 when the plain loops
 * will be used instead (qb_mm_apply still works). */
int qb_mm_prepare(qb_mm_w *w, int n, int k, const float *b, const float *bias);
/* C[m x n] (rows ldc apart) = A[m x k] (rows lda apart) . B^T + bias;
 * one kernel call on the calling thread. */
void qb_mm_apply(const qb_mm_w *w, int m, const float *a, size_t lda, float *c, size_t ldc);
void qb_mm_release(qb_mm_w *w);

/* Sum of x[0..n) in eight interleaved float partial sums (a fixed order
 * the compiler can vectorize), returned in double. */
static inline double qb_sum8(const float *restrict x, size_t n)
{
    float acc[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++)
            acc[j] += x[i + j];
    double s = 0;
    for (int j = 0; j < 8; j++)
        s += acc[j];
    for (; i < n; i++)
        s += x[i];
    return s;
}

/* Dot product of x and y [0..n), same scheme as qb_sum8. */
static inline double qb_dot8(const float *restrict x, const float *restrict y, size_t n)
{
    float acc[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++)
            acc[j] += x[i + j] * y[i + j];
    double s = 0;
    for (int j = 0; j < 8; j++)
        s += acc[j];
    for (; i < n; i++)
        s += (double)x[i] * y[i];
    return s;
}

void qb_dense_fwd(qb_layer *L, const float *x, float *y, int B);
void qb_dense_bwd(qb_layer *L, const float *x, const float *dy, float *dx, int B);
/* Floats of scratch a conv layer needs for batch B on `threads` threads
 * (it grows when more threads come later). */
size_t qb_conv_scratch(const qb_layer *L, int B, int threads);
void qb_conv_fwd(qb_layer *L, const float *x, float *y, int B);
void qb_conv_bwd(qb_layer *L, const float *x, const float *dy, float *dx, int B);
/* act_hi >= 0: the ReLU (act_hi = inf) or ReLU6 (6) after the BN is fused:
 * y is the activation's output, dy its gradient; act_hi < 0: plain BN
 * (y unused by the backward pass). */
void qb_bn_fwd(qb_layer *L, const float *x, float *y, int B, int training, float act_hi);
void qb_bn_bwd(qb_layer *L, const float *x, const float *y, const float *dy, float *dx, int B, float act_hi);
void qb_pool_fwd(qb_layer *L, const float *x, float *y, int B);
void qb_pool_bwd(qb_layer *L, const float *dy, float *dx, int B);

#endif
