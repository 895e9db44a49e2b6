/*
 * compare.h - a model (quantized or not) against its FP32 reference on
 * the same inputs: the reference logits once, then the metrics of
 * metrics.h for any graph (per-layer SQNR: harness/quant/layer_sqnr.h).
 */
#ifndef QB_COMPARE_H
#define QB_COMPARE_H

#include "harness/eval/metrics.h"
#include "harness/eval/runner.h"

/* FP32 outputs of model (unprepared; a copy runs) over s: *ref = n x *outs floats (malloc'd). */
int qb_reference_outputs(const qb_graph *model, const qb_samples *s, int batch, int isa, float **ref, int64_t *outs,
                         qb_err *e);

/* Metrics of g (ownership taken, prepared here with batch/isa) over s
 * against ref (n x outs); the labels of s when it has them. */
int qb_compare_graph(qb_graph *g, const qb_samples *s, int batch, int isa, const float *ref, int64_t outs,
                     qb_metrics *m, qb_err *e);

/* qb_compare_graph that also keeps the per-sample records in *keep
 * (emptied first; left empty when they could not be stored). */
int qb_compare_graph_records(qb_graph *g, const qb_samples *s, int batch, int isa, const float *ref, int64_t outs,
                             qb_metrics *m, qb_sample_records *keep, qb_err *e);

/* The same on a runner already open (its batch and ISA), e.g. the one a
 * sweep cell has just timed. */
int qb_compare_runner(qb_runner *r, const qb_samples *s, const float *ref, int64_t outs, qb_metrics *m, qb_err *e);

#endif
