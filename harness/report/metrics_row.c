/*
 * metrics_row.c - accuracy metrics into a results row (metrics_row.h).
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>

#include "harness/report/metrics_row.h"

void qb_row_set_metrics(qb_result_row *row, const qb_metrics *m)
{
    row->eval_samples = (double)m->samples;
    row->top1_accuracy = m->top1;
    row->fp32_top1_accuracy = m->ref_top1;
    row->accuracy_drop_pt = m->drop_pt;
    row->top1_agreement = m->agreement;
    row->sqnr_db = isfinite(m->sqnr_db) ? m->sqnr_db : NAN; /* infinite: no finite SQNR, left empty */
    row->cosine = m->cosine;
    row->max_abs_err = m->max_abs_err;
    row->kl_div = m->kl_div;
    row->kl_div_p99 = m->kl_p99;
    row->kl_div_max = m->kl_max;
    row->top1_ci_low = m->top1_ci_low;
    row->top1_ci_high = m->top1_ci_high;
    row->accuracy_drop_ci_low = m->drop_ci_low;
    row->accuracy_drop_ci_high = m->drop_ci_high;
    row->agreement_ci_low = m->agree_ci_low;
    row->agreement_ci_high = m->agree_ci_high;
    row->mcnemar_p = m->mcnemar_p;
    row->sqnr_ci_low = isfinite(m->sqnr_ci_low) ? m->sqnr_ci_low : NAN; /* empty where infinite, as sqnr_db */
    row->sqnr_ci_high = isfinite(m->sqnr_ci_high) ? m->sqnr_ci_high : NAN;
    if (m->hashed)
        snprintf(row->output_hash, sizeof row->output_hash, "%016" PRIx64, m->output_hash);
    else
        row->output_hash[0] = 0;
}
