/*
 * precheck.h - what a sweep checks before any cell runs, so that
 * `qbench sweep --dry-run` refuses exactly what a real run would: every
 * ONNX file of the plan's models (exists, is a file, loads), their data
 * folders and datasets, the energy table (found and parsed), the model
 * cache (writable where the plan trains or quantizes) and the output
 * directory (creatable). Messages name the scenario file and the model's
 * line ("s.ini:12: model det: onnx det.onnx: No such file or directory").
 */
#ifndef QB_SWEEP_PRECHECK_H
#define QB_SWEEP_PRECHECK_H

#include <stddef.h>

#include "harness/sweep/plan.h"
#include "harness/sweep/scenario.h"

/* Check sc's plan (after shard and --only) and the output directory dir.
 * A relative energy table not found here is looked up beside the binary
 * and sc->energy_model set to where it was found. 0, or -1 with the first
 * problem in err. */
int qb_sweep_precheck(qb_scenario *sc, const qb_plan *plan, const char *dir, char *err, size_t errlen);

#endif
