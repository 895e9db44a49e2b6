/*
 * plan_apply.h - a model quantized by a layer plan (plan_file.h): each
 * layer's precision and calibrator resolved from the plan, calibration
 * once per calibrator the plan uses (each layer takes its ranges from
 * its own), and with -p mixed the search over the layers no rule pins.
 */
#ifndef QB_PLAN_APPLY_H
#define QB_PLAN_APPLY_H

#include "harness/quant/pipeline.h"

/* Calibrate for the choices ch (qb_layer_plan_resolve over c->layers):
 * c holds the layers on entry (uncalibrated); on return every quantized
 * layer has the ranges of its calibrator. 0, or -1 with a message. */
int qb_calibrate_choices(const qb_graph *model, const qb_samples *s, int batch, double percentile, int symmetric,
                         const qb_plan_choice *ch, qb_calibration *c, qb_err *e);

/* Check that every [layers] name and [patterns] glob of lp names a layer
 * of model (its layers listed on a prepared copy; model_name in the
 * message): 0; -1 with "FILE:LINE: ..." in e when one names none; -2
 * when the layers could not be listed (e says why: e.g. an input shape
 * only the data gives). */
int qb_layer_plan_check(const qb_layer_plan *lp, const qb_graph *model, const char *model_name, qb_err *e);

/* qb_pipeline_plan for o->layer_plan (called by it): r->plan and
 * r->choices per layer. 0, or -1 with a message (FILE:LINE for the plan). */
int qb_pipeline_plan_layers(const qb_pipeline_opts *o, qb_pipeline_data *d, qb_pipeline_result *r, qb_err *e);

/* The mixed search for o (--cost: the cost-aware one, costs into
 * r->layer_cost, path into r->pareto) over r->cal, fixed as in
 * qb_mixed_search_fixed; r->plan gets the plan. 0, or -1 with a message. */
int qb_pipeline_mixed(const qb_pipeline_opts *o, qb_pipeline_data *d, qb_pipeline_result *r,
                      const qb_precision *fixed, qb_err *e);

/* Write the plan of r (every layer listed, its precision and
 * calibrator; comment[i] after it or NULL) to path atomically, named
 * name (NULL: the file name without extension), with header comment lines. 0, or -1 with a message. */
int qb_pipeline_save_plan(const qb_pipeline_opts *o, const qb_pipeline_result *r, const char *path, const char *name,
                          const char *header, const char *const *comment, qb_err *e);

#endif
