/*
 * runner.h - a prepared model with a fixed batch and its input buffer,
 * and the sample sources that feed it (a dataset through an index list
 * and its normalisation, or seeded synthetic inputs for models without
 * labelled data). What eval, calibration, sensitivity analysis and the
 * sweep share to push samples through a graph.
 */
#ifndef QB_RUNNER_H
#define QB_RUNNER_H

#include "harness/data/dataset.h"
#include "harness/graph/graph.h"

/* One prepared graph with batch `batch`. */
typedef struct qb_runner {
    qb_graph *g;       /* the graph (owned) */
    qb_tensor in;      /* its input 0 with the batch shape; data = x */
    float *x;          /* input buffer: batch x sample floats */
    int batch;         /* samples per run */
    size_t sample;     /* floats per input sample */
    const float *y;    /* output 0 after a run: batch x outs */
    int64_t outs;      /* floats per sample of output 0 */
    int64_t classes;   /* its class axis (the last of [batch, C] or [batch, P, C]); 0: none */
    int64_t positions; /* class vectors per sample (P; 1 for [batch, C]); 0: no class axis */
} qb_runner;

/* Prepare g (ownership passes to r, freed on failure too) for `batch`
 * samples (a fixed batch dimension of the model wins) on isa (-1: best).
 * The model must have one float input and a float output whose first
 * dimension is the batch. 0, or -1 with a message. */
int qb_runner_open(qb_runner *r, qb_graph *g, int batch, int isa, qb_err *e);
/* Run the batch in r->x; r->y then holds the outputs. */
int qb_runner_run(qb_runner *r, qb_err *e);
void qb_runner_close(qb_runner *r);

/* Where samples come from: the floats of a data folder (x != NULL: n
 * samples of `sample` floats, labels or NULL), a dataset (d != NULL)
 * through idx (NULL = all samples in order) normalised by norm, or
 * seeded standard-normal inputs of `sample` floats (no labels). */
typedef struct qb_samples {
    const float *x;        /* data folder: n x sample floats, or NULL */
    const int32_t *labels; /* data folder: n labels, or NULL */
    const qb_dataset *d;  /* labelled data, or NULL for synthetic inputs */
    const qb_norm *norm;  /* normalisation of d (NULL: raw [0,1]) */
    const int *idx;       /* sample indices into d, or NULL for 0..n-1 */
    int n;                /* number of samples */
    size_t sample;        /* floats per sample (synthetic inputs) */
    uint64_t seed;        /* synthetic inputs: seed */
} qb_samples;

/* Fill dst with samples [from, from+count) (count <= batch; the rest of
 * the batch is zeroed up to `batch`). */
void qb_samples_fill(const qb_samples *s, int from, int count, int batch, float *dst);
/* Label of sample i, or -1 without labels. */
int32_t qb_samples_label(const qb_samples *s, int i);

/* Run every sample through r; after each batch call fn(ctx, from, count,
 * outputs) (outputs: count x r->outs). 0, or -1 with a message. */
typedef int (*qb_batch_fn)(void *ctx, int from, int count, const float *y);
int qb_runner_each(qb_runner *r, const qb_samples *s, qb_batch_fn fn, void *ctx, qb_err *e);

#endif
