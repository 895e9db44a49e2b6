/*
 * plots.h - the charts of `qbench plot` and `qbench report`, from a
 * results set, kernel benchmark CSVs, a per-layer SQNR report and
 * `run --profile` outputs: latency by precision and ISA, accuracy drop
 * versus speed-up with the Pareto front, energy, counters, kernel GOP/s,
 * per-layer SQNR with the mixed plan, time inside vs outside kernels.
 * A chart whose data are absent is skipped with a note (never drawn
 * empty).
 */
#ifndef QB_PLOTS_H
#define QB_PLOTS_H

#include <stdio.h>

#include "harness/report/rset.h"
#include "harness/report/textin.h"

/* What to draw from. */
typedef struct qb_plot_inputs {
    const qb_rset *results;        /* results rows (may be empty) */
    const char *const *kernels;    /* `qbench gemm --csv` / `make bench` files */
    int nkernels;                  /* their count */
    const qb_layers *layers;       /* `eval --per-layer` report, or NULL */
    const char *layers_label;      /* its file name (title) */
    const qb_profile *profiles;    /* `run --profile` outputs */
    int nprofiles;                 /* their count */
} qb_plot_inputs;

#define QB_PLOTS_MAX 96 /* charts of one call */

/* The charts written and the ones skipped. */
typedef struct qb_plot_list {
    int n;                             /* charts written */
    char name[QB_PLOTS_MAX][128];      /* file names without .png/.svg */
    char title[QB_PLOTS_MAX][200];     /* their titles */
    char section[QB_PLOTS_MAX][32];    /* which kind: latency pareto energy counters kernels layers split */
    int nskipped;                      /* kinds not drawn */
    char skipped[8][200];              /* why */
} qb_plot_list;

/* Write every chart the inputs allow into dir (which must exist); notes
 * on skipped charts on log. 0, or -1 with err (bad input file, gnuplot
 * failure). Call qb_gnuplot_check first. */
int qb_plots_write(const char *dir, const qb_plot_inputs *in, qb_plot_list *out, FILE *log, char *err, size_t errlen);

/* The Pareto front of points (x: higher is better, y: lower is better):
 * keep[i] = 1 when no other point is at least as good in both and
 * better in one. Returns the count kept. */
int qb_pareto(const double *x, const double *y, int n, int *keep);

#endif
