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

/* One plan on the cost-aware search's path. */
typedef struct qb_pareto_point {
    qb_precision *plan;   /* per layer (malloc'd) */
    double cost;          /* sum of its layers' costs */
    int64_t bytes;        /* weight bytes */
    double drop, drop_ci_low, drop_ci_high; /* validation drop and its 95% interval */
    double sqnr_db;       /* logit SQNR */
    int pareto;           /* no other point is at most as costly, as long to train and as lossy (one strictly) */
    int qat;              /* 1: the QAT candidate (the plan's layers fine-tuned with fake quantization), 0: PTQ */
    double train_s;       /* its measured fine-tuning time in seconds (0 for PTQ; NAN: not recorded) */
} qb_pareto_point;

/* The path of the cost-aware search and the plan it chose. */
typedef struct qb_pareto {
    int n;                /* points, in path order (cost rising) */
    qb_pareto_point *p;   /* the points (malloc'd) */
    int chosen;           /* the cheapest PTQ point meeting the budget (the last PTQ point when none does) */
} qb_pareto;

/* Pareto flags and the choice of f's points: a point is in the Pareto
 * set when no other is at most as costly, at most as long to train
 * (train_s, 0 for PTQ) and at most as lossy (point drop), one strictly;
 * chosen is the cheapest PTQ point whose drop's upper 95% end is within
 * budget (ties: the earlier), else the last PTQ point. Returns 1 when
 * one meets the budget. */
int qb_pareto_mark(qb_pareto *f, double budget);

/* Does QAT beat keeping layers at higher precision? For the QAT point
 * of f (f->p[qat]): */
typedef struct qb_qat_verdict {
    int qat;          /* index of the QAT point, -1: none on the path */
    int meets;        /* its drop's upper 95% end is within the budget */
    int ptq_budget;   /* the cheapest PTQ point meeting the budget (f->chosen), -1: none does */
    int ptq_match;    /* the cheapest PTQ point with a point drop at most the QAT point's, -1: none */
    int beats;        /* QAT meets the budget and costs less than ptq_budget (or no PTQ point meets it) */
} qb_qat_verdict;
void qb_pareto_qat_verdict(const qb_pareto *f, double budget, qb_qat_verdict *v);

/* Cost-aware mixed precision: cost[i * QB_PREC_COUNT + p] is layer i's
 * cost at precision p (plan_cost.h). Each layer's accuracy gain of a
 * raise (int4 -> int8-channel, int8-channel -> fp16) is the drop in
 * logit noise power 10^(-SQNR/10) measured with that layer alone at the
 * lower and at the higher precision (the others fp32). From all-int4
 * (depthwise: int8) the raise with the most gain per unit of added cost
 * is made, one at a time, until every searched layer is int8-channel
 * (then towards fp16 while the budget is not met); every plan on the way
 * is evaluated on val. front gets the path with its Pareto flags; plan
 * the cheapest plan whose drop's upper 95% end meets the budget. fixed
 * as in qb_mixed_search_fixed. 0, or -1 with a message. */
int qb_mixed_cost_search(const qb_graph *model, const qb_calibration *c, const qb_samples *val, int batch,
                         double budget, const qb_quant_opts *o, const qb_precision *fixed, const double *cost,
                         qb_precision *plan, qb_mixed *out, qb_pareto *front, int verbose, qb_err *e);
void qb_pareto_free(qb_pareto *f);

#endif
