/*
 * mixed.h - mixed precision by layer sensitivity: quantize one layer at a
 * time to int4 (the others fp32) and measure the accuracy drop and logit
 * SQNR on validation samples; then start from all-int4 and greedily raise
 * the most sensitive layers (int4 -> int8-channel -> fp16) until the
 * drop against FP32 is within the budget: the upper end of its 95%
 * paired-bootstrap interval on the validation samples must not exceed
 * the budget (harness/eval/metrics.h).
 */
#ifndef QB_MIXED_H
#define QB_MIXED_H

#include "harness/quant/ptq.h"

/* Result of the search, per layer and overall. */
typedef struct qb_mixed {
    double *sens_drop;   /* per layer: accuracy drop (points) with only it at int4 */
    double *sens_sqnr;   /* per layer: logit SQNR (dB) with only it at int4 */
    double drop;         /* drop of the final plan on the validation samples */
    double drop_ci_high; /* upper end of its 95% interval (what the budget is checked against) */
    int evaluations;     /* plans evaluated (sensitivity included) */
    int64_t bytes;       /* weight bytes of the final plan */
    int met;             /* the budget was met */
} qb_mixed;

/* Search a plan (c->n entries into plan) for model_path on the labelled
 * validation samples val within budget points. 0, or -1 with a message. */
int qb_mixed_search(const qb_graph *model, const qb_calibration *c, const qb_samples *val, int batch, double budget,
                    const qb_quant_opts *o, qb_precision *plan, qb_mixed *out, int verbose, qb_err *e);
/* The same with some layers fixed: fixed[i] is the precision layer i
 * keeps (not searched; its sensitivities NAN), or QB_PREC_COUNT to
 * search it; fixed NULL: search every layer. */
int qb_mixed_search_fixed(const qb_graph *model, const qb_calibration *c, const qb_samples *val, int batch,
                          double budget, const qb_quant_opts *o, const qb_precision *fixed, qb_precision *plan,
                          qb_mixed *out, int verbose, qb_err *e);
void qb_mixed_free(qb_mixed *m);

#endif
