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

void qb_dense_fwd(qb_layer *L, const float *x, float *y, int B);
void qb_dense_bwd(qb_layer *L, const float *x, const float *dy, float *dx, int B);
/* Floats of scratch a conv layer needs for batch B. */
size_t qb_conv_scratch(const qb_layer *L, int B);
void qb_conv_fwd(qb_layer *L, const float *x, float *y, int B);
void qb_conv_bwd(qb_layer *L, const float *x, const float *dy, float *dx, int B);
void qb_bn_fwd(qb_layer *L, const float *x, float *y, int B, int training);
void qb_bn_bwd(qb_layer *L, const float *dy, float *dx, int B);
void qb_pool_fwd(qb_layer *L, const float *x, float *y, int B);
void qb_pool_bwd(qb_layer *L, const float *dy, float *dx, int B);

#endif
