/*
 * report.c - `qbench report RESULTS.csv [more.csv ...] -o DIR [--title T]
 * [--budget PT] [--kernels F] [--per-layer F] [--profile LABEL=F]`: the
 * charts into DIR/plots (harness/report/plots.c) and one self-contained
 * DIR/report.html (harness/report/html.c).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "harness/report/gnuplot.h"
#include "harness/report/html.h"
#include "harness/verbs/report_args.h"
#include "harness/verbs/usage.h"
#include "harness/verbs/verbs.h"

int qb_verb_report(int argc, char **argv)
{
    qb_report_args a;
    int rc = qb_report_args_parse("report", argc, argv, QB_RA_OUT | QB_RA_INPUTS | QB_RA_BUDGET | QB_RA_TITLE, &a);
    if (rc)
        return rc;
    if (!a.nfiles)
        return qb_usage_error("report", "missing RESULTS.csv");
    char err[1200], plots[1100], html[1100];
    if (qb_gnuplot_check(err, sizeof err)) {
        fprintf(stderr, "qbench report: %s\n", err);
        return 2;
    }
    qb_report_inputs in;
    if ((rc = qb_report_inputs_load("report", &a, &in)))
        return rc;
    snprintf(plots, sizeof plots, "%s/plots", a.outdir);
    if ((rc = qb_report_mkdir("report", plots))) {
        qb_report_inputs_free(&in);
        return rc;
    }
    qb_plot_list list;
    if (qb_plots_write(plots, &in.plot, &list, stderr, err, sizeof err)) {
        fprintf(stderr, "qbench report: %s\n", err);
        qb_report_inputs_free(&in);
        return 2;
    }
    snprintf(html, sizeof html, "%s/report.html", a.outdir);
    FILE *f = fopen(html, "w");
    if (!f) {
        fprintf(stderr, "qbench report: %s: cannot write: %s\n", html, strerror(errno));
        qb_report_inputs_free(&in);
        return 2;
    }
    qb_html_input hi = {.title = a.title ? a.title : "qbench report",
                        .files = a.files,
                        .nfiles = a.nfiles,
                        .results = &in.results,
                        .plots = &list,
                        .plot_dir = plots,
                        .profiles = in.profiles,
                        .nprofiles = a.nprofiles,
                        .budget = a.budget,
                        .generator = qb_version()};
    rc = qb_html_write(f, &hi, err, sizeof err);
    if (fclose(f) && !rc) {
        snprintf(err, sizeof err, "%s: cannot write", html);
        rc = -1;
    }
    qb_report_inputs_free(&in);
    if (rc) {
        fprintf(stderr, "qbench report: %s\n", err);
        return 2;
    }
    printf("%s (%d charts inline; their PNG, SVG, data and scripts in %s)\n", html, list.n, plots);
    return 0;
}
