/*
 * pipeline_args.h - the options `qbench eval`, `qbench quantize` and
 * `qbench run` share to describe a quantization (harness/quant/pipeline.h):
 * dataset, precision, method, ISA, calibration and evaluation sizes,
 * observer, int4 group, binary ends, mixed budget, QAT recipe, the
 * layer plan (--plan FILE: harness/quant/plan_file.h).
 */
#ifndef QB_PIPELINE_ARGS_H
#define QB_PIPELINE_ARGS_H

#include <stdio.h>

#include "harness/quant/pipeline.h"

/* The usage text of these options (for a verb's usage message). */
#define QB_PIPELINE_USAGE                                                                                             \
    "[-d fashion-mnist|synthetic|none|NAME] [--data-dir DIR] [--data DIR] [--preprocess SPEC] [--plan FILE]\n"                  \
    "       [--shape [NAME=]AxBxC]... [-p PREC] [--method M] [-i ISA]\n"                                               \
    "       [--calib N] [--limit N] [--batch B] [--symmetric] [--percentile P] [--group 32|64|128] [--binary-all]\n" \
    "       [--budget PT] [--cost latency|bytes|energy [--with-qat]] [--energy-model FILE] [--val N] [--seed S]\n"      \
    "       [--qat-epochs N] [--qat-lr LR] [--retrain] [-v]"

/* If argv[*i] is one of the options above, parse it (and its value,
 * advancing *i) into o and return 1; return 0 if it is not; -1 after
 * printing "qbench VERB: message" for a bad value. *method_set is set
 * when --method is given. */
int qb_pipeline_arg(qb_pipeline_opts *o, int argc, char **argv, int *i, const char *verb, int *method_set);

/* An argument that neither these options nor the verb's own took: the
 * model (into o->model), else an unknown option or a second model. 0,
 * or -1 after the message and the verb's synopsis (exit code 2). */
int qb_pipeline_model_arg(qb_pipeline_opts *o, const char *a, const char *verb);

/* After parsing: a model was given, the default method of a quantized
 * precision (ptq-percentile) and a check that the ISA runs here. 0, or
 * -1 after a message (exit code 2). */
int qb_pipeline_args_done(qb_pipeline_opts *o, const char *verb, int method_set);

/* One line saying where the data came from: the folder's inputs (which
 * calibrate, which evaluate: never the same), a dataset, or plainly
 * SYNTHETIC seeded inputs. calibrated: a calibration ran. */
void qb_data_source_print(FILE *f, const qb_pipeline_opts *o, const qb_pipeline_data *d, int calibrated);

#endif
