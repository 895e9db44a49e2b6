/*
 * sweep.c - `qbench sweep SCENARIO.ini [-o DIR] [--resume] [--shard I/N]
 * [--only REGEX] [--dry-run] [-q|-v] [--hot] [--pin CPU] [--samples]
 * [--energy-model FILE] [--counters auto|papi|cachegrind|none]`.
 *
 * Parses the options, loads the scenario, applies the overriding options
 * and calls the runner (harness/sweep/runner.c: plan, shard, --only,
 * --resume, each cell's row appended to DIR/results.csv at once,
 * progress; --dry-run prints the cell ids that would run on stdout;
 * --samples writes every cell's timed samples to DIR/samples.csv).
 *
 * Hidden single-cell mode for the cachegrind fallback:
 * `qbench sweep SCENARIO --cell ID --counters-child RUNS [--hot]` loads
 * and prepares that cell's model and runs RUNS inferences, nothing else.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/sweep/plan.h"
#include "harness/sweep/runner.h"
#include "harness/sweep/scenario.h"
#include "harness/verbs/usage.h"
#include "harness/verbs/verbs.h"

/* A usage error: the message, then the synopsis from the verb table. */
static int usage(const char *msg, const char *arg)
{
    return qb_usage_error("sweep", msg, arg);
}

int qb_verb_sweep(int argc, char **argv)
{
    const char *file = NULL, *outdir = NULL, *only = NULL, *shard = NULL, *energy = NULL, *counters = NULL;
    const char *child_cell = NULL;
    int resume = 0, dry = 0, verbosity = 1, hot = 0, pin = -2, child_runs = 0, keep_samples = 0;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "--resume"))
            resume = 1;
        else if (!strcmp(o, "--dry-run"))
            dry = 1;
        else if (!strcmp(o, "-q"))
            verbosity = 0;
        else if (!strcmp(o, "-v"))
            verbosity = 2;
        else if (!strcmp(o, "--hot"))
            hot = 1;
        else if (!strcmp(o, "--samples"))
            keep_samples = 1;
        else if (!strcmp(o, "-o") || !strcmp(o, "--shard") || !strcmp(o, "--only") || !strcmp(o, "--pin") ||
                 !strcmp(o, "--energy-model") || !strcmp(o, "--counters") || !strcmp(o, "--cell") ||
                 !strcmp(o, "--counters-child")) {
            if (i + 1 >= argc)
                return usage("missing value after %s", o);
            const char *v = argv[++i];
            if (!strcmp(o, "-o"))
                outdir = v;
            else if (!strcmp(o, "--shard"))
                shard = v;
            else if (!strcmp(o, "--only"))
                only = v;
            else if (!strcmp(o, "--energy-model"))
                energy = v;
            else if (!strcmp(o, "--counters"))
                counters = v;
            else if (!strcmp(o, "--cell"))
                child_cell = v;
            else if (!strcmp(o, "--counters-child")) {
                char *end;
                long n = strtol(v, &end, 10);
                if (end == v || *end || n < 1 || n > 1000000)
                    return usage("--counters-child: '%s' is not a run count in [1, 1000000]", v);
                child_runs = (int)n;
            } else {
                char *end;
                long c = strtol(v, &end, 10);
                if (end == v || *end || c < 0 || c > 4095)
                    return usage("--pin: '%s' is not a CPU number", v);
                pin = (int)c;
            }
        } else if (o[0] == '-') {
            return usage("unknown option %s", o);
        } else if (file) {
            return usage("more than one scenario: %s", o);
        } else {
            file = o;
        }
    }
    if (!file)
        return usage("missing SCENARIO.ini%s", "");
    if (!child_cell != !child_runs)
        return usage("--cell and --counters-child go together%s", "");

    static qb_scenario sc;
    char err[1024];
    if (qb_scenario_load(file, &sc, err, sizeof err)) {
        fprintf(stderr, "qbench sweep: %s\n", err);
        return 2;
    }
    if (hot)
        sc.cache = QB_CACHE_HOT;
    if (pin >= -1)
        sc.pin = pin;
    if (energy)
        snprintf(sc.energy_model, sizeof sc.energy_model, "%s", energy);
    if (counters) {
        if (!strcmp(counters, "auto"))
            sc.counters = QB_COUNTERS_AUTO;
        else if (!strcmp(counters, "papi"))
            sc.counters = QB_COUNTERS_PAPI;
        else if (!strcmp(counters, "cachegrind"))
            sc.counters = QB_COUNTERS_CACHEGRIND;
        else if (!strcmp(counters, "none"))
            sc.counters = QB_COUNTERS_OFF;
        else
            return usage("--counters: '%s' is not one of auto papi cachegrind none", counters);
    }
    if (child_cell)
        return qb_sweep_child(&sc, child_cell, child_runs);
    qb_sweep_opts so = {.outdir = outdir, .only = only, .resume = resume, .dry_run = dry, .verbosity = verbosity,
                        .keep_samples = keep_samples};
    if (shard && qb_shard_parse(shard, &so.shard_i, &so.shard_n))
        return usage("--shard: '%s' is not I/N with 1 <= I <= N", shard);
    char cmdline[2048] = "";
    for (int i = 0; i < argc; i++) {
        size_t l = strlen(cmdline);
        snprintf(cmdline + l, sizeof cmdline - l, "%s%s", i ? " " : "qbench ", argv[i]);
    }
    so.cmdline = cmdline;
    return qb_sweep_run(&sc, &so);
}
