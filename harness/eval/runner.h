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

#define QB_RUNNER_INPUTS 16 /* graph inputs a runner feeds */

/* One prepared graph with batch `batch`. */
typedef struct qb_runner {
    qb_graph *g;       /* the graph (owned) */
    qb_tensor in[QB_RUNNER_INPUTS]; /* its inputs with the batch shape: in[0].data = x (float32, the samples'
                                       floats), in[1..] own their buffers (one sample of a data folder's other inputs) */
    int nin;           /* graph inputs (more than one: batch 1, fed from a data folder only) */
    float *x;          /* input buffer: batch x sample floats */
    int batch;         /* samples per run */
    size_t sample;     /* floats per input sample */
    const float *y;    /* output 0 after a run: batch x outs */
    int64_t outs;      /* floats per sample of output 0 */
    int64_t classes;   /* its class axis (the last of [batch, C] or [batch, P, C]); 0: none */
    int64_t positions; /* class vectors per sample (P; 1 for [batch, C]); 0: no class axis */
} qb_runner;

struct qb_samples;

/* Prepare g (ownership passes to r, freed on failure too) for `batch`
 * samples (a fixed batch dimension of the model wins) on isa (-1: best).
 * Input 0 must be float32 with a batch dimension, output 0 a float
 * tensor with the batch first. 0, or -1 with a message. */
int qb_runner_open(qb_runner *r, qb_graph *g, int batch, int isa, qb_err *e);
/* The same for the samples s that will be fed (NULL: none known). A
 * model with several inputs needs s from a data folder holding every
 * input (s->inputs); it runs one sample per batch, and an input whose
 * values prepare the graph (an integer sample rate, a shape) is bound to
 * the value of s's first sample: qb_runner_fill refuses a sample with
 * another value. */
int qb_runner_open_on(qb_runner *r, qb_graph *g, int batch, int isa, const struct qb_samples *s, qb_err *e);
/* Run the batch in r->x (and r->in[1..]); r->y then holds the outputs. */
int qb_runner_run(qb_runner *r, qb_err *e);
void qb_runner_close(qb_runner *r);

/* Where samples come from: the floats of a data folder (x != NULL: n
 * samples of `sample` floats, labels or NULL), a dataset (d != NULL)
 * through idx (NULL = all samples in order) normalised by norm, or
 * seeded standard-normal inputs of `sample` floats (no labels). */
typedef struct qb_samples {
    const float *x;        /* data folder: n x sample floats (input 0), or NULL */
    const struct qb_inputs *inputs; /* data folder of a model with several inputs: every input of sample i
                                       is sample first + i of inputs (harness/data/inputs.h), or NULL */
    int first;             /* with inputs: index of sample 0 in it */
    const int32_t *labels; /* data folder: n labels, or NULL */
    const qb_dataset *d;  /* labelled data, or NULL for synthetic inputs */
    const qb_norm *norm;  /* normalisation of d (NULL: raw [0,1]) */
    const int *idx;       /* sample indices into d, or NULL for 0..n-1 */
    int n;                /* number of samples */
    size_t sample;        /* floats per sample (synthetic inputs) */
    uint64_t seed;        /* synthetic inputs: seed */
} qb_samples;

/* Fill dst with samples [from, from+count) (count <= batch; the rest of
 * the batch is zeroed up to `batch`): input 0 only. */
void qb_samples_fill(const qb_samples *s, int from, int count, int batch, float *dst);
/* Load samples [from, from+count) of s into r: input 0 (r->x) and, for
 * a model with several inputs, the others. 0, or -1 naming the sample
 * and input (a value that differs from the one the graph was prepared
 * with). */
int qb_runner_fill(qb_runner *r, const qb_samples *s, int from, int count, qb_err *e);
/* Label of sample i, or -1 without labels. */
int32_t qb_samples_label(const qb_samples *s, int i);

/* Run every sample through r; after each batch call fn(ctx, from, count,
 * outputs) (outputs: count x r->outs). 0, or -1 with a message. */
typedef int (*qb_batch_fn)(void *ctx, int from, int count, const float *y);
int qb_runner_each(qb_runner *r, const qb_samples *s, qb_batch_fn fn, void *ctx, qb_err *e);

#endif
