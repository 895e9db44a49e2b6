/*
 * metrics_row.h - the one mapping from accuracy metrics (eval/metrics.h)
 * to the accuracy columns of a results row, used by the sweep's cells and
 * by `qbench eval --csv`.
 */
#ifndef QB_METRICS_ROW_H
#define QB_METRICS_ROW_H

#include "harness/eval/metrics.h"
#include "harness/report/results.h"

/* eval_samples, top1_accuracy, fp32_top1_accuracy, accuracy_drop_pt,
 * top1_agreement, sqnr_db (empty when infinite: outputs identical to the
 * reference), cosine, max_abs_err, kl_div and its p99 and maximum, the
 * 95% intervals of top-1, drop and agreement, McNemar's p, and
 * output_hash (16 hex digits; empty when no sample was evaluated) from m. */
void qb_row_set_metrics(qb_result_row *row, const qb_metrics *m);

#endif
