/*
 * textin.h - the other inputs of the charts and the advice, beside the
 * results CSV: the saved stdout of `qbench run --profile` (time inside
 * and outside kernels) and of `qbench eval --per-layer` (SQNR per layer
 * and the precision plan), each parsed with a message naming file and
 * line when it is not what those verbs print.
 */
#ifndef QB_TEXTIN_H
#define QB_TEXTIN_H

#include <stddef.h>

/* One `run --profile` output. */
typedef struct qb_profile {
    char label[128];      /* what it measured, e.g. "net/int8-channel" (from LABEL=FILE) */
    double total_ms;      /* per inference */
    double kernel_ms;     /* inside kernels/ */
    double outside_ms;    /* outside (graph walk, quantize/dequantize, im2col, ...) */
} qb_profile;

/* Parse "LABEL=FILE": the summary line "total X ms: kernels Y ms (..),
 * outside kernels Z ms (..)". 0, or -1 with err. */
int qb_profile_load(const char *spec, qb_profile *p, char *err, size_t errlen);

#define QB_LAYERS_MAX 256 /* layers of a per-layer report */

/* One `eval --per-layer` output. */
typedef struct qb_layers {
    int n;                          /* layers */
    char name[QB_LAYERS_MAX][64];   /* layer names */
    char prec[QB_LAYERS_MAX][16];   /* the plan's precision of each layer */
    double prop_db[QB_LAYERS_MAX];  /* SQNR of its output, errors propagated, dB */
    double iso_db[QB_LAYERS_MAX];   /* the same with fp32 inputs (isolated), dB */
} qb_layers;

/* Parse the "per-layer SQNR" table of path. 0, or -1 with err. */
int qb_layers_load(const char *path, qb_layers *l, char *err, size_t errlen);

#endif
