/*
 * model_args.h - what `qbench inspect` and `qbench run` share: parsing
 * "1x3x32x32" shapes, loading input tensors (TensorProto or raw float32),
 * and loading + preparing a model with a clear one-line error.
 */
#ifndef QB_MODEL_ARGS_H
#define QB_MODEL_ARGS_H

#include "harness/graph/graph.h"

#define QB_MAX_INPUTS 16

/* Parse "AxBxC" (1 to 8 positive dims, element count below 2^31) into t's
 * shape; 0 or -1. */
int qb_parse_shape(const char *s, qb_tensor *t);
/* Read raw little-endian float32 of t's shape from path into t->data. */
int qb_load_raw(const char *path, qb_tensor *t, qb_err *e);

#endif
