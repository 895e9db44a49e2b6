/*
 * plan_cost.h - what a layer costs at each precision, for the
 * cost-aware mixed search (mixed.h, qb_mixed_cost_search): measured
 * latency (the per-layer profile of the model run at that precision on
 * the chosen ISA), weight bytes, or modelled energy (MACs at the
 * precision times the energy table's per-MAC energy, plus the weights
 * read once from DRAM: harness/measure/energy.h). Costs add up over the
 * layers (a plan's cost is their sum).
 */
#ifndef QB_PLAN_COST_H
#define QB_PLAN_COST_H

#include "harness/measure/energy.h"
#include "harness/quant/ptq.h"

/* The cost measures. */
typedef enum qb_cost_kind {
    QB_COST_NONE = -1, /* no cost: the sensitivity-ordered search */
    QB_COST_LATENCY,   /* milliseconds per inference (batch 1) */
    QB_COST_BYTES,     /* weight bytes */
    QB_COST_ENERGY,    /* modelled microjoules per inference */
    QB_COST_COUNT
} qb_cost_kind;

/* "latency", "bytes", "energy" (and their units: "ms", "B", "uJ"). */
const char *qb_cost_name(qb_cost_kind k);
const char *qb_cost_unit(qb_cost_kind k);
/* Index of a name, or -1. */
int qb_cost_parse(const char *s);

/* Per-layer costs at the precisions that run: cost[i * QB_PREC_COUNT + p]
 * for p in fp32, fp16, int8-channel, int4 (others NAN); depthwise layers
 * cost at int4 what they cost at int8-channel (what runs). c calibrated
 * (latency runs the quantized models); et for energy; isa for latency
 * (-1: best). 0, or -1 with a message. */
int qb_layer_costs(qb_cost_kind k, const qb_graph *model, const qb_calibration *c, const qb_quant_opts *o, int isa,
                   const qb_energy_table *et, double *cost, qb_err *e);

#endif
