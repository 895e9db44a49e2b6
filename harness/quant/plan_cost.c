/*
 * plan_cost.c - per-layer costs for the cost-aware mixed search (plan_cost.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/measure/timer.h"
#include "harness/quant/plan_cost.h"

static const char *const names[QB_COST_COUNT] = {"latency", "bytes", "energy"};
static const char *const units[QB_COST_COUNT] = {"ms", "B", "uJ"};

const char *qb_cost_name(qb_cost_kind k) { return k >= 0 && k < QB_COST_COUNT ? names[k] : "none"; }
const char *qb_cost_unit(qb_cost_kind k) { return k >= 0 && k < QB_COST_COUNT ? units[k] : ""; }

int qb_cost_parse(const char *s)
{
    for (int k = 0; k < QB_COST_COUNT; k++)
        if (!strcmp(s, names[k]))
            return k;
    return -1;
}

/* The precisions the search moves between (and fp32, the reference). */
static const qb_precision levels[] = {QB_PREC_FP32, QB_PREC_FP16, QB_PREC_INT8_CHANNEL, QB_PREC_INT4};
#define NLEVELS ((int)(sizeof levels / sizeof levels[0]))

static qb_precision runs_as(const qb_layer_info *l, qb_precision p)
{
    return l->depthwise && (p == QB_PREC_INT4 || p == QB_PREC_BINARY) ? QB_PREC_INT8_CHANNEL : p;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#define PROFILE_ROUNDS 7   /* rounds; the median per layer is kept */
#define PROFILE_RUNS 20    /* inferences per round */

/* Latency per layer at precision p: the model run at p (batch 1, isa),
 * each layer node's time per inference, median of the rounds. */
static int profile(const qb_graph *model, const qb_calibration *c, const qb_quant_opts *o, qb_precision p, int isa,
                   double *ms, qb_err *e)
{
    int n = c->n;
    qb_precision *plan = malloc(((size_t)n + 1) * sizeof *plan);
    double *rounds = malloc(((size_t)n * PROFILE_ROUNDS + 1) * sizeof *rounds);
    if (!plan || !rounds) {
        free(plan), free(rounds);
        qb_errf(e, "out of memory");
        return -1;
    }
    for (int i = 0; i < n; i++)
        plan[i] = p;
    qb_graph *g = qb_quantize_graph(model, c, plan, o, e);
    qb_runner r;
    int rc = -1;
    if (!g || qb_runner_open(&r, g, 1, isa, e))
        goto out;
    for (size_t i = 0; i < r.sample; i++) /* a fixed input: the pattern of the values does not matter here */
        r.x[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
    for (int w = 0; w < 3; w++)
        if (qb_runner_run(&r, e))
            goto close;
    r.g->profile = 1;
    for (int k = 0; k < PROFILE_ROUNDS; k++) {
        for (int j = 0; j < r.g->nnodes; j++)
            r.g->nodes[j].time_ms = r.g->nodes[j].kernel_ms = 0;
        for (int t = 0; t < PROFILE_RUNS; t++)
            if (qb_runner_run(&r, e))
                goto close;
        for (int i = 0; i < n; i++)
            rounds[(size_t)i * PROFILE_ROUNDS + k] = r.g->nodes[c->layers[i].node].time_ms / PROFILE_RUNS;
    }
    for (int i = 0; i < n; i++) {
        double *v = rounds + (size_t)i * PROFILE_ROUNDS;
        qsort(v, PROFILE_ROUNDS, sizeof *v, cmp_double);
        ms[i] = v[PROFILE_ROUNDS / 2];
    }
    rc = 0;
close:
    qb_runner_close(&r);
out:
    free(plan);
    free(rounds);
    return rc;
}

int qb_layer_costs(qb_cost_kind k, const qb_graph *model, const qb_calibration *c, const qb_quant_opts *o, int isa,
                   const qb_energy_table *et, double *cost, qb_err *e)
{
    int n = c->n;
    for (int i = 0; i < n * QB_PREC_COUNT; i++)
        cost[i] = NAN;
    if (k == QB_COST_LATENCY) {
        double *ms = malloc(((size_t)n + 1) * sizeof *ms);
        if (!ms) {
            qb_errf(e, "out of memory");
            return -1;
        }
        for (int j = 0; j < NLEVELS; j++) {
            if (profile(model, c, o, levels[j], isa, ms, e)) {
                free(ms);
                return -1;
            }
            for (int i = 0; i < n; i++)
                cost[i * QB_PREC_COUNT + levels[j]] = ms[i];
        }
        free(ms);
        for (int i = 0; i < n; i++) /* what runs: the int8 profile of a depthwise layer */
            if (c->layers[i].depthwise)
                cost[i * QB_PREC_COUNT + QB_PREC_INT4] = cost[i * QB_PREC_COUNT + QB_PREC_INT8_CHANNEL];
        return 0;
    }
    if (k == QB_COST_ENERGY && !et) {
        qb_errf(e, "energy costs need an energy table");
        return -1;
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < NLEVELS; j++) {
            qb_precision p = runs_as(&c->layers[i], levels[j]);
            qb_calibration one = {.n = 1, .layers = (qb_layer_info *)&c->layers[i]};
            double bytes = (double)qb_plan_weight_bytes(&one, &p, o);
            double v = bytes;
            if (k == QB_COST_ENERGY) {
                qb_energy_work w;
                memset(&w, 0, sizeof w);
                w.macs[p] = (double)c->layers[i].macs;
                w.weight_bytes = bytes;
                char note[300];
                v = qb_energy_model(et, &w, note, sizeof note) * 1e3; /* mJ -> uJ */
                if (isnan(v)) {
                    qb_errf(e, "%s: %s", et->path, note);
                    return -1;
                }
            }
            cost[i * QB_PREC_COUNT + levels[j]] = v;
        }
    return 0;
}
