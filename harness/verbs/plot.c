/*
 * plot.c - `qbench plot [RESULTS.csv ...] -o DIR [--kernels F] [--per-layer F]
 * [--profile LABEL=F]`: every chart the inputs allow (harness/report/plots.c),
 * each as DIR/NAME.png, NAME.svg, NAME.dat and the NAME.gp script gnuplot
 * ran. Exit 2 with one message when gnuplot is missing or an input is bad.
 */
#include <stdio.h>

#include "harness/report/gnuplot.h"
#include "harness/verbs/report_args.h"
#include "harness/verbs/usage.h"
#include "harness/verbs/verbs.h"

int qb_verb_plot(int argc, char **argv)
{
    qb_report_args a;
    int rc = qb_report_args_parse("plot", argc, argv, QB_RA_OUT | QB_RA_INPUTS, &a);
    if (rc)
        return rc;
    if (!a.nfiles && !a.nkernels && !a.per_layer && !a.nprofiles)
        return qb_usage_error("plot", "nothing to plot: give RESULTS.csv, --kernels, --per-layer or --profile");
    char err[1200];
    if (qb_gnuplot_check(err, sizeof err)) {
        fprintf(stderr, "qbench plot: %s\n", err);
        return 2;
    }
    qb_report_inputs in;
    if ((rc = qb_report_inputs_load("plot", &a, &in)))
        return rc;
    if ((rc = qb_report_mkdir("plot", a.outdir))) {
        qb_report_inputs_free(&in);
        return rc;
    }
    qb_plot_list list;
    if (qb_plots_write(a.outdir, &in.plot, &list, stderr, err, sizeof err)) {
        fprintf(stderr, "qbench plot: %s\n", err);
        qb_report_inputs_free(&in);
        return 2;
    }
    for (int i = 0; i < list.n; i++)
        printf("%s/%s.png  %s.svg  (%s)\n", a.outdir, list.name[i], list.name[i], list.title[i]);
    printf("%d charts in %s (each with its .dat data and the .gp script gnuplot ran)\n", list.n, a.outdir);
    qb_report_inputs_free(&in);
    return 0;
}
