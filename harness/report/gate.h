/*
 * gate.h - the regression gate of `qbench compare`: cells of a base and a
 * new results set matched by key, a Markdown table of the deltas, and a
 * verdict per cell and for the whole run (exit code 0 ok, 1 accuracy
 * regression, 3 performance regression; see docs/reports.md).
 */
#ifndef QB_GATE_H
#define QB_GATE_H

#include <stdio.h>

#include "harness/report/rset.h"

typedef enum qb_gate_metric { QB_GATE_LATENCY, QB_GATE_INSTRUCTIONS } qb_gate_metric;

typedef struct qb_gate_opts {
    double perf_tol;        /* allowed slow-down, fraction (NAN: 0.05 for latency, 0 for instructions) */
    double accuracy_tol;    /* allowed growth of the accuracy drop, points */
    qb_gate_metric metric;  /* what "performance" means */
    int strict;             /* a different machine is an error, not a warning */
} qb_gate_opts;

/* What the gate found. */
typedef struct qb_gate_result {
    int matched;            /* cells in both */
    int accuracy_regressions; /* drop grew beyond the tolerance, output hash changed, or a cell now fails */
    int perf_regressions;   /* slower beyond tolerance and noise */
    int improvements;       /* faster beyond tolerance and noise */
    int appeared;           /* cells only in new */
    int disappeared;        /* cells only in base */
    int machine_differs;    /* CPU model or ISA flags differ */
    int exit_code;          /* 0, 1, 2 (different machine with strict) or 3 */
} qb_gate_result;

void qb_gate_defaults(qb_gate_opts *o);
/* Compare and print the Markdown report on out (warnings too). */
void qb_gate_run(const qb_rset *base, const qb_rset *cur, const qb_gate_opts *o, FILE *out, qb_gate_result *res);

#endif
