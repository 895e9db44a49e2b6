/*
 * runner.h - running a sweep: the plan of a loaded scenario, then every
 * cell of it not finished yet, each row appended to DIR/results.csv the
 * moment it is measured (`qbench sweep` parses its options and calls
 * this; docs/sweeps.md).
 */
#ifndef QB_SWEEP_RUNNER_H
#define QB_SWEEP_RUNNER_H

#include "harness/sweep/scenario.h"

/* How to run (the options of `qbench sweep`). */
typedef struct qb_sweep_opts {
    const char *outdir;  /* -o DIR, or NULL: reports/NAME (reports/NAME-shard-I-of-N with a shard) */
    const char *only;    /* --only REGEX over cell ids, or NULL */
    int shard_i, shard_n; /* --shard I/N (1 <= I <= N); shard_n 0: no shard */
    int resume;          /* skip the cells already finished in the results file */
    int dry_run;         /* print the ids of the cells that would run, run nothing */
    int verbosity;       /* 0 quiet, 1 progress, 2 a line per cell even on a terminal */
    int keep_samples;    /* --samples: every cell's timed samples to DIR/samples.csv */
    const char *cmdline; /* the command line, recorded in the metadata */
} qb_sweep_opts;

/* Run the sweep of sc (loaded, options applied). Returns the exit code:
 * 0, or 2 on an input or I/O error (message on stderr). */
int qb_sweep_run(qb_scenario *sc, const qb_sweep_opts *o);

/* The hidden single-cell mode of the cachegrind fallback: prepare the
 * model of cell cell_id and run it `runs` times. Exit code. */
int qb_sweep_child(qb_scenario *sc, const char *cell_id, int runs);

#endif
