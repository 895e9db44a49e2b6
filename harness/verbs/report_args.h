/*
 * report_args.h - the arguments `qbench plot`, `report` and `advise`
 * share (results files, -o DIR, --kernels, --per-layer, --profile,
 * --budget, --title) and the loading of the inputs they name.
 */
#ifndef QB_REPORT_ARGS_H
#define QB_REPORT_ARGS_H

#include "harness/report/plots.h"
#include "harness/report/rset.h"
#include "harness/report/textin.h"

#define QB_RA_MAXFILES 64 /* results files, kernel files or profiles of one call */

typedef struct qb_report_args {
    const char *files[QB_RA_MAXFILES];    /* results CSVs */
    int nfiles;                           /* their count */
    const char *outdir;                   /* -o DIR, or NULL */
    const char *kernels[QB_RA_MAXFILES];  /* --kernels files */
    int nkernels;                         /* their count */
    const char *per_layer;                /* --per-layer file, or NULL */
    const char *profiles[QB_RA_MAXFILES]; /* --profile LABEL=FILE specs */
    int nprofiles;                        /* their count */
    const char *title;                    /* --title, or NULL */
    double budget;                        /* --budget points (default 1.0) */
} qb_report_args;

/* Options a verb takes besides the files (bit set). */
enum { QB_RA_OUT = 1, QB_RA_INPUTS = 2, QB_RA_BUDGET = 4, QB_RA_TITLE = 8, QB_RA_PROFILE = 16 };

/* Parse argv (argv[0] the verb). 0, or 2 after a usage message naming the option. */
int qb_report_args_parse(const char *verb, int argc, char **argv, unsigned allowed, qb_report_args *a);

/* The loaded inputs. */
typedef struct qb_report_inputs {
    qb_rset results;                          /* every results file */
    qb_layers *layers;                        /* --per-layer, or NULL */
    qb_profile profiles[QB_RA_MAXFILES];      /* --profile */
    qb_plot_inputs plot;                      /* the view plots take */
} qb_report_inputs;

/* Load everything a names. 0, or 2 after "qbench VERB: FILE:LINE: ..." on stderr. */
int qb_report_inputs_load(const char *verb, const qb_report_args *a, qb_report_inputs *in);
void qb_report_inputs_free(qb_report_inputs *in);
/* mkdir -p; 0, or 2 after a message. */
int qb_report_mkdir(const char *verb, const char *dir);

#endif
