/*
 * counters.h - hardware counters of one inference: PAPI (cycles,
 * instructions, L1D, L2 and last-level cache misses, presets or native
 * perf events) where the machine can count, else cachegrind's simulated
 * misses from a re-run of the cell under valgrind; never a silent zero.
 */
#ifndef QB_COUNTERS_H
#define QB_COUNTERS_H

#include <stddef.h>

#include "harness/measure/loop.h"

/* Counters per inference; NAN = not counted. */
typedef struct qb_counters {
    char source[16];      /* "papi", "cachegrind" or "none" */
    double cycles;        /* core cycles */
    double instructions;  /* instructions retired (cachegrind: Ir) */
    double l1d_misses;    /* L1 data misses (cachegrind: D1mr + D1mw) */
    double l2_misses;     /* L2 misses (PAPI only: cachegrind has no L2) */
    double llc_misses;    /* last-level misses (cachegrind: ILmr + DLmr + DLmw) */
    double data_refs;     /* data references (cachegrind: Dr + Dw), for the energy model */
    char note[512];       /* how they were counted, or why not */
} qb_counters;

/* source "none", every count NAN, note empty. */
void qb_counters_init(qb_counters *c);

/* Can PAPI count cycles or instructions here? 1, or 0 with the reason
 * (no perf_event component, PAPI_add_event refused: no PMU in a VM). */
int qb_papi_probe(char *why, size_t len);

/* Count fn over `runs` calls with PAPI and divide. 0 with out filled
 * (source "papi"; events PAPI could not add stay NAN and are named in
 * the note), or -1 with the reason in why when no event can be counted. */
int qb_papi_count(qb_measure_fn fn, void *ctx, long runs, qb_counters *out, char *why, size_t len);

/* Totals of a cachegrind output file (its "summary:" line). */
typedef struct qb_cg_totals {
    double ir;               /* instructions executed */
    double i1mr, ilmr;       /* instruction misses: I1, LL */
    double dr, d1mr, dlmr;   /* data reads, misses: D1, LL */
    double dw, d1mw, dlmw;   /* data writes, misses: D1, LL */
} qb_cg_totals;

/* Parse a cachegrind.out file ("events:" and "summary:" lines). 0, or -1
 * with "FILE:LINE: message" (or FILE: message) in err. */
int qb_cachegrind_parse(const char *path, qb_cg_totals *t, char *err, size_t errlen);

/* Run argv (argv[0] a program path) under `valgrind --tool=cachegrind
 * --cache-sim=yes --cachegrind-out-file=F` and parse F. 0, or -1 with
 * the reason in why (valgrind missing, the program failed, killed by
 * SIGILL: valgrind cannot run AVX-512 code). */
int qb_cachegrind_run(char *const argv[], qb_cg_totals *t, char *why, size_t len);

/* Per-run counters from two totals: `few` is a run with k inferences,
 * `many` one with k + extra; the difference divided by extra removes
 * loading and preparing. Fills out (source "cachegrind", note). */
void qb_cachegrind_counters(const qb_cg_totals *few, const qb_cg_totals *many, long extra, qb_counters *out);

#endif
