/*
 * plan_bisect.h - which layers to keep in fp32: the smallest set of
 * layers which, kept fp32, brings a quantized model's accuracy drop on
 * the validation samples within a budget (the upper end of the drop's
 * 95% paired-bootstrap interval, the rule of the mixed search). Layers
 * are ranked by their isolated per-layer SQNR (layer_sqnr.h, worst
 * first); a bisection over that ranking finds the shortest prefix that
 * meets the budget; then every layer of it is tried back at its
 * precision and left there when the budget still holds (the set is
 * 1-minimal: no layer can leave it; not proven the global minimum).
 */
#ifndef QB_PLAN_BISECT_H
#define QB_PLAN_BISECT_H

#include "harness/quant/ptq.h"

/* What the bisection found. */
typedef struct qb_bisect {
    int *keep;            /* per layer: 1 = kept fp32 by the bisection (malloc'd) */
    int nkeep;            /* how many */
    double start_drop;    /* validation drop of the plan as given */
    double start_ci_high; /* upper end of its 95% interval */
    double drop;          /* validation drop with the kept layers fp32 */
    double drop_ci_low, drop_ci_high; /* its 95% interval */
    double *iso_sqnr;     /* per layer: isolated SQNR in dB of the plan as given (the ranking; malloc'd) */
    int evaluations;      /* plans evaluated */
    int met;              /* the budget was met (else every layer fp32 did not meet it either) */
} qb_bisect;

/* Bisect plan (c->n entries; layers already fp32 stay so) of model on
 * the labelled samples val. 0, or -1 with a message. */
int qb_bisect_fp32(const qb_graph *model, const qb_calibration *c, const qb_precision *plan, const qb_samples *val,
                   int batch, double budget, const qb_quant_opts *o, qb_bisect *out, int verbose, qb_err *e);
void qb_bisect_free(qb_bisect *b);

#endif
