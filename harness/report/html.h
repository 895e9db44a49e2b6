/*
 * html.h - the self-contained HTML report of `qbench report`: machine
 * metadata, the results table, every chart as inline SVG, the advice and
 * the cells that did not run, in one file with inline CSS, no scripts
 * and no external assets.
 */
#ifndef QB_HTML_H
#define QB_HTML_H

#include <stdio.h>

#include "harness/report/plots.h"
#include "harness/report/rset.h"

/* The ids of the report's sections, in order (the browser test checks each). */
extern const char *const qb_html_sections[];
extern const int qb_html_nsections;

/* What the report shows. */
typedef struct qb_html_input {
    const char *title;                 /* page title */
    const char *const *files;          /* the results files (metadata files beside them are read) */
    int nfiles;                        /* their count */
    const qb_rset *results;            /* their rows */
    const qb_plot_list *plots;         /* charts written */
    const char *plot_dir;              /* where their .svg are */
    const qb_profile *profiles;        /* for the advice */
    int nprofiles;                     /* their count */
    double budget;                     /* accuracy budget of the advice */
    const char *generator;             /* "qbench VERSION (git SHA)" */
} qb_html_input;

/* Write the page to f. 0, or -1 with err (an SVG that cannot be read). */
int qb_html_write(FILE *f, const qb_html_input *in, char *err, size_t errlen);

#endif
