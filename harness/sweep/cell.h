/*
 * cell.h - running one cell of a sweep: the one interface between the
 * sweep (plan, resume, CSV, progress) and the engines that quantize,
 * run and evaluate a model. qb_cell_run fills a row's measured columns
 * and its status; the sweep fills the identifying columns (run id,
 * timestamp, host, ...) and writes the row.
 */
#ifndef QB_CELL_H
#define QB_CELL_H

#include "harness/measure/robust.h"
#include "harness/measure/samples.h"
#include "harness/report/results.h"
#include "harness/sweep/plan.h"
#include "harness/sweep/scenario.h"

/* Run one cell. Always fills row->status (ok, noisy, unsupported or
 * failed with the reason in row->note) and whatever it measured; also
 * model, dataset, precision, method, isa, threads and batch. samples:
 * NULL, or where the kept attempt's timed samples go (x malloc'd, NULL
 * when nothing was timed; the caller frees it). Returns 0, or -1 only
 * when the sweep cannot go on (out of memory). */
int qb_cell_run(const qb_cell *cell, const qb_scenario *sc, qb_result_row *row, qb_samples_kept *samples);

/* One more round of a cell's timing (scenario rounds > 1, after
 * qb_cell_run measured its first round): prepare the cell's model again
 * (a quantized one from the quantized-model cache), time it with the
 * round's settings on the same inputs, nothing else. samples: where the
 * round's samples go (as qb_cell_run). 0, or -1 with err. */
int qb_cell_retime(const qb_cell *cell, const qb_scenario *sc, qb_samples_kept *samples, char *err, size_t errlen);

/* The latency columns and the status (ok or noisy, with the note) of a
 * cell from the robust summary of its samples: rb (qb_robust_rounds for
 * several rounds), calls per sample, noisy, attempts (or rounds), batch
 * (inputs per call). */
void qb_cell_latency(const qb_robust *rb, long calls_per_sample, int noisy, int attempts, const qb_scenario *sc,
                     int batch, qb_result_row *row);

/* The single-cell child of the cachegrind fallback: load and prepare
 * the cell's model as qb_cell_run does, run `runs` inferences on seeded
 * inputs, nothing else (no CSV, no timing). Exit code: 0, or 2 with a
 * message on stderr. Entered through
 * `qbench sweep SCENARIO --cell ID --counters-child RUNS`. */
int qb_cell_child(const qb_cell *cell, const qb_scenario *sc, int runs);

/* Drop the per-model caches (dataset, reference outputs). */
void qb_cell_reset(void);

#endif
