/*
 * advise.h - the PTQ-versus-QAT advisor of `qbench advise` and of the
 * HTML report: per model and target precision a verdict with its
 * evidence ("PTQ suffices", "QAT needed", "mixed precision", "not
 * reachable within budget"), the fastest configuration within the
 * budget per machine and ISA, and, where int8 is not faster than fp32,
 * why (time outside kernels from a profile, model size, instructions).
 */
#ifndef QB_ADVISE_H
#define QB_ADVISE_H

#include <stdio.h>

#include "harness/report/rset.h"
#include "harness/report/textin.h"

typedef enum qb_verdict {
    QB_VERDICT_PTQ,        /* a PTQ calibrator stays within the budget */
    QB_VERDICT_QAT,        /* only QAT does */
    QB_VERDICT_MIXED,      /* only a mixed-precision plan does */
    QB_VERDICT_UNREACHABLE,/* nothing measured does */
    QB_VERDICT_UNKNOWN     /* no accuracy measured */
} qb_verdict;

/* The verdict for (model, precision) in s; evidence (one sentence) into buf. */
qb_verdict qb_advise_verdict(const qb_rset *s, const char *model, const char *precision, double budget, char *buf,
                             size_t len);
/* Name of a verdict ("PTQ suffices" ...). */
const char *qb_verdict_name(qb_verdict v);
/* The whole advice as Markdown (html = 0) or an HTML fragment (html = 1). */
void qb_advise_print(FILE *f, const qb_rset *s, const qb_profile *profiles, int nprofiles, double budget, int html);

#endif
